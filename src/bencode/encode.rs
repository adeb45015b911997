//! The bencode encoder: [`encode`] writes a decoded [`Value`] back (byte-identical for
//! canonical input, as dictionaries keep their order), and [`OwnedValue`] builds new
//! messages (tracker requests) whose dictionaries are always sorted, hence canonical.

use super::Value;
use std::collections::BTreeMap;

/// Appends the bencoding of `value` to `out`. Dictionaries are written in their stored
/// order, so decoding canonical input and encoding it again gives back the same bytes.
pub fn encode(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Int(n) => encode_int(*n, out),
        Value::Bytes(bytes) => encode_bytes(bytes, out),
        Value::List(items) => {
            out.push(b'l');
            items.iter().for_each(|item| encode(item, out));
            out.push(b'e');
        }
        Value::Dict(entries) => {
            out.push(b'd');
            for (key, item) in entries {
                encode_bytes(key, out);
                encode(item, out);
            }
            out.push(b'e');
        }
    }
}

fn encode_int(n: i64, out: &mut Vec<u8>) {
    out.extend_from_slice(format!("i{n}e").as_bytes());
}

fn encode_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("{}:", bytes.len()).as_bytes());
    out.extend_from_slice(bytes);
}

/// An owned bencode value for building messages (tracker requests, tests). Dictionaries
/// are kept sorted by key, so the encoding is always canonical.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedValue {
    Int(i64),
    Bytes(Vec<u8>),
    List(Vec<OwnedValue>),
    Dict(BTreeMap<Vec<u8>, OwnedValue>),
}

impl OwnedValue {
    /// A byte string.
    pub fn bytes(bytes: impl Into<Vec<u8>>) -> OwnedValue {
        OwnedValue::Bytes(bytes.into())
    }

    /// A dictionary from `(key, value)` pairs.
    pub fn dict<'k>(entries: impl IntoIterator<Item = (&'k str, OwnedValue)>) -> OwnedValue {
        let map = entries
            .into_iter()
            .map(|(key, value)| (key.as_bytes().to_vec(), value))
            .collect();
        OwnedValue::Dict(map)
    }

    /// Appends the canonical bencoding to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            OwnedValue::Int(n) => encode_int(*n, out),
            OwnedValue::Bytes(bytes) => encode_bytes(bytes, out),
            OwnedValue::List(items) => {
                out.push(b'l');
                items.iter().for_each(|item| item.encode(out));
                out.push(b'e');
            }
            OwnedValue::Dict(map) => {
                out.push(b'd');
                for (key, item) in map {
                    encode_bytes(key, out);
                    item.encode(out);
                }
                out.push(b'e');
            }
        }
    }

    /// The canonical bencoding as a new buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bencode::decode;

    #[test]
    fn canonical_input_round_trips() {
        for input in [
            &b"i-7e"[..],
            b"0:",
            b"le",
            b"de",
            b"d1:al1:bi0eee",
            b"d1:bi1e1:ai2ee",
        ] {
            let mut out = Vec::new();
            encode(&decode(input).unwrap(), &mut out);
            assert_eq!(out, input);
        }
    }

    #[test]
    fn owned_values_encode_sorted() {
        let value = OwnedValue::dict([
            ("port", OwnedValue::Int(6881)),
            ("info_hash", OwnedValue::bytes(*b"ab")),
            ("list", OwnedValue::List(vec![OwnedValue::Int(-1)])),
        ]);
        assert_eq!(
            value.to_bytes(),
            b"d9:info_hash2:ab4:listli-1ee4:porti6881ee"
        );
    }
}

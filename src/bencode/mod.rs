//! Bencode: the serialisation format of `.torrent` files and tracker replies (BEP 3).
//!
//! Four kinds of value: integers `i42e`, byte strings `4:spam`, lists `l...e` and
//! dictionaries `d...e` (byte-string keys, each followed by its value). The decoder here
//! borrows from the input: a decoded [`Value`] holds slices of the bytes it came from, so
//! nothing is copied and the raw bytes of any part stay available. That matters for the
//! info-hash, which is the SHA-1 of the `info` dictionary *exactly as it appears in the
//! file* (see [`raw_dict_value`]); re-encoding a decoded value could change it.
//!
//! # What is accepted
//!
//! The decoder is strict where being lenient would let two different byte strings mean the
//! same thing, and lenient where real torrents need it (libtorrent's verdicts in
//! `BENCODE_CASES.tsv` are the reference):
//!
//! * **Refused:** leading zeros in integers (`i01e`) and in string lengths (`06:foobar`),
//!   negative zero (`i-0e`), `ie`, `i-e`, integers that do not fit an `i64` (including
//!   `i18446744073709551615e`, which libtorrent decodes lazily and reads as 0), strings
//!   longer than the rest of the input, dictionary keys that are not byte strings, and
//!   **duplicate dictionary keys** (libtorrent tolerates them; we refuse because a
//!   duplicated key makes "the value of key X" ambiguous, and the corpus's fuzzed
//!   `bad_name.torrent` is the only file that has them).
//! * **Accepted:** dictionary keys out of sorted order (`unordered.torrent` has them; the
//!   info-hash is taken from the raw bytes, so it is unaffected).
//! * **Limits:** nesting deeper than [`Limits::max_depth`] (100) and more than
//!   [`Limits::max_items`] (3,000,000) values in one input are refused before they can exhaust the
//!   stack or memory. A string's length is checked against the remaining input before
//!   anything is allocated (nothing is: strings are borrowed).
//! * **Trailing bytes:** [`decode`] wants exactly one value; [`decode_prefix`] returns the
//!   value and how many bytes it used, for callers (the metainfo parser) that tolerate
//!   trailing garbage after a torrent's top-level dictionary, as libtorrent does.
//!
//! The encoder: [`encode()`] writes a decoded value back byte for byte (dictionaries in
//! their stored order, so non-canonical input stays non-canonical); [`OwnedValue`] builds
//! new values, whose dictionaries are sorted, and always writes canonical bencode.

mod encode;

pub use encode::{OwnedValue, encode};
use std::fmt;

/// A decoded bencode value, borrowing its strings from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'a> {
    Int(i64),
    Bytes(&'a [u8]),
    List(Vec<Value<'a>>),
    /// Key/value pairs in the order of the input (not necessarily sorted).
    Dict(Vec<(&'a [u8], Value<'a>)>),
}

impl<'a> Value<'a> {
    /// The value of `key` if this is a dictionary that has it.
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        let entries = self.as_dict()?;
        entries
            .iter()
            .find(|(k, _)| *k == key.as_bytes())
            .map(|(_, value)| value)
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match self {
            Value::Bytes(bytes) => Some(bytes),
            _ => None,
        }
    }

    /// The string, if this is a byte string that is valid UTF-8.
    pub fn as_str(&self) -> Option<&'a str> {
        std::str::from_utf8(self.as_bytes()?).ok()
    }

    pub fn as_list(&self) -> Option<&[Value<'a>]> {
        match self {
            Value::List(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_dict(&self) -> Option<&[(&'a [u8], Value<'a>)]> {
        match self {
            Value::Dict(entries) => Some(entries),
            _ => None,
        }
    }
}

/// Resource limits for one decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum nesting of lists and dictionaries.
    pub max_depth: usize,
    /// Maximum number of values (dictionary keys included) in one input. A torrent's file
    /// entry costs about seven, so the default admits torrents of ~400,000 files while
    /// bounding memory (a value takes at most 48 bytes) for a hostile 64 MiB input.
    pub max_items: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_depth: 100,
            max_items: 3_000_000,
        }
    }
}

/// Why an input is not acceptable bencode. `pos` is a byte offset into the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BencodeError {
    /// The input ended in the middle of a value.
    UnexpectedEof { pos: usize },
    /// A value must start with `i`, `l`, `d` or a digit.
    ExpectedValue { pos: usize, found: u8 },
    /// An integer contains something other than digits (or is empty: `ie`, `i-e`).
    ExpectedDigit { pos: usize },
    /// A string length must be followed by `:`.
    ExpectedColon { pos: usize },
    /// `i01e` or `06:foobar`: a number with a leading zero.
    LeadingZero { pos: usize },
    /// `i-0e`.
    NegativeZero { pos: usize },
    /// A number that does not fit in a signed 64-bit integer.
    Overflow { pos: usize },
    /// A string whose declared length runs past the end of the input.
    StringPastEnd { pos: usize, length: u64 },
    /// A dictionary key that is not a byte string.
    KeyNotString { pos: usize },
    /// The same key twice in one dictionary.
    DuplicateKey { pos: usize, key: String },
    /// Lists and dictionaries nested deeper than the limit.
    DepthExceeded { limit: usize },
    /// More values than the limit.
    TooManyItems { limit: usize },
    /// Bytes left over after the one value [`decode`] expects.
    TrailingData { pos: usize },
}

impl fmt::Display for BencodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use BencodeError::*;
        match self {
            UnexpectedEof { pos } => write!(f, "bad bencode: input ends early (at byte {pos})"),
            ExpectedValue { pos, found } => write!(
                f,
                "bad bencode at byte {pos}: expected a value (i, l, d or a digit), found {:?}",
                char::from(*found)
            ),
            ExpectedDigit { pos } => write!(f, "bad bencode at byte {pos}: expected a digit"),
            ExpectedColon { pos } => write!(f, "bad bencode at byte {pos}: expected ':'"),
            LeadingZero { pos } => {
                write!(f, "bad bencode at byte {pos}: number has a leading zero")
            }
            NegativeZero { pos } => write!(f, "bad bencode at byte {pos}: '-0' is not allowed"),
            Overflow { pos } => write!(
                f,
                "bad bencode at byte {pos}: number too large (more than 2^63 - 1)"
            ),
            StringPastEnd { pos, length } => write!(
                f,
                "bad bencode at byte {pos}: string of {length} bytes runs past the end of the input"
            ),
            KeyNotString { pos } => {
                write!(
                    f,
                    "bad bencode at byte {pos}: dictionary key is not a string"
                )
            }
            DuplicateKey { pos, key } => write!(
                f,
                "bad bencode: duplicate dictionary key '{key}' in the dictionary at byte {pos}"
            ),
            DepthExceeded { limit } => {
                write!(f, "bad bencode: nesting deeper than {limit} levels")
            }
            TooManyItems { limit } => write!(f, "bad bencode: more than {limit} values"),
            TrailingData { pos } => write!(f, "bad bencode: unexpected data after byte {pos}"),
        }
    }
}

impl std::error::Error for BencodeError {}

/// Decodes `input`, which must hold exactly one value.
pub fn decode(input: &[u8]) -> Result<Value<'_>, BencodeError> {
    decode_with(input, Limits::default())
}

/// [`decode`] with explicit limits.
pub fn decode_with(input: &[u8], limits: Limits) -> Result<Value<'_>, BencodeError> {
    let (value, used) = decode_prefix_with(input, limits)?;
    if used != input.len() {
        return Err(BencodeError::TrailingData { pos: used });
    }
    Ok(value)
}

/// Decodes the value at the start of `input`; returns it and the number of bytes it used.
pub fn decode_prefix(input: &[u8]) -> Result<(Value<'_>, usize), BencodeError> {
    decode_prefix_with(input, Limits::default())
}

/// [`decode_prefix`] with explicit limits.
pub fn decode_prefix_with(
    input: &[u8],
    limits: Limits,
) -> Result<(Value<'_>, usize), BencodeError> {
    let mut decoder = Decoder::new(input, limits);
    let value = decoder.value()?;
    Ok((value, decoder.pos))
}

/// The raw bytes of the value of `key` in the dictionary at the start of `input`, exactly
/// as they appear there. `None` if the input is not a dictionary or has no such key.
/// This is how the info-hash is computed: `sha1(raw_dict_value(torrent, "info"))`.
pub fn raw_dict_value<'a>(input: &'a [u8], key: &str) -> Result<Option<&'a [u8]>, BencodeError> {
    let mut decoder = Decoder::new(input, Limits::default());
    if decoder.peek()? != b'd' {
        return Ok(None);
    }
    decoder.pos += 1;
    while decoder.peek()? != b'e' {
        let this_key = decoder.key()?;
        let start = decoder.pos;
        decoder.value()?;
        if this_key == key.as_bytes() {
            return Ok(input.get(start..decoder.pos));
        }
    }
    Ok(None)
}

/// A cursor over the input plus the running limit counters.
struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
    depth: usize,
    items: usize,
    limits: Limits,
}

impl<'a> Decoder<'a> {
    fn new(input: &'a [u8], limits: Limits) -> Decoder<'a> {
        Decoder {
            input,
            pos: 0,
            depth: 0,
            items: 0,
            limits,
        }
    }

    /// The byte at the cursor, without consuming it.
    fn peek(&self) -> Result<u8, BencodeError> {
        let pos = self.pos;
        self.input
            .get(pos)
            .copied()
            .ok_or(BencodeError::UnexpectedEof { pos })
    }

    fn count_item(&mut self) -> Result<(), BencodeError> {
        self.items += 1;
        if self.items > self.limits.max_items {
            return Err(BencodeError::TooManyItems {
                limit: self.limits.max_items,
            });
        }
        Ok(())
    }

    fn value(&mut self) -> Result<Value<'a>, BencodeError> {
        self.count_item()?;
        match self.peek()? {
            b'i' => self.int(),
            b'l' => self.nested(Decoder::list_items),
            b'd' => self.nested(Decoder::dict_entries),
            b'0'..=b'9' => Ok(Value::Bytes(self.bytes()?)),
            found => Err(BencodeError::ExpectedValue {
                pos: self.pos,
                found,
            }),
        }
    }

    /// `i<number>e`
    fn int(&mut self) -> Result<Value<'a>, BencodeError> {
        self.pos += 1; // 'i'
        let n = self.number(true)?;
        if self.peek()? != b'e' {
            return Err(BencodeError::ExpectedDigit { pos: self.pos });
        }
        self.pos += 1;
        Ok(Value::Int(n))
    }

    /// `<length>:<bytes>`
    fn bytes(&mut self) -> Result<&'a [u8], BencodeError> {
        let length = self.number(false)?;
        if self.peek()? != b':' {
            return Err(BencodeError::ExpectedColon { pos: self.pos });
        }
        self.pos += 1;
        let start = self.pos;
        let remaining = self.input.len() - start;
        // `number(false)` never returns a negative number.
        let length = length.unsigned_abs();
        if length > remaining as u64 {
            return Err(BencodeError::StringPastEnd { pos: start, length });
        }
        self.pos += length as usize;
        Ok(&self.input[start..self.pos])
    }

    /// A dictionary key: must be a byte string.
    fn key(&mut self) -> Result<&'a [u8], BencodeError> {
        if !self.peek()?.is_ascii_digit() {
            return Err(BencodeError::KeyNotString { pos: self.pos });
        }
        self.count_item()?;
        self.bytes()
    }

    /// A decimal number, optionally negative, in canonical form (no leading zeros, no -0).
    fn number(&mut self, allow_negative: bool) -> Result<i64, BencodeError> {
        let negative = allow_negative && self.peek()? == b'-';
        if negative {
            self.pos += 1;
        }
        let first = self.pos;
        let mut n: i64 = 0;
        while let Some(digit) = self.input.get(self.pos).filter(|b| b.is_ascii_digit()) {
            if self.pos > first && self.input[first] == b'0' {
                return Err(BencodeError::LeadingZero { pos: first });
            }
            let digit = i64::from(digit - b'0');
            // Accumulate negatives as negatives so that i64::MIN fits.
            let next = n.checked_mul(10).and_then(|n| {
                if negative {
                    n.checked_sub(digit)
                } else {
                    n.checked_add(digit)
                }
            });
            n = next.ok_or(BencodeError::Overflow { pos: self.pos })?;
            self.pos += 1;
        }
        if self.pos == first {
            self.peek()?; // end of input is reported as such
            return Err(BencodeError::ExpectedDigit { pos: self.pos });
        }
        if negative && n == 0 {
            return Err(BencodeError::NegativeZero { pos: first });
        }
        Ok(n)
    }

    /// Decodes a list or dictionary body with `body`, enforcing the depth limit.
    fn nested(
        &mut self,
        body: fn(&mut Decoder<'a>) -> Result<Value<'a>, BencodeError>,
    ) -> Result<Value<'a>, BencodeError> {
        self.depth += 1;
        if self.depth > self.limits.max_depth {
            return Err(BencodeError::DepthExceeded {
                limit: self.limits.max_depth,
            });
        }
        self.pos += 1; // 'l' or 'd'
        let value = body(self)?;
        self.pos += 1; // 'e'
        self.depth -= 1;
        Ok(value)
    }

    /// Values up to (not including) the closing `e`.
    fn list_items(&mut self) -> Result<Value<'a>, BencodeError> {
        let mut items = Vec::new();
        while self.peek()? != b'e' {
            items.push(self.value()?);
        }
        Ok(Value::List(items))
    }

    /// Key/value pairs up to (not including) the closing `e`.
    fn dict_entries(&mut self) -> Result<Value<'a>, BencodeError> {
        let start = self.pos - 1;
        let mut entries = Vec::new();
        while self.peek()? != b'e' {
            let key = self.key()?;
            entries.push((key, self.value()?));
        }
        if let Some(key) = find_duplicate_key(&entries) {
            let key = String::from_utf8_lossy(key).into_owned();
            return Err(BencodeError::DuplicateKey { pos: start, key });
        }
        Ok(Value::Dict(entries))
    }
}

/// A key that occurs twice, if any. Sorted dictionaries (the norm) are checked in one pass.
fn find_duplicate_key<'a>(entries: &[(&'a [u8], Value<'a>)]) -> Option<&'a [u8]> {
    if entries.windows(2).all(|pair| pair[0].0 < pair[1].0) {
        return None;
    }
    let mut keys: Vec<&[u8]> = entries.iter().map(|(key, _)| *key).collect();
    keys.sort_unstable();
    keys.windows(2)
        .find(|pair| pair[0] == pair[1])
        .map(|pair| pair[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_each_kind_and_the_helpers_find_them() {
        let value = decode(b"d3:bar4:spam3:fooi42e4:listli-1ee4:utf8l2:\xffxee").unwrap();
        assert_eq!(value.get("foo").and_then(Value::as_int), Some(42));
        assert_eq!(value.get("bar").and_then(Value::as_str), Some("spam"));
        assert_eq!(
            value.get("list").and_then(Value::as_list).map(<[_]>::len),
            Some(1)
        );
        let utf8 = value.get("utf8").and_then(Value::as_list).unwrap();
        assert_eq!(
            (utf8[0].as_bytes(), utf8[0].as_str()),
            (Some(&b"\xffx"[..]), None)
        );
        assert_eq!(value.get("missing"), None);
        assert_eq!(Value::Int(1).get("foo"), None);
    }

    #[test]
    fn prefix_decoding_reports_the_bytes_used() {
        assert_eq!(decode_prefix(b"i1ejunk"), Ok((Value::Int(1), 3)));
        assert_eq!(
            decode(b"i1ejunk"),
            Err(BencodeError::TrailingData { pos: 3 })
        );
    }

    #[test]
    fn raw_dict_value_is_the_exact_input_slice() {
        let input = b"d4:infod1:bi1e1:ai2ee4:salt0:e";
        assert_eq!(
            raw_dict_value(input, "info"),
            Ok(Some(&b"d1:bi1e1:ai2ee"[..]))
        );
        assert_eq!(raw_dict_value(input, "none"), Ok(None));
        assert_eq!(raw_dict_value(b"i1e", "info"), Ok(None));
    }
}

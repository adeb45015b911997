//! TEMPORARY minimal bencode decoder (branch `wire` only).
//!
//! The real module is written on another branch and replaces this file on merge. This copy
//! implements exactly the agreed interface so the tracker reply parser compiles and can be
//! tested now: borrowed values, dictionaries as ordered key/value lists, no encoder.

use std::fmt;

/// Nesting deeper than this is refused, so hostile input cannot exhaust the stack.
const MAX_DEPTH: usize = 64;

/// A decoded bencode value borrowing from the input buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'a> {
    /// `i42e`
    Int(i64),
    /// `4:spam`
    Bytes(&'a [u8]),
    /// `l...e`
    List(Vec<Value<'a>>),
    /// `d...e`, keys in input order.
    Dict(Vec<(&'a [u8], Value<'a>)>),
}

impl<'a> Value<'a> {
    /// The value under `key` if this is a dictionary holding it.
    pub fn get(&self, key: &[u8]) -> Option<&Value<'a>> {
        match self {
            Value::Dict(entries) => entries.iter().find(|(k, _)| *k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&'a str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    pub fn as_list(&self) -> Option<&[Value<'a>]> {
        match self {
            Value::List(items) => Some(items),
            _ => None,
        }
    }
}

/// Why a buffer is not valid bencode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BencodeError {
    /// Byte offset where decoding stopped.
    pub at: usize,
    /// What was wrong there.
    pub what: &'static str,
}

impl fmt::Display for BencodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid bencode at byte {}: {}", self.at, self.what)
    }
}

impl std::error::Error for BencodeError {}

/// Decodes one value that must span the whole input.
pub fn decode(input: &[u8]) -> Result<Value<'_>, BencodeError> {
    let mut pos = 0;
    let value = value(input, &mut pos, 0)?;
    if pos != input.len() {
        return Err(err(pos, "trailing bytes after the value"));
    }
    Ok(value)
}

fn err(at: usize, what: &'static str) -> BencodeError {
    BencodeError { at, what }
}

fn value<'a>(input: &'a [u8], pos: &mut usize, depth: usize) -> Result<Value<'a>, BencodeError> {
    if depth > MAX_DEPTH {
        return Err(err(*pos, "nested too deeply"));
    }
    match input.get(*pos) {
        None => Err(err(*pos, "unexpected end of input")),
        Some(b'i') => {
            *pos += 1;
            Ok(Value::Int(number(input, pos, b'e')?))
        }
        Some(b'l') => {
            *pos += 1;
            let mut items = Vec::new();
            while input.get(*pos) != Some(&b'e') {
                items.push(value(input, pos, depth + 1)?);
            }
            *pos += 1;
            Ok(Value::List(items))
        }
        Some(b'd') => {
            *pos += 1;
            let mut entries = Vec::new();
            while input.get(*pos) != Some(&b'e') {
                let key = bytes(input, pos)?;
                entries.push((key, value(input, pos, depth + 1)?));
            }
            *pos += 1;
            Ok(Value::Dict(entries))
        }
        Some(b'0'..=b'9') => Ok(Value::Bytes(bytes(input, pos)?)),
        Some(_) => Err(err(*pos, "unexpected byte")),
    }
}

fn bytes<'a>(input: &'a [u8], pos: &mut usize) -> Result<&'a [u8], BencodeError> {
    let len = number(input, pos, b':')?;
    let len = usize::try_from(len).map_err(|_| err(*pos, "negative string length"))?;
    let end = pos
        .checked_add(len)
        .filter(|&end| end <= input.len())
        .ok_or_else(|| err(*pos, "string runs past the end"))?;
    let slice = &input[*pos..end];
    *pos = end;
    Ok(slice)
}

fn number(input: &[u8], pos: &mut usize, end: u8) -> Result<i64, BencodeError> {
    let start = *pos;
    let stop = input[start.min(input.len())..]
        .iter()
        .position(|&b| b == end)
        .ok_or_else(|| err(start, "unterminated number"))?;
    let text = std::str::from_utf8(&input[start..start + stop])
        .map_err(|_| err(start, "number is not ASCII"))?;
    let n = text.parse::<i64>().map_err(|_| err(start, "bad number"))?;
    *pos = start + stop + 1;
    Ok(n)
}

//! The three encodings a magnet link's text is made of, decoded by hand: percent-escapes
//! (with `+` for a space, as in any query string), and the info-hash as 40 hex digits or
//! as 32 base32 characters (RFC 4648). Pure functions on untrusted text: every length is
//! checked before it is relied on.
//!
//! The encoding side needs only percent-escapes, and the trackers' own
//! `crate::tracker::http::percent_encode` is the one used.

/// A `%` not followed by two hex digits; holds the escape as written (`%G1`, `%4`).
#[derive(Debug, PartialEq, Eq)]
pub struct BadEscape(pub String);

/// Decodes a query-string value: `%XX` becomes the byte `XX`, `+` a space, anything else
/// itself. The result is bytes: the caller decides how to read them as text.
pub fn percent_decode(text: &str) -> Result<Vec<u8>, BadEscape> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        match byte {
            b'%' => {
                let escape = bytes.get(at + 1..at + 3);
                let decoded = escape.and_then(|pair| hex_byte(pair[0], pair[1]));
                let Some(decoded) = decoded else {
                    let end = (at + 3).min(bytes.len());
                    let written = String::from_utf8_lossy(&bytes[at..end]).into_owned();
                    return Err(BadEscape(written));
                };
                out.push(decoded);
                at += 3;
            }
            b'+' => {
                out.push(b' ');
                at += 1;
            }
            other => {
                out.push(other);
                at += 1;
            }
        }
    }
    Ok(out)
}

/// 40 hex digits (either case) as 20 bytes; `None` if the length or a digit is wrong.
pub fn hex_20(text: &str) -> Option<[u8; 20]> {
    let digits = text.as_bytes();
    if digits.len() != 40 {
        return None;
    }
    let mut out = [0; 20];
    for (pair, byte) in digits.chunks_exact(2).zip(out.iter_mut()) {
        *byte = hex_byte(pair[0], pair[1])?;
    }
    Some(out)
}

/// 32 base32 characters (RFC 4648: `A`-`Z` are 0-25, `2`-`7` are 26-31; either case, no
/// padding, since 32 × 5 bits are exactly 20 bytes) as 20 bytes; `None` if the length or
/// a character is wrong.
pub fn base32_20(text: &str) -> Option<[u8; 20]> {
    let characters = text.as_bytes();
    if characters.len() != 32 {
        return None;
    }
    let mut out = [0; 20];
    // Every 8 characters (40 bits) are exactly 5 bytes.
    for (group, bytes) in characters.chunks_exact(8).zip(out.chunks_exact_mut(5)) {
        let mut bits: u64 = 0;
        for &character in group {
            bits = bits << 5 | u64::from(base32_value(character)?);
        }
        bytes.copy_from_slice(&bits.to_be_bytes()[3..]);
    }
    Some(out)
}

/// The value of one base32 character, or `None`.
fn base32_value(character: u8) -> Option<u8> {
    match character.to_ascii_uppercase() {
        letter @ b'A'..=b'Z' => Some(letter - b'A'),
        digit @ b'2'..=b'7' => Some(digit - b'2' + 26),
        _ => None,
    }
}

/// The byte two hex digits spell, or `None`.
fn hex_byte(high: u8, low: u8) -> Option<u8> {
    let digit = |c: u8| char::from(c).to_digit(16);
    let value = digit(high)? << 4 | digit(low)?;
    u8::try_from(value).ok()
}

//! Why a text is not a magnet link smalltorrent can use: one variant per way a link is
//! wrong, each shown as one line that names the parameter at fault.

use std::fmt;

/// Why a text is not a magnet link smalltorrent can use.
#[derive(Debug, PartialEq, Eq)]
pub enum MagnetError {
    /// The text does not start with `magnet:?`.
    NotAMagnet,
    /// No `xt` parameter: nothing names the torrent.
    NoExactTopic,
    /// `xt` names something other than a BitTorrent torrent (`urn:sha1:`, `urn:ed2k:`...);
    /// holds the first `xt`.
    NotBitTorrent { xt: String },
    /// Only `xt=urn:btmh:`: a BitTorrent v2 info-hash, and smalltorrent speaks v1 only.
    OnlyV2,
    /// The `urn:btih:` hash is neither 40 nor 32 characters long.
    HashLength { length: usize },
    /// A 40-character hash with a character that is not a hex digit.
    BadHex { hash: String },
    /// A 32-character hash with a character outside base32's `A`-`Z`, `2`-`7`.
    BadBase32 { hash: String },
    /// Two `urn:btih:` parameters naming different torrents.
    TwoHashes,
    /// A `%` in a parameter not followed by two hex digits.
    BadEscape { parameter: String, escape: String },
    /// `xl` is not a whole number of bytes.
    BadLength { xl: String },
}

impl fmt::Display for MagnetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let problem = match self {
            MagnetError::NotAMagnet => {
                return write!(f, "not a magnet link: it must start with 'magnet:?'");
            }
            MagnetError::NoExactTopic => {
                "it has no 'xt' parameter (expected xt=urn:btih: and the info-hash)".to_string()
            }
            MagnetError::NotBitTorrent { xt } => format!(
                "xt '{}' is not a BitTorrent info-hash (expected xt=urn:btih:...)",
                shown(xt)
            ),
            MagnetError::OnlyV2 => "it has only a BitTorrent v2 info-hash (xt=urn:btmh:); \
                                    smalltorrent needs a v1 info-hash (xt=urn:btih:)"
                .to_string(),
            MagnetError::HashLength { length } => format!(
                "the info-hash has {length} characters; expected 40 hex digits or 32 base32 \
                 characters"
            ),
            MagnetError::BadHex { hash } => format!(
                "the info-hash '{}' is not 40 hex digits (0-9, a-f)",
                shown(hash)
            ),
            MagnetError::BadBase32 { hash } => format!(
                "the info-hash '{}' is not 32 base32 characters (A-Z, 2-7)",
                shown(hash)
            ),
            MagnetError::TwoHashes => {
                "it names two different torrents (two different xt=urn:btih: hashes)".to_string()
            }
            MagnetError::BadEscape { parameter, escape } => format!(
                "'{}' has a bad percent-escape '{}' (a '%' must be followed by two hex digits)",
                shown(parameter),
                shown(escape)
            ),
            MagnetError::BadLength { xl } => {
                format!("xl '{}' is not a number of bytes", shown(xl))
            }
        };
        write!(f, "invalid magnet link: {problem}")
    }
}

impl std::error::Error for MagnetError {}

/// Untrusted text in an error message: control characters escaped, cut at 64 characters.
pub(super) fn shown(text: &str) -> String {
    let mut out: String = text.chars().take(64).flat_map(char::escape_debug).collect();
    if text.chars().nth(64).is_some() {
        out.push_str("...");
    }
    out
}

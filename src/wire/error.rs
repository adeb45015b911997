//! What can go wrong on a peer connection at the wire level: [`WireError`], and the names
//! of the messages its text uses.

use super::id;
use std::fmt;
use std::io;

/// What went wrong on a peer connection. Every variant means "drop this peer".
#[derive(Debug)]
pub enum WireError {
    /// The peer closed the connection (at a frame boundary or in the middle of one).
    Closed,
    /// A blocking read with a socket timeout got nothing in time ([`super::Handshake::read_from`]).
    /// [`super::MessageReader`] never returns it: a read that would block pauses it instead.
    Timeout,
    /// The socket failed (connection reset, ...).
    Io(io::Error),
    /// The handshake was not a BitTorrent handshake.
    BadHandshake(&'static str),
    /// A length prefix above our limit; refused before allocating anything.
    TooLong { len: u32, max: u32 },
    /// A known message whose length does not match its id (e.g. a 7-byte `have`).
    BadLength { id: u8, len: u32 },
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Closed => write!(f, "peer closed the connection"),
            WireError::Timeout => write!(f, "peer did not answer in time"),
            WireError::Io(e) => write!(f, "connection error: {e}"),
            WireError::BadHandshake(what) => write!(f, "peer sent a bad handshake: {what}"),
            WireError::TooLong { len, max } => {
                write!(f, "peer sent a {len}-byte message (limit {max})")
            }
            WireError::BadLength { id, len } => write!(
                f,
                "peer sent a `{}` message of {len} bytes (expected {})",
                name(*id),
                expected_len(*id)
            ),
        }
    }
}

impl std::error::Error for WireError {}

/// A message's name, for error messages.
pub(super) fn name(id: u8) -> &'static str {
    match id {
        id::CHOKE => "choke",
        id::UNCHOKE => "unchoke",
        id::INTERESTED => "interested",
        id::NOT_INTERESTED => "not interested",
        id::HAVE => "have",
        id::BITFIELD => "bitfield",
        id::REQUEST => "request",
        id::PIECE => "piece",
        id::CANCEL => "cancel",
        id::PORT => "port",
        id::SUGGEST_PIECE => "suggest piece",
        id::HAVE_ALL => "have all",
        id::HAVE_NONE => "have none",
        id::REJECT_REQUEST => "reject request",
        id::ALLOWED_FAST => "allowed fast",
        id::EXTENDED => "extended",
        _ => "unknown",
    }
}

/// The frame length a known message must have, for error messages.
fn expected_len(id: u8) -> &'static str {
    match id {
        id::CHOKE..=id::NOT_INTERESTED | id::HAVE_ALL | id::HAVE_NONE => "1",
        id::HAVE | id::SUGGEST_PIECE | id::ALLOWED_FAST => "5",
        id::REQUEST | id::CANCEL | id::REJECT_REQUEST => "13",
        id::PIECE => "at least 9",
        id::PORT => "3",
        id::EXTENDED => "at least 2",
        _ => "any",
    }
}

//! The BEP 10 extension protocol: the extension handshake, and the extensions we speak
//! on top of it (BEP 9's `ut_metadata`, in `metadata.rs`; BEP 11's `ut_pex`, in `pex.rs`).
//!
//! Like `wire.rs` this layer is pure: it turns the payload of a [`Message::Extended`] into
//! a typed value and back, and no input can make it panic. The peer thread decides what
//! to do with them (`peer/extensions.rs`).
//!
//! Every extension message travels as wire message 20. Its first byte says which
//! extension: 0 is the extension handshake, any other number is the one the *receiver*
//! chose for that extension in its own handshake's `m` dictionary. So we read messages
//! with our numbers ([`UT_METADATA`], [`UT_PEX`]) and send them with the peer's.

pub mod metadata;
pub mod pex;

use crate::bencode::{self, Limits, OwnedValue, Value};
use crate::wire::Message;
use std::fmt;

/// The number we give `ut_metadata` in our handshake: peers send us its messages with it.
pub const UT_METADATA: u8 = 1;
/// The number we give `ut_pex` in our handshake (when we offer it).
pub const UT_PEX: u8 = 2;

/// Limits for decoding a peer's extension payload: a handshake is a small dictionary.
const LIMITS: Limits = Limits {
    max_depth: 8,
    max_items: 1_000,
};

/// What a peer's extension payload broke. Every variant means "drop this peer".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtensionError {
    /// The extension handshake is not a bencoded dictionary.
    BadHandshake(String),
    /// A `ut_metadata` message is not what BEP 9 describes.
    BadMetadataMessage(String),
    /// A `ut_pex` message is not what BEP 11 describes.
    BadPexMessage(String),
}

impl fmt::Display for ExtensionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExtensionError::BadHandshake(why) => {
                write!(f, "sent a malformed extension handshake: {why}")
            }
            ExtensionError::BadMetadataMessage(why) => {
                write!(f, "sent a malformed ut_metadata message: {why}")
            }
            ExtensionError::BadPexMessage(why) => {
                write!(f, "sent a malformed ut_pex message: {why}")
            }
        }
    }
}

impl std::error::Error for ExtensionError {}

/// A peer's extension handshake: which extensions it speaks, under which numbers, and the
/// few facts it volunteers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Handshake {
    /// The number the peer gave `ut_metadata` (we send it its metadata messages with it);
    /// `None` if it does not speak it.
    pub ut_metadata: Option<u8>,
    /// The number the peer gave `ut_pex` (peer exchange); `None` if it does not speak it.
    pub ut_pex: Option<u8>,
    /// The peer prefers encrypted connections (`e` = 1): a flag for peer exchange.
    pub prefers_encryption: bool,
    /// The size in bytes of the torrent's `info` dictionary, if the peer has it.
    pub metadata_size: Option<u64>,
    /// How many requests the peer queues for us (`reqq`).
    pub reqq: Option<u32>,
    /// The peer's client name and version (`v`), for the log.
    pub client: Option<String>,
    /// The port the peer listens on (`p`): for a peer that dialled us, where others reach it.
    pub listen_port: Option<u16>,
}

impl Handshake {
    /// Decodes the payload of extension message 0. A later handshake from the same peer
    /// updates the earlier one (BEP 10); the caller merges them.
    pub fn decode(payload: &[u8]) -> Result<Handshake, ExtensionError> {
        let bad = |why: String| ExtensionError::BadHandshake(why);
        let value = bencode::decode_with(payload, LIMITS).map_err(|e| bad(e.to_string()))?;
        if value.as_dict().is_none() {
            return Err(bad("not a dictionary".into()));
        }
        let m = value.get("m");
        if m.is_some_and(|m| m.as_dict().is_none()) {
            return Err(bad("its 'm' is not a dictionary".into()));
        }
        let extension_id = |name: &str| {
            // 0 means "disabled"; a number out of range is no number we could send with.
            let id = m?.get(name)?.as_int()?;
            u8::try_from(id).ok().filter(|&id| id != 0)
        };
        Ok(Handshake {
            ut_metadata: extension_id("ut_metadata"),
            ut_pex: extension_id("ut_pex"),
            prefers_encryption: value.get("e").and_then(Value::as_int) == Some(1),
            metadata_size: positive(value.get("metadata_size")),
            reqq: positive(value.get("reqq")).and_then(|n| u32::try_from(n).ok()),
            client: value
                .get("v")
                .and_then(Value::as_bytes)
                .map(|v| String::from_utf8_lossy(&v[..v.len().min(64)]).into_owned()),
            listen_port: positive(value.get("p")).and_then(|n| u16::try_from(n).ok()),
        })
    }
}

/// A positive integer, if `value` is one.
fn positive(value: Option<&Value>) -> Option<u64> {
    value?
        .as_int()
        .and_then(|n| u64::try_from(n).ok())
        .filter(|&n| n > 0)
}

/// What we say in our extension handshake.
#[derive(Debug, Clone, Copy)]
pub struct Ours<'a> {
    /// The size of the metadata, once we have it.
    pub metadata_size: Option<u64>,
    /// The requests we queue for a peer: without it a client picks its own depth, and
    /// Transmission keeps up to ten seconds of its download rate in flight.
    pub reqq: u32,
    /// Our client name and version.
    pub version: &'a str,
    /// The port we listen on.
    pub listen_port: Option<u16>,
    /// Offer peer exchange: never for a private torrent (BEP 27), nor before we know
    /// whether the torrent is private.
    pub pex: bool,
}

impl Ours<'_> {
    /// Our extension handshake, as a wire message.
    pub fn message(&self) -> Message {
        let mut m = vec![("ut_metadata", OwnedValue::Int(i64::from(UT_METADATA)))];
        if self.pex {
            m.push(("ut_pex", OwnedValue::Int(i64::from(UT_PEX))));
        }
        let m = OwnedValue::dict(m);
        let mut entries = vec![
            ("m", m),
            ("reqq", OwnedValue::Int(i64::from(self.reqq))),
            ("v", OwnedValue::bytes(self.version.as_bytes())),
        ];
        if let Some(size) = self.metadata_size {
            entries.push(("metadata_size", int(size)));
        }
        if let Some(port) = self.listen_port {
            entries.push(("p", OwnedValue::Int(i64::from(port))));
        }
        Message::Extended {
            id: 0,
            payload: OwnedValue::dict(entries).to_bytes(),
        }
    }
}

/// A `u64` as a bencode integer (saturating: nothing we send comes close to 2^63).
fn int(n: u64) -> OwnedValue {
    OwnedValue::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests;

//! BEP 9's `ut_metadata` messages: asking for, sending and refusing the pieces of a
//! torrent's `info` dictionary (the *metadata*), so that a magnet link, which holds only
//! the info-hash, becomes a torrent.
//!
//! The metadata is cut into 16 KiB pieces, the last one shorter. Each message is a small
//! bencoded dictionary (`msg_type` 0 request, 1 data, 2 reject; `piece`; for data
//! `total_size`), and a data message carries the piece's bytes right after it.

use super::{ExtensionError, LIMITS, int};
use crate::bencode::{self, OwnedValue};
use crate::wire::Message;

/// The size of every metadata piece but the last.
pub const PIECE_SIZE: usize = 16 * 1024;

const REQUEST: i64 = 0;
const DATA: i64 = 1;
const REJECT: i64 = 2;

/// One `ut_metadata` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataMessage {
    /// Send me this piece of the metadata.
    Request { piece: u32 },
    /// A piece of the metadata; `total_size` is the whole metadata's.
    Data {
        piece: u32,
        total_size: u64,
        data: Vec<u8>,
    },
    /// I will not send you this piece (I do not have the metadata, or will not share it).
    Reject { piece: u32 },
}

impl MetadataMessage {
    /// Decodes a `ut_metadata` payload. `None` for a `msg_type` BEP 9 does not define,
    /// which a receiver ignores.
    pub fn decode(payload: &[u8]) -> Result<Option<MetadataMessage>, ExtensionError> {
        let bad = |why: &str| ExtensionError::BadMetadataMessage(why.into());
        let (dict, used) = bencode::decode_prefix_with(payload, LIMITS)
            .map_err(|e| ExtensionError::BadMetadataMessage(e.to_string()))?;
        if dict.as_dict().is_none() {
            return Err(bad("not a dictionary"));
        }
        let msg_type = dict.get("msg_type").and_then(|v| v.as_int());
        let piece = dict
            .get("piece")
            .and_then(|v| v.as_int())
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| bad("no valid 'piece'"))?;
        let trailing = &payload[used..];
        Ok(Some(match msg_type {
            Some(REQUEST) => MetadataMessage::Request { piece },
            Some(REJECT) => MetadataMessage::Reject { piece },
            Some(DATA) => MetadataMessage::Data {
                piece,
                total_size: dict
                    .get("total_size")
                    .and_then(|v| v.as_int())
                    .and_then(|n| u64::try_from(n).ok())
                    .ok_or_else(|| bad("a data message without a valid 'total_size'"))?,
                data: trailing.to_vec(),
            },
            Some(_) => return Ok(None),
            None => return Err(bad("no 'msg_type'")),
        }))
    }

    /// This message as a wire message, for a peer that numbered `ut_metadata` `id`.
    pub fn to_message(&self, id: u8) -> Message {
        let (msg_type, piece) = match self {
            MetadataMessage::Request { piece } => (REQUEST, piece),
            MetadataMessage::Data { piece, .. } => (DATA, piece),
            MetadataMessage::Reject { piece } => (REJECT, piece),
        };
        let mut entries = vec![
            ("msg_type", OwnedValue::Int(msg_type)),
            ("piece", OwnedValue::Int(i64::from(*piece))),
        ];
        if let MetadataMessage::Data { total_size, .. } = self {
            entries.push(("total_size", int(*total_size)));
        }
        let mut payload = OwnedValue::dict(entries).to_bytes();
        if let MetadataMessage::Data { data, .. } = self {
            payload.extend_from_slice(data);
        }
        Message::Extended { id, payload }
    }

    /// The trace's name for this message's kind.
    pub fn kind(&self) -> &'static str {
        match self {
            MetadataMessage::Request { .. } => "request",
            MetadataMessage::Data { .. } => "data",
            MetadataMessage::Reject { .. } => "reject",
        }
    }
}

/// How many pieces metadata of `size` bytes has.
pub fn piece_count(size: u64) -> u32 {
    u32::try_from(size.div_ceil(PIECE_SIZE as u64)).unwrap_or(u32::MAX)
}

/// The length of metadata piece `piece` of metadata of `size` bytes, `None` past the end.
pub fn piece_len(size: u64, piece: u32) -> Option<usize> {
    let start = u64::from(piece) * PIECE_SIZE as u64;
    (start < size).then(|| (size - start).min(PIECE_SIZE as u64) as usize)
}

/// Piece `piece` of `metadata`, `None` past the end.
pub fn piece_of(metadata: &[u8], piece: u32) -> Option<&[u8]> {
    let start = (piece as usize).checked_mul(PIECE_SIZE)?;
    let len = piece_len(metadata.len() as u64, piece)?;
    metadata.get(start..start + len)
}

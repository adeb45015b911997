//! The BEP 3 peer wire protocol: the handshake and the length-prefixed messages (with the
//! Fast extension's five, BEP 6).
//!
//! This layer is pure: no threads and no sockets of its own. It encodes messages into a
//! `Vec<u8>` and decodes them from anything that implements [`Read`], so the peer thread can
//! hand it a `TcpStream` and the tests a slice. Every length a peer sends is checked before
//! anything is allocated, and no input can make it panic.
//!
//! A frame on the wire is `<length: u32 big-endian><id: u8><payload>`; a length of zero is a
//! keep-alive. [`MessageReader`] reads frames *resumably*: after the handshake the peer
//! thread's socket is non-blocking (the thread sleeps in poll(2), `peer/poll.rs`), so a frame
//! may stop half-way with `WouldBlock`; that just pauses the reader, which carries on from
//! the same byte on the next call.

mod error;
mod reader;

pub use error::WireError;
pub use reader::MessageReader;

use crate::geometry::BlockRef;
use std::io::{self, ErrorKind, Read};

/// The protocol string every handshake starts with (after its length byte, 19).
pub const PROTOCOL: &[u8; 19] = b"BitTorrent protocol";

/// Length of a handshake on the wire.
pub const HANDSHAKE_LEN: usize = 68;

/// A sensible frame limit: a 128 KiB block plus the `piece` header. Real clients send 16 KiB
/// blocks; a peer that announces more than this is broken or hostile.
pub const DEFAULT_MAX_LEN: u32 = 128 * 1024 + 9;

/// Message ids (BEP 3, plus `port` from BEP 5 and the Fast extension's from BEP 6).
mod id {
    pub const CHOKE: u8 = 0;
    pub const UNCHOKE: u8 = 1;
    pub const INTERESTED: u8 = 2;
    pub const NOT_INTERESTED: u8 = 3;
    pub const HAVE: u8 = 4;
    pub const BITFIELD: u8 = 5;
    pub const REQUEST: u8 = 6;
    pub const PIECE: u8 = 7;
    pub const CANCEL: u8 = 8;
    pub const PORT: u8 = 9;
    pub const SUGGEST_PIECE: u8 = 0x0D;
    pub const HAVE_ALL: u8 = 0x0E;
    pub const HAVE_NONE: u8 = 0x0F;
    pub const REJECT_REQUEST: u8 = 0x10;
    pub const ALLOWED_FAST: u8 = 0x11;
    /// BEP 10: every extension message; its first payload byte says which (0: handshake).
    pub const EXTENDED: u8 = 20;
}

/// Sorts an I/O error into closed / timed out / other.
fn io_error(e: io::Error) -> WireError {
    match e.kind() {
        ErrorKind::UnexpectedEof => WireError::Closed,
        ErrorKind::WouldBlock | ErrorKind::TimedOut => WireError::Timeout,
        _ => WireError::Io(e),
    }
}

/// The first 68 bytes each side sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake {
    /// Extension bits. We set BEP 10's (bit 20 from the right, 0x10 in byte 5), the Fast
    /// extension's (BEP 6: 0x04 in byte 7), and BEP 5's (0x01 in byte 7) when our DHT
    /// node runs.
    pub reserved: [u8; 8],
    pub info_hash: [u8; 20],
    pub peer_id: [u8; 20],
}

impl Handshake {
    /// Our handshake for a torrent: the BEP 10 and BEP 6 bits set, nothing else.
    pub fn new(info_hash: [u8; 20], peer_id: [u8; 20]) -> Handshake {
        let mut reserved = [0; 8];
        reserved[EXTENSION_BYTE] |= EXTENSION_BIT;
        reserved[FAST_BYTE] |= FAST_BIT;
        Handshake {
            reserved,
            info_hash,
            peer_id,
        }
    }

    /// True if the sender speaks BEP 10 extension messages.
    pub fn supports_extensions(&self) -> bool {
        self.reserved[EXTENSION_BYTE] & EXTENSION_BIT != 0
    }

    /// This handshake saying we run a DHT node (BEP 5: the last bit), if `dht`.
    pub fn with_dht(mut self, dht: bool) -> Handshake {
        if dht {
            self.reserved[DHT_BYTE] |= DHT_BIT;
        }
        self
    }

    /// True if the sender runs a DHT node: it takes a `port` message.
    pub fn supports_dht(&self) -> bool {
        self.reserved[DHT_BYTE] & DHT_BIT != 0
    }

    /// True if the sender speaks the Fast extension (BEP 6). It applies to a connection
    /// only when both handshakes say so.
    pub fn supports_fast(&self) -> bool {
        self.reserved[FAST_BYTE] & FAST_BIT != 0
    }

    /// `<19><"BitTorrent protocol"><reserved><info_hash><peer_id>`.
    pub fn to_bytes(&self) -> [u8; HANDSHAKE_LEN] {
        let mut out = [0u8; HANDSHAKE_LEN];
        out[0] = PROTOCOL.len() as u8;
        out[1..20].copy_from_slice(PROTOCOL);
        out[20..28].copy_from_slice(&self.reserved);
        out[28..48].copy_from_slice(&self.info_hash);
        out[48..68].copy_from_slice(&self.peer_id);
        out
    }

    /// Checks the protocol prefix and splits out the fields.
    pub fn parse(bytes: &[u8; HANDSHAKE_LEN]) -> Result<Handshake, WireError> {
        if bytes[0] as usize != PROTOCOL.len() {
            return Err(WireError::BadHandshake("protocol name length is not 19"));
        }
        if &bytes[1..20] != PROTOCOL {
            return Err(WireError::BadHandshake(
                "protocol is not \"BitTorrent protocol\"",
            ));
        }
        let mut hs = Handshake {
            reserved: [0; 8],
            info_hash: [0; 20],
            peer_id: [0; 20],
        };
        hs.reserved.copy_from_slice(&bytes[20..28]);
        hs.info_hash.copy_from_slice(&bytes[28..48]);
        hs.peer_id.copy_from_slice(&bytes[48..68]);
        Ok(hs)
    }

    /// Reads and parses a handshake from a blocking reader; a socket timeout here is
    /// [`WireError::Timeout`]. (The peer thread reads handshakes under one deadline in
    /// `peer/handshake.rs` instead; this is for tests and scripted peers.)
    pub fn read_from(r: &mut impl Read) -> Result<Handshake, WireError> {
        let mut bytes = [0u8; HANDSHAKE_LEN];
        r.read_exact(&mut bytes).map_err(io_error)?;
        Handshake::parse(&bytes)
    }
}

/// One peer wire message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Zero-length frame: "I am still here".
    KeepAlive,
    /// The sender will not answer our requests.
    Choke,
    /// The sender will answer our requests.
    Unchoke,
    /// The sender wants pieces we have.
    Interested,
    /// The sender wants nothing from us.
    NotInterested,
    /// The sender now has this piece.
    Have(u32),
    /// Which pieces the sender has, high bit of byte 0 = piece 0. Sent first, if at all.
    Bitfield(Vec<u8>),
    /// Please send this block.
    Request(BlockRef),
    /// A block of data: `data` starts at `offset` in piece `piece`.
    Piece {
        piece: u32,
        offset: u32,
        data: Vec<u8>,
    },
    /// Forget my request for this block.
    Cancel(BlockRef),
    /// The sender's DHT port (BEP 5). We ignore it.
    Port(u16),
    /// BEP 6: a hint that this piece is worth asking the sender for.
    SuggestPiece(u32),
    /// BEP 6: the sender has every piece (instead of a full bitfield, first message only).
    HaveAll,
    /// BEP 6: the sender has no piece (instead of an empty bitfield, first message only).
    HaveNone,
    /// BEP 6: the sender will not send this block we requested (each request gets exactly
    /// one answer: the block or this).
    RejectRequest(BlockRef),
    /// BEP 6: the receiver may request this piece even while the sender chokes it.
    AllowedFast(u32),
    /// A BEP 10 extension message: `id` 0 is the extension handshake, any other the number
    /// the receiver gave that extension in its handshake. The payload is decoded by
    /// [`crate::extension`].
    Extended { id: u8, payload: Vec<u8> },
    /// A message we do not speak: its id and the length of its payload after the id. The
    /// payload was skipped, not stored.
    Unknown { id: u8, len: u32 },
}

/// The frame header of a `piece` message carrying `len` bytes of data, so a block can be
/// sent straight out of the memory map: write these 13 bytes, then the data.
/// (`len` above `u32::MAX - 9` cannot be framed; it saturates, which the peer will reject.)
pub fn piece_header(piece: u32, offset: u32, len: u32) -> [u8; 13] {
    let mut out = [0u8; 13];
    out[0..4].copy_from_slice(&len.saturating_add(9).to_be_bytes());
    out[4] = id::PIECE;
    out[5..9].copy_from_slice(&piece.to_be_bytes());
    out[9..13].copy_from_slice(&offset.to_be_bytes());
    out
}

/// Where BEP 10's bit lives in the handshake's reserved bytes.
const EXTENSION_BYTE: usize = 5;
const EXTENSION_BIT: u8 = 0x10;
/// Where BEP 5's bit lives: the last bit of the reserved bytes.
const DHT_BYTE: usize = 7;
const DHT_BIT: u8 = 0x01;
/// Where BEP 6's bit lives: "the third least significant bit of the last reserved byte".
const FAST_BYTE: usize = 7;
const FAST_BIT: u8 = 0x04;

/// Appends a frame's length prefix and id.
fn frame(out: &mut Vec<u8>, len: u32, id: u8) {
    out.extend_from_slice(&len.to_be_bytes());
    out.push(id);
}

/// A message whose payload is one piece index (`have`, `suggest_piece`, `allowed_fast`).
fn piece_frame(out: &mut Vec<u8>, id: u8, piece: u32) {
    frame(out, 5, id);
    out.extend_from_slice(&piece.to_be_bytes());
}

fn block_frame(out: &mut Vec<u8>, id: u8, block: &BlockRef) {
    frame(out, 13, id);
    out.extend_from_slice(&block.piece.to_be_bytes());
    out.extend_from_slice(&block.offset.to_be_bytes());
    out.extend_from_slice(&block.length.to_be_bytes());
}

/// A payload length as a `u32` frame length, saturating (nothing we send comes close).
fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

impl Message {
    /// A one-line description for logs: the message and its fields, but not block data.
    pub fn summary(&self) -> String {
        match self {
            Message::Piece {
                piece,
                offset,
                data,
            } => format!("piece {piece} offset {offset} ({} bytes)", data.len()),
            Message::Bitfield(bytes) => format!("bitfield ({} bytes)", bytes.len()),
            Message::SuggestPiece(piece) => format!("suggest piece {piece}"),
            Message::HaveAll => "have all".into(),
            Message::HaveNone => "have none".into(),
            Message::RejectRequest(b) => format!(
                "reject request: piece {} offset {} ({} bytes)",
                b.piece, b.offset, b.length
            ),
            Message::AllowedFast(piece) => format!("allowed fast: piece {piece}"),
            Message::Extended { id, payload } => {
                format!("extended {id} ({} bytes)", payload.len())
            }
            other => format!("{other:?}"),
        }
    }

    /// Appends this message, framed, to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Message::KeepAlive => out.extend_from_slice(&[0, 0, 0, 0]),
            Message::Choke => frame(out, 1, id::CHOKE),
            Message::Unchoke => frame(out, 1, id::UNCHOKE),
            Message::Interested => frame(out, 1, id::INTERESTED),
            Message::NotInterested => frame(out, 1, id::NOT_INTERESTED),
            Message::Have(piece) => piece_frame(out, id::HAVE, *piece),
            Message::Bitfield(bits) => {
                frame(out, len_u32(bits.len()).saturating_add(1), id::BITFIELD);
                out.extend_from_slice(bits);
            }
            Message::Request(block) => block_frame(out, id::REQUEST, block),
            Message::Piece {
                piece,
                offset,
                data,
            } => {
                out.extend_from_slice(&piece_header(*piece, *offset, len_u32(data.len())));
                out.extend_from_slice(data);
            }
            Message::Cancel(block) => block_frame(out, id::CANCEL, block),
            Message::Port(port) => {
                frame(out, 3, id::PORT);
                out.extend_from_slice(&port.to_be_bytes());
            }
            Message::SuggestPiece(piece) => piece_frame(out, id::SUGGEST_PIECE, *piece),
            Message::HaveAll => frame(out, 1, id::HAVE_ALL),
            Message::HaveNone => frame(out, 1, id::HAVE_NONE),
            Message::RejectRequest(block) => block_frame(out, id::REJECT_REQUEST, block),
            Message::AllowedFast(piece) => piece_frame(out, id::ALLOWED_FAST, *piece),
            Message::Extended { id, payload } => {
                frame(out, len_u32(payload.len()).saturating_add(2), id::EXTENDED);
                out.push(*id);
                out.extend_from_slice(payload);
            }
            // We never send these; zeros as payload keep encode/decode symmetric for tests.
            Message::Unknown { id, len } => {
                frame(out, len.saturating_add(1), *id);
                out.resize(out.len() + *len as usize, 0);
            }
        }
    }
}

#[cfg(test)]
mod tests;

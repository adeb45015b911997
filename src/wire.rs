//! Types-only stand-in; the real codec lands from the `wire` branch.
use crate::geometry::BlockRef;
use std::io::Read;

#[derive(Debug)]
pub enum WireError {
    Closed,
    Io(std::io::Error),
}
impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}
impl std::error::Error for WireError {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    pub reserved: [u8; 8],
    pub info_hash: [u8; 20],
    pub peer_id: [u8; 20],
}
impl Handshake {
    pub fn new(info_hash: [u8; 20], peer_id: [u8; 20]) -> Handshake {
        Handshake {
            reserved: [0; 8],
            info_hash,
            peer_id,
        }
    }
    pub fn to_bytes(&self) -> [u8; 68] {
        [0; 68]
    }
    pub fn read_from(_r: &mut impl Read) -> Result<Handshake, WireError> {
        Err(WireError::Closed)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    KeepAlive,
    Choke,
    Unchoke,
    Interested,
    NotInterested,
    Have(u32),
    Bitfield(Vec<u8>),
    Request(BlockRef),
    Piece {
        piece: u32,
        offset: u32,
        data: Vec<u8>,
    },
    Cancel(BlockRef),
    Port(u16),
    Unknown {
        id: u8,
        len: u32,
    },
}
impl Message {
    pub fn encode(&self, _out: &mut Vec<u8>) {}
}
pub struct MessageReader;
impl MessageReader {
    pub fn new(_max_len: u32) -> MessageReader {
        MessageReader
    }
    pub fn read_from(&mut self, _r: &mut impl Read) -> Result<Option<Message>, WireError> {
        Ok(None)
    }
}

//! Why a peer connection ended: one [`PeerError`] per way, each with the words the log
//! and the peer manager read it by (the manager decides from it whether to dial again).

use crate::mse::MseError;
use crate::wire::WireError;
use std::fmt;
use std::io;

/// Why a peer connection ended.
#[derive(Debug)]
pub enum PeerError {
    /// TCP connect failed or timed out.
    Connect(io::Error),
    /// The socket failed, or the peer broke the framing.
    Wire(WireError),
    /// The peer is in a different torrent.
    WrongInfoHash,
    /// The Message Stream Encryption handshake failed (the socket's own failures are
    /// `Wire`).
    Encryption(MseError),
    /// We dialled ourselves.
    OwnPeerId,
    /// The peer is connected to us already, on another connection of this torrent (it
    /// dialled us while we dialled it, or it connected twice).
    AlreadyConnected,
    /// The peer broke the protocol in a way that makes it untrustworthy.
    Misbehaved(String),
    /// A state lasted longer than its timeout.
    Timeout(&'static str),
    /// We and the peer both have every piece: neither can give the other anything.
    BothComplete,
    /// The peer manager asked us to stop.
    Stopped,
    /// The block saver is gone (the download is shutting down).
    SaverGone,
    /// Reading a block to upload failed.
    Storage(crate::storage::StorageError),
}

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerError::Connect(e) => write!(f, "connect failed: {e}"),
            PeerError::Wire(e) => write!(f, "{e}"),
            PeerError::WrongInfoHash => write!(f, "peer is not sharing this torrent"),
            PeerError::Encryption(e) => write!(f, "encryption handshake failed: {e}"),
            PeerError::OwnPeerId => write!(f, "connected to ourselves"),
            PeerError::AlreadyConnected => {
                write!(f, "already connected to this peer (same peer id)")
            }
            PeerError::Misbehaved(what) => write!(f, "protocol violation: {what}"),
            PeerError::Timeout(state) => write!(f, "timed out {state}"),
            PeerError::BothComplete => write!(f, "both sides have every piece"),
            PeerError::Stopped => write!(f, "stopped"),
            PeerError::SaverGone => write!(f, "block saver stopped"),
            PeerError::Storage(e) => write!(f, "cannot read a block to upload: {e}"),
        }
    }
}

impl std::error::Error for PeerError {}

impl From<WireError> for PeerError {
    fn from(error: WireError) -> PeerError {
        PeerError::Wire(error)
    }
}

impl From<io::Error> for PeerError {
    fn from(error: io::Error) -> PeerError {
        PeerError::Wire(WireError::Io(error))
    }
}

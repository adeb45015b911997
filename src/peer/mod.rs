//! One peer's thread: a blocking TCP connection speaking the BEP 3 wire protocol.
//!
//! * Runs on: one thread per peer (`peer <addr>`), spawned by the peer manager with a small
//!   stack.
//! * Owns: the socket, what the peer has (its bitfield), the choke/interest flags of this
//!   connection and the list of blocks requested from this peer.
//! * Reads: the socket, and a stop flag set by the peer manager.
//! * Writes: the socket; accepted blocks to the block saver's channel; one [`Exited`] to the
//!   peer manager when the thread ends, for whatever reason.
//! * Calls: the piece manager, to pick blocks and report what arrived.
//!
//! The life of a connection: connect → handshake → bitfield → interested → wait for
//! unchoke → keep a pipeline of requests full while `piece`s arrive. Every waiting state
//! has a timeout (see [`Timeouts`]), so a silent or slow peer is dropped and its blocks go
//! back to the piece manager for others to fetch.

mod connection;

use crate::block_saver;
use crate::geometry::Geometry;
use crate::piece_manager::{PeerKey, PieceManager};
use crate::stats::Counters;
use crate::wire::{Handshake, WireError};
use connection::Connection;
use crossbeam_channel::Sender;
use std::fmt;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::thread::JoinHandle;
use std::time::Duration;

/// Stack size of a peer thread: it keeps its buffers on the heap.
const STACK_SIZE: usize = 128 * 1024;

/// How long each state may last before the peer is dropped.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// TCP connect.
    pub connect: Duration,
    /// From connect to a complete handshake from the peer.
    pub handshake: Duration,
    /// Interested in a peer that keeps us choked.
    pub unchoke: Duration,
    /// Blocks requested but nothing arrives.
    pub piece: Duration,
    /// Nothing at all received (not even a keep-alive).
    pub idle: Duration,
    /// The peer has nothing we need.
    pub useless: Duration,
    /// How often the thread wakes up with no traffic, to check the above.
    pub tick: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(5),
            handshake: Duration::from_secs(10),
            unchoke: Duration::from_secs(60),
            piece: Duration::from_secs(30),
            idle: Duration::from_secs(150),
            useless: Duration::from_secs(60),
            tick: Duration::from_millis(250),
        }
    }
}

/// What every peer thread of one torrent shares.
pub struct Swarm {
    pub info_hash: [u8; 20],
    pub peer_id: [u8; 20],
    pub geometry: Geometry,
    pub pieces: Arc<PieceManager>,
    pub saver: Sender<block_saver::Command>,
    pub counters: Arc<Counters>,
    pub timeouts: Timeouts,
    /// Blocks kept in flight per peer (request pipelining).
    pub pipeline: usize,
}

/// Why a peer connection ended.
#[derive(Debug)]
pub enum PeerError {
    /// TCP connect failed or timed out.
    Connect(io::Error),
    /// The socket failed, or the peer broke the framing.
    Wire(WireError),
    /// The peer is in a different torrent.
    WrongInfoHash,
    /// We dialled ourselves.
    OwnPeerId,
    /// The peer broke the protocol in a way that makes it untrustworthy.
    Misbehaved(String),
    /// A state lasted longer than its timeout.
    Timeout(&'static str),
    /// The peer manager asked us to stop.
    Stopped,
    /// The block saver is gone (the download is shutting down).
    SaverGone,
}

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerError::Connect(e) => write!(f, "connect failed: {e}"),
            PeerError::Wire(e) => write!(f, "{e}"),
            PeerError::WrongInfoHash => write!(f, "peer is not sharing this torrent"),
            PeerError::OwnPeerId => write!(f, "connected to ourselves"),
            PeerError::Misbehaved(what) => write!(f, "protocol violation: {what}"),
            PeerError::Timeout(state) => write!(f, "timed out {state}"),
            PeerError::Stopped => write!(f, "stopped"),
            PeerError::SaverGone => write!(f, "block saver stopped"),
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

/// The report a peer thread leaves when it ends.
#[derive(Debug)]
pub struct Exited {
    pub key: PeerKey,
    pub addr: SocketAddr,
    pub error: PeerError,
    /// Payload bytes this peer sent us.
    pub downloaded: u64,
}

/// Starts a thread that dials `addr` and trades with it until `stop` is set or it fails.
pub fn spawn(
    key: PeerKey,
    addr: SocketAddr,
    swarm: Arc<Swarm>,
    stop: Arc<AtomicBool>,
    exits: Sender<Exited>,
) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("peer {addr}"))
        .stack_size(STACK_SIZE)
        .spawn(move || {
            let mut downloaded = 0;
            let connection = dial(addr, &swarm)
                .and_then(|stream| Connection::new(key, addr, stream, swarm, stop));
            let error = match connection {
                Ok(mut connection) => {
                    let error = connection.run();
                    downloaded = connection.downloaded();
                    error
                }
                Err(error) => error,
            };
            log::debug!("peer {addr}: {error}");
            let _ = exits.send(Exited {
                key,
                addr,
                error,
                downloaded,
            });
        })
}

/// Connects and exchanges handshakes (we speak first, as the dialling side).
fn dial(addr: SocketAddr, swarm: &Swarm) -> Result<TcpStream, PeerError> {
    let mut stream =
        TcpStream::connect_timeout(&addr, swarm.timeouts.connect).map_err(PeerError::Connect)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(swarm.timeouts.handshake))?;
    stream.set_write_timeout(Some(swarm.timeouts.handshake))?;
    let ours = Handshake::new(swarm.info_hash, swarm.peer_id);
    stream.write_all(&ours.to_bytes())?;
    let theirs = Handshake::read_from(&mut stream)?;
    if theirs.info_hash != swarm.info_hash {
        return Err(PeerError::WrongInfoHash);
    }
    if theirs.peer_id == swarm.peer_id {
        return Err(PeerError::OwnPeerId);
    }
    log::debug!(
        "peer {addr}: handshake done, client {}",
        String::from_utf8_lossy(&theirs.peer_id[..8])
    );
    Ok(stream)
}

#[cfg(test)]
mod tests;

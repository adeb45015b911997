//! One peer's thread: a TCP connection speaking the BEP 3 wire protocol (blocking during
//! the handshakes, then non-blocking, the thread sleeping in `poll`).
//!
//! * Runs on: one thread per peer (`peer <addr>`), spawned by the peer manager with a small
//!   stack, for a connection we dialled ([`spawn_outgoing`]) or accepted ([`spawn_incoming`]).
//! * Owns: the socket and the per-connection state: what the peer has, the choke and
//!   interest flags both ways, the blocks we requested from it, the blocks it requested
//!   from us.
//! * Reads: the socket; its [`PeerStatus`] (stop flag, the choker's verdict).
//! * Writes: the socket; accepted blocks to the block saver's channel; byte counts into its
//!   [`PeerStatus`]; the peers its peer tells of (PEX) to the peer manager's `addresses`;
//!   one [`Exited`] to the peer manager when the thread ends.
//! * Calls: the piece manager (what to fetch, what arrived), storage (blocks to upload).
//!
//! First the handshakes (`handshake.rs`): the BitTorrent handshake, after a Message Stream
//! Encryption handshake when the peer opens with one. Then the peer's id goes into the
//! torrent's registry (`registry.rs`): a peer already connected is not connected twice.
//! Then the loop (`connection.rs`) over the non-blocking socket (`socket.rs`) hands each
//! message to its side, each side keeping its own state. The download side
//! (`download.rs`): bitfield → interested → wait for unchoke → keep a pipeline of requests full while
//! `piece`s arrive. The upload side (`upload.rs`): our bitfield and `have`s, unchoke when
//! the choker says so, serve requests straight from the map. With a peer that speaks the
//! Fast extension (`fast.rs`, BEP 6) every request gets an answer, the block or a reject,
//! and a few *allowed fast* pieces go both ways even while choked. The extension protocol
//! (`extensions.rs`) serves the metadata and, through peer exchange (`pex.rs`), tells the
//! peer whom the torrent is connected to and passes on whom it knows. Every waiting state
//! has a timeout (see [`Timeouts`]).

mod connection;
mod dht_port;
mod download;
mod error;
mod extensions;
mod fast;
mod handshake;
mod magnet;
mod pex;
mod poll;
mod registry;
mod socket;
mod upload;

use crate::block_pool::BlockPool;
use crate::block_saver;
use crate::geometry::Geometry;
use crate::metadata::Fetch;
use crate::piece_manager::{PeerKey, PieceManager};
use crate::rate_limit::RateLimit;
use crate::stats::Counters;
use crate::storage::Storage;
use crate::transcript::Tracer;
use connection::Connection;
use crossbeam_channel::Sender;
pub use error::PeerError;
use handshake::Terms;
use registry::Opened;
pub use registry::Registry;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, OnceLock};
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
    /// Neither side wants anything from the other.
    pub useless: Duration,
    /// No block from a peer that unchokes us: it is *snubbing* us (the choker passes it over).
    pub snub: Duration,
    /// How often the thread wakes up with no traffic, to check the above and to announce
    /// newly verified pieces (`have`) to a quiet peer: in a swarm, a late `have` sends
    /// leechers to the seeder for a piece a neighbour already holds.
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
            snub: Duration::from_secs(60),
            tick: Duration::from_millis(100),
        }
    }
}

/// How we open the connections we dial (`--encryption`). Incoming connections may open
/// either way, whatever this says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encryption {
    /// The plain BitTorrent handshake, which every client accepts.
    #[default]
    Plain,
    /// Message Stream Encryption first, offering plaintext and RC4 (for peers that require
    /// encryption); a peer that hangs up on it is dialled again, plain.
    Prefer,
}

/// What every peer thread of one torrent shares (as `block_saver::Shared` is what the saver
/// and the hasher share). Not the swarm: that is all the peers of a torrent, ours and others.
pub struct Shared {
    pub info_hash: [u8; 20],
    pub peer_id: [u8; 20],
    /// The parts that need the torrent's metadata. Set before the first peer thread starts
    /// for a .torrent file; for a magnet link, once the metadata is fetched and verified
    /// (until then each peer thread waits for it in `magnet.rs`).
    pub torrent: OnceLock<Arc<Torrent>>,
    pub counters: Arc<Counters>,
    pub timeouts: Timeouts,
    /// Blocks kept in flight per peer (request pipelining).
    pub pipeline: usize,
    /// Local address for outgoing connections (`--bind`), if any.
    pub bind: Option<IpAddr>,
    /// How we open outgoing connections (`--encryption`).
    pub encryption: Encryption,
    /// Where messages and state changes are reported (`--trace`; disabled by default).
    pub tracer: Tracer,
    /// The upload limit over all peers (`--max-upload-rate`), if any.
    pub upload_limit: Option<Arc<RateLimit>>,
    /// The download limit over all peers (`--max-download-rate`), if any: it meters the
    /// requests we send.
    pub download_limit: Option<Arc<RateLimit>>,
    /// The peer ids of the established connections: one connection per peer.
    pub registry: Arc<Registry>,
    /// The port we listen on, for our extension handshake (`p`).
    pub listen_port: Option<u16>,
    /// The metadata being fetched, for a magnet link: every peer thread adds to it until
    /// [`Shared::torrent`] is set. `None` for a .torrent file.
    pub metadata: Option<Arc<Fetch>>,
    /// Our DHT node's UDP port and its commands, when it runs: a peer that speaks the DHT
    /// gets a `port` message, and the node a peer names in one is pinged (BEP 5).
    pub dht: Option<(u16, Sender<crate::dht::Command>)>,
    /// Where the peers that peers tell us of (PEX) go: the peer manager's `addresses`
    /// input, which the trackers' peers take too.
    pub addresses: Sender<Vec<SocketAddr>>,
    /// Which piece is offered to which peer when super seeding (`--super-seed`, BEP 16).
    pub super_seed: Option<Arc<crate::super_seed::SuperSeed>>,
}

/// What the peer threads share that needs the torrent's metadata: the pieces and where
/// they go.
pub struct Torrent {
    pub geometry: Geometry,
    pub pieces: Arc<PieceManager>,
    pub storage: Arc<Storage>,
    pub saver: Sender<block_saver::Command>,
    /// The buffers blocks are read into, which the saver gives back.
    pub pool: BlockPool,
    /// The raw `info` dictionary (the metadata), for peers that ask for it (BEP 9).
    pub info: Arc<[u8]>,
    /// The torrent is private (BEP 27): its peers come from its trackers only, so no peer
    /// exchange.
    pub private: bool,
}

impl Shared {
    /// The torrent's parts, if its metadata is known.
    pub fn torrent(&self) -> Option<&Arc<Torrent>> {
        self.torrent.get()
    }
}

/// What the peer manager and one peer thread share: the manager's orders (stop, unchoke)
/// and the thread's figures (bytes, interest, snubbing), all lock-free.
#[derive(Debug)]
pub struct PeerStatus {
    /// Set by the peer manager: end the connection.
    pub stop: AtomicBool,
    /// Set by the choker: may this peer download from us?
    pub unchoke: AtomicBool,
    /// Payload bytes received from this peer.
    pub downloaded: AtomicU64,
    /// Payload bytes sent to this peer.
    pub uploaded: AtomicU64,
    /// The peer is interested in what we have.
    pub interested: AtomicBool,
    /// The peer unchokes us but has sent no block for a while.
    pub snubbed: AtomicBool,
    /// Wakes the peer manager (see [`PeerStatus::wake_manager`]); `None` when no manager
    /// runs (tests).
    wake: Option<Sender<()>>,
    /// Wakes the peer thread from its `poll` (see [`PeerStatus::wake_peer`]); `None` only
    /// if the system would not give us an eventfd (the thread then notices at its tick).
    waker: Option<poll::Waker>,
}

impl Default for PeerStatus {
    fn default() -> PeerStatus {
        PeerStatus {
            stop: AtomicBool::new(false),
            unchoke: AtomicBool::new(false),
            downloaded: AtomicU64::new(0),
            uploaded: AtomicU64::new(0),
            interested: AtomicBool::new(false),
            snubbed: AtomicBool::new(false),
            wake: None,
            waker: poll::Waker::new()
                .inspect_err(|e| log::debug!("no eventfd for a peer thread: {e}"))
                .ok(),
        }
    }
}

impl PeerStatus {
    /// A status whose [`wake_manager`](Self::wake_manager) pokes `wake`.
    pub fn with_wake(wake: Sender<()>) -> PeerStatus {
        PeerStatus {
            wake: Some(wake),
            ..PeerStatus::default()
        }
    }

    /// Makes the peer thread look at this status now: the choker's verdict or the stop
    /// flag changed.
    pub fn wake_peer(&self) {
        if let Some(waker) = &self.waker {
            waker.wake();
        }
    }

    /// Asks the peer manager to look at the peers now (a peer became interested).
    pub fn wake_manager(&self) {
        if let Some(wake) = &self.wake {
            // A full channel means a wake-up is already pending: nothing is lost.
            let _ = wake.try_send(());
        }
    }
}

/// The report a peer thread leaves when it ends.
#[derive(Debug)]
pub struct Exited {
    pub key: PeerKey,
    pub addr: SocketAddr,
    pub error: PeerError,
}

/// Starts a thread that dials `addr` and trades with it until stopped or it fails.
pub fn spawn_outgoing(
    key: PeerKey,
    addr: SocketAddr,
    shared: Arc<Shared>,
    status: Arc<PeerStatus>,
    exits: Sender<Exited>,
) -> io::Result<JoinHandle<()>> {
    spawn_thread(key, addr, exits, move || {
        let established = handshake::dial(addr, shared.bind, &Terms::of(&shared, &status))?;
        let registration =
            shared
                .registry
                .register(established.peer_id, key, addr, Opened::ByUs, &status)?;
        connection(key, addr, established, registration, shared, status)
    })
}

/// Starts a thread for a connection the listener accepted.
pub fn spawn_incoming(
    key: PeerKey,
    stream: TcpStream,
    addr: SocketAddr,
    shared: Arc<Shared>,
    status: Arc<PeerStatus>,
    exits: Sender<Exited>,
) -> io::Result<JoinHandle<()>> {
    spawn_thread(key, addr, exits, move || {
        let established = handshake::answer(stream, &Terms::of(&shared, &status))?;
        let registration =
            shared
                .registry
                .register(established.peer_id, key, addr, Opened::ByPeer, &status)?;
        connection(key, addr, established, registration, shared, status)
    })
}

/// The connection on an established socket: at once if the torrent is known, else once
/// the metadata is (`magnet.rs`).
fn connection(
    key: PeerKey,
    addr: SocketAddr,
    established: handshake::Established,
    registration: registry::Registration,
    shared: Arc<Shared>,
    status: Arc<PeerStatus>,
) -> Result<Connection, PeerError> {
    match shared.torrent().cloned() {
        Some(torrent) => Connection::new(
            key,
            addr,
            established,
            registration,
            shared,
            torrent,
            status,
        ),
        None => magnet::wait_for_torrent(key, addr, established, registration, shared, status),
    }
}

fn spawn_thread(
    key: PeerKey,
    addr: SocketAddr,
    exits: Sender<Exited>,
    connect: impl FnOnce() -> Result<Connection, PeerError> + Send + 'static,
) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("peer {addr}"))
        .stack_size(STACK_SIZE)
        .spawn(move || {
            let error = match connect() {
                Ok(mut connection) => connection.run(),
                Err(error) => error,
            };
            log::debug!("peer {addr}: {error}");
            let _ = exits.send(Exited { key, addr, error });
        })
}

impl<'a> Terms<'a> {
    /// The handshake's terms for one peer of `swarm`.
    fn of(shared: &'a Shared, status: &'a PeerStatus) -> Terms<'a> {
        Terms {
            info_hash: shared.info_hash,
            peer_id: shared.peer_id,
            connect_timeout: shared.timeouts.connect,
            timeout: shared.timeouts.handshake,
            tick: shared.timeouts.tick,
            stop: &status.stop,
            encrypt: shared.encryption == Encryption::Prefer,
            dht: shared.dht.is_some(),
            tracer: &shared.tracer,
        }
    }
}

#[cfg(test)]
mod tests;

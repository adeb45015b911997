//! One established connection (after the handshake): its state and its loop.
//!
//! One loop: wait (in `poll`) until the peer sent something, or has room for what we
//! queued (bytes in the socket's `out`, or requested blocks not copied there yet), or a
//! tick passed; read and handle every message that came; do housekeeping; queue requests
//! and blocks; write as much as the socket takes. The socket (`socket.rs`) is
//! non-blocking and its reads and writes resume where they stopped, so the thread never
//! sits in `write` while the peer waits for it to read: two peers uploading to each other
//! cannot deadlock with full buffers both ways.
//!
//! The state is in three parts, each kept by the file that uses it: the socket and its
//! buffers ([`Socket`], `socket.rs`), the download side ([`Download`], `download.rs`:
//! what the peer has, our interest, our requests, its choke) and the upload side
//! ([`Upload`], `upload.rs`: its interest, its requests, our choke, our `have`s). The
//! Fast extension (BEP 6, [`Fast`], `fast.rs`) changes both sides a little and handles its
//! own five messages. This file holds what the connection as a whole needs, and dispatches
//! each message to its side.

use super::download::Download;
use super::fast::Fast;
use super::handshake::Established;
use super::pex::Pex;
use super::registry::Registration;
use super::socket::Socket;
use super::upload::Upload;
use super::{PeerError, PeerStatus, Shared, Torrent};
use crate::extension;
use crate::piece_manager::PeerKey;
use crate::transcript::{Direction, Flag};
use crate::wire::{DEFAULT_MAX_LEN, Message};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Messages handled per loop turn at most, so a fast sender cannot starve our own sending
/// (64 blocks of 16 KiB: 1 MiB).
const READ_BATCH: usize = 64;

/// Largest message we accept: a 128 KiB block plus header, or our torrent's bitfield.
pub(super) fn max_message_len(torrent: &Torrent) -> u32 {
    let bitfield = torrent.geometry.bitfield_len() as u32 + 1;
    bitfield.max(DEFAULT_MAX_LEN)
}

pub(super) struct Connection {
    /// Holds the peer's id in the torrent's registry while the connection lives, so no
    /// second connection to the same peer is made (and tells peer exchange where it
    /// listens). The first field, so it is dropped first: the id is free before the peer
    /// sees the socket close.
    pub(super) registration: Registration,
    /// This connection's name with the piece manager (whose requests, whose blocks) and
    /// the peer manager.
    pub(super) key: PeerKey,
    /// The peer's address, for the log and the trace.
    pub(super) addr: SocketAddr,
    /// What every peer thread of the torrent shares: the piece manager, storage, the
    /// saver's channel, the timeouts.
    pub(super) shared: Arc<Shared>,
    /// The torrent's parts: the piece manager, storage, the saver's channel, the metadata.
    pub(super) torrent: Arc<Torrent>,
    /// What this thread shares with the peer manager: the stop flag and the choker's
    /// verdict one way, byte counts, interest and snubbing the other.
    pub(super) status: Arc<PeerStatus>,
    /// The socket and its two buffers.
    pub(super) socket: Socket,
    /// The download side's state (`download.rs`).
    pub(super) download: Download,
    /// The upload side's state (`upload.rs`).
    pub(super) upload: Upload,
    /// Peer exchange's state (`pex.rs`): what we told the peer, when it told us.
    pub(super) pex: Pex,
    /// The Fast extension's state (`fast.rs`): whether it applies, the allowed-fast sets.
    pub(super) fast: Fast,
    /// The peer speaks BEP 10: it gets our extension handshake (with `reqq`) at the start.
    extensions: bool,
    /// The peer runs a DHT node: it gets our `port` at the start.
    peer_dht: bool,
    /// The peer's extension handshake, once it sent one (`extensions.rs`).
    pub(super) theirs: Option<extension::Handshake>,
    /// The connection began before the torrent was known (`magnet.rs`), which sent our
    /// extension handshake already and no bitfield.
    from_magnet: bool,
    /// Messages that came before the torrent was known, read (in order) once it starts.
    kept: Vec<Message>,
    /// When the current wait began: moved by a change of interest either way, a choke or
    /// unchoke from the peer, a block, the first requests after none. The download side
    /// times its waits (for an unchoke, for a block) from it, and the whole connection its
    /// end when neither side wants anything.
    pub(super) waiting_since: Instant,
    /// When housekeeping last ran: it runs once a tick, however busy the socket.
    last_housekeeping: Instant,
}

/// A connection past its handshakes, before it knows whether the torrent is: what
/// [`Connection`] is built from, at once or after `magnet.rs` has waited for the metadata.
pub(super) struct Opened {
    pub(super) key: PeerKey,
    pub(super) addr: SocketAddr,
    pub(super) registration: Registration,
    pub(super) socket: Socket,
    /// The peer speaks BEP 10.
    pub(super) extensions: bool,
    /// The peer runs a DHT node (BEP 5).
    pub(super) dht: bool,
    /// The peer set the Fast extension's bit (BEP 6), so the extension applies.
    pub(super) fast: bool,
    /// The peer's extension handshake, if it sent one already.
    pub(super) theirs: Option<extension::Handshake>,
    /// Messages about pieces that came before the torrent was known, to be read first.
    pub(super) kept: Vec<Message>,
}

impl Connection {
    pub(super) fn new(
        key: PeerKey,
        addr: SocketAddr,
        established: Established,
        registration: Registration,
        shared: Arc<Shared>,
        torrent: Arc<Torrent>,
        status: Arc<PeerStatus>,
    ) -> Result<Connection, PeerError> {
        let Established {
            stream,
            ciphers,
            extensions,
            dht,
            fast,
            peer_id: _,
        } = established;
        let socket = Socket::new(stream, ciphers, max_message_len(&torrent))?;
        let opened = Opened {
            key,
            addr,
            registration,
            socket,
            extensions,
            dht,
            fast,
            theirs: None,
            kept: Vec::new(),
        };
        Ok(Connection::opened(opened, shared, torrent, status, false))
    }

    /// A connection whose socket is open, on a torrent now known; `from_magnet` if it
    /// began before the torrent was known.
    pub(super) fn opened(
        opened: Opened,
        shared: Arc<Shared>,
        torrent: Arc<Torrent>,
        status: Arc<PeerStatus>,
        from_magnet: bool,
    ) -> Connection {
        let now = Instant::now();
        let mut upload = Upload::new(&torrent.pieces);
        let pieces = torrent.geometry.piece_count;
        let mut fast = Fast::new(opened.fast, opened.addr.ip(), &shared.info_hash, pieces);
        upload.super_seeding = shared.super_seed.is_some() && torrent.pieces.is_complete();
        if upload.super_seeding {
            // Allowed-fast pieces would be served without being offered.
            fast.allow_none();
        }
        if from_magnet {
            // No bitfield went out: every piece we have goes out as a `have`.
            upload.announce_all_as_haves();
        }
        let mut socket = opened.socket;
        socket.set_pool(torrent.pool.clone());
        Connection {
            registration: opened.registration,
            key: opened.key,
            addr: opened.addr,
            socket,
            download: Download::new(torrent.geometry.piece_count, now),
            upload,
            pex: Pex::new(now),
            fast,
            shared,
            torrent,
            status,
            extensions: opened.extensions,
            peer_dht: opened.dht,
            theirs: opened.theirs,
            from_magnet,
            kept: opened.kept,
            waiting_since: now,
            last_housekeeping: now,
        }
    }

    /// Runs the connection until it fails or is stopped; always returns why it ended, after
    /// giving back its requested blocks and its share of the availability counts.
    pub(super) fn run(&mut self) -> PeerError {
        let counters = self.shared.counters.clone();
        counters.peers.fetch_add(1, Ordering::Relaxed);
        let error = match self.start().and_then(|()| self.serve()) {
            Ok(never) => match never {},
            Err(error) => error,
        };
        counters.peers.fetch_sub(1, Ordering::Relaxed);
        self.download_ended();
        if let Some(seed) = &self.shared.super_seed {
            seed.forget(self.key);
        }
        error
    }

    /// The first messages: our bitfield, then our extension handshake (again, now with
    /// `metadata_size`, after a magnet link's wait).
    fn start(&mut self) -> Result<(), PeerError> {
        self.socket.set_nonblocking()?;
        if !self.from_magnet {
            self.send_bitfield();
            if self.peer_dht {
                super::dht_port::send_dht_port(&self.shared, self.addr, self.socket.queue());
            }
        }
        if self.extensions {
            let handshake = super::extensions::our_handshake(&self.shared, self.addr);
            handshake.encode(self.socket.queue());
        }
        self.send_allowed_fast();
        for message in std::mem::take(&mut self.kept) {
            // Recorded in the trace when it came.
            self.dispatch(message)?;
        }
        self.write_some()
    }

    /// The message loop; it only ever ends with an error (or a stop, which is one).
    fn serve(&mut self) -> Result<Infallible, PeerError> {
        loop {
            if self.status.stop.load(Ordering::Relaxed) {
                return Err(PeerError::Stopped);
            }
            self.socket.expect_blocks(self.download.expects_blocks());
            let buffered = self.socket.has_buffered();
            let wait = if buffered {
                Duration::ZERO
            } else {
                let tick = self.shared.timeouts.tick;
                tick.saturating_sub(self.last_housekeeping.elapsed())
            };
            // Wake for room in the socket while bytes wait in `out`, and also while requested
            // blocks wait to be copied into it: a peer that sends its requests in bursts
            // (Transmission, once a second) must not wait a tick per batch of blocks.
            let want_write = self.socket.unsent() > 0 || self.has_blocks_to_queue();
            let waker = self.status.waker.as_ref();
            let ready = self.socket.wait(want_write, waker, wait)?;
            if ready.readable || buffered {
                self.read_messages()?;
            }
            let now = Instant::now();
            if now.duration_since(self.last_housekeeping) >= self.shared.timeouts.tick {
                self.last_housekeeping = now;
                self.housekeeping(now)?;
            }
            // `have`s go out at once: in a fast swarm a late `have` makes others fetch the
            // piece from the seeder instead of from us.
            self.send_haves();
            self.apply_choke_decision();
            self.fill_pipeline();
            self.queue_blocks()?;
            self.write_some()?;
        }
    }

    /// Handles every message the peer has sent so far (up to [`READ_BATCH`]), so a batch
    /// of requests (or a request and its cancel) is seen before we answer.
    fn read_messages(&mut self) -> Result<(), PeerError> {
        for _ in 0..READ_BATCH {
            match self.socket.read_message()? {
                Some(message) => self.handle(message)?,
                // The socket has nothing more for now.
                None => return Ok(()),
            }
        }
        Ok(())
    }

    fn handle(&mut self, message: Message) -> Result<(), PeerError> {
        if log::log_enabled!(log::Level::Trace) {
            log::trace!("peer {}: received {}", self.addr, message.summary());
        }
        self.shared
            .tracer
            .message(self.addr, Direction::In, &message);
        self.dispatch(message)
    }

    /// Hands a received message to the side it is for.
    fn dispatch(&mut self, message: Message) -> Result<(), PeerError> {
        self.opening(&message)?;
        match message {
            Message::KeepAlive => {}
            Message::Port(port) => super::dht_port::peer_dht_node(&self.shared, self.addr, port),
            Message::Choke => self.choked(),
            Message::Unchoke => self.unchoked(),
            Message::Interested => self.set_peer_interested(true),
            Message::NotInterested => self.set_peer_interested(false),
            Message::Request(block) => self.requested(block)?,
            Message::Cancel(block) => self.cancelled(block),
            Message::Have(piece) => self.have(piece)?,
            Message::Bitfield(bytes) => self.bitfield(bytes)?,
            Message::Piece {
                piece,
                offset,
                data,
            } => self.block(piece, offset, data)?,
            Message::HaveAll => self.have_all()?,
            Message::HaveNone => self.have_none()?,
            Message::RejectRequest(block) => self.rejected(block)?,
            Message::AllowedFast(piece) => self.allowed_fast(piece)?,
            Message::SuggestPiece(piece) => self.suggested(piece)?,
            Message::Extended { id, payload } => self.extended(id, &payload)?,
            Message::Unknown { id, len } => {
                log::debug!("peer {}: ignored message id {id} ({len} bytes)", self.addr);
            }
        }
        Ok(())
    }

    /// Periodic checks: timeouts, keep-alives, endgame cancels, interest, peer exchange.
    fn housekeeping(&mut self, now: Instant) -> Result<(), PeerError> {
        let timeouts = self.shared.timeouts;
        if self.socket.since_received(now) > timeouts.idle {
            return Err(PeerError::Timeout("waiting for any message"));
        }
        self.download_housekeeping(now)?;
        self.socket.shrink_idle();
        // `waiting_since` moves on every change of interest, unchoke or block, not on
        // keep-alives: two peers that only exchange keep-alives have nothing to trade.
        let pointless = !self.download.am_interested() && !self.upload.peer_interested();
        if pointless && now.duration_since(self.waiting_since) > timeouts.useless {
            return Err(PeerError::Timeout("with a peer that neither side needs"));
        }
        self.pex_housekeeping(now);
        if self.socket.since_sent(now) > timeouts.idle / 2 && self.socket.is_drained() {
            self.send(Message::KeepAlive);
        }
        Ok(())
    }

    /// Queues `message` for sending (and records it in the trace).
    pub(super) fn send(&mut self, message: Message) {
        self.shared
            .tracer
            .message(self.addr, Direction::Out, &message);
        message.encode(self.socket.queue());
    }

    /// Records a change of one of the four state flags in the trace.
    pub(super) fn trace_flag(&self, flag: Flag, value: bool) {
        self.shared.tracer.flag(self.addr, flag, value);
    }

    /// Writes as much as the socket takes now; the rest waits for the next turn.
    fn write_some(&mut self) -> Result<(), PeerError> {
        self.socket.write_some(self.shared.timeouts.idle)
    }

    pub(super) fn misbehaved(&self, what: String) -> PeerError {
        log::info!("peer {}: {what}; disconnecting", self.addr);
        PeerError::Misbehaved(what)
    }
}

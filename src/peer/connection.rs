//! The state of one established connection (after the handshake) and its loop.
//!
//! One loop: wait (in `poll`) until the peer sent something, or has room for what we
//! queued (bytes in `out`, or requested blocks not copied there yet), or a tick passed;
//! read and handle every message that came; do housekeeping; queue requests and blocks;
//! write as much as the socket takes. The socket is
//! non-blocking, so reads and writes are *resumable*: a frame cut short waits in the frame
//! reader, bytes that did not fit wait in `out`. The thread never sits in `write` while the
//! peer waits for it to read, so two peers uploading to each other cannot deadlock with
//! full buffers both ways.
//!
//! On an RC4-encrypted connection (Message Stream Encryption, see `handshake.rs`) bytes are
//! decrypted as they come out of the socket, under the read buffer, and encrypted in `out`
//! just before their first write; everything in between sees plaintext.

use super::handshake::Established;
use super::registry::Registration;
use super::{PeerError, PeerStatus, Swarm, poll};
use crate::bitfield::Bitfield;
use crate::extras::trace::{Direction, Flag};
use crate::geometry::BlockRef;
use crate::mse::Decrypt;
use crate::mse::rc4::Rc4;
use crate::piece_manager::PeerKey;
use crate::wire::{self, Message, MessageReader, WireError};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::io::{self, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Read buffer per connection: large enough to take a few blocks per system call.
const READ_BUFFER: usize = 64 * 1024;
/// Messages handled per loop turn at most, so a fast sender cannot starve our own sending
/// (64 blocks of 16 KiB: 1 MiB).
const READ_BATCH: usize = 64;
/// Sent bytes at the front of `out` worth moving the rest down for.
const COMPACT_AFTER: usize = 64 * 1024;

/// Largest message we accept: a 128 KiB block plus header, or our torrent's bitfield.
fn max_message_len(swarm: &Swarm) -> u32 {
    let bitfield = swarm.geometry.bitfield_len() as u32 + 1;
    bitfield.max(128 * 1024 + 9)
}

pub(super) struct Connection {
    /// Holds the peer's id in the swarm's registry while the connection lives, so no
    /// second connection to the same peer is made. The first field, so it is dropped
    /// first: the id is free before the peer sees the socket close.
    _registration: Registration,
    pub(super) key: PeerKey,
    pub(super) addr: SocketAddr,
    pub(super) swarm: Arc<Swarm>,
    pub(super) status: Arc<PeerStatus>,
    stream: TcpStream,
    /// Reads the socket, decrypting first if the connection is RC4-encrypted.
    reader: BufReader<Decrypt<TcpStream>>,
    frames: MessageReader,
    /// Bytes queued for sending; `out[sent..]` is still to go.
    pub(super) out: Vec<u8>,
    sent: usize,
    /// Encrypts what we send on an RC4-encrypted connection; `None` on a plain one.
    encrypt: Option<Rc4>,
    /// `out[..encrypted]` is encrypted already: each byte goes through RC4 once, just
    /// before its first write.
    encrypted: usize,
    /// The peer speaks BEP 10: it gets our extension handshake (with `reqq`).
    extensions: bool,

    // Download side: what the peer has and what we asked it for.
    /// What the peer has, from its `bitfield` and `have`s.
    pub(super) peer_has: Bitfield,
    /// True until the peer unchokes us.
    pub(super) peer_choking: bool,
    /// True once we told the peer we are interested.
    pub(super) am_interested: bool,
    /// Blocks requested from this peer and not yet received.
    pub(super) in_flight: Vec<BlockRef>,
    /// Blocks requested before a choke or cancelled: accepted if they still arrive.
    pub(super) stale: Vec<BlockRef>,
    /// When the current wait began: for an unchoke, for a block, for something useful.
    pub(super) waiting_since: Instant,
    /// When the peer last sent a block (or unchoked us): for snubbing.
    pub(super) last_block: Instant,

    // Upload side: what we told the peer and what it asked of us.
    /// True until we unchoke the peer.
    pub(super) am_choking: bool,
    /// The peer told us it is interested.
    pub(super) peer_interested: bool,
    /// Blocks the peer requested from us, oldest first.
    pub(super) requests: VecDeque<BlockRef>,
    /// Requests we ignored (pieces we do not have): a peer that keeps asking is dropped.
    pub(super) bad_requests: u32,
    /// The upload limit held back the next requested block on the last turn: it waits for
    /// the next tick, not for room in the socket.
    pub(super) upload_throttled: bool,
    /// Cursor into the piece manager's list of verified pieces (for `have`s).
    pub(super) have_cursor: usize,

    last_received: Instant,
    last_sent: Instant,
    last_housekeeping: Instant,
}

impl Connection {
    pub(super) fn new(
        key: PeerKey,
        addr: SocketAddr,
        established: Established,
        registration: Registration,
        swarm: Arc<Swarm>,
        status: Arc<PeerStatus>,
    ) -> Result<Connection, PeerError> {
        let now = Instant::now();
        let Established {
            stream,
            ciphers,
            extensions,
            peer_id: _,
        } = established;
        let (encrypt, decrypt) = match ciphers {
            Some(ciphers) => (Some(ciphers.send), Some(ciphers.receive)),
            None => (None, None),
        };
        let socket = Decrypt::new(stream.try_clone()?, decrypt);
        let reader = BufReader::with_capacity(READ_BUFFER, socket);
        let frames = MessageReader::new(max_message_len(&swarm));
        let piece_count = swarm.geometry.piece_count;
        let mut have_cursor = 0;
        // Everything verified so far goes out in our bitfield, later pieces as `have`s.
        swarm
            .pieces
            .verified_since(&mut have_cursor, &mut Vec::new());
        Ok(Connection {
            _registration: registration,
            key,
            addr,
            swarm,
            status,
            stream,
            reader,
            frames,
            out: Vec::with_capacity(4096),
            sent: 0,
            encrypt,
            encrypted: 0,
            extensions,
            peer_has: Bitfield::new(piece_count),
            peer_choking: true,
            am_interested: false,
            in_flight: Vec::new(),
            stale: Vec::new(),
            waiting_since: now,
            last_block: now,
            am_choking: true,
            peer_interested: false,
            requests: VecDeque::new(),
            bad_requests: 0,
            upload_throttled: false,
            have_cursor,
            last_received: now,
            last_sent: now,
            last_housekeeping: now,
        })
    }

    /// Runs the connection until it fails or is stopped; always returns why it ended, after
    /// giving back its requested blocks and its share of the availability counts.
    pub(super) fn run(&mut self) -> PeerError {
        let counters = self.swarm.counters.clone();
        counters.peers.fetch_add(1, Ordering::Relaxed);
        if let Some(observer) = &self.swarm.observer {
            observer.connected(self.addr, self.status.clone());
        }
        let error = match self.start().and_then(|()| self.serve()) {
            Ok(never) => match never {},
            Err(error) => error,
        };
        counters.peers.fetch_sub(1, Ordering::Relaxed);
        if !self.peer_choking {
            counters.unchoking_us.fetch_sub(1, Ordering::Relaxed);
        }
        let returned: Vec<BlockRef> = self.in_flight.drain(..).collect();
        self.swarm.pieces.return_blocks(self.key, &returned);
        self.swarm.pieces.remove_peer_pieces(&self.peer_has);
        error
    }

    fn start(&mut self) -> Result<(), PeerError> {
        // Also for `reader`: a cloned socket shares the non-blocking flag.
        self.stream.set_nonblocking(true)?;
        let ours = self.swarm.pieces.verified();
        if ours.count() > 0 {
            self.send(Message::Bitfield(ours.as_bytes().to_vec()));
        }
        if self.extensions {
            let reqq = super::upload::MAX_QUEUED_REQUESTS as u32;
            let version = concat!("smalltorrent ", env!("CARGO_PKG_VERSION"));
            wire::encode_extended_handshake(&mut self.out, reqq, version);
            let fields = [("reqq", u64::from(reqq))];
            let tracer = &self.swarm.tracer;
            tracer.wire(self.addr, Direction::Out, "extended_handshake", &fields);
        }
        self.write_some()
    }

    /// The message loop; it only ever ends with an error (or a stop, which is one).
    fn serve(&mut self) -> Result<Infallible, PeerError> {
        loop {
            if self.status.stop.load(Ordering::Relaxed) {
                return Err(PeerError::Stopped);
            }
            let buffered = !self.reader.buffer().is_empty();
            let wait = if buffered {
                Duration::ZERO
            } else {
                let tick = self.swarm.timeouts.tick;
                tick.saturating_sub(self.last_housekeeping.elapsed())
            };
            // Wake for room in the socket while bytes wait in `out`, and also while requested
            // blocks wait to be copied into it: a peer that sends its requests in bursts
            // (Transmission, once a second) must not wait a tick per batch of blocks.
            let want_write = self.unsent() > 0 || self.has_blocks_to_queue();
            let waker = self.status.waker.as_ref();
            let ready = poll::wait(&self.stream, want_write, waker, wait)?;
            if ready.readable || buffered {
                self.read_messages()?;
            }
            let now = Instant::now();
            if now.duration_since(self.last_housekeeping) >= self.swarm.timeouts.tick {
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
            match self.frames.read_from(&mut self.reader) {
                Ok(Some(message)) => {
                    self.last_received = Instant::now();
                    self.handle(message)?;
                }
                // The socket has nothing more for now.
                Ok(None) | Err(WireError::Timeout) => return Ok(()),
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }

    fn handle(&mut self, message: Message) -> Result<(), PeerError> {
        if log::log_enabled!(log::Level::Trace) {
            log::trace!("peer {}: received {}", self.addr, message.summary());
        }
        self.swarm
            .tracer
            .message(self.addr, Direction::In, &message);
        match message {
            Message::KeepAlive | Message::Port(_) => {}
            Message::Choke => self.choked(),
            Message::Unchoke => self.unchoked(),
            Message::Interested => self.set_peer_interested(true),
            Message::NotInterested => self.set_peer_interested(false),
            Message::Request(block) => self.requested(block)?,
            Message::Cancel(block) => self.requests.retain(|queued| *queued != block),
            Message::Have(piece) => self.have(piece)?,
            Message::Bitfield(bytes) => self.bitfield(bytes)?,
            Message::Piece {
                piece,
                offset,
                data,
            } => self.block(piece, offset, data)?,
            Message::Unknown { id, len } => {
                log::debug!("peer {}: ignored message id {id} ({len} bytes)", self.addr);
            }
        }
        Ok(())
    }

    /// Periodic checks: timeouts, `have`s, keep-alives, endgame cancels, interest.
    fn housekeeping(&mut self, now: Instant) -> Result<(), PeerError> {
        let timeouts = self.swarm.timeouts;
        if now.duration_since(self.last_received) > timeouts.idle {
            return Err(PeerError::Timeout("waiting for any message"));
        }
        self.download_housekeeping(now)?;
        // `waiting_since` moves on every change of interest, unchoke or block, not on
        // keep-alives: two peers that only exchange keep-alives have nothing to trade.
        let pointless = !self.am_interested && !self.peer_interested;
        if pointless && now.duration_since(self.waiting_since) > timeouts.useless {
            return Err(PeerError::Timeout("with a peer that neither side needs"));
        }
        if now.duration_since(self.last_sent) > timeouts.idle / 2 && self.out.is_empty() {
            self.send(Message::KeepAlive);
        }
        Ok(())
    }

    fn send_haves(&mut self) {
        let mut verified = Vec::new();
        self.swarm
            .pieces
            .verified_since(&mut self.have_cursor, &mut verified);
        for piece in verified {
            self.send(Message::Have(piece));
        }
    }

    /// Queues `message` for sending (and records it in the trace).
    pub(super) fn send(&mut self, message: Message) {
        self.swarm
            .tracer
            .message(self.addr, Direction::Out, &message);
        message.encode(&mut self.out);
    }

    /// Records a change of one of the four state flags in the trace.
    pub(super) fn trace_flag(&self, flag: Flag, value: bool) {
        self.swarm.tracer.flag(self.addr, flag, value);
    }

    /// Writes as much of `out` as the socket takes now; the rest waits for the next turn.
    fn write_some(&mut self) -> Result<(), PeerError> {
        if let Some(rc4) = &mut self.encrypt {
            rc4.apply(&mut self.out[self.encrypted..]);
        }
        self.encrypted = self.out.len();
        while self.sent < self.out.len() {
            match self.stream.write(&self.out[self.sent..]) {
                Ok(0) => return Err(WireError::Closed.into()),
                Ok(n) => {
                    self.sent += n;
                    self.last_sent = Instant::now();
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if self.last_sent.elapsed() > self.swarm.timeouts.idle {
                        return Err(PeerError::Timeout("for the peer to read what we send"));
                    }
                    if self.sent >= COMPACT_AFTER {
                        // Keep `out` from growing while the peer reads slowly.
                        self.out.drain(..self.sent);
                        self.encrypted -= self.sent;
                        self.sent = 0;
                    }
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.out.clear();
        self.sent = 0;
        self.encrypted = 0;
        Ok(())
    }

    /// Bytes still waiting in `out`.
    pub(super) fn unsent(&self) -> usize {
        self.out.len() - self.sent
    }

    pub(super) fn misbehaved(&self, what: String) -> PeerError {
        log::info!("peer {}: {what}; disconnecting", self.addr);
        PeerError::Misbehaved(what)
    }
}

//! A connection that began before the torrent was known (a magnet link): it helps fetch
//! the metadata, and keeps what the peer says about its pieces until the torrent is known.
//!
//! The torrent is known once *some* peer thread completed the metadata and the main thread
//! built the download's parts on it (`peer::Shared::torrent`). Until then this thread asks
//! its peer for metadata pieces through the shared assembly ([`crate::metadata::Fetch`]),
//! a few at a time, answers the peer's metadata requests with a reject (we have none), and
//! keeps every message about pieces (bitfield, `have`, choke...) in order. Then it becomes
//! an ordinary [`Connection`] on the same socket, which reads the kept messages as if they
//! had just arrived: the download goes on exactly as it does from a .torrent file.
//!
//! It offers no peer exchange, whose messages it ignores: the torrent may turn out to be
//! private (`pex.rs`). The [`Connection`] offers it once the torrent is known.

use super::connection::{Connection, Opened, max_message_len};
use super::extensions::{our_handshake, read_handshake, read_metadata_message, trace_metadata};
use super::handshake::Established;
use super::registry::Registration;
use super::socket::Socket;
use super::{PeerError, PeerStatus, Shared, Torrent};
use crate::extension::UT_METADATA;
use crate::extension::metadata::MetadataMessage;
use crate::metadata::Violation;
use crate::piece_manager::PeerKey;
use crate::transcript::Direction;
use crate::wire::{DEFAULT_MAX_LEN, Message};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Metadata pieces asked of one peer at a time.
const IN_FLIGHT: usize = 4;
/// How long a peer that refused a metadata piece is left alone.
const REJECT_BACKOFF: Duration = Duration::from_secs(15);
/// Messages about pieces kept for the torrent at most: a peer that sends more before the
/// metadata is known is flooding us. Each is a few bytes (see [`keep`]).
const MAX_KEPT: usize = 10_000;
/// Messages handled per loop turn at most.
const READ_BATCH: usize = 64;

/// One connection waiting for the torrent.
struct Waiting {
    opened: Opened,
    shared: Arc<Shared>,
    status: Arc<PeerStatus>,
    /// Metadata pieces asked of this peer and not answered.
    asked: Vec<u32>,
    /// The messages about pieces, in the order they came, for the [`Connection`].
    kept: Vec<Message>,
    /// The peer refused a piece: no more requests until then.
    backoff_until: Option<Instant>,
    last_housekeeping: Instant,
}

/// Waits on an established connection until the torrent is known, fetching metadata
/// meanwhile; then the connection, ready to run.
pub(super) fn wait_for_torrent(
    key: PeerKey,
    addr: SocketAddr,
    established: Established,
    registration: Registration,
    shared: Arc<Shared>,
    status: Arc<PeerStatus>,
) -> Result<Connection, PeerError> {
    let socket = Socket::new(established.stream, established.ciphers, DEFAULT_MAX_LEN)?;
    let mut waiting = Waiting {
        opened: Opened {
            key,
            addr,
            registration,
            socket,
            extensions: established.extensions,
            dht: established.dht,
            fast: established.fast,
            theirs: None,
            kept: Vec::new(),
        },
        shared,
        status,
        asked: Vec::new(),
        kept: Vec::new(),
        backoff_until: None,
        last_housekeeping: Instant::now(),
    };
    let counters = waiting.shared.counters.clone();
    counters.peers.fetch_add(1, Ordering::Relaxed);
    let outcome = waiting.run();
    counters.peers.fetch_sub(1, Ordering::Relaxed);
    if let Some(fetch) = &waiting.shared.metadata {
        fetch.peer_gone(key);
    }
    let torrent = outcome?;
    waiting.into_connection(torrent)
}

impl Waiting {
    /// Runs until the torrent is known (its parts), the peer fails, or we are stopped.
    fn run(&mut self) -> Result<Arc<Torrent>, PeerError> {
        self.opened.socket.set_nonblocking()?;
        if self.opened.fast {
            // BEP 6 wants our bitfield first; we have no piece we could name yet.
            let tracer = &self.shared.tracer;
            tracer.message(self.opened.addr, Direction::Out, &Message::HaveNone);
            Message::HaveNone.encode(self.opened.socket.queue());
        }
        if self.opened.extensions {
            let handshake = our_handshake(&self.shared, self.opened.addr);
            handshake.encode(self.opened.socket.queue());
        }
        if self.opened.dht {
            super::dht_port::send_dht_port(
                &self.shared,
                self.opened.addr,
                self.opened.socket.queue(),
            );
        }
        let timeouts = self.shared.timeouts;
        loop {
            if self.status.stop.load(Ordering::Relaxed) {
                return Err(PeerError::Stopped);
            }
            if let Some(torrent) = self.shared.torrent() {
                return Ok(torrent.clone());
            }
            let socket = &mut self.opened.socket;
            let buffered = socket.has_buffered();
            let wait = if buffered {
                Duration::ZERO
            } else {
                timeouts.tick
            };
            let ready = socket.wait(socket.unsent() > 0, self.status.waker.as_ref(), wait)?;
            if ready.readable || buffered {
                for _ in 0..READ_BATCH {
                    let Some(message) = self.opened.socket.read_message()? else {
                        break;
                    };
                    self.handle(message)?;
                }
            }
            let now = Instant::now();
            if now.duration_since(self.last_housekeeping) >= timeouts.tick {
                self.last_housekeeping = now;
                self.housekeeping(now)?;
            }
            self.ask(now);
            self.opened.socket.write_some(timeouts.idle)?;
        }
    }

    fn handle(&mut self, message: Message) -> Result<(), PeerError> {
        let addr = self.opened.addr;
        let tracer = self.shared.tracer.clone();
        tracer.message(addr, Direction::In, &message);
        match message {
            Message::KeepAlive | Message::Unknown { .. } => {}
            Message::Port(port) => super::dht_port::peer_dht_node(&self.shared, addr, port),
            Message::Extended { id: 0, payload } => {
                let theirs = read_handshake(&payload, addr, &tracer)?;
                self.opened.registration.learned(&theirs);
                self.opened.theirs = Some(theirs);
            }
            Message::Extended {
                id: UT_METADATA,
                payload,
            } => {
                if let Some(message) = read_metadata_message(&payload, addr, &tracer)? {
                    self.metadata_message(message)?;
                }
            }
            Message::Extended { id, .. } => {
                log::debug!("peer {addr}: ignored extension message {id}");
            }
            other => keep(&mut self.kept, other).map_err(|why| self.misbehaved(why))?,
        }
        Ok(())
    }

    fn metadata_message(&mut self, message: MetadataMessage) -> Result<(), PeerError> {
        let key = self.opened.key;
        match message {
            MetadataMessage::Request { piece } => {
                // We have no metadata to give yet.
                if let Some(id) = self.opened.theirs.as_ref().and_then(|t| t.ut_metadata) {
                    let reply = MetadataMessage::Reject { piece };
                    trace_metadata(
                        &self.shared.tracer,
                        self.opened.addr,
                        Direction::Out,
                        &reply,
                    );
                    reply.to_message(id).encode(self.opened.socket.queue());
                }
            }
            MetadataMessage::Data {
                piece,
                total_size,
                data,
            } => {
                let Some(at) = self.asked.iter().position(|&p| p == piece) else {
                    let violation = Violation::Unsolicited { piece };
                    return Err(self.misbehaved(violation.to_string()));
                };
                self.asked.swap_remove(at);
                if let Some(fetch) = &self.shared.metadata {
                    let stored = fetch.received(key, piece, total_size, &data);
                    stored.map_err(|violation| self.misbehaved(violation.to_string()))?;
                }
            }
            MetadataMessage::Reject { piece } => {
                self.asked.retain(|&p| p != piece);
                if let Some(fetch) = &self.shared.metadata {
                    fetch.not_coming(key, piece);
                }
                self.backoff_until = Some(Instant::now() + REJECT_BACKOFF);
            }
        }
        Ok(())
    }

    /// Asks for more metadata pieces, up to [`IN_FLIGHT`], if the peer has the metadata.
    fn ask(&mut self, now: Instant) {
        let (Some(fetch), Some(theirs)) = (&self.shared.metadata, &self.opened.theirs) else {
            return;
        };
        let (Some(id), Some(size)) = (theirs.ut_metadata, theirs.metadata_size) else {
            return;
        };
        if self.backoff_until.is_some_and(|until| now < until) {
            return;
        }
        while self.asked.len() < IN_FLIGHT {
            let Some(piece) = fetch.next_request(self.opened.key, size, now) else {
                break;
            };
            self.asked.push(piece);
            let request = MetadataMessage::Request { piece };
            trace_metadata(
                &self.shared.tracer,
                self.opened.addr,
                Direction::Out,
                &request,
            );
            request.to_message(id).encode(self.opened.socket.queue());
        }
    }

    fn housekeeping(&mut self, now: Instant) -> Result<(), PeerError> {
        let timeouts = self.shared.timeouts;
        let socket = &mut self.opened.socket;
        if socket.since_received(now) > timeouts.idle {
            return Err(PeerError::Timeout("waiting for any message"));
        }
        if socket.since_sent(now) > timeouts.idle / 2 && socket.is_drained() {
            Message::KeepAlive.encode(socket.queue());
        }
        Ok(())
    }

    /// The torrent is known: the peer's `metadata_size`, if it said one, must be right;
    /// then the same socket becomes a [`Connection`] with the kept messages to read.
    fn into_connection(self, torrent: Arc<Torrent>) -> Result<Connection, PeerError> {
        let size = torrent.info.len() as u64;
        let said = self.opened.theirs.as_ref().and_then(|t| t.metadata_size);
        if let Some(said) = said.filter(|&said| said != size) {
            return Err(self.misbehaved(format!(
                "announced metadata of {said} bytes; this torrent's is {size}"
            )));
        }
        let Waiting {
            mut opened,
            shared,
            status,
            kept,
            ..
        } = self;
        opened.socket.set_max_message_len(max_message_len(&torrent));
        opened.kept = kept;
        Ok(Connection::opened(opened, shared, torrent, status, true))
    }

    fn misbehaved(&self, what: String) -> PeerError {
        log::info!("peer {}: {what}; disconnecting", self.opened.addr);
        PeerError::Misbehaved(what)
    }
}

/// Keeps `message`, about pieces, for the connection to read once the torrent is known;
/// or says why the peer must go. What is kept stays small whatever the peer sends: a
/// block cannot be one we asked for (we ask for none before the metadata), and a bitfield
/// replaces every bitfield and `have` before it (as the connection reads them), so at
/// most one bitfield is kept, and otherwise messages of a few bytes.
pub(super) fn keep(kept: &mut Vec<Message>, message: Message) -> Result<(), String> {
    match &message {
        Message::Piece {
            piece,
            offset,
            data,
        } => {
            return Err(format!(
                "sent {} bytes at offset {offset} of piece {piece} before we had the metadata",
                data.len()
            ));
        }
        Message::Bitfield(_) => {
            kept.retain(|m| !matches!(m, Message::Bitfield(_) | Message::Have(_)));
        }
        _ => {}
    }
    if kept.len() >= MAX_KEPT {
        return Err(format!(
            "sent over {MAX_KEPT} messages before we had the metadata"
        ));
    }
    kept.push(message);
    Ok(())
}

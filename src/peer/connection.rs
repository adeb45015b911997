//! The state machine of one established connection (after the handshake).
//!
//! One loop: read a message (or time out after a tick), handle it, do housekeeping (state
//! timeouts, `have`s, endgame cancels, refilling the request pipeline), then send whatever
//! was queued in one write.

use super::{PeerError, Swarm};
use crate::bitfield::Bitfield;
use crate::block_saver::Command as SaverCommand;
use crate::geometry::BlockRef;
use crate::piece_manager::{Delivery, PeerKey};
use crate::wire::{Message, MessageReader};
use std::convert::Infallible;
use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Read buffer per connection: large enough to take a few blocks per system call.
const READ_BUFFER: usize = 64 * 1024;

/// Largest message we accept: a 16 KiB block plus header, or the bitfield.
fn max_message_len(swarm: &Swarm) -> u32 {
    let bitfield = swarm.geometry.bitfield_len() as u32 + 1;
    bitfield.max(128 * 1024 + 9)
}

/// Requests sent before a choke: the peer may still deliver them, and that is no lie.
const STALE_LIMIT: usize = 1024;

pub(super) struct Connection {
    key: PeerKey,
    addr: SocketAddr,
    swarm: Arc<Swarm>,
    stop: Arc<AtomicBool>,
    stream: TcpStream,
    reader: BufReader<TcpStream>,
    frames: MessageReader,
    /// Bytes queued for the next write.
    out: Vec<u8>,
    /// What the peer has, from its `bitfield` and `have`s.
    peer_has: Bitfield,
    /// True until the peer unchokes us.
    peer_choking: bool,
    /// True once we told the peer we are interested.
    am_interested: bool,
    /// Blocks requested from this peer and not yet received.
    in_flight: Vec<BlockRef>,
    /// Blocks requested before a choke or cancelled: accepted if they still arrive.
    stale: Vec<BlockRef>,
    /// Messages received so far (a `bitfield` is only allowed first).
    received_messages: u64,
    /// Payload bytes received.
    downloaded: u64,
    /// Cursor into the piece manager's list of verified pieces (for `have`s).
    have_cursor: usize,
    last_received: Instant,
    last_sent: Instant,
    /// When the current wait began: for an unchoke, for a block, for something useful.
    waiting_since: Instant,
    last_housekeeping: Instant,
}

impl Connection {
    pub(super) fn new(
        key: PeerKey,
        addr: SocketAddr,
        stream: TcpStream,
        swarm: Arc<Swarm>,
        stop: Arc<AtomicBool>,
    ) -> Result<Connection, PeerError> {
        let now = Instant::now();
        let reader_stream = stream.try_clone()?;
        let frames = MessageReader::new(max_message_len(&swarm));
        let piece_count = swarm.geometry.piece_count;
        let mut have_cursor = 0;
        let mut ignored = Vec::new();
        // Everything verified so far goes out in our bitfield, not as `have`s.
        swarm.pieces.verified_since(&mut have_cursor, &mut ignored);
        Ok(Connection {
            key,
            addr,
            reader: BufReader::with_capacity(READ_BUFFER, reader_stream),
            stream,
            swarm,
            stop,
            frames,
            out: Vec::with_capacity(4096),
            peer_has: Bitfield::new(piece_count),
            peer_choking: true,
            am_interested: false,
            in_flight: Vec::new(),
            stale: Vec::new(),
            received_messages: 0,
            downloaded: 0,
            have_cursor,
            last_received: now,
            last_sent: now,
            waiting_since: now,
            last_housekeeping: now,
        })
    }

    pub(super) fn downloaded(&self) -> u64 {
        self.downloaded
    }

    /// Runs the connection until it fails or is stopped; always returns why it ended, after
    /// giving back its requested blocks and its share of the availability counts.
    pub(super) fn run(&mut self) -> PeerError {
        self.swarm.counters.peers.fetch_add(1, Ordering::Relaxed);
        let error = match self.start().and_then(|()| self.serve()) {
            Ok(never) => match never {},
            Err(error) => error,
        };
        self.swarm.counters.peers.fetch_sub(1, Ordering::Relaxed);
        if !self.peer_choking {
            self.swarm
                .counters
                .unchoking_us
                .fetch_sub(1, Ordering::Relaxed);
        }
        let returned: Vec<BlockRef> = self.in_flight.drain(..).collect();
        self.swarm.pieces.return_blocks(self.key, &returned);
        self.swarm.pieces.remove_peer_pieces(&self.peer_has);
        error
    }

    fn start(&mut self) -> Result<(), PeerError> {
        self.stream
            .set_read_timeout(Some(self.swarm.timeouts.tick))?;
        self.stream
            .set_write_timeout(Some(self.swarm.timeouts.idle))?;
        let ours = self.swarm.pieces.verified();
        if ours.count() > 0 {
            Message::Bitfield(ours.as_bytes().to_vec()).encode(&mut self.out);
        }
        self.flush()
    }

    /// The message loop; it only ever ends with an error (or a stop, which is one).
    fn serve(&mut self) -> Result<Infallible, PeerError> {
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Err(PeerError::Stopped);
            }
            if let Some(message) = self.frames.read_from(&mut self.reader)? {
                self.last_received = Instant::now();
                self.received_messages += 1;
                self.handle(message)?;
            }
            let now = Instant::now();
            if now.duration_since(self.last_housekeeping) >= self.swarm.timeouts.tick {
                self.last_housekeeping = now;
                self.housekeeping(now)?;
            }
            self.fill_pipeline();
            self.flush()?;
        }
    }

    fn handle(&mut self, message: Message) -> Result<(), PeerError> {
        match message {
            Message::KeepAlive | Message::Port(_) => {}
            Message::Choke => self.choked(),
            Message::Unchoke => {
                if self.peer_choking {
                    self.peer_choking = false;
                    self.waiting_since = Instant::now();
                    self.swarm
                        .counters
                        .unchoking_us
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
            // Uploading is not part of the download path yet: we keep peers choked, so
            // their interest and requests need no answer.
            Message::Interested | Message::NotInterested => {}
            Message::Request(block) | Message::Cancel(block) => {
                if block.length > 128 * 1024 {
                    return Err(self.misbehaved(format!("request of {} bytes", block.length)));
                }
            }
            Message::Have(piece) => {
                if !self.peer_has.set(piece) {
                    return Err(self.misbehaved(format!("have for piece {piece}, out of range")));
                }
                self.swarm.pieces.add_peer_piece(piece);
                if !self.am_interested && !self.swarm.pieces.has_piece(piece) {
                    self.set_interested(true);
                }
            }
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

    fn bitfield(&mut self, bytes: Vec<u8>) -> Result<(), PeerError> {
        if self.received_messages != 1 {
            return Err(self.misbehaved("bitfield after other messages".into()));
        }
        let has = Bitfield::from_bytes(bytes, self.swarm.geometry.piece_count)
            .map_err(|e| self.misbehaved(e.to_string()))?;
        self.swarm.pieces.add_peer_pieces(&has);
        self.peer_has = has;
        if self.swarm.pieces.is_interesting(&self.peer_has) {
            self.set_interested(true);
        }
        Ok(())
    }

    /// A `piece` message: check it is a block we asked this peer for, then hand it over.
    fn block(&mut self, piece: u32, offset: u32, data: Vec<u8>) -> Result<(), PeerError> {
        let length = data.len() as u32;
        let block = BlockRef {
            piece,
            offset,
            length,
        };
        if let Some(at) = self.in_flight.iter().position(|b| *b == block) {
            self.in_flight.swap_remove(at);
        } else if let Some(at) = self.stale.iter().position(|b| *b == block) {
            self.stale.swap_remove(at);
        } else {
            return Err(self.misbehaved(format!(
                "sent {length} bytes at offset {offset} of piece {piece}, which we never requested"
            )));
        }
        self.downloaded += length as u64;
        self.swarm.counters.add_downloaded(length as u64);
        self.waiting_since = Instant::now();
        match self.swarm.pieces.block_received(self.key, block) {
            Delivery::Accepted => self
                .swarm
                .saver
                .send(SaverCommand::Save { block, data })
                .map_err(|_| PeerError::SaverGone),
            Delivery::Unwanted => Ok(()),
        }
    }

    fn choked(&mut self) {
        if self.peer_choking {
            return;
        }
        self.peer_choking = true;
        self.waiting_since = Instant::now();
        self.swarm
            .counters
            .unchoking_us
            .fetch_sub(1, Ordering::Relaxed);
        // BEP 3: a choke discards our pending requests. Give them back to the piece
        // manager so other peers can fetch them, but still accept them if they arrive.
        self.swarm.pieces.return_blocks(self.key, &self.in_flight);
        self.remember_stale_in_flight();
    }

    fn remember_stale_in_flight(&mut self) {
        self.stale.append(&mut self.in_flight);
        if self.stale.len() > STALE_LIMIT {
            let excess = self.stale.len() - STALE_LIMIT;
            self.stale.drain(..excess);
        }
    }

    /// Periodic checks: timeouts, `have`s, keep-alives, endgame cancels, interest.
    fn housekeeping(&mut self, now: Instant) -> Result<(), PeerError> {
        let timeouts = self.swarm.timeouts;
        if now.duration_since(self.last_received) > timeouts.idle {
            return Err(PeerError::Timeout("waiting for any message"));
        }
        let waited = now.duration_since(self.waiting_since);
        if self.am_interested && self.peer_choking && waited > timeouts.unchoke {
            return Err(PeerError::Timeout("waiting to be unchoked"));
        }
        if !self.in_flight.is_empty() && waited > timeouts.piece {
            return Err(PeerError::Timeout("waiting for a requested block"));
        }
        if !self.am_interested && waited > timeouts.useless && !self.swarm.pieces.is_complete() {
            return Err(PeerError::Timeout("for a peer with nothing we need"));
        }
        self.send_haves();
        self.cancel_finished_blocks();
        if self.am_interested && self.in_flight.is_empty() && !self.peer_choking {
            // Nothing to request: maybe we have everything this peer has.
            if !self.swarm.pieces.is_interesting(&self.peer_has) {
                self.set_interested(false);
            }
        }
        if now.duration_since(self.last_sent) > timeouts.idle / 2 {
            Message::KeepAlive.encode(&mut self.out);
        }
        Ok(())
    }

    fn send_haves(&mut self) {
        let mut verified = Vec::new();
        self.swarm
            .pieces
            .verified_since(&mut self.have_cursor, &mut verified);
        for piece in verified {
            Message::Have(piece).encode(&mut self.out);
        }
    }

    /// Endgame: blocks we asked for that another peer delivered first get a `cancel`.
    fn cancel_finished_blocks(&mut self) {
        let mut index = 0;
        while index < self.in_flight.len() {
            let block = self.in_flight[index];
            if self.swarm.pieces.is_block_done(block) {
                Message::Cancel(block).encode(&mut self.out);
                self.stale.push(self.in_flight.swap_remove(index));
            } else {
                index += 1;
            }
        }
    }

    /// Keeps `pipeline` requests outstanding while the peer unchokes us. Refills in
    /// batches (when a quarter has drained) to take the piece manager's lock less often.
    fn fill_pipeline(&mut self) {
        if self.peer_choking || !self.am_interested {
            return;
        }
        let target = self.swarm.pipeline;
        if self.in_flight.len() > target - target / 4 {
            return;
        }
        let before = self.in_flight.len();
        let mut picked = Vec::new();
        self.swarm.pieces.pick_blocks(
            self.key,
            &self.peer_has,
            &self.in_flight,
            target - before,
            &mut picked,
        );
        if before == 0 && !picked.is_empty() {
            self.waiting_since = Instant::now();
        }
        for block in picked {
            Message::Request(block).encode(&mut self.out);
            self.in_flight.push(block);
        }
    }

    fn set_interested(&mut self, interested: bool) {
        self.am_interested = interested;
        self.waiting_since = Instant::now();
        let message = if interested {
            Message::Interested
        } else {
            Message::NotInterested
        };
        message.encode(&mut self.out);
    }

    fn flush(&mut self) -> Result<(), PeerError> {
        if self.out.is_empty() {
            return Ok(());
        }
        self.stream.write_all(&self.out)?;
        self.out.clear();
        self.last_sent = Instant::now();
        Ok(())
    }

    fn misbehaved(&self, what: String) -> PeerError {
        log::info!("peer {}: {what}; disconnecting", self.addr);
        PeerError::Misbehaved(what)
    }
}

//! The download side of a connection: what the peer has, our interest, the request
//! pipeline, incoming blocks, choke handling, endgame cancels and snubbing.
//!
//! With a Fast peer (BEP 6, `fast.rs`) two things change here: a choke no longer cancels
//! our requests (the peer answers each one, with the block or a `reject_request`), and
//! while it chokes us we may still ask for the pieces it allowed us fast.

use super::PeerError;
use super::connection::Connection;
use crate::bitfield::Bitfield;
use crate::block_saver::Command as SaverCommand;
use crate::geometry::{BLOCK_SIZE, BlockRef};
use crate::piece_manager::Delivery;
use crate::rate_limit;
use crate::transcript::{Flag, PieceEvent};
use crate::wire::Message;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// Requests sent before a (BEP 3) choke or cancelled: the peer may still deliver them, and
/// that is no lie. This many are remembered.
const STALE_LIMIT: usize = 1024;

/// The download side's state: what we know of the peer's pieces and what we asked of it.
pub(super) struct Download {
    /// What the peer has, from its `bitfield` and `have`s: what we may request, and our
    /// share of the piece manager's availability counts (given back when we end).
    pub(super) peer_has: Bitfield,
    /// True until the peer unchokes us: we may only request while it is false.
    peer_choking: bool,
    /// True once we told the peer we are interested (it has a piece we lack).
    am_interested: bool,
    /// Blocks requested from this peer and not yet received: the pipeline. Given back to
    /// the piece manager if the peer chokes us or the connection ends.
    in_flight: Vec<BlockRef>,
    /// Blocks requested before a choke or cancelled: accepted if they still arrive, so a
    /// late block is not taken for a lie.
    stale: Vec<BlockRef>,
    /// When the peer last sent a block (or unchoked us): for snubbing.
    last_block: Instant,
}

/// Where a block the peer answered (with the block or a reject) stood among our requests.
pub(super) enum Asked {
    /// In the pipeline: it was ours to fetch from this peer.
    InFlight,
    /// Cancelled, or requested before a choke: we had given it up already.
    Stale,
    /// Never requested from this peer (or forgotten long ago): a lie.
    Never,
}

impl Download {
    /// Nothing known yet of a peer in a torrent of `piece_count` pieces: it chokes us.
    pub(super) fn new(piece_count: u32, now: Instant) -> Download {
        Download {
            peer_has: Bitfield::new(piece_count),
            peer_choking: true,
            am_interested: false,
            in_flight: Vec::new(),
            stale: Vec::new(),
            last_block: now,
        }
    }

    /// True once we told the peer we are interested.
    pub(super) fn am_interested(&self) -> bool {
        self.am_interested
    }

    /// True if the peer has every piece.
    pub(super) fn peer_is_seed(&self) -> bool {
        self.peer_has.is_full()
    }

    /// True while requests are in the pipeline. (Stale ones may never be answered: a
    /// peer that choked us need not.)
    pub(super) fn expects_blocks(&self) -> bool {
        !self.in_flight.is_empty()
    }

    /// True while the peer chokes us.
    pub(super) fn peer_choking(&self) -> bool {
        self.peer_choking
    }

    /// Takes `block` out of our requests, the peer having answered it; says where it was.
    pub(super) fn take_request(&mut self, block: &BlockRef) -> Asked {
        if let Some(at) = self.in_flight.iter().position(|b| b == block) {
            self.in_flight.swap_remove(at);
            Asked::InFlight
        } else if let Some(at) = self.stale.iter().position(|b| b == block) {
            self.stale.swap_remove(at);
            Asked::Stale
        } else {
            Asked::Never
        }
    }

    /// Moves the requests in flight to the stale ones, keeping the newest [`STALE_LIMIT`].
    fn remember_stale_in_flight(&mut self) {
        self.stale.append(&mut self.in_flight);
        if self.stale.len() > STALE_LIMIT {
            let excess = self.stale.len() - STALE_LIMIT;
            self.stale.drain(..excess);
        }
    }
}

impl Connection {
    pub(super) fn have(&mut self, piece: u32) -> Result<(), PeerError> {
        if self.download.peer_has.has(piece) {
            return Ok(());
        }
        if !self.download.peer_has.set(piece) {
            return Err(self.misbehaved(format!("have for piece {piece}, out of range")));
        }
        self.torrent.pieces.add_peer_piece(piece);
        if let Some(seed) = &self.shared.super_seed {
            seed.announced(self.key, piece, self.torrent.geometry.piece_count);
        }
        if !self.download.am_interested && !self.torrent.pieces.has_piece(piece) {
            self.set_interested(true);
        }
        self.end_if_both_complete()
    }

    pub(super) fn bitfield(&mut self, bytes: Vec<u8>) -> Result<(), PeerError> {
        // BEP 3 sends the bitfield first and only once, but real clients differ: aria2 sends
        // other messages first and sends a whole bitfield again after some `have`s. A new
        // bitfield simply replaces what we knew; it must still have the right shape. (aria2
        // does so with the Fast extension too: see `Connection::opening`.)
        let has = Bitfield::from_bytes(bytes, self.torrent.geometry.piece_count)
            .map_err(|e| self.misbehaved(e.to_string()))?;
        self.set_peer_has(has)
    }

    /// What the peer has is `has` (from a `bitfield`, or BEP 6's `have_all`/`have_none`).
    pub(super) fn set_peer_has(&mut self, has: Bitfield) -> Result<(), PeerError> {
        self.torrent
            .pieces
            .remove_peer_pieces(&self.download.peer_has);
        self.torrent.pieces.add_peer_pieces(&has);
        if let Some(seed) = &self.shared.super_seed {
            seed.announced_all(self.key, &has);
            if (self.upload.offered.last()).is_some_and(|piece| has.has(*piece)) {
                seed.release(self.key);
            }
        }
        self.download.peer_has = has;
        if self.torrent.pieces.is_interesting(&self.download.peer_has) {
            self.set_interested(true);
        }
        self.end_if_both_complete()
    }

    /// Two seeds have nothing to trade: close, as other clients do, so the peer (say, a
    /// leecher that just finished) is not kept waiting for us to hang up.
    fn end_if_both_complete(&self) -> Result<(), PeerError> {
        if self.download.peer_has.is_full() && self.torrent.pieces.is_complete() {
            return Err(PeerError::BothComplete);
        }
        Ok(())
    }

    /// A `piece` message: check it is a block we asked this peer for, then hand it over.
    pub(super) fn block(
        &mut self,
        piece: u32,
        offset: u32,
        data: Vec<u8>,
    ) -> Result<(), PeerError> {
        let length = data.len() as u32;
        let block = BlockRef {
            piece,
            offset,
            length,
        };
        if let Asked::Never = self.download.take_request(&block) {
            return Err(self.misbehaved(format!(
                "sent {length} bytes at offset {offset} of piece {piece}, which we never requested"
            )));
        }
        self.fast.block_arrived();
        self.status
            .downloaded
            .fetch_add(length as u64, Ordering::Relaxed);
        self.shared.counters.add_downloaded(length as u64);
        self.waiting_since = Instant::now();
        self.download.last_block = self.waiting_since;
        self.status.snubbed.store(false, Ordering::Relaxed);
        match self.torrent.pieces.block_received(self.key, block) {
            Delivery::Accepted => self
                .torrent
                .saver
                .send(SaverCommand::Save { block, data })
                .map_err(|_| PeerError::SaverGone),
            Delivery::Unwanted => {
                self.torrent.pool.give(data);
                Ok(())
            }
        }
    }

    pub(super) fn unchoked(&mut self) {
        if self.download.peer_choking {
            self.download.peer_choking = false;
            self.trace_flag(Flag::PeerChoking, false);
            self.waiting_since = Instant::now();
            self.download.last_block = self.waiting_since;
            self.shared
                .counters
                .unchoking_us
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(super) fn choked(&mut self) {
        if self.download.peer_choking {
            return;
        }
        self.download.peer_choking = true;
        self.trace_flag(Flag::PeerChoking, true);
        self.waiting_since = Instant::now();
        self.shared
            .counters
            .unchoking_us
            .fetch_sub(1, Ordering::Relaxed);
        if self.fast.enabled {
            // BEP 6: a choke no longer cancels our requests; the peer answers each one, with
            // the block or a reject (`Connection::rejected` gives those back).
            return;
        }
        // BEP 3: a choke discards our pending requests. Give them back to the piece
        // manager so other peers can fetch them, but still accept them if they arrive.
        self.torrent
            .pieces
            .return_blocks(self.key, &self.download.in_flight);
        self.download.remember_stale_in_flight();
    }

    /// The connection is over: what it held goes back to the piece manager (its requested
    /// blocks, its share of the availability counts) and to the counters.
    pub(super) fn download_ended(&mut self) {
        if !self.download.peer_choking {
            let counters = &self.shared.counters;
            counters.unchoking_us.fetch_sub(1, Ordering::Relaxed);
        }
        let returned: Vec<BlockRef> = self.download.in_flight.drain(..).collect();
        self.torrent.pieces.return_blocks(self.key, &returned);
        self.torrent
            .pieces
            .remove_peer_pieces(&self.download.peer_has);
    }

    /// The download side's timeouts, snubbing, endgame cancels and loss of interest.
    pub(super) fn download_housekeeping(&mut self, now: Instant) -> Result<(), PeerError> {
        let timeouts = self.shared.timeouts;
        let waited = now.duration_since(self.waiting_since);
        if self.download.am_interested && self.download.peer_choking && waited > timeouts.unchoke {
            return Err(PeerError::Timeout("waiting to be unchoked"));
        }
        if !self.download.in_flight.is_empty() && waited > timeouts.piece {
            return Err(PeerError::Timeout("waiting for a requested block"));
        }
        let snubbed = !self.download.peer_choking
            && self.download.am_interested
            && now.duration_since(self.download.last_block) > timeouts.snub;
        self.status.snubbed.store(snubbed, Ordering::Relaxed);
        self.end_if_both_complete()?;
        self.cancel_finished_blocks();
        if self.download.am_interested
            && self.download.in_flight.is_empty()
            && !self.download.peer_choking
        {
            // Nothing to request: maybe we have everything this peer has.
            if !self.torrent.pieces.is_interesting(&self.download.peer_has) {
                self.set_interested(false);
            }
        }
        Ok(())
    }

    /// Endgame: blocks we asked for that another peer delivered first get a `cancel`.
    fn cancel_finished_blocks(&mut self) {
        let mut index = 0;
        while index < self.download.in_flight.len() {
            let block = self.download.in_flight[index];
            if self.torrent.pieces.is_block_done(block) {
                self.send(Message::Cancel(block));
                self.download
                    .stale
                    .push(self.download.in_flight.swap_remove(index));
            } else {
                index += 1;
            }
        }
    }

    /// Keeps `pipeline` requests outstanding while the peer unchokes us (or, while it
    /// chokes us, for the pieces it allowed us fast). Refills in batches (when a quarter has
    /// drained) to take the piece manager's lock less often.
    pub(super) fn fill_pipeline(&mut self) {
        if !self.download.am_interested {
            return;
        }
        let target = self.shared.pipeline;
        if self.download.in_flight.len() > target - target / 4 {
            return;
        }
        let choking = self.download.peer_choking;
        let Some(has) = self.fast.requestable(&self.download.peer_has, choking) else {
            return;
        };
        let before = self.download.in_flight.len();
        let mut picked = Vec::new();
        // Under `--max-download-rate`, only as many as its budget allows now.
        let limit = self.shared.download_limit.as_deref();
        rate_limit::metered(limit, target - before, BLOCK_SIZE, |wanted| {
            let (has, in_flight) = (&has, &self.download.in_flight);
            let suggested = self.fast.suggested();
            let pieces = &self.torrent.pieces;
            pieces.pick_blocks_preferring(self.key, has, in_flight, suggested, wanted, &mut picked);
            picked.len()
        });
        if before == 0 && !picked.is_empty() {
            self.waiting_since = Instant::now();
        }
        for block in picked {
            let new_piece = !self
                .download
                .in_flight
                .iter()
                .any(|b| b.piece == block.piece);
            if new_piece && self.shared.tracer.is_enabled() {
                let tracer = &self.shared.tracer;
                tracer.piece(Some(self.addr), PieceEvent::Requested, block.piece);
            }
            self.send(Message::Request(block));
            self.download.in_flight.push(block);
        }
    }

    pub(super) fn set_interested(&mut self, interested: bool) {
        if self.download.am_interested != interested {
            self.trace_flag(Flag::AmInterested, interested);
        }
        self.download.am_interested = interested;
        self.waiting_since = Instant::now();
        let message = if interested {
            Message::Interested
        } else {
            Message::NotInterested
        };
        self.send(message);
    }
}

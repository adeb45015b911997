//! The download side of a connection: what the peer has, our interest, the request
//! pipeline, incoming blocks, choke handling, endgame cancels and snubbing.

use super::PeerError;
use super::connection::Connection;
use crate::bitfield::Bitfield;
use crate::block_saver::Command as SaverCommand;
use crate::extras::trace::{Flag, PieceEvent};
use crate::geometry::BlockRef;
use crate::piece_manager::Delivery;
use crate::wire::Message;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// Requests sent before a choke or cancelled: the peer may still deliver them, and that is
/// no lie. This many are remembered.
const STALE_LIMIT: usize = 1024;

impl Connection {
    pub(super) fn have(&mut self, piece: u32) -> Result<(), PeerError> {
        if self.peer_has.has(piece) {
            return Ok(());
        }
        if !self.peer_has.set(piece) {
            return Err(self.misbehaved(format!("have for piece {piece}, out of range")));
        }
        self.swarm.pieces.add_peer_piece(piece);
        if !self.am_interested && !self.swarm.pieces.has_piece(piece) {
            self.set_interested(true);
        }
        self.end_if_both_complete()
    }

    pub(super) fn bitfield(&mut self, bytes: Vec<u8>) -> Result<(), PeerError> {
        // BEP 3 sends the bitfield first and only once, but real clients differ: aria2 sends
        // other messages first and sends a whole bitfield again after some `have`s. A new
        // bitfield simply replaces what we knew; it must still have the right shape.
        let has = Bitfield::from_bytes(bytes, self.swarm.geometry.piece_count)
            .map_err(|e| self.misbehaved(e.to_string()))?;
        self.swarm.pieces.remove_peer_pieces(&self.peer_has);
        self.swarm.pieces.add_peer_pieces(&has);
        self.peer_has = has;
        if self.swarm.pieces.is_interesting(&self.peer_has) {
            self.set_interested(true);
        }
        self.end_if_both_complete()
    }

    /// Two seeds have nothing to trade: close, as other clients do, so the peer (say, a
    /// leecher that just finished) is not kept waiting for us to hang up.
    pub(super) fn end_if_both_complete(&self) -> Result<(), PeerError> {
        if self.peer_has.is_full() && self.swarm.pieces.is_complete() {
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
        if let Some(at) = self.in_flight.iter().position(|b| *b == block) {
            self.in_flight.swap_remove(at);
        } else if let Some(at) = self.stale.iter().position(|b| *b == block) {
            self.stale.swap_remove(at);
        } else {
            return Err(self.misbehaved(format!(
                "sent {length} bytes at offset {offset} of piece {piece}, which we never requested"
            )));
        }
        self.status
            .downloaded
            .fetch_add(length as u64, Ordering::Relaxed);
        self.swarm.counters.add_downloaded(length as u64);
        self.waiting_since = Instant::now();
        self.last_block = self.waiting_since;
        self.status.snubbed.store(false, Ordering::Relaxed);
        match self.swarm.pieces.block_received(self.key, block) {
            Delivery::Accepted => self
                .swarm
                .saver
                .send(SaverCommand::Save { block, data })
                .map_err(|_| PeerError::SaverGone),
            Delivery::Unwanted => Ok(()),
        }
    }

    pub(super) fn unchoked(&mut self) {
        if self.peer_choking {
            self.peer_choking = false;
            self.trace_flag(Flag::PeerChoking, false);
            self.waiting_since = Instant::now();
            self.last_block = self.waiting_since;
            self.swarm
                .counters
                .unchoking_us
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(super) fn choked(&mut self) {
        if self.peer_choking {
            return;
        }
        self.peer_choking = true;
        self.trace_flag(Flag::PeerChoking, true);
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

    /// The download side's timeouts, snubbing, endgame cancels and loss of interest.
    pub(super) fn download_housekeeping(&mut self, now: Instant) -> Result<(), PeerError> {
        let timeouts = self.swarm.timeouts;
        let waited = now.duration_since(self.waiting_since);
        if self.am_interested && self.peer_choking && waited > timeouts.unchoke {
            return Err(PeerError::Timeout("waiting to be unchoked"));
        }
        if !self.in_flight.is_empty() && waited > timeouts.piece {
            return Err(PeerError::Timeout("waiting for a requested block"));
        }
        let snubbed = !self.peer_choking
            && self.am_interested
            && now.duration_since(self.last_block) > timeouts.snub;
        self.status.snubbed.store(snubbed, Ordering::Relaxed);
        self.end_if_both_complete()?;
        self.cancel_finished_blocks();
        if self.am_interested && self.in_flight.is_empty() && !self.peer_choking {
            // Nothing to request: maybe we have everything this peer has.
            if !self.swarm.pieces.is_interesting(&self.peer_has) {
                self.set_interested(false);
            }
        }
        Ok(())
    }

    /// Endgame: blocks we asked for that another peer delivered first get a `cancel`.
    fn cancel_finished_blocks(&mut self) {
        let mut index = 0;
        while index < self.in_flight.len() {
            let block = self.in_flight[index];
            if self.swarm.pieces.is_block_done(block) {
                self.send(Message::Cancel(block));
                self.stale.push(self.in_flight.swap_remove(index));
            } else {
                index += 1;
            }
        }
    }

    /// Keeps `pipeline` requests outstanding while the peer unchokes us. Refills in
    /// batches (when a quarter has drained) to take the piece manager's lock less often.
    pub(super) fn fill_pipeline(&mut self) {
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
            let new_piece = !self.in_flight.iter().any(|b| b.piece == block.piece);
            if new_piece && self.swarm.tracer.is_enabled() {
                let tracer = &self.swarm.tracer;
                tracer.piece(Some(self.addr), PieceEvent::Requested, block.piece);
            }
            self.send(Message::Request(block));
            self.in_flight.push(block);
        }
    }

    pub(super) fn set_interested(&mut self, interested: bool) {
        if self.am_interested != interested {
            self.trace_flag(Flag::AmInterested, interested);
        }
        self.am_interested = interested;
        self.waiting_since = Instant::now();
        let message = if interested {
            Message::Interested
        } else {
            Message::NotInterested
        };
        self.send(message);
    }
}

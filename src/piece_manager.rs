//! The piece manager: the single owner of every piece's and every block's state.
//!
//! It is not a thread: it is a struct behind one lock, shared by the peer threads (which ask
//! "what should I fetch next?" and report blocks that arrived), the block-saver thread
//! (which reports blocks written to disk) and the hasher thread (which reports pieces
//! hashed). Every method does a little bookkeeping and returns; nothing here touches a
//! socket or the disk, so the lock is never held across I/O.
//!
//! # States
//!
//! A piece is in exactly one of these states:
//!
//! * `Missing`: nobody is fetching it.
//! * `Active`: some of its blocks are requested or received; its per-block states live in
//!   a `Partial`.
//! * `Hashing`: every block is on disk; the piece waits for the hasher or is being hashed.
//! * `Verified`: the hash matched. A verified piece never changes again, unless its file
//!   is truncated under us ([`PieceManager::forget_piece`]).
//! * `Skipped`: not wanted (it holds no byte of a file chosen with `--select`); never
//!   fetched. The download is complete when every *wanted* piece is verified.
//!
//! A block of an active piece moves `Free → Requested → Received → Written`:
//!
//! * `Requested` when a peer thread takes it from [`PieceManager::pick_blocks`];
//!   back to `Free` if that peer chokes us or dies ([`PieceManager::return_blocks`]).
//! * `Received` when its data arrived from some peer and is on its way to the block
//!   saver. Only the first copy of a block is accepted; later copies are dropped, so data
//!   already accepted is never overwritten by another peer.
//! * `Written` when the block saver has put it into the map. When every block of a piece
//!   is written the piece becomes `Hashing`.
//!
//! A failed hash sends the piece back to `Missing` (all blocks `Free`), and the peers that
//! contributed to it are reported so the peer manager can ban repeat offenders. The retry
//! of a failed piece is *exclusive*: one peer fetches all of it, so a second failure has
//! exactly one culprit.
//!
//! # Picking
//!
//! Blocks of pieces already under way come first, so pieces complete one by one. A new
//! piece is chosen at random for the first few pieces (so we soon have something to trade),
//! then rarest first among the connected peers' bitfields. When no piece is left to start,
//! the endgame lets a peer also request blocks that are already requested from someone else;
//! the first copy wins and the peers cancel the others. That policy, with the requests it
//! hands out and takes back and the table of who has what that it reads, is `picking.rs`;
//! this file keeps the tables and every other transition.

use crate::bitfield::Bitfield;
use crate::geometry::{BlockRef, Geometry};
use crate::random::Rng;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Identifies one peer connection (assigned by the peer manager).
pub type PeerKey = u64;

/// How many pieces are picked at random before rarest-first takes over.
const RANDOM_FIRST_PIECES: u32 = 4;

/// The state of one piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PieceState {
    Missing,
    Active,
    Hashing,
    Verified,
    Skipped,
}

/// The state of one block of an active piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockState {
    Free,
    /// Requested from peer `by` (in the endgame others may have asked for it too).
    Requested {
        by: PeerKey,
    },
    Received,
    Written,
}

/// Per-block bookkeeping for a piece under way.
#[derive(Debug)]
struct Partial {
    blocks: Vec<BlockState>,
    /// Blocks in the `Written` state.
    written: u32,
    /// Peers whose data went into this piece, to blame on a hash failure.
    contributors: Vec<PeerKey>,
    /// Set for a piece that failed its hash before: it is fetched from one peer only
    /// (`owner`), so if it fails again exactly one peer is to blame.
    exclusive: bool,
    owner: Option<PeerKey>,
}

/// What became of a block a peer delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// First copy: send it to the block saver.
    Accepted,
    /// We already have it (or it is not a block we want): drop the data.
    Unwanted,
}

/// What the block saver should do after writing a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// More blocks of this piece are still to come.
    PieceIncomplete,
    /// Every block of the piece is on disk: hash it now.
    PieceComplete,
}

/// Progress summary for the main thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    pub verified_pieces: u32,
    /// The bytes of the verified pieces that are wanted.
    pub verified_bytes: u64,
    /// The bytes of every wanted piece: the torrent's length, unless `--select` chose files.
    pub wanted_bytes: u64,
    pub active_pieces: u32,
}

/// The state behind the lock.
#[derive(Debug)]
struct State {
    geometry: Geometry,
    pieces: Vec<PieceState>,
    partials: HashMap<u32, Partial>,
    /// How many connected peers have each piece.
    availability: Vec<u16>,
    verified: Bitfield,
    /// The bytes of the verified pieces that are wanted.
    verified_bytes: u64,
    /// The pieces to fetch (every piece, unless `--select` chose files).
    wanted: Bitfield,
    wanted_bytes: u64,
    /// Wanted pieces not verified yet: the download is complete at 0.
    wanted_missing: u32,
    /// Pieces in the order they were verified, so peer threads can send `have`s.
    verified_log: Vec<u32>,
    /// Pieces that failed a hash check at least once.
    failed: Vec<bool>,
    rng: Rng,
}

/// The shared piece/block table. See the module documentation.
#[derive(Debug)]
pub struct PieceManager {
    state: Mutex<State>,
    /// Length of the verified log, readable without the lock: peer threads check it after
    /// every message and take the lock only when there are new `have`s to send.
    verified_len: AtomicUsize,
    /// How many verified pieces were ever forgotten (their file was truncated under us).
    /// While it is 0, "verified" never changes back and callers can skip re-checking.
    forgotten: AtomicUsize,
}

impl PieceManager {
    /// A manager for a torrent of this shape, with `have` already verified (from a check of
    /// data on disk).
    pub fn new(geometry: Geometry, have: &Bitfield) -> PieceManager {
        PieceManager::selective(geometry, have, &Bitfield::full(geometry.piece_count))
    }

    /// A manager that fetches only the pieces in `wanted` (the rest are skipped), with
    /// `have` already verified.
    pub fn selective(geometry: Geometry, have: &Bitfield, wanted: &Bitfield) -> PieceManager {
        let count = geometry.piece_count as usize;
        let skip_or_fetch = |piece: u32| match wanted.has(piece) {
            true => PieceState::Missing,
            false => PieceState::Skipped,
        };
        let mut state = State {
            geometry,
            pieces: (0..geometry.piece_count).map(skip_or_fetch).collect(),
            partials: HashMap::new(),
            availability: vec![0; count],
            verified: Bitfield::new(geometry.piece_count),
            verified_bytes: 0,
            wanted: wanted.clone(),
            wanted_bytes: crate::selection::wanted_bytes(wanted, &geometry),
            wanted_missing: wanted.count(),
            verified_log: Vec::new(),
            failed: vec![false; count],
            rng: Rng::new(),
        };
        for piece in have.pieces() {
            state.mark_verified(piece);
        }
        PieceManager {
            verified_len: AtomicUsize::new(state.verified_log.len()),
            forgotten: AtomicUsize::new(0),
            state: Mutex::new(state),
        }
    }

    /// A copy of the bitfield of verified pieces (for our `bitfield` message).
    pub fn verified(&self) -> Bitfield {
        self.state.lock().verified.clone()
    }

    /// The verified pieces and, taken at the same moment, the pieces whose every block is
    /// written but whose hash is not known yet (for the resume file: their bytes are on
    /// disk, so a restart should hash them rather than fetch them again).
    pub fn verified_and_hashing(&self) -> (Bitfield, Bitfield) {
        let state = self.state.lock();
        let mut hashing = Bitfield::new(state.verified.len());
        for (piece, piece_state) in (0..).zip(&state.pieces) {
            if matches!(piece_state, PieceState::Hashing) {
                hashing.set(piece);
            }
        }
        (state.verified.clone(), hashing)
    }

    /// True when every wanted piece is verified.
    pub fn is_complete(&self) -> bool {
        self.state.lock().wanted_missing == 0
    }

    /// True if piece `piece`, verified at some point, may still be: no verified piece was
    /// ever forgotten, or this one is verified now. Lock-free in the common case, so the
    /// upload path can ask it for every block it sends.
    pub fn still_has_piece(&self, piece: u32) -> bool {
        self.forgotten.load(Ordering::Relaxed) == 0 || self.has_piece(piece)
    }

    /// How many verified pieces were ever forgotten (see [`PieceManager::forget_piece`]).
    pub fn forgotten_count(&self) -> usize {
        self.forgotten.load(Ordering::Relaxed)
    }

    /// True when piece `piece` is verified.
    pub fn has_piece(&self, piece: u32) -> bool {
        self.state.lock().verified.has(piece)
    }

    pub fn progress(&self) -> Progress {
        let state = self.state.lock();
        Progress {
            verified_pieces: state.verified.count(),
            verified_bytes: state.verified_bytes,
            wanted_bytes: state.wanted_bytes,
            active_pieces: state.partials.len() as u32,
        }
    }

    /// Pieces verified since `cursor` (which is advanced). Peer threads use this to send
    /// `have` messages without a channel per peer.
    pub fn verified_since(&self, cursor: &mut usize, out: &mut Vec<u32>) {
        if self.verified_len.load(Ordering::Acquire) == *cursor {
            return;
        }
        let state = self.state.lock();
        if let Some(new) = state.verified_log.get(*cursor..) {
            out.extend_from_slice(new);
        }
        *cursor = state.verified_log.len();
    }

    /// True if the peer with bitfield `has` has at least one piece we still need.
    pub fn is_interesting(&self, has: &Bitfield) -> bool {
        let state = self.state.lock();
        has.pieces()
            .any(|piece| state.wanted.has(piece) && !state.verified.has(piece))
    }

    /// A peer delivered `block` (its shape was already checked against the geometry).
    pub fn block_received(&self, peer: PeerKey, block: BlockRef) -> Delivery {
        let mut state = self.state.lock();
        let Some(index) = state
            .geometry
            .block_index(block.piece, block.offset, block.length)
        else {
            return Delivery::Unwanted;
        };
        let Some(partial) = state.partials.get_mut(&block.piece) else {
            return Delivery::Unwanted;
        };
        let slot = &mut partial.blocks[index as usize];
        match *slot {
            BlockState::Free | BlockState::Requested { .. } => {
                *slot = BlockState::Received;
                if !partial.contributors.contains(&peer) {
                    partial.contributors.push(peer);
                }
                Delivery::Accepted
            }
            BlockState::Received | BlockState::Written => Delivery::Unwanted,
        }
    }

    /// True if `block` no longer needs fetching (used to `cancel` endgame duplicates).
    pub fn is_block_done(&self, block: BlockRef) -> bool {
        let state = self.state.lock();
        match state.pieces.get(block.piece as usize) {
            Some(PieceState::Active) => {
                let index = state
                    .geometry
                    .block_index(block.piece, block.offset, block.length);
                match (state.partials.get(&block.piece), index) {
                    (Some(partial), Some(index)) => matches!(
                        partial.blocks[index as usize],
                        BlockState::Received | BlockState::Written
                    ),
                    _ => true,
                }
            }
            Some(PieceState::Missing) => false,
            _ => true,
        }
    }

    /// The block saver has written `block` into the map.
    pub fn block_written(&self, block: BlockRef) -> Written {
        let mut state = self.state.lock();
        let geometry = state.geometry;
        let Some(index) = geometry.block_index(block.piece, block.offset, block.length) else {
            return Written::PieceIncomplete;
        };
        let Some(partial) = state.partials.get_mut(&block.piece) else {
            return Written::PieceIncomplete;
        };
        let slot = &mut partial.blocks[index as usize];
        if *slot != BlockState::Received {
            return Written::PieceIncomplete;
        }
        *slot = BlockState::Written;
        partial.written += 1;
        if partial.written < geometry.blocks_in_piece(block.piece) {
            return Written::PieceIncomplete;
        }
        state.pieces[block.piece as usize] = PieceState::Hashing;
        Written::PieceComplete
    }

    /// The hasher checked a piece's SHA-1. On success the piece is verified; on failure
    /// it starts over and the peers that contributed to it are returned, to be blamed.
    pub fn piece_checked(&self, piece: u32, ok: bool) -> Vec<PeerKey> {
        let mut state = self.state.lock();
        let contributors = state
            .partials
            .remove(&piece)
            .map(|partial| partial.contributors)
            .unwrap_or_default();
        if ok {
            state.mark_verified(piece);
            self.verified_len
                .store(state.verified_log.len(), Ordering::Release);
        } else if let Some(slot) = state.pieces.get_mut(piece as usize) {
            *slot = PieceState::Missing;
            state.failed[piece as usize] = true;
        }
        #[cfg(debug_assertions)]
        state.check_invariants();
        contributors
    }
}

impl State {
    fn mark_verified(&mut self, piece: u32) {
        if self.verified.set(piece) && self.pieces[piece as usize] != PieceState::Verified {
            self.pieces[piece as usize] = PieceState::Verified;
            self.partials.remove(&piece);
            if self.wanted.has(piece) {
                self.verified_bytes += self.geometry.piece_size(piece) as u64;
                self.wanted_missing -= 1;
            }
            self.verified_log.push(piece);
        }
    }
}

mod forget;
#[cfg(any(test, debug_assertions))]
mod invariants;
mod picking;
#[cfg(test)]
mod tests;

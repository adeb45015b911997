//! The upload side of a connection: our bitfield and `have`s, the peer's interest, the
//! choker's verdict, the queue of blocks the peer requested, and serving them straight
//! from the memory map.
//!
//! A request we will not serve is dropped silently (BEP 3), or, with a Fast peer (BEP 6,
//! `fast.rs`), answered with a `reject_request`: every request then gets exactly one
//! answer. A Fast peer may also ask, while we choke it, for the pieces we allowed it fast.
//!
//! When super seeding (`--super-seed`, `super_seed.rs`) the bitfield and the `have`s give
//! way to one offered piece at a time, and only offered pieces are served.

use super::PeerError;
use super::connection::Connection;
use crate::geometry::BlockRef;
use crate::piece_manager::PieceManager;
use crate::transcript::{Direction, Flag};
use crate::wire::{Message, piece_header};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// Largest block we serve. Clients ask for 16 KiB; anything over 128 KiB is refused.
const MAX_REQUEST: u32 = 128 * 1024;
/// Requests queued for one peer at most; more is a flood and the peer is dropped. We tell
/// peers so in our BEP 10 handshake (`reqq`); one that ignores it is flooding. 2048
/// requests (32 MiB of blocks) are 24 KiB of queue.
pub(super) const MAX_QUEUED_REQUESTS: usize = 2048;
/// Requests for pieces we do not have that we put up with before dropping the peer.
const MAX_BAD_REQUESTS: u32 = 64;
/// Rejects (BEP 6) for requests from a choked peer, or over the queue limit, that we put up
/// with between two unchokes. An honest peer sends at most its pipeline across our choke.
const MAX_REFUSED: u32 = MAX_QUEUED_REQUESTS as u32;
/// Bytes of blocks copied into the send buffer per loop turn: bounds memory per peer.
const UPLOAD_BATCH: usize = 256 * 1024;

/// The upload side's state: what we told the peer and what it asked of us.
pub(super) struct Upload {
    /// True until we unchoke the peer (when the choker says so); a choked peer's requests
    /// are discarded.
    am_choking: bool,
    /// The peer told us it is interested: it may get an unchoke slot.
    peer_interested: bool,
    /// Blocks the peer requested from us, oldest first, checked and not yet sent.
    requests: VecDeque<BlockRef>,
    /// Requests we ignored (pieces we do not have): a peer that keeps asking is dropped.
    bad_requests: u32,
    /// Requests we rejected since we last unchoked the peer (see [`MAX_REFUSED`]).
    refused: u32,
    /// The upload limit held back the next requested block on the last turn: it waits for
    /// the next tick, not for room in the socket.
    throttled: bool,
    /// Cursor into the piece manager's list of verified pieces: the pieces past it go out
    /// as `have`s.
    have_cursor: usize,
    /// This connection super seeds (BEP 16, `super_seed.rs`): no bitfield, one `have` at a
    /// time, requests served only for the pieces offered.
    pub(super) super_seeding: bool,
    /// The pieces we offered this peer while super seeding.
    pub(super) offered: Vec<u32>,
}

impl Upload {
    /// A peer that asked nothing yet and is choked. Everything verified so far goes out
    /// in our bitfield, later pieces as `have`s.
    pub(super) fn new(pieces: &PieceManager) -> Upload {
        let mut have_cursor = 0;
        pieces.verified_since(&mut have_cursor, &mut Vec::new());
        Upload {
            am_choking: true,
            peer_interested: false,
            requests: VecDeque::new(),
            bad_requests: 0,
            refused: 0,
            throttled: false,
            have_cursor,
            super_seeding: false,
            offered: Vec::new(),
        }
    }

    /// No bitfield was sent (the connection began before the torrent was known): every
    /// piece verified so far goes out as a `have` instead.
    pub(super) fn announce_all_as_haves(&mut self) {
        self.have_cursor = 0;
    }

    /// The peer told us it is interested.
    pub(super) fn peer_interested(&self) -> bool {
        self.peer_interested
    }
}

impl Connection {
    /// Our bitfield, the first message after the handshake: to a Fast peer `have_all` or
    /// `have_none` when it would be full or empty (BEP 6), to others only if we have a piece.
    pub(super) fn send_bitfield(&mut self) {
        if self.upload.super_seeding {
            // BEP 16: we look like a peer with nothing, then offer one piece at a time.
            if self.fast.enabled {
                self.send(Message::HaveNone);
            }
            return;
        }
        let ours = self.torrent.pieces.verified();
        if self.fast.enabled && ours.is_full() {
            self.send(Message::HaveAll);
        } else if self.fast.enabled && ours.count() == 0 {
            self.send(Message::HaveNone);
        } else if ours.count() > 0 {
            self.send(Message::Bitfield(ours.as_bytes().to_vec()));
        }
    }

    /// Super seeding: a `have` for the peer's next piece, if it has none on offer or its
    /// offer was seen elsewhere in the swarm (`super_seed.rs`).
    fn offer_next_piece(&mut self) {
        let Some(seed) = self.shared.super_seed.clone() else {
            return;
        };
        if !seed.wants_offer(self.key) {
            return;
        }
        let pieces = self.torrent.geometry.piece_count;
        if let Some(piece) = seed.offer(self.key, &self.download.peer_has, pieces) {
            self.upload.offered.push(piece);
            self.send(Message::Have(piece));
        }
    }

    /// A `have` for every piece verified since the last call (or since our bitfield).
    pub(super) fn send_haves(&mut self) {
        if self.upload.super_seeding {
            self.offer_next_piece();
            return;
        }
        let mut verified = Vec::new();
        self.torrent
            .pieces
            .verified_since(&mut self.upload.have_cursor, &mut verified);
        for piece in verified {
            self.send(Message::Have(piece));
        }
    }

    pub(super) fn set_peer_interested(&mut self, interested: bool) {
        let changed = self.upload.peer_interested != interested;
        self.upload.peer_interested = interested;
        self.status.interested.store(interested, Ordering::Relaxed);
        self.waiting_since = Instant::now();
        if changed {
            self.trace_flag(Flag::PeerInterested, interested);
            if interested {
                // Only after the store: the wake-up often runs the manager at once, and it
                // must find us interested, or the free slot waits for its next tick.
                self.status.wake_manager();
            }
        }
    }

    /// A `request`: check it, then queue it if the peer is unchoked (or asks for a piece we
    /// allowed it fast).
    pub(super) fn requested(&mut self, block: BlockRef) -> Result<(), PeerError> {
        if block.length == 0 || block.length > MAX_REQUEST {
            return Err(self.misbehaved(format!(
                "request of {} bytes (we serve 1 to {MAX_REQUEST})",
                block.length
            )));
        }
        if !self
            .torrent
            .geometry
            .contains(block.piece, block.offset, block.length)
        {
            return Err(self.misbehaved(format!(
                "request for {} bytes at offset {} of piece {}, outside the torrent",
                block.length, block.offset, block.piece
            )));
        }
        if !self.torrent.pieces.has_piece(block.piece) {
            self.upload.bad_requests += 1;
            if self.upload.bad_requests > MAX_BAD_REQUESTS {
                return Err(self.misbehaved("keeps requesting pieces we do not have".into()));
            }
            self.reject(block);
            return Ok(());
        }
        if self.upload.super_seeding && !self.upload.offered.contains(&block.piece) {
            // BEP 16: only the pieces we offered this peer.
            return self.refuse(block);
        }
        if self.upload.am_choking && !self.fast.we_allow(block.piece) {
            // BEP 3: requests from a choked peer are discarded; BEP 6: rejected.
            return self.refuse(block);
        }
        if self.upload.requests.len() >= MAX_QUEUED_REQUESTS {
            if self.fast.enabled {
                return self.refuse(block);
            }
            return Err(self.misbehaved(format!("more than {MAX_QUEUED_REQUESTS} requests queued")));
        }
        self.upload.requests.push_back(block);
        Ok(())
    }

    /// Rejects a request we will not serve (nothing, to a peer without BEP 6), counting
    /// towards [`MAX_REFUSED`].
    fn refuse(&mut self, block: BlockRef) -> Result<(), PeerError> {
        if !self.fast.enabled {
            return Ok(());
        }
        self.upload.refused += 1;
        if self.upload.refused > MAX_REFUSED {
            return Err(self.misbehaved(format!(
                "kept requesting after {MAX_REFUSED} rejects since we last unchoked it"
            )));
        }
        self.reject(block);
        Ok(())
    }

    /// A `cancel`: the peer no longer wants that block (if still queued, it is not sent; a
    /// Fast peer gets a reject for it, its one answer).
    pub(super) fn cancelled(&mut self, block: BlockRef) {
        let before = self.upload.requests.len();
        self.upload.requests.retain(|queued| *queued != block);
        if self.upload.requests.len() < before {
            self.reject(block);
        }
    }

    /// Tells the peer when the choker changed its mind. Choking drops its queued requests
    /// (BEP 3); a Fast peer gets a reject for each instead, but keeps those for the pieces
    /// we allowed it fast, which are still served (BEP 6).
    pub(super) fn apply_choke_decision(&mut self) {
        let unchoke = self.status.unchoke.load(Ordering::Relaxed);
        if unchoke && self.upload.am_choking {
            self.upload.am_choking = false;
            self.upload.refused = 0;
            self.trace_flag(Flag::AmChoking, false);
            self.send(Message::Unchoke);
        } else if !unchoke && !self.upload.am_choking {
            self.upload.am_choking = true;
            self.trace_flag(Flag::AmChoking, true);
            self.send(Message::Choke);
            for block in std::mem::take(&mut self.upload.requests) {
                if self.fast.we_allow(block.piece) {
                    self.upload.requests.push_back(block);
                } else {
                    self.reject(block);
                }
            }
        }
    }

    /// True if requested blocks wait for room in the send buffer (not for the upload
    /// limit): the loop then wakes as soon as the socket takes more, not at its tick.
    pub(super) fn has_blocks_to_queue(&self) -> bool {
        !self.upload.requests.is_empty() && !self.upload.throttled
    }

    /// Copies requested blocks from the map into the send buffer, up to [`UPLOAD_BATCH`]
    /// unsent bytes: a peer that does not read cannot make us buffer more.
    pub(super) fn queue_blocks(&mut self) -> Result<(), PeerError> {
        self.upload.throttled = false;
        while self.socket.unsent() < UPLOAD_BATCH {
            let Some(&block) = self.upload.requests.front() else {
                break;
            };
            if let Some(limit) = &self.shared.upload_limit
                && !limit.try_take(u64::from(block.length))
            {
                // Over the upload limit: the block waits for a later turn.
                self.upload.throttled = true;
                break;
            }
            self.upload.requests.pop_front();
            if !self.torrent.pieces.still_has_piece(block.piece) {
                // Verified when the peer asked, lost since: its file was truncated under
                // us and is being repaired. Never send bytes we cannot vouch for.
                self.reject(block);
                continue;
            }
            let offset = self.torrent.geometry.piece_offset(block.piece) + block.offset as u64;
            let fields = [
                ("piece", u64::from(block.piece)),
                ("offset", u64::from(block.offset)),
                ("length", u64::from(block.length)),
            ];
            self.shared
                .tracer
                .wire(self.addr, Direction::Out, "piece", &fields);
            let out = self.socket.queue();
            out.extend_from_slice(&piece_header(block.piece, block.offset, block.length));
            self.torrent
                .storage
                .read_with(offset, block.length as u64, |bytes| {
                    out.extend_from_slice(bytes)
                })
                .map_err(PeerError::Storage)?;
            let length = block.length as u64;
            self.status.uploaded.fetch_add(length, Ordering::Relaxed);
            self.shared.counters.add_uploaded(length);
        }
        Ok(())
    }
}

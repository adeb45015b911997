//! Super seeding (BEP 16, `--super-seed`): which piece a seeder offers to which peer, so
//! that each peer gets one piece no other peer was given, and the next only once that
//! piece has been seen elsewhere in the swarm.
//!
//! A super-seeding connection sends no bitfield (a Fast peer gets `have_none`) and then a
//! `have` for one piece at a time, chosen here: the piece offered or seen least often,
//! among those offered to no other peer if any. When another peer announces (`have`, or
//! its bitfield) a piece we offered to peer X, X's offer is *released*: X's thread sees it
//! on its next turn (within one tick) and offers X its next piece. A peer only gets the
//! pieces it was offered: its requests for others are refused (`upload.rs`).
//!
//! The peer threads share one [`SuperSeed`] behind a mutex; they take it on a `have`, on
//! a bitfield, and once per loop turn to ask whether their offer was released — never on
//! the per-block path. A peer's own `have` of its offered piece releases the offer only
//! after [`OWN_HAVE_GRACE`], for a last leecher with no one to pass it on to. Super seeding stays on once every piece has been seen (as in
//! libtorrent): a piece whose copies all left the swarm can then still be offered.

use crate::bitfield::Bitfield;
use crate::piece_manager::PeerKey;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long after a peer announced its own offered piece, with no other peer announcing
/// it, its offer is released anyway: a last leecher, with no one left to pass the piece
/// to, must not wait for ever (libtorrent's default, non-strict mode, waits not at all).
pub const OWN_HAVE_GRACE: Duration = Duration::from_secs(10);

/// The super seeder's state, shared by every peer thread of the torrent.
#[derive(Default)]
pub struct SuperSeed {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Per piece: how often we offered it plus how often a peer announced it.
    seen: Vec<u32>,
    /// Each peer's current offer.
    offers: HashMap<PeerKey, Offer>,
    /// Where the next search for the least-seen piece starts, so ties spread out.
    next: u32,
}

/// The piece a peer was last offered, and whether it has since been seen elsewhere.
#[derive(Clone, Copy)]
struct Offer {
    piece: u32,
    released: bool,
    /// When the peer announced the piece itself (see [`OWN_HAVE_GRACE`]).
    own_have: Option<Instant>,
}

impl Offer {
    fn is_released(&self) -> bool {
        self.released
            || self
                .own_have
                .is_some_and(|at| at.elapsed() >= OWN_HAVE_GRACE)
    }
}

impl SuperSeed {
    /// Nothing offered yet.
    pub fn new() -> SuperSeed {
        SuperSeed::default()
    }

    /// True if `peer` has no offer, or its offer was seen elsewhere: it gets a new one.
    pub fn wants_offer(&self, peer: PeerKey) -> bool {
        self.state
            .lock()
            .offers
            .get(&peer)
            .is_none_or(Offer::is_released)
    }

    /// Chooses `peer`'s next piece among those it lacks (`peer_has`, of `pieces` pieces):
    /// the least seen, preferring pieces offered to no one else. `None` if it lacks none.
    pub fn offer(&self, peer: PeerKey, peer_has: &Bitfield, pieces: u32) -> Option<u32> {
        let mut state = self.state.lock();
        state.fit(pieces);
        let offered: Vec<u32> = state
            .offers
            .iter()
            .filter(|(key, _)| **key != peer)
            .map(|(_, offer)| offer.piece)
            .collect();
        let mut best: Option<(bool, u32, u32)> = None;
        for step in 0..pieces {
            let piece = (state.next + step) % pieces;
            if peer_has.has(piece) {
                continue;
            }
            let rank = (offered.contains(&piece), state.seen[piece as usize], piece);
            if best.is_none_or(|b| (rank.0, rank.1) < (b.0, b.1)) {
                best = Some(rank);
            }
        }
        let (_, _, piece) = best?;
        state.next = (piece + 1) % pieces;
        state.seen[piece as usize] += 1;
        let offer = Offer {
            piece,
            released: false,
            own_have: None,
        };
        state.offers.insert(peer, offer);
        Some(piece)
    }

    /// `peer` announced `piece`: it counts as seen, and every other peer it was offered to
    /// gets its next piece.
    pub fn announced(&self, peer: PeerKey, piece: u32, pieces: u32) {
        let mut state = self.state.lock();
        state.fit(pieces);
        state.announced(peer, piece);
    }

    /// `peer` sent a bitfield: each of its pieces is announced.
    pub fn announced_all(&self, peer: PeerKey, has: &Bitfield) {
        let mut state = self.state.lock();
        state.fit(has.len());
        for piece in has.pieces() {
            state.announced(peer, piece);
        }
    }

    /// `peer` has its offered piece already (its bitfield came after our `have`): it gets
    /// another.
    pub fn release(&self, peer: PeerKey) {
        if let Some(offer) = self.state.lock().offers.get_mut(&peer) {
            offer.released = true;
        }
    }

    /// `peer` left: its offer no longer holds its piece back from the others.
    pub fn forget(&self, peer: PeerKey) {
        self.state.lock().offers.remove(&peer);
    }
}

impl State {
    /// Sizes the counts for a torrent of `pieces` pieces (known only once the metadata is).
    fn fit(&mut self, pieces: u32) {
        if self.seen.len() != pieces as usize {
            self.seen.resize(pieces as usize, 0);
        }
    }

    fn announced(&mut self, peer: PeerKey, piece: u32) {
        let Some(count) = self.seen.get_mut(piece as usize) else {
            return;
        };
        *count += 1;
        for (key, offer) in self.offers.iter_mut() {
            if offer.piece != piece {
                continue;
            }
            if *key != peer {
                offer.released = true;
            } else if offer.own_have.is_none() {
                offer.own_have = Some(Instant::now());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_peer_gets_a_piece_no_one_else_has_been_offered() {
        let seed = SuperSeed::new();
        let none = Bitfield::new(4);
        let a = seed.offer(1, &none, 4);
        let b = seed.offer(2, &none, 4);
        let c = seed.offer(3, &none, 4);
        assert!(a.is_some() && b.is_some() && c.is_some());
        assert_ne!(a, b);
        assert_ne!(b, c);
        assert_ne!(a, c);
    }

    #[test]
    fn an_offer_is_released_when_another_peer_announces_it() {
        let seed = SuperSeed::new();
        let none = Bitfield::new(4);
        let a = seed.offer(1, &none, 4).unwrap();
        assert!(!seed.wants_offer(1));
        seed.announced(1, a, 4);
        assert!(!seed.wants_offer(1), "its own have does not release it");
        seed.announced(2, a, 4);
        assert!(seed.wants_offer(1));
        let next = seed.offer(1, &none, 4).unwrap();
        assert_ne!(next, a, "the next offer is a piece less seen");
    }

    #[test]
    fn a_peer_with_every_piece_gets_no_offer() {
        let seed = SuperSeed::new();
        assert_eq!(seed.offer(1, &Bitfield::full(3), 3), None);
    }
}

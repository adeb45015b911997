//! The choker: which peers may download from us (BEP 3, "Incentives Build Robustness").
//!
//! Pure: it takes a snapshot of the peers and their rates and returns whom to unchoke; the
//! peer manager runs it and passes the verdicts to the peer threads. So it is tested
//! without a single socket.
//!
//! Every round (every 10 s):
//! * the [`REGULAR_SLOTS`] interested peers with the best rate are unchoked: while
//!   downloading, the peers that upload to *us* fastest (tit for tat); while seeding, the
//!   peers *we* upload to fastest (they make the best use of our bandwidth);
//! * a peer that unchokes us but has sent nothing for a while is *snubbed*: it gets no
//!   regular slot;
//! * one more interested peer gets the *optimistic unchoke*, so newcomers (who have nothing
//!   to trade yet) get a start and we discover faster peers. It moves every
//!   [`OPTIMISTIC_ROUNDS`] rounds (30 s), and new peers are three times as likely to get it.
//!
//! Everyone else is choked.
//!
//! Between rounds, [`fill_free_slots`] lets a peer that just became interested have a
//! slot nobody holds (of the [`REGULAR_SLOTS`] + 1) at once, so a newcomer does not wait
//! up to a round for its first block; it takes no slot from anyone.

use crate::piece_manager::PeerKey;
use crate::random::Rng;

/// Peers unchoked for their rate.
pub const REGULAR_SLOTS: usize = 4;
/// Rounds between moves of the optimistic unchoke (rounds are 10 s apart).
pub const OPTIMISTIC_ROUNDS: u32 = 3;
/// How much likelier a new peer is to get the optimistic unchoke.
const NEW_PEER_WEIGHT: u64 = 3;

/// One peer as the choker sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub key: PeerKey,
    /// The peer wants something we have.
    pub interested: bool,
    /// Bytes per second: from the peer while we download, to the peer while we seed.
    pub rate: u64,
    /// It unchokes us but sends nothing.
    pub snubbed: bool,
    /// Connected recently.
    pub new: bool,
}

/// The choker's memory between rounds: who has the optimistic slot, and since when.
#[derive(Debug)]
pub struct Choker {
    optimistic: Option<PeerKey>,
    rounds: u32,
    rng: Rng,
}

impl Choker {
    pub fn new(rng: Rng) -> Choker {
        Choker {
            optimistic: None,
            rounds: 0,
            rng,
        }
    }

    /// The peer holding the optimistic unchoke, if any.
    pub fn optimistic(&self) -> Option<PeerKey> {
        self.optimistic
    }

    /// One round: the keys of the peers to unchoke.
    pub fn round(&mut self, peers: &[Candidate]) -> Vec<PeerKey> {
        let mut unchoked = regular(peers);
        let holder_still_fits = self.optimistic.is_some_and(|key| {
            !unchoked.contains(&key) && peers.iter().any(|p| p.key == key && p.interested)
        });
        if self.rounds.is_multiple_of(OPTIMISTIC_ROUNDS) || !holder_still_fits {
            self.optimistic = self.pick_optimistic(peers, &unchoked);
        }
        self.rounds += 1;
        if let Some(key) = self.optimistic {
            unchoked.push(key);
        }
        unchoked
    }

    /// A weighted random interested peer that has no regular slot.
    fn pick_optimistic(&mut self, peers: &[Candidate], regular: &[PeerKey]) -> Option<PeerKey> {
        let weight = |p: &Candidate| if p.new { NEW_PEER_WEIGHT } else { 1 };
        let eligible: Vec<&Candidate> = peers
            .iter()
            .filter(|p| p.interested && !regular.contains(&p.key))
            .collect();
        let total: u64 = eligible.iter().map(|p| weight(p)).sum();
        if total == 0 {
            return None;
        }
        let mut ticket = self.rng.next_u64() % total;
        for peer in eligible {
            if ticket < weight(peer) {
                return Some(peer.key);
            }
            ticket -= weight(peer);
        }
        None
    }
}

/// One peer as [`fill_free_slots`] sees it, between two rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub key: PeerKey,
    /// The peer may download from us now (the last verdict).
    pub unchoked: bool,
    /// The peer wants something we have.
    pub interested: bool,
}

/// Between rounds: the peers to unchoke now. Everyone unchoked stays so; interested peers
/// that are choked get the slots left free (of [`REGULAR_SLOTS`] + 1), in the order given,
/// until none is left. Rates are not looked at: the next round ranks the newcomers.
pub fn fill_free_slots(peers: &[Standing]) -> Vec<PeerKey> {
    let mut unchoked: Vec<PeerKey> = peers.iter().filter(|p| p.unchoked).map(|p| p.key).collect();
    let free = (REGULAR_SLOTS + 1).saturating_sub(unchoked.len());
    let waiting = peers.iter().filter(|p| p.interested && !p.unchoked);
    unchoked.extend(waiting.take(free).map(|p| p.key));
    unchoked
}

/// The interested, unsnubbed peers with the best rates (ties: lower key first).
fn regular(peers: &[Candidate]) -> Vec<PeerKey> {
    let mut ranked: Vec<&Candidate> = peers
        .iter()
        .filter(|p| p.interested && !p.snubbed)
        .collect();
    ranked.sort_by(|a, b| b.rate.cmp(&a.rate).then(a.key.cmp(&b.key)));
    ranked
        .into_iter()
        .take(REGULAR_SLOTS)
        .map(|p| p.key)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(key: PeerKey, rate: u64) -> Candidate {
        Candidate {
            key,
            interested: true,
            rate,
            snubbed: false,
            new: false,
        }
    }

    fn sorted(mut keys: Vec<PeerKey>) -> Vec<PeerKey> {
        keys.sort();
        keys
    }

    #[test]
    fn the_four_fastest_interested_peers_get_regular_slots() {
        let peers: Vec<Candidate> = (1..=8).map(|k| peer(k, k * 100)).collect();
        assert_eq!(regular(&peers), vec![8, 7, 6, 5]);
        let mut choker = Choker::new(Rng::with_seed(1));
        let unchoked = choker.round(&peers);
        assert_eq!(unchoked.len(), 5, "four regular slots and one optimistic");
        let optimistic = choker.optimistic().unwrap();
        assert!(
            (1..=4).contains(&optimistic),
            "optimistic goes to a slower peer"
        );
        assert_eq!(sorted(unchoked), sorted(vec![5, 6, 7, 8, optimistic]));
    }

    #[test]
    fn uninterested_and_snubbed_peers_get_no_regular_slot() {
        let mut peers = vec![peer(1, 900), peer(2, 800), peer(3, 10)];
        peers[0].interested = false;
        peers[1].snubbed = true;
        assert_eq!(regular(&peers), vec![3]);
        let mut choker = Choker::new(Rng::with_seed(2));
        let unchoked = choker.round(&peers);
        assert!(
            !unchoked.contains(&1),
            "never unchoke a peer that wants nothing"
        );
        assert_eq!(
            choker.optimistic(),
            Some(2),
            "a snubbed peer may only get lucky"
        );
    }

    #[test]
    fn the_optimistic_unchoke_moves_every_third_round() {
        let peers: Vec<Candidate> = (1..=20)
            .map(|k| peer(k, if k <= 4 { 1000 } else { 0 }))
            .collect();
        let mut choker = Choker::new(Rng::with_seed(3));
        let mut holders = Vec::new();
        for _ in 0..30 {
            choker.round(&peers);
            holders.push(choker.optimistic().unwrap());
        }
        for window in holders.chunks(3) {
            assert!(
                window.iter().all(|k| *k == window[0]),
                "held for 3 rounds: {holders:?}"
            );
        }
        let distinct: std::collections::HashSet<_> = holders.iter().collect();
        assert!(
            distinct.len() > 3,
            "it rotates among the slow peers: {holders:?}"
        );
        assert!(
            holders.iter().all(|k| *k > 4),
            "never one of the regular four"
        );
    }

    #[test]
    fn new_peers_are_likelier_to_get_the_optimistic_unchoke() {
        // Peer 1..4 hold the regular slots; 5 is new, 6..=9 are old and equally slow.
        let mut peers: Vec<Candidate> = (1..=9)
            .map(|k| peer(k, if k <= 4 { 1000 } else { 0 }))
            .collect();
        peers[4].new = true;
        let mut choker = Choker::new(Rng::with_seed(4));
        let mut counts = [0u32; 10];
        for _ in 0..3000 {
            choker.round(&peers);
            counts[choker.optimistic().unwrap() as usize] += 1;
        }
        // Weight 3 of 7: about 43% for the new peer, about 14% for each old one.
        assert!(counts[5] > 2 * counts[6], "new peer {counts:?}");
        assert!(counts[5] > 2 * counts[9], "new peer {counts:?}");
    }

    #[test]
    fn a_holder_that_loses_interest_is_replaced_at_once() {
        let mut peers = vec![peer(1, 0), peer(2, 0)];
        let mut choker = Choker::new(Rng::with_seed(5));
        // Fill the regular slots with faster peers so 1 and 2 compete for the optimistic one.
        peers.extend((10..14).map(|k| peer(k, 500)));
        choker.round(&peers);
        let first = choker.optimistic().unwrap();
        for p in peers.iter_mut().filter(|p| p.key == first) {
            p.interested = false;
        }
        choker.round(&peers);
        let second = choker.optimistic().unwrap();
        assert_ne!(first, second);
    }

    fn standing(key: PeerKey, unchoked: bool, interested: bool) -> Standing {
        Standing {
            key,
            unchoked,
            interested,
        }
    }

    #[test]
    fn a_newly_interested_peer_gets_a_free_slot_at_once() {
        let peers = [standing(1, true, true), standing(2, false, true)];
        assert_eq!(fill_free_slots(&peers), vec![1, 2]);
    }

    #[test]
    fn free_slots_are_filled_in_order_up_to_the_five_slots() {
        let mut peers = vec![standing(1, true, true), standing(2, true, false)];
        peers.extend((3..=8).map(|k| standing(k, false, true)));
        assert_eq!(
            fill_free_slots(&peers),
            vec![1, 2, 3, 4, 5],
            "three free slots, to the first three waiting; the unchoked keep theirs"
        );
    }

    #[test]
    fn no_free_slot_changes_nothing_and_takes_none_away() {
        let mut peers: Vec<Standing> = (1..=6).map(|k| standing(k, true, k != 3)).collect();
        peers.push(standing(7, false, true));
        assert_eq!(
            fill_free_slots(&peers),
            vec![1, 2, 3, 4, 5, 6],
            "more unchoked than slots (the last round's doing): all stay, 7 waits"
        );
    }

    #[test]
    fn peers_that_want_nothing_get_no_free_slot() {
        let peers = [standing(1, false, false), standing(2, false, false)];
        assert!(fill_free_slots(&peers).is_empty());
        assert!(fill_free_slots(&[]).is_empty());
    }

    #[test]
    fn nobody_interested_means_nobody_unchoked() {
        let mut peers = vec![peer(1, 100), peer(2, 100)];
        peers.iter_mut().for_each(|p| p.interested = false);
        let mut choker = Choker::new(Rng::with_seed(6));
        assert!(choker.round(&peers).is_empty());
        assert!(choker.round(&[]).is_empty());
    }
}

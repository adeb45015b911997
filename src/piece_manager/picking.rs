//! The piece manager's picking policy: which blocks a peer should ask for next, and the
//! table it is decided from (how many connected peers have each piece).
//!
//! Whole pieces at a time: first the free blocks of pieces already started (so pieces
//! finish and can be shared), then a new piece the peer has (one it suggested, else random
//! for the first few, then rarest first), and at the very end the endgame, where blocks already requested
//! from slower peers are asked for again. Blocks handed out are `Requested` by that peer
//! until they arrive or the peer gives them back ([`PieceManager::return_blocks`]). All
//! of it runs under the piece manager's lock and only reads and updates its tables.

use super::*;

impl PieceManager {
    /// Counts a new peer's pieces into the availability table.
    pub fn add_peer_pieces(&self, has: &Bitfield) {
        let mut state = self.state.lock();
        for piece in has.pieces() {
            let count = &mut state.availability[piece as usize];
            *count = count.saturating_add(1);
        }
    }

    /// Counts one `have` from a peer (the caller checked the index).
    pub fn add_peer_piece(&self, piece: u32) {
        let mut state = self.state.lock();
        if let Some(count) = state.availability.get_mut(piece as usize) {
            *count = count.saturating_add(1);
        }
    }

    /// Removes a departing peer's pieces from the availability table.
    pub fn remove_peer_pieces(&self, has: &Bitfield) {
        let mut state = self.state.lock();
        for piece in has.pieces() {
            let count = &mut state.availability[piece as usize];
            *count = count.saturating_sub(1);
        }
    }

    /// The pieces still to fetch (missing or under way) that no connected peer has: why a
    /// download can stall. One pass over the table, so the main loop asks rarely.
    pub fn unavailable_missing(&self) -> Vec<u32> {
        let state = self.state.lock();
        let wanted = |(piece, s): (usize, &PieceState)| {
            let fetch = matches!(s, PieceState::Missing | PieceState::Active);
            (fetch && state.availability.get(piece) == Some(&0)).then_some(piece as u32)
        };
        state.pieces.iter().enumerate().filter_map(wanted).collect()
    }

    /// Chooses up to `want` blocks for `peer` to request, given the pieces it `has` and the
    /// blocks it already has in flight (`in_flight`, so the endgame never asks one peer
    /// twice). Appends them to `out` and marks them requested.
    pub fn pick_blocks(
        &self,
        peer: PeerKey,
        has: &Bitfield,
        in_flight: &[BlockRef],
        want: usize,
        out: &mut Vec<BlockRef>,
    ) {
        self.pick_blocks_preferring(peer, has, in_flight, &[], want, out);
    }

    /// Like [`pick_blocks`](Self::pick_blocks), but a new piece is the first of `preferred`
    /// that is missing and that the peer has, if any, before the random or rarest choice:
    /// the pieces a peer suggested (BEP 6's `suggest_piece`, a hint that they are cheap for
    /// it to send).
    pub fn pick_blocks_preferring(
        &self,
        peer: PeerKey,
        has: &Bitfield,
        in_flight: &[BlockRef],
        preferred: &[u32],
        want: usize,
        out: &mut Vec<BlockRef>,
    ) {
        let mut state = self.state.lock();
        let target = out.len() + want;
        state.pick_from_active(peer, has, target, out);
        while out.len() < target {
            let next = state.choose_preferred(has, preferred);
            let Some(piece) = next.or_else(|| state.choose_new_piece(has)) else {
                break;
            };
            state.activate(piece);
            state.pick_from_active(peer, has, target, out);
        }
        if out.len() < target && state.in_endgame() {
            state.pick_endgame(has, in_flight, target, out);
        }
    }

    /// Gives back blocks `peer` had requested but will not deliver (it choked us or left).
    pub fn return_blocks(&self, peer: PeerKey, blocks: &[BlockRef]) {
        let mut state = self.state.lock();
        for block in blocks {
            let Some(index) = state
                .geometry
                .block_index(block.piece, block.offset, block.length)
            else {
                continue;
            };
            if let Some(partial) = state.partials.get_mut(&block.piece) {
                let slot = &mut partial.blocks[index as usize];
                if *slot == (BlockState::Requested { by: peer }) {
                    *slot = BlockState::Free;
                }
            }
        }
        // A peer that gives its blocks back (it choked us or left) also gives up the
        // exclusive pieces it owned, even half-fetched ones: else nobody could finish them.
        for partial in state.partials.values_mut() {
            if partial.owner == Some(peer) {
                partial.owner = None;
            }
        }
    }
}

impl State {
    /// Takes free blocks from active pieces the peer has, lowest piece index first.
    pub(super) fn pick_from_active(
        &mut self,
        peer: PeerKey,
        has: &Bitfield,
        target: usize,
        out: &mut Vec<BlockRef>,
    ) {
        let mut active: Vec<u32> = self
            .partials
            .keys()
            .copied()
            .filter(|&piece| has.has(piece))
            .collect();
        active.sort_unstable();
        for piece in active {
            let Some(partial) = self.partials.get_mut(&piece) else {
                continue;
            };
            if partial.exclusive {
                match partial.owner {
                    Some(owner) if owner != peer => continue,
                    _ => partial.owner = Some(peer),
                }
            }
            for (index, slot) in partial.blocks.iter_mut().enumerate() {
                if out.len() >= target {
                    return;
                }
                if *slot == BlockState::Free {
                    *slot = BlockState::Requested { by: peer };
                    out.push(self.geometry.block(piece, index as u32));
                }
            }
        }
    }

    /// The first of `preferred` that is missing and that the peer has.
    fn choose_preferred(&self, has: &Bitfield, preferred: &[u32]) -> Option<u32> {
        preferred.iter().copied().find(|&piece| {
            has.has(piece) && self.pieces.get(piece as usize) == Some(&PieceState::Missing)
        })
    }

    /// A missing piece the peer has: random at first, then rarest first (ties broken by
    /// starting the scan at a random place).
    pub(super) fn choose_new_piece(&mut self, has: &Bitfield) -> Option<u32> {
        let count = self.pieces.len();
        if count == 0 {
            return None;
        }
        let start = self.rng.below(count);
        let random_phase = self.verified.count() < RANDOM_FIRST_PIECES;
        let mut best: Option<(u16, u32)> = None;
        for step in 0..count {
            let piece = ((start + step) % count) as u32;
            if self.pieces[piece as usize] != PieceState::Missing || !has.has(piece) {
                continue;
            }
            if random_phase {
                return Some(piece);
            }
            let rarity = self.availability[piece as usize];
            // This peer has the piece, so no piece it has is rarer than one only it has:
            // stop there. With one seeder every piece is such, and the scan, which would
            // otherwise visit every piece for every piece started (quadratic in the piece
            // count), ends at the first missing one.
            if rarity <= 1 {
                return Some(piece);
            }
            if best.is_none_or(|(fewest, _)| rarity < fewest) {
                best = Some((rarity, piece));
            }
        }
        best.map(|(_, piece)| piece)
    }

    pub(super) fn activate(&mut self, piece: u32) {
        let blocks = self.geometry.blocks_in_piece(piece) as usize;
        self.pieces[piece as usize] = PieceState::Active;
        self.partials.insert(
            piece,
            Partial {
                blocks: vec![BlockState::Free; blocks],
                written: 0,
                contributors: Vec::new(),
                exclusive: self.failed[piece as usize],
                owner: None,
            },
        );
    }

    /// Endgame: no piece is left to start.
    pub(super) fn in_endgame(&self) -> bool {
        !self.pieces.contains(&PieceState::Missing)
    }

    /// Endgame picks: blocks requested from other peers, which this peer has not asked for.
    pub(super) fn pick_endgame(
        &mut self,
        has: &Bitfield,
        in_flight: &[BlockRef],
        target: usize,
        out: &mut Vec<BlockRef>,
    ) {
        let geometry = self.geometry;
        let mut pieces: Vec<u32> = self.partials.keys().copied().collect();
        pieces.sort_unstable();
        for piece in pieces.into_iter().filter(|&piece| has.has(piece)) {
            let Some(partial) = self.partials.get(&piece) else {
                continue;
            };
            if partial.exclusive {
                continue;
            }
            for (index, slot) in partial.blocks.iter().enumerate() {
                if out.len() >= target {
                    return;
                }
                let block = geometry.block(piece, index as u32);
                if matches!(slot, BlockState::Requested { .. })
                    && !in_flight.contains(&block)
                    && !out.contains(&block)
                {
                    out.push(block);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;

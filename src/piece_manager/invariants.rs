//! The piece manager's consistency checks: every table agrees with the others (debug
//! builds and tests only, after each transition).

use super::{BlockState, PieceManager, PieceState, State};

impl PieceManager {
    /// Panics if the tables contradict each other (debug builds and tests only).
    pub fn check_invariants(&self) {
        self.state.lock().check_invariants();
    }
}

impl State {
    /// See [`PieceManager::check_invariants`].
    pub(super) fn check_invariants(&self) {
        let (mut verified_bytes, mut wanted_missing) = (0, 0);
        for (piece, state) in self.pieces.iter().enumerate() {
            let piece = piece as u32;
            let partial = self.partials.get(&piece);
            match state {
                PieceState::Missing => {
                    assert!(partial.is_none(), "missing piece {piece} has blocks")
                }
                PieceState::Skipped => {
                    assert!(partial.is_none(), "skipped piece {piece} has blocks");
                    assert!(!self.wanted.has(piece), "wanted piece {piece} is skipped");
                }
                PieceState::Active | PieceState::Hashing => {
                    let partial =
                        partial.unwrap_or_else(|| panic!("piece {piece} lost its blocks"));
                    let written = partial
                        .blocks
                        .iter()
                        .filter(|b| **b == BlockState::Written)
                        .count() as u32;
                    assert_eq!(written, partial.written, "piece {piece} written count");
                }
                PieceState::Verified => {
                    assert!(partial.is_none(), "verified piece {piece} has blocks");
                    assert!(
                        self.verified.has(piece),
                        "piece {piece} verified but not in bitfield"
                    );
                    if self.wanted.has(piece) {
                        verified_bytes += self.geometry.piece_size(piece) as u64;
                    }
                }
            }
            if *state != PieceState::Verified && self.wanted.has(piece) {
                wanted_missing += 1;
            }
            if *state != PieceState::Verified {
                assert!(
                    !self.verified.has(piece),
                    "bitfield claims unverified piece {piece}"
                );
            }
        }
        assert_eq!(verified_bytes, self.verified_bytes);
        assert_eq!(wanted_missing, self.wanted_missing);
    }
}

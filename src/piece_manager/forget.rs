//! Forgetting a piece whose bytes another program cut from its file: the one way back
//! from `Verified` (the block saver's truncation repair, `block_saver::repair`).

use super::{BlockState, PieceManager, PieceState};
use std::sync::atomic::Ordering;

impl PieceManager {
    /// Piece `piece` lost bytes on disk (another program truncated its file under us), so
    /// what we knew of it no longer holds. A verified piece goes back to `Missing` and is
    /// fetched again (the one exception to "a verified piece never changes"; the block
    /// saver calls this, and only while it repairs a file). An active or hashing piece
    /// becomes active with its `Written` blocks `Free` again; its requested and received
    /// blocks are kept, since they are still on their way to the saver. Returns true if
    /// the piece was verified, so its bytes count as left again.
    pub fn forget_piece(&self, piece: u32) -> bool {
        let mut state = self.state.lock();
        let was_verified = match state.pieces.get(piece as usize) {
            Some(PieceState::Verified) => {
                self.forgotten.fetch_add(1, Ordering::Relaxed);
                state.verified.clear(piece);
                if state.wanted.has(piece) {
                    state.pieces[piece as usize] = PieceState::Missing;
                    state.verified_bytes -= state.geometry.piece_size(piece) as u64;
                    state.wanted_missing += 1;
                } else {
                    state.pieces[piece as usize] = PieceState::Skipped;
                }
                true
            }
            Some(PieceState::Active | PieceState::Hashing) => {
                state.pieces[piece as usize] = PieceState::Active;
                if let Some(partial) = state.partials.get_mut(&piece) {
                    for slot in &mut partial.blocks {
                        if *slot == BlockState::Written {
                            *slot = BlockState::Free;
                        }
                    }
                    partial.written = 0;
                }
                false
            }
            Some(PieceState::Missing | PieceState::Skipped) | None => false,
        };
        #[cfg(debug_assertions)]
        state.check_invariants();
        was_verified
    }
}

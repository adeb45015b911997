//! Repairing a file that another program truncated while we used it.
//!
//! Storage notes such a file when an access finds it short (a SIGBUS absorbed in a window,
//! a map or a flush that sees the length fall short) and returns
//! `StorageError::Truncated` to whoever made the access. The block saver repairs it, since
//! it is the only thread that writes, so no block lands in the file while it is repaired.
//! First it drains the hasher: every piece queued there gets its verdict before the repair
//! starts, and none is queued while it runs (only the saver queues pieces). So the repair
//! never forgets a piece that a verdict given a moment later would mark verified again.
//! (A piece whose hashing hit the truncation got no verdict and is still `Hashing`.)
//! Then, with the hasher idle, the repair hashes on the saver's own thread:
//!
//! 1. Forget what the file lost, *before* it looks whole again: every verified piece that
//!    reaches into the lost bytes goes back to missing (the bytes-left counter grows
//!    back), and every piece under way that touches the file drops its written blocks.
//!    Forgetting first keeps the resume recorder honest: a snapshot of the verified pieces
//!    taken after this point no longer lists them.
//! 2. Restore the file's length and disk reservation (the lost bytes read as zeros).
//! 3. Hash every other verified piece that touches the file; one that no longer matches
//!    (the other program also wrote into it) is forgotten too.
//!
//! The forgotten pieces are then picked and fetched like any missing piece. Uploads keep
//! going meanwhile: a peer thread whose read hits the zero page gets the error and drops
//! that connection, never sending the zeros. (A request accepted before the repair and
//! served after it is not asked again whether its piece is still verified: it would read
//! the restored zeros. That check belongs to the upload side.) A flush that finds a
//! written file short fails too, so the recorder records nothing until the repair.

use super::Saver;
use super::hasher::piece_matches;
use crate::geometry::BlockRef;
use crate::storage::StorageError;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How long the saver waits for a block before it looks for files that other threads
/// found truncated.
pub const POLL: Duration = Duration::from_millis(500);

impl Saver {
    /// Saves a block like `save`; if a file turns out truncated, repairs it and writes
    /// the block again (its data is still here, and its piece still expects it).
    pub(super) fn save_or_repair(&self, block: BlockRef, data: &[u8]) -> Result<(), StorageError> {
        self.repair_truncated()?;
        match self.save(block, data) {
            Err(StorageError::Truncated { .. }) => {
                self.repair_truncated()?;
                self.save(block, data)
            }
            saved => saved,
        }
    }

    /// Repairs every file found truncated so far (by any thread), once the hasher is idle.
    pub(super) fn repair_truncated(&self) -> Result<(), StorageError> {
        let Some(mut file) = self.shared.storage.next_truncated() else {
            return Ok(());
        };
        self.hasher.drain();
        // Draining may have noted more files (the hasher hit a truncation too): they
        // are repaired in the same turn.
        loop {
            self.repair(file)?;
            match self.shared.storage.next_truncated() {
                Some(next) => file = next,
                None => return Ok(()),
            }
        }
    }

    /// The three steps of the module doc, for file `file`.
    fn repair(&self, file: usize) -> Result<(), StorageError> {
        let shared = &self.shared;
        let truncation = shared.storage.truncation(file)?;
        let path = truncation.path.display();
        log::warn!("{path} was truncated while in use; rechecking it");
        let span = truncation.span.clone();
        let pieces = shared
            .geometry
            .pieces_touching(span.start, span.end - span.start);
        let mut forgotten = 0;
        for piece in pieces.clone() {
            let start = shared.geometry.piece_offset(piece);
            let end = start + shared.geometry.piece_size(piece) as u64;
            let lost_bytes = start < truncation.lost.end && truncation.lost.start < end;
            if lost_bytes || !shared.pieces.has_piece(piece) {
                forgotten += u32::from(self.forget(piece));
            }
        }
        shared.storage.restore(file)?;
        for piece in pieces.clone() {
            if !shared.pieces.has_piece(piece) {
                continue;
            }
            let intact =
                match piece_matches(&shared.storage, &shared.geometry, &shared.hashes, piece) {
                    Ok(matches) => matches,
                    // Cut short again, or another file of the piece was: its turn comes next.
                    Err(StorageError::Truncated { .. }) => false,
                    Err(error) => return Err(error),
                };
            if !intact {
                forgotten += u32::from(self.forget(piece));
            }
        }
        log::warn!(
            "{path}: {forgotten} of its {} pieces were lost and will be fetched again",
            pieces.len()
        );
        Ok(())
    }

    /// Forgets `piece` in the piece manager; true if it had been verified.
    fn forget(&self, piece: u32) -> bool {
        let shared = &self.shared;
        let was_verified = shared.pieces.forget_piece(piece);
        if was_verified {
            let size = shared.geometry.piece_size(piece) as u64;
            shared.counters.left.fetch_add(size, Ordering::Relaxed);
        }
        was_verified
    }
}

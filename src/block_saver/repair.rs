//! Repairing a file that another program truncated while we used it.
//!
//! Storage notes such a file when an access finds it short (a SIGBUS absorbed in a window,
//! a map or a flush that sees the length fall short) and returns
//! `StorageError::Truncated` to whoever made the access. The repair is the same three
//! steps wherever it happens ([`repair_file`]), run over whatever says which pieces are
//! verified ([`Verified`]). Two parts of the program run it:
//!
//! * The check of the data already on disk (`verify`), on the main thread before any
//!   other thread starts, for a file cut short while it hashes: its record is the bitfield
//!   it is building. Nothing else reads or writes the files then.
//! * The block saver, once the download runs: it is the only thread that writes, so no
//!   block lands in the file while it is repaired. Its record is the piece manager. First
//!   it drains the hasher: every piece queued there gets its verdict before the repair
//!   starts, and none is queued while it runs (only the saver queues pieces). So the
//!   repair never forgets a piece that a verdict given a moment later would mark verified
//!   again. (A piece whose hashing hit the truncation got no verdict and is still
//!   `Hashing`.) Then, with the hasher idle, the repair hashes on the saver's own thread.
//!
//! The steps:
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
//! The forgotten pieces are then picked and fetched like any missing piece. During a
//! download, uploads keep going meanwhile: a peer thread whose read hits the zero page
//! gets the error and drops that connection, never sending the zeros. A request accepted
//! before the repair and served after it is asked again whether its piece is still
//! verified (`PieceManager::still_has_piece`, in `peer/upload.rs`), so the restored zeros
//! are not sent either. A flush that finds a written file short fails too, so the
//! recorder records nothing until the repair.

use super::Command;
use super::Saver;
use super::hasher::piece_matches;
use crate::geometry::Geometry;
use crate::piece_manager::PieceManager;
use crate::stats::Counters;
use crate::storage::{Storage, StorageError};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How long the saver waits for a block before it looks for files that other threads
/// found truncated.
pub const POLL: Duration = Duration::from_millis(500);

/// Which pieces are verified, as a repair reads and changes it.
pub trait Verified {
    /// True if `piece` counts as verified.
    fn has(&self, piece: u32) -> bool;
    /// Forgets what is known of `piece` (verified, or blocks of it written); true if it
    /// counted as verified.
    fn forget(&mut self, piece: u32) -> bool;
}

/// The three steps of the module doc, for file `file`, on the verified pieces `pieces`.
pub fn repair_file(
    storage: &Storage,
    geometry: &Geometry,
    hashes: &[[u8; 20]],
    file: usize,
    pieces: &mut impl Verified,
) -> Result<(), StorageError> {
    let truncation = storage.truncation(file)?;
    let path = truncation.path.display();
    log::warn!("{path} was truncated while in use; rechecking it");
    let span = truncation.span.clone();
    let touching = geometry.pieces_touching(span.start, span.end - span.start);
    let mut forgotten = 0;
    for piece in touching.clone() {
        let start = geometry.piece_offset(piece);
        let end = start + geometry.piece_size(piece) as u64;
        let lost_bytes = start < truncation.lost.end && truncation.lost.start < end;
        if lost_bytes || !pieces.has(piece) {
            forgotten += u32::from(pieces.forget(piece));
        }
    }
    storage.restore(file)?;
    for piece in touching.clone() {
        if !pieces.has(piece) {
            continue;
        }
        let intact = match piece_matches(storage, geometry, hashes, piece) {
            Ok(matches) => matches,
            // Cut short again, or another file of the piece was: its turn comes next.
            Err(StorageError::Truncated { .. }) => false,
            Err(error) => return Err(error),
        };
        if !intact {
            forgotten += u32::from(pieces.forget(piece));
        }
    }
    log::warn!(
        "{path}: {forgotten} of its {} pieces were lost and will be fetched again",
        touching.len()
    );
    Ok(())
}

/// The piece manager, as the saver's repair sees it: forgetting a verified piece also
/// counts its bytes as left again.
struct Managed<'a> {
    pieces: &'a PieceManager,
    counters: &'a Counters,
    geometry: &'a Geometry,
}

impl Verified for Managed<'_> {
    fn has(&self, piece: u32) -> bool {
        self.pieces.has_piece(piece)
    }

    fn forget(&mut self, piece: u32) -> bool {
        let was_verified = self.pieces.forget_piece(piece);
        if was_verified {
            let size = self.geometry.piece_size(piece) as u64;
            self.counters.left.fetch_add(size, Ordering::Relaxed);
        }
        was_verified
    }
}

impl Saver {
    /// Saves a run of blocks like `save`; if a file turns out truncated, repairs it and
    /// writes the run again (its data is still here, and its pieces still expect it). The
    /// look for files another thread found truncated, before the write, costs one atomic
    /// load while there is none (`Storage::next_truncated`).
    pub(super) fn save_or_repair(&self, run: &[Command]) -> Result<(), StorageError> {
        self.repair_truncated()?;
        match self.save(run) {
            Err(StorageError::Truncated { .. }) => {
                self.repair_truncated()?;
                self.save(run)
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
        let shared = &self.shared;
        let mut managed = Managed {
            pieces: &shared.pieces,
            counters: &shared.counters,
            geometry: &shared.geometry,
        };
        // Draining may have noted more files (the hasher hit a truncation too): they
        // are repaired in the same turn.
        loop {
            repair_file(
                &shared.storage,
                &shared.geometry,
                &shared.hashes,
                file,
                &mut managed,
            )?;
            match shared.storage.next_truncated() {
                Some(next) => file = next,
                None => return Ok(()),
            }
        }
    }
}

//! Checking data already on disk against the piece hashes (before a download resumes, and
//! before seeding). Runs on every core ([`crate::hash_pool`]), each thread hashing every
//! n-th piece straight from the map, while the calling thread reports progress.
//!
//! Another program may truncate a file while it is checked. A piece whose hashing finds
//! its file short gets no verdict, and storage notes the file. Once every piece has had
//! its turn, [`check_listed`] repairs each noted file as the block saver would during the
//! download (`block_saver::repair`): the pieces that lost bytes are missing, the file gets
//! its length and disk reservation back, and its other pieces are hashed again, those
//! without a verdict included. So the download (or the seeding) starts with every file at
//! its length, and counts only pieces whose bytes matched. [`check_pieces`] (for
//! `smalltorrent verify`, which changes nothing on disk) returns the truncation as an
//! error instead.

use crate::bitfield::Bitfield;
use crate::block_saver::hasher::piece_matches;
use crate::block_saver::repair::{Verified, repair_file};
use crate::geometry::Geometry;
use crate::hash_pool;
use crate::storage::{Storage, StorageError};
use std::sync::atomic::{AtomicU32, Ordering};

/// Hashes the pieces in `which` (every piece if `None`) and returns the ones that match.
/// `on_progress(done, total)` is called from the calling thread now and then. A file
/// truncated meanwhile is an error.
pub fn check_pieces(
    storage: &Storage,
    geometry: &Geometry,
    hashes: &[[u8; 20]],
    which: Option<&Bitfield>,
    on_progress: impl FnMut(u32, u32),
) -> Result<Bitfield, StorageError> {
    let verdicts = hash_listed(storage, geometry, hashes, which, on_progress)?;
    match verdicts.truncated {
        Some(error) => Err(error),
        None => Ok(verdicts.good),
    }
}

/// For a download or seeding: hashes the pieces set in `which`, adds the `trusted` ones
/// (the resume file vouches for them), repairs the files truncated meanwhile (see the
/// module doc) and returns the pieces that are there.
pub fn check_listed(
    storage: &Storage,
    geometry: &Geometry,
    hashes: &[[u8; 20]],
    which: &Bitfield,
    trusted: &Bitfield,
    on_progress: impl FnMut(u32, u32),
) -> Result<Bitfield, StorageError> {
    let mut verdicts = hash_listed(storage, geometry, hashes, Some(which), on_progress)?;
    for piece in trusted.pieces() {
        verdicts.good.set(piece);
    }
    while let Some(file) = storage.next_truncated() {
        repair_file(storage, geometry, hashes, file, &mut verdicts)?;
    }
    // Every file noted is repaired, so every piece still without a verdict was hashed
    // again by its file's repair, and matched (see `Verified for Verdicts`).
    let mut have = verdicts.good;
    for piece in verdicts.unread.pieces() {
        have.set(piece);
    }
    Ok(have)
}

/// What a check found so far.
struct Verdicts {
    /// Pieces whose bytes matched their SHA-1.
    good: Bitfield,
    /// Pieces whose hashing found a file truncated: no verdict yet.
    unread: Bitfield,
    /// The first of those truncations, for a check that cannot repair it.
    truncated: Option<StorageError>,
}

impl Verdicts {
    fn new(pieces: u32) -> Verdicts {
        Verdicts {
            good: Bitfield::new(pieces),
            unread: Bitfield::new(pieces),
            truncated: None,
        }
    }

    /// Adds what another worker found.
    fn merge(&mut self, other: Verdicts) {
        for piece in other.good.pieces() {
            self.good.set(piece);
        }
        for piece in other.unread.pieces() {
            self.unread.set(piece);
        }
        self.truncated = self.truncated.take().or(other.truncated);
    }
}

/// A piece without a verdict counts as verified for a repair: the repair of its file
/// forgets it if it lost bytes, and otherwise hashes it again (step 3), forgetting it
/// unless it matches. Once its file is repaired, a piece still `unread` has matched.
impl Verified for Verdicts {
    fn has(&self, piece: u32) -> bool {
        self.good.has(piece) || self.unread.has(piece)
    }

    fn forget(&mut self, piece: u32) -> bool {
        let had = self.has(piece);
        self.good.clear(piece);
        self.unread.clear(piece);
        had
    }
}

/// Hashes the pieces set in `which` (all if `None`), on every core (see
/// [`crate::hash_pool`]): share `i` of `n` checks pieces `i`, `i + n`, `i + 2n`...
fn hash_listed(
    storage: &Storage,
    geometry: &Geometry,
    hashes: &[[u8; 20]],
    which: Option<&Bitfield>,
    mut on_progress: impl FnMut(u32, u32),
) -> Result<Verdicts, StorageError> {
    let workers = hash_pool::threads();
    let total = geometry.piece_count;
    let done = AtomicU32::new(0);
    let results = hash_pool::run(
        "verify",
        workers,
        |worker| {
            let share = (worker as u32, workers as u32);
            check_share(storage, geometry, hashes, which, share, &done)
        },
        || on_progress(done.load(Ordering::Relaxed), total),
    );
    let mut verdicts = Verdicts::new(total);
    for (worker, result) in results.into_iter().enumerate() {
        match result {
            Some(result) => verdicts.merge(result?),
            // A bug, logged with the thread's name at its join. Its pieces have no verdict
            // and so count as missing: they are fetched again, never trusted unhashed.
            None => log::error!(
                "thread {worker} of the check ended early (see above): its pieces count as \
                 missing"
            ),
        }
    }
    on_progress(total, total);
    Ok(verdicts)
}

/// Checks pieces `first`, `first + step`, ... (those in `which`).
fn check_share(
    storage: &Storage,
    geometry: &Geometry,
    hashes: &[[u8; 20]],
    which: Option<&Bitfield>,
    (first, step): (u32, u32),
    done: &AtomicU32,
) -> Result<Verdicts, StorageError> {
    let mut verdicts = Verdicts::new(geometry.piece_count);
    for piece in (first..geometry.piece_count).step_by(step as usize) {
        if which.is_none_or(|w| w.has(piece)) {
            match piece_matches(storage, geometry, hashes, piece) {
                Ok(true) => {
                    verdicts.good.set(piece);
                }
                Ok(false) => {}
                Err(truncated @ StorageError::Truncated { .. }) => {
                    verdicts.unread.set(piece);
                    verdicts.truncated = verdicts.truncated.or(Some(truncated));
                }
                Err(error) => return Err(error),
            }
        }
        done.fetch_add(1, Ordering::Relaxed);
    }
    Ok(verdicts)
}

#[cfg(test)]
mod tests;

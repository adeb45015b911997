//! Checking data already on disk against the piece hashes (before a download resumes, and
//! later before seeding). Runs on the calling thread plus one helper per extra core, each
//! hashing every n-th piece straight from the map.

use crate::bitfield::Bitfield;
use crate::block_saver::hasher::piece_matches;
use crate::geometry::Geometry;
use crate::storage::{Storage, StorageError};
use std::sync::atomic::{AtomicU32, Ordering};

/// Hashes every piece and returns the ones that match. `on_progress(done, total)` is
/// called from the calling thread now and then.
pub fn check_pieces(
    storage: &Storage,
    geometry: &Geometry,
    hashes: &[[u8; 20]],
    on_progress: impl FnMut(u32, u32),
) -> Result<Bitfield, StorageError> {
    check_listed(storage, geometry, hashes, None, on_progress)
}

/// Like [`check_pieces`], but hashes only the pieces set in `which` (all if `None`); the
/// others are reported as not matching.
pub fn check_listed(
    storage: &Storage,
    geometry: &Geometry,
    hashes: &[[u8; 20]],
    which: Option<&Bitfield>,
    mut on_progress: impl FnMut(u32, u32),
) -> Result<Bitfield, StorageError> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    let total = geometry.piece_count;
    let done = AtomicU32::new(0);
    let results: Vec<Result<Vec<u32>, StorageError>> = std::thread::scope(|scope| {
        let done = &done;
        let handles: Vec<_> = (1..workers)
            .map(|worker| {
                scope.spawn(move || {
                    check_share(storage, geometry, hashes, which, (worker, workers), done)
                })
            })
            .collect();
        let mine = check_share(storage, geometry, hashes, which, (0, workers), done);
        on_progress(done.load(Ordering::Relaxed), total);
        let mut results = vec![mine];
        for handle in handles {
            while !handle.is_finished() {
                on_progress(done.load(Ordering::Relaxed), total);
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            results.push(handle.join().unwrap_or_else(|_| Ok(Vec::new())));
        }
        results
    });
    let mut have = Bitfield::new(total);
    for result in results {
        for piece in result? {
            have.set(piece);
        }
    }
    on_progress(total, total);
    Ok(have)
}

/// Checks pieces `first`, `first + step`, ... (those in `which`) and returns those that
/// match.
fn check_share(
    storage: &Storage,
    geometry: &Geometry,
    hashes: &[[u8; 20]],
    which: Option<&Bitfield>,
    (first, step): (u32, u32),
    done: &AtomicU32,
) -> Result<Vec<u32>, StorageError> {
    let mut good = Vec::new();
    for piece in (first..geometry.piece_count).step_by(step as usize) {
        let wanted = which.is_none_or(|w| w.has(piece));
        if wanted && piece_matches(storage, geometry, hashes, piece)? {
            good.push(piece);
        }
        done.fetch_add(1, Ordering::Relaxed);
    }
    Ok(good)
}

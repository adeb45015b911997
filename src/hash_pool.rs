//! Hashing on every core, for the two jobs that hash a whole torrent at once: the check of
//! data on disk ([`crate::verify`]) and the hashing of a new torrent's pieces
//! (`extras::create`).
//!
//! Not a pool that lives on: [`run`] starts one thread per share of the work under
//! `std::thread::scope`, named after the job and the share (`verify 0`, `create 1`), and
//! ends when they all have. The calling thread does no share itself: it calls `on_tick`
//! every [`TICK`] while the workers run, so progress is drawn from the thread that owns
//! the terminal, then joins each worker with [`crate::threads::join_scoped`], which logs a
//! panic with the thread's name. A share whose thread panicked has no result (`None`);
//! what that means is the caller's to say.
//!
//! How the work is cut into shares is the caller's too, because the two jobs read
//! differently: the check takes every n-th piece straight from the map, and create gives
//! each thread one contiguous range of pieces, so that each file is read once, in order
//! (which matters on a spinning disk). [`threads`] says how many shares to cut.

use crossbeam_channel::RecvTimeoutError;
use std::time::Duration;

/// How often `on_tick` is called while the workers run.
pub const TICK: Duration = Duration::from_millis(100);

/// How many threads hash at once: one per core (`available_parallelism`), at least one.
pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs `work(share)` for each share in `0..shares`, each on a thread of its own named
/// `"{name} {share}"`, and calls `on_tick` from the calling thread every [`TICK`] until
/// they have all ended. Returns each share's result in share order, `None` for a share
/// whose thread panicked (the panic is logged).
///
/// A thread that cannot be started (the system is out of threads) does not lose its share:
/// the calling thread runs it, without ticks meanwhile.
pub fn run<T: Send>(
    name: &str,
    shares: usize,
    work: impl Fn(usize) -> T + Sync,
    mut on_tick: impl FnMut(),
) -> Vec<Option<T>> {
    // Every worker holds a clone of `alive` and drops it when its thread ends, returned or
    // panicked; nothing is ever sent. So `ended` reports "disconnected" the moment the last
    // worker is done, and until then times out once per tick.
    let (alive, ended) = crossbeam_channel::bounded::<()>(0);
    std::thread::scope(|scope| {
        let work = &work;
        let slots: Vec<_> = (0..shares)
            .map(|share| {
                let alive = alive.clone();
                let thread = format!("{name} {share}");
                let spawned = std::thread::Builder::new()
                    .name(thread.clone())
                    .spawn_scoped(scope, move || {
                        let _alive = alive;
                        work(share)
                    });
                spawned.map_err(|error| {
                    log::warn!("cannot start thread {thread:?} ({error}); hashing its share here");
                    work(share)
                })
            })
            .collect();
        drop(alive);
        while let Err(RecvTimeoutError::Timeout) = ended.recv_timeout(TICK) {
            on_tick();
        }
        slots
            .into_iter()
            .map(|slot| match slot {
                Ok(handle) => crate::threads::join_scoped(handle),
                Err(done_here) => Some(done_here),
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn every_share_runs_once_and_results_come_in_share_order() {
        let runs = AtomicUsize::new(0);
        let results = run(
            "test",
            5,
            |share| {
                runs.fetch_add(1, Ordering::Relaxed);
                share * 10
            },
            || {},
        );
        assert_eq!(results, [Some(0), Some(10), Some(20), Some(30), Some(40)]);
        assert_eq!(runs.load(Ordering::Relaxed), 5);
        assert_eq!(run("test", 0, |share| share, || {}), []);
    }

    #[test]
    fn each_share_runs_on_a_thread_named_after_the_job() {
        let names = run(
            "job",
            2,
            |_| std::thread::current().name().map(str::to_owned),
            || {},
        );
        assert_eq!(
            names,
            [Some(Some("job 0".into())), Some(Some("job 1".into()))]
        );
    }

    /// A share that panics has no result; the others still have theirs, and the caller
    /// carries on (the panic is logged by `threads::join_scoped`, not resumed).
    #[test]
    fn a_panicked_share_is_none_and_the_others_are_kept() {
        let results = run(
            "test",
            3,
            |share| {
                if share == 1 {
                    panic!("share 1 on purpose");
                }
                share
            },
            || {},
        );
        assert_eq!(results, [Some(0), None, Some(2)]);
    }

    /// The calling thread ticks while the workers run (here for at least 3.5 ticks).
    #[test]
    fn the_calling_thread_ticks_while_the_shares_run() {
        let mut ticks = 0;
        let results = run(
            "test",
            2,
            |share| {
                if share == 0 {
                    std::thread::sleep(TICK * 3 + TICK / 2);
                }
                share
            },
            || ticks += 1,
        );
        assert_eq!(results, [Some(0), Some(1)]);
        assert!(ticks >= 1, "{ticks} ticks");
    }
}

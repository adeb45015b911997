//! The main thread's loop while the download runs: wait a tick at most for the block saver,
//! the announcer or Ctrl-C, then draw progress and decide whether the run is over (done,
//! a seeding limit reached, a fatal error, no peers for too long, Ctrl-C).

use super::give_up::GiveUp;
use super::parts::Parts;
use super::threads::Threads;
use super::{DownloadError, Options};
use crate::block_saver::Event;
use crate::progress::{self, Display, Snapshot};
use crate::stats::Counters;
use crossbeam_channel::{Receiver, select};
use std::time::{Duration, Instant};

/// How often the main thread wakes to draw progress and check on the download.
const TICK: Duration = Duration::from_millis(250);

/// The loop's state: the parts it reads, the threads it talks to, what it draws.
struct MainLoop<'a> {
    parts: &'a Parts,
    options: &'a Options,
    threads: &'a Threads,
    display: Display,
    give_up: GiveUp,
    /// When every piece was verified (at the start, or during this run).
    seeding_since: Option<Instant>,
    /// When the run started, for the `done:` line.
    started: Instant,
}

/// Runs until the download is over; `Ok` when it ended as asked (complete, and seeded as
/// long as asked), else why not.
pub(super) fn run(
    parts: &Parts,
    options: &Options,
    threads: &Threads,
    give_up: GiveUp,
    interrupt: &Receiver<()>,
    started: Instant,
) -> Result<(), DownloadError> {
    let mut state = MainLoop {
        parts,
        options,
        threads,
        display: Display::new(options.progress),
        give_up,
        seeding_since: parts.complete_at_start.then(Instant::now),
        started,
    };
    let outcome = loop {
        if let Some(outcome) = state.wait(interrupt) {
            break outcome;
        }
        if let Some(outcome) = state.check() {
            break outcome;
        }
    };
    state.display.finish();
    outcome
}

impl MainLoop<'_> {
    /// Waits up to a tick for one event and handles it; `Some` when it ends the run.
    fn wait(&mut self, interrupt: &Receiver<()>) -> Option<Result<(), DownloadError>> {
        select! {
            recv(self.threads.saver_events) -> event => match event {
                Ok(Event::PieceFailed { contributors, .. }) => {
                    self.threads.blame(contributors);
                    None
                }
                // `check`, right after, sees it and finishes the run.
                Ok(Event::Completed { .. }) => None,
                Ok(Event::DiskError(error)) => Some(Err(DownloadError::Storage(error))),
                Err(_) => Some(Err(DownloadError::Thread(std::io::Error::other(
                    "block saver died",
                )))),
            },
            recv(self.threads.reports) -> report => {
                if let Ok(report) = report {
                    self.give_up.tracker_report(report);
                }
                None
            },
            recv(interrupt) -> _ => Some(if self.parts.pieces.is_complete() {
                Ok(())
            } else {
                Err(DownloadError::Interrupted)
            }),
            default(TICK) => None,
        }
    }

    /// Draws progress and looks at where the download stands; `Some` when the run is over.
    fn check(&mut self) -> Option<Result<(), DownloadError>> {
        let (pieces, counters) = (&self.parts.pieces, &self.parts.counters);
        let progress = pieces.progress();
        let snapshot = Snapshot {
            verified_bytes: progress.verified_bytes,
            total_bytes: progress.wanted_bytes,
            downloaded: counters.downloaded(),
            uploaded: counters.uploaded(),
            peers: counters.peers(),
            unchoking_us: counters.unchoking_us(),
            web_seeds: counters.web_seeds(),
            dht_nodes: self.threads.dht_nodes(),
            max_down: self.options.max_download_rate,
            max_up: self.options.max_upload_rate,
        };
        let stalled = self.give_up.stalled(pieces, &snapshot);
        self.display.draw(Instant::now(), snapshot, &stalled);
        if !pieces.is_complete() {
            // A web seed fetching counts as a peer: the download is not stranded.
            let sources = snapshot.peers + snapshot.web_seeds;
            return self.give_up.check(sources).map(Err);
        }
        if self.seeding_since.is_none() {
            self.completed();
        }
        let total = progress.wanted_bytes;
        let done =
            !self.options.seed || seeding_done(self.options, counters, total, self.seeding_since);
        done.then_some(Ok(()))
    }

    /// The last piece was verified in this run: announce `completed`, print the `done:`
    /// line (unless someone watches the run), start seeding.
    fn completed(&mut self) {
        self.seeding_since = Some(Instant::now());
        self.threads.completed();
        self.display.finish();
        if self.options.watcher.is_none() {
            let total = self.parts.pieces.progress().wanted_bytes;
            eprintln!(
                "{}",
                progress::done_line(
                    &self.parts.meta.name,
                    total,
                    self.parts.counters.downloaded(),
                    self.started.elapsed()
                )
            );
        }
        if self.options.seed {
            self.display.note("seeding until Ctrl-C");
        }
    }
}

/// True when a seeding limit (`--seed-ratio`, `--seed-time`) is reached.
fn seeding_done(
    options: &Options,
    counters: &Counters,
    total: u64,
    since: Option<Instant>,
) -> bool {
    let ratio_reached = options
        .seed_ratio
        .is_some_and(|ratio| counters.uploaded() as f64 >= ratio * total as f64);
    let time_reached = options
        .seed_time
        .zip(since)
        .is_some_and(|(limit, since)| since.elapsed() >= limit);
    ratio_reached || time_reached
}

//! Keeps the facts [`Stall::of`] needs between ticks: when a piece was last verified,
//! what each tracker last said, and (only while stalled, at most once a second) which
//! missing pieces no connected peer has. Logs the full list of those once per stall.

use super::stalled::{Facts, STALL_AFTER, Sources, Stall, TrackerOutcome};
use crate::announcer::Report;
use crate::piece_manager::PieceManager;
use std::time::{Duration, Instant};

/// How often the piece manager is asked which pieces nobody has, while stalled.
const AVAILABILITY_EVERY: Duration = Duration::from_secs(1);

pub(super) struct StallWatch {
    sources: Sources,
    /// When the count of verified pieces last changed (or the start).
    progressed: Instant,
    verified: u32,
    /// The latest list of unavailable pieces, and when it was taken.
    unavailable: Vec<u32>,
    checked: Option<Instant>,
    /// The stall's reason was logged (cleared when a piece completes).
    logged: bool,
}

/// What the main loop knows at a tick.
pub(super) struct Tick {
    pub verified_pieces: u32,
    pub complete: bool,
    pub peers: u64,
    pub unchoking_us: u64,
    pub dht_nodes: Option<u64>,
}

impl StallWatch {
    pub(super) fn new() -> StallWatch {
        StallWatch {
            sources: Sources::default(),
            progressed: Instant::now(),
            verified: 0,
            unavailable: Vec::new(),
            checked: None,
            logged: false,
        }
    }

    /// Notes what a tracker said.
    pub(super) fn tracker_report(&mut self, report: &Report) {
        let (tracker, outcome) = match report {
            Report::Announced { tracker, peers, .. } => (tracker, TrackerOutcome::Listed(*peers)),
            Report::Failed { tracker, error } => (tracker, TrackerOutcome::Failed(error.clone())),
            Report::AllFailed { .. } => return,
        };
        let trackers = &mut self.sources.trackers;
        match trackers.iter_mut().find(|(url, _)| url == tracker) {
            Some(entry) => entry.1 = outcome,
            None => trackers.push((tracker.clone(), outcome)),
        }
    }

    /// Where peers could come from (for a reason given at once, as `--give-up`'s).
    pub(super) fn sources(&self, dht_nodes: Option<u64>) -> Sources {
        Sources {
            dht_nodes,
            ..self.sources.clone()
        }
    }

    /// The reason the download is stalled, if no piece was verified for [`STALL_AFTER`].
    pub(super) fn check(&mut self, tick: &Tick, pieces: &PieceManager) -> Option<Stall> {
        let now = Instant::now();
        if tick.verified_pieces != self.verified || tick.complete {
            self.verified = tick.verified_pieces;
            self.progressed = now;
            self.logged = false;
            self.checked = None;
        }
        if tick.complete || now.duration_since(self.progressed) < STALL_AFTER {
            return None;
        }
        if tick.peers == 0 {
            self.unavailable.clear();
        } else if self
            .checked
            .is_none_or(|at| now.duration_since(at) >= AVAILABILITY_EVERY)
        {
            self.checked = Some(now);
            self.unavailable = pieces.unavailable_missing();
        }
        let sources = self.sources(tick.dht_nodes);
        let stall = Stall::of(&Facts {
            peers: tick.peers,
            unchoking_us: tick.unchoking_us,
            unavailable: &self.unavailable,
            sources: &sources,
        });
        if !self.logged {
            self.logged = true;
            self.log(&stall);
        }
        Some(stall)
    }

    /// The reason a magnet link's metadata is not here, once waited for [`STALL_AFTER`].
    pub(super) fn check_metadata(&mut self, peers: u64, dht_nodes: Option<u64>) -> Option<Stall> {
        if self.progressed.elapsed() < STALL_AFTER {
            return None;
        }
        let sources = self.sources(dht_nodes);
        let stall = Stall::Metadata { peers, sources };
        if !self.logged {
            self.logged = true;
            self.log(&stall);
        }
        Some(stall)
    }

    /// Logs the reason once per stall, with every unavailable piece.
    fn log(&self, stall: &Stall) {
        let seconds = STALL_AFTER.as_secs();
        log::info!("no piece completed for {seconds} s: stalled: {stall}");
        if let Stall::Unavailable(pieces) = stall {
            let list: Vec<String> = pieces.iter().map(u32::to_string).collect();
            log::info!("pieces no connected peer has: {}", list.join(", "));
        }
    }
}

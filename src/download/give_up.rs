//! When to give up on a download that cannot make progress: no tracker answers (and peers
//! can come from nowhere else), or no peer can be reached for too long (`--give-up`). Pure
//! bookkeeping fed by the main loop.

use super::DownloadError;
use crate::announcer::Report;
use std::time::{Duration, Instant};

pub(super) struct GiveUp {
    has_trackers: bool,
    /// Peers can come from elsewhere than the trackers: `--peer` addresses, or the DHT.
    other_sources: bool,
    give_up: Duration,
    /// Last time a peer was connected (or the start).
    last_peer: Instant,
    tracker_answered: bool,
    /// Every tracker failed in the latest round, with this error.
    all_failed: Option<String>,
    peers_from_trackers: usize,
}

impl GiveUp {
    pub(super) fn new(has_trackers: bool, other_sources: bool, give_up: Duration) -> GiveUp {
        GiveUp {
            has_trackers,
            other_sources,
            give_up,
            last_peer: Instant::now(),
            tracker_answered: false,
            all_failed: None,
            peers_from_trackers: 0,
        }
    }

    pub(super) fn tracker_report(&mut self, report: Report) {
        match report {
            Report::Announced { tracker, peers, .. } => {
                log::debug!("tracker {tracker}: {peers} peers");
                self.tracker_answered = true;
                self.all_failed = None;
                self.peers_from_trackers += peers;
            }
            Report::Failed { error, .. } => log::warn!("{error}"),
            Report::AllFailed { last_error } => self.all_failed = Some(last_error),
        }
    }

    /// An error if the download should give up, given how many peers are connected now.
    pub(super) fn check(&mut self, peers: u64) -> Option<DownloadError> {
        if peers > 0 {
            self.last_peer = Instant::now();
            return None;
        }
        if let Some(error) = &self.all_failed
            && self.has_trackers
            && !self.tracker_answered
            && !self.other_sources
        {
            return Some(DownloadError::NoTracker(error.clone()));
        }
        let waited = self.last_peer.elapsed();
        if waited < self.give_up {
            return None;
        }
        let detail = if self.peers_from_trackers == 0 && !self.other_sources {
            "the trackers listed no peers".to_string()
        } else {
            format!(
                "{} peer addresses from trackers, none reachable",
                self.peers_from_trackers
            )
        };
        Some(DownloadError::NoPeers { waited, detail })
    }
}

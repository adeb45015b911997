//! When to give up on a download that cannot make progress: no tracker answers (and peers
//! can come from nowhere else), or no peer can be reached for too long (`--give-up`). Pure
//! bookkeeping fed by the main loop, which also asks it why the download is stalled
//! (`stall_watch.rs`); the give-up error says the same.

use super::DownloadError;
use super::stall_watch::{StallWatch, Tick};
use super::stalled::Stall;
use crate::announcer::Report;
use crate::piece_manager::PieceManager;
use crate::progress::Snapshot;
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
    stall: StallWatch,
    /// Waiting for a magnet link's metadata, not for pieces.
    metadata: bool,
    /// The DHT's nodes at the latest tick, when it runs.
    dht_nodes: Option<u64>,
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
            stall: StallWatch::new(),
            metadata: false,
            dht_nodes: None,
        }
    }

    /// The same, for the wait for a magnet link's metadata.
    pub(super) fn for_metadata(self) -> GiveUp {
        GiveUp {
            metadata: true,
            ..self
        }
    }

    /// Why the download is stalled, at several lengths for the progress line (longest
    /// first), or nothing while pieces complete.
    pub(super) fn stalled(&mut self, pieces: &PieceManager, s: &Snapshot) -> Vec<String> {
        self.dht_nodes = s.dht_nodes;
        let tick = Tick {
            verified_pieces: pieces.progress().verified_pieces,
            complete: pieces.is_complete(),
            peers: s.peers,
            unchoking_us: s.unchoking_us,
            dht_nodes: s.dht_nodes,
        };
        let stall = self.stall.check(&tick, pieces);
        stall.map_or_else(Vec::new, |stall| stall.variants())
    }

    /// Why a magnet link's metadata is not here, once it has been waited for long enough.
    pub(super) fn metadata_stalled(&mut self, peers: u64, dht_nodes: Option<u64>) -> Vec<String> {
        self.dht_nodes = dht_nodes;
        let stall = self.stall.check_metadata(peers, dht_nodes);
        stall.map_or_else(Vec::new, |stall| stall.variants())
    }

    pub(super) fn tracker_report(&mut self, report: Report) {
        self.stall.tracker_report(&report);
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
        let sources = self.stall.sources(self.dht_nodes);
        let stall = if self.metadata {
            Stall::Metadata { peers, sources }
        } else {
            Stall::NoPeer(sources)
        };
        let detail = format!("{detail}; stalled: {stall}");
        Some(DownloadError::NoPeers { waited, detail })
    }
}

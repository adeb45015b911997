//! Building a download's shared parts, before any thread starts: the metainfo, the files
//! (storage), the check of what is on disk already, the piece manager, the counters, and
//! the resume recorder (built here, started last by `threads.rs`).

use super::check::check_existing;
use super::{DownloadError, Options, Summary};
use crate::geometry::Geometry;
use crate::metainfo::Metainfo;
use crate::piece_manager::PieceManager;
use crate::resume::{self, recorder::Recorder};
use crate::stats::Counters;
use crate::storage::Storage;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// What every thread of one download shares, built once.
pub(super) struct Parts {
    pub(super) meta: Metainfo,
    pub(super) geometry: Geometry,
    /// The files, mapped: written by the saver, read by the hasher and the uploading peers.
    pub(super) storage: Arc<Storage>,
    /// Piece and block states, starting from the pieces found on disk.
    pub(super) pieces: Arc<PieceManager>,
    /// Bytes and peers, for the progress line, the trackers and the summary.
    pub(super) counters: Arc<Counters>,
    /// Every piece was on disk and verified before the run began.
    pub(super) complete_at_start: bool,
}

impl Parts {
    /// Reads the torrent (the .torrent file, or the one saved from a magnet link's
    /// metadata), opens (creates, reserves) its files under `options.dir`, checks
    /// the data already there and builds the rest on that. Also returns the resume
    /// recorder, not started, unless no resume file can be kept for this torrent.
    pub(super) fn build(
        options: &Options,
        torrent: &Path,
        counters: Arc<Counters>,
    ) -> Result<(Parts, Option<Recorder>), DownloadError> {
        let meta = Metainfo::from_file(torrent).map_err(DownloadError::Torrent)?;
        let geometry = meta.geometry();
        // The files' lengths and mtimes before opening them (opening extends short files).
        let stamps = resume::stamps(&options.dir, &meta.files);
        let storage =
            Arc::new(Storage::open(&options.dir, &meta.files).map_err(DownloadError::Storage)?);
        let have = check_existing(&storage, &meta, options, &stamps)?;
        let pieces = Arc::new(PieceManager::new(geometry, &have));
        let recorder = resume::path_for(&options.dir, &meta.info_hash, &meta.files)
            .map_err(|e| log::warn!("{e}"))
            .ok()
            .map(|path| {
                Recorder::new(
                    path,
                    options.dir.clone(),
                    meta.info_hash,
                    Arc::new(meta.files.clone()),
                    storage.clone(),
                    pieces.clone(),
                )
            });
        let complete_at_start = pieces.is_complete();
        let left = geometry.total_length - pieces.progress().verified_bytes;
        counters.left.store(left, Ordering::Relaxed);
        let parts = Parts {
            meta,
            geometry,
            storage,
            pieces,
            counters,
            complete_at_start,
        };
        Ok((parts, recorder))
    }

    /// The trackers to announce to: the torrent's tiers, then each `--tracker` as a tier
    /// of its own. An error if there is none and no `--peer` either, unless we only seed.
    pub(super) fn trackers(&self, options: &Options) -> Result<Vec<Vec<String>>, DownloadError> {
        let mut trackers = self.meta.trackers.clone();
        for url in &options.trackers {
            // A magnet link's trackers are in the torrent saved from its metadata too.
            if !trackers.iter().flatten().any(|known| known == url) {
                trackers.push(vec![url.clone()]);
            }
        }
        let dht = options.dht.is_some() && !self.meta.private;
        if trackers.is_empty() && options.peers.is_empty() && !options.seed && !dht {
            return Err(DownloadError::NoTracker(
                "the torrent lists no tracker, no --peer was given, and there is no DHT \
                 (--no-dht, or the torrent is private)"
                    .into(),
            ));
        }
        Ok(trackers)
    }

    /// What the run reports when it ends.
    pub(super) fn summary(&self) -> Summary {
        Summary {
            name: self.meta.name.clone(),
            bytes: self.geometry.total_length,
            uploaded: self.counters.uploaded(),
            fetched: !self.complete_at_start,
        }
    }
}

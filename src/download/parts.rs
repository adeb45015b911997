//! Building a download's shared parts, before any thread starts: the metainfo, the files
//! (storage), the check of what is on disk already, the piece manager, the counters, and
//! the resume recorder (built here, started last by `threads.rs`).

use super::check::check_existing;
use super::{DownloadError, Options, Summary};
use crate::bitfield::Bitfield;
use crate::geometry::Geometry;
use crate::metainfo::Metainfo;
use crate::piece_manager::PieceManager;
use crate::resume::{self, recorder::Recorder};
use crate::selection::Selection;
use crate::stats::Counters;
use crate::storage::{Storage, Stretch, WindowLimits, parts as part_files};
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
    /// Every wanted piece was on disk and verified before the run began.
    pub(super) complete_at_start: bool,
}

/// What `--select` makes of a torrent: the files, the pieces to fetch, and where the
/// stream lives on disk.
pub(super) struct Chosen {
    pub(super) selection: Selection,
    /// The pieces to fetch: every piece, or those holding a byte of a selected file.
    pub(super) wanted: Bitfield,
    /// The selected files' stretches and the part files' (`None`: every file, as usual).
    stretches: Option<Vec<Stretch>>,
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
        let chosen = choose(options, &meta)?;
        // The files' lengths and mtimes before opening them (opening extends short files).
        let stamps = resume::stamps(&options.dir, &meta.files);
        let storage = match &chosen.stretches {
            None => Storage::open(&options.dir, &meta.files),
            Some(stretches) => {
                Storage::open_stretches(&options.dir, stretches, WindowLimits::default())
            }
        };
        let storage = Arc::new(storage.map_err(DownloadError::Storage)?);
        let have = check_existing(&storage, &meta, options, &stamps, &chosen)?;
        let pieces = Arc::new(PieceManager::selective(geometry, &have, &chosen.wanted));
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
        let progress = pieces.progress();
        let left = progress.wanted_bytes - progress.verified_bytes;
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
    /// of its own. An error if there is none and no other source either (`--peer`, the
    /// DHT, a web seed), unless we only seed.
    pub(super) fn trackers(&self, options: &Options) -> Result<Vec<Vec<String>>, DownloadError> {
        let mut trackers = self.meta.trackers.clone();
        for url in &options.trackers {
            // A magnet link's trackers are in the torrent saved from its metadata too.
            if !trackers.iter().flatten().any(|known| known == url) {
                trackers.push(vec![url.clone()]);
            }
        }
        let dht = options.dht.is_some() && !self.meta.private;
        let web = !self.meta.url_list.is_empty();
        if trackers.is_empty() && options.peers.is_empty() && !options.seed && !dht && !web {
            return Err(DownloadError::NoTracker(
                "the torrent lists no tracker and no web seed, no --peer was given, and there \
                 is no DHT (--no-dht, or the torrent is private)"
                    .into(),
            ));
        }
        Ok(trackers)
    }

    /// What the run reports when it ends.
    pub(super) fn summary(&self) -> Summary {
        Summary {
            name: self.meta.name.clone(),
            bytes: self.pieces.progress().wanted_bytes,
            uploaded: self.counters.uploaded(),
            fetched: !self.complete_at_start,
        }
    }
}

/// The selection `--select` asks for in this torrent (every file without it), and, for a
/// real choice, the part files' stretches after moving kept bytes into newly chosen files.
fn choose(options: &Options, meta: &Metainfo) -> Result<Chosen, DownloadError> {
    let geometry = meta.geometry();
    let selection = match &options.select {
        Some(list) => list
            .resolve(meta.files.len())
            .map_err(|e| DownloadError::Select(e.to_string()))?,
        None => Selection::all(meta.files.len()),
    };
    let wanted = selection.wanted_pieces(&meta.files, &geometry);
    if selection.is_all() {
        return Ok(Chosen {
            selection,
            wanted,
            stretches: None,
        });
    }
    let part_dir = resume::part_dir(&meta.info_hash, &meta.files)
        .map_err(|e| DownloadError::Select(format!("--select: {e}")))?;
    let used = part_files::migrate(&options.dir, &meta.files, &selection, &geometry, &part_dir)
        .map_err(DownloadError::Storage)?;
    if used > 0 {
        log::info!("moved {used} kept part(s) into files selected now");
    }
    let stretches = part_files::selected(
        &options.dir,
        &meta.files,
        &selection,
        &wanted,
        &geometry,
        &part_dir,
    );
    Ok(Chosen {
        selection,
        wanted,
        stretches: Some(stretches),
    })
}

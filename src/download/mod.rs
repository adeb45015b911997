//! A download (and seeding), coordinated from the main thread.
//!
//! [`run`] is the whole story, in four steps:
//!
//! 1. Build every part before any thread starts (`parts.rs`): the metainfo, storage, the
//!    check of data already on disk (`check.rs`: trusting the resume file where it
//!    matches, hashing the rest), the piece manager, the counters, the resume recorder.
//!    A run that finds every piece on disk and is not asked to seed ends here.
//! 2. Start the threads (`threads.rs`), in this order: the block saver (which starts its
//!    hasher), the listener, the announcer, the peer manager, the resume recorder.
//! 3. Loop on the main thread (`main_loop.rs`): draw progress, listen to the saver and the
//!    announcer, and watch for completion, a fatal error, a swarm with no peers
//!    (`give_up.rs`), the seeding limits, or Ctrl-C.
//! 4. Shut down in one ordered sequence (`Threads::shutdown`): the listener stops, then
//!    the peers, then the saver writes what is queued, then the recorder writes its last
//!    record, then the announcer tells the trackers `stopped`. Every thread is joined.
//!
//! Nothing waits for the data to reach the disk at exit: the kernel writes the page cache
//! back on its own, and the resume file says which pieces it still held (see
//! `resume::recorder`).
//!
//! Two hooks let a caller look inside without the download knowing who it is: the
//! [`Tracer`] in [`Options::tracer`] (`--trace`, see [`crate::transcript`]) and the
//! [`Watcher`] in [`Options::watcher`] (the demo, see `watcher.rs`).

mod check;
mod give_up;
mod magnet;
mod main_loop;
mod parts;
mod stall_watch;
mod stalled;
mod threads;
mod watcher;

use crate::metainfo::MetainfoError;
use crate::peer::Encryption;
use crate::progress;
use crate::resume::recorder::Flush;
use crate::selection::FileList;
use crate::stats::Counters;
use crate::storage::StorageError;
use crate::transcript::Tracer;
use crossbeam_channel::Receiver;
use give_up::GiveUp;
use parts::Parts;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use threads::{Swarm, Threads};
pub use watcher::Watcher;

/// What to download: a .torrent file, or the torrent a magnet link names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A .torrent file.
    Torrent(PathBuf),
    /// A magnet link's info-hash and display name; its trackers and peers are in
    /// [`Options::trackers`] and [`Options::peers`]. The metadata is fetched from peers,
    /// then kept in `DIR/.smalltorrent/<info-hash>.torrent` for the next run.
    Magnet {
        info_hash: [u8; 20],
        name: Option<String>,
    },
}

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct Options {
    pub source: Source,
    /// Data folder (files go below it, multi-file torrents in a folder of their name).
    pub dir: PathBuf,
    pub progress: progress::Mode,
    pub max_peers: usize,
    /// Port to listen on (the next free one if taken; 0 = any).
    pub port: u16,
    /// Address to listen on and to connect from (`--bind`); all interfaces if `None`.
    pub bind: Option<IpAddr>,
    /// How to open the connections we dial (`--encryption`).
    pub encryption: Encryption,
    /// Peers to connect to directly, besides those from trackers.
    pub peers: Vec<SocketAddr>,
    /// The files to download (`--select`), or `None` for all of them.
    pub select: Option<FileList>,
    /// Trackers to use besides the torrent's, each as a tier of its own (`--tracker`).
    pub trackers: Vec<String>,
    /// Give up when no peer has been connected for this long.
    pub give_up: Duration,
    /// Requests kept in flight per peer.
    pub pipeline: usize,
    /// Report the check of existing data (`-s`).
    pub report_check: bool,
    /// Keep seeding once complete (`-s`, `--seed`).
    pub seed: bool,
    /// Stop seeding once uploaded ≥ this × the torrent's size.
    pub seed_ratio: Option<f64>,
    /// Offer each peer one piece at a time while seeding (`--super-seed`, BEP 16).
    pub super_seed: bool,
    /// Stop seeding after this long.
    pub seed_time: Option<Duration>,
    /// Upload at most this many bytes per second, over all peers (`--max-upload-rate`).
    pub max_upload_rate: Option<u64>,
    /// Download at most this many bytes per second, over all peers
    /// (`--max-download-rate`).
    pub max_download_rate: Option<u64>,
    /// The DHT's bootstrap nodes (`HOST:PORT`; `--dht-bootstrap`, else the well-known
    /// routers), or `None` for no DHT (`--no-dht`). A private torrent never uses it.
    pub dht: Option<Vec<String>>,
    /// Where every message and state change is reported (`--trace`); disabled by default.
    pub tracer: Tracer,
    /// Someone watching this run from another thread (see [`Watcher`]). A watched run
    /// leaves all reporting to its watcher: it prints nothing, not even the `done:` line.
    pub watcher: Option<Arc<dyn Watcher>>,
}

/// Why a download did not finish.
#[derive(Debug)]
pub enum DownloadError {
    /// The .torrent file could not be read or parsed.
    Torrent(MetainfoError),
    /// The files could not be created, written or checked.
    Storage(StorageError),
    /// No tracker answered and no peer was given.
    NoTracker(String),
    /// Nobody to download from for too long.
    NoPeers { waited: Duration, detail: String },
    /// The listening socket could not be opened.
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// A thread could not be started.
    Thread(std::io::Error),
    /// Ctrl-C before the download was complete.
    Interrupted,
    /// A magnet link's verified metadata could not be kept on disk.
    SaveMetadata(crate::resume::ResumeError),
    /// `--select` names a file the torrent does not have, or cannot be used for it.
    Select(String),
}

impl fmt::Display for DownloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DownloadError::Torrent(e) => write!(f, "{e}"),
            DownloadError::Storage(e) => write!(f, "disk error: {e}"),
            DownloadError::NoTracker(e) => write!(f, "no tracker answered: {e}"),
            DownloadError::NoPeers { waited, detail } => write!(
                f,
                "no peers: none connected in {} s ({detail})",
                waited.as_secs()
            ),
            DownloadError::Listen { addr, source } => {
                write!(f, "cannot listen on {addr}: {source}")
            }
            DownloadError::Thread(e) => write!(f, "cannot start a thread: {e}"),
            DownloadError::Interrupted => write!(f, "interrupted"),
            DownloadError::SaveMetadata(e) => write!(f, "cannot keep the torrent's metadata: {e}"),
            DownloadError::Select(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for DownloadError {}

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct Summary {
    pub name: String,
    pub bytes: u64,
    /// Payload bytes sent.
    pub uploaded: u64,
    /// True if data was fetched in this run (false when it was all there already).
    pub fetched: bool,
}

/// Downloads the torrent in `options` until every piece is verified on disk, then seeds if
/// asked to. `interrupt` delivers a message when the user presses Ctrl-C (or SIGTERM).
pub fn run(options: &Options, interrupt: &Receiver<()>) -> Result<Summary, DownloadError> {
    let started = Instant::now();
    let torrent = match &options.source {
        Source::Torrent(path) => path.clone(),
        Source::Magnet { info_hash, .. } => match magnet::saved(&options.dir, info_hash) {
            Some(path) => path,
            None => return magnet::run(options, *info_hash, interrupt, started),
        },
    };
    let counters = Arc::new(Counters::new(0));
    let (parts, recorder) = Parts::build(options, &torrent, counters)?;
    if let Some(watcher) = &options.watcher {
        watcher.attach(parts.pieces.clone(), parts.counters.clone());
    }
    if parts.complete_at_start && !options.seed {
        // The only record of this run: flush, so it vouches for every piece in any boot.
        if let Some(Err(error)) = recorder.as_ref().map(|r| r.record(Flush::Now)) {
            log::warn!("resume file not updated: {error}");
        }
        return Ok(parts.summary());
    }
    let trackers = parts.trackers(options)?;
    let has_trackers = !trackers.is_empty();
    let swarm = Swarm {
        info_hash: parts.meta.info_hash,
        trackers,
        counters: parts.counters.clone(),
        metadata: None,
        private: parts.meta.private,
        dht_nodes: parts.meta.dht_nodes.clone(),
    };
    let threads = Threads::start(options, swarm, Some((&parts, recorder)))?;
    let other_sources = !options.peers.is_empty()
        || threads.dht_nodes().is_some()
        || !parts.meta.url_list.is_empty();
    let give_up = GiveUp::new(has_trackers, other_sources, options.give_up);
    let outcome = main_loop::run(&parts, options, &threads, give_up, interrupt, started);
    let written = threads.shutdown();
    outcome?;
    written.map_err(DownloadError::Storage)?;
    Ok(parts.summary())
}

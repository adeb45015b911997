//! A download, coordinated from the main thread.
//!
//! [`run`] builds every part before any thread starts (metainfo, storage, the check of data
//! already on disk, the piece manager), then starts the block saver, the peer manager and
//! the announcer, and loops: it draws progress, listens to the saver and the announcer, and
//! watches for completion, a fatal error, a swarm with no peers, or Ctrl-C. Shutdown is one
//! ordered sequence ([`Threads::shutdown`]): peers stop first, then the saver flushes the
//! map, then the announcer tells the tracker `stopped`. Every thread is joined.

use crate::announcer::{self, AnnouncerConfig, Report};
use crate::block_saver::{self, Event, Saver};
use crate::metainfo::{Metainfo, MetainfoError};
use crate::peer::{Swarm, Timeouts};
use crate::peer_manager;
use crate::piece_manager::PieceManager;
use crate::progress::{self, Display, Snapshot};
use crate::random::Rng;
use crate::stats::Counters;
use crate::storage::{Storage, StorageError};
use crate::verify;
use crossbeam_channel::{Receiver, Sender, select, unbounded};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the main thread wakes to draw progress and check on the download.
const TICK: Duration = Duration::from_millis(250);

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct Options {
    pub torrent: PathBuf,
    /// Download folder (files go below it, multi-file torrents in a folder of their name).
    pub dir: PathBuf,
    pub progress: progress::Mode,
    pub max_peers: usize,
    /// The port we tell trackers about.
    pub port: u16,
    /// Peers to connect to directly, besides those from trackers.
    pub peers: Vec<SocketAddr>,
    /// Trackers to use besides the torrent's, each as a tier of its own (`--tracker`).
    pub trackers: Vec<String>,
    /// Give up when no peer has been connected for this long.
    pub give_up: Duration,
    /// Requests kept in flight per peer.
    pub pipeline: usize,
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
    /// A thread could not be started.
    Thread(std::io::Error),
    /// Ctrl-C.
    Interrupted,
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
            DownloadError::Thread(e) => write!(f, "cannot start a thread: {e}"),
            DownloadError::Interrupted => write!(f, "interrupted"),
        }
    }
}

impl std::error::Error for DownloadError {}

/// What a finished download reports.
#[derive(Debug, Clone)]
pub struct Summary {
    pub name: String,
    pub bytes: u64,
    pub downloaded: u64,
    pub elapsed: Duration,
}

/// Downloads the torrent in `options` until every piece is verified on disk.
/// `interrupt` delivers a message when the user presses Ctrl-C.
pub fn run(options: &Options, interrupt: &Receiver<()>) -> Result<Summary, DownloadError> {
    let started = Instant::now();
    let meta = Metainfo::from_file(&options.torrent).map_err(DownloadError::Torrent)?;
    let geometry = meta.geometry();
    let storage =
        Arc::new(Storage::open(&options.dir, &meta.files).map_err(DownloadError::Storage)?);
    let mut display = Display::new(options.progress);
    let have = if storage.had_data() {
        log::info!("checking data already in {}", options.dir.display());
        let checked = verify::check_pieces(&storage, &geometry, &meta.pieces, |_, _| {})
            .map_err(DownloadError::Storage)?;
        log::info!(
            "{} of {} pieces already here",
            checked.count(),
            geometry.piece_count
        );
        checked
    } else {
        crate::bitfield::Bitfield::new(geometry.piece_count)
    };
    let pieces = Arc::new(PieceManager::new(geometry, &have));
    let left = geometry.total_length - pieces.progress().verified_bytes;
    let counters = Arc::new(Counters::new(left));
    let summary = |downloaded| Summary {
        name: meta.name.clone(),
        bytes: geometry.total_length,
        downloaded,
        elapsed: started.elapsed(),
    };
    if pieces.is_complete() {
        return Ok(summary(0));
    }
    let mut trackers = meta.trackers.clone();
    trackers.extend(options.trackers.iter().map(|url| vec![url.clone()]));
    if trackers.is_empty() && options.peers.is_empty() {
        return Err(DownloadError::NoTracker(
            "the torrent lists no tracker and no --peer was given".into(),
        ));
    }

    let (saver_events, saver_inbox) = unbounded();
    let (saver_handle, saver) = block_saver::spawn(
        Saver {
            storage: storage.clone(),
            pieces: pieces.clone(),
            geometry,
            hashes: Arc::new(meta.pieces.clone()),
            counters: counters.clone(),
        },
        saver_events,
    )
    .map_err(DownloadError::Thread)?;
    let swarm = Arc::new(Swarm {
        info_hash: meta.info_hash,
        peer_id: peer_id(),
        geometry,
        pieces: pieces.clone(),
        saver: saver.clone(),
        counters: counters.clone(),
        timeouts: Timeouts::default(),
        pipeline: options.pipeline,
    });
    let (addresses, address_inbox) = unbounded();
    let (reports, report_inbox) = unbounded();
    let (announcer_handle, announcer) = announcer::spawn(
        AnnouncerConfig {
            trackers: trackers.clone(),
            info_hash: meta.info_hash,
            peer_id: swarm.peer_id,
            port: options.port,
            numwant: 50,
        },
        counters.clone(),
        addresses.clone(),
        reports,
    )
    .map_err(DownloadError::Thread)?;
    let want_peers = announcer.clone();
    let (manager_handle, manager) = peer_manager::spawn(
        swarm,
        options.max_peers,
        address_inbox,
        Box::new(move || {
            let _ = want_peers.send(announcer::Command::NeedPeers);
        }),
    )
    .map_err(DownloadError::Thread)?;
    if !options.peers.is_empty() {
        let _ = addresses.send(options.peers.clone());
    }
    // From here on only the peer threads hold senders to the saver (through the swarm).
    drop(saver);
    let threads = Threads {
        manager: (manager_handle, manager),
        saver: saver_handle,
        announcer: (announcer_handle, announcer),
    };

    let mut watch = Watch::new(
        !trackers.is_empty(),
        !options.peers.is_empty(),
        options.give_up,
    );
    let outcome = loop {
        select! {
            recv(saver_inbox) -> event => match event {
                Ok(Event::PieceFailed { contributors, .. }) => {
                    let _ = threads.manager.1.send(peer_manager::Command::Blame { peers: contributors });
                }
                Ok(Event::PieceVerified { .. }) => {}
                Ok(Event::DiskError(error)) => break Err(DownloadError::Storage(error)),
                Err(_) => break Err(DownloadError::Thread(std::io::Error::other("block saver died"))),
            },
            recv(report_inbox) -> report => {
                if let Ok(report) = report {
                    watch.tracker_report(report);
                }
            },
            recv(interrupt) -> _ => break Err(DownloadError::Interrupted),
            default(TICK) => {},
        }
        let snapshot = Snapshot {
            verified_bytes: pieces.progress().verified_bytes,
            total_bytes: geometry.total_length,
            downloaded: counters.downloaded(),
            uploaded: counters.uploaded(),
            peers: counters.peers(),
            unchoking_us: counters.unchoking_us(),
        };
        display.draw(Instant::now(), snapshot);
        if pieces.is_complete() {
            break Ok(());
        }
        if let Some(error) = watch.check(snapshot) {
            break Err(error);
        }
    };
    display.finish();
    let complete = outcome.is_ok();
    let flushed = threads.shutdown(complete, saver_inbox);
    outcome?;
    flushed.map_err(DownloadError::Storage)?;
    Ok(summary(counters.downloaded()))
}

/// The running threads and how to reach them, for the shutdown sequence.
struct Threads {
    manager: (JoinHandle<()>, Sender<peer_manager::Command>),
    saver: JoinHandle<()>,
    announcer: (JoinHandle<()>, Sender<announcer::Command>),
}

impl Threads {
    /// Stops everything in order and joins every thread. Returns the result of the final
    /// flush of the map.
    fn shutdown(self, complete: bool, saver_events: Receiver<Event>) -> Result<(), StorageError> {
        let _ = self.manager.1.send(peer_manager::Command::Stop);
        let _ = self.manager.0.join();
        // Every peer thread has ended and with them every sender to the saver: the saver
        // writes what is still queued, flushes the map and ends.
        let _ = self.saver.join();
        let mut flushed = Ok(());
        for event in saver_events.try_iter() {
            if let Event::DiskError(error) = event {
                flushed = Err(error);
            }
        }
        if complete {
            let _ = self.announcer.1.send(announcer::Command::Completed);
        }
        let _ = self.announcer.1.send(announcer::Command::Stop);
        let _ = self.announcer.0.join();
        flushed
    }
}

/// Watches for a download that cannot make progress: no tracker, or no peers.
struct Watch {
    has_trackers: bool,
    has_direct_peers: bool,
    give_up: Duration,
    /// Last time a peer was connected (or the start).
    last_peer: Instant,
    tracker_answered: bool,
    /// Every tracker failed in the latest round, with this error.
    all_failed: Option<String>,
    peers_from_trackers: usize,
}

impl Watch {
    fn new(has_trackers: bool, has_direct_peers: bool, give_up: Duration) -> Watch {
        Watch {
            has_trackers,
            has_direct_peers,
            give_up,
            last_peer: Instant::now(),
            tracker_answered: false,
            all_failed: None,
            peers_from_trackers: 0,
        }
    }

    fn tracker_report(&mut self, report: Report) {
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

    fn check(&mut self, snapshot: Snapshot) -> Option<DownloadError> {
        if snapshot.peers > 0 {
            self.last_peer = Instant::now();
            return None;
        }
        if let Some(error) = &self.all_failed
            && self.has_trackers
            && !self.tracker_answered
            && !self.has_direct_peers
        {
            return Some(DownloadError::NoTracker(error.clone()));
        }
        let waited = self.last_peer.elapsed();
        if waited < self.give_up {
            return None;
        }
        let detail = if self.peers_from_trackers == 0 && !self.has_direct_peers {
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

/// Our peer id: Azureus-style client prefix `-ST0100-`, then 12 random characters.
fn peer_id() -> [u8; 20] {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut id = *b"-ST0100-000000000000";
    let mut rng = Rng::new();
    for byte in &mut id[8..] {
        *byte = ALPHABET[rng.below(ALPHABET.len())];
    }
    id
}

//! A download (and seeding), coordinated from the main thread.
//!
//! [`run`] builds every part before any thread starts (metainfo, storage, the check of data
//! already on disk, trusting the resume file where it matches, the piece manager), then
//! starts the block saver, the resume recorder, the listener, the peer manager and the
//! announcer, and loops: it draws progress, listens to the saver and the
//! announcer, and watches for completion, a fatal error, a swarm with no peers, the seeding
//! limits, or Ctrl-C. Shutdown is one ordered sequence (`Threads::shutdown`): the
//! listener stops, then the peers, then the saver writes what is queued, then the recorder
//! writes its last record, then the announcer tells the tracker `stopped`. Every thread is
//! joined. Nothing waits for the data to reach the disk at exit: the kernel writes the page
//! cache back on its own, and the resume file says which pieces it still held (see
//! `resume::recorder`).

mod watch;

use crate::announcer::{self, AnnouncerConfig};
use crate::bitfield::Bitfield;
use crate::block_saver::{self, Event};
use crate::listener::{self, Listener};
use crate::metainfo::{Metainfo, MetainfoError};
use crate::observer::Observer;
use crate::peer::{Encryption, Registry, Swarm, Timeouts};
use crate::peer_manager::{self, Inputs};
use crate::piece_manager::PieceManager;
use crate::progress::{self, Display, Snapshot};
use crate::random::Rng;
use crate::rate_limit::RateLimit;
use crate::resume::{
    self,
    recorder::{Flush, Recorder},
};
use crate::stats::Counters;
use crate::storage::{Storage, StorageError};
use crate::terminal;
use crate::trace::{TraceError, Tracer};
use crate::verify;
use crossbeam_channel::{Receiver, Sender, select, unbounded};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use watch::Watch;

/// How often the main thread wakes to draw progress and check on the download.
const TICK: Duration = Duration::from_millis(250);

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct Options {
    pub torrent: PathBuf,
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
    /// Stop seeding after this long.
    pub seed_time: Option<Duration>,
    /// Write a JSONL transcript of every message and state change here (`--trace`).
    pub trace: Option<PathBuf>,
    /// Someone watching this run from another thread (the demo). An observed run leaves
    /// all drawing to its observer: it prints nothing, not even the `done:` line.
    pub observer: Option<Arc<Observer>>,
    /// Upload at most this many bytes per second, over all peers (the demo's seeder).
    pub upload_limit: Option<u64>,
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
    /// The `--trace` file could not be created or written.
    Trace(TraceError),
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
            DownloadError::Trace(e) => write!(f, "{e}"),
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
    let meta = Metainfo::from_file(&options.torrent).map_err(DownloadError::Torrent)?;
    let tracer = match &options.trace {
        Some(path) => Tracer::to_file(path).map_err(DownloadError::Trace)?,
        None => Tracer::disabled(),
    };
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
    let counters = Arc::new(Counters::new(left));
    if let Some(observer) = &options.observer {
        observer.attach(pieces.clone(), counters.clone());
    }
    let summary = |counters: &Counters| Summary {
        name: meta.name.clone(),
        bytes: geometry.total_length,
        uploaded: counters.uploaded(),
        fetched: !complete_at_start,
    };
    if complete_at_start && !options.seed {
        // The only record of this run: flush, so it vouches for every piece in any boot.
        if let Some(Err(error)) = recorder.as_ref().map(|r| r.record(Flush::Now)) {
            log::warn!("resume file not updated: {error}");
        }
        return Ok(summary(&counters));
    }
    let mut trackers = meta.trackers.clone();
    trackers.extend(options.trackers.iter().map(|url| vec![url.clone()]));
    if trackers.is_empty() && options.peers.is_empty() && !options.seed {
        return Err(DownloadError::NoTracker(
            "the torrent lists no tracker and no --peer was given".into(),
        ));
    }

    let (saver_events, saver_inbox) = unbounded();
    let (saver_handle, saver) = block_saver::spawn(
        block_saver::Shared {
            storage: storage.clone(),
            pieces: pieces.clone(),
            geometry,
            hashes: Arc::new(meta.pieces.clone()),
            counters: counters.clone(),
            tracer: tracer.clone(),
        },
        saver_events,
    )
    .map_err(DownloadError::Thread)?;
    let (incoming, incoming_inbox) = unbounded();
    let listen_ip = options.bind.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let listener = listener::spawn(listen_ip, options.port, incoming).map_err(|source| {
        DownloadError::Listen {
            addr: SocketAddr::new(listen_ip, options.port),
            source,
        }
    })?;
    if options.progress != progress::Mode::Quiet {
        eprintln!("listening on {}", listener.addr());
    }
    let peer_id = peer_id();
    let swarm = Arc::new(Swarm {
        info_hash: meta.info_hash,
        peer_id,
        geometry,
        pieces: pieces.clone(),
        storage: storage.clone(),
        saver,
        counters: counters.clone(),
        timeouts: Timeouts::default(),
        pipeline: options.pipeline,
        bind: options.bind,
        encryption: options.encryption,
        tracer: tracer.clone(),
        observer: options.observer.clone(),
        upload_limit: options
            .upload_limit
            .map(|rate| Arc::new(RateLimit::new(rate))),
        registry: Arc::new(Registry::new(peer_id)),
    });
    let (addresses, address_inbox) = unbounded();
    let (reports, report_inbox) = unbounded();
    let (announcer_handle, announcer) = announcer::spawn(
        AnnouncerConfig {
            trackers: trackers.clone(),
            info_hash: meta.info_hash,
            peer_id: swarm.peer_id,
            port: listener.addr().port(),
            numwant: 50,
            bind: options.bind,
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
        Inputs {
            addresses: address_inbox,
            incoming: incoming_inbox,
            want_peers: Box::new(move || {
                let _ = want_peers.send(announcer::Command::NeedPeers);
            }),
            own_addr: Some(listener.addr()),
        },
    )
    .map_err(DownloadError::Thread)?;
    if !options.peers.is_empty() {
        let _ = addresses.send(options.peers.clone());
    }
    let recorder = match recorder {
        Some(recorder) => Some(recorder.spawn().map_err(DownloadError::Thread)?),
        None => None,
    };
    let threads = Threads {
        recorder,
        listener,
        manager: (manager_handle, manager),
        saver: saver_handle,
        announcer: (announcer_handle, announcer),
    };

    let mut display = Display::new(options.progress);
    let mut watch = Watch::new(
        !trackers.is_empty(),
        !options.peers.is_empty(),
        options.give_up,
    );
    let mut seeding_since = complete_at_start.then(Instant::now);
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
            recv(interrupt) -> _ => {
                break if pieces.is_complete() { Ok(()) } else { Err(DownloadError::Interrupted) };
            },
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
            if seeding_since.is_none() {
                seeding_since = Some(Instant::now());
                let _ = threads.announcer.1.send(announcer::Command::Completed);
                display.finish();
                if options.observer.is_none() {
                    eprintln!(
                        "{}",
                        progress::done_line(
                            &meta.name,
                            geometry.total_length,
                            counters.downloaded(),
                            started.elapsed()
                        )
                    );
                }
                if options.seed {
                    display.note("seeding until Ctrl-C");
                }
            }
            if !options.seed
                || seeding_done(options, &counters, geometry.total_length, seeding_since)
            {
                break Ok(());
            }
        } else if let Some(error) = watch.check(snapshot.peers) {
            break Err(error);
        }
    };
    display.finish();
    let written = threads.shutdown(saver_inbox);
    outcome?;
    written.map_err(DownloadError::Storage)?;
    tracer.flush().map_err(DownloadError::Trace)?;
    Ok(summary(&counters))
}

/// Finds the pieces already on disk: trusts the resume file where it matches the files
/// (`stamps`, taken before storage opened them) and hashes everything else that may hold
/// data. A file another program truncates meanwhile is repaired, and its lost pieces are
/// missing (see `verify`).
fn check_existing(
    storage: &Storage,
    meta: &Metainfo,
    options: &Options,
    stamps: &[Option<resume::FileStamp>],
) -> Result<Bitfield, DownloadError> {
    let geometry = meta.geometry();
    if !storage.had_data() {
        if options.report_check {
            eprintln!(
                "checked data: 0 of {} pieces valid (0.0%): nothing in {} yet",
                geometry.piece_count,
                options.dir.display()
            );
        }
        return Ok(Bitfield::new(geometry.piece_count));
    }
    let loaded = resume::path_for(&options.dir, &meta.info_hash, &meta.files)
        .and_then(|path| resume::load(&path));
    let boot_id = resume::boot::id();
    let plan = resume::plan(
        loaded,
        &meta.info_hash,
        &geometry,
        &meta.files,
        stamps,
        boot_id.as_deref(),
    );
    // Progress of the hash check: redrawn in place on a terminal, a line every 5 s otherwise.
    let mut last_line = Instant::now();
    let mut in_place = terminal::Line::default();
    let show = |done: u32, total: u32| match options.progress {
        progress::Mode::Terminal => {
            let size = terminal::size();
            let line = format!("checking data: {done} of {total} pieces");
            eprint!(
                "{}",
                in_place.redraw(&terminal::fit(&line, size.line_width()), size)
            );
        }
        progress::Mode::Plain if last_line.elapsed() >= Duration::from_secs(5) => {
            last_line = Instant::now();
            eprintln!("checking data: {done} of {total} pieces");
        }
        _ => {}
    };
    let have = verify::check_listed(
        storage,
        &geometry,
        &meta.pieces,
        &plan.check,
        &plan.trusted,
        show,
    )
    .map_err(DownloadError::Storage)?;
    if options.progress == progress::Mode::Terminal {
        eprint!("{}", in_place.erase(terminal::size()));
    }
    let line = format!(
        "checked data: {} of {} pieces valid ({:.1}%); {} from the resume file, {} hashed{}",
        have.count(),
        geometry.piece_count,
        have.count() as f64 * 100.0 / geometry.piece_count.max(1) as f64,
        plan.trusted.count(),
        plan.check.count(),
        plan.note.map(|n| format!(" ({n})")).unwrap_or_default()
    );
    if options.report_check {
        eprintln!("{line}");
    } else {
        log::info!("{line}");
    }
    Ok(have)
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

/// The running threads and how to reach them, for the shutdown sequence.
struct Threads {
    listener: Listener,
    manager: (JoinHandle<()>, Sender<peer_manager::Command>),
    saver: JoinHandle<()>,
    /// The resume recorder, if this torrent keeps a resume file.
    recorder: Option<(JoinHandle<()>, Sender<()>)>,
    announcer: (JoinHandle<()>, Sender<announcer::Command>),
}

impl Threads {
    /// Stops everything in order and joins every thread. Returns the disk error the saver
    /// reported, if any.
    fn shutdown(self, saver_events: Receiver<Event>) -> Result<(), StorageError> {
        self.listener.stop();
        let _ = self.manager.1.send(peer_manager::Command::Stop);
        let _ = self.manager.0.join();
        // Every peer thread has ended and with them every sender to the saver: the saver
        // writes what is still queued, waits for its hasher to give every complete piece
        // its verdict, and ends.
        let _ = self.saver.join();
        // Everything is in the map: the recorder's last record covers it all.
        if let Some((handle, stop)) = self.recorder {
            let _ = stop.send(());
            let _ = handle.join();
        }
        let mut written = Ok(());
        for event in saver_events.try_iter() {
            if let Event::DiskError(error) = event {
                written = Err(error);
            }
        }
        let _ = self.announcer.1.send(announcer::Command::Stop);
        let _ = self.announcer.0.join();
        written
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

//! A download from a magnet link, before the torrent is known.
//!
//! 1. If an earlier run of the same link kept the metadata (`saved`), the download runs
//!    from that torrent file as from any other.
//! 2. Otherwise the swarm's threads start on the info-hash alone (listener, announcer,
//!    peer manager); the peer threads fetch the metadata together (`crate::metadata`).
//! 3. The main thread waits, drawing `fetching metadata from N peers`, blaming the peers
//!    whose metadata failed its check, and giving up only when no peer has been connected
//!    for `--give-up`: while peers are connected, no deadline ends the wait.
//! 4. Once verified, the metadata is kept as `DIR/.smalltorrent/<info-hash>.torrent`, the
//!    parts are built on it, the saver and the recorder start, and each waiting peer
//!    thread carries on with the torrent on its connection. The rest is `main_loop.rs`,
//!    as for a .torrent file.

use super::give_up::GiveUp;
use super::parts::Parts;
use super::threads::{Swarm, Threads};
use super::{DownloadError, Options, Source, Summary, main_loop};
use crate::metadata::{self, Event, Fetch};
use crate::metainfo::Metainfo;
use crate::progress::Display;
use crate::resume::{self, STATE_DIR};
use crate::stats::Counters;
use crossbeam_channel::{Receiver, select, unbounded};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the wait redraws its line and looks at the peers.
const TICK: Duration = Duration::from_millis(250);

/// Where the metadata of the torrent `info_hash` is kept under the data folder `dir`.
pub(super) fn metadata_path(dir: &Path, info_hash: &[u8; 20]) -> PathBuf {
    dir.join(STATE_DIR)
        .join(format!("{}.torrent", hex(info_hash)))
}

/// The torrent file an earlier run kept for `info_hash`, if it is there and is that
/// torrent.
pub(super) fn saved(dir: &Path, info_hash: &[u8; 20]) -> Option<PathBuf> {
    let path = metadata_path(dir, info_hash);
    match Metainfo::from_file(&path) {
        Ok(meta) if meta.info_hash == *info_hash => {
            log::info!("using the metadata kept in {}", path.display());
            Some(path)
        }
        Ok(_) => {
            log::warn!(
                "{} is another torrent; fetching the metadata again",
                path.display()
            );
            None
        }
        Err(_) => None,
    }
}

/// Fetches the metadata of `info_hash` from peers, then downloads as from a torrent file.
pub(super) fn run(
    options: &Options,
    info_hash: [u8; 20],
    interrupt: &Receiver<()>,
    started: Instant,
) -> Result<Summary, DownloadError> {
    if options.trackers.is_empty() && options.peers.is_empty() && options.dht.is_none() {
        return Err(DownloadError::NoTracker(
            "the magnet link names no tracker (tr) and no peer (x.pe), no --peer or \
             --tracker was given, and the DHT is off (--no-dht)"
                .into(),
        ));
    }
    // What trackers call `left` is unknown until the metadata says; any non-zero value
    // keeps us from being listed as a seed.
    let counters = Arc::new(Counters::new(1));
    let (events_tx, events) = unbounded();
    let swarm = Swarm {
        info_hash,
        trackers: options
            .trackers
            .iter()
            .map(|url| vec![url.clone()])
            .collect(),
        counters: counters.clone(),
        metadata: Some(Arc::new(Fetch::new(info_hash, events_tx))),
        private: false,
        dht_nodes: Vec::new(),
    };
    let mut threads = Threads::start(options, swarm, None)?;
    let outcome = wait_for_metadata(options, &threads, &events, interrupt, &counters)
        .and_then(|info| keep(options, info_hash, &info))
        .and_then(|path| {
            let (parts, recorder) = Parts::build(options, &path, counters.clone())?;
            if let Some(watcher) = &options.watcher {
                watcher.attach(parts.pieces.clone(), parts.counters.clone());
            }
            threads.add_torrent(&parts, recorder, options)?;
            let other_sources = !options.peers.is_empty() || threads.dht_nodes().is_some();
            let give_up = GiveUp::new(!options.trackers.is_empty(), other_sources, options.give_up);
            main_loop::run(&parts, options, &threads, give_up, interrupt, started)?;
            Ok(parts)
        });
    let written = threads.shutdown();
    let parts = outcome?;
    written.map_err(DownloadError::Storage)?;
    Ok(parts.summary())
}

/// Waits until the peers have fetched and verified the metadata.
fn wait_for_metadata(
    options: &Options,
    threads: &Threads,
    events: &Receiver<Event>,
    interrupt: &Receiver<()>,
    counters: &Counters,
) -> Result<Arc<[u8]>, DownloadError> {
    let mut display = Display::new(options.progress);
    let other_sources = !options.peers.is_empty() || threads.dht_nodes().is_some();
    let mut give_up =
        GiveUp::new(!options.trackers.is_empty(), other_sources, options.give_up).for_metadata();
    let name = match &options.source {
        Source::Magnet {
            name: Some(name), ..
        } => format!(" of {name}"),
        _ => String::new(),
    };
    let outcome = loop {
        select! {
            recv(events) -> event => match event {
                Ok(Event::Verified(info)) => break Ok(info),
                Ok(Event::Failed { contributors }) => threads.blame(contributors),
                Err(_) => break Err(DownloadError::Thread(std::io::Error::other(
                    "the metadata assembly is gone",
                ))),
            },
            recv(threads.reports) -> report => {
                if let Ok(report) = report {
                    give_up.tracker_report(report);
                }
            },
            recv(interrupt) -> _ => break Err(DownloadError::Interrupted),
            default(TICK) => {},
        }
        let (peers, dht_nodes) = (counters.peers(), threads.dht_nodes());
        let stalled = give_up.metadata_stalled(peers, dht_nodes);
        let text = format!("fetching metadata{name} from {peers} peers");
        display.status(Instant::now(), &text, &stalled);
        if let Some(error) = give_up.check(peers) {
            break Err(error);
        }
    };
    display.finish();
    outcome
}

/// Keeps the verified metadata, with the link's trackers, as the torrent file a rerun of
/// the link will use; returns its path.
fn keep(options: &Options, info_hash: [u8; 20], info: &[u8]) -> Result<PathBuf, DownloadError> {
    let path = metadata_path(&options.dir, &info_hash);
    std::fs::create_dir_all(&options.dir).map_err(|source| {
        DownloadError::SaveMetadata(resume::ResumeError::Io {
            path: options.dir.clone(),
            action: "create folder",
            source,
        })
    })?;
    let bytes = metadata::torrent_file(info, &options.trackers);
    resume::write_atomically(&path, &bytes).map_err(DownloadError::SaveMetadata)?;
    log::info!("metadata kept in {}", path.display());
    Ok(path)
}

/// 40 lowercase hex digits.
fn hex(bytes: &[u8; 20]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

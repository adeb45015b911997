//! A download's threads: starting them in order, on parts already built ([`Threads::start`]),
//! the few messages the main loop sends them, and the ordered shutdown that joins them all
//! ([`Threads::shutdown`]).

use super::parts::Parts;
use super::{DownloadError, Options};
use crate::announcer::{self, AnnouncerConfig, Report};
use crate::block_saver::{self, Event};
use crate::listener::{self, Listener};
use crate::peer::{Registry, Shared, Timeouts};
use crate::peer_manager::{self, Inputs};
use crate::piece_manager::PeerKey;
use crate::progress;
use crate::random::Rng;
use crate::rate_limit::RateLimit;
use crate::resume::recorder::Recorder;
use crate::storage::StorageError;
use crossbeam_channel::{Receiver, Sender, unbounded};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;

/// The running threads and how to reach them.
pub(super) struct Threads {
    listener: Listener,
    manager: (JoinHandle<()>, Sender<peer_manager::Command>),
    saver: JoinHandle<()>,
    /// The resume recorder, if this torrent keeps a resume file.
    recorder: Option<(JoinHandle<()>, Sender<()>)>,
    announcer: (JoinHandle<()>, Sender<announcer::Command>),
    /// What the block saver and its hasher report: read by the main loop, drained at
    /// shutdown for a last disk error.
    pub(super) saver_events: Receiver<Event>,
    /// What the announcer reports, for the main loop.
    pub(super) reports: Receiver<Report>,
}

impl Threads {
    /// Starts every thread, in this order: the block saver (which starts its hasher), the
    /// listener, the announcer, the peer manager (then it is given the `--peer`
    /// addresses), the resume recorder. What an early thread has for a later one (accepted
    /// connections, addresses from trackers) waits in an unbounded channel until it runs.
    pub(super) fn start(
        parts: &Parts,
        recorder: Option<Recorder>,
        options: &Options,
        trackers: Vec<Vec<String>>,
    ) -> Result<Threads, DownloadError> {
        let (saver_events, saver_inbox) = unbounded();
        let (saver_handle, saver) = block_saver::spawn(
            block_saver::Shared {
                storage: parts.storage.clone(),
                pieces: parts.pieces.clone(),
                geometry: parts.geometry,
                hashes: Arc::new(parts.meta.pieces.clone()),
                counters: parts.counters.clone(),
                tracer: options.tracer.clone(),
            },
            saver_events,
        )
        .map_err(DownloadError::Thread)?;
        let (incoming, incoming_inbox) = unbounded();
        let listener = start_listener(options, incoming)?;
        let shared = Arc::new(shared(parts, options, saver));
        let (addresses, address_inbox) = unbounded();
        let (reports, report_inbox) = unbounded();
        let (announcer_handle, announcer) = announcer::spawn(
            AnnouncerConfig {
                trackers,
                info_hash: parts.meta.info_hash,
                peer_id: shared.peer_id,
                port: listener.addr().port(),
                numwant: 50,
                bind: options.bind,
            },
            parts.counters.clone(),
            addresses.clone(),
            reports,
        )
        .map_err(DownloadError::Thread)?;
        let want_peers = announcer.clone();
        let watcher = options.watcher.clone();
        let (manager_handle, manager) = peer_manager::spawn(
            shared,
            options.max_peers,
            Inputs {
                addresses: address_inbox,
                incoming: incoming_inbox,
                want_peers: Box::new(move || {
                    let _ = want_peers.send(announcer::Command::NeedPeers);
                }),
                own_addr: Some(listener.addr()),
                peer_started: Box::new(move |addr, status| {
                    if let Some(watcher) = &watcher {
                        watcher.peer_started(addr, status.clone());
                    }
                }),
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
        Ok(Threads {
            listener,
            manager: (manager_handle, manager),
            saver: saver_handle,
            recorder,
            announcer: (announcer_handle, announcer),
            saver_events: saver_inbox,
            reports: report_inbox,
        })
    }

    /// Tells the peer manager who sent data for a piece that failed its hash check.
    pub(super) fn blame(&self, peers: Vec<PeerKey>) {
        let _ = self.manager.1.send(peer_manager::Command::Blame { peers });
    }

    /// Tells the announcer the download is complete (the `completed` announce).
    pub(super) fn completed(&self) {
        let _ = self.announcer.1.send(announcer::Command::Completed);
    }

    /// Stops everything in order and joins every thread: the listener stops, then the
    /// peers, then the saver writes what is queued, then the recorder writes its last
    /// record, then the announcer tells the trackers `stopped`. Returns the disk error the
    /// saver reported, if any.
    pub(super) fn shutdown(self) -> Result<(), StorageError> {
        self.listener.stop();
        let _ = self.manager.1.send(peer_manager::Command::Stop);
        crate::threads::join(self.manager.0);
        // Every peer thread has ended and with them every sender to the saver: the saver
        // writes what is still queued, waits for its hasher to give every complete piece
        // its verdict, and ends.
        crate::threads::join(self.saver);
        // Everything is in the map: the recorder's last record covers it all.
        if let Some((handle, stop)) = self.recorder {
            let _ = stop.send(());
            crate::threads::join(handle);
        }
        let mut written = Ok(());
        for event in self.saver_events.try_iter() {
            if let Event::DiskError(error) = event {
                written = Err(error);
            }
        }
        let _ = self.announcer.1.send(announcer::Command::Stop);
        crate::threads::join(self.announcer.0);
        written
    }
}

/// Starts the listener on `--bind` (all interfaces by default) and `--port`.
fn start_listener(
    options: &Options,
    incoming: Sender<(TcpStream, SocketAddr)>,
) -> Result<Listener, DownloadError> {
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
    Ok(listener)
}

/// What every peer thread will share, with a fresh peer id.
fn shared(parts: &Parts, options: &Options, saver: Sender<block_saver::Command>) -> Shared {
    let peer_id = peer_id();
    Shared {
        info_hash: parts.meta.info_hash,
        peer_id,
        geometry: parts.geometry,
        pieces: parts.pieces.clone(),
        storage: parts.storage.clone(),
        saver,
        counters: parts.counters.clone(),
        timeouts: Timeouts::default(),
        pipeline: options.pipeline,
        bind: options.bind,
        encryption: options.encryption,
        tracer: options.tracer.clone(),
        upload_limit: options
            .max_upload_rate
            .map(|rate| Arc::new(RateLimit::new(rate))),
        registry: Arc::new(Registry::new(peer_id)),
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

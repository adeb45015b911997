//! A download's threads: starting them in order, on parts already built ([`Threads::start`]),
//! the few messages the main loop sends them, and the ordered shutdown that joins them all
//! ([`Threads::shutdown`]).

use super::parts::Parts;
use super::{DownloadError, Options};
use crate::announcer::{self, AnnouncerConfig, Report};
use crate::block_pool::BlockPool;
use crate::block_saver::{self, Event};
use crate::dht::{self, Node};
use crate::listener::{self, Listener};
use crate::metadata::Fetch;
use crate::peer::{Registry, Shared, Timeouts, Torrent};
use crate::peer_manager::{self, Inputs};
use crate::piece_manager::PeerKey;
use crate::progress;
use crate::random::Rng;
use crate::rate_limit::RateLimit;
use crate::resume::STATE_DIR;
use crate::resume::recorder::Recorder;
use crate::stats::Counters;
use crate::storage::StorageError;
use crate::web_seed::{self, WebSeeds};
use crossbeam_channel::{Receiver, Sender, unbounded};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

/// The running threads and how to reach them.
pub(super) struct Threads {
    listener: Listener,
    manager: (JoinHandle<()>, Sender<peer_manager::Command>),
    announcer: (JoinHandle<()>, Sender<announcer::Command>),
    /// What every peer thread shares, to hand it the torrent's parts once they exist.
    /// Dropped at shutdown as soon as the peers have ended: it holds the saver's channel.
    shared: Option<Arc<Shared>>,
    /// The block saver, once the torrent's parts exist.
    saver: Option<JoinHandle<()>>,
    /// The web seeds (BEP 19) the torrent lists, once its parts exist.
    web_seeds: WebSeeds,
    /// The resume recorder, if this torrent keeps a resume file.
    recorder: Option<(JoinHandle<()>, Sender<()>)>,
    /// Given to the block saver when it starts.
    saver_reports: Option<Sender<Event>>,
    /// What the block saver and its hasher report: read by the main loop, drained at
    /// shutdown for a last disk error.
    pub(super) saver_events: Receiver<Event>,
    /// What the announcer reports, for the main loop.
    pub(super) reports: Receiver<Report>,
    /// The DHT node, unless `--no-dht` or the torrent is private.
    dht: Option<Node>,
    /// The info-hash, our listen port and where the DHT's peers go: for the search that
    /// announces, once a magnet link's metadata says the torrent is not private.
    dht_search: ([u8; 20], u16, Sender<Vec<SocketAddr>>),
}

/// What the threads of a swarm need before the torrent's metadata is known.
pub(super) struct Swarm {
    pub(super) info_hash: [u8; 20],
    pub(super) trackers: Vec<Vec<String>>,
    pub(super) counters: Arc<Counters>,
    /// The metadata assembly, for a magnet link.
    pub(super) metadata: Option<Arc<Fetch>>,
    /// The torrent is private (BEP 27): no DHT. Unknown, so `false`, for a magnet link
    /// until its metadata is in.
    pub(super) private: bool,
    /// DHT nodes the torrent names (`nodes`), to bootstrap from besides the usual ones.
    pub(super) dht_nodes: Vec<String>,
}

impl Threads {
    /// Starts every thread, in this order: the listener; with `torrent`, the block saver
    /// (which starts its hasher); the announcer; the peer manager (then it is given the
    /// `--peer` addresses); with `torrent`, the resume recorder. Without `torrent` (a
    /// magnet link) the peers wait for the metadata, and [`Threads::add_torrent`] starts
    /// the rest. What an early thread has for a later one (accepted connections,
    /// addresses from trackers) waits in an unbounded channel until it runs.
    pub(super) fn start(
        options: &Options,
        swarm: Swarm,
        torrent: Option<(&Parts, Option<Recorder>)>,
    ) -> Result<Threads, DownloadError> {
        let (incoming, incoming_inbox) = unbounded();
        let listener = start_listener(options, incoming)?;
        // Addresses for the peer manager: from the announcer, `--peer`, peer exchange and
        // the DHT.
        let (addresses, address_inbox) = unbounded();
        let port = listener.addr().port();
        let dht = if swarm.private {
            None
        } else {
            start_dht(options, port, &swarm.dht_nodes)
        };
        if let (Some(node), Some(watcher)) = (&dht, &options.watcher) {
            watcher.dht_started(node.stats.clone());
        }
        let shared = Arc::new(shared(
            &swarm,
            options,
            port,
            addresses.clone(),
            dht.as_ref(),
        ));
        let (saver_reports, saver_events) = unbounded();
        let (saver, saver_reports, recorder, web_seeds) = match torrent {
            Some((parts, recorder)) => {
                let saver = start_saver(parts, options, &shared, saver_reports)?;
                let web_seeds = start_web_seeds(parts, &shared);
                (Some(saver), None, recorder, web_seeds)
            }
            None => (None, Some(saver_reports), None, WebSeeds::none()),
        };
        let (reports, report_inbox) = unbounded();
        let (announcer_handle, announcer) = announcer::spawn(
            AnnouncerConfig {
                trackers: swarm.trackers,
                info_hash: swarm.info_hash,
                peer_id: shared.peer_id,
                port: listener.addr().port(),
                numwant: 50,
                bind: options.bind,
                ipv6: crate::net::global_ipv6(listener.addr().ip(), options.bind),
            },
            swarm.counters.clone(),
            addresses.clone(),
            reports,
        )
        .map_err(DownloadError::Thread)?;
        let want_peers = announcer.clone();
        let dht_wants = dht.as_ref().map(|node| (node.commands(), swarm.info_hash));
        let watcher = options.watcher.clone();
        let (manager_handle, manager) = peer_manager::spawn(
            shared.clone(),
            options.max_peers,
            Inputs {
                addresses: address_inbox,
                incoming: incoming_inbox,
                want_peers: Box::new(move |connected| {
                    let _ = want_peers.send(announcer::Command::NeedPeers { connected });
                    if let Some((node, info_hash)) = &dht_wants {
                        let info_hash = *info_hash;
                        let _ = node.send(dht::Command::WantPeers { info_hash });
                    }
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
        let dht_search = (swarm.info_hash, port, addresses.clone());
        if let Some(node) = &dht {
            // A magnet link's torrent may turn out private: announce only once it is known.
            let announce = swarm.metadata.is_none().then_some(port);
            node.send(dht::Command::Search {
                info_hash: swarm.info_hash,
                announce,
                peers: addresses.clone(),
            });
        }
        let mut threads = Threads {
            listener,
            manager: (manager_handle, manager),
            announcer: (announcer_handle, announcer),
            shared: Some(shared),
            saver,
            web_seeds,
            recorder: None,
            saver_reports,
            saver_events,
            reports: report_inbox,
            dht,
            dht_search,
        };
        threads.start_recorder(recorder)?;
        Ok(threads)
    }

    /// The metadata is known and the torrent's parts are built: starts the block saver,
    /// hands the parts to the peers (each waiting peer thread carries on with them), then
    /// starts the resume recorder.
    pub(super) fn add_torrent(
        &mut self,
        parts: &Parts,
        recorder: Option<Recorder>,
        options: &Options,
    ) -> Result<(), DownloadError> {
        if let (Some(shared), Some(reports)) = (&self.shared, self.saver_reports.take()) {
            self.saver = Some(start_saver(parts, options, shared, reports)?);
            self.web_seeds = start_web_seeds(parts, shared);
        }
        if parts.meta.private
            && let Some(node) = self.dht.take()
        {
            // BEP 27: the metadata says private; the lookup may have started, no announce.
            log::info!("the torrent is private: no DHT");
            node.stop();
        }
        if let Some(node) = &self.dht {
            let (info_hash, port, peers) = self.dht_search.clone();
            node.send(dht::Command::Search {
                info_hash,
                announce: Some(port),
                peers,
            });
        }
        self.start_recorder(recorder)
    }

    /// Nodes in the DHT's routing table, when it runs.
    pub(super) fn dht_nodes(&self) -> Option<u64> {
        let nodes = self.dht.as_ref()?.stats.nodes.load(Ordering::Relaxed);
        Some(nodes as u64)
    }

    fn start_recorder(&mut self, recorder: Option<Recorder>) -> Result<(), DownloadError> {
        if let Some(recorder) = recorder {
            self.recorder = Some(recorder.spawn().map_err(DownloadError::Thread)?);
        }
        Ok(())
    }

    /// Tells the peer manager who sent data for a piece (or metadata) that failed its
    /// hash check.
    pub(super) fn blame(&self, peers: Vec<PeerKey>) {
        self.web_seeds.blame(&peers);
        let _ = self.manager.1.send(peer_manager::Command::Blame { peers });
    }

    /// Tells the announcer the download is complete (the `completed` announce).
    pub(super) fn completed(&self) {
        let _ = self.announcer.1.send(announcer::Command::Completed);
    }

    /// Stops everything in order and joins every thread: the listener stops, then the
    /// web seeds (told, not waited for: see `web_seed`), then the peers, then the saver
    /// writes what is queued, then the recorder writes its last record, then the announcer
    /// tells the trackers `stopped`. Returns the disk error the saver reported, if any.
    pub(super) fn shutdown(mut self) -> Result<(), StorageError> {
        self.listener.stop();
        self.web_seeds.stop();
        let _ = self.manager.1.send(peer_manager::Command::Stop);
        crate::threads::join(self.manager.0);
        // Every peer thread has ended; with our own handle on what they shared, the last
        // sender to the saver goes. The saver writes what is still queued, waits for its
        // hasher to give every complete piece its verdict, and ends.
        self.shared = None;
        if let Some(saver) = self.saver {
            crate::threads::join(saver);
        }
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
        if let Some(node) = self.dht {
            node.stop();
        }
        written
    }
}

/// Starts the block saver on `parts`, then gives the peer threads the torrent's parts.
fn start_saver(
    parts: &Parts,
    options: &Options,
    shared: &Shared,
    reports: Sender<Event>,
) -> Result<JoinHandle<()>, DownloadError> {
    let pool = BlockPool::new();
    let (handle, saver) = block_saver::spawn(
        block_saver::Shared {
            storage: parts.storage.clone(),
            pieces: parts.pieces.clone(),
            geometry: parts.geometry,
            hashes: Arc::new(parts.meta.pieces.clone()),
            counters: parts.counters.clone(),
            tracer: options.tracer.clone(),
            pool: pool.clone(),
        },
        reports,
    )
    .map_err(DownloadError::Thread)?;
    let torrent = Torrent {
        geometry: parts.geometry,
        pieces: parts.pieces.clone(),
        storage: parts.storage.clone(),
        saver,
        pool,
        info: parts.meta.info.clone(),
        private: parts.meta.private,
    };
    // Set once: the saver starts once per download.
    let _ = shared.torrent.set(Arc::new(torrent));
    Ok(handle)
}

/// Starts a thread for each web seed of the torrent, unless it is complete.
fn start_web_seeds(parts: &Parts, shared: &Shared) -> WebSeeds {
    let Some(torrent) = shared.torrent.get() else {
        return WebSeeds::none();
    };
    if parts.meta.url_list.is_empty() || parts.pieces.is_complete() {
        return WebSeeds::none();
    }
    let web = web_seed::Parts {
        pieces: parts.pieces.clone(),
        geometry: parts.geometry,
        saver: torrent.saver.clone(),
        counters: parts.counters.clone(),
        download_limit: shared.download_limit.clone(),
    };
    WebSeeds::spawn(&parts.meta, web)
}

/// Starts the listener on `--bind` (all interfaces, IPv6 and IPv4, by default) and
/// `--port`.
fn start_listener(
    options: &Options,
    incoming: Sender<(TcpStream, SocketAddr)>,
) -> Result<Listener, DownloadError> {
    let listen_ip = options.bind.unwrap_or(listener::ALL);
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

/// Starts the DHT node on UDP at the listen port (as libtorrent and Transmission do),
/// bootstrapping from `--dht-bootstrap` (or the routers) and the torrent's own nodes,
/// keeping its table in `DIR/.smalltorrent/dht.dat`; `None` with `--no-dht`, or if the
/// port cannot be had (the download goes on without it).
fn start_dht(options: &Options, port: u16, torrent_nodes: &[String]) -> Option<Node> {
    let mut bootstrap = options.dht.clone()?;
    bootstrap.extend(torrent_nodes.iter().cloned());
    let ip = match options.bind {
        None => Ipv4Addr::UNSPECIFIED,
        Some(IpAddr::V4(ip)) => ip,
        Some(IpAddr::V6(ip)) => {
            log::warn!("no DHT: it speaks IPv4 and --bind is {ip}");
            return None;
        }
    };
    let config = dht::Config {
        bind: SocketAddrV4::new(ip, port),
        bootstrap,
        table_file: Some(options.dir.join(STATE_DIR).join("dht.dat")),
    };
    match Node::spawn(config) {
        Ok(node) => {
            log::info!("dht node on udp {}", node.addr);
            Some(node)
        }
        Err(error) => {
            log::warn!("no DHT: cannot listen on udp {ip}:{port}: {error}");
            None
        }
    }
}

/// What every peer thread will share, with a fresh peer id; the torrent's parts come later.
/// The peers that peers tell of go to `addresses`.
fn shared(
    swarm: &Swarm,
    options: &Options,
    listen_port: u16,
    addresses: Sender<Vec<SocketAddr>>,
    dht: Option<&Node>,
) -> Shared {
    let peer_id = peer_id();
    Shared {
        info_hash: swarm.info_hash,
        peer_id,
        torrent: OnceLock::new(),
        counters: swarm.counters.clone(),
        timeouts: Timeouts::default(),
        pipeline: options.pipeline,
        bind: options.bind,
        encryption: options.encryption,
        tracer: options.tracer.clone(),
        upload_limit: options
            .max_upload_rate
            .map(|rate| Arc::new(RateLimit::new(rate))),
        download_limit: options
            .max_download_rate
            .map(|rate| Arc::new(RateLimit::new(rate))),
        registry: Arc::new(Registry::new(peer_id)),
        listen_port: Some(listen_port),
        metadata: swarm.metadata.clone(),
        dht: dht.map(|node| (node.addr.port(), node.commands())),
        addresses,
        super_seed: options
            .super_seed
            .then(|| Arc::new(crate::super_seed::SuperSeed::new())),
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

//! One peer of the demo swarm (main thread's view of it): its options, its thread (and
//! when to start it), and reading its observer for the live line and the final tables.

use super::discovery::Discovery;
use super::view::{self, PeerLine, Row};
use super::{DemoError, TICK};
use crate::download::{self, DownloadError, Source, Summary};
use crate::extras::demo::observer::{Exchanged, Observer};
use crate::peer::Encryption;
use crate::progress;
use crate::transcript::Tracer;
use crossbeam_channel::{Sender, bounded};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A peer's thread and the channel that ends its download.
pub(super) type Running = (JoinHandle<Result<Summary, DownloadError>>, Sender<()>);

/// One peer of the swarm, running or still to join.
pub(super) struct Peer {
    pub(super) name: String,
    pub(super) ip: IpAddr,
    /// The download's options (kept until the peer is started).
    options: download::Options,
    pub(super) observer: Arc<Observer>,
    /// When it joins, from the start of the swarm.
    pub(super) joins_at: Duration,
    pub(super) running: Option<Running>,
    /// Totals and per-IP bytes at the last tick, for rates and "from".
    last: (Exchanged, BTreeMap<IpAddr, Exchanged>),
    rates: (f64, f64),
}

/// A peer that has not started yet.
pub(super) fn peer(
    name: String,
    ip: IpAddr,
    dir: PathBuf,
    torrent: PathBuf,
    joins_at: Duration,
    max_upload_rate: Option<u64>,
    dht: Option<Vec<String>>,
) -> Peer {
    let observer = Arc::new(Observer::new());
    let options = download::Options {
        source: Source::Torrent(torrent),
        dir,
        progress: progress::Mode::Quiet,
        max_peers: 50,
        port: 0,
        bind: Some(ip),
        encryption: Encryption::Plain,
        peers: Vec::new(),
        select: None,
        trackers: Vec::new(),
        give_up: Duration::from_secs(60),
        pipeline: 128,
        report_check: false,
        // Leechers too: a complete leecher goes on serving the others.
        seed: true,
        seed_ratio: None,
        super_seed: false,
        seed_time: None,
        max_upload_rate,
        max_download_rate: None,
        // The demo swarm is on loopback: it never asks the internet's DHT. With `--dht`,
        // its DHT bootstraps from the demo's own node alone (see `discovery.rs`).
        dht,
        tracer: Tracer::disabled(),
        watcher: Some(observer.clone()),
    };
    Peer {
        name,
        ip,
        options,
        observer,
        joins_at,
        running: None,
        last: Default::default(),
        rates: (0.0, 0.0),
    }
}

/// The seeder is 127.0.0.2, leecher `n` is 127.0.0.(2 + n).
pub(super) fn ip(n: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + n as u8))
}

pub(super) fn start(peer: &mut Peer) -> Result<(), DemoError> {
    let (stop, stopped) = bounded(1);
    let options = peer.options.clone();
    let handle = std::thread::Builder::new()
        .name(format!("demo {}", peer.name))
        .spawn(move || download::run(&options, &stopped))
        .map_err(DemoError::Thread)?;
    peer.running = Some((handle, stop));
    Ok(())
}

/// Starts the peers whose time has come (`now`, from the start of the swarm) and who may
/// start ([`Discovery::may_start`]); fails if a running one has ended.
pub(super) fn start_due(
    peers: &mut [Peer],
    discovery: &Discovery,
    now: Duration,
    last_start: &mut Instant,
) -> Result<(), DemoError> {
    for (n, peer) in peers.iter_mut().enumerate() {
        if peer.running.is_none()
            && peer.joins_at <= now
            && discovery.may_start(n, last_start.elapsed())
        {
            start(peer)?;
            *last_start = Instant::now();
        }
        check_running(peer)?;
    }
    Ok(())
}

/// Fails if the peer's download ended on its own (it only ends when told to).
pub(super) fn check_running(peer: &mut Peer) -> Result<(), DemoError> {
    let finished = matches!(&peer.running, Some((handle, _)) if handle.is_finished());
    if !finished {
        return Ok(());
    }
    let name = peer.name.clone();
    match peer.running.take().map(|(handle, _)| handle.join()) {
        Some(Ok(Err(error))) => Err(DemoError::Peer { name, error }),
        Some(Err(_)) => Err(DemoError::Panicked { name }),
        _ => Err(DemoError::Peer {
            name,
            error: DownloadError::Interrupted,
        }),
    }
}

/// Reads one peer's state for its line; updates its rates.
pub(super) fn sample(peer: &mut Peer, now: Duration, names: &BTreeMap<IpAddr, String>) -> PeerLine {
    let mut line = PeerLine {
        name: peer.name.clone(),
        ip: peer.ip.to_string(),
        ..PeerLine::default()
    };
    if peer.running.is_none() {
        // Its time has come but it waits for the one before it (`--dht`): "starting".
        line.joins_in = Some(peer.joins_at.saturating_sub(now)).filter(|wait| !wait.is_zero());
        return line;
    }
    line.pieces = peer.observer.verified();
    let totals = peer.observer.totals();
    let per_ip = peer.observer.per_ip();
    let found = peer.observer.found_by_dht();
    let per_second = 1.0 / TICK.as_secs_f64();
    let rate = |now: u64, before: u64| now.saturating_sub(before) as f64 * per_second;
    // Smoothed over about a second, so the numbers can be read.
    peer.rates.0 = 0.7 * peer.rates.0 + 0.3 * rate(totals.downloaded, peer.last.0.downloaded);
    peer.rates.1 = 0.7 * peer.rates.1 + 0.3 * rate(totals.uploaded, peer.last.0.uploaded);
    (line.down_rate, line.up_rate) = peer.rates;
    for (ip, exchanged) in &per_ip {
        let before = peer.last.1.get(ip).map_or(0, |e| e.downloaded);
        if exchanged.downloaded > before {
            let mut name = names.get(ip).cloned().unwrap_or_else(|| ip.to_string());
            if found.contains(ip) {
                // Its DHT found this one (`--dht`): `seeder*`.
                name.push('*');
            }
            line.from.push(name);
        }
    }
    peer.last = (totals, per_ip);
    line
}

/// The final tables, from every peer's observer (all threads have ended). The seeder is
/// `peers[0]`.
pub(super) fn report(peers: &[Peer], payload: u64, elapsed: Duration) -> String {
    let rows: Vec<Row> = peers
        .iter()
        .enumerate()
        .map(|(n, peer)| {
            let totals = peer.observer.totals();
            Row {
                name: peer.name.clone(),
                seeder: n == 0,
                ip: peer.ip.to_string(),
                complete: peer.observer.is_complete(),
                downloaded: totals.downloaded,
                uploaded: totals.uploaded,
            }
        })
        .collect();
    // sent[i][j]: what peer j received from peer i, as peer j counted it.
    let received: Vec<BTreeMap<IpAddr, Exchanged>> =
        peers.iter().map(|peer| peer.observer.per_ip()).collect();
    let sent: Vec<Vec<u64>> = peers
        .iter()
        .map(|sender| {
            received
                .iter()
                .map(|table| table.get(&sender.ip).map_or(0, |e| e.downloaded))
                .collect()
        })
        .collect();
    view::final_report(&rows, &sent, payload, elapsed)
}

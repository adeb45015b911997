//! `smalltorrent demo`: a whole swarm on this machine, drawn live.
//!
//! * Runs on: the main thread, which starts and watches everything else.
//! * Starts: the built-in tracker (HTTP on 127.0.0.1, port 0), or with `--dht` a DHT node
//!   there and no tracker (see `discovery.rs`); then one seeder and N leechers, each a
//!   complete smalltorrent download ([`crate::download::run`]) on a thread of its own
//!   (`demo seeder`, `demo leecher N`), bound to its own loopback address (127.0.0.2,
//!   127.0.0.3, ...) and talking to the others over real sockets.
//! * Owns: the work folder (see `setup.rs`), each peer's interrupt channel and
//!   [`crate::extras::demo::observer::Observer`], and the tracker or the DHT node.
//!
//! One process rather than child processes: every peer's pieces and counters can be read
//! directly through its observer, with nothing to parse. `download::run` keeps no
//! process-wide state (its Ctrl-C handling lives in `cli/download.rs`), so several run side
//! by side; each gets its own interrupt channel, which is how the demo ends them.
//!
//! Leechers keep seeding once complete, so early finishers serve the others. The demo
//! ends when every leecher has verified every piece: it interrupts every peer, joins every
//! thread, stops the tracker (or the node), prints the tables and removes its files
//! (unless `--keep`).

mod discovery;
pub mod observer;
mod peer;
mod setup;
mod view;

use crate::download::DownloadError;
use crate::extras::create::CreateError;
use crate::progress;
use crossbeam_channel::Receiver;
use discovery::Discovery;
use peer::{Peer, check_running, ip, peer, report, sample, start, start_due};
use std::collections::BTreeMap;
use std::fmt;
use std::io::IsTerminal;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use view::{PeerLine, Screen};

/// How often the swarm is redrawn and checked.
const TICK: Duration = Duration::from_millis(250);
/// How often, between two ticks, peers waiting to start are looked at.
const START_POLL: Duration = Duration::from_millis(50);
/// The seeder uploads the payload once in about this many seconds (see [`seeder_rate`]).
const SEEDER_SECONDS: u64 = 10;
/// The seeder's upload limit is never below this (bytes per second).
const SEEDER_MIN_RATE: u64 = 2 << 20;
/// How long the seeder may take to check its data and announce (to the tracker or the
/// DHT node).
const SEEDER_READY: Duration = Duration::from_secs(60);

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct Config {
    pub leechers: usize,
    /// Payload size in bytes.
    pub size: u64,
    /// Leechers join one by one, every `growth_every`, instead of all at once.
    pub growth: bool,
    pub growth_every: Duration,
    /// Keep the files in this folder instead of a temporary one that is removed.
    pub keep: Option<PathBuf>,
    /// No tracker: the peers find each other through a DHT node of the demo's own.
    pub dht: bool,
}

/// Why the demo did not finish.
#[derive(Debug)]
pub enum DemoError {
    /// A file or folder of the demo could not be made.
    Files {
        what: String,
        source: std::io::Error,
    },
    /// Making the torrent failed.
    Create(CreateError),
    /// The tracker could not start (no loopback interface?).
    Tracker(std::io::Error),
    /// The DHT node could not start (`--dht`).
    DhtNode(std::io::Error),
    /// A peer thread could not start.
    Thread(std::io::Error),
    /// The seeder could not be found in time; says what it did not do (`reach the
    /// tracker`, `announce itself to the dht node ...`).
    SeederNotReady(String),
    /// A peer stopped with an error.
    Peer { name: String, error: DownloadError },
    /// A peer's thread panicked.
    Panicked { name: String },
    /// Ctrl-C.
    Interrupted,
}

impl fmt::Display for DemoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DemoError::Files { what, source } => write!(f, "cannot {what}: {source}"),
            DemoError::Create(e) => write!(f, "cannot make the demo torrent: {e}"),
            DemoError::Tracker(e) => write!(f, "cannot start the tracker on 127.0.0.1: {e}"),
            DemoError::Thread(e) => write!(f, "cannot start a thread: {e}"),
            DemoError::DhtNode(e) => write!(f, "cannot start the dht node on 127.0.0.1: {e}"),
            DemoError::SeederNotReady(what) => write!(
                f,
                "the seeder did not {what} within {} s",
                SEEDER_READY.as_secs()
            ),
            DemoError::Peer {
                name,
                error: error @ DownloadError::Listen { .. },
            } => write!(
                f,
                "{name} failed: {error} (the demo needs the loopback addresses 127.0.0.2 \
                 and up, as Linux provides)"
            ),
            DemoError::Peer { name, error } => write!(f, "{name} failed: {error}"),
            DemoError::Panicked { name } => write!(f, "{name} crashed (a bug: please report it)"),
            DemoError::Interrupted => write!(f, "interrupted"),
        }
    }
}

impl std::error::Error for DemoError {}

/// Runs the demo until every leecher is complete; returns the final report.
pub fn run(config: &Config, interrupt: &Receiver<()>) -> Result<String, DemoError> {
    let discovery = Discovery::start(config.dht)?;
    let files = setup::make(
        config.keep.as_deref(),
        config.size,
        config.leechers,
        discovery.announce_url(),
    );
    let files = match files {
        Ok(files) => files,
        Err(error) => {
            discovery.stop();
            return Err(error);
        }
    };
    let outcome = run_swarm(config, &files, &discovery, interrupt);
    discovery.stop();
    let outcome = outcome.map(|report| match &config.keep {
        Some(dir) => format!("{report}files kept in {}\n", dir.display()),
        None => report,
    });
    files.clean_up();
    outcome
}

fn run_swarm(
    config: &Config,
    files: &setup::Files,
    discovery: &Discovery,
    interrupt: &Receiver<()>,
) -> Result<String, DemoError> {
    let mut peers: Vec<Peer> = (0..=config.leechers)
        .map(|n| {
            let (name, dir) = match n {
                0 => ("seeder".to_string(), files.seeder_dir.clone()),
                n => (format!("leecher {n}"), files.leecher_dir(n)),
            };
            let joins_at = match (config.growth, n) {
                (_, 0) | (false, _) => Duration::ZERO,
                (true, n) => config.growth_every * (n as u32 - 1),
            };
            let limit = (n == 0).then_some(seeder_rate(config.size));
            let torrent = files.torrent.clone();
            peer(
                name,
                ip(n),
                dir,
                torrent,
                joins_at,
                limit,
                discovery.peer_dht(),
            )
        })
        .collect();
    let facts = || header(config, files, discovery);
    let screen = Screen::open(std::io::stderr().is_terminal(), facts());
    let started = Instant::now();
    let outcome = swarm_loop(&mut peers, screen, discovery, &facts, interrupt, started);
    // Stop every peer, also on an error, and collect how each ended.
    for peer in &peers {
        if let Some((_, stop)) = &peer.running {
            let _ = stop.try_send(());
        }
    }
    let mut failure = outcome.err();
    for peer in &mut peers {
        let Some((handle, _)) = peer.running.take() else {
            continue;
        };
        let ended = match handle.join() {
            Ok(Ok(_)) => continue,
            Ok(Err(error)) => DemoError::Peer {
                name: peer.name.clone(),
                error,
            },
            Err(_) => DemoError::Panicked {
                name: peer.name.clone(),
            },
        };
        failure.get_or_insert(ended);
    }
    if let Some(error) = failure {
        return Err(error);
    }
    let report = report(&peers, config.size, started.elapsed());
    Ok(report + &discovery.report(&peers))
}

/// The facts shown above the live view.
fn header(config: &Config, files: &setup::Files, discovery: &Discovery) -> Vec<String> {
    let mut facts = vec![
        format!(
            "demo: {} payload in {} pieces",
            progress::format_bytes(config.size),
            files.piece_count
        ),
        format!(
            "seeder upload limited to {}",
            progress::format_rate(seeder_rate(config.size) as f64)
        ),
    ];
    facts.extend(discovery.facts());
    facts.push(format!("work folder {}", files.root.display()));
    facts
}

/// Starts peers when their time comes, draws the swarm, and returns once every leecher
/// is complete.
fn swarm_loop(
    peers: &mut [Peer],
    mut screen: Screen,
    discovery: &Discovery,
    facts: &dyn Fn() -> Vec<String>,
    interrupt: &Receiver<()>,
    started: Instant,
) -> Result<(), DemoError> {
    start(&mut peers[0])?;
    let ready = Instant::now();
    while !discovery.seeder_found() {
        if ready.elapsed() > SEEDER_READY {
            return Err(DemoError::SeederNotReady(discovery.where_found()));
        }
        check_running(&mut peers[0])?;
        if interrupt.recv_timeout(Duration::from_millis(50)).is_ok() {
            return Err(DemoError::Interrupted);
        }
    }
    let swarm_start = Instant::now();
    let mut last_start = Instant::now();
    loop {
        let now = swarm_start.elapsed();
        start_due(peers, discovery, now, &mut last_start)?;
        let names: BTreeMap<IpAddr, String> =
            peers.iter().map(|p| (p.ip, p.name.clone())).collect();
        let lines: Vec<PeerLine> = peers.iter_mut().map(|p| sample(p, now, &names)).collect();
        let done = peers
            .iter()
            .all(|p| p.running.is_some() && p.observer.is_complete());
        screen.set_facts(facts());
        screen.draw(started.elapsed(), &lines, done);
        if done {
            return Ok(());
        }
        // Between two ticks too, a peer starts as soon as it may (`--dht`: once the one
        // before it has announced).
        let tick = Instant::now();
        while let Some(left) = TICK.checked_sub(tick.elapsed()).filter(|l| !l.is_zero()) {
            if interrupt.recv_timeout(left.min(START_POLL)).is_ok() {
                return Err(DemoError::Interrupted);
            }
            start_due(peers, discovery, swarm_start.elapsed(), &mut last_start)?;
        }
    }
}

/// The seeder's upload limit: the payload in about [`SEEDER_SECONDS`], at least
/// [`SEEDER_MIN_RATE`]. Like a real seeder's line, it is the swarm's bottleneck, so the
/// leechers must trade with each other.
fn seeder_rate(size: u64) -> u64 {
    (size / SEEDER_SECONDS).max(SEEDER_MIN_RATE)
}

//! The peer-manager thread: owns the set of peer connections.
//!
//! * Runs on: its own thread, `peer-manager`.
//! * Owns: the candidate addresses (from trackers and `--peer`), the running peer threads
//!   (with their stop flags), the strike counts and the banned IP addresses.
//! * Reads: address lists from the announcer; [`Command`]s from the main thread; an
//!   [`Exited`] from every peer thread that ends.
//! * Writes: nothing but stop flags; it asks for more peers through `want_peers`.
//!
//! It keeps up to `max_peers` connections: it dials candidates, reaps peers that ended and
//! replaces them, retries dropped addresses with a growing delay, and bans an address whose
//! data failed the hash check twice as the only contributor to a piece.

use crate::peer::{self, Exited, PeerError, Swarm};
use crate::piece_manager::PeerKey;
use crossbeam_channel::{Receiver, Sender, never, select, unbounded};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Sole-contributor hash failures after which an address is banned.
const STRIKES_TO_BAN: u32 = 2;
/// Connection attempts to one address before we forget it.
const MAX_ATTEMPTS: u32 = 5;
/// How often the thread wakes with nothing to do, to dial and retry.
const TICK: Duration = Duration::from_millis(500);

/// What the main thread tells the peer manager.
#[derive(Debug)]
pub enum Command {
    /// These peers sent data for a piece that failed its hash check.
    Blame { peers: Vec<PeerKey> },
    /// Stop every peer thread, wait for them, and end.
    Stop,
}

/// A peer thread that is running.
struct Running {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    handle: JoinHandle<()>,
}

/// An address we know of and may (re)dial.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    addr: SocketAddr,
    attempts: u32,
    not_before: Instant,
}

struct PeerManager {
    swarm: Arc<Swarm>,
    max_peers: usize,
    want_peers: Box<dyn Fn() + Send>,
    candidates: VecDeque<Candidate>,
    /// Every address that is a candidate or connected, to drop duplicates from trackers.
    known: HashSet<SocketAddr>,
    running: HashMap<PeerKey, Running>,
    /// The address behind every key handed out, to blame peers that already left.
    addresses: HashMap<PeerKey, SocketAddr>,
    attempts: HashMap<SocketAddr, u32>,
    strikes: HashMap<IpAddr, u32>,
    banned: HashSet<IpAddr>,
    next_key: PeerKey,
    exits: Sender<Exited>,
}

/// Starts the peer manager. `addresses` delivers peer lists (the announcer, or a list given
/// on the command line); `want_peers` is called when the candidates run out.
pub fn spawn(
    swarm: Arc<Swarm>,
    max_peers: usize,
    addresses: Receiver<Vec<SocketAddr>>,
    want_peers: Box<dyn Fn() + Send>,
) -> std::io::Result<(JoinHandle<()>, Sender<Command>)> {
    let (commands, inbox) = unbounded();
    let (exits, exited) = unbounded();
    let manager = PeerManager {
        swarm,
        max_peers,
        want_peers,
        candidates: VecDeque::new(),
        known: HashSet::new(),
        running: HashMap::new(),
        addresses: HashMap::new(),
        attempts: HashMap::new(),
        strikes: HashMap::new(),
        banned: HashSet::new(),
        next_key: 1,
        exits,
    };
    let handle = std::thread::Builder::new()
        .name("peer-manager".into())
        .spawn(move || manager.run(addresses, inbox, exited))?;
    Ok((handle, commands))
}

impl PeerManager {
    fn run(
        mut self,
        addresses: Receiver<Vec<SocketAddr>>,
        inbox: Receiver<Command>,
        exited: Receiver<Exited>,
    ) {
        let mut addresses = addresses;
        loop {
            select! {
                recv(addresses) -> list => match list {
                    Ok(list) => self.add_candidates(list),
                    // The announcer is gone; keep working with the peers we know.
                    Err(_) => addresses = never(),
                },
                recv(inbox) -> command => match command {
                    Ok(Command::Blame { peers }) => self.blame(&peers),
                    Ok(Command::Stop) | Err(_) => break,
                },
                recv(exited) -> exit => {
                    if let Ok(exit) = exit {
                        self.reap(exit);
                    }
                },
                default(TICK) => {},
            }
            self.dial_more();
        }
        self.stop_all(&exited);
    }

    fn add_candidates(&mut self, list: Vec<SocketAddr>) {
        let now = Instant::now();
        for addr in list {
            if self.banned.contains(&addr.ip()) || addr.port() == 0 || !self.known.insert(addr) {
                continue;
            }
            let attempts = self.attempts.get(&addr).copied().unwrap_or(0);
            self.candidates.push_back(Candidate {
                addr,
                attempts,
                not_before: now,
            });
        }
    }

    /// Dials candidates whose retry time has come, up to the connection limit.
    fn dial_more(&mut self) {
        let now = Instant::now();
        let mut postponed = VecDeque::new();
        while self.running.len() < self.max_peers {
            let Some(candidate) = self.candidates.pop_front() else {
                break;
            };
            if self.banned.contains(&candidate.addr.ip()) {
                self.known.remove(&candidate.addr);
                continue;
            }
            if candidate.not_before > now {
                postponed.push_back(candidate);
                continue;
            }
            self.dial(candidate);
        }
        self.candidates.append(&mut postponed);
        if self.running.len() < self.max_peers && self.candidates.is_empty() {
            (self.want_peers)();
        }
    }

    fn dial(&mut self, candidate: Candidate) {
        let key = self.next_key;
        self.next_key += 1;
        let stop = Arc::new(AtomicBool::new(false));
        self.attempts.insert(candidate.addr, candidate.attempts + 1);
        let spawned = peer::spawn(
            key,
            candidate.addr,
            self.swarm.clone(),
            stop.clone(),
            self.exits.clone(),
        );
        match spawned {
            Ok(handle) => {
                log::debug!("dialling {}", candidate.addr);
                self.addresses.insert(key, candidate.addr);
                self.running.insert(
                    key,
                    Running {
                        addr: candidate.addr,
                        stop,
                        handle,
                    },
                );
            }
            Err(error) => {
                log::warn!("cannot start a thread for {}: {error}", candidate.addr);
                self.known.remove(&candidate.addr);
            }
        }
    }

    /// A peer thread ended: join it and decide whether to dial that address again.
    fn reap(&mut self, exit: Exited) {
        if let Some(running) = self.running.remove(&exit.key) {
            let _ = running.handle.join();
        }
        let addr = exit.addr;
        if exit.downloaded > 0 {
            // It was useful: start its retry count afresh.
            self.attempts.insert(addr, 0);
        }
        let attempts = self.attempts.get(&addr).copied().unwrap_or(0);
        let retry = match exit.error {
            PeerError::Misbehaved(_)
            | PeerError::WrongInfoHash
            | PeerError::OwnPeerId
            | PeerError::Stopped => false,
            _ => attempts < MAX_ATTEMPTS && !self.banned.contains(&addr.ip()),
        };
        if !retry {
            self.known.remove(&addr);
            return;
        }
        // 5 s, 10 s, 20 s, ... between attempts.
        let delay = Duration::from_secs(5) * 2u32.pow(attempts.saturating_sub(1).min(6));
        self.candidates.push_back(Candidate {
            addr,
            attempts,
            not_before: Instant::now() + delay,
        });
    }

    /// Counts a strike against a peer that alone sent a piece that failed its hash, and
    /// bans its address at the second one.
    fn blame(&mut self, peers: &[PeerKey]) {
        let [key] = peers else {
            // Several contributors: the piece is retried from one peer, which then carries
            // the blame alone if it fails again.
            return;
        };
        let Some(addr) = self.addresses.get(key).copied() else {
            return;
        };
        let strikes = self.strikes.entry(addr.ip()).or_insert(0);
        *strikes += 1;
        log::info!("peer {addr} sent a piece that failed its hash check ({strikes} strikes)");
        if *strikes >= STRIKES_TO_BAN {
            self.ban(addr.ip());
        }
    }

    fn ban(&mut self, ip: IpAddr) {
        log::warn!("banning {ip}: its data keeps failing the hash check");
        self.banned.insert(ip);
        for running in self.running.values().filter(|r| r.addr.ip() == ip) {
            running.stop.store(true, Ordering::Relaxed);
        }
    }

    /// Stops every peer thread and waits for all of them.
    fn stop_all(&mut self, exited: &Receiver<Exited>) {
        for running in self.running.values() {
            running.stop.store(true, Ordering::Relaxed);
        }
        for (_, running) in self.running.drain() {
            let _ = running.handle.join();
        }
        while exited.try_recv().is_ok() {}
    }
}

//! The peer-manager thread: owns the set of peer connections.
//!
//! * Runs on: its own thread, `peer-manager`.
//! * Owns: the candidate addresses (from trackers and `--peer`), the running peer threads
//!   with their [`PeerStatus`], the choker, the strike counts and the banned addresses.
//! * Reads: address lists from the announcer; accepted connections from the listener;
//!   [`Command`]s from the main thread; an [`Exited`] from every peer thread that ends.
//! * Writes: each peer's stop flag and unchoke verdict; it asks for more peers through
//!   `want_peers` (with how many it has), and reports each peer thread it starts through `peer_started`.
//!
//! It keeps up to `max_peers` connections, dialled and accepted alike: it dials candidates,
//! reaps peers that ended and replaces them, retries dropped addresses with a growing
//! delay, runs the choker every [`CHOKE_ROUND`], and bans an address whose data failed the
//! hash check twice as the only contributor to a piece.
//!
//! It knows connections by address, not by peer id: the id arrives in the handshake, on
//! the peer's thread. A second connection to a peer already connected is therefore refused
//! by that thread itself, through the torrent's registry of peer ids (`peer/registry.rs`,
//! which says why it is shared state and not a message to this thread); the thread ends
//! with [`PeerError::AlreadyConnected`], which does not count against the address.

use crate::choker::{self, Candidate, Choker, Standing};
use crate::peer::{self, Exited, PeerError, PeerStatus, Shared};
use crate::piece_manager::PeerKey;
use crate::random::Rng;
use crossbeam_channel::{Receiver, Sender, bounded, never, select, unbounded};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Sole-contributor hash failures after which an address is banned.
const STRIKES_TO_BAN: u32 = 2;
/// Connection attempts to one address before we forget it.
const MAX_ATTEMPTS: u32 = 5;
/// How often the thread wakes with nothing to do, to dial, retry and fill free unchoke slots.
const TICK: Duration = Duration::from_millis(500);
/// How often the choker reconsiders every peer.
pub const CHOKE_ROUND: Duration = Duration::from_secs(10);
/// A peer connected for less than this counts as new (for the optimistic unchoke).
const NEW_PEER: Duration = Duration::from_secs(30);

/// What the main thread tells the peer manager.
#[derive(Debug)]
pub enum Command {
    /// These peers sent data for a piece that failed its hash check.
    Blame { peers: Vec<PeerKey> },
    /// Stop every peer thread, wait for them, and end.
    Stop,
}

/// The peer manager's inputs.
pub struct Inputs {
    /// Peer lists from the announcer (and `--peer`).
    pub addresses: Receiver<Vec<SocketAddr>>,
    /// Connections the listener accepted.
    pub incoming: Receiver<(TcpStream, SocketAddr)>,
    /// Called when we are short of candidates, with the number of peer threads running
    /// (asks the announcer and the DHT for more).
    pub want_peers: Box<dyn Fn(usize) + Send>,
    /// Our own listening address, never to be dialled.
    pub own_addr: Option<SocketAddr>,
    /// Told of every peer thread started (dialled or accepted) and its status, as it starts,
    /// whether or not its handshake succeeds: how the download's watcher, if any, learns of
    /// each connection.
    pub peer_started: PeerStarted,
}

/// Called with each peer thread's address and status as the thread starts.
pub type PeerStarted = Box<dyn Fn(SocketAddr, &Arc<PeerStatus>) + Send>;

/// A peer thread that is running.
struct Running {
    addr: SocketAddr,
    status: Arc<PeerStatus>,
    handle: JoinHandle<()>,
    connected_at: Instant,
    /// The status byte counts at the last choke round, to compute rates.
    last_totals: (u64, u64),
}

/// An address we know of and may (re)dial.
#[derive(Debug, Clone, Copy)]
struct Dialable {
    addr: SocketAddr,
    attempts: u32,
    not_before: Instant,
}

struct PeerManager {
    shared: Arc<Shared>,
    max_peers: usize,
    want_peers: Box<dyn Fn(usize) + Send>,
    own_addr: Option<SocketAddr>,
    peer_started: PeerStarted,
    candidates: VecDeque<Dialable>,
    /// Every address that is a candidate or connected, to drop duplicates from trackers.
    known: HashSet<SocketAddr>,
    running: HashMap<PeerKey, Running>,
    /// The address behind every key handed out, to blame peers that already left.
    addresses: HashMap<PeerKey, SocketAddr>,
    attempts: HashMap<SocketAddr, u32>,
    strikes: HashMap<IpAddr, u32>,
    banned: HashSet<IpAddr>,
    choker: Choker,
    last_round: Instant,
    next_key: PeerKey,
    exits: Sender<Exited>,
    /// Handed to every peer's status: a peer thread pokes it when its peer becomes
    /// interested, so a free unchoke slot is given at once rather than at the next tick.
    wake: Sender<()>,
}

/// Starts the peer manager.
pub fn spawn(
    shared: Arc<Shared>,
    max_peers: usize,
    inputs: Inputs,
) -> std::io::Result<(JoinHandle<()>, Sender<Command>)> {
    let (commands, inbox) = unbounded();
    let (exits, exited) = unbounded();
    let (wake, woken) = bounded(1);
    let manager = PeerManager {
        shared,
        max_peers,
        want_peers: inputs.want_peers,
        own_addr: inputs.own_addr,
        peer_started: inputs.peer_started,
        candidates: VecDeque::new(),
        known: HashSet::new(),
        running: HashMap::new(),
        addresses: HashMap::new(),
        attempts: HashMap::new(),
        strikes: HashMap::new(),
        banned: HashSet::new(),
        choker: Choker::new(Rng::new()),
        last_round: Instant::now(),
        next_key: 1,
        exits,
        wake,
    };
    let (addresses, incoming) = (inputs.addresses, inputs.incoming);
    let handle = std::thread::Builder::new()
        .name("peer-manager".into())
        .spawn(move || manager.run(addresses, incoming, inbox, exited, woken))?;
    Ok((handle, commands))
}

impl PeerManager {
    fn run(
        mut self,
        mut addresses: Receiver<Vec<SocketAddr>>,
        mut incoming: Receiver<(TcpStream, SocketAddr)>,
        inbox: Receiver<Command>,
        exited: Receiver<Exited>,
        woken: Receiver<()>,
    ) {
        loop {
            select! {
                recv(addresses) -> list => match list {
                    Ok(list) => self.add_candidates(list),
                    // The announcer is gone; keep working with the peers we know.
                    Err(_) => addresses = never(),
                },
                recv(incoming) -> accepted => match accepted {
                    Ok((stream, addr)) => {
                        // `select!` picks among ready channels at random: reap the peers
                        // that already ended first, so their slots count as free.
                        for exit in exited.try_iter() {
                            self.reap(exit);
                        }
                        self.accept(stream, addr);
                    }
                    Err(_) => incoming = never(),
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
                // A peer became interested: `choke` below gives it a free slot.
                recv(woken) -> _ => {},
                default(TICK) => {},
            }
            self.dial_more();
            self.choke();
        }
        self.stop_all(&exited);
    }

    fn add_candidates(&mut self, list: Vec<SocketAddr>) {
        let now = Instant::now();
        for addr in list {
            // `::ffff:a.b.c.d` from a tracker or PEX is the IPv4 peer a.b.c.d.
            let addr = SocketAddr::new(addr.ip().to_canonical(), addr.port());
            // From a `--bind` address only peers of its family can be dialled.
            let unreachable = self
                .shared
                .bind
                .is_some_and(|b| b.is_ipv4() != addr.is_ipv4());
            if self.banned.contains(&addr.ip())
                || addr.port() == 0
                || addr.ip().is_unspecified()
                || unreachable
                || self.is_own(addr)
                || !self.known.insert(addr)
            {
                continue;
            }
            let attempts = self.attempts.get(&addr).copied().unwrap_or(0);
            self.candidates.push_back(Dialable {
                addr,
                attempts,
                not_before: now,
            });
        }
    }

    /// True for our own listening address (trackers list us among the peers).
    fn is_own(&self, addr: SocketAddr) -> bool {
        self.own_addr.is_some_and(|own| {
            own.port() == addr.port()
                && (own.ip() == addr.ip() || (own.ip().is_unspecified() && addr.ip().is_loopback()))
        })
    }

    /// An incoming connection: keep it if there is room and the address is not banned.
    fn accept(&mut self, stream: TcpStream, addr: SocketAddr) {
        if self.banned.contains(&addr.ip()) {
            log::debug!("refused {addr}: banned");
            return;
        }
        if self.running.len() >= self.max_peers {
            log::debug!("refused {addr}: {} peers already", self.running.len());
            return;
        }
        let (key, status) = self.new_key(addr);
        let spawned = peer::spawn_incoming(
            key,
            stream,
            addr,
            self.shared.clone(),
            status.clone(),
            self.exits.clone(),
        );
        self.started(key, addr, status, spawned);
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
            self.attempts.insert(candidate.addr, candidate.attempts + 1);
            let (key, status) = self.new_key(candidate.addr);
            let spawned = peer::spawn_outgoing(
                key,
                candidate.addr,
                self.shared.clone(),
                status.clone(),
                self.exits.clone(),
            );
            self.started(key, candidate.addr, status, spawned);
        }
        self.candidates.append(&mut postponed);
        if self.running.len() < self.max_peers && self.candidates.is_empty() {
            (self.want_peers)(self.running.len());
        }
    }

    fn new_key(&mut self, addr: SocketAddr) -> (PeerKey, Arc<PeerStatus>) {
        let key = self.next_key;
        self.next_key += 1;
        self.addresses.insert(key, addr);
        (key, Arc::new(PeerStatus::with_wake(self.wake.clone())))
    }

    fn started(
        &mut self,
        key: PeerKey,
        addr: SocketAddr,
        status: Arc<PeerStatus>,
        spawned: std::io::Result<JoinHandle<()>>,
    ) {
        match spawned {
            Ok(handle) => {
                log::debug!("peer {addr}: thread started");
                (self.peer_started)(addr, &status);
                self.running.insert(
                    key,
                    Running {
                        addr,
                        status,
                        handle,
                        connected_at: Instant::now(),
                        last_totals: (0, 0),
                    },
                );
            }
            Err(error) => {
                log::warn!("cannot start a thread for {addr}: {error}");
                self.known.remove(&addr);
            }
        }
    }

    /// A peer thread ended: join it and decide whether to dial that address again.
    fn reap(&mut self, exit: Exited) {
        let mut useful = false;
        if let Some(running) = self.running.remove(&exit.key) {
            useful = running.status.downloaded.load(Ordering::Relaxed) > 0;
            crate::threads::join(running.handle);
        }
        let addr = exit.addr;
        // A duplicate is no fault of the address: its handshake was right.
        if useful || matches!(exit.error, PeerError::AlreadyConnected) {
            self.attempts.insert(addr, 0);
        }
        let attempts = self.attempts.get(&addr).copied().unwrap_or(0);
        let dialled = self.known.contains(&addr);
        let retry = match exit.error {
            PeerError::Misbehaved(_)
            | PeerError::Encryption(_)
            | PeerError::WrongInfoHash
            | PeerError::OwnPeerId
            | PeerError::AlreadyConnected
            | PeerError::BothComplete
            | PeerError::Stopped => false,
            _ => dialled && attempts < MAX_ATTEMPTS && !self.banned.contains(&addr.ip()),
        };
        if !retry {
            self.known.remove(&addr);
            return;
        }
        // 5 s, 10 s, 20 s, ... between attempts.
        let delay = Duration::from_secs(5) * 2u32.pow(attempts.saturating_sub(1).min(6));
        self.candidates.push_back(Dialable {
            addr,
            attempts,
            not_before: Instant::now() + delay,
        });
    }

    /// Runs a choke round every [`CHOKE_ROUND`]; between rounds, gives free unchoke slots
    /// to interested peers at once ([`choker::fill_free_slots`]), so a newcomer does not
    /// wait up to 10 s for its first block. Applies the verdict: each peer whose flag
    /// changed is woken.
    fn choke(&mut self) {
        let now = Instant::now();
        let unchoked: Vec<PeerKey> = if now.duration_since(self.last_round) >= CHOKE_ROUND {
            let seconds = now.duration_since(self.last_round).as_secs_f64();
            self.last_round = now;
            let seeding = (self.shared.torrent()).is_some_and(|t| t.pieces.is_complete());
            let candidates: Vec<Candidate> = self
                .running
                .iter_mut()
                .map(|(key, running)| running.candidate(*key, seeding, seconds, now))
                .collect();
            self.choker.round(&candidates)
        } else {
            let standings: Vec<Standing> = self
                .running
                .iter()
                .map(|(key, running)| Standing {
                    key: *key,
                    unchoked: running.status.unchoke.load(Ordering::Relaxed),
                    interested: running.status.interested.load(Ordering::Relaxed),
                })
                .collect();
            choker::fill_free_slots(&standings)
        };
        for (key, running) in &self.running {
            let unchoke = unchoked.contains(key);
            if running.status.unchoke.swap(unchoke, Ordering::Relaxed) != unchoke {
                running.status.wake_peer();
            }
        }
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
        // Pieces already in flight may fail after the ban: one ban, one warning.
        if *strikes >= STRIKES_TO_BAN && !self.banned.contains(&addr.ip()) {
            self.ban(addr.ip());
        }
    }

    fn ban(&mut self, ip: IpAddr) {
        log::warn!("banning {ip}: its data keeps failing the hash check");
        self.banned.insert(ip);
        for running in self.running.values().filter(|r| r.addr.ip() == ip) {
            running.status.stop.store(true, Ordering::Relaxed);
            running.status.wake_peer();
        }
    }

    /// Stops every peer thread and waits for all of them.
    fn stop_all(&mut self, exited: &Receiver<Exited>) {
        for running in self.running.values() {
            running.status.stop.store(true, Ordering::Relaxed);
            running.status.wake_peer();
        }
        for (_, running) in self.running.drain() {
            crate::threads::join(running.handle);
        }
        while exited.try_recv().is_ok() {}
    }
}

impl Running {
    /// This peer as the choker sees it, with its rate over the last `seconds`.
    fn candidate(&mut self, key: PeerKey, seeding: bool, seconds: f64, now: Instant) -> Candidate {
        let totals = (
            self.status.downloaded.load(Ordering::Relaxed),
            self.status.uploaded.load(Ordering::Relaxed),
        );
        let bytes = if seeding {
            totals.1 - self.last_totals.1
        } else {
            totals.0 - self.last_totals.0
        };
        self.last_totals = totals;
        Candidate {
            key,
            interested: self.status.interested.load(Ordering::Relaxed),
            rate: (bytes as f64 / seconds.max(0.001)) as u64,
            snubbed: self.status.snubbed.load(Ordering::Relaxed),
            new: now.duration_since(self.connected_at) < NEW_PEER,
        }
    }
}

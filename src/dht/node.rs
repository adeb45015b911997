//! The DHT node's thread: one UDP socket, the routing table and every lookup, owned by one
//! thread and touched by nothing else.
//!
//! * Runs on: its own thread, `dht`.
//! * Owns: the socket, the routing table, the lookups and the searches, the announced
//!   peers, the tokens, the per-address query counts.
//! * Reads: the socket; [`Command`]s (search for an info-hash, a node a peer named, stop).
//! * Writes: the socket; batches of peer addresses to each search's channel; the node
//!   counts in [`Stats`].
//!
//! No thread per query and no async runtime: the socket's read timeout is the clock. Each
//! turn reads one datagram (or times out after `TICK`) and hands it to `serve.rs` (a
//! query to answer) or `client.rs` (an answer to one of ours); then, once per tick, the
//! upkeep: queries that timed out are retried once then failed, lookups send their next
//! queries, searches start again when due, the table is refreshed and saved.

mod client;
mod serve;

use super::id::Id;
use super::krpc::{MAX_PACKET, Message};
use super::lookup::Lookup;
use super::saved;
use super::store::Store;
use super::table::Table;
use super::token::Tokens;
use crate::random::Rng;
use crossbeam_channel::{Receiver, Sender, TryRecvError};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The longest the thread sleeps on its socket: the clock of every timeout.
const TICK: Duration = Duration::from_millis(100);
/// How often the table is written to disk at most (SD cards wear out).
const SAVE_EVERY: Duration = Duration::from_secs(10 * 60);

/// What the node is told to do.
#[derive(Debug)]
pub enum Command {
    /// Find peers for `info_hash` now and every 15 minutes until [`Command::Forget`];
    /// with `announce`, also announce that we have it, listening on that TCP port.
    Search {
        info_hash: [u8; 20],
        announce: Option<u16>,
        peers: Sender<Vec<SocketAddr>>,
    },
    /// The search for `info_hash` has not found enough peers: look again soon (at most
    /// every 30 s) rather than at its next regular time.
    WantPeers { info_hash: [u8; 20] },
    /// Stop searching for `info_hash`.
    Forget { info_hash: [u8; 20] },
    /// A peer told us its DHT node listens here (the `port` message): ping it.
    AddNode(SocketAddrV4),
    /// Save the table and end.
    Stop,
}

/// Figures the node keeps for whoever draws them.
#[derive(Debug, Default)]
pub struct Stats {
    /// Nodes in the routing table.
    pub nodes: AtomicUsize,
    /// Of those, good ones (answered within 15 minutes).
    pub good: AtomicUsize,
    /// Queries we answered.
    pub answered: AtomicU64,
    /// Datagrams dropped as malformed.
    pub malformed: AtomicU64,
    /// `announce_peer` queries we stored (a peer announcing again counts again).
    pub announced: AtomicU64,
    /// The first [`MAX_FOUND`] peers our searches found, for whoever shows where a
    /// download's peers came from (the demo).
    pub found: Mutex<Vec<SocketAddrV4>>,
}

/// Peers kept in [`Stats::found`] at most.
pub const MAX_FOUND: usize = 1_000;

/// How to start a node.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the UDP socket listens.
    pub bind: SocketAddrV4,
    /// Nodes to start from when the table is empty (`HOST:PORT`).
    pub bootstrap: Vec<String>,
    /// Where the table is kept between runs, if anywhere.
    pub table_file: Option<PathBuf>,
}

/// A running node: how to reach it and how to stop it.
pub struct Node {
    pub addr: SocketAddrV4,
    pub stats: Arc<Stats>,
    commands: Sender<Command>,
    thread: Option<JoinHandle<()>>,
}

impl Node {
    /// Binds the socket and starts the thread.
    pub fn spawn(config: Config) -> io::Result<Node> {
        let socket = UdpSocket::bind(config.bind)?;
        socket.set_read_timeout(Some(TICK))?;
        let addr = match socket.local_addr()? {
            SocketAddr::V4(addr) => addr,
            SocketAddr::V6(_) => return Err(io::Error::other("the DHT node needs IPv4")),
        };
        let (commands, inbox) = crossbeam_channel::unbounded();
        let stats = Arc::new(Stats::default());
        let mut state = State::new(socket, &config, stats.clone());
        let thread = std::thread::Builder::new()
            .name("dht".into())
            .spawn(move || state.run(&inbox))?;
        Ok(Node {
            addr,
            stats,
            commands,
            thread: Some(thread),
        })
    }

    /// A handle to send the node commands from another thread (a peer thread that learns
    /// a node from a `port` message).
    pub fn commands(&self) -> Sender<Command> {
        self.commands.clone()
    }

    /// Sends the node a command (nothing happens if it has ended).
    pub fn send(&self, command: Command) {
        let _ = self.commands.send(command);
    }

    /// Saves the table and ends the thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let _ = self.commands.send(Command::Stop);
        if let Some(thread) = self.thread.take() {
            crate::threads::join(thread);
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Why we sent a query: what its answer (or its silence) means.
#[derive(Debug, Clone, Copy)]
enum Purpose {
    /// Is this node alive? (table upkeep, or a node a peer named)
    Ping,
    /// Part of lookup `n`.
    Lookup(u64),
    /// An `announce_peer`; nothing follows.
    Announce,
}

/// A query sent and not yet answered.
#[derive(Debug)]
struct Pending {
    addr: SocketAddrV4,
    purpose: Purpose,
    sent: Instant,
    /// The datagram, to send again once.
    bytes: Vec<u8>,
    retried: bool,
}

/// What a lookup is for.
#[derive(Debug)]
enum LookupKind {
    /// Filling the table: nodes near an id.
    Nodes,
    /// Peers for an info-hash (a search).
    Peers { info_hash: Id },
}

/// One search we run for the rest of the process (a download or a seed).
#[derive(Debug)]
struct Search {
    peers: Sender<Vec<SocketAddr>>,
    announce: Option<u16>,
    /// Peers its running (or last) lookup handed to the search's channel, so each goes
    /// once per lookup and at most `MAX_PEERS_PER_LOOKUP`.
    seen: HashSet<SocketAddrV4>,
    next_at: Instant,
    /// The lookup running for it, if any.
    running: Option<u64>,
    /// Lookups in a row that found no peer.
    empty_lookups: u32,
    /// When its last lookup ended.
    last_done: Option<Instant>,
}

/// Everything the thread owns.
struct State {
    socket: UdpSocket,
    table: Table,
    store: Store,
    tokens: Tokens,
    rng: Rng,
    stats: Arc<Stats>,
    bootstrap: Vec<String>,
    table_file: Option<PathBuf>,
    pending: HashMap<u16, Pending>,
    next_transaction: u16,
    /// Each lookup, what it is for, and when it started.
    lookups: HashMap<u64, (Lookup, LookupKind, Instant)>,
    next_lookup: u64,
    searches: HashMap<Id, Search>,
    /// Queries per source address in the current window (`serve.rs`).
    rates: serve::Rates,
    last_bootstrap: Option<Instant>,
    last_refresh: Instant,
    last_save: Instant,
}

impl State {
    fn new(socket: UdpSocket, config: &Config, stats: Arc<Stats>) -> State {
        let mut rng = Rng::new();
        let now = Instant::now();
        let (own, nodes) = config
            .table_file
            .as_deref()
            .and_then(saved::load)
            .unwrap_or_else(|| (Id::random(&mut rng), Vec::new()));
        let known = nodes.len();
        let mut state = State {
            socket,
            table: Table::new(own),
            store: Store::default(),
            tokens: Tokens::new(Rng::new(), now),
            rng,
            stats,
            bootstrap: config.bootstrap.clone(),
            table_file: config.table_file.clone(),
            pending: HashMap::new(),
            next_transaction: 0,
            lookups: HashMap::new(),
            next_lookup: 0,
            searches: HashMap::new(),
            rates: serve::Rates::default(),
            last_bootstrap: None,
            last_refresh: now,
            last_save: now,
        };
        // Saved nodes are only candidates: each must answer a ping to enter the table.
        for (_, addr) in nodes {
            state.ping(addr);
        }
        if known > 0 {
            log::info!("dht: {known} nodes from the saved table to ping");
        }
        state
    }

    fn run(&mut self, inbox: &Receiver<Command>) {
        let mut buffer = vec![0u8; MAX_PACKET + 1];
        let mut last_tick = Instant::now();
        'turns: loop {
            // Every command queued, not one a turn: a turn may wait a whole TICK on the
            // socket, and a busy download sends `WantPeers` often (`Stop` must not wait
            // behind a backlog of them).
            loop {
                match inbox.try_recv() {
                    Ok(Command::Stop) | Err(TryRecvError::Disconnected) => break 'turns,
                    Ok(command) => self.command(command),
                    Err(TryRecvError::Empty) => break,
                }
            }
            match self.socket.recv_from(&mut buffer) {
                Ok((len, SocketAddr::V4(from))) => self.datagram(&buffer[..len], from),
                Ok((_, SocketAddr::V6(_))) => {}
                Err(e) if is_timeout(&e) => {}
                Err(e) => {
                    log::debug!("dht: receive failed: {e}");
                    std::thread::sleep(TICK);
                }
            }
            let now = Instant::now();
            if now.duration_since(last_tick) >= TICK {
                last_tick = now;
                self.upkeep(now);
            }
        }
        self.save();
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Search {
                info_hash,
                announce,
                peers,
            } => {
                let search = Search {
                    peers,
                    announce,
                    seen: HashSet::new(),
                    next_at: Instant::now(),
                    running: None,
                    empty_lookups: 0,
                    last_done: None,
                };
                self.searches.insert(Id(info_hash), search);
            }
            Command::WantPeers { info_hash } => {
                if let Some(search) = self.searches.get_mut(&Id(info_hash)) {
                    let soon = search
                        .last_done
                        .map_or(Instant::now(), |done| done + client::WANT_PEERS_EVERY);
                    search.next_at = search.next_at.min(soon);
                }
            }
            Command::Forget { info_hash } => {
                self.searches.remove(&Id(info_hash));
            }
            Command::AddNode(addr) => self.ping(addr),
            Command::Stop => {}
        }
    }

    /// One datagram: a query to answer, or an answer to one of ours.
    fn datagram(&mut self, bytes: &[u8], from: SocketAddrV4) {
        if bytes.len() > MAX_PACKET {
            self.stats.malformed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        match Message::decode(bytes) {
            Ok(message) => match message.body {
                super::krpc::Body::Query(query) => {
                    self.serve(&message.transaction, query, from);
                }
                body => self.answer(&message.transaction, body, from),
            },
            Err(malformed) => {
                self.stats.malformed.fetch_add(1, Ordering::Relaxed);
                log::debug!("dht: malformed datagram from {from}: {}", malformed.why);
                self.malformed(malformed, from);
            }
        }
    }

    /// Once a tick: timeouts, lookups, searches, refresh, bootstrap, tokens, saving.
    fn upkeep(&mut self, now: Instant) {
        self.timeouts(now);
        self.tokens.tick(now);
        self.rates.forget_old(now);
        self.searches_due(now);
        self.advance_lookups();
        self.refresh(now);
        if now.duration_since(self.last_save) >= SAVE_EVERY {
            self.last_save = now;
            self.store.expire(now);
            self.save();
        }
        self.stats.nodes.store(self.table.len(), Ordering::Relaxed);
        self.stats
            .good
            .store(self.table.good(now), Ordering::Relaxed);
    }

    /// Sends `message` to `addr`; a query is remembered until answered or timed out.
    fn send(&mut self, addr: SocketAddrV4, message: &Message) {
        let bytes = message.encode();
        if let Err(e) = self.socket.send_to(&bytes, addr) {
            log::debug!("dht: send to {addr} failed: {e}");
        }
    }

    fn save(&self) {
        if let Some(path) = &self.table_file {
            saved::save(path, self.table.own_id(), &self.table.all());
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

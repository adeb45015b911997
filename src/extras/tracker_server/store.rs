//! The tracker's peer store: which peers are in which swarm, shared by the HTTP and UDP
//! front ends behind one lock (not a thread; no I/O happens under the lock).
//!
//! Architecture invariant: memory is bounded by [`Limits`]: at most `swarms` swarms,
//! `peers_per_swarm` peers in one swarm and `peers_total` peers in all. An announce that
//! would pass a cap is refused with a reason the client shows its user; peers already known
//! keep announcing. A peer that has not announced for two intervals is dropped
//! ([`Store::expire`], and never handed out meanwhile), so a departed node is noticed.

use crate::random::Rng;
use crate::tracker::{Event, ScrapeStats};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Peers handed out when the client does not say how many it wants.
pub const DEFAULT_NUMWANT: usize = 50;
/// The most peers one reply lists, whatever the client asks.
pub const MAX_NUMWANT: usize = 200;

/// Caps that bound the store's memory (each peer costs about 100 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub swarms: usize,
    pub peers_per_swarm: usize,
    pub peers_total: usize,
}

impl Default for Limits {
    /// At most 100,000 peers: about 10 MiB.
    fn default() -> Limits {
        Limits {
            swarms: 10_000,
            peers_per_swarm: 5_000,
            peers_total: 100_000,
        }
    }
}

/// One announce, as either front end read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announce {
    pub info_hash: [u8; 20],
    pub peer_id: [u8; 20],
    /// Where other peers reach it: the request's source address with the announced port.
    pub addr: SocketAddr,
    pub event: Event,
    pub left: u64,
    /// `None`: [`DEFAULT_NUMWANT`].
    pub numwant: Option<usize>,
}

/// The answer to an announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Other peers, with their peer ids (dictionary replies show them).
    pub peers: Vec<(SocketAddr, [u8; 20])>,
    /// Counts after this announce, the asker included.
    pub seeders: u32,
    pub leechers: u32,
}

/// Why an announce was refused; the text becomes the `failure reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The torrent is not on the `--allow` list.
    NotAllowed,
    /// A new swarm would pass [`Limits::swarms`].
    TooManySwarms,
    /// A new peer would pass [`Limits::peers_per_swarm`] or [`Limits::peers_total`].
    Full,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::NotAllowed => "torrent not allowed on this tracker",
            Refusal::TooManySwarms => "tracker is full: too many torrents, try later",
            Refusal::Full => "tracker is full: too many peers, try later",
        })
    }
}

/// Totals for the periodic summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    pub swarms: usize,
    pub seeders: usize,
    pub leechers: usize,
}

#[derive(Debug)]
struct Peer {
    addr: SocketAddr,
    seeder: bool,
    last_seen: Instant,
}

#[derive(Debug, Default)]
struct Swarm {
    /// By peer id.
    peers: HashMap<[u8; 20], Peer>,
    /// `completed` events seen.
    completed: u32,
}

impl Swarm {
    fn counts(&self) -> (u32, u32) {
        let seeders = self.peers.values().filter(|p| p.seeder).count();
        let leechers = self.peers.len() - seeders;
        (seeders as u32, leechers as u32)
    }
}

/// All swarms; see the module doc.
#[derive(Debug)]
pub struct Store {
    swarms: HashMap<[u8; 20], Swarm>,
    /// Peers in all swarms, kept equal to the sum of their sizes.
    peers_total: usize,
    limits: Limits,
    /// A peer silent for longer than this is gone: two announce intervals.
    lifetime: Duration,
    /// `None`: every torrent is allowed.
    allow: Option<HashSet<[u8; 20]>>,
    rng: Rng,
}

impl Store {
    pub fn new(interval: Duration, limits: Limits, allow: Option<HashSet<[u8; 20]>>) -> Store {
        Store {
            swarms: HashMap::new(),
            peers_total: 0,
            limits,
            lifetime: interval * 2,
            allow,
            rng: Rng::new(),
        }
    }

    /// Records `a` at time `now` and picks peers for it: a random subset of the swarm
    /// without the asker, without peers gone silent, and without other seeders when the
    /// asker is one (they have nothing to trade).
    pub fn announce(&mut self, a: &Announce, now: Instant) -> Result<Answer, Refusal> {
        if self
            .allow
            .as_ref()
            .is_some_and(|allow| !allow.contains(&a.info_hash))
        {
            return Err(Refusal::NotAllowed);
        }
        if a.event == Event::Stopped {
            self.remove(&a.info_hash, &a.peer_id);
            let (seeders, leechers) = self.swarms.get(&a.info_hash).map_or((0, 0), Swarm::counts);
            return Ok(Answer {
                peers: Vec::new(),
                seeders,
                leechers,
            });
        }
        if !self.swarms.contains_key(&a.info_hash) && self.swarms.len() >= self.limits.swarms {
            return Err(Refusal::TooManySwarms);
        }
        let total_full = self.peers_total >= self.limits.peers_total;
        let swarm = self.swarms.entry(a.info_hash).or_default();
        let seeder = a.left == 0;
        match swarm.peers.get_mut(&a.peer_id) {
            Some(peer) => {
                peer.addr = a.addr;
                peer.seeder = seeder;
                peer.last_seen = now;
            }
            None => {
                if total_full || swarm.peers.len() >= self.limits.peers_per_swarm {
                    if swarm.peers.is_empty() {
                        self.swarms.remove(&a.info_hash);
                    }
                    return Err(Refusal::Full);
                }
                swarm.peers.insert(
                    a.peer_id,
                    Peer {
                        addr: a.addr,
                        seeder,
                        last_seen: now,
                    },
                );
                self.peers_total += 1;
            }
        }
        if a.event == Event::Completed {
            swarm.completed = swarm.completed.saturating_add(1);
        }
        let lifetime = self.lifetime;
        let mut peers: Vec<(SocketAddr, [u8; 20])> = swarm
            .peers
            .iter()
            .filter(|(id, p)| **id != a.peer_id && p.addr != a.addr)
            .filter(|(_, p)| !(seeder && p.seeder))
            .filter(|(_, p)| now.saturating_duration_since(p.last_seen) <= lifetime)
            .map(|(id, p)| (p.addr, *id))
            .collect();
        let want = a.numwant.unwrap_or(DEFAULT_NUMWANT).min(MAX_NUMWANT);
        // A partial Fisher–Yates: the first `want` places get a uniform random pick.
        for i in 0..want.min(peers.len()) {
            let j = i + self.rng.below(peers.len() - i);
            peers.swap(i, j);
        }
        peers.truncate(want);
        let (seeders, leechers) = swarm.counts();
        Ok(Answer {
            peers,
            seeders,
            leechers,
        })
    }

    fn remove(&mut self, info_hash: &[u8; 20], peer_id: &[u8; 20]) {
        let Some(swarm) = self.swarms.get_mut(info_hash) else {
            return;
        };
        if swarm.peers.remove(peer_id).is_some() {
            self.peers_total -= 1;
        }
        if swarm.peers.is_empty() {
            self.swarms.remove(info_hash);
        }
    }

    /// Counts for one torrent (zeros for an unknown one).
    pub fn scrape(&self, info_hash: &[u8; 20]) -> ScrapeStats {
        let Some(swarm) = self.swarms.get(info_hash) else {
            return ScrapeStats::default();
        };
        let (seeders, leechers) = swarm.counts();
        ScrapeStats {
            seeders,
            completed: swarm.completed,
            leechers,
        }
    }

    /// Drops every peer silent for two intervals at `now`, and swarms left empty. Returns
    /// how many peers went.
    pub fn expire(&mut self, now: Instant) -> usize {
        let lifetime = self.lifetime;
        let mut dropped = 0;
        self.swarms.retain(|_, swarm| {
            let before = swarm.peers.len();
            swarm
                .peers
                .retain(|_, p| now.saturating_duration_since(p.last_seen) <= lifetime);
            dropped += before - swarm.peers.len();
            !swarm.peers.is_empty()
        });
        self.peers_total -= dropped;
        dropped
    }

    pub fn summary(&self) -> Summary {
        let mut summary = Summary {
            swarms: self.swarms.len(),
            ..Summary::default()
        };
        for swarm in self.swarms.values() {
            let (seeders, leechers) = swarm.counts();
            summary.seeders += seeders as usize;
            summary.leechers += leechers as usize;
        }
        summary
    }

    /// Peers in all swarms.
    pub fn peers_total(&self) -> usize {
        self.peers_total
    }
}

#[cfg(test)]
mod tests;

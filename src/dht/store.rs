//! The peers other nodes announced to us (`announce_peer`), per info-hash: what we answer
//! `get_peers` with. Bounded in info-hashes and in peers per info-hash, and each peer
//! expires 30 minutes after its last announce, as BEP 5 suggests.

use super::id::Id;
use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

/// Info-hashes we keep peers for at most.
pub const MAX_TORRENTS: usize = 2_000;
/// Peers kept per info-hash at most.
pub const MAX_PEERS: usize = 100;
/// Peers handed out per `get_peers` answer at most.
pub const MAX_ANSWER: usize = 50;
/// A peer not announced again for this long is forgotten.
pub const EXPIRES: Duration = Duration::from_secs(30 * 60);

/// Announced peers.
#[derive(Debug, Default)]
pub struct Store {
    torrents: HashMap<Id, Vec<(SocketAddrV4, Instant)>>,
}

impl Store {
    /// Records that `peer` has `info_hash`; `false` if the store is full and it was not
    /// kept.
    pub fn announce(&mut self, info_hash: Id, peer: SocketAddrV4, now: Instant) -> bool {
        if !self.torrents.contains_key(&info_hash) && self.torrents.len() >= MAX_TORRENTS {
            self.expire(now);
            if self.torrents.len() >= MAX_TORRENTS {
                return false;
            }
        }
        let peers = self.torrents.entry(info_hash).or_default();
        if let Some(entry) = peers.iter_mut().find(|(addr, _)| *addr == peer) {
            entry.1 = now;
            return true;
        }
        if peers.len() >= MAX_PEERS {
            // The oldest announce makes room.
            if let Some(oldest) = (0..peers.len()).min_by_key(|&i| peers[i].1) {
                peers.swap_remove(oldest);
            }
        }
        peers.push((peer, now));
        true
    }

    /// Up to [`MAX_ANSWER`] peers announced for `info_hash` and not expired.
    pub fn peers(&self, info_hash: &Id, now: Instant) -> Vec<SocketAddrV4> {
        self.torrents.get(info_hash).map_or_else(Vec::new, |peers| {
            peers
                .iter()
                .filter(|(_, at)| now.duration_since(*at) < EXPIRES)
                .take(MAX_ANSWER)
                .map(|(addr, _)| *addr)
                .collect()
        })
    }

    /// Forgets expired peers, and info-hashes left with none.
    pub fn expire(&mut self, now: Instant) {
        self.torrents.retain(|_, peers| {
            peers.retain(|(_, at)| now.duration_since(*at) < EXPIRES);
            !peers.is_empty()
        });
    }

    /// How many info-hashes it holds peers for.
    pub fn len(&self) -> usize {
        self.torrents.len()
    }

    pub fn is_empty(&self) -> bool {
        self.torrents.is_empty()
    }
}

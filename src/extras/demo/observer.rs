//! A window onto a running download, for the demo, which runs each of its peers'
//! downloads on a thread of its own and draws them all.
//!
//! * Joins the core through: [`Watcher`], the download's hook for someone watching a run
//!   from another thread (`download::Options::watcher`).
//! * Written by: [`crate::download::run`], once, when its piece manager and counters exist
//!   ([`Watcher::attach`]); the peer manager, once per connection it starts
//!   ([`Watcher::peer_started`]); its threads, once, if its DHT node starts
//!   ([`Watcher::dht_started`]).
//! * Read by: whoever holds the `Arc<Observer>`, at any time, from any thread.
//! * Owns: nothing of its own; it only keeps `Arc`s to state owned elsewhere (the piece
//!   manager's table, the counters, each connection's [`PeerStatus`], the DHT's [`Stats`]).

use crate::bitfield::Bitfield;
use crate::dht::Stats;
use crate::download::Watcher;
use crate::peer::PeerStatus;
use crate::piece_manager::PieceManager;
use crate::stats::Counters;
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

/// What a running download shows. See the module documentation.
#[derive(Debug, Default)]
pub struct Observer {
    /// The download's state, once `run` has built it.
    torrent: OnceLock<(Arc<PieceManager>, Arc<Counters>)>,
    /// Every connection so far (also the ended ones: their bytes still count; one that
    /// never got through its handshake counts zero).
    connections: Mutex<Vec<(SocketAddr, Arc<PeerStatus>)>>,
    /// The download's DHT node, once it runs.
    dht: OnceLock<Arc<Stats>>,
}

/// Bytes exchanged with one remote address, over all connections to it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exchanged {
    /// Payload bytes received from it.
    pub downloaded: u64,
    /// Payload bytes sent to it.
    pub uploaded: u64,
}

impl Observer {
    pub fn new() -> Observer {
        Observer::default()
    }

    /// The verified pieces, once the download has started.
    pub fn verified(&self) -> Option<Bitfield> {
        self.torrent.get().map(|(pieces, _)| pieces.verified())
    }

    /// True once every piece is verified.
    pub fn is_complete(&self) -> bool {
        self.torrent
            .get()
            .is_some_and(|(pieces, _)| pieces.is_complete())
    }

    /// Total payload bytes (downloaded, uploaded) so far.
    pub fn totals(&self) -> Exchanged {
        self.torrent
            .get()
            .map(|(_, counters)| Exchanged {
                downloaded: counters.downloaded(),
                uploaded: counters.uploaded(),
            })
            .unwrap_or_default()
    }

    /// Bytes exchanged per remote IP address. Peers on distinct loopback addresses (the
    /// demo) are told apart by IP: an incoming connection comes from an arbitrary port.
    pub fn per_ip(&self) -> BTreeMap<IpAddr, Exchanged> {
        let mut table = BTreeMap::<IpAddr, Exchanged>::new();
        for (addr, status) in self.connections.lock().iter() {
            let entry = table.entry(addr.ip()).or_default();
            entry.downloaded += status.downloaded.load(Ordering::Relaxed);
            entry.uploaded += status.uploaded.load(Ordering::Relaxed);
        }
        table
    }

    /// The IP addresses of the peers the download's DHT found (none without a DHT).
    pub fn found_by_dht(&self) -> BTreeSet<IpAddr> {
        self.dht.get().map_or_else(BTreeSet::new, |stats| {
            stats
                .found
                .lock()
                .iter()
                .map(|peer| IpAddr::V4(*peer.ip()))
                .collect()
        })
    }
}

impl Watcher for Observer {
    fn attach(&self, pieces: Arc<PieceManager>, counters: Arc<Counters>) {
        let _ = self.torrent.set((pieces, counters));
    }

    fn peer_started(&self, addr: SocketAddr, status: Arc<PeerStatus>) {
        self.connections.lock().push((addr, status));
    }

    fn dht_started(&self, stats: Arc<Stats>) {
        let _ = self.dht.set(stats);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_add_up_per_ip_over_every_connection() {
        let observer = Observer::new();
        assert_eq!(observer.totals(), Exchanged::default());
        assert!(observer.verified().is_none() && !observer.is_complete());
        let status = |down: u64, up: u64| {
            let status = Arc::new(PeerStatus::default());
            status.downloaded.store(down, Ordering::Relaxed);
            status.uploaded.store(up, Ordering::Relaxed);
            status
        };
        // Two connections with 127.0.0.3 (one dialled, one accepted), one with .4.
        observer.peer_started("127.0.0.3:6881".parse().unwrap(), status(100, 1));
        observer.peer_started("127.0.0.3:40000".parse().unwrap(), status(50, 2));
        observer.peer_started("127.0.0.4:6881".parse().unwrap(), status(7, 0));
        let table = observer.per_ip();
        let three: IpAddr = "127.0.0.3".parse().unwrap();
        assert_eq!(
            table[&three],
            Exchanged {
                downloaded: 150,
                uploaded: 3
            }
        );
        assert_eq!(table.len(), 2);
    }
}

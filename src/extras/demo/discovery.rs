//! How the demo's peers find each other (main thread): the built-in tracker, or with
//! `--dht` no tracker at all but a DHT node of the demo's own, the same code
//! `smalltorrent dht` runs, on its own thread (`dht`) at 127.0.0.1.
//!
//! With the DHT, every peer's own node bootstraps from the demo's node and from nothing
//! else: not the public routers, not a saved table's strangers (the peers' saved tables
//! only ever hold the demo's loopback nodes). No packet leaves loopback.
//!
//! Owns: the tracker or the node, until [`Discovery::stop`].

use super::DemoError;
use super::peer::Peer;
use crate::dht::{self, Node};
use crate::extras::tracker_server::{self, store::Limits};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// With the DHT, how long a peer waits at most for the one started before it to announce
/// itself (see [`Discovery::may_start`]).
const ANNOUNCE_WAIT: Duration = Duration::from_secs(2);
/// The final report's lines are at most this wide (as its tables are).
const REPORT_WIDTH: usize = 79;

/// The tracker, or the DHT node.
pub(super) enum Discovery {
    Tracker {
        server: tracker_server::Server,
        url: String,
    },
    Dht(Node),
}

impl Discovery {
    /// Starts the tracker (HTTP) or, with `dht`, the DHT node, on 127.0.0.1 at a free port.
    pub(super) fn start(dht: bool) -> Result<Discovery, DemoError> {
        if dht {
            let node = Node::spawn(dht::Config {
                bind: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
                bootstrap: Vec::new(),
                table_file: None,
            })
            .map_err(DemoError::DhtNode)?;
            return Ok(Discovery::Dht(node));
        }
        let server = tracker_server::Server::start(tracker_server::Config {
            http: Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)),
            udp: None,
            interval: Duration::from_secs(60),
            limits: Limits::default(),
            allow: None,
        })
        .map_err(DemoError::Tracker)?;
        let Some(addr) = server.http_addr() else {
            server.shutdown();
            return Err(DemoError::Tracker(std::io::Error::other("no HTTP address")));
        };
        let url = format!("http://{addr}/announce");
        Ok(Discovery::Tracker { server, url })
    }

    /// The torrent's announce URL: none with the DHT.
    pub(super) fn announce_url(&self) -> Option<&str> {
        match self {
            Discovery::Tracker { url, .. } => Some(url),
            Discovery::Dht(_) => None,
        }
    }

    /// Every peer's DHT bootstrap nodes: the demo's node alone; `None` (no DHT) with the
    /// tracker.
    pub(super) fn peer_dht(&self) -> Option<Vec<String>> {
        match self {
            Discovery::Tracker { .. } => None,
            Discovery::Dht(node) => Some(vec![node.addr.to_string()]),
        }
    }

    /// True once a leecher can find the seeder: the tracker lists it as a seeder, or the
    /// node has stored an announce (only the seeder runs yet).
    pub(super) fn seeder_found(&self) -> bool {
        match self {
            Discovery::Tracker { server, .. } => server.sweep().1.seeders > 0,
            Discovery::Dht(node) => node.stats.announced.load(Ordering::Relaxed) > 0,
        }
    }

    /// Whether peer `n` (0: the seeder) may start now, `since` the last one started.
    /// With the tracker, always. With the DHT, once the node has `n` announces (the
    /// peers before it have announced themselves: its first lookup finds them all, and it
    /// dials them; else two leechers that start together miss each other until PEX), or
    /// after [`ANNOUNCE_WAIT`] at the latest.
    pub(super) fn may_start(&self, n: usize, since: Duration) -> bool {
        match self {
            Discovery::Tracker { .. } => true,
            Discovery::Dht(node) => {
                node.stats.announced.load(Ordering::Relaxed) >= n as u64 || since >= ANNOUNCE_WAIT
            }
        }
    }

    /// Where the seeder must be found, for the error when it is not.
    pub(super) fn where_found(&self) -> String {
        match self {
            Discovery::Tracker { .. } => "reach the tracker".into(),
            Discovery::Dht(node) => format!("announce itself to the dht node {}", node.addr),
        }
    }

    /// The header's facts about it, as they are now.
    pub(super) fn facts(&self) -> Vec<String> {
        match self {
            Discovery::Tracker { server, .. } => vec![format!(
                "tracker {}",
                server.http_addr().map_or(String::new(), |a| a.to_string())
            )],
            Discovery::Dht(node) => vec![
                format!(
                    "dht node {}, {} nodes, {} announces, no tracker",
                    node.addr,
                    node.stats.nodes.load(Ordering::Relaxed),
                    node.stats.announced.load(Ordering::Relaxed),
                ),
                "from: * found through the dht".into(),
            ],
        }
    }

    /// The final report's part about it: with the DHT, how many of the others each
    /// peer's DHT found, in as few lines as fit (`peers[0]` is the seeder; the live view
    /// marks which ones); nothing with the tracker.
    pub(super) fn report(&self, peers: &[Peer]) -> String {
        let Discovery::Dht(node) = self else {
            return String::new();
        };
        let mut out = format!(
            "\nno tracker: the peers met through the dht node {}\n",
            node.addr
        );
        let mut line = "found through the dht:".to_string();
        for (n, peer) in peers.iter().enumerate() {
            let found = peer.observer.found_by_dht();
            let count = peers
                .iter()
                .filter(|other| other.ip != peer.ip && found.contains(&other.ip))
                .count();
            let item = format!("{} {count}", peer.name);
            let separator = if n == 0 { " " } else { ", " };
            if line.chars().count() + separator.len() + item.len() + 1 > REPORT_WIDTH {
                let _ = writeln!(out, "{line},");
                line = item;
            } else {
                line.push_str(separator);
                line.push_str(&item);
            }
        }
        let _ = writeln!(out, "{line}");
        out
    }

    /// Stops the tracker or the node and joins its threads.
    pub(super) fn stop(self) {
        match self {
            Discovery::Tracker { server, .. } => server.shutdown(),
            Discovery::Dht(node) => node.stop(),
        }
    }
}

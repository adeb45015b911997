//! Test harness: real BitTorrent programs (opentracker, libtorrent, aria2c, transmission-cli)
//! run on loopback as seeders ([`seeders`]) and leechers ([`leechers`]), reproducible
//! payloads, and the smalltorrent binary under test (as a serving peer: [`smalltorrent`]).
//!
//! Every process is owned by a [`Proc`] that kills it on drop (also on panic); every file
//! lives in a `tempfile` dir; ports are bound as port 0 where the program allows it.
//!
//! A typical test:
//! ```ignore
//! let mut tracker = Opentracker::start();
//! let dir = tempfile::tempdir().unwrap();
//! let data = make_file(&dir.path().join("data"), "payload.bin", 6 << 20, 1);
//! let torrent = mktorrent(&data, &tracker.announce_url(), 16, &dir.path().join("t.torrent"));
//! tracker.allow(&torrent);
//! let seeder = Seeder::libtorrent(&tracker, &torrent, data.parent().unwrap(), LtOptions::on(ip(2)));
//! let out = dir.path().join("out");
//! let result = run_smalltorrent([torrent.as_os_str(), "-d".as_ref(), out.as_os_str()], secs(60));
//! assert_same_tree(&data, &out.join("payload.bin"));
//! ```

#![allow(
    dead_code,
    unused_imports,
    reason = "each test crate uses a different subset of the helpers and re-exports"
)]

pub mod dht;
pub mod gate;
pub mod hostile_client;
pub mod hostile_peer;
pub mod leechers;
pub mod metadata_liar;
pub mod mse_client;
pub mod net;
pub mod payload;
pub mod process;
pub mod published;
pub mod seeders;
pub mod smalltorrent;
pub mod torrent;
pub mod trace_file;
pub mod tracker;
pub mod webserver;

pub use gate::Gate;
pub use hostile_peer::{Behaviour, HostilePeer, TorrentFacts};
pub use leechers::{
    LibtorrentLeecher, PieceReport, TransmissionLeecher, aria2_download_logged, lt_download,
};
pub use metadata_liar::{Lie, MetadataFacts, MetadataLiar};
pub use net::{free_port, free_udp_port, listening_ports, udp_ports};
pub use payload::{
    assert_same_tree, copy_tree, make_file, make_tree, noise, tree_differences,
    wait_until_mtime_can_change,
};
pub use process::{
    Proc, run_smalltorrent, smalltorrent_command, spawn_smalltorrent, spawn_smalltorrent_named,
    without_public_dht,
};
pub use published::Published;
pub use seeders::{LtOptions, PYTHON, Seeder, aria2_download};
pub use smalltorrent::{SmalltorrentPeer, Stopped, verified_pieces};
pub use torrent::{
    info_dict, info_hash, info_hash_hex, make_torrent, mktorrent, mktorrent_tiers, without_trackers,
};
pub use trace_file::{
    PexLine, Request, blocks_of, has_message, pex_messages, pieces_of, requests_sent,
};
pub use tracker::{Opentracker, SmalltorrentTracker, TrackerProcess};
pub use webserver::WebServer;

use std::net::Ipv4Addr;
use std::time::Duration;

/// `127.0.0.n`: give each peer of a swarm its own loopback address.
pub fn ip(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, n)
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

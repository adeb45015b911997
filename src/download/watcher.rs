//! The watcher hook: how a caller that runs a download on one thread watches it from
//! another (`smalltorrent demo` runs a whole swarm of them, and draws it).
//!
//! * Called by: [`super::run`], once, when the piece manager and counters exist
//!   ([`Watcher::attach`]); the peer manager, once per peer thread it starts
//!   ([`Watcher::peer_started`]); the download's threads, once, if its DHT node starts
//!   ([`Watcher::dht_started`]).
//! * Owns: nothing. What it is given is shared state the download keeps up to date: the
//!   piece manager's tables, the counters, each connection's [`PeerStatus`] (its byte
//!   counts go on counting until the connection ends, and stay readable after), the DHT
//!   node's [`Stats`].
//!
//! The download does not depend on being watched: `Options::watcher` is `None` for the
//! command line. A watched run leaves all reporting to its watcher: it prints nothing, not
//! even the `done:` line.

use crate::dht::Stats;
use crate::peer::PeerStatus;
use crate::piece_manager::PieceManager;
use crate::stats::Counters;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

/// Someone watching one download from another thread. See the module documentation.
pub trait Watcher: Send + Sync {
    /// The run has built its piece manager and counters; called once, before any thread
    /// starts (and also for a run that finds everything on disk and ends at once).
    fn attach(&self, pieces: Arc<PieceManager>, counters: Arc<Counters>);

    /// The peer manager started a thread for a connection with `addr`, dialled or
    /// accepted. Called as the thread starts, whether or not its handshake succeeds: a
    /// connection that never gets through it keeps zero bytes in `status`.
    fn peer_started(&self, addr: SocketAddr, status: Arc<PeerStatus>);

    /// The download's DHT node started; `stats` says what it found (see
    /// [`Stats::found`]). Not called with no DHT (`--no-dht`, a private torrent).
    fn dht_started(&self, stats: Arc<Stats>) {
        let _ = stats;
    }
}

impl fmt::Debug for dyn Watcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Watcher")
    }
}

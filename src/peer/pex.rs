//! Peer exchange (BEP 11, `ut_pex`) on one connection: we tell the peer, at most once a
//! minute, which peers the torrent is connected to, and hand the peers it tells us of to
//! the peer manager. The messages themselves are decoded in [`crate::extension::pex`].
//!
//! * **Sending.** The torrent's registry lists its established connections, each at the
//!   address other peers reach it at, with its flags (`Registry::connected_peers`, never
//!   the receiving peer itself). Each connection keeps what it has told its peer so far
//!   ([`Told`]) and sends the difference: `added`, the peers connected since, and
//!   `dropped`, those gone since, at most [`MAX_PEERS`] of each (the rest wait for the next
//!   message). The first message goes [`FIRST_AFTER`] the connection starts, the others
//!   at least [`INTERVAL`] apart; nothing goes while there is nothing new to say.
//! * **Receiving.** The peers a message adds (at most [`MAX_PEERS`] of them) go to the peer
//!   manager as a tracker's do (`Shared::addresses`); it drops duplicates, banned addresses
//!   and our own. One message per [`HONOUR_EVERY`] is honoured; one that comes sooner is
//!   read and ignored. A peer is dropped, with the reason in the log, for a malformed
//!   message, for more than [`MAX_ADDED`] peers in one, or for more than [`FLOOD_LIMIT`]
//!   messages within [`FLOOD_WINDOW`].
//! * **Never for a private torrent** (BEP 27: its peers come from its trackers only): we
//!   do not offer `ut_pex`, send nothing and ignore what comes. A magnet link's torrent
//!   may turn out private, so none of this runs before the metadata is known: `magnet.rs`
//!   offers no `ut_pex`, and the connection offers it in the extension handshake it sends
//!   again once the torrent is known.

use super::PeerError;
use super::connection::Connection;
use crate::extension::pex::{Flags, PexMessage};
use crate::transcript::{Direction, Tracer};
use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How long after the connection starts our first message goes: time for the peer's
/// extension handshake, and for the torrent's other connections to come up.
pub(super) const FIRST_AFTER: Duration = Duration::from_secs(5);
/// Our messages to one peer go at least this far apart (the convention of µTorrent,
/// Azureus and libtorrent: once a minute).
pub(super) const INTERVAL: Duration = Duration::from_secs(60);
/// With nothing new to say, we look again this much later.
const RECHECK: Duration = Duration::from_secs(5);
/// Peers in one message, `added` and `dropped` each: the most we send, and the most we
/// take from a message we receive.
pub(super) const MAX_PEERS: usize = 50;
/// A message that adds more peers than this gets its sender dropped. libtorrent lists up
/// to 100 in the first message to a new peer, over the convention's 50.
pub(super) const MAX_ADDED: usize = 100;
/// A message that comes sooner than this after the last honoured one is ignored
/// (a little under a minute: the convention tolerates senders that are early).
pub(super) const HONOUR_EVERY: Duration = Duration::from_secs(50);
/// More messages than [`FLOOD_LIMIT`] within this window is a flood.
pub(super) const FLOOD_WINDOW: Duration = Duration::from_secs(60);
/// See [`FLOOD_WINDOW`].
pub(super) const FLOOD_LIMIT: usize = 3;

/// One connection's peer exchange: what we told the peer and when, and when it told us.
pub(super) struct Pex {
    /// What our messages so far have told the peer.
    told: Told,
    /// When our next message may go.
    next_send: Instant,
    /// When the peer's last messages came, oldest first (at most [`FLOOD_LIMIT`]).
    received: VecDeque<Instant>,
    /// When we last passed on the peers of one of its messages.
    honoured: Option<Instant>,
    /// The registry lists the peer as a seed already.
    seed_listed: bool,
}

/// The peers our messages have told one peer of: every peer added, minus those dropped.
#[derive(Debug, Default)]
pub(super) struct Told(BTreeSet<SocketAddr>);

impl Told {
    /// The message that brings the peer from what it was told to `connected` (at most
    /// [`MAX_PEERS`] added and dropped: the rest wait for the next one), which is then
    /// what it was told; `None` if it knows them all already.
    pub(super) fn update(&mut self, connected: &[(SocketAddr, Flags)]) -> Option<PexMessage> {
        let now: BTreeSet<SocketAddr> = connected.iter().map(|(addr, _)| *addr).collect();
        let added: Vec<(SocketAddr, Flags)> = connected
            .iter()
            .filter(|(addr, _)| !self.0.contains(addr))
            .take(MAX_PEERS)
            .copied()
            .collect();
        let dropped: Vec<SocketAddr> = self.0.difference(&now).take(MAX_PEERS).copied().collect();
        if added.is_empty() && dropped.is_empty() {
            return None;
        }
        self.0.extend(added.iter().map(|(addr, _)| *addr));
        dropped.iter().for_each(|addr| {
            self.0.remove(addr);
        });
        Some(PexMessage { added, dropped })
    }
}

impl Pex {
    /// A connection that starts `now`: its first message goes [`FIRST_AFTER`].
    pub(super) fn new(now: Instant) -> Pex {
        Pex {
            told: Told::default(),
            next_send: now + FIRST_AFTER,
            received: VecDeque::new(),
            honoured: None,
            seed_listed: false,
        }
    }

    /// Our next message, if one is due `now` and there is something new to tell of the
    /// `connected` peers; schedules the one after.
    pub(super) fn next_message(
        &mut self,
        now: Instant,
        connected: &[(SocketAddr, Flags)],
    ) -> Option<PexMessage> {
        if now < self.next_send {
            return None;
        }
        let message = self.told.update(connected);
        self.next_send = now + if message.is_some() { INTERVAL } else { RECHECK };
        message
    }

    /// True if our next message is due `now` (so the caller may list the peers).
    pub(super) fn due(&self, now: Instant) -> bool {
        now >= self.next_send
    }

    /// A message came from the peer `now`: `Ok(true)` to honour it, `Ok(false)` to ignore
    /// it (too soon after the last honoured one), or why the peer floods us.
    pub(super) fn arrived(&mut self, now: Instant) -> Result<bool, String> {
        self.received.push_back(now);
        if self.received.len() > FLOOD_LIMIT {
            // The message [`FLOOD_LIMIT`] before this one: within the window, a flood.
            let earlier = self.received.pop_front();
            if earlier.is_some_and(|at| now.duration_since(at) < FLOOD_WINDOW) {
                return Err(format!(
                    "sent {} PEX messages within {} s (limit {FLOOD_LIMIT})",
                    FLOOD_LIMIT + 1,
                    FLOOD_WINDOW.as_secs()
                ));
            }
        }
        let honour = self
            .honoured
            .is_none_or(|last| now.duration_since(last) >= HONOUR_EVERY);
        if honour {
            self.honoured = Some(now);
        }
        Ok(honour)
    }
}

/// Records a `ut_pex` message in the trace: how many peers it adds and drops.
fn trace_pex(tracer: &Tracer, addr: SocketAddr, dir: Direction, message: &PexMessage) {
    let fields = [
        ("added", message.added.len() as u64),
        ("dropped", message.dropped.len() as u64),
    ];
    tracer.extended(addr, dir, "ut_pex", &fields);
}

impl Connection {
    /// The peer's number for `ut_pex`, if peer exchange runs on this connection: the peer
    /// speaks it and the torrent is not private.
    fn pex_id(&self) -> Option<u8> {
        let theirs = self.theirs.as_ref()?;
        theirs.ut_pex.filter(|_| !self.torrent.private)
    }

    /// Once a tick: lists the peer as a seed once it is one, and sends our message when
    /// it is due.
    pub(super) fn pex_housekeeping(&mut self, now: Instant) {
        if !self.pex.seed_listed && self.download.peer_is_seed() {
            self.registration.became_seed();
            self.pex.seed_listed = true;
        }
        let Some(id) = self.pex_id() else {
            return;
        };
        if !self.pex.due(now) {
            return;
        }
        let connected = self.shared.registry.connected_peers(self.key);
        if let Some(message) = self.pex.next_message(now, &connected) {
            trace_pex(&self.shared.tracer, self.addr, Direction::Out, &message);
            message.to_message(id).encode(self.socket.queue());
        }
    }

    /// A `ut_pex` message from the peer: checked, then its peers handed to the peer
    /// manager if it is honoured.
    pub(super) fn pex_received(&mut self, payload: &[u8]) -> Result<(), PeerError> {
        if self.torrent.private {
            log::debug!("peer {}: ignored PEX: the torrent is private", self.addr);
            return Ok(());
        }
        let message = PexMessage::decode(payload).map_err(|e| self.misbehaved(e.to_string()))?;
        trace_pex(&self.shared.tracer, self.addr, Direction::In, &message);
        let added = message.added.len();
        if added > MAX_ADDED {
            return Err(self.misbehaved(format!(
                "sent a PEX message of {added} peers (limit {MAX_ADDED})"
            )));
        }
        if !self
            .pex
            .arrived(Instant::now())
            .map_err(|why| self.misbehaved(why))?
        {
            log::debug!("peer {}: ignored PEX: too soon after the last", self.addr);
            return Ok(());
        }
        log::debug!(
            "peer {}: PEX: {added} peers added, {} dropped",
            self.addr,
            message.dropped.len()
        );
        let peers: Vec<SocketAddr> = message.added.iter().take(MAX_PEERS).map(|p| p.0).collect();
        if !peers.is_empty() {
            // The manager gone means the download is ending: nobody needs the peers.
            let _ = self.shared.addresses.send(peers);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

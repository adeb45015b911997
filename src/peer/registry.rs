//! One connection per peer: the peer ids of a torrent's established connections, and
//! where each of those peers listens, for peer exchange.
//!
//! A peer that dials us while we dial it (both learnt of the other from the tracker at the
//! same moment), or that connects twice, would otherwise have two connections: two
//! threads, the same blocks requested twice, its pieces counted twice in the availability.
//! So every peer thread registers the remote peer id here as soon as its handshake is done,
//! and ends with [`PeerError::AlreadyConnected`] if that peer is connected already. The
//! [`Registration`] it gets back takes the id out again when the thread drops it, however
//! the thread ends (an error, a stop, a panic), so the peer may connect again later.
//!
//! Which connection stays:
//!
//! * Both opened by the same side (the peer connected twice, or we dialled two addresses of
//!   one peer): the first; the newcomer is refused.
//! * One opened by each side: both ends must drop the *same* one, or each keeps the one the
//!   other drops and none is left (when both dial at once, each end finishes the handshake
//!   it answered first). As libtorrent does, we keep the connection opened by the side with
//!   the greater peer id, whichever came first: a newcomer that loses is refused, an older
//!   connection that loses is stopped.
//!
//! The registry is also where a peer thread learns whom the torrent is connected to, for
//! peer exchange (BEP 11, `pex.rs`): [`Registry::connected_peers`] lists every established
//! connection with the address other peers reach it at. For a peer we dialled that is the
//! address we dialled; for one that dialled us, its IP with the port its extension
//! handshake names (`p`), so a connection is listed only once that handshake came
//! ([`Registration::learned`]): the source port of an accepted connection is nobody's
//! listening port.
//!
//! * Used by: the peer threads (through [`Shared`](super::Shared)), right after the handshake;
//!   then, for peer exchange, when the peer's extension handshake comes, when it turns out
//!   to be a seed, and once a minute to list the connections.
//! * Why a set behind a lock and not a question to the peer manager: the answer is needed
//!   the moment a handshake ends and must be atomic with taking the id; asking the
//!   manager's loop would make every handshake wait a round trip. The lock is held only to
//!   look up and insert (or remove) one id. The peer manager still owns the connections:
//!   it only sees a peer thread end, with a reason that does not count against the address.

use super::{PeerError, PeerStatus};
use crate::extension::Handshake;
use crate::extension::pex::Flags;
use crate::piece_manager::PeerKey;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Which side opened a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Opened {
    /// We dialled the peer.
    ByUs,
    /// The peer dialled us (the listener accepted it).
    ByPeer,
}

/// The peer ids of one torrent's established connections, each with the connection that
/// holds it.
#[derive(Debug)]
pub struct Registry {
    /// Our own peer id: it decides which of two crossed connections stays.
    ours: [u8; 20],
    connected: Mutex<HashMap<[u8; 20], Holder>>,
}

/// The connection that holds a peer id.
#[derive(Debug)]
struct Holder {
    /// Tells this holder from a newer one of the same peer id (see [`Registration`]'s drop).
    key: PeerKey,
    addr: SocketAddr,
    opened: Opened,
    /// To stop the connection if a crossed one replaces it.
    status: Arc<PeerStatus>,
    /// Where other peers reach this one, for peer exchange: `addr` if we dialled it, else
    /// its listening port once its extension handshake names it; `None` until then.
    listen_addr: Option<SocketAddr>,
    /// The peer has every piece (a flag for peer exchange).
    seed: bool,
    /// The peer said it prefers encryption (a flag for peer exchange).
    prefers_encryption: bool,
}

/// A peer id taken by one connection; dropping it frees the id.
#[derive(Debug)]
pub(super) struct Registration {
    registry: Arc<Registry>,
    peer_id: [u8; 20],
    key: PeerKey,
}

impl Registry {
    /// An empty registry for a torrent where we are `ours`.
    pub fn new(ours: [u8; 20]) -> Registry {
        Registry {
            ours,
            connected: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `peer_id` for the connection `key` (to `addr`, opened as `opened`), or fails
    /// with [`PeerError::AlreadyConnected`] if another connection keeps it (see the module
    /// doc). A connection it replaces is told to stop.
    pub(super) fn register(
        self: &Arc<Registry>,
        peer_id: [u8; 20],
        key: PeerKey,
        addr: SocketAddr,
        opened: Opened,
        status: &Arc<PeerStatus>,
    ) -> Result<Registration, PeerError> {
        let mut connected = self.connected.lock();
        if let Some(holder) = connected.get(&peer_id) {
            if !self.newcomer_stays(holder.opened, opened, &peer_id) {
                return Err(PeerError::AlreadyConnected);
            }
            log::debug!(
                "peer {}: the same peer connected both ways; closing this connection for \
                 {addr}, the one the greater peer id opened",
                holder.addr
            );
            holder.status.stop.store(true, Ordering::Relaxed);
            holder.status.wake_peer();
        }
        let holder = Holder {
            key,
            addr,
            opened,
            status: status.clone(),
            listen_addr: (opened == Opened::ByUs).then_some(addr),
            seed: false,
            prefers_encryption: false,
        };
        connected.insert(peer_id, holder);
        Ok(Registration {
            registry: self.clone(),
            peer_id,
            key,
        })
    }

    /// Whether a new connection to `theirs`, opened as `newcomer`, replaces the one opened
    /// as `holder`: only a crossed one, and only if the side with the greater peer id
    /// opened it.
    fn newcomer_stays(&self, holder: Opened, newcomer: Opened, theirs: &[u8; 20]) -> bool {
        let greater = if self.ours > *theirs {
            Opened::ByUs
        } else {
            Opened::ByPeer
        };
        holder != newcomer && newcomer == greater
    }

    /// The established connections that peer exchange may tell `to` about: every one but
    /// `to` itself whose listening address is known, with its BEP 11 flags, in address
    /// order.
    pub fn connected_peers(&self, to: PeerKey) -> Vec<(SocketAddr, Flags)> {
        let connected = self.connected.lock();
        let mut peers: Vec<(SocketAddr, Flags)> = connected
            .values()
            .filter(|holder| holder.key != to)
            .filter_map(|holder| Some((holder.listen_addr?, holder.flags())))
            .collect();
        drop(connected);
        peers.sort_unstable();
        peers
    }
}

impl Holder {
    /// What peer exchange says about this connection's peer.
    fn flags(&self) -> Flags {
        let mut flags = Flags::default();
        if self.seed {
            flags = flags.with(Flags::SEED);
        }
        if self.prefers_encryption {
            flags = flags.with(Flags::PREFERS_ENCRYPTION);
        }
        if self.opened == Opened::ByUs {
            flags = flags.with(Flags::REACHABLE);
        }
        flags
    }
}

impl Registration {
    /// The peer's extension handshake came: for a peer that dialled us, where it listens
    /// (`p`); whether it prefers encryption (`e`).
    pub(super) fn learned(&self, theirs: &Handshake) {
        self.update(|holder| {
            if let (Opened::ByPeer, Some(port)) = (holder.opened, theirs.listen_port) {
                holder.listen_addr = Some(SocketAddr::new(holder.addr.ip(), port));
            }
            holder.prefers_encryption = theirs.prefers_encryption;
        });
    }

    /// The peer has every piece.
    pub(super) fn became_seed(&self) {
        self.update(|holder| holder.seed = true);
    }

    /// Changes this connection's entry (not that of a crossed connection that replaced it).
    fn update(&self, change: impl FnOnce(&mut Holder)) {
        let mut connected = self.registry.connected.lock();
        if let Some(holder) = connected.get_mut(&self.peer_id)
            && holder.key == self.key
        {
            change(holder);
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut connected = self.registry.connected.lock();
        // A crossed connection may have taken the id over since: leave it to that one.
        if connected.get(&self.peer_id).map(|h| h.key) == Some(self.key) {
            connected.remove(&self.peer_id);
        }
    }
}

#[cfg(test)]
mod tests;

//! One connection per peer: the peer ids of a torrent's established connections.
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
//! * Used by: the peer threads (through [`Shared`](super::Shared)), right after the handshake.
//! * Why a set behind a lock and not a question to the peer manager: the answer is needed
//!   the moment a handshake ends and must be atomic with taking the id; asking the
//!   manager's loop would make every handshake wait a round trip. The lock is held only to
//!   look up and insert (or remove) one id. The peer manager still owns the connections:
//!   it only sees a peer thread end, with a reason that does not count against the address.

use super::{PeerError, PeerStatus};
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

//! The DHT on a peer connection (BEP 5): a peer that runs a DHT node too gets our node's
//! port in a `port` message, and the node a peer names in one is handed to ours.

use super::Shared;
use crate::transcript::Direction;
use crate::wire::Message;
use std::net::{SocketAddr, SocketAddrV4};

/// Our DHT port, as a `port` message (BEP 5), to a peer that runs a DHT node too.
pub(super) fn send_dht_port(shared: &Shared, addr: SocketAddr, out: &mut Vec<u8>) {
    if let Some((port, _)) = &shared.dht {
        let message = Message::Port(*port);
        shared.tracer.message(addr, Direction::Out, &message);
        message.encode(out);
    }
}

/// A peer said its DHT node listens on `port` (BEP 5): our node pings it, and keeps it in
/// its table if it answers.
pub(super) fn peer_dht_node(shared: &Shared, addr: SocketAddr, port: u16) {
    if let (Some((_, node)), SocketAddr::V4(addr), true) = (&shared.dht, addr, port != 0) {
        let named = SocketAddrV4::new(*addr.ip(), port);
        let _ = node.send(crate::dht::Command::AddNode(named));
    }
}

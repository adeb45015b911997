//! The registry's rules: one connection per peer id, the id freed however a connection
//! ends, and both ends of two crossed connections keeping the same one.

use super::*;

const LOW: [u8; 20] = *b"-ST0100-aaaaaaaaaaaa";
const HIGH: [u8; 20] = *b"-ST0100-zzzzzzzzzzzz";

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn stopped(status: &PeerStatus) -> bool {
    status.stop.load(Ordering::Relaxed)
}

#[test]
fn a_peer_that_connects_twice_keeps_its_first_connection() {
    let registry = Arc::new(Registry::new(LOW));
    let (first, second) = (Arc::default(), Arc::default());
    let _kept = registry.register(HIGH, 1, addr(1), Opened::ByPeer, &first);
    let refused = registry.register(HIGH, 2, addr(2), Opened::ByPeer, &second);
    assert!(matches!(refused, Err(PeerError::AlreadyConnected)));
    assert!(!stopped(&first));
}

#[test]
fn two_dials_to_one_peer_keep_the_first() {
    let registry = Arc::new(Registry::new(HIGH));
    let (first, second) = (Arc::default(), Arc::default());
    let _kept = registry.register(LOW, 1, addr(1), Opened::ByUs, &first);
    let refused = registry.register(LOW, 2, addr(2), Opened::ByUs, &second);
    assert!(matches!(refused, Err(PeerError::AlreadyConnected)));
    assert!(!stopped(&first));
}

#[test]
fn other_peers_are_not_affected() {
    let registry = Arc::new(Registry::new(LOW));
    let status = Arc::default();
    let _one = registry.register(HIGH, 1, addr(1), Opened::ByPeer, &status);
    assert!(
        registry
            .register(LOW, 2, addr(2), Opened::ByPeer, &status)
            .is_ok()
    );
}

#[test]
fn the_id_is_free_again_once_the_connection_ends() {
    let registry = Arc::new(Registry::new(LOW));
    let status = Arc::default();
    let first = registry.register(HIGH, 1, addr(1), Opened::ByPeer, &status);
    drop(first);
    assert!(registry.connected.lock().is_empty());
    assert!(
        registry
            .register(HIGH, 2, addr(2), Opened::ByPeer, &status)
            .is_ok()
    );
}

#[test]
fn a_thread_that_panics_frees_the_id() {
    let registry = Arc::new(Registry::new(LOW));
    let thread_registry = registry.clone();
    let ended = std::thread::spawn(move || {
        let _registration =
            thread_registry.register(HIGH, 1, addr(1), Opened::ByPeer, &Arc::default());
        panic!("a bug in the peer thread");
    })
    .join();
    assert!(ended.is_err());
    let again = registry.register(HIGH, 2, addr(2), Opened::ByPeer, &Arc::default());
    assert!(again.is_ok());
}

/// Two crossed connections, X opened by the peer with the greater id and Y by the other,
/// as each end's registry sees them, in every order: both ends keep X.
#[test]
fn crossed_connections_keep_the_one_the_greater_id_opened_at_both_ends() {
    for (x_first_at_high, x_first_at_low) in
        [(true, true), (true, false), (false, true), (false, false)]
    {
        let at_high = crossed(HIGH, LOW, Opened::ByUs, x_first_at_high);
        let at_low = crossed(LOW, HIGH, Opened::ByPeer, x_first_at_low);
        assert_eq!(
            at_high,
            Kept::X,
            "at the greater id, X first: {x_first_at_high}"
        );
        assert_eq!(
            at_low,
            Kept::X,
            "at the lesser id, X first: {x_first_at_low}"
        );
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Kept {
    X,
    Y,
}

/// Registers X (opened as `x_opened` from the end where we are `ours`) and Y (the other
/// way) in one order; returns which one is still running.
fn crossed(ours: [u8; 20], theirs: [u8; 20], x_opened: Opened, x_first: bool) -> Kept {
    let registry = Arc::new(Registry::new(ours));
    let y_opened = match x_opened {
        Opened::ByUs => Opened::ByPeer,
        Opened::ByPeer => Opened::ByUs,
    };
    let (x, y): (Arc<PeerStatus>, Arc<PeerStatus>) = (Arc::default(), Arc::default());
    let register_x = || registry.register(theirs, 1, addr(1), x_opened, &x);
    let register_y = || registry.register(theirs, 2, addr(2), y_opened, &y);
    let (x_registered, y_registered) = if x_first {
        let x_registered = register_x();
        (x_registered, register_y())
    } else {
        let y_registered = register_y();
        (register_x(), y_registered)
    };
    let x_runs = x_registered.is_ok() && !stopped(&x);
    let y_runs = y_registered.is_ok() && !stopped(&y);
    assert!(x_runs != y_runs, "exactly one runs: X {x_runs}, Y {y_runs}");
    if x_runs { Kept::X } else { Kept::Y }
}

#[test]
fn a_replaced_connection_leaves_the_id_to_its_successor() {
    let registry = Arc::new(Registry::new(HIGH));
    let (old, new) = (Arc::default(), Arc::default());
    let replaced = registry.register(LOW, 1, addr(1), Opened::ByPeer, &old);
    let successor = registry.register(LOW, 2, addr(2), Opened::ByUs, &new);
    assert!(stopped(&old) && successor.is_ok());
    drop(replaced);
    let third = registry.register(LOW, 3, addr(3), Opened::ByUs, &Arc::default());
    assert!(matches!(third, Err(PeerError::AlreadyConnected)));
    drop(successor);
    assert!(registry.connected.lock().is_empty());
}

/// A third peer id, for lists of several connections.
const MID: [u8; 20] = *b"-ST0100-mmmmmmmmmmmm";

fn handshake(listen_port: Option<u16>, prefers_encryption: bool) -> Handshake {
    Handshake {
        listen_port,
        prefers_encryption,
        ..Handshake::default()
    }
}

#[test]
fn peer_exchange_lists_every_other_connection_we_dialled() {
    let registry = Arc::new(Registry::new(LOW));
    let status = Arc::default();
    let _one = registry.register(HIGH, 1, addr(6881), Opened::ByUs, &status);
    let _two = registry.register(MID, 2, addr(6882), Opened::ByUs, &status);
    assert_eq!(
        registry.connected_peers(1),
        [(addr(6882), Flags::REACHABLE)],
        "never the receiving peer itself"
    );
    assert_eq!(
        registry.connected_peers(2),
        [(addr(6881), Flags::REACHABLE)]
    );
    assert_eq!(registry.connected_peers(3).len(), 2);
}

/// The source port of an accepted connection is not where the peer listens: such a peer
/// is listed only with the port of its extension handshake.
#[test]
fn a_peer_that_dialled_us_is_listed_at_its_listening_port_once_known() {
    let registry = Arc::new(Registry::new(LOW));
    let status = Arc::default();
    let incoming = registry
        .register(HIGH, 1, addr(40_000), Opened::ByPeer, &status)
        .unwrap();
    assert!(registry.connected_peers(9).is_empty());
    incoming.learned(&handshake(None, true));
    assert!(registry.connected_peers(9).is_empty(), "no `p`: not listed");
    incoming.learned(&handshake(Some(6881), true));
    assert_eq!(
        registry.connected_peers(9),
        [(addr(6881), Flags::PREFERS_ENCRYPTION)]
    );
}

#[test]
fn a_seed_is_listed_as_one_and_a_dialled_peer_keeps_the_address_we_dialled() {
    let registry = Arc::new(Registry::new(LOW));
    let dialled = registry
        .register(HIGH, 1, addr(6881), Opened::ByUs, &Arc::default())
        .unwrap();
    dialled.learned(&handshake(Some(7000), false));
    dialled.became_seed();
    let flags = Flags::SEED.with(Flags::REACHABLE);
    assert_eq!(registry.connected_peers(9), [(addr(6881), flags)]);
    drop(dialled);
    assert!(registry.connected_peers(9).is_empty(), "gone when it ends");
}

#[test]
fn a_replaced_connection_cannot_change_its_successors_entry() {
    let registry = Arc::new(Registry::new(HIGH));
    let (old, new) = (Arc::default(), Arc::default());
    let replaced = registry
        .register(LOW, 1, addr(1), Opened::ByPeer, &old)
        .unwrap();
    let _successor = registry.register(LOW, 2, addr(2), Opened::ByUs, &new);
    replaced.became_seed();
    assert_eq!(registry.connected_peers(9), [(addr(2), Flags::REACHABLE)]);
}

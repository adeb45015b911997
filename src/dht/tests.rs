//! Tests of the lookup, the tokens, the store, and stopping a node.

use super::id::Id;
use super::lookup::{ALPHA, Lookup, MAX_QUERIES};
use super::store::{self, Store};
use super::token::{ROTATE_EVERY, Tokens};
use crate::random::Rng;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

fn addr(n: u32) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::from(0x7f00_0000 + n), 6881)
}

fn id(n: u8) -> Id {
    let mut bytes = [0u8; 20];
    bytes[0] = n;
    Id(bytes)
}

#[test]
fn a_lookup_asks_the_closest_first_alpha_at_a_time_and_ends_when_the_closest_answered() {
    let target = id(0);
    let start: Vec<_> = (1..=10).map(|n| (id(n * 10), addr(u32::from(n)))).collect();
    let mut lookup = Lookup::new(target, &start);
    let first = lookup.to_ask();
    assert_eq!(first.len(), ALPHA);
    assert_eq!(first[0].0, id(10), "closest first");
    assert!(lookup.to_ask().is_empty(), "no more than ALPHA in flight");
    // The first answer names two closer nodes: they are asked next.
    lookup.answered(
        first[0].1,
        first[0].0,
        Some(b"t".to_vec()),
        &[(id(1), addr(91)), (id(2), addr(92))],
    );
    let next = lookup.to_ask();
    assert_eq!(
        next.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        vec![id(1)]
    );
    // Everyone answers, naming nobody new: the lookup ends.
    let mut rounds = 0;
    let mut pending = [first[1..].to_vec(), next].concat();
    while !lookup.is_done() {
        for (node, at) in pending.drain(..) {
            lookup.answered(at, node, Some(b"t".to_vec()), &[]);
        }
        pending = lookup.to_ask();
        rounds += 1;
        assert!(rounds < 20, "the lookup must end");
    }
    let announce = lookup.announce_to();
    assert_eq!(announce.len(), 8);
    assert_eq!(
        announce[0].0,
        id(1),
        "the closest that answered with a token"
    );
}

#[test]
fn a_lookup_flooded_with_far_nodes_ends_within_its_budget() {
    let target = id(0);
    let mut lookup = Lookup::new(target, &[(id(200), addr(1))]);
    let mut rng = Rng::with_seed(1);
    let mut next_addr = 1000;
    let mut queries = 0;
    while !lookup.is_done() {
        let asked = lookup.to_ask();
        assert!(!asked.is_empty(), "a lookup not done has something to ask");
        for (node, at) in asked {
            queries += 1;
            // Every node answers with 8 fresh nodes, each a little closer, forever.
            let fake: Vec<_> = (0..8)
                .map(|_| {
                    next_addr += 1;
                    (Id::random(&mut rng), addr(next_addr))
                })
                .collect();
            lookup.answered(at, node, None, &fake);
        }
    }
    assert!(queries <= MAX_QUERIES, "{queries} queries");
}

#[test]
fn a_lookup_whose_nodes_all_fail_ends() {
    let mut lookup = Lookup::new(id(0), &[(id(1), addr(1)), (id(2), addr(2))]);
    for (_, at) in lookup.to_ask() {
        lookup.failed(at);
    }
    assert!(lookup.is_done());
    assert!(lookup.announce_to().is_empty());
}

#[test]
fn a_token_is_accepted_through_one_rotation_and_not_two() {
    let start = Instant::now();
    let mut tokens = Tokens::new(Rng::with_seed(3), start);
    let ip = Ipv4Addr::new(127, 0, 0, 5);
    let token = tokens.make(ip);
    assert!(tokens.accepts(ip, &token));
    assert!(
        !tokens.accepts(Ipv4Addr::new(127, 0, 0, 6), &token),
        "another address"
    );
    tokens.tick(start + ROTATE_EVERY);
    assert!(
        tokens.accepts(ip, &token),
        "the previous secret still counts"
    );
    tokens.tick(start + 2 * ROTATE_EVERY);
    assert!(
        !tokens.accepts(ip, &token),
        "two rotations later it does not"
    );
}

#[test]
fn the_store_is_bounded_and_forgets_after_30_minutes() {
    let now = Instant::now();
    let mut store = Store::default();
    for n in 0..(store::MAX_PEERS as u32 + 20) {
        assert!(store.announce(id(1), addr(n), now + Duration::from_millis(u64::from(n))));
    }
    assert_eq!(store.peers(&id(1), now).len(), store::MAX_ANSWER);
    for n in 0..store::MAX_TORRENTS {
        let mut hash = [0u8; 20];
        hash[..8].copy_from_slice(&(n as u64 + 10).to_be_bytes());
        store.announce(Id(hash), addr(1), now);
    }
    assert_eq!(
        store.len(),
        store::MAX_TORRENTS,
        "full: newcomers are turned away"
    );
    assert!(!store.announce(id(9), addr(1), now));
    let later = now + store::EXPIRES + Duration::from_secs(1);
    assert!(store.peers(&id(1), later).is_empty());
    assert!(
        store.announce(id(9), addr(1), later),
        "expired entries make room"
    );
    assert_eq!(store.len(), 1);
}

#[test]
fn a_node_stops_at_once_behind_a_backlog_of_commands() {
    use super::node::{Command, Config, Node};
    let node = Node::spawn(Config {
        bind: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
        bootstrap: Vec::new(),
        table_file: None,
    })
    .unwrap();
    // One command a turn, each turn waiting 100 ms on the socket, would take 50 s.
    for _ in 0..500 {
        node.send(Command::WantPeers { info_hash: [7; 20] });
    }
    let asked = Instant::now();
    node.stop();
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
}

//! The peer store's rules: expiry, stopped, numwant, exclusion, scrape counts and caps.

use super::*;

const INTERVAL: Duration = Duration::from_secs(60);

fn hash(n: u8) -> [u8; 20] {
    [n; 20]
}

fn peer_id(n: u32) -> [u8; 20] {
    let mut id = *b"-XX0000-000000000000";
    id[16..].copy_from_slice(&n.to_be_bytes());
    id
}

/// Peer `n` of torrent `torrent` at 10.0.x.y:6881, announcing `event` with `left` bytes.
fn announce(torrent: u8, n: u32, event: Event, left: u64) -> Announce {
    let [_, _, x, y] = n.to_be_bytes();
    Announce {
        info_hash: hash(torrent),
        peer_id: peer_id(n),
        addr: SocketAddr::from(([10, 0, x, y], 6881)),
        event,
        left,
        numwant: None,
    }
}

fn store() -> Store {
    Store::new(INTERVAL, Limits::default(), None)
}

#[test]
fn peers_see_each_other_but_not_themselves() {
    let mut store = store();
    let now = Instant::now();
    let first = store
        .announce(&announce(1, 1, Event::Started, 0), now)
        .unwrap();
    assert!(first.peers.is_empty());
    assert_eq!((first.seeders, first.leechers), (1, 0));
    let second = store
        .announce(&announce(1, 2, Event::Started, 10), now)
        .unwrap();
    assert_eq!(
        second.peers,
        vec![(announce(1, 1, Event::None, 0).addr, peer_id(1))]
    );
    assert_eq!((second.seeders, second.leechers), (1, 1));
    // Another torrent is another swarm.
    let other = store
        .announce(&announce(2, 3, Event::Started, 10), now)
        .unwrap();
    assert!(other.peers.is_empty());
}

#[test]
fn seeders_are_not_given_other_seeders() {
    let mut store = store();
    let now = Instant::now();
    store
        .announce(&announce(1, 1, Event::Started, 0), now)
        .unwrap();
    store
        .announce(&announce(1, 2, Event::Started, 5), now)
        .unwrap();
    let seeder = store
        .announce(&announce(1, 3, Event::Started, 0), now)
        .unwrap();
    assert_eq!(seeder.peers.len(), 1, "only the leecher");
    assert_eq!(seeder.peers[0].1, peer_id(2));
}

#[test]
fn numwant_picks_a_random_subset() {
    let mut store = store();
    let now = Instant::now();
    for n in 0..100 {
        store
            .announce(&announce(1, n, Event::Started, 1), now)
            .unwrap();
    }
    let mut ask = announce(1, 1000, Event::None, 1);
    assert_eq!(
        store.announce(&ask, now).unwrap().peers.len(),
        DEFAULT_NUMWANT
    );
    ask.numwant = Some(7);
    let first = store.announce(&ask, now).unwrap().peers;
    assert_eq!(first.len(), 7);
    let differs = (0..20).any(|_| store.announce(&ask, now).unwrap().peers != first);
    assert!(differs, "20 picks of 7 out of 100 were all the same");
    ask.numwant = Some(0);
    assert!(store.announce(&ask, now).unwrap().peers.is_empty());
    ask.numwant = Some(100_000);
    assert_eq!(
        store.announce(&ask, now).unwrap().peers.len(),
        100,
        "all, capped"
    );
}

#[test]
fn stopped_removes_the_peer_and_an_empty_swarm() {
    let mut store = store();
    let now = Instant::now();
    store
        .announce(&announce(1, 1, Event::Started, 0), now)
        .unwrap();
    store
        .announce(&announce(1, 2, Event::Started, 9), now)
        .unwrap();
    let gone = store
        .announce(&announce(1, 1, Event::Stopped, 0), now)
        .unwrap();
    assert_eq!((gone.seeders, gone.leechers), (0, 1));
    assert_eq!(store.peers_total(), 1);
    store
        .announce(&announce(1, 2, Event::Stopped, 9), now)
        .unwrap();
    assert_eq!(store.summary(), Summary::default());
    // Stopping twice, or a stranger stopping, is harmless.
    store
        .announce(&announce(1, 2, Event::Stopped, 9), now)
        .unwrap();
    assert_eq!(store.peers_total(), 0);
}

#[test]
fn silent_peers_expire_after_two_intervals() {
    let mut store = store();
    let start = Instant::now();
    store
        .announce(&announce(1, 1, Event::Started, 0), start)
        .unwrap();
    store
        .announce(&announce(1, 2, Event::Started, 0), start + INTERVAL)
        .unwrap();
    // Peer 1 is silent for more than two intervals: no longer handed out...
    let late = start + INTERVAL * 2 + Duration::from_secs(1);
    let ask = store
        .announce(&announce(1, 3, Event::Started, 5), late)
        .unwrap();
    assert_eq!(
        ask.peers.iter().map(|p| p.1).collect::<Vec<_>>(),
        vec![peer_id(2)]
    );
    // ...and dropped by the sweep.
    assert_eq!(store.expire(late), 1);
    assert_eq!(store.peers_total(), 2);
    assert_eq!(store.expire(late + INTERVAL * 3), 2);
    assert_eq!(store.summary(), Summary::default());
}

#[test]
fn scrape_counts_seeders_leechers_and_completed() {
    let mut store = store();
    let now = Instant::now();
    store
        .announce(&announce(1, 1, Event::Started, 0), now)
        .unwrap();
    store
        .announce(&announce(1, 2, Event::Started, 5), now)
        .unwrap();
    store
        .announce(&announce(1, 3, Event::Started, 5), now)
        .unwrap();
    store
        .announce(&announce(1, 3, Event::Completed, 0), now)
        .unwrap();
    let stats = store.scrape(&hash(1));
    assert_eq!(
        stats,
        ScrapeStats {
            seeders: 2,
            completed: 1,
            leechers: 1
        }
    );
    assert_eq!(store.scrape(&hash(9)), ScrapeStats::default());
    assert_eq!(
        store.summary(),
        Summary {
            swarms: 1,
            seeders: 2,
            leechers: 1
        }
    );
}

#[test]
fn caps_bound_the_store() {
    let limits = Limits {
        swarms: 2,
        peers_per_swarm: 3,
        peers_total: 5,
    };
    let mut store = Store::new(INTERVAL, limits, None);
    let now = Instant::now();
    for n in 0..3 {
        store
            .announce(&announce(1, n, Event::Started, 1), now)
            .unwrap();
    }
    assert_eq!(
        store.announce(&announce(1, 3, Event::Started, 1), now),
        Err(Refusal::Full)
    );
    // A known peer may still announce.
    store
        .announce(&announce(1, 0, Event::None, 0), now)
        .unwrap();
    store
        .announce(&announce(2, 10, Event::Started, 1), now)
        .unwrap();
    store
        .announce(&announce(2, 11, Event::Started, 1), now)
        .unwrap();
    assert_eq!(
        store.announce(&announce(3, 20, Event::Started, 1), now),
        Err(Refusal::TooManySwarms)
    );
    assert_eq!(
        store.announce(&announce(2, 12, Event::Started, 1), now),
        Err(Refusal::Full)
    );
    assert_eq!(store.peers_total(), 5);
    assert_eq!(store.summary().swarms, 2);
    // Refused announces leave nothing behind, and room comes back when peers leave.
    store
        .announce(&announce(2, 10, Event::Stopped, 1), now)
        .unwrap();
    store
        .announce(&announce(2, 12, Event::Started, 1), now)
        .unwrap();
}

#[test]
fn the_allow_list_refuses_other_torrents() {
    let allow = HashSet::from([hash(1)]);
    let mut store = Store::new(INTERVAL, Limits::default(), Some(allow));
    let now = Instant::now();
    store
        .announce(&announce(1, 1, Event::Started, 0), now)
        .unwrap();
    assert_eq!(
        store.announce(&announce(2, 1, Event::Started, 0), now),
        Err(Refusal::NotAllowed)
    );
    assert_eq!(
        Refusal::NotAllowed.to_string(),
        "torrent not allowed on this tracker"
    );
}

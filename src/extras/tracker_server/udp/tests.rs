//! The UDP front end's answers, without a socket.

use super::*;
use crate::extras::tracker_server::store::{Limits, Store};
use crate::tracker::Event;
use crate::tracker::udp::{Announce as UdpAnnounce, PROTOCOL_ID};
use parking_lot::Mutex;
use std::sync::atomic::AtomicBool;

fn shared() -> Shared {
    Shared {
        store: Mutex::new(Store::new(Duration::from_secs(60), Limits::default(), None)),
        interval: Duration::from_secs(60),
        stop: AtomicBool::new(false),
    }
}

fn announce_packet(connection_id: u64, peer: u8, left: u64) -> Vec<u8> {
    Request::Announce {
        connection_id,
        transaction_id: 9,
        announce: UdpAnnounce {
            info_hash: [1; 20],
            peer_id: [peer; 20],
            downloaded: 0,
            left,
            uploaded: 0,
            event: Event::Started,
            ip: 0,
            key: 0,
            numwant: -1,
            port: 6881,
        },
    }
    .encode()
}

fn from(n: u8) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, n], 5000))
}

#[test]
fn connect_then_announce() {
    let (shared, ids, now) = (shared(), ConnectionIds::new(), Instant::now());
    let connect = Request::Connect { transaction_id: 4 }.encode();
    let Some(Reply::Connect {
        transaction_id: 4,
        connection_id,
    }) = answer(&connect, from(1), &shared, &ids, now)
    else {
        panic!("no connect reply")
    };
    assert!(
        answer(
            &announce_packet(connection_id, 1, 0),
            from(1),
            &shared,
            &ids,
            now
        )
        .is_some()
    );
    let id2 = ids.issue(from(2).ip(), now);
    match answer(&announce_packet(id2, 2, 5), from(2), &shared, &ids, now) {
        Some(Reply::Announce {
            transaction_id: 9,
            interval: 60,
            leechers: 1,
            seeders: 1,
            peers,
        }) => assert_eq!(peers, vec![SocketAddr::from(([127, 0, 0, 1], 6881))]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn connection_ids_belong_to_an_ip_and_expire() {
    let ids = ConnectionIds::new();
    let now = Instant::now();
    let id = ids.issue(from(1).ip(), now);
    assert!(ids.valid(from(1).ip(), id, now));
    assert!(ids.valid(from(1).ip(), id, now + Duration::from_secs(61)));
    assert!(!ids.valid(from(2).ip(), id, now));
    assert!(!ids.valid(from(1).ip(), id, now + Duration::from_secs(121)));
}

#[test]
fn bad_packets_get_an_error_or_nothing() {
    let (shared, ids, now) = (shared(), ConnectionIds::new(), Instant::now());
    let ask = |packet: &[u8]| answer(packet, from(1), &shared, &ids, now);
    assert_eq!(ask(&[0; 15]), None, "no transaction id to answer");
    let message = |reply: Option<Reply>| match reply {
        Some(Reply::Error {
            transaction_id: 9,
            message,
        }) => message,
        other => panic!("{other:?}"),
    };
    assert!(message(ask(&announce_packet(12345, 1, 0))).contains("connection id"));
    let id = ids.issue(from(1).ip(), now);
    let short = &announce_packet(id, 1, 0)[..50];
    assert!(message(ask(short)).contains("shorter than the 98"));
    let mut unknown = announce_packet(id, 1, 0);
    unknown[11] = 7;
    assert!(message(ask(&unknown)).contains("unknown action 7"));
    let mut no_magic = Request::Connect { transaction_id: 9 }.encode();
    no_magic[0] ^= 1;
    assert_ne!(
        u64::from_be_bytes(no_magic[..8].try_into().unwrap()),
        PROTOCOL_ID
    );
    assert!(message(ask(&no_magic)).contains("magic"));
}

//! The UDP client against scripted trackers on 127.0.0.1. The mocks stand in for broken
//! trackers (wrong transaction ids, short packets, silence), which no real program provides;
//! the real opentracker is used in `tests/trackers.rs`.

use super::*;
use crate::tracker::Event;
use crossbeam_channel::{Receiver, unbounded};

fn request() -> AnnounceRequest {
    AnnounceRequest {
        info_hash: [7; 20],
        peer_id: *b"-ST0100-000000000000",
        port: 6881,
        uploaded: 1,
        downloaded: 2,
        left: 3,
        event: Event::Started,
        numwant: 50,
        key: 42,
        tracker_id: None,
        bind: None,
        ipv6: None,
    }
}

fn quick() -> Patience {
    Patience {
        first: Duration::from_millis(100),
        total: Duration::from_millis(700),
    }
}

/// A tracker on 127.0.0.1 that answers each request with whatever `script` returns (zero
/// or more packets). Each parsed request is passed on the returned channel. The thread ends
/// after 3 s without a request.
fn mock(
    mut script: impl FnMut(&Request) -> Vec<Vec<u8>> + Send + 'static,
) -> (String, Receiver<Request>) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let url = format!("udp://{}/announce", socket.local_addr().unwrap());
    socket
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let (seen, seen_rx) = unbounded();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((len, from)) = socket.recv_from(&mut buf) {
            let Ok(request) = Request::parse(&buf[..len]) else {
                continue;
            };
            for packet in script(&request) {
                let _ = socket.send_to(&packet, from);
            }
            let _ = seen.send(request);
        }
    });
    (url, seen_rx)
}

fn transaction(request: &Request) -> u32 {
    match request {
        Request::Connect { transaction_id }
        | Request::Announce { transaction_id, .. }
        | Request::Scrape { transaction_id, .. } => *transaction_id,
    }
}

/// The good answer to any request: connection id 77, one peer, 2 leechers and 3 seeders.
fn good(request: &Request) -> Vec<u8> {
    let transaction_id = transaction(request);
    match request {
        Request::Connect { .. } => Reply::Connect {
            transaction_id,
            connection_id: 77,
        },
        Request::Announce { .. } => Reply::Announce {
            transaction_id,
            interval: 120,
            leechers: 2,
            seeders: 3,
            peers: vec!["127.0.0.9:6881".parse().unwrap()],
        },
        Request::Scrape { .. } => Reply::Scrape {
            transaction_id,
            stats: vec![ScrapeStats {
                seeders: 3,
                completed: 4,
                leechers: 2,
            }],
        },
    }
    .encode()
}

#[test]
fn connects_then_announces_and_reuses_the_connection_id() {
    let (url, seen) = mock(|request| vec![good(request)]);
    let reply = announce_with(&url, &request(), quick()).unwrap();
    assert_eq!(reply.peers, vec!["127.0.0.9:6881".parse().unwrap()]);
    assert_eq!((reply.complete, reply.incomplete), (Some(3), Some(2)));
    assert_eq!(reply.interval, Duration::from_secs(120));
    let next = || seen.recv_timeout(Duration::from_secs(1));
    assert!(matches!(next(), Ok(Request::Connect { .. })));
    match next() {
        Ok(Request::Announce {
            connection_id,
            announce,
            ..
        }) => {
            assert_eq!(connection_id, 77);
            assert_eq!(announce.info_hash, [7; 20]);
            assert_eq!(
                (announce.event, announce.key, announce.port),
                (Event::Started, 42, 6881)
            );
            assert_eq!((announce.numwant, announce.left), (50, 3));
        }
        other => panic!("expected an announce, got {other:?}"),
    }
    // Within 60 s the cached connection id is used: no second connect.
    announce_with(&url, &request(), quick()).unwrap();
    assert!(matches!(next(), Ok(Request::Announce { .. })));
    assert!(seen.try_recv().is_err());
}

#[test]
fn the_error_action_is_shown_with_the_trackers_message() {
    let (url, _seen) = mock(|request| match request {
        Request::Connect { .. } => vec![good(request)],
        _ => vec![
            Reply::Error {
                transaction_id: transaction(request),
                message: "torrent not registered".into(),
            }
            .encode(),
        ],
    });
    let error = announce_with(&url, &request(), quick()).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("tracker {url} refused: torrent not registered")
    );
}

#[test]
fn wrong_transaction_ids_and_short_packets_are_ignored_until_the_right_reply() {
    let (url, _seen) = mock(|request| {
        let mut wrong = good(request);
        wrong[4] ^= 0xff;
        vec![
            wrong,
            vec![0, 0, 0],
            good(request)[..12].to_vec(),
            good(request),
        ]
    });
    let reply = announce_with(&url, &request(), quick()).unwrap();
    assert_eq!(reply.peers.len(), 1);
}

#[test]
fn only_wrong_replies_end_in_a_clear_error() {
    let (url, _seen) = mock(|request| {
        let mut wrong = good(request);
        wrong[4] ^= 0xff;
        vec![wrong]
    });
    let error = announce_with(&url, &request(), quick())
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with(&format!("tracker {url} is unreachable: no reply after")),
        "{error}"
    );
    assert!(
        error.contains("ignored 3 with a wrong transaction id"),
        "{error}"
    );
}

#[test]
fn silence_is_retried_with_back_off_within_the_cap() {
    let (url, seen) = mock(|_| vec![]);
    let started = Instant::now();
    let error = announce_with(&url, &request(), quick())
        .unwrap_err()
        .to_string();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(650) && took < Duration::from_secs(2),
        "{took:?}"
    );
    // Sends at 0, 100 and 300 ms (waits of 100, 200, then the 400 cut to the cap).
    assert!(error.contains("no reply after 3 tries"), "{error}");
    assert_eq!(seen.try_iter().count(), 3);
}

#[test]
fn scrape_over_udp() {
    let (url, _seen) = mock(|request| vec![good(request)]);
    let stats = scrape(&url, &[7; 20], Duration::from_secs(2)).unwrap();
    assert_eq!(
        stats,
        ScrapeStats {
            seeders: 3,
            completed: 4,
            leechers: 2
        }
    );
}

#[test]
fn a_url_without_a_port_is_refused_at_once() {
    for url in ["udp://t.example/announce", "udp://:80", "udp://"] {
        let error = announce_with(url, &request(), quick()).unwrap_err();
        assert!(
            matches!(error, TrackerError::Unsupported { .. }),
            "{url}: {error}"
        );
    }
}

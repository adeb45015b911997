//! Tests for the announcer thread against a mock HTTP tracker on 127.0.0.1.
//!
//! The mock stands in for a real tracker only in these unit tests; tests against a real
//! opentracker are written elsewhere.

use super::*;
use crossbeam_channel::unbounded;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener};

/// Long enough for a local HTTP round trip on a loaded machine, short enough to fail fast.
const PATIENCE: Duration = Duration::from_secs(10);

/// A tracker answering every GET with a compact reply listing 10.0.0.1:6881 (3 seeders, 5
/// leechers); each request line is sent on the returned channel. The accepting thread ends
/// at the first request after the channel is dropped (or with the test process).
fn mock_tracker() -> (String, Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/announce", listener.local_addr().unwrap());
    let (requests, requests_rx) = unbounded();
    let mut body = b"d8:completei3e10:incompletei5e8:intervali1800e5:peers6:".to_vec();
    body.extend_from_slice(&[10, 0, 0, 1, 0x1a, 0xe1, b'e']);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let Ok(clone) = stream.try_clone() else {
                continue;
            };
            let mut reader = BufReader::new(clone);
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            let mut header = String::new();
            while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                header.clear();
            }
            if requests.send(request_line.trim_end().to_owned()).is_err() {
                return;
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    (url, requests_rx)
}

/// A URL where nothing listens: connections are refused at once.
fn dead_tracker() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/announce")
}

fn config(trackers: Vec<Vec<String>>) -> AnnouncerConfig {
    let mut info_hash = [0u8; 20];
    info_hash[..3].copy_from_slice(&[0x12, 0xab, b'z']);
    AnnouncerConfig {
        trackers,
        info_hash,
        peer_id: *b"-ST0001-000000000000",
        port: 6881,
        numwant: 50,
        bind: None,
        ipv6: None,
    }
}

/// A running announcer and the ends of its channels.
struct Harness {
    handle: JoinHandle<()>,
    commands: Sender<Command>,
    peers: Receiver<Vec<SocketAddr>>,
    reports: Receiver<Report>,
    counters: Arc<Counters>,
}

fn start(trackers: Vec<Vec<String>>, rng: Rng) -> Harness {
    let counters = Arc::new(Counters::new(1000));
    let (peers_tx, peers) = unbounded();
    let (reports_tx, reports) = unbounded();
    let (handle, commands) = spawn_with_rng(
        config(trackers),
        rng,
        counters.clone(),
        peers_tx,
        reports_tx,
    )
    .unwrap();
    Harness {
        handle,
        commands,
        peers,
        reports,
        counters,
    }
}

impl Harness {
    fn report(&self) -> Report {
        self.reports.recv_timeout(PATIENCE).expect("no report")
    }

    fn stop(self) {
        self.commands.send(Command::Stop).unwrap();
        self.handle.join().unwrap();
    }
}

fn announced(tracker: &str) -> Report {
    Report::Announced {
        tracker: tracker.to_owned(),
        peers: 1,
        seeders: Some(3),
        leechers: Some(5),
    }
}

fn next_request(requests: &Receiver<String>) -> String {
    requests
        .recv_timeout(PATIENCE)
        .expect("tracker got no request")
}

#[test]
fn announces_started_completed_and_stopped() {
    let (url, requests) = mock_tracker();
    let harness = start(vec![vec![url.clone()]], Rng::new());

    let started = next_request(&requests);
    assert!(
        started.starts_with("GET /announce?info_hash=%12%ABz%00%00"),
        "{started}"
    );
    assert!(
        started.contains("&peer_id=-ST0001-000000000000&port=6881"),
        "{started}"
    );
    assert!(started.contains("&left=1000&"), "{started}");
    assert!(started.contains("&event=started"), "{started}");
    let peers = harness.peers.recv_timeout(PATIENCE).unwrap();
    assert_eq!(
        peers,
        vec![SocketAddr::new(Ipv4Addr::new(10, 0, 0, 1).into(), 6881)]
    );
    assert_eq!(harness.report(), announced(&url));

    harness.counters.sub_left(1000);
    harness.commands.send(Command::Completed).unwrap();
    let completed = next_request(&requests);
    assert!(completed.contains("&left=0&"), "{completed}");
    assert!(completed.contains("&event=completed"), "{completed}");
    assert_eq!(harness.report(), announced(&url));

    // A second `Completed` sends nothing: the next request is the farewell.
    harness.commands.send(Command::Completed).unwrap();
    harness.stop();
    let stopped = next_request(&requests);
    assert!(stopped.contains("&event=stopped"), "{stopped}");
    assert!(requests.try_recv().is_err(), "one request too many");
}

/// Regression: the main thread sends `Completed` and `Stop` back to back when a download
/// ends, and `completed` used to be lost (Stop was seen before the completed announce).
#[test]
fn completed_then_stop_at_once_sends_both() {
    let (url, requests) = mock_tracker();
    let harness = start(vec![vec![url]], Rng::new());
    assert!(next_request(&requests).contains("&event=started"));
    harness.report();
    harness.counters.sub_left(1000);
    harness.commands.send(Command::Completed).unwrap();
    harness.stop();
    assert!(next_request(&requests).contains("&event=completed"));
    assert!(next_request(&requests).contains("&event=stopped"));
    assert!(requests.try_recv().is_err());
}

#[test]
fn need_peers_waits_for_the_min_interval() {
    let (url, requests) = mock_tracker();
    let harness = start(vec![vec![url]], Rng::new());
    next_request(&requests);
    harness
        .commands
        .send(Command::NeedPeers { connected: 0 })
        .unwrap();
    // The next announce may not come before 60 s (the early floor).
    assert!(requests.recv_timeout(Duration::from_millis(500)).is_err());
    harness.stop();
    assert!(next_request(&requests).contains("&event=stopped"));
}

#[test]
fn a_dead_tracker_falls_back_to_the_next_in_its_tier() {
    let (live, requests) = mock_tracker();
    let dead = dead_tracker();
    let tier = vec![dead.clone(), live.clone()];
    // Find a seed whose shuffle puts the dead tracker first.
    let seed = (0..)
        .find(|&seed| {
            let tiers = TrackerTiers::new(vec![tier.clone()], &mut Rng::with_seed(seed));
            tiers.tiers()[0][0] == dead
        })
        .unwrap();
    let harness = start(vec![tier], Rng::with_seed(seed));
    match harness.report() {
        Report::Failed { tracker, error } => {
            assert_eq!(tracker, dead);
            assert!(error.contains("unreachable"), "{error}");
            assert!(
                !error.contains("info_hash"),
                "the query string is noise: {error}"
            );
        }
        other => panic!("expected a failure first, got {other:?}"),
    }
    assert_eq!(harness.report(), announced(&live));
    assert!(next_request(&requests).contains("&event=started"));
    harness.stop();
    assert!(next_request(&requests).contains("&event=stopped"));
}

#[test]
fn all_failed_is_reported_when_every_tier_is_dead() {
    let (first, second) = (dead_tracker(), dead_tracker());
    let harness = start(vec![vec![first.clone()], vec![second.clone()]], Rng::new());
    let failed = |report: Report| match report {
        Report::Failed { tracker, .. } => tracker,
        other => panic!("expected a failure, got {other:?}"),
    };
    assert_eq!(failed(harness.report()), first);
    assert_eq!(failed(harness.report()), second);
    match harness.report() {
        Report::AllFailed { last_error } => assert!(last_error.contains(&second), "{last_error}"),
        other => panic!("expected AllFailed, got {other:?}"),
    }
    assert!(harness.peers.try_recv().is_err());
    harness.stop();
}

#[test]
fn no_trackers_waits_for_stop_or_a_dropped_sender() {
    let harness = start(vec![], Rng::new());
    assert!(
        harness
            .reports
            .recv_timeout(Duration::from_millis(100))
            .is_err()
    );
    harness.stop();

    let harness = start(vec![vec![" ".into()]], Rng::new());
    drop(harness.commands);
    harness.handle.join().unwrap();
}

/// A UDP tracker answering connect and announce with 10.0.0.2:6881 (1 seeder, 0 leechers);
/// each announce's event is sent on the returned channel. Ends 5 s after the last packet.
fn mock_udp_tracker() -> (String, Receiver<Event>) {
    use crate::tracker::udp::{Reply, Request};
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let url = format!("udp://{}/announce", socket.local_addr().unwrap());
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let (events, events_rx) = unbounded();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((len, from)) = socket.recv_from(&mut buf) {
            let reply = match Request::parse(&buf[..len]) {
                Ok(Request::Connect { transaction_id }) => Reply::Connect {
                    transaction_id,
                    connection_id: 5,
                },
                Ok(Request::Announce {
                    transaction_id,
                    announce,
                    ..
                }) => {
                    let _ = events.send(announce.event);
                    Reply::Announce {
                        transaction_id,
                        interval: 1800,
                        leechers: 0,
                        seeders: 1,
                        peers: vec!["10.0.0.2:6881".parse().unwrap()],
                    }
                }
                _ => continue,
            };
            let _ = socket.send_to(&reply.encode(), from);
        }
    });
    (url, events_rx)
}

#[test]
fn every_tier_is_announced_to_http_and_udp_alike() {
    let (http, requests) = mock_tracker();
    let (udp, udp_events) = mock_udp_tracker();
    let harness = start(vec![vec![http.clone()], vec![udp.clone()]], Rng::new());
    assert!(next_request(&requests).contains("&event=started"));
    assert_eq!(udp_events.recv_timeout(PATIENCE), Ok(Event::Started));
    let mut reports = vec![harness.report(), harness.report()];
    reports.sort_by_key(|r| format!("{r:?}"));
    assert_eq!(
        reports,
        vec![
            announced(&http),
            Report::Announced {
                tracker: udp,
                peers: 1,
                seeders: Some(1),
                leechers: Some(0),
            },
        ]
    );
    let mut peers: Vec<_> = harness.peers.try_iter().flatten().collect();
    peers.sort();
    assert_eq!(peers.len(), 2);

    // `completed` goes to both tiers, once; `stopped` to both on exit.
    harness.counters.sub_left(1000);
    harness.commands.send(Command::Completed).unwrap();
    assert!(next_request(&requests).contains("&event=completed"));
    assert_eq!(udp_events.recv_timeout(PATIENCE), Ok(Event::Completed));
    harness.stop();
    assert!(next_request(&requests).contains("&event=stopped"));
    assert_eq!(udp_events.recv_timeout(PATIENCE), Ok(Event::Stopped));
    assert!(requests.try_recv().is_err());
    assert!(udp_events.try_recv().is_err());
}

#[test]
fn a_failing_tier_does_not_stop_the_others() {
    let dead = dead_tracker();
    let (live, requests) = mock_tracker();
    let harness = start(vec![vec![dead.clone()], vec![live.clone()]], Rng::new());
    assert!(matches!(harness.report(), Report::Failed { tracker, .. } if tracker == dead));
    assert_eq!(harness.report(), announced(&live));
    assert!(next_request(&requests).contains("&event=started"));
    // Not every tier failed: no AllFailed.
    assert!(
        harness
            .reports
            .recv_timeout(Duration::from_millis(200))
            .is_err()
    );
    harness.stop();
    assert!(next_request(&requests).contains("&event=stopped"));
}

/// A tracker that accepts a connection, says nothing for `hold`, then hangs up.
fn silent_tracker(hold: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/announce", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        if let Ok((stream, _)) = listener.accept() {
            std::thread::sleep(hold);
            drop(stream);
        }
    });
    url
}

#[test]
fn stop_during_a_round_skips_the_remaining_trackers() {
    let (live, requests) = mock_tracker();
    let slow = silent_tracker(Duration::from_millis(500));
    let harness = start(vec![vec![slow.clone()], vec![live]], Rng::new());
    std::thread::sleep(Duration::from_millis(100));
    harness.commands.send(Command::Stop).unwrap();
    harness.handle.join().unwrap();
    let failed = harness.reports.try_recv().unwrap();
    assert!(matches!(failed, Report::Failed { tracker, .. } if tracker == slow));
    assert!(harness.reports.try_recv().is_err());
    assert!(
        requests.try_recv().is_err(),
        "the second tier was still tried"
    );
}

mod early;

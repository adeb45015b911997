//! The tracker server on loopback: real sockets, HTTP and UDP, one store.

use super::*;
use crate::tracker::udp::{Announce as UdpAnnounce, Reply, Request};
use crate::tracker::{AnnounceRequest, Event, http, udp_client};
use std::io::{Read, Write};
use std::net::TcpStream;

fn start(limits: Limits) -> Server {
    Server::start(Config {
        http: Some("127.0.0.1:0".parse().unwrap()),
        udp: Some("127.0.0.1:0".parse().unwrap()),
        interval: Duration::from_secs(60),
        limits,
        allow: None,
    })
    .unwrap()
}

fn request(peer: u32, left: u64, event: Event) -> AnnounceRequest {
    let mut peer_id = *b"-ST0100-000000000000";
    peer_id[16..].copy_from_slice(&peer.to_be_bytes());
    AnnounceRequest {
        info_hash: [3; 20],
        peer_id,
        port: 1000 + (peer % 60_000) as u16,
        uploaded: 0,
        downloaded: 0,
        left,
        event,
        numwant: 50,
        key: 1,
        tracker_id: None,
        bind: None,
        ipv6: None,
    }
}

/// Sends a raw request and returns the whole reply.
fn raw_http(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(request).unwrap();
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    String::from_utf8_lossy(&reply).into_owned()
}

#[test]
fn our_client_announces_over_http_and_udp_to_one_store() {
    let server = start(Limits::default());
    let http_url = format!("http://{}/announce", server.http_addr().unwrap());
    let udp_url = format!("udp://{}/announce", server.udp_addr().unwrap());
    let timeout = Duration::from_secs(5);
    let seeder = http::announce(&http_url, &request(1, 0, Event::Started), timeout).unwrap();
    assert!(seeder.peers.is_empty());
    let leecher = udp_client::announce(&udp_url, &request(2, 9, Event::Started), timeout).unwrap();
    assert_eq!(leecher.peers, vec!["127.0.0.1:1001".parse().unwrap()]);
    assert_eq!((leecher.complete, leecher.incomplete), (Some(1), Some(1)));
    let stats = crate::tracker::scrape(&http_url, &[3; 20], timeout).unwrap();
    assert_eq!((stats.seeders, stats.leechers), (1, 1));
    let stats = crate::tracker::scrape(&udp_url, &[3; 20], timeout).unwrap();
    assert_eq!((stats.seeders, stats.leechers), (1, 1));
    http::announce(&http_url, &request(2, 9, Event::Stopped), timeout).unwrap();
    assert_eq!(server.sweep().1.leechers, 0);
    server.shutdown();
}

#[test]
fn malformed_http_gets_a_failure_reply_and_the_server_goes_on() {
    let server = start(Limits::default());
    let addr = server.http_addr().unwrap();
    let long_head = vec![b'A'; 20_000];
    let cases: [(&[u8], &str); 6] = [
        (b"GET /announce?info_hash=x HTTP/1.1\r\n\r\n", "200 OK"),
        (b"GET /nothing HTTP/1.1\r\n\r\n", "404 Not Found"),
        (b"PUT /announce HTTP/1.1\r\n\r\n", "only GET is served"),
        (b"\x00\x01\x02\r\n\r\n", "malformed HTTP request"),
        (&long_head, "request head too long"),
        (
            b"GET /scrape HTTP/1.1\r\n\r\n",
            "full scrapes are not offered",
        ),
    ];
    for (request, expected) in cases {
        let reply = raw_http(addr, request);
        assert!(reply.contains(expected), "{expected}: {reply}");
        if expected.contains(' ') || expected == "200 OK" {
            assert!(reply.contains("failure reason"), "{reply}");
        }
    }
    // Clients that connect and say nothing, or hang up, do not hold up the others.
    let _silent: Vec<TcpStream> = (0..10).map(|_| TcpStream::connect(addr).unwrap()).collect();
    drop(TcpStream::connect(addr).unwrap());
    let url = format!("http://{addr}/announce");
    let started = Instant::now();
    http::announce(&url, &request(1, 0, Event::Started), Duration::from_secs(5)).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    server.shutdown();
}

/// 10,000 announces from 1,000 distinct peers (UDP, raw and fast), then the store holds
/// exactly those 1,000, each UDP reply is whole, and the peer cap holds under pressure.
#[test]
fn ten_thousand_announces_from_a_thousand_peers() {
    let server = start(Limits {
        swarms: 10,
        peers_per_swarm: 600,
        peers_total: 1_000,
    });
    let tracker = server.udp_addr().unwrap();
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let mut exchange = |request: Request| {
        socket.send_to(&request.encode(), tracker).unwrap();
        let (len, _) = socket.recv_from(&mut buf).unwrap();
        Reply::parse(&buf[..len], false).unwrap()
    };
    let Reply::Connect { connection_id, .. } = exchange(Request::Connect { transaction_id: 1 })
    else {
        panic!("no connection id");
    };
    let mut answered = 0;
    for n in 0..10_000u32 {
        let peer = n % 1_000;
        let mut peer_id = [0u8; 20];
        peer_id[..4].copy_from_slice(&peer.to_be_bytes());
        let announce = UdpAnnounce {
            // Two swarms of 500 peers, each under the per-swarm cap.
            info_hash: [(peer % 2) as u8; 20],
            peer_id,
            downloaded: 0,
            left: u64::from(peer % 3),
            uploaded: 0,
            event: if n < 1_000 {
                Event::Started
            } else {
                Event::None
            },
            ip: 0,
            key: 0,
            numwant: 50,
            port: 1 + peer as u16,
        };
        match exchange(Request::Announce {
            connection_id,
            transaction_id: n,
            announce,
        }) {
            Reply::Announce {
                transaction_id,
                peers,
                ..
            } => {
                assert_eq!(transaction_id, n);
                assert!(peers.len() <= 50);
                answered += 1;
            }
            other => panic!("announce {n}: {other:?}"),
        }
    }
    assert_eq!(answered, 10_000);
    let (_, summary) = server.sweep();
    assert_eq!(summary.swarms, 2);
    assert_eq!(summary.seeders + summary.leechers, 1_000);
    // Full: a 1,001st peer is refused with a reason, not stored.
    let Reply::Error { message, .. } = exchange(Request::Announce {
        connection_id,
        transaction_id: 1,
        announce: UdpAnnounce {
            info_hash: [0; 20],
            peer_id: [0xff; 20],
            downloaded: 0,
            left: 1,
            uploaded: 0,
            event: Event::Started,
            ip: 0,
            key: 0,
            numwant: 50,
            port: 9,
        },
    }) else {
        panic!("a full tracker took another peer");
    };
    assert!(message.contains("full"), "{message}");
    assert_eq!(server.sweep().1.seeders + server.sweep().1.leechers, 1_000);
    server.shutdown();
}

//! Tests for announce URLs and reply parsing (pure: no network).

use super::http::{
    DEFAULT_INTERVAL, MAX_INTERVAL, MIN_INTERVAL, build_announce_url, parse_announce_body,
};
use super::*;
use crate::random::Rng;
use std::net::{Ipv4Addr, Ipv6Addr};

fn request(event: Event) -> AnnounceRequest {
    let mut info_hash = [0u8; 20];
    info_hash[0] = 0x12;
    info_hash[1] = 0xab;
    info_hash[2] = b'a';
    info_hash[3] = b' ';
    info_hash[4] = b'~';
    AnnounceRequest {
        info_hash,
        peer_id: *b"-ST0001-abcdefghij.Z",
        port: 6881,
        uploaded: 10,
        downloaded: 20,
        left: 30,
        event,
        numwant: 50,
        key: 0xdead_beef,
        tracker_id: None,
        bind: None,
        ipv6: None,
    }
}

const ZEROS: &str = "%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00";

#[test]
fn announce_url_encodes_every_byte() {
    let url = build_announce_url("http://t.example/announce", &request(Event::Started));
    let expected = format!(
        "http://t.example/announce?info_hash=%12%ABa%20~{ZEROS}\
         &peer_id=-ST0001-abcdefghij.Z&port=6881&uploaded=10&downloaded=20&left=30\
         &compact=1&no_peer_id=1&numwant=50&key=deadbeef&event=started"
    );
    assert_eq!(url, expected);
}

#[test]
fn announce_url_tells_our_global_ipv6_address_when_we_have_one() {
    let url = build_announce_url("http://t.example/announce", &request(Event::None));
    assert!(!url.contains("ipv6="), "{url}");
    let req = AnnounceRequest {
        ipv6: Some(Ipv6Addr::new(0x2a01, 0x4f8, 0, 0, 0, 0, 0, 1)),
        ..request(Event::None)
    };
    let url = build_announce_url("http://t.example/announce", &req);
    assert!(url.ends_with("&ipv6=2a01:4f8::1"), "{url}");
}

#[test]
fn announce_url_keeps_the_query_string_and_sends_the_tracker_id() {
    let mut req = request(Event::None);
    req.tracker_id = Some("id 1&2".into());
    let url = build_announce_url("https://t.example/a?passkey=xyz", &req);
    assert!(
        url.starts_with("https://t.example/a?passkey=xyz&info_hash=%12"),
        "{url}"
    );
    assert!(
        !url.contains("event="),
        "no event for a regular announce: {url}"
    );
    assert!(url.ends_with("&key=deadbeef&trackerid=id%201%262"), "{url}");
    let url = build_announce_url("http://t/a?", &req);
    assert!(url.starts_with("http://t/a?info_hash="), "{url}");
    let url = build_announce_url("http://t/a", &request(Event::Stopped));
    assert!(url.ends_with("&event=stopped"), "{url}");
    let url = build_announce_url("http://t/a", &request(Event::Completed));
    assert!(url.ends_with("&event=completed"), "{url}");
}

/// `d...e` from already-encoded key/value pairs.
fn dict(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = b"d".to_vec();
    for (key, value) in entries {
        out.extend_from_slice(format!("{}:{key}", key.len()).as_bytes());
        out.extend_from_slice(value);
    }
    out.push(b'e');
    out
}

fn string(bytes: &[u8]) -> Vec<u8> {
    let mut out = format!("{}:", bytes.len()).into_bytes();
    out.extend_from_slice(bytes);
    out
}

fn int(n: i64) -> Vec<u8> {
    format!("i{n}e").into_bytes()
}

fn v4(a: u8, b: u8, c: u8, d: u8, port: u16) -> SocketAddr {
    SocketAddr::new(Ipv4Addr::new(a, b, c, d).into(), port)
}

#[test]
fn compact_reply() {
    let body = dict(&[
        ("complete", int(4)),
        ("incomplete", int(7)),
        ("interval", int(900)),
        ("min interval", int(60)),
        (
            "peers",
            string(&[10, 0, 0, 1, 0x1a, 0xe1, 192, 168, 1, 2, 0, 80]),
        ),
        ("tracker id", string(b"abc")),
    ]);
    let reply = parse_announce_body(&body).unwrap();
    assert_eq!(
        reply,
        AnnounceResponse {
            interval: Duration::from_secs(900),
            min_interval: Some(Duration::from_secs(60)),
            tracker_id: Some("abc".into()),
            complete: Some(4),
            incomplete: Some(7),
            peers: vec![v4(10, 0, 0, 1, 6881), v4(192, 168, 1, 2, 80)],
            warning: None,
        }
    );
}

#[test]
fn dictionary_peers_skip_bad_entries() {
    let good = dict(&[
        ("ip", string(b"10.1.2.3")),
        ("peer id", string(&[7; 20])),
        ("port", int(51413)),
    ]);
    let good6 = dict(&[("ip", string(b"::1")), ("port", int(6881))]);
    let name = dict(&[("ip", string(b"peer.example")), ("port", int(1))]);
    let big_port = dict(&[("ip", string(b"10.0.0.1")), ("port", int(70000))]);
    let zero_port = dict(&[("ip", string(b"10.0.0.1")), ("port", int(0))]);
    let no_port = dict(&[("ip", string(b"10.0.0.1"))]);
    let mut list = b"l".to_vec();
    for entry in [good, name, big_port, zero_port, no_port, int(5), good6] {
        list.extend_from_slice(&entry);
    }
    list.push(b'e');
    let reply = parse_announce_body(&dict(&[("interval", int(1800)), ("peers", list)])).unwrap();
    let expected = vec![
        v4(10, 1, 2, 3, 51413),
        SocketAddr::new(Ipv6Addr::LOCALHOST.into(), 6881),
    ];
    assert_eq!(reply.peers, expected);
}

#[test]
fn peers6_are_added_after_ipv4_peers() {
    let mut entry = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)
        .octets()
        .to_vec();
    entry.extend_from_slice(&[0x1a, 0xe1]);
    let body = dict(&[
        ("peers", string(&[1, 2, 3, 4, 0, 1])),
        ("peers6", string(&entry)),
    ]);
    let reply = parse_announce_body(&body).unwrap();
    let v6 = SocketAddr::new(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).into(), 6881);
    assert_eq!(reply.peers, vec![v4(1, 2, 3, 4, 1), v6]);
}

#[test]
fn truncated_compact_lists_keep_their_whole_entries() {
    let body = dict(&[("peers", string(&[1, 2, 3, 4, 0, 9, 5, 6, 7]))]);
    assert_eq!(
        parse_announce_body(&body).unwrap().peers,
        vec![v4(1, 2, 3, 4, 9)]
    );
    let body = dict(&[("peers6", string(&[1; 17]))]);
    assert_eq!(parse_announce_body(&body).unwrap().peers, vec![]);
}

#[test]
fn failure_reason_is_an_error_naming_the_tracker() {
    let body = dict(&[("failure reason", string(b"unregistered torrent"))]);
    let err = parse_announce_body(&body).unwrap_err();
    assert_eq!(
        err,
        TrackerError::Failure {
            url: String::new(),
            reason: "unregistered torrent".into()
        }
    );
    assert_eq!(
        err.at("http://x/announce").to_string(),
        "tracker http://x/announce refused: unregistered torrent"
    );
}

#[test]
fn warning_message_is_kept() {
    let body = dict(&[
        ("peers", string(b"")),
        ("warning message", string(b"slow down")),
    ]);
    assert_eq!(
        parse_announce_body(&body).unwrap().warning.as_deref(),
        Some("slow down")
    );
}

#[test]
fn intervals_default_and_clamp() {
    let reply = parse_announce_body(&dict(&[("peers", string(b""))])).unwrap();
    assert_eq!(reply.interval, DEFAULT_INTERVAL);
    assert_eq!(reply.min_interval, None);
    let reply =
        parse_announce_body(&dict(&[("interval", int(0)), ("min interval", int(-5))])).unwrap();
    assert_eq!(reply.interval, MIN_INTERVAL);
    assert_eq!(reply.min_interval, None);
    let reply = parse_announce_body(&dict(&[
        ("interval", int(1 << 40)),
        ("min interval", int(1 << 41)),
    ]))
    .unwrap();
    assert_eq!(reply.interval, MAX_INTERVAL);
    assert_eq!(
        reply.min_interval,
        Some(MAX_INTERVAL),
        "capped at the interval"
    );
}

#[test]
fn garbage_bodies_are_clear_errors() {
    let html = parse_announce_body(b"<html>502 Bad Gateway</html>").unwrap_err();
    assert!(matches!(html, TrackerError::BadReply { .. }));
    assert!(
        html.to_string()
            .starts_with("tracker sent an invalid reply: not a bencoded reply"),
        "{html}"
    );
    assert!(matches!(
        parse_announce_body(b""),
        Err(TrackerError::BadReply { .. })
    ));
    assert!(matches!(
        parse_announce_body(b"li1ee"),
        Err(TrackerError::BadReply { .. })
    ));
    let bad_peers = dict(&[("peers", int(3))]);
    assert!(matches!(
        parse_announce_body(&bad_peers),
        Err(TrackerError::BadReply { .. })
    ));
}

#[test]
fn error_messages_name_the_tracker() {
    let url = "http://x/announce".to_owned();
    let status = TrackerError::HttpStatus {
        url: url.clone(),
        status: 404,
    };
    assert_eq!(
        status.to_string(),
        "tracker http://x/announce answered HTTP 404"
    );
    let udp = announce(
        "udp://t.example/announce",
        &request(Event::None),
        Duration::from_secs(1),
    );
    assert!(
        matches!(&udp, Err(TrackerError::Unsupported { url, .. }) if url == "udp://t.example/announce"),
        "{udp:?}"
    );
    let ftp = announce(
        "ftp://t.example/",
        &request(Event::None),
        Duration::from_secs(1),
    );
    assert!(matches!(ftp, Err(TrackerError::Unsupported { .. })));
}

/// 100,000 random and mutated replies: errors are fine, panics are not.
#[test]
fn random_bodies_never_panic() {
    let mut rng = Rng::with_seed(42);
    let mut v6 = [0u8; 37];
    rng.fill(&mut v6);
    let seeds = [
        dict(&[
            ("interval", int(900)),
            ("peers", string(&[1, 2, 3, 4, 5, 6])),
        ]),
        dict(&[
            ("peers", b"ld2:ip3:::12:porti80eee".to_vec()),
            ("peers6", string(&v6)),
        ]),
        dict(&[("failure reason", string(b"no")), ("min interval", int(-1))]),
    ];
    for round in 0..100_000 {
        let body = if round % 4 == 0 {
            let mut b = vec![0u8; rng.below(48)];
            rng.fill(&mut b);
            b
        } else {
            let mut b = seeds[rng.below(seeds.len())].clone();
            for _ in 0..=rng.below(4) {
                let at = rng.below(b.len());
                match rng.below(3) {
                    0 => b[at] = rng.next_u64() as u8,
                    1 => b[at] = b"ield:0123456789-"[rng.below(16)],
                    _ => {
                        b.remove(at);
                    }
                }
                if b.is_empty() {
                    break;
                }
            }
            b
        };
        let _ = parse_announce_body(&body);
    }
}

/// Serves one canned HTTP response on 127.0.0.1 (a stand-in for a tracker in this test
/// only) and returns the tracker URL.
fn one_shot_server(response: Vec<u8>) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/announce", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        let Ok(clone) = stream.try_clone() else {
            return;
        };
        let mut reader = BufReader::new(clone);
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
            line.clear();
        }
        let _ = stream.write_all(&response);
    });
    url
}

fn http_response(status: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

#[test]
fn http_errors_name_the_tracker() {
    let timeout = Duration::from_secs(10);
    let req = request(Event::Started);

    let url = one_shot_server(http_response("404 Not Found", b"nope"));
    let err = announce(&url, &req, timeout).unwrap_err();
    assert_eq!(err.to_string(), format!("tracker {url} answered HTTP 404"));

    let url = one_shot_server(http_response("200 OK", b"d14:failure reason7:go awaye"));
    let err = announce(&url, &req, timeout).unwrap_err();
    assert_eq!(err.to_string(), format!("tracker {url} refused: go away"));

    let url = one_shot_server(http_response("200 OK", b"<html>"));
    let err = announce(&url, &req, timeout).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("tracker {url} sent an invalid reply")),
        "{err}"
    );

    let url = one_shot_server(http_response("200 OK", b"d8:intervali60e5:peers0:e"));
    let reply = announce(&url, &req, timeout).unwrap();
    assert_eq!(reply.interval, Duration::from_secs(60));
}

//! Request lines, query strings, announce/scrape parameters and replies, byte for byte.

use super::*;
use std::net::Ipv4Addr;

const SOURCE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const HASH: &str = "%12%AB%20~aaaaaaaaaaaaaaaa";
const ID: &str = "-ST0100-000000000000";

fn query(extra: &str) -> String {
    format!("info_hash={HASH}&peer_id={ID}&port=6881&uploaded=0&downloaded=0&left=10{extra}")
}

#[test]
fn routes() {
    let cases: &[(&[u8], Result<Route, BadRequest>)] = &[
        (
            b"GET /announce?a=1 HTTP/1.1\r\nHost: x",
            Ok(Route::Announce("a=1")),
        ),
        (b"GET /announce HTTP/1.0", Ok(Route::Announce(""))),
        (
            b"GET /scrape?info_hash=x HTTP/1.1",
            Ok(Route::Scrape("info_hash=x")),
        ),
        (b"GET / HTTP/1.1", Ok(Route::NotFound)),
        (b"GET /announce.php HTTP/1.1", Ok(Route::NotFound)),
        (b"POST /announce HTTP/1.1", Err(BadRequest::NotGet)),
        (b"GET /announce", Err(BadRequest::Malformed)),
        (b"GET /announce HTTP/2 x", Err(BadRequest::Malformed)),
        (b"GET announce HTTP/1.1", Err(BadRequest::Malformed)),
        (b"GET /announce SSH-2.0", Err(BadRequest::Malformed)),
        (b"\xff\xfe", Err(BadRequest::Malformed)),
        (b"", Err(BadRequest::Malformed)),
    ];
    for (head, expected) in cases {
        assert_eq!(
            &route(head),
            expected,
            "{:?}",
            String::from_utf8_lossy(head)
        );
    }
}

#[test]
fn query_strings_are_percent_decoded() {
    assert_eq!(
        parse_query("a=%41%62+c&flag&&e=").unwrap(),
        vec![
            ("a".into(), b"Ab c".to_vec()),
            ("flag".into(), vec![]),
            ("e".into(), vec![])
        ]
    );
    for bad in ["a=%4", "a=%zz", "a=%", "%g1=1", "a=%+1", "a=%-1"] {
        assert_eq!(parse_query(bad), Err(BadRequest::BadEscape), "{bad}");
    }
    let many = vec!["a=1"; MAX_PARAMS + 1].join("&");
    assert_eq!(parse_query(&many), Err(BadRequest::TooManyParams));
}

#[test]
fn an_announce_is_read_from_the_query() {
    let (a, form) = announce(&query("&event=started&numwant=5&compact=1"), SOURCE).unwrap();
    let mut hash = [b'a'; 20];
    hash[..4].copy_from_slice(&[0x12, 0xab, b' ', b'~']);
    assert_eq!(a.info_hash, hash);
    assert_eq!(&a.peer_id, ID.as_bytes());
    assert_eq!(a.addr, "127.0.0.2:6881".parse().unwrap());
    assert_eq!((a.event, a.left, a.numwant), (Event::Started, 10, Some(5)));
    assert_eq!(form, PeerForm::Compact);

    let (a, form) = announce(&query("&compact=0&ip=10.9.9.9&event=paused"), SOURCE).unwrap();
    assert_eq!(a.addr.ip(), SOURCE, "the ip parameter is ignored");
    assert_eq!(a.event, Event::None);
    assert_eq!(form, PeerForm::Dictionary { peer_ids: true });
    let (_, form) = announce(&query("&compact=0&no_peer_id=1"), SOURCE).unwrap();
    assert_eq!(form, PeerForm::Dictionary { peer_ids: false });
}

#[test]
fn bad_announces_say_what_is_wrong() {
    let cases = [
        (format!("peer_id={ID}&port=1&left=0"), "missing info_hash"),
        (
            format!("info_hash=abc&peer_id={ID}&port=1&left=0"),
            "invalid info_hash",
        ),
        (format!("info_hash={HASH}&port=1&left=0"), "missing peer_id"),
        (
            format!("info_hash={HASH}&peer_id={ID}&left=0"),
            "missing port",
        ),
        (
            format!("info_hash={HASH}&peer_id={ID}&port=0&left=0"),
            "invalid port",
        ),
        (
            format!("info_hash={HASH}&peer_id={ID}&port=65536&left=0"),
            "invalid port",
        ),
        (
            format!("info_hash={HASH}&peer_id={ID}&port=1"),
            "missing left",
        ),
        (
            format!("info_hash={HASH}&peer_id={ID}&port=1&left=-1"),
            "invalid left",
        ),
        (query("&numwant=lots"), "invalid numwant"),
        (query("&x=%"), "bad percent-encoding in the query string"),
    ];
    for (query, expected) in cases {
        let error = announce(&query, SOURCE).unwrap_err().to_string();
        assert_eq!(error, expected, "{query}");
    }
}

#[test]
fn scrapes_list_info_hashes() {
    let one = format!("info_hash={HASH}");
    assert_eq!(scrape(&one).unwrap().len(), 1);
    let two = format!("info_hash={HASH}&info_hash={}", "b".repeat(20));
    assert_eq!(scrape(&two).unwrap()[1], [b'b'; 20]);
    assert!(scrape("").unwrap_err().to_string().contains("full scrapes"));
    assert_eq!(scrape("info_hash=x"), Err(BadRequest::Invalid("info_hash")));
    let many = vec![one; MAX_SCRAPE + 1].join("&");
    assert_eq!(scrape(&many), Err(BadRequest::TooManyParams));
}

fn answer() -> Answer {
    Answer {
        peers: vec![
            ("10.0.0.1:6881".parse().unwrap(), *b"-AA0000-000000000001"),
            ("[::1]:80".parse().unwrap(), *b"-BB0000-000000000002"),
        ],
        seeders: 1,
        leechers: 2,
    }
}

#[test]
fn compact_reply_bytes() {
    let body = announce_reply(&answer(), PeerForm::Compact, Duration::from_secs(60));
    let mut expected =
        b"d8:completei1e10:incompletei2e8:intervali60e12:min intervali30e5:peers6:".to_vec();
    expected.extend_from_slice(&[10, 0, 0, 1, 0x1a, 0xe1]);
    expected.extend_from_slice(b"6:peers618:");
    expected.extend_from_slice(&[0; 15]);
    expected.extend_from_slice(&[1, 0, 80, b'e']);
    assert_eq!(body, expected);
    // What our own client makes of it.
    let parsed = crate::tracker::http::parse_announce_body(&body).unwrap();
    assert_eq!(parsed.peers, vec![answer().peers[0].0, answer().peers[1].0]);
}

#[test]
fn dictionary_reply_bytes() {
    let body = announce_reply(
        &answer(),
        PeerForm::Dictionary { peer_ids: true },
        Duration::from_secs(60),
    );
    let text = String::from_utf8(body.clone()).unwrap();
    assert!(text.ends_with(
        "5:peersld2:ip8:10.0.0.17:peer id20:-AA0000-0000000000014:porti6881eed2:ip3:::17:peer id20:-BB0000-0000000000024:porti80eeee"
    ), "{text}");
    let parsed = crate::tracker::http::parse_announce_body(&body).unwrap();
    assert_eq!(parsed.peers.len(), 2);
    let without = announce_reply(
        &answer(),
        PeerForm::Dictionary { peer_ids: false },
        Duration::from_secs(60),
    );
    assert!(!String::from_utf8_lossy(&without).contains("peer id"));
}

#[test]
fn scrape_and_failure_bytes() {
    let stats = ScrapeStats {
        seeders: 1,
        completed: 2,
        leechers: 3,
    };
    let body = scrape_reply(&[([b'h'; 20], stats)]);
    assert_eq!(
        body,
        b"d5:filesd20:hhhhhhhhhhhhhhhhhhhhd8:completei1e10:downloadedi2e10:incompletei3eeee"
    );
    assert_eq!(
        crate::tracker::scrape::parse_scrape_body(&body, &[b'h'; 20]).unwrap(),
        stats
    );
    assert_eq!(failure("no"), b"d14:failure reason2:noe");
}

/// 100,000 random and mutated requests through every parser: errors are fine, panics are not.
#[test]
fn random_requests_never_panic() {
    let mut rng = crate::random::Rng::with_seed(3);
    let valid = format!(
        "GET /announce?{} HTTP/1.1\r\nHost: t\r\n",
        query("&event=started")
    );
    let alphabet = b"%&=+?/ GETHP1.0123456789abcdefABCDEF\r\n\xff";
    let mut accepted = 0;
    for round in 0..100_000 {
        let mut head = valid.clone().into_bytes();
        for _ in 0..1 + rng.below(6) {
            let at = rng.below(head.len());
            head[at] = if round % 2 == 0 {
                alphabet[rng.below(alphabet.len())]
            } else {
                rng.next_u64() as u8
            };
        }
        head.truncate(rng.below(head.len() + 1).max(head.len() / 2));
        if let Ok(Route::Announce(query) | Route::Scrape(query)) = route(&head) {
            accepted += usize::from(announce(query, SOURCE).is_ok());
            let _ = scrape(query);
        }
    }
    assert!(accepted > 1_000, "only {accepted} mutated announces parsed");
}

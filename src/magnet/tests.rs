use super::coding::{BadEscape, base32_20, hex_20, percent_decode};
use super::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An info-hash, in the two spellings a link may use (base32 by Python's
/// `base64.b32encode`).
const HEX: &str = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";
const BASE32: &str = "YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK";
const HASH: [u8; 20] = [
    0xc1, 0x2f, 0xe1, 0xc0, 0x6b, 0xba, 0x25, 0x4a, 0x9d, 0xc9, //
    0xf5, 0x19, 0xb3, 0x35, 0xaa, 0x7c, 0x13, 0x67, 0xa8, 0x8a,
];

fn parse(uri: &str) -> Magnet {
    Magnet::parse(uri).unwrap_or_else(|error| panic!("{uri}: {error}"))
}

fn error(uri: &str) -> String {
    match Magnet::parse(uri) {
        Ok(magnet) => panic!("{uri} parsed: {magnet:?}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn a_bare_link_is_just_the_info_hash() {
    let magnet = parse(&format!("magnet:?xt=urn:btih:{HEX}"));
    assert_eq!(
        magnet,
        Magnet {
            info_hash: HASH,
            name: None,
            trackers: vec![],
            peers: vec![],
            length: None,
        }
    );
}

#[test]
fn hex_and_base32_in_either_case_give_the_same_hash() {
    for hash in [
        HEX.to_string(),
        HEX.to_uppercase(),
        BASE32.to_string(),
        BASE32.to_lowercase(),
    ] {
        let magnet = parse(&format!("magnet:?xt=urn:btih:{hash}"));
        assert_eq!(magnet.info_hash, HASH, "{hash}");
    }
    // The scheme and the URN's prefix are case-insensitive too, and a pasted link may
    // bring spaces or a newline.
    assert_eq!(parse(&format!("MAGNET:?xt=URN:BTIH:{HEX}")).info_hash, HASH);
    assert_eq!(
        parse(&format!(" magnet:?xt=urn:btih:{HEX}\n")).info_hash,
        HASH
    );
}

#[test]
fn base32_edges_decode_bit_exactly() {
    assert_eq!(base32_20(&"A".repeat(32)), Some([0; 20]));
    assert_eq!(base32_20(&"7".repeat(32)), Some([0xff; 20]));
    // Python: base64.b32encode(bytes([1] + [0] * 19)) and (bytes([0] * 19 + [1])).
    assert_eq!(
        base32_20("AEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").map(|h| h[0]),
        Some(1)
    );
    assert_eq!(
        base32_20("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB").map(|h| h[19]),
        Some(1)
    );
    for bad in ["1", "8", "0", "=", "é"] {
        assert_eq!(
            base32_20(&format!("{}{bad}", "A".repeat(31))),
            None,
            "{bad}"
        );
    }
    assert_eq!(base32_20(&"A".repeat(31)), None);
    assert_eq!(hex_20(HEX), Some(HASH));
    assert_eq!(hex_20(&format!("{}g", &HEX[..39])), None);
    assert_eq!(hex_20(&format!("{}+1", &HEX[..38])), None);
}

#[test]
fn every_known_parameter_is_read() {
    let uri = format!(
        "magnet:?xt=urn:btih:{HEX}&dn=Big+Buck%20Bunny%C3%A9&xl=276134947\
         &tr=udp%3A%2F%2Ftracker.example%3A1337&tr=http://t.example/announce?k=%2541\
         &x.pe=10.0.0.2:6881&x.pe=%5B2001%3Adb8%3A%3A1%5D%3A51413&x.pe=seed.example:6881\
         &ws=http%3A%2F%2Fw.example%2F&kt=a+b&so=0-3&as=%zz&flag&"
    );
    let magnet = parse(&uri);
    assert_eq!(magnet.info_hash, HASH);
    assert_eq!(magnet.name.as_deref(), Some("Big Buck Bunnyé"));
    assert_eq!(magnet.length, Some(276_134_947));
    assert_eq!(
        magnet.trackers,
        [
            "udp://tracker.example:1337",
            "http://t.example/announce?k=%41"
        ]
    );
    assert_eq!(
        magnet.peers,
        ["10.0.0.2:6881", "[2001:db8::1]:51413", "seed.example:6881"]
    );
}

#[test]
fn repeated_trackers_keep_their_order_and_lose_their_repeats() {
    let magnet = parse(&format!(
        "magnet:?xt=urn:btih:{HEX}&tr=http://b/a&tr=udp://a:1&tr=http%3A%2F%2Fb%2Fa&tr=&tr=http://c/a"
    ));
    assert_eq!(magnet.trackers, ["http://b/a", "udp://a:1", "http://c/a"]);
}

#[test]
fn the_first_dn_and_xl_win_and_a_name_may_be_any_bytes() {
    let magnet = parse(&format!(
        "magnet:?dn=&dn=first&xt=urn:btih:{HEX}&dn=second&xl=5&xl=nonsense&dn=%FF"
    ));
    assert_eq!(magnet.name.as_deref(), Some("first"));
    assert_eq!(magnet.length, Some(5));
    let magnet = parse(&format!("magnet:?xt=urn:btih:{HEX}&dn=a%FFb"));
    assert_eq!(magnet.name.as_deref(), Some("a\u{fffd}b"));
}

#[test]
fn a_hybrid_link_uses_its_btih_and_ignores_its_btmh() {
    let btmh = format!("1220{}", "ab".repeat(32));
    for uri in [
        format!("magnet:?xt=urn:btmh:{btmh}&xt=urn:btih:{HEX}&dn=hybrid"),
        format!("magnet:?xt=urn:btih:{HEX}&xt=urn:btmh:{btmh}"),
        format!("magnet:?xt=urn:btih:{HEX}&xt=urn:btih:{BASE32}"),
    ] {
        assert_eq!(parse(&uri).info_hash, HASH, "{uri}");
    }
}

#[test]
fn percent_decoding_follows_the_query_string_rules() {
    assert_eq!(percent_decode("a+b%20c%2Bd%2b"), Ok(b"a b c+d+".to_vec()));
    assert_eq!(
        percent_decode("%00%ff%C3%A9"),
        Ok(vec![0, 0xff, 0xc3, 0xa9])
    );
    assert_eq!(percent_decode(""), Ok(vec![]));
    for (bad, escape) in [("%", "%"), ("a%4", "%4"), ("%G1", "%G1"), ("%+1x", "%+1")] {
        assert_eq!(percent_decode(bad), Err(BadEscape(escape.into())), "{bad}");
    }
}

/// Every way a link is refused, with the line the user reads.
#[test]
fn every_bad_link_says_what_is_wrong() {
    let btmh = format!("1220{}", "ab".repeat(32));
    let cases: &[(String, &str)] = &[
        (
            format!("http://example.com/?xt=urn:btih:{HEX}"),
            "not a magnet link: it must start with 'magnet:?'",
        ),
        (
            format!("magnet:xt=urn:btih:{HEX}"),
            "not a magnet link: it must start with 'magnet:?'",
        ),
        (
            "magnet:?dn=name&tr=http://t/a".into(),
            "invalid magnet link: it has no 'xt' parameter (expected xt=urn:btih: and the \
             info-hash)",
        ),
        (
            "magnet:?xt=urn:sha1:YNCKHTQCWBTRNJIV4WNAE52SJUQCZO5C".into(),
            "invalid magnet link: xt 'urn:sha1:YNCKHTQCWBTRNJIV4WNAE52SJUQCZO5C' is not a \
             BitTorrent info-hash (expected xt=urn:btih:...)",
        ),
        (
            format!("magnet:?xt=urn:btmh:{btmh}&dn=v2+only"),
            "invalid magnet link: it has only a BitTorrent v2 info-hash (xt=urn:btmh:); \
             smalltorrent needs a v1 info-hash (xt=urn:btih:)",
        ),
        (
            format!("magnet:?xt=urn:btih:{}", &HEX[..39]),
            "invalid magnet link: the info-hash has 39 characters; expected 40 hex digits or \
             32 base32 characters",
        ),
        (
            "magnet:?xt=urn:btih:".into(),
            "invalid magnet link: the info-hash has 0 characters; expected 40 hex digits or \
             32 base32 characters",
        ),
        (
            format!("magnet:?xt=urn:btih:{}xyz", &HEX[..37]),
            "invalid magnet link: the info-hash 'c12fe1c06bba254a9dc9f519b335aa7c1367axyz' \
             is not 40 hex digits (0-9, a-f)",
        ),
        (
            format!("magnet:?xt=urn:btih:{}18", &BASE32[..30]),
            "invalid magnet link: the info-hash 'YEX6DQDLXISUVHOJ6UM3GNNKPQJWPK18' is not 32 \
             base32 characters (A-Z, 2-7)",
        ),
        (
            format!("magnet:?xt=urn:btih:{HEX}&xt=urn:btih:{}", "0".repeat(40)),
            "invalid magnet link: it names two different torrents (two different \
             xt=urn:btih: hashes)",
        ),
        (
            format!("magnet:?xt=urn:btih:{HEX}&dn=50%+off"),
            "invalid magnet link: 'dn' has a bad percent-escape '%+o' (a '%' must be \
             followed by two hex digits)",
        ),
        (
            format!("magnet:?xt=urn:btih:{HEX}&tr=http://t/a%2"),
            "invalid magnet link: 'tr' has a bad percent-escape '%2' (a '%' must be \
             followed by two hex digits)",
        ),
        (
            format!("magnet:?xt=urn:btih:{HEX}&xl=12kB"),
            "invalid magnet link: xl '12kB' is not a number of bytes",
        ),
        (
            format!("magnet:?xt=urn:btih:{HEX}&xl=-1"),
            "invalid magnet link: xl '-1' is not a number of bytes",
        ),
    ];
    for (uri, expected) in cases {
        assert_eq!(error(uri), *expected, "{uri}");
    }
}

#[test]
fn user_text_in_an_error_is_escaped_and_cut_short() {
    let long = format!("magnet:?xt=urn:x:{}\u{1b}[2J", "a".repeat(100));
    assert_eq!(
        error(&long),
        format!(
            "invalid magnet link: xt 'urn:x:{}...' is not a BitTorrent info-hash \
             (expected xt=urn:btih:...)",
            "a".repeat(58)
        )
    );
    let control = format!("magnet:?xt=urn:btih:{HEX}&xl=1%0A2");
    assert_eq!(
        error(&control),
        "invalid magnet link: xl '1\\n2' is not a number of bytes"
    );
}

#[test]
fn peers_become_addresses_and_bad_ones_are_skipped() {
    let magnet = Magnet {
        peers: [
            "10.0.0.2:6881",
            "[::1]:51413",
            "[2001:db8::1]:1",
            "10.0.0.2:6881", // the same address again
            "10.0.0.3",      // no port
            "::1:80",        // IPv6 without brackets
            "10.0.0.4:0",    // a port nobody listens on
            "10.0.0.5:http", // a port that is no number
            "[::1]:65536",   // a port too large
            "[::g]:80",      // not IPv6 between the brackets
        ]
        .map(String::from)
        .to_vec(),
        ..parse(&format!("magnet:?xt=urn:btih:{HEX}"))
    };
    let expected = [
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 6881),
        SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 51413),
        SocketAddr::new(
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
            1,
        ),
    ];
    assert_eq!(magnet.peer_addrs(), expected);
}

#[test]
fn a_link_reads_back_to_the_same_magnet() {
    let magnet = Magnet {
        info_hash: HASH,
        name: Some("Ünïcode & spaces + 100% = ok?.iso".into()),
        trackers: vec![
            "udp://tracker.example:1337/announce".into(),
            "http://t.example/announce?passkey=a%2Fb&x=1".into(),
        ],
        peers: vec!["10.0.0.2:6881".into(), "[2001:db8::1]:51413".into()],
        length: Some(u64::MAX),
    };
    let uri = magnet.to_uri();
    assert!(uri.starts_with(&format!("magnet:?xt=urn:btih:{HEX}&dn=%C3%9Cn")));
    assert!(!uri[8..].contains(['?', ' ', '+', '/']), "{uri}");
    assert_eq!(parse(&uri), magnet);
}

#[test]
fn a_torrent_link_has_hex_name_and_every_tracker_once() {
    let tiers = [
        vec!["http://a.example/announce".to_string(), "udp://b:80".into()],
        vec!["http://a.example/announce".to_string()],
        vec!["udp://c:6969".to_string()],
    ];
    assert_eq!(
        link(&HASH, "my file.bin", &tiers),
        format!(
            "magnet:?xt=urn:btih:{HEX}&dn=my%20file.bin\
             &tr=http%3A%2F%2Fa.example%2Fannounce&tr=udp%3A%2F%2Fb%3A80&tr=udp%3A%2F%2Fc%3A6969"
        )
    );
    assert_eq!(link(&HASH, "", &[]), format!("magnet:?xt=urn:btih:{HEX}"));
}

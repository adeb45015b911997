//! The Fast extension (BEP 6) against real libtorrent, which enables it by default: a
//! libtorrent seeder opens with `have_all` instead of a bitfield, and a libtorrent leecher
//! gets ours. Each side is checked in smalltorrent's `--trace` and by a byte-identical
//! download.

mod support;

use support::*;

/// 6 MiB and a few bytes in 64 KiB pieces: 97 pieces, more than an allowed-fast set.
const SIZE: u64 = 6 * (1 << 20) + 12_345;

/// The trace's message lines between smalltorrent and the peer at `ip`, as (dir, msg).
fn messages_with(trace: &str, ip: std::net::Ipv4Addr) -> Vec<(String, String)> {
    let peer = format!("\"peer\":\"{ip}:");
    trace
        .lines()
        .filter(|line| line.contains(&peer))
        .filter_map(|line| Some((text_field(line, "dir")?, text_field(line, "msg")?)))
        .collect()
}

/// True for the messages that are not BEP 3's or BEP 6's: the handshake, BEP 10's.
fn outside_bitfield_phase(msg: &str) -> bool {
    ["handshake", "extended", "unknown"].contains(&msg)
}

/// A trace line's string field `key` (the trace's fields are flat and unescaped).
fn text_field(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!("\"{key}\":\""))? + key.len() + 4;
    let len = line[start..].find('"')?;
    Some(line[start..start + len].to_string())
}

fn count(messages: &[(String, String)], dir: &str, msg: &str) -> usize {
    messages
        .iter()
        .filter(|(d, m)| d == dir && m == msg)
        .count()
}

#[test]
fn a_libtorrent_seeder_opens_with_have_all() {
    let published = Published::single_file(SIZE, 16);
    let data_dir = &published.data_dir;
    let opts = LtOptions::on(ip(2));
    let _seeder = Seeder::libtorrent(&published.tracker, &published.torrent, data_dir, opts);
    let out = published.dir.path().join("out");
    let trace = published.dir.path().join("trace.jsonl");
    let output = run_smalltorrent(
        [
            published.torrent.as_os_str(),
            "-d".as_ref(),
            out.as_os_str(),
            "--bind".as_ref(),
            "127.0.0.3".as_ref(),
            "-q".as_ref(),
            "--trace".as_ref(),
            trace.as_os_str(),
        ],
        secs(60),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_same_tree(&published.payload, &out.join("payload.bin"));

    let text = std::fs::read_to_string(&trace).unwrap();
    let seeder = messages_with(&text, ip(2));
    assert_eq!(seeder.first(), Some(&("out".into(), "handshake".into())));
    let opening = seeder
        .iter()
        .find(|(dir, msg)| dir == "in" && !outside_bitfield_phase(msg));
    assert_eq!(
        opening,
        Some(&("in".into(), "have_all".into())),
        "libtorrent's first message after the handshake (BEP 10's aside): {seeder:?}"
    );
    assert_eq!(count(&seeder, "in", "bitfield"), 0, "{seeder:?}");
    assert_eq!(
        count(&seeder, "out", "have_none"),
        1,
        "we had nothing: {seeder:?}"
    );
    assert_eq!(count(&seeder, "out", "allowed_fast"), 10, "{seeder:?}");
    assert!(
        count(&seeder, "in", "allowed_fast") > 0,
        "libtorrent's: {seeder:?}"
    );
    assert!(count(&seeder, "in", "piece") > 0, "{seeder:?}");
}

#[test]
fn a_libtorrent_leecher_gets_our_have_all() {
    let published = Published::single_file(SIZE, 16);
    let trace = published.dir.path().join("trace.jsonl");
    let trace_arg = trace.to_str().unwrap();
    let mut seeder = SmalltorrentPeer::seed_logged(
        &published.tracker,
        &published.torrent,
        &published.data_dir,
        ip(2),
        &["--trace", trace_arg],
        "info",
    );
    let out = published.dir.path().join("libtorrent");
    lt_download(&published.torrent, &out, ip(3), secs(90));
    assert_same_tree(&published.payload, &out.join("payload.bin"));
    let stopped = seeder.interrupt(secs(10));
    assert!(stopped.status.success(), "{}", seeder.report());

    let text = std::fs::read_to_string(&trace).unwrap();
    let leecher = messages_with(&text, ip(3));
    let opening = leecher
        .iter()
        .find(|(dir, msg)| dir == "out" && !outside_bitfield_phase(msg));
    assert_eq!(
        opening,
        Some(&("out".into(), "have_all".into())),
        "our first message to it: {leecher:?}"
    );
    assert_eq!(count(&leecher, "out", "bitfield"), 0, "{leecher:?}");
    assert_eq!(count(&leecher, "out", "allowed_fast"), 10, "{leecher:?}");
    assert_eq!(count(&leecher, "in", "have_none"), 1, "{leecher:?}");
    assert!(count(&leecher, "out", "piece") > 0, "{leecher:?}");
}

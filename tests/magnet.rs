//! Acceptance tests for magnet links and the metadata exchange (BEP 9, over BEP 10), both
//! ways, with real clients on loopback.
//!
//! * Serving: smalltorrent seeds a torrent (`-s`); libtorrent and aria2c are given only a
//!   magnet link (`xt` and `tr`), so they must fetch the metadata from smalltorrent before
//!   they can download anything. Each must end with a byte-identical copy.

mod support;

use std::fs;
use std::path::Path;
use support::*;

/// `magnet:?xt=urn:btih:<hex>&tr=<url>` for the torrent at `torrent`.
fn magnet_link(torrent: &Path, tracker: &str) -> String {
    let hex: String = info_hash(torrent)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("magnet:?xt=urn:btih:{hex}&tr={}", percent_encode(tracker))
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A libtorrent leecher given only a magnet link fetches the metadata from the smalltorrent
/// seeder (its only peer), then the multi-file payload; our trace shows the metadata sent.
#[test]
fn libtorrent_fetches_the_metadata_from_a_smalltorrent_seeder() {
    let published = Published::multi_file();
    let trace = published.dir.path().join("seeder.trace");
    let trace_arg = trace.to_str().unwrap();
    let mut seeder = SmalltorrentPeer::seed_logged(
        &published.tracker,
        &published.torrent,
        &published.data_dir,
        ip(2),
        &["--trace", trace_arg],
        "info",
    );
    let link = magnet_link(&published.torrent, &published.tracker.announce_url());
    let out = published.dir.path().join("libtorrent");
    let mut leecher = LibtorrentLeecher::start(Path::new(&link), &out, ip(3), None);
    leecher.wait_done(secs(90));
    assert!(
        leecher.report().contains("METADATA "),
        "libtorrent never said it had the metadata\n{}",
        leecher.report()
    );
    assert_same_tree(
        &published.payload,
        &out.join(published.payload.file_name().unwrap()),
    );
    seeder.interrupt(secs(10));
    let trace = fs::read_to_string(&trace).unwrap();
    let sent_data = trace.lines().any(|line| {
        line.contains(r#""dir":"out""#)
            && line.contains(r#""ext":"ut_metadata""#)
            && line.contains(r#""msg_type":1"#)
    });
    assert!(
        sent_data,
        "no ut_metadata data message sent in the trace:\n{trace}"
    );
}

/// aria2c, given only a magnet link, fetches the metadata and the payload from smalltorrent.
#[test]
fn aria2_fetches_the_metadata_from_a_smalltorrent_seeder() {
    let published = Published::single_file(3 * (1 << 20) + 777, 16);
    let mut seeder = SmalltorrentPeer::seed(
        &published.tracker,
        &published.torrent,
        &published.data_dir,
        ip(2),
    );
    let link = magnet_link(&published.torrent, &published.tracker.announce_url());
    let out = published.dir.path().join("aria2");
    aria2_download(Path::new(&link), &out, ip(4), secs(90));
    assert_same_tree(
        &published.payload,
        &out.join(published.payload.file_name().unwrap()),
    );
    seeder.interrupt(secs(10));
}

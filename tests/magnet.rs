//! Acceptance tests for magnet links and the metadata exchange (BEP 9, over BEP 10), both
//! ways, with real clients on loopback.
//!
//! * Serving: smalltorrent seeds a torrent (`-s`); libtorrent and aria2c are given only a
//!   magnet link (`xt` and `tr`), so they must fetch the metadata from smalltorrent before
//!   they can download anything. Each must end with a byte-identical copy.
//! * Fetching: `smalltorrent MAGNET -d OUT` with a link that has only `xt` and `tr`, or
//!   only `xt` and `x.pe`, downloads from a libtorrent or an aria2c seeder: it fetches the
//!   metadata, keeps it in `OUT/.smalltorrent/<info-hash>.torrent`, and a rerun of the
//!   same link uses it without asking anyone.

mod support;

use std::fs;
use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::process::Output;
use support::*;

/// `magnet:?xt=urn:btih:<hex>&x.pe=<addr>`: a link that names one peer and no tracker.
fn magnet_with_peer(torrent: &Path, peer: SocketAddrV4) -> String {
    format!("magnet:?xt=urn:btih:{}&x.pe={peer}", info_hash_hex(torrent))
}

/// `smalltorrent LINK -d OUT -q --bind 127.0.0.3 --port 0`, to completion.
fn smalltorrent_magnet(link: &str, out: &Path) -> Output {
    let args = [
        link,
        "-d",
        out.to_str().unwrap(),
        "-q",
        "--bind",
        "127.0.0.3",
        "--port",
        "0",
    ];
    run_smalltorrent(args, secs(120))
}

/// The download ended well, the payload is byte-identical, and the metadata was kept.
fn check_magnet_download(published: &Published, out: &Path, output: &Output) -> PathBuf {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "smalltorrent failed ({})
{stderr}",
        output.status
    );
    assert_same_tree(
        &published.payload,
        &out.join(published.payload.file_name().unwrap()),
    );
    let kept = out
        .join(".smalltorrent")
        .join(format!("{}.torrent", info_hash_hex(&published.torrent)));
    assert_eq!(
        info_hash(&kept),
        info_hash(&published.torrent),
        "the kept metadata is the torrent's"
    );
    kept
}

/// `magnet:?xt=urn:btih:<hex>&tr=<url>` for the torrent at `torrent`.
fn magnet_link(torrent: &Path, tracker: &str) -> String {
    let hex = info_hash_hex(torrent);
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

/// A link with only `xt` and `tr`: the libtorrent seeder is found through the tracker, the
/// metadata fetched from it, the multi-file payload downloaded. A rerun of the same link,
/// with the seeder gone, finds everything on disk and the metadata kept.
#[test]
fn smalltorrent_downloads_a_magnet_link_from_libtorrent_via_its_tracker() {
    let published = Published::multi_file();
    let seeder = Seeder::libtorrent(
        &published.tracker,
        &published.torrent,
        &published.data_dir,
        LtOptions::on(ip(2)),
    );
    let link = magnet_link(&published.torrent, &published.tracker.announce_url());
    let out = published.dir.path().join("out");
    let output = smalltorrent_magnet(&link, &out);
    check_magnet_download(&published, &out, &output);
    assert!(seeder.stop().unwrap_or(0) > 0, "the seeder sent nothing");

    let again = smalltorrent_magnet(&link, &out);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "the rerun failed\n{stderr}");
    assert!(stderr.contains("is complete"), "{stderr}");
}

/// A link with only `xt` and `x.pe`: no tracker at all, the aria2c seeder named in the
/// link is the only source of the metadata and of the data.
#[test]
fn smalltorrent_downloads_a_magnet_link_from_aria2_named_in_x_pe() {
    let published = Published::single_file(5 * (1 << 20) + 99, 16);
    let seeder = Seeder::aria2(
        &published.tracker,
        &published.torrent,
        &published.data_dir,
        ip(2),
    );
    let link = magnet_with_peer(&published.torrent, seeder.addr());
    let out = published.dir.path().join("out");
    let output = smalltorrent_magnet(&link, &out);
    check_magnet_download(&published, &out, &output);
}

/// A link with only `xt` and `x.pe`, to a libtorrent seeder.
#[test]
fn smalltorrent_downloads_a_magnet_link_from_libtorrent_named_in_x_pe() {
    let published = Published::single_file(2 * (1 << 20) + 5, 15);
    let seeder = Seeder::libtorrent(
        &published.tracker,
        &published.torrent,
        &published.data_dir,
        LtOptions::on(ip(2)),
    );
    let link = magnet_with_peer(&published.torrent, seeder.addr());
    let out = published.dir.path().join("out");
    let output = smalltorrent_magnet(&link, &out);
    check_magnet_download(&published, &out, &output);
}

/// A malformed link is one error line and exit 2; nothing is created.
#[test]
fn a_malformed_magnet_link_is_one_error_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    for (link, says) in [
        ("magnet:?dn=no-hash", "xt"),
        ("magnet:?xt=urn:btih:12345", "has 5 characters"),
        ("magnet:?xt=urn:btmh:1220abcd", "v1"),
    ] {
        let output = smalltorrent_magnet(link, &out);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{link}: {stderr}");
        assert_eq!(
            stderr.lines().count(),
            1,
            "{link}: one line, got:\n{stderr}"
        );
        assert!(stderr.contains(says), "{link}: {stderr}");
        assert!(!out.exists(), "{link}: nothing may be written");
    }
}

/// While no peer can be reached, `--give-up` ends the wait for the metadata, and nothing
/// was written under the download folder.
#[test]
fn no_peer_for_the_metadata_gives_up_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let closed = SocketAddrV4::new(ip(9), free_port());
    let link = format!("magnet:?xt=urn:btih:{}&x.pe={closed}", "ab".repeat(20));
    let args = [
        &link,
        "-d",
        out.to_str().unwrap(),
        "--give-up",
        "2",
        "--port",
        "0",
        "--bind",
        "127.0.0.3",
    ];
    let output = run_smalltorrent(args, secs(60));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no peers"), "{stderr}");
    assert!(
        !out.exists(),
        "nothing may be written before the metadata is verified"
    );
}

/// A link that names no tracker and no peer cannot find anyone (until the DHT): it says so.
#[test]
fn a_link_with_no_tracker_and_no_peer_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let link = format!("magnet:?xt=urn:btih:{}", "cd".repeat(20));
    let output = smalltorrent_magnet(&link, &dir.path().join("out"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("names no tracker (tr) and no peer (x.pe)"),
        "{stderr}"
    );
}

/// A link with only `xt` and `tr`, to an aria2c seeder found through the tracker.
#[test]
fn smalltorrent_downloads_a_magnet_link_from_aria2_via_its_tracker() {
    let published = Published::multi_file();
    let _seeder = Seeder::aria2(
        &published.tracker,
        &published.torrent,
        &published.data_dir,
        ip(2),
    );
    let link = magnet_link(&published.torrent, &published.tracker.announce_url());
    let out = published.dir.path().join("out");
    let output = smalltorrent_magnet(&link, &out);
    check_magnet_download(&published, &out, &output);
}

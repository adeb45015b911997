//! Acceptance tests for `--max-download-rate` and `--max-upload-rate`, against libtorrent
//! on loopback through opentracker.
//!
//! Uncapped, 6 MiB move between two processes on loopback in well under a second, so a
//! cap that leaks shows at once. Each test moves the payload at 512 KiB/s and times the
//! whole transfer: it may not be quicker than the cap allows (less the bucket's first
//! burst of 256 KiB, and 10%), nor much slower (a shared machine only slows a 512 KiB/s
//! transfer by the start-up and a round trip; the slack allows for that, not for a cap
//! twice too strict).

mod support;

use std::time::{Duration, Instant};
use support::*;

const MIB: u64 = 1 << 20;
/// The payload: 6 MiB in 64 KiB pieces.
const SIZE: u64 = 6 * MIB;
/// The cap both tests set.
const RATE: u64 = 512 << 10;
/// What the bucket lets through at once before the rate holds.
const BURST: u64 = 256 << 10;

/// How long `SIZE` bytes must take at `RATE`.
fn capped_time() -> Duration {
    Duration::from_secs_f64((SIZE - BURST) as f64 / RATE as f64)
}

/// Panics unless `took` is within the cap's tolerance.
fn assert_capped(took: Duration, what: &str) {
    eprintln!("{what}: {took:.2?}, expected {:.2?}", capped_time());
    let least = capped_time().mul_f64(0.9);
    let most = capped_time().mul_f64(1.3) + Duration::from_secs(5);
    assert!(
        took >= least,
        "{what} took {took:.1?}: faster than the cap allows (at least {least:.1?})"
    );
    assert!(
        took <= most,
        "{what} took {took:.1?}: the cap held it back too far (at most {most:.1?})"
    );
}

/// smalltorrent downloads from an uncapped libtorrent seeder with `--max-download-rate
/// 512K`: the requests it sends are metered, so the blocks arrive at that rate.
#[test]
fn a_download_holds_to_its_rate_limit() {
    let published = Published::single_file(SIZE, 16);
    let _seeder = Seeder::libtorrent(
        &published.tracker,
        &published.torrent,
        &published.data_dir,
        LtOptions::on(ip(2)),
    );
    let out = published.dir.path().join("out");
    let args = [
        published.torrent.as_os_str(),
        "-d".as_ref(),
        out.as_os_str(),
        "-q".as_ref(),
        "--bind".as_ref(),
        "127.0.0.3".as_ref(),
        "--port".as_ref(),
        "0".as_ref(),
        "--max-download-rate".as_ref(),
        "512K".as_ref(),
    ];
    let started = Instant::now();
    let output = run_smalltorrent(args, Duration::from_secs(90));
    let took = started.elapsed();
    assert!(
        output.status.success(),
        "smalltorrent failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_same_tree(
        &published.payload,
        &out.join(published.payload.file_name().unwrap()),
    );
    assert_capped(took, "the capped download");
}

/// A libtorrent leecher downloads from a smalltorrent seeder with `--max-upload-rate
/// 512K`, its only source.
#[test]
fn an_upload_holds_to_its_rate_limit() {
    let published = Published::single_file(SIZE, 16);
    let _seeder = SmalltorrentPeer::seed_logged(
        &published.tracker,
        &published.torrent,
        &published.data_dir,
        ip(2),
        &["--max-upload-rate", "512K"],
        "smalltorrent=info",
    );
    let out = published.dir.path().join("out");
    let started = Instant::now();
    let mut leecher = LibtorrentLeecher::start(&published.torrent, &out, ip(3), None);
    leecher.wait_done(Duration::from_secs(90));
    let took = started.elapsed();
    assert_same_tree(
        &published.payload,
        &out.join(published.payload.file_name().unwrap()),
    );
    assert_capped(took, "the capped upload");
}

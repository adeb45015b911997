//! Acceptance tests: real BitTorrent clients download from a smalltorrent seeder on loopback.
//!
//! Each test starts opentracker and `smalltorrent FILE.torrent -s DATA --bind 127.0.0.2
//! --port 0` as the only seeder, lets one client (libtorrent, aria2c, transmission-cli)
//! download, and requires a byte-identical copy of the payload, empty files included; then
//! it stops the seeder with SIGINT and requires exit status 0 and an `uploaded N bytes`
//! line with N at least the payload size (it was the only source).
//!
//! To check these tests themselves with a known-good client (libtorrent) in smalltorrent's
//! place: `SMALLTORRENT_BIN=$PWD/tests/support/lt_as_smalltorrent.py cargo test --test upload_interop`.
//! The `harness_` tests check the leecher helpers without smalltorrent at all.

mod support;

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::*;

const MIB: u64 = 1 << 20;

/// 6 MiB and a few bytes: the last piece is short and not a whole number of blocks.
const ODD_SIZE: u64 = 6 * MIB + 12_345;

/// How long a seeder may take to stop after SIGINT.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// A tracker and a torrent whose payload is on disk (see [`Published`]).
struct Upload(Published);

impl std::ops::Deref for Upload {
    type Target = Published;
    fn deref(&self) -> &Published {
        &self.0
    }
}

impl Upload {
    fn single_file(size: u64, piece_log2: u32) -> Upload {
        Upload(Published::single_file(size, piece_log2))
    }

    fn multi_file() -> Upload {
        Upload(Published::multi_file())
    }

    /// smalltorrent seeding [`Upload::data_dir`] on 127.0.0.2, listed by the tracker.
    fn seeder(&self) -> SmalltorrentPeer {
        let seeder = SmalltorrentPeer::seed(&self.tracker, &self.torrent, &self.data_dir, ip(2));
        let all = self.pieces();
        let checked = seeder.checked_line().unwrap_or_default();
        assert!(
            checked.contains(&format!("{all} of {all} pieces valid")),
            "the seeder should report all {all} pieces valid, it said {checked:?}\n{}",
            seeder.report()
        );
        seeder
    }

    /// A fresh directory for one leecher's download.
    fn out_dir(&self, who: &str) -> PathBuf {
        self.dir.path().join(who)
    }

    /// Where a download into `out_dir` puts the payload.
    fn downloaded(&self, out_dir: &Path) -> PathBuf {
        out_dir.join(self.payload.file_name().unwrap())
    }

    fn size(&self) -> u64 {
        tree_size(&self.payload)
    }

    fn pieces(&self) -> u64 {
        self.size().div_ceil(self.piece_len)
    }

    /// Stops the (only) seeder after a complete download: it must exit 0 and report having
    /// uploaded at least the whole payload.
    fn stop_seeder(&self, mut seeder: SmalltorrentPeer) {
        let stopped = seeder.interrupt(STOP_GRACE);
        assert!(
            stopped.status.success(),
            "the seeder should exit 0 on SIGINT, got {}\n{}",
            stopped.status,
            seeder.report()
        );
        let uploaded = stopped.uploaded.unwrap_or_else(|| {
            panic!(
                "the seeder printed no 'uploaded N bytes' line\n{}",
                seeder.report()
            )
        });
        assert!(
            uploaded >= self.size(),
            "the only seeder says it uploaded {uploaded} bytes, less than the {} byte payload",
            self.size()
        );
    }
}

/// Bytes in a file, or in all files under a directory.
fn tree_size(path: &Path) -> u64 {
    if path.is_dir() {
        fs::read_dir(path)
            .unwrap()
            .map(|entry| tree_size(&entry.unwrap().path()))
            .sum()
    } else {
        fs::metadata(path).unwrap().len()
    }
}

/// libtorrent downloads from smalltorrent: `-s` serves a single file with a short last piece.
#[test]
fn libtorrent_downloads_single_file() {
    let upload = Upload::single_file(ODD_SIZE, 16);
    let seeder = upload.seeder();
    let out = upload.out_dir("libtorrent");
    lt_download(&upload.torrent, &out, ip(3), secs(90));
    assert_same_tree(&upload.payload, &upload.downloaded(&out));
    upload.stop_seeder(seeder);
}

/// libtorrent downloads a multi-file tree (empty files, pieces across file boundaries).
#[test]
fn libtorrent_downloads_multi_file() {
    let upload = Upload::multi_file();
    let seeder = upload.seeder();
    let out = upload.out_dir("libtorrent");
    lt_download(&upload.torrent, &out, ip(3), secs(90));
    assert_same_tree(&upload.payload, &upload.downloaded(&out));
    upload.stop_seeder(seeder);
}

/// aria2c downloads a single file from smalltorrent.
#[test]
fn aria2_downloads_single_file() {
    let upload = Upload::single_file(ODD_SIZE, 16);
    let seeder = upload.seeder();
    let out = upload.out_dir("aria2");
    aria2_download(&upload.torrent, &out, ip(4), secs(90));
    assert_same_tree(&upload.payload, &upload.downloaded(&out));
    upload.stop_seeder(seeder);
}

/// aria2c downloads the multi-file tree from smalltorrent.
#[test]
fn aria2_downloads_multi_file() {
    let upload = Upload::multi_file();
    let seeder = upload.seeder();
    let out = upload.out_dir("aria2");
    aria2_download(&upload.torrent, &out, ip(4), secs(90));
    assert_same_tree(&upload.payload, &upload.downloaded(&out));
    upload.stop_seeder(seeder);
}

/// Transmission never dials 127.0.0.0/8 peers: it is started first and announces, and the
/// seeder, started after, must learn of it from the tracker and dial it.
fn transmission_downloads(upload: Upload) {
    let out = upload.out_dir("transmission");
    let mut leecher = TransmissionLeecher::start(&upload.tracker, &upload.torrent, &out, ip(3));
    let seeder = SmalltorrentPeer::start_seeding(&upload.torrent, &upload.data_dir, ip(2));
    // Transmission unchokes on a 10 s timer and keeps running when complete: poll the files.
    leecher.wait_for(&upload.payload, &upload.downloaded(&out), secs(150));
    upload.stop_seeder(seeder);
}

/// transmission-cli downloads a single file from a smalltorrent seeder that dials it.
#[test]
fn transmission_downloads_single_file() {
    transmission_downloads(Upload::single_file(ODD_SIZE, 16));
}

/// transmission-cli downloads the multi-file tree from a smalltorrent seeder that dials it.
#[test]
fn transmission_downloads_multi_file() {
    transmission_downloads(Upload::multi_file());
}

/// The seeder announces before Transmission exists, so the tracker's first answer lists
/// nobody; Transmission, started next, never dials the loopback seeder, and opentracker's
/// interval is 30 minutes. Only the seeder's early re-announce (no peer connected: about a
/// minute after the last one) tells it of the leecher.
///
/// Over HTTP opentracker asks for a `min interval` of 15 minutes, which we honour; over UDP
/// (BEP 15 has no min interval) the early re-announce comes after a minute. So the seeder
/// is given opentracker's UDP URL as a second tier, and it is that tier which finds the
/// leecher.
#[test]
fn transmission_downloads_from_a_seeder_that_announced_first() {
    let upload = Upload::single_file(ODD_SIZE, 16);
    let udp = upload.tracker.udp_announce_url();
    let seeder = SmalltorrentPeer::seed_logged(
        &upload.tracker,
        &upload.torrent,
        &upload.data_dir,
        ip(2),
        &["--tracker", &udp],
        "smalltorrent::announcer=info",
    );
    let out = upload.out_dir("transmission");
    let mut leecher = TransmissionLeecher::start(&upload.tracker, &upload.torrent, &out, ip(3));
    leecher.wait_for(&upload.payload, &upload.downloaded(&out), secs(150));
    upload.stop_seeder(seeder);
}

/// A folder with one corrupted piece: smalltorrent reports 63 of 64 pieces valid, and a
/// libtorrent leecher with smalltorrent as its only source ends with every other piece and
/// never receives bad data (no hash failure), so the bad piece was never served.
#[test]
fn corrupted_piece_is_reported_and_never_served() {
    const BAD: u64 = 17;
    let upload = Upload::single_file(4 * MIB, 16);
    assert_eq!(upload.pieces(), 64);
    let bad_dir = upload.dir.path().join("bad");
    copy_tree(&upload.data_dir, &bad_dir);
    flip_bytes(
        &bad_dir.join("payload.bin"),
        BAD * upload.piece_len + 1000,
        16,
    );

    let mut seeder = SmalltorrentPeer::seed(&upload.tracker, &upload.torrent, &bad_dir, ip(2));
    let checked = seeder.checked_line().unwrap_or_default();
    assert!(
        checked.contains("63 of 64 pieces valid"),
        "the seeder should report 63 of 64 pieces valid, it said {checked:?}\n{}",
        seeder.report()
    );

    let out = upload.out_dir("libtorrent");
    let mut leecher = LibtorrentLeecher::start(&upload.torrent, &out, ip(3), Some(secs(10)));
    let report = leecher.wait_report(secs(120));
    assert!(
        report.hash_failed.is_empty(),
        "the seeder served bad data for pieces {:?}\n{}",
        report.hash_failed,
        seeder.report()
    );
    assert_eq!(
        report.missing(),
        vec![BAD as usize],
        "the leecher should get every piece but the corrupted one\n{}\n{}",
        leecher.report(),
        seeder.report()
    );
    // Its data is incomplete, so the exit status is not part of the contract; it must stop.
    seeder.interrupt(STOP_GRACE);
}

/// Inverts `count` bytes of `file` from `offset`.
fn flip_bytes(file: &Path, offset: u64, count: usize) {
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(file)
        .unwrap();
    let mut bytes = vec![0u8; count];
    f.read_exact_at(&mut bytes, offset).unwrap();
    for b in &mut bytes {
        *b = !*b;
    }
    f.write_all_at(&bytes, offset).unwrap();
}

/// Harness check, no smalltorrent: the libtorrent leecher downloads from a libtorrent
/// seeder and says DONE only once the files are complete.
#[test]
fn harness_libtorrent_leecher_downloads() {
    let upload = Upload::single_file(ODD_SIZE, 16);
    let _seeder = Seeder::libtorrent(
        &upload.tracker,
        &upload.torrent,
        &upload.data_dir,
        LtOptions::on(ip(2)),
    );
    let out = upload.out_dir("libtorrent");
    let mut leecher = LibtorrentLeecher::start(&upload.torrent, &out, ip(3), None);
    leecher.wait_done(secs(60));
    assert_same_tree(&upload.payload, &upload.downloaded(&out));
    let report = leecher.wait_report(secs(5));
    assert!(report.missing().is_empty() && report.hash_failed.is_empty());
    assert_eq!(report.have.len() as u64, upload.pieces());
}

/// Harness check, no smalltorrent: with only a liar as seeder (it claims every piece and
/// corrupts all it sends) the leecher's report has no piece and names the hash failures.
/// (The mixed case is `corrupted_piece_is_reported_and_never_served` run against
/// `lt_as_smalltorrent.py`.)
#[test]
fn harness_libtorrent_leecher_reports_missing_and_bad_pieces() {
    let upload = Upload::single_file(MIB, 16);
    let _liar = Seeder::corrupt(&upload.tracker, &upload.torrent, &upload.data_dir, ip(5));
    let out = upload.out_dir("libtorrent");
    let mut leecher = LibtorrentLeecher::start(&upload.torrent, &out, ip(3), Some(secs(5)));
    let report = leecher.wait_report(secs(60));
    assert_eq!(report.have, vec![false; 16], "{}", leecher.report());
    assert!(!report.hash_failed.is_empty(), "{}", leecher.report());
}

/// Harness check, no smalltorrent: a Transmission leecher started first is served by a
/// libtorrent seeder started after it (libtorrent dials the peers the tracker lists).
#[test]
fn harness_transmission_leecher_is_dialled() {
    let upload = Upload::multi_file();
    let out = upload.out_dir("transmission");
    let mut leecher = TransmissionLeecher::start(&upload.tracker, &upload.torrent, &out, ip(3));
    let _seeder = Seeder::libtorrent(
        &upload.tracker,
        &upload.torrent,
        &upload.data_dir,
        LtOptions::on(ip(2)),
    );
    leecher.wait_for(&upload.payload, &upload.downloaded(&out), secs(90));
}

/// `--seed-ratio 1`: the seeder stops by itself, exit 0, once it has uploaded the whole
/// torrent once (here: to one aria2c).
#[test]
fn seed_ratio_stops_seeding_by_itself() {
    let upload = Upload::single_file(3 * MIB + 5, 16);
    let args: Vec<std::ffi::OsString> = vec![
        upload.torrent.clone().into(),
        "-s".into(),
        upload.data_dir.clone().into(),
        "--bind".into(),
        "127.0.0.2".into(),
        "--port".into(),
        "0".into(),
        "--seed-ratio".into(),
        "1".into(),
    ];
    let mut seeder = spawn_smalltorrent_named("seeder with --seed-ratio 1", args);
    seeder.wait_until(secs(30), "a 'listening on' line", |p| {
        support::smalltorrent::listening_addr(&p.stderr()).is_some()
    });
    let addr = support::smalltorrent::listening_addr(&seeder.stderr()).unwrap();
    upload
        .tracker
        .wait_for_peer(&upload.torrent, addr, secs(30));
    let out = upload.out_dir("aria2");
    aria2_download(&upload.torrent, &out, ip(3), secs(60));
    assert_same_tree(&upload.payload, &upload.downloaded(&out));
    let status = seeder
        .wait_exit(secs(30))
        .unwrap_or_else(|why| panic!("the seeder did not stop by itself: {why}"));
    assert!(status.success(), "{}", seeder.report());
    let uploaded = support::smalltorrent::uploaded_bytes(&seeder.stderr())
        .expect("an 'uploaded N bytes' line");
    assert!(uploaded >= upload.size(), "stopped at {uploaded} bytes");
}

/// `--seed-time MIN`: the seeder stops by itself after that long, exit 0.
#[test]
fn seed_time_stops_seeding_by_itself() {
    let upload = Upload::single_file(MIB, 16);
    let started = std::time::Instant::now();
    let output = run_smalltorrent(
        [
            upload.torrent.as_os_str(),
            "-s".as_ref(),
            upload.data_dir.as_os_str(),
            "--port".as_ref(),
            "0".as_ref(),
            "--seed-time".as_ref(),
            "0.05".as_ref(),
        ],
        secs(60),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let took = started.elapsed();
    assert!(
        took >= secs(3),
        "0.05 minutes is 3 s, it stopped after {took:?}"
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("uploaded 0 bytes"));
}

//! Piece sizes from 16 KiB to 16 MiB (issue 5), both ways, against real clients on loopback.
//!
//! Downloading: smalltorrent fetches from a libtorrent seeder torrents in pieces of 16 KiB
//! (about 2,000 of them), 64 KiB, 1 MiB, 4 MiB and 16 MiB, each a multi-file layout where
//! pieces span file boundaries (empty and tiny files included) and the last piece is short.
//! Each run is traced: the requests must cover every block of every piece, with the short
//! last block where the payload ends, and nothing else; every piece must verify once; the
//! bytes must be identical. Resuming with 16 MiB pieces (Ctrl-C, then kill -9) re-requests
//! no recorded piece, and a flipped byte in a tiny file inside a piece that spans four
//! files costs that piece alone.
//!
//! Uploading: libtorrent and aria2c download 16 KiB and 16 MiB pieces from a smalltorrent
//! seeder (`-s DIR`).
//!
//! Torrents of 32 KiB pieces and up are made by mktorrent, of 16 KiB by transmission-create
//! (mktorrent's smallest is 32 KiB), so no torrent here is made by the code under test.

mod support;

use ::smalltorrent::resume;
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use support::*;

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;

/// About 31 MiB in 16 KiB pieces: 1,985 pieces, a 5,000-byte file inside one piece that
/// spans three files, and a last piece of 5,340 bytes. No empty file: transmission-create
/// would leave it out of the torrent.
const SMALL_PIECES: &[(&str, u64)] = &[
    ("a.bin", 10 * MIB + 7),
    ("b/small.bin", 5_000),
    ("b/z.bin", 21 * MIB + 333),
];

/// About 24 MiB for 64 KiB to 4 MiB pieces: the boundary after `a.bin` (7 MiB + 3) falls
/// inside a piece at every size, so that piece spans `a.bin`, the empty file, the tiny one
/// and `c/x.bin`; the payload ends 5,225 bytes past 24 MiB. Names sorted, as mktorrent
/// lists the files.
const TREE: &[(&str, u64)] = &[
    ("a.bin", 7 * MIB + 3),
    ("b-empty", 0),
    ("c/tiny", 1_000),
    ("c/x.bin", 9 * MIB + 4_321),
    ("d.bin", 8 * MIB - 99),
];

/// 40 MiB less 4,996 bytes for 16 MiB pieces: 3 pieces, the second spanning `a.bin`, an
/// empty file, a one-byte file and `c.bin`; the last is 8 MiB less 4,996 bytes.
const BIG_PIECES: &[(&str, u64)] = &[
    ("a.bin", 24 * MIB + 3),
    ("b/empty", 0),
    ("b/one-byte", 1),
    ("c.bin", 16 * MIB - 5_000),
];

/// The log lines the tests read: the check of existing data and every verified piece.
const LOG: &str = "smalltorrent::download=info,smalltorrent::block_saver=debug";

/// A published torrent of `files` in pieces of 2^`piece_log2` bytes, and a libtorrent
/// seeder for it on 127.0.0.2 (`upload_rate` bytes/s, 0 for unlimited).
struct Shared {
    published: Published,
    seeder: Seeder,
    total: u64,
}

impl Shared {
    fn new(piece_log2: u32, files: &[(&str, u64)], upload_rate: u32) -> Shared {
        let published = Published::files(piece_log2, files);
        let seeder = Seeder::libtorrent(
            &published.tracker,
            &published.torrent,
            &published.data_dir,
            LtOptions {
                upload_rate,
                ..LtOptions::on(ip(2))
            },
        );
        Shared {
            published,
            seeder,
            total: files.iter().map(|f| f.1).sum(),
        }
    }

    fn pieces(&self) -> u32 {
        self.total.div_ceil(self.published.piece_len) as u32
    }

    fn out(&self) -> PathBuf {
        self.published.dir.path().join("out")
    }

    /// Where the download of the payload goes.
    fn downloaded(&self) -> PathBuf {
        self.out().join("tree")
    }

    fn trace(&self, name: &str) -> PathBuf {
        self.published.dir.path().join(format!("{name}.jsonl"))
    }

    /// Starts smalltorrent downloading from the seeder (and the tracker), traced to
    /// `trace`, logging every verified piece.
    fn start(&self, trace: &Path) -> Proc {
        let peer = self.seeder.addr().to_string();
        let mut cmd = smalltorrent_command([
            self.published.torrent.as_os_str(),
            "-d".as_ref(),
            self.out().as_os_str(),
            "-q".as_ref(),
            "--peer".as_ref(),
            peer.as_ref(),
            "--trace".as_ref(),
            trace.as_os_str(),
        ]);
        cmd.env("RUST_LOG", LOG);
        Proc::spawn("smalltorrent", cmd)
    }

    /// Runs smalltorrent to a successful end; returns its stderr.
    fn run_to_end(&self, trace: &Path) -> String {
        let mut client = self.start(trace);
        let status = client
            .wait_exit(secs(120))
            .unwrap_or_else(|why| panic!("{why}"));
        assert!(status.success(), "{}", client.report());
        client.stderr()
    }

    /// The pieces recorded in the resume file (none without a usable one).
    fn recorded(&self) -> BTreeSet<u32> {
        let meta = ::smalltorrent::metainfo::Metainfo::from_file(&self.published.torrent).unwrap();
        let path = resume::path_for(&self.out(), &meta.info_hash, &meta.files).unwrap();
        resume::load(&path)
            .map(|r| r.verified.pieces().collect())
            .unwrap_or_default()
    }

    /// Downloads everything in one run and checks it: every block requested (none outside
    /// the torrent), every piece verified once, no hash failure, identical bytes.
    fn download_and_check(&self) {
        let trace = self.trace("download");
        let stderr = self.run_to_end(&trace);
        let all = 0..self.pieces();
        let verified = verified_pieces(&stderr);
        assert_eq!(verified.len(), all.len(), "each piece verified once");
        assert_eq!(
            verified.iter().copied().collect::<BTreeSet<_>>(),
            all.clone().collect()
        );
        let failed: Vec<&str> = stderr.lines().filter(|l| l.contains("failed")).collect();
        assert!(failed.is_empty(), "{failed:#?}");
        let requests = requests_sent(&trace);
        let distinct: BTreeSet<Request> = requests.iter().copied().collect();
        assert_eq!(
            distinct,
            blocks_of(self.total, self.published.piece_len, all),
            "the requests must be the torrent's blocks, the short last one included"
        );
        eprintln!(
            "{} pieces of {} KiB, {} requests",
            self.pieces(),
            self.published.piece_len / KIB,
            requests.len()
        );
        assert_same_tree(&self.published.payload, &self.downloaded());
    }
}

/// The "checked data: ..." line of a run.
fn checked_line(stderr: &str) -> String {
    stderr
        .lines()
        .find_map(|l| l.find("checked data:").map(|at| l[at..].to_string()))
        .unwrap_or_default()
}

#[test]
fn download_16_kib_pieces() {
    Shared::new(14, SMALL_PIECES, 0).download_and_check();
}

#[test]
fn download_64_kib_pieces() {
    Shared::new(16, TREE, 0).download_and_check();
}

#[test]
fn download_1_mib_pieces() {
    Shared::new(20, TREE, 0).download_and_check();
}

#[test]
fn download_4_mib_pieces() {
    Shared::new(22, TREE, 0).download_and_check();
}

#[test]
fn download_16_mib_pieces() {
    Shared::new(24, BIG_PIECES, 0).download_and_check();
}

/// 16 MiB pieces, stopped twice midway: Ctrl-C after one piece, then kill -9 after the
/// next. Neither rerun requests a piece recorded before it started; the last finishes with
/// identical bytes, and re-fetches nothing verified earlier except pieces the kill left
/// unrecorded.
#[test]
fn resume_16_mib_pieces_after_ctrl_c_and_kill_9() {
    // 4 MiB/s: a piece takes 4 s (the last 2 s), so there is time to stop between two.
    let s = Shared::new(24, BIG_PIECES, 4 * MIB as u32);
    let pieces = s.pieces();

    let mut first = s.start(&s.trace("first"));
    first.wait_until(secs(60), "a verified piece", |c| {
        !verified_pieces(&c.stderr()).is_empty()
    });
    let status = first.stop_with("INT", secs(30)).unwrap();
    assert_eq!(status.code(), Some(130), "{}", first.report());
    let mut ever: BTreeSet<u32> = verified_pieces(&first.stderr()).into_iter().collect();
    assert_eq!(
        s.recorded(),
        ever,
        "a clean stop records every verified piece"
    );
    assert!(ever.len() < pieces as usize, "stopped too late: {ever:?}");

    let recorded = s.recorded();
    let trace = s.trace("second");
    let mut second = s.start(&trace);
    second.wait_until(secs(60), "one more verified piece", |c| {
        !verified_pieces(&c.stderr()).is_empty()
    });
    second.kill();
    let stderr = second.stderr();
    let check = checked_line(&stderr);
    assert!(
        check.contains(&format!(
            "{} from the resume file, 0 hashed",
            recorded.len()
        )),
        "after Ctrl-C: {check}"
    );
    let again: BTreeSet<u32> = pieces_of(&requests_sent(&trace))
        .intersection(&recorded)
        .copied()
        .collect();
    assert!(again.is_empty(), "after Ctrl-C, requested again: {again:?}");
    let now: BTreeSet<u32> = verified_pieces(&stderr).into_iter().collect();
    assert!(
        now.is_disjoint(&ever),
        "verified twice: {now:?} after {ever:?}"
    );
    ever.extend(now);

    let recorded = s.recorded();
    let unrecorded: BTreeSet<u32> = ever.difference(&recorded).copied().collect();
    let trace = s.trace("third");
    let stderr = s.run_to_end(&trace);
    let requested = pieces_of(&requests_sent(&trace));
    eprintln!(
        "after kill -9: {} of {pieces} pieces recorded, {} verified but unrecorded; {}; \
         requested pieces {requested:?}",
        recorded.len(),
        unrecorded.len(),
        checked_line(&stderr)
    );
    assert!(
        requested.is_disjoint(&recorded),
        "after kill -9, requested again: {:?} (recorded {recorded:?})",
        requested.intersection(&recorded).collect::<Vec<_>>()
    );
    let valid: usize = checked_line(&stderr)
        .strip_prefix("checked data: ")
        .and_then(|rest| rest.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no checked data line\n{stderr}"));
    assert!(
        valid >= recorded.len(),
        "after kill -9, {valid} pieces valid at start, fewer than the {} recorded",
        recorded.len()
    );
    let refetched: BTreeSet<u32> = requested.intersection(&ever).copied().collect();
    assert!(
        refetched.is_subset(&unrecorded),
        "re-fetched {refetched:?}, only {unrecorded:?} were verified but unrecorded"
    );
    assert_same_tree(&s.published.payload, &s.downloaded());
}

/// A byte flipped in a 1,000-byte file while smalltorrent was stopped, inside a 1 MiB piece
/// that spans four files: only that file changed, so only its piece is hashed, and the
/// rerun requests each block of that piece once and nothing else.
#[test]
fn a_flipped_byte_in_a_piece_across_files_fetches_that_piece_alone() {
    let s = Shared::new(20, TREE, 0);
    let trace = s.trace("download");
    s.run_to_end(&trace);
    assert_same_tree(&s.published.payload, &s.downloaded());

    let tiny = s.downloaded().join("c/tiny");
    let tiny_offset: u64 = TREE
        .iter()
        .take_while(|f| f.0 != "c/tiny")
        .map(|f| f.1)
        .sum();
    let piece = (tiny_offset / MIB) as u32;
    assert_eq!(
        piece,
        ((tiny_offset + 999) / MIB) as u32,
        "the tiny file lies in one piece"
    );
    wait_until_mtime_can_change(&tiny);
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&tiny)
        .unwrap();
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, 500).unwrap();
    file.write_all_at(&[!byte[0]], 500).unwrap();
    drop(file);

    let trace = s.trace("after-flip");
    let stderr = s.run_to_end(&trace);
    let check = checked_line(&stderr);
    assert!(
        check.contains(", 1 hashed"),
        "only the tiny file's piece: {check}"
    );
    let mut requests = requests_sent(&trace);
    requests.sort();
    let wanted: Vec<Request> = blocks_of(s.total, MIB, [piece]).into_iter().collect();
    assert_eq!(
        requests, wanted,
        "each block of piece {piece} once, nothing else"
    );
    assert_eq!(verified_pieces(&stderr), [piece]);
    assert_same_tree(&s.published.payload, &s.downloaded());
}

/// smalltorrent seeding `files` in pieces of 2^`piece_log2`: the leechers `fetch` while it
/// runs; then it must stop cleanly having uploaded at least the payload.
fn seed_to(piece_log2: u32, files: &[(&str, u64)], fetch: impl FnOnce(&Published)) {
    let published = Published::files(piece_log2, files);
    let total: u64 = files.iter().map(|f| f.1).sum();
    let pieces = total.div_ceil(published.piece_len);
    let mut seeder = SmalltorrentPeer::seed(
        &published.tracker,
        &published.torrent,
        &published.data_dir,
        ip(2),
    );
    let checked = seeder.checked_line().unwrap_or_default();
    assert!(
        checked.contains(&format!("{pieces} of {pieces} pieces valid")),
        "{checked}\n{}",
        seeder.report()
    );
    fetch(&published);
    let stopped = seeder.interrupt(secs(10));
    assert!(stopped.status.success(), "{}", seeder.report());
    let uploaded = stopped.uploaded.unwrap_or_default();
    assert!(
        uploaded >= total,
        "the only seeder uploaded {uploaded} bytes of a {total} byte payload"
    );
}

#[test]
fn libtorrent_downloads_16_kib_pieces_from_smalltorrent() {
    seed_to(14, SMALL_PIECES, |p| {
        let out = p.dir.path().join("libtorrent");
        lt_download(&p.torrent, &out, ip(3), secs(120));
        assert_same_tree(&p.payload, &out.join("tree"));
    });
}

#[test]
fn libtorrent_and_aria2_download_16_mib_pieces_from_smalltorrent() {
    seed_to(24, BIG_PIECES, |p| {
        let lt_out = p.dir.path().join("libtorrent");
        let mut libtorrent = LibtorrentLeecher::start(&p.torrent, &lt_out, ip(3), None);
        let aria2_out = p.dir.path().join("aria2");
        aria2_download(&p.torrent, &aria2_out, ip(4), secs(120));
        assert_same_tree(&p.payload, &aria2_out.join("tree"));
        libtorrent.wait_done(secs(120));
        assert_same_tree(&p.payload, &lt_out.join("tree"));
    });
}

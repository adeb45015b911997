//! Large torrents in bounded memory, against a real libtorrent seeder on loopback: a sparse
//! torrent past 4 GiB with 10,000 small files, fetched in part while its private memory
//! and its mapped windows are sampled; and a torrent of 10,000 files, fetched whole.
//!
//! The payloads are sparse: holes, with real bytes around the 4 GiB offset, at the end of
//! the big file and in every small file, so the data is not all zeros where it matters
//! and the disk holds a few tens of MiB (smalltorrent's own copy of the big file is
//! reserved with posix_fallocate: unwritten extents, instant on ext4, and deleted after).

mod support;

use ::smalltorrent::bitfield::Bitfield;
use ::smalltorrent::metainfo::{FileEntry, Metainfo};
use ::smalltorrent::resume::{self, Resume};
use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use support::*;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
/// 4 MiB pieces for the big torrent (what `create` picks for its size).
const PIECE: u64 = 4 * MIB;
/// The big file: past 4 GiB by 24 MiB.
const BIG: u64 = 4 * GIB + 24 * MIB;
const SMALL_FILES: u64 = 10_000;
/// The bound on smalltorrent's private memory while it downloads. What fills it: about
/// 1 KiB of bookkeeping per file (metainfo, storage, resume stamps: 10 MiB here), the
/// saver's queue (8 MiB at most), the peer's buffers and a resume record being encoded.
/// The mapped files are not in it (they are page cache, RssFile).
const RSS_ANON_BOUND: u64 = 32 * MIB;
/// Storage's default window cache (see `storage::WindowLimits`), plus one window per
/// thread that may be copying from an evicted one (four is generous on loopback).
const MAPPED_BOUND: u64 = (16 + 4) * 64 * MIB;

/// `root/files/NN/NNNN.bin`: 10,000 files of 1,000 to 3,999 bytes (25 MB), 100 per folder.
fn make_small_files(root: &Path) {
    for i in 0..SMALL_FILES {
        let folder = root.join(format!("files/{:02}", i / 100));
        if i % 100 == 0 {
            fs::create_dir_all(&folder).unwrap();
        }
        let size = 1000 + (i * 7919) % 3000;
        fs::write(folder.join(format!("{i:04}.bin")), noise(size, i)).unwrap();
    }
}

/// `root/big.bin`, sparse, with noise in 3 MiB either side of 4 GiB and in its last 2 MiB.
fn make_big_file(root: &Path) {
    fs::create_dir_all(root).unwrap();
    let big = File::create(root.join("big.bin")).unwrap();
    big.set_len(BIG).unwrap();
    big.write_all_at(&noise(6 * MIB, 1), 4 * GIB - 3 * MIB)
        .unwrap();
    big.write_all_at(&noise(2 * MIB, 2), BIG - 2 * MIB).unwrap();
}

/// The parts of the byte stream `make_big_file` and `make_small_files` wrote; the rest is
/// holes.
fn data_regions() -> [std::ops::Range<u64>; 3] {
    [
        4 * GIB - 3 * MIB..4 * GIB + 3 * MIB,
        BIG - 2 * MIB..BIG,
        BIG..u64::MAX, // the small files
    ]
}

/// `smalltorrent create`'s torrent for `source` (its layout and `create::build`), with the
/// piece hashes computed the quick way: a piece that lies in holes only is all zeros, so
/// its hash is the zero piece's; only pieces with data are read. (mktorrent or `create`
/// would read 4 GiB of holes, about a minute on a busy 2-core machine.) The libtorrent
/// seeder checks every piece it serves against these hashes.
fn sparse_torrent(source: &Path, announce: &str, dir: &Path) -> PathBuf {
    use ::smalltorrent::extras::create::{self, Extras};
    use sha1::{Digest, Sha1};
    let layout = create::scan(source, true).unwrap();
    let files: Vec<FileEntry> = layout
        .files
        .iter()
        .scan(0, |offset, file| {
            let entry = FileEntry {
                path: file.path.iter().collect(),
                length: file.length,
                offset: *offset,
                kind: ::smalltorrent::metainfo::FileKind::Regular,
            };
            *offset += file.length;
            Some(entry)
        })
        .collect();
    let zero_piece: [u8; 20] = Sha1::digest(vec![0u8; PIECE as usize]).into();
    let hashes: Vec<[u8; 20]> = (0..layout.total_length.div_ceil(PIECE))
        .map(|piece| {
            let range = piece * PIECE..((piece + 1) * PIECE).min(layout.total_length);
            let has_data = data_regions()
                .iter()
                .any(|r| r.start < range.end && range.start < r.end);
            if has_data || range.end - range.start < PIECE {
                Sha1::digest(stream(source, &files, range)).into()
            } else {
                zero_piece
            }
        })
        .collect();
    let extras = Extras {
        trackers: vec![announce.to_string()],
        ..Extras::default()
    };
    let torrent = dir.join("large.torrent");
    fs::write(
        &torrent,
        create::build(&layout, PIECE as u32, &hashes, &extras),
    )
    .unwrap();
    torrent
}

/// The bytes `range` of a torrent's byte stream, read from the files under `root`.
fn stream(root: &Path, files: &[FileEntry], range: std::ops::Range<u64>) -> Vec<u8> {
    let mut out = Vec::with_capacity((range.end - range.start) as usize);
    for entry in files {
        let (start, end) = (entry.offset, entry.offset + entry.length);
        let (from, to) = (range.start.max(start), range.end.min(end));
        if from >= to {
            continue;
        }
        let mut part = vec![0; (to - from) as usize];
        let path = root.join(&entry.path);
        File::open(&path)
            .and_then(|f| f.read_exact_at(&mut part, from - start))
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        out.extend_from_slice(&part);
    }
    out
}

/// Peaks seen in `/proc/PID/status` and `/proc/PID/maps` while a process runs.
#[derive(Default)]
struct Peaks {
    rss_anon: AtomicU64,
    rss_file: AtomicU64,
    /// Bytes of the process's mappings of files under the download folder.
    mapped: AtomicU64,
    /// Open file descriptors (sockets included).
    fds: AtomicU64,
    samples: AtomicU64,
}

/// Samples process `pid` every 10 ms until `stop` is set.
fn sample(pid: u32, under: PathBuf, peaks: Arc<Peaks>, stop: Arc<AtomicBool>) {
    let kib = |status: &str, key: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        line.split_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()
            .map(|k| k * 1024)
    };
    let under = under.to_string_lossy().into_owned();
    while !stop.load(Ordering::Relaxed) {
        let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let maps = fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
        if let (Some(anon), Some(file)) = (kib(&status, "RssAnon:"), kib(&status, "RssFile:")) {
            let mapped: u64 = maps
                .lines()
                .filter(|l| l.contains(&under))
                .filter_map(|l| {
                    let (start, end) = l.split_whitespace().next()?.split_once('-')?;
                    let start = u64::from_str_radix(start, 16).ok()?;
                    Some(u64::from_str_radix(end, 16).ok()? - start)
                })
                .sum();
            peaks.rss_anon.fetch_max(anon, Ordering::Relaxed);
            peaks.rss_file.fetch_max(file, Ordering::Relaxed);
            peaks.mapped.fetch_max(mapped, Ordering::Relaxed);
            let fds = fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
            peaks.fds.fetch_max(fds as u64, Ordering::Relaxed);
            peaks.samples.fetch_add(1, Ordering::Relaxed);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// What one sampled run showed.
struct Run {
    stderr: String,
    peaks: Peaks,
    /// From the start to its `listening on` line: the files are open by then.
    ready: Duration,
    elapsed: Duration,
}

/// Runs smalltorrent to the end on `torrent` into `out` from `peer`, sampling it. Panics
/// (with its output) unless it exits 0 within `timeout`.
fn run_sampled(torrent: &Path, out: &Path, peer: &str, timeout: Duration) -> Run {
    let started = Instant::now();
    let mut cmd = smalltorrent_command([
        torrent.as_os_str(),
        "-d".as_ref(),
        out.as_os_str(),
        "--peer".as_ref(),
        peer.as_ref(),
    ]);
    cmd.env(
        "RUST_LOG",
        "smalltorrent::download=info,smalltorrent::resume=debug",
    );
    let mut client = Proc::spawn("smalltorrent", cmd);
    let peaks = Arc::new(Peaks::default());
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (pid, under) = (client.pid(), out.to_path_buf());
        let (peaks, stop) = (peaks.clone(), stop.clone());
        std::thread::spawn(move || sample(pid, under, peaks, stop))
    };
    let listening = client.try_wait_until(timeout, "its listening line", |c| {
        c.stderr().contains("listening on")
    });
    let ready = started.elapsed();
    let status = listening.and_then(|()| client.wait_exit(timeout));
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let status = status.unwrap_or_else(|why| panic!("{why}"));
    assert!(status.success(), "{}", client.report());
    Run {
        stderr: client.stderr(),
        peaks: Arc::try_unwrap(peaks).unwrap_or_default(),
        ready,
        elapsed: started.elapsed(),
    }
}

/// No descriptor is kept per file: a window's file is closed once it is mapped.
fn assert_few_descriptors(peaks: &Peaks) {
    let fds = peaks.fds.load(Ordering::Relaxed);
    assert!(
        fds < 64,
        "{fds} descriptors open at once for a 10,000-file torrent"
    );
}

impl Run {
    fn report(&self, what: &str) {
        let mib = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64 / MIB as f64;
        eprintln!(
            "{what}: files open in {:.2} s, done in {:.1} s; peak RssAnon {:.1} MiB, \
             RssFile {:.1} MiB, mapped under the download folder {:.0} MiB, {} open \
             descriptors ({} samples)",
            self.ready.as_secs_f64(),
            self.elapsed.as_secs_f64(),
            mib(&self.peaks.rss_anon),
            mib(&self.peaks.rss_file),
            mib(&self.peaks.mapped),
            self.peaks.fds.load(Ordering::Relaxed),
            self.peaks.samples.load(Ordering::Relaxed)
        );
        for line in self.stderr.lines().filter(|l| l.contains("checked data")) {
            eprintln!("  {line}");
        }
    }
}

/// A 4 GiB + 24 MiB file and 10,000 small files (one torrent, 4 MiB pieces). smalltorrent
/// is told by a resume file that it already has most of the big file, so it fetches only
/// the pieces that matter here: those around the 4 GiB offset, the end of the big file
/// with every small file, and one piece in 64 across the whole big file (one in every
/// fourth 64 MiB window: 17 windows, one more than the cache keeps, so it evicts). Its
/// private memory stays under 32 MiB, its mappings under the window bound, and the pieces
/// it fetched are byte-identical to the seeder's (which checks each piece it serves
/// against the torrent's hashes, even in seed mode).
#[test]
fn a_sparse_torrent_past_4_gib_downloads_in_bounded_memory() {
    let mut tracker = Opentracker::start();
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("data/large");
    let started = Instant::now();
    make_big_file(&source);
    make_small_files(&source);
    let torrent = sparse_torrent(&source, &tracker.announce_url(), dir.path());
    tracker.allow(&torrent);
    eprintln!(
        "payload and torrent: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let meta = Metainfo::from_file(&torrent).unwrap();
    let pieces = meta.geometry().piece_count;
    let seeder = Seeder::libtorrent(
        &tracker,
        &torrent,
        source.parent().unwrap(),
        LtOptions {
            seed_mode: true,
            ..LtOptions::on(ip(2))
        },
    );
    eprintln!("seeder ready: {:.1} s", started.elapsed().as_secs_f64());

    // What smalltorrent must fetch; the resume file claims every other piece.
    let around_4_gib = (4 * GIB - 3 * MIB) / PIECE..=(4 * GIB + 3 * MIB) / PIECE;
    let wanted: Vec<u32> = (0..pieces)
        .filter(|&p| {
            around_4_gib.contains(&u64::from(p))
                || u64::from(p) >= (BIG - 2 * MIB) / PIECE
                || p % 64 == 0
        })
        .collect();
    let out = dir.path().join("out");
    let big = out.join("large/big.bin");
    fs::create_dir_all(big.parent().unwrap()).unwrap();
    File::create(&big).unwrap().set_len(BIG).unwrap();
    let mut claimed = Bitfield::new(pieces);
    for piece in (0..pieces).filter(|p| !wanted.contains(p)) {
        claimed.set(piece);
    }
    let resume_path = resume::path_for(&out, &meta.info_hash, &meta.files).unwrap();
    fs::create_dir_all(resume_path.parent().unwrap()).unwrap();
    let record = Resume {
        info_hash: meta.info_hash,
        unchecked: Bitfield::new(claimed.len()),
        unsynced: Bitfield::new(claimed.len()),
        boot_id: None,
        verified: claimed,
        files: resume::stamps(&out, &meta.files),
    };
    resume::save(&resume_path, &record).unwrap();

    let peer = seeder.addr().to_string();
    let run = run_sampled(&torrent, &out, &peer, secs(120));
    run.report(&format!("{} of {pieces} pieces past 4 GiB", wanted.len()));
    let (stderr, peaks) = (&run.stderr, &run.peaks);
    assert!(
        stderr.contains(&format!(
            "{} of {pieces} pieces valid",
            pieces as usize - wanted.len()
        )),
        "the resume file was trusted for the rest:\n{stderr}"
    );
    assert!(peaks.samples.load(Ordering::Relaxed) > 0, "sampled");
    let rss_anon = peaks.rss_anon.load(Ordering::Relaxed);
    assert!(
        rss_anon < RSS_ANON_BOUND,
        "peak RssAnon {rss_anon} bytes, over the {RSS_ANON_BOUND} bound"
    );
    let mapped = peaks.mapped.load(Ordering::Relaxed);
    assert!(
        mapped <= MAPPED_BOUND,
        "{mapped} bytes of the download mapped at once, over {MAPPED_BOUND}"
    );
    assert_few_descriptors(peaks);
    // The wanted pieces run to the end of the stream, so they hold every small file.
    for &piece in &wanted {
        let start = u64::from(piece) * PIECE;
        let range = start..(start + PIECE).min(meta.geometry().total_length);
        assert!(
            stream(source.parent().unwrap(), &meta.files, range.clone())
                == stream(&out, &meta.files, range),
            "piece {piece} differs from the seeder's"
        );
    }
}

/// 10,000 small files in 100 folders (25 MB, 64 KiB pieces): opening them all (create,
/// reserve, no descriptor kept) takes well under a second, and the download completes
/// with every file identical, in bounded memory.
#[test]
fn a_torrent_of_10000_files_opens_quickly_and_downloads() {
    let mut tracker = Opentracker::start();
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("data/files");
    let started = Instant::now();
    make_small_files(source.parent().unwrap());
    let torrent = mktorrent(
        &source,
        &tracker.announce_url(),
        16,
        &dir.path().join("files.torrent"),
    );
    tracker.allow(&torrent);
    eprintln!(
        "payload and torrent: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let seeder = Seeder::libtorrent(
        &tracker,
        &torrent,
        source.parent().unwrap(),
        LtOptions {
            seed_mode: true,
            ..LtOptions::on(ip(2))
        },
    );
    eprintln!("seeder ready: {:.1} s", started.elapsed().as_secs_f64());
    let out = dir.path().join("out");
    let peer = seeder.addr().to_string();
    let run = run_sampled(&torrent, &out, &peer, secs(90));
    run.report("10,000 files");
    assert_same_tree(&source, &out.join("files"));
    let rss_anon = run.peaks.rss_anon.load(Ordering::Relaxed);
    assert!(rss_anon < RSS_ANON_BOUND, "peak RssAnon {rss_anon} bytes");
    assert_few_descriptors(&run.peaks);
    assert!(
        run.ready < secs(20),
        "opening 10,000 files took {:?}\n{}",
        run.ready,
        run.stderr
    );
}

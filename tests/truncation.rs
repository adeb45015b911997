//! A file truncated by another program while smalltorrent hashes the data already on disk
//! (the check before a download resumes, and before `-s` seeds), end to end against a real
//! libtorrent seeder on loopback. Regression tests: such a run used to stop at once with
//! `disk error: ... was truncated while in use` and exit status 1. Now it says which file
//! was cut, restores it, counts only what is still there, fetches the rest and exits 0.
//!
//! How the truncation lands inside the check, every time: the payload is a sparse 1 GiB
//! file (holes, with real bytes at both ends), which takes a second or more to hash. The
//! test reads smalltorrent's `/proc/PID/maps` until a window of the file is mapped (only
//! the check maps one that early), stops the process (SIGSTOP), makes sure the check has
//! not yet mapped the window holding the file's last pieces, cuts those pieces off and lets
//! the process go on (SIGCONT). Should the check already be that far on a slow machine, the
//! run is killed and started again: no outcome is asserted for a run whose truncation did
//! not land inside the check.

mod support;

use ::smalltorrent::metainfo::Metainfo;
use ::smalltorrent::resume;
use ::smalltorrent::storage::WindowLimits;
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::process::send_signal;
use support::*;

const MIB: u64 = 1 << 20;
/// The payload: 1 GiB, mostly holes.
const SIZE: u64 = 1024 * MIB;
/// 1 MiB pieces: 1024 of them.
const PIECE_LOG2: u32 = 20;
const PIECE: u64 = 1 << PIECE_LOG2;
const PIECES: u32 = (SIZE / PIECE) as u32;
/// The other program cuts the file this much short: its last 4 pieces.
const CUT: u64 = 4 * PIECE;
/// Pseudo-random bytes at each end of the payload (holes between).
const EDGE: u64 = 8 * MIB;
/// Runs whose check ended before the test could stop it, at most.
const ATTEMPTS: u32 = 5;

/// A torrent of the payload, a libtorrent seeder for it, and smalltorrent's copy of it.
struct Setup {
    _dir: tempfile::TempDir,
    _tracker: Opentracker,
    seeder: Seeder,
    data: PathBuf,
    torrent: PathBuf,
    out: PathBuf,
}

fn setup() -> Setup {
    let mut tracker = Opentracker::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data/payload.bin");
    make_payload(&data);
    let torrent = mktorrent(
        &data,
        &tracker.announce_url(),
        PIECE_LOG2,
        &dir.path().join("t.torrent"),
    );
    tracker.allow(&torrent);
    let seeder = Seeder::libtorrent(
        &tracker,
        &torrent,
        data.parent().unwrap(),
        LtOptions {
            // Its own check of 1 GiB would only slow the test down.
            seed_mode: true,
            ..LtOptions::on(ip(2))
        },
    );
    let out = dir.path().join("out");
    make_payload(&out.join("payload.bin"));
    Setup {
        _dir: dir,
        _tracker: tracker,
        seeder,
        data,
        torrent,
        out,
    }
}

/// Writes the payload to `path`: `SIZE` bytes, holes except the first and last `EDGE`.
fn make_payload(path: &Path) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = File::create(path).unwrap();
    file.set_len(SIZE).unwrap();
    file.write_all_at(&noise(EDGE, 1), 0).unwrap();
    file.write_all_at(&noise(EDGE, 2), SIZE - EDGE).unwrap();
}

impl Setup {
    fn file(&self) -> PathBuf {
        self.out.join("payload.bin")
    }

    /// Starts smalltorrent on the torrent with `mode` (`-d DIR` or `-s DIR ...`) and cuts
    /// the file's last `CUT` bytes off while its check of the data on disk runs.
    fn start_and_cut_during_check(&self, mode: &[&str]) -> Proc {
        let peer = self.seeder.addr().to_string();
        for attempt in 1..=ATTEMPTS {
            let mut args = vec![self.torrent.to_str().unwrap(), "--peer", &peer];
            args.extend(mode);
            let mut cmd = smalltorrent_command(args);
            cmd.env(
                "RUST_LOG",
                "warn,smalltorrent::download=info,smalltorrent::block_saver=debug",
            );
            let mut client = Proc::spawn("smalltorrent", cmd);
            if stop_inside_check(&mut client, &self.file()) {
                File::options()
                    .write(true)
                    .open(self.file())
                    .unwrap()
                    .set_len(SIZE - CUT)
                    .unwrap();
                send_signal(client.pid(), "CONT");
                return client;
            }
            eprintln!("attempt {attempt}: the check was too far along when stopped; again");
            client.kill();
            let meta = Metainfo::from_file(&self.torrent).unwrap();
            let record = resume::path_for(&self.out, &meta.info_hash, &meta.files).unwrap();
            let _ = fs::remove_file(record);
        }
        panic!("in {ATTEMPTS} runs the check never ran long enough to be stopped inside");
    }
}

/// Waits until `client` maps a window of `file`, then stops it (SIGSTOP). True if it is
/// then inside its check, with the window holding byte `SIZE - CUT` not yet mapped (so
/// every piece from there on will be read after the cut).
fn stop_inside_check(client: &mut Proc, file: &Path) -> bool {
    let pid = client.pid();
    let deadline = Instant::now() + secs(60);
    while window_offsets(pid, file).is_empty() {
        assert!(
            client.exited().is_none() && Instant::now() < deadline,
            "smalltorrent never mapped {}\n{}",
            file.display(),
            client.report()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    send_signal(pid, "STOP");
    while !all_threads_stopped(pid) {
        std::thread::sleep(Duration::from_millis(1));
    }
    let window = WindowLimits::default().size;
    let last_window = (SIZE - CUT) / window * window;
    let checking = !thread_names(pid).iter().any(|name| name == "block-saver");
    checking && window_offsets(pid, file).iter().all(|&at| at < last_window)
}

/// The file offsets of the mappings of `file` in process `pid`.
fn window_offsets(pid: u32, file: &Path) -> Vec<u64> {
    let maps = fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    let file = file.to_str().unwrap();
    maps.lines()
        .filter(|line| line.ends_with(file))
        .filter_map(|line| u64::from_str_radix(line.split_whitespace().nth(2)?, 16).ok())
        .collect()
}

/// The names of the threads of process `pid`.
fn thread_names(pid: u32) -> Vec<String> {
    let tasks = fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    tasks
        .filter_map(|task| fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_string())
        .collect()
}

/// True once every thread of process `pid` is stopped (state `T` in its `stat`).
fn all_threads_stopped(pid: u32) -> bool {
    let tasks = fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    tasks.filter_map(Result::ok).all(|task| {
        let stat = fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // `pid (comm) S ...`: the state follows the last ')'.
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('T'))
    })
}

/// Pieces the run logged as verified ("piece N verified").
fn verified_in(stderr: &str) -> BTreeSet<u32> {
    verified_pieces(stderr).into_iter().collect()
}

/// Asserts the files hold the same bytes, comparing 1 MiB at a time (1 GiB each).
fn assert_same_bytes(expected: &Path, actual: &Path) {
    let (want, got) = (File::open(expected).unwrap(), File::open(actual).unwrap());
    let length = want.metadata().unwrap().len();
    assert_eq!(
        got.metadata().unwrap().len(),
        length,
        "{}",
        actual.display()
    );
    let (mut a, mut b) = (vec![0; MIB as usize], vec![0; MIB as usize]);
    for at in (0..length).step_by(MIB as usize) {
        want.read_exact_at(&mut a, at).unwrap();
        got.read_exact_at(&mut b, at).unwrap();
        assert!(a == b, "{} differs in the MiB at {at}", actual.display());
    }
}

/// What every run must show: exit 0; the cut reported during the check (before its result
/// line); the cut pieces, and only those, counted missing and fetched; identical bytes.
fn assert_repaired_and_complete(s: &Setup, client: &mut Proc) {
    let status = client
        .wait_exit(secs(120))
        .unwrap_or_else(|why| panic!("{why}"));
    assert_eq!(status.code(), Some(0), "{}", client.report());
    let stderr = client.stderr();
    let warned = stderr
        .find("payload.bin was truncated while in use")
        .unwrap_or_else(|| panic!("no report of the truncation\n{}", client.report()));
    let checked = stderr
        .find("checked data:")
        .unwrap_or_else(|| panic!("no result of the check\n{}", client.report()));
    assert!(warned < checked, "reported by the check\n{stderr}");
    let kept = PIECES - (CUT / PIECE) as u32;
    assert!(
        stderr[checked..].contains(&format!("{kept} of {PIECES} pieces valid")),
        "{stderr}"
    );
    assert_eq!(
        verified_in(&stderr),
        (kept..PIECES).collect(),
        "only the pieces cut off are fetched\n{stderr}"
    );
    assert_same_bytes(&s.data, &s.file());
}

/// `-d`: the download goes on and completes.
#[test]
fn a_file_truncated_during_the_check_before_a_download_is_restored_and_fetched() {
    let s = setup();
    let out = s.out.to_str().unwrap();
    let mut client = s.start_and_cut_during_check(&["-d", out, "-q"]);
    assert_repaired_and_complete(&s, &mut client);
}

/// `-s`: the pieces cut off are treated like pieces that fail the check: fetched from the
/// swarm, then seeded (`--seed-time 0` ends the run once complete).
#[test]
fn a_file_truncated_during_the_check_before_seeding_is_restored_and_fetched() {
    let s = setup();
    let out = s.out.to_str().unwrap();
    let mode = [
        "-s",
        out,
        "--seed-time",
        "0",
        "--bind",
        "127.0.0.3",
        "--port",
        "0",
    ];
    let mut client = s.start_and_cut_during_check(&mode);
    assert_repaired_and_complete(&s, &mut client);
}

//! Resume and durability, end to end against a real libtorrent seeder on loopback: kill -9
//! at random moments, clean Ctrl-C, resume files that must not be trusted, and data changed
//! while smalltorrent was stopped.

mod support;

use ::smalltorrent::bitfield::Bitfield;
use ::smalltorrent::resume::{self, Resume};
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};
use support::*;

const MIB: u64 = 1 << 20;
/// 256 KiB pieces.
const PIECE_LOG2: u32 = 18;
const PIECE: u64 = 1 << PIECE_LOG2;

/// A torrent, its source data, a seeder for it, and the folder smalltorrent downloads into.
struct Setup {
    _dir: tempfile::TempDir,
    _tracker: Opentracker,
    seeder: Seeder,
    data: PathBuf,
    torrent: PathBuf,
    out: PathBuf,
}

fn setup(size: u64, upload_rate: u32) -> Setup {
    let mut tracker = Opentracker::start();
    let dir = tempfile::tempdir().unwrap();
    let data = make_file(&dir.path().join("data"), "payload.bin", size, 7);
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
            upload_rate,
            ..LtOptions::on(ip(2))
        },
    );
    let out = dir.path().join("out");
    Setup {
        _dir: dir,
        _tracker: tracker,
        seeder,
        data,
        torrent,
        out,
    }
}

impl Setup {
    /// Starts smalltorrent logging every verified piece and the check of existing data.
    fn start(&self) -> Proc {
        let peer = self.seeder.addr().to_string();
        let mut cmd = smalltorrent_command([
            self.torrent.as_os_str(),
            "-d".as_ref(),
            self.out.as_os_str(),
            "-q".as_ref(),
            "--peer".as_ref(),
            peer.as_ref(),
        ]);
        cmd.env(
            "RUST_LOG",
            "smalltorrent::download=info,smalltorrent::block_saver=debug,\
             smalltorrent::resume=debug",
        );
        Proc::spawn("smalltorrent", cmd)
    }

    /// Runs smalltorrent to the end; returns its stderr.
    fn run_to_end(&self) -> String {
        let mut client = self.start();
        let status = client
            .wait_exit(secs(90))
            .unwrap_or_else(|why| panic!("{why}"));
        assert!(status.success(), "{}", client.report());
        client.stderr()
    }

    fn file(&self) -> PathBuf {
        self.out.join("payload.bin")
    }

    fn resume_path(&self) -> PathBuf {
        let meta = ::smalltorrent::metainfo::Metainfo::from_file(&self.torrent).unwrap();
        resume::path_for(&self.out, &meta.info_hash, &meta.files).unwrap()
    }

    /// The pieces recorded in the resume file (none if there is no usable one).
    fn recorded(&self) -> BTreeSet<u32> {
        resume::load(&self.resume_path())
            .map(|r| r.verified.pieces().collect())
            .unwrap_or_default()
    }

    /// Pieces whose bytes in the download equal the source.
    fn correct_on_disk(&self) -> BTreeSet<u32> {
        let (Ok(got), Ok(want)) = (fs::read(self.file()), fs::read(&self.data)) else {
            return BTreeSet::new();
        };
        let pieces = want.len().div_ceil(PIECE as usize);
        (0..pieces as u32)
            .filter(|&p| {
                let range = p as usize * PIECE as usize..((p as usize + 1) * PIECE as usize);
                let range = range.start..range.end.min(want.len());
                got.get(range.clone()) == Some(&want[range])
            })
            .collect()
    }
}

/// Pieces the run logged as verified ("piece N verified").
fn verified_in(stderr: &str) -> BTreeSet<u32> {
    verified_pieces(stderr).into_iter().collect()
}

/// How long each resume record of a run took, in ms ("... recorded in X ms").
fn record_times(stderr: &str) -> Vec<f64> {
    stderr
        .lines()
        .filter_map(|l| {
            l.split(" recorded in ")
                .nth(1)?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

/// The "checked data: ..." line of a run.
fn checked_line(stderr: &str) -> String {
    stderr
        .lines()
        .find_map(|l| l.find("checked data:").map(|at| l[at..].to_string()))
        .unwrap_or_default()
}

/// A small PRNG for the kill moments; the seed is printed so a failure can be replayed.
fn next(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *state >> 33
}

/// Kill -9 at 10 random moments in a row (after one clean Ctrl-C): every restart finishes
/// what is missing, re-downloads no piece that was recorded, and the final bytes match.
#[test]
fn kill_9_at_random_moments_then_finish() {
    let size = 32 * MIB;
    let s = setup(size, 2 * MIB as u32);
    let mut seed = std::env::var("RESUME_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("RESUME_SEED={seed}");

    // A clean Ctrl-C first: the next run trusts the resume file and hashes nothing.
    let mut client = s.start();
    client.wait_until(secs(30), "some pieces", |c| {
        verified_in(&c.stderr()).len() >= 3
    });
    let status = client.stop_with("INT", secs(30)).unwrap();
    assert_eq!(status.code(), Some(130), "{}", client.report());
    let mut ever: BTreeSet<u32> = verified_in(&client.stderr());
    assert_eq!(
        s.recorded(),
        ever,
        "a clean stop records every verified piece"
    );

    let mut clean_restart = true;
    for round in 1..=10 {
        let recorded = s.recorded();
        let on_disk = s.correct_on_disk();
        assert!(
            recorded.is_subset(&on_disk),
            "round {round}: recorded pieces not on disk: {:?}",
            recorded.difference(&on_disk).collect::<Vec<_>>()
        );
        let unrecorded = ever.difference(&recorded).count();
        let started = Instant::now();
        let mut client = s.start();
        let moment = Duration::from_millis(300 + next(&mut seed) % 2500);
        while started.elapsed() < moment && client.exited().is_none() {
            std::thread::sleep(Duration::from_millis(5));
        }
        client.kill();
        let stderr = client.stderr();
        let check = checked_line(&stderr);
        if clean_restart {
            assert!(check.contains(", 0 hashed"), "after Ctrl-C: {check}");
            clean_restart = false;
        }
        let now = verified_in(&stderr);
        let again: Vec<u32> = now.intersection(&ever).copied().collect();
        eprintln!(
            "round {round}: killed after {moment:?}; at start {} recorded, {unrecorded} \
             verified but unrecorded; {check}; verified {} pieces, re-downloaded {}",
            recorded.len(),
            now.len(),
            again.len()
        );
        assert!(
            again.len() <= unrecorded,
            "round {round}: re-downloaded {again:?}, more than the {unrecorded} unrecorded"
        );
        ever.extend(now);
    }
    let stderr = s.run_to_end();
    let again = verified_in(&stderr).intersection(&ever).count();
    let times = record_times(&stderr);
    eprintln!(
        "final run: {}; re-downloaded {again}; {} resume records, slowest {:.1} ms",
        checked_line(&stderr),
        times.len(),
        times.iter().cloned().fold(0.0, f64::max)
    );
    assert_same_tree(&s.data, &s.file());
}

/// Starts smalltorrent as [`Setup::start`] does, also writing a `--trace` transcript to
/// `trace`, so a test can count the requests it sends.
fn start_traced(s: &Setup, trace: &Path) -> Proc {
    let peer = s.seeder.addr().to_string();
    let mut cmd = smalltorrent_command([
        s.torrent.as_os_str(),
        "-d".as_ref(),
        s.out.as_os_str(),
        "-q".as_ref(),
        "--peer".as_ref(),
        peer.as_ref(),
        "--trace".as_ref(),
        trace.as_os_str(),
    ]);
    cmd.env(
        "RUST_LOG",
        "smalltorrent::download=info,smalltorrent::block_saver=debug",
    );
    Proc::spawn("smalltorrent (traced)", cmd)
}

/// Runs [`start_traced`] to a successful end; returns its stderr.
fn run_traced_to_end(s: &Setup, trace: &Path) -> String {
    let mut client = start_traced(s, trace);
    let status = client
        .wait_exit(secs(90))
        .unwrap_or_else(|why| panic!("{why}"));
    assert!(status.success(), "{}", client.report());
    client.stderr()
}

/// Issue 5: a resume after a clean Ctrl-C downloads nothing already verified. The second
/// run, traced, sends not one `request` for a piece the first run recorded, requests every
/// block of every other piece, and the bytes end up identical.
#[test]
fn after_ctrl_c_no_verified_piece_is_requested_again() {
    let size = 16 * MIB;
    let pieces = (size / PIECE) as u32;
    let s = setup(size, 4 * MIB as u32);
    let mut client = s.start();
    client.wait_until(secs(30), "8 verified pieces", |c| {
        verified_in(&c.stderr()).len() >= 8
    });
    let status = client.stop_with("INT", secs(30)).unwrap();
    assert_eq!(status.code(), Some(130), "{}", client.report());
    let recorded = s.recorded();
    assert_eq!(
        recorded,
        verified_in(&client.stderr()),
        "a clean stop records every verified piece"
    );
    let missing: BTreeSet<u32> = (0..pieces).filter(|p| !recorded.contains(p)).collect();
    assert!(!missing.is_empty(), "stopped too late: nothing left to do");

    let trace = s.out.with_file_name("second-run.jsonl");
    let stderr = run_traced_to_end(&s, &trace);
    let check = checked_line(&stderr);
    assert!(
        check.contains(&format!(
            "{} from the resume file, 0 hashed",
            recorded.len()
        )),
        "{check}"
    );
    let requests = requests_sent(&trace);
    let requested = pieces_of(&requests);
    eprintln!(
        "first run: {} of {pieces} pieces verified and recorded; second run: {check}; \
         {} requests for {} pieces",
        recorded.len(),
        requests.len(),
        requested.len()
    );
    let again: Vec<&u32> = requested.intersection(&recorded).collect();
    assert!(again.is_empty(), "requested again after Ctrl-C: {again:?}");
    assert_eq!(requested, missing, "every missing piece, and only those");
    let wanted = blocks_of(size, PIECE, missing.iter().copied());
    let distinct: BTreeSet<Request> = requests.iter().copied().collect();
    assert_eq!(distinct, wanted, "every block of the missing pieces");
    assert_eq!(verified_in(&stderr), missing);
    assert_same_tree(&s.data, &s.file());
}

/// Issue 5: one flipped byte in a finished file, while smalltorrent was stopped, costs that
/// piece alone: the traced rerun requests each of its 16 blocks once and nothing else.
#[test]
fn one_flipped_byte_fetches_that_piece_alone() {
    let size = 4 * MIB;
    let s = setup(size, 0);
    s.run_to_end();
    wait_until_mtime_can_change(&s.file());
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(s.file())
        .unwrap();
    let damaged = 11;
    let offset = u64::from(damaged) * PIECE + 12_345;
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, offset).unwrap();
    file.write_all_at(&[byte[0] ^ 0x01], offset).unwrap();
    drop(file);

    let trace = s.out.with_file_name("after-flip.jsonl");
    let stderr = run_traced_to_end(&s, &trace);
    let requests = requests_sent(&trace);
    eprintln!(
        "{}; {} requests after the flip",
        checked_line(&stderr),
        requests.len()
    );
    assert_eq!(pieces_of(&requests), BTreeSet::from([damaged]));
    let mut sorted = requests.clone();
    sorted.sort();
    let wanted: Vec<Request> = blocks_of(size, PIECE, [damaged]).into_iter().collect();
    assert_eq!(sorted, wanted, "each block of piece {damaged} exactly once");
    assert_eq!(verified_in(&stderr), BTreeSet::from([damaged]));
    assert_same_tree(&s.data, &s.file());
}

/// A resume file that is garbage, truncated or for another torrent is not trusted: the data
/// is hashed in full and the result is right.
#[test]
fn a_bad_resume_file_means_a_full_check() {
    let s = setup(4 * MIB, 0);
    s.run_to_end();
    let path = s.resume_path();
    let good = fs::read(&path).unwrap();
    let pieces = (4 * MIB / PIECE) as u32;
    let mut other = resume::load(&path).unwrap();
    other.info_hash = [0x55; 20];
    let bad: [(&str, Vec<u8>); 3] = [
        ("garbage", b"not a resume file at all".to_vec()),
        ("truncated", good[..good.len() / 2].to_vec()),
        ("another torrent", resume::encode(&other)),
    ];
    for (what, bytes) in bad {
        fs::write(&path, bytes).unwrap();
        let stderr = s.run_to_end();
        let check = checked_line(&stderr);
        assert!(
            check.contains(&format!("{pieces} of {pieces} pieces valid"))
                && check.contains(&format!("0 from the resume file, {pieces} hashed")),
            "{what}: {check}"
        );
        assert!(verified_in(&stderr).is_empty(), "{what}: nothing to fetch");
        assert_eq!(resume::load(&path).unwrap().verified.count(), pieces);
    }
    // A lying resume file (every piece, other mtimes) over damaged data is not trusted.
    let mut all = Bitfield::new(pieces);
    (0..pieces).for_each(|p| {
        all.set(p);
    });
    let damaged = fs::OpenOptions::new().write(true).open(s.file()).unwrap();
    damaged.write_all_at(b"!", 2 * PIECE + 9).unwrap();
    drop(damaged);
    let files = vec![None];
    resume::save(
        &path,
        &Resume {
            verified: all,
            files,
            ..other
        },
    )
    .unwrap();
    let stderr = s.run_to_end();
    assert_eq!(
        verified_in(&stderr),
        BTreeSet::from([2]),
        "{}",
        checked_line(&stderr)
    );
    assert_same_tree(&s.data, &s.file());
}

/// A completed file changed while smalltorrent was stopped (one byte, then truncated) is
/// noticed by its mtime and size: only the damaged pieces are fetched again.
#[test]
fn a_file_changed_while_stopped_is_rechecked() {
    let s = setup(4 * MIB, 0);
    s.run_to_end();
    let pieces = (4 * MIB / PIECE) as u32;

    std::thread::sleep(Duration::from_millis(20));
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(s.file())
        .unwrap();
    let offset = 5 * PIECE + 1000;
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, offset).unwrap();
    file.write_all_at(&[byte[0] ^ 0xff], offset).unwrap();
    drop(file);
    let stderr = s.run_to_end();
    let check = checked_line(&stderr);
    assert!(
        check.contains(&format!("{} of {pieces} pieces valid", pieces - 1)),
        "{check}"
    );
    assert_eq!(verified_in(&stderr), BTreeSet::from([5]), "{check}");
    assert_same_tree(&s.data, &s.file());

    // Truncated to half: the second half is fetched again.
    fs::OpenOptions::new()
        .write(true)
        .open(s.file())
        .unwrap()
        .set_len(2 * MIB)
        .unwrap();
    let stderr = s.run_to_end();
    let fetched = verified_in(&stderr);
    assert_eq!(
        fetched,
        (pieces / 2..pieces).collect(),
        "{}",
        checked_line(&stderr)
    );
    assert_same_tree(&s.data, &s.file());
}

/// `verify` reports a complete download, then a damaged one, with the documented exit code.
#[test]
fn verify_reports_per_file() {
    let s = setup(2 * MIB, 0);
    s.run_to_end();
    let args = |p: &Path| {
        [
            "verify".into(),
            s.torrent.clone().into_os_string(),
            "-d".into(),
            p.as_os_str().to_owned(),
        ]
    };
    let output = run_smalltorrent(args(&s.out), secs(30));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("payload.bin: complete"), "{text}");
    let file = fs::OpenOptions::new().write(true).open(s.file()).unwrap();
    file.write_all_at(b"x", 3).unwrap();
    let output = run_smalltorrent(args(&s.out), secs(30));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("payload.bin: 7 of 8 pieces"), "{text}");
    let output = run_smalltorrent(args(&s.out.join("nowhere")), secs(30));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("payload.bin: missing"), "{text}");
}

/// A file truncated by another program while smalltorrent writes into its map: the same
/// process says so, repairs the file, fetches again what was lost and finishes (exit 0)
/// with identical bytes; the resume file then lists every piece.
#[test]
fn a_file_truncated_while_running_is_reported_then_rechecked() {
    let s = setup(16 * MIB, 2 * MIB as u32);
    let mut client = s.start();
    client.wait_until(secs(30), "some pieces", |c| {
        verified_in(&c.stderr()).len() >= 2
    });
    fs::OpenOptions::new()
        .write(true)
        .open(s.file())
        .unwrap()
        .set_len(0)
        .unwrap();
    let status = client
        .wait_exit(secs(60))
        .unwrap_or_else(|why| panic!("{why}"));
    assert_eq!(status.code(), Some(0), "{}", client.report());
    let stderr = client.stderr();
    let (before, after) = stderr
        .split_once("was truncated while in use; rechecking it")
        .unwrap_or_else(|| panic!("no report of the truncation\n{}", client.report()));
    // Everything verified before the cut was lost with it, so it was fetched again.
    let lost = verified_in(before);
    let again = verified_in(after);
    assert!(
        !lost.is_empty() && lost.is_subset(&again),
        "lost {lost:?}, fetched again {again:?}"
    );
    assert!(
        after.contains("were lost and will be fetched again"),
        "{stderr}"
    );
    assert_same_tree(&s.data, &s.file());
    assert_eq!(s.recorded().len(), 64, "the resume file lists every piece");
    let stderr = s.run_to_end();
    assert!(
        checked_line(&stderr).contains("64 from the resume file, 0 hashed"),
        "{}",
        checked_line(&stderr)
    );
}

/// The last record of a run does not wait for the disk: it lists the pieces still only in
/// the page cache as `unsynced`, with this boot's id (the same boot trusts them: see the
/// Ctrl-C tests). After a restart (here: the boot id in the file changed, as a power cut
/// would leave it) exactly those pieces are hashed, and nothing is fetched again. A run
/// that finds everything complete flushes before its record, which then vouches for every
/// piece in any boot.
#[test]
fn unflushed_pieces_are_hashed_after_a_restart() {
    let s = setup(16 * MIB, 0);
    let stderr = s.run_to_end();
    assert_same_tree(&s.data, &s.file());
    let record = resume::load(&s.resume_path()).unwrap();
    assert_eq!(record.verified.count(), 64);
    let boot = fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    assert_eq!(record.boot_id.as_deref(), Some(boot.trim()), "{stderr}");
    let unsynced = record.unsynced.count();
    assert!(
        unsynced > 0,
        "a 16 MiB download ends well within the 30 s flush interval, so its last \
         record cannot have flushed everything"
    );

    let restart = |s: &Setup| {
        let record = resume::load(&s.resume_path()).unwrap();
        let other_boot = Resume {
            boot_id: Some("00000000-0000-0000-0000-000000000000".into()),
            ..record
        };
        resume::save(&s.resume_path(), &other_boot).unwrap();
    };
    restart(&s);
    let after_restart = s.run_to_end();
    let check = checked_line(&after_restart);
    assert!(
        check.contains(&format!(
            "64 of 64 pieces valid (100.0%); {} from the resume file, {unsynced} hashed",
            64 - unsynced
        )) && check.contains("not yet flushed to disk when recorded"),
        "{check}"
    );
    assert!(verified_in(&after_restart).is_empty(), "nothing is fetched");
    assert_eq!(resume::load(&s.resume_path()).unwrap().unsynced.count(), 0);

    restart(&s);
    let check = checked_line(&s.run_to_end());
    assert!(
        check.contains("64 from the resume file, 0 hashed"),
        "{check}"
    );
}

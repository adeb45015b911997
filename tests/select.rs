//! `--select`: downloading some files of a torrent from a real libtorrent seeder, widening
//! the selection in a second run (which reuses the bytes kept in part files), seeding a
//! selection, and the command-line errors.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::*;

/// mktorrent's smallest pieces: 32 KiB.
const PIECE_LOG2: u32 = 15;

/// Files 1 to 4 in torrent order (mktorrent sorts by path), over 11 pieces of 32 KiB:
/// a [0, 100003) b [100003, 150004) c [150004, 153004) d [153004, 353004). With b and d
/// selected the wanted pieces are 3 to 10; piece 3 holds a's tail, piece 4 all of c.
const FILES: [(&str, u64); 4] = [
    ("a.bin", 100_003),
    ("b.bin", 50_001),
    ("c.bin", 3_000),
    ("d.bin", 200_000),
];

struct Swarm {
    dir: tempfile::TempDir,
    tracker: Opentracker,
    _seeder: Seeder,
    torrent: PathBuf,
    data: PathBuf,
}

fn swarm() -> Swarm {
    let mut tracker = Opentracker::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for (seed, (name, size)) in (1..).zip(FILES) {
        make_file(&data.join("set"), name, size, seed);
    }
    let torrent = mktorrent(
        &data.join("set"),
        &tracker.announce_url(),
        PIECE_LOG2,
        &dir.path().join("set.torrent"),
    );
    tracker.allow(&torrent);
    let seeder = Seeder::libtorrent(&tracker, &torrent, &data, LtOptions::on(ip(2)));
    Swarm {
        dir,
        tracker,
        _seeder: seeder,
        torrent,
        data,
    }
}

impl Swarm {
    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    /// Downloads with `--select LIST` (and RUST_LOG=info); returns stderr once it exits 0.
    fn download(&self, list: &str, out: &Path) -> String {
        let mut cmd = smalltorrent_command([
            self.torrent.as_os_str(),
            "-d".as_ref(),
            out.as_os_str(),
            "--select".as_ref(),
            list.as_ref(),
            "--bind".as_ref(),
            "127.0.0.3".as_ref(),
            "--port".as_ref(),
            "0".as_ref(),
        ]);
        cmd.env("RUST_LOG", "info");
        let mut proc = Proc::spawn("smalltorrent --select", cmd);
        let status = proc
            .wait_exit(Duration::from_secs(120))
            .unwrap_or_else(|why| panic!("{why}"));
        assert!(status.success(), "exit {status}:\n{}", proc.report());
        proc.stderr()
    }

    fn same(&self, out: &Path, name: &str) {
        let want = fs::read(self.data.join("set").join(name)).unwrap();
        let got = fs::read(out.join("set").join(name))
            .unwrap_or_else(|e| panic!("{name} was not downloaded: {e}"));
        assert!(want == got, "{name} differs from the seeder's");
    }
}

/// The names of the part files kept for the torrent.
fn part_files(out: &Path, torrent: &Path) -> Vec<String> {
    let dir = out
        .join(".smalltorrent")
        .join(format!("{}.parts", info_hash_hex(torrent)));
    let mut names: Vec<String> = match fs::read_dir(&dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

#[test]
fn only_the_selected_files_are_downloaded_and_a_wider_selection_reuses_the_kept_bytes() {
    let swarm = swarm();
    let out = swarm.out();
    let first = swarm.download("2,4", &out);
    swarm.same(&out, "b.bin");
    swarm.same(&out, "d.bin");
    // The others are never created; their bytes in pieces 3 and 4 wait in part files.
    assert!(!out.join("set/a.bin").exists(), "a.bin was created");
    assert!(!out.join("set/c.bin").exists(), "c.bin was created");
    assert_eq!(part_files(&out, &swarm.torrent), ["1.tail", "3.head"]);
    let tail = fs::read(
        out.join(".smalltorrent")
            .join(format!("{}.parts/1.tail", info_hash_hex(&swarm.torrent))),
    )
    .unwrap();
    let a = fs::read(swarm.data.join("set/a.bin")).unwrap();
    assert_eq!(tail, a[3 * 32768..], "a's tail as the seeder has it");
    assert!(first.contains("done:"), "{first}");
    // `verify` knows the selection: the part files complete pieces 3 and 4.
    let verify = |extra: &[&str]| {
        let mut args: Vec<std::ffi::OsString> =
            vec!["verify".into(), swarm.torrent.clone().into(), "-d".into()];
        args.push(out.clone().into());
        args.extend(extra.iter().map(std::ffi::OsString::from));
        let output = run_smalltorrent(args, secs(30));
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        (output.status.code(), text)
    };
    let (code, text) = verify(&["--select", "2,4"]);
    assert_eq!(code, Some(0), "{text}");
    for line in [
        "set/a.bin: not selected",
        "set/b.bin: complete",
        "set/c.bin: not selected",
        "set/d.bin: complete",
        "pieces: 8 of 8 selected valid (100.0%)",
    ] {
        assert!(text.contains(line), "no '{line}' in:\n{text}");
    }
    let (code, text) = verify(&[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("set/a.bin: missing"), "{text}");

    // Wider: a, b and c. a and c take their edges from the part files, so pieces 3 and 4
    // are valid before anything is fetched (b and d are on disk); 0, 1 and 2 are fetched.
    let second = swarm.download("1-3", &out);
    for name in ["a.bin", "b.bin", "c.bin", "d.bin"] {
        swarm.same(&out, name);
    }
    assert!(
        second.contains("moved 2 kept part(s) into files selected now"),
        "{second}"
    );
    assert!(
        second.contains("checked data: 2 of 5 pieces valid"),
        "the kept bytes were not used:\n{second}"
    );
    assert!(part_files(&out, &swarm.torrent).is_empty());
}

#[test]
fn a_seeder_of_a_selection_serves_what_it_has_and_says_so() {
    let swarm = swarm();
    let out = swarm.out();
    swarm.download("2,4", &out);
    let mut seeder = SmalltorrentPeer::seed_logged(
        &swarm.tracker,
        &swarm.torrent,
        &out,
        ip(4),
        &["--select", "2,4"],
        "info",
    );
    let checked = seeder.checked_line().unwrap_or_default();
    assert!(
        checked.contains("8 of 8 pieces valid") && checked.contains("(--select: 2 of 4 files)"),
        "{checked}"
    );
    // A second smalltorrent takes d (pieces 4 to 10) from it alone: its copy of the
    // torrent names no tracker, so it cannot find libtorrent.
    let addr = seeder.wait_listening(Duration::from_secs(10));
    let leech = swarm.dir.path().join("leech");
    let alone = without_trackers(&swarm.torrent, &swarm.dir.path().join("alone.torrent"));
    let output = run_smalltorrent(
        [
            alone.as_os_str(),
            "-d".as_ref(),
            leech.as_os_str(),
            "--select".as_ref(),
            "4".as_ref(),
            "--peer".as_ref(),
            addr.to_string().as_ref(),
        ],
        Duration::from_secs(120),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    swarm.same(&leech, "d.bin");
    assert!(!leech.join("set/b.bin").exists());
    let stopped = seeder.interrupt(Duration::from_secs(10));
    assert!(
        stopped.uploaded.unwrap_or(0) >= 200_000,
        "{}",
        stopped.stderr
    );
}

#[test]
fn a_bad_selection_is_a_usage_error_and_creates_nothing() {
    let swarm = swarm();
    let out = swarm.out();
    for (list, says) in [
        ("2,9", "the torrent has 4 file(s), there is no file 9"),
        ("3-1", "the range '3-1' is backwards"),
        ("0", "files are numbered from 1"),
        ("x", "'x' is not a file number"),
    ] {
        let output = run_smalltorrent(
            [
                swarm.torrent.as_os_str(),
                "-d".as_ref(),
                out.as_os_str(),
                "--select".as_ref(),
                list.as_ref(),
            ],
            Duration::from_secs(30),
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "--select {list}: {stderr}");
        assert!(stderr.contains(says), "--select {list}: {stderr}");
        assert!(!out.join("set").exists(), "--select {list} created files");
    }
}

#[test]
fn info_numbers_the_files_as_select_counts_them() {
    let swarm = swarm();
    let output = run_smalltorrent(["info".as_ref(), swarm.torrent.as_os_str()], secs(10));
    let text = String::from_utf8_lossy(&output.stdout);
    for (number, (name, _)) in (1..).zip(FILES) {
        let line = text
            .lines()
            .find(|line| line.ends_with(&format!("set/{name}")))
            .unwrap_or_else(|| panic!("no line for {name}:\n{text}"));
        assert!(
            line.trim_start().starts_with(&format!("{number} ")),
            "{line}"
        );
    }
}

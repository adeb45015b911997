//! `smalltorrent create`: the torrents it makes load in smalltorrent, libtorrent,
//! Transmission and aria2, and real clients move the data with them.
//!
//! Round trips through `smalltorrent info --json` and `Metainfo::from_file`; the info-hash
//! against libtorrent's and mktorrent's; the magnet link against libtorrent's; a libtorrent seeder and a Transmission seeder
//! serving OUR torrent to an aria2c leecher, byte for byte.
//!
//! `real_clients_download_our_torrent_from_a_smalltorrent_seeder` closes the loop: our
//! torrent, seeded by smalltorrent, downloaded by libtorrent, aria2c and Transmission.

mod support;

use ::smalltorrent::magnet::Magnet;
use ::smalltorrent::metainfo::{Metainfo, hex};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::*;

/// Runs `smalltorrent create ARGS` in `cwd` and returns its output.
fn create_in(cwd: &Path, args: &[&OsStr]) -> Output {
    let program = env!("CARGO_BIN_EXE_smalltorrent");
    let output = Command::new(program)
        .current_dir(cwd)
        .arg("create")
        .args(args)
        .output()
        .expect("run smalltorrent create");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    output
}

/// `create` that must succeed; returns the torrent path (`-o OUT`).
fn create(path: &Path, out: &Path, extra: &[&str]) -> PathBuf {
    let mut args: Vec<&OsStr> = vec![path.as_os_str(), "-o".as_ref(), out.as_os_str()];
    args.extend(extra.iter().map(OsStr::new));
    let output = create_in(path.parent().unwrap(), &args);
    assert!(output.status.success(), "create failed: {output:?}");
    out.to_path_buf()
}

/// What libtorrent says the info-hash is.
fn libtorrent_info_hash(torrent: &Path) -> String {
    let script = "import sys, libtorrent as lt; print(lt.torrent_info(sys.argv[1]).info_hash())";
    let output = Command::new(PYTHON)
        .args(["-c", script])
        .arg(torrent)
        .output()
        .expect("run python3 with libtorrent");
    assert!(output.status.success(), "libtorrent refused: {output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

fn info_json(torrent: &Path) -> String {
    let args = [OsStr::new("info"), "--json".as_ref(), torrent.as_os_str()];
    let output = run_smalltorrent(args, secs(10));
    assert!(output.status.success(), "info failed: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// What libtorrent reads from a magnet link: info-hash, name, then one tracker a line.
fn libtorrent_reads_magnet(uri: &str) -> Vec<String> {
    let script = "import sys, libtorrent as lt\n\
                  p = lt.parse_magnet_uri(sys.argv[1])\n\
                  print(p.info_hashes.v1); print(p.name); print('\\n'.join(p.trackers))";
    let output = Command::new(PYTHON)
        .args(["-c", script, uri])
        .output()
        .expect("run python3 with libtorrent");
    assert!(
        output.status.success(),
        "libtorrent refused {uri}: {output:?}"
    );
    let text = String::from_utf8(output.stdout).unwrap();
    text.lines().map(String::from).collect()
}

/// The magnet link libtorrent makes for a torrent file.
fn libtorrent_magnet(torrent: &Path) -> String {
    let script = "import sys, libtorrent as lt\n\
                  print(lt.make_magnet_uri(lt.torrent_info(sys.argv[1])))";
    let output = Command::new(PYTHON)
        .args(["-c", script])
        .arg(torrent)
        .output()
        .expect("run python3 with libtorrent");
    assert!(output.status.success(), "libtorrent refused: {output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// The data tree of [`make_tree`] plus a hidden file and a hidden folder.
fn tree_with_hidden(dir: &Path) -> PathBuf {
    let root = make_tree(dir);
    make_file(&root, ".hidden", 777, 7);
    make_file(&root, "docs/.cache/x", 5, 8);
    root
}

#[test]
fn a_single_file_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let data = make_file(&dir.path().join("data"), "movie.bin", 3_000_001, 1);
    let torrent = create(
        &data,
        &dir.path().join("movie.torrent"),
        &["-t", "http://127.0.0.1:1/announce", "--comment", "hi", "-q"],
    );
    let meta = Metainfo::from_file(&torrent).unwrap();
    assert_eq!(meta.name, "movie.bin");
    assert!(!meta.multi_file && !meta.private);
    assert_eq!((meta.total_length, meta.piece_length), (3_000_001, 16384));
    assert_eq!(meta.files.len(), 1);
    assert!(
        meta.created_by
            .as_deref()
            .unwrap()
            .starts_with("smalltorrent ")
    );
    assert!(meta.creation_date.is_some_and(|date| date > 1_600_000_000));
    assert_eq!(libtorrent_info_hash(&torrent), meta.info_hash_hex());

    let json = info_json(&torrent);
    assert!(json.contains("\"name\": \"movie.bin\""), "{json}");
    assert!(json.contains("\"total_length\": 3000001"), "{json}");
    assert!(json.contains("\"comment\": \"hi\""), "{json}");
    assert!(json.contains(&meta.info_hash_hex()), "{json}");
}

#[test]
fn a_folder_keeps_nested_empty_and_hidden_files_and_matches_mktorrent() {
    let dir = tempfile::tempdir().unwrap();
    let root = tree_with_hidden(&dir.path().join("data"));
    let torrent = create(
        &root,
        &dir.path().join("ours.torrent"),
        &["--piece-size", "32K"],
    );
    let meta = Metainfo::from_file(&torrent).unwrap();
    let files: Vec<(String, u64)> = meta
        .files
        .iter()
        .map(|file| (file.path.display().to_string(), file.length))
        .collect();
    let expected = [
        ("tree/.hidden", 777),
        ("tree/0-empty-first", 0),
        ("tree/a.bin", 100_003),
        ("tree/docs/.cache/x", 5),
        ("tree/docs/deeper/still/deeper.bin", 65_536),
        ("tree/docs/deeper/still/empty", 0),
        ("tree/docs/readme.txt", 1_234),
        ("tree/m/big.bin", 2_500_007),
        ("tree/m/one-byte", 1),
        ("tree/m/unaligned.bin", 16_383),
        ("tree/z-empty-last", 0),
    ];
    let expected: Vec<(String, u64)> = expected.iter().map(|(p, n)| (p.to_string(), *n)).collect();
    assert_eq!(files, expected);
    assert_eq!(libtorrent_info_hash(&torrent), meta.info_hash_hex());

    // mktorrent lays the same files out the same way: the `info` dictionaries are equal.
    let theirs = mktorrent(&root, "http://x/a", 15, &dir.path().join("theirs.torrent"));
    assert_eq!(hex(&info_hash(&theirs)), meta.info_hash_hex());

    let json = info_json(&torrent);
    assert!(json.contains("\"path\": \"tree/docs/.cache/x\""), "{json}");
    assert!(json.contains("\"multi_file\": true"), "{json}");
}

/// `create` prints the new torrent's magnet link on stdout, `-q` or not; libtorrent reads
/// it as the torrent it made, and our parser reads libtorrent's link the same way.
#[test]
fn create_prints_a_magnet_link_that_libtorrent_reads_as_the_torrent() {
    let dir = tempfile::tempdir().unwrap();
    let data = make_file(&dir.path().join("data"), "two words & more.bin", 70_000, 4);
    let trackers = ["http://127.0.0.1:1/announce?key=a%2Fb", "udp://127.0.0.1:2"];
    let torrent = dir.path().join("t.torrent");
    let mut args: Vec<&OsStr> = vec![data.as_os_str(), "-o".as_ref(), torrent.as_os_str()];
    for tracker in trackers {
        args.extend([OsStr::new("-t"), OsStr::new(tracker)]);
    }
    let loud = create_in(dir.path(), &args);
    assert!(loud.status.success(), "{loud:?}");
    args.extend([OsStr::new("--force"), OsStr::new("-q")]);
    let quiet = create_in(dir.path(), &args);
    assert!(
        quiet.status.success() && quiet.stderr.is_empty(),
        "{quiet:?}"
    );

    let meta = Metainfo::from_file(&torrent).unwrap();
    let stdout = String::from_utf8(quiet.stdout).unwrap();
    assert_eq!(String::from_utf8(loud.stdout).unwrap(), stdout);
    let link = stdout.trim_end();
    assert!(
        link.starts_with("magnet:?xt=urn:btih:") && !link.contains('\n'),
        "{stdout}"
    );
    let ours = Magnet::parse(link).unwrap();
    assert_eq!(ours.info_hash, meta.info_hash);
    assert_eq!(ours.name.as_deref(), Some("two words & more.bin"));
    assert_eq!(ours.trackers, trackers);

    let mut expected = vec![meta.info_hash_hex(), meta.name.clone()];
    expected.extend(trackers.map(String::from));
    assert_eq!(libtorrent_reads_magnet(link), expected);
    assert_eq!(Magnet::parse(&libtorrent_magnet(&torrent)).unwrap(), ours);
}

#[test]
fn no_hidden_skips_dot_files_and_folders() {
    let dir = tempfile::tempdir().unwrap();
    let root = tree_with_hidden(&dir.path().join("data"));
    std::os::unix::fs::symlink(root.join("a.bin"), root.join("link")).unwrap();
    let torrent = dir.path().join("t.torrent");
    let args = [
        root.as_os_str(),
        "-o".as_ref(),
        torrent.as_os_str(),
        "--no-hidden".as_ref(),
    ];
    let output = create_in(dir.path(), &args);
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("warning: skipping") && stderr.contains("link"),
        "{stderr}"
    );
    let meta = Metainfo::from_file(&torrent).unwrap();
    assert_eq!(meta.files.len(), 9);
    assert!(meta.files.iter().all(|file| {
        let text = file.path.display().to_string();
        !text.contains("/.") && !text.ends_with("link")
    }));
}

#[test]
fn the_default_output_is_name_dot_torrent_and_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let data = make_file(dir.path(), "song.ogg", 50_000, 3);
    let run = |extra: &[&str]| {
        let mut args = vec![data.as_os_str(), "-q".as_ref()];
        args.extend(extra.iter().map(OsStr::new));
        create_in(dir.path(), &args)
    };
    assert!(run(&[]).status.success());
    let first = std::fs::read(dir.path().join("song.ogg.torrent")).unwrap();
    let again = run(&[]);
    assert_eq!(again.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("already exists") && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("song.ogg.torrent")).unwrap(),
        first
    );
    assert!(run(&["--force", "--private"]).status.success());
    let meta = Metainfo::from_file(&dir.path().join("song.ogg.torrent")).unwrap();
    assert!(meta.private);
}

#[test]
fn bad_arguments_and_paths_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let data = make_file(dir.path(), "f", 10, 3);
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["--piece-size", "1000"],
            2,
            "--piece-size 1000: smaller than 16 KiB",
        ),
        (
            &["--piece-size", "48K"],
            2,
            "--piece-size 48K: not a power of two",
        ),
        (
            &["--piece-size", "2G"],
            2,
            "expected a size such as 16384, 256K or 1M",
        ),
        (
            &["-t", "example.org"],
            2,
            "'example.org' is not a tracker URL",
        ),
    ];
    for (extra, code, message) in cases {
        let mut args = vec![data.as_os_str()];
        args.extend(extra.iter().map(OsStr::new));
        let output = create_in(dir.path(), &args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(*code), "{extra:?}: {stderr}");
        assert!(stderr.contains(message), "{extra:?}: {stderr}");
    }
    let missing = create_in(dir.path(), &["nothing-here".as_ref()]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot share nothing-here"));
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let empty = create_in(dir.path(), &["empty".as_ref()]);
    assert!(String::from_utf8_lossy(&empty.stderr).contains("has no file to share"));
    assert!(!dir.path().join("empty.torrent").exists());
}

/// Our torrent, seeded by `seed` from the data's folder, downloads byte-identical with aria2c.
fn serve_and_fetch(
    payload: &Path,
    piece_size: &str,
    seed: impl FnOnce(&Opentracker, &Path) -> Seeder,
) {
    let mut tracker = Opentracker::start();
    let dir = payload.parent().unwrap().parent().unwrap().to_path_buf();
    let torrent = create(
        payload,
        &dir.join("ours.torrent"),
        &[
            "-t",
            &tracker.announce_url(),
            "--piece-size",
            piece_size,
            "-q",
        ],
    );
    tracker.allow(&torrent);
    let seeder = seed(&tracker, &torrent);
    let out = dir.join("out");
    aria2_download(&torrent, &out, ip(3), secs(120));
    assert_same_tree(payload, &out.join(payload.file_name().unwrap()));
    drop(seeder);
}

#[test]
fn libtorrent_seeds_our_torrent_to_aria2() {
    let dir = tempfile::tempdir().unwrap();
    let root = tree_with_hidden(&dir.path().join("data"));
    serve_and_fetch(&root, "32K", |tracker, torrent| {
        Seeder::libtorrent(
            tracker,
            torrent,
            root.parent().unwrap(),
            LtOptions::on(ip(2)),
        )
    });
}

#[test]
fn transmission_verifies_and_seeds_our_torrent_to_aria2() {
    let dir = tempfile::tempdir().unwrap();
    let data = make_file(&dir.path().join("data"), "single.bin", 5_000_000, 9);
    serve_and_fetch(&data, "64K", |tracker, torrent| {
        Seeder::transmission(tracker, torrent, data.parent().unwrap(), ip(2))
    });
}

/// A smalltorrent seeder serves our own torrent of a folder (nested folders, empty and hidden
/// files) to the three real clients: libtorrent and aria2c dial it; Transmission, which
/// never dials loopback peers, starts first and is dialled by our seeder.
#[test]
fn real_clients_download_our_torrent_from_a_smalltorrent_seeder() {
    let dir = tempfile::tempdir().unwrap();
    let root = tree_with_hidden(&dir.path().join("data"));
    let mut tracker = Opentracker::start();
    let torrent = create(
        &root,
        &dir.path().join("ours.torrent"),
        &["-t", &tracker.announce_url(), "--piece-size", "32K", "-q"],
    );
    tracker.allow(&torrent);
    let name = root.file_name().unwrap();

    let transmission_out = dir.path().join("transmission");
    let mut transmission = TransmissionLeecher::start(&tracker, &torrent, &transmission_out, ip(5));
    let mut seeder = SmalltorrentPeer::seed(&tracker, &torrent, root.parent().unwrap(), ip(2));
    transmission.wait_for(&root, &transmission_out.join(name), secs(90));

    let lt_out = dir.path().join("libtorrent");
    lt_download(&torrent, &lt_out, ip(4), secs(60));
    assert_same_tree(&root, &lt_out.join(name));
    let aria2_out = dir.path().join("aria2");
    aria2_download(&torrent, &aria2_out, ip(3), secs(60));
    assert_same_tree(&root, &aria2_out.join(name));

    let stopped = seeder.interrupt(secs(20));
    assert!(
        stopped.uploaded.is_some_and(|bytes| bytes > 0),
        "{}",
        stopped.stderr
    );
}

//! Proves the test harness without smalltorrent: aria2c downloads through opentracker from
//! each kind of seeder, and the helpers catch what they should.

mod support;

use std::fs;
use std::process::Command;
use support::*;

const MIB: u64 = 1 << 20;

/// One 4 MiB single-file torrent (64 KiB pieces) served by `start_seeder`, downloaded by
/// aria2c, compared byte for byte.
fn aria2_downloads_from(
    start_seeder: impl FnOnce(&Opentracker, &std::path::Path, &std::path::Path) -> Seeder,
) {
    let mut tracker = Opentracker::start();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let data = make_file(&data_dir, "payload.bin", 4 * MIB, 7);
    let torrent = mktorrent(
        &data,
        &tracker.announce_url(),
        16,
        &dir.path().join("t.torrent"),
    );
    tracker.allow(&torrent);
    let seeder = start_seeder(&tracker, &torrent, &data_dir);
    assert!(tracker.peers(&torrent).contains(&seeder.addr()));

    let out = dir.path().join("out");
    aria2_download(&torrent, &out, ip(9), secs(40));
    assert_same_tree(&data, &out.join("payload.bin"));
}

#[test]
fn aria2_downloads_from_libtorrent_seeder() {
    aria2_downloads_from(|tracker, torrent, data| {
        Seeder::libtorrent(tracker, torrent, data, LtOptions::on(ip(2)))
    });
}

#[test]
fn aria2_downloads_from_transmission_seeder() {
    aria2_downloads_from(|tracker, torrent, data| {
        Seeder::transmission(tracker, torrent, data, ip(3))
    });
}

#[test]
fn aria2_downloads_from_aria2_seeder() {
    aria2_downloads_from(|tracker, torrent, data| Seeder::aria2(tracker, torrent, data, ip(4)));
}

#[test]
fn libtorrent_seeder_reports_its_upload() {
    let mut tracker = Opentracker::start();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let data = make_file(&data_dir, "payload.bin", MIB, 8);
    let torrent = mktorrent(
        &data,
        &tracker.announce_url(),
        15,
        &dir.path().join("t.torrent"),
    );
    tracker.allow(&torrent);
    let seeder = Seeder::libtorrent(&tracker, &torrent, &data_dir, LtOptions::on(ip(5)));
    aria2_download(&torrent, &dir.path().join("out"), ip(9), secs(30));
    // At least the payload; a little more if aria2 asked for a block twice.
    let uploaded = seeder.stop().expect("uploaded=N line");
    assert!(uploaded >= MIB, "uploaded {uploaded} of {MIB}");
}

#[test]
fn info_hash_matches_libtorrent() {
    let dir = tempfile::tempdir().unwrap();
    let tree = make_tree(dir.path());
    let torrent = mktorrent(
        &tree,
        "http://127.0.0.1:1/announce",
        15,
        &dir.path().join("t.torrent"),
    );
    let theirs = Command::new(PYTHON)
        .arg("-c")
        .arg("import sys, libtorrent as lt; print(lt.torrent_info(sys.argv[1]).info_hash())")
        .arg(&torrent)
        .output()
        .unwrap();
    let ours: String = info_hash(&torrent)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(String::from_utf8_lossy(&theirs.stdout).trim(), ours);
}

#[test]
fn payloads_are_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let a = fs::read(make_file(dir.path(), "a", 100_001, 3)).unwrap();
    let b = fs::read(make_file(dir.path(), "b", 100_001, 3)).unwrap();
    let c = fs::read(make_file(dir.path(), "c", 100_001, 4)).unwrap();
    assert_eq!(a.len(), 100_001);
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn mktorrent_keeps_empty_files() {
    let dir = tempfile::tempdir().unwrap();
    let tree = make_tree(dir.path());
    let torrent = mktorrent(
        &tree,
        "http://127.0.0.1:1/announce",
        15,
        &dir.path().join("t.torrent"),
    );
    let listing = Command::new(PYTHON)
        .arg("-c")
        .arg("import sys, libtorrent as lt\nfs = lt.torrent_info(sys.argv[1]).files()\nfor i in range(fs.num_files()): print(fs.file_path(i), fs.file_size(i))")
        .arg(&torrent)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    for empty in [
        "tree/0-empty-first 0",
        "tree/docs/deeper/still/empty 0",
        "tree/z-empty-last 0",
    ] {
        assert!(listing.contains(empty), "{empty:?} not in\n{listing}");
    }
}

#[test]
fn same_tree_accepts_a_copy() {
    let dir = tempfile::tempdir().unwrap();
    let tree = make_tree(dir.path());
    copy_tree(&tree, &dir.path().join("copy"));
    assert_same_tree(&tree, &dir.path().join("copy"));
}

#[test]
#[should_panic(expected = "missing: ")]
fn same_tree_catches_a_missing_empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let tree = make_tree(dir.path());
    let copy = dir.path().join("copy");
    copy_tree(&tree, &copy);
    fs::remove_file(copy.join("z-empty-last")).unwrap();
    assert_same_tree(&tree, &copy);
}

#[test]
#[should_panic(expected = "first difference at byte 5")]
fn same_tree_catches_one_changed_byte() {
    let dir = tempfile::tempdir().unwrap();
    let tree = make_tree(dir.path());
    let copy = dir.path().join("copy");
    copy_tree(&tree, &copy);
    let mut bytes = fs::read(copy.join("a.bin")).unwrap();
    bytes[5] ^= 1;
    fs::write(copy.join("a.bin"), bytes).unwrap();
    assert_same_tree(&tree, &copy);
}

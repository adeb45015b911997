//! The check of data on disk when another program truncates a file under it.

use super::*;
use crate::metainfo::{FileEntry, FileKind};
use sha1::{Digest, Sha1};
use std::fs;
use std::path::{Path, PathBuf};

/// 4 pieces of 32 KiB, the last one 100 bytes, in one file "t".
fn geometry() -> Geometry {
    Geometry::new(3 * 32768 + 100, 32768)
}

fn files(g: Geometry) -> [FileEntry; 1] {
    [FileEntry {
        path: PathBuf::from("t"),
        length: g.total_length,
        offset: 0,
        kind: FileKind::Regular,
    }]
}

/// The torrent's bytes (none zero, so restored zeros never match) and their hashes.
fn payload(g: Geometry) -> (Vec<u8>, Vec<[u8; 20]>) {
    let data: Vec<u8> = (0..g.total_length)
        .map(|i| (i / 1000 % 251) as u8 + 1)
        .collect();
    let hashes = (0..g.piece_count)
        .map(|piece| {
            let start = g.piece_offset(piece) as usize;
            let end = start + g.piece_size(piece) as usize;
            Sha1::digest(&data[start..end]).into()
        })
        .collect();
    (data, hashes)
}

fn all(g: Geometry) -> Bitfield {
    let mut all = Bitfield::new(g.piece_count);
    (0..g.piece_count).for_each(|piece| {
        all.set(piece);
    });
    all
}

/// Cuts the file at `dir/t` to `length` bytes, as another program would.
fn cut(dir: &Path, length: u64) {
    fs::OpenOptions::new()
        .write(true)
        .open(dir.join("t"))
        .unwrap()
        .set_len(length)
        .unwrap();
}

/// The data is all there and its window mapped when the file is cut inside piece 2: the
/// check's reads of pieces 2 and 3 hit the missing pages (SIGBUS). Those two are missing,
/// the others count, and the file has its length back.
#[test]
fn a_file_cut_under_a_live_window_loses_only_the_pieces_cut() {
    let dir = tempfile::tempdir().unwrap();
    let g = geometry();
    let (data, hashes) = payload(g);
    fs::write(dir.path().join("t"), &data).unwrap();
    let storage = Storage::open(dir.path(), &files(g)).unwrap();
    assert!(storage.had_data());
    storage.read(0, &mut [0; 100]).unwrap(); // maps the file's one window
    cut(dir.path(), 2 * 32768 + 10);

    let none = Bitfield::new(g.piece_count);
    let have = check_listed(&storage, &g, &hashes, &all(g), &none, |_, _| {}).unwrap();
    assert_eq!(have.pieces().collect::<Vec<_>>(), [0, 1]);
    assert_eq!(
        fs::metadata(dir.path().join("t")).unwrap().len(),
        g.total_length,
        "the file has its length back"
    );
    assert_eq!(storage.next_truncated(), None, "nothing is left to repair");
    let mut piece1 = vec![0; 32768];
    storage.read(32768, &mut piece1).unwrap();
    assert_eq!(piece1, data[32768..2 * 32768]);
}

/// A piece the resume file vouches for is not hashed, but if its bytes are cut off
/// while the others are checked, it is not counted either.
#[test]
fn a_trusted_piece_that_lost_bytes_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let g = geometry();
    let (data, hashes) = payload(g);
    fs::write(dir.path().join("t"), &data).unwrap();
    let storage = Storage::open(dir.path(), &files(g)).unwrap();
    cut(dir.path(), 32768);

    let mut trusted = Bitfield::new(g.piece_count);
    trusted.set(2);
    let mut which = all(g);
    which.clear(2);
    let have = check_listed(&storage, &g, &hashes, &which, &trusted, |_, _| {}).unwrap();
    assert_eq!(have.pieces().collect::<Vec<_>>(), [0]);
}

/// `smalltorrent verify` changes nothing on disk, so it cannot repair: a file cut while it
/// checks is an error, and the file stays as the other program left it.
#[test]
fn the_read_only_check_reports_a_cut_file_as_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let g = geometry();
    let (data, hashes) = payload(g);
    fs::write(dir.path().join("t"), &data).unwrap();
    let (storage, present) = Storage::open_existing(dir.path(), &files(g));
    assert_eq!(present, [true]);
    storage.read(0, &mut [0; 100]).unwrap();
    cut(dir.path(), 10);

    let error = check_pieces(&storage, &g, &hashes, None, |_, _| {}).unwrap_err();
    assert!(
        matches!(error, StorageError::Truncated { file: 0, .. }),
        "{error}"
    );
    assert_eq!(fs::metadata(dir.path().join("t")).unwrap().len(), 10);
}

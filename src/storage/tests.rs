//! Storage against real files in a temporary folder.

use super::*;

fn entry(path: &str, offset: u64, length: u64, kind: FileKind) -> FileEntry {
    FileEntry {
        path: PathBuf::from(path),
        length,
        offset,
        kind,
    }
}

/// "t/a" (5 bytes), "t/sub/empty" (0), a 3-byte pad, "t/sub/b" (10 bytes).
fn layout() -> Vec<FileEntry> {
    vec![
        entry("t/a", 0, 5, FileKind::Regular),
        entry("t/sub/empty", 5, 0, FileKind::Regular),
        entry("t/.pad/3", 5, 3, FileKind::Pad),
        entry("t/sub/b", 8, 10, FileKind::Regular),
    ]
}

#[test]
fn a_write_across_files_lands_in_each_file() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path(), &layout()).unwrap();
    assert!(!storage.had_data());
    let data: Vec<u8> = (1..=18).collect();
    storage.write(0, &data).unwrap();
    storage.flush().unwrap();
    assert_eq!(
        fs::read(dir.path().join("t/a")).unwrap(),
        vec![1, 2, 3, 4, 5]
    );
    assert_eq!(
        fs::read(dir.path().join("t/sub/empty")).unwrap(),
        Vec::<u8>::new()
    );
    assert_eq!(
        fs::read(dir.path().join("t/sub/b")).unwrap(),
        (9..=18).collect::<Vec<u8>>()
    );
    assert!(
        !dir.path().join("t/.pad").exists(),
        "pad files are never created"
    );
    let mut back = vec![0; 18];
    storage.read(0, &mut back).unwrap();
    assert_eq!(&back[..5], &data[..5]);
    assert_eq!(&back[5..8], &[0, 0, 0], "pad bytes read as zeros");
    assert_eq!(&back[8..], &data[8..]);
}

#[test]
fn files_are_created_at_their_final_size() {
    let dir = tempfile::tempdir().unwrap();
    Storage::open(dir.path(), &layout()).unwrap();
    assert_eq!(fs::metadata(dir.path().join("t/sub/b")).unwrap().len(), 10);
    let again = Storage::open(dir.path(), &layout()).unwrap();
    assert!(
        again.had_data(),
        "files from an earlier run may hold pieces: check them"
    );
}

#[test]
fn writes_outside_the_stream_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path(), &layout()).unwrap();
    assert!(matches!(
        storage.write(17, &[1, 2]),
        Err(StorageError::OutOfRange { .. })
    ));
    assert!(matches!(
        storage.write(u64::MAX, &[1]),
        Err(StorageError::OutOfRange { .. })
    ));
}

#[test]
fn a_symlinked_folder_is_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("t")).unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("t/sub")).unwrap();
    let err = Storage::open(dir.path(), &layout()).unwrap_err();
    assert!(matches!(err, StorageError::Symlink { .. }), "{err}");
    assert!(err.to_string().contains("symlink"));
    assert_eq!(
        fs::read_dir(outside.path()).unwrap().count(),
        0,
        "nothing written outside"
    );
}

#[test]
fn a_symlinked_file_is_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::NamedTempFile::new().unwrap();
    fs::create_dir(dir.path().join("t")).unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("t/a")).unwrap();
    let err = Storage::open(dir.path(), &layout()).unwrap_err();
    assert!(matches!(err, StorageError::Symlink { .. }), "{err}");
}

#[test]
fn a_larger_file_or_a_folder_in_the_way_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("t")).unwrap();
    fs::write(dir.path().join("t/a"), [0u8; 6]).unwrap();
    let err = Storage::open(dir.path(), &layout()).unwrap_err();
    assert!(
        err.to_string()
            .contains("6 bytes on disk but the torrent says 5"),
        "{err}"
    );

    fs::remove_file(dir.path().join("t/a")).unwrap();
    fs::create_dir(dir.path().join("t/a")).unwrap();
    let err = Storage::open(dir.path(), &layout()).unwrap_err();
    assert!(err.to_string().contains("is not a regular file"), "{err}");
}

#[test]
fn existing_data_is_kept_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("t")).unwrap();
    fs::write(dir.path().join("t/a"), [7u8; 5]).unwrap();
    let storage = Storage::open(dir.path(), &layout()).unwrap();
    assert!(storage.had_data());
    let mut back = [0u8; 5];
    storage.read(0, &mut back).unwrap();
    assert_eq!(back, [7; 5]);
}

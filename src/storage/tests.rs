//! Storage against real files in a temporary folder.

use super::*;
use crate::metainfo::FileKind;

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

/// Windows of one page, two kept: every test below crosses windows and evicts.
fn tiny() -> WindowLimits {
    WindowLimits {
        size: sigbus::page_size() as u64,
        count: 2,
    }
}

/// Three files of odd sizes, so windows and files end at different places:
/// "w/a" (3 pages + 100 bytes), a 7-byte pad, "w/b" (1 page − 1), "w/c" (2 pages + 5).
fn windowed_layout() -> Vec<FileEntry> {
    let page = sigbus::page_size() as u64;
    let a = 3 * page + 100;
    let b = page - 1;
    vec![
        entry("w/a", 0, a, FileKind::Regular),
        entry("w/.pad/7", a, 7, FileKind::Pad),
        entry("w/b", a + 7, b, FileKind::Regular),
        entry("w/c", a + 7 + b, 2 * page + 5, FileKind::Regular),
    ]
}

/// Bytes that differ at every offset (so a misplaced copy shows).
fn pattern(len: u64, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

fn total(files: &[FileEntry]) -> u64 {
    files.iter().map(|f| f.length).sum()
}

#[test]
fn writes_and_reads_cross_window_and_file_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let files = windowed_layout();
    let storage = Storage::open_with(dir.path(), &files, tiny()).unwrap();
    let data = pattern(total(&files), 1);
    // Odd-sized writes, each crossing some window or file boundary.
    let mut offset = 0;
    for (i, len) in [1000u64, 5000, 4096, 3, 9000].iter().cycle().enumerate() {
        let end = (offset + len).min(data.len() as u64);
        storage
            .write(offset, &data[offset as usize..end as usize])
            .unwrap_or_else(|e| panic!("write {i} at {offset}: {e}"));
        assert!(storage.mapped_windows() <= 2, "the cache keeps its bound");
        offset = end;
        if offset == data.len() as u64 {
            break;
        }
    }
    storage.flush().unwrap();
    let mut back = vec![0xAA; data.len()];
    storage.read(0, &mut back).unwrap();
    let pad = files[1].offset as usize..files[2].offset as usize;
    for (i, (&got, &want)) in back.iter().zip(&data).enumerate() {
        let want = if pad.contains(&i) { 0 } else { want };
        assert_eq!(got, want, "byte {i}");
    }
    for file in [&files[0], &files[2], &files[3]] {
        let range = file.offset as usize..(file.offset + file.length) as usize;
        assert_eq!(
            fs::read(dir.path().join(&file.path)).unwrap(),
            &data[range],
            "{}",
            file.path.display()
        );
    }
}

#[test]
fn a_run_of_buffers_lands_as_one_write_would_across_file_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let files = windowed_layout();
    let storage = Storage::open_with(dir.path(), &files, tiny()).unwrap();
    let data = pattern(total(&files), 3);
    // Buffers of odd sizes (one empty), laid end to end, some crossing a file or the
    // pad; written as runs of three.
    let mut buffers = Vec::new();
    let mut at = 0;
    for len in [7000usize, 0, 4096, 12345, 1].iter().cycle() {
        let end = (at + len).min(data.len());
        buffers.push(&data[at..end]);
        at = end;
        if at == data.len() {
            break;
        }
    }
    let mut offset = 0u64;
    for run in buffers.chunks(3) {
        storage.write_run(offset, run).unwrap();
        offset += run.iter().map(|b| b.len() as u64).sum::<u64>();
    }
    assert_eq!(offset, data.len() as u64);
    let mut back = vec![0xAA; data.len()];
    storage.read(0, &mut back).unwrap();
    let pad = files[1].offset as usize..files[2].offset as usize;
    for (i, (&got, &want)) in back.iter().zip(&data).enumerate() {
        let want = if pad.contains(&i) { 0 } else { want };
        assert_eq!(got, want, "byte {i}");
    }
    for file in [&files[0], &files[2], &files[3]] {
        let range = file.offset as usize..(file.offset + file.length) as usize;
        assert_eq!(fs::read(dir.path().join(&file.path)).unwrap(), &data[range]);
    }
    // A run past the end is refused whole, like a single write.
    let too_far = storage.write_run(offset - 10, &[&data[..5], &data[..6]]);
    assert!(matches!(too_far, Err(StorageError::OutOfRange { .. })));
}

#[test]
fn readers_keep_an_evicted_window_until_they_are_done() {
    let dir = tempfile::tempdir().unwrap();
    let files = windowed_layout();
    let storage = Storage::open_with(dir.path(), &files, tiny()).unwrap();
    let mut data = pattern(total(&files), 2);
    storage.write(0, &data).unwrap();
    data[files[1].offset as usize..files[2].offset as usize].fill(0); // the pad reads as zeros
    let page = sigbus::page_size();
    // One thread holds the first window of "w/a" while others evict it over and over.
    let first = storage
        .window(Key { file: 0, index: 0 }, files_id(&storage, 0))
        .unwrap();
    std::thread::scope(|scope| {
        for thread in 0..4u64 {
            let (storage, data) = (&storage, &data);
            scope.spawn(move || {
                let mut buf = vec![0; 777];
                for round in 0..2000u64 {
                    let offset = (round * 997 + thread * 4001) % (data.len() as u64 - 777);
                    storage.read(offset, &mut buf).unwrap();
                    assert!(
                        buf == data[offset as usize..][..777],
                        "777 bytes at {offset}"
                    );
                }
            });
        }
    });
    assert!(storage.mapped_windows() <= 2);
    // SAFETY: `first` is a live window of at least one page, written above.
    let held = unsafe { std::slice::from_raw_parts(first.at(0, page), page) };
    assert!(
        held == &data[..page],
        "an evicted window stays mapped for its holder"
    );
}

/// The file of slot `file` (test helper).
fn files_id(storage: &Storage, file: usize) -> FileId {
    storage.slots[file].file.unwrap()
}

#[test]
fn a_flush_syncs_files_whose_windows_were_evicted() {
    let dir = tempfile::tempdir().unwrap();
    let files = windowed_layout();
    let storage = Storage::open_with(dir.path(), &files, tiny()).unwrap();
    storage.write(0, &[1; 10]).unwrap(); // "w/a", window 0
    let c = &files[3];
    storage.write(c.offset, &[2; 10]).unwrap(); // "w/c"
    storage.write(c.offset + 5000, &[3; 10]).unwrap(); // evicts "w/a"'s window
    assert!(storage.cache.get(Key { file: 0, index: 0 }).is_none());
    // The flush must still visit "w/a": cut short now, it is reported, not skipped.
    fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("w/a"))
        .unwrap()
        .set_len(10)
        .unwrap();
    let err = storage.flush().unwrap_err();
    assert!(
        matches!(err, StorageError::Truncated { file: 0, .. }),
        "{err}"
    );
    assert_eq!(storage.next_truncated(), Some(0));
    storage.restore(0).unwrap();
    storage.flush().unwrap();
    // Nothing written since: the next flush opens no file (a truncation goes unseen).
    fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("w/c"))
        .unwrap()
        .set_len(1)
        .unwrap();
    storage.flush().unwrap();
}

#[test]
fn a_file_truncated_under_a_live_window_is_an_error_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let files = windowed_layout();
    let storage = Storage::open_with(dir.path(), &files, tiny()).unwrap();
    let data = pattern(total(&files), 3);
    storage.write(0, &data[..4000]).unwrap(); // maps window 0 of "w/a"
    let path = dir.path().join("w/a");
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();

    let mut buf = [0u8; 100];
    let err = storage.read(0, &mut buf).unwrap_err();
    assert!(
        matches!(err, StorageError::Truncated { file: 0, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("was truncated while in use"),
        "{err}"
    );
    let err = storage.write(10, &[9; 100]).unwrap_err();
    assert!(
        matches!(err, StorageError::Truncated { file: 0, .. }),
        "{err}"
    );
    assert_eq!(storage.next_truncated(), Some(0), "noted once for repair");
    assert_eq!(storage.next_truncated(), None);

    let truncation = storage.truncation(0).unwrap();
    assert_eq!(truncation.span, 0..files[0].length);
    assert_eq!(
        truncation.lost,
        0..files[0].length,
        "everything past byte 0"
    );
    storage.restore(0).unwrap();
    assert_eq!(fs::metadata(&path).unwrap().len(), files[0].length);
    storage.read(0, &mut buf).unwrap();
    assert_eq!(
        buf, [0; 100],
        "the lost bytes read as zeros after the repair"
    );
    storage.write(0, &data[..4000]).unwrap();
    storage.read(0, &mut buf).unwrap();
    assert_eq!(buf, data[..100]);
    // The other files were never touched by any of this.
    let c = &files[3];
    storage.write(c.offset, &data[..50]).unwrap();
    storage.flush().unwrap();
}

/// The saver asks for files to repair before every block; the answer comes from a flag,
/// which must follow the list of noted files exactly: set by every note, cleared only
/// when the last noted file is handed out or restored.
#[test]
fn files_noted_for_repair_are_handed_out_in_order_until_none_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let files = windowed_layout();
    let storage = Storage::open_with(dir.path(), &files, tiny()).unwrap();
    assert_eq!(storage.next_truncated(), None, "nothing noted yet");
    let cut = |name: &str| {
        fs::OpenOptions::new()
            .write(true)
            .open(dir.path().join(name))
            .unwrap()
            .set_len(1)
            .unwrap();
    };
    cut("w/c");
    cut("w/a");
    let c = &files[3];
    let err = storage.write(c.offset + 4000, &[1; 10]).unwrap_err();
    assert!(
        matches!(err, StorageError::Truncated { file: 3, .. }),
        "{err}"
    );
    let err = storage.write(2000, &[1; 10]).unwrap_err();
    assert!(
        matches!(err, StorageError::Truncated { file: 0, .. }),
        "{err}"
    );
    assert_eq!(storage.next_truncated(), Some(3), "in the order found");
    assert_eq!(storage.next_truncated(), Some(0));
    assert_eq!(storage.next_truncated(), None);
    storage.restore(3).unwrap();
    storage.restore(0).unwrap();

    // Two noted, one restored before anyone asked: only the other is handed out.
    cut("w/a");
    cut("w/c");
    assert!(storage.write(2000, &[1; 10]).is_err());
    assert!(storage.write(c.offset + 4000, &[1; 10]).is_err());
    storage.restore(0).unwrap();
    assert_eq!(
        storage.next_truncated(),
        Some(3),
        "the other is still noted"
    );
    storage.restore(3).unwrap();
    cut("w/a");
    assert!(storage.write(2000, &[1; 10]).is_err());
    storage.restore(0).unwrap();
    assert_eq!(
        storage.next_truncated(),
        None,
        "restored files are not handed out"
    );

    // And a file cut again after all that is noted again.
    cut("w/c");
    assert!(storage.write(c.offset + 4000, &[1; 10]).is_err());
    assert_eq!(storage.next_truncated(), Some(3));
    assert_eq!(storage.next_truncated(), None);
}

#[test]
fn a_file_replaced_while_in_use_is_never_written() {
    let dir = tempfile::tempdir().unwrap();
    let files = windowed_layout();
    let storage = Storage::open_with(dir.path(), &files, tiny()).unwrap();
    let path = dir.path().join("w/b");
    fs::remove_file(&path).unwrap();
    fs::write(&path, vec![0; files[2].length as usize]).unwrap();
    let err = storage.write(files[2].offset, &[1; 10]).unwrap_err();
    assert!(matches!(err, StorageError::Replaced { .. }), "{err}");
    assert_eq!(fs::read(&path).unwrap(), vec![0; files[2].length as usize]);
}

/// A sparse file past 4 GiB: offsets that do not fit 32 bits land where they should.
#[test]
fn offsets_past_4_gib_land_in_the_right_place() {
    let dir = tempfile::tempdir().unwrap();
    let four = 4u64 << 30;
    let files = vec![
        entry("big/first", 0, 1000, FileKind::Regular),
        entry("big/huge", 1000, four + 3_000_000, FileKind::Regular),
        entry(
            "big/last",
            1000 + four + 3_000_000,
            70_000,
            FileKind::Regular,
        ),
    ];
    let limits = WindowLimits {
        size: 1 << 20,
        count: 3,
    };
    let storage = Storage::open_with(dir.path(), &files, limits).unwrap();
    let data = pattern(300_000, 4);
    // Across 4 GiB inside "big/huge", then across its end into "big/last".
    let around_4_gib = 1000 + four - 150_000;
    let across_files = files[2].offset - 200_000;
    storage.write(around_4_gib, &data).unwrap();
    storage.write(across_files, &data[..270_000]).unwrap();
    storage.flush().unwrap();
    let mut back = vec![0; 300_000];
    storage.read(around_4_gib, &mut back).unwrap();
    assert!(back == data, "read back across 4 GiB");
    use std::os::unix::fs::FileExt;
    let huge = fs::File::open(dir.path().join("big/huge")).unwrap();
    let mut on_disk = vec![0; 300_000];
    huge.read_exact_at(&mut on_disk, four - 150_000).unwrap();
    assert!(on_disk == data, "pread at the file offset past 4 GiB");
    let last = fs::read(dir.path().join("big/last")).unwrap();
    assert!(last == data[200_000..270_000], "big/last holds the rest");
    assert!(storage.mapped_windows() <= 3);
}

/// A SIGBUS in a map that is not one of our windows keeps the last resort: one line and
/// exit 1. Checked in a child process (this test binary, run again for this test only).
#[test]
fn a_sigbus_outside_our_windows_still_ends_the_process() {
    const CHILD: &str = "SMALLTORRENT_SIGBUS_CHILD";
    if std::env::var_os(CHILD).is_some() {
        sigbus::install();
        let file = tempfile::tempfile().unwrap();
        file.set_len(4096).unwrap();
        let map = memmap2::MmapOptions::new()
            .len(4096)
            .map_raw(&file)
            .unwrap();
        file.set_len(0).unwrap();
        // SAFETY: the map is live; reading past the file's end is the point (SIGBUS).
        let byte = unsafe { std::ptr::read_volatile(map.as_ptr()) };
        panic!("read {byte} past the end of a file without SIGBUS");
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "storage::tests::a_sigbus_outside_our_windows_still_ends_the_process",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("truncated or its disk failed while in use (SIGBUS)"),
        "{stderr}"
    );
}

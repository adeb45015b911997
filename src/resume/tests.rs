use super::*;
use crate::metainfo::{FileEntry, FileKind};

fn entry(path: &str, offset: u64, length: u64) -> FileEntry {
    FileEntry {
        path: PathBuf::from(path),
        length,
        offset,
        kind: FileKind::Regular,
    }
}

fn stamp(length: u64, mtime: i64) -> Option<FileStamp> {
    Some(FileStamp {
        length,
        mtime,
        mtime_ns: 7,
    })
}

/// The boot the sample was recorded in.
const BOOT: &str = "11111111-2222-3333-4444-555555555555";

fn sample() -> Resume {
    let mut verified = Bitfield::new(10);
    [0, 1, 2, 8, 9].iter().for_each(|&p| {
        verified.set(p);
    });
    Resume {
        info_hash: [0xab; 20],
        verified,
        unchecked: Bitfield::new(10),
        unsynced: Bitfield::new(10),
        boot_id: Some(BOOT.to_string()),
        files: vec![stamp(40, 100), None, stamp(60, 200)],
    }
}

/// Three files of 40, 0 and 60 bytes, pieces of 10 bytes: pieces 0-3 are the first file,
/// 4-9 the third.
fn files() -> Vec<FileEntry> {
    vec![entry("a", 0, 40), entry("b", 40, 0), entry("c", 40, 60)]
}

#[test]
fn round_trip() {
    let resume = sample();
    assert_eq!(decode(&encode(&resume)).unwrap(), resume);
}

#[test]
fn truncated_or_garbage_files_are_refused() {
    let bytes = encode(&sample());
    for cut in [0, 1, bytes.len() / 2, bytes.len() - 1] {
        assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    assert!(decode(b"hello").is_err());
    assert!(decode(b"de").is_err());
    let mut other_version = bytes.clone();
    let at = bytes
        .windows(12)
        .position(|w| w == b"7:versioni1e")
        .unwrap();
    other_version[at + 10] = b'2';
    assert!(decode(&other_version).unwrap_err().contains("version 2"));
}

#[test]
fn unchanged_files_trust_the_record_and_hash_nothing() {
    let resume = sample();
    let geometry = Geometry::new(100, 10);
    let plan = plan(
        Ok(resume.clone()),
        &[0xab; 20],
        &geometry,
        &files(),
        &resume.files,
        Some(BOOT),
    );
    assert_eq!(plan.trusted, resume.verified);
    assert_eq!(plan.check.count(), 0);
    assert!(plan.note.is_none());
}

/// A piece whose blocks were all written but not yet hashed when the record was taken is
/// hashed at the next start (a kill at that moment must not cost a download), even though
/// its file looks unchanged. A resume file without the key (older) means none.
#[test]
fn pieces_being_hashed_at_the_record_are_hashed_at_start() {
    let mut resume = sample();
    resume.unchecked.set(5);
    assert_eq!(decode(&encode(&resume)).unwrap(), resume);
    let geometry = Geometry::new(100, 10);
    let plan = plan(
        Ok(resume.clone()),
        &[0xab; 20],
        &geometry,
        &files(),
        &resume.files,
        Some(BOOT),
    );
    assert_eq!(plan.trusted, resume.verified);
    assert_eq!(plan.check.pieces().collect::<Vec<_>>(), [5]);

    let bytes = encode(&sample());
    let key = b"9:unchecked2:\0\0";
    let at = bytes.windows(key.len()).position(|w| w == key).unwrap();
    let without = [&bytes[..at], &bytes[at + key.len()..]].concat();
    assert_eq!(decode(&without).unwrap().unchecked.count(), 0);
}

/// Pieces recorded before their bytes were flushed are trusted in the boot that recorded
/// them (the page cache still holds them, or the kernel wrote them back), and hashed after
/// a restart or when either boot id is unknown (a power cut may have lost them).
#[test]
fn unflushed_pieces_are_trusted_only_in_the_same_boot() {
    let mut resume = sample();
    resume.unsynced.set(8);
    resume.unsynced.set(9);
    assert_eq!(decode(&encode(&resume)).unwrap(), resume);
    let geometry = Geometry::new(100, 10);
    let now = resume.files.clone();
    let same = plan(
        Ok(resume.clone()),
        &[0xab; 20],
        &geometry,
        &files(),
        &now,
        Some(BOOT),
    );
    assert_eq!(same.trusted, resume.verified);
    assert_eq!(same.check.count(), 0);
    assert!(same.note.is_none());

    let other_boot = "99999999-2222-3333-4444-555555555555";
    let unknown_then = Resume {
        boot_id: None,
        ..resume.clone()
    };
    for (loaded, boot_now) in [
        (resume.clone(), Some(other_boot)),
        (resume.clone(), None),
        (unknown_then, Some(BOOT)),
    ] {
        let plan = plan(Ok(loaded), &[0xab; 20], &geometry, &files(), &now, boot_now);
        assert_eq!(plan.trusted.pieces().collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(plan.check.pieces().collect::<Vec<_>>(), [8, 9]);
        let note = plan.note.unwrap_or_default();
        assert!(
            note.contains("2 piece(s) not yet flushed to disk when recorded"),
            "{note}"
        );
    }
}

/// Resume files written before `unsynced` and `boot-id` existed read as "all flushed".
#[test]
fn a_record_without_boot_id_or_unsynced_keys_is_all_flushed() {
    let old = Resume {
        boot_id: None,
        ..sample()
    };
    let bytes = encode(&old);
    let key = b"8:unsynced2:\0\0";
    let at = bytes.windows(key.len()).position(|w| w == key).unwrap();
    let without = [&bytes[..at], &bytes[at + key.len()..]].concat();
    let read = decode(&without).unwrap();
    assert_eq!(read.unsynced.count(), 0);
    assert_eq!(read.boot_id, None);
    let geometry = Geometry::new(100, 10);
    let plan = plan(Ok(read), &[0xab; 20], &geometry, &files(), &old.files, None);
    assert_eq!(plan.trusted, old.verified);
    assert_eq!(plan.check.count(), 0);
}

#[test]
fn a_changed_file_has_its_pieces_hashed_again() {
    let resume = sample();
    let geometry = Geometry::new(100, 10);
    let now = vec![stamp(40, 101), None, stamp(60, 200)];
    let plan = plan(
        Ok(resume),
        &[0xab; 20],
        &geometry,
        &files(),
        &now,
        Some(BOOT),
    );
    assert_eq!(plan.trusted.pieces().collect::<Vec<_>>(), [8, 9]);
    assert_eq!(plan.check.pieces().collect::<Vec<_>>(), [0, 1, 2, 3]);
    let now = vec![stamp(40, 100), None, stamp(59, 200)];
    let plan = super::plan(
        Ok(sample()),
        &[0xab; 20],
        &geometry,
        &files(),
        &now,
        Some(BOOT),
    );
    assert_eq!(plan.trusted.pieces().collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(plan.check.pieces().collect::<Vec<_>>(), [4, 5, 6, 7, 8, 9]);
}

/// A file truncated while smalltorrent ran, recorded short, then a crash: the stamps
/// still match, but a short file never vouches for its pieces.
#[test]
fn a_file_recorded_short_or_missing_is_hashed_again() {
    let geometry = Geometry::new(100, 10);
    let short = Resume {
        files: vec![stamp(30, 100), None, None],
        ..sample()
    };
    let now = short.files.clone();
    let plan = plan(
        Ok(short),
        &[0xab; 20],
        &geometry,
        &files(),
        &now,
        Some(BOOT),
    );
    assert_eq!(plan.trusted.count(), 0, "nothing recorded is trusted");
    assert_eq!(plan.check.count(), 10);
}

#[test]
fn another_torrent_or_no_file_means_a_full_check() {
    let geometry = Geometry::new(100, 10);
    let now = sample().files;
    for loaded in [
        Ok(sample()),
        Err(ResumeError::Missing),
        Ok(Resume {
            verified: Bitfield::new(9),
            ..sample()
        }),
    ] {
        let plan = plan(loaded, &[0xcd; 20], &geometry, &files(), &now, Some(BOOT));
        assert_eq!(plan.trusted.count(), 0);
        assert_eq!(plan.check.count(), 10);
        assert!(plan.note.is_some());
    }
}

#[test]
fn a_torrent_named_like_the_state_folder_keeps_no_resume_file() {
    let files = [entry(".smalltorrent/x.resume", 0, 1)];
    assert!(matches!(
        path_for(Path::new("d"), &[0; 20], &files),
        Err(ResumeError::Collides)
    ));
    let path = path_for(Path::new("d"), &[0xab; 20], &[entry("a", 0, 1)]).unwrap();
    assert_eq!(
        path,
        Path::new("d/.smalltorrent").join(format!("{}.resume", "ab".repeat(20)))
    );
}

#[test]
fn save_is_atomic_and_load_reads_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(STATE_DIR).join("x.resume");
    assert!(matches!(load(&path), Err(ResumeError::Missing)));
    save(&path, &sample()).unwrap();
    save(&path, &sample()).unwrap();
    assert_eq!(load(&path).unwrap(), sample());
    assert!(!path.with_extension("resume.tmp").exists());
    fs::write(&path, b"garbage").unwrap();
    assert!(matches!(load(&path), Err(ResumeError::Malformed { .. })));
}

#[test]
fn a_stale_temp_file_from_a_crash_mid_write_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(STATE_DIR).join("x.resume");
    fs::create_dir(path.parent().unwrap()).unwrap();
    fs::write(path.with_extension("resume.tmp"), b"half a wri").unwrap();
    save(&path, &sample()).unwrap();
    assert_eq!(load(&path).unwrap(), sample());
}

#[test]
fn symlinks_in_the_state_folder_are_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    // The state folder itself is a link pointing outside: no write through it.
    let state = dir.path().join(STATE_DIR);
    std::os::unix::fs::symlink(outside.path(), &state).unwrap();
    let path = state.join("x.resume");
    assert!(matches!(
        save(&path, &sample()),
        Err(ResumeError::NotOurs { .. })
    ));
    assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
    // A link planted at the temp name is replaced, not written through.
    fs::remove_file(&state).unwrap();
    fs::create_dir(&state).unwrap();
    let target = outside.path().join("victim");
    fs::write(&target, b"keep").unwrap();
    std::os::unix::fs::symlink(&target, path.with_extension("resume.tmp")).unwrap();
    save(&path, &sample()).unwrap();
    assert_eq!(fs::read(&target).unwrap(), b"keep");
    // A resume file that is a link is not read.
    fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink(&target, &path).unwrap();
    assert!(matches!(load(&path), Err(ResumeError::NotOurs { .. })));
}

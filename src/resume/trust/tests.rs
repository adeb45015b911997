//! The trust policy against a sample record: unchanged, changed and short files, pieces
//! unchecked or unsynced at the record, other boots, other torrents.

use super::*;
use crate::bitfield::Bitfield;
use crate::resume::tests::{BOOT, files, sample, stamp};
use crate::resume::{decode, encode};

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

//! The sample record the resume tests share, and the tests of the file's location.
//! The format's, the trust policy's and the disk's tests sit beside their code.

use super::*;
use crate::bitfield::Bitfield;
use crate::metainfo::{FileEntry, FileKind};

pub(super) fn entry(path: &str, offset: u64, length: u64) -> FileEntry {
    FileEntry {
        path: PathBuf::from(path),
        length,
        offset,
        kind: FileKind::Regular,
    }
}

pub(super) fn stamp(length: u64, mtime: i64) -> Option<FileStamp> {
    Some(FileStamp {
        length,
        mtime,
        mtime_ns: 7,
    })
}

/// The boot the sample was recorded in.
pub(super) const BOOT: &str = "11111111-2222-3333-4444-555555555555";

pub(super) fn sample() -> Resume {
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
pub(super) fn files() -> Vec<FileEntry> {
    vec![entry("a", 0, 40), entry("b", 40, 0), entry("c", 40, 60)]
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

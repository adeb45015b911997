//! The trust policy: given a loaded record, the files' stamps now and the boot id, which
//! pieces are trusted without hashing and which are hashed again. Pure: the stamps and
//! the boot id are read by the caller.
//!
//! A recorded piece is trusted only if every file it touches still has the recorded length
//! and mtime, and that length is the file's torrent length; an `unsynced` piece also needs
//! the same boot id as now (no power cut or kernel crash can have lost its bytes since);
//! an `unchecked` piece is always hashed. A record that is missing, unreadable, garbage,
//! for another torrent or of another piece count vouches for nothing: everything is hashed.

use super::{FileStamp, Resume, ResumeError};
use crate::bitfield::Bitfield;
use crate::geometry::Geometry;
use crate::metainfo::FileEntry;

/// Which pieces to trust from a resume file and which to hash again.
#[derive(Debug)]
pub struct Plan {
    /// Recorded pieces whose files are unchanged: verified without hashing.
    pub trusted: Bitfield,
    /// Pieces to hash (everything when the resume file is not usable).
    pub check: Bitfield,
    /// Why the resume file was not used (or was used only in part), for the log line.
    pub note: Option<String>,
}

/// Decides what to trust, given what [`super::load`] returned and the files' current
/// stamps.
pub fn plan(
    loaded: Result<Resume, ResumeError>,
    info_hash: &[u8; 20],
    geometry: &Geometry,
    files: &[FileEntry],
    now: &[Option<FileStamp>],
    boot_id: Option<&str>,
) -> Plan {
    let count = geometry.piece_count;
    let everything = || {
        let mut all = Bitfield::new(count);
        (0..count).for_each(|p| {
            all.set(p);
        });
        all
    };
    let resume = match loaded.and_then(|r| matches_torrent(r, info_hash, count, files.len())) {
        Ok(resume) => resume,
        Err(error) => {
            return Plan {
                trusted: Bitfield::new(count),
                check: everything(),
                note: Some(error.to_string()),
            };
        }
    };
    // Pieces touching a file whose length or mtime changed are suspect.
    let mut check = Bitfield::new(count);
    let mut changed = 0;
    for ((entry, recorded), current) in files.iter().zip(&resume.files).zip(now) {
        // A record of a file that was not whole (cut short by another program, or gone)
        // vouches for nothing, even if the file is still in that state.
        let whole = recorded.is_some_and(|stamp| stamp.length == entry.length);
        if (recorded == current && whole) || entry.length == 0 {
            continue;
        }
        // A file absent then and now was not selected (`--select`): not a change, but its
        // bytes in wanted pieces are in part files, which no stamp vouches for.
        if recorded.is_some() || current.is_some() {
            changed += 1;
        }
        for piece in geometry.pieces_touching(entry.offset, entry.length) {
            check.set(piece);
        }
    }
    // Pieces whose bytes were all written but not yet hashed at the last record: a kill
    // right then must not cost a download, so they are hashed even in unchanged files.
    for piece in resume.unchecked.pieces() {
        check.set(piece);
    }
    // Pieces that were only in the page cache at the last record: a power cut or kernel
    // crash since (a new boot, or a boot we cannot tell) may have lost their bytes.
    let same_boot = boot_id.is_some() && resume.boot_id.as_deref() == boot_id;
    let mut restarted = 0;
    if !same_boot {
        for piece in resume.unsynced.pieces() {
            if resume.verified.has(piece) && !check.has(piece) {
                check.set(piece);
                restarted += 1;
            }
        }
    }
    let mut trusted = Bitfield::new(count);
    for piece in resume.verified.pieces().filter(|&p| !check.has(p)) {
        trusted.set(piece);
    }
    let mut notes = Vec::new();
    if changed > 0 {
        notes.push(format!("{changed} file(s) changed since the resume file"));
    }
    if restarted > 0 {
        notes.push(format!(
            "{restarted} piece(s) not yet flushed to disk when recorded, and the machine \
             restarted since"
        ));
    }
    let note = (!notes.is_empty()).then(|| notes.join("; "));
    Plan {
        trusted,
        check,
        note,
    }
}

fn matches_torrent(
    resume: Resume,
    info_hash: &[u8; 20],
    pieces: u32,
    files: usize,
) -> Result<Resume, ResumeError> {
    let why = if &resume.info_hash != info_hash {
        "info-hash differs"
    } else if resume.verified.len() != pieces {
        "piece count differs"
    } else if resume.files.len() != files {
        "file count differs"
    } else {
        return Ok(resume);
    };
    Err(ResumeError::OtherTorrent { why })
}

#[cfg(test)]
mod tests;

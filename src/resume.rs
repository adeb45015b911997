//! The resume file: which pieces were verified and flushed, so that a restart need not hash
//! everything again.
//!
//! Location: `DIR/.smalltorrent/<info-hash-hex>.resume`, where `DIR` is the download folder
//! (`-d`). A torrent whose own name is `.smalltorrent` would collide with that folder, so
//! for such a torrent the resume file is not used at all (every start is a full check).
//!
//! How a resume works, in the order of the code:
//!
//! 1. While downloading, the [`recorder`] thread takes a [`Resume`] record every few
//!    seconds: the verified pieces, which of them are not yet flushed (with the kernel's
//!    [`boot`] id), and the [`stamps`] (length, mtime) of every file.
//! 2. [`format`](mod@format) turns the record into one bencoded dictionary and back
//!    ([`encode`], [`decode`]); [`disk`] replaces the file atomically ([`save`]: temp
//!    file, fsync, rename, fsync of the folder) and reads it without following a symlink
//!    ([`load`]).
//! 3. At the next start, [`trust`] decides from the loaded record, the stamps now and the
//!    boot id now which pieces are trusted and which are hashed again ([`plan`]). A piece
//!    counts only if its files are unchanged and whole, and, if it was not flushed, only
//!    in the same boot; a record that is missing, garbage or for another torrent means a
//!    full check.
//! 4. `download` hashes the pieces the plan lists (`verify`) and starts with those that
//!    matched plus the trusted ones.

pub mod boot;
pub mod disk;
pub mod format;
pub mod recorder;
pub mod trust;

pub use disk::{load, save, write_atomically};
pub use format::{FileStamp, Resume, VERSION, decode, encode};
pub use trust::{Plan, plan};

use crate::metainfo::{FileEntry, FileKind};
use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The state folder inside the download folder.
pub const STATE_DIR: &str = ".smalltorrent";

/// Why a resume file could not be read or written, or was not used.
#[derive(Debug)]
pub enum ResumeError {
    /// There is no resume file (first start, or it was deleted).
    Missing,
    /// The torrent's own paths use the state folder's name, so no resume file is kept.
    Collides,
    /// Reading, writing, syncing or renaming failed.
    Io {
        path: PathBuf,
        action: &'static str,
        source: io::Error,
    },
    /// The data could not be flushed, so nothing new may be recorded.
    Flush(crate::storage::StorageError),
    /// The file is not a resume file we can read (truncated, garbage, other version).
    Malformed { path: PathBuf, why: String },
    /// The file is well formed but describes another torrent.
    OtherTorrent { why: &'static str },
    /// A path in the state folder is a symlink or not a folder; we never follow one.
    NotOurs { path: PathBuf },
}

impl fmt::Display for ResumeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResumeError::Missing => write!(f, "no resume file"),
            ResumeError::Flush(e) => write!(f, "not recording pieces: {e}"),
            ResumeError::Collides => write!(
                f,
                "the torrent's name is {STATE_DIR}, which is where resume files live; \
                 no resume file is kept for it"
            ),
            ResumeError::Io {
                path,
                action,
                source,
            } => write!(f, "cannot {action} {}: {source}", path.display()),
            ResumeError::Malformed { path, why } => write!(
                f,
                "{} is not a usable resume file ({why}); ignoring it",
                path.display()
            ),
            ResumeError::OtherTorrent { why } => {
                write!(f, "the resume file is for another torrent ({why})")
            }
            ResumeError::NotOurs { path } => write!(
                f,
                "{} is a symlink or not a regular folder/file; not using it",
                path.display()
            ),
        }
    }
}

impl std::error::Error for ResumeError {}

/// Where the resume file of torrent `info_hash` downloaded into `dir` lives, or
/// [`ResumeError::Collides`] if the torrent itself would put a file there.
pub fn path_for(
    dir: &Path,
    info_hash: &[u8; 20],
    files: &[FileEntry],
) -> Result<PathBuf, ResumeError> {
    let collides = files.iter().any(|f| {
        f.path
            .components()
            .next()
            .is_some_and(|c| c.as_os_str() == STATE_DIR)
    });
    if collides {
        return Err(ResumeError::Collides);
    }
    let hex: String = info_hash.iter().map(|b| format!("{b:02x}")).collect();
    Ok(dir.join(STATE_DIR).join(format!("{hex}.resume")))
}

/// Where the part files of torrent `info_hash` live, relative to the download folder
/// (`.smalltorrent/<info-hash-hex>.parts`, see `storage::parts`), or
/// [`ResumeError::Collides`] if the torrent itself would put a file there.
pub fn part_dir(info_hash: &[u8; 20], files: &[FileEntry]) -> Result<PathBuf, ResumeError> {
    let resume = path_for(Path::new(""), info_hash, files)?;
    Ok(resume.with_extension("parts"))
}

/// The length and mtime of every regular file of the torrent as it is now (`None` for pad
/// files, symlinks, and files that are missing or not regular files).
pub fn stamps(dir: &Path, files: &[FileEntry]) -> Vec<Option<FileStamp>> {
    files
        .iter()
        .map(|entry| {
            if entry.kind != FileKind::Regular {
                return None;
            }
            let meta = fs::symlink_metadata(dir.join(&entry.path)).ok()?;
            meta.is_file().then(|| FileStamp {
                length: meta.len(),
                mtime: meta.mtime(),
                mtime_ns: meta.mtime_nsec(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;

//! What can go wrong with the torrent's files, in words a user can act on.

use crate::progress::format_bytes;
use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why the files could not be prepared, written, read or flushed.
#[derive(Debug)]
pub enum StorageError {
    /// A folder on the way to a file could not be created.
    CreateDir { path: PathBuf, source: io::Error },
    /// A file could not be opened, created, resized, mapped or synced.
    File {
        path: PathBuf,
        action: &'static str,
        source: io::Error,
    },
    /// A path component is a symlink; we never follow one inside the download folder.
    Symlink { path: PathBuf },
    /// Something that must be a folder is a file, or a file is a folder.
    WrongType {
        path: PathBuf,
        expected: &'static str,
    },
    /// A file on disk is larger than the torrent says it is.
    TooLarge {
        path: PathBuf,
        on_disk: u64,
        expected: u64,
    },
    /// The filesystem has too little free space for the files' unallocated parts.
    NoSpace { path: PathBuf, need: u64, have: u64 },
    /// A write or read fell outside the torrent's byte stream (a bug upstream).
    OutOfRange { offset: u64, length: u64 },
    /// Another program made file number `file` (in metainfo order) shorter while we used
    /// it. The bytes of that access are lost; [`super::Storage::restore`] repairs the file.
    Truncated { path: PathBuf, file: usize },
    /// A file was found unreadable through its map (SIGBUS) although it has its full
    /// length: the disk or the filesystem failed.
    Unreadable { path: PathBuf },
    /// The path now names another file than the one we opened (it was deleted and made
    /// again, or replaced); we never write into a file we did not check.
    Replaced { path: PathBuf },
    /// A write to data opened for checking only (`smalltorrent verify`); a bug upstream.
    ReadOnly,
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageError::CreateDir { path, source } => {
                write!(f, "cannot create folder {}: {source}", path.display())
            }
            StorageError::File {
                path,
                action,
                source,
            } => write!(f, "cannot {action} {}: {source}", path.display()),
            StorageError::Symlink { path } => write!(
                f,
                "{} is a symlink; refusing to follow it out of the download folder",
                path.display()
            ),
            StorageError::WrongType { path, expected } => {
                write!(f, "{} exists but is not a {expected}", path.display())
            }
            StorageError::TooLarge {
                path,
                on_disk,
                expected,
            } => write!(
                f,
                "{} is {on_disk} bytes on disk but the torrent says {expected}; move it away",
                path.display()
            ),
            StorageError::NoSpace { path, need, have } => write!(
                f,
                "no space left on device: need {}, have {} (in {}); free some space and \
                 run the same command again",
                format_bytes(*need),
                format_bytes(*have),
                path.display()
            ),
            StorageError::OutOfRange { offset, length } => {
                write!(
                    f,
                    "{length} bytes at offset {offset} lie outside the torrent"
                )
            }
            StorageError::Truncated { path, .. } => write!(
                f,
                "{} was truncated while in use (another program made it shorter)",
                path.display()
            ),
            StorageError::Unreadable { path } => write!(
                f,
                "part of {} could not be read from disk (SIGBUS, but the file has its full \
                 length): the disk or filesystem failed",
                path.display()
            ),
            StorageError::Replaced { path } => write!(
                f,
                "{} was replaced by another file while in use; not writing into it",
                path.display()
            ),
            StorageError::ReadOnly => {
                write!(
                    f,
                    "the data was opened for checking only and cannot be written"
                )
            }
        }
    }
}

impl std::error::Error for StorageError {}

//! Storage: the torrent's files, created at their final sizes and memory-mapped.
//!
//! The torrent is one byte stream cut into pieces; on disk it is a list of files laid end to
//! end. [`Storage`] maps each file once (memmap2) and translates a stream offset into the
//! right file(s), so a block that straddles two files is split here and nowhere else.
//!
//! Who touches the map: the block-saver thread writes blocks of pieces that are not yet
//! verified; peer threads (when uploading) and the hasher read pieces. The piece manager
//! guarantees that a block is written at most once before its piece is hashed and that a
//! verified piece is never written again, so readers and the writer never touch the same
//! bytes at the same time. That is the invariant the `unsafe` blocks below rely on.
//!
//! Path policy: every path comes already sanitised from the metainfo (relative, no `..`).
//! Storage still refuses to follow a symlink anywhere below the download folder, so a link
//! planted there cannot redirect a write outside it. Pad files (BEP 47) take space in the
//! stream but are never created: writes to them are dropped and reads return zeros.
//! Symlink entries are not created. Empty files are created empty.
//!
//! Space: before anything is mapped, the free space is compared with what the files still
//! need, and each file's blocks are reserved (posix_fallocate, see `space`), so a full disk
//! is a clear error at start, never a SIGBUS when a write through the map finds no block.

pub mod sigbus;
mod space;

use crate::metainfo::{FileEntry, FileKind};
use crate::progress::format_bytes;
use memmap2::{MmapOptions, MmapRaw};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// Why the files could not be prepared, written or flushed.
#[derive(Debug)]
pub enum StorageError {
    /// A folder on the way to a file could not be created.
    CreateDir { path: PathBuf, source: io::Error },
    /// A file could not be opened, created, resized or mapped.
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
        }
    }
}

impl std::error::Error for StorageError {}

/// One file of the torrent and its mapping.
struct Slot {
    /// Where the file starts in the torrent's byte stream.
    offset: u64,
    length: u64,
    path: PathBuf,
    /// The mapping; `None` for pad files, symlinks and empty files (nothing to map).
    map: Option<MmapRaw>,
}

/// The mapped files of one torrent.
pub struct Storage {
    slots: Vec<Slot>,
    total_length: u64,
    /// True if some file already had data in it when we opened it (so it is worth
    /// checking which pieces are already there).
    had_data: bool,
}

impl fmt::Debug for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Storage")
            .field("files", &self.slots.len())
            .field("total_length", &self.total_length)
            .finish()
    }
}

impl Storage {
    /// Creates (or opens) every file of the torrent under `dir` at its final size and maps it.
    pub fn open(dir: &Path, files: &[FileEntry]) -> Result<Storage, StorageError> {
        fs::create_dir_all(dir).map_err(|source| StorageError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        check_space(dir, files)?;
        let mut slots = Vec::with_capacity(files.len());
        let mut had_data = false;
        for entry in files {
            let path = dir.join(&entry.path);
            let map = match entry.kind {
                FileKind::Regular => {
                    make_parents(dir, &entry.path)?;
                    let (file, existing) = open_file(&path, entry.length)?;
                    had_data |= existing > 0;
                    map_file(&file, &path, entry.length)?
                }
                FileKind::Pad | FileKind::Symlink { .. } => None,
            };
            slots.push(Slot {
                offset: entry.offset,
                length: entry.length,
                path,
                map,
            });
        }
        let total_length = files.iter().map(|f| f.length).sum();
        Ok(Storage {
            slots,
            total_length,
            had_data,
        })
    }

    /// Maps the torrent's files under `dir` for reading only, creating and changing
    /// nothing (for `smalltorrent verify`). A file that is missing, not a regular file,
    /// reached through a symlink, or not exactly its torrent length is left unmapped (it
    /// reads as zeros, so its pieces fail their hash) and is `false` in the returned list.
    pub fn open_existing(dir: &Path, files: &[FileEntry]) -> (Storage, Vec<bool>) {
        let mut slots = Vec::with_capacity(files.len());
        let mut present = Vec::with_capacity(files.len());
        for entry in files {
            let path = dir.join(&entry.path);
            let map = match entry.kind {
                FileKind::Regular if entry.length > 0 => {
                    map_existing(dir, &entry.path, entry.length)
                }
                _ => None,
            };
            present.push(map.is_some() || entry.kind != FileKind::Regular || entry.length == 0);
            slots.push(Slot {
                offset: entry.offset,
                length: entry.length,
                path,
                map,
            });
        }
        let total_length = files.iter().map(|f| f.length).sum();
        let storage = Storage {
            slots,
            total_length,
            had_data: true,
        };
        (storage, present)
    }

    /// True if any file already held data before we opened it.
    pub fn had_data(&self) -> bool {
        self.had_data
    }

    /// Copies `data` into the stream at `offset`, across file boundaries.
    pub fn write(&self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        self.visit(offset, data.len() as u64, |map, at, range| {
            if let Some(map) = map {
                // SAFETY: `at + range.len()` is inside the mapping (checked by `visit`), and
                // the piece manager hands each block to exactly one writer before its piece
                // is verified; no reader looks at an unverified piece. So no other thread
                // accesses these bytes while we copy.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        data[range.clone()].as_ptr(),
                        map.as_mut_ptr().add(at),
                        range.len(),
                    );
                }
            }
        })
    }

    /// Calls `f` with consecutive slices covering `length` bytes at `offset` (zeros for pad
    /// files), without copying: this is how pieces are hashed and blocks are uploaded.
    pub fn read_with(
        &self,
        offset: u64,
        length: u64,
        mut f: impl FnMut(&[u8]),
    ) -> Result<(), StorageError> {
        const ZEROS: [u8; 16384] = [0; 16384];
        self.visit(offset, length, |map, at, range| match map {
            Some(map) => {
                // SAFETY: in bounds (checked by `visit`); callers only read pieces that are
                // complete (hashing) or verified, which no thread writes any more.
                let bytes =
                    unsafe { std::slice::from_raw_parts(map.as_ptr().add(at), range.len()) };
                f(bytes);
            }
            None => {
                let mut left = range.len();
                while left > 0 {
                    let n = left.min(ZEROS.len());
                    f(&ZEROS[..n]);
                    left -= n;
                }
            }
        })
    }

    /// Copies `buf.len()` bytes at `offset` into `buf`.
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        let mut filled = 0;
        self.read_with(offset, buf.len() as u64, |bytes| {
            buf[filled..filled + bytes.len()].copy_from_slice(bytes);
            filled += bytes.len();
        })
    }

    /// Writes every dirty page back to disk (msync).
    pub fn flush(&self) -> Result<(), StorageError> {
        for slot in &self.slots {
            if let Some(map) = &slot.map {
                map.flush().map_err(|source| StorageError::File {
                    path: slot.path.clone(),
                    action: "flush",
                    source,
                })?;
            }
        }
        Ok(())
    }

    /// Splits `length` bytes at stream `offset` over the files they fall in, calling
    /// `f(map, offset_in_file, range_in_request)` for each part.
    fn visit(
        &self,
        offset: u64,
        length: u64,
        mut f: impl FnMut(Option<&MmapRaw>, usize, std::ops::Range<usize>),
    ) -> Result<(), StorageError> {
        let end = offset
            .checked_add(length)
            .filter(|&end| end <= self.total_length)
            .ok_or(StorageError::OutOfRange { offset, length })?;
        // The first file that ends after `offset` (files are sorted by offset).
        let first = self
            .slots
            .partition_point(|s| s.offset + s.length <= offset);
        let mut position = offset;
        for slot in &self.slots[first..] {
            if position >= end {
                break;
            }
            if slot.length == 0 {
                continue;
            }
            let slot_end = slot.offset + slot.length;
            let part_end = end.min(slot_end);
            let at = (position - slot.offset) as usize;
            let range = (position - offset) as usize..(part_end - offset) as usize;
            f(slot.map.as_ref(), at, range);
            position = part_end;
        }
        Ok(())
    }
}

/// Creates the folders leading to `relative` under `dir`, refusing symlinks on the way.
fn make_parents(dir: &Path, relative: &Path) -> Result<(), StorageError> {
    let mut path = dir.to_path_buf();
    let Some(parent) = relative.parent() else {
        return Ok(());
    };
    for component in parent.components() {
        path.push(component);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(StorageError::Symlink { path });
            }
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(StorageError::WrongType {
                    path,
                    expected: "folder",
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&path).map_err(|source| StorageError::CreateDir {
                    path: path.clone(),
                    source,
                })?;
            }
            Err(source) => return Err(StorageError::CreateDir { path, source }),
        }
    }
    Ok(())
}

/// Fails with [`StorageError::NoSpace`] if the filesystem under `dir` has less free space
/// than the torrent's regular files still need (their holes and missing parts).
fn check_space(dir: &Path, files: &[FileEntry]) -> Result<(), StorageError> {
    let need: u64 = files
        .iter()
        .filter(|f| f.kind == FileKind::Regular)
        .map(|f| {
            let meta = fs::symlink_metadata(dir.join(&f.path)).ok();
            space::unallocated(meta.filter(|m| m.is_file()).as_ref(), f.length)
        })
        .sum();
    let have = space::free_bytes(dir).map_err(|source| StorageError::File {
        path: dir.to_path_buf(),
        action: "ask the free space of",
        source,
    })?;
    if need > have {
        return Err(StorageError::NoSpace {
            path: dir.to_path_buf(),
            need,
            have,
        });
    }
    Ok(())
}

/// Opens or creates a regular file at `length` bytes and reserves its disk blocks
/// (posix_fallocate), so writes through the map never meet a full disk. Returns the file
/// and how many bytes it held before.
fn open_file(path: &Path, length: u64) -> Result<(File, u64), StorageError> {
    let existing = match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            return Err(StorageError::Symlink {
                path: path.to_path_buf(),
            });
        }
        Ok(meta) if !meta.is_file() => {
            return Err(StorageError::WrongType {
                path: path.to_path_buf(),
                expected: "regular file",
            });
        }
        Ok(meta) => meta.len(),
        Err(_) => 0,
    };
    if existing > length {
        return Err(StorageError::TooLarge {
            path: path.to_path_buf(),
            on_disk: existing,
            expected: length,
        });
    }
    let file_error = |action| {
        move |source| StorageError::File {
            path: path.to_path_buf(),
            action,
            source,
        }
    };
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(file_error("open"))?;
    if existing < length {
        file.set_len(length).map_err(file_error("resize"))?;
    }
    let meta = file.metadata().map_err(file_error("inspect"))?;
    let need = space::unallocated(Some(&meta), length);
    if need > 0 {
        space::reserve(&file, length).map_err(|source| {
            if source.raw_os_error() == Some(libc::ENOSPC) {
                let have = path.parent().and_then(|p| space::free_bytes(p).ok());
                StorageError::NoSpace {
                    path: path.to_path_buf(),
                    need,
                    have: have.unwrap_or(0),
                }
            } else {
                file_error("reserve disk space for")(source)
            }
        })?;
    }
    Ok((file, existing))
}

/// Maps `relative` under `dir` read-only if it is a regular file of exactly `length`
/// bytes with no symlink on the way; `None` otherwise.
fn map_existing(dir: &Path, relative: &Path, length: u64) -> Option<MmapRaw> {
    let mut path = dir.to_path_buf();
    for component in relative.components() {
        path.push(component);
        if fs::symlink_metadata(&path).ok()?.file_type().is_symlink() {
            return None;
        }
    }
    let file = File::open(&path).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() != length {
        return None;
    }
    MmapOptions::new()
        .len(length as usize)
        .map_raw_read_only(&file)
        .ok()
}

fn map_file(file: &File, path: &Path, length: u64) -> Result<Option<MmapRaw>, StorageError> {
    if length == 0 {
        return Ok(None);
    }
    let map = MmapOptions::new()
        .len(length as usize)
        .map_raw(file)
        .map_err(|source| StorageError::File {
            path: path.to_path_buf(),
            action: "memory-map",
            source,
        })?;
    Ok(Some(map))
}

#[cfg(test)]
mod tests;

//! Preparing the files before anything is mapped: folders without symlinks, the free-space
//! check, each file created or opened at its final size with its disk blocks reserved,
//! and (for `verify`) finding which files are there as they should be.

use super::error::StorageError;
use super::parts::{Place, Stretch};
use super::space;
use super::window::{FileId, open_checked};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;

/// Creates the folders leading to `relative` under `dir`, refusing symlinks on the way.
pub fn make_parents(dir: &Path, relative: &Path) -> Result<(), StorageError> {
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
/// than the files of `stretches` still need (their holes and missing parts).
pub fn check_space(dir: &Path, stretches: &[Stretch]) -> Result<(), StorageError> {
    let need: u64 = stretches
        .iter()
        .filter_map(|s| match &s.place {
            Place::Disk(path) => Some((path, s.length)),
            Place::Empty(_) | Place::Nowhere => None,
        })
        .map(|(path, length)| {
            let meta = fs::symlink_metadata(dir.join(path)).ok();
            space::unallocated(meta.filter(|m| m.is_file()).as_ref(), length)
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
/// (posix_fallocate), so writes through a map never meet a full disk. Returns which file
/// it is and how many bytes it held before.
pub fn open_file(path: &Path, length: u64) -> Result<(FileId, u64), StorageError> {
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
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(file_error(path, "open"))?;
    let id = resize_and_reserve(&file, path, length)?;
    Ok((id, existing))
}

/// Gives file `id` at `path` back its full `length` and its reservation after another
/// program truncated it.
pub fn restore(path: &Path, id: FileId, length: u64) -> Result<(), StorageError> {
    let (file, _) = open_checked(path, id, true)?;
    resize_and_reserve(&file, path, length).map(|_| ())
}

/// Extends `file` to `length` if it is shorter and reserves the blocks it lacks.
fn resize_and_reserve(file: &File, path: &Path, length: u64) -> Result<FileId, StorageError> {
    let meta = file.metadata().map_err(file_error(path, "inspect"))?;
    if meta.len() < length {
        file.set_len(length).map_err(file_error(path, "resize"))?;
    }
    let meta = file.metadata().map_err(file_error(path, "inspect"))?;
    let need = space::unallocated(Some(&meta), length);
    if need > 0 {
        space::reserve(file, length).map_err(|source| {
            if source.raw_os_error() == Some(libc::ENOSPC) {
                let have = path.parent().and_then(|p| space::free_bytes(p).ok());
                StorageError::NoSpace {
                    path: path.to_path_buf(),
                    need,
                    have: have.unwrap_or(0),
                }
            } else {
                file_error(path, "reserve disk space for")(source)
            }
        })?;
    }
    Ok(FileId::of(&meta))
}

/// Which file `relative` under `dir` is, if it is a regular file of exactly `length` bytes
/// with no symlink on the way; `None` otherwise (for `verify`, which changes nothing).
pub fn existing_file(dir: &Path, relative: &Path, length: u64) -> Option<FileId> {
    let mut path = dir.to_path_buf();
    for component in relative.components() {
        path.push(component);
        if fs::symlink_metadata(&path).ok()?.file_type().is_symlink() {
            return None;
        }
    }
    let meta = fs::symlink_metadata(&path).ok()?;
    (meta.is_file() && meta.len() == length).then(|| FileId::of(&meta))
}

fn file_error<'a>(path: &'a Path, action: &'static str) -> impl Fn(io::Error) -> StorageError + 'a {
    move |source| StorageError::File {
        path: path.to_path_buf(),
        action,
        source,
    }
}

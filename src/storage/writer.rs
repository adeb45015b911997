//! Writing blocks: a positioned write (`pwrite`) into the file, never a copy through the
//! map. Everything that reads (the hasher, uploads, the check at start, `verify`) still
//! reads through the map; only the block saver writes, and it writes here.
//!
//! Why not through the map: the first store to each 4 KiB page of a shared file mapping
//! takes a write fault and the filesystem's `page_mkwrite`, 1.2 to 1.4 CPU seconds per GiB
//! on our machines, which a write system call does not pay; a full disk or an I/O error
//! comes back as an error, not as a SIGBUS; and pages we wrote are not mapped into our
//! process, so the kernel can write them back and reclaim them like any page cache under
//! a memory limit. libtorrent's mmap backend moved its writes to `pwrite` (2.0.8) for the
//! same reasons. Reads and writes meet in the page cache, so a read through the map sees
//! the bytes as soon as `pwrite` returns.
//!
//! Blocks that follow one another go down in one vectored write (`pwritev`): the saver
//! hands over every consecutive block it finds queued, and the kernel's cost per call
//! (the inode lock, the timestamps, the length check below) is paid once for them all.
//!
//! The saver writes file after file, so the files it wrote last are kept open, a few at a
//! time ([`MAX_OPEN`]); each is opened and checked (`window::open_checked`) once. Before a
//! write its length is asked again (`fstat`, cheap): a file another program truncated is
//! reported, never silently extended over the hole.

use super::error::StorageError;
use super::window::{FileId, open_checked};
use parking_lot::Mutex;
use std::fs::File;
use std::io::{self, IoSlice};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::Arc;

/// Files kept open for writing at most.
pub const MAX_OPEN: usize = 8;

/// The files open for writing, the most recently used last.
#[derive(Debug, Default)]
pub struct Handles {
    open: Mutex<Vec<(usize, Arc<File>)>>,
}

/// What a write found.
pub enum Wrote {
    Done,
    /// The file is shorter than it should be: nothing was written.
    Short,
}

impl Handles {
    /// Writes `parts`, one after the other, at `at` in file `file` (`path`, which must be
    /// file `id` and at least `length` bytes long).
    pub fn write(
        &self,
        file: usize,
        path: &Path,
        id: FileId,
        length: u64,
        at: u64,
        parts: &mut [IoSlice<'_>],
    ) -> Result<Wrote, StorageError> {
        let handle = self.get(file, path, id)?;
        let error = |action| {
            move |source| StorageError::File {
                path: path.to_path_buf(),
                action,
                source,
            }
        };
        let on_disk = handle.metadata().map_err(error("inspect"))?.len();
        if on_disk < length {
            return Ok(Wrote::Short);
        }
        write_all_at(&handle, parts, at).map_err(error("write"))?;
        Ok(Wrote::Done)
    }

    /// Closes file `file` if it is open (its length is being restored, say).
    pub fn forget(&self, file: usize) {
        self.open.lock().retain(|(f, _)| *f != file);
    }

    /// File `file`, open for writing: kept from an earlier write, or opened now.
    fn get(&self, file: usize, path: &Path, id: FileId) -> Result<Arc<File>, StorageError> {
        let mut open = self.open.lock();
        if let Some(at) = open.iter().position(|(f, _)| *f == file) {
            let entry = open.remove(at);
            let handle = entry.1.clone();
            open.push(entry);
            return Ok(handle);
        }
        drop(open);
        let (handle, _) = open_checked(path, id, true)?;
        let handle = Arc::new(handle);
        let mut open = self.open.lock();
        if open.len() >= MAX_OPEN {
            open.remove(0);
        }
        open.push((file, handle.clone()));
        Ok(handle)
    }
}

/// Writes all of `parts` at `at` with `pwritev`, again from where it stopped when the
/// kernel takes less (std's `write_vectored_at` is not stable yet).
fn write_all_at(file: &File, mut parts: &mut [IoSlice<'_>], mut at: u64) -> io::Result<()> {
    /// What one call may carry (`IOV_MAX` on Linux).
    const MAX_PARTS: usize = 1024;
    IoSlice::advance_slices(&mut parts, 0);
    while !parts.is_empty() {
        let count = parts.len().min(MAX_PARTS) as libc::c_int;
        let offset = libc::off_t::try_from(at).map_err(|_| io::ErrorKind::InvalidInput)?;
        // SAFETY: `IoSlice` is ABI-compatible with `struct iovec` on Unix (std documents
        // it), and the first `count` entries of `parts` point to buffers that stay
        // borrowed, and so valid for reads, for the whole call.
        let written =
            unsafe { libc::pwritev(file.as_raw_fd(), parts.as_ptr().cast(), count, offset) };
        match written {
            n if n > 0 => {
                at += n as u64;
                IoSlice::advance_slices(&mut parts, n as usize);
            }
            0 => return Err(io::ErrorKind::WriteZero.into()),
            _ => {
                let error = io::Error::last_os_error();
                if error.kind() != io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
        }
    }
    Ok(())
}

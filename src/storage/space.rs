//! Disk space: reserving a file's blocks before it is written through the map, and asking
//! how much space is free, so that a full disk is an error at start ("no space left on
//! device: need X, have Y") instead of a SIGBUS in the middle of a copy into the map.
//!
//! std has neither `posix_fallocate` nor `statvfs`; both come from `libc`, each in one
//! small `unsafe` call.

use std::ffi::CString;
use std::fs::{File, Metadata};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;

/// Bytes of `meta`'s file that still have no disk blocks behind them (holes of a sparse
/// file), out of `length`.
pub fn unallocated(meta: Option<&Metadata>, length: u64) -> u64 {
    let allocated = meta.map_or(0, |m| m.blocks().saturating_mul(512));
    length.saturating_sub(allocated)
}

/// Free bytes for an unprivileged user on the filesystem holding `path`.
pub fn free_bytes(path: &Path) -> io::Result<u64> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c_path` is a valid NUL-terminated string and `stats` points to writable
    // memory of the right type; statvfs fills it completely when it returns 0.
    let result = unsafe { libc::statvfs(c_path.as_ptr(), stats.as_mut_ptr()) };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it initialised `stats`.
    let stats = unsafe { stats.assume_init() };
    #[allow(
        clippy::unnecessary_cast,
        reason = "the field types are u64 here but narrower on some platforms"
    )]
    let (blocks, size) = (stats.f_bavail as u64, stats.f_frsize as u64);
    Ok(blocks.saturating_mul(size))
}

/// Allocates disk blocks for the first `length` bytes of `file` (posix_fallocate), so that
/// later writes through a map of it cannot fail for lack of space.
pub fn reserve(file: &File, length: u64) -> io::Result<()> {
    let length = libc::off_t::try_from(length)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file too large"))?;
    // SAFETY: the descriptor is open for writing for the whole call (we borrow `file`);
    // posix_fallocate touches no memory of ours.
    let result = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, length) };
    // posix_fallocate returns the error number instead of setting errno.
    match result {
        0 => Ok(()),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}

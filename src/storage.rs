//! Storage: the torrent's files, created at their final sizes and memory-mapped one window
//! at a time.
//!
//! The torrent is one byte stream cut into pieces; on disk it is a list of files laid end to
//! end. [`Storage`] translates a stream offset into the right file(s) and window(s), so a
//! block that straddles two files (or two windows) is split here and nowhere else.
//!
//! Windows (`window`): a file is mapped in windows of 64 MiB, each mapped when first
//! touched and kept in a cache of at most 16 (least recently used out). A window is
//! mapped by opening the file, checking it is the one we prepared, mapping, and closing
//! it again, so no file descriptor stays open, whatever the number of files.
//!
//! Memory bound: the mapped address space is at most `count × size` (1 GiB by default) in
//! the cache, plus one evicted window per thread that is in the middle of a copy (a thread
//! holds one window at a time). That is what lets a 32-bit machine download a torrent
//! larger than its address space and a torrent of 10,000 files keep 16 mappings, not
//! 10,000. The *resident* part of a map is page cache: shared file pages, counted in a
//! process's RssFile, which the kernel writes back and reclaims; none of it is private
//! memory (RssAnon), which is what the download's own buffers use. (The one exception: the
//! zero page the SIGBUS handler maps over a truncated file's page, until its window goes.)
//!
//! Who touches the files: the block-saver thread writes blocks of pieces that are not yet
//! verified, with `pwrite`, never through the map (`writer`); peer threads (when
//! uploading) and the hasher read pieces through the map, which is read-only. The piece
//! manager guarantees that a block is written at most once before its piece is hashed and
//! that a verified piece is never written again, so readers and the writer never touch the
//! same bytes at the same time. After hashing a piece, the hasher drops its pages from our
//! mappings (`release`), so the resident size does not grow with the file.
//!
//! Durability: [`Storage::flush`] returns once every byte written before it was called is
//! on disk. A write marks its file dirty (after the `pwrite`); a flush opens each dirty
//! file and `fdatasync`s it, which writes its dirty pages from the page cache. Eviction of
//! a window therefore costs no I/O; the
//! resume recorder flushes every 30 s and marks pieces verified since its last flush as
//! not yet on disk (see `resume::recorder`).
//!
//! Truncation while running (`sigbus`): another program may cut a file short under a live
//! window. The access that finds the missing page raises SIGBUS; the handler maps a zero
//! page there and poisons the window, the copy completes harmlessly, and the access returns
//! [`StorageError::Truncated`]. The file is noted; its repairer (the check of the data on
//! disk at start, then the block saver) gets it from [`Storage::next_truncated`], forgets
//! what it lost, [`Storage::restore`]s its length and space, and rechecks it. A flush also
//! reports a dirty file it finds too short.
//!
//! Path policy: every path comes already sanitised from the metainfo (relative, no `..`).
//! Storage still refuses to follow a symlink anywhere below the download folder, so a link
//! planted there cannot redirect a write outside it; later opens use `O_NOFOLLOW` and check
//! the file's device and inode. Pad files (BEP 47) take space in the stream but are never
//! created: writes to them are dropped and reads return zeros. Symlink entries are not
//! created. Empty files are created empty.
//!
//! Space: before anything is mapped, the free space is compared with what the files still
//! need, and each file's blocks are reserved (posix_fallocate, see `space`), so a full disk
//! is a clear error at start, never a SIGBUS when a write through the map finds no block.

mod error;
pub mod parts;
mod prepare;
mod read_only;
mod release;
pub mod sigbus;
mod space;
mod window;
mod writer;

pub use error::StorageError;
pub use parts::{Place, Stretch};
pub use window::Limits as WindowLimits;

use crate::metainfo::FileEntry;
use parking_lot::Mutex;
use std::fmt;
use std::fs;
use std::io::IoSlice;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use window::{Cache, FileId, Key, Window, open_checked};
use writer::{Handles, Wrote};

/// One file of the torrent.
struct Slot {
    /// Where the file starts in the torrent's byte stream.
    offset: u64,
    length: u64,
    path: PathBuf,
    /// The file on disk, or `None` when the bytes read as zeros and writes are dropped (pad
    /// files, symlink entries, empty files, and files `verify` found missing).
    file: Option<FileId>,
    /// Written since the last flush began (set after each copy into the map).
    dirty: AtomicBool,
}

/// A file found shorter than the torrent says, as its repairer needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    pub path: PathBuf,
    /// The whole file, as a range of the byte stream.
    pub span: Range<u64>,
    /// The part of `span` past the file's current end: those bytes are gone.
    pub lost: Range<u64>,
}

/// The files of one torrent, mapped window by window.
pub struct Storage {
    slots: Vec<Slot>,
    total_length: u64,
    /// True if some file already had data in it when we opened it (so it is worth
    /// checking which pieces are already there).
    had_data: bool,
    /// False for `verify`, which maps read-only and never writes.
    writable: bool,
    window_size: u64,
    cache: Cache,
    /// The files the block saver wrote last, kept open for its next writes.
    handles: Handles,
    /// Files found truncated, in the order found, each once, waiting for their repair.
    truncated: Mutex<Vec<usize>>,
    /// True while `truncated` is not empty (set and cleared under its lock), so that the
    /// saver's look for files to repair, before every block, is one atomic load and takes
    /// the lock only in the rare case. A file noted while the saver looks is seen at its
    /// next look.
    any_truncated: AtomicBool,
    /// Flushes run one at a time: a flush that found a file dirty must not let a second,
    /// concurrent one return before the first has synced it.
    flushing: Mutex<()>,
}

impl fmt::Debug for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Storage")
            .field("files", &self.slots.len())
            .field("total_length", &self.total_length)
            .field("window_size", &self.window_size)
            .finish()
    }
}

impl Storage {
    /// Creates (or opens) every file of the torrent under `dir` at its final size and
    /// reserves its space, with the default windows.
    pub fn open(dir: &Path, files: &[FileEntry]) -> Result<Storage, StorageError> {
        Storage::open_with(dir, files, WindowLimits::default())
    }

    /// [`Storage::open`] with windows of `limits.size` bytes, at most `limits.count` mapped.
    pub fn open_with(
        dir: &Path,
        files: &[FileEntry],
        limits: WindowLimits,
    ) -> Result<Storage, StorageError> {
        Storage::open_stretches(dir, &parts::every_file(files), limits)
    }

    /// Creates (or opens) the files of `stretches` under `dir` (each stretch that has a
    /// place on disk) and reserves their space: every file of the torrent, or the selected
    /// ones and the part files of the others (see `parts`).
    pub fn open_stretches(
        dir: &Path,
        stretches: &[Stretch],
        limits: WindowLimits,
    ) -> Result<Storage, StorageError> {
        fs::create_dir_all(dir).map_err(|source| StorageError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        prepare::check_space(dir, stretches)?;
        let mut slots = Vec::with_capacity(stretches.len());
        let mut had_data = false;
        for stretch in stretches {
            let (path, file) = match &stretch.place {
                Place::Disk(relative) | Place::Empty(relative) => {
                    prepare::make_parents(dir, relative)?;
                    let path = dir.join(relative);
                    let (id, existing) = prepare::open_file(&path, stretch.length)?;
                    had_data |= existing > 0;
                    (path, (stretch.length > 0).then_some(id))
                }
                Place::Nowhere => (PathBuf::new(), None),
            };
            slots.push(Slot {
                offset: stretch.offset,
                length: stretch.length,
                path,
                file,
                dirty: AtomicBool::new(false),
            });
        }
        Ok(Storage::new(slots, had_data, true, limits))
    }

    fn new(slots: Vec<Slot>, had_data: bool, writable: bool, limits: WindowLimits) -> Storage {
        sigbus::install();
        let page = sigbus::page_size() as u64;
        Storage {
            total_length: slots.iter().map(|s| s.length).sum(),
            slots,
            had_data,
            writable,
            window_size: limits.size.max(1).div_ceil(page) * page,
            cache: Cache::new(limits.count),
            handles: Handles::default(),
            truncated: Mutex::new(Vec::new()),
            any_truncated: AtomicBool::new(false),
            flushing: Mutex::new(()),
        }
    }

    /// True if any file already held data before we opened it.
    pub fn had_data(&self) -> bool {
        self.had_data
    }

    /// Writes `data` into the stream at `offset`, across file boundaries, with one
    /// positioned write per file (see `writer`: writes do not go through the map).
    pub fn write(&self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        self.write_run(offset, &[data])
    }

    /// Writes `run`, buffers that follow one another in the stream, at `offset`: one
    /// vectored write (`pwritev`) per file they cross, not one per buffer. The block
    /// saver writes the consecutive blocks it finds queued this way.
    pub fn write_run(&self, offset: u64, run: &[&[u8]]) -> Result<(), StorageError> {
        if !self.writable {
            return Err(StorageError::ReadOnly);
        }
        let total = run.iter().map(|b| b.len() as u64).sum();
        let end = self.end_of(offset, total)?;
        let mut position = offset;
        for (file, slot) in self.slots.iter().enumerate().skip(self.first_slot(offset)) {
            if position >= end {
                break;
            }
            let part_end = end.min(slot.offset + slot.length);
            if let Some(id) = slot.file {
                let mut parts = slices_within(run, offset, position..part_end);
                let at = position - slot.offset;
                match self
                    .handles
                    .write(file, &slot.path, id, slot.length, at, &mut parts)?
                {
                    Wrote::Done => slot.dirty.store(true, Ordering::Release),
                    Wrote::Short => return Err(self.note_truncated(file)),
                }
            }
            position = part_end.max(position);
        }
        Ok(())
    }

    /// Calls `f` with consecutive slices covering `length` bytes at `offset` (zeros for pad
    /// files), without copying: this is how pieces are hashed and blocks are uploaded. On
    /// an error, what `f` was given must be thrown away (it may hold zeros).
    pub fn read_with(
        &self,
        offset: u64,
        length: u64,
        mut f: impl FnMut(&[u8]),
    ) -> Result<(), StorageError> {
        const ZEROS: [u8; 16384] = [0; 16384];
        self.visit(offset, length, |_, source, range| match source {
            Some(source) => {
                // SAFETY: `range.len()` bytes inside a live window (checked by `visit`);
                // callers only read pieces that are complete (hashing) or verified, which
                // no thread writes any more.
                f(unsafe { std::slice::from_raw_parts(source, range.len()) });
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

    /// Writes every byte written so far to disk: `fdatasync` of each file written since
    /// the last flush, whether its windows are still mapped or not (see the module doc).
    pub fn flush(&self) -> Result<(), StorageError> {
        let _one_at_a_time = self.flushing.lock();
        for (file, slot) in self.slots.iter().enumerate() {
            if !slot.dirty.load(Ordering::Relaxed) || !slot.dirty.swap(false, Ordering::Acquire) {
                continue;
            }
            if let Err(error) = self.sync(file) {
                slot.dirty.store(true, Ordering::Relaxed);
                return Err(error);
            }
        }
        Ok(())
    }

    /// A file found truncated since the last call (each file once), to be repaired. Cheap
    /// when there is none: one atomic load, no lock (the saver asks before every block).
    pub fn next_truncated(&self) -> Option<usize> {
        if !self.any_truncated.load(Ordering::Acquire) {
            return None;
        }
        let mut truncated = self.truncated.lock();
        let next = (!truncated.is_empty()).then(|| truncated.remove(0));
        self.any_truncated
            .store(!truncated.is_empty(), Ordering::Release);
        next
    }

    /// Where file `file` lies in the stream and which of its bytes are gone now.
    pub fn truncation(&self, file: usize) -> Result<Truncation, StorageError> {
        let slot = &self.slots[file];
        let on_disk = match slot.file {
            Some(id) => open_checked(&slot.path, id, false)?.1,
            None => slot.length,
        };
        let span = slot.offset..slot.offset + slot.length;
        Ok(Truncation {
            path: slot.path.clone(),
            lost: slot.offset + on_disk.min(slot.length)..span.end,
            span,
        })
    }

    /// Gives a truncated file back its full length and its disk reservation. Windows
    /// mapped before are dropped; the lost bytes read as zeros until written again.
    pub fn restore(&self, file: usize) -> Result<(), StorageError> {
        let slot = &self.slots[file];
        if let Some(id) = slot.file {
            prepare::restore(&slot.path, id, slot.length)?;
        }
        self.handles.forget(file);
        self.cache.remove_file(file);
        let mut truncated = self.truncated.lock();
        truncated.retain(|&f| f != file);
        self.any_truncated
            .store(!truncated.is_empty(), Ordering::Release);
        Ok(())
    }

    /// How many windows are mapped in the cache now (at most `count`).
    pub fn mapped_windows(&self) -> usize {
        self.cache.mapped()
    }

    /// Splits `length` bytes at stream `offset` over the files and windows they fall in,
    /// calling `f(file, source, range_in_request)` for each part, where `source` points to
    /// the part's first byte in a window (valid for `range.len()` bytes during the call),
    /// or is `None` for bytes that are not on disk (pad files).
    fn visit(
        &self,
        offset: u64,
        length: u64,
        mut f: impl FnMut(usize, Option<*const u8>, Range<usize>),
    ) -> Result<(), StorageError> {
        let end = self.end_of(offset, length)?;
        let mut position = offset;
        for (file, slot) in self.slots.iter().enumerate().skip(self.first_slot(offset)) {
            if position >= end {
                break;
            }
            if slot.length == 0 {
                continue;
            }
            let part_end = end.min(slot.offset + slot.length);
            let Some(id) = slot.file else {
                f(
                    file,
                    None,
                    (position - offset) as usize..(part_end - offset) as usize,
                );
                position = part_end;
                continue;
            };
            while position < part_end {
                let in_file = position - slot.offset;
                let key = Key {
                    file,
                    index: in_file / self.window_size,
                };
                let window_start = key.index * self.window_size;
                let chunk_end = part_end.min(slot.offset + window_start + self.window_size);
                let range = (position - offset) as usize..(chunk_end - offset) as usize;
                let window = self.window(key, id)?;
                f(
                    file,
                    Some(window.at((in_file - window_start) as usize, range.len())),
                    range,
                );
                if window.is_poisoned() {
                    self.cache.remove(key, &window);
                    return Err(self.lost(file));
                }
                position = chunk_end;
            }
        }
        Ok(())
    }

    /// The end of `length` bytes at `offset`, if they lie inside the stream.
    fn end_of(&self, offset: u64, length: u64) -> Result<u64, StorageError> {
        offset
            .checked_add(length)
            .filter(|&end| end <= self.total_length)
            .ok_or(StorageError::OutOfRange { offset, length })
    }

    /// The first file that ends after `offset` (files are sorted by offset).
    fn first_slot(&self, offset: u64) -> usize {
        self.slots
            .partition_point(|s| s.offset + s.length <= offset)
    }

    /// The window `key` of file `id`, from the cache or mapped now.
    fn window(&self, key: Key, id: FileId) -> Result<Arc<Window>, StorageError> {
        if let Some(window) = self.cache.get(key) {
            return Ok(window);
        }
        let slot = &self.slots[key.file];
        let start = key.index * self.window_size;
        let len = (slot.length - start).min(self.window_size);
        // Read-only, even for a download: only `writer` writes, and not through the map.
        let (handle, on_disk) = open_checked(&slot.path, id, false)?;
        if on_disk < start + len {
            return Err(self.note_truncated(key.file));
        }
        let window = window::map(&handle, &slot.path, start, len)?;
        Ok(self.cache.insert(key, window))
    }

    /// `fdatasync`s file `file`, after checking it still has its length.
    fn sync(&self, file: usize) -> Result<(), StorageError> {
        let slot = &self.slots[file];
        let Some(id) = slot.file else {
            return Ok(());
        };
        let (handle, on_disk) = open_checked(&slot.path, id, false)?;
        if on_disk < slot.length {
            return Err(self.note_truncated(file));
        }
        handle.sync_data().map_err(|source| StorageError::File {
            path: slot.path.clone(),
            action: "flush",
            source,
        })
    }

    /// The error for an access that went through a zero page (a SIGBUS in its window):
    /// the file was truncated (noted for repair), or, at its full length, it is unreadable.
    fn lost(&self, file: usize) -> StorageError {
        let slot = &self.slots[file];
        match fs::symlink_metadata(&slot.path) {
            Ok(meta) if meta.len() >= slot.length => StorageError::Unreadable {
                path: slot.path.clone(),
            },
            _ => self.note_truncated(file),
        }
    }

    /// Notes file `file` for repair (once) and returns the error saying it was truncated.
    fn note_truncated(&self, file: usize) -> StorageError {
        let mut truncated = self.truncated.lock();
        if !truncated.contains(&file) {
            truncated.push(file);
        }
        self.any_truncated.store(true, Ordering::Release);
        StorageError::Truncated {
            path: self.slots[file].path.clone(),
            file,
        }
    }
}

/// The parts of `run` (buffers laid end to end from stream offset `offset`) that fall in
/// the stream range `range`, in order.
fn slices_within<'a>(run: &[&'a [u8]], offset: u64, range: Range<u64>) -> Vec<IoSlice<'a>> {
    let mut parts = Vec::with_capacity(run.len());
    let mut start = offset;
    for &buffer in run {
        let end = start + buffer.len() as u64;
        let (from, to) = (start.max(range.start), end.min(range.end));
        if from < to {
            parts.push(IoSlice::new(
                &buffer[(from - start) as usize..(to - start) as usize],
            ));
        }
        start = end;
    }
    parts
}

#[cfg(test)]
mod tests;

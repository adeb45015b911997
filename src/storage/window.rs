//! Windows: the parts of the torrent's files that are mapped right now, and the small
//! cache that keeps them.
//!
//! A file is cut into windows of [`Limits::size`] bytes (the last one clipped to the
//! file), and a window is mapped only when someone reads or writes it: open the file,
//! check it is still the one we prepared, map the window, close the file (the map stays
//! valid without the descriptor). The [`Cache`] holds at most [`Limits::count`] windows
//! and evicts the least recently used one to make room.
//!
//! Windows are shared as `Arc<Window>`: a thread takes a clone under the cache's lock,
//! lets go of the lock, and copies. If another thread evicts that window meanwhile, the
//! copy still finishes; the window is unmapped when its last user drops it. So the mapped
//! address space is at most `count` windows in the cache plus one evicted window per
//! thread that is in the middle of a copy.

use super::error::StorageError;
use super::sigbus::Registration;
use memmap2::{MmapOptions, MmapRaw};
use parking_lot::Mutex;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

/// How windows are cut and how many are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes per window (a multiple of the page size; rounded up to one if not).
    pub size: u64,
    /// Windows kept mapped in the cache at most.
    pub count: usize,
}

impl Default for Limits {
    /// 16 windows of 64 MiB: at most 1 GiB of address space in the cache, which fits a
    /// 32-bit process, and a piece (16 MiB at most from `create`) spans two at most.
    fn default() -> Limits {
        Limits {
            size: 64 << 20,
            count: 16,
        }
    }
}

/// Which file on disk we prepared: a path can later name another file (deleted and made
/// again, or a folder on the way swapped for a symlink), so every open checks this before
/// mapping. The birth time tells a new file from an old one that had the same inode
/// number (filesystems reuse them at once); it is `None` where the filesystem has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    pub device: u64,
    pub inode: u64,
    pub born: Option<SystemTime>,
}

impl FileId {
    pub fn of(meta: &std::fs::Metadata) -> FileId {
        FileId {
            device: meta.dev(),
            inode: meta.ino(),
            born: meta.created().ok(),
        }
    }
}

/// One mapped window of one file.
#[derive(Debug)]
pub struct Window {
    /// Declared before `map` so that it drops first: the range leaves the SIGBUS registry
    /// before it is unmapped (and could be reused by another mapping).
    registration: Option<Registration>,
    map: MmapRaw,
}

impl Window {
    /// A pointer to byte `at` of the window, checked against its length.
    pub fn at(&self, at: usize, len: usize) -> *const u8 {
        assert!(at + len <= self.map.len(), "access outside the window");
        // SAFETY: in bounds, checked just above.
        unsafe { self.map.as_ptr().add(at) }
    }

    /// Drops this process's page-table entries for `len` bytes at `at` (whole pages
    /// around them): the bytes stay in the page cache, and a later read maps them again.
    pub fn release(&self, at: usize, len: usize) {
        let len = len.min(self.map.len().saturating_sub(at));
        if len == 0 {
            return;
        }
        // SAFETY: MADV_DONTNEED on a shared file mapping only unmaps the pages: the file's
        // bytes stay in the page cache and the next access faults them back in, so a
        // thread reading the same pages meanwhile sees the same bytes. Nothing here holds
        // a Rust reference into the map (readers get raw slices only for the length of
        // a call, and see identical contents after the refault).
        let _ = unsafe {
            self.map
                .unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, at, len)
        };
    }

    /// True if a SIGBUS hit this window (see `sigbus`): its contents are not to be trusted.
    pub fn is_poisoned(&self) -> bool {
        self.registration.as_ref().is_some_and(|r| r.is_poisoned())
    }
}

/// Opens `path` without following a symlink in its last component and checks that it is
/// still the file `id`. Returns it with its current length.
pub fn open_checked(path: &Path, id: FileId, writable: bool) -> Result<(File, u64), StorageError> {
    let file = OpenOptions::new()
        .read(true)
        .write(writable)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|source| StorageError::File {
            path: path.to_path_buf(),
            action: "open",
            source,
        })?;
    let meta = file.metadata().map_err(|source| StorageError::File {
        path: path.to_path_buf(),
        action: "inspect",
        source,
    })?;
    if FileId::of(&meta) != id {
        return Err(StorageError::Replaced {
            path: path.to_path_buf(),
        });
    }
    Ok((file, meta.len()))
}

/// Maps `len` bytes at `offset` of `file`, read-only, and registers them for the SIGBUS
/// handler.
pub fn map(file: &File, path: &Path, offset: u64, len: u64) -> Result<Window, StorageError> {
    let map = MmapOptions::new()
        .offset(offset)
        .len(len as usize)
        .map_raw_read_only(file)
        .map_err(|source| StorageError::File {
            path: path.to_path_buf(),
            action: "memory-map",
            source,
        })?;
    let registration = Registration::new(map.as_ptr(), map.len());
    if registration.is_none() {
        log::warn!(
            "SIGBUS registry full: a truncation of {} would be fatal",
            path.display()
        );
    }
    Ok(Window { registration, map })
}

/// Names one window: file `file` (in metainfo order), window `index` of that file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub file: usize,
    pub index: u64,
}

/// The windows mapped right now, least recently used first out.
#[derive(Debug)]
pub struct Cache {
    count: usize,
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    list: Vec<Entry>,
    /// Counts uses; an entry's `last_used` is the clock at its latest use.
    clock: u64,
}

#[derive(Debug)]
struct Entry {
    key: Key,
    window: Arc<Window>,
    last_used: u64,
}

impl Cache {
    /// An empty cache that keeps at most `count` windows (at least one).
    pub fn new(count: usize) -> Cache {
        Cache {
            count: count.max(1),
            entries: Mutex::new(Entries::default()),
        }
    }

    /// The window `key` if it is mapped, marked as just used.
    pub fn get(&self, key: Key) -> Option<Arc<Window>> {
        let mut entries = self.entries.lock();
        entries.clock += 1;
        let clock = entries.clock;
        let entry = entries.list.iter_mut().find(|e| e.key == key)?;
        entry.last_used = clock;
        Some(entry.window.clone())
    }

    /// Adds a window mapped by the caller and returns the one to use: another thread may
    /// have mapped the same window meanwhile, then that one wins. Evicts the least
    /// recently used window if the cache is full. Windows leaving the cache are unmapped
    /// after the lock is released (or later, by their last user).
    pub fn insert(&self, key: Key, window: Window) -> Arc<Window> {
        let window = Arc::new(window);
        let evicted;
        let chosen = {
            let mut entries = self.entries.lock();
            entries.clock += 1;
            let clock = entries.clock;
            if let Some(entry) = entries.list.iter_mut().find(|e| e.key == key) {
                entry.last_used = clock;
                evicted = Some(window);
                entry.window.clone()
            } else {
                evicted = if entries.list.len() >= self.count {
                    let oldest = (0..entries.list.len())
                        .min_by_key(|&i| entries.list[i].last_used)
                        .unwrap_or(0);
                    Some(entries.list.swap_remove(oldest).window)
                } else {
                    None
                };
                entries.list.push(Entry {
                    key,
                    window: window.clone(),
                    last_used: clock,
                });
                window
            }
        };
        drop(evicted);
        chosen
    }

    /// Drops `window` from the cache if it is still there under `key` (a poisoned window).
    pub fn remove(&self, key: Key, window: &Arc<Window>) {
        let removed = {
            let mut entries = self.entries.lock();
            let found = entries
                .list
                .iter()
                .position(|e| e.key == key && Arc::ptr_eq(&e.window, window));
            found.map(|i| entries.list.swap_remove(i))
        };
        drop(removed);
    }

    /// Drops every window of file `file` from the cache.
    pub fn remove_file(&self, file: usize) {
        let removed: Vec<Entry> = {
            let mut entries = self.entries.lock();
            let (gone, kept) = std::mem::take(&mut entries.list)
                .into_iter()
                .partition(|e| e.key.file == file);
            entries.list = kept;
            gone
        };
        drop(removed);
    }

    /// How many windows the cache holds (for tests and the module's bound).
    pub fn mapped(&self) -> usize {
        self.entries.lock().list.len()
    }
}

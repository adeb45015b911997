//! Surviving SIGBUS: a file truncated by another program while we read or write its map.
//!
//! Touching a page of a map that lies beyond the end of its file raises SIGBUS, which
//! would kill the process. Space is reserved up front (`space::reserve`), so a full disk
//! does not get here; a truncation (or a failing disk) can.
//!
//! How we survive it:
//!
//! 1. Every window (`storage/window.rs`) registers its address range here when it is
//!    mapped and unregisters it *before* it is unmapped. The registry is a fixed array of
//!    atomics ([`CAPACITY`] entries), so the signal handler can search it without a lock
//!    and without allocating.
//! 2. The handler (installed with `SA_SIGINFO`, so it learns the faulting address) looks
//!    the address up. Inside one of our windows, it maps an anonymous zero page over the
//!    faulting page (`mmap(MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS)`) and marks the window
//!    *poisoned*. When the handler returns, the interrupted copy runs again and completes
//!    harmlessly: a read sees zeros, a write lands in the private page and is lost.
//! 3. After each access, storage asks its window [`Registration::is_poisoned`]; if so it
//!    drops the window and returns `StorageError::Truncated`, so no caller ever trusts
//!    bytes that went through a zero page.
//!
//! POSIX does not list `mmap` among the async-signal-safe functions. On Linux it is one
//! system call that takes no user-space lock (glibc's wrapper only sets `errno`, which we
//! save and restore), so calling it here is safe in practice; this module is Linux-only in
//! spirit, like the rest of storage (fallocate, statvfs).
//!
//! A SIGBUS outside our windows (or with a full registry, or sent by `kill`) keeps the old
//! last resort: one line saying what happened, then `_exit(1)`. Nothing is lost even
//! then: verified pieces were recorded only after their flush, and the next start sees the
//! changed size and rechecks the file.

use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};

/// How many windows can be registered at once: the window cache's count plus one window
/// per thread that is using an evicted one. A window that finds the registry full is
/// still used, only without protection (SIGBUS in it is fatal, as before).
pub const CAPACITY: usize = 1024;

/// The message for a SIGBUS we cannot absorb, written with `write(2)`: the only output
/// that is safe in a signal handler.
const MESSAGE: &[u8] = b"\nsmalltorrent: disk error: a file of the torrent was truncated or \
its disk failed while in use (SIGBUS); run the same command again to recheck it\n";

/// `tag` of a free entry.
const FREE: usize = 0;
/// `tag` of an entry being filled in.
const BUSY: usize = usize::MAX;

/// One registered window. `tag` says whether the entry is live and, being unique per
/// registration, lets the handler notice if the entry changed while it read it.
struct Entry {
    tag: AtomicUsize,
    start: AtomicUsize,
    end: AtomicUsize,
    poisoned: AtomicBool,
}

static REGISTRY: [Entry; CAPACITY] = [const {
    Entry {
        tag: AtomicUsize::new(FREE),
        start: AtomicUsize::new(0),
        end: AtomicUsize::new(0),
        poisoned: AtomicBool::new(false),
    }
}; CAPACITY];

/// The next registration's tag (never `FREE` or `BUSY`).
static NEXT_TAG: AtomicUsize = AtomicUsize::new(1);

/// The page size, read once at install (the handler cannot call `sysconf`).
static PAGE_SIZE: AtomicUsize = AtomicUsize::new(4096);

/// A window's entry in the registry; dropping it unregisters the window.
#[derive(Debug)]
pub struct Registration {
    index: usize,
}

impl Registration {
    /// Registers `len` bytes at `start`; `None` if the registry is full.
    pub fn new(start: *const u8, len: usize) -> Option<Registration> {
        let index = REGISTRY.iter().position(|entry| {
            entry
                .tag
                .compare_exchange(FREE, BUSY, SeqCst, SeqCst)
                .is_ok()
        })?;
        let entry = &REGISTRY[index];
        entry.start.store(start as usize, SeqCst);
        entry.end.store(start as usize + len, SeqCst);
        entry.poisoned.store(false, SeqCst);
        let tag = loop {
            let tag = NEXT_TAG.fetch_add(1, SeqCst);
            if tag != FREE && tag != BUSY {
                break tag;
            }
        };
        entry.tag.store(tag, SeqCst);
        Some(Registration { index })
    }

    /// True once a SIGBUS hit the window: some bytes read since were zeros, some writes
    /// were lost.
    pub fn is_poisoned(&self) -> bool {
        REGISTRY[self.index].poisoned.load(SeqCst)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        REGISTRY[self.index].tag.store(FREE, SeqCst);
    }
}

/// The live entry whose range holds `address`, if any. Reads each entry like a seqlock:
/// tag, range, tag again; a changed tag means the entry was reused meanwhile, so it is
/// skipped (our own faulting window cannot change: its user holds it).
fn find(address: usize) -> Option<&'static Entry> {
    REGISTRY.iter().find(|entry| {
        let tag = entry.tag.load(SeqCst);
        if tag == FREE || tag == BUSY {
            return false;
        }
        let (start, end) = (entry.start.load(SeqCst), entry.end.load(SeqCst));
        entry.tag.load(SeqCst) == tag && (start..end).contains(&address)
    })
}

/// Maps a private zero page over the page holding `address`, if it lies in one of our
/// windows, and poisons that window. False if the address is not ours or mmap failed.
fn cover_with_zeros(address: usize) -> bool {
    let Some(entry) = find(address) else {
        return false;
    };
    let page_size = PAGE_SIZE.load(SeqCst);
    let page = address & !(page_size - 1);
    // SAFETY: `page` is inside a live mapping of ours (the registry says so, and the
    // faulting thread holds the window), so MAP_FIXED replaces only our own pages, which
    // nobody may trust any more (the window is poisoned below). errno is saved and
    // restored around the call because the interrupted code may be about to read it.
    let mapped = unsafe {
        let errno = *libc::__errno_location();
        let mapped = libc::mmap(
            page as *mut libc::c_void,
            page_size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_FIXED | libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        *libc::__errno_location() = errno;
        mapped
    };
    if mapped == libc::MAP_FAILED {
        return false;
    }
    entry.poisoned.store(true, SeqCst);
    true
}

extern "C" fn on_sigbus(_signal: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: with SA_SIGINFO the kernel passes a valid siginfo_t. si_code > 0 means the
    // kernel raised the signal for a memory access, so si_addr is the faulting address.
    let (code, address) = unsafe { ((*info).si_code, (*info).si_addr() as usize) };
    if code > 0 && cover_with_zeros(address) {
        return;
    }
    // SAFETY: write(2) and _exit(2) are async-signal-safe; MESSAGE is a static buffer.
    unsafe {
        libc::write(2, MESSAGE.as_ptr().cast(), MESSAGE.len());
        libc::_exit(1);
    }
}

/// Installs the handler for the whole process, once (later calls do nothing). Storage
/// calls it before it maps anything; the binary also calls it at start.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: sysconf has no preconditions. A zeroed sigaction is a valid "no flags,
        // empty mask" value; we set an `sa_sigaction`-style handler with SA_SIGINFO and
        // pass valid pointers.
        unsafe {
            let page_size = libc::sysconf(libc::_SC_PAGESIZE);
            if page_size > 0 {
                PAGE_SIZE.store(page_size as usize, SeqCst);
            }
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigbus
                as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void)
                as libc::sighandler_t;
            action.sa_flags = libc::SA_SIGINFO;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut()) != 0 {
                log::warn!("cannot install the SIGBUS handler");
            }
        }
    });
}

/// The page size the handler works with (windows are aligned to it).
pub fn page_size() -> usize {
    install();
    PAGE_SIZE.load(SeqCst)
}

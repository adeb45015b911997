//! A last-resort SIGBUS handler for the memory-mapped files.
//!
//! Touching a page of a map that lies beyond the end of its file (another program
//! truncated the file while we run) or that the disk cannot supply raises SIGBUS, which
//! would kill the process with no word of why. Space is reserved up front
//! (`space::reserve`), so a full disk does not get here; a truncation can. The handler
//! cannot safely resume the interrupted copy, so it writes one line saying what happened
//! and what to do, and exits with code 1. Nothing is lost: verified pieces were recorded
//! only after their flush, and the next start sees the changed size and rechecks the file.

/// The message, written with `write(2)`: the only output that is safe in a signal handler.
const MESSAGE: &[u8] = b"\nsmalltorrent: disk error: a file of the torrent was truncated or \
its disk failed while in use (SIGBUS); run the same command again to recheck it\n";

extern "C" fn on_sigbus(_signal: libc::c_int) {
    // SAFETY: write(2) and _exit(2) are async-signal-safe; MESSAGE is a static buffer.
    unsafe {
        libc::write(2, MESSAGE.as_ptr().cast(), MESSAGE.len());
        libc::_exit(1);
    }
}

/// Installs the handler for the whole process (the binary does this once at start).
pub fn install() {
    // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; we set the
    // handler to a function with the `sa_handler` signature and pass valid pointers.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigbus as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut()) != 0 {
            log::warn!("cannot install the SIGBUS handler");
        }
    }
}

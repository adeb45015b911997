//! Waiting on one socket: poll(2) for "the peer sent something" and, while we have bytes
//! or requested blocks to send, "the peer has room for more".
//!
//! After the handshake a connection's socket is non-blocking. The peer thread sleeps here
//! and nowhere else: one system call wakes it as soon as either direction can move, so a
//! block to upload never waits behind a read timeout and a read never waits behind a full
//! send buffer. The thread stays synchronous; it simply blocks on both directions at once.
//!
//! Other threads can cut the sleep short with the peer's [`Waker`] (an eventfd): the peer
//! manager does when the choker unchokes or chokes the peer, or stops it.

use std::io;
use std::net::TcpStream;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// Wakes a peer thread sleeping in [`wait`] from another thread.
#[derive(Debug)]
pub struct Waker(OwnedFd);

impl Waker {
    pub fn new() -> io::Result<Waker> {
        // SAFETY: eventfd takes no pointers; a non-negative result is a new descriptor
        // that we own from here on.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor owned by nobody else.
        Ok(Waker(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Makes the next (or current) [`wait`] with this waker return at once.
    pub fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a valid u64 to our eventfd. A full counter (EAGAIN)
        // still leaves it readable, which is all a wake-up needs.
        unsafe { libc::write(self.0.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// Consumes pending wake-ups.
    fn clear(&self) {
        let mut count: u64 = 0;
        // SAFETY: reads at most 8 bytes into a valid u64; non-blocking, so an empty
        // counter just fails with EAGAIN.
        unsafe { libc::read(self.0.as_raw_fd(), (&mut count as *mut u64).cast(), 8) };
    }
}

/// What the socket can do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ready {
    /// Bytes (or the end of the stream, or an error) are waiting to be read.
    pub readable: bool,
    /// A write would take at least some bytes.
    pub writable: bool,
}

/// Blocks until `stream` is readable, or writable if `want_write`, or `waker` is woken,
/// or `timeout` passes (then both flags are false). Errors and hang-ups count as readable:
/// the next read reports them.
pub fn wait(
    stream: &TcpStream,
    want_write: bool,
    waker: Option<&Waker>,
    timeout: Duration,
) -> io::Result<Ready> {
    let mut events = libc::POLLIN;
    if want_write {
        events |= libc::POLLOUT;
    }
    let mut fds = [
        libc::pollfd {
            fd: stream.as_raw_fd(),
            events,
            revents: 0,
        },
        libc::pollfd {
            fd: waker.map_or(-1, |w| w.0.as_raw_fd()), // poll skips a negative fd
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    // Rounded up, so a wait of 0.4 ms does not become a busy loop of zero-length polls.
    let millis = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
    loop {
        // SAFETY: `fds` is an array of two valid pollfds and we pass its length.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, millis) };
        if n >= 0 {
            break;
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
    if fds[1].revents != 0
        && let Some(waker) = waker
    {
        waker.clear();
    }
    let failed = libc::POLLERR | libc::POLLHUP | libc::POLLNVAL;
    let socket = fds[0].revents;
    Ok(Ready {
        readable: socket & (libc::POLLIN | failed) != 0,
        writable: socket & libc::POLLOUT != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;
    use std::time::Instant;

    #[test]
    fn wakes_for_data_and_for_room_and_times_out_otherwise() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut a = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (b, _) = listener.accept().unwrap();

        let started = Instant::now();
        let ready = wait(&b, false, None, Duration::from_millis(30)).unwrap();
        assert_eq!(
            ready,
            Ready {
                readable: false,
                writable: false
            }
        );
        assert!(started.elapsed() >= Duration::from_millis(25));

        assert!(
            wait(&b, true, None, Duration::from_secs(5))
                .unwrap()
                .writable
        );

        // A wake-up from another thread ends the wait early, once.
        let waker = Waker::new().unwrap();
        waker.wake();
        let started = Instant::now();
        let ready = wait(&b, false, Some(&waker), Duration::from_secs(5)).unwrap();
        assert!(!ready.readable && started.elapsed() < Duration::from_secs(1));
        let started = Instant::now();
        wait(&b, false, Some(&waker), Duration::from_millis(30)).unwrap();
        assert!(
            started.elapsed() >= Duration::from_millis(25),
            "woken only once"
        );

        a.write_all(b"x").unwrap();
        assert!(
            wait(&b, false, None, Duration::from_secs(5))
                .unwrap()
                .readable
        );

        drop(a);
        let ready = wait(&b, false, None, Duration::from_secs(5)).unwrap();
        assert!(ready.readable, "a closed peer wakes the reader");
    }
}

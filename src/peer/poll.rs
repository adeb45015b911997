//! Waiting on one socket: poll(2) for "the peer sent something" and, while we have bytes
//! to send, "the peer has room for more".
//!
//! After the handshake a connection's socket is non-blocking. The peer thread sleeps here
//! and nowhere else: one system call wakes it as soon as either direction can move, so a
//! block to upload never waits behind a read timeout and a read never waits behind a full
//! send buffer. The thread stays synchronous; it simply blocks on both directions at once.

use std::io;
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::Duration;

/// What the socket can do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ready {
    /// Bytes (or the end of the stream, or an error) are waiting to be read.
    pub readable: bool,
    /// A write would take at least some bytes.
    pub writable: bool,
}

/// Blocks until `stream` is readable, or writable if `want_write`, or `timeout` passes
/// (then both flags are false). Errors and hang-ups count as readable: the next read
/// reports them.
pub fn wait(stream: &TcpStream, want_write: bool, timeout: Duration) -> io::Result<Ready> {
    let mut events = libc::POLLIN;
    if want_write {
        events |= libc::POLLOUT;
    }
    let mut fd = libc::pollfd {
        fd: stream.as_raw_fd(),
        events,
        revents: 0,
    };
    // Rounded up, so a wait of 0.4 ms does not become a busy loop of zero-length polls.
    let millis = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
    loop {
        // SAFETY: `fd` is one valid pollfd and we pass a count of 1.
        let n = unsafe { libc::poll(&mut fd, 1, millis) };
        if n >= 0 {
            break;
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
    let failed = libc::POLLERR | libc::POLLHUP | libc::POLLNVAL;
    Ok(Ready {
        readable: fd.revents & (libc::POLLIN | failed) != 0,
        writable: fd.revents & libc::POLLOUT != 0,
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
        let ready = wait(&b, false, Duration::from_millis(30)).unwrap();
        assert_eq!(
            ready,
            Ready {
                readable: false,
                writable: false
            }
        );
        assert!(started.elapsed() >= Duration::from_millis(25));

        assert!(wait(&b, true, Duration::from_secs(5)).unwrap().writable);

        a.write_all(b"x").unwrap();
        assert!(wait(&b, false, Duration::from_secs(5)).unwrap().readable);

        drop(a);
        let ready = wait(&b, false, Duration::from_secs(5)).unwrap();
        assert!(ready.readable, "a closed peer wakes the reader");
    }
}

//! The socket of an established connection and its two buffers: bytes in (the frame
//! reader) and bytes out (`out`, written as far as the socket takes).
//!
//! After `start` the socket is non-blocking, so reads and writes are *resumable*: a frame
//! cut short waits in the frame reader, bytes that did not fit wait in `out`. The thread
//! sleeps only in [`Socket::wait`] (poll(2)).
//!
//! On an RC4-encrypted connection (Message Stream Encryption, see `handshake.rs`) bytes are
//! decrypted as they come out of the socket, under the read buffer, and encrypted in `out`
//! just before their first write; everything in between sees plaintext.
//!
//! Memory follows the traffic. Most connections of a swarm only trade `have`s and
//! requests, so the read buffer is one page until we ask the peer for blocks, and `out`
//! gives back what a burst of uploads made it grow to once it has drained.

use super::{PeerError, poll};
use crate::block_pool::BlockPool;
use crate::mse::rc4::Rc4;
use crate::mse::{Ciphers, Decrypt};
use crate::wire::{Message, MessageReader, WireError};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Read buffer while we wait for blocks from the peer: a few blocks per system call.
const READ_BUFFER_BLOCKS: usize = 64 * 1024;
/// Read buffer otherwise: one page, which holds a batch of requests or `have`s (longer
/// messages are read in several calls).
const READ_BUFFER_SMALL: usize = 4 * 1024;
/// What `out` starts with, and goes back to once drained.
const OUT_SMALL: usize = 4 * 1024;
/// Sent bytes at the front of `out` worth moving the rest down for.
const COMPACT_AFTER: usize = 64 * 1024;

/// The socket, what came from it and is not handled yet, and what waits to go out.
pub(super) struct Socket {
    /// The socket itself: what `poll` waits on and what we write to.
    stream: TcpStream,
    /// Reads a clone of the socket, decrypting first if the connection is RC4-encrypted.
    reader: ReadBuffer<Decrypt<TcpStream>>,
    /// Cuts the bytes from `reader` into messages; keeps a frame that is cut short (the
    /// socket had no more for now) until the next turn.
    frames: MessageReader,
    /// Bytes queued for sending (messages, and blocks copied from the map); `out[sent..]`
    /// is still to go.
    out: Vec<u8>,
    /// How much of `out` the socket has taken.
    sent: usize,
    /// Encrypts what we send on an RC4-encrypted connection; `None` on a plain one.
    encrypt: Option<Rc4>,
    /// `out[..encrypted]` is encrypted already: each byte goes through RC4 once, just
    /// before its first write.
    encrypted: usize,
    /// When the peer last sent a whole message: the idle timeout counts from here.
    last_received: Instant,
    /// When the socket last took bytes from us: for keep-alives, and for the timeout on a
    /// peer that stops reading.
    last_sent: Instant,
}

impl Socket {
    /// The socket of a connection whose handshakes are done, with the ciphers they chose
    /// (`None`: plaintext), refusing messages longer than `max_message_len`.
    pub(super) fn new(
        stream: TcpStream,
        ciphers: Option<Ciphers>,
        max_message_len: u32,
    ) -> io::Result<Socket> {
        let (encrypt, decrypt) = match ciphers {
            Some(ciphers) => (Some(ciphers.send), Some(ciphers.receive)),
            None => (None, None),
        };
        let reader = ReadBuffer::new(Decrypt::new(stream.try_clone()?, decrypt));
        let now = Instant::now();
        Ok(Socket {
            stream,
            reader,
            frames: MessageReader::new(max_message_len),
            out: Vec::with_capacity(OUT_SMALL),
            sent: 0,
            encrypt,
            encrypted: 0,
            last_received: now,
            last_sent: now,
        })
    }

    /// From now on reads and writes never block (the reader's clone shares the flag).
    pub(super) fn set_nonblocking(&self) -> io::Result<()> {
        self.stream.set_nonblocking(true)
    }

    /// From now on refuse messages longer than `max` (the torrent's bitfield may need
    /// more than the default, once the metadata says how many pieces there are).
    pub(super) fn set_max_message_len(&mut self, max: u32) {
        self.frames.set_max_len(max);
    }

    /// From now on blocks are read into buffers from `pool`.
    pub(super) fn set_pool(&mut self, pool: BlockPool) {
        self.frames.set_pool(pool);
    }

    /// True if bytes from the socket wait in the read buffer: no need to poll for them.
    pub(super) fn has_buffered(&self) -> bool {
        !self.reader.is_empty()
    }

    /// Sizes the read buffer for what comes next: blocks we asked for (`true`), or only
    /// short messages. Takes effect once the buffer is empty.
    pub(super) fn expect_blocks(&mut self, blocks: bool) {
        let size = if blocks {
            READ_BUFFER_BLOCKS
        } else {
            READ_BUFFER_SMALL
        };
        self.reader.resize(size);
    }

    /// Sleeps until the peer sent something, or the socket has room (if `want_write`), or
    /// `waker` is woken, or `timeout` passed.
    pub(super) fn wait(
        &self,
        want_write: bool,
        waker: Option<&poll::Waker>,
        timeout: Duration,
    ) -> io::Result<poll::Ready> {
        poll::wait(&self.stream, want_write, waker, timeout)
    }

    /// The next whole message, or `Ok(None)` if the socket has no more for now (a frame
    /// cut short is kept for the next call).
    pub(super) fn read_message(&mut self) -> Result<Option<Message>, WireError> {
        match self.frames.read_from(&mut self.reader) {
            Ok(Some(message)) => {
                self.last_received = Instant::now();
                Ok(Some(message))
            }
            Ok(None) | Err(WireError::Timeout) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The bytes queued for sending, to append a message or a block to.
    pub(super) fn queue(&mut self) -> &mut Vec<u8> {
        &mut self.out
    }

    /// Bytes still waiting in `out`.
    pub(super) fn unsent(&self) -> usize {
        self.out.len() - self.sent
    }

    /// True if nothing at all is queued (not even the rest of a message).
    pub(super) fn is_drained(&self) -> bool {
        self.out.is_empty()
    }

    /// Gives back what `out` grew to for a burst of uploads, if it has drained (called
    /// now and then, not after every write: a steady upload would regrow it each time).
    pub(super) fn shrink_idle(&mut self) {
        if self.out.is_empty() && self.out.capacity() > OUT_SMALL {
            self.out.shrink_to(OUT_SMALL);
        }
    }

    /// How long ago the peer sent its last message.
    pub(super) fn since_received(&self, now: Instant) -> Duration {
        now.duration_since(self.last_received)
    }

    /// How long ago the socket last took bytes from us.
    pub(super) fn since_sent(&self, now: Instant) -> Duration {
        now.duration_since(self.last_sent)
    }

    /// Writes as much of `out` as the socket takes now; the rest waits for the next turn.
    /// A peer that has taken nothing for `idle` is a timeout.
    pub(super) fn write_some(&mut self, idle: Duration) -> Result<(), PeerError> {
        if let Some(rc4) = &mut self.encrypt {
            rc4.apply(&mut self.out[self.encrypted..]);
        }
        self.encrypted = self.out.len();
        while self.sent < self.out.len() {
            match self.stream.write(&self.out[self.sent..]) {
                Ok(0) => return Err(WireError::Closed.into()),
                Ok(n) => {
                    self.sent += n;
                    self.last_sent = Instant::now();
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if self.last_sent.elapsed() > idle {
                        return Err(PeerError::Timeout("for the peer to read what we send"));
                    }
                    if self.sent >= COMPACT_AFTER {
                        // Keep `out` from growing while the peer reads slowly.
                        self.out.drain(..self.sent);
                        self.encrypted -= self.sent;
                        self.sent = 0;
                    }
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.out.clear();
        self.sent = 0;
        self.encrypted = 0;
        Ok(())
    }
}

/// A read buffer that can change size: `BufReader`'s cannot.
struct ReadBuffer<R> {
    inner: R,
    buf: Box<[u8]>,
    /// `buf[start..end]` is read from `inner` and not taken yet.
    start: usize,
    end: usize,
}

impl<R: Read> ReadBuffer<R> {
    fn new(inner: R) -> ReadBuffer<R> {
        ReadBuffer {
            inner,
            buf: vec![0; READ_BUFFER_SMALL].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// A new buffer of `size` bytes, if it is another size and nothing waits in this one.
    fn resize(&mut self, size: usize) {
        if self.buf.len() != size && self.is_empty() {
            self.buf = vec![0; size].into_boxed_slice();
            self.start = 0;
            self.end = 0;
        }
    }
}

impl<R: Read> Read for ReadBuffer<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.is_empty() {
            if out.len() >= self.buf.len() {
                // Nothing to gain from copying through the buffer.
                return self.inner.read(out);
            }
            self.end = self.inner.read(&mut self.buf)?;
            self.start = 0;
        }
        let n = out.len().min(self.end - self.start);
        out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_read_buffer_hands_out_bytes_in_order_and_resizes_only_when_empty() {
        let input: Vec<u8> = (0..20_000u32).map(|n| n as u8).collect();
        let mut reader = ReadBuffer::new(&input[..]);
        let mut small = [0u8; 100];
        assert_eq!(reader.read(&mut small).unwrap(), 100);
        assert!(!reader.is_empty());
        reader.resize(READ_BUFFER_BLOCKS);
        assert_eq!(reader.buf.len(), READ_BUFFER_SMALL, "bytes were waiting");
        let mut got = small.to_vec();
        // Drain the page the first read filled, then resize: the rest comes whole.
        let mut rest = vec![0u8; READ_BUFFER_SMALL - 100];
        reader.read_exact(&mut rest).unwrap();
        got.extend_from_slice(&rest);
        assert!(reader.is_empty());
        reader.resize(READ_BUFFER_BLOCKS);
        assert_eq!(reader.buf.len(), READ_BUFFER_BLOCKS);
        reader.read_to_end(&mut got).unwrap();
        assert_eq!(got, input);
    }

    #[test]
    fn a_read_as_large_as_the_buffer_bypasses_it() {
        let input = vec![7u8; 3 * READ_BUFFER_SMALL];
        let mut reader = ReadBuffer::new(&input[..]);
        let mut out = vec![0u8; 2 * READ_BUFFER_SMALL];
        assert_eq!(reader.read(&mut out).unwrap(), out.len());
        assert!(reader.is_empty());
    }
}

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

use super::{PeerError, poll};
use crate::mse::rc4::Rc4;
use crate::mse::{Ciphers, Decrypt};
use crate::wire::{Message, MessageReader, WireError};
use std::io::{self, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Read buffer per connection: large enough to take a few blocks per system call.
const READ_BUFFER: usize = 64 * 1024;
/// Sent bytes at the front of `out` worth moving the rest down for.
const COMPACT_AFTER: usize = 64 * 1024;

/// The socket, what came from it and is not handled yet, and what waits to go out.
pub(super) struct Socket {
    /// The socket itself: what `poll` waits on and what we write to.
    stream: TcpStream,
    /// Reads a clone of the socket, decrypting first if the connection is RC4-encrypted;
    /// its [`READ_BUFFER`] takes a few blocks per system call.
    reader: BufReader<Decrypt<TcpStream>>,
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
        let reader =
            BufReader::with_capacity(READ_BUFFER, Decrypt::new(stream.try_clone()?, decrypt));
        let now = Instant::now();
        Ok(Socket {
            stream,
            reader,
            frames: MessageReader::new(max_message_len),
            out: Vec::with_capacity(4096),
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

    /// True if bytes from the socket wait in the read buffer: no need to poll for them.
    pub(super) fn has_buffered(&self) -> bool {
        !self.reader.buffer().is_empty()
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

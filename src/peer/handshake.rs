//! The first bytes of a connection: the BitTorrent handshake (BEP 3), after a Message Stream
//! Encryption handshake ([`crate::mse`]) when the connection opens with one.
//!
//! * Answering: the first 20 bytes tell the two apart. `19, "BitTorrent protocol"` is a
//!   plain handshake; anything else is the start of an MSE initiator's 96-byte key. After
//!   MSE the initiator's BitTorrent handshake follows, its first bytes already inside the
//!   MSE message (the *initial payload*).
//! * Dialling: a plain handshake, or with `--encryption prefer` MSE first, offering
//!   plaintext and RC4; a peer that hangs up on MSE, or answers it with a plain
//!   handshake, is dialled again, plain.
//!
//! Either way the connection carries on in plaintext or RC4, as the MSE responder selected;
//! RC4's two keystreams go to the connection in [`Established`].
//!
//! Every read shares one deadline, [`Terms::timeout`] from the start (a peer that drips one
//! byte per second cannot stretch it), and wakes every tick to obey the stop flag (so a
//! silent peer cannot hold up the end of a download).

use super::PeerError;
use crate::mse::{self, Ciphers, Method, MseError};
use crate::transcript::{Direction, Tracer};
use crate::wire::{HANDSHAKE_LEN, Handshake, WireError};
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What a handshake needs to know: whom we speak for, how long it may take, when to give up.
pub(super) struct Terms<'a> {
    pub info_hash: [u8; 20],
    pub peer_id: [u8; 20],
    /// For the TCP connect, when dialling.
    pub connect_timeout: Duration,
    /// For the whole handshake, MSE included.
    pub timeout: Duration,
    /// How often a waiting read wakes up to look at `stop`.
    pub tick: Duration,
    /// Set when the peer manager wants the connection ended.
    pub stop: &'a AtomicBool,
    /// Open outgoing connections with MSE.
    pub encrypt: bool,
    /// Our DHT node runs: the handshake says so.
    pub dht: bool,
    pub tracer: &'a Tracer,
}

/// A connection past its handshakes.
pub(super) struct Established {
    pub stream: TcpStream,
    /// The RC4 streams when the connection is encrypted; `None` when it is plaintext.
    pub ciphers: Option<Ciphers>,
    /// The peer set the BEP 10 bit: it understands our extension handshake.
    pub extensions: bool,
    /// The peer set the BEP 5 bit: it runs a DHT node, and takes our `port` message.
    pub dht: bool,
    /// The peer set the Fast extension's bit (BEP 6). Ours is always set, so the
    /// extension applies to this connection exactly when this is true.
    pub fast: bool,
    /// The peer id from the peer's handshake.
    pub peer_id: [u8; 20],
}

/// Connects to `addr` (from `bind`'s address, if given) and exchanges handshakes; as the
/// dialling side we speak first.
pub(super) fn dial(
    addr: SocketAddr,
    bind: Option<IpAddr>,
    terms: &Terms,
) -> Result<Established, PeerError> {
    let connect = || crate::net::connect(addr, bind, terms.connect_timeout);
    let stream = connect().map_err(PeerError::Connect)?;
    if !terms.encrypt {
        return greet(stream, terms, false);
    }
    match greet(stream, terms, true) {
        // It closed or reset the connection, or answered plain: a client without MSE.
        Err(error @ (PeerError::Wire(_) | PeerError::Encryption(MseError::PlainAnswer))) => {
            log::debug!("peer {addr}: encryption handshake failed ({error}); trying plain");
            greet(connect().map_err(PeerError::Connect)?, terms, false)
        }
        other => other,
    }
}

/// The dialling side's handshakes on a fresh connection, with MSE first if `encrypt`.
fn greet(stream: TcpStream, terms: &Terms, encrypt: bool) -> Result<Established, PeerError> {
    prepare(&stream, terms)?;
    let addr = stream.peer_addr()?;
    let mut io = Deadline::new(&stream, terms);
    let ours = Handshake::new(terms.info_hash, terms.peer_id)
        .with_dht(terms.dht)
        .to_bytes();
    let mut ciphers = if encrypt {
        // Our BitTorrent handshake goes inside the MSE message, as its initial payload.
        let offer = [Method::Plaintext, Method::Rc4];
        let agreed = mse::initiate(&mut io, &terms.info_hash, &offer, &ours)
            .map_err(|e| io.mse_failure(e))?;
        log::debug!("peer {addr}: encryption handshake done, {}", agreed.method);
        agreed.ciphers
    } else {
        io.write_all(&ours).map_err(|e| io.failure(e))?;
        None
    };
    terms.tracer.wire(addr, Direction::Out, "handshake", &[]);
    let theirs = read_handshake(&mut io, &[], ciphers.as_mut())?;
    terms.tracer.wire(addr, Direction::In, "handshake", &[]);
    check_handshake(&theirs, terms, addr)?;
    Ok(Established {
        stream,
        ciphers,
        extensions: theirs.supports_extensions(),
        dht: theirs.supports_dht(),
        fast: theirs.supports_fast(),
        peer_id: theirs.peer_id,
    })
}

/// Reads an incoming peer's handshake (after MSE, if it opens with that), checks it is for
/// our torrent, and answers.
pub(super) fn answer(stream: TcpStream, terms: &Terms) -> Result<Established, PeerError> {
    prepare(&stream, terms)?;
    let addr = stream.peer_addr()?;
    let mut io = Deadline::new(&stream, terms);
    let mut start = [0u8; 20];
    io.read_exact(&mut start).map_err(|e| io.failure(e))?;
    let (first_bytes, mut ciphers) = if mse::is_plain_handshake(&start) {
        (start.to_vec(), None)
    } else {
        let agreed =
            mse::respond(&mut io, &start, &terms.info_hash).map_err(|e| io.mse_failure(e))?;
        log::debug!("peer {addr}: encryption handshake done, {}", agreed.method);
        (agreed.initial_payload, agreed.ciphers)
    };
    let theirs = read_handshake(&mut io, &first_bytes, ciphers.as_mut())?;
    terms.tracer.wire(addr, Direction::In, "handshake", &[]);
    check_handshake(&theirs, terms, addr)?;
    let mut ours = Handshake::new(terms.info_hash, terms.peer_id)
        .with_dht(terms.dht)
        .to_bytes();
    if let Some(ciphers) = &mut ciphers {
        ciphers.send.apply(&mut ours);
    }
    io.write_all(&ours).map_err(|e| io.failure(e))?;
    terms.tracer.wire(addr, Direction::Out, "handshake", &[]);
    Ok(Established {
        stream,
        ciphers,
        extensions: theirs.supports_extensions(),
        dht: theirs.supports_dht(),
        fast: theirs.supports_fast(),
        peer_id: theirs.peer_id,
    })
}

fn prepare(stream: &TcpStream, terms: &Terms) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(terms.tick))?;
    stream.set_write_timeout(Some(terms.timeout))
}

/// Reads the peer's BitTorrent handshake: `first_bytes` of it are already here (read while
/// telling plain from MSE, or in MSE's initial payload), the rest comes from the socket,
/// through RC4 if the connection is encrypted.
fn read_handshake(
    io: &mut Deadline,
    first_bytes: &[u8],
    ciphers: Option<&mut Ciphers>,
) -> Result<Handshake, PeerError> {
    let mut bytes = [0u8; HANDSHAKE_LEN];
    let known = first_bytes.len().min(HANDSHAKE_LEN);
    bytes[..known].copy_from_slice(&first_bytes[..known]);
    io.read_exact(&mut bytes[known..])
        .map_err(|e| io.failure(e))?;
    if let Some(ciphers) = ciphers {
        ciphers.receive.apply(&mut bytes[known..]);
    }
    Ok(Handshake::parse(&bytes)?)
}

fn check_handshake(theirs: &Handshake, terms: &Terms, addr: SocketAddr) -> Result<(), PeerError> {
    if theirs.info_hash != terms.info_hash {
        return Err(PeerError::WrongInfoHash);
    }
    if theirs.peer_id == terms.peer_id {
        return Err(PeerError::OwnPeerId);
    }
    log::debug!(
        "peer {addr}: handshake done, client {}",
        String::from_utf8_lossy(&theirs.peer_id[..8])
    );
    Ok(())
}

/// The socket while handshaking: a read waits (a tick at a time) until the deadline or a
/// stop, whichever comes first, then fails.
struct Deadline<'a> {
    stream: &'a TcpStream,
    at: Instant,
    stop: &'a AtomicBool,
}

impl<'a> Deadline<'a> {
    fn new(stream: &'a TcpStream, terms: &Terms<'a>) -> Deadline<'a> {
        Deadline {
            stream,
            at: Instant::now() + terms.timeout,
            stop: terms.stop,
        }
    }

    /// Says why a read or write failed: a stop or the deadline come first, whatever the
    /// socket said.
    fn failure(&self, error: io::Error) -> PeerError {
        if self.stop.load(Ordering::Relaxed) {
            PeerError::Stopped
        } else if Instant::now() > self.at {
            PeerError::Timeout("waiting for the handshake")
        } else if error.kind() == io::ErrorKind::UnexpectedEof {
            WireError::Closed.into()
        } else {
            error.into()
        }
    }

    fn mse_failure(&self, error: MseError) -> PeerError {
        match error {
            MseError::Io(error) => self.failure(error),
            error => PeerError::Encryption(error),
        }
    }
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Err(io::Error::other("stopped"));
            }
            if Instant::now() > self.at {
                return Err(io::ErrorKind::TimedOut.into());
            }
            match self.stream.read(buf) {
                Err(e) if is_wait(&e) => {}
                result => return result,
            }
        }
    }
}

impl Write for Deadline<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A read that timed out or was interrupted: try again.
fn is_wait(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

#[cfg(test)]
mod tests;

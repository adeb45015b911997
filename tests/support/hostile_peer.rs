//! A peer that misbehaves on purpose, for the client under test to dial (`--peer ADDR`).
//!
//! [`HostilePeer::listen`] binds a loopback address, accepts every connection on a thread
//! of its own and plays one [`Behaviour`] on it. It knows the torrent ([`TorrentFacts`])
//! so its lies are precise: a bitfield one byte too long, a `have` just past the last
//! piece, a block one byte short of what was requested. Dropping it closes every
//! connection and joins every thread.
//!
//! The other direction, hostile connections *to* a smalltorrent seeder, is in
//! [`super::hostile_client`].

use super::hostile_client::{frame, handshake};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Largest message smalltorrent accepts for a small torrent: a 128 KiB block + 9 bytes.
pub const MAX_MESSAGE: u32 = 128 * 1024 + 9;

/// One way to misbehave; every connection the peer accepts gets the same treatment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Answers the handshake with another torrent's info-hash.
    WrongInfoHash,
    /// Answers with "BitTorrent protocoX" as the protocol string.
    WrongProtocol,
    /// Sends a bitfield and `have`s instead of a handshake.
    MessageBeforeHandshake,
    /// After the handshake, a length prefix of 4 GiB - 1.
    HugeLength,
    /// After the handshake, a length prefix one byte over [`MAX_MESSAGE`].
    JustOverLimit,
    /// An extension message (id 20) with an extension number we never gave (100), and
    /// messages with ids 99 and 255 (with payloads), then stays quiet.
    UnknownIds,
    /// A hundred zero-length frames (keep-alives), then ASCII garbage.
    ZeroLengthGarbage,
    /// A bitfield one byte too long.
    BitfieldWrongLength,
    /// A bitfield with the spare bits after the last piece set.
    BitfieldSpareBits,
    /// A `have` for a piece past the last one.
    HaveOutOfRange,
    /// Claims every piece and sends a block nobody requested.
    UnrequestedPiece,
    /// Claims every piece, unchokes, and answers each request one byte short.
    WrongLengthPiece,
    /// Claims every piece, unchokes, and answers each request at an offset past the piece.
    OutOfRangeOffset,
    /// Claims every piece, unchokes, and answers each request with inverted bytes.
    BadData,
    /// Claims every piece and never unchokes.
    ChokeForever,
    /// Claims every piece, unchokes, and never answers a request.
    UnchokeNeverSend,
    /// Sends its handshake one byte per second.
    SlowDrip,
    /// A correct handshake, then a bitfield message one byte per second.
    SlowDripMessage,
    /// Accepts and never sends a byte.
    Hang,
    /// Accepts and closes at once.
    AcceptAndClose,
    /// Speaks peer exchange (BEP 10 bit, `ut_pex` in its extension handshake), then sends
    /// one `ut_pex` message adding 200 peers (on 127.0.1.x, never dialled).
    PexTooManyPeers,
    /// Speaks peer exchange, then sends a `ut_pex` message whose `added` is 13 bytes (no
    /// multiple of 6).
    PexGarbage,
    /// Speaks peer exchange, then sends four small `ut_pex` messages back to back (each
    /// adding 127.0.1.1:9, where nothing listens).
    PexFlood,
}

impl Behaviour {
    /// True for the behaviours that speak peer exchange.
    fn speaks_pex(self) -> bool {
        matches!(
            self,
            Behaviour::PexTooManyPeers | Behaviour::PexGarbage | Behaviour::PexFlood
        )
    }
}

/// What a hostile peer needs to know about the torrent to lie precisely.
pub struct TorrentFacts {
    pub info_hash: [u8; 20],
    pub piece_len: u64,
    /// The payload itself (a single file), to serve blocks from.
    pub data: Vec<u8>,
}

impl TorrentFacts {
    /// Facts about a single-file torrent of `payload` in pieces of `piece_len` bytes.
    pub fn new(torrent: &Path, payload: &Path, piece_len: u64) -> Arc<TorrentFacts> {
        Arc::new(TorrentFacts {
            info_hash: super::info_hash(torrent),
            piece_len,
            data: std::fs::read(payload).unwrap(),
        })
    }

    pub fn piece_count(&self) -> u32 {
        (self.data.len() as u64).div_ceil(self.piece_len) as u32
    }

    /// A bitfield claiming every piece, spare bits clear.
    pub fn full_bitfield(&self) -> Vec<u8> {
        let count = self.piece_count() as usize;
        let mut bits = vec![0xff; count.div_ceil(8)];
        let spare = bits.len() * 8 - count;
        if let Some(last) = bits.last_mut() {
            *last &= 0xffu8 << spare;
        }
        bits
    }
}

/// One `piece` message the hostile peer sent, as its header and length said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentBlock {
    pub piece: u32,
    pub offset: u32,
    /// Bytes of block data in the message.
    pub length: u32,
}

/// A listening peer playing one [`Behaviour`]; closes everything when dropped.
pub struct HostilePeer {
    addr: SocketAddrV4,
    stop: Arc<AtomicBool>,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

/// What the acceptor and the connection threads share with the test.
#[derive(Default)]
struct Shared {
    /// Connections accepted so far.
    accepted: AtomicU64,
    /// Blocks sent in answer to requests (for [`Behaviour::BadData`], all corrupt).
    blocks_sent: AtomicU64,
    /// The first block sent in answer to a request: what the client saw first.
    first_block: Mutex<Option<SentBlock>>,
    /// A clone of every accepted socket, to shut them all down on drop.
    sockets: Mutex<Vec<TcpStream>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl HostilePeer {
    /// Listens on `ip` (a free port) and plays `behaviour` on every connection.
    pub fn listen(ip: Ipv4Addr, behaviour: Behaviour, facts: Arc<TorrentFacts>) -> HostilePeer {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let addr = SocketAddrV4::new(ip, listener.local_addr().unwrap().port());
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared::default());
        let (flag, state) = (stop.clone(), shared.clone());
        let acceptor = thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                state.accepted.fetch_add(1, Ordering::Relaxed);
                if let Ok(clone) = stream.try_clone() {
                    state.sockets.lock().unwrap().push(clone);
                }
                let (facts, flag, counts) = (facts.clone(), flag.clone(), state.clone());
                let handle = thread::spawn(move || {
                    let _ = play(stream, behaviour, &facts, &flag, &counts);
                });
                state.threads.lock().unwrap().push(handle);
            }
        });
        HostilePeer {
            addr,
            stop,
            shared,
            acceptor: Some(acceptor),
        }
    }

    pub fn addr(&self) -> SocketAddrV4 {
        self.addr
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// Blocks sent in answer to requests.
    pub fn blocks_sent(&self) -> u64 {
        self.shared.blocks_sent.load(Ordering::Relaxed)
    }

    /// The first block sent in answer to a request, if any: the first `piece` message the
    /// client read from us, so the one a client that drops us at once names.
    pub fn first_block_sent(&self) -> Option<SentBlock> {
        *self.shared.first_block.lock().unwrap()
    }
}

impl Drop for HostilePeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr); // wakes the blocked accept
        for socket in self.shared.sockets.lock().unwrap().iter() {
            let _ = socket.shutdown(Shutdown::Both);
        }
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        for handle in self.shared.threads.lock().unwrap().drain(..) {
            let _ = handle.join();
        }
    }
}

/// One connection: the client under test dialled us and speaks first.
fn play(
    mut s: TcpStream,
    behaviour: Behaviour,
    facts: &TorrentFacts,
    stop: &AtomicBool,
    shared: &Shared,
) -> io::Result<()> {
    use Behaviour::*;
    let mut good = handshake(facts.info_hash, *b"-HO0001-hostilepeer!");
    if behaviour.speaks_pex() {
        good[25] |= 0x10; // BEP 10: reserved byte 5, bit 0x10
    }
    match behaviour {
        // Shut down, not just dropped: [`Shared::sockets`] holds a clone.
        AcceptAndClose => return s.shutdown(Shutdown::Both),
        Hang => return hold(s),
        MessageBeforeHandshake => {
            s.write_all(&frame(5, &facts.full_bitfield()))?;
            for piece in 0..8u32 {
                s.write_all(&frame(4, &piece.to_be_bytes()))?;
            }
            return hold(s);
        }
        _ => {}
    }
    let mut theirs = [0u8; 68];
    s.read_exact(&mut theirs)?;
    match behaviour {
        WrongInfoHash => {
            let mut wrong = good;
            wrong[28..48].copy_from_slice(&[0xee; 20]);
            s.write_all(&wrong)?;
            return hold(s);
        }
        WrongProtocol => {
            let mut wrong = good;
            wrong[19] = b'X';
            s.write_all(&wrong)?;
            return hold(s);
        }
        SlowDrip => {
            drip(&mut s, &good, stop)?;
            return hold(s);
        }
        _ => s.write_all(&good)?,
    }
    match behaviour {
        HugeLength => s.write_all(&[0xff; 4])?,
        JustOverLimit => s.write_all(&(MAX_MESSAGE + 1).to_be_bytes())?,
        UnknownIds => {
            s.write_all(&frame(20, b"d1:md6:ut_pexi1eee"))?;
            s.write_all(&frame(99, &[]))?;
            s.write_all(&frame(255, &[0u8; 300]))?;
        }
        ZeroLengthGarbage => {
            s.write_all(&[0u8; 400])?;
            s.write_all(b"GARBAGE! this is not BitTorrent at all")?;
        }
        SlowDripMessage => drip(&mut s, &frame(5, &facts.full_bitfield()), stop)?,
        BitfieldWrongLength => {
            let mut bits = facts.full_bitfield();
            bits.push(0);
            s.write_all(&frame(5, &bits))?;
        }
        BitfieldSpareBits => {
            let bits = vec![0xff; facts.full_bitfield().len()];
            s.write_all(&frame(5, &bits))?;
        }
        HaveOutOfRange => {
            s.write_all(&frame(4, &(facts.piece_count() + 7).to_be_bytes()))?;
        }
        ChokeForever => s.write_all(&frame(5, &facts.full_bitfield()))?,
        UnchokeNeverSend => {
            s.write_all(&frame(5, &facts.full_bitfield()))?;
            s.write_all(&frame(1, &[]))?; // unchoke
        }
        UnrequestedPiece => {
            s.write_all(&frame(5, &facts.full_bitfield()))?;
            let mut payload = vec![0u8; 8];
            payload.extend_from_slice(&facts.data[..16384]);
            s.write_all(&frame(7, &payload))?;
        }
        PexTooManyPeers | PexGarbage | PexFlood => {
            s.write_all(&frame(20, b"\x00d1:md6:ut_pexi1eee"))?;
            let theirs = their_ut_pex(&mut s)?;
            let added = match behaviour {
                PexTooManyPeers => (0..200u16)
                    .flat_map(|n| {
                        let mut peer = vec![127, 0, 1, (n % 250 + 1) as u8];
                        peer.extend_from_slice(&(1000 + n).to_be_bytes());
                        peer
                    })
                    .collect(),
                PexGarbage => vec![7; 13],
                _ => vec![127, 0, 1, 1, 0, 9],
            };
            let mut message = vec![theirs];
            message.extend_from_slice(format!("d5:added{}:", added.len()).as_bytes());
            message.extend_from_slice(&added);
            message.push(b'e');
            let times = if behaviour == PexFlood { 4 } else { 1 };
            for _ in 0..times {
                s.write_all(&frame(20, &message))?;
            }
        }
        WrongLengthPiece | OutOfRangeOffset | BadData => {
            s.write_all(&frame(5, &facts.full_bitfield()))?;
            s.write_all(&frame(1, &[]))?; // unchoke
            return answer_requests(s, behaviour, facts, shared);
        }
        _ => {}
    }
    hold(s)
}

/// Reads the client's messages up to its extension handshake and returns the number it
/// gave `ut_pex` there (the number our `ut_pex` messages must carry).
fn their_ut_pex(s: &mut TcpStream) -> io::Result<u8> {
    loop {
        let mut len = [0u8; 4];
        s.read_exact(&mut len)?;
        let mut body = vec![0u8; u32::from_be_bytes(len).min(1 << 20) as usize];
        s.read_exact(&mut body)?;
        if body.get(..2) != Some(&[20, 0]) {
            continue;
        }
        let text = String::from_utf8_lossy(&body[2..]).into_owned();
        let number = text
            .split_once("6:ut_pexi")
            .and_then(|(_, rest)| rest.split_once('e'))
            .and_then(|(digits, _)| digits.parse().ok());
        return number.ok_or_else(|| io::Error::other(format!("no ut_pex offered: {text}")));
    }
}

/// Writes `bytes` one per second, giving up when the peer is dropped.
fn drip(s: &mut TcpStream, bytes: &[u8], stop: &AtomicBool) -> io::Result<()> {
    for byte in bytes {
        s.write_all(&[*byte])?;
        for _ in 0..10 {
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(())
}

/// Reads (and forgets) whatever comes until the other side closes or we are dropped.
fn hold(mut s: TcpStream) -> io::Result<()> {
    let mut sink = [0u8; 4096];
    while s.read(&mut sink)? > 0 {}
    Ok(())
}

/// Answers every `request` the lying way `behaviour` says.
fn answer_requests(
    mut s: TcpStream,
    behaviour: Behaviour,
    facts: &TorrentFacts,
    shared: &Shared,
) -> io::Result<()> {
    loop {
        let mut len = [0u8; 4];
        s.read_exact(&mut len)?;
        let mut body = vec![0u8; u32::from_be_bytes(len).min(1 << 20) as usize];
        s.read_exact(&mut body)?;
        if body.first() != Some(&6) || body.len() != 13 {
            continue;
        }
        let field = |at: usize| u32::from_be_bytes(body[at..at + 4].try_into().unwrap());
        let (piece, offset, length) = (field(1), field(5), field(9));
        let start = piece as usize * facts.piece_len as usize + offset as usize;
        let mut data = facts.data[start..start + length as usize].to_vec();
        let mut at = offset;
        match behaviour {
            Behaviour::WrongLengthPiece => {
                data.pop();
            }
            Behaviour::OutOfRangeOffset => at = offset + facts.piece_len as u32,
            _ => data.iter_mut().for_each(|b| *b = !*b),
        }
        let sent = SentBlock {
            piece,
            offset: at,
            length: data.len() as u32,
        };
        let mut payload = piece.to_be_bytes().to_vec();
        payload.extend_from_slice(&at.to_be_bytes());
        payload.extend_from_slice(&data);
        // Recorded before the write, so the client cannot have read it unrecorded.
        shared.first_block.lock().unwrap().get_or_insert(sent);
        s.write_all(&frame(7, &payload))?;
        shared.blocks_sent.fetch_add(1, Ordering::Relaxed);
    }
}

//! A peer that lies while a magnet link's metadata is fetched (BEP 9 over BEP 10), for the
//! client under test to dial (`x.pe=ADDR` in the link).
//!
//! [`MetadataLiar::listen`] binds a loopback address and plays one [`Lie`] on every
//! connection: a correct BitTorrent handshake with the BEP 10 bit, an extension handshake
//! offering `ut_metadata` (as number [`OUR_UT_METADATA`]) and a `metadata_size`, then its
//! answers to the client's metadata requests, sent with the number the client gave
//! `ut_metadata` in its own extension handshake. It knows the metadata
//! ([`MetadataFacts`]), so its lies are precise: a piece one byte short, the piece just past
//! the last, the right sizes with the wrong bytes. It never says it has a piece of the
//! torrent: once the client has the metadata, a liar has nothing more to offer.
//!
//! The other scripted peer, lying about the torrent's pieces, is [`super::hostile_peer`].

use super::hostile_client::{frame, handshake};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// The size of every metadata piece but the last (BEP 9).
pub const PIECE_SIZE: usize = 16 * 1024;
/// The number the liar gives `ut_metadata`: the client's requests come with it.
pub const OUR_UT_METADATA: u8 = 3;
/// The `metadata_size` of [`Lie::HugeSize`]: 1 TiB.
pub const HUGE_SIZE: u64 = 1 << 40;
/// The `metadata_size` of [`Lie::LargestSize`]: 64 MiB, smalltorrent's limit on a
/// `.torrent` file and so on metadata.
pub const LARGEST_SIZE: u64 = 64 << 20;
/// Messages sent by the flooding lies, 128 KiB each: 256 MiB in all.
pub const FLOOD: usize = 2048;
/// The data of one flooding `piece` message: the largest block a client accepts.
const FLOOD_BLOCK: usize = 128 * 1024;

/// One way to lie; every connection the liar accepts gets the same treatment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lie {
    /// Answers each request with the piece, one byte short.
    ShortPiece,
    /// Answers each request with the piece and one byte more.
    LongPiece,
    /// Answers each request with the right piece, saying the metadata is a byte longer.
    WrongTotalSize,
    /// Answers the first request with the piece just past the last one.
    PastTheEnd,
    /// Sends piece 0 right behind its extension handshake, before anyone could ask for it.
    Unsolicited,
    /// Says `metadata_size` is [`HUGE_SIZE`]; answers nothing.
    HugeSize,
    /// Answers each request with a piece of the right size whose every byte is inverted.
    WrongBytes,
    /// Says `metadata_size` is [`LARGEST_SIZE`], the most a client accepts, and answers
    /// each request with a piece of zeros of the right length for that size.
    LargestSize,
    /// [`Lie::WrongBytes`] for its first answers, as many as the metadata has pieces; then
    /// rejects every request.
    WrongBytesThenRejects,
    /// Says `metadata_size` is one byte more than the metadata's; rejects every request.
    OtherSize,
    /// Rejects every request.
    RejectsAll,
    /// Sends [`FLOOD`] `piece` messages of 128 KiB nobody asked for, then rejects every
    /// request.
    FloodsBlocks,
    /// Sends [`FLOOD`] bitfields of 128 KiB, then rejects every request.
    FloodsBitfields,
}

/// What a liar needs to know to lie precisely: the torrent and its metadata.
pub struct MetadataFacts {
    pub info_hash: [u8; 20],
    /// The raw `info` dictionary.
    pub info: Vec<u8>,
}

impl MetadataFacts {
    pub fn of(torrent: &Path) -> Arc<MetadataFacts> {
        Arc::new(MetadataFacts {
            info_hash: super::info_hash(torrent),
            info: super::torrent::info_dict(torrent),
        })
    }

    pub fn size(&self) -> u64 {
        self.info.len() as u64
    }

    /// How many metadata pieces there are.
    pub fn piece_count(&self) -> u32 {
        self.info.len().div_ceil(PIECE_SIZE) as u32
    }

    /// Metadata piece `piece` (empty past the end).
    pub fn piece(&self, piece: u32) -> &[u8] {
        let start = (piece as usize * PIECE_SIZE).min(self.info.len());
        let end = (start + PIECE_SIZE).min(self.info.len());
        &self.info[start..end]
    }
}

/// A listening peer playing one [`Lie`]; closes everything when dropped.
pub struct MetadataLiar {
    addr: SocketAddrV4,
    lie: Lie,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

/// What the acceptor and the connection threads share with the test.
#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    /// Connections accepted so far.
    accepted: AtomicU64,
    /// Metadata requests received, over all connections.
    requests: AtomicU64,
    /// Metadata data messages sent (answers and unsolicited ones).
    pieces_sent: AtomicU64,
    /// Rejects sent.
    rejects_sent: AtomicU64,
    /// Connections whose flood is over (all sent, or the client hung up).
    floods_done: AtomicU64,
    /// Connections that ended (the client closed, or the liar was dropped).
    closed: AtomicU64,
    /// A clone of every accepted socket, to shut them all down on drop.
    sockets: Mutex<Vec<TcpStream>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl MetadataLiar {
    /// Listens on `ip` (a free port) and plays `lie` on every connection.
    pub fn listen(ip: Ipv4Addr, lie: Lie, facts: Arc<MetadataFacts>) -> MetadataLiar {
        Self::listen_slowly(ip, lie, facts, Duration::ZERO)
    }

    /// [`MetadataLiar::listen`], waiting `delay` before each answer: so that a client with
    /// several peers has asked them all before the liar's answers come in.
    pub fn listen_slowly(
        ip: Ipv4Addr,
        lie: Lie,
        facts: Arc<MetadataFacts>,
        delay: Duration,
    ) -> MetadataLiar {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let addr = SocketAddrV4::new(ip, listener.local_addr().unwrap().port());
        let shared = Arc::new(Shared::default());
        let state = shared.clone();
        let acceptor = thread::spawn(move || {
            for stream in listener.incoming() {
                if state.stop.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                state.accepted.fetch_add(1, Ordering::Relaxed);
                if let Ok(clone) = stream.try_clone() {
                    state.sockets.lock().unwrap().push(clone);
                }
                let (facts, counts) = (facts.clone(), state.clone());
                let handle = thread::spawn(move || {
                    let _ = play(stream, lie, &facts, delay, &counts);
                    counts.closed.fetch_add(1, Ordering::Relaxed);
                });
                state.threads.lock().unwrap().push(handle);
            }
        });
        MetadataLiar {
            addr,
            lie,
            shared,
            acceptor: Some(acceptor),
        }
    }

    pub fn addr(&self) -> SocketAddrV4 {
        self.addr
    }

    pub fn lie(&self) -> Lie {
        self.lie
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// Metadata requests received so far.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// Metadata data messages sent so far.
    pub fn pieces_sent(&self) -> u64 {
        self.shared.pieces_sent.load(Ordering::Relaxed)
    }

    /// Rejects sent so far.
    pub fn rejects_sent(&self) -> u64 {
        self.shared.rejects_sent.load(Ordering::Relaxed)
    }

    /// Connections whose flood is over.
    pub fn floods_done(&self) -> u64 {
        self.shared.floods_done.load(Ordering::Relaxed)
    }

    /// Connections that ended.
    pub fn closed(&self) -> u64 {
        self.shared.closed.load(Ordering::Relaxed)
    }
}

impl Drop for MetadataLiar {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr); // wakes the blocked accept
        for socket in self.shared.sockets.lock().unwrap().iter() {
            let _ = socket.shutdown(Shutdown::Both);
        }
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        let threads: Vec<_> = self.shared.threads.lock().unwrap().drain(..).collect();
        for handle in threads {
            let _ = handle.join();
        }
    }
}

/// One connection: the handshakes, then the lie.
fn play(
    mut s: TcpStream,
    lie: Lie,
    facts: &MetadataFacts,
    delay: Duration,
    shared: &Shared,
) -> io::Result<()> {
    let mut theirs = [0u8; 68];
    s.read_exact(&mut theirs)?;
    // A peer id of its own for each liar, so that two liars are two peers.
    let mut id = *b"-ML0001-000000000000";
    let port = s.local_addr()?.port();
    id[8..20].copy_from_slice(format!("{port:012}").as_bytes());
    let mut ours = handshake(facts.info_hash, id);
    ours[25] |= 0x10; // BEP 10
    s.write_all(&ours)?;
    // The client's extension handshake says which number to send metadata messages with.
    let their_id = loop {
        let (id, payload) = read_frame(&mut s)?;
        if id == 20 && payload.first() == Some(&0) {
            break int_after(&payload, b"11:ut_metadatai").unwrap_or(0) as u8;
        }
    };
    let size = match lie {
        Lie::HugeSize => HUGE_SIZE,
        Lie::LargestSize => LARGEST_SIZE,
        Lie::OtherSize => facts.size() + 1,
        _ => facts.size(),
    };
    let dict = format!("d1:md11:ut_metadatai{OUR_UT_METADATA}ee13:metadata_sizei{size}ee");
    let mut out = frame(20, &[&[0u8][..], dict.as_bytes()].concat());
    if lie == Lie::Unsolicited {
        // In the same write: the client reads both before it could ask for anything.
        out.extend(data(their_id, 0, facts.size(), facts.piece(0)));
        shared.pieces_sent.fetch_add(1, Ordering::Relaxed);
    }
    s.write_all(&out)?;
    if matches!(lie, Lie::FloodsBlocks | Lie::FloodsBitfields) {
        let flooded = flood(&mut s, lie);
        shared.floods_done.fetch_add(1, Ordering::Relaxed);
        flooded?;
    }
    let mut answered = 0u32;
    loop {
        let (id, payload) = read_frame(&mut s)?;
        if id != 20 || payload.first() != Some(&OUR_UT_METADATA) {
            continue;
        }
        if int_after(&payload, b"8:msg_typei") != Some(0) {
            continue;
        }
        let Some(piece) = int_after(&payload, b"5:piecei") else {
            continue;
        };
        let piece = piece as u32;
        shared.requests.fetch_add(1, Ordering::Relaxed);
        thread::sleep(delay);
        let answer = match lie {
            Lie::ShortPiece => {
                let bytes = facts.piece(piece);
                Some(data(their_id, piece, size, &bytes[..bytes.len() - 1]))
            }
            Lie::LongPiece => {
                let bytes = [facts.piece(piece), &[0]].concat();
                Some(data(their_id, piece, size, &bytes))
            }
            Lie::WrongTotalSize => Some(data(their_id, piece, size + 1, facts.piece(piece))),
            Lie::PastTheEnd => {
                let past = facts.piece_count();
                Some(data(their_id, past, size, b"e"))
            }
            Lie::WrongBytes => Some(inverted(their_id, piece, facts)),
            Lie::LargestSize => Some(data(their_id, piece, size, &[0; PIECE_SIZE])),
            Lie::WrongBytesThenRejects if answered < facts.piece_count() => {
                Some(inverted(their_id, piece, facts))
            }
            Lie::HugeSize | Lie::Unsolicited => None,
            _ => {
                let reject = format!("d8:msg_typei2e5:piecei{piece}ee");
                let payload = [&[their_id][..], reject.as_bytes()].concat();
                s.write_all(&frame(20, &payload))?;
                shared.rejects_sent.fetch_add(1, Ordering::Relaxed);
                None
            }
        };
        if let Some(answer) = answer {
            s.write_all(&answer)?;
            shared.pieces_sent.fetch_add(1, Ordering::Relaxed);
            answered += 1;
        }
    }
}

/// A `ut_metadata` data message for a client that numbered the extension `id`.
fn data(id: u8, piece: u32, total_size: u64, bytes: &[u8]) -> Vec<u8> {
    let dict = format!("d8:msg_typei1e5:piecei{piece}e10:total_sizei{total_size}ee");
    frame(20, &[&[id][..], dict.as_bytes(), bytes].concat())
}

/// Piece `piece` at its right size, every byte inverted.
fn inverted(id: u8, piece: u32, facts: &MetadataFacts) -> Vec<u8> {
    let bytes: Vec<u8> = facts.piece(piece).iter().map(|b| !b).collect();
    data(id, piece, facts.size(), &bytes)
}

/// [`FLOOD`] messages of 128 KiB: `piece` messages (piece 0, offset 0) or bitfields.
fn flood(s: &mut TcpStream, lie: Lie) -> io::Result<()> {
    let message = if lie == Lie::FloodsBlocks {
        frame(7, &[&[0u8; 8][..], &vec![0x55; FLOOD_BLOCK]].concat())
    } else {
        frame(5, &vec![0xff; FLOOD_BLOCK])
    };
    for _ in 0..FLOOD {
        s.write_all(&message)?;
    }
    Ok(())
}

/// One frame: its message id (0 for a keep-alive, which has none) and payload after the id.
fn read_frame(s: &mut TcpStream) -> io::Result<(u8, Vec<u8>)> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > 1 << 20 {
        return Err(io::Error::other(format!("a {len}-byte message")));
    }
    let mut body = vec![0u8; len];
    s.read_exact(&mut body)?;
    Ok(match body.split_first() {
        Some((id, payload)) => (*id, payload.to_vec()),
        None => (0, Vec::new()),
    })
}

/// The bencoded integer right after `key` in `payload` (a key such as `5:piecei`).
fn int_after(payload: &[u8], key: &[u8]) -> Option<u64> {
    let at = payload.windows(key.len()).position(|w| w == key)? + key.len();
    let digits = payload[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    std::str::from_utf8(&payload[at..at + digits])
        .ok()?
        .parse()
        .ok()
}

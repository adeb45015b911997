//! Fetching a torrent's metadata (its raw `info` dictionary) from peers, for a magnet link
//! (BEP 9): the one assembly every peer thread of the torrent adds to.
//!
//! * Runs on: no thread of its own; a table behind one lock, called by the peer threads
//!   that wait for the metadata (`peer/magnet.rs`).
//! * Owns: the metadata's size and bytes as they arrive, which piece was asked of whom,
//!   which peer supplied each piece.
//! * Writes: one [`Event`] to the main thread per complete attempt: the verified metadata,
//!   or the peers whose pieces failed the check.
//!
//! The metadata is cut into 16 KiB pieces. Each waiting peer thread asks for the next
//! missing piece ([`Fetch::next_request`]), a few at a time, so several peers fill one
//! buffer at once: the peers whose `metadata_size` is the one being assembled (the first
//! asker's). A peer of another size starts the attempt over with its own only when the
//! attempt is going nowhere, so a liar heard first cannot hold the fetch by refusing or
//! ignoring requests. When the last piece is in, the buffer's SHA-1 must be the info-hash, or
//! nothing of it is kept. Then, as with the torrent's pieces, the peers that supplied it
//! are blamed: a lone supplier gets a strike (two, and the peer manager bans its address)
//! and is not asked again; when several peers supplied it, the next attempt is fetched
//! whole from one peer, which then carries the blame alone.

use crate::bencode::OwnedValue;
use crate::extension::metadata::{PIECE_SIZE, piece_count, piece_len};
use crate::metainfo::MAX_TORRENT_FILE_SIZE;
use crate::piece_manager::PeerKey;
use crossbeam_channel::Sender;
use parking_lot::Mutex;
use sha1::{Digest, Sha1};
use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A piece asked for and not answered in this long is asked of someone else.
const ASK_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest metadata we accept: the limit on a .torrent file.
pub const MAX_SIZE: u64 = MAX_TORRENT_FILE_SIZE;

/// What the assembly tells the main thread.
#[derive(Debug, Clone)]
pub enum Event {
    /// The metadata is complete and its SHA-1 is the info-hash.
    Verified(Arc<[u8]>),
    /// A complete attempt failed the check; these peers supplied it.
    Failed { contributors: Vec<PeerKey> },
}

/// A metadata piece a peer must not have sent: the peer is dropped for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// A piece we did not ask this peer for (so also any past the end of the metadata):
    /// the peer thread's check, which knows what it asked.
    Unsolicited { piece: u32 },
    /// A `total_size` other than the size we are assembling.
    WrongTotal { said: u64, size: u64 },
    /// A piece of the wrong length.
    WrongLength { piece: u32, len: usize, want: usize },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::Unsolicited { piece } => {
                write!(
                    f,
                    "sent metadata piece {piece}, which we did not ask it for"
                )
            }
            Violation::WrongTotal { said, size } => write!(
                f,
                "sent a metadata piece of a {said}-byte torrent; the metadata is {size} bytes"
            ),
            Violation::WrongLength { piece, len, want } => write!(
                f,
                "sent metadata piece {piece} of {len} bytes (expected {want})"
            ),
        }
    }
}

/// Where one metadata piece stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    Missing,
    Asked { peer: PeerKey, at: Instant },
    Have { peer: PeerKey },
}

/// The assembly's state, behind the lock.
struct State {
    /// The size being assembled: the first asking peer's `metadata_size`, forgotten
    /// after a failed attempt (a liar may have set it), or when the attempt stalls
    /// ([`State::stalled`]) and a peer of another size asks.
    size: Option<u64>,
    /// When the attempt started or last received a piece.
    last_progress: Instant,
    buffer: Vec<u8>,
    pieces: Vec<Piece>,
    /// The next attempt is fetched whole from one peer: the first to ask takes it.
    pin_next: bool,
    /// The one peer fetching this attempt, after a failure with several suppliers; it
    /// holds the pin until it refuses a piece, leaves, or lets a request go overdue.
    pinned: Option<PeerKey>,
    /// Lone suppliers of a failed attempt: not asked again.
    suspects: HashSet<PeerKey>,
    /// The metadata was verified: nothing more to fetch.
    done: bool,
}

/// The metadata being assembled for one torrent.
pub struct Fetch {
    info_hash: [u8; 20],
    state: Mutex<State>,
    events: Sender<Event>,
}

impl Fetch {
    /// An empty assembly for the torrent `info_hash`, reporting to `events`.
    pub fn new(info_hash: [u8; 20], events: Sender<Event>) -> Fetch {
        Fetch {
            info_hash,
            state: Mutex::new(State {
                size: None,
                last_progress: Instant::now(),
                buffer: Vec::new(),
                pieces: Vec::new(),
                pin_next: false,
                pinned: None,
                suspects: HashSet::new(),
                done: false,
            }),
            events,
        }
    }

    /// The next piece `peer` (which says the metadata is `peer_size` bytes) should ask
    /// for, marked as asked of it; `None` if it should ask nothing now.
    pub fn next_request(&self, peer: PeerKey, peer_size: u64, now: Instant) -> Option<u32> {
        let mut state = self.state.lock();
        if state.done || state.suspects.contains(&peer) || peer_size > MAX_SIZE {
            return None;
        }
        if let Some(pinned) = state.pinned
            && pinned != peer
            && state.overdue(pinned, now)
        {
            state.unpin();
        }
        if state.pin_next && state.pinned.is_none() {
            state.pinned = Some(peer);
            state.pin_next = false;
        }
        if state.pinned.is_some_and(|pinned| pinned != peer) {
            return None;
        }
        if let Some(size) = state.size
            && size != peer_size
        {
            if !state.stalled(now) {
                return None;
            }
            log::info!(
                "no piece of the {size}-byte metadata is coming; fetching it as {peer_size} bytes"
            );
            state.start_over();
        }
        let size = *state.size.get_or_insert(peer_size);
        if state.pieces.is_empty() {
            state.pieces = vec![Piece::Missing; piece_count(size) as usize];
            state.buffer = vec![0; size as usize];
            state.last_progress = now;
        }
        let index = state.pieces.iter().position(|piece| match piece {
            Piece::Missing => true,
            Piece::Asked { at, .. } => now.duration_since(*at) > ASK_TIMEOUT,
            Piece::Have { .. } => false,
        })?;
        state.pieces[index] = Piece::Asked { peer, at: now };
        u32::try_from(index).ok()
    }

    /// `peer` sent piece `piece` of metadata it says is `total_size` bytes, which it was
    /// asked for (the peer thread checks that: [`Violation::Unsolicited`]). Checked
    /// against the size being assembled; the last piece completes an attempt.
    pub fn received(
        &self,
        peer: PeerKey,
        piece: u32,
        total_size: u64,
        data: &[u8],
    ) -> Result<(), Violation> {
        let mut state = self.state.lock();
        if state.done {
            // An answer that crossed the verification: no harm, nothing to do.
            return Ok(());
        }
        match state.pieces.get(piece as usize) {
            Some(Piece::Asked { peer: p, .. }) if *p == peer => {}
            // Asked of this peer long ago, then of another, or already in, or asked in an
            // attempt that has since failed (whose pieces may have been more): a late
            // answer, no fault of the peer.
            _ => return Ok(()),
        }
        let size = state.size.unwrap_or(0);
        if total_size != size {
            return Err(Violation::WrongTotal {
                said: total_size,
                size,
            });
        }
        let want = piece_len(size, piece).unwrap_or(0);
        if data.len() != want {
            return Err(Violation::WrongLength {
                piece,
                len: data.len(),
                want,
            });
        }
        let start = piece as usize * PIECE_SIZE;
        state.buffer[start..start + want].copy_from_slice(data);
        state.pieces[piece as usize] = Piece::Have { peer };
        state.last_progress = Instant::now();
        if state.pieces.iter().all(|p| matches!(p, Piece::Have { .. })) {
            self.check(&mut state);
        }
        Ok(())
    }

    /// `peer` refused piece `piece`, or left before answering: it may be asked of another.
    /// A pinned peer that refuses gives up the pin.
    pub fn not_coming(&self, peer: PeerKey, piece: u32) {
        let mut state = self.state.lock();
        if let Some(slot) = state.pieces.get_mut(piece as usize)
            && matches!(*slot, Piece::Asked { peer: p, .. } if p == peer)
        {
            *slot = Piece::Missing;
        }
        if state.pinned == Some(peer) {
            state.unpin();
        }
    }

    /// `peer` is gone: what it was asked goes back, and it no longer holds the pin.
    pub fn peer_gone(&self, peer: PeerKey) {
        let mut state = self.state.lock();
        for slot in &mut state.pieces {
            if matches!(*slot, Piece::Asked { peer: p, .. } if p == peer) {
                *slot = Piece::Missing;
            }
        }
        if state.pinned == Some(peer) {
            state.unpin();
        }
    }

    /// True once the metadata is verified.
    pub fn is_done(&self) -> bool {
        self.state.lock().done
    }

    /// Every piece is in: keep the metadata if its SHA-1 is the info-hash, else start over
    /// and say whom to blame.
    fn check(&self, state: &mut State) {
        let digest: [u8; 20] = Sha1::digest(&state.buffer).into();
        if digest == self.info_hash {
            state.done = true;
            let metadata: Arc<[u8]> = std::mem::take(&mut state.buffer).into();
            log::info!("metadata verified ({} bytes)", metadata.len());
            let _ = self.events.send(Event::Verified(metadata));
            return;
        }
        let mut contributors: Vec<PeerKey> = state
            .pieces
            .iter()
            .filter_map(|piece| match piece {
                Piece::Have { peer } => Some(*peer),
                _ => None,
            })
            .collect();
        contributors.sort_unstable();
        contributors.dedup();
        log::warn!(
            "the metadata from {} peer(s) failed its hash check; fetching it again",
            contributors.len()
        );
        if let [lone] = contributors[..] {
            state.suspects.insert(lone);
        }
        state.pin_next = contributors.len() > 1;
        state.pinned = None;
        state.start_over();
        let _ = self.events.send(Event::Failed { contributors });
    }
}

impl State {
    /// Forgets the attempt: its size, its pieces, its bytes.
    fn start_over(&mut self) {
        self.size = None;
        self.pieces.clear();
        self.buffer = Vec::new();
    }

    /// The pinned peer refused, left or is overdue: the attempt starts over, pinned to
    /// the next peer that asks, so that it is still fetched whole from one peer (which
    /// alone carries the blame if it fails).
    fn unpin(&mut self) {
        self.pinned = None;
        self.pin_next = true;
        self.start_over();
    }

    /// True if a piece asked of `peer` is overdue.
    fn overdue(&self, peer: PeerKey, now: Instant) -> bool {
        self.pieces.iter().any(|piece| {
            matches!(piece, Piece::Asked { peer: p, at }
                if *p == peer && now.duration_since(*at) > ASK_TIMEOUT)
        })
    }

    /// True when the attempt is going nowhere: nothing in hand and nothing asked that may
    /// still come (its peers refused, left or are overdue), or no piece for
    /// [`ASK_TIMEOUT`]. Only the peers of its size are asked for its pieces, so a peer
    /// of another size may then start it over: otherwise a liar heard first, with a size
    /// of its own, that rejects or ignores every request leaves the others unasked.
    fn stalled(&self, now: Instant) -> bool {
        let coming = self.pieces.iter().any(|piece| match piece {
            Piece::Missing => false,
            Piece::Asked { at, .. } => now.duration_since(*at) <= ASK_TIMEOUT,
            Piece::Have { .. } => true,
        });
        !coming || now.duration_since(self.last_progress) > ASK_TIMEOUT
    }
}

/// A .torrent file made from verified metadata and a magnet link's trackers (each a tier
/// of its own): the raw `info` bytes kept exactly, so its info-hash is the link's.
pub fn torrent_file(info: &[u8], trackers: &[String]) -> Vec<u8> {
    let mut out = vec![b'd'];
    if let Some(first) = trackers.first() {
        OwnedValue::bytes("announce").encode(&mut out);
        OwnedValue::bytes(first.as_bytes()).encode(&mut out);
        let tiers = trackers
            .iter()
            .map(|url| OwnedValue::List(vec![OwnedValue::bytes(url.as_bytes())]))
            .collect();
        OwnedValue::bytes("announce-list").encode(&mut out);
        OwnedValue::List(tiers).encode(&mut out);
    }
    // Keys in sorted order: "announce" < "announce-list" < "info".
    OwnedValue::bytes("info").encode(&mut out);
    out.extend_from_slice(info);
    out.push(b'e');
    out
}

#[cfg(test)]
mod tests;

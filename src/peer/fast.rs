//! The Fast extension (BEP 6) on one connection: what it adds to the peer thread's state,
//! and the handling of its five messages.
//!
//! It applies when both handshakes set its bit (ours always does). Then:
//!
//! * the bitfield phase: the first message is a `bitfield`, `have_all` or `have_none`
//!   (ours too: `upload.rs` sends `have_all`/`have_none` for a full or empty bitfield); a
//!   `have_all` or `have_none` later is a violation ([`Connection::opening`]);
//! * every request gets exactly one answer, the block or a `reject_request`: we reject what
//!   we will not serve (`upload.rs`), and a reject from the peer gives the block back to the
//!   piece manager ([`Connection::rejected`]); so a choke no longer cancels requests;
//! * *allowed fast*: we tell the peer [`ALLOWED_FAST_PIECES`] pieces it may request even
//!   while we choke it (the canonical set for its address, [`allowed_fast_set`]), and ask
//!   for those it allows us while it chokes us;
//! * `suggest_piece` is a hint: the picker starts a suggested piece first.
//!
//! A peer that did not set the bit and sends one of these messages anyway is dropped, as
//! is one that names a piece outside the torrent.

use super::PeerError;
use super::connection::Connection;
use super::download::Asked;
use crate::bitfield::Bitfield;
use crate::geometry::BlockRef;
use crate::wire::Message;
use byteorder::{BigEndian, ByteOrder};
use sha1::{Digest, Sha1};
use std::borrow::Cow;
use std::net::IpAddr;

/// The size of the allowed-fast set we grant each peer (BEP 6's `k`; libtorrent grants 5).
pub(super) const ALLOWED_FAST_PIECES: usize = 10;
/// Allowed-fast pieces we remember from one peer; more are ignored.
const MAX_ALLOWED_FAST_KEPT: usize = 32;
/// Suggestions we remember from one peer, newest last; older ones give way.
const MAX_SUGGESTED: usize = 16;
/// Rejects in a row, with no block between, that a peer unchoking us may send before it is
/// dropped: it would otherwise have us ask again for ever.
const MAX_REJECTS_IN_A_ROW: u32 = 1024;
/// SHA-1 rounds [`allowed_fast_set`] may take: 5,000 words, where finding 10 pieces out of
/// 10 takes about 30; the chance that 5,000 miss one of them is below 10^-200.
const MAX_HASHES: usize = 1000;

/// BEP 6's allowed-fast set: `k` distinct piece indices derived from the peer's IPv4 /24
/// network and the info-hash, so every client computes the same set for a peer and one
/// user with many addresses in a network gets one set. SHA-1 of the masked address and the
/// info-hash, then SHA-1 of the previous hash, each cut into five big-endian words taken
/// modulo the piece count. No set for an IPv6 peer (BEP 6 defines only IPv4's).
///
/// A torrent of fewer than `k` pieces allows all of them. The hashes are bounded all the
/// same ([`MAX_HASHES`]), so that termination does not rest on SHA-1 alone.
pub(super) fn allowed_fast_set(
    ip: IpAddr,
    info_hash: &[u8; 20],
    pieces: u32,
    k: usize,
) -> Vec<u32> {
    let IpAddr::V4(ip) = ip.to_canonical() else {
        return Vec::new();
    };
    let k = k.min(pieces as usize);
    let mut set = Vec::with_capacity(k);
    let mut seed = [0u8; 24];
    seed[..4].copy_from_slice(&(u32::from(ip) & 0xFFFF_FF00).to_be_bytes());
    seed[4..].copy_from_slice(info_hash);
    let mut hash: [u8; 20] = Sha1::digest(seed).into();
    for _ in 0..MAX_HASHES {
        if set.len() == k {
            break;
        }
        for word in hash.chunks_exact(4) {
            let piece = BigEndian::read_u32(word) % pieces;
            if set.len() < k && !set.contains(&piece) {
                set.push(piece);
            }
        }
        hash = Sha1::digest(hash).into();
    }
    set
}

/// What the Fast extension adds to a connection's state.
pub(super) struct Fast {
    /// Both handshakes set the bit: the extension applies to this connection.
    pub(super) enabled: bool,
    /// The pieces this peer may request while we choke it (its allowed-fast set).
    ours: Vec<u32>,
    /// The pieces the peer lets us request while it chokes us.
    theirs: Vec<u32>,
    /// The pieces the peer suggested, newest last: the picker starts these first.
    suggested: Vec<u32>,
    /// The peer's first message is behind us (keep-alives, `port` and extension messages
    /// aside): a `have_all` or `have_none` now breaks BEP 6.
    opened: bool,
    /// Rejects of our requests since the last block, while the peer unchoked us.
    rejects_in_a_row: u32,
}

impl Fast {
    /// The extension's state for a peer at `ip`; `enabled` if both handshakes set the bit.
    pub(super) fn new(enabled: bool, ip: IpAddr, info_hash: &[u8; 20], pieces: u32) -> Fast {
        let ours = if enabled {
            allowed_fast_set(ip, info_hash, pieces, ALLOWED_FAST_PIECES)
        } else {
            Vec::new()
        };
        Fast {
            enabled,
            ours,
            theirs: Vec::new(),
            suggested: Vec::new(),
            opened: false,
            rejects_in_a_row: 0,
        }
    }

    /// We grant the peer no allowed-fast piece (when super seeding).
    pub(super) fn allow_none(&mut self) {
        self.ours.clear();
    }

    /// True if we let the peer have `piece` while we choke it.
    pub(super) fn we_allow(&self, piece: u32) -> bool {
        self.ours.contains(&piece)
    }

    /// The pieces we may request from the peer now: every piece it has while it unchokes
    /// us; while it chokes us, those it allowed us fast (`None` if there is none).
    pub(super) fn requestable<'a>(
        &self,
        peer_has: &'a Bitfield,
        peer_choking: bool,
    ) -> Option<Cow<'a, Bitfield>> {
        if !peer_choking {
            return Some(Cow::Borrowed(peer_has));
        }
        let mut allowed = Bitfield::new(peer_has.len());
        for &piece in self.theirs.iter().filter(|&&piece| peer_has.has(piece)) {
            allowed.set(piece);
        }
        (allowed.count() > 0).then_some(Cow::Owned(allowed))
    }

    /// The pieces the peer suggested, for the picker.
    pub(super) fn suggested(&self) -> &[u32] {
        &self.suggested
    }

    /// A block arrived: the peer is not just rejecting us.
    pub(super) fn block_arrived(&mut self) {
        self.rejects_in_a_row = 0;
    }
}

impl Connection {
    /// Our allowed-fast set, after our bitfield (to a Fast peer with an IPv4 address).
    pub(super) fn send_allowed_fast(&mut self) {
        for piece in self.fast.ours.clone() {
            self.send(Message::AllowedFast(piece));
        }
    }

    /// Sends a `reject_request` for `block` to a Fast peer; nothing to another.
    pub(super) fn reject(&mut self, block: BlockRef) {
        if self.fast.enabled {
            self.send(Message::RejectRequest(block));
        }
    }

    /// Keeps track of the bitfield phase: with a Fast peer, a `have_all` or `have_none`
    /// must be its first message. Called for every message before it is handled.
    ///
    /// BEP 6 says the same of a `bitfield`, but aria2 (1.36) breaks it: after `have_none`,
    /// `allowed_fast`, `interested` and a `have` it sends a whole bitfield. A late bitfield
    /// replaces what we knew, as it does for any peer (`download.rs`).
    pub(super) fn opening(&mut self, message: &Message) -> Result<(), PeerError> {
        let name = match message {
            // Not part of the exchange of pieces: they may come before the bitfield
            // (libtorrent and aria2 send their BEP 10 handshake first).
            Message::KeepAlive
            | Message::Port(_)
            | Message::Extended { .. }
            | Message::Unknown { .. } => return Ok(()),
            Message::HaveAll => "have_all",
            Message::HaveNone => "have_none",
            // Listed, not `_`: a new message must be sorted into one of these groups.
            Message::Choke
            | Message::Unchoke
            | Message::Interested
            | Message::NotInterested
            | Message::Have(_)
            | Message::Bitfield(_)
            | Message::Request(_)
            | Message::Piece { .. }
            | Message::Cancel(_)
            | Message::SuggestPiece(_)
            | Message::RejectRequest(_)
            | Message::AllowedFast(_) => {
                self.fast.opened = true;
                return Ok(());
            }
        };
        if self.fast.enabled && std::mem::replace(&mut self.fast.opened, true) {
            return Err(self.misbehaved(format!(
                "sent {name} after its first message (BEP 6 allows it only as the first)"
            )));
        }
        Ok(())
    }

    /// `have_all`: the peer is a seed.
    pub(super) fn have_all(&mut self) -> Result<(), PeerError> {
        self.fast_only("have_all")?;
        self.set_peer_has(Bitfield::full(self.torrent.geometry.piece_count))
    }

    /// `have_none`: the peer has nothing yet.
    pub(super) fn have_none(&mut self) -> Result<(), PeerError> {
        self.fast_only("have_none")?;
        self.set_peer_has(Bitfield::new(self.torrent.geometry.piece_count))
    }

    /// `reject_request`: the peer will not send a block we asked for. It goes back to the
    /// piece manager, and its place in the pipeline is free.
    pub(super) fn rejected(&mut self, block: BlockRef) -> Result<(), PeerError> {
        self.fast_only("reject_request")?;
        self.piece_in_range("reject_request", block.piece)?;
        match self.download.take_request(&block) {
            Asked::InFlight => {}
            // Cancelled, or asked before a choke: given up already.
            Asked::Stale => return Ok(()),
            Asked::Never => {
                return Err(self.misbehaved(format!(
                    "rejected {} bytes at offset {} of piece {}, which we never requested",
                    block.length, block.offset, block.piece
                )));
            }
        }
        self.torrent.pieces.return_blocks(self.key, &[block]);
        if self.download.peer_choking() {
            // The peer chokes us; if it allowed us this piece fast, it no longer does
            // (BEP 6 lets it change its mind): asking again would only be rejected again.
            self.fast.theirs.retain(|&piece| piece != block.piece);
            return Ok(());
        }
        self.fast.rejects_in_a_row += 1;
        if self.fast.rejects_in_a_row > MAX_REJECTS_IN_A_ROW {
            return Err(self.misbehaved(format!(
                "rejected {MAX_REJECTS_IN_A_ROW} requests in a row while unchoking us"
            )));
        }
        Ok(())
    }

    /// `allowed_fast`: we may request `piece` even while the peer chokes us.
    pub(super) fn allowed_fast(&mut self, piece: u32) -> Result<(), PeerError> {
        self.fast_only("allowed_fast")?;
        self.piece_in_range("allowed_fast", piece)?;
        let theirs = &mut self.fast.theirs;
        if !theirs.contains(&piece) && theirs.len() < MAX_ALLOWED_FAST_KEPT {
            theirs.push(piece);
        }
        Ok(())
    }

    /// `suggest_piece`: the peer would rather we asked for `piece`; a hint, no promise.
    pub(super) fn suggested(&mut self, piece: u32) -> Result<(), PeerError> {
        self.fast_only("suggest_piece")?;
        self.piece_in_range("suggest_piece", piece)?;
        let suggested = &mut self.fast.suggested;
        suggested.retain(|&p| p != piece);
        if suggested.len() == MAX_SUGGESTED {
            suggested.remove(0);
        }
        suggested.push(piece);
        Ok(())
    }

    /// BEP 6: a peer that did not set the bit must not send the extension's messages.
    fn fast_only(&self, name: &str) -> Result<(), PeerError> {
        if self.fast.enabled {
            return Ok(());
        }
        Err(self.misbehaved(format!(
            "sent {name}, a Fast extension message, without setting the Fast extension bit"
        )))
    }

    fn piece_in_range(&self, name: &str, piece: u32) -> Result<(), PeerError> {
        let count = self.torrent.geometry.piece_count;
        if piece < count {
            return Ok(());
        }
        Err(self.misbehaved(format!(
            "sent {name} for piece {piece}, out of range (the torrent has {count} pieces)"
        )))
    }
}

#[cfg(test)]
mod tests;

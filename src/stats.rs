//! Transfer counters shared by every thread.
//!
//! Peer threads add to them, the announcer reports them to trackers and the main thread
//! draws them. They are plain atomics: no lock, and nobody owns them.

use std::sync::atomic::{AtomicU64, Ordering};

/// Byte totals for the whole torrent.
#[derive(Debug, Default)]
pub struct Counters {
    /// Payload bytes received in `piece` messages (including ones later found bad).
    pub downloaded: AtomicU64,
    /// Payload bytes sent in `piece` messages.
    pub uploaded: AtomicU64,
    /// Bytes of verified data still missing; what trackers call `left`.
    pub left: AtomicU64,
    /// Peer connections past the handshake.
    pub peers: AtomicU64,
    /// Of those, peers that currently unchoke us.
    pub unchoking_us: AtomicU64,
    /// Web seeds (BEP 19) whose last request succeeded.
    pub web_seeds: AtomicU64,
}

impl Counters {
    /// Counters for a torrent that still misses `left` bytes.
    pub fn new(left: u64) -> Counters {
        let counters = Counters::default();
        counters.left.store(left, Ordering::Relaxed);
        counters
    }

    pub fn downloaded(&self) -> u64 {
        self.downloaded.load(Ordering::Relaxed)
    }

    pub fn uploaded(&self) -> u64 {
        self.uploaded.load(Ordering::Relaxed)
    }

    pub fn left(&self) -> u64 {
        self.left.load(Ordering::Relaxed)
    }

    pub fn add_downloaded(&self, bytes: u64) {
        self.downloaded.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn add_uploaded(&self, bytes: u64) {
        self.uploaded.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn peers(&self) -> u64 {
        self.peers.load(Ordering::Relaxed)
    }

    pub fn unchoking_us(&self) -> u64 {
        self.unchoking_us.load(Ordering::Relaxed)
    }

    pub fn web_seeds(&self) -> u64 {
        self.web_seeds.load(Ordering::Relaxed)
    }

    pub fn sub_left(&self, bytes: u64) {
        // Saturating: a piece is only counted once, but never let a bug wrap this around.
        let _ = self
            .left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                Some(left.saturating_sub(bytes))
            });
    }
}

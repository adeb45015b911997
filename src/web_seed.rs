//! Web seeds (BEP 19): HTTP servers that hold the torrent's files, fetched from as if each
//! were a peer that has every piece and never chokes.
//!
//! * Runs on: one thread per web seed (`web-seed`), started with the block saver when a
//!   torrent lists `url-list` and still misses pieces.
//! * Reads: the piece manager, for blocks to fetch (as a peer thread asks it, under its own
//!   [`PeerKey`]); the server, by HTTP range requests (`fetch.rs`), one per file a run of
//!   blocks spans (`layout.rs` maps the byte stream onto the server's URLs).
//! * Writes: each block the piece manager accepts to the block saver, like any peer's, so
//!   the hasher checks web seed pieces like all others; the counters.
//!
//! A thread asks for a run of up to [`RUN_BLOCKS`] blocks at a time, preferring the pieces
//! right after its last ones, so one request covers several pieces. A request that fails
//! (an error status, no answer, a redirect loop, a wrong range or length) gives its
//! blocks back to the piece manager at once, so peers can take them, and the thread waits
//! before it tries again: 1 s, doubling up to [`MAX_BACKOFF`]. A web seed whose data fails
//! the hash check [`STRIKES`] times (counted as for peers: when it alone sent the piece)
//! is dropped with a warning. Nothing here can stall the download: while a web seed waits,
//! its blocks are free for peers.
//!
//! Shutdown never waits for a server: a thread holds the saver's channel only weakly (an
//! upgrade for each run it delivers), so once [`WebSeeds::stop`] drops the strong one, the
//! saver can end while a thread is still blocked in a slow request; the thread sees the
//! stop after its request (at most `fetch::REQUEST_TIMEOUT`) and ends.

mod fetch;
mod layout;

use crate::bitfield::Bitfield;
use crate::block_saver::Command;
use crate::geometry::{BLOCK_SIZE, BlockRef, Geometry};
use crate::metainfo::Metainfo;
use crate::piece_manager::{Delivery, PeerKey, PieceManager};
use crate::rate_limit::{self, RateLimit};
use crate::stats::Counters;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};
use fetch::FetchError;
use layout::Layout;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// The most blocks one run asks for: 1 MiB, so one web seed holds at most that in memory.
pub const RUN_BLOCKS: usize = 64;
/// Pieces a web seed sent alone that may fail their hash check before it is dropped.
pub const STRIKES: u32 = 3;
/// The longest wait between failed requests.
pub const MAX_BACKOFF: Duration = Duration::from_secs(120);
/// How long a web seed waits when there is nothing to fetch, or no budget under
/// `--max-download-rate`.
const IDLE: Duration = Duration::from_millis(200);
/// Keys of web seeds start here, far above the peer manager's (which count up from 1).
const FIRST_KEY: PeerKey = 1 << 62;

/// What a web seed thread needs of the download.
pub struct Parts {
    pub pieces: Arc<PieceManager>,
    pub geometry: Geometry,
    pub saver: Sender<Command>,
    pub counters: Arc<Counters>,
    pub download_limit: Option<Arc<RateLimit>>,
}

/// One web seed, as the main thread sees it.
struct Status {
    key: PeerKey,
    url: String,
    /// Pieces it alone sent that failed their hash check.
    strikes: AtomicU32,
}

/// The running web seeds: told of hash failures, stopped at shutdown.
pub struct WebSeeds {
    seeds: Vec<Arc<Status>>,
    /// The strong end of the saver's channel that the threads hold weakly.
    saver: Option<Arc<Sender<Command>>>,
    /// Dropped to stop the threads (they wait on its other end).
    stop: Option<Sender<()>>,
}

impl WebSeeds {
    /// No web seed.
    pub fn none() -> WebSeeds {
        WebSeeds {
            seeds: Vec::new(),
            saver: None,
            stop: None,
        }
    }

    /// Starts one thread for each http(s) URL of `meta`'s `url-list`; other URLs are
    /// skipped with a warning.
    pub fn spawn(meta: &Metainfo, parts: Parts) -> WebSeeds {
        let saver = Arc::new(parts.saver.clone());
        let (stop, stopped) = bounded(0);
        let mut seeds = Vec::new();
        for url in &meta.url_list {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                log::warn!("web seed {url}: skipped, only http and https are supported");
                continue;
            }
            let status = Arc::new(Status {
                key: FIRST_KEY + seeds.len() as PeerKey,
                url: url.clone(),
                strikes: AtomicU32::new(0),
            });
            let seed = Seed {
                status: status.clone(),
                layout: Layout::new(url, meta),
                agent: fetch::agent(),
                pieces: parts.pieces.clone(),
                geometry: parts.geometry,
                saver: Arc::downgrade(&saver),
                counters: parts.counters.clone(),
                limit: parts.download_limit.clone(),
                stop: stopped.clone(),
                has: Bitfield::full(parts.geometry.piece_count),
                working: false,
                next_piece: None,
                delivered: 0,
            };
            let spawned = std::thread::Builder::new()
                .name("web-seed".into())
                .spawn(move || seed.run());
            match spawned {
                Ok(_) => seeds.push(status),
                Err(error) => log::warn!("web seed {url}: no thread: {error}"),
            }
        }
        WebSeeds {
            seeds,
            saver: Some(saver),
            stop: Some(stop),
        }
    }

    /// A piece failed its hash check; these sent data for it. As for peers, a web seed
    /// gets a strike only when it sent the whole piece (see `peer_manager`'s `blame`).
    pub fn blame(&self, contributors: &[PeerKey]) {
        let [key] = contributors else {
            return;
        };
        if let Some(seed) = self.seeds.iter().find(|seed| seed.key == *key) {
            let strikes = seed.strikes.fetch_add(1, Ordering::Relaxed) + 1;
            log::info!(
                "web seed {}: a piece it sent failed its hash check ({strikes} strikes)",
                seed.url
            );
        }
    }

    /// Stops the threads and lets go of the saver's channel; does not wait for them.
    pub fn stop(&mut self) {
        self.stop = None;
        self.saver = None;
    }
}

/// One web seed's thread.
struct Seed {
    status: Arc<Status>,
    layout: Layout,
    agent: ureq::Agent,
    pieces: Arc<PieceManager>,
    geometry: Geometry,
    saver: Weak<Sender<Command>>,
    counters: Arc<Counters>,
    limit: Option<Arc<RateLimit>>,
    stop: Receiver<()>,
    /// Every piece: a web seed has them all.
    has: Bitfield,
    /// The last request succeeded: counted in `Counters::web_seeds` and in availability.
    working: bool,
    /// The piece after the last one fetched: runs go on from there.
    next_piece: Option<u32>,
    /// Bytes accepted from this server.
    delivered: u64,
}

/// Why a run was not delivered.
enum Failed {
    /// The download is shutting down.
    Stopped,
    /// The server failed us; try again later.
    Fetch(FetchError),
}

impl Seed {
    fn run(mut self) {
        let url = self.status.url.clone();
        log::info!("web seed {url}: started");
        let mut failures = 0;
        while !self.pieces.is_complete() {
            let strikes = self.status.strikes.load(Ordering::Relaxed);
            if strikes >= STRIKES {
                log::warn!(
                    "web seed {url}: dropped, {strikes} pieces it sent failed their hash check"
                );
                break;
            }
            let blocks = self.pick();
            if blocks.is_empty() {
                if self.wait(IDLE) {
                    break;
                }
                continue;
            }
            match self.fetch_and_deliver(&blocks) {
                Ok(()) => {
                    failures = 0;
                    self.set_working(true);
                }
                Err(Failed::Stopped) => break,
                Err(Failed::Fetch(error)) => {
                    self.set_working(false);
                    failures += 1;
                    let backoff = backoff(failures);
                    log::warn!("web seed {url}: {error}; trying again in {backoff:?}");
                    if self.wait(backoff) {
                        break;
                    }
                }
            }
        }
        self.set_working(false);
        log::info!("web seed {url}: {} bytes delivered", self.delivered);
    }

    /// Up to [`RUN_BLOCKS`] blocks to fetch (fewer under a rate limit), preferring the
    /// pieces after the last ones, so they make one run.
    fn pick(&mut self) -> Vec<BlockRef> {
        let mut picked = Vec::new();
        let preferred: Vec<u32> = match self.next_piece {
            Some(next) => (next..self.geometry.piece_count).take(RUN_BLOCKS).collect(),
            None => Vec::new(),
        };
        let limit = self.limit.as_deref();
        rate_limit::metered(limit, RUN_BLOCKS, BLOCK_SIZE, |wanted| {
            let (key, has) = (self.status.key, &self.has);
            self.pieces
                .pick_blocks_preferring(key, has, &[], &preferred, wanted, &mut picked);
            picked.len()
        });
        picked.sort_unstable_by_key(|block| (block.piece, block.offset));
        self.next_piece = picked.last().map(|block| block.piece + 1);
        picked
    }

    /// Fetches `blocks`, run by run, and hands each accepted block to the saver. On a
    /// failure the blocks not delivered go back to the piece manager.
    fn fetch_and_deliver(&mut self, blocks: &[BlockRef]) -> Result<(), Failed> {
        let runs = runs(&self.geometry, blocks);
        for (index, run) in runs.iter().enumerate() {
            if let Err(failed) = self.deliver(run) {
                let rest: Vec<BlockRef> = runs[index..].iter().flatten().copied().collect();
                self.pieces.return_blocks(self.status.key, &rest);
                return Err(failed);
            }
        }
        Ok(())
    }

    /// One run: its bytes from the server (a request per file it spans), then each block.
    fn deliver(&mut self, run: &[BlockRef]) -> Result<(), Failed> {
        let (Some(first), Some(last)) = (run.first(), run.last()) else {
            return Ok(());
        };
        let start = self.geometry.piece_offset(first.piece) + u64::from(first.offset);
        let end = self.geometry.piece_offset(last.piece) + u64::from(last.offset + last.length);
        let mut bytes = Vec::with_capacity((end - start) as usize);
        for span in self.layout.spans(start, end - start) {
            fetch::fetch(&self.agent, &span, &mut bytes).map_err(Failed::Fetch)?;
            if self.stopped() {
                return Err(Failed::Stopped);
            }
        }
        let (asked, got) = (end - start, bytes.len() as u64);
        if got != asked {
            // The spans cover the run exactly; this guards the slicing below all the same.
            return Err(Failed::Fetch(FetchError::Length { asked, got }));
        }
        let saver = self.saver.upgrade().ok_or(Failed::Stopped)?;
        let mut at = 0;
        for block in run {
            let length = block.length as usize;
            let data = bytes[at..at + length].to_vec();
            at += length;
            self.counters.add_downloaded(block.length as u64);
            if self.pieces.block_received(self.status.key, *block) == Delivery::Accepted {
                self.delivered += block.length as u64;
                let save = Command::Save {
                    block: *block,
                    data,
                };
                saver.send(save).map_err(|_| Failed::Stopped)?;
            }
        }
        Ok(())
    }

    /// Counts this web seed as a source, or stops counting it: in the counters (for the
    /// progress line and `--give-up`) and in the piece manager's availability.
    fn set_working(&mut self, working: bool) {
        if self.working == working {
            return;
        }
        self.working = working;
        if working {
            self.counters.web_seeds.fetch_add(1, Ordering::Relaxed);
            self.pieces.add_peer_pieces(&self.has);
        } else {
            self.counters.web_seeds.fetch_sub(1, Ordering::Relaxed);
            self.pieces.remove_peer_pieces(&self.has);
        }
    }

    /// Waits `duration`, or less if the download stops; true if it stopped.
    fn wait(&self, duration: Duration) -> bool {
        matches!(
            self.stop.recv_timeout(duration),
            Err(RecvTimeoutError::Disconnected)
        )
    }

    fn stopped(&self) -> bool {
        self.wait(Duration::ZERO)
    }
}

/// `blocks` (sorted) cut where the byte stream has a gap: each run is one stretch.
fn runs(geometry: &Geometry, blocks: &[BlockRef]) -> Vec<Vec<BlockRef>> {
    let mut runs: Vec<Vec<BlockRef>> = Vec::new();
    let mut end = None;
    for block in blocks {
        let start = geometry.piece_offset(block.piece) + u64::from(block.offset);
        match runs.last_mut() {
            Some(run) if end == Some(start) => run.push(*block),
            _ => runs.push(vec![*block]),
        }
        end = Some(start + u64::from(block.length));
    }
    runs
}

/// The wait after `failures` failed requests in a row: 1 s, doubling, at most
/// [`MAX_BACKOFF`].
fn backoff(failures: u32) -> Duration {
    let seconds = 1u64 << failures.saturating_sub(1).min(10);
    Duration::from_secs(seconds).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests;

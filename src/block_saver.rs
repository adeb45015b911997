//! The block-saver thread: puts received blocks into the memory map.
//!
//! * Runs on: its own thread, `block-saver`.
//! * Owns: the [`hasher`] thread, which it starts and joins. The rest it shares with the
//!   hasher, each thread holding its own clone of one [`Shared`]: the write side of
//!   [`Storage`] (the piece manager decides which blocks it may write), the piece
//!   manager, the counters.
//! * Reads: [`Command`]s from a bounded channel fed by every peer thread. The bound is the
//!   back-pressure: when the disk is slower than the network, peer threads wait on `send`
//!   instead of piling blocks up in memory.
//! * Writes: piece indices to the hasher, when a piece's last block is written; [`Event`]s
//!   to the main thread (a disk error; the hasher sends the pieces that failed, and the
//!   one that completed the download).
//!
//! A block is one channel message and one copy (network buffer → page cache); the `Vec`
//! that carried it goes back to the [`BlockPool`] after the copy. The piece is hashed on the hasher's thread,
//! straight from the map, while the saver goes on copying the next blocks.
//!
//! What one block costs, from the socket to the map (plain connection):
//!
//! | step | where | cost |
//! |---|---|---|
//! | `recv` into the connection's 64 KiB read buffer | `peer/socket.rs`: `Socket::read_message` | copy 1 (the kernel's), about 4 blocks per call |
//! | the block's `Vec`, recycled, read over as is | `wire/reader.rs`: `head_done` → `BlockPool::take` | none once the pool is warm |
//! | read buffer → `Vec` | `wire/reader.rs`: `MessageReader::step` (`fill`) | copy 2 |
//! | `Requested` → `Received` | `peer/download.rs`: `Connection::block` → `PieceManager::block_received` | lock: piece manager |
//! | [`Command::Save`] into the bounded channel | `peer/download.rs`: `Connection::block` | channel send (the `Vec` moves); a wake-up if the saver sleeps |
//! | any file to repair? | `repair.rs`: `save_or_repair` → `Storage::next_truncated` | one atomic load |
//! | the file, open for writing | `Storage::write_run` → `writer::Handles` | lock: open files; one `fstat` per run |
//! | `Vec` → page cache | `Storage::write_run`: one `pwritev` for the run of consecutive blocks queued (not through the map, see `storage::writer`) | copy 3 |
//! | `Received` → `Written` | `Saver::save` → `PieceManager::block_written` | lock: piece manager |
//! | the `Vec` back to the pool | `Saver::save_all` → `BlockPool::give` | channel send |
//!
//! On an RC4 connection the bytes are decrypted in place in the read buffer (one pass, no
//! copy). The last block of a piece also sends the piece's index to the hasher.
//!
//! A file that another program truncates under us is repaired here too, by the one thread
//! that writes, once the hasher is idle: see `repair` (whose steps the check of the data on
//! disk, `verify`, also uses before this thread starts).
//!
//! Shutdown: when every peer thread has ended, the saver writes what is queued, then the
//! hasher hashes what is queued and ends. So every piece whose last block arrived is
//! hashed and reported before the saver's thread ends. Flushing the map to disk is the
//! resume recorder's business, not the saver's.

use crate::block_pool::BlockPool;
use crate::geometry::{BlockRef, Geometry};
use crate::piece_manager::{PeerKey, PieceManager, Written};
use crate::stats::Counters;
use crate::storage::{Storage, StorageError};
use crate::transcript::Tracer;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};
use std::sync::Arc;
use std::thread::JoinHandle;

pub mod hasher;
pub mod repair;

/// How many blocks may wait for the saver (16 KiB each: 8 MiB at most).
pub const QUEUE_BLOCKS: usize = 512;

/// How many queued blocks the saver takes in one turn at most (256 KiB).
pub const WRITE_BATCH: usize = 16;

/// What peer threads ask of the block saver. The saver ends when every sender is gone (all
/// peer threads have ended) and the queue is empty. It does not flush: that is the resume
/// recorder's decision (see `resume::recorder`).
#[derive(Debug)]
pub enum Command {
    /// Write a block the piece manager accepted.
    Save { block: BlockRef, data: Vec<u8> },
}

/// What the block saver and its hasher report to the main thread.
#[derive(Debug)]
pub enum Event {
    /// Piece `piece` matched its SHA-1, and with it every wanted piece has: the
    /// download is complete. A piece verified before that is not reported: the main
    /// thread reads progress from the piece manager once a tick, and waking it for each
    /// of a download's thousands of pieces cost a tenth of its CPU time (measured).
    Completed { piece: u32 },
    /// Piece `piece` failed its SHA-1; these peers sent data for it.
    PieceFailed {
        piece: u32,
        contributors: Vec<PeerKey>,
    },
    /// Writing failed; the download cannot go on.
    DiskError(StorageError),
}

/// What the saver thread and its hasher both work on. Each thread gets its own clone,
/// which is cheap: `Arc`s, a `Copy` geometry and a tracer handle.
#[derive(Clone)]
pub struct Shared {
    /// The map: the saver writes blocks into it, the hasher reads pieces from it.
    pub storage: Arc<Storage>,
    /// Told of each block written (by the saver) and each verdict (by the hasher).
    pub pieces: Arc<PieceManager>,
    /// Where each piece and block lies in the byte stream.
    pub geometry: Geometry,
    /// Each piece's SHA-1, for the hasher and for rechecking a repaired file.
    pub hashes: Arc<Vec<[u8; 20]>>,
    /// `left` shrinks as pieces verify and grows back when a repair forgets one.
    pub counters: Arc<Counters>,
    /// Records each piece completed or failed (`--trace`), on the hasher's thread.
    pub tracer: Tracer,
    /// Where each block's buffer goes once it is written, for a peer thread to fill again.
    pub pool: BlockPool,
}

/// The saver thread: the shared parts, and its end of the hasher.
struct Saver {
    shared: Shared,
    hasher: hasher::Handle,
}

/// Starts the block-saver thread and its hasher thread.
///
/// If the saver's thread cannot start, the hasher's sender goes with it, so the hasher
/// ends by itself.
pub fn spawn(
    shared: Shared,
    events: Sender<Event>,
) -> std::io::Result<(JoinHandle<()>, Sender<Command>)> {
    let hasher = hasher::spawn(shared.clone(), events.clone())?;
    let saver = Saver { shared, hasher };
    let (commands, inbox) = bounded(QUEUE_BLOCKS);
    let handle = std::thread::Builder::new()
        .name("block-saver".into())
        .spawn(move || saver.run(inbox, events))?;
    Ok((handle, commands))
}

impl Saver {
    fn run(self, inbox: Receiver<Command>, events: Sender<Event>) {
        let saved = self.save_all(inbox);
        // The peers are gone (or the disk failed): the hasher checks what it has and ends,
        // so every verdict is given before this thread ends. No flush: that is the resume
        // recorder's decision (see `resume::recorder`).
        self.hasher.finish();
        if let Err(error) = saved {
            log::error!("disk error: {error}");
            let _ = events.send(Event::DiskError(error));
        }
    }

    /// Saves blocks until every sender is gone, or until a disk error. Each turn takes
    /// the next block and whatever else is queued already (up to [`WRITE_BATCH`]).
    fn save_all(&self, inbox: Receiver<Command>) -> Result<(), StorageError> {
        let mut batch = Vec::with_capacity(WRITE_BATCH);
        loop {
            // Without blocks to save, wake now and then to repair files that another
            // thread found truncated (see `repair`).
            match inbox.recv_timeout(repair::POLL) {
                Ok(command) => {
                    batch.push(command);
                    batch.extend(inbox.try_iter().take(WRITE_BATCH - 1));
                    self.save_batch(&mut batch)?;
                }
                Err(RecvTimeoutError::Timeout) => self.repair_truncated()?,
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
        }
    }

    /// Writes the blocks of `batch`, one write per run of blocks that follow one another
    /// in the stream, then gives their buffers back to the pool and empties `batch`.
    fn save_batch(&self, batch: &mut Vec<Command>) -> Result<(), StorageError> {
        let mut rest = &batch[..];
        while !rest.is_empty() {
            let run = run_length(&self.shared.geometry, rest);
            self.save_or_repair(&rest[..run])?;
            rest = &rest[run..];
        }
        for Command::Save { data, .. } in batch.drain(..) {
            self.shared.pool.give(data);
        }
        Ok(())
    }

    /// Writes `run`, blocks that follow one another in the stream, in one go; hands each
    /// piece it completed to the hasher.
    fn save(&self, run: &[Command]) -> Result<(), StorageError> {
        let Some(Command::Save { block: first, .. }) = run.first() else {
            return Ok(());
        };
        let offset = stream_offset(&self.shared.geometry, first);
        let buffers: Vec<&[u8]> = run
            .iter()
            .map(|Command::Save { data, .. }| data.as_slice())
            .collect();
        self.shared.storage.write_run(offset, &buffers)?;
        for Command::Save { block, .. } in run {
            if self.shared.pieces.block_written(*block) == Written::PieceComplete {
                self.hasher.check(block.piece);
            }
        }
        Ok(())
    }
}

/// Where `block` starts in the byte stream.
fn stream_offset(geometry: &Geometry, block: &BlockRef) -> u64 {
    geometry.piece_offset(block.piece) + u64::from(block.offset)
}

/// How many of the first commands of `commands` (at least one) carry blocks that follow
/// one another in the stream: the last block of a piece and the first of the next do.
fn run_length(geometry: &Geometry, commands: &[Command]) -> usize {
    let mut end = None;
    let mut length = 0;
    for Command::Save { block, data } in commands {
        let start = stream_offset(geometry, block);
        if end.is_some_and(|end| end != start) {
            break;
        }
        end = Some(start + data.len() as u64);
        length += 1;
    }
    length
}

#[cfg(test)]
mod tests;

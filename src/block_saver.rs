//! The block-saver thread: puts received blocks into the memory map and checks pieces.
//!
//! * Runs on: its own thread, `block-saver`.
//! * Owns: nothing but the write side of [`Storage`] (the piece manager decides which
//!   blocks it may write).
//! * Reads: [`Command`]s from a bounded channel fed by every peer thread. The bound is the
//!   back-pressure: when the disk is slower than the network, peer threads wait on `send`
//!   instead of piling blocks up in memory.
//! * Writes: [`Event`]s to the main thread (a piece verified or failed, a disk error).
//!
//! When the last block of a piece is written, the piece is hashed here, straight from the
//! map, and the verdict goes to the piece manager. A block is one channel message and one
//! copy (network buffer → map); the `Vec` that carried it is dropped after the copy.
//!
//! A file that another program truncates under us is repaired here too, by the one thread
//! that writes: see `repair`.

use crate::geometry::{BlockRef, Geometry};
use crate::piece_manager::{PeerKey, PieceManager, Written};
use crate::stats::Counters;
use crate::storage::{Storage, StorageError};
use crate::trace::{PieceEvent, Tracer};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};
use sha1::{Digest, Sha1};
use std::sync::Arc;
use std::thread::JoinHandle;

mod repair;

/// How many blocks may wait for the saver (16 KiB each: 8 MiB at most).
pub const QUEUE_BLOCKS: usize = 512;

/// What peer threads ask of the block saver. The saver ends when every sender is gone (all
/// peer threads have ended) and the queue is empty. It does not flush: that is the resume
/// recorder's decision (see `resume::recorder`).
#[derive(Debug)]
pub enum Command {
    /// Write a block the piece manager accepted.
    Save { block: BlockRef, data: Vec<u8> },
}

/// What the block saver reports to the main thread.
#[derive(Debug)]
pub enum Event {
    /// Piece `piece` is on disk and its SHA-1 matched.
    PieceVerified { piece: u32 },
    /// Piece `piece` failed its SHA-1; these peers sent data for it.
    PieceFailed {
        piece: u32,
        contributors: Vec<PeerKey>,
    },
    /// Writing failed; the download cannot go on.
    DiskError(StorageError),
}

/// Everything the saver thread needs.
pub struct Saver {
    pub storage: Arc<Storage>,
    pub pieces: Arc<PieceManager>,
    pub geometry: Geometry,
    pub hashes: Arc<Vec<[u8; 20]>>,
    pub counters: Arc<Counters>,
    /// Records each piece completed or failed (`--trace`).
    pub tracer: Tracer,
}

/// Starts the block-saver thread.
pub fn spawn(
    saver: Saver,
    events: Sender<Event>,
) -> std::io::Result<(JoinHandle<()>, Sender<Command>)> {
    let (commands, inbox) = bounded(QUEUE_BLOCKS);
    let handle = std::thread::Builder::new()
        .name("block-saver".into())
        .spawn(move || saver.run(inbox, events))?;
    Ok((handle, commands))
}

impl Saver {
    fn run(self, inbox: Receiver<Command>, events: Sender<Event>) {
        loop {
            // Without blocks to save, wake now and then to repair files that another
            // thread found truncated (see `repair`).
            let saved = match inbox.recv_timeout(repair::POLL) {
                Ok(Command::Save { block, data }) => self.save_or_repair(block, &data, &events),
                Err(RecvTimeoutError::Timeout) => self.repair_truncated(),
                Err(RecvTimeoutError::Disconnected) => return,
            };
            if let Err(error) = saved {
                log::error!("disk error: {error}");
                let _ = events.send(Event::DiskError(error));
                return;
            }
        }
    }

    fn save(
        &self,
        block: BlockRef,
        data: &[u8],
        events: &Sender<Event>,
    ) -> Result<(), StorageError> {
        let offset = self.geometry.piece_offset(block.piece) + block.offset as u64;
        self.storage.write(offset, data)?;
        if self.pieces.block_written(block) == Written::PieceIncomplete {
            return Ok(());
        }
        let piece = block.piece;
        let ok = piece_matches(&self.storage, &self.geometry, &self.hashes, piece)?;
        let contributors = self.pieces.piece_checked(piece, ok);
        let traced = if ok {
            PieceEvent::Completed
        } else {
            PieceEvent::HashFailed
        };
        self.tracer.piece(None, traced, piece);
        let event = if ok {
            self.counters
                .sub_left(self.geometry.piece_size(piece) as u64);
            log::debug!("piece {piece} verified");
            Event::PieceVerified { piece }
        } else {
            log::warn!("piece {piece} failed its hash check; fetching it again");
            Event::PieceFailed {
                piece,
                contributors,
            }
        };
        let _ = events.send(event);
        Ok(())
    }
}

/// True if piece `piece` as stored hashes to its SHA-1 from the metainfo.
pub fn piece_matches(
    storage: &Storage,
    geometry: &Geometry,
    hashes: &[[u8; 20]],
    piece: u32,
) -> Result<bool, StorageError> {
    let mut hasher = Sha1::new();
    storage.read_with(
        geometry.piece_offset(piece),
        geometry.piece_size(piece) as u64,
        |bytes| hasher.update(bytes),
    )?;
    let digest: [u8; 20] = hasher.finalize().into();
    Ok(hashes.get(piece as usize) == Some(&digest))
}

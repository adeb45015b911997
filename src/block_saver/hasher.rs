//! The hasher thread: checks each piece the block saver completed against its SHA-1.
//!
//! * Runs on: its own thread, `hasher`, started with the block saver and joined by it.
//! * Owns: nothing. It works on its clone of the saver's [`Shared`] parts: it reads
//!   storage (pieces whose every block is written, which no thread writes any more) and
//!   gives its verdicts to the piece manager.
//! * Reads: [`Command`]s from a bounded channel whose only sender is the block saver.
//! * Writes: [`Event`]s to the main thread (a piece failed, the last piece verified, a
//!   disk error).
//!
//! Why a thread of its own: at loopback speed, copying blocks into a fresh map (mostly the
//! kernel's page faults) and hashing pieces each keep a core busy. On the saver's thread
//! they took turns; here the next blocks are copied while the last piece is hashed.
//!
//! Hashing never overlaps a repair (`repair.rs`). A repair may forget a piece that is
//! waiting here, and a verdict given after that would count bytes that are gone. So the
//! saver [`Handle::drain`]s the hasher before it repairs: every piece sent before is then
//! hashed and reported, and nothing new arrives while the saver is busy repairing.
//!
//! A piece whose file turns out truncated while it is hashed stays `Hashing`, with no
//! verdict: storage has noted the file, and the saver's repair forgets the piece, which is
//! then fetched again.

use super::{Event, Shared};
use crate::geometry::Geometry;
use crate::storage::{Storage, StorageError};
use crate::transcript::PieceEvent;
use crossbeam_channel::{Receiver, Sender, bounded};
use sha1::{Digest, Sha1};
use std::thread::JoinHandle;

/// How many complete pieces may wait for the hasher at most. The queue holds piece
/// indices, not data (the data is in the page cache); the bound keeps the hasher close
/// behind the saver, so a piece is served and recorded soon after its last block is
/// written.
pub const QUEUE_PIECES: usize = 32;

/// How many bytes of complete pieces may wait for the hasher: the queue's real bound. The
/// pieces' bytes are dirty page cache, which counts against a memory limit (a container's
/// 64 MiB), so 16 MiB pieces queue two at a time, 256 KiB pieces 32 (`QUEUE_PIECES`).
pub const QUEUE_BYTES: u64 = 32 << 20;

/// The hasher's queue length for pieces of `piece_length` bytes: `QUEUE_BYTES` of them,
/// at least one and at most `QUEUE_PIECES`.
pub fn queue_pieces(piece_length: u32) -> usize {
    let fit = QUEUE_BYTES / u64::from(piece_length.max(1));
    (fit as usize).clamp(1, QUEUE_PIECES)
}

/// What the block saver asks of the hasher. The hasher ends when the saver drops its
/// sender, after it has hashed every piece still queued.
#[derive(Debug)]
pub enum Command {
    /// Every block of `piece` is written and the piece is `Hashing`: hash it and report.
    Check { piece: u32 },
    /// Answer on `done` once every piece sent before this command is hashed and reported.
    Drain { done: Sender<()> },
}

/// The block saver's end of the hasher: where to send pieces, and the thread to join.
pub struct Handle {
    commands: Sender<Command>,
    thread: JoinHandle<()>,
}

/// Starts the hasher thread, on its own clone of the saver's shared parts.
pub fn spawn(shared: Shared, events: Sender<Event>) -> std::io::Result<Handle> {
    let (commands, inbox) = bounded(queue_pieces(shared.geometry.piece_length));
    let thread = std::thread::Builder::new()
        .name("hasher".into())
        .spawn(move || run(&shared, inbox, events))?;
    Ok(Handle { commands, thread })
}

impl Handle {
    /// Queues `piece`, whose last block was just written, for hashing. Waits while the
    /// queue is full.
    pub fn check(&self, piece: u32) {
        // The hasher only ends once this handle is gone, so this cannot fail.
        let _ = self.commands.send(Command::Check { piece });
    }

    /// Returns once every piece queued so far is hashed and its verdict given.
    pub fn drain(&self) {
        let (done, drained) = bounded(1);
        if self.commands.send(Command::Drain { done }).is_ok() {
            // An error here means the hasher is gone, which also means it is idle.
            let _ = drained.recv();
        }
    }

    /// Lets the hasher finish what is queued, and waits for its thread to end.
    pub fn finish(self) {
        drop(self.commands);
        crate::threads::join(self.thread);
    }
}

/// The hasher thread's loop: one command at a time, until the saver drops its sender.
fn run(shared: &Shared, inbox: Receiver<Command>, events: Sender<Event>) {
    // After a disk error the download is ending: pieces are no longer hashed, but the
    // queue is still emptied and drains answered, so the saver never waits on us.
    let mut failed = false;
    for command in inbox {
        match command {
            Command::Check { piece } if !failed => {
                if let Err(error) = check(shared, piece, &events) {
                    log::error!("disk error: {error}");
                    let _ = events.send(Event::DiskError(error));
                    failed = true;
                }
            }
            Command::Check { .. } => {}
            Command::Drain { done } => {
                let _ = done.send(());
            }
        }
    }
}

/// Hashes `piece` from the map, gives the verdict to the piece manager and reports it.
fn check(shared: &Shared, piece: u32, events: &Sender<Event>) -> Result<(), StorageError> {
    let ok = match piece_matches(&shared.storage, &shared.geometry, &shared.hashes, piece) {
        Ok(ok) => ok,
        Err(StorageError::Truncated { path, .. }) => {
            let path = path.display();
            log::debug!("piece {piece}: {path} was truncated; the saver repairs it");
            return Ok(());
        }
        Err(error) => return Err(error),
    };
    let contributors = shared.pieces.piece_checked(piece, ok);
    let event = if ok {
        shared.tracer.piece(None, PieceEvent::Completed, piece);
        shared
            .counters
            .sub_left(shared.geometry.piece_size(piece) as u64);
        log::debug!("piece {piece} verified");
        if !shared.pieces.is_complete() {
            return Ok(());
        }
        Event::Completed { piece }
    } else {
        shared.tracer.piece(None, PieceEvent::HashFailed, piece);
        log::warn!("piece {piece} failed its hash check; fetching it again");
        Event::PieceFailed {
            piece,
            contributors,
        }
    };
    let _ = events.send(event);
    Ok(())
}

/// True if piece `piece` as stored hashes to its SHA-1 from the metainfo.
pub fn piece_matches(
    storage: &Storage,
    geometry: &Geometry,
    hashes: &[[u8; 20]],
    piece: u32,
) -> Result<bool, StorageError> {
    let mut hasher = Sha1::new();
    let (offset, length) = (
        geometry.piece_offset(piece),
        geometry.piece_size(piece) as u64,
    );
    let read = storage.read_with(offset, length, |bytes| hasher.update(bytes));
    // Read once, then out of our mappings (see `Storage::release`).
    storage.release(offset, length);
    read?;
    let digest: [u8; 20] = hasher.finalize().into();
    Ok(hashes.get(piece as usize) == Some(&digest))
}

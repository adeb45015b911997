//! The resume recorder thread: keeps the resume file up to date while downloading.
//!
//! * Runs on: its own thread, `resume-recorder`.
//! * Owns: the resume file's path; reads the piece manager's verified bitfield and flushes
//!   the storage map.
//! * Reads: a stop channel from the main thread (a message or a dropped sender both mean
//!   stop); otherwise wakes every [`INTERVAL`].
//! * Writes: the resume file, nothing else.
//!
//! Architecture invariant: a piece is recorded only after its bytes are in the map, and a
//! recorded piece counts as flushed only after a flush. One [`Recorder::record`] reads the
//! files' stamps (length, mtime), then takes a snapshot of the verified pieces, then
//! (when it flushes) flushes the map (`Storage::flush`), then writes the snapshot. Every
//! piece in the snapshot was written into the map before it was verified, so a flush
//! after the snapshot covers it. Pieces verified after the snapshot wait for the next
//! record. A kill at any moment loses at most the pieces verified in the last interval
//! (plus the time one record takes), never marks a piece whose bytes are not in the map.
//!
//! Flushing is what costs: writing the data back is most of the CPU time a download
//! spends outside its own work, and while it runs the saver's page faults wait on the
//! file system. So most records do not flush. They list the pieces verified since the
//! last flush as `unsynced`, with the kernel's boot id (see [`super::boot`]): a process
//! that dies leaves its bytes in the page cache, which the kernel writes back on its own
//! (within `vm.dirty_expire_centisecs`, 30 s by default), so in the same boot they are
//! safe; after a power cut or a kernel crash (a new boot) they are hashed again. A record
//! flushes only every [`FLUSH_INTERVAL`] (by then the kernel has written most of the data
//! itself, so the flush is short), when the record is the only one (an already complete
//! torrent), or always where there is no boot id.
//!
//! The stamps come first because of files truncated while we run: the block saver forgets
//! a truncated file's lost pieces before it restores the file, so a snapshot that still
//! lists them was taken before the restore, and so were the stamps, which then show the
//! file short or as it was before the cut; either way they no longer match the file at
//! the next start, and its pieces are hashed again.

use super::{FileStamp, Resume, ResumeError, boot, save, stamps};
use crate::bitfield::Bitfield;
use crate::metainfo::FileEntry;
use crate::piece_manager::PieceManager;
use crate::storage::Storage;
use crossbeam_channel::{Receiver, Sender, bounded, select};
use parking_lot::Mutex;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// At most one record per interval (and none when nothing new was verified).
pub const INTERVAL: Duration = Duration::from_secs(2);

/// At most this long between flushes while some recorded piece is not yet flushed.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(30);

/// Whether a record flushes the map first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    /// Flush, then record every verified piece as on disk.
    Now,
    /// Record without flushing: pieces verified since the last flush are `unsynced`
    /// (flushes anyway where there is no boot id to qualify them with).
    Later,
}

/// What a record needs: where, for which torrent, and the shared state to read.
pub struct Recorder {
    pub path: PathBuf,
    pub dir: PathBuf,
    pub info_hash: [u8; 20],
    pub files: Arc<Vec<FileEntry>>,
    pub storage: Arc<Storage>,
    pub pieces: Arc<PieceManager>,
    /// This boot's id (`None`: unknown, so every record flushes).
    pub boot_id: Option<String>,
    /// What the last flush covered.
    pub flushed: Mutex<Flushed>,
}

/// The pieces known to be on disk: the snapshot of the last flush.
#[derive(Debug)]
pub struct Flushed {
    /// Verified pieces at the last flush (`None` before the first one).
    pieces: Option<Bitfield>,
    /// `PieceManager::forgotten_count` then: if a piece was forgotten since, it may have
    /// been written and verified again, so the snapshot no longer vouches for any piece.
    forgotten: usize,
    /// When the last flush was (or the recorder was made).
    at: Instant,
}

impl Recorder {
    /// A recorder for this boot; nothing is known to be flushed yet (data hashed at start
    /// may still be only in the page cache).
    pub fn new(
        path: PathBuf,
        dir: PathBuf,
        info_hash: [u8; 20],
        files: Arc<Vec<FileEntry>>,
        storage: Arc<Storage>,
        pieces: Arc<PieceManager>,
    ) -> Recorder {
        Recorder {
            path,
            dir,
            info_hash,
            files,
            storage,
            pieces,
            boot_id: boot::id(),
            flushed: Mutex::new(Flushed {
                pieces: None,
                forgotten: 0,
                at: Instant::now(),
            }),
        }
    }

    /// Stamps, snapshot, flush if asked, write (in that order; see the module doc).
    /// Returns how many pieces were recorded.
    pub fn record(&self, flush: Flush) -> Result<u32, ResumeError> {
        let started = Instant::now();
        let flush = self.boot_id.is_none() || flush == Flush::Now;
        let files: Vec<Option<FileStamp>> = stamps(&self.dir, &self.files);
        let forgotten = self.pieces.forgotten_count();
        let (verified, unchecked) = self.pieces.verified_and_hashing();
        let mut flushed = self.flushed.lock();
        if flush {
            self.storage.flush().map_err(ResumeError::Flush)?;
            *flushed = Flushed {
                pieces: Some(verified.clone()),
                forgotten,
                at: Instant::now(),
            };
        }
        let unsynced = unsynced(&verified, &flushed, forgotten);
        drop(flushed);
        let flush_time = started.elapsed();
        let count = verified.count();
        let unsynced_count = unsynced.count();
        save(
            &self.path,
            &Resume {
                info_hash: self.info_hash,
                verified,
                unchecked,
                unsynced,
                boot_id: self.boot_id.clone(),
                files,
            },
        )?;
        log::debug!(
            "resume file: {count} pieces recorded in {:.1} ms ({})",
            started.elapsed().as_secs_f64() * 1e3,
            if flush {
                format!("flush {:.1} ms", flush_time.as_secs_f64() * 1e3)
            } else {
                format!("{unsynced_count} not yet flushed")
            }
        );
        Ok(count)
    }

    /// True when some verified piece has waited [`FLUSH_INTERVAL`] or more for a flush.
    fn flush_due(&self) -> bool {
        let flushed = self.flushed.lock();
        let waited_long = flushed.at.elapsed() >= FLUSH_INTERVAL;
        let forgotten = self.pieces.forgotten_count();
        waited_long && {
            let (verified, _) = self.pieces.verified_and_hashing();
            unsynced(&verified, &flushed, forgotten).count() > 0
        }
    }

    /// Starts the recorder thread. It records at once, then whenever pieces were verified
    /// (at most every [`INTERVAL`]), flushing every [`FLUSH_INTERVAL`], and a last time
    /// (without a flush) when stopped.
    pub fn spawn(self) -> std::io::Result<(JoinHandle<()>, Sender<()>)> {
        let (stop, inbox) = bounded(1);
        let handle = std::thread::Builder::new()
            .name("resume-recorder".into())
            .spawn(move || self.run(inbox))?;
        Ok((handle, stop))
    }

    fn run(self, stop: Receiver<()>) {
        let mut recorded = None;
        loop {
            let count = self.pieces.progress().verified_pieces;
            let flush = if self.flush_due() {
                Some(Flush::Now)
            } else {
                (recorded != Some(count)).then_some(Flush::Later)
            };
            if let Some(flush) = flush {
                match self.record(flush) {
                    Ok(n) => recorded = Some(n),
                    Err(error) => log::warn!("resume file not updated: {error}"),
                }
            }
            select! {
                recv(stop) -> _ => break,
                default(INTERVAL) => {},
            }
        }
        if let Err(error) = self.record(Flush::Later) {
            log::warn!("resume file not updated: {error}");
        }
    }
}

/// The verified pieces the last flush does not cover.
fn unsynced(verified: &Bitfield, flushed: &Flushed, forgotten: usize) -> Bitfield {
    let mut unsynced = verified.clone();
    if let Some(on_disk) = &flushed.pieces
        && flushed.forgotten == forgotten
    {
        for piece in on_disk.pieces() {
            unsynced.clear(piece);
        }
    }
    unsynced
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(len: u32, pieces: &[u32]) -> Bitfield {
        let mut bits = Bitfield::new(len);
        pieces.iter().for_each(|&p| {
            bits.set(p);
        });
        bits
    }

    fn flushed(pieces: Option<Bitfield>, forgotten: usize) -> Flushed {
        Flushed {
            pieces,
            forgotten,
            at: Instant::now(),
        }
    }

    fn list(bits: &Bitfield) -> Vec<u32> {
        bits.pieces().collect()
    }

    #[test]
    fn before_any_flush_every_verified_piece_is_unsynced() {
        let verified = bits(8, &[1, 2, 5]);
        assert_eq!(list(&unsynced(&verified, &flushed(None, 0), 0)), [1, 2, 5]);
    }

    #[test]
    fn pieces_verified_since_the_flush_are_unsynced() {
        let verified = bits(8, &[1, 2, 5, 6]);
        let last = flushed(Some(bits(8, &[1, 2])), 0);
        assert_eq!(list(&unsynced(&verified, &last, 0)), [5, 6]);
    }

    /// A piece forgotten (its file truncated) and verified again since the flush has new
    /// bytes the flush never saw: once anything was forgotten, the snapshot vouches for
    /// nothing until the next flush.
    #[test]
    fn a_forgotten_piece_voids_the_flush_snapshot() {
        let verified = bits(8, &[1, 2, 5]);
        let last = flushed(Some(bits(8, &[1, 2, 5])), 0);
        assert_eq!(list(&unsynced(&verified, &last, 1)), [1, 2, 5]);
    }
}

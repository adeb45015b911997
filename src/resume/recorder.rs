//! The resume recorder thread: keeps the resume file up to date while downloading.
//!
//! * Runs on: its own thread, `resume-recorder`.
//! * Owns: the resume file's path; reads the piece manager's verified bitfield and flushes
//!   the storage map.
//! * Reads: a stop channel from the main thread (a message or a dropped sender both mean
//!   stop); otherwise wakes every [`INTERVAL`].
//! * Writes: the resume file, nothing else.
//!
//! Architecture invariant: a piece is recorded only after its bytes are flushed. One
//! [`Recorder::record`] reads the files' stamps (length, mtime), then takes a snapshot of
//! the verified pieces, then flushes the map (`Storage::flush`), then writes the snapshot.
//! Every piece in the snapshot was written into the map before it was verified, so the
//! flush covers it. Pieces verified after the snapshot wait for the next record. A kill at
//! any moment loses at most the pieces verified in the last interval (plus the time one
//! record takes), never marks an unflushed piece.
//!
//! The stamps come first because of files truncated while we run: the block saver forgets
//! a truncated file's lost pieces before it restores the file, so a snapshot that still
//! lists them was taken before the restore, and so were the stamps, which then show the
//! file short or as it was before the cut; either way they no longer match the file at
//! the next start, and its pieces are hashed again.

use super::{FileStamp, Resume, ResumeError, save, stamps};
use crate::metainfo::FileEntry;
use crate::piece_manager::PieceManager;
use crate::storage::Storage;
use crossbeam_channel::{Receiver, Sender, bounded, select};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// At most one record per interval (and none when nothing new was verified).
pub const INTERVAL: Duration = Duration::from_secs(2);

/// What a record needs: where, for which torrent, and the shared state to read.
pub struct Recorder {
    pub path: PathBuf,
    pub dir: PathBuf,
    pub info_hash: [u8; 20],
    pub files: Arc<Vec<FileEntry>>,
    pub storage: Arc<Storage>,
    pub pieces: Arc<PieceManager>,
}

impl Recorder {
    /// Stamps, snapshot, flush, write (in that order; see the module doc). Returns how many
    /// pieces were recorded.
    pub fn record(&self) -> Result<u32, ResumeError> {
        let started = Instant::now();
        let files: Vec<Option<FileStamp>> = stamps(&self.dir, &self.files);
        let (verified, unchecked) = self.pieces.verified_and_hashing();
        self.storage.flush().map_err(ResumeError::Flush)?;
        let flushed = started.elapsed();
        let count = verified.count();
        save(
            &self.path,
            &Resume {
                info_hash: self.info_hash,
                verified,
                unchecked,
                files,
            },
        )?;
        log::debug!(
            "resume file: {count} pieces recorded in {:.1} ms (flush {:.1} ms)",
            started.elapsed().as_secs_f64() * 1e3,
            flushed.as_secs_f64() * 1e3
        );
        Ok(count)
    }

    /// Starts the recorder thread. It records at once, then whenever pieces were verified
    /// (at most every [`INTERVAL`]), and a last time when stopped.
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
            if recorded != Some(count) {
                match self.record() {
                    Ok(n) => recorded = Some(n),
                    Err(error) => log::warn!("resume file not updated: {error}"),
                }
            }
            select! {
                recv(stop) -> _ => break,
                default(INTERVAL) => {},
            }
        }
        if let Err(error) = self.record() {
            log::warn!("resume file not updated: {error}");
        }
    }
}

//! Hashing the pieces of a new torrent on every core.
//!
//! The piece range is cut into one contiguous share per core, each run on a thread of
//! [`crate::hash_pool`] while the calling thread reports progress. Each thread reads its
//! pieces with plain sequential reads through a [`StreamReader`], which follows the byte
//! stream across file boundaries, so a piece may take its bytes from several files (and
//! skips empty ones), and each file of a share is read once, in order.

use super::{CreateError, SourceFile};
use crate::hash_pool;
use sha1::{Digest, Sha1};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The SHA-1 of every piece of the byte stream made of `files` (in order, `total` bytes).
/// `on_progress(bytes_hashed)` is called from the calling thread now and then, and once
/// at the end.
pub fn hash_pieces(
    files: &[SourceFile],
    piece_length: u32,
    total: u64,
    mut on_progress: impl FnMut(u64),
) -> Result<Vec<[u8; 20]>, CreateError> {
    let piece_count = total.div_ceil(u64::from(piece_length));
    let ranges = shares(piece_count, hash_pool::threads() as u64);
    let hashed = AtomicU64::new(0);
    let failed = AtomicBool::new(false);
    let results = hash_pool::run(
        "create",
        ranges.len(),
        |share| {
            let mut reader = StreamReader::new(files);
            let range = ranges[share].clone();
            let result = reader.hash_range(range, piece_length, total, &hashed, &failed);
            if result.is_err() {
                failed.store(true, Ordering::Relaxed);
            }
            result
        },
        || on_progress(hashed.load(Ordering::Relaxed)),
    );
    let mut pieces = Vec::with_capacity(piece_count as usize);
    for (result, range) in results.into_iter().zip(ranges) {
        // A thread that panicked (a bug, logged at its join) leaves pieces without a
        // hash: no torrent can be made of that, but the program carries on to say so.
        pieces.extend(result.ok_or(CreateError::Hashing { pieces: range })??);
    }
    on_progress(hashed.load(Ordering::Relaxed));
    Ok(pieces)
}

/// `piece_count` pieces cut into at most `workers` contiguous, non-empty ranges of nearly
/// equal size (at least one range, even for no pieces).
fn shares(piece_count: u64, workers: u64) -> Vec<std::ops::Range<u64>> {
    let workers = workers.clamp(1, piece_count.max(1));
    let (size, extra) = (piece_count / workers, piece_count % workers);
    let mut start = 0;
    (0..workers)
        .map(|worker| {
            let end = start + size + u64::from(worker < extra);
            let range = start..end;
            start = end;
            range
        })
        .collect()
}

/// Reads the byte stream of `files` from any offset, keeping the current file open so that
/// consecutive reads are plain sequential reads.
struct StreamReader<'a> {
    files: &'a [SourceFile],
    /// Where each file starts in the stream.
    starts: Vec<u64>,
    /// The open file: its index and our position in it.
    open: Option<(usize, File, u64)>,
}

impl<'a> StreamReader<'a> {
    fn new(files: &'a [SourceFile]) -> StreamReader<'a> {
        let starts = files
            .iter()
            .scan(0u64, |offset, file| {
                let start = *offset;
                *offset = offset.saturating_add(file.length);
                Some(start)
            })
            .collect();
        StreamReader {
            files,
            starts,
            open: None,
        }
    }

    /// Hashes pieces `range`, adding the bytes done to `hashed`; stops early when another
    /// thread has `failed`.
    fn hash_range(
        &mut self,
        range: std::ops::Range<u64>,
        piece_length: u32,
        total: u64,
        hashed: &AtomicU64,
        failed: &AtomicBool,
    ) -> Result<Vec<[u8; 20]>, CreateError> {
        let mut buffer = vec![0; piece_length as usize];
        let mut hashes = Vec::with_capacity((range.end - range.start) as usize);
        for piece in range {
            if failed.load(Ordering::Relaxed) {
                break;
            }
            let start = piece * u64::from(piece_length);
            let size = (total - start).min(u64::from(piece_length)) as usize;
            self.read_at(start, &mut buffer[..size])?;
            hashes.push(Sha1::digest(&buffer[..size]).into());
            hashed.fetch_add(size as u64, Ordering::Relaxed);
        }
        Ok(hashes)
    }

    /// Fills `buffer` with the stream's bytes from `offset`, across file boundaries.
    fn read_at(&mut self, mut offset: u64, mut buffer: &mut [u8]) -> Result<(), CreateError> {
        let files = self.files;
        while !buffer.is_empty() {
            // The last file starting at or before `offset`: an empty file starts where the
            // next one does, so this is never an empty file while `offset < total`.
            let index = self.starts.partition_point(|&start| start <= offset);
            let index = index.saturating_sub(1);
            let source = &files[index];
            let within = offset - self.starts[index];
            if within >= source.length {
                return Err(changed(source));
            }
            let take = (source.length - within).min(buffer.len() as u64) as usize;
            let (now, rest) = buffer.split_at_mut(take);
            let file = self.file_at(index, within)?;
            file.read_exact(now).map_err(|error| match error.kind() {
                std::io::ErrorKind::UnexpectedEof => changed(source),
                _ => unreadable(source, error),
            })?;
            if let Some((_, _, position)) = &mut self.open {
                *position += take as u64;
            }
            buffer = rest;
            offset += take as u64;
        }
        Ok(())
    }

    /// File `index`, open and positioned at `within`.
    fn file_at(&mut self, index: usize, within: u64) -> Result<&mut File, CreateError> {
        let source = &self.files[index];
        let open = match self.open.take() {
            Some((open, file, position)) if open == index => (open, file, position),
            _ => {
                let file = File::open(&source.disk_path).map_err(|e| unreadable(source, e))?;
                let length = file.metadata().map_err(|e| unreadable(source, e))?.len();
                if length != source.length {
                    return Err(changed(source));
                }
                (index, file, 0)
            }
        };
        let (_, file, position) = self.open.insert(open);
        if *position != within {
            file.seek(SeekFrom::Start(within))
                .map_err(|e| unreadable(source, e))?;
            *position = within;
        }
        Ok(file)
    }
}

fn changed(source: &SourceFile) -> CreateError {
    CreateError::Changed {
        path: source.disk_path.clone(),
    }
}

fn unreadable(source: &SourceFile, error: std::io::Error) -> CreateError {
    CreateError::Unreadable {
        path: source.disk_path.clone(),
        source: error,
    }
}

#[cfg(test)]
mod tests {
    use super::shares;

    #[test]
    fn shares_cover_every_piece_once() {
        assert_eq!(shares(5, 4), [0..2, 2..3, 3..4, 4..5]);
        assert_eq!(shares(3, 8), [0..1, 1..2, 2..3]);
        assert_eq!(shares(1000, 2), [0..500, 500..1000]);
        assert_eq!(shares(0, 2), vec![std::ops::Range { start: 0, end: 0 }]);
        for (count, workers) in [(7, 3), (1, 1), (64, 64), (65, 64), (2_000_000, 6)] {
            let ranges = shares(count, workers);
            assert_eq!(ranges.first().unwrap().start, 0);
            assert_eq!(ranges.last().unwrap().end, count);
            assert!(ranges.windows(2).all(|pair| pair[0].end == pair[1].start));
            assert!(ranges.iter().all(|range| !range.is_empty()));
        }
    }
}

//! Part files: where the bytes of unselected files go when a download chooses its files
//! (`--select`).
//!
//! Pieces are hashed whole, so a piece at the edge of a selected file that also holds the
//! first or last bytes of an unselected neighbour must be fetched whole. Those neighbour
//! bytes are kept under the state folder, never in the unselected file, which is not
//! created: an unselected file's *head* (its bytes in the piece where it starts) and *tail*
//! (its bytes in the piece where it ends) each go to a small file of their own,
//! `DIR/.smalltorrent/<info-hash>.parts/<number>.head` and `.tail`, when that piece is
//! wanted; the rest of it lives nowhere (no wanted piece holds it). libtorrent keeps the
//! same bytes in one part file with a slot table; one file per edge lets storage map them
//! like any other file, so nothing below `Storage::visit` knows about selections.
//!
//! A head and a tail depend only on the file and the piece length, never on the selection,
//! so a later run with a wider selection finds them: [`migrate`] copies them into the file
//! when it becomes selected and creates it, and deletes them. An unselected file that is on
//! disk already (a previous run selected it) is used as it is, not replaced by part files.

use super::StorageError;
use super::prepare;
use crate::geometry::Geometry;
use crate::metainfo::{FileEntry, FileKind};
use crate::selection::Selection;
use std::fs;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// One stretch of the byte stream and where it is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stretch {
    /// Where the stretch starts in the byte stream.
    pub offset: u64,
    pub length: u64,
    pub place: Place,
}

/// Where a stretch of the stream is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// In this file (relative to the download folder), from its first byte.
    Disk(PathBuf),
    /// An empty file: created, nothing mapped.
    Empty(PathBuf),
    /// Nowhere: reads are zeros, writes are dropped (pad files, symlinks, the parts of
    /// unselected files that no wanted piece holds).
    Nowhere,
}

/// The stretches of a download of every file: each regular file is a stretch on disk.
pub fn every_file(files: &[FileEntry]) -> Vec<Stretch> {
    files.iter().map(whole).collect()
}

/// The stretches of a download of the `selection`, whose part files are in `part_dir`
/// (relative to the download folder `dir`). `wanted` says which pieces are fetched.
pub fn selected(
    dir: &Path,
    files: &[FileEntry],
    selection: &Selection,
    wanted: &crate::bitfield::Bitfield,
    geometry: &Geometry,
    part_dir: &Path,
) -> Vec<Stretch> {
    let mut stretches = Vec::with_capacity(files.len());
    for (index, file) in files.iter().enumerate() {
        let on_disk = || prepare::existing_file(dir, &file.path, file.length).is_some();
        if file.kind != FileKind::Regular || file.length == 0 {
            let mut stretch = whole(file);
            if !selection.has(index) {
                stretch.place = Place::Nowhere;
            }
            stretches.push(stretch);
            continue;
        }
        if selection.has(index) || on_disk() {
            stretches.push(whole(file));
            continue;
        }
        let edges = Edges::of(file, geometry);
        let kept = |range: &Range<u64>, name: String| Stretch {
            offset: range.start,
            length: range.end - range.start,
            place: if wanted.has(geometry.pieces_touching(range.start, 1).start) {
                Place::Disk(part_dir.join(name))
            } else {
                Place::Nowhere
            },
        };
        let number = index + 1;
        stretches.push(kept(&edges.head, format!("{number}.head")));
        if !edges.middle.is_empty() {
            stretches.push(Stretch {
                offset: edges.middle.start,
                length: edges.middle.end - edges.middle.start,
                place: Place::Nowhere,
            });
        }
        if let Some(tail) = &edges.tail {
            stretches.push(kept(tail, format!("{number}.tail")));
        }
    }
    stretches
}

/// Copies the head and tail kept for each selected file that is not on disk yet into the
/// file, created now at its full length, and deletes them. Part files of a selected file
/// that is on disk already are stale and deleted. Returns how many part files were used.
pub fn migrate(
    dir: &Path,
    files: &[FileEntry],
    selection: &Selection,
    geometry: &Geometry,
    part_dir: &Path,
) -> Result<usize, StorageError> {
    if fs::symlink_metadata(dir.join(part_dir)).is_err() {
        return Ok(0);
    }
    let mut used = 0;
    for (index, file) in files.iter().enumerate() {
        if !selection.has(index) || file.kind != FileKind::Regular || file.length == 0 {
            continue;
        }
        let edges = Edges::of(file, geometry);
        let number = index + 1;
        let parts = [Some(edges.head), edges.tail]
            .into_iter()
            .flatten()
            .zip(["head", "tail"])
            .map(|(range, edge)| (range, dir.join(part_dir).join(format!("{number}.{edge}"))))
            .filter(|(_, path)| fs::symlink_metadata(path).is_ok_and(|m| m.is_file()))
            .collect::<Vec<_>>();
        if parts.is_empty() {
            continue;
        }
        let path = dir.join(&file.path);
        if fs::symlink_metadata(&path).is_err() {
            prepare::make_parents(dir, &file.path)?;
            let target = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(file_error(&path, "create"))?;
            target
                .set_len(file.length)
                .map_err(file_error(&path, "resize"))?;
            for (range, part) in &parts {
                let bytes = fs::read(part).map_err(file_error(part, "read"))?;
                if bytes.len() as u64 != range.end - range.start {
                    log::warn!(
                        "{}: not the size it should be; not using it",
                        part.display()
                    );
                    continue;
                }
                target
                    .write_all_at(&bytes, range.start - file.offset)
                    .map_err(file_error(&path, "write"))?;
                used += 1;
            }
            target.sync_data().map_err(file_error(&path, "flush"))?;
        }
        for (_, part) in &parts {
            fs::remove_file(part).map_err(file_error(part, "remove"))?;
        }
    }
    Ok(used)
}

/// The bytes of one file in the piece where it starts (`head`), in the piece where it ends
/// (`tail`, when that is another piece), and in between (`middle`, perhaps empty).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Edges {
    head: Range<u64>,
    middle: Range<u64>,
    tail: Option<Range<u64>>,
}

impl Edges {
    /// The edges of `file` (not empty), as ranges of the byte stream.
    fn of(file: &FileEntry, geometry: &Geometry) -> Edges {
        let piece = u64::from(geometry.piece_length);
        let (start, end) = (file.offset, file.offset + file.length);
        let head = start..end.min((start / piece + 1) * piece);
        if head.end == end {
            return Edges {
                middle: end..end,
                head,
                tail: None,
            };
        }
        let tail = head.end.max((end - 1) / piece * piece)..end;
        Edges {
            middle: head.end..tail.start,
            head,
            tail: Some(tail),
        }
    }
}

fn whole(file: &FileEntry) -> Stretch {
    let place = match file.kind {
        FileKind::Regular if file.length > 0 => Place::Disk(file.path.clone()),
        FileKind::Regular => Place::Empty(file.path.clone()),
        FileKind::Pad | FileKind::Symlink { .. } => Place::Nowhere,
    };
    Stretch {
        offset: file.offset,
        length: file.length,
        place,
    }
}

fn file_error<'a>(path: &'a Path, action: &'static str) -> impl Fn(io::Error) -> StorageError + 'a {
    move |source| StorageError::File {
        path: path.to_path_buf(),
        action,
        source,
    }
}

#[cfg(test)]
mod tests;

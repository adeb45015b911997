//! Opening a torrent's files for reading only, for `smalltorrent verify`: nothing is
//! created or changed, and what is missing reads as zeros (so its pieces fail their hash).

use super::parts::{self, Place, Stretch};
use super::{Slot, Storage, WindowLimits, prepare};
use crate::metainfo::{FileEntry, FileKind};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

impl Storage {
    /// Maps the torrent's files under `dir` for reading only, creating and changing
    /// nothing (for `smalltorrent verify`). A file that is missing, not a regular file,
    /// reached through a symlink, or not exactly its torrent length is left unmapped (it
    /// reads as zeros, so its pieces fail their hash) and is `false` in the returned list.
    pub fn open_existing(dir: &Path, files: &[FileEntry]) -> (Storage, Vec<bool>) {
        let present = files
            .iter()
            .map(|entry| match entry.kind {
                FileKind::Regular if entry.length > 0 => {
                    prepare::existing_file(dir, &entry.path, entry.length).is_some()
                }
                _ => true,
            })
            .collect();
        let storage = Storage::open_existing_stretches(dir, &parts::every_file(files));
        (storage, present)
    }

    /// [`Storage::open_existing`] for the `stretches` of a selection (see `parts`): the
    /// selected files and the part files, read only; what is missing reads as zeros.
    pub fn open_existing_stretches(dir: &Path, stretches: &[Stretch]) -> Storage {
        let slots = stretches
            .iter()
            .map(|stretch| {
                let (path, file) = match &stretch.place {
                    Place::Disk(relative) => (
                        dir.join(relative),
                        prepare::existing_file(dir, relative, stretch.length),
                    ),
                    Place::Empty(relative) => (dir.join(relative), None),
                    Place::Nowhere => (PathBuf::new(), None),
                };
                Slot {
                    offset: stretch.offset,
                    length: stretch.length,
                    path,
                    file,
                    dirty: AtomicBool::new(false),
                }
            })
            .collect();
        Storage::new(slots, true, false, WindowLimits::default())
    }
}

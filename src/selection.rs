//! Choosing files (`--select 2,4-6`): which files of a torrent to download, and what that
//! means for its pieces.
//!
//! Files are numbered from 1 in torrent order, every entry counted (pad files too), as
//! `smalltorrent info` prints them and as aria2's `--select-file` counts them. A
//! [`FileList`] is what the command line holds (the numbers, checked for syntax only, since
//! the torrent may not be known yet: a magnet link's file list arrives with its metadata);
//! [`FileList::resolve`] turns it into a [`Selection`] once the files are known, and refuses
//! a number past the last file.
//!
//! A piece is *wanted* when it holds a byte of a selected regular file. Pieces are verified
//! whole, so a wanted piece at the edge of a selected file also holds bytes of its
//! unselected neighbour: storage keeps those in a part file (`storage::parts`), and the
//! unselected file itself is never created.

use crate::bitfield::Bitfield;
use crate::geometry::Geometry;
use crate::metainfo::{FileEntry, FileKind};
use std::fmt;
use std::ops::RangeInclusive;

/// The file numbers the user asked for, as written (1-based, inclusive ranges).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileList {
    ranges: Vec<RangeInclusive<usize>>,
}

/// Why a `--select` list was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectionError {
    /// Not a list of numbers and ranges (`2,4-6`).
    Syntax { list: String, why: String },
    /// A number past the torrent's last file.
    OutOfRange { number: usize, files: usize },
}

impl fmt::Display for SelectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SelectionError::Syntax { list, why } => write!(
                f,
                "--select {list}: {why} (expected file numbers and ranges, like 2,4-6)"
            ),
            SelectionError::OutOfRange { number, files } => write!(
                f,
                "--select: the torrent has {files} file(s), there is no file {number} \
                 (`smalltorrent info` lists them with their numbers)"
            ),
        }
    }
}

impl std::error::Error for SelectionError {}

impl FileList {
    /// Parses `2,4-6`: numbers from 1 and ranges `A-B` with `A <= B`, separated by commas.
    pub fn parse(list: &str) -> Result<FileList, SelectionError> {
        let syntax = |why: String| SelectionError::Syntax {
            list: list.to_string(),
            why,
        };
        let number = |text: &str| -> Result<usize, SelectionError> {
            match text.trim().parse::<usize>() {
                Ok(0) => Err(syntax("files are numbered from 1".into())),
                Ok(n) => Ok(n),
                Err(_) => Err(syntax(format!("'{}' is not a file number", text.trim()))),
            }
        };
        let mut ranges = Vec::new();
        for item in list.split(',') {
            let range = match item.split_once('-') {
                Some((first, last)) => number(first)?..=number(last)?,
                None => number(item).map(|n| n..=n)?,
            };
            if range.is_empty() {
                return Err(syntax(format!("the range '{}' is backwards", item.trim())));
            }
            ranges.push(range);
        }
        Ok(FileList { ranges })
    }

    /// The selection these numbers make in a torrent of `files` files.
    pub fn resolve(&self, files: usize) -> Result<Selection, SelectionError> {
        let mut selected = vec![false; files];
        for range in &self.ranges {
            if *range.end() > files {
                return Err(SelectionError::OutOfRange {
                    number: *range.end(),
                    files,
                });
            }
            for number in range.clone() {
                selected[number - 1] = true;
            }
        }
        Ok(Selection { selected })
    }
}

/// Which files of a torrent are downloaded (by index from 0 in torrent order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    selected: Vec<bool>,
}

impl Selection {
    /// Every file: what a download without `--select` gets.
    pub fn all(files: usize) -> Selection {
        Selection {
            selected: vec![true; files],
        }
    }

    /// True when every file is selected.
    pub fn is_all(&self) -> bool {
        self.selected.iter().all(|&s| s)
    }

    /// True when file `index` (from 0) is selected.
    pub fn has(&self, index: usize) -> bool {
        self.selected.get(index).copied().unwrap_or(false)
    }

    /// How many files are selected.
    pub fn count(&self) -> usize {
        self.selected.iter().filter(|&&s| s).count()
    }

    /// The pieces that hold a byte of a selected regular file: what the download fetches.
    pub fn wanted_pieces(&self, files: &[FileEntry], geometry: &Geometry) -> Bitfield {
        let mut wanted = Bitfield::new(geometry.piece_count);
        for (index, file) in files.iter().enumerate() {
            if self.has(index) && file.kind == FileKind::Regular {
                for piece in geometry.pieces_touching(file.offset, file.length) {
                    wanted.set(piece);
                }
            }
        }
        wanted
    }
}

/// The number of bytes in the pieces `wanted` (what a selective download fetches).
pub fn wanted_bytes(wanted: &Bitfield, geometry: &Geometry) -> u64 {
    wanted
        .pieces()
        .map(|piece| u64::from(geometry.piece_size(piece)))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn file(offset: u64, length: u64) -> FileEntry {
        FileEntry {
            path: PathBuf::from(format!("f{offset}")),
            length,
            offset,
            kind: FileKind::Regular,
        }
    }

    #[test]
    fn numbers_and_ranges_select_files_from_one() {
        let selection = FileList::parse("2,4-6").unwrap().resolve(7).unwrap();
        let picked: Vec<usize> = (0..7).filter(|&i| selection.has(i)).collect();
        assert_eq!(picked, [1, 3, 4, 5]);
        assert_eq!(selection.count(), 4);
        assert!(!selection.is_all());
        assert!(FileList::parse("1-3").unwrap().resolve(3).unwrap().is_all());
        assert!(
            FileList::parse(" 1 , 3 ")
                .unwrap()
                .resolve(3)
                .unwrap()
                .has(2)
        );
    }

    #[test]
    fn a_bad_list_is_refused_with_what_is_wrong() {
        for (list, why) in [
            ("0", "numbered from 1"),
            ("", "'' is not a file number"),
            ("2,,3", "'' is not a file number"),
            ("a", "'a' is not a file number"),
            ("5-2", "backwards"),
            ("1-", "'' is not a file number"),
            ("-3", "'' is not a file number"),
            ("1-2-3", "'2-3' is not a file number"),
        ] {
            let error = FileList::parse(list).unwrap_err().to_string();
            assert!(error.contains(why), "{list}: {error}");
            assert!(error.starts_with("--select "), "{error}");
        }
    }

    #[test]
    fn a_number_past_the_last_file_is_refused() {
        let error = FileList::parse("2,9").unwrap().resolve(5).unwrap_err();
        assert_eq!(
            error,
            SelectionError::OutOfRange {
                number: 9,
                files: 5
            }
        );
        assert!(
            error
                .to_string()
                .contains("has 5 file(s), there is no file 9")
        );
    }

    #[test]
    fn wanted_pieces_are_those_touching_a_selected_file() {
        // Pieces of 10 bytes; files [0,15) [15,35) [35,40) [40,60).
        let geometry = Geometry::new(60, 10);
        let files = [file(0, 15), file(15, 20), file(35, 5), file(40, 20)];
        let wanted = |list: &str| {
            let selection = FileList::parse(list).unwrap().resolve(4).unwrap();
            selection
                .wanted_pieces(&files, &geometry)
                .pieces()
                .collect::<Vec<_>>()
        };
        assert_eq!(wanted("1"), [0, 1]);
        assert_eq!(wanted("2"), [1, 2, 3]);
        assert_eq!(wanted("3"), [3]);
        assert_eq!(wanted("4"), [4, 5]);
        assert_eq!(wanted("1,4"), [0, 1, 4, 5]);
        let all = Selection::all(4).wanted_pieces(&files, &geometry);
        assert!(all.is_full());
        assert_eq!(wanted_bytes(&all, &geometry), 60);
    }
}

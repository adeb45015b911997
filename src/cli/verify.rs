//! `smalltorrent verify FILE.torrent [-d DIR]`: hash the data on disk and say, per file,
//! whether it is complete. Creates and changes nothing (not even the resume file).
//!
//! Exit codes: 0 every piece is valid, 1 something is missing or damaged.

use crate::metainfo::{FileKind, Metainfo};
use crate::storage::Storage;
use crate::verify;
use lexopt::prelude::*;
use std::ffi::OsString;
use std::path::PathBuf;

pub const USAGE: &str = "\
Usage: smalltorrent verify FILE.torrent [-d DIR]

Hashes the torrent's data in DIR (the current folder by default) and prints one line per
file: 'complete', 'N of M pieces' or 'missing' (absent, or not its torrent size), then the
count of valid pieces. Nothing is created or changed. Exit 0 if every piece is valid, 1
otherwise.

Options:
  -d, --dir DIR   the download folder (as given to the download)
  -h, --help      this help
";

/// Parses `verify`'s arguments; `Ok(None)` means help was printed.
fn parse(args: Vec<OsString>) -> Result<Option<(PathBuf, PathBuf)>, String> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut torrent = None;
    let mut dir = PathBuf::from(".");
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Short('h') | Long("help") => {
                print!("{USAGE}");
                return Ok(None);
            }
            Short('d') | Long("dir") => {
                dir = PathBuf::from(parser.value().map_err(|e| e.to_string())?)
            }
            Value(value) if torrent.is_none() => torrent = Some(PathBuf::from(value)),
            _ => return Err(arg.unexpected().to_string()),
        }
    }
    let torrent = torrent.ok_or("verify: missing the .torrent file to check")?;
    Ok(Some((torrent, dir)))
}

pub fn run(args: Vec<OsString>) -> Result<i32, String> {
    let Some((torrent, dir)) = parse(args)? else {
        return Ok(0);
    };
    let meta = match Metainfo::from_file(&torrent) {
        Ok(meta) => meta,
        Err(error) => {
            eprintln!("smalltorrent: {error}");
            return Ok(1);
        }
    };
    let geometry = meta.geometry();
    let (storage, present) = Storage::open_existing(&dir, &meta.files);
    let valid = match verify::check_pieces(&storage, &geometry, &meta.pieces, |_, _| {}) {
        Ok(valid) => valid,
        Err(error) => {
            eprintln!("smalltorrent: {error}");
            return Ok(1);
        }
    };
    for (entry, present) in meta.files.iter().zip(present) {
        if entry.kind != FileKind::Regular {
            continue;
        }
        let pieces = geometry.pieces_touching(entry.offset, entry.length);
        let total = pieces.len();
        let good = pieces.filter(|&p| valid.has(p)).count();
        let state = if !present {
            "missing".to_string()
        } else if good == total {
            "complete".to_string()
        } else {
            format!("{good} of {total} pieces")
        };
        println!("{}: {state}", entry.path.display());
    }
    println!(
        "pieces: {} of {} valid ({:.1}%)",
        valid.count(),
        geometry.piece_count,
        valid.count() as f64 * 100.0 / geometry.piece_count.max(1) as f64
    );
    Ok(if valid.is_full() { 0 } else { 1 })
}

//! `smalltorrent verify FILE.torrent [-d DIR] [--select LIST]`: hash the data on disk and
//! say, per file, whether it is complete. Creates and changes nothing (not even the resume
//! file).
//!
//! Exit codes: 0 every piece is valid, 1 something is missing or damaged.

use super::text;
use crate::metainfo::{FileKind, Metainfo};
use crate::resume;
use crate::selection::{FileList, Selection};
use crate::storage::{Storage, parts};
use crate::verify;
use lexopt::prelude::*;
use std::ffi::OsString;
use std::path::PathBuf;

pub const USAGE: &str = "\
Usage: smalltorrent verify FILE.torrent [-d DIR] [--select LIST]

Hashes the torrent's data in DIR (the current folder by default) and prints one line per
file: 'complete', 'N of M pieces' or 'missing' (absent, or not its torrent size), then the
count of valid pieces. Nothing is created or changed. Exit 0 if every piece is valid, 1
otherwise.

Options:
  -d, --dir DIR      the download folder (as given to the download)
      --select LIST  check only these files, as a download with --select LIST keeps
                     them (the bytes of the others in shared pieces are in its part
                     files); the others are 'not selected'
  -h, --help         this help
";

/// What `verify` is asked to check.
struct Request {
    torrent: PathBuf,
    dir: PathBuf,
    select: Option<FileList>,
}

/// Parses `verify`'s arguments; `Ok(None)` means help was printed.
fn parse(args: Vec<OsString>) -> Result<Option<Request>, String> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut torrent = None;
    let mut dir = PathBuf::from(".");
    let mut select = None;
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Short('h') | Long("help") => {
                print!("{USAGE}");
                return Ok(None);
            }
            Short('d') | Long("dir") => dir = PathBuf::from(text(&mut parser)?),
            Long("select") => {
                let list = FileList::parse(&text(&mut parser)?).map_err(|e| e.to_string())?;
                select = Some(list);
            }
            Value(value) if torrent.is_none() => torrent = Some(PathBuf::from(value)),
            _ => return Err(arg.unexpected().to_string()),
        }
    }
    let torrent = torrent.ok_or("verify: missing the .torrent file to check")?;
    Ok(Some(Request {
        torrent,
        dir,
        select,
    }))
}

pub fn run(args: Vec<OsString>) -> Result<i32, String> {
    let Some(Request {
        torrent,
        dir,
        select,
    }) = parse(args)?
    else {
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
    let selection = match select.map(|list| list.resolve(meta.files.len())) {
        None => Selection::all(meta.files.len()),
        Some(Ok(selection)) => selection,
        Some(Err(error)) => {
            eprintln!("smalltorrent: {error}");
            return Ok(super::EXIT_USAGE);
        }
    };
    let wanted = selection.wanted_pieces(&meta.files, &geometry);
    let (storage, present) = Storage::open_existing(&dir, &meta.files);
    let storage = match resume::part_dir(&meta.info_hash, &meta.files) {
        Ok(part_dir) if !selection.is_all() => {
            let stretches =
                parts::selected(&dir, &meta.files, &selection, &wanted, &geometry, &part_dir);
            Storage::open_existing_stretches(&dir, &stretches)
        }
        _ => storage,
    };
    let valid =
        match verify::check_pieces(&storage, &geometry, &meta.pieces, Some(&wanted), |_, _| {}) {
            Ok(valid) => valid,
            Err(error) => {
                eprintln!("smalltorrent: {error}");
                return Ok(1);
            }
        };
    for (index, (entry, present)) in meta.files.iter().zip(present).enumerate() {
        if entry.kind != FileKind::Regular {
            continue;
        }
        let pieces = geometry.pieces_touching(entry.offset, entry.length);
        let total = pieces.len();
        let good = pieces.filter(|&p| valid.has(p)).count();
        let state = if !selection.has(index) {
            "not selected".to_string()
        } else if !present {
            "missing".to_string()
        } else if good == total {
            "complete".to_string()
        } else {
            format!("{good} of {total} pieces")
        };
        println!("{}: {state}", entry.path.display());
    }
    let (count, of) = (valid.count(), wanted.count());
    let selected = if selection.is_all() { "" } else { " selected" };
    println!(
        "pieces: {count} of {of}{selected} valid ({:.1}%)",
        count as f64 * 100.0 / of.max(1) as f64
    );
    Ok(if count == of { 0 } else { 1 })
}

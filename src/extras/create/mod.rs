//! Making a `.torrent` from files on disk (`smalltorrent create`), in three steps:
//!
//! 1. [`scan`] walks a file or folder into a [`Layout`]: the files in byte-stream order
//!    (sorted by path bytes, empty files kept), what was skipped and why (`walk.rs`);
//! 2. [`hash_pieces`] reads the files end to end and hashes every piece on every core
//!    (`hash.rs`);
//! 3. [`build`] writes the metainfo: `info` as BEP 3 wants it (plus `private`), then the
//!    trackers (BEP 12), web seeds (BEP 19), comment, creation date and creator.
//!
//! The piece length is the caller's, or [`auto_piece_length`]: the smallest power of two
//! that gives at most [`TARGET_PIECES`] pieces, within 16 KiB–16 MiB.
//!
//! Nothing here draws progress or parses arguments: that is `cli/create.rs`.

mod hash;
mod walk;

pub use hash::hash_pieces;
pub use walk::{Layout, SourceFile, scan};

use crate::bencode::OwnedValue;
use crate::metainfo::MAX_PIECES;
use std::fmt;
use std::path::PathBuf;

/// The smallest piece length accepted, and the floor of the automatic choice (one block).
pub const MIN_PIECE_LENGTH: u32 = 16 * 1024;
/// The ceiling of the automatic choice.
pub const MAX_AUTO_PIECE_LENGTH: u32 = 16 << 20;
/// The largest piece length `--piece-size` accepts. Each hashing thread holds one piece
/// in memory, and some clients refuse larger pieces.
pub const MAX_PIECE_LENGTH: u32 = 64 << 20;
/// The automatic choice gives at most this many pieces (and more than half of it, unless
/// the 16 KiB floor or the 16 MiB ceiling applies).
pub const TARGET_PIECES: u64 = 2000;

/// Why a torrent could not be made.
#[derive(Debug)]
pub enum CreateError {
    /// The file or folder to share does not exist (or cannot be looked at).
    PathMissing {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The folder holds no file to share (after skipping symlinks and, if asked, hidden
    /// files).
    EmptyFolder { path: PathBuf },
    /// Every file is empty: a torrent needs at least one byte.
    NoData { path: PathBuf },
    /// The files add up to more than 2^64 bytes.
    TooLarge { path: PathBuf },
    /// A file or folder could not be listed or read.
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file got shorter (or longer) between the scan and the hashing.
    Changed { path: PathBuf },
    /// The thread hashing these pieces panicked (a bug; the panic is logged), so they
    /// have no hash.
    Hashing { pieces: std::ops::Range<u64> },
    /// A name that is not UTF-8 (BEP 3 wants UTF-8 names).
    NotUtf8 { path: PathBuf },
    /// The path has no name to give the torrent (e.g. `/`).
    NoName { path: PathBuf },
    /// `--piece-size` is not a power of two within the limits, or not a size at all.
    BadPieceSize { text: String, problem: String },
    /// The data needs more pieces than a torrent may have.
    TooManyPieces { count: u64 },
    /// A tracker or web-seed URL that clients would not understand.
    BadUrl { url: String, expected: &'static str },
    /// The output file exists and `--force` was not given.
    OutputExists { path: PathBuf },
    /// The output file could not be written.
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl fmt::Display for CreateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use CreateError::*;
        match self {
            PathMissing { path, source } => write!(f, "cannot share {}: {source}", path.display()),
            EmptyFolder { path } => write!(
                f,
                "{} has no file to share (symlinks are skipped; so are hidden files with \
                 --no-hidden)",
                path.display()
            ),
            NoData { path } => write!(
                f,
                "every file in {} is empty: a torrent needs at least one byte",
                path.display()
            ),
            TooLarge { path } => write!(
                f,
                "the files in {} add up to more than 2^64 bytes",
                path.display()
            ),
            Unreadable { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            Changed { path } => write!(
                f,
                "{} changed size while it was being hashed; try again when it is stable",
                path.display()
            ),
            Hashing { pieces } => write!(
                f,
                "the thread hashing pieces {} to {} failed (a bug; see the error above); \
                 no torrent was made",
                pieces.start,
                pieces.end.saturating_sub(1)
            ),
            NotUtf8 { path } => write!(
                f,
                "the name of {} is not UTF-8; rename it (torrents name files in UTF-8)",
                path.display()
            ),
            NoName { path } => write!(
                f,
                "{} has no name to give the torrent; name a file or a folder",
                path.display()
            ),
            BadPieceSize { text, problem } => write!(f, "--piece-size {text}: {problem}"),
            TooManyPieces { count } => write!(
                f,
                "the data needs {count} pieces, more than a torrent may have ({MAX_PIECES}); \
                 choose a larger --piece-size"
            ),
            BadUrl { url, expected } => write!(f, "'{url}' is not {expected}"),
            OutputExists { path } => write!(
                f,
                "{} already exists; choose another name with -o, or replace it with --force",
                path.display()
            ),
            Write { path, source } => write!(f, "cannot write {}: {source}", path.display()),
        }
    }
}

impl std::error::Error for CreateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CreateError::PathMissing { source, .. }
            | CreateError::Unreadable { source, .. }
            | CreateError::Write { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The smallest power of two giving at most [`TARGET_PIECES`] pieces for `total` bytes,
/// clamped to [`MIN_PIECE_LENGTH`]..=[`MAX_AUTO_PIECE_LENGTH`].
pub fn auto_piece_length(total: u64) -> u32 {
    let wanted = total.div_ceil(TARGET_PIECES).next_power_of_two();
    let clamped = wanted.clamp(
        u64::from(MIN_PIECE_LENGTH),
        u64::from(MAX_AUTO_PIECE_LENGTH),
    );
    // Cannot fail: clamped to at most 16 MiB.
    u32::try_from(clamped).unwrap_or(MAX_AUTO_PIECE_LENGTH)
}

/// Reads a `--piece-size`: `16384`, `256K`, `256KiB`, `1M`, `4MiB` (binary units). It must
/// be a power of two from [`MIN_PIECE_LENGTH`] to [`MAX_PIECE_LENGTH`].
pub fn parse_piece_size(text: &str) -> Result<u32, CreateError> {
    let bad = |problem: &str| CreateError::BadPieceSize {
        text: text.to_string(),
        problem: problem.to_string(),
    };
    let trimmed = text.trim();
    let digits_end = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(digits_end);
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        _ => return Err(bad("expected a size such as 16384, 256K or 1M")),
    };
    let number: u64 = digits
        .parse()
        .map_err(|_| bad("expected a size such as 16384, 256K or 1M"))?;
    let size = number
        .checked_mul(1 << shift)
        .filter(|size| *size <= u64::from(MAX_PIECE_LENGTH))
        .ok_or_else(|| bad("larger than the 64 MiB most clients accept"))?;
    if size < u64::from(MIN_PIECE_LENGTH) {
        return Err(bad("smaller than 16 KiB, the size of one block"));
    }
    if !size.is_power_of_two() {
        return Err(bad("not a power of two (try 256K, 512K, 1M, ...)"));
    }
    Ok(size as u32)
}

/// Checks that `total` bytes in pieces of `piece_length` stay within [`MAX_PIECES`].
pub fn check_piece_count(total: u64, piece_length: u32) -> Result<u64, CreateError> {
    let count = total.div_ceil(u64::from(piece_length));
    if count > MAX_PIECES {
        return Err(CreateError::TooManyPieces { count });
    }
    Ok(count)
}

/// Everything in the torrent that is not the files and their hashes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extras {
    /// Tracker URLs; each becomes its own tier, the first is also `announce`.
    pub trackers: Vec<String>,
    /// Web seeds (BEP 19 `url-list`).
    pub web_seeds: Vec<String>,
    pub comment: Option<String>,
    /// Sets `private` = 1 in `info` (BEP 27): peers only from the trackers.
    pub private: bool,
    /// Seconds since the Unix epoch.
    pub creation_date: Option<i64>,
    pub created_by: Option<String>,
}

/// Refuses tracker and web-seed URLs that clients would not use.
pub fn check_urls(extras: &Extras) -> Result<(), CreateError> {
    let check = |url: &String, schemes: &[&str], expected| {
        let known = url
            .split_once("://")
            .is_some_and(|(scheme, rest)| schemes.contains(&scheme) && !rest.is_empty());
        match known {
            true => Ok(()),
            false => Err(CreateError::BadUrl {
                url: url.clone(),
                expected,
            }),
        }
    };
    for url in &extras.trackers {
        let expected = "a tracker URL (http://, https:// or udp://)";
        check(url, &["http", "https", "udp"], expected)?;
    }
    for url in &extras.web_seeds {
        check(
            url,
            &["http", "https"],
            "a web seed URL (http:// or https://)",
        )?;
    }
    Ok(())
}

/// The bencoded torrent for `layout`, hashed into `pieces` of `piece_length`.
pub fn build(layout: &Layout, piece_length: u32, pieces: &[[u8; 20]], extras: &Extras) -> Vec<u8> {
    let mut info = vec![
        ("name", OwnedValue::bytes(layout.name.as_bytes())),
        ("piece length", OwnedValue::Int(i64::from(piece_length))),
        ("pieces", OwnedValue::bytes(pieces.concat())),
    ];
    if layout.single_file {
        let length = layout.files.first().map_or(0, |file| file.length);
        info.push(("length", int(length)));
    } else {
        let files = layout.files.iter().map(|file| {
            let path = file
                .path
                .iter()
                .map(|element| OwnedValue::bytes(element.as_bytes()));
            OwnedValue::dict([
                ("length", int(file.length)),
                ("path", OwnedValue::List(path.collect())),
            ])
        });
        info.push(("files", OwnedValue::List(files.collect())));
    }
    if extras.private {
        info.push(("private", OwnedValue::Int(1)));
    }

    let mut root = vec![("info", OwnedValue::dict(info))];
    let text = |s: &str| OwnedValue::bytes(s.as_bytes());
    if let Some(first) = extras.trackers.first() {
        root.push(("announce", text(first)));
    }
    if extras.trackers.len() > 1 {
        let tiers = extras
            .trackers
            .iter()
            .map(|url| OwnedValue::List(vec![text(url)]));
        root.push(("announce-list", OwnedValue::List(tiers.collect())));
    }
    if !extras.web_seeds.is_empty() {
        let urls = extras.web_seeds.iter().map(|url| text(url));
        root.push(("url-list", OwnedValue::List(urls.collect())));
    }
    if let Some(comment) = &extras.comment {
        root.push(("comment", text(comment)));
    }
    if let Some(date) = extras.creation_date {
        root.push(("creation date", OwnedValue::Int(date)));
    }
    if let Some(creator) = &extras.created_by {
        root.push(("created by", text(creator)));
    }
    OwnedValue::dict(root).to_bytes()
}

/// A length as a bencode integer. Real files are far below `i64::MAX` bytes.
fn int(length: u64) -> OwnedValue {
    OwnedValue::Int(i64::try_from(length).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests;

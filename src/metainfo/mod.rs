//! Reading a `.torrent` file (BEP 3 metainfo) into a checked [`Metainfo`].
//!
//! Everything in a torrent file is untrusted. [`Metainfo::from_bytes`] decodes it with the
//! limits of [`crate::bencode`], checks every field the download needs, and refuses the
//! file with a [`MetainfoError`] that names the offending field. What comes out is
//! consistent: the piece hashes match the total size, the file offsets are consecutive,
//! and every path is safe to create under the download folder.
//!
//! # Versions
//!
//! Only BitTorrent v1 is implemented. Hybrid torrents (v1 + v2, BEP 52) load as v1, after
//! a check that their v2 `file tree` describes the same files (`metainfo/hybrid.rs`); torrents
//! with only v2 metadata are refused with "BitTorrent v2 is not supported". The v2
//! `piece layers` are not read.
//!
//! # Path policy
//!
//! Like libtorrent, we sanitise bad names rather than refuse the torrent, and nothing we
//! produce can point outside the download folder:
//!
//! * Each path element is cleaned on its own: empty, `.` and `..` elements are dropped;
//!   `/` and `\` inside an element are removed (`abc/../../def` → `abc....def`), and an
//!   element made only of separators becomes `_`; control characters (NUL included) and
//!   invalid UTF-8 become `_`; elements over 240 bytes are shortened, keeping the extension.
//! * A torrent name that is empty after cleaning (e.g. `..`) becomes the info-hash in hex.
//!   A file whose path is empty after cleaning is called `_`.
//! * Multi-file paths start with the torrent name (the folder); single-file torrents are
//!   one file called by the name.
//! * Colliding paths (two files, or a file and a directory) are renamed `bar.1.txt`,
//!   `bar.2.txt`, …; after 500 renames in total the torrent is refused ("too many
//!   duplicate file names").
//! * Pad files (BEP 47 attribute `p`, or a name starting `_____padding_file_`) occupy bytes
//!   in the piece stream but are never written; one without a `path` is `.pad/<length>`.
//!   Pad files take no part in renaming.
//! * Symlinks (attribute `l`) are listed with their sanitised target (which also starts
//!   with the torrent name) but never created; they occupy no bytes.

mod error;
mod files;
mod hybrid;
pub mod paths;

use crate::bencode::{self, Value};
use crate::geometry::Geometry;
pub use error::MetainfoError;
use files::{RawFile, file_entries, raw_file_list, single_file};
use sha1::{Digest, Sha1};
use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Torrent files larger than this are refused before reading (the largest real ones are a
/// few MiB).
pub const MAX_TORRENT_FILE_SIZE: u64 = 64 * 1024 * 1024;
/// Largest accepted `piece length`.
pub const MAX_PIECE_LENGTH: i64 = 1 << 30;
/// Most pieces a torrent may have (libtorrent's limit).
pub const MAX_PIECES: u64 = 0x20_0000;
/// Most files a torrent may list.
pub const MAX_FILES: usize = 1_000_000;
/// Most elements in one file's `path`.
pub const MAX_PATH_DEPTH: usize = 100;

/// A checked torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metainfo {
    /// SHA-1 of the raw bytes of the `info` dictionary.
    pub info_hash: [u8; 20],
    /// Sanitised top-level name: the folder of a multi-file torrent, or the single file.
    pub name: String,
    pub piece_length: u32,
    pub pieces: Vec<[u8; 20]>,
    /// In torrent order; offsets are consecutive in the byte stream.
    pub files: Vec<FileEntry>,
    pub total_length: u64,
    /// BEP 12 tiers from `announce-list`, else `[[announce]]`; trimmed, no empty or
    /// duplicate URLs.
    pub trackers: Vec<Vec<String>>,
    pub creation_date: Option<i64>,
    pub comment: Option<String>,
    pub created_by: Option<String>,
    pub private: bool,
    pub multi_file: bool,
    /// Web seeds (BEP 19); entries of the wrong type are ignored, duplicates dropped.
    pub url_list: Vec<String>,
    /// DHT nodes the torrent names (BEP 5's `nodes`: `[host, port]` pairs), as
    /// `HOST:PORT`; entries of the wrong shape are ignored, at most 100 kept.
    pub dht_nodes: Vec<String>,
    /// The raw bytes of the `info` dictionary, exactly as in the file: the *metadata*
    /// that peers exchange for magnet links (BEP 9), whose SHA-1 is the info-hash.
    pub info: Arc<[u8]>,
}

/// One entry of the torrent's file list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Relative path under the download folder (only normal components).
    pub path: PathBuf,
    pub length: u64,
    /// Where the file starts in the torrent's byte stream.
    pub offset: u64,
    pub kind: FileKind,
}

/// What a file entry stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileKind {
    /// An ordinary file, downloaded and written.
    Regular,
    /// Padding (BEP 47): its bytes are zeros in the stream and never written to disk.
    Pad,
    /// A symbolic link (BEP 47): listed, never created; `target` is relative to the
    /// download folder.
    Symlink { target: PathBuf },
}

/// Shorthand for [`MetainfoError::Invalid`].
fn invalid(field: &'static str, problem: impl Into<String>) -> MetainfoError {
    MetainfoError::Invalid {
        field,
        problem: problem.into(),
    }
}

impl Metainfo {
    /// Reads and checks a torrent file.
    pub fn from_file(path: &Path) -> Result<Metainfo, MetainfoError> {
        let read_error = |source| MetainfoError::Read {
            path: path.to_path_buf(),
            source,
        };
        let too_large = || MetainfoError::TooLarge {
            path: path.to_path_buf(),
        };
        let file = std::fs::File::open(path).map_err(read_error)?;
        // The size is checked before reading, and the read is capped in case it grows.
        if file.metadata().map_err(read_error)?.len() > MAX_TORRENT_FILE_SIZE {
            return Err(too_large());
        }
        let mut bytes = Vec::new();
        file.take(MAX_TORRENT_FILE_SIZE + 1)
            .read_to_end(&mut bytes)
            .map_err(read_error)?;
        if bytes.len() as u64 > MAX_TORRENT_FILE_SIZE {
            return Err(too_large());
        }
        Metainfo::from_bytes(&bytes)
    }

    /// Checks the bytes of a torrent file. Bytes after the top-level dictionary are
    /// ignored, as libtorrent does.
    pub fn from_bytes(bytes: &[u8]) -> Result<Metainfo, MetainfoError> {
        // Say what the file is not before bencode says which byte is wrong: an empty file
        // or an HTML error page saved as `.torrent` are the common cases.
        match bytes.first() {
            None => return Err(MetainfoError::Empty),
            Some(b'd') => {}
            Some(_) => return Err(MetainfoError::NotADictionary),
        }
        let (root, _used) = bencode::decode_prefix(bytes)?;
        if root.as_dict().is_none() {
            return Err(MetainfoError::NotADictionary);
        }
        let info = root
            .get("info")
            .filter(|info| info.as_dict().is_some())
            .ok_or_else(|| invalid("info", "is missing or not a dictionary"))?;
        let raw_info = bencode::raw_dict_value(bytes, "info")?
            .ok_or_else(|| invalid("info", "is missing or not a dictionary"))?;
        let info_hash: [u8; 20] = Sha1::digest(raw_info).into();
        if info.get("pieces").is_none()
            && (info.get("meta version").is_some() || info.get("file tree").is_some())
        {
            return Err(MetainfoError::V2NotSupported);
        }

        let piece_length = piece_length(info)?;
        let raw_name = info
            .get("name")
            .and_then(Value::as_bytes)
            .ok_or_else(|| invalid("name", "is missing or not a string"))?;
        let multi_file = info.get("files").is_some();
        let raw_files = if multi_file {
            raw_file_list(info)?
        } else {
            vec![single_file(info, raw_name)?]
        };
        let total_length = total_length(&raw_files)?;
        if info.get("meta version").is_some() || info.get("file tree").is_some() {
            hybrid::check(info, &raw_files, piece_length, multi_file)?;
        }
        let pieces = pieces(info, total_length, piece_length)?;

        let name = paths::sanitise_element(raw_name).unwrap_or_else(|| hex(&info_hash));
        let files = file_entries(&raw_files, &name, multi_file)?;
        Ok(Metainfo {
            info_hash,
            name,
            piece_length,
            pieces,
            files,
            total_length,
            trackers: trackers(&root),
            creation_date: root.get("creation date").and_then(Value::as_int),
            comment: text(&root, "comment"),
            created_by: text(&root, "created by"),
            private: info.get("private").and_then(Value::as_int) == Some(1),
            multi_file,
            url_list: url_list(&root),
            dht_nodes: dht_nodes(&root),
            info: raw_info.into(),
        })
    }

    /// The piece and block arithmetic of this torrent.
    pub fn geometry(&self) -> Geometry {
        Geometry::new(self.total_length, self.piece_length)
    }

    /// The info-hash as 40 lowercase hex digits.
    pub fn info_hash_hex(&self) -> String {
        hex(&self.info_hash)
    }

    /// The SHA-1 of piece `piece`. Panics if `piece` is not below the piece count.
    pub fn piece_hash(&self, piece: u32) -> &[u8; 20] {
        &self.pieces[piece as usize]
    }
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn piece_length(info: &Value) -> Result<u32, MetainfoError> {
    match info.get("piece length").and_then(Value::as_int) {
        Some(n) if n > MAX_PIECE_LENGTH => Err(invalid("piece length", "is larger than 1 GiB")),
        Some(n) if n > 0 => u32::try_from(n).map_err(|_| invalid("piece length", "is too large")),
        _ => Err(invalid(
            "piece length",
            "is missing or not a positive integer",
        )),
    }
}

fn total_length(files: &[RawFile]) -> Result<u64, MetainfoError> {
    let mut total: u64 = 0;
    for file in files {
        total = total
            .checked_add(file.length)
            .ok_or_else(|| invalid("length", "of the files add up to more than 2^64 bytes"))?;
    }
    if total == 0 {
        return Err(invalid(
            "length",
            "is 0 for every file: the torrent has no data",
        ));
    }
    Ok(total)
}

/// The piece hashes, checked against the number of pieces the files need.
fn pieces(info: &Value, total: u64, piece_length: u32) -> Result<Vec<[u8; 20]>, MetainfoError> {
    let needed = total.div_ceil(u64::from(piece_length));
    if needed > MAX_PIECES {
        return Err(MetainfoError::TooManyPieces { count: needed });
    }
    let bytes = info
        .get("pieces")
        .and_then(Value::as_bytes)
        .ok_or_else(|| invalid("pieces", "is missing or not a byte string"))?;
    if bytes.len() % 20 != 0 {
        return Err(invalid(
            "pieces",
            format!("is {} bytes long, not a multiple of 20", bytes.len()),
        ));
    }
    let count = (bytes.len() / 20) as u64;
    if count != needed {
        return Err(invalid(
            "pieces",
            format!(
                "has {count} hashes but {total} bytes in pieces of {piece_length} need {needed}"
            ),
        ));
    }
    let to_hash = |chunk: &[u8]| {
        let mut hash = [0; 20];
        hash.copy_from_slice(chunk);
        hash
    };
    Ok(bytes.chunks_exact(20).map(to_hash).collect())
}

/// A trimmed, non-empty URL.
fn url(value: &Value) -> Option<String> {
    let text = String::from_utf8_lossy(value.as_bytes()?);
    let trimmed = text.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

/// BEP 12 tiers from `announce-list`, or `announce` when that gives none.
fn trackers(root: &Value) -> Vec<Vec<String>> {
    let mut seen = HashSet::new();
    let mut tiers = Vec::new();
    let announce_list = root.get("announce-list").and_then(Value::as_list);
    for tier in announce_list.unwrap_or_default() {
        let urls = tier.as_list().unwrap_or_default();
        let tier: Vec<String> = urls
            .iter()
            .filter_map(url)
            .filter(|url| seen.insert(url.clone()))
            .collect();
        if !tier.is_empty() {
            tiers.push(tier);
        }
    }
    if tiers.is_empty() {
        tiers.extend(root.get("announce").and_then(url).map(|url| vec![url]));
    }
    tiers
}

/// BEP 19 web seeds: `url-list` is one URL or a list of them.
fn url_list(root: &Value) -> Vec<String> {
    let urls = match root.get("url-list") {
        Some(Value::List(items)) => items.iter().filter_map(url).collect(),
        Some(single) => url(single).into_iter().collect(),
        None => Vec::new(),
    };
    let mut seen = HashSet::new();
    urls.into_iter()
        .filter(|url| seen.insert(url.clone()))
        .collect()
}

/// BEP 5's `nodes`: a list of `[host, port]`; anything else in it is skipped.
fn dht_nodes(root: &Value) -> Vec<String> {
    let Some(nodes) = root.get("nodes").and_then(Value::as_list) else {
        return Vec::new();
    };
    nodes
        .iter()
        .filter_map(|node| {
            let [host, port] = node.as_list()? else {
                return None;
            };
            let host = host.as_str().filter(|h| !h.is_empty() && h.len() <= 253)?;
            let port = port
                .as_int()
                .and_then(|p| u16::try_from(p).ok())
                .filter(|&p| p > 0)?;
            // An IPv6 literal needs brackets to be HOST:PORT.
            Some(if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            })
        })
        .take(100)
        .collect()
}

/// An optional text field, lossily converted to UTF-8.
fn text(root: &Value, key: &str) -> Option<String> {
    let bytes = root.get(key)?.as_bytes()?;
    Some(String::from_utf8_lossy(bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(torrent: &[u8]) -> String {
        Metainfo::from_bytes(torrent).unwrap_err().to_string()
    }

    #[test]
    fn dht_nodes_are_read_and_odd_entries_skipped() {
        let torrent = b"d4:infod6:lengthi1e4:name1:a12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae5:nodesll9:127.0.0.2i6881eel3:::1i7eeli5eel1:xi0eel4:host3:abceee";
        let meta = Metainfo::from_bytes(torrent).unwrap();
        assert_eq!(meta.dht_nodes, ["127.0.0.2:6881", "[::1]:7"]);
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            error(b"d4:infoi1ee"),
            "invalid torrent: 'info' is missing or not a dictionary"
        );
        assert_eq!(
            error(b"d4:infod6:lengthi1e4:name1:a6:pieces20:aaaaaaaaaaaaaaaaaaaaee"),
            "invalid torrent: 'piece length' is missing or not a positive integer"
        );
        assert_eq!(
            error(b"d4:infod6:lengthi1e4:name1:a12:piece lengthi2147483648e6:pieces0:ee"),
            "invalid torrent: 'piece length' is larger than 1 GiB"
        );
        assert!(error(b"d4:infod12:meta versioni2e4:name1:aee").contains("v2 is not supported"));
        assert!(error(b"le").contains("not a bencoded dictionary"));
        assert!(error(b"<html>").contains("not a bencoded dictionary"));
        assert_eq!(error(b""), "invalid torrent: the file is empty");
    }

    #[test]
    fn a_minimal_torrent_loads_with_trailing_bytes() {
        let torrent =
            b"d8:announce5: x/ \t4:infod6:lengthi3e4:name2:..12:piece lengthi2e6:pieces40:\
              aaaaaaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbbbbbee\n";
        let meta = Metainfo::from_bytes(torrent).unwrap();
        assert_eq!(
            meta.name,
            meta.info_hash_hex(),
            "'..' falls back to the info-hash"
        );
        assert_eq!(meta.trackers, [["x/"]]);
        assert_eq!(meta.piece_hash(1), b"bbbbbbbbbbbbbbbbbbbb");
        assert_eq!(meta.geometry(), Geometry::new(3, 2));
        assert!(!meta.multi_file && !meta.private);
        assert_eq!(meta.files[0].path, Path::new(&meta.name));
    }

    #[test]
    fn a_missing_file_names_its_path() {
        let path = Path::new("/nonexistent/x.torrent");
        let message = Metainfo::from_file(path).unwrap_err().to_string();
        assert!(message.contains("/nonexistent/x.torrent"), "{message}");
    }
}

//! Consistency checks for hybrid (v1 + v2, BEP 52) torrents.
//!
//! We download hybrids through their v1 half, but a hybrid whose two halves disagree is
//! malformed (other clients would see a different torrent), so we refuse it. Checked:
//!
//! * the v2 `piece length` rule: a power of two, at least 16 KiB;
//! * the shape of the v2 `file tree`: nested dictionaries whose files are `''` entries
//!   with a non-negative `length`, a 32-byte non-zero `pieces root` when non-empty, no
//!   pad files and no empty names;
//! * the `file tree` lists the same files, names and lengths, in the same order, as the
//!   v1 file list (v1 pad files aside);
//! * in a multi-file hybrid, every non-empty v1 file starts on a piece boundary, as v2
//!   requires.
//!
//! Not checked: the `piece layers` (we never use v2 hashes).

use super::files::{RawFile, RawKind};
use super::invalid;
use crate::bencode::Value;
use crate::metainfo::MetainfoError;

/// One file of the v2 `file tree`.
struct TreeFile<'a> {
    path: Vec<&'a [u8]>,
    length: u64,
}

/// Refuses a hybrid torrent whose v2 half is malformed or disagrees with the v1 half.
pub(super) fn check(
    info: &Value,
    v1_files: &[RawFile],
    piece_length: u32,
    multi_file: bool,
) -> Result<(), MetainfoError> {
    if !piece_length.is_power_of_two() || piece_length < 16 * 1024 {
        return Err(invalid(
            "piece length",
            "must be a power of two of at least 16 KiB in a v2 or hybrid torrent",
        ));
    }
    let tree = info
        .get("file tree")
        .ok_or_else(|| invalid("file tree", "is missing from a hybrid torrent"))?;
    let mut tree_files = Vec::new();
    walk(tree, &mut Vec::new(), &mut tree_files)?;
    compare(v1_files, &tree_files)?;
    if multi_file {
        check_alignment(v1_files, piece_length)?;
    }
    Ok(())
}

/// Collects the files under `node`, whose path from the root is `path`.
fn walk<'a>(
    node: &Value<'a>,
    path: &mut Vec<&'a [u8]>,
    out: &mut Vec<TreeFile<'a>>,
) -> Result<(), MetainfoError> {
    let entries = node.as_dict().ok_or_else(|| {
        let shown = show(path);
        invalid("file tree", format!("entry '{shown}' is not a dictionary"))
    })?;
    for (key, child) in entries {
        if key.is_empty() {
            if path.is_empty() || entries.len() != 1 {
                return Err(invalid("file tree", "has an empty file name"));
            }
            out.push(tree_file(path, child)?);
        } else {
            path.push(key);
            walk(child, path, out)?;
            path.pop();
        }
    }
    Ok(())
}

/// The `''` entry describing the file at `path`.
fn tree_file<'a>(path: &[&'a [u8]], leaf: &Value<'a>) -> Result<TreeFile<'a>, MetainfoError> {
    let shown = show(path);
    let attr = leaf.get("attr").and_then(Value::as_bytes).unwrap_or(b"");
    if attr.contains(&b'p') {
        return Err(invalid(
            "file tree",
            format!("entry '{shown}' is a pad file, which v2 forbids"),
        ));
    }
    if attr.contains(&b'l') {
        let length = 0;
        return Ok(TreeFile {
            path: path.to_vec(),
            length,
        });
    }
    let length = leaf
        .get("length")
        .and_then(Value::as_int)
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| {
            invalid(
                "file tree",
                format!("entry '{shown}' has no non-negative 'length'"),
            )
        })?;
    let root = leaf.get("pieces root").and_then(Value::as_bytes);
    let root_ok = root.is_some_and(|root| root.len() == 32 && root.iter().any(|&b| b != 0));
    if length > 0 && !root_ok {
        return Err(invalid(
            "file tree",
            format!("entry '{shown}' has no valid 'pieces root'"),
        ));
    }
    Ok(TreeFile {
        path: path.to_vec(),
        length,
    })
}

/// The v1 files (pad files aside) must be the tree's files, in order.
fn compare(v1_files: &[RawFile], tree_files: &[TreeFile]) -> Result<(), MetainfoError> {
    let v1: Vec<&RawFile> = v1_files
        .iter()
        .filter(|file| !matches!(file.kind, RawKind::Pad))
        .collect();
    if v1.len() != tree_files.len() {
        return Err(invalid(
            "file tree",
            format!(
                "lists {} files but the v1 'files' list has {}",
                tree_files.len(),
                v1.len()
            ),
        ));
    }
    for (index, (v1_file, tree_file)) in v1.iter().zip(tree_files).enumerate() {
        if v1_file.path != tree_file.path || v1_file.length != tree_file.length {
            return Err(invalid(
                "file tree",
                format!(
                    "file {index} is '{}' ({} bytes) but the v1 metadata says '{}' ({} bytes)",
                    show(&tree_file.path),
                    tree_file.length,
                    show(&v1_file.path),
                    v1_file.length
                ),
            ));
        }
    }
    Ok(())
}

/// In a hybrid, pad files must make every non-empty file start on a piece boundary.
fn check_alignment(v1_files: &[RawFile], piece_length: u32) -> Result<(), MetainfoError> {
    let mut offset: u64 = 0;
    for file in v1_files {
        let is_data = matches!(file.kind, RawKind::Regular) && file.length > 0;
        if is_data && !offset.is_multiple_of(u64::from(piece_length)) {
            return Err(invalid(
                "files",
                format!(
                    "file '{}' does not start on a piece boundary, as a hybrid torrent requires",
                    show(&file.path)
                ),
            ));
        }
        // Cannot overflow: the caller has checked the total.
        offset += file.length;
    }
    Ok(())
}

/// A path for error messages.
fn show(path: &[&[u8]]) -> String {
    let parts: Vec<_> = path.iter().map(|p| String::from_utf8_lossy(p)).collect();
    parts.join("/")
}

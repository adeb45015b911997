//! The file list: reading `files` (or the single-file `length`) into raw entries, then
//! sanitising their names into [`FileEntry`]s laid end to end in the byte stream.

use super::{FileEntry, FileKind, MAX_FILES, MAX_PATH_DEPTH, MetainfoError, invalid, paths};
use crate::bencode::Value;
use std::collections::HashSet;
use std::path::PathBuf;

/// A file entry as listed, before its names are sanitised.
pub(super) struct RawFile<'a> {
    /// Path elements; for a single-file torrent, just the name.
    pub path: Vec<&'a [u8]>,
    pub length: u64,
    pub kind: RawKind<'a>,
}

pub(super) enum RawKind<'a> {
    Regular,
    Pad,
    Symlink(Vec<&'a [u8]>),
}

/// A file length: a non-negative integer.
fn length_of(entry: &Value, which: &str) -> Result<u64, MetainfoError> {
    let length = entry.get("length").and_then(Value::as_int);
    length.and_then(|n| u64::try_from(n).ok()).ok_or_else(|| {
        invalid(
            "length",
            format!("of {which} is missing or not a non-negative integer"),
        )
    })
}

pub(super) fn single_file<'a>(
    info: &Value<'a>,
    raw_name: &'a [u8],
) -> Result<RawFile<'a>, MetainfoError> {
    Ok(RawFile {
        path: vec![raw_name],
        length: length_of(info, "the torrent")?,
        kind: RawKind::Regular,
    })
}

pub(super) fn raw_file_list<'a>(info: &Value<'a>) -> Result<Vec<RawFile<'a>>, MetainfoError> {
    let list = info
        .get("files")
        .and_then(Value::as_list)
        .ok_or_else(|| invalid("files", "is not a list"))?;
    if list.is_empty() {
        return Err(invalid(
            "files",
            "is empty: a torrent needs at least one file",
        ));
    }
    if list.len() > MAX_FILES {
        return Err(invalid(
            "files",
            format!("has more than {MAX_FILES} entries"),
        ));
    }
    list.iter()
        .enumerate()
        .map(|(index, entry)| raw_file(index, entry))
        .collect()
}

/// One entry of `files`: a dictionary with `length`, `path` and optional BEP 47 `attr`.
fn raw_file<'a>(index: usize, entry: &Value<'a>) -> Result<RawFile<'a>, MetainfoError> {
    if entry.as_dict().is_none() {
        return Err(invalid(
            "files",
            format!("entry {index} is not a dictionary"),
        ));
    }
    let which = format!("file {index}");
    let attr = entry.get("attr").and_then(Value::as_bytes).unwrap_or(b"");
    if attr.contains(&b'l') {
        let target = entry
            .get("symlink path")
            .ok_or_else(|| invalid("symlink path", format!("of {which} is missing")))?;
        let target = string_list(target, "symlink path", &which)?;
        let path = string_list(required_path(entry, &which)?, "path", &which)?;
        let kind = RawKind::Symlink(target);
        // A symlink takes no room in the byte stream, whatever its `length` says.
        return Ok(RawFile {
            path,
            length: 0,
            kind,
        });
    }
    let length = length_of(entry, &which)?;
    let path = match entry.get("path") {
        Some(path) => string_list(path, "path", &which)?,
        None if attr.contains(&b'p') => Vec::new(), // named `.pad/<length>` later
        None => return Err(invalid("path", format!("of {which} is missing"))),
    };
    let legacy_pad = path
        .last()
        .is_some_and(|name| name.starts_with(b"_____padding_file_"));
    let kind = if attr.contains(&b'p') || legacy_pad {
        RawKind::Pad
    } else {
        RawKind::Regular
    };
    Ok(RawFile { path, length, kind })
}

fn required_path<'v, 'a>(
    entry: &'v Value<'a>,
    which: &str,
) -> Result<&'v Value<'a>, MetainfoError> {
    entry
        .get("path")
        .ok_or_else(|| invalid("path", format!("of {which} is missing")))
}

/// A list of byte strings (a `path` or `symlink path`), at most [`MAX_PATH_DEPTH`] long.
fn string_list<'a>(
    value: &Value<'a>,
    field: &'static str,
    which: &str,
) -> Result<Vec<&'a [u8]>, MetainfoError> {
    let not_strings = || invalid(field, format!("of {which} is not a list of strings"));
    let items = value.as_list().ok_or_else(not_strings)?;
    if items.len() > MAX_PATH_DEPTH {
        return Err(invalid(
            field,
            format!("of {which} has more than {MAX_PATH_DEPTH} elements"),
        ));
    }
    items
        .iter()
        .map(|item| item.as_bytes().ok_or_else(not_strings))
        .collect()
}

/// Sanitises the names and lays the files end to end.
pub(super) fn file_entries(
    raw_files: &[RawFile],
    name: &str,
    multi_file: bool,
) -> Result<Vec<FileEntry>, MetainfoError> {
    let mut elements: Vec<Vec<String>> = raw_files
        .iter()
        .map(|file| full_path(file, name, multi_file))
        .collect();
    // Only files that reach the disk (or claim a name there) take part in renaming.
    let mut on_disk: Vec<usize> = Vec::new();
    let mut disk_paths: Vec<Vec<String>> = Vec::new();
    for (index, (file, path)) in raw_files.iter().zip(&elements).enumerate() {
        if !matches!(file.kind, RawKind::Pad) {
            on_disk.push(index);
            disk_paths.push(path.clone());
        }
    }
    paths::make_unique(&mut disk_paths).map_err(|_| MetainfoError::TooManyDuplicateNames)?;
    for (index, path) in on_disk.into_iter().zip(disk_paths) {
        elements[index] = path;
    }

    let existing = existing_paths(raw_files, &elements);
    let mut offset: u64 = 0;
    let mut files = Vec::with_capacity(raw_files.len());
    for (file, path) in raw_files.iter().zip(&elements) {
        let kind = match &file.kind {
            RawKind::Regular => FileKind::Regular,
            RawKind::Pad => FileKind::Pad,
            RawKind::Symlink(target) => FileKind::Symlink {
                target: symlink_target(target, path, name, &existing),
            },
        };
        files.push(FileEntry {
            path: path.iter().collect(),
            length: file.length,
            offset,
            kind,
        });
        // Cannot overflow: the total was checked.
        offset += file.length;
    }
    Ok(files)
}

/// Every file and directory the torrent names (pad files aside), as element lists.
/// Only built when there are symlinks to resolve.
fn existing_paths(raw_files: &[RawFile], elements: &[Vec<String>]) -> HashSet<Vec<String>> {
    let mut existing = HashSet::new();
    if !raw_files
        .iter()
        .any(|file| matches!(file.kind, RawKind::Symlink(_)))
    {
        return existing;
    }
    for (file, path) in raw_files.iter().zip(elements) {
        if !matches!(file.kind, RawKind::Pad) {
            for end in 1..=path.len() {
                existing.insert(path[..end].to_vec());
            }
        }
    }
    existing
}

/// The sanitised path elements of a file, starting with the torrent name.
fn full_path(file: &RawFile, name: &str, multi_file: bool) -> Vec<String> {
    if !multi_file {
        return vec![name.to_string()];
    }
    let mut elements = paths::sanitise_elements(&file.path);
    if elements.is_empty() {
        elements = match file.kind {
            RawKind::Pad => vec![".pad".to_string(), file.length.to_string()],
            _ => vec!["_".to_string()],
        };
    }
    elements.insert(0, name.to_string());
    elements
}

/// Where a symlink points, under the download folder. BEP 47 targets are relative to the
/// torrent root, but some creators write them relative to the link's own folder; like
/// libtorrent, we take whichever of the two names something in the torrent, preferring
/// the root, and fall back to the root reading.
fn symlink_target(
    target: &[&[u8]],
    link: &[String],
    name: &str,
    existing: &HashSet<Vec<String>>,
) -> PathBuf {
    let target = paths::sanitise_elements(target);
    let from_root: Vec<String> = std::iter::once(name.to_string())
        .chain(target.iter().cloned())
        .collect();
    let link_folder = &link[..link.len().saturating_sub(1)];
    let from_link: Vec<String> = link_folder.iter().chain(&target).cloned().collect();
    if !existing.contains(&from_root) && existing.contains(&from_link) {
        return from_link.iter().collect();
    }
    from_root.iter().collect()
}

//! Walking the file or folder to share into a [`Layout`]: the files in the order of the
//! torrent's byte stream, and what was left out.
//!
//! * A folder is walked recursively; its files are sorted by path, element by element,
//!   comparing bytes, so a folder's files stay together (`a/z` comes before `a-b`, as the
//!   element `a` sorts before `a-b`). Empty files are kept; empty folders vanish (a
//!   torrent lists files only).
//! * Hidden files and folders (names starting with `.`) are included unless
//!   `include_hidden` is false.
//! * Symlinks inside the folder are never followed (a link could lead out of the folder, or
//!   round in a loop); they are skipped and reported, as are sockets, FIFOs and devices. The
//!   path given on the command line itself may be a link: the user chose it.

use super::CreateError;
use std::fs;
use std::path::{Path, PathBuf};

/// What to put in the torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The torrent's name: the file's or folder's own name.
    pub name: String,
    /// True when sharing one file (`length` in `info`, no `files` list).
    pub single_file: bool,
    /// In byte-stream order.
    pub files: Vec<SourceFile>,
    /// Sum of the file lengths.
    pub total_length: u64,
    /// Entries left out (symlinks, special files), for a warning each.
    pub skipped: Vec<Skipped>,
}

/// One file to share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Where to read it.
    pub disk_path: PathBuf,
    /// Path elements below the folder (for a single file: its name).
    pub path: Vec<String>,
    pub length: u64,
}

/// An entry that was not put in the torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: PathBuf,
    pub why: &'static str,
}

/// Walks `path` (a file or a folder) into a [`Layout`].
pub fn scan(path: &Path, include_hidden: bool) -> Result<Layout, CreateError> {
    let metadata = fs::metadata(path).map_err(|source| CreateError::PathMissing {
        path: path.to_path_buf(),
        source,
    })?;
    let name = torrent_name(path)?;
    let mut layout = Layout {
        name: name.clone(),
        single_file: !metadata.is_dir(),
        files: Vec::new(),
        total_length: 0,
        skipped: Vec::new(),
    };
    if metadata.is_dir() {
        walk(path, &mut Vec::new(), include_hidden, &mut layout)?;
        layout.files.sort_by(|a, b| compare_paths(&a.path, &b.path));
        if layout.files.is_empty() {
            return Err(CreateError::EmptyFolder {
                path: path.to_path_buf(),
            });
        }
    } else if metadata.is_file() {
        layout.files.push(SourceFile {
            disk_path: path.to_path_buf(),
            path: vec![name],
            length: metadata.len(),
        });
    } else {
        return Err(CreateError::Unreadable {
            path: path.to_path_buf(),
            source: std::io::Error::other("not a regular file or a folder"),
        });
    }
    let mut total: u64 = 0;
    for file in &layout.files {
        total = total
            .checked_add(file.length)
            .ok_or_else(|| CreateError::TooLarge {
                path: path.to_path_buf(),
            })?;
    }
    if total == 0 {
        return Err(CreateError::NoData {
            path: path.to_path_buf(),
        });
    }
    layout.total_length = total;
    Ok(layout)
}

/// Element-by-element byte comparison: the order of the torrent's file list.
fn compare_paths(a: &[String], b: &[String]) -> std::cmp::Ordering {
    a.iter()
        .map(|s| s.as_bytes())
        .cmp(b.iter().map(|s| s.as_bytes()))
}

/// The name of the file or folder itself, looking through `.`, `..` and a trailing `/`.
fn torrent_name(path: &Path) -> Result<String, CreateError> {
    let named = match path.file_name() {
        Some(name) => PathBuf::from(name),
        None => {
            let absolute = fs::canonicalize(path).map_err(|source| CreateError::PathMissing {
                path: path.to_path_buf(),
                source,
            })?;
            let name = absolute.file_name().ok_or_else(|| CreateError::NoName {
                path: path.to_path_buf(),
            })?;
            PathBuf::from(name)
        }
    };
    utf8(path, named.as_os_str())
}

fn utf8(path: &Path, name: &std::ffi::OsStr) -> Result<String, CreateError> {
    name.to_str()
        .map(str::to_string)
        .ok_or_else(|| CreateError::NotUtf8 {
            path: path.to_path_buf(),
        })
}

/// Adds the files below `dir` (whose path below the shared folder is `prefix`) to `layout`.
fn walk(
    dir: &Path,
    prefix: &mut Vec<String>,
    include_hidden: bool,
    layout: &mut Layout,
) -> Result<(), CreateError> {
    let unreadable = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CreateError::Unreadable { path, source }
    };
    for entry in fs::read_dir(dir).map_err(unreadable(dir))? {
        let entry = entry.map_err(unreadable(dir))?;
        let disk_path = entry.path();
        let name = utf8(&disk_path, &entry.file_name())?;
        if !include_hidden && name.starts_with('.') {
            continue;
        }
        // `DirEntry::file_type` does not follow symlinks.
        let kind = entry.file_type().map_err(unreadable(&disk_path))?;
        if kind.is_symlink() {
            layout.skipped.push(Skipped {
                path: disk_path,
                why: "symlinks are not followed",
            });
        } else if kind.is_dir() {
            prefix.push(name);
            walk(&disk_path, prefix, include_hidden, layout)?;
            prefix.pop();
        } else if kind.is_file() {
            let length = entry.metadata().map_err(unreadable(&disk_path))?.len();
            let mut path = prefix.clone();
            path.push(name);
            layout.files.push(SourceFile {
                disk_path,
                path,
                length,
            });
        } else {
            layout.skipped.push(Skipped {
                path: disk_path,
                why: "not a regular file",
            });
        }
    }
    Ok(())
}

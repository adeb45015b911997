//! The resume file: which pieces were verified and flushed, so that a restart need not hash
//! everything again.
//!
//! Location: `DIR/.smalltorrent/<info-hash-hex>.resume`, where `DIR` is the download folder
//! (`-d`). A torrent whose own name is `.smalltorrent` would collide with that folder, so
//! for such a torrent the resume file is not used at all (every start is a full check).
//!
//! Contents (one bencoded dictionary, canonical key order):
//! `version` (1), `info-hash` (20 bytes), `pieces` (the piece count), `verified` (the
//! bitfield, as in the wire protocol) and `files`: one dictionary per file entry of the
//! torrent, in metainfo order, holding `length`, `mtime` and `mtime-ns` of the file as it
//! was when the record was made (empty for pad files, symlinks and missing files).
//! Optional: `unchecked` (pieces still being hashed at the record), `unsynced` (verified
//! pieces whose bytes were in the page cache but not yet flushed to disk) and `boot-id`
//! (the kernel boot the record was made in, see [`boot`]).
//!
//! Trust rule ([`plan`]): a recorded piece is trusted only if every file it touches still
//! has the recorded length and mtime, and that length is the file's torrent length; an
//! `unsynced` piece also needs the same boot id as now (no power cut or kernel crash can
//! have lost its bytes since). Other pieces are hashed again, and a resume file that is
//! missing, unreadable, garbage, for another torrent or of another piece count is ignored:
//! everything is hashed. The file is written atomically (temp file,
//! fsync, rename, fsync of the folder) by [`save`]; when it is written is decided by
//! [`recorder`].

pub mod boot;
pub mod recorder;

use crate::bencode::{self, OwnedValue, Value};
use crate::bitfield::Bitfield;
use crate::geometry::Geometry;
use crate::metainfo::{FileEntry, FileKind};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The format version written and understood.
pub const VERSION: i64 = 1;
/// The state folder inside the download folder.
pub const STATE_DIR: &str = ".smalltorrent";
/// A resume file larger than this is refused without reading it.
const MAX_FILE_BYTES: u64 = 256 << 20;

/// A file's length and modification time, as recorded or as found on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    pub length: u64,
    pub mtime: i64,
    pub mtime_ns: i64,
}

/// The content of one resume file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    pub info_hash: [u8; 20],
    pub verified: Bitfield,
    /// Pieces written in full but still being hashed when the record was taken: hashed at
    /// the next start even if their files look unchanged (optional in the file, key
    /// `unchecked`; absent means none).
    pub unchecked: Bitfield,
    /// Verified pieces not yet flushed to disk when the record was taken: trusted at the
    /// next start only in the same boot (key `unsynced`; absent means none).
    pub unsynced: Bitfield,
    /// The kernel boot the record was made in (key `boot-id`; absent means unknown).
    pub boot_id: Option<String>,
    /// One per file entry of the torrent; `None` for pad files, symlinks, missing files.
    pub files: Vec<Option<FileStamp>>,
}

/// Why a resume file could not be read or written, or was not used.
#[derive(Debug)]
pub enum ResumeError {
    /// There is no resume file (first start, or it was deleted).
    Missing,
    /// The torrent's own paths use the state folder's name, so no resume file is kept.
    Collides,
    /// Reading, writing, syncing or renaming failed.
    Io {
        path: PathBuf,
        action: &'static str,
        source: io::Error,
    },
    /// The data could not be flushed, so nothing new may be recorded.
    Flush(crate::storage::StorageError),
    /// The file is not a resume file we can read (truncated, garbage, other version).
    Malformed { path: PathBuf, why: String },
    /// The file is well formed but describes another torrent.
    OtherTorrent { why: &'static str },
    /// A path in the state folder is a symlink or not a folder; we never follow one.
    NotOurs { path: PathBuf },
}

impl fmt::Display for ResumeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResumeError::Missing => write!(f, "no resume file"),
            ResumeError::Flush(e) => write!(f, "not recording pieces: {e}"),
            ResumeError::Collides => write!(
                f,
                "the torrent's name is {STATE_DIR}, which is where resume files live; \
                 no resume file is kept for it"
            ),
            ResumeError::Io {
                path,
                action,
                source,
            } => write!(f, "cannot {action} {}: {source}", path.display()),
            ResumeError::Malformed { path, why } => write!(
                f,
                "{} is not a usable resume file ({why}); ignoring it",
                path.display()
            ),
            ResumeError::OtherTorrent { why } => {
                write!(f, "the resume file is for another torrent ({why})")
            }
            ResumeError::NotOurs { path } => write!(
                f,
                "{} is a symlink or not a regular folder/file; not using it",
                path.display()
            ),
        }
    }
}

impl std::error::Error for ResumeError {}

/// Where the resume file of torrent `info_hash` downloaded into `dir` lives, or
/// [`ResumeError::Collides`] if the torrent itself would put a file there.
pub fn path_for(
    dir: &Path,
    info_hash: &[u8; 20],
    files: &[FileEntry],
) -> Result<PathBuf, ResumeError> {
    let collides = files.iter().any(|f| {
        f.path
            .components()
            .next()
            .is_some_and(|c| c.as_os_str() == STATE_DIR)
    });
    if collides {
        return Err(ResumeError::Collides);
    }
    let hex: String = info_hash.iter().map(|b| format!("{b:02x}")).collect();
    Ok(dir.join(STATE_DIR).join(format!("{hex}.resume")))
}

/// The length and mtime of every regular file of the torrent as it is now (`None` for pad
/// files, symlinks, and files that are missing or not regular files).
pub fn stamps(dir: &Path, files: &[FileEntry]) -> Vec<Option<FileStamp>> {
    files
        .iter()
        .map(|entry| {
            if entry.kind != FileKind::Regular {
                return None;
            }
            let meta = fs::symlink_metadata(dir.join(&entry.path)).ok()?;
            meta.is_file().then(|| FileStamp {
                length: meta.len(),
                mtime: meta.mtime(),
                mtime_ns: meta.mtime_nsec(),
            })
        })
        .collect()
}

/// Which pieces to trust from a resume file and which to hash again.
#[derive(Debug)]
pub struct Plan {
    /// Recorded pieces whose files are unchanged: verified without hashing.
    pub trusted: Bitfield,
    /// Pieces to hash (everything when the resume file is not usable).
    pub check: Bitfield,
    /// Why the resume file was not used (or was used only in part), for the log line.
    pub note: Option<String>,
}

/// Decides what to trust, given what [`load`] returned and the files' current stamps.
pub fn plan(
    loaded: Result<Resume, ResumeError>,
    info_hash: &[u8; 20],
    geometry: &Geometry,
    files: &[FileEntry],
    now: &[Option<FileStamp>],
    boot_id: Option<&str>,
) -> Plan {
    let count = geometry.piece_count;
    let everything = || {
        let mut all = Bitfield::new(count);
        (0..count).for_each(|p| {
            all.set(p);
        });
        all
    };
    let resume = match loaded.and_then(|r| matches_torrent(r, info_hash, count, files.len())) {
        Ok(resume) => resume,
        Err(error) => {
            return Plan {
                trusted: Bitfield::new(count),
                check: everything(),
                note: Some(error.to_string()),
            };
        }
    };
    // Pieces touching a file whose length or mtime changed are suspect.
    let mut check = Bitfield::new(count);
    let mut changed = 0;
    for ((entry, recorded), current) in files.iter().zip(&resume.files).zip(now) {
        // A record of a file that was not whole (cut short by another program, or gone)
        // vouches for nothing, even if the file is still in that state.
        let whole = recorded.is_some_and(|stamp| stamp.length == entry.length);
        if (recorded == current && whole) || entry.length == 0 {
            continue;
        }
        changed += 1;
        for piece in geometry.pieces_touching(entry.offset, entry.length) {
            check.set(piece);
        }
    }
    // Pieces whose bytes were all written but not yet hashed at the last record: a kill
    // right then must not cost a download, so they are hashed even in unchanged files.
    for piece in resume.unchecked.pieces() {
        check.set(piece);
    }
    // Pieces that were only in the page cache at the last record: a power cut or kernel
    // crash since (a new boot, or a boot we cannot tell) may have lost their bytes.
    let same_boot = boot_id.is_some() && resume.boot_id.as_deref() == boot_id;
    let mut restarted = 0;
    if !same_boot {
        for piece in resume.unsynced.pieces() {
            if resume.verified.has(piece) && !check.has(piece) {
                check.set(piece);
                restarted += 1;
            }
        }
    }
    let mut trusted = Bitfield::new(count);
    for piece in resume.verified.pieces().filter(|&p| !check.has(p)) {
        trusted.set(piece);
    }
    let mut notes = Vec::new();
    if changed > 0 {
        notes.push(format!("{changed} file(s) changed since the resume file"));
    }
    if restarted > 0 {
        notes.push(format!(
            "{restarted} piece(s) not yet flushed to disk when recorded, and the machine \
             restarted since"
        ));
    }
    let note = (!notes.is_empty()).then(|| notes.join("; "));
    Plan {
        trusted,
        check,
        note,
    }
}

fn matches_torrent(
    resume: Resume,
    info_hash: &[u8; 20],
    pieces: u32,
    files: usize,
) -> Result<Resume, ResumeError> {
    let why = if &resume.info_hash != info_hash {
        "info-hash differs"
    } else if resume.verified.len() != pieces {
        "piece count differs"
    } else if resume.files.len() != files {
        "file count differs"
    } else {
        return Ok(resume);
    };
    Err(ResumeError::OtherTorrent { why })
}

/// Reads and parses the resume file at `path`.
pub fn load(path: &Path) -> Result<Resume, ResumeError> {
    let io_error = |action| {
        move |source| ResumeError::Io {
            path: path.to_path_buf(),
            action,
            source,
        }
    };
    let meta = match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(ResumeError::Missing),
        other => other.map_err(io_error("read"))?,
    };
    if !meta.is_file() {
        return Err(ResumeError::NotOurs {
            path: path.to_path_buf(),
        });
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(malformed(path, "too large"));
    }
    let bytes = fs::read(path).map_err(io_error("read"))?;
    decode(&bytes).map_err(|why| malformed(path, &why))
}

fn malformed(path: &Path, why: &str) -> ResumeError {
    ResumeError::Malformed {
        path: path.to_path_buf(),
        why: why.to_string(),
    }
}

/// Parses a resume file's bytes; the error says what is wrong.
pub fn decode(bytes: &[u8]) -> Result<Resume, String> {
    let value = bencode::decode(bytes).map_err(|e| format!("bad bencode: {e:?}"))?;
    let int = |v: &Value, key: &str| {
        v.get(key)
            .and_then(Value::as_int)
            .ok_or_else(|| format!("no integer '{key}'"))
    };
    let version = int(&value, "version")?;
    if version != VERSION {
        return Err(format!("version {version}, expected {VERSION}"));
    }
    let info_hash: [u8; 20] = value
        .get("info-hash")
        .and_then(Value::as_bytes)
        .and_then(|b| b.try_into().ok())
        .ok_or("no 20-byte 'info-hash'")?;
    let recorded = int(&value, "pieces")?;
    let bits = value
        .get("verified")
        .and_then(Value::as_bytes)
        .ok_or("no 'verified' bitfield")?;
    let len = u32::try_from(recorded).map_err(|_| "bad 'pieces'".to_string())?;
    let verified = Bitfield::from_bytes(bits.to_vec(), len)
        .map_err(|e| format!("bad 'verified' bitfield: {e}"))?;
    let unchecked = match value.get("unchecked").map(Value::as_bytes) {
        None => Bitfield::new(len),
        Some(Some(bits)) => Bitfield::from_bytes(bits.to_vec(), len)
            .map_err(|e| format!("bad 'unchecked' bitfield: {e}"))?,
        Some(None) => return Err("'unchecked' is not a bitfield".into()),
    };
    let unsynced = match value.get("unsynced").map(Value::as_bytes) {
        None => Bitfield::new(len),
        Some(Some(bits)) => Bitfield::from_bytes(bits.to_vec(), len)
            .map_err(|e| format!("bad 'unsynced' bitfield: {e}"))?,
        Some(None) => return Err("'unsynced' is not a bitfield".into()),
    };
    let boot_id = match value.get("boot-id").map(Value::as_bytes) {
        None => None,
        Some(Some(bytes)) => Some(
            String::from_utf8(bytes.to_vec()).map_err(|_| "'boot-id' is not text".to_string())?,
        ),
        Some(None) => return Err("'boot-id' is not a string".into()),
    };
    let files = value
        .get("files")
        .and_then(Value::as_list)
        .ok_or("no 'files' list")?
        .iter()
        .map(|f| match f.as_dict() {
            Some([]) => Ok(None),
            Some(_) => Ok(Some(FileStamp {
                length: u64::try_from(int(f, "length")?).map_err(|_| "negative length")?,
                mtime: int(f, "mtime")?,
                mtime_ns: int(f, "mtime-ns")?,
            })),
            None => Err("a 'files' entry is not a dictionary".to_string()),
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Resume {
        info_hash,
        verified,
        unchecked,
        unsynced,
        boot_id,
        files,
    })
}

/// The resume file's bytes.
pub fn encode(resume: &Resume) -> Vec<u8> {
    let files = resume
        .files
        .iter()
        .map(|stamp| match stamp {
            None => OwnedValue::dict([]),
            Some(s) => OwnedValue::dict([
                ("length", OwnedValue::Int(s.length as i64)),
                ("mtime", OwnedValue::Int(s.mtime)),
                ("mtime-ns", OwnedValue::Int(s.mtime_ns)),
            ]),
        })
        .collect();
    let mut entries = vec![
        ("version", OwnedValue::Int(VERSION)),
        ("info-hash", OwnedValue::bytes(resume.info_hash.to_vec())),
        ("pieces", OwnedValue::Int(resume.verified.len() as i64)),
        (
            "verified",
            OwnedValue::bytes(resume.verified.as_bytes().to_vec()),
        ),
        (
            "unchecked",
            OwnedValue::bytes(resume.unchecked.as_bytes().to_vec()),
        ),
        (
            "unsynced",
            OwnedValue::bytes(resume.unsynced.as_bytes().to_vec()),
        ),
        ("files", OwnedValue::List(files)),
    ];
    if let Some(id) = &resume.boot_id {
        entries.push(("boot-id", OwnedValue::bytes(id.as_bytes().to_vec())));
    }
    OwnedValue::dict(entries).to_bytes()
}

/// Writes `resume` to `path` atomically: a temp file beside it, fsync, rename over the old
/// one, fsync of the folder. A crash at any moment leaves the old file or the new one.
pub fn save(path: &Path, resume: &Resume) -> Result<(), ResumeError> {
    let folder = path.parent().unwrap_or(Path::new("."));
    make_state_dir(folder)?;
    let io_error = |action, at: &Path| {
        let at = at.to_path_buf();
        move |source| ResumeError::Io {
            path: at,
            action,
            source,
        }
    };
    let temp = path.with_extension("resume.tmp");
    match fs::remove_file(&temp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            return Err(io_error("remove", &temp)(e));
        }
        _ => {}
    }
    // `create_new` (O_EXCL) never follows a symlink planted at `temp`.
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp)
        .map_err(io_error("create", &temp))?;
    file.write_all(&encode(resume))
        .map_err(io_error("write", &temp))?;
    file.sync_all().map_err(io_error("fsync", &temp))?;
    drop(file);
    fs::rename(&temp, path).map_err(io_error("rename", path))?;
    File::open(folder)
        .and_then(|dir| dir.sync_all())
        .map_err(io_error("fsync", folder))
}

/// Creates the state folder if needed; refuses a symlink or a non-folder there.
fn make_state_dir(folder: &Path) -> Result<(), ResumeError> {
    match fs::symlink_metadata(folder) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(ResumeError::NotOurs {
            path: folder.to_path_buf(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir(folder).map_err(|source| ResumeError::Io {
                path: folder.to_path_buf(),
                action: "create folder",
                source,
            })
        }
        Err(source) => Err(ResumeError::Io {
            path: folder.to_path_buf(),
            action: "inspect",
            source,
        }),
    }
}

#[cfg(test)]
mod tests;

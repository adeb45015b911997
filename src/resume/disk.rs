//! The resume file on disk: [`load`] reads one (refusing a symlink or an oversized file),
//! [`save`] replaces one atomically (temp file, fsync, rename, fsync of the folder), so a
//! crash at any moment leaves the old record or the new one. Nothing here follows a
//! symlink: not the state folder, not the temp file, not the record itself.

use super::{Resume, ResumeError, decode, encode};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// A resume file larger than this is refused without reading it.
const MAX_FILE_BYTES: u64 = 256 << 20;

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

/// Writes `resume` to `path` atomically (see [`write_atomically`]).
pub fn save(path: &Path, resume: &Resume) -> Result<(), ResumeError> {
    write_atomically(path, &encode(resume))
}

/// Writes `bytes` to `path` in the state folder atomically: a temp file beside it, fsync,
/// rename over the old one, fsync of the folder. A crash at any moment leaves the old file
/// or the new one. Creates the state folder if needed. (Also how a magnet link's metadata
/// is kept.)
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ResumeError> {
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
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    let temp = std::path::PathBuf::from(temp);
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
    file.write_all(bytes).map_err(io_error("write", &temp))?;
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
mod tests {
    use super::*;
    use crate::resume::STATE_DIR;
    use crate::resume::tests::sample;

    #[test]
    fn save_is_atomic_and_load_reads_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STATE_DIR).join("x.resume");
        assert!(matches!(load(&path), Err(ResumeError::Missing)));
        save(&path, &sample()).unwrap();
        save(&path, &sample()).unwrap();
        assert_eq!(load(&path).unwrap(), sample());
        assert!(!path.with_extension("resume.tmp").exists());
        fs::write(&path, b"garbage").unwrap();
        assert!(matches!(load(&path), Err(ResumeError::Malformed { .. })));
    }

    #[test]
    fn a_stale_temp_file_from_a_crash_mid_write_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STATE_DIR).join("x.resume");
        fs::create_dir(path.parent().unwrap()).unwrap();
        fs::write(path.with_extension("resume.tmp"), b"half a wri").unwrap();
        save(&path, &sample()).unwrap();
        assert_eq!(load(&path).unwrap(), sample());
    }

    #[test]
    fn symlinks_in_the_state_folder_are_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        // The state folder itself is a link pointing outside: no write through it.
        let state = dir.path().join(STATE_DIR);
        std::os::unix::fs::symlink(outside.path(), &state).unwrap();
        let path = state.join("x.resume");
        assert!(matches!(
            save(&path, &sample()),
            Err(ResumeError::NotOurs { .. })
        ));
        assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
        // A link planted at the temp name is replaced, not written through.
        fs::remove_file(&state).unwrap();
        fs::create_dir(&state).unwrap();
        let target = outside.path().join("victim");
        fs::write(&target, b"keep").unwrap();
        std::os::unix::fs::symlink(&target, path.with_extension("resume.tmp")).unwrap();
        save(&path, &sample()).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"keep");
        // A resume file that is a link is not read.
        fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(&target, &path).unwrap();
        assert!(matches!(load(&path), Err(ResumeError::NotOurs { .. })));
    }
}

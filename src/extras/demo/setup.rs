//! The demo's files (main thread): the work folder, a reproducible payload, and a torrent
//! for it made with the `create` code.

use super::DemoError;
use crate::extras::create::{self, Extras};
use crate::random::Rng;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// The payload's file name (and the torrent's name).
pub const PAYLOAD_NAME: &str = "demo.bin";
/// Seed of the payload's bytes: the same size gives the same payload on every machine.
const PAYLOAD_SEED: u64 = 0x5EED_DE30;

/// The files of one demo run.
#[derive(Debug)]
pub struct Files {
    /// Everything lives below this folder.
    pub root: PathBuf,
    /// True when `root` is ours to delete at the end (no `--keep`).
    pub temporary: bool,
    pub torrent: PathBuf,
    /// The seeder's folder, which holds the payload.
    pub seeder_dir: PathBuf,
    pub piece_count: u32,
}

impl Files {
    /// The folder of leecher `n` (1-based).
    pub fn leecher_dir(&self, n: usize) -> PathBuf {
        self.root.join(format!("leecher-{n}"))
    }

    /// The payload as leecher `n` (or the seeder, `None`) has it.
    pub fn payload(&self, leecher: Option<usize>) -> PathBuf {
        match leecher {
            Some(n) => self.leecher_dir(n).join(PAYLOAD_NAME),
            None => self.seeder_dir.join(PAYLOAD_NAME),
        }
    }

    /// Removes the work folder unless the user asked to keep it.
    pub fn clean_up(&self) {
        if self.temporary
            && let Err(error) = fs::remove_dir_all(&self.root)
        {
            log::warn!("could not remove {}: {error}", self.root.display());
        }
    }
}

/// Makes the work folder (`keep`, or a fresh one under the system's temporary folder),
/// the payload of `size` bytes, and a torrent announcing to `tracker_url` (with none, a
/// torrent with no `announce`: `--dht`). Leecher folders
/// left by an earlier `--keep` run are emptied, so every leecher starts from nothing.
pub fn make(
    keep: Option<&Path>,
    size: u64,
    leechers: usize,
    tracker_url: Option<&str>,
) -> Result<Files, DemoError> {
    let (root, temporary) = match keep {
        Some(dir) => (dir.to_path_buf(), false),
        None => {
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let name = format!("smalltorrent-demo-{}-{stamp}", std::process::id());
            (std::env::temp_dir().join(name), true)
        }
    };
    let io = |what: String| move |source| DemoError::Files { what, source };
    let seeder_dir = root.join("seeder");
    fs::create_dir_all(&seeder_dir).map_err(io(format!("create {}", seeder_dir.display())))?;
    let mut files = Files {
        torrent: root.join("demo.torrent"),
        root,
        temporary,
        seeder_dir,
        piece_count: 0,
    };
    for n in 1..=leechers {
        let dir = files.leecher_dir(n);
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(io(format!("empty {}", dir.display())))?;
        }
    }
    let payload = files.payload(None);
    write_payload(&payload, size).map_err(io(format!("write {}", payload.display())))?;

    let layout = create::scan(&payload, true).map_err(DemoError::Create)?;
    let piece_length = create::auto_piece_length(size);
    let hashes = create::hash_pieces(&layout.files, piece_length, size, |_| {})
        .map_err(DemoError::Create)?;
    files.piece_count = hashes.len() as u32;
    let extras = Extras {
        trackers: tracker_url.into_iter().map(String::from).collect(),
        comment: Some("smalltorrent demo payload".into()),
        created_by: Some(format!("smalltorrent {}", env!("CARGO_PKG_VERSION"))),
        ..Extras::default()
    };
    let torrent = create::build(&layout, piece_length, &hashes, &extras);
    fs::write(&files.torrent, torrent).map_err(io(format!("write {}", files.torrent.display())))?;
    Ok(files)
}

/// `size` pseudo-random bytes, the same for the same size.
fn write_payload(path: &Path, size: u64) -> std::io::Result<()> {
    let mut rng = Rng::with_seed(PAYLOAD_SEED);
    let mut out = BufWriter::new(fs::File::create(path)?);
    let mut chunk = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        rng.fill(&mut chunk[..n]);
        out.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_is_reproducible() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        write_payload(&a, 100_000).unwrap();
        write_payload(&b, 100_000).unwrap();
        let bytes = fs::read(&a).unwrap();
        assert_eq!(bytes.len(), 100_000);
        assert_eq!(bytes, fs::read(&b).unwrap());
        assert!(bytes.iter().any(|&b| b != bytes[0]));
    }
}

//! The fixture every swarm test starts from: a payload on disk, its .torrent (made by
//! mktorrent), and an opentracker that allows it.

use super::payload::{make_file, make_tree};
use super::torrent::{make_torrent, mktorrent};
use super::tracker::Opentracker;
use std::path::{Path, PathBuf};

pub struct Published {
    pub tracker: Opentracker,
    /// Holds everything below; removed last (fields drop in order, peers are locals).
    pub dir: tempfile::TempDir,
    /// The directory seeders serve from: it holds the torrent's file or top folder.
    pub data_dir: PathBuf,
    /// The payload itself (the single file, or the top folder of a multi-file torrent).
    pub payload: PathBuf,
    pub torrent: PathBuf,
    pub piece_len: u64,
}

impl Published {
    /// One file `payload.bin` of `size` bytes in pieces of 2^`piece_log2` bytes.
    pub fn single_file(size: u64, piece_log2: u32) -> Published {
        Published::new(piece_log2, |data_dir| {
            make_file(data_dir, "payload.bin", size, size)
        })
    }

    /// The nested tree of [`make_tree`] (empty files first, in the middle and last) in
    /// 32 KiB pieces, so pieces straddle file boundaries.
    pub fn multi_file() -> Published {
        Published::new(15, make_tree)
    }

    pub fn new(piece_log2: u32, make_payload: impl FnOnce(&Path) -> PathBuf) -> Published {
        let mut tracker = Opentracker::start();
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let payload = make_payload(&data_dir);
        let torrent = mktorrent(
            &payload,
            &tracker.announce_url(),
            piece_log2,
            &dir.path().join("test.torrent"),
        );
        tracker.allow(&torrent);
        Published {
            tracker,
            dir,
            data_dir,
            payload,
            torrent,
            piece_len: 1 << piece_log2,
        }
    }
}

impl Published {
    /// The folder `tree` holding `files` (path below it, size; reproducible bytes) in pieces
    /// of 2^`piece_log2` bytes, from 16 KiB (2^14, made by `transmission-create`, which
    /// leaves empty files out: give none) up (mktorrent).
    pub fn files(piece_log2: u32, files: &[(&str, u64)]) -> Published {
        let mut tracker = Opentracker::start();
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let payload = data_dir.join("tree");
        for (i, &(name, size)) in files.iter().enumerate() {
            make_file(&payload, name, size, 500 + i as u64);
        }
        let torrent = make_torrent(
            &payload,
            &tracker.announce_url(),
            piece_log2,
            &dir.path().join("test.torrent"),
        );
        tracker.allow(&torrent);
        Published {
            tracker,
            dir,
            data_dir,
            payload,
            torrent,
            piece_len: 1 << piece_log2,
        }
    }
}

//! Making .torrent files with the real `mktorrent`, reading their info-hash, and copying
//! one without its trackers.
//!
//! mktorrent 1.1 keeps empty files in multi-file torrents (as `length 0` entries, in sorted
//! path order), so it covers every layout the tests need; no libtorrent-made torrents.

use sha1::{Digest, Sha1};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `mktorrent -a ANNOUNCE -l PIECE_LEN_LOG2 -o OUT PATH` (`PATH` a file or a directory,
/// whose name becomes the torrent's name) and returns `out`.
pub fn mktorrent(path: &Path, announce_url: &str, piece_len_log2: u32, out: &Path) -> PathBuf {
    mktorrent_tiers(path, &[vec![announce_url]], piece_len_log2, out)
}

/// [`mktorrent`] with BEP 12 tiers: mktorrent makes one tier per `-a`, and a
/// comma-separated `-a` value is one tier of several trackers.
pub fn mktorrent_tiers(
    path: &Path,
    tiers: &[Vec<&str>],
    piece_len_log2: u32,
    out: &Path,
) -> PathBuf {
    let _ = fs::remove_file(out); // mktorrent refuses to overwrite
    let mut cmd = Command::new("mktorrent");
    for tier in tiers {
        cmd.args(["-a", &tier.join(",")]);
    }
    let result = cmd
        .args(["-l", &piece_len_log2.to_string(), "-o"])
        .arg(out)
        .arg(path)
        .output()
        .expect("cannot run mktorrent");
    assert!(
        result.status.success(),
        "mktorrent failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    out.to_path_buf()
}

/// [`info_hash`] in 40 lowercase hex digits, as a magnet link carries it.
pub fn info_hash_hex(torrent: &Path) -> String {
    info_hash(torrent)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The SHA-1 of the bencoded `info` dictionary, exactly as it appears in the file.
pub fn info_hash(torrent: &Path) -> [u8; 20] {
    let bytes = fs::read(torrent).unwrap_or_else(|e| panic!("read {}: {e}", torrent.display()));
    let span = info_span(&bytes).unwrap_or_else(|| panic!("no info dict in {}", torrent.display()));
    Sha1::digest(&bytes[span]).into()
}

/// A copy of `torrent` with nothing but its `info` (so the same info-hash, and no
/// tracker), written to `out`: for a peer that must learn its peers some other way.
pub fn without_trackers(torrent: &Path, out: &Path) -> PathBuf {
    let bytes = fs::read(torrent).unwrap_or_else(|e| panic!("read {}: {e}", torrent.display()));
    let span = info_span(&bytes).unwrap_or_else(|| panic!("no info dict in {}", torrent.display()));
    let mut copy = b"d4:info".to_vec();
    copy.extend_from_slice(&bytes[span]);
    copy.push(b'e');
    fs::write(out, copy).unwrap_or_else(|e| panic!("write {}: {e}", out.display()));
    out.to_path_buf()
}

/// The bencoded `info` dictionary of `torrent`, exactly as it appears in the file: the
/// metadata a magnet link's peers exchange (BEP 9).
pub fn info_dict(torrent: &Path) -> Vec<u8> {
    let bytes = fs::read(torrent).unwrap_or_else(|e| panic!("read {}: {e}", torrent.display()));
    let span = info_span(&bytes).unwrap_or_else(|| panic!("no info dict in {}", torrent.display()));
    bytes[span].to_vec()
}

/// Where the value of the top-level `info` key lies in a bencoded torrent.
fn info_span(b: &[u8]) -> Option<std::ops::Range<usize>> {
    if b.first() != Some(&b'd') {
        return None;
    }
    let mut at = 1;
    while b.get(at)? != &b'e' {
        let key_end = skip(b, at)?;
        let key = &b[at..key_end];
        let value_end = skip(b, key_end)?;
        if key.ends_with(b":info") && key.starts_with(b"4:") {
            return Some(key_end..value_end);
        }
        at = value_end;
    }
    None
}

/// The index just past the bencoded value that starts at `at`.
fn skip(b: &[u8], at: usize) -> Option<usize> {
    match b.get(at)? {
        b'i' => Some(at + b[at..].iter().position(|&c| c == b'e')? + 1),
        b'l' | b'd' => {
            let mut at = at + 1;
            while b.get(at)? != &b'e' {
                at = skip(b, at)?;
            }
            Some(at + 1)
        }
        b'0'..=b'9' => {
            let colon = at + b[at..].iter().position(|&c| c == b':')?;
            let len: usize = std::str::from_utf8(&b[at..colon]).ok()?.parse().ok()?;
            Some(colon + 1 + len)
        }
        _ => None,
    }
}

/// A torrent of `path` in pieces of 2^`piece_len_log2` bytes, for any size from 16 KiB
/// (2^14) up: mktorrent below 2^15 refuses, so those are made by `transmission-create`
/// (which leaves empty files out of a multi-file torrent; give it none).
pub fn make_torrent(path: &Path, announce_url: &str, piece_len_log2: u32, out: &Path) -> PathBuf {
    if piece_len_log2 >= 15 {
        return mktorrent(path, announce_url, piece_len_log2, out);
    }
    let _ = fs::remove_file(out);
    let kib = (1u64 << piece_len_log2) / 1024;
    let result = Command::new("transmission-create")
        .args(["-s", &kib.to_string(), "-t", announce_url, "-o"])
        .arg(out)
        .arg(path)
        .output()
        .expect("cannot run transmission-create");
    assert!(
        result.status.success(),
        "transmission-create failed: {}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    out.to_path_buf()
}

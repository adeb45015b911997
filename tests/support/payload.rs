//! Reproducible payloads, and checking that a download reproduced them.

use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Writes `size` pseudo-random bytes (xorshift64, so the same `seed` gives the same bytes) to
/// `dir/name`, creating parent directories; returns the path.
pub fn make_file(dir: &Path, name: &str, size: u64, seed: u64) -> PathBuf {
    let path = dir.join(name);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut out = fs::File::create(&path).unwrap();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut chunk = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        for word in chunk[..n].chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes()[..word.len()]);
        }
        out.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
    path
}

/// `len` pseudo-random bytes (xorshift64, one byte per step) for `seed`, to write where a
/// test wants data of its own (into a sparse file, say).
pub fn noise(len: u64, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Builds `dir/tree`, a multi-file payload meant for 32 KiB pieces (mktorrent's smallest): nested folders, sizes
/// that straddle piece boundaries, a file smaller than a block, and empty files first, in the
/// middle and last (in the sorted order mktorrent uses). Returns `dir/tree`.
pub fn make_tree(dir: &Path) -> PathBuf {
    let root = dir.join("tree");
    let files: &[(&str, u64)] = &[
        ("0-empty-first", 0),
        ("a.bin", 100_003),
        ("docs/readme.txt", 1_234),
        ("docs/deeper/still/deeper.bin", 65_536),
        ("docs/deeper/still/empty", 0),
        ("m/one-byte", 1),
        ("m/big.bin", 2_500_007),
        ("m/unaligned.bin", 16_383),
        ("z-empty-last", 0),
    ];
    for (i, &(name, size)) in files.iter().enumerate() {
        make_file(&root, name, size, 1000 + i as u64);
    }
    root
}

/// Copies `from` (a file or a directory tree) to `to`.
pub fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        fs::create_dir_all(to).unwrap();
        for entry in fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        fs::copy(from, to).unwrap();
    }
}

/// Asserts `actual` holds exactly the files of `expected` (a file, or a directory compared
/// recursively): same relative paths, empty files included, no extra files, same bytes.
/// The message names every missing, extra and differing file and the first differing offset.
pub fn assert_same_tree(expected: &Path, actual: &Path) {
    let problems = tree_differences(expected, actual);
    assert!(
        problems.is_empty(),
        "{} does not match {}:\n  {}",
        actual.display(),
        expected.display(),
        problems.join("\n  ")
    );
}

/// What [`assert_same_tree`] would complain about, one line per missing, extra or differing
/// file; empty when `actual` matches. For polling a download that is still in progress.
pub fn tree_differences(expected: &Path, actual: &Path) -> Vec<String> {
    differences(expected, actual, false)
}

/// [`tree_differences`], except that empty files of `expected` may be missing from `actual`:
/// for clients that never create them (Transmission 3.00).
pub fn tree_differences_but_empty_files(expected: &Path, actual: &Path) -> Vec<String> {
    differences(expected, actual, true)
}

fn differences(expected: &Path, actual: &Path, empty_files_optional: bool) -> Vec<String> {
    let want = list_files(expected);
    let got = list_files(actual);
    let mut problems = Vec::new();
    for rel in &want {
        if !got.contains(rel) {
            let empty = fs::metadata(at(expected, rel)).is_ok_and(|m| m.len() == 0);
            if empty && empty_files_optional {
                continue;
            }
            problems.push(format!("missing: {}", at(actual, rel).display()));
            continue;
        }
        let a = fs::read(at(expected, rel)).unwrap();
        // A client may rename or replace a file while we poll: report, do not panic.
        let b = match fs::read(at(actual, rel)) {
            Ok(bytes) => bytes,
            Err(e) => {
                problems.push(format!("unreadable: {}: {e}", at(actual, rel).display()));
                continue;
            }
        };
        if a != b {
            let first = a
                .iter()
                .zip(&b)
                .position(|(x, y)| x != y)
                .unwrap_or(a.len().min(b.len()));
            problems.push(format!(
                "differs: {} (expected {} bytes, got {}; first difference at byte {first})",
                rel.display(),
                a.len(),
                b.len()
            ));
        }
    }
    for rel in got.iter().filter(|rel| !want.contains(rel)) {
        problems.push(format!("unexpected extra file: {}", rel.display()));
    }
    problems
}

/// `root/rel`, or `root` itself for the empty `rel` of a single-file comparison.
fn at(root: &Path, rel: &Path) -> PathBuf {
    if rel.as_os_str().is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    }
}

/// Paths of all regular files under `root`, relative to it and sorted; `[""]` if `root` is a
/// file, so a single file compares like a one-file tree.
fn list_files(root: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    if root.is_file() {
        return vec![PathBuf::new()];
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// Waits until a file written now next to `file` gets a later mtime than `file` has, so that
/// a change made to `file` next is sure to change its mtime: the filesystem's clock ticks
/// coarsely, and a change within the tick of the last write would go unseen.
pub fn wait_until_mtime_can_change(file: &Path) {
    let meta = fs::metadata(file).unwrap();
    let before = (meta.mtime(), meta.mtime_nsec());
    let probe = file.with_file_name(".clock-probe");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        fs::write(&probe, b"tick").unwrap();
        let now = fs::metadata(&probe).unwrap();
        if (now.mtime(), now.mtime_nsec()) > before {
            fs::remove_file(&probe).unwrap();
            return;
        }
        assert!(Instant::now() < deadline, "the file clock does not advance");
        std::thread::sleep(Duration::from_millis(1));
    }
}

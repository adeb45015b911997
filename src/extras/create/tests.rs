use super::*;
use crate::metainfo::Metainfo;
use sha1::{Digest, Sha1};
use std::fs;
use std::path::Path;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

#[test]
fn auto_piece_length_aims_for_one_to_two_thousand_pieces() {
    #[rustfmt::skip]
    let table: &[(u64, u64)] = &[
        (1, 16 * KIB),                  // floor: one block
        (20 * MIB, 16 * KIB),           // 1280 pieces
        (64 * MIB, 64 * KIB),           // 1024 pieces
        (64 * MIB + 1, 64 * KIB),       // 1025 pieces
        (700 * MIB, 512 * KIB),         // 1400 pieces
        (1024 * MIB, MIB),              // 1024 pieces
        (40 * 1024 * MIB, 16 * MIB),    // 2560 pieces: ceiling
    ];
    for &(total, expected) in table {
        assert_eq!(u64::from(auto_piece_length(total)), expected, "{total}");
    }
    for total in (30..=34)
        .map(|log| 1u64 << log)
        .chain([12_345_678_901, 3 << 30])
    {
        let piece = u64::from(auto_piece_length(total));
        let count = total.div_ceil(piece);
        assert!(piece.is_power_of_two(), "{total}");
        assert!((1000..=2000).contains(&count), "{total}: {count} pieces");
    }
}

#[test]
fn piece_size_accepts_bytes_and_binary_units() {
    for (text, expected) in [
        ("16384", 16 * KIB),
        ("256K", 256 * KIB),
        ("256k", 256 * KIB),
        ("256KiB", 256 * KIB),
        ("1M", MIB),
        ("4MiB", 4 * MIB),
        ("64M", 64 * MIB),
    ] {
        assert_eq!(
            u64::from(parse_piece_size(text).unwrap()),
            expected,
            "{text}"
        );
    }
}

#[test]
fn piece_size_errors_say_what_is_wrong() {
    for (text, problem) in [
        ("8K", "smaller than 16 KiB"),
        ("0", "smaller than 16 KiB"),
        ("300K", "not a power of two"),
        ("128M", "larger than the 64 MiB"),
        ("99999999999999999999999", "expected a size"),
        ("18446744073709551615M", "larger than the 64 MiB"),
        ("1G", "expected a size"),
        ("-1M", "expected a size"),
        ("", "expected a size"),
        ("K", "expected a size"),
    ] {
        let message = parse_piece_size(text).unwrap_err().to_string();
        assert!(
            message.starts_with(&format!("--piece-size {text}: ")),
            "{message}"
        );
        assert!(message.contains(problem), "{text}: {message}");
    }
}

#[test]
fn too_many_pieces_asks_for_a_larger_piece_size() {
    assert_eq!(check_piece_count(MIB, 16 * 1024).unwrap(), 64);
    let error = check_piece_count(1 << 40, 16 * 1024)
        .unwrap_err()
        .to_string();
    assert!(error.contains("choose a larger --piece-size"), "{error}");
}

/// Writes `size` bytes (a simple pattern seeded by `seed`) to `root/rel`.
fn write(root: &Path, rel: &str, size: usize, seed: u8) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let bytes: Vec<u8> = (0..size)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect();
    fs::write(path, bytes).unwrap();
}

/// A folder with nested dirs, empty files, a hidden file and dir, and a symlink.
fn sample_tree(dir: &Path) -> PathBuf {
    let root = dir.join("share");
    write(&root, "b.bin", 40_000, 1);
    write(&root, "a-b", 10, 2);
    write(&root, "a/z.bin", 16_384, 3);
    write(&root, "a/empty", 0, 4);
    write(&root, "a/deeper/x", 5, 5);
    write(&root, ".hidden", 100, 6);
    write(&root, ".git/config", 7, 7);
    write(&root, "zz-empty", 0, 8);
    std::os::unix::fs::symlink(root.join("b.bin"), root.join("link")).unwrap();
    root
}

fn paths(layout: &Layout) -> Vec<String> {
    layout
        .files
        .iter()
        .map(|file| file.path.join("/"))
        .collect()
}

#[test]
fn a_folder_is_sorted_by_path_elements_with_hidden_and_empty_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = sample_tree(dir.path());
    let layout = scan(&root, true).unwrap();
    assert_eq!(layout.name, "share");
    assert!(!layout.single_file);
    assert_eq!(
        paths(&layout),
        [
            ".git/config",
            ".hidden",
            "a/deeper/x",
            "a/empty",
            "a/z.bin",
            "a-b",
            "b.bin",
            "zz-empty"
        ]
    );
    assert_eq!(layout.total_length, 7 + 100 + 5 + 16_384 + 10 + 40_000);
    assert_eq!(layout.skipped.len(), 1, "the symlink");
    assert!(layout.skipped[0].path.ends_with("link"));

    let visible = scan(&root, false).unwrap();
    assert_eq!(
        paths(&visible),
        [
            "a/deeper/x",
            "a/empty",
            "a/z.bin",
            "a-b",
            "b.bin",
            "zz-empty"
        ]
    );
}

#[test]
fn a_single_file_is_named_after_itself() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "one.iso", 1000, 1);
    let layout = scan(&dir.path().join("one.iso"), true).unwrap();
    assert!(layout.single_file);
    assert_eq!(
        (layout.name.as_str(), layout.total_length),
        ("one.iso", 1000)
    );
    let dot = scan(&dir.path().join("./."), true);
    assert!(dot.is_ok_and(|layout| !layout.name.is_empty() && layout.name != "."));
}

#[test]
fn scan_errors_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = scan(&dir.path().join("nope"), true).unwrap_err();
    assert!(matches!(missing, CreateError::PathMissing { .. }));
    assert!(missing.to_string().contains("nope"));

    fs::create_dir(dir.path().join("empty")).unwrap();
    let empty = scan(&dir.path().join("empty"), true).unwrap_err();
    assert!(
        empty.to_string().contains("has no file to share"),
        "{empty}"
    );

    write(dir.path(), "hidden-only/.x", 3, 1);
    let hidden = scan(&dir.path().join("hidden-only"), false).unwrap_err();
    assert!(matches!(hidden, CreateError::EmptyFolder { .. }));

    write(dir.path(), "zeros/a", 0, 1);
    let zeros = scan(&dir.path().join("zeros"), true).unwrap_err();
    assert!(
        zeros.to_string().contains("needs at least one byte"),
        "{zeros}"
    );
}

#[test]
fn pieces_span_files_and_skip_empty_ones() {
    let dir = tempfile::tempdir().unwrap();
    let root = sample_tree(dir.path());
    let layout = scan(&root, true).unwrap();
    let stream: Vec<u8> = layout
        .files
        .iter()
        .flat_map(|file| fs::read(&file.disk_path).unwrap())
        .collect();
    let piece = 16 * 1024;
    let expected: Vec<[u8; 20]> = stream
        .chunks(piece)
        .map(|chunk| Sha1::digest(chunk).into())
        .collect();
    let mut reports = Vec::new();
    let got = hash_pieces(&layout.files, piece as u32, layout.total_length, |done| {
        reports.push(done)
    })
    .unwrap();
    assert_eq!(got, expected);
    assert_eq!(reports.last(), Some(&layout.total_length));
}

#[test]
fn a_file_that_shrank_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let root = sample_tree(dir.path());
    let layout = scan(&root, true).unwrap();
    write(&root, "b.bin", 39_999, 1);
    let error = hash_pieces(&layout.files, 16384, layout.total_length, |_| {}).unwrap_err();
    assert!(error.to_string().contains("changed size"), "{error}");
}

#[test]
fn built_torrents_load_with_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let root = sample_tree(dir.path());
    let layout = scan(&root, true).unwrap();
    let pieces = hash_pieces(&layout.files, 16384, layout.total_length, |_| {}).unwrap();
    let extras = Extras {
        trackers: vec!["http://a/announce".into(), "udp://b:80".into()],
        web_seeds: vec!["http://web/seed/".into()],
        comment: Some("hello".into()),
        private: true,
        creation_date: Some(1_700_000_000),
        created_by: Some("smalltorrent test".into()),
    };
    let meta = Metainfo::from_bytes(&build(&layout, 16384, &pieces, &extras)).unwrap();
    assert_eq!(meta.name, "share");
    assert!(meta.multi_file && meta.private);
    assert_eq!(meta.pieces, pieces);
    assert_eq!(meta.trackers, [["http://a/announce"], ["udp://b:80"]]);
    assert_eq!(meta.url_list, ["http://web/seed/"]);
    assert_eq!(meta.comment.as_deref(), Some("hello"));
    assert_eq!(meta.creation_date, Some(1_700_000_000));
    assert_eq!(meta.created_by.as_deref(), Some("smalltorrent test"));
    let sizes: Vec<(String, u64)> = meta
        .files
        .iter()
        .map(|file| (file.path.display().to_string(), file.length))
        .collect();
    assert_eq!(sizes[0], ("share/.git/config".to_string(), 7));
    assert_eq!(sizes[3], ("share/a/empty".to_string(), 0));
    assert_eq!(sizes.len(), 8);
}

#[test]
fn urls_must_have_a_scheme_clients_know() {
    let with = |trackers: &[&str], web: &[&str]| Extras {
        trackers: trackers.iter().map(|s| s.to_string()).collect(),
        web_seeds: web.iter().map(|s| s.to_string()).collect(),
        ..Extras::default()
    };
    assert!(check_urls(&with(&["http://t/a", "udp://t:1"], &["https://w/"])).is_ok());
    let error = check_urls(&with(&["t.example/announce"], &[])).unwrap_err();
    assert!(error.to_string().contains("not a tracker URL"), "{error}");
    let error = check_urls(&with(&[], &["udp://w"])).unwrap_err();
    assert!(error.to_string().contains("not a web seed URL"), "{error}");
}

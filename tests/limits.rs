//! Hostile torrents against every limit of the parser: one row per limit, built with
//! `OwnedValue` (or raw bytes where bencode itself is the attack), each refused with an
//! error that names the field or the limit. See SECURITY notes in `src/metainfo/mod.rs`
//! and `src/bencode/mod.rs` for the values.

use smalltorrent::bencode::{self, Limits, OwnedValue};
use smalltorrent::metainfo::{MAX_FILES, MAX_PATH_DEPTH, MAX_PIECES, Metainfo};
use std::collections::BTreeMap;

type Dict = BTreeMap<Vec<u8>, OwnedValue>;

fn int(n: i64) -> OwnedValue {
    OwnedValue::Int(n)
}

fn bytes(b: &[u8]) -> OwnedValue {
    OwnedValue::bytes(b)
}

/// A valid single-file `info`: 40,000 bytes in 16 KiB pieces (3 hashes).
fn info() -> Dict {
    let mut info = Dict::new();
    info.insert(b"name".to_vec(), bytes(b"payload.bin"));
    info.insert(b"length".to_vec(), int(40_000));
    info.insert(b"piece length".to_vec(), int(16_384));
    info.insert(b"pieces".to_vec(), OwnedValue::Bytes(vec![7; 60]));
    info
}

/// The torrent `{announce, info}` with `edit` applied to `info`.
fn torrent(edit: impl FnOnce(&mut Dict)) -> Vec<u8> {
    let mut info = info();
    edit(&mut info);
    let mut root = Dict::new();
    root.insert(b"announce".to_vec(), bytes(b"http://t/a"));
    root.insert(b"info".to_vec(), OwnedValue::Dict(info));
    OwnedValue::Dict(root).to_bytes()
}

/// A multi-file `info` listing `files` (length, path elements), `piece length` 2^30 and
/// hashes for `pieces` pieces.
fn multi(files: Vec<(i64, Vec<&[u8]>)>, pieces: usize) -> impl FnOnce(&mut Dict) {
    move |info: &mut Dict| {
        info.remove(b"length".as_slice());
        info.insert(b"piece length".to_vec(), int(1 << 30));
        info.insert(b"pieces".to_vec(), OwnedValue::Bytes(vec![7; 20 * pieces]));
        let files = files.into_iter().map(|(length, path)| {
            let path = path.into_iter().map(bytes).collect();
            OwnedValue::dict([("length", int(length)), ("path", OwnedValue::List(path))])
        });
        info.insert(b"files".to_vec(), OwnedValue::List(files.collect()));
    }
}

fn set(key: &'static str, value: OwnedValue) -> impl FnOnce(&mut Dict) {
    move |info: &mut Dict| {
        info.insert(key.as_bytes().to_vec(), value);
    }
}

/// `depth` nested lists around an integer.
fn nested(depth: usize) -> Vec<u8> {
    let mut out = b"l".repeat(depth);
    out.extend_from_slice(b"i0e");
    out.extend(b"e".repeat(depth));
    out
}

/// The torrent with raw bencode `value` under the top-level key `x`.
fn with_raw_value(value: &[u8]) -> Vec<u8> {
    let valid = torrent(|_| {});
    let mut out = b"d1:x".to_vec();
    out.extend_from_slice(value);
    out.extend_from_slice(&valid[1..]);
    out
}

#[test]
fn the_valid_base_loads() {
    assert!(Metainfo::from_bytes(&torrent(|_| {})).is_ok());
    let fine = multi(vec![(1 << 40, vec![b"a"]), (0, vec![b"b"])], 1024);
    let meta = Metainfo::from_bytes(&torrent(fine)).unwrap();
    assert_eq!(meta.total_length, 1 << 40);
}

#[test]
fn each_limit_is_refused_with_an_error_naming_it() {
    let deep_path: Vec<&[u8]> = vec![b"d"; MAX_PATH_DEPTH + 1];
    let max = i64::MAX;
    #[rustfmt::skip]
    let rows: Vec<(&str, Vec<u8>, String)> = vec![
        // not a torrent at all
        ("empty file", Vec::new(), "invalid torrent: the file is empty".into()),
        ("an HTML page", b"<html>404</html>".to_vec(),
            "not a bencoded dictionary (is it a .torrent file?)".into()),
        // bencode itself
        ("nesting depth", with_raw_value(&nested(101)),
            "nesting deeper than 100 levels".into()),
        ("nesting depth is fine at 99", with_raw_value(&nested(98)), String::new()),
        ("string past the end", with_raw_value(b"1000000000000:abc"),
            "string of 1000000000000 bytes runs past the end of the input".into()),
        ("string length overflow", with_raw_value(b"99999999999999999999:abc"),
            "number too large".into()),
        ("integer overflow", with_raw_value(b"i9223372036854775808e"),
            "number too large".into()),
        // piece length
        ("piece length 0", torrent(set("piece length", int(0))),
            "'piece length' is missing or not a positive integer".into()),
        ("piece length negative", torrent(set("piece length", int(-16_384))),
            "'piece length' is missing or not a positive integer".into()),
        ("piece length absurd", torrent(set("piece length", int(1 << 40))),
            "'piece length' is larger than 1 GiB".into()),
        ("piece length i64::MAX", torrent(set("piece length", int(max))),
            "'piece length' is larger than 1 GiB".into()),
        ("piece length a string", torrent(set("piece length", bytes(b"16384"))),
            "'piece length' is missing or not a positive integer".into()),
        // piece count and the pieces string
        ("piece count", torrent(set("length", int(1 << 40))),
            format!("too many pieces (67108864; at most {MAX_PIECES})")),
        ("piece count times piece length overflows", torrent(multi(
            vec![(max, vec![b"a"]), (max, vec![b"b"])], 1)),
            "too many pieces (17179869184".into()),
        ("pieces not a multiple of 20", torrent(set("pieces", bytes(&[1; 59]))),
            "'pieces' is 59 bytes long, not a multiple of 20".into()),
        ("pieces too few", torrent(set("pieces", bytes(&[1; 40]))),
            "'pieces' has 2 hashes but 40000 bytes in pieces of 16384 need 3".into()),
        // sizes and offsets
        ("file length negative", torrent(set("length", int(-1))),
            "'length' of the torrent is missing or not a non-negative integer".into()),
        ("total length overflows u64", torrent(multi(
            vec![(max, vec![b"a"]), (max, vec![b"b"]), (max, vec![b"c"])], 1)),
            "'length' of the files add up to more than 2^64 bytes".into()),
        ("multi-file length negative", torrent(multi(vec![(-5, vec![b"a"])], 1)),
            "'length' of file 0 is missing or not a non-negative integer".into()),
        ("no data", torrent(set("length", int(0))),
            "'length' is 0 for every file".into()),
        // file list
        ("path depth", torrent(multi(vec![(1, deep_path)], 1)),
            format!("'path' of file 0 has more than {MAX_PATH_DEPTH} elements")),
        ("files empty", torrent(set("files", OwnedValue::List(vec![]))),
            "'files' is empty".into()),
        ("files not a list", torrent(set("files", int(3))),
            "'files' is not a list".into()),
        ("file entry not a dictionary", torrent(set("files", OwnedValue::List(vec![int(1)]))),
            "'files' entry 0 is not a dictionary".into()),
    ];
    for (label, input, expected) in rows {
        let outcome = Metainfo::from_bytes(&input).map(|_| ());
        if expected.is_empty() {
            assert!(outcome.is_ok(), "{label}: {outcome:?}");
            continue;
        }
        let message = outcome.expect_err(label).to_string();
        assert!(
            message.contains(&expected),
            "{label}: got {message:?}, want {expected:?}"
        );
    }
}

#[test]
fn file_count_is_capped() {
    // A million and one minimal entries: few enough values to pass the item limit.
    let mut files = b"5:filesl".to_vec();
    files.extend(b"de".repeat(MAX_FILES + 1));
    files.extend_from_slice(b"e");
    let mut input = b"d4:infod".to_vec();
    input.extend_from_slice(&files);
    input.extend_from_slice(b"4:name1:a12:piece lengthi16384e6:pieces0:ee");
    let message = Metainfo::from_bytes(&input).unwrap_err().to_string();
    assert!(
        message.contains(&format!("'files' has more than {MAX_FILES} entries")),
        "{message}"
    );
}

#[test]
fn item_count_is_capped() {
    let limit = Limits::default().max_items;
    let mut value = b"l".to_vec();
    value.extend(b"0:".repeat(limit));
    value.push(b'e');
    let message = Metainfo::from_bytes(&with_raw_value(&value))
        .unwrap_err()
        .to_string();
    assert!(
        message.contains(&format!("more than {limit} values")),
        "{message}"
    );
    let small = Limits {
        max_depth: 100,
        max_items: 3,
    };
    assert!(bencode::decode_with(b"li1ei2ee", small).is_ok());
    assert!(bencode::decode_with(b"li1ei2ei3ee", small).is_err());
}

#[test]
fn torrent_file_size_is_capped_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.torrent");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(smalltorrent::metainfo::MAX_TORRENT_FILE_SIZE + 1)
        .unwrap(); // sparse: costs no disk
    let message = Metainfo::from_file(&path).unwrap_err().to_string();
    assert!(message.contains("is larger than 64 MiB"), "{message}");
}

//! The real-world corpus (libtorrent's test torrents and bencode cases, in the repository's
//! `data/torrents/`, or `$SMALLTORRENT_CORPUS`) against the parser.
//!
//! Every row of `EXPECTATIONS.tsv` has an entry in [`TORRENTS`]: refused files must fail
//! with an error naming the reason, loaded ones must load (v2-only ones may be refused
//! with the v2 error) and pass the checks written next to them. Every row of
//! `BENCODE_CASES.tsv` has an entry in [`BENCODE_CASES`] or [`generated_bencode_cases`].

use smalltorrent::bencode::{self, Limits, Value};
use smalltorrent::metainfo::{FileKind, Metainfo};
use smalltorrent::random::Rng;
use std::path::{Component, Path, PathBuf};

fn corpus_dir() -> PathBuf {
    let dir = std::env::var_os("SMALLTORRENT_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/data/torrents").into());
    assert!(
        dir.join("EXPECTATIONS.tsv").is_file(),
        "corpus not found at {} (set SMALLTORRENT_CORPUS)",
        dir.display()
    );
    dir
}

/// Rows of a TSV file after the header, split into columns.
fn tsv_rows(name: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(corpus_dir().join(name)).unwrap();
    let rows = text.lines().skip(1).filter(|line| !line.is_empty());
    rows.map(|line| line.split('\t').map(String::from).collect())
        .collect()
}

fn load(file: &str) -> Result<Metainfo, String> {
    Metainfo::from_file(&corpus_dir().join(file)).map_err(|e| e.to_string())
}

const V2: &str = "BitTorrent v2 is not supported";

/// What we expect of one corpus file.
enum Expect {
    /// Loads, and passes the check.
    Load(fn(&Metainfo)),
    /// A v2-only torrent that libtorrent loads: we refuse it with the v2 error.
    V2Only,
    /// Refused; the error text contains this.
    Reject(&'static str),
}
use Expect::*;

fn no_check(_: &Metainfo) {}

fn paths(meta: &Metainfo) -> Vec<String> {
    let to_text = |file: &smalltorrent::metainfo::FileEntry| file.path.display().to_string();
    meta.files.iter().map(to_text).collect()
}

fn symlink_target(meta: &Metainfo, index: usize) -> String {
    match &meta.files[index].kind {
        FileKind::Symlink { target } => target.display().to_string(),
        other => panic!("file {index} is {other:?}, not a symlink"),
    }
}

#[rustfmt::skip]
const TORRENTS: &[(&str, Expect)] = &[
    ("base.torrent", Load(|m| assert_eq!((m.total_length, m.pieces.len()), (425, 1)))),
    ("large.torrent", Load(|m| assert_eq!((m.total_length, m.pieces.len()), (5_242_880_000, 5000)))),
    ("large_piece_size.torrent", Load(|m| assert_eq!(m.piece_length, 32767 * 0x4000))),
    ("single_multi_file.torrent", Load(|m| assert_eq!(paths(m), ["temp/foo/bar"]))),
    ("unordered.torrent", Load(no_check)),
    ("duplicate_files.torrent", Load(|m| assert_eq!(paths(m), ["temp/foo/bar.txt", "temp/foo/bar.1.txt"]))),
    ("collection.torrent", Load(no_check)),
    ("collection2.torrent", Load(no_check)),
    ("creation_date.torrent", Load(|m| assert_eq!(m.creation_date, Some(1234567)))),
    ("dht_nodes.torrent", Load(no_check)),
    ("no_creation_date.torrent", Load(|m| assert_eq!(m.creation_date, None))),
    ("similar.torrent", Load(no_check)),
    ("similar2.torrent", Load(no_check)),
    ("pad_file.torrent", Load(|m| {
        assert_eq!(m.files.len(), 2);
        assert_eq!((&m.files[0].kind, &m.files[1].kind), (&FileKind::Regular, &FileKind::Pad));
    })),
    ("pad_file_no_path.torrent", Load(|m| {
        assert_eq!(paths(m), ["temp/foo/bar.txt", "temp/.pad/2124"]);
        assert_eq!(m.files[1].kind, FileKind::Pad);
    })),
    ("sample.torrent", Load(|m| {
        assert_eq!(paths(m), ["sample/text_file2.txt", "sample/.____padding_file/0", "sample/text_file.txt"]);
        assert_eq!(m.files[1].kind, FileKind::Pad);
        assert_eq!(m.comment.as_deref(), Some("sample comment"));
    })),
    ("absolute_filename.torrent", Load(|m| assert_eq!(paths(m), ["temp/abcde", "temp/foobar"]))),
    ("backslash_path.torrent", Load(|m| assert_eq!(paths(m), ["temp/_/_/bar"]))),
    ("empty_path.torrent", Load(|m| assert_eq!(paths(m), ["temp/_"]))),
    ("empty_path_multi.torrent", Load(|m| assert_eq!(paths(m), ["temp/abcde", "temp/_", "temp/_.1"]))),
    ("hidden_parent_path.torrent", Load(|m| assert_eq!(paths(m), ["temp/foo......bar/bar"]))),
    ("invalid_directory_name.torrent", Load(|m| assert_eq!(paths(m), ["test2/_/foo", "test2/_/foo.1"]))),
    ("invalid_filename.torrent", Load(|m| assert_eq!(m.files.len(), 2))),
    ("invalid_filename2.torrent", Load(|m| assert_eq!(m.files.len(), 3))),
    ("invalid_name2.torrent", Load(|m| assert_eq!(m.name, "b61560c2918f463768cd122b6d2fdd47b77bdb35"))),
    ("invalid_name3.torrent", Load(|m| assert_eq!(m.name, "foobar "))),
    ("long_name.torrent", Load(|m| assert!(m.name.len() <= 240 && m.name.starts_with("abcdefghij")))),
    ("parent_path.torrent", Load(|m| assert_eq!(paths(m), ["temp/bar"]))),
    ("slash_path.torrent", Load(|m| assert_eq!(paths(m), ["temp/_/_/bar"]))),
    ("slash_path2.torrent", Load(|m| assert_eq!(paths(m), ["temp/abc....def/_/bar"]))),
    ("slash_path3.torrent", Load(|m| assert_eq!(paths(m), ["temp....abc"]))),
    ("v2_invalid_filename.torrent", V2Only),
    ("v2_invalid_filename2.torrent", V2Only),
    ("overlapping_symlinks.torrent", Load(|m| {
        assert!(m.files.len() > 3);
        for (i, leaf) in ["Headers", "Resources", "SDL2"].iter().enumerate() {
            assert_eq!(symlink_target(m, i), format!("SDL2.framework/Versions/Current/{leaf}"));
        }
    })),
    ("symlink1.torrent", Load(|m| {
        assert_eq!(m.files.len(), 2);
        assert_eq!(symlink_target(m, 1), "temp/a/b/bar");
    })),
    ("symlink2.torrent", Load(|m| {
        assert_eq!(m.files.len(), 5);
        assert_eq!(symlink_target(m, 0), "Some.framework/Versions/A/SDL2");
        assert_eq!(symlink_target(m, 4), "Some.framework/Versions/A");
    })),
    ("symlink_filtered_path.torrent", Load(|m| {
        assert_eq!(paths(m)[0], "temp/a/_/bar");
        assert_eq!(symlink_target(m, 1), "temp/a/_/bar");
    })),
    ("symlink_zero_size.torrent", Load(|m| {
        assert_eq!(m.files.len(), 2);
        assert_eq!(symlink_target(m, 1), "temp/a/b/bar");
    })),
    ("v2_symlinks.torrent", V2Only),
    ("duplicate_web_seeds.torrent", Load(|m| assert_eq!(m.url_list.len(), 3))),
    ("empty_httpseed.torrent", Load(|m| assert!(m.url_list.is_empty()))),
    ("httpseed.torrent", Load(no_check)),
    ("url_list.torrent", Load(no_check)),
    ("url_list2.torrent", Load(no_check)),
    ("url_list3.torrent", Load(no_check)),
    ("url_seed.torrent", Load(|m| assert_eq!(m.url_list, ["http://test.com/file"]))),
    ("url_seed_multi.torrent", Load(|m| assert_eq!(m.url_list, ["http://test.com/file"]))),
    ("url_seed_multi_single_file.torrent", Load(|m| assert_eq!(m.url_list, ["http://test.com/file/temp/foo/bar.txt"]))),
    ("url_seed_multi_space.torrent", Load(|m| assert_eq!(m.url_list, ["http://test.com/test file/foo bar"]))),
    ("url_seed_multi_space_nolist.torrent", Load(|m| assert_eq!(m.url_list, ["http://test.com/test file/foo bar"]))),
    ("whitespace_url.torrent", Load(|m| assert_eq!(m.trackers, [["udp://test.com/announce"]]))),
    ("empty-files-1.torrent", Load(no_check)),
    ("empty-files-2.torrent", Load(no_check)),
    ("empty-files-3.torrent", Load(no_check)),
    ("empty-files-4.torrent", Load(no_check)),
    ("empty-files-5.torrent", Load(no_check)),
    ("v2.torrent", Load(|m| {
        assert_eq!(paths(m), ["test64K"]);
        assert_eq!(m.total_length, 65536);
    })),
    ("v2_empty_file.torrent", Load(|m| assert_eq!(m.files[1].length, 0))),
    ("v2_hybrid-missing-tailpad.torrent", Load(no_check)),
    ("v2_hybrid.torrent", Load(no_check)),
    ("v2_incomplete_piece_layer.torrent", V2Only),
    ("v2_multipiece_file.torrent", Load(|m| {
        assert_eq!(paths(m), ["test1MB"]);
        assert_eq!(m.total_length, 1048576);
    })),
    ("v2_multiple_files.torrent", V2Only),
    ("v2_no_piece_layers.torrent", V2Only),
    ("v2_only.torrent", V2Only),
    ("v2_overlong_integer.torrent", Reject("leading zero")),
    ("v2_unordered_files.torrent", Reject(V2)),
    ("duplicate_files2.torrent", Reject("too many duplicate file names")),
    ("many_pieces.torrent", Reject("too many pieces")),
    ("v2_deep_recursion.torrent", Reject("nesting")),
    ("v2_large_offset.torrent", Reject(V2)),
    ("negative_file_size.torrent", Reject("'length'")),
    ("negative_size.torrent", Reject("'length'")),
    ("unaligned_pieces.torrent", Reject("'pieces'")),
    ("v2_large_file.torrent", Reject(V2)),
    ("zero.torrent", Reject("'length'")),
    ("zero2.torrent", Reject("'length'")),
    ("bad_name.torrent", Reject("duplicate dictionary key")),
    ("invalid_file_size.torrent", Reject("'length'")),
    ("invalid_info.torrent", Reject("'info'")),
    ("invalid_name.torrent", Reject("'name'")),
    ("invalid_path_list.torrent", Reject("'path'")),
    ("invalid_piece_len.torrent", Reject("'piece length'")),
    ("invalid_pieces.torrent", Reject("'pieces'")),
    ("invalid_symlink.torrent", Reject("'symlink path'")),
    ("missing_path_list.torrent", Reject("'path'")),
    ("missing_piece_len.torrent", Reject("'piece length'")),
    ("negative_piece_len.torrent", Reject("'piece length'")),
    ("no_files.torrent", Reject("'files'")),
    ("no_name.torrent", Reject("'name'")),
    ("string.torrent", Reject("not a bencoded dictionary")),
    ("v2_empty_filename.torrent", Reject(V2)),
    ("v2_invalid_file.torrent", Reject("'file tree'")),
    ("v2_bad_file_alignment.torrent", Reject("piece boundary")),
    ("v2_invalid_pad_file.torrent", Reject(V2)),
    ("v2_invalid_piece_layer.torrent", Reject(V2)),
    ("v2_invalid_piece_layer_root.torrent", Reject(V2)),
    ("v2_invalid_piece_layer_size.torrent", Reject(V2)),
    ("v2_invalid_root_hash.torrent", Reject(V2)),
    ("v2_mismatching_metadata.torrent", Reject("'file tree'")),
    ("v2_missing_file_root_invalid_symlink.torrent", Reject(V2)),
    ("v2_no_power2_piece.torrent", Reject(V2)),
    ("v2_non_multiple_piece_layer.torrent", Reject(V2)),
    ("v2_piece_layer_invalid_file_hash.torrent", Reject(V2)),
    ("v2_piece_size.torrent", Reject(V2)),
    ("v2_unknown_piece_layer_entry.torrent", Reject(V2)),
    ("v2_zero_root.torrent", Reject(V2)),
    ("v2_zero_root_small.torrent", Reject(V2)),
];

#[test]
fn every_expectation_row_is_met() {
    let rows = tsv_rows("EXPECTATIONS.tsv");
    assert_eq!(rows.len(), 108);
    assert_eq!(rows.len(), TORRENTS.len(), "one table entry per row");
    for row in &rows {
        let (file, verdict) = (row[0].as_str(), row[1].as_str());
        let Some((_, expect)) = TORRENTS.iter().find(|(name, _)| *name == file) else {
            panic!("{file} is not in TORRENTS");
        };
        match (expect, load(file)) {
            (Load(check), Ok(meta)) if verdict == "load" => check(&meta),
            (V2Only, Err(error)) if verdict == "load" => assert!(error.contains(V2), "{file}"),
            (Reject(word), Err(error)) if verdict == "reject" => {
                assert!(error.contains(word), "{file}: {error:?} lacks {word:?}")
            }
            (_, outcome) => panic!("{file} ({verdict}): unexpected {outcome:?}"),
        }
    }
}

#[test]
fn loaded_paths_are_relative_and_normal() {
    for (file, expect) in TORRENTS {
        let Load(_) = expect else { continue };
        let meta = load(file).unwrap();
        let symlinks = meta.files.iter().filter_map(|f| match &f.kind {
            FileKind::Symlink { target } => Some(target.as_path()),
            _ => None,
        });
        let all = meta.files.iter().map(|f| f.path.as_path()).chain(symlinks);
        for path in all {
            assert!(is_safe(path), "{file}: {}", path.display());
            assert!(path.starts_with(&meta.name) || !meta.multi_file, "{file}");
        }
        let mut offset = 0;
        for entry in &meta.files {
            assert_eq!(entry.offset, offset, "{file}: offsets are consecutive");
            offset += entry.length;
        }
        assert_eq!(offset, meta.total_length, "{file}");
        assert_eq!(
            meta.geometry().piece_count as usize,
            meta.pieces.len(),
            "{file}"
        );
    }
}

fn is_safe(path: &Path) -> bool {
    path.components().count() > 0
        && path.components().all(|c| match c {
            Component::Normal(part) => part.to_str().is_some_and(|s| s.len() <= 250),
            _ => false,
        })
}

#[test]
fn info_hashes_match_sha1_of_the_raw_info_bytes() {
    // Computed independently: Python's hashlib over the `info` slice of each file.
    let golden = [
        ("base.torrent", "c0fda1edafdbdbb96443424e0b3899af7159d10e"),
        ("large.torrent", "c415e173dcc3069a96e6f852a684fffae97e5372"),
        (
            "unordered.torrent",
            "1e44709a0ec082a6a5ea4837e450ae08d3f4394e",
        ),
        (
            "large_piece_size.torrent",
            "c6ded8d0c98469b7b0694e6b4e4c8a066b3a4995",
        ),
        ("v2.torrent", "c14199bbec64d0e9e439aa3b6b7639e666b86eca"),
        ("sample.torrent", "58d8d15a4eb3bd9afabc9cee2564f78192777edb"),
    ];
    for (file, hash) in golden {
        assert_eq!(load(file).unwrap().info_hash_hex(), hash, "{file}");
    }
}

#[test]
fn decodable_torrents_encode_back_to_the_same_bytes() {
    for (file, _) in TORRENTS {
        let bytes = std::fs::read(corpus_dir().join(file)).unwrap();
        let Ok((value, used)) = bencode::decode_prefix(&bytes) else {
            continue;
        };
        let mut out = Vec::new();
        bencode::encode(&value, &mut out);
        assert!(out == bytes[..used], "{file} does not round-trip");
    }
}

/// Does libtorrent's verdict hold for us? Our choices for its soft errors are in the
/// `bencode` module docs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Verdict {
    Accept,
    Refuse,
}
use Verdict::*;

#[rustfmt::skip]
const BENCODE_CASES: &[(&str, &[u8], Verdict)] = &[
    ("premature_e", b"e", Refuse),
    ("negative_length_prefix", b"-10:foobar", Refuse),
    ("overflow_length_prefix", b"18446744073709551615:foobar", Refuse),
    ("close_overflow_length_prefix", b"99999999:foobar", Refuse),
    ("overflow_length_prefix2", b"199999999:foobar", Refuse),
    ("leading_zero_length_prefix (soft: we refuse)", b"06:foobar", Refuse),
    ("leading_zero_length_prefix", b"0:", Accept),
    ("nodigit_int", b"ie", Refuse),
    ("minus_int", b"i-e", Refuse),
    ("interior_minus_int", b"i35412-5633e", Refuse),
    ("int_overflow (lazy in libtorrent: we refuse)", b"i18446744073709551615e", Refuse),
    ("int_overflow2", b"i184467440737095516154e", Refuse),
    ("int_truncated", b"i-", Refuse),
    ("int_leading_zero (soft: we refuse)", b"i01e", Refuse),
    ("int_leading_zero", b"i0e", Accept),
    ("64bit_int", b"i9223372036854775807e", Accept),
    ("64bit_int_negative", b"i-9223372036854775807e", Accept),
    ("int_invalid_digit", b"i92337203t854775807e", Refuse),
    ("unexpected_eof", b"l2:..", Refuse),
    ("unexpected_eof2", b"l2:..0", Refuse),
    ("expected_string", b"di2ei0ee", Refuse),
    ("unexpected_eof_dict_key", b"d1000:..e", Refuse),
    ("unexpected_eof_dict_key2", b"d1000:", Refuse),
    ("expected_string_dict_key2", b"df00:", Refuse),
    ("unexpected_eof_int", b"i", Refuse),
    ("unexpected_eof_int2", b"i10", Refuse),
    ("expected_colon_dict", b"d1000", Refuse),
    ("empty_string", b"", Refuse),
    ("partial_string", b"100:..", Refuse),
    ("parse_length_overflow", b"d1:a1919191010:11111", Refuse),
    ("parse_length_overflow", b"d2143289344:a4:aaaae", Refuse),
    ("parse_length_overflow", b"d214328934114:a4:aaaae", Refuse),
    ("parse_length_overflow", b"d9205357638345293824:a4:aaaae", Refuse),
    ("parse_length_overflow", b"d1:a9205357638345293824:11111", Refuse),
    ("dict_unordered_keys (soft: we accept)", b"d2:abi1e2:aai2ee", Accept),
    ("dict_unordered_keys (soft: we accept)", b"d2:bai1e2:aai2ee", Accept),
    ("dict_unordered_keys (soft: we accept)", b"d2:aai1e1:ai2ee", Accept),
    ("dict_unordered_keys", b"d1:ai1e2:aai2ee", Accept),
    ("dict_duplicate_key (soft: we refuse)", b"d2:aai1e2:aai2ee", Refuse),
];

/// The cases too big to write out, with the limits they are decoded under.
fn generated_bencode_cases() -> Vec<(&'static str, Vec<u8>, Limits, Verdict)> {
    let default = Limits::default();
    let string_of = |n: usize| [format!("{n}:").into_bytes(), vec![b'_'; n]].concat();
    let many_items = [b"l".to_vec(), b"0:".repeat(5119), b"e".to_vec()].concat();
    vec![
        (
            "depth_limit",
            [b"l".repeat(1024), b"e".repeat(1024)].concat(),
            default,
            Refuse,
        ),
        (
            "item_limit",
            many_items,
            Limits {
                max_items: 1000,
                ..default
            },
            Refuse,
        ),
        (
            "long_string_99999999",
            string_of(99_999_999),
            default,
            Accept,
        ),
        (
            "long_string_100000000",
            string_of(100_000_000),
            default,
            Accept,
        ),
    ]
}

#[test]
fn bencode_cases_match_our_verdicts() {
    let rows = tsv_rows("BENCODE_CASES.tsv");
    let generated = generated_bencode_cases();
    assert_eq!(rows.len(), BENCODE_CASES.len() + generated.len());
    let statics = BENCODE_CASES
        .iter()
        .map(|&(n, i, v)| (n, i.to_vec(), Limits::default(), v));
    for (name, input, limits, verdict) in statics.chain(generated) {
        let outcome = bencode::decode_with(&input, limits);
        let got = if outcome.is_ok() { Accept } else { Refuse };
        assert_eq!(got, verdict, "{name}: {:?}", outcome.map(|_| ()));
        if let (Ok(value), true) = (outcome, input.len() < 1 << 20) {
            let mut out = Vec::new();
            bencode::encode(&value, &mut out);
            assert!(out == input, "{name} does not round-trip");
        }
    }
}

#[test]
fn bencode_errors_say_what_is_wrong() {
    let error = |input: &[u8]| bencode::decode(input).unwrap_err().to_string();
    assert!(error(b"i01e").contains("leading zero"));
    assert!(error(b"d1:ai1e1:ai2ee").contains("duplicate dictionary key 'a'"));
    assert!(error(&b"l".repeat(200)).contains("nesting deeper than 100"));
    assert!(error(b"i9223372036854775808e").contains("too large"));
    assert!(error(b"5:ab").contains("runs past the end"));
    assert_eq!(
        bencode::decode(b"i-9223372036854775808e"),
        Ok(Value::Int(i64::MIN))
    );
}

/// Random and mutated inputs must never panic, hang or allocate without bound.
#[test]
fn mutated_inputs_never_panic() {
    let mut seeds: Vec<Vec<u8>> = TORRENTS
        .iter()
        .map(|(file, _)| std::fs::read(corpus_dir().join(file)).unwrap())
        .filter(|bytes| bytes.len() <= 4096)
        .collect();
    seeds.extend(BENCODE_CASES.iter().map(|(_, input, _)| input.to_vec()));
    let mut rng = Rng::with_seed(0x5eed);
    for round in 0..100_000 {
        let input = if round % 4 == 0 {
            random_bencodeish(&mut rng)
        } else {
            mutate(&seeds[rng.below(seeds.len())], &mut rng)
        };
        let _ = bencode::decode(&input);
        let _ = Metainfo::from_bytes(&input);
    }
}

/// Bytes drawn mostly from bencode's alphabet, so that the decoder gets deep.
fn random_bencodeish(rng: &mut Rng) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ilde0123456789:-";
    let length = rng.below(64);
    let pick = |rng: &mut Rng| match rng.below(8) {
        0 => rng.next_u64() as u8,
        _ => ALPHABET[rng.below(ALPHABET.len())],
    };
    (0..length).map(|_| pick(rng)).collect()
}

/// A copy of `seed` with a few random edits.
fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(5) {
            0 if at < bytes.len() => bytes[at] = rng.next_u64() as u8,
            1 if at < bytes.len() => bytes[at] = b"ilde0123456789:-"[rng.below(16)],
            2 => bytes.truncate(at),
            3 => bytes.insert(at, b"ilde09:"[rng.below(7)]),
            _ if at < bytes.len() => {
                let end = (at + rng.below(16)).min(bytes.len());
                bytes.drain(at..end);
            }
            _ => {}
        }
    }
    bytes
}

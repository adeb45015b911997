use super::layout::{Layout, Source, Span, encode};
use super::*;
use crate::bencode::OwnedValue;

/// A torrent of `files` (path elements, length, attr) in 16 KiB pieces, named "demo".
fn torrent(files: &[(&[&str], i64, &str)]) -> Metainfo {
    let entries = files.iter().map(|(path, length, attr)| {
        let elements = path.iter().map(|e| OwnedValue::bytes(*e)).collect();
        let mut entry = vec![
            ("length", OwnedValue::Int(*length)),
            ("path", OwnedValue::List(elements)),
        ];
        if !attr.is_empty() {
            entry.push(("attr", OwnedValue::bytes(*attr)));
        }
        OwnedValue::dict(entry)
    });
    let total: i64 = files.iter().map(|f| f.1).sum();
    let pieces = (total as u64).div_ceil(16384) as usize;
    let info = OwnedValue::dict([
        ("files", OwnedValue::List(entries.collect())),
        ("name", OwnedValue::bytes("demo")),
        ("piece length", OwnedValue::Int(16384)),
        ("pieces", OwnedValue::bytes(vec![7; 20 * pieces])),
    ]);
    let root = OwnedValue::dict([("info", info)]);
    Metainfo::from_bytes(&root.to_bytes()).unwrap()
}

fn single_file() -> Metainfo {
    let info = OwnedValue::dict([
        ("length", OwnedValue::Int(40000)),
        ("name", OwnedValue::bytes("big file.iso")),
        ("piece length", OwnedValue::Int(16384)),
        ("pieces", OwnedValue::bytes(vec![7; 60])),
    ]);
    let root = OwnedValue::dict([("info", info)]);
    Metainfo::from_bytes(&root.to_bytes()).unwrap()
}

fn url(span: &Span<'_>) -> String {
    match span.source {
        Source::Url(url) => url.clone(),
        Source::Zeros => "zeros".into(),
    }
}

#[test]
fn a_single_file_url_is_the_file_unless_it_ends_in_a_slash() {
    let meta = single_file();
    let spans = |base| {
        let layout = Layout::new(base, &meta);
        let spans = layout.spans(100, 50);
        spans.iter().map(url).collect::<Vec<_>>()
    };
    assert_eq!(spans("http://h/x.iso"), ["http://h/x.iso"]);
    assert_eq!(spans("http://h/dir/"), ["http://h/dir/big%20file.iso"]);
}

#[test]
fn a_multi_file_url_gets_the_name_and_each_path_element_encoded() {
    let meta = torrent(&[(&["sub", "a b#?.txt"], 20000, ""), (&["c"], 12768, "")]);
    for base in ["http://h/seed/", "http://h/seed"] {
        let layout = Layout::new(base, &meta);
        let spans = layout.spans(0, 32768);
        assert_eq!(
            spans.iter().map(url).collect::<Vec<_>>(),
            [
                "http://h/seed/demo/sub/a%20b%23%3F.txt",
                "http://h/seed/demo/c"
            ]
        );
    }
}

#[test]
fn a_stretch_is_cut_at_file_boundaries_and_pad_files_are_zeros() {
    let meta = torrent(&[
        (&["a"], 10000, ""),
        (&["empty"], 0, ""),
        (&[".pad", "6384"], 6384, "p"),
        (&["b"], 30000, ""),
    ]);
    let layout = Layout::new("http://h/", &meta);
    let spans = layout.spans(9000, 10000);
    let cut: Vec<(String, u64, u64)> = spans.iter().map(|s| (url(s), s.start, s.length)).collect();
    assert_eq!(
        cut,
        [
            ("http://h/demo/a".to_string(), 9000, 1000),
            ("zeros".to_string(), 0, 6384),
            ("http://h/demo/b".to_string(), 0, 2616),
        ]
    );
    assert_eq!(spans[2].file_length, 30000);
}

#[test]
fn encoding_keeps_only_unreserved_bytes() {
    assert_eq!(encode("aZ09-._~"), "aZ09-._~");
    assert_eq!(encode("é /%"), "%C3%A9%20%2F%25");
}

#[test]
fn runs_break_where_the_stream_has_a_gap() {
    let geometry = Geometry::new(4 * 16384 + 100, 32768);
    let b = |piece, index| geometry.block(piece, index);
    let blocks = [b(0, 1), b(1, 0), b(1, 1), b(2, 0)];
    let cut = runs(&geometry, &blocks);
    assert_eq!(cut, [vec![b(0, 1), b(1, 0), b(1, 1), b(2, 0)]]);
    let gap = [b(0, 0), b(1, 1), b(2, 0)];
    assert_eq!(
        runs(&geometry, &gap),
        [vec![b(0, 0)], vec![b(1, 1), b(2, 0)]]
    );
    assert!(runs(&geometry, &[]).is_empty());
}

#[test]
fn backoff_doubles_to_its_cap() {
    let waits: Vec<u64> = [1, 2, 3, 8, 30].map(|n| backoff(n).as_secs()).to_vec();
    assert_eq!(waits, [1, 2, 4, 120, 120]);
}

#[test]
fn blame_strikes_a_web_seed_only_when_it_alone_sent_the_piece() {
    let status = Arc::new(Status {
        key: FIRST_KEY,
        url: "http://h/".into(),
        strikes: AtomicU32::new(0),
    });
    let seeds = WebSeeds {
        seeds: vec![status.clone()],
        saver: None,
        stop: None,
    };
    seeds.blame(&[FIRST_KEY, 3]);
    seeds.blame(&[3]);
    assert_eq!(status.strikes.load(Ordering::Relaxed), 0);
    seeds.blame(&[FIRST_KEY]);
    assert_eq!(status.strikes.load(Ordering::Relaxed), 1);
}

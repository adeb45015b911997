//! `--trace FILE` against a real peer: a download from a libtorrent seeder leaves a JSONL
//! transcript with the protocol's opening sequence for that peer, and `trace-summary`
//! prints it.

mod support;

use support::*;

/// The messages every download from a seeder must go through, in this order (other
/// messages may come between them). libtorrent and smalltorrent both speak the Fast
/// extension (BEP 6), so a seeder's bitfield is a `have_all`.
const OPENING: [(&str, &str); 5] = [
    ("in", "have_all"),
    ("out", "interested"),
    ("in", "unchoke"),
    ("out", "request"),
    ("in", "piece"),
];

/// A trace line's string field `key` (enough for our flat, unescaped fields).
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!("\"{key}\":\""))? + key.len() + 4;
    let len = line[start..].find('"')?;
    Some(&line[start..start + len])
}

/// True if `sequence` contains `wanted` in order (as a subsequence).
fn in_order(sequence: &[(String, String)], wanted: &[(&str, &str)]) -> bool {
    let mut wanted = wanted.iter().peekable();
    for (dir, msg) in sequence {
        if wanted.peek().is_some_and(|(d, m)| d == dir && m == msg) {
            wanted.next();
        }
    }
    wanted.peek().is_none()
}

#[test]
fn a_trace_of_a_download_from_libtorrent_shows_the_opening_sequence() {
    let mut tracker = Opentracker::start();
    let dir = tempfile::tempdir().unwrap();
    let data = make_file(&dir.path().join("data"), "payload.bin", 2 << 20, 3);
    let torrent = mktorrent(
        &data,
        &tracker.announce_url(),
        16,
        &dir.path().join("t.torrent"),
    );
    tracker.allow(&torrent);
    let _seeder = Seeder::libtorrent(
        &tracker,
        &torrent,
        data.parent().unwrap(),
        LtOptions::on(ip(2)),
    );
    let out = dir.path().join("out");
    let trace = dir.path().join("trace.jsonl");
    let output = run_smalltorrent(
        [
            torrent.as_os_str(),
            "-d".as_ref(),
            out.as_os_str(),
            "-q".as_ref(),
            "--trace".as_ref(),
            trace.as_os_str(),
        ],
        secs(60),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_same_tree(&data, &out.join("payload.bin"));

    let text = std::fs::read_to_string(&trace).unwrap();
    // Every line is JSON, by a parser that is not ours.
    let check = std::process::Command::new("python3")
        .args([
            "-c",
            "import json,sys; [json.loads(l) for l in open(sys.argv[1])]",
        ])
        .arg(&trace)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // The seeder's messages, in order.
    let seeder = text
        .lines()
        .filter(|line| line.contains("\"msg\":"))
        .filter_map(|line| field(line, "peer"))
        .find(|peer| peer.starts_with("127.0.0.2:"))
        .unwrap_or_else(|| panic!("no message with 127.0.0.2 in:\n{text}"))
        .to_string();
    let sequence: Vec<(String, String)> = text
        .lines()
        .filter(|line| field(line, "peer") == Some(seeder.as_str()))
        .filter_map(|line| Some((field(line, "dir")?.into(), field(line, "msg")?.into())))
        .collect();
    assert!(in_order(&sequence, &OPENING), "{sequence:?}");
    assert!(text.contains("\"state\":\"peer_choking\",\"value\":false"));
    assert!(text.contains("\"event\":\"piece_completed\""));
    assert!(!text.contains("\"data\""), "block data must not be traced");

    let summary = run_smalltorrent(
        [
            "trace-summary".as_ref(),
            trace.as_os_str(),
            "--peer".as_ref(),
            seeder.as_ref(),
        ],
        secs(10),
    );
    let table = String::from_utf8_lossy(&summary.stdout);
    assert!(summary.status.success(), "{table}");
    let rows: Vec<(String, String)> = table
        .lines()
        .filter_map(|line| {
            let dir = if line.contains("→ out ") {
                "out"
            } else if line.contains("← in ") {
                "in"
            } else {
                return None;
            };
            let msg = line.split_whitespace().nth(3)?;
            Some((dir.to_string(), msg.to_string()))
        })
        .collect();
    assert!(in_order(&rows, &OPENING), "{table}");
    assert!(
        table.contains("request ×"),
        "runs of requests collapse: {table}"
    );
}

#[test]
fn trace_summary_names_the_line_that_is_not_json() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("bad.jsonl");
    std::fs::write(
        &trace,
        "{\"t\":0,\"event\":\"trace_start\"}\n{\"t\":1,\"peer\":\"a\",\"dir\":\"in\"\n",
    )
    .unwrap();
    let output = run_smalltorrent(["trace-summary".as_ref(), trace.as_os_str()], secs(10));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("bad.jsonl line 2: not a trace line"),
        "{stderr}"
    );

    let missing = dir.path().join("missing.jsonl");
    let output = run_smalltorrent(["trace-summary".as_ref(), missing.as_os_str()], secs(10));
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot read"));
}

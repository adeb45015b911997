//! `smalltorrent demo`: a whole swarm on loopback (tracker, seeder, leechers) in one
//! command. Each test runs the binary and reads its final table.

mod support;

use std::process::Output;
use support::*;

/// The number in `leechers' upload: N bytes`.
fn leechers_upload(stdout: &str) -> u64 {
    let line = stdout
        .lines()
        .find(|line| line.starts_with("leechers' upload: "))
        .unwrap_or_else(|| panic!("no upload line in:\n{stdout}"));
    line["leechers' upload: ".len()..]
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("bad upload line: {line}"))
}

/// Runs the demo and checks it succeeded with every leecher complete; returns its stdout.
fn demo(args: &[&str], leechers: usize) -> String {
    let output: Output = run_smalltorrent(
        ["demo"].iter().chain(args).copied().collect::<Vec<_>>(),
        secs(120),
    );
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "demo failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let expected = format!("{leechers} of {leechers} leechers complete");
    assert!(stdout.contains(&expected), "{stdout}");
    for n in 1..=leechers {
        let row = stdout
            .lines()
            .find(|line| line.starts_with(&format!("leecher {n} ")) && line.contains("127.0.0."))
            .unwrap_or_else(|| panic!("no row for leecher {n}:\n{stdout}"));
        assert!(row.contains(" yes "), "leecher {n} incomplete: {row}");
    }
    stdout
}

#[test]
fn three_leechers_complete_and_serve_each_other() {
    let stdout = demo(&["--size", "8M", "--leechers", "3"], 3);
    assert!(leechers_upload(&stdout) > 0, "{stdout}");
    assert!(stdout.contains("the seeder uploaded"), "{stdout}");
}

#[test]
fn growth_adds_leechers_one_by_one() {
    let output = run_smalltorrent(
        ["demo", "--size", "4M", "--leechers", "3", "--growth"],
        secs(120),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    // Late leechers are shown waiting to join (plain output: stderr is not a terminal).
    assert!(
        stderr.contains("leecher 3  127.0.0.5  joins in"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("3 of 3 leechers complete"), "{stdout}");
}

#[test]
fn keep_leaves_every_copy_identical_to_the_payload() {
    let dir = tempfile::tempdir().unwrap();
    let keep = dir.path().join("swarm");
    let keep_arg = keep.to_str().unwrap();
    let stdout = demo(&["--size", "3M", "--leechers", "2", "--keep", keep_arg], 2);
    assert!(stdout.contains("files kept in"), "{stdout}");
    let payload = std::fs::read(keep.join("seeder/demo.bin")).unwrap();
    assert_eq!(payload.len(), 3 << 20);
    assert!(keep.join("demo.torrent").is_file());
    for n in 1..=2 {
        let copy = keep.join(format!("leecher-{n}/demo.bin"));
        assert!(
            std::fs::read(&copy).unwrap() == payload,
            "{} differs",
            copy.display()
        );
    }
    // A second run in the same folder starts the leechers from nothing again.
    demo(&["--size", "3M", "--leechers", "2", "--keep", keep_arg], 2);
    assert_same_tree(
        &keep.join("seeder/demo.bin"),
        &keep.join("leecher-1/demo.bin"),
    );
}

#[test]
fn dht_runs_the_swarm_with_no_tracker() {
    let dir = tempfile::tempdir().unwrap();
    let keep = dir.path().join("swarm");
    let keep_arg = keep.to_str().unwrap();
    let args = [
        "--dht",
        "--size",
        "4M",
        "--leechers",
        "3",
        "--keep",
        keep_arg,
    ];
    let stdout = demo(&args, 3);
    // No tracker: the torrent announces nowhere, and the demo says where peers met.
    let torrent = std::fs::read(keep.join("demo.torrent")).unwrap();
    assert!(
        !torrent.windows(b"announce".len()).any(|w| w == b"announce"),
        "the --dht torrent names a tracker"
    );
    assert!(
        stdout.contains("no tracker: the peers met through the dht node 127.0.0.1:"),
        "{stdout}"
    );
    // Each leecher's DHT found a peer (the seeder announced before any leecher started).
    let found = stdout
        .lines()
        .skip_while(|line| !line.starts_with("found through the dht: "))
        .collect::<Vec<_>>()
        .join("\n");
    for n in 1..=3 {
        let label = format!("leecher {n} ");
        let count = found
            .split_once(&label)
            .and_then(|(_, rest)| rest.split([',', '\n']).next())
            .and_then(|count| count.trim().parse::<usize>().ok())
            .unwrap_or_else(|| panic!("no dht count for leecher {n}:\n{stdout}"));
        assert!(
            count >= 1,
            "leecher {n} found no peer through the dht:\n{stdout}"
        );
    }
}

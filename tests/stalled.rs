//! The `stalled:` clause (issue 18), against real processes on loopback: a download with
//! no piece verified for 30 s says why on its plain progress line (stderr is a pipe here),
//! and `--give-up` says the same.
//!
//! * A smalltorrent seeder whose copy of two pieces is corrupt: once the rest is fetched
//!   the leecher names those two pieces as held by no connected peer, and logs them at
//!   info level.
//! * No peer at all (`--peer` at a closed port) and a dead tracker: the clause says no
//!   peer is connected and what the tracker answered, and so does the give-up error.
//! * Peers that claim every piece but choke us forever, or unchoke us and never answer a
//!   request (scripted peers, `HostilePeer`: no real client misbehaves on demand).
//! * A magnet link whose only tracker is dead: no peer to fetch the metadata from.

mod support;

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use support::smalltorrent::listening_addr;
use support::*;

const PIECE: u64 = 1 << 16;

/// An HTTP tracker URL where nothing listens.
fn dead_tracker() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}/announce")
}

#[test]
fn pieces_no_peer_has_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = make_file(&data, "payload.bin", 20 * PIECE + 100, 18);
    let torrent = mktorrent(&file, &dead_tracker(), 16, &dir.path().join("t.torrent"));
    let partial = dir.path().join("partial");
    copy_tree(&data, &partial);
    let mut damaged = OpenOptions::new()
        .write(true)
        .open(partial.join("payload.bin"))
        .unwrap();
    for piece in [3, 7] {
        damaged.seek(SeekFrom::Start(piece * PIECE + 10)).unwrap();
        damaged.write_all(b"not the right bytes").unwrap();
    }
    drop(damaged);
    // With the tracker dead, a `--peer` (at a closed port) keeps the seeder from giving up.
    let closed = format!("127.0.0.1:{}", free_port());
    let args = [torrent.as_os_str(), "-s".as_ref(), partial.as_os_str()];
    let more = ["--bind", "127.0.0.2", "--port", "0", "--peer", &closed];
    let cmd = smalltorrent_command(args.into_iter().chain(more.iter().map(|a| a.as_ref())));
    let mut seeder = Proc::spawn("smalltorrent seeder", cmd);
    seeder.wait_until(secs(30), "listening", |p| {
        listening_addr(&p.stderr()).is_some()
    });
    let addr = listening_addr(&seeder.stderr()).unwrap().to_string();

    let out = dir.path().join("out");
    let mut cmd = smalltorrent_command([
        torrent.as_os_str(),
        "-d".as_ref(),
        out.as_os_str(),
        "--peer".as_ref(),
        addr.as_ref(),
    ]);
    cmd.env("RUST_LOG", "info");
    let mut leecher = Proc::spawn("smalltorrent leecher", cmd);
    let clause = "stalled: 2 pieces (3, 7) held by no connected peer";
    leecher.wait_until(secs(55), clause, |p| {
        p.stderr()
            .lines()
            .any(|l| l.contains("% of ") && l.ends_with(clause))
    });
    let log = leecher.stderr();
    assert!(log.contains("pieces no connected peer has: 3, 7"), "{log}");
    assert_eq!(
        log.matches("pieces no connected peer has").count(),
        1,
        "{log}"
    );
}

#[test]
fn no_peer_and_a_dead_tracker_are_named_and_give_up_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let file = make_file(&dir.path().join("data"), "payload.bin", 4 * PIECE, 19);
    let tracker = dead_tracker();
    let torrent = mktorrent(&file, &tracker, 16, &dir.path().join("t.torrent"));
    let closed = format!("127.0.0.1:{}", free_port());
    let out = dir.path().join("out");
    let args = [torrent.as_os_str(), "-d".as_ref(), out.as_os_str()];
    let more = ["--peer", &closed, "--give-up", "42"];
    let cmd = smalltorrent_command(args.into_iter().chain(more.iter().map(|a| a.as_ref())));
    let mut leecher = Proc::spawn("smalltorrent leecher", cmd);
    let status = leecher
        .wait_exit(secs(58))
        .unwrap_or_else(|why| panic!("{why}"));
    let log = leecher.stderr();
    assert!(!status.success(), "{log}");
    let clause = format!("stalled: no peer connected; trackers: {tracker} ");
    let progress = log
        .lines()
        .find(|l| l.contains("% of ") && l.contains(&clause));
    assert!(
        progress.is_some(),
        "no progress line with {clause:?}:\n{log}"
    );
    let give_up = log.lines().find(|l| l.contains("none connected in 42 s"));
    assert!(
        give_up.is_some_and(|l| l.contains(&clause)),
        "the give-up line lacks {clause:?}:\n{log}"
    );
}

/// A torrent of 4 pieces, scripted peers playing `behaviours`, and a download of it that
/// dials them (its tracker is dead); waits for a progress line ending with `clause` and
/// returns the leecher's stderr.
fn stalled_by(behaviours: &[Behaviour], clause: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = make_file(&dir.path().join("data"), "payload.bin", 4 * PIECE, 20);
    let torrent = mktorrent(&file, &dead_tracker(), 16, &dir.path().join("t.torrent"));
    let facts = TorrentFacts::new(&torrent, &file, PIECE);
    let peers: Vec<HostilePeer> = (0..)
        .zip(behaviours)
        .map(|(n, &b)| HostilePeer::listen(ip(70 + n), b, facts.clone()))
        .collect();
    let out: PathBuf = dir.path().join("out");
    let mut args = vec![torrent.into_os_string(), "-d".into(), out.into_os_string()];
    for peer in &peers {
        args.extend(["--peer".into(), peer.addr().to_string().into()]);
    }
    let mut leecher = Proc::spawn("smalltorrent leecher", smalltorrent_command(args));
    leecher.wait_until(secs(55), clause, |p| {
        p.stderr()
            .lines()
            .any(|l| l.contains("% of ") && l.ends_with(clause))
    });
    assert!(peers.iter().all(|p| p.accepted() > 0));
    leecher.stderr()
}

#[test]
fn a_peer_that_chokes_us_forever_is_named() {
    // One scripted peer: two would share a peer id, and the second would be closed as
    // the same peer connected twice.
    let clause = "stalled: the only peer chokes us";
    let log = stalled_by(&[Behaviour::ChokeForever], clause);
    assert!(!log.contains("held by no connected peer"), "{log}");
}

#[test]
fn peers_that_unchoke_and_send_nothing_are_named() {
    let clause = "stalled: 1 peer unchoking us but no piece completes";
    stalled_by(&[Behaviour::UnchokeNeverSend], clause);
}

#[test]
fn a_magnet_with_no_peer_for_its_metadata_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let tracker = dead_tracker();
    let link = format!("magnet:?xt=urn:btih:{}&tr={tracker}", "ab".repeat(20));
    let closed = format!("127.0.0.1:{}", free_port());
    let out = dir.path().join("out");
    let args = [link.as_ref(), "-d".as_ref(), out.as_os_str()];
    let more = ["--peer", &closed, "--give-up", "40"];
    let cmd = smalltorrent_command(args.into_iter().chain(more.iter().map(|a| a.as_ref())));
    let mut leecher = Proc::spawn("smalltorrent magnet", cmd);
    let status = leecher
        .wait_exit(secs(58))
        .unwrap_or_else(|why| panic!("{why}"));
    let log = leecher.stderr();
    assert!(!status.success(), "{log}");
    let clause = format!("stalled: fetching metadata from 0 peers; trackers: {tracker} ");
    assert!(
        log.lines()
            .any(|l| l.contains(&clause) && !l.contains("none connected")),
        "no status line with {clause:?}:\n{log}"
    );
    let give_up = log.lines().find(|l| l.contains("none connected in 40 s"));
    assert!(
        give_up.is_some_and(|l| l.contains(&clause)),
        "the give-up line lacks {clause:?}:\n{log}"
    );
    assert!(
        !out.exists()
            || std::fs::read_dir(&out)
                .unwrap()
                .all(|e| { e.unwrap().file_name() == ".smalltorrent" })
    );
}

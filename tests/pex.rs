//! Peer exchange (BEP 11, `ut_pex`) with libtorrent on loopback, both ways. In each test
//! one peer must find a libtorrent seeder S it was never told of: it has no tracker (a copy
//! of the torrent without one), and its only peer is a leecher connected to S, whose PEX
//! message is the one way to learn S's address.
//!
//! * smalltorrent learns S from a libtorrent leecher: it downloads from S.
//! * a libtorrent leecher learns S from smalltorrent: it connects to S, and says it learnt
//!   of it by PEX (`lt_leech.py --print-peers`).
//!
//! S is held to 256 KiB/s, so the leechers are still leeching (and connected to S) when the
//! PEX messages go: libtorrent closes a connection between two seeds, and lists only the
//! peers it is connected to. S itself speaks no PEX (`lt_seed.py --no-pex`): told of the
//! leecher by the other peer's PEX, it would dial the leecher first, and the leecher's
//! connection to S would be S's doing.

mod support;

use std::net::SocketAddrV4;
use std::path::PathBuf;
use support::smalltorrent::listening_addr;
use support::*;

const SIZE: u64 = 4 << 20;
const PIECE_LOG2: u32 = 16;
const SEEDER_RATE: u32 = 256 * 1024;

/// A libtorrent seeder S on 127.0.0.`seeder_ip`, known to the tracker, and the torrent two
/// ways. The tests run side by side: each gets its own addresses and its own payload
/// (`seed`), or their swarms would be one (one info-hash) and their PEX messages mix.
struct Swarm {
    dir: tempfile::TempDir,
    payload: PathBuf,
    /// The torrent with its tracker, for S (which must announce) and a peer that may use it.
    torrent: PathBuf,
    /// The same torrent without a tracker, for the peer that must find S by PEX.
    trackerless: PathBuf,
    seeder: Seeder,
    _tracker: Opentracker,
}

fn swarm(seeder_ip: u8, seed: u64) -> Swarm {
    let mut tracker = Opentracker::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let payload = make_file(&data, "payload.bin", SIZE, seed);
    let torrent = mktorrent(
        &payload,
        &tracker.announce_url(),
        PIECE_LOG2,
        &dir.path().join("t.torrent"),
    );
    tracker.allow(&torrent);
    let trackerless = without_trackers(&torrent, &dir.path().join("trackerless.torrent"));
    let options = LtOptions {
        upload_rate: SEEDER_RATE,
        ..LtOptions::on(ip(seeder_ip))
    };
    let seeder = Seeder::libtorrent_with(&tracker, &torrent, &data, options, &["--no-pex"]);
    Swarm {
        dir,
        payload,
        torrent,
        trackerless,
        seeder,
        _tracker: tracker,
    }
}

#[test]
fn smalltorrent_finds_a_seeder_through_a_libtorrent_leechers_pex() {
    let swarm = swarm(2, 11);
    let seeder = swarm.seeder.addr();
    let mut leecher = LibtorrentLeecher::start_with(
        &swarm.torrent,
        &swarm.dir.path().join("lt"),
        ip(3),
        None,
        &["--peer", &seeder.to_string(), "--print-peers"],
    );
    // The seeder may dial it first (it learns of it from the tracker): either way will do.
    leecher.wait_connected_to(*seeder.ip(), secs(30));
    let out = swarm.dir.path().join("out");
    let trace = swarm.dir.path().join("trace.jsonl");
    let leecher_addr = leecher.addr().to_string();
    let output = run_smalltorrent(
        [
            swarm.trackerless.as_os_str(),
            "-d".as_ref(),
            out.as_os_str(),
            "-q".as_ref(),
            "--bind".as_ref(),
            "127.0.0.4".as_ref(),
            "--port".as_ref(),
            "0".as_ref(),
            "--peer".as_ref(),
            leecher_addr.as_ref(),
            "--trace".as_ref(),
            trace.as_os_str(),
        ],
        secs(120),
    );
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "smalltorrent failed:\n{log}");
    assert_same_tree(&swarm.payload, &out.join("payload.bin"));
    let heard = pex_messages(&trace, "in");
    assert!(
        heard.iter().any(|m| m.peer == leecher_addr && m.added >= 1),
        "no ut_pex from the libtorrent leecher adding a peer: {heard:?}\n{log}"
    );
    assert!(
        has_message(&trace, &seeder.to_string(), "in", "piece"),
        "no block from the seeder {seeder}, which only PEX named: {heard:?}\n{log}"
    );
}

#[test]
fn a_libtorrent_leecher_finds_a_seeder_through_smalltorrents_pex() {
    let swarm = swarm(5, 12);
    let seeder = swarm.seeder.addr();
    let out = swarm.dir.path().join("out");
    let trace = swarm.dir.path().join("trace.jsonl");
    let mut command = smalltorrent_command([
        swarm.trackerless.as_os_str(),
        "-d".as_ref(),
        out.as_os_str(),
        "--seed".as_ref(),
        "--bind".as_ref(),
        "127.0.0.6".as_ref(),
        "--port".as_ref(),
        "0".as_ref(),
        "--peer".as_ref(),
        seeder.to_string().as_ref(),
        "--trace".as_ref(),
        trace.as_os_str(),
    ]);
    command.env("RUST_LOG", "smalltorrent=debug");
    let mut ours = Proc::spawn("smalltorrent 127.0.0.6", command);
    let connected = format!("peer {seeder}: handshake done");
    ours.wait_until(secs(30), "a connection to the seeder", |p| {
        p.stderr().contains(&connected)
    });
    let listening = listening_addr(&ours.stderr()).expect("a 'listening on' line");
    let ours_addr = SocketAddrV4::new(ip(6), listening.port());
    let mut leecher = LibtorrentLeecher::start_with(
        &swarm.trackerless,
        &swarm.dir.path().join("lt"),
        ip(7),
        None,
        &["--peer", &ours_addr.to_string(), "--print-peers"],
    );
    let source = leecher.wait_for_peer(seeder, secs(40));
    assert_eq!(
        source,
        "pex",
        "libtorrent connected to the seeder, but not through PEX\n{}",
        leecher.report()
    );
    // The trace is complete once smalltorrent has ended.
    let stopped = ours.stop_with("INT", secs(10));
    assert!(stopped.is_ok(), "{stopped:?}");
    let told = pex_messages(&trace, "out");
    assert!(
        told.iter()
            .any(|m| m.peer.starts_with("127.0.0.7:") && m.added >= 1),
        "no ut_pex to the libtorrent leecher adding a peer: {told:?}\n{}",
        ours.report()
    );
}

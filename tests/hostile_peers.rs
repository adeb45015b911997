//! Issue 6, the download side: smalltorrent downloads next to a peer that misbehaves on
//! purpose ([`HostilePeer`], dialled through `--peer`), with an honest libtorrent seeder
//! (held to 1 MiB/s, so the liar surely gets asked) in the same swarm.
//!
//! Every test requires the download to complete byte-identical and reads smalltorrent's
//! log (`RUST_LOG=smalltorrent=debug`) for the line that names the hostile peer and why it
//! was dropped, banned or ignored. Payload: 2 MiB + 9 bytes in 64 KiB pieces (33 pieces,
//! so the bitfield has 7 spare bits).

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

const SIZE: u64 = 2 * 1024 * 1024 + 9;
const PIECE_LOG2: u32 = 16;

/// What one download next to a hostile peer left behind.
struct Run {
    /// smalltorrent's stderr.
    log: String,
    elapsed: Duration,
    /// The hostile peer, still listening (its counters are final: the client is gone).
    hostile: HostilePeer,
}

impl Run {
    /// Asserts a log line names the hostile peer's address and contains `text`.
    fn assert_logged(&self, text: &str) {
        let peer = format!("peer {}", self.hostile.addr());
        assert!(
            self.log
                .lines()
                .any(|l| l.contains(&peer) && l.contains(text)),
            "no log line with {peer:?} and {text:?}:\n{}",
            self.log
        );
        assert!(!self.log.contains("panicked"), "{}", self.log);
    }

    /// Asserts the client dropped the hostile peer for the first block it answered with,
    /// named exactly as sent. Which block that is depends on the picker (random for the
    /// first pieces): a 16 KiB one mostly, but one time in 33 the 9-byte last piece.
    fn assert_dropped_for_its_first_block(&self) {
        let sent = self.hostile.first_block_sent().unwrap_or_else(|| {
            panic!(
                "the hostile peer was never asked for a block:\n{}",
                self.log
            )
        });
        eprintln!("first block sent: {sent:?}");
        self.assert_logged(&format!(
            "protocol violation: sent {} bytes at offset {} of piece {}, which we never requested",
            sent.length, sent.offset, sent.piece
        ));
    }
}

/// Downloads the payload with an honest seeder and a `behaviour` peer; checks the result.
fn against(behaviour: Behaviour) -> Run {
    against_with(behaviour, &[])
}

/// [`against`] with more arguments for smalltorrent.
fn against_with(behaviour: Behaviour, extra: &[&str]) -> Run {
    let mut tracker = Opentracker::start();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let payload = make_file(&data_dir, "payload.bin", SIZE, 6);
    let torrent = dir.path().join("t.torrent");
    mktorrent(&payload, &tracker.announce_url(), PIECE_LOG2, &torrent);
    tracker.allow(&torrent);
    let facts = TorrentFacts::new(&torrent, &payload, 1 << PIECE_LOG2);
    let _honest = Seeder::libtorrent(
        &tracker,
        &torrent,
        &data_dir,
        LtOptions {
            upload_rate: 1 << 20,
            ..LtOptions::on(ip(2))
        },
    );
    let hostile = HostilePeer::listen(ip(66), behaviour, Arc::clone(&facts));
    let out: PathBuf = dir.path().join("out");
    let peer = hostile.addr().to_string();
    let mut cmd = smalltorrent_command([
        torrent.as_os_str(),
        "-d".as_ref(),
        out.as_os_str(),
        "--peer".as_ref(),
        peer.as_ref(),
    ]);
    cmd.args(extra);
    cmd.env("RUST_LOG", "smalltorrent=debug");
    let started = Instant::now();
    let mut client = Proc::spawn("smalltorrent", cmd);
    let status = client
        .wait_exit(secs(90))
        .unwrap_or_else(|why| panic!("{why}"));
    let elapsed = started.elapsed();
    let log = client.stderr();
    assert!(status.success(), "smalltorrent failed ({status}):\n{log}");
    assert_same_tree(&payload, &out.join("payload.bin"));
    assert!(
        hostile.accepted() > 0,
        "smalltorrent never dialled the hostile peer:\n{log}"
    );
    eprintln!("{behaviour:?}: download took {elapsed:.1?}");
    Run {
        log,
        elapsed,
        hostile,
    }
}

#[test]
fn wrong_info_hash_is_dropped() {
    against(Behaviour::WrongInfoHash).assert_logged("peer is not sharing this torrent");
}

#[test]
fn wrong_protocol_string_is_dropped() {
    against(Behaviour::WrongProtocol)
        .assert_logged("bad handshake: protocol is not \"BitTorrent protocol\"");
}

#[test]
fn message_before_handshake_is_dropped() {
    against(Behaviour::MessageBeforeHandshake)
        .assert_logged("bad handshake: protocol name length is not 19");
}

#[test]
fn four_gib_length_prefix_is_dropped_before_allocating() {
    against(Behaviour::HugeLength)
        .assert_logged("peer sent a 4294967295-byte message (limit 131081)");
}

#[test]
fn length_just_over_the_limit_is_dropped() {
    against(Behaviour::JustOverLimit)
        .assert_logged("peer sent a 131082-byte message (limit 131081)");
}

/// Unknown ids are extensions we do not speak (BEP 10 uses id 20): ignored, not punished.
#[test]
fn unknown_message_ids_are_ignored() {
    let run = against(Behaviour::UnknownIds);
    run.assert_logged("ignored extension message 100");
    run.assert_logged("ignored message id 99 (0 bytes)");
    run.assert_logged("ignored message id 255 (300 bytes)");
}

#[test]
fn zero_length_frames_then_garbage_is_dropped() {
    // "GARB" read as a length prefix.
    against(Behaviour::ZeroLengthGarbage)
        .assert_logged("peer sent a 1195463234-byte message (limit 131081)");
}

#[test]
fn bitfield_of_the_wrong_length_is_dropped() {
    against(Behaviour::BitfieldWrongLength)
        .assert_logged("protocol violation: bitfield is 6 bytes, expected 5");
}

#[test]
fn bitfield_with_spare_bits_set_is_dropped() {
    against(Behaviour::BitfieldSpareBits)
        .assert_logged("protocol violation: bitfield has bits set past the last piece");
}

#[test]
fn have_for_a_piece_out_of_range_is_dropped() {
    against(Behaviour::HaveOutOfRange)
        .assert_logged("protocol violation: have for piece 40, out of range");
}

#[test]
fn piece_never_requested_is_dropped() {
    against(Behaviour::UnrequestedPiece).assert_logged(
        "protocol violation: sent 16384 bytes at offset 0 of piece 0, which we never requested",
    );
}

/// Each block one byte short of what was asked: 16383 bytes, or 8 for the last piece.
#[test]
fn piece_of_the_wrong_length_is_dropped() {
    against(Behaviour::WrongLengthPiece).assert_dropped_for_its_first_block();
}

/// Each block at its offset plus the piece length: past the end of its piece.
#[test]
fn piece_at_an_out_of_range_offset_is_dropped() {
    against(Behaviour::OutOfRangeOffset).assert_dropped_for_its_first_block();
}

/// A peer whose every block is corrupt is banned at its second strike (a piece it alone
/// contributed failed its hash), once. The pieces thrown away are counted and printed:
/// the liar answers at loopback speed, so everything it delivered before the verdicts
/// came back from the block saver is lost anyway. Waste is bounded by time (the liar's
/// rate times the verdict latency), not by the ban: measured 8 to 20 of 33 pieces with
/// `--pipeline 16`, all 33 with the default 128.
#[test]
fn data_that_fails_the_hash_gets_the_peer_banned() {
    let run = against_with(Behaviour::BadData, &["--pipeline", "16"]);
    let ip = run.hostile.addr().ip().to_string();
    let wasted = run
        .log
        .lines()
        .filter(|l| l.contains("failed its hash check; fetching it again"))
        .count();
    eprintln!(
        "BadData: {} corrupt blocks sent, {wasted} of 33 pieces wasted",
        run.hostile.blocks_sent()
    );
    let bans = format!("banning {ip}: its data keeps failing the hash check");
    assert_eq!(
        run.log.matches(&bans).count(),
        1,
        "the corrupt peer should be banned once:\n{}",
        run.log
    );
    let (second, ban) = (run.log.find("(2 strikes)"), run.log.find(&bans));
    assert!(
        matches!((second, ban), (Some(s), Some(b)) if s < b),
        "not banned at its second strike:\n{}",
        run.log
    );
    assert!(wasted >= 2, "only {wasted} pieces failed:\n{}", run.log);
}

/// Our handshake timeout is 10 s: the honest seeder finishes long before it, and the
/// client must then exit without waiting for the dripping handshake.
#[test]
fn slow_drip_handshake_does_not_hold_up_the_download() {
    let run = against(Behaviour::SlowDrip);
    run.assert_logged("stopped");
    assert!(
        run.elapsed < secs(9),
        "the download took {:.1?}: it waited for the slow peer\n{}",
        run.elapsed,
        run.log
    );
}

/// A frame dripped one byte per second is dropped after 150 s of no complete message;
/// long before that, the end of the download must not wait for it.
#[test]
fn slow_drip_message_does_not_hold_up_the_download() {
    let run = against(Behaviour::SlowDripMessage);
    run.assert_logged("handshake done");
    run.assert_logged("stopped");
    assert!(
        run.elapsed < secs(9),
        "the download took {:.1?}: it waited for the slow peer\n{}",
        run.elapsed,
        run.log
    );
}

#[test]
fn connect_and_hang_does_not_hold_up_the_download() {
    let run = against(Behaviour::Hang);
    run.assert_logged("stopped");
    assert!(
        run.elapsed < secs(9),
        "the download took {:.1?}: it waited for the silent peer\n{}",
        run.elapsed,
        run.log
    );
}

/// 200 peers in one message, four times what the convention allows: dropped, and none of
/// them dialled (they are on 127.0.1.x, where nothing listens).
#[test]
fn a_pex_message_of_200_peers_is_dropped() {
    against(Behaviour::PexTooManyPeers)
        .assert_logged("protocol violation: sent a PEX message of 200 peers (limit 100)");
}

#[test]
fn a_pex_message_with_a_garbage_peer_list_is_dropped() {
    against(Behaviour::PexGarbage).assert_logged(
        "protocol violation: sent a malformed ut_pex message: 'added' is 13 bytes, not a \
         multiple of 6",
    );
}

/// The first message is honoured (its one peer, where nothing listens, is dialled and
/// refused); the second and third, too soon, are ignored; the fourth is a flood.
#[test]
fn a_flood_of_pex_messages_is_dropped() {
    let run = against(Behaviour::PexFlood);
    run.assert_logged("ignored PEX: too soon after the last");
    run.assert_logged("protocol violation: sent 4 PEX messages within 60 s (limit 3)");
}

/// A peer that closes every connection at once is dialled again with a growing delay
/// (5 s, 10 s, ...), not in a tight loop.
#[test]
fn accept_and_close_is_not_redialled_in_a_loop() {
    let run = against(Behaviour::AcceptAndClose);
    run.assert_logged("peer closed the connection");
    assert!(
        run.hostile.accepted() <= 2,
        "dialled {} times in {:.1?}",
        run.hostile.accepted(),
        run.elapsed
    );
}

//! Acceptance test: a swarm made only of smalltorrents shares the work.
//!
//! One seeder (`-s`, on 127.0.0.2) and six leechers (`-d DIR --seed`, on 127.0.0.3 ...
//! 127.0.0.8), each with its own loopback address and `--port 0`, meet through a real
//! opentracker. Every leecher must end with a byte-identical payload, and the seeder must
//! upload less than 2.5 times the payload: the leechers got most of it from each other.
//!
//! The seeder's upload is capped (`--max-upload-rate`), as a real seeder's uplink is: the
//! leechers' loopback links are then much faster than the seeder, and a client that trades
//! pieces among its peers leaves the seeder near 1x the payload, far from the limit. An
//! uncapped seeder on loopback is as fast as the leechers, and its share then depends on
//! the machine's scheduling (2.0x to 2.51x on the 2-core CI machine), which no client
//! controls; without trading at all it would serve 6x.
//!
//! `cargo test --test swarm -- --nocapture` prints the per-peer upload table. To check the
//! test itself with libtorrent in smalltorrent's place:
//! `SMALLTORRENT_BIN=$PWD/tests/support/lt_as_smalltorrent.py cargo test --test swarm`.

mod support;

use std::fs;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};
use support::*;

const MIB: u64 = 1 << 20;

/// 256 MiB in 256 KiB pieces (1,024 pieces). On loopback a 32 MiB swarm is over in about
/// a second, before leechers have pieces to trade: every first piece must come from the
/// seeder, which then serves about 4x the payload (libtorrent in smalltorrent's place: 2.6 to
/// 3.0x). From 256 MiB on the trading dominates and the seeder serves about 1.75x.
const PAYLOAD: u64 = 256 * MIB;
const PIECE_LOG2: u32 = 18;
const LEECHERS: u8 = 6;

/// The seeder's upload cap: well below what the leechers' links carry on loopback (hundreds
/// of MB/s), yet 256 MiB still leaves it in about 5 s. Measured: the seeder serves 1.2x.
const SEEDER_RATE: &str = "48M";

/// How long the whole swarm may take to complete.
const SWARM_TIMEOUT: Duration = Duration::from_secs(180);

/// A leecher in the swarm and where its copy of the payload appears.
struct Leecher {
    peer: SmalltorrentPeer,
    file: PathBuf,
    /// When its file first matched the payload, counted from the leechers' start.
    done_after: Option<Duration>,
}

/// One seeder and six `--seed` leechers, all smalltorrent: all complete, and the seeder
/// uploads less than 2.5 × the payload, so the leechers really share among themselves.
#[test]
fn seeder_and_six_leechers_share_the_payload() {
    let mut tracker = Opentracker::start();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("seeder");
    let payload = make_file(&data_dir, "payload.bin", PAYLOAD, 32);
    let torrent = mktorrent(
        &payload,
        &tracker.announce_url(),
        PIECE_LOG2,
        &dir.path().join("swarm.torrent"),
    );
    tracker.allow(&torrent);
    let expected = fs::read(&payload).unwrap();

    let mut seeder = SmalltorrentPeer::seed_logged(
        &tracker,
        &torrent,
        &data_dir,
        ip(2),
        &["--max-upload-rate", SEEDER_RATE],
        "warn",
    );
    // All leechers start together, so they are all still missing pieces when they meet.
    let started = Instant::now();
    let mut leechers: Vec<Leecher> = (0..LEECHERS)
        .map(|i| {
            let ip = ip(3 + i);
            let out = dir.path().join(format!("leecher-{ip}"));
            Leecher {
                peer: SmalltorrentPeer::leech_and_seed(&torrent, &out, ip),
                file: out.join("payload.bin"),
                done_after: None,
            }
        })
        .collect();

    // Complete = its file is byte-identical to the payload (polled; a leecher keeps
    // running, seeding, after it completes).
    while leechers.iter().any(|l| l.done_after.is_none()) {
        for leecher in leechers.iter_mut().filter(|l| l.done_after.is_none()) {
            if fs::read(&leecher.file).is_ok_and(|bytes| bytes == expected) {
                leecher.done_after = Some(started.elapsed());
            } else if let Some(status) = leecher.peer.exited() {
                panic!(
                    "{} exited ({status}) before completing\n{}",
                    leecher.peer.name(),
                    leecher.peer.report()
                );
            }
        }
        if started.elapsed() > SWARM_TIMEOUT {
            let unfinished: Vec<String> = leechers
                .iter()
                .filter(|l| l.done_after.is_none())
                .map(|l| l.peer.report())
                .collect();
            panic!(
                "{} of {LEECHERS} leechers did not complete within {SWARM_TIMEOUT:?}\n{}\n{}",
                unfinished.len(),
                unfinished.join("\n"),
                seeder.report()
            );
        }
        thread::sleep(Duration::from_millis(500));
    }

    // Ctrl-C everyone at once, so no one keeps serving while the others are stopped.
    for peer in std::iter::once(&seeder).chain(leechers.iter().map(|l| &l.peer)) {
        peer.send_interrupt();
    }
    let seeder_stop = seeder.wait_stopped(secs(15));
    let leecher_stops: Vec<Stopped> = leechers
        .iter_mut()
        .map(|l| l.peer.wait_stopped(secs(15)))
        .collect();

    let mut table = format!(
        "{:<28} {:>14} {:>8} {:>10}  exit\n",
        "peer", "uploaded", "x size", "done after"
    );
    let mut row = |name: &str, stopped: &Stopped, done: Option<Duration>| {
        let up = stopped.uploaded;
        table += &format!(
            "{name:<28} {:>14} {:>8} {:>10}  {}\n",
            up.map_or("?".to_string(), |n| n.to_string()),
            up.map_or("?".to_string(), |n| format!(
                "{:.2}",
                n as f64 / PAYLOAD as f64
            )),
            done.map_or("-".to_string(), |d| format!("{:.1} s", d.as_secs_f64())),
            stopped.status
        );
    };
    row(seeder.name(), &seeder_stop, None);
    for (leecher, stopped) in leechers.iter().zip(&leecher_stops) {
        row(leecher.peer.name(), stopped, leecher.done_after);
    }
    println!("per-peer upload totals ({PAYLOAD} byte payload):\n{table}");

    for (name, stopped) in std::iter::once((seeder.name(), &seeder_stop)).chain(
        leechers
            .iter()
            .map(|l| l.peer.name())
            .zip(leecher_stops.iter()),
    ) {
        assert!(
            stopped.status.success(),
            "{name} should exit 0 on SIGINT with complete data, got {}\n{table}\n{}",
            stopped.status,
            stopped.stderr
        );
        assert!(
            stopped.uploaded.is_some(),
            "{name} printed no 'uploaded N bytes' line\n{table}\n{}",
            stopped.stderr
        );
    }
    let from_seeder = seeder_stop.uploaded.unwrap();
    let among_leechers: u64 = leecher_stops.iter().filter_map(|s| s.uploaded).sum();
    assert!(
        (from_seeder as f64) < 2.5 * PAYLOAD as f64,
        "the seeder uploaded {from_seeder} bytes, {:.2} × the payload (limit 2.5): \
         the leechers did not share enough\n{table}",
        from_seeder as f64 / PAYLOAD as f64
    );
    assert!(
        among_leechers > 0,
        "the leechers uploaded nothing to each other\n{table}"
    );
}

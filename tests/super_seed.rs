//! Super seeding (BEP 16, `--super-seed`): a smalltorrent seeder that offers each peer one
//! piece at a time.
//!
//! * Real leechers (three smalltorrents through opentracker) all finish with the payload's
//!   bytes from a super seeder, which uploads less than 1.5 copies of it.
//! * On the wire, two scripted peers: no bitfield, exactly one `have` each, for different
//!   pieces; a request for a piece not offered is not served; when peer B announces the
//!   piece offered to peer A, A is offered its next piece.
//! * A lone leecher completes too (its offers released by its own `have`s, after a grace).
//! * `--super-seed` without seeding is a usage error (exit 2).

mod support;

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddrV4, TcpStream};
use std::thread;
use std::time::{Duration, Instant};
use support::hostile_client::{connect, dial, frame, read_handshake, request};
use support::*;

const MIB: u64 = 1 << 20;

/// One `have`, `bitfield`, `piece`... as read from the wire: its id and payload.
type Wire = (u8, Vec<u8>);

const UNCHOKE: u8 = 1;
const INTERESTED: u8 = 2;
const HAVE: u8 = 4;
const BITFIELD: u8 = 5;
const PIECE: u8 = 7;

/// Every message the seeder sends within `wait` (keep-alives left out).
fn read_for(stream: &mut TcpStream, wait: Duration) -> Vec<Wire> {
    let deadline = Instant::now() + wait;
    let mut bytes = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(e) => panic!("reading from the seeder: {e}"),
        }
    }
    let mut messages = Vec::new();
    let mut at = 0;
    while at + 4 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        if at + 4 + len > bytes.len() {
            break;
        }
        if len > 0 {
            let body = &bytes[at + 4..at + 4 + len];
            messages.push((body[0], body[1..].to_vec()));
        }
        at += 4 + len;
    }
    messages
}

/// The pieces announced by the `have`s among `messages`.
fn haves(messages: &[Wire]) -> Vec<u32> {
    messages
        .iter()
        .filter(|(id, _)| *id == HAVE)
        .map(|(_, body)| u32::from_be_bytes(body[..4].try_into().unwrap()))
        .collect()
}

fn have(piece: u32) -> Vec<u8> {
    frame(HAVE, &piece.to_be_bytes())
}

/// A seeder of `size` bytes in 64 KiB pieces, `--super-seed`, on `seeder_ip`.
fn super_seeder(
    dir: &std::path::Path,
    size: u64,
    seeder_ip: std::net::Ipv4Addr,
) -> (Opentracker, SmalltorrentPeer, std::path::PathBuf, Vec<u8>) {
    let mut tracker = Opentracker::start();
    let data_dir = dir.join("seeder");
    let payload = make_file(&data_dir, "payload.bin", size, 16);
    let torrent = mktorrent(
        &payload,
        &tracker.announce_url(),
        16,
        &dir.join("super.torrent"),
    );
    tracker.allow(&torrent);
    let seeder = SmalltorrentPeer::seed_logged(
        &tracker,
        &torrent,
        &data_dir,
        seeder_ip,
        &["--super-seed"],
        "warn",
    );
    let expected = fs::read(&payload).unwrap();
    (tracker, seeder, torrent, expected)
}

#[test]
fn three_leechers_complete_from_a_super_seeder() {
    let dir = tempfile::tempdir().unwrap();
    let (_tracker, mut seeder, torrent, expected) = super_seeder(dir.path(), 4 * MIB, ip(2));
    let mut leechers: Vec<(SmalltorrentPeer, std::path::PathBuf)> = (0..3)
        .map(|i| {
            let out = dir.path().join(format!("leecher-{i}"));
            let peer = SmalltorrentPeer::leech_and_seed(&torrent, &out, ip(3 + i));
            (peer, out.join("payload.bin"))
        })
        .collect();
    let started = Instant::now();
    let mut done = vec![false; leechers.len()];
    while done.iter().any(|d| !d) {
        for (i, (peer, file)) in leechers.iter_mut().enumerate() {
            if !done[i] && fs::read(&*file).is_ok_and(|bytes| bytes == expected) {
                done[i] = true;
            } else if let Some(status) = peer.exited() {
                panic!("{} exited ({status})\n{}", peer.name(), peer.report());
            }
        }
        if started.elapsed() > secs(120) {
            let reports: Vec<String> = leechers.iter().map(|(p, _)| p.report()).collect();
            panic!(
                "leechers did not complete: {done:?}\n{}\n{}",
                reports.join("\n"),
                seeder.report()
            );
        }
        thread::sleep(Duration::from_millis(300));
    }
    assert!(seeder.exited().is_none(), "{}", seeder.report());
    // Each piece left the seeder about once: the leechers spread it among themselves.
    for (peer, _) in &leechers {
        peer.send_interrupt();
    }
    let stopped = seeder.interrupt(secs(15));
    let uploaded = stopped.uploaded.expect("the seeder's 'uploaded' line");
    assert!(
        uploaded < 3 * expected.len() as u64 / 2,
        "the super seeder uploaded {uploaded} bytes for a {} byte payload",
        expected.len()
    );
}

#[test]
fn a_super_seeder_offers_one_piece_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let (_tracker, mut seeder, torrent, expected) = super_seeder(dir.path(), MIB, ip(20));
    let addr: SocketAddrV4 = seeder.wait_listening(secs(10));
    let hash = info_hash(&torrent);

    // Peer A: no bitfield, exactly one `have`.
    let mut a = connect(ip(21), addr, hash).unwrap();
    let first = read_for(&mut a, secs(2));
    assert!(
        !first.iter().any(|(id, _)| *id == BITFIELD),
        "a super seeder sent a bitfield: {first:?}"
    );
    let offered = haves(&first);
    assert_eq!(offered.len(), 1, "want one have, got {first:?}");
    let piece_a = offered[0];

    // A request for another piece is not served; one for the offered piece is.
    a.write_all(&frame(INTERESTED, &[])).unwrap();
    let unchoked = read_for(&mut a, secs(2));
    assert!(
        unchoked.iter().any(|(id, _)| *id == UNCHOKE),
        "{unchoked:?}"
    );
    let other = (piece_a + 1) % 16;
    a.write_all(&request(other, 0, 16384)).unwrap();
    a.write_all(&request(piece_a, 0, 16384)).unwrap();
    let answers = read_for(&mut a, secs(2));
    let pieces: Vec<(u32, &[u8])> = answers
        .iter()
        .filter(|(id, _)| *id == PIECE)
        .map(|(_, body)| {
            (
                u32::from_be_bytes(body[..4].try_into().unwrap()),
                &body[8..],
            )
        })
        .collect();
    assert_eq!(
        pieces.len(),
        1,
        "want only the offered block, got {answers:?}"
    );
    assert_eq!(pieces[0].0, piece_a);
    let start = piece_a as usize * 65536;
    assert_eq!(pieces[0].1, &expected[start..start + 16384]);

    // A's own `have` does not release its offer (BEP 16: it must be seen elsewhere).
    a.write_all(&have(piece_a)).unwrap();
    assert_eq!(haves(&read_for(&mut a, secs(1))), Vec::<u32>::new());

    // Peer B gets a piece of its own; when it announces A's piece, A gets its next one.
    // (A peer id of its own: the seeder connects to each peer once.)
    let mut b = dial(ip(22), addr, hash, 1).unwrap();
    read_handshake(&b, secs(10)).unwrap();
    let offered_b = haves(&read_for(&mut b, secs(2)));
    assert_eq!(offered_b.len(), 1, "B: {offered_b:?}");
    assert_ne!(offered_b[0], piece_a, "B was offered A's piece");
    b.write_all(&have(piece_a)).unwrap();
    let next = haves(&read_for(&mut a, secs(2)));
    assert_eq!(
        next.len(),
        1,
        "A got no next piece after B announced {piece_a}"
    );
    assert_ne!(next[0], piece_a);
    assert_ne!(next[0], offered_b[0], "A was offered B's piece");
}

/// A lone leecher has no one to pass its pieces to: each offer is released 10 s after its
/// own `have` (`OWN_HAVE_GRACE`), so it completes, slowly, instead of waiting for ever.
#[test]
fn a_lone_leecher_completes_from_a_super_seeder() {
    let dir = tempfile::tempdir().unwrap();
    let (_tracker, seeder, torrent, expected) = super_seeder(dir.path(), 3 * 65536, ip(30));
    let out = dir.path().join("lone");
    let mut leecher = SmalltorrentPeer::leech_and_seed(&torrent, &out, ip(31));
    let file = out.join("payload.bin");
    let started = Instant::now();
    while !fs::read(&file).is_ok_and(|bytes| bytes == expected) {
        if let Some(status) = leecher.exited() {
            panic!("the leecher exited ({status})\n{}", leecher.report());
        }
        assert!(
            started.elapsed() < secs(90),
            "the lone leecher did not complete\n{}\n{}",
            leecher.report(),
            seeder.report()
        );
        thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn super_seed_without_seeding_exits_2() {
    let output = run_smalltorrent(["x.torrent", "--super-seed"], secs(10));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--super-seed needs -s DIR or --seed"),
        "{stderr}"
    );
}

//! Issue 6, the serving side: hostile connections to a smalltorrent seeder
//! ([`SmalltorrentPeer::seed_logged`], `RUST_LOG=smalltorrent=debug`), written by hand
//! with [`support::hostile_client`].
//!
//! * request floods, requests for pieces it lacks, requests over 128 KiB: dropped;
//! * a second connection with the same peer id: closed after the handshake, the first
//!   one served on;
//! * more connections than `--max-peers`, and connect-and-close loops: the limit holds and
//!   no thread is left behind;
//! * 200 connections at once announcing 4 GiB messages: RSS grows by less than 50 MB,
//!   with the default limit (50) and with `--max-peers 250` (200 peer threads at once).

mod support;

use std::collections::HashSet;
use std::fs;
use std::net::{SocketAddr, SocketAddrV4, TcpStream};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use support::hostile_client::{
    closed_within, connect, dial, frame, read_handshake, request, wait_for_message,
};
use support::*;

const PIECE: u32 = 1 << 16;
/// 33 pieces of 64 KiB, the last one 9 bytes.
const SIZE: u64 = 32 * PIECE as u64 + 9;
/// The piece missing from [`Seeded::partial`].
const MISSING: u32 = 3;

/// A smalltorrent seeder and what it serves.
struct Seeded {
    seeder: SmalltorrentPeer,
    addr: SocketAddrV4,
    info_hash: [u8; 20],
    /// Fields drop in order: the seeder and tracker go before the files.
    _tracker: Opentracker,
    dir: tempfile::TempDir,
}

impl Seeded {
    /// A seeder of the whole payload, with `extra` arguments.
    fn start(extra: &[&str]) -> Seeded {
        Seeded::new(extra, false)
    }

    /// A seeder whose copy of piece [`MISSING`] is corrupt, so it does not have it.
    fn partial() -> Seeded {
        Seeded::new(&[], true)
    }

    fn new(extra: &[&str], damaged: bool) -> Seeded {
        let mut tracker = Opentracker::start();
        let dir = tempfile::tempdir().unwrap();
        let data_dir: PathBuf = dir.path().join("data");
        let payload = make_file(&data_dir, "payload.bin", SIZE, 7);
        let torrent = dir.path().join("t.torrent");
        mktorrent(&payload, &tracker.announce_url(), 16, &torrent);
        tracker.allow(&torrent);
        if damaged {
            let file = fs::OpenOptions::new().write(true).open(&payload).unwrap();
            file.write_all_at(b"damaged", (MISSING * PIECE) as u64 + 100)
                .unwrap();
        }
        let seeder = SmalltorrentPeer::seed_logged(
            &tracker,
            &torrent,
            &data_dir,
            ip(2),
            extra,
            "smalltorrent=debug",
        );
        let addr = listening_addr(&seeder.stderr()).unwrap();
        Seeded {
            addr: SocketAddrV4::new(ip(2), addr.port()),
            seeder,
            info_hash: info_hash(&torrent),
            _tracker: tracker,
            dir,
        }
    }

    /// A hostile connection from `127.0.0.n`, handshakes done.
    fn connect(&self, n: u8) -> TcpStream {
        connect(ip(n), self.addr, self.info_hash).unwrap_or_else(|e| {
            panic!(
                "no handshake from the seeder for {}: {e}\n{}",
                ip(n),
                self.seeder.report()
            )
        })
    }

    /// Asserts the seeder logged a line with `text` about a peer from `127.0.0.n`.
    /// Polls for up to 5 s: its stderr is collected by another thread.
    fn assert_logged(&self, n: u8, text: &str) {
        let peer = format!("peer {}:", ip(n));
        let found = |log: &str| log.lines().any(|l| l.contains(&peer) && l.contains(text));
        let deadline = Instant::now() + secs(5);
        while !found(&self.seeder.stderr()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = self.seeder.stderr();
        assert!(
            found(&log),
            "no log line with {peer:?} and {text:?}:\n{log}"
        );
        assert!(!log.contains("panicked"), "{log}");
    }

    fn pid(&self) -> u32 {
        self.seeder.pid()
    }

    /// The bytes the seeder serves.
    fn payload(&self) -> Vec<u8> {
        fs::read(self.dir.path().join("data").join("payload.bin")).unwrap()
    }
}

use support::smalltorrent::listening_addr;

/// Sends `interested` and waits for the seeder's `unchoke`.
fn get_unchoked(stream: &mut TcpStream) {
    use std::io::Write;
    stream.write_all(&frame(2, &[])).unwrap();
    assert!(
        wait_for_message(stream, 1, secs(10)),
        "the seeder did not unchoke an interested peer"
    );
}

/// A peer that declares interest while an unchoke slot is free is unchoked at once, not
/// at the peer manager's next tick (500 ms): the peer thread must mark the peer interested
/// before it wakes the manager, or the manager, run at once by the wake-up, sees nothing
/// to do. (It once woke it first: most newcomers then waited for the tick.) Ten newcomers
/// in a row, each of which must be unchoked within half a tick; it takes about 1 ms.
#[test]
fn an_interested_newcomer_is_unchoked_before_the_next_tick() {
    let seeded = Seeded::start(&[]);
    for n in 0..10 {
        // Each from an address and peer id of its own, so none is taken for the last one
        // back again before the seeder has seen that one close.
        let mut stream = dial(ip(100 + n), seeded.addr, seeded.info_hash, u32::from(n)).unwrap();
        read_handshake(&stream, secs(10)).unwrap();
        let asked = Instant::now();
        get_unchoked(&mut stream);
        let waited = asked.elapsed();
        assert!(
            waited < Duration::from_millis(250),
            "newcomer {n} was unchoked after {waited:?}"
        );
    }
}

#[test]
fn a_request_flood_gets_the_peer_dropped() {
    use std::io::Write;
    let seeded = Seeded::start(&[]);
    let mut stream = seeded.connect(70);
    get_unchoked(&mut stream);
    // 3000 requests in one write; we read nothing, so the queue cannot drain.
    let flood: Vec<u8> = (0..3000u32)
        .flat_map(|i| request(i % 32, (i % 4) * 16384, 16384))
        .collect();
    stream.write_all(&flood).unwrap();
    assert!(closed_within(&mut stream, secs(10)), "still connected");
    seeded.assert_logged(70, "protocol violation: more than 2048 requests queued");
}

#[test]
fn requests_for_pieces_it_lacks_are_tolerated_then_dropped() {
    use std::io::Write;
    let seeded = Seeded::partial();
    let checked = seeded.seeder.checked_line().unwrap_or_default();
    assert!(checked.contains("32 of 33 pieces valid"), "{checked}");
    let mut stream = seeded.connect(71);
    for _ in 0..64 {
        stream.write_all(&request(MISSING, 0, 16384)).unwrap();
    }
    assert!(
        !closed_within(&mut stream, Duration::from_millis(500)),
        "dropped after only 64 requests for a missing piece"
    );
    stream.write_all(&request(MISSING, 0, 16384)).unwrap();
    assert!(closed_within(&mut stream, secs(5)), "still connected");
    seeded.assert_logged(
        71,
        "protocol violation: keeps requesting pieces we do not have",
    );
}

#[test]
fn a_request_over_128_kib_gets_the_peer_dropped() {
    use std::io::Write;
    let seeded = Seeded::start(&[]);
    let mut stream = seeded.connect(72);
    stream.write_all(&request(0, 0, 128 * 1024 + 1)).unwrap();
    assert!(closed_within(&mut stream, secs(5)), "still connected");
    seeded.assert_logged(72, "request of 131073 bytes (we serve 1 to 131072)");
}

/// One connection per peer: a peer that connects again with the same peer id is closed
/// right after the handshake, without a message; its first connection still gets the
/// right block; once that one is closed, the id may connect again.
#[test]
fn a_second_connection_with_the_same_peer_id_is_closed() {
    use std::io::Write;
    const PEER_ID: u32 = 77;
    let seeded = Seeded::start(&[]);
    let connect = || {
        let stream = dial(ip(77), seeded.addr, seeded.info_hash, PEER_ID).unwrap();
        read_handshake(&stream, secs(10)).expect("the seeder answers the handshake");
        stream
    };
    let mut first = connect();
    // The seeder sends its bitfield only once it has registered the peer id.
    assert!(wait_for_message(&mut first, 5, secs(10)), "no bitfield");

    let mut second = connect();
    assert_eq!(closed_silently(&mut second, secs(5)), Ok(()));
    seeded.assert_logged(77, "already connected to this peer (same peer id)");

    get_unchoked(&mut first);
    first.write_all(&request(5, 16384, 16384)).unwrap();
    let block = read_block(&mut first, secs(10));
    let start = 5 * PIECE as usize + 16384;
    assert!(
        block == seeded.payload()[start..start + 16384],
        "wrong bytes"
    );

    // The seeder frees the id before it closes its end, so the next connection is not a
    // duplicate once we see the close.
    first.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(closed_within(&mut first, secs(5)), "still connected");
    let mut third = connect();
    assert!(wait_for_message(&mut third, 5, secs(10)), "no bitfield");
}

/// Waits up to `timeout` for the other side to close (or reset) the connection; an error
/// says what came instead.
fn closed_silently(stream: &mut TcpStream, timeout: Duration) -> Result<(), String> {
    use std::io::{ErrorKind, Read};
    stream.set_read_timeout(Some(timeout)).unwrap();
    match stream.read(&mut [0u8; 1024]) {
        Ok(0) => Ok(()),
        Ok(n) => Err(format!("{n} bytes instead of a close")),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            Err("still connected".into())
        }
        Err(_) => Ok(()), // reset
    }
}

/// Reads messages until a `piece`; returns its block.
fn read_block(stream: &mut TcpStream, timeout: Duration) -> Vec<u8> {
    use std::io::Read;
    stream.set_read_timeout(Some(timeout)).unwrap();
    loop {
        let mut len = [0u8; 4];
        stream.read_exact(&mut len).expect("a message");
        let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
        stream
            .read_exact(&mut body)
            .expect("the rest of the message");
        if body.first() == Some(&7) {
            return body.split_off(9);
        }
    }
}

/// `--max-peers 5` and 20 connections from one address: 5 handshakes answered, 15
/// connections refused and closed.
#[test]
fn many_connections_from_one_address_hit_the_limit() {
    let seeded = Seeded::start(&["--max-peers", "5"]);
    let streams: Vec<TcpStream> = (0..20)
        .map(|n| dial(ip(73), seeded.addr, seeded.info_hash, n).unwrap())
        .collect();
    let served = streams
        .iter()
        .filter(|s| read_handshake(s, secs(5)).is_ok())
        .count();
    let refused_lines = || {
        let log = seeded.seeder.stderr();
        let refused = format!("refused {}:", ip(73));
        log.lines()
            .filter(|l| l.contains(&refused) && l.contains("5 peers already"))
            .count()
    };
    let deadline = Instant::now() + secs(5);
    while refused_lines() < 15 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let refused = refused_lines();
    eprintln!("--max-peers 5, 20 connections: {served} served, {refused} refused");
    assert_eq!(served, 5, "{}", seeded.seeder.report());
    assert_eq!(refused, 15, "{}", seeded.seeder.report());
}

/// 300 connections that close at once (half of them mid-handshake) leave no thread
/// behind, and the seeder still answers the next peer.
///
/// The seeder takes the connections in well after they closed (accept, then the peer
/// manager's queue), so the thread count is only read once its log shows it has taken in
/// every one: refused at the limit, or given a thread. Read sooner, it may be back to
/// `before` between two bursts, with more threads still to start and all 50 slots taken
/// when the next peer comes.
#[test]
fn connect_and_close_loops_leave_nothing_behind() {
    use std::io::Write;
    let seeded = Seeded::start(&[]);
    let before = threads(seeded.pid());
    let mut closed = Vec::new();
    for n in 0..300u32 {
        let Ok(mut stream) = dial(ip(74), seeded.addr, seeded.info_hash, n) else {
            continue;
        };
        closed.extend(stream.local_addr());
        if n % 2 == 0 {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        } else {
            let _ = stream.write_all(&[19, b'B', b'i']);
        }
    }
    let all_taken_in = || {
        let taken = taken_in(&seeded.seeder.stderr());
        closed.iter().all(|addr| taken.contains(addr))
    };
    let deadline = Instant::now() + secs(10);
    while !all_taken_in() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        all_taken_in(),
        "the seeder did not take in all {} connections within 10 s\n{}",
        closed.len(),
        seeded.seeder.report()
    );
    let after = settle_threads(seeded.pid(), before);
    eprintln!("connect-and-close x300: {before} threads before, {after} after");
    assert!(after <= before, "{after} threads after, {before} before");
    let mut stream = seeded.connect(75);
    get_unchoked(&mut stream);
}

#[test]
fn two_hundred_4_gib_announcements_default_limit() {
    four_gib_announcements(&[], 50);
}

#[test]
fn two_hundred_4_gib_announcements_with_250_peers_allowed() {
    four_gib_announcements(&["--max-peers", "250"], 200);
}

/// 200 connections complete the handshake and hold (so up to `served` peer threads exist
/// at once), then each announces a 4 GiB message. RSS must grow by less than 50 MB, every
/// connection must be closed, and the thread count must come back down.
fn four_gib_announcements(extra: &[&str], served: usize) {
    use std::io::Write;
    let seeded = Seeded::start(extra);
    let pid = seeded.pid();
    let (threads_before, rss_before) = (threads(pid), rss_kib(pid));
    let mut streams: Vec<TcpStream> = (0..200)
        .map(|n| dial(ip(76), seeded.addr, seeded.info_hash, n).unwrap())
        .collect();
    let mut open: Vec<TcpStream> = streams
        .drain(..)
        .filter_map(|s| read_handshake(&s, secs(10)).ok().map(|_| s))
        .collect();
    let threads_peak = threads(pid);
    let rss_connected = rss_kib(pid);
    for stream in &mut open {
        let _ = stream.write_all(&[0xff, 0xff, 0xff, 0xff, 7]);
        let _ = stream.write_all(&[0u8; 1000]);
    }
    let mut rss_peak = rss_connected.max(rss_kib(pid));
    let started = Instant::now();
    for stream in &mut open {
        assert!(
            closed_within(stream, secs(10)),
            "a 4 GiB announcer is still connected"
        );
        rss_peak = rss_peak.max(rss_kib(pid));
    }
    let closed_in = started.elapsed();
    let threads_after = settle_threads(pid, threads_before);
    let grown_mib = rss_peak.saturating_sub(rss_before) as f64 / 1024.0;
    eprintln!(
        "200 x 4 GiB {extra:?}: {} handshakes answered, threads {threads_before} -> \
         {threads_peak} -> {threads_after}, VmRSS {rss_before} KiB -> {rss_connected} KiB \
         connected -> peak {rss_peak} KiB (+{grown_mib:.1} MiB), all closed in {closed_in:.1?}",
        open.len()
    );
    assert_eq!(open.len(), served, "{}", seeded.seeder.report());
    assert!(
        threads_peak >= threads_before + served,
        "{threads_peak} threads at the peak"
    );
    assert!(grown_mib < 50.0, "RSS grew by {grown_mib:.1} MiB");
    assert!(
        threads_after <= threads_before,
        "{threads_after} threads left"
    );
    seeded.assert_logged(76, "peer sent a 4294967295-byte message (limit 131081)");
}

/// The peer addresses the seeder's log says it took in: refused (`refused ADDR: ...`) or
/// given a thread (`peer ADDR: thread started`).
fn taken_in(log: &str) -> HashSet<SocketAddr> {
    log.lines()
        .filter_map(|line| {
            let rest = match line.find("refused ") {
                Some(at) => &line[at + "refused ".len()..],
                None => {
                    let at = line.find("peer ")?;
                    let rest = &line[at + "peer ".len()..];
                    rest.ends_with(": thread started").then_some(rest)?
                }
            };
            rest.split(": ").next()?.parse().ok()
        })
        .collect()
}

/// Threads of process `pid`.
fn threads(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/task")).unwrap().count()
}

/// Waits up to 10 s for the thread count of `pid` to fall to `target`; returns the last.
fn settle_threads(pid: u32, target: usize) -> usize {
    let deadline = Instant::now() + secs(10);
    loop {
        let now = threads(pid);
        if now <= target || Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// VmRSS of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

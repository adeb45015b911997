//! The peer thread against scripted remote peers on loopback. The remote side here is a
//! test script, not a real client (those are in `tests/download_interop.rs`): it lets each
//! test hold the connection in one state and check that the state's timeout fires.

use super::*;
use crate::bitfield::Bitfield;
use crate::block_saver::Command as SaverCommand;
use crate::geometry::BlockRef;
use crate::wire::{Handshake, Message, MessageReader};
use crossbeam_channel::{Receiver, unbounded};
use std::io::Write;
use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::time::Instant;

mod fast;
mod magnet;
mod pex;
mod upload;

const INFO_HASH: [u8; 20] = [7; 20];
const OUR_ID: [u8; 20] = *b"-ST0100-testtesttest";
const THEIR_ID: [u8; 20] = *b"-XX0001-abcdefghijkl";

/// 4 pieces of 32 KiB: 8 blocks.
fn geometry() -> Geometry {
    Geometry::new(4 * 32768, 32768)
}

fn short_timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(2),
        handshake: Duration::from_secs(2),
        unchoke: Duration::from_millis(400),
        piece: Duration::from_millis(400),
        idle: Duration::from_millis(800),
        useless: Duration::from_secs(30),
        snub: Duration::from_secs(30),
        tick: Duration::from_millis(50),
    }
}

struct Setup {
    pieces: Arc<PieceManager>,
    saved: Receiver<SaverCommand>,
    exits: Receiver<Exited>,
    /// The addresses the peer thread passed on to the peer manager (peer exchange).
    found: Receiver<Vec<SocketAddr>>,
    /// The torrent's registry of connections, which peer exchange lists.
    registry: Arc<Registry>,
    /// Holds the (empty) files the shared storage maps.
    _dir: tempfile::TempDir,
}

/// Starts our peer thread against a remote scripted by `remote`, which gets the accepted
/// socket after the handshakes.
fn connect(remote: impl FnOnce(TcpStream) + Send + 'static) -> Setup {
    connect_with(false, Arc::default(), remote)
}

/// The byte at `offset` of the test torrent when we seed it.
fn payload_byte(offset: u64) -> u8 {
    (offset % 251) as u8
}

/// Like [`connect`]; with `seeding` every piece is verified and on disk, and `status` is
/// the peer's shared status (so a test can play the choker).
fn connect_with(
    seeding: bool,
    status: Arc<PeerStatus>,
    remote: impl FnOnce(TcpStream) + Send + 'static,
) -> Setup {
    connect_local(Local::default(), seeding, status, answering(false, remote))
}

/// The scripted peer's handshake: BEP 10's bit set, and BEP 6's if `fast`.
fn their_handshake(fast: bool) -> Handshake {
    let mut theirs = Handshake::new(INFO_HASH, THEIR_ID);
    if !fast {
        theirs.reserved[7] &= !0x04;
    }
    theirs
}

/// A remote that reads our handshake, answers with [`their_handshake`], then runs `remote`.
fn answering(
    fast: bool,
    remote: impl FnOnce(TcpStream) + Send + 'static,
) -> impl FnOnce(TcpStream) + Send + 'static {
    move |mut socket| {
        let ours = Handshake::read_from(&mut socket).unwrap();
        assert_eq!(ours.info_hash, INFO_HASH);
        socket.write_all(&their_handshake(fast).to_bytes()).unwrap();
        remote(socket);
    }
}

/// Like [`connect_with`], but `remote` gets the socket before any handshake.
fn connect_raw(
    seeding: bool,
    status: Arc<PeerStatus>,
    remote: impl FnOnce(TcpStream) + Send + 'static,
) -> Setup {
    connect_local(Local::default(), seeding, status, remote)
}

/// Our side's torrent, timeouts and upload limit, for the few tests that need others than
/// the defaults ([`geometry`], [`short_timeouts`], none).
#[derive(Clone, Copy)]
struct Local {
    geometry: Geometry,
    timeouts: Timeouts,
    /// A private torrent (BEP 27): no peer exchange.
    private: bool,
    /// `--max-upload-rate`, in bytes per second.
    upload_limit: Option<u64>,
    /// `--max-download-rate`, in bytes per second.
    download_limit: Option<u64>,
}

impl Default for Local {
    fn default() -> Local {
        Local {
            geometry: geometry(),
            timeouts: short_timeouts(),
            private: false,
            upload_limit: None,
            download_limit: None,
        }
    }
}

/// Like [`connect_raw`], with our side set up as `local` says.
fn connect_local(
    local: Local,
    seeding: bool,
    status: Arc<PeerStatus>,
    remote: impl FnOnce(TcpStream) + Send + 'static,
) -> Setup {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (socket, _) = listener.accept().unwrap();
        remote(socket);
    });
    let g = local.geometry;
    let mut have = Bitfield::new(g.piece_count);
    if seeding {
        (0..g.piece_count).for_each(|p| {
            have.set(p);
        });
    }
    let pieces = Arc::new(PieceManager::new(g, &have));
    let (saver, saved) = unbounded();
    let (exits_tx, exits) = unbounded();
    let (found_tx, found) = unbounded();
    let registry = Arc::new(Registry::new(OUR_ID));
    let dir = tempfile::tempdir().unwrap();
    let files = [crate::metainfo::FileEntry {
        path: "data".into(),
        length: g.total_length,
        offset: 0,
        kind: crate::metainfo::FileKind::Regular,
    }];
    let storage = Arc::new(Storage::open(dir.path(), &files).unwrap());
    if seeding {
        let data: Vec<u8> = (0..g.total_length).map(payload_byte).collect();
        storage.write(0, &data).unwrap();
    }
    let torrent = Torrent {
        geometry: g,
        pieces: pieces.clone(),
        saver,
        pool: crate::block_pool::BlockPool::new(),
        storage,
        info: Arc::from(&b"d4:name4:datae"[..]),
        private: local.private,
    };
    let shared = Arc::new(Shared {
        info_hash: INFO_HASH,
        peer_id: OUR_ID,
        torrent: OnceLock::from(Arc::new(torrent)),
        counters: Arc::new(Counters::new(g.total_length)),
        timeouts: local.timeouts,
        pipeline: 4,
        bind: None,
        encryption: Encryption::Plain,
        tracer: crate::transcript::Tracer::disabled(),
        upload_limit: local
            .upload_limit
            .map(|rate| Arc::new(crate::rate_limit::RateLimit::new(rate))),
        download_limit: local
            .download_limit
            .map(|rate| Arc::new(crate::rate_limit::RateLimit::new(rate))),
        registry: registry.clone(),
        listen_port: None,
        metadata: None,
        dht: None,
        addresses: found_tx,
        super_seed: None,
    });
    spawn_outgoing(1, addr, shared, status, exits_tx).unwrap();
    Setup {
        pieces,
        saved,
        exits,
        found,
        registry,
        _dir: dir,
    }
}

fn send(socket: &mut TcpStream, message: Message) {
    let mut bytes = Vec::new();
    message.encode(&mut bytes);
    socket.write_all(&bytes).unwrap();
}

fn full_bitfield() -> Message {
    let mut all = Bitfield::new(geometry().piece_count);
    for piece in 0..geometry().piece_count {
        all.set(piece);
    }
    Message::Bitfield(all.as_bytes().to_vec())
}

/// Reads messages until the connection closes (keeps the socket open meanwhile).
fn drain(mut socket: TcpStream) -> Vec<Message> {
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reader = MessageReader::new(1 << 20);
    let mut seen = Vec::new();
    while let Ok(Some(message)) = reader.read_from(&mut socket) {
        seen.push(message);
    }
    seen
}

/// A scripted leecher: reads our messages until `until` says stop (or 5 s pass).
fn read_until(socket: &mut TcpStream, mut until: impl FnMut(&Message) -> bool) -> Vec<Message> {
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reader = MessageReader::new(1 << 20);
    let mut seen = Vec::new();
    while let Ok(Some(message)) = reader.read_from(socket) {
        let done = until(&message);
        seen.push(message);
        if done {
            break;
        }
    }
    seen
}

fn unchoked() -> Arc<PeerStatus> {
    let status = Arc::new(PeerStatus::default());
    status
        .unchoke
        .store(true, std::sync::atomic::Ordering::Relaxed);
    status
}

fn exit_of(setup: &Setup) -> Exited {
    setup
        .exits
        .recv_timeout(Duration::from_secs(10))
        .expect("the peer thread should have ended")
}

#[test]
fn a_silent_peer_is_dropped_after_the_idle_timeout() {
    let setup = connect(|socket| {
        drain(socket);
    });
    let started = Instant::now();
    let exit = exit_of(&setup);
    assert!(
        matches!(exit.error, PeerError::Timeout("waiting for any message")),
        "{}",
        exit.error
    );
    assert!(started.elapsed() >= Duration::from_millis(700));
}

#[test]
fn a_peer_that_never_unchokes_is_dropped() {
    let setup = connect(|mut socket| {
        send(&mut socket, full_bitfield());
        // Keep-alives so the idle timeout is not what fires.
        for _ in 0..20 {
            send(&mut socket, Message::KeepAlive);
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let exit = exit_of(&setup);
    assert!(
        matches!(exit.error, PeerError::Timeout("waiting to be unchoked")),
        "{}",
        exit.error
    );
}

#[test]
fn a_peer_that_stops_sending_gives_its_blocks_back() {
    let setup = connect(|mut socket| {
        send(&mut socket, full_bitfield());
        send(&mut socket, Message::Unchoke);
        for _ in 0..20 {
            send(&mut socket, Message::KeepAlive);
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let exit = exit_of(&setup);
    assert!(
        matches!(
            exit.error,
            PeerError::Timeout("waiting for a requested block")
        ),
        "{}",
        exit.error
    );
    let mut again = Vec::new();
    let mut all = Bitfield::new(geometry().piece_count);
    (0..4).for_each(|p| {
        all.set(p);
    });
    setup.pieces.pick_blocks(2, &all, &[], 8, &mut again);
    assert_eq!(again.len(), 8, "every requested block is free again");
}

#[test]
fn a_block_never_requested_gets_the_peer_dropped() {
    let setup = connect(|mut socket| {
        send(&mut socket, full_bitfield());
        send(
            &mut socket,
            Message::Piece {
                piece: 3,
                offset: 0,
                data: vec![0; 16384],
            },
        );
        drain(socket);
    });
    let exit = exit_of(&setup);
    assert!(
        matches!(exit.error, PeerError::Misbehaved(_)),
        "{}",
        exit.error
    );
    assert!(exit.error.to_string().contains("never requested"));
    assert!(setup.saved.try_recv().is_err(), "nothing reached the disk");
}

#[test]
fn a_wrong_length_bitfield_gets_the_peer_dropped() {
    let setup = connect(|mut socket| {
        send(&mut socket, Message::Bitfield(vec![0xf0, 0]));
        drain(socket);
    });
    let exit = exit_of(&setup);
    assert!(
        exit.error.to_string().contains("bitfield is 2 bytes"),
        "{}",
        exit.error
    );
}

/// An honest peer: answers every request. The thread must keep several requests in flight
/// and hand every block to the saver.
#[test]
fn requests_are_pipelined_and_blocks_reach_the_saver() {
    let (most_in_flight_tx, most_in_flight) = unbounded();
    let setup = connect(move |mut socket| {
        send(&mut socket, full_bitfield());
        send(&mut socket, Message::Unchoke);
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut reader = MessageReader::new(1 << 20);
        let mut pending: Vec<BlockRef> = Vec::new();
        let mut most = 0;
        let mut served = 0;
        while served < 8 {
            match reader.read_from(&mut socket) {
                Ok(Some(Message::Request(block))) => pending.push(block),
                Ok(Some(_)) => continue,
                _ => break,
            }
            most = most.max(pending.len());
            // Answer only once several requests are queued, oldest first.
            if pending.len() >= 4 || served + pending.len() == 8 {
                for block in pending.drain(..) {
                    let data = vec![block.piece as u8; block.length as usize];
                    send(
                        &mut socket,
                        Message::Piece {
                            piece: block.piece,
                            offset: block.offset,
                            data,
                        },
                    );
                    served += 1;
                }
            }
        }
        let _ = most_in_flight_tx.send(most);
        drain(socket);
    });
    let mut saved = 0;
    while saved < 8 {
        match setup.saved.recv_timeout(Duration::from_secs(10)) {
            Ok(SaverCommand::Save { block, data }) => {
                assert_eq!(data.len(), block.length as usize);
                assert!(data.iter().all(|&b| b == block.piece as u8));
                saved += 1;
            }
            Err(e) => panic!("only {saved} blocks reached the saver: {e}"),
        }
    }
    let most = most_in_flight
        .recv_timeout(Duration::from_secs(10))
        .unwrap();
    assert_eq!(most, 4, "the pipeline of 4 requests was kept full");
}

/// Regression (issue 6): the handshake timeout applied to each read, so a peer sending its
/// handshake one byte at a time was never timed out, and held up the end of a download.
#[test]
fn a_handshake_dripped_byte_by_byte_still_times_out() {
    let setup = connect_raw(false, Arc::default(), |mut socket| {
        for byte in Handshake::new(INFO_HASH, THEIR_ID).to_bytes() {
            if socket.write_all(&[byte]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let started = Instant::now();
    let exit = exit_of(&setup);
    assert!(
        matches!(exit.error, PeerError::Timeout("waiting for the handshake")),
        "{}",
        exit.error
    );
    // short_timeouts(): 2 s for the handshake; the drip would take 6.8 s.
    assert!(started.elapsed() < Duration::from_secs(4));
}

/// A peer that never answers the handshake does not delay a stop by the handshake timeout.
#[test]
fn a_stop_ends_a_handshake_wait_at_once() {
    let status: Arc<PeerStatus> = Arc::default();
    let setup = connect_raw(false, status.clone(), |socket| {
        std::thread::sleep(Duration::from_secs(3));
        drop(socket);
    });
    std::thread::sleep(Duration::from_millis(200));
    let stopped_at = Instant::now();
    status.stop.store(true, Ordering::Relaxed);
    let exit = exit_of(&setup);
    assert!(matches!(exit.error, PeerError::Stopped), "{}", exit.error);
    assert!(stopped_at.elapsed() < Duration::from_millis(500));
}

/// A peer that sets the BEP 10 bit gets our extension handshake (with `reqq`) right after
/// our bitfield; one that does not set it never sees an extension message.
#[test]
fn a_bep_10_peer_gets_our_extension_handshake_and_a_plain_one_does_not() {
    for speaks_bep_10 in [true, false] {
        let (got_tx, got) = unbounded();
        let _setup = connect_raw(true, unchoked(), move |mut socket| {
            Handshake::read_from(&mut socket).unwrap();
            let mut theirs = their_handshake(false);
            if !speaks_bep_10 {
                theirs.reserved = [0; 8];
            }
            socket.write_all(&theirs.to_bytes()).unwrap();
            send(&mut socket, Message::Interested);
            let seen = read_until(&mut socket, |m| matches!(m, Message::Unchoke));
            let _ = got_tx.send(seen);
        });
        let seen = got.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(matches!(seen[0], Message::Bitfield(_)), "{seen:?}");
        let extended = seen
            .iter()
            .filter(|m| matches!(m, Message::Extended { id: 0, .. }))
            .count();
        assert_eq!(extended, speaks_bep_10 as usize, "{seen:?}");
        if speaks_bep_10 {
            assert!(
                matches!(seen[1], Message::Extended { id: 0, .. }),
                "{seen:?}"
            );
        }
    }
}

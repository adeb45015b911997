//! The peer thread against scripted remote peers on loopback. The remote side here is a
//! test script, not a real client (those are in `tests/download_interop.rs`): it lets each
//! test hold the connection in one state and check that the state's timeout fires.

use super::*;
use crate::bitfield::Bitfield;
use crate::block_saver::Command as SaverCommand;
use crate::geometry::BlockRef;
use crate::wire::{Message, MessageReader};
use crossbeam_channel::{Receiver, unbounded};
use std::io::Write;
use std::net::TcpListener;
use std::time::Instant;

const INFO_HASH: [u8; 20] = [7; 20];
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
    /// Holds the (empty) files the swarm's storage maps.
    _dir: tempfile::TempDir,
}

/// Starts our peer thread against a remote scripted by `remote`, which gets the accepted
/// socket after the handshakes.
fn connect(remote: impl FnOnce(TcpStream) + Send + 'static) -> Setup {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        let ours = Handshake::read_from(&mut socket).unwrap();
        assert_eq!(ours.info_hash, INFO_HASH);
        socket
            .write_all(&Handshake::new(INFO_HASH, THEIR_ID).to_bytes())
            .unwrap();
        remote(socket);
    });
    let g = geometry();
    let pieces = Arc::new(PieceManager::new(g, &Bitfield::new(g.piece_count)));
    let (saver, saved) = unbounded();
    let (exits_tx, exits) = unbounded();
    let dir = tempfile::tempdir().unwrap();
    let files = [crate::metainfo::FileEntry {
        path: "data".into(),
        length: g.total_length,
        offset: 0,
        kind: crate::metainfo::FileKind::Regular,
    }];
    let storage = Arc::new(Storage::open(dir.path(), &files).unwrap());
    let swarm = Arc::new(Swarm {
        info_hash: INFO_HASH,
        peer_id: *b"-ST0100-testtesttest",
        geometry: g,
        pieces: pieces.clone(),
        saver,
        counters: Arc::new(Counters::new(g.total_length)),
        timeouts: short_timeouts(),
        pipeline: 4,
        storage,
        bind: None,
    });
    spawn_outgoing(1, addr, swarm, Arc::default(), exits_tx).unwrap();
    Setup {
        pieces,
        saved,
        exits,
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

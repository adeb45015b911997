//! The Fast extension (BEP 6) against scripted peers that set its bit: `have_all` and
//! `have_none` both ways, the peer's rejects, a choke that no longer cancels our requests,
//! the pieces it allows us fast, its suggestions, and the violations that drop a peer.
//! Our side's rejects and allowed-fast pieces are in `fast/upload.rs`.

use super::super::fast::{ALLOWED_FAST_PIECES, allowed_fast_set};
use super::*;
use std::net::{IpAddr, Ipv4Addr};

mod upload;

/// Starts our peer thread against a scripted Fast peer (see [`connect_local`]).
fn connect_fast(
    local: Local,
    seeding: bool,
    status: Arc<PeerStatus>,
    remote: impl FnOnce(TcpStream) + Send + 'static,
) -> Setup {
    connect_local(local, seeding, status, answering(true, remote))
}

/// 64 pieces of 16 KiB, one block each: more pieces than an allowed-fast set.
fn sixty_four_pieces() -> Local {
    Local {
        geometry: Geometry::new(64 * 16384, 16384),
        ..Local::default()
    }
}

/// The allowed-fast set we grant the scripted peer (it connects from 127.0.0.1).
fn granted(pieces: u32) -> Vec<u32> {
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    allowed_fast_set(ip, &INFO_HASH, pieces, ALLOWED_FAST_PIECES)
}

fn block(piece: u32, offset: u32) -> BlockRef {
    BlockRef {
        piece,
        offset,
        length: 16384,
    }
}

/// Sends `messages` in one write, so our side reads them in one batch.
fn send_all(socket: &mut TcpStream, messages: &[Message]) {
    let mut bytes = Vec::new();
    for message in messages {
        message.encode(&mut bytes);
    }
    socket.write_all(&bytes).unwrap();
}

#[test]
fn a_fast_peer_gets_have_all_or_have_none_then_our_allowed_fast_set() {
    for (seeding, opening) in [(true, Message::HaveAll), (false, Message::HaveNone)] {
        let (got_tx, got) = unbounded();
        let _setup = connect_fast(
            Local::default(),
            seeding,
            Arc::default(),
            move |mut socket| {
                let mut allowed = 0;
                let seen = read_until(&mut socket, |m| {
                    allowed += matches!(m, Message::AllowedFast(_)) as usize;
                    allowed == 4
                });
                let _ = got_tx.send(seen);
            },
        );
        let seen = got.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(seen[0], opening, "{seen:?}");
        assert!(!seen.iter().any(|m| matches!(m, Message::Bitfield(_))));
        let mut allowed: Vec<u32> = seen
            .iter()
            .filter_map(|m| match m {
                Message::AllowedFast(piece) => Some(*piece),
                _ => None,
            })
            .collect();
        allowed.sort_unstable();
        assert_eq!(allowed, [0, 1, 2, 3], "4 pieces: each is allowed fast");
    }
}

#[test]
fn have_all_from_a_fast_peer_is_every_piece_and_have_none_is_none() {
    let (got_tx, got) = unbounded();
    let setup = connect_fast(
        Local::default(),
        false,
        Arc::default(),
        move |mut socket| {
            send(&mut socket, Message::HaveNone);
            // Nothing to want yet: no `interested` within a few ticks.
            socket
                .set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            let mut reader = MessageReader::new(1 << 20);
            let mut early = Vec::new();
            while let Ok(Some(message)) = reader.read_from(&mut socket) {
                early.push(message);
            }
            let _ = got_tx.send(early);
            send(&mut socket, Message::Have(1));
            read_until(&mut socket, |m| matches!(m, Message::Interested));
            drain(socket);
        },
    );
    let early = got.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(!early.contains(&Message::Interested), "{early:?}");
    drop(setup);

    let setup = connect_fast(Local::default(), false, Arc::default(), |mut socket| {
        send_all(&mut socket, &[Message::HaveAll, Message::Unchoke]);
        let mut served = 0;
        let mut reader = MessageReader::new(1 << 20);
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        while served < 8 {
            match reader.read_from(&mut socket) {
                Ok(Some(Message::Request(b))) => {
                    let data = vec![0; b.length as usize];
                    let (piece, offset) = (b.piece, b.offset);
                    send(
                        &mut socket,
                        Message::Piece {
                            piece,
                            offset,
                            data,
                        },
                    );
                    served += 1;
                }
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        drain(socket);
    });
    for _ in 0..8 {
        let saved = setup.saved.recv_timeout(Duration::from_secs(10));
        assert!(saved.is_ok(), "every block of a have_all peer is fetched");
    }
}

/// Reads our requests until `count` have come, answering nothing.
fn requests(socket: &mut TcpStream, count: usize) -> Vec<BlockRef> {
    let mut asked = Vec::new();
    read_until(socket, |m| {
        if let Message::Request(b) = m {
            asked.push(*b);
        }
        asked.len() == count
    });
    asked
}

fn piece_message(b: BlockRef) -> Message {
    let data = vec![0; b.length as usize];
    Message::Piece {
        piece: b.piece,
        offset: b.offset,
        data,
    }
}

/// A reject from a peer that unchokes us frees the block and its place in the pipeline:
/// the block is asked for again.
#[test]
fn a_rejected_block_goes_back_and_is_asked_for_again() {
    let (got_tx, got) = unbounded();
    let _setup = connect_fast(
        Local::default(),
        false,
        Arc::default(),
        move |mut socket| {
            send_all(&mut socket, &[Message::HaveAll, Message::Unchoke]);
            let first = requests(&mut socket, 4);
            send(&mut socket, Message::RejectRequest(first[0]));
            let again = requests(&mut socket, 1);
            let _ = got_tx.send((first[0], again[0]));
            drain(socket);
        },
    );
    let (rejected, again) = got.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(again, rejected);
}

/// BEP 6: a choke does not cancel our requests: they stay ours until answered. Blocks that
/// still arrive are taken, the rejected ones go back to the piece manager, and nothing is
/// asked while choked.
#[test]
fn a_choke_from_a_fast_peer_waits_for_its_answers() {
    let (asked_tx, asked_rx) = unbounded();
    let (go_tx, go) = unbounded::<()>();
    let (later_tx, later_rx) = unbounded();
    let patient = Local {
        timeouts: Timeouts {
            unchoke: Duration::from_secs(30),
            idle: Duration::from_secs(30),
            ..short_timeouts()
        },
        ..Local::default()
    };
    let setup = connect_fast(patient, false, Arc::default(), move |mut socket| {
        send_all(&mut socket, &[Message::HaveAll, Message::Unchoke]);
        let asked = requests(&mut socket, 4);
        send(&mut socket, Message::Choke);
        let _ = asked_tx.send(asked.clone());
        let _ = go.recv_timeout(Duration::from_secs(10));
        let mut answers = vec![piece_message(asked[0]), piece_message(asked[1])];
        answers.extend(asked[2..].iter().map(|b| Message::RejectRequest(*b)));
        send_all(&mut socket, &answers);
        // What we send in the next 300 ms; then stay connected while the test looks.
        socket
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut reader = MessageReader::new(1 << 20);
        let mut later = Vec::new();
        while let Ok(Some(message)) = reader.read_from(&mut socket) {
            later.push(message);
        }
        let _ = later_tx.send(later);
        drain(socket);
    });
    let asked: Vec<BlockRef> = asked_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    // Another peer that has only the pieces asked for (the others are not started, so no
    // endgame) finds no free block in them while they are ours.
    let mut pieces_asked = Bitfield::new(4);
    asked.iter().for_each(|b| {
        pieces_asked.set(b.piece);
    });
    let free = |key| {
        let mut free = Vec::new();
        let pieces = &setup.pieces;
        pieces.pick_blocks(key, &pieces_asked, &[], 8, &mut free);
        free.sort_by_key(|b: &BlockRef| (b.piece, b.offset));
        free
    };
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(free(2), [], "choked, nothing answered yet: still ours");
    let _ = go_tx.send(());
    for _ in 0..2 {
        let saved = setup.saved.recv_timeout(Duration::from_secs(10));
        assert!(saved.is_ok(), "a block sent after the choke is taken");
    }
    let later = later_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(
        !later.iter().any(|m| matches!(m, Message::Request(_))),
        "{later:?}"
    );
    let mut rejected = asked[2..].to_vec();
    rejected.sort_by_key(|b| (b.piece, b.offset));
    assert_eq!(free(3), rejected, "the rejected two are free again");
    assert!(setup.exits.try_recv().is_err(), "still connected");
}

/// A peer that chokes us but allows us a piece fast is asked for that piece only.
#[test]
fn an_allowed_fast_piece_is_requested_while_choked() {
    let (got_tx, got) = unbounded();
    let _setup = connect_fast(
        Local::default(),
        false,
        Arc::default(),
        move |mut socket| {
            send_all(&mut socket, &[Message::HaveAll, Message::AllowedFast(2)]);
            let asked = requests(&mut socket, 2);
            let _ = got_tx.send(asked);
            drain(socket);
        },
    );
    let asked = got.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(asked, [block(2, 0), block(2, 16384)]);
}

#[test]
fn a_suggested_piece_is_requested_first() {
    let (got_tx, got) = unbounded();
    let _setup = connect_fast(
        Local::default(),
        false,
        Arc::default(),
        move |mut socket| {
            let opening = [Message::HaveAll, Message::SuggestPiece(3), Message::Unchoke];
            send_all(&mut socket, &opening);
            let _ = got_tx.send(requests(&mut socket, 2));
            drain(socket);
        },
    );
    let asked = got.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(asked, [block(3, 0), block(3, 16384)]);
}

/// Regression: aria2 1.36, a Fast peer, sends `have_none`, `allowed_fast`s, `interested`, a
/// `have`, then a whole bitfield. Dropping it for the late bitfield (as BEP 6's letter
/// says) cut every aria2 leecher off; the bitfield now replaces what we knew.
#[test]
fn aria2s_late_bitfield_after_have_none_is_taken() {
    let (got_tx, got) = unbounded();
    let setup = connect_fast(
        Local::default(),
        false,
        Arc::default(),
        move |mut socket| {
            let aria2 = [
                Message::HaveNone,
                Message::AllowedFast(1),
                Message::Interested,
                Message::Have(1),
                full_bitfield(),
                Message::Unchoke,
            ];
            send_all(&mut socket, &aria2);
            let _ = got_tx.send(requests(&mut socket, 4));
            drain(socket);
        },
    );
    let asked = got.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(asked.iter().any(|b| b.piece != 1), "{asked:?}");
    assert!(setup.exits.try_recv().is_err(), "still connected");
}

/// What a Fast peer (or one that is not) must not send, each with the reason it is dropped.
#[test]
fn violations_of_bep_6_get_the_peer_dropped() {
    #[rustfmt::skip]
    let table: Vec<(bool, Vec<Message>, &str)> = vec![
        (true, vec![Message::HaveNone, Message::HaveAll],
            "sent have_all after its first message (BEP 6 allows it only as the first)"),
        (true, vec![Message::Have(0), Message::HaveNone], "sent have_none after its first message"),
        (true, vec![Message::HaveAll, Message::RejectRequest(block(1, 0))],
            "rejected 16384 bytes at offset 0 of piece 1, which we never requested"),
        (true, vec![Message::AllowedFast(4)],
            "sent allowed_fast for piece 4, out of range (the torrent has 4 pieces)"),
        (true, vec![Message::SuggestPiece(u32::MAX)], "sent suggest_piece for piece 4294967295"),
        (true, vec![Message::RejectRequest(block(4, 0))], "sent reject_request for piece 4"),
        (false, vec![Message::HaveAll],
            "sent have_all, a Fast extension message, without setting the Fast extension bit"),
        (false, vec![Message::AllowedFast(0)], "sent allowed_fast, a Fast extension message"),
    ];
    for (fast, messages, reason) in table {
        let remote = move |mut socket: TcpStream| {
            send_all(&mut socket, &messages);
            drain(socket);
        };
        let setup = connect_local(
            Local::default(),
            false,
            Arc::default(),
            answering(fast, remote),
        );
        let exit = exit_of(&setup);
        assert!(
            matches!(exit.error, PeerError::Misbehaved(_)),
            "{reason}: {}",
            exit.error
        );
        assert!(exit.error.to_string().contains(reason), "{}", exit.error);
    }
}

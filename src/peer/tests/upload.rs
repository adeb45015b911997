//! The serving side of the peer thread against scripted leechers: requests answered from
//! the map, and requests that are too large, out of range, choked, cancelled or bursty.

use super::*;

#[test]
fn requested_blocks_are_served_from_the_map() {
    let (got_tx, got) = unbounded();
    let _setup = connect_with(true, unchoked(), move |mut socket| {
        let first = read_until(&mut socket, |m| matches!(m, Message::Unchoke));
        send(&mut socket, Message::Interested);
        for (piece, offset, length) in [(0, 0, 16384), (3, 16384, 16384), (2, 100, 5000)] {
            send(
                &mut socket,
                Message::Request(BlockRef {
                    piece,
                    offset,
                    length,
                }),
            );
        }
        let mut blocks = 0;
        let rest = read_until(&mut socket, |m| {
            blocks += matches!(m, Message::Piece { .. }) as u32;
            blocks == 3
        });
        let _ = got_tx.send((first, rest));
    });
    let (first, rest) = got.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(
        matches!(&first[0], Message::Bitfield(bits) if bits == &[0xf0]),
        "our bitfield comes first: {first:?}"
    );
    let pieces: Vec<(u32, u32, Vec<u8>)> = rest
        .into_iter()
        .filter_map(|m| match m {
            Message::Piece {
                piece,
                offset,
                data,
            } => Some((piece, offset, data)),
            _ => None,
        })
        .collect();
    assert_eq!(pieces.len(), 3);
    for (piece, offset, data) in pieces {
        let start = geometry().piece_offset(piece) + offset as u64;
        let expected: Vec<u8> = (start..start + data.len() as u64)
            .map(payload_byte)
            .collect();
        assert_eq!(data, expected, "piece {piece} offset {offset}");
    }
}

#[test]
fn a_request_over_128_kib_gets_the_peer_dropped() {
    let setup = connect_with(true, unchoked(), |mut socket| {
        read_until(&mut socket, |m| matches!(m, Message::Unchoke));
        send(&mut socket, Message::Interested);
        send(
            &mut socket,
            Message::Request(BlockRef {
                piece: 0,
                offset: 0,
                length: 128 * 1024 + 1,
            }),
        );
        drain(socket);
    });
    let exit = exit_of(&setup);
    assert!(
        exit.error.to_string().contains("request of 131073 bytes"),
        "{}",
        exit.error
    );
}

#[test]
fn a_request_outside_the_torrent_gets_the_peer_dropped() {
    let setup = connect_with(true, unchoked(), |mut socket| {
        read_until(&mut socket, |m| matches!(m, Message::Unchoke));
        send(
            &mut socket,
            Message::Request(BlockRef {
                piece: 3,
                offset: 32000,
                length: 16384,
            }),
        );
        drain(socket);
    });
    let exit = exit_of(&setup);
    assert!(
        exit.error.to_string().contains("outside the torrent"),
        "{}",
        exit.error
    );
}

#[test]
fn requests_from_a_choked_peer_and_for_missing_pieces_are_not_served() {
    // We have nothing, and the choker keeps the peer choked.
    let (got_tx, got) = unbounded();
    let _setup = connect_with(false, Arc::default(), move |mut socket| {
        send(&mut socket, Message::Interested);
        send(
            &mut socket,
            Message::Request(BlockRef {
                piece: 0,
                offset: 0,
                length: 16384,
            }),
        );
        let seen = read_until(&mut socket, |_| false);
        let _ = got_tx.send(seen);
    });
    let seen = got.recv_timeout(Duration::from_secs(15)).unwrap();
    assert!(
        !seen
            .iter()
            .any(|m| matches!(m, Message::Piece { .. } | Message::Unchoke)),
        "{seen:?}"
    );
}

#[test]
fn a_cancelled_request_is_not_served_and_a_choke_drops_the_queue() {
    let status = unchoked();
    let choker = status.clone();
    let (got_tx, got) = unbounded();
    let _setup = connect_with(true, status, move |mut socket| {
        read_until(&mut socket, |m| matches!(m, Message::Unchoke));
        // Cancel before the request can be served: both go out in one write.
        let mut bytes = Vec::new();
        Message::Request(BlockRef {
            piece: 1,
            offset: 0,
            length: 16384,
        })
        .encode(&mut bytes);
        Message::Cancel(BlockRef {
            piece: 1,
            offset: 0,
            length: 16384,
        })
        .encode(&mut bytes);
        Message::Request(BlockRef {
            piece: 1,
            offset: 16384,
            length: 16384,
        })
        .encode(&mut bytes);
        socket.write_all(&bytes).unwrap();
        let served = read_until(&mut socket, |m| matches!(m, Message::Piece { .. }));
        choker
            .unchoke
            .store(false, std::sync::atomic::Ordering::Relaxed);
        let choked = read_until(&mut socket, |m| matches!(m, Message::Choke));
        let _ = got_tx.send((served, choked));
    });
    let (served, choked) = got.recv_timeout(Duration::from_secs(10)).unwrap();
    let offsets: Vec<u32> = served
        .iter()
        .filter_map(|m| match m {
            Message::Piece { offset, .. } => Some(*offset),
            _ => None,
        })
        .collect();
    assert_eq!(
        offsets,
        vec![16384],
        "only the request that was not cancelled"
    );
    assert!(matches!(choked.last(), Some(Message::Choke)), "{choked:?}");
}

/// Regression (issue 8): Transmission sends its requests in bursts, about one a second,
/// and nothing in between. We copied one batch of blocks (256 KiB) into the send buffer,
/// wrote it, and then slept until the peer sent something or the tick came, although more
/// requests were queued: 16 blocks per tick, 2.6 MB/s. Here the tick is a minute, so every
/// block of the burst arrives only if the thread keeps serving while the socket has room.
#[test]
fn a_burst_of_requests_is_served_without_waiting_for_a_tick() {
    let local = Local {
        // 1 MiB: four times the blocks we copy into the send buffer per turn.
        geometry: Geometry::new(1 << 20, 1 << 18),
        timeouts: Timeouts {
            tick: Duration::from_secs(60),
            ..short_timeouts()
        },
        ..Local::default()
    };
    let blocks: Vec<BlockRef> = (0..4)
        .flat_map(|piece| {
            (0..16).map(move |i| BlockRef {
                piece,
                offset: i * 16384,
                length: 16384,
            })
        })
        .collect();
    let burst = blocks.clone();
    let (got_tx, got) = unbounded();
    let _setup = connect_local(local, true, unchoked(), move |mut socket| {
        Handshake::read_from(&mut socket).unwrap();
        socket
            .write_all(&their_handshake(false).to_bytes())
            .unwrap();
        send(&mut socket, Message::Interested);
        read_until(&mut socket, |m| matches!(m, Message::Unchoke));
        // The whole burst in one write, then only reading, as Transmission does.
        let mut bytes = Vec::new();
        for block in &burst {
            Message::Request(*block).encode(&mut bytes);
        }
        socket.write_all(&bytes).unwrap();
        let mut served = Vec::new();
        read_until(&mut socket, |m| {
            if let Message::Piece { piece, offset, .. } = m {
                served.push((*piece, *offset));
            }
            served.len() == 64
        });
        let _ = got_tx.send(served);
    });
    let served = got.recv_timeout(Duration::from_secs(15)).unwrap();
    let asked: Vec<(u32, u32)> = blocks.iter().map(|b| (b.piece, b.offset)).collect();
    assert_eq!(
        served, asked,
        "every block of the burst, in order, within one tick"
    );
}

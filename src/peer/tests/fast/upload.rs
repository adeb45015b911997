//! Serving a Fast peer (BEP 6): a reject for every request we will not serve (choked,
//! piece missing, over the queue limit, cancelled, queued when we choke), and the pieces
//! we allowed it fast served even while it is choked.

use super::*;

/// We seed, and keep the peer choked: requests for pieces outside its allowed-fast set are
/// rejected, those inside are served, and a cancelled one is rejected too (every request
/// gets exactly one answer).
#[test]
fn a_choked_fast_peer_is_rejected_except_for_its_allowed_fast_pieces() {
    let allowed = granted(64);
    let outside = (0..64).find(|p| !allowed.contains(p)).unwrap();
    let inside = allowed[0];
    let (got_tx, got) = unbounded();
    let _setup = connect_fast(
        sixty_four_pieces(),
        true,
        Arc::default(),
        move |mut socket| {
            let mut seen = read_until(&mut socket, |m| *m == Message::AllowedFast(inside));
            send(&mut socket, Message::Interested);
            send(&mut socket, Message::Request(block(outside, 0)));
            seen.extend(read_until(&mut socket, |m| {
                matches!(m, Message::RejectRequest(_))
            }));
            send(&mut socket, Message::Request(block(inside, 0)));
            seen.extend(read_until(&mut socket, |m| {
                matches!(m, Message::Piece { .. })
            }));
            send_all(
                &mut socket,
                &[
                    Message::Request(block(inside, 0)),
                    Message::Cancel(block(inside, 0)),
                ],
            );
            seen.extend(read_until(&mut socket, |m| {
                matches!(m, Message::RejectRequest(_))
            }));
            let _ = got_tx.send(seen);
        },
    );
    let seen = got.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(seen[0], Message::HaveAll);
    let answers: Vec<String> = seen
        .iter()
        .filter(|m| matches!(m, Message::RejectRequest(_) | Message::Piece { .. }))
        .map(Message::summary)
        .collect();
    assert_eq!(
        answers,
        [
            format!("reject request: piece {outside} offset 0 (16384 bytes)"),
            format!("piece {inside} offset 0 (16384 bytes)"),
            format!("reject request: piece {inside} offset 0 (16384 bytes)"),
        ]
    );
    assert!(!seen.contains(&Message::Unchoke), "the peer stayed choked");
}

#[test]
fn a_request_for_a_piece_we_lack_is_rejected() {
    let (got_tx, got) = unbounded();
    let _setup = connect_fast(Local::default(), false, unchoked(), move |mut socket| {
        send_all(
            &mut socket,
            &[Message::HaveNone, Message::Request(block(2, 0))],
        );
        let seen = read_until(&mut socket, |m| matches!(m, Message::RejectRequest(_)));
        let _ = got_tx.send(seen);
    });
    let seen = got.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(seen.last(), Some(&Message::RejectRequest(block(2, 0))));
}

/// The upload limit holds back all but the first 16 blocks, so the rest stay queued: one
/// request past the queue's limit is rejected at once, and choking the peer rejects every
/// queued request instead of dropping them silently.
#[test]
fn choking_a_fast_peer_rejects_its_queued_requests() {
    let local = Local {
        upload_limit: Some(1),
        ..sixty_four_pieces()
    };
    let allowed = granted(64);
    let pieces: Vec<u32> = (0..64).filter(|p| !allowed.contains(p)).collect();
    let asked: Vec<BlockRef> = (0..16 + 2048 + 1)
        .map(|i| block(pieces[i % pieces.len()], 0))
        .collect();
    let status = unchoked();
    let choker = status.clone();
    let (got_tx, got) = unbounded();
    let requests = asked.clone();
    let _setup = connect_fast(local, true, status, move |mut socket| {
        read_until(&mut socket, |m| matches!(m, Message::Unchoke));
        let messages: Vec<Message> = requests.into_iter().map(Message::Request).collect();
        send_all(&mut socket, &messages);
        let mut before = read_until(&mut socket, |m| matches!(m, Message::RejectRequest(_)));
        choker.unchoke.store(false, Ordering::Relaxed);
        let mut rejects = 0;
        before.extend(read_until(&mut socket, |m| {
            rejects += matches!(m, Message::RejectRequest(_)) as usize;
            rejects == 2048
        }));
        let _ = got_tx.send(before);
    });
    let seen = got.recv_timeout(Duration::from_secs(20)).unwrap();
    let served = seen
        .iter()
        .filter(|m| matches!(m, Message::Piece { .. }))
        .count();
    assert_eq!(served, 16, "the burst the upload limit lets through");
    let rejected: Vec<BlockRef> = seen
        .iter()
        .filter_map(|m| match m {
            Message::RejectRequest(b) => Some(*b),
            _ => None,
        })
        .collect();
    assert_eq!(rejected[0], asked[16 + 2048], "the request past the limit");
    let choke = seen.iter().position(|m| *m == Message::Choke).unwrap();
    let after_choke = seen[choke..]
        .iter()
        .filter(|m| matches!(m, Message::RejectRequest(_)))
        .count();
    assert_eq!(after_choke, 2048, "one reject per queued request");
    assert_eq!(rejected[1..], asked[16..16 + 2048], "in the order asked");
}

use super::*;
use crossbeam_channel::{Receiver, unbounded};

/// Metadata of `len` bytes, and an assembly for it.
fn setup(len: usize) -> (Vec<u8>, Fetch, Receiver<Event>) {
    let metadata: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
    let info_hash: [u8; 20] = Sha1::digest(&metadata).into();
    let (events, inbox) = unbounded();
    (metadata, Fetch::new(info_hash, events), inbox)
}

fn piece(metadata: &[u8], index: u32) -> &[u8] {
    crate::extension::metadata::piece_of(metadata, index).unwrap()
}

#[test]
fn two_peers_fill_one_buffer_and_it_is_verified() {
    let (metadata, fetch, events) = setup(3 * PIECE_SIZE + 100);
    let size = metadata.len() as u64;
    let now = Instant::now();
    // Each asks for the next missing piece: no piece is asked twice.
    let a: Vec<u32> = (0..2)
        .filter_map(|_| fetch.next_request(1, size, now))
        .collect();
    let b: Vec<u32> = (0..3)
        .filter_map(|_| fetch.next_request(2, size, now))
        .collect();
    assert_eq!((a.clone(), b.clone()), (vec![0, 1], vec![2, 3]));
    for (peer, pieces) in [(1, &a), (2, &b)] {
        for &index in pieces {
            fetch
                .received(peer, index, size, piece(&metadata, index))
                .unwrap();
        }
    }
    assert!(fetch.is_done());
    match events.try_recv().unwrap() {
        Event::Verified(bytes) => assert_eq!(&bytes[..], &metadata[..]),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        fetch.next_request(3, size, now),
        None,
        "nothing more to ask"
    );
}

#[test]
fn pieces_of_the_wrong_size_are_violations() {
    let (metadata, fetch, _events) = setup(PIECE_SIZE + 10);
    let size = metadata.len() as u64;
    let now = Instant::now();
    assert_eq!(fetch.next_request(1, size, now), Some(0));
    assert_eq!(fetch.next_request(1, size, now), Some(1));
    assert_eq!(
        fetch.received(1, 1, size, &[0; 11]),
        Err(Violation::WrongLength {
            piece: 1,
            len: 11,
            want: 10
        })
    );
    assert_eq!(
        fetch.received(1, 0, size + 1, piece(&metadata, 0)),
        Err(Violation::WrongTotal {
            said: size + 1,
            size
        })
    );
    let text = Violation::WrongLength {
        piece: 1,
        len: 11,
        want: 10,
    }
    .to_string();
    assert_eq!(text, "sent metadata piece 1 of 11 bytes (expected 10)");
}

#[test]
fn a_peer_with_another_size_is_not_asked() {
    let (metadata, fetch, _events) = setup(100);
    let size = metadata.len() as u64;
    let now = Instant::now();
    assert_eq!(fetch.next_request(1, size, now), Some(0));
    assert_eq!(fetch.next_request(2, size + 5, now), None);
    assert_eq!(fetch.next_request(3, MAX_SIZE + 1, now), None);
}

#[test]
fn a_lone_liar_is_blamed_and_not_asked_again() {
    let (metadata, fetch, events) = setup(100);
    let size = metadata.len() as u64;
    let now = Instant::now();
    assert_eq!(fetch.next_request(1, size, now), Some(0));
    fetch.received(1, 0, size, &[0; 100]).unwrap();
    assert!(!fetch.is_done());
    match events.try_recv().unwrap() {
        Event::Failed { contributors } => assert_eq!(contributors, vec![1]),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        fetch.next_request(1, size, now),
        None,
        "the liar is a suspect"
    );
    assert_eq!(
        fetch.next_request(2, size, now),
        Some(0),
        "an honest peer starts over"
    );
    fetch.received(2, 0, size, &metadata).unwrap();
    assert!(matches!(events.try_recv().unwrap(), Event::Verified(_)));
}

#[test]
fn after_a_shared_failure_one_peer_fetches_it_all() {
    let (metadata, fetch, events) = setup(2 * PIECE_SIZE);
    let size = metadata.len() as u64;
    let now = Instant::now();
    assert_eq!(fetch.next_request(1, size, now), Some(0));
    assert_eq!(fetch.next_request(2, size, now), Some(1));
    fetch.received(1, 0, size, piece(&metadata, 0)).unwrap();
    fetch.received(2, 1, size, &[9; PIECE_SIZE]).unwrap();
    match events.try_recv().unwrap() {
        Event::Failed { contributors } => assert_eq!(contributors, vec![1, 2]),
        other => panic!("{other:?}"),
    }
    // The first to ask is pinned: the other gets nothing this attempt.
    assert_eq!(fetch.next_request(2, size, now), Some(0));
    assert_eq!(fetch.next_request(1, size, now), None);
    assert_eq!(fetch.next_request(2, size, now), Some(1));
    // The pinned peer leaves: the next to ask takes over.
    fetch.peer_gone(2);
    assert_eq!(fetch.next_request(1, size, now), Some(0));
}

#[test]
fn a_refused_or_forgotten_piece_is_asked_of_another() {
    let (metadata, fetch, _events) = setup(100);
    let size = metadata.len() as u64;
    let now = Instant::now();
    assert_eq!(fetch.next_request(1, size, now), Some(0));
    assert_eq!(fetch.next_request(2, size, now), None, "asked already");
    fetch.not_coming(1, 0);
    assert_eq!(fetch.next_request(2, size, now), Some(0));
    let later = now + ASK_TIMEOUT + Duration::from_secs(1);
    assert_eq!(fetch.next_request(3, size, later), Some(0), "timed out");
    // The slow first answer is no violation, and no longer counts.
    assert_eq!(fetch.received(2, 0, size, &metadata), Ok(()));
    assert!(!fetch.is_done());
}

#[test]
fn a_torrent_file_made_from_metadata_has_the_same_info_hash() {
    let info = b"d6:lengthi5e4:name1:a12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae";
    let trackers = vec![
        "http://127.0.0.1:1/announce".to_string(),
        "udp://127.0.0.1:2".into(),
    ];
    let bytes = torrent_file(info, &trackers);
    let meta = crate::metainfo::Metainfo::from_bytes(&bytes).unwrap();
    assert_eq!(meta.info_hash, <[u8; 20]>::from(Sha1::digest(info)));
    assert_eq!(
        meta.trackers,
        vec![vec![trackers[0].clone()], vec![trackers[1].clone()]]
    );
    let bare = crate::metainfo::Metainfo::from_bytes(&torrent_file(info, &[])).unwrap();
    assert!(bare.trackers.is_empty());
}

/// Regression: a piece asked in an attempt that then failed, answered after the failure
/// cleared the pieces, was taken for one past the end: the slow honest peer was dropped.
#[test]
fn a_late_answer_from_a_failed_attempt_is_no_violation() {
    let (metadata, fetch, events) = setup(2 * PIECE_SIZE + 10);
    let size = metadata.len() as u64;
    let now = Instant::now();
    let asked: Vec<u32> = (0..3)
        .filter_map(|_| fetch.next_request(1, size, now))
        .collect();
    assert_eq!(asked, vec![0, 1, 2]);
    for index in [0, 1] {
        fetch
            .received(1, index, size, piece(&metadata, index))
            .unwrap();
    }
    // Piece 2 is slow: asked of peer 2, which lies.
    let later = now + ASK_TIMEOUT + Duration::from_secs(1);
    assert_eq!(fetch.next_request(2, size, later), Some(2));
    fetch.received(2, 2, size, &[0; 10]).unwrap();
    assert!(matches!(events.try_recv(), Ok(Event::Failed { .. })));
    assert_eq!(fetch.received(1, 2, size, piece(&metadata, 2)), Ok(()));
}

/// Regression: the first peer to ask sets the size, and only peers of that size were
/// asked. A liar heard first with a size of its own that then refused every request left
/// the honest peers unasked, forever.
#[test]
fn a_peer_of_another_size_starts_over_an_attempt_whose_pieces_were_refused() {
    let (metadata, fetch, events) = setup(100);
    let size = metadata.len() as u64;
    let now = Instant::now();
    assert_eq!(
        fetch.next_request(1, size + 1, now),
        Some(0),
        "the liar first"
    );
    assert_eq!(fetch.next_request(2, size, now), None, "asked of the liar");
    fetch.not_coming(1, 0);
    assert_eq!(fetch.next_request(2, size, now), Some(0), "started over");
    assert_eq!(
        fetch.next_request(1, size + 1, now),
        None,
        "its size is gone"
    );
    fetch.received(2, 0, size, &metadata).unwrap();
    assert!(matches!(events.try_recv(), Ok(Event::Verified(_))));
}

#[test]
fn a_peer_of_another_size_starts_over_an_attempt_whose_pieces_never_come() {
    let (metadata, fetch, _events) = setup(2 * PIECE_SIZE);
    let size = metadata.len() as u64;
    let now = Instant::now();
    let liar_size = size + PIECE_SIZE as u64;
    assert_eq!(fetch.next_request(1, liar_size, now), Some(0));
    assert_eq!(fetch.next_request(1, liar_size, now), Some(1));
    // Nothing answered yet: the liar's pieces may still come.
    let soon = now + ASK_TIMEOUT / 2;
    assert_eq!(fetch.next_request(2, size, soon), None);
    let later = now + ASK_TIMEOUT + Duration::from_secs(1);
    assert_eq!(fetch.next_request(2, size, later), Some(0));
}

/// A liar that sends some pieces and then stalls: the pieces in hand are not progress
/// for ever.
#[test]
fn a_peer_of_another_size_starts_over_an_attempt_with_no_piece_for_a_while() {
    let (metadata, fetch, _events) = setup(PIECE_SIZE + 10);
    let size = metadata.len() as u64;
    let liar_size = size + 1;
    let now = Instant::now();
    assert_eq!(fetch.next_request(1, liar_size, now), Some(0));
    fetch.received(1, 0, liar_size, &[0; PIECE_SIZE]).unwrap();
    assert_eq!(fetch.next_request(2, size, now), None, "a piece is in");
    let later = Instant::now() + ASK_TIMEOUT + Duration::from_secs(1);
    assert_eq!(fetch.next_request(2, size, later), Some(0));
}

/// Regression: after a failure with several suppliers, the first peer to ask was pinned
/// and nobody else was asked until it left. A pinned liar that then refused every
/// request held the fetch forever.
#[test]
fn a_pinned_peer_that_refuses_or_is_overdue_gives_up_the_pin() {
    let (metadata, fetch, events) = setup(2 * PIECE_SIZE);
    let size = metadata.len() as u64;
    let now = Instant::now();
    assert_eq!(fetch.next_request(1, size, now), Some(0));
    assert_eq!(fetch.next_request(2, size, now), Some(1));
    fetch.received(1, 0, size, piece(&metadata, 0)).unwrap();
    fetch.received(2, 1, size, &[9; PIECE_SIZE]).unwrap();
    assert!(matches!(events.try_recv(), Ok(Event::Failed { .. })));
    // Peer 2 is pinned, sends one piece and refuses the next: the attempt starts over,
    // pinned to the next to ask, which fetches it whole.
    assert_eq!(fetch.next_request(2, size, now), Some(0));
    assert_eq!(fetch.next_request(2, size, now), Some(1));
    fetch.received(2, 0, size, piece(&metadata, 0)).unwrap();
    fetch.not_coming(2, 1);
    assert_eq!(
        fetch.next_request(1, size, now),
        Some(0),
        "pinned to peer 1"
    );
    assert_eq!(fetch.next_request(2, size, now), None);
    // Peer 1 never answers: once overdue, the pin passes on again.
    let later = now + ASK_TIMEOUT + Duration::from_secs(1);
    assert_eq!(
        fetch.next_request(2, size, later),
        Some(0),
        "pinned to peer 2"
    );
    assert_eq!(fetch.next_request(1, size, later), None);
}

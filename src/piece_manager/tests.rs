//! The piece manager's state transitions, driven the way the threads drive them.

use super::*;

const A: PeerKey = 1;
const B: PeerKey = 2;

/// 4 pieces of 2 blocks each (32 KiB pieces), the last one 1 block.
fn geometry() -> Geometry {
    Geometry::new(3 * 32768 + 100, 32768)
}

fn all(g: Geometry) -> Bitfield {
    let mut bits = Bitfield::new(g.piece_count);
    (0..g.piece_count).for_each(|p| {
        bits.set(p);
    });
    bits
}

/// Receives, writes and hashes (as `ok`) every block in `blocks` as peer `peer`.
fn deliver(pm: &PieceManager, peer: PeerKey, blocks: &[BlockRef], ok: bool) -> Vec<u32> {
    let mut finished = Vec::new();
    for block in blocks {
        assert_eq!(pm.block_received(peer, *block), Delivery::Accepted);
        if pm.block_written(*block) == Written::PieceComplete {
            pm.piece_checked(block.piece, ok);
            finished.push(block.piece);
        }
    }
    finished
}

#[test]
fn blocks_of_one_piece_are_picked_together() {
    // Every piece has two blocks, whichever the random start picks.
    let g = Geometry::new(4 * 32768, 32768);
    let pm = PieceManager::new(g, &Bitfield::new(g.piece_count));
    let mut out = Vec::new();
    pm.pick_blocks(A, &all(g), &[], 2, &mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].piece, out[1].piece, "both blocks from one piece");
    assert_eq!((out[0].offset, out[1].offset), (0, 16384));
}

#[test]
fn a_whole_download_verifies_every_piece_once() {
    let g = geometry();
    let pm = PieceManager::new(g, &Bitfield::new(g.piece_count));
    let mut out = Vec::new();
    pm.pick_blocks(A, &all(g), &[], 100, &mut out);
    assert_eq!(out.len() as u64, g.block_count());
    let mut finished = deliver(&pm, A, &out, true);
    finished.sort();
    assert_eq!(finished, vec![0, 1, 2, 3]);
    assert!(pm.is_complete());
    assert_eq!(pm.progress().verified_bytes, g.total_length);
    pm.check_invariants();
}

#[test]
fn a_peer_is_only_offered_pieces_it_has() {
    let g = geometry();
    let pm = PieceManager::new(g, &Bitfield::new(g.piece_count));
    let mut has = Bitfield::new(g.piece_count);
    has.set(2);
    let mut out = Vec::new();
    pm.pick_blocks(A, &has, &[], 100, &mut out);
    assert!(out.iter().all(|b| b.piece == 2));
    assert_eq!(out.len(), 2);
}

#[test]
fn rarest_piece_is_picked_after_the_random_start() {
    let g = Geometry::new(10 * 16384, 16384);
    let mut have = Bitfield::new(10);
    for p in 0..4 {
        have.set(p);
    }
    let pm = PieceManager::new(g, &have);
    // Pieces 4..10: everybody has them, except piece 7 which only one peer has.
    let everyone = all(g);
    for _ in 0..3 {
        pm.add_peer_pieces(&everyone);
    }
    let mut only_seven = Bitfield::new(10);
    only_seven.set(7);
    pm.add_peer_pieces(&only_seven);
    // Make 7 the rarest by giving every other missing piece a fourth peer.
    let mut others = Bitfield::new(10);
    for p in [4, 5, 6, 8, 9] {
        others.set(p);
    }
    pm.add_peer_pieces(&others);
    pm.add_peer_pieces(&others);
    let mut out = Vec::new();
    pm.pick_blocks(A, &everyone, &[], 1, &mut out);
    assert_eq!(out[0].piece, 7);
}

/// A piece only one peer has is as rare as a piece can be: it wins over any scan order.
#[test]
fn a_piece_only_one_peer_has_is_picked_first() {
    let g = Geometry::new(10 * 16384, 16384);
    let mut have = Bitfield::new(10);
    for p in 0..4 {
        have.set(p);
    }
    let pm = PieceManager::new(g, &have);
    let mut common = all(g);
    common.clear(7);
    for _ in 0..3 {
        pm.add_peer_pieces(&common);
    }
    pm.add_peer_pieces(&all(g));
    let mut out = Vec::new();
    pm.pick_blocks(A, &all(g), &[], 1, &mut out);
    assert_eq!(out[0].piece, 7);
}

#[test]
fn returned_blocks_are_offered_again() {
    let g = geometry();
    let pm = PieceManager::new(g, &Bitfield::new(g.piece_count));
    let mut has = Bitfield::new(g.piece_count);
    has.set(0);
    let mut first = Vec::new();
    pm.pick_blocks(A, &has, &[], 2, &mut first);
    let mut none = Vec::new();
    pm.pick_blocks(B, &has, &[], 2, &mut none);
    assert!(
        none.is_empty() || none.iter().all(|b| first.contains(b)),
        "no free blocks left"
    );
    pm.return_blocks(A, &first);
    let mut again = Vec::new();
    pm.pick_blocks(B, &has, &first, 2, &mut again);
    assert_eq!(again, first);
}

#[test]
fn endgame_duplicates_requests_and_the_first_copy_wins() {
    let g = Geometry::new(16384, 16384);
    let pm = PieceManager::new(g, &Bitfield::new(1));
    let has = all(g);
    let mut by_a = Vec::new();
    pm.pick_blocks(A, &has, &[], 5, &mut by_a);
    assert_eq!(by_a.len(), 1);
    let mut by_b = Vec::new();
    pm.pick_blocks(B, &has, &[], 5, &mut by_b);
    assert_eq!(by_b, by_a, "endgame: B asks for the same block");
    let mut again = Vec::new();
    pm.pick_blocks(A, &has, &by_a, 5, &mut again);
    assert!(again.is_empty(), "A never asks twice for its own block");
    assert_eq!(pm.block_received(B, by_b[0]), Delivery::Accepted);
    assert!(pm.is_block_done(by_a[0]), "A should cancel its request");
    assert_eq!(pm.block_received(A, by_a[0]), Delivery::Unwanted);
}

#[test]
fn a_failed_hash_blames_contributors_and_starts_over() {
    let g = Geometry::new(32768, 32768);
    let pm = PieceManager::new(g, &Bitfield::new(1));
    let has = all(g);
    let mut out = Vec::new();
    pm.pick_blocks(A, &has, &[], 1, &mut out);
    pm.pick_blocks(B, &has, &[], 1, &mut out);
    pm.block_received(A, out[0]);
    pm.block_received(B, out[1]);
    pm.block_written(out[0]);
    assert_eq!(pm.block_written(out[1]), Written::PieceComplete);
    let mut blamed = pm.piece_checked(0, false);
    blamed.sort();
    assert_eq!(blamed, vec![A, B]);
    assert!(!pm.has_piece(0));
    pm.check_invariants();
    let mut retry = Vec::new();
    pm.pick_blocks(A, &has, &[], 2, &mut retry);
    assert_eq!(retry.len(), 2, "every block is free again");
}

#[test]
fn unknown_or_misshapen_blocks_are_unwanted() {
    let g = geometry();
    let pm = PieceManager::new(g, &Bitfield::new(g.piece_count));
    let never_requested = BlockRef {
        piece: 1,
        offset: 0,
        length: 16384,
    };
    assert_eq!(pm.block_received(A, never_requested), Delivery::Unwanted);
    let misshapen = BlockRef {
        piece: 9,
        offset: 0,
        length: 16384,
    };
    assert_eq!(pm.block_received(A, misshapen), Delivery::Unwanted);
}

#[test]
fn verified_log_feeds_have_messages() {
    let g = geometry();
    let pm = PieceManager::new(g, &Bitfield::new(g.piece_count));
    let mut cursor = 0;
    let mut haves = Vec::new();
    pm.verified_since(&mut cursor, &mut haves);
    assert!(haves.is_empty());
    let mut out = Vec::new();
    let mut only_three = Bitfield::new(g.piece_count);
    only_three.set(3);
    pm.pick_blocks(A, &only_three, &[], 10, &mut out);
    deliver(&pm, A, &out, true);
    pm.verified_since(&mut cursor, &mut haves);
    assert_eq!(haves, vec![3]);
    pm.verified_since(&mut cursor, &mut haves);
    assert_eq!(haves, vec![3], "nothing new the second time");
}

#[test]
fn a_failed_piece_is_retried_from_one_peer_only() {
    let g = Geometry::new(32768, 32768);
    let pm = PieceManager::new(g, &Bitfield::new(1));
    let has = all(g);
    let mut out = Vec::new();
    pm.pick_blocks(A, &has, &[], 2, &mut out);
    deliver(&pm, A, &out, false);
    let mut by_a = Vec::new();
    pm.pick_blocks(A, &has, &[], 1, &mut by_a);
    assert_eq!(by_a.len(), 1);
    let mut by_b = Vec::new();
    pm.pick_blocks(B, &has, &[], 2, &mut by_b);
    assert!(by_b.is_empty(), "B may not join A's retry: {by_b:?}");
    pm.return_blocks(A, &by_a);
    pm.pick_blocks(B, &has, &[], 2, &mut by_b);
    assert_eq!(
        by_b.len(),
        2,
        "once A gave it up, B may take the whole piece"
    );
}

/// Regression: a liar banned half-way through its exclusive retry of a failed piece kept
/// owning it, so nobody could fetch the rest and the download stalled at 32 of 33 pieces.
#[test]
fn an_exclusive_piece_is_released_when_its_owner_leaves_half_way() {
    let g = Geometry::new(32768, 32768);
    let pm = PieceManager::new(g, &Bitfield::new(1));
    let has = all(g);
    let mut out = Vec::new();
    pm.pick_blocks(A, &has, &[], 2, &mut out);
    deliver(&pm, A, &out, false);
    let mut retry = Vec::new();
    pm.pick_blocks(A, &has, &[], 2, &mut retry);
    assert_eq!(retry.len(), 2);
    assert_eq!(pm.block_received(A, retry[0]), Delivery::Accepted);
    pm.return_blocks(A, &retry[1..]);
    let mut by_b = Vec::new();
    pm.pick_blocks(B, &has, &[], 2, &mut by_b);
    assert_eq!(by_b, vec![retry[1]], "B finishes what A left");
}

#[test]
fn a_forgotten_piece_is_fetched_again() {
    let g = geometry();
    let pm = PieceManager::new(g, &Bitfield::new(g.piece_count));
    let mut out = Vec::new();
    pm.pick_blocks(A, &all(g), &[], 100, &mut out);
    deliver(&pm, A, &out, true);
    assert!(pm.is_complete());
    assert!(pm.still_has_piece(1));

    assert!(pm.forget_piece(1), "piece 1 was verified");
    assert!(!pm.has_piece(1) && !pm.is_complete());
    assert!(
        !pm.still_has_piece(1),
        "the upload path must see it is gone"
    );
    assert!(pm.still_has_piece(0));
    assert_eq!(pm.progress().verified_bytes, g.total_length - 32768);
    assert!(!pm.verified().has(1), "the resume file stops listing it");
    assert!(!pm.forget_piece(1), "forgetting twice changes nothing");
    let mut again = Vec::new();
    pm.pick_blocks(B, &all(g), &[], 100, &mut again);
    assert_eq!(again, vec![g.block(1, 0), g.block(1, 1)]);
    assert_eq!(deliver(&pm, B, &again, true), vec![1]);
    assert!(pm.is_complete());
    pm.check_invariants();
}

#[test]
fn forgetting_an_active_piece_frees_its_written_blocks_only() {
    let g = geometry();
    let pm = PieceManager::new(g, &Bitfield::new(g.piece_count));
    let mut has = Bitfield::new(g.piece_count);
    has.set(0);
    let mut out = Vec::new();
    pm.pick_blocks(A, &has, &[], 2, &mut out);
    let [first, second] = [out[0], out[1]];
    assert_eq!(pm.block_received(A, first), Delivery::Accepted);
    assert_eq!(pm.block_written(first), Written::PieceIncomplete);
    assert_eq!(pm.block_received(A, second), Delivery::Accepted);

    assert!(!pm.forget_piece(0), "an active piece was not counted");
    assert!(!pm.is_block_done(first), "the written block is free again");
    assert!(
        pm.is_block_done(second),
        "the received block is still on its way"
    );
    assert_eq!(pm.block_written(second), Written::PieceIncomplete);
    let mut again = Vec::new();
    pm.pick_blocks(B, &has, &[], 2, &mut again);
    assert_eq!(again, vec![first]);
    assert_eq!(deliver(&pm, B, &again, true), vec![0]);
    pm.check_invariants();
}

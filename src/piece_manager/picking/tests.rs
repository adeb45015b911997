//! The picker, driven the way peer threads drive it: whole pieces first, only pieces the
//! peer has, random then rarest first, blocks given back, the endgame, and a failed piece
//! fetched from one peer only.

use crate::piece_manager::tests::{A, B, all, deliver, geometry};
use crate::piece_manager::*;

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

/// BEP 6's `suggest_piece`: a suggested piece that is missing is started before the rarest;
/// one we have, or one the peer lacks, is passed over.
#[test]
fn a_suggested_piece_is_started_first() {
    let g = Geometry::new(10 * 16384, 16384);
    let mut have = Bitfield::new(10);
    have.set(3);
    let pm = PieceManager::new(g, &have);
    let mut has = all(g);
    has.clear(8);
    // 3 is ours already and 8 the peer lacks: 5 is the first that counts.
    let suggested = [3, 8, 5, 6];
    let mut out = Vec::new();
    pm.pick_blocks_preferring(A, &has, &[], &suggested, 2, &mut out);
    let pieces: Vec<u32> = out.iter().map(|b| b.piece).collect();
    assert_eq!(
        pieces,
        [5, 6],
        "one block per piece, in the order suggested"
    );
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

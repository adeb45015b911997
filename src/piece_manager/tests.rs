//! The piece manager's state transitions, driven the way the threads drive them. The
//! picker's tests (what is offered to whom, the endgame) are in `picking/tests.rs`.

use super::*;

pub(super) const A: PeerKey = 1;
pub(super) const B: PeerKey = 2;

/// 4 pieces of 2 blocks each (32 KiB pieces), the last one 1 block.
pub(super) fn geometry() -> Geometry {
    Geometry::new(3 * 32768 + 100, 32768)
}

pub(super) fn all(g: Geometry) -> Bitfield {
    let mut bits = Bitfield::new(g.piece_count);
    (0..g.piece_count).for_each(|p| {
        bits.set(p);
    });
    bits
}

/// Receives, writes and hashes (as `ok`) every block in `blocks` as peer `peer`.
pub(super) fn deliver(pm: &PieceManager, peer: PeerKey, blocks: &[BlockRef], ok: bool) -> Vec<u32> {
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

#[test]
fn a_selective_download_fetches_only_wanted_pieces_and_completes_with_them() {
    let g = geometry();
    let mut wanted = Bitfield::new(g.piece_count);
    wanted.set(1);
    wanted.set(3);
    // Piece 0 is on disk from an earlier run: verified, though not wanted now.
    let mut have = Bitfield::new(g.piece_count);
    have.set(0);
    let pm = PieceManager::selective(g, &have, &wanted);
    let progress = pm.progress();
    assert_eq!(progress.wanted_bytes, 32768 + 100);
    assert_eq!(progress.verified_bytes, 0);
    let mut only_skipped = Bitfield::new(g.piece_count);
    only_skipped.set(0);
    only_skipped.set(2);
    assert!(!pm.is_interesting(&only_skipped));
    assert!(pm.is_interesting(&all(g)));
    let mut out = Vec::new();
    pm.pick_blocks(A, &all(g), &[], 100, &mut out);
    let mut picked: Vec<u32> = out.iter().map(|b| b.piece).collect();
    picked.sort();
    picked.dedup();
    assert_eq!(picked, [1, 3]);
    // Nothing else to start: the endgame, never the skipped piece 2.
    assert!(pm.state.lock().in_endgame());
    assert!(!pm.is_complete());
    deliver(&pm, A, &out, true);
    assert!(pm.is_complete());
    assert_eq!(pm.progress().verified_bytes, 32768 + 100);
    assert!(!pm.verified().has(2));
    // A verified piece that is not wanted goes back to skipped, not to missing.
    assert!(pm.forget_piece(0));
    assert!(pm.is_complete());
    pm.check_invariants();
}

//! The block saver and its hasher, driven the way peer threads drive them.

use super::*;
use crate::bitfield::Bitfield;
use crate::metainfo::{FileEntry, FileKind};
use crate::piece_manager::Delivery;
use sha1::{Digest, Sha1};
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

const PEER: PeerKey = 7;

/// 4 pieces of 32 KiB (2 blocks each), the last one 100 bytes (1 block), in one file.
fn geometry() -> Geometry {
    Geometry::new(3 * 32768 + 100, 32768)
}

/// The torrent's bytes: a different value in every piece.
fn payload(g: Geometry) -> Vec<u8> {
    (0..g.total_length)
        .map(|i| (i / 1000 % 251) as u8)
        .collect()
}

/// A saver over one file in `dir`, the parts it shares with its hasher, and the
/// channels to and from it.
struct Rig {
    shared: Shared,
    saver: Option<(JoinHandle<()>, Sender<Command>)>,
    events: Receiver<Event>,
}

impl Rig {
    fn start(dir: &std::path::Path, data: &[u8]) -> Rig {
        let geometry = geometry();
        let files = [FileEntry {
            path: PathBuf::from("t"),
            length: geometry.total_length,
            offset: 0,
            kind: FileKind::Regular,
        }];
        let storage = Arc::new(Storage::open(dir, &files).unwrap());
        let pieces = Arc::new(PieceManager::new(
            geometry,
            &Bitfield::new(geometry.piece_count),
        ));
        let counters = Arc::new(Counters::new(geometry.total_length));
        let hashes: Arc<Vec<[u8; 20]>> = (0..geometry.piece_count)
            .map(|piece| {
                let start = geometry.piece_offset(piece) as usize;
                let end = start + geometry.piece_size(piece) as usize;
                Sha1::digest(&data[start..end]).into()
            })
            .collect::<Vec<_>>()
            .into();
        let (events, inbox) = crossbeam_channel::unbounded();
        let shared = Shared {
            storage,
            pieces,
            geometry,
            hashes,
            counters,
            tracer: Tracer::disabled(),
            pool: crate::block_pool::BlockPool::new(),
        };
        let saver = spawn(shared.clone(), events).unwrap();
        Rig {
            shared,
            saver: Some(saver),
            events: inbox,
        }
    }

    /// Receives every block of `piece` from `PEER` and sends it to the saver, taking
    /// its bytes from `data`.
    fn deliver(&self, piece: u32, data: &[u8]) {
        let Some((_, saver)) = &self.saver else {
            panic!("the saver was stopped");
        };
        for (block, data) in self.receive(piece, data) {
            saver.send(Command::Save { block, data }).unwrap();
        }
    }

    /// Picks and receives every block of `piece` from `PEER`; returns them with their
    /// bytes from `data`.
    fn receive(&self, piece: u32, data: &[u8]) -> Vec<(BlockRef, Vec<u8>)> {
        let Shared {
            pieces, geometry, ..
        } = &self.shared;
        let mut has = Bitfield::new(geometry.piece_count);
        has.set(piece);
        let mut blocks = Vec::new();
        pieces.pick_blocks(PEER, &has, &[], 100, &mut blocks);
        assert_eq!(blocks.len() as u32, geometry.blocks_in_piece(piece));
        blocks
            .into_iter()
            .map(|block| {
                assert_eq!(pieces.block_received(PEER, block), Delivery::Accepted);
                let start = (geometry.piece_offset(piece) + block.offset as u64) as usize;
                (block, data[start..start + block.length as usize].to_vec())
            })
            .collect()
    }

    /// Waits (10 s at most) for `piece` to be verified: pieces that do not complete the
    /// download are not reported, only recorded in the piece manager.
    fn wait_verified(&self, piece: u32) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !self.shared.pieces.verified().has(piece) {
            assert!(
                std::time::Instant::now() < deadline,
                "piece {piece} never verified"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Ends the saver the way a download does (its last sender goes) and returns every
    /// event it sent.
    fn stop(&mut self) -> Vec<Event> {
        let (handle, saver) = self.saver.take().unwrap();
        drop(saver);
        handle.join().unwrap();
        self.events.try_iter().collect()
    }
}

#[test]
fn every_piece_completed_before_shutdown_gets_its_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let data = payload(geometry());
    let mut rig = Rig::start(dir.path(), &data);
    let mut corrupt = data.clone();
    corrupt[32768 + 5] ^= 1; // one bit of piece 1
    for piece in 0..4 {
        rig.deliver(piece, if piece == 1 { &corrupt } else { &data });
    }
    let events = rig.stop();

    // The failure is reported; the pieces verified are not, since none completed the
    // download (piece 1 is missing).
    assert!(
        matches!(
            &events[..],
            [Event::PieceFailed { piece: 1, contributors }] if contributors == &[PEER]
        ),
        "{events:?}"
    );
    let (have, hashing) = rig.shared.pieces.verified_and_hashing();
    assert_eq!(
        (0..4).map(|p| have.has(p)).collect::<Vec<_>>(),
        [true, false, true, true]
    );
    assert_eq!(hashing.count(), 0, "nothing is left hashing after shutdown");
    assert_eq!(rig.shared.counters.left(), 32768, "only piece 1 is left");
    assert_eq!(
        fs::read(dir.path().join("t")).unwrap()[..32768],
        data[..32768]
    );
}

#[test]
fn the_main_thread_hears_of_the_piece_that_completes_the_download_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = payload(geometry());
    let mut rig = Rig::start(dir.path(), &data);
    for piece in [2, 0, 3] {
        rig.deliver(piece, &data);
        rig.wait_verified(piece);
    }
    assert!(
        rig.events.try_recv().is_err(),
        "no event before the last piece"
    );
    rig.deliver(1, &data);
    let event = rig.events.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(matches!(event, Event::Completed { piece: 1 }), "{event:?}");
    assert!(rig.stop().is_empty());
    assert!(rig.shared.pieces.is_complete());
    assert_eq!(rig.shared.counters.left(), 0);
}

#[test]
fn a_truncated_file_is_repaired_once_the_hasher_is_idle() {
    let dir = tempfile::tempdir().unwrap();
    let data = payload(geometry());
    let mut rig = Rig::start(dir.path(), &data);
    for piece in 0..3 {
        rig.deliver(piece, &data);
        rig.wait_verified(piece);
    }
    // Another program cuts the file inside piece 1: pieces 1 and 2 lose bytes.
    fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("t"))
        .unwrap()
        .set_len(32768 + 10)
        .unwrap();
    // Writing piece 3 finds the file short; the saver repairs it and writes the block
    // again, and the hasher verifies piece 3.
    rig.deliver(3, &data);
    rig.wait_verified(3); // the block that hit the truncation was written again
    let events = rig.stop();
    assert!(
        events.is_empty(),
        "nothing failed, nothing completed: {events:?}"
    );

    let have = rig.shared.pieces.verified();
    assert_eq!(
        (0..4).map(|p| have.has(p)).collect::<Vec<_>>(),
        [true, false, false, true],
        "pieces 1 and 2 are forgotten, to be fetched again"
    );
    assert_eq!(rig.shared.counters.left(), 2 * 32768);
    assert_eq!(
        fs::metadata(dir.path().join("t")).unwrap().len(),
        geometry().total_length,
        "the file has its length back"
    );
    let mut piece0 = vec![0; 32768];
    rig.shared.storage.read(0, &mut piece0).unwrap();
    assert_eq!(piece0, data[..32768]);
    #[cfg(debug_assertions)]
    rig.shared.pieces.check_invariants();
}

#[test]
fn a_drain_returns_once_every_queued_piece_has_its_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let data = payload(geometry());
    let rig = Rig::start(dir.path(), &data);
    // A hasher of our own, fed by hand the way the saver feeds it.
    let (events, verdicts) = crossbeam_channel::unbounded();
    let hasher = hasher::spawn(rig.shared.clone(), events).unwrap();
    for piece in 0..4 {
        for (block, bytes) in rig.receive(piece, &data) {
            let offset = rig.shared.geometry.piece_offset(piece) + block.offset as u64;
            rig.shared.storage.write(offset, &bytes).unwrap();
            if rig.shared.pieces.block_written(block) == Written::PieceComplete {
                let (_, hashing) = rig.shared.pieces.verified_and_hashing();
                assert!(
                    hashing.has(piece),
                    "a piece waiting for the hasher is hashing"
                );
                hasher.check(piece);
            }
        }
    }
    hasher.drain();
    let events: Vec<Event> = verdicts.try_iter().collect();
    assert!(
        matches!(&events[..], [Event::Completed { piece: 3 }]),
        "every verdict is in before the drain returns, and the last one completed \
         the download: {events:?}"
    );
    assert!(rig.shared.pieces.is_complete());
    hasher.finish();
}

#[test]
fn the_hasher_queue_is_bounded_in_bytes() {
    use super::hasher::{QUEUE_BYTES, QUEUE_PIECES, queue_pieces};
    assert_eq!(queue_pieces(256 << 10), QUEUE_PIECES);
    assert_eq!(queue_pieces(4 << 20), 8);
    assert_eq!(queue_pieces(16 << 20), 2);
    assert_eq!(
        queue_pieces(64 << 20),
        1,
        "one piece at least, however large"
    );
    for length in [16 << 10, 1 << 20, 16 << 20] {
        let queued = queue_pieces(length) as u64 * u64::from(length);
        assert!(queued <= QUEUE_BYTES.max(u64::from(length)));
    }
}

#[test]
fn a_run_is_the_blocks_that_follow_one_another_in_the_stream() {
    let g = geometry();
    let save = |piece, offset, len| Command::Save {
        block: BlockRef {
            piece,
            offset,
            length: len,
        },
        data: vec![0; len as usize],
    };
    // Piece 0's two blocks, then piece 1's first: one run across the piece boundary.
    let queued = [
        save(0, 0, 16384),
        save(0, 16384, 16384),
        save(1, 0, 16384),
        save(2, 16384, 16384), // a gap: a new run
        save(3, 0, 100),
    ];
    assert_eq!(run_length(&g, &queued), 3);
    assert_eq!(run_length(&g, &queued[3..]), 2);
    assert_eq!(run_length(&g, &queued[4..]), 1);
    // Out of order: each block alone.
    let reversed = [save(0, 16384, 16384), save(0, 0, 16384)];
    assert_eq!(run_length(&g, &reversed), 1);
}

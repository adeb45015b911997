//! Piece and block arithmetic, in one place.
//!
//! A torrent's files are laid end to end into one byte stream. The stream is cut into
//! *pieces* of `piece_length` bytes (the last may be shorter); each piece has a SHA-1 in the
//! metainfo. Peers trade *blocks*: 16 KiB slices of one piece (the last block of a piece may
//! be shorter). A block never spans two pieces. Every offset and length the rest of the code
//! uses comes from here, so the off-by-one cases (the short last piece, the short last
//! block) are tested once.

/// The size of a block: what we request and what every client sends (BEP 3 practice).
pub const BLOCK_SIZE: u32 = 16 * 1024;

/// The shape of a torrent's byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Sum of all file lengths.
    pub total_length: u64,
    /// Bytes per piece (every piece but the last).
    pub piece_length: u32,
    /// Number of pieces: `ceil(total_length / piece_length)`.
    pub piece_count: u32,
}

/// One block: `length` bytes at `offset` inside piece `piece`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockRef {
    pub piece: u32,
    pub offset: u32,
    pub length: u32,
}

impl Geometry {
    /// The geometry of `total_length` bytes cut into pieces of `piece_length`.
    /// The caller (the metainfo parser) has checked that both are non-zero and that the
    /// piece count fits in a `u32`.
    pub fn new(total_length: u64, piece_length: u32) -> Geometry {
        let piece_count = total_length.div_ceil(piece_length as u64) as u32;
        Geometry {
            total_length,
            piece_length,
            piece_count,
        }
    }

    /// Where piece `piece` starts in the byte stream.
    pub fn piece_offset(&self, piece: u32) -> u64 {
        piece as u64 * self.piece_length as u64
    }

    /// Length of piece `piece`: `piece_length`, except for a short last piece.
    pub fn piece_size(&self, piece: u32) -> u32 {
        let start = self.piece_offset(piece);
        (self.total_length - start).min(self.piece_length as u64) as u32
    }

    /// The pieces that `length` bytes at stream `offset` touch (empty when `length` is 0):
    /// the pieces of one file.
    pub fn pieces_touching(&self, offset: u64, length: u64) -> std::ops::Range<u32> {
        if length == 0 {
            return 0..0;
        }
        let first = offset / self.piece_length as u64;
        let last = (offset + length - 1) / self.piece_length as u64;
        first as u32..(last as u32 + 1).min(self.piece_count)
    }

    /// Number of blocks in piece `piece`.
    pub fn blocks_in_piece(&self, piece: u32) -> u32 {
        self.piece_size(piece).div_ceil(BLOCK_SIZE)
    }

    /// Block number `block` of piece `piece`.
    pub fn block(&self, piece: u32, block: u32) -> BlockRef {
        let offset = block * BLOCK_SIZE;
        let length = (self.piece_size(piece) - offset).min(BLOCK_SIZE);
        BlockRef {
            piece,
            offset,
            length,
        }
    }

    /// The index of the block that starts at `offset`, if `offset`/`length` is exactly one
    /// of our blocks of `piece`. This is how a `piece` message from a peer is checked: a
    /// lying peer cannot make us write anywhere but a block we know.
    pub fn block_index(&self, piece: u32, offset: u32, length: u32) -> Option<u32> {
        if piece >= self.piece_count || !offset.is_multiple_of(BLOCK_SIZE) {
            return None;
        }
        let index = offset / BLOCK_SIZE;
        if index >= self.blocks_in_piece(piece) || self.block(piece, index).length != length {
            return None;
        }
        Some(index)
    }

    /// True when `offset..offset+length` lies inside piece `piece` (used to validate
    /// requests we serve, which may use any block size up to a limit).
    pub fn contains(&self, piece: u32, offset: u32, length: u32) -> bool {
        piece < self.piece_count
            && length > 0
            && (offset as u64 + length as u64) <= self.piece_size(piece) as u64
    }

    /// Total number of blocks in the torrent (for sizing tables).
    pub fn block_count(&self) -> u64 {
        if self.piece_count == 0 {
            return 0;
        }
        let full = (self.piece_count - 1) as u64 * self.blocks_in_piece(0) as u64;
        full + self.blocks_in_piece(self.piece_count - 1) as u64
    }

    /// Bytes of a bitfield message for this torrent.
    pub fn bitfield_len(&self) -> usize {
        (self.piece_count as usize).div_ceil(8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pieces_a_file_touches() {
        let g = Geometry::new(100, 10);
        assert_eq!(g.pieces_touching(0, 40), 0..4);
        assert_eq!(g.pieces_touching(40, 0), 0..0);
        assert_eq!(g.pieces_touching(39, 2), 3..5);
        assert_eq!(g.pieces_touching(40, 60), 4..10);
    }

    /// 3 pieces of 32 KiB, the last one 1 byte long.
    fn short_last() -> Geometry {
        Geometry::new(2 * 32768 + 1, 32768)
    }

    #[test]
    fn piece_count_rounds_up() {
        assert_eq!(short_last().piece_count, 3);
        assert_eq!(Geometry::new(65536, 32768).piece_count, 2);
        assert_eq!(Geometry::new(1, 32768).piece_count, 1);
    }

    #[test]
    fn last_piece_is_short() {
        let g = short_last();
        assert_eq!(g.piece_size(0), 32768);
        assert_eq!(g.piece_size(1), 32768);
        assert_eq!(g.piece_size(2), 1);
        assert_eq!(g.piece_offset(2), 65536);
    }

    #[test]
    fn blocks_split_pieces_and_the_last_block_is_short() {
        let g = Geometry::new(40000, 40000);
        assert_eq!(g.blocks_in_piece(0), 3);
        assert_eq!(
            g.block(0, 0),
            BlockRef {
                piece: 0,
                offset: 0,
                length: 16384
            }
        );
        assert_eq!(
            g.block(0, 2),
            BlockRef {
                piece: 0,
                offset: 32768,
                length: 40000 - 32768
            }
        );
        assert_eq!(g.block_count(), 3);
        assert_eq!(short_last().block_count(), 2 + 2 + 1);
    }

    #[test]
    fn block_index_accepts_only_exact_blocks() {
        let g = short_last();
        assert_eq!(g.block_index(0, 16384, 16384), Some(1));
        assert_eq!(g.block_index(2, 0, 1), Some(0));
        assert_eq!(
            g.block_index(2, 0, 16384),
            None,
            "too long for the last piece"
        );
        assert_eq!(g.block_index(0, 100, 16384), None, "unaligned offset");
        assert_eq!(g.block_index(0, 32768, 16384), None, "past the piece end");
        assert_eq!(g.block_index(3, 0, 1), None, "no such piece");
        assert_eq!(g.block_index(0, 0, 100), None, "wrong length");
    }

    #[test]
    fn contains_checks_piece_bounds_without_overflow() {
        let g = short_last();
        assert!(g.contains(0, 0, 32768));
        assert!(g.contains(0, 100, 200));
        assert!(!g.contains(0, 32000, 1000));
        assert!(!g.contains(2, 0, 2));
        assert!(!g.contains(0, u32::MAX, u32::MAX));
        assert!(!g.contains(0, 0, 0));
        assert!(!g.contains(9, 0, 1));
    }

    #[test]
    fn bitfield_len_rounds_up_to_bytes() {
        assert_eq!(short_last().bitfield_len(), 1);
        assert_eq!(Geometry::new(9 * 16384, 16384).bitfield_len(), 2);
    }
}

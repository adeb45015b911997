//! Bitfields: one bit per piece, high bit of the first byte is piece 0 (BEP 3).
//!
//! Used for what a peer has (from its `bitfield` and `have` messages) and for what we
//! have. Parsing a peer's bitfield checks its length and that the spare bits at the end
//! are zero, as the spec requires; a peer that gets this wrong is dropped.

use std::fmt;

/// A fixed-length set of piece indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bitfield {
    bytes: Vec<u8>,
    len: u32,
}

/// Why a bitfield from a peer was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BitfieldError {
    /// The message had the wrong number of bytes for this torrent.
    WrongLength { expected: usize, got: usize },
    /// Bits past the last piece were set.
    SpareBitsSet,
}

impl fmt::Display for BitfieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BitfieldError::WrongLength { expected, got } => {
                write!(f, "bitfield is {got} bytes, expected {expected}")
            }
            BitfieldError::SpareBitsSet => write!(f, "bitfield has bits set past the last piece"),
        }
    }
}

impl std::error::Error for BitfieldError {}

impl Bitfield {
    /// An empty bitfield for `len` pieces.
    pub fn new(len: u32) -> Bitfield {
        Bitfield {
            bytes: vec![0; (len as usize).div_ceil(8)],
            len,
        }
    }

    /// A bitfield for `len` pieces with every piece set (a peer's `have_all`, BEP 6).
    pub fn full(len: u32) -> Bitfield {
        let mut all = Bitfield::new(len);
        for piece in 0..len {
            all.set(piece);
        }
        all
    }

    /// Parses a peer's `bitfield` payload for a torrent of `len` pieces.
    pub fn from_bytes(bytes: Vec<u8>, len: u32) -> Result<Bitfield, BitfieldError> {
        let expected = (len as usize).div_ceil(8);
        if bytes.len() != expected {
            return Err(BitfieldError::WrongLength {
                expected,
                got: bytes.len(),
            });
        }
        let spare = expected * 8 - len as usize;
        if spare > 0 {
            let mask = (1u8 << spare) - 1;
            if bytes.last().is_some_and(|last| last & mask != 0) {
                return Err(BitfieldError::SpareBitsSet);
            }
        }
        Ok(Bitfield { bytes, len })
    }

    /// Number of pieces this bitfield describes.
    pub fn len(&self) -> u32 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True if `piece` is set (false for out-of-range pieces).
    pub fn has(&self, piece: u32) -> bool {
        piece < self.len && self.bytes[(piece / 8) as usize] & (0x80 >> (piece % 8)) != 0
    }

    /// Sets `piece`; returns false (and changes nothing) if it is out of range.
    pub fn set(&mut self, piece: u32) -> bool {
        if piece >= self.len {
            return false;
        }
        self.bytes[(piece / 8) as usize] |= 0x80 >> (piece % 8);
        true
    }

    /// Number of pieces set.
    pub fn count(&self) -> u32 {
        self.bytes.iter().map(|b| b.count_ones()).sum()
    }

    /// True when every piece is set.
    pub fn is_full(&self) -> bool {
        self.count() == self.len
    }

    /// The wire form, for our own `bitfield` message.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Indices of the pieces that are set.
    pub fn pieces(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.len).filter(|&piece| self.has(piece))
    }

    /// Clears `piece` (out-of-range pieces are ignored).
    pub fn clear(&mut self, piece: u32) {
        if piece < self.len {
            self.bytes[(piece / 8) as usize] &= !(0x80 >> (piece % 8));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn piece_zero_is_the_high_bit() {
        let mut bits = Bitfield::new(10);
        bits.set(0);
        bits.set(9);
        assert_eq!(bits.as_bytes(), &[0b1000_0000, 0b0100_0000]);
        assert!(bits.has(0) && bits.has(9) && !bits.has(1));
        assert_eq!(bits.count(), 2);
        assert_eq!(bits.pieces().collect::<Vec<_>>(), vec![0, 9]);
        bits.clear(0);
        bits.clear(10);
        assert_eq!(bits.as_bytes(), &[0, 0b0100_0000]);
    }

    #[test]
    fn a_full_bitfield_leaves_the_spare_bits_clear() {
        let all = Bitfield::full(10);
        assert_eq!(all.as_bytes(), &[0xff, 0b1100_0000]);
        assert!(all.is_full());
        assert_eq!(Bitfield::from_bytes(all.as_bytes().to_vec(), 10), Ok(all));
    }

    #[test]
    fn out_of_range_is_ignored() {
        let mut bits = Bitfield::new(3);
        assert!(!bits.set(3));
        assert!(!bits.has(3));
        assert!(!bits.has(u32::MAX));
    }

    #[test]
    fn peer_bitfield_must_have_the_right_length() {
        assert_eq!(
            Bitfield::from_bytes(vec![0xff], 10),
            Err(BitfieldError::WrongLength {
                expected: 2,
                got: 1
            })
        );
        assert_eq!(
            Bitfield::from_bytes(vec![0, 0, 0], 10),
            Err(BitfieldError::WrongLength {
                expected: 2,
                got: 3
            })
        );
    }

    #[test]
    fn peer_bitfield_must_not_set_spare_bits() {
        assert_eq!(
            Bitfield::from_bytes(vec![0xff, 0b1110_0000], 10),
            Err(BitfieldError::SpareBitsSet)
        );
        let full = Bitfield::from_bytes(vec![0xff, 0b1100_0000], 10).unwrap();
        assert!(full.is_full());
        assert!(Bitfield::from_bytes(vec![0xff], 8).unwrap().is_full());
    }
}

//! Node ids and XOR distance: the DHT's geometry (BEP 5).
//!
//! Every node and every info-hash is a 160-bit number. The distance between two of them
//! is their XOR, read as an unsigned number: a node is responsible for the info-hashes
//! closest to its id, and a lookup walks towards the target by asking ever closer nodes.

use crate::random::Rng;
use std::fmt;

/// A 160-bit node id or info-hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(pub [u8; 20]);

impl Id {
    /// A random id (each run of a node picks one).
    pub fn random(rng: &mut Rng) -> Id {
        let mut bytes = [0u8; 20];
        rng.fill(&mut bytes);
        Id(bytes)
    }

    /// The id from exactly 20 bytes, if that is what `bytes` is.
    pub fn from_slice(bytes: &[u8]) -> Option<Id> {
        bytes.try_into().ok().map(Id)
    }

    /// The XOR distance to `other`; compare distances with `<` (big-endian order).
    pub fn distance(&self, other: &Id) -> Id {
        let mut out = [0u8; 20];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = self.0[i] ^ other.0[i];
        }
        Id(out)
    }

    /// How many leading bits `self` and `other` share (160 if they are equal).
    pub fn common_prefix(&self, other: &Id) -> usize {
        let distance = self.distance(other);
        for (i, byte) in distance.0.iter().enumerate() {
            if *byte != 0 {
                return i * 8 + byte.leading_zeros() as usize;
            }
        }
        160
    }

    /// Bit `n`, counted from the most significant.
    pub fn bit(&self, n: usize) -> bool {
        self.0[n / 8] & (0x80 >> (n % 8)) != 0
    }

    /// A random id that shares exactly `prefix` leading bits with `self` (for refreshing
    /// the bucket of nodes at that distance); `prefix` 160 is `self`.
    pub fn random_at(&self, prefix: usize, rng: &mut Rng) -> Id {
        if prefix >= 160 {
            return *self;
        }
        let mut id = Id::random(rng);
        for n in 0..=prefix {
            let want = if n == prefix {
                !self.bit(n)
            } else {
                self.bit(n)
            };
            let mask = 0x80 >> (n % 8);
            if want {
                id.0[n / 8] |= mask;
            } else {
                id.0[n / 8] &= !mask;
            }
        }
        id
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in &self.0[..4] {
            write!(f, "{byte:02x}")?;
        }
        write!(f, "…")
    }
}

//! Diffie-Hellman key agreement over MSE's fixed 768-bit prime.
//!
//! Each side picks a secret number `x` and sends `Y = G^x mod P`. From the other side's
//! `Y` it computes `S = Y^x mod P = G^(xa·xb) mod P`, the same on both sides, which an
//! eavesdropper who saw only the two `Y`s cannot compute. MSE derives its RC4 keys from
//! `S` (see the module above).

use super::bignum::{BYTES, Modulus, U768};
use std::fs::File;
use std::io::{self, Read};
use std::sync::LazyLock;

/// Bytes of a public key or shared secret on the wire: 96, big-endian.
pub const KEY_LEN: usize = BYTES;

/// Bytes of randomness in a private key. The spec asks for at least 160 bits.
const PRIVATE_LEN: usize = 32;

/// The prime P of the MSE spec (the 768-bit prime of RFC 2409's first Oakley group).
const PRIME: [u8; KEY_LEN] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xC9, 0x0F, 0xDA, 0xA2, 0x21, 0x68, 0xC2, 0x34,
    0xC4, 0xC6, 0x62, 0x8B, 0x80, 0xDC, 0x1C, 0xD1, 0x29, 0x02, 0x4E, 0x08, 0x8A, 0x67, 0xCC, 0x74,
    0x02, 0x0B, 0xBE, 0xA6, 0x3B, 0x13, 0x9B, 0x22, 0x51, 0x4A, 0x08, 0x79, 0x8E, 0x34, 0x04, 0xDD,
    0xEF, 0x95, 0x19, 0xB3, 0xCD, 0x3A, 0x43, 0x1B, 0x30, 0x2B, 0x0A, 0x6D, 0xF2, 0x5F, 0x14, 0x37,
    0x4F, 0xE1, 0x35, 0x6D, 0x6D, 0x51, 0xC2, 0x45, 0xE4, 0x85, 0xB5, 0x76, 0x62, 0x5E, 0x7E, 0xC6,
    0xF4, 0x4C, 0x42, 0xE9, 0xA6, 0x3A, 0x36, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, 0x05, 0x63,
];

/// The generator G.
const GENERATOR: U768 = U768::from_u64(2);

/// Arithmetic modulo P, prepared once per process.
static P: LazyLock<Modulus> = LazyLock::new(|| Modulus::new(prime()));

fn prime() -> U768 {
    U768::from_be_bytes(&PRIME)
}

/// Our half of one key agreement: a fresh secret and the public key it gives.
pub struct KeyPair {
    private: U768,
    /// `G^private mod P`, big-endian: what we send.
    pub public: [u8; KEY_LEN],
}

/// The other side's public key is one that would give away the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeakKey;

impl KeyPair {
    /// A key pair from the system's random source (`/dev/urandom`).
    pub fn generate() -> io::Result<KeyPair> {
        let mut private = [0u8; PRIVATE_LEN];
        File::open("/dev/urandom")?.read_exact(&mut private)?;
        Ok(KeyPair::from_private(&private))
    }

    /// The key pair for a given secret (big-endian): for tests and [`KeyPair::generate`].
    pub fn from_private(private: &[u8; PRIVATE_LEN]) -> KeyPair {
        let mut padded = [0u8; KEY_LEN];
        padded[KEY_LEN - PRIVATE_LEN..].copy_from_slice(private);
        let private = U768::from_be_bytes(&padded);
        KeyPair {
            private,
            public: P.pow(&GENERATOR, &private).to_be_bytes(),
        }
    }

    /// The shared secret S from the other side's public key, big-endian and 96 bytes long.
    ///
    /// A key of 0, 1 or P-1 (or anything from P up) is refused: it would make S one of
    /// a handful of values anyone can guess.
    pub fn shared_secret(&self, theirs: &[u8; KEY_LEN]) -> Result<[u8; KEY_LEN], WeakKey> {
        let theirs = U768::from_be_bytes(theirs);
        let p_minus_one = prime().overflowing_sub(&U768::ONE).0;
        if theirs <= U768::ONE || theirs >= p_minus_one {
            return Err(WeakKey);
        }
        Ok(P.pow(&theirs, &self.private).to_be_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 32-byte secret: `first, first+1, ...`.
    fn counting(first: u8) -> [u8; PRIVATE_LEN] {
        std::array::from_fn(|i| first.wrapping_add(i as u8))
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn the_prime_is_the_one_from_the_spec() {
        let p = prime().to_be_bytes();
        assert_eq!(&p[..8], &[0xFF; 8]);
        assert_eq!(&p[88..], &[0, 0, 0, 0, 0, 0x09, 0x05, 0x63]);
    }

    /// Reference value from Python: `pow(2, int.from_bytes(bytes(range(1, 33))), P)`.
    #[test]
    fn public_key_matches_a_known_value() {
        let pair = KeyPair::from_private(&counting(1));
        let expected = hex(concat!(
            "f8748ea3a1dad33e75a7b3f26e0c0a734f1e3aa8a3d2f08b16dbad698d2deb80",
            "07ca00d2c78990bb8a431c19d9b6f01e4da9f19e72129da631e6e2121e11a1d2",
            "cb2733a0a4170f3e9d311b47824fca3d116cb3af020e34e479d4c2639ec22d8a",
        ));
        assert_eq!(pair.public.to_vec(), expected);
    }

    #[test]
    fn both_sides_derive_the_same_secret() {
        let a = KeyPair::generate().unwrap();
        let b = KeyPair::generate().unwrap();
        assert_ne!(a.public, b.public);
        let s_a = a.shared_secret(&b.public).unwrap();
        let s_b = b.shared_secret(&a.public).unwrap();
        assert_eq!(s_a, s_b);
        assert_ne!(s_a, [0; KEY_LEN]);
    }

    /// Reference value from Python: `pow(pow(2, y, P), x, P)` for the two counting secrets.
    #[test]
    fn shared_secret_matches_a_known_value() {
        let a = KeyPair::from_private(&counting(1));
        let b = KeyPair::from_private(&counting(101));
        let expected = hex(concat!(
            "ca3d8405557c4bd12ed3e8ddfad70fdd1a8cf46b5cf1828795d290bbeba91fe5",
            "cc3be0465c9466115020c768fabe940dae823160c2f44d76a25f05dc1c9d00be",
            "6451e1592353c3512089006a7be190d601fc1d63c1b4c72d5cde9416d3c3b28a",
        ));
        assert_eq!(a.shared_secret(&b.public).unwrap().to_vec(), expected);
    }

    #[test]
    fn degenerate_public_keys_are_refused() {
        let pair = KeyPair::from_private(&counting(1));
        let mut key = [0u8; KEY_LEN];
        assert_eq!(pair.shared_secret(&key), Err(WeakKey), "0");
        key[KEY_LEN - 1] = 1;
        assert_eq!(pair.shared_secret(&key), Err(WeakKey), "1");
        key = prime().overflowing_sub(&U768::ONE).0.to_be_bytes();
        assert_eq!(pair.shared_secret(&key), Err(WeakKey), "P-1");
        assert_eq!(pair.shared_secret(&PRIME), Err(WeakKey), "P");
        assert_eq!(
            pair.shared_secret(&[0xFF; KEY_LEN]),
            Err(WeakKey),
            "above P"
        );
        key[KEY_LEN - 1] = 2;
        key[..KEY_LEN - 1].fill(0);
        assert!(pair.shared_secret(&key).is_ok(), "2 is a fine key");
    }
}

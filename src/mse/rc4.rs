//! RC4, the stream cipher of Message Stream Encryption.
//!
//! RC4 turns a key into an endless stream of pseudo-random bytes (the *keystream*);
//! encrypting and decrypting are the same operation: XOR the data with the next keystream
//! bytes. Both ends of a connection run the same generator from the same key, so each byte
//! must go through it exactly once, in order. The first bytes of RC4's keystream leak
//! information about the key, so MSE throws away the first 1024.
//!
//! RC4 is long broken as a cipher; MSE uses it to make traffic unrecognisable, not secret.

/// Keystream bytes MSE discards before using a cipher.
pub const DISCARD: usize = 1024;

/// One RC4 keystream: a permutation of the 256 byte values and two indices into it.
#[derive(Clone)]
pub struct Rc4 {
    state: [u8; 256],
    i: u8,
    j: u8,
}

impl Rc4 {
    /// The key schedule: start from the identity permutation and shuffle it with the key.
    /// `key` must not be empty (MSE's keys are 20-byte SHA-1 digests).
    pub fn new(key: &[u8]) -> Rc4 {
        let mut state: [u8; 256] = std::array::from_fn(|i| i as u8);
        let mut j = 0u8;
        for i in 0..256 {
            j = j.wrapping_add(state[i]).wrapping_add(key[i % key.len()]);
            state.swap(i, j as usize);
        }
        Rc4 { state, i: 0, j: 0 }
    }

    /// A cipher as MSE uses it: keyed, with the first [`DISCARD`] bytes thrown away.
    pub fn for_mse(key: &[u8]) -> Rc4 {
        let mut rc4 = Rc4::new(key);
        rc4.apply(&mut [0u8; DISCARD]);
        rc4
    }

    /// Encrypts (or, the same thing, decrypts) `data` in place with the next keystream bytes.
    pub fn apply(&mut self, data: &mut [u8]) {
        for byte in data {
            self.i = self.i.wrapping_add(1);
            self.j = self.j.wrapping_add(self.state[self.i as usize]);
            self.state.swap(self.i as usize, self.j as usize);
            let index = self.state[self.i as usize].wrapping_add(self.state[self.j as usize]);
            *byte ^= self.state[index as usize];
        }
    }
}

impl std::fmt::Debug for Rc4 {
    /// Never prints the state, which is as good as the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rc4 { .. }")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encrypt(key: &[u8], text: &[u8]) -> Vec<u8> {
        let mut data = text.to_vec();
        Rc4::new(key).apply(&mut data);
        data
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The classic test vectors (as on Wikipedia's RC4 page).
    #[test]
    fn known_ciphertexts() {
        assert_eq!(hex(&encrypt(b"Key", b"Plaintext")), "bbf316e8d940af0ad3");
        assert_eq!(hex(&encrypt(b"Wiki", b"pedia")), "1021bf0420");
        assert_eq!(
            hex(&encrypt(b"Secret", b"Attack at dawn")),
            "45a01f645fc35b383552544b9bf5"
        );
    }

    /// RFC 6229, key 0x0102030405: the keystream at offsets 0 and 1024 (where MSE starts).
    #[test]
    fn rfc_6229_keystream() {
        let key = [1, 2, 3, 4, 5];
        let mut stream = [0u8; 16];
        Rc4::new(&key).apply(&mut stream);
        assert_eq!(hex(&stream), "b2396305f03dc027ccc3524a0a1118a8");
        let mut stream = [0u8; 16];
        Rc4::for_mse(&key).apply(&mut stream);
        assert_eq!(hex(&stream), "30abbcc7c20b01609f23ee2d5f6bb7df");
    }

    #[test]
    fn decrypting_is_encrypting_again_and_chunks_do_not_matter() {
        let text: Vec<u8> = (0..=255).cycle().take(5000).collect();
        let mut whole = text.clone();
        Rc4::for_mse(b"a key").apply(&mut whole);
        let mut pieces = text.clone();
        let mut rc4 = Rc4::for_mse(b"a key");
        for chunk in pieces.chunks_mut(7) {
            rc4.apply(chunk);
        }
        assert_eq!(whole, pieces);
        Rc4::for_mse(b"a key").apply(&mut whole);
        assert_eq!(whole, text);
    }
}

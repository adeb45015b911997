//! The two keystreams of a connection that selected RC4, and a reader that decrypts.
//!
//! Each direction has its own RC4 stream, keyed from the shared secret and the info-hash:
//! `keyA` for what the initiator sends, `keyB` for what the responder sends. Every byte
//! must pass through its stream exactly once and in order, so the peer thread decrypts in
//! the one place bytes come in ([`Decrypt`], under its read buffer) and encrypts in the one
//! place they go out (just before they are written).

use super::dh::KEY_LEN;
use super::rc4::Rc4;
use sha1::{Digest, Sha1};
use std::io::{self, Read};

/// The RC4 streams of one connection: one for each direction.
#[derive(Debug)]
pub struct Ciphers {
    /// Encrypts what we send.
    pub send: Rc4,
    /// Decrypts what we receive.
    pub receive: Rc4,
}

impl Ciphers {
    /// The streams from the shared secret `S` and the info-hash (`SKEY`), for the side that
    /// dialled (`initiator`) or the side that answered.
    pub fn derive(secret: &[u8; KEY_LEN], info_hash: &[u8; 20], initiator: bool) -> Ciphers {
        let key_a = Rc4::for_mse(&hash(&[b"keyA", secret, info_hash]));
        let key_b = Rc4::for_mse(&hash(&[b"keyB", secret, info_hash]));
        if initiator {
            Ciphers {
                send: key_a,
                receive: key_b,
            }
        } else {
            Ciphers {
                send: key_b,
                receive: key_a,
            }
        }
    }
}

/// MSE's `HASH`: SHA-1 over the parts, one after the other.
pub(super) fn hash(parts: &[&[u8]]) -> [u8; 20] {
    let mut sha = Sha1::new();
    for part in parts {
        sha.update(part);
    }
    sha.finalize().into()
}

/// Reads from `inner` and decrypts what it read with an RC4 stream, or passes it through
/// unchanged (a plaintext connection).
#[derive(Debug)]
pub struct Decrypt<R> {
    inner: R,
    rc4: Option<Rc4>,
}

impl<R> Decrypt<R> {
    pub fn new(inner: R, rc4: Option<Rc4>) -> Decrypt<R> {
        Decrypt { inner, rc4 }
    }
}

impl<R: Read> Read for Decrypt<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(rc4) = &mut self.rc4 {
            rc4.apply(&mut buf[..n]);
        }
        Ok(n)
    }
}

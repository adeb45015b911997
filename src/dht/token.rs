//! Announce tokens (BEP 5): proof that an `announce_peer` comes from the address that
//! asked `get_peers`, at no memory cost per requester.
//!
//! A token is a hash of the requester's IP address and a secret. The secret changes every
//! five minutes and the previous one is still accepted, so a token is good for five to
//! ten minutes, as libtorrent and Transmission do; nothing is stored per requester.

use crate::random::Rng;
use sha1::{Digest, Sha1};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// How often the secret changes.
pub const ROTATE_EVERY: Duration = Duration::from_secs(5 * 60);
/// Bytes of a token.
const TOKEN_LEN: usize = 8;

/// The current and the previous secret.
pub struct Tokens {
    current: [u8; 20],
    previous: [u8; 20],
    rotated: Instant,
    rng: Rng,
}

impl Tokens {
    pub fn new(mut rng: Rng, now: Instant) -> Tokens {
        let mut current = [0u8; 20];
        rng.fill(&mut current);
        Tokens {
            current,
            previous: current,
            rotated: now,
            rng,
        }
    }

    /// Rotates the secret if it is due.
    pub fn tick(&mut self, now: Instant) {
        if now.duration_since(self.rotated) >= ROTATE_EVERY {
            self.previous = self.current;
            self.rng.fill(&mut self.current);
            self.rotated = now;
        }
    }

    /// The token for `ip`.
    pub fn make(&self, ip: Ipv4Addr) -> Vec<u8> {
        token(&self.current, ip)
    }

    /// True if `token` is one we gave `ip` with the current or the previous secret.
    pub fn accepts(&self, ip: Ipv4Addr, given: &[u8]) -> bool {
        given == token(&self.current, ip) || given == token(&self.previous, ip)
    }
}

fn token(secret: &[u8; 20], ip: Ipv4Addr) -> Vec<u8> {
    let mut hash = Sha1::new();
    hash.update(ip.octets());
    hash.update(secret);
    hash.finalize()[..TOKEN_LEN].to_vec()
}

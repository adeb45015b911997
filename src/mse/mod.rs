//! Message Stream Encryption (MSE, also called PE, "protocol encryption"): the handshake
//! that aria2, libtorrent, Transmission, qBittorrent and Vuze put in front of the BitTorrent
//! handshake, so that the traffic does not look like BitTorrent to a filter on the way.
//!
//! This layer is pure: no threads, no sockets of its own. The handshakes run over any
//! `Read + Write` (the peer thread gives a socket with a deadline, the tests a loopback
//! socket) and never read a byte past their last message, so the BitTorrent handshake and
//! messages that follow are left in the stream for the caller.
//!
//! The initiator A (the side that dialled) and the responder B exchange, in order:
//!
//! ```text
//! 1 A→B  Ya, PadA                 A's Diffie-Hellman public key (96 bytes), 0-512 random bytes
//! 2 B→A  Yb, PadB                 B's public key, 0-512 random bytes
//! 3 A→B  HASH('req1', S)          where B can find the end of PadA
//!        HASH('req2', SKEY) xor HASH('req3', S)    which torrent, without naming it
//!        ENCRYPT(VC, crypto_provide, len(PadC), PadC, len(IA)), ENCRYPT(IA)
//! 4 B→A  ENCRYPT(VC, crypto_select, len(PadD), PadD)
//! then   the payload both ways: plaintext or RC4, as B selected
//! ```
//!
//! * `S` is the shared Diffie-Hellman secret ([`dh`]), 96 bytes; `SKEY` is the info-hash;
//!   `HASH` is SHA-1 over the concatenated arguments.
//! * `ENCRYPT` is RC4 ([`rc4`]) keyed with `HASH('keyA', S, SKEY)` for what A sends and
//!   `HASH('keyB', S, SKEY)` for what B sends, its first 1024 bytes discarded. Each
//!   direction is one continuous keystream from the first encrypted byte on.
//! * `VC` is 8 zero bytes: once decrypted, proof that both sides have the same keys; A
//!   finds the end of PadB by looking for B's encrypted VC.
//! * `crypto_provide` (A: every method it accepts) and `crypto_select` (B: the one it
//!   chose) are 32-bit bitfields: 0x01 plaintext, 0x02 RC4 (see [`Method`]).
//! * `IA` is A's *initial payload*: the start of its BitTorrent handshake, sent encrypted
//!   even when plaintext is selected for what follows.
//!
//! With plaintext selected only the handshake is disguised (which is what most clients
//! pick); with RC4 every later byte goes through [`Ciphers`].

mod bignum;
mod cipher;
pub mod dh;
mod handshake;
pub mod rc4;

pub use cipher::{Ciphers, Decrypt};
pub use handshake::{initiate, respond};

use crate::wire::{HANDSHAKE_LEN, PROTOCOL};
use std::fmt;
use std::io;

/// The verification constant: 8 zero bytes, encrypted.
const VC: [u8; 8] = [0; 8];

/// Most pad bytes a side may send (PadA, PadB, PadC, PadD).
pub const MAX_PAD: usize = 512;

/// Longest initial payload we accept: a BitTorrent handshake, which is all clients send.
pub const MAX_INITIAL_PAYLOAD: usize = HANDSHAKE_LEN;

/// Whether the first bytes of a connection (20 suffice) are a plain BitTorrent handshake,
/// `19, "BitTorrent protocol"`, rather than an MSE public key. A random key starts like
/// that once in 2^160 connections.
pub fn is_plain_handshake(start: &[u8]) -> bool {
    start.len() >= 20 && start[0] as usize == PROTOCOL.len() && start[1..20] == *PROTOCOL
}

/// How the payload travels after the handshake: one bit of `crypto_provide` /
/// `crypto_select`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Plaintext: only the handshake was encrypted.
    Plaintext = 0x01,
    /// Every byte RC4-encrypted, both ways.
    Rc4 = 0x02,
}

impl Method {
    fn bit(self) -> u32 {
        self as u32
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Method::Plaintext => f.write_str("plaintext"),
            Method::Rc4 => f.write_str("RC4"),
        }
    }
}

/// What a finished MSE handshake leaves for the BitTorrent handshake.
#[derive(Debug)]
pub struct Agreed {
    /// The method the responder selected.
    pub method: Method,
    /// The RC4 streams for everything after the handshake; `None` when plaintext was
    /// selected.
    pub ciphers: Option<Ciphers>,
    /// The initiator's initial payload (IA), decrypted: the first bytes of its BitTorrent
    /// handshake. Empty on the initiator's side, which sent it.
    pub initial_payload: Vec<u8>,
}

/// Why an MSE handshake failed. Every variant means "drop this connection".
#[derive(Debug)]
pub enum MseError {
    /// The socket failed or the peer closed it.
    Io(io::Error),
    /// The system gave us no random bytes for a private key.
    Random(io::Error),
    /// The peer's public key is 0, 1, P-1 or not below P: it would give away the secret.
    WeakKey,
    /// The marker that ends the peer's padding (`HASH('req1', S)` or B's encrypted `VC`)
    /// did not come within [`MAX_PAD`] bytes.
    NoSync(&'static str),
    /// `HASH('req2', SKEY)` is not our torrent's.
    WrongTorrent,
    /// The verification constant did not decrypt to zeros.
    BadVerification,
    /// A pad length above [`MAX_PAD`].
    PadTooLong { pad: &'static str, len: usize },
    /// An initial payload longer than [`MAX_INITIAL_PAYLOAD`].
    PayloadTooLong(usize),
    /// The responder answered our key with a plain BitTorrent handshake: it does not
    /// speak MSE.
    PlainAnswer,
    /// The initiator offers no method we speak.
    NoCommonMethod(u32),
    /// The responder selected something other than one method we offered.
    BadSelect(u32),
}

impl fmt::Display for MseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MseError::Io(e) => write!(f, "connection error: {e}"),
            MseError::Random(e) => write!(f, "cannot read random bytes for a key: {e}"),
            MseError::WeakKey => write!(f, "the peer's Diffie-Hellman key is not a valid key"),
            MseError::NoSync(marker) => write!(
                f,
                "no {marker} within {MAX_PAD} bytes of padding (not an encryption handshake, \
                 or the keys differ)"
            ),
            MseError::WrongTorrent => write!(f, "the peer asked for a torrent we do not share"),
            MseError::BadVerification => write!(
                f,
                "the verification constant did not decrypt to zeros (the keys differ)"
            ),
            MseError::PadTooLong { pad, len } => {
                write!(f, "{pad} of {len} bytes (at most {MAX_PAD})")
            }
            MseError::PayloadTooLong(len) => write!(
                f,
                "an initial payload of {len} bytes (we take at most a {MAX_INITIAL_PAYLOAD}-byte \
                 BitTorrent handshake)"
            ),
            MseError::PlainAnswer => {
                write!(f, "the peer answered with a plain BitTorrent handshake")
            }
            MseError::NoCommonMethod(provided) => write!(
                f,
                "the peer offers encryption methods {provided:#x}; we speak plaintext (0x1) \
                 and RC4 (0x2)"
            ),
            MseError::BadSelect(selected) => {
                write!(
                    f,
                    "the peer selected method {selected:#x}, which we did not offer"
                )
            }
        }
    }
}

impl std::error::Error for MseError {}

impl From<io::Error> for MseError {
    fn from(error: io::Error) -> MseError {
        MseError::Io(error)
    }
}

#[cfg(test)]
mod tests;

//! Message Stream Encryption (MSE, also called PE, "protocol encryption"): the handshake
//! that aria2, libtorrent, Transmission, qBittorrent and Vuze put in front of the BitTorrent
//! handshake. Its building blocks: RC4 ([`rc4`]) and Diffie-Hellman over a 768-bit prime
//! ([`dh`]).

mod bignum;
pub mod dh;
pub mod rc4;

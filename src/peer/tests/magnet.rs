//! The extension messages and the wait for a magnet link's metadata, against bad input.

use super::*;
use crate::transcript::Tracer;

fn addr() -> SocketAddr {
    "127.0.0.9:6881".parse().unwrap()
}

#[test]
fn bad_extension_handshakes_are_reasons_to_drop_the_peer() {
    let cases: [(&[u8], &str); 3] = [
        (
            b"d13:metadata_sizei1099511627776ee",
            "announced metadata of 1099511627776 bytes (the limit is 67108864)",
        ),
        (
            b"d13:metadata_sizei67108865ee",
            "announced metadata of 67108865 bytes (the limit is 67108864)",
        ),
        (
            b"i5e",
            "sent a malformed extension handshake: not a dictionary",
        ),
    ];
    for (payload, reason) in cases {
        match extensions::read_handshake(payload, addr(), &Tracer::disabled()) {
            Err(PeerError::Misbehaved(what)) => assert_eq!(what, reason),
            other => panic!("{payload:?}: {other:?}"),
        }
    }
    let at_the_limit = b"d13:metadata_sizei67108864ee";
    let read = extensions::read_handshake(at_the_limit, addr(), &Tracer::disabled()).unwrap();
    assert_eq!(read.metadata_size, Some(67_108_864));
}

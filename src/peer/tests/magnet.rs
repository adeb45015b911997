//! The extension messages and the wait for a magnet link's metadata, against bad input.

use super::*;
use crate::peer::magnet::keep;
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

/// Regression: every message about pieces that came before the metadata was kept whole,
/// so a peer sending 128 KiB blocks or bitfields could make us hold 10,000 of them
/// (1.25 GiB) while we waited.
#[test]
fn what_is_kept_before_the_metadata_stays_small() {
    let mut kept = Vec::new();
    for _ in 0..100 {
        keep(&mut kept, Message::Bitfield(vec![0xff; 128 * 1024])).unwrap();
        keep(&mut kept, Message::Have(3)).unwrap();
    }
    keep(&mut kept, Message::Unchoke).unwrap();
    keep(&mut kept, Message::Bitfield(vec![0x80])).unwrap();
    keep(&mut kept, Message::Have(1)).unwrap();
    assert_eq!(
        kept,
        vec![
            Message::Unchoke,
            Message::Bitfield(vec![0x80]),
            Message::Have(1)
        ],
        "the last bitfield replaces the bitfields and haves before it"
    );
    let block = Message::Piece {
        piece: 2,
        offset: 16384,
        data: vec![0; 16384],
    };
    assert_eq!(
        keep(&mut kept, block),
        Err("sent 16384 bytes at offset 16384 of piece 2 before we had the metadata".into())
    );
}

#[test]
fn more_than_ten_thousand_messages_before_the_metadata_is_a_flood() {
    let mut kept = Vec::new();
    for piece in 0..10_000 {
        keep(&mut kept, Message::Have(piece)).unwrap();
    }
    assert_eq!(
        keep(&mut kept, Message::Have(10_000)),
        Err("sent over 10000 messages before we had the metadata".into())
    );
}

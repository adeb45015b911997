//! Tests for the wire protocol: exact bytes, resumable framing, hostile input.

use super::*;
use crate::random::Rng;
use std::collections::VecDeque;

/// A reader that hands out its chunks one per `read` call, answering `WouldBlock` between
/// two chunks, the way the peer thread's non-blocking socket does when data trickles in.
struct Trickle {
    chunks: VecDeque<Vec<u8>>,
    block_next: bool,
}

impl Trickle {
    fn new(chunks: Vec<Vec<u8>>) -> Trickle {
        Trickle {
            chunks: chunks.into(),
            block_next: false,
        }
    }

    /// `bytes` one byte at a time.
    fn bytewise(bytes: &[u8]) -> Trickle {
        Trickle::new(bytes.iter().map(|&b| vec![b]).collect())
    }
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.block_next {
            self.block_next = false;
            return Err(ErrorKind::WouldBlock.into());
        }
        let Some(chunk) = self.chunks.front_mut() else {
            return Ok(0);
        };
        let n = chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        chunk.drain(..n);
        if chunk.is_empty() {
            self.chunks.pop_front();
            self.block_next = true;
        }
        Ok(n)
    }
}

/// Decodes every message in `bytes`, read from a plain slice.
fn decode_all(bytes: &[u8]) -> Result<Vec<Message>, WireError> {
    let mut reader = MessageReader::new(DEFAULT_MAX_LEN);
    let mut input = bytes;
    let mut out = Vec::new();
    while !input.is_empty() {
        match reader.read_from(&mut input)? {
            Some(message) => out.push(message),
            None => unreachable!("a slice never times out"),
        }
    }
    Ok(out)
}

fn block(piece: u32, offset: u32, length: u32) -> BlockRef {
    BlockRef {
        piece,
        offset,
        length,
    }
}

/// Every message with its exact encoding, fields labelled.
fn examples() -> Vec<(Message, Vec<u8>)> {
    #[rustfmt::skip]
    let table = vec![
        (Message::KeepAlive, vec![/* len */ 0, 0, 0, 0]),
        (Message::Choke, vec![/* len */ 0, 0, 0, 1, /* id */ 0]),
        (Message::Unchoke, vec![0, 0, 0, 1, 1]),
        (Message::Interested, vec![0, 0, 0, 1, 2]),
        (Message::NotInterested, vec![0, 0, 0, 1, 3]),
        (Message::Have(258), vec![/* len */ 0, 0, 0, 5, /* id */ 4, /* piece */ 0, 0, 1, 2]),
        (Message::Bitfield(vec![0b1010_0000, 0xff]),
            vec![/* len */ 0, 0, 0, 3, /* id */ 5, /* bits */ 0b1010_0000, 0xff]),
        (Message::Request(block(1, 0x4000, 0x4000)),
            vec![/* len */ 0, 0, 0, 13, /* id */ 6, /* piece */ 0, 0, 0, 1,
                 /* offset */ 0, 0, 0x40, 0, /* length */ 0, 0, 0x40, 0]),
        (Message::Piece { piece: 2, offset: 0x8000, data: vec![0xaa, 0xbb, 0xcc] },
            vec![/* len */ 0, 0, 0, 12, /* id */ 7, /* piece */ 0, 0, 0, 2,
                 /* offset */ 0, 0, 0x80, 0, /* data */ 0xaa, 0xbb, 0xcc]),
        (Message::Cancel(block(3, 0, 0x4000)),
            vec![0, 0, 0, 13, /* id */ 8, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0x40, 0]),
        (Message::Port(6881), vec![/* len */ 0, 0, 0, 3, /* id */ 9, /* port */ 0x1a, 0xe1]),
        // BEP 6, the Fast extension.
        (Message::SuggestPiece(258),
            vec![/* len */ 0, 0, 0, 5, /* id */ 0x0d, /* piece */ 0, 0, 1, 2]),
        (Message::HaveAll, vec![/* len */ 0, 0, 0, 1, /* id */ 0x0e]),
        (Message::HaveNone, vec![/* len */ 0, 0, 0, 1, /* id */ 0x0f]),
        (Message::RejectRequest(block(1, 0x4000, 0x4000)),
            vec![/* len */ 0, 0, 0, 13, /* id */ 0x10, /* piece */ 0, 0, 0, 1,
                 /* offset */ 0, 0, 0x40, 0, /* length */ 0, 0, 0x40, 0]),
        (Message::AllowedFast(7), vec![/* len */ 0, 0, 0, 5, /* id */ 0x11, /* piece */ 0, 0, 0, 7]),
        (Message::Extended { id: 3, payload: b"de".to_vec() },
            vec![/* len */ 0, 0, 0, 4, /* id */ 20, /* extension */ 3, b'd', b'e']),
        (Message::Unknown { id: 21, len: 2 }, vec![/* len */ 0, 0, 0, 3, /* id */ 21, 0, 0]),
    ];
    table
}

#[test]
fn every_message_has_its_exact_bytes() {
    for (message, bytes) in examples() {
        let mut out = Vec::new();
        message.encode(&mut out);
        assert_eq!(out, bytes, "encoding {message:?}");
        let decoded = decode_all(&bytes).unwrap();
        assert_eq!(decoded, vec![message]);
    }
}

#[test]
fn piece_header_matches_the_encoded_piece() {
    let mut out = Vec::new();
    Message::Piece {
        piece: 5,
        offset: 16384,
        data: vec![7; 100],
    }
    .encode(&mut out);
    assert_eq!(piece_header(5, 16384, 100), out[..13]);
}

#[test]
fn handshake_round_trips() {
    let hs = Handshake {
        reserved: [0, 0, 0, 0, 0, 0x10, 0, 0],
        info_hash: [0xab; 20],
        peer_id: *b"-ST0001-123456789012",
    };
    let bytes = hs.to_bytes();
    assert_eq!(bytes[0], 19);
    assert_eq!(&bytes[1..20], b"BitTorrent protocol");
    assert_eq!(&bytes[48..], b"-ST0001-123456789012");
    assert_eq!(Handshake::parse(&bytes).unwrap(), hs);
    assert_eq!(Handshake::read_from(&mut &bytes[..]).unwrap(), hs);
}

#[test]
fn bad_handshakes_are_refused() {
    let mut bytes = Handshake {
        reserved: [0; 8],
        info_hash: [1; 20],
        peer_id: [2; 20],
    }
    .to_bytes();
    bytes[0] = 18;
    assert!(matches!(
        Handshake::parse(&bytes),
        Err(WireError::BadHandshake(_))
    ));
    bytes[0] = 19;
    bytes[1] = b'b';
    assert!(matches!(
        Handshake::parse(&bytes),
        Err(WireError::BadHandshake(_))
    ));
    let short = [19u8; 30];
    assert!(matches!(
        Handshake::read_from(&mut &short[..]),
        Err(WireError::Closed)
    ));
}

#[test]
fn a_timeout_mid_frame_keeps_the_partial_frame() {
    for (message, bytes) in examples() {
        // Cut after every possible byte: first part, WouldBlock, the rest.
        for cut in 1..bytes.len() {
            let mut trickle = Trickle::new(vec![bytes[..cut].to_vec(), bytes[cut..].to_vec()]);
            let mut reader = MessageReader::new(DEFAULT_MAX_LEN);
            assert_eq!(
                reader.read_from(&mut trickle).unwrap(),
                None,
                "{message:?} cut at {cut}"
            );
            assert!(reader.in_frame());
            assert_eq!(
                reader.read_from(&mut trickle).unwrap(),
                Some(message.clone())
            );
            assert!(!reader.in_frame());
        }
    }
}

#[test]
fn a_stream_trickling_one_byte_at_a_time_decodes() {
    let mut stream = Vec::new();
    let expected: Vec<Message> = examples().into_iter().map(|(m, _)| m).collect();
    for message in &expected {
        message.encode(&mut stream);
    }
    let mut trickle = Trickle::bytewise(&stream);
    let mut reader = MessageReader::new(DEFAULT_MAX_LEN);
    let mut decoded = Vec::new();
    let mut timeouts = 0;
    loop {
        match reader.read_from(&mut trickle) {
            Ok(Some(message)) => decoded.push(message),
            Ok(None) => timeouts += 1,
            Err(WireError::Closed) => break,
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(decoded, expected);
    assert!(timeouts >= stream.len() - expected.len());
    assert_eq!(reader.bytes_read(), stream.len() as u64);
    assert_eq!(reader.block_bytes_read(), 3);
}

#[test]
fn eof_mid_frame_is_an_error() {
    for (message, bytes) in examples() {
        for cut in 1..bytes.len() {
            let result = MessageReader::new(DEFAULT_MAX_LEN).read_from(&mut &bytes[..cut]);
            assert!(
                matches!(result, Err(WireError::Closed)),
                "{message:?} cut at {cut}"
            );
        }
    }
    let result = MessageReader::new(DEFAULT_MAX_LEN).read_from(&mut &[][..]);
    assert!(matches!(result, Err(WireError::Closed)));
}

/// A reader that fails the test if anything reads past the length prefix.
struct OnlyPrefix(&'static [u8]);

impl Read for OnlyPrefix {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        assert!(!self.0.is_empty(), "read past the length prefix");
        let n = buf.len().min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn oversized_length_is_refused_before_reading_or_allocating() {
    let mut reader = MessageReader::new(DEFAULT_MAX_LEN);
    let result = reader.read_from(&mut OnlyPrefix(&[0xff, 0xff, 0xff, 0xff]));
    let err = result.unwrap_err();
    assert!(matches!(
        err,
        WireError::TooLong {
            len: u32::MAX,
            max: DEFAULT_MAX_LEN
        }
    ));
    assert_eq!(
        err.to_string(),
        "peer sent a 4294967295-byte message (limit 131081)"
    );
}

#[test]
fn wrong_fixed_lengths_are_errors() {
    #[rustfmt::skip]
    let bad: [&[u8]; 11] = [
        &[0, 0, 0, 2, /* choke */ 0, 0],
        &[0, 0, 0, 4, /* have */ 4, 0, 0, 1],
        &[0, 0, 0, 12, /* request */ 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        &[0, 0, 0, 14, /* cancel */ 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        &[0, 0, 0, 8, /* piece */ 7, 0, 0, 0, 0, 0, 0, 0],
        &[0, 0, 0, 2, /* port */ 9, 0],
        &[0, 0, 0, 4, /* suggest_piece */ 0x0d, 0, 0, 1],
        &[0, 0, 0, 2, /* have_all */ 0x0e, 0],
        &[0, 0, 0, 5, /* have_none */ 0x0f, 0, 0, 0, 0],
        &[0, 0, 0, 12, /* reject_request */ 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        &[0, 0, 0, 6, /* allowed_fast */ 0x11, 0, 0, 0, 0, 0],
    ];
    for bytes in bad {
        let result = MessageReader::new(DEFAULT_MAX_LEN).read_from(&mut &bytes[..]);
        assert!(
            matches!(result, Err(WireError::BadLength { .. })),
            "{bytes:?}"
        );
    }
    let err = decode_all(&[0, 0, 0, 7, 4, 0, 0, 0, 0, 0, 0]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "peer sent a `have` message of 7 bytes (expected 5)"
    );
    let err = decode_all(&[0, 0, 0, 2, 0x0e, 0]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "peer sent a `have all` message of 2 bytes (expected 1)"
    );
    let err = decode_all(&[0, 0, 0, 14, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "peer sent a `reject request` message of 14 bytes (expected 13)"
    );
}

#[test]
fn fast_messages_have_readable_summaries() {
    let table = [
        (Message::SuggestPiece(3), "suggest piece 3"),
        (Message::HaveAll, "have all"),
        (Message::HaveNone, "have none"),
        (
            Message::RejectRequest(block(2, 16384, 16384)),
            "reject request: piece 2 offset 16384 (16384 bytes)",
        ),
        (Message::AllowedFast(9), "allowed fast: piece 9"),
    ];
    for (message, summary) in table {
        assert_eq!(message.summary(), summary);
    }
}

#[test]
fn zero_length_frames_are_keep_alives_and_garbage_ids_are_skipped() {
    let bytes = [
        0, 0, 0, 0, 0, 0, 0, 0, /* len */ 0, 0, 0, 1, /* id */ 0xee,
    ];
    let decoded = decode_all(&bytes).unwrap();
    assert_eq!(
        decoded,
        vec![
            Message::KeepAlive,
            Message::KeepAlive,
            Message::Unknown { id: 0xee, len: 0 }
        ]
    );
}

#[test]
fn unknown_messages_are_skipped_in_chunks_and_the_next_one_decodes() {
    // A 10,000-byte message of an id we do not speak (21), then `have 7`.
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&10_001u32.to_be_bytes());
    bytes.push(21);
    bytes.extend(std::iter::repeat_n(0x5a, 10_000));
    Message::Have(7).encode(&mut bytes);
    let mut trickle = Trickle::new(bytes.chunks(3000).map(<[u8]>::to_vec).collect());
    let mut reader = MessageReader::new(DEFAULT_MAX_LEN);
    let mut decoded = Vec::new();
    while decoded.len() < 2 {
        if let Some(message) = reader.read_from(&mut trickle).unwrap() {
            decoded.push(message);
        }
    }
    assert_eq!(
        decoded,
        vec![
            Message::Unknown {
                id: 21,
                len: 10_000
            },
            Message::Have(7)
        ]
    );
}

#[test]
fn interrupted_reads_are_retried() {
    struct Interrupting(bool, &'static [u8]);
    impl Read for Interrupting {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.0 = !self.0;
            if self.0 {
                return Err(ErrorKind::Interrupted.into());
            }
            self.1.read(buf)
        }
    }
    let mut r = Interrupting(false, &[0, 0, 0, 5, 4, 0, 0, 0, 9]);
    let message = MessageReader::new(DEFAULT_MAX_LEN)
        .read_from(&mut r)
        .unwrap();
    assert_eq!(message, Some(Message::Have(9)));
}

/// 100,000 random and mutated buffers, fed in random chunks with `WouldBlock` between them:
/// the reader may refuse them but must never panic or loop.
#[test]
fn random_input_never_panics() {
    let mut rng = Rng::with_seed(0x5eed);
    let valid: Vec<Vec<u8>> = examples().into_iter().map(|(_, bytes)| bytes).collect();
    for round in 0..100_000 {
        let mut buf = if round % 2 == 0 {
            let mut b = vec![0u8; rng.below(40)];
            rng.fill(&mut b);
            b
        } else {
            let mut b = valid[rng.below(valid.len())].clone();
            b.extend_from_slice(&valid[rng.below(valid.len())]);
            for _ in 0..=rng.below(3) {
                let at = rng.below(b.len());
                b[at] = rng.next_u64() as u8;
            }
            b.truncate(rng.below(b.len() + 1));
            b
        };
        // Small lengths make most random prefixes plausible, exercising the body paths.
        if round % 3 == 0 && buf.len() >= 4 {
            buf[..3].fill(0);
        }
        let mut chunks = Vec::new();
        let mut rest = &buf[..];
        while !rest.is_empty() {
            let n = 1 + rng.below(rest.len());
            chunks.push(rest[..n].to_vec());
            rest = &rest[n..];
        }
        let mut trickle = Trickle::new(chunks);
        let mut reader = MessageReader::new(4096);
        for _ in 0..10_000 {
            if reader.read_from(&mut trickle).is_err() {
                break;
            }
        }
        assert!(reader.bytes_read() <= buf.len() as u64);
    }
}

#[test]
fn our_handshake_says_we_speak_the_fast_extension() {
    let ours = Handshake::new([1; 20], [2; 20]);
    assert!(ours.supports_fast());
    assert_eq!(ours.to_bytes()[27], 0x04, "reserved byte 7, bit 0x04");
    let mut plain = ours;
    plain.reserved[7] = 0;
    assert!(!plain.supports_fast());
    assert!(plain.supports_extensions(), "the two bits are independent");
}

#[test]
fn our_handshake_says_we_speak_bep_10() {
    let ours = Handshake::new([1; 20], [2; 20]);
    assert!(ours.supports_extensions());
    assert_eq!(ours.to_bytes()[25], 0x10, "reserved byte 5, bit 0x10");
    let plain = Handshake {
        reserved: [0; 8],
        ..ours
    };
    assert!(!plain.supports_extensions());
}

#[test]
fn an_extended_message_shorter_than_its_extension_byte_is_refused() {
    let mut reader = MessageReader::new(DEFAULT_MAX_LEN);
    let bytes = [0u8, 0, 0, 1, 20];
    let error = reader.read_from(&mut &bytes[..]).unwrap_err();
    assert!(
        matches!(error, WireError::BadLength { id: 20, len: 1 }),
        "{error}"
    );
    assert!(error.to_string().contains("`extended`"), "{error}");
}

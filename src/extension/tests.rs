use super::metadata::{self, MetadataMessage};
use super::pex::{Flags, PexMessage};
use super::*;
use std::net::SocketAddr;

fn payload(message: Message) -> (u8, Vec<u8>) {
    match message {
        Message::Extended { id, payload } => (id, payload),
        other => panic!("not an extended message: {other:?}"),
    }
}

#[test]
fn our_handshake_offers_ut_metadata_and_ut_pex_and_reads_back() {
    let ours = Ours {
        metadata_size: Some(31_337),
        reqq: 250,
        version: "smalltorrent 0.1.0",
        listen_port: Some(6881),
        pex: true,
    };
    let (id, bytes) = payload(ours.message());
    assert_eq!(id, 0, "the extension handshake is extension message 0");
    let read = Handshake::decode(&bytes).unwrap();
    assert_eq!(
        read,
        Handshake {
            ut_metadata: Some(UT_METADATA),
            ut_pex: Some(UT_PEX),
            prefers_encryption: false,
            metadata_size: Some(31_337),
            reqq: Some(250),
            client: Some("smalltorrent 0.1.0".into()),
            listen_port: Some(6881),
        }
    );
}

#[test]
fn without_pex_our_handshake_offers_only_ut_metadata() {
    let ours = Ours {
        metadata_size: None,
        reqq: 250,
        version: "smalltorrent 0.1.0",
        listen_port: None,
        pex: false,
    };
    let (_, bytes) = payload(ours.message());
    assert!(
        bytes.starts_with(b"d1:md11:ut_metadatai1ee4:reqq"),
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    assert_eq!(Handshake::decode(&bytes).unwrap().ut_pex, None);
}

#[test]
fn a_libtorrent_handshake_is_read() {
    // The shape libtorrent 2.0 sends, with keys we do not use.
    let bytes = b"d12:complete_agoi-1e1:md11:lt_donthavei7e10:share_modei8e11:upload_onlyi3e12:ut_holepunchi4e11:ut_metadatai2e6:ut_pexi1ee13:metadata_sizei4321e4:reqqi500e11:upload_onlyi0e1:v17:libtorrent 2.0.11e";
    let read = Handshake::decode(bytes).unwrap();
    assert_eq!(read.ut_metadata, Some(2));
    assert_eq!(read.ut_pex, Some(1));
    assert!(!read.prefers_encryption, "no 'e' key");
    assert_eq!(read.metadata_size, Some(4321));
    assert_eq!(read.reqq, Some(500));
    assert_eq!(read.client.as_deref(), Some("libtorrent 2.0.11"));
}

#[test]
fn disabled_and_impossible_extension_numbers_mean_not_spoken() {
    for m in ["i0e", "i256e", "i-1e", "3:abc"] {
        let bytes = format!("d1:md11:ut_metadata{m}ee");
        let read = Handshake::decode(bytes.as_bytes()).unwrap();
        assert_eq!(read.ut_metadata, None, "{bytes}");
    }
}

#[test]
fn a_negative_or_zero_metadata_size_is_no_size() {
    for size in ["i0e", "i-5e", "3:abc"] {
        let bytes = format!("d13:metadata_size{size}e");
        assert_eq!(
            Handshake::decode(bytes.as_bytes()).unwrap().metadata_size,
            None
        );
    }
}

#[test]
fn a_malformed_handshake_is_an_error_naming_why() {
    let cases: [(&[u8], &str); 3] = [
        (b"i5e", "not a dictionary"),
        (b"d1:mi1ee", "its 'm' is not a dictionary"),
        (b"d1:m", "malformed extension handshake"),
    ];
    for (bytes, text) in cases {
        let error = Handshake::decode(bytes).unwrap_err().to_string();
        assert!(error.contains(text), "{error}");
    }
}

#[test]
fn metadata_messages_round_trip() {
    let messages = [
        MetadataMessage::Request { piece: 3 },
        MetadataMessage::Reject { piece: 0 },
        MetadataMessage::Data {
            piece: 1,
            total_size: 20_000,
            data: vec![7; 20_000 - metadata::PIECE_SIZE],
        },
    ];
    for message in messages {
        let (id, bytes) = payload(message.to_message(9));
        assert_eq!(id, 9, "sent with the peer's number for ut_metadata");
        assert_eq!(MetadataMessage::decode(&bytes).unwrap(), Some(message));
    }
}

#[test]
fn unknown_metadata_message_types_are_ignored() {
    assert_eq!(
        MetadataMessage::decode(b"d8:msg_typei7e5:piecei0ee").unwrap(),
        None
    );
}

#[test]
fn malformed_metadata_messages_are_errors() {
    let cases: [&[u8]; 5] = [
        b"d5:piecei0ee",
        b"d8:msg_typei0ee",
        b"d8:msg_typei0e5:piecei-1ee",
        b"d8:msg_typei1e5:piecei0ee",
        b"l8:msg_typee",
    ];
    for bytes in cases {
        assert!(MetadataMessage::decode(bytes).is_err(), "{bytes:?}");
    }
}

#[test]
fn metadata_pieces_are_16_kib_but_the_last() {
    let size = 2 * metadata::PIECE_SIZE as u64 + 5;
    assert_eq!(metadata::piece_count(size), 3);
    assert_eq!(metadata::piece_len(size, 0), Some(metadata::PIECE_SIZE));
    assert_eq!(metadata::piece_len(size, 2), Some(5));
    assert_eq!(metadata::piece_len(size, 3), None);
    let bytes = vec![1u8; size as usize];
    assert_eq!(metadata::piece_of(&bytes, 2).map(<[u8]>::len), Some(5));
    assert_eq!(metadata::piece_of(&bytes, u32::MAX), None);
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

/// Every key, as libtorrent writes them: IPv4 then IPv6, each peer's flags in order.
#[test]
fn a_pex_message_is_encoded_byte_for_byte() {
    let message = PexMessage {
        added: vec![
            (addr("127.0.0.2:6881"), Flags::SEED),
            (addr("[::1]:258"), Flags::REACHABLE),
        ],
        dropped: vec![addr("10.0.0.1:80")],
    };
    let (id, bytes) = payload(message.to_message(7));
    assert_eq!(id, 7, "sent with the peer's number for ut_pex");
    let mut expected = Vec::new();
    expected.extend_from_slice(b"d5:added6:\x7f\x00\x00\x02\x1a\xe1"); // 127.0.0.2, port 6881
    expected.extend_from_slice(b"7:added.f1:\x02"); // a seed
    expected.extend_from_slice(b"6:added618:");
    expected.extend_from_slice(&[0; 15]);
    expected.extend_from_slice(&[1, 1, 2]); // ::1, port 258
    expected.extend_from_slice(b"8:added6.f1:\x10"); // we dialled it
    expected.extend_from_slice(b"7:dropped6:\x0a\x00\x00\x01\x00\x50"); // 10.0.0.1, port 80
    expected.extend_from_slice(b"8:dropped60:e");
    assert_eq!(
        bytes,
        expected,
        "{}",
        String::from_utf8_lossy(&bytes).escape_debug()
    );
    assert_eq!(PexMessage::decode(&bytes).unwrap(), message);
}

#[test]
fn a_libtorrent_pex_message_is_read() {
    // libtorrent 2.0's first message to a new peer: its whole list, `dropped` empty.
    let bytes = b"d5:added12:\x7f\x00\x00\x02\x1a\xe1\x7f\x00\x00\x03\x1a\xe27:added.f2:\x02\x006:added60:8:added6.f0:7:dropped0:8:dropped60:e";
    let message = PexMessage::decode(bytes).unwrap();
    assert_eq!(
        message.added,
        [
            (addr("127.0.0.2:6881"), Flags::SEED),
            (addr("127.0.0.3:6882"), Flags(0)),
        ]
    );
    assert!(message.dropped.is_empty());
}

#[test]
fn pex_flags_may_be_left_out_and_unknown_keys_are_ignored() {
    let bytes = b"d5:added6:\x7f\x00\x00\x02\x1a\xe16:future3:abce";
    let message = PexMessage::decode(bytes).unwrap();
    assert_eq!(message.added, [(addr("127.0.0.2:6881"), Flags(0))]);
    assert_eq!(PexMessage::decode(b"de").unwrap(), PexMessage::default());
}

#[test]
fn pex_flags_combine() {
    let flags = Flags::SEED.with(Flags::REACHABLE);
    assert_eq!(flags, Flags(0x12));
    assert!(flags.contains(Flags::SEED) && !flags.contains(Flags::PREFERS_ENCRYPTION));
}

#[test]
fn malformed_pex_messages_are_errors_naming_why() {
    let cases: [(&[u8], &str); 8] = [
        (b"le", "not a dictionary"),
        (b"d5:added", "malformed ut_pex message"),
        (
            b"d5:added5:abcdee",
            "'added' is 5 bytes, not a multiple of 6",
        ),
        (
            b"d6:added67:1234567e",
            "'added6' is 7 bytes, not a multiple of 18",
        ),
        (
            b"d7:dropped13:1234567890123e",
            "'dropped' is 13 bytes, not a multiple of 6",
        ),
        (b"d5:addedi6ee", "'added' is not a byte string"),
        (b"d8:dropped6lee", "'dropped6' is not a byte string"),
        (
            b"d5:added12:abcdefghijkl7:added.f1:\x02e",
            "'added' lists 2 peers but its flags are 1 bytes",
        ),
    ];
    for (bytes, text) in cases {
        let error = PexMessage::decode(bytes).unwrap_err().to_string();
        assert!(
            error.starts_with("sent a malformed ut_pex message") && error.contains(text),
            "{}: {error}",
            String::from_utf8_lossy(bytes)
        );
    }
}

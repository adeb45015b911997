//! The MSE handshakes over real loopback sockets. The other side is written out by hand,
//! message by message from the spec, using only the building blocks (Diffie-Hellman, RC4,
//! SHA-1), so a mistake in `handshake.rs` cannot hide behind the same mistake on both sides.

use super::dh::{KEY_LEN, KeyPair};
use super::handshake::skip_to;
use super::rc4::Rc4;
use super::*;
use sha1::{Digest, Sha1};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

const INFO_HASH: [u8; 20] = [7; 20];

/// A connected pair of loopback sockets; reads give up after 5 s so no test can hang.
fn socket_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let near = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (far, _) = listener.accept().unwrap();
    for socket in [&near, &far] {
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
    }
    (near, far)
}

fn sha1(parts: &[&[u8]]) -> [u8; 20] {
    let mut sha = Sha1::new();
    parts.iter().for_each(|part| sha.update(part));
    sha.finalize().into()
}

/// A BitTorrent handshake stands in for any initial payload.
fn bt_handshake() -> Vec<u8> {
    crate::wire::Handshake::new(INFO_HASH, *b"-XX0001-abcdefghijkl")
        .to_bytes()
        .to_vec()
}

/// What a hand-written initiator sends; [`Script::honest`] follows the spec, and each
/// hostile test changes one field.
#[derive(Clone)]
struct Script {
    /// Replaces our real public key (a weak key, garbage).
    ya: Option<[u8; KEY_LEN]>,
    pad_a: Vec<u8>,
    /// Replaces everything after Ya and PadA (garbage).
    rest: Option<Vec<u8>>,
    skey: [u8; 20],
    vc: [u8; 8],
    provide: u32,
    pad_c: Vec<u8>,
    ia: Vec<u8>,
}

impl Script {
    fn honest(provide: u32) -> Script {
        Script {
            ya: None,
            pad_a: vec![0xAA; 100],
            rest: None,
            skey: INFO_HASH,
            vc: [0; 8],
            provide,
            pad_c: Vec::new(),
            ia: bt_handshake(),
        }
    }
}

/// The initiator's end after its third message: the socket and its two keystreams.
struct Initiator {
    socket: TcpStream,
    send: Rc4,
    receive: Rc4,
}

impl Initiator {
    /// Messages 1 and 3 of the spec (reading message 2 in between), as `script` says;
    /// `None` if the responder hung up before message 2.
    fn start(mut socket: TcpStream, script: &Script) -> Option<Initiator> {
        let ours = KeyPair::generate().unwrap();
        socket.write_all(&script.ya.unwrap_or(ours.public)).unwrap();
        socket.write_all(&script.pad_a).unwrap();
        let mut yb = [0u8; KEY_LEN];
        socket.read_exact(&mut yb).ok()?;
        let s = ours.shared_secret(&yb).unwrap();
        let mut send = Rc4::for_mse(&sha1(&[b"keyA", &s, &script.skey]));
        let receive = Rc4::for_mse(&sha1(&[b"keyB", &s, &script.skey]));
        let message = match &script.rest {
            Some(garbage) => garbage.clone(),
            None => {
                let mut message = sha1(&[b"req1", &s]).to_vec();
                let (req2, req3) = (sha1(&[b"req2", &script.skey]), sha1(&[b"req3", &s]));
                message.extend(req2.iter().zip(req3).map(|(a, b)| a ^ b));
                let mut encrypted = script.vc.to_vec();
                encrypted.extend(script.provide.to_be_bytes());
                encrypted.extend((script.pad_c.len() as u16).to_be_bytes());
                encrypted.extend(&script.pad_c);
                encrypted.extend((script.ia.len() as u16).to_be_bytes());
                encrypted.extend(&script.ia);
                send.apply(&mut encrypted);
                message.extend(encrypted);
                message
            }
        };
        // The responder may hang up halfway through a hostile message: that is its answer.
        let _ = socket.write_all(&message);
        Some(Initiator {
            socket,
            send,
            receive,
        })
    }

    /// Message 4: skips PadB up to B's encrypted VC, returns crypto_select.
    fn read_answer(&mut self) -> u32 {
        let mut vc = [0u8; 8];
        self.receive.apply(&mut vc);
        let mut seen = Vec::new();
        while !seen.ends_with(&vc) {
            assert!(seen.len() < 512 + 8, "no encrypted VC within PadB");
            let mut byte = [0u8];
            self.socket.read_exact(&mut byte).unwrap();
            seen.push(byte[0]);
        }
        let mut rest = [0u8; 6];
        self.socket.read_exact(&mut rest).unwrap();
        self.receive.apply(&mut rest);
        assert_eq!(&rest[4..], &[0, 0], "we send no PadD");
        u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]])
    }
}

/// Runs our responder against `script`; returns its result, the initiator's end (if it got
/// as far as message 3) and the responder's socket.
fn respond_to(script: Script) -> (Result<Agreed, MseError>, Option<Initiator>, TcpStream) {
    let (near, far) = socket_pair();
    let initiator = thread::spawn(move || Initiator::start(near, &script));
    let mut responder = far;
    let mut start = [0u8; 20];
    responder.read_exact(&mut start).unwrap();
    let result = respond(&mut responder, &start, &INFO_HASH);
    if result.is_err() {
        // As the peer thread does: drop the connection (the initiator may wait for Yb).
        responder.shutdown(Shutdown::Both).unwrap();
    }
    (result, initiator.join().unwrap(), responder)
}

#[test]
fn plaintext_is_selected_when_offered_and_the_rest_stays_plain() {
    let (result, initiator, mut responder) = respond_to(Script::honest(0x03));
    let (agreed, mut initiator) = (result.unwrap(), initiator.unwrap());
    assert_eq!(agreed.method, Method::Plaintext);
    assert!(agreed.ciphers.is_none());
    assert_eq!(
        agreed.initial_payload,
        bt_handshake(),
        "IA arrives decrypted"
    );
    assert_eq!(initiator.read_answer(), 0x01);

    // Nothing after IA was read: the plain stream carries on from there, both ways.
    initiator.socket.write_all(b"bitfield").unwrap();
    let mut got = [0u8; 8];
    responder.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"bitfield");
    responder.write_all(b"have").unwrap();
    let mut got = [0u8; 4];
    initiator.socket.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"have");
}

#[test]
fn rc4_is_selected_when_it_is_all_the_peer_offers_and_encrypts_what_follows() {
    let (result, initiator, responder) = respond_to(Script::honest(0x02));
    let (agreed, mut initiator) = (result.unwrap(), initiator.unwrap());
    assert_eq!(agreed.method, Method::Rc4);
    assert_eq!(initiator.read_answer(), 0x02);
    let mut ciphers = agreed.ciphers.expect("RC4 streams");

    // Initiator to responder: its keyA stream goes on after IA.
    let mut secret = *b"interested";
    initiator.send.apply(&mut secret);
    initiator.socket.write_all(&secret).unwrap();
    let mut reader = Decrypt::new(&responder, Some(ciphers.receive));
    let mut got = [0u8; 10];
    reader.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"interested");

    // Responder to initiator: the keyB stream goes on after PadD.
    let mut unchoke = *b"unchoke";
    ciphers.send.apply(&mut unchoke);
    (&responder).write_all(&unchoke).unwrap();
    let mut got = [0u8; 7];
    initiator.socket.read_exact(&mut got).unwrap();
    initiator.receive.apply(&mut got);
    assert_eq!(&got, b"unchoke");
}

#[test]
fn pads_and_an_empty_initial_payload_are_fine() {
    let mut script = Script::honest(0x01);
    script.pad_a = vec![0x55; MAX_PAD];
    script.pad_c = vec![0x66; MAX_PAD];
    script.ia = Vec::new();
    let (result, _, _) = respond_to(script);
    assert!(result.unwrap().initial_payload.is_empty());
}

/// Hostile and broken initiators: each is refused with its own error, never a panic.
#[test]
fn bad_handshakes_are_refused() {
    let honest = Script::honest(0x03);
    type Expected = fn(&MseError) -> bool;
    let cases: Vec<(&str, Script, Expected)> = vec![
        (
            "garbage after Ya",
            Script {
                rest: Some(vec![0x42; 700]),
                ..honest.clone()
            },
            |e| matches!(e, MseError::NoSync(_)),
        ),
        (
            "PadA longer than 512 bytes",
            Script {
                pad_a: vec![0; MAX_PAD + 1],
                ..honest.clone()
            },
            |e| matches!(e, MseError::NoSync(_)),
        ),
        (
            "another torrent",
            Script {
                skey: [8; 20],
                ..honest.clone()
            },
            |e| matches!(e, MseError::WrongTorrent),
        ),
        (
            "a weak public key",
            Script {
                ya: Some([0; KEY_LEN]),
                ..honest.clone()
            },
            |e| matches!(e, MseError::WeakKey),
        ),
        (
            "a wrong verification constant",
            Script {
                vc: [1; 8],
                ..honest.clone()
            },
            |e| matches!(e, MseError::BadVerification),
        ),
        (
            "PadC longer than 512 bytes",
            Script {
                pad_c: vec![0; MAX_PAD + 1],
                ..honest.clone()
            },
            |e| {
                matches!(
                    e,
                    MseError::PadTooLong {
                        pad: "PadC",
                        len: 513
                    }
                )
            },
        ),
        (
            "an initial payload longer than a handshake",
            Script {
                ia: vec![0; MAX_INITIAL_PAYLOAD + 1],
                ..honest.clone()
            },
            |e| matches!(e, MseError::PayloadTooLong(69)),
        ),
        (
            "no method we speak",
            Script {
                provide: 0x04,
                ..honest.clone()
            },
            |e| matches!(e, MseError::NoCommonMethod(0x04)),
        ),
    ];
    for (what, script, expected) in cases {
        let (result, _, _) = respond_to(script);
        match result {
            Err(e) => assert!(expected(&e), "{what}: wrong error: {e}"),
            Ok(_) => panic!("{what}: accepted"),
        }
    }
}

#[test]
fn an_initiator_that_hangs_up_is_an_io_error() {
    let (near, mut far) = socket_pair();
    let mut half_key = [0u8; 60];
    half_key[0] = 1;
    (&near).write_all(&half_key).unwrap();
    drop(near);
    let mut start = [0u8; 20];
    far.read_exact(&mut start).unwrap();
    let error = respond(&mut far, &start, &INFO_HASH).unwrap_err();
    assert!(matches!(error, MseError::Io(_)), "{error}");
}

/// Our initiator against our responder, for each offer.
#[test]
fn our_initiator_and_responder_agree() {
    for (offer, expected) in [
        (vec![Method::Plaintext, Method::Rc4], Method::Plaintext),
        (vec![Method::Rc4], Method::Rc4),
        (vec![Method::Plaintext], Method::Plaintext),
    ] {
        let (mut near, mut far) = socket_pair();
        let responder = thread::spawn(move || {
            let mut start = [0u8; 20];
            far.read_exact(&mut start).unwrap();
            let agreed = respond(&mut far, &start, &INFO_HASH).unwrap();
            (agreed, far)
        });
        let ours = initiate(&mut near, &INFO_HASH, &offer, &bt_handshake()).unwrap();
        let (theirs, far) = responder.join().unwrap();
        assert_eq!((ours.method, theirs.method), (expected, expected));
        assert_eq!(theirs.initial_payload, bt_handshake());
        if expected == Method::Rc4 {
            let mut mine = ours.ciphers.unwrap();
            let mut data = *b"piece";
            mine.send.apply(&mut data);
            near.write_all(&data).unwrap();
            let mut got = [0u8; 5];
            Decrypt::new(&far, Some(theirs.ciphers.unwrap().receive))
                .read_exact(&mut got)
                .unwrap();
            assert_eq!(&got, b"piece");
        }
    }
}

/// A hand-written responder that answers with `select`, whatever was offered.
fn respond_by_hand(mut socket: TcpStream, select: u32) {
    let mut ya = [0u8; KEY_LEN];
    socket.read_exact(&mut ya).unwrap();
    let ours = KeyPair::generate().unwrap();
    socket.write_all(&ours.public).unwrap();
    let s = ours.shared_secret(&ya).unwrap();
    let req1 = sha1(&[b"req1", &s]);
    let mut seen = Vec::new();
    while !seen.ends_with(&req1) {
        let mut byte = [0u8];
        socket.read_exact(&mut byte).unwrap();
        seen.push(byte[0]);
    }
    let mut receive = Rc4::for_mse(&sha1(&[b"keyA", &s, &INFO_HASH]));
    let mut send = Rc4::for_mse(&sha1(&[b"keyB", &s, &INFO_HASH]));
    let mut message = [0u8; 20 + 8 + 4 + 2 + 2];
    socket.read_exact(&mut message).unwrap();
    receive.apply(&mut message[20..]);
    let ia_len = u16::from_be_bytes([message[34], message[35]]) as usize;
    socket.read_exact(&mut vec![0u8; ia_len]).unwrap();
    let mut answer = [0u8; 14];
    answer[8..12].copy_from_slice(&select.to_be_bytes());
    send.apply(&mut answer);
    socket.write_all(&answer).unwrap();
}

#[test]
fn our_initiator_takes_only_a_method_it_offered() {
    for (offer, select, accepted) in [
        (Method::Rc4, 0x02, true),
        (Method::Rc4, 0x01, false),
        (Method::Plaintext, 0x03, false),
    ] {
        let (mut near, far) = socket_pair();
        let responder = thread::spawn(move || respond_by_hand(far, select));
        let result = initiate(&mut near, &INFO_HASH, &[offer], &bt_handshake());
        responder.join().unwrap();
        match result {
            Ok(agreed) => assert!(accepted && agreed.method == offer),
            Err(e) => assert!(
                !accepted && matches!(e, MseError::BadSelect(s) if s == select),
                "{e}"
            ),
        }
    }
}

/// `skip_to` finds a marker after a pad and leaves everything after it in the stream,
/// also when the pad ends with the start of the marker.
#[test]
fn skip_to_stops_right_after_the_marker() {
    let marker = b"abcab";
    for pad in [&b""[..], b"x", b"ab", b"abca", b"xabcaab"] {
        let stream = [pad, marker, b"rest"].concat();
        let mut reader = &stream[..];
        assert!(skip_to(&mut reader, marker).unwrap(), "pad {pad:?}");
        assert_eq!(reader, b"rest", "pad {pad:?}");
    }
    let long_pad = [vec![b'x'; MAX_PAD], marker.to_vec()].concat();
    assert!(
        skip_to(&mut &long_pad[..], marker).unwrap(),
        "512 bytes of pad"
    );
    let too_long = [vec![b'x'; MAX_PAD + 1], marker.to_vec()].concat();
    assert!(
        !skip_to(&mut &too_long[..], marker).unwrap(),
        "513 bytes of pad"
    );
}

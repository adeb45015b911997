//! BEP 15 packets byte for byte, one-byte-short inputs, round trips, and 100,000 random
//! and mutated packets through both parsers.

use super::*;
use crate::random::Rng;

fn announce() -> Announce {
    Announce {
        info_hash: [0x11; 20],
        peer_id: *b"-ST0100-abcdefghijkl",
        downloaded: 0x0102,
        left: 0x0304,
        uploaded: 0x0506,
        event: Event::Started,
        ip: 0,
        key: 0xdead_beef,
        numwant: -1,
        port: 6881,
    }
}

/// Concatenates labelled fields, so the expected bytes read like the spec's table.
fn bytes(fields: &[&[u8]]) -> Vec<u8> {
    fields.concat()
}

#[test]
fn connect_request_bytes() {
    let packet = Request::Connect {
        transaction_id: 0x0a0b_0c0d,
    }
    .encode();
    let expected = bytes(&[
        &[0, 0, 0x04, 0x17, 0x27, 0x10, 0x19, 0x80], // protocol id
        &[0, 0, 0, 0],                               // action: connect
        &[0x0a, 0x0b, 0x0c, 0x0d],                   // transaction id
    ]);
    assert_eq!(packet, expected);
    assert_eq!(
        Request::parse(&packet).unwrap(),
        Request::Connect {
            transaction_id: 0x0a0b_0c0d
        }
    );
}

#[test]
fn announce_request_bytes() {
    let request = Request::Announce {
        connection_id: 0x1122_3344_5566_7788,
        transaction_id: 7,
        announce: announce(),
    };
    let packet = request.encode();
    let expected = bytes(&[
        &[0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88], // connection id
        &[0, 0, 0, 1],                                     // action: announce
        &[0, 0, 0, 7],                                     // transaction id
        &[0x11; 20],                                       // info-hash
        b"-ST0100-abcdefghijkl",                           // peer id
        &[0, 0, 0, 0, 0, 0, 0x01, 0x02],                   // downloaded
        &[0, 0, 0, 0, 0, 0, 0x03, 0x04],                   // left
        &[0, 0, 0, 0, 0, 0, 0x05, 0x06],                   // uploaded
        &[0, 0, 0, 2],                                     // event: started
        &[0, 0, 0, 0],                                     // ip: the sender's
        &[0xde, 0xad, 0xbe, 0xef],                         // key
        &[0xff, 0xff, 0xff, 0xff],                         // num_want: -1
        &[0x1a, 0xe1],                                     // port 6881
    ]);
    assert_eq!(packet, expected);
    assert_eq!(packet.len(), ANNOUNCE_LEN);
    assert_eq!(Request::parse(&packet).unwrap(), request);
    // BEP 41 options after the fixed part are ignored.
    let mut with_options = packet.clone();
    with_options.extend_from_slice(&[2, 5, b'/', b'a', b'n', b'n', b'o']);
    assert_eq!(Request::parse(&with_options).unwrap(), request);
    assert_eq!(
        Request::parse(&packet[..ANNOUNCE_LEN - 1]),
        Err(PacketError::TooShort { len: 97, need: 98 })
    );
}

#[test]
fn events_have_the_specs_numbers() {
    for (event, code) in [
        (Event::None, 0u8),
        (Event::Completed, 1),
        (Event::Started, 2),
        (Event::Stopped, 3),
    ] {
        let packet = Request::Announce {
            connection_id: 1,
            transaction_id: 1,
            announce: Announce {
                event,
                ..announce()
            },
        }
        .encode();
        assert_eq!(packet[80..84], [0, 0, 0, code], "{event:?}");
    }
}

#[test]
fn scrape_request_bytes() {
    let request = Request::Scrape {
        connection_id: 9,
        transaction_id: 0x0102_0304,
        info_hashes: vec![[0xaa; 20], [0xbb; 20]],
    };
    let packet = request.encode();
    let expected = bytes(&[
        &[0, 0, 0, 0, 0, 0, 0, 9], // connection id
        &[0, 0, 0, 2],             // action: scrape
        &[1, 2, 3, 4],             // transaction id
        &[0xaa; 20],               // info-hash 1
        &[0xbb; 20],               // info-hash 2
    ]);
    assert_eq!(packet, expected);
    assert_eq!(Request::parse(&packet).unwrap(), request);
}

#[test]
fn bad_requests_are_errors() {
    assert_eq!(
        Request::parse(&[0; 15]),
        Err(PacketError::TooShort { len: 15, need: 16 })
    );
    // A connect without the magic number.
    assert_eq!(Request::parse(&[0; 16]), Err(PacketError::NotBep15));
    let mut error_action = [0u8; 16];
    error_action[11] = 3;
    assert_eq!(
        Request::parse(&error_action),
        Err(PacketError::UnknownAction(3))
    );
}

#[test]
fn connect_reply_bytes() {
    let reply = Reply::Connect {
        transaction_id: 5,
        connection_id: 0x0102_0304_0506_0708,
    };
    let packet = reply.encode();
    assert_eq!(
        packet,
        bytes(&[
            &[0, 0, 0, 0],             // action: connect
            &[0, 0, 0, 5],             // transaction id
            &[1, 2, 3, 4, 5, 6, 7, 8], // connection id
        ])
    );
    assert_eq!(Reply::parse(&packet, false).unwrap(), reply);
    assert_eq!(
        Reply::parse(&packet[..15], false),
        Err(PacketError::TooShort { len: 15, need: 16 })
    );
}

#[test]
fn announce_reply_bytes_v4_and_v6() {
    let v4 = Reply::Announce {
        transaction_id: 5,
        interval: 1800,
        leechers: 2,
        seeders: 3,
        peers: vec!["10.0.0.1:6881".parse().unwrap()],
    };
    let packet = v4.encode();
    assert_eq!(
        packet,
        bytes(&[
            &[0, 0, 0, 1],              // action: announce
            &[0, 0, 0, 5],              // transaction id
            &[0, 0, 0x07, 0x08],        // interval 1800
            &[0, 0, 0, 2],              // leechers
            &[0, 0, 0, 3],              // seeders
            &[10, 0, 0, 1, 0x1a, 0xe1], // peer
        ])
    );
    assert_eq!(Reply::parse(&packet, false).unwrap(), v4);

    let v6 = Reply::Announce {
        transaction_id: 5,
        interval: 60,
        leechers: 0,
        seeders: 1,
        peers: vec!["[2001:db8::1]:51413".parse().unwrap()],
    };
    let packet = v6.encode();
    assert_eq!(packet.len(), 20 + 18);
    assert_eq!(packet[20..22], [0x20, 0x01]);
    assert_eq!(Reply::parse(&packet, true).unwrap(), v6);
}

#[test]
fn announce_reply_keeps_whole_peers_and_skips_port_zero() {
    let mut packet = Reply::Announce {
        transaction_id: 1,
        interval: 60,
        leechers: 0,
        seeders: 0,
        peers: vec![],
    }
    .encode();
    packet.extend_from_slice(&[10, 0, 0, 1, 0, 0]); // port 0: skipped
    packet.extend_from_slice(&[10, 0, 0, 2, 0, 80]);
    packet.extend_from_slice(&[10, 0, 0]); // truncated: ignored
    match Reply::parse(&packet, false).unwrap() {
        Reply::Announce { peers, .. } => {
            assert_eq!(peers, vec!["10.0.0.2:80".parse().unwrap()]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        Reply::parse(&packet[..19], false),
        Err(PacketError::TooShort { len: 19, need: 20 })
    );
}

#[test]
fn scrape_and_error_replies() {
    let scrape = Reply::Scrape {
        transaction_id: 9,
        stats: vec![ScrapeStats {
            seeders: 1,
            completed: 2,
            leechers: 3,
        }],
    };
    let packet = scrape.encode();
    assert_eq!(
        packet,
        bytes(&[
            &[0, 0, 0, 2],
            &[0, 0, 0, 9],
            &[0, 0, 0, 1],
            &[0, 0, 0, 2],
            &[0, 0, 0, 3]
        ])
    );
    assert_eq!(Reply::parse(&packet, false).unwrap(), scrape);

    let error = Reply::Error {
        transaction_id: 9,
        message: "torrent not registered".into(),
    };
    let packet = error.encode();
    assert_eq!(&packet[..8], &[0, 0, 0, 3, 0, 0, 0, 9]);
    assert_eq!(&packet[8..], b"torrent not registered");
    assert_eq!(Reply::parse(&packet, false).unwrap(), error);
    assert_eq!(
        Reply::parse(&[0, 0, 0, 9, 0, 0, 0, 0], false),
        Err(PacketError::UnknownAction(9))
    );
    assert_eq!(
        Reply::parse(&[0, 0, 0], false),
        Err(PacketError::TooShort { len: 3, need: 8 })
    );
}

/// 100,000 random and mutated packets through both parsers: errors are fine, panics are not.
#[test]
fn random_packets_never_panic() {
    let mut rng = Rng::with_seed(15);
    let seeds: Vec<Vec<u8>> = vec![
        Request::Connect { transaction_id: 1 }.encode(),
        Request::Announce {
            connection_id: 1,
            transaction_id: 2,
            announce: announce(),
        }
        .encode(),
        Request::Scrape {
            connection_id: 1,
            transaction_id: 2,
            info_hashes: vec![[1; 20]; 3],
        }
        .encode(),
        Reply::Announce {
            transaction_id: 1,
            interval: 1,
            leechers: 1,
            seeders: 1,
            peers: vec!["1.2.3.4:5".parse().unwrap(); 4],
        }
        .encode(),
        Reply::Error {
            transaction_id: 1,
            message: "x".into(),
        }
        .encode(),
    ];
    let mut parsed = 0;
    for round in 0..100_000 {
        let mut packet = if round % 2 == 0 {
            // Mutate a valid packet: flip bytes, then maybe cut or extend it.
            let mut packet = seeds[rng.below(seeds.len())].clone();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(packet.len());
                packet[at] = rng.next_u64() as u8;
            }
            packet
        } else {
            let mut packet = vec![0u8; rng.below(120)];
            rng.fill(&mut packet);
            // Make the action field plausible half the time.
            if packet.len() >= 12 && rng.below(2) == 0 {
                packet[11] = rng.below(4) as u8;
                packet[3] = rng.below(4) as u8;
            }
            packet
        };
        match rng.below(3) {
            0 => packet.truncate(rng.below(packet.len() + 1)),
            1 => packet.extend(std::iter::repeat_n(0xff, rng.below(30))),
            _ => {}
        }
        parsed += usize::from(Request::parse(&packet).is_ok());
        parsed += usize::from(Reply::parse(&packet, rng.below(2) == 0).is_ok());
    }
    assert!(
        parsed > 10_000,
        "only {parsed} packets parsed: the mutations are too harsh"
    );
}

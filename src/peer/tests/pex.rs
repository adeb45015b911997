//! Peer exchange on one connection, against a scripted peer that speaks `ut_pex`: what it
//! tells us reaches the peer manager, what we tell it lists the torrent's other
//! connections, and neither happens for a private torrent.

use super::*;
use crate::extension::pex::{Flags, PexMessage};
use crate::extension::{self, UT_PEX};
use registry::Opened;

/// The number the scripted peer gives `ut_pex`.
const THEIR_UT_PEX: u8 = 5;

/// A seeding connection to a peer that speaks ut_pex; `remote` gets the socket after the
/// handshakes and the peer's extension handshake (with `p` = 7000).
fn pex_peer(local: Local, remote: impl FnOnce(TcpStream) + Send + 'static) -> Setup {
    connect_local(local, true, Arc::default(), move |mut socket| {
        Handshake::read_from(&mut socket).unwrap();
        let theirs = Handshake::new(INFO_HASH, THEIR_ID);
        socket.write_all(&theirs.to_bytes()).unwrap();
        let payload = format!("d1:md6:ut_pexi{THEIR_UT_PEX}ee1:pi7000ee").into_bytes();
        send(&mut socket, Message::Extended { id: 0, payload });
        remote(socket);
    })
}

/// A ut_pex message adding `count` loopback peers, sent with our number for ut_pex.
fn pex_of(count: u16) -> Message {
    let added = (0..count)
        .map(|n| {
            (
                SocketAddr::from(([127, 0, 1, 1], 1000 + n)),
                Flags::default(),
            )
        })
        .collect();
    PexMessage {
        added,
        dropped: Vec::new(),
    }
    .to_message(UT_PEX)
}

/// Our extension handshake, read from the socket.
fn our_extension_handshake(socket: &mut TcpStream) -> extension::Handshake {
    let seen = read_until(socket, |m| matches!(m, Message::Extended { id: 0, .. }));
    match seen.last() {
        Some(Message::Extended { id: 0, payload }) => {
            extension::Handshake::decode(payload).unwrap()
        }
        other => panic!("no extension handshake: {other:?}"),
    }
}

/// Holds the connection open (keep-alives inside the idle timeout) for `how_long`.
fn keep_alive(socket: &mut TcpStream, how_long: Duration) {
    let until = Instant::now() + how_long;
    while Instant::now() < until {
        send(socket, Message::KeepAlive);
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_peers_of_a_pex_message_go_to_the_peer_manager() {
    let setup = pex_peer(Local::default(), |mut socket| {
        assert_eq!(our_extension_handshake(&mut socket).ut_pex, Some(UT_PEX));
        send(&mut socket, pex_of(2));
        keep_alive(&mut socket, Duration::from_secs(2));
    });
    let found = setup.found.recv_timeout(Duration::from_secs(5)).unwrap();
    let expected: Vec<SocketAddr> = ["127.0.1.1:1000", "127.0.1.1:1001"]
        .map(|a| a.parse().unwrap())
        .to_vec();
    assert_eq!(found, expected);
}

/// The second message comes at once: read, and ignored (one a minute is honoured).
#[test]
fn a_second_pex_message_within_the_minute_is_ignored() {
    let setup = pex_peer(Local::default(), |mut socket| {
        send(&mut socket, pex_of(1));
        send(&mut socket, pex_of(3));
        keep_alive(&mut socket, Duration::from_secs(2));
    });
    let found = setup.found.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(found.len(), 1);
    assert!(setup.found.recv_timeout(Duration::from_secs(1)).is_err());
}

#[test]
fn a_pex_message_of_too_many_peers_gets_the_peer_dropped() {
    let setup = pex_peer(Local::default(), |mut socket| {
        send(&mut socket, pex_of(101));
        drain(socket);
    });
    let exit = exit_of(&setup);
    assert_eq!(
        exit.error.to_string(),
        "protocol violation: sent a PEX message of 101 peers (limit 100)"
    );
    assert!(setup.found.try_recv().is_err(), "nothing passed on");
}

#[test]
fn a_flood_of_pex_messages_gets_the_peer_dropped() {
    let setup = pex_peer(Local::default(), |mut socket| {
        for _ in 0..4 {
            send(&mut socket, pex_of(1));
        }
        drain(socket);
    });
    let exit = exit_of(&setup);
    assert_eq!(
        exit.error.to_string(),
        "protocol violation: sent 4 PEX messages within 60 s (limit 3)"
    );
}

#[test]
fn a_malformed_pex_message_gets_the_peer_dropped() {
    let setup = pex_peer(Local::default(), |mut socket| {
        let payload = b"d5:added7:1234567e".to_vec();
        send(
            &mut socket,
            Message::Extended {
                id: UT_PEX,
                payload,
            },
        );
        drain(socket);
    });
    let exit = exit_of(&setup);
    assert_eq!(
        exit.error.to_string(),
        "protocol violation: sent a malformed ut_pex message: 'added' is 7 bytes, not a \
         multiple of 6"
    );
}

#[test]
fn a_private_torrent_offers_no_pex_and_ignores_what_comes() {
    let local = Local {
        private: true,
        ..Local::default()
    };
    let setup = pex_peer(local, |mut socket| {
        assert_eq!(our_extension_handshake(&mut socket).ut_pex, None);
        for _ in 0..5 {
            send(&mut socket, pex_of(200));
        }
        keep_alive(&mut socket, Duration::from_secs(2));
    });
    assert!(setup.found.recv_timeout(Duration::from_secs(2)).is_err());
    assert!(setup.exits.try_recv().is_err(), "still connected");
}

/// Our first message, a few seconds in, lists the torrent's other connection (which we
/// dialled: reachable), not the peer itself.
#[test]
fn our_pex_message_lists_the_other_connections() {
    let (got_tx, got) = unbounded();
    let setup = pex_peer(Local::default(), move |mut socket| {
        let mut writer = socket.try_clone().unwrap();
        let alive = std::thread::spawn(move || keep_alive(&mut writer, Duration::from_secs(8)));
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut reader = MessageReader::new(1 << 20);
        while let Ok(Some(message)) = reader.read_from(&mut socket) {
            if let Message::Extended { id, payload } = message
                && id == THEIR_UT_PEX
            {
                let _ = got_tx.send(PexMessage::decode(&payload).unwrap());
                break;
            }
        }
        alive.join().unwrap();
    });
    let other: SocketAddr = "127.0.0.9:6881".parse().unwrap();
    let _other = setup
        .registry
        .register([9; 20], 2, other, Opened::ByUs, &Arc::default())
        .unwrap();
    let message = got.recv_timeout(Duration::from_secs(9)).unwrap();
    assert_eq!(message.added, [(other, Flags::REACHABLE)]);
    assert!(message.dropped.is_empty());
}

use super::*;

fn id(byte: u8) -> Id {
    Id([byte; 20])
}

#[test]
fn a_ping_has_its_exact_bytes_and_reads_back() {
    let ping = Message {
        transaction: b"aa".to_vec(),
        body: Body::Query(Query::Ping {
            id: Id(*b"abcdefghij0123456789"),
        }),
    };
    let bytes = ping.encode();
    // BEP 5's example, with our version `v`.
    assert_eq!(
        bytes,
        b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:v4:ST011:y1:qe".to_vec()
    );
    assert_eq!(Message::decode(&bytes), Ok(ping));
}

#[test]
fn every_query_and_response_round_trips() {
    let peer = SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 2), 6881);
    let bodies = [
        Body::Query(Query::FindNode {
            id: id(1),
            target: id(2),
        }),
        Body::Query(Query::GetPeers {
            id: id(1),
            info_hash: id(3),
        }),
        Body::Query(Query::AnnouncePeer {
            id: id(1),
            info_hash: id(3),
            port: 6881,
            implied_port: true,
            token: b"tok".to_vec(),
        }),
        Body::Response(Response {
            id: Some(id(4)),
            nodes: vec![(id(5), peer), (id(6), peer)],
            values: vec![peer],
            token: Some(b"xy".to_vec()),
        }),
        Body::Error {
            code: error::PROTOCOL,
            text: "bad token".into(),
        },
    ];
    for body in bodies {
        let message = Message {
            transaction: vec![0, 7],
            body,
        };
        assert_eq!(Message::decode(&message.encode()), Ok(message));
    }
}

#[test]
fn a_get_peers_answer_from_bep_5_is_read() {
    let bytes = b"d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re";
    let message = Message::decode(bytes).unwrap();
    let Body::Response(response) = message.body else {
        panic!("{message:?}");
    };
    assert_eq!(response.token.as_deref(), Some(&b"aoeusnth"[..]));
    assert_eq!(response.values.len(), 2);
    assert_eq!(
        response.values[0].ip(),
        &Ipv4Addr::new(b'a', b'x', b'j', b'e')
    );
}

#[test]
fn an_unknown_method_is_a_query_we_can_refuse() {
    let bytes = b"d1:ad2:id20:abcdefghij0123456789e1:q6:vote_x1:t1:z1:y1:qe";
    let message = Message::decode(bytes).unwrap();
    assert!(
        matches!(message.body, Body::Query(Query::Unknown { ref method, .. }) if method == "vote_x")
    );
}

#[test]
fn malformed_datagrams_say_why_and_keep_the_transaction_when_they_can() {
    /// A datagram, the transaction id the error keeps, and why it is malformed.
    type Case = (&'static [u8], Option<&'static [u8]>, &'static str);
    let cases: [Case; 8] = [
        (b"d1:t2:aa1:y1:q", None, "not bencode"),
        (b"li1ee", None, "not a dictionary"),
        (b"d1:y1:qe", None, "no transaction id"),
        (b"d1:t2:aa1:y1:xe", Some(b"aa"), "no message type"),
        (b"d1:ad2:id3:abce1:q4:ping1:t2:aa1:y1:qe", Some(b"aa"), "a query without a valid node id"),
        (b"d1:rd5:nodes5:abcdee1:t2:aa1:y1:re", Some(b"aa"), "'nodes' is not a whole number of 26-byte entries"),
        (b"d1:rd6:valuesi1ee1:t2:aa1:y1:re", Some(b"aa"), "'values' is not a list"),
        (b"d1:ad2:id20:abcdefghij01234567899:info_hash20:abcdefghij0123456789e1:q13:announce_peer1:t2:aa1:y1:qe", Some(b"aa"), "announce_peer without a token"),
    ];
    for (bytes, transaction, why) in cases {
        let error = Message::decode(bytes).unwrap_err();
        assert_eq!(error.why, why, "{bytes:?}");
        assert_eq!(error.transaction.as_deref(), transaction, "{bytes:?}");
    }
}

#[test]
fn a_64_kib_datagram_is_refused_unread() {
    let mut bytes = b"d1:t2:aa1:y1:r1:rd2:id20:abcdefghij01234567895:nodes".to_vec();
    bytes.extend(std::iter::repeat_n(b'x', 65_536));
    assert_eq!(
        Message::decode(&bytes).unwrap_err().why,
        "datagram too large"
    );
}

#[test]
fn compact_entries_with_port_0_are_skipped() {
    assert_eq!(peer(&[127, 0, 0, 1, 0, 0]), None);
    assert_eq!(
        peer(&[127, 0, 0, 1, 0x1a, 0xe1]),
        Some("127.0.0.1:6881".parse().unwrap())
    );
    assert_eq!(peer(&[1, 2, 3]), None);
}

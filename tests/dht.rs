//! Acceptance tests for the DHT node (BEP 5), over real UDP sockets on loopback.
//!
//! `smalltorrent dht --bind 127.0.0.2:0` runs a node alone. The tests talk KRPC to it from
//! a plain UDP socket (the queries are written out byte for byte, as a client would send
//! them), and let a real libtorrent node bootstrap from it and announce a torrent to it.

mod support;

use std::net::{SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};
use support::dht::*;
use support::*;

const INFO_HASH: &[u8; 20] = b"IIIIIIIIIIIIIIIIIIII";

/// Every query gets its answer with the same transaction id; a peer announced with the
/// token from `get_peers` is then handed out by `get_peers`; a wrong token is error 203;
/// an unknown method error 204; a malformed query error 203.
#[test]
fn the_node_answers_every_query_as_bep_5_says() {
    let (_node, addr) = dht_node(ip(2));
    let client = KrpcClient::on(ip(3));
    let ping = client
        .ask(addr, &krpc_query("ping", b"p1", b""))
        .expect("a pong");
    let text = String::from_utf8_lossy(&ping);
    assert!(
        contains(&ping, b"1:t2:p1") && contains(&ping, b"1:y1:r"),
        "{text}"
    );

    let find = client.ask(
        addr,
        &krpc_query("find_node", b"f1", b"6:target20:TTTTTTTTTTTTTTTTTTTT"),
    );
    assert!(contains(&find.unwrap(), b"1:t2:f1"));

    let mut args = b"9:info_hash20:".to_vec();
    args.extend_from_slice(INFO_HASH);
    let peers = client
        .ask(addr, &krpc_query("get_peers", b"g1", &args))
        .unwrap();
    assert!(!contains(&peers, b"6:values"), "nobody announced yet");
    let token = token_of(&peers);

    let mut announce = args.clone();
    announce.extend_from_slice(b"4:porti7777e5:token8:");
    announce.extend_from_slice(&token);
    let ok = client
        .ask(addr, &krpc_query("announce_peer", b"a1", &announce))
        .unwrap();
    assert!(contains(&ok, b"1:y1:r"), "{}", String::from_utf8_lossy(&ok));

    let peers = client
        .ask(addr, &krpc_query("get_peers", b"g2", &args))
        .unwrap();
    // 127.0.0.3:7777, compact.
    assert!(
        contains(&peers, &[b'6', b':', 127, 0, 0, 3, 0x1e, 0x61]),
        "{peers:?}"
    );

    let mut forged = args.clone();
    forged.extend_from_slice(b"4:porti7777e5:token8:XXXXXXXX");
    let refused = client
        .ask(addr, &krpc_query("announce_peer", b"a2", &forged))
        .unwrap();
    assert!(
        contains(&refused, b"1:eli203e9:bad tokene"),
        "{}",
        String::from_utf8_lossy(&refused)
    );

    let unknown = client.ask(addr, &krpc_query("vote", b"u1", b"")).unwrap();
    assert!(
        contains(&unknown, b"1:eli204e"),
        "{}",
        String::from_utf8_lossy(&unknown)
    );

    let malformed = client
        .ask(addr, b"d1:ad2:id3:abce1:q4:ping1:t2:m11:y1:qe")
        .unwrap();
    assert!(
        contains(&malformed, b"1:eli203e"),
        "{}",
        String::from_utf8_lossy(&malformed)
    );
    assert!(
        client.ask(addr, b"garbage").is_none(),
        "no answer to what is no message"
    );
}

/// One address that floods the node is answered up to the limit (50 in 10 s), then
/// ignored; another address is still answered.
#[test]
fn a_flood_from_one_address_is_cut_off_and_others_are_still_answered() {
    let (_node, addr) = dht_node(ip(2));
    let flooder = KrpcClient::on(ip(4));
    // 80 pings at once (well within the 10 s window), then every answer that comes.
    for _ in 0..80 {
        flooder
            .0
            .send_to(&krpc_query("ping", b"ff", b""), addr)
            .unwrap();
    }
    flooder
        .0
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let mut answered = 0;
    while let Ok((len, _)) = flooder.0.recv_from(&mut buf) {
        // Only our pings' answers: the node may query us too.
        answered += usize::from(contains(&buf[..len], b"1:t2:ff"));
    }
    assert_eq!(answered, 50, "answered up to the limit, then ignored");
    let other = KrpcClient::on(ip(5));
    assert!(other.ask(addr, &krpc_query("ping", b"ok", b"")).is_some());
}

/// A real libtorrent node bootstraps from ours and announces a torrent it wants (a magnet
/// link): our node then hands out libtorrent's address for that info-hash.
#[test]
fn libtorrent_bootstraps_from_our_node_and_announces_to_it() {
    let (_node, addr) = dht_node(ip(2));
    let hex: String = INFO_HASH.iter().map(|b| format!("{b:02x}")).collect();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(PYTHON);
    cmd.arg(seeders::script("lt_dht_node.py"))
        .args(["--ip", "127.0.0.6", "--bootstrap", &addr.to_string()])
        .args(["--magnet", &format!("magnet:?xt=urn:btih:{hex}")])
        .arg(dir.path());
    let mut libtorrent = Proc::spawn("libtorrent dht node", cmd);
    libtorrent.wait_for_stdout("LISTENING", READY_TIMEOUT);
    let client = KrpcClient::on(ip(3));
    let mut args = b"9:info_hash20:".to_vec();
    args.extend_from_slice(INFO_HASH);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = client
            .ask(addr, &krpc_query("get_peers", b"g1", &args))
            .unwrap();
        if contains(&answer, &[b'6', b':', 127, 0, 0, 6]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "libtorrent never announced to our node\n{}",
            libtorrent.report()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// No tracker anywhere: a libtorrent seeder announces in the DHT through a
/// `smalltorrent dht` node, and smalltorrent, bootstrapped from that node, finds it and
/// downloads a magnet link that holds only the info-hash.
#[test]
fn smalltorrent_finds_a_libtorrent_seeder_through_the_dht() {
    let published = Published::multi_file();
    let (_node, addr) = dht_node(ip(2));
    let torrent = published.torrent.to_str().unwrap();
    let _seeder = libtorrent_dht("127.0.0.6", addr, &["--seed", torrent], &published.data_dir);
    download_through_dht(&published, "127.0.0.3", &[addr], Duration::from_secs(120));
}

/// A libtorrent node on `ip`, bootstrapped from `bootstrap`, downloads `published` from an
/// `xt`-only magnet link; the payload must arrive byte-identical within `timeout`.
fn libtorrent_downloads(
    published: &Published,
    ip: &str,
    bootstrap: SocketAddrV4,
    timeout: Duration,
) {
    let link = format!("magnet:?xt=urn:btih:{}", info_hash_hex(&published.torrent));
    let out = published.dir.path().join("out");
    let mut leecher = libtorrent_dht(ip, bootstrap, &["--magnet", &link], &out);
    leecher.wait_for_stdout("DONE", timeout);
    assert_same_tree(
        &published.payload,
        &out.join(published.payload.file_name().unwrap()),
    );
}

/// No tracker anywhere: smalltorrent seeds with only its DHT node, and a libtorrent leecher
/// bootstrapped from the seeder's own port finds it there and downloads an `xt`-only
/// magnet link.
#[test]
fn libtorrent_finds_a_smalltorrent_seeder_through_its_dht_node() {
    let published = Published::multi_file();
    // The seeder's DHT has no one to bootstrap from: a closed loopback port stands for none.
    let nowhere = SocketAddrV4::new(ip(9), free_port());
    let (_seeder, port) =
        smalltorrent_dht_seeder(&published.torrent, &published.data_dir, ip(2), &[nowhere]);
    // The DHT listens on UDP at the same port number as the TCP listener.
    let dht = SocketAddrV4::new(ip(2), port);
    libtorrent_downloads(&published, "127.0.0.6", dht, Duration::from_secs(90));
}

/// The chain of three `smalltorrent dht` nodes again, the other way round: a smalltorrent
/// seeder that knows only the first node, and a libtorrent leecher that knows only the
/// third. The chain must carry the announce from one end to the other; the leecher then
/// fetches the metadata from the seeder and downloads.
#[test]
fn a_libtorrent_lookup_entered_at_the_third_node_finds_a_smalltorrent_seeder_at_the_first() {
    let published = Published::single_file(3 << 20, 16);
    let (_first, first) = dht_node(ip(2));
    let (_second, second) = dht_node_from(ip(3), &[first]);
    let (_third, third) = dht_node_from(ip(4), &[second]);
    let (_seeder, _) =
        smalltorrent_dht_seeder(&published.torrent, &published.data_dir, ip(5), &[first]);
    libtorrent_downloads(&published, "127.0.0.6", third, Duration::from_secs(120));
}

/// Waits up to `wait` for datagrams on `socket`; true if one holds `needle`.
fn heard(socket: &UdpSocket, needle: &[u8], wait: Duration) -> bool {
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        if let Ok((len, _)) = socket.recv_from(&mut buf)
            && contains(&buf[..len], needle)
        {
            return true;
        }
    }
    false
}

/// A private torrent (BEP 27) never produces a DHT query for its info-hash: a recording
/// socket as the only bootstrap node hears nothing about it, while the same torrent made
/// public is looked up there at once (so the recorder would hear it).
#[test]
fn a_private_torrent_never_asks_the_dht() {
    let dir = tempfile::tempdir().unwrap();
    let data = make_file(dir.path(), "payload.bin", 1 << 20, 7);
    for private in [true, false] {
        let torrent = dir.path().join(format!("private-{private}.torrent"));
        let mut create = vec![
            "create".into(),
            data.clone().into_os_string(),
            "-o".into(),
            torrent.clone().into_os_string(),
            "-t".into(),
            "http://127.0.0.1:1/announce".into(),
        ];
        if private {
            create.push("--private".into());
        }
        let made = run_smalltorrent(create, Duration::from_secs(30));
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        let recorder = UdpSocket::bind((ip(9), 0)).unwrap();
        let bootstrap = recorder.local_addr().unwrap().to_string();
        let out = dir.path().join(format!("out-{private}"));
        let mut leecher = spawn_smalltorrent([
            torrent.as_os_str(),
            "-d".as_ref(),
            out.as_os_str(),
            "--bind".as_ref(),
            "127.0.0.3".as_ref(),
            "--port".as_ref(),
            "0".as_ref(),
            "--dht-bootstrap".as_ref(),
            bootstrap.as_ref(),
        ]);
        let asked = heard(&recorder, &info_hash(&torrent), Duration::from_secs(5));
        leecher.kill();
        assert_eq!(
            asked, !private,
            "private = {private}: asked the DHT = {asked}"
        );
    }
}

/// A small DHT: three `smalltorrent dht` nodes in a chain (the second joins through the
/// first, the third through the second) and a libtorrent seeder that announces through the
/// first. A download that knows only the third node finds the seeder.
#[test]
fn a_lookup_entered_at_the_third_node_finds_a_seeder_announced_at_the_first() {
    let published = Published::single_file(3 << 20, 16);
    let (_first, first) = dht_node(ip(2));
    let (_second, second) = dht_node_from(ip(3), &[first]);
    let (_third, third) = dht_node_from(ip(4), &[second]);
    let torrent = published.torrent.to_str().unwrap();
    let _seeder = libtorrent_dht(
        "127.0.0.6",
        first,
        &["--seed", torrent],
        &published.data_dir,
    );
    download_through_dht(&published, "127.0.0.7", &[third], Duration::from_secs(150));
}

/// A lying DHT node on `ip`: it answers every query with 8 made-up nodes (on loopback
/// ports nobody listens on) and, to `get_peers`, garbage peers. Returns its address and the
/// number of queries it received so far.
fn liar(ip: std::net::Ipv4Addr) -> (SocketAddrV4, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use ::smalltorrent::dht::id::Id;
    use ::smalltorrent::dht::krpc::{Body, Message, Response};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let socket = UdpSocket::bind((ip, 0)).unwrap();
    let addr = match socket.local_addr().unwrap() {
        std::net::SocketAddr::V4(addr) => addr,
        other => panic!("{other}"),
    };
    let queries = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = queries.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut n: u32 = 0;
        while let Ok((len, from)) = socket.recv_from(&mut buf) {
            let Ok(message) = Message::decode(&buf[..len]) else {
                continue;
            };
            counted.fetch_add(1, Ordering::Relaxed);
            let fake = (0..8)
                .map(|_| {
                    n += 1;
                    let mut id = [0u8; 20];
                    id[..4].copy_from_slice(&n.to_be_bytes());
                    let fake_ip = std::net::Ipv4Addr::new(127, 0, 1, (n % 250) as u8 + 1);
                    (Id(id), SocketAddrV4::new(fake_ip, 9))
                })
                .collect();
            let reply = Message {
                transaction: message.transaction,
                body: Body::Response(Response {
                    id: Some(Id([0xee; 20])),
                    nodes: fake,
                    values: vec![SocketAddrV4::new(
                        std::net::Ipv4Addr::new(127, 0, 1, 250),
                        9,
                    )],
                    token: Some(b"lies".to_vec()),
                }),
            };
            let _ = socket.send_to(&reply.encode(), from);
        }
    });
    (addr, queries)
}

/// A node that answers every query with 8 far-away made-up nodes cannot keep a lookup
/// going or stop the download: it completes from the seeder the honest node knows, and
/// the liar was asked a bounded number of times.
#[test]
fn a_node_that_answers_with_fake_nodes_does_not_stop_the_download() {
    let published = Published::single_file(2 << 20, 16);
    let (_honest, honest) = dht_node(ip(2));
    let (liar, asked) = liar(ip(5));
    let torrent = published.torrent.to_str().unwrap();
    let _seeder = libtorrent_dht(
        "127.0.0.6",
        honest,
        &["--seed", torrent],
        &published.data_dir,
    );
    download_through_dht(
        &published,
        "127.0.0.3",
        &[liar, honest],
        Duration::from_secs(150),
    );
    let asked = asked.load(std::sync::atomic::Ordering::Relaxed);
    assert!(asked <= 100, "the liar was asked {asked} times");
}

/// A .torrent whose only tracker is dead is not given up on while the DHT runs: smalltorrent
/// finds a libtorrent seeder through a `smalltorrent dht` node and downloads. (With
/// `--no-dht`, the same run ends at once with "no tracker answered", as tests/cli.rs
/// checks.)
#[test]
fn a_torrent_with_a_dead_tracker_downloads_through_the_dht() {
    let published = Published::single_file(2 << 20, 16);
    let dead = format!("http://127.0.0.1:{}/announce", free_port());
    let torrent = published.dir.path().join("dead-tracker.torrent");
    make_torrent(&published.payload, &dead, 16, &torrent);
    let (_node, addr) = dht_node(ip(2));
    let seed = torrent.to_str().unwrap();
    let _seeder = libtorrent_dht("127.0.0.6", addr, &["--seed", seed], &published.data_dir);
    let out = published.dir.path().join("out");
    let output = run_smalltorrent(
        [
            torrent.as_os_str(),
            "-d".as_ref(),
            out.as_os_str(),
            "-q".as_ref(),
            "--bind".as_ref(),
            "127.0.0.3".as_ref(),
            "--port".as_ref(),
            "0".as_ref(),
            "--dht-bootstrap".as_ref(),
            addr.to_string().as_ref(),
        ],
        Duration::from_secs(120),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "smalltorrent failed:\n{stderr}");
    assert_same_tree(
        &published.payload,
        &out.join(published.payload.file_name().unwrap()),
    );
}

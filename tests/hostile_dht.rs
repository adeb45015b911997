//! Hostile tests for the DHT (BEP 5): a `smalltorrent dht` node flooded, lied to and fed
//! garbage over real UDP sockets on loopback, and downloads that must still complete from
//! the honest nodes.
//!
//! In each case the node must not panic (it still answers a ping at the end), its memory
//! must stay bounded (its `VmRSS` / `VmHWM` from `/proc/PID/status`, measured before and
//! after, against a bound a leak of the flood's size would break), and the limits of
//! SECURITY.md must hold as numbers seen from outside: the queries answered, the announces
//! stored, the queries a lying node's made-up nodes receive. The hostile packets are
//! written out byte for byte.

mod support;

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::dht::*;
use support::*;

/// A line `Vm...:   N kB` of `/proc/PID/status`, in KiB.
fn vm_kib(proc: &Proc, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", proc.pid())).unwrap();
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim()
                .strip_suffix(" kB")?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no {field} in /proc/{}/status", proc.pid()))
}

fn rss_kib(proc: &Proc) -> u64 {
    vm_kib(proc, "VmRSS:")
}

/// True if the node at `addr` still answers a ping from a fresh address `from`.
fn answers_ping(addr: SocketAddrV4, from: Ipv4Addr) -> bool {
    let client = KrpcClient::on(from);
    client
        .ask(addr, &krpc_query("ping", b"pp", b""))
        .is_some_and(|a| contains(&a, b"1:t2:pp") && contains(&a, b"1:y1:r"))
}

/// Sends `queries` from `socket` to `node` and reads the answers until none comes for
/// 300 ms (the node may query us too: those are not counted).
fn burst(socket: &UdpSocket, node: SocketAddrV4, queries: &[Vec<u8>]) -> Vec<Vec<u8>> {
    for query in queries {
        socket.send_to(query, node).unwrap();
    }
    socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut answers = Vec::new();
    let mut buf = [0u8; 4096];
    while answers.len() < queries.len() {
        let Ok((len, _)) = socket.recv_from(&mut buf) else {
            break;
        };
        if !contains(&buf[..len], b"1:y1:q") {
            answers.push(buf[..len].to_vec());
        }
    }
    answers
}

/// `127.0.A.B` for source number `n` (`first_a` onwards): many distinct query sources.
fn source(first_a: u8, n: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, first_a + (n / 250) as u8, 0, (n % 250) as u8 + 1)
}

/// `get_peers` arguments for `info_hash`.
fn get_peers_args(info_hash: &[u8; 20]) -> Vec<u8> {
    let mut args = b"9:info_hash20:".to_vec();
    args.extend_from_slice(info_hash);
    args
}

/// `announce_peer` arguments: `info_hash` on `port` with `token`.
fn announce_args(info_hash: &[u8; 20], port: u16, token: &[u8]) -> Vec<u8> {
    let mut args = get_peers_args(info_hash);
    args.extend_from_slice(format!("4:porti{port}e5:token{}:", token.len()).as_bytes());
    args.extend_from_slice(token);
    args
}

/// The compact peers of the `values` list in an answer.
fn values_in(answer: &[u8]) -> Vec<[u8; 6]> {
    let Some(at) = answer.windows(9).position(|w| w == b"6:valuesl") else {
        return Vec::new();
    };
    answer[at + 9..]
        .chunks_exact(8)
        .take_while(|entry| entry.starts_with(b"6:"))
        .map(|entry| entry[2..].try_into().unwrap())
        .collect()
}

/// The compact peer `ip:port` as it appears in a `values` list: `6:` and 6 bytes.
fn compact_value(ip: Ipv4Addr, port: u16) -> Vec<u8> {
    let mut out = b"6:".to_vec();
    out.extend_from_slice(&ip.octets());
    out.extend_from_slice(&port.to_be_bytes());
    out
}

/// The token the node gives `client`'s address.
fn token_for(client: &KrpcClient, node: SocketAddrV4) -> Vec<u8> {
    let answer = client
        .ask(
            node,
            &krpc_query("get_peers", b"tk", &get_peers_args(&[0x55; 20])),
        )
        .expect("an answer to get_peers");
    token_of(&answer)
}

/// One address floods the node with 20,000 queries of every kind (each burst followed by
/// a ping from another address, so the node has read the burst before the next one): the
/// first 50 are answered, none after; another address is still answered; the node's
/// resident memory grows by less than 2 MiB over the flood (20,000 queries that each left
/// 128 bytes behind would break it).
#[test]
fn a_flood_from_one_address_is_answered_up_to_the_limit_and_memory_stays_flat() {
    let (node, addr) = dht_node(ip(2));
    assert!(answers_ping(addr, ip(3)));
    let before = rss_kib(&node);
    let flooder = UdpSocket::bind((ip(4), 0)).unwrap();
    let kinds: [Vec<u8>; 5] = [
        krpc_query("ping", b"ff", b""),
        krpc_query("find_node", b"ff", b"6:target20:TTTTTTTTTTTTTTTTTTTT"),
        krpc_query("get_peers", b"ff", &get_peers_args(&[7; 20])),
        krpc_query(
            "announce_peer",
            b"ff",
            &announce_args(&[7; 20], 7777, b"XXXXXXXX"),
        ),
        b"d1:ad2:id3:abce1:q4:ping1:t2:ff1:y1:qe".to_vec(),
    ];
    // The first 50 one by one: all answered.
    let mut answered = 0;
    for n in 0..50 {
        answered += burst(&flooder, addr, &kinds[n % 5..n % 5 + 1]).len();
    }
    assert_eq!(answered, 50, "the first 50 queries are answered");
    flooder.set_nonblocking(true).unwrap();
    let mut sent = 50;
    let mut late = 0;
    let mut buf = [0u8; 4096];
    for round in 0..200 {
        for n in 0..100 {
            flooder.send_to(&kinds[n % 5], addr).unwrap();
        }
        sent += 100;
        // A sync point: once another address is answered, the burst has been read.
        assert!(
            answers_ping(addr, Ipv4Addr::new(127, 0, 1, round + 1)),
            "another address is answered during the flood"
        );
        while let Ok((len, _)) = flooder.recv_from(&mut buf) {
            late += usize::from(contains(&buf[..len], b"1:t2:ff"));
        }
    }
    assert_eq!(
        late, 0,
        "none of the {sent} queries after the 50th is answered"
    );
    let after = rss_kib(&node);
    eprintln!("flood of {sent} queries: VmRSS {before} -> {after} KiB");
    assert!(
        after < before + 2048,
        "VmRSS grew from {before} to {after} KiB over {sent} ignored queries"
    );
    assert!(answers_ping(addr, ip(5)));
}

/// `announce_peer` with a token the node never gave that address (a made-up one, one it
/// gave another address, an empty one, one of the wrong type) is refused with error 203,
/// and `get_peers` then lists no peer; the same announce with the right token is stored
/// (so the test can see a stored peer).
#[test]
fn an_announce_with_a_wrong_token_is_refused_and_not_stored() {
    let (_node, addr) = dht_node(ip(2));
    let info_hash = *b"wrong-token-torrent!";
    let announcer = KrpcClient::on(ip(3));
    let other = KrpcClient::on(ip(4));
    let others_token = token_for(&other, addr);
    let own_token = token_for(&announcer, addr);
    assert_ne!(own_token, others_token, "tokens depend on the address");
    let mut tokens: Vec<Vec<u8>> = vec![b"XXXXXXXX".to_vec(), others_token, Vec::new()];
    // A token of another length, and the right one with a byte changed.
    tokens.push(own_token[..7].to_vec());
    let mut flipped = own_token.clone();
    flipped[0] ^= 1;
    tokens.push(flipped);
    for (n, token) in tokens.iter().enumerate() {
        let answer = announcer
            .ask(
                addr,
                &krpc_query(
                    "announce_peer",
                    b"aa",
                    &announce_args(&info_hash, 7000, token),
                ),
            )
            .expect("an answer to announce_peer");
        assert!(
            contains(&answer, b"1:eli203e"),
            "token {n} ({token:?}): {}",
            String::from_utf8_lossy(&answer)
        );
    }
    // A token that is an integer: the query is malformed, error 203 too.
    let mut args = get_peers_args(&info_hash);
    args.extend_from_slice(b"4:porti7000e5:tokeni12345678e");
    let answer = announcer
        .ask(addr, &krpc_query("announce_peer", b"ai", &args))
        .unwrap();
    assert!(contains(&answer, b"1:eli203e"), "{answer:?}");

    let peers = announcer
        .ask(
            addr,
            &krpc_query("get_peers", b"g1", &get_peers_args(&info_hash)),
        )
        .unwrap();
    assert!(
        !contains(&peers, b"6:values"),
        "a refused announce was stored: {}",
        String::from_utf8_lossy(&peers)
    );

    let answer = announcer
        .ask(
            addr,
            &krpc_query(
                "announce_peer",
                b"ok",
                &announce_args(&info_hash, 7000, &own_token),
            ),
        )
        .unwrap();
    assert!(contains(&answer, b"1:y1:r"), "{answer:?}");
    let peers = announcer
        .ask(
            addr,
            &krpc_query("get_peers", b"g2", &get_peers_args(&info_hash)),
        )
        .unwrap();
    assert!(contains(&peers, &compact_value(ip(3), 7000)), "{peers:?}");
    assert_eq!(
        values_in(&peers).len(),
        1,
        "only the announce with the right token: {peers:?}"
    );
}

/// The fake info-hash number `n`.
fn fake_hash(n: usize) -> [u8; 20] {
    let mut hash = [b'F'; 20];
    hash[..8].copy_from_slice(&(n as u64).to_be_bytes());
    hash
}

/// From `sources` addresses (127.`first_a`.0.1 on), each with its own valid token, 49
/// announces each (within the per-address limit of 50 queries, one of them the
/// `get_peers` for the token): source `s` announces `hash(s, j)` on `port(s)`. Returns
/// how many were stored, and how many refused as too many torrents (error 202).
fn announce_from_many(
    node: SocketAddrV4,
    first_a: u8,
    sources: usize,
    hash: impl Fn(usize, usize) -> [u8; 20],
    port: impl Fn(usize) -> u16,
) -> (usize, usize) {
    let (mut stored, mut full) = (0, 0);
    for s in 0..sources {
        let client = KrpcClient::on(source(first_a, s));
        let token = token_for(&client, node);
        let queries: Vec<Vec<u8>> = (0..49)
            .map(|j| {
                krpc_query(
                    "announce_peer",
                    b"an",
                    &announce_args(&hash(s, j), port(s), &token),
                )
            })
            .collect();
        for answer in burst(&client.0, node, &queries) {
            stored += usize::from(contains(&answer, b"1:y1:r"));
            full += usize::from(contains(&answer, b"1:eli202e"));
        }
    }
    (stored, full)
}

/// Sources per round of announces to stored info-hashes: 4,080 × 49 fill 1,999
/// info-hashes with 100 peers each.
const SOURCES: usize = 4_080;

/// Thousands of made-up info-hashes, announced with valid tokens from thousands of
/// addresses (so each stays under the rate limit): the node stores 2,000 info-hashes and
/// refuses the rest with error 202 (store.rs `MAX_TORRENTS`); 200,000 announces of new
/// peers fill each with 100 peers in under 16 MiB, and 200,000 more (the oldest peers make
/// room: `MAX_PEERS`) leave its memory flat within 2 MiB; the peer of a real announce made
/// before the flood is still handed out and its re-announce accepted, a new info-hash is
/// refused while the store is full, an answer holds 50 peers (`MAX_ANSWER`), and the node
/// still answers.
#[test]
fn thousands_of_fake_info_hashes_keep_the_store_and_the_memory_bounded() {
    let (node, addr) = dht_node(ip(2));
    let real = *b"a-real-torrent-hash!";
    let seeder = KrpcClient::on(ip(3));
    let seeder_token = token_for(&seeder, addr);
    let announce_real = krpc_query(
        "announce_peer",
        b"rr",
        &announce_args(&real, 6881, &seeder_token),
    );
    assert!(contains(
        &seeder.ask(addr, &announce_real).unwrap(),
        b"1:y1:r"
    ));
    let before = rss_kib(&node);

    // 50 sources × 49 = 2,450 distinct info-hashes: 1,999 fit next to the real one.
    let (stored, full) = announce_from_many(addr, 2, 50, |s, j| fake_hash(s * 49 + j), |_| 1000);
    assert_eq!(
        (stored, full),
        (1_999, 451),
        "2,000 info-hashes at most (store.rs MAX_TORRENTS)"
    );
    let filled_hashes = rss_kib(&node);

    // Now 100 peers for each: 4,080 more sources, each with its own port, announce
    // info-hashes stored already (each gets ~100 new peers), then as many again: the
    // oldest peers make room, and memory stays where the first round left it.
    let stored_hash = |s: usize, j: usize| fake_hash((s * 49 + j) % 1_999);
    let (stored, full) = announce_from_many(addr, 4, SOURCES, stored_hash, |s| 2000 + s as u16);
    assert_eq!((stored, full), (SOURCES * 49, 0));
    let filled = rss_kib(&node);
    let (stored, _) = announce_from_many(addr, 30, SOURCES, stored_hash, |s| 20_000 + s as u16);
    assert_eq!(stored, SOURCES * 49);
    let again = rss_kib(&node);
    let peak = vm_kib(&node, "VmHWM:");
    eprintln!(
        "store: VmRSS {before} KiB before, {filled_hashes} with 2,000 info-hashes, \
         {filled} with 100 peers each, {again} after as many again; VmHWM {peak} KiB"
    );
    // 2,000 × 128 slots × 24 bytes = 6 MiB for a full store, and the per-address counts.
    assert!(
        filled < before + 16 * 1024,
        "a full store took {} KiB",
        filled - before
    );
    assert!(
        again < filled + 2 * 1024,
        "VmRSS grew from {filled} to {again} KiB over {} more announces to a full store",
        SOURCES * 49
    );

    // The real peer is still handed out, its re-announce still accepted; a new
    // info-hash is refused while the store is full.
    let peers = seeder
        .ask(
            addr,
            &krpc_query("get_peers", b"g1", &get_peers_args(&real)),
        )
        .unwrap();
    assert!(contains(&peers, &compact_value(ip(3), 6881)), "{peers:?}");
    assert!(contains(
        &seeder.ask(addr, &announce_real).unwrap(),
        b"1:y1:r"
    ));
    let new = krpc_query(
        "announce_peer",
        b"nn",
        &announce_args(&[9; 20], 6881, &seeder_token),
    );
    assert!(contains(&seeder.ask(addr, &new).unwrap(), b"1:eli202e"));
    // A fake info-hash holds at most 50 peers in an answer (store.rs MAX_ANSWER).
    let peers = seeder
        .ask(
            addr,
            &krpc_query("get_peers", b"g2", &get_peers_args(&fake_hash(7))),
        )
        .unwrap();
    let values = values_in(&peers).len();
    assert_eq!(values, 50, "{values} values in one answer");
    assert!(answers_ping(addr, ip(5)));
}

/// What a hostile node is asked: the query's transaction id, method and target (the
/// `target` or `info_hash`, if any).
struct Asked {
    transaction: Vec<u8>,
    method: String,
    target: Option<[u8; 20]>,
}

/// A hostile DHT node: a UDP socket on `ip` whose thread answers each query with what
/// `answer` makes of it (`None`: silence), and counts the queries. Ends when dropped.
struct FakeNode {
    addr: SocketAddrV4,
    queries: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl FakeNode {
    fn start(
        ip: Ipv4Addr,
        mut answer: impl FnMut(&Asked) -> Option<Vec<u8>> + Send + 'static,
    ) -> FakeNode {
        use ::smalltorrent::dht::krpc::{Body, Message, Query};
        let socket = UdpSocket::bind((ip, 0)).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let addr = match socket.local_addr().unwrap() {
            std::net::SocketAddr::V4(addr) => addr,
            other => panic!("{other}"),
        };
        let queries = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (counted, stopped) = (queries.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !stopped.load(Ordering::Relaxed) {
                let Ok((len, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let Ok(message) = Message::decode(&buf[..len]) else {
                    continue;
                };
                let Body::Query(query) = message.body else {
                    continue;
                };
                counted.fetch_add(1, Ordering::Relaxed);
                let target = match &query {
                    Query::FindNode { target, .. } => Some(target.0),
                    Query::GetPeers { info_hash, .. } => Some(info_hash.0),
                    _ => None,
                };
                let asked = Asked {
                    transaction: message.transaction,
                    method: query.method().to_string(),
                    target,
                };
                if let Some(reply) = answer(&asked) {
                    let _ = socket.send_to(&reply, from);
                }
            }
        });
        FakeNode {
            addr,
            queries,
            stop,
        }
    }

    fn queries(&self) -> usize {
        self.queries.load(Ordering::Relaxed)
    }
}

impl Drop for FakeNode {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// `d1:rd2:id20:<id><r>e1:t<t>1:y1:re`: a response with `r` after the id.
fn response(transaction: &[u8], id: &[u8; 20], r: &[u8]) -> Vec<u8> {
    let mut out = b"d1:rd2:id20:".to_vec();
    out.extend_from_slice(id);
    out.extend_from_slice(r);
    out.extend_from_slice(format!("e1:t{}:", transaction.len()).as_bytes());
    out.extend_from_slice(transaction);
    out.extend_from_slice(b"1:y1:re");
    out
}

/// A compact node entry: id, IPv4, port.
fn compact_node(id: &[u8; 20], addr: SocketAddrV4) -> Vec<u8> {
    let mut out = id.to_vec();
    out.extend_from_slice(&addr.ip().octets());
    out.extend_from_slice(&addr.port().to_be_bytes());
    out
}

/// `5:nodes<len>:<entries>`.
fn nodes_field(entries: &[u8]) -> Vec<u8> {
    let mut out = format!("5:nodes{}:", entries.len()).into_bytes();
    out.extend_from_slice(entries);
    out
}

/// The `r` contents (after the id) of every garbage answer, by name. Each must leave
/// the node that reads it standing.
fn garbage_answers() -> Vec<(&'static str, Vec<u8>)> {
    let far = SocketAddrV4::new(Ipv4Addr::new(127, 0, 9, 1), 9);
    let one_node = compact_node(&[0x77; 20], far);
    let mut huge_values = b"6:valuesl".to_vec();
    for n in 0..600u16 {
        huge_values.extend(compact_value(Ipv4Addr::new(127, 0, 9, 2), n + 1));
    }
    huge_values.push(b'e');
    let mut wrong_lengths = b"6:valuesl0:5:abcde7:abcdefg".to_vec();
    wrong_lengths.extend(compact_value(Ipv4Addr::new(127, 0, 9, 3), 0));
    wrong_lengths.extend_from_slice(b"i6881elee");
    let mut port_zero = one_node[..24].to_vec();
    port_zero.extend_from_slice(&[0, 0]);
    vec![
        ("nodes of 25 bytes", nodes_field(&one_node[..25])),
        (
            "nodes of 27 bytes",
            nodes_field(&[&one_node[..], b"x"].concat()),
        ),
        ("nodes an integer", b"5:nodesi26e".to_vec()),
        (
            "nodes a list",
            b"5:nodesl26:xxxxxxxxxxxxxxxxxxxxxxxxxxe".to_vec(),
        ),
        ("values a string", b"6:values6:abcdef".to_vec()),
        ("values a dictionary", b"6:valuesd1:a1:be".to_vec()),
        ("values of wrong lengths and types", wrong_lengths),
        ("a node on port 0", nodes_field(&port_zero)),
        ("600 values", huge_values),
        ("a token that is a list", b"5:tokenli1ee".to_vec()),
    ]
}

/// The whole garbage datagrams, for transaction `t`: every `r` of [`garbage_answers`],
/// and worse: truncated bencode, a 64 KiB datagram, no `r` at all, an `r` that is a list,
/// an id of the wrong type.
fn garbage_datagrams(t: &[u8], id: &[u8; 20]) -> Vec<(&'static str, Vec<u8>)> {
    let mut all: Vec<(&str, Vec<u8>)> = garbage_answers()
        .into_iter()
        .map(|(name, r)| (name, response(t, id, &r)))
        .collect();
    let whole = response(
        t,
        id,
        &nodes_field(&compact_node(&[1; 20], SocketAddrV4::new(ip(9), 9))),
    );
    all.push(("truncated", whole[..whole.len() / 2].to_vec()));
    let mut big = b"d1:rd2:id20:".to_vec();
    big.extend_from_slice(id);
    big.extend_from_slice(b"1:x65000:");
    big.resize(big.len() + 65_000, b'x');
    big.extend_from_slice(format!("e1:t{}:", t.len()).as_bytes());
    big.extend_from_slice(t);
    big.extend_from_slice(b"1:y1:re");
    all.push(("a 64 KiB datagram", big));
    let mut no_r = format!("d1:t{}:", t.len()).into_bytes();
    no_r.extend_from_slice(t);
    no_r.extend_from_slice(b"1:y1:re");
    all.push(("no r", no_r));
    let mut r_list = b"d1:rli1ee1:t".to_vec();
    r_list.extend_from_slice(format!("{}:", t.len()).as_bytes());
    r_list.extend_from_slice(t);
    r_list.extend_from_slice(b"1:y1:re");
    all.push(("r a list", r_list));
    let mut id_int = format!("d1:rd2:idi5ee1:t{}:", t.len()).into_bytes();
    id_int.extend_from_slice(t);
    id_int.extend_from_slice(b"1:y1:re");
    all.push(("an id that is an integer", id_int));
    all
}

/// True if `answer`'s `nodes` name `addr`.
fn names_node(answer: &[u8], addr: SocketAddrV4) -> bool {
    let mut compact = addr.ip().octets().to_vec();
    compact.extend_from_slice(&addr.port().to_be_bytes());
    contains(answer, &compact)
}

/// A node in our table that answers a query with garbage leaves the table when the
/// garbage still names the transaction (so it is known to be the answer); the node keeps
/// answering whatever the garbage. Each case: a `smalltorrent dht` node whose saved table
/// names the hostile node, which answers the start-up ping well (so it enters the table)
/// and the find_node that follows with the garbage; then a `find_node` for the hostile
/// node's id shows whether it is still in the table. Answers that are readable but odd
/// (values of wrong lengths, a port 0 node) are filtered and keep the node, and so does
/// what cannot be told from silence (truncated or oversized datagrams: two silences in a
/// row make a node bad).
#[test]
fn a_node_that_answers_with_garbage_leaves_the_table_and_ours_stands() {
    let dir = tempfile::tempdir().unwrap();
    let hostile_id = [0x22u8; 20];
    let cases = garbage_datagrams(b"tt", &hostile_id);
    let mut wrong = Vec::new();
    for (n, (name, _)) in cases.iter().enumerate() {
        let name = *name;
        let dropped_expected = matches!(
            name,
            "nodes of 25 bytes"
                | "nodes of 27 bytes"
                | "nodes an integer"
                | "nodes a list"
                | "values a string"
                | "values a dictionary"
                | "no r"
                | "r a list"
        );
        let hostile = FakeNode::start(Ipv4Addr::new(127, 0, 6, n as u8 + 1), move |asked| {
            let id = hostile_id;
            if asked.method == "ping" {
                return Some(response(&asked.transaction, &id, b""));
            }
            let (_, datagram) = garbage_datagrams(&asked.transaction, &id).swap_remove(n);
            Some(datagram)
        });
        let table = dir.path().join(format!("table-{n}"));
        let mut saved = vec![0x11u8; 20];
        saved.extend(compact_node(&hostile_id, hostile.addr));
        std::fs::write(&table, saved).unwrap();
        let args = [
            "dht".to_string(),
            "--bind".into(),
            "127.0.0.2:0".into(),
            "--table".into(),
            table.display().to_string(),
        ];
        let mut node = spawn_smalltorrent_named(&format!("dht node ({name})"), args);
        node.wait_for_stdout("dht node listening on ", READY_TIMEOUT);
        let addr: SocketAddrV4 = node
            .stdout()
            .lines()
            .find_map(|l| {
                l.strip_prefix("dht node listening on ")?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while hostile.queries() < 2 {
            assert!(
                Instant::now() < deadline,
                "{name}: the node never queried the hostile one"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(300));
        let client = KrpcClient::on(ip(3));
        let mut args = b"6:target20:".to_vec();
        args.extend_from_slice(&hostile_id);
        let answer = client
            .ask(addr, &krpc_query("find_node", b"fn", &args))
            .unwrap_or_else(|| panic!("{name}: no answer after the garbage\n{}", node.report()));
        let dropped = !names_node(&answer, hostile.addr);
        eprintln!("{name}: dropped from the table: {dropped}");
        if dropped != dropped_expected {
            wrong.push(format!(
                "{name}: dropped {dropped}, expected {dropped_expected}"
            ));
        }
        assert!(
            node.exited().is_none(),
            "{name}: the node ended\n{}",
            node.report()
        );
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// `smalltorrent TORRENT -s DIR --bind 127.0.0.6 --port 0` with no DHT, announced by hand
/// (from its own address, with the token the node gave it) to `node` only.
fn seeder_announced_to(published: &Published, node: SocketAddrV4) -> SmalltorrentPeer {
    let mut seeder =
        SmalltorrentPeer::start_seeding(&published.torrent, &published.data_dir, ip(6));
    let listening = seeder.wait_listening(READY_TIMEOUT);
    let client = KrpcClient::on(ip(6));
    let token = token_for(&client, node);
    let info_hash = info_hash(&published.torrent);
    let announce = announce_args(&info_hash, listening.port(), &token);
    let answer = client
        .ask(node, &krpc_query("announce_peer", b"an", &announce))
        .unwrap();
    assert!(contains(&answer, b"1:y1:r"), "{answer:?}");
    seeder
}

/// A hostile node among the download's two bootstrap nodes answers its first `get_peers`
/// with 200 made-up peers (the most one answer is read for), and every other query with
/// the garbage of [`garbage_datagrams`] in turn. The other bootstrap node is honest and
/// names a third node, where the seeder is announced: its answer comes a round trip
/// after the hostile one. The download completes, and the hostile node was asked a
/// bounded number of times.
#[test]
fn a_download_completes_through_honest_nodes_past_garbage_and_200_fake_peers() {
    let published = Published::single_file(2 << 20, 16);
    let (_honest, honest) = dht_node(ip(2));
    let (_relay, relay) = dht_node_from(ip(4), &[honest]);
    let _seeder = seeder_announced_to(&published, honest);
    let mut fake_peers = b"5:token4:lies6:valuesl".to_vec();
    for n in 0..200u16 {
        fake_peers.extend(compact_value(
            Ipv4Addr::new(127, 0, 9, (n % 250) as u8 + 1),
            1 + n,
        ));
    }
    fake_peers.push(b'e');
    let mut turn = 0;
    let mut first_get_peers = true;
    let hostile = FakeNode::start(ip(5), move |asked| {
        let id = [0x33u8; 20];
        if asked.method == "get_peers" && first_get_peers {
            first_get_peers = false;
            return Some(response(&asked.transaction, &id, &fake_peers));
        }
        let mut all = garbage_datagrams(&asked.transaction, &id);
        turn += 1;
        Some(all.swap_remove(turn % all.len()).1)
    });
    // The honest nodes know each other before the download starts.
    let deadline = Instant::now() + Duration::from_secs(5);
    let client = KrpcClient::on(ip(3));
    while !client
        .ask(
            relay,
            &krpc_query("find_node", b"fn", b"6:target20:TTTTTTTTTTTTTTTTTTTT"),
        )
        .is_some_and(|a| names_node(&a, honest))
    {
        assert!(
            Instant::now() < deadline,
            "the relay never learnt the honest node"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = download_through_dht(
        &published,
        "127.0.0.7",
        &[hostile.addr, relay],
        Duration::from_secs(25),
    );
    let asked = hostile.queries();
    assert!(asked >= 1, "the hostile node was never asked\n{log}");
    assert!(
        asked <= 20,
        "the hostile node was asked {asked} times\n{log}"
    );
}

/// A pool of 100 lying nodes: each answers every query with 8 nodes of the pool, each
/// closer to the target than any named before, so a lookup never runs out of closer
/// nodes to ask. Returns the pool (the first is the entry point) and the queries it got.
fn liar_pool() -> (Vec<FakeNode>, Arc<AtomicUsize>) {
    let next = Arc::new(AtomicU64::new(1 << 40));
    let total = Arc::new(AtomicUsize::new(0));
    let addrs: Arc<std::sync::Mutex<Vec<SocketAddrV4>>> = Arc::default();
    let mut pool = Vec::new();
    for n in 0..100u8 {
        let (next, total, addrs) = (next.clone(), total.clone(), addrs.clone());
        let me = n as usize;
        pool.push(FakeNode::start(
            Ipv4Addr::new(127, 0, 7, n + 1),
            move |asked| {
                total.fetch_add(1, Ordering::Relaxed);
                let target = asked.target.unwrap_or([0; 20]);
                let addrs = addrs.lock().unwrap().clone();
                let mut entries = Vec::new();
                for k in 1..=8 {
                    // Ever closer: the target with an ever smaller number XORed in the end.
                    let closer = next.fetch_sub(1, Ordering::Relaxed);
                    let mut id = target;
                    for (b, x) in id[12..].iter_mut().zip(closer.to_be_bytes()) {
                        *b ^= x;
                    }
                    let addr = addrs[(me + k * 7 + closer as usize) % addrs.len()];
                    entries.extend(compact_node(&id, addr));
                }
                let mut own = target;
                own[0] ^= 0x80;
                own[19] = me as u8;
                Some(response(&asked.transaction, &own, &nodes_field(&entries)))
            },
        ));
    }
    addrs.lock().unwrap().extend(pool.iter().map(|f| f.addr));
    (pool, total)
}

/// A lookup fed ever closer made-up nodes by 100 lying nodes ends after 64 queries
/// (lookup.rs `MAX_QUERIES`): a `smalltorrent dht` node bootstrapped from the pool sends
/// it at most 64 in 5 s (and many: the lie worked); a download bootstrapped from the pool
/// and an honest node where the seeder is announced completes, and the pool got at most
/// 64 queries per lookup the download's log shows.
#[test]
fn lying_nodes_that_name_ever_closer_nodes_get_64_queries_a_lookup() {
    let (pool, asked) = liar_pool();
    let (_node, _) = dht_node_from(ip(2), &[pool[0].addr]);
    std::thread::sleep(Duration::from_secs(5));
    let bootstrap = asked.load(Ordering::Relaxed);
    eprintln!("one bootstrap lookup: {bootstrap} queries to the liars");
    assert!(
        (30..=64).contains(&bootstrap),
        "{bootstrap} queries to the liars for one lookup"
    );

    let (pool, asked) = liar_pool();
    let published = Published::single_file(2 << 20, 16);
    let (_honest, honest) = dht_node(ip(3));
    let _seeder = seeder_announced_to(&published, honest);
    let log = download_through_dht(
        &published,
        "127.0.0.7",
        &[pool[0].addr, honest],
        Duration::from_secs(25),
    );
    let started = log
        .lines()
        .filter(|l| l.contains("dht: lookup") && l.contains(" from "))
        .count();
    let asked = asked.load(Ordering::Relaxed);
    eprintln!("download: {started} lookups, {asked} queries to the liars");
    assert!(started >= 1, "{log}");
    assert!(
        asked <= 64 * started,
        "{asked} queries to the liars in {started} lookups\n{log}"
    );
}

/// The node id in an answer (`2:id20:` and 20 bytes).
fn id_in(answer: &[u8]) -> [u8; 20] {
    let at = answer
        .windows(7)
        .position(|w| w == b"2:id20:")
        .expect("an id in the answer");
    answer[at + 7..at + 27].try_into().unwrap()
}

/// A node in the table cannot be moved to another address by whoever claims its id: a
/// query from another address that carries the id of a node we know does not replace that
/// node's address (else one datagram per known id would point the whole table at an
/// attacker), and `find_node` still names the honest node where it is.
#[test]
fn a_query_with_a_known_nodes_id_from_another_address_does_not_move_it() {
    let (_node, addr) = dht_node(ip(2));
    let (_honest, honest) = dht_node_from(ip(3), &[addr]);
    let client = KrpcClient::on(ip(4));
    let honest_id = id_in(&client.ask(honest, &krpc_query("ping", b"p1", b"")).unwrap());
    let mut target = b"6:target20:".to_vec();
    target.extend_from_slice(&honest_id);
    let find = krpc_query("find_node", b"f1", &target);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !names_node(&client.ask(addr, &find).unwrap(), honest) {
        assert!(
            Instant::now() < deadline,
            "the honest node never entered the table"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The attacker pings and asks with the honest node's id.
    let attacker = KrpcClient::on(ip(9));
    let attacker_addr = match attacker.0.local_addr().unwrap() {
        std::net::SocketAddr::V4(a) => a,
        other => panic!("{other}"),
    };
    let mut claim = b"d1:ad2:id20:".to_vec();
    claim.extend_from_slice(&honest_id);
    claim.extend_from_slice(b"e1:q4:ping1:t2:hh1:y1:qe");
    assert!(attacker.ask(addr, &claim).is_some());
    let answer = client.ask(addr, &find).unwrap();
    assert!(
        names_node(&answer, honest) && !names_node(&answer, attacker_addr),
        "the honest node's entry moved to the attacker: {answer:?}"
    );
    assert!(answers_ping(addr, ip(5)));
}

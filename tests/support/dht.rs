//! DHT helpers shared by the DHT tests: `smalltorrent dht` nodes, a smalltorrent seeder
//! with only its DHT, a KRPC client that writes its queries byte for byte (and asks a node
//! who announced what), libtorrent DHT nodes, a download that finds its peers only through
//! the DHT, and the options that give aria2c a DHT on loopback (see CONTRIBUTING.md's
//! notes on aria2).
//!
//! No test may reach the internet's DHT routers: every smalltorrent started here is given
//! loopback `--dht-bootstrap` nodes, every aria2c a loopback `--dht-entry-point`.

use super::{
    PYTHON, Proc, Published, assert_same_tree, info_hash_hex, seeders, smalltorrent_command,
    spawn_smalltorrent_named,
};
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a program may take to start listening.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A `smalltorrent dht` node on `ip`, and its address.
pub fn dht_node(ip: Ipv4Addr) -> (Proc, SocketAddrV4) {
    dht_node_from(ip, &[])
}

/// A `smalltorrent dht` node on `ip` that joins through `bootstrap`.
pub fn dht_node_from(ip: Ipv4Addr, bootstrap: &[SocketAddrV4]) -> (Proc, SocketAddrV4) {
    let mut args = vec!["dht".to_string(), "--bind".into(), format!("{ip}:0")];
    for node in bootstrap {
        args.extend(["--bootstrap".into(), node.to_string()]);
    }
    let mut proc = spawn_smalltorrent_named(&format!("dht node {ip}"), args);
    proc.wait_for_stdout("dht node listening on ", READY_TIMEOUT);
    let addr = proc
        .stdout()
        .lines()
        .find_map(|l| {
            l.strip_prefix("dht node listening on ")?
                .trim()
                .parse()
                .ok()
        })
        .expect("an address after 'dht node listening on'");
    (proc, addr)
}

/// A KRPC client: a UDP socket on `ip` that sends one datagram and waits for the answer.
pub struct KrpcClient(pub UdpSocket);

impl KrpcClient {
    pub fn on(ip: Ipv4Addr) -> KrpcClient {
        let socket = UdpSocket::bind((ip, 0)).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        KrpcClient(socket)
    }

    /// Sends `query` and returns the answer: the first datagram that is not a query (the
    /// node may query us too, once we are in its table).
    pub fn ask(&self, node: SocketAddrV4, query: &[u8]) -> Option<Vec<u8>> {
        self.0.send_to(query, node).unwrap();
        let mut buf = [0u8; 4096];
        loop {
            let (len, _) = self.0.recv_from(&mut buf).ok()?;
            if !contains(&buf[..len], b"1:y1:q") {
                return Some(buf[..len].to_vec());
            }
        }
    }
}

/// `d1:ad2:id20:<id>...e1:q<method>1:t2:<t>1:y1:qe` with `args` inside `a` after the id.
pub fn krpc_query(method: &str, transaction: &[u8; 2], args: &[u8]) -> Vec<u8> {
    krpc_query_as(b"QQQQQQQQQQQQQQQQQQQQ", method, transaction, args)
}

/// [`krpc_query`] from the node id `id`.
pub fn krpc_query_as(id: &[u8; 20], method: &str, transaction: &[u8; 2], args: &[u8]) -> Vec<u8> {
    let mut out = b"d1:ad2:id20:".to_vec();
    out.extend_from_slice(id);
    out.extend_from_slice(args);
    out.extend_from_slice(format!("e1:q{}:{method}1:t2:", method.len()).as_bytes());
    out.extend_from_slice(transaction);
    out.extend_from_slice(b"1:y1:qe");
    out
}

/// True if `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The value of the 8-byte `token` in a `get_peers` answer.
pub fn token_of(answer: &[u8]) -> Vec<u8> {
    let at = answer
        .windows(8)
        .position(|w| w == b"5:token8")
        .expect("a token in the answer");
    answer[at + 9..at + 17].to_vec()
}

/// Starts `lt_dht_node.py` on `ip`, bootstrapped from `bootstrap`, with `extra` arguments.
pub fn libtorrent_dht(
    ip: &str,
    bootstrap: SocketAddrV4,
    extra: &[&str],
    dir: &std::path::Path,
) -> Proc {
    let mut cmd = std::process::Command::new(PYTHON);
    cmd.arg(seeders::script("lt_dht_node.py"))
        .args(["--ip", ip, "--bootstrap", &bootstrap.to_string()])
        .args(extra)
        .arg(dir);
    let mut proc = Proc::spawn(&format!("libtorrent dht {ip}"), cmd);
    proc.wait_for_stdout("BOOTSTRAPPED", READY_TIMEOUT);
    proc
}

/// `smalltorrent 'magnet:?xt=urn:btih:<hash>' -d DIR/out -q --bind IP --port 0` with each
/// of `bootstrap` as a `--dht-bootstrap` (no tracker, no peer): it must exit 0 with the
/// payload byte-identical. Returns its stderr (the DHT's debug log); the log is in the
/// failure message too.
pub fn download_through_dht(
    published: &Published,
    ip: &str,
    bootstrap: &[SocketAddrV4],
    timeout: Duration,
) -> String {
    let link = format!("magnet:?xt=urn:btih:{}", info_hash_hex(&published.torrent));
    let out = published.dir.path().join("out");
    let mut args: Vec<String> = vec![link, "-d".into(), out.display().to_string(), "-q".into()];
    args.extend(["--bind".into(), ip.into(), "--port".into(), "0".into()]);
    for node in bootstrap {
        args.extend(["--dht-bootstrap".into(), node.to_string()]);
    }
    let mut cmd = smalltorrent_command(args);
    cmd.env("RUST_LOG", "smalltorrent::dht=debug");
    let mut proc = Proc::spawn("smalltorrent", cmd);
    let status = proc
        .wait_exit(timeout)
        .unwrap_or_else(|why| panic!("{why}"));
    assert!(
        status.success(),
        "smalltorrent failed
{}",
        proc.report()
    );
    assert_same_tree(
        &published.payload,
        &out.join(published.payload.file_name().unwrap()),
    );
    proc.stderr()
}

/// `smalltorrent TORRENT -s DATA_DIR --bind IP --port 0` with each of `bootstrap` as a
/// `--dht-bootstrap` and no tracker of its own to speak of: returns once it listens, with
/// the port it listens on, TCP for peers and UDP for its DHT node alike.
pub fn smalltorrent_dht_seeder(
    torrent: &Path,
    data_dir: &Path,
    ip: Ipv4Addr,
    bootstrap: &[SocketAddrV4],
) -> (Proc, u16) {
    let mut args: Vec<String> = vec![
        torrent.display().to_string(),
        "-s".into(),
        data_dir.display().to_string(),
        "--bind".into(),
        ip.to_string(),
        "--port".into(),
        "0".into(),
    ];
    for node in bootstrap {
        args.extend(["--dht-bootstrap".into(), node.to_string()]);
    }
    let mut cmd = smalltorrent_command(args);
    cmd.env("RUST_LOG", "smalltorrent::dht=debug");
    let mut seeder = Proc::spawn("smalltorrent seeder", cmd);
    seeder.wait_until(READY_TIMEOUT, "a 'listening on' line", |p| {
        p.stderr().lines().any(|l| l.starts_with("listening on "))
    });
    let port = seeder
        .stderr()
        .lines()
        .find_map(|l| {
            l.strip_prefix("listening on ")?
                .rsplit(':')
                .next()?
                .trim()
                .parse()
                .ok()
        })
        .expect("the seeder's port");
    (seeder, port)
}

/// `peer` as a compact peer string in a `values` list: `6:` and its 6 bytes.
fn compact(peer: SocketAddrV4) -> Vec<u8> {
    let mut out = b"6:".to_vec();
    out.extend_from_slice(&peer.ip().octets());
    out.extend_from_slice(&peer.port().to_be_bytes());
    out
}

/// Asks `node` for the peers of `info_hash` (`get_peers`, every 500 ms) until its answer
/// lists `peer`: then someone announced `peer` there. Fails after `timeout` with the last
/// answer.
///
/// The queries come from 127.0.0.254 with the node's own id (read from a `ping`): a node
/// does not add itself to its table, so the harness is not handed out to the clients under
/// test as a node that never answers.
pub fn wait_until_announced(
    node: SocketAddrV4,
    info_hash: &[u8; 20],
    peer: SocketAddrV4,
    timeout: Duration,
) -> Result<(), String> {
    let client = KrpcClient::on(Ipv4Addr::new(127, 0, 0, 254));
    let pong = client
        .ask(node, &krpc_query("ping", b"p0", b""))
        .ok_or_else(|| format!("the node {node} did not answer a ping"))?;
    let at = pong
        .windows(6)
        .position(|w| w == b"2:id20")
        .ok_or_else(|| format!("no id in the pong {}", String::from_utf8_lossy(&pong)))?;
    let own: [u8; 20] = pong
        .get(at + 7..at + 27)
        .and_then(|id| id.try_into().ok())
        .ok_or("a short id in the pong")?;
    let mut args = b"9:info_hash20:".to_vec();
    args.extend_from_slice(info_hash);
    let get_peers = krpc_query_as(&own, "get_peers", b"g0", &args);
    let deadline = Instant::now() + timeout;
    loop {
        let answer = client.ask(node, &get_peers).unwrap_or_default();
        if contains(&answer, &compact(peer)) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{node} does not list {peer} after {timeout:?}; its last answer: {}",
                String::from_utf8_lossy(&answer)
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The options that give aria2c an IPv4 DHT on loopback: its UDP socket on `dht_port`
/// (bound to its `--interface` address), joined through `entry` alone, its routing table
/// kept in `state_dir/dht.dat` (never `~/.cache/aria2`), no IPv6 DHT. aria2c takes the last
/// of a repeated option, so these go after the harness's `--enable-dht=false`.
pub fn aria2_dht_options(entry: SocketAddrV4, dht_port: u16, state_dir: &Path) -> Vec<String> {
    vec![
        "--enable-dht=true".into(),
        "--enable-dht6=false".into(),
        format!("--dht-listen-port={dht_port}"),
        format!("--dht-entry-point={entry}"),
        format!("--dht-file-path={}", state_dir.join("dht.dat").display()),
    ]
}

//! DHT helpers shared by the DHT tests: `smalltorrent dht` nodes, a KRPC client that
//! writes its queries byte for byte, libtorrent DHT nodes, and a download that finds its
//! peers only through the DHT.

use super::{
    PYTHON, Proc, Published, assert_same_tree, info_hash_hex, seeders, smalltorrent_command,
    spawn_smalltorrent_named,
};
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::Duration;

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
    let mut out = b"d1:ad2:id20:QQQQQQQQQQQQQQQQQQQQ".to_vec();
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

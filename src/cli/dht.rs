//! `smalltorrent dht`: run a DHT node alone until Ctrl-C (main thread), for a LAN, a lab or
//! an offline machine whose clients bootstrap from it.
//!
//! Prints `dht node listening on IP:PORT` on stdout once the socket is bound (the port, if
//! 0 was asked), then logs its table size and queries per minute at info level.

use super::text;
use crate::dht::{Config, Node};
use lexopt::prelude::*;
use std::ffi::OsString;
use std::io::Write;
use std::net::{SocketAddr, SocketAddrV4, ToSocketAddrs};
use std::sync::atomic::Ordering;
use std::time::Duration;

pub const USAGE: &str = "\
Usage: smalltorrent dht [--bind IP:PORT] [--bootstrap HOST:PORT]... [--table FILE]

Runs a DHT node (BEP 5) and nothing else: it answers queries, stores the peers announced
to it and keeps its routing table, until Ctrl-C. Downloads elsewhere can bootstrap from it
with --dht-bootstrap IP:PORT: a trackerless swarm with no internet.

Options:
      --bind IP:PORT        where the UDP socket listens (default 0.0.0.0:6881; port 0:
                            any free port)
      --bootstrap HOST:PORT a node to join the DHT through (repeatable; default: none,
                            the node waits for others to find it)
      --table FILE          keep the routing table in FILE between runs
  -h, --help                this help

Logging: RUST_LOG=info logs the table size and queries answered every minute.
";

/// How often the summary is logged.
const SUMMARY: Duration = Duration::from_secs(60);

/// Parses the arguments; `Ok(None)` means help was printed.
pub fn parse(args: Vec<OsString>) -> Result<Option<Config>, String> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut config = Config {
        bind: SocketAddrV4::new([0, 0, 0, 0].into(), 6881),
        bootstrap: Vec::new(),
        table_file: None,
    };
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Short('h') | Long("help") => {
                print!("{USAGE}");
                return Ok(None);
            }
            Long("bind") => config.bind = ipv4_address("--bind", &text(&mut parser)?)?,
            Long("bootstrap") => config.bootstrap.push(text(&mut parser)?),
            Long("table") => config.table_file = Some(text(&mut parser)?.into()),
            _ => return Err(format!("dht: {}", arg.unexpected())),
        }
    }
    Ok(Some(config))
}

/// An `IP:PORT` of IPv4 (the node speaks BEP 5 over IPv4).
fn ipv4_address(option: &str, value: &str) -> Result<SocketAddrV4, String> {
    let addrs = value
        .to_socket_addrs()
        .map_err(|e| format!("{option} {value}: {e}"))?;
    addrs
        .filter_map(|a| match a {
            SocketAddr::V4(a) => Some(a),
            SocketAddr::V6(_) => None,
        })
        .next()
        .ok_or_else(|| format!("{option} {value}: no IPv4 address"))
}

pub fn run(args: Vec<OsString>) -> Result<i32, String> {
    let Some(config) = parse(args)? else {
        return Ok(0);
    };
    let interrupted = super::interrupt_channel();
    let bind = config.bind;
    let node = match Node::spawn(config) {
        Ok(node) => node,
        Err(error) => {
            eprintln!("smalltorrent: cannot listen on {bind}: {error}");
            return Ok(1);
        }
    };
    println!("dht node listening on {}", node.addr);
    let _ = std::io::stdout().flush();
    let mut answered = 0;
    while interrupted.recv_timeout(SUMMARY).is_err() {
        let now = node.stats.answered.load(Ordering::Relaxed);
        log::info!(
            "dht: {} nodes ({} good), {} queries answered in the last minute, {} malformed, \
             {} announces stored",
            node.stats.nodes.load(Ordering::Relaxed),
            node.stats.good.load(Ordering::Relaxed),
            now - answered,
            node.stats.malformed.load(Ordering::Relaxed),
            node.stats.announced.load(Ordering::Relaxed),
        );
        answered = now;
    }
    node.stop();
    Ok(0)
}

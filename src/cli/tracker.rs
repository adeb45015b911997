//! `smalltorrent tracker`: run an HTTP and UDP tracker until Ctrl-C (main thread).
//!
//! Exits 0 after Ctrl-C, 1 if a socket cannot be bound, 2 on a bad command line.
//! Prints the bound addresses on stdout (one line each, so scripts and tests can read the
//! ports when they asked for port 0), then waits for Ctrl-C, sweeping silent peers every
//! [`SWEEP`] and logging a summary at info level every [`SUMMARY`].

use super::{number, text};
use crate::extras::tracker_server::store::Limits;
use crate::extras::tracker_server::{Config, Server};
use lexopt::prelude::*;
use std::collections::HashSet;
use std::ffi::OsString;
use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::time::{Duration, Instant};

pub const USAGE: &str = "\
Usage: smalltorrent tracker [--http ADDR:PORT] [--udp ADDR:PORT] [--interval SECS]
                            [--allow INFOHASH_FILE]

Runs a BitTorrent tracker: HTTP (/announce, /scrape) and UDP (BEP 15) on one peer store.
With neither --http nor --udp, both listen on 0.0.0.0:6969; with one of them, only that
one runs. The bound addresses are printed at start. Stop with Ctrl-C.

Options:
      --http ADDR:PORT   serve HTTP here (port 0: any free port)
      --udp ADDR:PORT    serve UDP here (port 0: any free port)
      --interval SECS    announce interval told to clients (default 1800); a peer silent
                         for two intervals is dropped
      --allow FILE       only track these torrents: one hex info-hash per line
                         (blank lines and lines starting with # are skipped)
  -h, --help             this help

Logging: RUST_LOG=info prints a summary every minute, RUST_LOG=debug every announce.
";

/// The default address of both trackers.
const DEFAULT_ADDR: &str = "0.0.0.0:6969";
/// How often silent peers are dropped.
const SWEEP: Duration = Duration::from_secs(5);
/// How often the summary is logged.
const SUMMARY: Duration = Duration::from_secs(60);

/// Parses the arguments; `Ok(None)` means help was printed.
pub fn parse(args: Vec<OsString>) -> Result<Option<Config>, String> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut config = Config {
        http: None,
        udp: None,
        interval: Duration::from_secs(1800),
        limits: Limits::default(),
        allow: None,
    };
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Short('h') | Long("help") => {
                print!("{USAGE}");
                return Ok(None);
            }
            Long("http") => config.http = Some(address("--http", &text(&mut parser)?)?),
            Long("udp") => config.udp = Some(address("--udp", &text(&mut parser)?)?),
            Long("interval") => {
                let secs: u64 = number(&mut parser, "--interval")?;
                if !(1..=86_400).contains(&secs) {
                    return Err("--interval must be 1 to 86400 seconds".into());
                }
                config.interval = Duration::from_secs(secs);
            }
            Long("allow") => {
                let path = text(&mut parser)?;
                config.allow = Some(read_allow_list(Path::new(&path))?);
            }
            _ => return Err(format!("tracker: {}", arg.unexpected())),
        }
    }
    if config.http.is_none() && config.udp.is_none() {
        let default = address("default", DEFAULT_ADDR)?;
        (config.http, config.udp) = (Some(default), Some(default));
    }
    Ok(Some(config))
}

fn address(option: &str, value: &str) -> Result<SocketAddr, String> {
    value
        .to_socket_addrs()
        .map_err(|e| format!("{option} {value}: {e}"))?
        .next()
        .ok_or_else(|| format!("{option} {value}: no address found"))
}

/// Reads an allow-list file: one 40-digit hex info-hash per line.
fn read_allow_list(path: &Path) -> Result<HashSet<[u8; 20]>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("--allow {}: {e}", path.display()))?;
    parse_allow_list(&text).map_err(|line| {
        format!(
            "--allow {}: line {line} is not a 40-digit hex info-hash",
            path.display()
        )
    })
}

/// The info-hashes in `text`, or the number of the first bad line.
fn parse_allow_list(text: &str) -> Result<HashSet<[u8; 20]>, usize> {
    let mut hashes = HashSet::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut hash = [0u8; 20];
        if line.len() != 40 || !line.is_ascii() {
            return Err(n + 1);
        }
        for (i, byte) in hash.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&line[2 * i..2 * i + 2], 16).map_err(|_| n + 1)?;
        }
        hashes.insert(hash);
    }
    Ok(hashes)
}

pub fn run(args: Vec<OsString>) -> Result<i32, String> {
    let Some(config) = parse(args)? else {
        return Ok(0);
    };
    let interrupted = super::interrupt_channel();
    let server = match Server::start(config) {
        Ok(server) => server,
        Err(error) => {
            eprintln!("smalltorrent: {error}");
            return Ok(1);
        }
    };
    if let Some(addr) = server.http_addr() {
        println!("http tracker on http://{addr}/announce");
    }
    if let Some(addr) = server.udp_addr() {
        println!("udp tracker on udp://{addr}/announce");
    }
    let _ = std::io::stdout().flush();
    let mut last_summary = Instant::now();
    while interrupted.recv_timeout(SWEEP).is_err() {
        let (dropped, summary) = server.sweep();
        if dropped > 0 {
            log::debug!("dropped {dropped} peers that stopped announcing");
        }
        if last_summary.elapsed() >= SUMMARY {
            last_summary = Instant::now();
            log::info!(
                "{} swarms, {} seeders, {} leechers",
                summary.swarms,
                summary.seeders,
                summary.leechers
            );
        }
    }
    server.shutdown();
    // Ctrl-C is how a tracker is meant to stop: a normal exit.
    eprintln!("smalltorrent: tracker stopped");
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn both_trackers_by_default_or_the_ones_asked_for() {
        let config = parse(args(&[])).unwrap().unwrap();
        let default: SocketAddr = "0.0.0.0:6969".parse().unwrap();
        assert_eq!((config.http, config.udp), (Some(default), Some(default)));
        let config = parse(args(&["--udp", "127.0.0.1:0", "--interval", "5"]))
            .unwrap()
            .unwrap();
        assert_eq!(config.http, None);
        assert_eq!(config.udp, Some("127.0.0.1:0".parse().unwrap()));
        assert_eq!(config.interval, Duration::from_secs(5));
    }

    #[test]
    fn bad_options_say_what_is_wrong() {
        for (list, expected) in [
            (&["--http", "nowhere"][..], "--http nowhere"),
            (&["--interval", "0"], "--interval must be"),
            (
                &["--allow", "/nonexistent/list"],
                "--allow /nonexistent/list",
            ),
            (&["--bogus"], "tracker: invalid option '--bogus'"),
        ] {
            let error = parse(args(list)).unwrap_err();
            assert!(error.contains(expected), "{list:?}: {error}");
        }
    }

    #[test]
    fn allow_lists_are_hex_lines() {
        let text = "# mine\n\n0123456789abcdef0123456789ABCDEF01234567\n";
        let hashes = parse_allow_list(text).unwrap();
        assert_eq!(hashes.len(), 1);
        assert!(hashes.iter().next().unwrap().starts_with(&[0x01, 0x23]));
        assert_eq!(parse_allow_list("abc\n"), Err(1));
        assert_eq!(
            parse_allow_list("# x\n0123456789abcdef0123456789abcdef0123456g"),
            Err(2)
        );
        assert_eq!(
            parse_allow_list("é123456789abcdef0123456789abcdef012345"),
            Err(1)
        );
    }
}

//! The command line (main thread): parse arguments, start the work, turn the outcome into
//! one line on stderr and an exit code.
//!
//! Exit codes: 0 done, 1 failed (the line says why), 2 bad command line, 130 interrupted.

use crate::download::{self, DownloadError, Options};
use crate::metainfo::Metainfo;
use crate::progress::{self, format_bytes, format_duration};
use lexopt::prelude::*;
use std::ffi::OsString;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

const USAGE: &str = "\
smalltorrent — a small BitTorrent client

Usage:
  smalltorrent [OPTIONS] FILE.torrent   download a torrent
  smalltorrent info [--json] FILE.torrent
                                        show what a .torrent file contains

Download options:
  -d, --dir DIR        download into DIR (default: the current folder); a multi-file
                       torrent goes into DIR/<torrent name>/
  -q, --quiet          no progress display, errors only
      --peer HOST:PORT connect to this peer too (repeatable); works without a tracker
      --port N         port reported to trackers (default 6881)
      --max-peers N    connections at most (default 50)
      --give-up SECS   fail when no peer has been connected for SECS (default 120)
      --pipeline N     requests kept in flight per peer (default 128)
  -h, --help           this help (also: smalltorrent info --help)
  -V, --version        version

Logging: RUST_LOG=info shows trackers and peers, RUST_LOG=debug the protocol detail.
Exit codes: 0 done and verified, 1 failed, 2 bad command line, 130 interrupted.
";

const INFO_USAGE: &str = "\
Usage: smalltorrent info [--json] FILE.torrent

Prints the torrent's name, info-hash, total size, piece length and count, every file with
its size, the trackers by tier, and creation date, comment, creator and private flag when
present.

Options:
      --json   print the same as one JSON object
  -h, --help   this help
";

/// Exit code for a bad command line.
const EXIT_USAGE: i32 = 2;
/// Exit code after Ctrl-C (128 + SIGINT, as shells do).
const EXIT_INTERRUPTED: i32 = 130;

/// Runs the program and returns the process exit code.
pub fn main() -> i32 {
    let quiet = std::env::args().any(|a| a == "-q" || a == "--quiet");
    let default_level = if quiet { "error" } else { "warn" };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_level))
        .format_timestamp_millis()
        .init();
    match parse(std::env::args_os().skip(1).collect()) {
        Ok(Command::Help(text)) => {
            print!("{text}");
            0
        }
        Ok(Command::Version) => {
            println!("smalltorrent {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Ok(Command::Info { torrent, json }) => info(&torrent, json),
        Ok(Command::Download(options)) => run_download(&options),
        Err(message) => {
            eprintln!("smalltorrent: {message}\n(try: smalltorrent --help)");
            EXIT_USAGE
        }
    }
}

/// What the command line asks for.
#[derive(Debug)]
enum Command {
    Help(&'static str),
    Version,
    Info { torrent: PathBuf, json: bool },
    Download(Options),
}

fn parse(args: Vec<OsString>) -> Result<Command, String> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut options = Options {
        torrent: PathBuf::new(),
        dir: PathBuf::from("."),
        progress: progress::Mode::Plain,
        max_peers: 50,
        port: 6881,
        peers: Vec::new(),
        give_up: Duration::from_secs(120),
        pipeline: 128,
    };
    let mut quiet = false;
    let mut torrent = None;
    let mut info_command = false;
    let mut json = false;
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Short('h') | Long("help") if info_command => return Ok(Command::Help(INFO_USAGE)),
            Short('h') | Long("help") => return Ok(Command::Help(USAGE)),
            Short('V') | Long("version") => return Ok(Command::Version),
            Long("json") if info_command => json = true,
            Short('d') | Long("dir") => {
                options.dir = parser.value().map_err(|e| e.to_string())?.into()
            }
            Short('q') | Long("quiet") => quiet = true,
            Long("port") => options.port = number(&mut parser, "--port")?,
            Long("max-peers") => options.max_peers = number(&mut parser, "--max-peers")?,
            Long("pipeline") => options.pipeline = number(&mut parser, "--pipeline")?,
            Long("give-up") => {
                options.give_up = Duration::from_secs(number(&mut parser, "--give-up")?)
            }
            Long("peer") => {
                let value = parser
                    .value()
                    .and_then(|v| v.string())
                    .map_err(|e| e.to_string())?;
                options.peers.push(peer_address(&value)?);
            }
            Value(value) if torrent.is_none() && !info_command && value == "info" => {
                info_command = true;
            }
            Value(value) if torrent.is_none() => torrent = Some(PathBuf::from(value)),
            _ => return Err(arg.unexpected().to_string()),
        }
    }
    let torrent = torrent.ok_or("missing the .torrent file to use")?;
    if info_command {
        return Ok(Command::Info { torrent, json });
    }
    if options.max_peers == 0 || options.pipeline == 0 {
        return Err("--max-peers and --pipeline must be at least 1".into());
    }
    options.torrent = torrent;
    options.progress = progress::Mode::detect(quiet);
    Ok(Command::Download(options))
}

fn number<T: std::str::FromStr>(parser: &mut lexopt::Parser, option: &str) -> Result<T, String> {
    let value = parser.value().map_err(|e| e.to_string())?;
    let text = value.to_string_lossy();
    text.parse()
        .map_err(|_| format!("{option} needs a number, got '{text}'"))
}

/// `HOST:PORT` → the first address it resolves to.
fn peer_address(value: &str) -> Result<SocketAddr, String> {
    value
        .to_socket_addrs()
        .map_err(|e| format!("--peer {value}: {e}"))?
        .next()
        .ok_or_else(|| format!("--peer {value}: no address found"))
}

fn info(torrent: &std::path::Path, json: bool) -> i32 {
    match Metainfo::from_file(torrent) {
        Ok(meta) => {
            let text = if json {
                crate::info::render_json(&meta)
            } else {
                crate::info::render_text(&meta)
            };
            print!("{text}");
            0
        }
        Err(error) => {
            eprintln!("smalltorrent: {error}");
            1
        }
    }
}

fn run_download(options: &Options) -> i32 {
    let (interrupt, interrupted) = crossbeam_channel::bounded(1);
    if let Err(error) = ctrlc::set_handler(move || {
        let _ = interrupt.try_send(());
    }) {
        log::warn!("Ctrl-C will not stop cleanly: {error}");
    }
    match download::run(options, &interrupted) {
        Ok(summary) => {
            if options.progress != progress::Mode::Quiet {
                let seconds = summary.elapsed.as_secs_f64().max(0.001);
                eprintln!(
                    "done: {} ({}) verified in {} ({}/s)",
                    summary.name,
                    format_bytes(summary.bytes),
                    format_duration(summary.elapsed),
                    format_bytes((summary.downloaded as f64 / seconds) as u64),
                );
            }
            0
        }
        Err(DownloadError::Interrupted) => {
            eprintln!("smalltorrent: interrupted; data so far is flushed to disk");
            EXIT_INTERRUPTED
        }
        Err(error) => {
            eprintln!("smalltorrent: {error}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn a_download_with_every_option() {
        let parsed = parse(args(&[
            "-d",
            "out",
            "--port",
            "7000",
            "--max-peers",
            "9",
            "--peer",
            "127.0.0.2:6881",
            "--peer",
            "127.0.0.3:6881",
            "x.torrent",
        ]))
        .unwrap();
        let Command::Download(options) = parsed else {
            panic!("not a download: {parsed:?}");
        };
        assert_eq!(options.torrent, PathBuf::from("x.torrent"));
        assert_eq!(options.dir, PathBuf::from("out"));
        assert_eq!((options.port, options.max_peers), (7000, 9));
        assert_eq!(options.peers.len(), 2);
    }

    #[test]
    fn info_takes_json_and_its_own_help() {
        assert!(matches!(
            parse(args(&["info", "--json", "x.torrent"])).unwrap(),
            Command::Info { json: true, .. }
        ));
        assert!(matches!(
            parse(args(&["info", "--help"])).unwrap(),
            Command::Help(INFO_USAGE)
        ));
        assert!(matches!(
            parse(args(&["--help"])).unwrap(),
            Command::Help(USAGE)
        ));
    }

    #[test]
    fn bad_command_lines_say_what_is_wrong() {
        assert_eq!(
            parse(args(&[])).unwrap_err(),
            "missing the .torrent file to use"
        );
        assert_eq!(
            parse(args(&["--port", "x", "a.torrent"])).unwrap_err(),
            "--port needs a number, got 'x'"
        );
        assert!(
            parse(args(&["--json", "a.torrent"]))
                .unwrap_err()
                .contains("--json")
        );
        assert!(
            parse(args(&["--peer", "nohost", "a.torrent"]))
                .unwrap_err()
                .contains("--peer nohost")
        );
    }
}

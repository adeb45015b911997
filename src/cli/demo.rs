//! `smalltorrent demo`: a whole swarm on this machine (main thread): parse the options,
//! install Ctrl-C, run [`crate::extras::demo::run`], print its report.
//!
//! Exits 0 when every leecher has verified the whole payload, 1 if the swarm failed,
//! 2 on a bad command line, 130 after Ctrl-C.

use super::{EXIT_INTERRUPTED, number, parse_size, text};
use crate::extras::demo::{self, Config, DemoError};
use lexopt::prelude::*;
use std::ffi::OsString;
use std::time::Duration;

pub const USAGE: &str = "\
Usage: smalltorrent demo [--leechers N] [--size SIZE] [--growth] [--dht] [--keep DIR]

Runs a whole BitTorrent swarm on this machine, with no internet: the built-in tracker on
127.0.0.1, one seeder on 127.0.0.2 and N leechers on 127.0.0.3, 127.0.0.4, ... — real
smalltorrent peers over real sockets. Shows each peer's pieces, rates and sources live,
then who sent what to whom: leechers serve each other, not only the seeder.

Options:
      --leechers N   leechers in the swarm, 1 to 20 (default 3)
      --size SIZE    payload size: 64M, 512K, 1G, ... (default 64M); the bytes are
                     random but the same for the same size
      --growth       leechers join one by one, every 2 s: early ones become sources
                     for late ones
      --dht          no tracker: the peers find each other through a DHT node the demo
                     runs on 127.0.0.1 (their DHTs bootstrap from it alone: nothing
                     leaves loopback); sources they found through it are marked *
      --keep DIR     work in DIR and keep the payload, the torrent and every peer's copy
                     (DIR/seeder, DIR/leecher-N); by default a temporary folder is removed
  -h, --help         this help
";

/// Most leechers: one loopback address each, and a screen line each.
const MAX_LEECHERS: usize = 20;
/// Largest payload: the demo holds one copy per peer on disk.
const MAX_SIZE: u64 = 4 << 30;

/// Parses the arguments; `Ok(None)` means help was printed.
pub fn parse(args: Vec<OsString>) -> Result<Option<Config>, String> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut config = Config {
        leechers: 3,
        size: 64 << 20,
        growth: false,
        growth_every: Duration::from_secs(2),
        keep: None,
        dht: false,
    };
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Short('h') | Long("help") => {
                print!("{USAGE}");
                return Ok(None);
            }
            Long("leechers") => config.leechers = number(&mut parser, "--leechers")?,
            Long("size") => {
                let value = text(&mut parser)?;
                config.size = parse_size(&value).ok_or_else(|| {
                    format!("--size needs a size such as 8M or 1G, got '{value}'")
                })?;
            }
            Long("growth") => config.growth = true,
            Long("dht") => config.dht = true,
            Long("keep") => config.keep = Some(text(&mut parser)?.into()),
            _ => return Err(format!("demo: {}", arg.unexpected())),
        }
    }
    if !(1..=MAX_LEECHERS).contains(&config.leechers) {
        return Err(format!("--leechers must be 1 to {MAX_LEECHERS}"));
    }
    if !(1..=MAX_SIZE).contains(&config.size) {
        return Err("--size must be 1 byte to 4G".into());
    }
    Ok(Some(config))
}

pub fn run(args: Vec<OsString>) -> Result<i32, String> {
    let Some(config) = parse(args)? else {
        return Ok(0);
    };
    let interrupted = super::interrupt_channel();
    Ok(match demo::run(&config, &interrupted) {
        Ok(report) => {
            print!("{report}");
            0
        }
        Err(DemoError::Interrupted) => {
            eprintln!("smalltorrent: demo interrupted");
            EXIT_INTERRUPTED
        }
        Err(error) => {
            eprintln!("smalltorrent: demo: {error}");
            1
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn options_and_their_errors() {
        let config = parse(args(&[
            "--leechers",
            "5",
            "--size",
            "8M",
            "--growth",
            "--dht",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            (config.leechers, config.size, config.growth, config.dht),
            (5, 8 << 20, true, true)
        );
        assert!(!parse(args(&[])).unwrap().unwrap().dht);
        for (list, expected) in [
            (&["--leechers", "0"][..], "--leechers must be 1 to 20"),
            (&["--size", "8X"], "--size needs a size such as 8M"),
            (&["--size", "0"], "--size must be"),
            (&["--bogus"], "demo: invalid option '--bogus'"),
        ] {
            let error = parse(args(list)).unwrap_err();
            assert!(error.contains(expected), "{list:?}: {error}");
        }
    }
}

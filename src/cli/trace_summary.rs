//! `smalltorrent trace-summary FILE [--peer ADDR]`: one peer's message sequence from a
//! `--trace` transcript, as a compact table (main thread).
//!
//! Exits 0 after printing, 1 if the file cannot be read, has a line that is not JSON, or
//! has no messages for the peer; 2 on a bad command line.

use super::text;
use crate::extras::trace::summary::{self, Line};
use lexopt::prelude::*;
use std::ffi::OsString;
use std::path::PathBuf;

pub const USAGE: &str = "\
Usage: smalltorrent trace-summary FILE [--peer ADDR]

Prints the messages exchanged with one peer in a transcript written by --trace, in order,
runs of the same message collapsed (\"request ×128\"). Without --peer: the first peer in
the file (the others are listed).

Options:
      --peer ADDR   the peer's address as it appears in the trace (e.g. 127.0.0.2:6881)
  -h, --help        this help
";

pub fn run(args: Vec<OsString>) -> Result<i32, String> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut file: Option<PathBuf> = None;
    let mut peer: Option<String> = None;
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Short('h') | Long("help") => {
                print!("{USAGE}");
                return Ok(0);
            }
            Long("peer") => peer = Some(text(&mut parser)?),
            Value(value) if file.is_none() => file = Some(value.into()),
            _ => return Err(format!("trace-summary: {}", arg.unexpected())),
        }
    }
    let file = file.ok_or("trace-summary: missing the trace FILE")?;
    let contents = match std::fs::read_to_string(&file) {
        Ok(contents) => contents,
        Err(error) => {
            eprintln!("smalltorrent: cannot read {}: {error}", file.display());
            return Ok(1);
        }
    };
    let mut lines: Vec<Line> = Vec::new();
    for (number, line) in contents.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match summary::parse_line(line) {
            Ok(parsed) => lines.push(parsed),
            Err(error) => {
                eprintln!(
                    "smalltorrent: {} line {}: not a trace line: {error}",
                    file.display(),
                    number + 1
                );
                return Ok(1);
            }
        }
    }
    let peers = summary::peers(&lines);
    let Some(peer) = peer.or_else(|| peers.first().cloned()) else {
        eprintln!("smalltorrent: {} holds no peer messages", file.display());
        return Ok(1);
    };
    let runs = summary::sequence(&lines, &peer);
    if runs.is_empty() {
        eprintln!(
            "smalltorrent: no messages with {peer} in {} (peers: {})",
            file.display(),
            peers.join(", ")
        );
        return Ok(1);
    }
    print!("{}", summary::render(&peer, &runs));
    let others: Vec<&String> = peers.iter().filter(|p| **p != peer).collect();
    if !others.is_empty() {
        let list: Vec<&str> = others.iter().map(|p| p.as_str()).collect();
        println!(
            "other peers in this trace (--peer ADDR): {}",
            list.join(", ")
        );
    }
    Ok(0)
}

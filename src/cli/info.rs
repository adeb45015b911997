//! `smalltorrent info [--json] [--scrape] FILE.torrent`: what a .torrent file contains,
//! and with `--scrape` what each of its trackers counts in the swarm.

use crate::metainfo::Metainfo;
use crate::tracker;
use lexopt::prelude::*;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

pub const USAGE: &str = "\
Usage: smalltorrent info [--json | --scrape] FILE.torrent

Prints the torrent's name, info-hash, total size, piece length and count, every file with
its size, the trackers by tier, and creation date, comment, creator and private flag when
present.

Options:
      --json     print the same as one JSON object
      --scrape   then ask every tracker (HTTP or UDP) for the swarm's seeders, leechers
                 and completed downloads, one line per tracker; exit 1 if none answers
  -h, --help     this help
";

/// What `info` was asked to do.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    pub torrent: PathBuf,
    pub json: bool,
    pub scrape: bool,
}

/// How long each tracker may take to answer a scrape.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);

/// Parses `info`'s arguments; `Ok(None)` means help was printed.
pub fn parse(args: Vec<OsString>) -> Result<Option<Request>, String> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut torrent = None;
    let mut json = false;
    let mut scrape = false;
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Short('h') | Long("help") => {
                print!("{USAGE}");
                return Ok(None);
            }
            Long("json") => json = true,
            Long("scrape") => scrape = true,
            Value(value) if torrent.is_none() => torrent = Some(PathBuf::from(value)),
            _ => return Err(arg.unexpected().to_string()),
        }
    }
    let torrent = torrent.ok_or("info: missing the .torrent file to show")?;
    if json && scrape {
        return Err("info: --json and --scrape cannot be combined".into());
    }
    Ok(Some(Request {
        torrent,
        json,
        scrape,
    }))
}

pub fn run(args: Vec<OsString>) -> Result<i32, String> {
    let Some(request) = parse(args)? else {
        return Ok(0);
    };
    match Metainfo::from_file(&request.torrent) {
        Ok(meta) => {
            let text = if request.json {
                crate::extras::info::render_json(&meta)
            } else {
                crate::extras::info::render_text(&meta)
            };
            print!("{text}");
            Ok(if request.scrape { scrape_all(&meta) } else { 0 })
        }
        Err(error) => {
            eprintln!("smalltorrent: {error}");
            Ok(1)
        }
    }
}

/// Scrapes every tracker of every tier and prints one line each; the exit code is 0 when
/// at least one answered.
fn scrape_all(meta: &Metainfo) -> i32 {
    let urls: Vec<&String> = meta.trackers.iter().flatten().collect();
    if urls.is_empty() {
        eprintln!("smalltorrent: the torrent lists no tracker to scrape");
        return 1;
    }
    println!("scrape:");
    let mut answered = 0;
    for url in urls {
        match tracker::scrape(url, &meta.info_hash, SCRAPE_TIMEOUT) {
            Ok(stats) => {
                answered += 1;
                println!(
                    "  {url}: {} seeders, {} leechers, {} completed",
                    stats.seeders, stats.leechers, stats.completed
                );
            }
            Err(error) => println!("  {url}: failed: {error}"),
        }
    }
    if answered == 0 { 1 } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_a_flag() {
        let args = vec![OsString::from("--json"), OsString::from("x.torrent")];
        assert_eq!(
            parse(args).unwrap(),
            Some(Request {
                torrent: PathBuf::from("x.torrent"),
                json: true,
                scrape: false,
            })
        );
        let args = vec![OsString::from("x.torrent"), OsString::from("--scrape")];
        assert!(parse(args).unwrap().unwrap().scrape);
        let both = ["--json", "--scrape", "x"].map(OsString::from).to_vec();
        assert!(parse(both).unwrap_err().contains("cannot be combined"));
        assert!(parse(vec![]).unwrap_err().contains("missing"));
    }
}

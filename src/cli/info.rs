//! `smalltorrent info [--json] [--scrape] FILE.torrent|MAGNET`: what a .torrent file or a
//! magnet link contains, and with `--scrape` what each of its trackers counts in the swarm.

use super::EXIT_USAGE;
use crate::extras::info;
use crate::magnet::Magnet;
use crate::metainfo::Metainfo;
use crate::tracker;
use lexopt::prelude::*;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const USAGE: &str = "\
Usage: smalltorrent info [--json | --scrape] FILE.torrent
       smalltorrent info [--json | --scrape] 'magnet:?xt=urn:btih:...'

Prints the torrent's name, info-hash, magnet link, total size, piece length and count,
every file with its size, the trackers by tier, and creation date, comment, creator and
private flag when present.

For a magnet link: the info-hash, and the name, size, trackers and peers the link gives.
The file list is not in a magnet link; it arrives with the metadata, from a peer.

Options:
      --json     print the same as one JSON object
      --scrape   then ask every tracker (HTTP or UDP) for the swarm's seeders, leechers
                 and completed downloads, one line per tracker; exit 1 if none answers
  -h, --help     this help
";

/// What `info` was asked to do.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    pub target: Target,
    pub json: bool,
    pub scrape: bool,
}

/// What `info` shows: an argument that starts with `magnet:` is a link, anything else a
/// file.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    Torrent(PathBuf),
    Magnet(String),
}

impl Target {
    fn from_arg(arg: OsString) -> Target {
        let text = arg.to_str().unwrap_or_default();
        let scheme = text.get(..7).unwrap_or_default();
        if scheme.eq_ignore_ascii_case("magnet:") {
            Target::Magnet(text.to_string())
        } else {
            Target::Torrent(PathBuf::from(arg))
        }
    }
}

/// How long each tracker may take to answer a scrape.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);

/// Parses `info`'s arguments; `Ok(None)` means help was printed.
pub fn parse(args: Vec<OsString>) -> Result<Option<Request>, String> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut target = None;
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
            Value(value) if target.is_none() => target = Some(Target::from_arg(value)),
            _ => return Err(arg.unexpected().to_string()),
        }
    }
    let target = target.ok_or("info: missing the .torrent file or magnet link to show")?;
    if json && scrape {
        return Err("info: --json and --scrape cannot be combined".into());
    }
    Ok(Some(Request {
        target,
        json,
        scrape,
    }))
}

pub fn run(args: Vec<OsString>) -> Result<i32, String> {
    let Some(request) = parse(args)? else {
        return Ok(0);
    };
    match &request.target {
        Target::Torrent(path) => Ok(show_torrent(path, &request)),
        Target::Magnet(uri) => Ok(show_magnet(uri, &request)),
    }
}

/// Prints a torrent file's report; exit 1 if it cannot be read.
fn show_torrent(path: &Path, request: &Request) -> i32 {
    match Metainfo::from_file(path) {
        Ok(meta) => {
            let text = if request.json {
                info::render_json(&meta)
            } else {
                info::render_text(&meta)
            };
            print!("{text}");
            let urls: Vec<&String> = meta.trackers.iter().flatten().collect();
            if request.scrape {
                scrape_all(&urls, &meta.info_hash, "the torrent")
            } else {
                0
            }
        }
        Err(error) => {
            eprintln!("smalltorrent: {error}");
            1
        }
    }
}

/// Prints a magnet link's report. A malformed link is a bad argument: one line, exit 2.
fn show_magnet(uri: &str, request: &Request) -> i32 {
    match Magnet::parse(uri) {
        Ok(magnet) => {
            let text = if request.json {
                info::magnet::render_json(&magnet)
            } else {
                info::magnet::render_text(&magnet)
            };
            print!("{text}");
            let urls: Vec<&String> = magnet.trackers.iter().collect();
            if request.scrape {
                scrape_all(&urls, &magnet.info_hash, "the magnet link")
            } else {
                0
            }
        }
        Err(error) => {
            eprintln!("smalltorrent: {error}");
            EXIT_USAGE
        }
    }
}

/// Scrapes every tracker (`source` lists them: "the torrent") and prints one line each;
/// the exit code is 0 when at least one answered.
fn scrape_all(urls: &[&String], info_hash: &[u8; 20], source: &str) -> i32 {
    if urls.is_empty() {
        eprintln!("smalltorrent: {source} lists no tracker to scrape");
        return 1;
    }
    println!("scrape:");
    let mut answered = 0;
    for url in urls {
        match tracker::scrape(url, info_hash, SCRAPE_TIMEOUT) {
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
                target: Target::Torrent(PathBuf::from("x.torrent")),
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

    #[test]
    fn an_argument_starting_with_magnet_is_a_link() {
        let target = |arg: &str| Target::from_arg(OsString::from(arg));
        let link = "magnet:?xt=urn:btih:00";
        assert_eq!(target(link), Target::Magnet(link.into()));
        assert_eq!(target("MAGNET:x"), Target::Magnet("MAGNET:x".into()));
        assert_eq!(
            target("magnet.torrent"),
            Target::Torrent(PathBuf::from("magnet.torrent"))
        );
        assert_eq!(
            target("dir/magnet:?"),
            Target::Torrent("dir/magnet:?".into())
        );
    }
}

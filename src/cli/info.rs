//! `smalltorrent info [--json] FILE.torrent`: what a .torrent file contains.

use crate::metainfo::Metainfo;
use lexopt::prelude::*;
use std::ffi::OsString;
use std::path::PathBuf;

pub const USAGE: &str = "\
Usage: smalltorrent info [--json] FILE.torrent

Prints the torrent's name, info-hash, total size, piece length and count, every file with
its size, the trackers by tier, and creation date, comment, creator and private flag when
present.

Options:
      --json   print the same as one JSON object
  -h, --help   this help
";

/// What `info` was asked to do.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    pub torrent: PathBuf,
    pub json: bool,
}

/// Parses `info`'s arguments; `Ok(None)` means help was printed.
pub fn parse(args: Vec<OsString>) -> Result<Option<Request>, String> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut torrent = None;
    let mut json = false;
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Short('h') | Long("help") => {
                print!("{USAGE}");
                return Ok(None);
            }
            Long("json") => json = true,
            Value(value) if torrent.is_none() => torrent = Some(PathBuf::from(value)),
            _ => return Err(arg.unexpected().to_string()),
        }
    }
    let torrent = torrent.ok_or("info: missing the .torrent file to show")?;
    Ok(Some(Request { torrent, json }))
}

pub fn run(args: Vec<OsString>) -> Result<i32, String> {
    let Some(request) = parse(args)? else {
        return Ok(0);
    };
    match Metainfo::from_file(&request.torrent) {
        Ok(meta) => {
            let text = if request.json {
                crate::info::render_json(&meta)
            } else {
                crate::info::render_text(&meta)
            };
            print!("{text}");
            Ok(0)
        }
        Err(error) => {
            eprintln!("smalltorrent: {error}");
            Ok(1)
        }
    }
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
                json: true
            })
        );
        assert!(parse(vec![]).unwrap_err().contains("missing"));
    }
}

//! `smalltorrent [OPTIONS] FILE.torrent|MAGNET`: download a torrent, or the one a magnet
//! link names (the default command).

use super::{EXIT_INTERRUPTED, number, parse_size, text};
use crate::download::{self, DownloadError, Options, Source};
use crate::extras::trace::TraceFile;
use crate::magnet::{Magnet, MagnetError};
use crate::peer::Encryption;
use crate::progress::{self, format_bytes};
use crate::selection::FileList;
use crate::transcript::Tracer;
use lexopt::prelude::*;
use std::ffi::OsString;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub const USAGE: &str = "\
smalltorrent — a small BitTorrent client

Usage:
  smalltorrent demo [--leechers N] [--size SIZE] [--dht] [--growth] [--keep DIR]
                                        watch a whole swarm on this machine (no internet)
  smalltorrent [OPTIONS] FILE.torrent   download a torrent
  smalltorrent [OPTIONS] 'magnet:?xt=urn:btih:...'
                                        download the torrent a magnet link names
  smalltorrent info [--json] [--scrape] FILE.torrent|MAGNET
                                        show what a .torrent file or magnet link holds
  smalltorrent create PATH [-t URL]...  make a .torrent for a file or folder
  smalltorrent tracker [--http ADDR:PORT] [--udp ADDR:PORT]
                                        run a tracker (HTTP and UDP)
  smalltorrent dht [--bind IP:PORT] [--bootstrap HOST:PORT]...
                                        run a DHT node alone (BEP 5)
  smalltorrent verify FILE.torrent [-d DIR] [--select LIST]
                                        check the data on disk, per file
  smalltorrent trace-summary FILE [--peer ADDR]
                                        one peer's messages from a --trace transcript
  smalltorrent COMMAND --help           help for one command

Download options:
  -d, --dir DIR        download into DIR (default: the current folder); a multi-file
                       torrent goes into DIR/<torrent name>/
  -s, --seed-dir DIR   seed the data already in DIR: check it, serve the valid pieces,
                       fetch what is missing, and keep seeding until Ctrl-C
      --seed           keep seeding after the download completes (until Ctrl-C)
      --super-seed     once seeding, offer each new peer one piece at a time that no one
                       else was given, the next once it is seen elsewhere (BEP 16): less
                       upload per copy in a new swarm, slower for each leecher
      --seed-ratio R   stop seeding once we uploaded R times the torrent's size
      --seed-time MIN  stop seeding after MIN minutes
  -q, --quiet          no progress display (errors and the final summary only)
      --peer HOST:PORT connect to this peer too (repeatable; [::1]:6881 for IPv6);
                       works without a tracker
      --select LIST    download only these files: numbers from 1 as `smalltorrent info`
                       lists them, ranges allowed (2,4-6); the others are not created,
                       and their bytes in shared pieces wait in DIR/.smalltorrent/
      --tracker URL    announce to this tracker too, as a tier of its own (repeatable;
                       http://, https:// or udp://)
      --port N         listen port, also reported to trackers (default 6881; the next
                       free one if taken; 0 = any)
      --bind IP        listen on IP and connect from it, IPv4 or IPv6 (default: all
                       interfaces, IPv6 and IPv4 on one socket; peers of both families)
      --encryption E   how to open connections we dial: plain (the default) or prefer
                       (Message Stream Encryption first, plain if the peer hangs up);
                       peers that dial us may use either
      --max-peers N    connections at most, incoming and outgoing (default 50)
      --give-up SECS   fail when no peer has been connected for SECS (default 120)
      --pipeline N     requests kept in flight per peer (default 128)
      --max-upload-rate RATE
                       upload at most RATE bytes per second over all peers: 500K, 2M,
                       ... (units of 1024; default 0, no limit)
      --max-download-rate RATE
                       download at most RATE bytes per second over all peers (the
                       same units); the requests we send are metered, so the rate
                       holds within about 10% over 10 s
      --no-dht         do not use the DHT (BEP 5) to find peers
      --dht-bootstrap HOST:PORT
                       join the DHT through this node (repeatable) instead of the
                       well-known routers; the DHT listens on UDP at the --port number
      --trace FILE     write a JSONL transcript of every message, state change and
                       piece event to FILE (see `smalltorrent trace-summary`)
  -h, --help           this help
  -V, --version        version

Resume: DIR/.smalltorrent/<info-hash>.resume records the verified pieces; a rerun trusts
it for files whose size and mtime are unchanged and hashes the rest.
Magnet links: the metadata is fetched from the link's peers (its tr trackers, x.pe
addresses and --peer), then kept as DIR/.smalltorrent/<info-hash>.torrent, so a rerun
of the same link does not fetch it again. Nothing is written under DIR before it is
verified.
Web seeds: the HTTP(S) servers a torrent lists in url-list (BEP 19) are downloaded from
too, alongside the peers, by range requests of up to 1 MiB.
Logging: RUST_LOG=info shows trackers and peers, RUST_LOG=debug the protocol detail.
Exit codes: 0 done and verified, 1 failed, 2 bad command line, 130 interrupted.
";

/// The DHT's well-known bootstrap routers, for a user's real downloads (tests pass
/// `--no-dht` or a loopback `--dht-bootstrap`).
pub const DHT_ROUTERS: [&str; 3] = [
    "router.bittorrent.com:6881",
    "dht.transmissionbt.com:6881",
    "router.utorrent.com:6881",
];

/// A download as the command line asks for it.
#[derive(Debug)]
pub struct Download {
    /// What the core is told.
    pub options: Options,
    /// Where to write the transcript (`--trace`): the command line opens the file and
    /// hands it to the core as [`Options::tracer`].
    pub trace: Option<PathBuf>,
    /// The magnet link given instead of a .torrent file, read by [`run`] (a malformed link
    /// is one error line, not a usage error).
    pub link: Option<String>,
}

/// Parses the download's arguments; `Ok(None)` means help was printed.
pub fn parse(args: Vec<OsString>) -> Result<Option<Download>, String> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut options = Options {
        source: Source::Torrent(PathBuf::new()),
        dir: PathBuf::from("."),
        progress: progress::Mode::Plain,
        max_peers: 50,
        port: 6881,
        bind: None,
        encryption: Encryption::Plain,
        peers: Vec::new(),
        select: None,
        trackers: Vec::new(),
        give_up: Duration::from_secs(120),
        pipeline: 128,
        report_check: false,
        seed: false,
        seed_ratio: None,
        super_seed: false,
        seed_time: None,
        max_upload_rate: None,
        max_download_rate: None,
        dht: Some(DHT_ROUTERS.iter().map(|r| r.to_string()).collect()),
        tracer: Tracer::disabled(),
        watcher: None,
    };
    let mut trace = None;
    let mut quiet = false;
    let mut no_dht = false;
    let mut bootstrap = Vec::new();
    let mut torrent = None;
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Short('h') | Long("help") => {
                print!("{USAGE}");
                return Ok(None);
            }
            Short('d') | Long("dir") => options.dir = text(&mut parser)?.into(),
            Short('s') | Long("seed-dir") => {
                options.dir = text(&mut parser)?.into();
                options.report_check = true;
                options.seed = true;
            }
            Long("seed") => options.seed = true,
            Long("super-seed") => options.super_seed = true,
            Long("seed-ratio") => {
                let ratio: f64 = number(&mut parser, "--seed-ratio")?;
                if !(ratio.is_finite() && ratio >= 0.0) {
                    return Err(format!("--seed-ratio must be a number >= 0, got {ratio}"));
                }
                options.seed_ratio = Some(ratio);
            }
            Long("seed-time") => {
                let minutes: f64 = number(&mut parser, "--seed-time")?;
                if !(minutes.is_finite() && minutes >= 0.0) {
                    return Err(format!("--seed-time must be minutes >= 0, got {minutes}"));
                }
                options.seed_time = Some(Duration::from_secs_f64(minutes * 60.0));
            }
            Long("bind") => {
                let value = text(&mut parser)?;
                let ip = value
                    .parse()
                    .map_err(|_| format!("--bind needs an IP address, got '{value}'"))?;
                options.bind = Some(ip);
            }
            Long("encryption") => options.encryption = encryption(&text(&mut parser)?)?,
            Short('q') | Long("quiet") => quiet = true,
            Long("port") => options.port = number(&mut parser, "--port")?,
            Long("max-peers") => options.max_peers = number(&mut parser, "--max-peers")?,
            Long("pipeline") => options.pipeline = number(&mut parser, "--pipeline")?,
            Long("give-up") => {
                options.give_up = Duration::from_secs(number(&mut parser, "--give-up")?)
            }
            Long("peer") => options.peers.push(peer_address(&text(&mut parser)?)?),
            Long("select") => {
                let list = FileList::parse(&text(&mut parser)?).map_err(|e| e.to_string())?;
                options.select = Some(list);
            }
            Long("tracker") => options.trackers.push(tracker_url(&text(&mut parser)?)?),
            Long("max-upload-rate") => {
                options.max_upload_rate = rate("--max-upload-rate", &text(&mut parser)?)?
            }
            Long("max-download-rate") => {
                options.max_download_rate = rate("--max-download-rate", &text(&mut parser)?)?
            }
            Long("trace") => trace = Some(text(&mut parser)?.into()),
            Long("no-dht") => no_dht = true,
            Long("dht-bootstrap") => bootstrap.push(bootstrap_node(&text(&mut parser)?)?),
            Value(value) if torrent.is_none() => torrent = Some(value),
            _ => return Err(arg.unexpected().to_string()),
        }
    }
    let torrent = torrent.ok_or("missing the .torrent file or magnet link to use")?;
    let link = torrent
        .to_str()
        .filter(|text| is_magnet(text))
        .map(str::to_string);
    options.source = Source::Torrent(PathBuf::from(torrent));
    if options.max_peers == 0 || options.pipeline == 0 {
        return Err("--max-peers and --pipeline must be at least 1".into());
    }
    if (options.seed_ratio.is_some() || options.seed_time.is_some()) && !options.seed {
        // A limit on seeding implies seeding.
        options.seed = true;
    }
    if options.super_seed && !options.seed {
        return Err("--super-seed needs -s DIR or --seed: only a seeder can super seed".into());
    }
    if no_dht {
        options.dht = None;
    } else if !bootstrap.is_empty() {
        options.dht = Some(bootstrap);
    }
    options.progress = progress::Mode::detect(quiet);
    Ok(Some(Download {
        options,
        trace,
        link,
    }))
}

/// `--max-upload-rate RATE` or `--max-download-rate RATE` (the `option`): bytes per second,
/// with the units of [`parse_size`]; 0 is no limit.
fn rate(option: &str, value: &str) -> Result<Option<u64>, String> {
    match parse_size(value) {
        Some(0) => Ok(None),
        Some(rate) => Ok(Some(rate)),
        None => Err(format!(
            "{option} needs bytes per second such as 500K or 2M, got '{value}'"
        )),
    }
}

/// `HOST:PORT` → the first address it resolves to.
pub fn peer_address(value: &str) -> Result<SocketAddr, String> {
    value
        .to_socket_addrs()
        .map_err(|e| format!("--peer {value}: {e}"))?
        .next()
        .ok_or_else(|| format!("--peer {value}: no address found"))
}

/// `HOST:PORT` of a DHT node, checked for its shape only: the DHT thread resolves it.
fn bootstrap_node(value: &str) -> Result<String, String> {
    let port = value.rsplit_once(':').and_then(|(host, port)| {
        (!host.is_empty()).then_some(())?;
        port.parse::<u16>().ok().filter(|&p| p != 0)
    });
    match port {
        Some(_) => Ok(value.to_owned()),
        None => Err(format!("--dht-bootstrap needs HOST:PORT, got '{value}'")),
    }
}

fn encryption(value: &str) -> Result<Encryption, String> {
    match value {
        "plain" => Ok(Encryption::Plain),
        "prefer" => Ok(Encryption::Prefer),
        _ => Err(format!("--encryption is plain or prefer, got '{value}'")),
    }
}

/// A URL with a scheme we speak; anything else is a typo the user should hear about now.
fn tracker_url(value: &str) -> Result<String, String> {
    let scheme = value.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("http" | "https" | "udp") => Ok(value.to_owned()),
        _ => Err(format!(
            "--tracker {value}: not an http://, https:// or udp:// URL"
        )),
    }
}

/// True for an argument that is a magnet link rather than a file.
fn is_magnet(text: &str) -> bool {
    text.get(..7)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("magnet:"))
}

/// Makes `options` download what the magnet link `link` names: its info-hash, and its
/// trackers (`tr`) and peers (`x.pe`) before those given with `--tracker` and `--peer`.
pub fn use_magnet(options: &mut Options, link: &str) -> Result<(), MagnetError> {
    let magnet = Magnet::parse(link)?;
    let mut trackers = Vec::new();
    for url in magnet.trackers.iter().chain(&options.trackers) {
        match tracker_url(url) {
            Ok(url) if !trackers.contains(&url) => trackers.push(url),
            Ok(_) => {}
            Err(_) => log::info!("skipping tracker {url}: not http://, https:// or udp://"),
        }
    }
    options.trackers = trackers;
    let mut peers = magnet.peer_addrs();
    peers.extend(options.peers.iter().copied());
    options.peers = peers;
    options.source = Source::Magnet {
        info_hash: magnet.info_hash,
        name: magnet.name,
    };
    Ok(())
}

pub fn run(args: Vec<OsString>) -> Result<i32, String> {
    let Some(Download {
        mut options,
        trace,
        link,
    }) = parse(args)?
    else {
        return Ok(0);
    };
    if let Some(link) = link
        && let Err(error) = use_magnet(&mut options, &link)
    {
        eprintln!("smalltorrent: {error}");
        return Ok(super::EXIT_USAGE);
    }
    let trace = match trace.as_deref().map(TraceFile::create).transpose() {
        Ok(trace) => trace.map(Arc::new),
        Err(error) => {
            eprintln!("smalltorrent: {error}");
            return Ok(1);
        }
    };
    if let Some(trace) = &trace {
        options.tracer = Tracer::new(trace.clone());
    }
    let interrupted = super::interrupt_channel();
    let outcome = download::run(&options, &interrupted);
    Ok(match outcome {
        Ok(summary) => {
            // Every thread has ended: the transcript is complete.
            if let Some(Err(error)) = trace.as_ref().map(|trace| trace.flush()) {
                eprintln!("smalltorrent: {error}");
                return Ok(1);
            }
            print_summary(&summary);
            0
        }
        Err(error @ DownloadError::Select(_)) => {
            eprintln!("smalltorrent: {error}");
            super::EXIT_USAGE
        }
        Err(DownloadError::Interrupted) => {
            eprintln!("smalltorrent: interrupted; data so far is flushed to disk");
            EXIT_INTERRUPTED
        }
        Err(error) => {
            eprintln!("smalltorrent: {error}");
            1
        }
    })
}

/// The final line: what was uploaded (the `done:` line was printed when the download
/// completed).
fn print_summary(summary: &download::Summary) {
    if !summary.fetched {
        eprintln!(
            "{} ({}) is complete",
            summary.name,
            format_bytes(summary.bytes)
        );
    }
    eprintln!(
        "uploaded {} bytes ({:.2} x the torrent)",
        summary.uploaded,
        summary.uploaded as f64 / summary.bytes.max(1) as f64
    );
}

#[cfg(test)]
mod tests;

//! `smalltorrent create PATH [OPTIONS]`: make a .torrent for a file or folder (main
//! thread: arguments, the hashing progress line, writing the file, printing its magnet
//! link). The work itself is in [`crate::extras::create`].

use super::text;
use crate::extras::create::{self, CreateError, Extras, Layout};
use crate::metainfo::Metainfo;
use crate::progress::{self, PLAIN_INTERVAL, format_bytes, format_rate};
use lexopt::prelude::*;
use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub const USAGE: &str = "\
Usage: smalltorrent create PATH [OPTIONS]

Makes a .torrent for PATH, a file or a folder (every file below it, sorted by path,
empty and hidden files included; symlinks are skipped with a warning), and prints its
magnet link on stdout.

Options:
  -t, --tracker URL    announce URL (repeatable; each one its own tier, the first is
                       'announce')
      --piece-size N   piece length: a power of two from 16K to 64M, e.g. 256K, 1M,
                       16384 (default: chosen for 1,000-2,000 pieces, 16K-16M)
  -o, --output FILE    where to write (default: <name>.torrent in the current folder)
      --force          replace FILE if it exists
      --private        set the private flag (peers only from the trackers)
      --comment TEXT   a comment
      --web-seed URL   a web seed (BEP 19; repeatable)
      --no-hidden      skip files and folders whose name starts with '.'
  -q, --quiet          no progress display and no summary: only errors on stderr (the
                       magnet link is still printed on stdout)
  -h, --help           this help
";

/// What `create` was asked to do.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    pub path: PathBuf,
    pub output: Option<PathBuf>,
    pub piece_length: Option<u32>,
    pub extras: Extras,
    pub include_hidden: bool,
    pub force: bool,
    pub quiet: bool,
}

/// Parses `create`'s arguments; `Ok(None)` means help was printed.
pub fn parse(args: Vec<OsString>) -> Result<Option<Request>, String> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut request = Request {
        path: PathBuf::new(),
        output: None,
        piece_length: None,
        extras: Extras::default(),
        include_hidden: true,
        force: false,
        quiet: false,
    };
    let mut path = None;
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Short('h') | Long("help") => {
                print!("{USAGE}");
                return Ok(None);
            }
            Short('t') | Long("tracker") => request.extras.trackers.push(text(&mut parser)?),
            Long("web-seed") => request.extras.web_seeds.push(text(&mut parser)?),
            Long("comment") => request.extras.comment = Some(text(&mut parser)?),
            Long("private") => request.extras.private = true,
            Long("piece-size") => {
                let size = create::parse_piece_size(&text(&mut parser)?);
                request.piece_length = Some(size.map_err(|e| e.to_string())?);
            }
            Short('o') | Long("output") => request.output = Some(text(&mut parser)?.into()),
            Long("force") => request.force = true,
            Long("no-hidden") => request.include_hidden = false,
            Short('q') | Long("quiet") => request.quiet = true,
            Value(value) if path.is_none() => path = Some(PathBuf::from(value)),
            _ => return Err(arg.unexpected().to_string()),
        }
    }
    request.path = path.ok_or("create: missing the file or folder to share")?;
    create::check_urls(&request.extras).map_err(|e| e.to_string())?;
    Ok(Some(request))
}

pub fn run(args: Vec<OsString>) -> Result<i32, String> {
    let Some(request) = parse(args)? else {
        return Ok(0);
    };
    match make(&request) {
        Ok(()) => Ok(0),
        Err(error) => {
            eprintln!("smalltorrent: {error}");
            Ok(1)
        }
    }
}

/// Scans, hashes, and writes the torrent.
fn make(request: &Request) -> Result<(), CreateError> {
    let layout = create::scan(&request.path, request.include_hidden)?;
    let output = request
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.torrent", layout.name)));
    if !request.force && fs::symlink_metadata(&output).is_ok() {
        return Err(CreateError::OutputExists { path: output });
    }
    let piece_length = request
        .piece_length
        .unwrap_or_else(|| create::auto_piece_length(layout.total_length));
    let piece_count = create::check_piece_count(layout.total_length, piece_length)?;
    if !request.quiet {
        for skipped in &layout.skipped {
            eprintln!(
                "smalltorrent: warning: skipping {}: {}",
                skipped.path.display(),
                skipped.why
            );
        }
    }

    let mut display = HashProgress::new(progress::Mode::detect(request.quiet), &layout);
    let pieces = create::hash_pieces(&layout.files, piece_length, layout.total_length, |done| {
        display.draw(done)
    })?;
    display.finish();

    let mut extras = request.extras.clone();
    extras.created_by = Some(format!("smalltorrent {}", env!("CARGO_PKG_VERSION")));
    extras.creation_date = Some(unix_time());
    let torrent = create::build(&layout, piece_length, &pieces, &extras);
    // Our own parser must accept what we made; refuse to write a torrent it would not load.
    let meta = Metainfo::from_bytes(&torrent).map_err(|error| CreateError::Write {
        path: output.clone(),
        source: std::io::Error::other(format!("the new torrent does not load: {error}")),
    })?;
    write_new(&output, &torrent, request.force)?;
    if !request.quiet {
        eprintln!(
            "created {}: {} in {}, {} of {}, info-hash {}",
            output.display(),
            format_bytes(layout.total_length),
            plural(layout.files.len() as u64, "file"),
            plural(piece_count, "piece"),
            format_bytes(u64::from(piece_length)),
            meta.info_hash_hex(),
        );
    }
    // The result, on stdout even with -q: `link=$(smalltorrent create -q dir)` works.
    println!(
        "{}",
        crate::magnet::link(&meta.info_hash, &meta.name, &meta.trackers)
    );
    Ok(())
}

/// Writes `bytes` to `path`; without `force`, only if nothing is there (checked atomically).
fn write_new(path: &Path, bytes: &[u8], force: bool) -> Result<(), CreateError> {
    let mut options = fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let write_error = |source: std::io::Error| match source.kind() {
        std::io::ErrorKind::AlreadyExists => CreateError::OutputExists {
            path: path.to_path_buf(),
        },
        _ => CreateError::Write {
            path: path.to_path_buf(),
            source,
        },
    };
    let mut file = options.open(path).map_err(write_error)?;
    file.write_all(bytes).map_err(write_error)?;
    file.sync_all().map_err(write_error)
}

/// `1 file`, `3 files`.
fn plural(count: u64, noun: &str) -> String {
    match count {
        1 => format!("1 {noun}"),
        _ => format!("{count} {noun}s"),
    }
}

/// Seconds since the Unix epoch (0 if the clock is before it).
fn unix_time() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |elapsed| elapsed.as_secs() as i64)
}

/// The hashing progress line on stderr: in place on a terminal, every
/// [`PLAIN_INTERVAL`] otherwise (so a short job prints none), nothing with `-q`.
struct HashProgress {
    mode: progress::Mode,
    total: u64,
    started: Instant,
    /// When the last plain line was written (or hashing started).
    last_plain: Instant,
}

impl HashProgress {
    fn new(mode: progress::Mode, layout: &Layout) -> HashProgress {
        HashProgress {
            mode,
            total: layout.total_length,
            started: Instant::now(),
            last_plain: Instant::now(),
        }
    }

    fn draw(&mut self, done: u64) {
        let now = Instant::now();
        let line = render(
            done,
            self.total,
            now.duration_since(self.started).as_secs_f64(),
        );
        let mut stderr = std::io::stderr().lock();
        match self.mode {
            progress::Mode::Quiet => {}
            progress::Mode::Terminal => {
                let _ = write!(stderr, "\r{line}\x1b[K");
                let _ = stderr.flush();
            }
            progress::Mode::Plain => {
                let due = now.duration_since(self.last_plain) >= PLAIN_INTERVAL;
                if due && done < self.total {
                    self.last_plain = now;
                    let _ = writeln!(stderr, "{line}");
                }
            }
        }
    }

    fn finish(&self) {
        if self.mode == progress::Mode::Terminal {
            eprintln!();
        }
    }
}

/// `hashing  45.0% of 1.0 GiB  120.0 MiB/s`.
fn render(done: u64, total: u64, seconds: f64) -> String {
    let percent = done as f64 * 100.0 / total.max(1) as f64;
    let rate = if seconds > 0.0 {
        done as f64 / seconds
    } else {
        0.0
    };
    format!(
        "hashing {percent:5.1}% of {}  {}",
        format_bytes(total),
        format_rate(rate)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn every_option_is_read() {
        let request = parse(args(&[
            "dir",
            "-t",
            "http://a/x",
            "--tracker",
            "udp://b:1",
            "--piece-size",
            "256K",
            "-o",
            "out.torrent",
            "--private",
            "--comment",
            "hi",
            "--web-seed",
            "http://w/",
            "--no-hidden",
            "--force",
            "-q",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(request.path, PathBuf::from("dir"));
        assert_eq!(request.extras.trackers, ["http://a/x", "udp://b:1"]);
        assert_eq!(request.piece_length, Some(256 * 1024));
        assert_eq!(request.output, Some(PathBuf::from("out.torrent")));
        assert!(request.extras.private && request.force && request.quiet);
        assert!(!request.include_hidden);
        assert_eq!(request.extras.comment.as_deref(), Some("hi"));
        assert_eq!(request.extras.web_seeds, ["http://w/"]);
    }

    #[test]
    fn bad_command_lines_say_what_is_wrong() {
        assert!(
            parse(args(&[]))
                .unwrap_err()
                .contains("missing the file or folder")
        );
        let error = parse(args(&["d", "--piece-size", "300K"])).unwrap_err();
        assert_eq!(
            error,
            "--piece-size 300K: not a power of two (try 256K, 512K, 1M, ...)"
        );
        assert!(
            parse(args(&["d", "-t", "x"]))
                .unwrap_err()
                .contains("not a tracker URL")
        );
        assert!(parse(args(&["d", "e"])).unwrap_err().contains("e"));
    }

    #[test]
    fn the_progress_line_has_percent_size_and_rate() {
        assert_eq!(
            render(512 << 20, 1 << 30, 2.0),
            "hashing  50.0% of 1.0 GiB  256.0 MiB/s"
        );
    }
}

//! The floor work of a download, the reference `bench/loopback.sh` compares smalltorrent
//! with (issue 8): the least any client must do to receive a payload over loopback TCP,
//! write it into fresh memory-mapped files and SHA-1 every piece. No protocol, no peers,
//! no piece picking, no messages.
//!
//! ```text
//! cargo run --release --example pipeline_floor -- PAYLOAD OUT [--connections N]
//!     [--piece-size BYTES] [--flush]
//! ```
//!
//! PAYLOAD is a file or a folder (its files laid end to end in sorted path order, as
//! mktorrent and `smalltorrent create` do). OUT must not exist; it becomes a copy of
//! PAYLOAD, which the benchmark compares byte for byte.
//!
//! * A sender thread per connection reads its part of the payload (`pread`, 1 MiB at a
//!   time) and writes it to a loopback TCP connection: the seeder's side, on this machine.
//! * A receiver thread per connection reads from its socket straight into the output map
//!   (the one copy the kernel must make; smalltorrent makes a second one, from its block
//!   buffer into the map) and hashes each piece right after its last byte arrives, while
//!   the piece is still in the CPU cache. With one connection, receiving and hashing share
//!   one thread.
//! * With `--connections 2` the payload is split at a piece boundary; each connection
//!   carries one half and its receiver hashes that half, so two cores can work at once.
//!
//! The output files are created empty, sized with `set_len` and mapped whole, as a client
//! does (smalltorrent also reserves their blocks with `posix_fallocate`), with random-access
//! advice (see `advise`); so the page faults of a fresh map
//! are part of the floor. `--flush` adds an msync of every map at the
//! end, which no client measured does before it exits (smalltorrent flushes every 30 s and
//! records what it has not flushed yet: see `resume::recorder`).
//!
//! Prints one line, e.g. `floor: 1073741824 bytes, 4096 pieces of 262144 bytes,
//! 1 connection(s): 0.912 s, 1177.3 MB/s`, the time counted from the first connection
//! to the last piece hashed.

use memmap2::MmapMut;
use sha1::{Digest, Sha1};
use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::thread;
use std::time::Instant;

/// How much a sender reads from the payload and writes to its socket at a time.
const SEND_CHUNK: usize = 1 << 20;

const USAGE: &str =
    "usage: pipeline_floor PAYLOAD OUT [--connections N] [--piece-size BYTES] [--flush]";

struct Options {
    payload: PathBuf,
    out: PathBuf,
    connections: u64,
    piece_size: u64,
    flush: bool,
}

/// One file of the payload.
struct Entry {
    /// Its path below the payload folder; empty when the payload is a single file.
    relative: PathBuf,
    len: u64,
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("pipeline_floor: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("pipeline_floor: {error}");
            ExitCode::FAILURE
        }
    }
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut paths = Vec::new();
    let (mut connections, mut piece_size, mut flush) = (1, 256 * 1024, false);
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> Result<u64, String> {
            let value = args.next().ok_or(format!("{name} needs a value"))?;
            match value.parse() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!("{name} needs a positive number, got '{value}'")),
            }
        };
        match arg.as_str() {
            "--connections" => connections = number("--connections")?,
            "--piece-size" => piece_size = number("--piece-size")?,
            "--flush" => flush = true,
            "-h" | "--help" => return Err("the floor work of a download".into()),
            _ if arg.starts_with('-') => return Err(format!("unknown option {arg}")),
            _ => paths.push(PathBuf::from(arg)),
        }
    }
    let [payload, out] = <[PathBuf; 2]>::try_from(paths).map_err(|_| "needs PAYLOAD and OUT")?;
    Ok(Options {
        payload,
        out,
        connections,
        piece_size,
        flush,
    })
}

/// The whole transfer; returns the line to print.
fn run(options: &Options) -> io::Result<String> {
    let entries = list_files(&options.payload)?;
    let total: u64 = entries.iter().map(|e| e.len).sum();
    let mut maps = create_outputs(&options.out, &entries)?;
    let parts = split_at_pieces(total, options.piece_size, options.connections);
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let addr = listener.local_addr()?;

    let started = Instant::now();
    thread::scope(|scope| -> io::Result<()> {
        let senders: Vec<_> = parts
            .iter()
            .map(|range| scope.spawn(|| send(&options.payload, &entries, range.clone(), addr)))
            .collect();
        // Each connection names the offset it starts at; hand its receiver that region.
        let mut streams = Vec::new();
        for _ in &parts {
            let (mut stream, _) = listener.accept()?;
            let mut start = [0u8; 8];
            stream.read_exact(&mut start)?;
            streams.push((u64::from_be_bytes(start), stream));
        }
        streams.sort_by_key(|(start, _)| *start);
        let mut region: VecDeque<&mut [u8]> = maps.iter_mut().map(|m| &mut m[..]).collect();
        let receivers: Vec<_> = parts
            .iter()
            .zip(streams)
            .map(|(range, (_, stream))| {
                let mine = take_front(&mut region, (range.end - range.start) as usize);
                let piece_size = options.piece_size as usize;
                scope.spawn(move || receive(stream, mine, piece_size))
            })
            .collect();
        for handle in senders.into_iter().chain(receivers) {
            handle.join().expect("a transfer thread panicked")?;
        }
        Ok(())
    })?;
    let elapsed = started.elapsed().as_secs_f64();

    let mut line = format!(
        "floor: {total} bytes, {} pieces of {} bytes, {} connection(s): {elapsed:.3} s, {:.1} MB/s",
        total.div_ceil(options.piece_size),
        options.piece_size,
        parts.len(),
        total as f64 / 1e6 / elapsed.max(1e-9),
    );
    if options.flush {
        let flushing = Instant::now();
        for map in &maps {
            map.flush()?;
        }
        line += &format!("; flush {:.3} s", flushing.elapsed().as_secs_f64());
    }
    Ok(line)
}

/// The files of `root` (a file, or a folder walked recursively), in sorted path order.
fn list_files(root: &Path) -> io::Result<Vec<Entry>> {
    let meta = fs::metadata(root)?;
    if meta.is_file() {
        let relative = PathBuf::new();
        return Ok(vec![Entry {
            relative,
            len: meta.len(),
        }]);
    }
    let mut entries = Vec::new();
    let mut folders = vec![PathBuf::new()];
    while let Some(folder) = folders.pop() {
        for item in fs::read_dir(root.join(&folder))? {
            let item = item?;
            let relative = folder.join(item.file_name());
            let kind = item.file_type()?;
            if kind.is_dir() {
                folders.push(relative);
            } else if kind.is_file() {
                let len = item.metadata()?.len();
                entries.push(Entry { relative, len });
            }
        }
    }
    entries.sort_by(|a, b| a.relative.cmp(&b.relative));
    Ok(entries)
}

/// `root/relative`, or `root` itself for a single-file payload.
fn path_of(root: &Path, relative: &Path) -> PathBuf {
    if relative.as_os_str().is_empty() {
        root.to_path_buf()
    } else {
        root.join(relative)
    }
}

/// Creates every output file at its full length (sparse, with `set_len`) and maps it.
/// Empty files are created but not mapped (a map cannot be empty).
fn create_outputs(out: &Path, entries: &[Entry]) -> io::Result<Vec<MmapMut>> {
    if out.exists() {
        return Err(io::Error::other(format!(
            "{} already exists",
            out.display()
        )));
    }
    let mut maps = Vec::new();
    for entry in entries {
        let path = path_of(out, &entry.relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        file.set_len(entry.len)?;
        if entry.len > 0 {
            // SAFETY: we created the file just now and nothing else opens it while it is
            // mapped, so no one truncates it underneath the map.
            let map = unsafe { MmapMut::map_mut(&file)? };
            advise(&map);
            maps.push(map);
        }
    }
    Ok(maps)
}

/// The floor's page policy: random-access advice, so the kernel's readahead does not build
/// 2 MiB folios for the floor's in-order writes (a client's random piece order does not
/// trigger it), which cost 4 s per GiB cold where the host takes back free 2 MiB blocks.
/// (smalltorrent asked for huge pages on its writable map until its saver moved to
/// `pwrite`, 2026-12-04; see BENCHMARKS.md.)
fn advise(map: &MmapMut) {
    let _ = map.advise(memmap2::Advice::Random);
}

/// `connections` byte ranges covering `0..total`, split at piece boundaries, none empty.
fn split_at_pieces(total: u64, piece_size: u64, connections: u64) -> Vec<Range<u64>> {
    let pieces = total.div_ceil(piece_size);
    let per_part = pieces.div_ceil(connections).max(1) * piece_size;
    (0..connections)
        .map(|k| (k * per_part).min(total)..((k + 1) * per_part).min(total))
        .filter(|range| !range.is_empty())
        .collect()
}

/// Removes the first `len` bytes from `region` (slices laid end to end) and returns them,
/// splitting a slice if it crosses the boundary.
fn take_front<'a>(region: &mut VecDeque<&'a mut [u8]>, mut len: usize) -> Vec<&'a mut [u8]> {
    let mut taken = Vec::new();
    while len > 0 {
        let slice = region
            .pop_front()
            .expect("the region is shorter than asked");
        if slice.len() <= len {
            len -= slice.len();
            taken.push(slice);
        } else {
            let (head, tail) = slice.split_at_mut(len);
            region.push_front(tail);
            taken.push(head);
            len = 0;
        }
    }
    taken
}

/// The seeder's side: sends `range` of the payload, after its start offset (8 bytes,
/// big-endian), on a new connection to `to`.
fn send(payload: &Path, entries: &[Entry], range: Range<u64>, to: SocketAddr) -> io::Result<()> {
    let mut stream = TcpStream::connect(to)?;
    stream.write_all(&range.start.to_be_bytes())?;
    let mut buffer = vec![0u8; SEND_CHUNK];
    let mut file_start = 0;
    for entry in entries {
        let file_end = file_start + entry.len;
        let (mut at, end) = (range.start.max(file_start), range.end.min(file_end));
        if at < end {
            let file = File::open(path_of(payload, &entry.relative))?;
            while at < end {
                let n = ((end - at) as usize).min(SEND_CHUNK);
                file.read_exact_at(&mut buffer[..n], at - file_start)?;
                stream.write_all(&buffer[..n])?;
                at += n as u64;
            }
        }
        file_start = file_end;
    }
    Ok(())
}

/// The client's side: fills `region` from `stream`, one piece at a time, and hashes each
/// piece as soon as it is complete.
fn receive(mut stream: TcpStream, region: Vec<&mut [u8]>, piece_size: usize) -> io::Result<()> {
    let len = region.iter().map(|slice| slice.len()).sum();
    let mut region = VecDeque::from(region);
    let mut left: usize = len;
    while left > 0 {
        let mut piece = take_front(&mut region, left.min(piece_size));
        for part in piece.iter_mut() {
            stream.read_exact(part)?;
        }
        let mut hasher = Sha1::new();
        for part in &piece {
            hasher.update(&**part);
        }
        // A client compares the digest with the torrent's; keep it, so it is computed.
        std::hint::black_box(hasher.finalize());
        left -= piece.iter().map(|part| part.len()).sum::<usize>();
    }
    Ok(())
}

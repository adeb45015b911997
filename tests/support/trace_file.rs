//! Reading back a `--trace FILE` transcript (one JSON object per line, see `src/extras/trace/mod.rs`)
//! to count what a run fetched (the `request` messages smalltorrent sent) and what it said
//! and heard through peer exchange (the `ut_pex` messages, both ways).
//!
//! ```text
//! {"t":9,"peer":"127.0.0.2:6881","dir":"out","msg":"request","piece":0,"offset":0,"length":16384}
//! {"t":5003,"peer":"127.0.0.3:6881","dir":"in","msg":"extended","ext":"ut_pex","added":2,"dropped":0}
//! ```

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

/// The block size every client requests (the last block of a piece may be shorter).
pub const BLOCK: u64 = 16 * 1024;

/// One `request` message sent: a block of a piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Request {
    pub piece: u32,
    pub offset: u32,
    pub length: u32,
}

/// Every `request` message the traced run sent, to any peer, in order. Panics if the trace
/// cannot be read or a request line lacks a field.
pub fn requests_sent(trace: &Path) -> Vec<Request> {
    let text = fs::read_to_string(trace)
        .unwrap_or_else(|e| panic!("cannot read the trace {}: {e}", trace.display()));
    text.lines()
        .filter(|line| line.contains("\"dir\":\"out\",\"msg\":\"request\""))
        .map(|line| {
            let field = |key| {
                number(line, key)
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or_else(|| panic!("no {key:?} in the trace line {line}"))
            };
            Request {
                piece: field("piece"),
                offset: field("offset"),
                length: field("length"),
            }
        })
        .collect()
}

/// One `ut_pex` message in the trace: with whom, and how many peers it added and dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PexLine {
    pub peer: String,
    pub added: u64,
    pub dropped: u64,
}

/// Every `ut_pex` message the traced run sent (`dir` "out") or received ("in"), in order.
pub fn pex_messages(trace: &Path, dir: &str) -> Vec<PexLine> {
    let text = fs::read_to_string(trace)
        .unwrap_or_else(|e| panic!("cannot read the trace {}: {e}", trace.display()));
    let wanted = format!("\"dir\":\"{dir}\",\"msg\":\"extended\",\"ext\":\"ut_pex\"");
    text.lines()
        .filter(|line| line.contains(&wanted))
        .map(|line| PexLine {
            peer: string(line, "peer").unwrap_or_default().to_string(),
            added: number(line, "added").unwrap_or_else(|| panic!("no added in {line}")),
            dropped: number(line, "dropped").unwrap_or_else(|| panic!("no dropped in {line}")),
        })
        .collect()
}

/// True if the trace has a `dir` message `msg` (`piece`, `bitfield`...) with `peer`.
pub fn has_message(trace: &Path, peer: &str, dir: &str, msg: &str) -> bool {
    let text = fs::read_to_string(trace).unwrap_or_default();
    let wanted = format!("\"peer\":\"{peer}\",\"dir\":\"{dir}\",\"msg\":\"{msg}\"");
    text.lines().any(|line| line.contains(&wanted))
}

/// The pieces that at least one request asked for.
pub fn pieces_of(requests: &[Request]) -> BTreeSet<u32> {
    requests.iter().map(|r| r.piece).collect()
}

/// The requests that fetch each block of `pieces` exactly once, for a torrent of `total`
/// bytes in pieces of `piece_len` bytes: 16 KiB blocks, the last block of the last piece
/// shorter if the payload ends mid-block.
pub fn blocks_of(
    total: u64,
    piece_len: u64,
    pieces: impl IntoIterator<Item = u32>,
) -> BTreeSet<Request> {
    let mut blocks = BTreeSet::new();
    for piece in pieces {
        let start = u64::from(piece) * piece_len;
        let len = piece_len.min(total - start);
        for offset in (0..len).step_by(BLOCK as usize) {
            blocks.insert(Request {
                piece,
                offset: offset as u32,
                length: BLOCK.min(len - offset) as u32,
            });
        }
    }
    blocks
}

/// The string field `key` of one trace line (`"key":"text"`; our fields have no escapes).
fn string<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!("\"{key}\":\""))? + key.len() + 4;
    let len = line[start..].find('"')?;
    Some(&line[start..start + len])
}

/// The unsigned integer field `key` of one trace line (`"key":123`).
fn number(line: &str, key: &str) -> Option<u64> {
    let start = line.find(&format!("\"{key}\":"))? + key.len() + 3;
    let digits = line[start..]
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(line.len() - start);
    line[start..start + digits].parse().ok()
}

//! `--trace FILE`: a JSONL transcript of one download or seed, for study.
//!
//! * Joins the core through: the [`Transcript`] trait (`src/transcript.rs`), which
//!   [`TraceFile`] implements. The command line creates the file from `--trace FILE`, hands
//!   it to `download::run` in a `Tracer`, and flushes it once the run is over.
//! * Runs on: whichever thread has something to record: every peer thread (messages sent
//!   and received, its choke and interest flags), the hasher (pieces completed or failed).
//!   There is no tracer thread.
//! * Owns: the trace file, behind one `Mutex<BufWriter<File>>`, and the instant the
//!   transcript started (every line's `t` counts milliseconds from it).
//!
//! Why a mutex and not a channel to a writer thread: a line is built before the lock is
//! taken, and holding the lock only copies it into an 8 KiB buffer (a `write` system call
//! every few dozen lines), so peer threads wait on each other for microseconds. A writer
//! thread would add a thread to start, feed and join in the shutdown order, for no gain at
//! these rates. The buffer is flushed by [`TraceFile::flush`] at the end of the run (and on
//! drop).
//!
//! The format, one JSON object per line (documented in the README):
//! ```text
//! {"t":0,"event":"trace_start"}
//! {"t":3,"peer":"127.0.0.2:6881","dir":"out","msg":"handshake"}
//! {"t":5,"peer":"127.0.0.2:6881","dir":"in","msg":"bitfield","length":1}
//! {"t":5,"peer":"127.0.0.2:6881","state":"am_interested","value":true}
//! {"t":9,"peer":"127.0.0.2:6881","event":"piece_requested","piece":0}
//! {"t":9,"peer":"127.0.0.2:6881","dir":"out","msg":"request","piece":0,"offset":0,"length":16384}
//! {"t":12,"event":"piece_completed","piece":0}
//! ```

pub mod summary;

use crate::transcript::{Direction, Flag, PieceEvent, Transcript};
use crate::wire::Message;
use parking_lot::Mutex;
use std::fmt::{self, Write as _};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// A direction's name in the trace.
fn direction_name(dir: Direction) -> &'static str {
    match dir {
        Direction::In => "in",
        Direction::Out => "out",
    }
}

/// A flag's name in the trace (BEP 3's).
fn flag_name(flag: Flag) -> &'static str {
    match flag {
        Flag::AmChoking => "am_choking",
        Flag::AmInterested => "am_interested",
        Flag::PeerChoking => "peer_choking",
        Flag::PeerInterested => "peer_interested",
    }
}

/// A piece event's name in the trace.
fn event_name(event: PieceEvent) -> &'static str {
    match event {
        PieceEvent::Requested => "piece_requested",
        PieceEvent::Completed => "piece_completed",
        PieceEvent::HashFailed => "piece_hash_failed",
    }
}

/// Why a trace could not be written.
#[derive(Debug)]
pub enum TraceError {
    /// The trace file could not be created.
    Create { path: PathBuf, source: io::Error },
    /// Writing to the trace file failed (the disk is full?): the transcript is incomplete.
    Write(io::Error),
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceError::Create { path, source } => {
                write!(
                    f,
                    "cannot create the trace file {}: {source}",
                    path.display()
                )
            }
            TraceError::Write(e) => write!(f, "writing the trace failed, it is incomplete: {e}"),
        }
    }
}

impl std::error::Error for TraceError {}

/// The `--trace` file: the [`Transcript`] the command line hands to `download::run`
/// (wrapped in the core's `Tracer`), and flushes once the run is over.
pub struct TraceFile {
    started: Instant,
    out: Mutex<BufWriter<File>>,
    /// Set at the first write error, which is logged once; later lines are dropped.
    failed: AtomicBool,
}

impl fmt::Debug for TraceFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TraceFile")
    }
}

impl TraceFile {
    /// A transcript written to a new file at `path` (replacing any file there); its first
    /// line is `trace_start`.
    pub fn create(path: &Path) -> Result<TraceFile, TraceError> {
        let file = File::create(path).map_err(|source| TraceError::Create {
            path: path.to_path_buf(),
            source,
        })?;
        let trace = TraceFile {
            started: Instant::now(),
            out: Mutex::new(BufWriter::new(file)),
            failed: AtomicBool::new(false),
        };
        trace.line(None, |text| text.push_str(",\"event\":\"trace_start\""));
        Ok(trace)
    }

    /// Writes out what is buffered. Reports the first write error of the whole run.
    pub fn flush(&self) -> Result<(), TraceError> {
        let flushed = self.out.lock().flush();
        if self.failed.load(Ordering::Relaxed) {
            return Err(TraceError::Write(io::Error::other(
                "a line could not be written",
            )));
        }
        flushed.map_err(TraceError::Write)
    }

    /// Builds one line, `{"t":..[,"peer":".."]` + what `fields` appends + `}`, and writes it.
    fn line(&self, peer: Option<SocketAddr>, fields: impl FnOnce(&mut String)) {
        if self.failed.load(Ordering::Relaxed) {
            return;
        }
        let mut text = String::with_capacity(128);
        let _ = write!(text, "{{\"t\":{}", self.started.elapsed().as_millis());
        if let Some(peer) = peer {
            // A socket address has no character that JSON would need escaped.
            let _ = write!(text, ",\"peer\":\"{peer}\"");
        }
        fields(&mut text);
        text.push_str("}\n");
        let written = self.out.lock().write_all(text.as_bytes());
        if let Err(error) = written
            && !self.failed.swap(true, Ordering::Relaxed)
        {
            log::error!("trace: {error}; no more lines will be written");
        }
    }
}

impl Transcript for TraceFile {
    fn message(&self, peer: SocketAddr, dir: Direction, message: &Message) {
        if let Message::Extended { .. } = message {
            // Recorded decoded, by `extended`, by the code that knows the extension's name.
            return;
        }
        let (name, fields) = describe(message);
        self.wire(peer, dir, name, &fields);
    }

    fn wire(&self, peer: SocketAddr, dir: Direction, name: &str, fields: &[(&str, u64)]) {
        self.line(Some(peer), |text| {
            let _ = write!(
                text,
                ",\"dir\":\"{}\",\"msg\":\"{name}\"",
                direction_name(dir)
            );
            for (key, value) in fields {
                let _ = write!(text, ",\"{key}\":{value}");
            }
        });
    }

    fn extended(&self, peer: SocketAddr, dir: Direction, ext: &str, fields: &[(&str, u64)]) {
        self.line(Some(peer), |text| {
            let dir = direction_name(dir);
            let _ = write!(
                text,
                ",\"dir\":\"{dir}\",\"msg\":\"extended\",\"ext\":\"{ext}\""
            );
            for (key, value) in fields {
                let _ = write!(text, ",\"{key}\":{value}");
            }
        });
    }

    fn flag(&self, peer: SocketAddr, flag: Flag, value: bool) {
        self.line(Some(peer), |text| {
            let _ = write!(text, ",\"state\":\"{}\",\"value\":{value}", flag_name(flag));
        });
    }

    fn piece(&self, peer: Option<SocketAddr>, event: PieceEvent, piece: u32) {
        self.line(peer, |text| {
            let _ = write!(
                text,
                ",\"event\":\"{}\",\"piece\":{piece}",
                event_name(event)
            );
        });
    }
}

/// A message's name in the trace and its fields (never block data).
fn describe(message: &Message) -> (&'static str, Vec<(&'static str, u64)>) {
    let block = |b: &crate::geometry::BlockRef| {
        vec![
            ("piece", u64::from(b.piece)),
            ("offset", u64::from(b.offset)),
            ("length", u64::from(b.length)),
        ]
    };
    match message {
        Message::KeepAlive => ("keep_alive", Vec::new()),
        Message::Choke => ("choke", Vec::new()),
        Message::Unchoke => ("unchoke", Vec::new()),
        Message::Interested => ("interested", Vec::new()),
        Message::NotInterested => ("not_interested", Vec::new()),
        Message::Have(piece) => ("have", vec![("piece", u64::from(*piece))]),
        Message::Bitfield(bytes) => ("bitfield", vec![("length", bytes.len() as u64)]),
        Message::Request(b) => ("request", block(b)),
        Message::Cancel(b) => ("cancel", block(b)),
        Message::Piece {
            piece,
            offset,
            data,
        } => (
            "piece",
            vec![
                ("piece", u64::from(*piece)),
                ("offset", u64::from(*offset)),
                ("length", data.len() as u64),
            ],
        ),
        Message::Port(port) => ("port", vec![("port", u64::from(*port))]),
        Message::SuggestPiece(piece) => ("suggest_piece", vec![("piece", u64::from(*piece))]),
        Message::HaveAll => ("have_all", Vec::new()),
        Message::HaveNone => ("have_none", Vec::new()),
        Message::RejectRequest(b) => ("reject_request", block(b)),
        Message::AllowedFast(piece) => ("allowed_fast", vec![("piece", u64::from(*piece))]),
        Message::Extended { id, payload } => (
            "extended",
            vec![("id", u64::from(*id)), ("length", payload.len() as u64)],
        ),
        Message::Unknown { id, len } => (
            "unknown",
            vec![("id", u64::from(*id)), ("length", u64::from(*len))],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::BlockRef;
    use crate::transcript::Tracer;
    use std::sync::Arc;

    #[test]
    fn lines_are_json_objects_with_time_peer_and_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        let file = Arc::new(TraceFile::create(&path).unwrap());
        let tracer = Tracer::new(file.clone());
        let peer: SocketAddr = "127.0.0.2:6881".parse().unwrap();
        let block = BlockRef {
            piece: 1,
            offset: 16384,
            length: 16384,
        };
        tracer.message(peer, Direction::Out, &Message::Request(block));
        tracer.flag(peer, Flag::PeerChoking, false);
        tracer.piece(None, PieceEvent::HashFailed, 7);
        file.flush().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(
            lines[0].ends_with(",\"event\":\"trace_start\"}"),
            "{}",
            lines[0]
        );
        assert!(lines[1].ends_with(
            ",\"peer\":\"127.0.0.2:6881\",\"dir\":\"out\",\"msg\":\"request\",\
             \"piece\":1,\"offset\":16384,\"length\":16384}"
        ));
        assert!(lines[2].ends_with(",\"state\":\"peer_choking\",\"value\":false}"));
        assert!(lines[3].ends_with(",\"event\":\"piece_hash_failed\",\"piece\":7}"));
        for line in lines {
            summary::parse_line(line).unwrap();
        }
    }

    /// BEP 6's messages get the names of the spec, with their fields.
    #[test]
    fn fast_extension_messages_have_their_names() {
        let block = BlockRef {
            piece: 3,
            offset: 16384,
            length: 16384,
        };
        let table = [
            (Message::HaveAll, "have_all", vec![]),
            (Message::HaveNone, "have_none", vec![]),
            (
                Message::SuggestPiece(5),
                "suggest_piece",
                vec![("piece", 5)],
            ),
            (Message::AllowedFast(6), "allowed_fast", vec![("piece", 6)]),
            (
                Message::RejectRequest(block),
                "reject_request",
                vec![("piece", 3), ("offset", 16384), ("length", 16384)],
            ),
        ];
        for (message, name, fields) in table {
            assert_eq!(describe(&message), (name, fields));
        }
    }

    #[test]
    fn block_data_is_never_written() {
        let (name, fields) = describe(&Message::Piece {
            piece: 2,
            offset: 0,
            data: vec![0xAB; 100],
        });
        assert_eq!(name, "piece");
        assert_eq!(fields, [("piece", 2), ("offset", 0), ("length", 100)]);
    }
}

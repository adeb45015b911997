//! The transcript hooks: how the core reports every message and state change to whoever
//! records them (`--trace FILE`, for one), without knowing who that is.
//!
//! * Called by: every peer thread (messages sent and received, the handshakes, its choke
//!   and interest flags, the first request for a piece) and the hasher (pieces verified or
//!   failed), each through its clone of one [`Tracer`].
//! * Owns: nothing; a [`Tracer`] holds an `Arc` of the [`Transcript`] its caller gave
//!   `download::run` (`download::Options::tracer`), or nothing at all.
//!
//! It sits around the core rather than in `peer/` because the hasher reports too. The
//! interface is one object-safe trait, [`Transcript`], and the small enums its methods take;
//! the JSONL file, its format and its errors belong to the implementation. A disabled
//! [`Tracer`] (the default) is `None` inside: each hook then costs one branch, and a
//! caller that would build something only for the transcript asks
//! [`Tracer::is_enabled`] first.

use crate::wire::Message;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Received from the peer.
    In,
    /// Sent to the peer.
    Out,
}

/// One of the four flags of a connection's state machine (BEP 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    /// We refuse the peer's requests.
    AmChoking,
    /// We want pieces the peer has.
    AmInterested,
    /// The peer refuses our requests.
    PeerChoking,
    /// The peer wants pieces we have.
    PeerInterested,
}

/// What happened to a piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceEvent {
    /// A peer thread sent the first request for a block of this piece to its peer.
    Requested,
    /// Every block is on disk and the SHA-1 matched.
    Completed,
    /// Every block is on disk and the SHA-1 did not match: it will be fetched again.
    HashFailed,
}

/// Someone recording what a download does. Called from many threads at once, so a method
/// should only copy what it needs and return: a peer thread waits for it.
pub trait Transcript: Send + Sync {
    /// A message sent or received. A `piece` message carries its block: a transcript keeps
    /// its length, never the data.
    fn message(&self, peer: SocketAddr, dir: Direction, message: &Message);

    /// A wire event that is no [`Message`], by name with its numeric fields: the
    /// `handshake`, and `piece` messages sent straight from the map (no [`Message`] is
    /// built for them).
    fn wire(&self, peer: SocketAddr, dir: Direction, name: &str, fields: &[(&str, u64)]);

    /// An extension message (BEP 10) sent or received, decoded: `ext` is `handshake` or
    /// the extension's name (`ut_metadata`, `ut_pex`), with its numeric fields.
    fn extended(&self, peer: SocketAddr, dir: Direction, ext: &str, fields: &[(&str, u64)]);

    /// A flag of the connection's state machine changed.
    fn flag(&self, peer: SocketAddr, flag: Flag, value: bool);

    /// Something happened to a piece (`peer`: who it was requested from, if anyone).
    fn piece(&self, peer: Option<SocketAddr>, event: PieceEvent, piece: u32);
}

/// The core's handle on the transcript, cloned into every thread that reports something.
/// See the module documentation.
#[derive(Clone, Default)]
pub struct Tracer(Option<Arc<dyn Transcript>>);

impl fmt::Debug for Tracer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Tracer(on)"
        } else {
            "Tracer(off)"
        })
    }
}

impl Tracer {
    /// A tracer that reports to nobody.
    pub fn disabled() -> Tracer {
        Tracer(None)
    }

    /// A tracer that reports to `transcript`.
    pub fn new(transcript: Arc<dyn Transcript>) -> Tracer {
        Tracer(Some(transcript))
    }

    /// True when someone records: worth building what only the transcript needs.
    pub fn is_enabled(&self) -> bool {
        self.0.is_some()
    }

    /// See [`Transcript::message`].
    pub fn message(&self, peer: SocketAddr, dir: Direction, message: &Message) {
        if let Some(transcript) = &self.0 {
            transcript.message(peer, dir, message);
        }
    }

    /// See [`Transcript::wire`].
    pub fn wire(&self, peer: SocketAddr, dir: Direction, name: &str, fields: &[(&str, u64)]) {
        if let Some(transcript) = &self.0 {
            transcript.wire(peer, dir, name, fields);
        }
    }

    /// See [`Transcript::extended`].
    pub fn extended(&self, peer: SocketAddr, dir: Direction, ext: &str, fields: &[(&str, u64)]) {
        if let Some(transcript) = &self.0 {
            transcript.extended(peer, dir, ext, fields);
        }
    }

    /// See [`Transcript::flag`].
    pub fn flag(&self, peer: SocketAddr, flag: Flag, value: bool) {
        if let Some(transcript) = &self.0 {
            transcript.flag(peer, flag, value);
        }
    }

    /// See [`Transcript::piece`].
    pub fn piece(&self, peer: Option<SocketAddr>, event: PieceEvent, piece: u32) {
        if let Some(transcript) = &self.0 {
            transcript.piece(peer, event, piece);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parking_lot::Mutex;

    /// A transcript that keeps each call as a line of text.
    #[derive(Default)]
    struct Lines(Mutex<Vec<String>>);

    impl Transcript for Lines {
        fn message(&self, peer: SocketAddr, dir: Direction, message: &Message) {
            let line = format!("{peer} {dir:?} {}", message.summary());
            self.0.lock().push(line);
        }
        fn wire(&self, peer: SocketAddr, dir: Direction, name: &str, fields: &[(&str, u64)]) {
            self.0
                .lock()
                .push(format!("{peer} {dir:?} {name} {fields:?}"));
        }
        fn extended(&self, peer: SocketAddr, dir: Direction, ext: &str, fields: &[(&str, u64)]) {
            let line = format!("{peer} {dir:?} extended {ext} {fields:?}");
            self.0.lock().push(line);
        }
        fn flag(&self, peer: SocketAddr, flag: Flag, value: bool) {
            self.0.lock().push(format!("{peer} {flag:?} {value}"));
        }
        fn piece(&self, peer: Option<SocketAddr>, event: PieceEvent, piece: u32) {
            self.0.lock().push(format!("{peer:?} {event:?} {piece}"));
        }
    }

    #[test]
    fn a_disabled_tracer_reports_nothing() {
        let tracer = Tracer::disabled();
        assert!(!tracer.is_enabled());
        tracer.piece(None, PieceEvent::Completed, 0);
        assert_eq!(format!("{tracer:?}"), "Tracer(off)");
    }

    #[test]
    fn an_enabled_tracer_hands_every_call_to_its_transcript() {
        let lines = Arc::new(Lines::default());
        let tracer = Tracer::new(lines.clone());
        assert!(tracer.is_enabled());
        let peer: SocketAddr = "127.0.0.2:6881".parse().unwrap();
        tracer.message(peer, Direction::In, &Message::Unchoke);
        tracer.wire(peer, Direction::Out, "handshake", &[]);
        tracer.clone().flag(peer, Flag::AmInterested, true);
        tracer.piece(Some(peer), PieceEvent::Requested, 3);
        let lines = lines.0.lock();
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert!(lines[0].starts_with("127.0.0.2:6881 In "), "{}", lines[0]);
        assert_eq!(lines[1], "127.0.0.2:6881 Out handshake []");
        assert_eq!(lines[2], "127.0.0.2:6881 AmInterested true");
        assert_eq!(lines[3], "Some(127.0.0.2:6881) Requested 3");
    }
}

//! The extension protocol (BEP 10) on one connection: our extension handshake, the peer's,
//! the `ut_metadata` requests (BEP 9) we answer from the torrent's metadata, and the
//! `ut_pex` messages (BEP 11), which `pex.rs` handles.
//!
//! The messages themselves are decoded in [`crate::extension`]; this file decides what a
//! connection does with them. A connection that waits for the metadata (a magnet link)
//! also *asks* for it: that is `magnet.rs`.

use super::connection::Connection;
use super::{PeerError, Shared};
use crate::extension::metadata::{self, MetadataMessage};
use crate::extension::{Handshake, Ours, UT_METADATA, UT_PEX};
use crate::metadata::MAX_SIZE;
use crate::transcript::{Direction, Tracer};
use crate::wire::Message;
use std::net::SocketAddr;

/// Past this many bytes waiting to go out, a metadata request is refused rather than
/// answered: a peer that asks and never reads must not grow our buffer.
const MAX_UNSENT_FOR_METADATA: usize = 1024 * 1024;

/// Our extension handshake: `ut_metadata`, with `metadata_size` once we know it, and
/// `ut_pex` once we know the torrent is not private (`pex.rs`).
pub(super) fn our_handshake(shared: &Shared, addr: SocketAddr) -> Message {
    let metadata_size = shared.torrent().map(|t| t.info.len() as u64);
    let pex = shared.torrent().is_some_and(|t| !t.private);
    let reqq = super::upload::MAX_QUEUED_REQUESTS as u32;
    let ours = Ours {
        metadata_size,
        reqq,
        version: concat!("smalltorrent ", env!("CARGO_PKG_VERSION")),
        listen_port: shared.listen_port,
        pex,
    };
    let mut fields = vec![("reqq", u64::from(reqq))];
    fields.extend(metadata_size.map(|size| ("metadata_size", size)));
    fields.extend(pex.then_some(("ut_pex", u64::from(UT_PEX))));
    shared
        .tracer
        .extended(addr, Direction::Out, "handshake", &fields);
    ours.message()
}

/// Reads a peer's extension handshake: malformed, or announcing metadata larger than any
/// torrent we accept, is a reason to drop it (before anything is allocated for the size).
pub(super) fn read_handshake(
    payload: &[u8],
    addr: SocketAddr,
    tracer: &Tracer,
) -> Result<Handshake, PeerError> {
    let theirs = Handshake::decode(payload).map_err(|e| misbehaved(addr, e.to_string()))?;
    let mut fields = Vec::new();
    fields.extend(theirs.metadata_size.map(|size| ("metadata_size", size)));
    fields.extend(theirs.ut_metadata.map(|id| ("ut_metadata", u64::from(id))));
    fields.extend(theirs.ut_pex.map(|id| ("ut_pex", u64::from(id))));
    tracer.extended(addr, Direction::In, "handshake", &fields);
    if let Some(size) = theirs.metadata_size
        && size > MAX_SIZE
    {
        return Err(misbehaved(
            addr,
            format!("announced metadata of {size} bytes (the limit is {MAX_SIZE})"),
        ));
    }
    Ok(theirs)
}

/// Decodes a `ut_metadata` message and records it in the trace.
pub(super) fn read_metadata_message(
    payload: &[u8],
    addr: SocketAddr,
    tracer: &Tracer,
) -> Result<Option<MetadataMessage>, PeerError> {
    let message = MetadataMessage::decode(payload).map_err(|e| misbehaved(addr, e.to_string()))?;
    if let Some(message) = &message {
        trace_metadata(tracer, addr, Direction::In, message);
    }
    Ok(message)
}

/// Records a `ut_metadata` message in the trace: its BEP 9 `msg_type`, its piece.
pub(super) fn trace_metadata(
    tracer: &Tracer,
    addr: SocketAddr,
    dir: Direction,
    message: &MetadataMessage,
) {
    let (msg_type, piece) = match message {
        MetadataMessage::Request { piece } => (0, piece),
        MetadataMessage::Data { piece, .. } => (1, piece),
        MetadataMessage::Reject { piece } => (2, piece),
    };
    let fields = [("msg_type", msg_type), ("piece", u64::from(*piece))];
    tracer.extended(addr, dir, "ut_metadata", &fields);
}

/// The answer to a request for metadata piece `piece`: the piece if we have the metadata
/// and room to send it, else a reject.
pub(super) fn answer(info: Option<&[u8]>, piece: u32, unsent: usize) -> MetadataMessage {
    match info.and_then(|info| Some((info.len(), metadata::piece_of(info, piece)?))) {
        Some((size, data)) if unsent <= MAX_UNSENT_FOR_METADATA => MetadataMessage::Data {
            piece,
            total_size: size as u64,
            data: data.to_vec(),
        },
        _ => MetadataMessage::Reject { piece },
    }
}

/// A reason to drop the peer at `addr`, logged as the connection logs every other
/// misbehaviour.
fn misbehaved(addr: SocketAddr, what: String) -> PeerError {
    log::info!("peer {addr}: {what}; disconnecting");
    PeerError::Misbehaved(what)
}

impl Connection {
    /// An extension message, once the torrent is known: a newer handshake, a metadata
    /// request to answer, or peer exchange. Metadata answers that come late (we asked
    /// before we had it) are ignored.
    pub(super) fn extended(&mut self, id: u8, payload: &[u8]) -> Result<(), PeerError> {
        let tracer = self.shared.tracer.clone();
        match id {
            0 => {
                let theirs = read_handshake(payload, self.addr, &tracer)?;
                let size = self.torrent.info.len() as u64;
                if let Some(said) = theirs.metadata_size.filter(|&said| said != size) {
                    return Err(self.misbehaved(format!(
                        "announced metadata of {said} bytes; this torrent's is {size}"
                    )));
                }
                self.registration.learned(&theirs);
                self.theirs = Some(theirs);
            }
            UT_METADATA => {
                let request = read_metadata_message(payload, self.addr, &tracer)?;
                if let Some(MetadataMessage::Request { piece }) = request {
                    self.answer_metadata_request(piece);
                }
            }
            UT_PEX => self.pex_received(payload)?,
            _ => log::debug!("peer {}: ignored extension message {id}", self.addr),
        }
        Ok(())
    }

    /// Sends metadata piece `piece` (or a reject) to a peer that numbered `ut_metadata`.
    pub(super) fn answer_metadata_request(&mut self, piece: u32) {
        let Some(id) = self.theirs.as_ref().and_then(|t| t.ut_metadata) else {
            // It asked with an extension it never announced: nothing to answer with.
            return;
        };
        let reply = answer(Some(&self.torrent.info), piece, self.socket.unsent());
        trace_metadata(&self.shared.tracer, self.addr, Direction::Out, &reply);
        reply.to_message(id).encode(self.socket.queue());
    }
}

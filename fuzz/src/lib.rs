//! The bodies of the fuzz targets: one function per parser that takes untrusted bytes.
//!
//! Each calls public smalltorrent functions only and checks what must hold for any input:
//! no panic, and for what is accepted, the properties below (a failed check panics, which
//! is what a fuzzer reports). The cargo-fuzz targets in `fuzz_targets/` call these, and the
//! root test `tests/fuzz_targets.rs` includes this file and feeds them the corpus and
//! 100,000 mutated inputs each, so they run on stable in every `cargo test`.

use smalltorrent::bencode;
use smalltorrent::metainfo::{FileKind, Metainfo};
use smalltorrent::tracker::http::parse_announce_body;
use smalltorrent::wire::{DEFAULT_MAX_LEN, HANDSHAKE_LEN, Handshake, Message, MessageReader};
use std::path::Component;

/// Bencode: what decodes encodes back to the same bytes (the decoder refuses every
/// non-canonical number, and keeps dictionary order).
pub fn bencode(data: &[u8]) {
    if let Ok(value) = bencode::decode(data) {
        let mut out = Vec::new();
        bencode::encode(&value, &mut out);
        assert_eq!(out, data, "decode then encode changed the bytes");
    }
    if let Ok((_, used)) = bencode::decode_prefix(data) {
        assert!(used <= data.len());
    }
    let _ = bencode::raw_dict_value(data, "info");
}

/// Metainfo: an accepted torrent is consistent (hashes match the size, files are laid end
/// to end, every path stays below the download folder).
pub fn metainfo(data: &[u8]) {
    let Ok(meta) = Metainfo::from_bytes(data) else {
        return;
    };
    let geometry = meta.geometry();
    assert_eq!(meta.pieces.len() as u64, u64::from(geometry.piece_count));
    assert!(meta.total_length > 0 && meta.piece_length > 0);
    let mut offset = 0u64;
    for file in &meta.files {
        assert_eq!(file.offset, offset, "files are not laid end to end");
        offset += file.length;
        assert!(is_safe(&file.path), "unsafe path {:?}", file.path);
        if let FileKind::Symlink { target } = &file.kind {
            assert!(is_safe(target), "unsafe symlink target {target:?}");
        }
    }
    assert_eq!(offset, meta.total_length);
    assert!(!meta.name.is_empty());
}

/// Relative, and made only of normal elements.
fn is_safe(path: &std::path::Path) -> bool {
    path.components().count() > 0
        && path
            .components()
            .all(|component| matches!(component, Component::Normal(_)))
}

/// Peer wire: the handshake parser, then the frame reader over the rest; every message
/// read encodes back to bytes that read as the same message.
pub fn wire(data: &[u8]) {
    if let Some(handshake) = data.get(..HANDSHAKE_LEN) {
        let bytes: &[u8; HANDSHAKE_LEN] = handshake.try_into().expect("68 bytes");
        if let Ok(parsed) = Handshake::parse(bytes) {
            assert_eq!(Handshake::parse(&parsed.to_bytes()).ok(), Some(parsed));
        }
    }
    let mut reader = MessageReader::new(DEFAULT_MAX_LEN);
    let mut input = data;
    // Every frame takes at least 4 bytes, so this bound is never the one that stops.
    for _ in 0..=data.len() / 4 {
        match reader.read_from(&mut input) {
            Ok(Some(message)) => round_trip(&message),
            Ok(None) | Err(_) => break,
        }
    }
    assert!(reader.bytes_read() <= data.len() as u64);
}

fn round_trip(message: &Message) {
    if matches!(message, Message::Unknown { .. }) {
        return; // its payload was skipped, not kept
    }
    let mut bytes = Vec::new();
    message.encode(&mut bytes);
    let again = MessageReader::new(DEFAULT_MAX_LEN).read_from(&mut bytes.as_slice());
    assert_eq!(again.ok().flatten().as_ref(), Some(message));
}

/// Tracker replies over HTTP: the bencoded body.
pub fn tracker_http(data: &[u8]) {
    if let Ok(reply) = parse_announce_body(data) {
        assert!(!reply.interval.is_zero());
    }
}

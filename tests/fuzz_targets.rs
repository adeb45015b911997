//! The cargo-fuzz targets of `fuzz/`, run as ordinary tests on stable Rust: each target's
//! body (`fuzz/src/lib.rs`, included here as a module) gets its seeds as they are, then
//! 100,000 random and mutated inputs. A body panics when a parser panics or when an
//! accepted input breaks a property (see the bodies), so these are the fuzzers' checks
//! without the fuzzer's coverage guidance. Reproducible: the generator has a fixed seed.

#[path = "../fuzz/src/lib.rs"]
mod bodies;

use smalltorrent::bencode::OwnedValue;
use smalltorrent::geometry::BlockRef;
use smalltorrent::random::Rng;
use smalltorrent::wire::{Handshake, Message};
use std::path::PathBuf;

const ROUNDS: usize = 100_000;

/// The `.torrent` files of the corpus (`$SMALLTORRENT_CORPUS` or the repository's
/// `data/torrents/`) up to 16 KiB.
fn corpus_torrents() -> Vec<Vec<u8>> {
    let dir = std::env::var_os("SMALLTORRENT_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/data/torrents").into());
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus not found at {}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| Some(entry.ok()?.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "torrent"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .torrent in {}", dir.display());
    files
        .iter()
        .filter_map(|path| std::fs::read(path).ok())
        .filter(|bytes| bytes.len() <= 16 * 1024)
        .collect()
}

/// A small valid torrent, so the metainfo seeds are never empty.
fn built_torrent() -> Vec<u8> {
    let info = OwnedValue::dict([
        ("length", OwnedValue::Int(40_000)),
        ("name", OwnedValue::bytes(*b"a")),
        ("piece length", OwnedValue::Int(16_384)),
        ("pieces", OwnedValue::bytes(vec![1; 60])),
    ]);
    OwnedValue::dict([("info", info)]).to_bytes()
}

/// Runs `body` on every seed, then on [`ROUNDS`] inputs: one in four random bytes from
/// `alphabet` (plus any byte now and then), the rest mutated seeds.
fn fuzz(body: fn(&[u8]), seeds: &[Vec<u8>], alphabet: &[u8]) {
    for seed in seeds {
        body(seed);
    }
    let mut rng = Rng::with_seed(0xf022);
    for round in 0..ROUNDS {
        let input = if round % 4 == 0 || seeds.is_empty() {
            random_input(&mut rng, alphabet)
        } else {
            let first = &seeds[rng.below(seeds.len())];
            let second = &seeds[rng.below(seeds.len())];
            mutate(first, second, alphabet, &mut rng)
        };
        body(&input);
    }
}

fn random_input(rng: &mut Rng, alphabet: &[u8]) -> Vec<u8> {
    let length = rng.below(96);
    let pick = |rng: &mut Rng| match rng.below(8) {
        0 => rng.next_u64() as u8,
        _ => alphabet[rng.below(alphabet.len())],
    };
    (0..length).map(|_| pick(rng)).collect()
}

/// `seed` with one to four edits: a byte changed (to anything, or to a byte of the
/// format), cut short, a byte inserted, a run deleted or a run spliced in from `other`.
fn mutate(seed: &[u8], other: &[u8], alphabet: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(6) {
            0 if at < bytes.len() => bytes[at] = rng.next_u64() as u8,
            1 if at < bytes.len() => bytes[at] = alphabet[rng.below(alphabet.len())],
            2 => bytes.truncate(at),
            3 => bytes.insert(at, alphabet[rng.below(alphabet.len())]),
            4 if !other.is_empty() => {
                let from = rng.below(other.len());
                let end = (from + 1 + rng.below(32)).min(other.len());
                bytes.splice(at..at, other[from..end].iter().copied());
            }
            _ if at < bytes.len() => {
                let end = (at + rng.below(16)).min(bytes.len());
                bytes.drain(at..end);
            }
            _ => {}
        }
    }
    bytes
}

const BENCODE_ALPHABET: &[u8] = b"ilde0123456789:-";

#[test]
fn bencode_target() {
    let mut seeds = corpus_torrents();
    seeds.extend(
        [
            &b"i-42e"[..],
            b"4:spam",
            b"l4:spami1ee",
            b"d1:ai1e1:bl0:ee",
            b"de",
            b"le",
        ]
        .map(<[u8]>::to_vec),
    );
    fuzz(bodies::bencode, &seeds, BENCODE_ALPHABET);
}

#[test]
fn metainfo_target() {
    let mut seeds = corpus_torrents();
    seeds.push(built_torrent());
    fuzz(bodies::metainfo, &seeds, BENCODE_ALPHABET);
}

#[test]
fn wire_target() {
    let block = BlockRef {
        piece: 1,
        offset: 16_384,
        length: 16_384,
    };
    let messages = [
        Message::KeepAlive,
        Message::Choke,
        Message::Unchoke,
        Message::Interested,
        Message::NotInterested,
        Message::Have(7),
        Message::Bitfield(vec![0xff, 0x80]),
        Message::Request(block),
        Message::Piece {
            piece: 1,
            offset: 0,
            data: vec![9; 33],
        },
        Message::Cancel(block),
        Message::Port(6881),
    ];
    let handshake = Handshake::new([1; 20], [2; 20]).to_bytes().to_vec();
    let mut seeds = vec![handshake.clone()];
    for message in &messages {
        let mut bytes = handshake.clone();
        message.encode(&mut bytes);
        seeds.push(bytes[handshake.len()..].to_vec());
        seeds.push(bytes);
    }
    fuzz(bodies::wire, &seeds, &[0, 0, 0, 1, 5, 9, 13, 19, 0xff]);
}

#[test]
fn tracker_http_target() {
    let int = OwnedValue::Int;
    let replies = [
        OwnedValue::dict([
            ("interval", int(1800)),
            ("min interval", int(60)),
            ("complete", int(3)),
            ("incomplete", int(1)),
            ("peers", OwnedValue::bytes(*b"\x7f\x00\x00\x01\x1a\xe1")),
            ("peers6", OwnedValue::bytes([0u8; 18])),
        ]),
        OwnedValue::dict([(
            "peers",
            OwnedValue::List(vec![OwnedValue::dict([
                ("ip", OwnedValue::bytes(*b"10.0.0.1")),
                ("port", int(6881)),
            ])]),
        )]),
        OwnedValue::dict([("failure reason", OwnedValue::bytes(*b"not registered"))]),
        OwnedValue::dict([("warning message", OwnedValue::bytes(*b"slow down"))]),
    ];
    let seeds: Vec<Vec<u8>> = replies.iter().map(OwnedValue::to_bytes).collect();
    fuzz(bodies::tracker_http, &seeds, BENCODE_ALPHABET);
}

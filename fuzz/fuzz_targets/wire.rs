//! cargo-fuzz target: the body is `smalltorrent_fuzz::wire` (`fuzz/src/lib.rs`), which
//! `tests/fuzz_targets.rs` also runs on every `cargo test`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| smalltorrent_fuzz::wire(data));

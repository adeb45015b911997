#!/usr/bin/env bash
# Builds the fuzz targets as `cargo fuzz build` does (libFuzzer, SanitizerCoverage,
# AddressSanitizer, release with debug assertions), for machines with nightly Rust but
# without cargo-fuzz. The binaries land in $CARGO_TARGET_DIR (default fuzz/target) under
# x86_64-unknown-linux-gnu/release/; run one with e.g.
#   .../release/metainfo -max_total_time=60 CORPUS_DIR
set -euo pipefail
cd "$(dirname "$0")"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Zsanitizer=address \
-Cdebug-assertions -Coverflow-checks"
# An explicit --target keeps the sanitizer flags away from build scripts and proc macros.
exec cargo +nightly build --release --target "$(rustc +nightly -vV | sed -n 's/^host: //p')" "$@"

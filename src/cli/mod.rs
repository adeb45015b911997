//! The command line (main thread): pick the subcommand, hand it the rest of the arguments,
//! turn its outcome into one line on stderr and an exit code.
//!
//! One file per subcommand, each with its own usage text and parser: `download.rs` (the
//! default: `smalltorrent FILE.torrent`), `info.rs`, `create.rs`, `tracker.rs`, `verify.rs`,
//! `demo.rs` (a whole swarm on loopback), `trace_summary.rs`.
//!
//! Exit codes: 0 done, 1 failed (the line says why), 2 bad command line, 130 interrupted.

mod create;
mod demo;
mod dht;
mod download;
mod info;
mod trace_summary;
mod tracker;
mod verify;

use lexopt::ValueExt;
use std::ffi::OsString;

/// Exit code for a bad command line.
pub const EXIT_USAGE: i32 = 2;
/// Exit code after Ctrl-C (128 + SIGINT, as shells do).
pub const EXIT_INTERRUPTED: i32 = 130;

/// Runs the program and returns the process exit code.
pub fn main() -> i32 {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let quiet = args.iter().any(|a| a == "-q" || a == "--quiet");
    let default_level = if quiet { "error" } else { "warn" };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_level))
        .format_timestamp_millis()
        .init();
    crate::storage::sigbus::install();
    let (command, rest) = match args.split_first() {
        Some((first, rest)) => (first.to_str().unwrap_or(""), rest.to_vec()),
        None => ("", Vec::new()),
    };
    let outcome = match command {
        "info" => info::run(rest),
        "create" => create::run(rest),
        "tracker" => tracker::run(rest),
        "dht" => dht::run(rest),
        "demo" => demo::run(rest),
        "trace-summary" => trace_summary::run(rest),
        "verify" => verify::run(rest),
        "-V" | "--version" => {
            println!("smalltorrent {}", env!("CARGO_PKG_VERSION"));
            Ok(0)
        }
        _ => download::run(args),
    };
    outcome.unwrap_or_else(|message| {
        eprintln!("smalltorrent: {message}\n(try: smalltorrent --help)");
        EXIT_USAGE
    })
}

/// A channel that receives a message on Ctrl-C (or SIGTERM): how every long-running command
/// learns it should stop cleanly. The handler can be set once per process.
pub fn interrupt_channel() -> crossbeam_channel::Receiver<()> {
    let (interrupt, interrupted) = crossbeam_channel::bounded(1);
    if let Err(error) = ctrlc::set_handler(move || {
        let _ = interrupt.try_send(());
    }) {
        log::warn!("Ctrl-C will not stop cleanly: {error}");
    }
    interrupted
}

/// Reads the value of a numeric option, with an error that names the option.
pub fn number<T: std::str::FromStr>(
    parser: &mut lexopt::Parser,
    option: &str,
) -> Result<T, String> {
    let value = parser.value().map_err(|e| e.to_string())?;
    let text = value.to_string_lossy();
    text.parse()
        .map_err(|_| format!("{option} needs a number, got '{text}'"))
}

/// Reads the value of an option as a string.
pub fn text(parser: &mut lexopt::Parser) -> Result<String, String> {
    parser
        .value()
        .and_then(|v| v.string())
        .map_err(|e| e.to_string())
}

/// Reads a size in bytes: `8M`, `64MiB`, `512K`, `1G` (units of 1024), or a plain number
/// (`demo --size`, `--max-upload-rate`).
pub fn parse_size(text: &str) -> Option<u64> {
    let trimmed = text.trim();
    let end = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(end);
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return None,
    };
    digits.parse::<u64>().ok()?.checked_mul(1 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(parse_size("8M"), Some(8 << 20));
        assert_eq!(parse_size("64MiB"), Some(64 << 20));
        assert_eq!(parse_size("512k"), Some(512 << 10));
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("1000"), Some(1000));
        for bad in ["", "M", "8X", "-1", "99999999999999999999G"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }
}

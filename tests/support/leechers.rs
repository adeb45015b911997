//! Real BitTorrent clients downloading on loopback, for the upload-side tests: they must get
//! their data from the smalltorrent seeder under test.
//!
//! | leecher      | how it is started                                                  | done when          |
//! |--------------|--------------------------------------------------------------------|--------------------|
//! | libtorrent   | `/usr/bin/python3 tests/support/lt_leech.py TORRENT DIR --ip IP`     | it prints `DONE`   |
//! | aria2c       | [`aria2_download`](super::aria2_download) (`--seed-time=0`)        | it exits 0         |
//! | transmission | `transmission-cli -g CONFIG -w DIR TORRENT` (see `transmission_cli`) | the files match    |
//!
//! [`aria2_download_logged`] also passes extra options and returns aria2's log,
//! `lt_leech.py --encryption LEVEL` makes libtorrent require Message Stream Encryption, and
//! `lt_leech.py --print-peers` names each peer it connects to and how it learnt of it
//! ([`LibtorrentLeecher::wait_for_peer`]).
//!
//! Transmission keeps running (seeding) after it completes and has no "done" output we can
//! rely on, so [`TransmissionLeecher::wait_for`] polls the files until they are identical.

use super::net::free_port;
use super::payload::tree_differences_but_empty_files;
use super::process::Proc;
use super::seeders::{PYTHON, script, start_on_free_port, transmission_cli};
use super::tracker::{Opentracker, TrackerProcess};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

/// How long a leecher may take to open its listen socket or be listed by the tracker.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// libtorrent downloading with `tests/support/lt_leech.py`.
pub struct LibtorrentLeecher {
    proc: Proc,
    addr: SocketAddrV4,
}

/// Which pieces a libtorrent leecher ended with, and which pieces failed their hash check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PieceReport {
    /// One entry per piece: verified and kept.
    pub have: Vec<bool>,
    /// Pieces that arrived with bad data (a peer served something that is not the piece).
    pub hash_failed: Vec<u32>,
}

impl PieceReport {
    /// The pieces it does not have.
    pub fn missing(&self) -> Vec<usize> {
        (0..self.have.len()).filter(|&i| !self.have[i]).collect()
    }
}

impl LibtorrentLeecher {
    /// Starts downloading `torrent` into `out_dir`, listening on `ip` (port chosen by the OS)
    /// and announcing to the torrent's tracker from there. Returns once it listens.
    ///
    /// With `report_after`, it gives up once that long passes without a new verified piece
    /// (see [`LibtorrentLeecher::wait_report`]); without, it runs until done.
    pub fn start(
        torrent: &Path,
        out_dir: &Path,
        ip: Ipv4Addr,
        report_after: Option<Duration>,
    ) -> LibtorrentLeecher {
        Self::start_with(torrent, out_dir, ip, report_after, &[])
    }

    /// [`LibtorrentLeecher::start`] with more arguments for `lt_leech.py`
    /// (`--encryption rc4`).
    pub fn start_with(
        torrent: &Path,
        out_dir: &Path,
        ip: Ipv4Addr,
        report_after: Option<Duration>,
        extra: &[&str],
    ) -> LibtorrentLeecher {
        let mut cmd = Command::new(PYTHON);
        cmd.arg(script("lt_leech.py"))
            .arg(torrent)
            .arg(out_dir)
            .args(["--ip", &ip.to_string()])
            .args(extra);
        if let Some(idle) = report_after {
            cmd.args(["--report-after", &idle.as_secs_f64().to_string()]);
        }
        let mut proc = Proc::spawn(&format!("libtorrent leecher {ip}"), cmd);
        proc.wait_for_stdout("LISTENING", READY_TIMEOUT);
        let port = proc
            .stdout()
            .lines()
            .find_map(|l| l.strip_prefix("LISTENING ")?.trim().parse().ok())
            .expect("LISTENING <port> line");
        LibtorrentLeecher {
            proc,
            addr: SocketAddrV4::new(ip, port),
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddrV4 {
        self.addr
    }

    /// With `--print-peers`: waits until it is connected to `peer` and returns how it
    /// learnt of it (`pex`, `tracker` or `other`). Panics with its output after `timeout`.
    pub fn wait_for_peer(&mut self, peer: SocketAddrV4, timeout: Duration) -> String {
        let line = format!("PEER {peer} ");
        self.proc.wait_for_stdout(&line, timeout);
        let out = self.proc.stdout();
        let source = out.lines().find_map(|l| l.strip_prefix(&line));
        source.unwrap_or_default().trim().to_string()
    }

    /// With `--print-peers`: waits until it is connected to `ip` by either side (a peer
    /// that dialled it shows its ephemeral port, not its listen port).
    pub fn wait_connected_to(&mut self, ip: std::net::Ipv4Addr, timeout: Duration) {
        self.proc.wait_for_stdout(&format!("PEER {ip}:"), timeout);
    }

    /// Waits until it has every piece verified (`DONE`; it exits then). Panics with its
    /// output if it ends otherwise or `timeout` passes.
    pub fn wait_done(&mut self, timeout: Duration) {
        self.proc.wait_for_stdout("DONE", timeout);
    }

    /// Waits for its final `HAVE` line (complete, or given up after `report_after` without
    /// progress) and returns what it had, with every piece that failed its hash check.
    pub fn wait_report(&mut self, timeout: Duration) -> PieceReport {
        self.proc.wait_for_stdout("HAVE ", timeout);
        let out = self.proc.stdout();
        let have = out
            .lines()
            .find_map(|l| l.strip_prefix("HAVE "))
            .expect("HAVE line")
            .trim()
            .chars()
            .map(|c| c == '1')
            .collect();
        let hash_failed = out
            .lines()
            .filter_map(|l| l.strip_prefix("HASH_FAILED ")?.trim().parse().ok())
            .collect();
        PieceReport { have, hash_failed }
    }

    /// Its captured output, for failure messages.
    pub fn report(&self) -> String {
        self.proc.report()
    }
}

/// Downloads `torrent` into `out_dir` with libtorrent on `ip`; panics with its output unless
/// it completes within `timeout`.
pub fn lt_download(torrent: &Path, out_dir: &Path, ip: Ipv4Addr, timeout: Duration) {
    LibtorrentLeecher::start(torrent, out_dir, ip, None).wait_done(timeout);
}

/// Downloads `torrent` into `out_dir` with aria2c on `ip`, as
/// [`aria2_download`](super::aria2_download) does, with `extra` options
/// (`--bt-min-crypto-level=arc4`) and its log (`--log-level=info`) written to `log`;
/// returns the log. Panics with its output unless it completes within `timeout`.
pub fn aria2_download_logged(
    torrent: &Path,
    out_dir: &Path,
    ip: Ipv4Addr,
    timeout: Duration,
    extra: &[&str],
    log: &Path,
) -> String {
    let mut cmd = Command::new("aria2c");
    cmd.args([
        "--seed-time=0",
        "--enable-dht=false",
        "--enable-dht6=false",
        "--bt-enable-lpd=false",
        "--enable-peer-exchange=false",
        "--console-log-level=warn",
        "--summary-interval=0",
        "--log-level=info",
        &format!("--interface={ip}"),
        &format!("--listen-port={}", free_port()),
        &format!("--stop-with-process={}", std::process::id()),
    ])
    .arg(format!("--log={}", log.display()))
    .args(extra)
    .arg("-d")
    .arg(out_dir)
    .arg(torrent);
    let mut proc = Proc::spawn("aria2c leecher", cmd);
    match proc.wait_exit(timeout) {
        Ok(status) if status.success() => {}
        Ok(status) => panic!("aria2c leecher failed ({status})\n{}", proc.report()),
        Err(why) => panic!("{why}"),
    }
    std::fs::read_to_string(log).unwrap_or_default()
}

/// transmission-cli 3.00 downloading into a directory. It never dials 127.0.0.0/8 peers, so
/// only a seeder that connects to it can serve it: start it first, then the seeder, which
/// learns of it from the tracker.
pub struct TransmissionLeecher {
    proc: Proc,
    addr: SocketAddrV4,
    _config: tempfile::TempDir,
}

impl TransmissionLeecher {
    /// Starts transmission-cli downloading `torrent` into `out_dir`, bound to `ip`, and
    /// returns once the tracker lists it, so a seeder announcing next will be told about it.
    pub fn start(
        tracker: &impl TrackerProcess,
        torrent: &Path,
        out_dir: &Path,
        ip: Ipv4Addr,
    ) -> TransmissionLeecher {
        std::fs::create_dir_all(out_dir).unwrap();
        let config = tempfile::tempdir().expect("tempdir");
        let (proc, addr) = start_on_free_port("transmission leecher", ip, |port| {
            transmission_cli(config.path(), out_dir, torrent, ip, port)
        });
        tracker.wait_for_peer(torrent, addr, READY_TIMEOUT);
        TransmissionLeecher {
            proc,
            addr,
            _config: config,
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddrV4 {
        self.addr
    }

    /// Polls until `actual` (what it downloads) is byte-identical to `expected`, then stops
    /// it. Panics with the remaining differences and its output after `timeout`.
    ///
    /// Transmission 3.00 never creates the empty files of a multi-file torrent (there is
    /// nothing to download for them), so those may be missing; every other file must match.
    pub fn wait_for(&mut self, expected: &Path, actual: &Path, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let problems = tree_differences_but_empty_files(expected, actual);
            if problems.is_empty() {
                self.proc.terminate(Duration::from_secs(5));
                return;
            }
            if Instant::now() > deadline || self.proc.exited().is_some() {
                self.proc.kill();
                panic!(
                    "transmission did not download {} within {timeout:?}:\n  {}\n{}",
                    expected.display(),
                    problems.join("\n  "),
                    self.proc.report()
                );
            }
            thread::sleep(Duration::from_millis(500));
        }
    }

    /// Its captured output, for failure messages.
    pub fn report(&self) -> String {
        self.proc.report()
    }
}

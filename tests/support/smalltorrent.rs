//! smalltorrent as a serving peer: a seeder (`-s DIR`) or a leecher that keeps seeding
//! (`-d DIR --seed`), each on its own loopback address (`--bind IP --port 0`).
//!
//! The command-line contract these helpers rely on (issue 3):
//! - stderr gets a line containing `pieces valid` once the data is checked (seeders), e.g.
//!   `checked data: 63 of 64 pieces valid (98.4%)`, then `listening on IP:PORT`;
//! - SIGINT/SIGTERM stop it, with status 0 when its data is complete;
//! - on exit stderr gets `uploaded N bytes ...`.
//!
//! Check the tests against a known-good client with
//! `SMALLTORRENT_BIN=$PWD/tests/support/lt_as_smalltorrent.py`.

use super::process::{Proc, send_signal, smalltorrent_command, spawn_smalltorrent_named};
use super::tracker::{Opentracker, TrackerProcess};
use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::Path;
use std::process::ExitStatus;
use std::time::Duration;

/// How long smalltorrent may take to check its data and open its listener.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A running smalltorrent that serves; killed on drop.
pub struct SmalltorrentPeer {
    proc: Proc,
    ip: Ipv4Addr,
}

/// How a [`SmalltorrentPeer`] ended.
#[derive(Debug)]
pub struct Stopped {
    pub status: ExitStatus,
    /// From its `uploaded N bytes` line; `None` if it printed none.
    pub uploaded: Option<u64>,
    /// Everything it wrote to stderr.
    pub stderr: String,
}

impl SmalltorrentPeer {
    /// `smalltorrent TORRENT -s DIR --bind IP --port 0`: seeds what DIR holds. Returns once
    /// it listens (so after checking the data) and the tracker lists it.
    pub fn seed(
        tracker: &impl TrackerProcess,
        torrent: &Path,
        dir: &Path,
        ip: Ipv4Addr,
    ) -> SmalltorrentPeer {
        let mut peer = Self::start_seeding(torrent, dir, ip);
        let addr = peer.wait_listening(READY_TIMEOUT);
        tracker.wait_for_peer(torrent, addr, READY_TIMEOUT);
        peer
    }

    /// [`SmalltorrentPeer::seed`] with more arguments (`--max-peers 5`) and `RUST_LOG` set
    /// to `log`, for tests that read what it says about its peers.
    pub fn seed_logged(
        tracker: &Opentracker,
        torrent: &Path,
        dir: &Path,
        ip: Ipv4Addr,
        extra: &[&str],
        log: &str,
    ) -> SmalltorrentPeer {
        let mut args: Vec<OsString> = vec![torrent.into(), "-s".into(), dir.into()];
        args.extend([
            "--bind".into(),
            ip.to_string().into(),
            "--port".into(),
            "0".into(),
        ]);
        args.extend(extra.iter().map(OsString::from));
        let mut cmd = smalltorrent_command(args);
        cmd.env("RUST_LOG", log);
        let mut peer = SmalltorrentPeer {
            proc: Proc::spawn(&format!("smalltorrent seeder {ip}"), cmd),
            ip,
        };
        let addr = peer.wait_listening(READY_TIMEOUT);
        tracker.wait_for_peer(torrent, addr, READY_TIMEOUT);
        peer
    }

    /// `smalltorrent TORRENT -s DIR --bind IP --port 0`, returning at once: for a seeder
    /// that must find its leechers (already announced) through its own first announce.
    pub fn start_seeding(torrent: &Path, dir: &Path, ip: Ipv4Addr) -> SmalltorrentPeer {
        let name = format!("smalltorrent seeder {ip}");
        Self::spawn(&name, torrent, ["-s".into(), dir.into()], ip)
    }

    /// `smalltorrent TORRENT -d DIR --bind IP --port 0 --seed`: downloads into DIR, then
    /// keeps seeding until stopped. Returns at once.
    pub fn leech_and_seed(torrent: &Path, dir: &Path, ip: Ipv4Addr) -> SmalltorrentPeer {
        Self::spawn(
            &format!("smalltorrent leecher {ip}"),
            torrent,
            ["-d".into(), dir.into(), "--seed".into()],
            ip,
        )
    }

    fn spawn<const N: usize>(
        name: &str,
        torrent: &Path,
        mode: [OsString; N],
        ip: Ipv4Addr,
    ) -> SmalltorrentPeer {
        let mut args: Vec<OsString> = vec![torrent.into()];
        args.extend(mode);
        args.extend(["--bind".into(), ip.to_string().into()]);
        args.extend(["--port".into(), "0".into()]);
        SmalltorrentPeer {
            proc: spawn_smalltorrent_named(name, args),
            ip,
        }
    }

    /// Waits for its `listening on IP:PORT` line and returns that address (with the bound IP
    /// if it prints an unspecified one).
    pub fn wait_listening(&mut self, timeout: Duration) -> SocketAddrV4 {
        self.proc
            .wait_until(timeout, "a 'listening on IP:PORT' line", |p| {
                listening_addr(&p.stderr()).is_some()
            });
        let addr = listening_addr(&self.proc.stderr()).unwrap();
        if addr.ip().is_unspecified() {
            SocketAddrV4::new(self.ip, addr.port())
        } else {
            addr
        }
    }

    /// Its line about checking the data (the first containing `pieces valid`), if printed.
    pub fn checked_line(&self) -> Option<String> {
        self.stderr()
            .lines()
            .find(|l| l.contains("pieces valid"))
            .map(str::to_string)
    }

    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    pub fn name(&self) -> &str {
        self.proc.name()
    }

    pub fn stderr(&self) -> String {
        self.proc.stderr()
    }

    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.proc.exited()
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// Sends SIGINT (Ctrl-C) and waits at most `grace` for it to exit; returns how it ended
    /// and what it says it uploaded. Panics with its output if it does not exit in time.
    pub fn interrupt(&mut self, grace: Duration) -> Stopped {
        self.send_interrupt();
        self.wait_stopped(grace)
    }

    /// Sends SIGINT without waiting: to stop several peers at once, then
    /// [`SmalltorrentPeer::wait_stopped`] each (a second Ctrl-C could mean "quit now").
    pub fn send_interrupt(&self) {
        send_signal(self.proc.pid(), "INT");
    }

    /// Waits at most `grace` for it to exit after [`SmalltorrentPeer::send_interrupt`];
    /// panics with its output if it does not.
    pub fn wait_stopped(&mut self, grace: Duration) -> Stopped {
        let status = self
            .proc
            .wait_exit(grace)
            .unwrap_or_else(|why| panic!("after SIGINT: {why}"));
        let stderr = self.proc.stderr();
        Stopped {
            status,
            uploaded: uploaded_bytes(&stderr),
            stderr,
        }
    }

    /// Its captured output, for failure messages.
    pub fn report(&self) -> String {
        self.proc.report()
    }
}

/// Every "piece N verified" line of a run's log, in order (a piece verified twice shows
/// twice).
pub fn verified_pieces(stderr: &str) -> Vec<u32> {
    stderr
        .lines()
        .filter_map(|l| {
            l.split("piece ")
                .nth(1)?
                .strip_suffix(" verified")?
                .parse()
                .ok()
        })
        .collect()
}

/// The address in the first `listening on IP:PORT` line of `stderr`, as IPv4: the default
/// dual-stack `[::]:PORT` is `0.0.0.0:PORT` (reachable on every IPv4 address too).
pub fn listening_addr(stderr: &str) -> Option<SocketAddrV4> {
    match listening_socket(stderr)? {
        SocketAddr::V4(v4) => Some(v4),
        SocketAddr::V6(v6) if v6.ip().is_unspecified() => {
            Some(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, v6.port()))
        }
        SocketAddr::V6(_) => None,
    }
}

/// The address in the first `listening on IP:PORT` line of `stderr`, either family.
pub fn listening_socket(stderr: &str) -> Option<SocketAddr> {
    stderr.lines().find_map(|line| {
        let rest = &line[line.find("listening on ")? + "listening on ".len()..];
        let token = rest.split_whitespace().next()?;
        let token = token.trim_end_matches(|c: char| !c.is_ascii_digit());
        token.parse().ok()
    })
}

/// N from the last line of `stderr` saying `uploaded N bytes`.
pub fn uploaded_bytes(stderr: &str) -> Option<u64> {
    stderr.lines().rev().find_map(|line| {
        let at = line.find("uploaded ")?;
        let mut words = line[at + "uploaded ".len()..].split_whitespace();
        let n = words.next()?.parse().ok()?;
        (words.next()? == "bytes").then_some(n)
    })
}

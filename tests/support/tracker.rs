//! Trackers on loopback: a real opentracker, and `smalltorrent tracker` itself. Both
//! implement [`TrackerProcess`], which seeders use to wait until the tracker lists them.
//!
//! Quirks of Debian's opentracker, found by trying:
//! - It is built with a *whitelist*: without `-w FILE` every announce is answered "Requested
//!   download is not authorized". [`Opentracker::allow`] adds a torrent's info-hash to the
//!   file and sends SIGHUP, which makes opentracker reload it.
//! - Started as root it chroots to `-d DIR` (default ".") and drops to user `nobody` (`-u root`
//!   makes it abort), so the whitelist path is relative to that dir and the dir must be
//!   world-readable.
//! - `-p 0 -P 0` binds ephemeral TCP/UDP ports without printing them; we read both back
//!   from `/proc` (see [`listening_ports`] and [`udp_ports`]), so there is no port race.

use super::net::{http_get, listening_ports, udp_ports, url_encode};
use super::process::Proc;
use super::torrent::info_hash;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

pub struct Opentracker {
    proc: Proc,
    addr: SocketAddrV4,
    udp: SocketAddrV4,
    /// Holds the whitelist file; opentracker chroots here.
    dir: tempfile::TempDir,
}

const WHITELIST: &str = "whitelist";

impl Opentracker {
    /// Starts opentracker on 127.0.0.1 with an empty whitelist; returns once it accepts
    /// connections.
    pub fn start() -> Opentracker {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let list = dir.path().join(WHITELIST);
        fs::write(&list, "").unwrap();
        fs::set_permissions(&list, fs::Permissions::from_mode(0o644)).unwrap();

        let mut cmd = Command::new("opentracker");
        cmd.args(["-i", "127.0.0.1", "-p", "0", "-P", "0", "-d"])
            .arg(dir.path())
            .args(["-w", WHITELIST])
            .current_dir(dir.path());
        let mut proc = Proc::spawn("opentracker", cmd);
        let pid = proc.pid();
        // Each read of /proc/net is kept: a read while other tests open and close many
        // sockets can miss rows, so a second read might not find what the first did.
        let mut ports = None;
        proc.wait_until(
            Duration::from_secs(10),
            "listening TCP and UDP ports",
            |_| {
                let (tcp, udp) = (listening_ports(pid), udp_ports(pid));
                ports = tcp.first().copied().zip(udp.first().copied());
                ports.is_some()
            },
        );
        let (addr, udp) = ports.expect("the ports waited for");
        Opentracker {
            proc,
            addr,
            udp,
            dir,
        }
    }

    /// `http://127.0.0.1:PORT/announce`, for the torrent's `announce` key.
    pub fn announce_url(&self) -> String {
        format!("http://{}/announce", self.addr)
    }

    /// `udp://127.0.0.1:PORT/announce`: the same tracker over BEP 15.
    pub fn udp_announce_url(&self) -> String {
        format!("udp://{}/announce", self.udp)
    }

    /// Lets peers announce the torrent at `torrent` (a .torrent file); returns once the
    /// tracker accepts announces for it.
    pub fn allow(&mut self, torrent: &Path) {
        let hash = info_hash(torrent);
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        let mut list = OpenOptions::new()
            .append(true)
            .open(self.dir.path().join(WHITELIST))
            .unwrap();
        writeln!(list, "{hex}").unwrap();
        drop(list);
        super::process::send_signal(self.proc.pid(), "HUP");

        // A "stopped" announce is answered without adding a peer: harmless to repeat.
        let probe = format!(
            "/announce?info_hash={}&peer_id=-HARNESS-PROBE-00000&port=1&uploaded=0&downloaded=0&left=0&event=stopped&compact=1",
            url_encode(&hash)
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let reply = http_get(self.addr, &probe).unwrap_or_default();
            let reply = String::from_utf8_lossy(&reply);
            if reply.contains("d8:complete") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "opentracker did not accept {hex} after SIGHUP; last reply: {reply}\n{}",
                self.proc.report()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn addr(&self) -> SocketAddrV4 {
        self.addr
    }

    pub fn ip(&self) -> Ipv4Addr {
        *self.addr.ip()
    }
}

/// A tracker a test started, asked over HTTP which peers it lists.
pub trait TrackerProcess {
    /// Where its HTTP tracker listens.
    fn http_addr(&self) -> SocketAddrV4;

    /// The peers the tracker hands out for the torrent. Asks as a throw-away leecher
    /// (127.0.0.1, port 1) and withdraws it at once with a `stopped` announce.
    fn peers(&self, torrent: &Path) -> Vec<SocketAddrV4> {
        let addr = self.http_addr();
        let hash = url_encode(&info_hash(torrent));
        let ask = |event: &str| {
            let path = format!(
                "/announce?info_hash={hash}&peer_id=-HARNESS-PEERS-00000&port=1&uploaded=0&downloaded=0&left=1&compact=1&numwant=200{event}"
            );
            http_get(addr, &path).unwrap_or_default()
        };
        let reply = ask("");
        ask("&event=stopped");
        let Some(at) = find(&reply, b"5:peers") else {
            return Vec::new();
        };
        let rest = &reply[at + 7..];
        let Some(colon) = rest.iter().position(|&c| c == b':') else {
            return Vec::new();
        };
        let len: usize = String::from_utf8_lossy(&rest[..colon]).parse().unwrap_or(0);
        rest[colon + 1..]
            .get(..len)
            .unwrap_or_default()
            .chunks_exact(6)
            .map(|p| {
                SocketAddrV4::new(
                    Ipv4Addr::new(p[0], p[1], p[2], p[3]),
                    u16::from_be_bytes([p[4], p[5]]),
                )
            })
            .filter(|p| p.port() != 1)
            .collect()
    }

    /// Waits until the tracker hands out `peer` for the torrent: from then on a leecher that
    /// announces will learn about it.
    fn wait_for_peer(&self, torrent: &Path, peer: SocketAddrV4, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let peers = self.peers(torrent);
            if peers.contains(&peer) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "tracker does not list {peer} after {timeout:?}; it lists {peers:?}"
            );
            thread::sleep(Duration::from_millis(100));
        }
    }
}

impl TrackerProcess for Opentracker {
    fn http_addr(&self) -> SocketAddrV4 {
        self.addr
    }
}

/// `smalltorrent tracker` (always the binary under test, even with `SMALLTORRENT_BIN`: the
/// stand-in clients are not trackers), HTTP and UDP on 127.0.0.1 ports it picks itself.
pub struct SmalltorrentTracker {
    proc: Proc,
    http: SocketAddrV4,
    udp: SocketAddrV4,
}

impl SmalltorrentTracker {
    /// Starts it with `--interval interval_secs`; returns once it printed both addresses.
    pub fn start(interval_secs: u32) -> SmalltorrentTracker {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_smalltorrent"));
        cmd.args(["tracker", "--http", "127.0.0.1:0", "--udp", "127.0.0.1:0"])
            .args(["--interval", &interval_secs.to_string()])
            .env("RUST_LOG", "debug");
        let mut proc = Proc::spawn("smalltorrent tracker", cmd);
        proc.wait_for_stdout("udp tracker on", Duration::from_secs(10));
        let bound = |prefix: &str| -> SocketAddrV4 {
            proc.stdout()
                .lines()
                .find_map(|l| {
                    l.strip_prefix(prefix)?
                        .strip_suffix("/announce")?
                        .parse()
                        .ok()
                })
                .unwrap_or_else(|| panic!("no {prefix:?} line\n{}", proc.report()))
        };
        let http = bound("http tracker on http://");
        let udp = bound("udp tracker on udp://");
        SmalltorrentTracker { proc, http, udp }
    }

    pub fn announce_url(&self) -> String {
        format!("http://{}/announce", self.http)
    }

    pub fn udp_announce_url(&self) -> String {
        format!("udp://{}/announce", self.udp)
    }

    /// Its log so far (every announce, at debug level).
    pub fn report(&self) -> String {
        self.proc.report()
    }

    /// Stops it as Ctrl-C would; returns its exit status.
    pub fn interrupt(mut self) -> Option<i32> {
        super::process::send_signal(self.proc.pid(), "INT");
        self.proc.wait_exit(Duration::from_secs(10)).ok()?.code()
    }
}

impl TrackerProcess for SmalltorrentTracker {
    fn http_addr(&self) -> SocketAddrV4 {
        self.http
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

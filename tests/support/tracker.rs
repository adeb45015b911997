//! A real opentracker on loopback.
//!
//! Quirks of Debian's opentracker, found by trying:
//! - It is built with a *whitelist*: without `-w FILE` every announce is answered "Requested
//!   download is not authorized". [`Opentracker::allow`] adds a torrent's info-hash to the
//!   file and sends SIGHUP, which makes opentracker reload it.
//! - Started as root it chroots to `-d DIR` (default ".") and drops to user `nobody` (`-u root`
//!   makes it abort), so the whitelist path is relative to that dir and the dir must be
//!   world-readable.
//! - `-p 0 -P 0` binds ephemeral TCP/UDP ports without printing them; we read the TCP port
//!   back from `/proc` (see [`listening_ports`]), so there is no port race.

use super::net::{http_get, listening_ports, url_encode};
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
        proc.wait_until(Duration::from_secs(10), "a listening TCP port", |_| {
            !listening_ports(pid).is_empty()
        });
        let addr = listening_ports(pid)[0];
        Opentracker { proc, addr, dir }
    }

    /// `http://127.0.0.1:PORT/announce`, for the torrent's `announce` key.
    pub fn announce_url(&self) -> String {
        format!("http://{}/announce", self.addr)
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

impl Opentracker {
    /// The peers the tracker hands out for the torrent. Asks as a throw-away leecher
    /// (127.0.0.1, port 1) and withdraws it at once with a `stopped` announce.
    pub fn peers(&self, torrent: &Path) -> Vec<SocketAddrV4> {
        let hash = url_encode(&info_hash(torrent));
        let ask = |event: &str| {
            let path = format!(
                "/announce?info_hash={hash}&peer_id=-HARNESS-PEERS-00000&port=1&uploaded=0&downloaded=0&left=1&compact=1&numwant=200{event}"
            );
            http_get(self.addr, &path).unwrap_or_default()
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
    pub fn wait_for_peer(&self, torrent: &Path, peer: SocketAddrV4, timeout: Duration) {
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

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

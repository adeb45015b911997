//! Loopback ports: picking a free one, and finding which ports a process listens on.

use std::collections::HashSet;
use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

/// A TCP port that was free on 127.0.0.1 a moment ago. Another process may take it before the
/// caller binds it, so prefer letting a program bind port 0 and reading the port back with
/// [`listening_ports`]; where a program cannot, retry on failure (see `seeders::start_on_free_port`).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// A UDP port that was free on 127.0.0.1 a moment ago, for a program that cannot bind port
/// 0 (aria2c's `--dht-listen-port`); the same race as [`free_port`].
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// The IPv4 TCP sockets process `pid` is listening on, read from `/proc`: the socket inodes
/// among its open files, matched against `/proc/net/tcp` rows in state LISTEN (0A).
pub fn listening_ports(pid: u32) -> Vec<SocketAddrV4> {
    sockets(pid, "/proc/net/tcp", "0A")
}

/// The IPv4 UDP sockets process `pid` has bound and not connected: `/proc/net/udp` rows in
/// state 07 (UDP's "close", i.e. unconnected) whose inode is among its open files.
pub fn udp_ports(pid: u32) -> Vec<SocketAddrV4> {
    sockets(pid, "/proc/net/udp", "07")
}

/// Rows of `table` in `state` that belong to process `pid`.
fn sockets(pid: u32, table: &str, state: &str) -> Vec<SocketAddrV4> {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let inodes: HashSet<String> = fds
        .filter_map(|fd| fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|link| {
            let link = link.to_string_lossy().into_owned();
            Some(
                link.strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_string(),
            )
        })
        .collect();
    let table = fs::read_to_string(table).unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter_map(|row| {
            let cols: Vec<&str> = row.split_whitespace().collect();
            if cols.len() < 10 || cols[3] != state || !inodes.contains(cols[9]) {
                return None;
            }
            let (ip, port) = cols[1].split_once(':')?;
            // The address is the in-memory u32, printed in hex: little-endian on the hosts we run.
            let ip = Ipv4Addr::from(u32::from_str_radix(ip, 16).ok()?.swap_bytes());
            Some(SocketAddrV4::new(ip, u16::from_str_radix(port, 16).ok()?))
        })
        .collect()
}

/// Sends `GET path` to `addr` and returns the whole response (headers and body) as bytes.
pub fn http_get(addr: SocketAddrV4, path: &str) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect_timeout(&addr.into(), Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    Ok(response)
}

/// Percent-encodes every byte, as trackers expect for `info_hash` and `peer_id`.
pub fn url_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02X}")).collect()
}

//! Hostile connections *to* a smalltorrent seeder: raw wire messages written by hand, and
//! a way to tell whether the seeder closed the connection.
//!
//! The other direction, a peer the client under test dials, is in [`super::hostile_peer`].

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::time::{Duration, Instant};

/// `<len><id><payload>`.
pub fn frame(id: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = ((payload.len() + 1) as u32).to_be_bytes().to_vec();
    out.push(id);
    out.extend_from_slice(payload);
    out
}

/// A `request` for `length` bytes at `offset` of `piece`.
pub fn request(piece: u32, offset: u32, length: u32) -> Vec<u8> {
    let mut payload = piece.to_be_bytes().to_vec();
    payload.extend_from_slice(&offset.to_be_bytes());
    payload.extend_from_slice(&length.to_be_bytes());
    frame(6, &payload)
}

/// A correct BEP 3 handshake.
pub fn handshake(info_hash: [u8; 20], peer_id: [u8; 20]) -> [u8; 68] {
    let mut out = [0u8; 68];
    out[0] = 19;
    out[1..20].copy_from_slice(b"BitTorrent protocol");
    out[28..48].copy_from_slice(&info_hash);
    out[48..68].copy_from_slice(&peer_id);
    out
}

/// Connects from `from` to `to` and sends a handshake (with a peer id made from `n`),
/// without waiting for the answer.
pub fn dial(
    from: Ipv4Addr,
    to: SocketAddrV4,
    info_hash: [u8; 20],
    n: u32,
) -> io::Result<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&std::net::SocketAddr::from((from, 0)).into())?;
    socket.connect_timeout(
        &std::net::SocketAddr::from(to).into(),
        Duration::from_secs(5),
    )?;
    let mut stream: TcpStream = socket.into();
    let mut id = *b"-HO0001-000000000000";
    id[8..20].copy_from_slice(format!("{n:012}").as_bytes());
    stream.write_all(&handshake(info_hash, id))?;
    Ok(stream)
}

/// Reads the seeder's 68-byte handshake within `timeout`; an error if it closes first.
pub fn read_handshake(mut stream: &TcpStream, timeout: Duration) -> io::Result<[u8; 68]> {
    stream.set_read_timeout(Some(timeout))?;
    let mut theirs = [0u8; 68];
    stream.read_exact(&mut theirs)?;
    Ok(theirs)
}

/// [`dial`] and [`read_handshake`]: a connection ready for messages.
pub fn connect(from: Ipv4Addr, to: SocketAddrV4, info_hash: [u8; 20]) -> io::Result<TcpStream> {
    let stream = dial(from, to, info_hash, 0)?;
    read_handshake(&stream, Duration::from_secs(10))?;
    Ok(stream)
}

/// Reads and discards until the other side closes (true) or `timeout` passes (false).
pub fn closed_within(stream: &mut TcpStream, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let mut sink = vec![0u8; 64 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let _ = stream.set_read_timeout(Some(left.min(Duration::from_millis(100))));
        match stream.read(&mut sink) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return true, // reset
        }
    }
}

/// Reads messages until one with id `want` arrives (true), or the peer closes or
/// `timeout` passes (false).
pub fn wait_for_message(stream: &mut TcpStream, want: u8, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let _ = stream.set_read_timeout(Some(timeout));
    while Instant::now() < deadline {
        let mut len = [0u8; 4];
        if stream.read_exact(&mut len).is_err() {
            return false;
        }
        let len = u32::from_be_bytes(len) as usize;
        let mut body = vec![0u8; len.min(1 << 20)];
        if stream.read_exact(&mut body).is_err() {
            return false;
        }
        if body.first() == Some(&want) {
            return true;
        }
    }
    false
}

//! The HTTP tracker's threads.
//!
//! * Threads: `tracker-http-N`, [`WORKERS`] of them, started by [`spawn`].
//! * Owns: nothing but one connection at a time each; the workers share the listening
//!   socket and take turns accepting, so at most [`WORKERS`] connections are served at once
//!   and a flood of connections waits in the kernel's backlog instead of costing threads.
//! * Reads and writes: the peer store in [`Shared`], under its lock for one announce.
//!
//! A connection carries one request: the head is read (at most [`MAX_HEAD`] bytes, with a
//! [`IO_TIMEOUT`] so a silent client cannot hold a worker), the reply is written with
//! `Connection: close`, and the socket is closed. Bad requests get a bencoded
//! `failure reason`; nothing a client sends can panic a worker. Shutdown: the stop flag
//! is set, then [`wake`] connects to the listener once per worker so each blocked
//! `accept` returns and sees the flag (the tiny_http pattern).

use super::Shared;
use super::http_request::{self, Route, failure};
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

/// Connections served at once.
pub const WORKERS: usize = 4;
/// Longest request head accepted (a long announce is about 400 bytes).
pub const MAX_HEAD: usize = 8 * 1024;
/// How long a client may take to send its request or read the reply.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Workers parse small requests only.
const STACK_SIZE: usize = 256 * 1024;

/// Starts the workers on `listener`.
pub(super) fn spawn(listener: TcpListener, shared: Arc<Shared>) -> io::Result<Vec<JoinHandle<()>>> {
    (0..WORKERS)
        .map(|n| {
            let listener = listener.try_clone()?;
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("tracker-http-{n}"))
                .stack_size(STACK_SIZE)
                .spawn(move || worker(&listener, &shared))
        })
        .collect()
}

/// Wakes every worker blocked in `accept` on `addr`, after the stop flag is set.
pub(super) fn wake(addr: SocketAddr) {
    let target = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::from(([127, 0, 0, 1], addr.port())),
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port()))
        }
        _ => addr,
    };
    for _ in 0..WORKERS {
        let _ = TcpStream::connect_timeout(&target, Duration::from_secs(1));
    }
}

fn worker(listener: &TcpListener, shared: &Shared) {
    loop {
        let accepted = listener.accept();
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        match accepted {
            Ok((stream, from)) => {
                if let Err(e) = serve(stream, from, shared) {
                    log::debug!("http client {from}: {e}");
                }
            }
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                log::warn!("http tracker: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Serves one request on `stream`.
fn serve(mut stream: TcpStream, from: SocketAddr, shared: &Shared) -> io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let Some(head) = read_head(&mut stream)? else {
        return respond(
            &mut stream,
            "400 Bad Request",
            &failure("request head too long"),
        );
    };
    let source = from.ip().to_canonical();
    let (status, body) = match http_request::route(&head) {
        Err(e) => ("400 Bad Request", failure(&e.to_string())),
        Ok(Route::NotFound) => (
            "404 Not Found",
            failure("not a tracker path: use /announce or /scrape"),
        ),
        Ok(Route::Announce(query)) => ("200 OK", announce(query, source, shared)),
        Ok(Route::Scrape(query)) => match http_request::scrape(query) {
            Ok(hashes) => (
                "200 OK",
                http_request::scrape_reply(&shared.scrape(&hashes)),
            ),
            Err(e) => ("200 OK", failure(&e.to_string())),
        },
    };
    respond(&mut stream, status, &body)
}

/// The reply body for an announce; refusals are `failure reason`s with status 200, as
/// BitTorrent clients only read the reason from a 200 reply.
fn announce(query: &str, source: IpAddr, shared: &Shared) -> Vec<u8> {
    let (request, form) = match http_request::announce(query, source) {
        Ok(parsed) => parsed,
        Err(e) => return failure(&e.to_string()),
    };
    match shared.announce(&request, "http") {
        Ok(answer) => http_request::announce_reply(&answer, form, shared.interval),
        Err(refusal) => failure(&refusal.to_string()),
    }
}

/// Reads up to the blank line that ends the head. `None` if it is longer than
/// [`MAX_HEAD`]; an error if the client hangs up or stalls first.
fn read_head(stream: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed before the end of the request head",
            ));
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = find_blank_line(&head) {
            head.truncate(end);
            return Ok(Some(head));
        }
        if head.len() > MAX_HEAD {
            return Ok(None);
        }
    }
}

/// Where the head ends: the first `\r\n\r\n` (or bare `\n\n`).
fn find_blank_line(bytes: &[u8]) -> Option<usize> {
    let crlf = bytes.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = bytes.windows(2).position(|w| w == b"\n\n");
    crlf.into_iter().chain(lf).min()
}

fn respond(stream: &mut TcpStream, status: &str, body: &[u8]) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    let mut reply = head.into_bytes();
    reply.extend_from_slice(body);
    stream.write_all(&reply)?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_ends_at_the_first_blank_line() {
        assert_eq!(
            find_blank_line(b"GET / HTTP/1.1\r\nA: b\r\n\r\nbody"),
            Some(20)
        );
        assert_eq!(find_blank_line(b"GET / HTTP/1.0\n\n"), Some(14));
        assert_eq!(find_blank_line(b"GET / HTTP/1.1\r\n"), None);
    }
}

//! The HTTP tracker's threads.
//!
//! * Threads: `tracker-http` accepts connections, started by `spawn`; it starts one
//!   `tracker-http-conn` thread per connection, at most [`MAX_CONNECTIONS`] at once (a
//!   connection beyond that is closed at once), and joins them as they end.
//! * Owns: the listener (acceptor); one connection each (connection threads).
//! * Reads and writes: the peer store in `Shared`, under its lock for one announce.
//!
//! A connection carries one request: the head is read (at most [`MAX_HEAD`] bytes, with a
//! [`IO_TIMEOUT`] so a silent client holds its thread 5 s at most), the reply is written
//! with `Connection: close`, and the socket is closed. Bad requests get a bencoded
//! `failure reason`; nothing a client sends can panic a thread. Shutdown: the stop flag
//! is set, then `wake` connects to the listener so the blocked `accept` returns and sees
//! the flag (the tiny_http pattern); the acceptor then joins the connection threads.

use super::Shared;
use super::http_request::{self, Route, failure};
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 64;
/// Longest request head accepted (a long announce is about 400 bytes).
pub const MAX_HEAD: usize = 8 * 1024;
/// How long a client may take to send its request or read the reply.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Connection threads parse small requests only.
const STACK_SIZE: usize = 256 * 1024;

/// Starts the acceptor on `listener`.
pub(super) fn spawn(listener: TcpListener, shared: Arc<Shared>) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("tracker-http".into())
        .stack_size(STACK_SIZE)
        .spawn(move || accept_loop(&listener, &shared))
}

/// Wakes the acceptor blocked in `accept` on `addr`, after the stop flag is set.
pub(super) fn wake(addr: SocketAddr) {
    let target = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::from(([127, 0, 0, 1], addr.port())),
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port()))
        }
        _ => addr,
    };
    let _ = TcpStream::connect_timeout(&target, Duration::from_secs(1));
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    let mut connections: Vec<JoinHandle<()>> = Vec::new();
    loop {
        let accepted = listener.accept();
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        let (finished, running): (Vec<_>, Vec<_>) =
            connections.into_iter().partition(|c| c.is_finished());
        finished.into_iter().for_each(|c| {
            crate::threads::join(c);
        });
        connections = running;
        let (stream, from) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                log::warn!("http tracker: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if connections.len() >= MAX_CONNECTIONS {
            log::debug!("http tracker: {MAX_CONNECTIONS} connections open, closing {from}'s");
            continue;
        }
        let shared = shared.clone();
        let connection = std::thread::Builder::new()
            .name("tracker-http-conn".into())
            .stack_size(STACK_SIZE)
            .spawn(move || {
                if let Err(e) = serve(stream, from, &shared) {
                    log::debug!("http client {from}: {e}");
                }
            });
        match connection {
            Ok(handle) => connections.push(handle),
            Err(e) => log::warn!("http tracker: cannot start a thread for {from}: {e}"),
        }
    }
    // Each ends within IO_TIMEOUT.
    connections.into_iter().for_each(|c| {
        crate::threads::join(c);
    });
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

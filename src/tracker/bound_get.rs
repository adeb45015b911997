//! A minimal blocking HTTP/1.0 GET from a chosen local address, for plain-`http://`
//! trackers when `--bind` is given.
//!
//! Trackers record the *source* address of an announce as the peer's address, so a client
//! bound to 127.0.0.3 must also announce from 127.0.0.3. ureq (used for every other
//! announce, and for all `https://` ones) cannot bind its sockets; this does the one
//! request a tracker needs: `GET path?query HTTP/1.0`, `Connection: close`, read to the end
//! (at most `max_body` bytes of body), status line checked, chunked bodies decoded.

use std::io::{Read, Write};
use std::net::{IpAddr, ToSocketAddrs};
use std::time::Duration;

/// The status code and body of a response, or a message saying what went wrong.
pub fn get(
    url: &str,
    bind: IpAddr,
    timeout: Duration,
    max_body: u64,
) -> Result<(u16, Vec<u8>), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| "not an http:// URL".to_string())?;
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    let target = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let addr = target
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {authority}: {e}"))?
        .find(|a| a.is_ipv4() == bind.is_ipv4())
        .ok_or_else(|| format!("{authority} has no address of the same family as {bind}"))?;
    let mut stream = crate::net::connect(addr, Some(bind), timeout).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: {authority}\r\nUser-Agent: smalltorrent/{}\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream
        .take(max_body + 64 * 1024)
        .read_to_end(&mut response)
        .map_err(|e| e.to_string())?;
    parse_response(&response)
}

/// Splits a whole HTTP response into its status code and (de-chunked) body.
fn parse_response(response: &[u8]) -> Result<(u16, Vec<u8>), String> {
    let end = find(response, b"\r\n\r\n").ok_or("the reply has no end of headers")?;
    let head = String::from_utf8_lossy(&response[..end]);
    let body = &response[end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .filter(|_| status_line.starts_with("HTTP/"))
        .ok_or_else(|| format!("not an HTTP status line: {status_line:?}"))?;
    let chunked = lines.any(|line| {
        let lower = line.to_ascii_lowercase();
        lower.starts_with("transfer-encoding:") && lower.contains("chunked")
    });
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    Ok((status, body))
}

/// Decodes a `Transfer-Encoding: chunked` body.
fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = find(body, b"\r\n").ok_or("a chunk size line is cut off")?;
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = body.get(..size).ok_or("a chunk is cut off")?;
        out.extend_from_slice(chunk);
        body = body.get(size + 2..).ok_or("a chunk is cut off")?;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn a_plain_reply_gives_status_and_body() {
        let reply = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nd8:intervali60ee";
        assert_eq!(
            parse_response(reply).unwrap(),
            (200, b"d8:intervali60ee".to_vec())
        );
        let error = b"HTTP/1.1 500 Internal Server Error\r\n\r\noops";
        assert_eq!(parse_response(error).unwrap().0, 500);
    }

    #[test]
    fn a_chunked_reply_is_decoded() {
        let reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nd8:i\r\nc;x=1\r\nntervali60ee\r\n0\r\n\r\n";
        assert_eq!(
            parse_response(reply).unwrap().1,
            b"d8:intervali60ee".to_vec()
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse_response(b"").is_err());
        assert!(parse_response(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err()
        );
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nff\r\nshort")
                .is_err()
        );
    }

    #[test]
    fn the_request_comes_from_the_bound_address() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/announce?x=1", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (mut socket, from) = listener.accept().unwrap();
            let mut request = [0u8; 1024];
            let n = socket.read(&mut request).unwrap();
            socket.write_all(b"HTTP/1.0 200 OK\r\n\r\nhello").unwrap();
            (from, String::from_utf8_lossy(&request[..n]).into_owned())
        });
        let bind: IpAddr = "127.0.0.9".parse().unwrap();
        let (status, body) = get(&url, bind, Duration::from_secs(5), 1024).unwrap();
        let (from, request) = server.join().unwrap();
        assert_eq!((status, body), (200, b"hello".to_vec()));
        assert_eq!(from.ip(), bind);
        assert!(
            request.starts_with("GET /announce?x=1 HTTP/1.0\r\n"),
            "{request}"
        );
    }
}

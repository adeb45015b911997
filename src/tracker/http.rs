//! HTTP(S) trackers (BEP 3, compact peers from BEP 23, `peers6` from BEP 7).
//!
//! An announce is a GET with the request in the query string; the reply is a bencoded
//! dictionary. Building the URL and parsing the reply are pure functions; [`announce`] adds
//! the blocking HTTP call (ureq, so `https://` works too).
//!
//! Decisions, each tested:
//! * a compact peer list whose length is not a multiple of 6 (18 for `peers6`) is used up
//!   to its last whole entry and the stray bytes are logged and ignored: a tracker that
//!   pads or truncates should not cost us the peers it did send;
//! * dictionary peers with a bad `ip` (including DNS names, which would need a blocking
//!   lookup) or a port outside 1..=65535 are skipped, as are port-0 compact entries;
//! * a missing `interval` means 30 minutes; any interval is clamped to
//!   [`MIN_INTERVAL`]..=[`MAX_INTERVAL`] so a broken tracker can neither make us hammer it
//!   nor forget it; `min interval` is dropped if negative and capped at the interval.

use super::{AnnounceRequest, AnnounceResponse, TrackerError};
use crate::bencode::{self, Value};
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// Interval used when the reply has none.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30 * 60);
/// Shortest interval we accept.
pub const MIN_INTERVAL: Duration = Duration::from_secs(30);
/// Longest interval we accept.
pub const MAX_INTERVAL: Duration = Duration::from_secs(2 * 60 * 60);
/// Larger replies are refused (a reply with 50 peers is about 1 KiB).
pub const MAX_BODY: u64 = 4 * 1024 * 1024;

/// Appends `bytes` to `out`, percent-encoding everything but RFC 3986 unreserved characters.
pub(crate) fn percent_encode(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

/// The announce URL for `req` at tracker `base`, keeping any query string `base` has.
pub fn build_announce_url(base: &str, req: &AnnounceRequest) -> String {
    let mut url = String::with_capacity(base.len() + 256);
    url.push_str(base);
    if !base.contains('?') {
        url.push('?');
    } else if !base.ends_with('?') && !base.ends_with('&') {
        url.push('&');
    }
    url.push_str("info_hash=");
    percent_encode(&mut url, &req.info_hash);
    url.push_str("&peer_id=");
    percent_encode(&mut url, &req.peer_id);
    url.push_str(&format!(
        "&port={}&uploaded={}&downloaded={}&left={}&compact=1&no_peer_id=1&numwant={}&key={:08x}",
        req.port, req.uploaded, req.downloaded, req.left, req.numwant, req.key
    ));
    if let Some(event) = req.event.as_str() {
        url.push_str("&event=");
        url.push_str(event);
    }
    if let Some(id) = &req.tracker_id {
        url.push_str("&trackerid=");
        percent_encode(&mut url, id.as_bytes());
    }
    if let Some(ip) = req.ipv6 {
        // `:` is allowed in a query; BEP 7 gives the bare address.
        url.push_str(&format!("&ipv6={ip}"));
    }
    url
}

/// Sends the announce and parses the reply.
pub fn announce(
    base: &str,
    req: &AnnounceRequest,
    timeout: Duration,
) -> Result<AnnounceResponse, TrackerError> {
    let url = build_announce_url(base, req);
    let body = match req.bind {
        // ureq cannot choose the local address; a plain-http tracker can be asked directly.
        Some(local) if base.starts_with("http://") => bound_get(base, &url, local, timeout)?,
        _ => get(base, &url, timeout)?,
    };
    parse_announce_body(&body).map_err(|e| e.at(base))
}

/// Like [`get`], from the local address `local`.
fn bound_get(
    tracker: &str,
    url: &str,
    local: IpAddr,
    timeout: Duration,
) -> Result<Vec<u8>, TrackerError> {
    let (status, body) =
        super::bound_get::get(url, local, timeout, MAX_BODY).map_err(|detail| {
            TrackerError::Unreachable {
                url: tracker.to_owned(),
                detail,
            }
        })?;
    if status != 200 {
        return Err(TrackerError::HttpStatus {
            url: tracker.to_owned(),
            status,
        });
    }
    if body.len() as u64 > MAX_BODY {
        return Err(TrackerError::bad_reply("reply is larger than 4 MiB").at(tracker));
    }
    Ok(body)
}

/// GETs `url` and returns the body of a 200 reply (at most [`MAX_BODY`]); errors name
/// `tracker`, the URL without our query string.
pub(crate) fn get(tracker: &str, url: &str, timeout: Duration) -> Result<Vec<u8>, TrackerError> {
    let unreachable = |detail: String| TrackerError::Unreachable {
        url: tracker.to_owned(),
        detail,
    };
    let agent = ureq::AgentBuilder::new()
        .timeout(timeout)
        .user_agent(concat!("smalltorrent/", env!("CARGO_PKG_VERSION")))
        .build();
    let response = match agent.get(url).call() {
        Ok(response) => response,
        Err(ureq::Error::Status(status, _)) => {
            return Err(TrackerError::HttpStatus {
                url: tracker.to_owned(),
                status,
            });
        }
        Err(ureq::Error::Transport(transport)) => return Err(unreachable(describe(&transport))),
    };
    if response.status() != 200 {
        return Err(TrackerError::HttpStatus {
            url: tracker.to_owned(),
            status: response.status(),
        });
    }
    let mut body = Vec::new();
    response
        .into_reader()
        .take(MAX_BODY + 1)
        .read_to_end(&mut body)
        .map_err(|e| unreachable(format!("reading the reply failed: {e}")))?;
    if body.len() as u64 > MAX_BODY {
        return Err(TrackerError::bad_reply("reply is larger than 4 MiB").at(tracker));
    }
    Ok(body)
}

/// A transport error without the URL ureq puts in front: ours would repeat the tracker and
/// add a screenful of percent-encoded query string.
fn describe(transport: &ureq::Transport) -> String {
    let text = transport.to_string();
    let text = match transport.url() {
        Some(url) => text
            .strip_prefix(&format!("{url}: "))
            .map(str::to_owned)
            .unwrap_or(text),
        None => text,
    };
    without_repeats(&text)
}

/// ureq names the error kind and then its message, which often starts with the same
/// words: "Network Error: Network Error: Connection refused" says it once.
fn without_repeats(text: &str) -> String {
    let mut parts: Vec<&str> = text.split(": ").collect();
    parts.dedup();
    parts.join(": ")
}

/// Parses a tracker's bencoded reply. Errors carry an empty URL; [`announce`] fills it in.
pub fn parse_announce_body(body: &[u8]) -> Result<AnnounceResponse, TrackerError> {
    let reply = bencode::decode(body)
        .map_err(|e| TrackerError::bad_reply(format!("not a bencoded reply ({e})")))?;
    if !matches!(reply, Value::Dict(_)) {
        return Err(TrackerError::bad_reply("reply is not a dictionary"));
    }
    if let Some(reason) = reply.get("failure reason") {
        let reason = reason.as_bytes().unwrap_or(b"(no reason given)");
        return Err(TrackerError::Failure {
            url: String::new(),
            reason: String::from_utf8_lossy(reason).into_owned(),
        });
    }
    let interval = match reply.get("interval").and_then(Value::as_int) {
        Some(secs) => seconds(secs).clamp(MIN_INTERVAL, MAX_INTERVAL),
        None => DEFAULT_INTERVAL,
    };
    let min_interval = reply
        .get("min interval")
        .and_then(Value::as_int)
        .filter(|&secs| secs >= 0)
        .map(|secs| seconds(secs).min(interval));
    let mut peers = match reply.get("peers") {
        None => Vec::new(),
        Some(Value::Bytes(compact)) => compact_peers(compact, 6),
        Some(Value::List(list)) => list.iter().filter_map(dict_peer).collect(),
        Some(_) => {
            return Err(TrackerError::bad_reply(
                "`peers` is neither a string nor a list",
            ));
        }
    };
    if let Some(compact6) = reply.get("peers6").and_then(Value::as_bytes) {
        peers.extend(compact_peers(compact6, 18));
    }
    let text = |key: &str| {
        let bytes = reply.get(key).and_then(Value::as_bytes)?;
        Some(String::from_utf8_lossy(bytes).into_owned())
    };
    let count = |key: &str| {
        let n = reply.get(key).and_then(Value::as_int)?;
        u32::try_from(n).ok()
    };
    Ok(AnnounceResponse {
        interval,
        min_interval,
        // Sent back verbatim, so only kept when it is valid text.
        tracker_id: reply
            .get("tracker id")
            .and_then(Value::as_str)
            .map(str::to_owned),
        complete: count("complete"),
        incomplete: count("incomplete"),
        peers,
        warning: text("warning message"),
    })
}

/// A non-negative number of seconds as a duration (negative counts as zero).
fn seconds(secs: i64) -> Duration {
    Duration::from_secs(secs.max(0) as u64)
}

/// Compact peers: `entry` bytes each (6 = IPv4 + port, 18 = IPv6 + port), big-endian.
/// Stray bytes after the last whole entry are ignored with a warning; port 0 is skipped.
fn compact_peers(bytes: &[u8], entry: usize) -> Vec<SocketAddr> {
    let stray = bytes.len() % entry;
    if stray != 0 {
        log::warn!(
            "tracker sent a compact peer list of {} bytes, not a multiple of {entry}; \
             ignoring the last {stray}",
            bytes.len()
        );
    }
    bytes
        .chunks_exact(entry)
        .filter_map(|chunk| {
            let (ip, port) = chunk.split_at(entry - 2);
            let port = u16::from_be_bytes([port[0], port[1]]);
            let ip = match <[u8; 4]>::try_from(ip) {
                Ok(v4) => IpAddr::V4(Ipv4Addr::from(v4)),
                Err(_) => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(ip).ok()?)),
            };
            (port != 0).then_some(SocketAddr::new(ip, port))
        })
        .collect()
}

/// A dictionary peer `{ip, port[, peer id]}`, or `None` if it is unusable.
fn dict_peer(peer: &Value<'_>) -> Option<SocketAddr> {
    let ip: IpAddr = peer.get("ip")?.as_str()?.parse().ok()?;
    let port = u16::try_from(peer.get("port")?.as_int()?).ok()?;
    (port != 0).then_some(SocketAddr::new(ip, port))
}

#[cfg(test)]
#[test]
fn repeated_error_kinds_are_said_once() {
    assert_eq!(
        without_repeats("Network Error: Network Error: Connection refused (os error 111)"),
        "Network Error: Connection refused (os error 111)"
    );
    assert_eq!(
        without_repeats("Too Many Redirects: reached max redirects (5)"),
        "Too Many Redirects: reached max redirects (5)"
    );
}

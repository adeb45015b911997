//! The HTTP tracker's requests and replies, as pure functions: the request line, the query
//! string, the announce and scrape parameters (BEP 3, BEP 23, BEP 48), and the bencoded
//! replies. The sockets are in [`super::http`].
//!
//! A tracker only needs `GET /announce?...` and `GET /scrape?...`, so this is a minimal,
//! strict HTTP/1.x reader rather than a web framework: the request line is read, headers
//! are skipped, bodies are never read.

use super::store::{Announce, Answer};
use crate::bencode::OwnedValue;
use crate::tracker::{Event, ScrapeStats};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Query strings with more parameters are refused.
const MAX_PARAMS: usize = 100;
/// The most torrents one scrape may ask about.
pub const MAX_SCRAPE: usize = 64;

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'a> {
    /// `/announce`, with the query string.
    Announce(&'a str),
    /// `/scrape`, with the query string.
    Scrape(&'a str),
    /// Another path.
    NotFound,
}

/// Why a request could not be served; the text becomes the `failure reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadRequest {
    /// Not `METHOD TARGET HTTP/1.x`, or not UTF-8.
    Malformed,
    /// A method other than GET.
    NotGet,
    /// A `%` not followed by two hex digits.
    BadEscape,
    TooManyParams,
    /// A required parameter is absent.
    Missing(&'static str),
    /// A parameter has the wrong form; the text says which and how.
    Invalid(&'static str),
}

impl fmt::Display for BadRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadRequest::Malformed => write!(f, "malformed HTTP request"),
            BadRequest::NotGet => write!(f, "only GET is served"),
            BadRequest::BadEscape => write!(f, "bad percent-encoding in the query string"),
            BadRequest::TooManyParams => write!(f, "too many query parameters"),
            BadRequest::Missing(what) => write!(f, "missing {what}"),
            BadRequest::Invalid(what) => write!(f, "invalid {what}"),
        }
    }
}

/// Reads the request line of `head` (the bytes before the blank line).
pub fn route(head: &[u8]) -> Result<Route<'_>, BadRequest> {
    let head = std::str::from_utf8(head).map_err(|_| BadRequest::Malformed)?;
    let line = head.lines().next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(BadRequest::Malformed);
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return Err(BadRequest::Malformed);
    }
    if method != "GET" {
        return Err(BadRequest::NotGet);
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Ok(match path {
        "/announce" => Route::Announce(query),
        "/scrape" => Route::Scrape(query),
        _ => Route::NotFound,
    })
}

/// `a=1&b=%41` → `[("a", b"1"), ("b", b"A")]`; `+` is a space, as in forms.
pub fn parse_query(query: &str) -> Result<Vec<(String, Vec<u8>)>, BadRequest> {
    let mut params = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        if params.len() == MAX_PARAMS {
            return Err(BadRequest::TooManyParams);
        }
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = String::from_utf8_lossy(&percent_decode(key)?).into_owned();
        params.push((key, percent_decode(value)?));
    }
    Ok(params)
}

/// A query-string value, decoded as magnet links' are (`%XX`, `+` for a space).
fn percent_decode(text: &str) -> Result<Vec<u8>, BadRequest> {
    crate::magnet::coding::percent_decode(text).map_err(|_| BadRequest::BadEscape)
}

/// How the announce wants its peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerForm {
    /// BEP 23: 6 bytes per IPv4 peer in `peers`, 18 per IPv6 peer in `peers6`.
    Compact,
    /// BEP 3 dictionaries, with or without the peer id.
    Dictionary { peer_ids: bool },
}

/// The announce in `query`, sent from `source`; the peer is listed at the source address
/// with the announced port (an `ip` parameter is ignored, so nobody can list someone else).
pub fn announce(query: &str, source: IpAddr) -> Result<(Announce, PeerForm), BadRequest> {
    let params = parse_query(query)?;
    let get = |key: &str| params.iter().find(|(k, _)| k == key).map(|(_, v)| v);
    let id = |key: &'static str| -> Result<[u8; 20], BadRequest> {
        let value = get(key).ok_or(BadRequest::Missing(key))?;
        <[u8; 20]>::try_from(value.as_slice()).map_err(|_| BadRequest::Invalid(key))
    };
    let number = |key: &'static str| -> Result<Option<u64>, BadRequest> {
        get(key)
            .map(|v| {
                let text = std::str::from_utf8(v).map_err(|_| BadRequest::Invalid(key))?;
                text.parse().map_err(|_| BadRequest::Invalid(key))
            })
            .transpose()
    };
    let info_hash = id("info_hash")?;
    let peer_id = id("peer_id")?;
    let port = number("port")?.ok_or(BadRequest::Missing("port"))?;
    let port = u16::try_from(port)
        .ok()
        .filter(|&p| p != 0)
        .ok_or(BadRequest::Invalid("port"))?;
    let left = number("left")?.ok_or(BadRequest::Missing("left"))?;
    let numwant = number("numwant")?.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    let event = match get("event").map(Vec::as_slice) {
        Some(b"started") => Event::Started,
        Some(b"completed") => Event::Completed,
        Some(b"stopped") => Event::Stopped,
        _ => Event::None,
    };
    let flag = |key: &str, value: &[u8]| get(key).is_some_and(|v| v == value);
    let form = if flag("compact", b"0") {
        PeerForm::Dictionary {
            peer_ids: !flag("no_peer_id", b"1"),
        }
    } else {
        PeerForm::Compact
    };
    let announce = Announce {
        info_hash,
        peer_id,
        addr: SocketAddr::new(source, port),
        event,
        left,
        numwant,
    };
    Ok((announce, form))
}

/// The info-hashes a scrape asks about (at least one, at most [`MAX_SCRAPE`]).
pub fn scrape(query: &str) -> Result<Vec<[u8; 20]>, BadRequest> {
    let hashes: Vec<[u8; 20]> = parse_query(query)?
        .into_iter()
        .filter(|(key, _)| key == "info_hash")
        .map(|(_, v)| <[u8; 20]>::try_from(v.as_slice()))
        .collect::<Result<_, _>>()
        .map_err(|_| BadRequest::Invalid("info_hash"))?;
    if hashes.is_empty() {
        return Err(BadRequest::Missing(
            "info_hash (full scrapes are not offered)",
        ));
    }
    if hashes.len() > MAX_SCRAPE {
        return Err(BadRequest::TooManyParams);
    }
    Ok(hashes)
}

fn int(n: impl Into<i64>) -> OwnedValue {
    OwnedValue::Int(n.into())
}

/// The bencoded announce reply.
pub fn announce_reply(answer: &Answer, form: PeerForm, interval: Duration) -> Vec<u8> {
    let interval = i64::try_from(interval.as_secs()).unwrap_or(i64::MAX);
    let mut entries = vec![
        ("complete", int(answer.seeders)),
        ("incomplete", int(answer.leechers)),
        ("interval", int(interval)),
        ("min interval", int(interval / 2)),
    ];
    match form {
        PeerForm::Compact => {
            let (mut v4, mut v6) = (Vec::new(), Vec::new());
            for (addr, _) in &answer.peers {
                let out = match addr.ip() {
                    IpAddr::V4(ip) => {
                        v4.extend_from_slice(&ip.octets());
                        &mut v4
                    }
                    IpAddr::V6(ip) => {
                        v6.extend_from_slice(&ip.octets());
                        &mut v6
                    }
                };
                out.extend_from_slice(&addr.port().to_be_bytes());
            }
            entries.push(("peers", OwnedValue::bytes(v4)));
            if !v6.is_empty() {
                entries.push(("peers6", OwnedValue::bytes(v6)));
            }
        }
        PeerForm::Dictionary { peer_ids } => {
            let list = answer.peers.iter().map(|(addr, id)| {
                let mut peer = vec![
                    ("ip", OwnedValue::bytes(addr.ip().to_string())),
                    ("port", int(addr.port())),
                ];
                if peer_ids {
                    peer.push(("peer id", OwnedValue::bytes(*id)));
                }
                OwnedValue::dict(peer)
            });
            entries.push(("peers", OwnedValue::List(list.collect())));
        }
    }
    OwnedValue::dict(entries).to_bytes()
}

/// The bencoded scrape reply for `files`.
pub fn scrape_reply(files: &[([u8; 20], ScrapeStats)]) -> Vec<u8> {
    let files = files
        .iter()
        .map(|(hash, stats)| {
            let counts = OwnedValue::dict([
                ("complete", int(stats.seeders)),
                ("downloaded", int(stats.completed)),
                ("incomplete", int(stats.leechers)),
            ]);
            (hash.to_vec(), counts)
        })
        .collect();
    OwnedValue::dict([("files", OwnedValue::Dict(files))]).to_bytes()
}

/// `d14:failure reason...e`.
pub fn failure(reason: &str) -> Vec<u8> {
    OwnedValue::dict([("failure reason", OwnedValue::bytes(reason))]).to_bytes()
}

#[cfg(test)]
mod tests;

//! Magnet links (the URI format of BEP 9): a torrent named by its info-hash alone, with
//! hints for finding it, instead of by a `.torrent` file.
//!
//! ```text
//! magnet:?xt=urn:btih:<info-hash>&dn=<name>&tr=<tracker>&tr=<tracker>&x.pe=<host:port>&xl=<bytes>
//! ```
//!
//! [`Magnet::parse`] reads one into a [`Magnet`]: the info-hash (40 hex digits or 32 base32
//! characters), the display name, the trackers and peers to ask, the length. The file list
//! and the piece hashes are not in the link: a client fetches the `info` dictionary from
//! peers (BEP 9's metadata exchange), which is not this module's business. [`link`] goes
//! the other way, from a torrent to the link other clients print for it.
//!
//! Pure: no sockets, no threads. Only [`Magnet::peer_addrs`] may resolve host names.
//! The text encodings are in `magnet/coding.rs`, the errors in `magnet/error.rs`.

pub mod coding;
mod error;

pub use error::MagnetError;

use crate::metainfo::hex;
use crate::tracker::http::percent_encode;
use error::shown;
use std::net::{SocketAddr, ToSocketAddrs};

/// What a magnet link says about a torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Magnet {
    /// The v1 info-hash (`xt=urn:btih:`): the SHA-1 of the torrent's `info` dictionary.
    pub info_hash: [u8; 20],
    /// The display name (`dn`), to show before the metadata arrives; the metadata's own
    /// name wins once it does.
    pub name: Option<String>,
    /// The trackers (`tr`), in the link's order, without repeats; each is a tier of its
    /// own (BEP 12), as a link has no way to group them.
    pub trackers: Vec<String>,
    /// Peers to dial (`x.pe`), as written: `a.b.c.d:port`, `[v6]:port` or `host:port`.
    pub peers: Vec<String>,
    /// The total length in bytes (`xl`), when the link gives it.
    pub length: Option<u64>,
}

impl Magnet {
    /// Reads a magnet link (spaces around it ignored). Parameters other than `xt`, `dn`,
    /// `tr`, `x.pe` and `xl` are ignored (web seeds, keywords, ...), as are those without
    /// an `=`; of several `xt` (a hybrid torrent's link carries `urn:btih:` and
    /// `urn:btmh:`), the `urn:btih:` one is used. A repeated `dn` or `xl`: the first wins.
    pub fn parse(uri: &str) -> Result<Magnet, MagnetError> {
        let uri = uri.trim();
        let query = strip_prefix_ignoring_case(uri, "magnet:?").ok_or(MagnetError::NotAMagnet)?;
        let mut topics = Vec::new();
        let mut magnet = Magnet {
            info_hash: [0; 20],
            name: None,
            trackers: Vec::new(),
            peers: Vec::new(),
            length: None,
        };
        for pair in query.split('&') {
            let Some((key, raw)) = pair.split_once('=') else {
                continue;
            };
            let value = || -> Result<String, MagnetError> {
                let bytes = coding::percent_decode(raw).map_err(|bad| MagnetError::BadEscape {
                    parameter: key.to_string(),
                    escape: bad.0,
                })?;
                Ok(String::from_utf8_lossy(&bytes).into_owned())
            };
            match key {
                "xt" => topics.push(value()?),
                "dn" if magnet.name.is_none() => {
                    let name = value()?;
                    magnet.name = (!name.is_empty()).then_some(name);
                }
                "tr" => push_new(&mut magnet.trackers, value()?),
                "x.pe" => push_new(&mut magnet.peers, value()?),
                "xl" if magnet.length.is_none() => {
                    let xl = value()?;
                    let length = xl.parse().map_err(|_| MagnetError::BadLength { xl })?;
                    magnet.length = Some(length);
                }
                _ => {}
            }
        }
        magnet.info_hash = info_hash(&topics)?;
        Ok(magnet)
    }

    /// The link as text: the info-hash in hex, then `dn`, `xl`, every `tr` and every
    /// `x.pe`, percent-encoded. [`Magnet::parse`] reads it back to the same `Magnet`.
    pub fn to_uri(&self) -> String {
        let mut uri = format!("magnet:?xt=urn:btih:{}", hex(&self.info_hash));
        if let Some(name) = &self.name {
            uri.push_str("&dn=");
            percent_encode(&mut uri, name.as_bytes());
        }
        if let Some(length) = self.length {
            uri.push_str(&format!("&xl={length}"));
        }
        for tracker in &self.trackers {
            uri.push_str("&tr=");
            percent_encode(&mut uri, tracker.as_bytes());
        }
        for peer in &self.peers {
            uri.push_str("&x.pe=");
            percent_encode(&mut uri, peer.as_bytes());
        }
        uri
    }

    /// The `x.pe` peers as addresses to dial, without repeats. A literal address is taken
    /// as it is; a `host:port` is resolved (which may block on DNS). An entry that is none
    /// of these, or has port 0, is skipped with a warning.
    pub fn peer_addrs(&self) -> Vec<SocketAddr> {
        let mut addrs = Vec::new();
        for peer in &self.peers {
            match resolve(peer) {
                Ok(found) => {
                    for addr in found {
                        if !addrs.contains(&addr) {
                            addrs.push(addr);
                        }
                    }
                }
                Err(why) => log::warn!("magnet link: skipping peer '{}': {why}", shown(peer)),
            }
        }
        addrs
    }
}

/// The magnet link of a torrent, as other clients print it: the info-hash in hex, the name
/// (left out when empty), and every tracker of every tier, each once.
pub fn link(info_hash: &[u8; 20], name: &str, trackers: &[Vec<String>]) -> String {
    let mut magnet = Magnet {
        info_hash: *info_hash,
        name: (!name.is_empty()).then(|| name.to_string()),
        trackers: Vec::new(),
        peers: Vec::new(),
        length: None,
    };
    for tracker in trackers.iter().flatten() {
        push_new(&mut magnet.trackers, tracker.clone());
    }
    magnet.to_uri()
}

/// The info-hash the `xt` parameters name (see [`Magnet::parse`]).
fn info_hash(topics: &[String]) -> Result<[u8; 20], MagnetError> {
    let mut found = None;
    for topic in topics {
        if let Some(text) = strip_prefix_ignoring_case(topic, "urn:btih:") {
            let hash = decode_hash(text)?;
            if found.is_some_and(|earlier| earlier != hash) {
                return Err(MagnetError::TwoHashes);
            }
            found = Some(hash);
        }
    }
    if let Some(hash) = found {
        return Ok(hash);
    }
    let v2 = |topic: &String| strip_prefix_ignoring_case(topic, "urn:btmh:").is_some();
    match topics.first() {
        None => Err(MagnetError::NoExactTopic),
        Some(_) if topics.iter().any(v2) => Err(MagnetError::OnlyV2),
        Some(xt) => Err(MagnetError::NotBitTorrent { xt: xt.clone() }),
    }
}

/// A `urn:btih:` hash: 40 hex digits, or 32 base32 characters (older links).
fn decode_hash(text: &str) -> Result<[u8; 20], MagnetError> {
    let hash = || text.to_string();
    match text.chars().count() {
        40 => coding::hex_20(text).ok_or_else(|| MagnetError::BadHex { hash: hash() }),
        32 => coding::base32_20(text).ok_or_else(|| MagnetError::BadBase32 { hash: hash() }),
        length => Err(MagnetError::HashLength { length }),
    }
}

/// One `x.pe` entry as addresses (see [`Magnet::peer_addrs`]).
fn resolve(peer: &str) -> Result<Vec<SocketAddr>, String> {
    let addrs = match peer.parse::<SocketAddr>() {
        Ok(addr) => vec![addr],
        Err(_) => {
            // Not a literal address: then a host name, checked before it is looked up.
            let Some((host, port)) = peer.rsplit_once(':') else {
                return Err("expected HOST:PORT".into());
            };
            if port.parse::<u16>().is_err() {
                return Err(format!("'{}' is not a port number", shown(port)));
            }
            if host.starts_with('[') {
                return Err("not an IPv6 address between the brackets".into());
            }
            if host.contains(':') {
                return Err("an IPv6 address needs brackets: [ADDRESS]:PORT".into());
            }
            let found = peer.to_socket_addrs();
            found
                .map_err(|error| format!("cannot resolve it: {error}"))?
                .collect()
        }
    };
    if addrs.iter().any(|addr| addr.port() == 0) {
        return Err("port 0 cannot be dialled".into());
    }
    Ok(addrs)
}

/// `text` without `prefix`, compared ignoring ASCII case; `None` if it does not start so.
fn strip_prefix_ignoring_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// Appends `item` unless it is empty or already there.
fn push_new(list: &mut Vec<String>, item: String) {
    if !item.is_empty() && !list.contains(&item) {
        list.push(item);
    }
}

#[cfg(test)]
mod tests;

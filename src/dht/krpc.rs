//! KRPC, the DHT's messages (BEP 5): bencoded dictionaries in UDP datagrams.
//!
//! Pure, like `wire.rs`: a datagram becomes a [`Message`] or a [`Malformed`] naming why,
//! and no input can make it panic or allocate more than the datagram's size allows. Every
//! message carries a transaction id (`t`) that the answer echoes, and its kind (`y`): a
//! query (`q`, with the method name and its arguments in `a`), a response (`r`), or an
//! error (`e`: a code and a text).

use super::id::Id;
use crate::bencode::{self, Limits, OwnedValue, Value};
use std::net::{Ipv4Addr, SocketAddrV4};

/// The largest datagram we read: a full answer is well under 1,500 bytes.
pub const MAX_PACKET: usize = 4096;
/// Nodes in a `nodes` answer: the `K` closest.
pub const MAX_NODES: usize = 8;
/// Peer addresses read from one `values` answer at most; the rest are ignored.
pub const MAX_VALUES: usize = 200;
/// Transaction ids longer than this are refused: ours are 2 bytes, libtorrent's 2 to 4.
const MAX_TRANSACTION: usize = 16;

const LIMITS: Limits = Limits {
    max_depth: 4,
    max_items: 512,
};

/// BEP 5's error codes.
pub mod error {
    pub const GENERIC: i64 = 201;
    pub const SERVER: i64 = 202;
    pub const PROTOCOL: i64 = 203;
    pub const METHOD_UNKNOWN: i64 = 204;
}

/// One KRPC message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The transaction id, echoed by the answer.
    pub transaction: Vec<u8>,
    pub body: Body,
}

/// What a message is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Query(Query),
    Response(Response),
    Error { code: i64, text: String },
}

/// A query, with the querying node's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    Ping {
        id: Id,
    },
    FindNode {
        id: Id,
        target: Id,
    },
    GetPeers {
        id: Id,
        info_hash: Id,
    },
    AnnouncePeer {
        id: Id,
        info_hash: Id,
        /// The port the querier's peer listens on, unless `implied_port`.
        port: u16,
        /// Use the datagram's source port instead of `port` (BEP 5, for NATs).
        implied_port: bool,
        token: Vec<u8>,
    },
    /// A method we do not know: answered with error 204.
    Unknown {
        id: Id,
        method: String,
    },
}

/// A response. Which fields it has depends on the query it answers (`find_node`: nodes;
/// `get_peers`: a token and values or nodes; `ping`, `announce_peer`: only the id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    pub id: Option<Id>,
    pub nodes: Vec<(Id, SocketAddrV4)>,
    pub values: Vec<SocketAddrV4>,
    pub token: Option<Vec<u8>>,
}

/// A datagram that is no KRPC message, and the transaction id if one could be read (so
/// the sender of a bad query can be answered with error 203).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    pub transaction: Option<Vec<u8>>,
    pub why: &'static str,
}

impl Query {
    /// The querying node's id.
    pub fn id(&self) -> Id {
        match self {
            Query::Ping { id }
            | Query::FindNode { id, .. }
            | Query::GetPeers { id, .. }
            | Query::AnnouncePeer { id, .. }
            | Query::Unknown { id, .. } => *id,
        }
    }

    /// The method's name on the wire.
    pub fn method(&self) -> &str {
        match self {
            Query::Ping { .. } => "ping",
            Query::FindNode { .. } => "find_node",
            Query::GetPeers { .. } => "get_peers",
            Query::AnnouncePeer { .. } => "announce_peer",
            Query::Unknown { method, .. } => method,
        }
    }
}

impl Message {
    /// Decodes one datagram.
    pub fn decode(datagram: &[u8]) -> Result<Message, Malformed> {
        let bad = |transaction: Option<&[u8]>, why| Malformed {
            transaction: transaction.map(<[u8]>::to_vec),
            why,
        };
        if datagram.len() > MAX_PACKET {
            return Err(bad(None, "datagram too large"));
        }
        let root = bencode::decode_with(datagram, LIMITS).map_err(|_| bad(None, "not bencode"))?;
        if root.as_dict().is_none() {
            return Err(bad(None, "not a dictionary"));
        }
        let transaction = root
            .get("t")
            .and_then(Value::as_bytes)
            .filter(|t| t.len() <= MAX_TRANSACTION)
            .ok_or_else(|| bad(None, "no transaction id"))?;
        let t = Some(transaction);
        let body = match root.get("y").and_then(Value::as_bytes) {
            Some(b"q") => Body::Query(query(&root).map_err(|why| bad(t, why))?),
            Some(b"r") => Body::Response(response(&root).map_err(|why| bad(t, why))?),
            Some(b"e") => {
                let list = root.get("e").and_then(Value::as_list).unwrap_or(&[]);
                Body::Error {
                    code: list
                        .first()
                        .and_then(Value::as_int)
                        .unwrap_or(error::GENERIC),
                    text: list
                        .get(1)
                        .and_then(Value::as_bytes)
                        .map(|b| String::from_utf8_lossy(&b[..b.len().min(200)]).into_owned())
                        .unwrap_or_default(),
                }
            }
            _ => return Err(bad(t, "no message type")),
        };
        Ok(Message {
            transaction: transaction.to_vec(),
            body,
        })
    }

    /// The datagram for this message, with our client version `v`.
    pub fn encode(&self) -> Vec<u8> {
        let (kind, key, value) = match &self.body {
            Body::Query(query) => ("q", "a", query_args(query)),
            Body::Response(response) => ("r", "r", response_dict(response)),
            Body::Error { code, text } => (
                "e",
                "e",
                OwnedValue::List(vec![
                    OwnedValue::Int(*code),
                    OwnedValue::bytes(text.as_bytes()),
                ]),
            ),
        };
        let mut entries = vec![
            ("t", OwnedValue::bytes(self.transaction.clone())),
            ("y", OwnedValue::bytes(kind)),
            ("v", OwnedValue::bytes(&b"ST01"[..])),
            (key, value),
        ];
        if let Body::Query(query) = &self.body {
            entries.push(("q", OwnedValue::bytes(query.method().as_bytes())));
        }
        OwnedValue::dict(entries).to_bytes()
    }
}

fn id_of(dict: &Value, key: &str) -> Option<Id> {
    dict.get(key)
        .and_then(Value::as_bytes)
        .and_then(Id::from_slice)
}

fn query(root: &Value) -> Result<Query, &'static str> {
    let method = root
        .get("q")
        .and_then(Value::as_bytes)
        .ok_or("a query without a method")?;
    let args = root
        .get("a")
        .filter(|a| a.as_dict().is_some())
        .ok_or("a query without arguments")?;
    let id = id_of(args, "id").ok_or("a query without a valid node id")?;
    Ok(match method {
        b"ping" => Query::Ping { id },
        b"find_node" => Query::FindNode {
            id,
            target: id_of(args, "target").ok_or("find_node without a valid target")?,
        },
        b"get_peers" => Query::GetPeers {
            id,
            info_hash: id_of(args, "info_hash").ok_or("get_peers without a valid info_hash")?,
        },
        b"announce_peer" => Query::AnnouncePeer {
            id,
            info_hash: id_of(args, "info_hash").ok_or("announce_peer without a valid info_hash")?,
            implied_port: args.get("implied_port").and_then(Value::as_int) == Some(1),
            port: args
                .get("port")
                .and_then(Value::as_int)
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(0),
            token: args
                .get("token")
                .and_then(Value::as_bytes)
                .ok_or("announce_peer without a token")?
                .to_vec(),
        },
        other => Query::Unknown {
            id,
            method: String::from_utf8_lossy(&other[..other.len().min(32)]).into_owned(),
        },
    })
}

fn response(root: &Value) -> Result<Response, &'static str> {
    let r = root
        .get("r")
        .filter(|r| r.as_dict().is_some())
        .ok_or("a response without 'r'")?;
    let nodes = match r.get("nodes") {
        None => Vec::new(),
        Some(nodes) => {
            let bytes = nodes.as_bytes().ok_or("'nodes' is not a string")?;
            if bytes.len() % 26 != 0 {
                return Err("'nodes' is not a whole number of 26-byte entries");
            }
            bytes
                .chunks_exact(26)
                .take(MAX_NODES * 2)
                .filter_map(node)
                .collect()
        }
    };
    let values = match r.get("values") {
        None => Vec::new(),
        Some(values) => values
            .as_list()
            .ok_or("'values' is not a list")?
            .iter()
            .take(MAX_VALUES)
            .filter_map(|v| v.as_bytes().and_then(peer))
            .collect(),
    };
    Ok(Response {
        id: id_of(r, "id"),
        nodes,
        values,
        token: r.get("token").and_then(Value::as_bytes).map(<[u8]>::to_vec),
    })
}

/// A compact node: 20 bytes of id, 4 of IPv4, 2 of port. A port 0 entry is no node.
fn node(entry: &[u8]) -> Option<(Id, SocketAddrV4)> {
    let id = Id::from_slice(&entry[..20])?;
    Some((id, peer(&entry[20..26])?))
}

/// A compact peer: 4 bytes of IPv4, 2 of port; `None` for another length or port 0.
pub fn peer(entry: &[u8]) -> Option<SocketAddrV4> {
    let bytes: [u8; 6] = entry.try_into().ok()?;
    let port = u16::from_be_bytes([bytes[4], bytes[5]]);
    (port != 0)
        .then(|| SocketAddrV4::new(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]), port))
}

fn compact_peer(addr: &SocketAddrV4) -> Vec<u8> {
    let mut out = addr.ip().octets().to_vec();
    out.extend_from_slice(&addr.port().to_be_bytes());
    out
}

fn query_args(query: &Query) -> OwnedValue {
    let id = |id: &Id| OwnedValue::bytes(id.0.to_vec());
    let mut entries = vec![("id", id(&query.id()))];
    match query {
        Query::Ping { .. } | Query::Unknown { .. } => {}
        Query::FindNode { target, .. } => entries.push(("target", id(target))),
        Query::GetPeers { info_hash, .. } => entries.push(("info_hash", id(info_hash))),
        Query::AnnouncePeer {
            info_hash,
            port,
            implied_port,
            token,
            ..
        } => {
            entries.push(("info_hash", id(info_hash)));
            entries.push(("implied_port", OwnedValue::Int(i64::from(*implied_port))));
            entries.push(("port", OwnedValue::Int(i64::from(*port))));
            entries.push(("token", OwnedValue::bytes(token.clone())));
        }
    }
    OwnedValue::dict(entries)
}

fn response_dict(response: &Response) -> OwnedValue {
    let mut entries = Vec::new();
    if let Some(id) = response.id {
        entries.push(("id", OwnedValue::bytes(id.0.to_vec())));
    }
    if !response.nodes.is_empty() {
        let mut bytes = Vec::with_capacity(26 * response.nodes.len());
        for (id, addr) in &response.nodes {
            bytes.extend_from_slice(&id.0);
            bytes.extend(compact_peer(addr));
        }
        entries.push(("nodes", OwnedValue::bytes(bytes)));
    }
    if !response.values.is_empty() {
        let values = response
            .values
            .iter()
            .map(|a| OwnedValue::bytes(compact_peer(a)));
        entries.push(("values", OwnedValue::List(values.collect())));
    }
    if let Some(token) = &response.token {
        entries.push(("token", OwnedValue::bytes(token.clone())));
    }
    OwnedValue::dict(entries)
}

#[cfg(test)]
mod tests;

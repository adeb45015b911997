//! BEP 11's `ut_pex` messages: peer exchange, two connected peers telling each other about
//! once a minute which peers they connected to and which they lost since their last
//! message, so that a swarm's peers find each other without asking a tracker again.
//!
//! One message is a bencoded dictionary of byte strings, every key optional:
//!
//! | key | what it holds |
//! | --- | --- |
//! | `added` | IPv4 peers connected since the last message: 6 bytes each (address, port; big-endian) |
//! | `added.f` | one byte of [`Flags`] per peer of `added` |
//! | `dropped` | IPv4 peers disconnected since the last message, 6 bytes each |
//! | `added6`, `added6.f`, `dropped6` | the same for IPv6: 18 bytes each (address, port) |
//!
//! A list whose length is no multiple of its entry's size, a key that is not a byte string,
//! or flags that do not match their peers one for one, is an [`ExtensionError`]: a
//! connection that sends one is dropped.

use super::{ExtensionError, LIMITS};
use crate::bencode::{self, OwnedValue, Value};
use crate::wire::Message;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Bytes of one compact IPv4 peer: 4 of address, 2 of port.
const V4_LEN: usize = 6;
/// Bytes of one compact IPv6 peer: 16 of address, 2 of port.
const V6_LEN: usize = 18;

/// What the sender knows of one added peer (BEP 11), one byte per peer of `added`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Flags(pub u8);

impl Flags {
    /// The peer prefers encrypted connections (`e` = 1 in its extension handshake).
    pub const PREFERS_ENCRYPTION: Flags = Flags(0x01);
    /// The peer has every piece (or says it uploads only).
    pub const SEED: Flags = Flags(0x02);
    /// The sender dialled the peer: it accepts connections.
    pub const REACHABLE: Flags = Flags(0x10);

    /// These flags and `other`'s together.
    pub fn with(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    /// True if every flag of `other` is set here.
    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
}

/// One `ut_pex` message: IPv4 and IPv6 peers together (the codec splits them by family).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PexMessage {
    /// Peers the sender connected to since its last message, each with its flags.
    pub added: Vec<(SocketAddr, Flags)>,
    /// Peers the sender lost since its last message.
    pub dropped: Vec<SocketAddr>,
}

impl PexMessage {
    /// Decodes a `ut_pex` payload. Keys BEP 11 does not define are ignored.
    pub fn decode(payload: &[u8]) -> Result<PexMessage, ExtensionError> {
        let bad = |why: String| ExtensionError::BadPexMessage(why);
        let dict = bencode::decode_with(payload, LIMITS).map_err(|e| bad(e.to_string()))?;
        if dict.as_dict().is_none() {
            return Err(bad("not a dictionary".into()));
        }
        let mut message = PexMessage::default();
        for (peers, flags, entry) in [("added", "added.f", V4_LEN), ("added6", "added6.f", V6_LEN)]
        {
            let addrs = compact(&dict, peers, entry)?;
            let flags = match bytes(&dict, flags)? {
                None => vec![0; addrs.len()],
                Some(flags) if flags.len() == addrs.len() => flags.to_vec(),
                Some(flags) => {
                    return Err(bad(format!(
                        "'{peers}' lists {} peers but its flags are {} bytes",
                        addrs.len(),
                        flags.len()
                    )));
                }
            };
            let flagged = addrs.into_iter().zip(flags.into_iter().map(Flags));
            message.added.extend(flagged);
        }
        for (dropped, entry) in [("dropped", V4_LEN), ("dropped6", V6_LEN)] {
            message.dropped.extend(compact(&dict, dropped, entry)?);
        }
        Ok(message)
    }

    /// This message as a wire message, for a peer that numbered `ut_pex` `id`. Every key
    /// is written, empty or not, as libtorrent does.
    pub fn to_message(&self, id: u8) -> Message {
        let mut lists: [Vec<u8>; 6] = Default::default();
        let [added, added_f, dropped, added6, added6_f, dropped6] = &mut lists;
        for (addr, flags) in &self.added {
            let (peers, flag_bytes) = match addr {
                SocketAddr::V4(_) => (&mut *added, &mut *added_f),
                SocketAddr::V6(_) => (&mut *added6, &mut *added6_f),
            };
            write_compact(*addr, peers);
            flag_bytes.push(flags.0);
        }
        for addr in &self.dropped {
            let peers = match addr {
                SocketAddr::V4(_) => &mut *dropped,
                SocketAddr::V6(_) => &mut *dropped6,
            };
            write_compact(*addr, peers);
        }
        let keys = [
            "added", "added.f", "dropped", "added6", "added6.f", "dropped6",
        ];
        let entries = keys.into_iter().zip(lists.map(OwnedValue::Bytes));
        Message::Extended {
            id,
            payload: OwnedValue::dict(entries).to_bytes(),
        }
    }
}

/// The byte string under `key`, if there is one; an error if `key` holds something else.
fn bytes<'a>(dict: &Value<'a>, key: &str) -> Result<Option<&'a [u8]>, ExtensionError> {
    match dict.get(key) {
        None => Ok(None),
        Some(Value::Bytes(bytes)) => Ok(Some(bytes)),
        Some(_) => Err(ExtensionError::BadPexMessage(format!(
            "'{key}' is not a byte string"
        ))),
    }
}

/// The compact peer list under `key`, `entry` bytes a peer (none if the key is absent).
fn compact(dict: &Value<'_>, key: &str, entry: usize) -> Result<Vec<SocketAddr>, ExtensionError> {
    let list = bytes(dict, key)?.unwrap_or_default();
    if list.len() % entry != 0 {
        return Err(ExtensionError::BadPexMessage(format!(
            "'{key}' is {} bytes, not a multiple of {entry}",
            list.len()
        )));
    }
    Ok(list.chunks_exact(entry).map(read_compact).collect())
}

/// One compact peer: the address (4 or 16 bytes), then the port, big-endian.
fn read_compact(chunk: &[u8]) -> SocketAddr {
    let (ip, port) = chunk.split_at(chunk.len() - 2);
    let port = u16::from_be_bytes([port[0], port[1]]);
    let ip = match <[u8; 4]>::try_from(ip) {
        Ok(v4) => IpAddr::V4(Ipv4Addr::from(v4)),
        // `compact` cuts only 6- and 18-byte chunks: this one has 16 bytes of address.
        Err(_) => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(ip).unwrap_or_default())),
    };
    SocketAddr::new(ip, port)
}

/// Appends `addr` in compact form.
fn write_compact(addr: SocketAddr, out: &mut Vec<u8>) {
    match addr.ip() {
        IpAddr::V4(ip) => out.extend_from_slice(&ip.octets()),
        IpAddr::V6(ip) => out.extend_from_slice(&ip.octets()),
    }
    out.extend_from_slice(&addr.port().to_be_bytes());
}

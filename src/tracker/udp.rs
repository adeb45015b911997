//! The UDP tracker protocol's packets (BEP 15), both directions, as pure functions.
//!
//! The client ([`super::udp_client`]) encodes [`Request`]s and parses [`Reply`]s; the tracker
//! server (`tracker_server::udp`) does the opposite with the same code, so one set of
//! byte-for-byte tests covers both. All numbers are big-endian.
//!
//! ```text
//! connect request   u64 protocol id 0x41727101980 | u32 action 0 | u32 transaction id
//! connect reply     u32 action 0 | u32 transaction id | u64 connection id
//! announce request  u64 connection id | u32 action 1 | u32 transaction id | 20 info-hash
//!                   | 20 peer id | u64 downloaded | u64 left | u64 uploaded | u32 event
//!                   | u32 ip | u32 key | i32 num_want | u16 port            (98 bytes)
//! announce reply    u32 action 1 | u32 transaction id | u32 interval | u32 leechers
//!                   | u32 seeders | 6 bytes per IPv4 peer (18 per IPv6 peer)
//! scrape request    u64 connection id | u32 action 2 | u32 transaction id | 20 per hash
//! scrape reply      u32 action 2 | u32 transaction id | u32 seeders, completed, leechers
//! error reply       u32 action 3 | u32 transaction id | message text
//! ```
//!
//! Parsers never panic: a packet too short for its action, or with an unknown action, is a
//! [`PacketError`]. Bytes after a request's fixed part (BEP 41 options) are ignored.

use super::{Event, ScrapeStats};
use byteorder::{BigEndian, ByteOrder};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The magic number that opens a connect request.
pub const PROTOCOL_ID: u64 = 0x0417_2710_1980;
/// Size of an announce request without options.
pub const ANNOUNCE_LEN: usize = 98;
/// The most info-hashes one scrape may carry (BEP 15: "about 74" fit in a packet).
pub const MAX_SCRAPE_HASHES: usize = 74;

const CONNECT: u32 = 0;
const ANNOUNCE: u32 = 1;
const SCRAPE: u32 = 2;
const ERROR: u32 = 3;

/// The announce fields of a UDP announce request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announce {
    pub info_hash: [u8; 20],
    pub peer_id: [u8; 20],
    pub downloaded: u64,
    pub left: u64,
    pub uploaded: u64,
    pub event: Event,
    /// The address to list instead of the sender's; 0 means "the sender's".
    pub ip: u32,
    pub key: u32,
    /// -1 means "the tracker's default".
    pub numwant: i32,
    pub port: u16,
}

/// A packet from a client to a tracker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Connect {
        transaction_id: u32,
    },
    Announce {
        connection_id: u64,
        transaction_id: u32,
        announce: Announce,
    },
    Scrape {
        connection_id: u64,
        transaction_id: u32,
        info_hashes: Vec<[u8; 20]>,
    },
}

/// A packet from a tracker to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Connect {
        transaction_id: u32,
        connection_id: u64,
    },
    Announce {
        transaction_id: u32,
        /// Seconds until the next announce.
        interval: u32,
        leechers: u32,
        seeders: u32,
        /// All IPv4 or all IPv6, as the socket's family dictates.
        peers: Vec<SocketAddr>,
    },
    Scrape {
        transaction_id: u32,
        stats: Vec<ScrapeStats>,
    },
    Error {
        transaction_id: u32,
        message: String,
    },
}

impl Reply {
    /// The transaction id the reply answers.
    pub fn transaction_id(&self) -> u32 {
        match self {
            Reply::Connect { transaction_id, .. }
            | Reply::Announce { transaction_id, .. }
            | Reply::Scrape { transaction_id, .. }
            | Reply::Error { transaction_id, .. } => *transaction_id,
        }
    }
}

/// Why a packet could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PacketError {
    /// Shorter than the fixed part of its action (or than the 8-byte header).
    TooShort { len: usize, need: usize },
    /// The action field holds no action this side of the protocol knows.
    UnknownAction(u32),
    /// A connect request without the protocol's magic number.
    NotBep15,
}

impl fmt::Display for PacketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PacketError::TooShort { len, need } => {
                write!(f, "packet of {len} bytes, shorter than the {need} it needs")
            }
            PacketError::UnknownAction(action) => write!(f, "unknown action {action}"),
            PacketError::NotBep15 => write!(f, "connect request without the BEP 15 magic"),
        }
    }
}

impl std::error::Error for PacketError {}

/// The `event` field's number.
fn event_code(event: Event) -> u32 {
    match event {
        Event::None => 0,
        Event::Completed => 1,
        Event::Started => 2,
        Event::Stopped => 3,
    }
}

/// Big-endian reads from a packet already checked to be long enough.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn u16(&self, at: usize) -> u16 {
        BigEndian::read_u16(&self.0[at..])
    }
    fn u32(&self, at: usize) -> u32 {
        BigEndian::read_u32(&self.0[at..])
    }
    fn u64(&self, at: usize) -> u64 {
        BigEndian::read_u64(&self.0[at..])
    }
    fn hash(&self, at: usize) -> [u8; 20] {
        let mut b = [0; 20];
        b.copy_from_slice(&self.0[at..at + 20]);
        b
    }
}

fn need(packet: &[u8], need: usize) -> Result<Fields<'_>, PacketError> {
    if packet.len() < need {
        return Err(PacketError::TooShort {
            len: packet.len(),
            need,
        });
    }
    Ok(Fields(packet))
}

impl Request {
    /// The packet's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ANNOUNCE_LEN);
        match self {
            Request::Connect { transaction_id } => {
                out.extend_from_slice(&PROTOCOL_ID.to_be_bytes());
                out.extend_from_slice(&CONNECT.to_be_bytes());
                out.extend_from_slice(&transaction_id.to_be_bytes());
            }
            Request::Announce {
                connection_id,
                transaction_id,
                announce: a,
            } => {
                out.extend_from_slice(&connection_id.to_be_bytes());
                out.extend_from_slice(&ANNOUNCE.to_be_bytes());
                out.extend_from_slice(&transaction_id.to_be_bytes());
                out.extend_from_slice(&a.info_hash);
                out.extend_from_slice(&a.peer_id);
                for n in [a.downloaded, a.left, a.uploaded] {
                    out.extend_from_slice(&n.to_be_bytes());
                }
                for n in [event_code(a.event), a.ip, a.key] {
                    out.extend_from_slice(&n.to_be_bytes());
                }
                out.extend_from_slice(&a.numwant.to_be_bytes());
                out.extend_from_slice(&a.port.to_be_bytes());
            }
            Request::Scrape {
                connection_id,
                transaction_id,
                info_hashes,
            } => {
                out.extend_from_slice(&connection_id.to_be_bytes());
                out.extend_from_slice(&SCRAPE.to_be_bytes());
                out.extend_from_slice(&transaction_id.to_be_bytes());
                info_hashes.iter().for_each(|h| out.extend_from_slice(h));
            }
        }
        out
    }

    /// Reads a client's packet (the tracker server's side).
    pub fn parse(packet: &[u8]) -> Result<Request, PacketError> {
        let f = need(packet, 16)?;
        let (connection_id, action, transaction_id) = (f.u64(0), f.u32(8), f.u32(12));
        match action {
            CONNECT if connection_id != PROTOCOL_ID => Err(PacketError::NotBep15),
            CONNECT => Ok(Request::Connect { transaction_id }),
            ANNOUNCE => {
                let f = need(packet, ANNOUNCE_LEN)?;
                let event = match f.u32(80) {
                    1 => Event::Completed,
                    2 => Event::Started,
                    3 => Event::Stopped,
                    _ => Event::None,
                };
                let announce = Announce {
                    info_hash: f.hash(16),
                    peer_id: f.hash(36),
                    downloaded: f.u64(56),
                    left: f.u64(64),
                    uploaded: f.u64(72),
                    event,
                    ip: f.u32(84),
                    key: f.u32(88),
                    numwant: f.u32(92) as i32,
                    port: f.u16(96),
                };
                Ok(Request::Announce {
                    connection_id,
                    transaction_id,
                    announce,
                })
            }
            SCRAPE => {
                let info_hashes = packet[16..]
                    .chunks_exact(20)
                    .take(MAX_SCRAPE_HASHES)
                    .map(|chunk| Fields(chunk).hash(0))
                    .collect();
                Ok(Request::Scrape {
                    connection_id,
                    transaction_id,
                    info_hashes,
                })
            }
            other => Err(PacketError::UnknownAction(other)),
        }
    }
}

impl Reply {
    /// The packet's bytes. Peers are written in the form their address family has.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        let mut head = |action: u32, transaction_id: u32| {
            out.extend_from_slice(&action.to_be_bytes());
            out.extend_from_slice(&transaction_id.to_be_bytes());
        };
        match self {
            Reply::Connect {
                transaction_id,
                connection_id,
            } => {
                head(CONNECT, *transaction_id);
                out.extend_from_slice(&connection_id.to_be_bytes());
            }
            Reply::Announce {
                transaction_id,
                interval,
                leechers,
                seeders,
                peers,
            } => {
                head(ANNOUNCE, *transaction_id);
                for n in [*interval, *leechers, *seeders] {
                    out.extend_from_slice(&n.to_be_bytes());
                }
                for peer in peers {
                    match peer.ip() {
                        IpAddr::V4(ip) => out.extend_from_slice(&ip.octets()),
                        IpAddr::V6(ip) => out.extend_from_slice(&ip.octets()),
                    }
                    out.extend_from_slice(&peer.port().to_be_bytes());
                }
            }
            Reply::Scrape {
                transaction_id,
                stats,
            } => {
                head(SCRAPE, *transaction_id);
                for s in stats {
                    for n in [s.seeders, s.completed, s.leechers] {
                        out.extend_from_slice(&n.to_be_bytes());
                    }
                }
            }
            Reply::Error {
                transaction_id,
                message,
            } => {
                head(ERROR, *transaction_id);
                out.extend_from_slice(message.as_bytes());
            }
        }
        out
    }

    /// Reads a tracker's packet (the client's side). `v6` says the socket is IPv6, so
    /// announce peers are 18 bytes each; stray bytes after the last whole peer are ignored,
    /// as are port-0 peers.
    pub fn parse(packet: &[u8], v6: bool) -> Result<Reply, PacketError> {
        let f = need(packet, 8)?;
        let (action, transaction_id) = (f.u32(0), f.u32(4));
        match action {
            CONNECT => {
                let f = need(packet, 16)?;
                Ok(Reply::Connect {
                    transaction_id,
                    connection_id: f.u64(8),
                })
            }
            ANNOUNCE => {
                let f = need(packet, 20)?;
                let entry = if v6 { 18 } else { 6 };
                let peers = packet[20..].chunks_exact(entry).filter_map(peer).collect();
                Ok(Reply::Announce {
                    transaction_id,
                    interval: f.u32(8),
                    leechers: f.u32(12),
                    seeders: f.u32(16),
                    peers,
                })
            }
            SCRAPE => {
                let stats = packet[8..]
                    .chunks_exact(12)
                    .map(|chunk| {
                        let f = Fields(chunk);
                        ScrapeStats {
                            seeders: f.u32(0),
                            completed: f.u32(4),
                            leechers: f.u32(8),
                        }
                    })
                    .collect();
                Ok(Reply::Scrape {
                    transaction_id,
                    stats,
                })
            }
            ERROR => Ok(Reply::Error {
                transaction_id,
                message: String::from_utf8_lossy(&packet[8..]).trim().to_owned(),
            }),
            other => Err(PacketError::UnknownAction(other)),
        }
    }
}

/// One compact peer (6 or 18 bytes); `None` for port 0.
fn peer(chunk: &[u8]) -> Option<SocketAddr> {
    let (ip, port) = chunk.split_at(chunk.len() - 2);
    let port = BigEndian::read_u16(port);
    let ip = match <[u8; 4]>::try_from(ip) {
        Ok(v4) => IpAddr::V4(Ipv4Addr::from(v4)),
        Err(_) => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(ip).ok()?)),
    };
    (port != 0).then_some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests;

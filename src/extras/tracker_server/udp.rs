//! The UDP tracker's thread (BEP 15).
//!
//! * Thread: `tracker-udp`, started by `spawn`.
//! * Owns: the socket and the secret behind connection ids.
//! * Reads and writes: the peer store in `Shared`, under its lock for one announce.
//!
//! Connection ids are not stored: an id is a keyed hash of the client's IP and the current
//! minute, so it is valid for 60 to 120 s and costs no memory however many clients
//! connect. A packet too short to carry a transaction id is dropped; any other bad packet
//! is answered with an `error` action saying what is wrong. The socket's read timeout
//! ([`TICK`]) lets the thread see the stop flag.

use super::Shared;
use super::store::Announce;
use crate::tracker::udp::{PacketError, Reply, Request};
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::io::{self, ErrorKind};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the thread looks at the stop flag.
pub const TICK: Duration = Duration::from_millis(200);
/// How long one connection id epoch lasts.
const EPOCH: Duration = Duration::from_secs(60);

/// Issues and checks connection ids.
pub(super) struct ConnectionIds {
    keys: RandomState,
    start: Instant,
}

impl ConnectionIds {
    pub(super) fn new() -> ConnectionIds {
        ConnectionIds {
            keys: RandomState::new(),
            start: Instant::now(),
        }
    }

    fn epoch(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.start).as_secs() / EPOCH.as_secs()
    }

    fn id(&self, ip: IpAddr, epoch: u64) -> u64 {
        self.keys.hash_one((ip, epoch))
    }

    pub(super) fn issue(&self, ip: IpAddr, now: Instant) -> u64 {
        self.id(ip, self.epoch(now))
    }

    /// True for an id issued to `ip` in this epoch or the one before.
    pub(super) fn valid(&self, ip: IpAddr, id: u64, now: Instant) -> bool {
        let epoch = self.epoch(now);
        id == self.id(ip, epoch) || (epoch > 0 && id == self.id(ip, epoch - 1))
    }
}

/// Starts the UDP thread on `socket`.
pub(super) fn spawn(socket: UdpSocket, shared: Arc<Shared>) -> io::Result<JoinHandle<()>> {
    socket.set_read_timeout(Some(TICK))?;
    std::thread::Builder::new()
        .name("tracker-udp".into())
        .stack_size(256 * 1024)
        .spawn(move || run(&socket, &shared))
}

fn run(socket: &UdpSocket, shared: &Shared) {
    let ids = ConnectionIds::new();
    let mut buf = [0u8; 2048];
    while !shared.stop.load(Ordering::Relaxed) {
        let (len, from) = match socket.recv_from(&mut buf) {
            Ok(received) => received,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) => {
                // ICMP errors from earlier replies and the like: not fatal.
                log::debug!("udp tracker: receive failed: {e}");
                continue;
            }
        };
        if let Some(reply) = answer(&buf[..len], from, shared, &ids, Instant::now())
            && let Err(e) = socket.send_to(&reply.encode(), from)
        {
            log::debug!("udp tracker: reply to {from} failed: {e}");
        }
    }
}

/// The reply to `packet` from `from`, or `None` for a packet to drop.
pub(super) fn answer(
    packet: &[u8],
    from: SocketAddr,
    shared: &Shared,
    ids: &ConnectionIds,
    now: Instant,
) -> Option<Reply> {
    let ip = from.ip().to_canonical();
    let error = |transaction_id, message: &str| {
        Some(Reply::Error {
            transaction_id,
            message: message.to_owned(),
        })
    };
    let request = match Request::parse(packet) {
        Ok(request) => request,
        Err(PacketError::TooShort { len, .. }) if len < 16 => return None,
        Err(e) => {
            let transaction_id = u32::from_be_bytes(packet.get(12..16)?.try_into().ok()?);
            return error(transaction_id, &format!("bad request: {e}"));
        }
    };
    match request {
        Request::Connect { transaction_id } => Some(Reply::Connect {
            transaction_id,
            connection_id: ids.issue(ip, now),
        }),
        Request::Announce {
            connection_id,
            transaction_id,
            ..
        }
        | Request::Scrape {
            connection_id,
            transaction_id,
            ..
        } if !ids.valid(ip, connection_id, now) => error(
            transaction_id,
            "unknown or expired connection id; connect again",
        ),
        Request::Announce {
            transaction_id,
            announce: a,
            ..
        } => {
            let request = Announce {
                info_hash: a.info_hash,
                peer_id: a.peer_id,
                addr: SocketAddr::new(ip, a.port),
                event: a.event,
                left: a.left,
                numwant: usize::try_from(a.numwant).ok(),
            };
            if a.port == 0 {
                return error(transaction_id, "invalid port");
            }
            match shared.announce(&request, "udp") {
                Ok(answer) => Some(Reply::Announce {
                    transaction_id,
                    interval: u32::try_from(shared.interval.as_secs()).unwrap_or(u32::MAX),
                    leechers: answer.leechers,
                    seeders: answer.seeders,
                    // The reply's peers are all of the asker's address family.
                    peers: answer
                        .peers
                        .into_iter()
                        .map(|(addr, _)| addr)
                        .filter(|addr| addr.is_ipv4() == ip.is_ipv4())
                        .collect(),
                }),
                Err(refusal) => error(transaction_id, &refusal.to_string()),
            }
        }
        Request::Scrape {
            transaction_id,
            info_hashes,
            ..
        } => Some(Reply::Scrape {
            transaction_id,
            stats: shared
                .scrape(&info_hashes)
                .into_iter()
                .map(|(_, stats)| stats)
                .collect(),
        }),
    }
}

#[cfg(test)]
mod tests;

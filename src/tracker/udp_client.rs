//! Talking to a UDP tracker (BEP 15): connect, then announce or scrape, over one blocking
//! socket. The packets themselves are in [`super::udp`].
//!
//! * **Connection ids** are cached per tracker address for 60 s (the spec's lifetime), in a
//!   process-wide table: the id belongs to our IP and the tracker, not to a torrent, so the
//!   announces of one session share it. A tracker that answers an announce with an error
//!   loses its cached id, in case the id was the problem.
//! * **Transaction ids** are random; a reply with another id or too short to read is
//!   ignored and we keep waiting (an old or stray reply must not cost us the announce); if
//!   nothing valid came, the error counts what was ignored. A reply of the wrong kind for
//!   our transaction is an error at once.
//! * **Retransmission** follows the spec's back-off, waiting 15·2ⁿ s after the n-th send,
//!   but never longer in total than the caller's `timeout` (the announcer gives 20 s), so a
//!   dead tracker cannot hold the download: the next tracker is tried instead.

use super::udp::{self, Reply, Request};
use super::{AnnounceRequest, AnnounceResponse, ScrapeStats, TrackerError};
use crate::random::Rng;
use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a connection id may be used (BEP 15).
const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// The spec's first retransmission timeout; it doubles after every send.
pub const FIRST_WAIT: Duration = Duration::from_secs(15);
/// Datagrams larger than this are cut (a reply with 200 IPv6 peers is 3.6 KiB).
const MAX_PACKET: usize = 8192;

/// Connection ids by tracker address, with the time each was issued.
static CONNECTIONS: Mutex<Option<HashMap<SocketAddr, (u64, Instant)>>> = Mutex::new(None);

/// How long to wait for a tracker.
#[derive(Debug, Clone, Copy)]
pub struct Patience {
    /// The wait after the first send; doubled after each retransmission.
    pub first: Duration,
    /// The most one announce or scrape may take, connect included.
    pub total: Duration,
}

impl Patience {
    /// The spec's back-off within `total`.
    pub fn within(total: Duration) -> Patience {
        Patience {
            first: FIRST_WAIT,
            total,
        }
    }
}

/// Announces over UDP, waiting at most about `timeout`.
pub fn announce(
    url: &str,
    req: &AnnounceRequest,
    timeout: Duration,
) -> Result<AnnounceResponse, TrackerError> {
    announce_with(url, req, Patience::within(timeout))
}

/// [`announce`] with a chosen back-off (tests use short ones).
pub fn announce_with(
    url: &str,
    req: &AnnounceRequest,
    patience: Patience,
) -> Result<AnnounceResponse, TrackerError> {
    let mut session = Session::open(url, patience, req.bind)?;
    let announce = udp::Announce {
        info_hash: req.info_hash,
        peer_id: req.peer_id,
        downloaded: req.downloaded,
        left: req.left,
        uploaded: req.uploaded,
        event: req.event,
        ip: 0,
        key: req.key,
        numwant: i32::try_from(req.numwant).unwrap_or(i32::MAX),
        port: req.port,
    };
    match session.ask(|connection_id, transaction_id| Request::Announce {
        connection_id,
        transaction_id,
        announce: announce.clone(),
    })? {
        Reply::Announce {
            interval,
            leechers,
            seeders,
            peers,
            ..
        } => {
            let interval = Duration::from_secs(u64::from(interval))
                .clamp(super::http::MIN_INTERVAL, super::http::MAX_INTERVAL);
            Ok(AnnounceResponse {
                interval,
                min_interval: None,
                tracker_id: None,
                complete: Some(seeders),
                incomplete: Some(leechers),
                peers,
                warning: None,
            })
        }
        _ => Err(session.error("answered an announce with another kind of reply")),
    }
}

/// Scrapes one torrent over UDP, waiting at most about `timeout`.
pub fn scrape(
    url: &str,
    info_hash: &[u8; 20],
    timeout: Duration,
) -> Result<ScrapeStats, TrackerError> {
    let mut session = Session::open(url, Patience::within(timeout), None)?;
    match session.ask(|connection_id, transaction_id| Request::Scrape {
        connection_id,
        transaction_id,
        info_hashes: vec![*info_hash],
    })? {
        Reply::Scrape { stats, .. } => stats
            .first()
            .copied()
            .ok_or_else(|| session.error("sent a scrape reply without counts")),
        _ => Err(session.error("answered a scrape with another kind of reply")),
    }
}

/// `udp://host:port[/path]` → the tracker's address (the first the name resolves to).
fn resolve(url: &str) -> Result<SocketAddr, TrackerError> {
    let unsupported = |what| TrackerError::Unsupported {
        url: url.to_owned(),
        what,
    };
    let rest = url
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if !has_port {
        return Err(unsupported("a udp:// tracker URL needs a host and a port"));
    }
    let unreachable = |detail: String| TrackerError::Unreachable {
        url: url.to_owned(),
        detail,
    };
    authority
        .to_socket_addrs()
        .map_err(|e| unreachable(format!("cannot resolve the host: {e}")))?
        .next()
        .ok_or_else(|| unreachable("the host has no address".into()))
}

/// One exchange with one tracker: its socket, deadline and connection id.
struct Session {
    url: String,
    tracker: SocketAddr,
    socket: UdpSocket,
    deadline: Instant,
    first_wait: Duration,
    rng: Rng,
    /// Replies set aside while waiting, for the error if nothing valid comes: how many
    /// answered another transaction, how many could not be read, and why the last could not.
    wrong_transaction: usize,
    unreadable: usize,
    last_unreadable: Option<udp::PacketError>,
}

impl Session {
    /// A socket connected to the tracker at `url`, bound to `bind` (`--bind`) if given.
    fn open(url: &str, patience: Patience, bind: Option<IpAddr>) -> Result<Session, TrackerError> {
        let tracker = resolve(url)?;
        let local: SocketAddr = match bind {
            Some(ip) => (ip, 0).into(),
            None if tracker.is_ipv6() => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
            None => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
        };
        let socket = UdpSocket::bind(local)
            .and_then(|socket| socket.connect(tracker).map(|()| socket))
            .map_err(|e| TrackerError::Unreachable {
                url: url.to_owned(),
                detail: format!("cannot open a UDP socket: {e}"),
            })?;
        Ok(Session {
            url: url.to_owned(),
            tracker,
            socket,
            deadline: Instant::now() + patience.total,
            first_wait: patience.first,
            rng: Rng::new(),
            wrong_transaction: 0,
            unreadable: 0,
            last_unreadable: None,
        })
    }

    fn error(&self, detail: &str) -> TrackerError {
        TrackerError::BadReply {
            url: self.url.clone(),
            detail: detail.to_owned(),
        }
    }

    /// Sends the request `make(connection id, transaction id)` and returns the reply,
    /// connecting first unless a fresh connection id is cached.
    fn ask(&mut self, make: impl Fn(u64, u32) -> Request) -> Result<Reply, TrackerError> {
        let connection_id = match cached(self.tracker) {
            Some(id) => id,
            None => self.connect()?,
        };
        match self.exchange(|tid| make(connection_id, tid))? {
            Reply::Error { message, .. } => {
                forget(self.tracker);
                Err(TrackerError::Failure {
                    url: self.url.clone(),
                    reason: message,
                })
            }
            reply => Ok(reply),
        }
    }

    fn connect(&mut self) -> Result<u64, TrackerError> {
        match self.exchange(|transaction_id| Request::Connect { transaction_id })? {
            Reply::Connect { connection_id, .. } => {
                remember(self.tracker, connection_id);
                Ok(connection_id)
            }
            Reply::Error { message, .. } => Err(TrackerError::Failure {
                url: self.url.clone(),
                reason: message,
            }),
            _ => Err(self.error("answered connect with another kind of reply")),
        }
    }

    /// Sends `make(transaction id)` and waits for the reply carrying that transaction id,
    /// resending on the back-off schedule until the deadline.
    fn exchange(&mut self, make: impl Fn(u32) -> Request) -> Result<Reply, TrackerError> {
        let transaction_id = self.rng.next_u64() as u32;
        let packet = make(transaction_id).encode();
        let mut wait = self.first_wait;
        let mut sends = 0;
        let mut buf = vec![0u8; MAX_PACKET];
        while Instant::now() < self.deadline {
            sends += 1;
            if let Err(e) = self.socket.send(&packet) {
                // Connection refused (an ICMP error from an earlier send) and the like.
                return Err(TrackerError::Unreachable {
                    url: self.url.clone(),
                    detail: format!("sending failed: {e}"),
                });
            }
            let resend_at = (Instant::now() + wait).min(self.deadline);
            wait = wait.saturating_mul(2);
            while let Some(left) = resend_at.checked_duration_since(Instant::now()) {
                if left.is_zero() || self.socket.set_read_timeout(Some(left)).is_err() {
                    break;
                }
                let len = match self.socket.recv(&mut buf) {
                    Ok(len) => len,
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        break;
                    }
                    Err(e) => {
                        return Err(TrackerError::Unreachable {
                            url: self.url.clone(),
                            detail: format!("receiving failed: {e}"),
                        });
                    }
                };
                match Reply::parse(&buf[..len], self.tracker.is_ipv6()) {
                    Ok(reply) if reply.transaction_id() == transaction_id => return Ok(reply),
                    Ok(reply) => {
                        log::debug!(
                            "tracker {}: ignoring a reply to transaction {:#x}, not {transaction_id:#x}",
                            self.url,
                            reply.transaction_id()
                        );
                        self.wrong_transaction += 1;
                    }
                    Err(e) => {
                        log::debug!("tracker {}: ignoring a reply: {e}", self.url);
                        self.unreadable += 1;
                        self.last_unreadable = Some(e);
                    }
                }
            }
        }
        let mut detail = format!("no reply after {sends} tries");
        if self.wrong_transaction > 0 {
            detail.push_str(&format!(
                "; ignored {} with a wrong transaction id",
                self.wrong_transaction
            ));
        }
        if let Some(last) = &self.last_unreadable {
            detail.push_str(&format!(
                "; ignored {} unreadable (last: {last})",
                self.unreadable
            ));
        }
        Err(TrackerError::Unreachable {
            url: self.url.clone(),
            detail,
        })
    }
}

/// Runs `f` on the connection table; a poisoned lock is still a usable table.
fn with_table<T>(f: impl FnOnce(&mut HashMap<SocketAddr, (u64, Instant)>) -> T) -> T {
    let mut guard = CONNECTIONS.lock().unwrap_or_else(|e| e.into_inner());
    f(guard.get_or_insert_with(HashMap::new))
}

/// A connection id for `tracker` less than 60 s old.
fn cached(tracker: SocketAddr) -> Option<u64> {
    with_table(|table| {
        table.retain(|_, (_, issued)| issued.elapsed() < CONNECTION_LIFETIME);
        table.get(&tracker).map(|(id, _)| *id)
    })
}

fn remember(tracker: SocketAddr, id: u64) {
    with_table(|table| table.insert(tracker, (id, Instant::now())));
}

fn forget(tracker: SocketAddr) {
    with_table(|table| table.remove(&tracker));
}

#[cfg(test)]
mod tests;

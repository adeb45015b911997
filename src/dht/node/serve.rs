//! The server side of the node: answering every query, within the abuse limits.
//!
//! `ping` gets our id; `find_node` the 8 closest nodes we know; `get_peers` a token and the
//! peers announced for the info-hash, or the closest nodes; `announce_peer` is stored if
//! its token is one we gave that address. A source address that sends more than
//! [`MAX_QUERIES`] queries in [`WINDOW`] is ignored for [`BLOCKED_FOR`].

use super::State;
use crate::dht::id::Id;
use crate::dht::krpc::{Body, Malformed, Message, Query, Response, error};
use crate::dht::table::K;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Queries one address may send per [`WINDOW`].
pub const MAX_QUERIES: u32 = 50;
/// The window the queries are counted in.
pub const WINDOW: Duration = Duration::from_secs(10);
/// How long an address over the limit is ignored.
pub const BLOCKED_FOR: Duration = Duration::from_secs(60);
/// Addresses counted at most; past that the oldest windows are forgotten first.
const MAX_TRACKED: usize = 10_000;

/// Queries per source address.
#[derive(Debug, Default)]
pub(super) struct Rates {
    by_ip: HashMap<Ipv4Addr, Rate>,
}

#[derive(Debug, Clone, Copy)]
struct Rate {
    window_start: Instant,
    count: u32,
    blocked_until: Option<Instant>,
}

impl Rates {
    /// Counts one query from `ip`; `false` if it must be ignored.
    fn allow(&mut self, ip: Ipv4Addr, now: Instant) -> bool {
        if self.by_ip.len() >= MAX_TRACKED && !self.by_ip.contains_key(&ip) {
            self.forget_old(now);
            if self.by_ip.len() >= MAX_TRACKED {
                return false;
            }
        }
        let rate = self.by_ip.entry(ip).or_insert(Rate {
            window_start: now,
            count: 0,
            blocked_until: None,
        });
        if rate.blocked_until.is_some_and(|until| now < until) {
            return false;
        }
        if now.duration_since(rate.window_start) >= WINDOW {
            rate.window_start = now;
            rate.count = 0;
        }
        rate.count += 1;
        if rate.count > MAX_QUERIES {
            log::info!("dht: {ip} sent over {MAX_QUERIES} queries in {WINDOW:?}; ignoring it");
            rate.blocked_until = Some(now + BLOCKED_FOR);
            return false;
        }
        true
    }

    /// Forgets addresses whose window and block have both passed.
    pub(super) fn forget_old(&mut self, now: Instant) {
        self.by_ip.retain(|_, rate| {
            now.duration_since(rate.window_start) < WINDOW
                || rate.blocked_until.is_some_and(|until| now < until)
        });
    }
}

impl State {
    /// Answers one query from `from`.
    pub(super) fn serve(&mut self, transaction: &[u8], query: Query, from: SocketAddrV4) {
        let now = Instant::now();
        if !self.rates.allow(*from.ip(), now) {
            return;
        }
        self.table.queried(query.id(), from, now);
        let own = Some(self.table.own_id());
        let body = match query {
            Query::Ping { .. } => Body::Response(Response {
                id: own,
                ..Response::default()
            }),
            Query::FindNode { target, .. } => Body::Response(Response {
                id: own,
                nodes: self.table.closest(&target, K),
                ..Response::default()
            }),
            Query::GetPeers { info_hash, .. } => {
                let mut values = self.store.peers(&info_hash, now);
                values.extend(self.ourselves(&info_hash));
                let nodes = if values.is_empty() {
                    self.table.closest(&info_hash, K)
                } else {
                    Vec::new()
                };
                Body::Response(Response {
                    id: own,
                    nodes,
                    values,
                    token: Some(self.tokens.make(*from.ip())),
                })
            }
            Query::AnnouncePeer {
                info_hash,
                port,
                implied_port,
                token,
                ..
            } => self.announced(info_hash, port, implied_port, &token, from, now),
            Query::Unknown { method, .. } => Body::Error {
                code: error::METHOD_UNKNOWN,
                text: format!("method unknown: {method}"),
            },
        };
        self.stats.answered.fetch_add(1, Ordering::Relaxed);
        let reply = Message {
            transaction: transaction.to_vec(),
            body,
        };
        self.send(from, &reply);
    }

    /// Our own peer for `info_hash`, if we announce it and know our address: the first
    /// node a newcomer bootstraps from may be ours, and it must hear of us there.
    fn ourselves(&self, info_hash: &Id) -> Option<SocketAddrV4> {
        let port = self.searches.get(info_hash)?.announce?;
        let ip = match self.socket.local_addr().ok()? {
            std::net::SocketAddr::V4(addr) if !addr.ip().is_unspecified() => *addr.ip(),
            _ => return None,
        };
        Some(SocketAddrV4::new(ip, port))
    }

    fn announced(
        &mut self,
        info_hash: Id,
        port: u16,
        implied_port: bool,
        token: &[u8],
        from: SocketAddrV4,
        now: Instant,
    ) -> Body {
        if !self.tokens.accepts(*from.ip(), token) {
            return Body::Error {
                code: error::PROTOCOL,
                text: "bad token".into(),
            };
        }
        let port = if implied_port { from.port() } else { port };
        if port == 0 {
            return Body::Error {
                code: error::PROTOCOL,
                text: "port 0".into(),
            };
        }
        if !self
            .store
            .announce(info_hash, SocketAddrV4::new(*from.ip(), port), now)
        {
            return Body::Error {
                code: error::SERVER,
                text: "too many torrents".into(),
            };
        }
        self.stats.announced.fetch_add(1, Ordering::Relaxed);
        Body::Response(Response {
            id: Some(self.table.own_id()),
            ..Response::default()
        })
    }

    /// A malformed datagram: a query we could read the transaction of gets error 203; an
    /// answer to one of ours that is garbage drops its node from the table.
    pub(super) fn malformed(&mut self, malformed: Malformed, from: SocketAddrV4) {
        let Some(transaction) = malformed.transaction else {
            return;
        };
        if self.garbage_answer(&transaction, from) {
            return;
        }
        if !self.rates.allow(*from.ip(), Instant::now()) {
            return;
        }
        let reply = Message {
            transaction,
            body: Body::Error {
                code: error::PROTOCOL,
                text: malformed.why.into(),
            },
        };
        self.send(from, &reply);
    }
}

//! The client side of the node: our queries and what their answers mean.
//!
//! Every query gets a 2-byte transaction id and waits in `pending`; an answer must come
//! from the address the query went to. A query unanswered after [`RETRY_AFTER`] is sent
//! once more, then counted as a failure after as long again. Lookups (`lookup.rs`) are
//! advanced each tick; a search runs a `get_peers` lookup when it is due, hands the peers
//! it finds to its channel, and ends with `announce_peer` to the closest nodes that gave
//! a token, if it announces.

use super::{LookupKind, MAX_FOUND, Pending, Purpose, State};
use crate::dht::id::Id;
use crate::dht::krpc::{Body, Message, Query, Response};
use crate::dht::lookup::Lookup;
use crate::dht::table::{GOOD_FOR, Inserted, K};
use std::net::{SocketAddr, SocketAddrV4, ToSocketAddrs};
use std::time::{Duration, Instant};

/// An unanswered query is sent again after this long, and failed after twice this.
pub const RETRY_AFTER: Duration = Duration::from_secs(2);
/// How often a search looks again (and re-announces): BEP 5 suggests 15 to 30 minutes.
pub const SEARCH_EVERY: Duration = Duration::from_secs(15 * 60);
/// How soon a search that found no peer looks again: doubled after each empty lookup, up
/// to [`SEARCH_EMPTY_MAX`] (a new swarm's first seeder may announce a moment after us).
const SEARCH_AGAIN_EMPTY: Duration = Duration::from_secs(15);
const SEARCH_EMPTY_MAX: Duration = Duration::from_secs(5 * 60);
/// How often an empty table goes back to the bootstrap nodes.
const BOOTSTRAP_EVERY: Duration = Duration::from_secs(30);
/// How often a search looks again at most while the peer manager wants more peers.
pub const WANT_PEERS_EVERY: Duration = Duration::from_secs(30);
/// A lookup ends after this long at the latest.
pub const LOOKUP_TIME: Duration = Duration::from_secs(30);
/// Peers handed on from one lookup at most.
pub const MAX_PEERS_PER_LOOKUP: usize = 200;
/// Peers handed on from one node's answer at most: half a lookup's worth, so one node
/// that answers with a full list of made-up peers leaves room for the others' peers.
pub const MAX_PEERS_PER_ANSWER: usize = MAX_PEERS_PER_LOOKUP / 2;

impl State {
    /// Sends `query` to `addr` and remembers why.
    fn query(&mut self, addr: SocketAddrV4, query: Query, purpose: Purpose) {
        let transaction = self.next_transaction;
        self.next_transaction = self.next_transaction.wrapping_add(1);
        let message = Message {
            transaction: transaction.to_be_bytes().to_vec(),
            body: Body::Query(query),
        };
        self.send(addr, &message);
        let pending = Pending {
            addr,
            purpose,
            sent: Instant::now(),
            bytes: message.encode(),
            retried: false,
        };
        if let Some(old) = self.pending.insert(transaction, pending) {
            // 65,536 queries ago: long failed.
            self.failed(old);
        }
    }

    /// Pings `addr`; it enters the table if it answers.
    pub(super) fn ping(&mut self, addr: SocketAddrV4) {
        let id = self.table.own_id();
        self.query(addr, Query::Ping { id }, Purpose::Ping);
    }

    /// An answer (or an error) to one of our queries.
    pub(super) fn answer(&mut self, transaction: &[u8], body: Body, from: SocketAddrV4) {
        let Some(pending) = self.take_pending(transaction, from) else {
            return;
        };
        let now = Instant::now();
        let response = match body {
            Body::Response(response) => response,
            Body::Error { code, text } => {
                log::debug!("dht: {from} answered error {code}: {text}");
                self.failed(pending);
                return;
            }
            Body::Query(_) => return,
        };
        let Some(id) = response.id else {
            self.failed(pending);
            return;
        };
        if let Inserted::PingFirst(_, old) = self.table.answered(id, from, now) {
            self.ping(old);
        }
        if let Purpose::Lookup(n) = pending.purpose {
            self.lookup_answered(n, id, from, response);
        }
    }

    /// The pending query `transaction`, if it went to `from`.
    fn take_pending(&mut self, transaction: &[u8], from: SocketAddrV4) -> Option<Pending> {
        let key = u16::from_be_bytes(transaction.try_into().ok()?);
        if self.pending.get(&key)?.addr != from {
            return None;
        }
        self.pending.remove(&key)
    }

    /// A garbage answer to one of our queries: its node leaves the table. `false` if the
    /// transaction was none of ours.
    pub(super) fn garbage_answer(&mut self, transaction: &[u8], from: SocketAddrV4) -> bool {
        let Some(pending) = self.take_pending(transaction, from) else {
            return false;
        };
        self.table.remove_addr(from);
        self.failed(pending);
        true
    }

    fn lookup_answered(&mut self, n: u64, id: Id, from: SocketAddrV4, response: Response) {
        let Some((lookup, kind, _)) = self.lookups.get_mut(&n) else {
            return;
        };
        lookup.answered(from, id, response.token, &response.nodes);
        if let LookupKind::Peers { info_hash } = kind
            && let Some(search) = self.searches.get_mut(info_hash)
        {
            let fresh: Vec<SocketAddrV4> = response
                .values
                .into_iter()
                .take(MAX_PEERS_PER_ANSWER)
                .filter(|peer| {
                    search.seen.len() < MAX_PEERS_PER_LOOKUP && search.seen.insert(*peer)
                })
                .collect();
            if !fresh.is_empty() {
                let mut found = self.stats.found.lock();
                let room = MAX_FOUND.saturating_sub(found.len());
                found.extend(fresh.iter().take(room));
                drop(found);
                let _ = search
                    .peers
                    .send(fresh.into_iter().map(SocketAddr::V4).collect());
            }
        }
    }

    /// A query that got no usable answer.
    fn failed(&mut self, pending: Pending) {
        let now = Instant::now();
        if let Some(id) = self.table.id_at(pending.addr) {
            self.table.failed(id, now);
        }
        if let Purpose::Lookup(n) = pending.purpose
            && let Some((lookup, _, _)) = self.lookups.get_mut(&n)
        {
            lookup.failed(pending.addr);
        }
    }

    /// Sends again the queries unanswered for [`RETRY_AFTER`]; fails those already sent
    /// twice.
    pub(super) fn timeouts(&mut self, now: Instant) {
        let late: Vec<u16> = self
            .pending
            .iter()
            .filter(|(_, p)| now.duration_since(p.sent) >= RETRY_AFTER)
            .map(|(t, _)| *t)
            .collect();
        for transaction in late {
            let Some(mut pending) = self.pending.remove(&transaction) else {
                continue;
            };
            if pending.retried {
                self.failed(pending);
                continue;
            }
            if let Err(e) = self.socket.send_to(&pending.bytes, pending.addr) {
                log::debug!("dht: resend to {} failed: {e}", pending.addr);
            }
            pending.retried = true;
            pending.sent = now;
            self.pending.insert(transaction, pending);
        }
    }

    /// Starts the lookups of the searches that are due.
    pub(super) fn searches_due(&mut self, now: Instant) {
        let due: Vec<Id> = self
            .searches
            .iter()
            .filter(|(_, s)| s.running.is_none() && s.next_at <= now)
            .map(|(id, _)| *id)
            .collect();
        for info_hash in due {
            let n = self.start_lookup(info_hash, LookupKind::Peers { info_hash });
            if let Some(search) = self.searches.get_mut(&info_hash) {
                search.running = Some(n);
                // Each lookup has its own budget of peers: the peer manager knows the
                // ones handed on before.
                search.seen.clear();
            }
        }
    }

    /// A new lookup of `target` from the closest nodes we know (or the bootstrap nodes).
    fn start_lookup(&mut self, target: Id, kind: LookupKind) -> u64 {
        let mut start = self.table.closest(&target, K);
        if start.len() < K {
            // Bootstrap nodes' ids are unknown: made-up ones, replaced when they answer.
            let rng = &mut self.rng;
            start.extend(
                bootstrap_addrs(&self.bootstrap)
                    .into_iter()
                    .map(|a| (Id::random(rng), a)),
            );
        }
        let n = self.next_lookup;
        self.next_lookup += 1;
        log::debug!("dht: lookup {n} of {target:?} from {} nodes", start.len());
        let started = Instant::now();
        self.lookups
            .insert(n, (Lookup::new(target, &start), kind, started));
        n
    }

    /// Sends every lookup's next queries; finishes the lookups that are done.
    pub(super) fn advance_lookups(&mut self) {
        let own = self.table.own_id();
        let mut done = Vec::new();
        let mut to_send = Vec::new();
        let now = Instant::now();
        for (n, (lookup, kind, started)) in &mut self.lookups {
            // However its nodes answer, a lookup ends within LOOKUP_TIME.
            if lookup.is_done() || now.duration_since(*started) >= LOOKUP_TIME {
                done.push(*n);
                continue;
            }
            for (_, addr) in lookup.to_ask() {
                let query = match kind {
                    LookupKind::Nodes => Query::FindNode {
                        id: own,
                        target: lookup.target,
                    },
                    LookupKind::Peers { info_hash } => Query::GetPeers {
                        id: own,
                        info_hash: *info_hash,
                    },
                };
                to_send.push((addr, query, *n));
            }
        }
        for (addr, query, n) in to_send {
            self.query(addr, query, Purpose::Lookup(n));
        }
        for n in done {
            self.lookup_done(n);
        }
    }

    /// A finished lookup: a search announces to the closest nodes and is due again later.
    fn lookup_done(&mut self, n: u64) {
        let Some((lookup, kind, _)) = self.lookups.remove(&n) else {
            return;
        };
        let LookupKind::Peers { info_hash } = kind else {
            return;
        };
        let Some(search) = self.searches.get_mut(&info_hash) else {
            return;
        };
        search.running = None;
        search.last_done = Some(Instant::now());
        let found = search.seen.len();
        let wait = if found == 0 {
            let doubled = SEARCH_AGAIN_EMPTY * 2u32.pow(search.empty_lookups.min(5));
            search.empty_lookups += 1;
            doubled.min(SEARCH_EMPTY_MAX)
        } else {
            SEARCH_EVERY
        };
        search.next_at = Instant::now() + wait;
        log::info!("dht: lookup of {info_hash:?} done: {found} peers");
        let Some(port) = search.announce else {
            return;
        };
        let own = self.table.own_id();
        for (_, addr, token) in lookup.announce_to() {
            let query = Query::AnnouncePeer {
                id: own,
                info_hash,
                port,
                implied_port: false,
                token,
            };
            self.query(addr, query, Purpose::Announce);
        }
    }

    /// Bootstraps an empty table, refreshes buckets quiet for 15 minutes, and pings the
    /// least recently heard questionable node.
    pub(super) fn refresh(&mut self, now: Instant) {
        let filling = self
            .lookups
            .values()
            .any(|(_, k, _)| matches!(k, LookupKind::Nodes));
        if self.table.good(now) < K
            && !filling
            && self
                .last_bootstrap
                .is_none_or(|at| now.duration_since(at) >= BOOTSTRAP_EVERY)
        {
            self.last_bootstrap = Some(now);
            let own = self.table.own_id();
            self.start_lookup(own, LookupKind::Nodes);
        }
        if now.duration_since(self.last_refresh) < Duration::from_secs(60) {
            return;
        }
        self.last_refresh = now;
        // One stale bucket a minute: a refresh is a lookup of up to 64 queries.
        if let Some(&prefix) = self.table.stale_buckets(now, GOOD_FOR).first() {
            let target = self.table.own_id().random_at(prefix, &mut self.rng);
            self.start_lookup(target, LookupKind::Nodes);
        }
        if let Some((_, addr)) = self.table.questionable(now) {
            self.ping(addr);
        }
    }
}

/// The bootstrap nodes' IPv4 addresses (resolved now: names may move).
fn bootstrap_addrs(nodes: &[String]) -> Vec<SocketAddrV4> {
    nodes
        .iter()
        .filter_map(|node| match node.to_socket_addrs() {
            Ok(addrs) => addrs
                .filter_map(|a| match a {
                    SocketAddr::V4(a) => Some(a),
                    SocketAddr::V6(_) => None,
                })
                .next(),
            Err(e) => {
                log::debug!("dht: bootstrap node {node}: {e}");
                None
            }
        })
        .collect()
}

//! The routing table (BEP 5): the nodes we know, in k-buckets by their distance from us.
//!
//! Bucket `i` holds nodes whose id shares exactly `i` leading bits with ours; the last
//! bucket holds every node closer than that. A bucket holds [`K`] nodes. When the last one
//! is full and a newcomer falls in it, it splits (the nodes that share one more bit move to
//! a new last bucket): so we know many nodes near us and a few in each half of the space
//! further away, and a lookup gets one bit closer to any target with each answer.
//!
//! A node is *good* if it answered us within the last 15 minutes (or answered once and has
//! queried us within 15 minutes), *bad* once it failed to answer twice in a row, and
//! *questionable* otherwise. A full bucket replaces a bad node with the newcomer at once;
//! with no bad node but a questionable one, the questionable node is pinged first, and
//! replaced only if it does not answer. A bucket of good nodes turns newcomers away.

use super::id::Id;
use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

/// Nodes per bucket (BEP 5's k).
pub const K: usize = 8;
/// Buckets at most: one per bit of the id.
const MAX_BUCKETS: usize = 160;
/// A node that has been quiet this long is questionable.
pub const GOOD_FOR: Duration = Duration::from_secs(15 * 60);
/// Failures in a row that make a node bad.
const FAILURES_TO_BAD: u32 = 2;

/// A node in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    pub id: Id,
    pub addr: SocketAddrV4,
    /// When it last answered one of our queries.
    last_answer: Option<Instant>,
    /// When it last queried us.
    last_query: Option<Instant>,
    /// Queries it failed to answer since its last answer.
    failures: u32,
}

impl Node {
    fn is_good(&self, now: Instant) -> bool {
        let Some(answered) = self.last_answer else {
            return false;
        };
        let heard = self.last_query.map_or(answered, |q| q.max(answered));
        self.failures == 0 && now.duration_since(heard) < GOOD_FOR
    }

    fn is_bad(&self) -> bool {
        self.failures >= FAILURES_TO_BAD
    }
}

#[derive(Debug, Default)]
struct Bucket {
    nodes: Vec<Node>,
    /// A newcomer waiting for a questionable node's answer to a ping: it takes that
    /// node's place if the ping fails.
    waiting: Option<(Id, SocketAddrV4)>,
    /// When a node was last added, answered or replaced here (for the refresh).
    changed: Option<Instant>,
}

/// What [`Table::answered`] or [`Table::queried`] did with a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// Added, or already known and refreshed.
    Kept,
    /// The bucket is full of questionable nodes: ping this one; the newcomer takes its
    /// place if it fails ([`Table::failed`]).
    PingFirst(Id, SocketAddrV4),
    /// The bucket is full of good nodes (or the node is us, or its id is known at another
    /// address): not kept.
    Refused,
}

/// The routing table around our own id.
#[derive(Debug)]
pub struct Table {
    own: Id,
    buckets: Vec<Bucket>,
}

impl Table {
    pub fn new(own: Id) -> Table {
        Table {
            own,
            buckets: vec![Bucket::default()],
        }
    }

    /// Our own node id.
    pub fn own_id(&self) -> Id {
        self.own
    }

    /// How many nodes it holds.
    pub fn len(&self) -> usize {
        self.buckets.iter().map(|b| b.nodes.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many of them are good.
    pub fn good(&self, now: Instant) -> usize {
        self.nodes().filter(|n| n.is_good(now)).count()
    }

    fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.buckets.iter().flat_map(|b| b.nodes.iter())
    }

    /// The bucket for `id`.
    fn index(&self, id: &Id) -> usize {
        self.own.common_prefix(id).min(self.buckets.len() - 1)
    }

    /// `id` at `addr` answered one of our queries.
    pub fn answered(&mut self, id: Id, addr: SocketAddrV4, now: Instant) -> Inserted {
        self.heard(id, addr, now, true)
    }

    /// `id` at `addr` queried us.
    pub fn queried(&mut self, id: Id, addr: SocketAddrV4, now: Instant) -> Inserted {
        self.heard(id, addr, now, false)
    }

    fn heard(&mut self, id: Id, addr: SocketAddrV4, now: Instant, answer: bool) -> Inserted {
        if id == self.own || addr.port() == 0 {
            return Inserted::Refused;
        }
        let index = self.index(&id);
        let bucket = &mut self.buckets[index];
        if let Some(node) = bucket.nodes.iter_mut().find(|n| n.id == id) {
            if node.addr != addr {
                // Another address that claims a node we know is ignored: else anyone could
                // point the table at themselves with one datagram per id they heard of. A
                // node that really moved is taken at its new address once the old one has
                // failed and left.
                return Inserted::Refused;
            }
            if answer {
                node.last_answer = Some(now);
                node.failures = 0;
                bucket.changed = Some(now);
            } else {
                node.last_query = Some(now);
            }
            return Inserted::Kept;
        }
        let node = Node {
            id,
            addr,
            last_answer: answer.then_some(now),
            last_query: (!answer).then_some(now),
            failures: 0,
        };
        self.insert(node, now)
    }

    fn insert(&mut self, node: Node, now: Instant) -> Inserted {
        loop {
            let index = self.index(&node.id);
            let last = index == self.buckets.len() - 1;
            let bucket = &mut self.buckets[index];
            if bucket.nodes.len() < K {
                bucket.nodes.push(node);
                bucket.changed = Some(now);
                return Inserted::Kept;
            }
            if let Some(bad) = bucket.nodes.iter_mut().find(|n| n.is_bad()) {
                *bad = node;
                bucket.changed = Some(now);
                return Inserted::Kept;
            }
            if last && self.buckets.len() < MAX_BUCKETS {
                self.split();
                continue;
            }
            let bucket = &mut self.buckets[index];
            let questionable = bucket.nodes.iter().find(|n| !n.is_good(now));
            return match questionable {
                Some(old) if bucket.waiting.is_none() => {
                    bucket.waiting = Some((node.id, node.addr));
                    Inserted::PingFirst(old.id, old.addr)
                }
                _ => Inserted::Refused,
            };
        }
    }

    /// Splits the last bucket: the nodes that share one more bit with us move on.
    fn split(&mut self) {
        let depth = self.buckets.len() - 1;
        let own = self.own;
        let last = &mut self.buckets[depth];
        let (closer, stay): (Vec<Node>, Vec<Node>) = last
            .nodes
            .drain(..)
            .partition(|n| own.common_prefix(&n.id) > depth);
        last.nodes = stay;
        let changed = last.changed;
        self.buckets.push(Bucket {
            nodes: closer,
            waiting: None,
            changed,
        });
    }

    /// `id` did not answer a query. A node that fails twice in a row is bad; if a
    /// newcomer waits for its place, it takes it.
    pub fn failed(&mut self, id: Id, now: Instant) {
        let index = self.index(&id);
        let bucket = &mut self.buckets[index];
        let Some(at) = bucket.nodes.iter().position(|n| n.id == id) else {
            return;
        };
        bucket.nodes[at].failures += 1;
        let waiting = bucket.waiting.take();
        if let Some((new_id, addr)) = waiting {
            bucket.nodes[at] = Node {
                id: new_id,
                addr,
                last_answer: None,
                last_query: Some(now),
                failures: 0,
            };
            bucket.changed = Some(now);
        } else if bucket.nodes[at].is_bad() {
            bucket.nodes.swap_remove(at);
        }
    }

    /// The id of the node at `addr`, if it is in the table.
    pub fn id_at(&self, addr: SocketAddrV4) -> Option<Id> {
        self.nodes().find(|n| n.addr == addr).map(|n| n.id)
    }

    /// Drops the node at `addr` (it answered with garbage).
    pub fn remove_addr(&mut self, addr: SocketAddrV4) {
        for bucket in &mut self.buckets {
            bucket.nodes.retain(|n| n.addr != addr);
        }
    }

    /// The `n` nodes closest to `target` that are not bad, closest first.
    pub fn closest(&self, target: &Id, n: usize) -> Vec<(Id, SocketAddrV4)> {
        let mut nodes: Vec<&Node> = self.nodes().filter(|node| !node.is_bad()).collect();
        nodes.sort_by_key(|node| node.id.distance(target));
        nodes.into_iter().take(n).map(|n| (n.id, n.addr)).collect()
    }

    /// Every node, for saving the table.
    pub fn all(&self) -> Vec<(Id, SocketAddrV4)> {
        self.nodes().map(|n| (n.id, n.addr)).collect()
    }

    /// A questionable node to ping, the least recently heard, if any.
    pub fn questionable(&self, now: Instant) -> Option<(Id, SocketAddrV4)> {
        self.nodes()
            .filter(|n| !n.is_good(now) && !n.is_bad())
            .min_by_key(|n| n.last_answer.max(n.last_query))
            .map(|n| (n.id, n.addr))
    }

    /// For each bucket unchanged for `quiet`, the common-prefix length its ids have with
    /// ours (a lookup of a random id at that distance refreshes it).
    pub fn stale_buckets(&self, now: Instant, quiet: Duration) -> Vec<usize> {
        (0..self.buckets.len())
            .filter(|&i| {
                self.buckets[i]
                    .changed
                    .is_none_or(|changed| now.duration_since(changed) >= quiet)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;

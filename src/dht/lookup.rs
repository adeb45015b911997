//! One iterative lookup (BEP 5): walking towards a target id by asking the closest nodes
//! we know for nodes closer still.
//!
//! The lookup starts from the closest nodes in our table. It keeps [`ALPHA`] queries in
//! flight, always to the closest node not asked yet; each answer adds the nodes it names.
//! It ends when the [`K`] closest nodes it knows have all answered (or failed), or after
//! [`MAX_QUERIES`], so a node that answers with endless far-away nodes cannot keep it
//! going. A `get_peers` lookup also collects the peers (`values`) and the token each
//! answering node gave, for the `announce_peer` that may follow.

use super::id::Id;
use super::table::K;
use std::collections::BTreeMap;
use std::net::SocketAddrV4;

/// Queries in flight per lookup.
pub const ALPHA: usize = 3;
/// Queries one lookup sends at most.
pub const MAX_QUERIES: usize = 64;
/// Candidates kept at most: the closest ones; farther ones are dropped as they come.
const MAX_CANDIDATES: usize = 4 * K;

/// Where one candidate node stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    New,
    Asked,
    Answered { token: Option<Vec<u8>> },
    Failed,
}

#[derive(Debug, Clone)]
struct Candidate {
    id: Id,
    addr: SocketAddrV4,
    state: State,
}

/// A lookup in progress.
#[derive(Debug)]
pub struct Lookup {
    pub target: Id,
    /// Candidates by their distance to the target: the first is the closest.
    candidates: BTreeMap<Id, Candidate>,
    in_flight: usize,
    sent: usize,
}

impl Lookup {
    /// A lookup of `target` starting from `start` (our table's closest nodes, or the
    /// bootstrap nodes, whose ids we do not know yet: give those a made-up id).
    pub fn new(target: Id, start: &[(Id, SocketAddrV4)]) -> Lookup {
        let mut lookup = Lookup {
            target,
            candidates: BTreeMap::new(),
            in_flight: 0,
            sent: 0,
        };
        lookup.add(start);
        lookup
    }

    /// Nodes an answer named: candidates, unless already known or too far.
    pub fn add(&mut self, nodes: &[(Id, SocketAddrV4)]) {
        for &(id, addr) in nodes {
            let distance = id.distance(&self.target);
            let known = self.candidates.values().any(|c| c.addr == addr);
            if known || self.candidates.contains_key(&distance) {
                continue;
            }
            self.candidates.insert(
                distance,
                Candidate {
                    id,
                    addr,
                    state: State::New,
                },
            );
        }
        while self.candidates.len() > MAX_CANDIDATES {
            // Drop the farthest candidate that is not waiting for an answer.
            let farthest = self
                .candidates
                .iter()
                .rev()
                .find(|(_, c)| c.state != State::Asked)
                .map(|(d, _)| *d);
            match farthest {
                Some(distance) => self.candidates.remove(&distance),
                None => break,
            };
        }
    }

    /// The next nodes to query (marked asked), keeping [`ALPHA`] in flight.
    pub fn to_ask(&mut self) -> Vec<(Id, SocketAddrV4)> {
        let mut out = Vec::new();
        if self.is_done() {
            return out;
        }
        for candidate in self.candidates.values_mut().take(K + ALPHA) {
            if self.in_flight >= ALPHA || self.sent >= MAX_QUERIES {
                break;
            }
            if candidate.state == State::New {
                candidate.state = State::Asked;
                self.in_flight += 1;
                self.sent += 1;
                out.push((candidate.id, candidate.addr));
            }
        }
        out
    }

    /// The node at `addr` answered, calling itself `id`, naming `nodes`, with `token`.
    pub fn answered(
        &mut self,
        addr: SocketAddrV4,
        id: Id,
        token: Option<Vec<u8>>,
        nodes: &[(Id, SocketAddrV4)],
    ) {
        if let Some(distance) = self.asked(addr) {
            self.in_flight -= 1;
            self.candidates.remove(&distance);
            let answered = Candidate {
                id,
                addr,
                state: State::Answered { token },
            };
            // Filed under its real id: a bootstrap node's id was made up. If that place is
            // taken (the same node, known from another answer), a candidate waiting for an
            // answer keeps it, so its own answer or failure is still counted.
            let real = id.distance(&self.target);
            match self.candidates.get(&real).map(|c| &c.state) {
                Some(State::Asked) => {}
                _ => {
                    self.candidates.insert(real, answered);
                }
            }
        }
        self.add(nodes);
    }

    /// The node at `addr` did not answer.
    pub fn failed(&mut self, addr: SocketAddrV4) {
        if let Some(distance) = self.asked(addr) {
            self.in_flight -= 1;
            if let Some(candidate) = self.candidates.get_mut(&distance) {
                candidate.state = State::Failed;
            }
        }
    }

    fn asked(&self, addr: SocketAddrV4) -> Option<Id> {
        self.candidates
            .iter()
            .find(|(_, c)| c.addr == addr && c.state == State::Asked)
            .map(|(d, _)| *d)
    }

    /// True when the [`K`] closest live candidates have answered, or the query budget is
    /// spent and nothing is in flight.
    pub fn is_done(&self) -> bool {
        if self.in_flight == 0 && self.sent >= MAX_QUERIES {
            return true;
        }
        let mut closest = self
            .candidates
            .values()
            .filter(|c| c.state != State::Failed);
        let all_answered = closest
            .by_ref()
            .take(K)
            .all(|c| matches!(c.state, State::Answered { .. }));
        all_answered && self.in_flight == 0
    }

    /// The closest nodes that answered with a token, for `announce_peer`.
    pub fn announce_to(&self) -> Vec<(Id, SocketAddrV4, Vec<u8>)> {
        self.candidates
            .values()
            .filter_map(|c| match &c.state {
                State::Answered { token: Some(token) } => Some((c.id, c.addr, token.clone())),
                _ => None,
            })
            .take(K)
            .collect()
    }
}

//! Why a download is stuck, in words: given the facts the main loop gathers (peers, who
//! unchokes us, the missing pieces no connected peer has, what each tracker last said,
//! the DHT), [`Stall::of`] names the reason, and [`Stall::variants`] says it at several
//! lengths so the progress line can fit it to the terminal. Pure, so it is tested here.

use std::fmt;

/// How long without a verified piece before a download counts as stalled.
pub(super) const STALL_AFTER: std::time::Duration = std::time::Duration::from_secs(30);

/// At most this many piece numbers in the progress line (the log has them all).
const MAX_NUMBERS: usize = 8;

/// What a tracker last did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum TrackerOutcome {
    /// It answered with this many peers.
    Listed(usize),
    /// It failed with this error (`tracker URL answered HTTP 404`).
    Failed(String),
}

/// Where peers could come from, when none is connected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Sources {
    /// Each tracker's URL and its last outcome, in the order they first reported.
    pub trackers: Vec<(String, TrackerOutcome)>,
    /// Nodes in the DHT's table, when it runs.
    pub dht_nodes: Option<u64>,
}

/// The facts a reason is drawn from.
#[derive(Debug, Clone)]
pub(super) struct Facts<'a> {
    pub peers: u64,
    pub unchoking_us: u64,
    /// Missing pieces that no connected peer has, ascending.
    pub unavailable: &'a [u32],
    pub sources: &'a Sources,
}

/// Why no piece completes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Stall {
    /// Peers are connected, but nobody has these pieces.
    Unavailable(Vec<u32>),
    /// Every connected peer chokes us.
    AllChoke(u64),
    /// Some peers unchoke us, yet no piece completes.
    NoData(u64),
    /// No peer is connected; what the sources said.
    NoPeer(Sources),
    /// A magnet link's metadata is not here yet.
    Metadata { peers: u64, sources: Sources },
}

impl Stall {
    /// The reason for a download that has peers or not, from `facts`.
    pub(super) fn of(facts: &Facts) -> Stall {
        if facts.peers == 0 {
            Stall::NoPeer(facts.sources.clone())
        } else if !facts.unavailable.is_empty() {
            Stall::Unavailable(facts.unavailable.to_vec())
        } else if facts.unchoking_us == 0 {
            Stall::AllChoke(facts.peers)
        } else {
            Stall::NoData(facts.unchoking_us)
        }
    }

    /// The reason at several lengths, longest first; the last is the shortest there is.
    pub(super) fn variants(&self) -> Vec<String> {
        match self {
            Stall::Unavailable(pieces) => {
                let count = plural(pieces.len() as u64, "piece", "pieces");
                let mut out: Vec<String> = (1..=pieces.len().min(MAX_NUMBERS))
                    .rev()
                    .map(|shown| {
                        format!(
                            "{count} ({}) held by no connected peer",
                            numbers(pieces, shown)
                        )
                    })
                    .collect();
                out.push(format!("{count} held by no connected peer"));
                out.push(format!("{count} unavailable"));
                out
            }
            Stall::NoPeer(sources) => with_sources("no peer connected", sources),
            Stall::Metadata { peers, sources } => {
                let head = format!("fetching metadata from {peers} peers");
                if *peers == 0 {
                    with_sources(&head, sources)
                } else {
                    vec![head]
                }
            }
            other => vec![other.to_string()],
        }
    }
}

impl fmt::Display for Stall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stall::Unavailable(pieces) => write!(
                f,
                "{} ({}) held by no connected peer",
                plural(pieces.len() as u64, "piece", "pieces"),
                numbers(pieces, MAX_NUMBERS)
            ),
            Stall::AllChoke(1) => write!(f, "the only peer chokes us"),
            Stall::AllChoke(peers) => write!(f, "all {peers} peers choke us"),
            Stall::NoData(unchoking) => write!(
                f,
                "{} unchoking us but no piece completes",
                plural(*unchoking, "peer", "peers")
            ),
            Stall::NoPeer(_) | Stall::Metadata { .. } => {
                let variants = self.variants();
                write!(f, "{}", variants.first().map_or("", String::as_str))
            }
        }
    }
}

/// `1 piece`, `3 pieces`.
fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The first `shown` numbers, then `…` if there are more: `12, 40, …`.
fn numbers(pieces: &[u32], shown: usize) -> String {
    let mut parts: Vec<String> = pieces.iter().take(shown).map(u32::to_string).collect();
    if pieces.len() > shown {
        parts.push("…".to_string());
    }
    parts.join(", ")
}

/// `head; trackers: a, b; dht: 0 nodes answered`, then shorter: fewer trackers (with `…`),
/// no trackers, no DHT, the head alone.
fn with_sources(head: &str, sources: &Sources) -> Vec<String> {
    let said: Vec<String> = sources.trackers.iter().map(tracker_said).collect();
    let dht = match sources.dht_nodes {
        Some(0) => "; dht: 0 nodes answered",
        _ => "",
    };
    let mut out = Vec::new();
    for shown in (1..=said.len()).rev() {
        let mut list = said[..shown].join(", ");
        if shown < said.len() {
            list.push_str(", …");
        }
        out.push(format!("{head}; trackers: {list}{dht}"));
    }
    if !dht.is_empty() {
        out.push(format!("{head}{dht}"));
    }
    out.push(head.to_string());
    out
}

/// `udp://… timed out`, `http://… listed 0 peers`.
fn tracker_said((url, outcome): &(String, TrackerOutcome)) -> String {
    match outcome {
        TrackerOutcome::Listed(peers) => {
            format!("{url} listed {}", plural(*peers as u64, "peer", "peers"))
        }
        TrackerOutcome::Failed(error) => match error.strip_prefix("tracker ") {
            Some(rest) if rest.starts_with(url.as_str()) => rest.to_string(),
            _ => format!("{url}: {error}"),
        },
    }
}

#[cfg(test)]
mod tests;

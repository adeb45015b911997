//! Talking to trackers: what we tell them, what they answer, and how it fails.
//!
//! Pure data types and two entry points, [`announce()`] and [`scrape()`], which pick the
//! protocol from the URL's scheme: `http://` and `https://` go to [`http`] (BEP 3, BEP 23
//! compact peers, BEP 48 scrape), `udp://` to [`udp_client`] (BEP 15, packets in [`udp`]).
//! [`tiers`] orders a torrent's trackers (BEP 12). Everything here blocks the calling
//! thread; the callers are the announcer thread and `smalltorrent info --scrape`.

pub mod bound_get;
pub mod http;
pub mod scrape;
pub mod tiers;
pub mod udp;
pub mod udp_client;

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// The `event` of an announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A regular re-announce: no `event` parameter.
    None,
    /// The first announce of this session.
    Started,
    /// The download just finished (never sent if we started complete).
    Completed,
    /// We are leaving the swarm.
    Stopped,
}

impl Event {
    /// The parameter value, or `None` for a regular announce.
    pub fn as_str(self) -> Option<&'static str> {
        match self {
            Event::None => None,
            Event::Started => Some("started"),
            Event::Completed => Some("completed"),
            Event::Stopped => Some("stopped"),
        }
    }
}

/// Everything an announce tells the tracker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceRequest {
    pub info_hash: [u8; 20],
    pub peer_id: [u8; 20],
    /// The port we accept peer connections on.
    pub port: u16,
    pub uploaded: u64,
    pub downloaded: u64,
    /// Bytes we still miss.
    pub left: u64,
    pub event: Event,
    /// How many peers we would like.
    pub numwant: u32,
    /// A random number fixed for the session, so the tracker knows us if our IP changes.
    pub key: u32,
    /// The `tracker id` a previous reply gave us, sent back as `trackerid`.
    pub tracker_id: Option<String>,
    /// Announce from this local address (`--bind`): trackers list a peer under the
    /// address its announce came from.
    pub bind: Option<IpAddr>,
    /// Our global IPv6 address, sent to HTTP trackers as `ipv6=` (BEP 7): a tracker
    /// reached over IPv4 then lists us to IPv6 peers too.
    pub ipv6: Option<Ipv6Addr>,
}

/// A successful tracker reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceResponse {
    /// When to announce again (clamped, see [`http::parse_announce_body`]).
    pub interval: Duration,
    /// Never announce more often than this, if the tracker said so.
    pub min_interval: Option<Duration>,
    /// To send back in later announces.
    pub tracker_id: Option<String>,
    /// Seeders in the swarm.
    pub complete: Option<u32>,
    /// Leechers in the swarm.
    pub incomplete: Option<u32>,
    /// IPv4 and IPv6 peers, in the tracker's order.
    pub peers: Vec<SocketAddr>,
    /// A `warning message`: the announce worked, but the user may want to know.
    pub warning: Option<String>,
}

/// What a scrape tells about one torrent's swarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScrapeStats {
    /// Peers with the whole torrent (`complete`).
    pub seeders: u32,
    /// Downloads the tracker saw finish (`downloaded`).
    pub completed: u32,
    /// Peers still downloading (`incomplete`).
    pub leechers: u32,
}

/// Why an announce failed. Each message names the tracker so the user can act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackerError {
    /// The URL's scheme is one we do not speak (yet): `what` says which.
    Unsupported { url: String, what: &'static str },
    /// No answer: DNS, connection refused, TLS, timeout, a broken body...
    Unreachable { url: String, detail: String },
    /// An HTTP tracker answered with a status other than 200.
    HttpStatus { url: String, status: u16 },
    /// The tracker answered with a `failure reason`.
    Failure { url: String, reason: String },
    /// The reply is not a valid announce response (not bencode, missing peers...).
    BadReply { url: String, detail: String },
}

impl TrackerError {
    /// Fills in the tracker URL of errors made by the parser, which does not know it.
    pub(crate) fn at(mut self, tracker: &str) -> TrackerError {
        match &mut self {
            TrackerError::Unsupported { url, .. }
            | TrackerError::Unreachable { url, .. }
            | TrackerError::HttpStatus { url, .. }
            | TrackerError::Failure { url, .. }
            | TrackerError::BadReply { url, .. } => *url = tracker.to_owned(),
        }
        self
    }

    /// An error about the reply body; the URL is filled in later with [`at`](Self::at).
    pub(crate) fn bad_reply(detail: impl Into<String>) -> TrackerError {
        TrackerError::BadReply {
            url: String::new(),
            detail: detail.into(),
        }
    }
}

/// "tracker `<url>`", or just "tracker" when the URL is not known.
struct Named<'a>(&'a str);

impl fmt::Display for Named<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            "" => write!(f, "tracker"),
            url => write!(f, "tracker {url}"),
        }
    }
}

impl fmt::Display for TrackerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrackerError::Unsupported { url, what } => write!(f, "{}: {what}", Named(url)),
            TrackerError::Unreachable { url, detail } => {
                write!(f, "{} is unreachable: {detail}", Named(url))
            }
            TrackerError::HttpStatus { url, status } => {
                write!(f, "{} answered HTTP {status}", Named(url))
            }
            TrackerError::Failure { url, reason } => write!(f, "{} refused: {reason}", Named(url)),
            TrackerError::BadReply { url, detail } => {
                write!(f, "{} sent an invalid reply: {detail}", Named(url))
            }
        }
    }
}

impl std::error::Error for TrackerError {}

/// The protocols a tracker URL can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Http,
    Udp,
}

/// The scheme of `url`, compared case-insensitively.
fn scheme(url: &str) -> Option<Scheme> {
    let (scheme, _) = url.split_once("://")?;
    match scheme.to_ascii_lowercase().as_str() {
        "http" | "https" => Some(Scheme::Http),
        "udp" => Some(Scheme::Udp),
        _ => None,
    }
}

/// Announces to the tracker at `url`, waiting at most about `timeout` for its answer.
pub fn announce(
    url: &str,
    req: &AnnounceRequest,
    timeout: Duration,
) -> Result<AnnounceResponse, TrackerError> {
    match scheme(url) {
        Some(Scheme::Http) => http::announce(url, req, timeout),
        Some(Scheme::Udp) => udp_client::announce(url, req, timeout),
        None => Err(not_a_tracker_url(url)),
    }
}

/// Asks the tracker at `url` about one torrent, waiting at most about `timeout`.
pub fn scrape(
    url: &str,
    info_hash: &[u8; 20],
    timeout: Duration,
) -> Result<ScrapeStats, TrackerError> {
    match scheme(url) {
        Some(Scheme::Http) => scrape::http_scrape(url, info_hash, timeout),
        Some(Scheme::Udp) => udp_client::scrape(url, info_hash, timeout),
        None => Err(not_a_tracker_url(url)),
    }
}

fn not_a_tracker_url(url: &str) -> TrackerError {
    TrackerError::Unsupported {
        url: url.to_owned(),
        what: "not an http://, https:// or udp:// URL",
    }
}

#[cfg(test)]
mod tests;

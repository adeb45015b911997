//! The announcer thread: tells the trackers we are in the swarm and passes on the peers
//! they know.
//!
//! * Thread: `announcer`, started by [`spawn`]; one per torrent.
//! * Owns: the tracker list in BEP 12 order ([`TrackerTiers`]) and, per tier, the announce
//!   schedule, the tracker id, and which events (`started`, `completed`) went through.
//! * Reads: [`Command`]s: `Completed` and `Stop` from the main thread, `NeedPeers` from
//!   the peer manager (when it runs short of peers and of addresses to dial); the shared [`Counters`]
//!   for `uploaded`/`downloaded`/`left`.
//! * Writes: peer addresses to the peer manager; [`Report`]s to the main thread.
//!
//! Every tier is announced to (BEP 12: one tracker per tier), each on its own schedule:
//! an announce to a tier tries its trackers in order until one answers, which is promoted
//! to the front of its tier; the tier's next announce is due after the interval that
//! tracker gave (never sooner than its `min interval`), or after a doubling back-off if all
//! failed.
//!
//! Early re-announces, for a torrent short of peers: the peer manager sends `NeedPeers`
//! with its number of connected peers (every tick while it has fewer than it wants and
//! no address left to dial). Each answering tier is then announced to again
//! `EARLY_FLOOR` (60 s) after its last announce, or after the tracker's `min interval` if
//! that is longer: a tracker that asks for one is never announced to more often. While the
//! number of connected peers does not change, each early announce doubles the wait before
//! the next (60 s, 120 s, 240 s, ...), up to the tracker's regular interval; a change in the
//! number resets it to the floor. With enough peers no `NeedPeers` comes and the tiers keep
//! their regular interval. This is how a seeder that announced before a leecher arrived
//! learns of it when the leecher cannot dial it (behind NAT, or transmission-cli, which
//! never dials loopback peers). Between announces the thread sleeps on the command channel, so a command wakes
//! it at once; `Stop` is noticed between two trackers. It never panics: tracker errors
//! become reports, and a closed channel just means nobody listens any more. Dropping every
//! command sender (the main thread's and the peer manager's) works like [`Command::Stop`].

use crate::random::Rng;
use crate::stats::Counters;
use crate::tracker::tiers::TrackerTiers;
use crate::tracker::{self, AnnounceRequest, AnnounceResponse, Event};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tier::{Completion, Tier};

/// How long one announce may take.
const ANNOUNCE_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one farewell `stopped` announce may take...
const STOP_TIMEOUT: Duration = Duration::from_secs(2);
/// ...and all of them together, so many tiers cannot delay shutdown much.
const STOP_BUDGET: Duration = Duration::from_secs(4);
/// Shortest gap between two announces when the tracker gave no `min interval`.
const DEFAULT_MIN_GAP: Duration = Duration::from_secs(30);
/// Shortest wait before an early re-announce (for more peers), whatever the tracker's
/// `min interval`; doubled after each early announce while the peer count stays put.
const EARLY_FLOOR: Duration = Duration::from_secs(60);
/// Wait after an announce to a tier in which every tracker failed; doubles up to
/// [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_secs(15);
const MAX_RETRY: Duration = Duration::from_secs(5 * 60);
/// The thread only parses small replies, but TLS handshakes (https trackers) want some room.
const STACK_SIZE: usize = 1024 * 1024;

/// What the announcer needs to know about the torrent and us.
#[derive(Debug, Clone)]
pub struct AnnouncerConfig {
    /// Tiers of tracker URLs (BEP 12), the torrent's and then the user's; may be empty.
    pub trackers: Vec<Vec<String>>,
    pub info_hash: [u8; 20],
    pub peer_id: [u8; 20],
    /// Our listening port.
    pub port: u16,
    /// Peers to ask for per announce.
    pub numwant: u32,
    /// Announce from this local address (`--bind`).
    pub bind: Option<std::net::IpAddr>,
    /// Our global IPv6 address, if we listen on IPv6 and have one (`ipv6=`, BEP 7).
    pub ipv6: Option<std::net::Ipv6Addr>,
}

/// What the announcer is asked to do: by the main thread (`Completed`, `Stop`) and by the
/// peer manager (`NeedPeers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// A download just finished: send `completed` once.
    Completed,
    /// The peer manager is short of addresses to dial and has `connected` peers:
    /// re-announce early (see the module comment).
    NeedPeers { connected: usize },
    /// Send `stopped` (short timeout, best effort) and exit.
    Stop,
}

/// News for the main thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// A tracker answered.
    Announced {
        tracker: String,
        peers: usize,
        seeders: Option<u32>,
        leechers: Option<u32>,
    },
    /// One tracker failed (the next one of its tier will be tried).
    Failed { tracker: String, error: String },
    /// Every tier's latest announce failed on every one of its trackers.
    AllFailed { last_error: String },
}

/// Starts the announcer thread. It announces `started` at once; the returned sender
/// carries [`Command`]s to it.
pub fn spawn(
    config: AnnouncerConfig,
    counters: Arc<Counters>,
    peers: Sender<Vec<SocketAddr>>,
    reports: Sender<Report>,
) -> std::io::Result<(JoinHandle<()>, Sender<Command>)> {
    spawn_with_rng(config, Rng::new(), counters, peers, reports)
}

/// [`spawn`] with a chosen generator, so tests can fix the tracker order.
fn spawn_with_rng(
    config: AnnouncerConfig,
    mut rng: Rng,
    counters: Arc<Counters>,
    peers: Sender<Vec<SocketAddr>>,
    reports: Sender<Report>,
) -> std::io::Result<(JoinHandle<()>, Sender<Command>)> {
    let (commands_tx, commands) = crossbeam_channel::unbounded();
    let tiers = TrackerTiers::new(config.trackers.clone(), &mut rng);
    let now = Instant::now();
    let announcer = Announcer {
        states: (0..tiers.tiers().len()).map(|_| Tier::new(now)).collect(),
        tiers,
        key: rng.next_u64() as u32,
        config,
        counters,
        peers,
        reports,
        deferred: Vec::new(),
    };
    let handle = std::thread::Builder::new()
        .name("announcer".into())
        .stack_size(STACK_SIZE)
        .spawn(move || announcer.run(&commands))?;
    Ok((handle, commands_tx))
}

/// Why the thread stopped waiting.
enum Wake {
    /// A tier is due.
    Announce,
    /// Say goodbye and exit.
    Stop,
}

/// `Stop` arrived in the middle of an announce.
struct Stopped;

/// The thread's state.
struct Announcer {
    config: AnnouncerConfig,
    tiers: TrackerTiers,
    /// One per tier of `tiers`, same order.
    states: Vec<Tier>,
    counters: Arc<Counters>,
    peers: Sender<Vec<SocketAddr>>,
    reports: Sender<Report>,
    /// Our random `key`, fixed for the session.
    key: u32,
    /// Commands that arrived during an announce, handled when it is over.
    deferred: Vec<Command>,
}

impl Announcer {
    /// The thread's body: announce to the tiers that are due, then wait for the next.
    fn run(mut self, commands: &Receiver<Command>) {
        if self.tiers.is_empty() {
            log::info!("no trackers: the announcer has nothing to do");
            while let Ok(command) = commands.recv() {
                if command == Command::Stop {
                    break;
                }
            }
            return;
        }
        loop {
            let now = Instant::now();
            let mut last_error = None;
            for tier in 0..self.states.len() {
                if self.states[tier].due > now {
                    continue;
                }
                match self.announce_tier(tier, commands) {
                    Err(Stopped) => return self.stop(),
                    Ok(error) => last_error = error.or(last_error),
                }
            }
            if let Some(last_error) = last_error
                && self.states.iter().all(|tier| tier.failing)
            {
                log::warn!("every tracker failed; last error: {last_error}");
                self.report(Report::AllFailed { last_error });
            }
            match self.wait(commands) {
                Wake::Announce => {}
                Wake::Stop => return self.stop(),
            }
        }
    }

    /// The announce request for `event` to tier `tier`, with the counters as they are now.
    fn request(&self, tier: usize, event: Event) -> AnnounceRequest {
        AnnounceRequest {
            info_hash: self.config.info_hash,
            peer_id: self.config.peer_id,
            port: self.config.port,
            uploaded: self.counters.uploaded(),
            downloaded: self.counters.downloaded(),
            left: self.counters.left(),
            event,
            numwant: if event == Event::Stopped {
                0
            } else {
                self.config.numwant
            },
            key: self.key,
            tracker_id: self.states[tier].tracker_id.clone(),
            bind: self.config.bind,
            ipv6: self.config.ipv6,
        }
    }

    /// Announces to tier `tier`: its trackers in order until one answers. Returns the last
    /// error if none did. A `Stop` is looked for before each tracker, so shutdown waits for
    /// at most one announce timeout.
    fn announce_tier(
        &mut self,
        tier: usize,
        commands: &Receiver<Command>,
    ) -> Result<Option<String>, Stopped> {
        let event = self.states[tier].next_event();
        let urls = self.tiers.tiers()[tier].clone();
        let mut last_error = String::new();
        for (index, url) in urls.into_iter().enumerate() {
            if self.stop_requested(commands) {
                return Err(Stopped);
            }
            let started = Instant::now();
            match tracker::announce(&url, &self.request(tier, event), ANNOUNCE_TIMEOUT) {
                Ok(reply) => {
                    self.tiers.promote(tier, index);
                    self.answered(tier, event, started, url, &reply);
                    return Ok(None);
                }
                Err(e) => {
                    log::info!("{e}");
                    last_error = e.to_string();
                    self.report(Report::Failed {
                        tracker: url,
                        error: last_error.clone(),
                    });
                }
            }
        }
        self.states[tier].failed(Instant::now());
        Ok(Some(last_error))
    }

    /// True if `Stop` came (or every sender hung up); other commands are set aside.
    fn stop_requested(&mut self, commands: &Receiver<Command>) -> bool {
        loop {
            match commands.try_recv() {
                Ok(Command::Stop) | Err(TryRecvError::Disconnected) => return true,
                Ok(command) => self.deferred.push(command),
                Err(TryRecvError::Empty) => return false,
            }
        }
    }

    /// Records a successful announce to `tier` sent at `sent`, and passes its peers on.
    fn answered(
        &mut self,
        tier: usize,
        event: Event,
        sent: Instant,
        url: String,
        reply: &AnnounceResponse,
    ) {
        let state = &mut self.states[tier];
        match event {
            Event::Started => state.started = true,
            Event::Completed => state.completion = Completion::Done,
            Event::None | Event::Stopped => {}
        }
        if state.last.as_ref() != Some(&url) {
            // A tracker id is meant for the tracker that gave it.
            state.tracker_id = None;
        }
        if reply.tracker_id.is_some() {
            state.tracker_id.clone_from(&reply.tracker_id);
        }
        state.answered(sent, reply.interval, reply.min_interval);
        state.last = Some(url.clone());
        if let Some(warning) = &reply.warning {
            log::warn!("tracker {url} warns: {warning}");
        }
        log::info!("tracker {url} gave {} peers", reply.peers.len());
        if !reply.peers.is_empty() {
            // The peer manager may be gone during shutdown; that is not our problem.
            let _ = self.peers.send(reply.peers.clone());
        }
        self.report(Report::Announced {
            tracker: url,
            peers: reply.peers.len(),
            seeders: reply.complete,
            leechers: reply.incomplete,
        });
    }

    /// Sends a report; a main thread that stopped listening is not an error.
    fn report(&self, report: Report) {
        let _ = self.reports.send(report);
    }

    /// Waits until a tier is due or a command needs an announce now; commands set aside
    /// during the announces come first. `NeedPeers` brings each answering tier forward to
    /// its early re-announce time ([`Tier::want_peers`]); failing tiers keep their back-off.
    fn wait(&mut self, commands: &Receiver<Command>) -> Wake {
        let mut deferred = std::mem::take(&mut self.deferred).into_iter();
        loop {
            let Some(deadline) = self.states.iter().map(|tier| tier.due).min() else {
                return Wake::Stop;
            };
            let command = match deferred.next() {
                Some(command) => Ok(command),
                None => commands.recv_deadline(deadline),
            };
            match command {
                Err(RecvTimeoutError::Timeout) => return Wake::Announce,
                Err(RecvTimeoutError::Disconnected) | Ok(Command::Stop) => return Wake::Stop,
                Ok(Command::NeedPeers { connected }) => {
                    for tier in &mut self.states {
                        tier.want_peers(connected);
                    }
                }
                Ok(Command::Completed) => {
                    if self.completed() {
                        return Wake::Announce;
                    }
                }
            }
        }
    }

    /// The download finished: each tier that heard `started` is owed a `completed`; the
    /// others will say `left=0` in their `started`. True if some tier is owed one.
    fn completed(&mut self) -> bool {
        let now = Instant::now();
        let mut owed = false;
        for tier in &mut self.states {
            if tier.completion == Completion::NotYet {
                if tier.started {
                    tier.completion = Completion::Pending;
                    tier.due = now;
                    owed = true;
                } else {
                    tier.completion = Completion::Done;
                }
            }
        }
        owed
    }

    /// Best-effort farewell, within [`STOP_BUDGET`]: to the tracker of each tier that
    /// answered last, the `completed` it is still owed (the main thread sends `Completed`
    /// and `Stop` back to back when a download ends), then `stopped`.
    fn stop(mut self) {
        if self.deferred.contains(&Command::Completed) {
            self.completed();
        }
        let deadline = Instant::now() + STOP_BUDGET;
        for tier in 0..self.states.len() {
            let Some(url) = self.states[tier].last.clone() else {
                continue;
            };
            let mut events = vec![Event::Stopped];
            if self.states[tier].completion == Completion::Pending {
                events.insert(0, Event::Completed);
            }
            for event in events {
                let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                    log::info!("no time left to tell tracker {url} we stopped");
                    break;
                };
                let request = self.request(tier, event);
                match tracker::announce(&url, &request, left.min(STOP_TIMEOUT)) {
                    Ok(_) => log::info!("told tracker {url} we {}", event.as_str().unwrap_or("")),
                    Err(e) => log::info!("could not send `{}`: {e}", event.as_str().unwrap_or("")),
                }
            }
        }
    }
}

mod tier;

#[cfg(test)]
mod tests;

//! The announcer thread: tells the trackers we are in the swarm and passes on the peers
//! they know.
//!
//! * Thread: `announcer`, started by [`spawn`]; one per torrent.
//! * Owns: the tracker list in BEP 12 order ([`TrackerTiers`]), the tracker id, the
//!   announce schedule, and which events (`started`, `completed`) went through.
//! * Reads: [`Command`]s from the main thread; the shared [`Counters`] for
//!   `uploaded`/`downloaded`/`left`.
//! * Writes: peer addresses to the peer manager; [`Report`]s to the main thread.
//!
//! A round tries the trackers tier by tier until one answers, which is promoted to the
//! front of its tier. Between rounds the thread sleeps on the command channel, so a command
//! wakes it at once; during a round, `Stop` is noticed between two trackers. It never panics: tracker errors become reports, and a closed channel
//! just means nobody listens any more. Dropping the command sender works like
//! [`Command::Stop`].

use crate::random::Rng;
use crate::stats::Counters;
use crate::tracker::tiers::TrackerTiers;
use crate::tracker::{self, AnnounceRequest, AnnounceResponse, Event};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long one announce may take.
const ANNOUNCE_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the farewell `stopped` announce may delay shutdown.
const STOP_TIMEOUT: Duration = Duration::from_secs(2);
/// Shortest gap between two announces when the tracker gave no `min interval`.
const DEFAULT_MIN_GAP: Duration = Duration::from_secs(30);
/// Wait after a round in which every tracker failed; doubles up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_secs(15);
const MAX_RETRY: Duration = Duration::from_secs(5 * 60);
/// The thread only parses small replies, but TLS handshakes (https trackers) want some room.
const STACK_SIZE: usize = 1024 * 1024;

/// What the announcer needs to know about the torrent and us.
#[derive(Debug, Clone)]
pub struct AnnouncerConfig {
    /// Tiers of tracker URLs (BEP 12); may be empty.
    pub trackers: Vec<Vec<String>>,
    pub info_hash: [u8; 20],
    pub peer_id: [u8; 20],
    /// Our listening port.
    pub port: u16,
    /// Peers to ask for per announce.
    pub numwant: u32,
}

/// Orders from the main thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// A download just finished: send `completed` once.
    Completed,
    /// We are short of peers: re-announce now if min interval allows.
    NeedPeers,
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
    /// One tracker failed (the next one will be tried).
    Failed { tracker: String, error: String },
    /// Every tracker of every tier failed this round.
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
    let announcer = Announcer {
        tiers: TrackerTiers::new(config.trackers.clone(), &mut rng),
        key: rng.next_u64() as u32,
        config,
        counters,
        peers,
        reports,
        tracker_id: None,
        last_tracker: None,
        started: false,
        completion: Completion::NotYet,
        deferred: Vec::new(),
    };
    let handle = std::thread::Builder::new()
        .name("announcer".into())
        .stack_size(STACK_SIZE)
        .spawn(move || announcer.run(&commands))?;
    Ok((handle, commands_tx))
}

/// Where we are with the `completed` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Completion {
    /// The download has not finished.
    NotYet,
    /// It finished; the `completed` announce has not gone through yet.
    Pending,
    /// Sent, or not needed (we finished before any tracker heard `started`, so the
    /// `started` announce itself says `left=0`; BEP 3 sends no `completed` then).
    Done,
}

/// How a round ended.
enum Round {
    /// A tracker answered.
    Answered(AnnounceResponse),
    /// Every tracker failed.
    AllFailed,
    /// `Stop` arrived in the middle of the round.
    Stop,
}

/// Why the thread stopped waiting.
enum Wake {
    /// Time for a round.
    Announce,
    /// Say goodbye and exit.
    Stop,
}

/// The thread's state.
struct Announcer {
    config: AnnouncerConfig,
    tiers: TrackerTiers,
    counters: Arc<Counters>,
    peers: Sender<Vec<SocketAddr>>,
    reports: Sender<Report>,
    /// Our random `key`, fixed for the session.
    key: u32,
    /// The last `tracker id` a tracker gave us.
    tracker_id: Option<String>,
    /// The tracker that answered last; it gets the `stopped` announce.
    last_tracker: Option<String>,
    /// A `started` announce went through.
    started: bool,
    completion: Completion,
    /// Commands that arrived during a round, handled when it is over.
    deferred: Vec<Command>,
}

impl Announcer {
    /// The thread's body: rounds of announces separated by waits.
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
        let mut retry = FIRST_RETRY;
        loop {
            let round_start = Instant::now();
            let (wait, min_gap) = match self.round(commands) {
                Round::Stop => return self.stop(),
                Round::Answered(reply) => {
                    retry = FIRST_RETRY;
                    let min_gap = reply.min_interval.unwrap_or(DEFAULT_MIN_GAP);
                    (reply.interval.max(min_gap), Some(round_start + min_gap))
                }
                Round::AllFailed => {
                    let wait = retry;
                    retry = (retry * 2).min(MAX_RETRY);
                    (wait, None)
                }
            };
            match self.wait(commands, round_start + wait, min_gap) {
                Wake::Announce => {}
                Wake::Stop => return self.stop(),
            }
        }
    }

    /// The event the next round carries.
    fn next_event(&self) -> Event {
        if !self.started {
            Event::Started
        } else if self.completion == Completion::Pending {
            Event::Completed
        } else {
            Event::None
        }
    }

    /// The announce request for `event`, with the counters as they are now.
    fn request(&self, event: Event) -> AnnounceRequest {
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
            tracker_id: self.tracker_id.clone(),
        }
    }

    /// One round: tier by tier, tracker by tracker, until one answers. A `Stop` is looked
    /// for between two trackers, so shutdown waits for at most one announce timeout.
    fn round(&mut self, commands: &Receiver<Command>) -> Round {
        let event = self.next_event();
        let order: Vec<(usize, usize, String)> = self
            .tiers
            .iter()
            .map(|(tier, index, url)| (tier, index, url.to_owned()))
            .collect();
        let mut last_error = String::new();
        for (tier, index, url) in order {
            if self.stop_requested(commands) {
                return Round::Stop;
            }
            match tracker::announce(&url, &self.request(event), ANNOUNCE_TIMEOUT) {
                Ok(reply) => {
                    self.tiers.promote(tier, index);
                    self.answered(event, url, &reply);
                    return Round::Answered(reply);
                }
                Err(e) => {
                    log::info!("{e}");
                    last_error = e.to_string();
                    let error = last_error.clone();
                    self.report(Report::Failed {
                        tracker: url,
                        error,
                    });
                }
            }
        }
        log::warn!("every tracker failed; last error: {last_error}");
        self.report(Report::AllFailed { last_error });
        Round::AllFailed
    }

    /// True if `Stop` came (or the main thread hung up); other commands are set aside.
    fn stop_requested(&mut self, commands: &Receiver<Command>) -> bool {
        loop {
            match commands.try_recv() {
                Ok(Command::Stop) | Err(TryRecvError::Disconnected) => return true,
                Ok(command) => self.deferred.push(command),
                Err(TryRecvError::Empty) => return false,
            }
        }
    }

    /// Records a successful announce and passes its peers on.
    fn answered(&mut self, event: Event, url: String, reply: &AnnounceResponse) {
        match event {
            Event::Started => self.started = true,
            Event::Completed => self.completion = Completion::Done,
            Event::None | Event::Stopped => {}
        }
        if reply.tracker_id.is_some() {
            self.tracker_id.clone_from(&reply.tracker_id);
        }
        if let Some(warning) = &reply.warning {
            log::warn!("tracker {url} warns: {warning}");
        }
        log::info!("tracker {url} gave {} peers", reply.peers.len());
        if !reply.peers.is_empty() {
            // The peer manager may be gone during shutdown; that is not our problem.
            let _ = self.peers.send(reply.peers.clone());
        }
        self.last_tracker = Some(url.clone());
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

    /// Waits until `deadline` or a command that needs a round now; commands set aside
    /// during the round come first. `NeedPeers` brings the deadline forward to `earliest`
    /// (the min interval); during a failure back-off (`earliest` is `None`) it changes
    /// nothing, as the trackers are known to be down.
    fn wait(
        &mut self,
        commands: &Receiver<Command>,
        mut deadline: Instant,
        earliest: Option<Instant>,
    ) -> Wake {
        let mut deferred = std::mem::take(&mut self.deferred).into_iter();
        let wake = loop {
            let command = match deferred.next() {
                Some(command) => Ok(command),
                None => commands.recv_deadline(deadline),
            };
            match command {
                Err(RecvTimeoutError::Timeout) => break Wake::Announce,
                Err(RecvTimeoutError::Disconnected) | Ok(Command::Stop) => break Wake::Stop,
                Ok(Command::NeedPeers) => {
                    if let Some(earliest) = earliest {
                        deadline = deadline.min(earliest);
                    }
                }
                Ok(Command::Completed) => {
                    if self.completion == Completion::NotYet {
                        if self.started {
                            self.completion = Completion::Pending;
                            break Wake::Announce;
                        }
                        self.completion = Completion::Done;
                    }
                }
            }
        };
        // Set-aside commands not looked at can only be `NeedPeers` or a repeated
        // `Completed`: the round about to start answers both.
        wake
    }

    /// Best-effort `stopped` to the tracker that answered last, if any ever did.
    fn stop(self) {
        let Some(url) = &self.last_tracker else {
            return;
        };
        let request = self.request(Event::Stopped);
        match tracker::announce(url, &request, STOP_TIMEOUT) {
            Ok(_) => log::info!("told tracker {url} we stopped"),
            Err(e) => log::info!("could not send `stopped`: {e}"),
        }
    }
}

#[cfg(test)]
mod tests;

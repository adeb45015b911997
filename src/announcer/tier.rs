//! One tier's state in the announcer thread: when it is due, what it was told, and which
//! tracker of it answered last. Plain data, owned by the announcer.

use super::FIRST_RETRY;
use crate::tracker::Event;
use std::time::{Duration, Instant};

/// Where a tier is with the `completed` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Completion {
    /// The download has not finished.
    NotYet,
    /// It finished; the tier's `completed` announce has not gone through yet.
    Pending,
    /// Sent, or not needed (we finished before the tier heard `started`, so the `started`
    /// announce itself says `left=0`; BEP 3 sends no `completed` then).
    Done,
}

/// The schedule and history of one tier.
#[derive(Debug)]
pub(super) struct Tier {
    /// When the next announce is due.
    pub(super) due: Instant,
    /// The tracker's `min interval` runs out: `NeedPeers` may bring `due` forward to here.
    /// `None` while the tier is failing, as its trackers are known to be down.
    pub(super) earliest: Option<Instant>,
    /// The wait after the next failure.
    pub(super) retry: Duration,
    /// A `started` announce went through.
    pub(super) started: bool,
    pub(super) completion: Completion,
    /// The `tracker id` the answering tracker gave us.
    pub(super) tracker_id: Option<String>,
    /// The tracker that answered last; it gets the `stopped` announce.
    pub(super) last: Option<String>,
    /// Every tracker of the tier failed in its latest announce.
    pub(super) failing: bool,
}

impl Tier {
    pub(super) fn new(now: Instant) -> Tier {
        Tier {
            due: now,
            earliest: None,
            retry: FIRST_RETRY,
            started: false,
            completion: Completion::NotYet,
            tracker_id: None,
            last: None,
            failing: false,
        }
    }

    /// The event its next announce carries.
    pub(super) fn next_event(&self) -> Event {
        if !self.started {
            Event::Started
        } else if self.completion == Completion::Pending {
            Event::Completed
        } else {
            Event::None
        }
    }
}

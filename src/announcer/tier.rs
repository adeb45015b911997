//! One tier's state in the announcer thread: when it is due, what it was told, and which
//! tracker of it answered last. Plain data, owned by the announcer; the early re-announce
//! schedule (see the announcer's `//!` comment) is here, as pure functions of the clock
//! they are given, so the unit tests can check it without waiting.

use super::{EARLY_FLOOR, FIRST_RETRY};
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
    /// The last answer's schedule, for early re-announces. `None` before the first answer
    /// and while the tier is failing, as its trackers are known to be down.
    pub(super) answer: Option<Answer>,
    /// Early re-announces since the number of connected peers last changed: each one
    /// doubles the wait before the next.
    pub(super) backoff: u32,
    /// The number of connected peers the peer manager last reported while asking for more.
    pub(super) peers: Option<usize>,
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
            answer: None,
            backoff: 0,
            peers: None,
            retry: FIRST_RETRY,
            started: false,
            completion: Completion::NotYet,
            tracker_id: None,
            last: None,
            failing: false,
        }
    }

    /// Records a successful announce sent at `sent`; `interval` and `min_interval` are the
    /// tracker's. Sets the regular `due` (the interval, never sooner than the min
    /// interval, else [`super::DEFAULT_MIN_GAP`]). An announce sent before the regular time
    /// of the previous answer was an early one: the next early one waits twice as long.
    pub(super) fn answered(
        &mut self,
        sent: Instant,
        interval: Duration,
        min_interval: Option<Duration>,
    ) {
        if self.answer.is_some_and(|answer| sent < answer.regular) {
            self.backoff = self.backoff.saturating_add(1);
        }
        let min_gap = min_interval.unwrap_or(super::DEFAULT_MIN_GAP);
        let regular = sent + interval.max(min_gap);
        self.due = regular;
        self.answer = Some(Answer {
            sent,
            regular,
            floor: min_interval.unwrap_or_default().max(EARLY_FLOOR),
        });
        self.retry = FIRST_RETRY;
        self.failing = false;
    }

    /// The peer manager wants more peers and has `connected`: brings `due` forward to the
    /// early re-announce time, if that is sooner. A change in `connected` resets the
    /// back-off. Nothing changes for a failing tier or one that never answered.
    pub(super) fn want_peers(&mut self, connected: usize) {
        let Some(answer) = self.answer else {
            return;
        };
        if self.peers != Some(connected) {
            self.peers = Some(connected);
            self.backoff = 0;
        }
        self.due = self.due.min(answer.early(self.backoff));
    }

    /// All its trackers failed at `now`: retry after the back-off, and no early announces
    /// until one answers.
    pub(super) fn failed(&mut self, now: Instant) {
        self.failing = true;
        self.answer = None;
        self.due = now + self.retry;
        self.retry = (self.retry * 2).min(super::MAX_RETRY);
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

/// When the tier last answered, and what that answer allows.
#[derive(Debug, Clone, Copy)]
pub(super) struct Answer {
    /// When the announce was sent.
    pub(super) sent: Instant,
    /// When the next announce is due if nobody asks for peers: the tracker's interval.
    pub(super) regular: Instant,
    /// The shortest wait before an early re-announce: the tracker's `min interval`, and
    /// never under [`EARLY_FLOOR`].
    pub(super) floor: Duration,
}

impl Answer {
    /// The early re-announce time after `backoff` early announces: the floor, doubled each
    /// time, and never later than the regular time.
    pub(super) fn early(&self, backoff: u32) -> Instant {
        let wait = self
            .floor
            .saturating_mul(2u32.saturating_pow(backoff.min(16)));
        (self.sent + wait).min(self.regular.max(self.sent + self.floor))
    }
}

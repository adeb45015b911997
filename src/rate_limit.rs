//! A rate limit shared by every peer thread of one download, one per direction: a token
//! bucket.
//!
//! * Called by: peer threads. Upload: before copying a block into their send buffer.
//!   Download: before sending requests, which the peer answers with that many bytes.
//! * Owns: the bucket (bytes allowed now, and when it was last refilled), behind one small
//!   lock taken once per block (upload) or once per batch of requests (download).
//!
//! The user sets them with `--max-upload-rate` and `--max-download-rate`. `smalltorrent
//! demo` gives its seeder an upload limit, a modest upload as real seeders have: otherwise
//! on loopback the seeder hands every leecher the whole payload before the leechers have
//! anything to trade.
//!
//! Nothing waits here: a peer thread whose block does not fit the budget leaves it queued
//! (or its request unsent) and sleeps in `poll` until its next tick
//! (`peer::Timeouts::tick`), then tries again. So the limit costs no busy loop. Over a
//! second the rate holds; within one, the bucket lets a burst of a quarter second's worth
//! (at least 256 KiB) go at once.
//!
//! The download limit counts what we *ask* for: a peer sends what we request, so the bytes
//! that arrive follow the requests a round trip later. A request the peer rejects, or a
//! block cancelled in the endgame, still counts, so the limit errs on the slow side.

use parking_lot::Mutex;
use std::time::Instant;

/// The bucket holds at least this much, so the largest block we serve (128 KiB) fits.
const MIN_BURST: f64 = 256.0 * 1024.0;

/// A limit of so many bytes per second. See the module documentation.
#[derive(Debug)]
pub struct RateLimit {
    bytes_per_second: f64,
    burst: f64,
    /// Bytes that may go now, and when that was computed.
    bucket: Mutex<(f64, Instant)>,
}

impl RateLimit {
    /// A limit of `bytes_per_second` (at least 1), allowing bursts of a quarter second.
    pub fn new(bytes_per_second: u64) -> RateLimit {
        let rate = bytes_per_second.max(1) as f64;
        let burst = (rate / 4.0).max(MIN_BURST);
        RateLimit {
            bytes_per_second: rate,
            burst,
            bucket: Mutex::new((burst, Instant::now())),
        }
    }

    /// Takes `bytes` from the budget if there is enough; `false` means "not yet, try again
    /// on a later turn" (nothing is taken).
    pub fn try_take(&self, bytes: u64) -> bool {
        self.try_take_at(bytes, Instant::now())
    }

    fn try_take_at(&self, bytes: u64, now: Instant) -> bool {
        self.take_units_at(1, bytes, now) == 1
    }

    /// Takes as many of `wanted` units of `unit` bytes as the budget has room for (at
    /// least 1 byte a unit); returns how many were taken, 0 meaning "try again later".
    pub fn take_units(&self, wanted: usize, unit: u64) -> usize {
        self.take_units_at(wanted, unit, Instant::now())
    }

    /// Returns `units` units of `unit` bytes taken but not used (requests not sent after
    /// all), up to the burst.
    pub fn give_back(&self, units: usize, unit: u64) {
        let mut bucket = self.bucket.lock();
        bucket.0 = (bucket.0 + units as f64 * unit.max(1) as f64).min(self.burst);
    }

    fn take_units_at(&self, wanted: usize, unit: u64, now: Instant) -> usize {
        let unit = unit.max(1) as f64;
        let mut bucket = self.bucket.lock();
        let elapsed = now.saturating_duration_since(bucket.1).as_secs_f64();
        bucket.0 = (bucket.0 + elapsed * self.bytes_per_second).min(self.burst);
        bucket.1 = now;
        let taken = ((bucket.0 / unit) as usize).min(wanted);
        bucket.0 -= taken as f64 * unit;
        taken
    }
}

/// Asks `ask` to send up to `wanted` requests of at most `unit` bytes each, as many as
/// `limit` allows now (all of them with no limit); `ask` returns how many it sent, and
/// the budget for the rest is given back. Used by the download side of a peer thread.
pub fn metered(
    limit: Option<&RateLimit>,
    wanted: usize,
    unit: u32,
    ask: impl FnOnce(usize) -> usize,
) {
    let Some(limit) = limit else {
        ask(wanted);
        return;
    };
    let allowed = limit.take_units(wanted, u64::from(unit));
    if allowed > 0 {
        let sent = ask(allowed);
        limit.give_back(allowed.saturating_sub(sent), u64::from(unit));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_then_the_rate() {
        let limit = RateLimit::new(1 << 20);
        let start = Instant::now();
        let block = 16 * 1024;
        let mut taken = 0;
        while limit.try_take_at(block, start) {
            taken += block;
        }
        assert_eq!(taken, 256 * 1024, "a quarter second's worth");
        assert!(!limit.try_take_at(block, start + Duration::from_millis(10)));
        assert!(limit.try_take_at(block, start + Duration::from_millis(20)));
    }

    #[test]
    fn units_are_taken_as_far_as_the_budget_goes() {
        let limit = RateLimit::new(1 << 20);
        let start = Instant::now();
        let block = 16 * 1024;
        assert_eq!(
            limit.take_units_at(100, block, start),
            16,
            "256 KiB of 16 KiB blocks"
        );
        assert_eq!(limit.take_units_at(100, block, start), 0, "nothing left");
        // 1 MiB/s refills a 16 KiB block every 15.6 ms: three and a bit after 50 ms.
        let later = start + Duration::from_millis(50);
        assert_eq!(limit.take_units_at(100, block, later), 3);
        assert_eq!(
            limit.take_units_at(2, block, later + Duration::from_secs(1)),
            2
        );
    }

    #[test]
    fn metered_requests_take_what_they_send_and_give_back_the_rest() {
        let sent = |limit: Option<&RateLimit>, can: usize| {
            let mut asked = 0;
            metered(limit, 100, 16 * 1024, |allowed| {
                asked = allowed;
                allowed.min(can)
            });
            asked
        };
        assert_eq!(sent(None, 100), 100, "no limit: all");
        let limit = RateLimit::new(1 << 20);
        assert_eq!(sent(Some(&limit), 4), 16, "the burst's worth is offered");
        assert_eq!(sent(Some(&limit), 100), 12, "4 were sent, 12 given back");
        assert_eq!(
            sent(Some(&limit), 100),
            0,
            "then nothing until the bucket refills"
        );
    }

    #[test]
    fn over_ten_seconds_the_rate_holds() {
        let limit = RateLimit::new(2 << 20);
        let start = Instant::now();
        let mut taken = 0u64;
        for tick in 0..=100 {
            let now = start + Duration::from_millis(100 * tick);
            taken += limit.take_units_at(1000, 16 * 1024, now) as u64 * 16 * 1024;
        }
        // 10 s at 2 MiB/s, plus the first burst of half a MiB.
        let expected = (20 << 20) + (512 << 10);
        assert!(
            taken.abs_diff(expected) <= 16 * 1024,
            "{taken} against {expected}"
        );
    }
}

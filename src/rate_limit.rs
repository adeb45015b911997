//! An upload rate limit shared by every peer thread of one download: a token bucket.
//!
//! * Called by: peer threads, before copying a block into their send buffer.
//! * Owns: the bucket (bytes allowed now, and when it was last refilled), behind one small
//!   lock taken once per block.
//!
//! The user sets it with `--max-upload-rate`. `smalltorrent demo` gives its seeder one, a
//! modest upload as real seeders have: otherwise on loopback the seeder hands every
//! leecher the whole payload before the leechers have anything to trade.
//!
//! Nothing waits here: a peer thread whose block does not fit the budget leaves it queued
//! and sleeps in `poll` until its next tick (`peer::Timeouts::tick`) without asking to be
//! woken for room in the socket (`Connection::has_blocks_to_queue`), then tries again. So
//! the limit costs no busy loop. Over a second the rate holds; within one, the bucket lets
//! a burst of a quarter second's worth (at least 256 KiB) go at once.

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
        let mut bucket = self.bucket.lock();
        let elapsed = now.saturating_duration_since(bucket.1).as_secs_f64();
        bucket.0 = (bucket.0 + elapsed * self.bytes_per_second).min(self.burst);
        bucket.1 = now;
        if bucket.0 >= bytes as f64 {
            bucket.0 -= bytes as f64;
            true
        } else {
            false
        }
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
}

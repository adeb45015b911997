//! Tests of the early re-announce schedule (`tier.rs`), on a tier's state alone with a
//! made-up clock, and through the thread.

use super::*;

const MINUTE: Duration = Duration::from_secs(60);
const HALF_HOUR: Duration = Duration::from_secs(30 * 60);

/// A tier that just heard `started` answered at `at`.
fn answered_tier(at: Instant, interval: Duration, min_interval: Option<Duration>) -> Tier {
    let mut tier = Tier::new(at);
    tier.answered(at, interval, min_interval);
    tier
}

#[test]
fn early_reannounce_waits_a_minute_without_min_interval() {
    let t0 = Instant::now();
    let mut tier = answered_tier(t0, HALF_HOUR, None);
    assert_eq!(tier.due, t0 + HALF_HOUR);
    tier.want_peers(0);
    assert_eq!(tier.due, t0 + MINUTE);
}

#[test]
fn early_reannounce_respects_a_longer_min_interval() {
    let t0 = Instant::now();
    let min = Duration::from_secs(905);
    let mut tier = answered_tier(t0, HALF_HOUR, Some(min));
    for connected in [0, 1, 0, 2] {
        tier.want_peers(connected);
        assert_eq!(tier.due, t0 + min, "{connected} peers");
    }
}

#[test]
fn a_short_min_interval_does_not_beat_the_floor() {
    let t0 = Instant::now();
    let mut tier = answered_tier(t0, HALF_HOUR, Some(Duration::from_secs(5)));
    tier.want_peers(0);
    assert_eq!(tier.due, t0 + MINUTE);
}

#[test]
fn early_reannounces_back_off_while_the_peer_count_stays() {
    let mut at = Instant::now();
    let mut tier = answered_tier(at, HALF_HOUR, None);
    let mut waits = Vec::new();
    for _ in 0..7 {
        tier.want_peers(0);
        waits.push(tier.due.duration_since(at).as_secs());
        at = tier.due;
        tier.answered(at, HALF_HOUR, None);
    }
    assert_eq!(waits, [60, 120, 240, 480, 960, 1800, 1800]);
}

#[test]
fn a_change_in_peers_resets_the_back_off() {
    let mut at = Instant::now();
    let mut tier = answered_tier(at, HALF_HOUR, None);
    for _ in 0..3 {
        tier.want_peers(0);
        at = tier.due;
        tier.answered(at, HALF_HOUR, None);
    }
    tier.want_peers(0);
    assert_eq!(tier.due, at + 8 * MINUTE);
    tier.want_peers(1);
    assert_eq!(tier.due, at + MINUTE);
}

#[test]
fn no_early_reannounce_without_need_peers_or_while_failing() {
    let t0 = Instant::now();
    let tier = answered_tier(t0, HALF_HOUR, None);
    assert_eq!(
        tier.due,
        t0 + HALF_HOUR,
        "enough peers: the regular interval"
    );
    let mut failing = answered_tier(t0, HALF_HOUR, None);
    failing.failed(t0 + MINUTE);
    let retry = failing.due;
    failing.want_peers(0);
    assert_eq!(failing.due, retry, "a failing tier keeps its back-off");
    let mut fresh = Tier::new(t0);
    fresh.due = t0 + HALF_HOUR;
    fresh.want_peers(0);
    assert_eq!(
        fresh.due,
        t0 + HALF_HOUR,
        "never answered: nothing to go by"
    );
}

#[test]
fn a_regular_announce_does_not_count_as_early() {
    let mut tier = answered_tier(Instant::now(), MINUTE * 2, None);
    let regular = tier.due;
    tier.answered(regular, MINUTE * 2, None);
    tier.want_peers(0);
    assert_eq!(
        tier.due,
        regular + MINUTE,
        "no back-off after a regular announce"
    );
}

/// Through the thread: `NeedPeers` from a peer manager that keeps asking brings no
/// announce before the floor (the mock asks for no min interval).
#[test]
fn repeated_need_peers_do_not_announce_before_the_floor() {
    let (url, requests) = mock_tracker();
    let harness = start(vec![vec![url]], Rng::new());
    next_request(&requests);
    for connected in [0, 0, 1, 0] {
        harness
            .commands
            .send(Command::NeedPeers { connected })
            .unwrap();
    }
    assert!(requests.recv_timeout(Duration::from_secs(2)).is_err());
    harness.stop();
    assert!(next_request(&requests).contains("&event=stopped"));
}

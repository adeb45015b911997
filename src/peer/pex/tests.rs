//! The bookkeeping of one connection's peer exchange: what we tell the peer and when, and
//! which of its messages we honour.

use super::*;

fn addr(n: u8) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, n], 6881))
}

fn seed(n: u8) -> (SocketAddr, Flags) {
    (addr(n), Flags::SEED)
}

fn plain(n: u8) -> (SocketAddr, Flags) {
    (addr(n), Flags::default())
}

#[test]
fn the_first_message_adds_every_connected_peer() {
    let mut told = Told::default();
    let message = told.update(&[seed(2), plain(3)]).unwrap();
    assert_eq!(message.added, [seed(2), plain(3)]);
    assert!(message.dropped.is_empty());
}

#[test]
fn later_messages_add_the_newcomers_and_drop_the_departed() {
    let mut told = Told::default();
    told.update(&[seed(2), plain(3)]);
    let message = told.update(&[plain(3), plain(4)]).unwrap();
    assert_eq!(message.added, [plain(4)]);
    assert_eq!(message.dropped, [addr(2)]);
    let message = told.update(&[plain(4), seed(2)]).unwrap();
    assert_eq!(
        message.added,
        [seed(2)],
        "a peer back after a drop is added again"
    );
    assert_eq!(message.dropped, [addr(3)]);
}

#[test]
fn nothing_new_means_no_message() {
    let mut told = Told::default();
    assert!(told.update(&[]).is_none());
    told.update(&[plain(2)]);
    assert!(told.update(&[plain(2)]).is_none());
}

/// 120 peers come, then all go: 50 at a time each way, and the peer is told of each
/// exactly once.
#[test]
fn at_most_fifty_each_way_and_the_rest_in_the_next_message() {
    let many: Vec<(SocketAddr, Flags)> = (0..120u16)
        .map(|n| {
            (
                SocketAddr::from(([127, 0, 1, 1], 1000 + n)),
                Flags::default(),
            )
        })
        .collect();
    let mut told = Told::default();
    let sizes: Vec<usize> = (0..4)
        .map_while(|_| told.update(&many).map(|m| m.added.len()))
        .collect();
    assert_eq!(sizes, [50, 50, 20]);
    let sizes: Vec<usize> = (0..4)
        .map_while(|_| told.update(&[]).map(|m| m.dropped.len()))
        .collect();
    assert_eq!(sizes, [50, 50, 20]);
}

#[test]
fn the_first_message_waits_a_few_seconds_then_one_a_minute() {
    let start = Instant::now();
    let mut pex = Pex::new(start);
    let connected = [plain(2)];
    assert!(!pex.due(start));
    assert!(
        pex.next_message(start + FIRST_AFTER / 2, &connected)
            .is_none()
    );
    let first = start + FIRST_AFTER;
    assert!(pex.next_message(first, &connected).is_some());
    let more = [plain(2), plain(3)];
    assert!(
        pex.next_message(first + INTERVAL / 2, &more).is_none(),
        "too soon"
    );
    let second = pex.next_message(first + INTERVAL, &more).unwrap();
    assert_eq!(second.added, [plain(3)]);
}

#[test]
fn with_nothing_to_say_we_look_again_soon() {
    let start = Instant::now();
    let mut pex = Pex::new(start);
    let first = start + FIRST_AFTER;
    assert!(pex.next_message(first, &[]).is_none());
    assert!(pex.due(first + RECHECK));
    assert!(pex.next_message(first + RECHECK, &[plain(2)]).is_some());
}

#[test]
fn one_message_a_minute_is_honoured_and_those_between_are_ignored() {
    let start = Instant::now();
    let mut pex = Pex::new(start);
    assert_eq!(pex.arrived(start), Ok(true));
    assert_eq!(pex.arrived(start + Duration::from_secs(10)), Ok(false));
    assert_eq!(pex.arrived(start + HONOUR_EVERY), Ok(true));
    assert_eq!(pex.arrived(start + HONOUR_EVERY * 2), Ok(true));
}

#[test]
fn a_fourth_message_within_a_minute_is_a_flood() {
    let start = Instant::now();
    let mut pex = Pex::new(start);
    for s in 0..FLOOD_LIMIT as u64 {
        assert!(pex.arrived(start + Duration::from_secs(s)).is_ok());
    }
    assert_eq!(
        pex.arrived(start + Duration::from_secs(59)),
        Err("sent 4 PEX messages within 60 s (limit 3)".to_string())
    );
}

#[test]
fn messages_a_minute_apart_are_never_a_flood() {
    let start = Instant::now();
    let mut pex = Pex::new(start);
    for minute in 0..10 {
        assert_eq!(pex.arrived(start + FLOOD_WINDOW * minute), Ok(true));
    }
    // Three in the last minute, the fourth a minute after the first of them: no flood.
    let mut pex = Pex::new(start);
    for s in [0, 20, 40, 60] {
        assert!(pex.arrived(start + Duration::from_secs(s)).is_ok(), "{s}");
    }
}

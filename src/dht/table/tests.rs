use super::*;
use std::net::Ipv4Addr;

fn addr(n: u32) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::from(0x7f00_0000 + n), 6881)
}

/// An id that shares exactly `prefix` leading bits with `own` (its other bits from `n`).
fn at(own: &Id, prefix: usize, n: u8) -> Id {
    let mut id = *own;
    id.0[19] ^= n; // differ somewhere late...
    let byte = prefix / 8;
    id.0[byte] ^= 0x80 >> (prefix % 8); // ...and first at bit `prefix`
    id
}

#[test]
fn distances_and_prefixes() {
    let a = Id([0; 20]);
    let mut b = Id([0; 20]);
    b.0[0] = 0b0001_0000;
    assert_eq!(a.common_prefix(&b), 3);
    assert_eq!(a.common_prefix(&a), 160);
    assert!(a.distance(&b) > a.distance(&a));
    let mut rng = crate::random::Rng::with_seed(5);
    for prefix in [0, 7, 8, 100, 159] {
        assert_eq!(a.random_at(prefix, &mut rng).common_prefix(&a), prefix);
    }
}

#[test]
fn the_bucket_holding_our_id_splits_and_far_buckets_fill_up() {
    let own = Id([0x55; 20]);
    let now = Instant::now();
    let mut table = Table::new(own);
    // Sixteen nodes across the far half: one bucket of K after the split, the rest refused
    // only once its nodes are good (they are: they answered).
    for n in 0..16 {
        table.answered(at(&own, 0, n), addr(u32::from(n)), now);
    }
    assert_eq!(table.len(), K, "the far half is one bucket of K");
    // Nodes close to us still fit: their bucket splits off.
    for n in 0..K as u8 {
        let kept = table.answered(at(&own, 20, n), addr(100 + u32::from(n)), now);
        assert_eq!(kept, Inserted::Kept);
    }
    assert_eq!(table.len(), 2 * K);
    let closest = table.closest(&own, 3);
    assert!(
        closest.iter().all(|(id, _)| own.common_prefix(id) == 20),
        "{closest:?}"
    );
}

#[test]
fn a_full_bucket_pings_a_questionable_node_and_replaces_it_if_it_fails() {
    let own = Id([0; 20]);
    let start = Instant::now();
    let mut table = Table::new(own);
    // Fill the far bucket (split off once the near ones are there) with nodes that only
    // queried us: questionable.
    for n in 0..K as u8 {
        table.answered(at(&own, 30, n), addr(50 + u32::from(n)), start);
    }
    for n in 0..K as u8 {
        table.queried(at(&own, 0, n), addr(u32::from(n)), start);
    }
    let newcomer = at(&own, 0, 99);
    let Inserted::PingFirst(old, _) = table.answered(newcomer, addr(99), start) else {
        panic!("expected a ping first");
    };
    assert_eq!(
        table.answered(at(&own, 0, 98), addr(98), start),
        Inserted::Refused
    );
    table.failed(old, start);
    let all: Vec<Id> = table.all().into_iter().map(|(id, _)| id).collect();
    assert!(all.contains(&newcomer) && !all.contains(&old));
}

#[test]
fn a_node_that_fails_twice_is_dropped_and_a_good_bucket_refuses_newcomers() {
    let own = Id([0; 20]);
    let now = Instant::now();
    let mut table = Table::new(own);
    for n in 0..K as u8 {
        table.answered(at(&own, 30, n), addr(50 + u32::from(n)), now);
        table.answered(at(&own, 0, n), addr(u32::from(n)), now);
    }
    assert_eq!(
        table.answered(at(&own, 0, 77), addr(77), now),
        Inserted::Refused
    );
    let victim = at(&own, 0, 3);
    table.failed(victim, now);
    table.failed(victim, now);
    assert!(!table.all().iter().any(|(id, _)| *id == victim));
    assert_eq!(
        table.answered(at(&own, 0, 77), addr(77), now),
        Inserted::Kept
    );
    assert_eq!(
        table.answered(own, addr(1), now),
        Inserted::Refused,
        "never ourselves"
    );
}

#[test]
fn goodness_fades_after_15_minutes() {
    let own = Id([0; 20]);
    let now = Instant::now();
    let mut table = Table::new(own);
    table.answered(at(&own, 3, 1), addr(1), now);
    assert_eq!(table.good(now), 1);
    assert_eq!(table.good(now + GOOD_FOR), 0);
    assert!(table.questionable(now + GOOD_FOR).is_some());
}

#[test]
fn another_address_claiming_a_known_id_does_not_move_the_node() {
    let own = Id([0x55; 20]);
    let now = Instant::now();
    let mut table = Table::new(own);
    let id = at(&own, 3, 1);
    assert_eq!(table.answered(id, addr(1), now), Inserted::Kept);
    assert_eq!(table.queried(id, addr(2), now), Inserted::Refused);
    assert_eq!(table.answered(id, addr(2), now), Inserted::Refused);
    assert_eq!(table.id_at(addr(1)), Some(id));
    assert_eq!(table.id_at(addr(2)), None);
    // Once the node at the old address has failed and left, the new address is taken.
    table.failed(id, now);
    table.failed(id, now);
    assert_eq!(table.answered(id, addr(2), now), Inserted::Kept);
    assert_eq!(table.id_at(addr(2)), Some(id));
}

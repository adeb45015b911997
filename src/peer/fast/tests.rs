//! BEP 6's allowed-fast set: the spec's own example, and what the set depends on.

use super::*;
use std::net::Ipv4Addr;

/// BEP 6's own example: a torrent of 1313 pieces, info-hash `aa` × 20, peer 80.4.4.200.
#[test]
fn the_allowed_fast_set_matches_bep_6s_example() {
    let ip = IpAddr::V4(Ipv4Addr::new(80, 4, 4, 200));
    let seven = allowed_fast_set(ip, &[0xaa; 20], 1313, 7);
    assert_eq!(seven, [1059, 431, 808, 1217, 287, 376, 1188]);
    let nine = allowed_fast_set(ip, &[0xaa; 20], 1313, 9);
    assert_eq!(nine, [1059, 431, 808, 1217, 287, 376, 1188, 353, 508]);
}

#[test]
fn the_set_depends_on_the_network_not_the_host() {
    let set = |ip: [u8; 4]| allowed_fast_set(IpAddr::from(ip), &[7; 20], 1000, 10);
    assert_eq!(set([10, 1, 2, 3]), set([10, 1, 2, 250]));
    assert_ne!(set([10, 1, 2, 3]), set([10, 1, 3, 3]));
    assert_eq!(set([10, 1, 2, 3]).len(), 10);
    let mapped: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
    assert_eq!(
        allowed_fast_set(mapped, &[7; 20], 1000, 10),
        set([10, 1, 2, 3])
    );
}

#[test]
fn a_small_torrent_allows_every_piece_and_ipv6_none() {
    let ip = IpAddr::from([127, 0, 0, 2]);
    let mut set = allowed_fast_set(ip, &[7; 20], 4, 10);
    set.sort_unstable();
    assert_eq!(set, [0, 1, 2, 3]);
    assert!(allowed_fast_set(ip, &[7; 20], 0, 10).is_empty());
    let v6: IpAddr = "::1".parse().unwrap();
    assert!(allowed_fast_set(v6, &[7; 20], 1000, 10).is_empty());
}

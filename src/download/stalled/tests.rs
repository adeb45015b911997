use super::*;
use crate::progress::{Snapshot, render_stalled};
use crate::terminal::width_of;

fn facts<'a>(
    peers: u64,
    unchoking_us: u64,
    unavailable: &'a [u32],
    sources: &'a Sources,
) -> Facts<'a> {
    Facts {
        peers,
        unchoking_us,
        unavailable,
        sources,
    }
}

fn dead_trackers() -> Sources {
    Sources {
        trackers: vec![
            (
                "udp://10.0.0.1:6969/announce".to_string(),
                TrackerOutcome::Failed(
                    "tracker udp://10.0.0.1:6969/announce is unreachable: timed out".to_string(),
                ),
            ),
            (
                "http://10.0.0.2/announce".to_string(),
                TrackerOutcome::Failed(
                    "tracker http://10.0.0.2/announce answered HTTP 404".to_string(),
                ),
            ),
        ],
        dht_nodes: None,
    }
}

#[test]
fn pieces_nobody_has_are_named() {
    let none = Sources::default();
    let stall = Stall::of(&facts(2, 1, &[12, 40, 41], &none));
    assert_eq!(
        stall.to_string(),
        "3 pieces (12, 40, 41) held by no connected peer"
    );
    let one = Stall::of(&facts(1, 0, &[7], &none));
    assert_eq!(one.to_string(), "1 piece (7) held by no connected peer");
    let many: Vec<u32> = (0..20).collect();
    let stall = Stall::of(&facts(1, 1, &many, &none));
    assert_eq!(
        stall.to_string(),
        "20 pieces (0, 1, 2, 3, 4, 5, 6, 7, …) held by no connected peer"
    );
    let variants = stall.variants();
    assert_eq!(variants[7], "20 pieces (0, …) held by no connected peer");
    assert_eq!(variants[8], "20 pieces held by no connected peer");
    assert_eq!(
        variants.last().map(String::as_str),
        Some("20 pieces unavailable")
    );
}

#[test]
fn peers_that_choke_or_send_nothing() {
    let none = Sources::default();
    assert_eq!(
        Stall::of(&facts(12, 0, &[], &none)).to_string(),
        "all 12 peers choke us"
    );
    assert_eq!(
        Stall::of(&facts(1, 0, &[], &none)).to_string(),
        "the only peer chokes us"
    );
    assert_eq!(
        Stall::of(&facts(5, 2, &[], &none)).to_string(),
        "2 peers unchoking us but no piece completes"
    );
}

#[test]
fn no_peer_names_what_the_trackers_and_the_dht_said() {
    let mut sources = dead_trackers();
    let stall = Stall::of(&facts(0, 0, &[3], &sources));
    assert_eq!(
        stall.to_string(),
        "no peer connected; trackers: udp://10.0.0.1:6969/announce is unreachable: timed out, \
         http://10.0.0.2/announce answered HTTP 404"
    );
    sources.dht_nodes = Some(0);
    sources.trackers[1].1 = TrackerOutcome::Listed(0);
    let stall = Stall::of(&facts(0, 0, &[], &sources));
    let variants = stall.variants();
    assert_eq!(
        variants[0],
        "no peer connected; trackers: udp://10.0.0.1:6969/announce is unreachable: timed out, \
         http://10.0.0.2/announce listed 0 peers; dht: 0 nodes answered"
    );
    assert_eq!(
        variants[1],
        "no peer connected; trackers: udp://10.0.0.1:6969/announce is unreachable: timed out, …; \
         dht: 0 nodes answered"
    );
    assert_eq!(variants[2], "no peer connected; dht: 0 nodes answered");
    assert_eq!(variants[3], "no peer connected");
    sources.dht_nodes = Some(40);
    sources.trackers.clear();
    assert_eq!(
        Stall::of(&facts(0, 0, &[], &sources)).to_string(),
        "no peer connected"
    );
}

#[test]
fn a_tracker_error_without_its_name_gets_it() {
    let sources = Sources {
        trackers: vec![(
            "http://a/announce".to_string(),
            TrackerOutcome::Failed("something odd".to_string()),
        )],
        dht_nodes: None,
    };
    assert_eq!(
        Stall::NoPeer(sources).to_string(),
        "no peer connected; trackers: http://a/announce: something odd"
    );
}

#[test]
fn metadata_from_nobody_says_where_peers_were_looked_for() {
    let sources = Sources {
        dht_nodes: Some(0),
        ..Sources::default()
    };
    let stall = Stall::Metadata {
        peers: 0,
        sources: sources.clone(),
    };
    assert_eq!(
        stall.to_string(),
        "fetching metadata from 0 peers; dht: 0 nodes answered"
    );
    let stall = Stall::Metadata { peers: 3, sources };
    assert_eq!(stall.to_string(), "fetching metadata from 3 peers");
}

#[test]
fn the_clause_is_fitted_to_every_width() {
    let s = Snapshot {
        verified_bytes: 25 << 20,
        total_bytes: 100 << 20,
        peers: 12,
        unchoking_us: 0,
        dht_nodes: Some(0),
        ..Snapshot::default()
    };
    let many: Vec<u32> = (100..140).collect();
    let sources = dead_trackers();
    let stalls = [
        Stall::Unavailable(many),
        Stall::AllChoke(12),
        Stall::NoPeer(sources),
    ];
    for stall in &stalls {
        let variants = stall.variants();
        let wide = render_stalled(&s, 0.0, 0.0, &variants, usize::MAX);
        assert!(
            wide.ends_with(&format!("  stalled: {}", variants[0])),
            "{wide}"
        );
        for width in 20..=200 {
            let line = render_stalled(&s, 0.0, 0.0, &variants, width);
            assert!(width_of(&line) <= width, "{width}: {line}");
            assert!(line.starts_with(" 25.0%"), "{width}: {line}");
        }
    }
    let unavailable = stalls[0].variants();
    let line = |width| render_stalled(&s, 0.0, 0.0, &unavailable, width);
    assert_eq!(
        line(120),
        " 25.0% of 100.0 MiB  down 0 B/s  up 0 B/s  peers 0/12  ETA --:--  stalled: 40 pieces \
         (100, …) held by no connected peer"
    );
    assert_eq!(
        line(80),
        " 25.0%  peers 0/12  ETA --:--  stalled: 40 pieces held by no connected peer"
    );
    assert_eq!(line(45), " 25.0%  stalled: 40 pieces unavailable");
    assert_eq!(line(36), " 25.0%");
}

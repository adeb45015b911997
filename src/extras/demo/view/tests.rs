//! Tests of the demo's live view and final report: every line fits, abbreviations keep what matters.

use super::*;

#[test]
fn the_bar_shades_runs_of_pieces() {
    let mut pieces = Bitfield::new(8);
    assert_eq!(bar(&pieces, 4), "    ");
    pieces.set(0);
    pieces.set(1);
    pieces.set(2);
    assert_eq!(bar(&pieces, 4), "█▒  ");
    // More cells than pieces: each piece gets at least one cell.
    assert_eq!(bar(&Bitfield::new(2), 4).chars().count(), 4);
}

/// A running peer at 45%, downloading from `from`.
fn running(name: &str, from: &[&str]) -> PeerLine {
    let mut pieces = Bitfield::new(20);
    for piece in 0..9 {
        pieces.set(piece);
    }
    PeerLine {
        name: name.into(),
        ip: "127.0.0.3".into(),
        pieces: Some(pieces),
        down_rate: 3.0 * 1048576.0,
        up_rate: 1.2 * 1048576.0,
        from: from.iter().map(|name| name.to_string()).collect(),
        joins_in: None,
    }
}

/// Every kind of line: sources none to many, waiting, the longest name.
fn every_kind() -> Vec<PeerLine> {
    let many: Vec<String> = (2..=20).map(|n| format!("leecher {n}")).collect();
    let many: Vec<&str> = ["seeder"]
        .into_iter()
        .chain(many.iter().map(String::as_str))
        .collect();
    let waiting = PeerLine {
        joins_in: Some(Duration::from_secs(38)),
        pieces: None,
        ..running("leecher 20", &[])
    };
    let widest_rates = PeerLine {
        down_rate: 1023.9 * 1048576.0,
        up_rate: 1023.9 * 1048576.0,
        ..running("leecher 2", &["seeder"])
    };
    vec![
        running("seeder", &[]),
        widest_rates,
        running("leecher 1", &["seeder", "leecher 2", "leecher 3"]),
        running("leecher 20", &many),
        waiting,
        PeerLine {
            joins_in: None,
            ..PeerLine::default()
        },
    ]
}

#[test]
fn no_line_is_wider_than_the_terminal() {
    let facts = ["demo: 64.0 MiB payload in 256 pieces", "work folder /tmp/x"].map(String::from);
    for width in 20..=200 {
        for line in live_view(&facts, &every_kind(), width, 30) {
            assert!(width_of(&line) <= width, "{width}: {line:?}");
        }
    }
}

/// A peer's line alone, at `width`.
fn one(line: &PeerLine, width: usize) -> String {
    live_view(&[], std::slice::from_ref(line), width, 10).remove(0)
}

#[test]
fn a_narrower_line_keeps_the_most_important_fields() {
    let line = running("leecher 1", &["seeder", "leecher 2", "leecher 3"]);
    // 120 columns: everything, sources named in full.
    let wide = one(&line, 119);
    assert!(wide.starts_with("leecher 1  127.0.0.3  |"), "{wide}");
    assert!(
        wide.contains(" 45%  ↓   3.0 MiB/s  ↑   1.2 MiB/s"),
        "{wide}"
    );
    assert!(
        wide.ends_with("from: seeder, leecher 2, leecher 3"),
        "{wide}"
    );
    // 80 columns: no address, short names, a narrower bar.
    let normal = one(&line, 79);
    assert!(normal.starts_with("leecher 1  |"), "{normal}");
    assert!(normal.contains(" 45%  ↓   3.0 MiB/s  ↑ "), "{normal}");
    assert!(normal.ends_with("from: seeder, l2, l3"), "{normal}");
    // Narrower: the upload rate goes before the sources, then their names.
    let narrow = one(&line, 66);
    assert!(narrow.contains("↓") && !narrow.contains("↑"), "{narrow}");
    assert!(narrow.ends_with("from: seeder, l2, l3"), "{narrow}");
    let narrower = one(&line, 55);
    assert!(narrower.ends_with("from: 3"), "{narrower}");
    let no_sources = one(&line, 44);
    assert!(
        no_sources.ends_with("|  45%  ↓   3.0 MiB/s"),
        "{no_sources}"
    );
    // Narrowest: name and percent, then the name cut.
    assert_eq!(one(&line, 20), "leecher 1   45%");
    assert_eq!(one(&line, 12), "leecher 1   ");
}

#[test]
fn every_line_of_a_frame_has_the_same_columns() {
    let peers = every_kind();
    for width in [40, 79, 119, 199] {
        let view = live_view(&[], &peers[..3], width, 30);
        let bar_end: Vec<Option<usize>> = view
            .iter()
            .map(|line| {
                line.char_indices()
                    .filter(|(_, c)| *c == '|')
                    .nth(1)
                    .map(|(i, _)| i)
            })
            .collect();
        assert!(bar_end.windows(2).all(|w| w[0] == w[1]), "{view:#?}");
    }
}

#[test]
fn sources_are_named_as_fully_as_they_fit() {
    let names = ["seeder", "leecher 2", "leecher 3", "leecher 4"].map(String::from);
    let from = |room| sources(&names, room);
    assert_eq!(from(100), "  from: seeder, leecher 2, leecher 3, leecher 4");
    assert_eq!(from(40), "  from: seeder, l2, l3, l4");
    assert_eq!(from(25), "  from: seeder +3 more");
    assert_eq!(from(10), "  from: 4");
    assert_eq!(from(5), "");
    assert_eq!(sources(&[], 9), "  from: -");
}

#[test]
fn a_waiting_peer_drops_its_address_first() {
    let mut line = running("leecher 1", &[]);
    line.pieces = None;
    line.joins_in = Some(Duration::from_millis(1500));
    assert_eq!(one(&line, 79), "leecher 1  127.0.0.3  joins in 2 s");
    assert_eq!(one(&line, 30), "leecher 1  joins in 2 s");
}

#[test]
fn a_short_terminal_shows_the_first_peers_and_counts_the_rest() {
    let facts = ["demo: 8.0 MiB payload", "tracker 127.0.0.1:1"].map(String::from);
    let peers: Vec<PeerLine> = (1..=20)
        .map(|n| running(&format!("leecher {n}"), &[]))
        .collect();
    // Room for every line.
    let view = live_view(&facts, &peers[..3], 79, 10);
    assert_eq!(view.len(), 4);
    assert_eq!(view[0], "demo: 8.0 MiB payload; tracker 127.0.0.1:1");
    // No room for the header.
    let view = live_view(&facts, &peers[..10], 79, 10);
    assert!(view[0].starts_with("leecher 1 ") && view[9].starts_with("leecher 10 "));
    // Not even for every peer.
    let view = live_view(&facts, &peers, 79, 10);
    assert_eq!(view.len(), 10);
    assert!(view[0].starts_with("leecher 1 "));
    assert!(view[8].starts_with("leecher 9 "));
    assert_eq!(view[9], "... 11 more");
    assert_eq!(live_view(&facts, &peers, 79, 1), ["... 20 more"]);
}

#[test]
fn header_facts_move_to_more_lines_when_narrow() {
    let facts = ["demo: 8.0 MiB", "seeder at 2 MiB/s", "tracker 127.0.0.1:80"].map(String::from);
    assert_eq!(
        pack(&facts, 79),
        ["demo: 8.0 MiB; seeder at 2 MiB/s; tracker 127.0.0.1:80"]
    );
    assert_eq!(
        pack(&facts, 40),
        ["demo: 8.0 MiB; seeder at 2 MiB/s", "tracker 127.0.0.1:80"]
    );
    assert_eq!(pack(&facts, 10), ["demo: 8.0 ", "seeder at ", "tracker 12"]);
}

#[test]
fn the_report_counts_what_leechers_sent_each_other() {
    let row = |name: &str, complete, downloaded, uploaded| Row {
        name: name.into(),
        seeder: name == "seeder",
        ip: "127.0.0.2".into(),
        complete,
        downloaded,
        uploaded,
    };
    let rows = [
        row("seeder", true, 0, 150),
        row("leecher 1", true, 100, 40),
        row("leecher 2", true, 100, 10),
    ];
    let sent = vec![vec![0, 60, 90], vec![0, 0, 40], vec![0, 10, 0]];
    let report = final_report(&rows, &sent, 100, Duration::from_secs(2));
    assert!(report.contains("2 of 2 leechers complete"), "{report}");
    assert!(report.contains("leechers' upload: 50 bytes"), "{report}");
    assert!(report.contains("1.50 × the payload"), "{report}");
    assert!(report.lines().all(|line| width_of(line) < 80), "{report}");
}

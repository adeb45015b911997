//! Drawing the demo swarm (main thread): one line per peer while it runs, the tables at
//! the end. The formatting is pure; [`Screen::draw`] is the only part that writes.

use crate::bitfield::Bitfield;
use crate::progress::{format_bytes, format_rate};
use std::fmt::Write as _;
use std::io::Write;
use std::time::Duration;

/// Characters of the piece bar.
const BAR_WIDTH: usize = 32;
/// Sources named on a peer's line; more are counted ("+2").
const MAX_SOURCES: usize = 3;
/// How often plain (non-terminal) output prints the swarm.
const PLAIN_EVERY: Duration = Duration::from_secs(1);

/// What one peer's line shows.
#[derive(Debug, Clone, Default)]
pub struct PeerLine {
    pub name: String,
    pub ip: String,
    /// Verified pieces; `None` before the peer has started.
    pub pieces: Option<Bitfield>,
    pub down_rate: f64,
    pub up_rate: f64,
    /// Names of the peers it received blocks from since the last line.
    pub from: Vec<String>,
    /// For a peer still to join (`--growth`): in how long.
    pub joins_in: Option<Duration>,
}

/// The piece bar: each character stands for a run of pieces, shaded by how many of them
/// are verified (` ░▒▓█`).
pub fn bar(pieces: &Bitfield, width: usize) -> String {
    const SHADES: [char; 5] = [' ', '░', '▒', '▓', '█'];
    let count = pieces.len() as usize;
    (0..width)
        .map(|cell| {
            let start = cell * count / width;
            let end = ((cell + 1) * count / width).max(start + 1).min(count);
            let have = (start..end).filter(|p| pieces.has(*p as u32)).count();
            let total = end.saturating_sub(start).max(1);
            SHADES[(have * 4).div_ceil(total).min(4)]
        })
        .collect()
}

/// One line of the live view.
pub fn render_line(line: &PeerLine) -> String {
    let head = format!("{:<10} {:<10}", line.name, line.ip);
    let Some(pieces) = &line.pieces else {
        return match line.joins_in {
            Some(wait) => format!("{head} joins in {:.0} s", wait.as_secs_f64().ceil()),
            None => format!("{head} starting"),
        };
    };
    let percent = pieces.count() as f64 * 100.0 / f64::from(pieces.len().max(1));
    // At most a few names, so a line fits a terminal (a wrapped line breaks the redraw).
    let from = match line.from.len() {
        0 => "-".to_string(),
        n if n <= MAX_SOURCES => line.from.join(", "),
        n => format!(
            "{} +{}",
            line.from[..MAX_SOURCES].join(", "),
            n - MAX_SOURCES
        ),
    };
    format!(
        "{head} |{}| {percent:>3.0}%  ↓ {:>11} ↑ {:>11}  from: {from}",
        bar(pieces, BAR_WIDTH),
        format_rate(line.down_rate),
        format_rate(line.up_rate),
    )
}

/// Draws the live view on stderr: in place on a terminal, else a block of plain lines
/// every [`PLAIN_EVERY`].
#[derive(Debug)]
pub struct Screen {
    terminal: bool,
    /// Lines drawn last time (to move back over them).
    drawn: usize,
    since_plain: Option<Duration>,
}

impl Screen {
    pub fn new(terminal: bool) -> Screen {
        Screen {
            terminal,
            drawn: 0,
            since_plain: None,
        }
    }

    /// Draws the swarm as it is `elapsed` after the start; `last` forces a plain draw.
    pub fn draw(&mut self, elapsed: Duration, lines: &[PeerLine], last: bool) {
        let mut text = String::new();
        if self.terminal {
            if self.drawn > 0 {
                let _ = write!(text, "\x1b[{}A", self.drawn);
            }
            for line in lines {
                let _ = writeln!(text, "\r\x1b[2K{}", render_line(line));
            }
            self.drawn = lines.len();
        } else {
            let due = self
                .since_plain
                .is_none_or(|at| elapsed.saturating_sub(at) >= PLAIN_EVERY);
            if !due && !last {
                return;
            }
            self.since_plain = Some(elapsed);
            let _ = writeln!(text, "-- {:.1} s", elapsed.as_secs_f64());
            for line in lines {
                let _ = writeln!(text, "{}", render_line(line));
            }
        }
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}

/// One peer's figures for the final table.
#[derive(Debug, Clone)]
pub struct Row {
    pub name: String,
    pub seeder: bool,
    pub ip: String,
    pub complete: bool,
    pub downloaded: u64,
    pub uploaded: u64,
}

/// The final tables: bytes per peer, then who sent how much to whom (`sent[i][j]`: bytes
/// peer `i` sent to peer `j`), then the two lines the demo is about.
pub fn final_report(rows: &[Row], sent: &[Vec<u64>], payload: u64, elapsed: Duration) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{:<10} {:<10} {:>9} {:>12} {:>12}",
        "peer", "address", "complete", "downloaded", "uploaded"
    );
    for row in rows {
        let ratio = if row.seeder {
            format!(
                "  ({:.2} × the payload)",
                row.uploaded as f64 / payload.max(1) as f64
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "{:<10} {:<10} {:>9} {:>12} {:>12}{ratio}",
            row.name,
            row.ip,
            if row.complete { "yes" } else { "NO" },
            format_bytes(row.downloaded),
            format_bytes(row.uploaded),
        );
    }
    let _ = writeln!(out, "\nwho sent what to whom (rows send, columns receive):");
    let _ = write!(out, "{:<10}", "");
    for row in rows {
        let _ = write!(out, " {:>10}", row.name);
    }
    out.push('\n');
    for (i, row) in rows.iter().enumerate() {
        let _ = write!(out, "{:<10}", row.name);
        for (j, _) in rows.iter().enumerate() {
            let cell = match sent.get(i).and_then(|r| r.get(j)) {
                _ if i == j => "-".to_string(),
                Some(bytes) => format_bytes(*bytes),
                None => "?".to_string(),
            };
            let _ = write!(out, " {cell:>10}");
        }
        out.push('\n');
    }
    let leechers = rows.iter().filter(|row| !row.seeder);
    let (count, done) = leechers.fold((0, 0), |(n, d), row| (n + 1, d + row.complete as usize));
    let is_leecher = |i: usize| rows.get(i).is_some_and(|row| !row.seeder);
    let among: u64 = (0..rows.len())
        .filter(|i| is_leecher(*i))
        .flat_map(|i| {
            (0..rows.len())
                .filter(|j| is_leecher(*j))
                .map(move |j| (i, j))
        })
        .map(|(i, j)| sent.get(i).and_then(|r| r.get(j)).copied().unwrap_or(0))
        .sum();
    let _ = writeln!(
        out,
        "\n{done} of {count} leechers complete in {:.1} s",
        elapsed.as_secs_f64()
    );
    let seeder_up = rows.iter().find(|r| r.seeder).map_or(0, |r| r.uploaded);
    let _ = writeln!(
        out,
        "leechers' upload: {among} bytes ({}) served to each other; the seeder uploaded \
         {:.2} × the payload",
        format_bytes(among),
        seeder_up as f64 / payload.max(1) as f64
    );
    out
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn a_line_names_a_few_sources_and_counts_the_rest() {
        let mut line = PeerLine {
            name: "leecher 1".into(),
            ip: "127.0.0.3".into(),
            pieces: Some(Bitfield::new(8)),
            ..PeerLine::default()
        };
        assert!(render_line(&line).ends_with("from: -"));
        line.from = ["seeder", "leecher 2", "leecher 3", "leecher 4", "leecher 5"]
            .map(String::from)
            .to_vec();
        let text = render_line(&line);
        assert!(
            text.ends_with("from: seeder, leecher 2, leecher 3 +2"),
            "{text}"
        );
        line.pieces = None;
        line.joins_in = Some(Duration::from_millis(1500));
        assert_eq!(render_line(&line), "leecher 1  127.0.0.3  joins in 2 s");
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
    }
}

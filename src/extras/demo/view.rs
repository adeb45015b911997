//! Drawing the demo swarm (main thread): one line per peer while it runs, the tables at
//! the end. The formatting is pure; [`Screen::draw`] is the only part that writes.
//!
//! The live view is redrawn in place four times a second, so none of its lines may wrap
//! (see [`crate::terminal`]): [`live_view`] fits every line to the terminal's width, and
//! the view to its height. A peer's line gives up its least important parts first
//! (`SHAPES`); the header's facts move to more lines ([`pack`]).

use crate::bitfield::Bitfield;
use crate::progress::{format_bytes, format_rate};
use crate::terminal::{self, Block, fit, width_of};
use std::fmt::Write as _;
use std::io::Write;
use std::time::Duration;

/// Most characters of the piece bar.
const BAR_WIDTH: usize = 32;
/// How often plain (non-terminal) output prints the swarm.
const PLAIN_EVERY: Duration = Duration::from_secs(1);
/// The width plain output is formatted for: no limit in practice (a log file).
const PLAIN_WIDTH: usize = 1000;

/// What one peer's line shows.
#[derive(Debug, Clone, Default)]
pub struct PeerLine {
    pub name: String,
    pub ip: String,
    /// Verified pieces; `None` before the peer has started.
    pub pieces: Option<Bitfield>,
    pub down_rate: f64,
    pub up_rate: f64,
    /// Names of the peers it received blocks from since the last line (the seeder first).
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

/// The live view for a terminal `width` characters wide and `rows` high: the header's
/// facts, then one line per peer. With fewer rows than that, the header gives up its
/// last lines first; then the first peers that fit are shown, and `... N more`.
pub fn live_view(facts: &[String], peers: &[PeerLine], width: usize, rows: usize) -> Vec<String> {
    let rows = rows.max(1);
    let mut view = pack(facts, width);
    view.truncate(rows.saturating_sub(peers.len()));
    let shown = if peers.len() <= rows {
        peers.len()
    } else {
        rows - 1
    };
    let name_width = peers
        .iter()
        .map(|p| width_of(&p.name))
        .fold(NAME_WIDTH, usize::max);
    let layout = Layout::for_width(width, name_width);
    view.extend(
        peers[..shown]
            .iter()
            .map(|peer| render_line(peer, &layout, width)),
    );
    if shown < peers.len() {
        view.push(fit(&format!("... {} more", peers.len() - shown), width));
    }
    view
}

/// Facts joined by `; ` into as few lines of `width` as they go; a fact too long for a
/// line on its own is cut.
pub fn pack(facts: &[String], width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for fact in facts {
        let fact = fit(fact, width);
        match lines.last_mut() {
            Some(line) if width_of(line) + 2 + width_of(&fact) <= width => {
                line.push_str("; ");
                line.push_str(&fact);
            }
            _ => lines.push(fact),
        }
    }
    lines
}

/// Columns for a peer's name (`leecher 20`) and address (`127.0.0.22`).
const NAME_WIDTH: usize = 10;
const IP_WIDTH: usize = 10;
/// The widest rate (`1023.9 MiB/s`); rates are padded to [`RATE_PAD`] (`999.9 KiB/s`).
const RATE_WIDTH: usize = 12;
const RATE_PAD: usize = 11;

/// The fields a running peer's line shows, its narrowest bar (0: none) and the room kept
/// for its sources (0: none).
#[derive(Debug, Clone, Copy)]
struct Shape {
    ip: bool,
    bar: usize,
    down: bool,
    up: bool,
    sources: usize,
}

/// The shapes of the running peers' lines, richest first; the first that fits the width
/// is drawn. Each gives up the least important thing left: room for the sources' full
/// names (then `from: seeder, l2, l3`), the address (the same every run), bar width, the
/// upload rate, the sources' names (then `from: 3`), the sources, the bar, the download
/// rate. Name and percent stay.
#[rustfmt::skip]
const SHAPES: [Shape; 9] = [
    Shape { ip: true,  bar: 16, down: true,  up: true,  sources: 36 }, // 120 columns
    Shape { ip: true,  bar: 12, down: true,  up: true,  sources: 22 },
    Shape { ip: false, bar: 12, down: true,  up: true,  sources: 22 },
    Shape { ip: false, bar: 8,  down: true,  up: true,  sources: 20 }, // 80 columns
    Shape { ip: false, bar: 8,  down: true,  up: false, sources: 22 },
    Shape { ip: false, bar: 6,  down: true,  up: false, sources: 9 },
    Shape { ip: false, bar: 4,  down: true,  up: false, sources: 0 },
    Shape { ip: false, bar: 0,  down: true,  up: false, sources: 0 },
    Shape { ip: false, bar: 0,  down: false, up: false, sources: 0 },
];

impl Shape {
    /// Characters of everything but the bar's cells and the sources, at the widest rates.
    fn fixed_width(&self, name_width: usize) -> usize {
        let field = |shown: bool, width: usize| if shown { width } else { 0 };
        name_width
            + 1
            + field(self.ip, IP_WIDTH + 1)
            + field(self.bar > 0, "|| ".len())
            + "100%".len()
            + field(self.down, "  ↓ ".chars().count() + RATE_WIDTH)
            + field(self.up, "  ↑ ".chars().count() + RATE_WIDTH)
    }
}

/// How a frame's running lines are laid out: one shape and one bar width for all, so
/// their columns line up, chosen from the width alone, so they do not jump about as
/// rates and sources change. What a line leaves over goes to its sources.
#[derive(Debug, Clone, Copy)]
struct Layout {
    shape: Shape,
    bar: usize,
    name_width: usize,
}

impl Layout {
    fn for_width(width: usize, name_width: usize) -> Layout {
        let fits =
            |shape: &&Shape| shape.fixed_width(name_width) + shape.bar + shape.sources <= width;
        let shape = *SHAPES
            .iter()
            .find(fits)
            .unwrap_or(&SHAPES[SHAPES.len() - 1]);
        let spare = width.saturating_sub(shape.fixed_width(name_width) + shape.sources);
        let bar = match shape.bar {
            0 => 0,
            narrowest => spare.clamp(narrowest, BAR_WIDTH),
        };
        Layout {
            shape,
            bar,
            name_width,
        }
    }
}

/// One peer's line in `layout`, at most `width` characters.
fn render_line(line: &PeerLine, layout: &Layout, width: usize) -> String {
    let text = match &line.pieces {
        Some(pieces) => running_line(line, pieces, layout, width),
        None => waiting_line(line, layout.name_width, width),
    };
    // Only a name or an address wider than planned is cut here.
    fit(&text, width)
}

/// A peer not started yet: `leecher 3  127.0.0.5  joins in 2 s`, without the address if
/// it does not fit.
fn waiting_line(line: &PeerLine, name_width: usize, width: usize) -> String {
    let status = match line.joins_in {
        Some(wait) => format!("joins in {:.0} s", wait.as_secs_f64().ceil()),
        None => "starting".to_string(),
    };
    let full = format!("{:<name_width$} {:<IP_WIDTH$} {status}", line.name, line.ip);
    if width_of(&full) <= width {
        return full;
    }
    format!("{:<name_width$} {status}", line.name)
}

/// `leecher 1  127.0.0.3  |██▓░    |  45%  ↓  3.1 MiB/s  ↑  1.2 MiB/s  from: seeder`,
/// with the fields of the layout's shape.
fn running_line(line: &PeerLine, pieces: &Bitfield, layout: &Layout, width: usize) -> String {
    let shape = &layout.shape;
    let mut text = format!("{:<1$} ", line.name, layout.name_width);
    if shape.ip {
        let _ = write!(text, "{:<IP_WIDTH$} ", line.ip);
    }
    if layout.bar > 0 {
        let _ = write!(text, "|{}| ", bar(pieces, layout.bar));
    }
    let percent = pieces.count() as f64 * 100.0 / f64::from(pieces.len().max(1));
    let _ = write!(text, "{percent:>3.0}%");
    if shape.down {
        let _ = write!(text, "  ↓ {:>RATE_PAD$}", format_rate(line.down_rate));
    }
    if shape.up {
        let _ = write!(text, "  ↑ {:>RATE_PAD$}", format_rate(line.up_rate));
    }
    if shape.sources > 0 {
        let room = width.saturating_sub(width_of(&text));
        text.push_str(&sources(&line.from, room));
    }
    text
}

/// `  from: ...` as fully as fits in `room` characters: every name in full (`seeder,
/// leecher 2`), else short names, as many as fit and the rest counted (`seeder, l2 +1
/// more`), else how many (`3`), else nothing.
fn sources(names: &[String], room: usize) -> String {
    let text = |list: &str| format!("  from: {list}");
    let fits = |text: &String| width_of(text) <= room;
    if names.is_empty() {
        return Some(text("-")).filter(fits).unwrap_or_default();
    }
    let short: Vec<String> = names.iter().map(|name| short_name(name)).collect();
    // In order (the seeder first): the first names are the ones kept.
    let some_short = (1..=short.len()).rev().map(|shown| {
        let mut list = short[..shown].join(", ");
        if shown < short.len() {
            let _ = write!(list, " +{} more", short.len() - shown);
        }
        text(&list)
    });
    std::iter::once(text(&names.join(", ")))
        .chain(some_short)
        .chain(std::iter::once(text(&names.len().to_string())))
        .find(fits)
        .unwrap_or_default()
}

/// `leecher 3` is `l3`; other names (`seeder`, an address) stay as they are.
fn short_name(name: &str) -> String {
    match name.strip_prefix("leecher ") {
        Some(number) => format!("l{number}"),
        None => name.to_string(),
    }
}

/// Draws the live view on stderr: in place on a terminal, else a block of plain lines
/// every [`PLAIN_EVERY`].
#[derive(Debug)]
pub struct Screen {
    terminal: bool,
    /// The header's facts (payload, tracker or DHT node, folder), drawn above the peers.
    facts: Vec<String>,
    /// What is on screen, to be replaced (terminal only).
    block: Block,
    since_plain: Option<Duration>,
}

impl Screen {
    /// A screen showing `facts` as its header, which it draws at once.
    pub fn open(terminal: bool, facts: Vec<String>) -> Screen {
        let mut screen = Screen {
            terminal,
            facts,
            block: Block::default(),
            since_plain: None,
        };
        if terminal {
            screen.draw_in_place(&[]);
        } else {
            eprintln!("{}", screen.facts.join("; "));
        }
        screen
    }

    /// Replaces the header's facts (the DHT node's counts change), for the next draw.
    pub fn set_facts(&mut self, facts: Vec<String>) {
        self.facts = facts;
    }

    /// Draws the swarm as it is `elapsed` after the start; `last` forces a plain draw.
    pub fn draw(&mut self, elapsed: Duration, lines: &[PeerLine], last: bool) {
        if self.terminal {
            self.draw_in_place(lines);
            return;
        }
        let due = self
            .since_plain
            .is_none_or(|at| elapsed.saturating_sub(at) >= PLAIN_EVERY);
        if !due && !last {
            return;
        }
        self.since_plain = Some(elapsed);
        let mut text = format!("-- {:.1} s\n", elapsed.as_secs_f64());
        for line in live_view(&[], lines, PLAIN_WIDTH, usize::MAX) {
            let _ = writeln!(text, "{line}");
        }
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }

    /// Replaces the view on screen, fitted to the terminal's size as it is now (asked
    /// each time, so a resize is followed). One row stays free for the cursor below.
    fn draw_in_place(&mut self, lines: &[PeerLine]) {
        let size = terminal::size();
        let rows = size.rows.saturating_sub(1);
        let view = live_view(&self.facts, lines, size.line_width(), rows);
        let text = self.block.redraw(&view, size);
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
    // Two lines, so that they fit 80 columns.
    let _ = writeln!(
        out,
        "leechers' upload: {among} bytes ({}) served to each other",
        format_bytes(among)
    );
    let _ = writeln!(
        out,
        "the seeder uploaded {:.2} × the payload",
        seeder_up as f64 / payload.max(1) as f64
    );
    out
}

#[cfg(test)]
mod tests;

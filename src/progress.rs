//! Progress display on stderr (main thread).
//!
//! On a terminal: one line redrawn in place, with percent, rates, peers and ETA. Otherwise
//! (a log file, a pipe): a plain line every [`PLAIN_INTERVAL`]. With `-q`: nothing. The
//! formatting helpers are pure and tested; [`Display::draw`] is the only part that writes.

use crate::terminal::{self, Line};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How often a plain (non-terminal) progress line is written.
pub const PLAIN_INTERVAL: Duration = Duration::from_secs(10);

/// Where progress goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Redraw one line in place.
    Terminal,
    /// Append a line now and then.
    Plain,
    /// Print nothing.
    Quiet,
}

impl Mode {
    /// `Terminal` if stderr is one, else `Plain`; `Quiet` if asked.
    pub fn detect(quiet: bool) -> Mode {
        if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Terminal
        } else {
            Mode::Plain
        }
    }
}

/// One sample of the download's state, taken by the main thread.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Snapshot {
    pub verified_bytes: u64,
    pub total_bytes: u64,
    pub downloaded: u64,
    pub uploaded: u64,
    pub peers: u64,
    pub unchoking_us: u64,
    /// Web seeds (BEP 19) fetching now.
    pub web_seeds: u64,
    /// Nodes in the DHT's routing table, when the DHT runs.
    pub dht_nodes: Option<u64>,
    /// `--max-download-rate`, when set (bytes per second).
    pub max_down: Option<u64>,
    /// `--max-upload-rate`, when set (bytes per second).
    pub max_up: Option<u64>,
}

/// Turns snapshots into rates and draws them.
#[derive(Debug)]
pub struct Display {
    mode: Mode,
    last: Option<(Instant, Snapshot)>,
    down_rate: f64,
    up_rate: f64,
    last_plain: Option<Instant>,
    /// The line redrawn in place (terminal only).
    line: Line,
}

impl Display {
    pub fn new(mode: Mode) -> Display {
        Display {
            mode,
            last: None,
            down_rate: 0.0,
            up_rate: 0.0,
            last_plain: None,
            line: Line::default(),
        }
    }

    /// Updates the rates from a new snapshot and draws it if it is time to, ending with
    /// `stalled: REASON` when there is one (given at several lengths, longest first).
    pub fn draw(&mut self, now: Instant, snapshot: Snapshot, stalled: &[String]) {
        if let Some((then, before)) = self.last {
            let seconds = now.duration_since(then).as_secs_f64();
            if seconds > 0.0 {
                let down = snapshot.downloaded.saturating_sub(before.downloaded) as f64 / seconds;
                let up = snapshot.uploaded.saturating_sub(before.uploaded) as f64 / seconds;
                // Exponential smoothing: steady numbers without hiding a stall for long.
                self.down_rate = 0.7 * self.down_rate + 0.3 * down;
                self.up_rate = 0.7 * self.up_rate + 0.3 * up;
            }
        }
        self.last = Some((now, snapshot));
        let mut stderr = std::io::stderr().lock();
        match self.mode {
            Mode::Quiet => {}
            Mode::Terminal => {
                // Asked at each draw (a system call every 250 ms) to follow a resize.
                let size = terminal::size();
                let width = size.line_width();
                let line = render_stalled(&snapshot, self.down_rate, self.up_rate, stalled, width);
                let _ = write!(stderr, "{}", self.line.redraw(&line, size));
                let _ = stderr.flush();
            }
            Mode::Plain => {
                if self
                    .last_plain
                    .is_none_or(|at| now.duration_since(at) >= PLAIN_INTERVAL)
                {
                    self.last_plain = Some(now);
                    let (down, up) = (self.down_rate, self.up_rate);
                    let line = render_stalled(&snapshot, down, up, stalled, usize::MAX);
                    let _ = writeln!(stderr, "{line}");
                }
            }
        }
    }

    /// Draws `text` as the progress line, for a state with no bytes to count yet (a magnet
    /// link's wait for the metadata): in place on a terminal, every
    /// [`PLAIN_INTERVAL`] otherwise; with a `stalled:` clause as in [`Display::draw`].
    pub fn status(&mut self, now: Instant, text: &str, stalled: &[String]) {
        let mut stderr = std::io::stderr().lock();
        match self.mode {
            Mode::Quiet => {}
            Mode::Terminal => {
                let size = terminal::size();
                let width = size.line_width();
                let line =
                    with_clause(text, stalled, width).unwrap_or_else(|| terminal::fit(text, width));
                let _ = write!(stderr, "{}", self.line.redraw(&line, size));
                let _ = stderr.flush();
            }
            Mode::Plain => {
                if self
                    .last_plain
                    .is_none_or(|at| now.duration_since(at) >= PLAIN_INTERVAL)
                {
                    self.last_plain = Some(now);
                    let line = with_clause(text, stalled, usize::MAX);
                    let _ = writeln!(stderr, "{}", line.as_deref().unwrap_or(text));
                }
            }
        }
    }

    /// Prints a message on its own line without mangling the progress line.
    pub fn note(&mut self, message: &str) {
        let mut stderr = std::io::stderr().lock();
        match self.mode {
            Mode::Quiet => {}
            Mode::Terminal => {
                let erase = self.line.erase(terminal::size());
                let _ = writeln!(stderr, "{erase}{message}");
            }
            Mode::Plain => {
                let _ = writeln!(stderr, "{message}");
            }
        }
    }

    /// Ends the progress line so the next message starts on a fresh line.
    pub fn finish(&mut self) {
        if self.mode == Mode::Terminal && self.line.is_drawn() {
            let _ = writeln!(std::io::stderr());
        }
        self.line.forget();
    }
}

/// `  peers 3/5`: the peers unchoking us of those connected, and `+ 1 web` when web seeds
/// are fetching too.
fn peers_field(s: &Snapshot) -> String {
    let mut field = format!("  peers {}/{}", s.unchoking_us, s.peers);
    if s.web_seeds > 0 {
        field.push_str(&format!(" + {} web", s.web_seeds));
    }
    field
}

/// The progress line for a snapshot and the current rates (bytes per second), at most
/// `width` characters: `25.0% of 100.0 MiB  down 1.0 MiB/s  up 0 B/s  peers 3/5  ETA 1:15
/// dht: 120 nodes`, with `(max 2.0 MiB/s)` after a rate that has a limit. When that is too
/// wide, the least important fields go first: the limits, the DHT, the upload rate, the
/// size, the peers, the download rate, the ETA; the percent stays.
pub fn render(s: &Snapshot, down_rate: f64, up_rate: f64, width: usize) -> String {
    render_stalled(s, down_rate, up_rate, &[], width)
}

/// [`render`] ending with `  stalled: REASON`, the longest of `stalled` (a reason at
/// several lengths, longest first) that fits: shortened first, then the fields go, then it
/// takes its tersest form, and it goes last, before the percent.
pub fn render_stalled(
    s: &Snapshot,
    down_rate: f64,
    up_rate: f64,
    stalled: &[String],
    width: usize,
) -> String {
    let percent = if s.total_bytes == 0 {
        100.0
    } else {
        s.verified_bytes as f64 * 100.0 / s.total_bytes as f64
    };
    let left = s.total_bytes.saturating_sub(s.verified_bytes);
    let eta = if left == 0 {
        "done".to_string()
    } else if down_rate < 1.0 {
        "--:--".to_string()
    } else {
        format_duration(Duration::from_secs_f64(left as f64 / down_rate))
    };
    let limit = |max: Option<u64>| {
        max.map_or(String::new(), |m| {
            format!(" (max {})", format_rate(m as f64))
        })
    };
    // In the order shown, each with its rank (the highest goes first) and its separator.
    let fields = [
        (0, format!("{percent:5.1}%")),
        (4, format!(" of {}", format_bytes(s.total_bytes))),
        (3, format!("  down {}", format_rate(down_rate))),
        (7, limit(s.max_down)),
        (5, format!("  up {}", format_rate(up_rate))),
        (8, limit(s.max_up)),
        (2, peers_field(s)),
        (1, format!("  ETA {eta}")),
        (
            6,
            s.dht_nodes
                .map_or(String::new(), |n| format!("  dht: {n} nodes")),
        ),
    ];
    let up_to = |most: usize| -> String {
        let kept = fields.iter().filter(|(rank, _)| *rank <= most);
        kept.map(|(_, text)| text.as_str()).collect()
    };
    if stalled.is_empty() {
        let line = (0..=8)
            .rev()
            .map(up_to)
            .find(|l| terminal::width_of(l) <= width);
        return line.unwrap_or_else(|| terminal::fit(&up_to(0), width));
    }
    // Fields go before the reason's tersest form (its last) is used; then with it.
    let telling = &stalled[..(stalled.len() - 1).max(1)];
    let with = |reasons: &[String]| {
        (0..=8)
            .rev()
            .find_map(|most| with_clause(&up_to(most), reasons, width))
    };
    let line = with(telling).or_else(|| with(stalled));
    line.unwrap_or_else(|| terminal::fit(&up_to(0), width))
}

/// `line  stalled: REASON` with the longest of `stalled` that fits in `width`, if any does.
fn with_clause(line: &str, stalled: &[String], width: usize) -> Option<String> {
    let with = |reason: &String| format!("{line}  stalled: {reason}");
    let fits = |full: &String| terminal::width_of(full) <= width;
    stalled.iter().map(with).find(fits)
}

/// The line printed when a download is complete and verified.
pub fn done_line(name: &str, total: u64, downloaded: u64, elapsed: Duration) -> String {
    let seconds = elapsed.as_secs_f64().max(0.001);
    format!(
        "done: {name} ({}) verified in {} ({})",
        format_bytes(total),
        format_duration(elapsed),
        format_rate(downloaded as f64 / seconds),
    )
}

/// `1.5 MiB`, `512 B`, `3.0 GiB`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `12.3 MiB/s`.
pub fn format_rate(bytes_per_second: f64) -> String {
    format!("{}/s", format_bytes(bytes_per_second.max(0.0) as u64))
}

/// `0:42`, `12:05`, `3:02:10`.
pub fn format_duration(duration: Duration) -> String {
    let total = duration.as_secs();
    let (hours, minutes, seconds) = (total / 3600, total / 60 % 60, total % 60);
    if hours > 0 {
        format!("{hours}:{minutes:02}:{seconds:02}")
    } else {
        format!("{minutes}:{seconds:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_shown_in_binary_units() {
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(256 * 1024 * 1024), "256.0 MiB");
        assert_eq!(format_rate(3.0 * 1024.0 * 1024.0), "3.0 MiB/s");
    }

    #[test]
    fn durations_read_like_a_clock() {
        assert_eq!(format_duration(Duration::from_secs(42)), "0:42");
        assert_eq!(format_duration(Duration::from_secs(725)), "12:05");
        assert_eq!(format_duration(Duration::from_secs(10930)), "3:02:10");
    }

    #[test]
    fn a_progress_line_has_percent_rates_peers_and_eta() {
        let s = Snapshot {
            verified_bytes: 25 * 1024 * 1024,
            total_bytes: 100 * 1024 * 1024,
            downloaded: 0,
            uploaded: 0,
            peers: 5,
            unchoking_us: 3,
            web_seeds: 0,
            dht_nodes: None,
            max_down: None,
            max_up: None,
        };
        let line = render(&s, 1024.0 * 1024.0, 0.0, 79);
        assert_eq!(
            line,
            " 25.0% of 100.0 MiB  down 1.0 MiB/s  up 0 B/s  peers 3/5  ETA 1:15"
        );
        assert!(render(&s, 0.0, 0.0, 79).ends_with("ETA --:--"));
        let done = Snapshot {
            verified_bytes: s.total_bytes,
            ..s
        };
        assert!(render(&done, 0.0, 0.0, 79).starts_with("100.0%"));
        assert!(render(&done, 0.0, 0.0, 79).ends_with("ETA done"));
    }

    #[test]
    fn working_web_seeds_follow_the_peers() {
        let s = Snapshot {
            total_bytes: 1024,
            peers: 2,
            unchoking_us: 1,
            web_seeds: 1,
            ..Snapshot::default()
        };
        let line = render(&s, 0.0, 0.0, 200);
        assert!(line.contains("  peers 1/2 + 1 web  ETA"), "{line}");
    }

    #[test]
    fn the_dht_nodes_show_last_and_go_first() {
        let s = Snapshot {
            total_bytes: 1024,
            dht_nodes: Some(120),
            ..Snapshot::default()
        };
        let wide = render(&s, 0.0, 0.0, 200);
        assert!(wide.ends_with("ETA --:--  dht: 120 nodes"), "{wide}");
        let narrow = render(&s, 0.0, 0.0, wide.len() - 1);
        assert!(!narrow.contains("dht"), "{narrow}");
        assert!(narrow.contains("up 0 B/s"), "{narrow}");
    }

    #[test]
    fn the_rate_limits_follow_their_rates_and_go_first() {
        let s = Snapshot {
            total_bytes: 1024,
            dht_nodes: Some(120),
            max_down: Some(2 << 20),
            max_up: Some(500 << 10),
            ..Snapshot::default()
        };
        let wide = render(&s, 0.0, 0.0, 200);
        assert!(
            wide.contains("down 0 B/s (max 2.0 MiB/s)  up 0 B/s (max 500.0 KiB/s)  peers"),
            "{wide}"
        );
        let narrower = render(&s, 0.0, 0.0, wide.len() - 1);
        assert!(!narrower.contains("KiB/s)") && narrower.contains("(max 2.0 MiB/s)"));
        assert!(narrower.contains("dht: 120 nodes"), "{narrower}");
        let narrowest = render(&s, 0.0, 0.0, narrower.len() - 1);
        assert!(
            !narrowest.contains("max") && narrowest.contains("dht"),
            "{narrowest}"
        );
    }

    #[test]
    fn a_narrow_progress_line_keeps_percent_eta_and_rate() {
        let s = Snapshot {
            verified_bytes: 25 * 1024 * 1024,
            total_bytes: 100 * 1024 * 1024,
            peers: 50,
            unchoking_us: 12,
            ..Snapshot::default()
        };
        let line = |width| render(&s, 1023.9 * 1048576.0, 1023.9 * 1048576.0, width);
        assert_eq!(
            line(61),
            " 25.0% of 100.0 MiB  down 1023.9 MiB/s  peers 12/50  ETA 0:00"
        );
        assert_eq!(line(60), " 25.0%  down 1023.9 MiB/s  peers 12/50  ETA 0:00");
        assert_eq!(line(47), " 25.0%  peers 12/50  ETA 0:00");
        assert_eq!(line(28), " 25.0%  ETA 0:00");
        assert_eq!(line(4), " 25.");
        for width in 1..=200 {
            assert!(terminal::width_of(&line(width)) <= width, "{width}");
        }
    }
}

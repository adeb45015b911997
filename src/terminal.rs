//! The terminal that live displays redraw in place (the download's progress line, the
//! demo's view): its size, and the escape sequences that replace what was drawn last time.
//!
//! A redraw stays clean under three rules:
//!
//! * A line never wraps. Displays fit every line to [`Size::line_width`], one less than the
//!   columns: some terminals wrap as soon as the last column is written, so a full-width
//!   line would push the next one down a row.
//! * Every character drawn is one column wide (`░▒▓█`, `↓`, `×` are; no emoji, no CJK), so
//!   counting characters counts columns.
//! * The size is asked of the kernel (`ioctl(TIOCGWINSZ)`) at every redraw, a system call
//!   four times a second, so a resize is followed without a `SIGWINCH` handler. After a
//!   resize, only the terminal knows what its screen holds: most (tmux, VTE, kitty,
//!   iTerm2) reflow, so a line now too wide takes several rows; some (xterm) cut lines;
//!   and a frame written just before the resize lands on the new grid. So when the size
//!   has changed since the last draw, a [`Block`] clears the screen and starts again at
//!   the top. A [`Line`], under messages it must not erase, moves up over the rows a
//!   reflow would have made of it ([`rows_taken`]) and clears to the end of the screen.

use std::fmt::Write as _;

/// Used when neither the kernel nor `COLUMNS`/`LINES` tell the size.
const FALLBACK: Size = Size {
    columns: 80,
    rows: 24,
};

/// A terminal's size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub columns: usize,
    pub rows: usize,
}

impl Size {
    /// The most characters a line may have: one less than the columns (see the module).
    pub fn line_width(&self) -> usize {
        self.columns.saturating_sub(1).max(1)
    }
}

/// The size of the terminal on stderr (where the displays draw), else on stdout, else from
/// `COLUMNS` and `LINES`, else 80×24.
pub fn size() -> Size {
    ask_kernel(libc::STDERR_FILENO)
        .or_else(|| ask_kernel(libc::STDOUT_FILENO))
        .unwrap_or_else(|| from_env(|name| std::env::var(name).ok()))
}

/// `ioctl(fd, TIOCGWINSZ)`: `None` if `fd` is not a terminal or reports no width.
fn ask_kernel(fd: libc::c_int) -> Option<Size> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, which points at `size`.
    let result = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut size as *mut libc::winsize) };
    if result != 0 || size.ws_col == 0 {
        return None;
    }
    let rows = match size.ws_row {
        0 => FALLBACK.rows,
        rows => usize::from(rows),
    };
    Some(Size {
        columns: usize::from(size.ws_col),
        rows,
    })
}

/// The size from `COLUMNS` and `LINES` (as shells set them), each falling back on its own.
fn from_env(var: impl Fn(&str) -> Option<String>) -> Size {
    let read = |name: &str, fallback: usize| {
        var(name)
            .and_then(|value| value.trim().parse().ok())
            .filter(|n: &usize| *n > 0)
            .unwrap_or(fallback)
    };
    Size {
        columns: read("COLUMNS", FALLBACK.columns),
        rows: read("LINES", FALLBACK.rows),
    }
}

/// Width in columns of text made of single-width characters (see the module).
pub fn width_of(text: &str) -> usize {
    text.chars().count()
}

/// `text` cut to at most `width` characters.
pub fn fit(text: &str, width: usize) -> String {
    text.chars().take(width).collect()
}

/// Rows a line of `width` characters takes on a terminal `columns` wide: one, unless a
/// narrowing reflowed it.
pub fn rows_taken(width: usize, columns: usize) -> usize {
    width.div_ceil(columns.max(1)).max(1)
}

/// A block of lines redrawn in place, each ended by a newline (the demo's view). Remembers
/// how many lines it drew, to move back over them, and at what size.
#[derive(Debug, Default)]
pub struct Block {
    drawn: usize,
    size: Option<Size>,
}

impl Block {
    /// What to write to replace the block drawn last time by `lines` (each already fitted
    /// to `size`): up over the old block (after a resize: clear the screen, go to its
    /// top), each line on a cleared row, then clear whatever the old block had below.
    /// Clearing a whole row (`ESC[2K`) also drops the mark a reflow may have left on it,
    /// that it goes on into the next row (tmux would join such rows on a widening).
    pub fn redraw(&mut self, lines: &[String], size: Size) -> String {
        let mut text = String::new();
        match self.size {
            Some(before) if before != size => text.push_str("\x1b[H\x1b[2J"),
            _ if self.drawn > 0 => {
                let _ = write!(text, "\r\x1b[{}A", self.drawn);
            }
            _ => text.push('\r'),
        }
        for line in lines {
            let _ = writeln!(text, "\x1b[2K{line}");
        }
        text.push_str("\x1b[J");
        self.drawn = lines.len();
        self.size = Some(size);
        text
    }
}

/// One line redrawn in place with the cursor left at its end (the progress line), so
/// that it can be replaced, or erased for a message.
#[derive(Debug, Default)]
pub struct Line {
    /// Width of the line on screen; `None` when there is none (the cursor is on a fresh
    /// line).
    drawn: Option<usize>,
}

impl Line {
    /// What to write to replace the line on screen by `line` (already fitted to `size`).
    pub fn redraw(&mut self, line: &str, size: Size) -> String {
        let mut text = self.erase(size);
        text.push_str(line);
        self.drawn = Some(width_of(line));
        text
    }

    /// What to write to erase the line on screen, leaving the cursor at the start of its
    /// first row (cleared whole, as in [`Block::redraw`]).
    pub fn erase(&mut self, size: Size) -> String {
        let mut text = String::from("\r");
        let up = self.drawn.map_or(1, |w| rows_taken(w, size.columns)) - 1;
        if up > 0 {
            let _ = write!(text, "\x1b[{up}A");
        }
        text.push_str("\x1b[2K\x1b[J");
        self.drawn = None;
        text
    }

    /// Whether a line is on screen.
    pub fn is_drawn(&self) -> bool {
        self.drawn.is_some()
    }

    /// The line was ended by a newline: the next one starts on a fresh line.
    pub fn forget(&mut self) {
        self.drawn = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZE: Size = Size {
        columns: 80,
        rows: 24,
    };

    #[test]
    fn the_environment_gives_the_size_when_the_kernel_cannot() {
        let env = |columns: &'static str, lines: &'static str| {
            move |name: &str| match name {
                "COLUMNS" => Some(columns.to_string()),
                "LINES" => Some(lines.to_string()),
                _ => None,
            }
        };
        let size = |columns: usize, rows: usize| Size { columns, rows };
        assert_eq!(from_env(env("120", "30")), size(120, 30));
        assert_eq!(from_env(env("0", "x")), size(80, 24));
        assert_eq!(from_env(|_| None), size(80, 24));
        assert_eq!(size(1, 1).line_width(), 1);
        assert_eq!(size(80, 24).line_width(), 79);
    }

    #[test]
    fn widths_count_characters_not_bytes() {
        assert_eq!(width_of("|██░ | ↓ 2 × →"), 14);
        assert_eq!(fit("░▒▓█abc", 5), "░▒▓█a");
        assert_eq!(fit("ab", 5), "ab");
    }

    #[test]
    fn a_narrowed_terminal_spreads_a_line_over_rows() {
        assert_eq!(rows_taken(0, 80), 1);
        assert_eq!(rows_taken(79, 80), 1);
        assert_eq!(rows_taken(79, 60), 2);
        assert_eq!(rows_taken(79, 20), 4);
    }

    #[test]
    fn a_block_moves_up_over_what_it_drew_or_starts_again_after_a_resize() {
        let mut block = Block::default();
        let lines = ["one".to_string(), "two".to_string()];
        assert_eq!(
            block.redraw(&lines, SIZE),
            "\r\x1b[2Kone\n\x1b[2Ktwo\n\x1b[J"
        );
        assert_eq!(
            block.redraw(&lines[..1], SIZE),
            "\r\x1b[2A\x1b[2Kone\n\x1b[J"
        );
        // After a resize: from the top of a cleared screen.
        let narrow = Size {
            columns: 40,
            ..SIZE
        };
        let resized = block.redraw(&lines, narrow);
        assert!(
            resized.starts_with("\x1b[H\x1b[2J\x1b[2Kone\n"),
            "{resized:?}"
        );
        let again = block.redraw(&lines, narrow);
        assert!(again.starts_with("\r\x1b[2A\x1b[2Kone\n"), "{again:?}");
    }

    #[test]
    fn a_line_replaces_itself_and_makes_way_for_a_message() {
        let mut line = Line::default();
        assert_eq!(line.redraw("50%", SIZE), "\r\x1b[2K\x1b[J50%");
        assert_eq!(line.redraw("51%", SIZE), "\r\x1b[2K\x1b[J51%");
        line.redraw(&"x".repeat(79), SIZE);
        let narrow = Size {
            columns: 30,
            ..SIZE
        };
        assert_eq!(line.erase(narrow), "\r\x1b[2A\x1b[2K\x1b[J");
        // Erased: nothing to move over any more.
        assert_eq!(line.erase(narrow), "\r\x1b[2K\x1b[J");
    }
}

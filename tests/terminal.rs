//! The live displays in a real terminal: tmux runs smalltorrent in a detached pane of a
//! known size (80×24, 120×30, and resized three times; the demo also with `--dht`) and the
//! test reads the screen (`tmux capture-pane`) again and again while it runs.
//!
//! What must hold on every capture: no line wraps (`capture-pane -J` joins wrapped rows,
//! so a joined line wider than the pane is a wrapped one); the demo's screen is its
//! header, then exactly one line per peer in order, then nothing, so a fragment of an
//! older frame shows up as a line that is neither; after the demo, its final table is
//! whole. Each test has its own tmux server (`tmux -S`), killed on drop, also on a
//! failure. No timing is asserted: the tests poll, with generous timeouts.
//!
//! tmux is needed (Debian: `apt-get install tmux`; `scripts/test.sh` installs it).
//! Without it these tests fail, unless `SMALLTORRENT_SKIP_TMUX=1` says to skip them.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// How long a demo may take, on a slow and busy machine.
const DEMO_TIMEOUT: Duration = Duration::from_secs(180);
/// Between two captures.
const POLL: Duration = Duration::from_millis(100);
/// Printed by the pane's shell once smalltorrent has exited.
const EXITED: &str = "smalltorrent exited with";

/// The smalltorrent binary under test (as `tests/support` finds it).
fn binary() -> String {
    std::env::var("SMALLTORRENT_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_smalltorrent").to_string())
}

/// `false` if tmux is missing and `SMALLTORRENT_SKIP_TMUX=1` says to skip; panics if it
/// is missing otherwise.
fn have_tmux() -> bool {
    let found = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|out| out.status.success());
    if found {
        return true;
    }
    if std::env::var("SMALLTORRENT_SKIP_TMUX").is_ok_and(|v| v == "1") {
        eprintln!("skipped: tmux is not installed (SMALLTORRENT_SKIP_TMUX=1)");
        return false;
    }
    panic!(
        "these tests need tmux: install it (Debian: apt-get install tmux; scripts/test.sh does), \
         or set SMALLTORRENT_SKIP_TMUX=1 to skip them"
    );
}

/// A tmux server of our own with one detached session; killed on drop. Its socket lives
/// in a temporary folder (`tmux -S`), so servers never collide and leave nothing behind.
struct Tmux {
    socket: PathBuf,
    _folder: tempfile::TempDir,
}

impl Tmux {
    /// Starts `command` (a shell command) in a pane `width`×`height`.
    fn start(width: usize, height: usize, command: &str) -> Tmux {
        let folder = tempfile::tempdir().expect("a temporary folder for tmux's socket");
        let tmux = Tmux {
            socket: folder.path().join("tmux"),
            _folder: folder,
        };
        let (x, y) = (width.to_string(), height.to_string());
        let args = ["new-session", "-d", "-x", &x, "-y", &y, command];
        tmux.run(&["-f", "/dev/null"], &args);
        tmux
    }

    /// Runs a tmux command on our server; panics if it fails.
    fn run(&self, options: &[&str], args: &[&str]) -> Output {
        let output = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(options)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run tmux: {e}"));
        assert!(
            output.status.success(),
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// The screen's rows, trailing spaces trimmed.
    fn rows(&self) -> Vec<String> {
        self.capture(&["capture-pane", "-p"])
    }

    /// The screen's lines with wrapped rows joined back together.
    fn joined(&self) -> Vec<String> {
        self.capture(&["capture-pane", "-p", "-J"])
    }

    fn capture(&self, args: &[&str]) -> Vec<String> {
        let output = self.run(&[], args);
        let text = String::from_utf8_lossy(&output.stdout);
        text.lines()
            .map(|line| line.trim_end().to_string())
            .collect()
    }

    /// Ctrl-C in the pane, then waits until smalltorrent has exited (so that the files
    /// it writes on its way out are written before the test removes their folder).
    fn interrupt(&self) {
        self.run(&[], &["send-keys", "C-c"]);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.rows().iter().any(|row| row.starts_with(EXITED)) {
            assert!(
                Instant::now() < deadline,
                "{}",
                failure("smalltorrent did not exit on Ctrl-C", &self.rows())
            );
            std::thread::sleep(POLL);
        }
    }

    fn resize(&self, width: usize, height: usize) {
        let (x, y) = (width.to_string(), height.to_string());
        self.run(&[], &["resize-window", "-x", &x, "-y", &y]);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // Ends the pane's processes too (SIGHUP: the demo stops and removes its files).
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

/// The pane's command: smalltorrent with `args`, then a line saying how it exited, then
/// a pause so the screen can still be read.
fn pane_command(args: &str) -> String {
    format!(
        "RUST_LOG=error '{}' {args}; echo \"{EXITED} $?\"; sleep 600",
        binary()
    )
}

/// The labels the demo gives its peers, in screen order.
fn labels(leechers: usize) -> Vec<String> {
    let leechers = (1..=leechers).map(|n| format!("leecher {n}"));
    std::iter::once("seeder".to_string())
        .chain(leechers)
        .collect()
}

/// Whether `line` starts with the peer label `label` (`leecher 1`, not `leecher 10`).
fn starts_with_label(line: &str, label: &str) -> bool {
    line.strip_prefix(label)
        .is_some_and(|rest| rest.starts_with(' '))
}

/// A line of the demo's header: facts joined by `; `, each one the demo prints.
fn is_header(line: &str) -> bool {
    const FACTS: [&str; 6] = [
        "demo: ",
        "seeder upload limited to ",
        "tracker ",
        // `--dht`, instead of the tracker.
        "dht node 127.0.0.1:",
        "from: * found through the dht",
        "work folder ",
    ];
    line.split("; ")
        .all(|fact| FACTS.iter().any(|start| fact.starts_with(start)))
}

/// A peer's line in the live view: its label, then its state.
fn is_peer_line(line: &str, label: &str) -> bool {
    starts_with_label(line, label)
        && (line.contains('%') || line.contains("joins in") || line.contains("starting"))
}

/// Checks no line of the screen wraps: every joined line is narrower than the pane
/// (the live view keeps the last column free) or, for the final report, at most as wide.
fn check_widths(joined: &[String], width: usize, live: bool) -> Result<(), String> {
    let limit = if live { width - 1 } else { width };
    match joined.iter().find(|line| line.chars().count() > limit) {
        Some(line) => Err(format!(
            "a line of {} characters on a {width}-column screen: {line:?}",
            line.chars().count()
        )),
        None => Ok(()),
    }
}

/// How much of the live view a screen of the running demo shows.
#[derive(Debug, PartialEq)]
enum Live {
    /// The header only, or the header and the first peers (a frame being drawn).
    Partial,
    /// The header and every peer's line.
    Whole,
}

/// Checks a screen of the running demo: its header (the start of it may have scrolled
/// away), then one line for each peer in order, then nothing. A frame may be caught half
/// drawn (tmux read only part of it yet): then the first peers only.
fn check_live_screen(rows: &[String], leechers: usize) -> Result<Live, String> {
    let used = rows
        .iter()
        .rposition(|row| !row.is_empty())
        .map_or(0, |at| at + 1);
    let rows = &rows[..used];
    let header = rows.iter().take_while(|row| is_header(row)).count();
    let peers = &rows[header..];
    let labels = labels(leechers);
    if peers.len() > labels.len() {
        return Err(format!("{} peer lines, not {}", peers.len(), labels.len()));
    }
    for (line, label) in peers.iter().zip(&labels) {
        if !is_peer_line(line, label) {
            return Err(format!("expected the line of {label}, found {line:?}"));
        }
    }
    Ok(if peers.len() == labels.len() {
        Live::Whole
    } else {
        Live::Partial
    })
}

/// Checks the screen once the demo has exited (its lines, wrapped rows joined): the final
/// table whole, every row in place, and above it nothing but the last frame of the live
/// view.
fn check_final_screen(rows: &[String], leechers: usize) -> Result<(), String> {
    let find = |start: &str| rows.iter().position(|row| row.starts_with(start));
    let table = find("peer       address").ok_or("no final table")?;
    let labels = labels(leechers);
    for (n, label) in labels.iter().enumerate() {
        let row = rows.get(table + 1 + n).map_or("", String::as_str);
        let mut words = row
            .strip_prefix(label.as_str())
            .unwrap_or("")
            .split_whitespace();
        let (address, complete) = (words.next().unwrap_or(""), words.next());
        if !starts_with_label(row, label)
            || !address.starts_with("127.0.0.")
            || complete != Some("yes")
        {
            return Err(format!("table row of {label} is not whole: {row:?}"));
        }
    }
    let matrix = find("who sent what to whom").ok_or("no who-sent-what table")?;
    let columns = rows.get(matrix + 1).map_or("", String::as_str);
    if !labels.iter().all(|label| columns.contains(label.as_str())) {
        return Err(format!("matrix columns are not whole: {columns:?}"));
    }
    for (n, label) in labels.iter().enumerate() {
        let row = rows.get(matrix + 2 + n).map_or("", String::as_str);
        // A byte count (`0 B`, `3.1 MiB`) for each other peer.
        let counts = row
            .split_whitespace()
            .filter(|word| word.ends_with('B'))
            .count();
        if !starts_with_label(row, label) || counts != leechers {
            return Err(format!("matrix row of {label} is not whole: {row:?}"));
        }
    }
    let complete = format!("{leechers} of {leechers} leechers complete in ");
    for start in [
        complete.as_str(),
        "leechers' upload: ",
        "the seeder uploaded ",
        EXITED,
    ] {
        find(start).ok_or_else(|| format!("no line starting {start:?}"))?;
    }
    if find(&format!("{EXITED} 0")).is_none() {
        return Err("the demo did not exit with 0".into());
    }
    // Above the report: the end of the live view, then one empty line.
    let above = &rows[..table];
    let view = &above[..above.len().saturating_sub(1)];
    let stray = view
        .iter()
        .find(|row| !is_header(row) && !labels.iter().any(|label| is_peer_line(row, label)));
    match stray {
        Some(row) => Err(format!("a stray line above the report: {row:?}")),
        None => Ok(()),
    }
}

/// What a failed check reports: the problem and the screen.
fn failure(problem: &str, rows: &[String]) -> String {
    format!("{problem}\n--- screen ---\n{}\n---", rows.join("\n"))
}

/// Runs the demo in a `width`×`height` pane and checks every capture of it. The pane is
/// resized to each of `resizes` in turn, each once the screen shows a whole, clean frame.
/// Returns the last whole frame of the live view.
fn watch_demo(
    width: usize,
    height: usize,
    args: &str,
    leechers: usize,
    resizes: &[(usize, usize)],
) -> Vec<String> {
    let tmux = Tmux::start(width, height, &pane_command(&format!("demo {args}")));
    let started = Instant::now();
    let mut size = (width, height);
    let mut resizes = resizes.iter();
    let mut next_size = resizes.next();
    // After a resize, until the demo has redrawn, the screen holds the terminal's reflow
    // of the old frame: the checks wait for a clean screen before holding again.
    let mut settling: Option<Instant> = None;
    let mut whole_frames = 0;
    let mut last_whole = Vec::new();
    loop {
        assert!(
            started.elapsed() < DEMO_TIMEOUT,
            "{}",
            failure("the demo did not end", &tmux.rows())
        );
        let (rows, joined) = (tmux.rows(), tmux.joined());
        if rows.iter().any(|row| row.starts_with(EXITED)) {
            // The report is printed once, 79 columns wide: narrower, it wraps.
            let narrowed = size.0 < 80;
            let checked = check_final_screen(&joined, leechers).and_then(|()| match narrowed {
                true => Ok(()),
                false => check_widths(&joined, size.0, false),
            });
            if let Err(problem) = checked {
                panic!("{}", failure(&problem, &rows));
            }
            break;
        }
        if rows.iter().any(|row| {
            row.contains("× the payload") || row.starts_with("peer ") && row.contains("address")
        }) {
            // The final report is being printed and the demo has not exited yet: the
            // live checks no longer apply, the final ones run once it has.
            std::thread::sleep(POLL);
            continue;
        }
        let checked =
            check_widths(&joined, size.0, true).and_then(|()| check_live_screen(&rows, leechers));
        let whole = match (checked, settling) {
            (Ok(live), _) => {
                settling = None;
                live == Live::Whole
            }
            (Err(_), Some(since)) if since.elapsed() < Duration::from_secs(20) => false,
            (Err(problem), _) => panic!("{}", failure(&problem, &rows)),
        };
        whole_frames += usize::from(whole);
        if whole {
            last_whole = rows.clone();
        }
        if let Some(&new_size) = next_size.filter(|_| whole) {
            tmux.resize(new_size.0, new_size.1);
            size = new_size;
            next_size = resizes.next();
            settling = Some(Instant::now());
        }
        std::thread::sleep(POLL);
    }
    assert!(next_size.is_none(), "the demo ended before every resize");
    assert!(
        settling.is_none(),
        "the screen did not settle after the resize"
    );
    assert!(whole_frames > 0, "no whole frame of the live view was seen");
    last_whole
}

#[test]
fn the_demo_fits_80_by_24() {
    if have_tmux() {
        watch_demo(80, 24, "--size 8M --leechers 3", 3, &[]);
    }
}

#[test]
fn the_demo_fits_120_by_30() {
    if have_tmux() {
        watch_demo(120, 30, "--size 8M --leechers 3", 3, &[]);
    }
}

/// A whole frame of `demo --dht`: the DHT node in place of the tracker.
fn check_trackerless(frame: &[String]) {
    let header = frame.iter().take_while(|row| is_header(row));
    let facts: Vec<&str> = header.flat_map(|row| row.split("; ")).collect();
    assert!(
        facts
            .iter()
            .any(|fact| fact.starts_with("dht node 127.0.0.1:")),
        "{}",
        failure("no dht node in the header", frame)
    );
    assert!(
        !facts.iter().any(|fact| fact.starts_with("tracker ")),
        "{}",
        failure("a tracker in the --dht header", frame)
    );
}

#[test]
fn the_trackerless_demo_fits_80_by_24() {
    if have_tmux() {
        let frame = watch_demo(80, 24, "--dht --size 8M --leechers 3", 3, &[]);
        check_trackerless(&frame);
    }
}

#[test]
fn the_trackerless_demo_fits_120_by_30() {
    if have_tmux() {
        let frame = watch_demo(120, 30, "--dht --size 8M --leechers 3", 3, &[]);
        check_trackerless(&frame);
    }
}

#[test]
fn the_demo_follows_resizes() {
    if have_tmux() {
        // Narrower, then also shorter, then larger than at the start (where the final
        // report fits unwrapped).
        let resizes = [(60, 20), (45, 12), (90, 30)];
        watch_demo(100, 24, "--size 16M --leechers 3", 3, &resizes);
    }
}

/// A torrent and its data in `dir/swarm`, from a quick demo run that keeps them.
fn kept_swarm(dir: &std::path::Path) -> std::path::PathBuf {
    let keep = dir.join("swarm");
    let made = Command::new(binary())
        .args(["demo", "--size", "1M", "--leechers", "1", "--keep"])
        .arg(&keep)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    keep
}

/// Both rate limits show after their rates on a wide terminal.
#[test]
fn the_progress_line_shows_the_rate_limits() {
    if !have_tmux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let keep = kept_swarm(dir.path());
    let args = format!(
        "'{}' -s '{}' --port 0 --bind 127.0.0.1 --no-dht --max-download-rate 1M \
         --max-upload-rate 2M",
        keep.join("demo.torrent").display(),
        keep.join("seeder").display()
    );
    let tmux = Tmux::start(120, 10, &pane_command(&args));
    let wanted = "down 0 B/s (max 1.0 MiB/s)  up 0 B/s (max 2.0 MiB/s)  peers 0/0";
    let deadline = Instant::now() + Duration::from_secs(60);
    while !tmux.rows().iter().any(|row| row.contains(wanted)) {
        assert!(
            Instant::now() < deadline,
            "{}",
            failure("no progress line with both limits", &tmux.rows())
        );
        std::thread::sleep(POLL);
    }
    tmux.interrupt();
}

#[test]
fn the_progress_line_fits_and_follows_a_narrowing() {
    if !have_tmux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let keep = kept_swarm(dir.path());
    // Seeding it: the progress line is redrawn until the end of the test.
    let torrent = keep.join("demo.torrent");
    let seeder = keep.join("seeder");
    let args = format!(
        "'{}' -s '{}' --port 0 --bind 127.0.0.1 --no-dht",
        torrent.display(),
        seeder.display()
    );
    let tmux = Tmux::start(80, 10, &pane_command(&args));
    for width in [80, 30, 50] {
        tmux.resize(width, 10);
        let deadline = Instant::now() + Duration::from_secs(60);
        // The last row is the progress line (`100.0% ...`), the one above it the line
        // the download printed before it: no fragment of a longer progress line between.
        let clean = |rows: &[String], joined: &[String]| {
            let used: Vec<&String> = rows.iter().filter(|row| !row.is_empty()).collect();
            let last_two = &used[used.len().saturating_sub(2)..];
            let progress = joined.iter().rfind(|line| !line.is_empty());
            progress.is_some_and(|line| line.chars().count() < width)
                && last_two.len() == 2
                && last_two[0].starts_with("listening on 127.0.0.1:")
                && last_two[1].starts_with("100.0%")
        };
        loop {
            let (rows, joined) = (tmux.rows(), tmux.joined());
            if clean(&rows, &joined) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{}",
                failure(&format!("no clean progress line at {width} columns"), &rows)
            );
            std::thread::sleep(POLL);
        }
    }
    tmux.interrupt();
}

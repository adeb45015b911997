//! Child processes that cannot outlive a test: every external program the harness starts is
//! wrapped in a [`Proc`], whose `Drop` kills and reaps it, also when the test panics.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// A running child with its stdout and stderr collected in the background, so that a test can
/// wait for a line ("SEEDING") and show everything the program said when something fails.
pub struct Proc {
    /// Short name for messages ("opentracker", "aria2c seeder").
    name: String,
    child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// Reader threads, joined once the child is gone so the output is complete.
    readers: Vec<thread::JoinHandle<()>>,
}

impl Proc {
    /// Starts `cmd` with stdin closed and stdout/stderr captured. Panics if it cannot start.
    pub fn spawn(name: &str, mut cmd: Command) -> Proc {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            collect(child.stdout.take().expect("piped stdout"), stdout.clone()),
            collect(child.stderr.take().expect("piped stderr"), stderr.clone()),
        ];
        Proc {
            name: name.to_string(),
            child,
            stdout,
            stderr,
            readers,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything written to stdout so far (lossy UTF-8).
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned()
    }

    /// Everything written to stderr so far (lossy UTF-8).
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Its peak resident set so far (`VmHWM` in `/proc/PID/status`), in KiB; 0 once it
    /// has ended.
    pub fn peak_rss_kib(&self) -> u64 {
        let path = format!("/proc/{}/status", self.pid());
        let status = std::fs::read_to_string(path).unwrap_or_default();
        status
            .lines()
            .find_map(|l| {
                l.strip_prefix("VmHWM:")?
                    .trim()
                    .strip_suffix(" kB")?
                    .parse()
                    .ok()
            })
            .unwrap_or(0)
    }

    /// The exit status if the process has ended.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// Waits until stdout contains `needle`. Panics with the output if the process exits first
    /// or `timeout` passes.
    pub fn wait_for_stdout(&mut self, needle: &str, timeout: Duration) {
        self.wait_until(timeout, &format!("{needle:?} on stdout"), |p| {
            p.stdout().contains(needle)
        });
    }

    /// Polls `ready` until it holds; panics (showing the output) if the process exits or
    /// `timeout` passes first.
    pub fn wait_until(&mut self, timeout: Duration, what: &str, ready: impl FnMut(&Self) -> bool) {
        if let Err(why) = self.try_wait_until(timeout, what, ready) {
            panic!("{why}");
        }
    }

    /// Like [`Proc::wait_until`], but returns the failure (with the output) instead of panicking.
    pub fn try_wait_until(
        &mut self,
        timeout: Duration,
        what: &str,
        mut ready: impl FnMut(&Self) -> bool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if ready(self) {
                return Ok(());
            }
            if let Some(status) = self.exited() {
                // The readers may not have collected its last words yet: join them and look
                // once more, so a line printed just before exiting is not missed.
                self.kill();
                if ready(self) {
                    return Ok(());
                }
                return Err(format!(
                    "{} exited ({status}) while waiting for {what}\n{}",
                    self.name,
                    self.report()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} did not show {what} within {timeout:?}\n{}",
                    self.name,
                    self.report()
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the process to exit, at most `timeout`; on expiry kills it and returns the
    /// failure with its output.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<std::process::ExitStatus, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                self.kill(); // only reaps it and collects the rest of its output
                return Ok(status);
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(format!(
                    "{} did not finish within {timeout:?}\n{}",
                    self.name,
                    self.report()
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Asks the process to stop with SIGTERM, gives it `grace` to exit, then kills it. Returns
    /// once it is reaped and its output fully collected.
    pub fn terminate(&mut self, grace: Duration) {
        if self.exited().is_none() {
            send_signal(self.pid(), "TERM");
            let deadline = Instant::now() + grace;
            while self.exited().is_none() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(20));
            }
        }
        self.kill();
    }

    /// Sends `signal` ("INT", "TERM"), waits at most `grace` for the process to exit, and
    /// returns its status once its output is fully collected. If it does not exit in time it
    /// is killed and the failure (with its output) returned.
    pub fn stop_with(
        &mut self,
        signal: &str,
        grace: Duration,
    ) -> Result<std::process::ExitStatus, String> {
        if self.exited().is_none() {
            send_signal(self.pid(), signal);
        }
        self.wait_exit(grace)
            .map_err(|why| format!("after SIG{signal}: {why}"))
    }

    /// Kills (SIGKILL) and reaps the process, then waits for its output to be collected.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }

    /// The captured output, for failure messages.
    pub fn report(&self) -> String {
        format!(
            "--- {} stdout ---\n{}\n--- {} stderr ---\n{}",
            self.name,
            tail(&self.stdout(), 4000),
            self.name,
            tail(&self.stderr(), 4000)
        )
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends a signal by name with the `kill` utility (std has no portable signal API).
pub fn send_signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status();
}

fn collect(
    mut from: impl Read + Send + 'static,
    into: Arc<Mutex<Vec<u8>>>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            into.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    })
}

/// The last `max` bytes of `s` (on a char boundary), so failure messages stay readable.
fn tail(s: &str, max: usize) -> &str {
    let mut start = s.len().saturating_sub(max);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// Runs the smalltorrent binary under test with `args`, waits at most `timeout`, and returns
/// its output. On timeout the process is killed and the test fails showing its stderr.
pub fn run_smalltorrent<I, S>(args: I, timeout: Duration) -> std::process::Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut proc = spawn_smalltorrent(args);
    let status = proc
        .wait_exit(timeout)
        .unwrap_or_else(|why| panic!("{why}"));
    std::process::Output {
        status,
        stdout: proc.stdout.lock().unwrap().clone(),
        stderr: proc.stderr.lock().unwrap().clone(),
    }
}

/// Starts the smalltorrent binary under test without waiting, for tests that act while it runs.
///
/// `SMALLTORRENT_BIN=/path/to/program` runs another program with the same arguments instead,
/// to check the acceptance tests themselves against a known-good client (see
/// `tests/support/aria2_as_smalltorrent.sh`).
pub fn spawn_smalltorrent<I, S>(args: I) -> Proc
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    spawn_smalltorrent_named("smalltorrent", args)
}

/// [`spawn_smalltorrent`] with a name for messages, to tell several apart ("seeder 127.0.0.2").
pub fn spawn_smalltorrent_named<I, S>(name: &str, args: I) -> Proc
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Proc::spawn(name, smalltorrent_command(args))
}

/// The command [`spawn_smalltorrent`] runs, for tests that add to it (an environment
/// variable such as `RUST_LOG`) before passing it to [`Proc::spawn`].
pub fn smalltorrent_command<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let program = std::env::var_os("SMALLTORRENT_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_smalltorrent").into());
    let mut cmd = Command::new(program);
    cmd.args(without_public_dht(args));
    cmd
}

/// The commands that are not a download or a seed, so take no DHT option.
const NOT_A_DOWNLOAD: [&str; 10] = [
    "demo",
    "info",
    "create",
    "tracker",
    "verify",
    "trace-summary",
    "dht",
    "--help",
    "-h",
    "--version",
];

/// `args` with `--no-dht` added to a download or seed that chose no DHT of its own (a
/// loopback `--dht-bootstrap`): no test may ask the internet's DHT routers.
pub fn without_public_dht<I, S>(args: I) -> Vec<OsString>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut args: Vec<OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let command = args.first().and_then(|a| a.to_str()).unwrap_or("");
    let chose = args
        .iter()
        .any(|a| a == "--no-dht" || a == "--dht-bootstrap");
    if !NOT_A_DOWNLOAD.contains(&command) && !chose {
        args.push("--no-dht".into());
    }
    args
}

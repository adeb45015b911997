//! Real BitTorrent clients seeding on loopback. Every constructor returns only once the
//! tracker (or, for [`Seeder::aria2_dht`], the DHT node) hands out the seeder's address,
//! so a leecher started next will find it.
//!
//! | seeder        | how it is started (see the constructor for every flag)               |
//! |---------------|----------------------------------------------------------------------|
//! | libtorrent    | `/usr/bin/python3 tests/support/lt_seed.py TORRENT DIR --ip IP`        |
//! | aria2c        | `aria2c -V --seed-ratio=0.0 --listen-port=P --interface=IP ...`        |
//! | aria2c, DHT   | the same, no tracker: `--enable-dht=true --dht-entry-point=NODE`     |
//! | transmission  | `transmission-cli -g CONFIG -w DIR TORRENT`, settings.json in CONFIG |
//! | corrupt       | `/usr/bin/python3 tests/support/bad_seed.py TORRENT DIR --ip IP`       |
//!
//! Give each seeder of one swarm its own loopback address (127.0.0.2, 127.0.0.3, ...), so
//! the tracker's peer list and the client's logs tell them apart.

use super::dht::{aria2_dht_options, wait_until_announced};
use super::net::{free_port, free_udp_port, listening_ports};
use super::process::Proc;
use super::torrent::info_hash;
use super::tracker::TrackerProcess;
use std::fs;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The Debian python with the libtorrent binding (a pyenv `python3` on PATH may lack it).
pub const PYTHON: &str = "/usr/bin/python3";

/// How long a seeder may take to check its data and announce.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Seeder {
    proc: Proc,
    addr: SocketAddrV4,
    /// Config dir for clients that need one (transmission); removed after the process.
    _config: Option<tempfile::TempDir>,
}

/// Options for the libtorrent seeder.
#[derive(Clone, Copy)]
pub struct LtOptions {
    /// Loopback address to listen on and announce from.
    pub ip: Ipv4Addr,
    /// Skip the initial check (libtorrent still re-hashes each piece before uploading it).
    pub seed_mode: bool,
    /// Upload limit in bytes/s for this torrent; 0 is unlimited.
    pub upload_rate: u32,
}

impl LtOptions {
    pub fn on(ip: Ipv4Addr) -> LtOptions {
        LtOptions {
            ip,
            seed_mode: false,
            upload_rate: 0,
        }
    }
}

/// A helper script in `tests/support`. The crate dir is read at run time first (cargo test sets
/// it), because the compile-time value goes stale when checkouts share a target dir.
pub fn script(name: &str) -> PathBuf {
    let crate_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    crate_dir.join("tests/support").join(name)
}

impl Seeder {
    /// libtorrent (python binding) seeding `data_dir`, which holds the torrent's payload.
    pub fn libtorrent(
        tracker: &dyn TrackerProcess,
        torrent: &Path,
        data_dir: &Path,
        opts: LtOptions,
    ) -> Seeder {
        Self::libtorrent_with(tracker, torrent, data_dir, opts, &[])
    }

    /// [`Seeder::libtorrent`] with more arguments for `lt_seed.py` (`--encryption rc4`).
    pub fn libtorrent_with(
        tracker: &dyn TrackerProcess,
        torrent: &Path,
        data_dir: &Path,
        opts: LtOptions,
        extra: &[&str],
    ) -> Seeder {
        let mut cmd = Command::new(PYTHON);
        cmd.arg(script("lt_seed.py"))
            .arg(torrent)
            .arg(data_dir)
            .args(["--ip", &opts.ip.to_string()])
            .args(extra);
        if opts.seed_mode {
            cmd.arg("--seed-mode");
        }
        if opts.upload_rate > 0 {
            cmd.args(["--upload-rate", &opts.upload_rate.to_string()]);
        }
        Self::scripted("libtorrent seeder", cmd, tracker, torrent, opts.ip)
    }

    /// A peer that claims every piece and serves corrupted bytes (see `bad_seed.py`).
    pub fn corrupt(
        tracker: &dyn TrackerProcess,
        torrent: &Path,
        data_dir: &Path,
        ip: Ipv4Addr,
    ) -> Seeder {
        let mut cmd = Command::new(PYTHON);
        cmd.arg(script("bad_seed.py"))
            .arg(torrent)
            .arg(data_dir)
            .args(["--ip", &ip.to_string()]);
        Self::scripted("corrupt seeder", cmd, tracker, torrent, ip)
    }

    /// For the python seeders: they bind port 0, print `LISTENING <port>`, then `SEEDING` once
    /// an announce made after checking has been answered.
    fn scripted(
        name: &str,
        cmd: Command,
        tracker: &dyn TrackerProcess,
        torrent: &Path,
        ip: Ipv4Addr,
    ) -> Seeder {
        let mut proc = Proc::spawn(name, cmd);
        proc.wait_for_stdout("SEEDING", READY_TIMEOUT);
        let port = proc
            .stdout()
            .lines()
            .find_map(|l| l.strip_prefix("LISTENING ")?.trim().parse().ok())
            .expect("LISTENING <port> line");
        let addr = SocketAddrV4::new(ip, port);
        tracker.wait_for_peer(torrent, addr, READY_TIMEOUT);
        Seeder {
            proc,
            addr,
            _config: None,
        }
    }

    /// aria2c checking (`-V`) then seeding `data_dir` forever (`--seed-ratio=0.0`, no
    /// `--seed-time`), with DHT, LPD and PEX off and every socket bound to `ip`
    /// (`--interface`), so it also announces from `ip`.
    pub fn aria2(
        tracker: &dyn TrackerProcess,
        torrent: &Path,
        data_dir: &Path,
        ip: Ipv4Addr,
    ) -> Seeder {
        Self::on_free_port("aria2c seeder", tracker, torrent, ip, None, |port| {
            aria2_seeder(torrent, data_dir, ip, port, &[])
        })
    }

    /// [`Seeder::aria2`] with only the DHT to be found through: its DHT node joins through
    /// `entry` alone (see [`aria2_dht_options`]) and announces there; returns once `entry`
    /// hands out the seeder's address. Give it a torrent without trackers
    /// ([`without_trackers`](super::torrent::without_trackers)).
    pub fn aria2_dht(torrent: &Path, data_dir: &Path, ip: Ipv4Addr, entry: SocketAddrV4) -> Seeder {
        let state = tempfile::tempdir().expect("tempdir");
        let dht_port = free_udp_port();
        let options = aria2_dht_options(entry, dht_port, state.path());
        let (mut proc, addr) = start_on_free_port("aria2c DHT seeder", ip, |port| {
            aria2_seeder(torrent, data_dir, ip, port, &options)
        });
        let announced = wait_until_announced(entry, &info_hash(torrent), addr, READY_TIMEOUT);
        if let Err(why) = announced {
            proc.kill();
            panic!(
                "the aria2c seeder never announced: {why}\n{}",
                proc.report()
            );
        }
        Seeder {
            proc,
            addr,
            _config: Some(state),
        }
    }

    /// transmission-cli 3.00 verifying then seeding `data_dir`. It reads `settings.json` from
    /// its config dir (`-g`), where we bind it to `ip`, set the peer port, and turn off DHT,
    /// LPD, PEX, uTP, port mapping and RPC. Its tracker requests are bound to `ip` too.
    ///
    /// Transmission never dials 127.0.0.0/8 peers itself, it only accepts them; and it
    /// unchokes on its 10 s rechoke timer, so a leecher may wait up to ~10 s for data.
    pub fn transmission(
        tracker: &dyn TrackerProcess,
        torrent: &Path,
        data_dir: &Path,
        ip: Ipv4Addr,
    ) -> Seeder {
        let config = tempfile::tempdir().expect("tempdir");
        let config_path = config.path().to_path_buf();
        Self::on_free_port(
            "transmission seeder",
            tracker,
            torrent,
            ip,
            Some(config),
            |port| transmission_cli(&config_path, data_dir, torrent, ip, port),
        )
    }

    /// Starts a client that cannot bind port 0 (see [`start_on_free_port`]) and waits until
    /// the tracker lists it.
    fn on_free_port(
        name: &str,
        tracker: &dyn TrackerProcess,
        torrent: &Path,
        ip: Ipv4Addr,
        config: Option<tempfile::TempDir>,
        command: impl Fn(u16) -> Command,
    ) -> Seeder {
        let (proc, addr) = start_on_free_port(name, ip, command);
        tracker.wait_for_peer(torrent, addr, READY_TIMEOUT);
        Seeder {
            proc,
            addr,
            _config: config,
        }
    }

    /// Where leechers reach this seeder.
    pub fn addr(&self) -> SocketAddrV4 {
        self.addr
    }

    /// Kills the seeder at once (SIGKILL), as a peer that vanishes mid-transfer.
    pub fn kill(&mut self) {
        self.proc.kill();
    }

    /// Stops the seeder and returns how many payload bytes it uploaded, for the python
    /// seeders, which print `uploaded=N` on SIGTERM; `None` for the others.
    pub fn stop(mut self) -> Option<u64> {
        self.proc.terminate(Duration::from_secs(5));
        self.proc
            .stdout()
            .lines()
            .find_map(|l| l.strip_prefix("uploaded=")?.trim().parse().ok())
    }

    /// The seeder's captured output, for failure messages.
    pub fn report(&self) -> String {
        self.proc.report()
    }
}

/// Downloads `torrent` into `out_dir` with aria2c as a leecher (the reference client the
/// harness self-test and the benchmark compare against); panics with its output on failure.
pub fn aria2_download(torrent: &Path, out_dir: &Path, ip: Ipv4Addr, timeout: Duration) {
    let mut cmd = Command::new("aria2c");
    cmd.args([
        "--seed-time=0",
        "--enable-dht=false",
        "--enable-dht6=false",
        "--bt-enable-lpd=false",
        "--enable-peer-exchange=false",
        "--console-log-level=warn",
        "--summary-interval=0",
        &format!("--interface={ip}"),
        &format!("--listen-port={}", free_port()),
        &format!("--stop-with-process={}", std::process::id()),
        "-d",
    ])
    .arg(out_dir)
    .arg(torrent);
    let mut proc = Proc::spawn("aria2c leecher", cmd);
    match proc.wait_exit(timeout) {
        Ok(status) if status.success() => {}
        Ok(status) => panic!("aria2c leecher failed ({status})\n{}", proc.report()),
        Err(why) => panic!("{why}"),
    }
}

/// `aria2c -V --seed-ratio=0.0 ... -d DATA_DIR TORRENT` listening on `ip:port`, with DHT,
/// LPD and PEX off, then `extra` (later options win).
fn aria2_seeder(
    torrent: &Path,
    data_dir: &Path,
    ip: Ipv4Addr,
    port: u16,
    extra: &[String],
) -> Command {
    let mut cmd = Command::new("aria2c");
    cmd.args([
        "--check-integrity=true",
        "--seed-ratio=0.0",
        "--enable-dht=false",
        "--enable-dht6=false",
        "--bt-enable-lpd=false",
        "--enable-peer-exchange=false",
        "--file-allocation=none",
        "--console-log-level=warn",
        "--summary-interval=0",
        &format!("--listen-port={port}"),
        &format!("--interface={ip}"),
        // Dies with the test binary even if it is SIGKILLed and Drop never runs.
        &format!("--stop-with-process={}", std::process::id()),
    ])
    .args(extra)
    .arg("-d")
    .arg(data_dir)
    .arg(torrent);
    cmd
}

/// For clients that cannot bind port 0: picks a free port, starts `command(port)`, and checks
/// that the process really listens on `ip:port`; if another process took the port, tries
/// again. Returns the process and its listening address.
pub fn start_on_free_port(
    name: &str,
    ip: Ipv4Addr,
    command: impl Fn(u16) -> Command,
) -> (Proc, SocketAddrV4) {
    for _attempt in 0..3 {
        let addr = SocketAddrV4::new(ip, free_port());
        let mut proc = Proc::spawn(name, command(addr.port()));
        let pid = proc.pid();
        let listening = proc.try_wait_until(
            Duration::from_secs(10),
            &format!("a listener on {addr}"),
            |_| listening_ports(pid).contains(&addr),
        );
        match listening {
            Ok(()) => return (proc, addr),
            Err(why) => eprintln!("{why}\nretrying on another port"),
        }
    }
    panic!("{name} could not be started on a free port");
}

/// `transmission-cli -g CONFIG -w DIR TORRENT`, after writing `CONFIG/settings.json`: bound
/// to `ip:port` (peers and tracker requests), with DHT, LPD, PEX, uTP, port mapping, RPC and
/// every speed, ratio and idle limit off. It seeds or downloads depending on what DIR holds,
/// and keeps running (seeding) when the download is complete.
pub fn transmission_cli(
    config: &Path,
    dir: &Path,
    torrent: &Path,
    ip: Ipv4Addr,
    port: u16,
) -> Command {
    let settings = format!(
        r#"{{
  "bind-address-ipv4": "{ip}",
  "bind-address-ipv6": "::1",
  "peer-port": {port},
  "peer-port-random-on-start": false,
  "dht-enabled": false,
  "lpd-enabled": false,
  "pex-enabled": false,
  "utp-enabled": false,
  "port-forwarding-enabled": false,
  "rpc-enabled": false,
  "speed-limit-up-enabled": false,
  "ratio-limit-enabled": false,
  "idle-seeding-limit-enabled": false
}}"#
    );
    fs::write(config.join("settings.json"), settings).unwrap();
    let mut cmd = Command::new("transmission-cli");
    cmd.arg("-g").arg(config).arg("-w").arg(dir).arg(torrent);
    cmd
}

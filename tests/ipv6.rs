//! IPv6 (BEP 7) on `[::1]` against libtorrent, both ways: smalltorrent downloads from a
//! libtorrent seeder it learns of through `smalltorrent tracker`'s `peers6` (the tracker
//! on `[::1]` too) or from `--peer [::1]:PORT`; a libtorrent leecher on `::1` downloads
//! from a smalltorrent seeder on its default, dual-stack listener, which IPv4 peers reach
//! as well. And the hostile case: a tracker whose `peers6` is garbage.

mod support;

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::{Ipv6Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use support::seeders::script;
use support::smalltorrent::listening_socket;
use support::*;

/// `smalltorrent tracker` with its HTTP side on `[::1]` (port 0): killed on drop.
struct Ipv6Tracker {
    proc: Proc,
    url: String,
}

impl Ipv6Tracker {
    fn start() -> Ipv6Tracker {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_smalltorrent"));
        cmd.args(["tracker", "--http", "[::1]:0", "--udp", "127.0.0.1:0"])
            .args(["--interval", "60"]);
        let mut proc = Proc::spawn("smalltorrent tracker [::1]", cmd);
        proc.wait_for_stdout("udp tracker on", secs(10));
        let url = proc
            .stdout()
            .lines()
            .find_map(|l| l.strip_prefix("http tracker on ").map(str::to_string))
            .unwrap_or_else(|| panic!("no http line:\n{}", proc.report()));
        assert!(url.starts_with("http://[::1]:"), "{url}");
        Ipv6Tracker { proc, url }
    }
}

/// A payload of `size` bytes in `dir/data` and its torrent (16 KiB pieces) announcing to
/// `tracker`.
fn payload(dir: &Path, size: u64, tracker: &str) -> (PathBuf, PathBuf) {
    let data = make_file(&dir.join("data"), "payload.bin", size, 6);
    let torrent = dir.join("t.torrent");
    let created = run_smalltorrent(
        [
            "create".as_ref(),
            data.as_os_str(),
            "-t".as_ref(),
            tracker.as_ref(),
            "--piece-size".as_ref(),
            "16K".as_ref(),
            "-q".as_ref(),
            "-o".as_ref(),
            torrent.as_os_str(),
        ],
        secs(60),
    );
    assert!(created.status.success(), "{created:?}");
    (data, torrent)
}

/// libtorrent seeding `data`'s folder on `ip`; returns once its tracker has answered an
/// announce made with the data checked, and its port.
fn lt_seeder(torrent: &Path, data: &Path, ip: &str) -> (Proc, u16) {
    let mut cmd = Command::new(PYTHON);
    cmd.arg(script("lt_seed.py"))
        .arg(torrent)
        .arg(data.parent().unwrap())
        .args(["--ip", ip]);
    let mut proc = Proc::spawn(&format!("libtorrent seeder {ip}"), cmd);
    proc.wait_for_stdout("SEEDING", secs(60));
    let port = proc
        .stdout()
        .lines()
        .find_map(|l| l.strip_prefix("LISTENING ")?.trim().parse().ok())
        .expect("LISTENING <port>");
    (proc, port)
}

/// Downloads `torrent` into `out` with `args`, logging at info and the peer manager at
/// debug (`peer ADDR: thread started` for each connection); returns its stderr once it
/// has exited 0.
fn download(torrent: &Path, out: &Path, args: &[&str]) -> String {
    let mut all = vec![torrent.as_os_str(), "-d".as_ref(), out.as_os_str()];
    all.extend(args.iter().map(OsStr::new));
    let mut cmd = smalltorrent_command(all);
    cmd.env("RUST_LOG", "info,smalltorrent::peer_manager=debug");
    let mut proc = Proc::spawn("smalltorrent", cmd);
    let status = proc
        .wait_exit(secs(120))
        .unwrap_or_else(|why| panic!("{why}"));
    assert!(status.success(), "exit {status}:\n{}", proc.report());
    proc.stderr()
}

#[test]
fn smalltorrent_downloads_from_libtorrent_found_through_peers6() {
    let tracker = Ipv6Tracker::start();
    let dir = tempfile::tempdir().unwrap();
    let (data, torrent) = payload(dir.path(), 3 << 20, &tracker.url);
    let (_seeder, port) = lt_seeder(&torrent, &data, "::1");
    let out = dir.path().join("out");
    // Bound to ::1, smalltorrent can only reach the seeder as the tracker lists it: in
    // `peers6`, since both announced from [::1].
    let stderr = download(&torrent, &out, &["--bind", "::1", "--port", "0"]);
    assert_same_tree(&data, &out.join("payload.bin"));
    assert!(stderr.contains("listening on [::1]:"), "{stderr}");
    let seeder = format!("[::1]:{port}");
    assert!(
        stderr.contains(&format!("peer {seeder}: thread started")),
        "no line about the seeder {seeder}:\n{stderr}\ntracker:\n{}",
        tracker.proc.report()
    );
}

#[test]
fn smalltorrent_downloads_from_libtorrent_given_as_an_ipv6_peer() {
    let tracker = Ipv6Tracker::start();
    let dir = tempfile::tempdir().unwrap();
    let (data, torrent) = payload(dir.path(), 2 << 20, &tracker.url);
    let (_seeder, port) = lt_seeder(&torrent, &data, "::1");
    let bare = without_trackers(&torrent, &dir.path().join("bare.torrent"));
    let out = dir.path().join("out");
    let peer = format!("[::1]:{port}");
    download(&bare, &out, &["--peer", &peer, "--port", "0"]);
    assert_same_tree(&data, &out.join("payload.bin"));
}

#[test]
fn libtorrent_on_ipv6_and_ipv4_download_from_the_default_dual_stack_listener() {
    let dir = tempfile::tempdir().unwrap();
    let data = make_file(&dir.path().join("data"), "payload.bin", 2 << 20, 8);
    let torrent = make_torrent(
        &data,
        "http://127.0.0.1:1/announce",
        14,
        &dir.path().join("t.torrent"),
    );
    let bare = without_trackers(&torrent, &dir.path().join("bare.torrent"));
    // No --bind: the listener is [::], both families.
    let seeder_args = [
        bare.as_os_str(),
        "-s".as_ref(),
        data.parent().unwrap().as_os_str(),
        "--port".as_ref(),
        "0".as_ref(),
    ];
    let mut seeder = spawn_smalltorrent_named("smalltorrent seeder", seeder_args);
    seeder.wait_until(secs(30), "a 'listening on' line", |p| {
        listening_socket(&p.stderr()).is_some()
    });
    let listening = listening_socket(&seeder.stderr()).unwrap();
    assert_eq!(listening.ip(), Ipv6Addr::UNSPECIFIED, "{}", seeder.stderr());
    for (ip, peer) in [
        (
            "::1",
            SocketAddr::from((Ipv6Addr::LOCALHOST, listening.port())),
        ),
        ("127.0.0.4", SocketAddr::from((ip(1), listening.port()))),
    ] {
        let out = dir.path().join(format!("out-{ip}"));
        let mut cmd = Command::new(PYTHON);
        cmd.arg(script("lt_leech.py")).arg(&bare).arg(&out).args([
            "--ip",
            ip,
            "--peer",
            &peer.to_string(),
        ]);
        let mut leecher = Proc::spawn(&format!("libtorrent leecher {ip}"), cmd);
        leecher.wait_for_stdout("DONE", secs(60));
        assert_same_tree(&data, &out.join("payload.bin"));
    }
}

/// The hostile case: an HTTP tracker (a mock: no real tracker sends garbage) whose
/// `peers6` is 18-byte entries of an unspecified address, port 0 and an IPv4-mapped copy
/// of an honest libtorrent seeder, plus 7 stray bytes. The download uses what makes sense
/// and finishes.
#[test]
fn a_peers6_list_of_garbage_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let tracker = format!("http://{}/announce", listener.local_addr().unwrap());
    // No peers, until the seeder's port is known (libtorrent's announces get this too).
    let body = Arc::new(Mutex::new(b"d8:intervali60e5:peers0:e".to_vec()));
    serve(listener, body.clone());
    let (data, torrent) = payload(dir.path(), 1 << 20, &tracker);
    let (_seeder, seeder_port) = lt_seeder(&torrent, &data, "127.0.0.2");
    let mut peers6 = Vec::new();
    // `[::]:6881`, `[::1]:0`, and the seeder as `::ffff:127.0.0.2`.
    peers6.extend_from_slice(&[0; 16]);
    peers6.extend_from_slice(&6881u16.to_be_bytes());
    peers6.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
    peers6.extend_from_slice(&0u16.to_be_bytes());
    peers6.extend_from_slice(&ip(2).to_ipv6_mapped().octets());
    peers6.extend_from_slice(&seeder_port.to_be_bytes());
    peers6.extend_from_slice(b"garbage");
    let mut garbage = format!("d8:intervali60e6:peers6{}:", peers6.len()).into_bytes();
    garbage.extend_from_slice(&peers6);
    garbage.push(b'e');
    *body.lock().unwrap() = garbage;
    let out = dir.path().join("out");
    let stderr = download(&torrent, &out, &["--bind", "127.0.0.3", "--port", "0"]);
    assert_same_tree(&data, &out.join("payload.bin"));
    assert!(
        stderr.contains("tracker sent a compact peer list of 61 bytes, not a multiple of 18"),
        "{stderr}"
    );
    // The IPv4-mapped entry was dialled as the IPv4 peer it is.
    let seeder = format!("peer 127.0.0.2:{seeder_port}: thread started");
    assert!(stderr.contains(&seeder), "{stderr}");
}

/// Answers every HTTP request on `listener` with `body`, then closes the connection.
fn serve(listener: TcpListener, body: Arc<Mutex<Vec<u8>>>) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let body = body.lock().unwrap().clone();
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
}

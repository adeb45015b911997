//! Web seeds (BEP 19) against a real HTTP server, lighttpd, started by each test on
//! 127.0.0.1: a single-file and a multi-file torrent fetched from the server alone, a
//! server and a libtorrent seeder sharing one download, and the servers that fail us (one
//! that serves corrupted bytes, one that ignores ranges, one that answers 404, one that
//! redirects in a loop, one that is not there), none of which may stall a download that a
//! peer can finish.
//!
//! The torrents are made by `smalltorrent create --web-seed URL`, in 16 KiB pieces.

mod support;

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use support::*;

/// `smalltorrent create PATH --web-seed URL...` (and `--tracker` when given) into `out`.
fn create(path: &Path, web_seeds: &[String], tracker: Option<&str>, out: &Path) -> PathBuf {
    let mut args: Vec<OsString> = vec!["create".into(), path.into()];
    for url in web_seeds {
        args.extend(["--web-seed".into(), url.into()]);
    }
    if let Some(url) = tracker {
        args.extend(["--tracker".into(), url.into()]);
    }
    args.extend(["--piece-size", "16K", "-q", "-o"].map(OsString::from));
    args.push(out.into());
    let created = run_smalltorrent(args, secs(60));
    assert!(
        created.status.success(),
        "create: {}",
        String::from_utf8_lossy(&created.stderr)
    );
    out.to_path_buf()
}

/// Downloads `torrent` into `out` from 127.0.0.3 with `RUST_LOG=info`; returns its stderr
/// once it has exited 0.
fn download(torrent: &Path, out: &Path) -> String {
    let mut cmd = smalltorrent_command([
        torrent.as_os_str(),
        "-d".as_ref(),
        out.as_os_str(),
        "--bind".as_ref(),
        "127.0.0.3".as_ref(),
        "--port".as_ref(),
        "0".as_ref(),
        "--give-up".as_ref(),
        "60".as_ref(),
    ]);
    cmd.env("RUST_LOG", "info");
    let mut proc = Proc::spawn("smalltorrent", cmd);
    let status = proc
        .wait_exit(secs(120))
        .unwrap_or_else(|why| panic!("{why}"));
    assert!(status.success(), "exit {status}:\n{}", proc.report());
    proc.stderr()
}

/// The bytes `web seed URL: N bytes delivered` reports for `url`.
fn delivered(stderr: &str, url: &str) -> u64 {
    let prefix = format!("web seed {url}: ");
    stderr
        .lines()
        .filter_map(|line| line.split_once(&prefix))
        .find_map(|(_, rest)| rest.strip_suffix(" bytes delivered"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no 'bytes delivered' line for {url}:\n{stderr}"))
}

/// Waits (lighttpd writes its access log in batches) for a request answered `status`.
fn wait_for_request(server: &WebServer, status: &str) -> Vec<String> {
    let deadline = std::time::Instant::now() + secs(10);
    loop {
        let requests = server.requests();
        if requests.iter().any(|r| r.starts_with(status)) {
            return requests;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no request answered {status}: {requests:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn a_single_file_downloads_from_a_web_seed_alone() {
    let dir = tempfile::tempdir().unwrap();
    let data = make_file(&dir.path().join("www"), "payload.bin", 3_000_017, 1);
    let server = WebServer::serve(data.parent().unwrap());
    let url = server.url("payload.bin");
    let torrent = create(
        &data,
        std::slice::from_ref(&url),
        None,
        &dir.path().join("t.torrent"),
    );
    let out = dir.path().join("out");
    let stderr = download(&torrent, &out);
    assert_same_tree(&data, &out.join("payload.bin"));
    assert!(
        stderr.contains(&format!("web seed {url}: started")),
        "{stderr}"
    );
    assert_eq!(delivered(&stderr, &url), 3_000_017);
    // Runs of at most a MiB each, by range requests.
    let requests = wait_for_request(&server, "206");
    let ranged = requests.iter().filter(|r| r.starts_with("206 ")).count();
    assert!(ranged >= 3, "{requests:?}");
}

#[test]
fn a_multi_file_torrent_maps_onto_the_servers_folders() {
    let dir = tempfile::tempdir().unwrap();
    let www = dir.path().join("www");
    let set = www.join("set");
    make_file(&set, "a b.bin", 100_003, 1);
    make_file(&set, "sub dir/c.bin", 50_001, 2);
    make_file(&set, "sub dir/empty", 0, 3);
    make_file(&set, "z.bin", 1_200_000, 4);
    let server = WebServer::serve(&www);
    // The URL names the folder above the torrent's: BEP 19 adds `set/sub%20dir/c.bin`.
    let url = server.url("");
    let torrent = create(
        &set,
        std::slice::from_ref(&url),
        None,
        &dir.path().join("t.torrent"),
    );
    let out = dir.path().join("out");
    let stderr = download(&torrent, &out);
    assert_same_tree(&set, &out.join("set"));
    assert_eq!(delivered(&stderr, &url), 100_003 + 50_001 + 1_200_000);
    let requests = wait_for_request(&server, "206");
    assert!(
        requests
            .iter()
            .any(|r| r.ends_with(" /set/sub%20dir/c.bin")),
        "{requests:?}"
    );
}

/// A tracker, a libtorrent seeder, and the torrent (with `web_seeds`) of a `size`-byte
/// payload in `dir/data`.
struct Swarm {
    _tracker: Opentracker,
    _seeder: Seeder,
    torrent: PathBuf,
    data: PathBuf,
}

fn swarm(dir: &Path, size: u64, web_seeds: &[String], seeder_rate: u32) -> Swarm {
    let mut tracker = Opentracker::start();
    let data = make_file(&dir.join("data"), "payload.bin", size, 7);
    let torrent_path = dir.join("t.torrent");
    let announce = tracker.announce_url();
    let torrent = create(&data, web_seeds, Some(&announce), &torrent_path);
    tracker.allow(&torrent);
    let options = LtOptions {
        upload_rate: seeder_rate,
        ..LtOptions::on(ip(2))
    };
    let seeder = Seeder::libtorrent(&tracker, &torrent, data.parent().unwrap(), options);
    Swarm {
        _tracker: tracker,
        _seeder: seeder,
        torrent,
        data,
    }
}

#[test]
fn a_web_seed_and_a_libtorrent_seeder_share_a_download() {
    let dir = tempfile::tempdir().unwrap();
    let size = 4 << 20;
    // The same payload make_file writes for the swarm, served at 1 MiB/s; the seeder
    // uploads at 128 KiB/s, so neither has the whole download to itself.
    let www = dir.path().join("www");
    make_file(&www, "payload.bin", size, 7);
    let server = WebServer::throttled(&www, 1024);
    let url = server.url("payload.bin");
    let swarm = swarm(dir.path(), size, std::slice::from_ref(&url), 128 << 10);
    let out = dir.path().join("out");
    let stderr = download(&swarm.torrent, &out);
    assert_same_tree(&swarm.data, &out.join("payload.bin"));
    let from_web = delivered(&stderr, &url);
    assert!(
        from_web > 0 && from_web < size,
        "the web seed delivered {from_web} of {size} bytes:\n{stderr}"
    );
}

#[test]
fn a_web_seed_that_serves_corrupted_bytes_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let size = 4 << 20;
    // Same name and length, other bytes: every piece the server sends fails its check.
    let www = dir.path().join("www");
    make_file(&www, "payload.bin", size, 99);
    let server = WebServer::serve(&www);
    let url = server.url("payload.bin");
    let swarm = swarm(dir.path(), size, std::slice::from_ref(&url), 1 << 20);
    let out = dir.path().join("out");
    let stderr = download(&swarm.torrent, &out);
    assert_same_tree(&swarm.data, &out.join("payload.bin"));
    let dropped = format!("web seed {url}: dropped, ");
    assert!(stderr.contains(&dropped), "{stderr}");
    assert!(
        stderr.contains("pieces it sent failed their hash check"),
        "{stderr}"
    );
}

#[test]
fn failing_web_seeds_never_stall_a_download_a_peer_can_finish() {
    let dir = tempfile::tempdir().unwrap();
    let size = 2 << 20;
    let www = dir.path().join("www");
    make_file(&www, "payload.bin", size, 7);
    let rangeless = WebServer::without_ranges(&www);
    fs::create_dir_all(dir.path().join("empty")).unwrap();
    let missing = WebServer::serve(&dir.path().join("empty"));
    let looping = WebServer::redirect_loop(&www);
    // Nothing listens there: connections are refused.
    let refused = format!("http://127.0.0.1:{}/payload.bin", free_port());
    let web_seeds = [
        rangeless.url("payload.bin"),
        missing.url("payload.bin"),
        refused.clone(),
        looping.url("payload.bin"),
    ];
    let swarm = swarm(dir.path(), size, &web_seeds, 512 << 10);
    let out = dir.path().join("out");
    let stderr = download(&swarm.torrent, &out);
    assert_same_tree(&swarm.data, &out.join("payload.bin"));
    // Each failure is logged with its cause, and the web seed waits before it tries again.
    let complaints = [
        (
            &web_seeds[0],
            "the server answered status 200 without the range",
        ),
        (&web_seeds[1], "the server answered 404"),
        (&refused, "Connection refused (os error 111)"),
        (
            &web_seeds[3],
            "Too Many Redirects: reached max redirects (5)",
        ),
    ];
    for (url, cause) in complaints {
        let logged = stderr.lines().any(|line| {
            line.contains(&format!("web seed {url}: "))
                && line.contains(&format!("{cause}; trying again in"))
        });
        assert!(logged, "no '{url}: {cause}; trying again':\n{stderr}");
    }
    for url in &web_seeds {
        assert_eq!(delivered(&stderr, url), 0, "{url}");
    }
}

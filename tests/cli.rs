//! The command line as a user meets it: help, `info` (of a torrent file and of a magnet
//! link), and every way a download can fail, each ending with one clear line and the
//! documented exit code.

mod support;

use ::smalltorrent::magnet::Magnet;
use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::time::Instant;
use support::*;

const MIB: u64 = 1 << 20;

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A port nothing listens on (bound, read, released).
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn help_explains_every_option() {
    let output = run_smalltorrent(["--help"], secs(10));
    assert!(output.status.success());
    let text = stdout(&output);
    for option in [
        "-d, --dir",
        "-q, --quiet",
        "--peer",
        "--port",
        "--max-peers",
        "--give-up",
        "--super-seed",
        "info",
    ] {
        assert!(
            text.contains(option),
            "--help does not mention {option}:\n{text}"
        );
    }
    let output = run_smalltorrent(["info", "--help"], secs(10));
    assert!(output.status.success());
    assert!(stdout(&output).contains("--json"));
}

#[test]
fn a_bad_command_line_exits_2() {
    let output = run_smalltorrent(["--max-peers", "many", "x.torrent"], secs(10));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--max-peers needs a number, got 'many'"));
}

#[test]
fn a_bad_upload_rate_exits_2_and_help_shows_the_option() {
    let output = run_smalltorrent(["--max-upload-rate", "fast", "x.torrent"], secs(10));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output)
            .contains("--max-upload-rate needs bytes per second such as 500K or 2M, got 'fast'"),
        "{}",
        stderr(&output)
    );
    let help = stdout(&run_smalltorrent(["--help"], secs(10)));
    assert!(help.contains("--max-upload-rate RATE"), "{help}");
}

#[test]
fn an_unreadable_torrent_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.torrent");
    let output = run_smalltorrent([missing.as_os_str()], secs(10));
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(text.contains("cannot read torrent file"), "{text}");
    assert!(text.contains("missing.torrent"), "{text}");

    let garbage = dir.path().join("garbage.torrent");
    fs::write(&garbage, b"this is not bencode").unwrap();
    let output = run_smalltorrent([garbage.as_os_str()], secs(10));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("invalid torrent"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        stderr(&output).lines().count(),
        1,
        "one line: {}",
        stderr(&output)
    );
}

/// A small torrent whose only tracker is `announce`, with its payload next to it.
fn torrent_for(dir: &Path, announce: &str, size: u64) -> (std::path::PathBuf, std::path::PathBuf) {
    let data = make_file(&dir.join("data"), "payload.bin", size, 42);
    let torrent = mktorrent(&data, announce, 16, &dir.join("t.torrent"));
    (data, torrent)
}

#[test]
fn no_tracker_answering_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let announce = format!("http://127.0.0.1:{}/announce", closed_port());
    let (_, torrent) = torrent_for(dir.path(), &announce, MIB);
    let out = dir.path().join("out");
    let output = run_smalltorrent(
        [torrent.as_os_str(), "-d".as_ref(), out.as_os_str()],
        secs(60),
    );
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(text.contains("no tracker answered"), "{text}");
    assert!(
        text.contains(&announce),
        "the line names the tracker: {text}"
    );
}

#[test]
fn a_swarm_without_seeders_gives_up_with_no_peers() {
    let mut tracker = Opentracker::start();
    let dir = tempfile::tempdir().unwrap();
    let (_, torrent) = torrent_for(dir.path(), &tracker.announce_url(), MIB);
    tracker.allow(&torrent);
    let out = dir.path().join("out");
    let started = Instant::now();
    let output = run_smalltorrent(
        [
            torrent.as_os_str(),
            "-d".as_ref(),
            out.as_os_str(),
            "--give-up".as_ref(),
            "2".as_ref(),
        ],
        secs(60),
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("no peers"), "{}", stderr(&output));
    assert!(
        started.elapsed() < secs(30),
        "gave up in {:?}",
        started.elapsed()
    );
}

#[test]
fn a_download_folder_that_is_a_file_is_a_disk_error() {
    let dir = tempfile::tempdir().unwrap();
    let announce = format!("http://127.0.0.1:{}/announce", closed_port());
    let (_, torrent) = torrent_for(dir.path(), &announce, MIB);
    let not_a_folder = dir.path().join("file");
    fs::write(&not_a_folder, b"x").unwrap();
    let output = run_smalltorrent(
        [torrent.as_os_str(), "-d".as_ref(), not_a_folder.as_os_str()],
        secs(30),
    );
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(text.contains("disk error: cannot create folder"), "{text}");
}

#[test]
fn info_prints_what_the_torrent_holds() {
    let dir = tempfile::tempdir().unwrap();
    let payload = make_tree(&dir.path().join("data"));
    let torrent = mktorrent(
        &payload,
        "http://127.0.0.1:1/announce",
        15,
        &dir.path().join("t.torrent"),
    );
    let hex: String = info_hash(&torrent)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();

    let output = run_smalltorrent(["info".as_ref(), torrent.as_os_str()], secs(10));
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains(&hex), "info-hash {hex} missing:\n{text}");
    assert!(text.contains("http://127.0.0.1:1/announce"), "{text}");
    assert!(text.contains("mktorrent"), "created by: {text}");
    let name = payload.file_name().unwrap().to_string_lossy().into_owned();
    assert!(text.contains(&name), "{text}");
    // The magnet line names the same torrent, by name and tracker too.
    let link = text
        .lines()
        .find_map(|line| line.strip_prefix("Magnet:      "))
        .unwrap_or_else(|| panic!("no magnet line:\n{text}"));
    let magnet = Magnet::parse(link).unwrap();
    assert_eq!(::smalltorrent::metainfo::hex(&magnet.info_hash), hex);
    assert_eq!(magnet.name, Some(name));
    assert_eq!(magnet.trackers, ["http://127.0.0.1:1/announce"]);

    let output = run_smalltorrent(
        ["info".as_ref(), "--json".as_ref(), torrent.as_os_str()],
        secs(10),
    );
    assert!(output.status.success());
    let json = stdout(&output);
    assert!(
        json.contains(&format!("\"info_hash\": \"{hex}\"")),
        "{json}"
    );
    assert!(json.trim_start().starts_with('{') && json.trim_end().ends_with('}'));
    assert!(json.contains(&format!("\"magnet\": \"{link}\"")), "{json}");
}

/// A link with every parameter `info` shows (the info-hash in base32); its hex is
/// `MAGNET_HEX`.
const MAGNET: &str = "magnet:?xt=urn:btih:YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK&dn=Big+Buck+Bunny\
                      &xl=276134947&tr=udp%3A%2F%2F127.0.0.1%3A1&tr=http://127.0.0.1:2/announce\
                      &x.pe=127.0.0.2:6881&x.pe=[::1]:6882&ws=http://127.0.0.1:3/";
const MAGNET_HEX: &str = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";

#[test]
fn info_prints_what_a_magnet_link_holds() {
    let output = run_smalltorrent(["info", MAGNET], secs(10));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stderr(&output), "");
    let text = stdout(&output);
    for line in [
        "Name:        Big Buck Bunny\n",
        &format!("Info hash:   {MAGNET_HEX}\n"),
        "Total size:  263.3 MiB (276134947 bytes)\n",
        "  tier 1: udp://127.0.0.1:1\n  tier 2: http://127.0.0.1:2/announce\n",
        "Peers:\n  127.0.0.2:6881\n  [::1]:6882\n",
        "Files:       not in a magnet link; known once the metadata is fetched from a peer\n",
    ] {
        assert!(text.contains(line), "missing {line:?}:\n{text}");
    }

    let output = run_smalltorrent(["info", "--json", MAGNET], secs(10));
    assert!(output.status.success(), "{}", stderr(&output));
    let json = stdout(&output);
    assert!(
        json.contains(&format!("\"info_hash\": \"{MAGNET_HEX}\"")),
        "{json}"
    );
    assert!(json.contains("\"files\": null"), "{json}");
}

#[test]
fn a_magnet_link_scrapes_its_trackers() {
    let tracker = format!("http://127.0.0.1:{}/announce", closed_port());
    let link = format!("magnet:?xt=urn:btih:{MAGNET_HEX}&tr={tracker}");
    let output = run_smalltorrent(["info", "--scrape", &link], secs(30));
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains(&format!("scrape:\n  {tracker}: failed: ")),
        "{text}"
    );

    let bare = format!("magnet:?xt=urn:btih:{MAGNET_HEX}");
    let output = run_smalltorrent(["info", "--scrape", &bare], secs(10));
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "smalltorrent: the magnet link lists no tracker to scrape\n"
    );
}

/// A malformed link is a bad argument: exit 2 and one line saying what is wrong.
#[test]
fn a_malformed_magnet_link_is_one_line_and_exit_2() {
    let cases = [
        (
            "magnet:",
            "not a magnet link: it must start with 'magnet:?'",
        ),
        (
            "magnet:?dn=no+hash",
            "invalid magnet link: it has no 'xt' parameter",
        ),
        (
            "magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a8",
            "invalid magnet link: the info-hash has 38 characters; expected 40 hex digits or \
             32 base32 characters",
        ),
        (
            "magnet:?xt=urn:btmh:1220c12fe1c06bba254a9dc9f519b335aa7c1367a88a",
            "smalltorrent needs a v1 info-hash (xt=urn:btih:)",
        ),
        (
            "magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&tr=http://t/%zz",
            "invalid magnet link: 'tr' has a bad percent-escape '%zz'",
        ),
    ];
    for (link, expected) in cases {
        let output = run_smalltorrent(["info", link], secs(10));
        let text = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{link}: {text}");
        assert!(text.starts_with("smalltorrent: "), "{link}: {text}");
        assert!(text.contains(expected), "{link}: {text}");
        assert_eq!(text.lines().count(), 1, "{link}: one line: {text}");
        assert_eq!(stdout(&output), "", "{link}");
    }
}

/// Ctrl-C mid-download: exit 130 with "interrupted", the files stay at full size, and a
/// second run picks up the verified pieces and finishes.
#[test]
fn ctrl_c_stops_cleanly_and_a_rerun_finishes() {
    let mut tracker = Opentracker::start();
    let dir = tempfile::tempdir().unwrap();
    let size = 16 * MIB;
    let (data, torrent) = torrent_for(dir.path(), &tracker.announce_url(), size);
    tracker.allow(&torrent);
    let seeder = Seeder::libtorrent(
        &tracker,
        &torrent,
        data.parent().unwrap(),
        LtOptions {
            upload_rate: 2 * MIB as u32,
            ..LtOptions::on(ip(2))
        },
    );
    let out = dir.path().join("out");
    let args = [torrent.as_os_str(), "-d".as_ref(), out.as_os_str()];
    let mut client = spawn_smalltorrent(args);
    let file = out.join("payload.bin");
    client.wait_until(secs(30), "some data to arrive", |_| {
        fs::read(&file).is_ok_and(|bytes| bytes.iter().any(|&b| b != 0))
    });
    support::process::send_signal(client.pid(), "INT");
    let status = client
        .wait_exit(secs(30))
        .unwrap_or_else(|why| panic!("{why}"));
    assert_eq!(status.code(), Some(130), "{}", client.report());
    assert!(
        client.stderr().contains("interrupted"),
        "{}",
        client.report()
    );
    assert_eq!(
        fs::metadata(&file).unwrap().len(),
        size,
        "file created at its final size"
    );
    drop(seeder);

    // Rerun with an unthrottled seeder: it checks what is there and fetches the rest.
    let _seeder = Seeder::libtorrent(
        &tracker,
        &torrent,
        data.parent().unwrap(),
        LtOptions::on(ip(3)),
    );
    let output = run_smalltorrent(args, secs(60));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_same_tree(&data, &file);
}

#[test]
fn a_complete_download_is_recognised_without_any_peer() {
    let dir = tempfile::tempdir().unwrap();
    let announce = format!("http://127.0.0.1:{}/announce", closed_port());
    let (data, torrent) = torrent_for(dir.path(), &announce, 3 * MIB + 5);
    // The data folder already holds the payload: nothing to fetch, no tracker needed.
    let output = run_smalltorrent(
        [
            torrent.as_os_str(),
            "-d".as_ref(),
            data.parent().unwrap().as_os_str(),
        ],
        secs(30),
    );
    assert!(output.status.success(), "{}", stderr(&output));
}

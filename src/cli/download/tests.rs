//! Tests of the download command line: every option parsed, and every bad one refused with
//! a line that says what is wrong.

use super::*;

fn args(list: &[&str]) -> Vec<OsString> {
    list.iter().map(OsString::from).collect()
}

#[test]
fn a_download_with_every_option() {
    let options = parse(args(&[
        "-d",
        "out",
        "--port",
        "7000",
        "--max-peers",
        "9",
        "--peer",
        "127.0.0.2:6881",
        "--peer",
        "127.0.0.3:6881",
        "--tracker",
        "udp://127.0.0.1:6969/announce",
        "--tracker",
        "http://t.example/announce",
        "--encryption",
        "prefer",
        "x.torrent",
    ]))
    .unwrap()
    .unwrap()
    .options;
    assert_eq!(options.source, Source::Torrent(PathBuf::from("x.torrent")));
    assert_eq!(options.dir, PathBuf::from("out"));
    assert_eq!((options.port, options.max_peers), (7000, 9));
    assert_eq!(options.peers.len(), 2);
    assert_eq!(options.encryption, Encryption::Prefer);
    assert_eq!(
        options.trackers,
        ["udp://127.0.0.1:6969/announce", "http://t.example/announce"]
    );
}

#[test]
fn a_magnet_link_gives_the_info_hash_then_its_trackers_and_peers_first() {
    let hash = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";
    let link = format!(
        "magnet:?xt=urn:btih:{hash}&dn=A+b&tr=udp%3A%2F%2F127.0.0.1%3A1&tr=wss%3A%2F%2Fx\
         &x.pe=127.0.0.9%3A7000"
    );
    let parsed = parse(args(&[
        &link,
        "--tracker",
        "udp://127.0.0.1:1",
        "--tracker",
        "http://127.0.0.1:2/announce",
        "--peer",
        "127.0.0.2:6881",
    ]))
    .unwrap()
    .unwrap();
    assert_eq!(parsed.link.as_deref(), Some(link.as_str()));
    let mut options = parsed.options;
    use_magnet(&mut options, &link).unwrap();
    let Source::Magnet { info_hash, name } = &options.source else {
        panic!("{:?}", options.source);
    };
    assert_eq!(info_hash[0], 0xc1);
    assert_eq!(name.as_deref(), Some("A b"));
    // The link's trackers first, each once; a scheme we do not speak is skipped.
    assert_eq!(
        options.trackers,
        ["udp://127.0.0.1:1", "http://127.0.0.1:2/announce"]
    );
    let peers: Vec<String> = options.peers.iter().map(|p| p.to_string()).collect();
    assert_eq!(peers, ["127.0.0.9:7000", "127.0.0.2:6881"]);
}

#[test]
fn a_malformed_magnet_link_is_an_error_naming_why() {
    let mut options = parse(args(&["x.torrent"])).unwrap().unwrap().options;
    let error = use_magnet(&mut options, "magnet:?xt=urn:btih:1234").unwrap_err();
    assert!(
        error.to_string().starts_with("invalid magnet link"),
        "{error}"
    );
    assert_eq!(options.source, Source::Torrent(PathBuf::from("x.torrent")));
}

#[test]
fn the_rates_take_units_of_1024_and_0_is_no_limit() {
    for option in ["--max-upload-rate", "--max-download-rate"] {
        let rate = |value: &str| {
            let download = parse(args(&[option, value, "x.torrent"]));
            download.map(|d| {
                let options = d.unwrap().options;
                let (up, down) = (options.max_upload_rate, options.max_download_rate);
                if option == "--max-upload-rate" {
                    assert_eq!(down, None);
                    up
                } else {
                    assert_eq!(up, None);
                    down
                }
            })
        };
        assert_eq!(rate("2M"), Ok(Some(2 << 20)));
        assert_eq!(rate("500k"), Ok(Some(500 << 10)));
        assert_eq!(rate("100000"), Ok(Some(100_000)));
        assert_eq!(rate("0"), Ok(None));
        for bad in ["fast", "2M/s", "-1", "1.5M", ""] {
            assert_eq!(
                rate(bad),
                Err(format!(
                    "{option} needs bytes per second such as 500K or 2M, got '{bad}'"
                )),
            );
        }
    }
    let plain = parse(args(&["x.torrent"])).unwrap().unwrap();
    assert_eq!(plain.options.max_upload_rate, None);
    assert_eq!(plain.options.max_download_rate, None);
    assert!(plain.trace.is_none() && !plain.options.tracer.is_enabled());
}

#[test]
fn bad_command_lines_say_what_is_wrong() {
    assert_eq!(
        parse(args(&[])).unwrap_err(),
        "missing the .torrent file or magnet link to use"
    );
    assert_eq!(
        parse(args(&["--port", "x", "a.torrent"])).unwrap_err(),
        "--port needs a number, got 'x'"
    );
    assert_eq!(
        parse(args(&["--encryption", "rc4", "a.torrent"])).unwrap_err(),
        "--encryption is plain or prefer, got 'rc4'"
    );
    assert!(
        parse(args(&["--json", "a.torrent"]))
            .unwrap_err()
            .contains("--json")
    );
    assert!(
        parse(args(&["--peer", "nohost", "a.torrent"]))
            .unwrap_err()
            .contains("--peer nohost")
    );
    assert!(
        parse(args(&["--tracker", "t.example:80", "a.torrent"]))
            .unwrap_err()
            .contains("--tracker t.example:80: not an http://")
    );
}

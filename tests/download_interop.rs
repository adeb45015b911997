//! Acceptance tests: smalltorrent downloads from real BitTorrent clients on loopback.
//!
//! Each test starts opentracker and one or more seeders (libtorrent, aria2c,
//! transmission-cli, or a lying peer), runs `smalltorrent FILE.torrent -d OUT -q`, and
//! requires exit status 0 and a byte-identical copy of the payload, empty files included.
//!
//! To check these tests themselves with a known-good client in smalltorrent's place:
//! `SMALLTORRENT_BIN=$PWD/tests/support/aria2_as_smalltorrent.sh cargo test --test download_interop`

mod support;

use std::path::PathBuf;
use std::process::Output;
use std::thread;
use std::time::{Duration, Instant};
use support::*;

const MIB: u64 = 1 << 20;

/// A tracker and a torrent whose payload is on disk (see [`Published`]).
struct Shared(Published);

impl std::ops::Deref for Shared {
    type Target = Published;
    fn deref(&self) -> &Published {
        &self.0
    }
}

impl Shared {
    fn single_file(size: u64, piece_log2: u32) -> Shared {
        Shared(Published::single_file(size, piece_log2))
    }

    fn multi_file() -> Shared {
        Shared(Published::multi_file())
    }

    fn libtorrent(&self, opts: LtOptions) -> Seeder {
        Seeder::libtorrent(&self.tracker, &self.torrent, &self.data_dir, opts)
    }

    fn aria2(&self, ip: std::net::Ipv4Addr) -> Seeder {
        Seeder::aria2(&self.tracker, &self.torrent, &self.data_dir, ip)
    }

    fn transmission(&self, ip: std::net::Ipv4Addr) -> Seeder {
        Seeder::transmission(&self.tracker, &self.torrent, &self.data_dir, ip)
    }

    /// A peer that claims to have every piece and corrupts whatever it sends.
    fn corrupt_seeder(&self, ip: std::net::Ipv4Addr) -> Seeder {
        Seeder::corrupt(&self.tracker, &self.torrent, &self.data_dir, ip)
    }

    fn out_dir(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    /// Where the download of [`Swarm::payload`] must end up.
    fn downloaded(&self) -> PathBuf {
        self.out_dir().join(self.payload.file_name().unwrap())
    }

    fn smalltorrent_args(&self) -> Vec<std::ffi::OsString> {
        vec![
            self.torrent.clone().into(),
            "-d".into(),
            self.out_dir().into(),
            "-q".into(),
        ]
    }

    /// Runs smalltorrent to completion and checks the result: exit 0, nothing on stdout
    /// (`-q`), and a byte-identical payload.
    fn download(&self, timeout: Duration) -> Output {
        let output = run_smalltorrent(self.smalltorrent_args(), timeout);
        self.check(&output);
        output
    }

    fn check(&self, output: &Output) {
        assert!(
            output.status.success(),
            "smalltorrent failed ({}); stderr:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        assert_same_tree(&self.payload, &self.downloaded());
    }
}

/// 6 MiB and a few bytes: the last piece is short and not a whole number of blocks.
const ODD_SIZE: u64 = 6 * MIB + 12_345;

#[test]
fn single_file_from_libtorrent() {
    let shared = Shared::single_file(ODD_SIZE, 16);
    let _seeder = shared.libtorrent(LtOptions::on(ip(2)));
    shared.download(secs(60));
}

#[test]
fn multi_file_from_libtorrent() {
    let shared = Shared::multi_file();
    let _seeder = shared.libtorrent(LtOptions::on(ip(2)));
    shared.download(secs(60));
}

#[test]
fn single_file_from_aria2() {
    let shared = Shared::single_file(ODD_SIZE, 16);
    let _seeder = shared.aria2(ip(4));
    shared.download(secs(60));
}

#[test]
fn multi_file_from_aria2() {
    let shared = Shared::multi_file();
    let _seeder = shared.aria2(ip(4));
    shared.download(secs(60));
}

/// Transmission only accepts loopback peers (it never dials 127/8), and unchokes on a 10 s
/// timer: smalltorrent must dial it and wait for the unchoke.
#[test]
fn single_file_from_transmission() {
    let shared = Shared::single_file(ODD_SIZE, 16);
    let _seeder = shared.transmission(ip(3));
    shared.download(secs(90));
}

#[test]
fn multi_file_from_transmission() {
    let shared = Shared::multi_file();
    let _seeder = shared.transmission(ip(3));
    shared.download(secs(90));
}

/// With libtorrent throttled to 2 MiB/s and aria2 unthrottled, a client that uses both peers
/// gets some but not all of the payload from libtorrent.
// TODO: once smalltorrent logs peer addresses under RUST_LOG=debug, also check its stderr
// names both 127.0.0.2 and 127.0.0.4, which would prove the aria2 side directly.
#[test]
fn two_seeders_at_once_are_both_used() {
    let size = 16 * MIB + 7;
    let shared = Shared::single_file(size, 16);
    let throttled = shared.libtorrent(LtOptions {
        upload_rate: 2 * MIB as u32,
        ..LtOptions::on(ip(2))
    });
    let _aria2 = shared.aria2(ip(4));
    shared.download(secs(90));
    let from_libtorrent = throttled
        .stop()
        .expect("libtorrent seeder reports its upload");
    assert!(
        from_libtorrent > 0,
        "smalltorrent downloaded nothing from the libtorrent seeder"
    );
    assert!(
        from_libtorrent < size,
        "smalltorrent downloaded everything from the libtorrent seeder, nothing from aria2"
    );
}

/// Two seeders throttled to 4 MiB/s each serve 64 MiB (about 8 s together); one is stopped
/// 3 s in, and smalltorrent must finish from the other.
#[test]
fn seeder_leaving_mid_download() {
    let size = 64 * MIB + 3;
    let shared = Shared::single_file(size, 18);
    let rate = 4 * MIB as u32;
    let leaving = shared.libtorrent(LtOptions {
        upload_rate: rate,
        ..LtOptions::on(ip(2))
    });
    let staying = shared.libtorrent(LtOptions {
        upload_rate: rate,
        ..LtOptions::on(ip(3))
    });

    let mut client = spawn_smalltorrent(shared.smalltorrent_args());
    let started = Instant::now();
    while started.elapsed() < secs(3) && client.exited().is_none() {
        thread::sleep(Duration::from_millis(50));
    }
    assert!(
        client.exited().is_none(),
        "smalltorrent exited within 3 s, before a seeder left; 64 MiB cannot come through \
         two 4 MiB/s seeders that fast, so it cannot have succeeded\n{}",
        client.report()
    );
    let sent_before_leaving = leaving
        .stop()
        .expect("libtorrent seeder reports its upload");
    let status = client
        .wait_exit(secs(120))
        .unwrap_or_else(|why| panic!("{why}"));
    let output = Output {
        status,
        stdout: client.stdout().into_bytes(),
        stderr: client.stderr().into_bytes(),
    };
    shared.check(&output);

    assert!(
        sent_before_leaving > 0 && sent_before_leaving < size,
        "the leaving seeder should have left mid-download, but it had sent {sent_before_leaving} of {size} bytes"
    );
    let from_staying = staying
        .stop()
        .expect("libtorrent seeder reports its upload");
    assert!(from_staying > 0, "nothing came from the staying seeder");
}

/// A peer that corrupts everything it sends, next to an honest libtorrent seeder held to
/// 2 MiB/s so that smalltorrent surely takes blocks from the liar: it must throw those
/// pieces away (they fail SHA-1), fetch them again, and still end byte-identical.
#[test]
fn corrupt_peer_is_survived() {
    let size = 4 * MIB + 999;
    let shared = Shared::single_file(size, 16);
    let _honest = shared.libtorrent(LtOptions {
        upload_rate: 2 * MIB as u32,
        ..LtOptions::on(ip(2))
    });
    let liar = shared.corrupt_seeder(ip(5));
    shared.download(secs(120));
    let corrupt_bytes_sent = liar.stop().expect("corrupt seeder reports its upload");
    assert!(
        corrupt_bytes_sent > 0,
        "smalltorrent never asked the corrupt peer for data, so this test proved nothing"
    );
}

//! Message Stream Encryption, the serving side: real clients that open with MSE download
//! from a smalltorrent seeder, and hand-written initiators (`support::mse_client`) check
//! RC4 byte by byte and try hostile openings.
//!
//! Each test starts opentracker and `smalltorrent FILE.torrent -s DATA --bind 127.0.0.2`
//! with `RUST_LOG=smalltorrent::peer=debug`, whose `encryption handshake done, <method>`
//! lines say which method each peer got. The clients:
//!
//! * aria2c as it comes: it offers plaintext and RC4 and, before smalltorrent spoke MSE,
//!   logged "Retry using legacy BitTorrent handshake" and lost a second on every seeder;
//! * aria2c with `--bt-require-crypto=true --bt-min-crypto-level=arc4`: RC4 only;
//! * libtorrent with in and out encryption forced, allowing both methods, plaintext
//!   only, or RC4 only (`lt_leech.py --encryption LEVEL`).
//!
//! And the dialling side: smalltorrent with `--encryption prefer` downloads from a
//! libtorrent seeder that requires MSE (`lt_seed.py --encryption LEVEL`), and from one
//! that refuses it, by dialling again with a plain handshake.

mod support;

use std::ffi::OsString;
use std::fs;
use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::hostile_client::{closed_within, request};
use support::mse_client::{self, Opening};
use support::*;

/// 3 MiB and a few bytes in 64 KiB pieces: the last piece is short.
const SIZE: u64 = 3 * (1 << 20) + 4321;

/// A payload, its tracker, and smalltorrent seeding it with its peer logging on.
struct Encrypted {
    published: Published,
    seeder: SmalltorrentPeer,
    addr: SocketAddrV4,
}

impl Encrypted {
    fn start() -> Encrypted {
        let published = Published::single_file(SIZE, 16);
        let seeder = SmalltorrentPeer::seed_logged(
            &published.tracker,
            &published.torrent,
            &published.data_dir,
            ip(2),
            &[],
            "smalltorrent::peer=debug",
        );
        let addr = support::smalltorrent::listening_addr(&seeder.stderr()).unwrap();
        Encrypted {
            addr: SocketAddrV4::new(ip(2), addr.port()),
            published,
            seeder,
        }
    }

    fn out_dir(&self, who: &str) -> PathBuf {
        self.published.dir.path().join(who)
    }

    fn info_hash(&self) -> [u8; 20] {
        info_hash(&self.published.torrent)
    }

    /// Requires a byte-identical copy in `out_dir`.
    fn assert_downloaded(&self, out_dir: &Path) {
        assert_same_tree(&self.published.payload, &out_dir.join("payload.bin"));
    }

    /// Waits (up to 5 s: stderr is collected by another thread) for a seeder log line
    /// about the peer from `127.0.0.n` that contains `text`.
    fn assert_logged(&self, n: u8, text: &str) {
        let peer = format!("peer {}:", ip(n));
        let found = |log: &str| log.lines().any(|l| l.contains(&peer) && l.contains(text));
        let deadline = Instant::now() + secs(5);
        while !found(&self.seeder.stderr()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = self.seeder.stderr();
        assert!(
            found(&log),
            "no log line with {peer:?} and {text:?}:\n{log}"
        );
        assert!(!log.contains("panicked"), "{log}");
    }
}

/// aria2c opens with MSE and gets it at once: its log has no fall-back to the plain
/// handshake (the second aria2 used to lose on every smalltorrent seeder), and we selected
/// plaintext.
#[test]
fn aria2_gets_mse_without_falling_back_to_plain() {
    let swarm = Encrypted::start();
    let out = swarm.out_dir("aria2");
    let log_file = swarm.published.dir.path().join("aria2.log");
    let log = aria2_download_logged(
        &swarm.published.torrent,
        &out,
        ip(3),
        secs(30),
        &[],
        &log_file,
    );
    swarm.assert_downloaded(&out);
    assert!(
        !log.contains("Retry using legacy BitTorrent handshake"),
        "aria2 fell back to a plain handshake:\n{log}"
    );
    swarm.assert_logged(3, "encryption handshake done, plaintext");
}

/// aria2c that will only take RC4 downloads over RC4, every byte encrypted.
#[test]
fn aria2_requiring_rc4_downloads_over_rc4() {
    let swarm = Encrypted::start();
    let out = swarm.out_dir("aria2");
    let log_file = swarm.published.dir.path().join("aria2.log");
    aria2_download_logged(
        &swarm.published.torrent,
        &out,
        ip(3),
        secs(30),
        &["--bt-require-crypto=true", "--bt-min-crypto-level=arc4"],
        &log_file,
    );
    swarm.assert_downloaded(&out);
    swarm.assert_logged(3, "encryption handshake done, RC4");
}

/// libtorrent with encryption forced both ways and `allowed_enc_level` = `level`.
fn libtorrent_forced(level: &str, selected: &str) {
    let swarm = Encrypted::start();
    let out = swarm.out_dir("libtorrent");
    LibtorrentLeecher::start_with(
        &swarm.published.torrent,
        &out,
        ip(4),
        None,
        &["--encryption", level],
    )
    .wait_done(secs(30));
    swarm.assert_downloaded(&out);
    swarm.assert_logged(4, &format!("encryption handshake done, {selected}"));
}

/// Offered both methods, we select plaintext.
#[test]
fn libtorrent_forcing_encryption_gets_plaintext_when_it_allows_both() {
    libtorrent_forced("both", "plaintext");
}

#[test]
fn libtorrent_forcing_encryption_offering_only_plaintext() {
    libtorrent_forced("plaintext", "plaintext");
}

#[test]
fn libtorrent_forcing_rc4_downloads_over_rc4() {
    libtorrent_forced("rc4", "RC4");
}

/// Our own initiator, written out by hand, offers only RC4 and fetches the first and the
/// last block: both decrypt to the payload's bytes.
#[test]
fn an_rc4_connection_by_hand_gets_the_right_bytes() {
    let swarm = Encrypted::start();
    let opening = Opening::honest(swarm.info_hash(), 0x02);
    let mut peer = mse_client::handshake(ip(5), swarm.addr, &opening).unwrap();
    assert_eq!(peer.selected, 0x02);
    let handshake = peer.receive(68).unwrap();
    assert_eq!(&handshake[1..20], b"BitTorrent protocol");
    assert_eq!(handshake[28..48], swarm.info_hash());

    peer.send(&[0, 0, 0, 1, 2]).unwrap(); // interested
    peer.wait_for_message(1).unwrap(); // unchoke
    let payload = fs::read(&swarm.published.payload).unwrap();
    let last_piece = (SIZE / (1 << 16)) as u32;
    let last_len = (SIZE % (1 << 16)) as u32;
    for (piece, length) in [(0u32, 16384u32), (last_piece, last_len.min(16384))] {
        peer.send(&request(piece, 0, length)).unwrap();
        let block = peer.wait_for_message(7).unwrap();
        let start = piece as usize * (1 << 16);
        assert_eq!(&block[..8], &[piece.to_be_bytes(), [0; 4]].concat()[..]);
        assert!(
            block[8..] == payload[start..start + length as usize],
            "piece {piece}: the block does not decrypt to the payload"
        );
    }
    swarm.assert_logged(5, "encryption handshake done, RC4");
}

/// Hostile openings, each from its own address: garbage after the key, a pad longer than
/// the spec's 512 bytes, and another torrent's hash. Each connection is dropped with a log
/// line saying why, and the seeder goes on serving: aria2 then downloads everything.
#[test]
fn hostile_mse_openings_are_dropped_and_the_seeder_serves_on() {
    let swarm = Encrypted::start();
    let honest = Opening::honest(swarm.info_hash(), 0x03);
    let cases = [
        (
            6,
            Opening {
                garbage: Some(vec![0x42; 600]),
                ..honest.clone()
            },
            "no HASH('req1', S) within 512 bytes of padding",
        ),
        (
            7,
            Opening {
                pad_a: 600,
                ..honest.clone()
            },
            "no HASH('req1', S) within 512 bytes of padding",
        ),
        (
            8,
            Opening {
                skey: [0xEE; 20],
                ..honest.clone()
            },
            "the peer asked for a torrent we do not share",
        ),
    ];
    for (n, opening, why) in cases {
        // The seeder may hang up while we still write: that is the expected answer too.
        if let Ok((mut stream, _, _)) = mse_client::open(ip(n), swarm.addr, &opening) {
            assert!(
                closed_within(&mut stream, secs(5)),
                "the seeder kept a connection open after {why:?}"
            );
        }
        swarm.assert_logged(n, &format!("encryption handshake failed: {why}"));
    }

    let out = swarm.out_dir("aria2");
    let log_file = swarm.published.dir.path().join("aria2.log");
    aria2_download_logged(
        &swarm.published.torrent,
        &out,
        ip(3),
        secs(30),
        &[],
        &log_file,
    );
    swarm.assert_downloaded(&out);
}

/// smalltorrent with `--encryption prefer` downloads from a libtorrent seeder started with
/// `lt_seed.py --encryption level`; returns smalltorrent's log.
fn download_preferring_mse(level: &str) -> String {
    let published = Published::single_file(SIZE, 16);
    let _seeder = Seeder::libtorrent_with(
        &published.tracker,
        &published.torrent,
        &published.data_dir,
        LtOptions::on(ip(2)),
        &["--encryption", level],
    );
    let out = published.dir.path().join("smalltorrent");
    let args: Vec<OsString> = vec![
        published.torrent.clone().into(),
        "-d".into(),
        out.clone().into(),
        "--bind".into(),
        "127.0.0.3".into(),
        "--port".into(),
        "0".into(),
        "--encryption".into(),
        "prefer".into(),
    ];
    let mut cmd = smalltorrent_command(args);
    cmd.env("RUST_LOG", "smalltorrent::peer=debug");
    let mut leecher = Proc::spawn("smalltorrent leecher", cmd);
    let status = leecher
        .wait_exit(secs(30))
        .unwrap_or_else(|why| panic!("{why}"));
    assert!(status.success(), "{}", leecher.report());
    assert_same_tree(&published.payload, &out.join("payload.bin"));
    leecher.stderr()
}

/// A seeder that requires MSE and allows both methods selects plaintext.
#[test]
fn dialling_with_mse_downloads_from_libtorrent_that_requires_it() {
    let log = download_preferring_mse("both");
    assert!(
        log.contains("encryption handshake done, plaintext"),
        "{log}"
    );
}

/// A seeder that allows only RC4: every block arrives encrypted.
#[test]
fn dialling_with_mse_downloads_over_rc4_when_the_seeder_insists() {
    let log = download_preferring_mse("rc4");
    assert!(log.contains("encryption handshake done, RC4"), "{log}");
}

/// A seeder that refuses MSE hangs up on our key; we dial again and speak plain.
#[test]
fn dialling_with_mse_falls_back_to_plain_for_a_peer_without_it() {
    let log = download_preferring_mse("off");
    assert!(log.contains("trying plain"), "{log}");
}

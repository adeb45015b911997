//! Lying peers while a magnet link's metadata is fetched (BEP 9): `smalltorrent
//! 'magnet:?xt=urn:btih:HEX&x.pe=LIAR&x.pe=HONEST' -d OUT`, where each liar is a
//! [`MetadataLiar`] playing one [`Lie`] and the honest peer a libtorrent seeder.
//!
//! The honest seeder stands behind a [`Gate`]: smalltorrent connects to it at once, but
//! hears nothing from it until the test opens the gate, so each test decides whether the
//! liar has the metadata fetch to itself first (the gate opens once the log or the liar
//! shows the lie was dealt with) or shares it with the honest peer from the start.
//!
//! Every test requires the download to complete byte-identical from the honest peer,
//! smalltorrent to exit 0 without a panic, and its peak memory (`VmHWM` in
//! `/proc/PID/status`, read every 20 ms while it runs) to stay under [`MAX_RSS_KIB`]; and it reads smalltorrent's log
//! (`RUST_LOG=smalltorrent=debug`) for the line that names the liar and why it was dropped,
//! struck or banned, or for the absence of one.
//!
//! The torrent: 160 small files with long names, so that the metadata is 5 pieces
//! (four of 16 KiB and a short one) for a payload of only 1.4 MB.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

/// The most memory smalltorrent may use for this torrent, whatever the liars do.
const MAX_RSS_KIB: u64 = 100 * 1024;
/// How long one download may take, liars included.
const DEADLINE: Duration = Duration::from_secs(20);
/// What the honest seeder sends through the gate at most, in bytes a second: the
/// metadata in 35 ms, the payload in 0.7 s, which is long enough after the metadata is
/// verified for every waiting connection to see the torrent and judge its peer's
/// `metadata_size` (each looks once a 100 ms tick). libtorrent's own upload limit would
/// also slow its handshake, by half a second.
const HONEST_RATE: u64 = 2 << 20;
/// The metadata pieces a peer is asked for at a time (`peer/magnet.rs`).
const IN_FLIGHT: u64 = 4;

/// The torrent's files: enough of them, with long enough names, for 5 metadata pieces.
const FILES: u64 = 160;

/// The size of file `i`: sizes that straddle the 32 KiB pieces.
fn file_size(i: u64) -> u64 {
    1_000 + 97 * i
}

/// The honest seeder, the gate in front of it, and what the liars need to know.
struct Swarm {
    published: Published,
    facts: Arc<MetadataFacts>,
    gate: Gate,
    _honest: Seeder,
}

/// What one download left behind.
struct Run {
    /// smalltorrent's stderr: its log.
    log: String,
}

impl Swarm {
    fn new() -> Swarm {
        let names: Vec<(String, u64)> = (0..FILES)
            .map(|i| {
                let folder = format!("{}-{}", "folder".repeat(33), i % 4);
                let file = format!("{i:03}-{}.bin", "a-rather-long-file-name-".repeat(8));
                (format!("{folder}/{file}"), file_size(i))
            })
            .collect();
        let files: Vec<(&str, u64)> = names.iter().map(|(n, s)| (n.as_str(), *s)).collect();
        let published = Published::files(15, &files);
        let facts = MetadataFacts::of(&published.torrent);
        assert_eq!(facts.piece_count(), 5, "{} bytes of metadata", facts.size());
        let honest = Seeder::libtorrent(
            &published.tracker,
            &published.torrent,
            &published.data_dir,
            LtOptions::on(ip(2)),
        );
        let gate = Gate::shut(ip(4), honest.addr(), HONEST_RATE);
        Swarm {
            published,
            facts,
            gate,
            _honest: honest,
        }
    }

    /// A liar on 127.0.0.`n`.
    fn liar(&self, n: u8, lie: Lie) -> MetadataLiar {
        MetadataLiar::listen(ip(n), lie, self.facts.clone())
    }

    /// Runs smalltorrent on a link naming `liars`, then the gate; opens the gate as soon
    /// as `open_when` holds for the log so far. Checks everything every test requires.
    fn fetch(&self, liars: &[&MetadataLiar], open_when: impl Fn(&str) -> bool) -> Run {
        let mut link = format!("magnet:?xt=urn:btih:{}", self.hex_hash());
        for addr in liars.iter().map(|l| l.addr()).chain([self.gate.addr()]) {
            link.push_str(&format!("&x.pe={addr}"));
        }
        let out = self.published.dir.path().join("out");
        let mut cmd = smalltorrent_command([
            link.as_ref(),
            "-d".as_ref(),
            out.as_os_str(),
            "-q".as_ref(),
            "--bind".as_ref(),
            "127.0.0.3".as_ref(),
            "--port".as_ref(),
            "0".as_ref(),
        ]);
        cmd.env("RUST_LOG", "smalltorrent=debug");
        let started = Instant::now();
        let mut client = Proc::spawn("smalltorrent", cmd);
        let mut peak_rss_kib = 0;
        client.wait_until(DEADLINE, "the moment to open the gate", |p| {
            peak_rss_kib = peak_rss_kib.max(p.peak_rss_kib());
            open_when(&p.stderr())
        });
        eprintln!("gate opened after {:.1?}", started.elapsed());
        self.gate.open();
        let status = loop {
            peak_rss_kib = peak_rss_kib.max(client.peak_rss_kib());
            if let Some(status) = client.exited() {
                client.kill(); // only collects the rest of its output
                break status;
            }
            if started.elapsed() > DEADLINE {
                client.kill();
                panic!("no exit within {DEADLINE:?}\n{}", client.report());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        eprintln!("download took {:.1?}", started.elapsed());
        let log = client.stderr();
        assert!(status.success(), "smalltorrent failed ({status}):\n{log}");
        assert!(!log.contains("panicked"), "{log}");
        self.check_download(&out, &log);
        assert!(self.gate.relayed() > 0, "the honest peer was never reached");
        for liar in liars {
            assert!(
                liar.accepted() > 0,
                "{:?} was never dialled:\n{log}",
                liar.lie()
            );
        }
        eprintln!("peak RSS {peak_rss_kib} KiB");
        assert!(
            peak_rss_kib < MAX_RSS_KIB,
            "peak RSS {peak_rss_kib} KiB (limit {MAX_RSS_KIB} KiB):\n{log}"
        );
        Run { log }
    }

    /// The info-hash in 40 lowercase hex digits.
    fn hex_hash(&self) -> String {
        info_hash_hex(&self.published.torrent)
    }

    /// The payload is byte-identical and the kept metadata is the torrent's.
    fn check_download(&self, out: &Path, log: &str) {
        let payload = &self.published.payload;
        let tree = out.join(payload.file_name().unwrap());
        let problems = tree_differences(payload, &tree);
        assert!(problems.is_empty(), "{}\n{log}", problems.join("\n"));
        let kept = out
            .join(".smalltorrent")
            .join(format!("{}.torrent", self.hex_hash()));
        assert_eq!(info_dict(&kept), self.facts.info, "the kept metadata");
    }
}

impl Run {
    /// Asserts smalltorrent dropped `liar` for `reason`, in its own words, and did not
    /// dial it again.
    fn assert_dropped(&self, liar: &MetadataLiar, reason: &str) {
        assert_eq!(liar.accepted(), 1, "dialled again:\n{}", self.log);
        let line = format!("peer {}: {reason}; disconnecting", liar.addr());
        assert!(
            self.log.lines().any(|l| l.ends_with(&line)),
            "no log line {line:?}:\n{}",
            self.log
        );
    }

    /// Asserts smalltorrent never dropped `liar` for misbehaving.
    fn assert_not_dropped(&self, liar: &MetadataLiar) {
        let peer = format!("peer {}", liar.addr());
        let drops: Vec<&str> = (self.log.lines())
            .filter(|l| l.contains(&peer))
            .filter(|l| l.contains("disconnecting") || l.contains("protocol violation"))
            .collect();
        assert!(drops.is_empty(), "{:?} was dropped: {drops:?}", liar.lie());
    }

    /// Asserts `n` lines contain `text`.
    fn assert_count(&self, text: &str, n: usize) {
        assert_eq!(self.count(text), n, "{text:?}:\n{}", self.log);
    }

    /// How many lines contain `text`.
    fn count(&self, text: &str) -> usize {
        self.log.lines().filter(|l| l.contains(text)).count()
    }
}

/// The peer manager's line for `liar`'s first strike.
fn first_strike(liar: &MetadataLiar) -> String {
    let addr = liar.addr();
    format!("peer {addr} sent a piece that failed its hash check (1 strikes)")
}

/// A line that drops the peer at `addr`, in the log so far.
fn dropped(log: &str, liar: &MetadataLiar) -> bool {
    let peer = format!("peer {}: ", liar.addr());
    log.lines()
        .any(|l| l.contains(&peer) && l.ends_with("; disconnecting"))
}

// ---- 1. Metadata pieces of the wrong size ----

/// One byte short, one byte long, or of a metadata one byte longer: each liar is dropped
/// at its first answer, for what it said.
#[test]
fn metadata_pieces_of_the_wrong_size_are_dropped() {
    for lie in [Lie::ShortPiece, Lie::LongPiece, Lie::WrongTotalSize] {
        let swarm = Swarm::new();
        let size = swarm.facts.size();
        let reason = match lie {
            Lie::ShortPiece => "sent metadata piece 0 of 16383 bytes (expected 16384)".into(),
            Lie::LongPiece => "sent metadata piece 0 of 16385 bytes (expected 16384)".into(),
            _ => format!(
                "sent a metadata piece of a {}-byte torrent; the metadata is {size} bytes",
                size + 1
            ),
        };
        let liar = swarm.liar(5, lie);
        let run = swarm.fetch(&[&liar], |log| dropped(log, &liar));
        run.assert_dropped(&liar, &reason);
    }
}

// ---- 2. A piece out of range, and one never asked for ----

#[test]
fn a_metadata_piece_past_the_end_is_dropped() {
    let swarm = Swarm::new();
    let liar = swarm.liar(5, Lie::PastTheEnd);
    let run = swarm.fetch(&[&liar], |log| dropped(log, &liar));
    run.assert_dropped(&liar, "sent metadata piece 5, which we did not ask it for");
}

/// Piece 0 comes right behind the liar's extension handshake, before smalltorrent could
/// ask anyone for it: the honest peer is there from the start.
#[test]
fn an_unsolicited_metadata_piece_is_dropped() {
    let swarm = Swarm::new();
    let liar = swarm.liar(5, Lie::Unsolicited);
    let run = swarm.fetch(&[&liar], |_| true);
    run.assert_dropped(&liar, "sent metadata piece 0, which we did not ask it for");
    assert_eq!(liar.requests(), 0, "asked before its lie was read");
}

// ---- 3. A metadata_size of 2^40 ----

/// Dropped on reading the extension handshake, before a single request: nothing is
/// allocated for the size (the peak memory is checked as in every test).
#[test]
fn a_metadata_size_of_one_tib_is_dropped_before_anything_is_allocated() {
    let swarm = Swarm::new();
    let liar = swarm.liar(5, Lie::HugeSize);
    let run = swarm.fetch(&[&liar], |log| dropped(log, &liar));
    run.assert_dropped(
        &liar,
        "announced metadata of 1099511627776 bytes (the limit is 67108864)",
    );
    assert_eq!(liar.requests(), 0, "asked for a piece of its metadata");
}

/// The largest metadata smalltorrent accepts is 64 MiB: a liar heard first that says so
/// and sends 4096 pieces of zeros costs that much memory, no more, for as long as the
/// attempt lasts.
#[test]
fn a_liar_announcing_the_largest_metadata_costs_at_most_that_much_memory() {
    let swarm = Swarm::new();
    let liar = swarm.liar(5, Lie::LargestSize);
    let strike = first_strike(&liar);
    let run = swarm.fetch(&[&liar], |log| log.contains(&strike));
    assert_eq!(liar.requests(), 4096, "{}", run.log);
    run.assert_count("the metadata from 1 peer(s) failed its hash check", 1);
}

// ---- 4. Metadata that fails the hash check ----

/// The liar has the fetch to itself: it supplies all five pieces, the assembly fails the
/// check and blames it alone (one strike from the peer manager), and it is not asked
/// again: the honest peer supplies the next attempt.
#[test]
fn a_lone_liar_whose_metadata_fails_the_hash_gets_a_strike_and_is_not_asked_again() {
    let swarm = Swarm::new();
    let liar = swarm.liar(5, Lie::WrongBytes);
    let strike = first_strike(&liar);
    let run = swarm.fetch(&[&liar], |log| log.contains(&strike));
    run.assert_count("the metadata from 1 peer(s) failed its hash check", 1);
    assert_eq!(liar.requests(), 5, "asked for more than one attempt");
    run.assert_count("banning", 0);
    run.assert_count("metadata verified", 1);
}

/// Two liars on one address, each supplying bad metadata alone (or together, and then
/// each alone): the address gets two strikes and is banned, once.
#[test]
fn liars_on_one_address_whose_metadata_fails_twice_are_banned() {
    let swarm = Swarm::new();
    let first = swarm.liar(5, Lie::WrongBytes);
    let second = swarm.liar(5, Lie::WrongBytes);
    let ban = "banning 127.0.0.5: its data keeps failing the hash check";
    let run = swarm.fetch(&[&first, &second], |log| log.contains(ban));
    run.assert_count(ban, 1);
    let (strike, banned) = (run.log.find("(2 strikes)"), run.log.find(ban));
    assert!(
        matches!((strike, banned), (Some(s), Some(b)) if s < b),
        "not banned at its second strike:\n{}",
        run.log
    );
    assert!(
        run.count("failed its hash check; fetching it again") >= 2,
        "{}",
        run.log
    );
}

/// The honest peer is there from the start and the liar answers late, so both supply
/// the first attempt: nobody can be blamed for it alone, and the next attempt is fetched
/// whole from one peer. The liar, which completed the first attempt, asks first and gets
/// the whole second attempt; it fails alone and the liar gets its strike.
#[test]
fn metadata_supplied_by_a_liar_and_an_honest_peer_is_fetched_again_from_one() {
    let swarm = Swarm::new();
    let liar = MetadataLiar::listen_slowly(
        ip(5),
        Lie::WrongBytes,
        swarm.facts.clone(),
        Duration::from_millis(300),
    );
    let run = swarm.fetch(&[&liar], |_| true);
    run.assert_count("the metadata from 2 peer(s) failed its hash check", 1);
    let strike = first_strike(&liar);
    run.assert_count(&strike, 1);
}

// ---- 5. A metadata_size that disagrees with the verified metadata ----

/// The honest peer is there from the start: whichever peer smalltorrent hears first, the
/// liar is dropped once the metadata is verified.
#[test]
fn a_peer_whose_metadata_size_is_wrong_is_dropped_once_the_metadata_is_verified() {
    let swarm = Swarm::new();
    let liar = swarm.liar(5, Lie::OtherSize);
    let run = swarm.fetch(&[&liar], |_| true);
    let size = swarm.facts.size();
    run.assert_dropped(
        &liar,
        &format!(
            "announced metadata of {} bytes; this torrent's is {size}",
            size + 1
        ),
    );
}

/// Regression: the first peer heard sets the size being assembled, and a peer of another
/// size was never asked. A liar heard first, with a size of its own, that rejects every
/// request (or never answers) left the honest peer unasked: the fetch waited forever.
#[test]
fn a_first_peer_with_another_metadata_size_that_rejects_does_not_stall_the_fetch() {
    let swarm = Swarm::new();
    let liar = swarm.liar(5, Lie::OtherSize);
    let run = swarm.fetch(&[&liar], |_| liar.rejects_sent() > 0);
    let size = swarm.facts.size();
    run.assert_dropped(
        &liar,
        &format!(
            "announced metadata of {} bytes; this torrent's is {size}",
            size + 1
        ),
    );
    let restart = format!(
        "no piece of the {}-byte metadata is coming; fetching it as {size} bytes",
        size + 1
    );
    run.assert_count(&restart, 1);
}

// ---- 6. A peer that rejects every request ----

/// Rejecting is allowed (BEP 9): the liar is left alone for a while rather than dropped,
/// and the honest peer supplies the metadata meanwhile.
#[test]
fn a_peer_rejecting_every_request_is_backed_off_not_dropped() {
    let swarm = Swarm::new();
    let liar = swarm.liar(5, Lie::RejectsAll);
    let run = swarm.fetch(&[&liar], |_| liar.rejects_sent() > 0);
    run.assert_not_dropped(&liar);
    assert_eq!(
        liar.requests(),
        IN_FLIGHT,
        "asked again while backed off:\n{}",
        run.log
    );
    let stopped = format!("peer {}: stopped", liar.addr());
    assert!(
        run.log.lines().any(|l| l.ends_with(&stopped)),
        "the liar's connection did not last until the end:\n{}",
        run.log
    );
}

/// Regression: after a failure with several suppliers the first peer to ask is pinned,
/// and no other peer is asked while it is; a pinned peer that then rejected every
/// request held the fetch forever.
#[test]
fn a_pinned_peer_that_then_rejects_does_not_stall_the_fetch() {
    let swarm = Swarm::new();
    let liar = MetadataLiar::listen_slowly(
        ip(5),
        Lie::WrongBytesThenRejects,
        swarm.facts.clone(),
        Duration::from_millis(300),
    );
    let run = swarm.fetch(&[&liar], |_| true);
    run.assert_count("the metadata from 2 peer(s) failed its hash check", 1);
    assert!(
        liar.rejects_sent() > 0,
        "the liar, which completed the first attempt, was not pinned:\n{}",
        run.log
    );
    run.assert_not_dropped(&liar);
}

// ---- Memory: what is kept while the metadata is awaited ----

/// Regression: every message about pieces that came before the metadata was kept, to be
/// read once the torrent was known: 2048 blocks of 128 KiB took 256 MiB. A block before
/// the metadata cannot be one we asked for.
#[test]
fn blocks_sent_before_the_metadata_are_dropped_not_kept() {
    let swarm = Swarm::new();
    let liar = swarm.liar(5, Lie::FloodsBlocks);
    let run = swarm.fetch(&[&liar], |_| liar.floods_done() > 0);
    run.assert_dropped(
        &liar,
        "sent 131072 bytes at offset 0 of piece 0 before we had the metadata",
    );
}

/// Regression: as above with 2048 bitfields of 128 KiB. A bitfield replaces what the
/// peer said before, so only the last one is kept; it is the wrong length for this
/// torrent, and the liar is dropped for it once the torrent is known.
#[test]
fn bitfields_sent_before_the_metadata_are_not_all_kept() {
    let swarm = Swarm::new();
    let liar = swarm.liar(5, Lie::FloodsBitfields);
    let run = swarm.fetch(&[&liar], |_| liar.rejects_sent() > 0);
    let size: u64 = (0..FILES).map(file_size).sum();
    let bitfield_len = size.div_ceil(1 << 15).div_ceil(8);
    run.assert_dropped(
        &liar,
        &format!("bitfield is 131072 bytes, expected {bitfield_len}"),
    );
}

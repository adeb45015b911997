//! aria2c and smalltorrent finding each other through the DHT alone (BEP 5), both ways,
//! over real UDP and TCP sockets on loopback.
//!
//! No tracker anywhere (the seeders are given the torrent without its `announce`), no
//! `x.pe`, no LPD, no PEX: the leechers are given a magnet link that holds only the
//! info-hash (`magnet:?xt=urn:btih:<hex>`), so the DHT is the only way to the seeder.
//!
//! * An aria2c seeder announces through a `smalltorrent dht` node, and smalltorrent,
//!   bootstrapped from that node, downloads the link.
//! * A smalltorrent seeder (`-s`) announces through a `smalltorrent dht` node, and aria2c,
//!   whose only DHT entry point is that node, downloads the link.
//! * aria2c, whose only DHT entry point is the smalltorrent seeder's own DHT port, finds
//!   the seeder there (it answers `get_peers` with itself) and downloads the link.
//!
//! Each ends with a byte-identical copy. aria2c's DHT is slow to start (its first lookup
//! goes out before it has pinged its entry point, and it tries again after 5 s, once for
//! the metadata and once for the payload): an aria2c leecher takes about 25 s.

mod support;

use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use support::dht::*;
use support::*;

/// The torrent without its tracker, next to it as `bare.torrent`: what the seeders get.
fn bare(published: &Published) -> PathBuf {
    without_trackers(
        &published.torrent,
        &published.dir.path().join("bare.torrent"),
    )
}

/// aria2c on `ip` downloads `magnet:?xt=urn:btih:<hex>` (nothing else in the link) with
/// `entry` as its only DHT entry point, into `published.dir/aria2`; the payload must be
/// byte-identical. Its DHT table and log stay in `published.dir/aria2-state`.
fn aria2_downloads_the_bare_link(published: &Published, entry: SocketAddrV4, ip: u8) {
    let state = published.dir.path().join("aria2-state");
    std::fs::create_dir_all(&state).unwrap();
    let link = format!("magnet:?xt=urn:btih:{}", info_hash_hex(&published.torrent));
    let out = published.dir.path().join("aria2");
    let options = aria2_dht_options(entry, free_udp_port(), &state);
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    aria2_download_logged(
        Path::new(&link),
        &out,
        support::ip(ip),
        secs(120),
        &options,
        &state.join("aria2.log"),
    );
    assert_same_tree(
        &published.payload,
        &out.join(published.payload.file_name().unwrap()),
    );
}

/// An aria2c seeder whose only way to be found is the DHT announces through a
/// `smalltorrent dht` node (which then lists it at its own address, 127.0.0.5, and its TCP
/// port), and smalltorrent, bootstrapped from that node, downloads the bare link.
#[test]
fn smalltorrent_finds_an_aria2_seeder_through_a_smalltorrent_dht_node() {
    let published = Published::multi_file();
    let (_node, node) = dht_node(ip(2));
    let _seeder = Seeder::aria2_dht(&bare(&published), &published.data_dir, ip(5), node);
    download_through_dht(&published, "127.0.0.3", &[node], secs(120));
}

/// A smalltorrent seeder with only its DHT announces through a `smalltorrent dht` node, and
/// aria2c, whose only entry point is that node, downloads the bare link.
#[test]
fn aria2_finds_a_smalltorrent_seeder_through_a_smalltorrent_dht_node() {
    let published = Published::single_file(4 * (1 << 20) + 321, 16);
    let (_node, node) = dht_node(ip(2));
    let torrent = bare(&published);
    let (seeder, port) = smalltorrent_dht_seeder(&torrent, &published.data_dir, ip(3), &[node]);
    let at = SocketAddrV4::new(ip(3), port);
    if let Err(why) = wait_until_announced(node, &info_hash(&torrent), at, secs(30)) {
        panic!("the seeder never announced: {why}\n{}", seeder.report());
    }
    aria2_downloads_the_bare_link(&published, node, 4);
}

/// A smalltorrent seeder whose DHT knows no one (its bootstrap is a closed port), and
/// aria2c, whose only entry point is the seeder's own DHT port (UDP, the TCP port's
/// number): the seeder names itself in its `get_peers` answers, and aria2c downloads the
/// bare link from it.
#[test]
fn aria2_finds_a_smalltorrent_seeder_through_the_seeders_own_dht_port() {
    let published = Published::single_file(3 * (1 << 20) + 99, 15);
    let nowhere = SocketAddrV4::new(ip(9), free_port());
    let torrent = bare(&published);
    let (_seeder, port) = smalltorrent_dht_seeder(&torrent, &published.data_dir, ip(2), &[nowhere]);
    aria2_downloads_the_bare_link(&published, SocketAddrV4::new(ip(2), port), 6);
}

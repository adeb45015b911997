//! Issue 19: downloads inside a 64 MiB memory cgroup, as in a container started with
//! `-m 64m`, on a router or a small Pi. The page cache the download fills counts against
//! the limit, so the kernel reclaims it while smalltorrent runs; with 16 MiB pieces a
//! client that held pieces in memory, or kept its mapped pages, would be OOM-killed.
//!
//! Only smalltorrent is inside the cgroup; its libtorrent seeder is outside. Each test
//! asserts the download completed with identical bytes, that the limit was really met
//! (the kernel counted hits, so the test did constrain it) and that nothing was
//! OOM-killed.
//!
//! Making a cgroup needs root and the memory controller (cgroup v1 `memory`, or v2 with
//! `memory` in `cgroup.controllers`). Where that is not possible the tests say so on
//! stderr and pass without running: CI and `scripts/test.sh` as root can. The benchmark's
//! `memcg` section (bench/memcg.py) measures the same against aria2c.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::*;

const MIB: u64 = 1 << 20;
const LIMIT: u64 = 64 * MIB;

const V1_ROOT: &str = "/sys/fs/cgroup/memory";
const V2_ROOT: &str = "/sys/fs/cgroup";

#[test]
fn sixteen_mib_pieces_download_inside_64_mib() {
    download_inside_the_limit("16mib", 192 * MIB, 24);
}

#[test]
fn a_download_in_256_kib_pieces_fits_inside_64_mib() {
    download_inside_the_limit("256kib", 256 * MIB, 18);
}

/// A `size`-byte file in 2^`piece_log2`-byte pieces, downloaded by smalltorrent inside a
/// fresh 64 MiB cgroup named after `name`.
fn download_inside_the_limit(name: &str, size: u64, piece_log2: u32) {
    let group = match MemoryCgroup::create(name, LIMIT) {
        Ok(group) => group,
        Err(why) => {
            eprintln!(
                "SKIPPED: cannot make a memory cgroup here ({why}); this test needs root \
                 and the memory controller (cgroup v1 or v2)"
            );
            return;
        }
    };
    let published = Published::single_file(size, piece_log2);
    let seeder = Seeder::libtorrent(
        &published.tracker,
        &published.torrent,
        &published.data_dir,
        LtOptions::on(ip(2)),
    );
    let out = published.dir.path().join("out");
    let peer = seeder.addr().to_string();
    let command = smalltorrent_command([
        published.torrent.as_os_str(),
        "-d".as_ref(),
        out.as_os_str(),
        "-q".as_ref(),
        "--peer".as_ref(),
        peer.as_ref(),
    ]);
    let mut client = Proc::spawn("smalltorrent in 64 MiB", group.wrap(&command));
    let status = client.wait_exit(secs(300));
    let (hits, ooms) = group.counters();
    eprintln!(
        "{} MiB in {} KiB pieces inside 64 MiB: limit hit {hits} times, {ooms} OOM kills",
        size / MIB,
        (1u64 << piece_log2) / 1024
    );
    assert_eq!(ooms, 0, "OOM kills in the cgroup\n{}", client.report());
    let status = status.unwrap_or_else(|why| panic!("{why}\n{}", client.report()));
    assert!(status.success(), "{}", client.report());
    assert!(
        hits > 0,
        "the limit was never met: the test did not constrain the download"
    );
    assert_same_tree(&published.payload, &out.join("payload.bin"));
}

/// A memory cgroup made for one test; removed on drop.
struct MemoryCgroup {
    path: PathBuf,
    v2: bool,
}

impl MemoryCgroup {
    /// A cgroup of `limit` bytes, or why one cannot be made here.
    fn create(name: &str, limit: u64) -> Result<MemoryCgroup, String> {
        let name = format!("smalltorrent-test-{}-{name}", std::process::id());
        let v1 = Path::new(V1_ROOT).join("memory.limit_in_bytes").exists();
        let controllers = fs::read_to_string(Path::new(V2_ROOT).join("cgroup.controllers"));
        let v2 = !v1
            && controllers
                .map(|c| c.split_whitespace().any(|c| c == "memory"))
                .unwrap_or(false);
        let (path, limit_file) = if v1 {
            (Path::new(V1_ROOT).join(&name), "memory.limit_in_bytes")
        } else if v2 {
            let root = Path::new(V2_ROOT).join("cgroup.subtree_control");
            fs::write(&root, "+memory").map_err(|e| format!("{}: {e}", root.display()))?;
            (Path::new(V2_ROOT).join(&name), "memory.max")
        } else {
            return Err("no memory controller, v1 or v2".into());
        };
        fs::create_dir(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let group = MemoryCgroup { path, v2 };
        let file = group.path.join(limit_file);
        fs::write(&file, limit.to_string()).map_err(|e| format!("{}: {e}", file.display()))?;
        Ok(group)
    }

    /// `command`, run by a shell that first moves itself into the cgroup, then execs.
    fn wrap(&self, command: &Command) -> Command {
        let mut shell = Command::new("sh");
        shell
            .arg("-c")
            .arg(r#"echo $$ > "$0" && exec "$@""#)
            .arg(self.path.join("cgroup.procs"))
            .arg(command.get_program())
            .args(command.get_args());
        for (key, value) in command.get_envs() {
            match value {
                Some(value) => shell.env(key, value),
                None => shell.env_remove(key),
            };
        }
        shell
    }

    /// (times the limit was met, OOM kills).
    fn counters(&self) -> (u64, u64) {
        let read = |file: &str| fs::read_to_string(self.path.join(file)).unwrap_or_default();
        if self.v2 {
            let events = read("memory.events");
            (keyed(&events, "max"), keyed(&events, "oom_kill"))
        } else {
            let hits = read("memory.failcnt").trim().parse().unwrap_or(0);
            (hits, keyed(&read("memory.oom_control"), "oom_kill"))
        }
    }
}

impl Drop for MemoryCgroup {
    fn drop(&mut self) {
        // The last process may still be on its way out.
        for _ in 0..50 {
            if fs::remove_dir(&self.path).is_ok() || !self.path.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The value of `key` in `key value` lines.
fn keyed(text: &str, key: &str) -> u64 {
    text.lines()
        .filter_map(|line| line.split_once(' '))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

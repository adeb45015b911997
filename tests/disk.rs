//! Disk trouble as a user meets it: a full disk (a small tmpfs) is one clear error and a
//! non-zero exit, never a SIGBUS, and the same command finishes once there is space; a
//! read-only folder is one clear error too. Needs root for `mount`; skipped (with a line
//! saying so) where mounting is refused.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

const MIB: u64 = 1 << 20;

/// A tmpfs mounted for one test, unmounted on drop (also when the test panics).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_path_buf()))
    }

    fn remount(&self, options: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success(), "remount {options}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_full_disk_is_a_clear_error_then_the_rerun_finishes() {
    let mut tracker = Opentracker::start();
    let dir = tempfile::tempdir().unwrap();
    let data = make_file(&dir.path().join("data"), "payload.bin", 16 * MIB, 3);
    let torrent = mktorrent(
        &data,
        &tracker.announce_url(),
        18,
        &dir.path().join("t.torrent"),
    );
    tracker.allow(&torrent);
    let out = dir.path().join("out");
    let Some(disk) = Tmpfs::mount(&out, "8m") else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root)");
        return;
    };
    let seeder = Seeder::libtorrent(
        &tracker,
        &torrent,
        data.parent().unwrap(),
        LtOptions::on(ip(2)),
    );
    let peer = seeder.addr().to_string();
    let args = |dir: &Path| {
        [
            torrent.clone().into_os_string(),
            "-d".into(),
            dir.as_os_str().to_owned(),
            "-q".into(),
            "--peer".into(),
            peer.clone().into(),
        ]
    };

    let output = run_smalltorrent(args(&out), secs(60));
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "no SIGBUS, exit 1: {text}");
    assert!(
        text.contains("no space left on device: need 16.0 MiB, have 8.0 MiB"),
        "{text}"
    );

    disk.remount("size=64m");
    let output = run_smalltorrent(args(&out), secs(60));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_same_tree(&data, &out.join("payload.bin"));

    disk.remount("ro");
    let output = run_smalltorrent(args(&out.join("elsewhere")), secs(60));
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("cannot create folder") && text.contains("Read-only file system"),
        "{text}"
    );
}

/// Runs smalltorrent as user `nobody` (root ignores file permissions); `None` if that is
/// not possible here.
fn run_as_nobody(args: &[&std::ffi::OsStr]) -> Option<std::process::Output> {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_smalltorrent"))
        .args(without_public_dht(args))
        .output()
        .ok()
        .filter(|o| o.status.code() != Some(127))
}

#[test]
fn permission_denied_is_a_clear_error() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = make_file(&dir.path().join("data"), "payload.bin", MIB, 5);
    let torrent = mktorrent(
        &data,
        "http://127.0.0.1:1/announce",
        16,
        &dir.path().join("t.torrent"),
    );
    std::fs::set_permissions(&torrent, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let go = |target: &Path| {
        run_as_nobody(&[
            torrent.as_os_str(),
            "-d".as_ref(),
            target.as_os_str(),
            "-q".as_ref(),
        ])
    };
    let Some(output) = go(&out.join("new")) else {
        eprintln!("SKIPPED: cannot run as nobody (setpriv)");
        return;
    };
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("cannot create folder") && text.contains("Permission denied"),
        "{text}"
    );
    // The file exists (root's, read-only for others): it cannot be opened for writing.
    std::fs::copy(&data, out.join("payload.bin")).unwrap();
    let output = go(&out).unwrap();
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("cannot open") && text.contains("Permission denied"),
        "{text}"
    );
}

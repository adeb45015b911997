//! HTTPS trackers: `smalltorrent tracker` behind a real TLS server (lighttpd with
//! mod_openssl, a certificate for 127.0.0.1 signed by a CA the test makes with openssl),
//! announced to over `https://`. The CA is trusted through `SSL_CERT_FILE`, which
//! smalltorrent reads as OpenSSL does (its TLS roots are the system's); a download that
//! trusts another CA is refused with the certificate named.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

/// The files [`certificates`] makes.
struct Certificates {
    /// The test CA's certificate: what `SSL_CERT_FILE` names.
    ca: PathBuf,
    /// Another CA, which did not sign the server's certificate.
    stranger: PathBuf,
    /// The server's certificate (for IP 127.0.0.1) and its key.
    cert: PathBuf,
    key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A CA, a second CA, and a server certificate for 127.0.0.1 signed by the first.
fn certificates(dir: &Path) -> Certificates {
    for name in ["ca", "stranger"] {
        let subject = format!("/CN=smalltorrent test {name}");
        let (key, pem) = (format!("{name}.key"), format!("{name}.pem"));
        openssl(
            dir,
            &[
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", &subject,
                "-keyout", &key, "-out", &pem,
            ],
        );
    }
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    let extensions = "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
                      extendedKeyUsage=serverAuth\n";
    fs::write(dir.join("server.ext"), extensions).unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
    );
    Certificates {
        ca: dir.join("ca.pem"),
        stranger: dir.join("stranger.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    }
}

/// Downloads `torrent` into `out` from 127.0.0.3 trusting the CAs in `roots`; returns
/// whether it exited 0, and what it said.
fn download(torrent: &Path, out: &Path, roots: &Path) -> (bool, String) {
    let mut cmd = smalltorrent_command([
        torrent.as_os_str(),
        "-d".as_ref(),
        out.as_os_str(),
        "--bind".as_ref(),
        "127.0.0.3".as_ref(),
        "--port".as_ref(),
        "0".as_ref(),
        "--give-up".as_ref(),
        "30".as_ref(),
    ]);
    cmd.env("SSL_CERT_FILE", roots).env("RUST_LOG", "info");
    let mut proc = Proc::spawn("smalltorrent", cmd);
    let status = proc
        .wait_exit(secs(90))
        .unwrap_or_else(|why| panic!("{why}"));
    (status.success(), proc.report())
}

#[test]
fn a_download_announces_to_an_https_tracker_and_checks_its_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let certs = certificates(dir.path());
    let tracker = SmalltorrentTracker::start(60);
    let proxy = WebServer::https_proxy(&certs.cert, &certs.key, tracker.http_addr());
    let data = make_file(&dir.path().join("data"), "payload.bin", 2 << 20, 3);
    // One info dict, two announce URLs: the seeder's plain, the leecher's through TLS.
    let plain = mktorrent(
        &data,
        &tracker.announce_url(),
        15,
        &dir.path().join("plain.torrent"),
    );
    let https_url = proxy.url("announce");
    let https = mktorrent(&data, &https_url, 15, &dir.path().join("https.torrent"));
    assert_eq!(info_hash(&plain), info_hash(&https));
    let _seeder = SmalltorrentPeer::seed(&tracker, &plain, data.parent().unwrap(), ip(2));

    // A CA that did not sign the server's certificate: the announce is refused, and said so.
    let (ok, said) = download(&https, &dir.path().join("refused"), &certs.stranger);
    assert!(!ok, "{said}");
    assert!(
        said.contains(&https_url) && said.contains("UnknownIssuer"),
        "{said}"
    );

    let (ok, said) = download(&https, &dir.path().join("out"), &certs.ca);
    assert!(ok, "{said}\ntracker:\n{}", tracker.report());
    assert_same_tree(&data, &dir.path().join("out/payload.bin"));
}

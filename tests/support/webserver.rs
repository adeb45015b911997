//! A real HTTP server for the web seed tests (BEP 19): Debian's lighttpd serving a folder
//! on 127.0.0.1, with range requests as any static file server answers them, an access log
//! the tests read, and optionally a bandwidth cap per connection or no range requests, or a
//! redirect loop. Also, with `lighttpd-mod-openssl`, an HTTPS front for a plain HTTP
//! server (an HTTPS tracker, from `smalltorrent tracker` behind it).

use super::process::Proc;
use super::seeders::start_on_free_port;
use std::fs;
use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where Debian puts it: `/usr/sbin` is not on a normal user's PATH.
const LIGHTTPD: &str = "/usr/sbin/lighttpd";

/// lighttpd in the foreground (`-D`), killed on drop.
pub struct WebServer {
    _proc: Proc,
    addr: SocketAddrV4,
    /// `http` or `https`.
    scheme: &'static str,
    /// The config, the access log and the error log.
    dir: tempfile::TempDir,
    /// An empty document root, for a proxy.
    _root: Option<tempfile::TempDir>,
}

impl WebServer {
    /// Serves `root` at full speed.
    pub fn serve(root: &Path) -> WebServer {
        Self::start(root, "")
    }

    /// Serves `root` at most `kib_per_second` per connection (lighttpd's
    /// `connection.kbytes-per-second`), so peers get a share of a download too.
    pub fn throttled(root: &Path, kib_per_second: u32) -> WebServer {
        Self::start(
            root,
            &format!("connection.kbytes-per-second = {kib_per_second}\n"),
        )
    }

    /// Serves `root` ignoring the `Range` header: every answer is the whole file, 200 OK
    /// (lighttpd's `server.range-requests = "disable"`), as some servers do.
    pub fn without_ranges(root: &Path) -> WebServer {
        Self::start(root, "server.range-requests = \"disable\"\n")
    }

    /// Answers every request with a redirect to the same URL, for ever (lighttpd's
    /// `mod_redirect`).
    pub fn redirect_loop(root: &Path) -> WebServer {
        Self::start(
            root,
            "server.modules += ( \"mod_redirect\" )\nurl.redirect = ( \"^/(.*)$\" => \"/$1\" )\n",
        )
    }

    /// HTTPS on 127.0.0.1 with `cert` (PEM, the chain) and `key`, passing every request
    /// on to `backend` over plain HTTP (`mod_proxy`). lighttpd refuses (400) a query with
    /// an encoded control byte unless told not to, and an info-hash is 20 arbitrary bytes.
    pub fn https_proxy(cert: &Path, key: &Path, backend: SocketAddrV4) -> WebServer {
        let extra = format!(
            "server.modules += ( \"mod_openssl\", \"mod_proxy\" )\n\
             ssl.engine = \"enable\"\n\
             ssl.pemfile = \"{cert}\"\n\
             ssl.privkey = \"{key}\"\n\
             proxy.server = ( \"\" => (( \"host\" => \"{ip}\", \"port\" => {port} )) )\n\
             server.http-parseopts = ( \"url-ctrls-reject\" => \"disable\", \
                                       \"url-normalize\" => \"disable\" )\n",
            cert = cert.display(),
            key = key.display(),
            ip = backend.ip(),
            port = backend.port(),
        );
        let root = tempfile::tempdir().unwrap();
        let mut server = Self::start(root.path(), &extra);
        server.scheme = "https";
        server._root = Some(root);
        server
    }

    /// lighttpd serving `root` with `extra` lines of config.
    fn start(root: &Path, extra: &str) -> WebServer {
        let dir = tempfile::tempdir().unwrap();
        let config_dir = dir.path().to_path_buf();
        let root = root.to_path_buf();
        let (proc, addr) = start_on_free_port("lighttpd", super::ip(1), |port| {
            let config = write_config(&config_dir, &root, port, extra);
            let mut cmd = Command::new(LIGHTTPD);
            cmd.arg("-D").arg("-f").arg(config);
            cmd
        });
        WebServer {
            _proc: proc,
            addr,
            scheme: "http",
            dir,
            _root: None,
        }
    }

    /// `http://127.0.0.1:PORT/` (or `https://`) followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}/{path}", self.scheme, self.addr)
    }

    /// The access log so far: one `STATUS BYTES PATH` line per request answered.
    pub fn requests(&self) -> Vec<String> {
        let log = fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default();
        log.lines().map(str::to_string).collect()
    }
}

/// Writes `dir/lighttpd.conf` for `root` on 127.0.0.1:`port`, `extra` last; returns its
/// path.
fn write_config(dir: &Path, root: &Path, port: u16, extra: &str) -> PathBuf {
    let config = format!(
        "server.document-root = \"{root}\"\n\
         server.bind = \"127.0.0.1\"\n\
         server.port = {port}\n\
         server.errorlog = \"{dir}/error.log\"\n\
         server.modules = ( \"mod_accesslog\", \"mod_staticfile\" )\n\
         accesslog.filename = \"{dir}/access.log\"\n\
         accesslog.format = \"%>s %b %U\"\n\
         mimetype.assign = ( \"\" => \"application/octet-stream\" )\n{extra}",
        root = root.display(),
        dir = dir.display(),
    );
    let path = dir.join("lighttpd.conf");
    fs::write(&path, config).unwrap();
    path
}

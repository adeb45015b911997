//! `smalltorrent tracker`: an HTTP and UDP tracker on one peer store.
//!
//! ```text
//!   HTTP clients ─TCP─▶ tracker-http ─▶ tracker-http-conn (≤ 64) ─┐
//!                       (http.rs: acceptor, one thread per request) ├─ lock ─▶ Store
//!   UDP clients ──UDP─▶ tracker-udp (udp.rs) ──────────────────────┘  (store.rs:
//!   main thread (cli/tracker.rs): Ctrl-C; every 5 s Server::sweep ─ lock ─▶ swarms, caps)
//!   drops silent peers; a summary at info every minute
//! ```
//!
//! [`Server::start`] binds both sockets before any thread starts (so a bad address fails
//! at once), then starts the threads. Nothing is written to disk. Shutdown
//! ([`Server::shutdown`]) sets one stop flag, wakes the HTTP acceptor blocked in `accept`,
//! and joins every thread; the UDP thread sees the flag within [`udp::TICK`], connection
//! threads end within [`http::IO_TIMEOUT`].

pub mod http;
pub mod http_request;
pub mod store;
pub mod udp;

use crate::tracker::ScrapeStats;
use parking_lot::Mutex;
use std::collections::HashSet;
use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use store::{Announce, Answer, Limits, Refusal, Store, Summary};

/// What to serve.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the HTTP tracker listens, if at all.
    pub http: Option<SocketAddr>,
    /// Where the UDP tracker listens, if at all.
    pub udp: Option<SocketAddr>,
    /// The `interval` told to clients; peers silent for two of them are dropped.
    pub interval: Duration,
    pub limits: Limits,
    /// Info-hashes allowed; `None` allows every torrent.
    pub allow: Option<HashSet<[u8; 20]>>,
}

/// What the front ends share.
pub(crate) struct Shared {
    store: Mutex<Store>,
    interval: Duration,
    /// Set once, at shutdown.
    stop: AtomicBool,
}

impl Shared {
    /// Records an announce that came over `via` ("http" or "udp"); one debug line each.
    fn announce(&self, request: &Announce, via: &str) -> Result<Answer, Refusal> {
        let outcome = self.store.lock().announce(request, Instant::now());
        if log::log_enabled!(log::Level::Debug) {
            let hash: String = request
                .info_hash
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            match &outcome {
                Ok(answer) => log::debug!(
                    "{via} announce {hash} from {} {:?} left={}: {} peers",
                    request.addr,
                    request.event,
                    request.left,
                    answer.peers.len()
                ),
                Err(refusal) => {
                    log::debug!("{via} announce {hash} from {}: {refusal}", request.addr)
                }
            }
        }
        outcome
    }

    fn scrape(&self, hashes: &[[u8; 20]]) -> Vec<([u8; 20], ScrapeStats)> {
        let store = self.store.lock();
        hashes.iter().map(|h| (*h, store.scrape(h))).collect()
    }
}

/// A running tracker.
pub struct Server {
    shared: Arc<Shared>,
    http: Option<(SocketAddr, JoinHandle<()>)>,
    udp: Option<(SocketAddr, JoinHandle<()>)>,
}

impl Server {
    /// Binds the sockets, then starts the threads.
    pub fn start(config: Config) -> io::Result<Server> {
        let bind_error = |what: &str, addr: SocketAddr, e: io::Error| {
            io::Error::new(e.kind(), format!("cannot listen for {what} on {addr}: {e}"))
        };
        let http = match config.http {
            Some(addr) => Some(TcpListener::bind(addr).map_err(|e| bind_error("HTTP", addr, e))?),
            None => None,
        };
        let udp = match config.udp {
            Some(addr) => Some(UdpSocket::bind(addr).map_err(|e| bind_error("UDP", addr, e))?),
            None => None,
        };
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::new(config.interval, config.limits, config.allow)),
            interval: config.interval,
            stop: AtomicBool::new(false),
        });
        let mut server = Server {
            shared: shared.clone(),
            http: None,
            udp: None,
        };
        if let Some(listener) = http {
            let addr = listener.local_addr()?;
            server.http = Some((addr, http::spawn(listener, shared.clone())?));
        }
        if let Some(socket) = udp {
            let addr = socket.local_addr()?;
            server.udp = Some((addr, udp::spawn(socket, shared)?));
        }
        Ok(server)
    }

    /// The HTTP tracker's bound address.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(|(addr, _)| *addr)
    }

    /// The UDP tracker's bound address.
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.udp.as_ref().map(|(addr, _)| *addr)
    }

    /// Drops peers that have gone silent; returns how many, and the totals after.
    pub fn sweep(&self) -> (usize, Summary) {
        let mut store = self.shared.store.lock();
        let dropped = store.expire(Instant::now());
        (dropped, store.summary())
    }

    /// Stops and joins every thread.
    pub fn shutdown(self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some((addr, acceptor)) = self.http {
            http::wake(addr);
            crate::threads::join(acceptor);
        }
        if let Some((_, thread)) = self.udp {
            crate::threads::join(thread);
        }
    }
}

#[cfg(test)]
mod tests;

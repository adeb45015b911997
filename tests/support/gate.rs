//! A door in front of an honest peer, so that a test decides when the client under test
//! first hears from it.
//!
//! [`Gate::shut`] listens on a loopback address of its own and accepts every connection
//! at once, but holds it, unread and unanswered, until [`Gate::open`]; from then on it
//! relays each connection, both ways, to the peer behind it (dialled from the gate's own
//! address), what the peer sends at no more than the rate the test chose. A magnet link can thus name a liar and an honest seeder (behind a gate) and
//! the test can let the liar have its turn first, whatever order the client dials in: the
//! client's peer thread waits for the honest peer's handshake as for a slow peer's, and
//! smalltorrent waits 10 s for a handshake, so open the gate well before that.
//!
//! Dropping the gate closes every connection and joins every thread.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// A relay to one peer, shut until opened; closes everything when dropped.
pub struct Gate {
    addr: SocketAddrV4,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

/// What the acceptor, the relays and the test share.
#[derive(Default)]
struct Shared {
    open: AtomicBool,
    stop: AtomicBool,
    /// Connections relayed to the peer behind (so accepted and let through).
    relayed: AtomicU64,
    /// Both ends of every relay, to shut them all down on drop.
    sockets: Mutex<Vec<TcpStream>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Gate {
    /// A shut gate on `ip` (a free port) in front of the peer at `behind`, which it lets
    /// send at most `rate` bytes a second to the client (0: no limit).
    pub fn shut(ip: Ipv4Addr, behind: SocketAddrV4, rate: u64) -> Gate {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let addr = SocketAddrV4::new(ip, listener.local_addr().unwrap().port());
        let shared = Arc::new(Shared::default());
        let state = shared.clone();
        let acceptor = thread::spawn(move || {
            for stream in listener.incoming() {
                if state.stop.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let relay_state = state.clone();
                let handle = thread::spawn(move || {
                    let _ = relay(stream, ip, behind, rate, &relay_state);
                });
                state.threads.lock().unwrap().push(handle);
            }
        });
        Gate {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// Where the client reaches the peer behind the gate.
    pub fn addr(&self) -> SocketAddrV4 {
        self.addr
    }

    /// Lets every held connection through, and every later one at once.
    pub fn open(&self) {
        self.shared.open.store(true, Ordering::Relaxed);
    }

    /// Connections let through so far.
    pub fn relayed(&self) -> u64 {
        self.shared.relayed.load(Ordering::Relaxed)
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr); // wakes the blocked accept
        for socket in self.shared.sockets.lock().unwrap().iter() {
            let _ = socket.shutdown(Shutdown::Both);
        }
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        // The relays still waiting for the gate see `stop` within a poll.
        let threads: Vec<_> = self.shared.threads.lock().unwrap().drain(..).collect();
        for handle in threads {
            let _ = handle.join();
        }
    }
}

/// Holds `client` until the gate opens, then relays it to `behind` until either side
/// closes.
fn relay(
    client: TcpStream,
    ip: Ipv4Addr,
    behind: SocketAddrV4,
    rate: u64,
    shared: &Shared,
) -> io::Result<()> {
    shared.sockets.lock().unwrap().push(client.try_clone()?);
    while !shared.open.load(Ordering::Relaxed) {
        if shared.stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        thread::sleep(Duration::from_millis(10));
    }
    let peer = dial_from(ip, behind)?;
    shared.sockets.lock().unwrap().push(peer.try_clone()?);
    shared.relayed.fetch_add(1, Ordering::Relaxed);
    let (client_in, peer_out) = (client.try_clone()?, peer.try_clone()?);
    let upstream = thread::spawn(move || pump(client_in, peer_out, 0));
    pump(peer, client, rate);
    let _ = upstream.join();
    Ok(())
}

/// Copies `from` to `to`, at most `rate` bytes a second (0: no limit), until `from`
/// ends; then closes both (so the other pump ends too).
fn pump(mut from: TcpStream, mut to: TcpStream, rate: u64) {
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 || to.write_all(&buf[..n]).is_err() {
            break;
        }
        if rate > 0 {
            thread::sleep(Duration::from_secs_f64(n as f64 / rate as f64));
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

/// A connection to `to` from `ip`, so the peer behind sees the gate's own address.
fn dial_from(ip: Ipv4Addr, to: SocketAddrV4) -> io::Result<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&SocketAddr::from((ip, 0)).into())?;
    socket.connect_timeout(&SocketAddr::from(to).into(), Duration::from_secs(5))?;
    Ok(socket.into())
}

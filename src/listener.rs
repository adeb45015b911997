//! The listener thread: accepts incoming peer connections and hands them to the peer
//! manager.
//!
//! * Runs on: its own thread, `listener`.
//! * Owns: the listening socket.
//! * Writes: each accepted connection to the peer manager's `incoming` channel (the peer
//!   manager decides whether to keep it: the connection limit and bans are its business).
//!
//! By default it listens on `[::]` as one dual-stack socket (`IPV6_V6ONLY` off, whatever
//! the system's default), so IPv6 peers (BEP 7) and IPv4 peers reach the same port; an
//! IPv4 peer's address arrives IPv4-mapped (`::ffff:a.b.c.d`) and is handed on as the IPv4
//! address it is. Where the system has no IPv6, it listens on `0.0.0.0` instead.
//!
//! `accept` blocks; to stop, [`Listener::stop`] sets a flag and connects to the socket
//! itself, which wakes the `accept` (the trick tiny_http uses).

use crossbeam_channel::Sender;
use socket2::{Domain, Socket, Type};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// How many ports after the asked-for one to try when it is taken.
const PORT_TRIES: u16 = 50;

/// A running listener.
#[derive(Debug)]
pub struct Listener {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

/// Where to listen by default: every address, IPv6 and IPv4.
pub const ALL: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);

/// How many connections may wait for `accept`.
const BACKLOG: i32 = 128;

/// Binds `ip:port` (or the next free port after it; port 0 means any) and starts accepting.
/// [`ALL`] is one dual-stack socket, or `0.0.0.0` where the system has no IPv6.
pub fn spawn(
    ip: IpAddr,
    port: u16,
    incoming: Sender<(TcpStream, SocketAddr)>,
) -> io::Result<Listener> {
    let socket = match bind(ip, port) {
        Err(error) if ip == ALL && error.kind() != io::ErrorKind::AddrInUse => {
            log::info!("no IPv6 listener ({error}): listening on IPv4 only");
            bind(Ipv4Addr::UNSPECIFIED.into(), port)?
        }
        bound => bound?,
    };
    let addr = socket.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::Builder::new()
        .name("listener".into())
        .spawn(move || accept_loop(socket, flag, incoming))?;
    Ok(Listener {
        addr,
        stop,
        handle: Some(handle),
    })
}

fn bind(ip: IpAddr, port: u16) -> io::Result<TcpListener> {
    if port == 0 {
        return listen_on(SocketAddr::new(ip, 0));
    }
    let mut last_error = None;
    for candidate in port..=port.saturating_add(PORT_TRIES) {
        match listen_on(SocketAddr::new(ip, candidate)) {
            Ok(socket) => return Ok(socket),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last_error = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("no port to try")))
}

/// A listening socket on `addr`, dual-stack when it is `[::]`. std's `TcpListener::bind`
/// cannot turn `IPV6_V6ONLY` off (Linux's default follows a sysctl), hence socket2.
fn listen_on(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    if addr.ip() == ALL {
        socket.set_only_v6(false)?;
    }
    // As std does: a port in TIME_WAIT after the last run can be had again at once.
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

fn accept_loop(
    socket: TcpListener,
    stop: Arc<AtomicBool>,
    incoming: Sender<(TcpStream, SocketAddr)>,
) {
    loop {
        let accepted = socket.accept();
        if stop.load(Ordering::Relaxed) {
            return;
        }
        match accepted {
            Ok((stream, addr)) => {
                // An IPv4 peer on the dual-stack socket is `::ffff:a.b.c.d`: bans, the
                // registry and PEX know it by its IPv4 address.
                let addr = SocketAddr::new(addr.ip().to_canonical(), addr.port());
                if incoming.send((stream, addr)).is_err() {
                    return;
                }
            }
            Err(error) => {
                // Out of file descriptors, for instance: wait a little instead of spinning.
                log::warn!("accepting a connection failed: {error}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

impl Listener {
    /// The address we listen on (what trackers should be told).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and joins the thread.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the blocked `accept` by connecting to ourselves.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(IpAddr::from([127, 0, 0, 1]));
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        if let Some(handle) = self.handle.take() {
            crate::threads::join(handle);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::unbounded;

    #[test]
    fn accepted_connections_reach_the_channel_and_stop_joins() {
        let (tx, rx) = unbounded();
        let listener = spawn(IpAddr::from([127, 0, 0, 1]), 0, tx).unwrap();
        let client = TcpStream::connect(listener.addr()).unwrap();
        let (_, from) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(from, client.local_addr().unwrap());
        listener.stop();
    }

    #[test]
    fn the_default_listener_takes_ipv4_and_ipv6_on_one_port() {
        let (tx, rx) = unbounded();
        let listener = spawn(ALL, 0, tx).unwrap();
        let port = listener.addr().port();
        let v4 = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
        let (_, from) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        // Handed on as the IPv4 address, not `::ffff:127.0.0.1`.
        assert_eq!(from, v4.local_addr().unwrap());
        if let Ok(v6) = TcpStream::connect((Ipv6Addr::LOCALHOST, port)) {
            let (_, from) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
            assert_eq!(from, v6.local_addr().unwrap());
            assert!(from.is_ipv6());
        }
        listener.stop();
    }

    #[test]
    fn a_taken_port_moves_to_the_next_free_one() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let (tx, _rx) = unbounded();
        let listener = spawn(IpAddr::from([127, 0, 0, 1]), port, tx).unwrap();
        assert_ne!(listener.addr().port(), port);
        assert!(listener.addr().port() > port);
        listener.stop();
    }
}

//! The listener thread: accepts incoming peer connections and hands them to the peer
//! manager.
//!
//! * Runs on: its own thread, `listener`.
//! * Owns: the listening socket.
//! * Writes: each accepted connection to the peer manager's `incoming` channel (the peer
//!   manager decides whether to keep it: the connection limit and bans are its business).
//!
//! `accept` blocks; to stop, [`Listener::stop`] sets a flag and connects to the socket
//! itself, which wakes the `accept` (the trick tiny_http uses).

use crossbeam_channel::Sender;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
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

/// Binds `ip:port` (or the next free port after it; port 0 means any) and starts accepting.
pub fn spawn(
    ip: IpAddr,
    port: u16,
    incoming: Sender<(TcpStream, SocketAddr)>,
) -> io::Result<Listener> {
    let socket = bind(ip, port)?;
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
        return TcpListener::bind((ip, 0));
    }
    let mut last_error = None;
    for candidate in port..=port.saturating_add(PORT_TRIES) {
        match TcpListener::bind((ip, candidate)) {
            Ok(socket) => return Ok(socket),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last_error = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("no port to try")))
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

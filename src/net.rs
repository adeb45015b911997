//! Sockets from a chosen local address (`--bind`).
//!
//! On a machine with several addresses (or, in tests, a swarm on 127.0.0.2, 127.0.0.3, ...)
//! a peer is known to others by the address it connects *from*: trackers record the source
//! address of the announce, peers see the source of the connection. std cannot bind a TCP
//! socket before connecting it, so this uses socket2 for that one step.

use socket2::{Domain, Socket, Type};
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

/// TCP connect with a timeout, from `bind`'s address when given.
pub fn connect(addr: SocketAddr, bind: Option<IpAddr>, timeout: Duration) -> io::Result<TcpStream> {
    let Some(local) = bind else {
        return TcpStream::connect_timeout(&addr, timeout);
    };
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.bind(&SocketAddr::new(local, 0).into())?;
    socket.connect_timeout(&addr.into(), timeout)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn a_bound_connection_comes_from_the_chosen_address() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let bind: IpAddr = "127.0.0.7".parse().unwrap();
        let stream = connect(
            listener.local_addr().unwrap(),
            Some(bind),
            Duration::from_secs(5),
        )
        .unwrap();
        let (_, from) = listener.accept().unwrap();
        assert_eq!(from.ip(), bind);
        assert_eq!(stream.local_addr().unwrap().ip(), bind);
    }
}

//! Sockets from a chosen local address (`--bind`), and our global IPv6 address.
//!
//! On a machine with several addresses (or, in tests, a swarm on 127.0.0.2, 127.0.0.3, ...)
//! a peer is known to others by the address it connects *from*: trackers record the source
//! address of the announce, peers see the source of the connection. std cannot bind a TCP
//! socket before connecting it, so this uses socket2 for that one step.

use socket2::{Domain, Socket, Type};
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
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

/// Our global IPv6 address, for trackers (`ipv6=`, BEP 7), when we listen on IPv6
/// (`listening` is `[::]` or an IPv6 address): the `--bind` address if it is one, else
/// the source address the system would use to reach the IPv6 internet. Finding that
/// sends nothing: connecting a UDP socket only chooses a route. `None` on a machine with
/// no IPv6 route, or only loopback, link-local or private (fc00::/7) addresses.
pub fn global_ipv6(listening: IpAddr, bind: Option<IpAddr>) -> Option<Ipv6Addr> {
    let candidate = match (listening, bind) {
        (IpAddr::V4(_), _) => return None,
        (_, Some(IpAddr::V6(ip))) => ip,
        _ => {
            let socket = UdpSocket::bind((Ipv6Addr::UNSPECIFIED, 0)).ok()?;
            // A global unicast address (2001:db8::/32 would be documentation-only, so use
            // one of the root name servers' prefix); no packet leaves.
            socket.connect(ROUTE_PROBE).ok()?;
            match socket.local_addr().ok()?.ip() {
                IpAddr::V6(ip) => ip,
                IpAddr::V4(_) => return None,
            }
        }
    };
    is_global(candidate).then_some(candidate)
}

/// Where [`global_ipv6`] asks the routing table for a way out: a.root-servers.net.
const ROUTE_PROBE: (Ipv6Addr, u16) = (Ipv6Addr::new(0x2001, 0x503, 0xba3e, 0, 0, 0, 2, 0x30), 53);

/// Reachable from the internet: in 2000::/3, the global unicast space.
fn is_global(ip: Ipv6Addr) -> bool {
    ip.segments()[0] & 0xe000 == 0x2000
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn only_a_global_ipv6_address_is_told_to_trackers() {
        let v4 = IpAddr::from([0, 0, 0, 0]);
        let all = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
        let global: Ipv6Addr = "2a01:4f8::1".parse().unwrap();
        assert_eq!(global_ipv6(v4, None), None);
        assert_eq!(global_ipv6(all, Some(global.into())), Some(global));
        assert_eq!(global_ipv6(all, Some(Ipv6Addr::LOCALHOST.into())), None);
        let link_local: Ipv6Addr = "fe80::1".parse().unwrap();
        let private: Ipv6Addr = "fd00::1".parse().unwrap();
        assert!(!is_global(link_local) && !is_global(private) && is_global(global));
    }

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

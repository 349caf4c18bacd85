//! Where a supervised child's TCP connections may go: the decision the socket broker
//! (`broker/unix_socket.rs`) applies to every trapped `connect`/`sendto` of an `AF_INET`/
//! `AF_INET6` stream socket, and the typed record of a refusal ([`ConnectDenial`]).
//!
//! Landlock's TCP rules name a port, on any address. Under `nono run` the supervisor performs
//! every such connect itself (it never answers `CONTINUE`), so it can also check the address:
//! - the egress proxy's port (`--allow-domain` and friends) reaches the proxy's own address
//!   only — another listener on the same port number at another address (`127.0.0.2`, `::1`,
//!   a remote host) is not the proxy;
//! - every other allowed port (`--allow-connect-port`) reaches loopback only (`127.0.0.0/8`,
//!   `::1`, and their IPv4-mapped form): a port exception is for a local service, never a
//!   way out to port N on any host.
//!
//! `nono wrap` has no supervisor to check addresses, so it refuses connect-port exceptions
//! and domain rules (see `nono-cli`'s `cmd/wrap.rs`).

use std::net::{IpAddr, SocketAddr};

use nono_sandbox::NetworkMode;

/// Why the supervisor refused a TCP connection of the child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectRefusal {
    /// No rule allows TCP connections to this port.
    PortNotAllowed,
    /// The port is allowed, but only to loopback addresses (a `--allow-connect-port`
    /// exception under `run`).
    NotLoopback,
    /// The egress proxy's port at an address that is not the proxy's: with domain rules the
    /// proxy is the command's only way out.
    NotTheProxy {
        /// Where the proxy listens.
        proxy: SocketAddr,
    },
}

/// A TCP connection the supervisor refused to make for the child.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectDenial {
    /// The destination the child asked for (an IPv4-mapped IPv6 address as IPv4).
    pub addr: SocketAddr,
    /// The thread id that asked.
    pub pid: u32,
    /// `connect`, or `sendto`/`sendmsg` (TCP Fast Open).
    pub syscall: nono_sandbox::linux::seccomp::Syscall,
    /// Why.
    pub refusal: ConnectRefusal,
}

/// Whether `ip` is a loopback address (`127.0.0.0/8`, `::1`, `::ffff:127.0.0.0/104`).
#[must_use]
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// May the child connect to `dest` under `network`, when the egress proxy (if any) listens
/// on `proxy`? `NetworkMode::Allow` allows everything (nothing is confined).
pub fn judge_connect(
    network: &NetworkMode,
    proxy: Option<SocketAddr>,
    dest: SocketAddr,
) -> Result<(), ConnectRefusal> {
    if *network == NetworkMode::Allow {
        return Ok(());
    }
    let ip = dest.ip().to_canonical();
    let port = dest.port();
    if let Some(p) = proxy {
        // The proxy's port is in the Landlock set for the proxy alone (`nono` refuses an
        // `--allow-connect-port` of the same number).
        if port == p.port() {
            return if ip == p.ip().to_canonical() {
                Ok(())
            } else {
                Err(ConnectRefusal::NotTheProxy { proxy: p })
            };
        }
    }
    let allowed = match network {
        NetworkMode::Ports { connect, .. } => connect.contains(&port),
        _ => false,
    };
    if !allowed {
        Err(ConnectRefusal::PortNotAllowed)
    } else if !is_loopback(ip) {
        Err(ConnectRefusal::NotLoopback)
    } else {
        Ok(())
    }
}

/// Decode a `sockaddr_in`/`sockaddr_in6` as the kernel would read it (`None` for anything
/// shorter or of another family).
#[must_use]
pub fn decode_inet(addr: &[u8]) -> Option<SocketAddr> {
    let family = u16::from_ne_bytes([*addr.first()?, *addr.get(1)?]);
    let port = u16::from_be_bytes([*addr.get(2)?, *addr.get(3)?]);
    if family == libc::AF_INET as u16 && addr.len() >= 8 {
        let ip = std::net::Ipv4Addr::new(addr[4], addr[5], addr[6], addr[7]);
        Some(SocketAddr::new(IpAddr::V4(ip), port))
    } else if family == libc::AF_INET6 as u16 && addr.len() >= 24 {
        let mut b = [0u8; 16];
        b.copy_from_slice(&addr[8..24]);
        Some(SocketAddr::new(
            IpAddr::V6(std::net::Ipv6Addr::from(b)),
            port,
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn ports(p: &[u16]) -> NetworkMode {
        NetworkMode::Ports {
            connect: p.iter().copied().collect::<BTreeSet<_>>(),
            bind: BTreeSet::new(),
        }
    }

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn port_exceptions_reach_loopback_only() {
        let n = ports(&[5432]);
        assert_eq!(judge_connect(&n, None, sa("127.0.0.1:5432")), Ok(()));
        assert_eq!(judge_connect(&n, None, sa("127.3.2.1:5432")), Ok(()));
        assert_eq!(judge_connect(&n, None, sa("[::1]:5432")), Ok(()));
        assert_eq!(
            judge_connect(&n, None, sa("[::ffff:127.0.0.1]:5432")),
            Ok(())
        );
        for far in [
            "93.184.216.34:5432",
            "[2001:db8::1]:5432",
            "[::ffff:10.0.0.1]:5432",
            "0.0.0.0:5432",
        ] {
            assert_eq!(
                judge_connect(&n, None, sa(far)),
                Err(ConnectRefusal::NotLoopback),
                "{far}"
            );
        }
        assert_eq!(
            judge_connect(&n, None, sa("127.0.0.1:80")),
            Err(ConnectRefusal::PortNotAllowed)
        );
        assert_eq!(
            judge_connect(&NetworkMode::Block, None, sa("127.0.0.1:80")),
            Err(ConnectRefusal::PortNotAllowed)
        );
        assert_eq!(
            judge_connect(&NetworkMode::Allow, None, sa("1.1.1.1:53")),
            Ok(())
        );
    }

    #[test]
    fn the_proxy_port_reaches_the_proxy_alone() {
        let proxy = sa("127.0.0.1:40000");
        let n = ports(&[40000]);
        assert_eq!(judge_connect(&n, Some(proxy), proxy), Ok(()));
        assert_eq!(
            judge_connect(&n, Some(proxy), sa("[::ffff:127.0.0.1]:40000")),
            Ok(())
        );
        for other in ["127.0.0.2:40000", "[::1]:40000", "93.184.216.34:40000"] {
            assert_eq!(
                judge_connect(&n, Some(proxy), sa(other)),
                Err(ConnectRefusal::NotTheProxy { proxy }),
                "{other}"
            );
        }
        // An explicit exception on another port is still loopback-only.
        let n = ports(&[40000, 5432]);
        assert_eq!(judge_connect(&n, Some(proxy), sa("127.0.0.1:5432")), Ok(()));
        assert_eq!(
            judge_connect(&n, Some(proxy), sa("10.0.0.1:5432")),
            Err(ConnectRefusal::NotLoopback)
        );
    }

    #[test]
    fn decodes_both_families() {
        let mut v4 = vec![0u8; 16];
        v4[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        v4[2..4].copy_from_slice(&443u16.to_be_bytes());
        v4[4..8].copy_from_slice(&[127, 0, 0, 1]);
        assert_eq!(decode_inet(&v4), Some(sa("127.0.0.1:443")));
        let mut v6 = vec![0u8; 28];
        v6[..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
        v6[2..4].copy_from_slice(&80u16.to_be_bytes());
        v6[23] = 1;
        assert_eq!(decode_inet(&v6), Some(sa("[::1]:80")));
        assert_eq!(decode_inet(&v4[..6]), None);
        assert_eq!(decode_inet(&[]), None);
    }
}

//! `listen` under TCP port rules: performed by the supervisor, never `CONTINUE`d.
//!
//! # Why (red-team 3, finding 4)
//! In port mode (`--allow-connect-port`, `--allow-bind-port`, and the egress proxy of domain
//! rules) internet stream sockets are allowed, and Landlock's TCP rules cover `bind` and
//! `connect` only. `listen(2)` on a socket that was never bound **auto-binds** it to a random
//! port on every address (`0.0.0.0`/`::`) — Landlock's bind hook is not called for that — so
//! anyone who can reach the machine could connect in, around the proxy and the port rules.
//!
//! # Mechanism
//! The notify filter traps `listen` in port mode ([`crate::spawn::trapped_syscalls`]). The
//! supervisor takes its own copy of the child's socket (`pidfd_getfd`: the *same* socket
//! object) and decides on that object only; it never answers `CONTINUE`, since another thread
//! could `dup2` an unbound socket onto the fd number between the check and the kernel's
//! `listen`. So, on the copy:
//! - not an `AF_INET`/`AF_INET6` stream socket (a Unix socket): `listen(backlog)` is
//!   performed as is (what the kernel would have done; a Unix socket's autobind is an abstract
//!   name, which the ABI 6 scope confines);
//! - an internet stream socket whose local port is 0 (never bound): refused with `EACCES`
//!   and a [`Denial`] ([`Refused::TcpListenUnbound`]) whose report line says to bind first to a
//!   port `--allow-bind-port` lists;
//! - bound (to a port Landlock allowed): `listen(backlog)` is performed, then the local port is
//!   read again. A socket whose port was released while `getsockname` still shows the old one
//!   (a failed or `AF_UNSPEC`-disconnected `connect` releases an auto-bound port but keeps the
//!   stale value) would be auto-bound by the kernel's `listen`; if the port changed, the socket
//!   is shut down at once (`shutdown(SHUT_RDWR)` stops a listener) and the call refused like an
//!   unbound one. (Linux 6.18 already fails such a `listen` with `EINVAL`; the check does not
//!   rely on it.)
//!
//! The call runs on the loop as the trapped thread (`as_child.rs`): `listen` does not block.
//!
//! `nono wrap` has no supervisor: there the gap stays (see `gaps.rs`).

use std::os::fd::OwnedFd;

use nono_sandbox::linux::seccomp::{Notification, NotifyFd, Syscall};
use nono_sandbox::{AccessMode, NetworkMode};
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketType};

use super::as_child::ActingAsChild;
use super::run_state::{Call, Denial, Refused, Shared};
use super::StaticGrants;

/// The syscalls this module answers (trapped in port mode only).
pub(crate) const SYSCALLS: &[Syscall] = &[Syscall::Listen];

/// The reason of a refused listen ([`Refused::TcpListenUnbound`]).
pub(crate) const TCP_LISTEN_REFUSED: &str =
    "listen on a TCP socket not bound to a port (the kernel would bind it to a random port on every address)";

/// Whether `s` is answered here.
pub(crate) fn traps(s: Syscall) -> bool {
    SYSCALLS.contains(&s)
}

/// Whether `network` makes `listen` trapped: internet sockets allowed, ports restricted.
pub(crate) fn trapped_in(network: &NetworkMode) -> bool {
    matches!(network, NetworkMode::Ports { .. })
}

/// What became of one `listen`.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The kernel's answer to the `listen` the supervisor performed.
    Done(Result<(), Errno>),
    /// An internet stream socket with no port of its own: refused.
    Unbound,
}

/// The local port of an internet stream socket, or `None` for anything else.
fn inet_stream_port(socket: &OwnedFd) -> Result<Option<u16>, Errno> {
    let addr = rustix::net::getsockname(socket)?;
    let family = addr.address_family();
    if family != AddressFamily::INET && family != AddressFamily::INET6 {
        return Ok(None);
    }
    if rustix::net::sockopt::socket_type(socket)? != SocketType::STREAM {
        return Ok(None);
    }
    let port = std::net::SocketAddr::try_from(addr)
        .map_err(|_| Errno::INVAL)?
        .port();
    Ok(Some(port))
}

/// Perform `listen(backlog)` on `socket` (the child's socket object) as the child.
fn perform(_as_child: &ActingAsChild, socket: &OwnedFd, backlog: i32) -> Result<Outcome, Errno> {
    let before = match inet_stream_port(socket)? {
        None => return Ok(Outcome::Done(rustix::net::listen(socket, backlog))),
        Some(0) => return Ok(Outcome::Unbound),
        Some(port) => port,
    };
    let result = rustix::net::listen(socket, backlog);
    if result.is_ok() && inet_stream_port(socket)? != Some(before) {
        // The kernel auto-bound it (the port shown before was stale): stop the listener.
        let _ = rustix::net::shutdown(socket, rustix::net::Shutdown::Both);
        return Ok(Outcome::Unbound);
    }
    Ok(Outcome::Done(result))
}

/// Answer one trapped `listen` (see the module docs).
pub(crate) fn handle(notify: &NotifyFd, caps: &StaticGrants, shared: &Shared, n: &Notification) {
    let (fd, backlog) = (n.args[0] as i32, n.args[1] as i32);
    let outcome = super::child_fd_copy(notify, n, fd).and_then(|socket| {
        let as_child = caps.creds.of_thread(notify, n)?.act()?;
        perform(&as_child, &socket, backlog)
    });
    match outcome {
        Ok(Outcome::Done(Ok(()))) => {
            let _ = notify.respond_value(n.id, 0);
        }
        Ok(Outcome::Done(Err(e))) | Err(e) => {
            let _ = notify.respond_errno(n.id, e.raw_os_error());
        }
        Ok(Outcome::Unbound) => {
            shared.deny(Denial {
                what: Refused::TcpListenUnbound,
                access: AccessMode::Write,
                pid: n.pid,
                call: Call::Syscall(Syscall::Listen),
                reason: TCP_LISTEN_REFUSED.to_owned(),
            });
            let _ = notify.respond_errno(n.id, Errno::ACCESS.raw_os_error());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_mode_traps_listen_other_modes_do_not() {
        assert!(trapped_in(&NetworkMode::Ports {
            connect: Default::default(),
            bind: [8080].into_iter().collect(),
        }));
        assert!(!trapped_in(&NetworkMode::Allow));
        assert!(!trapped_in(&NetworkMode::Block));
    }
}

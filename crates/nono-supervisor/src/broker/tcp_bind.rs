//! `bind` under TCP port rules: trapped only so that a refusal is reported.
//!
//! With `--allow-bind-port` (`network.bind`) Landlock refuses a TCP `bind` to any other port
//! with `EACCES`, and the command's user saw no hint. Under `run` the notify filter traps
//! `bind` when the network is in port mode ([`crate::spawn::trapped_syscalls`]); here the
//! port is read from the address and judged by the same rule Landlock applies
//! ([`nono_sandbox::NetworkMode::allows_bind`] on an `AF_INET`/`AF_INET6` stream socket).
//! Allowed, or anything else (a Unix socket, an unreadable address): `CONTINUE`, and the
//! kernel decides — Landlock still enforces the port rule, so `CONTINUE` never widens
//! anything, and an address the child rewrites after the check is judged by Landlock again.
//! Not allowed: `EACCES`, what Landlock answers, and a [`Denial`] whose path is
//! [`Refused::TcpBind`].

use nono_sandbox::linux::seccomp::{Notification, NotifyFd, Syscall};
use nono_sandbox::{AccessMode, NetworkMode};
use rustix::io::Errno;
use rustix::net::SocketType;

use super::run_state::{Call, Denial, Refused, Shared};
use super::StaticGrants;

/// The syscalls this module answers (trapped in port mode only).
pub(crate) const SYSCALLS: &[Syscall] = &[Syscall::Bind];

/// The reason of a refused bind ([`Refused::TcpBind`]).
pub(crate) const TCP_BIND_REFUSED: &str = "TCP bind to a port the network rules do not list";

/// Whether `s` is answered here.
pub(crate) fn traps(s: Syscall) -> bool {
    SYSCALLS.contains(&s)
}

/// The port a refused bind asked for, or `None` to let the kernel decide.
fn refused_port(notify: &NotifyFd, caps: &StaticGrants, n: &Notification) -> Option<u16> {
    let network = caps.caps.network();
    if !matches!(network, NetworkMode::Ports { .. }) {
        return None;
    }
    let (fd, addr, len) = (n.args[0] as i32, n.args[1], n.args[2] as u32);
    if addr == 0 || len < 4 {
        return None;
    }
    let mut head = [0u8; 4];
    nono_sandbox::linux::seccomp::procmem::read_into(n.pid, addr, &mut head).ok()?;
    if !notify.id_valid(n.id) {
        return None;
    }
    let family = u16::from_ne_bytes([head[0], head[1]]);
    if family != libc::AF_INET as u16 && family != libc::AF_INET6 as u16 {
        return None;
    }
    let socket = super::child_fd_copy(notify, n, fd).ok()?;
    if rustix::net::sockopt::socket_type(&socket).ok()? != SocketType::STREAM {
        return None;
    }
    let port = u16::from_be_bytes([head[2], head[3]]);
    (!network.allows_bind(port)).then_some(port)
}

/// Answer one trapped `bind` (see the module docs).
pub(crate) fn handle(notify: &NotifyFd, caps: &StaticGrants, shared: &Shared, n: &Notification) {
    let Some(port) = refused_port(notify, caps, n) else {
        let _ = notify.respond_continue(n.id);
        return;
    };
    shared.deny(Denial {
        what: Refused::TcpBind { port },
        access: AccessMode::Write,
        pid: n.pid,
        call: Call::Syscall(Syscall::Bind),
        reason: TCP_BIND_REFUSED.to_owned(),
    });
    let _ = notify.respond_errno(n.id, Errno::ACCESS.raw_os_error());
}

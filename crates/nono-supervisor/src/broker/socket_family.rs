//! Sockets the network rules refuse (UDP, ICMP, raw, packet, netlink, ... under `--block-net`,
//! port rules or the egress proxy): trapped only so that the refusal is reported.
//!
//! Landlock's network rules cover TCP alone, so the seccomp filter refuses `socket()` of every
//! other family (and, in port mode, every `AF_INET`/`AF_INET6` socket that is not a TCP
//! stream). Failed by the filter itself (`ERRNO` wins over `USER_NOTIF`), the supervisor never
//! saw them and the user got no hint. Under `run` the merged program traps exactly those calls
//! instead (`SandboxOptions::with_refused_sockets_trapped`); here they are refused with the
//! errno [`socket_refusal`] names — the one the filter answers without a supervisor, so the
//! program sees the same `EAFNOSUPPORT`/`EPROTONOSUPPORT` — and recorded as a [`Denial`] whose
//! reason says what would allow it ([`SocketRefusal`]). Never `CONTINUE`: family, type and
//! protocol are registers (nothing is read from the child), and the filter traps only what the
//! network mode refuses, so every call that arrives here is refused, also when `socket_refusal`
//! (a bug) would disagree. The i386 and x32 entry points (`socketcall`) are refused by the
//! filter's arch check before any of this.

use nono_sandbox::linux::seccomp::{socket_refusal, Notification, NotifyFd, Syscall};
use nono_sandbox::{AccessMode, NetworkMode};

use super::run_state::{Call, Denial, Refused, Shared};
use super::StaticGrants;

/// Why a socket was refused, and so what would allow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SocketRefusal {
    /// The network is blocked (`--block-net`, a profile's `network.block`): without the
    /// block the call reaches the kernel.
    NetworkBlocked,
    /// Port rules (`--allow-connect-port`, `--allow-bind-port`, `network.connect`/`bind`)
    /// allow TCP only: no flag adds another family or type beside them; without any port
    /// rule the network is not confined.
    TcpPortsOnly,
    /// The egress proxy (`--allow-domain`, `--network-profile`, `--credential`, a profile's
    /// domain rules) is the only way out: TCP to the proxy only.
    EgressProxyOnly,
    /// A raw or packet socket (`SOCK_RAW` of `AF_INET`/`AF_INET6`, any `AF_PACKET`): the kernel
    /// asks for `CAP_NET_RAW`, which nono drops in every sandbox, so no flag allows it.
    NeedsCapNetRaw,
    /// `socketpair` of a family other than `AF_UNIX`: the kernel pairs `AF_UNIX` only
    /// (`EOPNOTSUPP` without any rule), so no flag makes it work.
    PairNotUnix,
}

impl SocketRefusal {
    /// The reason recorded in the [`Denial`] (its kind is [`Refused::NetworkSocket`]).
    #[must_use]
    pub const fn reason(self) -> &'static str {
        match self {
            SocketRefusal::NetworkBlocked => "socket family refused: the network is blocked",
            SocketRefusal::TcpPortsOnly => "socket refused: the port rules allow TCP only",
            SocketRefusal::EgressProxyOnly => {
                "socket refused: the egress proxy is the only way out (TCP to the proxy)"
            }
            SocketRefusal::NeedsCapNetRaw => {
                "raw socket refused: it needs CAP_NET_RAW, which the sandbox never has"
            }
            SocketRefusal::PairNotUnix => {
                "socketpair refused: the kernel pairs AF_UNIX sockets only"
            }
        }
    }

    /// Every kind.
    pub const ALL: &'static [SocketRefusal] = &[
        SocketRefusal::NetworkBlocked,
        SocketRefusal::TcpPortsOnly,
        SocketRefusal::EgressProxyOnly,
        SocketRefusal::NeedsCapNetRaw,
        SocketRefusal::PairNotUnix,
    ];

    /// The kind for a call `s` of `(family, type)` refused under `network`, with the egress
    /// proxy on or not.
    fn of(network: &NetworkMode, proxied: bool, s: Syscall, family: u32, ty: u32) -> SocketRefusal {
        let inet = family == libc::AF_INET as u32 || family == libc::AF_INET6 as u32;
        if s == Syscall::SocketPair {
            SocketRefusal::PairNotUnix
        } else if family == libc::AF_PACKET as u32 || (inet && ty == libc::SOCK_RAW as u32) {
            SocketRefusal::NeedsCapNetRaw
        } else if *network == NetworkMode::Block {
            SocketRefusal::NetworkBlocked
        } else if proxied {
            SocketRefusal::EgressProxyOnly
        } else {
            SocketRefusal::TcpPortsOnly
        }
    }
}

/// The syscalls this module answers (trapped by the deny part of the merged program, not by
/// the notify set: see the module docs).
pub(crate) const SYSCALLS: &[Syscall] = &[Syscall::Socket, Syscall::SocketPair];

/// Whether a trapped call `s` with registers `args` is answered here: a `socket`/`socketpair`
/// of a family other than `AF_UNIX` (those of `AF_UNIX` are Unix datagram sockets, answered by
/// `unix_socket.rs`).
pub(crate) fn traps(s: Syscall, args: &[u64; 6]) -> bool {
    SYSCALLS.contains(&s) && args[0] as u32 != libc::AF_UNIX as u32
}

/// `socket(AF_INET, SOCK_DGRAM, 17)`: the call as the report shows it (also the denial's
/// path, so that repeated calls fold into one line).
fn describe(s: Syscall, family: u32, ty: u32, proto: u32) -> String {
    let family = match family as i32 {
        libc::AF_INET => "AF_INET".to_owned(),
        libc::AF_INET6 => "AF_INET6".to_owned(),
        libc::AF_PACKET => "AF_PACKET".to_owned(),
        libc::AF_NETLINK => "AF_NETLINK".to_owned(),
        libc::AF_VSOCK => "AF_VSOCK".to_owned(),
        libc::AF_BLUETOOTH => "AF_BLUETOOTH".to_owned(),
        libc::AF_CAN => "AF_CAN".to_owned(),
        libc::AF_ALG => "AF_ALG".to_owned(),
        libc::AF_XDP => "AF_XDP".to_owned(),
        other => format!("family {other}"),
    };
    let kind = match ty as i32 {
        libc::SOCK_STREAM => "SOCK_STREAM".to_owned(),
        libc::SOCK_DGRAM => "SOCK_DGRAM".to_owned(),
        libc::SOCK_RAW => "SOCK_RAW".to_owned(),
        libc::SOCK_SEQPACKET => "SOCK_SEQPACKET".to_owned(),
        libc::SOCK_RDM => "SOCK_RDM".to_owned(),
        other => format!("type {other}"),
    };
    format!("{}({family}, {kind}, {proto})", s.name())
}

/// Refuse one trapped `socket`/`socketpair` the network rules refuse, and report it.
pub(crate) fn handle(
    notify: &NotifyFd,
    caps: &StaticGrants,
    shared: &Shared,
    n: &Notification,
    s: Syscall,
) {
    let network = caps.caps.network();
    // What the filter answers without a supervisor; EAFNOSUPPORT if the two ever disagreed
    // (the filter trapped it, so it is refused either way).
    let errno = socket_refusal(network, s, &n.args).unwrap_or(libc::EAFNOSUPPORT);
    let (family, ty, proto) = (
        n.args[0] as u32,
        n.args[1] as u32 & 0xf,
        if s == Syscall::Socket {
            n.args[2] as u32
        } else {
            0
        },
    );
    let refusal = SocketRefusal::of(network, caps.egress_proxy.is_some(), s, family, ty);
    shared.deny(Denial {
        what: Refused::NetworkSocket {
            call: describe(s, family, ty, proto),
            refusal,
        },
        access: AccessMode::ReadWrite,
        pid: n.pid,
        call: Call::Syscall(s),
        reason: refusal.reason().to_owned(),
    });
    let _ = notify.respond_errno(n.id, errno);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_descriptions() {
        let ports = NetworkMode::Ports {
            connect: [443].into_iter().collect(),
            bind: Default::default(),
        };
        let (inet, dgram, raw) = (
            libc::AF_INET as u32,
            libc::SOCK_DGRAM as u32,
            libc::SOCK_RAW as u32,
        );
        use SocketRefusal as R;
        assert_eq!(
            R::of(&NetworkMode::Block, false, Syscall::Socket, inet, dgram),
            R::NetworkBlocked
        );
        assert_eq!(
            R::of(&ports, false, Syscall::Socket, inet, dgram),
            R::TcpPortsOnly
        );
        assert_eq!(
            R::of(&ports, true, Syscall::Socket, inet, dgram),
            R::EgressProxyOnly
        );
        assert_eq!(
            R::of(&NetworkMode::Block, false, Syscall::Socket, inet, raw),
            R::NeedsCapNetRaw
        );
        let packet = libc::AF_PACKET as u32;
        assert_eq!(
            R::of(&ports, true, Syscall::Socket, packet, dgram),
            R::NeedsCapNetRaw
        );
        let netlink = libc::AF_NETLINK as u32;
        assert_eq!(
            R::of(&NetworkMode::Block, false, Syscall::Socket, netlink, raw),
            R::NetworkBlocked
        );
        assert_eq!(
            describe(Syscall::Socket, inet, dgram, 17),
            "socket(AF_INET, SOCK_DGRAM, 17)"
        );
        assert_eq!(
            describe(Syscall::SocketPair, 99, 9, 0),
            "socketpair(family 99, type 9, 0)"
        );
        assert_eq!(
            R::of(&NetworkMode::Block, false, Syscall::SocketPair, inet, dgram),
            R::PairNotUnix
        );
        let reasons: std::collections::BTreeSet<_> = R::ALL.iter().map(|r| r.reason()).collect();
        assert_eq!(reasons.len(), R::ALL.len());
    }
}

//! The socket broker: `connect` (and `sendto` with a destination address) of a supervised
//! child, performed by the supervisor so that a pathname Unix socket is reachable only when it
//! is granted by itself, or lies in a write grant and is served by the sandbox's own processes;
//! and the refusal (with a report) of Unix datagram sockets, which could `sendmsg` anywhere.
//!
//! # Why
//! Before Landlock ABI 9 (`LANDLOCK_ACCESS_FS_RESOLVE_UNIX`), connecting to a pathname Unix
//! socket is not a filesystem access Landlock checks: a sandboxed process can reach a
//! `docker.sock`, an ssh-agent or a D-Bus bus anywhere (measured on 6.18, see
//! docs/THREAT_MODEL.md). Abstract sockets are already stopped by the ABI 6 scope.
//!
//! # Mechanism
//! `connect` is trapped always, `sendto` when its address argument is not NULL (the BPF
//! filter checks the register, so a plain `send` costs nothing). The supervisor reads the
//! `sockaddr` (and for `sendto` the payload) once, takes its own copy of the child's socket
//! (`pidfd_getfd`: the *same* socket, so its bind address, options and `O_NONBLOCK` are the
//! child's) and never answers `CONTINUE` — the kernel would re-read the address, and another
//! thread could `dup2` a different socket onto the fd number after the check, so neither the
//! address nor the socket the supervisor looked at would be what the kernel uses. Instead:
//! - a pathname address on an `AF_UNIX` socket: the path is resolved against the calling
//!   thread's cwd, canonicalised with the thread's credentials as the kernel's lookup goes
//!   (`paths::realpath_as_the_kernel`: `..` physical, no magic link) and checked against the
//!   **write grants** (connecting to a
//!   socket needs write permission on it, as in DAC and in Landlock ABI 9); outside → `EACCES`
//!   and a [`Denial`], and nothing is connected. Inside, the socket file is opened
//!   `O_PATH | O_NOFOLLOW` beneath its canonical parent (no symlinks) and the supervisor
//!   connects/sends **to `/proc/self/fd/N`** — exactly the inode it checked, never a path a
//!   swap could redirect — under the rule below ("Whose socket");
//! - an abstract address on an `AF_UNIX` socket: refused with `EPERM` (what the ABI 6 scope
//!   answers for a socket outside the sandbox): the supervisor cannot tell whether the abstract
//!   socket belongs to the sandbox, and letting the kernel do it would mean `CONTINUE`;
//! - any other address (unnamed, `AF_UNSPEC`, or a non-`AF_UNIX` socket): performed on the
//!   copy with the copied bytes, after the TCP rules of the capability set for `AF_INET`/
//!   `AF_INET6` stream sockets (the supervisor is not under Landlock, so it checks the port
//!   itself) and the address rules of `egress.rs` that Landlock cannot express (an allowed
//!   port reaches loopback only; the egress proxy's port reaches the proxy only). A refusal
//!   is `EACCES` and a [`crate::egress::ConnectDenial`] for the report.
//!
//! # Whose socket: the rule for pathname sockets
//! A directory write grant is not a grant of every server that happens to keep its socket
//! there: with `/tmp` writable (the default profile) a tmux server's `/tmp/tmux-UID/default`
//! (`send-keys` runs commands outside the sandbox), an ssh-agent's `/tmp/ssh-*/agent.*` or
//! X11's `/tmp/.X11-unix/X0` (keystroke injection) would all be reachable. So a connection is
//! made only when
//! - **(a)** the socket is granted *by itself*: a file grant with write access on the socket's
//!   canonical path (`--allow-file PATH`, `--write-file PATH`, or the socket named in a
//!   profile's `filesystem.allow`) — the child's own socket is connected, as before. No
//!   separate flag: a file grant already names one inode, flows through profiles, the CLI,
//!   `--dry-run` and `nono why`, and is what a Landlock ABI 9 file rule would mean. The grant
//!   is of the socket **inode** the path named when the run started ([`GrantedSockets`]:
//!   `(st_dev, st_ino)` recorded, and the inode pinned with an `O_PATH` fd, before the child
//!   is spawned), compared with `fstat` of the very `O_PATH` fd the supervisor connects
//!   through — so no rename or link between the check and the connect matters. A command
//!   that can write the socket's directory could otherwise remove the granted name and
//!   hard-link (or rename) another socket there — a tmux server's — and be connected to it
//!   (issue 10 finding 2). When the name leads to another inode, the file grant does not
//!   apply and the socket is judged like any other socket in a write grant, by (b): one the
//!   sandbox itself re-bound there still works, one served outside is refused with a reason
//!   saying the granted socket was replaced; or
//! - **(b)** for a stream or seqpacket `connect`, the socket is **served inside the sandbox**:
//!   the process that called `listen()` on it is the sandbox's root process or a descendant
//!   (the `PPid` walk of [`super::procfs::in_tree`]). The supervisor cannot ask the kernel who
//!   serves a socket without connecting to it, so it connects a socket **of its own** (same
//!   type, the child's `O_NONBLOCK` and `SO_PASSCRED`), reads `SO_PEERCRED` (for a Unix stream
//!   connection: the creds of the listener's `listen()` caller) and `SO_PEERPIDFD` (pins that
//!   process: it must still be alive after the walk, or its pid may have been reused), and only
//!   if it is inside puts that socket in place of the child's (`ADDFD` with `SETFD` at the
//!   child's fd number, with the child's close-on-exec flag) and answers 0. Otherwise it closes
//!   it without writing a byte, answers `EACCES` and records a [`Denial`] whose reason names
//!   the server (`served outside the sandbox by pid N (comm); grant it explicitly with
//!   --allow-file PATH`).
//!
//! Why not connect the child's own socket and check afterwards (then shut it down)? The child's
//! socket is shared with its other threads (and any process it was dup'ed into): from the
//! moment it is connected until the shutdown, another thread spinning on `send()` gets bytes
//! into the outside server's queue, which it reads when it accepts. With a socket of the
//! supervisor's, the child holds nothing connected until the check has passed.
//!
//! What the server outside sees of a refused connect: one connection that ends at once with
//! no data (an `accept` followed by EOF) — the check cannot be done without it. What the
//! child loses with (b): its socket object is replaced, so a binding made before the connect
//! (refused: a bound client must use (a)), socket options other than `O_NONBLOCK` and
//! `SO_PASSCRED` (buffer sizes, timeouts) and other descriptors of the same unconnected socket
//! (a `dup` made before the connect stays unconnected) are not carried over. A server inside
//! the sandbox that daemonised after `listen()` (the listening process exited; the socket lives
//! on in its child, reparented away from the sandbox's tree) cannot be told from one outside:
//! refused, grant it by itself. A server outside that holds a listener created inside the
//! sandbox (passed to it over `SCM_RIGHTS`) counts as inside: the sandbox already talks to it.
//!
//! Datagrams (`sendto`, and `connect` of a `SOCK_DGRAM` socket): the kernel has no peer
//! credentials for a datagram receiver, and finding the receiving socket's owner means a
//! `sock_diag` dump plus a scan of every sandboxed process's descriptors, so only (a) applies.
//! `sendto` with an address on a stream or seqpacket socket never connects anywhere (the
//! kernel rejects or ignores the address) and is performed on the child's socket.
//!
//! The connect or send itself runs on a broker worker, as the child (`as_child.rs`: netlink
//! checks the sender's `CAP_NET_ADMIN`, a pathname socket its write permission — a sandboxed
//! root without capabilities must not regain them through the supervisor). A TCP connect can
//! block for a long time: on a blocking socket it is made non-blocking and waited for in
//! slices that check the child is still waiting, so a killed child never leaves the worker
//! (and `run`) stuck. Sends
//! use `MSG_NOSIGNAL` (a broken pipe is the child's `EPIPE`, not the supervisor's `SIGPIPE`);
//! a receiver asking for `SCM_CREDENTIALS`, and a server reading `SO_PEERCRED` of a brokered
//! connection, sees the supervisor's pid.
//!
//! # `sendmsg`: no datagram sockets
//! `sendmsg`/`sendmmsg` are not brokered: the address lives in a `msghdr` in the child's memory,
//! which the filter cannot see, and a check of it would race with the child (another thread
//! rewrites the `msghdr`, or `dup2`s another socket onto the fd, after the check and before a
//! `CONTINUE`); brokering race-free would mean performing every `sendmsg`, control messages
//! included. Stream and seqpacket sockets reject or ignore a `msg_name` (`EOPNOTSUPP`/`EISCONN`
//! for stream; seqpacket sends to its peer), so the only way to reach a pathname socket with
//! `sendmsg` is a **datagram** socket — also one end of a datagram `socketpair`, since an
//! explicit address wins over the peer.
//!
//! So Unix datagram sockets are not created at all unless the capability set allows them
//! ([`nono_sandbox::CapabilitySet::allow_unix_datagram`], `--allow-unix-datagram`,
//! `network.allow_unix_datagram`): `socket`/`socketpair` of `AF_UNIX` with a type other than
//! `SOCK_STREAM`/`SOCK_SEQPACKET` ([`DATAGRAM_SOCKET_SYSCALLS`]) are trapped by the notify
//! filter (the type and family are registers, so the filter decides exactly and nothing is read
//! from the child) and answered `EACCES` here, with a [`Denial`] for the report — never
//! `CONTINUE`. Without a supervisor (`nono wrap`) the deny filter refuses them itself. The cost
//! is zero for everything else: no `sendmsg` is trapped, and the check comes after every other
//! compare of the notify filter. With the opt-in the gap is back (and reported as such by
//! `--dry-run`, `nono setup` and `gaps.rs`): `sendmsg` to any pathname datagram socket
//! (`/dev/log`, `/run/systemd/notify`) is unchecked, while `sendto` and `connect` of a datagram
//! socket stay brokered (rule (a) above). See docs/THREAT_MODEL.md.
#![allow(unsafe_code)]

use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use nono_sandbox::linux::seccomp::{AddFdOptions, Notification, NotifyError, NotifyFd, Syscall};
use nono_sandbox::paths::realpath_as_the_kernel;
use nono_sandbox::{AccessMode, FsKind, NetworkMode};
use rustix::fs::OFlags;
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketFlags, SocketType};

use super::as_child::ActingAsChild;
use super::run_state::{Denial, Refused, Shared};
use super::{Lane, StaticGrants, Workers};

/// The syscalls this module brokers.
pub(crate) const SYSCALLS: &[Syscall] = &[Syscall::Connect, Syscall::SendTo];

/// `sizeof(struct sockaddr_storage)`: the kernel refuses longer addresses.
const SOCKADDR_MAX: usize = 128;
/// `offsetof(struct sockaddr_un, sun_path)`.
const SUN_PATH_OFFSET: usize = 2;
/// Largest `sendto` payload the supervisor copies (above the default Unix datagram limit).
const SEND_MAX: usize = 256 * 1024;
const PATH_MAX: usize = 4096;

/// Whether `s` is brokered here.
pub(crate) fn traps(s: Syscall) -> bool {
    SYSCALLS.contains(&s)
}

/// The syscalls trapped when Unix datagram sockets are refused (the notify filter traps them
/// only for `AF_UNIX` with a datagram type; see "`sendmsg`: no datagram sockets").
pub(crate) const DATAGRAM_SOCKET_SYSCALLS: &[Syscall] = Syscall::UNIX_DATAGRAM;

/// Whether `s` is a trapped `socket`/`socketpair` of a Unix datagram socket.
pub(crate) fn refuses_datagram_socket(s: Syscall) -> bool {
    DATAGRAM_SOCKET_SYSCALLS.contains(&s)
}

/// The sockets that file grants name, pinned when the run starts (before the child exists):
/// rule (a) grants the socket *inode* a file grant named then, not whatever a name later
/// points to (see "Whose socket" above: a command with write access to the socket's
/// directory could otherwise unlink the granted name and hard-link or rename another socket
/// there — a tmux server's — and have it connected).
#[derive(Debug, Default)]
pub(crate) struct GrantedSockets(Vec<GrantedSocket>);

#[derive(Debug)]
struct GrantedSocket {
    /// The grant's canonical path.
    path: PathBuf,
    /// `(st_dev, st_ino)` when the run started.
    id: (u64, u64),
    /// An `O_PATH` descriptor of it, held for the run so that its inode number cannot be
    /// reused by another socket on the same filesystem while the identity is compared.
    _pin: OwnedFd,
}

impl GrantedSockets {
    /// Pin every socket named by a file grant with write access (what rule (a) considers).
    /// Called before the child is spawned: nothing of the sandbox can have changed the
    /// names yet. A grant that is not a socket, or no longer exists, pins nothing (a socket
    /// that appears there later is judged like any other: rule (b)).
    pub(crate) fn pin(caps: &nono_sandbox::CapabilitySet) -> Self {
        let sockets = caps
            .grants()
            .iter()
            .filter(|g| names_a_socket(g))
            .filter_map(|g| {
                let fd = rustix::fs::open(
                    &g.path,
                    OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    rustix::fs::Mode::empty(),
                )
                .ok()?;
                let st = rustix::fs::fstat(&fd).ok()?;
                (st.st_mode & libc::S_IFMT == libc::S_IFSOCK).then(|| GrantedSocket {
                    path: g.path.clone(),
                    id: (st.st_dev, st.st_ino),
                    _pin: fd,
                })
            })
            .collect();
        GrantedSockets(sockets)
    }

    /// What a file grant says about the socket at `canonical` whose `fstat` is `st` (the
    /// inode the supervisor connects to).
    fn verdict(&self, canonical: &Path, st: &rustix::fs::Stat) -> FileGrant {
        match self.0.iter().find(|s| s.path == canonical) {
            None => FileGrant::None,
            Some(s) if s.id == (st.st_dev, st.st_ino) => FileGrant::ThisSocket,
            Some(_) => FileGrant::Replaced,
        }
    }
}

/// Whether grant `g` may name a socket by itself (rule (a)): a file grant with write access.
fn names_a_socket(g: &nono_sandbox::FsGrant) -> bool {
    g.kind == FsKind::File && g.access.writes()
}

/// What the socket broker answers a `connect` to the pathname socket at `path` (absolute),
/// as far as it can be told before any process of the sandbox runs: what `nono why` shows.
/// `None`: no socket there. Rule (a): a file grant with write access names it → allowed.
/// Otherwise rule (b) — served by the sandbox's own processes — cannot hold for a socket
/// that exists before the run (whoever serves it now is outside), so → refused, even inside
/// a directory write grant (which Landlock alone, under `wrap`, would allow).
#[must_use]
pub fn explain_socket(caps: &nono_sandbox::CapabilitySet, path: &Path) -> Option<SocketVerdict> {
    use std::os::unix::fs::FileTypeExt;
    let canonical = std::fs::canonicalize(path).ok()?;
    if !std::fs::metadata(&canonical).ok()?.file_type().is_socket() {
        return None;
    }
    let by_itself = caps
        .grants()
        .iter()
        .any(|g| names_a_socket(g) && g.path == canonical);
    Some(if by_itself {
        SocketVerdict {
            allowed: true,
            reason: "the socket is granted by itself (a file grant with write access)".into(),
        }
    } else {
        SocketVerdict {
            allowed: false,
            reason: format!(
                "a Unix socket is reached only when it is granted by itself, or served by the \
                 sandbox's own processes (this one exists before the run, so it is served \
                 outside); grant it with --allow-file {}",
                canonical.display()
            ),
        }
    })
}

/// [`explain_socket`]'s answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SocketVerdict {
    /// Whether `connect` would be performed.
    pub allowed: bool,
    /// Why, in words.
    pub reason: String,
}

/// Whether `caps` grants the socket at `canonical` (inode `st`) by itself (rule (a)).
pub(crate) fn granted_by_itself(
    caps: &StaticGrants,
    canonical: &Path,
    st: &rustix::fs::Stat,
) -> bool {
    caps.sockets.verdict(canonical, st) == FileGrant::ThisSocket
}

/// Whether a file grant names the socket being connected to (rule (a)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileGrant {
    /// No socket file grant on this path.
    None,
    /// The path is granted by itself and still names the inode it named at start.
    ThisSocket,
    /// The path is granted by itself, but the name now leads to another inode (unlinked and
    /// re-created, or another socket linked or renamed there).
    Replaced,
}

/// Refuse a trapped `socket`/`socketpair`: `EACCES` (what the deny filter answers without a
/// supervisor) and a [`Denial`] that says what was refused and how to allow it. The notify
/// filter traps only `AF_UNIX` with a type other than stream and seqpacket, so every call
/// that reaches this is refused; the registers are only read to word the reason.
pub(crate) fn refuse_datagram_socket(
    notify: &NotifyFd,
    shared: &Shared,
    n: &Notification,
    syscall: Syscall,
) {
    // Learning: the learning domain allows them; record it and let the kernel create it.
    if let Some(learner) = &shared.learner {
        learner.unix_datagram();
        let _ = notify.respond_continue(n.id);
        return;
    }
    let kind = datagram_kind(n.args[1]);
    shared.deny(Denial {
        what: Refused::UnixDatagramSocket,
        access: AccessMode::Write,
        pid: n.pid,
        call: super::run_state::Call::Syscall(syscall),
        reason: format!(
            "a Unix datagram socket (AF_UNIX, {kind}): with one, sendmsg reaches any pathname \
             datagram socket (/dev/log, /run/systemd/notify), which nono cannot check; allow \
             them with --allow-unix-datagram (or network.allow_unix_datagram in a profile)"
        ),
    });
    let _ = notify.respond_errno(n.id, Errno::ACCESS.raw_os_error());
}

/// The `type` argument of a refused `socket`/`socketpair`, in words: the kernel's own reading
/// (an int, without `SOCK_NONBLOCK`/`SOCK_CLOEXEC`).
fn datagram_kind(ty: u64) -> String {
    match (ty as u32 & 0xf) as i32 {
        libc::SOCK_DGRAM => "SOCK_DGRAM".to_owned(),
        libc::SOCK_RAW => "SOCK_RAW, a datagram socket for AF_UNIX".to_owned(),
        other => format!("type {other}"),
    }
}

/// An address length argument: the kernel refuses one longer than a `sockaddr_storage`
/// (`EINVAL`); it reads it as an int.
fn addr_len(v: u64) -> Result<usize, Errno> {
    let len = usize::try_from(v as u32).map_err(|_| Errno::INVAL)?;
    if len > SOCKADDR_MAX {
        return Err(Errno::INVAL);
    }
    Ok(len)
}

/// The address family of a copied `sockaddr` (`None`: too short to hold one).
fn sockaddr_family(addr: &[u8]) -> Option<u16> {
    (addr.len() >= 2).then(|| u16::from_ne_bytes([addr[0], addr[1]]))
}

/// The port of an `AF_INET`/`AF_INET6` address (network byte order in the copied bytes).
fn inet_port(addr: &[u8]) -> Option<u16> {
    let family = sockaddr_family(addr)?;
    let inet = family == libc::AF_INET as u16 || family == libc::AF_INET6 as u16;
    (inet && addr.len() >= 4).then(|| u16::from_be_bytes([addr[2], addr[3]]))
}

/// What a `sockaddr` copied from the child names, for an `AF_UNIX` socket.
#[derive(Debug, PartialEq, Eq)]
enum UnixAddress<'a> {
    /// Unnamed, `AF_UNSPEC` or a foreign family: the kernel answers on the copied bytes.
    Other,
    /// An abstract name (the bytes after the leading NUL).
    Abstract(&'a [u8]),
    /// A pathname (the bytes before the first NUL, or all of `sun_path`).
    Path(&'a [u8]),
}

fn unix_address(addr: &[u8]) -> UnixAddress<'_> {
    if sockaddr_family(addr) != Some(libc::AF_UNIX as u16) || addr.len() <= SUN_PATH_OFFSET {
        return UnixAddress::Other;
    }
    let sun_path = &addr[SUN_PATH_OFFSET..];
    if sun_path[0] == 0 {
        return UnixAddress::Abstract(&sun_path[1..]);
    }
    let end = sun_path
        .iter()
        .position(|b| *b == 0)
        .unwrap_or(sun_path.len());
    UnixAddress::Path(&sun_path[..end])
}

/// What a denial of a socket not granted by itself tells the user to do.
fn grant_advice(file_grant: FileGrant, canonical: &Path) -> String {
    match file_grant {
        FileGrant::Replaced => format!(
            "{} is granted by itself, but no longer names the socket it named when nono started \
             (removed and re-created, or another socket linked or renamed over it): a file \
             grant covers that socket only; if its server re-created it, run nono again",
            canonical.display()
        ),
        FileGrant::None | FileGrant::ThisSocket => format!(
            "grant the socket itself explicitly with --allow-file {} (or name it in a \
             profile's filesystem.allow)",
            canonical.display()
        ),
    }
}

/// One decoded call.
#[derive(Debug)]
struct Call {
    syscall: Syscall,
    fd: i32,
    addr: Vec<u8>,
    /// `sendto` only: the payload and flags.
    data: Vec<u8>,
    flags: i32,
}

/// Where the supervisor sends or connects.
#[derive(Debug)]
enum Destination {
    /// The child's address bytes, as copied.
    Raw(Vec<u8>),
    /// A checked pathname socket: connect to `/proc/self/fd/N` of this `O_PATH` fd.
    Inode(OwnedFd),
}

/// What the worker does with a call the loop decided to let through.
#[derive(Debug)]
enum Plan {
    /// Perform the call on the child's own socket (granted explicitly, not a pathname, or a
    /// call that cannot connect anywhere).
    Child(Destination),
    /// A stream or seqpacket `connect` to a socket that is inside a directory write grant but
    /// not granted by itself: connect a socket of the supervisor's own, check that the process
    /// serving it is inside the sandbox, and only then put that socket in place of the child's.
    CheckServer {
        inode: OwnedFd,
        path: PathBuf,
        kind: SocketType,
        /// What the denial tells the user if the server is outside.
        hint: String,
    },
}

enum Refusal {
    Denied(Refused, String, Errno),
    /// A TCP destination the rules do not allow (`EACCES`, what Landlock answers).
    Connect(std::net::SocketAddr, crate::egress::ConnectRefusal),
    Errno(Errno),
}

impl From<Errno> for Refusal {
    fn from(e: Errno) -> Self {
        Refusal::Errno(e)
    }
}

/// Handle one trapped `connect`/`sendto`: decide on the loop, perform on a worker. `root` is
/// the sandbox's root process (the supervisor's direct child).
pub(crate) fn handle(
    notify: &Arc<NotifyFd>,
    caps: &StaticGrants,
    shared: &Arc<Shared>,
    workers: &Workers,
    n: &Notification,
    syscall: Syscall,
    root: u32,
) {
    let decided = decode(notify, n, syscall).and_then(|call| {
        let socket = super::child_fd_copy(notify, n, call.fd)?;
        let plan = decide(notify, caps, shared.learner.as_ref(), n, &call, &socket)?;
        Ok((call, socket, plan))
    });
    match decided {
        Ok((call, socket, Plan::Child(dest))) => {
            let notify = notify.clone();
            let sandbox = caps.creds.clone();
            let n = *n;
            let closing = workers.closing();
            workers.submit(
                Lane::Socket,
                Box::new(move || {
                    super::answer_on_panic(&notify, n.id, || {
                        let waiting = Waiting {
                            notify: &notify,
                            n: &n,
                            closing: &closing,
                        };
                        // As the child: netlink and the socket's DAC check judge the caller.
                        let result = sandbox.of_thread(&notify, &n).and_then(|creds| {
                            let as_child = creds.act()?;
                            perform_interruptible(&as_child, &waiting, &socket, &call, &dest)
                        });
                        match result {
                            Ok(v) => {
                                let _ = notify.respond_value(n.id, v);
                            }
                            Err(e) => {
                                let _ = notify.respond_errno(n.id, e.raw_os_error());
                            }
                        }
                    });
                }),
            );
        }
        Ok((
            call,
            socket,
            Plan::CheckServer {
                inode,
                path,
                kind,
                hint,
            },
        )) => {
            let (notify, shared, n) = (notify.clone(), shared.clone(), *n);
            let sandbox = caps.creds.clone();
            let closing = workers.closing();
            workers.submit(
                Lane::Socket,
                Box::new(move || {
                    super::answer_on_panic(&notify, n.id, || {
                        let waiting = Waiting {
                            notify: &notify,
                            n: &n,
                            closing: &closing,
                        };
                        let checked = sandbox
                            .of_thread(&notify, &n)
                            .map_err(Refusal::Errno)
                            .and_then(|creds| {
                                let as_child = creds.act()?;
                                connect_checked(
                                    &as_child, &waiting, &socket, &call, inode, &path, &hint, kind,
                                    root,
                                )
                            });
                        if let Err(refusal) = checked {
                            refuse(&notify, &shared, &n, syscall, refusal);
                        }
                    });
                }),
            );
        }
        Err(refusal) => refuse(notify, shared, n, syscall, refusal),
    }
}

/// Answer a refused call: its errno, and for a denial also a [`Denial`] for the report.
fn refuse(notify: &NotifyFd, shared: &Shared, n: &Notification, syscall: Syscall, r: Refusal) {
    match r {
        Refusal::Errno(e) => {
            let _ = notify.respond_errno(n.id, e.raw_os_error());
        }
        Refusal::Denied(what, reason, errno) => {
            shared.deny(Denial {
                what,
                access: AccessMode::Write,
                pid: n.pid,
                call: super::run_state::Call::Syscall(syscall),
                reason,
            });
            let _ = notify.respond_errno(n.id, errno.raw_os_error());
        }
        Refusal::Connect(addr, refusal) => {
            shared.deny_connect(crate::egress::ConnectDenial {
                addr,
                pid: n.pid,
                syscall,
                refusal,
            });
            let _ = notify.respond_errno(n.id, Errno::ACCESS.raw_os_error());
        }
    }
}

fn read(notify: &NotifyFd, n: &Notification, addr: u64, len: usize) -> Result<Vec<u8>, Refusal> {
    let mut buf = vec![0u8; len];
    if len > 0 {
        if addr == 0 {
            return Err(Refusal::Errno(Errno::FAULT));
        }
        nono_sandbox::linux::seccomp::procmem::read_into(n.pid, addr, &mut buf)
            .map_err(|_| Errno::FAULT)?;
        if !notify.id_valid(n.id) {
            return Err(Refusal::Errno(Errno::SRCH));
        }
    }
    Ok(buf)
}

fn decode(notify: &NotifyFd, n: &Notification, syscall: Syscall) -> Result<Call, Refusal> {
    let a = n.args;
    match syscall {
        Syscall::Connect => Ok(Call {
            syscall,
            fd: a[0] as i32,
            addr: read(notify, n, a[1], addr_len(a[2])?)?,
            data: Vec::new(),
            flags: 0,
        }),
        Syscall::SendTo => {
            let len = usize::try_from(a[2]).map_err(|_| Errno::MSGSIZE)?;
            if len > SEND_MAX {
                return Err(Refusal::Errno(Errno::MSGSIZE));
            }
            Ok(Call {
                syscall,
                fd: a[0] as i32,
                addr: read(notify, n, a[4], addr_len(a[5])?)?,
                data: read(notify, n, a[1], len)?,
                flags: a[3] as i32,
            })
        }
        _ => Err(Refusal::Errno(Errno::NOSYS)),
    }
}

fn decide(
    notify: &NotifyFd,
    caps: &StaticGrants,
    learner: Option<&super::learner::Learner>,
    n: &Notification,
    call: &Call,
    socket: &OwnedFd,
) -> Result<Plan, Refusal> {
    let domain = rustix::net::sockopt::socket_domain(socket).map_err(|e| {
        if e == Errno::NOPROTOOPT || e == Errno::NOTSOCK {
            Errno::NOTSOCK
        } else {
            e
        }
    })?;
    if domain != AddressFamily::UNIX {
        check_tcp(caps, socket, domain, &call.addr)?;
        if let Some(learner) = learner {
            let stream =
                rustix::net::sockopt::socket_type(socket).is_ok_and(|t| t == SocketType::STREAM);
            if let (true, Syscall::Connect, Some(port)) =
                (stream, call.syscall, inet_port(&call.addr))
            {
                learner.port(false, port);
            }
        }
        return Ok(Plan::Child(Destination::Raw(call.addr.clone())));
    }
    let raw = match unix_address(&call.addr) {
        UnixAddress::Other => return Ok(Plan::Child(Destination::Raw(call.addr.clone()))),
        UnixAddress::Abstract(name) => {
            return Err(Refusal::Denied(
                Refused::AbstractSocket(OsStr::from_bytes(name).to_owned()),
                "an abstract Unix socket (the supervisor cannot tell whose it is)".to_owned(),
                Errno::PERM,
            ));
        }
        UnixAddress::Path(raw) => raw,
    };
    if raw.len() >= PATH_MAX {
        return Err(Refusal::Errno(Errno::NAMETOOLONG));
    }
    let path = Path::new(OsStr::from_bytes(raw));
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        let base = std::fs::read_link(format!("/proc/{}/cwd", n.pid)).map_err(|_| Errno::SRCH)?;
        if !notify.id_valid(n.id) {
            return Err(Refusal::Errno(Errno::SRCH));
        }
        base.join(path)
    };
    let lexical = super::normalize(&absolute);
    if lexical.starts_with("/proc") {
        return Err(Refusal::Denied(
            Refused::Socket(lexical),
            "a Unix socket reached through /proc".to_owned(),
            Errno::ACCESS,
        ));
    }
    // Resolved and opened as the calling thread (`as_child.rs`), as the kernel's lookup for
    // its `connect` goes: with its search permission on every directory it named (a root
    // supervisor's own searched another user's 0700 directory for a capability-less root
    // command), a `..` climbing from where the symlink before it leads, and never through a
    // magic link (`w/l → /proc/$PPID/cwd/sock` named the supervisor's cwd) nor into `/proc`
    // (red team 25). The connect itself runs as the child too, on a worker (the socket's
    // own write permission). Two `capset`s more on this thread for a capability-less root
    // command.
    let as_child = caps.creds.of_thread(notify, n)?.act()?;
    let canonical = realpath_as_the_kernel(&absolute, true).map_err(|e| super::lookup_errno(&e))?;
    if canonical.starts_with("/proc") || !caps.allows_canonical(&canonical, AccessMode::Write) {
        return Err(Refusal::Denied(
            Refused::Socket(canonical),
            "a pathname Unix socket outside the write grants".to_owned(),
            Errno::ACCESS,
        ));
    }
    let inode = super::metadata::open_object(&canonical);
    drop(as_child);
    let inode = inode.map_err(|e| {
        if e == Errno::LOOP || e == Errno::XDEV {
            Refusal::Denied(
                Refused::Socket(canonical.clone()),
                "the socket path changed into a symlink before the connect".to_owned(),
                Errno::ACCESS,
            )
        } else {
            Refusal::Errno(e)
        }
    })?;
    let st = rustix::fs::fstat(&inode)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        // What connecting to a non-socket answers.
        return Err(Refusal::Errno(Errno::CONNREFUSED));
    }
    let file_grant = caps.sockets.verdict(&canonical, &st);
    if file_grant == FileGrant::ThisSocket {
        return Ok(Plan::Child(Destination::Inode(inode)));
    }
    // Learning: every socket outside the deny groups (refused above) is connected, and
    // recorded as the file grant `run` needs for it.
    if let Some(learner) = learner {
        learner.socket(&canonical, &st);
        return Ok(Plan::Child(Destination::Inode(inode)));
    }
    // Not granted by itself (inside a directory write grant only), or granted but the name
    // now leads to another inode: who serves the socket decides, as for any socket.
    let kind = rustix::net::sockopt::socket_type(socket)?;
    let advice = grant_advice(file_grant, &canonical);
    let grant_hint = |what: &str| format!("{what}; {advice}");
    if kind == SocketType::DGRAM {
        return Err(Refusal::Denied(
            Refused::Socket(canonical.clone()),
            grant_hint(
                "a datagram Unix socket not granted by itself (the supervisor cannot tell who \
                 receives datagrams)",
            ),
            Errno::ACCESS,
        ));
    }
    if call.syscall != Syscall::Connect {
        // `sendto` with an address on a stream socket fails (EOPNOTSUPP/EISCONN) and on a
        // seqpacket socket the address is ignored: the kernel never connects anywhere.
        return Ok(Plan::Child(Destination::Inode(inode)));
    }
    if rustix::net::sockopt::socket_acceptconn(socket).unwrap_or(false) {
        return Err(Refusal::Errno(Errno::INVAL));
    }
    if is_connected(socket) {
        return Err(Refusal::Errno(Errno::ISCONN));
    }
    if local_addr_len(socket)? > SUN_PATH_OFFSET {
        return Err(Refusal::Denied(
            Refused::Socket(canonical.clone()),
            grant_hint(
                "a bound client socket connecting to a Unix socket not granted by itself (the \
                 supervisor checks the server on a socket of its own, which cannot carry the \
                 binding)",
            ),
            Errno::ACCESS,
        ));
    }
    Ok(Plan::CheckServer {
        inode,
        path: canonical,
        kind,
        hint: advice,
    })
}

/// Rule (b): connect a fresh socket of the supervisor's (same type, the child's `O_NONBLOCK`
/// and `SO_PASSCRED`) to the checked inode, ask the kernel who serves it, and put it in
/// place of the child's socket (`ADDFD` with `SETFD` at the child's fd number, then answer 0)
/// only if that process is inside the sandbox. Otherwise the socket is closed without a byte
/// written and the child's own socket was never connected, so no other thread of the child
/// can send through it in between.
#[allow(clippy::too_many_arguments)]
fn connect_checked(
    as_child: &ActingAsChild,
    waiting: &Waiting<'_>,
    child: &OwnedFd,
    call: &Call,
    inode: OwnedFd,
    path: &Path,
    hint: &str,
    kind: SocketType,
    root: u32,
) -> Result<(), Refusal> {
    let nonblocking = rustix::fs::fcntl_getfl(child)?.contains(rustix::fs::OFlags::NONBLOCK);
    let mut flags = SocketFlags::CLOEXEC;
    if nonblocking {
        flags |= SocketFlags::NONBLOCK;
    }
    let own = rustix::net::socket_with(AddressFamily::UNIX, kind, flags, None)?;
    if rustix::net::sockopt::socket_passcred(child).unwrap_or(false) {
        rustix::net::sockopt::set_socket_passcred(&own, true)?;
    }
    perform_interruptible(as_child, waiting, &own, call, &Destination::Inode(inode))?;
    let (notify, n) = (waiting.notify, waiting.n);
    if let Err(reason) = served_inside(&own, root, hint) {
        // Dropped unused: the server sees a connection that ends at once, with no data.
        drop(own);
        return Err(Refusal::Denied(
            Refused::Socket(path.to_path_buf()),
            reason,
            Errno::ACCESS,
        ));
    }
    let fd = u32::try_from(call.fd).map_err(|_| Errno::BADF)?;
    let opts = AddFdOptions {
        send: false,
        cloexec: fd_cloexec(n.pid, call.fd),
        target: Some(fd),
    };
    match notify.add_fd(n.id, own.as_fd(), opts) {
        Ok(_) => {
            let _ = notify.respond_value(n.id, 0);
            Ok(())
        }
        Err(NotifyError::Ioctl { source, .. }) => Err(Refusal::Errno(source)),
        Err(_) => Err(Refusal::Errno(Errno::INTR)),
    }
}

/// Whether the process that serves the socket `conn` is connected to is the sandbox's root or
/// a descendant; `Err` carries the denial's reason.
///
/// `SO_PEERCRED` of a connected Unix stream socket names the process that called `listen()` on
/// the other end (measured on 6.18: also after that process exited, when its number may be
/// reused). `SO_PEERPIDFD` (6.5+) pins that very process: it must still be alive after the
/// ancestry walk, so the walk read the `status` of the process the kernel named and not of a
/// newcomer with a reused pid.
fn served_inside(conn: &OwnedFd, root: u32, hint: &str) -> Result<(), String> {
    let pid = peer_pid(conn).unwrap_or(0);
    if pid == 0 {
        return Err(format!(
            "a Unix socket whose server the kernel does not name; {hint}"
        ));
    }
    let pidfd = peer_pidfd(conn);
    let exited = || pidfd.as_ref().is_some_and(process_exited);
    let gone = || {
        format!(
            "a Unix socket whose listener was created by pid {pid}, which has exited (the \
             supervisor cannot tell whether what serves it now is inside the sandbox); {hint}"
        )
    };
    if exited() {
        return Err(gone());
    }
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let inside = super::procfs::in_tree(root, pid);
    if exited() {
        return Err(gone());
    }
    if inside {
        Ok(())
    } else {
        Err(format!(
            "a Unix socket served outside the sandbox by pid {pid} ({}); {hint}",
            comm.trim()
        ))
    }
}

/// The pid in `SO_PEERCRED`; 0 when the kernel does not name the peer (a process outside our
/// pid namespace). Raw `getsockopt` because rustix's `socket_peercred` returns a non-zero
/// `Pid` and cannot represent that 0.
fn peer_pid(conn: &OwnedFd) -> Option<u32> {
    // SAFETY: an all-zero ucred is a valid value.
    let mut cred: libc::ucred = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `conn` is an open fd; `cred` is a writable buffer of `len` bytes that lives
    // for the call, and `len` is a valid in/out length.
    let rc = unsafe {
        libc::getsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            std::ptr::addr_of_mut!(cred).cast(),
            &mut len,
        )
    };
    (rc == 0).then(|| u32::try_from(cred.pid).unwrap_or(0))
}

/// A pidfd of the peer (`SO_PEERPIDFD`, 6.5+); `None` where the kernel lacks it.
fn peer_pidfd(conn: &OwnedFd) -> Option<OwnedFd> {
    let mut fd: libc::c_int = -1;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: as in `peer_pid`, with a c_int buffer.
    let rc = unsafe {
        libc::getsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERPIDFD,
            std::ptr::addr_of_mut!(fd).cast(),
            &mut len,
        )
    };
    if rc != 0 || fd < 0 {
        return None;
    }
    // SAFETY: the kernel just created `fd` for us (close-on-exec); nothing else owns it.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A pidfd polls readable once its process has exited.
fn process_exited(pidfd: &OwnedFd) -> bool {
    let mut fds = [rustix::event::PollFd::new(
        pidfd,
        rustix::event::PollFlags::IN,
    )];
    !matches!(
        rustix::event::poll(&mut fds, Some(&rustix::event::Timespec::default())),
        Ok(0)
    )
}

/// The child's close-on-exec flag on `fd` (`flags:` of `/proc/TID/fdinfo/FD`, octal).
fn fd_cloexec(tid: u32, fd: i32) -> bool {
    let text = std::fs::read_to_string(format!("/proc/{tid}/fdinfo/{fd}")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 8).ok())
        .is_some_and(|f| f & libc::O_CLOEXEC as u64 != 0)
}

fn is_connected(socket: &OwnedFd) -> bool {
    rustix::net::getpeername(socket).is_ok()
}

/// Length of the socket's own address (`SUN_PATH_OFFSET` when it is unbound).
fn local_addr_len(socket: &OwnedFd) -> Result<usize, Errno> {
    let addr = rustix::net::getsockname(socket)?;
    Ok(addr.addr_len() as usize)
}

/// The TCP rules, which Landlock enforces for the child (by port) but not for the
/// supervisor, plus what only the supervisor can check: the address (see `egress.rs`: the
/// proxy's port reaches the proxy alone, other allowed ports loopback alone).
fn check_tcp(
    caps: &StaticGrants,
    socket: &OwnedFd,
    domain: AddressFamily,
    addr: &[u8],
) -> Result<(), Refusal> {
    let network = caps.caps.network();
    if *network == NetworkMode::Allow {
        return Ok(());
    }
    let inet = domain == AddressFamily::INET || domain == AddressFamily::INET6;
    let stream = rustix::net::sockopt::socket_type(socket).is_ok_and(|t| t == SocketType::STREAM);
    if !inet || !stream {
        // seccomp refuses creating any other socket in Block/Ports mode; one received from
        // outside is the sender's business.
        return Ok(());
    }
    // AF_UNSPEC (disconnect) or a short address: the kernel answers on the copied bytes.
    let Some(dest) = crate::egress::decode_inet(addr) else {
        return Ok(());
    };
    crate::egress::judge_connect(network, caps.egress_proxy, dest)
        .map_err(|refusal| Refusal::Connect(dest, refusal))
}

/// How often a waiting connect/send checks that the child is still waiting for it.
const WAIT_SLICE_MS: i32 = 50;

/// What a worker waiting for a socket on the child's behalf checks between slices: that the
/// child still waits (`NOTIF_ID_VALID`) and that the run is not closing (the command ended:
/// a process that outlived it must not keep a worker, and with it `run`, waiting).
struct Waiting<'a> {
    notify: &'a NotifyFd,
    n: &'a Notification,
    closing: &'a AtomicBool,
}

impl Waiting<'_> {
    fn still(&self) -> bool {
        !self.closing.load(Ordering::Acquire) && self.notify.id_valid(self.n.id)
    }
}

/// [`perform`] without ever blocking longer than the child waits: on a blocking socket the
/// call is made non-blocking and waited for in slices, checking `NOTIF_ID_VALID` between them,
/// so a child that is interrupted or killed (Ctrl-C during a connect to an unreachable host)
/// frees the worker at once instead of after the kernel's own timeout. The socket's
/// `O_NONBLOCK` (shared with the child's fd) is restored afterwards.
fn perform_interruptible(
    as_child: &ActingAsChild,
    waiting: &Waiting<'_>,
    socket: &OwnedFd,
    call: &Call,
    dest: &Destination,
) -> Result<i64, Errno> {
    let flags = rustix::fs::fcntl_getfl(socket)?;
    if flags.contains(rustix::fs::OFlags::NONBLOCK) {
        return perform(as_child, socket, call, dest);
    }
    match call.syscall {
        Syscall::SendTo => {
            if call.flags & libc::MSG_DONTWAIT != 0 {
                return perform(as_child, socket, call, dest);
            }
            let nonblocking = Call {
                syscall: call.syscall,
                fd: call.fd,
                addr: Vec::new(),
                data: call.data.clone(),
                flags: call.flags | libc::MSG_DONTWAIT,
            };
            loop {
                match perform(as_child, socket, &nonblocking, dest) {
                    Err(Errno::AGAIN) => {
                        if !wait_writable(waiting, socket) {
                            return Err(Errno::INTR);
                        }
                    }
                    other => return other,
                }
            }
        }
        _ => {
            rustix::fs::fcntl_setfl(socket, flags | rustix::fs::OFlags::NONBLOCK)?;
            let result = connect_waiting(as_child, waiting, socket, call, dest);
            let _ = rustix::fs::fcntl_setfl(socket, flags);
            result
        }
    }
}

fn connect_waiting(
    as_child: &ActingAsChild,
    waiting: &Waiting<'_>,
    socket: &OwnedFd,
    call: &Call,
    dest: &Destination,
) -> Result<i64, Errno> {
    loop {
        match perform(as_child, socket, call, dest) {
            // TCP: the handshake runs; wait for it.
            Err(Errno::INPROGRESS) => loop {
                if !wait_writable(waiting, socket) {
                    return Err(Errno::INTR);
                }
                if poll_out(socket, 0) {
                    return match rustix::net::sockopt::socket_error(socket)? {
                        Ok(()) => Ok(0),
                        Err(e) => Err(e),
                    };
                }
            },
            // A Unix listener's backlog is full: try again while the child still waits.
            Err(Errno::AGAIN) => {
                let _ = rustix::event::poll(&mut [], Some(&slice(WAIT_SLICE_MS)));
                if !waiting.still() {
                    return Err(Errno::INTR);
                }
            }
            other => return other,
        }
    }
}

/// Wait up to one slice for `socket` to become writable; `false` if the child no longer
/// waits for this call.
fn wait_writable(waiting: &Waiting<'_>, socket: &OwnedFd) -> bool {
    poll_out(socket, WAIT_SLICE_MS);
    waiting.still()
}

fn poll_out(socket: &OwnedFd, timeout_ms: i32) -> bool {
    let mut fds = [rustix::event::PollFd::new(
        socket,
        rustix::event::PollFlags::OUT,
    )];
    matches!(rustix::event::poll(&mut fds, Some(&slice(timeout_ms))), Ok(n) if n > 0)
}

fn slice(ms: i32) -> rustix::event::Timespec {
    rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: i64::from(ms) * 1_000_000,
    }
}

/// `connect`/`sendto` on the supervisor's copy of the child's socket, as the child (netlink
/// checks the sender's `CAP_NET_ADMIN`; a pathname socket its owner's write permission).
/// Returns the syscall's value.
fn perform(
    _as_child: &ActingAsChild,
    socket: &OwnedFd,
    call: &Call,
    dest: &Destination,
) -> Result<i64, Errno> {
    // SAFETY: an all-zero sockaddr_un is a valid value.
    let mut un: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    let (addr_ptr, addr_len): (*const u8, usize) = match dest {
        Destination::Raw(bytes) => (bytes.as_ptr(), bytes.len()),
        Destination::Inode(fd) => {
            un.sun_family = libc::AF_UNIX as libc::sa_family_t;
            let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
            for (dst, src) in un.sun_path.iter_mut().zip(path.as_bytes()) {
                *dst = *src as libc::c_char;
            }
            (
                std::ptr::addr_of!(un).cast::<u8>(),
                SUN_PATH_OFFSET + path.len() + 1,
            )
        }
    };
    let addr_ptr = if addr_len == 0 {
        std::ptr::null()
    } else {
        addr_ptr
    };
    let len = libc::socklen_t::try_from(addr_len).map_err(|_| Errno::INVAL)?;
    let rc: i64 = match call.syscall {
        Syscall::Connect => {
            // SAFETY: `socket` is an open fd; `addr_ptr` points at `addr_len` initialised
            // bytes (the copied address or `un`, both alive for the call) or is NULL with
            // length 0; the kernel only reads them.
            i64::from(unsafe {
                libc::connect(socket.as_raw_fd(), addr_ptr.cast::<libc::sockaddr>(), len)
            })
        }
        Syscall::SendTo => {
            // SAFETY: as above for the address; `call.data` is a valid buffer of its length,
            // only read by the kernel.
            let sent = unsafe {
                libc::sendto(
                    socket.as_raw_fd(),
                    call.data.as_ptr().cast(),
                    call.data.len(),
                    call.flags | libc::MSG_NOSIGNAL,
                    addr_ptr.cast::<libc::sockaddr>(),
                    len,
                )
            };
            i64::try_from(sent).unwrap_or(-1)
        }
        _ => return Err(Errno::NOSYS),
    };
    if rc < 0 {
        Err(Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::INVAL))
    } else {
        Ok(rc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;

    /// The identity a file grant pins at start decides, not the name: the same inode is the
    /// granted socket, another inode at the name (linked over it) is not, a path no file
    /// grant names has no verdict, and a grant that is not a socket pins nothing.
    #[test]
    fn a_socket_file_grant_pins_the_inode_it_named_at_start() {
        let dir = Scratch::new(&format!("nono-pin-{}", std::process::id()));
        let (app, other, plain) = (dir.join("app.sock"), dir.join("o.sock"), dir.join("f"));
        let _app = std::os::unix::net::UnixListener::bind(&app).unwrap();
        let _other = std::os::unix::net::UnixListener::bind(&other).unwrap();
        std::fs::write(&plain, "x").unwrap();
        let mut caps = nono_sandbox::CapabilitySet::new();
        caps.allow_file(&app, AccessMode::ReadWrite, "test")
            .unwrap();
        caps.allow_file(&plain, AccessMode::ReadWrite, "test")
            .unwrap();
        caps.allow_file(&other, AccessMode::Read, "test read-only")
            .unwrap();
        let pinned = GrantedSockets::pin(&caps);
        // Only the written socket: the plain file and the read-only grant pin nothing.
        assert_eq!(pinned.0.len(), 1, "{pinned:?}");
        let st = |p: &Path| rustix::fs::stat(p).unwrap();
        assert_eq!(pinned.verdict(&app, &st(&app)), FileGrant::ThisSocket);
        assert_eq!(pinned.verdict(&other, &st(&other)), FileGrant::None);
        std::fs::remove_file(&app).unwrap();
        std::fs::hard_link(&other, &app).unwrap();
        assert_eq!(pinned.verdict(&app, &st(&app)), FileGrant::Replaced);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A `sockaddr_un` as the child would pass it: the family, then `sun_path` bytes.
    fn sun(path: &[u8]) -> Vec<u8> {
        let mut a = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        a.extend_from_slice(path);
        a
    }

    /// A `sockaddr_in` for `ip:port` (port in network byte order, as the kernel reads it).
    fn sin(ip: [u8; 4], port: u16) -> Vec<u8> {
        let mut a = (libc::AF_INET as u16).to_ne_bytes().to_vec();
        a.extend_from_slice(&port.to_be_bytes());
        a.extend_from_slice(&ip);
        a.extend_from_slice(&[0; 8]);
        a
    }

    #[test]
    fn unix_addresses_are_read_as_the_kernel_reads_them() {
        // A pathname: up to the first NUL (the kernel allows a terminating NUL or none).
        assert_eq!(
            unix_address(&sun(b"/run/x.sock\0")),
            UnixAddress::Path(b"/run/x.sock")
        );
        assert_eq!(
            unix_address(&sun(b"/run/x.sock")),
            UnixAddress::Path(b"/run/x.sock")
        );
        assert_eq!(
            unix_address(&sun(b"rel\0garbage")),
            UnixAddress::Path(b"rel")
        );
        // Abstract: a leading NUL; the rest (NULs included) is the name.
        assert_eq!(
            unix_address(&sun(b"\0name\0x")),
            UnixAddress::Abstract(b"name\0x")
        );
        assert_eq!(unix_address(&sun(b"\0")), UnixAddress::Abstract(b""));
        // Unnamed (only the family: autobind/disconnect), AF_UNSPEC, another family, or
        // too short to hold a family: the kernel answers on the copied bytes.
        assert_eq!(unix_address(&sun(b"")), UnixAddress::Other);
        assert_eq!(unix_address(&[0, 0, b'/', b'x']), UnixAddress::Other);
        assert_eq!(unix_address(&sin([127, 0, 0, 1], 80)), UnixAddress::Other);
        assert_eq!(unix_address(&[1]), UnixAddress::Other);
        assert_eq!(unix_address(&[]), UnixAddress::Other);
    }

    #[test]
    fn inet_ports_and_address_lengths() {
        assert_eq!(inet_port(&sin([127, 0, 0, 1], 8080)), Some(8080));
        let mut six = (libc::AF_INET6 as u16).to_ne_bytes().to_vec();
        six.extend_from_slice(&443u16.to_be_bytes());
        six.extend_from_slice(&[0; 24]);
        assert_eq!(inet_port(&six), Some(443));
        // Too short for a port, or not an inet family: no port to learn.
        assert_eq!(inet_port(&sin([127, 0, 0, 1], 8080)[..3]), None);
        assert_eq!(inet_port(&sun(b"/x")), None);
        assert_eq!(sockaddr_family(&[1]), None);
        // The length is an int: longer than a sockaddr_storage is EINVAL; the high half of
        // the register is not part of it.
        assert_eq!(addr_len(16), Ok(16));
        assert_eq!(addr_len(SOCKADDR_MAX as u64), Ok(SOCKADDR_MAX));
        assert_eq!(addr_len(SOCKADDR_MAX as u64 + 1), Err(Errno::INVAL));
        assert_eq!(addr_len((1 << 32) | 16), Ok(16));
        assert_eq!(addr_len(u64::from(u32::MAX)), Err(Errno::INVAL));
    }

    #[test]
    fn a_refused_datagram_socket_names_its_type() {
        let dgram = libc::SOCK_DGRAM as u64;
        assert_eq!(datagram_kind(dgram), "SOCK_DGRAM");
        // SOCK_NONBLOCK and SOCK_CLOEXEC are not part of the type.
        let flags = (libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) as u64;
        assert_eq!(datagram_kind(dgram | flags), "SOCK_DGRAM");
        assert!(datagram_kind(libc::SOCK_RAW as u64).starts_with("SOCK_RAW"));
        assert_eq!(datagram_kind(10), "type 10");
        assert!(refuses_datagram_socket(DATAGRAM_SOCKET_SYSCALLS[0]));
        assert!(traps(Syscall::Connect) && traps(Syscall::SendTo));
        assert!(!traps(Syscall::OpenAt));
    }

    /// The advice of a denial names the flag that fixes it, or says the granted socket was
    /// replaced (then no flag helps but a new run).
    #[test]
    fn the_advice_names_the_flag_or_the_replacement() {
        let p = Path::new("/run/app.sock");
        let fix = grant_advice(FileGrant::None, p);
        assert!(fix.contains("--allow-file /run/app.sock"), "{fix}");
        let replaced = grant_advice(FileGrant::Replaced, p);
        assert!(
            replaced.contains("no longer names the socket"),
            "{replaced}"
        );
        assert!(!replaced.contains("--allow-file"), "{replaced}");
    }

    /// The TCP rules the supervisor applies itself (it is not under Landlock): everything
    /// with the network allowed; an unlisted port refused; a listed port on loopback only;
    /// other socket kinds left to seccomp. Nothing is connected here.
    #[test]
    fn tcp_destinations_follow_the_network_rules() {
        use rustix::net::{socket, AddressFamily, SocketType};
        let tcp = socket(AddressFamily::INET, SocketType::STREAM, None).unwrap();
        let udp = socket(AddressFamily::INET, SocketType::DGRAM, None).unwrap();
        let judge = |caps: &nono_sandbox::CapabilitySet, sock: &OwnedFd, addr: &[u8]| {
            check_tcp(&StaticGrants::new(caps), sock, AddressFamily::INET, addr)
        };
        let allow = nono_sandbox::CapabilitySet::new();
        assert!(judge(&allow, &tcp, &sin([10, 0, 0, 1], 22)).is_ok());
        let mut ports = nono_sandbox::CapabilitySet::new();
        ports.allow_connect_port(8080);
        assert!(judge(&ports, &tcp, &sin([127, 0, 0, 1], 8080)).is_ok());
        assert!(matches!(
            judge(&ports, &tcp, &sin([127, 0, 0, 1], 22)),
            Err(Refusal::Connect(
                _,
                crate::egress::ConnectRefusal::PortNotAllowed
            ))
        ));
        assert!(matches!(
            judge(&ports, &tcp, &sin([10, 0, 0, 1], 8080)),
            Err(Refusal::Connect(
                _,
                crate::egress::ConnectRefusal::NotLoopback
            ))
        ));
        // A datagram socket, and AF_UNSPEC (disconnect), are not TCP connects.
        assert!(judge(&ports, &udp, &sin([10, 0, 0, 1], 22)).is_ok());
        assert!(judge(&ports, &tcp, &[0, 0]).is_ok());
        let mut blocked = nono_sandbox::CapabilitySet::new();
        blocked.block_network();
        assert!(matches!(
            judge(&blocked, &tcp, &sin([127, 0, 0, 1], 80)),
            Err(Refusal::Connect(..))
        ));
    }
}

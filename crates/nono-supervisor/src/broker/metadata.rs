//! The metadata broker: `chmod`, `chown`, `utime*` and `*xattr` calls of a supervised child,
//! performed by the supervisor itself inside the write grants and refused outside them.
//!
//! # Why
//! Landlock (up to ABI 7, and still in 9) has no right for metadata changes: a sandboxed
//! process — as root, or as the owner of the file — can `chmod`, `chown`, `utimensat` and
//! `setxattr` any file it can *name*, even one it may neither read nor write (measured on
//! 6.18, see docs/THREAT_MODEL.md). `fchmodat(fd, "", AT_EMPTY_PATH)` on an `O_PATH` fd works
//! too, and `O_PATH` opens are not checked by Landlock at all; a read-only fd of a file inside
//! a *read* grant is enough for `fchmod`.
//!
//! # Mechanism
//! Every call of [`SYSCALLS`] is trapped. The supervisor reads the arguments once (path, mode,
//! owner, times, xattr name and value) and never answers `CONTINUE`: it **performs the
//! operation itself** on an object it resolved and opened on its own, and returns the result.
//! - Path-based calls: the path is made absolute (thread's cwd or dirfd), canonicalised
//!   (the last component kept for the no-follow variants), checked against the write grants
//!   (`explain_canonical(.., Write)`), then opened `O_PATH | O_NOFOLLOW` beneath its canonical
//!   parent with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS`: a path that
//!   was swapped for a symlink after the check is refused, never followed. The operation runs
//!   on that fd (`fchownat(fd, "", AT_EMPTY_PATH)`, `utimensat(fd, "", AT_EMPTY_PATH)`,
//!   `chmod`/`setxattr`/`removexattr` of `/proc/self/fd/N` — the exact object, not a path).
//! - fd-based calls (`fchmod`, `fchown`, `fsetxattr`, `fremovexattr`, `futimens`, and the
//!   `AT_EMPTY_PATH` forms): the supervisor takes its own copy of the child's fd
//!   (`pidfd_getfd`: the same open file, so a `dup2` by another thread after the check cannot
//!   change what is operated on). Allowed if the fd was opened for writing (Landlock, or a
//!   runtime grant, let the child write it) or its path lies inside the write grants;
//!   `O_PATH` fds get `EBADF` from the plain fd calls, as from the kernel.
//! - `/proc/self/fd/N` and `/dev/fd/N` spellings (glibc's `lchmod` emulation) are the child's
//!   fd `N`; other `/proc` paths are refused.
//!
//! Outside the write grants, a path-based change is also made when a runtime grant covers it
//! without asking anyone (an approve rule, a session grant: `approved`), decided and audited
//! by the policy engine with the deny groups first — so an `--approve DIR` covers metadata
//! changes as a `--write DIR` grant would. The prompt is never offered for them.
//!
//! Refusals answer `EACCES` and are recorded as [`Denial`]s.
//!
//! # Only what the child could do itself
//! The supervisor keeps its capabilities; the child does not (`nono-sandbox` drops them all
//! unless the caller keeps them), and may have changed its ids. So the path is opened and the
//! change made **as the child** (`as_child.rs`: the calling thread's fs ids, groups and
//! effective capabilities — the kernel enforces everything below, search permission on the
//! path included). To refuse with a reason, the supervisor first `fstat`s the object it will
//! change and applies the kernel's own rules to those credentials (`chown_ok`, `setattr_prepare`,
//! `may_setattr`, `xattr_permission`, `cap_inode_setxattr`), refusing with the kernel's
//! errno and a recorded denial:
//! - `chown`: a new owner needs `CAP_CHOWN`; a new group needs ownership and membership of
//!   that group, or `CAP_CHOWN` (`EPERM`);
//! - `chmod`: ownership or `CAP_FOWNER` (`EPERM`); setting `S_ISUID` or `S_ISGID` is refused
//!   for everyone (`EPERM`): a set-user-ID file planted by a sandboxed root outlives the
//!   sandbox (the seccomp filter refuses it too where the mode is a register);
//! - times: explicit times need ownership or `CAP_FOWNER` (`EPERM`); "now" (NULL, or both
//!   `UTIME_NOW`) needs that or write permission (`EACCES`);
//! - xattrs: `trusted.*` and `security.*` need `CAP_SYS_ADMIN` (`security.capability`:
//!   `CAP_SETFCAP`); `system.*` (ACLs) ownership or `CAP_FOWNER`; `user.*` write permission;
//! - `file_setattr`: ownership or `CAP_FOWNER`; the immutable and append-only flags
//!   `CAP_LINUX_IMMUTABLE`.
//!
//! Write permission is judged from the mode bits for the thread's fsuid, fsgid and groups,
//! or `CAP_DAC_OVERRIDE`; a file with an access ACL is treated as not writable by anyone
//! but its owner (the ACL is not evaluated: refusing is the safe side). Everything else
//! (read-only mounts, immutable files) the kernel still checks when the supervisor acts.
//!
//! Whoever asks, a device node and the root of a directory grant that only a profile makes
//! (not a command-line flag) keep their mode, owner, xattrs and attributes (`chmod 0600
//! /dev/full`, `chmod 0777 /tmp` as a sandboxed root): refused with `EACCES` and recorded;
//! times may change.
#![allow(unsafe_code)]

use std::ffi::{CString, OsStr};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nono_sandbox::linux::seccomp::{Notification, NotifyFd, Syscall};
use nono_sandbox::AccessMode;
use rustix::fs::{AtFlags, Gid, Mode, OFlags, ResolveFlags, Timespec, Timestamps, Uid};
use rustix::io::Errno;

use super::as_child::{ActingAsChild, ChildCreds};
use super::StaticGrants;
use crate::policy::{Engine, RequestSource, RuntimeRequest};
use crate::supervise::{Denial, Shared};

/// The syscalls this module brokers.
pub(crate) const SYSCALLS: &[Syscall] = &[
    Syscall::Chmod,
    Syscall::FchmodAt,
    Syscall::FchmodAt2,
    Syscall::Fchmod,
    Syscall::Chown,
    Syscall::Lchown,
    Syscall::Fchown,
    Syscall::FchownAt,
    Syscall::Utime,
    Syscall::Utimes,
    Syscall::UtimensAt,
    Syscall::FutimesAt,
    Syscall::SetXattr,
    Syscall::LsetXattr,
    Syscall::FsetXattr,
    Syscall::RemoveXattr,
    Syscall::LremoveXattr,
    Syscall::FremoveXattr,
    Syscall::SetXattrAt,
    Syscall::RemoveXattrAt,
    Syscall::FileSetAttr,
];

const PATH_MAX: usize = 4096;
/// `XATTR_NAME_MAX` + NUL.
const XATTR_NAME_MAX: usize = 256;
/// `XATTR_SIZE_MAX`.
const XATTR_SIZE_MAX: usize = 65536;
/// `sizeof(struct xattr_args)`: value pointer, size, flags.
const XATTR_ARGS_LEN: usize = 16;
/// Largest `struct file_attr` copied (the kernel's is 24 bytes today).
const FILE_ATTR_MAX: usize = 64;
/// `file_setattr` (Linux 6.17).
const SYS_FILE_SETATTR: libc::c_long = 469;

/// What a trapped call names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// The child's fd `N` (a plain `f*` call).
    Fd(i32),
    /// A path relative to `dirfd`; `follow` for the last component; `empty_ok` with
    /// `AT_EMPTY_PATH` (an empty path means `dirfd` itself).
    Path {
        dirfd: i32,
        path: Vec<u8>,
        follow: bool,
        empty_ok: bool,
    },
}

/// The change, with every value copied out of the child.
#[derive(Debug, Clone)]
enum Op {
    Chmod(Mode),
    Chown(Option<Uid>, Option<Gid>),
    Times(Timestamps),
    SetXattr {
        name: CString,
        value: Vec<u8>,
        flags: u32,
    },
    RemoveXattr(CString),
    FileSetAttr(Vec<u8>),
}

/// Why a call is not performed.
enum Refusal {
    /// Outside the write grants (a denial, `EACCES`).
    Denied(PathBuf, &'static str),
    /// More than the calling thread's own credentials allow (a denial, with the errno the
    /// kernel would have given the thread).
    Forbidden(PathBuf, &'static str, Errno),
    /// What the kernel would have answered (`ENOENT`, `EBADF`, `EFAULT`, ...): no denial.
    Errno(Errno),
}

impl From<Errno> for Refusal {
    fn from(e: Errno) -> Self {
        Refusal::Errno(e)
    }
}

/// Whether `s` is brokered here.
pub(crate) fn traps(s: Syscall) -> bool {
    SYSCALLS.contains(&s)
}

/// Handle one trapped metadata call (on the loop: every step is a few quick syscalls).
pub(crate) fn handle(
    notify: &NotifyFd,
    caps: &StaticGrants,
    engine: Option<&Engine>,
    shared: &Shared,
    n: &Notification,
    syscall: Syscall,
) {
    let result = decode(notify, n, syscall).and_then(|(target, op)| {
        let fd_call = matches!(target, Target::Fd(_));
        let object = resolve(notify, caps, engine, n, target)?;
        let creds = caps.creds.of_thread(notify, n)?;
        // From here on, as the child: the path is looked up with its search permissions and
        // the change is made with its fs ids and capabilities (the rules below only give the
        // refusal its reason; the kernel decides either way).
        let as_child = creds.act()?;
        let resolved = match object {
            Object::Open(resolved) => resolved,
            Object::Path { canonical, follow } => open_path(&as_child, canonical, follow)?,
        };
        if fd_call && resolved.opath {
            return Err(Refusal::Errno(Errno::BADF));
        }
        let fd_path = || {
            std::fs::read_link(format!("/proc/self/fd/{}", resolved.fd.as_raw_fd()))
                .unwrap_or_default()
        };
        if let Some(why) = caps.protected_object(&resolved.fd, &op) {
            return Err(Refusal::Denied(fd_path(), why));
        }
        if let Err((errno, why)) = creds.may(&resolved.fd, &op) {
            return Err(Refusal::Forbidden(fd_path(), why, errno));
        }
        perform(&as_child, &resolved.fd, &op).map_err(Refusal::Errno)?;
        // Learning: a change made through a path (an fd the child opened for writing was
        // recorded at its open).
        if let (Some(learner), false) = (&shared.learner, fd_call) {
            learner.canonical(&fd_path(), AccessMode::Write, true);
        }
        Ok(())
    });
    match result {
        Ok(()) => {
            let _ = notify.respond_value(n.id, 0);
        }
        Err(Refusal::Errno(e)) => {
            let _ = notify.respond_errno(n.id, e.raw_os_error());
        }
        Err(Refusal::Denied(path, reason)) => {
            shared.deny(Denial {
                path,
                access: AccessMode::Write,
                pid: n.pid,
                syscall: syscall.name().to_owned(),
                reason: reason.to_owned(),
            });
            let _ = notify.respond_errno(n.id, Errno::ACCESS.raw_os_error());
        }
        Err(Refusal::Forbidden(path, reason, errno)) => {
            shared.deny(Denial {
                path,
                access: AccessMode::Write,
                pid: n.pid,
                syscall: syscall.name().to_owned(),
                reason: reason.to_owned(),
            });
            let _ = notify.respond_errno(n.id, errno.raw_os_error());
        }
    }
}

fn arg_i32(v: u64) -> i32 {
    v as i32
}

/// Read a NUL-terminated string from the child, then check the notification is still valid.
fn cstr(notify: &NotifyFd, n: &Notification, addr: u64, max: usize) -> Result<Vec<u8>, Refusal> {
    if addr == 0 {
        return Err(Refusal::Errno(Errno::FAULT));
    }
    let bytes = crate::os::read_child_cstr(n.pid, addr, max)
        .map_err(|e| Refusal::Errno(Errno::from_io_error(&e).unwrap_or(Errno::FAULT)))?;
    if !notify.id_valid(n.id) {
        return Err(Refusal::Errno(Errno::SRCH));
    }
    Ok(bytes)
}

fn bytes(notify: &NotifyFd, n: &Notification, addr: u64, len: usize) -> Result<Vec<u8>, Refusal> {
    let mut buf = vec![0u8; len];
    if len > 0 {
        crate::os::read_child_bytes(n.pid, addr, &mut buf).map_err(|_| Errno::FAULT)?;
        if !notify.id_valid(n.id) {
            return Err(Refusal::Errno(Errno::SRCH));
        }
    }
    Ok(buf)
}

fn word(b: &[u8], i: usize) -> i64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[i * 8..i * 8 + 8]);
    i64::from_ne_bytes(w)
}

/// `struct timespec[2]` (or NULL = now).
fn timespecs(notify: &NotifyFd, n: &Notification, addr: u64) -> Result<Timestamps, Refusal> {
    if addr == 0 {
        return Ok(now());
    }
    let b = bytes(notify, n, addr, 32)?;
    Ok(Timestamps {
        last_access: Timespec {
            tv_sec: word(&b, 0),
            tv_nsec: word(&b, 1),
        },
        last_modification: Timespec {
            tv_sec: word(&b, 2),
            tv_nsec: word(&b, 3),
        },
    })
}

/// `struct timeval[2]` (or NULL = now).
fn timevals(notify: &NotifyFd, n: &Notification, addr: u64) -> Result<Timestamps, Refusal> {
    if addr == 0 {
        return Ok(now());
    }
    let b = bytes(notify, n, addr, 32)?;
    let ts = |sec: i64, usec: i64| -> Result<Timespec, Refusal> {
        if !(0..1_000_000).contains(&usec) {
            return Err(Refusal::Errno(Errno::INVAL));
        }
        Ok(Timespec {
            tv_sec: sec,
            tv_nsec: usec * 1000,
        })
    };
    Ok(Timestamps {
        last_access: ts(word(&b, 0), word(&b, 1))?,
        last_modification: ts(word(&b, 2), word(&b, 3))?,
    })
}

/// `struct utimbuf` (or NULL = now).
fn utimbuf(notify: &NotifyFd, n: &Notification, addr: u64) -> Result<Timestamps, Refusal> {
    if addr == 0 {
        return Ok(now());
    }
    let b = bytes(notify, n, addr, 16)?;
    let ts = |sec| Timespec {
        tv_sec: sec,
        tv_nsec: 0,
    };
    Ok(Timestamps {
        last_access: ts(word(&b, 0)),
        last_modification: ts(word(&b, 1)),
    })
}

fn now() -> Timestamps {
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: rustix::fs::UTIME_NOW,
    };
    Timestamps {
        last_access: now,
        last_modification: now,
    }
}

fn owner(v: u64) -> Option<Uid> {
    let raw = v as u32;
    (raw != u32::MAX).then(|| Uid::from_raw(raw))
}

fn group(v: u64) -> Option<Gid> {
    let raw = v as u32;
    (raw != u32::MAX).then(|| Gid::from_raw(raw))
}

fn name(notify: &NotifyFd, n: &Notification, addr: u64) -> Result<CString, Refusal> {
    let raw = cstr(notify, n, addr, XATTR_NAME_MAX).map_err(|e| match e {
        Refusal::Errno(Errno::NAMETOOLONG) => Refusal::Errno(Errno::RANGE),
        other => other,
    })?;
    CString::new(raw).map_err(|_| Refusal::Errno(Errno::INVAL))
}

fn value(notify: &NotifyFd, n: &Notification, addr: u64, size: u64) -> Result<Vec<u8>, Refusal> {
    let size = usize::try_from(size).map_err(|_| Errno::TOOBIG)?;
    if size > XATTR_SIZE_MAX {
        return Err(Refusal::Errno(Errno::TOOBIG));
    }
    bytes(notify, n, addr, size)
}

fn path_target(
    notify: &NotifyFd,
    n: &Notification,
    dirfd: i32,
    addr: u64,
    follow: bool,
    empty_ok: bool,
) -> Result<Target, Refusal> {
    Ok(Target::Path {
        dirfd,
        path: cstr(notify, n, addr, PATH_MAX)?,
        follow,
        empty_ok,
    })
}

fn at_target(
    notify: &NotifyFd,
    n: &Notification,
    dirfd: u64,
    addr: u64,
    flags: u64,
) -> Result<Target, Refusal> {
    let flags = AtFlags::from_bits_retain(flags as u32);
    path_target(
        notify,
        n,
        arg_i32(dirfd),
        addr,
        !flags.contains(AtFlags::SYMLINK_NOFOLLOW),
        flags.contains(AtFlags::EMPTY_PATH),
    )
}

/// Decode the trapped call: what it names and what it changes.
fn decode(notify: &NotifyFd, n: &Notification, s: Syscall) -> Result<(Target, Op), Refusal> {
    let a = n.args;
    let cwd = libc::AT_FDCWD;
    Ok(match s {
        Syscall::Chmod => (
            path_target(notify, n, cwd, a[0], true, false)?,
            Op::Chmod(Mode::from_bits_truncate(a[1] as u32)),
        ),
        Syscall::FchmodAt => (
            path_target(notify, n, arg_i32(a[0]), a[1], true, false)?,
            Op::Chmod(Mode::from_bits_truncate(a[2] as u32)),
        ),
        Syscall::FchmodAt2 => (
            at_target(notify, n, a[0], a[1], a[3])?,
            Op::Chmod(Mode::from_bits_truncate(a[2] as u32)),
        ),
        Syscall::Fchmod => (
            Target::Fd(arg_i32(a[0])),
            Op::Chmod(Mode::from_bits_truncate(a[1] as u32)),
        ),
        Syscall::Chown | Syscall::Lchown => (
            path_target(notify, n, cwd, a[0], s == Syscall::Chown, false)?,
            Op::Chown(owner(a[1]), group(a[2])),
        ),
        Syscall::Fchown => (
            Target::Fd(arg_i32(a[0])),
            Op::Chown(owner(a[1]), group(a[2])),
        ),
        Syscall::FchownAt => (
            at_target(notify, n, a[0], a[1], a[4])?,
            Op::Chown(owner(a[2]), group(a[3])),
        ),
        Syscall::Utime => (
            path_target(notify, n, cwd, a[0], true, false)?,
            Op::Times(utimbuf(notify, n, a[1])?),
        ),
        Syscall::Utimes => (
            path_target(notify, n, cwd, a[0], true, false)?,
            Op::Times(timevals(notify, n, a[1])?),
        ),
        Syscall::UtimensAt => {
            let target = if a[1] == 0 {
                Target::Fd(arg_i32(a[0]))
            } else {
                at_target(notify, n, a[0], a[1], a[3])?
            };
            (target, Op::Times(timespecs(notify, n, a[2])?))
        }
        Syscall::FutimesAt => {
            let target = if a[1] == 0 {
                Target::Fd(arg_i32(a[0]))
            } else {
                path_target(notify, n, arg_i32(a[0]), a[1], true, false)?
            };
            (target, Op::Times(timevals(notify, n, a[2])?))
        }
        Syscall::SetXattr | Syscall::LsetXattr | Syscall::FsetXattr => {
            let target = if s == Syscall::FsetXattr {
                Target::Fd(arg_i32(a[0]))
            } else {
                path_target(notify, n, cwd, a[0], s == Syscall::SetXattr, false)?
            };
            let op = Op::SetXattr {
                name: name(notify, n, a[1])?,
                value: value(notify, n, a[2], a[3])?,
                flags: a[4] as u32,
            };
            (target, op)
        }
        Syscall::RemoveXattr | Syscall::LremoveXattr | Syscall::FremoveXattr => {
            let target = if s == Syscall::FremoveXattr {
                Target::Fd(arg_i32(a[0]))
            } else {
                path_target(notify, n, cwd, a[0], s == Syscall::RemoveXattr, false)?
            };
            (target, Op::RemoveXattr(name(notify, n, a[1])?))
        }
        Syscall::SetXattrAt => {
            let target = at_target(notify, n, a[0], a[1], a[2])?;
            if usize::try_from(a[5]).unwrap_or(0) < XATTR_ARGS_LEN {
                return Err(Refusal::Errno(Errno::INVAL));
            }
            let args = bytes(notify, n, a[4], XATTR_ARGS_LEN)?;
            let ptr = word(&args, 0) as u64;
            let mut size = [0u8; 4];
            size.copy_from_slice(&args[8..12]);
            let mut flags = [0u8; 4];
            flags.copy_from_slice(&args[12..16]);
            let op = Op::SetXattr {
                name: name(notify, n, a[3])?,
                value: value(notify, n, ptr, u64::from(u32::from_ne_bytes(size)))?,
                flags: u32::from_ne_bytes(flags),
            };
            (target, op)
        }
        Syscall::RemoveXattrAt => (
            at_target(notify, n, a[0], a[1], a[2])?,
            Op::RemoveXattr(name(notify, n, a[3])?),
        ),
        Syscall::FileSetAttr => {
            let size = usize::try_from(a[3]).unwrap_or(usize::MAX);
            if size == 0 || size > FILE_ATTR_MAX {
                return Err(Refusal::Errno(if size == 0 {
                    Errno::INVAL
                } else {
                    Errno::TOOBIG
                }));
            }
            (
                at_target(notify, n, a[0], a[1], a[4])?,
                Op::FileSetAttr(bytes(notify, n, a[2], size)?),
            )
        }
        _ => return Err(Refusal::Errno(Errno::NOSYS)),
    })
}

/// What a call names, once checked against the grants: an object already open (a copy of the
/// child's fd), or a canonical path to open as the child.
enum Object {
    Open(Resolved),
    Path { canonical: PathBuf, follow: bool },
}

/// The object the supervisor will change.
struct Resolved {
    /// The supervisor's own fd of the object (`O_PATH`, or a copy of the child's fd).
    fd: OwnedFd,
    /// The child's fd was an `O_PATH` fd (plain fd calls fail with `EBADF`).
    opath: bool,
}

fn resolve(
    notify: &NotifyFd,
    caps: &StaticGrants,
    engine: Option<&Engine>,
    n: &Notification,
    target: Target,
) -> Result<Object, Refusal> {
    match target {
        Target::Fd(fd) => child_fd(notify, caps, n, fd).map(Object::Open),
        Target::Path {
            dirfd,
            path,
            follow,
            empty_ok,
        } => {
            if path.is_empty() {
                if !empty_ok {
                    return Err(Refusal::Errno(Errno::NOENT));
                }
                if dirfd != libc::AT_FDCWD {
                    return child_fd(notify, caps, n, dirfd).map(Object::Open);
                }
                return resolve_path(notify, caps, engine, n, dirfd, b".", follow);
            }
            resolve_path(notify, caps, engine, n, dirfd, &path, follow)
        }
    }
}

fn resolve_path(
    notify: &NotifyFd,
    caps: &StaticGrants,
    engine: Option<&Engine>,
    n: &Notification,
    dirfd: i32,
    path: &[u8],
    follow: bool,
) -> Result<Object, Refusal> {
    let path = Path::new(OsStr::from_bytes(path));
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        match super::relative_base(notify, n, dirfd) {
            super::Base::Dir(base) => base.join(path),
            super::Base::Unreadable => return Err(Refusal::Errno(Errno::BADF)),
            super::Base::Gone => return Err(Refusal::Errno(Errno::SRCH)),
            super::Base::NotAPath(base) => {
                return Err(Refusal::Denied(
                    base.join(path),
                    "a metadata change relative to a directory the supervisor cannot resolve",
                ))
            }
        }
    };
    let lexical = super::normalize(&absolute);
    if let Some(fd) = magic_fd(&lexical, n.pid) {
        return match fd {
            Some(fd) => child_fd(notify, caps, n, fd).map(Object::Open),
            None => Err(Refusal::Denied(
                lexical,
                "a metadata change on a /proc entry",
            )),
        };
    }
    let canonical = if follow {
        std::fs::canonicalize(&lexical).map_err(io_errno)?
    } else {
        match (lexical.parent(), lexical.file_name()) {
            (Some(parent), Some(name)) => {
                std::fs::canonicalize(parent).map_err(io_errno)?.join(name)
            }
            _ => std::fs::canonicalize(&lexical).map_err(io_errno)?,
        }
    };
    if canonical.starts_with("/proc") {
        return Err(Refusal::Denied(
            canonical,
            "a metadata change on a /proc entry",
        ));
    }
    if !caps.allows_canonical(&canonical, AccessMode::Write) && !approved(engine, &canonical, n) {
        return Err(Refusal::Denied(
            canonical,
            "a metadata change outside the write grants",
        ));
    }
    Ok(Object::Path { canonical, follow })
}

/// Whether a runtime grant covers a change of `canonical` outside the write grants: an approve
/// rule (`--approve DIR`, a profile's `supervisor.approve`) or a session grant for writing, as
/// for an open for writing there — so an approved directory covers `chmod`/`chown`/`utime`/
/// xattrs like a `--write` grant. Decided (and audited) by the policy engine, deny groups
/// first; only when a rule or session grant decides without asking anyone: the notify thread
/// never waits for a person, and the prompt is not offered for metadata changes.
fn approved(engine: Option<&Engine>, canonical: &Path, n: &Notification) -> bool {
    let Some(engine) = engine else {
        return false;
    };
    let req = RuntimeRequest {
        path: canonical.to_path_buf(),
        access: AccessMode::Write,
        pid: n.pid,
        reason: None,
        source: RequestSource::Trap,
    };
    let Some(t) = engine.triage_canonical(&req) else {
        return false;
    };
    if !engine.grants_without_asking(&req, &t) {
        return false;
    }
    engine
        .decide_triaged(&req, t, &crate::cancel::CancelToken::new())
        .is_granted()
}

/// Open the checked canonical path `O_PATH` as the child (its search permissions apply).
fn open_path(
    _as_child: &ActingAsChild,
    canonical: PathBuf,
    follow: bool,
) -> Result<Resolved, Refusal> {
    let fd = open_object(&canonical).map_err(|e| {
        if e == Errno::LOOP || e == Errno::XDEV {
            Refusal::Denied(
                canonical.clone(),
                "the path changed into a symlink before the metadata change",
            )
        } else {
            Refusal::Errno(e)
        }
    })?;
    if follow && rustix::fs::fstat(&fd).is_ok_and(|st| is_symlink(st.st_mode)) {
        return Err(Refusal::Denied(
            canonical,
            "the path changed into a symlink before the metadata change",
        ));
    }
    Ok(Resolved { fd, opath: true })
}

fn io_errno(e: std::io::Error) -> Refusal {
    Refusal::Errno(Errno::from_io_error(&e).unwrap_or(Errno::NOENT))
}

fn is_symlink(mode: u32) -> bool {
    mode & libc::S_IFMT == libc::S_IFLNK
}

/// `/proc/{self,thread-self,TGID}/[task/TID/]fd/N`, `/dev/fd/N`, `/dev/std*` → `Some(Some(N))`
/// for the calling thread's own process; `Some(None)` for any other `/proc` path; `None` if
/// the path is not in `/proc` or `/dev/fd`.
fn magic_fd(path: &Path, tid: u32) -> Option<Option<i32>> {
    let names: Vec<&[u8]> = path
        .components()
        .skip(1)
        .map(|c| c.as_os_str().as_bytes())
        .collect();
    let num = |b: &[u8]| {
        std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse::<i32>().ok())
    };
    match names.as_slice() {
        [b"dev", b"fd", n] => return Some(num(n)),
        [b"dev", b"stdin"] => return Some(Some(0)),
        [b"dev", b"stdout"] => return Some(Some(1)),
        [b"dev", b"stderr"] => return Some(Some(2)),
        [b"dev", b"fd", ..] => return Some(None),
        [b"proc", ..] => {}
        _ => return None,
    }
    let own = |p: &[u8]| -> bool {
        p == b"self"
            || p == b"thread-self"
            || num(p).and_then(|p| u32::try_from(p).ok()) == super::procfs::thread_group(tid)
    };
    Some(match &names[1..] {
        [pid, b"fd", n] if own(pid) => num(n),
        [pid, b"task", _, b"fd", n] if own(pid) => num(n),
        [b"thread-self", ..] | [_, b"task", ..] => None,
        _ => None,
    })
}

/// The supervisor's copy of the child's fd `fd` (`pidfd_getfd`), allowed if it was opened for
/// writing or its path is inside the write grants.
fn child_fd(
    notify: &NotifyFd,
    caps: &StaticGrants,
    n: &Notification,
    fd: i32,
) -> Result<Resolved, Refusal> {
    let copy = super::child_fd_copy(notify, n, fd)?;
    let flags = rustix::fs::fcntl_getfl(&copy)?;
    let opath = flags.contains(OFlags::PATH);
    // Only O_WRONLY and O_RDWR: access mode 3 asks Landlock for no right at all (refused by
    // the seccomp filter too; an fd received from outside may still carry it).
    let mode = flags & OFlags::RWMODE;
    let writable = !opath && (mode == OFlags::WRONLY || mode == OFlags::RDWR);
    if !writable {
        let path = std::fs::read_link(format!("/proc/self/fd/{}", copy.as_raw_fd()))
            .map_err(|_| Errno::BADF)?;
        let resolvable =
            path.is_absolute() && !path.as_os_str().as_bytes().ends_with(b" (deleted)");
        if !resolvable
            || path.starts_with("/proc")
            || !caps.allows_canonical(&path, AccessMode::Write)
        {
            return Err(Refusal::Denied(
                path,
                "a metadata change through a read-only fd outside the write grants",
            ));
        }
    }
    Ok(Resolved { fd: copy, opath })
}

/// Open the canonical `path` `O_PATH | O_NOFOLLOW`, refusing symlinks on the way.
pub(super) fn open_object(path: &Path) -> Result<OwnedFd, Errno> {
    let resolve = ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
    let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return rustix::fs::openat2(rustix::fs::CWD, path, flags, Mode::empty(), resolve);
    };
    let dir = rustix::fs::openat2(
        rustix::fs::CWD,
        parent,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        resolve,
    )?;
    rustix::fs::openat2(
        &dir,
        name,
        flags,
        Mode::empty(),
        resolve | ResolveFlags::BENEATH,
    )
}

impl StaticGrants {
    /// Why a change `op` of the object behind `fd` is refused whoever asks, or `None`: the
    /// mode, owner, xattrs and attributes of a device node (`chmod 0600 /dev/full` as a
    /// sandboxed root would break it for the whole host) and of the root of a directory grant
    /// no command-line flag names (`chmod 0777 /tmp`, a profile's directories) are not the
    /// sandbox's to change. Times are (`touch`).
    fn protected_object(&self, fd: &OwnedFd, op: &Op) -> Option<&'static str> {
        if matches!(op, Op::Times(_)) {
            return None;
        }
        let st = rustix::fs::fstat(fd).ok()?;
        let kind = st.st_mode & libc::S_IFMT;
        if kind == libc::S_IFCHR || kind == libc::S_IFBLK {
            return Some("a metadata change on a device node (never performed for a sandbox)");
        }
        let id = (st.st_dev, st.st_ino);
        self.roots.contains(&id).then_some(
            "a metadata change on the root of a directory granted by a profile (never performed \
             for a sandbox: /tmp, /dev/shm and other shared directories keep their mode and \
             owner; grant the directory with --allow to let the command change it)",
        )
    }
}

/// Capability numbers (capabilities(7)).
const CAP_CHOWN: u32 = 0;
const CAP_DAC_OVERRIDE: u32 = 1;
const CAP_FOWNER: u32 = 3;
const CAP_LINUX_IMMUTABLE: u32 = 9;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_SETFCAP: u32 = 31;
/// `FS_XFLAG_IMMUTABLE | FS_XFLAG_APPEND` in `struct file_attr`'s `fa_xflags`.
const XFLAG_IMMUTABLE_APPEND: u64 = 0x8 | 0x10;

/// Why a change is refused: the kernel's errno and the denial's reason.
type Forbidden = (Errno, &'static str);

/// The kernel's rules for metadata changes, applied to the trapped thread's credentials to
/// word a refusal (the kernel enforces them anyway: the change is made as the child).
impl ChildCreds {
    fn in_group(&self, gid: u32) -> bool {
        self.fsgid == gid || self.groups.contains(&gid)
    }

    /// `inode_owner_or_capable`.
    fn owns(&self, st: &rustix::fs::Stat) -> bool {
        self.fsuid == st.st_uid || self.has(CAP_FOWNER)
    }

    /// `inode_permission(MAY_WRITE)` from the mode bits (see the module docs for ACLs).
    fn may_write(&self, st: &rustix::fs::Stat, fd: &OwnedFd) -> bool {
        if self.has(CAP_DAC_OVERRIDE) || self.fsuid == st.st_uid {
            return self.has(CAP_DAC_OVERRIDE) || st.st_mode & 0o200 != 0;
        }
        let via = format!("/proc/self/fd/{}", fd.as_raw_fd());
        if rustix::fs::getxattr_query(via.as_str(), c"system.posix_acl_access").is_ok() {
            return false;
        }
        let bit = if self.in_group(st.st_gid) {
            0o020
        } else {
            0o002
        };
        st.st_mode & bit != 0
    }

    /// Whether this thread could make the change `op` on the object behind `fd` itself.
    fn may(&self, fd: &OwnedFd, op: &Op) -> Result<(), Forbidden> {
        let st = rustix::fs::fstat(fd).map_err(|e| (e, "the object could not be examined"))?;
        self.allowed(&st, fd, op)
    }

    /// [`may`](ChildCreds::may) on the object's `stat`.
    fn allowed(&self, st: &rustix::fs::Stat, fd: &OwnedFd, op: &Op) -> Result<(), Forbidden> {
        let st = *st;
        let not_owner = (
            Errno::PERM,
            "a metadata change on a file the sandboxed process does not own (it lacks CAP_FOWNER)",
        );
        match op {
            Op::Chmod(mode) => {
                if mode.bits() & (libc::S_ISUID | libc::S_ISGID) != 0 {
                    return Err((
                        Errno::PERM,
                        "chmod setting the set-user-ID or set-group-ID bit (never performed for a sandboxed process)",
                    ));
                }
                if !self.owns(&st) {
                    return Err(not_owner);
                }
            }
            Op::Chown(uid, gid) => {
                let uid_ok = uid.is_none_or(|u| {
                    (u.as_raw() == st.st_uid && self.fsuid == st.st_uid) || self.has(CAP_CHOWN)
                });
                if !uid_ok {
                    return Err((
                        Errno::PERM,
                        "a chown to another owner without CAP_CHOWN (the sandboxed process lacks it)",
                    ));
                }
                let gid_ok = gid.is_none_or(|g| {
                    let g = g.as_raw();
                    (self.fsuid == st.st_uid && (g == st.st_gid || self.in_group(g)))
                        || self.has(CAP_CHOWN)
                });
                if !gid_ok {
                    return Err((
                        Errno::PERM,
                        "a chown to a group the sandboxed process is not in, or of a file it does not own, without CAP_CHOWN",
                    ));
                }
            }
            Op::Times(t) => {
                let (a, m) = (t.last_access.tv_nsec, t.last_modification.tv_nsec);
                let (now, omit) = (rustix::fs::UTIME_NOW, rustix::fs::UTIME_OMIT);
                if a == omit && m == omit {
                    return Ok(());
                }
                if a == now && m == now {
                    if !self.owns(&st) && !self.may_write(&st, fd) {
                        return Err((
                            Errno::ACCESS,
                            "setting the times to now on a file the sandboxed process may not write and does not own",
                        ));
                    }
                } else if !self.owns(&st) {
                    return Err((
                        Errno::PERM,
                        "setting explicit times on a file the sandboxed process does not own (it lacks CAP_FOWNER)",
                    ));
                }
            }
            Op::SetXattr { name, .. } | Op::RemoveXattr(name) => {
                let name = name.to_bytes();
                if name.starts_with(b"trusted.") || name.starts_with(b"security.") {
                    let cap = if name == b"security.capability" {
                        self.has(CAP_SETFCAP) || self.has(CAP_SYS_ADMIN)
                    } else {
                        self.has(CAP_SYS_ADMIN)
                    };
                    if !cap {
                        return Err((
                            Errno::PERM,
                            "a trusted.* or security.* extended attribute without CAP_SYS_ADMIN (the sandboxed process lacks it)",
                        ));
                    }
                } else if name.starts_with(b"system.") {
                    if !self.owns(&st) {
                        return Err(not_owner);
                    }
                } else if name.starts_with(b"user.") && !self.may_write(&st, fd) {
                    return Err((
                        Errno::ACCESS,
                        "a user.* extended attribute on a file the sandboxed process may not write",
                    ));
                }
            }
            Op::FileSetAttr(attr) => {
                if !self.owns(&st) {
                    return Err(not_owner);
                }
                let xflags = attr
                    .get(..8)
                    .map_or(0, |b| u64::from_ne_bytes(b.try_into().unwrap_or([0; 8])));
                if xflags & XFLAG_IMMUTABLE_APPEND != 0 && !self.has(CAP_LINUX_IMMUTABLE) {
                    return Err((
                        Errno::PERM,
                        "the immutable or append-only flag without CAP_LINUX_IMMUTABLE",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Perform `op` on the object behind `fd`, as the child.
fn perform(_as_child: &ActingAsChild, fd: &OwnedFd, op: &Op) -> Result<(), Errno> {
    let via = format!("/proc/self/fd/{}", fd.as_raw_fd());
    match op {
        Op::Chmod(mode) => {
            if rustix::fs::fstat(fd).is_ok_and(|st| is_symlink(st.st_mode)) {
                // Linux has no mode on symlinks (fchmodat2 with AT_SYMLINK_NOFOLLOW says so).
                return Err(Errno::OPNOTSUPP);
            }
            rustix::fs::chmod(via.as_str(), *mode)
        }
        Op::Chown(uid, gid) => rustix::fs::chownat(fd, "", *uid, *gid, AtFlags::EMPTY_PATH),
        Op::Times(times) => rustix::fs::utimensat(fd, "", times, AtFlags::EMPTY_PATH),
        Op::SetXattr { name, value, flags } => rustix::fs::setxattr(
            via.as_str(),
            name.as_c_str(),
            value,
            rustix::fs::XattrFlags::from_bits_retain(*flags),
        ),
        Op::RemoveXattr(name) => rustix::fs::removexattr(via.as_str(), name.as_c_str()),
        Op::FileSetAttr(attr) => file_setattr(fd, attr),
    }
}

/// `file_setattr(fd, "", attr, size, AT_EMPTY_PATH)` (Linux 6.17; rustix has no wrapper).
fn file_setattr(fd: &OwnedFd, attr: &[u8]) -> Result<(), Errno> {
    let empty = c"";
    // SAFETY: `fd` is an open fd borrowed for the call; `empty` is a valid NUL-terminated
    // string; `attr` is a valid buffer of `attr.len()` bytes that the kernel only reads.
    let rc = unsafe {
        libc::syscall(
            SYS_FILE_SETATTR,
            fd.as_fd().as_raw_fd(),
            empty.as_ptr(),
            attr.as_ptr(),
            attr.len(),
            libc::AT_EMPTY_PATH,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::INVAL))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_fd_spellings() {
        let me = std::process::id();
        let m = |s: &str| magic_fd(Path::new(s), me);
        assert_eq!(m("/tmp/x"), None);
        assert_eq!(m("/dev/null"), None);
        assert_eq!(m("/dev/fd/3"), Some(Some(3)));
        assert_eq!(m("/dev/stderr"), Some(Some(2)));
        assert_eq!(m("/proc/self/fd/7"), Some(Some(7)));
        assert_eq!(m(&format!("/proc/{me}/fd/7")), Some(Some(7)));
        assert_eq!(m(&format!("/proc/{me}/task/{me}/fd/8")), Some(Some(8)));
        assert_eq!(m("/proc/1/fd/7"), Some(None));
        assert_eq!(m("/proc/self/environ"), Some(None));
        assert_eq!(m("/proc/sys/kernel/ostype"), Some(None));
    }

    /// The kernel's rules, on a real file's `stat` with the owner, group and mode replaced.
    #[test]
    fn the_rules_follow_the_kernels() {
        let dir = std::env::temp_dir().join(format!("nono-meta-rules-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("f");
        std::fs::write(&f, "x").unwrap();
        let fd: OwnedFd = std::fs::File::open(&f).unwrap().into();
        let mut st = rustix::fs::fstat(&fd).unwrap();
        st.st_uid = 1000;
        st.st_gid = 100;
        st.st_mode = libc::S_IFREG | 0o644;
        let user = |caps: u64| ChildCreds {
            fsuid: 1000,
            fsgid: 100,
            groups: vec![100, 20],
            cap_eff: caps,
        };
        let other = |caps: u64| ChildCreds {
            fsuid: 2000,
            fsgid: 200,
            groups: vec![],
            cap_eff: caps,
        };
        let ok = |c: &ChildCreds, op: Op| c.allowed(&st, &fd, &op).map_err(|(e, _)| e);
        let chmod = |m: u32| Op::Chmod(Mode::from_bits_truncate(m));
        let chown =
            |u: Option<u32>, g: Option<u32>| Op::Chown(u.map(Uid::from_raw), g.map(Gid::from_raw));
        let times = |a: i64, m: i64| {
            Op::Times(Timestamps {
                last_access: Timespec {
                    tv_sec: 5,
                    tv_nsec: a,
                },
                last_modification: Timespec {
                    tv_sec: 5,
                    tv_nsec: m,
                },
            })
        };
        let xattr = |name: &std::ffi::CStr| Op::SetXattr {
            name: name.to_owned(),
            value: vec![1],
            flags: 0,
        };
        let all = u64::MAX;
        // chmod: the owner, or CAP_FOWNER; never set-ID bits.
        assert_eq!(ok(&user(0), chmod(0o600)), Ok(()));
        assert_eq!(ok(&other(0), chmod(0o600)), Err(Errno::PERM));
        assert_eq!(ok(&other(1 << CAP_FOWNER), chmod(0o600)), Ok(()));
        assert_eq!(ok(&user(all), chmod(0o4755)), Err(Errno::PERM));
        assert_eq!(ok(&user(all), chmod(0o2755)), Err(Errno::PERM));
        assert_eq!(ok(&user(0), chmod(0o1755)), Ok(()));
        // chown: a new owner needs CAP_CHOWN; a group the owner is in is fine.
        assert_eq!(ok(&user(0), chown(Some(1000), None)), Ok(()));
        assert_eq!(ok(&user(0), chown(Some(0), None)), Err(Errno::PERM));
        assert_eq!(ok(&user(1 << CAP_CHOWN), chown(Some(0), Some(0))), Ok(()));
        assert_eq!(ok(&user(0), chown(None, Some(20))), Ok(()));
        assert_eq!(ok(&user(0), chown(Some(1000), Some(100))), Ok(()));
        assert_eq!(ok(&user(0), chown(None, Some(0))), Err(Errno::PERM));
        assert_eq!(ok(&other(0), chown(None, Some(200))), Err(Errno::PERM));
        assert_eq!(
            ok(&other(1 << CAP_FOWNER), chown(Some(1000), None)),
            Err(Errno::PERM)
        );
        assert_eq!(ok(&user(0), chown(None, None)), Ok(()));
        // times: explicit needs ownership; now needs ownership or write permission.
        let (now, omit) = (rustix::fs::UTIME_NOW, rustix::fs::UTIME_OMIT);
        assert_eq!(ok(&user(0), times(0, 0)), Ok(()));
        assert_eq!(ok(&other(0), times(0, 0)), Err(Errno::PERM));
        assert_eq!(ok(&other(0), times(now, omit)), Err(Errno::PERM));
        assert_eq!(ok(&other(0), times(omit, omit)), Ok(()));
        assert_eq!(ok(&other(0), times(now, now)), Err(Errno::ACCESS));
        assert_eq!(ok(&other(1 << CAP_DAC_OVERRIDE), times(now, now)), Ok(()));
        st.st_mode = libc::S_IFREG | 0o646;
        let ok = |c: &ChildCreds, op: Op| c.allowed(&st, &fd, &op).map_err(|(e, _)| e);
        assert_eq!(ok(&other(0), times(now, now)), Ok(()));
        assert_eq!(ok(&other(0), xattr(c"user.x")), Ok(()));
        st.st_mode = libc::S_IFREG | 0o644;
        let ok = |c: &ChildCreds, op: Op| c.allowed(&st, &fd, &op).map_err(|(e, _)| e);
        // xattrs.
        assert_eq!(ok(&user(0), xattr(c"user.x")), Ok(()));
        assert_eq!(ok(&other(0), xattr(c"user.x")), Err(Errno::ACCESS));
        assert_eq!(ok(&user(0), xattr(c"trusted.x")), Err(Errno::PERM));
        assert_eq!(ok(&user(0), xattr(c"security.selinux")), Err(Errno::PERM));
        assert_eq!(ok(&user(1 << CAP_SYS_ADMIN), xattr(c"trusted.x")), Ok(()));
        assert_eq!(
            ok(&user(1 << CAP_SETFCAP), xattr(c"security.capability")),
            Ok(())
        );
        assert_eq!(ok(&user(0), xattr(c"system.posix_acl_access")), Ok(()));
        assert_eq!(
            ok(
                &other(0),
                Op::RemoveXattr(c"system.posix_acl_access".to_owned())
            ),
            Err(Errno::PERM)
        );
        // file_setattr: ownership; immutable/append need CAP_LINUX_IMMUTABLE.
        let attr = |x: u64| Op::FileSetAttr([x.to_ne_bytes().as_slice(), &[0; 16]].concat());
        assert_eq!(ok(&user(0), attr(0)), Ok(()));
        assert_eq!(ok(&other(0), attr(0)), Err(Errno::PERM));
        assert_eq!(ok(&user(0), attr(0x8)), Err(Errno::PERM));
        assert_eq!(ok(&user(1 << CAP_LINUX_IMMUTABLE), attr(0x10)), Ok(()));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn every_brokered_syscall_is_known_to_the_filter() {
        for s in SYSCALLS {
            assert!(traps(*s));
        }
        assert!(!traps(Syscall::OpenAt));
    }
}

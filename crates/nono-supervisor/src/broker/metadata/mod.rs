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
//! - Path-based calls: the path is made absolute (thread's cwd or dirfd), canonicalised as
//!   the child (its search permissions: the supervisor's own would tell a capability-less
//!   root which names exist in a directory it cannot search; the last component kept for the
//!   no-follow variants), checked against the write grants
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
//! changes as a `--write DIR` grant would. The prompt is never offered for them. As for an
//! approved open, the object opened is then checked by inode against the deny entries
//! (`Engine::refuse_opened`): a hard link in DIR to `~/.ssh/id_rsa` keeps the key's mode
//! (red-team 4, finding 1).
//!
//! A change the child's own credentials refuse is recorded as [`Refused::Credentials`] (no
//! flag grants it), a hard link to a protected file as [`Refused::HardLinkToProtected`].
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
//!
//! # Files
//! - `decode.rs`: the ABI — each call's arguments read out of the child ([`Target`], [`Op`]);
//! - `resolve.rs`: what the call names, checked against the write grants and opened;
//! - `permission.rs`: who may change that object — nono's own rule (device nodes, profile
//!   directory roots) and the kernel's rules emulated for the child's credentials;
//! - `change.rs`: the change itself, made as the child.

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use nono_sandbox::linux::seccomp::{Notification, NotifyFd, Syscall};
use nono_sandbox::AccessMode;
use rustix::fs::{Gid, Mode, Timestamps, Uid};
use rustix::io::Errno;

use super::run_state::{Call, Denial, Refused, Shared};
use super::StaticGrants;
use crate::policy::Engine;

mod change;
mod decode;
mod permission;
mod resolve;

use change::perform;
use decode::decode;
pub(in crate::broker) use resolve::open_object;
use resolve::{open_path, refuse_approved_object, resolve, Object};

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

/// What a trapped call names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Target {
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
pub(super) enum Op {
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
pub(super) enum Refusal {
    /// Outside the write grants (a denial, `EACCES`).
    Denied(PathBuf, &'static str),
    /// More than the calling thread's own credentials allow (a denial, with the errno the
    /// kernel would have given the thread).
    Forbidden(PathBuf, &'static str, Errno),
    /// What the kernel would have answered (`ENOENT`, `EBADF`, `EFAULT`, ...): no denial.
    Errno(Errno),
    /// Allowed by a runtime grant, but the object is another name (a hard link) for a file
    /// under a deny entry (a denial, `EACCES`; the engine's reason).
    HardLinkToProtected(PathBuf, String),
    /// Allowed by a runtime grant, but the object opened lies in another mount than where
    /// the deny groups' identity walk looked (a denial, `EACCES`; red team 23).
    Moved(PathBuf, String),
    /// Allowed by a runtime grant, but the deny groups' identity walk could not see the
    /// directory (a denial with no flag, the walk's errno: red team 26).
    Unread(PathBuf, Errno, String),
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
        let creds = caps.creds.of_thread(notify, n)?;
        let object = resolve(notify, caps, engine, &creds, n, target)?;
        // From here on, as the child: the path is looked up with its search permissions and
        // the change is made with its fs ids and capabilities (the rules below only give the
        // refusal its reason; the kernel decides either way).
        let as_child = creds.act()?;
        let resolved = match object {
            Object::Open(resolved) => resolved,
            Object::Path {
                canonical,
                follow,
                approved,
            } => {
                if let Some(walked) = approved {
                    walked.seen()?;
                }
                let resolved = open_path(&as_child, canonical.clone(), follow)?;
                if let Some(walked) = approved {
                    refuse_approved_object(engine, &canonical, n, &resolved, walked)?;
                }
                resolved
            }
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
                what: Refused::Path(path),
                access: AccessMode::Write,
                pid: n.pid,
                call: Call::Syscall(syscall),
                reason: reason.to_owned(),
            });
            let _ = notify.respond_errno(n.id, Errno::ACCESS.raw_os_error());
        }
        Err(Refusal::HardLinkToProtected(path, reason)) => {
            shared.deny(Denial {
                what: Refused::HardLinkToProtected(path),
                access: AccessMode::Write,
                pid: n.pid,
                call: Call::Syscall(syscall),
                reason,
            });
            let _ = notify.respond_errno(n.id, Errno::ACCESS.raw_os_error());
        }
        Err(Refusal::Moved(path, reason)) => {
            shared.deny(Denial {
                what: Refused::Moved(path),
                access: AccessMode::Write,
                pid: n.pid,
                call: Call::Syscall(syscall),
                reason,
            });
            let _ = notify.respond_errno(n.id, Errno::ACCESS.raw_os_error());
        }
        Err(Refusal::Unread(path, errno, reason)) => {
            shared.deny(Denial {
                what: Refused::Unread {
                    path,
                    why: nono_policy::walked::Unseen::of(errno),
                },
                access: AccessMode::Write,
                pid: n.pid,
                call: Call::Syscall(syscall),
                reason,
            });
            let _ = notify.respond_errno(n.id, errno.raw_os_error());
        }
        Err(Refusal::Forbidden(path, reason, errno)) => {
            shared.deny(Denial {
                what: Refused::Credentials(path),
                access: AccessMode::Write,
                pid: n.pid,
                call: Call::Syscall(syscall),
                reason: reason.to_owned(),
            });
            let _ = notify.respond_errno(n.id, errno.raw_os_error());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_brokered_syscall_is_known_to_the_filter() {
        for s in SYSCALLS {
            assert!(traps(*s));
        }
        assert!(!traps(Syscall::OpenAt));
    }
}

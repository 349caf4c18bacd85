//! Resolution: what a call names — the child's fd (its own copy, `pidfd_getfd`) or a path
//! made canonical — checked against the write grants and opened `O_PATH` beneath its parent.

use std::ffi::OsStr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nono_sandbox::linux::seccomp::{Notification, NotifyFd};
use nono_sandbox::paths::realpath_as_the_kernel;
use nono_sandbox::AccessMode;
use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::{Refusal, Target};
use crate::broker::as_child::{ActingAsChild, ChildCreds};
use crate::broker::StaticGrants;
use crate::policy::{Engine, RequestSource, RuntimeRequest};
use nono_policy::walked::{Opened, Walked};

/// What a call names, once checked against the grants: an object already open (a copy of the
/// child's fd), or a canonical path to open as the child.
pub(super) enum Object {
    Open(Resolved),
    /// `approved`: allowed by a runtime grant (not the static write grants), so the object
    /// opened must still be checked against the deny entries by inode (a hard link), and be
    /// where the deny groups' identity walk looked (`Some(walked)`, red team 23).
    Path {
        canonical: PathBuf,
        follow: bool,
        approved: Option<Walked>,
    },
}

/// The object the supervisor will change.
pub(super) struct Resolved {
    /// The supervisor's own fd of the object (`O_PATH`, or a copy of the child's fd).
    pub(super) fd: OwnedFd,
    /// The child's fd was an `O_PATH` fd (plain fd calls fail with `EBADF`).
    pub(super) opath: bool,
}

pub(super) fn resolve(
    notify: &NotifyFd,
    caps: &StaticGrants,
    engine: Option<&Engine>,
    creds: &ChildCreds,
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
                return resolve_path(notify, caps, engine, creds, n, dirfd, b".", follow);
            }
            resolve_path(notify, caps, engine, creds, n, dirfd, &path, follow)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn resolve_path(
    notify: &NotifyFd,
    caps: &StaticGrants,
    engine: Option<&Engine>,
    creds: &ChildCreds,
    n: &Notification,
    dirfd: i32,
    path: &[u8],
    follow: bool,
) -> Result<Object, Refusal> {
    let path = Path::new(OsStr::from_bytes(path));
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        match crate::broker::relative_base(notify, n, dirfd) {
            crate::broker::Base::Dir(base) => base.join(path),
            crate::broker::Base::Unreadable => return Err(Refusal::Errno(Errno::BADF)),
            crate::broker::Base::Gone => return Err(Refusal::Errno(Errno::SRCH)),
            crate::broker::Base::NotAPath(base) => {
                return Err(Refusal::Denied(
                    base.join(path),
                    "a metadata change relative to a directory the supervisor cannot resolve",
                ))
            }
        }
    };
    let lexical = crate::broker::normalize(&absolute);
    if let Some(fd) = magic_fd(&lexical, n.pid) {
        return match fd {
            Some(fd) => child_fd(notify, caps, n, fd).map(Object::Open),
            None => Err(Refusal::Denied(
                lexical,
                "a metadata change on a /proc entry",
            )),
        };
    }
    // Resolved as the child (its search permissions), never through a magic link (the
    // supervisor's own fds, cwd, root, or another process's: red team 24): the supervisor's
    // own would tell a
    // sandboxed root without CAP_DAC_READ_SEARCH which names exist in a directory it cannot
    // search (ENOENT here, EACCES from the kernel). From the name as spelled, not its
    // lexical form: a `..` after a symlink climbs from where the symlink leads, as the
    // kernel's does (`proj/s/../x` with `s → ~/.ssh/sub` is `~/.ssh/x`, not `proj/x`; red
    // team 25).
    let canonical = {
        let _as_child = creds.act()?;
        realpath_as_the_kernel(&absolute, follow)
            .map_err(|e| Refusal::Errno(crate::broker::lookup_errno(&e)))?
    };
    if canonical.starts_with("/proc") {
        return Err(Refusal::Denied(
            canonical,
            "a metadata change on a /proc entry",
        ));
    }
    let approved = if caps.allows_canonical(&canonical, AccessMode::Write) {
        None
    } else if let Some(walked) = approved(engine, &canonical, n)? {
        Some(walked)
    } else {
        return Err(Refusal::Denied(
            canonical,
            "a metadata change outside the write grants",
        ));
    };
    Ok(Object::Path {
        canonical,
        follow,
        approved,
    })
}

/// Whether a runtime grant covers a change of `canonical` outside the write grants: an approve
/// rule (`--approve DIR`, a profile's `supervisor.approve`) or a session grant for writing, as
/// for an open for writing there — so an approved directory covers `chmod`/`chown`/`utime`/
/// xattrs like a `--write` grant. Decided (and audited) by the policy engine, deny groups
/// first; only when a rule or session grant decides without asking anyone: the notify thread
/// never waits for a person, and the prompt is not offered for metadata changes.
///
/// Granted: what the deny groups' identity walk saw, for the object opened to be compared
/// with. A walk that could not see the directory is answered with its errno and a report line
/// before the engine decides, as for the other runtime grants (red team 26).
fn approved(
    engine: Option<&Engine>,
    canonical: &Path,
    n: &Notification,
) -> Result<Option<Walked>, Refusal> {
    let Some(engine) = engine else {
        return Ok(None);
    };
    let req = write_request(canonical, n);
    let Some(t) = engine.triage_canonical(&req) else {
        return Ok(None);
    };
    if !engine.grants_without_asking(&req, &t) {
        return Ok(None);
    }
    let walked = t.walked();
    if let Err(errno) = walked.seen() {
        let reason = crate::broker::unread_refusal(canonical, errno);
        engine.refuse_granted(&req, &reason);
        return Err(Refusal::Unread(canonical.to_path_buf(), errno, reason));
    }
    Ok(engine
        .decide_triaged(&req, t, &crate::cancel::CancelToken::new())
        .is_granted()
        .then_some(walked))
}

/// The policy engine's request for a metadata change of `canonical` (a write).
pub(super) fn write_request(canonical: &Path, n: &Notification) -> RuntimeRequest {
    RuntimeRequest {
        path: canonical.to_path_buf(),
        access: AccessMode::Write,
        pid: n.pid,
        reason: None,
        source: RequestSource::Trap,
    }
}

/// After a runtime grant, on the object opened for it: refused when it is a file under a deny
/// entry (or a read-only one) reached by another name — a hard link made outside the sandbox
/// into the approved directory — as for an approved open (`Engine::refuse_opened`; it may walk
/// a deny entry cut at start-up once, as `path_ops` does on this thread for `link`).
///
/// And refused when the object is not the one the deny groups' identity walk saw (`walked`)
/// nor one in the mount it walked: a directory holding a mount point renamed in between (red
/// team 23); the walk's own errno when it could not see the directory. One `statx` of the
/// object serves both checks.
pub(super) fn refuse_approved_object(
    engine: Option<&Engine>,
    canonical: &Path,
    n: &Notification,
    resolved: &Resolved,
    walked: Walked,
) -> Result<(), Refusal> {
    let Some(engine) = engine else {
        // Approved without an engine cannot happen; refuse rather than assume.
        return Err(Refusal::Denied(
            canonical.to_path_buf(),
            "a metadata change outside the write grants",
        ));
    };
    walked.seen()?;
    let st = Opened::of_fd(&resolved.fd)?;
    if !walked.admits_opened(st.id) {
        let reason = crate::broker::moved_refusal(canonical);
        engine.refuse_granted(&write_request(canonical, n), &reason);
        return Err(Refusal::Moved(canonical.to_path_buf(), reason));
    }
    match engine.refuse_opened_stat(&write_request(canonical, n), &st) {
        None => Ok(()),
        Some(reason) => Err(Refusal::HardLinkToProtected(
            canonical.to_path_buf(),
            reason,
        )),
    }
}

/// Open the checked canonical path `O_PATH` as the child (its search permissions apply).
pub(super) fn open_path(
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

pub(super) fn is_symlink(mode: u32) -> bool {
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
            || num(p).and_then(|p| u32::try_from(p).ok())
                == crate::broker::procfs::thread_group(tid)
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
    let copy = crate::broker::child_fd_copy(notify, n, fd)?;
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
pub(in crate::broker) fn open_object(path: &Path) -> Result<OwnedFd, Errno> {
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
}

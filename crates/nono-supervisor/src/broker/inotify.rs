//! The inotify broker: `inotify_add_watch` of a supervised child, performed by the supervisor
//! only on an object inside the read grants.
//!
//! # Why
//! Landlock (ABI 7) does not check `inotify_add_watch`: the kernel asks only for DAC read
//! permission on the watched inode. A sandboxed process can watch any directory it can name
//! — `~/.ssh`, another project, `/tmp/ssh-*` — and learn the names of files created there and
//! when a file is opened or read (`IN_OPEN`/`IN_ACCESS` on `id_rsa` tell when the user uses
//! the key). `fanotify_init` is refused by the deny filter.
//!
//! # Mechanism
//! The notify filter traps every `inotify_add_watch` (its path is in memory, so the filter
//! cannot judge it). The supervisor reads the path once, makes it absolute against the
//! calling thread's cwd, canonicalises it with the thread's credentials as the kernel's lookup
//! would (`paths::realpath_as_the_kernel`: a `..` climbs from where the symlink before it
//! leads, no magic link is followed, the last component is kept as is with `IN_DONT_FOLLOW`)
//! and asks the capability model whether the **read** grants cover it —
//! reading a directory lists it, and a watch on a directory reports no more than what a
//! listing and the entries' own read grants would. Anything under `/proc` (also through
//! `/dev/fd/N`, `/dev/std*`) is refused (the procfs broker serves `/proc` files; watching them
//! is not needed). Outside: `EACCES` and a [`Denial`] (the report suggests `--read PATH`).
//! Inside, the object is opened `O_PATH | O_NOFOLLOW` beneath its canonical parent without
//! following symlinks (as the metadata broker does: a path swapped for a symlink after the
//! check is refused) and the supervisor adds the watch **itself**, on its `pidfd_getfd` copy of the child's inotify descriptor (the
//! same inotify instance, so the watch descriptor it returns is the child's), on
//! `/proc/self/fd/N` of that `O_PATH` fd — the inode it checked, never a name a rename could
//! redirect. The call's value (the watch descriptor) is the child's answer. Never `CONTINUE`:
//! the kernel would read the path again, after another thread may have rewritten it.
//!
//! # Whose credentials
//! The kernel requires read permission on the watched inode (and search permission on the
//! way). The supervisor may hold capabilities the child lacks (a root supervisor keeps
//! `CAP_DAC_OVERRIDE`; the child's are dropped), so the resolution, the `O_PATH` open and the
//! `inotify_add_watch` itself run while this thread acts as the trapped one
//! ([`super::as_child`]): the kernel checks them against the child's credentials, ACLs
//! included. Refused: the kernel's `EACCES`, without a [`Denial`] (no grant would help).
//!
//! # What remains
//! A watch on a granted directory reports events of all its direct entries, also of an entry
//! a deny rule carves out (under `--allow ~`: that `.ssh` was opened as a directory, that
//! `.bash_history` was written) — names a listing shows anyway, and the timing of accesses,
//! never contents. Without a supervisor (`nono wrap`) `inotify_add_watch` is not checked at
//! all (`gaps.rs`).

use std::ffi::OsStr;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nono_sandbox::linux::seccomp::{procmem, Notification, NotifyFd, Syscall};
use nono_sandbox::paths::realpath_as_the_kernel;
use nono_sandbox::AccessMode;
use rustix::fs::inotify::WatchFlags;
use rustix::io::Errno;

use super::run_state::{Call, Denial, Refused, Shared};
use super::{metadata, StaticGrants, PATH_MAX};

/// The syscalls this module brokers.
pub(crate) const SYSCALLS: &[Syscall] = &[Syscall::InotifyAddWatch];

/// `IN_DONT_FOLLOW`: do not follow a symlink in the last component.
const IN_DONT_FOLLOW: u32 = 0x0200_0000;

/// Whether `s` is brokered here.
pub(crate) fn traps(s: Syscall) -> bool {
    SYSCALLS.contains(&s)
}

enum Refusal {
    /// Outside the read grants: `EACCES` and a [`Denial`] with this reason.
    Denied(PathBuf, &'static str),
    Errno(Errno),
}

impl From<Errno> for Refusal {
    fn from(e: Errno) -> Self {
        Refusal::Errno(e)
    }
}

/// Answer one trapped `inotify_add_watch`.
pub(crate) fn handle(notify: &NotifyFd, caps: &StaticGrants, shared: &Shared, n: &Notification) {
    match add_watch(notify, caps, n) {
        Ok(wd) => {
            let _ = notify.respond_value(n.id, i64::from(wd));
        }
        Err(Refusal::Errno(e)) => {
            let _ = notify.respond_errno(n.id, e.raw_os_error());
        }
        Err(Refusal::Denied(path, reason)) => {
            shared.deny(Denial {
                what: Refused::Path(path),
                access: AccessMode::Read,
                pid: n.pid,
                call: Call::Syscall(Syscall::InotifyAddWatch),
                reason: reason.to_owned(),
            });
            let _ = notify.respond_errno(n.id, Errno::ACCESS.raw_os_error());
        }
    }
}

fn add_watch(notify: &NotifyFd, caps: &StaticGrants, n: &Notification) -> Result<i32, Refusal> {
    // inotify_add_watch(int fd, const char *pathname, uint32_t mask)
    let fd = n.args[0] as i32;
    let mask = n.args[2] as u32;
    let raw = procmem::read_cstr_bytes(n.pid, n.args[1], PATH_MAX).map_err(|e| {
        Some(e.errno())
            .filter(|e| *e == Errno::NAMETOOLONG)
            .unwrap_or(Errno::FAULT)
    })?;
    if !notify.id_valid(n.id) {
        return Err(Refusal::Errno(Errno::SRCH));
    }
    if raw.is_empty() {
        return Err(Refusal::Errno(Errno::NOENT));
    }
    let path = Path::new(OsStr::from_bytes(&raw));
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        match super::relative_base(notify, n, libc::AT_FDCWD) {
            super::Base::Dir(base) => base.join(path),
            super::Base::Unreadable | super::Base::Gone => return Err(Refusal::Errno(Errno::SRCH)),
            super::Base::NotAPath(base) => {
                return Err(Refusal::Denied(
                    base.join(path),
                    "an inotify watch relative to a directory the supervisor cannot resolve",
                ))
            }
        }
    };
    let lexical = super::normalize(&absolute);
    const PROC: &str = "an inotify watch under /proc";
    // `/dev/fd/N` and `/dev/std*` name the caller's descriptors, which the supervisor's own
    // resolution would take for its own (`/proc/self`).
    let magic = [
        "/proc",
        "/dev/fd",
        "/dev/stdin",
        "/dev/stdout",
        "/dev/stderr",
    ];
    if magic.iter().any(|m| lexical.starts_with(m)) {
        return Err(Refusal::Denied(lexical, PROC));
    }
    let follow = mask & IN_DONT_FOLLOW == 0;
    // From here on the supervisor acts as the trapped thread (`as_child.rs`): the resolution
    // and the `O_PATH` open check search permission on every directory the child named and
    // the object lies beneath, and the kernel's `inotify_add_watch` checks read permission on
    // it, all against the child's credentials and capabilities, never the supervisor's (a
    // root supervisor resolved `w/locked/link` through another user's 0700 `locked`: red
    // team 25). The name is resolved as spelled, as the kernel's lookup goes (`..` after a
    // symlink climbs from its target) and never through a magic link (`w/l →
    // /proc/$PPID/cwd` named the supervisor's cwd).
    let as_child = caps.creds.of_thread(notify, n)?.act()?;
    let canonical = realpath_as_the_kernel(&absolute, follow)
        .map_err(|e| Refusal::Errno(super::lookup_errno(&e)))?;
    if canonical.starts_with("/proc") {
        return Err(Refusal::Denied(canonical, PROC));
    }
    if !caps.allows_canonical(&canonical, AccessMode::Read) {
        return Err(Refusal::Denied(
            canonical,
            "an inotify watch outside the read grants (it would report the names of files \
             created, opened and read there)",
        ));
    }
    let object = metadata::open_object(&canonical).map_err(|e| {
        if e == Errno::LOOP || e == Errno::XDEV {
            Refusal::Denied(
                canonical.clone(),
                "the path changed into a symlink before the inotify watch",
            )
        } else {
            Refusal::Errno(e)
        }
    })?;
    let st = rustix::fs::fstat(&object)?;
    if follow && st.st_mode & libc::S_IFMT == libc::S_IFLNK {
        return Err(Refusal::Denied(
            canonical,
            "the path changed into a symlink before the inotify watch",
        ));
    }
    let inotify = super::child_fd_copy(notify, n, fd)?;
    // The supervisor names the object by its own fd: the magic link leads to the inode it
    // checked (also a symlink itself, opened O_NOFOLLOW for IN_DONT_FOLLOW), so the child's
    // IN_DONT_FOLLOW must not stop the kernel from following the magic link.
    let flags = WatchFlags::from_bits_retain(mask & !IN_DONT_FOLLOW);
    let via = format!("/proc/self/fd/{}", object.as_raw_fd());
    let wd = rustix::fs::inotify::add_watch(&inotify, via.as_str(), flags)?;
    drop(as_child);
    Ok(wd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trapped_syscall_is_known_to_the_filter() {
        for s in SYSCALLS {
            assert!(s.nr().is_some(), "{s}");
            assert_eq!(
                Syscall::from_nr(i32::try_from(s.nr().unwrap()).unwrap()),
                Some(*s)
            );
        }
    }
}

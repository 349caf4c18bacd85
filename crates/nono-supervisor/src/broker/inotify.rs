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
//! calling thread's cwd, canonicalises it (the last component kept as is with
//! `IN_DONT_FOLLOW`) and asks the capability model whether the **read** grants cover it —
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
//! `CAP_DAC_OVERRIDE`; the child's are dropped), so before acting it applies the DAC rules
//! to the trapped thread's own credentials (`/proc/TID/status`: fsuid, fsgid, groups,
//! `CapEff`): read on the object, search on every directory above it. A file or directory
//! with an access ACL counts only for its owner (the ACL is not evaluated). Refused: `EACCES`,
//! as the kernel would answer, without a [`Denial`] (no grant would help).
//!
//! # What remains
//! A watch on a granted directory reports events of all its direct entries, also of an entry
//! a deny rule carves out (under `--allow ~`: that `.ssh` was opened as a directory, that
//! `.bash_history` was written) — names a listing shows anyway, and the timing of accesses,
//! never contents. Without a supervisor (`nono wrap`) `inotify_add_watch` is not checked at
//! all (`gaps.rs`).

use std::ffi::OsStr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nono_sandbox::linux::seccomp::{Notification, NotifyFd, Syscall};
use nono_sandbox::AccessMode;
use rustix::fs::inotify::WatchFlags;
use rustix::io::Errno;

use super::{metadata, StaticGrants, PATH_MAX};
use crate::supervise::{Denial, Shared};

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
                path,
                access: AccessMode::Read,
                pid: n.pid,
                syscall: Syscall::InotifyAddWatch.name().to_owned(),
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
    let raw = crate::os::read_child_cstr(n.pid, n.args[1], PATH_MAX).map_err(|e| {
        Errno::from_io_error(&e)
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
    let canonical = canonical(&lexical, follow)?;
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
    let reader = Reader::of_thread(notify, n)?;
    if !reader.may_reach(&canonical) || !reader.may_read(&st, &object) {
        return Err(Refusal::Errno(Errno::ACCESS));
    }
    let inotify = super::child_fd_copy(notify, n, fd)?;
    // The supervisor names the object by its own fd: the magic link leads to the inode it
    // checked (also a symlink itself, opened O_NOFOLLOW for IN_DONT_FOLLOW), so the child's
    // IN_DONT_FOLLOW must not stop the kernel from following the magic link.
    let flags = WatchFlags::from_bits_retain(mask & !IN_DONT_FOLLOW);
    let via = format!("/proc/self/fd/{}", object.as_raw_fd());
    Ok(rustix::fs::inotify::add_watch(
        &inotify,
        via.as_str(),
        flags,
    )?)
}

/// The supervisor's canonical path: symlinks resolved, except in the last component when the
/// watch must not follow it.
fn canonical(lexical: &Path, follow: bool) -> Result<PathBuf, Errno> {
    let errno = |e: std::io::Error| Errno::from_io_error(&e).unwrap_or(Errno::NOENT);
    match (follow, lexical.parent(), lexical.file_name()) {
        (false, Some(parent), Some(name)) => {
            Ok(std::fs::canonicalize(parent).map_err(errno)?.join(name))
        }
        _ => std::fs::canonicalize(lexical).map_err(errno),
    }
}

/// Capability numbers (capabilities(7)).
const CAP_DAC_OVERRIDE: u32 = 1;
const CAP_DAC_READ_SEARCH: u32 = 2;
/// Mode bits of one class: read, search/execute.
const MAY_READ: u32 = 4;
const MAY_EXEC: u32 = 1;

/// The trapped thread's credentials, as the kernel's DAC check sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reader {
    fsuid: u32,
    fsgid: u32,
    groups: Vec<u32>,
    cap_eff: u64,
}

impl Reader {
    /// From `/proc/TID/status`, then `NOTIF_ID_VALID` (the tid was not reused: the ids are
    /// the waiting thread's).
    fn of_thread(notify: &NotifyFd, n: &Notification) -> Result<Reader, Errno> {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", n.pid)).map_err(|_| Errno::SRCH)?;
        let reader = Reader::parse(&status).ok_or(Errno::SRCH)?;
        if !notify.id_valid(n.id) {
            return Err(Errno::SRCH);
        }
        Ok(reader)
    }

    fn parse(status: &str) -> Option<Reader> {
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::trim)
        };
        // `Uid:`/`Gid:` list real, effective, saved and filesystem ids.
        let fs_id =
            |name: &str| -> Option<u32> { field(name)?.split_whitespace().nth(3)?.parse().ok() };
        Some(Reader {
            fsuid: fs_id("Uid:")?,
            fsgid: fs_id("Gid:")?,
            groups: field("Groups:")?
                .split_whitespace()
                .map(str::parse)
                .collect::<Result<_, _>>()
                .ok()?,
            cap_eff: u64::from_str_radix(field("CapEff:")?, 16).ok()?,
        })
    }

    fn has(&self, cap: u32) -> bool {
        self.cap_eff & (1u64 << cap) != 0
    }

    /// `generic_permission` for `want` (`MAY_READ` or `MAY_EXEC`) from the mode bits;
    /// `acl`: whether the inode has an access ACL (then only its owner's bits count), asked
    /// only when it matters.
    fn permits(&self, st: &rustix::fs::Stat, want: u32, acl: impl FnOnce() -> bool) -> bool {
        let dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
        if self.has(CAP_DAC_OVERRIDE) && (want == MAY_READ || dir || st.st_mode & 0o111 != 0) {
            return true;
        }
        if self.has(CAP_DAC_READ_SEARCH) && (want == MAY_READ || dir) {
            return true;
        }
        let shift = if self.fsuid == st.st_uid {
            6
        } else if acl() {
            return false;
        } else if self.fsgid == st.st_gid || self.groups.contains(&st.st_gid) {
            3
        } else {
            0
        };
        (st.st_mode >> shift) & want != 0
    }

    /// Read permission on the object behind `fd`.
    fn may_read(&self, st: &rustix::fs::Stat, fd: &OwnedFd) -> bool {
        let via = format!("/proc/self/fd/{}", fd.as_raw_fd());
        self.permits(st, MAY_READ, || has_acl(via.as_str()))
    }

    /// Search permission on every directory above the canonical `path`.
    fn may_reach(&self, path: &Path) -> bool {
        path.ancestors().skip(1).all(|dir| {
            rustix::fs::stat(dir).is_ok_and(|st| self.permits(&st, MAY_EXEC, || has_acl(dir)))
        })
    }
}

fn has_acl(path: impl rustix::path::Arg) -> bool {
    rustix::fs::getxattr_query(path, c"system.posix_acl_access").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(mode: u32, uid: u32, gid: u32) -> rustix::fs::Stat {
        // A real `stat` with the fields under test replaced.
        let mut st = rustix::fs::stat("/").expect("stat /");
        st.st_mode = mode;
        st.st_uid = uid;
        st.st_gid = gid;
        st
    }

    fn reader(fsuid: u32, groups: &[u32], cap_eff: u64) -> Reader {
        Reader {
            fsuid,
            fsgid: groups.first().copied().unwrap_or(fsuid),
            groups: groups.to_vec(),
            cap_eff,
        }
    }

    #[test]
    fn credentials_come_from_the_filesystem_ids_groups_and_effective_caps() {
        let status = "Name:\tx\nUid:\t0\t0\t0\t1234\nGid:\t0\t0\t0\t99\nGroups:\t4 27 \nCapEff:\t0000000000000006\n";
        let r = Reader::parse(status).unwrap();
        assert_eq!(
            r,
            Reader {
                fsuid: 1234,
                fsgid: 99,
                groups: vec![4, 27],
                cap_eff: 6
            }
        );
        assert!(r.has(CAP_DAC_OVERRIDE) && r.has(CAP_DAC_READ_SEARCH));
    }

    /// The kernel's `generic_permission` for read and search: owner bits for the owner (even
    /// when the group bits would allow), group bits for a member, other bits otherwise; an
    /// ACL leaves only the owner; `CAP_DAC_OVERRIDE` reads anything and searches directories,
    /// `CAP_DAC_READ_SEARCH` reads and searches.
    #[test]
    fn read_and_search_follow_the_kernels_rules() {
        let (file, dir) = (libc::S_IFREG, libc::S_IFDIR);
        let none = reader(1000, &[1000], 0);
        let member = reader(1001, &[50], 0);
        let root_capless = reader(0, &[0], 0);
        let root = reader(0, &[0], 1 << CAP_DAC_OVERRIDE);
        let read_search = reader(0, &[0], 1 << CAP_DAC_READ_SEARCH);
        let secret = stat(file | 0o600, 1000, 50);
        assert!(none.permits(&secret, MAY_READ, || false));
        assert!(!member.permits(&secret, MAY_READ, || false));
        assert!(!root_capless.permits(&secret, MAY_READ, || false));
        assert!(root.permits(&secret, MAY_READ, || false));
        assert!(read_search.permits(&secret, MAY_READ, || false));
        let group_only = stat(file | 0o040, 1000, 50);
        assert!(
            !none.permits(&group_only, MAY_READ, || false),
            "owner bits win"
        );
        assert!(member.permits(&group_only, MAY_READ, || false));
        assert!(
            !member.permits(&group_only, MAY_READ, || true),
            "ACL: owner only"
        );
        let private_dir = stat(dir | 0o700, 1000, 50);
        assert!(none.permits(&private_dir, MAY_EXEC, || false));
        assert!(!member.permits(&private_dir, MAY_EXEC, || false));
        assert!(!root_capless.permits(&private_dir, MAY_EXEC, || false));
        assert!(root.permits(&private_dir, MAY_EXEC, || false));
        assert!(read_search.permits(&private_dir, MAY_EXEC, || false));
        let world = stat(dir | 0o755, 1000, 50);
        assert!(
            member.permits(&world, MAY_EXEC, || false)
                && root_capless.permits(&world, MAY_READ, || false)
        );
    }

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

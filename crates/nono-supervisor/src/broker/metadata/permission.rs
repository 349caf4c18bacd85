//! Who may change an object: nono's own rule (device nodes and the roots of profile
//! directory grants keep their metadata, whoever asks) and the kernel's rules for metadata
//! changes, emulated for the trapped thread's credentials to word a refusal (the kernel
//! enforces them anyway: the change is made as the child).

use std::os::fd::{AsRawFd, OwnedFd};

use rustix::io::Errno;

use super::Op;
use crate::broker::as_child::ChildCreds;
use crate::broker::StaticGrants;

impl StaticGrants {
    /// Why a change `op` of the object behind `fd` is refused whoever asks, or `None`: the
    /// mode, owner, xattrs and attributes of a device node (`chmod 0600 /dev/full` as a
    /// sandboxed root would break it for the whole host) and of the root of a directory grant
    /// no command-line flag names (`chmod 0777 /tmp`, a profile's directories) are not the
    /// sandbox's to change. Times are (`touch`).
    pub(super) fn protected_object(&self, fd: &OwnedFd, op: &Op) -> Option<&'static str> {
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
pub(super) type Forbidden = (Errno, &'static str);

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
    pub(super) fn may(&self, fd: &OwnedFd, op: &Op) -> Result<(), Forbidden> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;
    use rustix::fs::{Gid, Mode, Timespec, Timestamps, Uid};

    /// The kernel's rules, on a real file's `stat` with the owner, group and mode replaced.
    #[test]
    fn the_rules_follow_the_kernels() {
        let dir = Scratch::new(&format!("nono-meta-rules-{}", std::process::id()));
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
}

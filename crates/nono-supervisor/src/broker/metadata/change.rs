//! The change itself: `op` performed on the resolved object, as the child.

#![allow(unsafe_code)]

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nono_sandbox::linux::seccomp::Syscall;
use rustix::fs::AtFlags;
use rustix::io::Errno;

use super::resolve::is_symlink;
use super::Op;
use crate::broker::as_child::ActingAsChild;

/// Perform `op` on the object behind `fd`, as the child.
pub(super) fn perform(_as_child: &ActingAsChild, fd: &OwnedFd, op: &Op) -> Result<(), Errno> {
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
    // Only trapped where the table has a number, so `None` is not reached in practice.
    let Some(nr) = Syscall::FileSetAttr.nr() else {
        return Err(Errno::NOSYS);
    };
    let empty = c"";
    // SAFETY: `fd` is an open fd borrowed for the call; `empty` is a valid NUL-terminated
    // string; `attr` is a valid buffer of `attr.len()` bytes that the kernel only reads.
    let rc = unsafe {
        libc::syscall(
            libc::c_long::from(nr),
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

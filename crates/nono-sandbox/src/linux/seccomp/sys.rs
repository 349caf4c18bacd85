//! The raw seccomp syscalls and `SECCOMP_IOCTL_NOTIF_*` ioctls — the only `unsafe` of the
//! seccomp backend. rustix wraps neither `seccomp(2)` nor these ioctls, so they go through
//! `libc`. Every function here is async-signal-safe (no allocation, no locks): `install`
//! runs between `fork` and `exec`.
//!
//! # References
//! - [`seccomp(2)`](https://man7.org/linux/man-pages/man2/seccomp.2.html)
//! - [`seccomp_unotify(2)`](https://man7.org/linux/man-pages/man2/seccomp_unotify.2.html)
#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use rustix::io::Errno;

use crate::linux::last_errno;

use super::bpf::Insn;

// `Insn` is passed to the kernel as `struct sock_filter`.
const _: () = assert!(std::mem::size_of::<Insn>() == std::mem::size_of::<libc::sock_filter>());
const _: () = assert!(std::mem::align_of::<Insn>() == std::mem::align_of::<libc::sock_filter>());

pub(crate) const FLAG_TSYNC: libc::c_ulong = libc::SECCOMP_FILTER_FLAG_TSYNC;
pub(crate) const FLAG_NEW_LISTENER: libc::c_ulong = libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
pub(crate) const FLAG_TSYNC_ESRCH: libc::c_ulong = libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
pub(crate) const FLAG_WAIT_KILLABLE_RECV: libc::c_ulong =
    libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;

/// `SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP` (Linux 6.6), not in `libc` yet.
pub(crate) const USER_NOTIF_FD_SYNC_WAKE_UP: libc::c_ulong = 1;

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog)`; returns the syscall's non-negative
/// result (0, or the listener fd with `NEW_LISTENER`).
fn set_mode_filter(prog: &[Insn], flags: libc::c_ulong) -> Result<i64, Errno> {
    let len = u16::try_from(prog.len()).map_err(|_| Errno::INVAL)?;
    let fprog = libc::sock_fprog {
        len,
        filter: prog.as_ptr().cast::<libc::sock_filter>().cast_mut(),
    };
    // SAFETY: `fprog` points at `prog.len()` initialised instructions with the layout of
    // `struct sock_filter` (asserted above); the kernel only reads them, and copies the
    // program before returning, so the borrow outlives every use.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            std::ptr::addr_of!(fprog),
        )
    };
    if ret < 0 {
        Err(last_errno())
    } else {
        Ok(ret)
    }
}

/// Install `prog` for the calling thread (or process, with `TSYNC`).
pub(crate) fn install(prog: &[Insn], flags: libc::c_ulong) -> Result<(), Errno> {
    set_mode_filter(prog, flags & !FLAG_NEW_LISTENER).map(drop)
}

/// Install `prog` with `SECCOMP_FILTER_FLAG_NEW_LISTENER`; returns the listener.
pub(crate) fn install_with_listener(prog: &[Insn], flags: libc::c_ulong) -> Result<OwnedFd, Errno> {
    let ret = set_mode_filter(prog, flags | FLAG_NEW_LISTENER)?;
    let fd = i32::try_from(ret).map_err(|_| Errno::INVAL)?;
    // SAFETY: with NEW_LISTENER a successful seccomp() returns a new file descriptor that
    // nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, out)`. `out` must be zeroed (the kernel checks).
pub(crate) fn notif_recv(fd: BorrowedFd<'_>, out: &mut libc::seccomp_notif) -> Result<(), Errno> {
    // SAFETY: `out` is a valid, writable `struct seccomp_notif`, the size this ioctl encodes.
    let ret = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_RECV,
            std::ptr::from_mut(out),
        )
    };
    if ret < 0 {
        Err(last_errno())
    } else {
        Ok(())
    }
}

/// `ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, resp)`.
pub(crate) fn notif_send(fd: BorrowedFd<'_>, resp: &libc::seccomp_notif_resp) -> Result<(), Errno> {
    // SAFETY: `resp` is a valid `struct seccomp_notif_resp`; the kernel only reads it.
    let ret = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SEND,
            std::ptr::from_ref(resp),
        )
    };
    if ret < 0 {
        Err(last_errno())
    } else {
        Ok(())
    }
}

/// `ioctl(fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id)`.
pub(crate) fn notif_id_valid(fd: BorrowedFd<'_>, id: u64) -> Result<(), Errno> {
    // SAFETY: the ioctl reads one `u64` through the pointer, which points at `id`.
    let ret = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_ID_VALID,
            std::ptr::addr_of!(id),
        )
    };
    if ret < 0 {
        Err(last_errno())
    } else {
        Ok(())
    }
}

/// `ioctl(fd, SECCOMP_IOCTL_NOTIF_ADDFD, addfd)`; returns the fd number in the target.
pub(crate) fn notif_addfd(
    fd: BorrowedFd<'_>,
    addfd: &libc::seccomp_notif_addfd,
) -> Result<i32, Errno> {
    // SAFETY: `addfd` is a valid `struct seccomp_notif_addfd`; the kernel only reads it. The
    // source fd it names is borrowed by the caller for the duration of the call.
    let ret = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_ADDFD,
            std::ptr::from_ref(addfd),
        )
    };
    if ret < 0 {
        Err(last_errno())
    } else {
        Ok(ret)
    }
}

/// `ioctl(fd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, flags)` (the flags are passed by value).
pub(crate) fn notif_set_flags(fd: BorrowedFd<'_>, flags: libc::c_ulong) -> Result<(), Errno> {
    // SAFETY: this ioctl takes its argument by value; no memory is passed.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS, flags) };
    if ret < 0 {
        Err(last_errno())
    } else {
        Ok(())
    }
}

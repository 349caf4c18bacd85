//! Inherited file descriptors: `cloexec_inherited_fds()` marks every fd above stderr
//! close-on-exec, for a process that sandboxes itself and then `exec`s (`nono wrap`).
//!
//! Landlock checks a path when it is opened, so a descriptor opened before the sandbox (a
//! file or socket some parent leaked without `O_CLOEXEC`) is full access to its object.
//! Marking instead of closing keeps descriptors the caller still uses until `exec` working.
//!
//! Why `libc`: rustix (1.1) has no `close_range`.
//!
//! # References
//! - [close_range(2)](https://man7.org/linux/man-pages/man2/close_range.2.html)
//! - [fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html) (`F_SETFD`)
#![allow(unsafe_code)]

use rustix::io::Errno;

use crate::linux::last_errno;

/// Mark every file descriptor from 3 up close-on-exec, so the next `exec` closes all but
/// stdin, stdout and stderr. Async-signal-safe on Linux 5.11+ (one
/// `close_range(3, ~0, CLOSE_RANGE_CLOEXEC)`); on older kernels it falls back to
/// `fcntl(F_SETFD)` on each descriptor up to the `RLIMIT_NOFILE` soft limit.
///
/// # Errors
/// The errno of `close_range` (other than the `EINVAL`/`ENOSYS` of an older kernel), or of
/// a failing `fcntl` in the fallback.
pub fn cloexec_inherited_fds() -> Result<(), Errno> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC closes nothing: it only sets FD_CLOEXEC
    // on open descriptors, so no OwnedFd anywhere is invalidated. The arguments are plain
    // integers.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    match last_errno() {
        Errno::INVAL | Errno::NOSYS => {}
        e => return Err(e),
    }
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(1 << 20)
        .min(1 << 20);
    let limit = i32::try_from(limit).unwrap_or(i32::MAX);
    for fd in 3..limit {
        // SAFETY: F_GETFD/F_SETFD only read and set the descriptor's close-on-exec flag; on
        // a number that is not open they fail with EBADF. No memory is passed.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if flags < 0 {
            continue;
        }
        // SAFETY: as above.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) } < 0 {
            return Err(last_errno());
        }
    }
    Ok(())
}

//! seccomp user-notification primitives: receive, respond, CONTINUE, ID_VALID, ADDFD.
//!
//! Small safe wrappers over the `SECCOMP_IOCTL_NOTIF_*` ioctls on the listener returned by
//! [`Filter::install_with_listener`](super::Filter::install_with_listener). No policy lives
//! here: the supervisor's broker decides what to answer.
//!
//! A trapped syscall waits until it is answered with exactly one of
//! [`respond_continue`](NotifyFd::respond_continue),
//! [`respond_errno`](NotifyFd::respond_errno), [`respond_value`](NotifyFd::respond_value) or
//! [`add_fd`](NotifyFd::add_fd) with `send`. Between receiving and answering, the target
//! may die or be interrupted by a signal (the syscall is then restarted and notified
//! again under a new id); every call on a vanished notification fails with
//! [`NotifyError::Gone`], which a broker treats as "nothing to do".
//!
//! # Reading the target's memory
//!
//! Pointer arguments (a path, a `struct open_how`) are read with
//! [`procmem`](super::procmem). The target's memory can change, and its pid can be reused,
//! at any time: call [`NotifyFd::id_valid`] *after* every read and drop the notification if
//! it is no longer valid. `CONTINUE` makes the kernel run the syscall with whatever the
//! memory holds *then*, so it is only safe where another layer (Landlock) still enforces
//! the policy: never use it to approve something the sandbox itself would refuse.
//!
//! # References
//! [`seccomp_unotify(2)`](https://man7.org/linux/man-pages/man2/seccomp_unotify.2.html)

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use rustix::io::Errno;

use super::filter::{Syscall, NATIVE_AUDIT_ARCH};
use super::sys;

/// Errors from the listener.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// The notification no longer exists: the target died, or a signal interrupted the
    /// syscall (it will be restarted and notified again). Not a failure of the supervisor.
    #[error("the trapped syscall is gone (its process exited or the call was interrupted)")]
    Gone,
    /// An ioctl on the listener failed.
    #[error("{op} on the seccomp listener failed: {source}")]
    Ioctl {
        /// The ioctl, e.g. `"SECCOMP_IOCTL_NOTIF_RECV"`.
        op: &'static str,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// `respond_errno` with a value the kernel cannot return.
    #[error("errno {0} cannot be returned from a syscall: use 1..=4095")]
    InvalidErrno(i32),
}

fn ioctl_err(op: &'static str) -> impl Fn(Errno) -> NotifyError {
    move |e| {
        if e == Errno::NOENT {
            NotifyError::Gone
        } else {
            NotifyError::Ioctl { op, source: e }
        }
    }
}

/// One trapped syscall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notification {
    /// Cookie naming this notification in every answer.
    pub id: u64,
    /// The calling thread's id (in the listener's pid namespace).
    pub pid: u32,
    /// Syscall number.
    pub nr: i32,
    /// `AUDIT_ARCH_*` of the call.
    pub arch: u32,
    /// Instruction pointer at the syscall.
    pub instruction_pointer: u64,
    /// Raw arguments.
    pub args: [u64; 6],
}

impl Notification {
    /// Which trappable syscall this is (native arch only).
    #[must_use]
    pub fn syscall(&self) -> Option<Syscall> {
        if Some(self.arch) != NATIVE_AUDIT_ARCH {
            return None;
        }
        Syscall::from_nr(self.nr)
    }
}

/// How [`NotifyFd::add_fd`] places the fd in the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AddFdOptions {
    /// Also answer the syscall with the new fd number (`SECCOMP_ADDFD_FLAG_SEND`), atomically:
    /// the usual way to complete a brokered `open`.
    pub send: bool,
    /// Set close-on-exec on the new fd (the target asked for `O_CLOEXEC`).
    pub cloexec: bool,
    /// Put it at exactly this number, replacing what is there (`SECCOMP_ADDFD_FLAG_SETFD`);
    /// `None` takes the lowest free number, as `open` would.
    pub target: Option<u32>,
}

/// The listener of a notify filter. Poll it (via [`AsFd`]) for `POLLIN`; `POLLHUP` means
/// no task uses the filter any more.
#[derive(Debug)]
pub struct NotifyFd(OwnedFd);

impl From<OwnedFd> for NotifyFd {
    fn from(fd: OwnedFd) -> Self {
        NotifyFd(fd)
    }
}

impl AsFd for NotifyFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl NotifyFd {
    /// Wrap a listener from [`Filter::install_with_listener`](super::Filter::install_with_listener)
    /// (typically received from the child over a socket).
    #[must_use]
    pub fn new(fd: OwnedFd) -> Self {
        NotifyFd(fd)
    }

    /// The owned listener.
    #[must_use]
    pub fn into_inner(self) -> OwnedFd {
        self.0
    }

    /// Receive the next notification, blocking until there is one (poll first to avoid
    /// blocking). Retries on `EINTR`.
    ///
    /// # Errors
    /// [`NotifyError::Gone`] if the notification vanished between poll and receive.
    pub fn recv(&self) -> Result<Notification, NotifyError> {
        loop {
            // The kernel refuses a non-zeroed buffer.
            let mut raw = libc::seccomp_notif {
                id: 0,
                pid: 0,
                flags: 0,
                data: libc::seccomp_data {
                    nr: 0,
                    arch: 0,
                    instruction_pointer: 0,
                    args: [0; 6],
                },
            };
            match sys::notif_recv(self.0.as_fd(), &mut raw) {
                Ok(()) => {
                    return Ok(Notification {
                        id: raw.id,
                        pid: raw.pid,
                        nr: raw.data.nr,
                        arch: raw.data.arch,
                        instruction_pointer: raw.data.instruction_pointer,
                        args: raw.data.args,
                    })
                }
                Err(Errno::INTR) => continue,
                Err(e) => return Err(ioctl_err("SECCOMP_IOCTL_NOTIF_RECV")(e)),
            }
        }
    }

    fn send(&self, id: u64, val: i64, error: i32, flags: u32) -> Result<(), NotifyError> {
        let resp = libc::seccomp_notif_resp {
            id,
            val,
            error,
            flags,
        };
        sys::notif_send(self.0.as_fd(), &resp).map_err(ioctl_err("SECCOMP_IOCTL_NOTIF_SEND"))
    }

    /// Let the syscall run as the target made it (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`). The
    /// kernel re-reads the arguments, so this is only sound where Landlock still checks.
    pub fn respond_continue(&self, id: u64) -> Result<(), NotifyError> {
        self.send(id, 0, 0, libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32)
    }

    /// Fail the syscall with `errno` (positive, e.g. `libc::EACCES`).
    pub fn respond_errno(&self, id: u64, errno: i32) -> Result<(), NotifyError> {
        if !(1..=4095).contains(&errno) {
            return Err(NotifyError::InvalidErrno(errno));
        }
        self.send(id, 0, -errno, 0)
    }

    /// Complete the syscall without running it, returning `val`.
    pub fn respond_value(&self, id: u64, val: i64) -> Result<(), NotifyError> {
        self.send(id, val, 0, 0)
    }

    /// Whether notification `id` is still pending (its target alive and still in that
    /// syscall). Call it after every read of the target's memory.
    #[must_use]
    pub fn id_valid(&self, id: u64) -> bool {
        sys::notif_id_valid(self.0.as_fd(), id).is_ok()
    }

    /// Install a copy of `fd` in the target (`SECCOMP_IOCTL_NOTIF_ADDFD`, Linux 5.9; `send`
    /// needs 5.14). Returns the fd number in the target.
    pub fn add_fd(
        &self,
        id: u64,
        fd: BorrowedFd<'_>,
        opts: AddFdOptions,
    ) -> Result<i32, NotifyError> {
        let mut flags = 0u32;
        if opts.send {
            flags |= libc::SECCOMP_ADDFD_FLAG_SEND as u32;
        }
        if opts.target.is_some() {
            flags |= libc::SECCOMP_ADDFD_FLAG_SETFD as u32;
        }
        let srcfd = u32::try_from(fd.as_raw_fd()).map_err(|_| NotifyError::Ioctl {
            op: "SECCOMP_IOCTL_NOTIF_ADDFD",
            source: Errno::BADF,
        })?;
        let addfd = libc::seccomp_notif_addfd {
            id,
            flags,
            srcfd,
            newfd: opts.target.unwrap_or(0),
            newfd_flags: if opts.cloexec {
                libc::O_CLOEXEC as u32
            } else {
                0
            },
        };
        sys::notif_addfd(self.0.as_fd(), &addfd).map_err(ioctl_err("SECCOMP_IOCTL_NOTIF_ADDFD"))
    }

    /// Ask the kernel to wake the target on the supervisor's CPU when answered
    /// (`SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP`, Linux 6.6), which shortens round trips.
    /// `Ok(false)` if this kernel does not support it.
    pub fn set_sync_wakeup(&self) -> Result<bool, NotifyError> {
        match sys::notif_set_flags(self.0.as_fd(), sys::USER_NOTIF_FD_SYNC_WAKE_UP) {
            Ok(()) => Ok(true),
            // Kernels before 6.6 reject the unknown ioctl with EINVAL.
            Err(Errno::INVAL) => Ok(false),
            Err(e) => Err(ioctl_err("SECCOMP_IOCTL_NOTIF_SET_FLAGS")(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `NotifyFd` over something that is not a listener: every ioctl fails with `ENOTTY`.
    fn not_a_listener() -> NotifyFd {
        NotifyFd::new(OwnedFd::from(std::fs::File::open("/dev/null").unwrap()))
    }

    #[test]
    fn errors_name_the_ioctl_and_bad_errnos_are_refused_before_any_syscall() {
        let fd = not_a_listener();
        match fd.recv() {
            Err(NotifyError::Ioctl { op, source }) => {
                assert_eq!(op, "SECCOMP_IOCTL_NOTIF_RECV");
                assert_eq!(source, Errno::NOTTY);
            }
            other => panic!("{other:?}"),
        }
        assert!(!fd.id_valid(1));
        for bad in [0, -1, 4096] {
            assert!(matches!(
                fd.respond_errno(1, bad),
                Err(NotifyError::InvalidErrno(e)) if e == bad
            ));
        }
        let err = fd.respond_continue(1).unwrap_err();
        assert!(
            err.to_string().contains("SECCOMP_IOCTL_NOTIF_SEND"),
            "{err}"
        );
        assert!(fd.set_sync_wakeup().is_err());
    }
}

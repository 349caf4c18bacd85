//! Linux backends: Landlock rulesets and seccomp BPF filters, plus seccomp user-notification primitives.
//!
//! [`apply`] ties them together: [`apply::PreparedSandbox`] (before fork),
//! [`apply::PreparedSandbox::enforce`] (after fork), [`apply::CommandExt`] and
//! [`apply::Sandbox`].

pub mod apply;
mod capabilities;
mod fds;
pub mod heap;
pub mod landlock;
mod landlock_rule;
pub mod seccomp;
pub mod thread_cpu;

pub use capabilities::CapDrop;
pub use fds::{cloexec_inherited_fds, reserve_fd_slots, RULE_FD_SLOTS};

/// The calling thread's `errno` after a failed raw `libc` call, read without allocating
/// (async-signal-safe: `fds` and the seccomp syscalls run between `fork` and `exec`).
pub(crate) fn last_errno() -> rustix::io::Errno {
    rustix::io::Errno::from_raw_os_error(
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
    )
}

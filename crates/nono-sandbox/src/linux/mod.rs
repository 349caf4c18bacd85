//! Linux backends: Landlock rulesets and seccomp BPF filters, plus seccomp user-notification primitives.
//!
//! [`apply`] ties them together: [`apply::PreparedSandbox`] (before fork),
//! [`apply::PreparedSandbox::enforce`] (after fork), [`apply::CommandExt`] and
//! [`apply::Sandbox`].

pub mod apply;
mod capabilities;
mod fds;
pub mod landlock;
pub mod seccomp;

pub use fds::cloexec_inherited_fds;

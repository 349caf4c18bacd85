//! Linux backends: Landlock rulesets and seccomp BPF filters, plus seccomp user-notification primitives.

pub mod landlock;
pub mod seccomp;

//! nono-sandbox integration tests: one binary, one module per backend area.
//!
//! `harness` runs programs (or this binary, re-executed for one test) inside a sandbox in a
//! fresh process; every backend module uses it.

#[cfg(target_os = "linux")]
mod ahead;
#[cfg(target_os = "linux")]
mod differential;
#[cfg(target_os = "linux")]
mod hardening;
#[cfg(target_os = "linux")]
mod harness;
#[cfg(target_os = "linux")]
mod landlock;
mod seatbelt;
#[cfg(target_os = "linux")]
mod seccomp;

//! nono-sandbox: the capability model, `explain()`, and the kernel backends (Landlock + seccomp
//! on Linux, Seatbelt profile generation for macOS).

pub mod caps;
pub mod explain;
#[cfg(target_os = "linux")]
pub mod linux;
pub mod seatbelt;
pub mod support;

pub use caps::{
    AccessMode, CapabilitySet, CapsError, Compat, DenyRule, FsGrant, FsKind, NetworkMode, Scopes,
};

//! nono-sandbox: the capability model, `explain()`, and the kernel backends (Landlock + seccomp
//! on Linux, Seatbelt profile generation for macOS).
//!
//! ```no_run
//! # #[cfg(target_os = "linux")] {
//! use nono_sandbox::{AccessMode, CapabilitySet, CommandExt};
//! let mut caps = CapabilitySet::new();
//! caps.allow_dir("/usr", AccessMode::Read, "example")?;
//! caps.block_network();
//! let status = std::process::Command::new("/usr/bin/true")
//!     .sandboxed(&caps)?
//!     .status()?;
//! assert!(status.success());
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod caps;
mod caps_error;
pub mod explain;
#[cfg(target_os = "linux")]
pub mod linux;
pub mod paths;
#[cfg(test)]
use nono_scratch as scratch;
pub mod seatbelt;
pub mod support;

pub use caps::{
    AccessMode, CapabilitySet, CapsError, Compat, DenyKind, DenyRule, FsGrant, FsKind, NetworkMode,
    Origin, Origins, Scopes, Seen, SysvIpc,
};
pub use explain::{
    explain, explain_bind, explain_canonical, explain_net, Explanation, GrantRef, Model,
    NetExplanation, NetOp, NetRule, Rule, Verdict,
};
#[cfg(target_os = "linux")]
pub use linux::apply::{
    CommandExt, PreparedAhead, PreparedSandbox, Sandbox, SandboxError, SandboxOptions,
};
pub use support::{support, EnforcementStatus, Protection, StatusItem, Support, Tristate};

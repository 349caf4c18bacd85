//! nono-supervisor: spawn and supervise a sandboxed child, broker its trapped opens, decide with policy.

pub mod approval;
pub mod audit;
mod broker;
pub mod cancel;
pub mod client;
pub mod deny_groups;
pub mod egress;
pub mod env;
mod error;
pub mod escape;
pub mod gaps;
mod init;
pub mod learn;
mod leftovers;
pub mod limits;
mod link_walk_cache;
mod os;
pub mod planted;
pub mod policy;
pub mod private_tmp;
pub mod profile;
mod pty;
mod sdk;
mod spawn;
mod supervise;
pub mod url;

pub use broker::procfs::{explain_proc, ProcVerdict};
pub use error::SupervisorError;
pub use pty::PtyMode;
pub use spawn::trapped_syscalls;
pub use supervise::{run, Denial, ExitStatusKind, RunOutcome, SpawnConfig, UrlOpen};

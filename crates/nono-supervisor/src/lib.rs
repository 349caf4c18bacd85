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
mod os;
pub mod planted;
pub mod policy;
pub mod private_tmp;
pub mod profile;
mod pty;
mod request;
mod sdk;
mod spawn;
mod spawn_config;
mod supervise;
pub mod url;
mod vars;

pub use broker::procfs::{explain_proc, ProcVerdict};
pub use broker::run_state::{Denial, UrlOpen};
pub use error::SupervisorError;
pub use pty::PtyMode;
pub use spawn::trapped_syscalls;
pub use spawn_config::SpawnConfig;
pub use supervise::{run, ExitStatusKind, RunOutcome};

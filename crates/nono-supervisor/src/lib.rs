//! nono-supervisor: spawn and supervise a sandboxed child, broker its trapped opens, act on
//! nono-policy's decisions.

pub mod approval;
mod broker;
pub mod command_path;
pub mod egress;
mod error;
pub mod gaps;
mod init;
mod leftovers;
pub mod limits;
mod listener_thread;
mod mountinfo;
mod os;
pub mod private_tmp;
mod pty;
#[cfg(test)]
use nono_scratch as scratch;
mod sdk;
mod spawn;
mod spawn_config;
mod supervise;
pub mod url_open;

// The policy modules, under the paths they had before they moved to nono-policy.
use nono_policy::request;
pub use nono_policy::{
    audit, bypass, cancel, deny_groups, deny_prefetch, env, escape, learn, learn_profile, planted,
    policy, profile, profile_trust, url, walked,
};

pub use broker::procfs::{explain_proc, ProcRefusal, ProcVerdict};
pub use broker::run_state::{Call, Refused};
pub use broker::run_state::{Denial, UrlOpen, MAX_DENIALS};
pub use broker::socket_family::SocketRefusal;
pub use broker::unix_socket::{explain_socket, SocketVerdict};
pub use error::SupervisorError;
pub use pty::PtyMode;
pub use spawn::{prepare_ahead, trapped_syscalls};
pub use spawn_config::SpawnConfig;
pub use supervise::{run, ExitStatusKind, RunOutcome};

//! nono-policy: what nono decides, without acting — profiles and their schema, deny groups,
//! the runtime decision engine ([`policy::Engine::decide`]), approve rules and approval
//! backends, audit records, URL validation, the types of a learning run. No processes, no
//! sockets: nono-supervisor acts on these decisions.

#![forbid(unsafe_code)]

mod ancestor_memo;
pub mod approval;
pub mod audit;
pub mod bypass;
pub mod cancel;
mod chain_walk;
pub mod deny_groups;
pub mod deny_prefetch;
mod digest;
pub mod env;
pub mod escape;
pub mod learn;
pub mod learn_profile;
pub mod limits;
mod link_walk_cache;
pub mod planted;
pub mod policy;
pub mod profile;
pub mod profile_trust;
pub mod request;
#[cfg(test)]
use nono_scratch as scratch;
mod state_path;
pub mod url;
mod vars;
pub mod walked;

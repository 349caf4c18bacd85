//! nono-supervisor: spawn and supervise a sandboxed child, broker its trapped opens, decide with policy.

pub mod approval;
pub mod audit;
pub mod deny_groups;
pub mod policy;
pub mod profile;
pub mod url;

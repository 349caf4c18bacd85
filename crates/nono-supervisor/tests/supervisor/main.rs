//! Integration tests for the supervisor: real sandboxed children, spawned by `run` (in this
//! process, which stays unconfined: the sandbox is applied in the forked child) or by the
//! `supervise` example when the supervisor itself must be killed.

mod broker;
mod cprog;
mod harness;
mod lifecycle;
mod metadata;
mod policy;
mod procfs;
mod sdk;
mod unix_socket;
mod url;

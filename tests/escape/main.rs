//! Escape suite: one test per escape class, each driving the built `nono` binary (`run` and
//! `wrap`) against a real attack program from `c/`, checking the kernel's refusal (the errno)
//! and that nothing leaked or changed, with an unsandboxed control showing the attack works.
//! docs/THREAT_MODEL.md points at these tests.

#[allow(dead_code)]
#[path = "../e2e/harness.rs"]
mod harness;
#[path = "../e2e/users.rs"]
mod users;

mod containment;
mod deny_groups;
mod deputy;
mod env_injection;
mod fs;
mod hangs;
mod inherited_fds;
mod ipc;
mod kernel;
mod listen;
mod namespaces;
mod network;
mod origins;
mod persistence;
mod programs;
mod redteam;
mod redteam10;
mod redteam11;
mod redteam12;
mod redteam13;
mod redteam14;
mod redteam15;
mod redteam17;
mod redteam18;
mod redteam19;
mod redteam2;
mod redteam20;
mod redteam21;
mod redteam22;
mod redteam23;
mod redteam24;
mod redteam25;
mod redteam26;
mod redteam27;
mod redteam28;
mod redteam29;
mod redteam3;
mod redteam30;
mod redteam31;
mod redteam4;
mod redteam5;
mod redteam6;
mod redteam7;
mod redteam8;
mod redteam9;
mod terminal;
mod unread;

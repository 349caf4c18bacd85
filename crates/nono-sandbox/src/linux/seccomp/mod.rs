//! seccomp: classic-BPF filters built in this crate (deny-list, network family filter, open-family notify).

pub mod bpf;
pub mod notify;

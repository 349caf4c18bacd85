//! End-to-end tests: drive the built `nono` binary as a user would.

mod advice;
mod approve;
mod approve_exec;
mod cli;
mod clients;
mod egress;
mod env;
mod guide;
mod harness;
mod learn;
mod limits;
mod net_report;
mod plan;
mod prompt;
mod readme;
mod report;
mod run;
mod sdk;
mod setup;
mod shell;
mod terminal_input;
mod unix_socket;
mod users;
mod why;
mod workloads;
mod wrap;

//! End-to-end tests: drive the built `nono` binary as a user would.

mod approve;
mod cli;
mod egress;
mod env;
mod harness;
mod learn;
mod limits;
mod prompt;
mod readme;
mod report;
mod run;
mod sdk;
mod setup;
mod shell;
mod unix_socket;
mod users;
mod why;
mod wrap;

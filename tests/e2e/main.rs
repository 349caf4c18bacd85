//! End-to-end tests: drive the built `nono` binary as a user would.

mod cli;
mod harness;
mod run;
mod setup;
mod why;
mod wrap;

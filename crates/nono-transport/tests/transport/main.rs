//! Integration tests of nono-transport: fd passing, hostile peers, leaks, listener permissions
//! and the peer uid check.
//!
//! Some tests re-execute this binary to run one `helpers::*` test in a fresh process (as
//! another uid, under another umask, or alone so that `/proc/self/fd` can be counted); those
//! helper tests do nothing unless the helper environment variable is set.

mod fd_passing;
mod helpers;
mod hostile;
mod listener;
mod support;

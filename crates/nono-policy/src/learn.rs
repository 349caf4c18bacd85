//! Learning: what a `nono learn` run reached outside a *reference* set of grants.
//!
//! # How learning lets a workload finish in one run
//! `nono learn` spawns the command with a broad Landlock domain — read and write on `/`, the
//! deny groups carved out exactly as in `run`, any port — so that `execve`, `mkdir`, `unlink`,
//! `rename`, `link`, `symlink`, `chmod`, a `connect` or `bind` outside the profile all succeed
//! and the workload completes. The kernel still enforces that domain (the deny groups are
//! refused by Landlock and reported as denials, as in `run`). The traps the supervisor already
//! has tell it what was touched: the open family, the path operations (`broker/path_ops.rs`),
//! the metadata calls (`broker/metadata.rs`), `connect`/`sendto` (`broker/unix_socket.rs`),
//! and under learning also `bind`. Each of them, when a [`Learning`] is configured, hands
//! what lies outside the **reference** grants (the base profile and the command-line grants)
//! to the recorder as a [`Touched`]. Nothing here decides anything.
//!
//! Paths the broad domain cannot give (a new file in a directory that holds a deny entry:
//! the home directory next to `~/.ssh`, which Landlock can only grant around) still reach the
//! runtime-grant path of the broker, where `nono learn`'s engine grants and records them.
//!
//! Why not trap and grant each operation instead: an `execve` cannot be performed by the
//! supervisor for the child (there is no fd to inject, and Landlock checks the exec against
//! the child's own domain), so a narrow domain can never let a workload run a program outside
//! it; the broad domain lets the kernel do every operation itself. (Issue 11 counted eight
//! `learn` runs for a pyenv `python3 -m venv` with per-open grants; it now takes one.)
//!
//! What is recorded is what the child *asked*, read from its memory: a lying child can only
//! change what the learned profile proposes, which the user reads before using it (and which
//! never includes a deny-group path: `nono learn` filters those out again).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use nono_sandbox::{AccessMode, CapabilitySet};

/// One thing a learning run touched outside the reference grants.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Touched {
    /// A path used with `access`: a file or directory opened, a program executed (read), a
    /// file truncated or its metadata changed (write), or a directory whose entries were
    /// created, removed or renamed (write, `is_dir`).
    Path {
        /// Canonical (symlinks resolved; for a name being created, its canonical parent
        /// joined with the name).
        path: PathBuf,
        /// What was done.
        access: AccessMode,
        /// Whether the path existed when it was touched.
        existed: bool,
        /// Whether it is (or was created as) a directory.
        is_dir: bool,
    },
    /// A pathname Unix socket connected to (granted by a file grant in `run`).
    Socket(PathBuf),
    /// A TCP `connect` to this port.
    Connect(u16),
    /// A TCP `bind` to this port (0: an ephemeral port, which no port rule can allow).
    Bind(u16),
    /// A Unix datagram socket was created (refused in `run` unless allowed).
    UnixDatagram,
}

/// The recorder: called on the supervisor's threads, possibly concurrently.
pub type Recorder = Arc<dyn Fn(Touched) + Send + Sync>;

/// Learning for one run (see `nono_supervisor::SpawnConfig::learn`).
#[derive(Clone)]
pub struct Learning {
    /// What the learned profile will already have (base profile + flags): anything these
    /// cover is not recorded.
    pub reference: CapabilitySet,
    /// Receives what lies outside `reference`.
    pub record: Recorder,
}

impl fmt::Debug for Learning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Learning")
            .field("reference", &self.reference)
            .finish_non_exhaustive()
    }
}

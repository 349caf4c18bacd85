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
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nono_sandbox::{AccessMode, CapabilitySet};

use crate::broker::StaticGrants;

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

/// Learning for one run (see [`crate::SpawnConfig::learn`]).
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

/// The broker's side of a [`Learning`]: the reference grants with the fast matcher.
pub(crate) struct Learner {
    reference: StaticGrants,
    record: Recorder,
}

impl fmt::Debug for Learner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Learner").finish_non_exhaustive()
    }
}

impl Learner {
    pub(crate) fn new(l: &Learning) -> Learner {
        Learner {
            reference: StaticGrants::new(&l.reference),
            record: l.record.clone(),
        }
    }

    /// Record `path` (absolute, lexically normal) used with `access`, unless the reference
    /// grants cover it. `is_dir`: it names a directory (listing, or entries made in it).
    pub(crate) fn path(&self, lexical: &Path, access: AccessMode, is_dir: bool) {
        if self.reference.fast_allows(lexical, access) {
            return;
        }
        let Some(canonical) = canonical_lenient(lexical) else {
            return;
        };
        if self.reference.allows_canonical(&canonical, access) {
            return;
        }
        let meta = std::fs::metadata(&canonical);
        (self.record)(Touched::Path {
            existed: meta.is_ok(),
            is_dir: is_dir || meta.is_ok_and(|m| m.is_dir()),
            path: canonical,
            access,
        });
    }

    /// Record an already canonical path the broker resolved itself.
    pub(crate) fn canonical(&self, canonical: &Path, access: AccessMode, existed: bool) {
        if self.reference.allows_canonical(canonical, access) {
            return;
        }
        (self.record)(Touched::Path {
            path: canonical.to_path_buf(),
            access,
            existed,
            is_dir: canonical.is_dir(),
        });
    }

    /// Record a socket connected that the reference does not grant by itself (in `run`, a
    /// socket that only a directory grant covers is connected only when the sandbox serves
    /// it; see `broker/unix_socket.rs`).
    pub(crate) fn socket(&self, canonical: &Path, st: &rustix::fs::Stat) {
        if crate::broker::unix_socket::granted_by_itself(&self.reference, canonical, st) {
            return;
        }
        (self.record)(Touched::Socket(canonical.to_path_buf()));
    }

    /// Record a Unix datagram socket, unless the reference allows them.
    pub(crate) fn unix_datagram(&self) {
        if !self.reference.allows_unix_datagram() {
            (self.record)(Touched::UnixDatagram);
        }
    }

    /// Whether the reference allows Unix datagram sockets (else their creation is trapped
    /// while learning, to be recorded).
    #[must_use]
    pub(crate) fn reference_allows_unix_datagram(l: &Learning) -> bool {
        l.reference.allows_unix_datagram()
    }

    /// Record a TCP port connected to or bound, unless the reference allows it.
    pub(crate) fn port(&self, bind: bool, port: u16) {
        let net = self.reference.network();
        if bind {
            if !net.allows_bind(port) {
                (self.record)(Touched::Bind(port));
            }
        } else if !net.allows_connect(port) {
            (self.record)(Touched::Connect(port));
        }
    }
}

/// The canonical form of `path`; for a path that does not exist (yet, or any more), its
/// nearest existing ancestor canonicalised and the rest appended.
fn canonical_lenient(path: &Path) -> Option<PathBuf> {
    if let Ok(c) = std::fs::canonicalize(path) {
        return Some(c);
    }
    let parent = path.parent()?;
    Some(canonical_lenient(parent)?.join(path.file_name()?))
}

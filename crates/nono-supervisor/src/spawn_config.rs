//! `SpawnConfig`: what to run and how to supervise it — the input of [`crate::run`], read by
//! spawn, the broker and the SDK server.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;

use nono_sandbox::CapabilitySet;

use crate::learn::Learning;
use crate::policy::Engine;
use crate::pty::PtyMode;

/// What to run and how to supervise it.
///
/// Build with [`SpawnConfig::new`] and set the public fields; new fields get defaults.
#[derive(Debug)]
#[non_exhaustive]
pub struct SpawnConfig {
    /// The program and its arguments. A program without `/` is searched in the child's `PATH`.
    pub argv: Vec<OsString>,
    /// What the child may touch (enforced by Landlock + seccomp before `execve`).
    pub caps: CapabilitySet,
    /// The child's environment, before sanitising (default: the supervisor's own). Loader
    /// injection variables (`LD_*`, ...) are always removed (see [`crate::env::sanitize`]).
    pub env: Vec<(OsString, OsString)>,
    /// The child's working directory (default: the supervisor's).
    pub workdir: Option<PathBuf>,
    /// Runtime elevation: with an engine, opens outside the static grants (trapped) and SDK
    /// requests are decided by it (and granted as fds the supervisor opens); without one
    /// they are only recorded as denials.
    pub engine: Option<Arc<Engine>>,
    /// Trap the open family with seccomp user notification: opens outside the static grants
    /// are recorded as [`Denial`](crate::Denial)s and, with an engine, may be granted at runtime.
    pub trap_opens: bool,
    /// Give the child an SDK socket (fd number in `NONO_SUPERVISOR_FD`) for explicit requests.
    pub sdk: bool,
    /// Origins the child may ask the supervisor to open in the user's browser over the SDK
    /// socket (`OpenUrl`), e.g. `https://github.com` or `https://*.example.com:8443`; see
    /// [`crate::url::validate`]. Empty (the default): every URL is refused, with a reason
    /// that says how to allow it. A malformed entry makes [`run`](crate::run) fail before spawning.
    pub allowed_origins: Vec<String>,
    /// The program that opens an allowed URL outside the sandbox, with the URL as its only
    /// argument (default `None`: `xdg-open`, or `open` on macOS; see
    /// [`crate::url_open::open_outside_with`]).
    pub url_opener: Option<PathBuf>,
    /// Run the child on its own PTY (default: when any std stream is a terminal; the child
    /// then never gets a descriptor of the user's terminal, see [`PtyMode`]).
    pub pty: PtyMode,
    /// Forward SIGINT/TERM/HUP/QUIT (and SIGWINCH) to the child (default: true). The
    /// handlers are process-wide and installed only while a run with this flag is in
    /// progress (the previous dispositions are restored after the last one); with several
    /// concurrent runs, each signal goes to every child.
    pub forward_signals: bool,
    /// Resource limits for the whole tree (default: none). See [`crate::limits`]: with
    /// strict compatibility (`caps`) a limit that cannot be enforced is an error.
    pub limits: crate::limits::Limits,
    /// `nono learn`: report what the child touches outside [`Learning::reference`] (see
    /// [`crate::learn`]). The caller gives `caps` the broad domain learning runs in.
    pub learn: Option<Learning>,
    /// The egress proxy's listening address, when the child's network is confined to it
    /// (`caps` must then allow TCP connect to its port): the socket broker lets connects to
    /// that port reach this address alone, and other allowed ports loopback alone (see
    /// [`crate::egress`]). Default `None`: allowed ports reach loopback alone.
    pub egress_proxy: Option<std::net::SocketAddr>,
    /// The sandbox prepared ahead by [`crate::prepare_ahead`] (default `None`): used when it
    /// is exactly the sandbox this config asks for (see
    /// [`PreparedAhead`](nono_sandbox::PreparedAhead)), prepared again otherwise.
    pub ahead: Option<nono_sandbox::PreparedAhead>,
}

impl SpawnConfig {
    /// A config for `argv` under `caps`: the supervisor's environment, no trapping, no SDK,
    /// PTY when on a terminal, signals forwarded.
    #[must_use]
    pub fn new(argv: impl IntoIterator<Item = impl Into<OsString>>, caps: CapabilitySet) -> Self {
        SpawnConfig {
            argv: argv.into_iter().map(Into::into).collect(),
            caps,
            env: std::env::vars_os().collect(),
            workdir: None,
            engine: None,
            trap_opens: false,
            sdk: false,
            allowed_origins: Vec::new(),
            url_opener: None,
            pty: PtyMode::Auto,
            forward_signals: true,
            limits: crate::limits::Limits::default(),
            learn: None,
            egress_proxy: None,
            ahead: None,
        }
    }
}

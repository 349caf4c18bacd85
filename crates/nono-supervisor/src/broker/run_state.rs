//! The state of one run that the loop, the broker, the SDK server and the workers share:
//! the [`Context`] (static grants, engine, workers, URL policy, cancel token) and [`Shared`]
//! (what the run recorded: [`Denial`]s, [`UrlOpen`]s, refused connects, the learner).

use std::os::fd::BorrowedFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use nono_wire::AccessMode;

use super::learner::Learner;
use super::{StaticGrants, Workers};
use crate::cancel::CancelToken;
use crate::policy::Engine;
use crate::spawn_config::SpawnConfig;
use crate::url;

/// An access the child attempted that the static grants did not cover (a trapped open or an
/// SDK request that was not granted).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Denial {
    /// The absolute path, as resolved by the supervisor; `@NAME` for an abstract Unix
    /// socket; empty for a refused Unix datagram socket (`socket`/`socketpair`, which name
    /// no path: see [`Denial::is_unix_datagram_socket`]); `pid N` for a process outside the
    /// sandbox whose scheduling or I/O priority was to be changed (see
    /// [`Denial::is_other_process`]).
    pub path: PathBuf,
    /// The access asked for (from the open flags, or the request).
    pub access: AccessMode,
    /// The thread id (in the supervisor's pid namespace) that asked.
    pub pid: u32,
    /// The trapped syscall's name (`"open"`, `"openat"`, `"creat"`, `"mkdirat"`, `"connect"`,
    /// `"socket"`, ...; never `"openat2"`, which the deny filter fails with `ENOSYS`), or
    /// `"sdk"` for an explicit request.
    pub syscall: String,
    /// Why it was denied: `"outside the sandbox"`, a deny group, the policy's reason, ...
    pub reason: String,
}

impl Denial {
    /// Whether this is a refused Unix datagram socket (`socket`/`socketpair` of `AF_UNIX`
    /// `SOCK_DGRAM`; the path is empty): allowed only by `--allow-unix-datagram` (or a
    /// profile's `network.allow_unix_datagram`), never by a path grant.
    #[must_use]
    pub fn is_unix_datagram_socket(&self) -> bool {
        crate::broker::unix_socket::DATAGRAM_SOCKET_SYSCALLS
            .iter()
            .any(|s| s.name() == self.syscall)
    }

    /// The procfs broker's reason when this is a `/proc` entry it refused (another process's
    /// entry, one outside its allow-list, a write to a read-only one): no path grant reaches
    /// `/proc` under `run`, so no flag allows it.
    #[must_use]
    pub fn procfs_refusal(&self) -> Option<&str> {
        crate::broker::procfs::REFUSALS
            .iter()
            .find(|r| **r == self.reason)
            .copied()
            .filter(|_| self.path.starts_with("/proc"))
    }

    /// The port of a refused TCP `connect` (the network rules list other ports; the path is
    /// `tcp port N`): `--allow-connect-port N` allows it.
    #[must_use]
    pub fn tcp_port(&self) -> Option<u16> {
        if self.reason != crate::broker::unix_socket::TCP_PORT_REFUSED {
            return None;
        }
        self.path.to_str()?.strip_prefix("tcp port ")?.parse().ok()
    }

    /// The port of a refused TCP `bind` (the network rules list other ports; the path is
    /// `tcp bind port N`): `--allow-bind-port N` allows it.
    #[must_use]
    pub fn tcp_bind_port(&self) -> Option<u16> {
        if self.reason != crate::broker::tcp_bind::TCP_BIND_REFUSED {
            return None;
        }
        self.path
            .to_str()?
            .strip_prefix("tcp bind port ")?
            .parse()
            .ok()
    }

    /// Whether this is a refused change to the scheduling or I/O priority of a process
    /// outside the sandbox (`sched_setaffinity`, `sched_setscheduler`, `sched_setparam`,
    /// `sched_setattr`, `ioprio_set`; the path is `pid N`): no grant allows it.
    #[must_use]
    pub fn is_other_process(&self) -> bool {
        crate::broker::sched::SYSCALLS
            .iter()
            .any(|s| s.name() == self.syscall)
    }
}

/// A URL the child asked the supervisor to open (`OpenUrl` on the SDK socket), and what
/// became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UrlOpen {
    /// The URL exactly as the child sent it.
    pub url: String,
    /// The direct child (the SDK peer; the message's own `child_pid` is not trusted).
    pub pid: u32,
    /// Whether it was opened (allowed, and the opener succeeded).
    pub opened: bool,
    /// Why not: the refusal (origin not allowed, bad shape, replayed id) or the opener's
    /// failure.
    pub error: Option<String>,
}

/// State shared by the loop, the broker, the SDK server and the workers.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub denials: Mutex<Vec<Denial>>,
    pub url_opens: Mutex<Vec<UrlOpen>>,
    /// Set for a learning run (see `learn.rs`).
    pub learner: Option<Learner>,
    pub connect_denials: Mutex<Vec<crate::egress::ConnectDenial>>,
}

impl Shared {
    pub(crate) fn deny(&self, d: Denial) {
        tracing::debug!(path = %crate::escape::path(&d.path), syscall = %d.syscall, reason = %crate::escape::text(&d.reason), "denied");
        self.denials
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(d);
    }

    pub(crate) fn deny_connect(&self, d: crate::egress::ConnectDenial) {
        tracing::debug!(addr = %d.addr, syscall = %d.syscall, refusal = ?d.refusal, "connect denied");
        self.connect_denials
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(d);
    }

    pub(crate) fn url_open(&self, u: UrlOpen) {
        tracing::info!(url = %crate::escape::text(&u.url), opened = u.opened, error = ?u.error, "URL open request");
        self.url_opens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(u);
    }
}

/// Everything the loop, the broker, the SDK server and the workers share for one run.
#[derive(Debug)]
pub(crate) struct Context {
    pub caps: Arc<StaticGrants>,
    pub engine: Option<Arc<Engine>>,
    pub shared: Arc<Shared>,
    pub workers: Workers,
    /// The direct child (the SDK peer; its cwd resolves relative SDK paths).
    pub child_pid: u32,
    /// Allowed origins and the opener for `OpenUrl` requests (see `sdk.rs`).
    pub urls: Arc<UrlPolicy>,
    /// Fired when the command ends (or a terminating signal is forwarded): pending
    /// decisions stop waiting (see `cancel.rs`).
    pub cancel: CancelToken,
}

impl Context {
    /// `caps` is built from `config.caps` before the child is spawned ([`StaticGrants::new`]).
    pub(crate) fn new(
        config: &SpawnConfig,
        caps: StaticGrants,
        shared: Arc<Shared>,
        child_pid: u32,
    ) -> Self {
        Context {
            caps: Arc::new(caps),
            engine: config.engine.clone(),
            shared,
            workers: Workers::default(),
            child_pid,
            urls: Arc::new(UrlPolicy::new(config)),
            cancel: CancelToken::new(),
        }
    }

    /// Wait for the workers to finish what they were given (every job ends: a decision
    /// returns, times out or is cancelled — `run` fires `cancel` first —, an open never
    /// waits, a socket wait stops, and answers to a dead child fail at once). A backend that
    /// cannot be cancelled (a `Callback`) is waited for — unless `interrupt` becomes readable
    /// and `interrupted()` says so (a terminating signal to nono): then `run` returns and
    /// leaves the busy workers to end on their own.
    pub(crate) fn finish(
        &self,
        interrupt: Option<BorrowedFd<'_>>,
        interrupted: &mut dyn FnMut() -> bool,
    ) {
        self.workers.join_until(interrupt, interrupted);
    }
}

/// What `OpenUrl` requests may open, and with which program.
#[derive(Debug)]
pub(crate) struct UrlPolicy {
    allowed: Vec<String>,
    opener: Option<PathBuf>,
}

impl UrlPolicy {
    pub(crate) fn new(config: &SpawnConfig) -> Self {
        UrlPolicy {
            allowed: config.allowed_origins.clone(),
            opener: config.url_opener.clone(),
        }
    }

    /// Validate, then open outside the sandbox. Blocking (waits for the opener): workers only.
    pub(crate) fn open(&self, target: &str) -> Result<(), String> {
        let origin = url::origin_of(target).map_err(|e| e.to_string())?;
        if self.allowed.is_empty() {
            return Err(format!(
                "origin {origin} is not allowed: this session allows no URL origins (add it \
                 to supervisor.allowed_origins in the profile)"
            ));
        }
        url::validate(target, &self.allowed).map_err(|e| e.to_string())?;
        let opened = match &self.opener {
            Some(program) => crate::url_open::open_outside_with(program, target),
            None => crate::url_open::open_outside(target),
        };
        opened.map_err(|e| e.to_string())
    }
}

//! The state of one run that the loop, the broker, the SDK server and the workers share:
//! the [`Context`] (static grants, engine, workers, URL policy, cancel token) and [`Shared`]
//! (what the run recorded: [`Denial`]s, [`UrlOpen`]s, refused connects, the learner).

use std::ffi::OsString;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use nono_sandbox::linux::seccomp::Syscall;
use nono_wire::AccessMode;

use super::learner::Learner;
use super::{StaticGrants, Workers};
use crate::cancel::CancelToken;
use crate::policy::{Engine, GroupRefusal};
use crate::spawn_config::SpawnConfig;
use crate::url;

/// An access the child attempted that the static grants did not cover (a trapped call or an
/// SDK request that was not granted).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Denial {
    /// What was refused: a path, a socket, another process, a port (see [`Refused`]).
    pub what: Refused,
    /// The access asked for (from the open flags, or the request).
    pub access: AccessMode,
    /// The thread id (in the supervisor's pid namespace) that asked.
    pub pid: u32,
    /// The call that was refused: a trapped syscall (never `openat2`, which the deny filter
    /// fails with `ENOSYS`), or an explicit SDK request.
    pub call: Call,
    /// Why it was denied: `"outside the sandbox"`, a deny group, the policy's reason, ...
    pub reason: String,
}

/// What a [`Denial`] refused. Typed so that a caller formats it without reading meaning back
/// out of a path (a file may be called `@x` or `pid 1`). Not `non_exhaustive`: a caller that
/// reports denials handles every kind, so a new one cannot reach users unexplained.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Refused {
    /// A file or directory, by absolute path as the supervisor resolved it.
    Path(PathBuf),
    /// A pathname Unix socket (`connect`/`sendto`), by absolute path.
    Socket(PathBuf),
    /// An abstract Unix socket, by name (without the leading NUL): nothing grants it.
    AbstractSocket(OsString),
    /// A Unix datagram socket (`socket`/`socketpair` of `AF_UNIX` `SOCK_DGRAM`), which names
    /// no path: allowed only by `--allow-unix-datagram` (or a profile's
    /// `network.allow_unix_datagram`), never by a path grant.
    UnixDatagramSocket,
    /// A process (or, `group`, a process group) outside the sandbox whose scheduling or I/O
    /// priority was to be changed: no grant allows it.
    OtherProcess {
        /// The process id, or the group's leader.
        id: u32,
        /// Whether `id` names a process group.
        group: bool,
    },
    /// A TCP `bind` to a port the network rules do not list: `--allow-bind-port N` allows it.
    TcpBind {
        /// The port.
        port: u16,
    },
    /// A `socket`/`socketpair` of a family or type the network rules refuse (UDP, ICMP, raw,
    /// packet, netlink, ... under `--block-net`, port rules or the egress proxy).
    NetworkSocket {
        /// The call as the report shows it, made from its registers:
        /// `socket(AF_INET, SOCK_DGRAM, 17)` (shown, never parsed).
        call: String,
        /// Why it was refused, and so what would allow it.
        refusal: super::socket_family::SocketRefusal,
    },
    /// A `listen` on a TCP socket not bound to a port, which the kernel would bind to a random
    /// port on every address: the command must `bind` first (`--allow-bind-port N`).
    TcpListenUnbound,
    /// A metadata change (`chown`, `chmod`, times, xattrs) of a path inside the grants that the
    /// calling thread's own credentials do not allow (the kernel's `EPERM`/`EACCES`: a `chown`
    /// without `CAP_CHOWN`, a file it does not own, a set-user-ID bit): no flag changes that.
    /// The denial's reason says which rule refused it.
    Credentials(PathBuf),
    /// A file or directory a deny entry refused at runtime (a trapped open or path operation
    /// under runtime grants, an SDK request): the engine's verdict, kept so that the report
    /// names the entry that refused — whatever the layout is when the run ends (a deny entry
    /// reached through a mount the command has since moved away: red team 21 finding 2).
    DenyEntry {
        /// By absolute path, as the supervisor resolved it.
        path: PathBuf,
        /// The entry's refusal (boxed: the denial travels in `Result`s).
        refusal: Box<GroupRefusal>,
    },
    /// A rename (either name) or a symlink at a name that would move or replace a directory
    /// above a deny entry — by its name, or by identity when reached by another name (red
    /// teams 22 and 26) — so change what the entry's path names. No flag grants it: lifting
    /// one entry leaves the others the directory holds.
    MovesEntry(Box<MovesEntry>),
    /// A name made (`mkdir`, a creating open, a symlink, a rename's destination) that is,
    /// reached by another name, a missing deny entry or a directory on its path (red team
    /// 26). No flag grants it under that name; by its own path (`own`) the checks by name
    /// decide.
    MakesEntry(Box<MakesEntry>),
    /// A runtime grant (an approve rule, a prompt, a session grant, the SDK) refused on the
    /// object it opened: another name — a hard link made outside the sandbox — for a file
    /// under a deny entry. No flag grants it (a static grant of the directory would reach the
    /// file through the link: Landlock is path-based).
    HardLinkToProtected(PathBuf),
    /// A runtime grant refused because the path led elsewhere when the supervisor acted than
    /// when the deny groups' identity walk checked it — into another mount: a directory on
    /// it, holding a mount point, was renamed in between (red team 23). No flag grants it;
    /// the command may retry once the layout is still.
    Moved(PathBuf),
    /// A runtime grant not acted on because the deny groups' identity walk could not see the
    /// path's directory when it checked (red team 26): answered with the errno the walk got
    /// (`ENOENT`, `EACCES`: what the kernel answered then), never a deny group's refusal. No
    /// flag grants it.
    Unread {
        /// By absolute path, as the supervisor resolved it.
        path: PathBuf,
        /// What kept the walk from seeing the directory.
        why: nono_policy::walked::Unseen,
    },
    /// A `/proc` entry the procfs broker refused (another process's, one outside its
    /// allow-list, a write to a read-only one): no flag grants it.
    Proc {
        /// The entry, by absolute path.
        path: PathBuf,
        /// Why.
        refusal: super::procfs::ProcRefusal,
    },
}

/// What a [`Refused::MovesEntry`] refused (boxed: the names make it the largest refusal).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MovesEntry {
    /// The entry (by its own path).
    pub path: PathBuf,
    /// The name the call would have moved or replaced.
    pub moved: PathBuf,
    /// The entry's refusal.
    pub refusal: GroupRefusal,
}

/// What a [`Refused::MakesEntry`] refused (boxed, as [`MovesEntry`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MakesEntry {
    /// The name as the command made it (canonical parent).
    pub path: PathBuf,
    /// The same name on the entry's own path.
    pub own: PathBuf,
    /// The entry's refusal.
    pub refusal: GroupRefusal,
}

impl Refused {
    /// The path, for a file, directory or pathname socket.
    #[must_use]
    pub fn path(&self) -> Option<&Path> {
        match self {
            Refused::Path(p)
            | Refused::Socket(p)
            | Refused::Credentials(p)
            | Refused::HardLinkToProtected(p)
            | Refused::Moved(p)
            | Refused::Unread { path: p, .. }
            | Refused::DenyEntry { path: p, .. }
            | Refused::Proc { path: p, .. } => Some(p),
            Refused::MovesEntry(m) => Some(&m.path),
            Refused::MakesEntry(m) => Some(&m.path),
            _ => None,
        }
    }
}

/// The path, `@NAME`, `pid N` / `process group N`, `tcp bind port N`, or `a Unix datagram
/// socket`: what a log line shows (not escaped: a path may hold control characters, so a
/// terminal wants `escape::path` on [`Refused::path`]).
impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Path(p)
            | Refused::Socket(p)
            | Refused::Credentials(p)
            | Refused::HardLinkToProtected(p)
            | Refused::Moved(p)
            | Refused::Unread { path: p, .. }
            | Refused::DenyEntry { path: p, .. }
            | Refused::Proc { path: p, .. } => write!(f, "{}", p.display()),
            Refused::MovesEntry(m) => write!(f, "{}", m.path.display()),
            Refused::MakesEntry(m) => write!(f, "{}", m.path.display()),
            Refused::AbstractSocket(name) => write!(f, "@{}", name.to_string_lossy()),
            Refused::UnixDatagramSocket => f.write_str("a Unix datagram socket"),
            Refused::OtherProcess { id, group: false } => write!(f, "pid {id}"),
            Refused::OtherProcess { id, group: true } => write!(f, "process group {id}"),
            Refused::TcpBind { port } => write!(f, "tcp bind port {port}"),
            Refused::NetworkSocket { call, .. } => f.write_str(call),
            Refused::TcpListenUnbound => f.write_str("tcp listen on an unbound socket"),
        }
    }
}

/// The call a [`Denial`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Call {
    /// A trapped syscall.
    Syscall(Syscall),
    /// An explicit request on the SDK socket.
    Sdk,
}

impl Call {
    /// The syscall's name (`"openat"`, `"mkdirat"`, `"connect"`), or `"sdk"`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Call::Syscall(s) => s.name(),
            Call::Sdk => "sdk",
        }
    }

    /// Whether the call is an open (or an SDK request for an open file): what a report
    /// leaves unnamed.
    #[must_use]
    pub fn is_open(self) -> bool {
        matches!(
            self,
            Call::Sdk | Call::Syscall(Syscall::Open | Syscall::OpenAt | Syscall::Creat)
        )
    }
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Denial {
    /// The path refused, for a file, directory or pathname socket ([`Refused::path`]).
    #[must_use]
    pub fn path(&self) -> Option<&Path> {
        self.what.path()
    }

    /// The procfs broker's reason when this is a `/proc` entry it refused (another process's
    /// entry, one outside its allow-list, a write to a read-only one): no path grant reaches
    /// `/proc` under `run`, so no flag allows it.
    #[must_use]
    pub fn procfs_refusal(&self) -> Option<&'static str> {
        match &self.what {
            Refused::Proc { refusal, .. } => Some(refusal.reason()),
            _ => None,
        }
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

/// Distinct denials kept for the report; beyond, they are only counted
/// (`RunOutcome::denials_dropped`). A command can make refused calls as fast as the supervisor
/// answers them (a refused socket, a `chmod` outside the grants: ~10 µs each), and every kept
/// denial costs the supervisor — which no limit of the sandbox bounds — memory until the end
/// of the run (red-team 4, finding 4: 2 million refused sockets held 350 MB).
pub const MAX_DENIALS: usize = 1 << 14;

/// Denials kept as they come, repeats included (a caller counting them sees each call);
/// past this many, a repeat of a kept denial is dropped.
const KEEP_REPEATS: usize = 1 << 12;

/// What makes two denials the same for keeping them: what was refused, the access, the call.
pub(crate) type DenialKey = (Refused, AccessMode, Call);

/// State shared by the loop, the broker, the SDK server and the workers.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub denials: Mutex<Vec<Denial>>,
    /// What each kept denial refused (`what`, access, call): a repeat of one already kept is
    /// not kept again past [`KEEP_REPEATS`] (the report shows each once anyway).
    pub(crate) denial_keys: Mutex<std::collections::HashSet<DenialKey>>,
    /// Distinct denials, and refused connects, not kept because [`MAX_DENIALS`] were.
    pub denials_dropped: std::sync::atomic::AtomicU64,
    /// Trapped calls whose arguments the kernel would not let the supervisor read (the
    /// command made itself non-dumpable, or the ptrace policy forbids it; see
    /// `procmem::take_refused`): each was answered without being seen — by Landlock's refusal
    /// or the errno the read gave — and is in no denial.
    pub unread: std::sync::atomic::AtomicU64,
    pub url_opens: Mutex<Vec<UrlOpen>>,
    /// Set for a learning run (see `learn.rs`).
    pub learner: Option<Learner>,
    pub connect_denials: Mutex<Vec<crate::egress::ConnectDenial>>,
}

impl Shared {
    pub(crate) fn deny(&self, d: Denial) {
        if tracing::enabled!(tracing::Level::DEBUG) {
            let what = d.path().map_or_else(
                || crate::escape::text(&d.what.to_string()),
                crate::escape::path,
            );
            tracing::debug!(what = %what, syscall = %d.call, reason = %crate::escape::text(&d.reason), "denied");
        }
        let key: DenialKey = (d.what.clone(), d.access, d.call);
        let mut keys = self.denial_keys.lock().unwrap_or_else(|e| e.into_inner());
        let kept = self.denials.lock().unwrap_or_else(|e| e.into_inner()).len();
        let seen = keys.contains(&key);
        if seen && kept >= KEEP_REPEATS {
            return;
        }
        if !seen && keys.len() >= MAX_DENIALS {
            if self
                .denials_dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                == 0
            {
                tracing::warn!(
                    "more than {MAX_DENIALS} distinct denials: the rest are only counted"
                );
            }
            return;
        }
        keys.insert(key);
        drop(keys);
        self.denials
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(d);
    }

    pub(crate) fn deny_connect(&self, d: crate::egress::ConnectDenial) {
        tracing::debug!(addr = %d.addr, syscall = %d.syscall.name(), refusal = ?d.refusal, "connect denied");
        let mut kept = self
            .connect_denials
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // Bounded like the other denials: a connect flood must not grow the supervisor.
        if kept.len() >= MAX_DENIALS {
            self.denials_dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return;
        }
        kept.push(d);
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
    /// This run's openers still running (see `url_open`'s bound).
    running: Arc<std::sync::atomic::AtomicUsize>,
}

impl UrlPolicy {
    pub(crate) fn new(config: &SpawnConfig) -> Self {
        UrlPolicy {
            allowed: config.allowed_origins.clone(),
            opener: config.url_opener.clone(),
            running: Arc::default(),
        }
    }

    /// Validate, then open outside the sandbox. Blocking (waits for the opener): workers only.
    /// The opener is never one the sandboxed command may have written: it is looked up in a
    /// `PATH` without the directories the command may write into by `grants` or, at runtime,
    /// by `engine` (see [`url_open::opener_path`](crate::url_open::opener_path)), and a
    /// program given by path is refused when it lies in such a directory.
    pub(crate) fn open(
        &self,
        target: &str,
        grants: &StaticGrants,
        engine: Option<&Engine>,
    ) -> Result<(), String> {
        let origin = url::origin_of(target).map_err(|e| e.to_string())?;
        if self.allowed.is_empty() {
            return Err(format!(
                "origin {origin} is not allowed: this session allows no URL origins (add it \
                 to supervisor.allowed_origins in the profile)"
            ));
        }
        url::validate(target, &self.allowed).map_err(|e| e.to_string())?;
        let program = match &self.opener {
            Some(program) => program.as_os_str(),
            None => std::ffi::OsStr::new(crate::url_open::opener()),
        };
        let writable = |dir: &Path| {
            grants.may_write_in(dir) || engine.is_some_and(|e| e.may_grant_write_in(dir))
        };
        let mut program = program.to_owned();
        let mut arg0 = None;
        if Path::new(&program).components().count() > 1 {
            // Given by path: where it really lies (its directory, or itself as a file grant),
            // and run by that canonical path — a symlink on the way, in a directory the
            // command may write, could be re-pointed between this check and the start.
            let real = std::fs::canonicalize(&program).map_err(|e| {
                format!(
                    "cannot start `{}` to open the URL: {e}",
                    program.to_string_lossy()
                )
            })?;
            let dir = real
                .parent()
                .map_or_else(|| real.clone(), Path::to_path_buf);
            if writable(&dir) || writable(&real) {
                return Err(format!(
                    "the URL opener {} lies in {}, where the sandboxed command may write: it is not run outside the sandbox (choose an opener elsewhere)",
                    crate::escape::path(Path::new(&program)),
                    crate::escape::path(&dir)
                ));
            }
            arg0 = Some(std::mem::replace(&mut program, real.into_os_string()));
        }
        let (path, dropped) =
            crate::url_open::opener_path(std::env::var_os("PATH").as_deref(), writable, Some(""));
        let (browser, dropped_browser) =
            crate::url_open::opener_browser(std::env::var_os("BROWSER").as_deref(), writable);
        if !dropped_browser.is_empty() {
            tracing::warn!(
                "BROWSER entries left out for the URL opener (their program lies where the sandboxed command may write, or does not exist): {}",
                dropped_browser.join(":")
            );
        }
        let env = crate::url_open::OpenerEnv {
            path,
            browser,
            arg0,
            xdg_dirs: crate::url_open::opener_xdg_dirs(writable),
        };
        let opened = crate::url_open::open_counted(&program, target, &self.running, Some(&env));
        let browser_note = || {
            if dropped_browser.is_empty() {
                String::new()
            } else {
                format!(
                    " (BROWSER entries left out, their program lying where the sandboxed command may write or not existing: {})",
                    dropped_browser.join(":")
                )
            }
        };
        opened.map_err(|e| match e {
            url::UrlError::Spawn { ref source, .. }
                if source.kind() == std::io::ErrorKind::NotFound && !dropped.is_empty() =>
            {
                let dropped: Vec<String> = dropped.iter().map(|d| crate::escape::path(d)).collect();
                format!(
                    "{e} (the opener is looked up in PATH without the directories the sandboxed command may write, nor those holding a symlink to a program it may write: {}; install it in a directory of PATH the command may not write, or grant no writing there){}",
                    dropped.join(", "),
                    browser_note()
                )
            }
            url::UrlError::OpenerFailed { .. } => format!("{e}{}", browser_note()),
            e => e.to_string(),
        })
    }
}

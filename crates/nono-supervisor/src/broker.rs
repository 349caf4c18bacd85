//! The notify broker: answers every trapped `open`/`openat`/`creat` of the child.
//!
//! # Per notification (on the notify thread)
//! On 6.6+ kernels a dedicated thread blocks in `SECCOMP_IOCTL_NOTIF_RECV` with
//! `SYNC_WAKE_UP` set (see [`Broker::spawn_thread`]); elsewhere the loop polls the listener.
//! Measured on a 2-core 6.18 VM: about 1 µs less per trapped open than going through the
//! loop's `poll`, of a round trip of ~8 µs that is mostly the kernel's (two context switches
//! and reading the path from the child).
//! 1. Read the path from the child's memory
//!    (`process_vm_readv`: one syscall, where `/proc/TID/mem` would cost an open and a close
//!    per trapped open) and
//!    check `NOTIF_ID_VALID` after the read before anything acts on the bytes or reports
//!    them: the thread may have died and its tid been reused, or the syscall been
//!    interrupted, and the bytes then mean nothing. The one exception is the fast path's
//!    `CONTINUE` (step 3): it widens nothing whatever the bytes meant (the kernel runs the
//!    open and Landlock checks it), and an answer to a vanished notification simply fails —
//!    one ioctl less on the hottest path.
//! 2. Make it absolute: a relative path is joined to the calling thread's cwd
//!    (`readlink /proc/TID/cwd`) or to its `dirfd` (`readlink /proc/TID/fd/N`).
//! 3. Fast path: if the static grants cover the path with the access the flags ask for,
//!    answer `CONTINUE`. That can never widen access: the kernel runs the open itself, and
//!    Landlock still checks it — which is also why the lexical (not canonical) path is good
//!    enough here. `O_PATH` opens are always `CONTINUE` (Landlock does not check them).
//!    The path is shown free of symlinks first (one `openat2`): when a symlink on the way
//!    leads elsewhere, the open goes on to step 4 on the canonical path, so a refusal there
//!    is reported (and an engine may decide it) as if spelled directly — reads as well as
//!    writes: `cat proj/l` with `l → /srv/secret` is reported as a read of `/srv/secret`.
//! 4. Otherwise canonicalise (the supervisor's own view of the filesystem) and ask the model
//!    again (a symlink may lead into the grants). Still outside: a [`Denial`] is recorded
//!    and —
//!    - without an engine, `CONTINUE`: Landlock refuses it with exactly the errno the child
//!      would have seen unsupervised (`EACCES`); a missing file opened without `O_CREAT` is
//!      not recorded (it is `ENOENT` either way);
//!    - with an engine, the request goes to a worker thread (`Engine::decide` may prompt),
//!      so the loop keeps serving other threads of the child; requests that will reach the
//!      approval backend (may wait for a person) and those a rule decides at once use
//!      separate workers ([`Lane`]), as do sockets and SDK requests. A request a rule, a
//!      session grant or a deny group decides at once, with nothing after the open that can
//!      wait (no audit log to write, no cut deny entry left to walk:
//!      `Engine::decides_at_once`), is answered on the notify thread itself: the hand-off
//!      to a worker was a quarter of a runtime grant's round trip.
//!
//! # A runtime grant (on a worker)
//! The decision is made on the canonical path, and the supervisor opens exactly that path
//! itself — as the child (`as_child.rs`: its fs ids, groups and effective capabilities, so the
//! kernel checks the child's own permissions and the open file carries its credentials) with
//! one `openat2(RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)` of the canonical path, so a
//! path one of whose components was swapped for a symlink after the decision is refused
//! instead of followed out of the approved directory. The child's flags are honoured
//! (`O_CREAT`, `O_EXCL`, `O_TRUNC`, `O_APPEND`, `O_DIRECTORY`, `O_NONBLOCK`, `O_NOFOLLOW`,
//! `O_SYNC`/`O_DSYNC`, the access mode; `O_CLOEXEC` becomes the injected fd's flag; the
//! mode is masked with the child's umask). The open itself is always `O_NONBLOCK`, so it
//! never waits (a FIFO without a writer); then the object must be a regular file or a
//! directory unless a rule names it itself (a FIFO, a device node: [`settle_opened`]), and
//! `O_NONBLOCK` is cleared again unless the child asked for it. Before it is handed out, the
//! opened object is checked once more (one `statx`: `Engine::refuse_opened`, refused if it is
//! a file under a deny entry reached through a hard link; and it must be the object the deny
//! groups' identity walk saw or lie in the mount of the directory it walked — a directory
//! holding a mount point renamed in between would otherwise lead the open into a deny entry
//! the walk never met, red team 23). An open that may create (`O_CREAT`) is made beneath its
//! parent, opened first as the child and compared with the walk, so no name is made in the
//! wrong place; a walk that could not see the directory answers its errno instead. The fd
//! is injected with `ADDFD | SEND`, so the child's syscall returns it. A refusal answers `EACCES` (what Landlock returns for a
//! denied open); a failed open answers its own errno (`EEXIST`, `ENOENT`, ...).
//!
//! # Limits of path resolution (documented, by design)
//! - `readlink` of `/proc/TID/fd/N` gives the directory's *current* path string; a directory
//!   that was deleted (`" (deleted)"`) or is not a path (a socket, a pipe, an anonymous
//!   inode) cannot be resolved: the open is answered `CONTINUE` and Landlock decides alone.
//! - Paths are resolved in the supervisor's mount namespace; the child shares it.
//! - A `..` after a symlink in the child's spelling is resolved lexically on the fast path
//!   (CONTINUE only: the kernel's lookup is the physical one, and Landlock checks it);
//!   anything that reaches policy is resolved as the kernel does (`as_the_kernel_resolves`:
//!   the directory physically) and canonicalised by the supervisor.

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use nono_sandbox::linux::seccomp::{
    procmem, AddFdOptions, Notification, NotifyError, NotifyFd, Syscall,
};
use nono_sandbox::{AccessMode, CapabilitySet, FsKind};
use rustix::event::PollFlags;
use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use rustix::process::PidfdGetfdFlags;

use self::as_child::{ActingAsChild, SandboxCreds};
use self::path_index::{under, PathIndex};
use crate::cancel::CancelToken;
use crate::policy::{Decision, Engine, RequestSource, RuntimeRequest, Triage};
use nono_policy::walked::{Ident, Opened, Unseen, Walked};

pub(crate) use run_state::{Call, Context, Denial, Refused, Shared};

pub(crate) mod as_child;
pub(crate) mod inotify;
pub(crate) mod learner;
pub(crate) mod metadata;
pub(crate) mod path_index;
pub(crate) mod path_ops;
pub(crate) mod procfs;
pub(crate) mod run_state;
pub(crate) mod sched;
pub(crate) mod socket_family;
pub(crate) mod tcp_bind;
pub(crate) mod tcp_listen;
pub(crate) mod unix_socket;

/// Longest path read from the child (`PATH_MAX`, counting the NUL).
const PATH_MAX: usize = 4096;

/// The static grants, with a quick matcher for the fast path.
#[derive(Debug)]
pub(crate) struct StaticGrants {
    caps: CapabilitySet,
    /// What the model's answers about `caps` need of the set alone, worked out once (the
    /// effective grants: thousands with as many read-only link targets inside a grant).
    /// (Worked out at its first use, after the start: most runs never ask the model.)
    model: std::sync::OnceLock<nono_sandbox::Model>,
    /// `(path bytes, kind, access)` of grants that have no carve-out beneath them; the fast
    /// path answers from these alone.
    simple: Vec<(Vec<u8>, FsKind, AccessMode)>,
    /// The deny rules' paths, as bytes, indexed (see `broker/path_index.rs`).
    denies: PathIndex<()>,
    /// `(path bytes, kind)` of every grant: a path none of them covers is outside the
    /// sandbox without asking the capability model (see [`StaticGrants::allows_canonical`]).
    all: Vec<(Vec<u8>, FsKind)>,
    /// The sockets file grants name, pinned at start (rule (a) of the socket broker).
    sockets: unix_socket::GrantedSockets,
    /// `(st_dev, st_ino)` of the root of every directory grant that no command-line flag
    /// names (`/tmp`, `/dev/shm`, a profile's directories): the metadata broker never changes
    /// their mode, owner or attributes (see `broker/metadata.rs`).
    roots: Vec<(u64, u64)>,
    /// Where the sandboxed threads' credentials come from (see `broker/as_child.rs`).
    pub creds: SandboxCreds,
    /// The egress proxy's address: TCP connects to its port reach it alone (see `egress.rs`).
    pub egress_proxy: Option<std::net::SocketAddr>,
    /// `(path bytes, access)` of every path rule the child's Landlock ruleset got (after the
    /// carve-out expansion; see `PreparedSandbox::path_rules`): an open they cover is one
    /// Landlock lets through, answered CONTINUE without the capability model (which `stat`s
    /// the spines for a path in an expanded directory such as `/etc`).
    landlock_rules: PathIndex<AccessMode>,
    /// The same rules' paths, for [`StaticGrants::landlock_allows_by_identity`].
    landlock_rule_paths: Vec<(PathBuf, AccessMode)>,
    /// Where an object can have a second name (see [`crate::mountinfo::alias_regions`]), and
    /// `(st_dev, st_ino)` of each rule's path with the union of its rights: read at the first
    /// question (most runs never ask).
    landlock_idents: std::sync::OnceLock<RuleIdentities>,
}

/// What [`StaticGrants::landlock_allows_by_identity`] compares with.
#[derive(Debug, Default)]
struct RuleIdentities {
    /// Where an object can have a second name: beneath one of these only.
    regions: Vec<PathBuf>,
    /// Each rule path's identity, with the union of the rights of the rules on it.
    idents: std::collections::HashMap<(u64, u64), AccessMode>,
}

/// Whether the union of `granted` (the rules covering a path; Landlock adds the rights of
/// every rule on the way) contains `access`; `false` when nothing covers it.
fn union_contains(granted: impl Iterator<Item = AccessMode>, access: AccessMode) -> bool {
    granted
        .reduce(AccessMode::union)
        .is_some_and(|a| a.contains(access))
}

impl StaticGrants {
    /// Made before the child is spawned, on the thread that spawns it: the socket
    /// identities it pins must be the ones the grants named before anything of the sandbox
    /// ran, and that thread's credentials are the sandbox's.
    pub(crate) fn new(caps: &CapabilitySet) -> Self {
        Self::from_caps(caps.clone())
    }

    /// [`StaticGrants::new`] on a set the caller gives up (one copy of the set less: `run`
    /// has no use for its own after this).
    pub(crate) fn from_caps(caps: CapabilitySet) -> Self {
        // The set's paths are canonical (clean), so the deny index answers by bytes what
        // `Path::starts_with` would (see `broker/path_index.rs`): grants × denies questions
        // run at every start-up, and the index's again at every trapped open.
        let denies = PathIndex::new(
            caps.denies()
                .iter()
                .map(|d| (d.path.as_os_str().as_bytes().to_vec(), ()))
                .collect(),
            |(), ()| (),
        );
        let simple = caps
            .grants()
            .iter()
            .map(|g| (g.path.as_os_str().as_bytes(), g))
            .filter(|(grant, _)| !denies.any_at_or_below(grant))
            .map(|(grant, g)| (grant.to_vec(), g.kind, g.access))
            .collect();
        // A grant's origins are typed (`Origin::Flag` for a command-line flag, never read
        // back from text): a directory the user named on the command line (the project,
        // --allow-cwd) is the user's to chmod; one that only a profile grants is not.
        let roots = caps
            .grants()
            .iter()
            .filter(|g| g.kind == FsKind::Dir)
            .filter(|g| !g.origin.any_flag())
            .filter_map(|g| rustix::fs::stat(&g.path).ok())
            .map(|st| (st.st_dev, st.st_ino))
            .collect();
        let all = caps
            .grants()
            .iter()
            .map(|g| (g.path.as_os_str().as_bytes().to_vec(), g.kind))
            .collect();
        let sockets = unix_socket::GrantedSockets::pin(&caps);
        let creds = SandboxCreds::for_sandbox(caps.keep_capabilities());
        StaticGrants {
            model: std::sync::OnceLock::new(),
            caps,
            simple,
            denies,
            all,
            sockets,
            roots,
            creds,
            egress_proxy: None,
            landlock_rules: PathIndex::new(Vec::new(), AccessMode::union),
            landlock_rule_paths: Vec::new(),
            landlock_idents: std::sync::OnceLock::new(),
        }
    }

    /// Remember the path rules the child's Landlock ruleset got (see
    /// [`StaticGrants::landlock_allows`]).
    pub(crate) fn set_landlock_rules(&mut self, rules: Vec<nono_sandbox::linux::landlock::FsRule>) {
        self.landlock_rule_paths = rules.iter().map(|r| (r.path.clone(), r.access)).collect();
        self.landlock_idents = std::sync::OnceLock::new();
        self.landlock_rules = PathIndex::new(
            rules
                .into_iter()
                .map(|r| {
                    (
                        std::os::unix::ffi::OsStringExt::into_vec(r.path.into_os_string()),
                        r.access,
                    )
                })
                .collect(),
            AccessMode::union,
        );
    }

    /// Whether the child's Landlock ruleset lets `path` (canonical) be opened with `access`:
    /// the union of the rules at or above it contains it. Only ever used to answer CONTINUE,
    /// where the kernel's own check follows, so it can cost a report, never widen anything.
    pub(crate) fn landlock_allows(&self, path: &Path, access: AccessMode) -> bool {
        let bytes = path.as_os_str().as_bytes();
        if !is_clean(bytes) {
            return false;
        }
        self.landlock_rules
            .merged_at_or_above(bytes)
            .is_some_and(|a| a.contains(access))
    }

    /// Whether the child's Landlock ruleset lets `path` (canonical) be opened with `access`
    /// through *another name* of what a rule is on — a bind mount of a granted directory
    /// (`/mnt/b` of `--read /srv/a`), which [`landlock_allows`](Self::landlock_allows), by
    /// name, cannot see. Landlock's rules are on inodes and its check goes up from the
    /// object through its parents and across mount points, so this does the same: the
    /// object and every directory up to `/` (each the `..` of the one below, without a
    /// symlink), by `(st_dev, st_ino)` against the rules' own. A read through a symlink inside
    /// the grants to such a path (red team 30) worked before 99a8120 and must not be reported,
    /// nor refused under `--approve`. Only ever used to answer `CONTINUE` (the kernel checks).
    pub(crate) fn landlock_allows_by_identity(&self, path: &Path, access: AccessMode) -> bool {
        use rustix::fs::{fstat, openat, openat2, CWD};
        let known = self.landlock_idents.get_or_init(|| {
            let regions = std::fs::read_to_string("/proc/self/mountinfo")
                .map(|mi| crate::mountinfo::alias_regions(&mi))
                .unwrap_or_default();
            let mut idents = std::collections::HashMap::new();
            if !regions.is_empty() {
                for (p, a) in &self.landlock_rule_paths {
                    if let Ok(st) = rustix::fs::stat(p) {
                        idents
                            .entry((st.st_dev, st.st_ino))
                            .and_modify(|x: &mut AccessMode| *x = x.union(*a))
                            .or_insert(*a);
                    }
                }
            }
            RuleIdentities { regions, idents }
        });
        // Outside every place with a second name, the walk by `..` meets the directories the
        // name does, which `landlock_allows` has judged: nothing to look at (and no system
        // call: every refused open outside the grants asks).
        if known.idents.is_empty()
            || !path.is_absolute()
            || !known.regions.iter().any(|r| path.starts_with(r))
        {
            return false;
        }
        let idents = &known.idents;
        let beneath = ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        let Ok(object) = openat2(
            CWD,
            path,
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            beneath,
        ) else {
            return false;
        };
        let mut granted: Option<AccessMode> = None;
        let mut add = |st: &rustix::fs::Stat| {
            if let Some(a) = idents.get(&(st.st_dev, st.st_ino)) {
                granted = Some(granted.map_or(*a, |g| g.union(*a)));
            }
        };
        let Ok(st) = fstat(&object) else {
            return false;
        };
        add(&st);
        let dir_flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let mut dir = match path.parent() {
            Some(d) => match openat2(CWD, d, dir_flags, Mode::empty(), beneath) {
                Ok(fd) => fd,
                Err(_) => return false,
            },
            None => return granted.is_some_and(|g| g.contains(access)),
        };
        // At most a path's worth of levels (each `..` one level up).
        let Ok(mut st) = fstat(&dir) else {
            return false;
        };
        for _ in 0..PATH_MAX / 2 {
            add(&st);
            let Ok(up) = openat(&dir, "..", dir_flags, Mode::empty()) else {
                break;
            };
            match fstat(&up) {
                Ok(u) if (u.st_dev, u.st_ino) != (st.st_dev, st.st_ino) => (dir, st) = (up, u),
                // `/`: its own parent.
                _ => break,
            }
        }
        granted.is_some_and(|g| g.contains(access))
    }

    /// Quick, allocation-free check on a lexically normalised absolute path: `true` only if
    /// a grant without carve-outs covers it with `access` and no deny rule is a prefix of it.
    pub(crate) fn fast_allows(&self, path: &Path, access: AccessMode) -> bool {
        let path = path.as_os_str().as_bytes();
        let covering = self.simple.iter().filter(|(g, kind, _)| match kind {
            FsKind::Dir => under(path, g),
            FsKind::File => path == g.as_slice(),
        });
        union_contains(covering.map(|(_, _, a)| *a), access) && !self.denies.any_at_or_above(path)
    }

    /// The network rules.
    pub(crate) fn network(&self) -> &nono_sandbox::NetworkMode {
        self.caps.network()
    }

    /// Whether Unix datagram sockets are allowed.
    pub(crate) fn allows_unix_datagram(&self) -> bool {
        self.caps.allows_unix_datagram()
    }

    /// Whether `path` (canonical) is a directory on the way from a grant down to a carve-out
    /// (see `nono_sandbox::explain`): Landlock cannot let it be listed without letting the
    /// carve-out beneath it be listed too, so [`list_spine`] opens it for the child.
    pub(crate) fn is_spine(&self, path: &Path) -> bool {
        // A spine directory lies strictly above a deny rule of the set (the spine runs from a
        // grant down to a carve-out's parent, see `nono_sandbox::explain`'s `carve_spine`),
        // so a clean path above none is not one — the common case of a runtime request,
        // answered without computing the effective grants (which `stat` the spines) for
        // every trapped open outside the grants. (`under` is exact on clean paths, which
        // canonical ones are; others go to the model.)
        let bytes = path.as_os_str().as_bytes();
        if is_clean(bytes) && !self.denies.any_strictly_below(bytes) {
            return false;
        }
        matches!(
            self.model()
                .explain_canonical(&self.caps, path, AccessMode::Read)
                .rule,
            nono_sandbox::Rule::CarveOutSpine { .. }
        )
    }

    /// Whether the sandbox may write at, into or beneath the directory `dir` (canonical) by
    /// its grants: a write grant on the way to it or beneath it (a file grant inside it lets
    /// the file be rewritten), unless a deny that removes writing covers `dir` (a deny wins
    /// beneath it too). For what runs outside the sandbox from `dir` (the URL opener).
    pub(crate) fn may_write_in(&self, dir: &Path) -> bool {
        if self
            .caps
            .denies()
            .iter()
            .any(|d| d.kind.removes(AccessMode::Write) && dir.starts_with(&d.path))
        {
            return false;
        }
        self.caps
            .grants()
            .iter()
            .any(|g| g.access.writes() && (dir.starts_with(&g.path) || g.path.starts_with(dir)))
    }

    /// The model of the set ([`nono_sandbox::Model`]), worked out at the first question.
    fn model(&self) -> &nono_sandbox::Model {
        self.model
            .get_or_init(|| nono_sandbox::Model::new(&self.caps))
    }

    /// The capability model's verdict on a canonical path.
    pub(crate) fn allows_canonical(&self, path: &Path, access: AccessMode) -> bool {
        // Every grant the model derives (a read-only carve-out's own grant) lies beneath a
        // grant of the set, so a path no grant covers is refused by the model too — the
        // common case of a runtime request, answered without computing the effective grants.
        // (`under` is exact on clean paths, which canonical ones are; others go to the model.)
        let bytes = path.as_os_str().as_bytes();
        let covered = !is_clean(bytes)
            || self.all.iter().any(|(g, kind)| match kind {
                FsKind::Dir => under(bytes, g),
                FsKind::File => bytes == g.as_slice(),
            });
        covered
            && self
                .model()
                .explain_canonical(&self.caps, path, access)
                .is_allowed()
    }
}

/// The broker for one seccomp listener.
#[derive(Debug)]
pub(crate) struct Broker {
    notify: Arc<NotifyFd>,
    caps: Arc<StaticGrants>,
    engine: Option<Arc<Engine>>,
    shared: Arc<Shared>,
    /// Serves opens under `/proc` (Landlock grants nothing there when opens are trapped).
    procfs: procfs::ProcFs,
    /// `SYNC_WAKE_UP` was accepted (6.6+): the listener can be served by a blocking thread.
    sync_wakeup: bool,
    /// A notification received before the broker existed (see `spawn::Spawned::pending`):
    /// answered first (boxed: it is rare, and the broker travels by value).
    pending: Option<Box<Notification>>,
}

/// The thread serving a listener (see [`Broker::spawn_thread`]).
#[derive(Debug)]
pub(crate) struct NotifyThread {
    handle: JoinHandle<()>,
    stop: Arc<AtomicBool>,
    notify: Arc<NotifyFd>,
}

impl NotifyThread {
    /// After the child was reaped: stop serving. If no task uses the filter any more the
    /// thread's receive has returned (or is about to): wait for it. Otherwise a descendant
    /// outlived the child; the thread answers its next trapped call `ENOSYS` and closes the
    /// listener (the kernel then answers `ENOSYS` itself), as when the loop dropped it.
    pub(crate) fn finish(self) {
        self.stop.store(true, Ordering::Release);
        if hung_up(&self.notify) {
            let _ = self.handle.join();
        }
    }
}

/// Whether no task uses the filter any more (the listener polls `POLLHUP`).
fn hung_up(notify: &NotifyFd) -> bool {
    let mut fds = [rustix::event::PollFd::new(notify, PollFlags::IN)];
    rustix::event::poll(&mut fds, Some(&rustix::time::Timespec::default())).is_ok()
        && fds[0].revents().contains(PollFlags::HUP)
}

/// One trapped open, decoded.
#[derive(Debug, Clone)]
struct OpenCall {
    syscall: Syscall,
    dirfd: i32,
    path: Vec<u8>,
    flags: u64,
    mode: u64,
}

impl Broker {
    pub(crate) fn new(listener: OwnedFd, pending: Option<Notification>, ctx: &Context) -> Self {
        let notify = NotifyFd::new(listener);
        // Wake the child on our CPU when answered (6.6+): a trapped open is a round trip.
        let sync_wakeup = notify.set_sync_wakeup().unwrap_or(false);
        Broker {
            notify: Arc::new(notify),
            caps: ctx.caps.clone(),
            engine: ctx.engine.clone(),
            shared: ctx.shared.clone(),
            procfs: procfs::ProcFs::new(ctx.child_pid),
            sync_wakeup,
            pending: pending.map(Box::new),
        }
    }

    /// Answer the notification that arrived before the broker existed, if any.
    pub(crate) fn answer_pending(&mut self, ctx: &Context) {
        if let Some(n) = self.pending.take() {
            let n = *n;
            self.answer(n, ctx);
        }
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.notify.as_fd()
    }

    /// Serve one ready notification. Returns `false` when the listener is finished (no task
    /// uses the filter any more, or it failed), so the loop stops polling it.
    pub(crate) fn on_ready(&mut self, revents: PollFlags, ctx: &Context) -> bool {
        if !revents.contains(PollFlags::IN) {
            return false;
        }
        let n = match self.notify.recv() {
            Ok(n) => n,
            Err(NotifyError::Gone) => return true,
            Err(e) => {
                tracing::warn!("seccomp listener: {e}");
                return false;
            }
        };
        self.answer(n, ctx);
        true
    }

    /// Serve the listener from a thread of its own that blocks in
    /// `SECCOMP_IOCTL_NOTIF_RECV` instead of going through the loop's `poll`: one system call
    /// less per trapped call, and with `SYNC_WAKE_UP` the trapped thread and this one hand the
    /// CPU straight to each other. Only on kernels with `SYNC_WAKE_UP` (6.6+), where a blocked
    /// receive also returns once no task uses the filter any more. Otherwise (or if the
    /// thread cannot be started) the broker comes back for the loop to poll.
    ///
    /// `thread`: the thread that received the listener (`listener_thread::ListenerThread`), which
    /// serves it from here on instead of a new one; let go when the loop polls.
    pub(crate) fn spawn_thread<T>(
        self,
        ctx: &Arc<Context>,
        thread: Option<crate::listener_thread::ListenerThread<T>>,
    ) -> Result<NotifyThread, Option<Broker>> {
        if !self.sync_wakeup {
            if let Some(t) = thread {
                t.finish();
            }
            return Err(Some(self));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let notify = self.notify.clone();
        let (ctx, flag) = (ctx.clone(), stop.clone());
        let holder = Arc::new(Mutex::new(Some(self)));
        let inside = holder.clone();
        let job = move || {
            let taken = inside.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(broker) = taken {
                broker.serve(&ctx, &flag);
            }
        };
        let job: crate::listener_thread::ListenerJob = Box::new(job);
        let served = match thread {
            Some(t) => t.serve(job),
            None => Err(job),
        };
        let spawned = match served {
            Ok(handle) => Ok(handle),
            // No listener thread, or it is gone (it cannot be, short of a panic): a new one.
            Err(job) => std::thread::Builder::new()
                .name("nono-notify".into())
                .spawn(job),
        };
        match spawned {
            Ok(handle) => Ok(NotifyThread {
                handle,
                stop,
                notify,
            }),
            Err(e) => {
                tracing::debug!("starting the notify thread failed ({e}); serving from the loop");
                // The closure was dropped unrun: the broker is back in `holder`.
                Err(holder.lock().unwrap_or_else(|e| e.into_inner()).take())
            }
        }
    }

    /// The notify thread's loop: receive (blocking), answer, until no task uses the filter
    /// or `stop` is set (then the next notification is answered `ENOSYS`, as a closed
    /// listener would, and the listener is closed).
    fn serve(mut self, ctx: &Context, stop: &AtomicBool) {
        self.answer_pending(ctx);
        loop {
            let n = match self.notify.recv() {
                Ok(n) => n,
                Err(NotifyError::Gone) => {
                    // Either a notification vanished (its thread was interrupted) or the
                    // filter has no task left: then the listener polls as hung up.
                    if hung_up(&self.notify) {
                        return;
                    }
                    continue;
                }
                Err(e) => {
                    tracing::warn!("seccomp listener: {e}");
                    return;
                }
            };
            if stop.load(Ordering::Acquire) {
                let _ = self.notify.respond_errno(n.id, Errno::NOSYS.raw_os_error());
                return;
            }
            self.answer(n, ctx);
        }
    }

    /// Answer one notification ([`handle`](Self::handle)), and count it in
    /// [`Shared::unread`] when the kernel would not let the supervisor read the caller's
    /// memory for it (see [`procmem::take_refused`]).
    fn answer(&self, n: Notification, ctx: &Context) {
        let id = n.id;
        answer_on_panic(&self.notify.clone(), id, || self.handle(n, ctx));
        if procmem::take_refused() {
            self.shared.unread.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Answer a trapped open whose lookup enters `/proc` through a symlink (`raw`: the `/proc`
    /// path as [`into_proc`] spells it, not normalised) as the procfs broker answers the same
    /// path named directly. `false`: not the procfs broker's (the caller answers `CONTINUE`).
    fn answer_proc(&self, n: &Notification, syscall: Syscall, raw: &Path, flags: OFlags) -> bool {
        if self.answer_climbing(n, syscall, raw, flags) {
            return true;
        }
        let p = normalize(raw);
        let notify = &*self.notify;
        let creds = || self.caps.creds.of_thread(notify, n);
        let Some(outcome) = self.procfs.open(n.pid, &p, flags, creds) else {
            return false;
        };
        if let procfs::Outcome::Continue = outcome {
            self.report_reopen(n, syscall, &p, flags);
        }
        procfs::answer(notify, &self.shared, n, syscall, p, flags, outcome);
        true
    }

    /// A path `raw` (as spelled, not normalised) with a `..` beyond a process's magic link
    /// (`/proc/self/cwd/../f`): the `..` climbs from where the link leads, but the lexical
    /// path climbs back into `/proc` (`/proc/self/f`, which the procfs broker answered
    /// `ENOENT`) or out of it (red team 31). Answered as the kernel's (`CONTINUE`: Landlock
    /// judges what it reaches), reported like a reopen; a link of another process is refused
    /// as the procfs broker refuses it named (`/proc/PID/cwd`). `false`: no such path.
    fn answer_climbing(
        &self,
        n: &Notification,
        syscall: Syscall,
        raw: &Path,
        flags: OFlags,
    ) -> bool {
        // A byte test first: every trapped open comes here.
        let bytes = raw.as_os_str().as_bytes();
        if !procfs::may_claim(raw) || !bytes.windows(2).any(|w| w == b"..") {
            return false;
        }
        let Some(through) = procfs::through_link(raw, n.pid).filter(procfs::Through::climbs) else {
            return false;
        };
        let notify = &*self.notify;
        // What follows reports and acts on the bytes read: they must still be the call's.
        if !notify.id_valid(n.id) {
            return true;
        }
        let link = Path::new("/proc")
            .join(through.pid.to_string())
            .join(&through.link);
        let creds = || self.caps.creds.of_thread(notify, n);
        match self.procfs.open(n.pid, &link, flags, creds) {
            Some(procfs::Outcome::Continue) | None => {
                self.report_reopen(n, syscall, raw, flags);
                let _ = notify.respond_continue(n.id);
            }
            Some(outcome) => {
                procfs::answer(notify, &self.shared, n, syscall, link, flags, outcome);
            }
        }
        true
    }

    /// A reopen through a descriptor's magic link (`/proc/self/fd/N`, `/dev/fd/N`), answered
    /// `CONTINUE`: Landlock judges the path the descriptor was opened at, and refuses it when
    /// the grants do not cover it — an `O_PATH` descriptor (which Landlock does not check)
    /// of a file outside them, reopened for reading. Such a refusal is recorded like the same
    /// open spelled directly; it was Landlock's alone before (red team 30: a command could hide
    /// any refused read from the report so). Nothing else changes: the kernel decides.
    ///
    /// Also a path *through* such a link or the command's `cwd` or `root`
    /// (`/proc/self/root/OUT/x`, `/proc/self/cwd/x`, `/proc/self/fd/N/x` for a directory's
    /// descriptor; red team 31: unreported), resolved beyond the link as the command's lookup
    /// goes. The link is read only for a process of the sandbox, spelled with its own pid (a
    /// `task/TID` of another process is no thread of it: the kernel's `ENOENT`).
    fn report_reopen(&self, n: &Notification, syscall: Syscall, path: &Path, flags: OFlags) {
        let Some(through) = procfs::through_link(path, n.pid) else {
            return;
        };
        let Some(text) = self.procfs.read_link(&through) else {
            return;
        };
        let bytes = text.as_slice();
        // A pipe, socket or anonymous inode (no path), a deleted file or memfd, or a `/proc`
        // entry (the procfs broker's, served on a path of its own): nothing to say.
        if !bytes.starts_with(b"/")
            || bytes.ends_with(b" (deleted)")
            || bytes == b"/proc"
            || bytes.starts_with(b"/proc/")
        {
            return;
        }
        let mut target = PathBuf::from(OsStr::from_bytes(bytes));
        if !through.rest.as_os_str().is_empty() {
            // Beyond the link: resolved as the command's lookup goes (a symlink there into
            // `/proc`, or one the command cannot search: nothing to say).
            let joined = target.join(&through.rest);
            match as_the_child(&self.caps.creds, &self.notify, n, || {
                resolve_followed(&joined, flags)
            }) {
                Some(t) => target = t,
                None => return,
            }
        }
        let access = access_of(flags);
        if self.caps.landlock_allows(&target, access)
            || self.caps.allows_canonical(&target, access)
            || self.caps.landlock_allows_by_identity(&target, access)
            || (access == AccessMode::Read && self.caps.is_spine(&target))
        {
            return;
        }
        self.shared.deny(Denial {
            what: Refused::Path(target),
            access,
            pid: n.pid,
            call: Call::Syscall(syscall),
            reason: "outside the sandbox (reopened through its descriptor)".to_owned(),
        });
    }

    fn handle(&self, n: Notification, ctx: &Context) {
        let notify = &*self.notify;
        match n.syscall() {
            Some(s) if metadata::traps(s) => {
                // Learning decides nothing at runtime (its domain is broad).
                let engine = self
                    .engine
                    .as_deref()
                    .filter(|_| self.shared.learner.is_none());
                metadata::handle(notify, &self.caps, engine, &self.shared, &n, s);
                return;
            }
            Some(s) if inotify::traps(s) => {
                inotify::handle(notify, &self.caps, &self.shared, &n);
                return;
            }
            Some(s) if path_ops::traps(s) => {
                path_ops::handle(&self.notify, &self.caps, &self.shared, ctx, &n, s);
                return;
            }
            // Learning allows every port and records the ones bound; otherwise a bind in port
            // mode is judged (and a refusal reported) by `tcp_bind`.
            Some(Syscall::Bind) if self.shared.learner.is_some() => {
                learn_bind(notify, &self.shared, &n);
                return;
            }
            Some(s) if sched::traps(s) => {
                sched::handle(notify, &self.shared, &n, s, ctx.child_pid);
                return;
            }
            Some(s) if tcp_bind::traps(s) => {
                tcp_bind::handle(notify, &self.caps, &self.shared, &n);
                return;
            }
            Some(s) if tcp_listen::traps(s) => {
                tcp_listen::handle(notify, &self.caps, &self.shared, &n);
                return;
            }
            // Before the Unix datagram check: both are socket/socketpair, told by the family.
            Some(s) if socket_family::traps(s, &n.args) => {
                socket_family::handle(notify, &self.caps, &self.shared, &n, s);
                return;
            }
            Some(s) if unix_socket::refuses_datagram_socket(s) => {
                unix_socket::refuse_datagram_socket(notify, &self.shared, &n, s);
                return;
            }
            Some(s) if unix_socket::traps(s) => {
                unix_socket::handle(
                    &self.notify,
                    &self.caps,
                    &self.shared,
                    &ctx.workers,
                    &n,
                    s,
                    ctx.child_pid,
                );
                return;
            }
            _ => {}
        }
        let Some(call) = decode(&n) else {
            // Unknown syscall, unreadable memory or a vanished notification: CONTINUE is
            // always safe (Landlock decides); on a vanished id it simply fails.
            let _ = notify.respond_continue(n.id);
            return;
        };
        let flags = OFlags::from_bits_retain(call.flags as u32);
        if flags.contains(OFlags::PATH) {
            let _ = notify.respond_continue(n.id);
            return;
        }
        let access = access_of(flags);
        let Some(path) = absolute(notify, &n, call.dirfd, &call.path) else {
            let _ = notify.respond_continue(n.id);
            return;
        };
        let lexical = normalize(&path);
        // What the supervisor resolves, decides on and opens: where the kernel's lookup ends.
        // That is the lexical path unless a `..` follows a symlink (`A/link/../x` is
        // `LINK_TARGET/../x`, not `A/x`): then the directory is resolved physically, and
        // `None` means the kernel fails the lookup too. The fast path's `CONTINUE` can keep
        // the lexical one (the kernel looks up and Landlock checks the physical path).
        let target: Option<std::borrow::Cow<'_, Path>> = if !is_clean(path.as_os_str().as_bytes())
            && path.components().any(|c| c == Component::ParentDir)
        {
            as_the_child_resolves(&self.caps.creds, notify, &n, &path).map(std::borrow::Cow::Owned)
        } else {
            Some(std::borrow::Cow::Borrowed(&lexical))
        };
        // A `..` beyond a magic link of the command's (`/proc/self/cwd/../f`) climbs from where
        // the link leads; the lexical path climbs back into `/proc` (`/proc/self/f`, which the
        // procfs broker answered `ENOENT`) or out of it (red team 31).
        if self.answer_climbing(&n, call.syscall, &path, flags) {
            return;
        }
        let procfs = procfs::may_claim(&lexical);
        let creating = flags.contains(OFlags::CREATE);
        if let Some(learner) = &self.shared.learner {
            // Learning: the broad learning domain allows it — record it (outside the
            // reference) and let the kernel do it. Otherwise (a deny group, a directory
            // Landlock can only grant around, /proc) the rest below decides, as in `run`.
            if !procfs
                && notify.id_valid(n.id)
                && (self.caps.fast_allows(&lexical, access)
                    || target
                        .as_deref()
                        .and_then(|t| canonicalize(t, creating))
                        .is_some_and(|c| self.caps.allows_canonical(&c, access)))
            {
                learner.path(&lexical, access, flags.contains(OFlags::DIRECTORY));
                let _ = notify.respond_continue(n.id);
                return;
            }
        }
        // A write the fast path would let through on its lexical path, resolved: `Some` when
        // a symlink on the way leads elsewhere (see below).
        let mut resolved = None;
        // Where a symlink inside the grants leads into `/proc`, spelled as the command's lookup
        // goes (see [`into_proc`]): the procfs broker's, as if the command had named it.
        let mut via_proc: Option<PathBuf> = None;
        if !procfs && self.caps.fast_allows(&lexical, access) {
            // An open through a symlink inside the grants (`proj/s → ~/.claude`, then
            // `proj/s/settings.json`; `proj/l → /srv/secret`, then `cat proj/l`): Landlock
            // judges where it leads, and a refusal there must be reported (and can be
            // approved) like the same open spelled directly (red team 22, finding 2, for
            // writes; reads since session 16: "every denial a user can hit is reported").
            // A path without any symlink (one `openat2`, two for a name being made: nearly
            // every open) is the kernel's to open. Otherwise it
            // is resolved as the program's lookup can be: with its credentials, never through
            // a magic link nor into `/proc` (`proj/l → /proc/PID/cwd/..`: the supervisor's
            // cwd, or another process's with the supervisor's right to trace it) — else
            // `CONTINUE`. `O_NOFOLLOW` (and `O_CREAT | O_EXCL`) leaves only the last name
            // unfollowed, so the directory is resolved still (red team 24: `proj/s/x` with
            // `O_NOFOLLOW` was never reported).
            // The `O_PATH` fd that showed it is closed after the answer, off the child's wait.
            let plain = if target.as_deref() == Some(lexical.as_path()) {
                symlink_free(&lexical, creating)
            } else {
                Lookup::Linked
            };
            if let Lookup::Linked = plain {
                let followed = target.as_deref().and_then(|t| {
                    // As the command: a symlink followed with the supervisor's search
                    // permission would name, for the open as the child, a path that
                    // skips a directory the command cannot search (red team 24).
                    as_the_child(&self.caps.creds, notify, &n, || {
                        Some(match resolve_followed(t, flags) {
                            Some(c) => Followed::To(c),
                            // Not resolvable so: perhaps into `/proc` (`/etc/mtab` →
                            // `../proc/self/mounts`), which the procfs broker serves by name
                            // (red team 30).
                            None => into_proc(t, follows_last(flags))
                                .map_or(Followed::Kernel, Followed::Proc),
                        })
                    })
                });
                match followed {
                    Some(Followed::To(c)) => resolved = Some(c).filter(|c| *c != lexical),
                    Some(Followed::Proc(p)) => via_proc = Some(p),
                    Some(Followed::Kernel) | None => {}
                }
            }
            if resolved.is_none() && via_proc.is_none() {
                // CONTINUE needs no `NOTIF_ID_VALID` after the read: the kernel runs the open
                // itself and Landlock checks it, so whatever the bytes meant, nothing is
                // widened (and an answer to a vanished notification just fails: ids are never
                // reused). Everything below acts on, or reports, what was read: it checks
                // first.
                let _ = notify.respond_continue(n.id);
                if let Lookup::Free(fd) = plain {
                    drop(fd);
                }
                return;
            }
        }
        if !notify.id_valid(n.id) {
            return;
        }
        let creds = || self.caps.creds.of_thread(notify, &n);
        if let Some(p) = via_proc {
            if !self.answer_proc(&n, call.syscall, &p, flags) {
                let _ = notify.respond_continue(n.id);
            }
            return;
        }
        if let Some(outcome) = procfs
            .then(|| self.procfs.open(n.pid, &lexical, flags, creds))
            .flatten()
        {
            if let procfs::Outcome::Continue = outcome {
                self.report_reopen(&n, call.syscall, &lexical, flags);
            }
            procfs::answer(
                notify,
                &self.shared,
                &n,
                call.syscall,
                lexical,
                flags,
                outcome,
            );
            return;
        }
        if procfs && self.caps.fast_allows(&lexical, access) {
            let _ = notify.respond_continue(n.id);
            return;
        }
        // Outside the grants through a symlink into `/proc` (`/etc/mtab` when `/etc` is a
        // spine): the procfs broker's, as on the fast path (red team 30).
        let mut slow_proc = None;
        let resolved = match resolved {
            Some(c) => Some((c, None)),
            None => target.as_deref().and_then(|t| {
                canonicalize_checked(t, creating, || {
                    as_the_child(&self.caps.creds, notify, &n, || {
                        let c = canonicalize(t, creating);
                        if c.is_none() && !procfs {
                            slow_proc = into_proc(t, follows_last(flags));
                        }
                        c
                    })
                })
            }),
        };
        let Some((canonical, checked)) = resolved else {
            // Not there and not being created (`ENOENT` either way, nothing to record), or
            // into `/proc` through a link.
            if !slow_proc.is_some_and(|p| self.answer_proc(&n, call.syscall, &p, flags)) {
                let _ = notify.respond_continue(n.id);
            }
            return;
        };
        if self.caps.landlock_allows(&canonical, access)
            || self.caps.allows_canonical(&canonical, access)
            || self.caps.landlock_allows_by_identity(&canonical, access)
        {
            let _ = notify.respond_continue(n.id);
            return;
        }
        if access == AccessMode::Read && !creating && self.caps.is_spine(&canonical) {
            let notify = self.notify.clone();
            let caps = self.caps.clone();
            ctx.workers.submit(
                Lane::Open,
                Box::new(move || {
                    answer_on_panic(&notify, n.id, || {
                        list_spine(&notify, &caps.creds, &n, flags, &canonical);
                    });
                }),
            );
            return;
        }
        let Some(engine) = self.engine.clone() else {
            self.shared.deny(Denial {
                what: Refused::Path(canonical),
                access,
                pid: n.pid,
                call: Call::Syscall(call.syscall),
                reason: "outside the sandbox (runtime elevation is off)".to_owned(),
            });
            let _ = notify.respond_continue(n.id);
            return;
        };
        let notify = self.notify.clone();
        let shared = self.shared.clone();
        let cancel = ctx.cancel.clone();
        // Requests that may wait for a person get workers of their own. The triage (the
        // deny groups' walk over the path) is done once: a request a rule decides at once
        // is decided on it a moment later; one that waits for a person is looked at afresh
        // when its turn comes.
        let req = RuntimeRequest {
            path: canonical.clone(),
            access,
            pid: n.pid,
            reason: None,
            source: RequestSource::Trap,
        };
        // `canonical` was resolved just above: not again (and the identity walk starts from
        // what `checked_canonical` saw, when it could show the path canonical).
        let triage = match checked {
            Some(checked) => engine.triage_checked(&req, checked),
            None => engine.triage_canonical(&req),
        };
        let asks = triage
            .as_ref()
            .is_some_and(|t| engine.asks_triaged(&req, t));
        // Decided by a rule (or a deny group, or a session grant) at once, with nothing after
        // the open that can wait: answered right here — the open itself never waits
        // (`O_NONBLOCK`), and a hung filesystem would already have held this thread in the
        // canonicalisation above.
        let inline = !asks
            && triage
                .as_ref()
                .is_some_and(|t| engine.decides_at_once(&req, t));
        let (lane, triage) = if asks {
            (Lane::Ask, None)
        } else {
            (Lane::Open, triage)
        };
        let caps = self.caps.clone();
        if inline {
            // Should the check of the opened file have to walk a deny entry, that part goes
            // to the lane's workers (see `Engine::refuse_opened_may_wait`).
            let defer = |job: Job| ctx.workers.submit(Lane::Open, job);
            answer_on_panic(&notify.clone(), n.id, || {
                grant_trapped(
                    &notify,
                    &engine,
                    &cancel,
                    &shared,
                    &caps.creds,
                    &n,
                    &call,
                    canonical,
                    access,
                    triage,
                    Some(&defer),
                );
            });
        } else {
            ctx.workers.submit(
                lane,
                Box::new(move || {
                    answer_on_panic(&notify, n.id, || {
                        grant_trapped(
                            &notify,
                            &engine,
                            &cancel,
                            &shared,
                            &caps.creds,
                            &n,
                            &call,
                            canonical,
                            access,
                            triage,
                            None,
                        );
                    });
                }),
            );
        }
    }
}

/// A trapped `bind` (only under learning): record an `AF_INET`/`AF_INET6` port, answer
/// `CONTINUE` (the learning domain allows any port; the kernel re-reads the address, which
/// only matters for what is recorded).
fn learn_bind(notify: &NotifyFd, shared: &Shared, n: &Notification) {
    let mut addr = [0u8; 4];
    let read = n.args[2] >= 4
        && procmem::read_into(n.pid, n.args[1], &mut addr).is_ok()
        && notify.id_valid(n.id);
    let _ = notify.respond_continue(n.id);
    let family = u16::from_ne_bytes([addr[0], addr[1]]);
    if read && (family == libc::AF_INET as u16 || family == libc::AF_INET6 as u16) {
        if let Some(learner) = &shared.learner {
            learner.port(true, u16::from_be_bytes([addr[2], addr[3]]));
        }
    }
}

/// On a worker: a read-only open of a carve-out spine directory (`ls /etc` when
/// `/etc/ssl/private` is carved out of the `/etc` grant). Landlock gives the spine no rule
/// (a `READ_DIR` rule on it would reach every directory beneath it, the carve-out included),
/// so the supervisor opens the directory itself — as the child, read-only, `O_DIRECTORY`,
/// never through a symlink — and injects it: the child can read its entries' *names*. Every
/// open through that fd (`openat(fd, "private/key")`) is still judged by Landlock on the
/// path it resolves to, and nothing can be created or removed in it (no write right on it).
fn list_spine(
    notify: &NotifyFd,
    sandbox: &SandboxCreds,
    n: &Notification,
    flags: OFlags,
    path: &Path,
) {
    if !notify.id_valid(n.id) {
        return;
    }
    let wanted = OFlags::RDONLY | OFlags::DIRECTORY | (flags & OFlags::CLOEXEC);
    let opened = sandbox
        .of_thread(notify, n)
        .and_then(|creds| open_approved(&creds.act()?, path, wanted, Mode::empty()));
    let fd = match opened.and_then(|fd| {
        settle_opened(&fd, wanted, false).map_err(|u| match u {
            Unsettled::Special(_) => Errno::ACCESS,
            Unsettled::Failed(e) => e,
        })?;
        Ok(fd)
    }) {
        Ok(fd) => fd,
        Err(errno) => {
            let _ = notify.respond_errno(n.id, errno.raw_os_error());
            return;
        }
    };
    let opts = AddFdOptions {
        send: true,
        cloexec: flags.contains(OFlags::CLOEXEC),
        target: None,
    };
    if let Err(NotifyError::Ioctl { source, .. }) = notify.add_fd(n.id, fd.as_fd(), opts) {
        let _ = notify.respond_errno(n.id, source.raw_os_error());
    }
}

/// On a worker (or on the notify thread when `Engine::decides_at_once`): ask the engine,
/// then open + inject, or refuse.
///
/// `defer` (on the notify thread): where the rest goes if checking the opened file may wait.
#[allow(clippy::too_many_arguments)]
fn grant_trapped(
    notify: &Arc<NotifyFd>,
    engine: &Arc<Engine>,
    cancel: &CancelToken,
    shared: &Arc<Shared>,
    sandbox: &SandboxCreds,
    n: &Notification,
    call: &OpenCall,
    path: PathBuf,
    access: AccessMode,
    triage: Option<Triage>,
    defer: Option<&dyn Fn(Job)>,
) {
    // The thread may have been interrupted or killed while it waited for a worker (on the
    // notify thread it was checked just before).
    if defer.is_none() && !notify.id_valid(n.id) {
        return;
    }
    let req = RuntimeRequest {
        path: path.clone(),
        access,
        pid: n.pid,
        reason: None,
        source: RequestSource::Trap,
    };
    let denial = |reason: String| Denial {
        what: Refused::Path(path.clone()),
        access,
        pid: n.pid,
        call: Call::Syscall(call.syscall),
        reason,
    };
    // What is acted on is not where the deny groups' walk looked (red team 23).
    let moved = |req: &RuntimeRequest| {
        let reason = moved_refusal(&path);
        engine.refuse_granted(req, &reason);
        shared.deny(Denial {
            what: Refused::Moved(path.clone()),
            ..denial(reason)
        });
        let _ = notify.respond_errno(n.id, Errno::ACCESS.raw_os_error());
    };
    // Triaged here when it was not on the notify thread (a request that waits for a person
    // is looked at when its turn comes): what the deny groups' walk saw is what the open
    // below must meet (red team 23).
    let triage = triage.or_else(|| engine.triage_canonical(&req));
    let walked = triage.as_ref().map_or(Walked::Unneeded, Triage::walked);
    // The walk could not see the directory (gone, or not searchable by the supervisor, so
    // not by the command either): the kernel's answer at that moment — never an open of
    // what the walk did not check, and no person asked about it.
    if let Err(errno) = walked.seen() {
        // Reported, with no flag: none would help (red team 26).
        let reason = unread_refusal(&path, errno);
        engine.refuse_granted(&req, &reason);
        shared.deny(Denial {
            what: Refused::Unread {
                path: path.clone(),
                why: Unseen::of(errno),
            },
            ..denial(reason)
        });
        let _ = notify.respond_errno(n.id, errno.raw_os_error());
        return;
    }
    // The names the path has on the user's own paths, reached by another name (red team
    // 29): what making a name is judged by too.
    let own = triage
        .as_ref()
        .map_or_else(Vec::new, |t| t.own_paths().to_vec());
    let decision = match triage {
        Some(t) => engine.decide_triaged(&req, t, cancel),
        None => engine.decide_until(&req, cancel),
    };
    match decision {
        Decision::Granted { .. } => {
            let flags = OFlags::from_bits_retain(call.flags as u32);
            // The mode only matters when a file is created; then the child's umask applies,
            // as it would have to the child's own open. Set-ID bits are never given to a
            // file the supervisor creates for the sandbox (see broker/metadata.rs).
            let mode = if flags.contains(OFlags::CREATE) {
                Mode::from_bits_truncate(call.mode as u32)
                    & !child_umask(n.pid)
                    & !(Mode::SUID | Mode::SGID)
            } else {
                Mode::empty()
            };
            // As the child: its fs ids, groups and capabilities, never the supervisor's.
            let creds = match sandbox.of_thread(notify, n) {
                Ok(c) => c,
                Err(errno) => {
                    let _ = notify.respond_errno(n.id, errno.raw_os_error());
                    return;
                }
            };
            // `O_TRUNC` waits until the opened object has been checked (below). An open that
            // may create is made in its directory once that is known to be where the deny
            // groups' walk looked (a name made elsewhere would stay).
            // A missing deny entry made by another name (red team 26): refused before the
            // open, in the directory it would be made in.
            let making = |dir: Ident| engine.refuse_making(&req, dir.dev, dir.ino, &own);
            let opened = creds.act().and_then(|as_child| {
                if flags.contains(OFlags::CREATE) {
                    open_approved_in_walked(
                        &as_child,
                        &path,
                        flags & !OFlags::TRUNC,
                        mode,
                        walked,
                        &making,
                    )
                } else {
                    open_approved(&as_child, &path, flags & !OFlags::TRUNC, mode).map(Ok)
                }
            });
            let opened = match opened {
                Ok(Ok(fd)) => Ok(fd),
                Ok(Err(NotOpened::Moved)) => return moved(&req),
                Ok(Err(NotOpened::Makes(own, reason, refusal))) => {
                    shared.deny(Denial {
                        what: Refused::MakesEntry(Box::new(run_state::MakesEntry {
                            path: path.clone(),
                            own,
                            refusal,
                        })),
                        ..denial(reason)
                    });
                    let _ = notify.respond_errno(n.id, Errno::ACCESS.raw_os_error());
                    return;
                }
                Err(e) => Err(e),
            };
            match opened {
                Ok(fd) => {
                    // A FIFO or a device node only when a rule names it (see `settle_opened`).
                    let st = match settle_opened_stat(&fd, flags, engine.rule_names(&path, access))
                    {
                        Ok(st) => st,
                        Err(Unsettled::Special(kind)) => {
                            let reason = special_refusal(&path, kind);
                            engine.refuse_granted(&req, &reason);
                            shared.deny(denial(reason));
                            let _ = notify.respond_errno(n.id, Errno::ACCESS.raw_os_error());
                            return;
                        }
                        Err(Unsettled::Failed(errno)) => {
                            let _ = notify.respond_errno(n.id, errno.raw_os_error());
                            return;
                        }
                    };
                    // Not the object the walk checked, nor one in the mount it walked: a
                    // directory holding a mount point was renamed in between.
                    if !walked.admits_opened(st.id) {
                        return moved(&req);
                    }
                    let finish = Finish {
                        req,
                        syscall: call.syscall,
                        creds,
                        fd,
                        st,
                        flags,
                        id: n.id,
                    };
                    match defer {
                        Some(defer) if engine.refuse_opened_may_wait_stat(&finish.st) => {
                            let (notify, engine, shared) =
                                (notify.clone(), engine.clone(), shared.clone());
                            defer(Box::new(move || {
                                let id = finish.id;
                                answer_on_panic(&notify, id, || {
                                    finish.run(&notify, &engine, &shared);
                                });
                            }));
                        }
                        _ => finish.run(notify, engine, shared),
                    }
                }
                Err(errno) => {
                    if errno == Errno::XDEV || errno == Errno::LOOP {
                        shared.deny(denial(
                            "the approved path changed into a symlink before it was opened"
                                .to_owned(),
                        ));
                        let _ = notify.respond_errno(n.id, Errno::ACCESS.raw_os_error());
                    } else {
                        let _ = notify.respond_errno(n.id, errno.raw_os_error());
                    }
                }
            }
        }
        Decision::Denied { reason, by_group } => {
            let mut d = denial(reason);
            if let Some(refusal) = by_group {
                d.what = Refused::DenyEntry {
                    path,
                    refusal: Box::new(refusal),
                };
            }
            shared.deny(d);
            let _ = notify.respond_errno(n.id, Errno::ACCESS.raw_os_error());
        }
        Decision::Timeout => {
            shared.deny(denial("no decision in time".to_owned()));
            let _ = notify.respond_errno(n.id, Errno::ACCESS.raw_os_error());
        }
    }
}

/// The end of a runtime grant, after the open: check the opened object, truncate, inject.
struct Finish {
    req: RuntimeRequest,
    syscall: Syscall,
    creds: as_child::ChildCreds,
    fd: OwnedFd,
    /// `fd`'s `statx` (made by [`settle_opened_stat`] on this very fd).
    st: Opened,
    flags: OFlags,
    id: u64,
}

impl Finish {
    fn run(self, notify: &NotifyFd, engine: &Engine, shared: &Shared) {
        let Finish {
            req,
            syscall,
            creds,
            fd,
            st,
            flags,
            id,
        } = self;
        // The object itself, not its path: another name (a hard link) of a file in a deny
        // group is refused here, before anything changed it.
        if let Some(reason) = engine.refuse_opened_stat(&req, &st) {
            shared.deny(Denial {
                what: Refused::HardLinkToProtected(req.path.clone()),
                access: req.access,
                pid: req.pid,
                call: Call::Syscall(syscall),
                reason,
            });
            let _ = notify.respond_errno(id, Errno::ACCESS.raw_os_error());
            return;
        }
        if flags.contains(OFlags::TRUNC) {
            let truncated = creds
                .act()
                .and_then(|as_child| truncate_opened(&as_child, &fd, &st, flags));
            if let Err(errno) = truncated {
                let _ = notify.respond_errno(id, errno.raw_os_error());
                return;
            }
        }
        let opts = AddFdOptions {
            send: true,
            cloexec: flags.contains(OFlags::CLOEXEC),
            target: None,
        };
        if let Err(e) = notify.add_fd(id, fd.as_fd(), opts) {
            tracing::debug!("injecting the granted fd failed: {e}");
            // With ADDFD_FLAG_SEND a failed install (EMFILE: the child is at its fd limit)
            // leaves the notification pending: answer it with that errno, or the child's
            // open never returns.
            if let NotifyError::Ioctl { source, .. } = e {
                let _ = notify.respond_errno(id, source.raw_os_error());
            }
        }
    }
}

/// `O_TRUNC` applied after the open, as the kernel would have: regular files only (FIFOs and
/// terminals ignore it), `EISDIR` for a directory. A read-only fd (`O_RDONLY | O_TRUNC`, which
/// Linux honours) is truncated through a write fd reopened from its `/proc/self/fd` link, i.e.
/// the same inode, as the child (the reopen checks its write permission).
///
/// `st`: `fd`'s `statx` (its type is all that is looked at).
fn truncate_opened(
    _as_child: &ActingAsChild,
    fd: &OwnedFd,
    st: &Opened,
    flags: OFlags,
) -> Result<(), Errno> {
    match st.mode & libc::S_IFMT {
        libc::S_IFREG => {}
        libc::S_IFDIR => return Err(Errno::ISDIR),
        _ => return Ok(()),
    }
    if (flags & OFlags::RWMODE) == OFlags::RDONLY {
        let via = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(fd));
        let writer = rustix::fs::open(
            via.as_str(),
            OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOCTTY,
            Mode::empty(),
        )?;
        rustix::fs::ftruncate(&writer, 0)
    } else {
        rustix::fs::ftruncate(fd, 0)
    }
}

/// The child's `O_*` flags the supervisor reproduces when it opens on the child's behalf.
fn honoured(flags: OFlags) -> OFlags {
    flags
        & (OFlags::RWMODE
            | OFlags::CREATE
            | OFlags::EXCL
            | OFlags::TRUNC
            | OFlags::APPEND
            | OFlags::DIRECTORY
            | OFlags::NONBLOCK
            | OFlags::NOFOLLOW
            | OFlags::SYNC
            | OFlags::DSYNC
            | OFlags::NOCTTY
            | OFlags::LARGEFILE)
}

/// What an approved open reached that is neither a regular file nor a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Special {
    Fifo,
    CharDevice,
    BlockDevice,
    Socket,
    Other,
}

impl Special {
    fn of(st_mode: u32) -> Option<Special> {
        match st_mode & libc::S_IFMT {
            libc::S_IFREG | libc::S_IFDIR => None,
            libc::S_IFIFO => Some(Special::Fifo),
            libc::S_IFCHR => Some(Special::CharDevice),
            libc::S_IFBLK => Some(Special::BlockDevice),
            libc::S_IFSOCK => Some(Special::Socket),
            _ => Some(Special::Other),
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Special::Fifo => "a FIFO",
            Special::CharDevice => "a character device",
            Special::BlockDevice => "a block device",
            Special::Socket => "a socket",
            Special::Other => "not a regular file or directory",
        }
    }
}

/// Why [`settle_opened`] did not hand out an fd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unsettled {
    /// The object is special and no rule names it: refuse (`EACCES`, a denial).
    Special(Special),
    /// `fstat`/`fcntl` failed: answer this errno.
    Failed(Errno),
}

/// The denial reason for a special object reached by a grant that does not name it.
pub(crate) fn special_refusal(path: &Path, kind: Special) -> String {
    format!(
        "{} is {}, not a regular file or directory: a runtime grant opens it only when a rule \
         names it itself (--approve {}), or grant it statically (--read-file/--write-file)",
        crate::escape::path(path),
        kind.as_str(),
        crate::escape::path(path)
    )
}

/// Why a runtime grant was refused when what it acted on was not where the deny groups'
/// identity walk looked (see `nono_policy::walked`).
pub(crate) fn moved_refusal(path: &Path) -> String {
    format!(
        "{} led into another mount when nono acted than when it checked the deny groups: a \
         directory on it that holds a mount point was renamed in between",
        crate::escape::path(path)
    )
}

/// The reason of a [`Refused::Unread`]: the deny groups' identity walk could not see the
/// directory of `path` (`errno`), so the supervisor did not act.
pub(crate) fn unread_refusal(path: &Path, errno: Errno) -> String {
    format!(
        "nono could not read the directory of {} when it checked it against the deny groups \
         ({}), so it did not act",
        crate::escape::path(path),
        std::io::Error::from(errno)
    )
}

/// After an approved open (always made with `O_NONBLOCK`, see [`open_approved`]): refuse an
/// object that is not a regular file or a directory unless `named` (a rule names the object
/// itself: [`crate::policy::Engine::rule_names`]), then give the fd the blocking mode the
/// child asked for. Call it on every fd [`open_approved`] returns, before handing it out.
///
/// Why: a FIFO or a device node in an approved *directory* is not what a person approved when
/// they approved the directory, and opening one without `O_NONBLOCK` blocks (a FIFO until the
/// other end opens it, a serial line until carrier): a worker of the supervisor would wait for
/// as long as the sandbox (or nobody) pleases. With the object named by a rule it is opened —
/// but never waited for: a FIFO opened for reading is handed out at once (a read before any
/// writer opened it returns end-of-file, where a blocking open would have waited), and one
/// opened for writing with no reader fails `ENXIO` (what `O_NONBLOCK` gives; the child may
/// retry), where a blocking open would have waited for a reader.
pub(crate) fn settle_opened(fd: &OwnedFd, flags: OFlags, named: bool) -> Result<(), Unsettled> {
    settle_opened_stat(fd, flags, named).map(|_| ())
}

/// [`settle_opened`], returning the `fstat` of the fd it made, for the checks that follow
/// (`Engine::refuse_opened_stat`): one `fstat` per runtime grant.
///
/// The fd's status flags are the ones [`open_approved`] gave it (`honoured(flags)` and
/// `O_NONBLOCK`; the kernel's own `O_LARGEFILE`), and of them `F_SETFL` changes only
/// `O_APPEND` and `O_NONBLOCK` (`O_ASYNC`, `O_DIRECT`, `O_NOATIME` are never asked for): so
/// `O_NONBLOCK` is cleared by setting the child's honoured flags without it, without
/// reading the flags back first (`F_GETFL`).
pub(crate) fn settle_opened_stat(
    fd: &OwnedFd,
    flags: OFlags,
    named: bool,
) -> Result<Opened, Unsettled> {
    let st = Opened::of_fd(fd).map_err(Unsettled::Failed)?;
    if let Some(kind) = Special::of(st.mode) {
        if !named {
            return Err(Unsettled::Special(kind));
        }
    }
    if !flags.contains(OFlags::NONBLOCK) {
        rustix::fs::fcntl_setfl(fd, honoured(flags) & !OFlags::NONBLOCK)
            .map_err(Unsettled::Failed)?;
    }
    Ok(st)
}

/// Open the canonical `path` for the child, refusing any symlink on the way: one `openat2`
/// of the whole path with `RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS`, so no component —
/// an ancestor or the last one — may be (or have been swapped for) a symlink (`ELOOP`). That
/// is what opening the parent without symlinks and the last component beneath it did, in
/// one lookup instead of two opens and a close: the last component of a canonical path is a
/// plain name (never `..`), which `RESOLVE_BENEATH` could add nothing to. Runs as the
/// child (`as_child`): the kernel checks the child's search (on every directory of the
/// path), read, write and create permissions, and the open file carries the child's
/// credentials. The fd is
/// close-on-exec in the supervisor (the child's own flag is applied on injection).
///
/// Always opened `O_NONBLOCK`, whatever the child asked for: an open never waits (a FIFO
/// without its other end, a terminal line without carrier would block the worker for as long
/// as the sandbox pleases). [`settle_opened`] then refuses such objects unless a rule names
/// them and clears `O_NONBLOCK` again where the child did not ask for it.
pub(crate) fn open_approved(
    _as_child: &ActingAsChild,
    path: &Path,
    flags: OFlags,
    mode: Mode,
) -> Result<OwnedFd, Errno> {
    if flags.contains(OFlags::TMPFILE) {
        return Err(Errno::ACCESS);
    }
    if !path.is_absolute() {
        return Err(Errno::INVAL);
    }
    rustix::fs::openat2(
        rustix::fs::CWD,
        path,
        honoured(flags) | OFlags::CLOEXEC | OFlags::NONBLOCK,
        mode,
        ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )
}

/// Why [`open_approved_in_walked`] opened nothing.
pub(crate) enum NotOpened {
    /// The directory is not where the deny groups' walk looked.
    Moved,
    /// The name would make a missing deny entry by another name: the name's own path, the
    /// reason and the refusal ([`Engine::refuse_making`]).
    Makes(PathBuf, String, crate::policy::GroupRefusal),
}

/// [`open_approved`] of a path the open may create (`O_CREAT`), made beneath its canonical
/// parent once that, opened as the child without following any symlink, is known to lie
/// where the deny groups' identity walk looked (`walked`, see `nono_policy::walked`) and
/// `making` (given the directory) refuses nothing: otherwise nothing is opened or made. The
/// walk's own errno when it could not see the directory.
pub(crate) fn open_approved_in_walked(
    as_child: &ActingAsChild,
    path: &Path,
    flags: OFlags,
    mode: Mode,
    walked: Walked,
    making: &dyn Fn(Ident) -> Option<(PathBuf, String, crate::policy::GroupRefusal)>,
) -> Result<Result<OwnedFd, NotOpened>, Errno> {
    if flags.contains(OFlags::TMPFILE) {
        return Err(Errno::ACCESS);
    }
    walked.seen()?;
    let (dir, name) = open_parent(as_child, path)?;
    let id = Opened::of_fd(&dir)?.id;
    if !walked.admits_dir(id) {
        return Ok(Err(NotOpened::Moved));
    }
    if let Some((entry, reason, refusal)) = making(id) {
        return Ok(Err(NotOpened::Makes(entry, reason, refusal)));
    }
    rustix::fs::openat2(
        &dir,
        name,
        honoured(flags) | OFlags::CLOEXEC | OFlags::NONBLOCK,
        mode,
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )
    .map(Ok)
}

/// The canonical parent of `path`, opened `O_PATH` without following any symlink, and the
/// last component. As the child.
pub(crate) fn open_parent<'p>(
    _as_child: &ActingAsChild,
    path: &'p Path,
) -> Result<(OwnedFd, &'p Path), Errno> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(Errno::INVAL);
    };
    let dir = rustix::fs::openat2(
        rustix::fs::CWD,
        parent,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )?;
    Ok((dir, Path::new(name)))
}

/// The child thread's umask (`Umask:` in `/proc/TID/status`); 022 if unreadable.
pub(crate) fn child_umask(pid: u32) -> Mode {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let umask = status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        .unwrap_or(0o022);
    Mode::from_bits_truncate(umask)
}

/// The access an open asks for: the access mode, plus write for `O_CREAT`/`O_TRUNC`.
pub(crate) fn access_of(flags: OFlags) -> AccessMode {
    let base = match flags & OFlags::RWMODE {
        m if m == OFlags::WRONLY => AccessMode::Write,
        m if m == OFlags::RDWR => AccessMode::ReadWrite,
        _ => AccessMode::Read,
    };
    if flags.intersects(OFlags::CREATE | OFlags::TRUNC) {
        base.union(AccessMode::Write)
    } else {
        base
    }
}

/// Decode the syscall's arguments and read its path from the child's memory. The caller
/// checks the notification is still valid after the read before it does anything with the
/// bytes but answer `CONTINUE` (see [`Broker::handle`]).
///
/// `openat2` is not decoded: the deny filter, which `PreparedSandbox` always installs before
/// the notify filter, fails it with `ENOSYS` (its flags and mode are in `struct open_how`,
/// which a supervisor could only read racily), so it is never trapped here; if it were,
/// `None` means `CONTINUE` and Landlock decides alone.
fn decode(n: &Notification) -> Option<OpenCall> {
    let syscall = n.syscall()?;
    let (dirfd, path_ptr, flags, mode) = match syscall {
        Syscall::Open => (libc::AT_FDCWD, n.args[0], n.args[1], n.args[2]),
        Syscall::OpenAt => (n.args[0] as i32, n.args[1], n.args[2], n.args[3]),
        Syscall::Creat => (
            libc::AT_FDCWD,
            n.args[0],
            u64::from((OFlags::CREATE | OFlags::WRONLY | OFlags::TRUNC).bits()),
            n.args[1],
        ),
        _ => return None,
    };
    let path = procmem::read_cstr_bytes(n.pid, path_ptr, PATH_MAX).ok()?;
    Some(OpenCall {
        syscall,
        dirfd,
        path,
        flags,
        mode,
    })
}

/// The absolute path the call names: relative paths joined to the thread's cwd or dirfd.
fn absolute(notify: &NotifyFd, n: &Notification, dirfd: i32, path: &[u8]) -> Option<PathBuf> {
    let path = Path::new(OsStr::from_bytes(path));
    if path.is_absolute() {
        return Some(path.to_path_buf());
    }
    if path.as_os_str().is_empty() {
        return None;
    }
    match relative_base(notify, n, dirfd) {
        Base::Dir(base) => Some(base.join(path)),
        Base::Unreadable | Base::Gone | Base::NotAPath(_) => None,
    }
}

/// Where a relative path of a trapped thread starts (see [`relative_base`]).
pub(crate) enum Base {
    /// The directory's current absolute path.
    Dir(PathBuf),
    /// The link could not be read (no such fd, the thread is gone).
    Unreadable,
    /// The notification is no longer valid: what was read means nothing.
    Gone,
    /// The link is not a directory path the supervisor can use (a deleted directory, a
    /// socket, a pipe, an anonymous inode): what was read.
    NotAPath(PathBuf),
}

/// The directory a relative path of the trapped thread starts from: `readlink` of
/// `/proc/TID/cwd` for `AT_FDCWD`, else of `/proc/TID/fd/DIRFD` (the directory's *current*
/// path string), with `NOTIF_ID_VALID` checked after the read.
pub(crate) fn relative_base(notify: &NotifyFd, n: &Notification, dirfd: i32) -> Base {
    let link = if dirfd == libc::AT_FDCWD {
        format!("/proc/{}/cwd", n.pid)
    } else {
        format!("/proc/{}/fd/{dirfd}", n.pid)
    };
    let Ok(base) = std::fs::read_link(link) else {
        return Base::Unreadable;
    };
    if !notify.id_valid(n.id) {
        return Base::Gone;
    }
    if !base.is_absolute() || base.as_os_str().as_bytes().ends_with(b" (deleted)") {
        return Base::NotAPath(base);
    }
    Base::Dir(base)
}

/// The supervisor's copy of the trapped thread's fd `fd` (`pidfd_getfd`: the same open file,
/// so a `dup2` by another thread after the check cannot swap it). The pidfd names the
/// process the notification came from only while the thread still waits in the trapped call,
/// so `NOTIF_ID_VALID` is checked after `pidfd_open` (`ESRCH` if gone). `EBADF` for a bad fd.
pub(crate) fn child_fd_copy(
    notify: &NotifyFd,
    n: &Notification,
    fd: i32,
) -> Result<OwnedFd, Errno> {
    let pidfd = procfs::process_pidfd(n.pid)?;
    if !notify.id_valid(n.id) {
        return Err(Errno::SRCH);
    }
    if fd < 0 {
        return Err(Errno::BADF);
    }
    rustix::process::pidfd_getfd(&pidfd, fd, PidfdGetfdFlags::empty()).map_err(|e| {
        if e == Errno::PERM {
            // The kernel's ptrace check, as for `process_vm_readv`: a non-dumpable command
            // under an unprivileged nono. Its call cannot be carried out; it is counted with
            // the calls that could not be read, and answered `EPERM`, not a false `EBADF`
            // (red team 30).
            procmem::note_refused();
            Errno::PERM
        } else {
            Errno::BADF
        }
    })
}

pub(crate) use nono_sandbox::paths::normalize;
use nono_sandbox::paths::{
    as_the_kernel_resolves, checked_canonical, is_clean, realpath_without_magic_links, Checked,
    Unchecked,
};

/// [`as_the_kernel_resolves`] with the credentials of the thread waiting in `n` when `path`
/// has a `..` (its directory is looked up then): the lookup needs search permission on every
/// directory the program named, and a root supervisor's own would let a capability-less
/// command act beneath another user's 0700 directory through a symlink in it
/// (`locked/link/../x`, red team 24). `None` (the kernel decides) when the credentials
/// cannot be read or taken on.
pub(crate) fn as_the_child_resolves(
    sandbox: &SandboxCreds,
    notify: &NotifyFd,
    n: &Notification,
    path: &Path,
) -> Option<PathBuf> {
    if !path.components().any(|c| c == Component::ParentDir) {
        return as_the_kernel_resolves(path);
    }
    as_the_child(sandbox, notify, n, || as_the_kernel_resolves(path))
}

/// The errno a program gets for a lookup the supervisor made in its place and could not
/// finish ([`realpath_without_magic_links`] and the forms built on it): the lookup's own, and
/// `EACCES` for an answer inside `/proc` (`EXDEV`; red team 24), which the program's lookup
/// does not reach the way the supervisor's would.
pub(crate) fn lookup_errno(e: &std::io::Error) -> Errno {
    match Errno::from_io_error(e) {
        Some(Errno::XDEV) => Errno::ACCESS,
        e => e.unwrap_or(Errno::NOENT),
    }
}

/// `resolve` run with the credentials of the thread waiting in `n`: a symlink followed with a
/// root supervisor's search permission leads past a directory the command cannot search
/// (another user's 0700 `locked/link → pub/sub`: `locked/link/f` named `pub/sub/f`, which
/// the open as the child then reached — red team 24). `None` (the kernel decides) when the
/// credentials cannot be read or taken on.
fn as_the_child<T>(
    sandbox: &SandboxCreds,
    notify: &NotifyFd,
    n: &Notification,
    resolve: impl FnOnce() -> Option<T>,
) -> Option<T> {
    let creds = sandbox.of_thread(notify, n).ok()?;
    let as_child = creds.act().ok()?;
    let resolved = resolve();
    drop(as_child);
    resolved
}

/// The supervisor's canonical view: symlinks resolved; for a file being created, the
/// canonical parent joined with the new name. `None` if it does not exist (and is not being
/// created), or is reached only through a magic link or into `/proc`: the supervisor's own
/// lookup there is not the command's (red team 24; the kernel decides). A clean path
/// without symlinks (what [`normalize`] gives for nearly every trapped open) is answered
/// with one `openat2`.
fn canonicalize(path: &Path, creating: bool) -> Option<PathBuf> {
    match realpath_without_magic_links(path) {
        Ok(p) => Some(p),
        Err(_) if creating => {
            let name = path.file_name()?;
            Some(
                realpath_without_magic_links(path.parent()?)
                    .ok()?
                    .join(name),
            )
        }
        Err(_) => None,
    }
}

/// What [`symlink_free`] found of a path inside the grants.
enum Lookup {
    /// No symlink on the way nor at the end: the `O_PATH` fd that showed it (the caller
    /// closes it once it has answered), or none when a name on the way is missing or not a
    /// directory — the kernel's own lookup fails the same way (`ENOENT`, `ENOTDIR`), nothing
    /// to report.
    Free(Option<OwnedFd>),
    /// A symlink on the way (or a lookup the supervisor could not finish): resolve it.
    Linked,
}

/// Whether the lookup of `path` (clean, absolute) meets no symlink on the way nor at the end:
/// it opens `O_PATH` with `RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS`, or, for a name being
/// created that does not exist yet, its directory does. A missing name met before any symlink
/// is as free: `RESOLVE_NO_SYMLINKS` fails with `ELOOP` at the first symlink, so an `ENOENT`
/// (or `ENOTDIR`) came before any. With the supervisor's credentials: a path shown free only
/// lets the fast path answer `CONTINUE`, where the kernel looks the path up as the command and
/// Landlock checks it, so a directory the command cannot search changes nothing.
fn symlink_free(path: &Path, creating: bool) -> Lookup {
    use rustix::fs::{Mode, OFlags, ResolveFlags, CWD};
    let open = |p: &Path| {
        rustix::fs::openat2(
            CWD,
            p,
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        )
    };
    match open(path) {
        Ok(fd) => Lookup::Free(Some(fd)),
        Err(Errno::NOENT) if creating => match path.parent().map(open) {
            Some(Ok(fd)) => Lookup::Free(Some(fd)),
            _ => Lookup::Linked,
        },
        Err(Errno::NOENT | Errno::NOTDIR) => Lookup::Free(None),
        Err(_) => Lookup::Linked,
    }
}

/// Where a trapped open inside the grants leads (see [`Broker::handle`], step 3), as the
/// program's own lookup would resolve it: no magic link followed and nothing inside `/proc`
/// ([`realpath_without_magic_links`]); with `O_NOFOLLOW` or `O_CREAT | O_EXCL` the directory
/// only (the kernel does not follow the last name: `None` when that name is a symlink, for
/// the kernel's own `ELOOP`/`EEXIST`); a name being created, beneath its directory. `None`:
/// the kernel decides alone (`CONTINUE`).
fn resolve_followed(path: &Path, flags: OFlags) -> Option<PathBuf> {
    let creating = flags.contains(OFlags::CREATE);
    let in_dir = |path: &Path| {
        let name = path.file_name()?;
        Some(
            realpath_without_magic_links(path.parent()?)
                .ok()?
                .join(name),
        )
    };
    if flags.contains(OFlags::NOFOLLOW) || flags.contains(OFlags::CREATE | OFlags::EXCL) {
        let resolved = in_dir(path)?;
        return match std::fs::symlink_metadata(&resolved) {
            Ok(m) if m.file_type().is_symlink() => None,
            Ok(_) => Some(resolved),
            Err(_) if creating => Some(resolved),
            Err(_) => None,
        };
    }
    match realpath_without_magic_links(path) {
        Ok(p) => Some(p),
        Err(e) if creating && e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) => in_dir(path),
        Err(_) => None,
    }
}

/// Where [`resolve_followed`] found a trapped open inside the grants to lead.
enum Followed {
    /// A canonical path outside `/proc`.
    To(PathBuf),
    /// Into `/proc`: the path there as the command's lookup spells it ([`into_proc`]).
    Proc(PathBuf),
    /// Nowhere the supervisor can name: the kernel decides alone (`CONTINUE`).
    Kernel,
}

/// Whether the kernel follows a symlink at the last name of an open with `flags`.
fn follows_last(flags: OFlags) -> bool {
    !flags.contains(OFlags::NOFOLLOW) && !flags.contains(OFlags::CREATE | OFlags::EXCL)
}

/// Most symlinks one lookup follows (the kernel's `MAXSYMLINKS`): beyond, `ELOOP`.
const MAX_SYMLINKS: usize = 40;

/// Most names [`into_proc`] looks up for one trapped call (a `PATH_MAX` path's worth).
const MAX_STEPS: usize = 4096;

/// Where the lookup of `path` (absolute, clean) enters `/proc`, if it does: every symlink
/// before it followed by its text (`/etc/mtab` → `../proc/self/mounts` is
/// `/proc/self/mounts`), the rest after `/proc` kept as spelled (the caller normalises it unless a `..` follows a magic link, red team 31) — for the
/// procfs broker, which reads `self` as the caller and serves only what the command could
/// open by naming that path itself (red team 30). [`realpath_without_magic_links`] refuses
/// any answer in `/proc`, rightly: read by the supervisor, `/proc/self` is the supervisor.
/// `follow_last`: whether a symlink at the last name is followed. Run it as the command
/// (search permission); each step is one `readlinkat` and one `openat` beneath the
/// directory reached so far, at most [`MAX_SYMLINKS`] links and [`MAX_STEPS`] names. `None`: no `/proc` on the way,
/// or a name missing, not searchable, or too many links (the kernel's own answer then).
fn into_proc(path: &Path, follow_last: bool) -> Option<PathBuf> {
    use rustix::fs::{openat, readlinkat, CWD};
    let dir_flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let root = || openat(CWD, "/", dir_flags, Mode::empty()).ok();
    // The names still to look up, the next one last.
    let mut rest: Vec<std::ffi::OsString> = Vec::new();
    let push = |rest: &mut Vec<std::ffi::OsString>, p: &Path| {
        for c in p.components().rev() {
            match c {
                Component::Normal(name) => rest.push(name.to_owned()),
                Component::ParentDir => rest.push("..".into()),
                Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            }
        }
    };
    push(&mut rest, path);
    // `done`: the symlink-free path of `dir`, the directory reached so far.
    let mut done = PathBuf::from("/");
    let mut dir = root()?;
    let (mut links, mut steps) = (0usize, 0usize);
    while let Some(name) = rest.pop() {
        // Forty link texts of `PATH_MAX` bytes each could spell 80 000 names, each a system
        // call or two here: stop at a path's worth (`CONTINUE`; the kernel decides).
        steps += 1;
        if steps > MAX_STEPS {
            return None;
        }
        if name == ".." {
            dir = openat(&dir, "..", dir_flags, Mode::empty()).ok()?;
            done.pop();
            continue;
        }
        let here = done.join(&name);
        if here == Path::new("/proc") {
            let mut p = here;
            for n in rest.iter().rev() {
                p.push(n);
            }
            // Not normalised: a `..` beyond a magic link climbs from where the link leads
            // ([`Broker::answer_proc`]).
            return Some(p);
        }
        let last = rest.is_empty();
        if !last || follow_last {
            if let Ok(text) = readlinkat(&dir, name.as_os_str(), Vec::new()) {
                links += 1;
                if links > MAX_SYMLINKS {
                    return None;
                }
                let text = PathBuf::from(OsStr::from_bytes(text.as_bytes()));
                if text.is_absolute() {
                    dir = root()?;
                    done = PathBuf::from("/");
                }
                push(&mut rest, &text);
                continue;
            }
        }
        if last {
            return None;
        }
        dir = openat(&dir, name.as_os_str(), dir_flags, Mode::empty()).ok()?;
        done = here;
    }
    None
}

/// [`canonicalize`], with what [`checked_canonical`] saw when it could show `path` to be its
/// own canonical form (nearly every trapped open outside the grants): the request's triage
/// starts from it (`Engine::triage_checked`) instead of opening and `stat`ing again.
///
/// `canonical`: [`canonicalize`] of `path` as the command's lookup would go (see
/// [`as_the_child`]), for a path that is not its own canonical form. `checked_canonical`
/// itself may run with the supervisor's credentials: it follows no symlink, so the open as
/// the child then looks up every directory the command named.
///
/// A name missing from a directory that is its own canonical form needs no more: `None`
/// (`ENOENT` from the kernel too; nothing to record) unless `creating`, and then the path
/// itself (the open as the child looks up the same directories the command named).
fn canonicalize_checked(
    path: &Path,
    creating: bool,
    canonical: impl FnOnce() -> Option<PathBuf>,
) -> Option<(PathBuf, Option<Checked>)> {
    match checked_canonical(path) {
        Ok(checked) => Some((path.to_path_buf(), Some(checked))),
        Err(Unchecked::Missing) => creating.then(|| (path.to_path_buf(), None)),
        Err(Unchecked::Other) => canonical().map(|c| (c, None)),
    }
}

/// A boxed job for a worker.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// The kind of a job for the [`Workers`]: each kind has workers of its own, so that one kind
/// that waits (prompts nobody answers, connects to servers that never accept, an SDK peer
/// that stops reading) never holds up another — approved opens go on while every socket
/// worker waits for a full backlog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lane {
    /// A trapped open outside the static grants that a rule (or a deny group, or a session
    /// grant) decides at once: decide, open, inject.
    Open,
    /// A trapped open that goes to the approval backend (may wait for a person).
    Ask,
    /// A brokered `connect`/`sendto`: waits as long as the child's call would.
    Socket,
    /// An SDK request: decide, open, answer on the socket; or open a URL.
    Sdk,
}

impl Lane {
    const ALL: [Lane; 4] = [Lane::Open, Lane::Ask, Lane::Socket, Lane::Sdk];

    fn index(self) -> usize {
        self as usize
    }

    /// Most worker threads of the lane. Socket waits last as long as the child's calls
    /// would (a connect to a listener whose backlog is full waits until it accepts), so that
    /// lane has more; a prompt is one at a time anyway.
    fn max_workers(self) -> usize {
        match self {
            Lane::Open | Lane::Ask | Lane::Sdk => 4,
            Lane::Socket => 16,
        }
    }
}

/// Run `f`, which answers notification `id`; if it panics, answer `id` with `EACCES` (if
/// it was answered already, that answer fails harmlessly: ids are never reused), so that a
/// bug never leaves a thread of the child waiting for ever.
pub(crate) fn answer_on_panic(notify: &NotifyFd, id: u64, f: impl FnOnce()) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err() {
        tracing::error!("answering a trapped call panicked; answered EACCES");
        let _ = notify.respond_errno(id, Errno::ACCESS.raw_os_error());
    }
}

/// Small pools for jobs that may block, one per [`Lane`], each started on first use (a run
/// without runtime requests starts no thread). In a lane a new worker starts whenever a job
/// is queued and none is idle, up to the lane's [`Lane::max_workers`]: one person-facing prompt never holds up
/// other requests while workers remain, and no lane can take another's workers. If not even
/// the first worker of a lane can be started (the thread limit), the job runs on the
/// submitting thread rather than waiting in a queue nobody serves.
///
/// Every job ends on its own once the command has ended (a decision is cancelled, an open
/// never waits, a socket wait checks [`Workers::closing`] and that the child still waits, an
/// SDK answer fails on the shut-down socket); [`Workers::join_until`] waits for them, unless
/// interrupted (a terminating signal to nono), so not even a backend that cannot be cancelled
/// keeps nono from stopping.
#[derive(Debug, Default)]
pub(crate) struct Workers {
    lanes: [Pool; 4],
    /// Set when the run is closing: jobs that wait stop waiting.
    closing: Arc<AtomicBool>,
    /// Workers started and not yet ended, and an eventfd (created with the first worker)
    /// that the last one to end makes readable.
    live: Arc<AtomicUsize>,
    ended: Mutex<Option<Arc<OwnedFd>>>,
}

/// Held by a worker thread (dropped when it ends, whichever way): counts it in
/// [`Workers::live`]; the last one to go signals [`Workers::ended`].
struct Alive {
    live: Arc<AtomicUsize>,
    ended: Option<Arc<OwnedFd>>,
}

impl Drop for Alive {
    fn drop(&mut self) {
        if self.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            if let Some(fd) = &self.ended {
                let _ = rustix::io::write(fd, &1u64.to_ne_bytes());
            }
        }
    }
}

#[derive(Debug, Default)]
struct Pool {
    inner: Mutex<WorkersInner>,
    idle: Arc<AtomicUsize>,
}

#[derive(Debug, Default)]
struct WorkersInner {
    queue: Option<Arc<Queue>>,
    threads: Vec<JoinHandle<()>>,
}

/// A lane's jobs. Idle workers wait on the condition variable, and a job wakes exactly one of
/// them. (A shared `Mutex<Receiver>` made every job wake a second idle worker too, the next
/// one in line for the receiver's lock: with the lane's workers all started, a runtime grant
/// cost an extra wake-up and a contended lock — measured ~10 µs a grant on 2 cores.)
#[derive(Default)]
struct Queue {
    state: Mutex<QueueState>,
    ready: std::sync::Condvar,
}

#[derive(Default)]
struct QueueState {
    jobs: std::collections::VecDeque<Job>,
    /// No more jobs come: workers leave once the queue is empty.
    closed: bool,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_struct("Queue")
            .field("jobs", &st.jobs.len())
            .field("closed", &st.closed)
            .finish()
    }
}

impl Queue {
    fn push(&self, job: Job) {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .jobs
            .push_back(job);
        self.ready.notify_one();
    }

    /// The next job, waiting for one; `None` once the queue is closed and drained.
    fn pop(&self) -> Option<Job> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(job) = st.jobs.pop_front() {
                return Some(job);
            }
            if st.closed {
                return None;
            }
            st = self.ready.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn close(&self) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).closed = true;
        self.ready.notify_all();
    }
}

impl Workers {
    /// Queue `job` in `lane`.
    pub(crate) fn submit(&self, lane: Lane, job: Job) {
        if self.closing.load(Ordering::Acquire) {
            // After `join_until`: the job ends at once (its decision is cancelled, a wait
            // stops), and no new worker outlives the run.
            job();
            return;
        }
        let pool = &self.lanes[lane.index()];
        let mut inner = pool.inner.lock().unwrap_or_else(|e| e.into_inner());
        let queue = match &inner.queue {
            Some(q) => q.clone(),
            None => {
                let q = Arc::new(Queue::default());
                inner.queue = Some(q.clone());
                inner.threads.clear();
                q
            }
        };
        if inner.threads.is_empty()
            || (pool.idle.load(Ordering::SeqCst) == 0 && inner.threads.len() < lane.max_workers())
        {
            self.spawn_worker(pool, &mut inner, queue.clone());
        }
        if inner.threads.is_empty() {
            // No worker could be started: a queued job would never be answered.
            drop(inner);
            job();
            return;
        }
        queue.push(job);
    }

    /// Set once the run is closing (the command ended): a job that waits for something (a
    /// socket) stops waiting and answers.
    pub(crate) fn closing(&self) -> Arc<AtomicBool> {
        self.closing.clone()
    }

    /// The "all workers ended" eventfd, created on first use.
    fn ended_fd(&self) -> Option<Arc<OwnedFd>> {
        let mut ended = self.ended.lock().unwrap_or_else(|e| e.into_inner());
        if ended.is_none() {
            match rustix::event::eventfd(
                0,
                rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK,
            ) {
                Ok(fd) => *ended = Some(Arc::new(fd)),
                Err(e) => tracing::warn!("eventfd (broker workers) failed: {e}"),
            }
        }
        ended.clone()
    }

    fn spawn_worker(&self, pool: &Pool, inner: &mut WorkersInner, queue: Arc<Queue>) {
        let idle = pool.idle.clone();
        self.live.fetch_add(1, Ordering::AcqRel);
        let alive = Alive {
            live: self.live.clone(),
            ended: self.ended_fd(),
        };
        let spawned = std::thread::Builder::new()
            .name("nono-broker".into())
            .spawn(move || {
                // Dropped when the thread ends, whichever way.
                let _alive = alive;
                loop {
                    idle.fetch_add(1, Ordering::SeqCst);
                    let job = queue.pop();
                    idle.fetch_sub(1, Ordering::SeqCst);
                    match job {
                        // A panicking job does not take its worker with it (the lane would
                        // count a dead thread and queue jobs nobody runs).
                        Some(job) => {
                            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err()
                            {
                                tracing::error!("a broker job panicked");
                            }
                        }
                        None => return,
                    }
                }
            });
        match spawned {
            Ok(handle) => inner.threads.push(handle),
            Err(e) => tracing::warn!("starting a broker worker failed: {e}"),
        }
    }

    /// Close the queues and wait for the workers to drain them.
    #[cfg(test)]
    pub(crate) fn join(&self) {
        self.join_until(None, &mut || false);
    }

    /// Close the queues, tell waiting jobs to stop ([`Workers::closing`]) and wait for the
    /// workers to drain the queues — until `interrupt` is readable and `interrupted()` (which
    /// may read it) says to stop waiting: then the workers still busy are left to end on
    /// their own (detached) and `false` is returned.
    pub(crate) fn join_until(
        &self,
        interrupt: Option<BorrowedFd<'_>>,
        interrupted: &mut dyn FnMut() -> bool,
    ) -> bool {
        self.closing.store(true, Ordering::Release);
        let mut threads = Vec::new();
        for lane in Lane::ALL {
            let mut inner = self.lanes[lane.index()]
                .inner
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(q) = inner.queue.take() {
                q.close();
            }
            threads.append(&mut inner.threads);
        }
        let ended = self.ended.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let (Some(ended), Some(interrupt)) = (&ended, interrupt) {
            while self.live.load(Ordering::Acquire) > 0 {
                let mut fds = [
                    rustix::event::PollFd::new(&**ended, PollFlags::IN),
                    rustix::event::PollFd::from_borrowed_fd(interrupt, PollFlags::IN),
                ];
                match rustix::event::poll(&mut fds, None) {
                    Ok(_) | Err(Errno::INTR) => {}
                    Err(e) => {
                        tracing::warn!("poll (broker workers) failed: {e}");
                        break;
                    }
                }
                if !fds[0].revents().is_empty() {
                    let mut buf = [0u8; 8];
                    let _ = rustix::io::read(&**ended, &mut buf);
                    continue;
                }
                if !fds[1].revents().is_empty() && interrupted() {
                    let busy = threads.iter().filter(|t| !t.is_finished()).count();
                    tracing::warn!("interrupted: not waiting for {busy} busy broker worker(s)");
                    return false;
                }
            }
        }
        for t in threads {
            let _ = t.join();
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;
    use proptest::prelude::*;

    /// Red team 30: a symlink into `/proc` is followed by its text up to `/proc`, the rest
    /// kept as spelled (not normalised since red team 31); anything else (no `/proc` on the way, a loop, the last name not
    /// followed) is `None`.
    #[test]
    fn into_proc_follows_links_by_their_text_up_to_proc() {
        use std::os::unix::fs::symlink;
        let scratch = Scratch::new(&format!("nono-into-proc-{}", std::process::id()));
        let dir: PathBuf = (&scratch).into();
        std::fs::create_dir_all(dir.join("d/e")).unwrap();
        let up = "../".repeat(dir.components().count() + 2);
        symlink(format!("{up}proc/self/mounts"), dir.join("mtab")).unwrap();
        symlink("/proc/self", dir.join("d/sp")).unwrap();
        symlink("e/../sp", dir.join("d/via")).unwrap();
        symlink(dir.join("d"), dir.join("dl")).unwrap();
        symlink("loop", dir.join("loop")).unwrap();
        std::fs::write(dir.join("f"), "x").unwrap();
        let p = |s: &str| PathBuf::from(s);
        assert_eq!(
            into_proc(&dir.join("mtab"), true),
            Some(p("/proc/self/mounts"))
        );
        assert_eq!(into_proc(&dir.join("mtab"), false), None);
        assert_eq!(
            into_proc(&dir.join("dl/via/status"), false),
            Some(p("/proc/self/status"))
        );
        assert_eq!(
            into_proc(&dir.join("d/sp/task/../environ"), true),
            Some(p("/proc/self/task/../environ"))
        );
        // Kept as spelled, not normalised: a `..` beyond a magic link climbs from where the
        // link leads (red team 31; `Broker::answer_proc`).
        assert_eq!(
            into_proc(&dir.join("d/sp/cwd/../f"), true),
            Some(p("/proc/self/cwd/../f"))
        );
        assert_eq!(into_proc(&dir.join("loop"), true), None);
        assert_eq!(into_proc(&dir.join("f"), true), None);
        assert_eq!(into_proc(&dir.join("missing/x"), true), None);
    }

    #[test]
    fn settle_opened_refuses_unnamed_special_objects_and_restores_blocking() {
        let dir = Scratch::new(&format!("nono-settle-{}", std::process::id()));
        std::fs::write(dir.join("f"), "x").unwrap();
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            dir.join("p"),
            Mode::from_bits_truncate(0o600),
        )
        .unwrap();

        // Acting as this very thread: nothing switches, but the open needs the token.
        let me =
            as_child::ChildCreds::of_tid(rustix::thread::gettid().as_raw_nonzero().get() as u32)
                .unwrap();
        let as_me = me.act().unwrap();
        // A FIFO without a writer: the open returns at once (it would block without
        // O_NONBLOCK), and is refused unless named.
        let fifo = open_approved(&as_me, &dir.join("p"), OFlags::RDONLY, Mode::empty()).unwrap();
        assert_eq!(
            settle_opened(&fifo, OFlags::RDONLY, false),
            Err(Unsettled::Special(Special::Fifo))
        );
        assert_eq!(settle_opened(&fifo, OFlags::RDONLY, true), Ok(()));
        let fl = rustix::fs::fcntl_getfl(&fifo).unwrap();
        assert!(
            !fl.contains(OFlags::NONBLOCK),
            "the child did not ask for O_NONBLOCK"
        );
        // For writing, with no reader: ENXIO instead of waiting.
        drop(fifo);
        assert_eq!(
            open_approved(&as_me, &dir.join("p"), OFlags::WRONLY, Mode::empty()).unwrap_err(),
            Errno::NXIO
        );

        // A regular file keeps O_NONBLOCK only if asked for.
        let f = open_approved(&as_me, &dir.join("f"), OFlags::RDONLY, Mode::empty()).unwrap();
        assert_eq!(
            settle_opened(&f, OFlags::RDONLY | OFlags::NONBLOCK, false),
            Ok(())
        );
        assert!(rustix::fs::fcntl_getfl(&f)
            .unwrap()
            .contains(OFlags::NONBLOCK));
        let f = open_approved(&as_me, &dir.join("f"), OFlags::RDONLY, Mode::empty()).unwrap();
        assert_eq!(settle_opened(&f, OFlags::RDONLY, false), Ok(()));
        assert!(!rustix::fs::fcntl_getfl(&f)
            .unwrap()
            .contains(OFlags::NONBLOCK));
        // Clearing O_NONBLOCK (without reading the flags back) keeps the child's O_APPEND and
        // access mode.
        let append = OFlags::WRONLY | OFlags::APPEND;
        let f = open_approved(&as_me, &dir.join("f"), append, Mode::empty()).unwrap();
        assert_eq!(settle_opened(&f, append, false), Ok(()));
        let fl = rustix::fs::fcntl_getfl(&f).unwrap();
        assert!(fl.contains(OFlags::APPEND) && !fl.contains(OFlags::NONBLOCK));
        assert_eq!(fl & OFlags::RWMODE, OFlags::WRONLY);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// One `openat2` of the whole canonical path: a symlink anywhere on it (an ancestor or
    /// the last component, also when creating) is refused (`ELOOP`), never followed; and
    /// the child's search permission is checked on every directory of the path.
    #[test]
    fn open_approved_refuses_a_symlink_anywhere_on_the_path() {
        use std::os::unix::fs::PermissionsExt;
        let dir = Scratch::new(&format!("nono-open-approved-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("real/sub")).unwrap();
        std::fs::write(dir.join("real/sub/f"), "x").unwrap();
        std::os::unix::fs::symlink(dir.join("real"), dir.join("link")).unwrap();
        std::os::unix::fs::symlink("sub/f", dir.join("real/flink")).unwrap();
        std::os::unix::fs::symlink("missing", dir.join("real/dangling")).unwrap();
        let me =
            as_child::ChildCreds::of_tid(rustix::thread::gettid().as_raw_nonzero().get() as u32)
                .unwrap();
        let as_me = me.act().unwrap();
        let open = |p: &str, flags: OFlags| {
            // `openat2` takes a mode only with `O_CREAT` (`EINVAL` otherwise).
            let mode = if flags.contains(OFlags::CREATE) {
                Mode::from_bits_truncate(0o600)
            } else {
                Mode::empty()
            };
            open_approved(&as_me, &dir.join(p), flags, mode)
        };
        open("real/sub/f", OFlags::RDONLY).unwrap();
        assert_eq!(open("link/sub/f", OFlags::RDONLY).unwrap_err(), Errno::LOOP);
        assert_eq!(open("real/flink", OFlags::RDONLY).unwrap_err(), Errno::LOOP);
        let create = OFlags::WRONLY | OFlags::CREATE;
        assert_eq!(open("real/dangling", create).unwrap_err(), Errno::LOOP);
        assert!(!dir.join("real/missing").exists());
        assert_eq!(open("link/sub/new", create).unwrap_err(), Errno::LOOP);
        assert!(!dir.join("real/sub/new").exists());
        assert_eq!(
            open_approved(
                &as_me,
                Path::new("real/sub/f"),
                OFlags::RDONLY,
                Mode::empty()
            )
            .unwrap_err(),
            Errno::INVAL
        );
        drop(as_me);
        if rustix::process::geteuid().is_root() {
            // A directory the child may not search, on the way to a file it could read.
            std::fs::set_permissions(dir.join("real"), std::fs::Permissions::from_mode(0o700))
                .unwrap();
            let path = dir.join("real/sub/f");
            std::thread::spawn(move || {
                let child = as_child::ChildCreds {
                    fsuid: 1234,
                    fsgid: 1234,
                    groups: vec![],
                    cap_eff: 0,
                };
                let as_child = child.act().unwrap();
                assert_eq!(
                    open_approved(&as_child, &path, OFlags::RDONLY, Mode::empty()).unwrap_err(),
                    Errno::ACCESS
                );
            })
            .join()
            .unwrap();
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The symlink-free shortcut of `canonicalize` gives what `realpath` gives: the path
    /// itself without symlinks, the target through a symlinked directory or last component,
    /// the canonical parent joined with the name of a file being created, `None` for a
    /// missing one.
    #[test]
    fn canonicalize_agrees_with_realpath() {
        let dir = Scratch::new(&format!("nono-canon-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("real/sub")).unwrap();
        std::fs::write(dir.join("real/sub/f"), "x").unwrap();
        std::os::unix::fs::symlink(dir.join("real"), dir.join("link")).unwrap();
        std::os::unix::fs::symlink("sub/f", dir.join("real/flink")).unwrap();
        for p in [
            "real",
            "real/sub",
            "real/sub/f",
            "link",
            "link/sub/f",
            "real/flink",
        ] {
            let path = dir.join(p);
            assert_eq!(
                canonicalize(&path, false),
                Some(std::fs::canonicalize(&path).unwrap()),
                "{p}"
            );
        }
        assert_eq!(
            canonicalize(&dir.join("real/sub/f"), false),
            Some(dir.join("real/sub/f"))
        );
        assert_eq!(
            canonicalize(&dir.join("link/sub/f"), false),
            Some(dir.join("real/sub/f"))
        );
        assert_eq!(canonicalize(&dir.join("link/new"), false), None);
        assert_eq!(
            canonicalize(&dir.join("link/new"), true),
            Some(dir.join("real/new"))
        );
        assert_eq!(
            canonicalize(Path::new("/"), false),
            Some(PathBuf::from("/"))
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_panicking_job_keeps_its_worker_and_every_lane_drains() {
        let workers = Workers::default();
        let (tx, rx) = std::sync::mpsc::channel();
        workers.submit(
            Lane::Open,
            Box::new(|| panic!("job panics (expected in this test)")),
        );
        for lane in Lane::ALL {
            let tx = tx.clone();
            workers.submit(lane, Box::new(move || tx.send(lane).unwrap()));
        }
        drop(tx);
        workers.join();
        let mut got: Vec<Lane> = rx.iter().collect();
        got.sort_by_key(|l| l.index());
        assert_eq!(got, Lane::ALL);
        // After closing, a job runs on the submitting thread.
        let (tx, rx) = std::sync::mpsc::channel();
        workers.submit(Lane::Socket, Box::new(move || tx.send(()).unwrap()));
        assert!(rx.try_recv().is_ok());
    }

    /// Where the sandbox may put a program (for the URL opener's `PATH`): inside, above or
    /// around a write grant (a writable file grant inside a directory counts), not inside a
    /// deny that removes writing, nor under a read-only grant.
    #[test]
    fn may_write_in_sees_every_way_to_write_into_a_directory() {
        let dir = Scratch::new(&format!("nono-maywrite-{}", std::process::id()));
        for d in ["rw/ro/deep", "rw/none", "files", "read/sub", "away"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        std::fs::write(dir.join("files/tool"), "x").unwrap();
        let mut caps = CapabilitySet::new();
        caps.allow_dir(dir.join("rw"), AccessMode::ReadWrite, "test")
            .unwrap();
        caps.allow_dir(dir.join("read"), AccessMode::Read, "test")
            .unwrap();
        caps.allow_file(dir.join("files/tool"), AccessMode::Write, "test")
            .unwrap();
        caps.deny_write(dir.join("rw/ro"), "test").unwrap();
        caps.deny(dir.join("rw/none"), "test").unwrap();
        let grants = StaticGrants::new(&caps);
        for (p, writable) in [
            ("rw", true),
            ("rw/new", true),
            ("", true),
            ("files", true),
            ("rw/ro", false),
            ("rw/ro/deep", false),
            ("rw/none", false),
            ("read", false),
            ("read/sub", false),
            ("away", false),
        ] {
            let path = if p.is_empty() {
                dir.clone()
            } else {
                dir.join(p)
            };
            assert_eq!(grants.may_write_in(&path), writable, "{p}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The capability model's verdict is never changed by the broker's "no grant covers it"
    /// shortcut, also with carve-outs and a read-only carve-out's derived grant.
    #[test]
    fn allows_canonical_agrees_with_the_model() {
        let dir = Scratch::new(&format!("nono-allows-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("rw/ro/deep")).unwrap();
        std::fs::create_dir_all(dir.join("rw/none")).unwrap();
        std::fs::create_dir_all(dir.join("rw/sub")).unwrap();
        std::fs::create_dir_all(dir.join("other")).unwrap();
        std::fs::write(dir.join("file"), "x").unwrap();
        let mut caps = CapabilitySet::new();
        caps.allow_dir(dir.join("rw"), AccessMode::ReadWrite, "test")
            .unwrap();
        caps.allow_file(dir.join("file"), AccessMode::Read, "test")
            .unwrap();
        caps.deny_write(dir.join("rw/ro"), "test").unwrap();
        caps.deny(dir.join("rw/none"), "test").unwrap();
        let mut grants = StaticGrants::new(&caps);
        // The ruleset's own rules (what `PreparedSandbox::path_rules` hands over).
        let plan = nono_sandbox::linux::landlock::plan_fs_rules(&caps).unwrap();
        grants.set_landlock_rules(plan.rules.clone());
        let mut by_rules = 0;
        for p in [
            "",
            "rw",
            "rw/x",
            "rw/ro",
            "rw/ro/deep",
            "rw/ro/deep/f",
            "rw/none",
            "rw/none/f",
            "rw/sub",
            "rw/sub/f",
            "file",
            "file2",
            "other",
            "other/f",
            "rwx",
        ] {
            let path = if p.is_empty() {
                dir.clone()
            } else {
                dir.join(p)
            };
            for access in [AccessMode::Read, AccessMode::Write, AccessMode::ReadWrite] {
                let model = nono_sandbox::explain_canonical(&caps, &path, access).is_allowed();
                assert_eq!(
                    grants.allows_canonical(&path, access),
                    model,
                    "{} {access:?}",
                    path.display()
                );
                // What the ruleset's rules let through, the model allows too.
                if grants.landlock_allows(&path, access) {
                    by_rules += 1;
                    assert!(model, "rules allow {} {access:?}", path.display());
                }
            }
            // Nor is the spine test's "above no deny rule" shortcut.
            assert_eq!(
                grants.is_spine(&path),
                matches!(
                    nono_sandbox::explain_canonical(&caps, &path, AccessMode::Read).rule,
                    nono_sandbox::Rule::CarveOutSpine { .. }
                ),
                "spine: {}",
                path.display()
            );
        }
        assert!(
            grants.is_spine(&dir.join("rw")),
            "the grant above a carve-out"
        );
        for p in ["/", "/usr", "/nonexistent-nono"] {
            assert!(!grants.allows_canonical(Path::new(p), AccessMode::Read));
            assert!(!grants.landlock_allows(Path::new(p), AccessMode::Read));
        }
        // The expanded entries and the read-only carve-out are reached through the rules.
        assert!(by_rules >= 8, "{by_rules}");
        assert!(grants.landlock_allows(&dir.join("rw/sub/f"), AccessMode::ReadWrite));
        // An entry made after the ruleset was built is not covered (the model may differ).
        assert!(!grants.landlock_allows(&dir.join("rw/x"), AccessMode::Read));
        assert!(grants.landlock_allows(&dir.join("rw/ro/deep/f"), AccessMode::Read));
        assert!(!grants.landlock_allows(&dir.join("rw/ro/deep/f"), AccessMode::Write));
        assert!(!grants.landlock_allows(&dir.join("rw/none/f"), AccessMode::Read));
        assert!(!grants.landlock_allows(
            Path::new(&format!("{}/rw/../other", dir.display())),
            AccessMode::Read
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn under_is_component_prefix() {
        assert!(under(b"/etc/passwd", b"/etc"));
        assert!(under(b"/etc", b"/etc"));
        assert!(under(b"/etc", b"/"));
        assert!(under(b"/", b"/"));
        assert!(!under(b"/etcetera", b"/etc"));
        assert!(!under(b"/et", b"/etc"));
        assert!(!under(b"/usr/lib", b"/usr/lib64"));
    }

    fn clean_path() -> impl Strategy<Value = PathBuf> {
        let name = proptest::sample::select(&["a", "ab", "b", "a.b", "..a", "ab-"][..]);
        proptest::collection::vec(name, 0..4)
            .prop_map(|c| PathBuf::from(format!("/{}", c.join("/"))))
    }

    proptest! {
        /// On clean paths (all the fast path sees), the byte test agrees with
        /// `Path::starts_with`.
        #[test]
        fn under_agrees_with_path_starts_with(p in clean_path(), q in clean_path()) {
            prop_assert_eq!(
                under(p.as_os_str().as_bytes(), q.as_os_str().as_bytes()),
                p.starts_with(&q)
            );
            let n = normalize(&p);
            prop_assert_eq!(n.as_os_str().as_bytes(), p.as_os_str().as_bytes());
        }
    }
}

//! The procfs broker: a supervised child's opens under `/proc`, served by the supervisor so the
//! child sees its own processes and system-wide files, never another process's entries.
//!
//! # Why
//! Landlock ABI 7 cannot tell `/proc/self/status` from `/proc/1/environ`: a read grant on
//! `/proc` (which tools need) covers every process's directory, and the kernel's ptrace
//! check that Landlock adds does *not* stop `environ`, `cmdline` or `auxv` of processes
//! outside the sandbox (measured on 6.18, see docs/THREAT_MODEL.md) — environment variables
//! are where API keys live, including the supervisor's own.
//!
//! # Mechanism
//! When opens are trapped, Landlock grants nothing under `/proc` ([`landlock_caps`] carves it
//! out), so no open the kernel runs itself can reach a `/proc` file. Every trapped open whose
//! (lexically normalised, absolute) path lies under `/proc` is classified here:
//! - a **magic link** of the child's own or a descendant's (`fd/N`, `cwd`, `root`, `exe`,
//!   `map_files/*`, `ns/*`, also via `task/TID/`, and `/dev/fd/*`, `/dev/std*`): answered
//!   `CONTINUE`. The kernel follows the link to the real object and Landlock judges *that*;
//!   if the child swapped the path after the check, whatever it now names is either outside
//!   `/proc` (Landlock judges it) or inside it (Landlock refuses it) — safe either way;
//! - an entry of `/proc/self`, `/proc/thread-self` or `/proc/PID` where PID is the sandbox's
//!   root process or a descendant: **opened by the supervisor** on a path it builds itself
//!   (the pid rewritten: `self` becomes the calling thread's thread-group id), never from a
//!   path it re-reads, and injected with `ADDFD|SEND`. Read-only, except a short list of
//!   harmless files of the caller's *own* process (`comm`, `task/TID/comm`, ...);
//! - a **system-wide** file on an allow-list (`cpuinfo`, `meminfo`, `stat`, `sys/**`, the
//!   `/proc` directory itself for listing, ...): opened by the supervisor read-only and
//!   injected. Everything else (`kcore`, `kallsyms`, `sysrq-trigger`, `/proc/sys` writes, ...)
//!   is refused;
//! - **another process's** entry: refused with `EACCES` and recorded as a denial.
//!
//! A path swapped in the child's memory after the check changes only *which request* the
//! supervisor considers; what it opens is always the path it decided on.
//!
//! # Pid reuse
//! The supervisor first pins `/proc/PID` (an `O_PATH` directory fd: if the process dies, its
//! entries answer `ESRCH`, and a new process with the same pid gets a different directory),
//! checks ancestry through *that* fd (`status`: `Tgid`, `PPid`), and opens the entry beneath
//! it. The walk up the `PPid` chain reads other processes' `status`; a pid on the chain that is
//! reused meanwhile belongs to a process whose own chain would have to lead to the sandbox's
//! root to be accepted, i.e. to a descendant.
//!
//! Every open the supervisor makes for the child is made **as the child** (`as_child.rs`):
//! `pagemap` shows page frame numbers and `stack` a kernel stack only to an opener with
//! `CAP_SYS_ADMIN`, judged on the open file's credentials.
//!
//! All opens use `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)`
//! beneath the pinned directory, so a magic link this module failed to classify is refused
//! (`ELOOP`) instead of being followed by the unsandboxed supervisor.

use std::ffi::{OsStr, OsString};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use std::os::fd::AsFd;

use nono_sandbox::linux::seccomp::{AddFdOptions, Notification, NotifyError, NotifyFd, Syscall};
use nono_sandbox::CapabilitySet;
use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::as_child::{ActingAsChild, ChildCreds};
use super::run_state::{Call, Denial, Refused, Shared};

/// How far up the `PPid` chain the ancestry check walks before giving up.
const MAX_DEPTH: usize = 1024;

/// Entries of a process directory that are magic links (or directories of them).
const MAGIC: &[&str] = &["fd", "cwd", "root", "exe", "map_files", "ns"];
/// `fd`, `map_files` and `ns` are directories of magic links: only `DIR/NAME` is a link.
const MAGIC_DIRS: &[&str] = &["fd", "map_files", "ns"];

/// Entries of the caller's own process it may open for writing.
const OWN_WRITABLE: &[&str] = &["comm", "coredump_filter", "timerslack_ns", "oom_score_adj"];

/// System-wide `/proc` entries (first component) served read-only. `sys` and `pressure` are
/// directories served recursively.
const SYSTEM: &[&str] = &[
    "buddyinfo",
    "cgroups",
    "cmdline",
    "consoles",
    "cpuinfo",
    "crypto",
    "devices",
    "diskstats",
    "filesystems",
    "interrupts",
    "loadavg",
    "locks",
    "meminfo",
    "misc",
    "partitions",
    "pressure",
    "softirqs",
    "stat",
    "swaps",
    "sys",
    "uptime",
    "version",
    "vmstat",
    "zoneinfo",
];

/// The Landlock view of `caps` when the supervisor serves `/proc`: `/proc` is carved out
/// (grants inside it are dropped, a grant above it is expanded around it), so no open that the
/// kernel runs on its own can reach a `/proc` file.
#[must_use]
pub(crate) fn landlock_caps(caps: &CapabilitySet) -> CapabilitySet {
    let mut out = caps.clone();
    if let Err(e) = out.deny("/proc", "served by the supervisor (procfs broker)") {
        tracing::warn!("carving /proc out of the Landlock grants failed: {e}");
    }
    out
}

/// Why the procfs broker refused a `/proc` entry. No flag grants any of these: no path grant
/// reaches `/proc` under `run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProcRefusal {
    /// `/proc` itself could not be opened by the supervisor.
    NoProc,
    /// A system-wide entry outside the allow-list for sandboxes.
    NotListed,
    /// A write to a system-wide entry.
    SystemReadOnly,
    /// An entry of a process outside the sandbox.
    OtherProcess,
    /// A write to an entry of a sandboxed process that is read-only for it.
    OwnReadOnly,
}

impl ProcRefusal {
    /// The reason as users read it (report, audit, `why`).
    #[must_use]
    pub const fn reason(self) -> &'static str {
        match self {
            ProcRefusal::NoProc => "/proc could not be opened by the supervisor",
            ProcRefusal::NotListed => "a /proc entry outside the allow-list for sandboxes",
            ProcRefusal::SystemReadOnly => "system-wide /proc entries are read-only",
            ProcRefusal::OtherProcess => "another process's /proc entry (outside the sandbox)",
            ProcRefusal::OwnReadOnly => {
                "a /proc entry of a sandboxed process that is read-only for it"
            }
        }
    }
}

/// What to do with a trapped open under `/proc`.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// A magic link of the child's own (or a descendant's): the kernel follows it and Landlock
    /// judges the object it leads to.
    Continue,
    /// Opened by the supervisor: inject it.
    Opened(OwnedFd),
    /// Refused (record a denial, answer `EACCES`).
    Refused(ProcRefusal),
    /// The supervisor's own open failed (`ENOENT`, `ESRCH`, ...): answer this errno.
    Failed(Errno),
}

/// Serves `/proc` for one run.
#[derive(Debug)]
pub(crate) struct ProcFs {
    /// The sandbox's root process (the command: the run's init forked it).
    root: u32,
    /// A pidfd of `root`, taken while it runs: its pid is the command's only while this
    /// does not report an exit (the init, not the supervisor, reaps the command).
    root_pidfd: Option<OwnedFd>,
    /// `/proc`, `O_PATH`.
    proc_dir: Option<OwnedFd>,
}

/// Which process directory a path names.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// `/proc` itself or a system-wide entry (components after `/proc`).
    System(Vec<OsString>),
    /// A process directory: the pid, and the components after it.
    Process(u32, Vec<OsString>),
    /// `/dev/fd/*`, `/dev/stdin`, ...: symlinks into `/proc/self/fd`.
    DevFd,
}

impl ProcFs {
    pub(crate) fn new(root: u32) -> Self {
        let proc_dir = rustix::fs::open(
            "/proc",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| tracing::warn!("opening /proc failed: {e}"))
        .ok();
        let root_pidfd = i32::try_from(root)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
            .and_then(|p| {
                rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok()
            });
        ProcFs {
            root,
            root_pidfd,
            proc_dir,
        }
    }

    /// Whether the root process has not exited yet (so its pid, pinned before this check,
    /// named it).
    fn root_running(&self) -> bool {
        self.root_pidfd.as_ref().is_some_and(|fd| {
            let mut fds = [rustix::event::PollFd::new(fd, rustix::event::PollFlags::IN)];
            matches!(
                rustix::event::poll(&mut fds, Some(&rustix::event::Timespec::default())),
                Ok(0)
            )
        })
    }

    /// Classify (and, where the supervisor serves it, open) the trapped open of `path` (absolute,
    /// lexically normalised) by thread `tid` with `flags`. `None`: not a `/proc` path. What is
    /// opened is opened as the child, with the credentials `creds` returns (asked only then):
    /// files such as `pagemap` and `stack` check their opener's capabilities.
    pub(crate) fn open(
        &self,
        tid: u32,
        path: &Path,
        flags: OFlags,
        creds: impl FnOnce() -> Result<ChildCreds, Errno>,
    ) -> Option<Outcome> {
        let target = parse(path, tid)?;
        Some(self.serve(tid, target, flags, creds))
    }

    fn serve(
        &self,
        tid: u32,
        target: Target,
        flags: OFlags,
        creds: impl FnOnce() -> Result<ChildCreds, Errno>,
    ) -> Outcome {
        let open_as_child = |dir: &OwnedFd, rest: &[OsString]| {
            let opened = creds().and_then(|c| open_beneath(&c.act()?, dir, rest, flags));
            match opened {
                Ok(fd) => Outcome::Opened(fd),
                Err(e) => Outcome::Failed(e),
            }
        };
        let Some(proc_dir) = &self.proc_dir else {
            return Outcome::Refused(ProcRefusal::NoProc);
        };
        let writes = super::access_of(flags).writes();
        match target {
            Target::DevFd => Outcome::Continue,
            Target::System(rest) => {
                let allowed = match rest.first() {
                    None => true,
                    Some(first) => SYSTEM.iter().any(|s| OsStr::new(s) == first),
                };
                if !allowed {
                    return Outcome::Refused(ProcRefusal::NotListed);
                }
                if writes {
                    return Outcome::Refused(ProcRefusal::SystemReadOnly);
                }
                open_as_child(proc_dir, &rest)
            }
            Target::Process(pid, rest) => {
                let pin = match rustix::fs::openat2(
                    proc_dir,
                    pid.to_string(),
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                    ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
                ) {
                    Ok(fd) => fd,
                    Err(e) => return Outcome::Failed(e),
                };
                // The sandbox's root process needs no ancestry walk while it runs (its pid
                // cannot be reused before it exits, and the directory is pinned first).
                let status = if pid == self.root {
                    if !self.root_running() {
                        // Exited: whatever process has that pid now is not the root.
                        return Outcome::Refused(ProcRefusal::OtherProcess);
                    }
                    None
                } else {
                    let Some(status) = read_status_at(&pin) else {
                        return Outcome::Failed(Errno::NOENT);
                    };
                    if !self.in_sandbox(pid, &status) {
                        return Outcome::Refused(ProcRefusal::OtherProcess);
                    }
                    Some(status)
                };
                if is_magic(&rest) {
                    return Outcome::Continue;
                }
                if writes {
                    let tgid = status.map_or(pid, |s| s.tgid);
                    let own = thread_group(tid) == Some(tgid);
                    if !own || !own_writable(&rest) {
                        return Outcome::Refused(ProcRefusal::OwnReadOnly);
                    }
                }
                open_as_child(&pin, &rest)
            }
        }
    }

    /// The text of the magic link `t` names, read only for a process of the sandbox (its
    /// root or a descendant, pinned first): what a reopen through it reaches, for the report.
    /// `None` for another process (the procfs broker refuses it), or when unreadable.
    pub(crate) fn read_link(&self, t: &Through) -> Option<Vec<u8>> {
        let proc_dir = self.proc_dir.as_ref()?;
        let pin = rustix::fs::openat2(
            proc_dir,
            t.pid.to_string(),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
        )
        .ok()?;
        let ours = if t.pid == self.root {
            self.root_running()
        } else {
            read_status_at(&pin).is_some_and(|s| self.in_sandbox(t.pid, &s))
        };
        if !ours {
            return None;
        }
        rustix::fs::readlinkat(&pin, &t.link, Vec::new())
            .ok()
            .map(std::ffi::CString::into_bytes)
    }

    /// Whether the process pinned with `status` is the sandbox's root or a descendant.
    fn in_sandbox(&self, pid: u32, status: &Status) -> bool {
        descends(self.root, pid, status)
    }
}

/// Whether process `pid` is `root` or a descendant of it (by the `PPid` chain). Unpinned:
/// the caller makes sure `pid` still names the process it means while this runs (the socket
/// broker holds a pidfd of it and checks it is alive afterwards).
pub(crate) fn in_tree(root: u32, pid: u32) -> bool {
    pid == root || read_status(pid).is_some_and(|s| descends(root, pid, &s))
}

fn descends(root: u32, pid: u32, status: &Status) -> bool {
    if pid == root || status.tgid == root {
        return true;
    }
    let mut cur = status.ppid;
    for _ in 0..MAX_DEPTH {
        if cur == root {
            return true;
        }
        if cur <= 1 {
            return false;
        }
        match read_status(cur) {
            Some(s) => cur = s.ppid,
            None => return false,
        }
    }
    false
}

/// Answer a trapped open that [`ProcFs::open`] classified: `CONTINUE`, inject the
/// supervisor's fd (`ADDFD|SEND`, with the child's `O_CLOEXEC`), or refuse (`EACCES`, and a
/// [`Denial`] for the end-of-run report).
pub(crate) fn answer(
    notify: &NotifyFd,
    shared: &Shared,
    n: &Notification,
    syscall: Syscall,
    path: PathBuf,
    flags: OFlags,
    outcome: Outcome,
) {
    match outcome {
        Outcome::Continue => {
            let _ = notify.respond_continue(n.id);
        }
        Outcome::Opened(fd) => {
            let opts = AddFdOptions {
                send: true,
                cloexec: flags.contains(OFlags::CLOEXEC),
                target: None,
            };
            if let Err(e) = notify.add_fd(n.id, fd.as_fd(), opts) {
                tracing::debug!("injecting a /proc fd failed: {e}");
                // As in `grant_trapped`: a failed ADDFD|SEND (EMFILE) leaves the notification
                // pending; answer it with that errno, or the child's open never returns.
                if let NotifyError::Ioctl { source, .. } = e {
                    let _ = notify.respond_errno(n.id, source.raw_os_error());
                }
            }
        }
        Outcome::Failed(errno) => {
            let _ = notify.respond_errno(n.id, errno.raw_os_error());
        }
        Outcome::Refused(refusal) => {
            shared.deny(Denial {
                what: Refused::Proc { path, refusal },
                access: super::access_of(flags),
                pid: n.pid,
                call: Call::Syscall(syscall),
                reason: refusal.reason().to_owned(),
            });
            let _ = notify.respond_errno(n.id, Errno::ACCESS.raw_os_error());
        }
    }
}

/// A path through one of a process's magic links (`/proc/self/fd/N`, `/proc/self/cwd`,
/// `/proc/self/root`, `/proc/self/exe`, their `/proc/thread-self`, `/proc/PID` and
/// `/proc/PID/task/TID` forms, `/dev/fd/N`, `/dev/std{in,out,err}`), and what it names
/// beyond the link (see [`through_link`]).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Through {
    /// The process directory the link is in: the caller's thread group for `self`,
    /// `thread-self` and `/dev/fd`, else the number named.
    pub(crate) pid: u32,
    /// The link below that directory: `fd/N`, `cwd`, `root`, `exe`, or `task/TID/...` of
    /// those — spelled with the directory's own pid, so that the kernel looks `TID` up among
    /// that process's threads (red team 31: `/proc/self/task/OTHER/fd/N` named no thread of
    /// the command, and the report read another process's descriptor).
    pub(crate) link: PathBuf,
    /// The names after the link, as spelled (`..` kept: beyond a magic link it climbs from
    /// where the link leads, not back into `/proc`).
    pub(crate) rest: PathBuf,
}

impl Through {
    /// Whether a `..` follows the link: the lexical normalisation every other `/proc` path
    /// gets would climb back into `/proc` (`/proc/self/cwd/../f` is not `/proc/self/f`).
    pub(crate) fn climbs(&self) -> bool {
        self.rest.components().any(|c| c == Component::ParentDir)
    }
}

/// Where the lookup of `path` (absolute, *as the command spelled it*: not normalised) passes a
/// process's magic link, for thread `tid`: the names before the link normalised, the rest
/// kept. `None` for a path through none. The link itself is the kernel's: only
/// [`ProcFs::read_link`] reads it, for a process of the sandbox.
pub(crate) fn through_link(path: &Path, tid: u32) -> Option<Through> {
    let num = |s: &OsStr| -> Option<u32> {
        let b = s.as_bytes();
        if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(b).ok()?.parse().ok()
    };
    let own = || thread_group(tid).unwrap_or(tid);
    let mut names: Vec<&OsStr> = Vec::new();
    let mut comps = path.components();
    if comps.next() != Some(Component::RootDir) {
        return None;
    }
    let is_link = |n: &OsStr| n == "cwd" || n == "root" || n == "exe";
    while let Some(c) = comps.next() {
        match c {
            Component::Normal(n) => names.push(n),
            Component::ParentDir => {
                names.pop();
                continue;
            }
            _ => continue,
        }
        let found: Option<(u32, PathBuf)> = match names.as_slice() {
            [dev, std] if *dev == "dev" => match std.to_str() {
                Some("stdin") => Some((own(), "fd/0".into())),
                Some("stdout") => Some((own(), "fd/1".into())),
                Some("stderr") => Some((own(), "fd/2".into())),
                _ => None,
            },
            [dev, fd, n] if *dev == "dev" && *fd == "fd" => {
                num(n).map(|n| (own(), format!("fd/{n}").into()))
            }
            [proc, who, rest @ ..] if *proc == "proc" => {
                let (pid, mut link) = match who.to_str() {
                    Some("self") => (own(), PathBuf::new()),
                    Some("thread-self") => (own(), PathBuf::from(format!("task/{tid}"))),
                    _ => match num(who) {
                        Some(p) => (p, PathBuf::new()),
                        None => continue,
                    },
                };
                let rest = match rest {
                    [task, t, more @ ..] if *task == "task" => {
                        let Some(t) = num(t) else { continue };
                        if !link.as_os_str().is_empty() {
                            // `thread-self/task`: no such entry.
                            continue;
                        }
                        link.push(format!("task/{t}"));
                        more
                    }
                    other => other,
                };
                match rest {
                    [l] if is_link(l) => {
                        link.push(l);
                        Some((pid, link))
                    }
                    [fd, n] if *fd == "fd" => num(n).map(|n| {
                        link.push(format!("fd/{n}"));
                        (pid, link)
                    }),
                    _ => None,
                }
            }
            _ => None,
        };
        if let Some((pid, link)) = found {
            let rest: PathBuf = comps.map(|c| c.as_os_str()).collect();
            return Some(Through { pid, link, rest });
        }
    }
    None
}

/// `/proc/...` (or `/dev/fd/...`) → which directory it names, with `self`/`thread-self`
/// rewritten for thread `tid`, and the two top-level symlinks (`net`, `mounts`) rewritten to
/// the process directory they point into.
/// Whether [`ProcFs::open`] may serve the clean absolute `path` (`/proc`, `/dev/fd`,
/// `/dev/std*`): a byte test, so that the broker's fast path skips parsing every other path.
pub(crate) fn may_claim(path: &Path) -> bool {
    let b = path.as_os_str().as_bytes();
    b == b"/proc" || b.starts_with(b"/proc/") || b.starts_with(b"/dev/")
}

fn parse(path: &Path, tid: u32) -> Option<Target> {
    let mut comps = path.components();
    if comps.next() != Some(Component::RootDir) {
        return None;
    }
    let names: Vec<&OsStr> = comps
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect();
    match names.as_slice() {
        // `/dev/fd` itself is `/proc/self/fd`, a directory to list, not a magic link (red
        // team 30: `ls /dev/fd` was refused by Landlock, unreported).
        [dev, fd] if *dev == "dev" && *fd == "fd" => {
            return Some(Target::Process(
                thread_group(tid).unwrap_or(tid),
                vec![OsString::from("fd")],
            ))
        }
        [dev, fd, ..] if *dev == "dev" && *fd == "fd" => return Some(Target::DevFd),
        [dev, std]
            if *dev == "dev" && [&"stdin", &"stdout", &"stderr"].iter().any(|s| *std == **s) =>
        {
            return Some(Target::DevFd)
        }
        [proc, ..] if *proc == "proc" => {}
        _ => return None,
    }
    let rest = &names[1..];
    let Some(first) = rest.first() else {
        return Some(Target::System(Vec::new()));
    };
    let tgid = || thread_group(tid).unwrap_or(tid);
    let first_bytes = first.as_bytes();
    if *first == "self" || *first == "net" || *first == "mounts" {
        let after = if *first == "self" { &rest[1..] } else { rest };
        return Some(Target::Process(tgid(), owned(after)));
    }
    if *first == "thread-self" {
        let mut after = vec![OsString::from("task"), OsString::from(tid.to_string())];
        after.extend(rest[1..].iter().map(|c| c.to_os_string()));
        return Some(Target::Process(tgid(), after));
    }
    if !first_bytes.is_empty() && first_bytes.iter().all(u8::is_ascii_digit) {
        let pid = std::str::from_utf8(first_bytes).ok()?.parse().ok()?;
        return Some(Target::Process(pid, owned(&rest[1..])));
    }
    Some(Target::System(owned(rest)))
}

fn owned(c: &[&OsStr]) -> Vec<OsString> {
    c.iter().map(|c| c.to_os_string()).collect()
}

/// Whether `rest` (components after the pid) passes through a magic link.
fn is_magic(rest: &[OsString]) -> bool {
    let rest = match rest {
        [task, _tid, more @ ..] if *task == "task" => more,
        other => other,
    };
    match rest {
        [first, second, ..] if MAGIC_DIRS.iter().any(|m| *first == *m) => !second.is_empty(),
        [first, ..] if MAGIC_DIRS.iter().any(|m| *first == *m) => false,
        [first, ..] => MAGIC.iter().any(|m| *first == *m),
        [] => false,
    }
}

/// How `run` answers an open under `/proc` (see [`explain_proc`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcVerdict {
    /// Whether the open is served.
    pub allowed: bool,
    /// Why, in words.
    pub reason: &'static str,
}

/// The procfs broker's answer to an open of `path` (absolute, lexically normalised) with
/// `access`, as far as it can be told before any process runs: what `nono why` shows for
/// `/proc`, where under `run` the supervisor decides and no path grant counts. A numeric pid
/// is taken to be a process outside the sandbox (the sandbox's own pids are not known yet;
/// the command reaches its own entries as `/proc/self`). `None`: not a `/proc` path.
#[must_use]
pub fn explain_proc(path: &Path, access: nono_wire::AccessMode) -> Option<ProcVerdict> {
    let mut comps = path.components();
    if comps.next() != Some(Component::RootDir) {
        return None;
    }
    let names: Vec<OsString> = comps
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            _ => None,
        })
        .collect();
    if names.first().map(OsString::as_os_str) != Some(OsStr::new("proc")) {
        return None;
    }
    let rest = &names[1..];
    let writes = access.writes();
    let served = |reason| ProcVerdict {
        allowed: true,
        reason,
    };
    let refused = |reason| ProcVerdict {
        allowed: false,
        reason,
    };
    let Some(first) = rest.first() else {
        return Some(if writes {
            refused(ProcRefusal::SystemReadOnly.reason())
        } else {
            served("/proc itself is served for listing")
        });
    };
    let own = match first.to_str() {
        Some("self" | "net" | "mounts") => Some(if first == "self" { &rest[1..] } else { rest }),
        Some("thread-self") => Some(&rest[1..]),
        _ => None,
    };
    if let Some(own) = own {
        return Some(if is_magic(own) {
            served("a magic link of the command's own process: the object it leads to is judged by its own grants")
        } else if writes && !own_writable(own) {
            refused(ProcRefusal::OwnReadOnly.reason())
        } else {
            served("an entry of the command's own process, served by the supervisor")
        });
    }
    if first.as_bytes().iter().all(u8::is_ascii_digit) {
        return Some(refused(ProcRefusal::OtherProcess.reason()));
    }
    Some(if !SYSTEM.iter().any(|s| first == *s) {
        refused(ProcRefusal::NotListed.reason())
    } else if writes {
        refused(ProcRefusal::SystemReadOnly.reason())
    } else {
        served("a system-wide /proc entry on the allow-list, served read-only by the supervisor")
    })
}

/// Whether `rest` names an entry of the caller's own process it may write.
fn own_writable(rest: &[OsString]) -> bool {
    let rest = match rest {
        [task, _tid, more @ ..] if *task == "task" => more,
        other => other,
    };
    matches!(rest, [one] if OWN_WRITABLE.iter().any(|w| *one == *w))
}

/// Open `rest` beneath `dir` with the child's flags (reduced to the ones that make sense for
/// procfs), refusing any symlink or magic link on the way. As the child: the kernel checks
/// its access to the entry, and the file carries its credentials (`pagemap` shows page frame
/// numbers, `stack` a kernel stack, only to an opener with `CAP_SYS_ADMIN`).
fn open_beneath(
    _as_child: &ActingAsChild,
    dir: &OwnedFd,
    rest: &[OsString],
    flags: OFlags,
) -> Result<OwnedFd, Errno> {
    let mut rel = PathBuf::new();
    for c in rest {
        rel.push(c);
    }
    if rel.as_os_str().is_empty() {
        rel.push(".");
    }
    let keep = OFlags::RWMODE
        | OFlags::DIRECTORY
        | OFlags::NONBLOCK
        | OFlags::NOFOLLOW
        | OFlags::TRUNC
        | OFlags::APPEND
        | OFlags::LARGEFILE
        | OFlags::NOCTTY;
    rustix::fs::openat2(
        dir,
        &rel,
        (flags & keep) | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )
}

/// The fields of `/proc/PID/status` the ancestry check needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Status {
    tgid: u32,
    ppid: u32,
}

fn parse_status(text: &str) -> Option<Status> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<u32>().ok())
    };
    Some(Status {
        tgid: field("Tgid:")?,
        ppid: field("PPid:")?,
    })
}

fn read_status_at(pin: &OwnedFd) -> Option<Status> {
    let fd = rustix::fs::openat(
        pin,
        "status",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let mut buf = [0u8; 4096];
    let mut len = 0;
    while len < buf.len() {
        match rustix::io::read(&fd, &mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(Errno::INTR) => {}
            Err(_) => return None,
        }
    }
    parse_status(std::str::from_utf8(&buf[..len]).ok()?)
}

fn read_status(pid: u32) -> Option<Status> {
    parse_status(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

/// The thread-group id (process id) of thread `tid`.
///
/// Fast path: `pidfd_open` without `PIDFD_THREAD` succeeds only for a thread-group leader, so
/// for a single-threaded child (the common case) one cheap syscall answers; otherwise the
/// `Tgid:` line of `/proc/TID/status` (whose generation costs several microseconds).
pub(crate) fn thread_group(tid: u32) -> Option<u32> {
    let pid = rustix::process::Pid::from_raw(i32::try_from(tid).ok()?)?;
    if rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).is_ok() {
        return Some(tid);
    }
    read_status(tid).map(|s| s.tgid)
}

/// A pidfd of thread `tid`'s process, as [`thread_group`] finds it but without opening the
/// leader's pidfd twice: for a thread-group leader the first `pidfd_open` is the answer.
/// `ESRCH` if the thread cannot be found.
pub(crate) fn process_pidfd(tid: u32) -> Result<OwnedFd, Errno> {
    let pid = |id: u32| {
        rustix::process::Pid::from_raw(i32::try_from(id).map_err(|_| Errno::SRCH)?)
            .ok_or(Errno::SRCH)
    };
    if let Ok(fd) = rustix::process::pidfd_open(pid(tid)?, rustix::process::PidfdFlags::empty()) {
        return Ok(fd);
    }
    let tgid = read_status(tid).ok_or(Errno::SRCH)?.tgid;
    rustix::process::pidfd_open(pid(tgid)?, rustix::process::PidfdFlags::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_through_a_magic_link_names_the_link_with_its_own_pid() {
        let me = std::process::id();
        let tid = u32::try_from(rustix::thread::gettid().as_raw_nonzero().get()).unwrap();
        let t = |p: &str| {
            through_link(Path::new(p), tid).map(|t| {
                (
                    t.pid,
                    t.link.display().to_string(),
                    t.rest.display().to_string(),
                    t.climbs(),
                )
            })
        };
        let s = |pid: u32, l: &str, r: &str, c: bool| Some((pid, l.to_owned(), r.to_owned(), c));
        assert_eq!(t("/proc/self/fd/3"), s(me, "fd/3", "", false));
        assert_eq!(t("/dev/fd/4/x"), s(me, "fd/4", "x", false));
        assert_eq!(t("/dev/stderr"), s(me, "fd/2", "", false));
        assert_eq!(t("/proc/self/root/etc/x"), s(me, "root", "etc/x", false));
        assert_eq!(t("/proc/self/cwd/../f"), s(me, "cwd", "../f", true));
        assert_eq!(
            t("/proc/thread-self/cwd"),
            s(me, &format!("task/{tid}/cwd"), "", false)
        );
        // Another process's thread is looked up among the named process's threads.
        assert_eq!(t("/proc/self/task/1/fd/7"), s(me, "task/1/fd/7", "", false));
        assert_eq!(t("/proc/42/task/43/exe"), s(42, "task/43/exe", "", false));
        // The names before the link are normalised; not a link: none.
        assert_eq!(t("/proc/self/fd/../cwd/a"), s(me, "cwd", "a", false));
        assert_eq!(t("/proc/self/status"), None);
        assert_eq!(t("/proc/self/fd"), None);
        assert_eq!(t("/proc/thread-self/task/1/cwd"), None);
        assert_eq!(t("/etc/passwd"), None);
    }

    fn names(t: &Target) -> String {
        match t {
            Target::System(r) => format!("system:{}", join(r)),
            Target::Process(p, r) => format!("{p}:{}", join(r)),
            Target::DevFd => "devfd".into(),
        }
    }

    fn join(r: &[OsString]) -> String {
        r.iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/")
    }

    #[test]
    fn paths_are_classified_with_self_rewritten() {
        let me = std::process::id();
        let p = |s: &str| parse(Path::new(s), me).map(|t| names(&t));
        assert_eq!(p("/etc/passwd"), None);
        assert_eq!(p("/procfoo/x"), None);
        assert_eq!(p("/proc").as_deref(), Some("system:"));
        assert_eq!(p("/proc/cpuinfo").as_deref(), Some("system:cpuinfo"));
        assert_eq!(
            p("/proc/sys/kernel/ostype").as_deref(),
            Some("system:sys/kernel/ostype")
        );
        assert_eq!(p("/proc/self/status"), Some(format!("{me}:status")));
        assert_eq!(p("/proc/net/dev"), Some(format!("{me}:net/dev")));
        assert_eq!(p("/proc/mounts"), Some(format!("{me}:mounts")));
        assert_eq!(
            p("/proc/thread-self/comm"),
            Some(format!("{me}:task/{me}/comm"))
        );
        assert_eq!(p("/proc/1/environ").as_deref(), Some("1:environ"));
        assert_eq!(p("/dev/fd/3").as_deref(), Some("devfd"));
        assert_eq!(p("/dev/stdin").as_deref(), Some("devfd"));
        assert_eq!(p("/dev/null"), None);
    }

    #[test]
    fn magic_links_are_recognised() {
        let v = |s: &str| -> Vec<OsString> { s.split('/').map(OsString::from).collect() };
        for m in [
            "fd/3",
            "cwd",
            "cwd/x",
            "root/etc/passwd",
            "exe",
            "ns/net",
            "map_files/1-2",
            "task/5/fd/0",
            "task/5/root",
        ] {
            assert!(is_magic(&v(m)), "{m}");
        }
        for m in [
            "fd",
            "fdinfo/3",
            "status",
            "task/5/status",
            "map_files",
            "ns",
            "environ",
        ] {
            assert!(!is_magic(&v(m)), "{m}");
        }
        assert!(own_writable(&v("comm")));
        assert!(own_writable(&v("task/7/comm")));
        assert!(!own_writable(&v("mem")));
        assert!(!own_writable(&v("task/7/mem")));
    }

    #[test]
    fn status_fields_parse() {
        let s = "Name:\tsh\nUmask:\t0022\nState:\tS\nTgid:\t42\nNgid:\t0\nPid:\t43\nPPid:\t7\n";
        assert_eq!(parse_status(s), Some(Status { tgid: 42, ppid: 7 }));
        assert_eq!(parse_status("Name: x\n"), None);
    }

    #[test]
    fn the_supervisors_own_entries_are_not_in_a_childs_sandbox() {
        // Root = a pid that is not an ancestor of this process: our entries are outside.
        let fs = ProcFs::new(u32::MAX - 1);
        let me = std::process::id();
        let creds = || ChildCreds::of_tid(me);
        let out = fs.open(
            me,
            Path::new(&format!("/proc/{me}/environ")),
            OFlags::RDONLY,
            creds,
        );
        assert!(matches!(out, Some(Outcome::Refused(_))), "{out:?}");
        // With this process as the root, its own entries are served.
        let fs = ProcFs::new(me);
        let out = fs.open(me, Path::new("/proc/self/status"), OFlags::RDONLY, creds);
        assert!(matches!(out, Some(Outcome::Opened(_))), "{out:?}");
        let out = fs.open(me, Path::new("/proc/self/fd/0"), OFlags::RDONLY, creds);
        assert!(matches!(out, Some(Outcome::Continue)), "{out:?}");
        let out = fs.open(me, Path::new("/proc/cpuinfo"), OFlags::RDONLY, creds);
        assert!(matches!(out, Some(Outcome::Opened(_))), "{out:?}");
        let out = fs.open(me, Path::new("/proc/kcore"), OFlags::RDONLY, creds);
        assert!(matches!(out, Some(Outcome::Refused(_))), "{out:?}");
        let out = fs.open(
            me,
            Path::new("/proc/sys/kernel/ostype"),
            OFlags::WRONLY,
            creds,
        );
        assert!(matches!(out, Some(Outcome::Refused(_))), "{out:?}");
    }
}

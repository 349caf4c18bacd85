//! The run's init: the supervisor's direct child, which forks the command and stays between
//! them, so that nothing of the sandbox outlives nono — also after `kill -9` of nono, when
//! no code of the supervisor runs any more.
//!
//! ```text
//! nono (supervisor) ── init (session leader, child subreaper, not sandboxed, runs no exec)
//!                        └── the command (Landlock + seccomp) ── its children, daemons, ...
//! ```
//!
//! - The init is a **child subreaper**: whatever the tree orphans (double-forked daemons,
//!   `setsid` children) is re-parented to it, not to the system's init, so the whole tree
//!   stays its descendants — and its descendants can be listed without guessing
//!   (`/proc/thread-self/children`, or a `/proc/*/stat` scan for our pid as parent).
//! - It gets a catchable **parent-death signal** ([`DEATH_SIGNAL`]): when the supervisor
//!   dies, it writes `1` to the run's `cgroup.kill` when there is a run cgroup (atomic, a
//!   fork bomb cannot outrun it; the init itself is not in that cgroup), then kills every
//!   child with `SIGKILL` and reaps, re-listing until it has no child left (each kill re-parents the victim's
//!   children to us, and a killed process cannot fork any more, so this ends).
//!   The command itself has `PR_SET_PDEATHSIG(SIGKILL)` towards the init.
//! - While the command runs it only reaps: when the command exits, the init exits with the
//!   same status (the same signal for a signal death), so the supervisor sees exactly what
//!   it saw before there was an init. Signals the supervisor forwards to the process group
//!   reach the command as before; the init ignores them.
//! - It is not dumpable (`PR_SET_DUMPABLE 0`: its memory is a copy of the supervisor's) and
//!   holds no fd but stdio. It is outside the sandbox's Landlock domain, so the command
//!   cannot signal or ptrace it where Landlock scopes signals (ABI 6).
//!
//! Everything here runs in a forked child of a multi-threaded process: raw system calls on
//! stack buffers only (no allocation, no locks).

#![allow(unsafe_code)]

use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use rustix::fs::{Mode, OFlags};

/// The init's parent-death signal (catchable, unlike the command's `SIGKILL`).
pub(crate) const DEATH_SIGNAL: i32 = libc::SIGUSR1;

/// Signals the init ignores: the ones the supervisor forwards to the process group (they are
/// the command's), and job-control/terminal ones.
const IGNORED: [i32; 10] = [
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGTSTP,
    libc::SIGTTIN,
    libc::SIGTTOU,
    libc::SIGPIPE,
    libc::SIGWINCH,
    libc::SIGUSR2,
];

fn sigset(signals: &[i32]) -> libc::sigset_t {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set it is given (a valid pointer to our local).
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
    }
    for s in signals {
        // SAFETY: the set was initialised above; sigaddset only writes into it, and every
        // number passed is a valid signal.
        unsafe {
            libc::sigaddset(set.as_mut_ptr(), *s);
        }
    }
    // SAFETY: initialised by sigemptyset.
    unsafe { set.assume_init() }
}

fn set_mask(how: i32, signals: &[i32]) -> std::io::Result<()> {
    let set = sigset(signals);
    // SAFETY: `set` is an initialised sigset; the old mask is not asked for.
    let rc = unsafe { libc::sigprocmask(how, &set, std::ptr::null_mut()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The set blocked across the fork of the command, so that no signal can end the init
/// between the fork and its setup: `SIGCHLD`, [`DEATH_SIGNAL`] and [`IGNORED`].
fn blocked() -> [i32; 12] {
    let mut all = [libc::SIGCHLD; 12];
    all[1] = DEATH_SIGNAL;
    all[2..].copy_from_slice(&IGNORED);
    all
}

/// `struct clone_args` up to `cgroup` (`CLONE_ARGS_SIZE_VER2`, Linux 5.7).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Become a child subreaper and block the init's signals; then fork the command — straight
/// into the run's cgroup (`cgroup`: its directory) with `clone3(CLONE_INTO_CGROUP)`, or, on
/// kernels without it, with a plain fork after which the command moves itself there (a
/// write to `cgroup.procs`, which costs an RCU grace period: ~10 ms here, against ~0 for
/// `CLONE_INTO_CGROUP`). Either way the command is in the cgroup before its first
/// instruction; the init itself stays in nono's cgroup. Returns `Ok(None)` in the command
/// (whose signal mask is emptied again, as std left it) and `Ok(Some(pid))` in the init.
/// Async-signal-safe.
///
/// # References
/// - [`PR_SET_CHILD_SUBREAPER`](https://man7.org/linux/man-pages/man2/PR_SET_CHILD_SUBREAPER.2const.html)
/// - [`clone3(2)`](https://man7.org/linux/man-pages/man2/clone3.2.html), `CLONE_INTO_CGROUP`
pub(crate) fn fork_command(cgroup: Option<BorrowedFd<'_>>) -> std::io::Result<Option<i32>> {
    // SAFETY: prctl with an integer argument; no memory is passed.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    set_mask(libc::SIG_BLOCK, &blocked())?;
    let mut pid = -1;
    let mut joined = false;
    if let Some(dir) = cgroup {
        let args = CloneArgs {
            flags: CLONE_INTO_CGROUP,
            exit_signal: libc::SIGCHLD as u64,
            cgroup: dir.as_raw_fd() as u64,
            ..CloneArgs::default()
        };
        // SAFETY: clone3 without CLONE_VM or a stack behaves like fork (the child continues
        // on a copy of this stack); `args` is a valid clone_args of the size passed. This
        // process is single-threaded (the child of std's fork), so the copy is consistent.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_clone3,
                &args as *const CloneArgs,
                std::mem::size_of::<CloneArgs>(),
            )
        };
        match rc {
            -1 => {
                let err = std::io::Error::last_os_error();
                if !matches!(err.raw_os_error(), Some(libc::ENOSYS | libc::E2BIG)) {
                    return Err(err);
                }
            }
            rc => {
                pid = i32::try_from(rc).unwrap_or(-1);
                joined = true;
            }
        }
    }
    if !joined {
        // SAFETY: as above: a single-threaded process forks; both sides only make raw
        // system calls.
        pid = unsafe { libc::fork() };
    }
    match pid {
        -1 => Err(std::io::Error::last_os_error()),
        0 => {
            if let (Some(dir), false) = (cgroup, joined) {
                let procs = rustix::fs::openat(
                    dir,
                    c"cgroup.procs",
                    OFlags::WRONLY | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                rustix::io::write(&procs, b"0")?;
            }
            set_mask(libc::SIG_SETMASK, &[])?;
            Ok(None)
        }
        pid => Ok(Some(pid)),
    }
}

/// The init's life after the fork: never returns. `command` is the command's pid,
/// `supervisor` the supervisor's, `cgroup_kill` the run cgroup's `cgroup.kill` if any.
pub(crate) fn run(command: i32, supervisor: i32, cgroup_kill: Option<&CStr>) -> ! {
    // SAFETY: prctl with integer arguments.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
    // std's exec-error pipe (the supervisor's spawn waits for its EOF), the report socket,
    // the SDK socket: the command has its own copies.
    let _ = crate::os::close_from(3);
    for s in IGNORED {
        // SAFETY: SIG_IGN for a catchable signal; no handler code is installed.
        unsafe {
            libc::signal(s, libc::SIG_IGN);
        }
    }
    let _ = set_mask(libc::SIG_UNBLOCK, &IGNORED);
    let wait = sigset(&[libc::SIGCHLD, DEATH_SIGNAL]);
    loop {
        if rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get()) != supervisor {
            kill_tree(cgroup_kill);
        }
        reap(command, supervisor, cgroup_kill);
        // SAFETY: `wait` is an initialised sigset of blocked signals; no siginfo is asked for.
        unsafe {
            libc::sigwaitinfo(&wait, std::ptr::null_mut());
        }
    }
}

/// Reap every exited child; when the command is among them, end its detached orphans and
/// exit like it (or, if the supervisor died meanwhile, end the whole tree).
fn reap(command: i32, supervisor: i32, cgroup_kill: Option<&CStr>) {
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes the status into our local.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return;
        }
        if pid == command {
            end_detached();
            if rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get()) != supervisor {
                kill_tree(cgroup_kill);
            }
            exit_like(status);
        }
    }
}

/// Reap whatever has exited, not looking at who. Returns `false` when the init has no child
/// left at all (`ECHILD`): then it has no descendant either, and none can become its child
/// any more (only a descendant is re-parented to a subreaper).
fn reap_quiet() -> bool {
    loop {
        // SAFETY: waitpid with no status pointer.
        let pid = unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) };
        if pid > 0 {
            continue;
        }
        return !(pid < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD));
    }
}

/// Signal (with `Some`) or just count the init's children that left its session.
fn detached_children(me: i32, signal: Option<rustix::process::Signal>) -> bool {
    let mut any = false;
    for_each_child(me, |pid| {
        let Some(p) = rustix::process::Pid::from_raw(pid) else {
            return;
        };
        if rustix::process::getsid(Some(p)).is_ok_and(|sid| sid.as_raw_nonzero().get() != me) {
            any = true;
            if let Some(sig) = signal {
                let _ = rustix::process::kill_process(p, sig);
                if sig == rustix::process::Signal::TERM {
                    let _ = rustix::process::kill_process(p, rustix::process::Signal::CONT);
                }
            }
        }
    });
    any
}

/// Wait up to `ms` for a child to change state (or the supervisor to die).
fn wait_child(ms: u64) {
    let set = sigset(&[libc::SIGCHLD, DEATH_SIGNAL]);
    let ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: libc::c_long::try_from(ms.min(999) * 1_000_000).unwrap_or(0),
    };
    // SAFETY: `set` is an initialised sigset of blocked signals, `ts` a valid timespec; no
    // siginfo is asked for.
    unsafe {
        libc::sigtimedwait(&set, std::ptr::null_mut(), &ts);
    }
}

/// The command exited. Its orphans that left the init's session (double-forked daemons) are
/// the init's children now; once the init exits, nothing could tell them from unrelated
/// processes (the supervisor's leftover scan finds the session's members and their
/// descendants, see `leftovers.rs`). So they are ended here, the way the supervisor ends
/// the rest: `SIGTERM` (+ `SIGCONT`), up to [`crate::leftovers::GRACE`], then `SIGKILL` in
/// bounded rounds. Session members are left to the supervisor, which reports them. The
/// common case (the init has no child left at all) costs one `waitpid`; with children
/// left, one read of the children list tells whether any of them left the session.
fn end_detached() {
    let me = rustix::process::getpid().as_raw_nonzero().get();
    if !reap_quiet() {
        return;
    }
    if !detached_children(me, Some(rustix::process::Signal::TERM)) {
        return;
    }
    let grace_ms = u64::try_from(crate::leftovers::GRACE.as_millis()).unwrap_or(500);
    let mut waited = 0;
    while waited < grace_ms {
        wait_child(10);
        waited += 10;
        if !reap_quiet() || !detached_children(me, None) {
            return;
        }
    }
    for _ in 0..64 {
        if !reap_quiet() || !detached_children(me, Some(rustix::process::Signal::KILL)) {
            return;
        }
        wait_child(50);
    }
}

/// Exit with the command's status: its code, or the same signal.
fn exit_like(status: i32) -> ! {
    if libc::WIFSIGNALED(status) {
        let sig = libc::WTERMSIG(status);
        let _ = rustix::process::setrlimit(
            rustix::process::Resource::Core,
            rustix::process::Rlimit {
                current: Some(0),
                maximum: Some(0),
            },
        );
        // SAFETY: the default disposition for `sig`; no handler code is installed.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
        }
        // A signal to ourselves, delivered when it is unblocked (if it is fatal, the
        // process ends there).
        if let Some(s) = rustix::process::Signal::from_named_raw(sig) {
            let _ = rustix::process::kill_process(rustix::process::getpid(), s);
        }
        let _ = set_mask(libc::SIG_UNBLOCK, &[sig]);
        // SAFETY: _exit is async-signal-safe and ends the process.
        unsafe { libc::_exit(128 + sig) }
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        125
    };
    // SAFETY: as above.
    unsafe { libc::_exit(code) }
}

/// The supervisor is gone: end the whole tree, then ourselves.
fn kill_tree(cgroup_kill: Option<&CStr>) -> ! {
    if let Some(path) = cgroup_kill {
        if let Ok(fd) = rustix::fs::open(path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty()) {
            // Kills every task of the cgroup at once (the command's whole tree).
            let _ = rustix::io::write(&fd, b"1");
        }
    }
    let me = rustix::process::getpid().as_raw_nonzero().get();
    loop {
        for_each_child(me, |pid| {
            // SAFETY: plain kill(2). `pid` is our child (listed as such; only we reap it, so
            // its number cannot be reused before we do).
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        });
        // SAFETY: waitpid with no status pointer.
        let pid = unsafe { libc::waitpid(-1, std::ptr::null_mut(), 0) };
        if pid < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD) {
            break;
        }
    }
    // SAFETY: as above.
    unsafe { libc::_exit(128 + libc::SIGKILL) }
}

/// Call `f` with the pid of each child of this (single-threaded) process:
/// `/proc/thread-self/children` (CONFIG_PROC_CHILDREN), else a scan of `/proc/*/stat`.
fn for_each_child(me: i32, mut f: impl FnMut(i32)) {
    if let Ok(fd) = rustix::fs::open(
        c"/proc/thread-self/children",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        let mut buf = [0u8; 4096];
        let mut cur: Option<i32> = None;
        while let Ok(n) = rustix::io::read(&fd, &mut buf) {
            if n == 0 {
                break;
            }
            for &b in &buf[..n] {
                if b.is_ascii_digit() {
                    let d = i32::from(b - b'0');
                    cur = Some(cur.unwrap_or(0).saturating_mul(10).saturating_add(d));
                } else if let Some(pid) = cur.take() {
                    f(pid);
                }
            }
        }
        if let Some(pid) = cur {
            f(pid);
        }
        return;
    }
    let Ok(proc_dir) = rustix::fs::open(
        c"/proc",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return;
    };
    let mut space = [MaybeUninit::<u8>::uninit(); 4096];
    let mut dir = rustix::fs::RawDir::new(proc_dir.as_fd(), &mut space);
    while let Some(entry) = dir.next() {
        let Ok(entry) = entry else { break };
        let name = entry.file_name().to_bytes();
        if name.is_empty() || !name.iter().all(u8::is_ascii_digit) || name.len() > 10 {
            continue;
        }
        // "<pid>/stat\0" on the stack.
        let mut path = [0u8; 16];
        path[..name.len()].copy_from_slice(name);
        path[name.len()..name.len() + 6].copy_from_slice(b"/stat\0");
        let Ok(cpath) = CStr::from_bytes_with_nul(&path[..name.len() + 6]) else {
            continue;
        };
        let Ok(stat) = rustix::fs::openat(
            proc_dir.as_fd(),
            cpath,
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        ) else {
            continue;
        };
        let mut buf = [0u8; 1024];
        let Ok(n) = rustix::io::read(&stat, &mut buf) else {
            continue;
        };
        // `pid (comm) S ppid ...`: the ppid is the second field after the last ')'.
        let text = &buf[..n];
        let Some(close) = text.iter().rposition(|&b| b == b')') else {
            continue;
        };
        let ppid = text[close + 1..]
            .split(|&b| b == b' ')
            .filter(|w| !w.is_empty())
            .nth(1)
            .and_then(|w| {
                w.iter().try_fold(0i32, |a, &d| {
                    d.is_ascii_digit()
                        .then(|| a.saturating_mul(10).saturating_add(i32::from(d - b'0')))
                })
            });
        if ppid == Some(me) {
            let pid = name.iter().fold(0i32, |a, &d| {
                a.saturating_mul(10).saturating_add(i32::from(d - b'0'))
            });
            f(pid);
        }
    }
}

//! Spawning the sandboxed child: `PATH` search and every allocation before `fork`, then only
//! async-signal-safe steps in the child (session/PTY, parent-death signal, fd hygiene,
//! sandbox enforcement, handing the seccomp listener to the parent), then `execve`.
//!
//! # Fork engine
//! `std::process::Command` with a `pre_exec` hook. std already does the delicate parts right:
//! argv/envp are built before the fork, the exec error travels back over a close-on-exec pipe
//! (so `spawn` returns the child's `execve` errno), stdio is `dup2`ed, the signal mask and
//! `SIGPIPE` are reset, and the child is reaped if exec fails. We resolve the program against
//! the *child's* `PATH` ourselves before the fork and hand std an absolute path, so the exec
//! in the child is a plain `execve` (no `execvp` search after fork).
//!
//! Order in the child (std runs our hook after `dup2` of stdio and `chdir`):
//! 1. `setsid` (always: the child gets no controlling terminal of ours, so it cannot
//!    `TIOCSTI` into it), or `setsid` + `TIOCSCTTY` on the PTY slave in PTY mode (the slave
//!    stands in for each std stream that is a terminal of ours, see `pty.rs`);
//! 2. `PR_SET_PDEATHSIG` (the init's catchable [`init::DEATH_SIGNAL`]), then `getppid()`
//!    compared with the supervisor's pid to close the race where the supervisor died before
//!    the prctl;
//! 3. the child becomes the run's init (see `init.rs`): a child subreaper that forks the
//!    command — with a run cgroup, straight into it (`clone3(CLONE_INTO_CGROUP)` on the
//!    cgroup's directory fd, opened before the fork; or a fork and a write to its
//!    `cgroup.procs` in the command on kernels before 5.7) — and stays; everything below happens in the command, the init never returns
//!    to std. The command sets `PR_SET_PDEATHSIG(SIGKILL)` towards the init, checks its
//!    parent, and sends its pid to the supervisor over the report socket (signals are
//!    forwarded to the process group as before; the SDK and the brokers know the command);
//! 4. best-effort `setrlimit` fallbacks for limits no cgroup could enforce;
//! 5. every fd from 3 up marked close-on-exec (`close_range(CLOSE_RANGE_CLOEXEC)`) except the
//!    SDK socket, whose number is in `NONO_SUPERVISOR_FD`; marking rather than closing keeps
//!    std's exec-error pipe and our report socket alive until `execve`;
//! 6. the sandbox (`PreparedSandbox::enforce`: Landlock, then seccomp), whose notify listener,
//!    if any, is sent to the parent over the report socket (`SCM_RIGHTS`, stack buffers) and
//!    then closed in the child;
//! 7. `execve` (std). With trapping on, this `execve` is itself trapped (exec denials are
//!    reported, see `broker/path_ops.rs`) while `Command::spawn` still waits for its outcome,
//!    before any broker runs: a parent thread receives the listener meanwhile and answers
//!    the command's execs `CONTINUE` (`pass_first_exec`) until `Command::spawn` has returned.
//!    There may be more than one: std execs with `execvp`, and glibc's `execvp` retries a
//!    file that fails with `ENOEXEC` (a script without `#!`) as `execve("/bin/sh", ...)` —
//!    a second trapped exec that nobody would answer if the thread stopped after the first
//!    (`Command::spawn`, and with it the whole supervisor, then waited forever). That thread
//!    then stays and serves the listener for the run (`ListenerThread`, `Broker::spawn_thread`).
//!
//! A failing step writes `(step, errno)` to the report socket before the hook returns the
//! error, so the parent can tell "the sandbox could not be applied" from "exec failed".

use std::ffi::{CString, OsStr, OsString};
use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use rustix::io::Errno;
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};
use rustix::process::{Pid, PidfdFlags, Resource, Signal};

use nono_sandbox::linux::seccomp::{Notification, NotifyFd, NotifySet, Syscall};
use nono_sandbox::{PreparedSandbox, SandboxOptions};
use rustix::event::{PollFd, PollFlags};

use crate::env::SUPERVISOR_FD_VAR;
use crate::error::SupervisorError;
use crate::{init, os};

/// Steps in the child that can fail, as reported over the report socket.
const STEPS: [&str; 9] = [
    "setsid",
    "ioctl(TIOCSCTTY) on the PTY",
    "prctl(PR_SET_PDEATHSIG)",
    "the supervisor check (the supervisor died while the child started)",
    "close_range(CLOSE_RANGE_CLOEXEC)",
    "sandbox enforcement (Landlock/seccomp)",
    "joining the run's cgroup (write to cgroup.procs)",
    "starting the init (PR_SET_CHILD_SUBREAPER, clone3 into the run's cgroup or fork)",
    "setrlimit (best-effort limits)",
];
const STEP_SETSID: u32 = 0;
const STEP_TIOCSCTTY: u32 = 1;
const STEP_PDEATHSIG: u32 = 2;
const STEP_PARENT: u32 = 3;
const STEP_FDS: u32 = 4;
const STEP_SANDBOX: u32 = 5;
const STEP_CGROUP: u32 = 6;
const STEP_INIT: u32 = 7;
const STEP_RLIMIT: u32 = 8;
/// Report tag: "here is the listener fd".
const LISTENER: u32 = u32::MAX;
/// Report tag: "the command's pid is" (sent by the command, before anything else).
const COMMAND_PID: u32 = u32::MAX - 1;

/// The async-signal-safe sandbox step run in the child: returns the seccomp listener when
/// opens are trapped.
pub(crate) type Enforce = dyn Fn() -> Result<Option<OwnedFd>, Errno> + Send + Sync;

/// The syscalls a supervised run with trapped opens (`SpawnConfig::trap_opens`) traps for
/// `caps`: the open family, and everything the brokers serve. Pass it to
/// `PreparedSandbox::prepare` (`SandboxOptions::with_notify`) to see the enforcement status a
/// run would have (`--dry-run`, `nono setup`).
#[must_use]
pub fn trapped_syscalls(caps: &nono_sandbox::CapabilitySet) -> NotifySet {
    let mut set = NotifySet::open_family();
    let brokered = crate::broker::metadata::SYSCALLS
        .iter()
        .chain(crate::broker::unix_socket::SYSCALLS)
        .chain(crate::broker::path_ops::SYSCALLS)
        .chain(crate::broker::sched::SYSCALLS)
        .chain(crate::broker::inotify::SYSCALLS);
    for s in brokered {
        set.insert(*s);
    }
    // In port mode a refused TCP bind is reported (Landlock still decides; broker/tcp_bind.rs).
    if matches!(caps.network(), nono_sandbox::NetworkMode::Ports { .. }) {
        for s in crate::broker::tcp_bind::SYSCALLS {
            set.insert(*s);
        }
    }
    // In port mode `listen` is performed by the supervisor, which refuses to auto-bind an
    // unbound TCP socket (broker/tcp_listen.rs).
    if crate::broker::tcp_listen::trapped_in(caps.network()) {
        for s in crate::broker::tcp_listen::SYSCALLS {
            set.insert(*s);
        }
    }
    // Refused Unix datagram sockets are trapped rather than refused by the deny filter, so
    // that the report shows them (see broker/unix_socket.rs).
    if !caps.allows_unix_datagram() {
        for s in crate::broker::unix_socket::DATAGRAM_SOCKET_SYSCALLS {
            set.insert(*s);
        }
    }
    set
}

/// The Landlock capability set and the options the supervisor prepares the sandbox of a run
/// with: with opens trapped, the open family (and for learning also `bind` and the Unix
/// datagram sockets the reference refuses) and the refused sockets are trapped, and `/proc`
/// is served by the supervisor (`broker/procfs.rs`), so Landlock grants nothing there.
fn sandbox_inputs(
    caps: &nono_sandbox::CapabilitySet,
    trap_opens: bool,
    learn: Option<&crate::learn::Learning>,
) -> (nono_sandbox::CapabilitySet, SandboxOptions) {
    if !trap_opens {
        return (caps.clone(), SandboxOptions::default());
    }
    let mut set = trapped_syscalls(caps);
    // Learning records the ports bound (answered CONTINUE: the broad domain allows them).
    // ... and the Unix datagram sockets the reference refuses (allowed by the learning
    // domain, trapped to be recorded, then answered CONTINUE).
    if let Some(learn) = learn {
        set.insert(nono_sandbox::linux::seccomp::Syscall::Bind);
        if !crate::broker::learner::Learner::reference_allows_unix_datagram(learn) {
            for s in crate::broker::unix_socket::DATAGRAM_SOCKET_SYSCALLS {
                set.insert(*s);
            }
        }
    }
    // Sockets the network rules refuse are trapped too, refused with the same errno and
    // reported (broker/socket_family.rs).
    let opts = SandboxOptions::default()
        .with_notify(set)
        .with_refused_sockets_trapped();
    (crate::broker::procfs::landlock_caps(caps), opts)
}

/// The sandbox of a run that traps opens (as `nono run` does) for `caps`, prepared ahead of
/// the final capability set (see [`PreparedAhead`](nono_sandbox::PreparedAhead)): put it in
/// [`SpawnConfig::ahead`](crate::SpawnConfig::ahead). `None` when preparing failed (the run
/// prepares again and reports the error).
#[must_use]
pub fn prepare_ahead(caps: &nono_sandbox::CapabilitySet) -> Option<nono_sandbox::PreparedAhead> {
    let (landlock_caps, opts) = sandbox_inputs(caps, true, None);
    PreparedSandbox::prepare_ahead(landlock_caps, opts)
}

/// Build the sandbox for `config` before the fork (Landlock ruleset, seccomp programs, and
/// the open-family notify filter when opens are trapped), or take `config.ahead` where it is
/// exactly that sandbox, and return the async-signal-safe step the child runs.
pub(crate) fn prepare_sandbox(
    config: &mut crate::spawn_config::SpawnConfig,
) -> Result<
    (
        Box<Enforce>,
        nono_sandbox::EnforcementStatus,
        Vec<nono_sandbox::linux::landlock::FsRule>,
    ),
    SupervisorError,
> {
    let (landlock_caps, opts) =
        sandbox_inputs(&config.caps, config.trap_opens, config.learn.as_ref());
    let (mut prepared, reused) =
        PreparedSandbox::prepare_reusing(&landlock_caps, &opts, config.ahead.take())
            .map_err(|source| SupervisorError::Sandbox { source })?;
    tracing::debug!(reused, "sandbox prepared");
    let status = prepared.status().clone();
    let rules = prepared.take_path_rules();
    Ok((Box::new(move || prepared.enforce()), status, rules))
}

/// What to spawn: everything is owned here and moved into the child hook where needed.
pub(crate) struct ChildSpec<'a> {
    pub argv: &'a [OsString],
    pub env: Vec<(OsString, OsString)>,
    pub workdir: Option<&'a Path>,
    /// The child's end of the SDK socketpair (inherited at its own number).
    pub sdk: Option<OwnedFd>,
    /// The PTY slave, when the child runs on a PTY, and the std streams it replaces.
    pub pty_slave: Option<(OwnedFd, crate::pty::Terminals)>,
    /// Whether `enforce` returns a listener that the parent must receive.
    pub expect_listener: bool,
    /// The run's cgroup (its directory, `cgroup.kill` for the init), if any.
    pub cgroup: Option<(OwnedFd, CString)>,
    /// Best-effort `setrlimit` fallbacks, applied in the command.
    pub rlimits: Vec<(Resource, u64)>,
}

/// A running child.
#[derive(Debug)]
pub(crate) struct Spawned {
    /// The init (see `init.rs`): the direct child, whose status is the command's.
    pub child: Child,
    pub pidfd: OwnedFd,
    /// The command (the init's child).
    pub command: Pid,
    pub listener: Option<OwnedFd>,
    /// A notification of the started command that arrived before the broker existed (the
    /// first trapped call after a successful exec that is not itself an exec): pending, to
    /// be answered by the broker before anything else.
    pub pending: Option<Notification>,
    /// The thread that received the listener, waiting to serve it (see [`ListenerThread`]).
    pub server: Option<ListenerThread>,
}

/// Resolve `command` the way `execvp` would, against `path_var` (the child's `PATH`), before
/// the fork: [`crate::command_path::resolve`] (the one `PATH` search), or
/// [`SupervisorError::CommandNotFound`] (→ 127).
pub(crate) fn resolve_command(
    command: &OsStr,
    path_var: Option<&OsStr>,
    workdir: Option<&Path>,
) -> Result<PathBuf, SupervisorError> {
    crate::command_path::resolve(command, path_var, workdir).ok_or_else(|| {
        SupervisorError::CommandNotFound {
            command: command.to_owned(),
        }
    })
}

/// Fork and exec the child described by `spec`, running `enforce` in it before `execve`.
pub(crate) fn spawn(
    spec: ChildSpec<'_>,
    enforce: Box<Enforce>,
) -> Result<Spawned, SupervisorError> {
    let (command, args) = spec
        .argv
        .split_first()
        .ok_or(SupervisorError::EmptyCommand)?;
    if let Some(w) = spec.workdir {
        if !w.is_dir() {
            return Err(SupervisorError::Workdir {
                path: w.to_path_buf(),
            });
        }
    }
    let path_var = spec
        .env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_os_str());
    let program = resolve_command(command, path_var, spec.workdir)?;

    let (report_parent, report_child) = rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| SupervisorError::sys("socketpair (child report)", e))?;

    let mut cmd = Command::new(&program);
    cmd.arg0(command)
        .args(args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)));
    if let Some(sdk) = &spec.sdk {
        use std::os::fd::AsRawFd;
        cmd.env(SUPERVISOR_FD_VAR, sdk.as_raw_fd().to_string());
    }
    if let Some(w) = spec.workdir {
        cmd.current_dir(w);
    }
    // The slave replaces each std stream that is a terminal of ours; the others (a pipe, a
    // file) are inherited. The child's copy of `slave` itself (close-on-exec) is what the
    // hook makes its controlling terminal: stdin may be a pipe.
    let slave = match spec.pty_slave {
        Some((slave, streams)) => {
            let dup = |f: &OwnedFd| {
                f.try_clone()
                    .map(Stdio::from)
                    .map_err(|e| SupervisorError::Sys {
                        call: "dup (PTY slave)",
                        source: e,
                    })
            };
            if streams.stdin {
                cmd.stdin(dup(&slave)?);
            }
            if streams.stdout {
                cmd.stdout(dup(&slave)?);
            }
            if streams.stderr {
                cmd.stderr(dup(&slave)?);
            }
            Some(slave)
        }
        None => None,
    };

    let parent = rustix::process::getpid();
    let sdk = spec.sdk;
    let report = report_child;
    let cgroup = spec.cgroup;
    let rlimits = spec.rlimits;
    os::set_child_hook(&mut cmd, move || {
        child_setup(
            &ChildSetup {
                parent,
                pty_slave: slave.as_ref(),
                sdk: sdk.as_ref(),
                report: &report,
                cgroup: cgroup.as_ref(),
                rlimits: &rlimits,
            },
            &*enforce,
        )
    });

    // The child's own execve is trapped too (see broker/path_ops.rs), and `cmd.spawn()` waits
    // for its outcome: a thread takes the listener and lets the command's execs through
    // meanwhile, until `spawned` (below) closes `stop`. The same thread then serves the
    // listener for the run (see `ListenerThread`): one thread started, not two.
    let (first_exec, stop) = if spec.expect_listener {
        let report = report_parent
            .try_clone()
            .map_err(|e| SupervisorError::Sys {
                call: "dup (child report)",
                source: e,
            })?;
        let (stop_r, stop_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| SupervisorError::sys("pipe (first exec)", e))?;
        let thread = ListenerThread::start(move || {
            let first = pass_first_exec(&report, &stop_r);
            drop((report, stop_r));
            first
        })
        .map_err(|e| SupervisorError::Sys {
            call: "spawning the first-exec thread",
            source: e,
        })?;
        (Some(thread), Some(stop_w))
    } else {
        (None, None)
    };
    let spawned = cmd.spawn();
    // The exec succeeded or failed for good: the thread stops serving (it has either handed
    // over a pending notification already or has none).
    drop(stop);
    // Dropping the Command closes the parent's copies of the child's ends (report socket, SDK
    // socket, PTY slave), so the parent sees EOF/EIO when the child is gone.
    drop(cmd);
    // Its first part ends once the exec was let through, or at EOF/a step error when the
    // child failed; the thread then waits for its second job (or is let go).
    let (first, server) = match first_exec.map(ListenerThread::first) {
        // A thread that ended without a result let nothing through.
        Some((first, server)) => (Some(first.unwrap_or(Ok((None, None)))), Some(server)),
        None => (None, None),
    };
    let child = match spawned {
        Ok(child) => child,
        Err(err) => {
            if let Some(s) = server {
                s.finish();
            }
            if let Some((step, errno)) = read_step_error(&report_parent) {
                return Err(SupervisorError::ChildSetup {
                    step: STEPS.get(step as usize).copied().unwrap_or("setup"),
                    source: std::io::Error::from_raw_os_error(errno),
                });
            }
            return Err(exec_error(command, &program, err));
        }
    };
    let mut child = child;
    let supervised = (|| {
        let pid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX))
            .ok_or_else(|| SupervisorError::sys("fork", Errno::SRCH))?;
        let pidfd = rustix::process::pidfd_open(pid, PidfdFlags::empty())
            .map_err(|e| SupervisorError::sys("pidfd_open", e))?;
        let (command, listener, pending) = match first {
            Some(Ok((command, Some((l, pending))))) => (command, Some(l), pending),
            Some(Ok((_, None))) => {
                return Err(SupervisorError::sys(
                    "receiving the seccomp listener from the child",
                    Errno::PROTO,
                ))
            }
            Some(Err(e)) => return Err(e),
            None => (None, None, None),
        };
        // Without a listener, the command's pid is still in the socket (sent before its exec).
        let command = match command {
            Some(c) => c,
            None => read_command_pid(&report_parent)
                .ok_or_else(|| SupervisorError::sys("receiving the command's pid", Errno::PROTO))?,
        };
        Ok((pidfd, command, listener, pending))
    })();
    match supervised {
        Ok((pidfd, command, listener, pending)) => Ok(Spawned {
            child,
            pidfd,
            command,
            listener,
            pending,
            server,
        }),
        Err(e) => {
            end_unsupervised(&mut child);
            if let Some(s) = server {
                s.finish();
            }
            Err(e)
        }
    }
}

/// The listener thread of a run, its first job's result being the first exec's.
pub(crate) type ListenerThread =
    crate::listener_thread::ListenerThread<Result<FirstExec, SupervisorError>>;

/// A child that cannot be supervised (a step after the fork failed): kill it and everything
/// in its session before the error is returned, so that nothing of the sandbox runs on
/// unsupervised — or keeps the terminal — after `run` returned.
pub(crate) fn end_unsupervised(child: &mut Child) {
    let pid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
    if let Some(pid) = pid {
        // The child is a session and process group leader (setsid): its group is its pid.
        let _ = rustix::process::kill_process_group(pid, Signal::KILL);
    }
    let _ = child.kill();
    let _ = child.wait();
    if let Some(pid) = pid {
        let _ = crate::leftovers::terminate(pid, std::time::Duration::ZERO);
    }
}

fn exec_error(command: &OsStr, program: &Path, err: std::io::Error) -> SupervisorError {
    match err.raw_os_error() {
        Some(libc_enoent) if libc_enoent == Errno::NOENT.raw_os_error() => {
            SupervisorError::CommandNotFound {
                command: command.to_owned(),
            }
        }
        _ => SupervisorError::NotExecutable {
            command: command.to_owned(),
            path: program.to_path_buf(),
            source: err,
        },
    }
}

/// What the hook in the child works with (all allocated before the fork).
struct ChildSetup<'a> {
    parent: Pid,
    pty_slave: Option<&'a OwnedFd>,
    sdk: Option<&'a OwnedFd>,
    report: &'a OwnedFd,
    cgroup: Option<&'a (OwnedFd, CString)>,
    rlimits: &'a [(Resource, u64)],
}

/// The hook run in the child between fork and exec. Async-signal-safe: raw system calls on
/// values allocated before the fork, stack buffers only. The child becomes the init, which
/// never returns from here; the command (its child) goes on to `execve`.
fn child_setup(c: &ChildSetup<'_>, enforce: &Enforce) -> std::io::Result<()> {
    let report = c.report;
    let fail = |step: u32, errno: Errno| -> std::io::Error {
        report_step(report, step, errno.raw_os_error());
        errno.into()
    };
    let io_errno = |e: &std::io::Error| Errno::from_io_error(e).unwrap_or(Errno::INVAL);
    rustix::process::setsid().map_err(|e| fail(STEP_SETSID, e))?;
    if let Some(slave) = c.pty_slave {
        rustix::process::ioctl_tiocsctty(slave).map_err(|e| fail(STEP_TIOCSCTTY, e))?;
    }
    rustix::process::set_parent_process_death_signal(Signal::from_named_raw(init::DEATH_SIGNAL))
        .map_err(|e| fail(STEP_PDEATHSIG, e))?;
    if rustix::process::getppid() != Some(c.parent) {
        return Err(fail(STEP_PARENT, Errno::SRCH));
    }
    let init_pid = rustix::process::getpid();
    let cgroup = c.cgroup.map(|(dir, _)| dir.as_fd());
    let forked = init::fork_command(cgroup).map_err(|e| {
        // In the command, only joining the cgroup can fail (see `fork_command`).
        let step = if rustix::process::getpid() == init_pid {
            STEP_INIT
        } else {
            STEP_CGROUP
        };
        fail(step, io_errno(&e))
    })?;
    if let Some(command) = forked {
        init::run(
            command,
            c.parent.as_raw_nonzero().get(),
            c.cgroup.map(|(_, kill)| kill.as_c_str()),
        );
    }
    // The command, from here on.
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL))
        .map_err(|e| fail(STEP_PDEATHSIG, e))?;
    if rustix::process::getppid() != Some(init_pid) {
        return Err(fail(STEP_PARENT, Errno::SRCH));
    }
    report_command_pid(report);
    for (resource, value) in c.rlimits {
        // Only ever lowered: a limit already below the value stays as it is.
        let now = rustix::process::getrlimit(*resource);
        let value = now.maximum.map_or(*value, |max| max.min(*value));
        let limit = rustix::process::Rlimit {
            current: Some(now.current.map_or(value, |cur| cur.min(value))),
            maximum: Some(value),
        };
        rustix::process::setrlimit(*resource, limit).map_err(|e| fail(STEP_RLIMIT, e))?;
    }
    os::cloexec_from(3).map_err(|e| fail(STEP_FDS, io_errno(&e)))?;
    if let Some(sdk) = c.sdk {
        rustix::io::ioctl_fionclex(sdk).map_err(|e| fail(STEP_FDS, e))?;
    }
    match enforce() {
        Ok(Some(listener)) => {
            send_listener(report, &listener);
            drop(listener);
        }
        Ok(None) => {}
        Err(e) => return Err(fail(STEP_SANDBOX, e)),
    }
    Ok(())
}

fn report_command_pid(report: &OwnedFd) {
    let mut msg = [0u8; 8];
    msg[..4].copy_from_slice(&COMMAND_PID.to_ne_bytes());
    msg[4..].copy_from_slice(
        &rustix::process::getpid()
            .as_raw_nonzero()
            .get()
            .to_ne_bytes(),
    );
    let _ = rustix::net::send(report, &msg, SendFlags::NOSIGNAL);
}

/// The command's pid, from the message it sent before its exec (consumed).
fn read_command_pid(report: &OwnedFd) -> Option<Pid> {
    let mut msg = [0u8; 8];
    let n = rustix::net::recv(report, &mut msg, RecvFlags::DONTWAIT | RecvFlags::PEEK)
        .ok()?
        .0;
    if n != 8 || msg[..4] != COMMAND_PID.to_ne_bytes() {
        return None;
    }
    let _ = rustix::net::recv(report, &mut msg, RecvFlags::DONTWAIT).ok()?;
    Pid::from_raw(i32::from_ne_bytes(msg[4..].try_into().ok()?))
}

fn report_step(report: &OwnedFd, step: u32, errno: i32) {
    let mut msg = [0u8; 8];
    msg[..4].copy_from_slice(&step.to_ne_bytes());
    msg[4..].copy_from_slice(&errno.to_ne_bytes());
    let _ = rustix::net::send(report, &msg, SendFlags::NOSIGNAL);
}

fn send_listener(report: &OwnedFd, listener: &OwnedFd) {
    let mut msg = [0u8; 8];
    msg[..4].copy_from_slice(&LISTENER.to_ne_bytes());
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds = [listener.as_fd()];
    control.push(SendAncillaryMessage::ScmRights(&fds));
    let _ = rustix::net::sendmsg(
        report,
        &[IoSlice::new(&msg)],
        &mut control,
        SendFlags::NOSIGNAL,
    );
}

/// After a failed spawn: the step that failed in the child, if it got to report one.
fn read_step_error(report: &OwnedFd) -> Option<(u32, i32)> {
    let _ = read_command_pid(report);
    let mut msg = [0u8; 8];
    let n = rustix::net::recv(report, &mut msg, RecvFlags::DONTWAIT)
        .ok()?
        .0;
    if n != 8 {
        return None;
    }
    let step = u32::from_ne_bytes(msg[..4].try_into().ok()?);
    let errno = i32::from_ne_bytes(msg[4..].try_into().ok()?);
    (step != LISTENER).then_some((step, errno))
}

/// What the first-exec thread learnt: the command's pid, and the seccomp listener with the
/// started command's first trapped call that is not an exec, if one came (left pending).
type FirstExec = (Option<Pid>, Option<(OwnedFd, Option<Notification>)>);

/// On a thread while `Command::spawn` waits: receive the seccomp listener when the child
/// sends it, then answer the command's trapped `execve`/`execveat` calls `CONTINUE` (Landlock
/// decides; a failure is reported by `spawn` as 126/127) until `stop` is closed (after
/// `Command::spawn` returned), the child is gone, or a trapped call that is not an exec
/// arrives. Until the exec succeeds only nono's own code and libc's `execvp` run in the
/// child, and they trap nothing but execs: `execvp` retries a file that fails with
/// `ENOEXEC` through `/bin/sh`, so there can be two. A call that is not an exec comes from the
/// started command: it is left pending and returned with the listener, for the broker. (An
/// exec of the started command that arrives before `stop` is let through unrecorded: Landlock
/// still decides it; only its denial would be missing from the report.)
///
/// No listener: the child reported a failed step instead (left in the socket for
/// [`read_step_error`]) or closed the socket without sending anything.
fn pass_first_exec(report: &OwnedFd, stop: &OwnedFd) -> Result<FirstExec, SupervisorError> {
    let mut tag = [0u8; 8];
    let mut command = None;
    loop {
        // Peek: a step error stays for `read_step_error`.
        let peeked =
            rustix::io::retry_on_intr(|| rustix::net::recv(report, &mut tag, RecvFlags::PEEK))
                .map_err(|e| SupervisorError::sys("recv (child report)", e))?;
        if peeked.0 == 8 && tag[..4] == COMMAND_PID.to_ne_bytes() {
            command = read_command_pid(report);
            continue;
        }
        if peeked.0 != 8 || tag[..4] != LISTENER.to_ne_bytes() {
            return Ok((command, None));
        }
        break;
    }
    let listener = receive_listener(report)?;
    let notify = NotifyFd::new(listener);
    loop {
        // HUP on the listener: no task uses the filter any more (the child died before its
        // exec). `stop` readable (HUP): `Command::spawn` returned.
        let mut fds = [
            PollFd::new(&notify, PollFlags::IN),
            PollFd::new(stop, PollFlags::IN),
        ];
        match rustix::event::poll(&mut fds, None) {
            Ok(_) => {}
            Err(Errno::INTR) => continue,
            Err(e) => return Err(SupervisorError::sys("poll (seccomp listener)", e)),
        }
        let (listener_ready, stopped) = (fds[0].revents(), !fds[1].revents().is_empty());
        if !listener_ready.contains(PollFlags::IN) {
            if stopped || !listener_ready.is_empty() {
                return Ok((command, Some((notify.into_inner(), None))));
            }
            continue;
        }
        let Ok(n) = notify.recv() else { continue };
        if matches!(n.syscall(), Some(Syscall::Execve | Syscall::ExecveAt)) {
            let _ = notify.respond_continue(n.id);
            continue;
        }
        return Ok((command, Some((notify.into_inner(), Some(n)))));
    }
}

/// The seccomp listener the child sent (after its tag was peeked).
fn receive_listener(report: &OwnedFd) -> Result<OwnedFd, SupervisorError> {
    let mut msg = [0u8; 8];
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let received = rustix::io::retry_on_intr(|| {
        rustix::net::recvmsg(
            report,
            &mut [std::io::IoSliceMut::new(&mut msg)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )
    })
    .map_err(|e| SupervisorError::sys("recvmsg (seccomp listener from the child)", e))?;
    let mut listener = None;
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = message {
            for fd in fds {
                if listener.is_none() {
                    listener = Some(fd);
                }
            }
        }
    }
    match listener {
        Some(fd) if received.bytes == 8 => Ok(fd),
        _ => Err(SupervisorError::sys(
            "receiving the seccomp listener from the child",
            Errno::PROTO,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 14: the thread that passed the first exec is the one that serves the listener
    /// afterwards (no second thread), and without a second job it ends.
    #[test]
    fn the_listener_thread_serves_its_second_job_itself() {
        let (tx, rx) = std::sync::mpsc::channel();
        let first_tx = tx.clone();
        let t = ListenerThread::start(move || {
            first_tx.send(std::thread::current().id()).unwrap();
            Ok((Pid::from_raw(7), None))
        })
        .unwrap();
        let (first, t) = t.first();
        assert_eq!(first.unwrap().unwrap().0, Pid::from_raw(7));
        let Ok(handle) = t.serve(Box::new(move || {
            tx.send(std::thread::current().id()).unwrap()
        })) else {
            panic!("the listener thread is gone");
        };
        handle.join().unwrap();
        let (a, b) = (rx.recv().unwrap(), rx.recv().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, std::thread::current().id());

        let t = ListenerThread::start(|| Ok((None, None))).unwrap();
        let (first, t) = t.first();
        assert!(matches!(first, Some(Ok((None, None)))));
        t.finish();
    }

    #[test]
    fn path_search_prefers_executables_and_reports_missing() {
        let p = resolve_command(
            OsStr::new("sh"),
            Some(OsStr::new("/nonexistent:/bin")),
            None,
        )
        .unwrap();
        assert_eq!(p, Path::new("/bin/sh"));
        let err = resolve_command(OsStr::new("no-such-command-nono"), None, None).unwrap_err();
        assert_eq!(err.exit_code(), 127);
        assert!(err.to_string().contains("no-such-command-nono"));
        let err = resolve_command(OsStr::new("/no/such/file"), None, None).unwrap_err();
        assert_eq!(err.exit_code(), 127);
    }
}

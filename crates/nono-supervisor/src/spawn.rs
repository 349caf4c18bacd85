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
//!    `TIOCSTI` into it), or `setsid` + `TIOCSCTTY` on the PTY slave in PTY mode;
//! 2. `PR_SET_PDEATHSIG(SIGKILL)`, then `getppid()` compared with the supervisor's pid to
//!    close the race where the supervisor died before the prctl;
//! 3. every fd from 3 up marked close-on-exec (`close_range(CLOSE_RANGE_CLOEXEC)`) except the
//!    SDK socket, whose number is in `NONO_SUPERVISOR_FD`; marking rather than closing keeps
//!    std's exec-error pipe and our report socket alive until `execve`;
//! 4. the sandbox (`PreparedSandbox::enforce`: Landlock, then seccomp), whose notify listener,
//!    if any, is sent to the parent over the report socket (`SCM_RIGHTS`, stack buffers) and
//!    then closed in the child;
//! 5. `execve` (std). With trapping on, this `execve` is itself trapped (exec denials are
//!    reported, see `broker/path_ops.rs`) while `Command::spawn` still waits for its outcome,
//!    before any broker runs: a parent thread receives the listener meanwhile and answers
//!    that first exec `CONTINUE` (`pass_first_exec`).
//!
//! A failing step writes `(step, errno)` to the report socket before the hook returns the
//! error, so the parent can tell "the sandbox could not be applied" from "exec failed".

use std::ffi::{OsStr, OsString};
use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use rustix::io::Errno;
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};
use rustix::process::{Pid, PidfdFlags, Signal};

use nono_sandbox::linux::seccomp::NotifySet;
use nono_sandbox::{PreparedSandbox, SandboxOptions};

use crate::env::SUPERVISOR_FD_VAR;
use crate::error::SupervisorError;
use crate::os;

/// `PATH` used when the child's environment has none (glibc's default for `execvp`).
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Steps in the child that can fail, as reported over the report socket.
const STEPS: [&str; 6] = [
    "setsid",
    "ioctl(TIOCSCTTY) on the PTY",
    "prctl(PR_SET_PDEATHSIG)",
    "the supervisor check (the supervisor died while the child started)",
    "close_range(CLOSE_RANGE_CLOEXEC)",
    "sandbox enforcement (Landlock/seccomp)",
];
const STEP_SETSID: u32 = 0;
const STEP_TIOCSCTTY: u32 = 1;
const STEP_PDEATHSIG: u32 = 2;
const STEP_PARENT: u32 = 3;
const STEP_FDS: u32 = 4;
const STEP_SANDBOX: u32 = 5;
/// Report tag: "here is the listener fd".
const LISTENER: u32 = u32::MAX;

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
    // Refused Unix datagram sockets are trapped rather than refused by the deny filter, so
    // that the report shows them (see broker/unix_socket.rs).
    if !caps.allows_unix_datagram() {
        for s in crate::broker::unix_socket::DATAGRAM_SOCKET_SYSCALLS {
            set.insert(*s);
        }
    }
    set
}

/// Build the sandbox for `config` before the fork (Landlock ruleset, seccomp programs, and
/// the open-family notify filter when opens are trapped) and return the async-signal-safe
/// step the child runs.
pub(crate) fn prepare_sandbox(
    config: &crate::supervise::SpawnConfig,
) -> Result<(Box<Enforce>, nono_sandbox::EnforcementStatus), SupervisorError> {
    let mut opts = SandboxOptions::default();
    if config.trap_opens {
        let mut set = trapped_syscalls(&config.caps);
        // Learning records the ports bound (answered CONTINUE: the broad domain allows them).
        // ... and the Unix datagram sockets the reference refuses (allowed by the learning
        // domain, trapped to be recorded, then answered CONTINUE).
        if let Some(learn) = &config.learn {
            set.insert(nono_sandbox::linux::seccomp::Syscall::Bind);
            if !crate::learn::Learner::reference_allows_unix_datagram(learn) {
                for s in crate::broker::unix_socket::DATAGRAM_SOCKET_SYSCALLS {
                    set.insert(*s);
                }
            }
        }
        opts = opts.with_notify(set);
    }
    // With opens trapped, the supervisor serves /proc (see broker/procfs.rs): Landlock
    // grants nothing there.
    let landlock_caps = if config.trap_opens {
        crate::broker::procfs::landlock_caps(&config.caps)
    } else {
        config.caps.clone()
    };
    let prepared = PreparedSandbox::prepare(&landlock_caps, &opts)
        .map_err(|source| SupervisorError::Sandbox { source })?;
    let status = prepared.status().clone();
    Ok((Box::new(move || prepared.enforce()), status))
}

/// What to spawn: everything is owned here and moved into the child hook where needed.
pub(crate) struct ChildSpec<'a> {
    pub argv: &'a [OsString],
    pub env: Vec<(OsString, OsString)>,
    pub workdir: Option<&'a Path>,
    /// The child's end of the SDK socketpair (inherited at its own number).
    pub sdk: Option<OwnedFd>,
    /// The PTY slave, when the child runs on a PTY.
    pub pty_slave: Option<OwnedFd>,
    /// Whether `enforce` returns a listener that the parent must receive.
    pub expect_listener: bool,
}

/// A running child.
#[derive(Debug)]
pub(crate) struct Spawned {
    pub child: Child,
    pub pidfd: OwnedFd,
    pub listener: Option<OwnedFd>,
}

/// Resolve `command` the way `execvp` would, against `path_var` (the child's `PATH`), before
/// the fork. A name with a `/` is used as given (relative to `workdir`, as `execve` in the
/// child would see it). The first executable regular file wins; failing that, the first
/// existing candidate is returned so that `execve` reports why it cannot run (→ 126).
pub(crate) fn resolve_command(
    command: &OsStr,
    path_var: Option<&OsStr>,
    workdir: Option<&Path>,
) -> Result<PathBuf, SupervisorError> {
    let not_found = || SupervisorError::CommandNotFound {
        command: command.to_owned(),
    };
    if command.is_empty() {
        return Err(not_found());
    }
    let in_workdir = |p: &Path| match workdir {
        Some(w) if p.is_relative() => w.join(p),
        _ => p.to_path_buf(),
    };
    if command.as_bytes().contains(&b'/') {
        let path = PathBuf::from(command);
        return if in_workdir(&path).symlink_metadata().is_ok() {
            Ok(path)
        } else {
            Err(not_found())
        };
    }
    let path_var = path_var.unwrap_or(OsStr::new(DEFAULT_PATH));
    let mut fallback = None;
    for dir in path_var.as_bytes().split(|&b| b == b':') {
        let dir = if dir.is_empty() {
            Path::new(".")
        } else {
            Path::new(OsStr::from_bytes(dir))
        };
        let candidate = dir.join(command);
        let Ok(meta) = std::fs::metadata(in_workdir(&candidate)) else {
            continue;
        };
        if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
            return Ok(candidate);
        }
        if fallback.is_none() && !meta.is_dir() {
            fallback = Some(candidate);
        }
    }
    fallback.ok_or_else(not_found)
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
    let on_pty = spec.pty_slave.is_some();
    if let Some(slave) = &spec.pty_slave {
        let dup = |f: &OwnedFd| {
            f.try_clone()
                .map(Stdio::from)
                .map_err(|e| SupervisorError::Sys {
                    call: "dup (PTY slave)",
                    source: e,
                })
        };
        cmd.stdin(dup(slave)?)
            .stdout(dup(slave)?)
            .stderr(dup(slave)?);
    }
    drop(spec.pty_slave);

    let parent = rustix::process::getpid();
    let sdk = spec.sdk;
    let report = report_child;
    os::set_child_hook(&mut cmd, move || {
        child_setup(parent, on_pty, sdk.as_ref(), &report, &*enforce)
    });

    // The child's own execve is trapped too (see broker/path_ops.rs), and `cmd.spawn()` waits
    // for its outcome: a thread takes the listener and lets that exec through meanwhile.
    let first_exec = if spec.expect_listener {
        let report = report_parent
            .try_clone()
            .map_err(|e| SupervisorError::Sys {
                call: "dup (child report)",
                source: e,
            })?;
        Some(
            std::thread::Builder::new()
                .name("nono-first-exec".into())
                .spawn(move || pass_first_exec(&report))
                .map_err(|e| SupervisorError::Sys {
                    call: "spawning the first-exec thread",
                    source: e,
                })?,
        )
    } else {
        None
    };
    let spawned = cmd.spawn();
    // Dropping the Command closes the parent's copies of the child's ends (report socket, SDK
    // socket, PTY slave), so the parent sees EOF/EIO when the child is gone.
    drop(cmd);
    // It ends once the exec was let through, or at EOF/a step error when the child failed.
    let listener = first_exec.map(|t| t.join().unwrap_or(Ok(None)));
    let child = match spawned {
        Ok(child) => child,
        Err(err) => {
            if let Some((step, errno)) = read_step_error(&report_parent) {
                return Err(SupervisorError::ChildSetup {
                    step: STEPS.get(step as usize).copied().unwrap_or("setup"),
                    source: std::io::Error::from_raw_os_error(errno),
                });
            }
            return Err(exec_error(command, &program, err));
        }
    };
    let pid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX))
        .ok_or_else(|| SupervisorError::sys("fork", Errno::SRCH))?;
    let pidfd = rustix::process::pidfd_open(pid, PidfdFlags::empty())
        .map_err(|e| SupervisorError::sys("pidfd_open", e))?;
    let listener = match listener {
        Some(Ok(Some(l))) => Some(l),
        Some(Ok(None)) => {
            return Err(SupervisorError::sys(
                "receiving the seccomp listener from the child",
                Errno::PROTO,
            ))
        }
        Some(Err(e)) => return Err(e),
        None => None,
    };
    Ok(Spawned {
        child,
        pidfd,
        listener,
    })
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

/// The hook run in the child between fork and exec. Async-signal-safe: raw system calls on
/// values allocated before the fork, stack buffers only.
fn child_setup(
    parent: Pid,
    on_pty: bool,
    sdk: Option<&OwnedFd>,
    report: &OwnedFd,
    enforce: &Enforce,
) -> std::io::Result<()> {
    let fail = |step: u32, errno: Errno| -> std::io::Error {
        report_step(report, step, errno.raw_os_error());
        errno.into()
    };
    rustix::process::setsid().map_err(|e| fail(STEP_SETSID, e))?;
    if on_pty {
        rustix::process::ioctl_tiocsctty(std::io::stdin()).map_err(|e| fail(STEP_TIOCSCTTY, e))?;
    }
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL))
        .map_err(|e| fail(STEP_PDEATHSIG, e))?;
    if rustix::process::getppid() != Some(parent) {
        return Err(fail(STEP_PARENT, Errno::SRCH));
    }
    os::cloexec_from(3)
        .map_err(|e| fail(STEP_FDS, Errno::from_io_error(&e).unwrap_or(Errno::INVAL)))?;
    if let Some(sdk) = sdk {
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

/// On a thread while `Command::spawn` waits: receive the seccomp listener when the child
/// sends it, then answer the child's first trapped call — the command's own `execve` —
/// `CONTINUE` (Landlock decides; a failure is reported by `spawn` as 126/127). Until the exec,
/// only nono's own code runs in the child, so nothing it traps needs the broker.
///
/// `Ok(None)`: the child reported a failed step instead (left in the socket for
/// [`read_step_error`]) or closed the socket without sending anything.
fn pass_first_exec(report: &OwnedFd) -> Result<Option<OwnedFd>, SupervisorError> {
    let mut tag = [0u8; 8];
    // Peek: a step error stays for `read_step_error`.
    let peeked = rustix::io::retry_on_intr(|| rustix::net::recv(report, &mut tag, RecvFlags::PEEK))
        .map_err(|e| SupervisorError::sys("recv (child report)", e))?;
    if peeked.0 != 8 || tag[..4] != LISTENER.to_ne_bytes() {
        return Ok(None);
    }
    let listener = receive_listener(report)?;
    let notify = nono_sandbox::linux::seccomp::NotifyFd::new(listener);
    loop {
        // HUP: no task uses the filter any more (the child died before its exec).
        let mut fds = [rustix::event::PollFd::new(
            &notify,
            rustix::event::PollFlags::IN,
        )];
        match rustix::event::poll(&mut fds, None) {
            Ok(_) => {}
            Err(Errno::INTR) => continue,
            Err(e) => return Err(SupervisorError::sys("poll (seccomp listener)", e)),
        }
        if !fds[0].revents().contains(rustix::event::PollFlags::IN) {
            return Ok(Some(notify.into_inner()));
        }
        let Ok(n) = notify.recv() else { continue };
        let _ = notify.respond_continue(n.id);
        if matches!(
            n.syscall(),
            Some(
                nono_sandbox::linux::seccomp::Syscall::Execve
                    | nono_sandbox::linux::seccomp::Syscall::ExecveAt
            )
        ) {
            return Ok(Some(notify.into_inner()));
        }
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

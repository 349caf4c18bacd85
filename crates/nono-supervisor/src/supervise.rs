//! `run`: spawn the sandboxed child and supervise it until it exits — one `poll` loop over the
//! child's pidfd, the signal self-pipe, the seccomp notify fd and the SDK socket, with no
//! timer: the loop wakes only when one of them is ready, so the child's exit is seen at once.
//!
//! # Threads
//! - the calling thread runs the loop: signals, child exit and reading SDK frames;
//! - one notify thread answers the seccomp listener (the fast path: a trapped open inside
//!   the static grants is answered CONTINUE right there): the thread that received the
//!   listener from the child while it started (`spawn::ListenerThread`); on kernels before
//!   6.6 the loop polls the listener itself instead (see `Broker::spawn_thread`);
//! - small worker pools, one per kind of job (`broker::Lane`), started on first use, run
//!   decisions that may block (`Engine::decide` may prompt a person), the supervisor-side
//!   `openat2` + `ADDFD` and socket calls that wait, so a slow prompt never holds up the fast
//!   path, other threads of the child, another kind of request, or signals;
//! - in PTY mode, one relay thread copies bytes between our terminal and the child's PTY.
//!
//! # Signals
//! `SIGINT`, `SIGTERM`, `SIGHUP` and `SIGQUIT` delivered to the supervisor are forwarded to
//! the child's process group (the child is a session leader, so its pgid is its pid; on a PTY
//! the PTY's foreground group is used, which is where a shell's job is). `SIGWINCH` resizes
//! the PTY (or is forwarded when there is none). The handler writes the signal number to a
//! self-pipe; see `os.rs` for why not `signalfd`.
//!
//! nono always stops on `SIGTERM`: a command that has not ended [`TERM_GRACE`] after a
//! forwarded `SIGTERM` is killed (`SIGKILL` to its process group), at once on a second one;
//! and once the command has ended, a terminating signal stops the wait for busy workers.

use std::ffi::OsString;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::sync::Arc;

use nono_sandbox::{CapabilitySet, EnforcementStatus};
use nono_wire::AccessMode;
use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;
use rustix::process::{Pid, Signal};

use crate::broker::learner::Learner;
use crate::broker::run_state::{Context, Denial, Shared, UrlOpen};
use crate::broker::Broker;
use crate::error::SupervisorError;
use crate::leftovers;
use crate::os;
use crate::pty::Pty;
use crate::sdk::SdkServer;
use crate::spawn::{self, ChildSpec};
use crate::spawn_config::SpawnConfig;

/// How the child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatusKind {
    /// It exited with this code.
    Code(i32),
    /// It was killed by this signal.
    Signal(i32),
}

impl ExitStatusKind {
    /// The shell convention: the code, or 128 + the signal number.
    #[must_use]
    pub fn code(self) -> i32 {
        match self {
            ExitStatusKind::Code(c) => c,
            ExitStatusKind::Signal(s) => 128 + s,
        }
    }
}

/// The result of a supervised run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunOutcome {
    /// How the child ended.
    pub exit: ExitStatusKind,
    /// Every denied access, in order (each distinct one once, at most
    /// `MAX_DENIALS`; see [`denials_dropped`](Self::denials_dropped)).
    pub denials: Vec<Denial>,
    /// Refusals beyond the ones kept (distinct denials past [`denials`](Self::denials), refused
    /// connects past `connect_denials`): only counted.
    pub denials_dropped: u64,
    /// Trapped calls the supervisor could not read: the command made itself non-dumpable
    /// (`prctl(PR_SET_DUMPABLE, 0)`) or the kernel's ptrace policy (Yama `ptrace_scope` 2 or
    /// 3) forbids a supervisor without `CAP_SYS_PTRACE` to read its memory. Each was still
    /// refused by the kernel if the grants do not allow it, but is in no denial and no runtime
    /// grant applied to it.
    pub calls_unread: u64,
    /// Every URL open request, allowed or refused, in the order they were decided.
    pub url_opens: Vec<UrlOpen>,
    /// Every TCP connection the supervisor refused to make (a port not allowed, a port
    /// exception to a non-loopback address, the proxy's port elsewhere than the proxy).
    pub connect_denials: Vec<crate::egress::ConnectDenial>,
    /// What the sandbox enforced (and, with best-effort compatibility, what it could not).
    pub enforcement: EnforcementStatus,
    /// What the run hit of its resource limits (all zero without a run cgroup).
    pub limits: crate::limits::LimitsReport,
}

/// Spawn `config.argv` in the sandbox and supervise it until it exits.
///
/// Blocks the calling thread. Returns how the child ended and what it was denied. Fails
/// (before or while starting the child) with a [`SupervisorError`] whose
/// [`exit_code`](SupervisorError::exit_code) follows the shell's 127/126 convention.
///
/// The child dies with the supervisor (`PR_SET_PDEATHSIG`); note that the kernel ties this to
/// the *thread* that forks, so keep the calling thread alive until `run` returns (it is:
/// `run` blocks).
///
/// # When the command ends
/// The run ends when the command (the direct child) exits. Then, before `run` returns:
/// - decisions still pending are cancelled (a terminal prompt stops asking and the request
///   is denied and audited as cancelled); a backend that cannot be interrupted (a
///   [`Callback`](crate::approval::Callback) still running) is waited for;
/// - every process the command left in the sandbox (its session, and their descendants) is
///   sent `SIGTERM`, given half a second, then `SIGKILL`ed — see the `leftovers` module
///   docs for the rule. A daemon that left the session and was orphaned is the run's
///   init's child by then: the init ends it the same way before it exits (see `init.rs`).
///
/// No process-wide state changes for this: the child subreaper is the run's init, a child
/// process (see the `init` module), never the calling process.
///
/// # When nono is killed
/// The init (the direct child, between the supervisor and the command) gets a parent-death
/// signal and ends the whole tree: the run cgroup's `cgroup.kill` when there is one, else
/// every descendant (it is their subreaper, so daemons and `setsid` children are among them).
pub fn run(mut config: SpawnConfig) -> Result<RunOutcome, SupervisorError> {
    if config.argv.is_empty() {
        return Err(SupervisorError::EmptyCommand);
    }
    crate::url::check_allowed_origins(&config.allowed_origins)
        .map_err(|source| SupervisorError::AllowedOrigins { source })?;
    let signals = if config.forward_signals {
        Some(os::SignalPipe::new().map_err(|e| SupervisorError::Sys {
            call: "sigaction",
            source: e,
        })?)
    } else {
        None
    };
    let (pty, slave) = if let Some(streams) = config.pty.wanted() {
        let (pty, slave) = Pty::open(streams).map_err(|e| SupervisorError::Sys {
            call: "openpt (child PTY)",
            source: e,
        })?;
        grant_own_terminal(&mut config.caps, &pty)?;
        let streams = pty.streams();
        (Some(pty), Some((slave, streams)))
    } else {
        (None, None)
    };
    // Before the child runs: the reference grants pin the sockets they name.
    let shared = Arc::new(Shared {
        learner: config.learn.as_ref().map(Learner::new),
        ..Shared::default()
    });
    let (enforce, enforcement, landlock_rules) = spawn::prepare_sandbox(&mut config)?;
    let limits = crate::limits::prepare(
        &config.limits,
        config.caps.compat() == nono_sandbox::Compat::BestEffort,
    )
    .map_err(|source| SupervisorError::Limits { source })?;
    for line in &limits.not_enforced {
        tracing::info!("{line}");
    }
    let cgroup = match &limits.cgroup {
        Some(cg) => Some((
            cg.dir_fd.try_clone().map_err(|e| SupervisorError::Sys {
                call: "dup (the run's cgroup)",
                source: e,
            })?,
            cg.kill_path.clone(),
        )),
        None => None,
    };
    let (sdk_parent, sdk_child) = if config.sdk {
        let (a, b) = rustix::net::socketpair(
            rustix::net::AddressFamily::UNIX,
            rustix::net::SocketType::STREAM,
            rustix::net::SocketFlags::CLOEXEC,
            None,
        )
        .map_err(|e| SupervisorError::sys("socketpair (SDK)", e))?;
        (Some(a), Some(b))
    } else {
        (None, None)
    };
    let spec = ChildSpec {
        argv: &config.argv,
        env: crate::env::sanitize(config.env.iter().cloned()),
        workdir: config.workdir.as_deref(),
        sdk: sdk_child,
        pty_slave: slave,
        expect_listener: config.trap_opens,
        cgroup,
        rlimits: limits.rlimits.clone(),
    };
    // Before the child runs: the grants pin the sockets they name (see `StaticGrants::new`).
    // The set itself moves into them: nothing below reads `config.caps`.
    let mut grants = crate::broker::StaticGrants::from_caps(std::mem::take(&mut config.caps));
    grants.egress_proxy = config.egress_proxy;
    grants.set_landlock_rules(landlock_rules);
    let mut spawned = match spawn::spawn(spec, enforce) {
        Ok(s) => s,
        Err(e) => {
            if let Some(cg) = &limits.cgroup {
                cg.remove();
            }
            return Err(e);
        }
    };
    // The init (see init.rs): the session leader, whose status is the command's. From here on
    // an error ends it and its session before returning (`spawn::end_unsupervised`).
    let child_pid = Pid::from_raw(i32::try_from(spawned.child.id()).unwrap_or(i32::MAX))
        .ok_or_else(|| SupervisorError::sys("fork", Errno::SRCH))?;
    let command_pid = spawned.command;

    let relay = match &pty {
        Some(p) => rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| SupervisorError::sys("pipe (PTY relay)", e))
            .and_then(|(stop_r, stop_w)| {
                p.relay(stop_r)
                    .map(|handle| (Some(handle), Some(stop_w)))
                    .map_err(|e| SupervisorError::Sys {
                        call: "spawning the PTY relay thread",
                        source: e,
                    })
            }),
        None => Ok((None, None)),
    };
    let (relay, stop_relay) = match relay {
        Ok(r) => r,
        Err(e) => {
            spawn::end_unsupervised(&mut spawned.child);
            if let Some(cg) = &limits.cgroup {
                cg.remove();
            }
            return Err(e);
        }
    };

    let ctx = Arc::new(Context::new(
        &config,
        grants,
        shared.clone(),
        command_pid.as_raw_nonzero().get().unsigned_abs(),
    ));
    // The notify fd is served by a blocking thread where the kernel allows (see
    // `Broker::spawn_thread`), else polled by the loop.
    let pending = spawned.pending.take();
    let server = spawned.server.take();
    let (mut broker, notify_thread) = match spawned
        .listener
        .take()
        .map(|l| Broker::new(l, pending, &ctx))
    {
        Some(b) => match b.spawn_thread(&ctx, server) {
            Ok(t) => (None, Some(t)),
            Err(mut b) => {
                if let Some(b) = b.as_mut() {
                    b.answer_pending(&ctx);
                }
                (b, None)
            }
        },
        None => (None, None),
    };
    let mut sdk = match sdk_parent.map(SdkServer::new).transpose() {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("the SDK socket could not be set up: {e}");
            None
        }
    };

    let result = supervise_loop(
        &spawned.pidfd,
        (child_pid, command_pid),
        signals.as_ref().map(|s| &s.read_end),
        pty.as_ref(),
        &mut broker,
        &mut sdk,
        &ctx,
    );
    if result.is_err() {
        // The loop cannot watch the child any more: do not leave it running unsupervised.
        let _ = rustix::process::kill_process_group(child_pid, Signal::KILL);
        let _ = rustix::process::kill_process(command_pid, Signal::KILL);
        let _ = rustix::process::kill_process(child_pid, Signal::KILL);
    }
    // The command ended: no pending decision (a prompt) can matter any more, and nothing it
    // left in the sandbox may outlive this run (see leftovers.rs). After the child is
    // reaped: then its pid (the sandbox's session id) stays allocated only while processes
    // are left in the session, which `terminate` checks before it scans anything.
    ctx.cancel.cancel();
    let status = spawned.child.wait().map_err(|e| SupervisorError::Sys {
        call: "waitid (child)",
        source: e,
    });
    let leftovers = leftovers::terminate(child_pid, leftovers::GRACE);
    if !leftovers.is_empty() {
        tracing::info!(
            ?leftovers,
            "terminated processes the command left in the sandbox"
        );
    }
    // What the limits caught, then whatever is still in the run's cgroup (a daemon that left
    // the session) is killed with it and the cgroup removed.
    let limits_report = limits
        .cgroup
        .as_ref()
        .map(crate::limits::RunCgroup::report)
        .unwrap_or_default();
    if let Some(cg) = &limits.cgroup {
        cg.remove();
    }
    // Unblock workers still sending to an SDK peer that stopped reading, then wait for them.
    if let Some(s) = &sdk {
        s.shutdown();
    }
    drop(broker);
    if let Some(t) = notify_thread {
        t.finish();
    }
    // A terminating signal to nono while it waits here (for a `Callback` that cannot be
    // cancelled, say) makes it stop waiting: nono always stops on SIGTERM.
    let interrupt = signals.as_ref().map(|s| s.read_end.as_fd());
    ctx.finish(interrupt, &mut || {
        signals
            .as_ref()
            .is_some_and(|s| drain_signals(&s.read_end).terminating > 0)
    });
    drop(sdk);
    if let Some(stop) = stop_relay {
        let _ = rustix::io::write(&stop, b"x");
    }
    if let Some(h) = relay {
        let _ = h.join();
    }
    drop(pty);
    drop(signals);
    result?;
    let status = status?;
    let exit = match (status.code(), status.signal()) {
        (Some(c), _) => ExitStatusKind::Code(c),
        (None, Some(s)) => ExitStatusKind::Signal(s),
        (None, None) => ExitStatusKind::Code(125),
    };
    let denials = std::mem::take(&mut *shared.denials.lock().unwrap_or_else(|e| e.into_inner()));
    let url_opens =
        std::mem::take(&mut *shared.url_opens.lock().unwrap_or_else(|e| e.into_inner()));
    let connect_denials = std::mem::take(
        &mut *shared
            .connect_denials
            .lock()
            .unwrap_or_else(|e| e.into_inner()),
    );
    let denials_dropped = shared
        .denials_dropped
        .load(std::sync::atomic::Ordering::Relaxed);
    let calls_unread = shared.unread.load(std::sync::atomic::Ordering::Relaxed);
    Ok(RunOutcome {
        exit,
        denials,
        denials_dropped,
        calls_unread,
        url_opens,
        connect_denials,
        enforcement,
        limits: limits_report,
    })
}

/// Grant the child its own terminal by name: a read-write *file* grant on the PTY's slave,
/// added before the sandbox is prepared. Profiles do not grant `/dev/pts` as a whole (that
/// would be every terminal on the machine: the user's other tabs, and as root all of them);
/// the child still reopens its own one through `/dev/tty`, `/dev/stdin`, `/proc/self/fd/N`
/// or its `ttyname`. Without a PTY (no std stream is a terminal, or `PtyMode::Never`) there is
/// no terminal to grant.
fn grant_own_terminal(caps: &mut CapabilitySet, pty: &Pty) -> Result<(), SupervisorError> {
    let name = rustix::pty::ptsname(&pty.master, Vec::new())
        .map_err(|e| SupervisorError::sys("ptsname (child PTY)", e))?;
    let path = PathBuf::from(<OsString as std::os::unix::ffi::OsStringExt>::from_vec(
        name.into_bytes(),
    ));
    caps.allow_file(&path, AccessMode::ReadWrite, "the child's terminal")
        .map_err(|e| SupervisorError::Sys {
            call: "granting the child's PTY",
            source: std::io::Error::other(e),
        })?;
    Ok(())
}

/// How long the command has to end after a forwarded `SIGTERM` before nono kills it
/// (`SIGKILL` to its process group); a second `SIGTERM` kills it at once. Without this, a
/// command that ignores `SIGTERM` (an interactive shell does) would keep nono from stopping.
pub const TERM_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// `child`: (the init, whose process group is the command's; the command).
fn supervise_loop(
    pidfd: &OwnedFd,
    child: (Pid, Pid),
    signals: Option<&OwnedFd>,
    pty: Option<&Pty>,
    broker: &mut Option<Broker>,
    sdk: &mut Option<SdkServer>,
    ctx: &Context,
) -> Result<(), SupervisorError> {
    let off = PollFlags::empty();
    // Set by a forwarded SIGTERM: when the command must have ended.
    let mut kill_at: Option<std::time::Instant> = None;
    loop {
        // Absent sources are polled as the pidfd with no events (a fixed-size array).
        let placeholder = pidfd.as_fd();
        let mut fds = [
            PollFd::new(pidfd, PollFlags::IN),
            PollFd::from_borrowed_fd(
                signals.map_or(placeholder, AsFd::as_fd),
                if signals.is_some() {
                    PollFlags::IN
                } else {
                    off
                },
            ),
            PollFd::from_borrowed_fd(
                broker.as_ref().map_or(placeholder, Broker::fd),
                if broker.is_some() { PollFlags::IN } else { off },
            ),
            PollFd::from_borrowed_fd(
                sdk.as_ref().map_or(placeholder, SdkServer::fd),
                if sdk.is_some() { PollFlags::IN } else { off },
            ),
        ];
        let timeout = kill_at.map(|at| {
            let left = at.saturating_duration_since(std::time::Instant::now());
            rustix::event::Timespec {
                tv_sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
                tv_nsec: i64::from(left.subsec_nanos()),
            }
        });
        match rustix::event::poll(&mut fds, timeout.as_ref()) {
            Ok(_) => {}
            Err(Errno::INTR) => continue,
            Err(e) => return Err(SupervisorError::sys("poll", e)),
        }
        let ready: [PollFlags; 4] = std::array::from_fn(|i| fds[i].revents());
        if broker.is_some() && !ready[2].is_empty() {
            let keep = broker.as_mut().is_some_and(|b| b.on_ready(ready[2], ctx));
            if !keep {
                *broker = None;
            }
        }
        if sdk.is_some() && !ready[3].is_empty() {
            let keep = sdk.as_mut().is_some_and(|s| s.on_ready(ctx));
            if !keep {
                *sdk = None;
            }
        }
        if let (Some(fd), false) = (signals, ready[1].is_empty()) {
            let terms = forward_pending(fd, child, pty, ctx);
            if terms > 0 {
                let now = std::time::Instant::now();
                kill_at = Some(if kill_at.is_some() || terms > 1 {
                    now
                } else {
                    now + TERM_GRACE
                });
            }
        }
        if !ready[0].is_empty() {
            return Ok(());
        }
        if kill_at.is_some_and(|at| std::time::Instant::now() >= at) {
            tracing::info!(
                "the command did not end within {}s of SIGTERM: killing it",
                TERM_GRACE.as_secs()
            );
            kill_command(child, pty);
            // Its exit (the pidfd) ends the loop; nothing is left to wait for.
            kill_at = None;
        }
    }
}

/// `SIGKILL` to the command: the PTY's foreground group, the init's process group (the
/// command's unless it moved), the command's own group and the command. The init then ends
/// with the command's status (killed) and the run ends as usual, leftovers included.
fn kill_command(child: (Pid, Pid), pty: Option<&Pty>) {
    let (init, command) = child;
    if let Some(group) = pty.and_then(|p| rustix::termios::tcgetpgrp(&p.master).ok()) {
        let _ = rustix::process::kill_process_group(group, Signal::KILL);
    }
    if let Ok(group) = rustix::process::getpgid(Some(command)) {
        let _ = rustix::process::kill_process_group(group, Signal::KILL);
    }
    let _ = rustix::process::kill_process(command, Signal::KILL);
    let _ = rustix::process::kill_process_group(init, Signal::KILL);
}

/// Signal numbers read from the self-pipe.
struct Drained {
    /// Every number read, in order.
    raw: Vec<i32>,
    /// How many were terminating (`SIGINT`, `SIGTERM`, `SIGHUP`, `SIGQUIT`).
    terminating: usize,
}

/// Read every pending signal number from the self-pipe.
fn drain_signals(pipe: &OwnedFd) -> Drained {
    let mut out = Drained {
        raw: Vec::new(),
        terminating: 0,
    };
    let mut buf = [0u8; 64];
    while let Ok(n) = rustix::io::read(pipe, &mut buf) {
        if n == 0 {
            break;
        }
        for &raw in &buf[..n] {
            let raw = i32::from(raw);
            if [Signal::INT, Signal::TERM, Signal::HUP, Signal::QUIT]
                .iter()
                .any(|s| s.as_raw() == raw)
            {
                out.terminating += 1;
            }
            out.raw.push(raw);
        }
    }
    out
}

/// Read every pending signal number from the self-pipe and forward it. A terminating one
/// also cancels the decisions pending at that moment (a prompt stops asking: the person
/// pressed Ctrl-C, or the command is being stopped); later requests are asked as usual.
/// Returns how many `SIGTERM`s were forwarded.
fn forward_pending(pipe: &OwnedFd, child: (Pid, Pid), pty: Option<&Pty>, ctx: &Context) -> usize {
    let (init, command) = child;
    let mut terms = 0;
    for raw in drain_signals(pipe).raw {
        if raw == Signal::TERM.as_raw() {
            terms += 1;
        }
        if raw == Signal::WINCH.as_raw() {
            if let Some(p) = pty {
                p.resize();
                continue;
            }
        }
        let Some(sig) = Signal::from_named_raw(raw) else {
            continue;
        };
        if matches!(sig, Signal::INT | Signal::TERM | Signal::HUP | Signal::QUIT) {
            ctx.cancel.cancel_pending();
        }
        let group = pty
            .and_then(|p| rustix::termios::tcgetpgrp(&p.master).ok())
            .unwrap_or(init);
        tracing::debug!(
            signal = raw,
            group = group.as_raw_nonzero().get(),
            "forwarding signal"
        );
        let grouped = rustix::process::kill_process_group(group, sig).is_ok();
        // The command is no session leader (the init is), so it may have moved to a
        // process group of its own: the signal is still its.
        if !grouped || rustix::process::getpgid(Some(command)).is_ok_and(|g| g != group) {
            let _ = rustix::process::kill_process(command, sig);
        }
    }
    terms
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::run_state::{Call, Refused};
    use nono_sandbox::linux::seccomp::Syscall;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    /// Issue 15: what was refused is typed; its text only shows it. A file whose name reads
    /// like another kind (`@x`, `pid 1`) is still a path, and only a path has one.
    #[test]
    fn refused_is_typed_and_only_shown_as_text() {
        let odd = Refused::Path(PathBuf::from("/w/@x, pid 1"));
        assert_eq!(odd.path(), Some(Path::new("/w/@x, pid 1")));
        let abs = Refused::AbstractSocket(std::ffi::OsStr::from_bytes(b"x\x1b[2J").to_owned());
        assert_eq!(abs.path(), None);
        assert!(abs.to_string().starts_with('@'));
        for (r, shown) in [
            (Refused::UnixDatagramSocket, "a Unix datagram socket"),
            (
                Refused::OtherProcess {
                    id: 7,
                    group: false,
                },
                "pid 7",
            ),
            (
                Refused::OtherProcess { id: 7, group: true },
                "process group 7",
            ),
            (Refused::TcpBind { port: 80 }, "tcp bind port 80"),
            (Refused::TcpListenUnbound, "tcp listen on an unbound socket"),
        ] {
            assert_eq!(r.path(), None);
            assert_eq!(r.to_string(), shown);
        }
        assert_eq!(Call::Sdk.name(), "sdk");
        assert!(Call::Sdk.is_open() && Call::Syscall(Syscall::OpenAt).is_open());
        assert!(!Call::Syscall(Syscall::Mkdir).is_open());
        assert_eq!(Call::Syscall(Syscall::Connect).to_string(), "connect");
    }
}

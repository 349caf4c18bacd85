//! Ending what the command left behind: when the sandboxed command (the direct child) exits,
//! every process still running in its sandbox is terminated before `run` returns, so nothing
//! sandboxed outlives the supervisor unsupervised (its trapped calls would fail with
//! `ENOSYS` once the listener is gone, and nobody would report its denials).
//!
//! # Which processes
//! The child starts a new session (`setsid`), so its session id is its pid, and only
//! processes of the sandbox can be in that session (a session can only be joined by
//! inheritance). Killed: every process whose session is the child's, and every
//! descendant of such a process (by the `PPid` chain in `/proc` at the time of the scan —
//! this catches a process that left the session with `setsid()` while its parent is still
//! there). Nothing outside the sandbox matches either rule, so an embedding program's own
//! children are never touched.
//!
//! **Detached orphans**: a process that called `setsid()` *and* whose sandboxed ancestors all
//! exited before the scan (a double-forked daemon) cannot be told from an unrelated process
//! here. It is the run's init's child, though (the init is a child subreaper, see `init.rs`),
//! and the init ends it — `SIGTERM`, [`GRACE`], `SIGKILL` — before it exits with the
//! command's status, so by the time this runs such processes are gone.
//!
//! Why not `PR_SET_CHILD_SUBREAPER`: it would make such orphans *our* children, but being
//! their parent does not prove where they came from (the embedding program's own children
//! have the same parent), so it would not let us kill them soundly; and it is process-wide —
//! an embedding program's `wait()` would start seeing the sandbox's orphans, and orphans
//! exiting mid-run would stay zombies of the embedding program. Killed leftovers are reaped
//! by whoever their parent is (init, or a subreaper above us), as before.
//!
//! # The common case: nothing left, proven without a scan
//! [`terminate`] is called after the direct child was reaped, and first asks the kernel
//! whether the child's pid number — the sandbox's session id — is still in use. The number
//! stays allocated while *any* task is attached to it as pid, process group id or session
//! id (the kernel frees it only when the last one detaches), and two calls tell the cases
//! apart ([`session_id`]):
//! - `pidfd_open(session)` succeeds: a process *has* that pid, so the number was freed and
//!   reused after the reap — the session had emptied first; nothing to do.
//! - otherwise `fcntl(F_SETOWN, -session)`, which looks the number up without asking for a
//!   process, fails with `ESRCH`: the number is free, so no process is in the session, and
//!   none can join it again (a session is joined only by inheritance from a member, and a
//!   new one is created only with its creator's own pid). The members are none — the same
//!   answer as a scan. This is the common case: two syscalls instead of reading every
//!   `/proc/*/stat`.
//! - `F_SETOWN` succeeds: processes are still in the session (or a zombie of one awaits its
//!   reaper), and only then is `/proc` scanned as below. While the number is held it cannot
//!   be reused, so every process whose session id is `session` belongs to the sandbox.
//!   After each scan the check is repeated; once the number is no longer held the session
//!   is empty and that scan is not acted on (what it could add are processes that left the
//!   session and whose session ancestors have all exited: the init's to end). The two calls
//!   are not atomic: the number being freed *and* reused between them would need the whole
//!   pid space to be allocated in those microseconds.
//! - any other error: nothing is proven; the scan runs.
//!
//! Why not a cheaper heuristic: `kill(-session, 0)` sees only the session's *first*
//! process group, and the broker sees only processes that make trapped calls — a forked
//! subshell that calls `setpgid` and never execs or opens would be missed by both.
//! `pidfd_open` alone is not enough either: whether it reports a number held only as a
//! group or session id as `EINVAL` or `ESRCH` depends on the kernel version.
//!
//! # How
//! `SIGTERM` (and `SIGCONT`, so a stopped process can act on it) to each, then up to
//! [`GRACE`] for them to exit — a background job gets the chance to remove its lock files in
//! a granted directory, and a run that leaves nothing behind pays nothing but the scan;
//! then `SIGKILL` to whatever is left or was forked meanwhile, rescanning until the session
//! is empty. Each process is signalled through a pidfd opened and then re-checked against
//! the scan (same start time), so a pid reused between the scan and the signal is never
//! hit.

#![allow(unsafe_code)]

use std::collections::HashSet;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::process::{Pid, PidfdFlags, Signal};

/// How long leftovers get to exit after `SIGTERM` before `SIGKILL`.
pub(crate) const GRACE: Duration = Duration::from_millis(500);
/// How long to wait for `SIGKILL`ed processes per round (a process in uninterruptible sleep
/// may take a while; the bound keeps `run` from hanging on one).
const KILL_WAIT: Duration = Duration::from_secs(2);
/// Rescans before giving up (a process forking as fast as we kill).
const MAX_ROUNDS: usize = 64;

/// One `/proc/PID/stat` line, the fields we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    pid: i32,
    ppid: i32,
    sid: i32,
    start: u64,
}

fn read_stat(pid: i32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// `pid (comm) state ppid pgrp session ... starttime(22) ...`; `comm` may hold spaces and
/// parentheses, so the fields are counted after the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let pid = text.split_whitespace().next()?.parse().ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // f[0] = state (field 3), so field N is f[N - 3].
    Some(Stat {
        pid,
        ppid: f.get(1)?.parse().ok()?,
        sid: f.get(3)?.parse().ok()?,
        start: f.get(19)?.parse().ok()?,
    })
}

fn scan() -> Vec<Stat> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(read_stat)
        .collect()
}

/// The processes of the sandbox whose session is `session`: its members and their
/// descendants (never `exclude`: ourselves).
fn sandbox_members(procs: &[Stat], session: i32, exclude: i32) -> Vec<Stat> {
    let mut set: HashSet<i32> = procs
        .iter()
        .filter(|p| p.sid == session)
        .map(|p| p.pid)
        .collect();
    loop {
        let before = set.len();
        for p in procs {
            if set.contains(&p.ppid) {
                set.insert(p.pid);
            }
        }
        if set.len() == before {
            break;
        }
    }
    procs
        .iter()
        .filter(|p| set.contains(&p.pid) && p.pid != exclude && p.pid > 1)
        .copied()
        .collect()
}

fn exited(fd: &OwnedFd) -> bool {
    let mut fds = [PollFd::new(fd, PollFlags::IN)];
    matches!(rustix::event::poll(&mut fds, Some(&Timespec::default())), Ok(n) if n > 0)
}

/// What the kernel says about the pid number of the reaped session leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SessionId {
    /// No task has it as pid, process group or session id: the session is empty.
    Free,
    /// A process has it as its pid: it was freed (the session emptied) and reused.
    Reused,
    /// Allocated, with no process of that pid: live processes (or zombies) have it as their
    /// session or process group id, or a thread as its tid (which a scan tells apart).
    Held,
    /// A call failed otherwise (out of fds): nothing is proven.
    Unknown,
}

/// # References
/// - [`pidfd_open(2)`](https://man7.org/linux/man-pages/man2/pidfd_open.2.html)
/// - [`fcntl(2)`](https://man7.org/linux/man-pages/man2/fcntl.2.html), `F_SETOWN`: a
///   negative argument names a process group; `ESRCH` if no such id exists.
fn session_id(session: i32) -> SessionId {
    let Some(pid) = Pid::from_raw(session) else {
        return SessionId::Unknown;
    };
    match rustix::process::pidfd_open(pid, PidfdFlags::empty()) {
        Ok(_) => return SessionId::Reused,
        Err(rustix::io::Errno::SRCH | rustix::io::Errno::INVAL) => {}
        Err(_) => return SessionId::Unknown,
    }
    let Ok((fd, _w)) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC) else {
        return SessionId::Unknown;
    };
    // rustix has no F_SETOWN (nor FIOSETOWN), hence libc. The pipe is ours alone and
    // closed on return, so its owner (used only for SIGIO with O_ASYNC, not set) matters
    // to no one.
    // SAFETY: `fd` is an open fd owned by this function for the whole call; F_SETOWN takes
    // one int argument and reads no memory of ours.
    let rc = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETOWN, -session) };
    if rc == 0 {
        SessionId::Held
    } else if rustix::io::Errno::from_io_error(&std::io::Error::last_os_error())
        == Some(rustix::io::Errno::SRCH)
    {
        SessionId::Free
    } else {
        SessionId::Unknown
    }
}

/// Pidfds of the live sandbox processes, each checked to be the process that was scanned;
/// none once the session's id is no longer held (the session emptied during the scan, so a
/// process now in a session of that number may be unrelated: the number may be reused).
fn open_live(session: i32) -> Vec<(i32, OwnedFd)> {
    let out = open_scanned(session);
    match session_id(session) {
        SessionId::Free | SessionId::Reused => Vec::new(),
        SessionId::Held | SessionId::Unknown => out,
    }
}

fn open_scanned(session: i32) -> Vec<(i32, OwnedFd)> {
    let me = rustix::process::getpid().as_raw_nonzero().get();
    let mut out = Vec::new();
    for st in sandbox_members(&scan(), session, me) {
        let Some(pid) = Pid::from_raw(st.pid) else {
            continue;
        };
        let Ok(fd) = rustix::process::pidfd_open(pid, PidfdFlags::empty()) else {
            continue;
        };
        // The pid now names the process we scanned (or the pidfd's process is gone).
        if read_stat(st.pid).is_some_and(|now| now.start == st.start) && !exited(&fd) {
            out.push((st.pid, fd));
        }
    }
    out
}

/// Wait until every pidfd reports its process exited, or `timeout`.
fn wait_exited(fds: &[(i32, OwnedFd)], timeout: Duration) {
    let deadline = Instant::now() + timeout;
    let mut left: Vec<&OwnedFd> = fds.iter().map(|(_, fd)| fd).collect();
    while !left.is_empty() {
        let rest = deadline.saturating_duration_since(Instant::now());
        if rest.is_zero() {
            return;
        }
        let ts = Timespec::try_from(rest).unwrap_or_default();
        let mut polls: Vec<PollFd<'_>> = left
            .iter()
            .map(|fd| PollFd::new(*fd, PollFlags::IN))
            .collect();
        match rustix::event::poll(&mut polls, Some(&ts)) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(_) => return,
        }
        let still: Vec<bool> = polls.iter().map(|p| p.revents().is_empty()).collect();
        let mut i = 0;
        left.retain(|_| {
            i += 1;
            still[i - 1]
        });
    }
}

/// Terminate every process left in the sandbox whose session is `session` (the direct
/// child's pid, already reaped): `SIGTERM`, up to `grace` to exit, then `SIGKILL` until
/// none is left. Returns the pids that were signalled (for the log and tests).
pub(crate) fn terminate(session: Pid, grace: Duration) -> Vec<i32> {
    let session = session.as_raw_nonzero().get();
    let mut signalled = Vec::new();
    if matches!(session_id(session), SessionId::Free | SessionId::Reused) {
        return signalled;
    }
    let mut signal = Signal::TERM;
    for _ in 0..MAX_ROUNDS {
        let live = open_live(session);
        if live.is_empty() {
            return signalled;
        }
        for (pid, fd) in &live {
            tracing::debug!(
                pid,
                signal = signal.as_raw(),
                "terminating a leftover sandbox process"
            );
            let _ = rustix::process::pidfd_send_signal(fd, signal);
            if signal == Signal::TERM {
                let _ = rustix::process::pidfd_send_signal(fd, Signal::CONT);
            }
            if !signalled.contains(pid) {
                signalled.push(*pid);
            }
        }
        if signal == Signal::TERM {
            wait_exited(&live, grace);
            signal = Signal::KILL;
        } else {
            wait_exited(&live, KILL_WAIT);
        }
    }
    let left: Vec<i32> = open_live(session).into_iter().map(|(p, _)| p).collect();
    if !left.is_empty() {
        tracing::warn!(
            ?left,
            "sandboxed processes left by the command could not be terminated"
        );
    }
    signalled
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_a_hostile_comm() {
        let line = "4242 (a) b) (c) S 17 4242 99 34816 4242 4194560 100 0 0 0 1 2 0 0 20 0 1 0 123456 1000 10";
        let st = parse_stat(line).unwrap();
        assert_eq!(
            st,
            Stat {
                pid: 4242,
                ppid: 17,
                sid: 99,
                start: 123456
            }
        );
        let me = read_stat(rustix::process::getpid().as_raw_nonzero().get()).unwrap();
        assert_eq!(me.pid as u32, std::process::id());
        assert_eq!(
            me.ppid,
            rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get())
        );
        // Our own session id may be 0 (its leader outside this PID namespace, as in CI),
        // so the session field is checked on a process that leads a session of its own.
        let mut leader = std::process::Command::new("setsid")
            .args(["sleep", "30"])
            .spawn()
            .expect("setsid(1) from util-linux");
        let pid = i32::try_from(leader.id()).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut seen = None;
        while std::time::Instant::now() < deadline {
            seen = read_stat(pid);
            if seen.is_some_and(|st| st.sid == pid) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        leader.kill().unwrap();
        leader.wait().unwrap();
        let st = seen.expect("the setsid child's stat is readable");
        assert_eq!((st.pid, st.ppid, st.sid), (pid, me.pid, pid));
    }

    /// The fast path's premise, against the kernel: a reaped leader's pid number is `Held`
    /// while another process is in its group, and `Free` once none is; a live pid is
    /// `Reused` (it names a process, so it cannot be a reaped leader's session).
    #[test]
    fn a_reaped_leaders_id_is_held_while_its_group_has_members() {
        use std::os::unix::process::CommandExt;
        let mut leader = std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        let id = i32::try_from(leader.id()).unwrap();
        let mut member = std::process::Command::new("sleep")
            .arg("30")
            .process_group(id)
            .spawn()
            .unwrap();
        assert_eq!(session_id(id), SessionId::Reused);
        leader.kill().unwrap();
        leader.wait().unwrap();
        assert_eq!(session_id(id), SessionId::Held);
        member.kill().unwrap();
        member.wait().unwrap();
        assert_eq!(session_id(id), SessionId::Free);
    }

    #[test]
    fn members_are_the_session_and_its_descendants() {
        let p = |pid, ppid, sid| Stat {
            pid,
            ppid,
            sid,
            start: 0,
        };
        let procs = [
            p(1, 0, 1),
            p(10, 1, 10),  // the embedding program
            p(50, 1, 50),  // the direct child (session leader)
            p(51, 1, 50),  // orphaned into init, still in the session
            p(52, 51, 52), // left the session, parent still there
            p(53, 52, 52), // its child
            p(60, 1, 60),  // left the session, orphaned: the init's to end
            p(70, 10, 10), // the embedding program's own child
            p(71, 10, 71), // the embedding program's child in a session of its own
        ];
        let mut got: Vec<i32> = sandbox_members(&procs, 50, 10)
            .iter()
            .map(|s| s.pid)
            .collect();
        got.sort_unstable();
        assert_eq!(got, [50, 51, 52, 53]);
    }
}

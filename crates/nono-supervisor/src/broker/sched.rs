//! The scheduling broker: `sched_setaffinity`, `sched_setscheduler`, `sched_setparam`,
//! `sched_setattr` and `ioprio_set` that name a process other than the caller.
//!
//! Landlock has no rule for these calls and the kernel lets a process change the scheduling
//! policy, CPU affinity and I/O priority of every other process of its user (`setpriority`
//! and `prlimit64` of other processes are refused by the deny filter, which can tell "the
//! caller" from a register: `pid` 0). These take a pid too, but threads name each other by
//! tid — `pthread_setaffinity_np` and `pthread_setschedparam` pass the target thread's tid —
//! so the deny filter cannot refuse them outright. The notify filter traps them only when the
//! pid (for `ioprio_set`, `who`) is not 0 (see `Syscall::OTHER_PROCESS`); here the target is
//! looked up: the sandbox's root process or a descendant (the `PPid` chain, as the procfs
//! broker judges `/proc/PID` entries), which includes every thread of the caller, gets
//! `CONTINUE`; anything else `EPERM` (what the kernel answers for a process one may not
//! change) and a [`Denial`] for the report. For `ioprio_set(IOPRIO_WHO_PGRP, pgid)` the group's
//! leader is judged; a group whose leader is gone is refused. `ioprio_set(IOPRIO_WHO_USER)`
//! never gets here: the deny filter refuses it.
//!
//! The decision is made on registers only (nothing is read from the child's memory, so the
//! child cannot change what was checked). What it cannot rule out: the target exiting and its
//! pid being reused by an outside process between the check and the kernel's own lookup — a
//! window of microseconds against a full cycle of the pid space, for a denial of service at
//! most. Without a supervisor (`nono wrap`) these calls are not checked (see `gaps.rs`).

use nono_sandbox::linux::seccomp::{Notification, NotifyFd, Syscall};
use nono_sandbox::AccessMode;
use rustix::io::Errno;

use super::procfs;
use super::run_state::{Call, Denial, Refused, Shared};

/// The syscalls this module brokers.
pub(crate) const SYSCALLS: &[Syscall] = Syscall::OTHER_PROCESS;

/// `IOPRIO_WHO_PROCESS` and `IOPRIO_WHO_PGRP` (`linux/ioprio.h`).
const IOPRIO_WHO_PROCESS: u32 = 1;
const IOPRIO_WHO_PGRP: u32 = 2;

/// Whether `s` is one of the calls this module answers.
pub(crate) fn traps(s: Syscall) -> bool {
    SYSCALLS.contains(&s)
}

/// What a trapped call names: a process (or thread) by id, or a process group by its leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Process(u32),
    Group(u32),
}

/// The target of a trapped call from its registers (`pid_t` arguments are 32 bits: the high
/// half of the register is ignored, as the kernel does). `None`: not a process the call
/// would act on (an `ioprio_set` `which` the kernel rejects with `EINVAL` itself).
fn target(syscall: Syscall, args: &[u64; 6]) -> Option<Target> {
    let low = |i: usize| args[i] as u32;
    if syscall == Syscall::IoprioSet {
        return match low(0) {
            IOPRIO_WHO_PROCESS => Some(Target::Process(low(1))),
            IOPRIO_WHO_PGRP => Some(Target::Group(low(1))),
            _ => None,
        };
    }
    Some(Target::Process(low(0)))
}

/// Answer one trapped call (see the module docs). `root` is the sandbox's root process.
pub(crate) fn handle(
    notify: &NotifyFd,
    shared: &Shared,
    n: &Notification,
    syscall: Syscall,
    root: u32,
) {
    let Some(target) = target(syscall, &n.args) else {
        let _ = notify.respond_continue(n.id);
        return;
    };
    let (Target::Process(id) | Target::Group(id)) = target;
    // Negative pid_t values name no process (`EINVAL` from the kernel); 0 never reaches here.
    if i32::try_from(id).is_err() || procfs::in_tree(root, id) {
        let _ = notify.respond_continue(n.id);
        return;
    }
    let what = match target {
        Target::Process(_) => format!("process {id}"),
        Target::Group(_) => format!("process group {id}"),
    };
    shared.deny(Denial {
        what: Refused::OtherProcess {
            id,
            group: matches!(target, Target::Group(_)),
        },
        access: AccessMode::Write,
        pid: n.pid,
        call: Call::Syscall(syscall),
        reason: format!(
            "{what} is not part of the sandbox: its scheduling and I/O priority are not the \
             sandbox's to change"
        ),
    });
    let _ = notify.respond_errno(n.id, Errno::PERM.raw_os_error());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_come_from_the_low_half_of_the_registers() {
        let args = |a: u64, b: u64| [a, b, 0, 0, 0, 0];
        assert_eq!(
            target(Syscall::SchedSetAffinity, &args((1 << 32) | 42, 0)),
            Some(Target::Process(42))
        );
        assert_eq!(
            target(Syscall::SchedSetAttr, &args(7, 0)),
            Some(Target::Process(7))
        );
        assert_eq!(
            target(Syscall::IoprioSet, &args(1, (1 << 32) | 9)),
            Some(Target::Process(9))
        );
        assert_eq!(
            target(Syscall::IoprioSet, &args(2, 9)),
            Some(Target::Group(9))
        );
        assert_eq!(target(Syscall::IoprioSet, &args(7, 9)), None);
    }
}

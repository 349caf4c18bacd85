//! Acting as the child: every operation the supervisor performs *for* a sandboxed thread
//! (opening a runtime grant, a `/proc` entry, changing metadata, connecting or sending on a
//! socket) runs on a supervisor thread that carries that thread's filesystem credentials and
//! none of the capabilities it lacks. A root supervisor is never a way around DAC or `CAP_*`.
//!
//! # The primitive
//! [`ChildCreds::of_thread`] reads the trapped thread's credentials (`/proc/TID/status`: the
//! filesystem uid and gid — the fourth field of `Uid:`/`Gid:` —, `Groups:`, `CapEff:`; then
//! `NOTIF_ID_VALID`, so they are the waiting thread's). [`ChildCreds::act`] switches the
//! **calling thread only** to them and returns an [`ActingAsChild`] guard; dropping the guard
//! switches back. The functions that perform an operation for the child take
//! `&ActingAsChild` as their first parameter, and only this module can make one: an
//! operation for the child cannot be written without switching first.
//!
//! The switch, in this order (each step only where the ids differ from the thread's own):
//! 1. `setgroups` (raw, per thread: glibc's `setgroups` would broadcast to every thread of
//!    the supervisor) to the child's supplementary groups — needs `CAP_SETGID`; an
//!    unprivileged supervisor whose groups differ from the child's refuses the operation
//!    (`EACCES`) rather than act with more groups than the child has;
//! 2. `setfsgid`, `setfsuid` to the child's filesystem ids (per thread by nature; the kernel
//!    drops the filesystem capabilities from the effective set when fsuid leaves 0);
//! 3. `capset` of the effective set to *child's `CapEff` ∩ ours* (permitted untouched, so the
//!    thread can switch back).
//!
//! The effective uid and gid stay the supervisor's (permission checks on files, sockets and
//! `/proc` use the filesystem ids and the effective capabilities; see docs/THREAT_MODEL.md
//! for what the kernel still takes from the effective/real ids: `SO_PEERCRED`,
//! `SCM_CREDENTIALS`).
//!
//! Restoring runs in `Drop`: filesystem ids back (read back: `setfsuid` reports no error),
//! capabilities back (exactly the saved sets: `capset` changes all three or fails), groups
//! back (read back). If anything fails the process
//! **aborts**: a thread left with the wrong credentials must never serve another request (with
//! too few it would fail the run's own work, with a mix it could lend authority). The guard is
//! `!Send` (it describes this thread) and cannot nest.
//!
//! The thread's own credentials are read once per thread and cached: the supervisor never
//! changes its credentials except through this guard, which verifies the restore.
//!
//! # References
//! - [setfsuid(2)](https://man7.org/linux/man-pages/man2/setfsuid.2.html),
//!   [capset(2)](https://man7.org/linux/man-pages/man2/capset.2.html),
//!   [setgroups(2)](https://man7.org/linux/man-pages/man2/setgroups.2.html) ("C library/kernel
//!   differences"), [capabilities(7)](https://man7.org/linux/man-pages/man7/capabilities.7.html)
//!   ("Effect of user ID changes on capabilities").
#![allow(unsafe_code)]

use std::cell::Cell;
use std::marker::PhantomData;

use nono_sandbox::linux::seccomp::{Notification, NotifyFd};
use rustix::io::Errno;
use rustix::process::Gid;
use rustix::thread::{CapabilitySet, CapabilitySets};

/// The credentials the kernel checks for a thread's filesystem, socket and `/proc` access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChildCreds {
    pub fsuid: u32,
    pub fsgid: u32,
    /// Supplementary groups, as the kernel lists them (sorted).
    pub groups: Vec<u32>,
    /// The effective capability set (`CapEff`).
    pub cap_eff: u64,
}

impl ChildCreds {
    /// Read `/proc/TID/status` of the trapped thread, then check the notification is still
    /// pending (so the tid was not reused and the ids are the waiting thread's). `ESRCH` if
    /// the thread is gone.
    pub(crate) fn of_thread(notify: &NotifyFd, n: &Notification) -> Result<ChildCreds, Errno> {
        let creds = ChildCreds::of_tid(n.pid)?;
        if !notify.id_valid(n.id) {
            return Err(Errno::SRCH);
        }
        Ok(creds)
    }

    /// Read `/proc/TID/status` of thread (or process) `tid`. The caller makes sure `tid` still
    /// names what it means (a pending notification, the unreaped direct child).
    pub(crate) fn of_tid(tid: u32) -> Result<ChildCreds, Errno> {
        let status =
            std::fs::read_to_string(format!("/proc/{tid}/status")).map_err(|_| Errno::SRCH)?;
        ChildCreds::parse(&status).ok_or(Errno::SRCH)
    }

    /// The fields of a `/proc/TID/status` text.
    pub(crate) fn parse(status: &str) -> Option<ChildCreds> {
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::trim)
        };
        // `Uid:`/`Gid:` list real, effective, saved and filesystem ids.
        let fs_id =
            |name: &str| -> Option<u32> { field(name)?.split_whitespace().nth(3)?.parse().ok() };
        Some(ChildCreds {
            fsuid: fs_id("Uid:")?,
            fsgid: fs_id("Gid:")?,
            groups: field("Groups:")?
                .split_whitespace()
                .map(str::parse)
                .collect::<Result<_, _>>()
                .ok()?,
            cap_eff: u64::from_str_radix(field("CapEff:")?, 16).ok()?,
        })
    }

    /// Whether capability number `cap` is in the effective set.
    pub(crate) fn has(&self, cap: u32) -> bool {
        self.cap_eff & (1u64 << cap) != 0
    }

    /// Switch this thread to these credentials (see the module docs) until the guard drops.
    /// `EACCES` if the thread cannot take them (an unprivileged supervisor whose groups or
    /// filesystem ids differ from the child's): the operation must then not be performed.
    pub(crate) fn act(&self) -> Result<ActingAsChild, Errno> {
        if ACTING.with(Cell::get) {
            // Nesting would restore in the wrong order; no caller needs it.
            return Err(Errno::DEADLK);
        }
        let own = own_creds()?;
        let mut guard = ActingAsChild {
            own,
            groups: false,
            fsgid: false,
            fsuid: false,
            caps: false,
            _this_thread: PhantomData,
        };
        ACTING.with(|a| a.set(true));
        // From here on, `guard`'s Drop restores whatever was changed (also on an early
        // return below), and aborts if it cannot.
        if self.groups != guard.own.groups {
            let groups: Vec<Gid> = self.groups.iter().map(|g| Gid::from_raw(*g)).collect();
            // Marked for restoring only once changed: a supervisor without `CAP_SETGID` fails
            // here, and could not "restore" its unchanged groups either (that would abort).
            rustix::thread::set_thread_groups(&groups).map_err(|_| Errno::ACCESS)?;
            guard.groups = true;
        }
        if self.fsgid != guard.own.fsgid {
            guard.fsgid = true;
            setfsgid(self.fsgid);
            if setfsgid(u32::MAX) != self.fsgid {
                return Err(Errno::ACCESS);
            }
        }
        if self.fsuid != guard.own.fsuid {
            guard.fsuid = true;
            setfsuid(self.fsuid);
            if setfsuid(u32::MAX) != self.fsuid {
                return Err(Errno::ACCESS);
            }
        }
        let effective = CapabilitySet::from_bits_retain(self.cap_eff) & guard.own.caps.effective;
        if guard.fsuid || effective != guard.own.caps.effective {
            guard.caps = true;
            rustix::thread::set_capabilities(
                None,
                CapabilitySets {
                    effective,
                    ..guard.own.caps
                },
            )
            .map_err(|_| Errno::ACCESS)?;
        }
        Ok(guard)
    }
}

/// Where the credentials of a sandboxed thread come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SandboxCreds {
    /// The sandbox keeps no capability (the default): its permitted set is empty for good
    /// (`no_new_privs`, ambient set cleared, file capabilities and set-ID bits ignored on
    /// `exec`), so no process in it can take an id other than its real, effective or saved
    /// one, nor change its groups. Those were the spawning thread's, all equal: every thread
    /// of the sandbox has exactly these credentials, with an empty effective set. No
    /// `/proc/TID/status` read per call (it costs ~16 µs, five times the switch).
    Fixed(ChildCreds),
    /// Capabilities kept (a sandboxed root may `setuid`, `setgroups`, drop some): the
    /// trapped thread's are read for every call.
    PerThread,
}

impl SandboxCreds {
    /// For a sandbox spawned by the calling thread (call it on that thread, before the
    /// child changes anything): [`Fixed`](SandboxCreds::Fixed) when it keeps no capability
    /// and this thread's real, effective, saved and filesystem ids are one uid and one gid.
    pub(crate) fn for_sandbox(keep_capabilities: bool) -> SandboxCreds {
        if keep_capabilities {
            return SandboxCreds::PerThread;
        }
        let Ok(status) = std::fs::read_to_string("/proc/thread-self/status") else {
            return SandboxCreds::PerThread;
        };
        let uniform = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .is_some_and(|v| {
                    let ids: Vec<&str> = v.split_whitespace().collect();
                    ids.len() == 4 && ids.iter().all(|id| *id == ids[0])
                })
        };
        match ChildCreds::parse(&status) {
            Some(own) if uniform("Uid:") && uniform("Gid:") => {
                SandboxCreds::Fixed(ChildCreds { cap_eff: 0, ..own })
            }
            _ => SandboxCreds::PerThread,
        }
    }

    /// The credentials of the thread waiting in notification `n`.
    pub(crate) fn of_thread(
        &self,
        notify: &NotifyFd,
        n: &Notification,
    ) -> Result<ChildCreds, Errno> {
        match self {
            SandboxCreds::Fixed(c) => Ok(c.clone()),
            SandboxCreds::PerThread => ChildCreds::of_thread(notify, n),
        }
    }

    /// The credentials of sandboxed process `tid` (see [`ChildCreds::of_tid`]).
    pub(crate) fn of_tid(&self, tid: u32) -> Result<ChildCreds, Errno> {
        match self {
            SandboxCreds::Fixed(c) => Ok(c.clone()),
            SandboxCreds::PerThread => ChildCreds::of_tid(tid),
        }
    }
}

/// This thread carries a sandboxed thread's credentials until it drops (see the module
/// docs). The only way to call the functions that act for the child.
#[derive(Debug)]
pub(crate) struct ActingAsChild {
    own: OwnCreds,
    groups: bool,
    fsgid: bool,
    fsuid: bool,
    caps: bool,
    /// `!Send`, `!Sync`: the switch belongs to the thread that made it.
    _this_thread: PhantomData<*const ()>,
}

impl Drop for ActingAsChild {
    fn drop(&mut self) {
        let own = &self.own;
        let mut failed: Vec<&str> = Vec::new();
        // fsuid first: going back to the supervisor's own fsuid needs no capability when it is
        // one of its real/effective/saved ids, and it re-raises the filesystem capabilities,
        // which the capset below then sets exactly.
        if self.fsuid {
            setfsuid(own.fsuid);
            if setfsuid(u32::MAX) != own.fsuid {
                failed.push("setfsuid");
            }
        }
        if self.fsgid {
            setfsgid(own.fsgid);
            if setfsgid(u32::MAX) != own.fsgid {
                failed.push("setfsgid");
            }
        }
        if self.caps || self.fsuid {
            // `capset` sets exactly the sets it is given or fails (no partial change, nothing
            // adjusted): its result is the check, no read back.
            if rustix::thread::set_capabilities(None, own.caps).is_err() {
                failed.push("capset");
            }
        }
        if self.groups {
            let groups: Vec<Gid> = own.groups.iter().map(|g| Gid::from_raw(*g)).collect();
            let restored = rustix::thread::set_thread_groups(&groups).is_ok()
                && rustix::process::getgroups().is_ok_and(|g| g == groups);
            if !restored {
                failed.push("setgroups");
            }
        }
        if !failed.is_empty() {
            // A thread with the wrong credentials must never serve another request.
            eprintln!(
                "nono: the supervisor could not restore its own credentials after acting for \
                 the sandboxed command ({} failed); aborting",
                failed.join(", ")
            );
            std::process::abort();
        }
        ACTING.with(|a| a.set(false));
    }
}

/// The supervisor thread's own credentials, saved before a switch.
#[derive(Debug, Clone)]
struct OwnCreds {
    fsuid: u32,
    fsgid: u32,
    groups: Vec<u32>,
    caps: CapabilitySets,
}

thread_local! {
    /// A guard is alive on this thread.
    static ACTING: Cell<bool> = const { Cell::new(false) };
    /// This thread's own credentials (read on first use; they change only inside a guard,
    /// which restores them exactly or aborts).
    static OWN: std::cell::OnceCell<OwnCreds> = const { std::cell::OnceCell::new() };
}

fn own_creds() -> Result<OwnCreds, Errno> {
    OWN.with(|own| {
        if let Some(c) = own.get() {
            return Ok(c.clone());
        }
        let c = OwnCreds {
            fsuid: setfsuid(u32::MAX),
            fsgid: setfsgid(u32::MAX),
            groups: rustix::process::getgroups()?
                .into_iter()
                .map(Gid::as_raw)
                .collect(),
            caps: rustix::thread::capabilities(None)?,
        };
        let _ = own.set(c.clone());
        Ok(c)
    })
}

/// `setfsuid(2)` of this thread; returns the previous fsuid. `u32::MAX` (-1, never a valid
/// id) changes nothing and so reads the current one.
fn setfsuid(uid: u32) -> u32 {
    // SAFETY: setfsuid takes one integer and touches no memory of ours; it cannot fail (it
    // returns the previous fsuid either way).
    unsafe { libc::syscall(libc::SYS_setfsuid, libc::c_long::from(uid)) as u32 }
}

/// `setfsgid(2)` of this thread; as [`setfsuid`].
fn setfsgid(gid: u32) -> u32 {
    // SAFETY: as in `setfsuid`.
    unsafe { libc::syscall(libc::SYS_setfsgid, libc::c_long::from(gid)) as u32 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;
    use std::os::unix::fs::PermissionsExt;

    const STATUS: &str = "Name:\tsh\nUmask:\t0022\nUid:\t1000\t1000\t1000\t1001\nGid:\t100\t100\t100\t101\nGroups:\t4 24 \nCapInh:\t0000000000000000\nCapEff:\t0000000000000009\n";

    #[test]
    fn credentials_are_the_filesystem_ids_groups_and_effective_caps() {
        let c = ChildCreds::parse(STATUS).unwrap();
        assert_eq!(
            c,
            ChildCreds {
                fsuid: 1001,
                fsgid: 101,
                groups: vec![4, 24],
                cap_eff: 9
            }
        );
        assert!(c.has(0) && c.has(3) && !c.has(1));
        assert!(ChildCreds::parse("Uid:\t1\n").is_none());
        let empty = STATUS.replace("Groups:\t4 24 ", "Groups:");
        assert_eq!(ChildCreds::parse(&empty).unwrap().groups, Vec::<u32>::new());
    }

    #[test]
    fn a_sandbox_without_capabilities_has_the_spawning_threads_ids_and_no_capability() {
        assert_eq!(SandboxCreds::for_sandbox(true), SandboxCreds::PerThread);
        let SandboxCreds::Fixed(c) = SandboxCreds::for_sandbox(false) else {
            // A test runner with differing real/effective ids: nothing to check.
            return;
        };
        assert_eq!(c.fsuid, rustix::process::geteuid().as_raw());
        assert_eq!(c.fsgid, rustix::process::getegid().as_raw());
        assert_eq!(c.cap_eff, 0);
        let own = ChildCreds::of_tid(rustix::thread::gettid().as_raw_nonzero().get() as u32);
        assert_eq!(own.unwrap().groups, c.groups);
    }

    /// As root: acting as uid 1234 without capabilities, a root-owned 0600 file cannot be
    /// opened and a root-owned 0755 directory cannot be written; afterwards the thread has
    /// exactly its own credentials again. Runs on a thread of its own (the switch is
    /// per-thread; the test runner's threads are never touched).
    #[test]
    fn acting_as_an_unprivileged_child_loses_dac_override_and_restores() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipping: needs root");
            return;
        }
        let dir = Scratch::new(&format!("nono-as-child-{}", std::process::id()));
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let secret = dir.join("secret");
        std::fs::write(&secret, "x").unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        let d = dir.clone();
        std::thread::spawn(move || {
            let before = rustix::thread::capabilities(None).unwrap();
            let (uid, gid) = (setfsuid(u32::MAX), setfsgid(u32::MAX));
            let child = ChildCreds {
                fsuid: 1234,
                fsgid: 1234,
                groups: vec![],
                cap_eff: 0,
            };
            {
                let _as = child.act().unwrap();
                assert_eq!(child.act().err(), Some(Errno::DEADLK));
                let e = std::fs::File::open(d.join("secret")).unwrap_err();
                assert_eq!(e.raw_os_error(), Some(libc::EACCES));
                let e = std::fs::write(d.join("new"), "x").unwrap_err();
                assert_eq!(e.raw_os_error(), Some(libc::EACCES));
                assert_eq!(
                    rustix::thread::capabilities(None).unwrap().effective.bits(),
                    0
                );
            }
            assert_eq!(rustix::thread::capabilities(None).unwrap(), before);
            assert_eq!((setfsuid(u32::MAX), setfsgid(u32::MAX)), (uid, gid));
            std::fs::File::open(d.join("secret")).unwrap();
            // A root child without capabilities: only the capabilities change.
            let root_child = ChildCreds {
                fsuid: uid,
                fsgid: gid,
                groups: rustix::process::getgroups()
                    .unwrap()
                    .into_iter()
                    .map(Gid::as_raw)
                    .collect(),
                cap_eff: 0,
            };
            {
                let _as = root_child.act().unwrap();
                let e = std::fs::File::open(d.join("secret"));
                // Root owns it: 0600 lets the owner in without CAP_DAC_OVERRIDE.
                assert!(e.is_ok());
                std::fs::set_permissions(d.join("secret"), std::fs::Permissions::from_mode(0o000))
                    .unwrap();
                let e = std::fs::File::open(d.join("secret")).unwrap_err();
                assert_eq!(e.raw_os_error(), Some(libc::EACCES));
            }
            std::fs::File::open(d.join("secret")).unwrap();
        })
        .join()
        .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// An unprivileged supervisor thread (ids 65534, no capabilities) asked to act for a child
    /// with other groups: the switch is refused (`EACCES`) and nothing aborts — the groups were
    /// never changed, so there is nothing to restore. Its own child's credentials work.
    #[test]
    fn an_unprivileged_supervisor_refuses_groups_it_cannot_take() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipping: needs root to become another user on one thread");
            return;
        }
        std::thread::spawn(|| {
            let nobody = 65534;
            rustix::thread::set_thread_groups(&[]).unwrap();
            rustix::thread::set_thread_res_gid(
                Gid::from_raw(nobody),
                Gid::from_raw(nobody),
                Gid::from_raw(nobody),
            )
            .unwrap();
            let uid = rustix::process::Uid::from_raw(nobody);
            rustix::thread::set_thread_res_uid(uid, uid, uid).unwrap();
            assert_eq!(
                rustix::thread::capabilities(None).unwrap().effective.bits(),
                0
            );
            let other_groups = ChildCreds {
                fsuid: nobody,
                fsgid: nobody,
                groups: vec![4, 27],
                cap_eff: 0,
            };
            assert_eq!(other_groups.act().err(), Some(Errno::ACCESS));
            let same = ChildCreds {
                groups: vec![],
                ..other_groups
            };
            drop(same.act().unwrap());
        })
        .join()
        .unwrap();
    }
}

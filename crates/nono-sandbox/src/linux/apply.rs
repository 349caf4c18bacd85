//! Applying a sandbox on Linux: `PreparedSandbox` (all allocation and opens before fork), `enforce()` (async-signal-safe, after fork), `CommandExt::sandboxed`, `Sandbox::apply`.
//!
//! The order is fixed: `prepare` builds the Landlock ruleset (opening every rule's path) and
//! the seccomp programs in the parent; `enforce` runs in the child between `fork` and `exec`
//! and only makes syscalls: `prctl(PR_SET_NO_NEW_PRIVS)`, `unshare(CLONE_NEWIPC)` when System
//! V IPC is made private (it needs `CAP_SYS_ADMIN`, so before the capability drop, and the
//! seccomp filter refuses `unshare`, so before that too), `fcntl(F_DUPFD_CLOEXEC)` of the
//! ruleset fd, `landlock_restrict_self`, the capability drop (`prctl`, `capset`, see
//! `linux/capabilities.rs`), then the seccomp filter(s). Landlock goes first so the seccomp
//! filter cannot get in its way; `PR_SET_NO_NEW_PRIVS` is what lets both install without
//! `CAP_SYS_ADMIN`, so dropping capabilities before them changes nothing for them, and the
//! seccomp listener handed to a supervisor travels over a socket, which needs none.
//!
//! # References
//! - [landlock_restrict_self(2)](https://man7.org/linux/man-pages/man2/landlock_restrict_self.2.html)
//! - [signal-safety(7)](https://man7.org/linux/man-pages/man7/signal-safety.7.html)
//! - [`std::os::unix::process::CommandExt::pre_exec`]
#![allow(unsafe_code)]

use std::os::fd::OwnedFd;

use landlock::{RestrictSelfError, RulesetCreated, RulesetError};
use rustix::io::Errno;

use crate::caps::{CapabilitySet, Compat, NetworkMode, SysvIpc};
use crate::linux::capabilities::CapDrop;
use crate::linux::landlock::{
    build_ruleset_recording, plan_fs_rules, requested_protections, FsRule, LandlockError,
};
use crate::linux::seccomp::{Filter, NotifySet, SeccompError, Syscall};
use crate::support::{
    landlock_support, seccomp_support, EnforcementStatus, LandlockSupport, Protection,
    SeccompSupport, Tristate,
};

/// Options for [`PreparedSandbox::prepare`] beyond the capability set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SandboxOptions {
    /// Syscalls to trap with seccomp user notification (e.g.
    /// [`NotifySet::open_family`]); [`PreparedSandbox::enforce`] then returns the listener.
    pub notify: Option<NotifySet>,
    /// With a notify set: trap the sockets the network mode refuses (UDP, ICMP, raw,
    /// packet, ...) instead of failing them in the filter, so that the listener refuses them
    /// with the same errno ([`socket_refusal`](super::seccomp::socket_refusal)) and can report
    /// them. Without a notify set (no listener) they stay refused by the filter.
    pub trap_refused_sockets: bool,
}

impl SandboxOptions {
    /// No notification: Landlock + the seccomp deny-list only.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Trap `syscalls` with seccomp user notification.
    #[must_use]
    pub fn with_notify(mut self, syscalls: NotifySet) -> Self {
        self.notify = Some(syscalls);
        self
    }

    /// Trap the sockets the network mode refuses for the listener (see
    /// [`trap_refused_sockets`](Self::trap_refused_sockets)); the listener must answer each
    /// with [`socket_refusal`](super::seccomp::socket_refusal)'s errno, never `CONTINUE`.
    #[must_use]
    pub fn with_refused_sockets_trapped(mut self) -> Self {
        self.trap_refused_sockets = true;
        self
    }
}

/// Errors preparing or applying a sandbox.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// Strict compatibility, and the kernel lacks a requested protection.
    #[error(
        "{} cannot be enforced: this kernel lacks {detail} (it has Landlock ABI {abi}); \
         upgrade the kernel, drop the requirement, or choose best-effort compatibility",
        protection.as_str()
    )]
    Unsupported {
        /// The missing protection.
        protection: Protection,
        /// The mechanism that would give it.
        detail: &'static str,
        /// The kernel's Landlock ABI.
        abi: u32,
    },
    /// Strict compatibility, and the kernel lacks a requested seccomp feature.
    #[error(
        "{} cannot be enforced: this kernel lacks {detail}; \
         choose best-effort compatibility to run without it",
        protection.as_str()
    )]
    SeccompUnsupported {
        /// The missing protection.
        protection: Protection,
        /// The missing kernel feature.
        detail: &'static str,
    },
    /// Building the Landlock ruleset failed.
    #[error(transparent)]
    Landlock(#[from] LandlockError),
    /// Building a seccomp filter failed.
    #[error(transparent)]
    Seccomp(#[from] SeccompError),
    /// `Sandbox::apply` in a multi-threaded process (strict): Landlock and seccomp would
    /// confine only the calling thread.
    #[error(
        "the process has {threads} threads but Sandbox::apply confines only the calling one; \
         apply before starting threads, sandbox a child with CommandExt::sandboxed, or choose \
         best-effort compatibility"
    )]
    MultiThreaded {
        /// Number of threads seen in /proc/self/task.
        threads: usize,
    },
    /// Counting threads in /proc/self/task failed.
    #[error("reading /proc/self/task failed: {source}")]
    Threads {
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Enforcing in the current process failed.
    #[error(
        "enforcing the sandbox (prctl / landlock_restrict_self / capset / seccomp) failed: {source}"
    )]
    Enforce {
        /// The errno of the failed call.
        #[source]
        source: Errno,
    },
}

/// A sandbox with everything allocated and opened, ready to [`enforce`](Self::enforce) in a
/// freshly forked child. Reusable: one prepared sandbox can confine many children.
#[derive(Debug)]
pub struct PreparedSandbox {
    landlock: RulesetCreated,
    /// Deny-list + socket-family filter, installed without a listener: `None` when the
    /// sandbox has a notify set (then `notify` holds both, merged) and in best-effort
    /// without seccomp.
    deny: Option<Filter>,
    /// User-notification filter, when asked for: the deny-list and the notify filter merged
    /// into one program (`Filter::deny_list_with_notify`), or the notify filter alone where
    /// there is no deny-list.
    notify: Option<Filter>,
    /// Capability drop (`None`: the capability set keeps them).
    cap_drop: Option<CapDrop>,
    /// `unshare(CLONE_NEWIPC)` first (System V IPC made private).
    new_ipc_namespace: bool,
    status: EnforcementStatus,
    /// The path rules the ruleset got (see [`PreparedSandbox::path_rules`]).
    path_rules: Vec<FsRule>,
}

/// A sandbox prepared ahead, while the capability set it is for may still gain deny entries:
/// a caller that resolves its deny groups on another thread prepares the sandbox for the
/// grants and the denies it has meanwhile, and [`PreparedSandbox::prepare_reusing`] takes
/// this work when the final set asks for exactly the same sandbox
/// ([`CapabilitySet::adds_only_inert_denies`]), and prepares again otherwise. Nothing is
/// stored anywhere: this lives only between the two calls of one start.
#[derive(Debug)]
pub struct PreparedAhead {
    /// The set and options it was prepared for.
    caps: CapabilitySet,
    opts: SandboxOptions,
    prepared: PreparedSandbox,
}

impl PreparedAhead {
    /// Whether this preparation is exactly what `prepare(caps, opts)` would build.
    #[must_use]
    pub fn covers(&self, caps: &CapabilitySet, opts: &SandboxOptions) -> bool {
        *opts == self.opts && caps.adds_only_inert_denies(&self.caps)
    }
}

impl PreparedSandbox {
    /// [`prepare`](Self::prepare) `caps` ahead of its last deny entries (see
    /// [`PreparedAhead`]). `None` when preparing failed: the final preparation runs and
    /// reports the error then. Also `None`, without preparing, when the descriptor limit
    /// leaves no room for another thread's opens while the build holds its rule descriptors
    /// (`RLIMIT_NOFILE` low, red team 14): the caller's other thread must not see `EMFILE`
    /// because of this build.
    #[must_use]
    pub fn prepare_ahead(caps: CapabilitySet, opts: SandboxOptions) -> Option<PreparedAhead> {
        if !crate::linux::fds::room_for_held_rule_fds(crate::linux::landlock::HELD_RULE_FDS) {
            return None;
        }
        let prepared = PreparedSandbox::prepare(&caps, &opts).ok()?;
        Some(PreparedAhead {
            caps,
            opts,
            prepared,
        })
    }

    /// [`prepare`](Self::prepare), or `ahead`'s preparation when it [covers](PreparedAhead::covers)
    /// `caps` and `opts`. The second value says which (`true`: `ahead` was used).
    pub fn prepare_reusing(
        caps: &CapabilitySet,
        opts: &SandboxOptions,
        ahead: Option<PreparedAhead>,
    ) -> Result<(PreparedSandbox, bool), SandboxError> {
        match ahead {
            Some(a) if a.covers(caps, opts) => Ok((a.prepared, true)),
            _ => PreparedSandbox::prepare(caps, opts).map(|p| (p, false)),
        }
    }

    /// Build everything before fork: the Landlock ruleset with one opened fd per path rule,
    /// and the seccomp programs. Strict compatibility fails here if the kernel lacks a
    /// requested protection; best-effort records it in [`status`](Self::status).
    pub fn prepare(
        caps: &CapabilitySet,
        opts: &SandboxOptions,
    ) -> Result<PreparedSandbox, SandboxError> {
        let mut status = landlock_status(caps, &landlock_support())?;
        let plan = plan_fs_rules(caps)?;
        let mut path_rules = Vec::with_capacity(plan.rules.len());
        let landlock = build_ruleset_recording(caps, &plan, &mut status, &mut path_rules)?;
        let cap_drop = prepare_cap_drop(caps, &mut status);
        let sysv = SysvPlan::for_caps(caps, &mut status);
        let (deny, notify) = prepare_seccomp(caps, opts, sysv, seccomp_support(), &mut status)?;
        Ok(PreparedSandbox {
            landlock,
            deny,
            notify,
            cap_drop,
            new_ipc_namespace: sysv == SysvPlan::Namespace,
            status,
            path_rules,
        })
    }

    /// The Landlock path rules this sandbox enforces, after carve-out expansion and less any
    /// entry that vanished or became a symlink before the ruleset was built: a canonical path
    /// at or beneath one of them is reachable with the union of their access (Landlock
    /// attaches each rule to the inode that was there when the sandbox was prepared).
    #[must_use]
    pub fn path_rules(&self) -> &[FsRule] {
        &self.path_rules
    }

    /// Hand over [`path_rules`](Self::path_rules), leaving none here (the sandbox enforces
    /// them whether or not it keeps the list).
    pub fn take_path_rules(&mut self) -> Vec<FsRule> {
        std::mem::take(&mut self.path_rules)
    }

    /// Enforce in the calling thread. Meant for a freshly forked child (see
    /// [`CommandExt::sandboxed`]): async-signal-safe, it allocates nothing and takes no lock;
    /// it only calls `prctl(PR_SET_NO_NEW_PRIVS)`, `fcntl(F_DUPFD_CLOEXEC)`,
    /// `landlock_restrict_self`, drops the capabilities (`prctl`, `capget`/`capset`), then
    /// installs the seccomp filter(s). Returns the seccomp user-notification listener when
    /// the sandbox was prepared with a notify set.
    pub fn enforce(&self) -> Result<Option<OwnedFd>, Errno> {
        rustix::thread::set_no_new_privs(true)?;
        if self.new_ipc_namespace {
            // SAFETY: CLONE_NEWIPC only gives the calling thread a new IPC namespace; the
            // hazard `unshare_unsafe` documents (CLONE_FILES splitting the fd table under
            // other threads) does not arise.
            unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWIPC) }?;
        }
        // The clone shares the ruleset (a dup of its fd); restrict_self consumes and closes it,
        // leaving `self` usable for the next child.
        let ruleset = self
            .landlock
            .try_clone()
            .map_err(|e| Errno::from_io_error(&e).unwrap_or(Errno::INVAL))?;
        ruleset.restrict_self().map_err(|e| errno_of(&e))?;
        if let Some(cap_drop) = self.cap_drop {
            cap_drop.enforce()?;
        }
        if let Some(deny) = &self.deny {
            deny.install()?;
        }
        match &self.notify {
            Some(notify) => Ok(Some(notify.install_with_listener()?)),
            None => Ok(None),
        }
    }

    /// What this sandbox enforces, and what it cannot (best-effort gaps), with caveats.
    #[must_use]
    pub fn status(&self) -> &EnforcementStatus {
        &self.status
    }
}

/// What Landlock will enforce for `caps` on a kernel with `ll`: strict fails on the first
/// missing protection, best-effort records it as a gap.
fn landlock_status(
    caps: &CapabilitySet,
    ll: &LandlockSupport,
) -> Result<EnforcementStatus, SandboxError> {
    let mut status = EnforcementStatus::new(caps.compat(), ll.abi);
    for (protection, available, detail) in requested_protections(caps, ll) {
        if available {
            status.push_enforced(protection, detail);
        } else if caps.compat() == Compat::Strict {
            return Err(SandboxError::Unsupported {
                protection,
                detail,
                abi: ll.abi,
            });
        } else {
            status.push_gap(
                protection,
                format!("kernel (Landlock ABI {}) lacks {detail}", ll.abi),
            );
        }
    }
    status.push_enforced(Protection::NoNewPrivs, "prctl(PR_SET_NO_NEW_PRIVS, 1)");
    Ok(status)
}

/// The capability drop, unless the capability set keeps them; recorded in `status`.
fn prepare_cap_drop(caps: &CapabilitySet, status: &mut EnforcementStatus) -> Option<CapDrop> {
    if caps.keep_capabilities() {
        status
            .notes
            .push("Linux capabilities are kept (set_keep_capabilities)".to_owned());
        return None;
    }
    let cap_drop = CapDrop::prepare();
    status.push_enforced(Protection::CapabilitiesDropped, cap_drop.detail());
    Some(cap_drop)
}

/// How System V IPC is confined, resolved for the calling process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SysvPlan {
    /// A new IPC namespace (`unshare(CLONE_NEWIPC)` in `enforce`).
    Namespace,
    /// The SysV calls refused by the deny filter.
    Seccomp,
    /// The host's namespace, as asked.
    Host,
}

impl SysvPlan {
    /// `Private` becomes a namespace when the caller may make one (`CAP_SYS_ADMIN`
    /// effective; the child of a fork has the same), otherwise the seccomp refusal.
    fn for_caps(caps: &CapabilitySet, status: &mut EnforcementStatus) -> SysvPlan {
        match caps.sysv_ipc() {
            SysvIpc::Host => {
                status.notes.push(
                    "System V IPC in the host's namespace (set_sysv_ipc(Host)): other programs' \
                     segments are reachable by key"
                        .to_owned(),
                );
                SysvPlan::Host
            }
            SysvIpc::Deny => SysvPlan::Seccomp,
            SysvIpc::Private => {
                let admin = rustix::thread::capabilities(None).is_ok_and(|c| {
                    c.effective
                        .contains(rustix::thread::CapabilitySet::SYS_ADMIN)
                });
                if admin {
                    status.push_enforced(
                        Protection::SysvIpc,
                        "own IPC namespace (unshare(CLONE_NEWIPC)): SysV IPC and POSIX message \
                         queues work but are private",
                    );
                    SysvPlan::Namespace
                } else {
                    SysvPlan::Seccomp
                }
            }
        }
    }
}

/// Build the seccomp filters and record what they enforce.
fn prepare_seccomp(
    caps: &CapabilitySet,
    opts: &SandboxOptions,
    sysv: SysvPlan,
    sc: SeccompSupport,
    status: &mut EnforcementStatus,
) -> Result<(Option<Filter>, Option<Filter>), SandboxError> {
    let strict = caps.compat() == Compat::Strict;
    let net_filtered = *caps.network() != NetworkMode::Allow;
    // Unix datagram sockets: refused by the deny filter, unless the notify filter traps
    // them (ERRNO would win over USER_NOTIF) so that a supervisor refuses and reports them.
    let refuse_unix_dgram = !caps.allows_unix_datagram();
    let dgram_trapped = refuse_unix_dgram
        && sc.user_notif != Tristate::No
        && opts
            .notify
            .is_some_and(|set| Syscall::UNIX_DATAGRAM.iter().all(|s| set.contains(*s)));
    let mut wanted = vec![(
        Protection::SeccompDenyList,
        "seccomp BPF deny-list (arch checked first)",
    )];
    if net_filtered {
        let reported =
            opts.trap_refused_sockets && opts.notify.is_some() && sc.user_notif != Tristate::No;
        wanted.push((
            Protection::SocketFamilyFilter,
            if reported {
                "seccomp socket() filter: only AF_UNIX (and TCP in port mode); the others are \
                 trapped, refused by the supervisor with the same errno, and reported"
            } else {
                "seccomp socket() filter: only AF_UNIX (and TCP in port mode); the others fail \
                 (EAFNOSUPPORT/EPROTONOSUPPORT) without a report"
            },
        ));
    }
    if dgram_trapped {
        wanted.push((
            Protection::UnixDatagram,
            "socket()/socketpair() of AF_UNIX SOCK_DGRAM trapped (seccomp user notification) \
             and refused with EACCES by the supervisor, which reports it",
        ));
    } else if refuse_unix_dgram {
        wanted.push((
            Protection::UnixDatagram,
            "seccomp refuses socket()/socketpair() of AF_UNIX SOCK_DGRAM with EACCES",
        ));
    } else {
        status.notes.push(
            "Unix datagram sockets are allowed (allow_unix_datagram): sendmsg/sendmmsg can send \
             a datagram to any pathname datagram socket (/dev/log, /run/systemd/notify), which \
             nothing checks"
                .to_owned(),
        );
    }
    if sysv == SysvPlan::Seccomp {
        wanted.push((
            Protection::SysvIpc,
            "seccomp refuses shmget/shmat/msgget/semget/... (ENOSYS); no CAP_SYS_ADMIN for a \
             private IPC namespace, or set_sysv_ipc(Deny)",
        ));
    }
    let mut deny = if sc.filter == Tristate::No {
        None
    } else {
        match Filter::deny_list(
            caps.network(),
            sysv == SysvPlan::Seccomp,
            refuse_unix_dgram && !dgram_trapped,
        ) {
            Ok(f) => Some(f),
            Err(e) if strict => return Err(e.into()),
            Err(e) => {
                for (p, _) in &wanted {
                    status.push_gap(*p, e.to_string());
                }
                wanted.clear();
                None
            }
        }
    };
    for (p, detail) in wanted {
        if deny.is_some() {
            status.push_enforced(p, detail);
        } else if strict {
            return Err(SandboxError::SeccompUnsupported {
                protection: p,
                detail: "seccomp BPF filters (CONFIG_SECCOMP_FILTER)",
            });
        } else {
            status.push_gap(p, "kernel lacks seccomp BPF filters");
        }
    }
    let notify = match opts.notify {
        None => None,
        Some(set) if sc.user_notif != Tristate::No => {
            // One program rather than two when there is a deny-list: it answers what the
            // kernel would take from both (the strictest action), and a syscall runs one.
            let f = match deny.take() {
                Some(_) => Filter::deny_list_with_notify(
                    caps.network(),
                    sysv == SysvPlan::Seccomp,
                    refuse_unix_dgram && !dgram_trapped,
                    opts.trap_refused_sockets,
                    &set,
                )?,
                None => Filter::notify(&set)?,
            };
            status.push_enforced(
                Protection::OpenNotify,
                "seccomp user notification (SECCOMP_RET_USER_NOTIF)",
            );
            Some(f)
        }
        Some(_) if strict => {
            return Err(SandboxError::SeccompUnsupported {
                protection: Protection::OpenNotify,
                detail: "seccomp user notification (Linux 5.0)",
            })
        }
        Some(_) => {
            status.push_gap(
                Protection::OpenNotify,
                "kernel lacks seccomp user notification",
            );
            None
        }
    };
    Ok((deny, notify))
}

/// The errno inside a `landlock` crate error from `restrict_self` (no allocation).
fn errno_of(e: &RulesetError) -> Errno {
    let io = match e {
        RulesetError::RestrictSelf(
            RestrictSelfError::SetNoNewPrivsCall { source, .. }
            | RestrictSelfError::RestrictSelfCall { source, .. },
        ) => Some(source),
        _ => None,
    };
    io.and_then(Errno::from_io_error).unwrap_or(Errno::INVAL)
}

/// Confine a [`std::process::Command`]'s child.
pub trait CommandExt {
    /// Prepare a sandbox for `caps` now and enforce it in the child after `fork`, before
    /// `exec`. With best-effort compatibility the gaps are only visible through
    /// [`PreparedSandbox::status`]: prepare it yourself and use
    /// [`sandboxed_with`](Self::sandboxed_with) to see them.
    fn sandboxed(&mut self, caps: &CapabilitySet) -> Result<&mut Self, SandboxError>;

    /// Enforce an already prepared sandbox in the child. A seccomp notify listener (if the
    /// sandbox was prepared with one) is closed in the child: use `nono-supervisor` to
    /// receive it.
    fn sandboxed_with(&mut self, prepared: PreparedSandbox) -> &mut Self;
}

impl CommandExt for std::process::Command {
    fn sandboxed(&mut self, caps: &CapabilitySet) -> Result<&mut Self, SandboxError> {
        let prepared = PreparedSandbox::prepare(caps, &SandboxOptions::default())?;
        Ok(self.sandboxed_with(prepared))
    }

    fn sandboxed_with(&mut self, prepared: PreparedSandbox) -> &mut Self {
        let hook = move || match prepared.enforce() {
            Ok(_listener) => Ok(()),
            Err(e) => Err(std::io::Error::from_raw_os_error(e.raw_os_error())),
        };
        // `enforce` only makes syscalls (prctl, fcntl, landlock_restrict_self, capget/capset,
        // seccomp) on data prepared before the fork, allocates nothing and takes no lock.
        // SAFETY: pre_exec runs `hook` in the child after fork, where only async-signal-safe
        // work is allowed: see above; `io::Error::from_raw_os_error` does not allocate either.
        unsafe { std::os::unix::process::CommandExt::pre_exec(self, hook) }
    }
}

/// Confine the current process.
#[derive(Debug)]
pub struct Sandbox;

impl Sandbox {
    /// Prepare and enforce `caps` on the calling process, which stays confined (with every
    /// child it later starts). Landlock and seccomp confine the calling *thread*: call this
    /// before starting threads. A process that already has several threads gets
    /// [`SandboxError::MultiThreaded`] in strict mode, or a gap
    /// ([`Protection::AllThreads`]) in best-effort mode.
    pub fn apply(caps: &CapabilitySet) -> Result<EnforcementStatus, SandboxError> {
        Sandbox::apply_reusing(caps, None).map(|(status, _)| status)
    }

    /// [`apply`](Self::apply) with the preparation of `ahead` when it covers `caps` (see
    /// [`PreparedSandbox::prepare_reusing`]; prepare it with default [`SandboxOptions`]). The
    /// second value says whether `ahead` was used.
    pub fn apply_reusing(
        caps: &CapabilitySet,
        ahead: Option<PreparedAhead>,
    ) -> Result<(EnforcementStatus, bool), SandboxError> {
        let threads = std::fs::read_dir("/proc/self/task")
            .map_err(|source| SandboxError::Threads { source })?
            .count();
        let (mut prepared, reused) =
            PreparedSandbox::prepare_reusing(caps, &SandboxOptions::default(), ahead)?;
        if threads > 1 {
            if caps.compat() == Compat::Strict {
                return Err(SandboxError::MultiThreaded { threads });
            }
            prepared.status.push_gap(
                Protection::AllThreads,
                format!("{threads} threads; only the calling thread is confined"),
            );
        }
        prepared
            .enforce()
            .map_err(|source| SandboxError::Enforce { source })?;
        Ok((prepared.status.clone(), reused))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn abi3() -> LandlockSupport {
        LandlockSupport {
            abi: 3,
            fs: true,
            refer: true,
            truncate: true,
            ..LandlockSupport::default()
        }
    }

    #[test]
    fn strict_refuses_a_missing_protection() {
        let mut caps = CapabilitySet::new();
        caps.block_network();
        let err = landlock_status(&caps, &abi3()).unwrap_err();
        assert!(
            matches!(
                err,
                SandboxError::Unsupported {
                    protection: Protection::IoctlDev,
                    abi: 3,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("best-effort"), "{err}");
    }

    #[test]
    fn best_effort_lists_every_gap() {
        let mut caps = CapabilitySet::new();
        caps.block_network().set_compat(Compat::BestEffort);
        let st = landlock_status(&caps, &abi3()).unwrap();
        assert!(st.enforces(Protection::Filesystem));
        assert!(st.enforces(Protection::Truncate));
        let gaps: Vec<_> = st.not_enforced.iter().map(|i| i.protection).collect();
        assert_eq!(
            gaps,
            vec![
                Protection::IoctlDev,
                Protection::TcpConnect,
                Protection::TcpBind,
                Protection::SignalScope,
                Protection::AbstractUnixSocketScope
            ]
        );
        assert!(!st.is_complete());
        assert!(st.to_string().contains("NOT ENFORCED"), "{st}");
    }

    #[test]
    fn without_seccomp_strict_fails_and_best_effort_reports() {
        let none = SeccompSupport {
            filter: Tristate::No,
            user_notif: Tristate::No,
        };
        let mut caps = CapabilitySet::new();
        caps.block_network();
        let opts = SandboxOptions::new().with_notify(NotifySet::open_family());
        let mut st = EnforcementStatus::new(Compat::Strict, 7);
        assert!(matches!(
            prepare_seccomp(&caps, &opts, SysvPlan::Seccomp, none, &mut st),
            Err(SandboxError::SeccompUnsupported {
                protection: Protection::SeccompDenyList,
                ..
            })
        ));
        caps.set_compat(Compat::BestEffort);
        let mut st = EnforcementStatus::new(Compat::BestEffort, 7);
        let (deny, notify) =
            prepare_seccomp(&caps, &opts, SysvPlan::Seccomp, none, &mut st).unwrap();
        assert!(deny.is_none() && notify.is_none());
        let gaps: Vec<_> = st.not_enforced.iter().map(|i| i.protection).collect();
        assert_eq!(
            gaps,
            vec![
                Protection::SeccompDenyList,
                Protection::SocketFamilyFilter,
                Protection::UnixDatagram,
                Protection::SysvIpc,
                Protection::OpenNotify
            ]
        );
    }

    fn full_seccomp() -> SeccompSupport {
        SeccompSupport {
            filter: Tristate::Yes,
            user_notif: Tristate::Yes,
        }
    }

    fn unix_dgram_status(caps: &CapabilitySet, opts: &SandboxOptions) -> EnforcementStatus {
        let mut st = EnforcementStatus::new(caps.compat(), 7);
        prepare_seccomp(caps, opts, SysvPlan::Host, full_seccomp(), &mut st).unwrap();
        st
    }

    #[test]
    fn unix_datagram_refusal_is_a_protection_and_the_opt_in_a_note() {
        let mut caps = CapabilitySet::new();
        let st = unix_dgram_status(&caps, &SandboxOptions::new());
        let item = st
            .enforced
            .iter()
            .find(|i| i.protection == Protection::UnixDatagram)
            .expect("enforced");
        assert!(item.detail.contains("seccomp refuses"), "{st}");
        let trapped = NotifySet::open_family()
            .with(Syscall::Socket)
            .with(Syscall::SocketPair);
        let st = unix_dgram_status(&caps, &SandboxOptions::new().with_notify(trapped));
        assert!(
            st.to_string()
                .contains("refused with EACCES by the supervisor"),
            "{st}"
        );
        // A notify set without them: the deny filter refuses.
        let st = unix_dgram_status(
            &caps,
            &SandboxOptions::new().with_notify(NotifySet::open_family()),
        );
        assert!(st.to_string().contains("seccomp refuses"), "{st}");
        caps.allow_unix_datagram(true);
        let st = unix_dgram_status(&caps, &SandboxOptions::new().with_notify(trapped));
        assert!(!st.enforces(Protection::UnixDatagram), "{st}");
        assert!(
            st.notes
                .iter()
                .any(|n| n.contains("sendmsg") && n.contains("nothing checks")),
            "{st}"
        );
    }

    #[test]
    fn unsupported_landlock_in_best_effort_still_prepares() {
        let mut caps = CapabilitySet::new();
        caps.set_compat(Compat::BestEffort);
        let st = landlock_status(&caps, &LandlockSupport::default()).unwrap();
        assert!(!st.enforces(Protection::Filesystem));
        assert!(st.enforces(Protection::NoNewPrivs));
    }
}

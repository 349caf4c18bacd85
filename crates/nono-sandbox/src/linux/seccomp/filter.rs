//! The seccomp filters nono installs: the deny-list + socket-family filter built from a
//! `CapabilitySet`, and the user-notification filter for the syscalls a supervisor brokers.
//! See the parent module for the program layout and the deny table.

use std::fmt;
use std::os::fd::OwnedFd;

use rustix::io::Errno;

use super::bpf::{self, Assembler, BpfError, Cond, Field, Insn, Label, SeccompData, Target};
use super::sys;
use super::syscalls::sysno;
pub use super::syscalls::Syscall;
use crate::caps::{CapabilitySet, NetworkMode, SysvIpc};

/// `SECCOMP_RET_*` actions, as returned by [`Filter::evaluate`].
pub mod action {
    /// Run the syscall.
    pub const ALLOW: u32 = 0x7fff_0000;
    /// Fail the syscall with the errno in the low 16 bits.
    pub const ERRNO: u32 = 0x0005_0000;
    /// Ask the listener (the supervisor) what to do.
    pub const USER_NOTIF: u32 = 0x7fc0_0000;
    /// Kill the whole process.
    pub const KILL_PROCESS: u32 = 0x8000_0000;

    /// `ERRNO | errno`.
    #[must_use]
    pub const fn errno(errno: i32) -> u32 {
        ERRNO | (errno as u32 & 0xffff)
    }
}

/// `AUDIT_ARCH_I386`: i386 syscalls made with `int 0x80` from an x86_64 process.
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// `AUDIT_ARCH_X86_64`.
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// `AUDIT_ARCH_AARCH64`.
pub const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
/// `AUDIT_ARCH_ARM`: 32-bit compat syscalls on aarch64.
pub const AUDIT_ARCH_ARM: u32 = 0x4000_0028;
/// `__X32_SYSCALL_BIT`: x32 syscalls arrive with `AUDIT_ARCH_X86_64` and this bit in `nr`.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

#[cfg(target_arch = "x86_64")]
mod native {
    pub const NAME: &str = "x86_64";
    pub const AUDIT_ARCH: Option<u32> = Some(super::AUDIT_ARCH_X86_64);
    pub const X32_BIT: Option<u32> = Some(super::X32_SYSCALL_BIT);
}
#[cfg(target_arch = "aarch64")]
mod native {
    pub const NAME: &str = "aarch64";
    pub const AUDIT_ARCH: Option<u32> = Some(super::AUDIT_ARCH_AARCH64);
    pub const X32_BIT: Option<u32> = None;
}
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
mod native {
    pub const NAME: &str = std::env::consts::ARCH;
    pub const AUDIT_ARCH: Option<u32> = None;
    pub const X32_BIT: Option<u32> = None;
}

/// The `AUDIT_ARCH_*` value of native syscalls on this machine, or `None` where nono does
/// not know the syscall numbers (every filter constructor then fails).
pub const NATIVE_AUDIT_ARCH: Option<u32> = native::AUDIT_ARCH;

/// When a [`DenyEntry`] applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum When {
    /// Every call.
    Always,
    /// `ioctl` whose request, truncated to 32 bits as the kernel does, is `request`
    /// (so setting high bits does not get around it).
    IoctlRequest {
        /// The request's name, e.g. `"TIOCSTI"`.
        name: &'static str,
        /// The request number.
        request: u32,
    },
    /// `clone` whose flags (`args[0]`, low 32 bits — the kernel ignores the rest) have any
    /// of these bits set.
    CloneFlags(u32),
    /// `personality` with an argument (low 32 bits) other than these.
    PersonalityOtherThan(&'static [u32]),
    /// A file mode argument (`args[mode]`, low 32 bits) with `S_ISUID` or `S_ISGID`
    /// (`0o6000`).
    SetIdMode {
        /// Which argument is the mode.
        mode: u8,
    },
    /// Creating a file (`O_CREAT` or `O_TMPFILE` in `args[flags]`) with `S_ISUID` or
    /// `S_ISGID` in `args[mode]`.
    CreateSetIdMode {
        /// Which argument holds the open flags.
        flags: u8,
        /// Which argument is the mode.
        mode: u8,
    },
    /// An open whose access mode (`args[flags] & O_ACCMODE`) is 3: Linux's "neither read nor
    /// write" mode, for which Landlock asks for no right at all, yet the fd counts as opened
    /// (ioctls, and in the metadata broker's eyes once, "for writing").
    AccessModeThree {
        /// Which argument holds the open flags.
        flags: u8,
    },
    /// `prlimit64` setting (`new_limit`, `args[2]`, not NULL) the limits of a process named by
    /// pid (`args[0]` not 0, i.e. not "the caller").
    SetLimitsOfPid,
    /// `setpriority` of anything but the calling process (`which` not `PRIO_PROCESS` or `who`
    /// not 0).
    PriorityOfOthers,
    /// `ioprio_set` of every process of a user (`which` is `IOPRIO_WHO_USER`).
    IoprioOfUser,
    /// A flags argument (`args[arg]`, low 32 bits: an `unsigned int`) with any of `mask` set.
    FlagsSet {
        /// The flag's name, e.g. `"RENAME_WHITEOUT"`.
        name: &'static str,
        /// Which argument holds the flags.
        arg: u8,
        /// The refused bits.
        mask: u32,
    },
    /// `ioctl` whose request has this type and number (its low 16 bits, `_IOC_TYPE << 8 |
    /// _IOC_NR`), whatever its direction and size bits: for extensible ioctls the kernel
    /// dispatches on type and number alone and takes the size from the request.
    IoctlTypeNr {
        /// The request's name, e.g. `"PIDFD_GET_INFO"`.
        name: &'static str,
        /// `_IOC_TYPE << 8 | _IOC_NR`.
        type_nr: u16,
    },
}

/// One row of the deny table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DenyEntry {
    /// The syscall's name.
    pub syscall: &'static str,
    /// Its number on this machine.
    pub nr: u32,
    /// Which calls are denied.
    pub when: When,
    /// The errno the call fails with.
    pub errno: i32,
    /// Why it is denied, in one line.
    pub reason: &'static str,
}

impl DenyEntry {
    /// A short name for the row: the syscall, plus the condition if there is one
    /// (`"ioctl(TIOCSTI)"`, `"clone(CLONE_NEW*)"`, `"personality(other)"`).
    #[must_use]
    pub fn label(&self) -> String {
        match self.when {
            When::Always => self.syscall.to_owned(),
            When::IoctlRequest { name, .. } => format!("{}({name})", self.syscall),
            When::CloneFlags(_) => format!("{}(CLONE_NEW*)", self.syscall),
            When::PersonalityOtherThan(_) => format!("{}(other)", self.syscall),
            When::SetIdMode { .. } => format!("{}(S_ISUID|S_ISGID)", self.syscall),
            When::CreateSetIdMode { .. } => format!("{}(O_CREAT, S_ISUID|S_ISGID)", self.syscall),
            When::AccessModeThree { .. } => format!("{}(O_ACCMODE == 3)", self.syscall),
            When::SetLimitsOfPid => format!("{}(pid, new limit)", self.syscall),
            When::PriorityOfOthers => format!("{}(other)", self.syscall),
            When::IoprioOfUser => format!("{}(IOPRIO_WHO_USER)", self.syscall),
            When::FlagsSet { name, .. } | When::IoctlTypeNr { name, .. } => {
                format!("{}({name})", self.syscall)
            }
        }
    }
}

/// Every `CLONE_NEW*` flag that `clone(2)` accepts (`CLONE_NEWTIME` only exists for
/// `clone3`/`unshare`; in `clone` its bit belongs to the exit signal).
pub const CLONE_NEW_FLAGS: u32 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET) as u32;

/// `S_ISUID | S_ISGID`: the mode bits that make an executable run with its owner's or
/// group's identity.
pub const SETID_BITS: u32 = libc::S_ISUID | libc::S_ISGID;

/// The open flags that create a file (and so apply a mode): `O_CREAT`, and `O_TMPFILE`
/// without its `O_DIRECTORY` part.
pub const CREATE_FLAGS: u32 = (libc::O_CREAT | (libc::O_TMPFILE & !libc::O_DIRECTORY)) as u32;

/// `RENAME_WHITEOUT` (`renameat2` flags): leaves a 0:0 character device (an overlayfs
/// whiteout) where the source was.
pub const RENAME_WHITEOUT: u32 = 1 << 2;

/// `PIDFD_GET_INFO` (`_IOWR(PIDFS_IOCTL_MAGIC = 0xFF, 11, struct pidfd_info)`, Linux 6.13), by
/// type and number (`0xFF << 8 | 11`): the kernel accepts every size of the extensible struct.
pub const PIDFD_GET_INFO_TYPE_NR: u16 = 0xff0b;

/// `personality(0xffffffff)` (query) and `PER_LINUX` are the only values allowed.
pub const PERSONALITY_ALLOWED: &[u32] = &[0xffff_ffff, 0];

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
macro_rules! deny {
    ($name:ident, $errno:ident, $reason:literal) => {
        deny!($name, When::Always, $errno, $reason)
    };
    ($name:ident, $when:expr, $errno:ident, $reason:literal) => {
        DenyEntry {
            syscall: stringify!($name),
            nr: sysno::$name,
            when: $when,
            errno: libc::$errno,
            reason: $reason,
        }
    };
}

/// The deny table (see the module docs). Rows with the same syscall are checked in order.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const DENY_TABLE: &[DenyEntry] = &[
    deny!(io_uring_setup, EPERM, "io_uring runs opens, connects and reads as ring operations seccomp never sees"),
    deny!(io_uring_enter, EPERM, "io_uring (see io_uring_setup)"),
    deny!(io_uring_register, EPERM, "io_uring (see io_uring_setup)"),
    deny!(ioctl, When::IoctlRequest { name: "TIOCSTI", request: 0x5412 }, EPERM,
        "pushes keystrokes into the terminal's input queue: commands typed into the user's shell"),
    deny!(ioctl, When::IoctlRequest { name: "TIOCLINUX", request: 0x541c }, EPERM,
        "virtual-console selection paste injects input like TIOCSTI"),
    deny!(ptrace, EPERM, "reads and writes other processes' memory and registers"),
    deny!(process_vm_readv, EPERM, "cross-process memory read, like ptrace"),
    deny!(process_vm_writev, EPERM, "cross-process memory write, like ptrace"),
    deny!(pidfd_getfd, EPERM, "copies a file descriptor out of another process (ptrace-level access)"),
    deny!(bpf, EPERM, "loads programs into the kernel: large attack surface"),
    deny!(perf_event_open, EPERM, "kernel profiling: side channels and a long history of kernel bugs"),
    deny!(keyctl, EPERM, "the kernel keyring is shared with the user's other sessions"),
    deny!(add_key, EPERM, "kernel keyring (see keyctl)"),
    deny!(request_key, EPERM, "kernel keyring (see keyctl)"),
    deny!(userfaultfd, EPERM, "stalls kernel accesses to user memory at will: the standard tool for winning kernel races"),
    deny!(mount, EPERM, "changes the mount table (as root: the host's)"),
    deny!(umount2, EPERM, "changes the mount table"),
    deny!(pivot_root, EPERM, "changes the root mount"),
    deny!(move_mount, EPERM, "new mount API (see mount)"),
    deny!(fsopen, EPERM, "new mount API (see mount)"),
    deny!(fsconfig, EPERM, "new mount API (see mount)"),
    deny!(fsmount, EPERM, "new mount API (see mount)"),
    deny!(fspick, EPERM, "new mount API (see mount)"),
    deny!(open_tree, EPERM, "new mount API: clones mounts"),
    deny!(open_tree_attr, EPERM, "new mount API: clones mounts with new attributes"),
    deny!(mount_setattr, EPERM, "changes mount flags (e.g. makes a read-only mount writable)"),
    deny!(unshare, EPERM, "new namespaces: a user namespace gives root-only kernel surface to anyone"),
    deny!(setns, EPERM, "joins another process's namespaces"),
    deny!(clone, When::CloneFlags(CLONE_NEW_FLAGS), EPERM, "new namespaces at fork time, like unshare"),
    deny!(clone3, ENOSYS, "its flags are in memory seccomp cannot read; ENOSYS makes libc fall back to clone, which is checked"),
    deny!(personality, When::PersonalityOtherThan(PERSONALITY_ALLOWED), EPERM,
        "ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC etc. weaken ASLR and NX; only the query and PER_LINUX pass"),
    deny!(kexec_load, EPERM, "replaces the running kernel"),
    deny!(kexec_file_load, EPERM, "replaces the running kernel"),
    deny!(init_module, EPERM, "loads kernel code"),
    deny!(finit_module, EPERM, "loads kernel code"),
    deny!(delete_module, EPERM, "unloads kernel code"),
    deny!(open_by_handle_at, EPERM, "opens files by handle, bypassing path-based rules (the 'shocker' container escape)"),
    deny!(name_to_handle_at, EPERM, "makes the handles open_by_handle_at consumes"),
    deny!(chroot, EPERM, "as root, chroot games escape path-based confinement; nothing in a sandbox needs it"),
    deny!(swapon, EPERM, "host memory configuration"),
    deny!(swapoff, EPERM, "host memory configuration"),
    deny!(reboot, EPERM, "reboots or halts the host (as root)"),
    deny!(acct, EPERM, "host-wide process accounting into a file of the caller's choice"),
    #[cfg(target_arch = "x86_64")]
    deny!(iopl, EPERM, "direct hardware I/O port access"),
    #[cfg(target_arch = "x86_64")]
    deny!(ioperm, EPERM, "direct hardware I/O port access"),
    deny!(quotactl, EPERM, "host disk quota administration"),
    deny!(quotactl_fd, EPERM, "host disk quota administration"),
    deny!(vhangup, EPERM, "hangs up the controlling terminal, which the user's shell shares"),
    deny!(lookup_dcookie, EPERM, "profiler-only kernel path lookup (removed in Linux 6.9; denied regardless)"),
    deny!(settimeofday, EPERM, "sets the host clock (as root)"),
    deny!(clock_settime, EPERM, "sets the host clock (as root)"),
    deny!(sethostname, EPERM, "renames the host (as root, outside a UTS namespace)"),
    deny!(setdomainname, EPERM, "renames the host's NIS domain (as root)"),
    deny!(fanotify_init, EPERM, "host-wide filesystem monitoring and permission events (as root)"),
    #[cfg(target_arch = "x86_64")]
    deny!(chmod, When::SetIdMode { mode: 1 }, EPERM,
        "a set-user/group-ID file left in a write grant runs as its owner (root) for anyone later"),
    deny!(fchmod, When::SetIdMode { mode: 1 }, EPERM, "set-ID bits (see chmod)"),
    deny!(fchmodat, When::SetIdMode { mode: 2 }, EPERM, "set-ID bits (see chmod)"),
    deny!(fchmodat2, When::SetIdMode { mode: 2 }, EPERM, "set-ID bits (see chmod)"),
    #[cfg(target_arch = "x86_64")]
    deny!(open, When::CreateSetIdMode { flags: 1, mode: 2 }, EPERM, "creates a file with set-ID bits (see chmod)"),
    deny!(openat, When::CreateSetIdMode { flags: 2, mode: 3 }, EPERM, "creates a file with set-ID bits (see chmod)"),
    #[cfg(target_arch = "x86_64")]
    deny!(open, When::AccessModeThree { flags: 1 }, EACCES,
        "mode 3 (no read, no write): Landlock checks no right, yet the fd takes ioctls and f* metadata calls"),
    deny!(openat, When::AccessModeThree { flags: 2 }, EACCES, "access mode 3 (see open)"),
    deny!(openat2, ENOSYS,
        "its mode is in memory seccomp cannot read (set-ID creation); ENOSYS makes callers fall back to openat, which is checked"),
    #[cfg(target_arch = "x86_64")]
    deny!(creat, When::SetIdMode { mode: 1 }, EPERM, "creates a file with set-ID bits (see chmod)"),
    #[cfg(target_arch = "x86_64")]
    deny!(mknod, When::SetIdMode { mode: 1 }, EPERM, "creates a regular file with set-ID bits (see chmod)"),
    deny!(mknodat, When::SetIdMode { mode: 2 }, EPERM, "creates a regular file with set-ID bits (see chmod)"),
    deny!(prlimit64, When::SetLimitsOfPid, EPERM,
        "lowers an outside process's limits (RLIMIT_CPU ends in SIGKILL); setrlimit passes pid 0"),
    deny!(setpriority, When::PriorityOfOthers, EPERM, "renices processes outside the sandbox; nice() passes PRIO_PROCESS, 0"),
    deny!(ioprio_set, When::IoprioOfUser, EPERM,
        "sets the I/O priority of every process of the user, outside the sandbox too; ionice passes a pid"),
    deny!(renameat2, When::FlagsSet { name: "RENAME_WHITEOUT", arg: 4, mask: RENAME_WHITEOUT }, EPERM,
        "leaves a 0:0 character device in a write grant, where mknod of devices is refused"),
    deny!(ioctl, When::IoctlTypeNr { name: "PIDFD_GET_INFO", type_nr: PIDFD_GET_INFO_TYPE_NR }, ENOTTY,
        "ids, parent, cgroup of any process (/proc/PID is refused); ENOTTY as before 6.13, callers fall back"),
];

/// System V IPC, refused when the sandbox cannot have its own IPC namespace (see
/// [`crate::caps::SysvIpc`]). `ENOSYS`: what a kernel without System V IPC answers,
/// so programs take their fallback (X11 clients drop MIT-SHM, for instance).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const SYSV_TABLE: &[DenyEntry] = &[
    deny!(
        shmget,
        ENOSYS,
        "System V shared memory of other programs, found by key (no Landlock scope)"
    ),
    deny!(shmat, ENOSYS, "System V IPC (see shmget)"),
    deny!(shmctl, ENOSYS, "System V IPC (see shmget)"),
    deny!(msgget, ENOSYS, "System V IPC (see shmget)"),
    deny!(msgsnd, ENOSYS, "System V IPC (see shmget)"),
    deny!(msgrcv, ENOSYS, "System V IPC (see shmget)"),
    deny!(msgctl, ENOSYS, "System V IPC (see shmget)"),
    deny!(semget, ENOSYS, "System V IPC (see shmget)"),
    deny!(semop, ENOSYS, "System V IPC (see shmget)"),
    deny!(semtimedop, ENOSYS, "System V IPC (see shmget)"),
    deny!(semctl, ENOSYS, "System V IPC (see shmget)"),
];

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const DENY_TABLE: &[DenyEntry] = &[];
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const SYSV_TABLE: &[DenyEntry] = &[];

/// The deny table for this machine (empty where seccomp filters are unsupported).
#[must_use]
pub fn deny_table() -> &'static [DenyEntry] {
    DENY_TABLE
}

/// The System V IPC rows, added to the deny filter when SysV IPC is refused rather than
/// made private (every row unconditional, `ENOSYS`).
#[must_use]
pub fn sysv_ipc_table() -> &'static [DenyEntry] {
    SYSV_TABLE
}

/// Which syscalls the notify filter traps. A small `Copy` bit set over [`Syscall`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NotifySet(u64);

impl NotifySet {
    /// Nothing trapped.
    #[must_use]
    pub const fn new() -> Self {
        NotifySet(0)
    }

    /// The open family: `open`, `openat`, `openat2`, `creat`.
    ///
    /// `openat2` stays in the set although the deny filter fails it with `ENOSYS` (so,
    /// installed together, `ERRNO` wins and it never reaches the listener): a notify filter
    /// installed without the deny-list still sees every way of opening a file.
    #[must_use]
    pub fn open_family() -> Self {
        Syscall::OPEN_FAMILY.iter().copied().collect()
    }

    /// This set plus `s`.
    #[must_use]
    pub fn with(mut self, s: Syscall) -> Self {
        self.insert(s);
        self
    }

    /// Add `s`.
    pub fn insert(&mut self, s: Syscall) {
        self.0 |= 1 << (s as u8);
    }

    /// Remove `s`.
    pub fn remove(&mut self, s: Syscall) {
        self.0 &= !(1 << (s as u8));
    }

    /// Whether `s` is trapped.
    #[must_use]
    pub fn contains(&self, s: Syscall) -> bool {
        self.0 & (1 << (s as u8)) != 0
    }

    /// Whether nothing is trapped.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// The trapped syscalls, in declaration order.
    pub fn iter(&self) -> impl Iterator<Item = Syscall> + '_ {
        Syscall::ALL.iter().copied().filter(|s| self.contains(*s))
    }
}

impl FromIterator<Syscall> for NotifySet {
    fn from_iter<I: IntoIterator<Item = Syscall>>(iter: I) -> Self {
        let mut set = NotifySet::new();
        for s in iter {
            set.insert(s);
        }
        set
    }
}

impl fmt::Debug for NotifySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// Errors building a filter.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeccompError {
    /// nono does not know this machine's syscall numbers.
    #[error(
        "seccomp filters are not supported on {arch}: nono knows the syscall numbers of \
         x86_64 and aarch64 only (run on one of those, or without the seccomp layer where \
         the caller offers best-effort)"
    )]
    UnsupportedArch {
        /// The machine's architecture.
        arch: &'static str,
    },
    /// The BPF program could not be assembled (a bug in nono's filter builder).
    #[error(
        "assembling the seccomp {filter} filter failed (a bug in nono, please report it): {source}"
    )]
    Assemble {
        /// Which filter.
        filter: &'static str,
        /// What the assembler found.
        #[source]
        source: BpfError,
    },
}

/// A finished seccomp program. All allocation is done when it is built, so
/// [`install`](Filter::install) can run between `fork` and `exec`.
#[derive(Clone, PartialEq, Eq)]
pub struct Filter {
    prog: Vec<Insn>,
    kind: &'static str,
}

impl fmt::Debug for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Filter")
            .field("kind", &self.kind)
            .field("instructions", &self.prog.len())
            .finish()
    }
}

/// Flags for every install: apply to all threads (a self-sandboxing program may already
/// have some) and report a thread that cannot be synchronised as `ESRCH` instead of a TID
/// (which is also what allows `TSYNC` together with `NEW_LISTENER`).
const INSTALL_FLAGS: libc::c_ulong = sys::FLAG_TSYNC | sys::FLAG_TSYNC_ESRCH;

impl Filter {
    /// The deny-list + socket filter for these capabilities (arch check first). With
    /// [`SysvIpc::Private`](crate::caps::SysvIpc) or `Deny` the System V IPC calls are
    /// refused too ([`sysv_ipc_table`]): a filter alone cannot make a private IPC namespace
    /// (`PreparedSandbox` does, where it can, and then leaves them allowed). Unix datagram
    /// sockets are refused (`EACCES`) unless
    /// [`allows_unix_datagram`](CapabilitySet::allows_unix_datagram).
    pub fn for_caps(caps: &CapabilitySet) -> Result<Filter, SeccompError> {
        Filter::deny_list(
            caps.network(),
            caps.sysv_ipc() != SysvIpc::Host,
            !caps.allows_unix_datagram(),
        )
    }

    /// The deny-list + socket filter for a network mode (System V IPC allowed, Unix datagram
    /// sockets refused, as for a default [`CapabilitySet`] with that mode).
    pub fn for_network(network: &NetworkMode) -> Result<Filter, SeccompError> {
        Filter::deny_list(network, false, true)
    }

    /// The deny-list + socket filter, plus the System V IPC rows if `deny_sysv`, refusing
    /// Unix datagram sockets with `EACCES` if `refuse_unix_dgram`.
    pub(crate) fn deny_list(
        network: &NetworkMode,
        deny_sysv: bool,
        refuse_unix_dgram: bool,
    ) -> Result<Filter, SeccompError> {
        Filter::build(
            "deny-list",
            &Spec {
                deny: Some(DenySpec {
                    network,
                    deny_sysv,
                    refuse_unix_dgram,
                    trap_refused_sockets: false,
                }),
                notify: None,
            },
        )
    }

    /// The user-notification filter: every syscall in `syscalls` is reported to the
    /// listener ([`install_with_listener`](Filter::install_with_listener)) and waits for its
    /// answer. Arch check first, like the deny filter.
    pub fn notify(syscalls: &NotifySet) -> Result<Filter, SeccompError> {
        Filter::build(
            "notify",
            &Spec {
                deny: None,
                notify: Some(syscalls),
            },
        )
    }

    /// The deny-list and the user-notification filter as one program, to install with
    /// [`install_with_listener`](Filter::install_with_listener): for every input it answers
    /// what the kernel takes from [`deny_list`](Filter::deny_list) and
    /// [`notify`](Filter::notify) installed together (the strictest action), and a syscall
    /// pays for one program instead of two.
    ///
    /// With `trap_refused_sockets`, a `socket`/`socketpair` the network mode refuses (a
    /// family other than `AF_UNIX`, or in port mode anything but a TCP stream) is trapped
    /// (`USER_NOTIF`) instead of failed, so that a supervisor refuses it — with the errno
    /// [`socket_refusal`] names, the one the program would have seen — and reports it. Only
    /// the merged program can do that: a deny-list alone has no listener to ask.
    pub(crate) fn deny_list_with_notify(
        network: &NetworkMode,
        deny_sysv: bool,
        refuse_unix_dgram: bool,
        trap_refused_sockets: bool,
        syscalls: &NotifySet,
    ) -> Result<Filter, SeccompError> {
        Filter::build(
            "deny-list+notify",
            &Spec {
                deny: Some(DenySpec {
                    network,
                    deny_sysv,
                    refuse_unix_dgram,
                    trap_refused_sockets,
                }),
                notify: Some(syscalls),
            },
        )
    }

    /// [`for_caps`](Filter::for_caps) and [`notify`](Filter::notify) merged into one program
    /// (see `deny_list_with_notify`), as a supervised sandbox installs it: Unix datagram
    /// sockets are left to the notify part when it traps both `socket` and `socketpair`.
    pub fn for_caps_with_notify(
        caps: &CapabilitySet,
        syscalls: &NotifySet,
    ) -> Result<Filter, SeccompError> {
        let trapped = Syscall::UNIX_DATAGRAM.iter().all(|s| syscalls.contains(*s));
        Filter::deny_list_with_notify(
            caps.network(),
            caps.sysv_ipc() != SysvIpc::Host,
            !caps.allows_unix_datagram() && !trapped,
            false,
            syscalls,
        )
    }

    fn build(kind: &'static str, spec: &Spec<'_>) -> Result<Filter, SeccompError> {
        let prog = build(spec)?.map_err(|source| SeccompError::Assemble {
            filter: kind,
            source,
        })?;
        Ok(Filter { prog, kind })
    }

    /// Whether the kernel's seccomp action cache (Linux 5.11+) allows syscall `nr` of the
    /// native arch without running the program: true when the program allows it after
    /// looking at nothing but the arch and the number (see [`bpf::is_const_allow`]).
    #[must_use]
    pub fn kernel_cache_allows(&self, nr: u32) -> bool {
        NATIVE_AUDIT_ARCH.is_some_and(|arch| bpf::is_const_allow(&self.prog, arch, nr))
    }

    /// The program.
    #[must_use]
    pub fn instructions(&self) -> &[Insn] {
        &self.prog
    }

    /// What the kernel would answer for `data` (a `SECCOMP_RET_*` value, see [`action`]),
    /// computed by the reference interpreter. For tests and explanations.
    #[must_use]
    pub fn evaluate(&self, data: &SeccompData) -> u32 {
        // A Filter is only built from a program the assembler checked, so it always returns.
        bpf::run(&self.prog, data).unwrap_or(action::KILL_PROCESS)
    }

    /// How many instructions the kernel runs for `data` (the cost of this filter for that
    /// call), by the reference interpreter.
    #[must_use]
    pub fn cost(&self, data: &SeccompData) -> usize {
        bpf::run_counted(&self.prog, data).map_or(0, |(_, steps)| steps)
    }

    /// Set `PR_SET_NO_NEW_PRIVS`, then install the filter on every thread of the process
    /// (`SECCOMP_FILTER_FLAG_TSYNC`).
    ///
    /// For a [`notify`](Filter::notify) filter use
    /// [`install_with_listener`](Filter::install_with_listener): without a listener, every
    /// trapped syscall fails with `ENOSYS`.
    ///
    /// Async-signal-safe (no allocation): may be called between `fork` and `exec`.
    ///
    /// # Errors
    /// The failing call's errno: `prctl` or `seccomp` (`EINVAL` if the kernel lacks a flag,
    /// `ESRCH` if another thread has a diverging filter, `EFAULT`/`EACCES` are bugs).
    ///
    /// # References
    /// [`seccomp(2)`](https://man7.org/linux/man-pages/man2/seccomp.2.html)
    pub fn install(&self) -> Result<(), Errno> {
        rustix::thread::set_no_new_privs(true)?;
        sys::install(&self.prog, INSTALL_FLAGS)
    }

    /// Like [`install`](Filter::install), with `SECCOMP_FILTER_FLAG_NEW_LISTENER`: returns
    /// the listener (close-on-exec) for [`NotifyFd`](super::NotifyFd). Also asks for
    /// `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV` (Linux 5.19) so that once the supervisor has
    /// received a notification, signals other than fatal ones cannot interrupt the wait and
    /// restart the syscall (which otherwise livelocks programs that are signalled often,
    /// such as Go's preemption); on older kernels it installs without it.
    ///
    /// Async-signal-safe (no allocation).
    pub fn install_with_listener(&self) -> Result<OwnedFd, Errno> {
        rustix::thread::set_no_new_privs(true)?;
        match sys::install_with_listener(&self.prog, INSTALL_FLAGS | sys::FLAG_WAIT_KILLABLE_RECV) {
            Err(Errno::INVAL) => sys::install_with_listener(&self.prog, INSTALL_FLAGS),
            other => other,
        }
    }
}

/// One shared `ret` per distinct action, emitted at the end of the program.
struct Returns {
    labels: Vec<(u32, Label)>,
}

impl Returns {
    fn new() -> Self {
        Returns { labels: Vec::new() }
    }

    fn get(&mut self, asm: &mut Assembler, action: u32) -> Label {
        if let Some((_, l)) = self.labels.iter().find(|(a, _)| *a == action) {
            return *l;
        }
        let l = asm.label();
        self.labels.push((action, l));
        l
    }

    fn errno(&mut self, asm: &mut Assembler, errno: i32) -> Label {
        self.get(asm, action::errno(errno))
    }

    fn emit(self, asm: &mut Assembler) {
        for (action, label) in self.labels {
            asm.bind(label);
            asm.ret(action);
        }
    }
}

/// `A = arch`; foreign arch → EPERM; `A = nr`; x32 → EPERM. Leaves `nr` in `A`.
fn prologue(asm: &mut Assembler, rets: &mut Returns) -> Result<(), SeccompError> {
    let arch = native::AUDIT_ARCH.ok_or(SeccompError::UnsupportedArch { arch: native::NAME })?;
    let foreign = rets.errno(asm, libc::EPERM);
    asm.load(Field::Arch);
    asm.jump(Cond::Eq, arch, Target::Next, foreign);
    asm.load(Field::Nr);
    if let Some(bit) = native::X32_BIT {
        // `>=` rather than "bit set": also refuses numbers with the top bit set.
        asm.jump(Cond::Ge, bit, foreign, Target::Next);
    }
    Ok(())
}

const AF_UNIX: u32 = libc::AF_UNIX as u32;
const AF_INET: u32 = libc::AF_INET as u32;
const AF_INET6: u32 = libc::AF_INET6 as u32;
const SOCK_STREAM: u32 = libc::SOCK_STREAM as u32;
const SOCK_SEQPACKET: u32 = libc::SOCK_SEQPACKET as u32;
/// `SOCK_TYPE_MASK`: the type without `SOCK_NONBLOCK`/`SOCK_CLOEXEC`.
const SOCK_TYPE_MASK: u32 = 0xf;
const IPPROTO_TCP: u32 = libc::IPPROTO_TCP as u32;
const PRIO_PROCESS: u32 = libc::PRIO_PROCESS;
/// `IOPRIO_WHO_USER` (`linux/ioprio.h`; not in `libc`).
const IOPRIO_WHO_USER: u32 = 3;

type Built = Result<Result<Vec<Insn>, BpfError>, SeccompError>;

/// `ld args[1].lo; and SOCK_TYPE_MASK; jeq SOCK_STREAM ? ALLOW; jeq SOCK_SEQPACKET ? ALLOW
/// : unix_dgram` — the type check of an `AF_UNIX` `socket`/`socketpair`: every other type is
/// a datagram socket (`SOCK_DGRAM`, and `SOCK_RAW`, which `AF_UNIX` turns into `SOCK_DGRAM`)
/// or one the kernel refuses anyway.
fn unix_type_check(asm: &mut Assembler, allow: Label, unix_dgram: Label) {
    asm.load(Field::ArgLo(1));
    asm.and(SOCK_TYPE_MASK);
    asm.jump(Cond::Eq, SOCK_STREAM, allow, Target::Next);
    asm.jump(Cond::Eq, SOCK_SEQPACKET, allow, unix_dgram);
}

/// `MSG_FASTOPEN` (`include/linux/socket.h`).
const MSG_FASTOPEN: u32 = 0x2000_0000;

/// The deny-list part of a program (see [`Filter::deny_list`]).
#[derive(Debug, Clone, Copy)]
struct DenySpec<'a> {
    network: &'a NetworkMode,
    deny_sysv: bool,
    refuse_unix_dgram: bool,
    /// Trap (`USER_NOTIF`) the sockets the network mode refuses instead of failing them;
    /// only with a notify part (see [`Filter::deny_list_with_notify`]).
    trap_refused_sockets: bool,
}

/// What a program is made of: the deny-list, the notify part, or both (merged).
#[derive(Debug, Clone, Copy)]
struct Spec<'a> {
    deny: Option<DenySpec<'a>>,
    notify: Option<&'a NotifySet>,
}

/// What the deny-list does with one syscall number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DenyStage {
    /// Nothing: the call goes on to the notify part, or is allowed.
    Pass,
    /// An unconditional row: the call fails with this errno.
    Errno(i32),
    /// Conditional rows of the deny table: a block inspects the arguments.
    Rows,
    /// `socket`/`socketpair` with the family or Unix-datagram check.
    Socket,
    /// `sendmsg`/`sendmmsg` in TCP-ports mode: `MSG_FASTOPEN` in the flags argument
    /// `args[i]` is refused (`EACCES`). TCP Fast Open connects to the `msg_name` in the child's
    /// memory, which no filter sees and the supervisor does not broker (it checks the address
    /// of `connect` and `sendto`: an allowed port reaches loopback, the proxy's port the proxy);
    /// `connect` then `send`, or `sendto(MSG_FASTOPEN)`, still work.
    FastOpen(u8),
}

/// What the notify part does with one syscall number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NotifyStage {
    /// Not trapped.
    Pass,
    /// Every call trapped.
    Trap,
    /// `sendto`, trapped with a destination address.
    SendTo,
    /// `socket`/`socketpair`, trapped for a Unix datagram socket.
    UnixDatagram,
    /// Trapped when the pid argument `args[i]` is not 0.
    OtherProcess(u8),
}

impl DenySpec<'_> {
    fn family_filter(&self) -> bool {
        *self.network != NetworkMode::Allow
    }

    fn stage(&self, nr: u32) -> DenyStage {
        let sysv = if self.deny_sysv { SYSV_TABLE } else { &[] };
        // Unconditional rows first (the first row of a number decides), as the table says.
        if let Some(e) = DENY_TABLE
            .iter()
            .chain(sysv)
            .find(|e| e.nr == nr && e.when == When::Always)
        {
            return DenyStage::Errno(e.errno);
        }
        if DENY_TABLE.iter().any(|e| e.nr == nr) {
            return DenyStage::Rows;
        }
        if (nr == sysno::socket || nr == sysno::socketpair)
            && (self.family_filter() || self.refuse_unix_dgram)
        {
            return DenyStage::Socket;
        }
        if matches!(self.network, NetworkMode::Ports { .. }) {
            if nr == sysno::sendmsg {
                return DenyStage::FastOpen(2);
            }
            if nr == sysno::sendmmsg {
                return DenyStage::FastOpen(3);
            }
        }
        DenyStage::Pass
    }
}

fn notify_stage(set: &NotifySet, nr: u32) -> NotifyStage {
    let Some(s) = set.iter().find(|s| s.nr() == Some(nr)) else {
        return NotifyStage::Pass;
    };
    if s == Syscall::SendTo {
        NotifyStage::SendTo
    } else if Syscall::UNIX_DATAGRAM.contains(&s) {
        NotifyStage::UnixDatagram
    } else if s == Syscall::IoprioSet {
        NotifyStage::OtherProcess(1)
    } else if Syscall::OTHER_PROCESS.contains(&s) {
        NotifyStage::OtherProcess(0)
    } else {
        NotifyStage::Trap
    }
}

/// Every number the parts of `spec` may single out, whatever their options: the decision
/// tree is built over these, so its shape (and the cost of a syscall) does not depend on
/// which calls a given set traps.
fn universe(spec: &Spec<'_>) -> Vec<u32> {
    let mut v = Vec::new();
    if spec.deny.is_some() {
        v.extend(DENY_TABLE.iter().chain(SYSV_TABLE).map(|e| e.nr));
        v.extend([
            sysno::socket,
            sysno::socketpair,
            sysno::sendmsg,
            sysno::sendmmsg,
        ]);
    }
    if spec.notify.is_some() {
        v.extend(Syscall::ALL.iter().filter_map(|s| s.nr()));
    }
    v.sort_unstable();
    v.dedup();
    v
}

/// Syscalls every program makes all the time: the decision tree gives the ranges holding
/// them more weight, so they are decided in fewer comparisons (see [`Filter::cost`]).
const HOT: &[u32] = &[
    sysno::read,
    sysno::write,
    sysno::pread64,
    sysno::pwrite64,
    sysno::readv,
    sysno::writev,
    sysno::close,
    sysno::fstat,
    sysno::newfstatat,
    sysno::statx,
    sysno::lseek,
    sysno::mmap,
    sysno::munmap,
    sysno::mprotect,
    sysno::madvise,
    sysno::brk,
    sysno::futex,
    sysno::openat,
    sysno::getdents64,
    sysno::fcntl,
    sysno::rt_sigprocmask,
    sysno::rt_sigaction,
    sysno::getpid,
    sysno::getppid,
    sysno::gettid,
    sysno::clock_gettime,
    sysno::ppoll,
    sysno::epoll_pwait,
    sysno::recvfrom,
    sysno::recvmsg,
];

/// Extra weight of a hot syscall in the tree (a plain range weighs 1).
const HOT_WEIGHT: u32 = 16;

/// How one range of syscall numbers ends.
#[derive(Debug, Clone, Copy)]
enum Leaf {
    /// A `ret` placed right in the tree.
    Ret(u32),
    /// A block after the tree that inspects the arguments.
    Block(Label),
}

/// `[lo, next segment's lo)` of syscall numbers, decided alike.
#[derive(Debug, Clone, Copy)]
struct Segment {
    lo: u32,
    leaf: Leaf,
    weight: u32,
}

/// The number of hot syscalls in `[lo, hi]`.
fn hot_in(lo: u32, hi: u32) -> u32 {
    let n = HOT.iter().filter(|h| (lo..=hi).contains(*h)).count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Binary search on `nr` (in `A`) over `segs`, emitted in pre-order: each node is one
/// `jge`, a leaf is a `ret` (or the jump to its block goes straight there). Splits where the
/// weights on both sides balance, so hot syscalls sit near the root.
fn emit_tree(asm: &mut Assembler, segs: &[Segment]) {
    if let [only] = segs {
        match only.leaf {
            Leaf::Ret(a) => asm.ret(a),
            Leaf::Block(l) => asm.goto(l),
        }
        return;
    }
    let total: u64 = segs.iter().map(|s| u64::from(s.weight)).sum();
    let mut best = (u64::MAX, 1);
    let mut left = 0u64;
    for (k, s) in segs.iter().enumerate().take(segs.len() - 1) {
        left += u64::from(s.weight);
        let imbalance = (2 * left).abs_diff(total);
        if imbalance < best.0 {
            best = (imbalance, k + 1);
        }
    }
    let (lo, hi) = segs.split_at(best.1);
    let block_of = |s: &[Segment]| match s {
        [Segment {
            leaf: Leaf::Block(l),
            ..
        }] => Some(*l),
        _ => None,
    };
    let (t, hi_label) = match block_of(hi) {
        Some(l) => (l, None),
        None => {
            let l = asm.label();
            (l, Some(l))
        }
    };
    asm.jump(
        Cond::Ge,
        hi[0].lo,
        t,
        block_of(lo).map_or(Target::Next, Target::Label),
    );
    if block_of(lo).is_none() {
        emit_tree(asm, lo);
    }
    if let Some(l) = hi_label {
        asm.bind(l);
        emit_tree(asm, hi);
    }
}

/// Where a call a deny block lets through goes: a label, and the action `ret` there if it
/// is a plain return (emitted in place of a final jump to it, one instruction less), or
/// `None` when the notify check follows right after the block.
#[derive(Debug, Clone, Copy)]
struct Pass {
    label: Label,
    ret: Option<u32>,
}

impl Pass {
    /// Leave the block for `pass` as its last instruction.
    fn leave(self, asm: &mut Assembler) {
        match self.ret {
            Some(action) => asm.ret(action),
            None => asm.goto(self.label),
        }
    }
}

/// The conditional deny rows of `nr`, in table order; a call no row refuses goes to `pass`
/// (by falling off the end when `falls_through`).
fn emit_deny_rows(
    asm: &mut Assembler,
    rets: &mut Returns,
    nr: u32,
    pass: Pass,
    falls_through: bool,
) {
    let Pass {
        label: pass_label, ..
    } = pass;
    for e in DENY_TABLE
        .iter()
        .filter(|e| e.nr == nr && e.when != When::Always)
    {
        let deny = rets.errno(asm, e.errno);
        emit_condition(asm, e.when, deny, pass_label);
    }
    if !falls_through {
        pass.leave(asm);
    }
}

/// The argument test of one conditional deny row: a call it matches jumps to `deny`; one it
/// does not falls through to the next instruction (or, for the allow-listing rows such as
/// [`When::PersonalityOtherThan`], jumps to `pass`). Shared with the legacy reference filter,
/// which differs only in how it reaches the rows.
pub(super) fn emit_condition(asm: &mut Assembler, when: When, deny: Label, pass: Label) {
    match when {
        When::Always => {}
        When::IoctlRequest { request, .. } => {
            asm.load(Field::ArgLo(1));
            asm.jump(Cond::Eq, request, deny, Target::Next);
        }
        When::CloneFlags(mask) => {
            asm.load(Field::ArgLo(0));
            asm.jump(Cond::Set, mask, deny, Target::Next);
        }
        When::PersonalityOtherThan(allowed) => {
            asm.load(Field::ArgLo(0));
            for v in allowed {
                asm.jump(Cond::Eq, *v, pass, Target::Next);
            }
            asm.goto(deny);
        }
        When::SetIdMode { mode } => {
            asm.load(Field::ArgLo(mode));
            asm.jump(Cond::Set, SETID_BITS, deny, Target::Next);
        }
        When::CreateSetIdMode { flags, mode } => {
            let next = asm.label();
            asm.load(Field::ArgLo(flags));
            asm.jump(Cond::Set, CREATE_FLAGS, Target::Next, next);
            asm.load(Field::ArgLo(mode));
            asm.jump(Cond::Set, SETID_BITS, deny, Target::Next);
            asm.bind(next);
        }
        When::AccessModeThree { flags } => {
            // Both bits of O_ACCMODE set.
            let next = asm.label();
            asm.load(Field::ArgLo(flags));
            asm.jump(Cond::Set, libc::O_WRONLY as u32, Target::Next, next);
            asm.jump(Cond::Set, libc::O_RDWR as u32, deny, Target::Next);
            asm.bind(next);
        }
        When::SetLimitsOfPid => {
            // pid_t is 32 bits; new_limit is a pointer: both halves.
            let next = asm.label();
            asm.load(Field::ArgLo(0));
            asm.jump(Cond::Eq, 0, next, Target::Next);
            asm.load(Field::ArgLo(2));
            asm.jump(Cond::Eq, 0, Target::Next, deny);
            asm.load(Field::ArgHi(2));
            asm.jump(Cond::Eq, 0, Target::Next, deny);
            asm.bind(next);
        }
        When::PriorityOfOthers => {
            asm.load(Field::ArgLo(0));
            asm.jump(Cond::Eq, PRIO_PROCESS, Target::Next, deny);
            asm.load(Field::ArgLo(1));
            asm.jump(Cond::Eq, 0, Target::Next, deny);
        }
        When::IoprioOfUser => {
            asm.load(Field::ArgLo(0));
            asm.jump(Cond::Eq, IOPRIO_WHO_USER, deny, Target::Next);
        }
        When::FlagsSet { arg, mask, .. } => {
            asm.load(Field::ArgLo(arg));
            asm.jump(Cond::Set, mask, deny, Target::Next);
        }
        When::IoctlTypeNr { type_nr, .. } => {
            asm.load(Field::ArgLo(1));
            asm.and(0xffff);
            asm.jump(Cond::Eq, u32::from(type_nr), deny, Target::Next);
        }
    }
}

/// The family and Unix-datagram check of `socket` or `socketpair` (`nr`); a call it lets
/// through goes to `pass`. Every path ends in a jump.
fn emit_socket(
    asm: &mut Assembler,
    rets: &mut Returns,
    nr: u32,
    deny: &DenySpec<'_>,
    pass: Pass,
    trap: Option<Label>,
) {
    let (exit, pass) = (pass, pass.label);
    let family_filter = deny.family_filter();
    // Where a socket the network mode refuses goes: its errno, or the supervisor.
    let trap = trap.filter(|_| deny.trap_refused_sockets);
    let refused = |asm: &mut Assembler, rets: &mut Returns, errno: i32| match trap {
        Some(t) => t,
        None => rets.errno(asm, errno),
    };
    // Where an AF_UNIX socket goes: straight through, or through the type check.
    let unix = if deny.refuse_unix_dgram {
        asm.label()
    } else {
        pass
    };
    asm.load(Field::ArgLo(0));
    if nr == sysno::socket {
        asm.jump(Cond::Eq, AF_UNIX, unix, Target::Next);
        match deny.network {
            NetworkMode::Allow => exit.leave(asm),
            NetworkMode::Block => {
                let no_family = refused(asm, rets, libc::EAFNOSUPPORT);
                asm.goto(no_family);
            }
            NetworkMode::Ports { .. } => {
                let no_family = refused(asm, rets, libc::EAFNOSUPPORT);
                let no_proto = refused(asm, rets, libc::EPROTONOSUPPORT);
                let inet = asm.label();
                asm.jump(Cond::Eq, AF_INET, inet, Target::Next);
                asm.jump(Cond::Eq, AF_INET6, inet, no_family);
                asm.bind(inet);
                asm.load(Field::ArgLo(1));
                asm.and(SOCK_TYPE_MASK);
                asm.jump(Cond::Eq, SOCK_STREAM, Target::Next, no_proto);
                asm.load(Field::ArgLo(2));
                asm.jump(Cond::Eq, 0, pass, Target::Next);
                asm.jump(Cond::Eq, IPPROTO_TCP, pass, no_proto);
            }
        }
    } else {
        // The kernel only pairs AF_UNIX; another family is the network mode's business.
        let other_pair = if family_filter {
            refused(asm, rets, libc::EAFNOSUPPORT)
        } else {
            pass
        };
        asm.jump(Cond::Eq, AF_UNIX, unix, other_pair);
    }
    if deny.refuse_unix_dgram {
        let refuse = rets.errno(asm, libc::EACCES);
        asm.bind(unix);
        unix_type_check(asm, pass, refuse);
    }
}

/// The errno the deny filter answers for `socket`/`socketpair` (`syscall`, with its registers
/// `args`) of a family other than `AF_UNIX` under `network`: `EAFNOSUPPORT` for a family the
/// mode refuses, `EPROTONOSUPPORT` in port mode for an `AF_INET`/`AF_INET6` socket that is not
/// a TCP stream; `None` when the network mode lets it through (or it is `AF_UNIX`, or not a
/// socket call). The same decision as `emit_socket`, as data: a supervisor that has the
/// call trapped (`Filter::deny_list_with_notify` with `trap_refused_sockets`) answers it
/// with this errno, so the program sees what it would have seen without a supervisor.
#[must_use]
pub fn socket_refusal(network: &NetworkMode, syscall: Syscall, args: &[u64; 6]) -> Option<i32> {
    // The kernel reads `int` arguments: the low 32 bits, as the filter does.
    let lo = |i: usize| args[i] as u32;
    let family = lo(0);
    if family == AF_UNIX {
        return None;
    }
    match (syscall, network) {
        (Syscall::Socket | Syscall::SocketPair, NetworkMode::Allow) => None,
        (Syscall::SocketPair, _) | (Syscall::Socket, NetworkMode::Block) => {
            Some(libc::EAFNOSUPPORT)
        }
        (Syscall::Socket, NetworkMode::Ports { .. }) => {
            if family != AF_INET && family != AF_INET6 {
                Some(libc::EAFNOSUPPORT)
            } else if lo(1) & SOCK_TYPE_MASK == SOCK_STREAM && matches!(lo(2), 0 | IPPROTO_TCP) {
                None
            } else {
                Some(libc::EPROTONOSUPPORT)
            }
        }
        _ => None,
    }
}

/// The argument check of a conditionally trapped syscall. Every path ends in a jump.
fn emit_notify_block(asm: &mut Assembler, stage: NotifyStage, allow: Label, trap: Label) {
    match stage {
        NotifyStage::Pass | NotifyStage::Trap => {}
        NotifyStage::SendTo => {
            // Only with a destination address (args[4] != NULL): `send` is `sendto(.., NULL, 0)`.
            asm.load(Field::ArgLo(4));
            asm.jump(Cond::Eq, 0, Target::Next, trap);
            asm.load(Field::ArgHi(4));
            asm.jump(Cond::Eq, 0, allow, trap);
        }
        NotifyStage::UnixDatagram => {
            // Both calls take domain and type in args[0..2].
            asm.load(Field::ArgLo(0));
            asm.jump(Cond::Eq, AF_UNIX, Target::Next, allow);
            unix_type_check(asm, allow, trap);
        }
        NotifyStage::OtherProcess(arg) => {
            // Another process: a pid_t argument that is not 0 ("the caller").
            asm.load(Field::ArgLo(arg));
            asm.jump(Cond::Eq, 0, allow, trap);
        }
    }
}

/// Build the program for `spec`: the prologue (arch, x32), a binary search on the syscall
/// number, then one block per number whose verdict depends on its arguments. With both
/// parts, a number's deny rows run first and send what they let through to its notify
/// check: the program answers exactly what the kernel would take from the two programs
/// installed one after the other (the strictest action: `ERRNO` before `USER_NOTIF` before
/// `ALLOW`).
fn build(spec: &Spec<'_>) -> Built {
    let mut asm = Assembler::new();
    let mut rets = Returns::new();
    let allow = rets.get(&mut asm, action::ALLOW);
    let trap = spec.notify.map(|_| rets.get(&mut asm, action::USER_NOTIF));
    prologue(&mut asm, &mut rets)?;

    let mut segments = Vec::new();
    let mut blocks = Vec::new();
    let mut next = 0u32;
    for nr in universe(spec) {
        if nr > next {
            segments.push(Segment {
                lo: next,
                leaf: Leaf::Ret(action::ALLOW),
                weight: 1 + HOT_WEIGHT * hot_in(next, nr - 1),
            });
        }
        let deny = spec.deny.map_or(DenyStage::Pass, |d| d.stage(nr));
        let notify = spec
            .notify
            .map_or(NotifyStage::Pass, |set| notify_stage(set, nr));
        let leaf = match (deny, notify) {
            (DenyStage::Errno(e), _) => Leaf::Ret(action::errno(e)),
            (DenyStage::Pass, NotifyStage::Pass) => Leaf::Ret(action::ALLOW),
            (DenyStage::Pass, NotifyStage::Trap) => Leaf::Ret(action::USER_NOTIF),
            _ => {
                let l = asm.label();
                blocks.push((l, nr, deny, notify));
                Leaf::Block(l)
            }
        };
        segments.push(Segment {
            lo: nr,
            leaf,
            weight: 1 + HOT_WEIGHT * hot_in(nr, nr),
        });
        next = nr.saturating_add(1);
    }
    if segments.last().is_none_or(|s| s.lo < next) {
        segments.push(Segment {
            lo: next,
            leaf: Leaf::Ret(action::ALLOW),
            weight: 1 + HOT_WEIGHT * hot_in(next, u32::MAX),
        });
    }
    emit_tree(&mut asm, &segments);

    for (label, nr, deny, notify) in blocks {
        asm.bind(label);
        // Where the deny part sends a call it lets through.
        let notify_block = !matches!(notify, NotifyStage::Pass | NotifyStage::Trap);
        let pass = match notify {
            NotifyStage::Pass => Pass {
                label: allow,
                ret: Some(action::ALLOW),
            },
            NotifyStage::Trap => Pass {
                label: trap.unwrap_or(allow),
                ret: Some(action::USER_NOTIF),
            },
            _ => Pass {
                label: asm.label(),
                ret: None,
            },
        };
        match (deny, spec.deny) {
            (DenyStage::Rows, _) => emit_deny_rows(&mut asm, &mut rets, nr, pass, notify_block),
            (DenyStage::Socket, Some(d)) => emit_socket(&mut asm, &mut rets, nr, &d, pass, trap),
            (DenyStage::FastOpen(i), _) => {
                let refuse = rets.errno(&mut asm, libc::EACCES);
                asm.load(Field::ArgLo(i));
                asm.jump(Cond::Set, MSG_FASTOPEN, refuse, Target::Next);
                pass.leave(&mut asm);
            }
            _ => {}
        }
        if notify_block {
            asm.bind(pass.label);
            emit_notify_block(&mut asm, notify, allow, trap.unwrap_or(allow));
        }
    }

    rets.emit(&mut asm);
    Ok(asm.finish())
}

#[cfg(all(test, any(target_arch = "x86_64", target_arch = "aarch64")))]
#[path = "legacy_filter.rs"]
mod legacy;

#[cfg(all(test, any(target_arch = "x86_64", target_arch = "aarch64")))]
mod tests {
    use super::*;

    fn call(nr: u32, args: [u64; 6]) -> SeccompData {
        SeccompData {
            nr: i32::try_from(nr).unwrap(),
            arch: NATIVE_AUDIT_ARCH.unwrap(),
            instruction_pointer: 0x1000,
            args,
        }
    }

    fn deny() -> Filter {
        Filter::for_network(&NetworkMode::Allow).unwrap()
    }

    #[test]
    fn every_always_row_is_denied_with_its_errno() {
        let f = deny();
        for e in deny_table().iter().filter(|e| e.when == When::Always) {
            assert_eq!(
                f.evaluate(&call(e.nr, [0; 6])),
                action::errno(e.errno),
                "{}",
                e.label()
            );
        }
    }

    #[test]
    fn ordinary_syscalls_are_allowed() {
        let f = deny();
        for nr in [
            libc::SYS_read,
            libc::SYS_write,
            libc::SYS_openat,
            libc::SYS_exit_group,
        ] {
            let nr = u32::try_from(nr).unwrap();
            assert_eq!(f.evaluate(&call(nr, [0; 6])), action::ALLOW);
        }
    }

    #[test]
    fn terminal_injection_ioctls_are_matched_on_the_low_32_bits() {
        let f = deny();
        let ioctl = sysno::ioctl;
        let eperm = action::errno(libc::EPERM);
        for req in [0x5412u64, 0x541c, 0x1_0000_5412, 0xffff_ffff_0000_541c] {
            assert_eq!(
                f.evaluate(&call(ioctl, [0, req, 0, 0, 0, 0])),
                eperm,
                "{req:#x}"
            );
        }
        // TCGETS and FIONREAD pass.
        for req in [0x5401u64, 0x541b] {
            assert_eq!(
                f.evaluate(&call(ioctl, [0, req, 0, 0, 0, 0])),
                action::ALLOW
            );
        }
    }

    #[test]
    fn clone_with_namespace_flags_is_denied_plain_fork_and_threads_are_not() {
        let f = deny();
        let clone = sysno::clone;
        let sigchld = libc::SIGCHLD as u64;
        for flag in [
            libc::CLONE_NEWNS,
            libc::CLONE_NEWUSER,
            libc::CLONE_NEWPID,
            libc::CLONE_NEWNET,
            libc::CLONE_NEWUTS,
            libc::CLONE_NEWIPC,
            libc::CLONE_NEWCGROUP,
        ] {
            let flags = u64::try_from(flag).unwrap() | sigchld;
            assert_eq!(
                f.evaluate(&call(clone, [flags, 0, 0, 0, 0, 0])),
                action::errno(libc::EPERM)
            );
        }
        let thread = (libc::CLONE_VM
            | libc::CLONE_FS
            | libc::CLONE_FILES
            | libc::CLONE_SIGHAND
            | libc::CLONE_THREAD
            | libc::CLONE_SYSVSEM
            | libc::CLONE_SETTLS
            | libc::CLONE_PARENT_SETTID
            | libc::CLONE_CHILD_CLEARTID) as u64;
        for flags in [
            sigchld,
            thread,
            libc::CLONE_VFORK as u64 | libc::CLONE_VM as u64 | sigchld,
        ] {
            assert_eq!(
                f.evaluate(&call(clone, [flags, 0, 0, 0, 0, 0])),
                action::ALLOW
            );
        }
        assert_eq!(
            f.evaluate(&call(sysno::clone3, [0; 6])),
            action::errno(libc::ENOSYS)
        );
    }

    #[test]
    fn personality_allows_only_query_and_per_linux() {
        let f = deny();
        let p = sysno::personality;
        assert_eq!(
            f.evaluate(&call(p, [0xffff_ffff, 0, 0, 0, 0, 0])),
            action::ALLOW
        );
        assert_eq!(f.evaluate(&call(p, [0, 0, 0, 0, 0, 0])), action::ALLOW);
        for v in [0x0040000u64 /* ADDR_NO_RANDOMIZE */, 0x0400000, 8] {
            assert_eq!(
                f.evaluate(&call(p, [v, 0, 0, 0, 0, 0])),
                action::errno(libc::EPERM)
            );
        }
    }

    #[test]
    fn foreign_arch_and_x32_are_denied() {
        let f = deny();
        let foreign = if cfg!(target_arch = "x86_64") {
            AUDIT_ARCH_I386
        } else {
            AUDIT_ARCH_ARM
        };
        for nr in [20, 102, 359] {
            let mut d = call(nr, [0; 6]);
            d.arch = foreign;
            assert_eq!(f.evaluate(&d), action::errno(libc::EPERM));
            assert_eq!(
                Filter::notify(&NotifySet::open_family())
                    .unwrap()
                    .evaluate(&d),
                action::errno(libc::EPERM)
            );
        }
        if cfg!(target_arch = "x86_64") {
            let d = call(X32_SYSCALL_BIT | 39, [0; 6]);
            assert_eq!(f.evaluate(&d), action::errno(libc::EPERM));
        }
    }

    /// TCP Fast Open through sendmsg/sendmmsg connects to an address the supervisor never
    /// sees: refused in TCP-ports mode only (nothing to refuse with the network open; no
    /// inet socket exists when it is blocked).
    #[test]
    fn ports_mode_refuses_sendmsg_fast_open() {
        let ports = Filter::for_network(&NetworkMode::Ports {
            connect: [443].into_iter().collect(),
            bind: Default::default(),
        })
        .unwrap();
        let allow = Filter::for_network(&NetworkMode::Allow).unwrap();
        let fo = u64::from(MSG_FASTOPEN) | libc::MSG_NOSIGNAL as u64;
        let msg = |flags: u64| call(sysno::sendmsg, [3, 0x1000, flags, 0, 0, 0]);
        let mmsg = |flags: u64| call(sysno::sendmmsg, [3, 0x1000, 1, flags, 0, 0]);
        let eacces = action::errno(libc::EACCES);
        assert_eq!(ports.evaluate(&msg(fo)), eacces);
        assert_eq!(ports.evaluate(&mmsg(fo)), eacces);
        assert_eq!(
            ports.evaluate(&msg(libc::MSG_NOSIGNAL as u64)),
            action::ALLOW
        );
        assert_eq!(ports.evaluate(&mmsg(0)), action::ALLOW);
        // sendmmsg's vlen (args[2]) is not its flags.
        assert_eq!(
            ports.evaluate(&call(sysno::sendmmsg, [3, 0x1000, fo, 0, 0, 0])),
            action::ALLOW
        );
        assert_eq!(allow.evaluate(&msg(fo)), action::ALLOW);
    }

    #[test]
    fn network_modes_filter_socket_families_types_and_protocols() {
        let socket = sysno::socket;
        let pair = sysno::socketpair;
        let s = |domain: i32, ty: i32, proto: i32| {
            call(socket, [domain as u64, ty as u64, proto as u64, 0, 0, 0])
        };
        let allow = Filter::for_network(&NetworkMode::Allow).unwrap();
        let block = Filter::for_network(&NetworkMode::Block).unwrap();
        let ports = Filter::for_network(&NetworkMode::Ports {
            connect: [443].into_iter().collect(),
            bind: Default::default(),
        })
        .unwrap();
        let af = action::errno(libc::EAFNOSUPPORT);
        let proto = action::errno(libc::EPROTONOSUPPORT);
        let ok = action::ALLOW;
        let tcp = s(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        );
        let cases = [
            (s(libc::AF_UNIX, libc::SOCK_STREAM, 0), ok, ok, ok),
            (tcp, ok, af, ok),
            (
                s(libc::AF_INET6, libc::SOCK_STREAM, libc::IPPROTO_TCP),
                ok,
                af,
                ok,
            ),
            (s(libc::AF_INET, libc::SOCK_STREAM, 262), ok, af, proto),
            (s(libc::AF_INET, libc::SOCK_DGRAM, 0), ok, af, proto),
            (
                s(libc::AF_INET6, libc::SOCK_RAW, libc::IPPROTO_ICMPV6),
                ok,
                af,
                proto,
            ),
            (s(libc::AF_NETLINK, libc::SOCK_RAW, 0), ok, af, af),
            (s(libc::AF_PACKET, libc::SOCK_RAW, 0), ok, af, af),
            // High bits of the family are ignored by the kernel and by the filter.
            (
                call(socket, [(1 << 32) | libc::AF_INET as u64, 2, 0, 0, 0, 0]),
                ok,
                af,
                proto,
            ),
            (
                call(pair, [libc::AF_UNIX as u64, 1, 0, 0, 0, 0]),
                ok,
                ok,
                ok,
            ),
            (
                call(pair, [libc::AF_INET as u64, 1, 0, 0, 0, 0]),
                ok,
                af,
                af,
            ),
        ];
        for (i, (d, a, b, p)) in cases.iter().enumerate() {
            assert_eq!(allow.evaluate(d), *a, "case {i} allow");
            assert_eq!(block.evaluate(d), *b, "case {i} block");
            assert_eq!(ports.evaluate(d), *p, "case {i} ports");
        }
    }

    /// `(socket, socketpair)` data for `domain`/`ty` as raw 64-bit registers.
    fn socket_calls(domain: u64, ty: u64) -> [SeccompData; 2] {
        [
            call(sysno::socket, [domain, ty, 0, 0, 0, 0]),
            call(sysno::socketpair, [domain, ty, 0, 0x7ffd_0000, 0, 0]),
        ]
    }

    fn all_network_modes() -> [NetworkMode; 3] {
        [
            NetworkMode::Allow,
            NetworkMode::Block,
            NetworkMode::Ports {
                connect: [443].into_iter().collect(),
                bind: Default::default(),
            },
        ]
    }

    const UNIX: u64 = libc::AF_UNIX as u64;
    const DGRAM: u64 = libc::SOCK_DGRAM as u64;
    const FLAGS: u64 = (libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK) as u64;

    /// Unix datagram sockets (what `sendmsg` sends from to any pathname datagram socket) are
    /// refused with EACCES in every network mode, whatever the SOCK_* flags and the upper 32
    /// bits of the registers; stream and seqpacket pass; other families are left to the
    /// network mode.
    #[test]
    fn unix_datagram_sockets_are_refused_in_every_network_mode() {
        let eacces = action::errno(libc::EACCES);
        let refused: &[(u64, u64)] = &[
            (UNIX, DGRAM),
            (UNIX, DGRAM | FLAGS),
            (UNIX, DGRAM | libc::SOCK_CLOEXEC as u64),
            (UNIX, DGRAM | libc::SOCK_NONBLOCK as u64),
            // AF_UNIX turns SOCK_RAW into SOCK_DGRAM.
            (UNIX, libc::SOCK_RAW as u64 | FLAGS),
            // Types the kernel refuses anyway (SOCK_RDM, SOCK_PACKET) are refused too.
            (UNIX, libc::SOCK_RDM as u64),
            (UNIX, 10),
            // The kernel reads int registers: the upper halves are ignored, by it and here.
            ((0xdead_beef << 32) | UNIX, DGRAM),
            (UNIX, (1 << 32) | DGRAM),
            (UNIX, (0xffff_ffff << 32) | DGRAM | FLAGS),
        ];
        let allowed: &[(u64, u64)] = &[
            (UNIX, libc::SOCK_STREAM as u64),
            (UNIX, libc::SOCK_STREAM as u64 | FLAGS),
            (UNIX, libc::SOCK_SEQPACKET as u64),
            (UNIX, libc::SOCK_SEQPACKET as u64 | FLAGS),
            // A stream type with garbage above bit 31 is a stream socket to the kernel.
            (UNIX, (1 << 32) | libc::SOCK_STREAM as u64),
            (UNIX, (DGRAM << 32) | libc::SOCK_SEQPACKET as u64),
        ];
        for network in all_network_modes() {
            let f = Filter::for_network(&network).unwrap();
            for (domain, ty) in refused {
                for d in socket_calls(*domain, *ty) {
                    assert_eq!(f.evaluate(&d), eacces, "{network:?} {d:x?}");
                }
            }
            for (domain, ty) in allowed {
                for d in socket_calls(*domain, *ty) {
                    assert_eq!(f.evaluate(&d), action::ALLOW, "{network:?} {d:x?}");
                }
            }
        }
        // Other families are the network mode's business, datagrams included.
        let udp = call(sysno::socket, [libc::AF_INET as u64, DGRAM, 0, 0, 0, 0]);
        let allow = Filter::for_network(&NetworkMode::Allow).unwrap();
        assert_eq!(allow.evaluate(&udp), action::ALLOW);
        let block = Filter::for_network(&NetworkMode::Block).unwrap();
        assert_eq!(block.evaluate(&udp), action::errno(libc::EAFNOSUPPORT));
        let pair = call(sysno::socketpair, [libc::AF_INET as u64, DGRAM, 0, 0, 0, 0]);
        assert_eq!(allow.evaluate(&pair), action::ALLOW);
        assert_eq!(block.evaluate(&pair), action::errno(libc::EAFNOSUPPORT));
    }

    #[test]
    fn unix_datagram_sockets_pass_when_allowed() {
        for network in all_network_modes() {
            let mut caps = CapabilitySet::new();
            caps.set_network(network.clone());
            let refusing = Filter::for_caps(&caps).unwrap();
            caps.allow_unix_datagram(true);
            let allowing = Filter::for_caps(&caps).unwrap();
            for ty in [DGRAM, DGRAM | FLAGS, libc::SOCK_RAW as u64] {
                for d in socket_calls(UNIX, ty) {
                    assert_eq!(
                        refusing.evaluate(&d),
                        action::errno(libc::EACCES),
                        "{network:?}"
                    );
                    assert_eq!(allowing.evaluate(&d), action::ALLOW, "{network:?}");
                }
            }
            // The network mode still filters other families.
            let udp = call(sysno::socket, [libc::AF_INET as u64, DGRAM, 0, 0, 0, 0]);
            assert_eq!(allowing.evaluate(&udp), refusing.evaluate(&udp));
        }
        // With the network allowed and datagrams too, socket() is not filtered at all.
        let open = Filter::deny_list(&NetworkMode::Allow, false, false).unwrap();
        let plain = Filter::for_network(&NetworkMode::Allow).unwrap();
        assert!(open.instructions().len() < plain.instructions().len());
    }

    /// Supervised: the deny filter lets Unix datagram sockets through (ERRNO would win over
    /// USER_NOTIF) and the notify filter traps exactly them, so the supervisor refuses and
    /// reports them.
    #[test]
    fn supervised_unix_datagram_sockets_are_trapped_not_refused_by_the_deny_filter() {
        let set = NotifySet::open_family()
            .with(Syscall::Socket)
            .with(Syscall::SocketPair);
        let notify = Filter::notify(&set).unwrap();
        for network in all_network_modes() {
            let deny = Filter::deny_list(&network, false, false).unwrap();
            for ty in [
                DGRAM,
                DGRAM | FLAGS,
                (1 << 32) | DGRAM,
                libc::SOCK_RAW as u64,
            ] {
                for d in socket_calls(UNIX, ty) {
                    assert_eq!(deny.evaluate(&d), action::ALLOW, "{network:?}");
                    assert_eq!(notify.evaluate(&d), action::USER_NOTIF, "{d:x?}");
                }
            }
        }
        for (domain, ty) in [
            (UNIX, libc::SOCK_STREAM as u64 | FLAGS),
            (UNIX, libc::SOCK_SEQPACKET as u64),
            (libc::AF_INET as u64, DGRAM),
            (libc::AF_INET6 as u64, libc::SOCK_STREAM as u64),
            ((1 << 32) | libc::AF_INET as u64, DGRAM),
        ] {
            for d in socket_calls(domain, ty) {
                assert_eq!(notify.evaluate(&d), action::ALLOW, "{d:x?}");
            }
        }
        // Only one of them in the set: only that one is trapped.
        let only_pair = Filter::notify(&NotifySet::new().with(Syscall::SocketPair)).unwrap();
        let [socket, pair] = socket_calls(UNIX, DGRAM);
        assert_eq!(only_pair.evaluate(&socket), action::ALLOW);
        assert_eq!(only_pair.evaluate(&pair), action::USER_NOTIF);
    }

    /// Supervised with `trap_refused_sockets`: every `socket`/`socketpair` the filter without it
    /// fails with `EAFNOSUPPORT`/`EPROTONOSUPPORT` is trapped instead, and nothing else changes
    /// (any other syscall, `AF_UNIX`, an allowed TCP stream, the foreign-arch and x32 entry
    /// points, whose `socketcall`/`socket` stay refused); `socket_refusal` names exactly the
    /// errno the untrapped filter answers, so the supervisor's answer is what the program saw.
    #[test]
    fn refused_sockets_are_trapped_with_the_errno_socket_refusal_names() {
        let sets = [
            NotifySet::open_family(),
            NotifySet::open_family()
                .with(Syscall::Socket)
                .with(Syscall::SocketPair),
        ];
        let families = [
            UNIX,
            libc::AF_INET as u64,
            libc::AF_INET6 as u64,
            libc::AF_PACKET as u64,
            libc::AF_NETLINK as u64,
            libc::AF_VSOCK as u64,
            (1 << 32) | libc::AF_INET as u64,
            (1 << 32) | UNIX,
            0,
            u64::MAX,
        ];
        let types = [
            libc::SOCK_STREAM as u64,
            libc::SOCK_STREAM as u64 | FLAGS,
            DGRAM,
            DGRAM | FLAGS,
            libc::SOCK_RAW as u64,
            libc::SOCK_SEQPACKET as u64,
            (1 << 32) | libc::SOCK_STREAM as u64,
        ];
        let protos: &[u64] = &[
            0,
            libc::IPPROTO_TCP as u64,
            libc::IPPROTO_UDP as u64,
            libc::IPPROTO_ICMP as u64,
            262,
            (1 << 32) | libc::IPPROTO_TCP as u64,
        ];
        for network in all_network_modes() {
            for set in &sets {
                for refuse in [false, true] {
                    let plain =
                        Filter::deny_list_with_notify(&network, false, refuse, false, set).unwrap();
                    let trapping =
                        Filter::deny_list_with_notify(&network, false, refuse, true, set).unwrap();
                    let combos = families.iter().flat_map(|&f| {
                        types
                            .iter()
                            .flat_map(move |&t| protos.iter().map(move |&p| (f, t, p)))
                    });
                    for (f, t, p) in combos {
                        for (s, nr) in [
                            (Syscall::Socket, sysno::socket),
                            (Syscall::SocketPair, sysno::socketpair),
                        ] {
                            let args = [f, t, p, 0x7ffd_0000, 0, 0];
                            let d = call(nr, args);
                            let before = plain.evaluate(&d);
                            let want = socket_refusal(&network, s, &args);
                            let ctx = format!("{network:?} refuse={refuse} {s} {args:x?}");
                            if f as u32 != libc::AF_UNIX as u32 {
                                // The notify part traps AF_UNIX only: ALLOW unless refused.
                                let untrapped = want.map_or(action::ALLOW, action::errno);
                                assert_eq!(before, untrapped, "socket_refusal: {ctx}");
                            }
                            let after = trapping.evaluate(&d);
                            if want.is_some() {
                                assert_eq!(after, action::USER_NOTIF, "{ctx}");
                            } else {
                                assert_eq!(after, before, "{ctx}");
                            }
                        }
                    }
                    // Nothing else moves: every other syscall, and the other entry points.
                    for nr in 0..600 {
                        if nr == sysno::socket || nr == sysno::socketpair {
                            continue;
                        }
                        for a in [0, 2, 10, 17] {
                            let d = call(nr, [a, 2, 0, 0, 0, 0]);
                            assert_eq!(plain.evaluate(&d), trapping.evaluate(&d), "{nr}");
                        }
                    }
                    let i386 = SeccompData {
                        nr: 102, // socketcall
                        arch: AUDIT_ARCH_I386,
                        instruction_pointer: 0,
                        args: [1, 0x1000, 0, 0, 0, 0],
                    };
                    let mut foreign = vec![i386];
                    if cfg!(target_arch = "x86_64") {
                        foreign.push(call(
                            sysno::socket | X32_SYSCALL_BIT,
                            [libc::AF_INET as u64, DGRAM, 0, 0, 0, 0],
                        ));
                    }
                    for d in foreign {
                        let a = trapping.evaluate(&d);
                        assert_eq!(a, plain.evaluate(&d));
                        assert_ne!(a, action::USER_NOTIF);
                        assert_ne!(a, action::ALLOW);
                    }
                }
            }
        }
    }

    /// The trapped open is the notify filter's hot path: trapping socket/socketpair (and
    /// everything else the supervisor brokers) adds no instruction to it.
    #[test]
    fn trapping_unix_datagram_sockets_adds_nothing_to_the_open_path() {
        let opens = NotifySet::open_family();
        let mut everything = NotifySet::new();
        for s in Syscall::ALL {
            everything.insert(*s);
        }
        let without = Filter::notify(&{
            let mut s = everything;
            s.remove(Syscall::Socket);
            s.remove(Syscall::SocketPair);
            s
        })
        .unwrap();
        let with = Filter::notify(&everything).unwrap();
        let small = Filter::notify(&opens).unwrap();
        for s in Syscall::OPEN_FAMILY {
            let Some(nr) = s.nr() else { continue };
            let d = call(nr, [0, 0x1000, 0, 0, 0, 0]);
            assert_eq!(with.evaluate(&d), action::USER_NOTIF, "{s}");
            assert_eq!(with.cost(&d), without.cost(&d), "{s}");
            assert_eq!(with.cost(&d), small.cost(&d), "{s}");
        }
    }

    #[test]
    fn notify_filter_traps_exactly_its_set() {
        let f = Filter::notify(&NotifySet::open_family()).unwrap();
        for s in Syscall::ALL {
            let Some(nr) = s.nr() else { continue };
            let expect = if Syscall::OPEN_FAMILY.contains(s) {
                action::USER_NOTIF
            } else {
                action::ALLOW
            };
            assert_eq!(f.evaluate(&call(nr, [0; 6])), expect, "{s}");
            assert_eq!(Syscall::from_nr(i32::try_from(nr).unwrap()), Some(*s));
        }
        let empty = Filter::notify(&NotifySet::new()).unwrap();
        assert_eq!(empty.evaluate(&call(sysno::socket, [0; 6])), action::ALLOW);
    }

    #[test]
    fn sendto_is_trapped_only_with_an_address() {
        let f = Filter::notify(&NotifySet::new().with(Syscall::SendTo)).unwrap();
        let nr = Syscall::SendTo.nr().unwrap();
        assert_eq!(
            f.evaluate(&call(nr, [3, 0x1000, 1, 0, 0, 0])),
            action::ALLOW
        );
        for addr in [0x7ffd_0000_1000_u64, 0x1000, 1 << 32] {
            assert_eq!(
                f.evaluate(&call(nr, [3, 0x1000, 1, 0, addr, 110])),
                action::USER_NOTIF,
                "{addr:#x}"
            );
        }
    }

    #[test]
    fn notify_set_is_a_set() {
        let mut s = NotifySet::open_family().with(Syscall::Connect);
        assert!(s.contains(Syscall::Creat) && s.contains(Syscall::Connect));
        s.remove(Syscall::Creat);
        assert!(!s.contains(Syscall::Creat));
        assert_eq!(s.iter().count(), 4);
        assert!(NotifySet::new().is_empty());
        assert!(Syscall::ALL.len() <= 64);
        assert_eq!(
            format!("{:?}", NotifySet::new().with(Syscall::OpenAt)),
            "{OpenAt}"
        );
    }

    #[test]
    fn set_id_modes_are_denied_other_modes_pass() {
        let f = deny();
        let eperm = action::errno(libc::EPERM);
        let creat = u64::from(CREATE_FLAGS & libc::O_CREAT as u32);
        let tmpfile = (libc::O_TMPFILE | libc::O_WRONLY) as u64;
        let openat = sysno::openat;
        for (nr, args, want) in [
            (sysno::fchmod, [3, 0o4755, 0, 0, 0, 0], eperm),
            (sysno::fchmod, [3, 0o2755, 0, 0, 0, 0], eperm),
            (sysno::fchmod, [3, 0o1777, 0, 0, 0, 0], action::ALLOW),
            (sysno::fchmod, [3, 0o755, 0, 0, 0, 0], action::ALLOW),
            // High bits set: the kernel uses the low 16 (umode_t), the filter the low 32.
            (
                sysno::fchmod,
                [3, 0x1_0000_0000 | 0o4755, 0, 0, 0, 0],
                eperm,
            ),
            (sysno::fchmodat, [0, 0x1000, 0o6755, 0, 0, 0], eperm),
            (sysno::fchmodat, [0, 0x1000, 0o644, 0, 0, 0], action::ALLOW),
            (sysno::fchmodat2, [0, 0x1000, 0o4700, 0, 0, 0], eperm),
            (
                sysno::mknodat,
                [0, 0x1000, 0o100_000 | 0o4755, 0, 0, 0],
                eperm,
            ),
            (
                sysno::mknodat,
                [0, 0x1000, 0o10_644, 0, 0, 0],
                action::ALLOW,
            ),
            (openat, [0, 0x1000, creat | 1, 0o4755, 0, 0], eperm),
            (openat, [0, 0x1000, tmpfile, 0o2755, 0, 0], eperm),
            (openat, [0, 0x1000, creat | 1, 0o644, 0, 0], action::ALLOW),
            // Without O_CREAT/O_TMPFILE the mode argument is ignored (and may be garbage).
            (openat, [0, 0x1000, 0, 0o4755, 0, 0], action::ALLOW),
            // openat2's mode is behind a pointer: every call fails, as on kernels before 5.6.
            (
                sysno::openat2,
                [0, 0x1000, 0x2000, 24, 0, 0],
                action::errno(libc::ENOSYS),
            ),
        ] {
            assert_eq!(f.evaluate(&call(nr, args)), want, "{nr} {args:?}");
        }
        #[cfg(target_arch = "x86_64")]
        {
            let x86 = |name: &str| {
                u32::try_from(match name {
                    "chmod" => libc::SYS_chmod,
                    "creat" => libc::SYS_creat,
                    "open" => libc::SYS_open,
                    _ => libc::SYS_mknod,
                })
                .unwrap()
            };
            assert_eq!(
                f.evaluate(&call(x86("chmod"), [0x1000, 0o4755, 0, 0, 0, 0])),
                eperm
            );
            assert_eq!(
                f.evaluate(&call(x86("creat"), [0x1000, 0o2755, 0, 0, 0, 0])),
                eperm
            );
            assert_eq!(
                f.evaluate(&call(x86("creat"), [0x1000, 0o755, 0, 0, 0, 0])),
                action::ALLOW
            );
            assert_eq!(
                f.evaluate(&call(x86("open"), [0x1000, creat, 0o4755, 0, 0, 0])),
                eperm
            );
            assert_eq!(
                f.evaluate(&call(x86("open"), [0x1000, 0, 0o4755, 0, 0, 0])),
                action::ALLOW
            );
            assert_eq!(
                f.evaluate(&call(x86("mknod"), [0x1000, 0o104_755, 0, 0, 0, 0])),
                eperm
            );
        }
    }

    #[test]
    fn access_mode_three_is_refused_other_modes_pass() {
        let f = deny();
        let eacces = action::errno(libc::EACCES);
        let openat = sysno::openat;
        let creat = libc::O_CREAT as u64;
        for (flags, want) in [
            (3, eacces),
            (3 | creat | libc::O_CLOEXEC as u64, eacces),
            (0x1_0000_0000 | 3, eacces),
            (libc::O_RDONLY as u64, action::ALLOW),
            (libc::O_WRONLY as u64, action::ALLOW),
            (libc::O_RDWR as u64 | creat, action::ALLOW),
            (libc::O_PATH as u64, action::ALLOW),
            // The kernel reads the low 32 bits only: high bits do not make a mode 3.
            (0x3_0000_0000, action::ALLOW),
        ] {
            assert_eq!(
                f.evaluate(&call(openat, [0, 0x1000, flags, 0o644, 0, 0])),
                want,
                "{flags:#x}"
            );
        }
        // Both rows of openat apply: a set-ID create with mode 3 is refused either way.
        assert_ne!(
            f.evaluate(&call(openat, [0, 0x1000, 3 | creat, 0o4755, 0, 0])),
            action::ALLOW
        );
        #[cfg(target_arch = "x86_64")]
        {
            let open = u32::try_from(libc::SYS_open).unwrap();
            assert_eq!(f.evaluate(&call(open, [0x1000, 3, 0, 0, 0, 0])), eacces);
            assert_eq!(
                f.evaluate(&call(open, [0x1000, 2, 0, 0, 0, 0])),
                action::ALLOW
            );
        }
    }

    #[test]
    fn limits_and_priority_of_other_processes_are_denied() {
        let f = deny();
        let eperm = action::errno(libc::EPERM);
        let prlimit = sysno::prlimit64;
        let nofile = libc::RLIMIT_NOFILE as u64;
        for (args, want) in [
            // setrlimit / getrlimit / prlimit on the caller: pid 0.
            ([0, nofile, 0x7ffd_1000, 0, 0, 0], action::ALLOW),
            ([0, nofile, 0, 0x7ffd_1000, 0, 0], action::ALLOW),
            // Reading another process's limits.
            ([1234, nofile, 0, 0x7ffd_1000, 0, 0], action::ALLOW),
            // Setting them.
            ([1234, nofile, 0x7ffd_1000, 0, 0, 0], eperm),
            ([1234, nofile, 0x7ffd_0000_0000, 0, 0, 0], eperm),
            ([1234, nofile, 0x1000, 0x2000, 0, 0], eperm),
        ] {
            assert_eq!(f.evaluate(&call(prlimit, args)), want, "{args:x?}");
        }
        let prio = sysno::setpriority;
        let (process, pgrp, user) = (
            libc::PRIO_PROCESS as u64,
            libc::PRIO_PGRP as u64,
            libc::PRIO_USER as u64,
        );
        for (args, want) in [
            ([process, 0, 5, 0, 0, 0], action::ALLOW),
            ([process, 1234, 5, 0, 0, 0], eperm),
            ([pgrp, 0, 5, 0, 0, 0], eperm),
            ([user, 0, 5, 0, 0, 0], eperm),
        ] {
            assert_eq!(f.evaluate(&call(prio, args)), want, "{args:?}");
        }
        // ioprio_set: a whole user's processes never; one process (or the caller's group)
        // reaches the notify filter's check.
        let ioprio = sysno::ioprio_set;
        for (args, want) in [
            ([1, 0, 0x4004, 0, 0, 0], action::ALLOW),
            ([1, 1234, 0x4004, 0, 0, 0], action::ALLOW),
            ([2, 0, 0x4004, 0, 0, 0], action::ALLOW),
            ([3, 0, 0x4004, 0, 0, 0], eperm),
            ([3, 1000, 0x4004, 0, 0, 0], eperm),
            ([(1 << 32) | 3, 0, 0x4004, 0, 0, 0], eperm),
        ] {
            assert_eq!(f.evaluate(&call(ioprio, args)), want, "{args:x?}");
        }
    }

    /// `renameat2(RENAME_WHITEOUT)` makes a 0:0 character device (issue 16 finding 9): the
    /// flag is refused wherever it is in the flags register, other renames pass.
    #[test]
    fn rename_whiteout_is_denied_other_renames_pass() {
        let f = deny();
        let r = sysno::renameat2;
        let at = libc::AT_FDCWD as u64;
        let (noreplace, exchange) = (
            u64::from(libc::RENAME_NOREPLACE),
            u64::from(libc::RENAME_EXCHANGE),
        );
        let whiteout = u64::from(RENAME_WHITEOUT);
        assert_eq!(u64::from(libc::RENAME_WHITEOUT), whiteout);
        for (flags, want) in [
            (0, action::ALLOW),
            (noreplace, action::ALLOW),
            (exchange, action::ALLOW),
            // High bits are not flags (an unsigned int); the kernel rejects unknown low bits.
            (1 << 32, action::ALLOW),
            (whiteout, action::errno(libc::EPERM)),
            (whiteout | noreplace, action::errno(libc::EPERM)),
            ((1 << 32) | whiteout, action::errno(libc::EPERM)),
        ] {
            assert_eq!(
                f.evaluate(&call(r, [at, 0x1000, at, 0x2000, flags, 0])),
                want,
                "{flags:#x}"
            );
        }
    }

    /// `PIDFD_GET_INFO` is refused by type and number, whatever the size and direction bits
    /// (the kernel takes the struct size from the request) and high register bits; the
    /// other pidfd ioctls (namespaces: the kernel's ptrace check and Landlock's scope refuse
    /// other processes) and unrelated ioctls pass.
    #[test]
    fn pidfd_get_info_is_denied_at_every_size() {
        let f = deny();
        let ioctl = sysno::ioctl;
        let enotty = action::errno(libc::ENOTTY);
        // _IOWR(0xFF, 11, size): dir 3 << 30, size << 16, type << 8, nr.
        let iowr = |size: u64| (3u64 << 30) | (size << 16) | 0xff0b;
        for req in [
            iowr(64),
            iowr(72),
            iowr(0x3fff),
            0xff0b,
            (1 << 30) | (64 << 16) | 0xff0b,
            (1 << 32) | iowr(64),
        ] {
            assert_eq!(
                f.evaluate(&call(ioctl, [3, req, 0x1000, 0, 0, 0])),
                enotty,
                "{req:#x}"
            );
        }
        // PIDFD_GET_MNT_NAMESPACE (_IO(0xFF, 3)), FIONREAD, TCGETS, type 0xFE nr 11.
        for req in [0xff03u64, 0x541b, 0x5401, iowr(64) - 0x100] {
            assert_eq!(
                f.evaluate(&call(ioctl, [3, req, 0x1000, 0, 0, 0])),
                action::ALLOW,
                "{req:#x}"
            );
        }
        // TIOCSTI is still refused with its own errno after the new row.
        assert_eq!(
            f.evaluate(&call(ioctl, [0, 0x5412, 0, 0, 0, 0])),
            action::errno(libc::EPERM)
        );
    }

    /// Scheduling and I/O priority calls reach the supervisor only when they name another
    /// process: pid (or `who`) 0 is the caller and passes; high bits of the register do not
    /// count (the kernel reads a 32-bit `pid_t`).
    #[test]
    fn other_process_calls_are_trapped_only_with_a_pid() {
        let mut set = NotifySet::open_family();
        for s in Syscall::OTHER_PROCESS {
            set.insert(*s);
        }
        let f = Filter::notify(&set).unwrap();
        let without = Filter::notify(&NotifySet::open_family()).unwrap();
        for s in Syscall::OTHER_PROCESS {
            let nr = s.nr().unwrap();
            let arg = usize::from(*s == Syscall::IoprioSet);
            let with = |v: u64| {
                let mut args = [1, 0, 0, 0, 0, 0];
                args[arg] = v;
                call(nr, args)
            };
            for (v, want) in [
                (0, action::ALLOW),
                (1 << 32, action::ALLOW),
                (1234, action::USER_NOTIF),
                ((1 << 32) | 1234, action::USER_NOTIF),
            ] {
                assert_eq!(f.evaluate(&with(v)), want, "{} {v:x}", s.name());
                assert_eq!(without.evaluate(&with(v)), action::ALLOW, "{}", s.name());
            }
        }
        // The open path is as short as before.
        let open = call(Syscall::OpenAt.nr().unwrap(), [0; 6]);
        assert_eq!(f.cost(&open), without.cost(&open));
    }

    #[test]
    fn sysv_ipc_is_refused_unless_the_host_namespace_is_chosen() {
        let mut caps = CapabilitySet::new();
        let enosys = action::errno(libc::ENOSYS);
        let default = Filter::for_caps(&caps).unwrap();
        caps.set_sysv_ipc(SysvIpc::Host);
        let host = Filter::for_caps(&caps).unwrap();
        let private = Filter::deny_list(&NetworkMode::Allow, false, true).unwrap();
        assert_eq!(sysv_ipc_table().len(), 11);
        for e in sysv_ipc_table() {
            let d = call(e.nr, [0; 6]);
            assert_eq!(default.evaluate(&d), enosys, "{}", e.syscall);
            assert_eq!(host.evaluate(&d), action::ALLOW, "{}", e.syscall);
            assert_eq!(private.evaluate(&d), action::ALLOW, "{}", e.syscall);
        }
        let shmdt = u32::try_from(libc::SYS_shmdt).unwrap();
        assert_eq!(default.evaluate(&call(shmdt, [0; 6])), action::ALLOW);
    }

    #[test]
    fn deny_table_rows_have_distinct_labels_and_reasons() {
        let mut labels: Vec<String> = deny_table()
            .iter()
            .chain(sysv_ipc_table())
            .map(DenyEntry::label)
            .collect();
        let n = labels.len();
        labels.sort();
        labels.dedup();
        assert_eq!(labels.len(), n);
        assert!(deny_table()
            .iter()
            .chain(sysv_ipc_table())
            .all(|e| !e.reason.is_empty() && e.reason.len() < 120));
    }

    /// The action the kernel takes from two programs run newest first (`ACTION_ONLY` compared
    /// as signed, the lowest wins, the first on a tie): `seccomp_run_filters`.
    fn strictest(newest: u32, older: u32) -> u32 {
        let action_only = |r: u32| (r & 0xffff_0000) as i32;
        if action_only(older) < action_only(newest) {
            older
        } else {
            newest
        }
    }

    fn legacy_deny(network: &NetworkMode, sysv: bool, refuse: bool) -> Vec<Insn> {
        legacy::build_deny(network, sysv, refuse).unwrap().unwrap()
    }

    fn legacy_notify(set: &NotifySet) -> Vec<Insn> {
        legacy::build_notify(set).unwrap().unwrap()
    }

    fn set_from_bits(bits: u64) -> NotifySet {
        Syscall::ALL
            .iter()
            .enumerate()
            .filter(|(i, _)| bits & (1 << i) != 0)
            .map(|(_, s)| *s)
            .collect()
    }

    /// Argument values that reach every branch of the blocks: families, types, flags, modes,
    /// ioctl requests, pids, with and without high bits.
    const INTERESTING: &[u64] = &[
        0,
        1,
        2,
        3,
        5,
        6,
        10,
        0xf,
        0x10,
        0x40,
        0x80,
        0x802,
        0x4_0000,
        0x41_0000,
        0o644,
        0o2755,
        0o4755,
        0o10_644,
        0o104_755,
        0x5401,
        0x5412,
        0x541c,
        0xff03,
        0xff0b,
        0xc048_ff0b,
        0x7e00_0000,
        0xffff_ffff,
        1 << 32,
        (1 << 32) | 3,
        (1 << 32) | 0x5412,
        0x7ffd_0000_1000,
        u64::MAX,
    ];

    fn all_configs() -> Vec<(NetworkMode, bool, bool)> {
        let mut v = Vec::new();
        for network in all_network_modes() {
            for sysv in [false, true] {
                for refuse in [false, true] {
                    v.push((network.clone(), sysv, refuse));
                }
            }
        }
        v
    }

    /// Checks one input against the two-program reference.
    fn check_equivalent(
        (network, sysv, refuse): &(NetworkMode, bool, bool),
        set: &NotifySet,
        progs: (&[Insn], &[Insn], &Filter, &Filter, &Filter),
        d: &SeccompData,
    ) -> Result<(), String> {
        let (old_deny, old_notify, deny, notify, merged) = progs;
        let want_deny = bpf::run(old_deny, d).unwrap();
        let want_notify = bpf::run(old_notify, d).unwrap();
        let want = strictest(want_notify, want_deny);
        let got = (deny.evaluate(d), notify.evaluate(d), merged.evaluate(d));
        if got != (want_deny, want_notify, want) {
            return Err(format!(
                "{network:?} sysv={sysv} refuse={refuse} {set:?} {d:x?}: got {got:x?}, want \
                 {:x?}",
                (want_deny, want_notify, want)
            ));
        }
        Ok(())
    }

    /// Every configuration, every syscall number up to 600 (and x32, foreign arch), with
    /// argument vectors built from [`INTERESTING`]: the decision-tree deny and notify
    /// programs answer exactly what the old linear ones did, and the merged program what
    /// the kernel took from the old two.
    #[test]
    fn equivalence_sweep_against_the_two_linear_programs() {
        let sets = [
            NotifySet::new(),
            NotifySet::open_family(),
            set_from_bits(u64::MAX),
            NotifySet::open_family()
                .with(Syscall::Socket)
                .with(Syscall::SocketPair)
                .with(Syscall::SendTo)
                .with(Syscall::IoprioSet)
                .with(Syscall::SchedSetAffinity),
        ];
        let natives = NATIVE_AUDIT_ARCH.unwrap();
        for cfg in all_configs() {
            let (network, sysv, refuse) = &cfg;
            let old_deny = legacy_deny(network, *sysv, *refuse);
            let deny = Filter::deny_list(network, *sysv, *refuse).unwrap();
            for set in &sets {
                let old_notify = legacy_notify(set);
                let notify = Filter::notify(set).unwrap();
                let merged =
                    Filter::deny_list_with_notify(network, *sysv, *refuse, false, set).unwrap();
                let progs = (&old_deny[..], &old_notify[..], &deny, &notify, &merged);
                for nr in (0..600u32).chain([X32_SYSCALL_BIT | 1, u32::MAX, 0x8000_0000]) {
                    for (i, a) in INTERESTING.iter().enumerate() {
                        let b = INTERESTING[(i * 7 + 3) % INTERESTING.len()];
                        let c = INTERESTING[(i * 11 + 5) % INTERESTING.len()];
                        for args in [[*a, b, c, b, a.wrapping_mul(3), c], [b, *a, *a, c, 0, 0]] {
                            for arch in [natives, AUDIT_ARCH_I386, AUDIT_ARCH_ARM] {
                                let d = SeccompData {
                                    nr: nr as i32,
                                    arch,
                                    instruction_pointer: 0x1000,
                                    args,
                                };
                                check_equivalent(&cfg, set, progs, &d).unwrap();
                            }
                        }
                    }
                }
            }
        }
    }

    mod equivalence {
        use super::*;
        use proptest::prelude::*;

        fn arg() -> impl Strategy<Value = u64> {
            prop_oneof![
                prop::sample::select(INTERESTING),
                any::<u64>(),
                (prop::sample::select(INTERESTING), any::<u32>())
                    .prop_map(|(v, hi)| v | (u64::from(hi) << 32)),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]
            /// Random configurations, notify sets and `(arch, nr, args)`: the merged program
            /// returns what the kernel takes from the old deny and notify programs
            /// installed together, and the new single programs what the old ones did.
            #[test]
            fn merged_program_matches_the_two_program_composition(
                net in 0usize..3,
                sysv in any::<bool>(),
                refuse in any::<bool>(),
                bits in any::<u64>(),
                inputs in prop::collection::vec(
                    (
                        prop_oneof![
                            3 => Just(NATIVE_AUDIT_ARCH.unwrap()),
                            1 => Just(AUDIT_ARCH_I386),
                            1 => Just(AUDIT_ARCH_ARM),
                            1 => any::<u32>(),
                        ],
                        prop_oneof![
                            6 => 0u32..600,
                            1 => any::<u32>(),
                            1 => (0u32..600).prop_map(|n| n | X32_SYSCALL_BIT),
                        ],
                        prop::array::uniform6(arg()),
                    ),
                    64,
                ),
            ) {
                let network = all_network_modes()[net].clone();
                let set = set_from_bits(bits);
                let cfg = (network.clone(), sysv, refuse);
                let old_deny = legacy_deny(&network, sysv, refuse);
                let old_notify = legacy_notify(&set);
                let deny = Filter::deny_list(&network, sysv, refuse).unwrap();
                let notify = Filter::notify(&set).unwrap();
                let merged = Filter::deny_list_with_notify(&network, sysv, refuse, false, &set).unwrap();
                let progs = (&old_deny[..], &old_notify[..], &deny, &notify, &merged);
                for (arch, nr, args) in inputs {
                    let d = SeccompData {
                        nr: nr as i32,
                        arch,
                        instruction_pointer: 0x1000,
                        args,
                    };
                    prop_assert!(check_equivalent(&cfg, &set, progs, &d).is_ok(),
                        "{}", check_equivalent(&cfg, &set, progs, &d).unwrap_err());
                }
            }
        }
    }

    fn nr_of(n: libc::c_long) -> u32 {
        u32::try_from(n).unwrap()
    }

    /// The supervised program as `nono run` installs it.
    fn run_filter() -> Filter {
        let mut set = NotifySet::new();
        for s in Syscall::ALL {
            set.insert(*s);
        }
        Filter::for_caps_with_notify(&CapabilitySet::new(), &set).unwrap()
    }

    /// The hot syscalls are decided in a handful of instructions: the arch check (2), the
    /// x32 check (2 on x86_64), three to six comparisons of the decision tree, the `ret` —
    /// in the deny-list alone (`nono wrap`) and in the merged program (`nono run`) alike.
    /// The linear programs took 86 for `read` in the deny-list plus 61 in the notify
    /// program. `openat` is trapped under a supervisor; alone, the deny-list checks its
    /// flags (set-ID creation, access mode 3).
    #[test]
    fn hot_syscalls_cost_a_handful_of_instructions() {
        let wrap = Filter::for_caps(&CapabilitySet::new()).unwrap();
        let run = run_filter();
        let mut all = NotifySet::new();
        for s in Syscall::ALL {
            all.insert(*s);
        }
        let old_deny = legacy_deny(&NetworkMode::Allow, true, true);
        let old_notify = legacy_notify(&all);
        let read = [3, 0x1000, 4096, 0, 0, 0];
        let open_rd = [
            libc::AT_FDCWD as u64,
            0x1000,
            libc::O_RDONLY as u64,
            0,
            0,
            0,
        ];
        // (name, nr, args, wrap cost, run cost) pinned on x86_64.
        let cases: &[(&str, libc::c_long, [u64; 6], usize, usize)] = &[
            ("read", libc::SYS_read, read, 9, 9),
            ("write", libc::SYS_write, read, 9, 9),
            ("pread64", libc::SYS_pread64, read, 9, 9),
            ("close", libc::SYS_close, read, 8, 8),
            ("fstat", libc::SYS_fstat, read, 8, 8),
            ("mmap", libc::SYS_mmap, read, 8, 8),
            ("futex", libc::SYS_futex, read, 10, 11),
            ("openat", libc::SYS_openat, open_rd, 15, 15),
        ];
        let costs: Vec<_> = cases
            .iter()
            .map(|(name, nr, args, _, _)| {
                let d = call(nr_of(*nr), *args);
                (*name, wrap.cost(&d), run.cost(&d))
            })
            .collect();
        for ((name, nr, args, wrap_cost, run_cost), got) in cases.iter().zip(&costs) {
            let d = call(nr_of(*nr), *args);
            let old = bpf::run_counted(&old_deny, &d).unwrap().1
                + bpf::run_counted(&old_notify, &d).unwrap().1;
            assert!(got.2 * 4 < old, "{name}: {got:?}, linear programs {old}");
            if cfg!(target_arch = "x86_64") {
                assert_eq!(
                    (got.1, got.2),
                    (*wrap_cost, *run_cost),
                    "{name}; all: {costs:?}"
                );
            } else {
                assert!(got.1 <= 16 && got.2 <= 16, "{name}; all: {costs:?}");
            }
        }
        let openat = call(nr_of(libc::SYS_openat), open_rd);
        assert_eq!(run.evaluate(&openat), action::USER_NOTIF);
        assert_eq!(wrap.evaluate(&openat), action::ALLOW);
    }

    /// No syscall pays more than the prologue, the tree's depth and its own block.
    #[test]
    fn every_syscall_is_decided_in_few_instructions() {
        let wrap = Filter::for_caps(&CapabilitySet::new()).unwrap();
        let run = run_filter();
        for nr in 0..600u32 {
            for args in [[0; 6], [1, 2, 3, 4, 5, 6]] {
                let d = call(nr, args);
                assert!(wrap.cost(&d) <= 32, "{nr}: {}", wrap.cost(&d));
                assert!(run.cost(&d) <= 40, "{nr}: {}", run.cost(&d));
            }
        }
    }

    /// Syscalls whose verdict does not depend on their arguments stay cacheable by the
    /// kernel's seccomp action cache (5.11+): the program looks at nothing but the arch and
    /// the number on their path, so the kernel skips it for them altogether.
    #[test]
    fn argument_free_syscalls_stay_in_the_kernel_action_cache() {
        for f in [
            Filter::for_caps(&CapabilitySet::new()).unwrap(),
            run_filter(),
            Filter::notify(&NotifySet::open_family()).unwrap(),
        ] {
            for nr in [
                libc::SYS_read,
                libc::SYS_write,
                libc::SYS_pread64,
                libc::SYS_close,
                libc::SYS_fstat,
                libc::SYS_mmap,
                libc::SYS_futex,
                libc::SYS_getppid,
                libc::SYS_exit_group,
            ] {
                assert!(f.kernel_cache_allows(nr_of(nr)), "{f:?} {nr}");
            }
            // Denied, trapped or argument-dependent: never cached.
            assert!(!f.kernel_cache_allows(nr_of(libc::SYS_openat)), "{f:?}");
        }
        for f in [
            Filter::for_caps(&CapabilitySet::new()).unwrap(),
            run_filter(),
        ] {
            for nr in [libc::SYS_ptrace, libc::SYS_ioctl, libc::SYS_clone] {
                assert!(!f.kernel_cache_allows(nr_of(nr)), "{f:?} {nr}");
            }
        }
        // Whatever the cache allows, the program allows for every argument.
        let run = run_filter();
        for nr in 0..600u32 {
            if run.kernel_cache_allows(nr) {
                for a in INTERESTING {
                    assert_eq!(run.evaluate(&call(nr, [*a; 6])), action::ALLOW, "{nr}");
                }
            }
        }
    }

    /// A supervised sandbox installs one program, not two.
    #[test]
    fn merged_program_is_one_program_shorter_than_the_two() {
        let caps = CapabilitySet::new();
        let set = NotifySet::open_family();
        let merged = Filter::for_caps_with_notify(&caps, &set).unwrap();
        let two = Filter::for_caps(&caps).unwrap().instructions().len()
            + Filter::notify(&set).unwrap().instructions().len();
        assert!(merged.instructions().len() < two);
    }
}

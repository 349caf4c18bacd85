//! seccomp: classic-BPF filters built in this crate (deny-list, socket family/type filter,
//! the notify filter for what a supervisor brokers), the user-notification primitives, and
//! reading a trapped process's memory.
//!
//! No libseccomp: the programs are small, written with the label-resolving assembler in
//! [`bpf`], checked by its reference interpreter in unit tests, and by real sandboxed
//! processes in `tests/sandbox/seccomp.rs`.
//!
//! # Filters and how they combine
//!
//! [`Filter::for_caps`] builds the deny-list + socket filter; [`Filter::notify`] the
//! user-notification filter. Installed together, the kernel runs every filter on every
//! syscall and takes the strictest answer (`KILL` > `ERRNO` > `USER_NOTIF` > `ALLOW`), so a
//! denied syscall is never even reported to the supervisor. `PreparedSandbox` does not
//! install two: with a notify set it installs one program, [`Filter::for_caps_with_notify`]
//! (`deny_list_with_notify`), which answers for every `(arch, nr, args)` exactly what the
//! kernel takes from the two (a property test compares it with the old two-program
//! composition on random inputs, and a sweep over every syscall number and configuration),
//! so a syscall runs one program instead of two. `nono wrap` installs the deny-list alone.
//!
//! Both are installed with `SECCOMP_FILTER_FLAG_TSYNC` (all threads of a process that
//! sandboxes itself get them; `TSYNC_ESRCH` makes a failure an errno), after
//! `PR_SET_NO_NEW_PRIVS`. The notify filter adds `NEW_LISTENER` and, where the kernel has it
//! (5.19), `WAIT_KILLABLE_RECV`.
//!
//! # Program layout
//!
//! Every program (deny-list, notify, merged) has the same shape: the prologue, a binary
//! search on the syscall number, and one block per number whose verdict depends on its
//! arguments.
//!
//! ```text
//!       ld  arch
//!       jeq AUDIT_ARCH_NATIVE ? next : EPERM      foreign arch (i386 int 0x80, arm32): denied
//!       ld  nr
//!       jge __X32_SYSCALL_BIT ? EPERM : next       x86_64 only: every x32 syscall denied
//!       jge 85 ? R1 : next                         the decision tree: one jge per node
//!       jge 3 ? ... : next                         (pre-order, the lower half falls through)
//!       ret ALLOW                                  a leaf: a range of numbers decided alike
//!       ret ERRNO|EPERM                            (an unconditional deny row)
//!       ret USER_NOTIF                             (a trapped syscall)
//!       ja  openat_block                           (or the node jumps to the block directly)
//!       ...
//! openat_block: the deny rows of openat (below), what they let through goes on to the
//!               notify check of openat (here: ret USER_NOTIF) or to ret ALLOW
//! ...
//! ret ALLOW; ret USER_NOTIF; one `ret ERRNO|e` per distinct errno (shared by the blocks)
//! ```
//!
//! The tree is built over every number the filter's parts may single out (the deny and
//! System V tables, `socket`/`socketpair`, every [`Syscall`]), whatever the options, so its
//! shape — and the cost of a syscall — does not depend on which calls a notify set traps.
//! Ranges holding hot syscalls (`read`, `write`, `pread64`, `close`, `fstat`, `mmap`,
//! `futex`, `openat`, …) weigh more, so they sit near the root: 8 to 11 instructions for
//! those on x86_64 and 15 for a trapped or checked `openat` ([`Filter::cost`], pinned by
//! unit tests), where the linear chains took 86 for `read` in the deny-list plus 61 in the
//! notify program. On the path of a syscall whose verdict does not depend on its arguments
//! the program loads nothing but the arch and the number, so the kernel's seccomp action
//! cache (5.11+) keeps skipping it for them ([`Filter::kernel_cache_allows`]).
//!
//! The blocks (`socket_block` is `socket`'s, `socketpair_block` `socketpair`'s, and so on):
//!
//! ```text
//! ioctl_block:       ld args[1].lo; jeq TIOCSTI ? EPERM; jeq TIOCLINUX ? EPERM;
//!                    ld args[1].lo; and 0xffff; jeq 0xff0b (PIDFD_GET_INFO) ? ENOTTY; pass
//! renameat2_block:   ld args[4].lo; jset RENAME_WHITEOUT ? EPERM; pass
//! clone_block:       ld args[0].lo; jset CLONE_NEW* ? EPERM; pass
//! personality_block: ld args[0].lo; jeq 0xffffffff ? pass; jeq 0 ? pass; ja EPERM
//! mode_block:        ld args[mode].lo; jset S_ISUID|S_ISGID ? EPERM; pass
//! create_block:      ld args[flags].lo; jset O_CREAT|__O_TMPFILE ? next : mode3;
//!                    ld args[mode].lo; jset S_ISUID|S_ISGID ? EPERM;
//!              mode3: ld args[flags].lo; O_ACCMODE == 3 ? EACCES; pass
//! prlimit_block:     ld args[0].lo; jeq 0 ? pass; ld args[2].lo/.hi; both 0 ? pass : EPERM
//! prio_block:        ld args[0].lo; jeq PRIO_PROCESS ? next : EPERM; ld args[1].lo; jeq 0 ? pass : EPERM
//! socket_block:      ld args[0].lo; jeq AF_UNIX ? unix_block (pass when datagrams pass)
//!                    Allow: pass
//!                    Block: ja EAFNOSUPPORT
//!                    Ports: AF_INET/AF_INET6 -> (args[1].lo & 0xf) == SOCK_STREAM
//!                           && args[2].lo in {0, IPPROTO_TCP} ? pass : EPROTONOSUPPORT;
//!                           other families EAFNOSUPPORT
//! socketpair_block:  ld args[0].lo; jeq AF_UNIX ? unix_block : EAFNOSUPPORT (Allow: pass)
//! unix_block:        ld args[1].lo; and 0xf; jeq SOCK_STREAM ? pass;
//!                    jeq SOCK_SEQPACKET ? pass : EACCES
//! ```
//!
//! `pass` is `ret ALLOW` in the deny-list alone; in the merged program it is the number's
//! notify check (`ret USER_NOTIF` for a trapped syscall, or the argument check of `sendto`,
//! `socket`/`socketpair`, the scheduling calls — see Notify below): a deny row's `ERRNO`
//! wins over `USER_NOTIF`, as it does across two programs.
//!
//! Arguments are compared on their low 32 bits only, exactly the bits the kernel uses for
//! these `int`/`unsigned int` parameters (`ioctl`'s `cmd` is truncated to 32 bits by the
//! kernel, so `TIOCSTI | 1 << 32` is still `TIOCSTI` — and still denied). Syscalls whose
//! verdict does not depend on arguments let the kernel's seccomp action cache (5.11+)
//! skip the filter entirely.
//!
//! # Arch handling
//!
//! The arch is checked first in every program: anything but the native `AUDIT_ARCH` fails
//! with `EPERM` — on x86_64 every i386 syscall made with `int 0x80` (including
//! `socketcall` and the i386 `socket`, which would otherwise get around the socket
//! filter), on aarch64 every arm32 compat syscall — and so does every x32 syscall (native
//! arch, `nr` with `__X32_SYSCALL_BIT`). `EPERM` rather than `KILL_PROCESS`: a denial the
//! program can report beats a silent death, and nothing legitimate inside the sandbox uses
//! those ABIs. The notify filter does the same (not `ALLOW`), so it is safe on its own too.
//! Supported: x86_64 and aarch64 (syscall numbers from `libc`); elsewhere every filter
//! constructor returns [`SeccompError::UnsupportedArch`].
//!
//! # Deny table
//!
//! All `EPERM` unless noted. See [`deny_table`] for the rows with their reasons.
//!
//! | syscalls | why |
//! |---|---|
//! | `io_uring_setup`, `io_uring_enter`, `io_uring_register` | ring operations (open, connect, …) are invisible to seccomp |
//! | `ioctl(TIOCSTI)`, `ioctl(TIOCLINUX)` (low 32 bits of the request) | type commands into the user's terminal |
//! | `ptrace`, `process_vm_readv`, `process_vm_writev`, `pidfd_getfd` | other processes' memory and fds |
//! | `bpf`, `perf_event_open`, `userfaultfd` | kernel attack surface / race-winning tools |
//! | `keyctl`, `add_key`, `request_key` | the kernel keyring is shared with the user's session |
//! | `mount`, `umount2`, `pivot_root`, `move_mount`, `fsopen`, `fsconfig`, `fsmount`, `fspick`, `open_tree`, `open_tree_attr`, `mount_setattr` | the mount table |
//! | `unshare`, `setns`, `clone` with any `CLONE_NEW*` flag | namespaces |
//! | `clone3` → **`ENOSYS`** | flags live in memory seccomp cannot read; libc falls back to `clone` |
//! | `openat2` → **`ENOSYS`** | flags and mode live in `struct open_how`, in memory seccomp cannot read, so `O_CREAT` with a set-ID mode would pass (see below); callers fall back to `openat`, as on kernels before 5.6 |
//! | `personality` other than `0xffffffff` (query) and `0` (`PER_LINUX`) | ASLR / NX weakening |
//! | `kexec_load`, `kexec_file_load`, `init_module`, `finit_module`, `delete_module` | kernel code |
//! | `open_by_handle_at`, `name_to_handle_at` | open by handle bypasses path rules ("shocker") |
//! | `chroot` | root-only escape tricks; never needed in a sandbox |
//! | `swapon`, `swapoff`, `reboot`, `acct`, `quotactl`, `quotactl_fd`, `settimeofday`, `clock_settime`, `sethostname`, `setdomainname`, `fanotify_init` | host administration (matters when the sandboxed program runs as root) |
//! | `iopl`, `ioperm` (x86_64) | hardware I/O ports |
//! | `vhangup` | hangs up the terminal the user's shell shares |
//! | `lookup_dcookie` | profiler-only, removed in 6.9 |
//! | `chmod`, `fchmod` (mode `args[1]`), `fchmodat`, `fchmodat2` (`args[2]`) with `S_ISUID`/`S_ISGID`; `open` (flags `args[1]`, mode `args[2]`), `openat` (`args[2]`, `args[3]`) with `O_CREAT`/`O_TMPFILE` and such a mode; `creat` (`args[1]`), `mknod` (`args[1]`), `mknodat` (`args[2]`) with such a mode | a set-ID file left in a write grant runs as its owner (root) for any later user: the sandbox's root would outlive it. Also refuses `chmod g+s` of a directory (the mode's target type is not visible) |
//! | `prlimit64` with a pid other than 0 and a new limit (`args[2]` not NULL) | lowers an outside process's limits (`RLIMIT_CPU` kills it); `setrlimit`/`getrlimit` pass pid 0, reading another's limits passes |
//! | `setpriority` unless `which == PRIO_PROCESS && who == 0` | renices other processes; `nice()` passes `PRIO_PROCESS, 0` |
//! | `ioprio_set` with `which == IOPRIO_WHO_USER` | sets the I/O priority of every process of the user; `ionice -p` names one process |
//! | `renameat2` with `RENAME_WHITEOUT` (flags `args[4]`) | leaves a 0:0 character device (an overlayfs whiteout) where the source was: a device node in a write grant although Landlock refuses `mknod` of devices there (Linux 5.8+ lets anyone make whiteouts). Nothing but overlay implementations in user space uses the flag |
//! | `ioctl(PIDFD_GET_INFO)` → **`ENOTTY`** (request's type and number, `(req & 0xffff) == 0xff0b`: the kernel takes the struct's size from the request, so every size must match) | uid/gids, parent pid and cgroup of any process a pidfd names — `pidfd_open` works on every pid — while the supervisor refuses its `/proc/PID/status`. `ENOTTY` is what kernels before 6.13 answer, so callers fall back (to `/proc`, served for the sandbox's own processes). The namespace ioctls (`PIDFD_GET_*_NAMESPACE`) pass: the kernel's ptrace check, under Landlock's scope, refuses them for processes outside the sandbox (measured: `EACCES`). Another driver's ioctl with type `0xFF`, number 11 would be refused too |
//!
//! | `shmget`, `shmat`, `shmctl`, `msgget`, `msgsnd`, `msgrcv`, `msgctl`, `semget`, `semop`, `semtimedop`, `semctl` → **`ENOSYS`** ([`sysv_ipc_table`]), only when System V IPC is refused rather than made private (`SysvIpc::Deny`, or `Private` without `CAP_SYS_ADMIN` for an IPC namespace; [`Filter::for_caps`] alone always refuses unless `Host`) | other programs' IPC objects are found by key; `ENOSYS` is what a kernel without SysV IPC answers, so programs fall back |
//!
//! `openat2` is refused whole rather than checked: its mode is behind a pointer, and a
//! supervisor reading it from memory would race with the child (another thread rewrites
//! `struct open_how` between the read and `CONTINUE`). Programs that use it (systemd, some
//! Rust crates) already handle `ENOSYS`, which kernels before 5.6 answer.
//!
//! Not refused here: `sched_setaffinity`, `sched_setscheduler`, `sched_setparam`,
//! `sched_setattr` and `ioprio_set` of one process by pid (pinning a thread passes its
//! nonzero tid, so "another pid" cannot mean "another process" in a filter). The kernel
//! refuses them against a process with more capabilities than the (capability-less)
//! sandbox; against the same user's unprivileged processes a supervisor decides: the notify
//! filter traps them when the pid is not 0 ([`Syscall::OTHER_PROCESS`]) and the supervisor
//! lets through only the sandbox's own processes. Without a supervisor that denial of
//! service stays open.
//!
//! Deliberately *not* denied: `sysfs` (lists filesystem types), `adjtimex`/`clock_adjtime`
//! (glibc's `ntp_gettime` queries through them; setting needs `CAP_SYS_TIME`, which the
//! sandbox drops with every other capability), `kcmp`, `process_madvise`.
//!
//! # Network
//!
//! | mode | `socket()` / `socketpair()` |
//! |---|---|
//! | `Allow` | other families not filtered |
//! | `Block` | `AF_UNIX` only; any other family → `EAFNOSUPPORT`. This stops UDP, ICMP, raw and packet sockets, and also `AF_NETLINK`: tools like `ip` fail, and glibc's `getaddrinfo(AI_ADDRCONFIG)` falls back as if no netlink were there |
//! | `Ports` | `AF_UNIX`; `AF_INET`/`AF_INET6` only as `SOCK_STREAM` with protocol 0 or `IPPROTO_TCP` (Landlock's TCP port rules then apply); UDP, raw and `IPPROTO_MPTCP` (which Landlock's TCP rules may not cover) → `EPROTONOSUPPORT` (what libraries probing for MPTCP expect, so they fall back to TCP); other families → `EAFNOSUPPORT`. DNS over UDP therefore fails |
//!
//! In every mode, `AF_UNIX` sockets other than `SOCK_STREAM` and `SOCK_SEQPACKET` (type
//! masked with `0xf`, so `SOCK_NONBLOCK`/`SOCK_CLOEXEC` do not matter; `SOCK_RAW` is a
//! `SOCK_DGRAM` for `AF_UNIX`) → **`EACCES`**, unless
//! [`CapabilitySet::allows_unix_datagram`](crate::CapabilitySet::allows_unix_datagram). A
//! datagram socket — also one end of a connected `socketpair`, since an explicit address wins
//! over the peer — can `sendmsg`/`sendmmsg` to any pathname datagram socket (`/dev/log`,
//! `/run/systemd/notify`); the address is in a `msghdr` in memory, which no filter can read
//! and a supervisor could only check racily. Refusing the socket is race-free and costs the
//! hot path nothing. Under a supervisor ([`Syscall::UNIX_DATAGRAM`] in the notify set) the
//! deny filter lets these calls through and the notify filter traps exactly them, so the
//! supervisor refuses them with the same `EACCES` and reports them (`ERRNO` would win over
//! `USER_NOTIF` and they would never be seen).
//!
//! # Notify
//!
//! [`Filter::notify`] traps the syscalls of a [`NotifySet`] (start with
//! [`NotifySet::open_family`]; its `openat2` only reaches the listener when the notify filter
//! is installed without the deny filter) with `SECCOMP_RET_USER_NOTIF` (the decision tree
//! does not change shape with the set, so nothing added later lengthens a trapped open:
//! [`Filter::cost`]). Some are trapped only for some arguments: `sendto` with a destination
//! address (`args[4]` not NULL), and `socket`/`socketpair` of a Unix datagram socket (the
//! `unix_block` test above); [`NotifyFd`] receives and
//! answers them, [`procmem`] reads their pointer arguments. Reading another process's
//! memory races with that process: check [`NotifyFd::id_valid`] after every read, and make
//! decisions on what the supervisor opens itself, not on what it read.

pub mod bpf;
mod filter;
pub mod notify;
pub mod procmem;
mod sys;
mod syscalls;

pub use filter::{
    action, deny_table, socket_refusal, sysv_ipc_table, DenyEntry, Filter, NotifySet, SeccompError,
    Syscall, When, AUDIT_ARCH_AARCH64, AUDIT_ARCH_ARM, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64,
    CLONE_NEW_FLAGS, NATIVE_AUDIT_ARCH, PERSONALITY_ALLOWED, X32_SYSCALL_BIT,
};
pub use notify::{AddFdOptions, Notification, NotifyError, NotifyFd};

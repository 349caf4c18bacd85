//! The syscalls nono names, written once: the trapped [`Syscall`]s (enum, [`Syscall::ALL`],
//! names, numbers) and the other syscalls the deny filter and the decision tree single out
//! (`sysno::*`). Each row gives the syscall's name and its numbers on x86_64 and aarch64
//! (`-`: the arch does not have it; aarch64 has only the `*at` forms). Everything else —
//! [`Syscall::name`], [`Syscall::nr`], [`Syscall::from_nr`], the deny table's numbers —
//! comes from this table.
//!
//! The numbers are the kernel's: x86_64 from `arch/x86/entry/syscalls/syscall_64.tbl`
//! (installed as `<asm/unistd_64.h>`), aarch64 from `include/uapi/asm-generic/unistd.h`
//! (aarch64 uses the generic table). The unit tests compare every row with those headers
//! where they are installed (`linux-libc-dev`); syscalls newer than the installed headers
//! must have one number on every arch (the kernel's rule since 5.1, number 424).

/// `Some(n)` for a number, `None` for `-`.
macro_rules! nr_or_none {
    (-) => {
        None
    };
    ($n:literal) => {
        Some($n)
    };
}

/// `pub const name: u32 = n;` for a number, nothing for `-`.
macro_rules! native_const {
    ($name:ident, -) => {};
    ($name:ident, $n:literal) => {
        pub const $name: u32 = $n;
    };
}

macro_rules! syscall_table {
    (
        trapped {
            $( $(#[doc = $doc:literal])* $variant:ident = $name:ident : $x86:tt, $arm:tt; )*
        }
        other {
            $( $oname:ident : $ox86:tt, $oarm:tt; )*
        }
    ) => {
        /// A syscall the notify filter can trap. The set grows as the supervisor brokers more
        /// (add a row to the table in `syscalls.rs`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        #[repr(u8)]
        pub enum Syscall {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl Syscall {
            /// Every variant, in declaration order.
            pub const ALL: &'static [Syscall] = &[ $(Syscall::$variant,)* ];

            /// The syscall's name.
            #[must_use]
            pub const fn name(self) -> &'static str {
                match self {
                    $(Syscall::$variant => stringify!($name),)*
                }
            }

            /// Its numbers on every arch nono knows.
            #[must_use]
            pub(crate) const fn numbers(self) -> Numbers {
                match self {
                    $(Syscall::$variant => Numbers {
                        name: stringify!($name),
                        x86_64: nr_or_none!($x86),
                        aarch64: nr_or_none!($arm),
                    },)*
                }
            }
        }

        /// Every row of the table: the trapped syscalls, then the others.
        #[cfg_attr(not(test), allow(dead_code))]
        pub(crate) const TABLE: &[Numbers] = &[
            $(Numbers { name: stringify!($name), x86_64: nr_or_none!($x86), aarch64: nr_or_none!($arm) },)*
            $(Numbers { name: stringify!($oname), x86_64: nr_or_none!($ox86), aarch64: nr_or_none!($oarm) },)*
        ];

        /// The numbers of this machine, one `u32` constant per syscall it has, named like
        /// the syscall.
        #[allow(non_upper_case_globals, dead_code)]
        pub(crate) mod sysno {
            #[cfg(target_arch = "x86_64")]
            mod native {
                $(native_const!($name, $x86);)*
                $(native_const!($oname, $ox86);)*
            }
            #[cfg(target_arch = "aarch64")]
            mod native {
                $(native_const!($name, $arm);)*
                $(native_const!($oname, $oarm);)*
            }
            /// Placeholders so the builders compile everywhere; never emitted, because
            /// `prologue` fails with `UnsupportedArch` first on these arches.
            #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
            mod native {
                $(pub const $name: u32 = u32::MAX;)*
                $(pub const $oname: u32 = u32::MAX;)*
            }
            pub use native::*;
        }
    };
}

/// One syscall's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Numbers {
    /// The syscall's name, as the kernel spells it (`__NR_<name>`).
    pub name: &'static str,
    /// Its number on x86_64 (`None`: x86_64 lacks it).
    pub x86_64: Option<u32>,
    /// Its number on aarch64 (`None`: aarch64 lacks it).
    pub aarch64: Option<u32>,
}

impl Numbers {
    /// The number on this machine; `None` if this arch lacks the syscall or nono does not
    /// know this arch's numbers.
    #[must_use]
    pub(crate) const fn native(&self) -> Option<u32> {
        if cfg!(target_arch = "x86_64") {
            self.x86_64
        } else if cfg!(target_arch = "aarch64") {
            self.aarch64
        } else {
            None
        }
    }
}

syscall_table! {
    trapped {
        /// `open(path, flags, mode)` (not on aarch64).
        Open = open: 2, -;
        /// `openat(dirfd, path, flags, mode)`.
        OpenAt = openat: 257, 56;
        /// `openat2(dirfd, path, &open_how, size)`.
        OpenAt2 = openat2: 437, 437;
        /// `creat(path, mode)` (not on aarch64).
        Creat = creat: 85, -;
        /// `connect(fd, addr, len)`.
        Connect = connect: 42, 203;
        /// `bind(fd, addr, len)`.
        Bind = bind: 49, 200;
        /// `listen(fd, backlog)`: trapped in TCP port mode only, where an unbound TCP socket
        /// would be auto-bound to a random port on every address.
        Listen = listen: 50, 201;
        /// `execve(path, argv, envp)`.
        Execve = execve: 59, 221;
        /// `execveat(dirfd, path, argv, envp, flags)`.
        ExecveAt = execveat: 322, 281;
        /// `chmod(path, mode)` (not on aarch64).
        Chmod = chmod: 90, -;
        /// `fchmodat(dirfd, path, mode)`.
        FchmodAt = fchmodat: 268, 53;
        /// `fchmodat2(dirfd, path, mode, flags)`.
        FchmodAt2 = fchmodat2: 452, 452;
        /// `mkdir(path, mode)` (not on aarch64).
        Mkdir = mkdir: 83, -;
        /// `mkdirat(dirfd, path, mode)`.
        MkdirAt = mkdirat: 258, 34;
        /// `unlink(path)` (not on aarch64).
        Unlink = unlink: 87, -;
        /// `unlinkat(dirfd, path, flags)`.
        UnlinkAt = unlinkat: 263, 35;
        /// `rename(old, new)` (not on aarch64).
        Rename = rename: 82, -;
        /// `renameat(olddirfd, old, newdirfd, new)`.
        RenameAt = renameat: 264, 38;
        /// `renameat2(olddirfd, old, newdirfd, new, flags)`.
        RenameAt2 = renameat2: 316, 276;
        /// `fchmod(fd, mode)`.
        Fchmod = fchmod: 91, 52;
        /// `chown(path, uid, gid) (not on aarch64)`.
        Chown = chown: 92, -;
        /// `lchown(path, uid, gid) (not on aarch64)`.
        Lchown = lchown: 94, -;
        /// `fchown(fd, uid, gid)`.
        Fchown = fchown: 93, 55;
        /// `fchownat(dirfd, path, uid, gid, flags)`.
        FchownAt = fchownat: 260, 54;
        /// `utime(path, times) (not on aarch64)`.
        Utime = utime: 132, -;
        /// `utimes(path, times) (not on aarch64)`.
        Utimes = utimes: 235, -;
        /// `utimensat(dirfd, path, times, flags)`.
        UtimensAt = utimensat: 280, 88;
        /// `futimesat(dirfd, path, times) (not on aarch64)`.
        FutimesAt = futimesat: 261, -;
        /// `setxattr(path, name, value, size, flags)`.
        SetXattr = setxattr: 188, 5;
        /// `lsetxattr(path, name, value, size, flags)`.
        LsetXattr = lsetxattr: 189, 6;
        /// `fsetxattr(fd, name, value, size, flags)`.
        FsetXattr = fsetxattr: 190, 7;
        /// `removexattr(path, name)`.
        RemoveXattr = removexattr: 197, 14;
        /// `lremovexattr(path, name)`.
        LremoveXattr = lremovexattr: 198, 15;
        /// `fremovexattr(fd, name)`.
        FremoveXattr = fremovexattr: 199, 16;
        /// `setxattrat(dirfd, path, at_flags, name, &args, size) (Linux 6.13)`.
        SetXattrAt = setxattrat: 463, 463;
        /// `removexattrat(dirfd, path, at_flags, name) (Linux 6.13)`.
        RemoveXattrAt = removexattrat: 466, 466;
        /// `file_setattr(dirfd, path, &attr, size, at_flags) (Linux 6.17)`.
        FileSetAttr = file_setattr: 469, 469;
        /// `sendto(fd, buf, len, flags, addr, addrlen)`; the notify filter traps it only when
        /// `addr` is not NULL (a plain `send` is never trapped).
        SendTo = sendto: 44, 206;
        /// `sendmsg(fd, &msghdr, flags)`.
        SendMsg = sendmsg: 46, 211;
        /// `sendmmsg(fd, msgvec, vlen, flags)`.
        SendMmsg = sendmmsg: 307, 269;
        /// `rmdir(path)` (not on aarch64).
        Rmdir = rmdir: 84, -;
        /// `link(old, new)` (not on aarch64).
        Link = link: 86, -;
        /// `linkat(olddirfd, old, newdirfd, new, flags)`.
        LinkAt = linkat: 265, 37;
        /// `symlink(target, linkpath)` (not on aarch64).
        Symlink = symlink: 88, -;
        /// `symlinkat(target, newdirfd, linkpath)`.
        SymlinkAt = symlinkat: 266, 36;
        /// `mknod(path, mode, dev)` (not on aarch64).
        Mknod = mknod: 133, -;
        /// `mknodat(dirfd, path, mode, dev)`.
        MknodAt = mknodat: 259, 33;
        /// `truncate(path, length)`.
        Truncate = truncate: 76, 45;
        /// `socket(domain, type, protocol)`; the notify filter traps it only for a Unix
        /// datagram socket (see [`Syscall::UNIX_DATAGRAM`]).
        Socket = socket: 41, 198;
        /// `socketpair(domain, type, protocol, sv)`; trapped like [`Syscall::Socket`].
        SocketPair = socketpair: 53, 199;
        /// `sched_setaffinity(pid, len, mask)`; the notify filter traps it only for another
        /// process (see [`Syscall::OTHER_PROCESS`]).
        SchedSetAffinity = sched_setaffinity: 203, 122;
        /// `sched_setscheduler(pid, policy, param)`; like [`Syscall::SchedSetAffinity`].
        SchedSetScheduler = sched_setscheduler: 144, 119;
        /// `sched_setparam(pid, param)`; like [`Syscall::SchedSetAffinity`].
        SchedSetParam = sched_setparam: 142, 118;
        /// `sched_setattr(pid, attr, flags)`; like [`Syscall::SchedSetAffinity`].
        SchedSetAttr = sched_setattr: 314, 274;
        /// `ioprio_set(which, who, ioprio)`; trapped only when `who` is not 0.
        IoprioSet = ioprio_set: 251, 30;
        /// `inotify_add_watch(fd, path, mask)`: Landlock does not check it, so a watch anywhere
        /// reports the names of files created, opened and read there.
        InotifyAddWatch = inotify_add_watch: 254, 27;
    }
    other {
        acct: 163, 89;
        add_key: 248, 217;
        bpf: 321, 280;
        brk: 12, 214;
        chroot: 161, 51;
        clock_gettime: 228, 113;
        clock_settime: 227, 112;
        clone: 56, 220;
        clone3: 435, 435;
        close: 3, 57;
        delete_module: 176, 106;
        epoll_pwait: 281, 22;
        fanotify_init: 300, 262;
        fcntl: 72, 25;
        finit_module: 313, 273;
        fsconfig: 431, 431;
        fsmount: 432, 432;
        fsopen: 430, 430;
        fspick: 433, 433;
        fstat: 5, 80;
        futex: 202, 98;
        getdents64: 217, 61;
        getpid: 39, 172;
        getppid: 110, 173;
        gettid: 186, 178;
        init_module: 175, 105;
        io_uring_enter: 426, 426;
        io_uring_register: 427, 427;
        io_uring_setup: 425, 425;
        ioctl: 16, 29;
        ioperm: 173, -;
        iopl: 172, -;
        kexec_file_load: 320, 294;
        kexec_load: 246, 104;
        keyctl: 250, 219;
        lookup_dcookie: 212, 18;
        lseek: 8, 62;
        madvise: 28, 233;
        mmap: 9, 222;
        mount: 165, 40;
        mount_setattr: 442, 442;
        move_mount: 429, 429;
        mprotect: 10, 226;
        msgctl: 71, 187;
        msgget: 68, 186;
        msgrcv: 70, 188;
        msgsnd: 69, 189;
        munmap: 11, 215;
        name_to_handle_at: 303, 264;
        newfstatat: 262, 79;
        open_by_handle_at: 304, 265;
        open_tree: 428, 428;
        open_tree_attr: 467, 467;
        perf_event_open: 298, 241;
        personality: 135, 92;
        pidfd_getfd: 438, 438;
        pivot_root: 155, 41;
        ppoll: 271, 73;
        pread64: 17, 67;
        prlimit64: 302, 261;
        process_vm_readv: 310, 270;
        process_vm_writev: 311, 271;
        ptrace: 101, 117;
        pwrite64: 18, 68;
        quotactl: 179, 60;
        quotactl_fd: 443, 443;
        read: 0, 63;
        readv: 19, 65;
        reboot: 169, 142;
        recvfrom: 45, 207;
        recvmsg: 47, 212;
        request_key: 249, 218;
        rt_sigaction: 13, 134;
        rt_sigprocmask: 14, 135;
        semctl: 66, 191;
        semget: 64, 190;
        semop: 65, 193;
        semtimedop: 220, 192;
        setdomainname: 171, 162;
        sethostname: 170, 161;
        setns: 308, 268;
        setpriority: 141, 140;
        settimeofday: 164, 170;
        shmat: 30, 196;
        shmctl: 31, 195;
        shmget: 29, 194;
        statx: 332, 291;
        swapoff: 168, 225;
        swapon: 167, 224;
        umount2: 166, 39;
        unshare: 272, 97;
        userfaultfd: 323, 282;
        vhangup: 153, 58;
        write: 1, 64;
        writev: 20, 66;
    }
}

impl Syscall {
    /// The open family: `open`, `openat`, `openat2`, `creat`.
    pub const OPEN_FAMILY: &'static [Syscall] = &[
        Syscall::Open,
        Syscall::OpenAt,
        Syscall::OpenAt2,
        Syscall::Creat,
    ];

    /// `socket`, `socketpair`: in a notify set, trapped only when they would create a Unix
    /// datagram socket — `AF_UNIX` with a type (low 32 bits, `SOCK_NONBLOCK`/`SOCK_CLOEXEC`
    /// masked off) other than `SOCK_STREAM` and `SOCK_SEQPACKET` (the kernel makes
    /// `SOCK_RAW` a `SOCK_DGRAM` there); every other call passes this filter. The deny
    /// filter refuses those calls itself unless a supervisor traps them (see
    /// `PreparedSandbox::prepare`).
    pub const UNIX_DATAGRAM: &'static [Syscall] = &[Syscall::Socket, Syscall::SocketPair];

    /// Scheduling and I/O priority of a process named by pid: in a notify set, trapped only
    /// when they name a process other than the caller — `pid` (`args[0]`, low 32 bits: a
    /// `pid_t`) not 0; for `ioprio_set`, `who` (`args[1]`) not 0. Landlock has no rule for
    /// them and the kernel lets a process change others of the same user, so a supervisor
    /// decides whether the target belongs to the sandbox. (`ioprio_set` of a whole user is
    /// refused by the deny filter.)
    pub const OTHER_PROCESS: &'static [Syscall] = &[
        Syscall::SchedSetAffinity,
        Syscall::SchedSetScheduler,
        Syscall::SchedSetParam,
        Syscall::SchedSetAttr,
        Syscall::IoprioSet,
    ];

    /// Its number on this machine; `None` if this arch does not have it (aarch64 only has
    /// the `*at` forms) or seccomp filters are unsupported here.
    #[must_use]
    pub const fn nr(self) -> Option<u32> {
        self.numbers().native()
    }

    /// The syscall with this number (as in [`Notification::nr`](super::Notification)).
    #[must_use]
    pub fn from_nr(nr: i32) -> Option<Syscall> {
        let nr = u32::try_from(nr).ok()?;
        Syscall::ALL.iter().copied().find(|s| s.nr() == Some(nr))
    }
}

impl std::fmt::Display for Syscall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// The x86_64 table as `linux-libc-dev` installs it.
    const X86_64_HEADER: &str = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h";
    /// The generic table (aarch64's) as `linux-libc-dev` installs it.
    const GENERIC_HEADER: &str = "/usr/include/asm-generic/unistd.h";
    /// Since Linux 5.1 (`pidfd_send_signal`, 424) a new syscall gets the same number on
    /// every arch.
    const UNIFIED_FROM: u32 = 424;

    /// `__NR_name` → number from a kernel unistd header: plain `#define __NR_x N`, and in
    /// the generic header `#define __NR_x __NR3264_y` (the 64-bit block comes first, so its
    /// aliases win over the 32-bit ones).
    fn parse_unistd(text: &str) -> HashMap<String, u32> {
        let mut raw: HashMap<&str, &str> = HashMap::new();
        for line in text.lines() {
            let mut words = line.split_whitespace();
            if words.next() != Some("#define") {
                continue;
            }
            let (Some(macro_name), Some(value)) = (words.next(), words.next()) else {
                continue;
            };
            if macro_name.starts_with("__NR") {
                raw.entry(macro_name).or_insert(value);
            }
        }
        raw.iter()
            .filter_map(|(k, v)| {
                let name = k.strip_prefix("__NR_")?;
                let v = if v.starts_with("__NR3264_") {
                    raw.get(v)?
                } else {
                    v
                };
                Some((name.to_owned(), v.parse().ok()?))
            })
            .collect()
    }

    /// Every row agrees with the kernel's table for `arch`: the same number where the header
    /// has the syscall, absent where the header lacks it — unless the syscall is newer than
    /// the installed header, which then must carry a unified number (the same on every arch).
    fn check_against(header: &str, arch: &str, pick: fn(&Numbers) -> Option<u32>) {
        let text = match std::fs::read_to_string(header) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("skipped: {header} ({e}); install linux-libc-dev to check {arch}");
                return;
            }
        };
        let kernel = parse_unistd(&text);
        let newest = kernel
            .iter()
            .filter(|(k, _)| k.as_str() != "syscalls")
            .map(|(_, v)| *v)
            .filter(|v| *v < 1000)
            .max()
            .unwrap();
        assert!(
            kernel.len() > 250,
            "{header}: parsed only {} names",
            kernel.len()
        );
        let mut errors = Vec::new();
        for row in TABLE {
            match (kernel.get(row.name), pick(row)) {
                (Some(k), Some(ours)) if *k == ours => {}
                (None, None) => {}
                (None, Some(ours))
                    if ours > newest && ours >= UNIFIED_FROM && row.x86_64 == row.aarch64 => {}
                (k, ours) => errors.push(format!("{}: kernel {k:?}, table {ours:?}", row.name)),
            }
        }
        assert!(
            errors.is_empty(),
            "{arch} numbers differ from {header}: {errors:#?}"
        );
    }

    #[test]
    fn aarch64_numbers_match_the_generic_kernel_table() {
        check_against(GENERIC_HEADER, "aarch64", |r| r.aarch64);
    }

    #[test]
    fn x86_64_numbers_match_the_kernel_table() {
        check_against(X86_64_HEADER, "x86_64", |r| r.x86_64);
    }

    #[test]
    fn the_header_parser_reads_plain_and_3264_defines() {
        let t = "#define __NR_openat 56\n#define __NR3264_truncate 45\n\
                 #define __NR_truncate __NR3264_truncate\n#define __NR_truncate64 __NR3264_truncate\n\
                 #define __NR_truncate __NR3264_other\n";
        let k = parse_unistd(t);
        assert_eq!(k.get("openat"), Some(&56));
        assert_eq!(k.get("truncate"), Some(&45));
        assert_eq!(k.len(), 3);
    }

    #[test]
    fn the_table_has_one_row_per_syscall_and_the_enum_matches_it() {
        let mut names: Vec<_> = TABLE.iter().map(|r| r.name).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "a syscall appears twice in the table");
        for (i, s) in Syscall::ALL.iter().enumerate() {
            assert_eq!(*s as usize, i);
            assert_eq!(TABLE[i], s.numbers());
            assert_eq!(s.name(), s.numbers().name);
            assert_eq!(s.to_string(), s.name());
            if let Some(nr) = s.nr() {
                assert_eq!(Syscall::from_nr(nr as i32), Some(*s));
            }
        }
        // A `NotifySet` is a u64 over the variants.
        assert!(Syscall::ALL.len() <= 64);
    }

    /// The native numbers agree with `libc`'s, an independent transcription.
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    #[test]
    fn native_numbers_match_libc() {
        let pairs: &[(u32, libc::c_long)] = &[
            (sysno::openat, libc::SYS_openat),
            (sysno::read, libc::SYS_read),
            (sysno::fstat, libc::SYS_fstat),
            (sysno::newfstatat, libc::SYS_newfstatat),
            (sysno::truncate, libc::SYS_truncate),
            (sysno::ioctl, libc::SYS_ioctl),
            (sysno::clone3, libc::SYS_clone3),
            (sysno::socket, libc::SYS_socket),
            (sysno::inotify_add_watch, libc::SYS_inotify_add_watch),
            (sysno::sched_setattr, libc::SYS_sched_setattr),
        ];
        for (ours, theirs) in pairs {
            assert_eq!(Some(*ours), u32::try_from(*theirs).ok());
        }
    }
}

//! seccomp filters in real sandboxed child processes: every deny-table row, the arch checks,
//! the socket filter per network mode, and a supervisor answering trapped opens.
//!
//! The probes are made by `c/syscalls.c`, compiled here with gcc (a missing gcc or seccomp
//! is a skip, or a failure under `NONO_REQUIRE_SANDBOX=1`). Each sandboxed child installs
//! the filter in `pre_exec`, i.e. after fork, never in the test runner itself.
#![allow(unsafe_code)]

use std::collections::HashMap;
use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use nono_sandbox::linux::seccomp::{
    deny_table, procmem, AddFdOptions, Filter, NotifyFd, NotifySet, Syscall,
};
use nono_sandbox::{CapabilitySet, NetworkMode};
use rustix::event::{poll, PollFd, PollFlags};
use rustix::net::{
    recvmsg, sendmsg, socketpair, AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage,
    RecvFlags, SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};

fn required() -> bool {
    std::env::var_os("NONO_REQUIRE_SANDBOX").is_some_and(|v| v == "1")
}

/// Skip (or, when required, fail) with a reason.
fn unavailable(reason: &str) -> Option<PathBuf> {
    assert!(!required(), "NONO_REQUIRE_SANDBOX=1 but {reason}");
    eprintln!("skipping: {reason}");
    None
}

/// The compiled probe program, or `None` (after printing why) if the test must skip.
fn probe() -> Option<PathBuf> {
    static PROBE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let built = PROBE.get_or_init(|| {
        let avail = std::fs::read_to_string("/proc/sys/kernel/seccomp/actions_avail")
            .map_err(|e| format!("seccomp is not available ({e})"))?;
        if !avail.split_whitespace().any(|a| a == "user_notif") {
            return Err("seccomp user notification is not available".into());
        }
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sandbox/c/syscalls.c");
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("nono-seccomp");
        std::fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let out = dir.join(format!("syscalls-{}", std::process::id()));
        let status = Command::new("gcc")
            .args(["-O1", "-Wall", "-Werror", "-pthread", "-o"])
            .arg(&out)
            .arg(&src)
            .status();
        match status {
            Ok(s) if s.success() => Ok(out),
            Ok(s) => panic!("gcc failed on {}: {s}", src.display()),
            Err(e) => Err(format!("gcc is not available ({e})")),
        }
    });
    match built {
        Ok(p) => Some(p.clone()),
        Err(reason) => unavailable(reason),
    }
}

/// Run `cmd` with `filters` installed (in order) after fork.
fn sandboxed(mut cmd: Command, filters: &[&Filter]) -> Output {
    let filters: Vec<Filter> = filters.iter().map(|f| (*f).clone()).collect();
    // SAFETY: the closure only calls Filter::install, which is async-signal-safe (no
    // allocation, no locks: a prctl and a seccomp syscall on a prebuilt program).
    unsafe {
        cmd.pre_exec(move || {
            for f in &filters {
                f.install().map_err(std::io::Error::from)?;
            }
            Ok(())
        });
    }
    cmd.stdin(Stdio::null())
        .output()
        .expect("spawn sandboxed child")
}

/// `NAME -> (ret, errno)` from the probe's output.
fn probe_results(probe: &Path, names: &[&str], filters: &[&Filter]) -> HashMap<String, (i64, i32)> {
    let mut cmd = Command::new(probe);
    cmd.args(names);
    let out = if filters.is_empty() {
        cmd.stdin(Stdio::null()).output().expect("spawn probe")
    } else {
        sandboxed(cmd, filters)
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "probe failed: {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut map = HashMap::new();
    for line in stdout.lines() {
        let (name, rest) = line.rsplit_once(" ret=").expect(line);
        let (ret, errno) = rest.split_once(" errno=").expect(line);
        map.insert(
            name.to_owned(),
            (ret.parse().unwrap(), errno.parse().unwrap()),
        );
    }
    for n in names {
        assert!(map.contains_key(*n), "no result for {n}:\n{stdout}");
    }
    map
}

fn deny_filter(network: NetworkMode) -> Filter {
    let mut caps = CapabilitySet::new();
    caps.set_network(network);
    Filter::for_caps(&caps).expect("build deny filter")
}

#[track_caller]
fn assert_errno(results: &HashMap<String, (i64, i32)>, name: &str, errno: i32) {
    assert_eq!(results[name], (-1, errno), "{name}: expected errno {errno}");
}

#[track_caller]
fn assert_ok(results: &HashMap<String, (i64, i32)>, name: &str) {
    let (ret, errno) = results[name];
    assert!(
        ret >= 0 && errno == 0,
        "{name}: expected success, got ret={ret} errno={errno}"
    );
}

#[test]
fn seccomp_every_deny_table_row_fails_with_its_errno() {
    let Some(probe) = probe() else { return };
    let labels: Vec<String> = deny_table().iter().map(|e| e.label()).collect();
    let names: Vec<&str> = labels.iter().map(String::as_str).collect();
    let results = probe_results(&probe, &names, &[&deny_filter(NetworkMode::Allow)]);
    for (e, label) in deny_table().iter().zip(&labels) {
        assert_errno(&results, label, e.errno);
    }
}

#[test]
fn seccomp_unsandboxed_the_same_probes_get_other_answers() {
    // Proves the test above can tell a filter denial from the kernel's own answer: without
    // the filter (as root) these succeed or fail differently.
    let Some(probe) = probe() else { return };
    let names = [
        "unshare",
        "clone(CLONE_NEW*)",
        "userfaultfd",
        "chroot",
        "personality(other)",
        "process_vm_readv",
        "ioctl(TIOCSTI)",
        "clone3",
        "openat2",
        "lookup_dcookie",
        "reboot",
        "ioctl(PIDFD_GET_INFO)",
        "renameat2(RENAME_WHITEOUT)",
    ];
    let results = probe_results(&probe, &names, &[]);
    let table: HashMap<String, i32> = deny_table().iter().map(|e| (e.label(), e.errno)).collect();
    for n in names {
        assert_ne!(
            results[n].1, table[n],
            "{n} gets the filter's errno even unsandboxed"
        );
    }
    if rustix::process::geteuid().is_root() {
        for n in ["unshare", "clone(CLONE_NEW*)", "chroot", "userfaultfd"] {
            assert_ok(&results, n);
        }
    }
}

/// Set-ID modes and other processes' limits/priority: the conditional rows refuse only
/// those arguments; the same calls otherwise reach the kernel (its own errno).
#[test]
fn seccomp_set_id_modes_and_other_pids_are_refused_the_rest_passes() {
    let Some(probe) = probe() else { return };
    let names = [
        "openat:tmpfile-setuid",
        "openat:create-0644",
        "fchmod:0755",
        "prlimit64:read-other",
        "prlimit64:self",
        "setpriority:self",
        "prlimit64(pid, new limit)",
        "setpriority(other)",
    ];
    let results = probe_results(&probe, &names, &[&deny_filter(NetworkMode::Allow)]);
    assert_errno(&results, "openat:tmpfile-setuid", libc::EPERM);
    assert_errno(&results, "openat:create-0644", libc::ENOENT);
    assert_errno(&results, "fchmod:0755", libc::EBADF);
    assert_errno(&results, "prlimit64:read-other", libc::ESRCH);
    assert_ok(&results, "prlimit64:self");
    assert_ok(&results, "setpriority:self");
    // Unsandboxed, the kernel answers (no such process): the filter made the difference.
    let bare = probe_results(&probe, &names, &[]);
    assert_errno(&bare, "prlimit64(pid, new limit)", libc::ESRCH);
    assert_errno(&bare, "setpriority(other)", libc::ESRCH);
    assert_errno(&bare, "openat:tmpfile-setuid", libc::ENOENT);
}

/// `openat2` keeps its flags and mode in `struct open_how`, out of the filter's reach, so
/// `openat2(O_CREAT, 04755)` would plant a set-user-ID file: the deny filter fails every
/// `openat2` with `ENOSYS` (what kernels before 5.6 answer; callers fall back to `openat`,
/// whose mode is checked). Unsandboxed, the same calls reach the kernel.
#[test]
fn seccomp_openat2_fails_with_enosys_so_set_id_creation_falls_back_to_openat() {
    let Some(probe) = probe() else { return };
    let names = [
        "openat2",
        "openat2:read",
        "openat(O_CREAT, S_ISUID|S_ISGID)",
        "openat:create-0644",
    ];
    let results = probe_results(&probe, &names, &[&deny_filter(NetworkMode::Allow)]);
    assert_errno(&results, "openat2", libc::ENOSYS);
    assert_errno(&results, "openat2:read", libc::ENOSYS);
    // The fallback: openat is checked, set-ID modes refused, the rest reaches the kernel.
    assert_errno(&results, "openat(O_CREAT, S_ISUID|S_ISGID)", libc::EPERM);
    assert_errno(&results, "openat:create-0644", libc::ENOENT);
    let bare = probe_results(&probe, &names, &[]);
    assert_errno(&bare, "openat2", libc::ENOENT);
    assert_ok(&bare, "openat2:read");
    assert_errno(&bare, "openat(O_CREAT, S_ISUID|S_ISGID)", libc::ENOENT);
}

#[test]
fn seccomp_terminal_injection_ioctls_with_high_bits_are_refused() {
    let Some(probe) = probe() else { return };
    let names = [
        "ioctl(TIOCSTI):high-bits",
        "ioctl(TIOCLINUX):high-bits",
        "ioctl:TCGETS",
    ];
    let results = probe_results(&probe, &names, &[&deny_filter(NetworkMode::Allow)]);
    assert_errno(&results, "ioctl(TIOCSTI):high-bits", libc::EPERM);
    assert_errno(&results, "ioctl(TIOCLINUX):high-bits", libc::EPERM);
    // Other ioctls reach the kernel (/dev/null is not a terminal).
    assert_errno(&results, "ioctl:TCGETS", libc::ENOTTY);
}

#[test]
fn seccomp_namespace_clones_are_refused_fork_and_threads_work() {
    let Some(probe) = probe() else { return };
    let deny = deny_filter(NetworkMode::Allow);
    let names = [
        "clone:newns",
        "clone:newnet",
        "clone:newpid",
        "clone:newuser-high-bits",
        "clone:fork",
        "clone3",
        "fork",
        "thread",
        "personality:query",
        "personality:linux",
        "personality(other)",
    ];
    let results = probe_results(&probe, &names, &[&deny]);
    for n in [
        "clone:newns",
        "clone:newnet",
        "clone:newpid",
        "clone:newuser-high-bits",
    ] {
        assert_errno(&results, n, libc::EPERM);
    }
    assert_errno(&results, "clone3", libc::ENOSYS);
    assert_errno(&results, "personality(other)", libc::EPERM);
    for n in [
        "clone:fork",
        "fork",
        "thread",
        "personality:query",
        "personality:linux",
    ] {
        assert_ok(&results, n);
    }

    // A shell pipeline: fork, exec, pipes (glibc tries clone3 first and falls back).
    let mut sh = Command::new("sh");
    sh.args(["-c", "ls / | cat"]);
    let out = sandboxed(sh, &[&deny]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l == "proc"),
        "{out:?}"
    );
}

#[cfg(target_arch = "x86_64")]
#[test]
fn seccomp_i386_and_x32_syscalls_are_refused() {
    let Some(probe) = probe() else { return };
    let names = [
        "i386:getpid",
        "i386:socket",
        "i386:socketcall",
        "x32:getpid",
    ];
    for filter in [
        deny_filter(NetworkMode::Allow),
        deny_filter(NetworkMode::Block),
        // Installed without a listener, trapped syscalls would fail with ENOSYS (even the
        // loader's opens): an empty set checks just the notify filter's arch prologue.
        Filter::notify(&NotifySet::new()).unwrap(),
    ] {
        let results = probe_results(&probe, &names, &[&filter]);
        for n in names {
            assert_errno(&results, n, libc::EPERM);
        }
    }
    // Unsandboxed the i386 calls work here (IA32 emulation is on), so the denial above is
    // the filter's.
    let results = probe_results(&probe, &names, &[]);
    if results["i386:getpid"].1 == libc::ENOSYS {
        eprintln!("note: this kernel has no IA32 emulation; i386 calls fail anyway");
    } else {
        for n in ["i386:getpid", "i386:socket", "i386:socketcall"] {
            assert_ok(&results, n);
        }
    }
    assert_ne!(results["x32:getpid"].1, libc::EPERM);
}

const NET_PROBES: &[&str] = &[
    "socket:unix",
    "socket:inet-tcp",
    "socket:inet-tcp-flags",
    "socket:inet6-tcp",
    "socket:inet-udp",
    "socket:inet6-udp",
    "socket:inet-icmp",
    "socket:inet-raw",
    "socket:inet-mptcp",
    "socket:netlink",
    "socket:packet",
    "socketpair:unix",
    "socketpair:inet",
];

#[test]
fn seccomp_blocked_network_allows_only_unix_sockets() {
    let Some(probe) = probe() else { return };
    let r = probe_results(&probe, NET_PROBES, &[&deny_filter(NetworkMode::Block)]);
    for n in ["socket:unix", "socketpair:unix"] {
        assert_ok(&r, n);
    }
    for n in NET_PROBES.iter().filter(|n| !n.ends_with(":unix")) {
        assert_errno(&r, n, libc::EAFNOSUPPORT);
    }
}

#[test]
fn seccomp_port_rules_allow_only_plain_tcp() {
    let Some(probe) = probe() else { return };
    let ports = NetworkMode::Ports {
        connect: [443].into_iter().collect(),
        bind: Default::default(),
    };
    let r = probe_results(&probe, NET_PROBES, &[&deny_filter(ports)]);
    for n in [
        "socket:unix",
        "socketpair:unix",
        "socket:inet-tcp",
        "socket:inet-tcp-flags",
        "socket:inet6-tcp",
    ] {
        assert_ok(&r, n);
    }
    for n in [
        "socket:inet-udp",
        "socket:inet6-udp",
        "socket:inet-icmp",
        "socket:inet-raw",
        "socket:inet-mptcp",
    ] {
        assert_errno(&r, n, libc::EPROTONOSUPPORT);
    }
    for n in ["socket:netlink", "socket:packet", "socketpair:inet"] {
        assert_errno(&r, n, libc::EAFNOSUPPORT);
    }
}

#[test]
fn seccomp_allowed_network_leaves_sockets_alone() {
    let Some(probe) = probe() else { return };
    let names = ["socket:inet-udp", "socket:inet-mptcp", "socket:netlink"];
    let r = probe_results(&probe, &names, &[&deny_filter(NetworkMode::Allow)]);
    for n in names {
        assert_ok(&r, n);
    }
}

const UNIX_DGRAM_PROBES: &[&str] = &[
    "socket:unix-dgram",
    "socket:unix-dgram-flags",
    "socket:unix-raw",
    "socket:unix-dgram-high-bits",
    "socketpair:unix-dgram",
];

const UNIX_STREAM_PROBES: &[&str] = &[
    "socket:unix",
    "socket:unix-stream-flags",
    "socket:unix-seqpacket",
    "socketpair:unix",
    "socketpair:unix-seqpacket",
];

/// A Unix datagram socket can `sendmsg` to any pathname datagram socket (the address is in
/// memory no filter can check), so creating one is refused with EACCES in every network mode
/// (flags, `SOCK_RAW` and high register bits included); stream and seqpacket sockets work.
/// Allowed by the capability set, they are created; unsandboxed (the control) too.
#[test]
fn seccomp_unix_datagram_sockets_are_refused_unless_allowed() {
    let Some(probe) = probe() else { return };
    let names: Vec<&str> = UNIX_DGRAM_PROBES
        .iter()
        .chain(UNIX_STREAM_PROBES)
        .copied()
        .collect();
    let modes = [
        NetworkMode::Allow,
        NetworkMode::Block,
        NetworkMode::Ports {
            connect: [443].into_iter().collect(),
            bind: Default::default(),
        },
    ];
    for network in modes {
        let mut caps = CapabilitySet::new();
        caps.set_network(network.clone());
        let refusing = Filter::for_caps(&caps).expect("build deny filter");
        let r = probe_results(&probe, &names, &[&refusing]);
        for n in UNIX_DGRAM_PROBES {
            assert_errno(&r, n, libc::EACCES);
        }
        for n in UNIX_STREAM_PROBES {
            assert_ok(&r, n);
        }
        caps.allow_unix_datagram(true);
        let allowing = Filter::for_caps(&caps).expect("build deny filter");
        let r = probe_results(&probe, &names, &[&allowing]);
        for n in &names {
            assert_ok(&r, n);
        }
    }
    let control = probe_results(&probe, UNIX_DGRAM_PROBES, &[]);
    for n in UNIX_DGRAM_PROBES {
        assert_ok(&control, n);
    }
}

#[test]
fn seccomp_install_sets_no_new_privs() {
    if probe().is_none() {
        return;
    }
    let mut cat = Command::new("cat");
    cat.arg("/proc/self/status");
    let out = sandboxed(cat, &[&deny_filter(NetworkMode::Block)]);
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(status.lines().any(|l| l == "NoNewPrivs:\t1"), "{status}");
    assert!(status.lines().any(|l| l == "Seccomp:\t2"), "{status}");
}

/// Spawn the probe in `--open` mode under `notify` (after `deny` if given); the child sends
/// its listener back over a socketpair before exec. Returns the child and the listener.
fn spawn_notified_with(
    probe: &Path,
    specs: &[String],
    deny: Option<Filter>,
    notify: Filter,
) -> (std::process::Child, NotifyFd) {
    let (parent_end, child_end) = socketpair(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .unwrap();
    let mut cmd = Command::new(probe);
    cmd.arg("--open")
        .args(specs)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: only async-signal-safe work after fork: prebuilt filter installs and a
    // sendmsg whose buffers all live on the stack.
    unsafe {
        cmd.pre_exec(move || {
            if let Some(deny) = &deny {
                deny.install()?;
            }
            let listener: OwnedFd = notify.install_with_listener()?;
            let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
            let mut control = SendAncillaryBuffer::new(&mut space);
            let fds = [listener.as_fd()];
            control.push(SendAncillaryMessage::ScmRights(&fds));
            sendmsg(
                &child_end,
                &[IoSlice::new(b"L")],
                &mut control,
                SendFlags::empty(),
            )?;
            Ok(())
        });
    }
    let child = cmd.spawn().expect("spawn notified child");
    drop(cmd);
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut byte = [0u8; 1];
    recvmsg(
        &parent_end,
        &mut [std::io::IoSliceMut::new(&mut byte)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )
    .expect("receive the listener");
    let listener = control
        .drain()
        .find_map(|m| match m {
            RecvAncillaryMessage::ScmRights(mut fds) => fds.next(),
            _ => None,
        })
        .expect("an fd came with the message");
    (child, NotifyFd::new(listener))
}

/// The files of a notify test and what the test supervisor does with each.
struct NotifyFiles {
    dir: PathBuf,
    /// `CONTINUE`: the child reads it.
    cont: PathBuf,
    /// Answered `EACCES`.
    denied: PathBuf,
    /// `substitute` injected instead: `ADDFD | SEND` for `openat`, `ADDFD` at fd 100 and a
    /// made-up return value of 100 for the other syscalls.
    injected: PathBuf,
    substitute: PathBuf,
    /// Answered with the value 4242 without running the syscall.
    missing: PathBuf,
}

impl NotifyFiles {
    fn new(name: &str) -> NotifyFiles {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("nono-seccomp-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = NotifyFiles {
            cont: dir.join("continue.txt"),
            denied: dir.join("denied.txt"),
            injected: dir.join("injected.txt"),
            substitute: dir.join("substitute.txt"),
            missing: dir.join("does-not-exist"),
            dir,
        };
        std::fs::write(&f.cont, "continued\n").unwrap();
        std::fs::write(&f.denied, "must not be read\n").unwrap();
        std::fs::write(&f.injected, "original\n").unwrap();
        std::fs::write(&f.substitute, "from the supervisor\n").unwrap();
        f
    }
}

impl Drop for NotifyFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Act as the supervisor until the child exits: answer every trapped open (the loader's
/// too) as [`NotifyFiles`] says, `CONTINUE` for everything else. Returns what was trapped.
fn supervise_opens(listener: &NotifyFd, files: &NotifyFiles) -> Vec<(Syscall, PathBuf)> {
    // Optional kernel feature (6.6); either answer is fine, but the ioctl must not fail.
    listener
        .set_sync_wakeup()
        .expect("SECCOMP_IOCTL_NOTIF_SET_FLAGS");
    let mut seen: Vec<(Syscall, PathBuf)> = Vec::new();
    loop {
        let mut fds = [PollFd::new(listener, PollFlags::IN)];
        let n = poll(&mut fds, None).expect("poll the listener");
        assert!(n > 0);
        let revents = fds[0].revents();
        if revents.contains(PollFlags::IN) {
            let note = match listener.recv() {
                Ok(n) => n,
                Err(nono_sandbox::linux::seccomp::NotifyError::Gone) => continue,
                Err(e) => panic!("{e}"),
            };
            let syscall = note.syscall().expect("only the open family is trapped");
            let path_arg = match syscall {
                Syscall::Open | Syscall::Creat => note.args[0],
                _ => note.args[1],
            };
            let path = procmem::read_cstr(note.pid, path_arg, 4096).expect("read the path");
            if syscall == Syscall::OpenAt2 {
                let how = procmem::read_bytes(note.pid, note.args[2], 24).expect("open_how");
                let flags = u64::from_ne_bytes(how[..8].try_into().unwrap());
                assert_eq!(flags, (libc::O_RDONLY | libc::O_CLOEXEC) as u64);
            }
            // What was read is only meaningful if the syscall is still the same one.
            if !listener.id_valid(note.id) {
                continue;
            }
            let path = PathBuf::from(std::ffi::OsString::from_vec(path.into_bytes()));
            seen.push((syscall, path.clone()));
            if path == files.denied {
                listener.respond_errno(note.id, libc::EACCES).unwrap();
            } else if path == files.injected && syscall == Syscall::OpenAt {
                // Inject and answer in one step.
                let file = std::fs::File::open(&files.substitute).unwrap();
                let opts = AddFdOptions {
                    send: true,
                    cloexec: true,
                    target: None,
                };
                let fd = listener.add_fd(note.id, file.as_fd(), opts).unwrap();
                assert!(fd >= 0);
            } else if path == files.injected {
                // Inject at a chosen number, then answer with it.
                let file = std::fs::File::open(&files.substitute).unwrap();
                let opts = AddFdOptions {
                    send: false,
                    cloexec: true,
                    target: Some(100),
                };
                assert_eq!(listener.add_fd(note.id, file.as_fd(), opts).unwrap(), 100);
                listener.respond_value(note.id, 100).unwrap();
            } else if path == files.missing {
                // A made-up result: the syscall never runs.
                listener.respond_value(note.id, 4242).unwrap();
            } else {
                listener.respond_continue(note.id).unwrap();
            }
            assert!(
                !listener.id_valid(note.id),
                "answered notifications are gone"
            );
        } else if revents.intersects(PollFlags::HUP | PollFlags::ERR) {
            break; // no task uses the filter any more: the child exited
        }
    }
    seen
}

/// The probe's line for `spec` (`"KIND:PATH fd=F errno=E data=..."`).
fn open_line(stdout: &str, spec: &str) -> String {
    stdout
        .lines()
        .find(|l| l.starts_with(&format!("{spec} ")))
        .unwrap_or_else(|| panic!("no line for {spec}:\n{stdout}"))
        .to_owned()
}

/// The probe's `--open` argument: `KIND:PATH`.
fn open_spec(kind: &str, path: &Path) -> String {
    format!("{kind}:{}", path.display())
}

/// How the line of an open that read [`NotifyFiles::cont`] ends.
const CONTINUED: &str = "errno=0 data=continued";
/// How the line of an open answered with [`NotifyFiles::substitute`] ends.
const SUBSTITUTED: &str = "errno=0 data=from the supervisor";
/// How the line ends when the substitute was injected at fd 100 and answered with 100.
const SUBSTITUTED_AT_100: &str = "fd=100 errno=0 data=from the supervisor";

/// How the line of an open that failed with `errno` ends (nothing read).
fn failed_with(errno: i32) -> String {
    format!("fd=-1 errno={errno} data=")
}

/// Runs the probe's `--open` mode on each `(spec, line ending)` under the notify filter
/// (after the deny filter if `with_deny`), with [`supervise_opens`] answering; fails unless
/// the probe exited 0 and every spec's line ends as expected. Returns what was trapped.
#[track_caller]
fn assert_supervised_opens(
    probe: &Path,
    files: &NotifyFiles,
    with_deny: bool,
    expected: &[(String, String)],
) -> Vec<(Syscall, PathBuf)> {
    let deny = with_deny.then(|| deny_filter(NetworkMode::Block));
    let notify = Filter::notify(&NotifySet::open_family()).unwrap();
    assert_supervised_opens_with(probe, files, (deny, notify), expected)
}

/// [`assert_supervised_opens`] with the programs given (see [`spawn_notified_with`]).
#[track_caller]
fn assert_supervised_opens_with(
    probe: &Path,
    files: &NotifyFiles,
    (deny, notify): (Option<Filter>, Filter),
    expected: &[(String, String)],
) -> Vec<(Syscall, PathBuf)> {
    let specs: Vec<String> = expected.iter().map(|(spec, _)| spec.clone()).collect();
    let (child, listener) = spawn_notified_with(probe, &specs, deny, notify);
    let seen = supervise_opens(&listener, files);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    for (spec, ending) in expected {
        let line = open_line(&stdout, spec);
        assert!(
            line.ends_with(ending.as_str()),
            "{spec}: expected ...{ending}\n{stdout}"
        );
    }
    seen
}

/// Fails unless each `(syscall, path)` is among the opens the supervisor saw.
#[track_caller]
fn assert_trapped(seen: &[(Syscall, PathBuf)], expected: &[(Syscall, &PathBuf)]) {
    for (syscall, path) in expected {
        assert!(
            seen.iter().any(|(s, p)| s == syscall && p == *path),
            "{syscall} {} was not trapped; saw {seen:?}",
            path.display()
        );
    }
}

/// Deny + notify filters, as `PreparedSandbox` installs them: the supervisor sees and
/// answers `open` and `openat` (continue, refuse, inject, made-up value); `openat2` fails
/// with the deny filter's `ENOSYS` and never reaches it (`ERRNO` beats `USER_NOTIF`).
#[test]
fn seccomp_supervisor_answers_trapped_opens() {
    let Some(probe) = probe() else { return };
    let files = NotifyFiles::new("notify");
    let seen = assert_supervised_opens(
        &probe,
        &files,
        true,
        &[
            (open_spec("openat", &files.cont), CONTINUED.into()),
            (
                open_spec("openat", &files.denied),
                failed_with(libc::EACCES),
            ),
            (open_spec("openat", &files.injected), SUBSTITUTED.into()),
            (open_spec("open", &files.denied), failed_with(libc::EACCES)),
            (
                open_spec("open", &files.injected),
                SUBSTITUTED_AT_100.into(),
            ),
            (
                open_spec("openat", &files.missing),
                "fd=4242 errno=0 data=".into(),
            ),
            (open_spec("openat2", &files.cont), failed_with(libc::ENOSYS)),
        ],
    );
    assert_trapped(
        &seen,
        &[
            (Syscall::OpenAt, &files.cont),
            (Syscall::OpenAt, &files.denied),
            (Syscall::OpenAt, &files.injected),
            (Syscall::Open, &files.denied),
            (Syscall::Open, &files.injected),
            (Syscall::OpenAt, &files.missing),
        ],
    );
    assert!(
        !seen.iter().any(|(s, _)| *s == Syscall::OpenAt2),
        "openat2 reached the supervisor past the deny filter: {seen:?}"
    );
}

/// The deny-list and the notify filter merged into one program, installed once with the
/// listener (as `PreparedSandbox` does under a supervisor): the same answers as the two
/// programs above: `open`/`openat` reach the supervisor, `openat2` fails with `ENOSYS`
/// without reaching it.
#[test]
fn seccomp_merged_program_answers_like_the_two() {
    let Some(probe) = probe() else { return };
    let files = NotifyFiles::new("notify-merged");
    let mut caps = CapabilitySet::new();
    caps.set_network(NetworkMode::Block);
    let merged = Filter::for_caps_with_notify(&caps, &NotifySet::open_family()).unwrap();
    let seen = assert_supervised_opens_with(
        &probe,
        &files,
        (None, merged),
        &[
            (open_spec("openat", &files.cont), CONTINUED.into()),
            (
                open_spec("openat", &files.denied),
                failed_with(libc::EACCES),
            ),
            (open_spec("openat", &files.injected), SUBSTITUTED.into()),
            (open_spec("open", &files.denied), failed_with(libc::EACCES)),
            (
                open_spec("open", &files.injected),
                SUBSTITUTED_AT_100.into(),
            ),
            (
                open_spec("openat", &files.missing),
                "fd=4242 errno=0 data=".into(),
            ),
            (open_spec("openat2", &files.cont), failed_with(libc::ENOSYS)),
        ],
    );
    assert_trapped(
        &seen,
        &[
            (Syscall::OpenAt, &files.cont),
            (Syscall::OpenAt, &files.denied),
            (Syscall::OpenAt, &files.injected),
            (Syscall::Open, &files.denied),
            (Syscall::Open, &files.injected),
            (Syscall::OpenAt, &files.missing),
        ],
    );
    assert!(
        !seen.iter().any(|(s, _)| *s == Syscall::OpenAt2),
        "openat2 reached the supervisor past the merged program's deny rows: {seen:?}"
    );
}

/// The notify filter alone (a library user without the deny-list) still traps `openat2`:
/// the supervisor reads `struct open_how` and answers it like any other open.
#[test]
fn seccomp_notify_filter_alone_traps_openat2() {
    let Some(probe) = probe() else { return };
    let files = NotifyFiles::new("notify-openat2");
    let seen = assert_supervised_opens(
        &probe,
        &files,
        false,
        &[
            (open_spec("openat2", &files.cont), CONTINUED.into()),
            (
                open_spec("openat2", &files.denied),
                failed_with(libc::EACCES),
            ),
            (
                open_spec("openat2", &files.injected),
                SUBSTITUTED_AT_100.into(),
            ),
            (open_spec("openat", &files.injected), SUBSTITUTED.into()),
        ],
    );
    assert_trapped(
        &seen,
        &[
            (Syscall::OpenAt2, &files.cont),
            (Syscall::OpenAt2, &files.denied),
            (Syscall::OpenAt2, &files.injected),
            (Syscall::OpenAt, &files.injected),
        ],
    );
}

/// `Seccomp_filters` of a process confined by a sandbox prepared with `opts`, read by the
/// process itself.
fn seccomp_filters_of_confined(opts: &nono_sandbox::SandboxOptions) -> String {
    let mut caps = crate::harness::base_caps();
    caps.allow_dir("/proc", nono_sandbox::AccessMode::Read, "test")
        .unwrap();
    let prepared = nono_sandbox::PreparedSandbox::prepare(&caps, opts).unwrap();
    let mut cmd = Command::new("cat");
    cmd.arg("/proc/self/status").stdin(Stdio::null());
    nono_sandbox::CommandExt::sandboxed_with(&mut cmd, prepared);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Seccomp_filters:"))
        .map(|v| v.trim().to_owned())
        .unwrap_or_default()
}

/// A supervised sandbox installs one seccomp program (the deny-list and the notify filter
/// merged), not two: every syscall runs one program. (`connect` trapped, not the open
/// family: the child here has no supervisor answering.)
#[test]
fn a_supervised_sandbox_installs_one_program() {
    if !crate::harness::landlock_abi_at_least(1) {
        return;
    }
    let plain = seccomp_filters_of_confined(&nono_sandbox::SandboxOptions::new());
    let supervised = seccomp_filters_of_confined(
        &nono_sandbox::SandboxOptions::new().with_notify(NotifySet::new().with(Syscall::Connect)),
    );
    assert_eq!(plain, "1");
    assert_eq!(supervised, "1");
}

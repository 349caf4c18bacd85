//! Hardening beyond Landlock's path rules, observed in real sandboxed processes run as root:
//! capabilities dropped, no device nodes in write grants.

use nono_sandbox::{AccessMode, CapabilitySet, PreparedSandbox, Protection, SandboxOptions};

use crate::harness::{self, base_caps, run, TempTree};

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// `name -> hex value` of the `Cap*:` lines of `/proc/self/status`, as the sandboxed
/// `grep` sees its own.
fn cap_lines(caps: &CapabilitySet) -> Vec<(String, u64)> {
    let out = run(caps, &["grep", "^Cap", "/proc/self/status"]);
    out.assert_ok();
    out.stdout()
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(':').expect(l);
            (k.to_owned(), u64::from_str_radix(v.trim(), 16).expect(l))
        })
        .collect()
}

#[test]
fn capabilities_are_dropped_in_the_child() {
    if !harness::landlock_abi_at_least(1) {
        return;
    }
    let mut caps = base_caps();
    caps.allow_dir("/proc", AccessMode::Read, "test").unwrap();
    let lines = cap_lines(&caps);
    let names: Vec<&str> = lines.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]);
    for (name, value) in &lines {
        // Without CAP_SETPCAP (not root) the bounding set cannot be emptied; exec cannot
        // use it anyway (no_new_privs, empty permitted set).
        if name == "CapBnd" && !is_root() {
            continue;
        }
        assert_eq!(*value, 0, "{name} in {lines:?}");
    }

    let st = PreparedSandbox::prepare(&caps, &SandboxOptions::default()).unwrap();
    assert!(
        st.status().enforces(Protection::CapabilitiesDropped),
        "{}",
        st.status()
    );

    // Control: kept on request (as root, the full set).
    caps.set_keep_capabilities(true);
    let kept = cap_lines(&caps);
    if is_root() {
        let eff = kept.iter().find(|(k, _)| k == "CapEff").unwrap().1;
        assert_ne!(eff, 0, "{kept:?}");
    }
    let st = PreparedSandbox::prepare(&caps, &SandboxOptions::default()).unwrap();
    assert!(!st.status().enforces(Protection::CapabilitiesDropped));
    assert!(st.status().to_string().contains("capabilities are kept"));
}

/// As root, dropped capabilities are the kernel's own checks failing: no device node (even
/// outside Landlock's view), no raw socket, no host clock change.
#[test]
fn root_loses_what_capabilities_gave() {
    if !harness::landlock_abi_at_least(1) || !is_root() {
        return;
    }
    let t = TempTree::new("caps-root");
    let mut caps = base_caps();
    caps.allow_dir(t.path(), AccessMode::ReadWrite, "test")
        .unwrap();
    let py = |caps: &CapabilitySet, code: &str| run(caps, &["/usr/bin/python3", "-c", code]);
    // A raw ICMP socket needs CAP_NET_RAW (the network is allowed: no seccomp family filter).
    let raw = "import socket\ntry:\n    socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)\n    print('ok')\nexcept OSError as e:\n    print(e.errno)";
    let out = py(&caps, raw);
    out.assert_ok();
    assert_eq!(out.stdout().trim(), "1", "EPERM expected: {}", out.stderr());
    let mut kept = caps.clone();
    kept.set_keep_capabilities(true);
    let out = py(&kept, raw);
    out.assert_ok();
    assert_eq!(out.stdout().trim(), "ok", "control: {}", out.stderr());
}

/// Write grants never carry MAKE_CHAR/MAKE_BLOCK: a device node is refused by Landlock even
/// when root keeps CAP_MKNOD; FIFOs and sockets still work.
#[test]
fn device_nodes_are_refused_in_write_grants() {
    if !harness::landlock_abi_at_least(1) {
        return;
    }
    let t = TempTree::new("mknod");
    let mut caps = base_caps();
    caps.allow_dir(t.path(), AccessMode::ReadWrite, "test")
        .unwrap()
        .set_keep_capabilities(true);
    let node = t.join("null");
    let node_s = node.to_str().unwrap();
    run(&caps, &["mknod", node_s, "c", "1", "3"]).assert_denied();
    assert!(!node.exists());
    let blk = t.join("loop");
    run(&caps, &["mknod", blk.to_str().unwrap(), "b", "7", "0"]).assert_denied();
    assert!(!blk.exists());
    let fifo = t.join("fifo");
    run(&caps, &["mkfifo", fifo.to_str().unwrap()]).assert_ok();
    assert!(fifo.exists());
    run(
        &caps,
        &[
            "/usr/bin/python3",
            "-c",
            &format!(
                "import socket; socket.socket(socket.AF_UNIX).bind('{}')",
                t.join("sock").display()
            ),
        ],
    )
    .assert_ok();
    // Control: unsandboxed root makes the node.
    if is_root() {
        let ok = std::process::Command::new("mknod")
            .args([node_s, "c", "1", "3"])
            .status()
            .unwrap();
        assert!(ok.success());
    }
}

/// A Python program that makes each attempt and prints `name=ok` or `name=<errno>`.
fn attempts(caps: &CapabilitySet, body: &str) -> std::collections::BTreeMap<String, String> {
    let code = format!(
        "import ctypes, os, resource, stat, sys\n\
         libc = ctypes.CDLL(None, use_errno=True)\n\
         def t(name, f):\n\
         \x20   try:\n\
         \x20       r = f()\n\
         \x20       if isinstance(r, int) and r < 0:\n\
         \x20           raise OSError(ctypes.get_errno(), 'raw')\n\
         \x20       print(name + '=ok')\n\
         \x20   except OSError as e:\n\
         \x20       print(name + '=' + str(e.errno))\n\
         {body}"
    );
    let out = run(caps, &["/usr/bin/python3", "-c", &code]);
    out.assert_ok();
    out.stdout()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Set-user-ID and set-group-ID files cannot be planted in a write grant (they would run as
/// their owner, root, for anyone later): chmod/fchmod/fchmodat(2), creating with such a mode
/// through open/openat/creat (incl. O_TMPFILE) and mknod are refused, openat2 (mode out of
/// seccomp's reach) fails with ENOSYS; ordinary modes work.
#[test]
fn set_id_files_cannot_be_planted() {
    use std::os::unix::fs::PermissionsExt;
    if !harness::landlock_abi_at_least(1) {
        return;
    }
    let t = TempTree::new("setid");
    let f = t.file("f", "x");
    let mut caps = base_caps();
    caps.allow_dir(t.path(), AccessMode::ReadWrite, "test")
        .unwrap();
    let dir = t.path().display().to_string();
    let body = format!(
        "d = '{dir}'\n\
         t('chmod_suid', lambda: os.chmod(d + '/f', 0o4755))\n\
         t('chmod_sgid', lambda: os.chmod(d + '/f', 0o2755))\n\
         t('chmod_plain', lambda: os.chmod(d + '/f', 0o755))\n\
         fd = os.open(d + '/f', os.O_RDONLY)\n\
         t('fchmod_suid', lambda: os.fchmod(fd, 0o4755))\n\
         t('fchmodat2_suid', lambda: libc.syscall(452, -100, (d + '/f').encode(), 0o4755, 0))\n\
         t('open_suid', lambda: os.open(d + '/c1', os.O_WRONLY | os.O_CREAT, 0o4755))\n\
         t('open_sgid', lambda: os.open(d + '/c2', os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o6755))\n\
         t('tmpfile_suid', lambda: os.open(d, os.O_WRONLY | os.O_TMPFILE, 0o4755))\n\
         t('open_plain', lambda: os.open(d + '/c3', os.O_WRONLY | os.O_CREAT, 0o755))\n\
         t('mknod_suid', lambda: os.mknod(d + '/c4', stat.S_IFREG | 0o4755))\n\
         t('creat_suid', lambda: libc.syscall(85, (d + '/c5').encode(), 0o4755) if os.uname().machine == 'x86_64' else os.open(d + '/c5', os.O_WRONLY | os.O_CREAT, 0o4755))\n\
         how = (ctypes.c_uint64 * 3)(os.O_WRONLY | os.O_CREAT, 0o4755, 0)\n\
         t('openat2_suid', lambda: libc.syscall(437, -100, (d + '/c6').encode(), how, 24))\n"
    );
    let r = attempts(&caps, &body);
    let eperm = "1";
    for k in [
        "chmod_suid",
        "chmod_sgid",
        "fchmod_suid",
        "fchmodat2_suid",
        "open_suid",
        "open_sgid",
        "tmpfile_suid",
        "mknod_suid",
        "creat_suid",
    ] {
        assert_eq!(r.get(k).map(String::as_str), Some(eperm), "{k}: {r:?}");
    }
    // openat2's mode is in memory: every openat2 fails as on kernels before 5.6.
    assert_eq!(
        r.get("openat2_suid").map(String::as_str),
        Some(libc::ENOSYS.to_string().as_str()),
        "{r:?}"
    );
    for k in ["chmod_plain", "open_plain"] {
        assert_eq!(r.get(k).map(String::as_str), Some("ok"), "{k}: {r:?}");
    }
    assert_eq!(
        std::fs::metadata(&f).unwrap().permissions().mode() & 0o7777,
        0o755
    );
    for c in ["c1", "c2", "c4", "c5", "c6"] {
        assert!(!t.join(c).exists(), "{c} was created");
    }
}

/// Another process's limits and priority cannot be changed by pid (RLIMIT_CPU would kill
/// it); the process's own work as before (pid 0, nice()).
#[test]
fn other_processes_limits_and_priority_are_refused() {
    if !harness::landlock_abi_at_least(1) {
        return;
    }
    let mut victim = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let pid = victim.id();
    let body = format!(
        "p = {pid}\n\
         t('prlimit_other', lambda: resource.prlimit(p, resource.RLIMIT_NOFILE, (64, 64)))\n\
         t('prlimit_read_other', lambda: resource.prlimit(p, resource.RLIMIT_NOFILE))\n\
         t('setrlimit_self', lambda: resource.setrlimit(resource.RLIMIT_NOFILE, resource.getrlimit(resource.RLIMIT_NOFILE)))\n\
         t('prlimit_self_pid0', lambda: resource.prlimit(0, resource.RLIMIT_CORE, (0, 0)))\n\
         t('setpriority_other', lambda: os.setpriority(os.PRIO_PROCESS, p, 19))\n\
         t('setpriority_user', lambda: os.setpriority(os.PRIO_USER, 0, 19))\n\
         t('setpriority_self', lambda: os.setpriority(os.PRIO_PROCESS, 0, 1))\n\
         t('nice', lambda: os.nice(1))\n"
    );
    let r = attempts(&base_caps(), &body);
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let _ = victim.kill();
    let _ = victim.wait();
    for (k, want) in [
        ("prlimit_other", "1"),
        ("setpriority_other", "1"),
        ("setpriority_user", "1"),
        ("prlimit_read_other", "ok"),
        ("setrlimit_self", "ok"),
        ("prlimit_self_pid0", "ok"),
        ("setpriority_self", "ok"),
        ("nice", "ok"),
    ] {
        assert_eq!(r.get(k).map(String::as_str), Some(want), "{k}: {r:?}");
    }
    let nofile = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    assert_ne!(nofile.split_whitespace().nth(3), Some("64"), "{nofile}");
}

/// `cloexec_inherited_fds` (what `nono wrap` calls before `exec`): a descriptor inherited
/// without `FD_CLOEXEC` is closed by the next `exec`; stdin..stderr stay. Runs in a
/// re-executed child, which then execs a shell that looks for the descriptor.
#[test]
fn inherited_fds_are_marked_close_on_exec() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    const NAME: &str = "hardening::inherited_fds_are_marked_close_on_exec";
    if harness::child_vars(NAME).is_some() {
        let file = std::fs::File::open("/proc/self/status").unwrap();
        let fd = rustix::io::fcntl_dupfd_cloexec(&file, 100).unwrap();
        rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::empty()).unwrap();
        nono_sandbox::linux::cloexec_inherited_fds().unwrap();
        let flags = rustix::io::fcntl_getfd(&fd).unwrap();
        assert!(flags.contains(rustix::io::FdFlags::CLOEXEC));
        let stderr = rustix::io::fcntl_getfd(std::io::stderr()).unwrap();
        assert!(!stderr.contains(rustix::io::FdFlags::CLOEXEC));
        // After exec the descriptor is gone (without the call, sh would see it: LEAKED).
        let err = std::process::Command::new("sh")
            .args([
                "-c",
                &format!(
                    "if test -e /proc/self/fd/{}; then echo LEAKED; else echo CLOSED; fi",
                    fd.as_raw_fd()
                ),
            ])
            .exec();
        panic!("exec: {err}");
    }
    let out = harness::reexec_command(NAME, &[]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.trim_end().ends_with("CLOSED"), "{stdout}");
}

/// A System V segment (key `key`) and a POSIX message queue (`mq`) made outside the
/// sandbox by an unsandboxed python3 (ctypes), removed on drop.
struct OutsideIpc {
    key: i32,
    mq: String,
}

impl OutsideIpc {
    fn py(code: &str) {
        let out = std::process::Command::new("/usr/bin/python3")
            .args(["-c", &format!("import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nlibc.mq_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p]\n{code}")])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn new(key: i32, mq: &str) -> OutsideIpc {
        OutsideIpc::py(&format!(
            "assert libc.shmget({key}, 4096, 0o3600) >= 0, ctypes.get_errno()\n\
             assert libc.mq_open(b'{mq}', os.O_CREAT | os.O_RDWR, 0o600, None) >= 0, ctypes.get_errno()"
        ));
        OutsideIpc {
            key,
            mq: mq.to_owned(),
        }
    }
}

impl Drop for OutsideIpc {
    fn drop(&mut self) {
        OutsideIpc::py(&format!(
            "libc.shmctl(libc.shmget({}, 0, 0), 0, None)\nlibc.mq_unlink(b'{}')",
            self.key, self.mq
        ));
    }
}

/// System V IPC of other programs is out of reach: as root the sandbox gets its own IPC
/// namespace (its own segments work, the outside one and an outside POSIX message queue are
/// not found); with `SysvIpc::Deny` (or without CAP_SYS_ADMIN) the SysV calls fail with
/// ENOSYS; `SysvIpc::Host` (the control) reaches the outside segment.
#[test]
fn sysv_ipc_of_other_programs_is_out_of_reach() {
    use nono_sandbox::SysvIpc;
    if !harness::landlock_abi_at_least(1) {
        return;
    }
    let key = 0x6e6f_4000 + i32::try_from(std::process::id() % 0x3fff).unwrap();
    let mq = format!("/nono-hardening-{}", std::process::id());
    let _outside = OutsideIpc::new(key, &mq);
    let body = format!(
        "libc.shmat.restype = ctypes.c_void_p\n\
         libc.mq_open.argtypes = [ctypes.c_char_p, ctypes.c_int]\n\
         t('outside_shm', lambda: libc.shmget({key}, 0, 0))\n\
         t('own_shm', lambda: libc.shmget(0, 4096, 0o1600))\n\
         t('outside_mq', lambda: libc.mq_open(b'{mq}', os.O_RDONLY))\n\
         def own():\n\
         \x20   i = libc.shmget(0, 4096, 0o1600)\n\
         \x20   if i < 0: return i\n\
         \x20   p = libc.shmat(i, None, 0)\n\
         \x20   ctypes.memmove(p, b'mine', 4)\n\
         \x20   return 0 if ctypes.string_at(p, 4) == b'mine' else -1\n\
         t('own_rw', own)\n"
    );
    let enosys = libc::ENOSYS.to_string();
    let enoent = libc::ENOENT.to_string();
    let status = |caps: &CapabilitySet| {
        PreparedSandbox::prepare(caps, &SandboxOptions::default())
            .unwrap()
            .status()
            .clone()
    };

    let mut caps = base_caps();
    let st = status(&caps);
    assert!(st.enforces(Protection::SysvIpc), "{st}");
    let r = attempts(&caps, &body);
    if is_root() {
        assert!(st.to_string().contains("own IPC namespace"), "{st}");
        assert_eq!(r["outside_shm"], enoent, "{r:?}");
        assert_eq!(r["outside_mq"], enoent, "{r:?}");
        assert_eq!(r["own_shm"], "ok", "{r:?}");
        assert_eq!(r["own_rw"], "ok", "{r:?}");
    } else {
        assert_eq!(r["outside_shm"], enosys, "{r:?}");
    }

    caps.set_sysv_ipc(SysvIpc::Deny);
    assert!(status(&caps).enforces(Protection::SysvIpc));
    let r = attempts(&caps, &body);
    assert_eq!(r["outside_shm"], enosys, "{r:?}");
    assert_eq!(r["own_shm"], enosys, "{r:?}");

    caps.set_sysv_ipc(SysvIpc::Host);
    assert!(!status(&caps).enforces(Protection::SysvIpc));
    let r = attempts(&caps, &body);
    assert_eq!(r["outside_shm"], "ok", "control: {r:?}");
}

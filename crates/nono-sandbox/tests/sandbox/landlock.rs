//! Landlock backend tests: every denial observed in a fresh sandboxed process, as root (so a refusal is the kernel's, not file permissions).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};

use nono_sandbox::linux::seccomp::NotifySet;
use nono_sandbox::{
    AccessMode, CapabilitySet, CommandExt, Compat, NetworkMode, PreparedSandbox, Protection,
    Sandbox, SandboxOptions, Scopes,
};

use crate::harness::{self, base_caps, run, Outcome, TempTree};

const PY: &str = "/usr/bin/python3";

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Runs the Python snippet `script` (`python3 -I -c`) confined by `caps`.
fn python(caps: &CapabilitySet, script: &str) -> Outcome {
    run(caps, &[PY, "-I", "-c", script])
}

/// Fails unless a snippet that prints `errno E` and exits 3 when its call fails (as
/// [`py_connect`] does) exited 3 after printing exactly `errno <errno>`.
#[track_caller]
fn assert_refused_with(r: &Outcome, errno: i32, why: &str) {
    assert_eq!(r.output.status.code(), Some(3), "{why}: {r:?}");
    let line = format!("errno {errno}");
    assert!(
        r.stdout().lines().any(|l| l == line),
        "{why}: expected {line}: {r:?}"
    );
}

/// `/proc/self/status` as a sandboxed `cat` sees its own (base caps and read on `/proc`).
fn sandboxed_self_status() -> String {
    let mut caps = base_caps();
    caps.allow_dir("/proc", AccessMode::Read, "test").unwrap();
    let r = run(&caps, &["cat", "/proc/self/status"]);
    r.assert_ok();
    r.stdout()
}

/// A tree with `in/` (granted in most tests) and `out/` (never granted).
fn in_out(tag: &str) -> TempTree {
    let t = TempTree::new(tag);
    t.file("in/a", "inside\n");
    t.file("out/b", "outside\n");
    t
}

#[test]
fn reads_outside_grants_are_refused() {
    if !harness::landlock_abi_at_least(1) {
        return;
    }
    let t = in_out("read");
    let mut caps = base_caps();
    caps.allow_dir(t.join("in"), AccessMode::Read, "test")
        .unwrap();
    let ok = run(&caps, &["cat", s(&t.join("in/a"))]);
    ok.assert_ok();
    assert_eq!(ok.stdout(), "inside\n");
    run(&caps, &["cat", s(&t.join("out/b"))]).assert_denied();
    run(&caps, &["cat", "/etc/passwd"]).assert_denied();
    run(&caps, &["ls", s(&t.join("out"))]).assert_denied();
}

#[test]
fn writes_outside_grants_are_refused() {
    if !harness::landlock_abi_at_least(3) {
        return;
    }
    let t = in_out("write");
    t.dir("ro");
    t.file("ro/f", "keep\n");
    let mut caps = base_caps();
    caps.allow_dir(t.join("in"), AccessMode::ReadWrite, "test")
        .unwrap();
    caps.allow_dir(t.join("ro"), AccessMode::Read, "test")
        .unwrap();
    let sh = |cmd: &str| run(&caps, &["/usr/bin/sh", "-c", cmd]);
    sh(&format!("echo new > {}", s(&t.join("in/new")))).assert_ok();
    assert_eq!(std::fs::read_to_string(t.join("in/new")).unwrap(), "new\n");
    sh(&format!("echo x > {}", s(&t.join("out/new")))).assert_denied();
    assert!(!t.join("out/new").exists());
    // Read-only grant: no write, no truncate, no create, no delete.
    sh(&format!("echo x > {}", s(&t.join("ro/f")))).assert_denied();
    sh(&format!("echo x > {}", s(&t.join("ro/g")))).assert_denied();
    run(&caps, &["rm", "-f", s(&t.join("ro/f"))]).assert_denied();
    run(&caps, &["truncate", "-s", "0", s(&t.join("ro/f"))]).assert_denied();
    assert_eq!(std::fs::read_to_string(t.join("ro/f")).unwrap(), "keep\n");
}

/// `IOCTL_DEV` comes with `Write`: a read-only grant on a device lets a program open and read
/// it, not send it ioctls (`TCGETS` on `/dev/zero`: `EACCES` read-only, `ENOTTY` with write).
#[test]
fn device_ioctl_needs_a_write_grant() {
    if !harness::landlock_abi_at_least(5) {
        return;
    }
    let py = "import fcntl,termios,os\nfd=os.open('/dev/zero', os.O_RDONLY)\ntry:\n    fcntl.ioctl(fd, termios.TCGETS, bytes(64))\nexcept OSError as e:\n    print('errno', e.errno)\n";
    let mut ro = base_caps();
    ro.allow_file("/dev/zero", AccessMode::Read, "test")
        .unwrap();
    let r = python(&ro, py);
    r.assert_ok();
    assert_eq!(r.stdout(), "errno 13\n", "{r:?}");
    let mut rw = base_caps();
    rw.allow_file("/dev/zero", AccessMode::ReadWrite, "test")
        .unwrap();
    let r = python(&rw, py);
    r.assert_ok();
    assert_eq!(r.stdout(), "errno 25\n", "{r:?}");
}

#[test]
fn symlink_out_of_a_grant_is_refused() {
    if !harness::landlock_abi_at_least(1) {
        return;
    }
    let t = in_out("symlink");
    std::os::unix::fs::symlink(t.join("out/b"), t.join("in/link")).unwrap();
    std::os::unix::fs::symlink(t.join("out"), t.join("in/dirlink")).unwrap();
    let mut caps = base_caps();
    caps.allow_dir(t.join("in"), AccessMode::ReadWrite, "test")
        .unwrap();
    run(&caps, &["cat", s(&t.join("in/link"))]).assert_denied();
    run(&caps, &["cat", s(&t.join("in/dirlink/b"))]).assert_denied();
    run(
        &caps,
        &[
            "/usr/bin/sh",
            "-c",
            &format!("echo x > {}", s(&t.join("in/dirlink/new"))),
        ],
    )
    .assert_denied();
    // Creating a symlink that points outside is allowed (it is just a name), following it is not.
    run(
        &caps,
        &["ln", "-s", "/etc/passwd", s(&t.join("in/new-link"))],
    )
    .assert_ok();
    run(&caps, &["cat", s(&t.join("in/new-link"))]).assert_denied();
}

/// Landlock checks the *path* used to reach an inode. So:
/// - `link()` of an outside file into a granted directory is refused (the source is not
///   beneath a rule with `REFER`; Landlock returns `EXDEV`, which `ln` reports as
///   "Invalid cross-device link", or `EACCES`);
/// - a hard link that already exists inside a grant is readable through that path, even if
///   the other name is outside every grant or denied (a documented limit of carve-outs).
#[test]
fn hard_links() {
    if !harness::landlock_abi_at_least(2) {
        return;
    }
    let t = in_out("hardlink");
    std::fs::hard_link(t.join("out/b"), t.join("in/existing")).unwrap();
    let mut caps = base_caps();
    caps.allow_dir(t.join("in"), AccessMode::ReadWrite, "test")
        .unwrap();
    let ln = run(
        &caps,
        &["ln", s(&t.join("out/b")), s(&t.join("in/new-link"))],
    );
    assert!(
        !ln.success()
            && (ln.stderr().contains("cross-device") || ln.stderr().contains("Permission denied")),
        "link() of an outside file must be refused: {ln:?}"
    );
    assert!(!t.join("in/new-link").exists());
    let read = run(&caps, &["cat", s(&t.join("in/existing"))]);
    read.assert_ok();
    assert_eq!(read.stdout(), "outside\n");
    run(&caps, &["cat", s(&t.join("out/b"))]).assert_denied();
}

#[test]
fn rename_out_of_a_grant_is_refused() {
    if !harness::landlock_abi_at_least(2) {
        return;
    }
    let t = in_out("rename");
    let mut caps = base_caps();
    caps.allow_dir(t.join("in"), AccessMode::ReadWrite, "test")
        .unwrap();
    caps.allow_dir(t.join("out"), AccessMode::Read, "test")
        .unwrap();
    let py = format!(
        "import os\ntry:\n    os.rename({:?}, {:?})\nexcept OSError as e:\n    print(e.errno)\n    raise SystemExit(3)\n",
        s(&t.join("in/a")),
        s(&t.join("out/a"))
    );
    let r = python(&caps, &py);
    assert_eq!(r.output.status.code(), Some(3), "{r:?}");
    // EXDEV (18): Landlock refuses the reparenting (no REFER on out/); EACCES (13) also fine.
    assert!(["18\n", "13\n"].contains(&r.stdout().as_str()), "{r:?}");
    // mv falls back to copy + unlink, which fails too.
    run(&caps, &["mv", s(&t.join("in/a")), s(&t.join("out/a"))]).assert_denied();
    assert!(t.join("in/a").exists() && !t.join("out/a").exists());
    // Within the grant, a rename works.
    run(&caps, &["mv", s(&t.join("in/a")), s(&t.join("in/a2"))]).assert_ok();
}

#[test]
fn proc_self_root_escape_is_refused() {
    if !harness::landlock_abi_at_least(1) {
        return;
    }
    let t = in_out("procroot");
    let mut caps = base_caps();
    caps.allow_dir(t.join("in"), AccessMode::Read, "test")
        .unwrap();
    caps.allow_dir("/proc", AccessMode::Read, "test").unwrap();
    let via_root = format!("/proc/self/root{}", s(&t.join("out/b")));
    run(&caps, &["cat", &via_root]).assert_denied();
    let via_cwd = format!("/proc/self/root{}", s(&t.join("in/a")));
    run(&caps, &["cat", &via_cwd]).assert_ok();
}

fn py_connect(port: u16) -> String {
    format!(
        "import socket,sys\ntry:\n    s=socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n    s.connect(('127.0.0.1', {port}))\nexcept OSError as e:\n    print('errno', e.errno)\n    sys.exit(3)\nprint('connected')\n"
    )
}

#[test]
fn tcp_connect_blocked_and_allowed_ports() {
    if !harness::landlock_abi_at_least(4) {
        return;
    }
    let allowed = TcpListener::bind("127.0.0.1:0").unwrap();
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let p_allowed = allowed.local_addr().unwrap().port();
    let p_other = other.local_addr().unwrap().port();

    // Blocked: seccomp already refuses the AF_INET socket (EAFNOSUPPORT, 97); Landlock
    // would refuse the connect.
    let mut caps = base_caps();
    caps.block_network();
    let r = python(&caps, &py_connect(p_allowed));
    assert_refused_with(&r, libc::EAFNOSUPPORT, "blocked network");

    // Port mode with no port: TCP sockets pass seccomp, and Landlock refuses the connect.
    let mut caps = base_caps();
    caps.set_network(NetworkMode::Ports {
        connect: Default::default(),
        bind: Default::default(),
    });
    let r = python(&caps, &py_connect(p_allowed));
    assert_refused_with(&r, libc::EACCES, "no port allowed: EACCES from Landlock");

    let mut caps = base_caps();
    caps.allow_connect_port(p_allowed);
    let r = python(&caps, &py_connect(p_allowed));
    r.assert_ok();
    assert!(r.stdout().contains("connected"), "{r:?}");
    let r = python(&caps, &py_connect(p_other));
    assert_refused_with(&r, libc::EACCES, "unlisted port");

    // Unconfined, both work (the listeners are real).
    let r = Command::new(PY)
        .args(["-I", "-c", &py_connect(p_other)])
        .output()
        .unwrap();
    assert!(r.status.success());
}

#[test]
fn tcp_bind_only_on_listed_ports() {
    if !harness::landlock_abi_at_least(4) {
        return;
    }
    // Find two free ports, then release them for the child.
    let (p1, p2) = {
        let a = TcpListener::bind("127.0.0.1:0").unwrap();
        let b = TcpListener::bind("127.0.0.1:0").unwrap();
        (
            a.local_addr().unwrap().port(),
            b.local_addr().unwrap().port(),
        )
    };
    let py = |port: u16| {
        format!(
            "import socket,sys\ns=socket.socket()\ntry:\n    s.bind(('127.0.0.1', {port}))\nexcept OSError as e:\n    print('errno', e.errno)\n    sys.exit(3)\nprint('bound')\n"
        )
    };
    let mut caps = base_caps();
    caps.allow_bind_port(p1);
    python(&caps, &py(p1)).assert_ok();
    assert_refused_with(&python(&caps, &py(p2)), libc::EACCES, "unlisted bind port");
}

#[test]
fn signals_to_outside_processes_are_refused() {
    if !harness::landlock_abi_at_least(6) {
        return;
    }
    let mut victim = Command::new("sleep").arg("60").spawn().unwrap();
    let pid = victim.id().to_string();
    let caps = base_caps(); // scopes are on by default
    assert!(caps.scopes().signal);
    let r = run(&caps, &["/usr/bin/sh", "-c", &format!("kill -TERM {pid}")]);
    r.assert_denied();
    // A process inside the sandbox can still signal its own children.
    run(
        &caps,
        &[
            "/usr/bin/sh",
            "-c",
            "sleep 60 & kill -TERM $! && wait $!; test $? -eq 143",
        ],
    )
    .assert_ok();
    assert!(
        victim.try_wait().unwrap().is_none(),
        "the victim must survive"
    );
    // Without the scope the same kill works.
    let mut open = base_caps();
    open.set_scopes(Scopes::none());
    run(&open, &["/usr/bin/sh", "-c", &format!("kill -TERM {pid}")]).assert_ok();
    let status = victim.wait().unwrap();
    assert!(!status.success());
}

#[test]
fn abstract_unix_socket_outside_is_refused() {
    if !harness::landlock_abi_at_least(6) {
        return;
    }
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixListener};
    let name = format!("nono-test-{}", std::process::id());
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let _listener = UnixListener::bind_addr(&addr).unwrap();
    let py = format!(
        "import socket,sys\ns=socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\ntry:\n    s.connect('\\0{name}')\nexcept OSError as e:\n    print('errno', e.errno)\n    sys.exit(3)\nprint('connected')\n"
    );
    let caps = base_caps();
    assert_refused_with(&python(&caps, &py), libc::EPERM, "EPERM from the scope");
    let mut open = base_caps();
    open.set_scopes(Scopes::none());
    python(&open, &py).assert_ok();
}

#[test]
fn deny_carve_out_inside_a_granted_dir_is_enforced() {
    if !harness::landlock_abi_at_least(3) {
        return;
    }
    let t = TempTree::new("carve");
    t.file("g/secret/key", "KEY\n");
    t.file("g/top", "top\n");
    t.file("g/sub/ok", "ok\n");
    t.file("g/sub/cred", "CRED\n");
    let mut caps = base_caps();
    caps.allow_dir(t.join("g"), AccessMode::ReadWrite, "--allow g")
        .unwrap();
    caps.deny(t.join("g/secret"), "group test").unwrap();
    caps.deny(t.join("g/sub/cred"), "group test").unwrap();
    caps.deny(t.join("g/ghost"), "group test").unwrap();
    let prepared = PreparedSandbox::prepare(&caps, &SandboxOptions::default()).unwrap();
    assert!(
        prepared
            .status()
            .notes
            .iter()
            .any(|n| n.contains("expanded")),
        "{}",
        prepared.status()
    );
    run(&caps, &["cat", s(&t.join("g/secret/key"))]).assert_denied();
    run(&caps, &["ls", s(&t.join("g/secret"))]).assert_denied();
    run(&caps, &["cat", s(&t.join("g/sub/cred"))]).assert_denied();
    run(&caps, &["rm", "-f", s(&t.join("g/sub/cred"))]).assert_denied();
    run(&caps, &["cat", s(&t.join("g/top")), s(&t.join("g/sub/ok"))]).assert_ok();
    // Siblings keep the grant, including writes.
    run(
        &caps,
        &[
            "/usr/bin/sh",
            "-c",
            &format!("echo more >> {}", s(&t.join("g/top"))),
        ],
    )
    .assert_ok();
    // A deny that does not exist cannot be created; neither can anything else in its
    // (spine) directory.
    run(&caps, &["mkdir", s(&t.join("g/ghost"))]).assert_denied();
    run(&caps, &["touch", s(&t.join("g/ghost"))]).assert_denied();
    assert!(!t.join("g/ghost").exists());
    // The secret directory cannot be moved out of the way either.
    run(
        &caps,
        &["mv", s(&t.join("g/secret")), s(&t.join("g/sub/x"))],
    )
    .assert_denied();
    assert_eq!(
        std::fs::read_to_string(t.join("g/secret/key")).unwrap(),
        "KEY\n"
    );
}

#[test]
fn no_new_privs_is_set_in_the_child() {
    if !harness::landlock_abi_at_least(1) {
        return;
    }
    let status = sandboxed_self_status();
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
    // And the test runner itself is untouched.
    let me = std::fs::read_to_string("/proc/self/status").unwrap();
    assert!(me.contains("NoNewPrivs:\t0"));
}

#[test]
fn seccomp_filters_are_installed_in_the_child() {
    if !harness::landlock_abi_at_least(1) {
        return;
    }
    let status = sandboxed_self_status();
    assert!(status.contains("Seccomp:\t2"), "{status}");
}

/// The meta-test: a failing assertion inside the sandbox fails the child, and the parent
/// sees it.
#[test]
fn a_failing_assertion_inside_the_sandbox_fails_the_test() {
    const NAME: &str = "landlock::a_failing_assertion_inside_the_sandbox_fails_the_test";
    if let Some(vars) = harness::child_vars(NAME) {
        if vars.get("MODE").map(String::as_str) == Some("fail") {
            assert_eq!(1 + 1, 3, "deliberate failure inside the sandbox");
        }
        return;
    }
    if !harness::landlock_abi_at_least(1) {
        return;
    }
    let caps = base_caps();
    let failed = harness::reexec(NAME, &caps, &[("MODE", "fail")]);
    assert!(!failed.success(), "{failed:?}");
    assert!(failed.stdout().contains("1 failed"), "{}", failed.stdout());
    assert!(
        failed.stdout().contains("deliberate failure")
            || failed.stderr().contains("deliberate failure"),
        "{failed:?}"
    );
    harness::reexec(NAME, &caps, &[("MODE", "pass")]).assert_child_passed();
}

/// `Sandbox::apply` confines the calling process itself (here: a re-executed test child), and
/// reports that other threads stay unconfined instead of hiding it.
#[test]
fn sandbox_apply_confines_the_current_process() {
    const NAME: &str = "landlock::sandbox_apply_confines_the_current_process";
    if let Some(vars) = harness::child_vars(NAME) {
        let mut caps = CapabilitySet::new();
        caps.allow_dir(&vars["IN"], AccessMode::Read, "test")
            .unwrap();
        // libtest runs the test on its own thread, so this process has two: strict refuses
        // (Landlock ABI < 8 confines only the calling thread), best-effort says so.
        let threads = std::fs::read_dir("/proc/self/task").unwrap().count();
        assert!(threads > 1);
        let err = Sandbox::apply(&caps).unwrap_err();
        assert!(
            matches!(err, nono_sandbox::SandboxError::MultiThreaded { .. }),
            "{err}"
        );
        caps.set_compat(Compat::BestEffort);
        let status = Sandbox::apply(&caps).expect("apply");
        assert!(status.enforces(Protection::Filesystem), "{status}");
        assert!(
            status
                .not_enforced
                .iter()
                .any(|i| i.protection == Protection::AllThreads),
            "{status}"
        );
        assert!(std::fs::read_to_string(Path::new(&vars["IN"]).join("a")).is_ok());
        let err = std::fs::read_to_string(&vars["OUT"]).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(13), "{err}");
        return;
    }
    if !harness::landlock_abi_at_least(1) {
        return;
    }
    let t = in_out("apply");
    let out = harness::reexec_command(
        NAME,
        &[("IN", s(&t.join("in"))), ("OUT", s(&t.join("out/b")))],
    )
    .output()
    .unwrap();
    let o = Outcome {
        what: NAME.into(),
        output: out,
    };
    o.assert_child_passed();
}

#[test]
fn status_reports_everything_enforced_on_this_kernel() {
    if !harness::landlock_abi_at_least(6) {
        return;
    }
    let mut caps = base_caps();
    caps.allow_connect_port(443);
    let p = PreparedSandbox::prepare(
        &caps,
        &SandboxOptions::new().with_notify(NotifySet::open_family()),
    )
    .unwrap();
    let st = p.status();
    assert!(st.is_complete(), "{st}");
    for prot in [
        Protection::Filesystem,
        Protection::Refer,
        Protection::Truncate,
        Protection::IoctlDev,
        Protection::TcpConnect,
        Protection::TcpBind,
        Protection::SignalScope,
        Protection::AbstractUnixSocketScope,
        Protection::NoNewPrivs,
        Protection::SeccompDenyList,
        Protection::SocketFamilyFilter,
        Protection::OpenNotify,
    ] {
        assert!(st.enforces(prot), "{prot:?} missing from\n{st}");
    }
    let json = serde_json_value(st);
    assert_eq!(json["compat"], "strict");
}

fn serde_json_value<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap()
}

/// A prepared sandbox can confine several children (the ruleset fd is dup'ed per child):
/// one `Command` spawned twice runs its `pre_exec` hook twice.
#[test]
fn a_prepared_sandbox_is_reusable() {
    if !harness::landlock_abi_at_least(1) {
        return;
    }
    let t = in_out("reuse");
    let mut caps = base_caps();
    caps.allow_dir(t.join("in"), AccessMode::Read, "test")
        .unwrap();
    let p = PreparedSandbox::prepare(&caps, &SandboxOptions::default()).unwrap();
    let mut child = Command::new("cat");
    child
        .arg(t.join("in/a"))
        .arg(t.join("out/b"))
        .stdin(Stdio::null())
        .sandboxed_with(p);
    for _ in 0..2 {
        let out = child.output().unwrap();
        assert!(!out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stdout), "inside\n");
        assert!(String::from_utf8_lossy(&out.stderr).contains("Permission denied"));
    }
}

//! Faults: the child SIGKILLed while its request is pending (trapped open, SDK request),
//! SIGTERM and SIGKILL to `nono` itself, and an audit log on a full disk.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nono_supervisor::approval::Callback;
use nono_supervisor::policy::{Decision, Engine, GrantScope, Policy, RequestSource};
use nono_supervisor::{run, ExitStatusKind, PtyMode, SpawnConfig};
use rustix::process::Signal;

use crate::child::MODE;
use crate::harness::{
    alive, child_args, fd_count_self, kill, leak_checked, nono, proc_state, self_exe, system_caps,
    wait_dead, wait_for_exec, Proc, Scratch, HANG,
};

/// An engine whose approval callback reports each request (its source and thread id) and
/// then blocks until released — a person who takes their time.
fn slow_engine() -> (Arc<Engine>, Receiver<(RequestSource, u32)>, Sender<()>) {
    let (entered_tx, entered) = channel();
    let (release, release_rx) = channel::<()>();
    let entered_tx = Mutex::new(entered_tx);
    let release_rx = Mutex::new(release_rx);
    let engine = Engine::new(
        Policy::default(),
        Callback::new(move |req| {
            let _ = entered_tx
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .send((req.source, req.pid));
            let _ = release_rx
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .recv_timeout(HANG);
            Decision::Granted {
                scope: GrantScope::Once,
                rule: "slow test approval".into(),
            }
        }),
    );
    (Arc::new(engine), entered, release)
}

/// The thread-group id of thread `tid`.
fn tgid(tid: u32) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("Tgid line")
}

/// Run `config` on its own thread; when the request reaches the callback, SIGKILL the child,
/// wait until it is dead, then release the decision (which now targets a dead child). Fails
/// unless `run` reports the SIGKILL (status 137) and this process ends with the fds it had.
/// Returns the child's pid.
#[track_caller]
fn kill_while_pending(config: SpawnConfig, want: RequestSource) -> u32 {
    let before = fd_count_self();
    let (engine, entered, release) = slow_engine();
    let mut config = config;
    config.engine = Some(engine);
    let runner = std::thread::spawn(move || run(config));
    let (source, tid) = entered
        .recv_timeout(HANG)
        .expect("the request never reached the approval callback");
    assert_eq!(source, want);
    let pid = tgid(tid);
    kill(pid, Signal::KILL);
    assert!(wait_dead(pid), "the child did not die");
    let _ = release.send(());
    let deadline = Instant::now() + HANG;
    while !runner.is_finished() {
        assert!(
            Instant::now() < deadline,
            "run did not return after its child was killed mid-request"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let outcome = runner
        .join()
        .expect("run panicked")
        .expect("run failed instead of reporting the child's death");
    assert_eq!(outcome.exit, ExitStatusKind::Signal(9), "{outcome:?}");
    assert_eq!(outcome.exit.code(), 137);
    assert_eq!(fd_count_self(), before, "run leaked fds");
    pid
}

fn config(argv: Vec<std::ffi::OsString>) -> SpawnConfig {
    let mut config = SpawnConfig::new(argv, system_caps());
    config.pty = PtyMode::Never;
    config.forward_signals = false;
    config.trap_opens = true;
    config
}

/// The child traps an open outside its grants and is SIGKILLed while the (slow) approval is
/// pending. The supervisor survives, the late grant (open + ADDFD to a dead notification)
/// fails quietly, and `run` reports signal 9 (exit status 137) with nothing leaked.
#[test]
fn child_killed_while_a_trapped_open_awaits_approval() {
    leak_checked("load-kill-trap", |scratch| {
        let file = scratch.write("outside/file", "outside\n");
        let pid = kill_while_pending(
            config(vec![
                "sh".into(),
                "-c".into(),
                r#"exec cat "$0""#.into(),
                file.into(),
            ]),
            RequestSource::Trap,
        );
        vec![pid]
    });
}

/// The same with an explicit SDK request: the supervisor's late answer goes to a closed
/// socket, which must cost nothing but that answer.
#[test]
fn child_killed_while_an_sdk_request_awaits_approval() {
    leak_checked("load-kill-sdk", |scratch| {
        let file = scratch.write("outside/file", "outside\n");
        let mut argv: Vec<std::ffi::OsString> = vec![
            "sh".into(),
            "-c".into(),
            r#"exec "$0" "$@" >/dev/null"#.into(),
            self_exe().into(),
        ];
        argv.extend(child_args().iter().map(Into::into));
        let mut config = config(argv);
        // Only the SDK request may reach the callback (not some start-up open of the harness).
        config.trap_opens = false;
        config.sdk = true;
        config.env.extend([
            (MODE.into(), "sdk_one".into()),
            ("LOAD_PATH".into(), file.into()),
        ]);
        let pid = kill_while_pending(config, RequestSource::Sdk);
        vec![pid]
    });
}

/// A `nono run` whose child prints its pid and then sleeps.
fn sleeping_run(scratch: &Scratch) -> (Proc, u32) {
    let mut cmd = nono(&scratch.path);
    cmd.args([
        "run",
        "-s",
        "--",
        "sh",
        "-c",
        r#"echo "load-child: pid $$"; exec sleep 300"#,
    ]);
    let mut p = Proc::spawn(&mut cmd);
    let child: u32 = p.expect_line("load-child: pid").parse().unwrap();
    // `exec sleep` has happened once the child's name says so (the pid line comes before it).
    wait_for_exec(child, "sleep");
    (p, child)
}

/// SIGTERM to nono is forwarded: the child dies of it and nono exits 143 (128 + 15).
#[test]
fn sigterm_to_nono_is_forwarded_and_exits_143() {
    leak_checked("load-sigterm", |scratch| {
        let (p, child) = sleeping_run(scratch);
        let nono_pid = p.pid;
        kill(nono_pid, Signal::TERM);
        let f = p.finish();
        assert_eq!(f.code, Some(143), "{f}");
        assert!(!alive(child), "the child survived: {:?}", proc_state(child));
        vec![nono_pid, child]
    });
}

/// SIGKILL to nono cannot be forwarded; the child dies anyway (`PR_SET_PDEATHSIG`), checked
/// by its pid.
#[test]
fn sigkill_to_nono_takes_the_child_with_it() {
    leak_checked("load-sigkill", |scratch| {
        let (p, child) = sleeping_run(scratch);
        let nono_pid = p.pid;
        kill(nono_pid, Signal::KILL);
        let f = p.finish();
        assert_eq!(f.signal, Some(9), "{f}");
        assert!(
            wait_dead(child),
            "the child outlived nono: {:?}",
            proc_state(child)
        );
        vec![nono_pid, child]
    });
}

/// `--audit-log /dev/full`: every write fails with ENOSPC. Decisions are still made and
/// enforced (the approved file is granted, the unapproved one refused), each failed write
/// is reported on stderr (also under `-s`), and nono exits with the command's own status —
/// the documented rule; an audit failure never changes a decision or the status.
#[test]
fn audit_log_on_a_full_disk_still_enforces_and_reports() {
    leak_checked("load-auditfull", |scratch| {
        scratch.write("approved/id", "granted anyway\n");
        let secret = scratch.write("secret/key", "secret\n");
        let mut cmd = nono(&scratch.path);
        cmd.args(["run", "-s", "--approve"])
            .arg(scratch.join("approved"))
            .args(["--audit-log", "/dev/full", "--", "sh", "-c"])
            .arg(
                r#"cat "$0/id"; if cat "$1" 2>/dev/null; then echo LEAK; fi; echo x > "$0/new"; exit 7"#,
            )
            .arg(scratch.join("approved"))
            .arg(&secret);
        let p = Proc::spawn(&mut cmd);
        let pid = p.pid;
        let f = p.finish();
        assert_eq!(f.code, Some(7), "{f}");
        assert!(f.stdout.contains("granted anyway"), "{f}");
        assert!(
            !f.stdout.contains("LEAK") && !f.stdout.contains("secret"),
            "{f}"
        );
        assert_eq!(
            std::fs::read_to_string(scratch.join("approved/new")).unwrap(),
            "x\n",
            "the approved write was not granted"
        );
        assert!(
            f.stderr.contains("/dev/full") && f.stderr.contains("No space left on device"),
            "the audit failure was not reported\n{f}"
        );
        // At least three decisions (read, refused read, write), each failed write reported.
        assert!(
            f.stderr.matches("cannot write to audit log").count() >= 3,
            "{f}"
        );
        vec![pid]
    });
}

/// `sh` at its fd limit (fds 0-3 used, limit 4) opens `path` for a redirection (`sh`
/// itself: no exec, no loader) under `nono run -s EXTRA...`, and must be refused with
/// EMFILE. Returns nono's pid.
fn open_at_fd_limit(scratch: &Scratch, extra: &[&std::ffi::OsStr], path: &std::path::Path) -> u32 {
    let mut cmd = nono(&scratch.path);
    cmd.args(["run", "-s"])
        .args(extra)
        .args(["--", "sh", "-c"])
        .arg(r#"ulimit -n 4; exec 3</dev/null; if read x < "$0"; then echo "got $x"; else echo refused; fi"#)
        .arg(path);
    let p = Proc::spawn(&mut cmd);
    let pid = p.pid;
    let f = p.finish();
    assert_eq!(f.code, Some(0), "{f}");
    assert!(f.stdout.contains("refused"), "{f}");
    assert!(f.stderr.contains("Too many open files"), "{f}");
    pid
}

/// A runtime grant for a child that is at its fd limit: the supervisor opens the file, but
/// `ADDFD|SEND` cannot install it (EMFILE). The child's open must fail with EMFILE — what it
/// would see unsupervised — instead of waiting forever for an answer that never comes.
#[test]
fn runtime_grant_to_a_child_at_its_fd_limit_fails_with_emfile_instead_of_hanging() {
    leak_checked("load-emfile", |scratch| {
        let file = scratch.write("approved/f", "granted\n");
        let approved = scratch.join("approved");
        vec![open_at_fd_limit(
            scratch,
            &["--approve".as_ref(), approved.as_os_str()],
            &file,
        )]
    });
}

/// The same for a `/proc` entry, which the supervisor also opens and injects itself.
#[test]
fn proc_open_by_a_child_at_its_fd_limit_fails_with_emfile_instead_of_hanging() {
    leak_checked("load-emfile-proc", |scratch| {
        vec![open_at_fd_limit(
            scratch,
            &[],
            std::path::Path::new("/proc/self/status"),
        )]
    });
}

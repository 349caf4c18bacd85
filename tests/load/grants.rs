//! Thousands of runtime grants: the supervisor's fd count does not grow with them — measured
//! on the `nono` binary (its `/proc/PID/fd` at a handshake before and after the bulk) and on
//! an in-process `run` (this process's `/proc/self/fd` before and after).

use std::sync::Arc;
use std::time::{Duration, Instant};

use nono_sandbox::AccessMode;
use nono_supervisor::approval::DenyAll;
use nono_supervisor::policy::{ApproveRule, Engine, Policy};
use nono_supervisor::{run, ExitStatusKind, PtyMode, SpawnConfig};

use crate::child::MODE;
use crate::harness::{
    child_args, fd_count, fd_count_self, leak_checked, make_files, nono, self_exe, system_caps,
    Proc,
};

/// 2000 opens outside the static grants, each granted by an `--approve` rule (the supervisor
/// opens the file and injects the fd). The child stops twice on stdin — after a warm-up (so
/// lazily started workers and anything opened once are already there) and after the bulk —
/// and at each stop the test, nono's parent, counts `/proc/<nono pid>/fd`. (The child itself
/// cannot: Landlock forbids a sandboxed process to inspect its unsandboxed parent.)
#[test]
fn two_thousand_runtime_grants_leave_nonos_fd_count_unchanged() {
    leak_checked("load-grants", |scratch| {
        let approved = scratch.join("approved");
        make_files(&approved, 50);
        let exe = self_exe();
        let mut cmd = nono(&scratch.path);
        cmd.args(["run", "-s", "--read"])
            .arg(exe.parent().unwrap())
            .arg("--approve")
            .arg(&approved)
            .arg("--")
            .arg(&exe)
            .args(child_args())
            .env(MODE, "grants")
            .env("LOAD_APPROVED", &approved)
            .env("LOAD_OPENS", "2000")
            .env("LOAD_FILES", "50")
            .env("LOAD_HANDSHAKE", "1");
        let mut p = Proc::spawn(&mut cmd);
        let pid = p.pid;
        p.expect_line("load-child: ready");
        let before = steady_fd_count(pid, None);
        let threads_before = tasks(pid);
        p.send_line("go");
        let done = p.expect_line("load-child: done");
        let after = steady_fd_count(pid, Some(before));
        let threads_after = tasks(pid);
        p.send_line("exit");
        let f = p.finish();
        assert_eq!(done, "2000", "{f}");
        assert_eq!(f.code, Some(0), "{f}");
        assert_eq!(
            after, before,
            "nono's fd count changed over 2000 runtime grants\n{f}"
        );
        // Workers are a bounded pool: thousands of requests must not mean thousands of threads.
        assert!(
            threads_after <= threads_before.max(1) + 8,
            "nono's threads grew from {threads_before} to {threads_after}"
        );
        vec![pid]
    });
}

/// nono's fd count with the transient ones gone. A worker drops the granted fd just after
/// `ADDFD` returns — which is also when the child's open returns — so a count taken right
/// after the child's line may include one still on its way out. Transients only ever add:
/// take the smallest count over a short while, and when a target is given, wait (bounded)
/// for the count to come down to it. A leak never comes down.
fn steady_fd_count(pid: u32, target: Option<usize>) -> usize {
    let mut min = fd_count(pid);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut samples = 0;
    loop {
        samples += 1;
        let done = match target {
            Some(t) => min <= t || Instant::now() > deadline,
            None => samples >= 20,
        };
        if done {
            return min;
        }
        std::thread::sleep(Duration::from_millis(5));
        min = min.min(fd_count(pid));
    }
}

fn tasks(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The library view of the same: an in-process `run` whose child makes 1000 trapped opens and
/// 1000 SDK requests, all granted by an approve rule. Afterwards this process has exactly
/// the fds it had before (notify listener, pidfd, SDK socket, every granted fd: all closed).
#[test]
fn in_process_run_with_two_thousand_grants_closes_every_fd() {
    leak_checked("load-grants-lib", |scratch| {
        let approved = scratch.join("approved");
        make_files(&approved, 50);
        let policy = Policy {
            approve: vec![ApproveRule::new(
                &approved.to_string_lossy(),
                AccessMode::Read,
                "load test",
            )],
            ..Policy::default()
        };
        let engine = Arc::new(Engine::new(policy, DenyAll));
        let exe = self_exe();
        // The child's stdout (the test harness's chatter) goes to /dev/null; the verdict is the
        // exit status, and diagnostics go to stderr.
        let mut argv: Vec<std::ffi::OsString> = vec![
            "sh".into(),
            "-c".into(),
            r#"exec "$0" "$@" >/dev/null"#.into(),
            exe.clone().into(),
        ];
        argv.extend(child_args().iter().map(Into::into));
        let mut config = SpawnConfig::new(argv, system_caps());
        config.pty = PtyMode::Never;
        config.forward_signals = false;
        config.trap_opens = true;
        config.sdk = true;
        config.engine = Some(engine);
        config.env.extend([
            (MODE.into(), "grants".into()),
            ("LOAD_APPROVED".into(), approved.clone().into()),
            ("LOAD_OPENS".into(), "1000".into()),
            ("LOAD_FILES".into(), "50".into()),
        ]);
        let before = fd_count_self();
        let outcome = run(config).expect("run");
        let after = fd_count_self();
        assert_eq!(outcome.exit, ExitStatusKind::Code(0), "{outcome:?}");
        assert_eq!(after, before, "the in-process supervisor leaked fds");
        vec![]
    });
}

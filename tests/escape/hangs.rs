//! The supervisor always answers and always stops: a command cannot make `nono run` hang —
//! not with a FIFO in an approved directory (the supervisor's open would wait for a writer
//! that never comes), not with a script without `#!` (libc's `execvp` retries it through
//! `/bin/sh`: a second trapped exec), and not by ignoring the `SIGTERM` nono forwards.
//!
//! Every run here is bounded by [`bounded`]: a regression fails the test instead of hanging
//! the suite.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use rustix::process::{kill_process, Pid, Signal};

use crate::harness::{nono_cmd, output, sandbox_available, Run, Scratch};

/// Longer than any of these runs takes when nono behaves (a second or two on a loaded
/// 2-core machine), far shorter than a hang.
const LIMIT: Duration = Duration::from_secs(20);

/// Wait for `child` at most `limit`; `None` (after `SIGKILL`ing it, so nothing is left
/// behind: nono's own child dies with it) if it did not end in time.
fn wait_bounded(mut child: Child, limit: Duration) -> Option<(Run, Duration)> {
    let start = Instant::now();
    loop {
        match child.try_wait().expect("try_wait") {
            Some(_) => {
                let took = start.elapsed();
                return Some((run_of(child), took));
            }
            None if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn run_of(child: Child) -> Run {
    crate::programs::run_of(child.wait_with_output().expect("collect output"))
}

/// `nono ARGS` in `cwd`, killed after `limit`: `None` if it had to be.
fn bounded<S: AsRef<OsStr>>(cwd: &Path, args: &[S], limit: Duration) -> Option<Run> {
    let child = nono_cmd(cwd).args(args).spawn().expect("spawn nono");
    wait_bounded(child, limit).map(|(run, _)| run)
}

fn executable(path: &Path) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// Issue 16 finding 5: a script without `#!` fails `execve` with `ENOEXEC`; libc's `execvp`
/// (which std uses) then runs it as `/bin/sh SCRIPT` — a second trapped `execve` that the
/// supervisor used to leave unanswered, so `nono run` hung forever (and ignored `SIGTERM`).
#[test]
fn script_without_shebang_runs_and_returns() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("hang-noshebang");
    let script = s.write("work/plain", "echo plain-script-ran\n");
    executable(&script);
    let work = s.s("work");

    // Control: without nono the script runs (std's execvp falls back to /bin/sh).
    let control = output(Command::new(&script).current_dir(s.join("work")));
    control.expect_code(0).stdout_has("plain-script-ran");

    // Directly (the fallback exec happens in nono's own spawn), by relative and absolute
    // path, and through a shell (which handles ENOEXEC itself, without a second exec).
    let cases: [&[&str]; 3] = [
        &["run", "--allow", &work, "--", "./plain"],
        &["run", "--allow", &work, "--", &s.s("work/plain")],
        &["run", "--allow", &work, "--", "sh", "-c", "./plain"],
    ];
    for args in cases {
        let Some(run) = bounded(&s.join("work"), args, LIMIT) else {
            panic!("nono {args:?} hung: a trapped exec was never answered");
        };
        run.expect_code(0).stdout_has("plain-script-ran");
    }
}

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

    // Control: without nono the script runs through `execvp` (`env` uses it, as does the
    // fork path of std's `Command`, which nono takes), which falls back to /bin/sh.
    let control = output(Command::new("env").arg(&script).current_dir(s.join("work")));
    control.expect_code(0).stdout_has("plain-script-ran");

    // Directly (the fallback exec happens in nono's own spawn), by relative and absolute
    // path, and through a shell (which handles ENOEXEC itself, without a second exec); and
    // under `wrap` (no supervisor: nothing is trapped), for comparison.
    let cases: [&[&str]; 4] = [
        &["run", "--allow", &work, "--", "./plain"],
        &["run", "--allow", &work, "--", &s.s("work/plain")],
        &["run", "--allow", &work, "--", "sh", "-c", "./plain"],
        &["wrap", "--allow", &work, "--", "./plain"],
    ];
    for args in cases {
        let Some(run) = bounded(&s.join("work"), args, LIMIT) else {
            panic!("nono {args:?} hung: a trapped exec was never answered");
        };
        run.expect_code(0).stdout_has("plain-script-ran");
    }
}

/// `DIR/p` (a FIFO nobody writes to) and `DIR/ok` (a file) in `appr/`, outside every grant.
fn fifo_layout(name: &str) -> Scratch {
    let s = Scratch::new(name);
    s.write("appr/ok", "approved-file\n");
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        s.join("appr/p"),
        rustix::fs::Mode::from_bits_truncate(0o644),
    )
    .expect("mkfifo");
    s
}

/// Issue 10 finding 9: a FIFO in an approved directory. The supervisor opened it for the
/// child without `O_NONBLOCK`, so each open waited for a writer that never came: six
/// readers took every broker worker, the next approved open (`ok`) never got one, and after
/// the command was killed `nono` waited for its workers forever (ignoring `SIGTERM`).
#[test]
fn fifo_in_approved_dir_neither_blocks_workers_nor_the_run() {
    if !sandbox_available() {
        return;
    }
    let s = fifo_layout("hang-fifo");
    let appr = s.s("appr");
    let (p, ok) = (s.s("appr/p"), s.s("appr/ok"));

    // Control: without nono, opening the FIFO for reading blocks (no writer).
    let reader = Command::new("cat")
        .arg(&p)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn cat");
    assert!(
        wait_bounded(reader, Duration::from_millis(500)).is_none(),
        "control: opening a FIFO without a writer should block"
    );

    // Six readers at once, then another approved open: it must still be served, the FIFO
    // refused (a grant of the directory does not name it), and the run must end.
    let readers = format!(
        "for i in 1 2 3 4 5 6; do cat {p} 2>/dev/null & done; sleep 0.3; cat {ok}; wait; echo done"
    );
    let Some(run) = bounded(
        &s.path,
        &["run", "--approve", &appr, "--", "sh", "-c", &readers],
        LIMIT,
    ) else {
        panic!("nono hung on a FIFO in an approved directory");
    };
    run.expect_code(0)
        .stdout_has("approved-file")
        .stdout_has("done")
        .stderr_has(&format!("denied read of {p}"));

    // The command killed while its readers (would) wait: nono returns at once.
    let killed =
        format!("for i in 1 2 3 4 5 6; do cat {p} 2>/dev/null & done; sleep 0.3; kill -9 $$");
    let Some(run) = bounded(
        &s.path,
        &["run", "--approve", &appr, "--", "sh", "-c", &killed],
        LIMIT,
    ) else {
        panic!("nono hung after the command was killed");
    };
    run.expect_code(137);

    // Named by a rule, the FIFO is opened — without waiting: a reader gets it at once (and
    // end-of-file, nobody writes), a writer without a reader gets ENXIO.
    let named = format!(
        "cat {p} && echo reader-returned; (echo x > {p}) 2>/dev/null || echo writer-refused"
    );
    let Some(run) = bounded(
        &s.path,
        &["run", "--approve", &p, "--", "sh", "-c", &named],
        LIMIT,
    ) else {
        panic!("nono hung on a FIFO named by --approve");
    };
    run.expect_code(0)
        .stdout_has("reader-returned")
        .stdout_has("writer-refused");
}

/// `SIGTERM` always stops nono: it is forwarded to the command, and a command that ignores
/// it is killed after `TERM_GRACE` (5 s) — at once on a second `SIGTERM`. Before, nono
/// waited for such a command for as long as it ran.
#[test]
fn sigterm_stops_nono_when_the_command_ignores_it() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("hang-sigterm");
    let ignore = "trap '' TERM; sleep 60";

    // Control: without nono the command survives SIGTERM.
    let bare = Command::new("sh")
        .args(["-c", ignore])
        .spawn()
        .expect("spawn sh");
    std::thread::sleep(Duration::from_millis(300));
    send(bare.id(), Signal::TERM);
    assert!(
        wait_bounded(bare, Duration::from_millis(700)).is_none(),
        "control: the command should ignore SIGTERM"
    );

    for terms in [1, 2] {
        let child = nono_cmd(&s.path)
            .args(["run", "--", "sh", "-c", ignore])
            .spawn()
            .expect("spawn nono");
        std::thread::sleep(Duration::from_millis(700));
        for _ in 0..terms {
            send(child.id(), Signal::TERM);
            std::thread::sleep(Duration::from_millis(100));
        }
        let Some((run, took)) = wait_bounded(child, LIMIT) else {
            panic!("nono did not stop on {terms} SIGTERM(s)");
        };
        run.expect_code(137);
        if terms == 2 {
            assert!(
                took < Duration::from_secs(4),
                "a second SIGTERM kills at once: {took:?}"
            );
        }
    }
}

fn send(pid: u32, sig: Signal) {
    let pid = Pid::from_raw(i32::try_from(pid).expect("pid")).expect("pid");
    kill_process(pid, sig).expect("kill");
}

/// A blocking `connect` to a Unix socket whose listener never accepts (backlog full) waits —
/// on a supervisor worker, since the supervisor performs the connect. Five of them used to
/// take every worker of the run's single pool, so an approved open waited behind them for
/// as long as the server pleased. Sockets now have workers of their own, and the waits end
/// with the command.
#[test]
fn connects_to_a_full_backlog_never_hold_up_approved_opens() {
    if !sandbox_available() || !Path::new("/usr/bin/python3").exists() {
        return;
    }
    let s = Scratch::new("hang-backlog");
    s.write("appr/ok", "approved-file\n");
    let sock = s.join("srv.sock");
    // A listener with backlog 0 that never accepts: one connection fills it, the next block.
    let listener = rustix::net::socket(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::STREAM,
        None,
    )
    .expect("socket");
    rustix::net::bind(
        &listener,
        &rustix::net::SocketAddrUnix::new(&sock).expect("sockaddr"),
    )
    .expect("bind");
    rustix::net::listen(&listener, 0).expect("listen");

    let connect = format!(
        "import socket, time; s = socket.socket(socket.AF_UNIX); s.connect({:?}); time.sleep(60)",
        sock.display().to_string()
    );
    let script = format!(
        "for i in 1 2 3 4 5 6; do /usr/bin/python3 -c '{connect}' & done; sleep 1.5; cat {ok}; echo done",
        ok = s.s("appr/ok"),
    );
    let (sock_s, appr) = (sock.display().to_string(), s.s("appr"));
    let Some(run) = bounded(
        &s.path,
        &[
            "run",
            "--allow-file",
            &sock_s,
            "--approve",
            &appr,
            "--",
            "sh",
            "-c",
            &script,
        ],
        LIMIT,
    ) else {
        panic!("nono hung: connects to a full backlog held up an approved open");
    };
    run.expect_code(0)
        .stdout_has("approved-file")
        .stdout_has("done");
    drop(listener);
}

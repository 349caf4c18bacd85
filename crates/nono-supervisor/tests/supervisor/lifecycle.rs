//! Process lifecycle: exit codes, signals, exec failures, prompt exit, death with the supervisor.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nono_supervisor::{run, ExitStatusKind, SupervisorError};

use crate::harness::{example, sh, shared, system_caps};

#[test]
fn exit_code_passes_through() {
    let _g = shared();
    let outcome = run(sh("exit 3", system_caps())).unwrap();
    assert_eq!(outcome.exit, ExitStatusKind::Code(3));
    assert_eq!(outcome.exit.code(), 3);
}

#[test]
fn killed_by_sigterm_is_143() {
    let _g = shared();
    let outcome = run(sh("kill -TERM $$", system_caps())).unwrap();
    assert_eq!(outcome.exit, ExitStatusKind::Signal(15));
    assert_eq!(outcome.exit.code(), 143);
}

#[test]
fn missing_command_is_127() {
    let _g = shared();
    let mut config = sh("", system_caps());
    config.argv = vec!["nono-no-such-command".into()];
    let err = run(config).unwrap_err();
    assert!(
        matches!(err, SupervisorError::CommandNotFound { .. }),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), 127);
    assert!(err.to_string().contains("nono-no-such-command"), "{err}");
}

#[test]
fn non_executable_is_126() {
    let _g = shared();
    let dir = crate::harness::scratch("noexec");
    let file = dir.join("script");
    std::fs::write(&file, "#!/bin/sh\nexit 0\n").unwrap();
    let mut caps = system_caps();
    caps.allow_dir(&dir, nono_sandbox::AccessMode::Read, "test")
        .unwrap();
    let mut config = sh("", caps);
    config.argv = vec![file.clone().into()];
    let err = run(config).unwrap_err();
    assert!(
        matches!(err, SupervisorError::NotExecutable { .. }),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), 126);
    assert!(err.to_string().contains("script"), "{err}");
}

#[test]
fn true_returns() {
    let _g = shared();
    // No timing assertion (noisy machines); this just has to come back, with code 0.
    let mut config = sh("", system_caps());
    config.argv = vec!["true".into()];
    assert_eq!(run(config).unwrap().exit, ExitStatusKind::Code(0));
}

#[test]
fn loader_variables_do_not_reach_the_child() {
    let _g = shared();
    let mut config = sh(
        r#"[ -z "$LD_PRELOAD" ] && [ "$KEEP" = yes ]"#,
        system_caps(),
    );
    config
        .env
        .push(("LD_PRELOAD".into(), "/nonexistent/evil.so".into()));
    config.env.push(("KEEP".into(), "yes".into()));
    assert_eq!(run(config).unwrap().exit, ExitStatusKind::Code(0));
}

#[test]
fn inherited_fds_are_closed() {
    let _g = shared();
    // An fd the supervisor process has open without CLOEXEC must not reach the child.
    let file = std::fs::File::open("/etc/hostname")
        .or_else(|_| std::fs::File::open("/etc/passwd"))
        .unwrap();
    let fd = std::os::fd::OwnedFd::from(file);
    rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::empty()).unwrap();
    let n = std::os::fd::AsRawFd::as_raw_fd(&fd);
    let outcome = run(sh(
        &format!("[ ! -e /proc/self/fd/{n} ] || [ {n} -lt 3 ]"),
        system_caps(),
    ))
    .unwrap();
    assert_eq!(outcome.exit, ExitStatusKind::Code(0));
}

/// Start the `supervise` example around `sh -c 'echo $$; exec sleep 1000'`; returns the
/// supervisor and the child's pid.
fn supervised_sleeper(
    extra: &[&str],
) -> (
    std::process::Child,
    i32,
    BufReader<std::process::ChildStdout>,
) {
    let mut sup = Command::new(example("supervise"))
        .args(extra)
        .args(["--", "sh", "-c", "echo $$; exec sleep 1000"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the supervise example is built with the tests");
    let mut out = BufReader::new(sup.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let pid: i32 = line.trim().parse().expect("child pid");
    (sup, pid, out)
}

fn wait_gone(pid: i32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(stat) => {
                // A zombie waiting for its new parent to reap it is dead too.
                let state = stat
                    .rsplit(')')
                    .next()
                    .unwrap_or("")
                    .split_whitespace()
                    .next();
                if state == Some("Z") || state == Some("X") {
                    return true;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn child_dies_when_the_supervisor_is_sigkilled() {
    let _g = shared();
    let (mut sup, pid, _out) = supervised_sleeper(&["--trap"]);
    sup.kill().unwrap();
    sup.wait().unwrap();
    assert!(
        wait_gone(pid),
        "child {pid} outlived its SIGKILLed supervisor"
    );
}

#[test]
fn sigterm_to_the_supervisor_is_forwarded() {
    let _g = shared();
    let (mut sup, pid, _out) = supervised_sleeper(&[]);
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(i32::try_from(sup.id()).unwrap()).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let status = sup.wait().unwrap();
    assert_eq!(status.code(), Some(143), "supervisor exits 128+SIGTERM");
    assert!(wait_gone(pid));
}

/// Python (for the PTY tests' scripts): read `master` until the terminal is gone, wait for
/// the supervisor `p`, and print what it showed as `text` (its exit code in `code`).
const PY_READ_TERMINAL: &str = r#"out = b""
while True:
    try:
        chunk = os.read(master, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
code = p.wait()
text = out.decode(errors="replace")
print(text)"#;

#[test]
fn on_a_terminal_the_child_gets_its_own_pty() {
    let _g = shared();
    // Python gives the supervisor a terminal for all three std streams and reads what the
    // child printed through the supervisor's relay.
    let script = format!(
        r#"
import os, subprocess, sys
master, slave = os.openpty()
outer = os.ttyname(slave)
p = subprocess.Popen([{sup:?}, "--pty", "--", "sh", "-c", "tty; test -t 0 && test -t 1 && echo TTY-OK; exit 4"],
                     stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
os.close(slave)
{read_terminal}
assert "TTY-OK" in text, text
inner = [l.strip() for l in text.splitlines() if l.strip().startswith("/dev/pts/")]
assert inner and inner[0] != outer, (inner, outer)
sys.exit(code)
"#,
        sup = example("supervise").display().to_string(),
        read_terminal = PY_READ_TERMINAL,
    );
    let status = Command::new(crate::harness::PYTHON)
        .args(["-c", &script])
        .status()
        .unwrap();
    assert_eq!(
        status.code(),
        Some(4),
        "exit code through the PTY supervisor"
    );
}

/// Only some std streams on the terminal (`nono run … | less`): the child gets the PTY for
/// those (and its controlling terminal), the pipe for the rest — never the user's terminal,
/// which a process it left behind could read after the run. With stdout a pipe the
/// supervisor leaves the terminal alone (the pipe's reader, a pager, may read it): no raw
/// mode, and a line typed during the run is still there for that reader afterwards.
#[test]
fn with_stdout_piped_the_child_gets_its_own_pty_for_the_other_streams() {
    let _g = shared();
    let script = format!(
        r#"
import os, subprocess, sys, termios, time
master, slave = os.openpty()
outer = os.ttyname(slave)
pager = os.dup(slave)
inner = ('sleep 1; test -t 1 || echo OUT-IS-A-PIPE; test -t 0 && test -t 2 && echo IN-ERR-TTY >&2; '
         'tty >&2; exit 5')
p = subprocess.Popen([{sup:?}, "--pty", "--", "sh", "-c", inner],
                     stdin=slave, stdout=subprocess.PIPE, stderr=slave, start_new_session=True)
os.close(slave)
time.sleep(0.5)
assert termios.tcgetattr(master)[3] & termios.ICANON, "the terminal was put in raw mode"
os.write(master, b"for-the-pager\n")
piped = p.stdout.read().decode()
p.wait()
# nono has returned: the typed line was left for the pager.
os.set_blocking(pager, False)
assert os.read(pager, 100) == b"for-the-pager\n"
os.close(pager)
{read_terminal}
assert piped.strip() == "OUT-IS-A-PIPE", piped
assert "IN-ERR-TTY" in text, text
inner = [l.strip() for l in text.splitlines() if l.strip().startswith("/dev/pts/")]
assert inner and inner[0] != outer, (inner, outer)
sys.exit(code)
"#,
        sup = example("supervise").display().to_string(),
        read_terminal = PY_READ_TERMINAL,
    );
    let status = Command::new(crate::harness::PYTHON)
        .args(["-c", &script])
        .status()
        .unwrap();
    assert_eq!(
        status.code(),
        Some(5),
        "exit code through the PTY supervisor"
    );
}

#[test]
fn workdir_is_the_childs_cwd() {
    let _g = shared();
    let dir = crate::harness::scratch("workdir");
    let mut caps = system_caps();
    caps.allow_dir(&dir, nono_sandbox::AccessMode::ReadWrite, "test")
        .unwrap();
    let mut config = sh("pwd > here", caps);
    config.workdir = Some(dir.clone());
    assert_eq!(run(config).unwrap().exit, ExitStatusKind::Code(0));
    assert_eq!(
        std::fs::read_to_string(dir.join("here")).unwrap().trim(),
        dir.display().to_string()
    );
}

#[test]
fn enforcement_status_is_reported() {
    let _g = shared();
    let outcome = run(sh("true", system_caps())).unwrap();
    assert!(
        outcome.enforcement.is_complete(),
        "{:?}",
        outcome.enforcement
    );
}

/// With `/dev/pts` not granted (as in the default profile), the child on its own PTY can
/// still reopen that terminal by name (`$(tty)`, `/dev/tty`) — the supervisor grants the
/// slave it allocated — but not another terminal, where the user has typed a line.
#[test]
fn on_a_pty_the_child_reaches_its_own_terminal_by_name_and_no_other() {
    let _g = shared();
    for trap in [false, true] {
        let script = format!(
            r#"
import os, subprocess, sys
other_master, other_slave = os.openpty()
other = os.ttyname(other_slave)
os.write(other_master, b"hunter2\n")
master, slave = os.openpty()
inner = ('t=$(tty); echo own > "$t" && echo OWN-OK; echo x > /dev/tty && echo DEVTTY-OK; '
         '(head -c 3 < {{o}} && echo STOLE) 2>/dev/null || echo OTHER-REFUSED; '
         '(echo PWNED > {{o}}) 2>/dev/null || echo SPOOF-REFUSED').format(o=other)
args = [{sup:?}, "--no-dev"] + ({trap} and ["--trap"] or []) + ["--pty", "--", "sh", "-c", inner]
p = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
os.close(slave)
{read_terminal}
for want in ["OWN-OK", "DEVTTY-OK", "OTHER-REFUSED", "SPOOF-REFUSED"]:
    assert want in text, (want, text)
assert "STOLE" not in text and "hun" not in text, text
os.set_blocking(other_master, False)
try:
    shown = os.read(other_master, 4096)
except BlockingIOError:
    shown = b""
assert b"PWNED" not in shown, shown
# The typed line is still there for the other terminal's own reader.
os.set_blocking(other_slave, False)
assert os.read(other_slave, 100) == b"hunter2\n"
sys.exit(code)
"#,
            sup = example("supervise").display().to_string(),
            trap = if trap { "True" } else { "False" },
            read_terminal = PY_READ_TERMINAL,
        );
        let status = Command::new(crate::harness::PYTHON)
            .args(["-c", &script])
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(0), "trap: {trap}");
    }
}

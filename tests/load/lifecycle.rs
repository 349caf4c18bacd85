//! The end of a run: a pending terminal prompt is cancelled when nono is told to stop (SIGTERM,
//! Ctrl-C at the prompt) instead of holding nono until it times out; what the command left
//! running in the sandbox is terminated before `run` returns; and after a SIGKILL of nono
//! (where no cleanup of the supervisor can run) the run's init ends everything that is left.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nono_sandbox::AccessMode;
use nono_supervisor::{run, ExitStatusKind, PtyMode, SpawnConfig};
use rustix::process::Signal;

use crate::harness::{
    alive, kill, leak_checked, nono, nono_bin, open_pty, proc_state, read_on_a_thread, system_caps,
    wait_dead, wait_for_exec, wait_for_output, Proc, Scratch, HANG,
};

/// A profile like the default one whose prompt waits an hour: a nono that only exits when
/// the prompt times out is caught by the [`HANG`] guard instead of passing late.
fn patient_profile(s: &Scratch) -> std::path::PathBuf {
    s.write(
        "patient.json",
        r#"{"extends": "default", "supervisor": {"prompt_timeout_secs": 3600}}"#,
    )
}

/// nono on a fresh PTY that is its controlling terminal (so the prompt asks there); the test
/// is the person at that terminal.
struct AtTerminal {
    child: std::process::Child,
    writer: File,
    rx: mpsc::Receiver<Vec<u8>>,
    seen: String,
}

impl AtTerminal {
    fn start(s: &Scratch, audit: &Path, command: &[&str]) -> AtTerminal {
        let (writer, slave) = open_pty();
        // `setsid -c` (no fork: -w is not given, and the test's child is not a group
        // leader): nono itself runs in a new session on the PTY, so its pid is the child's.
        let child = Command::new("setsid")
            .arg("-c")
            .arg(nono_bin())
            .args(["run", "--profile"])
            .arg(patient_profile(s))
            .args(["--capability-elevation", "--audit-log"])
            .arg(audit)
            .arg("--")
            .args(command)
            .current_dir(&s.path)
            .env(
                "XDG_STATE_HOME",
                crate::e2e_harness::state_home_for(&s.path).expect("a scratch directory"),
            )
            .env_remove("RUST_LOG")
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave))
            .spawn()
            .unwrap();
        let rx = read_on_a_thread(&writer);
        AtTerminal {
            child,
            writer,
            rx,
            seen: String::new(),
        }
    }

    /// nono at its prompt, asking about `cat` of `data/f` ("secret-outside\n"), a file
    /// outside every grant; its audit log is `audit.jsonl`. Returns the terminal and that log.
    fn asked_to_read_a_secret(s: &Scratch) -> (AtTerminal, PathBuf) {
        let file = s.write("data/f", "secret-outside\n");
        let audit = s.join("audit.jsonl");
        let mut t = AtTerminal::start(s, &audit, &["cat", &file.display().to_string()]);
        t.wait_for("Allow?");
        (t, audit)
    }

    fn wait_for(&mut self, needle: &str) {
        wait_for_output(&self.rx, &mut self.seen, needle, HANG);
    }

    /// nono's exit status (code or 128 + signal); fails if nono is still there after
    /// [`HANG`] — the prompt's own timeout is an hour.
    fn status(&mut self) -> i32 {
        use std::os::unix::process::ExitStatusExt;
        let guard = Instant::now() + HANG;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                while let Ok(chunk) = self.rx.recv_timeout(Duration::from_millis(200)) {
                    self.seen.push_str(&String::from_utf8_lossy(&chunk));
                }
                return status
                    .code()
                    .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
            }
            if Instant::now() > guard {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "nono kept waiting for the prompt after it was told to stop; terminal:\n{}",
                    self.seen
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for AtTerminal {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `SIGTERM` to nono while its prompt waits: the command dies of the forwarded signal, the
/// prompt is cancelled at once (not after its timeout), nono exits 143, and the audit log
/// records the abandoned request as denied (cancelled).
#[test]
fn sigterm_at_a_pending_prompt_ends_nono_at_once() {
    leak_checked("load-prompt-sigterm", |s| {
        let (mut t, audit) = AtTerminal::asked_to_read_a_secret(s);
        let nono_pid = t.child.id();
        kill(nono_pid, Signal::TERM);
        assert_eq!(t.status(), 143, "terminal:\n{}", t.seen);
        assert!(t.seen.contains("(cancelled"), "terminal:\n{}", t.seen);
        assert!(!t.seen.contains("secret-outside"), "terminal:\n{}", t.seen);
        let log = std::fs::read_to_string(&audit).unwrap_or_default();
        assert!(
            log.contains("Denied") && log.contains("cancelled"),
            "audit log: {log}"
        );
        vec![nono_pid]
    });
}

/// Ctrl-C at the prompt (a `0x03` byte: nono keeps the terminal in raw mode for the PTY
/// relay) denies at once: the command's open fails and it ends with its own status.
#[test]
fn ctrl_c_at_the_prompt_denies_at_once() {
    leak_checked("load-prompt-ctrl-c", |s| {
        let (mut t, audit) = AtTerminal::asked_to_read_a_secret(s);
        t.writer.write_all(b"\x03").unwrap();
        t.wait_for("(interrupted: denied)");
        let nono_pid = t.child.id();
        assert_eq!(t.status(), 1, "cat's own status; terminal:\n{}", t.seen);
        assert!(!t.seen.contains("secret-outside"), "terminal:\n{}", t.seen);
        let log = std::fs::read_to_string(&audit).unwrap_or_default();
        assert!(log.contains("Ctrl-C"), "audit log: {log}");
        vec![nono_pid]
    });
}

/// Read a pid the sandboxed shell wrote to `path`.
fn pid_in(path: &Path) -> u32 {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `sh -c 'sleep & ...'` (the LOAD repro) and a process that left the session with
/// `setsid` while its sandboxed parent was still running: when the command exits, `run`
/// terminates both before it returns — nothing sandboxed outlives the run unsupervised.
#[test]
fn processes_left_in_the_sandbox_are_terminated_before_run_returns() {
    leak_checked("load-leftovers", |s| {
        let dir = s.mkdir("w");
        let mut caps = system_caps();
        caps.allow_path(&dir, AccessMode::ReadWrite, "load test")
            .unwrap();
        // 1: a plain background job. 2: a helper shell in the session whose child calls setsid;
        // the command waits until both pids are written, then exits with the helper still there.
        let script = r#"
            sleep 281 & echo $! > "$0/bg"
            sh -c 'setsid sleep 282 & echo $! > "$0/escaped"; echo $$ > "$0/helper"
                   exec sleep 283' "$0" &
            while [ ! -s "$0/escaped" ] || [ ! -s "$0/helper" ]; do sleep 0.01; done
            # Each has exec'd sleep (its last trapped call) before the command exits.
            for f in bg escaped helper; do
                read -r p < "$0/$f"
                c=; while [ "$c" != sleep ]; do read -r c < "/proc/$p/comm" || exit 9; done
            done
        "#;
        let mut config = SpawnConfig::new(["sh", "-c", script, &dir.display().to_string()], caps);
        config.pty = PtyMode::Never;
        config.forward_signals = false;
        config.trap_opens = true;
        let outcome = run(config).expect("run");
        let (bg, escaped, helper) = (
            pid_in(&dir.join("bg")),
            pid_in(&dir.join("escaped")),
            pid_in(&dir.join("helper")),
        );
        let left: Vec<(u32, Option<(char, u32)>)> = [bg, escaped, helper]
            .into_iter()
            .filter(|&p| alive(p))
            .map(|p| (p, proc_state(p)))
            .collect();
        // Never leave them behind, even when the check fails.
        for (p, _) in &left {
            kill(*p, Signal::KILL);
        }
        assert!(
            left.is_empty(),
            "still running after run returned (pid, state/ppid): {left:?}"
        );
        assert_eq!(outcome.exit, ExitStatusKind::Code(0), "{outcome:?}");
        vec![bg, escaped, helper]
    });
}

/// The same through the binary, with the exact LOAD repro: the background `sleep` is gone
/// when nono has exited.
#[test]
fn nono_run_leaves_no_background_job_behind() {
    leak_checked("load-leftovers-cli", |s| {
        let mut cmd = nono(&s.path);
        cmd.args([
            "run",
            "-s",
            "--",
            "sh",
            "-c",
            r#"sleep 281 >/dev/null 2>&1 & echo "load-child: bg $!"; read -r x; exit 0"#,
        ]);
        let mut p = Proc::spawn(&mut cmd);
        let bg: u32 = p.expect_line("load-child: bg").parse().unwrap();
        // The job has made its last trapped call (the exec of sleep); then end of input on the
        // command's `read` ends it.
        wait_for_exec(bg, "sleep");
        let nono_pid = p.pid;
        let f = p.finish();
        assert_eq!(f.code, Some(0), "{f}");
        let still = alive(bg);
        if still {
            kill(bg, Signal::KILL);
        }
        assert!(!still, "the background job outlived nono");
        vec![nono_pid, bg]
    });
}

/// SIGKILL to nono: no code of the supervisor runs. The run's init (the supervisor's direct
/// child, a child subreaper with a parent-death signal) ends the whole tree within a second:
/// a background job of the command, a double-forked daemon in a session of its own, and a
/// `setsid` child that is still the command's — none of them outlives nono. (Before the
/// init, the background job and the daemon kept running, confined but unsupervised.)
///
/// The background job waits on the stdin nono gave it; a leftover would print its result
/// once the test closes it.
#[test]
fn after_sigkill_of_nono_nothing_is_left() {
    leak_checked("load-sigkill-left", |s| {
        let secret = s.write("outside/secret", "secret-outside\n");
        // A non-interactive shell gives `&` jobs /dev/null as stdin: pass the real one as fd 3.
        let script = r#"
            exec 3<&0
            ( read -r go <&3
              if read -r line < "$0"; then echo "load-child: result READ $line"
              else echo "load-child: result refused"; fi ) &
            job=$!
            daemon=$( (setsid sleep 300 < /dev/null > /dev/null 2>&1 & echo $!) )
            setsid sleep 300 < /dev/null &
            echo "load-child: pids $job $daemon $!"
            exec sleep 300 < /dev/null
        "#;
        let mut cmd = nono(&s.path);
        cmd.args(["run", "-s", "--", "sh", "-c", script])
            .arg(&secret);
        let mut p = Proc::spawn(&mut cmd);
        let pids: Vec<u32> = p
            .expect_line("load-child: pids")
            .split_whitespace()
            .map(|w| w.parse().unwrap())
            .collect();
        let [left, daemon, setsid] = pids[..] else {
            panic!("three pids expected: {pids:?}")
        };
        wait_for_exec(daemon, "sleep");
        wait_for_exec(setsid, "sleep");
        let nono_pid = p.pid;
        kill(nono_pid, Signal::KILL);
        let killed = Instant::now();
        assert!(wait_dead(nono_pid), "nono survived SIGKILL");
        for (what, pid) in [
            ("background job", left),
            ("daemon", daemon),
            ("setsid child", setsid),
        ] {
            assert!(wait_dead(pid), "the {what} ({pid}) outlived nono");
        }
        let took = killed.elapsed();
        let f = p.finish();
        assert_eq!(f.signal, Some(9), "{f}");
        assert!(!f.stdout.contains("load-child: result"), "{f}");
        assert!(!f.stdout.contains("secret-outside"), "{f}");
        assert!(
            took <= Duration::from_secs(1),
            "the tree took {took:?} to end after nono's SIGKILL"
        );
        vec![nono_pid, left, daemon, setsid]
    });
}

//! `nono shell`: $SHELL (fallback /bin/sh) in the sandbox; on a terminal, on its own PTY.

use std::io::Write;
use std::process::Stdio;

use crate::harness::{nono_bin, nono_cmd, sandbox_available, Scratch};

#[test]
fn shell_runs_shell_with_piped_input() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("shell-pipe");
    let mut cmd = nono_cmd(&s.path);
    cmd.env("SHELL", "/bin/sh")
        .args(["shell", "-s", "--allow-cwd"])
        .stdin(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"echo inside-$((6*7)) > made.txt; cat made.txt; cat /etc/shadow; exit 4\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "inside-42\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Permission denied"));
}

#[test]
fn shell_falls_back_to_bin_sh_and_dry_runs() {
    let s = Scratch::new("shell-dry");
    let out = nono_cmd(&s.path)
        .env_remove("SHELL")
        .args(["shell", "--dry-run"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("nono shell plan"), "{stdout}");
    assert!(stdout.contains("command:  /bin/sh"), "{stdout}");
}

#[test]
fn shell_on_a_terminal_gets_its_own_pty() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("shell-pty");
    // script(1) gives nono a terminal on stdin/stdout/stderr, so the supervisor puts the shell
    // on its own PTY; `tty` inside prints that PTY's name.
    let inner = format!(
        "SHELL=/bin/sh {} shell -s --allow-cwd",
        nono_bin().display()
    );
    let mut child = std::process::Command::new("script")
        .args(["-qec", &inner, "/dev/null"])
        .current_dir(&s.path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"tty; echo answer-$((6*7)); exit 5\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("answer-42"), "{stdout}");
    assert!(stdout.contains("/dev/pts/"), "{stdout}");
    assert_eq!(out.status.code(), Some(5), "{stdout}");
}

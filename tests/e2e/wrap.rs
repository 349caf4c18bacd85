//! `nono wrap`: the same flags, the sandbox applied in-process, then `exec` (no supervisor).

use crate::harness::{cat_outside_work, nono, nono_cmd, output, sandbox_available, Scratch};

#[test]
fn exit_status_and_exec_failures() {
    let s = Scratch::new("wrap-exit");
    nono(&s.path, ["wrap", "-s", "--", "sh", "-c", "exit 9"]).expect_code(9);
    // nono has become the command, so the signal kills "nono" itself (a shell shows 137).
    let out = nono(&s.path, ["wrap", "-s", "--", "sh", "-c", "kill -KILL $$"]);
    assert_eq!(out.signal, Some(9), "{out}");
    nono(&s.path, ["wrap", "--", "no-such-command-nono-e2e"])
        .expect_code(127)
        .stderr_has("no-such-command-nono-e2e");
    let script = s.write("noexec.sh", "#!/bin/sh\n");
    nono(
        &s.path,
        [
            "wrap",
            "--read",
            &s.s(""),
            "--",
            &script.display().to_string(),
        ],
    )
    .expect_code(126);
    nono(
        &s.path,
        ["wrap", "--allow", "/nonexistent/nono-dir", "--", "true"],
    )
    .expect_code(125)
    .stderr_has("/nonexistent/nono-dir");
}

#[test]
fn no_supervisor_is_left_the_command_replaces_nono() {
    let s = Scratch::new("wrap-exec");
    let child = nono_cmd(&s.path)
        .args(["wrap", "-s", "--", "sh", "-c", "echo $$"])
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), pid.to_string());
}

#[test]
fn denials_come_from_the_kernel() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("wrap-deny");
    let secret = s.write("private/x.txt", "secret");
    let out = cat_outside_work(&s, &["wrap"], &secret);
    out.expect_code(1).stderr_has("Permission denied");
    assert!(!out.stdout.contains("secret"));
    nono(
        &s.path,
        [
            "wrap",
            "-s",
            "--read",
            &s.s("private"),
            "--",
            "cat",
            &secret.display().to_string(),
        ],
    )
    .expect_code(0)
    .stdout_has("secret");
    let out = nono(
        &s.path,
        [
            "wrap",
            "-s",
            "--block-net",
            "--",
            "bash",
            "-c",
            "exec 3<>/dev/tcp/127.0.0.1/9",
        ],
    );
    assert_ne!(out.code, Some(0), "{out}");
    nono(
        &s.path,
        ["wrap", "--dry-run", "--read", &s.s("private"), "--", "true"],
    )
    .expect_code(0)
    .stdout_has(&s.s("private"));
}

/// wrap execs the file `execvp` would run without trying each `PATH` entry first (issue 14):
/// what runs, `argv[0]`, and the errors stay `execvp`'s. `PATH` here: a plain file of the
/// command's name, then an executable copy the sandbox does not let run (Landlock refuses
/// the exec, `execvp` goes on), then the one granted: the granted one runs, with `argv[0]`
/// as typed. A command found nowhere is still 127 with its name, and one whose only
/// candidate may not run is still 126.
#[test]
fn wrap_runs_what_execvp_would_with_argv0_as_given() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("wrap-path");
    let sh = std::fs::canonicalize("/bin/sh").unwrap();
    let name = "nono-e2e-sh";
    s.write(&format!("plain/{name}"), "not a program");
    for d in ["denied", "granted"] {
        s.mkdir(d);
        std::fs::copy(&sh, s.join(d).join(name)).unwrap();
    }
    let path = |dirs: &[&str]| {
        let mut v: Vec<String> = dirs.iter().map(|d| s.s(d)).collect();
        v.extend(["/usr/bin".to_owned(), "/bin".to_owned()]);
        v.join(":")
    };
    let wrap = |dirs: &[&str], cmd: &str| {
        output(
            nono_cmd(&s.path)
                .env("PATH", path(dirs))
                .args(["wrap", "-s", "--read", &s.s("granted"), "--", cmd])
                .args(["-c", "echo \"argv0=$0\""]),
        )
    };
    wrap(&["plain", "denied", "granted"], name)
        .expect_code(0)
        .stdout_has(&format!("argv0={name}\n"));
    wrap(&["plain", "denied"], name).expect_code(126);
    wrap(&["plain", "granted"], "nono-e2e-no-such-command")
        .expect_code(127)
        .stderr_has("nono-e2e-no-such-command");
}

/// The Landlock ruleset build holds the rules' descriptors to close them together: under a
/// low descriptor limit (`ulimit -n 12`, fewer than the default profile's ~170 rules) it
/// closes what it holds and opens again, so wrap works as it did with one `close` per
/// rule, and the sandbox is the same (the grant writable, outside it refused).
#[test]
fn a_low_descriptor_limit_still_builds_the_whole_ruleset() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("wrap-nofile");
    let work = s.mkdir("work");
    let outside = s.join("outside.txt");
    let script = format!(
        "echo in > {w}/in.txt && cat /etc/hostname >/dev/null && \
         if echo out > {o}; then echo WROTE-OUTSIDE; fi",
        w = work.display(),
        o = outside.display()
    );
    let mut cmd = std::process::Command::new("sh");
    if let Some(state) = crate::harness::state_home_for(&s.path) {
        cmd.env("XDG_STATE_HOME", state);
    }
    cmd.current_dir(&s.path).env_remove("RUST_LOG").args([
        "-c",
        "ulimit -n 12 && exec \"$0\" \"$@\"",
        &crate::harness::nono_bin().display().to_string(),
        "wrap",
        "-s",
        "--allow",
        &work.display().to_string(),
        "--",
        "sh",
        "-c",
        &script,
    ]);
    let out = output(&mut cmd);
    out.expect_code(0);
    assert!(!out.stdout.contains("WROTE-OUTSIDE"), "{out}");
    assert!(!outside.exists(), "{out}");
    assert_eq!(
        std::fs::read_to_string(work.join("in.txt")).unwrap(),
        "in\n"
    );
}

//! `nono run`: exit statuses, stdio pass-through, every sandbox flag, real kernel denials and
//! the denial report, runtime grants and the audit log.

use std::io::Write;
use std::net::TcpListener;
use std::process::Stdio;

use crate::harness::{cat_outside_work, nono, nono_cmd, output, sandbox_available, Scratch};

#[test]
fn exit_status_is_the_childs() {
    let s = Scratch::new("run-exit");
    nono(&s.path, ["run", "-s", "--", "sh", "-c", "exit 7"]).expect_code(7);
    nono(&s.path, ["run", "-s", "--", "true"]).expect_code(0);
    nono(&s.path, ["run", "-s", "--", "false"]).expect_code(1);
}

#[test]
fn killed_by_signal_is_128_plus_n() {
    let s = Scratch::new("run-signal");
    nono(&s.path, ["run", "-s", "--", "sh", "-c", "kill -KILL $$"]).expect_code(137);
    nono(&s.path, ["run", "-s", "--", "sh", "-c", "kill -TERM $$"]).expect_code(143);
}

#[test]
fn missing_command_is_127_and_not_executable_is_126() {
    let s = Scratch::new("run-exec");
    nono(&s.path, ["run", "--", "no-such-command-nono-e2e"])
        .expect_code(127)
        .stderr_has("no-such-command-nono-e2e");
    let script = s.write("noexec.sh", "#!/bin/sh\necho hi\n");
    let script = script.display().to_string();
    nono(&s.path, ["run", "--read", &s.s(""), "--", &script])
        .expect_code(126)
        .stderr_has("noexec.sh");
}

#[test]
fn nono_failures_are_125_with_one_line_naming_the_input() {
    let s = Scratch::new("run-125");
    let out = nono(
        &s.path,
        ["run", "-p", "/nonexistent/profile.json", "--", "true"],
    );
    out.expect_code(125).stderr_has("/nonexistent/profile.json");
    assert_eq!(out.stderr.trim_end().lines().count(), 1, "{out}");

    let out = nono(
        &s.path,
        ["run", "-p", "no-such-builtin-profile", "--", "true"],
    );
    out.expect_code(125).stderr_has("no-such-builtin-profile");

    let out = nono(
        &s.path,
        ["run", "--allow", "/nonexistent/nono-dir", "--", "true"],
    );
    out.expect_code(125).stderr_has("/nonexistent/nono-dir");
    assert_eq!(out.stderr.trim_end().lines().count(), 1, "{out}");

    let bad = s.write("bad.json", "{ not json");
    let out = nono(
        &s.path,
        ["run", "-p", &bad.display().to_string(), "--", "true"],
    );
    out.expect_code(125).stderr_has("bad.json");

    let file = s.write("f.txt", "x");
    nono(
        &s.path,
        ["run", "--read", &file.display().to_string(), "--", "true"],
    )
    .expect_code(125)
    .stderr_has("--read-file");
}

#[test]
fn stdio_passes_through_untouched() {
    let s = Scratch::new("run-stdio");
    let mut cmd = nono_cmd(&s.path);
    cmd.args(["run", "--", "sh", "-c", "cat; echo to-stderr >&2"])
        .stdin(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let payload = "line one\nline two\n\u{1F600} binary-ish \t\n";
    child
        .stdin
        .take()
        .unwrap()
        .write_all(payload.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        payload,
        "stdout must be the child's only"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("to-stderr"));
}

#[test]
fn cwd_is_not_granted_implicitly_and_only_noted() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("run-cwd");
    let out = nono(&s.path, ["run", "--", "sh", "-c", "echo x > here.txt"]);
    assert_ne!(out.code, Some(0), "{out}");
    out.stderr_has("--allow-cwd");
    assert!(!s.join("here.txt").exists());

    // -s: nothing of nono's own.
    let out = nono(
        &s.path,
        [
            "run",
            "-s",
            "--",
            "sh",
            "-c",
            "exec 2>/dev/null; echo x > here.txt",
        ],
    );
    assert_ne!(out.code, Some(0), "{out}");
    assert_eq!(out.stderr, "", "{out}");

    let out = nono(
        &s.path,
        ["run", "--allow-cwd", "--", "sh", "-c", "echo x > here.txt"],
    );
    out.expect_code(0);
    assert!(!out.stderr.contains("--allow-cwd"), "{out}");
    assert_eq!(std::fs::read_to_string(s.join("here.txt")).unwrap(), "x\n");
}

#[test]
fn workdir_sets_where_the_command_runs() {
    let s = Scratch::new("run-workdir");
    let wd = s.mkdir("wd");
    let out = nono(
        &s.path,
        [
            "run",
            "-s",
            "--workdir",
            &wd.display().to_string(),
            "--read",
            &s.s("wd"),
            "--",
            "pwd",
        ],
    );
    out.expect_code(0);
    assert_eq!(out.stdout.trim(), wd.display().to_string());

    // --allow-cwd grants the workdir, not the current directory.
    let out = nono(
        &s.path,
        [
            "run",
            "-s",
            "--workdir",
            &s.s("wd"),
            "--allow-cwd",
            "--",
            "sh",
            "-c",
            "echo y > in-wd.txt",
        ],
    );
    out.expect_code(0);
    assert!(wd.join("in-wd.txt").exists());
}

#[test]
fn read_outside_the_grants_is_refused_by_the_kernel_and_reported() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("run-deny");
    let secret = s.write("private/data/x.csv", "secret");
    let out = cat_outside_work(&s, &["run"], &secret);
    out.expect_code(1).stderr_has("Permission denied");
    assert!(!out.stdout.contains("secret"));
    let dir = s.s("private/data");
    out.stderr_has(&format!(
        "nono: denied read of {} → add --read {dir} (or --read-file {})",
        secret.display(),
        secret.display()
    ));

    // -s: the command's own error only.
    let out = cat_outside_work(&s, &["run", "-s"], &secret);
    out.expect_code(1);
    assert!(!out.stderr.contains("nono:"), "{out}");
}

#[test]
fn etc_shadow_is_refused_and_named() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("run-shadow");
    let out = nono(
        &s.path,
        ["run", "--allow", &s.s(""), "--", "cat", "/etc/shadow"],
    );
    assert_ne!(out.code, Some(0), "{out}");
    out.stderr_has("Permission denied")
        .stderr_has("nono: denied read of /etc/shadow");
}

#[test]
fn report_is_deduplicated_and_sorted() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("run-dedup");
    s.write("p/b.txt", "b");
    s.write("p/a.txt", "a");
    let script = format!(
        "cat {b} {b} {a} 2>/dev/null; cat {b} 2>/dev/null; echo new > {c} 2>/dev/null; exit 0",
        a = s.s("p/a.txt"),
        b = s.s("p/b.txt"),
        c = s.s("p/c.txt"),
    );
    let out = nono(&s.path, ["run", "--", "sh", "-c", &script]);
    out.expect_code(0);
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("nono: denied"))
        .collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].contains(&format!("read of {}", s.s("p/a.txt"))),
        "{out}"
    );
    assert!(
        lines[1].contains(&format!("read of {}", s.s("p/b.txt"))),
        "{out}"
    );
    assert!(
        lines[2].contains(&format!(
            "write of {} → add --write {}",
            s.s("p/c.txt"),
            s.s("p")
        )),
        "{out}"
    );
}

#[test]
fn read_write_and_file_grants() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("run-grants");
    s.write("r/in.txt", "in");
    s.mkdir("w");
    s.write("files/ro.txt", "ro");
    s.write("files/wo.txt", "");
    s.write("files/rw.txt", "rw");
    s.write("files/other.txt", "other");
    let r = s.s("r");
    let w = s.s("w");

    // --read: read yes, write no.
    nono(
        &s.path,
        ["run", "-s", "--read", &r, "--", "cat", &s.s("r/in.txt")],
    )
    .expect_code(0)
    .stdout_has("in");
    let out = nono(
        &s.path,
        [
            "run",
            "--read",
            &r,
            "--",
            "sh",
            "-c",
            &format!("echo x > {r}/new"),
        ],
    );
    assert_ne!(out.code, Some(0), "{out}");
    out.stderr_has(&format!("denied write of {r}/new → add --write {r}"));

    // --write: create yes, read back no.
    nono(
        &s.path,
        [
            "run",
            "-s",
            "--write",
            &w,
            "--",
            "sh",
            "-c",
            &format!("echo x > {w}/new"),
        ],
    )
    .expect_code(0);
    assert!(s.join("w/new").exists());
    let out = nono(
        &s.path,
        ["run", "-s", "--write", &w, "--", "cat", &format!("{w}/new")],
    );
    assert_ne!(out.code, Some(0), "{out}");

    // -a/--allow: both.
    nono(
        &s.path,
        [
            "run",
            "-s",
            "-a",
            &w,
            "--",
            "sh",
            "-c",
            &format!("cat {w}/new && echo y >> {w}/new"),
        ],
    )
    .expect_code(0)
    .stdout_has("x");

    // --read-file: only that file.
    nono(
        &s.path,
        [
            "run",
            "-s",
            "--read-file",
            &s.s("files/ro.txt"),
            "--",
            "cat",
            &s.s("files/ro.txt"),
        ],
    )
    .expect_code(0)
    .stdout_has("ro");
    let out = nono(
        &s.path,
        [
            "run",
            "--read-file",
            &s.s("files/ro.txt"),
            "--",
            "cat",
            &s.s("files/other.txt"),
        ],
    );
    assert_ne!(out.code, Some(0), "{out}");
    out.stderr_has(&format!("denied read of {}", s.s("files/other.txt")));

    // --write-file: write yes, read no.
    nono(
        &s.path,
        [
            "run",
            "-s",
            "--write-file",
            &s.s("files/wo.txt"),
            "--",
            "sh",
            "-c",
            &format!("echo z > {}", s.s("files/wo.txt")),
        ],
    )
    .expect_code(0);
    assert_eq!(
        std::fs::read_to_string(s.join("files/wo.txt")).unwrap(),
        "z\n"
    );
    let out = nono(
        &s.path,
        [
            "run",
            "-s",
            "--write-file",
            &s.s("files/wo.txt"),
            "--",
            "cat",
            &s.s("files/wo.txt"),
        ],
    );
    assert_ne!(out.code, Some(0), "{out}");

    // --allow-file: both.
    nono(
        &s.path,
        [
            "run",
            "-s",
            "--allow-file",
            &s.s("files/rw.txt"),
            "--",
            "sh",
            "-c",
            &format!("cat {f} && echo more >> {f}", f = s.s("files/rw.txt")),
        ],
    )
    .expect_code(0)
    .stdout_has("rw");
}

#[test]
fn dry_run_prints_the_plan_and_runs_nothing() {
    let s = Scratch::new("run-dry");
    s.mkdir("work");
    let marker = s.join("work/marker");
    let out = nono(
        &s.path,
        [
            "run",
            "--dry-run",
            "--allow",
            &s.s("work"),
            "--read-file",
            &s.s("work/../work"),
            "--block-net",
            "--",
            "touch",
            &marker.display().to_string(),
        ],
    );
    // --read-file on a directory is an error even in a dry run: the plan is the real one.
    out.expect_code(125)
        .stderr_has("use --read for a directory");

    let out = nono(
        &s.path,
        [
            "run",
            "--dry-run",
            "--allow",
            &s.s("work"),
            "--allow-connect-port",
            "443",
            "--",
            "touch",
            &marker.display().to_string(),
        ],
    );
    out.expect_code(0)
        .stdout_has(&s.s("work"))
        .stdout_has("--allow")
        .stdout_has("touch")
        .stdout_has("443")
        .stdout_has("enforced")
        .stdout_has("strict");
    assert!(!marker.exists(), "dry run must not run the command");
    let out = nono(&s.path, ["run", "--dry-run", "--best-effort", "--", "true"]);
    out.expect_code(0).stdout_has("best-effort");

    // An optional profile path missing here is named as skipped, never silently dropped.
    let missing = s.s("not-here");
    s.write(
        "p.json",
        &format!(
            r#"{{"name": "p", "extends": "default",
                "filesystem": {{"read": [{{"path": "{missing}", "optional": true}}]}}}}"#
        ),
    );
    let out = nono(
        &s.path,
        ["run", "--dry-run", "-p", &s.s("p.json"), "--", "true"],
    );
    out.expect_code(0)
        .stdout_has("skipped (optional in the profile, missing here):")
        .stdout_has(&format!("  {missing}\n"));
}

#[test]
fn verbose_logs_to_stderr_and_silent_prints_nothing() {
    let s = Scratch::new("run-verbose");
    let out = nono(
        &s.path,
        ["run", "-vv", "--allow", &s.s(""), "--", "echo", "hi"],
    );
    out.expect_code(0);
    assert_eq!(out.stdout, "hi\n");
    assert!(
        out.stderr.contains("DEBUG") || out.stderr.contains("INFO"),
        "{out}"
    );
    let out = nono(&s.path, ["run", "-s", "--", "echo", "hi"]);
    out.expect_code(0);
    assert_eq!(out.stderr, "");
    assert_eq!(out.stdout, "hi\n");
}

fn bash_connect(port: u16) -> String {
    format!("exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected")
}

#[test]
fn network_flags() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("run-net");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let other_port = other.local_addr().unwrap().port();
    let p = port.to_string();
    // `nono run -s NONO_FLAGS -- bash -c 'connect to PORT'`.
    let connect = |nono_flags: &[&str], port: u16| {
        let script = bash_connect(port);
        nono(
            &s.path,
            ["run", "-s"]
                .iter()
                .chain(nono_flags)
                .chain(&["--", "bash", "-c", &script]),
        )
    };

    connect(&[], port).expect_code(0).stdout_has("connected");
    for flag in ["--block-net", "--net-block"] {
        let out = connect(&[flag], port);
        assert_ne!(out.code, Some(0), "{flag}: {out}");
    }
    connect(&["--allow-connect-port", &p], port)
        .expect_code(0)
        .stdout_has("connected");
    let out = connect(&["--allow-connect-port", &p], other_port);
    assert_ne!(out.code, Some(0), "{out}");

    // bind: pick a free port, release it, let the child bind it.
    let free = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // `nono run -s --allow-bind-port FREE -- perl -e 'bind PORT'` (exit 3 if refused).
    let bind = |port: u16| {
        let script = format!("use IO::Socket::INET; IO::Socket::INET->new(LocalAddr=>'127.0.0.1', LocalPort=>{port}, Listen=>1, ReuseAddr=>1) or exit 3; print qq(bound\\n)");
        let free = free.to_string();
        nono(
            &s.path,
            [
                "run",
                "-s",
                "--allow-bind-port",
                &free,
                "--",
                "perl",
                "-e",
                &script,
            ],
        )
    };
    bind(free).expect_code(0).stdout_has("bound");
    bind(other_port.wrapping_add(1)).expect_code(3);
}

/// A fake home with a credential in it, for deny-group tests.
fn fake_home(s: &Scratch) -> std::path::PathBuf {
    s.write("home/.ssh/id_rsa", "PRIVATE KEY");
    s.write("home/project/readme", "hello");
    s.join("home")
}

#[test]
fn deny_groups_win_and_bypass_needs_an_explicit_grant() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("run-bypass");
    let home = fake_home(&s);
    let key = home.join(".ssh/id_rsa").display().to_string();
    let h = home.display().to_string();

    let run = |args: &[&str]| {
        let mut cmd = nono_cmd(&s.path);
        cmd.env("HOME", &home).args(args);
        output(&mut cmd)
    };

    // --allow on the home does not reach the credential.
    let out = run(&["run", "--allow", &h, "--", "cat", &key]);
    assert_ne!(out.code, Some(0), "{out}");
    out.stderr_has("Permission denied")
        .stderr_has(&format!("nono: denied read of {key}"))
        .stderr_has("credentials")
        .stderr_has("--bypass-protection");
    assert!(!out.stdout.contains("PRIVATE"));

    // --bypass-protection without a matching explicit grant is an error.
    let out = run(&[
        "run",
        "--allow",
        &h,
        "--bypass-protection",
        &key,
        "--",
        "cat",
        &key,
    ]);
    out.expect_code(125)
        .stderr_has("--bypass-protection")
        .stderr_has(&key);

    // ...on a path no deny group covers, too.
    let readme = home.join("project/readme").display().to_string();
    run(&[
        "run",
        "--read-file",
        &readme,
        "--bypass-protection",
        &readme,
        "--",
        "true",
    ])
    .expect_code(125);

    // With the explicit grant it works.
    run(&[
        "run",
        "-s",
        "--read-file",
        &key,
        "--bypass-protection",
        &key,
        "--",
        "cat",
        &key,
    ])
    .expect_code(0)
    .stdout_has("PRIVATE KEY");
}

#[test]
fn approve_grants_at_runtime_and_is_audited() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("run-approve");
    let file = s.write("data/in.txt", "runtime-granted");
    let audit = s.join("audit.jsonl");
    let out = nono(
        &s.path,
        [
            "run",
            "--approve",
            &s.s("data"),
            "--audit-log",
            &audit.display().to_string(),
            "--",
            "cat",
            &file.display().to_string(),
        ],
    );
    out.expect_code(0).stdout_has("runtime-granted");
    let log = std::fs::read_to_string(&audit).expect("audit log written");
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).expect("each audit line is JSON"))
        .collect();
    assert!(!lines.is_empty());
    assert!(log.contains(&file.display().to_string()), "{log}");
    assert!(log.contains("Granted"), "{log}");
}

#[test]
fn approve_never_overrides_a_deny_group() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("run-approve-deny");
    let home = fake_home(&s);
    let key = home.join(".ssh/id_rsa").display().to_string();
    let audit = s.join("audit.jsonl");
    let mut cmd = nono_cmd(&s.path);
    cmd.env("HOME", &home).args([
        "run",
        "--approve",
        &home.display().to_string(),
        "--audit-log",
        &audit.display().to_string(),
        "--",
        "cat",
        &key,
    ]);
    let out = output(&mut cmd);
    assert_ne!(out.code, Some(0), "{out}");
    out.stderr_has("credentials");
    assert!(!out.stdout.contains("PRIVATE"));
}

#[test]
fn capability_elevation_without_a_terminal_denies_and_audits() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("run-elevation");
    let file = s.write("data/in.txt", "x");
    let audit = s.join("audit.jsonl");
    // setsid: no controlling terminal, so /dev/tty cannot be opened and the prompt denies
    // (also when the tests themselves run on a terminal).
    let mut cmd = std::process::Command::new("setsid");
    cmd.current_dir(&s.path)
        .stdin(Stdio::null())
        .arg("-w")
        .arg(crate::harness::nono_bin())
        .args([
            "run",
            "--capability-elevation",
            "--audit-log",
            &audit.display().to_string(),
            "--",
            "cat",
            &file.display().to_string(),
        ]);
    let out = output(&mut cmd);
    assert_ne!(out.code, Some(0), "{out}");
    out.stderr_has(&format!("denied read of {}", file.display()));
    let log = std::fs::read_to_string(&audit).expect("audit log written");
    assert!(log.contains(&file.display().to_string()), "{log}");
    assert!(log.contains("Denied"), "{log}");
}

#[test]
fn signals_to_nono_are_forwarded_to_the_command() {
    use std::io::BufRead;
    let s = Scratch::new("run-sigterm");
    let mut child = nono_cmd(&s.path)
        .args(["run", "-s", "--", "sh", "-c", "echo ready; exec sleep 600"])
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "ready\n");
    // The command is running, so the supervisor's signal handling is in place.
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143), "{status:?}");
}

#[test]
fn bypass_of_one_file_keeps_the_rest_of_the_group_protected() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("run-bypass-narrow");
    let home = fake_home(&s);
    s.write("home/.ssh/config", "Host *");
    let key = home.join(".ssh/id_rsa").display().to_string();
    let h = home.display().to_string();
    let script = format!(
        "cat {key}; cat {h}/.ssh/config; echo evil > {h}/.ssh/authorized_keys; ls {h}/.ssh; exit 0"
    );
    let mut cmd = nono_cmd(&s.path);
    cmd.env("HOME", &home).args([
        "run",
        "--allow",
        &h,
        "--read-file",
        &key,
        "--bypass-protection",
        &key,
        "--",
        "sh",
        "-c",
        &script,
    ]);
    let out = output(&mut cmd);
    out.expect_code(0).stdout_has("PRIVATE KEY");
    assert!(!out.stdout.contains("Host *"), "{out}");
    assert!(!home.join(".ssh/authorized_keys").exists(), "{out}");
    out.stderr_has(&format!("denied read of {h}/.ssh/config"));

    // With the key alone in ~/.ssh there is no sibling to deny: still nothing can be added.
    std::fs::remove_file(home.join(".ssh/config")).unwrap();
    let mut cmd = nono_cmd(&s.path);
    cmd.env("HOME", &home).args([
        "run",
        "-s",
        "--allow",
        &h,
        "--read-file",
        &key,
        "--bypass-protection",
        &key,
        "--",
        "sh",
        "-c",
        &format!("echo evil > {h}/.ssh/authorized_keys"),
    ]);
    let out = output(&mut cmd);
    assert_ne!(out.code, Some(0), "{out}");
    assert!(!home.join(".ssh/authorized_keys").exists(), "{out}");
}

#[test]
fn short_flags_builtin_profiles_and_best_effort() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("run-short");
    s.write("r/in.txt", "short-read");
    s.mkdir("w");
    nono(
        &s.path,
        [
            "run",
            "-s",
            "-r",
            &s.s("r"),
            "-w",
            &s.s("w"),
            "--",
            "sh",
            "-c",
            &format!("cat {}/in.txt > {}/copy.txt", s.s("r"), s.s("w")),
        ],
    )
    .expect_code(0);
    assert_eq!(
        std::fs::read_to_string(s.join("w/copy.txt")).unwrap(),
        "short-read"
    );
    for profile in ["default", "rust", "python", "node"] {
        nono(&s.path, ["run", "-s", "-p", profile, "--", "true"]).expect_code(0);
        nono(&s.path, ["run", "-s", "--profile", profile, "--", "true"]).expect_code(0);
    }
    // Best-effort on a kernel that has everything: runs, nothing to report.
    let out = nono(
        &s.path,
        ["run", "--best-effort", "--allow-cwd", "--", "echo", "ok"],
    );
    out.expect_code(0);
    assert_eq!(out.stdout, "ok\n");
    assert!(!out.stderr.contains("NOT enforced"), "{out}");
}

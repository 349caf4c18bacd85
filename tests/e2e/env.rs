//! The command's environment and temporary directory: `--setenv`, `--unsetenv`,
//! `--clearenv`, the profile's `environment.set`, the credential-variable group (names in one
//! note, values never printed), `--private-tmp`, and `--dry-run --json`.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::harness::{nono, nono_cmd, output, sandbox_available, Run, Scratch};

/// `nono MODE ARGS -- sh -c 'env'` with `env` added to nono's environment; the child's
/// variables as `NAME=VALUE` lines.
fn child_env(mode: &str, cwd: &Path, env: &[(&str, &str)], args: &[&str]) -> (Run, Vec<String>) {
    let mut cmd = nono_cmd(cwd);
    cmd.envs(env.iter().copied())
        .arg(mode)
        .args(args)
        .args(["--", "/usr/bin/env"]);
    let run = output(&mut cmd);
    let vars = run.stdout.lines().map(str::to_owned).collect();
    (run, vars)
}

fn has(vars: &[String], name_value: &str) -> bool {
    vars.iter().any(|v| v == name_value)
}

fn has_name(vars: &[String], name: &str) -> bool {
    vars.iter().any(|v| v.starts_with(&format!("{name}=")))
}

#[test]
fn setenv_unsetenv_and_profile_set() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("env-flags");
    s.write(
        "p.json",
        r#"{"name": "p", "extends": "default",
            "environment": {"set": {"FROM_PROFILE": "p", "BOTH": "profile"}}}"#,
    );
    let p = s.s("p.json");
    for mode in ["run", "wrap"] {
        let (run, vars) = child_env(
            mode,
            &s.path,
            &[("NONO_E2E_PASS", "inherited"), ("NONO_E2E_GONE", "x")],
            &[
                "-s",
                "-p",
                &p,
                "--setenv",
                "NONO_E2E_SET=a=b",
                "--setenv",
                "BOTH=flag",
                "--unsetenv",
                "NONO_E2E_GONE",
            ],
        );
        run.expect_code(0);
        assert!(has(&vars, "NONO_E2E_SET=a=b"), "{mode}: {run}");
        assert!(has(&vars, "NONO_E2E_PASS=inherited"), "{mode}: {run}");
        assert!(has(&vars, "FROM_PROFILE=p"), "{mode}: {run}");
        assert!(has(&vars, "BOTH=flag"), "{mode}: --setenv wins\n{run}");
        assert!(!has_name(&vars, "NONO_E2E_GONE"), "{mode}: {run}");
    }
}

#[test]
fn clearenv_keeps_only_the_base_list() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("env-clear");
    for mode in ["run", "wrap"] {
        let (run, vars) = child_env(
            mode,
            &s.path,
            &[("NONO_E2E_DROPPED", "x"), ("TERM", "xterm"), ("USER", "u")],
            &["-s", "--clearenv", "--setenv", "NONO_E2E_KEPT=1"],
        );
        run.expect_code(0);
        let names: Vec<&str> = vars.iter().filter_map(|v| v.split('=').next()).collect();
        for n in &names {
            assert!(
                [
                    "PATH",
                    "HOME",
                    "TERM",
                    "LANG",
                    "USER",
                    "TMPDIR",
                    "NONO_E2E_KEPT"
                ]
                .contains(n),
                "{mode}: {n} passed --clearenv\n{run}"
            );
        }
        assert!(has(&vars, "NONO_E2E_KEPT=1"), "{mode}: {run}");
        assert!(has(&vars, "TERM=xterm"), "{mode}: {run}");
        assert!(has_name(&vars, "PATH"), "{mode}: {run}");
    }
}

#[test]
fn bad_environment_flags_are_errors_with_the_fix() {
    let s = Scratch::new("env-bad");
    nono(
        &s.path,
        ["run", "--setenv", "NONO_E2E_NOT_SET_ANYWHERE", "--", "true"],
    )
    .expect_code(125)
    .stderr_has("--setenv NONO_E2E_NOT_SET_ANYWHERE=VALUE");
    nono(
        &s.path,
        ["run", "--setenv", "LD_PRELOAD=/x.so", "--", "true"],
    )
    .expect_code(125)
    .stderr_has("--setenv LD_PRELOAD");
    nono(
        &s.path,
        ["run", "--setenv", "A=1", "--unsetenv", "A", "--", "true"],
    )
    .expect_code(125)
    .stderr_has("drop one");
    nono(&s.path, ["wrap", "--private-tmp", "--", "true"])
        .expect_code(125)
        .stderr_has("nono run --private-tmp");
    nono(
        &s.path,
        [
            "run",
            "--private-tmp",
            "--setenv",
            "TMPDIR=/x",
            "--",
            "true",
        ],
    )
    .expect_code(125)
    .stderr_has("--private-tmp");
    s.write(
        "bad.json",
        r#"{"name": "bad", "environment": {"set": {"LD_AUDIT": "/x.so"}}}"#,
    );
    nono(&s.path, ["run", "-p", &s.s("bad.json"), "--", "true"])
        .expect_code(125)
        .stderr_has("environment.set.LD_AUDIT");
}

/// Secret values that must never appear in anything nono prints.
const SECRETS: [(&str, &str); 4] = [
    ("GITHUB_TOKEN", "ghp_nonoE2eSecretValue1"),
    ("AWS_SECRET_ACCESS_KEY", "nonoE2eSecretValue2"),
    ("CARGO_REGISTRIES_CORP_TOKEN", "nonoE2eSecretValue3"),
    ("NPM_TOKEN", "nonoE2eSecretValue4"),
];

fn no_value_printed(run: &Run, what: &str) {
    for (_, v) in SECRETS {
        assert!(!run.stderr.contains(v), "{what}: a value on stderr\n{run}");
    }
}

#[test]
fn credential_variables_are_dropped_with_one_note() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("env-creds");
    let mut env: Vec<(&str, &str)> = SECRETS.to_vec();
    env.push(("ANTHROPIC_API_KEY", "agent-key-kept"));
    for mode in ["run", "wrap"] {
        let (run, vars) = child_env(mode, &s.path, &env, &[]);
        run.expect_code(0);
        for (k, _) in SECRETS {
            assert!(
                !has_name(&vars, k),
                "{mode}: {k} reached the command\n{run}"
            );
        }
        assert!(
            has(&vars, "ANTHROPIC_API_KEY=agent-key-kept"),
            "{mode}: LLM API keys are not in the group\n{run}"
        );
        let notes: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| l.contains("credential variables"))
            .collect();
        assert_eq!(notes.len(), 1, "{mode}: one note\n{run}");
        for (k, _) in SECRETS {
            assert!(notes[0].contains(k), "{mode}: the note names {k}\n{run}");
        }
        assert!(notes[0].contains("--setenv NAME"), "{mode}: {run}");
        no_value_printed(&run, mode);

        // --setenv NAME passes nono's own value; the note names only the others.
        let (run, vars) = child_env(mode, &s.path, &env, &["--setenv", "GITHUB_TOKEN"]);
        run.expect_code(0);
        assert!(
            has(&vars, "GITHUB_TOKEN=ghp_nonoE2eSecretValue1"),
            "{mode}: {run}"
        );
        assert!(!has_name(&vars, "NPM_TOKEN"), "{mode}: {run}");
        assert!(!run.stderr.contains("GITHUB_TOKEN"), "{mode}: {run}");
        assert!(run.stderr.contains("NPM_TOKEN"), "{mode}: {run}");

        // -s silences the note, not the group.
        let (run, vars) = child_env(mode, &s.path, &env, &["-s"]);
        assert!(!has_name(&vars, "GITHUB_TOKEN"), "{mode}: {run}");
        assert!(run.stderr.is_empty(), "{mode}: {run}");
    }
    // The plan names them, never their values, in text and JSON.
    for json in [false, true] {
        let mut cmd = nono_cmd(&s.path);
        cmd.envs(SECRETS).args(["run", "--dry-run"]);
        if json {
            cmd.arg("--json");
        }
        let run = output(cmd.args(["--setenv", "NPM_TOKEN", "--", "true"]));
        run.expect_code(0).stdout_has("GITHUB_TOKEN");
        for (_, v) in SECRETS {
            assert!(!run.stdout.contains(v), "a value in the plan\n{run}");
        }
        no_value_printed(&run, "dry run");
    }
}

/// The `--private-tmp` directories currently under /tmp (of any run on this machine).
fn private_tmp_dirs() -> Vec<PathBuf> {
    std::fs::read_dir("/tmp")
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("nono-private-tmp-"))
        })
        .collect()
}

#[test]
fn private_tmp_is_fresh_private_removed_and_hides_host_tmp() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("env-ptmp");
    let in_tmp = crate::harness::InTmp::new("host");
    let host = in_tmp.0.clone();
    std::fs::write(&host, "host-tmp-file").unwrap();
    let script = format!(
        "echo \"$TMPDIR\"; stat -c '%a %u' \"$TMPDIR\"; echo made > \"$TMPDIR/f\" && cat \"$TMPDIR/f\"; \
         cat {host}; exit 0",
        host = host.display()
    );
    // Control: without the flag the host's /tmp is shared (the default profile grants it).
    let run = nono(&s.path, ["run", "-s", "--", "sh", "-c", &script]);
    run.expect_code(0).stdout_has("host-tmp-file");

    let run = nono(
        &s.path,
        ["run", "-s", "--private-tmp", "--", "sh", "-c", &script],
    );
    let _ = std::fs::remove_file(&host);
    run.expect_code(0);
    let mut lines = run.stdout.lines();
    let dir = PathBuf::from(lines.next().unwrap());
    assert!(
        dir.starts_with("/tmp")
            && dir
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("nono-private-tmp-"),
        "{run}"
    );
    let uid = rustix::process::geteuid().as_raw();
    assert_eq!(lines.next(), Some(format!("700 {uid}").as_str()), "{run}");
    assert_eq!(lines.next(), Some("made"), "{run}");
    assert!(
        !run.stdout.contains("host-tmp-file"),
        "host /tmp reached\n{run}"
    );
    assert!(!dir.exists(), "{} left behind", dir.display());
}

#[test]
fn private_tmp_is_removed_after_a_signal_and_a_dry_run() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("env-ptmp-sig");
    let before = private_tmp_dirs();
    let mut child = nono_cmd(&s.path)
        .args([
            "run",
            "-s",
            "--private-tmp",
            "--",
            "sh",
            "-c",
            "echo \"$TMPDIR\"; touch \"$TMPDIR/x\"; exec sleep 30",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let dir = PathBuf::from(line.trim_end());
    assert!(dir.is_dir(), "{line}");
    let pid = rustix::process::Pid::from_child(&child);
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let start = Instant::now();
    let status = child.wait().unwrap();
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(status.code(), Some(128 + 15), "{status:?}");
    assert!(!dir.exists(), "{} left behind after SIGTERM", dir.display());

    nono(&s.path, ["run", "--dry-run", "--private-tmp", "--", "true"]).expect_code(0);
    let after: Vec<PathBuf> = private_tmp_dirs()
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    // Other tests may be running one right now; ours are gone.
    assert!(!after.contains(&dir), "{after:?}");
}

#[test]
fn dry_run_json_parses_and_matches_the_text() {
    let s = Scratch::new("env-json");
    s.mkdir("work");
    let args = [
        "run",
        "--dry-run",
        "--allow",
        &s.s("work"),
        "--block-net",
        "--private-tmp",
        "--setenv",
        "NONO_E2E_X=1",
        "--unsetenv",
        "HOME",
        "--",
        "echo",
        "a b",
    ];
    let text = nono(&s.path, args);
    text.expect_code(0);
    let mut json_args: Vec<&str> = args.to_vec();
    json_args.insert(2, "--json");
    let json = nono(&s.path, &json_args);
    json.expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("the plan is JSON");
    assert_eq!(v["mode"], "run");
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["command"], serde_json::json!(["echo", "a b"]));
    assert_eq!(v["network"]["mode"], "blocked");
    assert_eq!(v["tmp"]["mode"], "private");
    assert_eq!(v["tmp"]["removed_at_exit"], true);
    assert_eq!(v["compat"], "strict");
    assert!(v["enforcement"]["enforced"]
        .as_array()
        .is_some_and(|a| !a.is_empty()));
    // Every grant and deny of the JSON is in the text with the same origin, and the text
    // has no grant line the JSON lacks.
    let grants = v["grants"].as_array().unwrap();
    for g in grants {
        let line = format!(
            "{} {} {}",
            g["access"].as_str().unwrap(),
            g["kind"].as_str().unwrap(),
            g["path"].as_str().unwrap()
        );
        let found = text.stdout.lines().any(|l| {
            l.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .starts_with(&line)
                && l.trim_end().ends_with(g["origin"].as_str().unwrap())
        });
        // The private directory's name is fresh per invocation.
        if g["origin"].as_str().unwrap().starts_with("--private-tmp") {
            assert!(text.stdout.contains("--private-tmp /tmp/nono-private-tmp-"));
            continue;
        }
        assert!(found, "grant {line} not in the text\n{text}");
    }
    let text_grants = text
        .stdout
        .split("filesystem grants:\n")
        .nth(1)
        .unwrap()
        .lines()
        .take_while(|l| l.starts_with("  "))
        .count();
    assert_eq!(text_grants, grants.len(), "{text}");
    for d in v["denies"].as_array().unwrap() {
        assert!(text.stdout.contains(d["path"].as_str().unwrap()), "{text}");
    }
    let work = s.s("work");
    assert!(grants
        .iter()
        .any(|g| g["path"] == work.as_str() && g["origin"] == format!("--allow {work}").as_str()));
    // Environment changes by name, with their origin and reason.
    let set = v["environment"]["set"].as_array().unwrap();
    assert!(set
        .iter()
        .any(|e| e["name"] == "NONO_E2E_X" && e["origin"] == "--setenv"));
    assert!(set
        .iter()
        .any(|e| e["name"] == "TMPDIR" && e["origin"] == "--private-tmp"));
    assert!(v["environment"]["removed"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["name"] == "HOME" && e["reason"] == "unsetenv"));
    text.stdout_has("set    NONO_E2E_X (--setenv)")
        .stdout_has("set    TMPDIR (--private-tmp)")
        .stdout_has("drop   HOME: --unsetenv")
        .stdout_has("tmp:      private /tmp/nono-private-tmp-")
        .stdout_has("not granted: /tmp");
    // /tmp itself is not granted in the plan.
    assert!(!grants.iter().any(|g| g["path"] == "/tmp"), "{json}");

    // wrap and shell print JSON too.
    let w = nono(&s.path, ["wrap", "--dry-run", "--json", "--", "true"]);
    let w: serde_json::Value = serde_json::from_str(&w.stdout).expect("wrap plan JSON");
    assert_eq!(w["runtime_grants"]["mode"], "none");
    assert_eq!(w["tmp"]["mode"], "host");
    let sh = nono(&s.path, ["shell", "--dry-run", "--json"]);
    let sh: serde_json::Value = serde_json::from_str(&sh.stdout).expect("shell plan JSON");
    assert_eq!(sh["mode"], "shell");
    // --json without --dry-run is a usage error.
    nono(&s.path, ["run", "--json", "--", "true"]).expect_code(2);
}

#[test]
fn shell_gets_the_same_environment_controls() {
    if !sandbox_available() {
        return;
    }
    use std::io::Write as _;
    let s = Scratch::new("env-shell");
    let mut child = nono_cmd(&s.path)
        .env("SHELL", "/bin/sh")
        .env("GITHUB_TOKEN", "ghp_nonoE2eShellSecret")
        .env("NONO_E2E_GONE", "x")
        .args([
            "shell",
            "--setenv",
            "NONO_E2E_SET=1",
            "--unsetenv",
            "NONO_E2E_GONE",
            "--private-tmp",
        ])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"echo \"set=$NONO_E2E_SET gone=$NONO_E2E_GONE gh=$GITHUB_TOKEN tmp=$TMPDIR\"\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.starts_with("set=1 gone= gh= tmp=/tmp/nono-private-tmp-"),
        "{stdout}{stderr}"
    );
    assert!(stderr.contains("GITHUB_TOKEN") && !stderr.contains("ghp_nonoE2eShellSecret"));
    let dir = stdout.trim_end().rsplit("tmp=").next().unwrap();
    assert!(!Path::new(dir).exists(), "{dir} left behind");
}

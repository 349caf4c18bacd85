//! Resource limits (`--memory`, `--max-processes`, `--cpus`, profile `limits.*`): enforced
//! for the whole tree by a cgroup v2 per run where this machine has the controllers; where it
//! has not (cgroup v1 or hybrid hosts, no delegation), a clear error (125) in strict mode and
//! the gap printed with `--best-effort`. Each test checks whichever this machine gives —
//! asked independently of nono, from the cgroup v2 root's `cgroup.controllers` — and with
//! `NONO_REQUIRE_CGROUP_LIMITS=1` a missing controller is a failure, not the error path.

use std::process::Command;
use std::time::Instant;

use crate::harness::{nono, nono_bin, output, sandbox_available, Run, Scratch};
use crate::users::TestUser;

/// Whether the cgroup v2 root offers `controller` (so a run cgroup beneath it can get it).
fn v2_controller(controller: &str) -> bool {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let Some(mount) = mi.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        (post.split_whitespace().next()? == "cgroup2").then(|| pre.split_whitespace().nth(4))?
    }) else {
        return false;
    };
    let have = std::fs::read_to_string(format!("{mount}/cgroup.controllers"))
        .unwrap_or_default()
        .split_whitespace()
        .any(|c| c == controller);
    assert!(
        have || std::env::var_os("NONO_REQUIRE_CGROUP_LIMITS").is_none_or(|v| v != "1"),
        "NONO_REQUIRE_CGROUP_LIMITS=1 but the cgroup v2 `{controller}` controller is missing"
    );
    have
}

/// The strict-mode refusal where the controller is missing: 125, naming the flag, the
/// controller and the way out.
fn expect_unenforceable(r: &Run, flag: &str, controller: &str) {
    r.expect_code(125)
        .stderr_has(&format!("{flag}: cannot be enforced"))
        .stderr_has(&format!("`{controller}` controller"))
        .stderr_has("--best-effort");
}

/// A memory hog (`tail` buffering an endless line) under `--memory 64M`: the tree is killed,
/// nono says so, exit 137.
#[test]
fn limits_memory_hog_is_killed_at_the_limit() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("limits-memory");
    let r = nono(
        &s.path,
        ["run", "--memory", "64M", "--", "tail", "/dev/zero"],
    );
    if !v2_controller("memory") {
        expect_unenforceable(&r, "--memory", "memory");
        return;
    }
    r.expect_code(137)
        .stderr_has("killed: memory limit 64 MiB reached (peak ");
    assert!(r.stderr.contains("oom kills "), "{r}");
}

/// A (bounded) fork bomb under `--max-processes 50`: forks fail, the run ends with the
/// count of refused forks, and the host still forks.
#[test]
fn limits_fork_bomb_is_stopped_at_max_processes() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("limits-forkbomb");
    // 2^9 processes at most even if nothing stopped it: bounded harm if the limit failed.
    let bomb = "b() { if [ $1 -gt 0 ]; then b $(($1-1)) & b $(($1-1)) & sleep 2; wait; fi; }; \
                b 8 2>/dev/null; exit 1";
    let r = nono(
        &s.path,
        ["run", "--max-processes", "50", "--", "sh", "-c", bomb],
    );
    if !v2_controller("pids") {
        expect_unenforceable(&r, "--max-processes", "pids");
        return;
    }
    r.expect_code(1)
        .stderr_has("forks refused at --max-processes 50");
    assert!(
        Command::new("true").status().unwrap().success(),
        "the host can still fork"
    );
}

/// CPU seconds a `sh` busy loop used in about `secs` of wall time, per wall second, under
/// `extra` flags (the loop's own `times`: shell and children).
fn busy_ratio(s: &Scratch, extra: &[&str], secs: u32) -> (f64, Run) {
    let script = format!(
        "end=$(( $(date +%s) + {secs} )); \
         while :; do i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; \
         [ $(date +%s) -ge $end ] && break; done; times"
    );
    let start = Instant::now();
    let mut cmd = Command::new(nono_bin());
    cmd.current_dir(&s.path)
        .env_remove("RUST_LOG")
        .arg("run")
        .args(extra)
        .args(["--", "sh", "-c", &script]);
    let r = output(&mut cmd);
    let wall = start.elapsed().as_secs_f64();
    // `0m1.23s 0m0.01s` lines: user and system time of the shell, then of its children.
    let cpu: f64 = r
        .stdout
        .split_whitespace()
        .filter_map(|t| {
            let (m, sec) = t.strip_suffix('s')?.split_once('m')?;
            Some(m.parse::<f64>().ok()? * 60.0 + sec.parse::<f64>().ok()?)
        })
        .sum();
    (cpu / wall, r)
}

/// `--cpus 0.5` halves a busy loop's CPU time per wall second (within 20 %: at most 0.6).
/// The lower bound is checked only when the unlimited control got a whole CPU (a busy
/// machine gives less to both).
#[test]
fn limits_cpus_halve_a_busy_loop() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("limits-cpus");
    if !v2_controller("cpu") {
        let r = nono(&s.path, ["run", "--cpus", "0.5", "--", "true"]);
        expect_unenforceable(&r, "--cpus", "cpu");
        return;
    }
    let (control, rc) = busy_ratio(&s, &[], 3);
    rc.expect_code(0);
    let (limited, rl) = busy_ratio(&s, &["--cpus", "0.5"], 3);
    rl.expect_code(0);
    assert!(
        limited <= 0.6,
        "--cpus 0.5 gave {limited:.2} CPU per second (control {control:.2})\n{rl}"
    );
    if control >= 0.9 {
        assert!(
            limited >= 0.4,
            "--cpus 0.5 gave only {limited:.2} CPU per second (control {control:.2})"
        );
    }
}

/// With `--best-effort`, what no cgroup could enforce is printed and the command runs
/// (with the `setrlimit` fallback where there is one).
#[test]
fn limits_best_effort_prints_what_is_not_enforced() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("limits-best-effort");
    let r = nono(
        &s.path,
        ["run", "--best-effort", "--cpus", "0.5", "--", "echo", "ran"],
    );
    r.expect_code(0).stdout_has("ran");
    if !v2_controller("cpu") {
        r.stderr_has("best-effort: --cpus is NOT enforceable here");
    }
    // The plan shows the limits and, here, what cannot be enforced.
    let d = nono(
        &s.path,
        [
            "run",
            "--dry-run",
            "--memory",
            "1.5G",
            "--max-processes",
            "64",
            "--",
            "true",
        ],
    );
    d.expect_code(0)
        .stdout_has("limits:   memory 1.5 GiB, 64 processes/threads");
    if !v2_controller("memory") {
        d.stdout_has("--memory is NOT enforceable here");
    }
}

/// The profile's `limits` apply, and a flag overrides them.
#[test]
fn limits_from_the_profile_and_flags_override() {
    let s = Scratch::new("limits-profile");
    let p = s.write(
        "p.json",
        r#"{"extends": "default", "limits": {"memory": "256M", "cpus": 1.5}}"#,
    );
    let p = p.display().to_string();
    let d = nono(
        &s.path,
        ["run", "--dry-run", "-p", &p, "--memory", "1G", "--", "true"],
    );
    d.expect_code(0)
        .stdout_has("limits:   memory 1 GiB, 1.5 CPUs");
    let bad = s.write("bad.json", r#"{"limits": {"memory": "lots"}}"#);
    let r = nono(
        &s.path,
        ["run", "-p", &bad.display().to_string(), "--", "true"],
    );
    r.expect_code(125).stderr_has("limits.memory");
    let r = nono(&s.path, ["run", "--memory", "12Q", "--", "true"]);
    r.expect_code(2).stderr_has("is not a size");
}

/// An unprivileged user without cgroup delegation gets the clear error: why, and how to get
/// delegation (`systemd-run --user --scope -p Delegate=yes`).
#[test]
fn limits_unprivileged_user_without_delegation_gets_the_clear_error() {
    if !sandbox_available() {
        return;
    }
    let Some(user) = TestUser::create("limits") else {
        eprintln!("skipping: needs root to create an unprivileged user");
        return;
    };
    let s = Scratch::new("limits-unpriv");
    let mut cmd = user.command(nono_bin());
    cmd.current_dir(&s.path)
        .args(["run", "--memory", "64M", "--", "true"]);
    let r = output(&mut cmd);
    r.expect_code(125)
        .stderr_has("--memory: cannot be enforced")
        .stderr_has("systemd-run --user --scope -p Delegate=yes");
    // And setup tells the same before any run.
    let mut cmd = user.command(nono_bin());
    cmd.current_dir(&s.path).arg("setup");
    let setup = output(&mut cmd);
    setup.stdout_has("--memory         no: ");
}

/// cgroup v2 delegation, as `systemd-run --user --scope -p Delegate=yes` gives it: a cgroup
/// owned by the user (the directory, `cgroup.procs`, `cgroup.subtree_control`,
/// `cgroup.threads`) with nono alone in it. nono moves itself into a `nono-supervisor` leaf
/// and the command runs in a run cgroup beneath the delegated one. (The controllers are
/// whatever the host has in cgroup v2: `--best-effort` so that the placement is checked on
/// a hybrid host too.)
#[test]
fn limits_a_delegated_cgroup_is_used_by_an_unprivileged_user() {
    use std::os::unix::fs::chown;
    if !sandbox_available() {
        return;
    }
    let Some(user) = TestUser::create("deleg") else {
        eprintln!("skipping: needs root to delegate a cgroup to an unprivileged user");
        return;
    };
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let Some(mount) = mi.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        (post.split_whitespace().next()? == "cgroup2").then(|| pre.split_whitespace().nth(4))?
    }) else {
        eprintln!("skipping: no cgroup v2 mounted");
        return;
    };
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let own = own.lines().find_map(|l| l.strip_prefix("0::")).unwrap();
    let rel = format!(
        "{}/nono-e2e-deleg-{}",
        own.trim_end_matches('/'),
        std::process::id()
    );
    let dir = std::path::PathBuf::from(format!("{mount}{rel}"));
    if std::fs::create_dir(&dir).is_err() {
        eprintln!("skipping: cannot create {}", dir.display());
        return;
    }
    for f in [
        "",
        "cgroup.procs",
        "cgroup.subtree_control",
        "cgroup.threads",
    ] {
        chown(dir.join(f), Some(user.uid), Some(user.gid)).unwrap();
    }
    let s = Scratch::new("limits-deleg");
    // Root moves the shell into the delegated cgroup, then it becomes nono as the user.
    let mut cmd = Command::new("sh");
    cmd.current_dir(&s.path)
        .env_remove("RUST_LOG")
        .arg("-c")
        .arg(format!(
            "echo $$ > {}/cgroup.procs && exec \"$@\"",
            dir.display()
        ))
        .arg("sh");
    let inner = user.command(nono_bin());
    cmd.arg(inner.get_program()).args(inner.get_args());
    cmd.envs(inner.get_envs().filter_map(|(k, v)| Some((k, v?))));
    cmd.args([
        "run",
        "-s",
        "--best-effort",
        "--max-processes",
        "100",
        "--",
        "cat",
        "/proc/self/cgroup",
    ]);
    let r = output(&mut cmd);
    for sub in ["nono-supervisor", ""] {
        for _ in 0..100 {
            if std::fs::remove_dir(dir.join(sub)).is_ok() || !dir.join(sub).exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    r.expect_code(0).stdout_has(&format!("0::{rel}/run-"));
}

/// The run's init is the session leader now, so the command may move to a process group of
/// its own (it could not as a session leader): a signal sent to nono still reaches it.
#[test]
fn init_forwards_signals_to_a_command_in_its_own_process_group() {
    if !sandbox_available() {
        return;
    }
    let python = std::path::Path::new("/usr/bin/python3");
    if !python.exists() {
        eprintln!("skipping: needs /usr/bin/python3");
        return;
    }
    let s = Scratch::new("init-signal-pgrp");
    let script = "import os, signal, time\n\
                  os.setpgid(0, 0)\n\
                  signal.signal(signal.SIGTERM, lambda *a: (print('got TERM', flush=True), os._exit(7)))\n\
                  print('ready', flush=True)\n\
                  time.sleep(60)\n";
    let mut child = Command::new(nono_bin())
        .current_dir(&s.path)
        .env_remove("RUST_LOG")
        .args(["run", "-s", "--", "/usr/bin/python3", "-c", script])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let status = child.wait().unwrap();
    line.clear();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line.trim(), "got TERM");
    assert_eq!(status.code(), Some(7));
}

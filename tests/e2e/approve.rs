//! Runtime grants as users read them (issue 11 point 6): approve rules in a profile take
//! effect on their own and `--dry-run` lists them; an approved directory covers mkdir, rm and
//! mv; an elevation request with no terminal to ask is reported as such; `--approve` of a
//! deny-group path is refused; audit lines carry an RFC 3339 time.

use std::process::Stdio;

use crate::harness::{nono, nono_cmd, output, sandbox_available, Scratch};

#[test]
fn profile_approve_rules_take_effect_without_capability_elevation() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("approve-profile");
    let file = s.write("data/in.txt", "approved-by-profile");
    let profile = s.write(
        "p.json",
        &format!(
            r#"{{"extends": "default", "supervisor": {{"approve": [{{"path": "{}/**", "access": "read"}}]}}}}"#,
            s.join("data").display()
        ),
    );
    let p = profile.display().to_string();
    let f = file.display().to_string();
    let plan = nono(&s.path, ["run", "-p", &p, "--dry-run", "--", "cat", &f]);
    plan.expect_code(0).stdout_has(&format!(
        "approve {}/** (read, profile p)",
        s.join("data").display()
    ));
    let json = nono(
        &s.path,
        ["run", "-p", &p, "--dry-run", "--json", "--", "cat", &f],
    );
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["runtime_grants"]["mode"], "approve", "{v}");
    assert_eq!(
        v["runtime_grants"]["rules"][0]["origin"], "profile p",
        "{v}"
    );
    nono(&s.path, ["run", "-p", &p, "--", "cat", &f])
        .expect_code(0)
        .stdout_has("approved-by-profile");
    // Read only: a write under the rule is still refused.
    let out = nono(
        &s.path,
        ["run", "-p", &p, "--", "sh", "-c", &format!("echo x >> {f}")],
    );
    assert_ne!(out.code, Some(0), "{out}");
}

#[test]
fn an_approved_directory_covers_mkdir_rm_and_mv() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("approve-pathops");
    s.write("appr/old/f", "x");
    let a = s.s("appr");
    let script = format!(
        "mkdir {a}/new {a}/new/sub && mv {a}/old {a}/moved && rm -r {a}/moved && \
         touch {a}/new/sub/f && ln -s sub {a}/new/link && echo ok"
    );
    nono(
        &s.path,
        ["run", "-s", "--approve", &a, "--", "sh", "-c", &script],
    )
    .expect_code(0)
    .stdout_has("ok");
    assert!(s.join("appr/new/sub/f").is_file() && !s.join("appr/moved").exists());
    // Outside the approval nothing changed: the same ops elsewhere are refused.
    s.write("other/f", "x");
    let o = s.s("other");
    let out = nono(
        &s.path,
        [
            "run",
            "--approve",
            &a,
            "--",
            "sh",
            "-c",
            &format!("mkdir {o}/d; mv {o}/f {a}/f"),
        ],
    );
    out.stderr_has(&format!("{o}/d"));
    assert!(!s.join("other/d").exists() && s.join("other/f").exists());
}

/// With runtime grants, a path operation outside the grants that the kernel fails before
/// Landlock is asked gets the kernel's answer, not `EACCES`: `mkdir` of an existing directory
/// is `EEXIST` (Node's `mkdirSync(dir, {recursive: true})` and `mkdir -p`-style code take it
/// for "already there"; `EACCES` made them fail, Claude Code's saving of `~/.claude.json`
/// among them), `rm -f` of a missing name is `ENOENT` (ignored), and neither is reported.
/// Control: a new name there is still refused and reported.
#[test]
fn a_path_operation_the_kernel_fails_first_gets_the_kernels_answer_under_approve() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("approve-eexist");
    let a = s.mkdir("appr").display().to_string();
    let o = s.mkdir("other").display().to_string();
    let script = format!(
        "mkdir {o} 2>&1; rm -f {o}/missing && echo rm-ok;          mkdir {o}/new 2>&1; echo done"
    );
    let out = nono(&s.path, ["run", "--approve", &a, "--", "sh", "-c", &script]);
    out.expect_code(0);
    assert!(out.stdout.contains("File exists"), "{out}");
    assert!(out.stdout.contains("rm-ok"), "{out}");
    assert!(out.stdout.contains("Permission denied"), "{out}");
    let denied: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("nono: denied"))
        .collect();
    assert_eq!(denied.len(), 1, "{out}");
    assert!(denied[0].contains(&format!("{o}/new")), "{out}");
    assert!(!s.join("other/new").exists());
    // Node's recursive mkdir of an existing directory, where node is installed.
    if std::path::Path::new("/usr/bin/node").exists() {
        let js = format!(
            r#"require("fs").mkdirSync("{o}", {{recursive: true}}); console.log("node-ok")"#
        );
        nono(
            &s.path,
            ["run", "--approve", &a, "--", "/usr/bin/node", "-e", &js],
        )
        .expect_code(0)
        .stdout_has("node-ok");
    }
}

/// A `..` after a symlink is resolved by the kernel physically: with `appr/link` →
/// `appr/sub/deep`, `appr/link/../x` is `appr/sub/x`. Under `--approve` the supervisor, which
/// performs the call for the child, used to resolve it lexically (`appr/x`) and made or
/// opened another object than the one named (red team 20's note). Now `mkdir`, `open(O_CREAT)`
/// and `rename` through such a path land where they land unsandboxed (the control).
#[test]
fn a_dotdot_after_a_symlink_is_resolved_as_the_kernel_does_under_approve() {
    if !sandbox_available() {
        return;
    }
    let script =
        "mkdir appr/link/../d && echo x > appr/link/../f && mv appr/link/../f appr/link/../../g; \
                  echo done";
    let layout = |s: &Scratch| {
        s.mkdir("appr/sub/deep");
        std::os::unix::fs::symlink(s.join("appr/sub/deep"), s.join("appr/link")).unwrap();
    };
    let bare = Scratch::new("approve-dotdot-bare");
    layout(&bare);
    let out = std::process::Command::new("/bin/sh")
        .args(["-c", script])
        .current_dir(&bare.path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let s = Scratch::new("approve-dotdot");
    layout(&s);
    let a = s.s("appr");
    let script = script.replace("appr/", &format!("{a}/"));
    nono(
        &s.path,
        ["run", "-s", "--approve", &a, "--", "sh", "-c", &script],
    )
    .expect_code(0)
    .stdout_has("done");
    for (name, there) in [
        ("appr/sub/d", true),
        ("appr/d", false),
        ("appr/sub/f", false),
        ("appr/f", false),
        ("appr/g", true),
    ] {
        assert_eq!(bare.join(name).exists(), there, "unsandboxed: {name}");
        assert_eq!(s.join(name).exists(), there, "under --approve: {name}");
    }
}

/// No controlling terminal (`setsid`, stdin a pipe): the request no rule covers is denied,
/// and nono says that there was nobody to ask — before the run and in the report.
#[test]
fn elevation_without_a_terminal_is_reported_as_such() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("approve-no-tty");
    let file = s.write("data/in.txt", "x");
    let mut cmd = std::process::Command::new("setsid");
    cmd.current_dir(&s.path)
        .stdin(Stdio::piped())
        .arg("-w")
        .arg(crate::harness::nono_bin())
        .args([
            "run",
            "--capability-elevation",
            "--",
            "cat",
            &file.display().to_string(),
        ]);
    let out = output(&mut cmd);
    assert_ne!(out.code, Some(0), "{out}");
    out.stderr_has("no terminal to ask")
        .stderr_has("1 runtime request was denied: no terminal to ask")
        .stderr_has("--approve");
}

#[test]
fn approving_a_deny_group_path_is_refused() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("approve-ssh");
    s.write("home/.ssh/id_rsa", "PRIVATE KEY");
    let home = s.join("home");
    let ssh = home.join(".ssh").display().to_string();
    let mut cmd = nono_cmd(&s.path);
    cmd.env("HOME", &home)
        .args(["run", "--approve", &ssh, "--", "true"]);
    output(&mut cmd)
        .expect_code(125)
        .stderr_has("deny group `credentials`")
        .stderr_has("--bypass-protection");
    // Named by --bypass-protection (with the explicit grant it needs), it is accepted.
    let mut cmd = nono_cmd(&s.path);
    cmd.env("HOME", &home).args([
        "run",
        "--read",
        &ssh,
        "--bypass-protection",
        &ssh,
        "--approve",
        &ssh,
        "--",
        "true",
    ]);
    output(&mut cmd).expect_code(0);
}

#[test]
fn audit_lines_carry_an_rfc3339_time() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("approve-audit-time");
    let file = s.write("data/in.txt", "x");
    let audit = s.join("audit.jsonl");
    nono(
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
    )
    .expect_code(0);
    let log = std::fs::read_to_string(&audit).unwrap();
    for line in log.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let time = v["time"]
            .as_str()
            .unwrap_or_else(|| panic!("no time: {line}"));
        let secs = v["timestamp"]["secs_since_epoch"].as_u64().unwrap();
        assert_eq!(parse_rfc3339_utc(time), Some(secs), "{line}");
    }
}

/// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.frac]Z` (an independent parser: days
/// counted year by year).
fn parse_rfc3339_utc(t: &str) -> Option<u64> {
    let (date, rest) = t.split_once('T')?;
    let rest = rest.strip_suffix('Z')?;
    let hms = rest.split('.').next()?;
    let d: Vec<u64> = date
        .split('-')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let h: Vec<u64> = hms
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    if d.len() != 3 || h.len() != 3 || date.len() != 10 || hms.len() != 8 {
        return None;
    }
    let leap = |y: u64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mut days: u64 = (1970..d[0]).map(|y| if leap(y) { 366 } else { 365 }).sum();
    let month_days = [
        31,
        if leap(d[0]) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    days += month_days[..usize::try_from(d[1]).ok()?.checked_sub(1)?]
        .iter()
        .sum::<u64>();
    days += d[2].checked_sub(1)?;
    Some(days * 86_400 + h[0] * 3600 + h[1] * 60 + h[2])
}

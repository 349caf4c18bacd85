//! `--dry-run` prints the whole plan `run` executes (issue 15 point 6): the approval engine
//! included — its rules in the order they are tried, who decides the rest, what happens
//! without a terminal, the rate limit — in text and JSON; and the JSON plan is printed for a
//! grant path that is not UTF-8.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt as _;
use std::process::Stdio;

use crate::harness::{nono, nono_cmd, output, Scratch};

/// The engine as the plan shows it: `--approve` after the profile's rules, the prompt with
/// its timeout and rate limit, and (with no terminal, under `setsid`) that nobody can be asked.
#[test]
fn the_dry_run_shows_the_approval_engine() {
    let s = Scratch::new("plan-engine");
    let approved = s.mkdir("appr");
    let profile = s.write(
        "p.json",
        &format!(
            r#"{{"extends": "default", "supervisor": {{"approve": [{{"path": "{}/**", "access": "read"}}], "prompt_timeout_secs": 7, "rate_limit": {{"prompts": 3, "per_secs": 30}}}}}}"#,
            s.join("data").display()
        ),
    );
    let (p, a) = (
        profile.display().to_string(),
        approved.display().to_string(),
    );
    let args = |json: bool| {
        let mut v = vec![
            "run",
            "-p",
            &p,
            "--approve",
            &a,
            "--capability-elevation",
            "--dry-run",
        ];
        if json {
            v.push("--json");
        }
        v.extend(["--", "true"]);
        v.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let setsid = |json: bool| {
        let mut cmd = std::process::Command::new("setsid");
        cmd.current_dir(&s.path)
            .env(
                "XDG_STATE_HOME",
                crate::harness::state_home_for(&s.path).expect("a scratch directory"),
            )
            .stdin(Stdio::piped())
            .arg("-w")
            .arg(crate::harness::nono_bin())
            .args(args(json));
        output(&mut cmd)
    };
    let text = setsid(false);
    text.expect_code(0)
        .stdout_has(&format!(
            "approve {}/** (read, profile p)",
            s.join("data").display()
        ))
        .stdout_has(&format!("approve {a} (read+write, --approve {a})"))
        .stdout_has("prompt: denied after 7s without an answer; at most 3 prompts per 30s")
        .stdout_has("no terminal to ask now")
        .stdout_has("deny groups win over every rule and prompt");
    let json = setsid(true);
    json.expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let r = &v["runtime_grants"];
    assert_eq!(r["mode"], "prompt", "{v}");
    assert_eq!(r["backend"], "prompt", "{v}");
    assert_eq!(r["rules"][0]["origin"], "profile p", "{v}");
    assert_eq!(r["rules"][1]["origin"], format!("--approve {a}"), "{v}");
    assert_eq!(r["prompt_timeout_secs"], 7, "{v}");
    assert_eq!(r["rate_limit"]["prompts"], 3, "{v}");
    assert_eq!(r["rate_limit"]["per_secs"], 30, "{v}");
    assert!(r["no_terminal"].is_string(), "{v}");
    assert_eq!(r["deny_groups_win"], true, "{v}");

    // Approve rules alone: nobody is asked.
    let v = nono(
        &s.path,
        ["run", "--approve", &a, "--dry-run", "--json", "--", "true"],
    );
    let v: serde_json::Value = serde_json::from_str(&v.stdout).unwrap();
    assert_eq!(v["runtime_grants"]["backend"], "deny", "{v}");
    assert!(v["runtime_grants"]["prompt_timeout_secs"].is_null(), "{v}");
    // No runtime grants: no engine.
    let v = nono(&s.path, ["run", "--dry-run", "--json", "--", "true"]);
    let v: serde_json::Value = serde_json::from_str(&v.stdout).unwrap();
    assert_eq!(v["runtime_grants"]["backend"], "none", "{v}");
}

/// A grant path that is not UTF-8 (a name any file system allows): the JSON plan used to
/// fail ("path contains invalid UTF-8 characters"); it is written as the text plan shows it.
#[test]
fn the_json_plan_takes_a_grant_path_that_is_not_utf8() {
    let s = Scratch::new("plan-non-utf8");
    let name = OsStr::from_bytes(b"d\xff\x80ir");
    let dir = s.path.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let out = output(nono_cmd(&s.path).args(["run", "--read"]).arg(&dir).args([
        "--dry-run",
        "--json",
        "--",
        "true",
    ]));
    out.expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let shown = format!("{}/d\\xff\\x80ir", s.path.display());
    let grants = v["grants"].as_array().unwrap();
    assert!(
        grants
            .iter()
            .any(|g| g["path"] == shown.as_str() && g["origin"].as_str().is_some()),
        "{v}"
    );
    // The text plan shows the same spelling.
    let text = output(nono_cmd(&s.path).args(["run", "--read"]).arg(&dir).args([
        "--dry-run",
        "--",
        "true",
    ]));
    text.expect_code(0).stdout_has(&shown);
}

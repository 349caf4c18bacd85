//! `nono why`: the verdict and the deciding rule for a path or a TCP connection, text and JSON.

use crate::harness::{nono, nono_cmd, output, Run, Scratch};

#[test]
fn path_verdicts_name_the_rule() {
    let s = Scratch::new("why-path");
    let f = s.write("d/f.txt", "x");
    let f = f.display().to_string();
    let out = nono(
        &s.path,
        ["why", "--read", &s.s("d"), "--path", &f, "--op", "read"],
    );
    out.expect_code(0)
        .stdout_has("allowed")
        .stdout_has("--read");
    let out = nono(
        &s.path,
        ["why", "--read", &s.s("d"), "--path", &f, "--op", "write"],
    );
    out.expect_code(1).stdout_has("denied");
    let out = nono(
        &s.path,
        [
            "why",
            "--read",
            &s.s("d"),
            "--path",
            &f,
            "--op",
            "readwrite",
        ],
    );
    out.expect_code(1).stdout_has("partial");
    let out = nono(&s.path, ["why", "--path", &f, "--op", "read"]);
    out.expect_code(1).stdout_has("denied");
    // The default profile's system grants.
    nono(&s.path, ["why", "--path", "/usr/bin/env", "--op", "read"])
        .expect_code(0)
        .stdout_has("allowed");
}

#[test]
fn deny_groups_are_named() {
    let s = Scratch::new("why-group");
    s.write("home/.ssh/id_rsa", "k");
    let home = s.join("home");
    let mut cmd = nono_cmd(&s.path);
    cmd.env("HOME", &home).args([
        "why",
        "--allow",
        &home.display().to_string(),
        "--path",
        &home.join(".ssh/id_rsa").display().to_string(),
        "--op",
        "read",
    ]);
    let out = output(&mut cmd);
    out.expect_code(1)
        .stdout_has("denied")
        .stdout_has("credentials");
}

#[test]
fn json_output() {
    let s = Scratch::new("why-json");
    let out = nono(
        &s.path,
        [
            "why",
            "--read",
            &s.s(""),
            "--path",
            &s.s(""),
            "--op",
            "read",
            "--json",
        ],
    );
    out.expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(v["verdict"], "allowed", "{v}");
    let out = nono(
        &s.path,
        [
            "why",
            "--block-net",
            "--host",
            "example.com",
            "--port",
            "443",
            "--json",
        ],
    );
    out.expect_code(1);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(v["verdict"], "denied", "{v}");
}

/// `nono why NONO_FLAGS --host 127.0.0.1 --port PORT`.
fn why_connect(s: &Scratch, nono_flags: &[&str], port: &str) -> Run {
    nono(
        &s.path,
        ["why"]
            .iter()
            .chain(nono_flags)
            .chain(&["--host", "127.0.0.1", "--port", port]),
    )
}

#[test]
fn network_verdicts() {
    let s = Scratch::new("why-net");
    why_connect(&s, &[], "443")
        .expect_code(0)
        .stdout_has("allowed");
    why_connect(&s, &["--block-net"], "443")
        .expect_code(1)
        .stdout_has("blocked");
    why_connect(&s, &["--allow-connect-port", "443"], "443").expect_code(0);
    why_connect(&s, &["--allow-connect-port", "443"], "80")
        .expect_code(1)
        .stdout_has("443");
}

#[test]
fn why_errors_and_relative_paths() {
    let s = Scratch::new("why-err");
    // A relative path is taken relative to the current directory.
    nono(&s.path, ["why", "--path", "relative/x", "--op", "read"])
        .expect_code(1)
        .stdout_has(&s.s("relative/x"));
    nono(
        &s.path,
        [
            "why",
            "-p",
            "/nonexistent.json",
            "--path",
            "/x",
            "--op",
            "read",
        ],
    )
    .expect_code(125)
    .stderr_has("/nonexistent.json");
}

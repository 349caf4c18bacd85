//! The sandbox prepared ahead (issue 14, start-up): while the deny groups are resolved,
//! `run` and `wrap` prepare the sandbox for the profile's grants and own denies, and take that
//! preparation only when the groups' entries change nothing of it. Whether it was taken is
//! logged at debug level (`sandbox prepared reused=...`).

use crate::harness::{nono_cmd, output, sandbox_available, Run, Scratch};

/// `nono MODE -vv --allow GRANT [EXTRA] -- cat FILE` with `$HOME` at the scratch's `home`
/// (holding deny-group entries: `~/.ssh/id_rsa`, `~/.aws/credentials`). Only a command line
/// that starts with the subcommand (after any `-v`s) starts the deny thread: `nono -s MODE`
/// is the serial control of the red team 7 and 8 tests.
fn cat(s: &Scratch, mode: &str, grant: &str, extra: &[&str], file: &str) -> Run {
    cat_with(s, &[mode, "-vv"], grant, extra, file)
}

/// [`cat`] with `head` (the subcommand and flags before `--allow`) as given.
fn cat_with(s: &Scratch, head: &[&str], grant: &str, extra: &[&str], file: &str) -> Run {
    let mut cmd = nono_cmd(&s.path);
    cmd.env("HOME", s.join("home"))
        .args(head)
        .args(["--allow", grant])
        .args(extra)
        .args(["--", "cat", file]);
    output(&mut cmd)
}

fn scratch(name: &str) -> Scratch {
    let s = Scratch::new(name);
    s.write("home/.ssh/id_rsa", "PRIVATE-KEY\n");
    s.write("home/.aws/credentials", "AWS-SECRET\n");
    s.write("proj/readme", "hello\n");
    s
}

/// Without a second CPU nono starts no deny thread, so nothing is prepared ahead.
fn two_cpus() -> bool {
    std::thread::available_parallelism().is_ok_and(|n| n.get() > 1)
}

#[test]
fn the_preparation_ahead_is_taken_when_the_groups_only_deny_outside_the_grants() {
    if !sandbox_available() || !two_cpus() {
        return;
    }
    let s = scratch("ahead-taken");
    for mode in ["run", "wrap"] {
        let out = cat(&s, mode, &s.s("proj"), &[], &s.s("proj/readme"));
        out.expect_code(0)
            .stderr_has("sandbox prepared reused=true");
        assert!(out.stdout.contains("hello"), "{mode}: {out}");
        // `-vv` before the subcommand starts the deny thread too (it used to start none, and
        // so prepared nothing ahead).
        let out = cat_with(&s, &["-vv", mode], &s.s("proj"), &[], &s.s("proj/readme"));
        out.expect_code(0)
            .stderr_has("sandbox prepared reused=true");
        assert!(out.stdout.contains("hello"), "-vv {mode}: {out}");
    }
}

#[test]
fn a_group_deny_inside_a_grant_prepares_again_and_holds() {
    if !sandbox_available() {
        return;
    }
    let s = scratch("ahead-refused");
    let home = s.s("home");
    for mode in ["run", "wrap"] {
        let extra: &[&str] = if mode == "wrap" {
            &["--accept-wrap-gaps"]
        } else {
            &[]
        };
        for file in [".ssh/id_rsa", ".aws/credentials"] {
            let out = cat(&s, mode, &home, extra, &s.s(&format!("home/{file}")));
            assert_ne!(out.code, Some(0), "{mode} read ~/{file}: {out}");
            assert!(
                !out.stdout.contains("PRIVATE-KEY") && !out.stdout.contains("AWS-SECRET"),
                "{mode} read ~/{file}: {out}"
            );
            if two_cpus() {
                out.stderr_has("sandbox prepared reused=false");
            }
        }
        // The control: the same grant reads a file no group denies.
        let control = s.write("home/notes.txt", "NOTES\n");
        let out = cat(&s, mode, &home, extra, &control.display().to_string());
        out.expect_code(0);
        assert!(out.stdout.contains("NOTES"), "{mode}: {out}");
    }
}

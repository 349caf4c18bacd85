//! `cargo xtask <command> --help` prints that command's usage and exits 0, without running it.

use std::process::Command;

fn xtask(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .output()
        .expect("run the xtask binary")
}

#[test]
fn every_subcommand_accepts_help() {
    for cmd in ["ci", "bench", "fuzz", "guide", "tidy"] {
        for flag in ["--help", "-h"] {
            let out = xtask(&[cmd, flag]);
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{cmd} {flag}: {out:?}");
            assert!(
                stdout.starts_with(&format!("usage: cargo xtask {cmd}")),
                "{cmd} {flag}: {stdout}"
            );
        }
    }
    // After other options too.
    let out = xtask(&["bench", "--json", "--help"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("usage: cargo xtask bench"));
}

#[test]
fn the_overview_lists_every_subcommand() {
    for args in [&["--help"][..], &["help"], &["-h"]] {
        let out = xtask(args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?}");
        for cmd in ["ci", "bench", "fuzz", "guide", "tidy"] {
            assert!(
                stdout.contains(&format!("\n  {cmd} ")),
                "{cmd} missing: {stdout}"
            );
        }
    }
}

#[test]
fn unknown_commands_and_options_fail() {
    assert_eq!(xtask(&["nonsense", "--help"]).status.code(), Some(2));
    assert_eq!(xtask(&[]).status.code(), Some(2));
    assert!(!xtask(&["ci", "--no-such-option"]).status.success());
    assert!(!xtask(&["tidy", "extra"]).status.success());
    assert!(!xtask(&["guide", "--chek"]).status.success());
}

//! Command-line surface: help, version, usage errors (exit 2), completion scripts, man page.

use crate::harness::{nono, nono_bin, Scratch};

#[test]
fn nono_binary_was_built() {
    let bin = nono_bin();
    assert!(bin.is_file(), "nono binary missing at {}", bin.display());
}

#[test]
fn help_lists_every_command_and_documents_exit_codes() {
    let s = Scratch::new("help");
    let out = nono(&s.path, ["--help"]);
    out.expect_code(0);
    for c in [
        "run",
        "wrap",
        "shell",
        "why",
        "learn",
        "setup",
        "profile",
        "completion",
    ] {
        out.stdout_has(&format!("  {c} "));
    }
    out.stdout_has("125").stdout_has("128+N");
    nono(&s.path, ["--version"])
        .expect_code(0)
        .stdout_has("nono ");
}

#[test]
fn usage_errors_exit_2() {
    let s = Scratch::new("usage");
    nono(&s.path, ["run"]).expect_code(2).stderr_has("<CMD>");
    nono(&s.path, ["run", "--no-such-flag", "--", "true"]).expect_code(2);
    nono(&s.path, ["frobnicate"]).expect_code(2);
    nono(&s.path, ["why", "--path", "/x"]).expect_code(2);
    nono(
        &s.path,
        ["run", "--allow-connect-port", "notaport", "--", "true"],
    )
    .expect_code(2);
    let out = nono(&s.path, ["run", "-s", "-v", "--", "true"]);
    out.expect_code(2).stderr_has("cannot be used with");
}

#[test]
fn run_help_shows_058_flags() {
    let s = Scratch::new("runhelp");
    let out = nono(&s.path, ["run", "--help"]);
    out.expect_code(0);
    for f in [
        "--allow <DIR>",
        "--read <DIR>",
        "--write <DIR>",
        "--allow-file",
        "--read-file",
        "--write-file",
        "--allow-cwd",
        "--workdir",
        "--profile",
        "--block-net",
        "--net-block",
        "--allow-connect-port",
        "--allow-bind-port",
        "--bypass-protection",
        "--dry-run",
        "--best-effort",
        "--capability-elevation",
        "--approve",
        "--audit-log",
        "--silent",
        "--verbose",
    ] {
        out.stdout_has(f);
    }
}

#[test]
fn completion_scripts_for_each_shell() {
    let s = Scratch::new("completion");
    nono(&s.path, ["completion", "bash"])
        .expect_code(0)
        .stdout_has("_nono()")
        .stdout_has("--allow-cwd");
    nono(&s.path, ["completion", "zsh"])
        .expect_code(0)
        .stdout_has("#compdef nono");
    nono(&s.path, ["completion", "fish"])
        .expect_code(0)
        .stdout_has("complete -c nono");
    nono(&s.path, ["completion", "elvish"]).expect_code(0);
    nono(&s.path, ["completion", "powershell"]).expect_code(0);
    nono(&s.path, ["completion", "tcsh"]).expect_code(2);
}

#[test]
fn bash_completion_script_loads_in_bash() {
    let s = Scratch::new("bashcomp");
    let out = nono(&s.path, ["completion", "bash"]);
    let script = s.write("nono.bash", &out.stdout);
    let status = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(". {} && complete -p nono", script.display()))
        .output()
        .expect("bash");
    assert!(status.status.success(), "{status:?}");
    assert!(String::from_utf8_lossy(&status.stdout).contains("_nono"));
}

#[test]
fn man_page_is_roff_and_covers_subcommands() {
    let s = Scratch::new("man");
    let out = nono(&s.path, ["man"]);
    out.expect_code(0)
        .stdout_has(".TH nono 1")
        .stdout_has(".SH \"NONO RUN\"")
        .stdout_has(".SH \"NONO WHY\"")
        .stdout_has("\\-\\-allow\\-cwd");
    if std::path::Path::new("/usr/bin/man").exists() {
        let page = s.write("nono.1", &out.stdout);
        let rendered = std::process::Command::new("man")
            .arg("-l")
            .arg(&page)
            .env("MANPAGER", "cat")
            .output()
            .expect("man");
        assert!(rendered.status.success());
    }
}

/// "Did you mean" for a mistyped subcommand (clap's own similarity misses `rn`) and profile.
#[test]
fn mistyped_subcommands_and_profiles_get_a_suggestion() {
    let s = Scratch::new("did-you-mean");
    let out = nono(&s.path, ["rn", "--", "true"]);
    out.expect_code(2).stderr_has("did you mean `nono run`?");
    let out = nono(&s.path, ["run", "-p", "pyhton", "--", "true"]);
    out.expect_code(125).stderr_has("did you mean `-p python`?");
    let out = nono(&s.path, ["profile", "show", "rsut"]);
    out.expect_code(125).stderr_has("did you mean `rust`?");
}

/// `nono man` is listed in --help, and `--dir` writes one page per subcommand.
#[test]
fn man_is_listed_and_writes_a_page_per_subcommand() {
    let s = Scratch::new("man-dir");
    nono(&s.path, ["--help"])
        .expect_code(0)
        .stdout_has("  man ");
    let dir = s.join("man1");
    nono(&s.path, ["man", "--dir", &dir.display().to_string()]).expect_code(0);
    for page in [
        "nono.1",
        "nono-run.1",
        "nono-wrap.1",
        "nono-why.1",
        "nono-learn.1",
        "nono-profile-show.1",
        "nono-man.1",
    ] {
        assert!(dir.join(page).is_file(), "{page} missing");
    }
    assert!(!dir.join("nono-help.1").exists());
}

/// `-v` logs at info, `-vv` at debug, `-vvv` at trace, as `--help` says (the log subscriber
/// used to stop at info whatever the count).
#[test]
fn each_v_logs_one_level_more() {
    let s = Scratch::new("cli-verbose");
    let debug_line = "DEBUG sandbox prepared";
    let one = nono(&s.path, ["wrap", "-v", "--", "true"]);
    one.expect_code(0);
    assert!(!one.stderr.contains("DEBUG"), "-v logged debug: {one}");
    nono(&s.path, ["wrap", "-vv", "--", "true"])
        .expect_code(0)
        .stderr_has(debug_line);
    nono(&s.path, ["wrap", "-vvv", "--", "true"])
        .expect_code(0)
        .stderr_has(debug_line);
}

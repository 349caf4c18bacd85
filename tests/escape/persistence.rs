//! Persistence across runs: what one sandboxed run leaves behind must not widen the next run
//! or make nono write outside the sandbox for it. Each test is two consecutive runs — the
//! first plants (a symlink where `$TMPDIR`, a grant or the audit log will be), the second is
//! the victim — plus the report/`why` escaping of hostile names and the `wrap` gaps.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::harness::{nono_bin, nono_cmd, output, sandbox_available, InTmp, Run, Scratch};

/// The shell the attacks run in: bash, not `/bin/sh` (dash) — `fs.rs` opens `/bin/sh` for
/// writing and expects Landlock's `EACCES`, which a concurrent `exec` of it turns into
/// `ETXTBSY`.
const SHELL: &str = "bash";

/// The unprivileged user the tests also run as (`nobody`): no account is created, `setpriv`
/// switches to the ids alone.
const NOBODY: u32 = 65534;

/// `nono ARGS` in `cwd` with `env`, as root (`uid` None) or as `uid` (through `setpriv`).
/// With `HOME` in `env`, nono's state and configuration are under it (the `XDG_*` variables
/// that would move them are removed).
pub(crate) fn nono_as(uid: Option<u32>, cwd: &Path, env: &[(&str, &Path)], args: &[&str]) -> Run {
    let mut cmd = match uid {
        None => nono_cmd(cwd),
        Some(uid) => {
            let mut c = Command::new("setpriv");
            c.args([
                format!("--reuid={uid}"),
                format!("--regid={uid}"),
                "--clear-groups".to_owned(),
                "--".to_owned(),
            ])
            .arg(nono_bin())
            .current_dir(cwd)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
            c
        }
    };
    // A test that gives HOME keeps nono's state there (the harness's scratch state otherwise).
    if env.iter().any(|(k, _)| *k == "HOME") {
        for var in ["XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"] {
            cmd.env_remove(var);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    output(cmd.args(args))
}

fn chown(p: &Path, uid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(uid)).unwrap();
}

/// The `--private-tmp`-style directory a command printed as `TMPDIR=/tmp/nono-private-tmp-…`,
/// removed on drop (if it is still there).
fn private_tmp_of(stdout: &str) -> Option<InTmpDir> {
    let dir = stdout
        .lines()
        .find_map(|l| l.strip_prefix("TMPDIR="))
        .filter(|d| {
            d.strip_prefix("/tmp/nono-private-tmp-")
                .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
        })?;
    Some(InTmpDir(PathBuf::from(dir)))
}

/// A directory under /tmp that nono made for a run, removed on drop.
struct InTmpDir(PathBuf);

impl Drop for InTmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `--dry-run` plan that grants `/` for writing.
fn grants_root_rw(plan: &str) -> bool {
    plan.lines().any(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        w.len() >= 3 && w[0] == "read+write" && w[2] == "/"
    })
}

/// Finding 1, `$TMPDIR`: run 1 (no flags) replaces the user's `$TMPDIR` under /tmp with a
/// symlink to `/`; run 2 would be granted `/` read+write. Now `$TMPDIR` is checked (a
/// directory, the user's, not writable by others): `run` gives the command a fresh private
/// directory instead, with a note, and removes it at exit; `wrap`, which leaves no process to
/// remove one (each run left a `nono-private-tmp-*` in /tmp, found in session 16), refuses
/// to start and says how to fix it — and leaves nothing. As root and as an unprivileged user.
#[test]
fn persist_tmpdir_replaced_by_a_symlink_to_root_is_not_granted() {
    if !sandbox_available() {
        return;
    }
    for uid in [None, Some(NOBODY)] {
        for mode in ["run", "wrap"] {
            let tag = format!("{}-{mode}", uid.unwrap_or(0));
            let s = Scratch::new(&format!("persist-tmpdir-{tag}"));
            let home = s.mkdir("home");
            let victim = s.write("victim/file", "original\n");
            let tmpdir = InTmp::new(&format!("tmpdir-{tag}"));
            std::fs::create_dir(&tmpdir.0).unwrap();
            std::fs::set_permissions(&tmpdir.0, std::fs::Permissions::from_mode(0o700)).unwrap();
            if let Some(u) = uid {
                for p in [&home, &tmpdir.0, &s.join("victim"), &victim] {
                    chown(p, u);
                }
            }
            let env = [("HOME", home.as_path()), ("TMPDIR", tmpdir.0.as_path())];
            // Run 1: plant.
            nono_as(
                uid,
                &s.path,
                &env,
                &[
                    mode,
                    "--",
                    SHELL,
                    "-c",
                    r#"rm -rf "$TMPDIR" && ln -s / "$TMPDIR""#,
                ],
            )
            .expect_code(0);
            assert!(
                std::fs::symlink_metadata(&tmpdir.0)
                    .unwrap()
                    .file_type()
                    .is_symlink(),
                "run 1 did not plant the link"
            );
            // Run 2: a write outside the grants must fail, and the plan must not grant `/`.
            let attack = nono_as(
                uid,
                &s.path,
                &env,
                &[
                    mode,
                    "--",
                    SHELL,
                    "-c",
                    r#"echo pwned > "$1"; echo "TMPDIR=$TMPDIR""#,
                    "sh",
                    &victim.display().to_string(),
                ],
            );
            // Should nono have left the directory it made in place of the refused $TMPDIR,
            // the test removes it (after the check below has failed).
            let private = private_tmp_of(&attack.stdout);
            assert_eq!(
                std::fs::read_to_string(&victim).unwrap(),
                "original\n",
                "{mode} as uid {uid:?} wrote outside its grants through $TMPDIR:\n{attack}"
            );
            let plan = nono_as(uid, &s.path, &env, &[mode, "--dry-run", "--", "true"]);
            if mode == "run" {
                plan.expect_code(0);
                assert!(!grants_root_rw(&plan.stdout), "{mode} grants /:\n{plan}");
                attack.stderr_has("is not granted: it is a symlink");
                assert!(
                    attack.stdout.contains("TMPDIR=/tmp/nono-private-tmp-"),
                    "the command did not get the private directory:\n{attack}"
                );
                if let Some(p) = &private {
                    assert!(!p.0.exists(), "run left {}:\n{attack}", p.0.display());
                }
            } else {
                for r in [&attack, &plan] {
                    r.expect_code(125);
                    r.stderr_has("it is a symlink");
                    r.stderr_has("fix or remove that $TMPDIR");
                }
                assert!(
                    private.is_none(),
                    "wrap ran the command and left its TMPDIR:\n{attack}"
                );
            }
            // Control: the same write without nono works.
            let control = Command::new(SHELL)
                .args(["-c", r#"echo pwned > "$1""#, "sh"])
                .arg(&victim)
                .status()
                .unwrap();
            assert!(control.success());
            assert_eq!(std::fs::read_to_string(&victim).unwrap(), "pwned\n");
        }
    }
}

/// Finding 1, explicit grants: run 1 (`--allow proj`) turns `proj/out` into a link to an
/// outside directory; run 2 (`--allow proj --allow proj/out`) would read and write outside.
/// Now a link that lies inside a write grant, or belongs to another user, is refused (125, the
/// message names the link and `--allow-symlinked-grant`), `--allow-symlinked-grant` accepts
/// it, and a trusted link is shown (`--dry-run`: `link -> target`; a note on stderr).
#[test]
fn persist_grant_through_a_planted_symlink_is_refused() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("persist-grant-link");
    let proj = s.mkdir("proj");
    let outside = s.mkdir("outside");
    s.write("outside/secret", "secret\n");
    let (proj_s, out_s, outside_s) = (s.s("proj"), s.s("proj/out"), s.s("outside"));
    // nono keeps its record of earlier write grants under $HOME/.local/state/nono.
    let home = s.mkdir("home");
    let env = [("HOME", home.as_path())];
    // Run 1: plant.
    nono_as(
        None,
        &s.path,
        &env,
        &[
            "run", "--allow", &proj_s, "--", "ln", "-s", &outside_s, &out_s,
        ],
    )
    .expect_code(0);
    assert!(proj.join("out").is_symlink());
    let plant = "echo x > \"$1/planted\"";
    for mode in ["run", "wrap"] {
        // Run 2: the link lies inside the write grant `proj`.
        let r = nono_as(
            None,
            &s.path,
            &[],
            &[
                mode, "--allow", &proj_s, "--allow", &out_s, "--", SHELL, "-c", plant, "sh", &out_s,
            ],
        );
        assert!(
            !outside.join("planted").exists(),
            "{mode} wrote outside through the planted link:\n{r}"
        );
        r.expect_code(125)
            .stderr_has(&format!("refusing the symlink {out_s} -> {outside_s}"))
            .stderr_has(&format!("inside the write grant {proj_s}"))
            .stderr_has(&format!("--allow-symlinked-grant {out_s}"));
        // The opt-in works.
        nono_as(
            None,
            &s.path,
            &env,
            &[
                mode,
                "--allow",
                &proj_s,
                "--allow",
                &out_s,
                "--allow-symlinked-grant",
                &out_s,
                "--",
                SHELL,
                "-c",
                plant,
                "sh",
                &out_s,
            ],
        )
        .expect_code(0);
        assert!(outside.join("planted").exists(), "the opt-in did not work");
        std::fs::remove_file(outside.join("planted")).unwrap();
    }
    // A runtime grant through the link (`--approve`) is refused the same way.
    let r = nono_as(
        None,
        &s.path,
        &env,
        &[
            "run",
            "--allow",
            &proj_s,
            "--approve",
            &out_s,
            "--",
            SHELL,
            "-c",
            plant,
            "sh",
            &out_s,
        ],
    );
    assert!(!outside.join("planted").exists(), "{r}");
    r.expect_code(125)
        .stderr_has(&format!("(--approve {out_s}): refusing the symlink"));
    // Run 2 with only the link granted (the issue's case): the link's directory was in run 1's
    // write grant when the link was made, which nono recorded before run 1 started.
    let r = nono_as(
        None,
        &s.path,
        &env,
        &[
            "run", "--allow", &out_s, "--", SHELL, "-c", plant, "sh", &out_s,
        ],
    );
    assert!(!outside.join("planted").exists(), "{r}");
    r.expect_code(125)
        .stderr_has(&format!(
            "made after an earlier run was granted writes in {proj_s}"
        ))
        .stderr_has(&format!("--allow-symlinked-grant {out_s}"));
    assert!(
        std::fs::read_to_string(home.join(".local/state/nono/write-grants.jsonl"))
            .unwrap()
            .contains(&proj_s)
    );
    // A link no run could have made (in a directory never granted for writing) is trusted,
    // but shown.
    let link = s.join("elsewhere/out");
    std::fs::create_dir(s.join("elsewhere")).unwrap();
    std::os::unix::fs::symlink(&outside, &link).unwrap();
    let link_s = link.display().to_string();
    let plan = nono_as(
        None,
        &s.path,
        &env,
        &["run", "--dry-run", "--allow", &link_s, "--", "true"],
    );
    plan.expect_code(0)
        .stdout_has(&format!("{link_s} -> {outside_s}  (--allow {link_s})"));
    nono_as(
        None,
        &s.path,
        &env,
        &["run", "--allow", &link_s, "--", "true"],
    )
    .expect_code(0)
    .stderr_has(&format!(
        "--allow {link_s} goes through the symlink {link_s} -> {outside_s}"
    ));
    // ... unless someone other than the user or root owns it.
    chown(&link, 4242);
    let r = nono_as(
        None,
        &s.path,
        &env,
        &[
            "run", "--allow", &link_s, "--", SHELL, "-c", plant, "sh", &link_s,
        ],
    );
    assert!(!outside.join("planted").exists(), "{r}");
    r.expect_code(125)
        .stderr_has("belongs to uid 4242")
        .stderr_has(&format!("--allow-symlinked-grant {link_s}"));
}

/// `--allow-cwd` from a directory reached through a link an earlier run planted: run 1
/// (`--allow proj`) makes `proj/out` a link to an outside directory; the user then `cd`s
/// into `proj/out` and runs `nono run|wrap --allow-cwd`. The working directory is the link's
/// target (`getcwd` is physical), which `--allow-cwd` granted without looking at how the user
/// got there. Now the path the shell reports (`$PWD`) is checked like any grant path: the
/// planted link is refused (125, naming it and `--allow-symlinked-grant`), and that flag
/// accepts it. Control: without the check (a `$PWD` that is not the way there, as when the
/// user is in the target itself) the grant is the directory the user is in.
#[test]
fn persist_allow_cwd_through_a_planted_symlink_is_refused() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("persist-cwd-link");
    s.mkdir("proj");
    let outside = s.mkdir("outside");
    let (proj_s, out_s, outside_s) = (s.s("proj"), s.s("proj/out"), s.s("outside"));
    let home = s.mkdir("home");
    // Run 1: plant (its write grant `proj` is recorded in nono's state under HOME).
    nono_as(
        None,
        &s.path,
        &[("HOME", home.as_path())],
        &[
            "run", "--allow", &proj_s, "--", "ln", "-s", &outside_s, &out_s,
        ],
    )
    .expect_code(0);
    let out = s.join("proj/out");
    let via_link = [("HOME", home.as_path()), ("PWD", out.as_path())];
    let plant = "echo x > planted";
    for mode in ["run", "wrap"] {
        let r = nono_as(
            None,
            &out,
            &via_link,
            &[mode, "--allow-cwd", "--", SHELL, "-c", plant],
        );
        assert!(
            !outside.join("planted").exists(),
            "{mode} --allow-cwd wrote through the planted link:\n{r}"
        );
        r.expect_code(125)
            .stderr_has(&format!("refusing the symlink {out_s} -> {outside_s}"))
            .stderr_has(&format!("--allow-symlinked-grant {out_s}"));
        // The opt-in works.
        nono_as(
            None,
            &out,
            &via_link,
            &[
                mode,
                "--allow-cwd",
                "--allow-symlinked-grant",
                &out_s,
                "--",
                SHELL,
                "-c",
                plant,
            ],
        )
        .expect_code(0);
        assert!(outside.join("planted").exists(), "the opt-in did not work");
        std::fs::remove_file(outside.join("planted")).unwrap();
        // Control: in the target itself (`$PWD` is the directory), the grant is that
        // directory, as before.
        let here = [("HOME", home.as_path()), ("PWD", outside.as_path())];
        nono_as(
            None,
            &outside,
            &here,
            &[mode, "--allow-cwd", "--", SHELL, "-c", plant],
        )
        .expect_code(0);
        assert!(
            outside.join("planted").exists(),
            "--allow-cwd in place failed"
        );
        std::fs::remove_file(outside.join("planted")).unwrap();
    }
}

/// Finding 2: run 1 (`--allow-cwd`) replaces `audit.jsonl` with a link to `~/.bashrc`; run 2
/// (`--audit-log ./audit.jsonl`, no grant on that directory) would append a sandbox-chosen
/// path — `$(touch PWNED)` — to the shell's rc file. Now the log is opened `O_NOFOLLOW` (also
/// through a dangling link, nothing is created) and refused inside a write grant of the run
/// (`--allow-cwd`, the default profile's `/tmp`), naming the grant.
#[test]
fn persist_audit_log_symlink_to_bashrc_is_refused() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("persist-audit");
    let work = s.mkdir("work");
    let bashrc = s.write("home/.bashrc", "# rc\n");
    let hostile = s.write("denied/x$(cd;touch PWNED)", "");
    let (bashrc_s, hostile_s) = (s.s("home/.bashrc"), hostile.display().to_string());
    let log = work.join("audit.jsonl");
    let log_s = log.display().to_string();
    // Run 1: plant (the working directory is granted).
    nono_as(
        None,
        &work,
        &[],
        &[
            "run",
            "--allow-cwd",
            "--",
            "ln",
            "-s",
            &bashrc_s,
            "audit.jsonl",
        ],
    )
    .expect_code(0);
    assert!(log.is_symlink());
    // Run 2: log a denial of the hostile path, with no grant on the log's directory.
    let r = nono_as(
        None,
        &work,
        &[],
        &["run", "--audit-log", &log_s, "--", "cat", &hostile_s],
    );
    assert_eq!(
        std::fs::read_to_string(&bashrc).unwrap(),
        "# rc\n",
        "the audit log was written through the link:\n{r}"
    );
    r.expect_code(125).stderr_has("it is a symlink");
    // A dangling link: nothing is created at its target.
    std::fs::remove_file(&log).unwrap();
    std::os::unix::fs::symlink(s.join("home/.profile"), &log).unwrap();
    nono_as(
        None,
        &work,
        &[],
        &["run", "--audit-log", &log_s, "--", "true"],
    )
    .expect_code(125)
    .stderr_has("it is a symlink");
    assert!(!s.join("home/.profile").exists());
    std::fs::remove_file(&log).unwrap();
    // Inside a write grant of the run: refused before anything runs, naming the grant.
    nono_as(
        None,
        &work,
        &[],
        &[
            "run",
            "--allow-cwd",
            "--audit-log",
            "./audit.jsonl",
            "--",
            "true",
        ],
    )
    .expect_code(125)
    .stderr_has(&format!(
        "inside the write grant {} (--allow-cwd",
        work.display()
    ));
    let in_tmp = InTmp::new("audit.jsonl");
    std::os::unix::fs::symlink(&bashrc, &in_tmp.0).unwrap();
    nono_as(
        None,
        &work,
        &[],
        &[
            "run",
            "--audit-log",
            &in_tmp.0.display().to_string(),
            "--",
            "cat",
            &hostile_s,
        ],
    )
    .expect_code(125)
    .stderr_has("inside the write grant /tmp (profile default)");
    assert_eq!(std::fs::read_to_string(&bashrc).unwrap(), "# rc\n");
    // Outside every write grant, a plain file: the denial is logged.
    std::fs::remove_file(&log).ok();
    nono_as(
        None,
        &work,
        &[],
        &["run", "--audit-log", &log_s, "--", "cat", &hostile_s],
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("touch PWNED"), "{text}");
    assert_eq!(std::fs::metadata(&log).unwrap().mode() & 0o777, 0o600);
    // Control: without O_NOFOLLOW the append goes to the rc file.
    std::fs::remove_file(&log).unwrap();
    std::os::unix::fs::symlink(&bashrc, &log).unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"x\n"))
        .unwrap();
    assert_eq!(std::fs::read_to_string(&bashrc).unwrap(), "# rc\nx\n");
}

/// Finding 6: a denied path with ESC, CR, LF, an OSC title sequence, a C1 CSI and a bidi
/// override must not reach the terminal as itself in nono's report or in `nono why`, so it can
/// neither erase the report nor forge a `nono: all clear` line after the command exits.
#[test]
fn persist_hostile_path_cannot_forge_the_report() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("persist-report");
    let name = "x\u{1b}[2K\u{1b}]0;owned\u{7}\u{9b}1A\u{202e}\r\nnono: all clear\r";
    let hostile = s.write(&format!("h/{name}"), "");
    let hostile_s = hostile.display().to_string();
    // The command prints nothing itself: all of stderr is nono's.
    let r = nono_as(
        None,
        &s.path,
        &[],
        &[
            "run",
            "--",
            SHELL,
            "-c",
            r#"cat "$1" 2>/dev/null"#,
            "sh",
            &hostile_s,
        ],
    );
    let check = |what: &str, text: &str| {
        assert!(
            !text.contains(['\u{1b}', '\r', '\u{7}', '\u{9b}', '\u{202e}']),
            "{what} carries the raw sequence: {text:?}"
        );
        assert!(
            !text.lines().any(|l| l.trim() == "nono: all clear"),
            "{what} has a forged line: {text:?}"
        );
        assert!(
            text.contains("\\u{1b}[2K"),
            "{what} lacks the escaped name: {text:?}"
        );
    };
    assert!(r.stderr.contains("nono: denied read of"), "{r}");
    check("the report", &r.stderr);
    let why = nono_as(
        None,
        &s.path,
        &[],
        &["why", "--op", "read", "--path", &hostile_s],
    );
    check("nono why", &why.stdout);
    let why_json = nono_as(
        None,
        &s.path,
        &[],
        &["why", "--json", "--op", "read", "--path", &hostile_s],
    );
    assert!(!why_json
        .stdout
        .contains(['\u{1b}', '\r', '\u{7}', '\u{9b}', '\u{202e}']));
    let v: serde_json::Value = serde_json::from_str(&why_json.stdout).unwrap();
    assert!(v["path"].as_str().unwrap().ends_with(name), "{v}");
}

/// The documented `wrap` gaps: without a supervisor, chmod of a deny-group file succeeds
/// (`run` refuses it). `wrap --dry-run` and `setup` say so, and `wrap` refuses to start with a
/// grant covering the home directory unless `--accept-wrap-gaps` is given.
#[test]
fn persist_wrap_with_a_home_wide_grant_needs_acknowledgement() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("persist-wrap-gaps");
    let home = s.mkdir("home");
    let key = s.write("home/.ssh/id_rsa", "key\n");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let env = [("HOME", home.as_path())];
    let (home_s, key_s) = (s.s("home"), key.display().to_string());
    let chmod = ["--", "chmod", "0644", key_s.as_str()];
    let mode = || std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    let with = |first: &[&str], rest: &[&str]| -> Vec<String> {
        first.iter().chain(rest).map(|s| (*s).to_owned()).collect()
    };
    let args = with(&["wrap", "--allow", &home_s], &chmod);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = nono_as(None, &s.path, &env, &argv);
    assert_eq!(
        mode(),
        0o600,
        "wrap started without the acknowledgement:\n{r}"
    );
    r.expect_code(125)
        .stderr_has("covers your home directory")
        .stderr_has("--accept-wrap-gaps");
    // `run` refuses the chmod; `wrap` with the acknowledgement shows the gap it names.
    let args = with(&["run", "--allow", &home_s], &chmod);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    nono_as(None, &s.path, &env, &argv);
    assert_eq!(mode(), 0o600, "run let chmod of a deny-group file through");
    let args = with(&["wrap", "--accept-wrap-gaps", "--allow", &home_s], &chmod);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    nono_as(None, &s.path, &env, &argv).expect_code(0);
    assert_eq!(
        mode(),
        0o644,
        "the documented wrap gap is gone: update gaps.rs and the docs"
    );
    let line = "chmod/utime/setxattr of ~/.ssh/id_rsa";
    nono_as(None, &s.path, &env, &["wrap", "--dry-run", "--", "true"])
        .expect_code(0)
        .stdout_has(line);
    let setup = nono_as(None, &s.path, &env, &["setup"]);
    assert!(setup.stdout.contains(line), "{setup}");
    let help = nono_as(None, &s.path, &env, &["wrap", "--help"]);
    assert!(help.stdout.contains("--accept-wrap-gaps"), "{help}");
}

/// Issue 11 point 5: `nono learn` now runs with write access everywhere outside the deny
/// groups, so a learn run can plant a symlink where a later run's grant will be. nono records
/// `/` as the learn run's write grant, so the later run refuses the link (naming
/// `--allow-symlinked-grant`) instead of granting — and writing through — its target.
#[test]
fn persist_learn_run_planting_a_grant_link_is_refused_later() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("persist-learn-link");
    let proj = s.mkdir("proj");
    let outside = s.mkdir("outside");
    let (out_s, outside_s) = (s.s("proj/out"), s.s("outside"));
    let home = s.mkdir("home");
    let env = [("HOME", home.as_path())];
    // Run 1: learn plants the link (nothing in the base grants covers proj/).
    nono_as(
        None,
        &s.path,
        &env,
        &[
            "learn",
            "-o",
            &s.s("learned.json"),
            "--",
            "ln",
            "-s",
            &outside_s,
            &out_s,
        ],
    )
    .expect_code(0);
    assert!(proj.join("out").is_symlink());
    // Run 2: only the link is granted.
    let plant = "echo x > \"$1/planted\"";
    let r = nono_as(
        None,
        &s.path,
        &env,
        &[
            "run", "--allow", &out_s, "--", SHELL, "-c", plant, "sh", &out_s,
        ],
    );
    assert!(
        !outside.join("planted").exists(),
        "wrote outside through the link learn planted:\n{r}"
    );
    r.expect_code(125)
        .stderr_has(&format!("refusing the symlink {out_s} -> {outside_s}"))
        .stderr_has(&format!("--allow-symlinked-grant {out_s}"));
}

/// A profile given by path (`-p proj/nono.json`) inside a run's write grant: the run rewrites
/// it to read a secret outside (or plants a symlink to another profile there) for the next
/// run. nono uses a profile file that changed after its directory became writable by a
/// sandboxed run only when the user trusted that content (`nono profile trust`, named in the
/// refusal); an unchanged profile keeps working run after run, and the trust step works.
/// Run and wrap (both record their write grants).
#[test]
fn persist_profile_rewritten_by_a_run_is_refused_until_trusted() {
    if !sandbox_available() {
        return;
    }
    for mode in ["run", "wrap"] {
        let s = Scratch::new(&format!("persist-profile-{mode}"));
        s.mkdir("proj");
        s.write("outside/secret", "the-secret\n");
        let home = s.mkdir("home");
        let env = [("HOME", home.as_path())];
        let (proj, prof, secret) = (s.s("proj"), s.s("proj/nono.json"), s.s("outside/secret"));
        s.write("proj/nono.json", r#"{"extends": "default"}"#);
        let evil = format!(
            r#"{{"extends": "default", "filesystem": {{"read": ["{}"]}}}}"#,
            s.s("outside")
        );
        let read_secret = |expect_refusal: bool| {
            let r = nono_as(
                None,
                &s.path,
                &env,
                &[mode, "-p", &prof, "--", "cat", &secret],
            );
            if expect_refusal {
                assert!(
                    !r.stdout.contains("the-secret"),
                    "{mode}: secret read:\n{r}"
                );
            }
            r
        };
        // Control: the profile the user wrote does not grant the secret, and using it again
        // after a run that could write there (but did not) is fine.
        for _ in 0..2 {
            nono_as(
                None,
                &s.path,
                &env,
                &[mode, "-p", &prof, "--allow", &proj, "--", "true"],
            )
            .expect_code(0);
        }
        assert_ne!(
            read_secret(true).code,
            Some(0),
            "{mode}: the user's profile grants the secret"
        );
        // Run 1 rewrites its own profile.
        nono_as(
            None,
            &s.path,
            &env,
            &[
                mode,
                "-p",
                &prof,
                "--allow",
                &proj,
                "--",
                SHELL,
                "-c",
                "printf '%s' \"$1\" > \"$2\"",
                "sh",
                &evil,
                &prof,
            ],
        )
        .expect_code(0);
        assert_eq!(std::fs::read_to_string(&prof).unwrap(), evil);
        // Run 2: refused, naming the fix.
        read_secret(true)
            .expect_code(125)
            .stderr_has(&format!(
                "profile {prof} changed after {proj} became writable"
            ))
            .stderr_has(&format!("nono profile trust {prof}"));
        // The fix works: the user read it and trusts it.
        let t = nono_as(None, &s.path, &env, &["profile", "trust", &prof]);
        t.expect_code(0).stdout_has(&format!("trusted {prof}"));
        read_secret(false).expect_code(0).stdout_has("the-secret");
        // A symlink planted where the profile was, to a profile no run could write (so the
        // file itself passes): the link is what is refused.
        let other = s.write("elsewhere/other.json", &evil);
        s.write("proj/nono.json", r#"{"extends": "default"}"#);
        nono_as(None, &s.path, &env, &["profile", "trust", &prof]).expect_code(0);
        assert_ne!(read_secret(true).code, Some(0));
        nono_as(
            None,
            &s.path,
            &env,
            &[
                mode,
                "-p",
                &prof,
                "--allow",
                &proj,
                "--",
                "ln",
                "-sf",
                &other.display().to_string(),
                &prof,
            ],
        )
        .expect_code(0);
        assert!(Path::new(&prof).is_symlink());
        read_secret(true)
            .expect_code(125)
            .stderr_has(&format!(
                "profile {prof} is reached through the symlink {prof}"
            ))
            .stderr_has(&format!("nono profile trust {prof}"));
    }
}

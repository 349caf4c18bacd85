//! Fifth red-team pass (docs/THREAT_MODEL.md, "Red team 5: profile trust"): a sandboxed run
//! preparing a profile file for a later `nono run -p FILE`. Each test is the attacking run,
//! then the victim run that must refuse the profile (125, naming `nono profile trust`), then
//! the control: once the user trusts it, the same profile does grant what the attack wanted
//! (so the refusal is what stopped it). Run and wrap; as root and as an unprivileged user.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::harness::{nono_bin, nono_cmd, output, sandbox_available, Run, Scratch};

/// The unprivileged user (`nobody`): `setpriv` switches to the ids alone.
pub(crate) const NOBODY: u32 = 65534;

/// `nono ARGS` in `cwd` with `HOME=home` (nono's state under it), as root or as `uid`.
pub(crate) fn nono_as(uid: Option<u32>, cwd: &Path, home: &Path, args: &[&str]) -> Run {
    crate::persistence::nono_as(uid, cwd, &[("HOME", home)], args)
}

/// Give `paths` (and everything under them) to `uid`.
pub(crate) fn give(uid: Option<u32>, paths: &[&Path]) {
    let Some(uid) = uid else { return };
    for p in paths {
        let st = Command::new("chown")
            .args(["-R", &format!("{uid}:{uid}")])
            .arg(p)
            .status()
            .unwrap();
        assert!(st.success());
    }
}

/// The attacking run: `nono SANDBOX -- bash -c 'printf %s "$1" > "$2"' sh CONTENT FILE`, as
/// root or as `uid` (`sandbox`: the mode and the flags that let it write `file`).
pub(crate) fn run_writes(
    uid: Option<u32>,
    cwd: &Path,
    home: &Path,
    sandbox: &[&str],
    content: &str,
    file: &str,
) -> Run {
    let mut args = sandbox.to_vec();
    args.extend([
        "--",
        "bash",
        "-c",
        r#"printf '%s' "$1" > "$2""#,
        "sh",
        content,
        file,
    ]);
    nono_as(uid, cwd, home, &args)
}

/// A profile that grants reading `dir`.
fn reading(dir: &str) -> String {
    format!(r#"{{"extends": "default", "filesystem": {{"read": ["{dir}"]}}}}"#)
}

/// The victim: `MODE -p PROFILE -- cat SECRET` must not print the secret and must be refused
/// with `needle` and the trust hint for `profile`.
fn expect_refused(
    uid: Option<u32>,
    s: &Scratch,
    home: &Path,
    mode: &str,
    profile: &str,
    secret: &str,
    needle: &str,
) {
    let r = nono_as(
        uid,
        &s.path,
        home,
        &[mode, "-p", profile, "--", "cat", secret],
    );
    assert!(
        !r.stdout.contains("the-secret"),
        "{mode} as {uid:?}: the planted profile was used:\n{r}"
    );
    r.expect_code(125)
        .stderr_has(needle)
        .stderr_has(&format!("nono profile trust {profile}"));
}

/// The control: once trusted, the profile grants the secret.
fn trust_then_read(
    uid: Option<u32>,
    s: &Scratch,
    home: &Path,
    mode: &str,
    profile: &str,
    secret: &str,
) {
    nono_as(uid, &s.path, home, &["profile", "trust", profile]).expect_code(0);
    nono_as(
        uid,
        &s.path,
        home,
        &[mode, "-p", profile, "--", "cat", secret],
    )
    .expect_code(0)
    .stdout_has("the-secret");
}

/// Finding 1: only directory write grants entered the write history, so a run given the
/// profile file itself (`--allow-file proj/nono.json`) rewrote it and the next run used it.
/// File write grants are recorded now, and a file is judged by a record over itself too.
#[test]
fn redteam5_profile_rewritten_through_a_file_write_grant_is_refused() {
    if !sandbox_available() {
        return;
    }
    for uid in [None, Some(NOBODY)] {
        for mode in ["run", "wrap"] {
            let s = Scratch::new(&format!("rt5-filegrant-{}-{mode}", uid.unwrap_or(0)));
            let home = s.mkdir("home");
            s.write("outside/secret", "the-secret\n");
            let prof = s.write("proj/nono.json", r#"{"extends": "default"}"#);
            give(uid, &[&home, &s.join("proj"), &s.join("outside")]);
            let (prof_s, secret) = (prof.display().to_string(), s.s("outside/secret"));
            // Run 1: granted only its profile file, it rewrites it.
            run_writes(
                uid,
                &s.path,
                &home,
                &[mode, "-p", &prof_s, "--allow-file", &prof_s],
                &reading(&s.s("outside")),
                &prof_s,
            )
            .expect_code(0);
            assert_eq!(
                std::fs::read_to_string(&prof).unwrap(),
                reading(&s.s("outside"))
            );
            // Run 2: refused.
            expect_refused(
                uid,
                &s,
                &home,
                mode,
                &prof_s,
                &secret,
                &format!("changed after {prof_s} became writable"),
            );
            trust_then_read(uid, &s, &home, mode, &prof_s, &secret);
        }
    }
}

/// Finding 2: a trusted profile elsewhere (`other/nono.json`, used once, so remembered as
/// trusted) reached through a directory symlink a run planted in its write grant
/// (`proj/conf -> other`): the trust was looked up by the resolved place, and a trusted file
/// skipped the symlink check. Trust now vouches for the path as it was looked up; a trusted
/// file reached another way still has its symlinks judged.
#[test]
fn redteam5_trusted_profile_reached_through_a_planted_directory_link_is_refused() {
    if !sandbox_available() {
        return;
    }
    for uid in [None, Some(NOBODY)] {
        for mode in ["run", "wrap"] {
            let s = Scratch::new(&format!("rt5-dirlink-{}-{mode}", uid.unwrap_or(0)));
            let home = s.mkdir("home");
            s.write("outside/secret", "the-secret\n");
            s.write("proj/conf/nono.json", r#"{"extends": "default"}"#);
            s.write("other/nono.json", &reading(&s.s("outside")));
            give(
                uid,
                &[&home, &s.join("proj"), &s.join("outside"), &s.join("other")],
            );
            let (prof, secret) = (s.s("proj/conf/nono.json"), s.s("outside/secret"));
            // The user uses the other profile where it is (it is remembered as trusted).
            nono_as(
                uid,
                &s.path,
                &home,
                &[mode, "-p", &s.s("other/nono.json"), "--", "true"],
            )
            .expect_code(0);
            // Run 1 (its own profile, `--allow proj`) swaps its profile's directory for a link.
            nono_as(
                uid,
                &s.path,
                &home,
                &[
                    mode,
                    "-p",
                    &prof,
                    "--allow",
                    &s.s("proj"),
                    "--",
                    "bash",
                    "-c",
                    r#"rm -r "$1/conf" && ln -s "$2" "$1/conf""#,
                    "sh",
                    &s.s("proj"),
                    &s.s("other"),
                ],
            )
            .expect_code(0);
            assert!(s.join("proj/conf").is_symlink());
            expect_refused(
                uid,
                &s,
                &home,
                mode,
                &prof,
                &secret,
                &format!("is reached through the symlink {}", s.s("proj/conf")),
            );
            trust_then_read(uid, &s, &home, mode, &prof, &secret);
        }
    }
}

/// Finding 3: an older file moved into place by renaming its directory (`proj/examples` ->
/// `proj/conf`): a directory rename does not change the ctime of the files in it, so the
/// profile looked unchanged since the record, even though another content was trusted at that
/// path. A directory on the way that changed after the record over its parent is judged as
/// the file would be.
#[test]
fn redteam5_older_profile_moved_in_by_renaming_its_directory_is_refused() {
    if !sandbox_available() {
        return;
    }
    for uid in [None, Some(NOBODY)] {
        for mode in ["run", "wrap"] {
            let s = Scratch::new(&format!("rt5-dirmove-{}-{mode}", uid.unwrap_or(0)));
            let home = s.mkdir("home");
            s.write("outside/secret", "the-secret\n");
            s.write("proj/conf/nono.json", r#"{"extends": "default"}"#);
            // Another profile the user wrote, for something else.
            s.write("proj/examples/nono.json", &reading(&s.s("outside")));
            give(uid, &[&home, &s.join("proj"), &s.join("outside")]);
            let (prof, secret) = (s.s("proj/conf/nono.json"), s.s("outside/secret"));
            // Both files are older than the record (beyond its 2-second slack).
            std::thread::sleep(std::time::Duration::from_secs(3));
            nono_as(
                uid,
                &s.path,
                &home,
                &[
                    mode,
                    "-p",
                    &prof,
                    "--allow",
                    &s.s("proj"),
                    "--",
                    "bash",
                    "-c",
                    r#"mv "$1/conf" "$1/conf.old" && mv "$1/examples" "$1/conf""#,
                    "sh",
                    &s.s("proj"),
                ],
            )
            .expect_code(0);
            assert_eq!(
                std::fs::read_to_string(&prof).unwrap(),
                reading(&s.s("outside"))
            );
            expect_refused(
                uid,
                &s,
                &home,
                mode,
                &prof,
                &secret,
                &format!(
                    "is found through the directory {}, which changed after",
                    s.s("proj/conf")
                ),
            );
            trust_then_read(uid, &s, &home, mode, &prof, &secret);
        }
    }
}

/// Finding 4: a run still going swaps its profile for a symlink to another profile and back
/// (`renameat2(RENAME_EXCHANGE)` in a loop) while the victim starts. nono resolved the path,
/// opened it again by name, and looked for symlinks on it once more at the trust check: a
/// victim that resolved through the link and checked the links after the swap back used the
/// other file as if it were at the trusted place. The symlinks are now recorded on the walk
/// that leads to the file, the file opened is checked to be the one that walk ended at, and
/// the links met are judged even when gone by the check. As root under `run` (the attacker)
/// against `run` and `wrap` victims.
#[test]
fn redteam5_profile_swapped_for_a_link_while_it_is_read_is_not_used() {
    use crate::programs::bins;
    let Some(b) = bins() else { return };
    let s = Scratch::new("rt5-swap");
    let home = s.mkdir("home");
    s.write("outside/secret", "the-secret\n");
    let prof = s.write("proj/nono.json", r#"{"extends": "default"}"#);
    // Another profile of the user's, outside every grant, older than the run's record.
    let other = s.write("other/p.json", &reading(&s.s("outside")));
    std::os::unix::fs::symlink(&other, s.join("proj/lnk")).unwrap();
    let (prof_s, secret) = (prof.display().to_string(), s.s("outside/secret"));
    // The user's own profile, used before (remembered as trusted).
    nono_as(None, &s.path, &home, &["run", "-p", &prof_s, "--", "true"]).expect_code(0);
    std::thread::sleep(std::time::Duration::from_secs(3));
    let mut a = nono_cmd(&s.path);
    for var in ["XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"] {
        a.env_remove(var);
    }
    a.env("HOME", &home)
        .args([
            "run",
            "-s",
            "--read",
            &b.dir_s(),
            "--allow",
            &s.s("proj"),
            "--",
        ])
        .arg(b.race())
        .args(["spin", &prof_s, &s.s("proj/lnk"), "60"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut a = a.spawn().expect("spawn the attacking run");
    std::thread::sleep(std::time::Duration::from_millis(700));
    let mut hit = None;
    'outer: for i in 0..80 {
        for mode in ["run", "wrap"] {
            let r = nono_as(
                None,
                &s.path,
                &home,
                &[mode, "-p", &prof_s, "--", "cat", &secret],
            );
            if r.stdout.contains("the-secret") {
                hit = Some((i, mode, r));
                break 'outer;
            }
        }
    }
    let _ = a.kill();
    let _ = a.wait();
    if let Some((i, mode, r)) = hit {
        panic!("{mode} used the swapped-in profile on attempt {i}:\n{r}");
    }
    // Control: that profile does grant the secret when the user asks for it.
    nono_as(
        None,
        &s.path,
        &home,
        &[
            "run",
            "-p",
            &other.display().to_string(),
            "--",
            "cat",
            &secret,
        ],
    )
    .expect_code(0)
    .stdout_has("the-secret");
}

/// Finding 5: `nono proxy -p FILE` (the egress proxy alone, for containers beside it) loaded
/// the profile without the trust check, so a run that rewrote its profile could redefine the
/// credential route of a service the user names (`--credential x`) to send any file the user
/// can read (`source: {"file": ...}`) to a host of its choice, or open egress with
/// `allow_domain`, and the next `nono proxy -p` served it. It is judged as `run -p` judges it.
#[test]
fn redteam5_proxy_refuses_a_profile_rewritten_by_a_run() {
    if !sandbox_available() {
        return;
    }
    for uid in [None, Some(NOBODY)] {
        for mode in ["run", "wrap"] {
            let s = Scratch::new(&format!("rt5-proxy-{}-{mode}", uid.unwrap_or(0)));
            let home = s.mkdir("home");
            s.write("outside/secret", "the-secret\n");
            let route = |source: &str| {
                format!(
                    r#"{{"extends": "default", "network": {{"credentials": {{"x": {{
                    "upstream": "http://127.0.0.1:9", "source": {source},
                    "base_url_env": "X_URL", "key_env": "X_KEY"}}}}}}}}"#
                )
            };
            // The user's route for service `x` takes its secret from nono's environment.
            let prof = s.write("proj/nono.json", &route(r#"{"env": "RT5_X_SECRET"}"#));
            give(uid, &[&home, &s.join("proj"), &s.join("outside")]);
            let prof_s = prof.display().to_string();
            // The run's: from a file of the user's (any file the user can read).
            let evil = route(&format!(r#"{{"file": "{}"}}"#, s.s("outside/secret")));
            std::thread::sleep(std::time::Duration::from_secs(3));
            run_writes(
                uid,
                &s.path,
                &home,
                &[mode, "-p", &prof_s, "--allow", &s.s("proj")],
                &evil,
                &prof_s,
            )
            .expect_code(0);
            assert_eq!(std::fs::read_to_string(&prof).unwrap(), evil);
            // `timeout` ends a proxy that started (status 124); a refusal is 125 at once.
            let proxy = |secs: &str| {
                let mut cmd = match uid {
                    None => Command::new("timeout"),
                    Some(u) => {
                        let mut c = Command::new("setpriv");
                        c.args([
                            format!("--reuid={u}"),
                            format!("--regid={u}"),
                            "--clear-groups".to_owned(),
                            "--".to_owned(),
                            "timeout".to_owned(),
                        ]);
                        c
                    }
                };
                for var in [
                    "XDG_STATE_HOME",
                    "XDG_CONFIG_HOME",
                    "XDG_DATA_HOME",
                    "RUST_LOG",
                ] {
                    cmd.env_remove(var);
                }
                cmd.arg(secs)
                    .arg(nono_bin())
                    .args(["proxy", "-p", &prof_s, "--credential", "x"])
                    .current_dir(&s.path)
                    .env("HOME", &home)
                    .stdin(Stdio::null());
                output(&mut cmd)
            };
            let r = proxy("10");
            assert!(
                !r.stderr.contains("egress proxy listening"),
                "{mode} as {uid:?}: the proxy served the rewritten profile:\n{r}"
            );
            r.expect_code(125)
                .stderr_has(&format!("changed after {} became writable", s.s("proj")))
                .stderr_has(&format!("nono profile trust {prof_s}"));
            // Control: trusted, the proxy starts with that route.
            nono_as(uid, &s.path, &home, &["profile", "trust", &prof_s]).expect_code(0);
            proxy("2")
                .expect_code(124)
                .stderr_has("egress proxy listening");
        }
    }
}

/// Finding 6: a profile of the user's outside every write grant (`mine/p.json`) that has a
/// hard link inside one (`proj/alias.json`, made outside the sandbox: a run cannot link a file
/// from outside into its grant). The run rewrites it in place through the name it can write;
/// the profile's own directory has no record, so the next `-p mine/p.json` used it. A
/// profile with other names (`st_nlink > 1`) is now judged against every record.
#[test]
fn redteam5_profile_rewritten_through_a_hard_link_in_a_grant_is_refused() {
    if !sandbox_available() {
        return;
    }
    for uid in [None, Some(NOBODY)] {
        for mode in ["run", "wrap"] {
            let s = Scratch::new(&format!("rt5-hardlink-{}-{mode}", uid.unwrap_or(0)));
            let home = s.mkdir("home");
            s.write("outside/secret", "the-secret\n");
            let mine = s.write("mine/p.json", r#"{"extends": "default"}"#);
            s.mkdir("proj");
            std::fs::hard_link(&mine, s.join("proj/alias.json")).unwrap();
            give(
                uid,
                &[&home, &s.join("proj"), &s.join("outside"), &s.join("mine")],
            );
            let (mine_s, secret) = (mine.display().to_string(), s.s("outside/secret"));
            std::thread::sleep(std::time::Duration::from_secs(3));
            // The run rewrites its file in place (same inode): `mine/p.json` changes too.
            run_writes(
                uid,
                &s.path,
                &home,
                &[mode, "--allow", &s.s("proj")],
                &reading(&s.s("outside")),
                &s.s("proj/alias.json"),
            )
            .expect_code(0);
            assert_eq!(
                std::fs::read_to_string(&mine).unwrap(),
                reading(&s.s("outside"))
            );
            expect_refused(
                uid,
                &s,
                &home,
                mode,
                &mine_s,
                &secret,
                &format!("profile {mine_s} changed after"),
            );
            trust_then_read(uid, &s, &home, mode, &mine_s, &secret);
        }
    }
}

/// Finding 7 (denial of service): a run replaces its profile with a FIFO (or a symlink to
/// `/dev/zero`); the next `-p` blocked in `open` for ever (or read without end) before any
/// check. The profile is now opened without blocking and refused unless a regular file.
#[test]
fn redteam5_profile_replaced_by_a_fifo_does_not_hang_the_next_run() {
    if !sandbox_available() {
        return;
    }
    for mode in ["run", "wrap"] {
        let s = Scratch::new(&format!("rt5-fifo-{mode}"));
        let home = s.mkdir("home");
        let prof = s.write("proj/nono.json", r#"{"extends": "default"}"#);
        let prof_s = prof.display().to_string();
        nono_as(
            None,
            &s.path,
            &home,
            &[
                mode,
                "--allow",
                &s.s("proj"),
                "--",
                "bash",
                "-c",
                r#"rm "$1" && mkfifo "$1""#,
                "sh",
                &prof_s,
            ],
        )
        .expect_code(0);
        let mut cmd = Command::new("timeout");
        for var in [
            "XDG_STATE_HOME",
            "XDG_CONFIG_HOME",
            "XDG_DATA_HOME",
            "RUST_LOG",
        ] {
            cmd.env_remove(var);
        }
        cmd.arg("20")
            .arg(nono_bin())
            .args([mode, "-p", &prof_s, "--", "true"])
            .current_dir(&s.path)
            .env("HOME", &home)
            .stdin(Stdio::null());
        output(&mut cmd)
            .expect_code(125)
            .stderr_has("not a regular file");
    }
}

/// Finding 3, on the way through a symlink: an older symlink of the user's
/// (`proj/examples/conf -> ~/other`) moved, with its directory, to where the profile's path
/// goes (`mv proj/examples proj/x`, the profile being `proj/x/conf/nono.json`): the link's
/// ctime stays old and the file it leads to lies outside every grant. The directories a link
/// was found in are judged like the profile's own.
#[test]
fn redteam5_older_link_moved_in_by_renaming_its_directory_is_refused() {
    if !sandbox_available() {
        return;
    }
    for uid in [None, Some(NOBODY)] {
        for mode in ["run", "wrap"] {
            let s = Scratch::new(&format!("rt5-linkmove-{}-{mode}", uid.unwrap_or(0)));
            let home = s.mkdir("home");
            s.write("outside/secret", "the-secret\n");
            s.write("proj/x/conf/nono.json", r#"{"extends": "default"}"#);
            s.write("other/nono.json", &reading(&s.s("outside")));
            s.mkdir("proj/examples");
            std::os::unix::fs::symlink(s.join("other"), s.join("proj/examples/conf")).unwrap();
            give(
                uid,
                &[&home, &s.join("proj"), &s.join("outside"), &s.join("other")],
            );
            let (prof, secret) = (s.s("proj/x/conf/nono.json"), s.s("outside/secret"));
            std::thread::sleep(std::time::Duration::from_secs(3));
            nono_as(
                uid,
                &s.path,
                &home,
                &[
                    mode,
                    "-p",
                    &prof,
                    "--allow",
                    &s.s("proj"),
                    "--",
                    "bash",
                    "-c",
                    r#"mv "$1/x" "$1/x.old" && mv "$1/examples" "$1/x""#,
                    "sh",
                    &s.s("proj"),
                ],
            )
            .expect_code(0);
            assert_eq!(
                std::fs::read_to_string(&prof).unwrap(),
                reading(&s.s("outside"))
            );
            expect_refused(
                uid,
                &s,
                &home,
                mode,
                &prof,
                &secret,
                &format!(
                    "is found through the directory {}, which changed after",
                    s.s("proj/x")
                ),
            );
            trust_then_read(uid, &s, &home, mode, &prof, &secret);
        }
    }
}

/// The residual of this pass, closed in session 8: `nono profile trust` trusted whatever the
/// file held when it ran, so a run still going could rewrite the profile between the user's
/// reading it and trusting it. The refusal prints the sha256 of the content it read, and
/// `--sha256` trusts that content only: a file rewritten after it was shown is refused and
/// nothing is recorded; the content shown, once it is back, is trusted. As root and as an
/// unprivileged user, run and wrap.
#[test]
fn redteam5_trust_by_the_printed_sha256_refuses_a_profile_rewritten_after_it_was_shown() {
    if !sandbox_available() {
        return;
    }
    for uid in [None, Some(NOBODY)] {
        for mode in ["run", "wrap"] {
            let s = Scratch::new(&format!("rt5-trustsha-{}-{mode}", uid.unwrap_or(0)));
            let home = s.mkdir("home");
            s.write("outside/secret", "the-secret\n");
            s.write("outside/other", "the-other\n");
            let prof = s.write("proj/nono.json", r#"{"extends": "default"}"#);
            give(uid, &[&home, &s.join("proj"), &s.join("outside")]);
            let (prof_s, secret) = (prof.display().to_string(), s.s("outside/secret"));
            let proj = s.s("proj");
            let rewrite = |content: &str| {
                run_writes(
                    uid,
                    &s.path,
                    &home,
                    &[mode, "--allow", &proj],
                    content,
                    &prof_s,
                )
                .expect_code(0);
            };
            // What the user is shown: a profile granting `outside/other` (the project's run
            // rewrote it; that is the content the refusal prints the sha256 of).
            let shown = reading(&s.s("outside/other"));
            rewrite(&shown);
            let r = nono_as(
                uid,
                &s.path,
                &home,
                &[mode, "-p", &prof_s, "--", "cat", &secret],
            );
            r.expect_code(125);
            let hint = format!("nono profile trust {prof_s} --sha256 ");
            let at = r
                .stderr
                .find(&hint)
                .unwrap_or_else(|| panic!("no `{hint}` in the refusal:\n{r}"));
            let sha: String = r.stderr[at + hint.len()..]
                .chars()
                .take_while(char::is_ascii_hexdigit)
                .collect();
            assert_eq!(
                sha,
                nono_supervisor::profile_trust::sha256_hex(shown.as_bytes())
            );
            // While the user reads it, a run still going rewrites it to grant the secret.
            rewrite(&reading(&s.s("outside")));
            nono_as(
                uid,
                &s.path,
                &home,
                &["profile", "trust", &prof_s, "--sha256", &sha],
            )
            .expect_code(125)
            .stderr_has("nothing trusted")
            .stderr_has(&format!(
                "{prof_s} is now sha256 {}",
                nono_supervisor::profile_trust::sha256_hex(reading(&s.s("outside")).as_bytes())
            ));
            // Nothing was recorded: the rewritten profile is still refused.
            let r = nono_as(
                uid,
                &s.path,
                &home,
                &[mode, "-p", &prof_s, "--", "cat", &secret],
            );
            assert!(!r.stdout.contains("the-secret"), "{mode} as {uid:?}:\n{r}");
            r.expect_code(125);
            // A malformed hash is a usage error, not a trust.
            nono_as(
                uid,
                &s.path,
                &home,
                &["profile", "trust", &prof_s, "--sha256", "abc"],
            )
            .expect_code(2)
            .stderr_has("not a sha256");
            // The content shown, put back, is trusted with the printed hash, and grants what
            // it says.
            std::fs::write(&prof, &shown).unwrap();
            give(uid, &[&prof]);
            nono_as(
                uid,
                &s.path,
                &home,
                &["profile", "trust", &prof_s, "--sha256", &sha],
            )
            .expect_code(0)
            .stdout_has(&format!("trusted {prof_s}"));
            nono_as(
                uid,
                &s.path,
                &home,
                &[mode, "-p", &prof_s, "--", "cat", &s.s("outside/other")],
            )
            .expect_code(0)
            .stdout_has("the-other");
        }
    }
}

//! Escapes found by the adversarial (red-team) pass over the issue 10 / 16 fixes, kept as
//! regression tests. Each test failed on the code it was written against (the reproducer of
//! the finding) and passes since the fix; the finding's text below says what was wrong.
//! Names start with `redteam_`.

use std::path::Path;
use std::process::Stdio;

use crate::harness::{nono_cmd, output, sandbox_available, Run, Scratch};

/// `nono ARGS` in `cwd` with `XDG_STATE_HOME=state` (a fresh history of write grants, so the
/// result does not depend on what other tests recorded in root's own).
fn nono_with_state(cwd: &Path, state: &Path, args: &[&str]) -> Run {
    let mut cmd = nono_cmd(cwd);
    cmd.env("XDG_STATE_HOME", state).stdin(Stdio::null());
    output(cmd.args(args))
}

/// RED TEAM finding A (issue 16 finding 2 class, not closed): nono's own output files
/// (`--audit-log`, `learn -o`) are opened `O_NOFOLLOW`, but only the *last* component is
/// protected, and `check_own_output` judges the path against the write grants of the
/// *current* run only — it does not consult the history of earlier runs' write grants
/// (`write-grants.jsonl`) that the grant-link check uses. Run 1 (`--allow proj`) replaces
/// `proj/logs` with a symlink to any directory the user can write; run 2, which grants
/// nothing there, writes its audit log into that directory (created 0600 or appended), and
/// `nono learn -o proj/logs/profile.json` truncates and rewrites a `profile.json` there.
///
/// Reproducer (root or any user):
/// ```text
/// mkdir -p proj victim; echo '{"mine":1}' > victim/profile.json
/// nono run --allow proj -- ln -s "$PWD/victim" proj/logs        # run 1 plants
/// nono run --audit-log proj/logs/audit.jsonl -- cat /etc/hostname # run 2: victim/audit.jsonl
/// nono learn -o proj/logs/profile.json -- true                    # victim/profile.json rewritten
/// ```
/// Expected: refused like a planted link on the way to a grant ("it was made after an earlier
/// run was granted writes in …"), or opened beneath a trusted directory with
/// `RESOLVE_NO_SYMLINKS`.
#[test]
fn redteam_own_output_through_a_planted_parent_link() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("redteam-own-output");
    let (proj, victim, state) = (s.mkdir("proj"), s.mkdir("victim"), s.mkdir("state"));
    let profile = s.write("victim/profile.json", "{\"mine\":1}\n");
    let proj_s = proj.display().to_string();
    let victim_s = victim.display().to_string();
    let logs = proj.join("logs");
    // Run 1: plant the parent link (the project is granted).
    nono_with_state(
        &s.path,
        &state,
        &[
            "run",
            "-s",
            "--allow",
            &proj_s,
            "--",
            "ln",
            "-s",
            &victim_s,
            &logs.display().to_string(),
        ],
    )
    .expect_code(0);
    assert!(logs.is_symlink(), "run 1 did not plant the link");
    // Run 2: the audit log is named under the planted link; nothing of proj is granted.
    let audit = logs.join("audit.jsonl").display().to_string();
    let outside = s.write("outside/f", "x");
    let r = nono_with_state(
        &s.path,
        &state,
        &[
            "run",
            "--approve",
            &outside.parent().unwrap().display().to_string(),
            "--audit-log",
            &audit,
            "--",
            "cat",
            &outside.display().to_string(),
        ],
    );
    let planted_log = victim.join("audit.jsonl");
    assert!(
        !planted_log.exists(),
        "run 2 wrote its audit log through the link run 1 planted, into {}:\n{r}",
        planted_log.display()
    );
    // `learn -o`: truncates and rewrites a file of the same name in the link's target.
    let r = nono_with_state(
        &s.path,
        &state,
        &[
            "learn",
            "-o",
            &logs.join("profile.json").display().to_string(),
            "--",
            "true",
        ],
    );
    assert_eq!(
        std::fs::read_to_string(&profile).unwrap(),
        "{\"mine\":1}\n",
        "learn -o rewrote a file through the link run 1 planted:\n{r}"
    );
}

/// RED TEAM finding B (issue 16 finding 3, same class as the listed entries, not covered):
/// under `--allow ~`, directories from which the user's session manager starts programs
/// later are writable because they are not in the `autorun` group:
/// - `~/.local/share/systemd/user/` (`$XDG_DATA_HOME/systemd/user`): systemd's user manager
///   loads units from it *before* `/usr/lib/systemd/user`, so a unit named like a vendor unit
///   that is enabled by default (`pipewire.service`, `dbus.service`, …) — or a drop-in
///   `NAME.service.d/x.conf` with `ExecStartPre=` — runs at the next login, outside the
///   sandbox; the group lists `~/.config/systemd/user` only;
/// - `~/.local/share/dbus-1/services/` (`$XDG_DATA_HOME/dbus-1/services`): the session bus
///   starts the `Exec=` of a `.service` file here when a client asks for its name (it wins
///   over `/usr/share/dbus-1/services`);
/// - `~/.config/plasma-workspace/env/*.sh`: sourced by the Plasma session at login (the
///   group has `~/.config/environment.d`, `~/.xprofile`).
///
/// Reproducer (any user; the directories exist, as on a desktop):
/// ```text
/// mkdir -p ~/.local/share/systemd/user ~/.local/share/dbus-1/services
/// nono run --allow ~ -- sh -c 'printf "[Service]\nExecStartPre=/bin/sh -c id>/tmp/p\n" \
///   > ~/.local/share/systemd/user/pipewire.service'     # succeeds
/// ```
/// (The other tool configurations that run commands — `~/.hgrc` hooks, `~/.gdbinit`,
/// `~/.pdbrc`, `~/.Rprofile`, `~/.irbrc`, `~/.gradle/init.d/*`, `~/.ipython/…/startup/*`,
/// `~/.mailcap`, `~/.config/i3/config` `exec` — are writable too; THREAT_MODEL's "the
/// `autorun` list is a list" covers those.)
#[test]
fn redteam_session_autostart_dirs_outside_autorun_group() {
    use crate::programs::{bins, Outcome, MODES};
    let Some(b) = bins() else { return };
    let s = Scratch::new("redteam-autorun");
    let home = s.mkdir("home");
    let dirs = [
        ".local/share/systemd/user",
        ".local/share/dbus-1/services",
        ".config/plasma-workspace/env",
    ];
    let mut steps: Vec<String> = Vec::new();
    let mut expect: Vec<(String, &str)> = Vec::new();
    for (i, d) in dirs.iter().enumerate() {
        let dir = home.join(d);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("x"), "original\n").unwrap();
        for (op, arg) in [("write", "x"), ("create", "new")] {
            let name = format!("{op}{i}");
            steps.extend([
                op.to_owned(),
                name.clone(),
                dir.join(arg).display().to_string(),
            ]);
            expect.push((name, "EACCES"));
        }
    }
    let pairs: Vec<(&str, &str)> = expect.iter().map(|(n, w)| (n.as_str(), *w)).collect();
    for mode in MODES {
        let mut cmd = nono_cmd(&s.path);
        for var in ["XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"] {
            cmd.env_remove(var);
        }
        cmd.env("HOME", &home)
            .arg(mode.as_str())
            .args(["--read", &b.dir_s()])
            .args(["--allow", &home.display().to_string()]);
        if mode == crate::programs::Mode::Wrap {
            cmd.arg("--accept-wrap-gaps");
        }
        cmd.arg("--").arg(b.probe()).args(&steps);
        Outcome::parse(output(&mut cmd)).expect(&pairs);
    }
}

/// RED TEAM finding C (issue 16 finding 4, incomplete): the start-up walk denies the targets
/// of symlinks found in deny entries only when the target *exists*. A dangling link —
/// `~/.bashrc -> ~/dots/bashrc` while the dotfiles checkout is being redone, or
/// `~/.local/bin/tool -> ~/proj/build/tool` before the first build — leaves its target
/// creatable by a run that may write where the target will be. The run creates it, and the
/// next interactive shell (or `tool` typed outside) runs what the sandbox wrote.
///
/// Reproducer (any user):
/// ```text
/// mkdir ~/dots; mv ~/.bashrc ~/bashrc.bak; ln -s ~/dots/bashrc ~/.bashrc
/// nono run --allow ~/dots -- sh -c 'echo "echo PWNED" > ~/dots/bashrc'   # succeeds
/// bash -i                                                                 # prints PWNED
/// ```
/// Expected: a missing link target is denied like a missing deny entry (its canonical path,
/// the missing tail appended), so creating it is refused.
#[test]
fn redteam_dangling_symlink_in_deny_entry_target_created() {
    use crate::programs::{bins, probe_bare, Outcome, MODES};
    let Some(b) = bins() else { return };
    let s = Scratch::new("redteam-dangling");
    let home = s.mkdir("home");
    let dots = s.mkdir("home/dots");
    std::fs::create_dir_all(home.join(".local/bin")).unwrap();
    std::os::unix::fs::symlink(dots.join("bashrc"), home.join(".bashrc")).unwrap();
    std::os::unix::fs::symlink(dots.join("tool"), home.join(".local/bin/tool")).unwrap();
    let rc = dots.join("bashrc").display().to_string();
    let tool = dots.join("tool").display().to_string();
    let steps = [
        "create",
        "bashrc",
        rc.as_str(),
        "create",
        "tool",
        tool.as_str(),
    ];
    for mode in MODES {
        let mut cmd = nono_cmd(&s.path);
        for var in ["XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"] {
            cmd.env_remove(var);
        }
        cmd.env("HOME", &home)
            .arg(mode.as_str())
            .args(["--read", &b.dir_s()])
            .args(["--allow", &dots.display().to_string()]);
        cmd.arg("--").arg(b.probe()).args(steps);
        let out = Outcome::parse(output(&mut cmd));
        let planted = dots.join("bashrc").exists() || dots.join("tool").exists();
        let _ = std::fs::remove_file(dots.join("bashrc"));
        let _ = std::fs::remove_file(dots.join("tool"));
        assert!(
            !planted,
            "{}: the target of a dangling link in a deny entry (~/.bashrc, ~/.local/bin/tool) was created by the sandbox",
            mode.as_str()
        );
        out.expect(&[("bashrc", "EACCES"), ("tool", "EACCES")]);
    }
    // Control: unsandboxed, the same steps create both targets.
    probe_bare(&s.path, &steps).expect(&[("bashrc", "ok"), ("tool", "ok")]);
    assert!(std::fs::read_to_string(home.join(".bashrc")).is_ok());
}

/// RED TEAM finding D (issue 16 finding 3, `shell` group gap): the default `~/.bashrc` of
/// Fedora and RHEL (`/etc/skel/.bashrc`) sources every file in `~/.bashrc.d/`; the `shell`
/// group denies `~/.bashrc` but not the directory it sources. Under `--allow ~` a run adds
/// `~/.bashrc.d/x.sh` and the next interactive shell outside runs it. (`~/.oh-my-zsh/custom`
/// is the same, and named in THREAT_MODEL's "the `autorun` list is a list"; `~/.bashrc.d` is
/// sourced by a distribution's stock file, not a framework the user installed.)
///
/// Reproducer (any user on Fedora, or with the skel `.bashrc`):
/// ```text
/// mkdir -p ~/.bashrc.d
/// nono run --allow ~ -- sh -c 'echo "echo PWNED" > ~/.bashrc.d/x.sh'   # succeeds
/// bash -i                                                               # prints PWNED
/// ```
#[test]
fn redteam_bashrc_d_is_writable_under_a_home_grant() {
    use crate::programs::{bins, Outcome, MODES};
    let Some(b) = bins() else { return };
    let s = Scratch::new("redteam-bashrc-d");
    let home = s.mkdir("home");
    s.write(
        "home/.bashrc",
        "for rc in ~/.bashrc.d/*; do [ -f \"$rc\" ] && . \"$rc\"; done\n",
    );
    let dir = s.mkdir("home/.bashrc.d");
    std::fs::write(dir.join("existing.sh"), "# mine\n").unwrap();
    let new = dir.join("x.sh").display().to_string();
    let existing = dir.join("existing.sh").display().to_string();
    let steps = [
        "create",
        "new",
        new.as_str(),
        "write",
        "existing",
        existing.as_str(),
    ];
    for mode in MODES {
        let mut cmd = nono_cmd(&s.path);
        for var in ["XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"] {
            cmd.env_remove(var);
        }
        cmd.env("HOME", &home)
            .arg(mode.as_str())
            .args(["--read", &b.dir_s()])
            .args(["--allow", &home.display().to_string()]);
        if mode == crate::programs::Mode::Wrap {
            cmd.arg("--accept-wrap-gaps");
        }
        cmd.arg("--").arg(b.probe()).args(steps);
        let out = Outcome::parse(output(&mut cmd));
        let _ = std::fs::remove_file(dir.join("x.sh"));
        std::fs::write(dir.join("existing.sh"), "# mine\n").unwrap();
        out.expect(&[("new", "EACCES"), ("existing", "EACCES")]);
    }
}

/// RED TEAM finding E (issue 16 finding 4, incomplete): the start-up walk denies the *final*
/// target of a symlink found in a deny entry, not the symlinks met on the way to it. When one
/// of those lies inside a write grant — `~/.ssh/config -> ~/src/dotfiles/ssh_config` with
/// `~/src/dotfiles -> ~/src/dotfiles-v1`, the run granted `~/src` — the run retargets that
/// intermediate link to a directory it wrote, and `~/.ssh/config` (a `credentials` entry) now
/// reads the sandbox's file: a `ProxyCommand` runs at the next `ssh` outside. The same for the
/// `shell` group (`~/.bashrc`) and nono's own profiles (`~/.config/nono/profiles/*.json`).
///
/// Reproducer (any user):
/// ```text
/// mkdir -p ~/proj/v1 ~/proj/links; echo 'Host *' > ~/proj/v1/ssh_config
/// ln -s ~/proj/v1 ~/proj/links/cur; ln -s ~/proj/links/cur/ssh_config ~/.ssh/config
/// nono run --allow ~/proj -- sh -c 'mkdir ~/proj/links/evil &&
///   echo "Host * ProxyCommand PWNED" > ~/proj/links/evil/ssh_config &&
///   ln -s ~/proj/links/evil ~/proj/links/new && mv -T ~/proj/links/new ~/proj/links/cur'
/// cat ~/.ssh/config                                   # Host * ProxyCommand PWNED
/// ```
/// Expected: every symlink on the way from a deny entry to its target is protected like the
/// target (read-only at least), or the run is refused when one lies inside a write grant.
#[test]
fn redteam_deny_link_chain_through_a_writable_link() {
    use crate::programs::{bins, Outcome, MODES};
    let Some(b) = bins() else { return };
    for mode in MODES {
        let s = Scratch::new(&format!("redteam-chain-{}", mode.as_str()));
        let home = s.mkdir("home");
        let proj = s.mkdir("home/proj");
        s.write("home/proj/v1/ssh_config", "Host *\n");
        s.mkdir("home/proj/links");
        s.mkdir("home/.ssh");
        std::os::unix::fs::symlink(proj.join("v1"), proj.join("links/cur")).unwrap();
        std::os::unix::fs::symlink(proj.join("links/cur/ssh_config"), home.join(".ssh/config"))
            .unwrap();
        let p = |x: &str| proj.join(x).display().to_string();
        let steps = [
            "mkdir".to_owned(),
            "mkdir".to_owned(),
            p("links/evil"),
            "create".to_owned(),
            "plant".to_owned(),
            p("links/evil/ssh_config"),
            "symlink".to_owned(),
            "newlink".to_owned(),
            p("links/evil"),
            p("links/new"),
            "rename".to_owned(),
            "swap".to_owned(),
            p("links/new"),
            p("links/cur"),
        ];
        let mut cmd = nono_cmd(&s.path);
        for var in ["XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"] {
            cmd.env_remove(var);
        }
        cmd.env("HOME", &home)
            .arg(mode.as_str())
            .args(["--read", &b.dir_s()])
            .args(["--allow", &proj.display().to_string()]);
        cmd.arg("--").arg(b.probe()).args(&steps);
        let out = Outcome::parse(output(&mut cmd));
        let now = std::fs::read_to_string(home.join(".ssh/config")).unwrap_or_default();
        assert_eq!(
            now,
            "Host *\n",
            "{}: ~/.ssh/config now reads a file the sandbox wrote (an intermediate link was retargeted):\n{}",
            mode.as_str(),
            out.run
        );
    }
}

/// RED TEAM finding F (issue 16 finding 3, same class as `~/.local/bin`): only a fixed list
/// of directories on `PATH` is read-only under a home grant (`~/.local/bin`, `~/bin`,
/// `~/.cargo/bin`, `~/go/bin`, `~/.npm-global/bin`, `~/.bun/bin`, `~/.deno/bin`). The
/// user's own `$PATH` — which nono has at start — names the others: `~/.yarn/bin`,
/// `$PNPM_HOME` (`~/.local/share/pnpm`), `~/.dotnet/tools`, `~/.ghcup/bin`, `~/.krew/bin`,
/// `~/.foundry/bin`, … A program placed there under `--allow ~` runs outside the next time
/// the user types its name. Every `PATH` entry under the home could be made read-only.
///
/// Reproducer (any user):
/// ```text
/// mkdir -p ~/.yarn/bin; export PATH=~/.yarn/bin:$PATH
/// nono run --allow ~ -- sh -c 'printf "#!/bin/sh\necho PWNED\n" > ~/.yarn/bin/ls; chmod +x ~/.yarn/bin/ls'
/// ls                                                          # PWNED
/// ```
#[test]
fn redteam_path_directories_in_home_are_writable() {
    use crate::programs::{bins, Outcome, MODES};
    let Some(b) = bins() else { return };
    let s = Scratch::new("redteam-path");
    let home = s.mkdir("home");
    let dirs = [".yarn/bin", ".local/share/pnpm", ".dotnet/tools"];
    let mut path = String::new();
    let mut steps: Vec<String> = Vec::new();
    let mut expect: Vec<(String, &str)> = Vec::new();
    for (i, d) in dirs.iter().enumerate() {
        let dir = s.mkdir(&format!("home/{d}"));
        path.push_str(&format!("{}:", dir.display()));
        steps.extend([
            "create".to_owned(),
            format!("plant{i}"),
            dir.join("ls").display().to_string(),
        ]);
        expect.push((format!("plant{i}"), "EACCES"));
    }
    path.push_str(&std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()));
    let pairs: Vec<(&str, &str)> = expect.iter().map(|(n, w)| (n.as_str(), *w)).collect();
    for mode in MODES {
        let mut cmd = probe_with_home_granted(&s, b, mode, &home, &path);
        cmd.args(&steps);
        let out = Outcome::parse(output(&mut cmd));
        for d in dirs {
            let _ = std::fs::remove_file(home.join(d).join("ls"));
        }
        out.expect(&pairs);
    }
}

/// `nono MODE --read <probes> --allow HOME -- <probe>` (steps to be added) with `$HOME` and
/// `$PATH` as given and the XDG directories at their defaults under that home (wrap with
/// `--accept-wrap-gaps`: a grant on the home).
pub(crate) fn probe_with_home_granted(
    s: &Scratch,
    b: &crate::programs::Bins,
    mode: crate::programs::Mode,
    home: &Path,
    path: &str,
) -> std::process::Command {
    let mut cmd = nono_cmd(&s.path);
    for var in ["XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"] {
        cmd.env_remove(var);
    }
    cmd.env("HOME", home)
        .env("PATH", path)
        .arg(mode.as_str())
        .args(["--read", &b.dir_s()])
        .args(["--allow", &home.display().to_string()]);
    if mode == crate::programs::Mode::Wrap {
        cmd.arg("--accept-wrap-gaps");
    }
    cmd.arg("--").arg(b.probe());
    cmd
}

/// RED TEAM finding G (issue 16 finding 1, race): the grant-link check (`planted::links_on`)
/// reads the grant's path by name when the plan is made, and Landlock opens the same name
/// again later (`open_rule_target`: `O_PATH | O_NOFOLLOW`, which protects the *last*
/// component only). A sandboxed process that can write a directory on the way to another
/// run's grant — a concurrent run (two agent sessions on one project), or a daemon a `nono
/// wrap` run left behind (wrap cannot end leftovers) — swaps that directory with a symlink
/// (`renameat2(RENAME_EXCHANGE)` in a loop): the check sees the directory, Landlock's open
/// follows the link, and the grant lands on the link's target. Here run B grants
/// `proj/sub/.config` and gets `HOME/.config` read+write — nono's own profiles directory
/// included (the `nono` deny group is only an absence of rules, so a rule on an ancestor
/// opens it): B writes `HOME/.config/nono/profiles/pwned.json`. Hit on the 2nd attempt here.
///
/// Reproducer (root or any user):
/// ```text
/// mkdir -p proj/sub/.config ~/.config/nono/profiles; ln -s ~ proj/sublink
/// nono run --allow proj -- race spin proj/sub proj/sublink 30 &        # run A
/// until nono run --allow proj/sub/.config -- \
///     sh -c 'echo x > ~/.config/nono/profiles/pwned.json' 2>/dev/null; do :; done   # run B
/// ```
/// Expected: the plan opens each grant once, without following any symlink
/// (`openat2(RESOLVE_NO_SYMLINKS)` from a trusted root, or walking component by component
/// with `O_NOFOLLOW`), checks the links on *that* walk, and hands Landlock the opened fd.
#[test]
fn redteam_grant_path_swapped_between_link_check_and_landlock_open() {
    use crate::programs::bins;
    let Some(b) = bins() else { return };
    let s = Scratch::new("redteam-grant-race");
    let (home, state) = (s.mkdir("home"), s.mkdir("state"));
    let profiles = s.mkdir("home/.config/nono/profiles");
    let proj = s.mkdir("proj");
    s.mkdir("proj/sub/.config");
    std::os::unix::fs::symlink(&home, proj.join("sublink")).unwrap();
    let race = b.race();
    let mut a = nono_cmd(&s.path);
    a.env("XDG_STATE_HOME", &state)
        .env("HOME", &home)
        .args(["run", "-s", "--read", &b.dir_s(), "--allow"])
        .arg(&proj)
        .arg("--")
        .arg(&race)
        .arg("spin")
        .arg(proj.join("sub"))
        .arg(proj.join("sublink"))
        .arg("40");
    let mut a = a.spawn().expect("spawn run A");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let pwned = profiles.join("pwned.json");
    let grant = proj.join("sub/.config").display().to_string();
    let script = format!("echo pwned > {}", pwned.display());
    let mut hit = None;
    for i in 0..300 {
        let mut bcmd = nono_cmd(&s.path);
        bcmd.env("XDG_STATE_HOME", &state)
            .env("HOME", &home)
            .args(["run", "-s", "--allow", &grant, "--", "sh", "-c", &script]);
        let _ = output(&mut bcmd);
        if pwned.exists() {
            hit = Some(i + 1);
            break;
        }
    }
    let _ = a.kill();
    let _ = a.wait();
    assert!(
        hit.is_none(),
        "run B wrote {} (inside nono's own profiles, outside its grant) on attempt {}: its grant \
         was opened through the symlink run A swapped in after the check",
        pwned.display(),
        hit.unwrap_or(0)
    );
}

/// RED TEAM finding H (invariant "every denial is reported with the flag that fixes it, and
/// that flag works"): under `--allow ~` the home directory itself is a carve-out spine (deny
/// entries inside it), so listing it and creating a file directly in it are refused — by
/// design (THREAT_MODEL) — but the report advises `--read ~` / `--write ~`, and adding the
/// advised flag changes nothing.
///
/// Reproducer (any user): `nono run --allow ~ -- touch ~/newfile` →
/// `nono: denied write of ~/newfile → add --write ~`; `nono run --allow ~ --write ~ -- touch
/// ~/newfile` → the same denial. (`ls ~` → `add --read ~`, same.)
#[test]
fn redteam_report_advice_for_the_home_spine_does_not_work() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("redteam-advice");
    let home = s.mkdir("home");
    s.write("home/.ssh/id_rsa", "key\n");
    let home_s = home.display().to_string();
    let new = home.join("newfile").display().to_string();
    let run = |extra: &[&str]| {
        let mut cmd = nono_cmd(&s.path);
        for var in ["XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"] {
            cmd.env_remove(var);
        }
        cmd.env("HOME", &home)
            .args(["run", "--allow", &home_s])
            .args(extra)
            .args(["--", "touch", &new]);
        output(&mut cmd)
    };
    let first = run(&[]);
    assert_ne!(first.code, Some(0), "the file was created: {first}");
    // The fix: the report says plainly that no flag grants it (the home directory holds
    // carve-outs) — or, should it advise a flag, that flag must work (checked below).
    let advised = format!("add --write {home_s}");
    if first.stderr.contains("no flag grants it") {
        assert!(!first.stderr.contains(&advised), "{first}");
        return;
    }
    assert!(
        first.stderr.contains(&advised),
        "neither 'no flag grants it' nor the advice:\n{first}"
    );
    let second = run(&["--write", &home_s]);
    assert_eq!(
        second.code,
        Some(0),
        "the report advised `{advised}`, which does not fix the denial:\nfirst:\n{first}\nwith the advice:\n{second}"
    );
}

/// RED TEAM finding I (issue 16 finding 6, audit records): a runtime decision on a path that
/// is not UTF-8 is left out of the audit log — `serde_json` cannot serialise the `PathBuf`,
/// nono prints `ERROR audit log: cannot serialise an audit entry: path contains invalid UTF-8
/// characters (the decision stands: Granted)` and the line is never written. A command with
/// `--approve DIR` (write) creates and writes files named `\xff…` there, or reads such a file,
/// and the audit trail the user keeps to review what was granted at runtime does not show it.
/// Sandbox-chosen bytes should be escaped into the record, never drop it.
///
/// Reproducer (root or any user):
/// ```text
/// mkdir appr; printf secret > "appr/$(printf '\xff')evil"
/// nono run --approve appr --audit-log audit.jsonl -- sh -c "cat appr/$(printf '\xff')evil"
/// # prints "secret"; audit.jsonl has no line for it
/// ```
#[test]
fn redteam_audit_log_drops_decisions_on_non_utf8_paths() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("redteam-audit-utf8");
    let appr = s.mkdir("appr");
    let secret = appr.join(OsStr::from_bytes(b"\xff\xfeevil"));
    std::fs::write(&secret, "secret").unwrap();
    let log = s.join("audit.jsonl");
    let mut cmd = nono_cmd(&s.path);
    cmd.args(["run", "-s", "--approve"])
        .arg(&appr)
        .arg("--audit-log")
        .arg(&log)
        .arg("--")
        .arg("cat")
        .arg(&secret);
    let r = output(&mut cmd);
    assert!(
        r.stdout.contains("secret"),
        "the approved read failed:\n{r}"
    );
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text.contains("evil"),
        "the granted read of a non-UTF-8 path is missing from the audit log:\n--- log ---\n{text}\n{r}"
    );
}

/// RED TEAM finding J (issue 16 finding 3, same class as `~/.cargo/bin`): rustup's installer
/// adds `. "$HOME/.cargo/env"` to `~/.profile`, `~/.bashrc` and `~/.zshenv`; deno's adds
/// `. "$HOME/.deno/env"`, ghcup's `. "$HOME/.ghcup/env"`. The `autorun` group protects
/// `~/.cargo/bin`, `~/.deno/bin` and (not) `~/.ghcup/bin`, but not these env scripts: under
/// `--allow ~` each is an existing file in a spine directory and gets a read+write rule of its
/// own. A line appended to `~/.cargo/env` runs in every login and interactive shell of every
/// Rust user, outside the sandbox.
///
/// Reproducer (any user with rustup):
/// ```text
/// nono run --allow ~ -- sh -c 'echo "echo PWNED" >> ~/.cargo/env'   # succeeds
/// bash -l                                                          # prints PWNED
/// ```
#[test]
fn redteam_toolchain_env_scripts_sourced_by_shell_rc_are_writable() {
    use crate::programs::{bins, Outcome, MODES};
    let Some(b) = bins() else { return };
    let s = Scratch::new("redteam-cargo-env");
    let home = s.mkdir("home");
    s.write(
        "home/.profile",
        ". \"$HOME/.cargo/env\"\n. \"$HOME/.deno/env\"\n. \"$HOME/.ghcup/env\"\n",
    );
    let files = [".cargo/env", ".deno/env", ".ghcup/env"];
    let mut steps: Vec<String> = Vec::new();
    let mut expect: Vec<(String, &str)> = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let dir = Path::new(f).parent().unwrap().join("bin");
        s.mkdir(&format!("home/{}", dir.display()));
        let p = s.write(&format!("home/{f}"), "# env\n");
        steps.extend([
            "write".to_owned(),
            format!("env{i}"),
            p.display().to_string(),
        ]);
        expect.push((format!("env{i}"), "EACCES"));
    }
    let pairs: Vec<(&str, &str)> = expect.iter().map(|(n, w)| (n.as_str(), *w)).collect();
    for mode in MODES {
        let mut cmd = nono_cmd(&s.path);
        for var in ["XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"] {
            cmd.env_remove(var);
        }
        cmd.env("HOME", &home)
            .arg(mode.as_str())
            .args(["--read", &b.dir_s()])
            .args(["--allow", &home.display().to_string()]);
        if mode == crate::programs::Mode::Wrap {
            cmd.arg("--accept-wrap-gaps");
        }
        cmd.arg("--").arg(b.probe()).args(&steps);
        let out = Outcome::parse(output(&mut cmd));
        for f in files {
            std::fs::write(home.join(f), "# env\n").unwrap();
        }
        out.expect(&pairs);
    }
}

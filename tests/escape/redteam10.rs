//! Red team 10 (session 7, second pass): the fixes of red team 9 — dead link chains out of a
//! deny entry, the character-device exemption, the profile deny list resolved ahead.

use std::process::Command;

use crate::harness::sandbox_available;

/// A home whose `~/.ssh/config` is a link whose chain is dead today because of a `..` right
/// after a file: `../dots/a/f/../../x/config` with `dots/a/f` a file (the kernel refuses
/// `f/..` with `ENOTDIR`); `~/dots/evil` holds the attacker's `x/config` and a `p/q` for a
/// link to point at.
fn dot_dot_chain(s: &crate::harness::Scratch, evil: &str) {
    let _ = std::fs::remove_dir_all(s.join("home"));
    s.mkdir("home/.ssh");
    s.mkdir("home/dots/evil/p/q");
    s.write("home/dots/a/f", "a file\n");
    s.write("home/dots/evil/x/config", &format!("{evil}\n"));
    std::os::unix::fs::symlink("../dots/a/f/../../x/config", s.join("home/.ssh/config")).unwrap();
}

/// The attack: replace the file in the way by a link to a directory two levels inside the
/// sandbox's own tree, so that `f/../..` leads there and `x/config` is the sandbox's.
fn dot_dot_script(s: &crate::harness::Scratch) -> String {
    let d = s.s("home/dots");
    format!("rm -f {d}/a/f && ln -s {d}/evil/p/q {d}/a/f; true")
}

/// `..` right after a file in a chain out of a deny entry: the deny set's walks
/// (`planted::walk_noting`, `WalkMemo::walk_noting`) popped `..` lexically, so
/// `~/.ssh/config` → `../dots/a/f/../../x/config` "resolved" to `~/dots/x/config` although
/// the kernel refuses it (`ENOTDIR` at `f/..`): that missing path was denied, but `dots/a/f`
/// was neither an end nor on the way to one. A sandbox granted `~/dots` replaced `f` by a
/// link to `evil/p/q`; the kernel follows it and applies `..` to where it leads, so
/// `~/.ssh/config` then read `~/dots/evil/x/config`, the sandbox's content, outside any
/// sandbox (ssh config injection). Now the walks fail at `..` after a file, as the kernel
/// does, and the file is denied as the chain's end.
#[test]
fn redteam10_a_chain_dead_at_dot_dot_after_a_file_cannot_be_revived() {
    use crate::harness::{nono_cmd, output, Scratch};
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("rt10-dotdot");
    let evil = format!("Host evil-{}", std::process::id());
    let revived =
        || std::fs::read_to_string(s.join("home/.ssh/config")).is_ok_and(|t| t.contains(&evil));
    // Control: dead today; unsandboxed, the attack revives it.
    dot_dot_chain(&s, &evil);
    assert!(std::fs::read_to_string(s.join("home/.ssh/config")).is_err());
    let out = Command::new("/bin/sh")
        .args(["-c", &dot_dot_script(&s)])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(revived(), "the control could not revive the chain");
    for mode in ["run", "wrap"] {
        dot_dot_chain(&s, &evil);
        let mut cmd = nono_cmd(&s.path);
        cmd.env("HOME", s.join("home"))
            .args([mode, "-s", "--allow", &s.s("home/dots")])
            .args(["--", "/bin/sh", "-c", &dot_dot_script(&s)]);
        let run = output(&mut cmd);
        assert_eq!(run.code, Some(0), "{mode}: {run:?}");
        assert!(!revived(), "{mode}: the chain was revived: {run:?}");
        assert!(
            s.join("home/dots/a/f").is_file(),
            "{mode}: the file in the way was replaced: {run:?}"
        );
    }
}

/// Red team 9 stopped denying a character device that a built-in group's name leads to
/// (`~/.bash_history` → `/dev/null`), and kept only the name protected as a link; no entry
/// is made, so the chain behind the name was no longer walked. With a chain through a
/// granted directory — `~/.bashrc` → `dots/bashrc` → `/dev/null` (a dotfiles repository
/// whose `bashrc` turns the file off), `~/dots` granted — the sandbox re-pointed
/// `dots/bashrc` at its own file, and the next interactive shell outside any sandbox ran it.
/// Before red team 9 the chain was protected (with `/dev/null` wrongly denied). Now every
/// link of such a chain is protected, and `/dev/null` stays usable.
#[test]
fn redteam10_a_chain_to_dev_null_through_a_granted_directory_is_protected() {
    use crate::harness::{nono_cmd, output, Scratch};
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("rt10-devnull-chain");
    let make = || {
        let _ = std::fs::remove_dir_all(s.join("home"));
        s.mkdir("home/dots");
        std::os::unix::fs::symlink("/dev/null", s.join("home/dots/bashrc")).unwrap();
        std::os::unix::fs::symlink("dots/bashrc", s.join("home/.bashrc")).unwrap();
    };
    let d = s.s("home/dots");
    let script = format!(
        "echo x > /dev/null && echo devnull-ok; echo 'echo PWNED' > {d}/evil; \
         ln -sfn {d}/evil {d}/bashrc && echo repointed; true"
    );
    let pwned =
        || std::fs::read_to_string(s.join("home/.bashrc")).is_ok_and(|t| t.contains("PWNED"));
    // Control: unsandboxed, the link on the way is re-pointed.
    make();
    let out = Command::new("/bin/sh")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(pwned(), "the control could not re-point the chain");
    for mode in ["run", "wrap"] {
        make();
        let mut cmd = nono_cmd(&s.path);
        cmd.env("HOME", s.join("home"))
            .args([mode, "-s", "--allow", &d])
            .args(["--", "/bin/sh", "-c", &script]);
        let run = output(&mut cmd);
        assert_eq!(run.code, Some(0), "{mode}: {run:?}");
        assert!(run.stdout.contains("devnull-ok"), "{mode}: {run:?}");
        assert!(
            !pwned(),
            "{mode}: ~/.bashrc now runs the sandbox's file: {run:?}"
        );
        assert_eq!(
            std::fs::read_link(s.join("home/dots/bashrc")).ok(),
            Some(std::path::PathBuf::from("/dev/null")),
            "{mode}: {run:?}"
        );
    }
}

/// The `..` of the first test after one of the user's directories that nono may not search
/// (mode 000): the kernel refuses `locked/..` (`EACCES`), the walks popped it. A sandbox
/// granted `~/dots` made `a/locked` searchable, removed it and put a link there; the chain
/// then led into the sandbox's tree. Only an unprivileged user meets this (root searches
/// anything), so nono runs as a user made for the test; the control is that user,
/// unsandboxed.
#[test]
fn redteam10_a_chain_dead_at_dot_dot_after_an_unsearchable_directory_cannot_be_revived() {
    let evil = format!("Host evil-{}", std::process::id());
    crate::redteam9::assert_unsearchable_chain_stays_dead(
        "rt10-dotdot-eacces",
        |s| {
            s.mkdir("home/dots/a/locked");
            s.mkdir("home/dots/evil/p/q");
            s.write("home/dots/evil/x/config", &format!("{evil}\n"));
            std::os::unix::fs::symlink(
                "../dots/a/locked/../../x/config",
                s.join("home/.ssh/config"),
            )
            .unwrap();
        },
        "home/dots/a/locked",
        &|d| {
            format!(
                "chmod 755 {d}/a/locked; rmdir {d}/a/locked && ln -s {d}/evil/p/q {d}/a/locked; true"
            )
        },
        &["home/dots"],
        &evil,
    );
}

/// A chain out of a deny entry that leads deeper than a path can name: `~/.ssh/config` →
/// `../dots/s1/s2/config`, `s1` → eight directories of 250-byte names, `s2` inside them →
/// ten more. The kernel follows it (each link is short), but the walks build the resolved
/// path and their `lstat` failed with `ENAMETOOLONG` past `PATH_MAX`; nothing of the chain's
/// end was denied, so a sandbox granted `~/dots` rewrote the file `~/.ssh/config` reads (and
/// could read it). Now the deepest directory the walk could name is denied as the end.
#[test]
fn redteam10_a_chain_deeper_than_path_max_is_protected() {
    use crate::harness::{nono_cmd, output, Scratch};
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("rt10-too-long");
    let names: Vec<String> = (1..=18)
        .map(|i| format!("d{i:02}{}", "x".repeat(247)))
        .collect();
    let evil = format!("Host evil-{}", std::process::id());
    let make = || {
        let _ = std::fs::remove_dir_all(s.join("home"));
        s.mkdir("home/.ssh");
        let dots = s.join("home/dots");
        let first = names[..8].join("/");
        let second = names[8..].join("/");
        std::fs::create_dir_all(dots.join(&first)).unwrap();
        std::os::unix::fs::symlink(&first, dots.join("s1")).unwrap();
        // The rest is made relative to `s1` (a path from `/` would be too long).
        let script = format!(
            "cd {} && mkdir -p {second} && ln -s {second} s2 && echo 'Host orig' > s2/config",
            dots.join("s1").display()
        );
        let st = Command::new("/bin/sh")
            .args(["-c", &script])
            .status()
            .unwrap();
        assert!(st.success());
        std::os::unix::fs::symlink("../dots/s1/s2/config", s.join("home/.ssh/config")).unwrap();
    };
    let script = format!(
        "cd {}/s1/s2 && echo '{evil}' > config; true",
        s.s("home/dots")
    );
    let config = || std::fs::read_to_string(s.join("home/.ssh/config")).unwrap_or_default();
    // Control: the chain resolves, and unsandboxed the attack rewrites what it reads.
    make();
    assert_eq!(config(), "Host orig\n");
    let out = Command::new("/bin/sh")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(config().contains(&evil), "the control could not rewrite it");
    for mode in ["run", "wrap"] {
        make();
        let mut cmd = nono_cmd(&s.path);
        cmd.env("HOME", s.join("home"))
            .args([mode, "-s", "--allow", &s.s("home/dots")])
            .args(["--", "/bin/sh", "-c", &script]);
        let run = output(&mut cmd);
        assert_eq!(run.code, Some(0), "{mode}: {run:?}");
        assert_eq!(config(), "Host orig\n", "{mode}: {run:?}");
    }
    // remove_dir_all copes with deep trees (it works relative to open directories).
    let _ = std::fs::remove_dir_all(s.join("home"));
}

/// Denial of service planted by a sandboxed run (low, fixed in session 15): a run granted
/// `~/proj` whose `$PATH` does not hold `~/proj/bin` plants `~/proj/bin/x` → `~/proj`; a later
/// run whose `$PATH` holds `~/proj/bin` (direnv) makes it an `autorun` entry, walked its links
/// and write-denied their targets — the whole project, though `--allow ~/proj` grants it. A
/// chain ending above its entry now adds nothing (it names nothing the entry's `..` does not).
/// The write goes to `src/`: `proj` itself is the entry's carve-out spine either way (nothing
/// is created in it), which also keeps the link's target from being swapped. A link to a
/// program beside it (`bin/y` → `~/proj/tool`) still makes that program read-only.
#[test]
fn redteam10_a_planted_link_in_a_path_directory_does_not_deny_the_project() {
    use crate::harness::{nono_cmd, output, Scratch};
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("rt10-path-dos");
    let _ = std::fs::remove_dir_all(s.join("home"));
    s.mkdir("home/proj/bin");
    s.mkdir("home/proj/src");
    s.write("home/proj/tool", "#!/bin/sh\n");
    let proj = s.s("home/proj");
    let nono = |path: &str, script: &str| {
        let mut cmd = nono_cmd(&s.path);
        cmd.env("HOME", s.join("home"))
            .env("PATH", path)
            .args(["run", "-s", "--allow", &proj])
            .args(["--", "/bin/sh", "-c", script]);
        output(&mut cmd)
    };
    let plant = nono(
        "/usr/bin:/bin",
        &format!("ln -s {proj} {proj}/bin/x && ln -s {proj}/tool {proj}/bin/y"),
    );
    assert_eq!(plant.code, Some(0), "{plant:?}");
    let write = format!(
        "echo hi > {proj}/src/file && echo wrote; echo evil > {proj}/tool || echo kept; \
         mv {proj}/src {proj}/moved || echo spine"
    );
    let run = nono(&format!("{proj}/bin:/usr/bin:/bin"), &write);
    assert!(run.stdout.contains("wrote"), "{run:?}");
    assert!(run.stdout.contains("kept"), "{run:?}");
    assert!(run.stdout.contains("spine"), "{run:?}");
    assert_eq!(
        std::fs::read_to_string(s.join("home/proj/tool")).unwrap(),
        "#!/bin/sh\n"
    );
    assert!(s.join("home/proj/src/file").exists());
}

/// Two runs: a link in the *prefix* of a deny entry (`~/.config` → `dots/cfg` →
/// `~/real-config`, protecting `~/.config/gh`), or in the middle of a profile deny entry's
/// chain (`~/mysecret` → `dots/s1` → `~/vault/secret`), was not protected: only a chain from
/// the entry's own name was walked, and only for the built-in groups. A first run granted
/// `~/dots` re-pointed `dots/cfg` (or `dots/s1`) at a directory of its own; the next run
/// denied that one and read `~/real-config/gh/hosts.yml` (or `~/vault/secret`) under
/// `--read ~`. Now every link on the way to an entry is protected as a link.
#[test]
fn redteam10_a_link_on_the_way_to_a_deny_entry_cannot_be_repointed() {
    use crate::harness::{nono_cmd, output, Scratch};
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("rt10-prefix-link");
    let h = s.s("home");
    let profile = s.write(
        "p.json",
        &serde_json::json!({
            "name": "p",
            "extends": "default",
            "filesystem": {"deny": ["~/mysecret"]}
        })
        .to_string(),
    );
    let make = || {
        use std::os::unix::fs::symlink;
        let _ = std::fs::remove_dir_all(s.join("home"));
        s.mkdir("home/dots");
        s.write("home/real-config/gh/hosts.yml", "TOKEN-gh\n");
        s.write("home/vault/secret", "TOKEN-vault\n");
        symlink(s.join("home/real-config"), s.join("home/dots/cfg")).unwrap();
        symlink("dots/cfg", s.join("home/.config")).unwrap();
        symlink(s.join("home/vault/secret"), s.join("home/dots/s1")).unwrap();
        symlink(s.join("home/dots/s1"), s.join("home/mysecret")).unwrap();
    };
    let repoint = format!(
        "mkdir -p {h}/dots/evil/gh; echo e > {h}/dots/evil/s; \
         ln -sfn {h}/dots/evil {h}/dots/cfg; ln -sfn {h}/dots/evil/s {h}/dots/s1; true"
    );
    let read = format!("cat {h}/real-config/gh/hosts.yml {h}/vault/secret; true");
    let nono = |mode: &str, grant: &[&str], script: &str| {
        let mut cmd = nono_cmd(&s.path);
        cmd.env("HOME", s.join("home"))
            .args([mode, "-s", "--profile", &profile.display().to_string()])
            .args(grant)
            // wrap: `--read ~` covers the home directory (the gaps without a supervisor are
            // not what this test is about).
            .args(if mode == "wrap" {
                &["--accept-wrap-gaps"][..]
            } else {
                &[]
            })
            .args(["--", "/bin/sh", "-c", script]);
        output(&mut cmd)
    };
    // Control: unsandboxed, the first step re-points both links.
    make();
    let out = Command::new("/bin/sh")
        .args(["-c", &repoint])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(std::fs::read_link(s.join("home/dots/cfg")).is_ok_and(|t| t.ends_with("evil")));
    assert!(std::fs::read_link(s.join("home/dots/s1")).is_ok_and(|t| t.ends_with("evil/s")));
    for mode in ["run", "wrap"] {
        make();
        // Before: both secrets denied under `--read ~`.
        let before = nono(mode, &["--read", &h], &read);
        assert_eq!(before.code, Some(0), "{mode}: {before:?}");
        assert!(!before.stdout.contains("TOKEN"), "{mode}: {before:?}");
        let first = nono(mode, &["--allow", &s.s("home/dots")], &repoint);
        assert_eq!(first.code, Some(0), "{mode}: {first:?}");
        let second = nono(mode, &["--read", &h], &read);
        assert_eq!(second.code, Some(0), "{mode}: {second:?}");
        assert!(
            !second.stdout.contains("TOKEN"),
            "{mode}: re-pointed ({:?}, {:?}), then read: {second:?}",
            std::fs::read_link(s.join("home/dots/cfg")),
            std::fs::read_link(s.join("home/dots/s1"))
        );
    }
}

//! Red team 27 (session 15): a link chain ending at a directory above its entry (067a6d2),
//! the resolver's memo and duplicate check (3d17bdb, 6364426) and the deny thread's arena
//! (263d6c8).

use std::process::Command;

use crate::harness::sandbox_available;

/// A home whose `~/.ssh/<name>` is a link whose chain is dangling today at a missing name
/// followed by `..`: `link` (relative to `~/.ssh`), with `~/dots/a` a directory and
/// `~/dots/a/m` missing. The sandbox's own tree `~/dots/evil/p/q/r` (for `m` to point at)
/// and its `ssh/config` holding `evil` are made here: a spine left by the fix may keep the
/// sandbox from making them itself.
fn dangling_chain(s: &crate::harness::Scratch, name: &str, link: &str, evil: &str) {
    let _ = std::fs::remove_dir_all(s.join("home"));
    s.mkdir("home/.ssh");
    s.mkdir("home/dots/a");
    s.mkdir("home/dots/ssh");
    s.mkdir("home/dots/evil/p/q/r");
    s.write("home/dots/evil/ssh/config", &format!("{evil}\n"));
    s.write("home/dots/evil/p/ssh/config", &format!("{evil}\n"));
    std::os::unix::fs::symlink(link, s.join("home/.ssh").join(name)).unwrap();
}

/// The attack: create the missing name as a link into the sandbox's own tree, so that the
/// `..` after it leads there.
fn revive_script(s: &crate::harness::Scratch, to: &str) -> String {
    let d = s.s("home/dots");
    format!("ln -s {d}/evil/{to} {d}/a/m; true")
}

/// Runs `dangling_chain` + `revive_script` unsandboxed (the control, which must revive the
/// chain) and then under `run` and `wrap` granted `~/dots` and under `run --approve ~`,
/// returning for each whether `~/.ssh/<read>` then read the sandbox's `evil`.
fn revived_under_each_mode(
    tag: &str,
    name: &str,
    link: &str,
    to: &str,
    read: &str,
) -> Vec<(&'static str, bool, String)> {
    use crate::harness::{nono_cmd, output, Scratch};
    let s = Scratch::new(tag);
    let evil = format!("Host evil-{}", std::process::id());
    let revived =
        || std::fs::read_to_string(s.join("home/.ssh").join(read)).is_ok_and(|t| t.contains(&evil));
    dangling_chain(&s, name, link, &evil);
    assert!(
        std::fs::read_to_string(s.join("home/.ssh").join(read)).is_err(),
        "the chain is not dangling today"
    );
    let out = Command::new("/bin/sh")
        .args(["-c", &revive_script(&s, to)])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(revived(), "the control could not revive the chain");
    let mut result = Vec::new();
    let (home, dots) = (s.s("home"), s.s("home/dots"));
    for (mode, flag, grant) in [
        ("run", "--allow", dots.as_str()),
        ("wrap", "--allow", dots.as_str()),
        ("run", "--approve", home.as_str()),
    ] {
        dangling_chain(&s, name, link, &evil);
        let mut cmd = nono_cmd(&s.path);
        cmd.env("HOME", s.join("home"))
            .args([mode, "-s", flag, grant])
            .args(["--", "/bin/sh", "-c", &revive_script(&s, to)]);
        let run = output(&mut cmd);
        assert_eq!(run.code, Some(0), "{mode}: {run:?}");
        result.push((mode, revived(), format!("{run:?}")));
    }
    result
}

/// A dangling chain out of a deny entry with a `..` after its missing name:
/// `~/.ssh/config` → `../dots/a/m/../../ssh/config`, `~/dots/a/m` missing (the kernel answers
/// `ENOENT`). The walk (`planted::walk_with`) ends such a chain lexically, popping `m` with
/// its `..`, at `~/dots/ssh/config`, which the deny set denies (and `~/dots`, `~/dots/ssh`
/// are its spine); but `~/dots/a` is a sibling of that spine, so a sandbox granted `~/dots`
/// created `m` as a link to `evil/p/q/r`: the kernel applies the `..` where the link leads,
/// and `~/.ssh/config` read `~/dots/evil/p/ssh/config`, the sandbox's text, outside any
/// sandbox (ssh config injection: `ProxyCommand`). Red team 10 fixed the same `..` after a
/// file and after an unsearchable directory; after a missing name it was left. Pre-dates
/// this session (5674387 does the same).
#[test]
fn redteam27_a_dangling_chain_with_dot_dot_after_its_missing_name_cannot_be_revived() {
    if !sandbox_available() {
        return;
    }
    for (mode, revived, run) in revived_under_each_mode(
        "rt27-dangling",
        "config",
        "../dots/a/m/../../ssh/config",
        "p/q/r",
        "config",
    ) {
        assert!(!revived, "{mode}: the chain was revived: {run}");
    }
}

/// The same with a chain whose lexical end is a directory *above* its entry:
/// `~/.ssh/keys` → `../dots/a/m/../../..` ends, popping `m`, at the home. Before 067a6d2 the
/// home was denied whole (credentials: `--allow ~/dots` could then touch nothing); since it,
/// a chain ending above its entry denies nothing there, so nothing of this chain is
/// protected, and a sandbox granted `~/dots` created `m` → `evil/p/q/r`, making
/// `~/.ssh/keys` its own directory `~/dots/evil` (`~/.ssh/keys/ssh/config` read its text).
#[test]
fn redteam27_a_dangling_chain_ending_above_its_entry_cannot_be_revived() {
    if !sandbox_available() {
        return;
    }
    for (mode, revived, run) in revived_under_each_mode(
        "rt27-dangling-above",
        "keys",
        "../dots/a/m/../../..",
        "p/q/r",
        "keys/ssh/config",
    ) {
        assert!(!revived, "{mode}: the chain was revived: {run}");
    }
}

/// A home whose `~/.ssh/config` is a link `link` whose chain passes the directory
/// `~/proj/sub` on the way to a `..`; `~/dots/config` is the user's real file, and
/// `~/proj/evil` the sandbox's tree (`a/b` to point at, `dots/config` holding `evil`).
fn passed_dir_chain(s: &crate::harness::Scratch, link: &str, evil: &str) {
    let _ = std::fs::remove_dir_all(s.join("home"));
    s.mkdir("home/.ssh");
    s.mkdir("home/proj/sub");
    s.mkdir("home/proj/evil/a/b");
    s.write("home/dots/config", "Host real\n");
    s.write("home/proj/evil/dots/config", &format!("{evil}\n"));
    std::os::unix::fs::symlink(link, s.join("home/.ssh/config")).unwrap();
}

/// Runs `passed_dir_chain` and the swap of `~/proj/sub` for a link to `evil/a/b`,
/// unsandboxed (the control: `~/.ssh/<read>` then reads `evil`), under `run` and `wrap`
/// granted `~/proj` and under `run --approve ~`: whether it read `evil` after each.
fn swapped_under_each_mode(tag: &str, link: &str, read: &str) -> Vec<(&'static str, bool, String)> {
    use crate::harness::{nono_cmd, output, Scratch};
    let s = Scratch::new(tag);
    let evil = format!("Host evil-{}", std::process::id());
    let p = s.s("home/proj");
    let swap = format!("mv {p}/sub {p}/old && ln -s {p}/evil/a/b {p}/sub; true");
    let swapped =
        || std::fs::read_to_string(s.join("home/.ssh").join(read)).is_ok_and(|t| t.contains(&evil));
    passed_dir_chain(&s, link, &evil);
    assert_eq!(
        std::fs::read_to_string(s.join("home/.ssh").join(read)).unwrap(),
        "Host real\n"
    );
    let out = Command::new("/bin/sh")
        .args(["-c", &swap])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(swapped(), "the control could not re-point the chain");
    let mut result = Vec::new();
    let home = s.s("home");
    for (mode, flag, grant) in [
        ("run", "--allow", p.as_str()),
        ("wrap", "--allow", p.as_str()),
        ("run", "--approve", home.as_str()),
    ] {
        passed_dir_chain(&s, link, &evil);
        let mut cmd = nono_cmd(&s.path);
        cmd.env("HOME", s.join("home"))
            .args([mode, "-s", flag, grant])
            .args(["--", "/bin/sh", "-c", &swap]);
        let run = output(&mut cmd);
        assert_eq!(run.code, Some(0), "{mode}: {run:?}");
        result.push((mode, swapped(), format!("{run:?}")));
    }
    result
}

/// A chain out of a deny entry that passes a directory on the way to a `..`:
/// `~/.ssh/config` → `../proj/sub/../../dots/config` resolves today (to `~/dots/config`,
/// which the deny set denies, with `~/dots` its spine). The kernel applies the `..` to
/// whatever is at `~/proj/sub` when the chain is followed; nothing protected that name, so
/// a sandbox granted `~/proj` replaced `sub` by a link to `evil/a/b` and `~/.ssh/config`
/// then read `~/proj/evil/dots/config`, the sandbox's text, outside any sandbox. Red team
/// 17 keeps such names in place for a `PATH` directory's chain; a deny entry's chain did
/// not. Pre-dates this session (5674387 does the same).
#[test]
fn redteam27_a_directory_passed_on_the_way_to_dot_dot_cannot_be_swapped() {
    if !sandbox_available() {
        return;
    }
    for (mode, swapped, run) in
        swapped_under_each_mode("rt27-passed", "../proj/sub/../../dots/config", "config")
    {
        assert!(!swapped, "{mode}: the chain was re-pointed: {run}");
    }
}

/// The same with the chain ending above its entry (`~/.ssh/config` → `../proj/sub/../..`,
/// the home: `~/.ssh/config/dots/config` read): before 067a6d2 the home was denied whole
/// (`--allow ~/proj` could touch nothing); since it nothing of the chain was protected and
/// the swap re-pointed it.
#[test]
fn redteam27_a_directory_passed_on_the_way_above_the_entry_cannot_be_swapped() {
    if !sandbox_available() {
        return;
    }
    for (mode, swapped, run) in swapped_under_each_mode(
        "rt27-passed-above",
        "../proj/sub/../..",
        "config/dots/config",
    ) {
        assert!(!swapped, "{mode}: the chain was re-pointed: {run}");
    }
}

/// Under runtime grants (`--approve ~`), a link the deny set keeps in place as a link (red
/// team 10: `~/dots/cur` of `~/.ssh/config` → `../dots/cur/config`, `cur` → `v1`) was
/// renamed away, removed or replaced by the sandbox: the broker judged the name by where
/// it leads (`~/dots/v1`, nothing denied) and `entry_beneath` looks strictly beneath it, so
/// nothing asked `DenySet::protected_link` (used only by the denial report). The sandbox
/// then put its own link there and `~/.ssh/config` read its file outside any sandbox. Static
/// grants were not affected (Landlock keeps the link's directory a carve-out spine).
/// Pre-dates this session (5674387 does the same).
#[test]
fn redteam27_a_protected_link_cannot_be_moved_under_approve() {
    use crate::harness::{nono_cmd, output, Scratch};
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("rt27-approve-link");
    let h = s.s("home");
    let evil = format!("Host evil-{}", std::process::id());
    let make = || {
        let _ = std::fs::remove_dir_all(s.join("home"));
        s.mkdir("home/.ssh");
        s.write("home/dots/v1/config", "Host real\n");
        s.write("home/dots/evil/config", &format!("{evil}\n"));
        std::os::unix::fs::symlink("v1", s.join("home/dots/cur")).unwrap();
        std::os::unix::fs::symlink("../dots/cur/config", s.join("home/.ssh/config")).unwrap();
    };
    let read = || std::fs::read_to_string(s.join("home/.ssh/config")).unwrap();
    for script in [
        format!("mv {h}/dots/cur {h}/dots/old; ln -s evil {h}/dots/cur; true"),
        format!("rm {h}/dots/cur; ln -s evil {h}/dots/cur; true"),
        format!("ln -sfn evil {h}/dots/cur; true"),
    ] {
        // Control: unsandboxed, the script re-points the entry.
        make();
        let out = Command::new("/bin/sh")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert!(
            read().contains(&evil),
            "the control did not re-point: {script}"
        );
        for grant in [vec!["--approve", &h], vec!["--allow", "", "--approve", &h]] {
            make();
            let dots = s.s("home/dots");
            let grant: Vec<&str> = grant
                .iter()
                .map(|g| if g.is_empty() { dots.as_str() } else { g })
                .collect();
            let mut cmd = nono_cmd(&s.path);
            cmd.env("HOME", s.join("home"))
                .args(["run", "-s"])
                .args(&grant)
                .args(["--", "/bin/sh", "-c", &script]);
            let run = output(&mut cmd);
            assert_eq!(run.code, Some(0), "{grant:?} {script}: {run:?}");
            assert_eq!(read(), "Host real\n", "{grant:?} {script}: {run:?}");
        }
    }
}

/// Row 1 by another name (the lead, after the pass): with `~/dots` bind-mounted by the user
/// at `W/d` inside `--approve W`, the kept link `~/dots/cur` (of `~/.ssh/config` →
/// `../dots/cur/config`) was renamed away, removed or replaced as `W/d/cur`:
/// `refuse_unkeeping` compares names, and the identities red team 26 reads held the
/// directories above a kept link, not the link itself (nor did an unlink ask for them). Now
/// a kept link is known by its own identity, and a runtime-granted rename or unlink of a
/// non-directory is judged by what is at the name. Control: unsandboxed each script
/// re-points `~/.ssh/config`.
#[test]
fn redteam27_a_protected_link_reached_by_another_name_cannot_be_moved() {
    use crate::harness::{nono_cmd, output, Scratch};
    use crate::redteam23::{can_mount, rebind, Mounts};
    if !can_mount() {
        return;
    }
    let s = Scratch::new("rt27-mounted-link");
    let evil = format!("Host evil-{}", std::process::id());
    let w = s.mkdir("w");
    let mountpoint = s.mkdir("w/d");
    let _mounts = Mounts(w.clone());
    let make = || {
        let _ = Command::new("umount").arg("-l").arg(&mountpoint).status();
        let _ = std::fs::remove_dir_all(s.join("home"));
        s.mkdir("home/.ssh");
        s.write("home/dots/v1/config", "Host real\n");
        s.write("home/dots/evil/config", &format!("{evil}\n"));
        std::os::unix::fs::symlink("v1", s.join("home/dots/cur")).unwrap();
        std::os::unix::fs::symlink("../dots/cur/config", s.join("home/.ssh/config")).unwrap();
        rebind(&s.join("home/dots"), &mountpoint);
    };
    let read = || std::fs::read_to_string(s.join("home/.ssh/config")).unwrap();
    let d = mountpoint.display().to_string();
    for script in [
        format!("mv {d}/cur {d}/old; ln -s evil {d}/cur; true"),
        format!("rm {d}/cur; ln -s evil {d}/cur; true"),
        format!("ln -sfn evil {d}/cur; true"),
    ] {
        make();
        let out = Command::new("/bin/sh")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert!(
            read().contains(&evil),
            "the control did not re-point: {script}"
        );
        make();
        let mut cmd = nono_cmd(&s.path);
        cmd.env("HOME", s.join("home"))
            .args(["run", "-s", "--approve", &w.display().to_string()])
            .args(["--", "/bin/sh", "-c", &script]);
        let run = output(&mut cmd);
        assert_eq!(run.code, Some(0), "{script}: {run:?}");
        assert_eq!(read(), "Host real\n", "{script}: {run:?}");
    }
}

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

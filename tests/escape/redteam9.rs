//! Red team 9 (session 7): today's start-up changes — the statically linked nono, and the
//! command-line fast path for run/wrap/shell.

use std::process::{Command, Stdio};

use crate::harness::{nono_bin, sandbox_available};

/// The ELF header facts of the nono under test: (`e_type`, has a `PT_INTERP`).
fn elf_facts(bytes: &[u8]) -> (u16, bool) {
    assert_eq!(
        &bytes[..6],
        b"\x7fELF\x02\x01",
        "nono is not a 64-bit LE ELF file"
    );
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]);
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
    let phoff = usize::try_from(u64::from_le_bytes(bytes[0x20..0x28].try_into().unwrap())).unwrap();
    let (phentsize, phnum) = (usize::from(u16_at(0x36)), usize::from(u16_at(0x38)));
    let interp = (0..phnum).any(|i| u32_at(phoff + i * phentsize) == 3);
    (u16_at(0x10), interp)
}

/// Where the nono image of a running `nono run` (the supervisor) is mapped.
fn image_base() -> u64 {
    let bin = nono_bin();
    let mut child = Command::new(&bin)
        .args(["run", "-s", "--best-effort", "--", "sleep", "2"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn nono");
    let maps_path = format!("/proc/{}/maps", child.id());
    let real = std::fs::canonicalize(&bin).unwrap();
    let mut base = None;
    for _ in 0..200 {
        if let Ok(maps) = std::fs::read_to_string(&maps_path) {
            base = maps
                .lines()
                .find(|l| l.ends_with(real.to_str().unwrap()))
                .and_then(|l| u64::from_str_radix(l.split('-').next()?, 16).ok());
            if base.is_some() {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    base.expect("the supervisor's maps name the nono image")
}

/// The nono the tests run (`cargo xtask ci`: the static build users install) is a PIE, and
/// the kernel maps it at a new address at every start: static linking kept ASLR. A static
/// program linked at a fixed address (`ET_EXEC`, `-C relocation-model=static`) has no
/// interpreter either; `cargo xtask` now refuses it (xtask `build::tests`).
#[test]
fn redteam9_nono_is_a_pie_mapped_at_a_random_address() {
    if !sandbox_available() {
        return;
    }
    let bytes = std::fs::read(nono_bin()).unwrap();
    let (e_type, interp) = elf_facts(&bytes);
    assert_eq!(
        e_type, 3,
        "nono is not position-independent (ET_DYN); interpreter: {interp}"
    );
    let randomize =
        std::fs::read_to_string("/proc/sys/kernel/randomize_va_space").unwrap_or_default();
    if randomize.trim() == "0" {
        return; // ASLR is off on this machine: nothing to compare.
    }
    let bases: std::collections::BTreeSet<u64> = (0..3).map(|_| image_base()).collect();
    assert!(
        bases.len() > 1,
        "nono mapped at the same address every time: {bases:x?}"
    );
}

/// A home whose `~/.ssh` (a deny entry) holds links into `~/dots` whose chains are dead
/// today, and `~/work` for the attacker's content:
/// - `config` → `dots/a` → `b` → `a` (a loop),
/// - `known_hosts` → `dots/l1` → … → `l41` → `real` (one link more than any lookup follows),
/// - `authorized_keys` → `dots/f/keys` where `dots/f` is a file.
fn dead_chains(s: &crate::harness::Scratch) {
    use std::os::unix::fs::symlink;
    let _ = std::fs::remove_dir_all(s.join("home"));
    s.mkdir("home/.ssh");
    s.mkdir("home/work");
    s.write("home/dots/real", "real\n");
    s.write("home/dots/f", "a file\n");
    symlink("../dots/a", s.join("home/.ssh/config")).unwrap();
    symlink("b", s.join("home/dots/a")).unwrap();
    symlink("a", s.join("home/dots/b")).unwrap();
    symlink("../dots/l1", s.join("home/.ssh/known_hosts")).unwrap();
    for i in 1..=41 {
        let next = if i == 41 {
            "real".to_owned()
        } else {
            format!("l{}", i + 1)
        };
        symlink(next, s.join(&format!("home/dots/l{i}"))).unwrap();
    }
    symlink("../dots/f/keys", s.join("home/.ssh/authorized_keys")).unwrap();
}

/// The attack: re-point a link of each dead chain at the attacker's file, and replace the
/// file in the way by a directory holding the attacker's file.
fn revive_script(s: &crate::harness::Scratch, evil: &str) -> String {
    let (d, w) = (s.s("home/dots"), s.s("home/work"));
    format!(
        "echo '{evil}' > {w}/evil; ln -sfn {w}/evil {d}/a; ln -sfn {w}/evil {d}/l1; \
         rm -f {d}/f; mkdir {d}/f; echo '{evil}' > {d}/f/keys; true"
    )
}

/// What the three protected names read now.
fn revived(s: &crate::harness::Scratch, evil: &str) -> Vec<&'static str> {
    ["config", "known_hosts", "authorized_keys"]
        .into_iter()
        .filter(|n| {
            std::fs::read_to_string(s.join(&format!("home/.ssh/{n}")))
                .is_ok_and(|t| t.contains(evil))
        })
        .collect()
}

/// A link inside a deny entry whose chain does not resolve today — a loop, more than 40
/// links, a file where a directory should be — is dead, not harmless: before this fix the
/// deny set protected nothing of such a chain (`planted::walk` fails, and the chain was
/// skipped), so a sandbox granted a directory the chain passes through re-pointed a link on
/// the way or replaced the file by a directory, and `~/.ssh/config` (or `known_hosts`,
/// `authorized_keys`) then read the sandbox's content outside any sandbox. A dangling chain
/// (a missing target) was already protected; these now are too: every link walked, and where
/// the chain was going when a component failed.
#[test]
fn redteam9_a_dead_link_chain_in_a_deny_entry_cannot_be_revived() {
    use crate::harness::{nono_cmd, output, Scratch};
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("rt9-dead-chains");
    let evil = format!("Host evil-{}", std::process::id());
    // Control: unsandboxed, the attack revives all three.
    dead_chains(&s);
    let out = Command::new("/bin/sh")
        .args(["-c", &revive_script(&s, &evil)])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        revived(&s, &evil),
        ["config", "known_hosts", "authorized_keys"]
    );
    for mode in ["run", "wrap"] {
        dead_chains(&s);
        let mut cmd = nono_cmd(&s.path);
        cmd.env("HOME", s.join("home"))
            .args([
                mode,
                "-s",
                "--allow",
                &s.s("home/dots"),
                "--allow",
                &s.s("home/work"),
            ])
            .args(["--", "/bin/sh", "-c", &revive_script(&s, &evil)]);
        let run = output(&mut cmd);
        assert_eq!(run.code, Some(0), "{mode}: {run:?}");
        assert_eq!(revived(&s, &evil), Vec::<&str>::new(), "{mode}: {run:?}");
    }
}

/// A protected name that is a link to `/dev/null` — `~/.bash_history` → `/dev/null`, the
/// usual way to turn shell history off, or `~/.bashrc` → `/dev/null` — made nono deny
/// `/dev/null` itself (the entry's canonical form) in every sandbox: `> /dev/null` failed
/// with `EACCES` for every command of such a user (found by red team 9; older than today's
/// changes, which carry it). A device holds no file of the user's: the device is no longer
/// denied, and the link stays protected as a link (it can be neither removed nor replaced
/// by a file the shell would read).
#[test]
fn redteam9_a_history_link_to_dev_null_leaves_dev_null_usable_and_the_link_protected() {
    use crate::harness::{nono_cmd, output, Scratch};
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("rt9-dev-null");
    let make = || {
        let _ = std::fs::remove_dir_all(s.join("home"));
        s.mkdir("home/work");
        std::os::unix::fs::symlink("/dev/null", s.join("home/.bash_history")).unwrap();
        std::os::unix::fs::symlink("/dev/null", s.join("home/.bashrc")).unwrap();
    };
    let (h, rc, hist) = (s.s("home"), s.s("home/.bashrc"), s.s("home/.bash_history"));
    let script = format!(
        "echo x > /dev/null && echo devnull-ok; rm -f {rc} && echo removed; \
         ln -sfn {h}/work/evil {hist} && echo replaced; true"
    );
    // Control: unsandboxed, both links can be removed or replaced.
    make();
    let out = Command::new("/bin/sh")
        .args(["-c", &script])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("devnull-ok") && text.contains("removed") && text.contains("replaced"));
    for mode in ["run", "wrap"] {
        make();
        let mut cmd = nono_cmd(&s.path);
        cmd.env("HOME", s.join("home"))
            .args([mode, "-s", "--allow", &h])
            // wrap: the grant covers the home directory (chmod of deny-group files is a
            // gap without a supervisor; not what this test is about).
            .args(if mode == "wrap" {
                &["--accept-wrap-gaps"][..]
            } else {
                &[]
            })
            .args(["--", "/bin/sh", "-c", &script]);
        let run = output(&mut cmd);
        assert_eq!(run.code, Some(0), "{mode}: {run:?}");
        assert!(run.stdout.contains("devnull-ok"), "{mode}: {run:?}");
        assert!(
            !run.stdout.contains("removed") && !run.stdout.contains("replaced"),
            "{mode}: {run:?}"
        );
        for link in [&rc, &hist] {
            assert_eq!(
                std::fs::read_link(link).ok(),
                Some(std::path::PathBuf::from("/dev/null")),
                "{mode}: {link}"
            );
        }
    }
}

/// Left open by red team 9, fixed after it: a chain out of a deny entry through one of the
/// user's own directories that nono may not search (mode 000) made the walk stop with
/// `EACCES`, and nothing of the chain's end was protected. A sandbox granted that
/// directory's parent made it searchable again (`chmod` is not a Landlock right) and put the
/// file the chain names there, and `~/.ssh/config` read the sandbox's content outside any
/// sandbox. Now the directory nono could not search is denied as the chain's end, like a
/// file in the way. Only an unprivileged user meets this (root searches anything), so nono
/// runs as a user made for the test; the control is that user, unsandboxed.
#[test]
fn redteam9_a_chain_through_an_unsearchable_directory_cannot_be_revived() {
    let evil = format!("Host evil-{}", std::process::id());
    assert_unsearchable_chain_stays_dead(
        "rt9-eacces",
        |s| {
            s.mkdir("home/dots/locked");
            s.mkdir("home/work");
            std::os::unix::fs::symlink("../dots/locked/cfg", s.join("home/.ssh/config")).unwrap();
        },
        "home/dots/locked",
        &|d| format!("chmod 755 {d}/locked; echo '{evil}' > {d}/locked/cfg; true"),
        &["home/dots", "home/work"],
        &evil,
    );
}

/// The attack on a protected chain through `locked`, a directory of an unprivileged user's
/// of mode 000 (only such a user meets `EACCES` there: root searches anything). `plant`
/// makes the tree under the scratch's `home` (`home/.ssh` exists), which is then given to a
/// user made for the test, `locked` last set to 000. The control — that user, unsandboxed,
/// running `script` (given `home/dots`) — makes `~/.ssh/config` read `evil`; under nono
/// `run` and `wrap` with `--allow` on each of `grants` (relative to the scratch) it must
/// not. Without a test user the case is skipped (a failure under `NONO_REQUIRE_TOOLS=1`).
pub(crate) fn assert_unsearchable_chain_stays_dead(
    tag: &str,
    plant: impl Fn(&crate::harness::Scratch),
    locked: &str,
    script: &dyn Fn(&str) -> String,
    grants: &[&str],
    evil: &str,
) {
    use crate::harness::{nono_cmd, output, Scratch};
    use crate::programs::TestUser;
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    if !sandbox_available() {
        return;
    }
    let Some(user) = TestUser::create(&tag.replace('-', "")) else {
        crate::redteam7::skip("no test user could be created (useradd as root)");
        return;
    };
    let s = Scratch::new(tag);
    let (home, locked) = (s.join("home"), s.join(locked));
    let searchable = |mode: u32| {
        if std::fs::symlink_metadata(&locked).is_ok_and(|m| m.is_dir()) {
            std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(mode)).unwrap();
        }
    };
    let setup = || {
        searchable(0o755);
        let _ = std::fs::remove_dir_all(&home);
        s.mkdir("home/.ssh");
        plant(&s);
        let chown = Command::new("chown")
            .args(["-hR", &format!("{}:{}", user.uid, user.gid), &s.s("home")])
            .status()
            .unwrap();
        assert!(chown.success());
        searchable(0o000);
    };
    let script = script(&s.s("home/dots"));
    let revived =
        || std::fs::read_to_string(s.join("home/.ssh/config")).is_ok_and(|t| t.contains(evil));
    // Control: the user, unsandboxed, revives the chain.
    setup();
    let out = Command::new("/bin/sh")
        .args(["-c", &script])
        .uid(user.uid)
        .gid(user.gid)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(revived(), "the control could not revive the chain");
    for mode in ["run", "wrap"] {
        setup();
        let mut cmd = nono_cmd(&s.path);
        cmd.uid(user.uid)
            .gid(user.gid)
            .env("HOME", &home)
            .env("USER", &user.name)
            .env_remove("XDG_STATE_HOME")
            .env_remove("XDG_RUNTIME_DIR")
            .args([mode, "-s"]);
        for g in grants {
            cmd.args(["--allow", &s.s(g)]);
        }
        cmd.args(["--", "/bin/sh", "-c", &script]);
        let run = output(&mut cmd);
        assert_eq!(run.code, Some(0), "{mode}: {run:?}");
        assert!(!revived(), "{mode}: the chain was revived: {run:?}");
    }
    // Leave the tree removable.
    searchable(0o755);
}

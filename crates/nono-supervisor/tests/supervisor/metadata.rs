//! The metadata broker with real sandboxed children (run as root, so every refusal comes from
//! nono): `chmod`, `chown`, `utimensat`/`utimes`, `setxattr`/`removexattr` — path-based, through
//! a read-only fd, through an `O_PATH` fd — are refused outside the write grants and performed
//! inside them, and a path flipped by a second thread never changes the outside file.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use nono_sandbox::AccessMode;
use nono_supervisor::ExitStatusKind;

use crate::cprog::{answer, gaps, run_probe};
use crate::harness::{sandbox_ready, scratch, system_caps};

/// Every call the probe's `meta` mode makes, in order.
const OPS: &[&str] = &[
    "chmod",
    "fchmodat",
    "chown",
    "lchown",
    "fchownat",
    "utimensat",
    "utimes",
    "setxattr",
    "lsetxattr",
    "removexattr",
    "fchmod-ro",
    "fchown-ro",
    "fsetxattr-ro",
    "futimens-ro",
    "fchmodat2-empty",
    "fchownat-empty",
    "chmod-procfd",
];

fn xattrs(path: &Path) -> Vec<String> {
    let mut buf = vec![0u8; 4096];
    let n = rustix::fs::listxattr(path, &mut buf).unwrap();
    buf[..n]
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

fn fresh_file(dir: &Path) -> std::path::PathBuf {
    let f = dir.join("target.txt");
    std::fs::write(&f, "data").unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
    f
}

#[test]
fn metadata_changes_outside_the_write_grants_are_refused_and_reported() {
    let Some(_g) = sandbox_ready() else { return };
    let Some(probe) = gaps() else { return };
    let out = scratch("meta-out");
    // Readable (so the probe can open it read-only and O_PATH), not writable.
    let ro = scratch("meta-readonly");
    let file = fresh_file(&ro);
    let before = std::fs::metadata(&file).unwrap();
    let mut caps = system_caps();
    caps.allow_dir(&ro, AccessMode::Read, "test read-only")
        .unwrap();
    let (outcome, text) = run_probe(&probe, &["meta", file.to_str().unwrap()], caps, &out);
    assert_eq!(outcome.exit, ExitStatusKind::Code(0), "{text}");
    assert_eq!(answer(&text, "open-ro"), "ok", "{text}");
    assert_eq!(answer(&text, "open-opath"), "ok", "{text}");
    for op in OPS {
        assert_eq!(answer(&text, op), "EACCES", "{op}:\n{text}");
    }
    let after = std::fs::metadata(&file).unwrap();
    assert_eq!(after.mode(), before.mode());
    assert_eq!((after.uid(), after.gid()), (before.uid(), before.gid()));
    assert_eq!(after.mtime(), before.mtime());
    assert_eq!(after.atime(), before.atime());
    assert!(xattrs(&file).is_empty(), "{:?}", xattrs(&file));
    for syscall in [
        "chmod",
        "fchown",
        "utimensat",
        "setxattr",
        "removexattr",
        "fchmod",
        "fsetxattr",
    ] {
        assert!(
            outcome.denials.iter().any(|d| d.call.name() == syscall
                && d.path() == Some(Path::new(&file))
                && d.access == AccessMode::Write),
            "no denial for {syscall}: {:?}",
            outcome.denials
        );
    }
}

#[test]
fn a_file_the_sandbox_cannot_even_read_is_refused_too() {
    let Some(_g) = sandbox_ready() else { return };
    let Some(probe) = gaps() else { return };
    let out = scratch("meta-out");
    let hidden = scratch("meta-hidden");
    let file = fresh_file(&hidden);
    let (outcome, text) = run_probe(
        &probe,
        &["meta", file.to_str().unwrap()],
        system_caps(),
        &out,
    );
    assert_eq!(outcome.exit, ExitStatusKind::Code(0), "{text}");
    for op in [
        "chmod",
        "fchmodat",
        "chown",
        "lchown",
        "utimensat",
        "setxattr",
    ] {
        assert_eq!(answer(&text, op), "EACCES", "{op}:\n{text}");
    }
    // Landlock refuses the read-only open; O_PATH is not checked by Landlock, the
    // AT_EMPTY_PATH calls on it are refused by the broker.
    assert_eq!(answer(&text, "open-ro"), "EACCES", "{text}");
    assert_eq!(answer(&text, "fchmodat2-empty"), "EACCES", "{text}");
    assert_eq!(answer(&text, "chmod-procfd"), "EACCES", "{text}");
    assert_eq!(std::fs::metadata(&file).unwrap().mode() & 0o7777, 0o644);
    assert!(!outcome.denials.is_empty());
}

/// Inside the write grants every variant is performed — as far as the child's own
/// credentials go: with its capabilities kept (as root) all of them, including the `chown`s
/// to another user; with them dropped (the default) the `chown`s are refused with `EPERM`
/// and recorded (no `CAP_CHOWN`), the rest (the child, uid 0, owns the file) performed.
#[test]
fn metadata_changes_inside_the_write_grants_are_performed() {
    let Some(_g) = sandbox_ready() else { return };
    let Some(probe) = gaps() else { return };
    let me = rustix::process::getuid().as_raw();
    for keep in [true, false] {
        let out = scratch("meta-out");
        let rw = scratch("meta-writable");
        let file = fresh_file(&rw);
        let mut caps = system_caps();
        caps.allow_dir(&rw, AccessMode::ReadWrite, "test writable")
            .unwrap();
        caps.set_keep_capabilities(keep);
        let (outcome, text) = run_probe(&probe, &["meta", file.to_str().unwrap()], caps, &out);
        assert_eq!(outcome.exit, ExitStatusKind::Code(0), "{text}");
        for op in OPS {
            let want = if !keep && op.contains("chown") {
                "EPERM"
            } else {
                "ok"
            };
            assert_eq!(answer(&text, op), want, "{op} (keep {keep}):\n{text}");
        }
        let m = std::fs::metadata(&file).unwrap();
        // The last of each kind wins: chmod via /proc/self/fd, fchownat(AT_EMPTY_PATH),
        // futimens after utimes.
        assert_eq!(m.mode() & 0o7777, 0o607);
        let owner = if keep { (1238, 1238) } else { (me, m.gid()) };
        assert_eq!((m.uid(), m.gid()), owner);
        assert_eq!(m.mtime(), 1_000_000);
        assert_eq!(m.atime(), 1_000_000);
        let mut names = xattrs(&file);
        names.sort();
        assert_eq!(names, ["user.nono", "user.nono3"]);
        if keep {
            assert!(outcome.denials.is_empty(), "{:?}", outcome.denials);
        } else {
            assert_eq!(outcome.denials.len(), 5, "{:?}", outcome.denials);
            assert!(
                outcome
                    .denials
                    .iter()
                    .all(|d| d.reason.contains("CAP_CHOWN") && d.path() == Some(Path::new(&file))),
                "{:?}",
                outcome.denials
            );
        }
    }
}

/// What the supervisor performs for the child is bounded by the child's own credentials
/// (`/proc/TID/status`), read for the trapped thread: a file owned by another user, a group
/// the child is not in, `trusted.*` xattrs, and — for everyone — set-ID bits. Run as root with
/// capabilities kept, dropped (the default), and kept but then given up by `setuid` in the
/// child (its fsuid and `CapEff` change: the supervisor follows).
#[test]
fn metadata_changes_are_bounded_by_the_childs_own_credentials() {
    let Some(_g) = sandbox_ready() else { return };
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipping: needs root (files owned by another user)");
        return;
    }
    for mode in ["kept", "dropped", "setuid"] {
        let out = scratch("meta-creds-out");
        // The child may be uid 1234 when it writes its result.
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o777)).unwrap();
        let rw = scratch("meta-creds");
        let mine = rw.join("mine");
        let theirs = rw.join("theirs");
        for f in [&mine, &theirs] {
            std::fs::write(f, "x").unwrap();
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        std::os::unix::fs::chown(&theirs, Some(1234), Some(1234)).unwrap();
        let script = format!(
            r#"
import json, os
def attempt(f):
    try:
        f()
        return "ok"
    except OSError as e:
        import errno
        return errno.errorcode[e.errno]
mine, theirs = {mine:?}, {theirs:?}
if {setuid}:
    os.setgid(1234)
    os.setgroups([])
    os.setuid(1234)
r = {{}}
r["chmod_setuid"] = attempt(lambda: os.chmod(mine, 0o4755))
r["chmod_setgid"] = attempt(lambda: os.chmod(mine, 0o2755))
r["chmod_mine"] = attempt(lambda: os.chmod(mine, 0o640))
r["chmod_theirs"] = attempt(lambda: os.chmod(theirs, 0o600))
r["utime_theirs"] = attempt(lambda: os.utime(theirs, (5, 5)))
r["touch_theirs"] = attempt(lambda: os.utime(theirs))
r["user_xattr_theirs"] = attempt(lambda: os.setxattr(theirs, "user.x", b"1"))
r["trusted_xattr_mine"] = attempt(lambda: os.setxattr(mine, "trusted.x", b"1"))
r["chgrp_mine_own_group"] = attempt(lambda: os.chown(mine, -1, os.getegid()))
r["chgrp_mine_other_group"] = attempt(lambda: os.chown(mine, -1, 4321))
r["chown_mine"] = attempt(lambda: os.chown(mine, 4321, -1))
open({result:?}, "w").write(json.dumps(r))
"#,
            mine = mine.display().to_string(),
            theirs = theirs.display().to_string(),
            setuid = if mode == "setuid" { "True" } else { "False" },
            result = out.join("result").display().to_string(),
        );
        let mut caps = system_caps();
        caps.allow_dir(&rw, AccessMode::ReadWrite, "test writable")
            .unwrap();
        caps.allow_dir(&out, AccessMode::ReadWrite, "test output")
            .unwrap();
        caps.set_keep_capabilities(mode != "dropped");
        let mut config = crate::harness::sh("", caps);
        config.argv = vec![crate::harness::PYTHON.into(), "-c".into(), script.into()];
        config.trap_opens = true;
        config.workdir = Some(out.clone());
        let outcome = nono_supervisor::run(config).unwrap();
        assert_eq!(
            outcome.exit,
            ExitStatusKind::Code(0),
            "{mode}: {:?}",
            outcome.denials
        );
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("result")).unwrap()).unwrap();
        let got = |k: &str| r[k].as_str().unwrap().to_owned();
        // Set-ID bits: never, whatever the credentials.
        assert_eq!(got("chmod_setuid"), "EPERM", "{mode}: {r}");
        assert_eq!(got("chmod_setgid"), "EPERM", "{mode}: {r}");
        let want: &[(&str, &str)] = match mode {
            // Root with every capability: as before.
            "kept" => &[
                ("chmod_mine", "ok"),
                ("chmod_theirs", "ok"),
                ("utime_theirs", "ok"),
                ("touch_theirs", "ok"),
                ("user_xattr_theirs", "ok"),
                ("trusted_xattr_mine", "ok"),
                ("chgrp_mine_own_group", "ok"),
                ("chgrp_mine_other_group", "ok"),
                ("chown_mine", "ok"),
            ],
            // uid 0 without capabilities: owns `mine`, nothing more.
            "dropped" => &[
                ("chmod_mine", "ok"),
                ("chmod_theirs", "EPERM"),
                ("utime_theirs", "EPERM"),
                ("touch_theirs", "EACCES"),
                ("user_xattr_theirs", "EACCES"),
                ("trusted_xattr_mine", "EPERM"),
                ("chgrp_mine_own_group", "ok"),
                ("chgrp_mine_other_group", "EPERM"),
                ("chown_mine", "EPERM"),
            ],
            // uid 1234: owns `theirs`, not `mine`.
            _ => &[
                ("chmod_mine", "EPERM"),
                ("chmod_theirs", "ok"),
                ("utime_theirs", "ok"),
                ("touch_theirs", "ok"),
                ("user_xattr_theirs", "ok"),
                ("trusted_xattr_mine", "EPERM"),
                ("chgrp_mine_own_group", "EPERM"),
                ("chgrp_mine_other_group", "EPERM"),
                ("chown_mine", "EPERM"),
            ],
        };
        for (k, v) in want {
            assert_eq!(got(k), *v, "{mode} {k}: {r}");
        }
        let m = std::fs::metadata(&mine).unwrap();
        assert_eq!(m.mode() & 0o6000, 0, "{mode}: a set-ID bit was set");
        if mode != "kept" {
            assert_eq!(m.uid(), 0, "{mode}");
            let t = std::fs::metadata(&theirs).unwrap();
            if mode == "dropped" {
                assert_eq!(t.mode() & 0o7777, 0o644, "{mode}");
                assert_ne!(t.mtime(), 5, "{mode}");
            }
        }
        // Refusals of the broker are recorded (set-ID `chmod`s are refused by the seccomp
        // filter before they reach it, where the mode is a register).
        if mode == "dropped" {
            for (path, what) in [(&theirs, "does not own"), (&mine, "CAP_SYS_ADMIN")] {
                assert!(
                    outcome
                        .denials
                        .iter()
                        .any(|d| d.path() == Some(Path::new(path)) && d.reason.contains(what)),
                    "{what}: {:?}",
                    outcome.denials
                );
            }
        }
    }
}

#[test]
fn a_path_flipped_by_another_thread_never_changes_the_outside_file() {
    let Some(_g) = sandbox_ready() else { return };
    let Some(probe) = gaps() else { return };
    let out = scratch("meta-out");
    let rw = scratch("meta-race-in");
    let outside = scratch("meta-race-out");
    let inside = fresh_file(&rw);
    let victim = fresh_file(&outside);
    let mut caps = system_caps();
    caps.allow_dir(&rw, AccessMode::ReadWrite, "test writable")
        .unwrap();
    caps.allow_dir(&outside, AccessMode::Read, "test read-only")
        .unwrap();
    let (outcome, text) = run_probe(
        &probe,
        &[
            "race-chmod",
            inside.to_str().unwrap(),
            victim.to_str().unwrap(),
            "3000",
        ],
        caps,
        &out,
    );
    assert_eq!(outcome.exit, ExitStatusKind::Code(0), "{text}");
    assert_eq!(
        std::fs::metadata(&victim).unwrap().mode() & 0o7777,
        0o644,
        "{text}"
    );
    let ok: u32 = text
        .trim()
        .strip_prefix("chmod ok=")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{text}"));
    eprintln!(
        "race: chmod ok={ok} of 3000, {} denials",
        outcome.denials.len()
    );
    assert!(ok > 0, "{text}");
    assert!(
        outcome
            .denials
            .iter()
            .any(|d| d.path() == Some(Path::new(&victim))),
        "the flipped path was never even seen: {text}"
    );
}

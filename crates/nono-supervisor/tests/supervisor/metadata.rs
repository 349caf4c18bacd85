//! The metadata broker with real sandboxed children (run as root, so every refusal comes from
//! nono): `chmod`, `chown`, `utimensat`/`utimes`, `setxattr`/`removexattr` — path-based, through
//! a read-only fd, through an `O_PATH` fd — are refused outside the write grants and performed
//! inside them, and a path flipped by a second thread never changes the outside file.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use nono_sandbox::AccessMode;
use nono_supervisor::ExitStatusKind;

use crate::cprog::{answer, gaps, run_probe};
use crate::harness::{notify_supported, scratch, shared, system_caps};

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
    let _g = shared();
    if !notify_supported() {
        return;
    }
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
            outcome
                .denials
                .iter()
                .any(|d| d.syscall == syscall && d.path == file && d.access == AccessMode::Write),
            "no denial for {syscall}: {:?}",
            outcome.denials
        );
    }
}

#[test]
fn a_file_the_sandbox_cannot_even_read_is_refused_too() {
    let _g = shared();
    if !notify_supported() {
        return;
    }
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

#[test]
fn metadata_changes_inside_the_write_grants_are_performed() {
    let _g = shared();
    if !notify_supported() {
        return;
    }
    let Some(probe) = gaps() else { return };
    let out = scratch("meta-out");
    let rw = scratch("meta-writable");
    let file = fresh_file(&rw);
    let mut caps = system_caps();
    caps.allow_dir(&rw, AccessMode::ReadWrite, "test writable")
        .unwrap();
    let (outcome, text) = run_probe(&probe, &["meta", file.to_str().unwrap()], caps, &out);
    assert_eq!(outcome.exit, ExitStatusKind::Code(0), "{text}");
    for op in OPS {
        assert_eq!(answer(&text, op), "ok", "{op}:\n{text}");
    }
    let m = std::fs::metadata(&file).unwrap();
    // The last of each kind wins: chmod via /proc/self/fd, fchownat(AT_EMPTY_PATH),
    // futimens after utimes.
    assert_eq!(m.mode() & 0o7777, 0o607);
    assert_eq!((m.uid(), m.gid()), (1238, 1238));
    assert_eq!(m.mtime(), 1_000_000);
    assert_eq!(m.atime(), 1_000_000);
    let mut names = xattrs(&file);
    names.sort();
    assert_eq!(names, ["user.nono", "user.nono3"]);
    assert!(outcome.denials.is_empty(), "{:?}", outcome.denials);
}

#[test]
fn a_path_flipped_by_another_thread_never_changes_the_outside_file() {
    let _g = shared();
    if !notify_supported() {
        return;
    }
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
        outcome.denials.iter().any(|d| d.path == victim),
        "the flipped path was never even seen: {text}"
    );
}

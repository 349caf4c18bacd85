//! Red team 21: 7288f6b, runtime grants trimmed — the deny groups' identity walk over a
//! request's ancestors remembered per directory (`ancestor_memo.rs`). See the section
//! "Red team 21 (session 13)" of docs/THREAT_MODEL.md.
//!
//! The layout: the user (root, outside the sandbox) has bind-mounted their `~/.ssh` at
//! `W/M/x` inside a directory `W` the sandbox is given with `--approve`. A file under it is
//! refused only by the identity walk (its path names no deny entry). `~/.ssh` holds more
//! entries than the start-up walk of `deny_inodes.rs` takes (1024), so `~/.ssh/sub/key` is
//! not among the identities checked after the open either: what the walk answers is what
//! happens.

use std::path::PathBuf;
use std::process::Command;

use crate::harness::{nono_cmd, output, Run, Scratch};
use crate::programs::{bins, in_nono, marker, Mode, Outcome};
use crate::redteam23::{bind, mounts_under, Mounts};

/// The scratch layout, with the bind mount undone (every mount beneath `W`, wherever the
/// sandbox moved it) before the scratch directory is removed.
struct Layout {
    home: PathBuf,
    w: PathBuf,
    mark: String,
    // Declared before `s`: dropped (unmounted) first.
    _mounts: Mounts,
    s: Scratch,
}

/// `~/.ssh` (1100 filler files, `sub/key` holding the marker) bind-mounted at `W/M/x`; a
/// plain `W/C/x`. `None` (the test is skipped) without root, `mount` or the sandbox.
fn layout(tag: &str) -> Option<Layout> {
    bins()?;
    if !crate::redteam23::can_mount() {
        return None;
    }
    let s = Scratch::new(tag);
    let mark = marker(tag);
    let home = s.mkdir("home");
    let ssh = s.mkdir("home/.ssh/sub");
    let ssh = ssh.parent().unwrap().to_path_buf();
    for i in 0..1100 {
        std::fs::write(ssh.join(format!("filler{i}")), "f\n").unwrap();
    }
    std::fs::write(ssh.join("sub/key"), format!("{mark}\n")).unwrap();
    let w = s.mkdir("w");
    let mountpoint = s.mkdir("w/M/x");
    s.mkdir("w/C/x");
    let mounts = Mounts(w.clone());
    if !bind(&ssh, &mountpoint) {
        eprintln!("skipping: mount --bind failed");
        return None;
    }
    Some(Layout {
        home,
        w,
        mark,
        _mounts: mounts,
        s,
    })
}

impl Layout {
    fn w(&self, rel: &str) -> String {
        self.w.join(rel).display().to_string()
    }

    /// `nono run --approve W -- memo ARGS` with `HOME` the scratch home.
    fn memo_in_nono(&self, args: &[&str]) -> Outcome {
        let b = bins().unwrap();
        let home = self.home.display().to_string();
        let (config, data, cache) = (
            format!("{home}/.config"),
            format!("{home}/.local/share"),
            format!("{home}/.cache"),
        );
        in_nono(
            Mode::Run,
            &self.s.path,
            &[
                ("HOME", home.as_str()),
                ("XDG_CONFIG_HOME", config.as_str()),
                ("XDG_DATA_HOME", data.as_str()),
                ("XDG_CACHE_HOME", cache.as_str()),
            ],
            &["--approve", &self.w("")],
            &b.memo(),
            args,
        )
    }

    /// The control: `memo ARGS` with no sandbox.
    fn memo_bare(&self, args: &[&str]) -> Outcome {
        let b = bins().unwrap();
        let mut cmd = Command::new(b.memo());
        cmd.current_dir(&self.s.path).args(args);
        Outcome::parse(output(&mut cmd))
    }

    /// `nono run --approve W -- /bin/sh -c SCRIPT`.
    fn sh_in_nono(&self, script: &str) -> Run {
        let mut cmd = nono_cmd(&self.s.path);
        cmd.env("HOME", &self.home)
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_DATA_HOME")
            .env_remove("XDG_CACHE_HOME")
            .args([
                "run",
                "--approve",
                &self.w(""),
                "--",
                "/bin/sh",
                "-c",
                script,
            ]);
        output(&mut cmd)
    }

    /// Remove what a `memo` run made (`bN`, `bN.aside`); `M` and `C` are back in place.
    fn clean(&self) {
        for e in std::fs::read_dir(&self.w).unwrap().flatten() {
            if e.file_name().to_string_lossy().starts_with('b') {
                assert!(
                    mounts_under(&e.path()).is_empty(),
                    "a mount left in {}",
                    e.path().display()
                );
                std::fs::remove_dir_all(e.path()).unwrap();
            }
        }
        assert!(self.w.join("M/x/sub/key").exists() && self.w.join("C/x").is_dir());
    }
}

/// Finding 1. The sandbox makes `W/bN/x/sub/key` (its own) and, while a second thread opens
/// that path in a loop, exchanges `W/bN/x` with a directory whose `sub` is a symlink to
/// `W/M/x/sub` (`~/.ssh/sub` through the mount) — both names are plain directories, so the
/// exchange is approved. An open the supervisor canonicalised before the exchange and whose
/// walk `stat`ed `W/bN/x/sub` after it saw `~/.ssh/sub` there with nothing denied above
/// (`W/bN/x` is the sandbox's own directory), and the memo kept that answer for
/// `~/.ssh/sub`'s stamp. The sandbox then moved `W/bN` aside and `W/M` (the directory holding
/// the mount point, which it may rename) into its name: `W/bN/x/sub` was `~/.ssh/sub`,
/// reached through `~/.ssh`, unchanged and unmoved — the stamp matched, and `W/bN/x/sub/key`
/// was granted and read (in 1 to ~540 attempts; before 7288f6b the walk was made afresh and
/// found `~/.ssh` above). Now the walk goes up from the opened directory by `..`, and a
/// directory reached through a symlink is walked by name and not remembered.
/// Control: unsandboxed the same renames read the key at the first attempt.
#[test]
fn redteam21_a_symlink_swapped_in_during_the_walk_does_not_poison_the_ancestor_memo() {
    let Some(l) = layout("rt21-memo-symlink") else {
        return;
    };
    let control = l.memo_bare(&["poison", &l.w(""), "M", "3", &l.mark]);
    assert_eq!(control.count("leaks"), 1, "{}", control.run);
    l.clean();
    let out = l.memo_in_nono(&["poison", &l.w(""), "M", "1000", &l.mark]);
    assert_eq!(out.count("leaks"), 0, "{}", out.run);
    out.never_printed(&l.mark);
    assert_eq!(out.count("attempts"), 1000, "{}", out.run);
    l.clean();
}

/// The same poisoning without a symlink: `W/M/x/sub/key` (through the mount) is opened in a
/// loop while `W/M` is exchanged once with a plain `W/C`; a walk by name that `stat`ed
/// `W/M/x/sub` before the exchange and `W/M/x` after it would have remembered nothing above
/// `~/.ssh/sub`. The window is two consecutive `stat`s (not won here in thousands of tries
/// against 7288f6b either); walked by `..` from the opened directory it does not exist.
/// Control: unsandboxed the key is read.
#[test]
fn redteam21_an_exchange_during_the_walk_does_not_poison_the_ancestor_memo() {
    let Some(l) = layout("rt21-memo-exchange") else {
        return;
    };
    let control = l.memo_bare(&["exchange", &l.w(""), "M", "C", "2", &l.mark]);
    assert_eq!(control.count("leaks"), 1, "{}", control.run);
    let out = l.memo_in_nono(&["exchange", &l.w(""), "M", "C", "1000", &l.mark]);
    assert_eq!(out.count("leaks"), 0, "{}", out.run);
    assert_eq!(out.count("attempts"), 1000, "{}", out.run);
    out.never_printed(&l.mark);
}

/// What the memo's claim rests on, without a race: requests that warm the memo for the
/// sandbox's own `W/a/x/sub`, then renames by the sandbox that put the mount of `~/.ssh` at
/// `W/a/x` (the sandbox moves `W/a` aside and `W/M`, which holds the mount point, into its
/// name), then requests for `W/a/x/sub/key` and `W/a/x/filler1` within the memo's 2 s: the
/// directory at `W/a/x/sub` is another inode, so the walk goes on and finds `~/.ssh`. The
/// mount point itself cannot be renamed (`EBUSY`). Control: unsandboxed, the script reads
/// the key.
#[test]
fn redteam21_a_deny_entry_mounted_in_an_approved_directory_stays_refused_after_renames() {
    let Some(l) = layout("rt21-memo-renames") else {
        return;
    };
    let w = l.w("");
    let script = format!(
        "cat {w}/M/x/sub/key; \
         mkdir -p {w}/a/x/sub && echo own > {w}/a/x/sub/f && cat {w}/a/x/sub/f {w}/a/x/sub/f; \
         mv {w}/M/x {w}/M/y 2>/dev/null && echo renamed-mount-point; \
         mv {w}/a {w}/a0 && mv {w}/M {w}/a && echo swapped; \
         cat {w}/a/x/sub/key; cat {w}/a/x/filler1; cat {w}/a/x/sub/key; \
         mv {w}/a {w}/M; true"
    );
    let control = Command::new("/bin/sh")
        .args(["-c", &script])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&control.stdout);
    assert!(
        stdout.contains(&l.mark),
        "control did not read the key: {stdout}"
    );
    // Undo the control's renames.
    std::fs::remove_dir_all(l.w.join("a0")).unwrap();
    assert!(l.w.join("M/x/sub/key").exists());
    let out = l.sh_in_nono(&script);
    assert!(out.stdout.contains("own\nown\n"), "{out}");
    assert!(out.stdout.contains("swapped"), "{out}");
    assert!(!out.stdout.contains("renamed-mount-point"), "{out}");
    assert!(
        !out.stdout.contains(&l.mark) && !out.stderr.contains(&l.mark),
        "{out}"
    );
    assert!(
        !out.stdout.contains("f\n"),
        "a file of ~/.ssh was read: {out}"
    );
    assert!(
        out.stderr.contains("deny group `credentials`"),
        "refused, but not by the deny group: {out}"
    );
    assert!(l.w.join("M/x/sub/key").exists(), "{out}");
}

/// Claims 2 and 4 (indexed Landlock rules and deny paths, an approve rule's literal prefix by
/// bytes): a name that shares a prefix of bytes with a grant or a deny entry is not covered
/// by it, however the request spells the path (`//`, `.`, `..`, a trailing `/`, a rule
/// given with a trailing `/` or `//`). `~/.ssh` is denied and `~/.sshx` is not; `W/a` is
/// approved and `W/ab` is not. Control: unsandboxed every file is read.
#[test]
fn redteam21_prefixes_of_bytes_are_not_prefixes_of_paths() {
    let Some(_) = bins() else { return };
    let s = Scratch::new("rt21-prefixes");
    let mark = marker("rt21-prefixes");
    let home = s.mkdir("home");
    s.write("home/.ssh/key", &format!("{mark}-ssh\n"));
    s.write("home/.sshx/f", "sshx\n");
    s.write("w/a/f", "approved\n");
    s.write("w/ab/secret", &format!("{mark}-ab\n"));
    let (h, w) = (s.s("home"), s.s("w"));
    let script = format!(
        "cat {w}/a/f {w}//a//f {w}/a/./f {w}/a/../a/f; \
         cat {w}/ab/secret; cat {w}/a/../ab/secret; cat {w}//ab/secret; cat {w}/ab/./secret; \
         cat {h}/.sshx/f; cat {h}/.ssh/key; cat {h}//.ssh/key; cat {h}/.sshx/../.ssh/key; \
         ls -a {h} | grep -c ssh; true"
    );
    let control = Command::new("/bin/sh")
        .args(["-c", &script])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&control.stdout);
    assert_eq!(stdout.matches(&format!("{mark}-ab")).count(), 4, "{stdout}");
    assert_eq!(
        stdout.matches(&format!("{mark}-ssh")).count(),
        3,
        "{stdout}"
    );
    for approve in [format!("{w}/a"), format!("{w}/a/"), format!("{w}//a")] {
        let mut cmd = nono_cmd(&s.path);
        cmd.env("HOME", &home)
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_DATA_HOME")
            .env_remove("XDG_CACHE_HOME")
            .args(["run", "--read", &h, "--approve", &approve, "--"])
            .args(["/bin/sh", "-c", &script]);
        let out = output(&mut cmd);
        assert_eq!(
            out.stdout.matches("approved\n").count(),
            4,
            "{approve}: {out}"
        );
        assert_eq!(out.stdout.matches("sshx\n").count(), 1, "{approve}: {out}");
        assert!(
            !out.stdout.contains(&mark) && !out.stderr.contains(&mark),
            "{approve}: {out}"
        );
        // `ls ~` lists both names (the home is read, `~/.ssh` is a carve-out beneath it).
        assert!(out.stdout.contains("\n2\n"), "{approve}: {out}");
    }
}

/// Finding 2 (pre-existing, fixed: the denial carries the engine's verdict,
/// `Refused::DenyEntry`). The report of a runtime refusal was worked out again when the run
/// ended (`report::describe` asked the deny set about the path then): a command that
/// was refused `W/b/x/sub/key` by the deny group (the identity walk found the mount of
/// `~/.ssh` at `W/b/x`) and then moved `W/b` back out of the way is reported as
/// `denied read of W/b/x/sub/key → add --read W/b/x/sub` — a flag that, once the layout is
/// back, makes `~/.ssh/sub` readable through the mount in the next run (a static grant;
/// Landlock follows the mount). The report names the deny group the engine refused with.
/// Control: `memo plain` unsandboxed reads the key.
#[test]
fn redteam21_a_report_names_the_deny_group_that_refused_after_the_layout_changed() {
    let Some(l) = layout("rt21-report") else {
        return;
    };
    let control = l.memo_bare(&["plain", &l.w(""), "M", &l.mark]);
    control.expect(&[("leak", "1")]);
    l.clean();
    let out = l.memo_in_nono(&["plain", &l.w(""), "M", &l.mark]);
    out.expect(&[("leak", "0")]);
    let line = out
        .run
        .stderr
        .lines()
        .find(|s| s.contains("denied read of") && s.contains("/b/x/sub/key"))
        .unwrap_or_else(|| panic!("no report of the refusal: {}", out.run))
        .to_owned();
    assert!(line.contains("deny group `credentials`"), "{line}");
    assert!(!line.contains("→ add --read"), "{line}");
}

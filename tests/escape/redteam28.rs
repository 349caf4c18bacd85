//! Red team 28 (session 15): the identity checks of runtime-granted path operations
//! (`path_ops::perform`, `DenySet::object_beneath` / `missing_made_by`). See the section
//! "Red team 28 (session 15)" of docs/THREAT_MODEL.md.
//!
//! The layout premise is red team 26's: the user (root, outside the sandbox) has
//! bind-mounted a directory of their home inside a directory `W` the sandbox is given with
//! `--approve`, so the sandboxed command reaches it by names no deny entry lies on.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{nono_cmd, output, Scratch};
use crate::redteam23::{can_mount, rebind, Mounts};

/// Runs `script` unsandboxed (the control) and under `nono run --approve W`, each after
/// `make()`; `hit()` says whether the attack landed.
fn control_then_sandboxed(
    s: &Scratch,
    w: &Path,
    make: &dyn Fn(),
    hit: &dyn Fn() -> bool,
    script: &str,
) {
    make();
    let out = Command::new("/bin/sh")
        .args(["-c", script])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(hit(), "the control did not land: {script}");
    make();
    let mut cmd = nono_cmd(&s.path);
    cmd.env("HOME", s.join("home"))
        .args(["run", "-s", "--approve", &w.display().to_string()])
        .args(["--", "/bin/sh", "-c", script]);
    let run = output(&mut cmd);
    assert_eq!(run.code, Some(0), "{script}: {run:?}");
    assert!(!hit(), "{script}: {run:?}");
}

/// Row 1: an empty directory kept in place (red team 27 row 2: `~/proj/sub`, passed on the
/// way to a `..` in `~/.ssh/config` → `../proj/sub/../../dots/config`) was removed by
/// another name (`~/proj` bind-mounted at `W/p`): `rmdir` was not judged by identity ("only
/// an empty directory can be removed"), and its name was then free for a symlink of the
/// command's, which re-pointed `~/.ssh/config` at `W/evil/dots/config`. Fails against
/// c24e91b.
#[test]
fn redteam28_an_empty_kept_directory_is_not_removed_by_another_name() {
    if !can_mount() {
        return;
    }
    let s = Scratch::new("rt28-kept-dir");
    let evil = format!("Host evil-{}", std::process::id());
    let w = s.mkdir("w");
    let p = s.mkdir("w/p");
    let _mounts = Mounts(w.clone());
    let make = || {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&p)
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(s.join("home"));
        s.mkdir("home/.ssh");
        s.mkdir("home/proj/sub");
        s.write("home/dots/config", "Host real\n");
        s.mkdir("w/evil/a/b");
        s.write("w/evil/dots/config", &format!("{evil}\n"));
        std::os::unix::fs::symlink("../proj/sub/../../dots/config", s.join("home/.ssh/config"))
            .unwrap();
        rebind(&s.join("home/proj"), &p);
    };
    let hit =
        || std::fs::read_to_string(s.join("home/.ssh/config")).is_ok_and(|t| t.contains(&evil));
    let (p, evil_dir) = (p.display().to_string(), s.s("w/evil/a/b"));
    let script = format!("rmdir {p}/sub; ln -s {evil_dir} {p}/sub; true");
    control_then_sandboxed(&s, &w, &make, &hit, &script);
}

/// Row 2: an empty directory that is the deepest existing one above a missing deny entry
/// (`~/.config`, empty, where `~/.config/autostart` is missing), reached by another name
/// (the home bind-mounted at `W/h`): removed (`rmdir`, not judged by identity), another
/// directory made so the freed inode number is not reused for it (ext4 reuses it at once),
/// and made again, it had an identity `missing_made_by` did not know (read once per run,
/// here by the first `mkdir`), so `autostart/x.desktop` was made: red team 26's finding 4
/// again. Fails against c24e91b.
#[test]
fn redteam28_an_empty_directory_above_a_missing_entry_is_not_remade() {
    if !can_mount() {
        return;
    }
    let s = Scratch::new("rt28-remade");
    let w = s.mkdir("w");
    let h = s.mkdir("w/h");
    let _mounts = Mounts(w.clone());
    let make = || {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&h)
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(s.join("home"));
        s.mkdir("home/.config");
        rebind(&s.join("home"), &h);
    };
    let hit = || s.join("home/.config/autostart/x.desktop").exists();
    let h = h.display().to_string();
    let script = format!(
        "mkdir {h}/x; rmdir {h}/.config; mkdir {h}/y; mkdir {h}/.config; \
         mkdir {h}/.config/autostart; echo '[Desktop Entry]' > {h}/.config/autostart/x.desktop; \
         true"
    );
    control_then_sandboxed(&s, &w, &make, &hit, &script);
}

/// Row 3: a kept link the user replaces during the run (`ln -sfn`, a dotfile manager
/// switching versions: a new link renamed over the old one) has a new identity, which the
/// identities read once per run (on the command's first brokered rename) do not know;
/// reached by another name (`~/dots` bind-mounted at `W/d`), it was then renamed away and a
/// link of the command's put there, re-pointing `~/.ssh/config`. Fails against c24e91b.
#[test]
fn redteam28_a_kept_link_replaced_during_the_run_stays_kept() {
    if !can_mount() {
        return;
    }
    let s = Scratch::new("rt28-replaced-link");
    let evil = format!("Host evil-{}", std::process::id());
    let w = s.mkdir("w");
    let d = s.mkdir("w/d");
    let _mounts = Mounts(w.clone());
    s.mkdir("home/.ssh");
    s.write("home/dots/v1/config", "Host real\n");
    s.write("home/dots/evil/config", &format!("{evil}\n"));
    s.write("home/dots/mine", "");
    std::os::unix::fs::symlink("v1", s.join("home/dots/cur")).unwrap();
    std::os::unix::fs::symlink("../dots/cur/config", s.join("home/.ssh/config")).unwrap();
    rebind(&s.join("home/dots"), &d);
    let (dd, ws) = (d.display().to_string(), w.display().to_string());
    // The first rename reads the identities; then the command waits for the user.
    let script = format!(
        "mv {dd}/mine {dd}/mine2 && touch {ws}/primed || exit 3; \
         while [ ! -e {ws}/go ]; do sleep 0.05; done; \
         mv {dd}/cur {dd}/old; ln -sfn evil {dd}/cur; true"
    );
    let mut cmd = nono_cmd(&s.path);
    cmd.env("HOME", s.join("home"))
        .args(["run", "-s", "--approve", &ws])
        .args(["--", "/bin/sh", "-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().expect("spawn");
    let started = Instant::now();
    while !w.join("primed").exists() && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(w.join("primed").exists(), "the command did not start");
    // The user, outside the sandbox: `ln -sfn v1 ~/dots/cur` by hand.
    let home_dots: PathBuf = s.join("home/dots");
    std::os::unix::fs::symlink("v1", home_dots.join("cur.new")).unwrap();
    std::fs::rename(home_dots.join("cur.new"), home_dots.join("cur")).unwrap();
    s.write("w/go", "");
    let run = child.wait_with_output().expect("wait");
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    assert_eq!(
        std::fs::read_to_string(s.join("home/.ssh/config")).unwrap(),
        "Host real\n",
        "{run:?}"
    );
}

/// Row 4 (fixed by red team 29): a deny entry missing when the run starts and made by the user (or a program
/// of theirs) during it — `~/.config/autostart` made when a start-up application is added —
/// is known by no identity the run read (the deny set's and red team 26's are read once), so
/// reached by another name (the home bind-mounted at `W/h`) the command wrote
/// `autostart/x.desktop` into it, and renamed it. Red team 26 noted the limit for
/// `object_beneath`/`missing_made_by`; the trapped open's walk has it too.
#[test]
fn redteam28_an_entry_made_during_the_run_is_known() {
    if !can_mount() {
        return;
    }
    let s = Scratch::new("rt28-made-later");
    let w = s.mkdir("w");
    let h = s.mkdir("w/h");
    let _mounts = Mounts(w.clone());
    s.mkdir("home/.config");
    rebind(&s.join("home"), &h);
    let (hs, ws) = (h.display().to_string(), w.display().to_string());
    let script = format!(
        "mkdir {hs}/x && touch {ws}/primed || exit 3; \
         while [ ! -e {ws}/go ]; do sleep 0.05; done; \
         echo '[Desktop Entry]' > {hs}/.config/autostart/x.desktop; true"
    );
    let mut cmd = nono_cmd(&s.path);
    cmd.env("HOME", s.join("home"))
        .args(["run", "-s", "--approve", &ws])
        .args(["--", "/bin/sh", "-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().expect("spawn");
    let started = Instant::now();
    while !w.join("primed").exists() && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(w.join("primed").exists(), "the command did not start");
    s.mkdir("home/.config/autostart");
    s.write("w/go", "");
    let run = child.wait_with_output().expect("wait");
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    assert!(
        !s.join("home/.config/autostart/x.desktop").exists(),
        "{run:?}"
    );
}

/// Row 2 through red team 27 row 3's dangling chain: `~/.ssh/config` →
/// `../dots/a/m/../../ssh/config` with `~/dots/a` empty and `m` missing (a missing entry),
/// `~/dots` mounted at `W/d`. `rmdir W/d/a`, another directory made (the freed inode number
/// not reused), `mkdir W/d/a` and `ln -s W/evil/p/q/r W/d/a/m`: `~/.ssh/config` read
/// `W/evil/p/ssh/config`. Fails against c24e91b.
#[test]
fn redteam28_the_directory_of_a_missing_name_in_a_chain_is_not_remade() {
    if !can_mount() {
        return;
    }
    let s = Scratch::new("rt28-remade-chain");
    let evil = format!("Host evil-{}", std::process::id());
    let w = s.mkdir("w");
    let d = s.mkdir("w/d");
    let _mounts = Mounts(w.clone());
    let make = || {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&d)
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(s.join("home"));
        let _ = std::fs::remove_dir_all(s.join("w/evil"));
        s.mkdir("home/.ssh");
        s.mkdir("home/dots/a");
        s.write("home/dots/ssh/config", "Host real\n");
        s.mkdir("w/evil/p/q/r");
        s.write("w/evil/p/ssh/config", &format!("{evil}\n"));
        std::os::unix::fs::symlink("../dots/a/m/../../ssh/config", s.join("home/.ssh/config"))
            .unwrap();
        rebind(&s.join("home/dots"), &d);
    };
    let hit =
        || std::fs::read_to_string(s.join("home/.ssh/config")).is_ok_and(|t| t.contains(&evil));
    let (dd, r) = (d.display().to_string(), s.s("w/evil/p/q/r"));
    let script = format!(
        "mkdir {dd}/x; rmdir {dd}/a; mkdir {dd}/zz; mkdir {dd}/a; ln -s {r} {dd}/a/m; true"
    );
    control_then_sandboxed(&s, &w, &make, &hit, &script);
}

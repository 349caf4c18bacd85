//! Deny-group bypasses with a fake HOME: hard-linking ~/.ssh/id_rsa into an allowed
//! directory, other spellings of the denied path (`//`, `.`/`..`, trailing slash, case,
//! /proc/self/root), and symlinks to it — with the home granted read+write, and at runtime.

use crate::harness::{nono_cmd, output, Scratch};
use crate::programs::{bins, marker, probe_bare, run_of, Bins, Outcome};

/// `home/.ssh/id_rsa` (the key) and `home/project/`.
fn fake_home(name: &str, key: &str) -> Scratch {
    let s = Scratch::new(name);
    s.write("home/.ssh/id_rsa", key);
    s.write("home/project/readme", "hello");
    s
}

/// `nono run` with HOME set to the fake home.
fn run_with_home(b: &Bins, s: &Scratch, nono_args: &[&str], args: &[&str]) -> Outcome {
    let mut cmd = nono_cmd(&s.path);
    cmd.env("HOME", s.join("home"))
        .args(["run", "--read", &b.dir_s()])
        .args(nono_args)
        .arg("--")
        .arg(b.probe())
        .args(args);
    Outcome::parse(output(&mut cmd))
}

#[test]
fn deny_hardlink_of_ssh_key_into_allowed_dir() {
    let Some(b) = bins() else { return };
    let key = marker("id_rsa");
    let s = fake_home("deny-hardlink", &key);
    let (h, k) = (s.s("home"), s.s("home/.ssh/id_rsa"));
    let out = run_with_home(
        b,
        &s,
        &["--allow", &h],
        &[
            "link",
            "link_key",
            &k,
            &s.s("home/project/key"),
            "read",
            "read_linked",
            &s.s("home/project/key"),
            "rename",
            "move_key",
            &k,
            &s.s("home/project/key"),
            "rename",
            "move_dir",
            &s.s("home/.ssh"),
            &s.s("home/project/ssh"),
            "create",
            "plant_authorized_keys",
            &s.s("home/.ssh/authorized_keys"),
        ],
    );
    out.expect(&[
        ("link_key", "EXDEV"),
        ("read_linked", "ENOENT"),
        ("move_key", "EACCES"),
        ("move_dir", "EACCES"),
        ("plant_authorized_keys", "EACCES"),
    ])
    .never_printed(&key);
    assert!(!s.join("home/project/key").exists() && !s.join("home/project/ssh").exists());
    assert!(!s.join("home/.ssh/authorized_keys").exists());
    assert_eq!(std::fs::read_to_string(&k).unwrap(), key);

    // Control: unsandboxed the link is made and reads the key.
    let control = probe_bare(
        &s.path,
        &[
            "link",
            "link_key",
            &k,
            &s.s("home/project/key"),
            "read",
            "read_linked",
            &s.s("home/project/key"),
        ],
    );
    control.expect(&[("link_key", "ok")]);
    assert_eq!(control.data("read_linked"), Some(key.as_str()));
}

#[test]
fn deny_path_spelling_variants() {
    let Some(b) = bins() else { return };
    let key = marker("variants");
    let s = fake_home("deny-variants", &key);
    let h = s.s("home");
    let out = run_with_home(
        b,
        &s,
        &["--allow", &h],
        &[
            "read",
            "plain",
            &format!("{h}/.ssh/id_rsa"),
            "read",
            "double_slash",
            &format!("{h}//.ssh//id_rsa"),
            "read",
            "dot_dotdot",
            &format!("{h}/./.ssh/../.ssh/id_rsa"),
            "read",
            "via_project",
            &format!("{h}/project/../.ssh/id_rsa"),
            "read",
            "trailing_slash",
            &format!("{h}/.ssh/id_rsa/"),
            "readdir",
            "dir_trailing_slash",
            &format!("{h}/.ssh/"),
            "readdir",
            "dir_dot",
            &format!("{h}/.ssh/."),
            "read",
            "upper_case",
            &format!("{h}/.SSH/id_rsa"),
            "read",
            "upper_case_file",
            &format!("{h}/.ssh/ID_RSA"),
            "read",
            "proc_root",
            &format!("/proc/self/root{h}/.ssh/id_rsa"),
            "opath_reopen",
            "opath_reopen",
            &format!("{h}/.ssh/id_rsa"),
        ],
    );
    out.expect(&[
        ("plain", "EACCES"),
        ("double_slash", "EACCES"),
        ("dot_dotdot", "EACCES"),
        ("via_project", "EACCES"),
        // The kernel's own answers (a file is not a directory; names are case-sensitive
        // here): nothing is opened either way.
        ("trailing_slash", "ENOTDIR"),
        ("dir_trailing_slash", "EACCES"),
        ("dir_dot", "EACCES"),
        ("upper_case", "ENOENT"),
        ("upper_case_file", "ENOENT"),
        ("proc_root", "EACCES"),
        ("opath_reopen", "EACCES"),
    ])
    .never_printed(&key);

    let control = probe_bare(
        &s.path,
        &["read", "double_slash", &format!("{h}//.ssh//id_rsa")],
    );
    assert_eq!(control.data("double_slash"), Some(key.as_str()));
}

#[test]
fn deny_symlink_to_denied_path() {
    let Some(b) = bins() else { return };
    let key = marker("symlink");
    let s = fake_home("deny-symlink", &key);
    let h = s.s("home");
    std::os::unix::fs::symlink("../.ssh/id_rsa", s.join("home/project/old-link")).unwrap();
    std::os::unix::fs::symlink("../.ssh", s.join("home/project/old-dir-link")).unwrap();
    let steps = [
        "symlink",
        "make_link",
        "../.ssh/id_rsa",
        &s.s("home/project/new-link"),
        "read",
        "new_link",
        &s.s("home/project/new-link"),
        "read",
        "old_link",
        &s.s("home/project/old-link"),
        "read",
        "old_dir_link",
        &s.s("home/project/old-dir-link/id_rsa"),
    ];
    // Static grant on the whole home, and a runtime grant on the project (the supervisor
    // canonicalises, sees the deny group, and refuses). Both let the link be made (an
    // approved directory covers symlink, as a write grant does); reading through it fails.
    for grants in [["--allow", h.as_str()], ["--approve", &s.s("home/project")]] {
        let out = run_with_home(b, &s, &grants, &steps);
        out.expect(&[("make_link", "ok"), ("new_link", "EACCES")]);
        out.expect(&[("old_link", "EACCES"), ("old_dir_link", "EACCES")])
            .never_printed(&key);
        let _ = std::fs::remove_file(s.join("home/project/new-link"));
    }

    let control = probe_bare(
        &s.path,
        &["read", "old_link", &s.s("home/project/old-link")],
    );
    assert_eq!(control.data("old_link"), Some(key.as_str()));
}

/// A hard link to the key that ALREADY exists in an approved directory (made outside the
/// sandbox — the sandboxed program cannot make one, see above) is the key under another name.
/// A runtime grant (`--approve`) refuses it: the supervisor `fstat`s the file it opened for
/// the grant and compares its identity with the files under the deny entries (an inode set
/// built at start-up). A plain read and an `O_TRUNC` write are refused, and the key is left
/// intact. (A *static* grant on the directory still reads it: Landlock is path-based, see
/// `fs.rs::fs_existing_hardlink_is_a_known_gap`.)
#[test]
fn deny_existing_hardlink_to_key_refused_at_runtime() {
    let Some(b) = bins() else { return };
    let key = marker("prehl");
    let s = fake_home("deny-prehl", &key);
    std::fs::hard_link(s.join("home/.ssh/id_rsa"), s.join("home/project/innocent")).unwrap();
    let steps = [
        "read",
        "read",
        &s.s("home/project/innocent"),
        "trunc",
        "trunc",
        &s.s("home/project/innocent"),
    ];
    let out = run_with_home(b, &s, &["--approve", &s.s("home/project")], &steps);
    out.expect(&[("read", "EACCES"), ("trunc", "EACCES")])
        .never_printed(&key);
    assert_eq!(
        std::fs::read_to_string(s.join("home/.ssh/id_rsa")).unwrap(),
        key,
        "the key was changed"
    );
    // The key under its own name stays denied even with the whole home approved.
    run_with_home(
        b,
        &s,
        &["--approve", &s.s("home")],
        &["read", "key", &s.s("home/.ssh/id_rsa")],
    )
    .expect(&[("key", "EACCES")])
    .never_printed(&key);
    // Control: unsandboxed, the link reads the key.
    let control = probe_bare(&s.path, &["read", "read", &s.s("home/project/innocent")]);
    assert_eq!(control.data("read"), Some(key.as_str()));
}

/// `~/.ssh` is a symlink to a directory elsewhere (a dotfile manager's layout) and that
/// directory is granted: the deny group follows the link (it is canonicalised) and still
/// wins, statically and at runtime.
#[test]
fn deny_symlinked_credentials_dir() {
    let Some(b) = bins() else { return };
    let key = marker("linked-ssh");
    let s = Scratch::new("deny-linked");
    s.mkdir("home");
    s.write("data/ssh/id_rsa", &key);
    std::os::unix::fs::symlink(s.join("data/ssh"), s.join("home/.ssh")).unwrap();
    let steps = [
        "read",
        "via_target",
        &s.s("data/ssh/id_rsa"),
        "read",
        "via_home",
        &s.s("home/.ssh/id_rsa"),
    ];
    for grants in [
        vec!["--allow", &s.s("data"), "--allow", &s.s("home")],
        vec!["--approve", &s.s("data"), "--approve", &s.s("home")],
    ] {
        run_with_home(b, &s, &grants, &steps)
            .expect(&[("via_target", "EACCES"), ("via_home", "EACCES")])
            .never_printed(&key);
    }
    let control = probe_bare(&s.path, &["read", "via_home", &s.s("home/.ssh/id_rsa")]);
    assert_eq!(control.data("via_home"), Some(key.as_str()));
}

/// Credentials that appear while the sandbox runs (`aws configure` in another terminal, a new
/// key) are denied too: a deny entry that did not exist at start still wins over `--allow
/// HOME`.
#[test]
fn deny_credentials_created_after_start() {
    let Some(b) = bins() else { return };
    let (aws, key) = (marker("aws-later"), marker("key-later"));
    let s = fake_home("deny-later", "old");
    let h = s.s("home");
    let script = format!(
        ": > {h}/project/ready; while [ ! -e {h}/project/go ]; do sleep 0.05; done; exec {} read aws {h}/.aws/credentials read key {h}/.ssh/id_ed25519 create plant {h}/.aws/config",
        b.probe().display()
    );
    let mut cmd = nono_cmd(&s.path);
    cmd.env("HOME", s.join("home")).args([
        "run",
        "--read",
        &b.dir_s(),
        "--allow",
        &h,
        "--",
        "sh",
        "-c",
        &script,
    ]);
    let mut child = cmd.spawn().unwrap();
    // The sandboxed shell says it runs; only then do the credentials appear.
    while !s.join("home/project/ready").exists() {
        if child.try_wait().unwrap().is_some() {
            panic!("{}", run_of(child.wait_with_output().unwrap()));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    s.write("home/.aws/credentials", &aws);
    s.write("home/.ssh/id_ed25519", &key);
    s.write("home/project/go", "");
    let out = Outcome::parse(run_of(child.wait_with_output().unwrap()));
    out.expect(&[("aws", "EACCES"), ("key", "EACCES"), ("plant", "EACCES")])
        .never_printed(&aws)
        .never_printed(&key);
    assert!(!s.join("home/.aws/config").exists());
}

/// `nono MODE --read BINS --allow HOME NONO_ARGS -- PROGRAM ARGS` with HOME set to the fake
/// home (XDG variables removed, so they default beneath it).
fn in_home<S: AsRef<std::ffi::OsStr>>(
    mode: crate::programs::Mode,
    b: &Bins,
    s: &Scratch,
    nono_args: &[&str],
    program: &std::path::Path,
    args: &[S],
) -> Outcome {
    let home = s.join("home");
    let mut cmd = nono_cmd(&s.path);
    for var in [
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
        "XDG_STATE_HOME",
        "XDG_CACHE_HOME",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("HOME", &home)
        .arg(mode.as_str())
        .args(["--read", &b.dir_s()])
        .args(["--allow", &home.display().to_string()]);
    if mode == crate::programs::Mode::Wrap {
        // wrap refuses a home-wide grant without it (its metadata and socket gaps); what
        // these tests check — reads and writes — Landlock enforces under wrap too.
        cmd.arg("--accept-wrap-gaps");
    }
    cmd.args(nono_args).arg("--").arg(program).args(args);
    Outcome::parse(output(&mut cmd))
}

/// The path templates of the `autorun` deny group.
fn autorun_templates() -> Vec<&'static str> {
    let group = nono_supervisor::deny_groups::group("autorun").expect("the autorun group");
    group.paths.iter().map(|p| p.path).collect()
}

/// Issue 16 finding 3: under `--allow ~`, every path of the `autorun` group (files that make
/// code run outside the sandbox later: git configuration, directories on PATH, autostart,
/// systemd user units, environment.d, ...) is read-only — reading works (tools need their
/// configuration), writing, creating and removing do not — in `run` and `wrap`. Each path is
/// made a directory holding one file, so one list of steps fits them all. The control shows
/// every step works without the sandbox.
#[test]
fn autorun_paths_are_read_only_under_a_home_grant() {
    let Some(b) = bins() else { return };
    let s = Scratch::new("deny-autorun");
    let home = s.mkdir("home");
    let vars = nono_supervisor::profile::Vars::for_home(&home);
    // The paths the finding named, then every path of the group.
    let named = [
        "~/.gitconfig",
        "~/.config/git/config",
        "~/.local/bin/tool",
        "~/.config/autostart/x.desktop",
        "~/.config/systemd/user/x.service",
        "~/.config/environment.d/x.conf",
        "~/.cargo/bin/cargo",
    ];
    let group = autorun_templates();
    let mut paths: Vec<std::path::PathBuf> = named
        .iter()
        .chain(&group)
        .filter_map(|p| vars.expand(p).ok())
        .collect();
    paths.sort();
    paths.dedup();
    assert!(paths.len() >= 20, "{paths:?}");
    // Also the finding's shell file, which the `shell` group denies outright.
    let aliases = home.join(".bash_aliases");
    let mut steps: Vec<String> = Vec::new();
    let mut expect: Vec<(String, &str)> = Vec::new();
    for (i, p) in paths.iter().enumerate() {
        std::fs::create_dir_all(p).unwrap();
        std::fs::write(p.join("x"), "original\n").unwrap();
        let (x, new) = (
            p.join("x").display().to_string(),
            p.join("new").display().to_string(),
        );
        for (op, name, arg, want) in [
            ("read", format!("read{i}"), &x, "ok"),
            ("write", format!("write{i}"), &x, "EACCES"),
            ("create", format!("create{i}"), &new, "EACCES"),
            ("unlink", format!("unlink{i}"), &x, "EACCES"),
        ] {
            steps.extend([op.to_owned(), name.clone(), arg.clone()]);
            expect.push((name, want));
        }
    }
    std::fs::write(&aliases, "original\n").unwrap();
    steps.extend([
        "write".into(),
        "aliases".into(),
        aliases.display().to_string(),
    ]);
    expect.push(("aliases".into(), "EACCES"));
    let pairs: Vec<(&str, &str)> = expect.iter().map(|(n, w)| (n.as_str(), *w)).collect();

    for mode in crate::programs::MODES {
        let out = in_home(mode, b, &s, &[], &b.probe(), &steps);
        out.expect(&pairs);
        for p in &paths {
            assert_eq!(
                std::fs::read_to_string(p.join("x")).unwrap(),
                "original\n",
                "{mode:?}: {} changed",
                p.display()
            );
            assert!(!p.join("new").exists(), "{mode:?}: {}", p.display());
        }
        assert_eq!(std::fs::read_to_string(&aliases).unwrap(), "original\n");
    }
    // The report names the group, its reason and flags that work, also for a new file.
    let bin = home.join(".local/bin");
    let new = bin.join("newtool").display().to_string();
    let out = in_home(
        crate::programs::Mode::Run,
        b,
        &s,
        &[],
        &b.probe(),
        &["create", "c", &new],
    );
    out.expect(&[("c", "EACCES")]);
    let fix = format!(
        "--write {} --bypass-protection {}",
        bin.display(),
        bin.display()
    );
    assert!(
        out.run.stderr.contains("read-only in deny group `autorun`")
            && out.run.stderr.contains("on PATH")
            && out.run.stderr.contains(&fix),
        "{}",
        out.run
    );
    let bin_s = bin.display().to_string();
    let out = in_home(
        crate::programs::Mode::Run,
        b,
        &s,
        &["--write", &bin_s, "--bypass-protection", &bin_s],
        &b.probe(),
        &["create", "c", &new],
    );
    out.expect(&[("c", "ok")]);
    std::fs::remove_file(&new).unwrap();
    // `nono why` names the group and the reason.
    let mut cmd = nono_cmd(&s.path);
    cmd.env("HOME", &home).env_remove("XDG_CONFIG_HOME").args([
        "why",
        "--allow",
        &home.display().to_string(),
        "--path",
        &home.join(".local/bin/x").display().to_string(),
        "--op",
        "write",
    ]);
    let why = output(&mut cmd);
    assert!(
        why.stdout.contains("read-only carve-out") && why.stdout.contains("PATH"),
        "{why}"
    );

    // Control: unsandboxed, every write works.
    let control = probe_bare(&s.path, &steps);
    for (name, _) in &expect {
        if name.starts_with("write") || name.starts_with("create") || name == "aliases" {
            assert_eq!(control.get(name), "ok", "control {name}");
        }
    }
}

/// Issue 16 finding 3, end to end with git: a `core.fsmonitor` planted in
/// `~/.config/git/config` (or `~/.gitconfig`) is run by the next `git status` outside the
/// sandbox. Inside `nono run/wrap --allow ~`, git still reads its configuration, and the
/// plant is refused. The control plants it without nono and shows git running it.
#[test]
fn git_config_fsmonitor_plant_is_refused() {
    let Some(b) = bins() else { return };
    let Some(git) = ["/usr/bin/git", "/usr/local/bin/git"]
        .into_iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
    else {
        assert!(
            std::env::var_os("NONO_REQUIRE_SANDBOX").is_none_or(|v| v != "1"),
            "NONO_REQUIRE_SANDBOX=1 but git is not installed"
        );
        return;
    };
    let s = Scratch::new("deny-git-fsmonitor");
    let home = s.mkdir("home");
    s.write(
        "home/.gitconfig",
        "[user]\n\tname = Real User\n\temail = u@example.invalid\n",
    );
    s.write("home/.config/git/config", "[core]\n\tautocrlf = false\n");
    let repo = s.mkdir("home/project");
    let marker = s.join("FSMONITOR-RAN");
    let git_outside = |args: &[&str]| {
        let out = std::process::Command::new(&git)
            .current_dir(&repo)
            .env("HOME", &home)
            .env_remove("XDG_CONFIG_HOME")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .args(args)
            .output()
            .unwrap();
        crate::programs::run_of(out)
    };
    assert_eq!(git_outside(&["init", "-q"]).code, Some(0));
    let plant = format!(
        "printf '[core]\\n\\tfsmonitor = \"touch {m}; false\"\\n' >> {h}/.config/git/config; \
         printf '[core]\\n\\tpager = \"touch {m}; cat\"\\n' >> {h}/.gitconfig; \
         {git} -C {r} config user.name",
        m = marker.display(),
        h = home.display(),
        r = repo.display(),
        git = git.display(),
    );
    let gitdir = git.parent().unwrap().display().to_string();
    for mode in crate::programs::MODES {
        let out = in_home(
            mode,
            b,
            &s,
            &["--read", &gitdir],
            std::path::Path::new("/bin/sh"),
            &["-c", &plant],
        );
        // git read its configuration inside the sandbox.
        assert!(
            out.run.stdout.contains("Real User"),
            "{mode:?}: {}",
            out.run
        );
        assert!(
            out.run.stderr.contains("ermission denied"),
            "{mode:?}: {}",
            out.run
        );
        let status = git_outside(&["status", "--short"]);
        assert_eq!(status.code, Some(0), "{status}");
        assert!(
            !marker.exists(),
            "{mode:?}: git outside ran the planted command"
        );
    }
    assert!(!std::fs::read_to_string(home.join(".config/git/config"))
        .unwrap()
        .contains("fsmonitor"));

    // Control: the same plant without nono, and git outside runs it.
    let out = std::process::Command::new("/bin/sh")
        .args(["-c", &plant])
        .env("HOME", &home)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", crate::programs::run_of(out));
    git_outside(&["status", "--short"]);
    assert!(
        marker.exists(),
        "control: the planted fsmonitor did not run"
    );
}

/// Issue 16 finding 4: `~/.ssh/config` and `~/.config/nono/profiles/work.json` as symlinks
/// into `~/dotfiles` (stow-style). Under `-p work --allow ~` the command must not rewrite
/// the link *targets* (an ssh ProxyCommand; a profile that switches the deny groups off and
/// grants `/` to the next `-p work` run), in `run` and `wrap`. Two runs: the second must
/// still be confined. nono's own group cannot be switched off or bypassed either. The
/// control shows the targets are writable without nono.
#[test]
fn symlink_targets_inside_deny_entries_are_denied() {
    let Some(b) = bins() else { return };
    let s = Scratch::new("deny-stow");
    let home = s.mkdir("home");
    let work = "{\"extends\": \"default\"}\n";
    s.write("home/dotfiles/ssh_config", "Host *\n");
    s.write("home/dotfiles/work.json", work);
    s.mkdir("home/.ssh");
    s.mkdir("home/.config/nono/profiles");
    std::os::unix::fs::symlink(home.join("dotfiles/ssh_config"), home.join(".ssh/config")).unwrap();
    std::os::unix::fs::symlink(
        home.join("dotfiles/work.json"),
        home.join(".config/nono/profiles/work.json"),
    )
    .unwrap();
    let (ssh_t, work_t) = (
        s.s("home/dotfiles/ssh_config"),
        s.s("home/dotfiles/work.json"),
    );
    let evil_profile = "{\"groups\": {\"credentials\": false, \"shell\": false}, \"filesystem\": {\"allow\": [\"/\"]}}";
    let probe = [
        "write",
        "ssh_target",
        &ssh_t,
        "read",
        "ssh_read",
        &ssh_t,
        "trunc",
        "work_trunc",
        &work_t,
        "write",
        "work_target",
        &work_t,
    ];
    for mode in crate::programs::MODES {
        for _run in 0..2 {
            let out = in_home(mode, b, &s, &["-p", "work"], &b.probe(), &probe);
            out.expect(&[
                ("ssh_target", "EACCES"),
                ("ssh_read", "EACCES"),
                ("work_trunc", "EACCES"),
                ("work_target", "EACCES"),
            ]);
            assert_eq!(std::fs::read_to_string(&ssh_t).unwrap(), "Host *\n");
            assert_eq!(std::fs::read_to_string(&work_t).unwrap(), work);
        }
    }
    // A profile cannot switch the `nono` group off, and --bypass-protection cannot lift it.
    let off = s.write("off.json", "{\"groups\": {\"nono\": false}}");
    let mut cmd = nono_cmd(&s.path);
    cmd.env("HOME", &home)
        .args(["run", "-p", &off.display().to_string(), "--", "true"]);
    let run = output(&mut cmd);
    assert_eq!(run.code, Some(125), "{run}");
    assert!(run.stderr.contains("groups.nono"), "{run}");
    let nono_dir = s.s("home/.config/nono");
    let mut cmd = nono_cmd(&s.path);
    cmd.env("HOME", &home).args([
        "run",
        "--allow",
        &nono_dir,
        "--bypass-protection",
        &nono_dir,
        "--",
        "true",
    ]);
    let run = output(&mut cmd);
    assert_eq!(run.code, Some(125), "{run}");
    assert!(run.stderr.contains("`nono`"), "{run}");

    // Control: without nono the targets are written (and the next `-p work` would load the
    // planted profile).
    let control = probe_bare(&s.path, &["write", "w", &work_t]);
    assert_eq!(control.get("w"), "ok");
    std::fs::write(&work_t, evil_profile).unwrap();
    assert!(
        std::fs::read_to_string(home.join(".config/nono/profiles/work.json"))
            .unwrap()
            .contains("\"/\"")
    );
}

/// Issue 11 point 5: `nono learn` runs in a broad domain (read and write on `/`) so that a
/// workload finishes in one run — the deny groups must still be carved out of it, for every
/// operation the learn run now allows elsewhere: read, create, mkdir, rename into and out
/// of, hard-link out of, chmod and remove. None of it may succeed or be learned. The control
/// (unsandboxed) does all of it.
#[test]
fn learn_broad_domain_keeps_deny_groups_out() {
    let Some(b) = bins() else { return };
    let key = marker("learn");
    let s = fake_home("deny-learn", &key);
    let (ssh, proj) = (s.s("home/.ssh"), s.s("home/project"));
    let steps: Vec<String> = [
        "read",
        "read_key",
        &format!("{ssh}/id_rsa"),
        "creat",
        "plant",
        &format!("{ssh}/authorized_keys"),
        "mkdir",
        "mk",
        &format!("{ssh}/d"),
        "rename",
        "in",
        &format!("{proj}/readme"),
        &format!("{ssh}/rc"),
        "rename",
        "out",
        &format!("{ssh}/id_rsa"),
        &format!("{proj}/stolen"),
        "link",
        "hard",
        &format!("{ssh}/id_rsa"),
        &format!("{proj}/hard"),
        "chmod",
        "chmod",
        &format!("{ssh}/id_rsa"),
        "644",
        "unlink",
        "rm",
        &format!("{ssh}/id_rsa"),
        "read",
        "ok",
        &format!("{proj}/readme"),
    ]
    .iter()
    .map(|x| (*x).to_owned())
    .collect();
    let profile = s.join("learned.json");
    let mut cmd = nono_cmd(&s.path);
    cmd.env("HOME", s.join("home"))
        .args(["learn", "-o", &profile.display().to_string(), "--"])
        .arg(b.probe())
        .args(&steps);
    let out = Outcome::parse(output(&mut cmd));
    for step in [
        "read_key", "plant", "mk", "in", "out", "hard", "chmod", "rm",
    ] {
        out.expect_one_of(step, &["EACCES", "EPERM", "EXDEV"]);
    }
    out.expect(&[("ok", "ok")]).never_printed(&key);
    assert_eq!(
        std::fs::read_to_string(s.join("home/.ssh/id_rsa")).unwrap(),
        key
    );
    for gone in [
        ".ssh/authorized_keys",
        ".ssh/d",
        ".ssh/rc",
        "project/stolen",
        "project/hard",
    ] {
        assert!(!s.join("home").join(gone).exists(), "{gone}\n{}", out.run);
    }
    let learned = std::fs::read_to_string(&profile).unwrap();
    let v: serde_json::Value = serde_json::from_str(&learned).unwrap();
    let fs = v["filesystem"].to_string();
    assert!(!fs.contains(".ssh"), "{learned}");
    // A refused call learns nothing, not even its other name (the project).
    assert!(
        !fs.contains("stolen") && v["filesystem"]["write"].is_null(),
        "{learned}"
    );

    let control = probe_bare(&s.path, &["mkdir", "mk", &format!("{ssh}/d")]);
    control.expect(&[("mk", "ok")]);
}

/// Listing a carve-out's parent (issue 11): under `run` the supervisor opens a directory on
/// the way from a grant to a carve-out read-only for the command, so `ls ~` works with
/// `--allow ~` while `~/.ssh` is denied. Through that descriptor the command must reach no
/// more than Landlock lets it: not the key (`openat(fd, ".ssh/id_rsa")`), and no new entry in
/// the spine directory (`mkdirat`/`openat(O_CREAT)`), which would let it plant `~/.ssh`-like
/// names or files the expanded grant does not cover. Control: unsandboxed all of it works.
#[test]
fn deny_spine_listing_fd_reaches_no_more_than_landlock() {
    let Some(b) = bins() else { return };
    let key = marker("spine");
    let s = fake_home("deny-spine", &key);
    let h = s.s("home");
    let out = run_with_home(
        b,
        &s,
        &["--allow", &h],
        &[
            "spine_at",
            "home",
            &h,
            ".ssh/id_rsa",
            "readdir",
            "ssh",
            &s.s("home/.ssh"),
        ],
    );
    out.expect(&[
        ("home.open", "ok"),
        ("home.read", "EACCES"),
        ("home.mkdir", "EACCES"),
        ("home.create", "EACCES"),
        ("ssh", "EACCES"),
    ])
    .never_printed(&key);
    assert!(!s.join("home/nono-planted-dir").exists());
    assert!(!s.join("home/nono-planted-file").exists());

    // Under wrap there is no supervisor: the spine cannot even be opened.
    let mut cmd = nono_cmd(&s.path);
    cmd.env("HOME", s.join("home"))
        .args([
            "wrap",
            "--accept-wrap-gaps",
            "--read",
            &b.dir_s(),
            "--allow",
            &h,
        ])
        .arg("--")
        .arg(b.probe())
        .args(["spine_at", "home", &h, ".ssh/id_rsa"]);
    Outcome::parse(output(&mut cmd)).expect(&[("home.open", "EACCES")]);

    // Control: unsandboxed, the key is read and entries are created through the fd.
    let control = probe_bare(&s.path, &["spine_at", "home", &h, ".ssh/id_rsa"]);
    control.expect(&[
        ("home.open", "ok"),
        ("home.read", "ok"),
        ("home.mkdir", "ok"),
        ("home.create", "ok"),
    ]);
    assert_eq!(control.data("home.read"), Some(key.as_str()));
}

/// Issue 14: the deny groups' symlink walk is reused from a cache in nono's state directory
/// (`~/.local/state/nono/link-walk.json`) while every directory it read is unchanged. A link
/// added inside a cached entry (`~/.rustup`, read-only through the `autorun` group) after the
/// cache was written still has its target protected, and a cache file that is not a private
/// file of the user's (made group-readable, or another user's) after its record was edited to
/// drop that link is rejected and rebuilt: the target stays read-only, in `run` and `wrap`.
/// The control shows every write works without the sandbox.
#[test]
fn the_link_walk_cache_follows_changes_and_rejects_a_tampered_file() {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    let Some(b) = bins() else { return };
    let s = Scratch::new("deny-walk-cache");
    let home = s.mkdir("home");
    // Enough directories for the walk to be recorded.
    for i in 0..12 {
        std::fs::create_dir_all(home.join(format!(".rustup/toolchains/t/d{i}"))).unwrap();
    }
    s.write("home/dotfiles/one", "1\n");
    s.write("home/dotfiles/two", "2\n");
    std::os::unix::fs::symlink(
        home.join("dotfiles/one"),
        home.join(".rustup/toolchains/t/d3/one"),
    )
    .unwrap();
    let cache = home.join(".local/state/nono/link-walk.json");
    let settle = || std::thread::sleep(std::time::Duration::from_millis(3200));
    let writes = |names: &[&str]| -> Vec<String> {
        names
            .iter()
            .flat_map(|n| {
                [
                    "write".to_owned(),
                    format!("w_{n}"),
                    s.s(&format!("home/dotfiles/{n}")),
                ]
            })
            .collect()
    };
    let check = |names: &[&str]| {
        let steps = writes(names);
        let want: Vec<(String, &str)> =
            names.iter().map(|n| (format!("w_{n}"), "EACCES")).collect();
        let want: Vec<(&str, &str)> = want.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        for mode in crate::programs::MODES {
            in_home(mode, b, &s, &[], &b.probe(), &steps).expect(&want);
        }
    };

    // Settled, walked once: recorded.
    settle();
    check(&["one"]);
    let text = std::fs::read_to_string(&cache).expect("the walk was recorded");
    assert!(text.contains("d3/one"), "{text}");

    // A link added since: the record no longer matches, the entry is walked again.
    std::os::unix::fs::symlink(
        home.join("dotfiles/two"),
        home.join(".rustup/toolchains/t/d5/two"),
    )
    .unwrap();
    check(&["one", "two"]);

    // Recorded with the new link, then edited to drop it and left readable by others, or
    // handed to another user: rejected and rebuilt each time.
    settle();
    check(&["one", "two"]);
    let text = std::fs::read_to_string(&cache).unwrap();
    assert!(text.contains("d5/two"), "{text}");
    let two = serde_json::to_string(&home.join(".rustup/toolchains/t/d5/two")).unwrap();
    let edited = text
        .replace(&format!("{two},"), "")
        .replace(&format!(",{two}"), "");
    assert!(!edited.contains("d5/two"), "{edited}");
    for tamper in ["mode", "owner"] {
        std::fs::write(&cache, &edited).unwrap();
        match tamper {
            "mode" => {
                std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o644)).unwrap()
            }
            _ => std::os::unix::fs::chown(&cache, Some(65534), Some(65534)).unwrap(),
        }
        check(&["one", "two"]);
        let meta = std::fs::symlink_metadata(&cache).unwrap();
        assert_eq!(
            (meta.mode() & 0o777, meta.uid()),
            (0o600, nono_supervisor::planted::user_id()),
            "{tamper}: the cache was not rewritten"
        );
        assert!(
            std::fs::read_to_string(&cache).unwrap().contains("d5/two"),
            "{tamper}: the rebuilt cache lacks the link"
        );
    }

    // Control: unsandboxed, both targets can be written.
    let control = probe_bare(&s.path, &writes(&["one", "two"]));
    control.expect(&[("w_one", "ok"), ("w_two", "ok")]);
}

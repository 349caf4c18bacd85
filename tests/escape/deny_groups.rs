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
    // canonicalises, sees the deny group, and refuses).
    for grants in [["--allow", h.as_str()], ["--approve", &s.s("home/project")]] {
        let out = run_with_home(b, &s, &grants, &steps);
        out.expect(&[(
            "new_link",
            if grants[0] == "--allow" {
                "EACCES"
            } else {
                "ENOENT"
            },
        )]);
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

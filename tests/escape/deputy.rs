//! The supervisor as a confused deputy: with runtime grants on (`--approve DIR`), the
//! supervisor opens files for the child. The child tries to make it open something else:
//! symlink swaps while a request is pending (the file, or a directory on the way), a path
//! buffer flipped by another thread after the trap, `..` through a symlink, and magic links
//! (/proc/self/root, /proc/self/cwd, /proc/self/fd/N) in the requested path.

use crate::harness::Scratch;
use crate::programs::{
    bins, in_nono, marker, probe_bare, probe_in, Mode, Outcome, TestUser, MODES,
};

/// Opens per race; each is one trapped open answered by the supervisor.
const ITER: &str = "1500";

/// `appr/` (approved at runtime, and writable so the child can swap names in it) with a
/// decoy `f`, a symlink `g` to the secret, a directory `real/` holding a decoy `secret.txt`
/// and a symlink `d` to the secret's directory; `out/secret.txt` outside everything.
fn layout(name: &str, secret: &str) -> Scratch {
    let s = Scratch::new(name);
    s.write("out/secret.txt", secret);
    s.write("appr/f", "decoy");
    s.write("appr/ok.txt", "approved");
    s.write("appr/real/secret.txt", "decoy");
    std::os::unix::fs::symlink(s.join("out/secret.txt"), s.join("appr/g")).unwrap();
    std::os::unix::fs::symlink(s.join("out"), s.join("appr/d")).unwrap();
    s
}

/// No open returned the secret; failed opens were refused (EACCES) or, for a buffer caught
/// half-way through a flip, named nothing (ENOENT).
#[track_caller]
fn no_leak(out: &Outcome, secret: &str) {
    assert_eq!(
        out.count("leaks"),
        0,
        "the secret leaked through the supervisor\n{}",
        out.run
    );
    out.never_printed(secret);
    for (k, _) in out.results.iter().filter(|(k, _)| k.starts_with("err.")) {
        assert!(k == "err.EACCES" || k == "err.ENOENT", "{}", out.run);
    }
}

#[test]
fn deputy_symlink_swap_while_request_pending() {
    let Some(b) = bins() else { return };
    let secret = marker("swap");
    let s = layout("deputy-swap", &secret);
    let appr = s.s("appr");
    let grants = ["--write", appr.as_str(), "--approve", appr.as_str()];

    // Static first: the supervisor refuses the symlink itself (its canonical path is outside
    // what was approved) and opens the approved file.
    let out = probe_in(
        Mode::Run,
        &s.path,
        &grants,
        &[
            "read",
            "via_link",
            &s.s("appr/g"),
            "read",
            "via_dir_link",
            &s.s("appr/d/secret.txt"),
            "read",
            "approved",
            &s.s("appr/ok.txt"),
        ],
    );
    out.expect(&[
        ("via_link", "EACCES"),
        ("via_dir_link", "EACCES"),
        ("approved", "ok"),
    ])
    .never_printed(&secret);
    assert_eq!(out.data("approved"), Some("approved"));

    // Control (before the races move the names): without nono the symlink leads straight to the secret.
    let control = probe_bare(&s.path, &["read", "via_link", &s.s("appr/g")]);
    control.expect(&[("via_link", "ok")]);
    assert_eq!(control.data("via_link"), Some(secret.as_str()));

    // Racing: another thread swaps the approved file with the symlink (RENAME_EXCHANGE), so
    // the name changes between the supervisor's decision and its open.
    let file_race = in_nono(
        Mode::Run,
        &s.path,
        &[],
        &grants,
        &b.race(),
        &["exchange", &s.s("appr/f"), &s.s("appr/g"), ITER, &secret],
    );
    no_leak(&file_race, &secret);
    // The same with a directory on the way: appr/real <-> appr/d (a symlink to out/).
    let dir_race = in_nono(
        Mode::Run,
        &s.path,
        &[],
        &grants,
        &b.race(),
        &[
            "exchange-in",
            &s.s("appr/real"),
            &s.s("appr/d"),
            "secret.txt",
            ITER,
            &secret,
        ],
    );
    no_leak(&dir_race, &secret);
    assert!(s.join("out/secret.txt").is_file());
    assert_eq!(
        std::fs::read_to_string(s.join("out/secret.txt")).unwrap(),
        secret
    );
}

#[test]
fn deputy_path_buffer_flipped_after_trap() {
    let Some(b) = bins() else { return };
    let secret = marker("flip");
    let s = layout("deputy-flip", &secret);
    let args = [
        "flip",
        &s.s("appr/ok.txt"),
        &s.s("out/secret.txt"),
        ITER,
        &secret,
    ];
    // Runtime grant: the supervisor decides on, and opens, the bytes it read once.
    let out = in_nono(
        Mode::Run,
        &s.path,
        &[],
        &["--approve", &s.s("appr")],
        &b.race(),
        &args,
    );
    no_leak(&out, &secret);
    // Static grant: the fast path answers CONTINUE, the kernel reads the buffer again, and
    // Landlock judges whatever it finds.
    let out = in_nono(
        Mode::Run,
        &s.path,
        &[],
        &["--read", &s.s("appr")],
        &b.race(),
        &args,
    );
    no_leak(&out, &secret);

    let control = probe_bare(&s.path, &["read", "secret", &s.s("out/secret.txt")]);
    assert_eq!(control.data("secret"), Some(secret.as_str()));
}

#[test]
fn deputy_dotdot_and_magic_links_in_requests() {
    let Some(_) = bins() else { return };
    let secret = marker("magic");
    let s = layout("deputy-magic", &secret);
    // appr/lnk -> out/deep: "appr/lnk/../secret.txt" is out/secret.txt to the kernel, but
    // appr/secret.txt to a lexical reading of the path.
    s.mkdir("out/deep");
    std::os::unix::fs::symlink(s.join("out/deep"), s.join("appr/lnk")).unwrap();
    s.write("appr/secret.txt", "decoy");
    // A dangling symlink in the approved directory, pointing at a file to be created
    // outside: the supervisor's O_CREAT open must not follow it.
    std::os::unix::fs::symlink(s.join("out/created.txt"), s.join("appr/dangling")).unwrap();
    let abs = s.s("out/secret.txt");
    let out = probe_in(
        Mode::Run,
        &s.join("out"),
        &["--approve", &s.s("appr")],
        &[
            "read",
            "approved",
            &s.s("appr/ok.txt"),
            "read",
            "dotdot",
            &format!("{}/../out/secret.txt", s.s("appr")),
            "read",
            "dotdot_via_symlink",
            &s.s("appr/lnk/../secret.txt"),
            "read",
            "self_root",
            &format!("/proc/self/root{abs}"),
            "read",
            "self_cwd",
            "/proc/self/cwd/secret.txt",
            "ppid_read",
            "supervisor_cwd",
            "cwd/secret.txt",
            "ppid_read",
            "supervisor_root",
            &format!("root{abs}"),
            "opath_reopen",
            "self_fd",
            &abs,
            "create",
            "create_via_symlink",
            &s.s("appr/lnk/../new.txt"),
            "creat",
            "creat_dangling",
            &s.s("appr/dangling"),
            "rwcreat",
            "rwcreat_dangling",
            &s.s("appr/dangling"),
        ],
    );
    out.expect(&[
        ("approved", "ok"),
        ("dotdot", "EACCES"),
        ("self_root", "EACCES"),
        ("self_cwd", "EACCES"),
        ("supervisor_cwd", "EACCES"),
        ("supervisor_root", "EACCES"),
        ("self_fd.opath", "ok"),
        ("self_fd", "EACCES"),
        ("creat_dangling", "EACCES"),
        ("rwcreat_dangling", "EACCES"),
    ])
    .never_printed(&secret);
    assert!(!s.join("out/created.txt").exists());
    // The `..` after a symlink is resolved lexically by the supervisor: it may hand out the
    // approved decoy, never the file outside.
    out.expect_one_of("dotdot_via_symlink", &["ok", "EACCES"]);
    if out.get("dotdot_via_symlink") == "ok" {
        assert_eq!(out.data("dotdot_via_symlink"), Some("decoy"));
    }
    assert!(!s.join("out/deep/new.txt").exists() && !s.join("out/new.txt").exists());

    // Control: unsandboxed, the kernel's reading of the same paths reaches the secret.
    let control = probe_bare(
        &s.join("out"),
        &[
            "read",
            "dotdot_via_symlink",
            &s.s("appr/lnk/../secret.txt"),
            "read",
            "self_root",
            &format!("/proc/self/root{abs}"),
        ],
    );
    assert_eq!(control.data("dotdot_via_symlink"), Some(secret.as_str()));
    assert_eq!(control.data("self_root"), Some(secret.as_str()));
    probe_bare(&s.path, &["creat", "creat_dangling", &s.s("appr/dangling")])
        .expect(&[("creat_dangling", "ok")]);
    assert!(s.join("out/created.txt").exists());
}

/// `path`'s owner and mode set as given.
fn own(path: &std::path::Path, uid: u32, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::os::unix::fs::chown(path, Some(uid), Some(uid)).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mode_of(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// The supervisor never lends its authority: a sandboxed root (no capabilities) makes every
/// class of brokered operation target an object only root's capabilities reach — a runtime
/// grant of another user's 0600 file (`CAP_DAC_OVERRIDE`), a file created in another user's
/// 0755 directory, a netlink request by `sendto` with an address and a netlink `connect`
/// (`CAP_NET_ADMIN`), a `chmod` of its own file behind another user's 0700 directory
/// (`CAP_DAC_READ_SEARCH`), `/proc/self/pagemap` page frame numbers and `/proc/self/stack`
/// (`CAP_SYS_ADMIN` of the opener). Under `run` the supervisor performs these for the child
/// (before: with its own credentials, and each of them worked); under `wrap` the kernel
/// answers the child itself. Control: unsandboxed root reaches every one.
#[test]
fn deputy_brokered_operations_run_with_the_childs_credentials() {
    let Some(_) = bins() else { return };
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipping: needs root (objects owned by another user, capabilities)");
        return;
    }
    let secret = marker("creds");
    let s = Scratch::new("deputy-creds");
    let theirs = s.write("appr/theirs", &secret);
    own(&theirs, 1234, 0o600);
    let their_dir = s.mkdir("appr/their-dir");
    own(&their_dir, 1234, 0o755);
    let mine = s.write("rw/locked/mine", "x");
    own(&mine, 0, 0o644);
    own(&s.join("rw/locked"), 1234, 0o700);
    let new = s.join("appr/their-dir/new");
    let common = [
        "nl_setlink",
        "nl_send",
        "nl_connect",
        "nl_connect",
        "chmod",
        "chmod_locked",
        &s.s("rw/locked/mine"),
        "600",
        "pagemap",
        "pagemap",
        "kstack",
        "kstack",
    ];
    let refused = [
        ("nl_send", "EPERM"),
        ("nl_connect", "EPERM"),
        ("chmod_locked", "EACCES"),
        ("pagemap", "nopfn"),
        ("kstack", "EACCES"),
    ];
    let (rw, appr) = (s.s("rw"), s.s("appr"));
    let (theirs_s, new_s) = (s.s("appr/theirs"), s.s("appr/their-dir/new"));
    let approved_steps = [
        "read",
        "read_theirs",
        theirs_s.as_str(),
        "create",
        "create_in_theirs",
        new_s.as_str(),
    ];
    for mode in MODES {
        let (grants, approved): (Vec<&str>, &[&str]) = match mode {
            Mode::Run => (vec!["--write", &rw, "--approve", &appr], &approved_steps),
            Mode::Wrap => (vec!["--write", &rw], &[]),
        };
        let args: Vec<&str> = approved.iter().chain(common.iter()).copied().collect();
        let out = probe_in(mode, &s.path, &grants, &args);
        let mut want = refused.to_vec();
        if mode == Mode::Run {
            want.extend([("read_theirs", "EACCES"), ("create_in_theirs", "EACCES")]);
        }
        out.expect(&want).never_printed(&secret);
        assert!(
            !new.exists(),
            "{mode:?}: a file was created in another user's directory\n{}",
            out.run
        );
        assert_eq!(mode_of(&mine), 0o644, "{mode:?}\n{}", out.run);
    }
    // Control: root with its capabilities reaches every one (the netlink request changes
    // nothing; the chmod and the file are undone).
    let control = probe_bare(&s.path, &[&approved_steps[..], &common[..]].concat());
    control.expect(&[
        ("read_theirs", "ok"),
        ("create_in_theirs", "ok"),
        ("nl_send", "ok"),
        ("nl_connect", "ok"),
        ("chmod_locked", "ok"),
        ("pagemap", "pfn"),
        ("kstack", "ok"),
    ]);
    assert_eq!(control.data("read_theirs"), Some(secret.as_str()));
    assert!(new.exists());
    assert_eq!(mode_of(&mine), 0o600);
}

/// A sandboxed root changes the mode of a device node it may write (`/dev/full`, granted by
/// the default profile) or of the root of a profile's directory grant (`/tmp`): refused under
/// `run` (each `chmod` asks for the mode the object already has, so nothing changes even where
/// it succeeds). A directory the user granted by flag (the project) stays the command's to
/// change. Under `wrap` there is no broker: the kernel lets root own them — a documented gap.
/// Control: unsandboxed root.
#[test]
fn deputy_metadata_of_device_nodes_and_grant_roots_refused() {
    let Some(_) = bins() else { return };
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipping: needs root (owns /dev/full and /tmp)");
        return;
    }
    let s = Scratch::new("deputy-roots");
    let project = s.mkdir("project");
    let same = |p: &std::path::Path| format!("{:o}", mode_of(p));
    let (full, tmp) = (
        std::path::Path::new("/dev/full"),
        std::path::Path::new("/tmp"),
    );
    let args = [
        "chmod",
        "dev_full",
        "/dev/full",
        &same(full),
        "chmod",
        "tmp",
        "/tmp",
        &same(tmp),
        "chmod",
        "project",
        &s.s("project"),
        &same(&project),
        "create",
        "inside",
        &s.s("project/f"),
        "chmod",
        "inside_file",
        &s.s("project/f"),
        "600",
    ];
    let out = probe_in(Mode::Run, &s.path, &["--allow", &s.s("project")], &args);
    out.expect(&[
        ("dev_full", "EACCES"),
        ("tmp", "EACCES"),
        ("project", "ok"),
        ("inside", "ok"),
        ("inside_file", "ok"),
    ]);
    let _ = std::fs::remove_file(s.join("project/f"));
    let control = probe_bare(&s.path, &args);
    control.expect(&[("dev_full", "ok"), ("tmp", "ok"), ("project", "ok")]);
}

/// `open(path, 3)`: access mode 3 (neither read nor write) asks Landlock for no right, and
/// the metadata broker used to count the fd as opened for writing: `fchmod` of a file
/// outside every grant. Refused by the seccomp filter under `run` and `wrap`, as root and as
/// an unprivileged user (whose own files — `~/.ssh/id_rsa` — were the target). Control: the
/// same steps unsandboxed.
#[test]
fn deputy_open_with_access_mode_three_refused() {
    let Some(_) = bins() else { return };
    let s = Scratch::new("deputy-mode3");
    let key = s.write("home/.ssh/id_rsa", "KEY");
    own(&key, rustix::process::geteuid().as_raw(), 0o600);
    s.mkdir("home/work");
    let args = ["mode3_chmod", "m3", &s.s("home/.ssh/id_rsa"), "606"];
    for mode in MODES {
        let out = probe_in(mode, &s.path, &["--allow", &s.s("home/work")], &args);
        out.expect(&[("m3.open", "EACCES"), ("m3", "EACCES")]);
        assert_eq!(mode_of(&key), 0o600, "{mode:?}\n{}", out.run);
    }
    // An unprivileged user, its own key, nono run by that user.
    if let Some(user) = TestUser::create("mode3") {
        own(&s.join("home"), user.uid, 0o755);
        own(&s.join("home/.ssh"), user.uid, 0o700);
        own(&key, user.uid, 0o600);
        own(&s.join("home/work"), user.uid, 0o755);
        for mode in MODES {
            let out = user.probe_in(
                mode,
                &s.join("home/work"),
                &s.join("home"),
                &["--allow", &s.s("home/work")],
                &args,
            );
            out.expect(&[("m3.open", "EACCES"), ("m3", "EACCES")]);
            assert_eq!(
                mode_of(&key),
                0o600,
                "{mode:?} as {}\n{}",
                user.name,
                out.run
            );
        }
    } else {
        eprintln!("no test user could be created: the unprivileged case is not run");
    }
    let control = probe_bare(&s.path, &args);
    control.expect(&[("m3.open", "ok"), ("m3", "ok")]);
    assert_eq!(mode_of(&key), 0o606);
}

/// The inotify broker (issue 10 finding 10) as a deputy: the supervisor adds watches for the
/// child inside the read grants only. A second thread swaps the granted directory's name with
/// a symlink to an outside directory (`RENAME_EXCHANGE`), or flips the path buffer between
/// the two, while the main thread adds watches: the supervisor decides on the bytes it read
/// once and watches the inode it opened without following symlinks, so no watch ever lands
/// on the outside directory (`/proc/self/fdinfo` of the inotify fd lists the watched inodes).
/// The control (unsandboxed) watches the outside directory.
#[test]
fn deputy_inotify_watch_races_never_watch_outside() {
    let Some(b) = bins() else { return };
    let s = Scratch::new("deputy-inotify");
    s.mkdir("work/dir");
    s.mkdir("out");
    std::os::unix::fs::symlink(s.join("out"), s.join("work/link")).unwrap();
    let (dir, link, out) = (s.s("work/dir"), s.s("work/link"), s.s("out"));
    let grants = ["--allow", &s.s("work")];
    let check = |o: &Outcome| {
        // How many watches land inside depends on the scheduling (a swap or a flip between
        // the supervisor's resolution and its open refuses the call); none may land outside.
        assert_eq!(o.count("leaks"), 0, "a watch landed outside\n{}", o.run);
        for (k, _) in o.results.iter().filter(|(k, _)| k.starts_with("err.")) {
            assert!(k == "err.EACCES" || k == "err.ENOENT", "{}", o.run);
        }
    };
    let exchange = in_nono(
        Mode::Run,
        &s.path,
        &[],
        &grants,
        &b.race(),
        &["watch-exchange", &dir, &link, ITER, &out],
    );
    check(&exchange);
    let flip = in_nono(
        Mode::Run,
        &s.path,
        &[],
        &grants,
        &b.race(),
        &["watch-flip", &dir, &out, ITER, &out],
    );
    check(&flip);

    // Control: unsandboxed, watches of the outside directory are counted as leaks (both
    // buffers name it, so the count does not depend on winning the race).
    let mut cmd = std::process::Command::new(b.race());
    cmd.args(["watch-flip", &out, &out, "200", &out]);
    let bare = Outcome::parse(crate::programs::run_of(cmd.output().unwrap()));
    assert!(bare.count("leaks") > 0, "{}", bare.run);
}

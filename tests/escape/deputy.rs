//! The supervisor as a confused deputy: with runtime grants on (`--approve DIR`), the
//! supervisor opens files for the child. The child tries to make it open something else:
//! symlink swaps while a request is pending (the file, or a directory on the way), a path
//! buffer flipped by another thread after the trap, `..` through a symlink, and magic links
//! (/proc/self/root, /proc/self/cwd, /proc/self/fd/N) in the requested path.

use crate::harness::Scratch;
use crate::programs::{bins, in_nono, marker, probe_bare, probe_in, Mode, Outcome};

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

    // Control: unsandboxed, the flip watches the outside directory.
    let mut cmd = std::process::Command::new(b.race());
    cmd.args(["watch-flip", &dir, &out, "200", &out]);
    let bare = Outcome::parse(crate::programs::run_of(cmd.output().unwrap()));
    assert!(bare.count("leaks") > 0, "{}", bare.run);
}

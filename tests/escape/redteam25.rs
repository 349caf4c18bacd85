//! Red team 25: the supervisor's remaining resolutions of a name with its own credentials —
//! the Unix-socket broker's `connect`, the inotify broker, the metadata broker's lexical `..`
//! and the learner. See the section "Red team 25 (session 15)" of docs/THREAT_MODEL.md.

use std::io::{ErrorKind, Read};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::Command;

use crate::harness::Scratch;
use crate::programs::{bins, in_nono, probe_bare, probe_in, run_of, Mode};

fn own(path: &Path, uid: u32, mode: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid)).unwrap();
    if !path.is_symlink() {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

/// A listener of the test's (outside any sandbox), non-blocking.
fn listen(path: &Path) -> UnixListener {
    let l = UnixListener::bind(path).unwrap();
    l.set_nonblocking(true).unwrap();
    l
}

/// What each connection waiting on `listener` sent (the probe sends `ATTACK`).
fn accepted(listener: &UnixListener) -> Vec<String> {
    let mut got = Vec::new();
    loop {
        match listener.accept() {
            Err(e) if e.kind() == ErrorKind::WouldBlock => return got,
            Ok((mut conn, _)) => {
                conn.set_nonblocking(false).unwrap();
                conn.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                    .unwrap();
                let mut s = String::new();
                let _ = conn.read_to_string(&mut s);
                got.push(s);
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// Findings 1 and 2 (root only: a directory of another user). The socket and inotify brokers
/// canonicalised the name with the supervisor's credentials — a root supervisor's
/// `CAP_DAC_READ_SEARCH` — then opened the result and acted on it: the capability-less
/// sandboxed root was connected to a socket inside uid 1234's 0700 `w/locked` (granted by
/// itself with `--allow-file`, so the user's grant, but the kernel refuses the command the
/// lookup), to a socket through `w/locked/link` and `w/locked/../pub/ok.sock` (lexical `..`
/// skipped `locked` altogether), and watched `w/pub` through the same two spellings; the
/// metadata broker changed `w/pub/x` for `chmod w/locked/../pub/x`. The kernel answers
/// `EACCES` for each (search permission on `locked`). Now each broker resolves the name as
/// the trapped thread (`realpath_as_the_kernel` under `ChildCreds::act`). Pinned (held
/// before): a socket the command may not write (uid 1234's, 0700) is refused by the kernel's
/// own check of the connect made as the child; the same sockets and directory spelled
/// without `locked` work. Control: unsandboxed root does all of it.
#[test]
fn redteam25_the_brokers_resolve_a_name_with_the_commands_search_permission() {
    let Some(_) = bins() else { return };
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipping: needs root (a directory owned by another user)");
        return;
    }
    let layout = |s: &Scratch| {
        s.mkdir("w/locked");
        s.mkdir("w/pub");
        s.write("w/pub/x", "");
        std::fs::set_permissions(s.join("w/pub/x"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        let ls = [
            listen(&s.join("w/locked/sock")),
            listen(&s.join("w/pub/ok.sock")),
            listen(&s.join("w/pub/priv.sock")),
        ];
        own(&s.join("w/locked/sock"), 1234, 0o777);
        own(&s.join("w/pub/priv.sock"), 1234, 0o700);
        std::os::unix::fs::symlink(s.join("w/pub/ok.sock"), s.join("w/locked/link")).unwrap();
        std::os::unix::fs::symlink(s.join("w/pub"), s.join("w/locked/dir")).unwrap();
        own(&s.join("w/locked/link"), 1234, 0o777);
        own(&s.join("w/locked/dir"), 1234, 0o777);
        own(&s.join("w/locked"), 1234, 0o700);
        ls
    };
    let steps = |s: &Scratch| -> Vec<String> {
        let w = s.s("w");
        [
            "unixpath",
            "sock_locked",
            &format!("{w}/locked/sock"),
            "unixpath",
            "sock_link",
            &format!("{w}/locked/link"),
            "unixpath",
            "sock_dotdot",
            &format!("{w}/locked/../pub/ok.sock"),
            "unixpath",
            "sock_priv",
            &format!("{w}/pub/priv.sock"),
            "unixpath",
            "sock_ok",
            &format!("{w}/pub/ok.sock"),
            "inotify",
            "watch_link",
            &format!("{w}/locked/dir"),
            "0",
            "inotify",
            "watch_dotdot",
            &format!("{w}/locked/../pub"),
            "0",
            "inotify",
            "watch_ok",
            &format!("{w}/pub"),
            "0",
            "chmod",
            "chmod_dotdot",
            &format!("{w}/locked/../pub/x"),
            "777",
        ]
        .iter()
        .map(|a| (*a).to_owned())
        .collect()
    };
    let names = [
        "sock_locked",
        "sock_link",
        "sock_dotdot",
        "sock_priv",
        "sock_ok",
        "watch_link",
        "watch_dotdot",
        "watch_ok",
        "chmod_dotdot",
    ];

    let bare = Scratch::new("rt25-search-bare");
    let _ls = layout(&bare);
    let out = probe_bare(&bare.path, &steps(&bare));
    for name in names {
        out.expect(&[(name, "ok")]);
    }

    let s = Scratch::new("rt25-search");
    let [locked, ok, private] = layout(&s);
    let out = probe_in(
        Mode::Run,
        &s.path,
        &[
            "--read",
            &s.s("w"),
            "--allow-file",
            &s.s("w/locked/sock"),
            "--allow-file",
            &s.s("w/pub/ok.sock"),
            "--allow-file",
            &s.s("w/pub/priv.sock"),
            "--allow-file",
            &s.s("w/pub/x"),
        ],
        &steps(&s),
    );
    out.expect(&[
        ("sock_locked", "EACCES"),
        ("sock_link", "EACCES"),
        ("sock_dotdot", "EACCES"),
        ("sock_priv", "EACCES"),
        ("sock_ok", "ok"),
        ("watch_link", "EACCES"),
        ("watch_dotdot", "EACCES"),
        ("watch_ok", "ok"),
        ("chmod_dotdot", "EACCES"),
    ]);
    assert!(accepted(&locked).is_empty(), "{}", out.run);
    assert!(accepted(&private).is_empty(), "{}", out.run);
    assert_eq!(accepted(&ok), vec!["ATTACK".to_owned()], "{}", out.run);
    let mode = std::fs::metadata(s.join("w/pub/x"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o644, "{}", out.run);
}

/// Finding 3 (the socket broker; pre-existing). A pathname socket was canonicalised by the
/// supervisor from its *lexical* form and with its own lookup: `connect(w/s/../sock)` with
/// `s → w/deep/sub` connected `w/sock`, where the kernel names `w/deep/sock`; and through
/// `w/l → /proc/$PPID/cwd/sock` (`$PPID`: the supervisor) it followed its own cwd, which the
/// kernel refuses the command (Landlock's ptrace scoping) — the object chosen by another
/// process's state, and an oracle for where it is. Now the name is resolved as spelled, as
/// the kernel's lookup goes, without magic links. Control: unsandboxed the `..` reaches
/// `w/deep/sock` and the magic link (another shell's cwd) `w/sock`.
#[test]
fn redteam25_a_socket_name_is_resolved_as_the_kernel_does() {
    let Some(b) = bins() else { return };
    let layout = |s: &Scratch| {
        s.mkdir("w/deep/sub");
        std::os::unix::fs::symlink(s.join("w/deep/sub"), s.join("w/s")).unwrap();
        (listen(&s.join("w/sock")), listen(&s.join("w/deep/sock")))
    };
    let script = format!(
        "ln -s /proc/$PPID/cwd/sock l && exec {} unixpath magic ./l unixpath dotdot ./s/../sock",
        b.probe().display()
    );

    let bare = Scratch::new("rt25-socket-bare");
    let (top, deep) = layout(&bare);
    let out = Command::new("sh")
        .args(["-c", "sh -c \"$0\" && true", &script])
        .current_dir(bare.join("w"))
        .output()
        .unwrap();
    let out = crate::programs::Outcome::parse(run_of(out));
    out.expect(&[("magic", "ok"), ("dotdot", "ok")]);
    assert_eq!(accepted(&top), vec!["ATTACK".to_owned()], "{}", out.run);
    assert_eq!(accepted(&deep), vec!["ATTACK".to_owned()], "{}", out.run);

    let s = Scratch::new("rt25-socket");
    let (top, deep) = layout(&s);
    let out = in_nono(
        Mode::Run,
        &s.join("w"),
        &[],
        &[
            "--allow",
            &s.s("w"),
            "--allow-file",
            &s.s("w/sock"),
            "--allow-file",
            &s.s("w/deep/sock"),
        ],
        Path::new("/bin/sh"),
        &["-c", &script],
    );
    out.expect(&[("dotdot", "ok")]);
    assert_ne!(out.get("magic"), "ok", "{}", out.run);
    assert!(accepted(&top).is_empty(), "{}", out.run);
    assert_eq!(accepted(&deep), vec!["ATTACK".to_owned()], "{}", out.run);
}

/// Findings 3 and 4 (the inotify and metadata brokers; pre-existing). `inotify_add_watch`
/// of `proj/s/..` with `s → ~/.ssh/sub` watched `proj` (lexical), where the kernel names
/// `~/.ssh` — a deny entry, refused and reported now; a watch through `proj/l →
/// /proc/$PPID/cwd` was placed on the supervisor's cwd. `chmod proj/s/../x` changed `proj/x`
/// (red team 24's note), where the kernel names `~/.ssh/x`: now refused and reported on
/// `~/.ssh/x`, and neither file changes. Control: unsandboxed each names what the kernel
/// says.
#[test]
fn redteam25_inotify_and_metadata_names_are_resolved_as_the_kernel_does() {
    let Some(b) = bins() else { return };
    let layout = |s: &Scratch| {
        s.mkdir("home/.ssh/sub");
        s.write("home/.ssh/x", "");
        s.write("home/proj/x", "");
        for f in ["home/.ssh/x", "home/proj/x"] {
            std::fs::set_permissions(s.join(f), std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        std::os::unix::fs::symlink(s.join("home/.ssh/sub"), s.join("home/proj/s")).unwrap();
    };
    let mode =
        |s: &Scratch, f: &str| std::fs::metadata(s.join(f)).unwrap().permissions().mode() & 0o777;
    let script = format!(
        "ln -s /proc/$PPID/cwd l && exec {} inotify magic ./l 0 inotify dotdot ./s/.. 0 \
         chmod chmod ./s/../x 644 inotify ok . 0",
        b.probe().display()
    );

    let bare = Scratch::new("rt25-names-bare");
    layout(&bare);
    let out = Command::new("sh")
        .args(["-c", "sh -c \"$0\" && true", &script])
        .current_dir(bare.join("home/proj"))
        .output()
        .unwrap();
    let out = crate::programs::Outcome::parse(run_of(out));
    out.expect(&[
        ("magic", "ok"),
        ("dotdot", "ok"),
        ("chmod", "ok"),
        ("ok", "ok"),
    ]);
    assert_eq!(mode(&bare, "home/.ssh/x"), 0o644);
    assert_eq!(mode(&bare, "home/proj/x"), 0o600);

    let s = Scratch::new("rt25-names");
    layout(&s);
    let home = s.s("home");
    let out = in_nono(
        Mode::Run,
        &s.join("home/proj"),
        &[("HOME", &home)],
        &["--allow", &s.s("home/proj")],
        Path::new("/bin/sh"),
        &["-c", &script],
    );
    out.expect(&[("dotdot", "EACCES"), ("chmod", "EACCES"), ("ok", "ok")]);
    assert_ne!(out.get("magic"), "ok", "{}", out.run);
    assert_eq!(mode(&s, "home/.ssh/x"), 0o600, "{}", out.run);
    assert_eq!(mode(&s, "home/proj/x"), 0o600, "{}", out.run);
    // Refused where the kernel's lookup goes, and said so: the deny entry's.
    for what in ["write of", "read of"] {
        let target = if what == "write of" {
            "home/.ssh/x"
        } else {
            "home/.ssh"
        };
        let denied = format!("denied {what} {} (", s.s(target));
        assert!(
            out.run
                .stderr
                .lines()
                .any(|l| l.contains(&denied) && l.contains("deny group")),
            "{denied}: {}",
            out.run
        );
    }
    assert!(
        !out.run.stderr.contains(&format!("{} ", s.s("home/proj/x"))),
        "{}",
        out.run
    );
}

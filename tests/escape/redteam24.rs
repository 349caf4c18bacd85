//! Red team 24: 23c4c61 (a write on the fast path canonicalised first), e51b11f
//! (`checked_canonical` starts the identity walk) and ce46c43 (a `..` after a symlink
//! resolved as the kernel does). See the section "Red team 24 (session 14)" of
//! docs/THREAT_MODEL.md.

use std::process::Command;

use crate::harness::{nono_cmd, output, sandbox_available, Run, Scratch};

/// Opens four names in the working directory with `sysopen` (perl: the shell has no
/// `O_NOFOLLOW`), writes `pwned` on success, prints `KEY=ok|EACCES|ELOOP|EEXIST|...`.
const OPENS: &str = r#"
use Fcntl;
for my $a (["s", "./s/settings.json", O_WRONLY|O_APPEND|O_NOFOLLOW],
           ["o", "./o/notes.txt", O_WRONLY|O_APPEND|O_NOFOLLOW],
           ["n", "./n", O_WRONLY|O_APPEND|O_NOFOLLOW],
           ["c", "./c", O_WRONLY|O_CREAT|O_EXCL]) {
  my ($k, $p, $f) = @$a;
  if (sysopen(my $fh, $p, $f, 0644)) { syswrite($fh, "pwned\n"); close $fh; print "$k=ok\n" }
  else { print "$k=", ($!{EACCES} ? "EACCES" : $!{ELOOP} ? "ELOOP" : $!{EEXIST} ? "EEXIST" : "$!"), "\n" }
}
"#;

/// A home with Claude Code's settings, an unprotected `other/notes.txt`, and in `proj`:
/// `s → ~/.claude`, `o → ~/other`, `n → ~/other/notes.txt`, `c → ~/.claude/settings.json`;
/// the perl program at `t.pl` (outside the home).
fn layout(s: &Scratch) {
    s.write("home/.claude/settings.json", "{}\n");
    s.write("home/other/notes.txt", "");
    s.mkdir("home/proj");
    s.write("t.pl", OPENS);
    for (link, to) in [
        ("s", "home/.claude"),
        ("o", "home/other"),
        ("n", "home/other/notes.txt"),
        ("c", "home/.claude/settings.json"),
    ] {
        std::os::unix::fs::symlink(s.join(to), s.join(&format!("home/proj/{link}"))).unwrap();
    }
}

fn opens_in_nono(s: &Scratch, args: &[&str]) -> Run {
    let mut cmd = nono_cmd(&s.join("home/proj"));
    cmd.env("HOME", s.join("home"))
        .env_remove("XDG_CONFIG_HOME")
        .args([
            "run",
            "--allow",
            &s.s("home/proj"),
            "--read-file",
            &s.s("t.pl"),
        ])
        .args(args)
        .args(["--", "perl", &s.s("t.pl")]);
    output(&mut cmd)
}

/// Finding 1 (low; introduced by 23c4c61, fixed). The fast path's write check skipped
/// `O_NOFOLLOW` altogether, though the flag only leaves the *last* name unfollowed: a write
/// of `proj/o/notes.txt` (`o → ~/other`) with `O_NOFOLLOW` was refused by Landlock alone —
/// not reported, and not granted under `--approve ~` where the same write spelled directly
/// is (red team 22's finding 2 again, one flag away). And the opposite for
/// `O_CREAT | O_EXCL` of `proj/c` (`c → ~/.claude/settings.json`): the kernel answers
/// `EEXIST` (the last name is never followed), the supervisor followed it and answered
/// `EACCES` for the deny group under `--approve ~` — `mkstemp`-style code saw a refusal, and
/// the report named a write that was never attempted. Now the directory is resolved and the
/// last name left as the kernel leaves it. Pinned: `O_NOFOLLOW` on a final symlink stays the
/// kernel's `ELOOP`, and `~/.claude/settings.json` is still refused and reported.
#[test]
fn redteam24_a_nofollow_or_excl_write_is_judged_where_its_directory_leads() {
    if !sandbox_available() {
        return;
    }
    let bare = Scratch::new("rt24-nofollow-bare");
    layout(&bare);
    let out = Command::new("perl")
        .arg(bare.join("t.pl"))
        .current_dir(bare.join("home/proj"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&out.stdout).into_owned();
    for line in ["s=ok", "o=ok", "n=ELOOP", "c=EEXIST"] {
        assert!(out.lines().any(|l| l == line), "unsandboxed: {line}: {out}");
    }

    let s = Scratch::new("rt24-nofollow");
    layout(&s);
    let protected = format!(
        "denied write of {}: read-only in deny group `autorun`",
        s.s("home/.claude/settings.json")
    );
    let notes = s.s("home/other/notes.txt");
    // Only the grant of `proj`: both writes through a linked directory are refused and
    // reported on where they lead; the final symlink and the exclusive create keep the
    // kernel's answers.
    let r = opens_in_nono(&s, &[]);
    for line in ["s=EACCES", "o=EACCES", "n=ELOOP", "c=EEXIST"] {
        assert!(r.stdout.lines().any(|l| l == line), "{line}: {r}");
    }
    assert!(r.stderr.contains(&protected), "{r}");
    assert!(
        r.stderr
            .lines()
            .any(|l| l.contains("denied write of") && l.contains(&notes)),
        "{r}"
    );
    // `--approve ~`: the unprotected write is granted as when spelled directly; the
    // protected one is still refused; the exclusive create is still `EEXIST`.
    let r = opens_in_nono(&s, &["--approve", &s.s("home")]);
    for line in ["s=EACCES", "o=ok", "n=ELOOP", "c=EEXIST"] {
        assert!(r.stdout.lines().any(|l| l == line), "{line}: {r}");
    }
    assert!(r.stderr.contains(&protected), "{r}");
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "pwned\n");
    assert_eq!(
        std::fs::read_to_string(s.join("home/.claude/settings.json")).unwrap(),
        "{}\n"
    );
}

/// Finding 2 (medium; the open through a symlink in the grants introduced by 23c4c61, the
/// `..` forms by ce46c43, one open form older; fixed). The supervisor resolved a name the
/// program gave through a magic link with its *own* rights: `/proc/PID/cwd` of the
/// supervisor (or of any process it may trace) is refused to the command by Landlock's
/// ptrace scoping (`EACCES`), but `mkdir /proc/$PPID/cwd/../d/new`,
/// `echo > /proc/$PPID/cwd/../../../…/appr/d/f`, and a write through `proj/l →
/// /proc/$PPID/cwd/../d` were resolved by the supervisor to its own cwd's parent and, under
/// `--approve`, performed there — the object chosen by another process's state, and an
/// oracle for where that process is. Now a name is resolved for the program only without
/// magic links and never into `/proc` (`paths::realpath_without_magic_links`): such a call
/// is the kernel's (`EACCES`). Control: unsandboxed (another shell's cwd) every call lands;
/// under nono the command itself cannot read `/proc/$PPID/cwd`.
#[test]
fn redteam24_a_magic_link_is_never_resolved_with_the_supervisors_rights() {
    if !sandbox_available() {
        return;
    }
    let script = |depth: usize, appr: &str| {
        format!(
            "ls /proc/$PPID/cwd/ >/dev/null 2>&1 && echo can-trace; \
             mkdir /proc/$PPID/cwd/../d/new && echo made; \
             echo x > /proc/$PPID/cwd/{up}{appr}/d/f && echo wrote-f; \
             ln -s /proc/$PPID/cwd/../d l && echo y > l/f2 && echo wrote-f2; echo done",
            up = "../".repeat(depth),
            appr = appr.trim_start_matches('/'),
        )
    };
    let depth = |s: &Scratch| s.join("appr/w").components().count() - 1;

    // Control: unsandboxed, through another shell's cwd (the outer `sh`, in `appr/w`).
    let bare = Scratch::new("rt24-magic-bare");
    bare.mkdir("appr/w");
    bare.mkdir("appr/d");
    let inner = script(depth(&bare), &bare.s("appr"));
    let out = Command::new("sh")
        .args(["-c", "sh -c \"$0\" && true", &inner])
        .current_dir(bare.join("appr/w"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&out.stdout).into_owned();
    for line in ["can-trace", "made", "wrote-f", "wrote-f2", "done"] {
        assert!(out.lines().any(|l| l == line), "unsandboxed: {line}: {out}");
    }
    for name in ["appr/d/new", "appr/d/f", "appr/d/f2"] {
        assert!(bare.join(name).exists(), "unsandboxed: {name}");
    }

    let s = Scratch::new("rt24-magic");
    s.mkdir("appr/w");
    s.mkdir("appr/d");
    let mut cmd = nono_cmd(&s.join("appr/w"));
    cmd.args([
        "run",
        "--allow-cwd",
        "--approve",
        &s.s("appr"),
        "--",
        "sh",
        "-c",
        &script(depth(&s), &s.s("appr")),
    ]);
    let r = output(&mut cmd);
    assert!(r.stdout.contains("done"), "{r}");
    for line in ["can-trace", "made", "wrote-f", "wrote-f2"] {
        assert!(!r.stdout.lines().any(|l| l == line), "{line}: {r}");
    }
    for name in ["appr/d/new", "appr/d/f", "appr/d/f2"] {
        assert!(!s.join(name).exists(), "under nono: {name}: {r}");
    }
}

fn own(path: &std::path::Path, uid: u32, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::os::unix::fs::lchown(path, Some(uid), Some(uid)).unwrap();
    if !path.is_symlink() {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

/// Finding 3 (medium; introduced by ce46c43, fixed). The supervisor resolved a `..` after a
/// symlink with its own credentials: a root supervisor searched another user's 0700
/// directory for the capability-less sandboxed root, so `mkdir appr/locked/link/../new` and
/// `echo > appr/locked/link/../f` (`locked` uid 1234, 0700; `link → appr/pub/sub`) were
/// performed in `appr/pub` under `--approve appr` — where the kernel refuses the command
/// (`EACCES` searching `locked`) — and told it where a link inside that directory leads.
/// The same without `..` (older, since runtime grants): `cat appr/locked/link/secret` and
/// `echo > appr/locked/link/g` outside the static grants were canonicalised by the
/// supervisor through `locked` and opened as the child at `appr/pub/sub/…`, a path that
/// never names `locked`. Now the directory is resolved, and a trapped open's (or an SDK
/// request's) symlinks followed, with the thread's credentials; an unresolved `..` is the
/// kernel's and not reported under its lexical name (`--write appr/locked` changes nothing).
/// `mkdir`/`symlink` of `appr/locked/link/new2` (no `..`; found after this pass, session
/// 14): the path operations' parent was canonicalised by the supervisor the same way, and the
/// call performed as the child in `appr/pub/sub`; now also resolved as the child.
/// Control: unsandboxed root does all of it; the same spelling through a directory the
/// command may search is still performed.
#[test]
fn redteam24_a_dotdot_is_resolved_with_the_commands_search_permission() {
    if !sandbox_available() {
        return;
    }
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipping: needs root (a directory owned by another user)");
        return;
    }
    let layout = |s: &Scratch| {
        s.mkdir("appr/pub/sub");
        s.mkdir("appr/locked");
        std::os::unix::fs::symlink(s.join("appr/pub/sub"), s.join("appr/locked/link")).unwrap();
        own(&s.join("appr/locked/link"), 1234, 0o777);
        own(&s.join("appr/locked"), 1234, 0o700);
    };
    let script = |s: &Scratch| {
        let a = s.s("appr");
        format!(
            "mkdir {a}/locked/link/../new && echo made; echo x > {a}/locked/link/../f && \
             echo wrote; cat {a}/locked/link/secret; echo y > {a}/locked/link/g && \
             echo wrote-g; mkdir {a}/pub/sub/../ok && echo made-ok; \
             mkdir {a}/locked/link/new2 && echo made2; ln -s x {a}/locked/link/sl && \
             echo linked; echo done"
        )
    };
    let bare = Scratch::new("rt24-search-bare");
    layout(&bare);
    bare.write("appr/pub/sub/secret", "SECRET-rt24\n");
    let out = Command::new("sh")
        .args(["-c", &script(&bare)])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&out.stdout).into_owned();
    for line in [
        "made",
        "wrote",
        "SECRET-rt24",
        "wrote-g",
        "made-ok",
        "made2",
        "linked",
    ] {
        assert!(out.lines().any(|l| l == line), "unsandboxed: {line}: {out}");
    }

    let s = Scratch::new("rt24-search");
    layout(&s);
    s.write("appr/pub/sub/secret", "SECRET-rt24\n");
    let mut cmd = nono_cmd(&s.path);
    cmd.args([
        "run",
        "--approve",
        &s.s("appr"),
        "--",
        "sh",
        "-c",
        &script(&s),
    ]);
    let r = output(&mut cmd);
    assert!(r.stdout.lines().any(|l| l == "made-ok"), "{r}");
    for line in ["made", "wrote", "SECRET-rt24", "wrote-g", "made2", "linked"] {
        assert!(!r.stdout.lines().any(|l| l == line), "{line}: {r}");
    }
    assert!(!s.join("appr/pub/new").exists(), "{r}");
    assert!(!s.join("appr/pub/f").exists(), "{r}");
    assert!(!s.join("appr/pub/sub/g").exists(), "{r}");
    // Path operations without `..` (pre-existing, found after red team 24 in session 14):
    // the parent was canonicalised with the supervisor's search permission, and the call
    // performed as the child at `appr/pub/sub/…`. Now resolved as the child; refused by
    // the kernel's permission check, so not reported with a flag that changes nothing.
    assert!(!s.join("appr/pub/sub/new2").exists(), "{r}");
    assert!(s.join("appr/pub/sub/sl").symlink_metadata().is_err(), "{r}");
    assert!(!r.stderr.contains("pub/sub/new2"), "{r}");
    assert!(!r.stderr.contains("pub/sub/sl"), "{r}");
    assert!(
        !r.stderr.contains("--write ") || !r.stderr.contains("locked"),
        "{r}"
    );
}

/// Finding 2, the older form (pre-existing since runtime grants; fixed with it): a symlink the
/// command made under `--approve APPR` (a path operation the supervisor performs) to
/// `/proc/$PPID/cwd/../d`, then a read of `APPR/l/secret`: outside the static grants, the
/// trapped open was canonicalised by the supervisor following the magic link (its own cwd)
/// and opened `APPR/d/secret` for the command, which the kernel refuses it (Landlock's ptrace
/// scoping). Now the slow path's canonicalisation, the path operations', the metadata
/// broker's and the SDK's do not follow a magic link either: the kernel answers. A `chmod`
/// of the same name (the metadata broker) was refused before too: pinned. Control: the file
/// is there, readable and changeable unsandboxed through another shell's cwd.
#[test]
fn redteam24_a_read_through_an_approved_symlink_to_a_magic_link_is_the_kernels() {
    if !sandbox_available() {
        return;
    }
    let script = |appr: &str| {
        format!(
            "ln -s /proc/$PPID/cwd/../d {appr}/l && echo linked; \
             cat {appr}/l/secret; chmod 600 {appr}/l/secret && echo chmodded; echo done"
        )
    };
    let bare = Scratch::new("rt24-magic-read-bare");
    bare.mkdir("appr/w");
    bare.write("appr/d/secret", "SECRET-rt24\n");
    let out = Command::new("sh")
        .args(["-c", "sh -c \"$0\" && true", &script(&bare.s("appr"))])
        .current_dir(bare.join("appr/w"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.contains("SECRET-rt24"), "unsandboxed: {out}");
    assert!(out.contains("chmodded"), "unsandboxed: {out}");

    let s = Scratch::new("rt24-magic-read");
    s.mkdir("appr/w");
    s.write("appr/d/secret", "SECRET-rt24\n");
    use std::os::unix::fs::PermissionsExt;
    let mode = || {
        std::fs::metadata(s.join("appr/d/secret"))
            .unwrap()
            .permissions()
            .mode()
    };
    let before = mode();
    let mut cmd = nono_cmd(&s.join("appr/w"));
    cmd.args([
        "run",
        "--allow-cwd",
        "--approve",
        &s.s("appr"),
        "--",
        "sh",
        "-c",
        &script(&s.s("appr")),
    ]);
    let r = output(&mut cmd);
    assert!(
        r.stdout.contains("linked") && r.stdout.contains("done"),
        "{r}"
    );
    assert!(!r.stdout.contains("SECRET-rt24"), "{r}");
    assert!(!r.stdout.contains("chmodded"), "{r}");
    assert_eq!(mode(), before, "{r}");
}

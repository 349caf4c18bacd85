//! Fourth red-team pass (docs/THREAT_MODEL.md, "Fourth red-team pass: today's merged
//! changes"): the link-walk cache, refused sockets trapped under `run`, `listen` performed by
//! the supervisor, metadata changes under `--approve`, typed origins and `--bypass-protection`,
//! the SDK's relative paths. One test per finding, each driving the built `nono` binary with an
//! unsandboxed control.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};

use crate::harness::{nono_cmd, output, Scratch};
use crate::programs::{bins, marker, probe_bare, Outcome};

/// Finding 1: `chmod` (and `utime`, xattrs) under `--approve DIR` of a hard link that already
/// exists in DIR to a file under a deny entry (`~/.ssh/id_rsa`, made outside the sandbox).
/// Approved opens check the opened object against the deny entries by inode and refuse it
/// (`deny_groups::deny_existing_hardlink_to_key_refused_at_runtime`); the metadata broker's
/// approve path (`metadata::approved`, new today) decided on the path alone, so the
/// supervisor changed the key's mode — `chmod 644` left it readable by every local user.
#[test]
fn redteam4_metadata_change_under_approve_through_a_hard_link_to_a_denied_file() {
    let Some(b) = bins() else { return };
    let key = marker("rt4-hardlink-chmod");
    let s = Scratch::new("rt4-approve-hardlink");
    let home = s.mkdir("home");
    s.write("home/.ssh/id_rsa", &key);
    s.write("home/project/plain", "plain\n");
    let id_rsa = home.join(".ssh/id_rsa");
    std::fs::set_permissions(&id_rsa, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::hard_link(&id_rsa, home.join("project/innocent")).unwrap();
    // A read-only (`autorun`) file reached the same way: its mode must not change either.
    s.write("home/.local/bin/tool", "#!/bin/sh\n");
    let tool = home.join(".local/bin/tool");
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::hard_link(&tool, home.join("project/tool-link")).unwrap();
    let cwd = s.mkdir("cwd");
    let mode = |p: &std::path::Path| std::fs::symlink_metadata(p).unwrap().mode() & 0o7777;

    let mut cmd = nono_cmd(&cwd);
    for var in [
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
        "XDG_STATE_HOME",
        "XDG_CACHE_HOME",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("HOME", &home)
        .args([
            "run",
            "--read",
            &b.dir_s(),
            "--approve",
            &s.s("home/project"),
        ])
        .arg("--")
        .arg(b.probe())
        .args([
            "chmod",
            "key",
            &s.s("home/project/innocent"),
            "644",
            "chmod",
            "tool",
            &s.s("home/project/tool-link"),
            "777",
            "chmod",
            "plain",
            &s.s("home/project/plain"),
            "600",
        ]);
    let out = Outcome::parse(output(&mut cmd));
    // The approved directory still covers metadata changes of its own files.
    out.expect(&[("key", "EACCES"), ("tool", "EACCES"), ("plain", "ok")])
        .never_printed(&key);
    assert_eq!(mode(&id_rsa), 0o600, "the key's mode was changed: {out:?}");
    assert_eq!(mode(&tool), 0o755, "the read-only file's mode was changed");
    assert_eq!(mode(&home.join("project/plain")), 0o600);

    // Control: unsandboxed, the same chmod through the link changes the key's mode.
    probe_bare(
        &cwd,
        &["chmod", "key", &s.s("home/project/innocent"), "644"],
    )
    .expect(&[("key", "ok")]);
    assert_eq!(mode(&id_rsa), 0o644, "the control did not reach the key");
}

/// Finding 2: the metadata broker resolved the path (`canonicalize`) with the supervisor's own
/// credentials before deciding anything. Under a root supervisor, a sandboxed root (which has
/// no capabilities: no `CAP_DAC_READ_SEARCH`) could tell which names exist in a directory it
/// cannot search — `chmod` of a missing name answered `ENOENT`, of an existing one `EACCES` —
/// where the kernel answers `EACCES` for both. Now the path is resolved as the child.
#[test]
fn redteam4_metadata_broker_resolves_paths_with_the_childs_search_permission() {
    let Some(b) = bins() else { return };
    let s = Scratch::new("rt4-metadata-oracle");
    let secret = s.mkdir("private");
    s.write("private/exists", "x\n");
    // Another user's directory that only they can search.
    std::os::unix::fs::chown(&secret, Some(65534), Some(65534)).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o700)).unwrap();
    let cwd = s.mkdir("cwd");
    let steps = [
        "readdir",
        "list",
        &s.s("private"),
        "chmod",
        "exists",
        &s.s("private/exists"),
        "600",
        "chmod",
        "missing",
        &s.s("private/missing"),
        "600",
    ];
    let mut cmd = nono_cmd(&cwd);
    cmd.args(["run", "--read", &b.dir_s(), "--"])
        .arg(b.probe())
        .args(steps);
    let out = Outcome::parse(output(&mut cmd));
    // The sandbox cannot search the directory; both names must look the same.
    out.expect(&[
        ("list", "EACCES"),
        ("exists", "EACCES"),
        ("missing", "EACCES"),
    ]);
    // Control: with the supervisor's credentials (root, every capability) the two differ.
    probe_bare(&cwd, &steps).expect(&[("list", "ok"), ("exists", "ok"), ("missing", "ENOENT")]);
}

/// Finding 3: `--bypass-protection PATH` needs an explicit command-line grant at or beneath
/// PATH; `--allow-cwd` does not count (typed origins), but `--private-tmp`'s grant — a fresh
/// directory under `$TMPDIR`, which may lie in the home — did. With `TMPDIR=~/tmp` and a
/// profile that reads the home, `--private-tmp --bypass-protection ~` lifted every deny group
/// under the home without the user naming any grant, and the profile's grant read the key.
#[test]
fn redteam4_private_tmp_is_not_an_explicit_grant_for_a_bypass() {
    let Some(b) = bins() else { return };
    let key = marker("rt4-private-tmp-bypass");
    let s = Scratch::new("rt4-private-tmp-bypass");
    let home = s.mkdir("home");
    s.write("home/.ssh/id_rsa", &key);
    s.mkdir("home/tmp");
    let cwd = s.mkdir("cwd");
    let profile = s.write(
        "profile.json",
        &serde_json::json!({
            "name": "reads-home",
            "extends": "default",
            "filesystem": {"read": [home.display().to_string()]}
        })
        .to_string(),
    );
    let attempt = |mode: crate::programs::Mode, flags: &[&str]| {
        let mut cmd = nono_cmd(&cwd);
        for var in [
            "XDG_CONFIG_HOME",
            "XDG_DATA_HOME",
            "XDG_STATE_HOME",
            "XDG_CACHE_HOME",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("HOME", &home)
            .env("TMPDIR", home.join("tmp"))
            .arg(mode.as_str())
            .args(["--read", &b.dir_s(), "-p", &profile.display().to_string()])
            .args(flags)
            .arg("--")
            .arg(b.probe())
            .args(["read", "key", &s.s("home/.ssh/id_rsa")]);
        Outcome::parse(output(&mut cmd))
    };
    // `run` only: `wrap` refuses `--private-tmp` (nothing is left to remove the directory).
    let mode = crate::programs::Mode::Run;
    let out = attempt(
        mode,
        &["--private-tmp", "--bypass-protection", &s.s("home")],
    );
    out.never_printed(&key);
    assert!(
        out.run.stderr.contains("needs an explicit grant"),
        "{out:?}"
    );
    // Control: with a grant the user names, the same bypass reads the key.
    let named = s.s("home/.ssh");
    let out = attempt(
        mode,
        &[
            "--private-tmp",
            "--read",
            &named,
            "--bypass-protection",
            &named,
        ],
    );
    assert_eq!(out.data("key"), Some(key.as_str()), "{out:?}");
}

/// A small program that makes `N` refused `socket()` calls: all alike (`same`) or each with
/// another protocol number (`distinct`, so each is a distinct refusal).
const SOCKET_FLOOD_C: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long n = atol(argv[1]);
    int distinct = argc > 2 && !strcmp(argv[2], "distinct");
    long got = 0;
    for (long i = 0; i < n; i++) {
        int s = socket(AF_INET, SOCK_DGRAM, distinct ? (int)i : 0);
        if (s >= 0) { got++; close(s); }
    }
    printf("flood=done got=%ld\n", got);
    return 0;
}
"#;

/// Finding 4: refused sockets are now trapped (to be reported), and every refusal was kept
/// by the supervisor until the end of the run. A command that loops on a refused `socket()`
/// (~10 µs a round trip) grew the supervisor — which the sandbox's limits do not bound, root
/// when nono runs as root — by ~170 bytes a call: 2 million calls, 350 MB; a few threads for
/// a few minutes, the machine's memory. Now a repeat of a kept denial is not kept again (the
/// report shows it once anyway) and at most `MAX_DENIALS` distinct ones are kept; the rest
/// are counted, and the report says how many.
#[test]
fn redteam4_a_flood_of_refused_sockets_does_not_grow_the_supervisor() {
    let Some(b) = bins() else { return };
    let time = std::path::Path::new("/usr/bin/time");
    let s = Scratch::new("rt4-socket-flood");
    let src = s.write("flood.c", SOCKET_FLOOD_C);
    let prog = s.join("flood");
    let built = std::process::Command::new("gcc")
        .args(["-O1", "-o"])
        .arg(&prog)
        .arg(&src)
        .status()
        .expect("gcc");
    assert!(built.success());
    let flood = |n: &str, kind: &str| {
        let mut cmd = if time.exists() {
            let mut c = std::process::Command::new(time);
            c.arg("-f")
                .arg("maxrss_kb=%M")
                .arg(crate::harness::nono_bin());
            c.current_dir(&s.path)
                .env_remove("RUST_LOG")
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            c
        } else {
            nono_cmd(&s.path)
        };
        cmd.args([
            "run",
            "--read",
            &b.dir_s(),
            "--read",
            &s.s(""),
            "--block-net",
            "--",
        ])
        .arg(&prog)
        .args([n, kind]);
        output(&mut cmd)
    };
    // Distinct refusals beyond the bound: counted, and the report says so.
    let out = flood("20000", "distinct");
    assert!(out.stdout.contains("flood=done got=0"), "{out:?}");
    assert!(
        out.stderr.contains("more refusals are not listed"),
        "{}",
        out.stderr
    );
    // The same refusal a million times: the supervisor stays small (it held ~180 MB more).
    if time.exists() {
        let small = flood("1000", "same");
        let large = flood("1000000", "same");
        assert!(large.stdout.contains("flood=done got=0"), "{large:?}");
        let rss = |r: &crate::harness::Run| -> u64 {
            r.stderr
                .lines()
                .find_map(|l| l.strip_prefix("maxrss_kb="))
                .and_then(|v| v.trim().parse().ok())
                .expect("maxrss from /usr/bin/time")
        };
        let (small, large) = (rss(&small), rss(&large));
        assert!(
            large < small + 40 * 1024,
            "the supervisor grew from {small} kB to {large} kB over a million refused sockets"
        );
    }
    // Control: unsandboxed, the sockets are made.
    let bare = std::process::Command::new(&prog)
        .args(["10", "same"])
        .output()
        .expect("run the flood bare");
    assert!(String::from_utf8_lossy(&bare.stdout).contains("got=10"));
}

/// Finding 5: a metadata change the child's own credentials do not allow (`chown` to
/// another owner without `CAP_CHOWN`, as a sandboxed root) is refused with the kernel's
/// `EPERM` and was recorded as a path denial, so the report advised `--write DIR` — for a
/// directory the run already grants with `--allow DIR` (or approves). Following it changed
/// nothing: no flag gives the sandbox `CAP_CHOWN`. Now such a refusal has a denial kind of its
/// own (`Refused::Credentials`) and the report says no flag grants it, and why.
#[test]
fn redteam4_a_chown_refused_by_the_childs_credentials_is_not_advised_a_grant() {
    let Some(b) = bins() else { return };
    let s = Scratch::new("rt4-chown-advice");
    let dir = s.mkdir("d");
    s.write("d/f", "x\n");
    let mut cmd = nono_cmd(&s.path);
    cmd.args(["run", "--read", &b.dir_s(), "--allow", &s.s("d"), "--"])
        .args(["/bin/sh", "-c"])
        .arg(format!("chown 65534 {}/f", dir.display()));
    let out = output(&mut cmd);
    assert!(out.stderr.contains("Operation not permitted"), "{out:?}");
    assert!(
        !out.stderr
            .contains(&format!("add --write {}", dir.display())),
        "advice for a directory already granted: {}",
        out.stderr
    );
    // Control: the same chown outside the sandbox (root, CAP_CHOWN) works.
    let bare = std::process::Command::new("chown")
        .arg("65534")
        .arg(dir.join("f"))
        .status()
        .unwrap();
    assert!(bare.success());
}

/// Finding 6 (report): a runtime grant refused because the object is a hard link to a
/// deny-group file (finding 1's `chmod`, and approved opens before it) was recorded as a plain
/// path denial, so the report advised `--allow DIR` / `--read DIR` / `--write DIR` for the
/// approved directory. Followed, that static grant reaches the key through the link (Landlock
/// is path-based: `fs.rs::fs_existing_hardlink_is_a_known_gap`) — the advice undid the deny
/// group. Now such a refusal has a denial kind of its own (`Refused::HardLinkToProtected`)
/// and the line says no flag grants it.
#[test]
fn redteam4_a_hard_link_refusal_is_not_advised_a_grant_that_reaches_the_key() {
    let Some(b) = bins() else { return };
    let key = marker("rt4-hardlink-advice");
    let s = Scratch::new("rt4-hardlink-advice");
    let home = s.mkdir("home");
    s.write("home/.ssh/id_rsa", &key);
    s.mkdir("home/project");
    std::fs::hard_link(home.join(".ssh/id_rsa"), home.join("project/innocent")).unwrap();
    let cwd = s.mkdir("cwd");
    let mut cmd = nono_cmd(&cwd);
    cmd.env("HOME", &home)
        .env_remove("XDG_STATE_HOME")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_DATA_HOME")
        .args([
            "run",
            "--read",
            &b.dir_s(),
            "--approve",
            &s.s("home/project"),
        ])
        .arg("--")
        .arg(b.probe())
        .args(["read", "key", &s.s("home/project/innocent")]);
    let out = Outcome::parse(output(&mut cmd));
    out.expect(&[("key", "EACCES")]).never_printed(&key);
    assert!(
        out.run
            .stderr
            .contains("no flag grants it: it is another name (a hard link)"),
        "{}",
        out.run.stderr
    );
    let project = s.s("home/project");
    for flag in ["--allow", "--read", "--write"] {
        assert!(
            !out.run.stderr.contains(&format!("add {flag} {project}")),
            "advice that reaches the key: {}",
            out.run.stderr
        );
    }
    // Control: the advised static grant does read the key through the link.
    let mut cmd = nono_cmd(&cwd);
    cmd.env("HOME", &home)
        .args(["run", "--read", &b.dir_s(), "--read", &project, "--"])
        .arg(b.probe())
        .args(["read", "key", &s.s("home/project/innocent")]);
    let out = Outcome::parse(output(&mut cmd));
    assert_eq!(out.data("key"), Some(key.as_str()), "{out:?}");
}

/// Held (no finding): under `--approve DIR`, an unprivileged user's command changes the
/// metadata of what the user could change anyway and nothing else — the supervisor (root here
/// only when nono runs as root; the user's own otherwise) acts with the command's credentials.
/// A root-owned file in the user's approved directory (`EPERM`), a file in a root-only
/// subdirectory (`EACCES`: no search permission), a set-user-ID bit on the user's own file
/// (`EPERM`: never for a sandbox); the user's own file changes.
#[test]
fn redteam4_approved_metadata_changes_keep_dac_for_an_unprivileged_user() {
    use std::os::unix::fs::chown;
    let Some(b) = bins() else { return };
    let Some(user) = crate::users::TestUser::create("rt4meta") else {
        return;
    };
    let s = Scratch::new("rt4-approve-dac");
    let dir = s.mkdir("appr");
    s.write("appr/rootfile", "r\n");
    s.write("appr/mine", "m\n");
    s.write("appr/rootdir/hidden", "h\n");
    chown(&dir, Some(user.uid), Some(user.gid)).unwrap();
    chown(dir.join("mine"), Some(user.uid), Some(user.gid)).unwrap();
    chown(dir.join("rootdir/hidden"), Some(user.uid), Some(user.gid)).unwrap();
    let mode = |p: &str| std::fs::metadata(dir.join(p)).unwrap().mode() & 0o7777;
    std::fs::set_permissions(dir.join("rootfile"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(dir.join("mine"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(dir.join("rootdir"), std::fs::Permissions::from_mode(0o700)).unwrap();
    let steps = [
        "chmod",
        "rootfile",
        &s.s("appr/rootfile"),
        "666",
        "chmod",
        "hidden",
        &s.s("appr/rootdir/hidden"),
        "666",
        "chmod",
        "setuid",
        &s.s("appr/mine"),
        "4755",
        "chmod",
        "mine",
        &s.s("appr/mine"),
        "600",
    ];
    let mut cmd = user.command(crate::harness::nono_bin());
    cmd.current_dir(&s.path)
        .stdin(std::process::Stdio::null())
        .args(["run", "--read", &b.dir_s(), "--approve", &s.s("appr"), "--"])
        .arg(b.probe())
        .args(steps);
    let out = Outcome::parse(output(&mut cmd));
    out.expect(&[
        ("rootfile", "EPERM"),
        ("hidden", "EACCES"),
        ("setuid", "EPERM"),
        ("mine", "ok"),
    ]);
    assert_eq!(
        (
            mode("rootfile"),
            mode("rootdir/hidden") & 0o777,
            mode("mine")
        ),
        (0o644, 0o644, 0o600)
    );
    // Control: with root's credentials the same changes are made.
    probe_bare(&s.path, &steps[..8]).expect(&[("rootfile", "ok"), ("hidden", "ok")]);
    assert_eq!(mode("rootfile"), 0o666);
}

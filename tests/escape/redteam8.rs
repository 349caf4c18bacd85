//! Red team 8: the revised start-up prefetch (the thread resolves exactly the profile's groups
//! once it is handed them, `DenyPrefetch::begin`; the link-walk cache's stamp check shared
//! with the main thread, `StampCheck`; the grants' symlink walks made early,
//! `ResolvedProfile::walks`; the profile trust check before the profile is resolved). See
//! docs/THREAT_MODEL.md, "Red team 8 (revised start-up prefetch)".
//!
//! `nono run|wrap` starts the prefetch only when the subcommand is the first argument, so
//! `nono -s MODE ...` is the same command without it: the serial control of every test.

use std::process::{Command, Stdio};

use crate::harness::{nono_bin, output, sandbox_available, state_home_for, Run, Scratch};
use crate::programs::{Mode, MODES};
use crate::redteam7::timed_nono;
use std::path::Path;

/// [`timed_nono`] in `<scratch>/home` with a plain `PATH`: `nono MODE ARGS -- CMD...`.
fn nono_in(s: &Scratch, mode: Mode, prefetch: bool, args: &[&str], cmd_argv: &[&str]) -> Run {
    let mut cmd = timed_nono(s, &s.join("home"), "/usr/bin:/bin", 30, mode, prefetch);
    cmd.args(args).arg("--").args(cmd_argv);
    output(&mut cmd)
}

/// The link-walk cache file of the scratch's state directory.
fn cache_file(s: &Scratch) -> std::path::PathBuf {
    state_home_for(&s.path)
        .expect("scratch state home")
        .join("nono/link-walk.json")
}

/// Held (attack a): a symlink added deep inside a deny entry whose walk is recorded in the
/// link-walk cache (`~/.ssh` holding a tree of a dozen settled directories) is found on the
/// next start, with the stamp check shared between the prefetch thread and the main thread
/// (`StampCheck`): its target (a file in a granted project) is denied, the plan is the serial
/// plan, and the sandbox refuses the read through the grant, in run and wrap. Controls: the
/// walk really was recorded, and reused unchanged by a start in between (the cache file not
/// rewritten); before the link exists the same command reads the file.
#[test]
fn redteam8_a_link_added_inside_a_cached_deny_walk_is_denied() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("rt8-cache");
    s.mkdir("home/proj");
    s.write("home/proj/secret.txt", "s3cret\n");
    for i in 0..10 {
        s.mkdir(&format!("home/.ssh/t/a{i}"));
    }
    s.mkdir("home/.ssh/t/a9/b/c");
    let proj = s.s("home/proj");
    let secret = s.s("home/proj/secret.txt");
    // Every directory settled (older than the cache's 2 s racy window) before the walk.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let cat = ["/bin/cat", secret.as_str()];
    // Control: before the link exists the grant reads the file (and the walk is recorded).
    for mode in MODES {
        let before = nono_in(&s, mode, true, &["--allow", &proj], &cat);
        assert!(
            before.code == Some(0) && before.stdout.contains("s3cret"),
            "{mode:?} control: the granted file must be readable before the link: {before}"
        );
    }
    let file = cache_file(&s);
    let text = std::fs::read_to_string(&file).expect("the walk of ~/.ssh must be recorded");
    assert!(
        text.contains(&s.s("home/.ssh/t/a9/b/c")),
        "the cache does not record the walk of ~/.ssh: {text}"
    );
    // A start in between reuses the record unchanged (nothing is stored again).
    let stored = std::fs::metadata(&file).unwrap().modified().unwrap();
    let again = nono_in(&s, Mode::Run, true, &["--allow", &proj, "--dry-run"], &cat);
    assert_eq!(again.code, Some(0), "{again}");
    assert_eq!(
        std::fs::metadata(&file).unwrap().modified().unwrap(),
        stored,
        "control: the unchanged record was not reused (the cache was rewritten)"
    );
    // The link, deep in the recorded tree, to the granted file.
    std::os::unix::fs::symlink(&secret, s.join("home/.ssh/t/a9/b/c/config")).unwrap();
    let dry = ["--allow", proj.as_str(), "--dry-run", "--json"];
    for mode in MODES {
        let prefetched = nono_in(&s, mode, true, &dry, &cat);
        let serial = nono_in(&s, mode, false, &dry, &cat);
        assert_eq!(prefetched.code, Some(0), "{mode:?}: {prefetched}");
        assert!(
            prefetched.stdout.contains(&secret),
            "{mode:?}: the target of a link added inside a cached walk of ~/.ssh is not denied: {prefetched}"
        );
        assert_eq!(
            prefetched.stdout, serial.stdout,
            "{mode:?}: prefetched vs serial plan"
        );
        let read = nono_in(&s, mode, true, &["--allow", &proj], &cat);
        assert!(
            !read.stdout.contains("s3cret"),
            "{mode:?}: read the target of a link inside ~/.ssh through a grant: {read}"
        );
    }
}

/// Held (attack b): a profile grant whose path goes through a symlink an earlier run planted
/// inside its write grant is refused when the grants' walks are made early (on the main
/// thread while the prefetch thread resolves the deny groups, `ResolvedProfile::walks`) —
/// with the profile alone, with command-line grants appended after the profile's (the
/// early walks are matched by position), and with `--private-tmp` (which resolves a profile
/// without its temporary grants). Control: once accepted (`--allow-symlinked-grant`) the
/// link does lead outside, so the refusal is what stops the write.
#[test]
fn redteam8_a_planted_link_on_a_profile_grant_is_refused_with_early_walks() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("rt8-walks");
    s.mkdir("home/proj");
    s.mkdir("home/outside");
    s.mkdir("home/other");
    let (proj, out, outside) = (s.s("home/proj"), s.s("home/proj/out"), s.s("home/outside"));
    let other = s.s("home/other");
    // The profile lies outside every grant, so it stays trusted.
    let profile = s.write(
        "home/profiles/p.json",
        &serde_json::json!({
            "name": "p",
            "extends": "default",
            "filesystem": {"allow": ["~/proj/out", "~/other"]}
        })
        .to_string(),
    );
    let profile = profile.display().to_string();
    // Run 1: granted the project, it plants `proj/out -> ~/outside`.
    let plant = nono_in(
        &s,
        Mode::Run,
        true,
        &["--allow", &proj],
        &["/bin/ln", "-s", &outside, &out],
    );
    assert_eq!(plant.code, Some(0), "planting run: {plant}");
    assert!(s.join("home/proj/out").is_symlink());
    let write = format!("echo x > {out}/planted");
    let argv = ["/bin/sh", "-c", write.as_str()];
    let planted = Path::new(&outside).join("planted");
    for mode in MODES {
        let mut cases: Vec<Vec<&str>> = vec![
            vec!["-p", &profile],
            vec!["-p", &profile, "--read", &other, "--allow", &proj],
        ];
        if mode == Mode::Run {
            cases.push(vec!["-p", &profile, "--private-tmp"]);
        }
        for args in &cases {
            for prefetch in [true, false] {
                let r = nono_in(&s, mode, prefetch, args, &argv);
                assert!(
                    !planted.exists(),
                    "{mode:?} {args:?} prefetch={prefetch}: wrote outside through the planted link: {r}"
                );
                assert_eq!(
                    r.code,
                    Some(125),
                    "{mode:?} {args:?} prefetch={prefetch}: {r}"
                );
                assert!(
                    r.stderr
                        .contains(&format!("refusing the symlink {out} -> {outside}")),
                    "{mode:?} {args:?} prefetch={prefetch}: {r}"
                );
            }
        }
    }
    // Control: accepted, the link leads outside.
    let r = nono_in(
        &s,
        Mode::Run,
        true,
        &["-p", &profile, "--allow-symlinked-grant", &out],
        &argv,
    );
    assert!(
        planted.exists(),
        "control: the accepted link did not lead outside: {r}"
    );
}

/// FINDING (attack b, pre-existing: serial too): `planted::grants_match_checks` matches a
/// grant against the walks of *every* request of the same origin, and all of a profile's
/// grants share one origin (`profile NAME`). A concurrent sandboxed run that may write the
/// project swaps a directory on the way to the profile's read-write grant (`~/proj/build`)
/// with a symlink to a path the profile grants read-only (`~/docs`; with a profile that
/// extends `default`, `/etc` or `/usr`) in a loop (`race spin`): when the grant is resolved
/// through the link and the symlink check's walk of the same request finds the directory, the
/// planted link is never judged, the grant on `~/docs` is read-write, and `~/docs` is among
/// the "checked" paths of that origin (the read grant's own walk), so nothing notices. The
/// victim's command writes into `~/docs`. Control: with the path stable the command cannot
/// write there (the profile reads `~/docs` only), and a swap seen by the walk is refused
/// (`refusing the symlink`, `GrantChanged`), so only this interleaving escapes.
#[test]
fn redteam8_a_grant_swapped_onto_another_profile_grant_is_refused() {
    use crate::programs::bins;
    let Some(b) = bins() else { return };
    let s = Scratch::new("rt8-origin");
    s.mkdir("home/proj/build");
    s.mkdir("home/docs");
    let docs = s.s("home/docs");
    std::os::unix::fs::symlink(&docs, s.join("home/proj/lnk")).unwrap();
    let profile = s.write(
        "home/profiles/p.json",
        &serde_json::json!({
            "name": "p",
            "extends": "default",
            "filesystem": {"read": ["~/docs"], "allow": ["~/proj/build"]}
        })
        .to_string(),
    );
    let profile = profile.display().to_string();
    let pwned = s.join("home/docs/pwned");
    let write = format!("echo x > {}", pwned.display());
    let argv = ["/bin/sh", "-c", write.as_str()];
    // Control: the path stable, the profile's command cannot write into ~/docs.
    for mode in MODES {
        let r = nono_in(&s, mode, true, &["-p", &profile], &argv);
        assert!(!pwned.exists(), "{mode:?} control wrote into ~/docs: {r}");
    }
    // The attacker: a run granted the project, swapping `build` and `lnk` in a loop.
    let mut a = Command::new(nono_bin());
    a.current_dir(s.join("home"))
        .env("HOME", s.join("home"))
        .env_remove("RUST_LOG")
        .args([
            "run",
            "-s",
            "--read",
            &b.dir_s(),
            "--allow",
            &s.s("home/proj"),
            "--",
        ])
        .arg(b.race())
        .args([
            "spin",
            &s.s("home/proj/build"),
            &s.s("home/proj/lnk"),
            "120",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(state) = state_home_for(&s.path) {
        a.env("XDG_STATE_HOME", state);
    }
    let mut a = a.spawn().expect("spawn the attacking run");
    std::thread::sleep(std::time::Duration::from_millis(700));
    let mut hit = None;
    'outer: for i in 0..60 {
        for mode in MODES {
            for prefetch in [true, false] {
                let r = nono_in(&s, mode, prefetch, &["-p", &profile], &argv);
                if pwned.exists() {
                    hit = Some((i, mode, prefetch, r));
                    break 'outer;
                }
            }
        }
    }
    let _ = a.kill();
    let _ = a.wait();
    if let Some((i, mode, prefetch, r)) = hit {
        panic!(
            "{mode:?} (prefetch={prefetch}) on attempt {i}: the read-write grant ~/proj/build was resolved through a symlink a sandboxed run planted (to ~/docs, which the profile grants read-only), the symlink check's walk saw the directory, and grants_match_checks accepted ~/docs because another grant of the same profile resolved there; the command wrote into ~/docs:\n{r}"
        );
    }
}

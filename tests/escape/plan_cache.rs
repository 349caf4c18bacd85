//! Issue 14, the compiled-plan cache (`nono_policy::plan_cache`): the deny groups' resolution
//! is reused from `~/.local/state/nono/plan-cache.json` only while every object it depended
//! on is unchanged, and only from a trusted, untampered file. Each change on disk after
//! caching and each tampered file below leaves the run exactly as strict as an uncached run
//! (`NONO_PLAN_CACHE=0`), in `run` and `wrap`; the control shows the reads work unsandboxed.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use crate::harness::{nono_cmd, output, Scratch};
use crate::programs::{bins, probe_bare, Bins, Mode, Outcome, MODES};

/// `nono MODE --read BINS --allow HOME/proj -- PROGRAM ARGS` with HOME set to the fake home
/// (XDG variables removed, so they default beneath it); `cache: false` sets
/// `NONO_PLAN_CACHE=0`.
fn nono_in(
    mode: Mode,
    b: &Bins,
    s: &Scratch,
    cache: bool,
    extra: &[&str],
    program: &[String],
) -> crate::harness::Run {
    let mut cmd = nono_cmd(&s.path);
    for var in [
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
        "XDG_STATE_HOME",
        "XDG_CACHE_HOME",
        "XDG_RUNTIME_DIR",
        "NONO_PLAN_CACHE",
    ] {
        cmd.env_remove(var);
    }
    if !cache {
        cmd.env("NONO_PLAN_CACHE", "0");
    }
    cmd.env("HOME", s.join("home"))
        .arg(mode.as_str())
        .args(["--read", &b.dir_s(), "--allow", &s.s("home/proj")])
        .args(extra)
        .arg("--")
        .args(program);
    output(&mut cmd)
}

/// The `plan cache:` line of a dry run.
fn cache_line(b: &Bins, s: &Scratch) -> String {
    let run = nono_in(Mode::Wrap, b, s, true, &["--dry-run"], &["true".to_owned()]);
    run.stdout
        .lines()
        .find(|l| l.starts_with("plan cache:"))
        .unwrap_or_else(|| panic!("no plan cache line:\n{}\n{}", run.stdout, run.stderr))
        .to_owned()
}

/// Wait until a dry run reuses a record (what was looked at must have settled for 2 s).
fn primed(b: &Bins, s: &Scratch) {
    for _ in 0..40 {
        if cache_line(b, s).contains("reused") {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    panic!("the plan cache never recorded a reusable resolution");
}

/// Every read in `paths` (names `r0`, `r1`, …) is refused in `run` and `wrap`, with the
/// cache and without it.
fn all_refused(b: &Bins, s: &Scratch, paths: &[&Path], cache: bool) {
    let mut args = Vec::new();
    let mut want = Vec::new();
    for (i, p) in paths.iter().enumerate() {
        args.extend(["read".to_owned(), format!("r{i}"), p.display().to_string()]);
        want.push(format!("r{i}"));
    }
    let mut program = vec![b.probe().display().to_string()];
    program.extend(args);
    let want: Vec<(&str, &str)> = want.iter().map(|k| (k.as_str(), "EACCES")).collect();
    for mode in MODES {
        let extra: &[&str] = if mode == Mode::Wrap {
            &["--accept-wrap-gaps"]
        } else {
            &[]
        };
        Outcome::parse(nono_in(mode, b, s, cache, extra, &program)).expect(&want);
    }
}

/// The digest `plan_cache` writes on the first line: HMAC-SHA-256 keyed with the secret
/// (RFC 2104, written out here so the test does not share the code it checks).
fn digest(secret: &[u8], payload: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut k = [0u8; 64];
    k[..secret.len()].copy_from_slice(secret);
    let inner = Sha256::new()
        .chain_update(k.map(|b| b ^ 0x36))
        .chain_update(payload)
        .finalize();
    let outer = Sha256::new()
        .chain_update(k.map(|b| b ^ 0x5c))
        .chain_update(inner)
        .finalize();
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn the_plan_cache_sees_changes_on_disk_and_rejects_a_tampered_file() {
    use std::os::unix::fs::symlink;
    let Some(b) = bins() else { return };
    let s = Scratch::new("plan-cache");
    let home = s.mkdir("home");
    s.write("home/.ssh/id_rsa", "KEY\n");
    s.write("home/proj/ssh_config", "Host *\n");
    s.write("home/proj/aws/credentials", "AWS\n");
    s.write("home/proj/cfg/gh/hosts.yml", "GH\n");
    s.write("home/dots/aws/credentials", "old\n");
    s.mkdir("home/.config");
    symlink(home.join("dots/aws"), home.join(".aws")).unwrap();
    let targets = [
        home.join("proj/ssh_config"),
        home.join("proj/aws/credentials"),
        home.join("proj/cfg/gh/hosts.yml"),
    ];

    // Control: unsandboxed, every target can be read.
    let mut bare = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        bare.extend(["read".to_owned(), format!("r{i}"), t.display().to_string()]);
    }
    probe_bare(&s.path, &bare).expect(&[("r0", "ok"), ("r1", "ok"), ("r2", "ok")]);

    // 1. A symlink to a file in the granted directory created inside a deny entry
    //    (~/.ssh/config -> ~/proj/ssh_config): its target is denied.
    primed(b, &s);
    symlink(&targets[0], home.join(".ssh/config")).unwrap();
    assert!(cache_line(b, &s).contains("afresh"));
    all_refused(b, &s, &[&targets[0]], true);

    // 2. A deny entry that is a symlink re-pointed into the granted directory
    //    (~/.aws -> ~/proj/aws).
    primed(b, &s);
    std::fs::remove_file(home.join(".aws")).unwrap();
    symlink(home.join("proj/aws"), home.join(".aws")).unwrap();
    assert!(cache_line(b, &s).contains("afresh"));
    all_refused(b, &s, &[&targets[0], &targets[1]], true);

    // 3. A directory on the way to a deny entry replaced by a symlink into the granted
    //    directory (~/.config -> ~/proj/cfg, so ~/.config/gh is ~/proj/cfg/gh).
    primed(b, &s);
    std::fs::rename(home.join(".config"), home.join("config-old")).unwrap();
    symlink(home.join("proj/cfg"), home.join(".config")).unwrap();
    assert!(cache_line(b, &s).contains("afresh"));
    all_refused(
        b,
        &s,
        &targets.iter().map(|t| t.as_path()).collect::<Vec<_>>(),
        true,
    );
    // The same without the cache.
    all_refused(
        b,
        &s,
        &targets.iter().map(|t| t.as_path()).collect::<Vec<_>>(),
        false,
    );

    // 4. Tampering: a record edited to make every deny entry write-only (reads allowed),
    //    written back (a) without the right digest, (b) with it but readable by others, (c)
    //    with it but owned by another user, (d) through a symlink, (e) in a state directory
    //    others can write: each is rejected and rebuilt, and every target stays unreadable.
    let state = home.join(".local/state/nono");
    let cache = state.join("plan-cache.json");
    let secret = std::fs::read(state.join("plan-cache.key")).expect("the key");
    for tamper in ["digest", "mode", "owner", "symlink", "dir"] {
        primed(b, &s);
        let text = std::fs::read(&cache).unwrap();
        let nl = text.iter().position(|&c| c == b'\n').unwrap();
        let payload = String::from_utf8(text[nl + 1..].to_vec()).unwrap();
        let edited = payload.replace("\"write_only\":false", "\"write_only\":true");
        assert_ne!(edited, payload);
        let head = if tamper == "digest" {
            String::from_utf8(text[..nl].to_vec()).unwrap()
        } else {
            digest(&secret, edited.as_bytes())
        };
        let content = format!("{head}\n{edited}");
        match tamper {
            "digest" => std::fs::write(&cache, &content).unwrap(),
            "mode" => {
                std::fs::write(&cache, &content).unwrap();
                std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o640)).unwrap();
            }
            "owner" => {
                std::fs::write(&cache, &content).unwrap();
                std::os::unix::fs::chown(&cache, Some(65534), Some(65534)).unwrap();
            }
            "symlink" => {
                let real = s.write("elsewhere.json", &content);
                std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).unwrap();
                std::fs::remove_file(&cache).unwrap();
                symlink(&real, &cache).unwrap();
            }
            _ => {
                std::fs::write(&cache, &content).unwrap();
                std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o770)).unwrap();
            }
        }
        assert!(cache_line(b, &s).contains("afresh"), "{tamper}: reused");
        all_refused(
            b,
            &s,
            &targets.iter().map(|t| t.as_path()).collect::<Vec<_>>(),
            true,
        );
        // Put things back for the next round (a fresh record is made by `primed`).
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
        let _ = std::fs::remove_file(&cache);
    }
}

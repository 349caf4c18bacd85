//! Red team 13: `nono profile trust --sha256 [FILE=]HEX`, each hash bound to one file.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::harness::{sandbox_available, Run, Scratch};
use crate::redteam5::run_writes;

/// `nono ARGS` in `cwd` with `HOME=home` (nono's state under it), as root.
fn nono_in(cwd: &Path, home: &Path, args: &[&str]) -> Run {
    crate::redteam5::nono_as(None, cwd, home, args)
}

/// A `FILE=HEX` binding was checked against the first file of the chain it named and then
/// taken as naming every file it matched. One path names two files of one chain when a link
/// on it is swapped while the chain is read: `p.json` extends `./L`, `L` a symlink a run
/// keeps swapping between `a.json` (the base the user read) and `m.json` (extends `./L`, not
/// read). Read as `p → L=m → L=a`, the chain is `[a, m, p]`, both `a` and `m` at `L`; the
/// user's `L=Ha` matched `a`, and `m` — needing trust, its directory written by a run — was
/// taken as named: `m` was trusted, content the user never read. A binding naming more than
/// one file is now refused. Control: with `L` left on `a.json` the same bindings trust it.
#[test]
fn redteam13_a_sha256_binding_naming_two_files_of_a_chain_is_refused() {
    if !sandbox_available() {
        return;
    }
    use nono_supervisor::profile_trust::sha256_hex;
    let s = Scratch::new("rt13-twofiles");
    let home = s.mkdir("home");
    let proj = s.mkdir("proj");
    let (a, m, p) = (s.s("proj/a.json"), s.s("proj/m.json"), s.s("proj/p.json"));
    let link = proj.join("L");
    let text_a = r#"{"extends": "default"}"#;
    let text_m = r#"{"extends": "./L", "network": {"block": false}}"#;
    let text_p = r#"{"extends": "./L"}"#;
    // A run writes all three (so each needs trust).
    for (file, text) in [(&a, text_a), (&m, text_m), (&p, text_p)] {
        let proj = proj.display().to_string();
        run_writes(None, &s.path, &home, &["run", "--allow", &proj], text, file).expect_code(0);
    }
    std::os::unix::fs::symlink("a.json", &link).unwrap();
    let bound = format!("{}={}", link.display(), sha256_hex(text_a.as_bytes()));
    let hp = sha256_hex(text_p.as_bytes());
    let trust = || {
        nono_in(
            &s.path,
            &home,
            &["profile", "trust", &p, "--sha256", &hp, "--sha256", &bound],
        )
    };
    // The run swaps L between a.json and m.json as fast as it can.
    let stop = Arc::new(AtomicBool::new(false));
    let flipper = {
        let (stop, proj) = (Arc::clone(&stop), proj.clone());
        std::thread::spawn(move || {
            let tmp = proj.join("L.tmp");
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let to = if n % 2 == 0 { "m.json" } else { "a.json" };
                let _ = std::fs::remove_file(&tmp);
                if std::os::unix::fs::symlink(to, &tmp).is_ok() {
                    let _ = std::fs::rename(&tmp, proj.join("L"));
                }
                n += 1;
            }
        })
    };
    let mut seen_two = 0;
    let mut trusted_m = None;
    // Up to 2000 tries (it usually takes a few dozen), stopping after three wins.
    for _ in 0..2000 {
        let r = trust();
        if r.stderr.contains("more than one file of the profile") {
            seen_two += 1;
        }
        if r.code == Some(0) && r.stdout.contains("m.json") {
            trusted_m = Some(r.stdout);
            break;
        }
        if seen_two >= 3 {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    flipper.join().unwrap();
    assert!(
        trusted_m.is_none(),
        "m.json, never read, was trusted under the hash given for a.json:\n{}",
        trusted_m.unwrap_or_default()
    );
    assert!(
        seen_two > 0,
        "the race was never won: the test proves nothing"
    );
    // Control: with L on a.json, the same bindings trust the chain.
    let _ = std::fs::remove_file(&link);
    let _ = std::fs::remove_file(proj.join("L.tmp"));
    std::os::unix::fs::symlink("a.json", &link).unwrap();
    trust().expect_code(0).stdout_has("a.json");
}

/// The hint for another file of the chain, `--sha256 FILE=HEX`, prints FILE as one shell word
/// (`$'…'` for bytes that are not UTF-8), but `--sha256` took UTF-8 only: a profile reached
/// through a symlink to a directory whose name is not UTF-8 extends `./base.json` there, both
/// written by a run; `trust` through the link asked for `--sha256 $'…\xff…/base.json'=HEX`,
/// and that, given exactly, was a usage error. `--sha256` now takes any bytes, and since
/// session 12 the trust store records such a path exactly (`state_path`: a byte array where
/// the path is not UTF-8; serde refused it before). Control: the hint is followed through
/// bash as printed, and the profile then runs.
#[test]
fn redteam13_the_file_hint_works_for_a_file_whose_path_is_not_utf8() {
    if !sandbox_available() {
        return;
    }
    use nono_supervisor::profile_trust::sha256_hex;
    use std::os::unix::ffi::OsStrExt;
    let s = Scratch::new("rt13-nonutf8");
    let home = s.mkdir("home");
    let cwd = s.mkdir("cwd");
    let odd = s.mkdir("data").join(std::ffi::OsStr::from_bytes(b"d\xff"));
    std::fs::create_dir(&odd).unwrap();
    let link = s.mkdir("links").join("link");
    std::os::unix::fs::symlink(&odd, &link).unwrap();
    let linked = link.display().to_string();
    let text_p = r#"{"extends": "./base.json"}"#;
    let text_base = r#"{"extends": "default"}"#;
    for (name, text) in [("p.json", text_p), ("base.json", text_base)] {
        let file = format!("{linked}/{name}");
        run_writes(None, &cwd, &home, &["run", "--allow", &linked], text, &file).expect_code(0);
    }
    let p = format!("{linked}/p.json");
    nono_in(&cwd, &home, &["run", "-p", &p, "--", "true"]).expect_code(125);
    // `trust` with p's hash asks for base's too, as FILE=HEX.
    let hp = sha256_hex(text_p.as_bytes());
    let r = nono_in(&cwd, &home, &["profile", "trust", &p, "--sha256", &hp]);
    let r = r.expect_code(125);
    let hb = sha256_hex(text_base.as_bytes());
    let hint = r
        .stderr
        .split("add ")
        .nth(1)
        .and_then(|t| t.split(')').next())
        .unwrap_or_else(|| panic!("no hint in: {}", r.stderr))
        .to_owned();
    assert!(hint.ends_with(&format!("={hb}")), "hint: {hint}");
    // Followed exactly, through the shell.
    let nono = crate::harness::nono_bin();
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "{} profile trust {p} --sha256 {hp} {hint}",
            nono.display()
        ))
        .current_dir(&cwd)
        .env("HOME", &home)
        .env_remove("XDG_STATE_HOME")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_DATA_HOME")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the hint `{hint}` did not work: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    nono_in(&cwd, &home, &["run", "-p", &p, "--", "true"]).expect_code(0);
}

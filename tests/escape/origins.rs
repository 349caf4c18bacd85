//! Issue 15: where a grant came from is typed (`nono_sandbox::Origin`), never read back from
//! text. Before, origins were strings joined with ", " and split again: a working directory
//! named `home, --read x` made an `--allow-cwd` grant (`--allow-cwd /s/home, --read x`)
//! look as if `--read x` had asked for it, so `--bypass-protection` accepted it as an explicit
//! grant; a profile named `p, --allow` made its grants look like the user's own, whose root
//! directory the supervisor then changed the mode of (finding 8).

use crate::harness::{nono_cmd, output, Scratch};
use crate::programs::{bins, marker, probe_bare, Bins, Mode, Outcome};

/// `nono MODE --read BINS NONO_ARGS -- probe ARGS` in `cwd`, with HOME set to `home` (XDG
/// variables removed, so they default beneath it).
fn probe_with_home(
    mode: Mode,
    b: &Bins,
    cwd: &std::path::Path,
    home: &std::path::Path,
    nono_args: &[&str],
    args: &[&str],
) -> Outcome {
    let mut cmd = nono_cmd(cwd);
    for var in [
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
        "XDG_STATE_HOME",
        "XDG_CACHE_HOME",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("HOME", home)
        .arg(mode.as_str())
        .args(["--read", &b.dir_s()]);
    if mode == Mode::Wrap {
        // wrap refuses a home-wide grant without it; the read checked here is Landlock's.
        cmd.arg("--accept-wrap-gaps");
    }
    cmd.args(nono_args).arg("--").arg(b.probe()).args(args);
    Outcome::parse(output(&mut cmd))
}

/// A home directory whose name reads like a second origin (`, --read x`, `, group ...`):
/// `--allow-cwd` there is still not an explicit grant, so `--bypass-protection` on it is
/// refused and `~/.ssh/id_rsa` stays unread, under run and wrap. Controls: unsandboxed the
/// key is readable, and with an explicit `--read HOME` the same bypass works.
#[test]
fn working_directory_named_like_a_flag_does_not_make_allow_cwd_explicit() {
    let Some(b) = bins() else { return };
    let s = Scratch::new("origin-flagname");
    for (i, name) in ["home, --read x", "home, --allow-file /", "home, group x"]
        .iter()
        .enumerate()
    {
        let key = marker(&format!("id_rsa{i}"));
        s.write(&format!("{name}/.ssh/id_rsa"), &key);
        let home = s.join(name);
        let (h, k) = (s.s(name), s.s(&format!("{name}/.ssh/id_rsa")));
        for mode in [Mode::Run, Mode::Wrap] {
            let out = probe_with_home(
                mode,
                b,
                &home,
                &home,
                &["--allow-cwd", "--bypass-protection", &h],
                &["read", "key", &k],
            );
            assert_ne!(out.run.code, Some(0), "{mode:?} {name:?}: {}", out.run);
            assert!(
                out.run.stderr.contains("needs an explicit grant"),
                "{mode:?} {name:?}: {}",
                out.run
            );
            out.never_printed(&key);
            // The same bypass with an explicit grant works: the refusal above is about
            // where the grant came from, not about the path.
            probe_with_home(
                mode,
                b,
                &home,
                &home,
                &["--allow-cwd", "--read", &h, "--bypass-protection", &h],
                &["read", "key", &k],
            )
            .expect(&[("key", "ok")]);
        }
        // Control: unsandboxed, the key is readable.
        assert_eq!(probe_bare(&home, &["read", "key", &k]).get("key"), "ok");
    }
}

/// Finding 8 with a profile named like a flag: the root of a directory only a profile grants
/// keeps its mode whatever the profile is called. Controls: granted with `--allow`, the
/// sandboxed chmod is performed, and unsandboxed it works.
#[test]
fn profile_named_like_a_flag_does_not_make_its_roots_the_users() {
    let Some(_) = bins() else { return };
    let s = Scratch::new("origin-profilename");
    let shared = s.join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    let mode_of = |p: &std::path::Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    };
    let set = |m: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(m)).unwrap();
    };
    set(0o755);
    for name in ["p, --allow", "p, --allow-cwd /", "--allow"] {
        let profile = s.write(
            "profile.json",
            &serde_json::json!({
                "name": name,
                "extends": "default",
                "filesystem": {"allow": [shared.display().to_string()]}
            })
            .to_string(),
        );
        let out = crate::programs::probe_in(
            Mode::Run,
            &s.path,
            &["-p", &profile.display().to_string()],
            &["chmod", "c", &shared.display().to_string(), "777"],
        );
        out.expect_one_of("c", &["EPERM", "EACCES"]);
        assert_eq!(mode_of(&shared), 0o755, "{name:?}: {}", out.run);
    }
    // Control: named on the command line, the directory is the user's to chmod.
    crate::programs::probe_in(
        Mode::Run,
        &s.path,
        &["--allow", &shared.display().to_string()],
        &["chmod", "c", &shared.display().to_string(), "700"],
    )
    .expect(&[("c", "ok")]);
    assert_eq!(mode_of(&shared), 0o700);
    // Control: unsandboxed, chmod works.
    assert_eq!(
        probe_bare(
            &s.path,
            &["chmod", "c", &shared.display().to_string(), "755"]
        )
        .get("c"),
        "ok"
    );
    assert_eq!(mode_of(&shared), 0o755);
}

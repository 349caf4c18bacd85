//! Red team 6: the issue-14 shortcuts (the runtime-grant fast path, trapped opens answered
//! from the ruleset's own rules, wrap's exec of the `PATH` entry; a deny-groups cache it also
//! attacked was taken out after measuring). See docs/THREAT_MODEL.md, "Red team 6: the
//! issue-14 shortcuts".

use crate::harness::{nono_cmd, output, Scratch};
use crate::programs::{bins, probe_bare, Bins, Mode, Outcome, MODES};

/// `nono MODE --read BINS EXTRA -- PROGRAM` with `HOME` the scratch home (XDG variables
/// removed, so they default beneath it) and `PATH` as given.
fn nono_with_path(
    mode: Mode,
    b: &Bins,
    s: &Scratch,
    path: &str,
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
    ] {
        cmd.env_remove(var);
    }
    cmd.env("HOME", s.join("home"))
        .env("PATH", path)
        .arg(mode.as_str())
        .args(["--read", &b.dir_s()]);
    if mode == Mode::Wrap {
        cmd.arg("--accept-wrap-gaps");
    }
    cmd.args(extra).arg("--").args(program);
    output(&mut cmd)
}

/// Held (tried from inside a sandbox): a `$PATH` entry outside the home that is a symlink
/// into it (`OUT/a/bin` → `~/tools`) makes `~/tools` part of the `autorun` group
/// (read-only). A later run that saw `OUT/a` swapped for a plain directory would leave
/// `~/tools` writable. A sandboxed run granted `OUT` cannot make that swap: the entry's
/// literal path is carved out too, so `OUT/a` is a carve-out spine (not renamable); after
/// the attempt, a later run still refuses to write `~/tools`. Control: unsandboxed, the
/// rename works and `~/tools/tool` is writable.
#[test]
fn redteam6_a_sandbox_cannot_swap_a_path_entry_of_the_autorun_group() {
    use std::os::unix::fs::symlink;
    let Some(b) = bins() else { return };
    let s = Scratch::new("rt6-path-swap");
    let home = s.mkdir("home");
    s.mkdir("home/proj");
    s.write("home/tools/tool", "#!/bin/sh\n");
    s.mkdir("out/a");
    symlink(home.join("tools"), s.join("out/a/bin")).unwrap();
    let path = format!("{}:/usr/bin:/bin", s.s("out/a/bin"));
    let probe = b.probe().display().to_string();
    let rename = |to: &str| {
        vec![
            probe.clone(),
            "rename".to_owned(),
            "swap".to_owned(),
            s.s("out/a"),
            s.s(to),
        ]
    };
    for mode in MODES {
        let out = Outcome::parse(nono_with_path(
            mode,
            b,
            &s,
            &path,
            &["--allow", &s.s("out")],
            &rename("out/a.save"),
        ));
        out.expect_one_of("swap", &["EACCES", "EXDEV"]);
        assert!(
            s.join("out/a/bin").symlink_metadata().is_ok(),
            "{mode:?}: the PATH entry's directory was renamed: {out:?}"
        );
        // A later run still protects the entry's target.
        let write = vec![
            probe.clone(),
            "write".to_owned(),
            "plant".to_owned(),
            s.s("home/tools/tool"),
        ];
        Outcome::parse(nono_with_path(
            mode,
            b,
            &s,
            &path,
            &["--allow", &s.s("home")],
            &write,
        ))
        .expect(&[("plant", "EACCES")]);
    }
    assert_eq!(
        std::fs::read_to_string(s.join("home/tools/tool")).unwrap(),
        "#!/bin/sh\n"
    );
    // Control: unsandboxed, the swap and the write both work.
    let out = probe_bare(
        &s.path,
        &["rename", "swap", &s.s("out/a"), &s.s("out/a.save")],
    );
    out.expect(&[("swap", "ok")]);
    std::fs::rename(s.join("out/a.save"), s.join("out/a")).unwrap();
    probe_bare(&s.path, &["write", "plant", &s.s("home/tools/tool")]).expect(&[("plant", "ok")]);
}

//! A deny entry too large to look through for symlinks (more than `LINK_WALK_ENTRIES`
//! entries): the targets of links past the bound are not protected, which a run says — no
//! silent downgrade — once per entry, remembered in nono's state directory.

use crate::harness::{nono_cmd, output, sandbox_available, Run, Scratch};

const NOTE: &str = "too large to look through for symlinks";

/// `nono MODE [FLAGS] [GRANTS] -- true` with `$HOME` at the scratch's `home`.
fn start(s: &Scratch, mode: &str, flags: &[&str], grants: &[&str]) -> Run {
    let mut cmd = nono_cmd(&s.path);
    cmd.env("HOME", s.join("home"))
        .arg(mode)
        .args(flags)
        .args(grants)
        .args(["--", "true"]);
    output(&mut cmd)
}

#[test]
fn a_cut_link_walk_is_said_once_and_not_when_silent() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("unwalked-note");
    // ~/.local/bin (the `autorun` group: programs outside the sandbox run them) with more
    // entries than the walk looks at.
    let bin = s.mkdir("home/.local/bin");
    for i in 0..1100 {
        std::fs::write(bin.join(format!("tool{i}")), "").unwrap();
    }
    let proj = s.mkdir("proj").display().to_string();
    let bin = std::fs::canonicalize(&bin).unwrap();
    // A run that may write nowhere (a profile of its own, one read grant) cannot reach a
    // missed target of this write-protected entry: nothing to say, nothing remembered.
    let ro = s.write(
        "ro.json",
        &serde_json::json!({"name": "ro", "filesystem": {"read": [proj]}}).to_string(),
    );
    let ro = ro.display().to_string();
    let out = start(&s, "wrap", &["-p", &ro], &[]);
    assert!(!out.stderr.contains(NOTE), "{out}");
    // `-s` prints no note, so nothing is remembered as told.
    let out = start(&s, "wrap", &["-s"], &["--allow", &proj]);
    out.expect_code(0);
    assert!(!out.stderr.contains(NOTE), "{out}");
    // The first start that can say it does, naming the entry: the same profile with writes
    // granted at runtime (`--approve`, the control of the first start).
    let out = start(&s, "run", &["-p", &ro], &["--approve", &proj]);
    out.stderr_has(NOTE)
        .stderr_has(&bin.display().to_string())
        .stderr_has("said once");
    // Then not again, in either mode.
    for mode in ["wrap", "run"] {
        let out = start(&s, mode, &[], &["--allow", &proj]);
        out.expect_code(0);
        assert!(!out.stderr.contains(NOTE), "{mode}: {out}");
    }
    // The dry run lists it every time: what the note points to.
    let mut cmd = nono_cmd(&s.path);
    cmd.env("HOME", s.join("home"))
        .args(["wrap", "--dry-run", "--allow", &proj, "--", "true"]);
    let out = output(&mut cmd);
    out.expect_code(0)
        .stdout_has(&format!("note: {} holds too many entries", bin.display()));
}

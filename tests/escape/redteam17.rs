//! Red team 17: the `PATH` links into the home of session 11 (`DenySet::add_path_links`). See
//! the section "Red team 17 (session 11)" of docs/THREAT_MODEL.md.

use std::path::Path;

use crate::harness::{output, Scratch};
use crate::programs::{bins, probe_bare, Outcome, MODES};

/// `dir:$PATH`.
fn path_with(dir: &Path) -> String {
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// A `PATH` directory spelt inside the home whose canonical form is outside it
/// (`~/sub/tools` → `OUT/data/bin`, a tools directory kept on another disk) was neither a
/// `PATH` directory inside the home (its canonical form is not) nor scanned as one outside
/// (that scan reads `OUT/data/bin`, not the link): under `--allow ~` the command removed the
/// link and put a directory with its own `tool` in its place, and the user's next `tool` ran
/// it outside the sandbox. The link is now protected as a link (`add_path_dir_chain`): it
/// can be neither removed nor renamed, in `run` and `wrap`. The control does both
/// unsandboxed.
#[test]
fn redteam17_a_path_dir_spelt_in_the_home_linking_out_of_it_cannot_be_replaced() {
    let Some(b) = bins() else { return };
    let s = Scratch::new("rt17-path-dir-link");
    let home = s.mkdir("home");
    s.mkdir("home/sub");
    let data = s.mkdir("data/bin");
    s.write("data/bin/tool", "#!/bin/sh\necho real\n");
    let tools = home.join("sub/tools");
    std::os::unix::fs::symlink(&data, &tools).unwrap();
    let moved = home.join("sub/moved");
    let (tools_s, moved_s) = (tools.display().to_string(), moved.display().to_string());
    let steps = [
        "rename", "rename", &tools_s, &moved_s, "unlink", "unlink", &tools_s,
    ];
    let path = path_with(&tools);
    for mode in MODES {
        let mut cmd = crate::redteam::probe_with_home_granted(&s, b, mode, &home, &path);
        cmd.args(steps);
        Outcome::parse(output(&mut cmd)).expect(&[("rename", "EACCES"), ("unlink", "EACCES")]);
        assert_eq!(
            std::fs::read_link(&tools).ok().as_deref(),
            Some(data.as_path()),
            "{mode:?}: the PATH link was replaced"
        );
    }
    let control = probe_bare(&s.path, &steps);
    assert_eq!(control.get("rename"), "ok", "control rename");
    assert!(std::fs::read_link(&moved).is_ok(), "control: not moved");
}

/// A `PATH` directory outside the home that is a link into it not yet filled
/// (`OUT/opt/tools` → `~/sub/later/bin`, missing: a tool not installed yet) has no canonical
/// form, so it was taken for a directory outside the home and scanned (nothing to read):
/// under `--allow ~` the command created `~/sub/later/bin/tool`, which the user's next
/// `tool` ran outside the sandbox. Where such a chain leads is now protected as a `PATH`
/// directory inside the home is (`add_path_dir_chain`): creating it fails in `run` and
/// `wrap`; the control creates it unsandboxed.
#[test]
fn redteam17_a_path_dir_linking_to_a_missing_directory_in_the_home_cannot_be_created() {
    let Some(b) = bins() else { return };
    let s = Scratch::new("rt17-path-dir-dangling");
    let home = s.mkdir("home");
    s.mkdir("home/sub");
    let later = home.join("sub/later");
    let opt = s.mkdir("opt");
    let tools = opt.join("tools");
    std::os::unix::fs::symlink(later.join("bin"), &tools).unwrap();
    let later_s = later.display().to_string();
    let steps = ["mkdir", "mkdir", later_s.as_str()];
    let path = path_with(&tools);
    for mode in MODES {
        let mut cmd = crate::redteam::probe_with_home_granted(&s, b, mode, &home, &path);
        cmd.args(steps);
        Outcome::parse(output(&mut cmd)).expect(&[("mkdir", "EACCES")]);
        assert!(!later.exists(), "{mode:?}: created");
    }
    assert_eq!(probe_bare(&s.path, &steps).get("mkdir"), "ok", "control");
}

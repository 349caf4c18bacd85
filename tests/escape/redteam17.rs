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

/// A program on `PATH` outside the home whose link passes *through* the home on its way out
/// of it (`OUT/out/tool` → `~/p/q/r/../../../../prog/tool`, which is `OUT/prog/tool`): no link
/// of the chain and not its end lie inside the home, so the chain was left alone. But the
/// kernel looks `q` up in `~/p` and `r` in `~/p/q`: under `--allow ~` the command swapped
/// `~/p/q` for a link to `~/p/a/b/c/d`, and `tool` then ran `~/p/a/prog/tool`, written by the
/// command, outside the sandbox. The names such a chain looks up inside the home are now
/// protected as links are (`PathChain::off_the_end`: `~/p/q/r`, which keeps `~/p/q` in
/// place): the swap fails in `run` and `wrap`; the control swaps and the chain then leads
/// to the command's program.
#[test]
fn redteam17_a_path_link_through_the_home_and_out_again_cannot_be_redirected() {
    let Some(b) = bins() else { return };
    let s = Scratch::new("rt17-path-dotdot");
    let home = s.mkdir("home");
    s.mkdir("home/p/q/r");
    s.mkdir("home/p/a/b/c/d/r");
    s.write("prog/tool", "#!/bin/sh\necho real\n");
    let payload = s.write("home/p/a/prog/tool", "#!/bin/sh\necho pwned\n");
    // What the command would make first (`~/p` is writable under the grant before the fix).
    let evil = home.join("p/evil");
    std::os::unix::fs::symlink(home.join("p/a/b/c/d"), &evil).unwrap();
    let out = s.mkdir("out");
    let tool = out.join("tool");
    std::os::unix::fs::symlink(home.join("p/q/r/../../../../prog/tool"), &tool).unwrap();
    assert_eq!(
        std::fs::canonicalize(&tool).unwrap(),
        s.path.join("prog/tool").canonicalize().unwrap()
    );
    let q = home.join("p/q");
    let (q_s, evil_s) = (q.display().to_string(), evil.display().to_string());
    let steps = ["exchange", "exchange", q_s.as_str(), evil_s.as_str()];
    let path = path_with(&out);
    for mode in MODES {
        let mut cmd = crate::redteam::probe_with_home_granted(&s, b, mode, &home, &path);
        cmd.args(steps);
        Outcome::parse(output(&mut cmd)).expect(&[("exchange", "EACCES")]);
        assert!(
            std::fs::symlink_metadata(&q).unwrap().is_dir(),
            "{mode:?}: ~/p/q was swapped"
        );
    }
    assert_eq!(probe_bare(&s.path, &steps).get("exchange"), "ok", "control");
    assert_eq!(
        std::fs::canonicalize(&tool).unwrap(),
        payload.canonicalize().unwrap(),
        "control: the chain does not lead to the command's program"
    );
}

/// A `PATH` directory spelt in the home with a `..` (`~/a/b/c/../../bin`): `~/a/bin` was
/// protected, but the kernel looks `c` up in `~/a/b` first, and `~/a/b` was writable: under
/// `--allow ~` the command swapped `~/a/b/c` for a link to `~/e/evil/x/y`, so the entry
/// became `~/e/evil/bin`, which held its own `tool`. The names a `PATH` directory's own
/// spelling looks up in the home are now protected as links (`add_path_dir_chain`, for
/// every `PATH` directory): the swap fails in `run` and `wrap`; the control swaps.
#[test]
fn redteam17_a_path_dir_spelt_with_dot_dot_in_the_home_cannot_be_redirected() {
    let Some(b) = bins() else { return };
    let s = Scratch::new("rt17-path-dir-dotdot");
    let home = s.mkdir("home");
    s.mkdir("home/a/b/c");
    s.write("home/a/bin/tool", "#!/bin/sh\necho real\n");
    s.mkdir("home/e/evil/x/y");
    s.write("home/e/evil/bin/tool", "#!/bin/sh\necho pwned\n");
    let evil = home.join("a/b/evil");
    std::os::unix::fs::symlink(home.join("e/evil/x/y"), &evil).unwrap();
    let c = home.join("a/b/c");
    let (c_s, evil_s) = (c.display().to_string(), evil.display().to_string());
    let steps = ["exchange", "exchange", c_s.as_str(), evil_s.as_str()];
    let path = path_with(&home.join("a/b/c/../../bin"));
    for mode in MODES {
        let mut cmd = crate::redteam::probe_with_home_granted(&s, b, mode, &home, &path);
        cmd.args(steps);
        Outcome::parse(output(&mut cmd)).expect(&[("exchange", "EACCES")]);
        assert!(
            std::fs::symlink_metadata(&c).unwrap().is_dir(),
            "{mode:?}: ~/a/b/c was swapped"
        );
    }
    assert_eq!(probe_bare(&s.path, &steps).get("exchange"), "ok", "control");
    assert_eq!(
        std::fs::canonicalize(home.join("a/b/c/../../bin/tool")).unwrap(),
        home.join("e/evil/bin/tool").canonicalize().unwrap(),
        "control: the PATH directory does not lead to the command's"
    );
}

/// Red team 17 (fixed in session 11): under `run`, the denial of removing a `PATH` link
/// protected as a link (`~/sub/tools` → `OUT/data/bin`, whose end outside the home is no deny
/// entry) was reported as `→ add --write ~/sub`, a flag that does not lift it (deny groups
/// win over grants): the report asked the deny set and the model about where the link leads,
/// not about the link. No flag lifts it at all (`--bypass-protection ~/sub/tools` follows
/// the link). Now an entry operation on a link the deny set keeps in place is reported as
/// that, naming the group and what does change it (outside the sandbox, or the group
/// switched off in a profile).
#[test]
fn redteam17_removing_a_protected_path_link_is_not_reported_with_a_flag_that_does_not_work() {
    let Some(b) = bins() else { return };
    let s = Scratch::new("rt17-path-link-report");
    let home = s.mkdir("home");
    s.mkdir("home/sub");
    let data = s.mkdir("data/bin");
    let tools = home.join("sub/tools");
    std::os::unix::fs::symlink(&data, &tools).unwrap();
    let tools_s = tools.display().to_string();
    let path = path_with(&tools);
    let mut cmd =
        crate::redteam::probe_with_home_granted(&s, b, crate::programs::Mode::Run, &home, &path);
    cmd.args(["unlink", "unlink", &tools_s]);
    let out = Outcome::parse(output(&mut cmd));
    out.expect(&[("unlink", "EACCES")]);
    let line = out
        .run
        .stderr
        .lines()
        .find(|l| l.contains("denied") && l.contains(&tools_s))
        .unwrap_or_else(|| panic!("no denial line: {}", out.run.stderr))
        .to_owned();
    assert!(
        line.contains("autorun") && !line.contains("→ add --write"),
        "{line}"
    );
    assert!(
        line.contains("no flag lifts it")
            && line.contains(r#"switch the group off in a profile ("groups": {"autorun": false})"#),
        "{line}"
    );
}

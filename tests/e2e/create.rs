//! A profile entry's `create`: a cache directory or lock file a tool makes at its first use,
//! which it cannot make inside the sandbox (the home directory is a carve-out spine), is made
//! by nono before the sandbox is built — inside the home, by handles, never through a
//! symlink, never in a dry run.

use std::os::unix::fs::PermissionsExt;

use crate::harness::{nono_cmd, output, sandbox_available, Run, Scratch};

/// What a tool does at its first use: make its cache and write into it.
const TOOL: &str = r#"mkdir -p "$HOME/sub/.cache/tool" && echo cached > "$HOME/sub/.cache/tool/f""#;

fn profile(s: &Scratch, name: &str, create: bool) -> String {
    let create = if create { r#", "create": "dir""# } else { "" };
    s.write(
        name,
        &format!(
            r#"{{"extends": "default", "filesystem": {{"allow": [{{"path": "~/sub/.cache/tool", "optional": true{create}}}]}}}}"#
        ),
    )
    .display()
    .to_string()
}

fn run(s: &Scratch, args: &[&str], script: &str) -> Run {
    let work = s.mkdir("work").display().to_string();
    let mut cmd = nono_cmd(&s.path);
    cmd.env("HOME", s.join("home"))
        .arg("run")
        .args(args)
        .args(["--allow", &work, "--", "/bin/sh", "-c", script]);
    output(&mut cmd)
}

#[test]
fn a_cache_a_tool_makes_at_first_use_is_made_before_the_run() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("create-cache");
    let _ = std::fs::remove_dir_all(s.join("home"));
    s.mkdir("home");
    let cache = s.join("home/sub/.cache/tool");
    // Control: without `create` the tool cannot make its cache in the sandbox.
    let plain = profile(&s, "plain.json", false);
    let r = run(&s, &["-p", &plain], TOOL);
    assert_ne!(r.code, Some(0), "{r}");
    assert!(!cache.exists());
    let p = profile(&s, "p.json", true);
    // A dry run says so and makes nothing.
    let dry = run(&s, &["-p", &p, "--dry-run"], TOOL);
    assert_eq!(dry.code, Some(0), "{dry}");
    assert!(
        dry.stdout.contains("missing, made at the start of a run"),
        "{dry}"
    );
    assert!(dry.stdout.contains(&cache.display().to_string()), "{dry}");
    assert!(!s.join("home/sub").exists(), "a dry run made something");
    let r = run(&s, &["-p", &p], TOOL);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(
        r.stderr.contains(&format!("made {}", cache.display())),
        "{r}"
    );
    assert_eq!(
        std::fs::read_to_string(cache.join("f")).unwrap(),
        "cached\n"
    );
    for dir in ["home/sub", "home/sub/.cache", "home/sub/.cache/tool"] {
        let mode = std::fs::metadata(s.join(dir)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{dir}");
    }
    // Made once: the next run says nothing of it.
    let r = run(&s, &["-p", &p], TOOL);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(!r.stderr.contains("made "), "{r}");
}

/// An earlier run granted `~/sub` leaves `~/sub/.cache` as a symlink to a directory outside
/// the home. The next run with the profile makes nothing through it and skips the entry
/// (`--dry-run` says why). Control: unsandboxed, `mkdir -p` through the link makes the directory outside.
#[test]
fn nothing_is_made_through_a_symlink_an_earlier_run_left() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("create-link");
    let _ = std::fs::remove_dir_all(s.join("home"));
    let _ = std::fs::remove_dir_all(s.join("outside"));
    let sub = s.mkdir("home/sub");
    let outside = s.mkdir("outside");
    let sub_s = sub.display().to_string();
    let plant = format!("ln -s {} {sub_s}/.cache", outside.display());
    let r = run(&s, &["--allow", &sub_s], &plant);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(std::fs::symlink_metadata(sub.join(".cache"))
        .unwrap()
        .file_type()
        .is_symlink());
    let p = profile(&s, "p.json", true);
    // A symlink on the way is this machine's layout (a cache moved to another disk looks the
    // same): a run skips the entry without a note at every start; a dry run says why.
    let r = run(&s, &["-p", &p], "true");
    assert_eq!(r.code, Some(0), "{r}");
    assert!(!r.stderr.contains("made"), "{r}");
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    let dry = run(&s, &["-p", &p, "--dry-run"], "true");
    assert!(dry.stdout.contains("would not be made"), "{dry}");
    assert!(dry.stdout.contains("is a symlink"), "{dry}");
    // Control: the link leads outside.
    let c = std::process::Command::new("mkdir")
        .arg("-p")
        .arg(sub.join(".cache/tool"))
        .status()
        .unwrap();
    assert!(c.success());
    assert!(outside.join("tool").is_dir());
}

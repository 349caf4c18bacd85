//! Red team 18: the carve-out spine's lift (`report::spine_lift`, session 12): the denial
//! report, the start-up note and `nono why` name `--read P --bypass-protection P` for the
//! carve-outs beneath a spine directory. See the section "Red team 18 (session 12)" of
//! docs/THREAT_MODEL.md.
//!
//! Each test follows the advice as printed (the flags after the lift clause's `): `), runs
//! the same command again and checks what it then does; the control runs the command
//! unsandboxed.

use std::path::Path;
use std::process::Command;

use crate::harness::{nono_cmd, output, sandbox_available, Run, Scratch};

/// `nono MODE ARGS... -- /bin/sh -c SCRIPT` in `cwd`, with `HOME` and `PATH` set.
fn nono_sh(cwd: &Path, home: &Path, path: &str, mode: &str, args: &[String], script: &str) -> Run {
    let mut cmd = nono_cmd(cwd);
    cmd.env("HOME", home)
        .env("PATH", path)
        .arg(mode)
        .args(args)
        .args(["--", "/bin/sh", "-c", script]);
    output(&mut cmd)
}

/// The control: `script` unsandboxed succeeds.
#[track_caller]
fn control(cwd: &Path, script: &str) {
    let out = Command::new("/bin/sh")
        .current_dir(cwd)
        .args(["-c", script])
        .output()
        .expect("spawn sh");
    assert!(out.status.success(), "control: {out:?}");
}

/// The one `nono: denied` line for `path` itself (`of PATH →` or `of PATH (call)`).
#[track_caller]
fn line_for(run: &Run, path: &Path) -> String {
    let p = path.display().to_string();
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| {
            l.starts_with("nono: denied")
                && (l.contains(&format!("of {p} →")) || l.contains(&format!("of {p} (")))
        })
        .collect();
    assert_eq!(lines.len(), 1, "one denial line for {p}\n{run}");
    lines[0].to_owned()
}

/// The flags of a lift clause (after `then follows your grant): `), if the text has one.
fn lift_flags(text: &str) -> Option<Vec<String>> {
    text.rsplit_once("then follows your grant): ")
        .map(|(_, f)| f.split_whitespace().map(str::to_owned).collect())
}

/// `PATH` with `dirs` first.
fn path_with(dirs: &[&Path]) -> String {
    let mut out: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    out.push("/usr/bin:/bin".into());
    out.join(":")
}

/// A write in a carve-out spine that no grant covers for writing (no grant on the directory,
/// or `--read` only): the report said only `--read B --bypass-protection B` (the lift of
/// `.venv/bin`), and following it the write was still refused — the directory was not
/// granted for writing, and the next run then asked for `--write DIR`. The lift now comes
/// with the grant it needs, and following the line once works (run and wrap).
#[test]
fn redteam18_a_spine_lift_for_a_directory_not_granted_for_writing_also_grants_it() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("rt18-lift-grant");
    let home = s.mkdir("home");
    let proj = s.mkdir("home/proj");
    let bin = s.mkdir("home/proj/.venv/bin");
    let path = path_with(&[&bin]);
    let new = proj.join("new");
    let script = format!("echo ok > {}", new.display());
    for (case, base) in [
        (
            "not granted",
            vec!["--allow".to_owned(), s.s("home/proj/.venv")],
        ),
        ("read only", vec!["--read".to_owned(), s.s("home/proj")]),
    ] {
        let first = nono_sh(&proj, &home, &path, "run", &base, &script);
        assert_ne!(first.code, Some(0), "{case}: {first}");
        assert!(!new.exists(), "{case}");
        let line = line_for(&first, &new);
        let flags = lift_flags(&line).unwrap_or_else(|| panic!("{case}: no lift: {line}"));
        for mode in ["run", "wrap"] {
            let mut args = base.clone();
            args.extend(flags.iter().cloned());
            let second = nono_sh(&proj, &home, &path, mode, &args, &script);
            assert_eq!(
                second.code,
                Some(0),
                "{case}, {mode}: following {flags:?} did not fix it\n{second}"
            );
            assert!(new.exists(), "{case}, {mode}");
            std::fs::remove_file(&new).unwrap();
        }
    }
    control(&proj, &script);
    assert!(new.exists());
}

/// An entry operation (unlink, rename) in a spine directory changes that directory: the
/// report named the lift of the entry's own carve-outs (`mv work/proj …`: `proj/.venv/bin`,
/// while `work` stayed a spine for `tools/bin`) or `add --write work` (`rm work/file`: `work`
/// was granted already). Neither worked when followed; the line now names the lift of the
/// directory the operation changes.
#[test]
fn redteam18_an_entry_operation_in_a_spine_names_the_lift_of_its_directory() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("rt18-lift-entry");
    let home = s.mkdir("home");
    let work = s.mkdir("home/work");
    let venv = s.mkdir("home/work/proj/.venv/bin");
    let tools = s.mkdir("home/work/tools/bin");
    let path = path_with(&[&venv, &tools]);
    let base = vec!["--allow".to_owned(), s.s("home/work")];
    for (what, denied, script) in [
        (
            "rm",
            work.join("file"),
            format!("rm {}", work.join("file").display()),
        ),
        (
            "mv",
            work.join("proj"),
            format!(
                "mv {} {}",
                work.join("proj").display(),
                work.join("moved").display()
            ),
        ),
    ] {
        std::fs::write(work.join("file"), "x").unwrap();
        let first = nono_sh(&work, &home, &path, "run", &base, &script);
        assert_ne!(first.code, Some(0), "{what}: {first}");
        let line = line_for(&first, &denied);
        let flags = lift_flags(&line).unwrap_or_else(|| panic!("{what}: no lift: {line}"));
        let mut args = base.clone();
        args.extend(flags.iter().cloned());
        let second = nono_sh(&work, &home, &path, "run", &args, &script);
        assert_eq!(
            second.code,
            Some(0),
            "{what}: following {flags:?} did not fix it\n{second}"
        );
        if what == "mv" {
            std::fs::rename(work.join("moved"), work.join("proj")).unwrap();
        }
    }
    control(&work, &format!("rm {}", work.join("file").display()));
}

/// The lift of a spine whose carve-out protects secrets (`~/.ssh` → `~/dotfiles/ssh`, as
/// stow makes it): a command granted `~/dotfiles` that creates `~/dotfiles/new` — its own
/// choice — got the report and the start-up note to print `--read ~/dotfiles/ssh
/// --bypass-protection ~/dotfiles/ssh` as the fix, and following it gave the command the
/// private key. A carve-out that denies reading is no longer lifted by pasted flags: the
/// line says what lifting it would expose instead.
#[test]
fn redteam18_a_write_beside_a_secret_does_not_advise_exposing_it() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("rt18-lift-secret");
    let home = s.mkdir("home");
    let dot = s.mkdir("home/dotfiles");
    s.write("home/dotfiles/ssh/id_rsa", "PRIVATE-KEY\n");
    std::os::unix::fs::symlink("dotfiles/ssh", home.join(".ssh")).unwrap();
    let path = path_with(&[]);
    let key = dot.join("ssh/id_rsa");
    let script = format!(
        "touch {}; cat {} || true",
        dot.join("new").display(),
        key.display()
    );
    for (base, what) in [
        (vec!["--allow".to_owned(), s.s("home/dotfiles")], "report"),
        (vec!["--allow-cwd".to_owned()], "note"),
    ] {
        let first = nono_sh(&dot, &home, &path, "run", &base, &script);
        assert!(!first.stdout.contains("PRIVATE-KEY"), "{first}");
        let text = if what == "report" {
            line_for(&first, &dot.join("new"))
        } else {
            first
                .stderr
                .lines()
                .find(|l| l.contains("the working directory"))
                .unwrap_or_else(|| panic!("no note\n{first}"))
                .to_owned()
        };
        assert!(
            text.contains("credentials") && text.contains("could then read"),
            "{what}: {text}"
        );
        let Some(flags) = lift_flags(&text) else {
            continue;
        };
        let mut args = base.clone();
        args.extend(flags.iter().cloned());
        let second = nono_sh(&dot, &home, &path, "run", &args, &script);
        assert!(
            !second.stdout.contains("PRIVATE-KEY"),
            "{what}: following {flags:?} handed the command the key\n{second}"
        );
    }
    let out = Command::new("/bin/sh")
        .args(["-c", &script])
        .output()
        .expect("control");
    assert!(String::from_utf8_lossy(&out.stdout).contains("PRIVATE-KEY"));
}

/// `nono why` for a write under a read-only grant named the lift alone, which does not grant
/// the write (here a carve-out that denies reading, the only kind that makes a read grant a
/// spine), and for a spine spelt through a symlink named nothing. Following what `why`
/// prints now makes the write succeed without handing over what the carve-out protects,
/// and the symlinked spelling names the same lift as the canonical one.
#[test]
fn redteam18_why_names_a_lift_that_works() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("rt18-why-lift");
    let home = s.mkdir("home");
    let proj = s.mkdir("home/proj");
    let bin = s.mkdir("home/proj/.venv/bin");
    let dot = s.mkdir("home/dotfiles");
    s.write("home/dotfiles/ssh/id_rsa", "PRIVATE-KEY\n");
    std::os::unix::fs::symlink("dotfiles/ssh", home.join(".ssh")).unwrap();
    std::os::unix::fs::symlink("proj", home.join("plink")).unwrap();
    let path = path_with(&[&bin]);
    let why = |args: &[String], p: &Path, op: &str| {
        let mut cmd = nono_cmd(&proj);
        cmd.env("HOME", &home)
            .env("PATH", &path)
            .args(["why", "--op", op, "--path"])
            .arg(p)
            .args(args);
        output(&mut cmd)
    };
    let new = dot.join("new");
    let script = format!(
        "echo ok > {}; cat {}",
        new.display(),
        dot.join("ssh/id_rsa").display()
    );
    let read = vec!["--read".to_owned(), s.s("home/dotfiles")];
    let w = why(&read, &new, "write");
    assert_eq!(w.code, Some(1), "{w}");
    if let Some(flags) = lift_flags(&w.stdout) {
        let mut args = read.clone();
        args.extend(flags.iter().cloned());
        let run = nono_sh(&dot, &home, &path, "run", &args, &script);
        assert!(
            new.exists() && !run.stdout.contains("PRIVATE-KEY"),
            "following why's {flags:?}\n{w}\n{run}"
        );
    }
    // A grant that writes but does not read, asked for reading and writing: the spine's
    // lift alone would leave the read refused.
    let write = vec!["--write".to_owned(), s.s("home/proj")];
    let pnew = proj.join("new");
    let w = why(&write, &pnew, "readwrite");
    let flags = lift_flags(&w.stdout).unwrap_or_else(|| panic!("no lift\n{w}"));
    let mut args = write.clone();
    args.extend(flags.iter().cloned());
    let script = format!("echo ok > {0} && cat {0}", pnew.display());
    let run = nono_sh(&proj, &home, &path, "run", &args, &script);
    assert!(
        run.code == Some(0) && run.stdout.contains("ok"),
        "following why's {flags:?}\n{w}\n{run}"
    );
    let allow = vec!["--allow".to_owned(), s.s("home/proj")];
    let direct = why(&allow, &proj, "write");
    let linked = why(&allow, &home.join("plink"), "write");
    let want = lift_flags(&direct.stdout).expect("a lift for the spine itself");
    assert_eq!(
        lift_flags(&linked.stdout),
        Some(want),
        "the spine spelt through a link\n{linked}"
    );
}

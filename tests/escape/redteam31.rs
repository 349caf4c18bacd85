//! Red team 31 (session 16): the fixes of red teams 29 and 30 — the procfs broker reached
//! through a link (`into_proc`), the report of a reopen through a descriptor
//! (`report_reopen`), the check by identity, and the own-name translation of runtime
//! requests. See the section "Red team 31 (session 16)" of docs/THREAT_MODEL.md.

use std::process::{Command, Stdio};

use crate::harness::{nono_cmd, output, sandbox_available, Run, Scratch};

/// `nono run --allow PROJ ARGS -- /bin/sh -c SCRIPT`, in `PROJ`.
fn sh_in_nono(s: &Scratch, args: &[&str], script: &str) -> Run {
    let mut cmd = nono_cmd(&s.join("proj"));
    cmd.args(["run", "--allow", &s.s("proj")])
        .args(args)
        .args(["--", "/bin/sh", "-c", script]);
    output(&mut cmd)
}

/// `/bin/sh -c SCRIPT` unsandboxed, in `PROJ`: its stdout.
fn sh_bare(s: &Scratch, script: &str) -> String {
    let out = Command::new("/bin/sh")
        .args(["-c", script])
        .current_dir(s.join("proj"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Finding 1 (low, a report blind spot the command picks; red team 30 row 3's class). A read
/// outside the grants spelt through the command's own `root` or `cwd` magic link
/// (`/proc/self/root/OUT/x`, `cd OUT; cat /proc/self/cwd/x`) is `CONTINUE`d by the procfs
/// broker (a magic link: the kernel follows it) and Landlock refuses it — with no report
/// line, where `cat OUT/x` is reported. Now reported like the direct spelling, and the flag
/// named works.
#[test]
fn redteam31_a_read_through_the_commands_root_or_cwd_link_is_reported() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("rt31-root-link");
    s.mkdir("proj");
    s.write("out/x", "OUTSIDE\n");
    let (out, x) = (s.s("out"), s.s("out/x"));
    for script in [
        format!("cat /proc/self/root{x}"),
        format!("cd {out} && cat /proc/self/cwd/x"),
    ] {
        // Control: unsandboxed, the read works.
        assert!(sh_bare(&s, &script).contains("OUTSIDE"), "{script}");
        let r = sh_in_nono(&s, &[], &script);
        assert!(!r.stdout.contains("OUTSIDE"), "{script}: {r}");
        let fix = format!("denied read of {x} → add --read {out}");
        assert!(r.stderr.contains(&fix), "{script}: {r}");
        // The flag named works.
        let r = sh_in_nono(&s, &["--read", &out], &script);
        assert!(r.stdout.contains("OUTSIDE"), "{script}: {r}");
        assert!(!r.stderr.contains("denied"), "{script}: {r}");
    }
}

/// Finding 2 (low, a false report, and the supervisor reading another process's descriptors
/// with its own authority). `/proc/self/task/TID/fd/N`, with `TID` a process outside the
/// sandbox, names no entry (the kernel: `ENOENT`), but the procfs broker let it through (its
/// pid is the command's) and the report read `/proc/TID/fd/N` — the other process's
/// descriptor — and said `denied read of` its file, which the command never reached.
#[test]
fn redteam31_a_reopen_through_another_processs_thread_reports_nothing() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("rt31-task-fd");
    s.mkdir("proj");
    s.write("out/theirs", "THEIRS\n");
    let theirs = s.s("out/theirs");
    // A process outside the sandbox with the file open as fd 7.
    let mut outside = Command::new("/bin/sh")
        .args(["-c", &format!("exec 7<'{theirs}'; exec sleep 60")])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let pid = outside.id();
    let link = format!("/proc/{pid}/fd/7");
    for _ in 0..100 {
        if std::fs::read_link(&link).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(std::fs::read_link(&link).unwrap().to_string_lossy(), theirs);
    let script = format!(
        "cat /proc/self/task/{pid}/fd/7; cat /proc/$$/task/{pid}/fd/7; \
         cat /proc/thread-self/fd/7; true"
    );
    // Control: unsandboxed, no such entry either.
    assert!(!sh_bare(&s, &script).contains("THEIRS"));
    let r = sh_in_nono(&s, &[], &script);
    let _ = outside.kill();
    let _ = outside.wait();
    assert!(!r.stdout.contains("THEIRS"), "{r}");
    assert!(r.stderr.contains("No such file"), "{r}");
    assert!(!r.stderr.contains(&theirs), "{r}");
}

/// Finding 3 (low, a false refusal with a wrong errno, and a false line). A `..` after the
/// command's `cwd` link (`cd d; cat /proc/self/cwd/../f`, or through a symlink `l` →
/// `/proc/self/cwd/../f`) climbs from the working directory in the kernel's lookup, but the
/// broker normalised it lexically to `/proc/self/f` and the procfs broker answered `ENOENT` —
/// inside the grants; `lo` → `/proc/self/cwd/../../out/x` was reported as a read of
/// `/proc/out/x` ("no flag grants it"). Now a `..` beyond a magic link is the kernel's
/// (`CONTINUE`, Landlock judges what it reaches), reported like a reopen when refused.
#[test]
fn redteam31_a_dotdot_after_the_cwd_link_climbs_from_the_working_directory() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("rt31-cwd-dotdot");
    s.write("proj/f", "INSIDE\n");
    s.mkdir("proj/d");
    s.write("out/x", "OUTSIDE\n");
    let (out, x) = (s.s("out"), s.s("out/x"));
    // Also through a symlink into `/proc` (red team 30's `into_proc`, which normalised the
    // rest as well: `ENOENT`, and for `lo` a false line about `/proc/out/x`).
    std::os::unix::fs::symlink("/proc/self/cwd/../f", s.join("proj/l")).unwrap();
    std::os::unix::fs::symlink("/proc/self/cwd/../../out/x", s.join("proj/lo")).unwrap();
    for script in ["cd d && cat /proc/self/cwd/../f", "cd d && cat ../l"] {
        assert!(sh_bare(&s, script).contains("INSIDE"), "{script}");
        let r = sh_in_nono(&s, &[], script);
        assert!(r.stdout.contains("INSIDE"), "{script}: {r}");
        assert!(!r.stderr.contains("denied"), "{script}: {r}");
    }
    let script = "cd d && cat ../lo";
    assert!(sh_bare(&s, script).contains("OUTSIDE"));
    let r = sh_in_nono(&s, &[], script);
    assert!(!r.stdout.contains("OUTSIDE"), "{r}");
    assert!(!r.stderr.contains("/proc/out"), "{r}");
    assert!(
        r.stderr
            .contains(&format!("denied read of {x} → add --read {out}")),
        "{r}"
    );
    // Out of the grants so: refused by Landlock and reported, the flag works.
    let script = format!("cd {out} && cat /proc/self/cwd/../out/x");
    assert!(sh_bare(&s, &script).contains("OUTSIDE"));
    let r = sh_in_nono(&s, &[], &script);
    assert!(!r.stdout.contains("OUTSIDE"), "{r}");
    assert!(
        r.stderr
            .contains(&format!("denied read of {x} → add --read {out}")),
        "{r}"
    );
    let r = sh_in_nono(&s, &["--read", &out], &script);
    assert!(r.stdout.contains("OUTSIDE"), "{r}");
}

/// Finding 4 (low, advice that fails; the entry stays refused). An entry that exists at the
/// start, reached through a bind mount of the home `W/h` in an `--approve W` directory
/// (`W/h/.gemini/settings.json`), is refused by its identity (match form 3) — and the line
/// said `→ needs an explicit grant and --bypass-protection: --write-file W/h/…
/// --bypass-protection W/h/…`, which nono then refused to start with ("no deny group
/// protects this path, so there is nothing to bypass"). Red team 29's own-name refusal of an
/// entry made during the run says what works: no flag under this name, use the own path.
/// Now the own name is asked before the identities, so both forms say that, and the own
/// path's flags work.
#[test]
fn redteam31_an_entry_reached_by_another_name_names_its_own_path() {
    if !sandbox_available() || !rustix::process::geteuid().is_root() {
        return;
    }
    let s = Scratch::new("rt31-own-advice");
    let _mounts = crate::redteam23::Mounts(s.join("w"));
    s.mkdir("proj");
    s.write("home/.gemini/settings.json", "{}\n");
    crate::redteam23::rebind(&s.join("home"), &s.mkdir("w/h"));
    let (f, own) = (
        s.s("w/h/.gemini/settings.json"),
        s.s("home/.gemini/settings.json"),
    );
    let run = |extra: &[&str]| {
        let mut cmd = nono_cmd(&s.join("proj"));
        cmd.env("HOME", s.join("home"))
            .args(["run", "--allow", &s.s("proj"), "--approve", &s.s("w")])
            .args(extra)
            .args(["--", "/bin/sh", "-c"])
            .arg(format!("echo planted > {f} && echo wrote; true"));
        output(&mut cmd)
    };
    let r = run(&[]);
    assert!(!r.stdout.contains("wrote"), "{r}");
    let line = format!(
        "denied write of {f}: it is {own} reached by another name, which deny group `autorun` \
         protects → no flag grants it under this name; use it by its own path, {own}"
    );
    assert!(r.stderr.contains(&line), "{r}");
    // What the old line advised does not start.
    let r = run(&["--write-file", &f, "--bypass-protection", &f]);
    assert!(r.stderr.contains("nothing to bypass"), "{r}");
    // The own path's flags work.
    let r = run(&["--write-file", &own, "--bypass-protection", &own]);
    assert!(r.stdout.contains("wrote"), "{r}");
    assert_eq!(
        std::fs::read_to_string(s.join("home/.gemini/settings.json")).unwrap(),
        "planted\n"
    );
}

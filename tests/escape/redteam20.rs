//! Red team 20: c7a0a56, a path operation the kernel fails before Landlock is asked
//! (`path_ops::fails_first`) is answered `CONTINUE` under runtime grants. See the section
//! "Red team 20 (session 12)" of docs/THREAT_MODEL.md.

use std::path::Path;
use std::process::Command;

use crate::harness::{nono, sandbox_available, Scratch};

const PERL: &str = "/usr/bin/perl";

/// Perl: `rename` and `link` of the missing `MISSING` to the new names `NEW` and `NEW2`, each
/// printing its errno; then a `rename` of the existing `HAVE` to `MOVED` (a real refusal).
fn script(missing: &Path, new: &Path, new2: &Path, have: &Path, moved: &Path) -> String {
    format!(
        r#"rename("{m}", "{n}") or print "rename: ", $!+0, "\n";
           link("{m}", "{n2}") or print "link: ", $!+0, "\n";
           rename("{h}", "{mv}") or print "moved: ", $!+0, "\n";"#,
        m = missing.display(),
        n = new.display(),
        n2 = new2.display(),
        h = have.display(),
        mv = moved.display(),
    )
}

/// A `rename` or `link` whose source does not exist fails with `ENOENT` before Landlock is
/// asked, sandbox or not — whatever its new name. The report judged each name alone: the new
/// name, outside the grants, was reported denied with a flag (`--write DIR`) that changes
/// nothing, and `nono learn` wrote that grant into the profile it learned. Now one name the
/// kernel fails first keeps the whole call out of the report and the learned profile, under
/// `--approve` (c7a0a56's path) and without. Control: unsandboxed, the calls fail `ENOENT`;
/// a rename of a file that exists is still refused and reported.
#[test]
fn redteam20_a_call_failed_first_for_one_name_reports_and_learns_nothing_for_the_other() {
    if !sandbox_available() || !Path::new(PERL).exists() {
        return;
    }
    let s = Scratch::new("rt20-failed-first");
    let approved = s.mkdir("appr");
    let other = s.mkdir("other");
    let (missing, new, new2) = (other.join("missing"), other.join("new"), other.join("new2"));
    let (have, moved) = (approved.join("have"), other.join("moved"));
    std::fs::write(&have, b"x").unwrap();
    let js = script(&missing, &new, &new2, &have, &moved);
    let enoent = rustix::io::Errno::NOENT.raw_os_error();

    // Control: unsandboxed, both calls fail with ENOENT (and the real rename works).
    let c = Command::new(PERL).args(["-e", &js]).output().unwrap();
    let stdout = String::from_utf8_lossy(&c.stdout);
    assert!(stdout.contains(&format!("rename: {enoent}")), "{stdout}");
    assert!(stdout.contains(&format!("link: {enoent}")), "{stdout}");
    assert!(moved.exists() && !have.exists());
    std::fs::rename(&moved, &have).unwrap();

    let a = approved.display().to_string();
    for args in [vec!["--approve", a.as_str()], vec!["--write", a.as_str()]] {
        let mut all = vec!["run"];
        all.extend(&args);
        all.extend([PERL, "-e", &js]);
        all.insert(1 + args.len(), "--");
        let out = nono(&s.path, &all);
        out.expect_code(0);
        assert!(out.stdout.contains(&format!("rename: {enoent}")), "{out}");
        assert!(out.stdout.contains(&format!("link: {enoent}")), "{out}");
        assert!(
            out.stdout.contains(&format!(
                "moved: {}",
                rustix::io::Errno::ACCESS.raw_os_error()
            )),
            "{out}"
        );
        assert!(have.exists() && !moved.exists(), "{out}");
        let denied: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.starts_with("nono: denied"))
            .collect();
        assert!(
            !denied.iter().any(|l| l.contains(&new.display().to_string())
                || l.contains(&new2.display().to_string())),
            "{args:?}: a call that failed with ENOENT was reported: {out}"
        );
        // The real refusal is still reported.
        assert!(
            denied
                .iter()
                .any(|l| l.contains(&moved.display().to_string())),
            "{args:?}: {out}"
        );
    }

    // Learning: nothing to learn from calls the kernel failed first.
    let p = s.join("learned.json").display().to_string();
    let js = script(&missing, &new, &new2, &missing, &new);
    let out = nono(&s.path, ["learn", "-o", &p, "--", PERL, "-e", &js]);
    out.expect_code(0);
    let text = std::fs::read_to_string(&p).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(
        !v["filesystem"].to_string().contains("other"),
        "learned a grant from calls that failed with ENOENT: {text}"
    );
}

/// A path through the child's own `/proc` entries — `mkdir /dev/fd/N/x`, `/proc/self/fd/N/x`,
/// `/proc/self/cwd/x` — was read by the supervisor as its own: `self` was the supervisor, so
/// a refusal in the child's directory was reported for the supervisor's cwd (with a
/// `--write` flag for a directory the call never touched) or not at all (the supervisor's
/// fd `N`), and under `--approve DIR` the call was left to Landlock (refused) or brokered for
/// the supervisor's directory. Now such a path is the rest relative to the child's fd or cwd,
/// as for `mkdirat(N, "x")`. Control: unsandboxed, the three calls make the names.
#[test]
fn redteam20_a_path_through_the_childs_own_proc_entries_is_the_childs() {
    if !sandbox_available() || !Path::new(PERL).exists() {
        return;
    }
    let s = Scratch::new("rt20-own-proc");
    let other = s.mkdir("other");
    let o = other.display().to_string();
    // O_PATH | O_DIRECTORY (Fcntl's numbers: O_DIRECTORY differs between architectures).
    let js = format!(
        r#"use Fcntl; my $fl = (eval {{ Fcntl::O_PATH() }} // 010000000) | O_DIRECTORY;
           sysopen(my $d, "{o}", $fl) or die "open: $!"; my $n = fileno($d);
           mkdir("/dev/fd/$n/a") or print "a: $!\n";
           mkdir("/proc/self/fd/$n/b") or print "b: $!\n";
           chdir("{o}") or die "chdir: $!";
           mkdir("/proc/self/cwd/c") or print "c: $!\n";"#
    );
    let made = |n: &str| other.join(n).exists();
    let clean = || {
        for n in ["a", "b", "c"] {
            let _ = std::fs::remove_dir(other.join(n));
        }
    };

    // Control: unsandboxed, the three names are made in OTHER.
    let c = Command::new(PERL).args(["-e", &js]).output().unwrap();
    assert!(c.status.success(), "{c:?}");
    assert!(made("a") && made("b") && made("c"), "{c:?}");
    clean();

    // Refused: each is reported for OTHER/NAME, nothing for nono's own cwd.
    let out = nono(&s.path, ["run", "--", PERL, "-e", &js]);
    out.expect_code(0);
    assert!(!made("a") && !made("b") && !made("c"), "{out}");
    for n in ["a", "b", "c"] {
        let want = format!("nono: denied write of {} (mkdir)", other.join(n).display());
        assert!(
            out.stderr.contains(&want),
            "{n} not reported as {want}: {out}"
        );
    }
    let wrong = format!("denied write of {} (mkdir)", s.join("c").display());
    assert!(
        !out.stderr.contains(&wrong),
        "reported for nono's cwd: {out}"
    );

    // Approved: the calls work, as `mkdirat(N, ...)` and a relative path do.
    let out = nono(&s.path, ["run", "--approve", &o, "--", PERL, "-e", &js]);
    out.expect_code(0);
    assert!(made("a") && made("b") && made("c"), "{out}");
    assert!(!out.stderr.contains("nono: denied"), "{out}");
}

//! Red team 30 (session 16): 99a8120 (a read through a symlink inside the grants is judged
//! where it leads) and 2abd931 (calls the supervisor could not read are counted). See the
//! section "Red team 30 (session 16)" of docs/THREAT_MODEL.md.

use std::os::unix::fs::{chown, symlink, PermissionsExt};
use std::process::{Command, Stdio};

use crate::harness::{nono_bin, nono_cmd, output, sandbox_available, Run, Scratch};
use crate::programs::{bins, Outcome};

/// `nono run --allow PROJ ARGS -- /bin/sh -c SCRIPT`, in `PROJ`.
fn sh_in_nono(s: &Scratch, args: &[&str], script: &str) -> Run {
    let mut cmd = nono_cmd(&s.join("proj"));
    cmd.args(["run", "--allow", &s.s("proj")])
        .args(args)
        .args(["--", "/bin/sh", "-c", script]);
    output(&mut cmd)
}

/// Finding 1 (pre-existing; the blind spot 99a8120 meant to close, left open for `/proc`). A
/// read through a symlink inside the grants that leads into `/proc` — `/etc/mtab` (→
/// `../proc/self/mounts` on every current distribution), `proj/st` → `/proc/self/status`,
/// `proj/sp` → `/proc/self` then `cat proj/sp/status` — was answered `CONTINUE` (the
/// supervisor's resolution refuses `/proc`, rightly: its `self` is not the command's) and
/// Landlock, which grants nothing under `/proc` when opens are trapped, refused it: `cat
/// /etc/mtab` failed with `EACCES` where `cat /proc/self/mounts` works, and nothing was
/// reported — nor was `proj/e1` → `/proc/PID/environ` of a process outside, which the procfs broker refuses *and
/// reports* when spelled directly. Now the link is followed as the command's lookup goes, by
/// name, up to `/proc`, and the rest is the procfs broker's, as if spelled directly: the
/// command's own entries are served, another process's refused and reported.
#[test]
fn redteam30_a_read_through_a_symlink_into_proc_is_the_procfs_brokers() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("rt30-proc-link");
    s.mkdir("proj");
    symlink("/proc/self/status", s.join("proj/st")).unwrap();
    symlink("/proc/self", s.join("proj/sp")).unwrap();
    // A process outside the sandbox (the test's own child).
    let mut outside = Command::new("sleep").arg("60").spawn().unwrap();
    let environ = format!("/proc/{}/environ", outside.id());
    symlink(&environ, s.join("proj/e1")).unwrap();
    let mtab = std::fs::read_link("/etc/mtab")
        .is_ok_and(|t| t.to_string_lossy().contains("proc/self/mounts"));
    let script = "head -n1 ./st; head -n1 ./sp/status; \
         if [ -L /etc/mtab ]; then printf 'mtab:'; head -c5 /etc/mtab; echo; fi; \
         head -c1 ./e1 >/dev/null && echo read-e1; true";
    // Control: unsandboxed (as root), every read works.
    let bare = Command::new("/bin/sh")
        .args(["-c", script])
        .current_dir(s.join("proj"))
        .output()
        .unwrap();
    let bare = String::from_utf8_lossy(&bare.stdout).into_owned();
    assert_eq!(bare.matches("Name:").count(), 2, "{bare}");
    assert!(bare.contains("read-e1"), "{bare}");
    let r = sh_in_nono(&s, &[], script);
    assert_eq!(
        r.stdout.matches("Name:").count(),
        2,
        "the command's own /proc entries through a link: {r}"
    );
    if mtab {
        // The same first bytes as the unsandboxed read (one mount namespace).
        let line = |out: &str| {
            out.lines()
                .find(|l| l.starts_with("mtab:"))
                .map(str::to_owned)
        };
        let want = line(&bare).expect("the control read /etc/mtab");
        assert!(want.len() > "mtab:".len(), "{bare}");
        assert_eq!(line(&r.stdout), Some(want), "/etc/mtab: {r}");
    }
    assert!(!r.stdout.contains("read-e1"), "{r}");
    assert!(
        r.stderr.contains(&environ),
        "another process's entry through a link is reported: {r}"
    );
    let _ = outside.kill();
    let _ = outside.wait();
}

/// Finding 2 (2abd931; a silent downgrade). Under an unprivileged nono, a command that made
/// itself non-dumpable has its `fchmod` of a file it opened for writing inside its grants
/// fail: the metadata broker's `pidfd_getfd` of the descriptor is refused (`EPERM`, the same
/// ptrace check as `process_vm_readv`) and was answered `EBADF` — a wrong errno — and not
/// counted among the calls that could not be read, so no line said why. A `chmod` inside
/// the grants fails too (`EPERM`), and the line said only that "the sandbox still refused
/// whatever the grants do not allow". Now the descriptor copy counts as the read it is, and
/// the line says that calls nono carries out for the command failed even inside its grants.
/// Control: without `nodump` both succeed. A program the user may execute but not read is
/// non-dumpable too (the kernel's rule at `execve`): the line blamed `prctl` alone.
#[test]
fn redteam30_a_non_dumpable_commands_fd_calls_are_counted_and_said() {
    let Some(b) = bins() else { return };
    let Some(user) = crate::users::TestUser::create("rt30fd") else {
        return;
    };
    let s = Scratch::new("rt30-nodump-fd");
    let w = s.mkdir("w");
    s.write("w/f", "x\n");
    chown(&w, Some(user.uid), Some(user.gid)).unwrap();
    chown(s.join("w/f"), Some(user.uid), Some(user.gid)).unwrap();
    let f = s.s("w/f");
    let run = |steps: &[&str]| {
        let mut cmd = user.command(nono_bin());
        cmd.current_dir(&w)
            .stdin(Stdio::null())
            .args(["run", "--read", &b.dir_s(), "--allow", &s.s("w"), "--"])
            .arg(b.probe())
            .args(steps);
        Outcome::parse(output(&mut cmd))
    };
    let steps = [
        "nodump", "nodump", "fchmodw", "fchmod", &f, "600", "chmod", "chmod", &f, "644",
    ];
    // Control: dumpable, both changes are made.
    let out = run(&steps[2..]);
    out.expect(&[("fchmod.open", "ok"), ("fchmod", "ok"), ("chmod", "ok")]);
    let out = run(&steps);
    out.expect(&[
        ("nodump", "ok"),
        ("fchmod.open", "ok"),
        ("fchmod", "EPERM"),
        ("chmod", "EPERM"),
    ]);
    assert!(
        out.run
            .stderr
            .contains("3 trapped calls of the command could not be read"),
        "the open, the fchmod and the chmod: {}",
        out.run
    );
    assert!(
        out.run.stderr.contains("failed even inside the grants"),
        "{}",
        out.run
    );
    // A program the user may execute but not read (mode 0711) is non-dumpable from its
    // `execve` on, without any `prctl`: the line names that cause too.
    let xbin = s.mkdir("xbin");
    let probe = xbin.join("probe");
    std::fs::copy(b.probe(), &probe).unwrap();
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o711)).unwrap();
    std::fs::set_permissions(&xbin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = user.command(nono_bin());
    cmd.current_dir(&w)
        .stdin(Stdio::null())
        .args(["run", "--read", &s.s("xbin"), "--allow", &s.s("w"), "--"])
        .arg(&probe)
        .args(&steps[6..]);
    let out = Outcome::parse(output(&mut cmd));
    out.expect(&[("chmod", "EPERM")]);
    assert!(
        out.run.stderr.contains("may execute but not read"),
        "{}",
        out.run
    );
}

/// Finding 3 (pre-existing; "a hostile command hiding its refused reads from the report").
/// An `O_PATH` open is not checked by Landlock and is answered `CONTINUE`; the reopen of
/// that descriptor through `/proc/self/fd/N` is a magic link of the command's own, also
/// `CONTINUE`, and Landlock refuses it on the file's path — with no report line. Any refused
/// read could be hidden so (and a program that opens `O_PATH` first, then reopens, had its
/// refusals unexplained). Now such a reopen is recorded like the open spelled directly:
/// `--read OUT` for a file outside the grants (and that flag works), the deny group's line
/// for a protected key. Also `ls /dev/fd` (the directory `/proc/self/fd`, which the procfs
/// broker lists when named so) was refused by Landlock, unreported; now it is listed.
#[test]
fn redteam30_a_read_reopened_through_its_descriptor_is_reported() {
    let Some(b) = bins() else { return };
    let s = Scratch::new("rt30-reopen");
    s.mkdir("proj");
    s.write("out/x", "OUTSIDE\n");
    let x = s.s("out/x");
    let steps = ["opath_reopen", "r", &x];
    let out = crate::programs::probe_bare(&s.join("proj"), &steps);
    out.expect(&[("r.opath", "ok"), ("r", "ok")]);
    let nono = |args: &[&str]| {
        let mut cmd = nono_cmd(&s.join("proj"));
        cmd.args(["run", "--allow", &s.s("proj"), "--read", &b.dir_s()])
            .args(args)
            .arg("--")
            .arg(b.probe())
            .args(steps);
        Outcome::parse(output(&mut cmd))
    };
    let out = nono(&[]);
    out.expect(&[("r.opath", "ok"), ("r", "EACCES")]);
    let out_dir = s.s("out");
    let fix = format!("denied read of {x} → add --read {out_dir}");
    assert!(out.run.stderr.contains(&fix), "{}", out.run);
    // The flag the report names works.
    let out = nono(&["--read", &out_dir]);
    out.expect(&[("r.opath", "ok"), ("r", "ok")]);
    assert!(!out.run.stderr.contains("denied"), "{}", out.run);
    // `/dev/fd` is listed, and reopening the command's own stdin or a pipe says nothing.
    let r = sh_in_nono(
        &s,
        &[],
        "ls /dev/fd/ >/dev/null && echo listed; echo hi | cat /dev/stdin; true",
    );
    assert!(
        r.stdout.contains("listed") && r.stdout.contains("hi"),
        "{r}"
    );
    assert!(!r.stderr.contains("denied"), "{r}");
}

/// Finding 4 (99a8120; a false refusal of what worked before). A read through a symlink
/// inside the grants to another name of a granted directory — `proj/l` → `MNT/x`, where
/// `MNT` is a bind mount (made by the user, outside the sandbox) of `SRV`, given with
/// `--read SRV` — is let through by Landlock, whose rules are on inodes. Since 99a8120 the
/// supervisor judged it by the name it leads to: without `--approve` the read worked but a
/// false line said `denied read of MNT/x → add --read MNT`; under `--approve` (for anything
/// else) the engine refused it (`EACCES`) where it had worked before. Now a path Landlock
/// lets through by identity (the object and its parents, across mount points, against the
/// rules' own inodes) is answered `CONTINUE` like one it lets through by name. Without the
/// grant, the read is still refused and reported.
#[test]
fn redteam30_a_read_through_a_symlink_to_a_bind_mount_of_a_grant_works() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("rt30-bind");
    s.mkdir("proj");
    s.write("srv/x", "BOUND\n");
    let mnt = s.mkdir("mnt");
    s.mkdir("other");
    let _mounts = crate::redteam23::Mounts(mnt.clone());
    if !crate::redteam23::bind(&s.join("srv"), &mnt) {
        eprintln!("skipping: cannot bind-mount here");
        return;
    }
    symlink(mnt.join("x"), s.join("proj/l")).unwrap();
    let script = "cat ./l; true";
    let srv = s.s("srv");
    let line = format!("denied read of {}/x", s.s("mnt"));
    let r = sh_in_nono(&s, &["--read", &srv], script);
    assert!(r.stdout.contains("BOUND"), "{r}");
    assert!(!r.stderr.contains(&line), "a false report line: {r}");
    let r = sh_in_nono(&s, &["--read", &srv, "--approve", &s.s("other")], script);
    assert!(r.stdout.contains("BOUND"), "refused under --approve: {r}");
    assert!(!r.stderr.contains(&line), "{r}");
    // Without the grant: refused, and reported.
    let r = sh_in_nono(&s, &[], script);
    assert!(!r.stdout.contains("BOUND"), "{r}");
    assert!(r.stderr.contains(&line), "{r}");
}

//! What the supervisor cannot see is said, not passed over (session 16): "no silent
//! downgrade" for the denial report.

use std::os::unix::fs::chown;
use std::process::Stdio;

use crate::harness::{nono_bin, output, Scratch};
use crate::programs::{bins, probe_in, Mode, Outcome};

/// A command that makes itself non-dumpable (`prctl(PR_SET_DUMPABLE, 0)`) forbids a
/// supervisor without `CAP_SYS_PTRACE` (an unprivileged user's nono) to read its memory, so
/// the arguments of its trapped calls: its open of a file outside the grants was answered
/// `CONTINUE` unseen — Landlock refused it, and the report said nothing (found in session 16).
/// Now the run ends with a line saying how many calls could not be read and what that means.
/// As root (`CAP_SYS_PTRACE`) the supervisor still reads them: the refusal is listed as usual
/// and no such line is printed.
#[test]
fn a_command_that_hides_its_memory_is_reported_unread() {
    let Some(b) = bins() else { return };
    let Some(user) = crate::users::TestUser::create("unread") else {
        return;
    };
    let s = Scratch::new("unread");
    s.write("out/secret", "S\n");
    let w = s.mkdir("w");
    chown(&w, Some(user.uid), Some(user.gid)).unwrap();
    let secret = s.s("out/secret");
    let steps = ["nodump", "nodump", "read", "secret", &secret];
    let line = "trapped call of the command could not be read";
    let mut cmd = user.command(nono_bin());
    cmd.current_dir(&w)
        .stdin(Stdio::null())
        .args(["run", "--read", &b.dir_s(), "--allow", &s.s("w"), "--"])
        .arg(b.probe())
        .args(steps);
    let out = Outcome::parse(output(&mut cmd));
    out.expect(&[("nodump", "ok"), ("secret", "EACCES")]);
    assert!(out.run.stderr.contains(line), "{}", out.run);
    // Without `nodump` the refusal is listed, and nothing is unread.
    let mut cmd = user.command(nono_bin());
    cmd.current_dir(&w)
        .stdin(Stdio::null())
        .args(["run", "--read", &b.dir_s(), "--allow", &s.s("w"), "--"])
        .arg(b.probe())
        .args(&steps[2..]);
    let out = Outcome::parse(output(&mut cmd));
    out.expect(&[("secret", "EACCES")]);
    assert!(
        out.run.stderr.contains(&format!("denied read of {secret}")),
        "{}",
        out.run
    );
    assert!(!out.run.stderr.contains(line), "{}", out.run);
    // As root the supervisor reads a non-dumpable command's memory: the refusal is listed.
    let out = probe_in(Mode::Run, &w, &["--allow", &s.s("w")], &steps);
    out.expect(&[("nodump", "ok"), ("secret", "EACCES")]);
    assert!(
        out.run.stderr.contains(&format!("denied read of {secret}")),
        "{}",
        out.run
    );
    assert!(!out.run.stderr.contains(line), "{}", out.run);
}

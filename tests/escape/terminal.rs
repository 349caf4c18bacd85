//! Terminal injection: TIOCSTI (also with bits above 32 set in the request) and TIOCLINUX on
//! the sandboxed program's terminal, given as a real pseudo-terminal by `c/ptyrun.c`.
//! Injected input is echoed by the terminal, so "not in what the terminal showed" means
//! nothing was injected; EPERM (seccomp) is told apart from the kernel's own ENOTTY.

use std::process::Command;

use crate::harness::{output, Scratch};
use crate::programs::{bins, nono_s, Outcome, MODES};

#[test]
fn terminal_tiocsti_and_tioclinux_refused() {
    let Some(b) = bins() else { return };
    let (m1, m2, m3) = ("injzqa", "injzqb", "injzqc");
    let probe = b.probe().display().to_string();
    let steps = [
        "isatty",
        "stdin_is_tty",
        "0",
        "tiocsti",
        "tiocsti",
        "0",
        m1,
        "tiocsti_hi",
        "tiocsti_hi",
        "0",
        m2,
        "tioclinux",
        "tioclinux",
        "0",
        "devtty",
        "dev_tty",
        m3,
    ];
    for mode in MODES {
        let s = Scratch::new(&format!("tty-{}", mode.as_str()));
        let mut cmd = Command::new(b.ptyrun());
        cmd.current_dir(&s.path)
            .args([
                nono_s().as_str(),
                mode.as_str(),
                "-s",
                "--read",
                &b.dir_s(),
                "--",
                &probe,
            ])
            .args(steps);
        let out = Outcome::parse(output(&mut cmd));
        out.expect(&[
            ("stdin_is_tty", "ok"),
            ("tiocsti", "EPERM"),
            ("tiocsti_hi", "EPERM"),
            ("tioclinux", "EPERM"),
            ("dev_tty.open", "ok"),
            ("dev_tty", "EPERM"),
        ]);
        for m in [m1, m2, m3] {
            out.never_printed(m);
        }

        // Control: on the same kind of terminal, unsandboxed, the injection works (and is
        // echoed); TIOCLINUX on a pseudo-terminal is the kernel's ENOTTY, not EPERM.
        let mut cmd = Command::new(b.ptyrun());
        cmd.current_dir(&s.path).arg(&probe).args(steps);
        let control = Outcome::parse(output(&mut cmd));
        control.expect(&[
            ("stdin_is_tty", "ok"),
            ("tioclinux", "ENOTTY"),
            ("dev_tty.open", "ok"),
        ]);
        for m in [m1, m2, m3] {
            assert!(
                control.run.stdout.contains(m),
                "control did not inject {m}\n{}",
                control.run
            );
        }
    }
}

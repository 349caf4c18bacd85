//! Terminal injection: TIOCSTI (also with bits above 32 set in the request) and TIOCLINUX on
//! the sandboxed program's terminal, given as a real pseudo-terminal by `c/ptyrun.c`.
//! Injected input is echoed by the terminal, so "not in what the terminal showed" means
//! nothing was injected; EPERM (seccomp) is told apart from the kernel's own ENOTTY. Also:
//! other terminals on the machine, opened by name under /dev/pts.

use std::process::Command;

use crate::harness::{output, Scratch};
use crate::programs::{bins, nono_s, probe_bare, probe_in, Outcome, MODES};

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

/// Other terminals under `/dev/pts` (the user's other tabs; as root, every one) cannot be
/// opened by name: the default profile does not grant `/dev/pts` (under `run` the supervisor
/// grants only the PTY it allocated, by name; under `wrap` and piped runs the command uses
/// the terminal fds it inherited). Before, the sandboxed program read the line typed there
/// (a password, a prompt's answer) and wrote fake output into it.
#[test]
fn terminal_other_terminals_refused() {
    use rustix::fs::{Mode as FsMode, OFlags};
    use rustix::pty::OpenptFlags;
    use std::io::{Read, Write};

    let Some(_) = bins() else { return };
    for mode in MODES {
        let s = Scratch::new(&format!("tty-other-{}", mode.as_str()));
        // Another terminal: the test holds the master (the terminal emulator) and a slave
        // (the shell running in it); the user has typed a line that the shell has not read.
        let master = rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
        rustix::pty::grantpt(&master).unwrap();
        rustix::pty::unlockpt(&master).unwrap();
        let name = rustix::pty::ptsname(&master, Vec::new()).unwrap();
        let shell_side = rustix::fs::open(
            name.as_c_str(),
            OFlags::RDWR | OFlags::NOCTTY,
            FsMode::empty(),
        )
        .unwrap();
        let mut master = std::fs::File::from(master);
        master.write_all(b"hunter2\n").unwrap();
        let pts = name.to_string_lossy().into_owned();

        let out = probe_in(
            mode,
            &s.path,
            &[],
            &["read", "steal", &pts, "write", "spoof", &pts],
        );
        out.expect(&[("steal", "EACCES"), ("spoof", "EACCES")])
            .never_printed("hunter2");
        rustix::fs::fcntl_setfl(&master, OFlags::NONBLOCK).unwrap();
        let mut shown = Vec::new();
        let _ = master.read_to_end(&mut shown);
        assert!(
            !String::from_utf8_lossy(&shown).contains("PWNED"),
            "{:?}",
            String::from_utf8_lossy(&shown)
        );
        // The typed line is still there for the other terminal's own reader.
        let mut shell_side = std::fs::File::from(shell_side);
        rustix::fs::fcntl_setfl(&shell_side, OFlags::NONBLOCK).unwrap();
        let mut typed = [0u8; 64];
        let n = shell_side.read(&mut typed).unwrap();
        assert_eq!(&typed[..n], b"hunter2\n");
        // Control: unsandboxed, the same probe steals the line.
        master.write_all(b"hunter2\n").unwrap();
        let control = probe_bare(&s.path, &["read", "steal", &pts]);
        assert_eq!(control.data("steal"), Some("hunter2\\n"), "{}", control.run);
    }
}

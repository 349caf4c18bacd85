//! Inherited descriptors: a careless parent leaves fds open across exec (a file, an O_PATH
//! directory, a TCP connection, all opened outside any grant). Landlock checks paths at open
//! time only, so an fd that reaches the sandboxed program is full access; nono must close them.

use std::io::Read;
use std::net::TcpListener;
use std::process::Command;

use crate::harness::{output, Scratch};
use crate::programs::{bins, marker, nono_s, Bins, Mode, Outcome};

/// `fdrun 7 file:SECRET 8 dir:OUT 9 tcp:PORT -- [nono MODE --read BINS --] probe ...`;
/// returns the probe's outcome and what arrived on the TCP connection.
fn leak(b: &Bins, s: &Scratch, mode: Option<Mode>) -> (Outcome, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut cmd = Command::new(b.fdrun());
    cmd.current_dir(&s.path).args([
        "7",
        &format!("file:{}", s.s("out/secret.txt")),
        "8",
        &format!("dir:{}", s.s("out")),
        "9",
        &format!("tcp:{port}"),
        "--",
    ]);
    if let Some(mode) = mode {
        // --block-net: a leaked connection must not be a way around it.
        cmd.args([
            nono_s().as_str(),
            mode.as_str(),
            "--block-net",
            "--read",
            &b.dir_s(),
            "--",
        ]);
    }
    cmd.arg(b.probe()).args([
        "readfd",
        "file_fd",
        "7",
        "readat",
        "dir_fd",
        "8",
        "secret.txt",
        "writefd",
        "socket_fd",
        "9",
        "LEAKED",
        "fds",
        "open_fds",
    ]);
    let out = Outcome::parse(output(&mut cmd));
    // fdrun connected before exec; every copy of that socket is closed once it has exited,
    // so reading to the end is deterministic.
    let (mut conn, _) = listener.accept().expect("fdrun's connection");
    let mut got = String::new();
    conn.read_to_string(&mut got).unwrap();
    (out, got)
}

/// Under `mode` every leaked descriptor is gone (`EBADF`), the secret never printed and
/// nothing sent on the inherited connection; nothing is open above stderr at all: not the
/// leaked fds, not nono's own (seccomp listener, socketpair, pidfd).
#[track_caller]
fn assert_all_closed(b: &Bins, s: &Scratch, mode: Mode, secret: &str) {
    let (out, got) = leak(b, s, Some(mode));
    out.expect(&[
        ("file_fd.fcntl", "EBADF"),
        ("file_fd", "EBADF"),
        ("dir_fd", "EBADF"),
        ("socket_fd", "EBADF"),
    ])
    .never_printed(secret);
    assert_eq!(out.data("open_fds"), Some(""), "{}", out.run);
    assert_eq!(
        got, "",
        "data went out on the inherited socket\n{}",
        out.run
    );
}

#[test]
fn inherited_fds_closed_under_run() {
    let Some(b) = bins() else { return };
    let s = Scratch::new("fds-run");
    let secret = marker("fd");
    s.write("out/secret.txt", &secret);
    assert_all_closed(b, &s, Mode::Run, &secret);

    let (control, got) = leak(b, &s, None);
    control.expect(&[("file_fd", "ok"), ("dir_fd", "ok"), ("socket_fd", "ok")]);
    assert_eq!(control.data("file_fd"), Some(secret.as_str()));
    assert_eq!(got, "LEAKED");
}

/// `nono wrap` marks every descriptor it inherited above stderr close-on-exec right before
/// it execs the command (`nono_sandbox::linux::cloexec_inherited_fds`), as the supervisor's
/// child does under `run`: the leaked file and socket are gone (`EBADF`), nothing is sent
/// on the inherited connection. (A leaked `O_PATH` directory was never a way out: opening
/// beneath it is checked.)
#[test]
fn inherited_fds_closed_under_wrap() {
    let Some(b) = bins() else { return };
    let s = Scratch::new("fds-wrap");
    let secret = marker("fd-wrap");
    s.write("out/secret.txt", &secret);
    assert_all_closed(b, &s, Mode::Wrap, &secret);
}

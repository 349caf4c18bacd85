//! `nono run` and pathname Unix sockets: a socket served outside the sandbox (a tmux server's,
//! in a directory the command may write) is refused and reported with the flag that grants
//! it; granted by itself it is reached.

use std::io::Read;
use std::os::unix::net::UnixListener;

use crate::harness::{nono, sandbox_available, Scratch};

/// Connect to argv[1] and send a tmux-like command; exit 3 when refused.
const CONNECT: &str = "
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print('refused', e.errno)
    sys.exit(3)
s.sendall(b'send-keys -t 0 touch-escaped Enter')
print('connected')
";

/// Everything the connections `l` accepted carried (every peer has closed by now; the read
/// timeout only guards against a descriptor left open).
fn received(l: &UnixListener) -> (usize, Vec<u8>) {
    let (mut n, mut bytes) = (0, Vec::new());
    while let Ok((mut c, _)) = l.accept() {
        n += 1;
        c.set_nonblocking(false).unwrap();
        c.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        c.read_to_end(&mut bytes)
            .expect("a connection was left open");
    }
    (n, bytes)
}

#[test]
fn run_refuses_a_tmux_like_socket_served_outside_the_sandbox() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("unix-tmux");
    s.mkdir("tmux-0");
    let sock = s.s("tmux-0/default");
    let server = UnixListener::bind(&sock).unwrap();
    server.set_nonblocking(true).unwrap();

    // A write grant on the directory is not enough: the server is not the sandbox's.
    let out = nono(
        &s.path,
        [
            "run",
            "--allow",
            &s.s(""),
            "--",
            "/usr/bin/python3",
            "-c",
            CONNECT,
            &sock,
        ],
    );
    out.expect_code(3)
        .stdout_has("refused 13")
        .stderr_has(&format!(
            "nono: denied write of {sock} (connect) → add --allow-file {sock}"
        ));
    let (_, bytes) = received(&server);
    assert!(bytes.is_empty(), "the outside server received {bytes:?}");

    // Granted by itself: reached.
    let out = nono(
        &s.path,
        [
            "run",
            "--allow",
            &s.s(""),
            "--allow-file",
            &sock,
            "--",
            "/usr/bin/python3",
            "-c",
            CONNECT,
            &sock,
        ],
    );
    out.expect_code(0).stdout_has("connected");
    let (n, bytes) = received(&server);
    assert_eq!(n, 1, "{out}");
    assert_eq!(bytes, b"send-keys -t 0 touch-escaped Enter");
}

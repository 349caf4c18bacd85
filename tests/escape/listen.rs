//! `listen(2)` on a TCP socket that was never bound (red-team 3, finding 4): the kernel
//! auto-binds it to a random port on every address, which neither Landlock (its bind hook is
//! not called for the autobind) nor seccomp sees. Under `nono run` in port mode
//! (`--allow-connect-port`, `--allow-bind-port`, domain rules) the supervisor performs
//! `listen` itself and refuses an unbound internet socket (broker/tcp_listen.rs). Every
//! address here is loopback.

use std::io::{BufRead, Read};
use std::process::{Child, Stdio};
use std::time::Duration;

use crate::harness::{nono_cmd, output, sandbox_available, Scratch};

const PYTHON: &str = "/usr/bin/python3";

fn python() -> bool {
    if !std::path::Path::new(PYTHON).exists() {
        eprintln!("skipping: no {PYTHON}");
        return false;
    }
    sandbox_available()
}

/// A loopback port nothing listens on (bound and released by the test).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind loopback")
        .local_addr()
        .expect("addr")
        .port()
}

/// The first line `child` prints, and (when it says `listening ADDR PORT`) what an inbound
/// connection to `127.0.0.1:PORT` reads; then the child is killed.
fn first_line_and_inbound(mut child: Child) -> (String, Option<String>) {
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    let mut got = None;
    if let Some(port) = first
        .strip_prefix("listening ")
        .and_then(|r| r.split_whitespace().nth(1))
    {
        // The test stands in for a remote host: the socket listens on every address.
        if let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port.parse().unwrap())) {
            let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = String::new();
            let _ = c.read_to_string(&mut buf);
            got = Some(buf);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    (first, got)
}

/// RED TEAM 3 finding 4 (was `#[ignore]`d in tests/escape/redteam3.rs): with domain rules or
/// `--allow-connect-port`, `listen()` on a never-bound socket opened an inbound channel on
/// `0.0.0.0:ephemeral` around the proxy. Now refused (`EACCES`) in every port mode.
#[test]
fn redteam3_listen_autobind_opens_an_inbound_channel_around_the_proxy() {
    if !python() {
        return;
    }
    let s = Scratch::new("rt3-listen");
    let prog = "import socket,sys\n\
        s=socket.socket()\n\
        try:\n    s.listen(1)\nexcept OSError as e:\n    print('refused', e.errno, flush=True); sys.exit(0)\n\
        print('listening', s.getsockname()[0], s.getsockname()[1], flush=True)\n\
        s.settimeout(10)\n\
        c,_=s.accept(); c.sendall(b'EXFIL-RT3'); c.close(); print('served', flush=True)\n";
    // Unsandboxed control: the attack works (the test would otherwise prove nothing).
    let control = std::process::Command::new(PYTHON)
        .args(["-c", prog])
        .current_dir(&s.path)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn python");
    let (first, got) = first_line_and_inbound(control);
    assert!(first.starts_with("listening 0.0.0.0 "), "control: {first}");
    assert_eq!(got.as_deref(), Some("EXFIL-RT3"), "control: {first}");

    let attempt = |flags: &[&str]| -> (String, Option<String>) {
        let child = nono_cmd(&s.path)
            .env("NONO_TEST_PROXY_RESOLVE", "example.test=127.0.0.12")
            .arg("run")
            .args(flags)
            .args(["--", PYTHON, "-c", prog])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn nono");
        first_line_and_inbound(child)
    };
    // `--block-net` cannot even create the socket.
    let (first, got) = attempt(&["--block-net"]);
    assert!(got.is_none() && !first.starts_with("listening"), "{first}");
    let bind = free_port().to_string();
    for flags in [
        &["--allow-domain", "example.test"][..],
        &["--block-net", "--allow-connect-port", "5432"][..],
        &["--block-net", "--allow-bind-port", &bind][..],
        &["--allow-domain", "example.test", "--allow-bind-port", &bind][..],
    ] {
        let (first, got) = attempt(flags);
        assert!(
            got.is_none() && !first.starts_with("listening"),
            "{flags:?}: the command listened ({first}) and served {got:?} to an inbound connection"
        );
        assert_eq!(first, "refused 13", "{flags:?}: EACCES expected");
    }
}

/// A server that binds an allowed port first still listens, accepts a loopback connection and
/// serves it, in ports mode and in proxy mode; a Unix socket server is not affected.
#[test]
fn listen_after_bind_to_an_allowed_port_serves_in_ports_and_proxy_mode() {
    if !python() {
        return;
    }
    let s = Scratch::new("listen-bound");
    let sock = s.join("srv.sock").display().to_string();
    let prog = "import socket,sys\n\
        P=int(sys.argv[1])\n\
        u=socket.socket(socket.AF_UNIX); u.bind(sys.argv[2]); u.listen(1)\n\
        s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
        s.bind(('127.0.0.1', P)); s.listen(4); s.listen(8)\n\
        print('listening', s.getsockname()[0], s.getsockname()[1], flush=True)\n\
        s.settimeout(10)\n\
        c,_=s.accept(); c.sendall(b'SERVED'); c.close(); print('served', flush=True)\n";
    let dir = s.path.display().to_string();
    for (mode, flags) in [
        (
            "ports",
            &["--block-net", "--allow-connect-port", "5432"][..],
        ),
        ("bind-only", &["--block-net"][..]),
        ("proxy", &["--allow-domain", "example.test"][..]),
    ] {
        let _ = std::fs::remove_file(&sock);
        let port = free_port().to_string();
        let child = nono_cmd(&s.path)
            .env("NONO_TEST_PROXY_RESOLVE", "example.test=127.0.0.12")
            .arg("run")
            .args(flags)
            .args(["--allow-bind-port", &port, "--allow", &dir])
            .args(["--", PYTHON, "-c", prog, &port, &sock])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn nono");
        let (first, got) = first_line_and_inbound(child);
        assert_eq!(first, format!("listening 127.0.0.1 {port}"), "{mode}");
        assert_eq!(got.as_deref(), Some("SERVED"), "{mode}: {first}");
    }
}

/// The refusal is in the report, with advice that works when followed: bind first, to a port
/// `--allow-bind-port` lists.
#[test]
fn listen_on_an_unbound_socket_is_reported_with_advice_that_works() {
    if !python() {
        return;
    }
    let s = Scratch::new("listen-advice");
    let run = output(nono_cmd(&s.path).args([
        "run",
        "--block-net",
        "--allow-connect-port",
        "5432",
        "--",
        PYTHON,
        "-c",
        "import socket; s=socket.socket(); s.listen(1)",
    ]));
    assert_ne!(run.code, Some(0), "{run}");
    assert!(run.stderr.contains("PermissionError"), "{run}");
    assert!(
        run.stderr
            .contains("nono: denied listen on a TCP socket not bound to a port"),
        "{run}"
    );
    assert!(
        run.stderr.contains("bind the socket to a port first")
            && run.stderr.contains("--allow-bind-port PORT"),
        "{run}"
    );
    // Followed: the command binds first, and the port is listed.
    let port = free_port().to_string();
    let script = format!(
        "import socket; s=socket.socket(); s.bind(('127.0.0.1', {port})); s.listen(1); print('ok', s.getsockname()[1])"
    );
    let run = output(nono_cmd(&s.path).args([
        "run",
        "--block-net",
        "--allow-connect-port",
        "5432",
        "--allow-bind-port",
        &port,
        "--",
        PYTHON,
        "-c",
        &script,
    ]));
    assert_eq!(run.code, Some(0), "{run}");
    assert_eq!(run.stdout.trim(), format!("ok {port}"), "{run}");
    assert!(!run.stderr.contains("denied listen"), "{run}");
}

/// The TOCTOU: one thread calls `listen(N)` while another `dup2`s a bound (allowed) socket and
/// unbound ones onto `N`. A `CONTINUE` after checking the fd would let the kernel listen on
/// whatever `N` names by then; the supervisor listens on the object it checked. No unbound
/// socket may ever end up listening. Also a socket whose auto-bound port was released by a
/// failed connect (getsockname still shows the stale port) must not listen.
#[test]
fn listen_racing_dup2_never_leaves_an_unbound_socket_listening() {
    if !python() {
        return;
    }
    let s = Scratch::new("listen-race");
    let port = free_port().to_string();
    let prog = "import socket,sys,os,threading,time,ctypes\n\
        libc=ctypes.CDLL(None, use_errno=True)\n\
        P=int(sys.argv[1])\n\
        b=socket.socket(); b.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); b.bind(('127.0.0.1', P))\n\
        unbound=[socket.socket() for _ in range(64)]\n\
        N=os.dup(b.fileno())\n\
        stop=time.time()+2\n\
        ok=[0,0]\n\
        def lis():\n    while time.time()<stop:\n        r=libc.listen(N, 1)\n        ok[0 if r==0 else 1]+=1\n\
        def swap():\n    i=0\n    while time.time()<stop:\n        os.dup2(unbound[i%64].fileno(), N); os.dup2(b.fileno(), N); i+=1\n\
        ts=[threading.Thread(target=lis), threading.Thread(target=swap)]\n\
        [t.start() for t in ts]; [t.join() for t in ts]\n\
        leak=[u.getsockname() for u in unbound if u.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) or u.getsockname()[1]!=0]\n\
        stale=socket.socket()\n\
        try:\n    stale.connect(('127.0.0.1', 9))\nexcept OSError: pass\n\
        for _ in range(2):\n    try: stale.listen(1)\n    except OSError: pass\n\
        if stale.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN): leak.append(('stale', stale.getsockname()))\n\
        print('listens', ok[0], 'refusals', ok[1], 'bound-listening', b.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN), 'leaks', leak, flush=True)\n";
    let run = output(nono_cmd(&s.path).args([
        "run",
        "--block-net",
        "--allow-connect-port",
        "9",
        "--allow-bind-port",
        &port,
        "--",
        PYTHON,
        "-c",
        prog,
        &port,
    ]));
    assert_eq!(run.code, Some(0), "{run}");
    let out = run.stdout.trim();
    assert!(
        out.ends_with("leaks []"),
        "an unbound socket listened: {run}"
    );
    assert!(out.contains("bound-listening 1"), "{run}");
    // Both sides of the race were exercised.
    let count = |key: &str| -> u64 {
        out.split_whitespace()
            .skip_while(|w| *w != key)
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    assert!(
        count("listens") > 0 && count("refusals") > 0,
        "the race did not hit both sockets: {run}"
    );
}

//! The socket broker with real sandboxed children: `connect` to a pathname Unix socket outside
//! the write grants is refused and reported (the listener never sees it); inside a directory
//! write grant only a socket served by the sandbox itself is reached, one served outside it
//! (the tmux / ssh-agent / X11 case) needs a grant of the socket itself; `sendto` a datagram
//! socket needs that grant too; abstract addresses are refused; TCP keeps working under the
//! port rules; a path flipped by a second thread never connects outside. Unix datagram
//! sockets (which could `sendmsg` anywhere) are refused and reported unless allowed.

use std::os::unix::net::{UnixDatagram, UnixListener};
use std::path::{Path, PathBuf};

use nono_sandbox::{AccessMode, CapabilitySet};
use nono_supervisor::{ExitStatusKind, Refused, RunOutcome};

use crate::cprog::{answer, gaps, run_probe};
use crate::harness::{
    denial_of, run_ok, sandbox_ready, scratch, sh, system_caps, trapped, Scratch, PYTHON,
};

/// A listener that must never see a connection.
fn listener(dir: &std::path::Path) -> (UnixListener, std::path::PathBuf) {
    let path = dir.join("s.sock");
    let l = UnixListener::bind(&path).unwrap();
    l.set_nonblocking(true).unwrap();
    (l, path)
}

fn accepted(l: &UnixListener) -> usize {
    let mut n = 0;
    while l.accept().is_ok() {
        n += 1;
    }
    n
}

#[test]
fn connect_outside_the_grants_is_refused_and_inside_works() {
    let Some(_g) = sandbox_ready() else { return };
    let Some(probe) = gaps() else { return };
    let out = scratch("unix-out");
    let outside = scratch("unix-outside");
    let inside = scratch("unix-inside");
    let (outer, outer_path) = listener(&outside);
    let (inner, inner_path) = listener(&inside);
    let mut caps = system_caps();
    // Readable is not enough: connecting needs write.
    caps.allow_dir(&outside, AccessMode::Read, "test read-only")
        .unwrap();
    caps.allow_dir(&inside, AccessMode::ReadWrite, "test writable")
        .unwrap();

    let (outcome, text) = run_probe(
        &probe,
        &["connect", outer_path.to_str().unwrap()],
        caps.clone(),
        &out,
    );
    assert_eq!(outcome.exit, ExitStatusKind::Code(0), "{text}");
    assert_eq!(answer(&text, "connect"), "EACCES", "{text}");
    assert_eq!(accepted(&outer), 0);
    let d = denial_of(&outcome, &outer_path);
    assert_eq!(d.call.name(), "connect");

    // Inside the write grant but served by this (unsandboxed) process: refused, and the
    // listener only ever sees the supervisor's check connection, closed at once.
    let (outcome, text) = run_probe(
        &probe,
        &["connect", inner_path.to_str().unwrap()],
        caps.clone(),
        &out,
    );
    assert_eq!(answer(&text, "connect"), "EACCES", "{text}");
    assert_eq!(received(&inner).1, b"");
    let d = denial_of(&outcome, &inner_path);
    assert!(
        d.reason.contains("served outside the sandbox"),
        "{}",
        d.reason
    );

    // Granted by itself: reached.
    caps.allow_file(&inner_path, AccessMode::ReadWrite, "test socket")
        .unwrap();
    let (outcome, text) = run_probe(
        &probe,
        &["connect", inner_path.to_str().unwrap()],
        caps,
        &out,
    );
    assert_eq!(answer(&text, "connect"), "ok", "{text}");
    assert_eq!(accepted(&inner), 1);
    assert!(outcome.denials.is_empty(), "{:?}", outcome.denials);
}

#[test]
fn a_relative_path_and_a_symlink_resolve_to_what_they_name() {
    let Some(_g) = sandbox_ready() else { return };
    let out = scratch("unix-out");
    let outside = scratch("unix-outside");
    let (outer, outer_path) = listener(&outside);
    // A symlink inside the writable dir pointing at the outside socket: still outside.
    std::os::unix::fs::symlink(&outer_path, out.join("link.sock")).unwrap();
    let script = format!(
        "cd {o} && if {py} -c 'import socket; socket.socket(socket.AF_UNIX).connect(\"link.sock\")' 2>/dev/null; then exit 3; fi",
        o = out.display(),
        py = PYTHON
    );
    let outcome = run_ok(trapped(&script, &out));
    assert_eq!(accepted(&outer), 0);
    assert!(
        outcome
            .denials
            .iter()
            .any(|d| d.path() == Some(Path::new(&outer_path))),
        "{:?}",
        outcome.denials
    );
}

#[test]
fn datagrams_and_abstract_addresses() {
    let Some(_g) = sandbox_ready() else { return };
    let Some(probe) = gaps() else { return };
    let out = scratch("unix-out");
    let outside = scratch("unix-dgram-outside");
    let inside = scratch("unix-dgram-inside");
    let outer = UnixDatagram::bind(outside.join("d.sock")).unwrap();
    let inner = UnixDatagram::bind(inside.join("d.sock")).unwrap();
    outer.set_nonblocking(true).unwrap();
    inner.set_nonblocking(true).unwrap();
    let mut caps = system_caps();
    caps.allow_dir(&inside, AccessMode::ReadWrite, "test writable")
        .unwrap();
    // The sendto broker is only reachable with datagram sockets allowed.
    caps.allow_unix_datagram(true);

    let target = outside.join("d.sock");
    let (outcome, text) = run_probe(
        &probe,
        &["sendto", target.to_str().unwrap()],
        caps.clone(),
        &out,
    );
    assert_eq!(answer(&text, "socket"), "ok", "{text}");
    assert_eq!(answer(&text, "sendto"), "EACCES", "{text}");
    assert!(outer.recv(&mut [0u8; 16]).is_err(), "a datagram got out");
    assert!(outcome
        .denials
        .iter()
        .any(|d| d.path() == Some(Path::new(&target)) && d.call.name() == "sendto"));

    // Inside a directory write grant: the supervisor cannot tell who receives a datagram, so
    // only a grant of the socket itself reaches it.
    let target = inside.join("d.sock");
    let (outcome, text) = run_probe(
        &probe,
        &["sendto", target.to_str().unwrap()],
        caps.clone(),
        &out,
    );
    assert_eq!(answer(&text, "sendto"), "EACCES", "{text}");
    assert!(inner.recv(&mut [0u8; 16]).is_err(), "a datagram got out");
    assert!(outcome
        .denials
        .iter()
        .any(|d| d.path() == Some(Path::new(&target)) && d.reason.contains("datagram")));
    caps.allow_file(&target, AccessMode::ReadWrite, "test socket")
        .unwrap();
    let (_, text) = run_probe(
        &probe,
        &["sendto", target.to_str().unwrap()],
        caps.clone(),
        &out,
    );
    assert_eq!(answer(&text, "sendto"), "ok", "{text}");
    let mut buf = [0u8; 16];
    let n = inner.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"hello");

    let (outcome, text) = run_probe(&probe, &["connect-abstract", "nono-gaps-test"], caps, &out);
    assert_eq!(answer(&text, "connect"), "EPERM", "{text}");
    assert!(outcome
        .denials
        .iter()
        .any(|d| d.what == Refused::AbstractSocket("nono-gaps-test".into())));
}

/// Without the opt-in, `socket`/`socketpair` of a Unix datagram socket are trapped and
/// refused with EACCES (the deny filter lets them through so that the supervisor can report
/// them), so `sendmsg` — which no broker can check race-free — never gets a socket to send
/// from: the outside receiver gets nothing, and the denial says how to allow it. With the
/// opt-in the documented gap is back: the same `sendmsg` is delivered.
#[test]
fn unix_datagram_sockets_are_refused_and_reported_unless_allowed() {
    let Some(_g) = sandbox_ready() else { return };
    let Some(probe) = gaps() else { return };
    let out = scratch("unix-out");
    let outside = scratch("unix-dgram-refused");
    let target = outside.join("d.sock");
    let receiver = UnixDatagram::bind(&target).unwrap();
    receiver.set_nonblocking(true).unwrap();
    let caps = system_caps();
    for (mode, call) in [
        ("sendmsg", "socket"),
        ("pair-sendmsg", "socketpair"),
        ("sendto", "socket"),
    ] {
        let (outcome, text) = run_probe(
            &probe,
            &[mode, target.to_str().unwrap()],
            caps.clone(),
            &out,
        );
        assert_eq!(outcome.exit, ExitStatusKind::Code(0), "{text}");
        assert_eq!(answer(&text, call), "EACCES", "{mode}: {text}");
        let sent = if mode == "sendto" {
            "sendto"
        } else {
            "sendmsg"
        };
        assert_eq!(answer(&text, sent), "EBADF", "{mode}: {text}");
        assert!(
            receiver.recv(&mut [0u8; 16]).is_err(),
            "{mode}: a datagram got out"
        );
        let d = outcome
            .denials
            .iter()
            .find(|d| d.call.name() == call)
            .unwrap_or_else(|| panic!("{mode}: no denial: {:?}", outcome.denials));
        assert!(d.what == Refused::UnixDatagramSocket, "{d:?}");
        assert_eq!(d.path(), None);
        assert!(
            d.reason.contains("SOCK_DGRAM") && d.reason.contains("--allow-unix-datagram"),
            "{}",
            d.reason
        );
    }

    // Allowed: a datagram socket is created and sendmsg reaches the outside receiver
    // unchecked — the gap --allow-unix-datagram documents.
    let mut allowed = caps;
    allowed.allow_unix_datagram(true);
    for mode in ["sendmsg", "pair-sendmsg"] {
        let (outcome, text) = run_probe(
            &probe,
            &[mode, target.to_str().unwrap()],
            allowed.clone(),
            &out,
        );
        assert_eq!(answer(&text, "sendmsg"), "ok", "{mode}: {text}");
        let mut buf = [0u8; 16];
        let n = receiver.recv(&mut buf).expect("the known gap: delivered");
        assert_eq!(&buf[..n], b"hello");
        assert!(
            !outcome
                .denials
                .iter()
                .any(|d| d.what == Refused::UnixDatagramSocket),
            "{:?}",
            outcome.denials
        );
    }
}

#[test]
fn tcp_connect_follows_the_port_rules() {
    let Some(_g) = sandbox_ready() else { return };
    let out = scratch("unix-tcp");
    let allowed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (pa, po) = (
        allowed.local_addr().unwrap().port(),
        other.local_addr().unwrap().port(),
    );
    let connect = |port: u16| {
        format!("{PYTHON} -c 'import socket; socket.create_connection((\"127.0.0.1\", {port}), timeout=5)'")
    };
    let script = format!(
        "{ok} || exit 3; if {bad} 2>/dev/null; then exit 4; fi; exit 0",
        ok = connect(pa),
        bad = connect(po)
    );
    let mut config = trapped(&script, &out);
    config.caps.allow_connect_port(pa);
    run_ok(config);
    allowed.set_nonblocking(true).unwrap();
    other.set_nonblocking(true).unwrap();
    assert!(allowed.accept().is_ok());
    assert!(other.accept().is_err());
}

#[test]
fn a_path_flipped_by_another_thread_never_connects_outside() {
    flipped_connects(false);
}

/// The same with the outside socket inside a directory write grant (served by this process,
/// so refused by the server check): the outside listener sees only the supervisor's check
/// connections, each closed without a byte (the probe writes one after every connect it
/// gets).
#[test]
fn a_path_flipped_to_a_socket_served_outside_never_carries_a_byte() {
    flipped_connects(true);
}

fn flipped_connects(outer_writable: bool) {
    let Some(_g) = sandbox_ready() else { return };
    let Some(probe) = gaps() else { return };
    let out = scratch("unix-out");
    let outside = scratch("unix-race-outside");
    let inside = scratch("unix-race-inside");
    let (outer, outer_path) = listener(&outside);
    let (inner, inner_path) = listener(&inside);
    let mut caps = system_caps();
    caps.allow_dir(&inside, AccessMode::ReadWrite, "test writable")
        .unwrap();
    // Served by this process: reachable only as a grant of its own.
    caps.allow_file(&inner_path, AccessMode::ReadWrite, "test socket")
        .unwrap();
    if outer_writable {
        caps.allow_dir(&outside, AccessMode::ReadWrite, "test writable")
            .unwrap();
    }
    // Drain the granted listener while the probe runs so its backlog never fills.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let drain = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 0usize;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                match inner.accept() {
                    Ok(_) => n += 1,
                    Err(_) => std::thread::sleep(std::time::Duration::from_micros(200)),
                }
            }
            n + accepted(&inner)
        })
    };
    let (outcome, text) = run_probe(
        &probe,
        &[
            "race-connect",
            inner_path.to_str().unwrap(),
            outer_path.to_str().unwrap(),
            "2000",
        ],
        caps,
        &out,
    );
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let inner_accepted = drain.join().unwrap();
    assert_eq!(outcome.exit, ExitStatusKind::Code(0), "{text}");
    let (checks, bytes) = received(&outer);
    assert_eq!(
        bytes, b"",
        "a flipped connect reached the outside socket: {text}"
    );
    if !outer_writable {
        assert_eq!(checks, 0, "{text}");
    }
    eprintln!(
        "race: {} inside accepted={inner_accepted}, {} denials",
        text.trim(),
        outcome.denials.len()
    );
    assert!(inner_accepted > 0, "{text}");
    assert!(
        outcome
            .denials
            .iter()
            .any(|d| d.path() == Some(Path::new(&outer_path))),
        "the flipped path was never even seen: {text}"
    );
}

#[test]
fn a_connect_that_never_completes_does_not_outlive_the_child() {
    let Some(_g) = sandbox_ready() else { return };
    let out = scratch("unix-stuck");
    // A listener (outside the sandbox, inside its write grants) that never accepts, with the
    // smallest backlog: the first connect is queued, the second blocks.
    let path = out.join("full.sock");
    let listener = rustix::net::socket(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::STREAM,
        None,
    )
    .unwrap();
    rustix::net::bind(&listener, &rustix::net::SocketAddrUnix::new(&path).unwrap()).unwrap();
    rustix::net::listen(&listener, 0).unwrap();
    // The child is killed by SIGALRM while its second connect blocks.
    let script = format!(
        "exec {PYTHON} -c '
import signal, socket
signal.alarm(1)
a = socket.socket(socket.AF_UNIX); a.connect(\"{p}\")
b = socket.socket(socket.AF_UNIX); b.connect(\"{p}\")
'",
        p = path.display()
    );
    let mut config = trapped(&script, &out);
    // Served outside the sandbox (by this process): granted by itself, so the child's own
    // socket connects and blocks.
    config
        .caps
        .allow_file(&path, AccessMode::ReadWrite, "test socket")
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(nono_supervisor::run(config));
    });
    // A liveness guard, not a timing assertion: before the broker waited in slices, the
    // supervisor's worker stayed in connect() forever and `run` never returned.
    let outcome = rx
        .recv_timeout(std::time::Duration::from_secs(120))
        .expect("run() did not return after the child died")
        .unwrap();
    assert_eq!(outcome.exit, ExitStatusKind::Signal(libc_sigalrm()));
    drop(listener);
}

fn libc_sigalrm() -> i32 {
    rustix::process::Signal::ALARM.as_raw()
}

// --- Sockets served outside the sandbox (the tmux / ssh-agent / X11 case) ---------------

/// Run `script` with `/usr/bin/python3 script.py ARGS` supervised under `caps` (plus a write
/// grant on `out`, where the script and its output live). Returns the outcome and the
/// script's output.
fn run_python(
    script: &str,
    args: &[&std::path::Path],
    caps: nono_sandbox::CapabilitySet,
    out: &std::path::Path,
) -> (nono_supervisor::RunOutcome, String) {
    let file = out.join("t.py");
    std::fs::write(&file, script).unwrap();
    let stdout = out.join("stdout");
    let mut cmd = format!("exec {PYTHON} {}", file.display());
    for a in args {
        cmd.push_str(&format!(" '{}'", a.display()));
    }
    cmd.push_str(&format!(" > {} 2>&1", stdout.display()));
    let mut caps = caps;
    caps.allow_dir(out, AccessMode::ReadWrite, "test output")
        .unwrap();
    let mut config = sh(&cmd, caps);
    config.trap_opens = true;
    let outcome = nono_supervisor::run(config).unwrap();
    let text = std::fs::read_to_string(&stdout).unwrap_or_default();
    (outcome, text)
}

/// Everything the connections `l` accepted carried (each read to its end: every peer has
/// closed by now, the read timeout only guards against a leaked descriptor).
fn received(l: &UnixListener) -> (usize, Vec<u8>) {
    use std::io::Read;
    let (mut n, mut bytes) = (0, Vec::new());
    while let Ok((mut c, _)) = l.accept() {
        n += 1;
        c.set_nonblocking(false).unwrap();
        c.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        c.read_to_end(&mut bytes)
            .expect("a refused connection was left open");
    }
    (n, bytes)
}

/// `DIR/tmux-0/default`, listening in this (unsandboxed) process, like a tmux server whose
/// `send-keys` would run commands outside the sandbox, in a fresh `dir` that `caps` (the
/// system readable) lets the sandbox write.
struct TmuxLike {
    out: Scratch,
    dir: Scratch,
    server: UnixListener,
    path: PathBuf,
    caps: CapabilitySet,
}

impl TmuxLike {
    fn new() -> TmuxLike {
        let out = scratch("unix-tmux-out");
        let dir = scratch("unix-tmux");
        let sub = dir.join("tmux-0");
        std::fs::create_dir(&sub).unwrap();
        let path = sub.join("default");
        let server = UnixListener::bind(&path).unwrap();
        server.set_nonblocking(true).unwrap();
        let mut caps = system_caps();
        caps.allow_dir(&dir, AccessMode::ReadWrite, "test writable")
            .unwrap();
        TmuxLike {
            out,
            dir,
            server,
            path,
            caps,
        }
    }

    /// [`CONNECT_WITH_SENDER`] on `target` under `caps`, which must exit 0: the outcome and
    /// what it printed.
    #[track_caller]
    fn connect(&self, target: &Path) -> (RunOutcome, String) {
        let (outcome, text) =
            run_python(CONNECT_WITH_SENDER, &[target], self.caps.clone(), &self.out);
        assert_eq!(outcome.exit, ExitStatusKind::Code(0), "{text}");
        (outcome, text)
    }
}

/// Connects to argv[1]; a second thread keeps sending on the same socket meanwhile (so a
/// socket that is connected even for a moment before the check would carry its bytes out).
/// Prints `connected` or the errno name.
const CONNECT_WITH_SENDER: &str = r#"
import errno, socket, sys, threading
s = socket.socket(socket.AF_UNIX)
stop = False
def spam():
    # At most 200 sends succeed (about 9 KiB), far below a socket buffer, so the sender
    # never blocks on a granted connection whose server does not read yet.
    sent = 0
    while not stop and sent < 200:
        try:
            s.send(b"send-keys -t 0 'touch /tmp/escaped' Enter\n", socket.MSG_DONTWAIT)
            sent += 1
        except OSError:
            pass
t = threading.Thread(target=spam)
t.start()
try:
    s.connect(sys.argv[1])
    r = "connected"
except OSError as e:
    r = errno.errorcode[e.errno]
stop = True
t.join()
try:
    s.send(b"after")
except OSError:
    pass
print(r)
"#;

#[test]
fn a_socket_served_outside_the_sandbox_is_refused_even_in_a_writable_dir() {
    let Some(_g) = sandbox_ready() else { return };
    let t = TmuxLike::new();
    let (outcome, text) = t.connect(&t.path);
    let (_, bytes) = received(&t.server);
    assert_eq!(
        text.trim(),
        "EACCES",
        "the sandbox reached a socket served outside it"
    );
    assert!(
        bytes.is_empty(),
        "the outside server received {:?}",
        String::from_utf8_lossy(&bytes)
    );
    let d = denial_of(&outcome, &t.path);
    assert_eq!(d.call.name(), "connect");
    let me = std::process::id();
    assert!(
        d.reason
            .contains(&format!("outside the sandbox by pid {me}")),
        "{}",
        d.reason
    );
    assert!(d.reason.contains("--allow-file"), "{}", d.reason);
}

#[test]
fn a_socket_served_outside_and_granted_by_itself_works() {
    let Some(_g) = sandbox_ready() else { return };
    let mut t = TmuxLike::new();
    t.caps
        .allow_file(&t.path, AccessMode::ReadWrite, "test socket")
        .unwrap();
    let (outcome, text) = t.connect(&t.path);
    assert_eq!(text.trim(), "connected");
    let (n, bytes) = received(&t.server);
    assert_eq!(n, 1);
    assert!(
        String::from_utf8_lossy(&bytes).ends_with("after"),
        "{:?}",
        String::from_utf8_lossy(&bytes)
    );
    assert!(outcome.denials.is_empty(), "{:?}", outcome.denials);
}

/// Servers inside the sandbox, in a directory it may write: the process itself listens and a
/// forked child connects; a forked child listens and the process connects (blocking and
/// non-blocking). The connected socket keeps the child's close-on-exec and `O_NONBLOCK`, and
/// talks both ways.
const SERVED_INSIDE: &str = r#"
import errno, os, socket, sys
d = sys.argv[1]

def conn(p, msg, blocking):
    c = socket.socket(socket.AF_UNIX)
    c.setblocking(blocking)
    try:
        c.connect(p)
    except OSError as e:
        return errno.errorcode[e.errno]
    c.setblocking(True)
    c.sendall(msg)
    reply = c.recv(16).decode()
    return "%s,inheritable=%s" % (reply, os.get_inheritable(c.fileno()))

def serve_one(l):
    a, _ = l.accept()
    got = a.recv(16)
    a.sendall(b"re-" + got)
    return got.decode()

p1 = os.path.join(d, "a.sock")
l = socket.socket(socket.AF_UNIX)
l.bind(p1)
l.listen(4)
pid = os.fork()
if pid == 0:
    r = conn(p1, b"one", True)
    os._exit(0 if r == "re-one,inheritable=False" else 1)
got1 = serve_one(l)
_, st = os.waitpid(pid, 0)

p2 = os.path.join(d, "b.sock")
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    l2 = socket.socket(socket.AF_UNIX)
    l2.bind(p2)
    l2.listen(4)
    os.write(w, b"x")
    ok = serve_one(l2) == "two" and serve_one(l2) == "three"
    os._exit(0 if ok else 1)
os.read(r, 1)
res2 = conn(p2, b"two", True)
res3 = conn(p2, b"three", False)
_, st2 = os.waitpid(pid, 0)
print(got1, os.waitstatus_to_exitcode(st), res2, res3, os.waitstatus_to_exitcode(st2))
"#;

#[test]
fn a_socket_served_inside_the_sandbox_works_in_a_writable_dir() {
    let Some(_g) = sandbox_ready() else { return };
    let out = scratch("unix-in-out");
    let dir = scratch("unix-in");
    let mut caps = system_caps();
    caps.allow_dir(&dir, AccessMode::ReadWrite, "test writable")
        .unwrap();
    let (outcome, text) = run_python(SERVED_INSIDE, &[&dir], caps, &out);
    assert_eq!(outcome.exit, ExitStatusKind::Code(0), "{text}");
    assert_eq!(
        text.trim(),
        "one 0 re-two,inheritable=False re-three,inheritable=False 0"
    );
    assert!(outcome.denials.is_empty(), "{:?}", outcome.denials);
}

#[test]
fn a_symlink_to_a_socket_served_outside_is_refused() {
    let Some(_g) = sandbox_ready() else { return };
    let t = TmuxLike::new();
    let link = t.dir.join("link.sock");
    std::os::unix::fs::symlink(&t.path, &link).unwrap();
    let (outcome, text) = t.connect(&link);
    assert_eq!(text.trim(), "EACCES");
    assert_eq!(received(&t.server).1, b"");
    assert!(
        outcome
            .denials
            .iter()
            .any(|d| d.path() == Some(Path::new(&t.path))
                && d.reason.contains("served outside the sandbox")),
        "{:?}",
        outcome.denials
    );
}

/// Issue 10 finding 2, at the library level: a file grant of a socket is a grant of the inode
/// it named when the run started. The child connects to the granted socket (served outside,
/// reached: rule (a)); removes the name and hard-links another outside socket there (refused:
/// the inode differs, and its server is outside — the denial says the granted socket was
/// replaced); removes it again and binds its own listener at the granted path (reached: a
/// socket the sandbox serves itself, rule (b)).
const GRANTED_THEN_REPLACED: &str = r#"
import errno, os, socket, sys
app, other = sys.argv[1], sys.argv[2]

def connect(p, msg):
    c = socket.socket(socket.AF_UNIX)
    try:
        c.connect(p)
    except OSError as e:
        return errno.errorcode[e.errno]
    c.sendall(msg)
    return c

out = []
c = connect(app, b"genuine")
out.append("ok" if not isinstance(c, str) else c)
os.unlink(app)
os.link(other, app)
c2 = connect(app, b"stolen")
out.append("ok" if not isinstance(c2, str) else c2)
os.unlink(app)
l = socket.socket(socket.AF_UNIX)
l.bind(app)
l.listen(1)
pid = os.fork()
if pid == 0:
    a, _ = l.accept()
    a.sendall(b"re-" + a.recv(16))
    os._exit(0)
c3 = connect(app, b"own")
out.append(c3 if isinstance(c3, str) else c3.recv(16).decode())
os.waitpid(pid, 0)
print(" ".join(out))
"#;

#[test]
fn a_socket_granted_by_itself_is_that_inode_not_its_name() {
    let Some(_g) = sandbox_ready() else { return };
    let out = scratch("unix-granted-out");
    let dir = scratch("unix-granted");
    let app_path = dir.join("app.sock");
    let other_path = dir.join("other.sock");
    let app = UnixListener::bind(&app_path).unwrap();
    let other = UnixListener::bind(&other_path).unwrap();
    app.set_nonblocking(true).unwrap();
    other.set_nonblocking(true).unwrap();
    let mut caps = system_caps();
    caps.allow_dir(&dir, AccessMode::ReadWrite, "test writable")
        .unwrap();
    caps.allow_file(&app_path, AccessMode::ReadWrite, "test socket")
        .unwrap();
    let (outcome, text) = run_python(GRANTED_THEN_REPLACED, &[&app_path, &other_path], caps, &out);
    assert_eq!(outcome.exit, ExitStatusKind::Code(0), "{text}");
    assert_eq!(text.trim(), "ok EACCES re-own");
    assert_eq!(received(&app), (1, b"genuine".to_vec()));
    // The outside server behind the link only ever saw the supervisor's check connection.
    assert_eq!(received(&other).1, b"");
    let d = denial_of(&outcome, &app_path);
    assert_eq!(d.call.name(), "connect");
    assert!(
        d.reason
            .contains("no longer names the socket it named when nono started"),
        "{}",
        d.reason
    );
    assert_eq!(outcome.denials.len(), 1, "{:?}", outcome.denials);
}

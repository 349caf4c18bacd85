//! The socket broker with real sandboxed children: `connect` to a pathname Unix socket outside
//! the write grants is refused and reported (the listener never sees it), to a granted one it
//! works; `sendto` a datagram socket likewise; abstract addresses are refused; TCP keeps
//! working under the port rules; a path flipped by a second thread never connects outside.

use std::os::unix::net::{UnixDatagram, UnixListener};

use nono_sandbox::AccessMode;
use nono_supervisor::ExitStatusKind;

use crate::cprog::{answer, gaps, run_probe};
use crate::harness::{notify_supported, scratch, sh, shared, system_caps, PYTHON};

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
    let _g = shared();
    if !notify_supported() {
        return;
    }
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
    let d = outcome
        .denials
        .iter()
        .find(|d| d.path == outer_path)
        .unwrap_or_else(|| panic!("no denial: {:?}", outcome.denials));
    assert_eq!(d.syscall, "connect");

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
    let _g = shared();
    if !notify_supported() {
        return;
    }
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
    let mut caps = system_caps();
    caps.allow_dir(&out, AccessMode::ReadWrite, "test output")
        .unwrap();
    let mut config = sh(&script, caps);
    config.trap_opens = true;
    let outcome = nono_supervisor::run(config).unwrap();
    assert_eq!(
        outcome.exit,
        ExitStatusKind::Code(0),
        "{:?}",
        outcome.denials
    );
    assert_eq!(accepted(&outer), 0);
    assert!(
        outcome.denials.iter().any(|d| d.path == outer_path),
        "{:?}",
        outcome.denials
    );
}

#[test]
fn datagrams_and_abstract_addresses() {
    let _g = shared();
    if !notify_supported() {
        return;
    }
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

    let target = outside.join("d.sock");
    let (outcome, text) = run_probe(
        &probe,
        &["sendto", target.to_str().unwrap()],
        caps.clone(),
        &out,
    );
    assert_eq!(answer(&text, "sendto"), "EACCES", "{text}");
    assert!(outer.recv(&mut [0u8; 16]).is_err(), "a datagram got out");
    assert!(outcome
        .denials
        .iter()
        .any(|d| d.path == target && d.syscall == "sendto"));

    let target = inside.join("d.sock");
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
        .any(|d| d.path.to_str() == Some("@nono-gaps-test")));
}

#[test]
fn tcp_connect_follows_the_port_rules() {
    let _g = shared();
    if !notify_supported() {
        return;
    }
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
    let mut caps = system_caps();
    caps.allow_dir(&out, AccessMode::ReadWrite, "test output")
        .unwrap();
    caps.allow_connect_port(pa);
    let mut config = sh(&script, caps);
    config.trap_opens = true;
    let outcome = nono_supervisor::run(config).unwrap();
    assert_eq!(
        outcome.exit,
        ExitStatusKind::Code(0),
        "{:?}",
        outcome.denials
    );
    allowed.set_nonblocking(true).unwrap();
    other.set_nonblocking(true).unwrap();
    assert!(allowed.accept().is_ok());
    assert!(other.accept().is_err());
}

#[test]
fn a_path_flipped_by_another_thread_never_connects_outside() {
    let _g = shared();
    if !notify_supported() {
        return;
    }
    let Some(probe) = gaps() else { return };
    let out = scratch("unix-out");
    let outside = scratch("unix-race-outside");
    let inside = scratch("unix-race-inside");
    let (outer, outer_path) = listener(&outside);
    let (inner, inner_path) = listener(&inside);
    let mut caps = system_caps();
    caps.allow_dir(&inside, AccessMode::ReadWrite, "test writable")
        .unwrap();
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
    assert_eq!(
        accepted(&outer),
        0,
        "a flipped connect reached the outside socket: {text}"
    );
    eprintln!(
        "race: {} inside accepted={inner_accepted}, {} denials",
        text.trim(),
        outcome.denials.len()
    );
    assert!(inner_accepted > 0, "{text}");
    assert!(
        outcome.denials.iter().any(|d| d.path == outer_path),
        "the flipped path was never even seen: {text}"
    );
}

#[test]
fn a_connect_that_never_completes_does_not_outlive_the_child() {
    let _g = shared();
    if !notify_supported() {
        return;
    }
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
    let mut caps = system_caps();
    caps.allow_dir(&out, AccessMode::ReadWrite, "test output")
        .unwrap();
    let mut config = sh(&script, caps);
    config.trap_opens = true;
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

//! The listener: owner-only socket file, no leftovers, removal on drop, non-blocking accept,
//! per-connection read timeout, and rejection of peers with another uid.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::time::Duration;

use nono_transport::{
    peer_credentials, Channel, Listener, TransportError, DEFAULT_CONNECTION_READ_TIMEOUT,
};
use nono_wire::SupervisorMessage;
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::net::sockopt::{self, Timeout};

use crate::helpers::{EXIT_CONNECTION_CLOSED, EXIT_CONNECT_EACCES};
use crate::support::{helper_command, request, TempDir};

/// A uid that is not ours (tests run as root; `nobody` exists on every test machine).
const OTHER_UID: u32 = 65534;

/// Waits (bounded, generously) until the listener has a connection or error to report.
fn accept_blocking(listener: &Listener) -> Result<Option<Channel>, TransportError> {
    let mut fds = [PollFd::new(listener, PollFlags::IN)];
    let timeout = Timespec {
        tv_sec: 30,
        tv_nsec: 0,
    };
    let ready = poll(&mut fds, Some(&timeout)).unwrap();
    assert_eq!(ready, 1, "nobody connected within 30 s");
    listener.accept()
}

#[test]
fn the_socket_is_owner_only_and_nothing_else_is_left_behind() {
    let dir = TempDir::new();
    let path = dir.path().join("supervisor.sock");
    let listener = Listener::bind(&path).unwrap();
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
    // The private directory used for binding is gone.
    assert_eq!(dir.entries(), ["supervisor.sock"]);
    assert_eq!(listener.path(), path);
    drop(listener);
    assert!(
        dir.entries().is_empty(),
        "socket file not removed on drop: {:?}",
        dir.entries()
    );
}

#[test]
fn the_socket_is_owner_only_even_under_a_umask_of_zero() {
    let dir = TempDir::new();
    let path = dir.path().join("s");
    let status = helper_command("bind_with_umask_zero", path.to_str().unwrap())
        .status()
        .unwrap();
    assert!(status.success(), "{status}");
    assert!(dir.entries().is_empty(), "{:?}", dir.entries());
}

#[test]
fn bind_never_replaces_an_existing_file() {
    let dir = TempDir::new();
    let path = dir.path().join("taken");
    std::fs::write(&path, b"someone else's").unwrap();
    let err = Listener::bind(&path).unwrap_err();
    assert!(matches!(err, TransportError::AddressInUse { .. }), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"someone else's");
    assert_eq!(dir.entries(), ["taken"]);

    // Nor a live listener's socket.
    let live = dir.path().join("live.sock");
    let first = Listener::bind(&live).unwrap();
    assert!(matches!(
        Listener::bind(&live),
        Err(TransportError::AddressInUse { .. })
    ));
    drop(first);
}

#[test]
fn bind_explains_unusable_paths() {
    let dir = TempDir::new();
    let long = dir.path().join("x".repeat(120));
    assert!(matches!(
        Listener::bind(&long),
        Err(TransportError::BadSocketPath { .. })
    ));
    assert!(matches!(
        Listener::bind("/"),
        Err(TransportError::BadSocketPath { .. })
    ));
    let missing = dir.path().join("no/such/dir/s");
    assert!(matches!(
        Listener::bind(&missing),
        Err(TransportError::PathSyscall { call: "open", .. })
    ));
    assert!(dir.entries().is_empty(), "{:?}", dir.entries());
}

#[test]
fn drop_leaves_a_file_that_replaced_the_socket_alone() {
    let dir = TempDir::new();
    let path = dir.path().join("s");
    let listener = Listener::bind(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, b"new owner").unwrap();
    drop(listener);
    assert_eq!(std::fs::read(&path).unwrap(), b"new owner");
}

#[test]
fn accept_does_not_block_and_serves_a_same_uid_peer() {
    let dir = TempDir::new();
    let path = dir.path().join("s");
    let listener = Listener::bind(&path).unwrap();
    assert!(listener.accept().unwrap().is_none());

    let mut client = Channel::connect(&path).unwrap();
    let mut server = accept_blocking(&listener).unwrap().expect("a connection");
    let cred = peer_credentials(&server).unwrap();
    assert_eq!((cred.pid, cred.uid), (std::process::id(), 0));
    client.send(&request("over the listener")).unwrap();
    assert_eq!(
        server.recv::<SupervisorMessage>().unwrap(),
        request("over the listener")
    );
    assert!(listener.accept().unwrap().is_none());

    // Accepted channels are blocking and carry the connection read timeout.
    let flags = rustix::fs::fcntl_getfl(server.as_fd()).unwrap();
    assert!(!flags.contains(rustix::fs::OFlags::NONBLOCK));
    assert_eq!(
        sockopt::socket_timeout(server.as_fd(), Timeout::Recv).unwrap(),
        Some(DEFAULT_CONNECTION_READ_TIMEOUT)
    );
}

#[test]
fn a_silent_peer_runs_into_the_connection_read_timeout() {
    let dir = TempDir::new();
    let path = dir.path().join("s");
    let mut listener = Listener::bind(&path).unwrap();
    listener.set_connection_read_timeout(Some(Duration::from_millis(50)));
    let client = Channel::connect(&path).unwrap();
    let mut server = accept_blocking(&listener).unwrap().expect("a connection");
    assert!(matches!(
        server.recv::<SupervisorMessage>(),
        Err(TransportError::Timeout)
    ));
    drop(client);
}

#[test]
fn connect_to_a_missing_socket_names_the_path() {
    let dir = TempDir::new();
    let path = dir.path().join("nobody-listens");
    let err = Channel::connect(&path).unwrap_err();
    assert!(
        matches!(
            &err,
            TransportError::PathSyscall {
                call: "connect",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("nobody-listens"), "{err}");
}

#[test]
fn another_uid_cannot_open_the_socket_file() {
    let dir = TempDir::new();
    let path = dir.path().join("s");
    let _listener = Listener::bind(&path).unwrap();
    let status = helper_command("connect_and_wait", path.to_str().unwrap())
        .uid(OTHER_UID)
        .gid(OTHER_UID)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(EXIT_CONNECT_EACCES), "{status}");
}

#[test]
fn a_peer_with_another_uid_is_rejected_and_disconnected() {
    let dir = TempDir::new();
    let path = dir.path().join("s");
    let listener = Listener::bind(&path).unwrap();
    // Open the file to everyone, as a misconfiguration would, so that the uid check (the
    // second line of defence) is what stops the other user.
    rustix::fs::chmod(&path, rustix::fs::Mode::from_raw_mode(0o666)).unwrap();
    let mut child = helper_command("connect_and_wait", path.to_str().unwrap())
        .uid(OTHER_UID)
        .gid(OTHER_UID)
        .spawn()
        .unwrap();
    let err = accept_blocking(&listener).unwrap_err();
    assert!(
        matches!(
            err,
            TransportError::PeerRejected {
                uid: OTHER_UID,
                expected: 0,
                ..
            }
        ),
        "{err}"
    );
    // The rejected peer sees its connection closed.
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(EXIT_CONNECTION_CLOSED), "{status}");

    // The listener is still fine.
    let _client = Channel::connect(&path).unwrap();
    assert!(accept_blocking(&listener).unwrap().is_some());
}

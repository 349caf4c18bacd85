//! Bodies of child processes started by other tests (see `support::helper_command`). Each
//! does nothing unless `NONO_TRANSPORT_TEST_HELPER` is set, so in a normal run they pass
//! trivially.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

use nono_transport::{Channel, Listener, TransportError};
use nono_wire::SupervisorMessage;

use crate::hostile::CASES;
use crate::support::{fd_count, HELPER_ENV};

/// Exit code: `connect` was refused by the socket file's permissions.
pub const EXIT_CONNECT_EACCES: i32 = 13;
/// Exit code: connected, then saw the supervisor close the connection.
pub const EXIT_CONNECTION_CLOSED: i32 = 0;

fn helper_arg() -> Option<String> {
    std::env::var(HELPER_ENV).ok()
}

#[test]
fn count_fds_across_hostile_cases() {
    if helper_arg().is_none() {
        return;
    }
    for case in CASES {
        let before = fd_count();
        let outcome = case.run();
        case.assert_expected(&outcome.error);
        drop(outcome);
        let after = fd_count();
        assert_eq!(before, after, "{}: fds leaked", case.name);
    }
}

/// Connects to the socket at the given path and waits for the other side to hang up.
#[test]
fn connect_and_wait() {
    let Some(path) = helper_arg() else { return };
    let mut channel = match Channel::connect(&path) {
        Ok(channel) => channel,
        Err(TransportError::PathSyscall {
            call: "connect",
            source,
            ..
        }) if source == rustix::io::Errno::ACCESS => std::process::exit(EXIT_CONNECT_EACCES),
        Err(e) => panic!("connect: {e}"),
    };
    match channel.recv::<SupervisorMessage>() {
        Err(TransportError::Closed) => std::process::exit(EXIT_CONNECTION_CLOSED),
        Err(TransportError::Syscall { source, .. }) if source == rustix::io::Errno::CONNRESET => {
            std::process::exit(EXIT_CONNECTION_CLOSED)
        }
        other => panic!("expected the supervisor to hang up, got {other:?}"),
    }
}

/// Binds a listener at the given path with a umask of 0 and checks the socket's mode.
#[test]
fn bind_with_umask_zero() {
    let Some(path) = helper_arg() else { return };
    // The process is ours alone: changing the umask here disturbs no other test.
    rustix::process::umask(rustix::fs::Mode::empty());
    let listener = Listener::bind(&path).unwrap();
    let meta = std::fs::symlink_metadata(Path::new(&path)).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
    drop(listener);
}

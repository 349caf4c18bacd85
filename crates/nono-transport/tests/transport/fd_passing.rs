//! Passing fds: the received fd is the same open file, close-on-exec, usable for writing.

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};

use nono_transport::{Channel, TransportError};
use nono_wire::{SupervisorMessage, SupervisorResponse};
use rustix::io::FdFlags;

use crate::support::{granted, request, TempDir};

#[test]
fn a_write_through_the_received_fd_lands_in_the_senders_file() {
    let dir = TempDir::new();
    let path = dir.path().join("shared.txt");
    let (mut supervisor, mut child) = Channel::pair().unwrap();
    let file = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .open(&path)
        .unwrap();
    supervisor.send_fd(file.as_fd()).unwrap();
    drop(file);

    let mut received = std::fs::File::from(child.recv_fd().unwrap());
    received.write_all(b"written by the child").unwrap();
    drop(received);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "written by the child"
    );
}

#[test]
fn the_received_fd_is_the_same_open_file_and_close_on_exec() {
    let dir = TempDir::new();
    let path = dir.path().join("f");
    std::fs::write(&path, b"0123456789").unwrap();
    // The sender's fd is deliberately *not* close-on-exec: the flag must come from the
    // receiving side (MSG_CMSG_CLOEXEC), not be inherited.
    let mut file = std::fs::File::open(&path).unwrap();
    rustix::io::fcntl_setfd(&file, FdFlags::empty()).unwrap();
    let (mut a, mut b) = Channel::pair().unwrap();
    let mut head = [0u8; 3];
    file.read_exact(&mut head).unwrap();
    a.send_fd(file.as_fd()).unwrap();
    let received: OwnedFd = b.recv_fd().unwrap();

    assert!(rustix::io::fcntl_getfd(&received)
        .unwrap()
        .contains(FdFlags::CLOEXEC));
    let (ours, theirs) = (
        rustix::fs::fstat(&file).unwrap(),
        rustix::fs::fstat(&received).unwrap(),
    );
    assert_eq!((ours.st_dev, ours.st_ino), (theirs.st_dev, theirs.st_ino));
    // Same open file description: the file offset is shared.
    let mut rest = String::new();
    std::fs::File::from(received)
        .read_to_string(&mut rest)
        .unwrap();
    assert_eq!(rest, "3456789");
}

#[test]
fn request_grant_exchanges_in_a_row_over_a_supervisor_thread() {
    let dir = TempDir::new();
    let path = dir.path().join("granted.txt");
    std::fs::write(&path, b"secret").unwrap();
    let (mut child, mut supervisor) = Channel::pair().unwrap();
    let server = std::thread::spawn(move || {
        let mut served = 0;
        loop {
            match supervisor.recv::<SupervisorMessage>() {
                Ok(msg) => {
                    let id = msg.request_id().to_owned();
                    if served % 2 == 0 {
                        let file = std::fs::File::open(&path).unwrap();
                        supervisor
                            .send_with_fd(file.as_fd(), &granted(&id))
                            .unwrap();
                    } else {
                        supervisor.send(&granted(&id)).unwrap();
                    }
                    served += 1;
                }
                Err(TransportError::Closed) => return served,
                Err(e) => panic!("supervisor: {e}"),
            }
        }
    });
    for i in 0..200 {
        let id = format!("r{i}");
        child.send(&request(&id)).unwrap();
        let (answer, fd) = child.recv_with_fd::<SupervisorResponse>().unwrap();
        assert_eq!(answer, granted(&id));
        assert_eq!(fd.is_some(), i % 2 == 0, "exchange {i}");
        if let Some(fd) = fd {
            let mut contents = String::new();
            std::fs::File::from(fd)
                .read_to_string(&mut contents)
                .unwrap();
            assert_eq!(contents, "secret");
        }
    }
    drop(child);
    assert_eq!(server.join().unwrap(), 200);
}

#[test]
fn peer_credentials_of_a_socket_pair_are_our_own() {
    let (a, _b) = Channel::pair().unwrap();
    let cred = nono_transport::peer_credentials(&a).unwrap();
    assert_eq!(cred.pid, std::process::id());
    assert_eq!(cred.uid, rustix::process::geteuid().as_raw());
    assert_eq!(cred.gid, rustix::process::getegid().as_raw());
}

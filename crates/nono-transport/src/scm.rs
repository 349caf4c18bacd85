//! Socket I/O primitives: `recvmsg` that collects any `SCM_RIGHTS` fds as `OwnedFd`s, a
//! `sendmsg` of one data byte carrying one fd, and a `send` loop that never raises SIGPIPE.

use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::io::{Errno, IoSlice, IoSliceMut};
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

use crate::TransportError;

/// Room for this many fds in every receive's control buffer. The protocol never sends more
/// than one at a time; the slack lets a peer that sends a few be reported precisely
/// ([`TransportError::UnexpectedFds`]) instead of as truncated control data. Anything beyond
/// it is discarded (and closed) by the kernel, which reports `MSG_CTRUNC`.
const FD_SLOTS: usize = 4;
const CONTROL_SPACE: usize = rustix::cmsg_space!(ScmRights(FD_SLOTS));

/// The data byte sent along with a passed fd. Receivers accept any value.
pub(crate) const FD_DATA_BYTE: u8 = 0;

/// What one `recvmsg` produced.
#[derive(Debug)]
pub(crate) struct Received {
    /// Data bytes written to the start of the caller's buffer; 0 means end of stream.
    pub bytes: usize,
    /// Every fd that arrived with those bytes, already owned (closed on drop).
    pub fds: Vec<OwnedFd>,
    /// The kernel truncated the control data (`MSG_CTRUNC`).
    pub control_truncated: bool,
}

/// One `recvmsg(2)` into `buf`, retried on `EINTR`. fds arrive close-on-exec
/// (`MSG_CMSG_CLOEXEC`). A read timeout (`EAGAIN`) becomes [`TransportError::Timeout`].
///
/// # References
///  - [recvmsg(2)](https://man7.org/linux/man-pages/man2/recvmsg.2.html)
///  - [unix(7)](https://man7.org/linux/man-pages/man7/unix.7.html), "Ancillary messages"
pub(crate) fn recv_with_fds(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
) -> Result<Received, TransportError> {
    let mut space = [MaybeUninit::<u8>::uninit(); CONTROL_SPACE];
    loop {
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let mut iov = [IoSliceMut::new(buf)];
        match rustix::net::recvmsg(sock, &mut iov, &mut control, recv_flags()) {
            Ok(msg) => {
                let mut fds = Vec::new();
                for message in control.drain() {
                    if let RecvAncillaryMessage::ScmRights(rights) = message {
                        fds.extend(rights);
                    }
                }
                #[cfg(not(any(target_os = "linux", target_os = "android")))]
                for fd in &fds {
                    // No MSG_CMSG_CLOEXEC here: set the flag right away (a concurrent
                    // fork+exec in another thread could still inherit it).
                    rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::CLOEXEC)
                        .map_err(TransportError::syscall("fcntl(F_SETFD)"))?;
                }
                return Ok(Received {
                    bytes: msg.bytes,
                    fds,
                    control_truncated: msg.flags.contains(ReturnFlags::CTRUNC),
                });
            }
            Err(Errno::INTR) => continue,
            Err(Errno::AGAIN) => return Err(TransportError::Timeout),
            Err(source) => {
                return Err(TransportError::Syscall {
                    call: "recvmsg",
                    source,
                })
            }
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn recv_flags() -> RecvFlags {
    RecvFlags::CMSG_CLOEXEC
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn recv_flags() -> RecvFlags {
    RecvFlags::empty()
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn send_flags() -> SendFlags {
    // A peer that went away must be an EPIPE error, not a SIGPIPE that kills the process.
    SendFlags::NOSIGNAL
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn send_flags() -> SendFlags {
    // Sockets get SO_NOSIGPIPE where MSG_NOSIGNAL does not exist (see `Channel::new`).
    SendFlags::empty()
}

/// `sendmsg(2)` of [`FD_DATA_BYTE`] with `fd` attached as `SCM_RIGHTS`, retried on `EINTR`.
///
/// # References
///  - [sendmsg(2)](https://man7.org/linux/man-pages/man2/sendmsg.2.html)
pub(crate) fn send_fd(sock: BorrowedFd<'_>, fd: BorrowedFd<'_>) -> Result<(), TransportError> {
    let fds = [fd];
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let data = [FD_DATA_BYTE];
    loop {
        let mut control = SendAncillaryBuffer::new(&mut space);
        // Cannot fail: the buffer was sized for exactly this message.
        let pushed = control.push(SendAncillaryMessage::ScmRights(&fds));
        debug_assert!(pushed, "control buffer sized for one fd");
        match rustix::net::sendmsg(sock, &[IoSlice::new(&data)], &mut control, send_flags()) {
            // A stream socket sends the single byte (and its fd) or fails.
            Ok(_) => return Ok(()),
            Err(Errno::INTR) => continue,
            Err(source) => {
                return Err(TransportError::Syscall {
                    call: "sendmsg",
                    source,
                })
            }
        }
    }
}

/// `send(2)` all of `bytes`, retried on `EINTR` and short writes.
pub(crate) fn send_all(sock: BorrowedFd<'_>, mut bytes: &[u8]) -> Result<(), TransportError> {
    while !bytes.is_empty() {
        match rustix::net::send(sock, bytes, send_flags()) {
            Ok(0) => {
                return Err(TransportError::Syscall {
                    call: "send",
                    source: Errno::PIPE,
                });
            }
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::INTR) => continue,
            Err(Errno::AGAIN) => return Err(TransportError::Timeout),
            Err(source) => {
                return Err(TransportError::Syscall {
                    call: "send",
                    source,
                })
            }
        }
    }
    Ok(())
}

//! `TransportError`: every way a channel, listener or credential query can fail.

use std::path::PathBuf;

use nono_wire::WireError;
use rustix::io::Errno;

/// An error from a [`Channel`](crate::Channel), a [`Listener`](crate::Listener) or
/// [`peer_credentials`](crate::peer_credentials).
///
/// Whenever an error concerns received file descriptors, every one of them has already been
/// closed: nothing the peer sent leaks into this process.
///
/// After a *protocol* error (anything that can desynchronise the byte stream:
/// [`ControlTruncated`](Self::ControlTruncated), [`MissingFd`](Self::MissingFd),
/// [`UnexpectedFds`](Self::UnexpectedFds), [`FrameTooLarge`](Self::FrameTooLarge),
/// [`TruncatedFrame`](Self::TruncatedFrame)) the channel is poisoned: every later receive
/// returns [`Poisoned`](Self::Poisoned). A hostile or broken peer costs one connection.
/// [`Timeout`](Self::Timeout) and a message that is not valid JSON ([`Wire`](Self::Wire)
/// with a recoverable [`WireError`]) leave the channel usable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// A system call on the channel's socket failed.
    #[error("{call} failed: {source}")]
    Syscall {
        /// The system call, e.g. `"recvmsg"`.
        call: &'static str,
        /// The error the kernel returned.
        #[source]
        source: Errno,
    },

    /// A system call on a filesystem path failed (binding, connecting, cleaning up).
    #[error("{call} failed on {}: {source}", path.display())]
    PathSyscall {
        /// The system call, e.g. `"connect"`.
        call: &'static str,
        /// The path it was called on.
        path: PathBuf,
        /// The error the kernel returned.
        #[source]
        source: Errno,
    },

    /// The socket path is not usable as a Unix socket address.
    #[error(
        "{} cannot be used as a Unix socket path: {reason}; choose a shorter path \
         (for example under $XDG_RUNTIME_DIR or /tmp)",
        path.display()
    )]
    BadSocketPath {
        /// The path as given (or the temporary path derived from it).
        path: PathBuf,
        /// Why it cannot be used.
        reason: &'static str,
    },

    /// Something already exists at the path [`Listener::bind`](crate::Listener::bind) was
    /// asked to use.
    #[error(
        "{} already exists; if it is a stale socket from a supervisor that is no longer \
         running, remove it, otherwise choose another path",
        path.display()
    )]
    AddressInUse {
        /// The socket path.
        path: PathBuf,
    },

    /// The peer closed the connection cleanly, between two messages.
    #[error("the peer closed the connection")]
    Closed,

    /// The peer closed the connection in the middle of a frame.
    #[error(
        "the peer closed the connection mid-frame after {received} of {expected} bytes \
         (header included); it exited or crashed while sending"
    )]
    TruncatedFrame {
        /// Bytes of the frame that arrived.
        received: usize,
        /// Bytes the frame needed (4 while the header itself is incomplete).
        expected: usize,
    },

    /// A frame header declared a payload longer than
    /// [`MAX_FRAME_LEN`](nono_wire::MAX_FRAME_LEN). Detected from the header alone, before
    /// any allocation.
    #[error(
        "the peer announced a {len}-byte frame, over the {max}-byte limit; it is not speaking \
         the nono protocol (or is hostile), drop the connection"
    )]
    FrameTooLarge {
        /// The length the header declared.
        len: usize,
        /// The limit.
        max: usize,
    },

    /// No data arrived within the read timeout. Nothing was lost: bytes of a partly
    /// received frame (and an fd received ahead of it) stay in the channel, and the next
    /// receive continues where this one stopped.
    #[error("timed out waiting for the peer to send data")]
    Timeout,

    /// The kernel truncated the control data (`MSG_CTRUNC`): the peer attached more
    /// ancillary data than one fd. Every fd that did arrive was closed.
    #[error(
        "the peer's control message was truncated (MSG_CTRUNC): it sent more file \
         descriptors than the protocol allows; all received descriptors were closed"
    )]
    ControlTruncated,

    /// A file descriptor was expected, but its data byte arrived without one.
    #[error(
        "expected a file descriptor from the peer, but the data arrived without SCM_RIGHTS; \
         the peer is out of step with the protocol"
    )]
    MissingFd,

    /// The peer attached a different number of file descriptors than the protocol expects
    /// at this point (an fd inside a frame, or several fds at once). All were closed.
    #[error(
        "expected {expected} file descriptor(s) but the peer sent {received}; all received \
         descriptors were closed"
    )]
    UnexpectedFds {
        /// How many the protocol allows here (0 inside a frame, 1 for an fd message).
        expected: usize,
        /// How many arrived.
        received: usize,
    },

    /// Encoding a message failed, or a received frame is not a valid message. When
    /// [`WireError::is_recoverable`] is true the framing is intact and the channel can
    /// still be used.
    #[error(transparent)]
    Wire(#[from] WireError),

    /// A receive timed out part-way and a different receive was called next:
    /// [`Channel::recv_fd`](crate::Channel::recv_fd) while a frame is partly received, or
    /// [`Channel::recv`](crate::Channel::recv) while
    /// [`Channel::recv_with_fd`](crate::Channel::recv_with_fd) holds the fd that precedes
    /// its frame. Nothing was consumed: finish with the call that started it.
    #[error(
        "an earlier receive timed out part-way through a message; call that same receive \
         method again to finish it"
    )]
    FrameInProgress,

    /// An earlier protocol error left the byte stream out of step; the channel cannot be
    /// used any more.
    #[error("the channel is unusable after an earlier protocol error; drop it and reconnect")]
    Poisoned,

    /// The fd given to [`Channel::from_fd`](crate::Channel::from_fd) is not a Unix stream
    /// socket.
    #[error(
        "the inherited file descriptor is not a Unix stream socket; check the fd number \
         the supervisor passed (NONO_SUPERVISOR_FD)"
    )]
    NotAStreamSocket,

    /// A connecting process runs as a different user; it was rejected and its connection
    /// closed. The listener itself is fine: keep accepting.
    #[error(
        "rejected a connection from pid {pid} running as uid {uid}: only uid {expected} may \
         talk to this supervisor"
    )]
    PeerRejected {
        /// The peer's pid.
        pid: u32,
        /// The peer's uid.
        uid: u32,
        /// Our uid, the only one accepted.
        expected: u32,
    },

    /// The operation is not available on this platform.
    #[error("{what} is not supported on this platform")]
    Unsupported {
        /// What was attempted.
        what: &'static str,
    },
}

impl TransportError {
    pub(crate) fn syscall(call: &'static str) -> impl FnOnce(Errno) -> TransportError {
        move |source| TransportError::Syscall { call, source }
    }

    /// Whether the error leaves the channel in step with the peer (a timeout, or a frame
    /// whose payload was not a valid message), so that receiving can continue.
    #[must_use]
    pub fn is_recoverable(&self) -> bool {
        match self {
            TransportError::Timeout | TransportError::FrameInProgress => true,
            TransportError::Wire(e) => e.is_recoverable(),
            _ => false,
        }
    }
}

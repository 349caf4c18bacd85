//! `Channel`: one connected Unix stream socket carrying nono-wire frames and passed fds.
//!
//! # How frames and fds share the stream
//!
//! The byte stream is a sequence of *units*, each one of:
//!
//! ```text
//!  frame:    +----+----+----+----+------------------------+
//!            |  len (u32, BE)    |  len bytes of JSON     |   no fd attached to any byte
//!            +----+----+----+----+------------------------+
//!
//!  fd:       +----+
//!            | 00 |  + SCM_RIGHTS carrying exactly one fd   (the byte's value is ignored)
//!            +----+
//! ```
//!
//! On a grant the supervisor sends the fd unit first, then the `Decision` frame
//! ([`Channel::send_with_fd`]); a client that does not know whether an fd is coming reads
//! the answer with [`Channel::recv_with_fd`].
//!
//! The receiver never reads past the unit it is asked for: a frame is read as exactly its
//! 4 header bytes and then exactly `len` payload bytes, an fd unit as exactly one byte. So
//! [`recv`](Channel::recv) can never swallow the data byte (and the fd) of a following fd
//! unit, and [`recv_fd`](Channel::recv_fd) can never consume frame bytes; this holds
//! whatever the kernel's rules for merging socket buffers are (Linux ends a read after the
//! buffer that carried fds, BSDs before it). Every read uses `recvmsg` with room for a few
//! fds, so fds that arrive where the protocol has none are seen, counted and closed.
//!
//! The channel's read state is the partly received frame: a receive that times out keeps
//! the bytes it already has (and an fd that [`recv_with_fd`](Channel::recv_with_fd) already
//! took), and the next receive continues from there. Nothing is ever buffered beyond the
//! current unit.

use std::fmt;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use nono_wire::{WireMessage, HEADER_LEN, MAX_FRAME_LEN};
use rustix::net::sockopt::{self, Timeout};
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

use crate::scm::{self, Received};
use crate::TransportError;

/// A connected Unix stream socket that carries nono-wire frames and passes file descriptors.
///
/// Create one with [`pair`](Self::pair), [`connect`](Self::connect),
/// [`from_fd`](Self::from_fd) or [`Listener::accept`](crate::Listener::accept). The socket is
/// close-on-exec and blocking; [`set_read_timeout`](Self::set_read_timeout) bounds receives.
/// See the [module docs](self) for how frames and fds are interleaved.
pub struct Channel {
    sock: OwnedFd,
    /// The frame being received: 4 header bytes, then the payload once the header is in.
    header: [u8; HEADER_LEN],
    payload: Vec<u8>,
    /// Bytes of the current frame received so far (header included).
    filled: usize,
    /// An fd that `recv_with_fd` received ahead of its frame, held while the frame arrives.
    pending_fd: Option<OwnedFd>,
    /// Reused buffer for outgoing frames.
    send_buf: Vec<u8>,
    poisoned: bool,
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("sock", &self.sock)
            .field("partial_frame_bytes", &self.filled)
            .field("pending_fd", &self.pending_fd)
            .field("poisoned", &self.poisoned)
            .finish()
    }
}

impl Channel {
    /// Wraps a connected socket; used by every constructor.
    pub(crate) fn new(sock: OwnedFd) -> Result<Channel, TransportError> {
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        sockopt::set_socket_nosigpipe(&sock, true)
            .map_err(TransportError::syscall("setsockopt(SO_NOSIGPIPE)"))?;
        Ok(Channel {
            sock,
            header: [0; HEADER_LEN],
            payload: Vec::new(),
            filled: 0,
            pending_fd: None,
            send_buf: Vec::new(),
            poisoned: false,
        })
    }

    /// A connected pair of channels (`socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC)`), e.g.
    /// one end for the supervisor and one for a child it is about to spawn.
    ///
    /// # References
    ///  - [socketpair(2)](https://man7.org/linux/man-pages/man2/socketpair.2.html)
    pub fn pair() -> Result<(Channel, Channel), TransportError> {
        let (a, b) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC,
            None,
        )
        .map_err(TransportError::syscall("socketpair"))?;
        Ok((Channel::new(a)?, Channel::new(b)?))
    }

    /// Connects to the Unix socket at `path` (e.g. a [`Listener`](crate::Listener)'s).
    ///
    /// # References
    ///  - [connect(2)](https://man7.org/linux/man-pages/man2/connect.2.html)
    pub fn connect(path: impl AsRef<Path>) -> Result<Channel, TransportError> {
        let path = path.as_ref();
        let addr = SocketAddrUnix::new(path).map_err(|_| TransportError::BadSocketPath {
            path: path.to_path_buf(),
            reason: "it is too long for a Unix socket address",
        })?;
        let sock = rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC,
            None,
        )
        .map_err(TransportError::syscall("socket"))?;
        rustix::net::connect(&sock, &addr).map_err(|source| TransportError::PathSyscall {
            call: "connect",
            path: path.to_path_buf(),
            source,
        })?;
        Channel::new(sock)
    }

    /// Wraps an already connected socket, typically one inherited across `exec` (the fd
    /// number in `NONO_SUPERVISOR_FD`; turning that number into an `OwnedFd` is the
    /// caller's one `unsafe` step, since this crate has none). The fd is checked to be a
    /// Unix stream socket and made close-on-exec, so it is not passed on further.
    pub fn from_fd(fd: OwnedFd) -> Result<Channel, TransportError> {
        match sockopt::socket_type(&fd) {
            Ok(SocketType::STREAM) => {}
            Ok(_) | Err(rustix::io::Errno::NOTSOCK) => {
                return Err(TransportError::NotAStreamSocket)
            }
            Err(source) => {
                return Err(TransportError::Syscall {
                    call: "getsockopt(SO_TYPE)",
                    source,
                })
            }
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        match sockopt::socket_domain(&fd) {
            Ok(AddressFamily::UNIX) => {}
            Ok(_) => return Err(TransportError::NotAStreamSocket),
            Err(source) => {
                return Err(TransportError::Syscall {
                    call: "getsockopt(SO_DOMAIN)",
                    source,
                })
            }
        }
        rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC)
            .map_err(TransportError::syscall("fcntl(F_SETFD)"))?;
        Channel::new(fd)
    }

    /// The socket, for `poll` (readable means a receive will not block for its first byte).
    #[must_use]
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }

    /// Bounds how long each receive waits for data (`SO_RCVTIMEO`); `None` waits forever.
    /// A receive that runs out of time returns [`TransportError::Timeout`] and keeps what
    /// it already received. A zero duration is treated as the smallest timeout, not as
    /// "forever" (which is what `SO_RCVTIMEO` would make of it).
    ///
    /// # References
    ///  - [socket(7)](https://man7.org/linux/man-pages/man7/socket.7.html), `SO_RCVTIMEO`
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> Result<(), TransportError> {
        let timeout = timeout.map(|t| t.max(Duration::from_micros(1)));
        sockopt::set_socket_timeout(&self.sock, Timeout::Recv, timeout)
            .map_err(TransportError::syscall("setsockopt(SO_RCVTIMEO)"))
    }

    /// Sends `msg` as one frame.
    ///
    /// # Errors
    /// [`TransportError::Wire`] if `msg` cannot be encoded (not serialisable, over
    /// [`MAX_FRAME_LEN`]); [`TransportError::Syscall`] (`EPIPE` when the peer is gone —
    /// never a `SIGPIPE`).
    pub fn send<T: WireMessage>(&mut self, msg: &T) -> Result<(), TransportError> {
        self.send_buf.clear();
        nono_wire::encode_frame_into(msg, &mut self.send_buf)?;
        let result = scm::send_all(self.sock.as_fd(), &self.send_buf);
        if self.send_buf.capacity() > 2 * MAX_FRAME_LEN {
            self.send_buf = Vec::new();
        }
        result
    }

    /// Sends `fd` as an fd unit: one data byte with `fd` attached (`SCM_RIGHTS`). The
    /// peer gets its own descriptor for the same open file; ours stays open.
    ///
    /// # References
    ///  - [unix(7)](https://man7.org/linux/man-pages/man7/unix.7.html), `SCM_RIGHTS`
    pub fn send_fd(&mut self, fd: BorrowedFd<'_>) -> Result<(), TransportError> {
        scm::send_fd(self.sock.as_fd(), fd)
    }

    /// Sends a grant: the fd unit first, then `msg` (the order nono 0.58 clients expect).
    /// The peer reads it with [`recv_with_fd`](Self::recv_with_fd).
    pub fn send_with_fd<T: WireMessage>(
        &mut self,
        fd: BorrowedFd<'_>,
        msg: &T,
    ) -> Result<(), TransportError> {
        // Encode before sending anything, so an unencodable message sends nothing at all.
        self.send_buf.clear();
        nono_wire::encode_frame_into(msg, &mut self.send_buf)?;
        scm::send_fd(self.sock.as_fd(), fd)?;
        scm::send_all(self.sock.as_fd(), &self.send_buf)
    }

    /// Receives the next frame and parses it as a `T`. Any fd attached to its bytes is a
    /// protocol error ([`TransportError::UnexpectedFds`]; the fds are closed), so when an
    /// fd may precede the frame use [`recv_with_fd`](Self::recv_with_fd).
    ///
    /// # Errors
    /// [`TransportError::Closed`] at a clean end of stream; see [`TransportError`] for the
    /// rest and for which errors poison the channel.
    pub fn recv<T: WireMessage>(&mut self) -> Result<T, TransportError> {
        self.check_usable()?;
        if self.pending_fd.is_some() {
            return Err(TransportError::FrameInProgress);
        }
        let payload = self.recv_frame_payload()?;
        Ok(nono_wire::decode_message(&payload)?)
    }

    /// Receives an fd unit: exactly one data byte carrying exactly one fd, which arrives
    /// close-on-exec (`MSG_CMSG_CLOEXEC`).
    ///
    /// # Errors
    /// [`TransportError::MissingFd`] (the byte came alone), [`TransportError::UnexpectedFds`]
    /// (several fds), [`TransportError::ControlTruncated`], [`TransportError::Closed`];
    /// [`TransportError::FrameInProgress`] if a frame is partly received.
    pub fn recv_fd(&mut self) -> Result<OwnedFd, TransportError> {
        self.check_usable()?;
        if self.filled > 0 || self.pending_fd.is_some() {
            return Err(TransportError::FrameInProgress);
        }
        let mut byte = [0u8; 1];
        let received = scm::recv_with_fds(self.sock.as_fd(), &mut byte)?;
        if received.bytes == 0 {
            // An fd never comes without its byte, so nothing can be attached here.
            return Err(TransportError::Closed);
        }
        self.take_one_fd(received)
    }

    /// Receives the next frame, optionally preceded by an fd unit: the shape of a
    /// supervisor's answer, which carries an fd when access was granted. Returns the
    /// message and the fd, if one came.
    ///
    /// # Errors
    /// As [`recv`](Self::recv) and [`recv_fd`](Self::recv_fd). If the frame turns out to
    /// be invalid, the fd that preceded it is closed.
    pub fn recv_with_fd<T: WireMessage>(&mut self) -> Result<(T, Option<OwnedFd>), TransportError> {
        self.check_usable()?;
        if self.filled == 0 && self.pending_fd.is_none() {
            // The first byte decides: with an fd it is an fd unit, alone it starts the frame.
            let mut byte = [0u8; 1];
            let received = scm::recv_with_fds(self.sock.as_fd(), &mut byte)?;
            if received.bytes == 0 {
                return Err(TransportError::Closed);
            }
            if received.fds.is_empty() && !received.control_truncated {
                self.header[0] = byte[0];
                self.filled = 1;
            } else {
                self.pending_fd = Some(self.take_one_fd(received)?);
            }
        }
        let payload = match self.recv_frame_payload() {
            Ok(payload) => payload,
            Err(e) => {
                if !e.is_recoverable() {
                    self.pending_fd = None;
                }
                return Err(e);
            }
        };
        let fd = self.pending_fd.take();
        Ok((nono_wire::decode_message(&payload)?, fd))
    }

    fn check_usable(&self) -> Result<(), TransportError> {
        if self.poisoned {
            Err(TransportError::Poisoned)
        } else {
            Ok(())
        }
    }

    fn poison(&mut self, error: TransportError) -> TransportError {
        self.poisoned = true;
        self.pending_fd = None;
        self.payload = Vec::new();
        error
    }

    /// Checks that one `recvmsg` of a single fd-unit byte brought exactly one fd.
    fn take_one_fd(&mut self, received: Received) -> Result<OwnedFd, TransportError> {
        if received.control_truncated {
            // `received.fds` is dropped here: every fd that did arrive is closed.
            return Err(self.poison(TransportError::ControlTruncated));
        }
        let count = received.fds.len();
        let mut fds = received.fds.into_iter();
        match (fds.next(), count) {
            (Some(fd), 1) => Ok(fd),
            (None, _) => Err(self.poison(TransportError::MissingFd)),
            (Some(_), received) => Err(self.poison(TransportError::UnexpectedFds {
                expected: 1,
                received,
            })),
        }
    }

    /// Reads the rest of the current frame with exact-size reads and returns its payload.
    /// On a timeout the partial frame stays in `self` for the next call.
    fn recv_frame_payload(&mut self) -> Result<Vec<u8>, TransportError> {
        loop {
            let (buf, expected) = if self.filled < HEADER_LEN {
                (&mut self.header[self.filled..], HEADER_LEN)
            } else {
                let expected = HEADER_LEN + self.payload.len();
                if self.filled == expected {
                    self.filled = 0;
                    return Ok(std::mem::take(&mut self.payload));
                }
                (&mut self.payload[self.filled - HEADER_LEN..], expected)
            };
            let received = scm::recv_with_fds(self.sock.as_fd(), buf)?;
            if received.control_truncated {
                return Err(self.poison(TransportError::ControlTruncated));
            }
            if !received.fds.is_empty() {
                let count = received.fds.len();
                drop(received);
                return Err(self.poison(TransportError::UnexpectedFds {
                    expected: 0,
                    received: count,
                }));
            }
            if received.bytes == 0 {
                if self.filled == 0 {
                    return Err(TransportError::Closed);
                }
                let error = TransportError::TruncatedFrame {
                    received: self.filled,
                    expected,
                };
                return Err(self.poison(error));
            }
            self.filled += received.bytes;
            if self.filled == HEADER_LEN {
                // The length is checked before the payload buffer exists.
                let len = u32::from_be_bytes(self.header);
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                if len > MAX_FRAME_LEN {
                    return Err(self.poison(TransportError::FrameTooLarge {
                        len,
                        max: MAX_FRAME_LEN,
                    }));
                }
                self.payload = vec![0; len];
            }
        }
    }
}

impl AsFd for Channel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

impl From<Channel> for OwnedFd {
    /// The socket, e.g. to hand a [`Channel::pair`] end to a child process. Any partly
    /// received frame is discarded.
    fn from(channel: Channel) -> OwnedFd {
        channel.sock
    }
}

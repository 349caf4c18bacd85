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
        self.encode(msg)?;
        scm::send_all(self.sock.as_fd(), &self.send_buf)
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
        self.encode(msg)?;
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

    /// Encodes `msg` as one frame into `send_buf`, replacing what was there.
    fn encode<T: WireMessage>(&mut self, msg: &T) -> Result<(), TransportError> {
        self.send_buf.clear();
        let result = nono_wire::encode_frame_into(msg, &mut self.send_buf);
        // A message over the limit is serialised in full before it is refused (a frame
        // that fits never grows the buffer past this): don't keep that memory.
        if self.send_buf.capacity() > 2 * MAX_FRAME_LEN {
            self.send_buf = Vec::new();
        }
        Ok(result?)
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

#[cfg(test)]
mod tests {
    use std::io::{Read, Seek, Write};

    use nono_wire::{
        AccessMode, ApprovalDecision, CapabilityRequest, SupervisorMessage, SupervisorResponse,
    };

    use super::*;

    fn request(id: &str) -> SupervisorMessage {
        SupervisorMessage::Request(CapabilityRequest {
            request_id: id.to_owned(),
            path: "/home/user/project/file.txt".into(),
            access: AccessMode::ReadWrite,
            reason: Some("edit".to_owned()),
            child_pid: 42,
            session_id: "s1".to_owned(),
        })
    }

    fn granted(id: &str) -> SupervisorResponse {
        SupervisorResponse::Decision {
            request_id: id.to_owned(),
            decision: ApprovalDecision::Granted,
        }
    }

    fn denied(id: &str) -> SupervisorResponse {
        SupervisorResponse::Decision {
            request_id: id.to_owned(),
            decision: ApprovalDecision::Denied {
                reason: "no".to_owned(),
            },
        }
    }

    /// Raw bytes straight onto the socket, bypassing the channel's framing.
    fn raw_send(channel: &Channel, bytes: &[u8]) {
        scm::send_all(channel.as_fd(), bytes).unwrap();
    }

    fn file_with(contents: &[u8]) -> std::fs::File {
        let mut file = tempfile_in_proc();
        file.write_all(contents).unwrap();
        file.rewind().unwrap();
        file
    }

    /// An anonymous file (unlinked right away) for fd-passing tests.
    fn tempfile_in_proc() -> std::fs::File {
        let dir = std::env::temp_dir();
        let fd = rustix::fs::openat(
            rustix::fs::CWD,
            &dir,
            rustix::fs::OFlags::TMPFILE | rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .unwrap();
        std::fs::File::from(fd)
    }

    #[test]
    fn request_and_response_round_trip() {
        let (mut child, mut supervisor) = Channel::pair().unwrap();
        child.send(&request("r1")).unwrap();
        assert_eq!(
            supervisor.recv::<SupervisorMessage>().unwrap(),
            request("r1")
        );
        supervisor.send(&denied("r1")).unwrap();
        assert_eq!(child.recv::<SupervisorResponse>().unwrap(), denied("r1"));
    }

    #[test]
    fn recv_does_not_swallow_a_following_fd_and_recv_fd_takes_no_frame_bytes() {
        let (mut a, mut b) = Channel::pair().unwrap();
        let file = file_with(b"hello");
        // Everything is queued before the receiver reads anything.
        a.send(&denied("1")).unwrap();
        a.send_fd(file.as_fd()).unwrap();
        a.send(&granted("2")).unwrap();
        a.send_fd(file.as_fd()).unwrap();
        a.send_fd(file.as_fd()).unwrap();
        a.send(&denied("3")).unwrap();
        assert_eq!(b.recv::<SupervisorResponse>().unwrap(), denied("1"));
        let _fd = b.recv_fd().unwrap();
        assert_eq!(b.recv::<SupervisorResponse>().unwrap(), granted("2"));
        let _fd = b.recv_fd().unwrap();
        let _fd = b.recv_fd().unwrap();
        assert_eq!(b.recv::<SupervisorResponse>().unwrap(), denied("3"));
    }

    #[test]
    fn recv_with_fd_returns_the_fd_that_precedes_a_grant_and_none_otherwise() {
        let (mut supervisor, mut child) = Channel::pair().unwrap();
        let file = file_with(b"granted contents");
        supervisor.send(&denied("1")).unwrap();
        supervisor
            .send_with_fd(file.as_fd(), &granted("2"))
            .unwrap();
        supervisor.send(&denied("3")).unwrap();

        let (msg, fd) = child.recv_with_fd::<SupervisorResponse>().unwrap();
        assert_eq!((msg, fd.is_none()), (denied("1"), true));
        let (msg, fd) = child.recv_with_fd::<SupervisorResponse>().unwrap();
        assert_eq!(msg, granted("2"));
        let mut contents = String::new();
        std::fs::File::from(fd.unwrap())
            .read_to_string(&mut contents)
            .unwrap();
        assert_eq!(contents, "granted contents");
        let (msg, fd) = child.recv_with_fd::<SupervisorResponse>().unwrap();
        assert_eq!((msg, fd.is_none()), (denied("3"), true));
    }

    #[test]
    fn a_timeout_mid_frame_keeps_the_received_bytes() {
        let (mut a, mut b) = Channel::pair().unwrap();
        b.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let frame = nono_wire::encode_frame(&request("split")).unwrap();
        assert!(matches!(
            b.recv::<SupervisorMessage>(),
            Err(TransportError::Timeout)
        ));
        raw_send(&a, &frame[..2]);
        assert!(matches!(
            b.recv::<SupervisorMessage>(),
            Err(TransportError::Timeout)
        ));
        raw_send(&a, &frame[2..9]);
        assert!(matches!(
            b.recv::<SupervisorMessage>(),
            Err(TransportError::Timeout)
        ));
        // A partly received frame is not an fd unit.
        assert!(matches!(b.recv_fd(), Err(TransportError::FrameInProgress)));
        raw_send(&a, &frame[9..]);
        a.send(&request("next")).unwrap();
        assert_eq!(b.recv::<SupervisorMessage>().unwrap(), request("split"));
        assert_eq!(b.recv::<SupervisorMessage>().unwrap(), request("next"));
    }

    #[test]
    fn a_timeout_between_the_fd_and_its_frame_keeps_the_fd() {
        let (mut a, mut b) = Channel::pair().unwrap();
        b.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let file = file_with(b"x");
        a.send_fd(file.as_fd()).unwrap();
        assert!(matches!(
            b.recv_with_fd::<SupervisorResponse>(),
            Err(TransportError::Timeout)
        ));
        // The fd is held for its frame; a plain recv must not drop it.
        assert!(matches!(
            b.recv::<SupervisorResponse>(),
            Err(TransportError::FrameInProgress)
        ));
        a.send(&granted("g")).unwrap();
        let (msg, fd) = b.recv_with_fd::<SupervisorResponse>().unwrap();
        assert_eq!(msg, granted("g"));
        assert!(fd.is_some());
    }

    #[test]
    fn a_payload_that_is_not_a_message_costs_one_frame_only() {
        let (mut a, mut b) = Channel::pair().unwrap();
        raw_send(&a, &[0, 0, 0, 0]);
        raw_send(&a, &[0, 0, 0, 5, b'{', b'x', b'"', b'}', b']']);
        let unknown = br#"{"Teleport":{}}"#;
        raw_send(&a, &u32::try_from(unknown.len()).unwrap().to_be_bytes());
        raw_send(&a, unknown);
        a.send(&request("ok")).unwrap();
        for _ in 0..2 {
            let err = b.recv::<SupervisorMessage>().unwrap_err();
            assert!(
                matches!(err, TransportError::Wire(nono_wire::WireError::Json { .. })),
                "{err}"
            );
            assert!(err.is_recoverable());
        }
        let err = b.recv::<SupervisorMessage>().unwrap_err();
        assert!(
            matches!(&err, TransportError::Wire(nono_wire::WireError::UnknownKind { kind }) if kind == "Teleport"),
            "{err}"
        );
        assert_eq!(b.recv::<SupervisorMessage>().unwrap(), request("ok"));
    }

    #[test]
    fn a_protocol_error_poisons_the_channel() {
        let (a, mut b) = Channel::pair().unwrap();
        raw_send(&a, &[0xff, 0xff, 0xff, 0xff]);
        let err = b.recv::<SupervisorMessage>().unwrap_err();
        assert!(
            matches!(
                err,
                TransportError::FrameTooLarge {
                    len: 0xffff_ffff,
                    max: MAX_FRAME_LEN
                }
            ),
            "{err}"
        );
        assert!(!err.is_recoverable());
        assert!(matches!(
            b.recv::<SupervisorMessage>(),
            Err(TransportError::Poisoned)
        ));
        assert!(matches!(b.recv_fd(), Err(TransportError::Poisoned)));
    }

    #[test]
    fn the_largest_frame_passes_and_one_byte_more_is_refused_before_allocation() {
        let (a, mut b) = Channel::pair().unwrap();
        // A maximal payload. It is not JSON, but it must arrive whole, as one frame.
        let mut frame = u32::try_from(MAX_FRAME_LEN).unwrap().to_be_bytes().to_vec();
        frame.resize(HEADER_LEN + MAX_FRAME_LEN, b'a');
        let writer = std::thread::spawn(move || {
            raw_send(&a, &frame);
            raw_send(&a, &u32::try_from(MAX_FRAME_LEN + 1).unwrap().to_be_bytes());
            a
        });
        let err = b.recv::<SupervisorMessage>().unwrap_err();
        assert!(matches!(
            err,
            TransportError::Wire(nono_wire::WireError::Json { .. })
        ));
        let err = b.recv::<SupervisorMessage>().unwrap_err();
        assert!(
            matches!(err, TransportError::FrameTooLarge { len, .. } if len == MAX_FRAME_LEN + 1)
        );
        drop(writer.join().unwrap());
    }

    #[test]
    fn eof_between_messages_is_closed_and_inside_a_frame_is_truncated() {
        let (a, mut b) = Channel::pair().unwrap();
        drop(a);
        assert!(matches!(
            b.recv::<SupervisorMessage>(),
            Err(TransportError::Closed)
        ));
        assert!(matches!(b.recv_fd(), Err(TransportError::Closed)));
        assert!(matches!(
            b.recv_with_fd::<SupervisorMessage>(),
            Err(TransportError::Closed)
        ));

        let (a, mut b) = Channel::pair().unwrap();
        let frame = nono_wire::encode_frame(&request("cut")).unwrap();
        raw_send(&a, &frame[..frame.len() - 3]);
        drop(a);
        let err = b.recv::<SupervisorMessage>().unwrap_err();
        assert!(
            matches!(err, TransportError::TruncatedFrame { received, expected }
                if received == frame.len() - 3 && expected == frame.len()),
            "{err}"
        );
    }

    #[test]
    fn sending_to_a_closed_peer_is_an_error_not_a_signal() {
        let (mut a, b) = Channel::pair().unwrap();
        drop(b);
        let err = a.send(&request("x")).unwrap_err();
        assert!(
            matches!(err, TransportError::Syscall { call: "send", source } if source == rustix::io::Errno::PIPE),
            "{err}"
        );
        let file = file_with(b"");
        assert!(a.send_fd(file.as_fd()).is_err());
    }

    #[test]
    fn from_fd_accepts_unix_stream_sockets_only() {
        let (a, mut b) = Channel::pair().unwrap();
        let mut a = Channel::from_fd(OwnedFd::from(a)).unwrap();
        a.send(&request("via from_fd")).unwrap();
        assert_eq!(
            b.recv::<SupervisorMessage>().unwrap(),
            request("via from_fd")
        );

        let (read, _write) = rustix::pipe::pipe().unwrap();
        assert!(matches!(
            Channel::from_fd(read),
            Err(TransportError::NotAStreamSocket)
        ));
        let dgram = rustix::net::socket(AddressFamily::UNIX, SocketType::DGRAM, None).unwrap();
        assert!(matches!(
            Channel::from_fd(dgram),
            Err(TransportError::NotAStreamSocket)
        ));
    }

    #[test]
    fn from_fd_makes_an_inherited_socket_close_on_exec() {
        let (a, b) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::empty(),
            None,
        )
        .unwrap();
        assert!(!rustix::io::fcntl_getfd(&a)
            .unwrap()
            .contains(rustix::io::FdFlags::CLOEXEC));
        let a = Channel::from_fd(a).unwrap();
        assert!(rustix::io::fcntl_getfd(a.as_fd())
            .unwrap()
            .contains(rustix::io::FdFlags::CLOEXEC));
        drop(b);
    }

    #[test]
    fn unencodable_message_sends_nothing() {
        use std::os::unix::ffi::OsStrExt;
        let (mut a, mut b) = Channel::pair().unwrap();
        let mut bad = request("bad");
        if let SupervisorMessage::Request(r) = &mut bad {
            r.path = std::ffi::OsStr::from_bytes(b"/not/utf8/\xff").into();
        }
        let file = file_with(b"");
        assert!(matches!(
            a.send_with_fd(file.as_fd(), &bad),
            Err(TransportError::Wire(_))
        ));
        assert!(matches!(a.send(&bad), Err(TransportError::Wire(_))));
        a.send(&request("good")).unwrap();
        assert_eq!(b.recv::<SupervisorMessage>().unwrap(), request("good"));
    }

    #[test]
    fn zero_read_timeout_is_not_forever() {
        let (_a, mut b) = Channel::pair().unwrap();
        b.set_read_timeout(Some(Duration::ZERO)).unwrap();
        assert!(matches!(
            b.recv::<SupervisorMessage>(),
            Err(TransportError::Timeout)
        ));
        b.set_read_timeout(None).unwrap();
    }
}

//! nono-transport: a Unix-socket channel for nono-wire frames, with fd passing and peer credentials.
//!
//! - [`Channel`]: a connected Unix stream socket ([`Channel::pair`], [`Channel::connect`],
//!   [`Channel::from_fd`]) that sends and receives nono-wire messages
//!   ([`Channel::send`] / [`Channel::recv`]) and file descriptors
//!   ([`Channel::send_fd`] / [`Channel::recv_fd`], [`Channel::send_with_fd`] /
//!   [`Channel::recv_with_fd`]). The [`channel`] module documents how frames and fds share
//!   one stream.
//! - [`Listener`]: a socket at a path, owner-only from creation, accepting only peers with
//!   our uid, without blocking.
//! - [`peer_credentials`]: the kernel's record of who is at the other end.
//!
//! Every fd crossing the socket is an [`OwnedFd`](std::os::fd::OwnedFd), received
//! close-on-exec, and closed if the protocol has no place for it. The crate has no `unsafe`;
//! all system calls go through rustix.

#![forbid(unsafe_code)]

pub mod channel;
mod error;
pub mod listener;
mod peer;
mod scm;

pub use channel::Channel;
pub use error::TransportError;
pub use listener::{Listener, DEFAULT_CONNECTION_READ_TIMEOUT};
pub use peer::{peer_credentials, PeerCredentials};

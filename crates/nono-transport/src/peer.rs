//! `peer_credentials`: who is at the other end of a channel, as the kernel recorded it.

use crate::{Channel, TransportError};

/// The credentials of the process at the other end of a [`Channel`], recorded by the kernel
/// when the connection was made (or the socket pair created), not claimed by the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerCredentials {
    /// The peer's process id.
    pub pid: u32,
    /// The peer's effective user id.
    pub uid: u32,
    /// The peer's effective group id.
    pub gid: u32,
}

/// The kernel's record of the peer process: `SO_PEERCRED` on Linux.
///
/// On other platforms this returns [`TransportError::Unsupported`]: macOS would need
/// `getpeereid` and `LOCAL_PEERPID`, which rustix does not offer, and this crate uses no
/// `unsafe` to call them directly.
///
/// # References
///  - [unix(7)](https://man7.org/linux/man-pages/man7/unix.7.html), `SO_PEERCRED`
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn peer_credentials(channel: &Channel) -> Result<PeerCredentials, TransportError> {
    let cred = rustix::net::sockopt::socket_peercred(channel.as_fd())
        .map_err(TransportError::syscall("getsockopt(SO_PEERCRED)"))?;
    Ok(PeerCredentials {
        pid: cred.pid.as_raw_pid().unsigned_abs(),
        uid: cred.uid.as_raw(),
        gid: cred.gid.as_raw(),
    })
}

/// The kernel's record of the peer process. Not available on this platform.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub fn peer_credentials(channel: &Channel) -> Result<PeerCredentials, TransportError> {
    let _ = channel;
    Err(TransportError::Unsupported {
        what: "querying a Unix socket peer's credentials",
    })
}

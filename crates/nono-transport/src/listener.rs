//! `Listener`: an owner-only Unix socket at a path, accepting same-uid peers without blocking.
//!
//! # How the socket is owner-only from the start
//!
//! `bind(2)` creates the socket file with mode `0777 & !umask`, and the umask is
//! process-wide, so changing it around `bind` would race with every other thread creating
//! files. Instead [`Listener::bind`]:
//!
//! 1. creates a fresh private directory (`mkdir` mode 0700, then `fchmod` to exactly 0700)
//!    next to the requested path (name from pid, clock and a counter); `mkdir` fails if the
//!    name is taken, so nobody else can have prepared it — a squatter can only make us
//!    retry with another name;
//! 2. binds the socket inside it — while the file has its umask-derived mode, nobody but us
//!    can reach it through the 0700 directory;
//! 3. `chmod`s the socket file to 0600 and starts listening;
//! 4. renames it onto the requested path with `RENAME_NOREPLACE` (it never replaces an
//!    existing file) and removes the private directory.
//!
//! So the socket appears at its final path already 0600 and already listening, and the
//! caller may put it in any directory (`$XDG_RUNTIME_DIR`, a session directory, `/tmp`).
//! `fchmod` on the socket fd before `bind` would be simpler but only works on Linux (macOS
//! rejects it), and would still leave the file's mode to the kernel's handling of the
//! umask.
//!
//! The mode is the first line of defence; the second is the peer check on every accepted
//! connection: the peer's uid (from `SO_PEERCRED`) must equal our effective uid.

use std::ffi::OsString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

use crate::{peer_credentials, Channel, TransportError};

/// The read timeout given to every accepted connection unless changed with
/// [`Listener::set_connection_read_timeout`]: a peer that stops in the middle of a frame
/// holds a receive for at most this long.
pub const DEFAULT_CONNECTION_READ_TIMEOUT: Duration = Duration::from_secs(10);

const SOCKET_MODE: u32 = 0o600;
const PRIVATE_DIR_MODE: u32 = 0o700;
const BACKLOG: i32 = 64;
/// Name of the socket inside the private directory: short, so the temporary address is
/// barely longer than the final one (`sun_path` holds about 100 bytes).
const INNER_NAME: &str = "s";

/// A listening Unix stream socket bound to a filesystem path, owner-only (mode 0600),
/// accepting only peers that run as our own uid.
///
/// The listening socket is non-blocking: [`accept`](Self::accept) returns `Ok(None)` when
/// nobody is waiting, so the listener can sit in a `poll` loop next to other fds (it
/// implements [`AsFd`]). The socket file is removed when the listener is dropped.
#[derive(Debug)]
pub struct Listener {
    sock: OwnedFd,
    /// The directory holding the socket file, kept open so that cleanup does not depend on
    /// the current directory or on the path's ancestors staying put.
    dir: OwnedFd,
    name: OsString,
    path: PathBuf,
    /// Identity of the socket file we created, so drop never unlinks a file that replaced it.
    dev: u64,
    ino: u64,
    conn_timeout: Option<Duration>,
}

impl Listener {
    /// Creates the socket at `path` (which must not exist yet), owner-only from the start,
    /// and starts listening. See the [module docs](self) for how.
    ///
    /// # Errors
    /// [`TransportError::AddressInUse`] when something exists at `path`;
    /// [`TransportError::BadSocketPath`] when `path` has no file name or is too long for a
    /// socket address; [`TransportError::PathSyscall`] when a step fails.
    ///
    /// # References
    ///  - [bind(2)](https://man7.org/linux/man-pages/man2/bind.2.html),
    ///    [unix(7)](https://man7.org/linux/man-pages/man7/unix.7.html) ("Pathname socket
    ///    ownership and permissions"),
    ///    [rename(2)](https://man7.org/linux/man-pages/man2/rename.2.html) (`RENAME_NOREPLACE`)
    pub fn bind(path: impl AsRef<Path>) -> Result<Listener, TransportError> {
        let path = path.as_ref();
        let name = match path.file_name() {
            Some(name) => name.to_os_string(),
            None => {
                return Err(TransportError::BadSocketPath {
                    path: path.to_path_buf(),
                    reason: "it has no file name",
                })
            }
        };
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let path_err = |call: &'static str, p: &Path| {
            let p = p.to_path_buf();
            move |source| TransportError::PathSyscall {
                call,
                path: p,
                source,
            }
        };
        let dir = rustix::fs::open(
            &parent,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(path_err("open", &parent))?;
        match rustix::fs::statat(&dir, &name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(_) => {
                return Err(TransportError::AddressInUse {
                    path: path.to_path_buf(),
                })
            }
            Err(Errno::NOENT) => {}
            Err(source) => {
                return Err(TransportError::PathSyscall {
                    call: "stat",
                    path: path.to_path_buf(),
                    source,
                })
            }
        }

        // The final address must fit too, or clients could not `connect` to it.
        SocketAddrUnix::new(path).map_err(|_| TransportError::BadSocketPath {
            path: path.to_path_buf(),
            reason: "it is too long for a Unix socket address",
        })?;
        let private = PrivateDir::create(dir.as_fd(), &parent)?;
        let inner_path = private.path.join(INNER_NAME);
        let addr = SocketAddrUnix::new(&inner_path).map_err(|_| TransportError::BadSocketPath {
            path: inner_path.clone(),
            reason: "it is too long for a Unix socket address (temporary name included)",
        })?;
        let sock = rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )
        .map_err(TransportError::syscall("socket"))?;
        rustix::net::bind(&sock, &addr).map_err(path_err("bind", &inner_path))?;
        rustix::fs::chmodat(
            &private.fd,
            INNER_NAME,
            Mode::from_raw_mode(SOCKET_MODE),
            AtFlags::empty(),
        )
        .map_err(path_err("chmod", &inner_path))?;
        rustix::net::listen(&sock, BACKLOG).map_err(path_err("listen", &inner_path))?;
        let stat = rustix::fs::statat(&private.fd, INNER_NAME, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(path_err("stat", &inner_path))?;
        match rename_noreplace(&private.fd, &dir, &name) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                return Err(TransportError::AddressInUse {
                    path: path.to_path_buf(),
                })
            }
            Err(source) => {
                return Err(TransportError::PathSyscall {
                    call: "renameat2",
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
        drop(private);
        Ok(Listener {
            sock,
            dir,
            name,
            path: path.to_path_buf(),
            dev: identity(&stat).0,
            ino: identity(&stat).1,
            conn_timeout: Some(DEFAULT_CONNECTION_READ_TIMEOUT),
        })
    }

    /// The path the socket is bound to.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sets the read timeout of connections accepted from now on (`None`: wait forever).
    /// The default is [`DEFAULT_CONNECTION_READ_TIMEOUT`].
    pub fn set_connection_read_timeout(&mut self, timeout: Option<Duration>) {
        self.conn_timeout = timeout;
    }

    /// Accepts one pending connection without blocking: `Ok(None)` when none is waiting.
    ///
    /// The peer's uid must equal our effective uid; otherwise the connection is closed and
    /// [`TransportError::PeerRejected`] returned. That error (like every other from this
    /// method) concerns one connection only: the listener stays usable, keep accepting.
    /// Accepted channels are blocking, close-on-exec, and have the connection read timeout.
    ///
    /// # References
    ///  - [accept4(2)](https://man7.org/linux/man-pages/man2/accept.2.html)
    pub fn accept(&self) -> Result<Option<Channel>, TransportError> {
        let conn = loop {
            match rustix::net::accept_with(&self.sock, SocketFlags::CLOEXEC) {
                Ok(conn) => break conn,
                Err(Errno::INTR) => continue,
                // A client that gave up before we got to it: nothing to accept.
                Err(Errno::AGAIN | Errno::CONNABORTED) => return Ok(None),
                Err(source) => {
                    return Err(TransportError::Syscall {
                        call: "accept",
                        source,
                    })
                }
            }
        };
        // BSD-derived systems let accepted sockets inherit O_NONBLOCK; Linux does not.
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        rustix::io::ioctl_fionbio(&conn, false)
            .map_err(TransportError::syscall("ioctl(FIONBIO)"))?;
        let channel = Channel::new(conn)?;
        let cred = peer_credentials(&channel)?;
        let ours = rustix::process::geteuid().as_raw();
        if cred.uid != ours {
            // Dropping `channel` closes the connection.
            return Err(TransportError::PeerRejected {
                pid: cred.pid,
                uid: cred.uid,
                expected: ours,
            });
        }
        channel.set_read_timeout(self.conn_timeout)?;
        Ok(Some(channel))
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // Remove the socket file only if it is still the one we created.
        if let Ok(stat) = rustix::fs::statat(&self.dir, &self.name, AtFlags::SYMLINK_NOFOLLOW) {
            if identity(&stat) == (self.dev, self.ino) {
                let _ = rustix::fs::unlinkat(&self.dir, &self.name, AtFlags::empty());
            }
        }
    }
}

/// A file's `(device, inode)`, the fields widened to `u64` (their types differ by platform).
#[allow(clippy::unnecessary_cast)]
fn identity(stat: &rustix::fs::Stat) -> (u64, u64) {
    (stat.st_dev as u64, stat.st_ino as u64)
}

#[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
fn rename_noreplace(from_dir: &OwnedFd, to_dir: &OwnedFd, to_name: &OsString) -> Result<(), Errno> {
    rustix::fs::renameat_with(
        from_dir,
        INNER_NAME,
        to_dir,
        to_name,
        rustix::fs::RenameFlags::NOREPLACE,
    )
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
fn rename_noreplace(from_dir: &OwnedFd, to_dir: &OwnedFd, to_name: &OsString) -> Result<(), Errno> {
    // link(2) never replaces an existing file either; the private name is removed with its
    // directory.
    rustix::fs::linkat(from_dir, INNER_NAME, to_dir, to_name, AtFlags::empty())?;
    let _ = rustix::fs::unlinkat(from_dir, INNER_NAME, AtFlags::empty());
    Ok(())
}

/// A freshly created 0700 directory next to the socket path, removed (with anything left in
/// it by a failed bind) when dropped.
struct PrivateDir<'a> {
    fd: OwnedFd,
    /// The parent directory, which outlives this one.
    parent: BorrowedFd<'a>,
    name: String,
    path: PathBuf,
}

impl<'a> PrivateDir<'a> {
    fn create(
        parent: BorrowedFd<'a>,
        parent_path: &Path,
    ) -> Result<PrivateDir<'a>, TransportError> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let pid = rustix::process::getpid().as_raw_pid();
        for _ in 0..16 {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let name = format!(".nono-{pid:x}-{:08x}", nanos ^ n.rotate_left(16));
            match rustix::fs::mkdirat(parent, name.as_str(), Mode::from_raw_mode(PRIVATE_DIR_MODE))
            {
                Ok(()) => {}
                Err(Errno::EXIST) => continue,
                Err(source) => {
                    return Err(TransportError::PathSyscall {
                        call: "mkdir",
                        path: parent_path.join(&name),
                        source,
                    })
                }
            }
            let path = parent_path.join(&name);
            let fd = match rustix::fs::openat(
                parent,
                name.as_str(),
                OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC,
                Mode::empty(),
            ) {
                Ok(fd) => fd,
                Err(source) => {
                    let _ = rustix::fs::unlinkat(parent, name.as_str(), AtFlags::REMOVEDIR);
                    return Err(TransportError::PathSyscall {
                        call: "open",
                        path,
                        source,
                    });
                }
            };
            let dir = PrivateDir {
                fd,
                parent,
                name,
                path,
            };
            // The umask may have removed bits we need; it can only have made it stricter.
            rustix::fs::fchmod(&dir.fd, Mode::from_raw_mode(PRIVATE_DIR_MODE)).map_err(
                |source| TransportError::PathSyscall {
                    call: "fchmod",
                    path: dir.path.clone(),
                    source,
                },
            )?;
            return Ok(dir);
        }
        Err(TransportError::PathSyscall {
            call: "mkdir",
            path: parent_path.to_path_buf(),
            source: Errno::EXIST,
        })
    }
}

impl Drop for PrivateDir<'_> {
    fn drop(&mut self) {
        let _ = rustix::fs::unlinkat(&self.fd, INNER_NAME, AtFlags::empty());
        let _ = rustix::fs::unlinkat(self.parent, self.name.as_str(), AtFlags::REMOVEDIR);
    }
}

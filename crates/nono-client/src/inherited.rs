//! Taking ownership of the socket fd inherited across `exec` whose number is in
//! `NONO_SUPERVISOR_FD`: the only `unsafe` of this crate, because turning a bare fd number
//! into an [`OwnedFd`] is an assertion std cannot check (and nono-transport, which forbids
//! `unsafe`, only accepts fds already owned).
#![allow(unsafe_code)]

use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd};

/// Take ownership of fd number `raw`, inherited across `exec`. Returns a close-on-exec
/// duplicate and closes `raw` itself (it was inherited without close-on-exec, so it would
/// otherwise leak into every program this one runs). Fails with `EBADF` if `raw` is not an
/// open fd. The caller guarantees nothing else in the process owns `raw`
/// ([`Client::from_env`](crate::Client::from_env) takes it once per process).
pub(crate) fn take_inherited_fd(raw: i32) -> std::io::Result<OwnedFd> {
    if raw < 0 {
        return Err(std::io::Error::from_raw_os_error(EBADF));
    }
    // SAFETY: the borrow lives only for the `fcntl(F_DUPFD_CLOEXEC)` below, which has no
    // effect on the fd table other than the new fd and fails with EBADF when `raw` is not open.
    let borrowed = unsafe { BorrowedFd::borrow_raw(raw) };
    let dup = borrowed.try_clone_to_owned()?;
    // SAFETY: `raw` is open (the dup above succeeded) and, by the caller's guarantee, owned by
    // nothing else in this process: it was inherited for exactly this purpose. Dropping the
    // `OwnedFd` closes it; `dup` refers to the same socket.
    drop(unsafe { OwnedFd::from_raw_fd(raw) });
    Ok(dup)
}

/// `EBADF` on Linux and the BSDs (std has no errno constants without libc).
const EBADF: i32 = 9;

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsRawFd, IntoRawFd};

    #[test]
    fn a_number_that_is_not_open_is_ebadf() {
        // A high number nothing in a test process has open.
        let err = take_inherited_fd(900_000).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(EBADF));
        let err = take_inherited_fd(-1).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(EBADF));
    }

    #[test]
    fn an_open_fd_is_taken_as_a_close_on_exec_duplicate() {
        use std::io::{Read, Write};
        let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        let raw = OwnedFd::from(a).into_raw_fd();
        let owned = take_inherited_fd(raw).unwrap();
        assert_ne!(owned.as_raw_fd(), raw);
        // fdinfo's `flags:` is octal; O_CLOEXEC is 0o2000000.
        let info =
            std::fs::read_to_string(format!("/proc/self/fdinfo/{}", owned.as_raw_fd())).unwrap();
        let flags = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .map(|v| u32::from_str_radix(v.trim(), 8).unwrap())
            .unwrap();
        assert_ne!(flags & 0o2_000_000, 0, "not close-on-exec: {info}");
        // (Whether `raw` is closed now cannot be checked here without racing the other
        // tests' threads for the number; the peer sees the same socket through the dup.)
        let mut taken = std::os::unix::net::UnixStream::from(owned);
        taken.write_all(b"x").unwrap();
        let mut byte = [0u8; 1];
        b.read_exact(&mut byte).unwrap();
        assert_eq!(&byte, b"x");
    }
}

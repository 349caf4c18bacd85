//! The supervisor's raw OS calls that rustix does not offer — the `pre_exec` hook, `close_range`
//! and `sigaction` for the signal self-pipe — and the only module of this crate with `unsafe`.
//!
//! Why `libc` here: rustix (1.1) has no `sigaction`, no `signalfd` and no `close_range`.
//! `signalfd` would also need the forwarded signals blocked in *every* thread of the process,
//! which a library cannot arrange (the test harness, a CLI's helper threads); a handler that
//! writes the signal number to a pipe works whichever thread the kernel picks.

#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt as _;

pub(crate) use nono_policy::canonical::canonicalize;
use std::process::Command;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Register `hook` to run in the child between `fork` and `execve`.
///
/// The hook must only make async-signal-safe calls (no allocation, no locks): the child of a
/// multi-threaded parent is a copy of one thread whose other threads may have held the
/// allocator's lock at the moment of the fork.
pub(crate) fn set_child_hook<F>(cmd: &mut Command, hook: F)
where
    F: FnMut() -> std::io::Result<()> + Send + Sync + 'static,
{
    // SAFETY: every caller passes a hook that only performs raw system calls on values that
    // were allocated before the fork (see `spawn::child_setup`); it allocates nothing, takes
    // no locks, and touches no state shared with other threads of the parent.
    unsafe {
        cmd.pre_exec(hook);
    }
}

/// Mark every fd from `first` upwards close-on-exec (`close_range(first, ~0,
/// CLOSE_RANGE_CLOEXEC)`). Async-signal-safe. Marking instead of closing keeps fds the child
/// still needs before `execve` (std's exec-error pipe, our report socket) usable until then.
///
/// # References
/// - close_range(2)
pub(crate) fn cloexec_from(first: u32) -> std::io::Result<()> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC closes nothing: it only sets FD_CLOEXEC on
    // open fds, so no `OwnedFd` anywhere is invalidated. The arguments are plain integers.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Close every fd from `first` upwards (`close_range(first, ~0, 0)`). Async-signal-safe.
/// For the init (see `init.rs`), which owns none of them as Rust values: they are copies
/// inherited across `fork`, whose owners live in the supervisor.
///
/// # References
/// - close_range(2)
pub(crate) fn close_from(first: u32) -> std::io::Result<()> {
    // SAFETY: called only in the forked init, which never returns into code holding an
    // `OwnedFd` for these numbers (it ends with `_exit`); the arguments are plain integers.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Signals `run` forwards to the child.
pub(crate) const FORWARDED: [i32; 5] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGWINCH,
];

const SLOTS: usize = 64;
/// Write ends of the self-pipes of every `run` in progress (-1 = free slot). The handler
/// writes the signal number to each.
static PIPES: [AtomicI32; SLOTS] = [const { AtomicI32::new(-1) }; SLOTS];
/// How many handler invocations are inside the loop over `PIPES`; unregistering waits for
/// zero before the pipe is closed, so a handler never writes to a closed (reused) fd number.
static IN_HANDLER: AtomicUsize = AtomicUsize::new(0);

struct Installed {
    users: usize,
    previous: Vec<(i32, libc::sigaction)>,
}

static INSTALLED: Mutex<Installed> = Mutex::new(Installed {
    users: 0,
    previous: Vec::new(),
});

extern "C" fn on_signal(sig: libc::c_int) {
    // Only async-signal-safe operations: atomics and write(2). errno is saved and restored so
    // the interrupted code does not see it change.
    // SAFETY: __errno_location has no preconditions; it returns the calling thread's errno slot.
    let errno = unsafe { libc::__errno_location() };
    // SAFETY: `errno` points to the calling thread's errno, valid for the thread's lifetime.
    let saved = unsafe { *errno };
    IN_HANDLER.fetch_add(1, Ordering::SeqCst);
    let byte = [u8::try_from(sig).unwrap_or(0)];
    for slot in &PIPES {
        let fd = slot.load(Ordering::SeqCst);
        if fd >= 0 {
            // SAFETY: `fd` is a pipe write end registered by `SignalPipe::new`; it stays open
            // until IN_HANDLER drops to zero after the slot is cleared (see `Drop`). The buffer
            // is a valid one-byte array. A full pipe (EAGAIN) just drops the byte.
            unsafe {
                libc::write(fd, byte.as_ptr().cast(), 1);
            }
        }
    }
    IN_HANDLER.fetch_sub(1, Ordering::SeqCst);
    // SAFETY: as above, the thread's own errno slot.
    unsafe {
        *errno = saved;
    }
}

/// A registration of one `run` with the process-wide signal handler: while it lives, every
/// forwarded signal delivered to the process writes its number to `read_end`.
#[derive(Debug)]
pub(crate) struct SignalPipe {
    /// Readable when a signal arrived; each byte is a signal number.
    pub read_end: OwnedFd,
    _write_end: OwnedFd,
    slot: usize,
}

impl SignalPipe {
    /// Install the handlers (first user) and register a fresh non-blocking pipe.
    pub(crate) fn new() -> std::io::Result<SignalPipe> {
        let (read_end, write_end) = rustix::pipe::pipe_with(
            rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK,
        )?;
        let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
        let slot = PIPES
            .iter()
            .position(|s| {
                s.compare_exchange(
                    -1,
                    write_end.as_raw_fd(),
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                )
                .is_ok()
            })
            .ok_or_else(|| std::io::Error::other("more than 64 concurrent supervised runs"))?;
        if installed.users == 0 {
            let mut previous = Vec::with_capacity(FORWARDED.len());
            for &sig in &FORWARDED {
                // SAFETY: an all-zero sigaction is a valid value (empty mask, no flags).
                let mut new: libc::sigaction = unsafe { std::mem::zeroed() };
                new.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                new.sa_flags = libc::SA_RESTART;
                // SAFETY: as above, zeroed sigaction is valid storage for the old action.
                let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
                // SAFETY: both pointers are valid for the call; the handler is
                // async-signal-safe (see `on_signal`).
                let rc = unsafe { libc::sigaction(sig, &new, &mut old) };
                if rc != 0 {
                    let err = std::io::Error::last_os_error();
                    restore(&previous);
                    PIPES[slot].store(-1, Ordering::SeqCst);
                    return Err(err);
                }
                previous.push((sig, old));
            }
            installed.previous = previous;
        }
        installed.users += 1;
        Ok(SignalPipe {
            read_end,
            _write_end: write_end,
            slot,
        })
    }
}

fn restore(previous: &[(i32, libc::sigaction)]) {
    for (sig, old) in previous {
        // SAFETY: `old` is the action the kernel returned for `sig`; passing it back restores it.
        unsafe {
            libc::sigaction(*sig, old, std::ptr::null_mut());
        }
    }
}

impl Drop for SignalPipe {
    fn drop(&mut self) {
        let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
        PIPES[self.slot].store(-1, Ordering::SeqCst);
        installed.users -= 1;
        if installed.users == 0 {
            let previous = std::mem::take(&mut installed.previous);
            restore(&previous);
        }
        // A handler running on another thread may have loaded our fd before the slot was
        // cleared; wait until it is done before the fd can be closed and its number reused.
        while IN_HANDLER.load(Ordering::SeqCst) != 0 {
            std::hint::spin_loop();
        }
        // `write_end` (and `read_end`) close when the fields drop, after this body.
    }
}

/// Take ownership of fd number `raw`, inherited across `exec` (the SDK socket named by
/// `NONO_SUPERVISOR_FD`). Fails with `EBADF` if no such fd is open. The caller guarantees
/// nothing else in the process owns it (see `client::Client::from_env`, which allows this
/// once per process).
pub(crate) fn take_inherited_fd(raw: i32) -> std::io::Result<OwnedFd> {
    use std::os::fd::FromRawFd;
    if raw < 0 {
        return Err(std::io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: F_GETFD on an arbitrary integer only queries the fd table; it has no effect
    // and fails with EBADF when the number is not open.
    if unsafe { libc::fcntl(raw, libc::F_GETFD) } == -1 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `raw` is open (checked just above) and, by the caller's guarantee, owned by
    // nothing else in this process: it was inherited for exactly this purpose.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Read the NUL-terminated string at `addr` in thread `tid`'s address space with
/// `process_vm_readv` (one syscall per page-bounded chunk, no `/proc/TID/mem` open/close per
/// trapped open, which is the broker's hottest path). At most `max` bytes including the NUL.
/// The first read asks for `FIRST_READ` (256) bytes (most paths are shorter): the kernel copies
/// what is asked for, and a page's worth per trapped open showed in profiles. The caller
/// must check `NOTIF_ID_VALID` afterwards, as for any read of the child's memory.
///
/// # References
/// - process_vm_readv(2)
pub(crate) fn read_child_cstr(tid: u32, addr: u64, max: usize) -> std::io::Result<Vec<u8>> {
    const PAGE: u64 = 4096;
    const FIRST_READ: usize = 256;
    let pid =
        libc::pid_t::try_from(tid).map_err(|_| std::io::Error::from_raw_os_error(libc::ESRCH))?;
    let mut out: Vec<u8> = Vec::with_capacity(FIRST_READ);
    while out.len() < max {
        let have = out.len();
        let at = addr
            .checked_add(have as u64)
            .ok_or_else(|| std::io::Error::from_raw_os_error(libc::EFAULT))?;
        let mut want = usize::try_from(PAGE - at % PAGE)
            .unwrap_or(PAGE as usize)
            .min(max - have);
        if have == 0 {
            want = want.min(FIRST_READ);
        }
        out.resize(have + want, 0);
        let local = libc::iovec {
            iov_base: out[have..].as_mut_ptr().cast(),
            iov_len: want,
        };
        let remote = libc::iovec {
            iov_base: at as *mut libc::c_void,
            iov_len: want,
        };
        // SAFETY: `local` describes the `want` initialised, writable bytes of `out` after
        // `have`; `remote` is only dereferenced by the kernel, in the other process, and a
        // bad address there is an EFAULT, not undefined behaviour here.
        let n = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
        let n = usize::try_from(n).map_err(|_| std::io::Error::last_os_error())?;
        if n == 0 {
            return Err(std::io::Error::from_raw_os_error(libc::EFAULT));
        }
        if let Some(nul) = out[have..have + n].iter().position(|b| *b == 0) {
            out.truncate(have + nul);
            return Ok(out);
        }
        out.truncate(have + n);
    }
    Err(std::io::Error::from_raw_os_error(libc::ENAMETOOLONG))
}

/// Read exactly `buf.len()` bytes at `addr` in thread `tid` (`process_vm_readv`), e.g. a
/// `struct open_how`. Check `NOTIF_ID_VALID` afterwards.
pub(crate) fn read_child_bytes(tid: u32, addr: u64, buf: &mut [u8]) -> std::io::Result<()> {
    let pid =
        libc::pid_t::try_from(tid).map_err(|_| std::io::Error::from_raw_os_error(libc::ESRCH))?;
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: `local` describes exactly `buf`, writable; `remote` is dereferenced only by
    // the kernel in the other process (a bad address is EFAULT).
    let n = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    match usize::try_from(n) {
        Ok(n) if n == buf.len() => Ok(()),
        Ok(_) => Err(std::io::Error::from_raw_os_error(libc::EFAULT)),
        Err(_) => Err(std::io::Error::last_os_error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The O_PATH + /proc/self/fd shortcut answers exactly what `realpath` answers.
    #[test]
    fn canonicalize_agrees_with_realpath() {
        let dir = std::env::temp_dir().join(format!("nono-canon-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        std::fs::write(dir.join("a/b/f"), "x").unwrap();
        std::os::unix::fs::symlink("a/b", dir.join("rel")).unwrap();
        std::os::unix::fs::symlink(dir.join("a"), dir.join("abs")).unwrap();
        std::os::unix::fs::symlink("rel/f", dir.join("chain")).unwrap();
        std::os::unix::fs::symlink("missing", dir.join("dangling")).unwrap();
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            dir.join("fifo"),
            rustix::fs::Mode::from_bits_truncate(0o600),
        )
        .unwrap();
        for p in [
            "",
            "a",
            "a/b/f",
            "rel",
            "rel/f",
            "abs/b",
            "abs/b/../b/f",
            "rel/../b",
            "chain",
            "dangling",
            "missing",
            "a/b/f/",
            "fifo",
            "a//b/./f",
        ] {
            let path = if p.is_empty() {
                dir.clone()
            } else {
                dir.join(p)
            };
            let want = std::fs::canonicalize(&path).map_err(|e| e.raw_os_error());
            let got = canonicalize(&path).map_err(|e| e.raw_os_error());
            assert_eq!(got, want, "{}", path.display());
        }
        for p in [
            "/",
            "/proc/self",
            "/proc/self/fd/0",
            "/dev/stdin",
            "/nonexistent-nono",
        ] {
            let path = Path::new(p);
            let want = std::fs::canonicalize(path).map_err(|e| e.raw_os_error());
            let got = canonicalize(path).map_err(|e| e.raw_os_error());
            // /proc/self resolves to the calling process either way.
            assert_eq!(got, want, "{p}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Strings shorter and longer than the first read, across a page boundary, and too long.
    #[test]
    fn read_child_cstr_reads_any_length() {
        let me = std::process::id();
        let page = vec![b'x'; 3 * 4096];
        for (start, len) in [
            (0usize, 0usize),
            (0, 10),
            (0, 255),
            (0, 256),
            (0, 300),
            (4090, 20),
            (4000, 600),
            (100, 4095),
        ] {
            let mut buf = page.clone();
            buf[start + len] = 0;
            let addr = buf[start..].as_ptr() as u64;
            let got = read_child_cstr(me, addr, 4096).unwrap();
            assert_eq!(got.len(), len, "start {start} len {len}");
            assert!(got.iter().all(|b| *b == b'x'));
        }
        let buf = page.clone();
        let err = read_child_cstr(me, buf.as_ptr() as u64, 4096).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENAMETOOLONG));
    }
}

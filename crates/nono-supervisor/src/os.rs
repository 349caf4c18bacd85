//! The supervisor's raw OS calls that rustix does not offer — the `pre_exec` hook, `close_range`,
//! `sigaction` for the signal self-pipe, taking an inherited fd. One of the few modules of this
//! crate allowed `unsafe`, each for calls without a safe wrapper; the full list is
//! `UNSAFE_ALLOWED` in `xtask/src/tidy.rs`, which `cargo xtask tidy` enforces. (The child's
//! memory is read with `nono_sandbox`'s `procmem`.)
//!
//! Why `libc` here: rustix (1.1) has no `sigaction`, no `signalfd` and no `close_range`.
//! `signalfd` would also need the forwarded signals blocked in *every* thread of the process,
//! which a library cannot arrange (the test harness, a CLI's helper threads); a handler that
//! writes the signal number to a pipe works whichever thread the kernel picks.

#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt as _;

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

//! Inherited file descriptors: `cloexec_inherited_fds()` marks every fd above stderr
//! close-on-exec, for a process that sandboxes itself and then `exec`s (`nono wrap`).
//!
//! Landlock checks a path when it is opened, so a descriptor opened before the sandbox (a
//! file or socket some parent leaked without `O_CLOEXEC`) is full access to its object.
//! Marking instead of closing keeps descriptors the caller still uses until `exec` working.
//!
//! Why `libc`: rustix (1.1) has no `close_range`.
//!
//! # References
//! - [close_range(2)](https://man7.org/linux/man-pages/man2/close_range.2.html)
//! - [fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html) (`F_SETFD`)
#![allow(unsafe_code)]

use rustix::io::Errno;

use crate::linux::last_errno;

/// Mark every file descriptor from 3 up close-on-exec, so the next `exec` closes all but
/// stdin, stdout and stderr. Async-signal-safe on Linux 5.11+ (one
/// `close_range(3, ~0, CLOSE_RANGE_CLOEXEC)`); on older kernels it falls back to
/// `fcntl(F_SETFD)` on each descriptor up to the `RLIMIT_NOFILE` soft limit.
///
/// # Errors
/// The errno of `close_range` (other than the `EINVAL`/`ENOSYS` of an older kernel), or of
/// a failing `fcntl` in the fallback.
pub fn cloexec_inherited_fds() -> Result<(), Errno> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC closes nothing: it only sets FD_CLOEXEC
    // on open descriptors, so no OwnedFd anywhere is invalidated. The arguments are plain
    // integers.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    match last_errno() {
        Errno::INVAL | Errno::NOSYS => {}
        e => return Err(e),
    }
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(1 << 20)
        .min(1 << 20);
    let limit = i32::try_from(limit).unwrap_or(i32::MAX);
    for fd in 3..limit {
        // SAFETY: F_GETFD/F_SETFD only read and set the descriptor's close-on-exec flag; on
        // a number that is not open they fail with EBADF. No memory is passed.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if flags < 0 {
            continue;
        }
        // SAFETY: as above.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) } < 0 {
            return Err(last_errno());
        }
    }
    Ok(())
}

/// Close `fds` (descriptors this process opened and owns) with one `close_range` per run of
/// consecutive numbers instead of one `close` each: the O_PATH descriptors of a Landlock
/// ruleset build are opened one after the other, so they are mostly one run.
///
/// Only numbers in `fds` are closed: a run is a range every number of which is in `fds`, so a
/// descriptor someone else opened in between (another thread) stays open. On a kernel
/// without `close_range` (before 5.9) the run is closed one descriptor at a time.
pub(crate) fn close_owned(fds: Vec<std::os::fd::OwnedFd>) {
    use std::os::fd::{FromRawFd as _, IntoRawFd, OwnedFd};
    let mut raw: Vec<i32> = fds.into_iter().map(IntoRawFd::into_raw_fd).collect();
    raw.sort_unstable();
    let mut rest = raw.as_slice();
    while let Some(&lo) = rest.first() {
        let len = rest
            .iter()
            .zip(lo..)
            .take_while(|(&fd, want)| fd == *want)
            .count();
        let (run, tail) = rest.split_at(len);
        rest = tail;
        let range = u32::try_from(lo)
            .ok()
            .zip(u32::try_from(len - 1).ok())
            .and_then(|(first, n)| Some((first, first.checked_add(n)?)));
        if let (true, Some((first, last))) = (len > 1, range) {
            // SAFETY: every number in first..=last is in `run`: a descriptor this function owns
            // (its OwnedFd was consumed above) and closes exactly once; nothing else can hold
            // these numbers while they are open. close_range only closes; flags 0.
            let rc = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0_u32) };
            if rc == 0 {
                continue;
            }
            // EINVAL/ENOSYS (older kernel): nothing was closed; close them one by one.
        }
        for &fd in run {
            // SAFETY: `fd` came from an OwnedFd consumed above and is not closed yet.
            drop(unsafe { OwnedFd::from_raw_fd(fd) });
        }
    }
}

/// Grow this process's descriptor table to hold descriptor numbers below `slots` now, while
/// it has one thread. The kernel grows the table when a descriptor above its size is
/// allocated, and in a process whose threads share the table it then waits for an RCU grace
/// period (`expand_fdtable`: `synchronize_rcu`) before freeing the old one: ~20 ms here
/// (issue 14). Building a ruleset holds up to [`RULE_FD_SLOTS`] rule descriptors at once,
/// above the 64 a table starts with, so a caller that will build one while another thread
/// runs (nono's deny-group thread) grows the table first. Under a soft `RLIMIT_NOFILE` below
/// `slots` the table is grown to the limit (no descriptor can be numbered above it). Best
/// effort: nothing changes where the calls fail.
pub fn reserve_fd_slots(slots: u32) {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .map_or(u64::from(slots), |soft| soft.min(u64::from(slots)));
    let Some(top) = limit.checked_sub(1).and_then(|t| i32::try_from(t).ok()) else {
        return;
    };
    let Ok(any) = rustix::fs::open(
        c"/",
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    ) else {
        return;
    };
    // The lowest free number at or above `top`: the table grows to hold it, and keeps its
    // size when the descriptor is closed.
    let _ = rustix::io::fcntl_dupfd_cloexec(&any, top);
}

/// Descriptor numbers a ruleset build may use while it holds its rule descriptors (see
/// [`reserve_fd_slots`]): the held ones plus room for what the process already has open.
pub const RULE_FD_SLOTS: u32 = 512;

/// Descriptors another thread of this process may need at once while a ruleset build holds
/// its rule descriptors (see [`room_for_held_rule_fds`]): the deny-group thread reads one
/// directory at a time and walks one symlink chain at a time.
pub(crate) const OTHER_THREAD_FDS: usize = 64;

/// Whether this process may hold `held` more descriptors (a ruleset build's rule
/// descriptors) and still leave [`OTHER_THREAD_FDS`] for another thread: the soft
/// `RLIMIT_NOFILE` is above what is open now plus both. A build that runs out retries with
/// its held descriptors closed, but the other thread's `open`s fail meanwhile, and the
/// deny-group thread's link walk skipped a directory it could not open (red team 14: with
/// `ulimit -n 64`, symlink targets inside deny entries went unprotected, and the walk was
/// cached for later runs). `false` when `/proc/self/fd` cannot be read.
pub(crate) fn room_for_held_rule_fds(held: usize) -> bool {
    let limit = match rustix::process::getrlimit(rustix::process::Resource::Nofile).current {
        Some(soft) => usize::try_from(soft).unwrap_or(usize::MAX),
        None => usize::MAX,
    };
    let Ok(open) = std::fs::read_dir("/proc/self/fd").map(Iterator::count) else {
        return false;
    };
    open.saturating_add(held).saturating_add(OTHER_THREAD_FDS) < limit
}

#[cfg(test)]
mod tests {
    use std::os::fd::{AsRawFd as _, OwnedFd};

    use super::{reserve_fd_slots, RULE_FD_SLOTS};
    use crate::scratch::Scratch;
    use std::os::unix::fs::MetadataExt as _;

    /// The inode an fd number refers to now, if it is open.
    fn ino_of(fd: i32) -> Option<u64> {
        // SAFETY: only used for the duration of the call; a closed number gives EBADF.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        rustix::fs::fstat(fd).ok().map(|st| st.st_ino)
    }

    /// `close_owned` closes exactly the descriptors it is given: runs of consecutive numbers
    /// in one `close_range`, single ones alone, and a descriptor in between that is not in
    /// the list stays open.
    #[test]
    fn close_owned_closes_only_the_given_descriptors() {
        let dir = Scratch::new(&format!("nono-fds-{}", std::process::id()));
        let ours = dir.join("ours");
        let theirs = dir.join("theirs");
        std::fs::write(&ours, b"").unwrap();
        std::fs::write(&theirs, b"").unwrap();
        let ours_ino = std::fs::metadata(&ours).unwrap().ino();
        let theirs_ino = std::fs::metadata(&theirs).unwrap().ino();
        let open = |p: &std::path::Path| OwnedFd::from(std::fs::File::open(p).unwrap());
        let mut given: Vec<OwnedFd> = (0..3).map(|_| open(&ours)).collect();
        let kept = open(&theirs);
        given.extend((0..4).map(|_| open(&ours)));
        given.push(open(&ours));
        given.swap(0, 5);
        let numbers: Vec<i32> = given.iter().map(|f| f.as_raw_fd()).collect();
        super::close_owned(given);
        for fd in numbers {
            // Closed, or already reused by another test's thread for something else.
            assert_ne!(ino_of(fd), Some(ours_ino), "fd {fd} left open");
        }
        assert_eq!(ino_of(kept.as_raw_fd()), Some(theirs_ino));
        drop(kept);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Run the test `name` of this binary alone in a child process with `child_var` set (so
    /// that it may lower limits or fill its descriptor table), and fail unless it passed.
    #[track_caller]
    fn passes_alone_in_a_child(name: &str, child_var: &str) {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", name, "--nocapture", "--test-threads=1"])
            .env(child_var, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `FDSize` of `/proc/self/status`: the size of this process's descriptor table.
    fn fd_table_size() -> usize {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("FDSize:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap()
    }

    /// Red team 14: with the descriptor limit nearly reached, a sandbox is not prepared
    /// ahead (its build would hold up to `HELD_RULE_FDS` descriptors while the deny thread
    /// opens directories), and is with room. In a child process (this test binary again,
    /// this test alone) that fills its own descriptor table.
    #[test]
    fn no_preparation_ahead_without_room_for_the_other_threads_descriptors() {
        use crate::linux::apply::{PreparedSandbox, SandboxOptions};
        use crate::linux::landlock::HELD_RULE_FDS;
        const CHILD: &str = "NONO_RT14_FDS_CHILD";
        const NAME: &str =
            "linux::fds::tests::no_preparation_ahead_without_room_for_the_other_threads_descriptors";
        if std::env::var_os(CHILD).is_some() {
            let mut held = Vec::new();
            while let Ok(f) = std::fs::File::open("/") {
                held.push(f);
            }
            // Room for the build's held descriptors, but not for the other thread's too.
            held.truncate(held.len().saturating_sub(HELD_RULE_FDS + 8));
            assert!(!super::room_for_held_rule_fds(HELD_RULE_FDS));
            let ahead =
                PreparedSandbox::prepare_ahead(crate::CapabilitySet::new(), SandboxOptions::new());
            assert!(ahead.is_none(), "prepared ahead with the table nearly full");
            held.clear();
            let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
            if limit.is_some_and(|l| l > 1024) {
                assert!(super::room_for_held_rule_fds(HELD_RULE_FDS));
            }
            return;
        }
        passes_alone_in_a_child(NAME, CHILD);
    }

    /// Under a soft `RLIMIT_NOFILE` below the slots asked for, the table still grows, to the
    /// limit (in a child: this test binary again, this test alone, with the limit lowered).
    #[test]
    fn reserving_slots_under_a_low_limit_grows_the_table_to_the_limit() {
        const CHILD: &str = "NONO_FDS_LOW_LIMIT_CHILD";
        const NAME: &str =
            "linux::fds::tests::reserving_slots_under_a_low_limit_grows_the_table_to_the_limit";
        if std::env::var_os(CHILD).is_some() {
            rustix::process::setrlimit(
                rustix::process::Resource::Nofile,
                rustix::process::Rlimit {
                    current: Some(400),
                    maximum: rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum,
                },
            )
            .unwrap();
            let before = fd_table_size();
            reserve_fd_slots(RULE_FD_SLOTS);
            assert!(
                before < 400 && fd_table_size() >= 400,
                "table of {before} → {} slots under a limit of 400",
                fd_table_size()
            );
            return;
        }
        passes_alone_in_a_child(NAME, CHILD);
    }

    #[test]
    fn reserving_slots_grows_the_table_and_leaves_no_descriptor() {
        reserve_fd_slots(RULE_FD_SLOTS);
        assert!(
            fd_table_size() >= RULE_FD_SLOTS as usize,
            "table of {} slots",
            fd_table_size()
        );
        let high: Vec<u32> = std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .filter(|&fd| fd >= RULE_FD_SLOTS - 1)
            .collect();
        assert!(high.is_empty(), "left open: {high:?}");
    }
}

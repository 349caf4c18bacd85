//! Starting a helper thread on another CPU than its creator's (issue 14, start-up).
//!
//! A new thread is queued on the CPU of the thread that created it; an idle CPU may take it
//! over only at its next balancing tick, which on some virtual machines (that keep work
//! packed on few vCPUs) is milliseconds away. A helper meant to run *beside* its creator
//! would then run only once the creator waits for it. Moving it before it first runs puts it
//! on an idle CPU at once.

#![allow(unsafe_code)]

use std::os::unix::thread::JoinHandleExt as _;
use std::thread::JoinHandle;

/// Whether the calling thread runs under a seccomp filter (`PR_GET_SECCOMP`): one may kill
/// the process on the affinity calls below (systemd's `SystemCallFilter=~@resources` does,
/// when no `SystemCallErrorNumber=` is set), so a caller should then not make them.
#[must_use]
pub fn under_seccomp() -> bool {
    // SAFETY: PR_GET_SECCOMP takes no pointer; it returns the mode (0: none, 2: filter).
    // Under strict mode it kills the caller, but nothing of nono runs under strict mode.
    let mode = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) };
    mode != 0
}

/// Whether the calling thread may run on more than one CPU (a helper thread can run beside
/// it).
#[must_use]
pub fn other_cpus_available() -> bool {
    rustix::thread::sched_getaffinity(None).is_ok_and(|cpus| cpus.count() > 1)
}

/// Restrict `thread` (just spawned by the caller, not joined) to the CPUs the caller may use
/// other than the one it runs on now. The thread may widen its own set again once it runs.
/// Returns the CPU it was moved off (`None`: no other CPU, or the kernel refused; it then
/// stays where it was queued).
///
/// The caller must keep `thread` from ending until this returns (have it wait for a word
/// sent afterwards, as `nono_policy::deny_prefetch` does): glibc names the thread by its
/// kernel id, which the kernel clears when the thread ends, and an id of 0 means the
/// *calling* thread — whose CPU set this would then narrow (red team 7).
pub fn move_off_this_cpu<T>(thread: &JoinHandle<T>) -> Option<usize> {
    let cpus = rustix::thread::sched_getaffinity(None).ok()?;
    let here = rustix::thread::sched_getcpu();
    // SAFETY: `cpu_set_t` is an array of bits; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let mut any = false;
    let limit = usize::try_from(libc::CPU_SETSIZE)
        .unwrap_or(0)
        .min(rustix::thread::CpuSet::MAX_CPU);
    for cpu in (0..limit).filter(|&c| c != here && cpus.is_set(c)) {
        // SAFETY: `cpu` is below `CPU_SETSIZE`, the number of bits in `set`.
        unsafe { libc::CPU_SET(cpu, &mut set) };
        any = true;
    }
    if !any {
        return None;
    }
    // SAFETY: the handle is borrowed, so the thread has not been joined or detached and its
    // `pthread_t` is valid memory; the set is a whole `cpu_set_t` of the size passed. (That
    // the thread has not ended is the caller's part, see above: not a memory-safety matter.)
    let rc = unsafe {
        libc::pthread_setaffinity_np(
            thread.as_pthread_t(),
            std::mem::size_of::<libc::cpu_set_t>(),
            &set,
        )
    };
    (rc == 0).then_some(here)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_under_a_filter_is_seen_as_under_seccomp() {
        let before = under_seccomp();
        let filtered = std::thread::spawn(|| {
            // An allow-all program, on this thread only (no TSYNC).
            let allow = [libc::sock_filter {
                code: (libc::BPF_RET | libc::BPF_K) as u16,
                jt: 0,
                jf: 0,
                k: libc::SECCOMP_RET_ALLOW,
            }];
            let prog = libc::sock_fprog {
                len: 1,
                filter: allow.as_ptr().cast_mut(),
            };
            rustix::thread::set_no_new_privs(true).unwrap();
            // SAFETY: `prog` points at `allow`, both alive for the call.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    0,
                    std::ptr::addr_of!(prog),
                )
            };
            assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
            under_seccomp()
        })
        .join()
        .unwrap();
        assert!(filtered);
        assert_eq!(
            under_seccomp(),
            before,
            "the filter is the other thread's alone"
        );
    }

    #[test]
    fn a_moved_thread_starts_on_another_cpu_and_may_widen_its_set() {
        if !other_cpus_available() {
            return; // one CPU: nothing to move to (the function says so)
        }
        let all = rustix::thread::sched_getaffinity(None).unwrap();
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            wait.recv().unwrap();
            let mine = rustix::thread::sched_getaffinity(None).unwrap();
            let cpu = rustix::thread::sched_getcpu();
            rustix::thread::sched_setaffinity(None, &all).unwrap();
            (mine, cpu)
        });
        let here = move_off_this_cpu(&thread).expect("another CPU is available");
        go.send(()).unwrap();
        let (mine, cpu) = thread.join().unwrap();
        assert!(
            !mine.is_set(here),
            "the caller's CPU {here} is still allowed"
        );
        assert_ne!(cpu, here);
    }
}

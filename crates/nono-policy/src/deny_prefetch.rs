//! The deny groups resolved on a second thread while the command line and the profile are
//! read (issue 14, start-up).
//!
//! Resolving the deny groups (`lstat`s of every entry, the symlink walk, see
//! [`DenySet::from_groups`]) is the largest single part of a sandbox's start-up, and it
//! depends only on two inputs known before the command line is parsed: the enabled groups
//! (every group, unless the profile switches an optional one off) and the [`Vars`] (from the
//! environment and the working directory). A [`DenyPrefetch`] starts that resolution on a
//! thread of its own as early as the caller likes; [`Profile::resolve_prefetched`] takes its
//! result only when both inputs turn out equal to the ones the profile and the flags give,
//! and otherwise resolves anew (the speculative result is dropped). So the deny set used is
//! always the function of the final inputs that [`Profile::resolve`] computes; only *when*
//! the filesystem was looked at moves, by a fraction of a millisecond, as it always was
//! looked at before the sandbox was applied.
//!
//! The thread is always joined before the result is used or dropped, and the join waits
//! until the kernel has let go of the thread: a sandbox applied right after (Landlock and
//! seccomp confine the calling thread, and `Sandbox::apply` refuses a multi-threaded process
//! in strict mode) sees one thread, as before.
//!
//! [`Profile::resolve_prefetched`]: crate::profile::Profile::resolve_prefetched
//! [`Profile::resolve`]: crate::profile::Profile::resolve

use std::path::Path;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::deny_groups::{DenyGroupError, DenySet, Lstats, StampCheck};
use crate::vars::Vars;

/// How long a join waits for the kernel to release the finished thread before giving up
/// (the sandbox then reports the second thread as it would any other).
const RELEASE_WAIT: Duration = Duration::from_millis(100);
/// How long [`DenyPrefetch::finish`] polls for the result before it blocks: the thread runs
/// on another CPU, and waking a caller that went to sleep costs tens of microseconds on a
/// virtual machine whose idle CPU has halted.
const POLL: Duration = Duration::from_millis(3);

type Resolution = Result<(DenySet, Lstats), DenyGroupError>;

/// The inputs the thread guessed.
type Guess = (Vec<&'static str>, Vars);

/// A deny-group resolution running on its own thread (see the module docs).
#[derive(Debug)]
pub struct DenyPrefetch {
    /// The guessed inputs, sent before the resolution starts (nothing: no guess).
    guess: Receiver<Guess>,
    /// The check of the walk cache's stamps, for the caller to help with while it waits.
    check: Receiver<Arc<StampCheck>>,
    /// The resolution, sent as soon as it is done.
    result: Receiver<Resolution>,
    /// The thread (its kernel id is its result), for [`Joiner::join`].
    joiner: Joiner,
}

/// The prefetch thread, to join once its result is in use: it stores the walk cache and
/// frees its memory meanwhile.
#[derive(Debug)]
#[must_use = "the thread must be joined before a sandbox is applied"]
pub(crate) struct Joiner(JoinHandle<i32>);

impl Joiner {
    /// Join the thread and wait until the kernel has released it.
    pub(crate) fn join(self) {
        if let Ok(tid) = self.0.join() {
            wait_released(tid);
        }
    }
}

impl DenyPrefetch {
    /// Start resolving every built-in group (what a profile that switches none off enables)
    /// for the variables `vars` returns on the new thread (`None`: nothing to guess, the
    /// thread ends at once). `None` when no thread was started: with one CPU to run on there
    /// is nothing to gain.
    pub fn start(vars: impl FnOnce() -> Option<Vars> + Send + 'static) -> Option<DenyPrefetch> {
        #[cfg(not(target_os = "linux"))]
        {
            let _ = vars;
            None
        }
        #[cfg(target_os = "linux")]
        {
            use nono_sandbox::linux::thread_cpu;
            if !thread_cpu::other_cpus_available() {
                return None;
            }
            let cpus = rustix::thread::sched_getaffinity(None).ok()?;
            let (send_guess, guess) = std::sync::mpsc::sync_channel(1);
            let (send_result, result) = std::sync::mpsc::sync_channel(1);
            let (send_check, check) = std::sync::mpsc::sync_channel(1);
            let handle = std::thread::Builder::new()
                .name("nono-deny".to_owned())
                .spawn(move || {
                    let tid = rustix::thread::gettid().as_raw_nonzero().get();
                    // Started on another CPU than its creator's (below); from here on the
                    // scheduler may place it anywhere again.
                    let _ = rustix::thread::sched_setaffinity(None, &cpus);
                    let Some(vars) = vars() else {
                        return tid;
                    };
                    let names = crate::deny_groups::group_names();
                    let _ = send_guess.send((names.clone(), vars.clone()));
                    let share = move |c: Arc<StampCheck>| {
                        let _ = send_check.send(c);
                    };
                    match DenySet::from_groups_parts(names.iter().copied(), &vars, Some(&share)) {
                        Ok((set, seen, rest)) => {
                            let _ = send_result.send(Ok((set, seen)));
                            rest.finish();
                        }
                        Err(e) => {
                            let _ = send_result.send(Err(e));
                        }
                    }
                    tid
                })
                .ok()?;
            thread_cpu::move_off_this_cpu(&handle);
            Some(DenyPrefetch {
                guess,
                check,
                result,
                joiner: Joiner(handle),
            })
        }
    }

    /// The thread's result when it resolved exactly `names` for `vars`; otherwise what
    /// `resolve` returns, run here meanwhile. The thread is left to [`Joiner::join`], which
    /// must come before a sandbox is applied.
    pub(crate) fn finish(
        self,
        names: &[&str],
        vars: &Vars,
        resolve: impl FnOnce() -> Resolution,
    ) -> (Resolution, Joiner) {
        let matches = self
            .guess
            .recv()
            .is_ok_and(|(n, v)| n == names && crate::deny_groups::resolve_alike(&v, vars));
        if !matches {
            return (resolve(), self.joiner);
        }
        // A thread that panicked after its guess leaves the work to this one.
        let result = self.help_then_wait().unwrap_or_else(resolve);
        (result, self.joiner)
    }
}

impl DenyPrefetch {
    /// The thread's resolution: while it is not there, help check the walk cache's stamps
    /// once the thread shares that check, and look again (yielding the CPU) for [`POLL`];
    /// then wait. `None` when the thread is gone without sending.
    fn help_then_wait(&self) -> Option<Resolution> {
        let since = Instant::now();
        let mut helped = false;
        while since.elapsed() < POLL {
            match self.result.try_recv() {
                Ok(v) => return Some(v),
                Err(TryRecvError::Disconnected) => return None,
                Err(TryRecvError::Empty) => {}
            }
            if !helped {
                if let Ok(check) = self.check.try_recv() {
                    check.help();
                    helped = true;
                    continue;
                }
            }
            std::thread::yield_now();
        }
        self.result.recv().ok()
    }
}

/// Wait (briefly) until the thread `tid` of this process is gone from `/proc/self/task`:
/// `pthread_join` returns once the thread has cleared its id, a moment before the kernel
/// removes it from the thread group.
fn wait_released(tid: i32) {
    let entry = format!("/proc/self/task/{tid}");
    let since = Instant::now();
    while Path::new(&entry).exists() && since.elapsed() < RELEASE_WAIT {
        std::thread::yield_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars_for(home: &Path) -> Vars {
        let mut v = Vars::for_home(home.to_path_buf());
        v.xdg_state_home = home.join("state");
        v.with_workdir(home)
    }

    /// `DenyPrefetch::start` with a guess; `None` (and nothing to test) on one CPU.
    fn start(guess: Option<Vars>) -> Option<DenyPrefetch> {
        let prefetch = DenyPrefetch::start(move || guess);
        assert_eq!(
            prefetch.is_some(),
            nono_sandbox::linux::thread_cpu::other_cpus_available(),
            "a prefetch starts exactly when another CPU can run it"
        );
        prefetch
    }

    #[test]
    fn a_matching_guess_is_the_resolution_and_a_wrong_one_is_dropped() {
        let home = std::env::temp_dir().join(format!("nono-prefetch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        std::os::unix::fs::symlink(home.join("dots/ssh_config"), home.join(".ssh/config")).unwrap();
        let vars = vars_for(&home);
        let names = crate::deny_groups::group_names();

        let Some(prefetch) = start(Some(vars.clone())) else {
            return;
        };
        let (got, joiner) =
            prefetch.finish(&names, &vars, || panic!("a matching guess must be used"));
        joiner.join();
        let (got, _) = got.unwrap();
        let (want, _) = DenySet::from_groups_seen(names.iter().copied(), &vars).unwrap();
        let entries = |s: &DenySet| {
            s.entries_with_kind()
                .map(|(p, g, k)| (p.to_path_buf(), g.to_owned(), k))
                .collect::<Vec<_>>()
        };
        assert_eq!(entries(&got), entries(&want));
        assert!(
            entries(&got)
                .iter()
                .any(|(p, _, _)| p == &home.join("dots/ssh_config")),
            "the link target must be denied"
        );

        // Other variables, or other groups, or no guess: resolved here.
        let mine = || DenySet::from_groups_seen(names[1..].iter().copied(), &vars);
        let prefetch = start(Some(vars_for(&home.join(".ssh")))).unwrap();
        let (set, joiner) = prefetch.finish(&names, &vars, mine);
        joiner.join();
        let (set, _) = set.unwrap();
        assert_eq!(entries(&set), entries(&mine().unwrap().0));
        let prefetch = start(Some(vars.clone())).unwrap();
        let (set, joiner) = prefetch.finish(&names[1..], &vars, mine);
        joiner.join();
        let (set, _) = set.unwrap();
        assert_eq!(entries(&set), entries(&mine().unwrap().0));
        let prefetch = start(None).unwrap();
        let (set, joiner) = prefetch.finish(&names[1..], &vars, mine);
        joiner.join();
        let (set, _) = set.unwrap();
        assert_eq!(entries(&set), entries(&mine().unwrap().0));
        let _ = std::fs::remove_dir_all(&home);
    }

    #[test]
    fn a_joined_prefetch_leaves_no_thread_behind() {
        let home = std::env::temp_dir().join(format!("nono-prefetch-t-{}", std::process::id()));
        std::fs::create_dir_all(&home).unwrap();
        let Some(prefetch) = start(Some(vars_for(&home))) else {
            return;
        };
        let tid = prefetch.joiner.0.join().unwrap();
        wait_released(tid);
        assert!(
            !Path::new(&format!("/proc/self/task/{tid}")).exists(),
            "the prefetch thread is still listed after the join"
        );
        let _ = std::fs::remove_dir_all(&home);
    }
}

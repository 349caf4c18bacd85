//! The deny groups resolved on a second thread while the main thread resolves the grants
//! (issue 14, start-up).
//!
//! Resolving the deny groups (`lstat`s of every entry, the symlink walk, see
//! [`DenySet::from_groups`]) is the largest single part of a sandbox's start-up. A
//! [`DenyPrefetch`] is a thread started first thing in `main` (before the command line is
//! parsed) that gets ready for it — it loads the link-walk cache of the state directory the
//! environment names — and then waits for its inputs. Once the profile is loaded, the
//! caller hands it the profile's enabled groups and the final [`Vars`]
//! ([`DenyPrefetch::begin`]); [`Profile::resolve_prefetched`] then resolves the grants, the
//! profile's own deny entries and the grants' symlink walks on the calling thread, helps
//! check the walk cache's stamps (`StampCheck`) and takes the result. The thread resolves
//! exactly what [`Profile::resolve`] would, for exactly the same inputs (a result begun for
//! other inputs is not used), and looks at no path of a group the profile switches off;
//! only *when* and *where* it runs change.
//!
//! The thread is always joined before the result is used or dropped, and the join waits
//! until the kernel has let go of the thread: a sandbox applied right after (Landlock and
//! seccomp confine the calling thread, and `Sandbox::apply` refuses a multi-threaded process
//! in strict mode) sees one thread, as before. A prefetch dropped unused (an error before
//! the profile is resolved) ends its thread: the thread is waiting for inputs that will not
//! come.
//!
//! No thread is started where it cannot help or could hurt: with one CPU to run on, and
//! under a seccomp filter (nono under another sandbox, a systemd unit's `SystemCallFilter=`),
//! which may kill the CPU-affinity calls the thread's start needs (`thread_cpu`).
//!
//! [`Profile::resolve_prefetched`]: crate::profile::Profile::resolve_prefetched
//! [`Profile::resolve`]: crate::profile::Profile::resolve

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::deny_groups::{DenyGroupError, DenySet, Lstats, StampCheck};
use crate::link_walk_cache::LinkWalkCache;
use crate::vars::Vars;

/// How long a join waits for the kernel to release the finished thread before giving up
/// (the sandbox then reports the second thread as it would any other).
const RELEASE_WAIT: Duration = Duration::from_millis(100);
/// How long a side polls before it blocks: the thread for its inputs, the caller for the
/// result. Both run on their own CPU, and waking a thread that went to sleep costs tens of
/// microseconds on a virtual machine whose idle CPU has halted.
const POLL: Duration = Duration::from_millis(3);

type Resolution = Result<(DenySet, Lstats), DenyGroupError>;

/// What the caller hands the thread: the enabled groups and the variables.
type Inputs = (Vec<&'static str>, Vars);

/// A deny-group resolution on its own thread (see the module docs).
#[derive(Debug)]
pub struct DenyPrefetch {
    /// The inputs, sent by [`begin`](Self::begin).
    inputs: SyncSender<Inputs>,
    /// The check of the walk cache's stamps, for the caller to help with while it waits.
    check: Receiver<Arc<StampCheck>>,
    /// The resolution, sent as soon as it is done.
    result: Receiver<Resolution>,
    /// The thread, for [`Joiner::join`].
    joiner: Joiner,
    /// The inputs sent (set by [`begin`](Self::begin)).
    names: Vec<&'static str>,
    vars: Option<Vars>,
}

/// The prefetch thread, to join once its result is in use: it stores the walk cache and
/// frees its memory meanwhile.
#[derive(Debug)]
#[must_use = "the thread must be joined before a sandbox is applied"]
pub(crate) struct Joiner(JoinHandle<()>, Arc<AtomicI32>);

impl Joiner {
    /// Join the thread (also one that panicked) and wait until the kernel has released it.
    pub(crate) fn join(self) {
        let _ = self.0.join();
        // Its warmed arena has served: the allocator's own thresholds again.
        nono_sandbox::linux::heap::restore();
        let tid = self.1.load(Ordering::SeqCst);
        if tid != 0 {
            wait_released(tid);
        }
    }
}

/// A prefetch whose inputs were sent ([`DenyPrefetch::begin`]): its thread is resolving
/// them; [`Profile::resolve_prefetched`](crate::profile::Profile::resolve_prefetched) takes
/// the result.
#[derive(Debug)]
pub struct Started(DenyPrefetch);

impl DenyPrefetch {
    /// Start the thread; it loads the link-walk cache of the state directory `state_home`
    /// returns (`$XDG_STATE_HOME`; `None`: nothing to load ahead) and waits for its inputs.
    /// `None` when no thread was started (one CPU, or a seccomp filter: see the module docs).
    pub fn start(
        state_home: impl FnOnce() -> Option<PathBuf> + Send + 'static,
    ) -> Option<DenyPrefetch> {
        #[cfg(not(target_os = "linux"))]
        {
            let _ = state_home;
            None
        }
        #[cfg(target_os = "linux")]
        {
            use nono_sandbox::linux::thread_cpu;
            if thread_cpu::under_seccomp() || !thread_cpu::other_cpus_available() {
                return None;
            }
            let cpus = rustix::thread::sched_getaffinity(None).ok()?;
            let (moved, wait_moved) = std::sync::mpsc::sync_channel::<()>(1);
            let (inputs, recv_inputs) = std::sync::mpsc::sync_channel::<Inputs>(1);
            let (send_result, result) = std::sync::mpsc::sync_channel(1);
            let (send_check, check) = std::sync::mpsc::sync_channel(1);
            let tid = Arc::new(AtomicI32::new(0));
            let its_tid = Arc::clone(&tid);
            // While the thread runs, the caller may build a Landlock ruleset (a sandbox
            // prepared ahead): its rule descriptors must not grow the descriptor table of a
            // process with two threads (an RCU grace period, ~20 ms).
            nono_sandbox::linux::reserve_fd_slots(nono_sandbox::linux::RULE_FD_SLOTS);
            // What the thread's arena is warmed with stays there once freed.
            nono_sandbox::linux::heap::keep_freed(WARM_HEAP);
            let handle = std::thread::Builder::new()
                .name("nono-deny".to_owned())
                .spawn(move || {
                    // Alive until its creator has moved it (the move names this thread by
                    // its id, which the kernel clears when the thread ends).
                    let _ = wait_moved.recv();
                    its_tid.store(proc_tid(), Ordering::SeqCst);
                    // From here on the scheduler may place it anywhere again.
                    let _ = rustix::thread::sched_setaffinity(None, &cpus);
                    let cache = state_home().map(|home| LinkWalkCache::load(&home));
                    warm_heap();
                    let Some((names, vars)) = poll_then_wait(&recv_inputs) else {
                        return; // dropped unused
                    };
                    let cache = cache.filter(|c| c.is_of(&vars.xdg_state_home));
                    let share = move |c: Arc<StampCheck>| {
                        let _ = send_check.send(c);
                    };
                    match DenySet::from_groups_parts(
                        names.iter().copied(),
                        &vars,
                        cache,
                        Some(&share),
                    ) {
                        Ok((set, seen, rest)) => {
                            let _ = send_result.send(Ok((set, seen)));
                            rest.finish();
                        }
                        Err(e) => {
                            let _ = send_result.send(Err(e));
                        }
                    }
                })
                .ok()?;
            thread_cpu::move_off_this_cpu(&handle);
            let _ = moved.send(());
            Some(DenyPrefetch {
                inputs,
                check,
                result,
                joiner: Joiner(handle, tid),
                names: Vec::new(),
                vars: None,
            })
        }
    }

    /// Hand the thread its inputs: it resolves the groups `names` for `vars` from now on
    /// (give the profile's [`enabled_groups`](crate::profile::Profile::enabled_groups) and the
    /// final variables: [`Profile::resolve_prefetched`](crate::profile::Profile::resolve_prefetched)
    /// uses the result only for exactly those).
    pub fn begin(mut self, names: Vec<&'static str>, vars: Vars) -> Started {
        let _ = self.inputs.send((names.clone(), vars.clone()));
        self.names = names;
        self.vars = Some(vars);
        Started(self)
    }
}

impl Started {
    /// The thread's resolution; while it is not there, help check the walk cache's stamps
    /// once the thread shares that check. `resolve` runs here instead when the thread is
    /// gone without a result (it panicked). The thread is left to [`Joiner::join`], which
    /// must come before a sandbox is applied.
    pub(crate) fn finish(
        self,
        names: &[&str],
        vars: &Vars,
        resolve: impl FnOnce() -> Resolution,
    ) -> (Resolution, Joiner) {
        let p = self.0;
        if p.names != names || p.vars.as_ref() != Some(vars) {
            // Begun for other inputs: not this resolution's.
            let own = resolve();
            drop(p.result);
            return (own, p.joiner);
        }
        let since = Instant::now();
        let mut helped = false;
        let mut got = None;
        while since.elapsed() < POLL {
            match p.result.try_recv() {
                Ok(v) => {
                    got = Some(v);
                    break;
                }
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {}
            }
            if !helped {
                if let Ok(check) = p.check.try_recv() {
                    check.help();
                    helped = true;
                    continue;
                }
            }

            std::thread::yield_now();
        }
        let got = got.or_else(|| p.result.recv().ok());
        (got.unwrap_or_else(resolve), p.joiner)
    }
}

/// The value on `rx`: polled for [`POLL`] (yielding the CPU between looks), then waited
/// for. `None` when the sender is gone without sending.
fn poll_then_wait<T>(rx: &Receiver<T>) -> Option<T> {
    let since = Instant::now();
    while since.elapsed() < POLL {
        match rx.try_recv() {
            Ok(v) => return Some(v),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) => std::thread::yield_now(),
        }
    }
    rx.recv().ok()
}

/// What the resolution allocates on its thread in a home with a few toolchains (~450 KiB
/// here), rounded up.
const WARM_HEAP: usize = 512 * 1024;

/// Grow this thread's malloc arena to what the resolution will use, its pages mapped, while
/// it has nothing else to do (it waits for its inputs while `main` parses the command line
/// and loads the profile): the resolution's allocations then neither grow the arena (an
/// `mprotect` a page) nor fault pages in while `main` waits for the result
/// ([`nono_sandbox::linux::heap`]). Before, 96 KiB written block by block: ~30 `mprotect`s
/// and ~90 page faults were left to the resolution.
fn warm_heap() {
    nono_sandbox::linux::heap::warm(WARM_HEAP);
}

/// The calling thread's id as `/proc` names it (`/proc/thread-self` → `PID/task/TID`): where
/// `/proc` was mounted in another PID namespace than nono's (a container that did not
/// remount it), `gettid` gives a number `/proc/self/task` does not list. `gettid` when
/// `/proc` cannot say.
fn proc_tid() -> i32 {
    std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|l| l.file_name()?.to_str()?.parse::<i32>().ok())
        .unwrap_or_else(|| rustix::thread::gettid().as_raw_nonzero().get())
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
    use crate::scratch::Scratch;

    fn vars_for(home: &Path) -> Vars {
        let mut v = Vars::for_home(home.to_path_buf());
        v.xdg_state_home = home.join("state");
        v.with_workdir(home)
    }

    fn entries(s: &DenySet) -> Vec<(PathBuf, String, nono_sandbox::DenyKind)> {
        s.entries_with_kind()
            .map(|(p, g, k)| (p.to_path_buf(), g.to_owned(), k))
            .collect()
    }

    /// `DenyPrefetch::start`; `None` (and nothing to test) on one CPU or under seccomp.
    fn start(state_home: Option<PathBuf>) -> Option<DenyPrefetch> {
        let prefetch = DenyPrefetch::start(move || state_home);
        #[cfg(target_os = "linux")]
        assert_eq!(
            prefetch.is_some(),
            !nono_sandbox::linux::thread_cpu::under_seccomp()
                && nono_sandbox::linux::thread_cpu::other_cpus_available(),
            "a prefetch starts exactly when another CPU can run it and no filter may kill it"
        );
        prefetch
    }

    #[test]
    fn the_thread_resolves_exactly_the_inputs_it_is_given() {
        let home = Scratch::new(&format!("nono-prefetch-{}", std::process::id()));
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        std::os::unix::fs::symlink(home.join("dots/ssh_config"), home.join(".ssh/config")).unwrap();
        let vars = vars_for(&home);
        let all = crate::deny_groups::group_names();
        // All the groups, and all but the first, with the cache loaded ahead for the right
        // state directory, for another one, or not at all: what a serial resolution gives.
        for names in [all.clone(), all[1..].to_vec()] {
            for ahead in [
                Some(vars.xdg_state_home.clone()),
                Some(home.join("other")),
                None,
            ] {
                let Some(prefetch) = start(ahead) else {
                    return;
                };
                let (got, joiner) =
                    prefetch
                        .begin(names.clone(), vars.clone())
                        .finish(&names, &vars, || panic!("the thread must answer"));
                joiner.join();
                let (want, _) = DenySet::from_groups_seen(names.iter().copied(), &vars).unwrap();
                assert_eq!(entries(&got.unwrap().0), entries(&want));
            }
        }
        // Begun for other inputs than the resolution's: resolved here, not taken.
        if let Some(prefetch) = start(None) {
            let mine = || DenySet::from_groups_seen(all[1..].iter().copied(), &vars);
            let (got, joiner) =
                prefetch
                    .begin(all.clone(), vars.clone())
                    .finish(&all[1..], &vars, mine);
            joiner.join();
            assert_eq!(entries(&got.unwrap().0), entries(&mine().unwrap().0));
        }
        let (with_links, _) = DenySet::from_groups_seen(all.iter().copied(), &vars).unwrap();
        assert!(
            entries(&with_links)
                .iter()
                .any(|(p, _, _)| p == &home.join("dots/ssh_config")),
            "the link target must be denied"
        );
        let _ = std::fs::remove_dir_all(&home);
    }

    #[test]
    fn a_thread_is_named_as_proc_lists_it() {
        let (own, listed) = std::thread::spawn(|| {
            let own = proc_tid();
            (own, Path::new(&format!("/proc/self/task/{own}")).exists())
        })
        .join()
        .unwrap();
        assert!(listed, "thread id {own} is not listed in /proc/self/task");
        assert_ne!(own, proc_tid(), "another thread, another id");
    }

    #[test]
    fn a_joined_prefetch_leaves_no_thread_behind_and_an_unused_one_ends() {
        let home = Scratch::new(&format!("nono-prefetch-t-{}", std::process::id()));
        let Some(prefetch) = start(None) else {
            return;
        };
        let vars = vars_for(&home);
        let (_, joiner) =
            prefetch
                .begin(vec!["nono"], vars.clone())
                .finish(&["nono"], &vars, || panic!("the thread must answer"));
        let tid = joiner.1.load(Ordering::SeqCst);
        assert_ne!(tid, 0);
        joiner.join();
        assert!(
            !Path::new(&format!("/proc/self/task/{tid}")).exists(),
            "the prefetch thread is still listed after the join"
        );
        // Dropped without inputs: the thread ends by itself.
        let prefetch = start(None).unwrap();
        let joiner = prefetch.joiner;
        drop((prefetch.inputs, prefetch.check, prefetch.result));
        joiner.0.join().unwrap();
        let _ = std::fs::remove_dir_all(&home);
    }
}

//! Resource limits for a run (`--memory`, `--max-processes`, `--cpus`): one new cgroup v2 per
//! run holding the whole process tree (the init and everything it starts, see `init.rs`),
//! with `memory.max`, `pids.max` and `cpu.max` set before the command's first instruction,
//! read back after the run (what was hit) and removed.
//!
//! # Where the run's cgroup lives
//! Always beneath the cgroup nono runs in, so the sandbox never escapes a limit nono itself is
//! under — except for root, see (3). cgroup v2's "no internal processes" rule says a cgroup
//! that holds processes cannot enable controllers for its children, so:
//! The init stays in nono's own cgroup and forks the command into the run's
//! (`clone3(CLONE_INTO_CGROUP)`), so the limits count only the command's tree.
//!
//! 1. nono's cgroup is the hierarchy's root (no `cgroup.type` file: the root is exempt from
//!    the rule): runs go in `<root>/nono/run-PID-N`;
//! 2. nono is alone in its cgroup (a delegated scope: `systemd-run --user --scope -p
//!    Delegate=yes nono ...`) and may write it: nono moves itself into a leaf
//!    `nono-supervisor` there (systemd's own recipe for delegated subtrees), enables the
//!    controllers, and runs go in `<own>/run-PID-N`;
//! 3. root otherwise: `<hierarchy root>/nono/run-PID-N` (outside nono's own cgroup: a limit
//!    on nono's session does not bind the sandbox — root may leave it anyway);
//! 4. otherwise the limits cannot be enforced: an error that says how to get delegation, or
//!    with best-effort compatibility, `setrlimit` where it has an equivalent and a line
//!    naming what is not enforced.
//!
//! Empty `run-*` directories left by a nono that was `kill -9`ed (its init kills the tree but
//! cannot remove the cgroup it is in) are removed by the next run that creates one.

use std::ffi::CString;
use std::fmt;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rustix::fs::{Mode, OFlags};

pub use nono_policy::limits::{
    human_bytes, parse_cpus, parse_processes, parse_size, Limit, LimitParseError, Limits,
};

/// Why a limit (or the run's cgroup) is not available, as shown to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    /// The limit (`None`: no cgroup at all).
    pub limit: Option<Limit>,
    /// What is missing and how to get it.
    pub reason: String,
}

/// What this machine can enforce (`nono setup`, `--dry-run`): where the run cgroups would go,
/// and which limits are not available there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitsSupport {
    /// The directory run cgroups would be created in, when there is one.
    pub parent: Option<PathBuf>,
    /// Limits (or the whole cgroup) that cannot be enforced here, with the reason.
    pub unavailable: Vec<Unavailable>,
}

impl LimitsSupport {
    /// Whether `limit` can be enforced.
    #[must_use]
    pub fn can(&self, limit: Limit) -> bool {
        self.parent.is_some()
            && !self
                .unavailable
                .iter()
                .any(|u| u.limit.is_none() || u.limit == Some(limit))
    }
}

impl fmt::Display for LimitsSupport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in Limit::ALL {
            if self.can(l) {
                writeln!(
                    f,
                    "{:<16} yes (cgroup v2 {} controller, runs in {})",
                    l.flag(),
                    l.controller(),
                    self.parent.as_deref().unwrap_or(Path::new("?")).display()
                )?;
            } else {
                let why = self
                    .unavailable
                    .iter()
                    .find(|u| u.limit == Some(l) || u.limit.is_none())
                    .map_or("unavailable", |u| u.reason.as_str());
                writeln!(f, "{:<16} no: {why}", l.flag())?;
            }
        }
        Ok(())
    }
}

/// One line per requested limit this machine cannot enforce: why, what strict mode does, and
/// the best-effort fallback (for `--dry-run` and the best-effort notes of `run`).
#[must_use]
pub fn not_enforceable(limits: &Limits) -> Vec<String> {
    let requested = limits.requested();
    if requested.is_empty() {
        return Vec::new();
    }
    let support = support();
    requested
        .into_iter()
        .filter(|l| !support.can(*l))
        .map(|l| {
            let why = support
                .unavailable
                .iter()
                .find(|u| u.limit == Some(l) || u.limit.is_none())
                .map_or("unavailable", |u| u.reason.as_str());
            let fallback = match l {
                Limit::Memory => "RLIMIT_AS per process (allocations fail, nothing is killed)",
                Limit::Processes => "RLIMIT_NPROC, which counts all of this user's processes and does not bind root",
                Limit::Cpus => "nothing (setrlimit has no equivalent)",
            };
            format!(
                "{} is NOT enforceable here: {why} (strict: the run fails; --best-effort: {fallback})",
                l.flag()
            )
        })
        .collect()
}

const HOW_TO_DELEGATE: &str = "run nono in a cgroup of its own that you may write \
    (cgroup v2 delegation), e.g. `systemd-run --user --scope -p Delegate=yes nono run ...`, \
    or pass --best-effort to fall back to setrlimit (per process, weaker)";

/// The cgroup v2 mount point and nono's own cgroup path in it.
fn own_cgroup() -> Result<(PathBuf, PathBuf), String> {
    let cg = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
    let rel = cg
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .ok_or_else(|| "this machine has no cgroup v2 hierarchy (cgroup v1 only)".to_owned())?;
    let mi = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
    for line in mi.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        if post.split_whitespace().next() != Some("cgroup2") {
            continue;
        }
        let f: Vec<&str> = pre.split_whitespace().collect();
        let (Some(root), Some(mnt)) = (f.get(3), f.get(4)) else {
            continue;
        };
        let rel = Path::new(rel);
        let Ok(inside) = rel.strip_prefix(root) else {
            continue;
        };
        let mount = PathBuf::from(std::ffi::OsStr::from_bytes(&crate::mountinfo::unescape(
            mnt,
        )));
        return Ok((mount.clone(), mount.join(inside)));
    }
    Err("cgroup v2 is not mounted (no cgroup2 entry in /proc/self/mountinfo)".to_owned())
}

fn words(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

fn writable(path: &Path) -> bool {
    rustix::fs::access(path, rustix::fs::Access::WRITE_OK).is_ok()
}

/// Enable `controllers` for the children of `dir` (those it has available); errors ignored:
/// the caller checks `cgroup.subtree_control` afterwards.
fn enable(dir: &Path, controllers: &[&str]) {
    let have = words(&dir.join("cgroup.subtree_control"));
    let avail = words(&dir.join("cgroup.controllers"));
    for c in controllers {
        if !have.iter().any(|h| h == c) && avail.iter().any(|a| a == c) {
            let _ = std::fs::write(dir.join("cgroup.subtree_control"), format!("+{c}"));
        }
    }
}

/// `dir/nono`, created, with `controllers` enabled in `dir` and in it.
fn nono_dir_under(dir: &Path, controllers: &[&str]) -> Result<PathBuf, String> {
    let parent = dir.join("nono");
    match std::fs::create_dir(&parent) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot create {}: {e}", parent.display())),
    }
    enable(dir, controllers);
    enable(&parent, controllers);
    Ok(parent)
}

/// Find (and prepare) the directory run cgroups go in; see the module docs for the order.
/// `controllers`: the ones to enable there.
fn find_parent(controllers: &[&str], create: bool) -> Result<PathBuf, String> {
    let (mount, own) = own_cgroup()?;
    let is_root = |d: &Path| !d.join("cgroup.type").exists();
    let root_user = rustix::process::geteuid().is_root();
    if is_root(&own) {
        if !writable(&own) {
            return Err(format!(
                "nono runs in the cgroup v2 root {} and may not create cgroups there; {HOW_TO_DELEGATE}",
                own.display()
            ));
        }
        if !create {
            return Ok(own.join("nono"));
        }
        return nono_dir_under(&own, controllers);
    }
    // A delegated cgroup that already has a supervisor leaf of ours (a previous run moved
    // nono there; a later nono started from it sits in that leaf).
    if own.file_name().is_some_and(|n| n == "nono-supervisor") {
        if let Some(parent) = own.parent() {
            if writable(&parent.join("cgroup.subtree_control")) {
                if create {
                    enable(parent, controllers);
                }
                return Ok(parent.to_path_buf());
            }
        }
    }
    let procs = words(&own.join("cgroup.procs"));
    let me = std::process::id().to_string();
    let alone = procs.len() == 1 && procs[0] == me;
    if alone && writable(&own.join("cgroup.procs")) && writable(&own) {
        if !create {
            return Ok(own);
        }
        let leaf = own.join("nono-supervisor");
        match std::fs::create_dir(&leaf) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("cannot create {}: {e}", leaf.display())),
        }
        std::fs::write(leaf.join("cgroup.procs"), "0").map_err(|e| {
            format!(
                "cannot move nono into {} (needed to enable controllers in {}): {e}",
                leaf.display(),
                own.display()
            )
        })?;
        enable(&own, controllers);
        return Ok(own);
    }
    if root_user && is_root(&mount) && writable(&mount) {
        if !create {
            return Ok(mount.join("nono"));
        }
        return nono_dir_under(&mount, controllers);
    }
    let why = if !writable(&own) {
        format!(
            "nono's cgroup {} is not writable by this user (no cgroup v2 delegation)",
            own.display()
        )
    } else {
        format!(
            "nono's cgroup {} also holds {} other process(es), and cgroup v2 lets only a cgroup \
             without processes give its children limits",
            own.display(),
            procs.len().saturating_sub(1)
        )
    };
    Err(format!("{why}; {HOW_TO_DELEGATE}"))
}

/// Which limits this machine can enforce, without creating anything.
#[must_use]
pub fn support() -> LimitsSupport {
    match find_parent(&[], false) {
        Err(reason) => LimitsSupport {
            parent: None,
            unavailable: vec![Unavailable {
                limit: None,
                reason,
            }],
        },
        Ok(parent) => {
            // The controllers the parent's parent offers are the ones the parent can get.
            let from = if parent.exists() {
                parent.clone()
            } else {
                parent.parent().map(Path::to_path_buf).unwrap_or_default()
            };
            let avail = words(&from.join("cgroup.controllers"));
            let unavailable = Limit::ALL
                .into_iter()
                .filter(|l| !avail.iter().any(|a| a == l.controller()))
                .map(|l| Unavailable {
                    limit: Some(l),
                    reason: missing_controller(l, &from, &avail),
                })
                .collect();
            LimitsSupport {
                parent: Some(parent),
                unavailable,
            }
        }
    }
}

fn missing_controller(l: Limit, dir: &Path, avail: &[String]) -> String {
    let v1 = Path::new("/sys/fs/cgroup").join(l.controller());
    let v1_note = if v1.join("cgroup.procs").exists() {
        format!(
            " (it is bound to the cgroup v1 hierarchy at {}: boot with \
             systemd.unified_cgroup_hierarchy=1 for cgroup v2)",
            v1.display()
        )
    } else {
        String::new()
    };
    format!(
        "the cgroup v2 `{}` controller is not available in {} (available: {}){v1_note}",
        l.controller(),
        dir.display(),
        if avail.is_empty() {
            "none".to_owned()
        } else {
            avail.join(" ")
        }
    )
}

/// Distinguishes the runs of one nono process.
static RUN_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A run's own cgroup: created with its limits, joined by the init before it forks the
/// command, read and removed after the run.
#[derive(Debug)]
pub(crate) struct RunCgroup {
    pub dir: PathBuf,
    /// The directory, opened before the fork: the init forks the command into it.
    pub dir_fd: OwnedFd,
    /// `cgroup.kill`, for the init when the supervisor dies (NUL-terminated, built before
    /// the fork).
    pub kill_path: CString,
    limits: Limits,
}

/// What was hit, read from the run's cgroup after the command ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LimitsReport {
    /// `--memory`, when the tree hit it: (limit, peak usage, OOM kills).
    pub memory_hit: Option<(u64, Option<u64>, u64)>,
    /// Forks (and clones) refused at `--max-processes` (`pids.events` `max`).
    pub forks_refused: u64,
    /// CPU time the tree used, in microseconds (`cpu.stat` `usage_usec`).
    pub cpu_usage_usec: Option<u64>,
}

/// What the supervisor does about the limits for one run.
#[derive(Debug, Default)]
pub(crate) struct Prepared {
    pub cgroup: Option<RunCgroup>,
    /// `setrlimit` fallbacks applied in the command before `execve` (best-effort only):
    /// (resource, value).
    pub rlimits: Vec<(rustix::process::Resource, u64)>,
    /// Lines naming what is not enforced (best-effort), for the user.
    pub not_enforced: Vec<String>,
}

/// Why the limits could not be set up in strict mode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{flag}: cannot be enforced: {reason}{}", if reason.contains("--best-effort") { "" } else { "; or pass --best-effort to run with setrlimit where it has an equivalent and the gap printed" })]
pub struct LimitsError {
    /// The first flag that cannot be enforced.
    pub flag: &'static str,
    /// Why, and what to do.
    pub reason: String,
}

/// Create the run's cgroup with `limits` (nothing when there are none). Strict: every
/// requested limit is enforced by the cgroup or this fails. Best-effort: what the cgroup
/// cannot do falls back to `setrlimit` where there is an equivalent, and is listed.
pub(crate) fn prepare(limits: &Limits, best_effort: bool) -> Result<Prepared, LimitsError> {
    let requested = limits.requested();
    if requested.is_empty() {
        return Ok(Prepared::default());
    }
    let controllers: Vec<&str> = requested.iter().map(|l| l.controller()).collect();
    let (cgroup, missing) = match find_parent(&controllers, true) {
        Err(reason) => (
            None,
            requested.iter().map(|l| (*l, reason.clone())).collect(),
        ),
        Ok(parent) => {
            let enabled = words(&parent.join("cgroup.subtree_control"));
            let missing: Vec<(Limit, String)> = requested
                .iter()
                .filter(|l| !enabled.iter().any(|e| e == l.controller()))
                .map(|l| {
                    let avail = words(&parent.join("cgroup.controllers"));
                    (*l, missing_controller(*l, &parent, &avail))
                })
                .collect();
            if !missing.is_empty() && !best_effort {
                (None, missing)
            } else {
                match create(&parent, limits, &missing) {
                    Ok(cg) => (Some(cg), missing),
                    Err(reason) => (
                        None,
                        requested.iter().map(|l| (*l, reason.clone())).collect(),
                    ),
                }
            }
        }
    };
    if let (false, Some((l, reason))) = (best_effort, missing.first()) {
        return Err(LimitsError {
            flag: l.flag(),
            reason: reason.clone(),
        });
    }
    let mut out = Prepared {
        cgroup,
        ..Prepared::default()
    };
    for (l, reason) in missing {
        match l {
            Limit::Memory => {
                let m = limits.memory.unwrap_or(u64::MAX);
                out.rlimits.push((rustix::process::Resource::As, m));
                out.not_enforced.push(format!(
                    "best-effort: --memory is NOT enforced for the whole tree ({reason}); \
                     instead each process's address space is capped at {} (RLIMIT_AS: \
                     allocations fail, nothing is killed)",
                    human_bytes(m)
                ));
            }
            Limit::Processes => {
                let n = limits.max_processes.unwrap_or(u64::MAX);
                out.rlimits.push((rustix::process::Resource::Nproc, n));
                out.not_enforced.push(format!(
                    "best-effort: --max-processes is NOT enforced for the tree ({reason}); \
                     instead RLIMIT_NPROC={n} counts every process of this user (and does not \
                     bind root)"
                ));
            }
            Limit::Cpus => out.not_enforced.push(format!(
                "best-effort: --cpus is NOT enforced ({reason}); setrlimit has no equivalent"
            )),
        }
    }
    Ok(out)
}

fn create(
    parent: &Path,
    limits: &Limits,
    missing: &[(Limit, String)],
) -> Result<RunCgroup, String> {
    sweep_stale(parent);
    let n = RUN_COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = parent.join(format!("run-{}-{n}", std::process::id()));
    std::fs::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let cg = RunCgroup {
        dir_fd: match rustix::fs::open(
            &dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(e) => {
                let _ = std::fs::remove_dir(&dir);
                return Err(format!("cannot open {}: {e}", dir.display()));
            }
        },
        kill_path: CString::new(dir.join("cgroup.kill").as_os_str().as_bytes())
            .map_err(|_| "the cgroup path holds a NUL byte".to_owned())?,
        dir,
        limits: *limits,
    };
    let skip = |l: Limit| missing.iter().any(|(m, _)| *m == l);
    let set = |file: &str, value: String| -> Result<(), String> {
        std::fs::write(cg.dir.join(file), &value)
            .map_err(|e| format!("cannot write {value:?} to {}/{file}: {e}", cg.dir.display()))
    };
    let result = (|| {
        if let (Some(m), false) = (limits.memory, skip(Limit::Memory)) {
            set("memory.max", m.to_string())?;
            // Swap would let the tree exceed the limit in RAM + swap; a hog is killed instead.
            let _ = set("memory.swap.max", "0".to_owned());
            // The whole tree goes when the limit is hit, not just its largest process.
            let _ = set("memory.oom.group", "1".to_owned());
        }
        if let (Some(p), false) = (limits.max_processes, skip(Limit::Processes)) {
            // The init (see init.rs) stays in nono's cgroup: only the command's tree counts.
            set("pids.max", p.to_string())?;
        }
        if let (Some(c), false) = (limits.cpus, skip(Limit::Cpus)) {
            const PERIOD: u64 = 100_000;
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let quota = ((c * PERIOD as f64).round() as u64).max(1000);
            set("cpu.max", format!("{quota} {PERIOD}"))?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        cg.remove();
        return Err(e);
    }
    tracing::debug!(dir = %cg.dir.display(), "created the run's cgroup");
    Ok(cg)
}

/// Remove empty `run-PID-N` cgroups left by runs whose nono was killed: only those whose
/// nono (PID) is gone — a live nono's run cgroup is empty between its creation and the
/// fork of the command.
fn sweep_stale(parent: &Path) {
    let Ok(dir) = std::fs::read_dir(parent) else {
        return;
    };
    for e in dir.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("run-"))
            .and_then(|n| n.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        // Fails (EBUSY) while it holds processes: only empty ones go.
        let _ = std::fs::remove_dir(e.path());
    }
}

fn keyed(path: &Path, key: &str) -> Option<u64> {
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

impl RunCgroup {
    /// What was hit (read before the cgroup is emptied).
    pub(crate) fn report(&self) -> LimitsReport {
        let d = &self.dir;
        let oom_kills = keyed(&d.join("memory.events"), "oom_kill").unwrap_or(0);
        let max_events = keyed(&d.join("memory.events"), "max").unwrap_or(0);
        let peak = std::fs::read_to_string(d.join("memory.peak"))
            .ok()
            .and_then(|s| s.trim().parse().ok());
        LimitsReport {
            memory_hit: self
                .limits
                .memory
                .filter(|_| {
                    oom_kills > 0
                        || (max_events > 0
                            && keyed(&d.join("memory.events"), "oom").unwrap_or(0) > 0)
                })
                .map(|m| (m, peak, oom_kills)),
            forks_refused: keyed(&d.join("pids.events"), "max").unwrap_or(0),
            cpu_usage_usec: keyed(&d.join("cpu.stat"), "usage_usec"),
        }
    }

    /// Kill whatever is still in the cgroup (`cgroup.kill`, Linux 5.14+), wait for it to
    /// empty, and remove it.
    pub(crate) fn remove(&self) {
        let _ = std::fs::write(self.dir.join("cgroup.kill"), "1");
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            match std::fs::remove_dir(&self.dir) {
                Ok(()) => return,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
                Err(e) if Instant::now() >= deadline => {
                    tracing::warn!(
                        "the run's cgroup {} could not be removed: {e}",
                        self.dir.display()
                    );
                    return;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512M").unwrap(), 512 << 20);
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("1.5GiB").unwrap(), 3 << 29);
        assert_eq!(parse_size("64mb").unwrap(), 64 << 20);
        assert_eq!(parse_size("2097152").unwrap(), 2 << 20);
        assert_eq!(parse_size("1024K").unwrap(), 1 << 20);
        for bad in ["", "M", "12X", "1.2.3G", "-1G", "1 G B"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert!(matches!(parse_size("100"), Err(LimitParseError::Range(..))));
        assert!(parse_size("99999999999T").is_err());
        assert_eq!(human_bytes(512 << 20), "512 MiB");
        assert_eq!(human_bytes(3 << 29), "1.5 GiB");
    }

    #[test]
    fn cpus_and_processes() {
        assert_eq!(parse_cpus("0.5").unwrap(), 0.5);
        assert_eq!(parse_cpus("2").unwrap(), 2.0);
        for bad in ["0", "-1", "nan", "inf", "x", "0.001"] {
            assert!(parse_cpus(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_processes("50").unwrap(), 50);
        assert!(parse_processes("0").is_err());
        assert!(parse_processes("-3").is_err());
    }

    /// The files a run cgroup gets and how the report reads them back, on a plain directory
    /// standing in for cgroupfs (the hosts these tests run on may have no cgroup v2
    /// controllers; the e2e tests check the kernel's side where they exist).
    #[test]
    fn limit_files_and_the_report() {
        let parent = Scratch::new(&format!("nono-limits-unit-{}", std::process::id()));
        let limits = Limits {
            memory: Some(64 << 20),
            max_processes: Some(50),
            cpus: Some(0.5),
        };
        let cg = create(&parent, &limits, &[]).unwrap();
        let read = |f: &str| std::fs::read_to_string(cg.dir.join(f)).unwrap();
        assert_eq!(read("memory.max"), (64u64 << 20).to_string());
        assert_eq!(read("memory.swap.max"), "0");
        assert_eq!(read("memory.oom.group"), "1");
        assert_eq!(read("pids.max"), "50");
        assert_eq!(read("cpu.max"), "50000 100000");
        assert!(cg.kill_path.to_bytes().ends_with(b"/cgroup.kill"));
        std::fs::write(
            cg.dir.join("memory.events"),
            "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 1\n",
        )
        .unwrap();
        std::fs::write(cg.dir.join("memory.peak"), "67108864\n").unwrap();
        std::fs::write(cg.dir.join("pids.events"), "max 7\n").unwrap();
        std::fs::write(cg.dir.join("cpu.stat"), "usage_usec 1500\nuser_usec 1000\n").unwrap();
        let r = cg.report();
        assert_eq!(r.memory_hit, Some((64 << 20, Some(64 << 20), 1)));
        assert_eq!(r.forks_refused, 7);
        assert_eq!(r.cpu_usage_usec, Some(1500));
        // A limit left to the fallback (best-effort) writes no file.
        let missing = [(Limit::Cpus, "no cpu controller".to_owned())];
        let cg2 = create(&parent, &limits, &missing).unwrap();
        assert!(!cg2.dir.join("cpu.max").exists());
        // Nothing hit: nothing to report.
        std::fs::write(cg2.dir.join("memory.events"), "max 0\noom 0\noom_kill 0\n").unwrap();
        assert_eq!(cg2.report(), LimitsReport::default());
        let _ = std::fs::remove_dir_all(&parent);
    }
}

//! Load-test helpers: a spawned `nono` with live stdout lines and a kill-on-timeout wait,
//! one-test-at-a-time serialisation, and the after-test checks (fds, zombies, survivors).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nono_sandbox::{AccessMode, CapabilitySet};
use rustix::process::{Pid, Signal};

pub use crate::e2e_harness::{
    nono_bin, open_pty, read_on_a_thread, sandbox_available, wait_for_output, Scratch,
};

/// Generous bound for anything that should take a second: a run that needs longer is hung
/// (deadlock), and is killed and reported instead of hanging the suite.
pub const HANG: Duration = Duration::from_secs(120);

/// Every test holds this for its whole duration. The checks at the end of a test (this
/// process's fd count, "no child of ours is left") are only sound when no other test is
/// spawning or reaping at the same time. The load inside a test is where the concurrency is.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The number of fds open in this process.
pub fn fd_count_self() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .count()
}

/// The number of fds open in process `pid`.
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/fd: {e}"))
        .count()
}

/// `(state, ppid)` of `pid` from `/proc/PID/stat`, or `None` if there is no such process.
pub fn proc_state(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) S ppid ...`: comm may contain spaces and parentheses; split after the last `)`.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Whether `pid` is a live (not zombie) process.
pub fn alive(pid: u32) -> bool {
    proc_state(pid).is_some_and(|(s, _)| s != 'Z' && s != 'X')
}

/// Wait (bounded by [`HANG`]) until `pid` is no longer a live process.
pub fn wait_dead(pid: u32) -> bool {
    let deadline = Instant::now() + HANG;
    while alive(pid) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

/// This process's children as `(pid, state)`, zombies included.
pub fn children_of_self() -> Vec<(u32, char)> {
    let me = std::process::id();
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some((state, ppid)) = proc_state(pid) {
            if ppid == me {
                out.push((pid, state));
            }
        }
    }
    out
}

/// What the after-test check compares against.
#[derive(Debug)]
pub struct Baseline {
    fds: usize,
}

/// Take the baseline at the start of a test (holding [`serial`]).
pub fn baseline() -> Baseline {
    let children = children_of_self();
    assert!(
        children.is_empty(),
        "children left over before the test started: {children:?}"
    );
    Baseline {
        fds: fd_count_self(),
    }
}

/// The after-test check: this process has exactly the fds it had at the start, no child
/// (live or `<defunct>`), and none of `pids` (nono supervisors, sandboxed children) survives.
#[track_caller]
pub fn assert_clean(base: &Baseline, pids: &[u32]) {
    let children = children_of_self();
    assert!(
        children.is_empty(),
        "children of the test left behind (pid, state; Z = <defunct>): {children:?}"
    );
    let survivors: Vec<u32> = pids.iter().copied().filter(|&p| alive(p)).collect();
    assert!(survivors.is_empty(), "processes survived: {survivors:?}");
    let fds = fd_count_self();
    assert_eq!(fds, base.fds, "the test process leaked fds: {}", fd_list());
}

/// One load test, with the checks every one of them makes: it holds [`serial`], is skipped
/// (or, under `NONO_REQUIRE_SANDBOX=1`, fails) where the kernel cannot sandbox, and runs
/// `body` on a fresh [`Scratch`] named `tag`. `body` returns the pids (nono supervisors,
/// sandboxed children) that must not survive it; once the scratch directory is removed,
/// [`assert_clean`] checks them, and this process's fds and children, against the
/// [`baseline`] taken before `body` ran.
#[track_caller]
pub fn leak_checked(tag: &str, body: impl FnOnce(&Scratch) -> Vec<u32>) {
    let _serial = serial();
    if !sandbox_available() {
        return;
    }
    let base = baseline();
    let scratch = Scratch::new(tag);
    let pids = body(&scratch);
    drop(scratch);
    assert_clean(&base, &pids);
}

/// Wait (bounded by [`HANG`]) until process `pid` has exec'd `name` (its `comm` says so).
#[track_caller]
pub fn wait_for_exec(pid: u32, name: &str) {
    let comm = format!("{name}\n");
    let deadline = Instant::now() + HANG;
    while std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default() != comm {
        assert!(Instant::now() < deadline, "{pid} never became {name}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn fd_list() -> String {
    let mut out = String::new();
    for e in std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
    {
        let target = std::fs::read_link(e.path()).unwrap_or_default();
        out.push_str(&format!(
            "\n  {} -> {}",
            e.file_name().to_string_lossy(),
            target.display()
        ));
    }
    out
}

/// Send `sig` to process `pid`.
pub fn kill(pid: u32, sig: Signal) {
    let pid = Pid::from_raw(i32::try_from(pid).expect("pid fits i32")).expect("nonzero pid");
    rustix::process::kill_process(pid, sig).expect("kill");
}

/// How a finished `nono` ended, with everything it printed.
#[derive(Debug)]
pub struct Finished {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Display for Finished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "status: {:?} signal: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.signal, self.stdout, self.stderr
        )
    }
}

/// A running `nono`, its stdout read line by line as it comes.
#[derive(Debug)]
pub struct Proc {
    child: Child,
    pub pid: u32,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stdout: Arc<Mutex<String>>,
    stdout_reader: Option<JoinHandle<()>>,
    stderr_reader: Option<JoinHandle<String>>,
}

/// A `nono` command: no `RUST_LOG`, in `cwd`.
pub fn nono(cwd: &Path) -> Command {
    let mut cmd = Command::new(nono_bin());
    cmd.current_dir(cwd).env_remove("RUST_LOG");
    cmd
}

impl Proc {
    /// Spawn `cmd` with all three streams piped.
    pub fn spawn(cmd: &mut Command) -> Proc {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn nono");
        let pid = child.id();
        let stdin = child.stdin.take();
        let out = child.stdout.take().expect("stdout");
        let mut err = child.stderr.take().expect("stderr");
        let (tx, lines) = std::sync::mpsc::channel();
        let stdout = Arc::new(Mutex::new(String::new()));
        let all = stdout.clone();
        let stdout_reader = std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let mut all = all.lock().unwrap_or_else(|e| e.into_inner());
                all.push_str(&line);
                all.push('\n');
                let _ = tx.send(line);
            }
        });
        let stderr_reader = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = err.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        });
        Proc {
            child,
            pid,
            stdin,
            lines,
            stdout,
            stdout_reader: Some(stdout_reader),
            stderr_reader: Some(stderr_reader),
        }
    }

    /// The rest of the next stdout line that contains `prefix`; kills and fails after
    /// [`HANG`].
    pub fn expect_line(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + HANG;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    // Anywhere in the line: the re-executed test binary prints its own
                    // `test child::entry ... ` without a newline before the child's first line.
                    if let Some(at) = line.find(prefix) {
                        return line[at + prefix.len()..].trim().to_owned();
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.kill_and_fail(&format!("no line with {prefix:?} within {HANG:?}"))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let f = self.wait_bounded();
                    panic!("nono ended before printing {prefix:?}\n{f}");
                }
            }
        }
    }

    /// Write `line` and a newline to nono's stdin (which the sandboxed command inherits).
    pub fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write to nono's stdin");
        stdin.flush().expect("flush");
    }

    /// Wait for nono to exit (closing its stdin first); kill it and fail after [`HANG`].
    pub fn finish(mut self) -> Finished {
        self.stdin = None;
        self.wait_bounded()
    }

    fn kill_and_fail(&mut self, why: &str) -> ! {
        let _ = self.child.kill();
        let f = self.collect();
        panic!("{why}: killed nono (pid {})\n{f}", self.pid);
    }

    fn wait_bounded(&mut self) -> Finished {
        let deadline = Instant::now() + HANG;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => return self.collect(),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(None) => self.kill_and_fail(&format!("nono did not exit within {HANG:?}")),
                Err(e) => panic!("waitpid nono: {e}"),
            }
        }
    }

    fn collect(&mut self) -> Finished {
        use std::os::unix::process::ExitStatusExt;
        self.stdin = None;
        let status = self.child.wait().expect("wait nono");
        if let Some(h) = self.stdout_reader.take() {
            let _ = h.join();
        }
        let stderr = self
            .stderr_reader
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        Finished {
            code: status.code(),
            signal: status.signal(),
            stdout: self
                .stdout
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            stderr,
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // A test that panicked half-way must not leave nono (and, by PDEATHSIG, its child) behind.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// This test binary: re-executed (under the sandbox) as the child workload, see `child.rs`.
pub fn self_exe() -> PathBuf {
    std::env::current_exe().expect("current_exe")
}

/// The arguments that make this test binary run only the child entry point.
pub fn child_args() -> [&'static str; 4] {
    ["--exact", "child::entry", "--nocapture", "--test-threads=1"]
}

/// Read access to what a shell, coreutils and this test binary need to start (for in-process
/// supervisor runs, which take a capability set rather than a profile).
pub fn system_caps() -> CapabilitySet {
    let mut caps = CapabilitySet::new();
    for dir in [
        "/usr", "/bin", "/lib", "/lib64", "/etc", "/dev", "/proc", "/sys",
    ] {
        if Path::new(dir).exists() {
            caps.allow_path(dir, AccessMode::Read, "load test system")
                .expect("grant system dir");
        }
    }
    caps.allow_file("/dev/null", AccessMode::ReadWrite, "load test system")
        .expect("grant /dev/null");
    let exe_dir = self_exe().parent().expect("exe dir").to_path_buf();
    caps.allow_path(&exe_dir, AccessMode::Read, "load test binary")
        .expect("grant the test binary");
    caps
}

/// `n` files `f{k}` in `dir`, each holding [`content`]`(k)`.
pub fn make_files(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).expect("mkdir");
    for k in 0..n {
        std::fs::write(dir.join(format!("f{k}")), content(k)).expect("write file");
    }
}

/// What file `f{k}` holds.
pub fn content(k: usize) -> String {
    format!("load file {k}\n")
}

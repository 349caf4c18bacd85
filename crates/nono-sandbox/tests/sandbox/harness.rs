//! Test harness: run programs or this test binary itself inside a sandbox, in a fresh process.
//!
//! Two ways to test a sandbox, both in a fresh process (never the test runner's own):
//! - [`run`]: spawn a real program (`cat`, `sh`, `python3`) with `CommandExt::sandboxed`.
//! - [`reexec`] + [`child_vars`]: re-run *this test binary*, filtered to one test, inside the
//!   sandbox. The test function checks [`child_vars`] first: `Some(vars)` means "I am the
//!   sandboxed child", so it runs the checks (a failing assert fails the child, and
//!   [`Outcome::assert_child_passed`] then fails the parent). The parent passes data to the
//!   child through `vars` (environment variables).
//!
//! ```ignore
//! #[test]
//! fn example() {
//!     const NAME: &str = "landlock::example";
//!     if let Some(vars) = harness::child_vars(NAME) {
//!         assert!(std::fs::read(&vars["SECRET"]).is_err());
//!         return;
//!     }
//!     let caps = harness::base_caps();
//!     harness::reexec(NAME, &caps, &[("SECRET", "/etc/shadow")]).assert_child_passed();
//! }
//! ```
//!
//! Tests that need a kernel feature call [`landlock_abi_at_least`] / [`require`]; with
//! `NONO_REQUIRE_SANDBOX=1` a missing feature is a failure, otherwise the test prints why it
//! skips and returns.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use nono_sandbox::{AccessMode, CapabilitySet, CommandExt};

/// Environment variable naming the test a re-executed child must run.
pub const CHILD_ENV: &str = "NONO_HARNESS_CHILD";
/// Prefix of the variables passed from parent to child.
pub const VAR_PREFIX: &str = "NONO_HARNESS_VAR_";

/// Whether `NONO_REQUIRE_SANDBOX=1`.
pub fn require_sandbox() -> bool {
    std::env::var_os("NONO_REQUIRE_SANDBOX").is_some_and(|v| v == "1")
}

/// `true` if `available`; otherwise fail under `NONO_REQUIRE_SANDBOX=1`, or print why the
/// test is skipped and return `false`.
pub fn require(available: bool, what: &str) -> bool {
    if available {
        return true;
    }
    assert!(
        !require_sandbox(),
        "NONO_REQUIRE_SANDBOX=1 but the kernel lacks {what}"
    );
    eprintln!("SKIP: the kernel lacks {what}");
    false
}

/// Landlock ABI at least `abi` (see [`require`]).
pub fn landlock_abi_at_least(abi: u32) -> bool {
    let have = nono_sandbox::support::landlock_support().abi;
    require(have >= abi, &format!("Landlock ABI {abi} (it has {have})"))
}

/// A fresh canonical temporary directory, removed on drop.
#[derive(Debug)]
pub struct TempTree {
    root: PathBuf,
}

impl TempTree {
    /// Create `$TMPDIR/nono-<tag>-<pid>-<n>`.
    pub fn new(tag: &str) -> TempTree {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let root = std::env::temp_dir().join(format!("nono-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("create temp tree");
        TempTree {
            root: std::fs::canonicalize(root).expect("canonicalize temp tree"),
        }
    }

    /// The root (canonical).
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// `root/rel`.
    pub fn join(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Create directory `rel` (and parents).
    pub fn dir(&self, rel: &str) -> PathBuf {
        let p = self.join(rel);
        std::fs::create_dir_all(&p).expect("create dir");
        p
    }

    /// Create file `rel` with `contents` (and parent directories).
    pub fn file(&self, rel: &str, contents: &str) -> PathBuf {
        let p = self.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(&p, contents).expect("write file");
        p
    }
}

impl Drop for TempTree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Capabilities that let ordinary dynamically linked programs and this test binary start:
/// read (and execute) `/usr` (which `/bin`, `/lib`, `/lib64` point into here),
/// `/etc/ld.so.cache`, the running test executable, and `/dev/null` (read-write). Nothing
/// else: no `/tmp`, no `/etc`.
pub fn base_caps() -> CapabilitySet {
    let mut caps = CapabilitySet::new();
    caps.allow_dir("/usr", AccessMode::Read, "harness")
        .expect("grant /usr");
    for dir in ["/bin", "/lib", "/lib64", "/sbin"] {
        if let Ok(m) = std::fs::metadata(dir) {
            if m.is_dir() {
                caps.allow_dir(dir, AccessMode::Read, "harness")
                    .expect("grant lib dir");
            }
        }
    }
    // Shells open /dev/null for background jobs' stdin.
    caps.allow_file("/dev/null", AccessMode::ReadWrite, "harness")
        .expect("grant /dev/null");
    if Path::new("/etc/ld.so.cache").exists() {
        caps.allow_file("/etc/ld.so.cache", AccessMode::Read, "harness")
            .expect("grant ld.so.cache");
    }
    let exe = std::env::current_exe().expect("current_exe");
    caps.allow_file(exe, AccessMode::Read, "harness")
        .expect("grant test exe");
    caps
}

/// A finished sandboxed process.
#[derive(Debug)]
pub struct Outcome {
    /// What ran.
    pub what: String,
    /// Exit status, stdout, stderr.
    pub output: Output,
}

impl Outcome {
    /// Exited with status 0.
    pub fn success(&self) -> bool {
        self.output.status.success()
    }

    /// Standard output, lossily decoded.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    /// Standard error, lossily decoded.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Panic unless it succeeded.
    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert!(
            self.success(),
            "{} failed ({}):\nstdout:\n{}\nstderr:\n{}",
            self.what,
            self.output.status,
            self.stdout(),
            self.stderr()
        );
        self
    }

    /// Panic unless it failed with "Permission denied" (EACCES) or "Operation not permitted"
    /// (EPERM) on stderr: the kernel refused, the program did not just fail.
    #[track_caller]
    pub fn assert_denied(&self) -> &Self {
        let err = self.stderr();
        assert!(
            !self.success()
                && (err.contains("Permission denied") || err.contains("Operation not permitted")),
            "{} should have been refused by the sandbox ({}):\nstdout:\n{}\nstderr:\n{}",
            self.what,
            self.output.status,
            self.stdout(),
            err
        );
        self
    }

    /// Panic unless the re-executed test ran exactly once and passed.
    #[track_caller]
    pub fn assert_child_passed(&self) -> &Self {
        self.assert_ok();
        assert!(
            self.stdout().contains("1 passed"),
            "{}: the child did not run the test (wrong name?):\n{}",
            self.what,
            self.stdout()
        );
        self
    }
}

/// Run `argv` confined by `caps`, with stdin closed, and collect its output.
pub fn run(caps: &CapabilitySet, argv: &[&str]) -> Outcome {
    run_in(caps, argv, None)
}

/// Like [`run`], in working directory `dir`.
pub fn run_in(caps: &CapabilitySet, argv: &[&str], dir: Option<&Path>) -> Outcome {
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..])
        .stdin(Stdio::null())
        .env("LC_ALL", "C")
        .env("LANG", "C");
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    cmd.sandboxed(caps).expect("prepare sandbox");
    let output = cmd.output().expect("spawn sandboxed program");
    Outcome {
        what: argv.join(" "),
        output,
    }
}

/// In a re-executed child for test `name`, the variables the parent passed; `None` in the
/// parent (or in a child for another test).
pub fn child_vars(name: &str) -> Option<BTreeMap<String, String>> {
    if std::env::var(CHILD_ENV).ok()? != name {
        return None;
    }
    Some(
        std::env::vars()
            .filter_map(|(k, v)| k.strip_prefix(VAR_PREFIX).map(|k| (k.to_owned(), v)))
            .collect(),
    )
}

/// Re-run this test binary, filtered to exactly test `name` (its full libtest name, e.g.
/// `"landlock::foo"`), confined by `caps`, passing `vars`.
pub fn reexec(name: &str, caps: &CapabilitySet, vars: &[(&str, &str)]) -> Outcome {
    let mut cmd = reexec_command(name, vars);
    cmd.sandboxed(caps).expect("prepare sandbox");
    let output = cmd.output().expect("spawn sandboxed test child");
    Outcome {
        what: format!("sandboxed child {name}"),
        output,
    }
}

/// The command [`reexec`] runs, unconfined (to sandbox it another way, e.g. with
/// `Sandbox::apply` inside the child).
pub fn reexec_command(name: &str, vars: &[(&str, &str)]) -> Command {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"])
        .stdin(Stdio::null())
        .env(CHILD_ENV, name)
        .env("RUST_BACKTRACE", "0");
    for (k, v) in vars {
        cmd.env(format!("{VAR_PREFIX}{k}"), v);
    }
    cmd
}

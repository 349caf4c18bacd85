//! Shared helpers: a capability set with the system readable, scratch directories, and the
//! kernel-support check (`NONO_REQUIRE_SANDBOX=1` turns a missing feature into a failure).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use nono_sandbox::{AccessMode, CapabilitySet};
use nono_supervisor::{Denial, ExitStatusKind, PtyMode, RunOutcome, SpawnConfig};

/// Read access to what a shell and coreutils need to start.
pub fn system_caps() -> CapabilitySet {
    let mut caps = CapabilitySet::new();
    for dir in ["/usr", "/bin", "/lib", "/lib64", "/etc", "/dev", "/proc"] {
        if Path::new(dir).exists() {
            caps.allow_path(dir, AccessMode::Read, "test system")
                .unwrap();
        }
    }
    caps.allow_file("/dev/null", AccessMode::ReadWrite, "test system")
        .unwrap();
    caps
}

/// The system's Python (not a shim in a home directory, which the sandbox cannot read).
pub const PYTHON: &str = "/usr/bin/python3";

/// A config for `sh -c script` with the system readable, no PTY, signals not forwarded (the
/// test harness's own signals are not the child's business).
pub fn sh(script: &str, caps: CapabilitySet) -> SpawnConfig {
    let mut config = SpawnConfig::new(["sh", "-c", script], caps);
    config.pty = PtyMode::Never;
    config.forward_signals = false;
    config
}

/// [`sh`] with `out` writable as well and opens trapped (the broker answers every open).
pub fn trapped(script: &str, out: &Path) -> SpawnConfig {
    let mut caps = system_caps();
    caps.allow_dir(out, AccessMode::ReadWrite, "test output")
        .unwrap();
    let mut config = sh(script, caps);
    config.trap_opens = true;
    config
}

/// Run `config` and panic (showing the denials and URL opens) unless the child exited 0.
#[track_caller]
pub fn run_ok(config: SpawnConfig) -> RunOutcome {
    let outcome = nono_supervisor::run(config).unwrap();
    assert_exit(&outcome, 0);
    outcome
}

/// Panic (showing the denials and URL opens) unless the child exited with `code`.
#[track_caller]
pub fn assert_exit(outcome: &RunOutcome, code: i32) {
    assert_eq!(
        outcome.exit,
        ExitStatusKind::Code(code),
        "denials: {:?}\nURL opens: {:?}",
        outcome.denials,
        outcome.url_opens
    );
}

/// The first denial of `path`; panics showing every denial if there is none.
#[track_caller]
pub fn denial_of(outcome: &RunOutcome, path: impl AsRef<Path>) -> &Denial {
    let path = path.as_ref();
    // A `match`, not `unwrap_or_else`: a closure would not report the caller's line.
    match outcome.denials.iter().find(|d| d.path() == Some(path)) {
        Some(d) => d,
        None => panic!("no denial of {}: {:?}", path.display(), outcome.denials),
    }
}

/// A fresh, empty, canonical scratch directory (outside every grant unless granted),
/// `<temp dir>/nono-sup-<pid>-<tag>-<n>`, removed when the guard is dropped.
pub fn scratch(tag: &str) -> Scratch {
    static N: AtomicUsize = AtomicUsize::new(0);
    Scratch::new_in(
        &std::env::temp_dir(),
        &format!(
            "nono-sup-{}-{}-{}",
            std::process::id(),
            tag,
            N.fetch_add(1, Ordering::Relaxed)
        ),
    )
}

pub use nono_scratch::Scratch;

/// Path of an example binary built next to this test binary. `cargo test --all-targets`
/// and `--test supervisor` do not leave plain example binaries there, so the first call
/// builds them (`cargo build -p nono-supervisor -p nono-client --examples`, same profile).
/// The SDK clients (`sdk_request`, `sdk_open_url`) are nono-client's examples: the
/// supervisor's tests run them as real children, without a Cargo dependency on that crate.
pub fn example(name: &str) -> PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    let mut dir = std::env::current_exe().unwrap();
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join("examples").join(name);
    BUILT.call_once(|| {
        let mut cargo =
            std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cargo.args([
            "build",
            "--quiet",
            "-p",
            "nono-supervisor",
            "-p",
            "nono-client",
            "--examples",
        ]);
        if dir.file_name().is_some_and(|p| p == "release") {
            cargo.arg("--release");
        }
        let status = cargo
            .status()
            .expect("cannot run cargo to build the examples");
        assert!(
            status.success(),
            "building the nono-supervisor and nono-client examples failed: {status}"
        );
    });
    path
}

/// Every test that calls `run` holds this for reading; the fd-count test holds it for
/// writing, so no other test opens or closes fds in this process while it counts.
pub static RUNS: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Shared access for an ordinary test.
pub fn shared() -> std::sync::RwLockReadGuard<'static, ()> {
    RUNS.read().unwrap_or_else(|e| e.into_inner())
}

/// The start of an ordinary test that needs the kernel's support: shared access, or `None`
/// (the test returns) when [`notify_supported`] says no.
pub fn sandbox_ready() -> Option<std::sync::RwLockReadGuard<'static, ()>> {
    let guard = shared();
    notify_supported().then_some(guard)
}

/// Exclusive access (fd counting).
pub fn exclusive() -> std::sync::RwLockWriteGuard<'static, ()> {
    RUNS.write().unwrap_or_else(|e| e.into_inner())
}

/// The number of fds open in this process.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Check seccomp user notification is available; `NONO_REQUIRE_SANDBOX=1` makes a missing
/// feature a failure. Returns false (after printing why) to skip.
pub fn notify_supported() -> bool {
    let s = nono_sandbox::support();
    let ok = s.seccomp.user_notif == nono_sandbox::support::Tristate::Yes && s.landlock.fs;
    if !ok {
        assert!(
            std::env::var_os("NONO_REQUIRE_SANDBOX").is_none_or(|v| v != "1"),
            "NONO_REQUIRE_SANDBOX=1 but this kernel lacks Landlock or seccomp user notification"
        );
        eprintln!("skipping: no Landlock or seccomp user notification on this kernel");
    }
    ok
}

/// An engine whose backend approves everything (once), with `policy`.
pub fn approve_all(
    policy: nono_supervisor::policy::Policy,
) -> std::sync::Arc<nono_supervisor::policy::Engine> {
    use nono_supervisor::approval::Callback;
    use nono_supervisor::policy::{Decision, Engine, GrantScope};
    std::sync::Arc::new(Engine::new(
        policy,
        Callback::new(|_| Decision::Granted {
            scope: GrantScope::Once,
            rule: "test approves everything".into(),
        }),
    ))
}

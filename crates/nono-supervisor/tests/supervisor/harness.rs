//! Shared helpers: a capability set with the system readable, scratch directories, and the
//! kernel-support check (`NONO_REQUIRE_SANDBOX=1` turns a missing feature into a failure).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use nono_sandbox::{AccessMode, CapabilitySet};
use nono_supervisor::{PtyMode, SpawnConfig};

/// Read access to what a shell and coreutils need to start.
pub fn system_caps() -> CapabilitySet {
    let mut caps = CapabilitySet::new();
    for dir in ["/usr", "/bin", "/lib", "/lib64", "/etc", "/dev", "/proc"] {
        if Path::new(dir).exists() {
            caps.allow_path(dir, AccessMode::Read, "test system")
                .unwrap();
        }
    }
    caps
}

/// A config for `sh -c script` with the system readable, no PTY, signals not forwarded (the
/// test harness's own signals are not the child's business).
pub fn sh(script: &str, caps: CapabilitySet) -> SpawnConfig {
    let mut config = SpawnConfig::new(["sh", "-c", script], caps);
    config.pty = PtyMode::Never;
    config.forward_signals = false;
    config
}

/// A fresh, empty, canonical scratch directory (outside every grant unless granted).
pub fn scratch(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "nono-sup-{}-{}-{}",
        std::process::id(),
        tag,
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::canonicalize(dir).unwrap()
}

/// Path of an example binary built next to this test binary.
pub fn example(name: &str) -> PathBuf {
    let mut dir = std::env::current_exe().unwrap();
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join("examples").join(name)
}

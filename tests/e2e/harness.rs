//! Locating the built `nono` binary and running it.

use std::path::PathBuf;

/// The `nono` binary built for this test run (`target/<profile>/nono`).
pub fn nono_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("NONO_BIN") {
        return PathBuf::from(p);
    }
    // target/<profile>/deps/e2e-<hash>  →  target/<profile>/nono
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binary lives in target/<profile>/deps");
    profile_dir.join("nono")
}

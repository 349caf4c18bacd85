//! `canonicalize`: `std::fs::canonicalize` in three system calls whatever the depth.

use std::os::fd::AsRawFd;

/// `std::fs::canonicalize` (the absolute path with every symlink resolved) in three system
/// calls whatever the depth: the kernel resolves `path` once (`open(O_PATH)`, which neither
/// opens a FIFO or device nor needs read permission) and `readlink` of `/proc/self/fd/N`
/// gives the path it reached. `realpath(3)` instead `readlink`s every component, each a walk
/// from the root (~30 syscalls for a path six deep) — and the broker canonicalises on every
/// runtime request. Anything that is not a plain absolute path (no `/proc`, a deleted file,
/// an object that is not a path, a path unreachable from our root) falls back to
/// `std::fs::canonicalize`, so the answer is always realpath's.
pub fn canonicalize(path: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
    use std::os::unix::ffi::OsStrExt as _;
    let fast = || -> Option<std::path::PathBuf> {
        let fd = rustix::fs::open(
            path,
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .ok()?;
        let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
        let target = rustix::fs::readlink(link.as_str(), Vec::new()).ok()?;
        let bytes = target.as_bytes();
        if !bytes.starts_with(b"/") || bytes.ends_with(b" (deleted)") {
            return None;
        }
        Some(std::path::PathBuf::from(std::ffi::OsStr::from_bytes(bytes)))
    };
    match fast() {
        Some(p) => Ok(p),
        None => std::fs::canonicalize(path),
    }
}

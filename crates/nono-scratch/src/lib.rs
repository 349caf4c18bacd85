//! Scratch directories for nono's tests (a dev-dependency of every crate that makes temp
//! dirs in tests): made fresh and removed, with everything in them, when the guard is dropped
//! (also when the test panics), so the test suite leaves nothing behind in the user's `/tmp`
//! (`cargo xtask ci` checks). Files a sandboxed child made as another user go too: the tests
//! that make them run as root.

use std::path::{Path, PathBuf};

/// The directory `<temp dir>/<name>`, made empty (a stale one from a killed run is removed
/// first); the guard holds its canonical path and derefs to it. Dropping it removes the tree
/// without following symlinks out of it (`remove_dir_all` unlinks a link, never its target),
/// after restoring the owner's rights on directories a test made unreadable or unwritable.
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl Scratch {
    /// A fresh `<temp dir>/<name>`; `name` should hold the process id (tests of other runs).
    #[must_use]
    pub fn new(name: &str) -> Scratch {
        Scratch::new_in(&std::env::temp_dir(), name)
    }

    /// A fresh `<parent>/<name>`.
    ///
    /// # Panics
    /// When the directory cannot be made (a test cannot go on without it).
    #[must_use]
    pub fn new_in(parent: &Path, name: &str) -> Scratch {
        let dir = parent.join(name);
        remove(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(std::fs::canonicalize(dir).unwrap())
    }
}

impl std::ops::Deref for Scratch {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.0
    }
}

// `&scratch` where a path is asked for; never the guard itself by value, which would remove
// the directory as soon as the callee dropped it.
impl AsRef<Path> for &Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for &Scratch {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

impl From<&Scratch> for PathBuf {
    fn from(s: &Scratch) -> PathBuf {
        s.0.clone()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        remove(&self.0);
    }
}

/// Remove `dir` and everything in it if it exists; a directory without the owner's rights
/// (a test's `chmod 000`, which only root passes) gets them back and the removal is tried
/// once more. Symlinks are removed, never followed.
pub fn remove(dir: &Path) {
    if std::fs::remove_dir_all(dir).is_ok() || std::fs::symlink_metadata(dir).is_err() {
        return;
    }
    restore_rights(dir);
    let _ = std::fs::remove_dir_all(dir);
}

fn restore_rights(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return;
    };
    if !meta.is_dir() {
        return;
    }
    let mode = meta.permissions().mode();
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode | 0o700));
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            restore_rights(&e.path());
        }
    }
}

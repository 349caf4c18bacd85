//! `PrivateTmp`: a fresh, owner-only temporary directory for one run (`--private-tmp`),
//! removed when the guard is dropped.
//!
//! Created like `mkdtemp(3)`, without its predictable names: `mkdirat` of
//! `nono-private-tmp-<128 random bits>` in the base directory (never follows a symlink at the final
//! component, fails with `EEXIST` on any existing entry, retried with a new name), then
//! opened with `O_NOFOLLOW | O_DIRECTORY` and checked with `fstat` on that descriptor: a
//! directory, owned by our effective uid, mode exactly `0700` (set with `fchmod` on the fd, so
//! the umask plays no part). The name is unguessable, so another user cannot pre-create it or
//! plant a symlink by that name in a sticky `/tmp`.
//!
//! Removal uses `std::fs::remove_dir_all`, which does not follow symlinks the command may
//! have left inside (it works relative to directory descriptors opened with `O_NOFOLLOW`).
//! A removal that fails (an entry the command made unwritable, as a non-root user) is
//! reported by [`PrivateTmp::remove`] so the caller can name the leftover; it is never silent.

use std::fs::File;
use std::io::Read as _;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

/// Why the private directory could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrivateTmpError {
    /// A system call on the base directory or the new directory failed.
    #[error("{call} in {} failed: {source}", base.display())]
    Sys {
        /// The call.
        call: &'static str,
        /// The base directory.
        base: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// What we created is not what we asked for (another process raced us).
    #[error("{} is not a directory owned by uid {uid} with mode 0700 right after creating it; something else changed it (remove it and retry)", path.display())]
    NotPrivate {
        /// The directory.
        path: PathBuf,
        /// Our effective uid.
        uid: u32,
    },
}

/// A fresh owner-only directory, removed on drop (or by [`PrivateTmp::remove`]).
#[derive(Debug)]
pub struct PrivateTmp {
    path: PathBuf,
    removed: bool,
}

/// Name attempts before giving up (each collision means 128 random bits repeated).
const ATTEMPTS: usize = 8;

fn random_name() -> std::io::Result<String> {
    let mut bytes = [0u8; 16];
    File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(format!(
        "nono-private-tmp-{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}

impl PrivateTmp {
    /// Create `base/nono-private-tmp-<random>` (mode 0700, owned by the effective uid). `base`
    /// should be canonical: the returned path is `base` joined with the new name.
    pub fn create(base: &Path) -> Result<PrivateTmp, PrivateTmpError> {
        let sys = |call, source: Errno| PrivateTmpError::Sys {
            call,
            base: base.to_path_buf(),
            source: source.into(),
        };
        let dir: OwnedFd = rustix::fs::open(
            base,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| sys("open", e))?;
        let mut last = Errno::EXIST;
        for _ in 0..ATTEMPTS {
            let name = random_name().map_err(|source| PrivateTmpError::Sys {
                call: "read /dev/urandom",
                base: base.to_path_buf(),
                source,
            })?;
            match rustix::fs::mkdirat(&dir, name.as_str(), Mode::RWXU) {
                Ok(()) => {}
                Err(Errno::EXIST) => {
                    last = Errno::EXIST;
                    continue;
                }
                Err(e) => return Err(sys("mkdir", e)),
            }
            let path = base.join(&name);
            // From here on the guard removes it on every error path.
            let guard = PrivateTmp {
                path,
                removed: false,
            };
            let fd = rustix::fs::openat(
                &dir,
                name.as_str(),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| sys("open (new directory)", e))?;
            rustix::fs::fchmod(&fd, Mode::RWXU).map_err(|e| sys("fchmod", e))?;
            let st = rustix::fs::fstat(&fd).map_err(|e| sys("fstat", e))?;
            let uid = rustix::process::geteuid().as_raw();
            let is_dir =
                rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory;
            if !is_dir || st.st_uid != uid || st.st_mode & 0o7777 != 0o700 {
                return Err(PrivateTmpError::NotPrivate {
                    path: guard.path.clone(),
                    uid,
                });
            }
            return Ok(guard);
        }
        Err(sys("mkdir (no free name)", last))
    }

    /// The directory.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Remove the directory and everything in it now (idempotent); on error something is
    /// left at [`path`](PrivateTmp::path) and the caller should say so.
    pub fn remove(&mut self) -> std::io::Result<()> {
        self.removed = true;
        remove(&self.path)
    }
}

fn remove(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

impl Drop for PrivateTmp {
    fn drop(&mut self) {
        if !self.removed {
            if let Err(e) = remove(&self.path) {
                tracing::warn!(path = %self.path.display(), "removing the private tmp failed: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt as _;

    #[test]
    fn fresh_owner_only_and_removed() {
        let base = std::fs::canonicalize(std::env::temp_dir()).unwrap();
        let mut a = PrivateTmp::create(&base).unwrap();
        let b = PrivateTmp::create(&base).unwrap();
        assert_ne!(a.path(), b.path());
        let md = std::fs::symlink_metadata(a.path()).unwrap();
        assert!(md.is_dir());
        assert_eq!(md.mode() & 0o7777, 0o700);
        assert_eq!(md.uid(), rustix::process::geteuid().as_raw());
        let path = a.path().to_path_buf();
        std::fs::create_dir(path.join("d")).unwrap();
        std::os::unix::fs::symlink("/etc", path.join("d/etc")).unwrap();
        std::fs::write(path.join("f"), "x").unwrap();
        a.remove().unwrap();
        assert!(!path.exists());
        assert!(
            Path::new("/etc/passwd").exists(),
            "symlinks inside are not followed"
        );
        let p2 = b.path().to_path_buf();
        drop(b);
        assert!(!p2.exists());
    }
}

//! `create` of a profile entry: a path missing here that nono makes before the sandbox is
//! built. A tool makes its cache (`~/.npm`, `~/.cache/pip`) or lock file
//! (`~/.cargo/.package-cache`) at its first use; inside the sandbox it cannot, because the
//! directory it would make it in is read-only or a carve-out spine (the home directory holds
//! the deny groups' entries), so on a machine where the tool never ran outside nono the
//! profile's grant was skipped as missing and the tool failed (`npm install`: `EACCES`,
//! mkdir `~/.npm`).
//!
//! What is made is empty (a directory 0700, a file 0600, missing parents 0700) and only:
//! - inside the home directory (`$HOME`, as the profile's `~` expands), spelt without `..`;
//! - by handles: from the home directory opened without following a symlink, each component
//!   opened relative to the one before with `O_NOFOLLOW`, so a symlink on the way (one an
//!   earlier run planted in a directory it could write) is refused, never followed;
//! - through directories owned by the user nono runs as;
//! - never in a dry run (`--dry-run` lists what would be made) nor for `why`.
//!
//! What is refused is a note, and the entry is then missing as before (skipped when
//! `optional`, an error otherwise).

use std::ffi::OsStr;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{Mode, OFlags};

use super::schema::Create;
use super::{Profile, Vars};

/// One entry's path that nono made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// The path as the profile's entry expands here.
    pub path: PathBuf,
    /// A directory or a file.
    pub create: Create,
}

/// One entry's path that was missing and not made, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotCreated {
    /// The path as the profile's entry expands here.
    pub path: PathBuf,
    /// Why it was not made (a sentence for the note).
    pub reason: String,
}

/// What [`Profile::create_missing`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateOutcome {
    /// Made now (or, for a dry run, what would be).
    pub created: Vec<Created>,
    /// Missing and not made.
    pub refused: Vec<NotCreated>,
}

impl Profile {
    /// Make the missing paths of the entries marked `create` (see the module documentation)
    /// as the user `uid`; with `dry_run`, only say which would be made. Entries whose
    /// variables are unset, or whose path exists (whatever it is: the grant's own checks
    /// judge it), are left alone.
    #[must_use]
    pub fn create_missing(&self, vars: &Vars, uid: u32, dry_run: bool) -> CreateOutcome {
        let mut out = CreateOutcome::default();
        let fs = &self.filesystem;
        for list in [&fs.read, &fs.allow, &fs.write] {
            for e in list {
                let Some(create) = e.create else {
                    continue;
                };
                let Ok(path) = vars.expand(&e.path) else {
                    continue;
                };
                if std::fs::symlink_metadata(&path).is_ok() {
                    continue;
                }
                let made = if dry_run {
                    inside_home(&path, &vars.home).map(|_| ())
                } else {
                    make(&path, &vars.home, uid, create)
                };
                match made {
                    Ok(()) => out.created.push(Created { path, create }),
                    Err(reason) => out.refused.push(NotCreated { path, reason }),
                }
            }
        }
        out
    }
}

/// The components of `path` below `home`, if it lies strictly inside it, spelt plainly.
fn inside_home<'a>(path: &'a Path, home: &Path) -> Result<Vec<&'a OsStr>, String> {
    let rest = path
        .strip_prefix(home)
        .ok()
        .filter(|r| !r.as_os_str().is_empty())
        .ok_or_else(|| format!("it is not inside your home directory {}", home.display()))?;
    rest.components()
        .map(|c| match c {
            Component::Normal(name) => Ok(name),
            _ => Err("its spelling has `.` or `..` components".to_owned()),
        })
        .collect()
}

/// Make `path` (inside `home`) as described in the module documentation.
fn make(path: &Path, home: &Path, uid: u32, create: Create) -> Result<(), String> {
    let names = inside_home(path, home)?;
    let io = |what: &str, at: &Path, e: io::Error| format!("{what} {}: {e}", at.display());
    // The home directory itself: its canonical form, so that a home reached through a
    // symlink (`/home` → `/usr/home`) is still opened without following one.
    let real = std::fs::canonicalize(home).map_err(|e| io("cannot resolve", home, e))?;
    let mut dir =
        open_dir(rustix::fs::CWD, real.as_os_str()).map_err(|e| io("cannot open", home, e))?;
    owned(&dir, uid, home)?;
    let mut at = home.to_path_buf();
    let last = names.len() - 1;
    for (i, name) in names.iter().enumerate() {
        at.push(name);
        if i == last && create == Create::File {
            let flags = OFlags::CREATE
                | OFlags::EXCL
                | OFlags::WRONLY
                | OFlags::NOFOLLOW
                | OFlags::CLOEXEC
                | OFlags::NONBLOCK;
            return match rustix::fs::openat(&dir, *name, flags, Mode::from_raw_mode(0o600)) {
                Ok(_) => Ok(()),
                // Made meanwhile by someone else: it exists now, and the grant judges it.
                Err(rustix::io::Errno::EXIST) => Ok(()),
                Err(e) => Err(io("cannot create", &at, e.into())),
            };
        }
        dir = match open_dir(&dir, name) {
            Ok(next) => next,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                match rustix::fs::mkdirat(&dir, *name, Mode::from_raw_mode(0o700)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(io("cannot create", &at, e.into())),
                }
                open_dir(&dir, name).map_err(|e| refusal(&at, e))?
            }
            Err(e) => return Err(refusal(&at, e)),
        };
        owned(&dir, uid, &at)?;
    }
    Ok(())
}

/// Open the directory `name` in `dir` without following a symlink.
fn open_dir<Fd: std::os::fd::AsFd>(dir: Fd, name: &OsStr) -> io::Result<OwnedFd> {
    rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(io::Error::from)
}

/// Why `at` could not be gone through. (`O_DIRECTORY | O_NOFOLLOW` on a symlink fails
/// with `ENOTDIR`, as on a file; which one it was is looked up for the message only.)
fn refusal(at: &Path, e: io::Error) -> String {
    let not_dir = [rustix::io::Errno::LOOP, rustix::io::Errno::NOTDIR]
        .iter()
        .any(|n| e.raw_os_error() == Some(n.raw_os_error()));
    if !not_dir {
        return format!("cannot open {}: {e}", at.display());
    }
    if std::fs::symlink_metadata(at).is_ok_and(|m| m.file_type().is_symlink()) {
        format!(
            "{} is a symlink (nono makes nothing through one)",
            at.display()
        )
    } else {
        format!("{} is not a directory", at.display())
    }
}

/// The directory `dir` (at `at`) must be the user's own.
fn owned(dir: &OwnedFd, uid: u32, at: &Path) -> Result<(), String> {
    let st = rustix::fs::fstat(dir).map_err(|e| format!("cannot stat {}: {e}", at.display()))?;
    if st.st_uid == uid {
        Ok(())
    } else {
        Err(format!(
            "{} belongs to uid {}, not to you (uid {uid})",
            at.display(),
            st.st_uid
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use super::*;
    use crate::profile::PathEntry;

    fn entry(path: &str, create: Create) -> PathEntry {
        PathEntry {
            path: path.into(),
            optional: true,
            create: Some(create),
        }
    }

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("nono-create-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("home")).unwrap();
        std::fs::canonicalize(d).unwrap()
    }

    fn profile(allow: Vec<PathEntry>) -> Profile {
        Profile {
            name: "t".into(),
            filesystem: crate::profile::Filesystem {
                allow,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn missing_paths_are_made_empty_and_private_inside_the_home_only() {
        let d = scratch("make");
        let home = d.join("home");
        let vars = Vars::for_home(&home);
        let uid = crate::planted::user_id();
        std::fs::create_dir(home.join("have")).unwrap();
        let p = profile(vec![
            entry("~/.cache/tool", Create::Dir),
            entry("~/.tool/.lock", Create::File),
            entry("~/have", Create::Dir),
            entry(&format!("{}/outside", d.display()), Create::Dir),
            entry("~/a/../b", Create::Dir),
        ]);
        // A dry run makes nothing and says what a run would.
        let dry = p.create_missing(&vars, uid, true);
        assert!(!home.join(".cache").exists());
        let names = |o: &CreateOutcome| -> Vec<PathBuf> {
            o.created.iter().map(|c| c.path.clone()).collect()
        };
        assert_eq!(
            names(&dry),
            [home.join(".cache/tool"), home.join(".tool/.lock")]
        );
        let out = p.create_missing(&vars, uid, false);
        assert_eq!(names(&out), names(&dry));
        assert_eq!(out.refused.len(), 2, "{:?}", out.refused);
        assert!(
            out.refused[0].reason.contains("not inside your home"),
            "{:?}",
            out.refused
        );
        assert!(out.refused[1].reason.contains("`..`"), "{:?}", out.refused);
        assert!(!d.join("outside").exists() && !home.join("b").exists());
        for (path, dir, mode) in [
            (home.join(".cache"), true, 0o700),
            (home.join(".cache/tool"), true, 0o700),
            (home.join(".tool"), true, 0o700),
            (home.join(".tool/.lock"), false, 0o600),
        ] {
            let m = std::fs::symlink_metadata(&path).unwrap();
            assert_eq!(m.is_dir(), dir, "{}", path.display());
            assert_eq!(m.permissions().mode() & 0o077, 0, "{}", path.display());
            assert_eq!(
                m.permissions().mode() & mode,
                m.permissions().mode() & 0o777
            );
            assert_eq!(m.uid(), uid);
        }
        assert_eq!(
            std::fs::metadata(home.join(".tool/.lock")).unwrap().len(),
            0
        );
        // Made once: the next start finds them and leaves them alone.
        let again = p.create_missing(&vars, uid, false);
        assert!(again.created.is_empty());
        let _ = std::fs::remove_dir_all(&d);
    }

    /// What an earlier run could leave in a directory it could write: a symlink on the way
    /// (to a directory outside, or inside the home), or a file where a directory is needed.
    /// Nothing is made through them. A directory on the way owned by someone else (as root,
    /// another uid's) is refused too.
    #[test]
    fn nothing_is_made_through_a_symlink_a_file_or_a_foreign_directory() {
        let d = scratch("refuse");
        let home = d.join("home");
        let vars = Vars::for_home(&home);
        let uid = crate::planted::user_id();
        std::fs::create_dir_all(d.join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(d.join("elsewhere"), home.join(".cache")).unwrap();
        std::fs::write(home.join(".file"), "x").unwrap();
        std::fs::create_dir(home.join("theirs")).unwrap();
        let p = profile(vec![
            entry("~/.cache/tool", Create::Dir),
            entry("~/.cache/lock", Create::File),
            entry("~/.file/tool", Create::Dir),
            entry("~/theirs/tool", Create::Dir),
        ]);
        let foreign = uid == 0;
        if foreign {
            std::os::unix::fs::chown(home.join("theirs"), Some(65534), Some(65534)).unwrap();
        }
        let out = p.create_missing(&vars, uid, false);
        assert!(out.created.is_empty() || !foreign, "{:?}", out.created);
        let reasons: Vec<&str> = out.refused.iter().map(|r| r.reason.as_str()).collect();
        assert!(reasons[0].contains("is a symlink"), "{reasons:?}");
        assert!(reasons[1].contains("is a symlink"), "{reasons:?}");
        assert!(reasons[2].contains("not a directory"), "{reasons:?}");
        if foreign {
            assert!(reasons[3].contains("belongs to uid 65534"), "{reasons:?}");
            assert!(!home.join("theirs/tool").exists());
        }
        assert_eq!(std::fs::read_dir(d.join("elsewhere")).unwrap().count(), 0);
        let _ = std::fs::remove_dir_all(&d);
    }
}

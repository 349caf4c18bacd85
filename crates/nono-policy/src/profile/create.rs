//! `create` of a profile entry: a path missing here that nono makes before the sandbox is
//! built. A tool makes its cache (`~/.npm`, `~/.cache/pip`) or lock file
//! (`~/.cargo/.package-cache`) at its first use; inside the sandbox it cannot, because the
//! directory it would make it in is read-only or a carve-out spine (the home directory holds
//! the deny groups' entries), so on a machine where the tool never ran outside nono the
//! profile's grant was skipped as missing and the tool failed (`npm install`: `EACCES`,
//! mkdir `~/.npm`).
//!
//! What is made is empty (a directory 0700, a file 0600, missing parents 0700) and only:
//! - inside the home directory (`$HOME`, as the profile's `~` expands), spelt without `..`,
//!   and not when the home is the root directory `/` (then everything is inside it: red team
//!   19, a root nono with `HOME=/` and `XDG_CACHE_HOME=/etc` made `/etc/pip`);
//! - outside the deny groups (the profile's groups and its own `filesystem.deny`): they win
//!   over every grant, so the tool could not use what was made there, and the sandbox itself
//!   can never make it — red team 19: an empty `~/.bash_profile`, which a login shell reads
//!   instead of `~/.profile`, `~/.ssh/…`, a file in `~/.local/bin`;
//! - by handles: from the home directory opened without following a symlink, each component
//!   opened relative to the one before with `O_NOFOLLOW`, so a symlink on the way (one an
//!   earlier run planted in a directory it could write) is refused, never followed;
//! - through directories owned by the user nono runs as;
//! - never in a dry run (`--dry-run` lists what would be made, after the same checks of what
//!   exists: a symlink or a foreign directory on the way, a deny group) nor for `why`.
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
use crate::deny_groups::DenySet;

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
    /// Whether it comes from how this machine is laid out — a symlink on the way (a cache
    /// directory moved to another disk), a home at `/` or not the user's, a `$XDG_CACHE_HOME`
    /// outside the home — rather than from the profile: a run then says nothing, as of any
    /// optional path missing here (it would say it at every start), and a dry run lists it.
    pub layout: bool,
}

/// Why a path is not made, inside this module.
#[derive(Debug)]
struct Refusal {
    reason: String,
    /// See [`NotCreated::layout`].
    layout: bool,
}

impl Refusal {
    fn layout(reason: String) -> Refusal {
        Refusal {
            reason,
            layout: true,
        }
    }
}

impl From<String> for Refusal {
    fn from(reason: String) -> Refusal {
        Refusal {
            reason,
            layout: false,
        }
    }
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
        // Resolved when a path is to be made (rarely: a tool's first use), not at every start.
        let mut denies: Option<Result<DenySet, String>> = None;
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
                // What exists of it first (cheap, and what a start finds again and again when
                // a symlink is on the way), then the deny groups, then making it.
                let made = make(&path, &vars.home, uid, create, true)
                    .and_then(|()| {
                        let denies = denies.get_or_insert_with(|| {
                            self.deny_set(vars).map_err(|e| {
                                format!("the deny groups could not be resolved to check it: {e}")
                            })
                        });
                        let denies = denies.as_ref().map_err(|e| Refusal::from(e.clone()))?;
                        outside_denies(&path, denies, create).map_err(Refusal::from)
                    })
                    .and_then(|()| {
                        if dry_run {
                            Ok(())
                        } else {
                            make(&path, &vars.home, uid, create, false)
                        }
                    });
                match made {
                    Ok(()) => out.created.push(Created { path, create }),
                    Err(Refusal { reason, layout }) => out.refused.push(NotCreated {
                        path,
                        reason,
                        layout,
                    }),
                }
            }
        }
        out
    }
}

/// The components of `path` below `home`, if it lies strictly inside it, spelt plainly.
fn inside_home<'a>(path: &'a Path, home: &Path) -> Result<Vec<&'a OsStr>, Refusal> {
    let rest = path
        .strip_prefix(home)
        .ok()
        .filter(|r| !r.as_os_str().is_empty())
        .ok_or_else(|| {
            Refusal::layout(format!(
                "it is not inside your home directory {}",
                home.display()
            ))
        })?;
    rest.components()
        .map(|c| match c {
            Component::Normal(name) => Ok(name),
            _ => Err(Refusal::from(
                "its spelling has `.` or `..` components".to_owned(),
            )),
        })
        .collect()
}

/// Why `path` may not be made: a deny entry covers it (or an ancestor of it, which would be
/// made on the way), whatever its kind — making is writing. Where `--bypass-protection` can
/// lift the entry (an optional group's), the message says how the user can do it themselves.
fn outside_denies(path: &Path, denies: &DenySet, create: Create) -> Result<(), String> {
    let Some(m) = denies.deny_for(path, nono_sandbox::AccessMode::Write) else {
        return Ok(());
    };
    let liftable = matches!(m.origin, nono_sandbox::Origin::Group(g)
        if crate::deny_groups::group(g).is_some_and(|g| g.optional));
    let by = match m.origin {
        nono_sandbox::Origin::ProfileDeny(p) => format!("the deny list of profile `{p}`"),
        _ => format!("deny group `{}`", m.group),
    };
    let mut reason = format!(
        "it is protected by {by}, which wins over every grant (the tool could not use it), so \
         nono makes nothing there"
    );
    if liftable {
        let flag = match create {
            Create::Dir => "--allow",
            Create::File => "--allow-file",
        };
        let shown = crate::escape::shell_path(path);
        reason.push_str(&format!(
            "; if the tool truly needs it, make it yourself and run with {flag} {shown} \
             --bypass-protection {shown}"
        ));
    }
    Err(reason)
}

/// Make `path` (inside `home`) as described in the module documentation; with `dry_run`,
/// only go through what exists of it with the same checks.
fn make(path: &Path, home: &Path, uid: u32, create: Create, dry_run: bool) -> Result<(), Refusal> {
    let names = inside_home(path, home)?;
    let io = |what: &str, at: &Path, e: io::Error| format!("{what} {}: {e}", at.display());
    // The home directory itself: its canonical form, so that a home reached through a
    // symlink (`/home` → `/usr/home`) is still opened without following one.
    let real = std::fs::canonicalize(home).map_err(|e| io("cannot resolve", home, e))?;
    if real.parent().is_none() {
        return Err(Refusal::layout(format!(
            "your home directory {} is the root directory, so everything would be inside it \
             (set HOME to a directory of yours)",
            home.display()
        )));
    }
    let mut dir =
        open_dir(rustix::fs::CWD, real.as_os_str()).map_err(|e| io("cannot open", home, e))?;
    owned(&dir, uid, home).map_err(Refusal::layout)?;
    let mut at = home.to_path_buf();
    let last = names.len() - 1;
    for (i, name) in names.iter().enumerate() {
        at.push(name);
        if i == last && create == Create::File {
            if dry_run {
                return Ok(());
            }
            let flags = OFlags::CREATE
                | OFlags::EXCL
                | OFlags::WRONLY
                | OFlags::NOFOLLOW
                | OFlags::CLOEXEC
                | OFlags::NONBLOCK;
            return match rustix::fs::openat(&dir, *name, flags, Mode::from_raw_mode(0o600)) {
                Ok(_) => Ok(()),
                // Made meanwhile: by another nono starting (a file of the user's, as this one
                // would have made it), or planted (a symlink, someone else's file, a hard link
                // to a file elsewhere), which is not said to be made; the grant judges what is
                // there either way.
                Err(rustix::io::Errno::EXIST) => {
                    match rustix::fs::statat(&dir, *name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW) {
                        Ok(st)
                            if rustix::fs::FileType::from_raw_mode(st.st_mode)
                                == rustix::fs::FileType::RegularFile
                                && st.st_uid == uid
                                && st.st_nlink == 1 =>
                        {
                            Ok(())
                        }
                        _ => Err(Refusal::from(format!(
                            "{} appeared meanwhile, and is not a file of yours with one link",
                            at.display()
                        ))),
                    }
                }
                Err(e) => Err(io("cannot create", &at, e.into()).into()),
            };
        }
        dir = match open_dir(&dir, name) {
            Ok(next) => next,
            // What is missing from here on would be made.
            Err(e) if e.kind() == io::ErrorKind::NotFound && dry_run => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                match rustix::fs::mkdirat(&dir, *name, Mode::from_raw_mode(0o700)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(io("cannot create", &at, e.into()).into()),
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
fn refusal(at: &Path, e: io::Error) -> Refusal {
    let not_dir = [rustix::io::Errno::LOOP, rustix::io::Errno::NOTDIR]
        .iter()
        .any(|n| e.raw_os_error() == Some(n.raw_os_error()));
    if !not_dir {
        return format!("cannot open {}: {e}", at.display()).into();
    }
    if std::fs::symlink_metadata(at).is_ok_and(|m| m.file_type().is_symlink()) {
        Refusal::layout(format!(
            "{} is a symlink (nono makes nothing through one; if you trust where it leads, \
             make the path yourself)",
            at.display()
        ))
    } else {
        format!("{} is not a directory", at.display()).into()
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
    use crate::scratch::Scratch;

    fn entry(path: &str, create: Create) -> PathEntry {
        PathEntry {
            path: path.into(),
            optional: true,
            create: Some(create),
        }
    }

    fn scratch(tag: &str) -> Scratch {
        let d = Scratch::new(&format!("nono-create-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(d.join("home")).unwrap();
        d
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

    /// Red team 19: nothing is made inside a deny group (a built-in one or the profile's own
    /// deny list), not even the directories on the way; a dry run says the same.
    #[test]
    fn nothing_is_made_inside_a_deny_group() {
        let d = scratch("deny");
        let home = d.join("home");
        let vars = Vars::for_home(&home);
        let uid = crate::planted::user_id();
        let mut p = profile(vec![
            entry("~/.bash_profile", Create::File),
            entry("~/.ssh/tool", Create::Dir),
            entry("~/.local/bin/tool", Create::File),
            entry("~/.cache/secret/x", Create::Dir),
            entry("~/.cache/tool", Create::Dir),
        ]);
        p.filesystem.deny = vec!["~/.cache/secret".into()];
        for dry_run in [true, false] {
            let out = p.create_missing(&vars, uid, dry_run);
            let reasons: Vec<&str> = out.refused.iter().map(|r| r.reason.as_str()).collect();
            assert_eq!(reasons.len(), 4, "{reasons:?}");
            // The profile's asking, not the machine's layout: said at every start.
            assert!(out.refused.iter().all(|r| !r.layout), "{:?}", out.refused);
            let by = [
                "deny group `shell`",
                "deny group `credentials`",
                "deny group `autorun`",
                "the deny list of profile `t`",
            ];
            for (r, by) in reasons.iter().zip(by) {
                assert!(r.contains(&format!("protected by {by}")), "{reasons:?}");
            }
            // Where `--bypass-protection` could lift it, how.
            assert!(reasons[0].contains("--bypass-protection"), "{reasons:?}");
            assert!(!reasons[3].contains("--bypass-protection"), "{reasons:?}");
            assert_eq!(out.created.len(), 1, "{:?}", out.created);
            for rel in [".bash_profile", ".ssh", ".local", ".cache/secret"] {
                assert!(std::fs::symlink_metadata(home.join(rel)).is_err(), "{rel}");
            }
        }
        assert!(home.join(".cache/tool").is_dir());
        let _ = std::fs::remove_dir_all(&d);
    }

    /// Red team 19: with the home at `/`, everything is "inside the home": nothing is made.
    #[test]
    fn nothing_is_made_when_the_home_is_the_root_directory() {
        let name = format!("nono-create-root-{}", std::process::id());
        let p = profile(vec![entry(&format!("~/{name}/x"), Create::Dir)]);
        let vars = Vars::for_home("/");
        let uid = crate::planted::user_id();
        for dry_run in [true, false] {
            let out = p.create_missing(&vars, uid, dry_run);
            let made = Path::new("/").join(&name).exists();
            let _ = std::fs::remove_dir_all(Path::new("/").join(&name));
            assert!(!made && out.created.is_empty(), "{out:?}");
            assert!(out.refused[0].reason.contains("root directory"), "{out:?}");
        }
    }

    /// Red team 19: a dry run goes through what exists like a run, so it does not promise
    /// what a run refuses (a symlink on the way); a file planted at the last moment (the
    /// name taken between the look and the `O_EXCL` open) is not said to be made.
    #[test]
    fn a_dry_run_refuses_what_a_run_refuses_and_a_planted_name_is_not_made() {
        let d = scratch("dry");
        let home = d.join("home");
        let vars = Vars::for_home(&home);
        let uid = crate::planted::user_id();
        std::fs::create_dir_all(d.join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(d.join("elsewhere"), home.join(".cache")).unwrap();
        let p = profile(vec![entry("~/.cache/tool/x", Create::Dir)]);
        let dry = p.create_missing(&vars, uid, true);
        assert!(dry.created.is_empty(), "{dry:?}");
        assert!(dry.refused[0].reason.contains("is a symlink"), "{dry:?}");
        assert!(
            dry.refused[0].layout,
            "a symlink on the way is the machine's layout"
        );
        // The name taken by a symlink once the look found it missing.
        std::fs::create_dir(home.join("t")).unwrap();
        std::os::unix::fs::symlink(d.join("elsewhere/lock"), home.join("t/lock")).unwrap();
        let e = make(&home.join("t/lock"), &home, uid, Create::File, false).unwrap_err();
        assert!(e.reason.contains("appeared meanwhile"), "{}", e.reason);
        assert!(!d.join("elsewhere/lock").exists());
        // A hard link to a file of the user's elsewhere is not one nono made.
        std::fs::write(d.join("elsewhere/data"), "").unwrap();
        std::fs::hard_link(d.join("elsewhere/data"), home.join("t/linked")).unwrap();
        let e = make(&home.join("t/linked"), &home, uid, Create::File, false).unwrap_err();
        assert!(e.reason.contains("appeared meanwhile"), "{}", e.reason);
        // Another nono's file of the user's: fine.
        std::fs::write(home.join("t/own"), "").unwrap();
        make(&home.join("t/own"), &home, uid, Create::File, false).unwrap();
        let _ = std::fs::remove_dir_all(&d);
    }
}

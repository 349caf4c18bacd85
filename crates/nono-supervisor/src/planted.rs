//! What an earlier sandboxed run may have left behind for the next one, checked before a run
//! trusts it: symlinks on the way to a grant (a `$TMPDIR` turned into a link to `/`, a
//! `~/proj/out` turned into a link outward), an unsafe `$TMPDIR`, and nono's own output files
//! (audit log, `learn`'s profile) inside a write grant. Nothing a sandboxed run can write is
//! trusted later: a link that lies where the run may write, or that someone other than the
//! user or root owns, is refused unless the user names it (`--allow-symlinked-grant LINK`).
//!
//! Pure decisions plus `lstat`/`readlink`; the CLI prints and refuses.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use nono_sandbox::{explain_canonical, AccessMode, CapabilitySet, Rule, Verdict};

/// The user nono runs as (the effective uid): the owner a trusted link or `$TMPDIR` may have
/// besides root.
#[must_use]
pub fn user_id() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// A grant path as it was asked for (expanded, before symlinks were resolved), with the
/// origin of the grant (`"--allow /p/out"`, `"profile default"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedGrant {
    /// The path as given (absolute, symlinks not resolved).
    pub path: PathBuf,
    /// Where the grant came from.
    pub origin: String,
}

/// One symlink on the way to a grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantLink {
    /// The grant path as asked for.
    pub grant: PathBuf,
    /// The grant's origin.
    pub origin: String,
    /// The link itself (its canonical parent joined with its name).
    pub link: PathBuf,
    /// What the link says (`readlink`).
    pub target: PathBuf,
    /// The link's owner.
    pub owner: u32,
    /// Why the link is not trusted, if it is not.
    pub untrusted: Option<Untrusted>,
}

/// Why a symlink on the way to a grant is not trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Untrusted {
    /// The link's directory is writable under this run's grants: a sandboxed run (this one's
    /// or an earlier one with the same grants) can have made it.
    InsideWriteGrant {
        /// The write grant's canonical path.
        grant: PathBuf,
        /// The write grant's origin.
        origin: String,
    },
    /// Owned by neither the user nor root.
    ForeignOwner {
        /// The owner.
        uid: u32,
    },
}

impl std::fmt::Display for Untrusted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Untrusted::InsideWriteGrant { grant, origin } => write!(
                f,
                "it lies inside the write grant {} ({origin}), so a sandboxed run can have planted it",
                crate::escape::path(grant)
            ),
            Untrusted::ForeignOwner { uid } => {
                write!(f, "it belongs to uid {uid}, neither you nor root")
            }
        }
    }
}

/// Every symlink met while resolving `path` (absolute), in order: a link's target is walked
/// too (a chain, or a link in the target's directories). Stops at the first missing
/// component. At most 40 links, as the kernel.
pub fn links_on(path: &Path) -> io::Result<Vec<(PathBuf, PathBuf, u32)>> {
    fn parts(p: &Path) -> VecDeque<OsString> {
        p.components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_os_string()),
                Component::ParentDir => Some(OsString::from("..")),
                _ => None,
            })
            .collect()
    }
    let mut out = Vec::new();
    let mut done = PathBuf::from("/");
    let mut rest = parts(path);
    while let Some(part) = rest.pop_front() {
        if part == ".." {
            done.pop();
            continue;
        }
        let candidate = done.join(&part);
        let meta = match std::fs::symlink_metadata(&candidate) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => break,
            Err(e) => return Err(e),
        };
        if !meta.file_type().is_symlink() {
            done = candidate;
            continue;
        }
        if out.len() == 40 {
            return Err(io::Error::from_raw_os_error(
                rustix::io::Errno::LOOP.raw_os_error(),
            ));
        }
        let target = std::fs::read_link(&candidate)?;
        if target.is_absolute() {
            done = PathBuf::from("/");
        }
        let mut next = parts(&target);
        next.extend(rest);
        rest = next;
        out.push((candidate, target, meta.uid()));
    }
    Ok(out)
}

/// The write grant of `caps` under which the sandbox may create or replace entries of `dir`
/// (canonical), if any.
#[must_use]
pub fn write_grant_over(caps: &CapabilitySet, dir: &Path) -> Option<(PathBuf, String)> {
    let e = explain_canonical(caps, dir, AccessMode::Write);
    match (e.verdict, e.rule) {
        (Verdict::Allowed | Verdict::Partial, Rule::Granted { grants }) => grants
            .into_iter()
            .find(|g| g.access.writes())
            .map(|g| (g.path, g.origin)),
        _ => None,
    }
}

/// The symlinks on the way to each requested grant, each judged: untrusted when its directory
/// lies inside a write grant of `caps` or when its owner is neither `uid` nor root.
pub fn grant_links(
    requested: &[RequestedGrant],
    caps: &CapabilitySet,
    uid: u32,
) -> io::Result<Vec<GrantLink>> {
    let mut out: Vec<GrantLink> = Vec::new();
    for r in requested {
        for (link, target, owner) in links_on(&r.path)? {
            let untrusted = if owner != uid && owner != 0 {
                Some(Untrusted::ForeignOwner { uid: owner })
            } else {
                link.parent()
                    .and_then(|dir| write_grant_over(caps, dir))
                    .map(|(grant, origin)| Untrusted::InsideWriteGrant { grant, origin })
            };
            out.push(GrantLink {
                grant: r.path.clone(),
                origin: r.origin.clone(),
                link,
                target,
                owner,
                untrusted,
            });
        }
    }
    Ok(out)
}

/// Why the directory `$TMPDIR` names must not be granted as it is, if it must not: it is a
/// symlink, not a directory, not owned by `uid`, or writable by group or others without the
/// sticky bit. `None` when it is fine or missing (a missing optional grant is skipped).
#[must_use]
pub fn tmpdir_problem(path: &Path, uid: u32) -> Option<String> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) => return Some(format!("it cannot be examined: {e}")),
    };
    let mode = meta.permissions().mode();
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(path).unwrap_or_default();
        Some(format!(
            "it is a symlink (to {}), which a sandboxed run may have planted",
            crate::escape::path(&target)
        ))
    } else if !meta.is_dir() {
        Some("it is not a directory".to_owned())
    } else if meta.uid() != uid {
        Some(format!(
            "it belongs to uid {}, not to you ({uid})",
            meta.uid()
        ))
    } else if mode & 0o022 != 0 && mode & 0o1000 == 0 {
        Some(format!(
            "it is writable by group or others (mode {:o}) without the sticky bit",
            mode & 0o7777
        ))
    } else {
        None
    }
}

/// A fresh private directory (mode 0700) under `base`, created with `mkdir` (which never
/// follows a symlink, so nothing planted can stand in for it).
pub fn fresh_private_dir(base: &Path, uid: u32) -> io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    for i in 0..64u32 {
        let name = format!(
            "nono-tmp-{uid}-{}-{:08x}",
            std::process::id(),
            seed.wrapping_add(i.wrapping_mul(0x9e37_79b9))
        );
        let dir = base.join(name);
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::from(io::ErrorKind::AlreadyExists))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("nono-planted-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::canonicalize(&d).unwrap()
    }

    #[test]
    fn links_on_follows_chains_and_links_in_targets() {
        let d = tmp("chain");
        std::fs::create_dir_all(d.join("real/sub")).unwrap();
        symlink(d.join("real"), d.join("a")).unwrap();
        symlink("a", d.join("b")).unwrap();
        let got = links_on(&d.join("b/sub")).unwrap();
        let names: Vec<_> = got.iter().map(|(l, t, _)| (l.clone(), t.clone())).collect();
        assert_eq!(
            names,
            [
                (d.join("b"), PathBuf::from("a")),
                (d.join("a"), d.join("real"))
            ]
        );
        assert!(links_on(&d.join("real/sub")).unwrap().is_empty());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_link_inside_a_write_grant_is_untrusted_and_one_outside_is_not() {
        let d = tmp("grant");
        std::fs::create_dir_all(d.join("proj")).unwrap();
        std::fs::create_dir_all(d.join("outside")).unwrap();
        symlink(d.join("outside"), d.join("proj/out")).unwrap();
        let req = [RequestedGrant {
            path: d.join("proj/out"),
            origin: "--allow".into(),
        }];
        let mut caps = CapabilitySet::new();
        caps.allow_dir(d.join("proj/out"), AccessMode::ReadWrite, "--allow")
            .unwrap();
        let links = grant_links(&req, &caps, 0).unwrap();
        assert_eq!(links.len(), 1);
        assert_eq!(links[0].untrusted, None);
        caps.allow_dir(d.join("proj"), AccessMode::ReadWrite, "--allow proj")
            .unwrap();
        let links = grant_links(&req, &caps, 0).unwrap();
        assert!(
            matches!(&links[0].untrusted, Some(Untrusted::InsideWriteGrant { grant, .. }) if *grant == d.join("proj")),
            "{links:?}"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn tmpdir_must_be_a_private_directory_of_the_user() {
        let d = tmp("tmpdir");
        let mine = d.join("mine");
        std::fs::create_dir(&mine).unwrap();
        std::fs::set_permissions(&mine, std::fs::Permissions::from_mode(0o700)).unwrap();
        let uid = std::fs::metadata(&mine).unwrap().uid();
        assert_eq!(tmpdir_problem(&mine, uid), None);
        assert_eq!(tmpdir_problem(&d.join("missing"), uid), None);
        assert!(tmpdir_problem(&mine, uid + 1).is_some());
        std::fs::set_permissions(&mine, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(tmpdir_problem(&mine, uid).is_some());
        std::fs::set_permissions(&mine, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert_eq!(tmpdir_problem(&mine, uid), None);
        symlink("/", d.join("link")).unwrap();
        assert!(tmpdir_problem(&d.join("link"), uid)
            .unwrap()
            .contains("symlink"));
        let fresh = fresh_private_dir(&d, uid).unwrap();
        assert_eq!(
            std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let _ = std::fs::remove_dir_all(&d);
    }
}

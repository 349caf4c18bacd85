//! Bypass planning: which deny-group carve-outs a `--bypass-protection PATH` lifts.
//!
//! A bypass lifts the carve-out that covers PATH (or lies beneath it), but only if an explicit
//! command-line grant is at or beneath PATH. A carve-out on an ancestor of PATH is narrowed,
//! not dropped: its other entries (on the way down to PATH) stay denied, and a never-created
//! guard name keeps each directory on the way a carve-out spine, so nothing new can appear
//! beside PATH either. The profile's own deny list and the groups that cannot be switched off
//! (`nono`) are never lifted. Every other setting of the capability set is kept as it is.

use std::path::{Path, PathBuf};

use nono_sandbox::{CapabilitySet, CapsError, DenyKind, Origin};

use crate::deny_groups;

/// A `--bypass-protection` that was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bypass {
    /// The path whose carve-out is lifted (canonical).
    pub path: PathBuf,
    /// The deny group whose carve-out it was.
    pub group: String,
}

/// Why a `--bypass-protection` was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BypassError {
    /// The path does not resolve.
    #[error(
        "--bypass-protection {}: {error} (it must name an existing path that you also grant explicitly)",
        crate::escape::path(raw)
    )]
    Resolve {
        /// As given.
        raw: PathBuf,
        /// Why it does not resolve.
        error: std::io::Error,
    },
    /// No command-line grant lies at or beneath the path.
    #[error(
        "--bypass-protection {}: needs an explicit grant on that path too, e.g. --read-file {} (or --read for a directory)",
        crate::escape::path(raw),
        crate::escape::shell_path(path)
    )]
    NoExplicitGrant {
        /// As given.
        raw: PathBuf,
        /// Canonical.
        path: PathBuf,
    },
    /// The path lies in a group that nothing lifts.
    #[error(
        "--bypass-protection {}: protected by deny group `{group}`, which nothing lifts: {description}",
        crate::escape::path(raw)
    )]
    Unliftable {
        /// As given.
        raw: PathBuf,
        /// The group.
        group: String,
        /// The group's description.
        description: &'static str,
    },
    /// No deny group protects the path.
    #[error(
        "--bypass-protection {}: no deny group protects this path, so there is nothing to bypass (drop the flag)",
        crate::escape::path(raw)
    )]
    NothingToBypass {
        /// As given.
        raw: PathBuf,
    },
    /// A narrowed carve-out's remaining entries could not be denied.
    #[error("narrowing carve-out {}", carve.display())]
    Narrow {
        /// The carve-out being narrowed.
        carve: PathBuf,
        /// Why.
        #[source]
        source: CapsError,
    },
}

/// Lift the carve-outs that each of `requested` (the `--bypass-protection` paths, as given)
/// names, from `caps`; see the module documentation. Returns the new set and the accepted
/// bypasses.
pub fn apply(
    caps: CapabilitySet,
    requested: &[PathBuf],
) -> Result<(CapabilitySet, Vec<Bypass>), BypassError> {
    if requested.is_empty() {
        return Ok((caps, Vec::new()));
    }
    let mut lifted: Vec<PathBuf> = Vec::new();
    // (carve-out, keep, origin, kind)
    let mut narrowed: Vec<(PathBuf, PathBuf, Origin, DenyKind)> = Vec::new();
    let mut bypassed = Vec::new();
    for raw in requested {
        let path = std::fs::canonicalize(raw).map_err(|error| BypassError::Resolve {
            raw: raw.clone(),
            error,
        })?;
        // A grant's origins are typed (`Origin::Flag`, one per flag that asked for the path),
        // never read back from text, so a directory whose name looks like a flag is just a
        // name; `--allow-cwd` grants whatever the working directory is and `--private-tmp` a
        // fresh directory under `$TMPDIR` (which may lie in the home), so neither counts: the
        // user named no path with them.
        let explicit = caps.grants().iter().any(|g| {
            g.path.starts_with(&path)
                && g.origin.iter().any(|o| {
                    o.is_flag()
                        && !matches!(
                            o,
                            Origin::Flag {
                                flag: "--allow-cwd" | "--private-tmp",
                                ..
                            }
                        )
                })
        });
        if !explicit {
            return Err(BypassError::NoExplicitGrant {
                raw: raw.clone(),
                path,
            });
        }
        let mut found = None;
        for d in caps.denies() {
            // Deny groups only: the profile's own deny list (`Origin::ProfileDeny`) is not
            // bypassable from the command line.
            let Origin::Group(group) = &d.origin else {
                continue;
            };
            let group = group.as_str();
            // A group that cannot be switched off (`nono`) cannot be bypassed either: a
            // bypass of a directory above it leaves it in place, one at or inside it fails.
            if deny_groups::group(group).is_some_and(|g| !g.optional) {
                if !path.starts_with(&d.path) {
                    continue;
                }
                return Err(BypassError::Unliftable {
                    raw: raw.clone(),
                    group: group.to_owned(),
                    description: deny_groups::group(group).map_or("", |g| g.description),
                });
            }
            if d.path.starts_with(&path) {
                lifted.push(d.path.clone());
                found.get_or_insert_with(|| group.to_owned());
            } else if path.starts_with(&d.path) {
                narrowed.push((d.path.clone(), path.clone(), d.origin.clone(), d.kind));
                found.get_or_insert_with(|| group.to_owned());
            }
        }
        let Some(group) = found else {
            return Err(BypassError::NothingToBypass { raw: raw.clone() });
        };
        bypassed.push(Bypass { path, group });
    }
    // The same set without the lifted carve-outs (every other setting kept as it is), and
    // the narrowed ones replaced by their siblings along the way to the bypassed path.
    let narrowed_paths: Vec<&PathBuf> = narrowed.iter().map(|(d, _, _, _)| d).collect();
    let mut out = caps;
    out.retain_denies(|d| !lifted.contains(&d.path) && !narrowed_paths.contains(&&d.path));
    for (carve, keep, origin, kind) in &narrowed {
        for sibling in siblings_along(carve, keep) {
            if !bypassed.iter().any(|b| sibling.starts_with(&b.path)) {
                out.deny_kind(&sibling, origin.clone(), *kind)
                    .map_err(|source| BypassError::Narrow {
                        carve: carve.clone(),
                        source,
                    })?;
            }
        }
    }
    Ok((out, bypassed))
}

/// A name that is never created: denying it inside a directory makes that directory a
/// carve-out spine (see `nono_sandbox::explain`), so nothing new can be created in it even
/// when it has no other entry to deny.
pub const SPINE_GUARD: &str = ".nono-bypass-guard";

/// Every existing entry of every directory from `top` down to `keep`'s parent, except the
/// ones on the way to `keep`, plus a never-existing guard name in each of those directories:
/// denying all of them keeps everything the carve-out at `top` protected except `keep`,
/// including names created later.
fn siblings_along(top: &Path, keep: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rest) = keep.strip_prefix(top) else {
        return out;
    };
    let mut dir = top.to_path_buf();
    for comp in rest.components() {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                if e.file_name() != comp.as_os_str() {
                    out.push(e.path());
                }
            }
        }
        let guard = dir.join(SPINE_GUARD);
        if !out.contains(&guard) {
            out.push(guard);
        }
        dir.push(comp);
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;
    use nono_sandbox::AccessMode;

    /// Red team 12: the refusals echoed the path as given and suggested `--read-file PATH`
    /// unquoted: a name with ESC reached the terminal as a control sequence, and one with
    /// `$(...)` or a space was no longer one word when the suggestion was pasted.
    #[test]
    fn a_refusal_escapes_the_path_and_suggests_one_shell_word() {
        let odd = PathBuf::from("/srv/a $(id)\x1b[2K");
        let e = BypassError::NoExplicitGrant {
            raw: odd.clone(),
            path: odd.clone(),
        };
        assert_eq!(
            e.to_string(),
            "--bypass-protection /srv/a $(id)\\u{1b}[2K: needs an explicit grant on that path too, e.g. --read-file $'/srv/a $(id)\\x1b[2K' (or --read for a directory)"
        );
        let e = BypassError::NothingToBypass { raw: odd };
        assert!(!e.to_string().contains('\x1b'), "{e}");
    }

    #[test]
    fn siblings_along_keeps_only_the_way_down() {
        let base = Scratch::new(&format!("nono-bypass-plan-{}", std::process::id()));
        std::fs::create_dir_all(base.join("a/b")).unwrap();
        std::fs::write(base.join("a/x"), "").unwrap();
        std::fs::write(base.join("a/b/key"), "").unwrap();
        std::fs::write(base.join("a/b/other"), "").unwrap();
        std::fs::write(base.join("y"), "").unwrap();
        let got = siblings_along(&base, &base.join("a/b/key"));
        assert_eq!(
            got,
            [
                base.join(SPINE_GUARD),
                base.join("a").join(SPINE_GUARD),
                base.join("a/b").join(SPINE_GUARD),
                base.join("a/b/other"),
                base.join("a/x"),
                base.join("y"),
            ]
        );
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn allow_cwd_is_not_an_explicit_grant_for_a_bypass() {
        let base = Scratch::new(&format!("nono-bypass-cwd-{}", std::process::id()));
        std::fs::write(base.join("key"), "").unwrap();
        let requested = vec![base.clone()];
        let caps_with = |flag: &'static str| {
            let mut caps = CapabilitySet::new();
            caps.allow_dir(&base, AccessMode::ReadWrite, Origin::flag(flag, &base))
                .unwrap();
            caps.deny(base.join("key"), Origin::Group("credentials".into()))
                .unwrap();
            caps
        };
        assert!(apply(caps_with("--allow-cwd"), &requested).is_err());
        assert!(apply(caps_with("--private-tmp"), &requested).is_err());
        let mut caps = caps_with("--allow");
        caps.deny(base.join("other"), Origin::ProfileDeny("p".into()))
            .unwrap();
        caps.set_keep_capabilities(true)
            .set_sysv_ipc(nono_sandbox::SysvIpc::Host)
            .allow_unix_datagram(true)
            .block_network();
        let mut want = caps.clone();
        let (got, bypassed) = apply(caps, &requested).unwrap();
        assert_eq!(bypassed[0].group, "credentials");
        // Only the lifted carve-out is gone: every other rule and setting is kept.
        want.retain_denies(|d| d.path != base.join("key"));
        assert_eq!(got, want);
        let _ = std::fs::remove_dir_all(&base);
    }

    /// Issue 15: a working directory whose name reads like a flag (`x, --allow /y`) is a
    /// name inside an `--allow-cwd` origin, not a second, explicit origin: the bypass is
    /// still refused, and the profile's own deny list is never taken for a group.
    #[test]
    fn a_working_directory_named_like_a_flag_is_not_an_explicit_grant() {
        let root = Scratch::new(&format!("nono-bypass-flagname-{}", std::process::id()));
        for name in [
            "x, --allow ",
            "x, --read /tmp",
            "x, group credentials",
            "--allow",
        ] {
            let base = root.join(name);
            std::fs::create_dir_all(&base).unwrap();
            let base = std::fs::canonicalize(&base).unwrap();
            std::fs::write(base.join("key"), "").unwrap();
            let requested = vec![base.clone()];
            let mut caps = CapabilitySet::new();
            caps.allow_dir(
                &base,
                AccessMode::ReadWrite,
                Origin::flag("--allow-cwd", &base),
            )
            .unwrap();
            caps.deny(base.join("key"), Origin::Group("credentials".into()))
                .unwrap();
            // The text still shows the name as it is.
            assert_eq!(
                caps.grants()[0].origin.to_string(),
                format!("--allow-cwd {}", base.display())
            );
            assert!(!caps.grants()[0].origin.iter().any(|o| matches!(
                o,
                Origin::Flag { flag, .. } if *flag != "--allow-cwd"
            )));
            let err = apply(caps, &requested).unwrap_err().to_string();
            assert!(err.contains("needs an explicit grant"), "{name:?}: {err}");
        }
        // A profile deny entry is not bypassable, whatever its label reads like.
        let base = std::fs::canonicalize(root.join("--allow")).unwrap();
        let mut caps = CapabilitySet::new();
        caps.allow_dir(&base, AccessMode::ReadWrite, Origin::flag("--allow", &base))
            .unwrap();
        caps.deny(base.join("key"), Origin::ProfileDeny("credentials".into()))
            .unwrap();
        let requested = vec![base.clone()];
        let err = apply(caps, &requested).unwrap_err().to_string();
        assert!(err.contains("no deny group protects"), "{err}");
        let _ = std::fs::remove_dir_all(&root);
    }
}

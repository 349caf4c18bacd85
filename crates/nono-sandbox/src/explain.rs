//! `explain()`: the capability model's verdict on one path or network operation, with the rule that decided it.
//!
//! This is the one model of what a [`CapabilitySet`] allows. `nono why` prints it, the
//! supervisor's fast path consults it, and the Landlock backend builds its rules from the same
//! helpers (`carve_spine`), so the two cannot drift apart silently; a differential test
//! (`tests/sandbox/differential.rs`) checks the model against the real kernel.
//!
//! # The model
//! For a path `P` (canonicalised; symlinks resolved, a missing tail kept lexically) and a
//! requested [`AccessMode`]:
//! 1. If `P` is a deny carve-out or lies beneath one, it is denied, whatever the grants say.
//! 2. Otherwise every grant contributes its access if it covers `P`: a file grant covers exactly
//!    its path, a directory grant covers itself and everything beneath it — except where the
//!    grant has a carve-out beneath it (see below).
//! 3. The union of the contributions is what `P` allows. The verdict is `allowed` if it
//!    contains the request, `partial` if it contains part of it (read granted, read-write
//!    asked), `denied` otherwise.
//!
//! # Carve-outs inside a granted directory
//! Landlock can only add access, never subtract it, so a deny beneath a granted directory `G`
//! is enforced by *expanding* the grant: `G` itself gets no rule; instead every existing entry
//! of every directory on the way from `G` down to the carve-out (the **spine**) gets the
//! grant, except the next spine directory and the carve-out itself. Consequences, all
//! reflected by this model:
//! - a spine directory (including `G`) cannot be listed, and nothing can be created in it,
//!   removed from it or renamed in or out of it;
//! - an entry that did not exist when the sandbox was built, directly inside a spine
//!   directory, is not covered (the model checks the disk when asked, the kernel rules were
//!   made from the disk at prepare time);
//! - symlinks directly inside a spine directory get no rule (a rule would follow the link and
//!   grant its target); reaching their target is decided by the target's own grants;
//! - a deny that does not exist on disk is carved at its deepest existing ancestor: that
//!   directory becomes a spine directory, so the denied name cannot be created there — nor
//!   can any other new entry (a deny of a missing `~/.ssh` under a granted home directory
//!   means nothing new can be created directly in the home directory; subdirectories that
//!   exist keep the grant). That is the price of never letting the denied path appear.
//!
//! # Read-only carve-outs
//! A [`DenyKind::Write`] carve-out takes away writing only. It matters to grants that write:
//! such a grant is expanded around it exactly like around a full carve-out, and the carve-out
//! itself then gets what remains of the grant (read) as a grant of its own — which is
//! expanded in turn around any full carve-out beneath it (`~/.config/git` read-only,
//! `~/.config/git/credentials` denied). A grant that only reads passes through a read-only
//! carve-out untouched, and a grant at or beneath one keeps only its reading.
//! `effective_grants` is that list; the model and the Landlock rules are both built from it.
//!
//! What the carve-out cannot cover: a hard link to the denied file from elsewhere in the grant
//! (Landlock checks the path used, not the inode), a bind mount of it, and a file descriptor
//! to it opened before the sandbox was applied.

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::caps::{
    AccessMode, CapabilitySet, CapsError, DenyKind, DenyRule, FsGrant, FsKind, Origin, Origins,
};
use crate::paths::{canonicalize_for_grant, clean_bases, clean_within};

/// How much of the requested access the model allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Everything requested is allowed.
    Allowed,
    /// Some of the request is allowed (e.g. read granted, read-write asked).
    Partial,
    /// None of the request is allowed.
    Denied,
}

/// A grant that contributed to the verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GrantRef {
    /// The grant's canonical path.
    pub path: PathBuf,
    /// Directory tree or single file.
    pub kind: FsKind,
    /// The access this grant gives.
    pub access: AccessMode,
    /// Where the grant came from (`"--allow /src"`, `"profile default"`).
    pub origin: Origins,
}

impl From<&FsGrant> for GrantRef {
    fn from(g: &FsGrant) -> Self {
        GrantRef {
            path: g.path.clone(),
            kind: g.kind,
            access: g.access,
            origin: g.origin.clone(),
        }
    }
}

/// The rule that decided the verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Rule {
    /// Access comes from these grants (most specific first). With a `partial` or `denied`
    /// verdict the rest of the request is simply not granted.
    Granted {
        /// Every grant covering the path.
        grants: Vec<GrantRef>,
    },
    /// The path is a deny carve-out or lies beneath one.
    DeniedBy {
        /// The carve-out's canonical path.
        deny: PathBuf,
        /// Its origin: a deny group (`"group credentials"`) or a flag.
        origin: Origin,
    },
    /// The path lies beneath a read-only carve-out and the request writes: writing is
    /// denied whatever the grants say; reading stays as they allow.
    ReadOnlyBy {
        /// The carve-out's canonical path.
        deny: PathBuf,
        /// Its origin: a deny group (`"group tools"`) or a flag.
        origin: Origin,
    },
    /// The path is a directory on the way from a grant down to a carve-out: its entries keep
    /// the grant but the directory itself cannot be listed or changed.
    CarveOutSpine {
        /// The grant that was expanded.
        grant: GrantRef,
        /// The carve-out that caused the expansion.
        deny: PathBuf,
        /// The carve-out's origin.
        origin: Origin,
    },
    /// The path is a new entry (it does not exist) directly inside a spine directory: such
    /// entries are not covered by the expanded grant.
    NewEntryInSpine {
        /// The grant that was expanded.
        grant: GrantRef,
        /// The spine directory the entry would be created in.
        dir: PathBuf,
        /// The carve-out that caused the expansion.
        deny: PathBuf,
    },
    /// No grant covers the path.
    NotGranted,
}

/// The model's answer for one path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// The path as evaluated (canonical).
    pub path: PathBuf,
    /// What was asked.
    pub requested: AccessMode,
    /// What the model allows on this path (`None`: nothing).
    pub allowed: Option<AccessMode>,
    /// Allowed, partial or denied.
    pub verdict: Verdict,
    /// Why.
    pub rule: Rule,
}

impl Explanation {
    /// Whether the whole request is allowed.
    #[must_use]
    pub fn is_allowed(&self) -> bool {
        self.verdict == Verdict::Allowed
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = match self.verdict {
            Verdict::Allowed => "allowed",
            Verdict::Partial => "partially allowed",
            Verdict::Denied => "denied",
        };
        write!(
            f,
            "{} {}: {verdict}",
            self.requested.as_str(),
            self.path.display()
        )?;
        if let (Verdict::Partial, Some(a)) = (self.verdict, self.allowed) {
            write!(f, " (only {a})")?;
        }
        match &self.rule {
            Rule::Granted { grants } => {
                let mut first = true;
                for g in grants {
                    let sep = if first { " — granted by " } else { "; " };
                    first = false;
                    write!(
                        f,
                        "{sep}{} ({} {} {})",
                        g.origin,
                        g.access.as_str(),
                        match g.kind {
                            FsKind::Dir => "dir",
                            FsKind::File => "file",
                        },
                        g.path.display()
                    )?;
                }
                if self.verdict != Verdict::Allowed {
                    f.write_str("; the rest is not granted")?;
                }
                Ok(())
            }
            Rule::DeniedBy { deny, origin } => {
                write!(f, " — denied by carve-out {} ({origin})", deny.display())
            }
            Rule::ReadOnlyBy { deny, origin } => write!(
                f,
                " — read-only carve-out {} ({origin}): writing is denied whatever the grants say",
                deny.display()
            ),
            Rule::CarveOutSpine {
                grant,
                deny,
                origin,
            } => write!(
                f,
                " — on the path to carve-out {} ({origin}): grant {} ({}) was expanded around it, \
                 so this directory itself cannot be listed or changed; its entries keep the grant",
                deny.display(),
                grant.path.display(),
                grant.origin
            ),
            Rule::NewEntryInSpine { grant, dir, deny } => write!(
                f,
                " — new entry in {}, which grant {} ({}) was expanded around for carve-out {}; \
                 new entries there are not covered",
                dir.display(),
                grant.path.display(),
                grant.origin,
                deny.display()
            ),
            Rule::NotGranted => f.write_str(" — no grant covers this path"),
        }
    }
}

/// The model's verdict on `op` at `path`. `path` must be absolute; it is canonicalised like a
/// deny path (symlinks resolved, a missing tail kept lexically). See the module docs.
pub fn explain(
    caps: &CapabilitySet,
    path: impl AsRef<Path>,
    op: AccessMode,
) -> Result<Explanation, CapsError> {
    let path = canonicalize_for_grant(path.as_ref())?;
    Ok(explain_canonical(caps, &path, op))
}

/// [`explain`] for a path that is already canonical (no symlinks, absolute).
#[must_use]
pub fn explain_canonical(caps: &CapabilitySet, path: &Path, op: AccessMode) -> Explanation {
    // Every effective grant lies at or beneath a grant of `caps` (a grant with its access
    // reduced, or the read grant of a read-only carve-out inside it), so one covers `path`
    // only if a grant of `caps` reaches it: else the grants need not be worked out (the
    // planted-link check asks about `/`, which nothing grants, for every link on the way).
    if reaches(caps, path) {
        Model::new(caps).explain_canonical(caps, path, op)
    } else {
        explain_canonical_with(caps, path, op, &[], &DenyIndex::default())
    }
}

/// Whether a grant of `caps` reaches `path` (see [`explain_canonical`]).
fn reaches(caps: &CapabilitySet, path: &Path) -> bool {
    caps.grants().iter().any(|g| reaches_one(g, path))
}

/// Whether the grant `g` reaches `path`: it, or a grant derived from it, may cover `path`.
fn reaches_one(g: &FsGrant, path: &Path) -> bool {
    match g.kind {
        FsKind::File => g.path == path,
        FsKind::Dir => path.starts_with(&g.path),
    }
}

/// [`explain_canonical`] with the effective grants `grants` of `caps` (those that may cover
/// `path`, or none when none does: only when that is so, see there) and its denies indexed
/// (or [`DenyIndex::default`] with no grants).
fn explain_canonical_with(
    caps: &CapabilitySet,
    path: &Path,
    op: AccessMode,
    grants: &[EffectiveGrant],
    index: &DenyIndex,
) -> Explanation {
    let verdict_of = |allowed: Option<AccessMode>| match allowed {
        Some(a) if a.contains(op) => Verdict::Allowed,
        Some(a) if (a.reads() && op.reads()) || (a.writes() && op.writes()) => Verdict::Partial,
        _ => Verdict::Denied,
    };

    // The carve-outs containing `path`, in the set's order: looked up by its ancestors, or
    // for a path or deny that is not clean, scanned as `Path::starts_with` reads them.
    let around: Vec<&DenyRule> =
        if index.all_clean && crate::paths::is_clean(path.as_os_str().as_encoded_bytes()) {
            index
                .around(path)
                .into_iter()
                .map(|i| &caps.denies()[i])
                .collect()
        } else {
            caps.denies()
                .iter()
                .filter(|d| {
                    looked_at(1);
                    path.starts_with(&d.path)
                })
                .collect()
        };
    if let Some(d) = around.iter().find(|d| d.kind == DenyKind::All) {
        return Explanation {
            path: path.to_path_buf(),
            requested: op,
            allowed: None,
            verdict: Verdict::Denied,
            rule: Rule::DeniedBy {
                deny: d.path.clone(),
                origin: d.origin.clone(),
            },
        };
    }

    let mut allowed: Option<AccessMode> = None;
    let mut contributing: Vec<&FsGrant> = Vec::new();
    let mut blocked: Option<Rule> = None;
    for grant in grants.iter().map(|e| &e.grant) {
        looked_at(1);
        match coverage(caps, index, grant, path) {
            Coverage::Covers => {
                allowed = Some(allowed.map_or(grant.access, |a| a.union(grant.access)));
                contributing.push(grant);
            }
            Coverage::No => {}
            Coverage::Blocked(rule) => {
                blocked.get_or_insert(rule);
            }
        }
    }
    // Most specific (longest path) first.
    contributing.sort_by_key(|g| std::cmp::Reverse(g.path.components().count()));
    let read_only = around.iter().find(|d| d.kind == DenyKind::Write);
    let rule = if let (Some(d), true) = (read_only, op.writes()) {
        Rule::ReadOnlyBy {
            deny: d.path.clone(),
            origin: d.origin.clone(),
        }
    } else if contributing.is_empty() {
        blocked.unwrap_or(Rule::NotGranted)
    } else {
        Rule::Granted {
            grants: contributing.into_iter().map(GrantRef::from).collect(),
        }
    };
    Explanation {
        path: path.to_path_buf(),
        requested: op,
        allowed,
        verdict: verdict_of(allowed),
        rule,
    }
}

#[derive(Debug, PartialEq)]
enum Coverage {
    Covers,
    No,
    /// The grant would cover the path but for a carve-out expansion.
    Blocked(Rule),
}

fn coverage(caps: &CapabilitySet, index: &DenyIndex, grant: &FsGrant, path: &Path) -> Coverage {
    match grant.kind {
        FsKind::File => {
            if grant.path == path {
                Coverage::Covers
            } else {
                Coverage::No
            }
        }
        FsKind::Dir => {
            if !path.starts_with(&grant.path) {
                return Coverage::No;
            }
            if let Some(answer) = coverage_by_lookup(caps, index, grant, path) {
                return answer;
            }
            let carve = carve_spine_in(caps, index, &grant.path, grant.access);
            if carve.spine.is_empty() {
                return Coverage::Covers;
            }
            if carve.spine.contains(path) {
                let (deny, origin) = carve.deny_for(caps, path);
                return Coverage::Blocked(Rule::CarveOutSpine {
                    grant: grant.into(),
                    deny,
                    origin,
                });
            }
            // Walk down from the grant along `path` while on the spine; the first entry off
            // the spine is the one that received the expanded rule.
            let mut cur = grant.path.clone();
            for comp in path
                .strip_prefix(&grant.path)
                .unwrap_or(Path::new(""))
                .components()
            {
                let next = cur.join(comp);
                if carve.spine.contains(&next) {
                    cur = next;
                    continue;
                }
                // The carve-out itself gets no rule from this grant (a read-only one gets a
                // grant of its own, see `effective_grants`).
                if carve.denies.contains(&next) {
                    return Coverage::No;
                }
                return match std::fs::symlink_metadata(&next) {
                    Ok(m) if !m.file_type().is_symlink() => Coverage::Covers,
                    _ => {
                        let (deny, _) = carve.deny_for(caps, &cur);
                        Coverage::Blocked(Rule::NewEntryInSpine {
                            grant: grant.into(),
                            dir: cur,
                            deny,
                        })
                    }
                };
            }
            // `path` is on the spine (handled above) or equal to the grant (which is on it).
            Coverage::No
        }
    }
}

/// [`coverage`] of `path` by the directory grant `grant` (which reaches it), without working
/// out the grant's whole spine: O(depth × log denies) instead of O(denies beneath the grant),
/// for the broker asks at every refused open and a grant can hold thousands of carve-outs.
/// By the spine's definition (see [`CarveSpine`] and [`carve_spine_in`]), once no relevant
/// deny (one that removes some of the grant's access) lies at or around the grant, a
/// directory `x` from the grant down is on the spine exactly when every path from the grant
/// to `x` is a directory (`lstat`), no relevant deny lies on any of them below the grant, and
/// one lies strictly beneath `x` (the outermost of those is a deny the spine is built for);
/// and a path below the grant is one of the spine's denies exactly when a relevant deny is on
/// it and none on the way. The deny a blocked path's rule names is looked up too
/// ([`spine_deny_for`]), so a refusal inside a spine of thousands of carve-outs costs what
/// an answer outside it does. `None` (work the spine out) for paths that are not clean, and
/// for a blocked path when a deny's path is not clean.
fn coverage_by_lookup(
    caps: &CapabilitySet,
    index: &DenyIndex,
    grant: &FsGrant,
    path: &Path,
) -> Option<Coverage> {
    let (g, p) = (
        grant.path.as_os_str().as_encoded_bytes(),
        path.as_os_str().as_encoded_bytes(),
    );
    if !crate::paths::is_clean(g) || !crate::paths::is_clean(p) || !clean_within(path, &grant.path)
    {
        return None;
    }
    let (denies, access) = (caps.denies(), grant.access);
    let removing_at = |b: &[u8]| index.at(denies, b).any(|d| d.kind.removes(access));
    // No spine at all (`carve_spine`'s first check), or none because the grant is not a
    // directory or holds no relevant deny.
    let is_dir = |x: &Path| std::fs::symlink_metadata(x).is_ok_and(|m| m.is_dir());
    if clean_bases(&grant.path).any(removing_at)
        || !is_dir(&grant.path)
        || !index.removing_beneath(denies, &grant.path, access)
    {
        return Some(Coverage::Covers);
    }
    // The paths from just below the grant down to `path`.
    let below: Vec<&Path> = clean_bases(path)
        .filter(|b| b.len() > g.len() && !b.ends_with(b"/"))
        .map(|b| Path::new(OsStr::from_bytes(b)))
        .collect();
    // `path` on the spine (the grant itself is: it has a relevant deny beneath): blocked.
    let mut looked: Vec<Option<bool>> = vec![None; below.len()];
    let mut on_the_way = |i: usize| {
        *looked[i].get_or_insert_with(|| {
            is_dir(below[i]) && !removing_at(below[i].as_os_str().as_encoded_bytes())
        })
    };
    if (0..below.len()).all(&mut on_the_way)
        && index.removing_beneath(denies, below.last().copied().unwrap_or(path), access)
    {
        if !index.all_clean {
            return None;
        }
        let (deny, origin) = spine_deny_for(caps, index, grant, path);
        return Some(Coverage::Blocked(Rule::CarveOutSpine {
            grant: grant.into(),
            deny,
            origin,
        }));
    }
    // Down from the grant along `path` while on the spine (`coverage`'s walk).
    for (i, next) in below.iter().enumerate() {
        let on_spine = on_the_way(i) && index.removing_beneath(denies, next, access);
        if on_spine {
            continue;
        }
        // Reached only through spine directories, so no relevant deny lies on the way.
        if removing_at(next.as_os_str().as_encoded_bytes()) {
            return Some(Coverage::No);
        }
        return match std::fs::symlink_metadata(next) {
            Ok(m) if !m.file_type().is_symlink() => Some(Coverage::Covers),
            _ if !index.all_clean => None,
            _ => {
                // The spine directory `next` would be created in (or linked from).
                let dir = if i == 0 {
                    grant.path.as_path()
                } else {
                    below[i - 1]
                };
                let (deny, _) = spine_deny_for(caps, index, grant, dir);
                Some(Coverage::Blocked(Rule::NewEntryInSpine {
                    grant: grant.into(),
                    dir: dir.to_path_buf(),
                    deny,
                }))
            }
        };
    }
    Some(Coverage::No)
}

/// [`CarveSpine::deny_for`] of the spine of the directory grant `grant` for `dir`, one of its
/// spine directories, by lookups instead of over the spine's denies (see
/// [`DenyIndex::first_spine_deny`]; every deny path clean): the first deny in the set's
/// order the spine is built for at or beneath `dir` (else the first of them all), with the
/// origin of the set's first deny at that path.
fn spine_deny_for(
    caps: &CapabilitySet,
    index: &DenyIndex,
    grant: &FsGrant,
    dir: &Path,
) -> (PathBuf, Origin) {
    let denies = caps.denies();
    let (g, d) = (
        grant.path.as_os_str().as_encoded_bytes(),
        dir.as_os_str().as_encoded_bytes(),
    );
    // The spine's denies lie strictly beneath the grant.
    let deny = index
        .first_spine_deny(denies, d, d == g, grant.access)
        .or_else(|| index.first_spine_deny(denies, g, true, grant.access))
        .map(|i| denies[i].path.clone())
        .unwrap_or_default();
    let origin = first_deny_at(caps, index, &deny)
        .map_or_else(|| Origin::Label(String::new()), |d| d.origin.clone());
    (deny, origin)
}

/// The first deny of `caps` (in its order) whose path is `path`: looked up when it and every
/// deny path are clean (then bytes compare as `Path`s do), else scanned.
fn first_deny_at<'c>(
    caps: &'c CapabilitySet,
    index: &DenyIndex,
    path: &Path,
) -> Option<&'c DenyRule> {
    let bytes = path.as_os_str().as_encoded_bytes();
    if index.all_clean && crate::paths::is_clean(bytes) {
        index.at_indices(bytes).next().map(|i| &caps.denies()[i])
    } else {
        caps.denies().iter().find(|d| {
            looked_at(1);
            d.path == path
        })
    }
}

/// The directories a directory grant is expanded around: for each deny strictly beneath
/// `grant` that takes away part of the grant's access (a read-only carve-out does nothing
/// to a grant that only reads), every existing directory from `grant` down to the deny's
/// parent (or, for a deny that does not exist, down to its deepest existing ancestor). Empty
/// when no such deny lies beneath the grant. Grants at or beneath one are not expanded (the
/// deny covers them: see [`effective_grants_with_dropped`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CarveSpine {
    /// Spine directories (canonical).
    pub spine: BTreeSet<PathBuf>,
    /// The denies strictly beneath the grant.
    pub denies: Vec<PathBuf>,
}

impl CarveSpine {
    /// The first deny whose spine contains `dir`, with its origin.
    fn deny_for(&self, caps: &CapabilitySet, dir: &Path) -> (PathBuf, Origin) {
        let deny = self
            .denies
            .iter()
            .find(|d| d.starts_with(dir))
            .or(self.denies.first())
            .cloned()
            .unwrap_or_default();
        let origin = caps
            .denies()
            .iter()
            .find(|d| d.path == deny)
            .map_or_else(|| Origin::Label(String::new()), |d| d.origin.clone());
        (deny, origin)
    }
}

/// A grant as the rules see it: its access reduced by the read-only carve-outs it lies in,
/// or a grant of its own for a read-only carve-out inside a writing grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EffectiveGrant {
    /// The grant (origin: the grant it comes from).
    pub grant: FsGrant,
    /// `Some(carve-out)` for the read grant of a read-only carve-out: its path may have
    /// vanished or become a symlink by the time the rules are built (then it is skipped).
    pub read_only_of: Option<PathBuf>,
}

/// `effective_grants_with_dropped` without the grants dropped (tests).
#[cfg(test)]
pub(crate) fn effective_grants(caps: &CapabilitySet) -> Vec<EffectiveGrant> {
    effective_grants_with_dropped(caps).0
}

/// What the grants of `caps` amount to once carve-outs are taken into account (see the
/// module docs): grants inside a full carve-out are dropped, grants inside a read-only one
/// keep only reading, and each read-only carve-out strictly inside a directory grant that
/// reads and writes gets a read grant of its own (a directory grant, which covers a file
/// exactly too; it may name nothing on disk). With the grants dropped because a carve-out
/// takes all their access. Each grant's share is [`effective_of`].
pub(crate) fn effective_grants_with_dropped(
    caps: &CapabilitySet,
) -> (Vec<EffectiveGrant>, Vec<&FsGrant>) {
    let mut out = Vec::with_capacity(caps.grants().len());
    let mut dropped = Vec::new();
    // The denies around a grant or a carve-out are found by its ancestors, not by a scan
    // over every deny per grant or carve-out (quadratic: seconds for the thousands of link
    // targets the `autorun` group can deny inside one grant).
    let index = DenyIndex::new(caps);
    for g in caps.grants() {
        if !effective_of(caps, &index, g, None, &mut out) {
            dropped.push(g);
        }
    }
    (out, dropped)
}

/// What the grant `g` (of `caps`, or one asked about with its denies: see
/// [`Model::explain_canonical_granted`]) amounts to, appended to `out` (see
/// [`effective_grants_with_dropped`]): nothing when a carve-out takes all its access
/// (`false`); else `g` with its access reduced, then the read grants of the read-only
/// carve-outs strictly inside it — of all of them, or with `at` only of those at `at` or
/// around it, the only ones that can cover `at` (which must be clean, as every deny path: see
/// [`DenyIndex::around`]).
fn effective_of(
    caps: &CapabilitySet,
    index: &DenyIndex,
    g: &FsGrant,
    at: Option<&Path>,
    out: &mut Vec<EffectiveGrant>,
) -> bool {
    let denies = caps.denies();
    // The carve-outs at or around the grant (`clean_within(g, d)`); what they leave does not
    // depend on their order.
    let mut access = Some(g.access);
    for b in clean_bases(&g.path) {
        for d in index.at(denies, b) {
            access = access.and_then(|a| d.kind.remaining(a));
        }
    }
    let Some(access) = access else {
        return false;
    };
    let derives = index.has_read_only() && g.kind == FsKind::Dir && access == AccessMode::ReadWrite;
    out.push(EffectiveGrant {
        grant: FsGrant {
            access,
            ..g.clone()
        },
        read_only_of: None,
    });
    if !derives {
        return true;
    }
    let candidates: Vec<&DenyRule> = match at {
        Some(at) => index.around(at).into_iter().map(|i| &denies[i]).collect(),
        None => index.strictly_within(denies, &g.path).collect(),
    };
    for d in candidates {
        if d.kind != DenyKind::Write
            || d.path.as_os_str() == g.path.as_os_str()
            || !clean_within(&d.path, &g.path)
        {
            continue;
        }
        // Inside another carve-out beneath the grant: that one decides.
        let own = d.path.as_os_str().as_encoded_bytes();
        if clean_bases(&d.path).any(|o| {
            o != own
                && clean_within(Path::new(OsStr::from_bytes(o)), &g.path)
                && index.at(denies, o).next().is_some()
        }) {
            continue;
        }
        // A directory grant also covers exactly a file; the carve-out need not exist
        // (the Landlock plan skips it then), so nothing here touches the disk.
        out.push(EffectiveGrant {
            grant: FsGrant {
                path: d.path.clone(),
                kind: FsKind::Dir,
                access: AccessMode::Read,
                origin: g.origin.clone(),
            },
            read_only_of: Some(d.path.clone()),
        });
    }
    true
}

/// The denies of a [`CapabilitySet`] indexed by path, for the questions asked once per grant
/// or per deny: which denies have a given path (a path's [`clean_bases`] looked up: which lie
/// around it) and which lie beneath a path (a range of the sorted paths). A scan over every
/// deny for each of thousands of grants or denies (the read grants of the link targets the
/// `autorun` group denies inside one grant) is quadratic: seconds of start-up and of every
/// refusal. Queries take the set's denies, the ones it was made from.
#[derive(Debug, Clone, Default)]
pub(crate) struct DenyIndex {
    /// `(path, index in the denies)`, sorted by path bytes (then index).
    sorted: Vec<(Vec<u8>, usize)>,
    /// The same for the full denies alone (the only ones that take from a grant that only
    /// reads).
    full: Vec<(Vec<u8>, usize)>,
    /// Every deny path is clean ([`is_clean`](crate::paths::is_clean)): then a deny contains a
    /// clean path exactly when its path is one of the path's [`clean_bases`], and the
    /// questions about one path are lookups (else they are scans, as `Path::starts_with`
    /// reads an unclean path by its components).
    all_clean: bool,
    /// The denies a spine is built for, found by range ([`SpineDenies`]): worked out at the
    /// first question that needs them (a refusal inside a spine), not for every `explain`.
    spine_denies: SpineDenies,
}

impl DenyIndex {
    pub(crate) fn new(caps: &CapabilitySet) -> DenyIndex {
        let mut sorted: Vec<(Vec<u8>, usize)> = caps
            .denies()
            .iter()
            .enumerate()
            .map(|(i, d)| (d.path.as_os_str().as_encoded_bytes().to_vec(), i))
            .collect();
        sorted.sort_unstable();
        let full = sorted
            .iter()
            .filter(|&&(_, i)| caps.denies()[i].kind == DenyKind::All)
            .cloned()
            .collect();
        let all_clean = sorted.iter().all(|(p, _)| crate::paths::is_clean(p));
        DenyIndex {
            sorted,
            full,
            all_clean,
            spine_denies: SpineDenies::default(),
        }
    }

    /// Whether the set holds a read-only carve-out (which derives grants, see
    /// [`effective_grants_with_dropped`]).
    fn has_read_only(&self) -> bool {
        self.full.len() != self.sorted.len()
    }

    /// The indices of the denies at `path` or around it (at one of its [`clean_bases`]), in
    /// the set's order: with clean deny paths, for a clean `path`, exactly the denies `d`
    /// with `path.starts_with(&d.path)`.
    fn around(&self, path: &Path) -> Vec<usize> {
        let mut hits: Vec<usize> = clean_bases(path).flat_map(|b| self.at_indices(b)).collect();
        hits.sort_unstable();
        hits
    }

    /// The first deny (in the set's order) at `dir` — unless `strictly` — or beneath it,
    /// among those a spine of a grant with `access` is built for (see [`SpineDenies`]): what
    /// [`CarveSpine::deny_for`] finds, by range instead of over the spine's denies.
    fn first_spine_deny(
        &self,
        denies: &[DenyRule],
        dir: &[u8],
        strictly: bool,
        access: AccessMode,
    ) -> Option<usize> {
        let tree = self.spine_denies.of(self, denies, access);
        let range = |lo: &[u8], prefix: bool| {
            let start = self.sorted.partition_point(|(p, _)| p.as_slice() < lo);
            let len = self.sorted[start..].partition_point(|(p, _)| {
                if prefix {
                    p.starts_with(lo)
                } else {
                    p.as_slice() == lo
                }
            });
            start..start + len
        };
        let mut prefix = dir.to_vec();
        if !prefix.ends_with(b"/") {
            prefix.push(b'/');
        }
        let beneath = tree.min(range(&prefix, true));
        let at = if strictly {
            None
        } else {
            tree.min(range(dir, false))
        };
        match (beneath, at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The indices of the denies whose path is `p` (bytes), in the set's order.
    fn at_indices(&self, p: &[u8]) -> impl Iterator<Item = usize> + '_ {
        let start = self.sorted.partition_point(|(q, _)| q.as_slice() < p);
        let len = self.sorted[start..].partition_point(|(q, _)| q.as_slice() == p);
        self.sorted[start..start + len].iter().map(|&(_, i)| {
            looked_at(1);
            i
        })
    }

    /// Whether a deny that [removes](DenyKind::removes) some of `access` lies strictly
    /// beneath `dir` (`clean_within` it, another path).
    fn removing_beneath(&self, denies: &[DenyRule], dir: &Path, access: AccessMode) -> bool {
        // Every deny removes from an access that writes; only full ones from one that reads.
        let list = if DenyKind::Write.removes(access) {
            &self.sorted
        } else {
            &self.full
        };
        let dir = dir.as_os_str().as_encoded_bytes();
        let mut prefix = dir.to_vec();
        if !prefix.ends_with(b"/") {
            prefix.push(b'/');
        }
        let start = list.partition_point(|(p, _)| p.as_slice() < prefix.as_slice());
        list[start..]
            .iter()
            .take_while(|(p, _)| p.starts_with(&prefix))
            .any(|&(ref p, i)| {
                looked_at(1);
                p.as_slice() != dir && denies[i].kind.removes(access)
            })
    }

    /// The denies whose path is `p` (bytes), in the set's order.
    fn at<'a>(&'a self, denies: &'a [DenyRule], p: &[u8]) -> impl Iterator<Item = &'a DenyRule> {
        self.at_indices(p).map(move |i| &denies[i])
    }

    /// The denies `d` with `clean_within(d.path, dir)` and `d.path != dir`, in the set's order.
    fn strictly_within<'d>(
        &self,
        denies: &'d [DenyRule],
        dir: &Path,
    ) -> impl Iterator<Item = &'d DenyRule> {
        let dir = dir.as_os_str().as_encoded_bytes();
        // `clean_within(p, dir)` for `p != dir` is: `p` starts with `dir/` (or with `dir`
        // when that ends with `/`); the paths with a given prefix are a range of the sorted ones.
        let mut prefix = dir.to_vec();
        if !prefix.ends_with(b"/") {
            prefix.push(b'/');
        }
        let start = self
            .sorted
            .partition_point(|(p, _)| p.as_slice() < prefix.as_slice());
        let mut hits: Vec<usize> = self.sorted[start..]
            .iter()
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter(|(p, _)| p.as_slice() != dir)
            .map(|&(_, i)| {
                looked_at(1);
                i
            })
            .collect();
        hits.sort_unstable();
        hits.into_iter().map(move |i| &denies[i])
    }
}

/// The set's denies indexed, worked out once for the many questions asked of a set whose
/// denies do not change: the supervisor asks the model at every refused open and the run's
/// report at every refused path, and with thousands of denies (link targets) indexing them
/// again each time cost a noticeable share of a second. An answer then costs lookups: the
/// grants that reach the path, their effective grants at or around it, the carve-outs around
/// it, and for a path a carve-out spine blocks, the deny its rule names.
#[derive(Debug, Clone, Default)]
pub struct Model {
    index: DenyIndex,
}

impl Model {
    /// The model of `caps`; ask it only about `caps` (see [`Model::explain_canonical`]).
    #[must_use]
    pub fn new(caps: &CapabilitySet) -> Model {
        Model {
            index: DenyIndex::new(caps),
        }
    }

    /// [`explain`] of `caps`, which must be the set this model was made from (its denies
    /// unchanged since).
    ///
    /// # Errors
    /// As [`explain`]: the path cannot be canonicalised.
    pub fn explain(
        &self,
        caps: &CapabilitySet,
        path: impl AsRef<Path>,
        op: AccessMode,
    ) -> Result<Explanation, CapsError> {
        let path = canonicalize_for_grant(path.as_ref())?;
        Ok(self.explain_canonical(caps, &path, op))
    }

    /// [`explain_canonical`] of `caps`, which must be the set this model was made from (its
    /// denies unchanged since): the same answer, without indexing the denies again.
    #[must_use]
    pub fn explain_canonical(
        &self,
        caps: &CapabilitySet,
        path: &Path,
        op: AccessMode,
    ) -> Explanation {
        self.explain_canonical_granted(caps, caps.grants(), path, op)
    }

    /// [`Model::explain_canonical_granted`] of `path` canonicalised (as [`explain`] does).
    ///
    /// # Errors
    /// As [`explain`]: the path cannot be canonicalised.
    pub fn explain_granted(
        &self,
        caps: &CapabilitySet,
        grants: &[FsGrant],
        path: impl AsRef<Path>,
        op: AccessMode,
    ) -> Result<Explanation, CapsError> {
        let path = canonicalize_for_grant(path.as_ref())?;
        Ok(self.explain_canonical_granted(caps, grants, &path, op))
    }

    /// The first deny of `caps` (the set this model was made from) whose path is `path`, as
    /// `caps.denies().iter().find(|d| d.path == path)` finds it, by lookup: to name the
    /// origin of the carve-out a rule names.
    #[must_use]
    pub fn deny_at<'c>(&self, caps: &'c CapabilitySet, path: &Path) -> Option<&'c DenyRule> {
        first_deny_at(caps, &self.index, path)
    }

    /// [`Model::explain_canonical`] as if the grants of `caps` were `grants`, its denies as
    /// they are: what the set with one more grant ([`CapabilitySet::grants_with`]) answers,
    /// without copying its denies or indexing them again (the report asks it whether the flag
    /// it would suggest for a refused path works).
    #[must_use]
    pub fn explain_canonical_granted(
        &self,
        caps: &CapabilitySet,
        grants: &[FsGrant],
        path: &Path,
        op: AccessMode,
    ) -> Explanation {
        debug_assert_eq!(self.index.sorted.len(), caps.denies().len());
        // Only the grants that reach `path` can cover it, and of the read grants derived from
        // them only those at or around it: looked up for a clean path.
        let at = (self.index.all_clean
            && crate::paths::is_clean(path.as_os_str().as_encoded_bytes()))
        .then_some(path);
        let mut effective = Vec::new();
        for g in grants.iter().filter(|g| reaches_one(g, path)) {
            effective_of(caps, &self.index, g, at, &mut effective);
        }
        explain_canonical_with(caps, path, op, &effective, &self.index)
    }
}

/// The denies a spine is built for, per class of grant access — one that writes (every deny
/// takes from it) or one that only reads (only full denies do): a deny that takes from the
/// access with no such deny on its way (at another of its [`clean_bases`]), the ones
/// [`carve_spine_in`] keeps. (It keeps them strictly beneath the grant, asking only about the
/// ways below it; a grant with a spine has none of them at or around it, so the question need
/// not know the grant.) Kept as range-minimum trees over the index's sorted paths, each
/// leaf the deny's position in the set when it is one of them, so the first of them beneath
/// a directory is a lookup, not a pass over every deny beneath it (thousands: the link
/// targets the `autorun` group denies inside one grant).
/// Each class's tree is worked out at its first question.
#[derive(Debug, Clone, Default)]
struct SpineDenies {
    writing: std::sync::OnceLock<MinTree>,
    reading: std::sync::OnceLock<MinTree>,
}

impl SpineDenies {
    /// The tree of the class of `access`, for `index` and the `denies` it was made from.
    fn of(&self, index: &DenyIndex, denies: &[DenyRule], access: AccessMode) -> &MinTree {
        let (tree, access) = if DenyKind::Write.removes(access) {
            (&self.writing, AccessMode::Write)
        } else {
            (&self.reading, AccessMode::Read)
        };
        tree.get_or_init(|| {
            let removing_at = |p: &[u8]| index.at(denies, p).any(|d| d.kind.removes(access));
            MinTree::new(index.sorted.iter().map(|(p, i)| {
                let own = Path::new(OsStr::from_bytes(p));
                let kept = denies[*i].kind.removes(access)
                    && !clean_bases(own).any(|o| o != p.as_slice() && removing_at(o));
                kept.then_some(*i)
            }))
        })
    }
}

/// A range-minimum segment tree over positions `0..n`, each holding a value or none.
#[derive(Debug, Clone, Default)]
struct MinTree {
    /// Leaves (a power of two, at least `n`).
    leaves: usize,
    /// Node `k` holds the least value of its children `2k`, `2k + 1`; leaf `p` is node
    /// `leaves + p`. `usize::MAX`: none.
    nodes: Vec<usize>,
}

impl MinTree {
    fn new(values: impl ExactSizeIterator<Item = Option<usize>>) -> MinTree {
        let leaves = values.len().next_power_of_two();
        let mut nodes = vec![usize::MAX; 2 * leaves];
        for (p, v) in values.enumerate() {
            nodes[leaves + p] = v.unwrap_or(usize::MAX);
        }
        for k in (1..leaves).rev() {
            nodes[k] = nodes[2 * k].min(nodes[2 * k + 1]);
        }
        MinTree { leaves, nodes }
    }

    /// The least value at the positions `range`: O(log n) nodes.
    fn min(&self, range: std::ops::Range<usize>) -> Option<usize> {
        if self.nodes.is_empty() || range.is_empty() {
            return None;
        }
        let (mut lo, mut hi) = (range.start + self.leaves, range.end + self.leaves);
        let mut least = usize::MAX;
        while lo < hi {
            if lo & 1 == 1 {
                looked_at(1);
                least = least.min(self.nodes[lo]);
                lo += 1;
            }
            if hi & 1 == 1 {
                hi -= 1;
                looked_at(1);
                least = least.min(self.nodes[hi]);
            }
            lo /= 2;
            hi /= 2;
        }
        (least != usize::MAX).then_some(least)
    }
}

#[cfg(test)]
thread_local! {
    /// Deny entries, tree nodes and effective grants the model looked at on this thread: the
    /// tests of the questions asked per refusal count them, to catch an answer that costs a
    /// pass over every carve-out without timing anything.
    pub(crate) static LOOKED_AT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Count `n` things looked at (`LOOKED_AT`, in tests).
#[inline]
fn looked_at(n: u64) {
    #[cfg(test)]
    LOOKED_AT.with(|c| c.set(c.get() + n));
    #[cfg(not(test))]
    let _ = n;
}

/// [`carve_spine_in`] with the denies indexed here (tests).
#[cfg(test)]
pub(crate) fn carve_spine(caps: &CapabilitySet, grant: &Path, access: AccessMode) -> CarveSpine {
    carve_spine_in(caps, &DenyIndex::new(caps), grant, access)
}

/// The carve-out spine of the directory grant at `grant` (see [`CarveSpine`]), with the
/// set's denies indexed (see [`DenyIndex`]): O(depth) plus the denies beneath `grant`, not
/// O(denies).
pub(crate) fn carve_spine_in(
    caps: &CapabilitySet,
    index: &DenyIndex,
    grant: &Path,
    access: AccessMode,
) -> CarveSpine {
    let denies = caps.denies();
    let removing_at = |p: &[u8]| index.at(denies, p).any(|d| d.kind.removes(access));
    let mut out = CarveSpine::default();
    // What `lstat` said of each path walked (a directory or not), in this call.
    let mut looked: HashMap<PathBuf, bool> = HashMap::new();
    // A relevant deny (one that removes some of `access`) at or around the grant.
    if clean_bases(grant).any(removing_at) {
        return out;
    }
    for d in index.strictly_within(denies, grant) {
        if !d.kind.removes(access) {
            continue;
        }
        // A deny inside another deny adds nothing, and expanding around it would hand out
        // rules inside the outer one (a full carve-out inside a read-only one is carved out
        // of the read-only one's own grant, see `effective_grants`).
        // (Its ancestors at or above the grant are the grant's own: none holds a relevant
        // deny, checked above.)
        let (own, at_grant) = (
            d.path.as_os_str().as_encoded_bytes(),
            grant.as_os_str().len(),
        );
        if clean_bases(&d.path).any(|o| o.len() > at_grant && o != own && removing_at(o)) {
            continue;
        }
        out.denies.push(d.path.clone());
        let mut cur = grant.to_path_buf();
        let rel = d.path.strip_prefix(grant).unwrap_or(Path::new(""));
        let comps: Vec<_> = rel.components().collect();
        for (i, comp) in comps.iter().enumerate() {
            // The walks towards the denies share their start (the grant, `/etc` for a dozen
            // carve-outs): each directory on the way is looked at once per call.
            let is_dir = match looked.get(&cur) {
                Some(&is_dir) => is_dir,
                None => {
                    let is_dir = std::fs::symlink_metadata(&cur).is_ok_and(|m| m.is_dir());
                    looked.insert(cur.clone(), is_dir);
                    is_dir
                }
            };
            if !is_dir {
                break;
            }
            out.spine.insert(cur.clone());
            if i + 1 == comps.len() {
                break;
            }
            cur.push(comp);
        }
    }
    out
}

/// The model's answer for one TCP operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetExplanation {
    /// The host as given (informational: Landlock filters ports, not hosts).
    pub host: String,
    /// The TCP port.
    pub port: u16,
    /// `connect` or `bind`.
    pub op: NetOp,
    /// Allowed or denied (never partial).
    pub verdict: Verdict,
    /// Why.
    pub rule: NetRule,
    /// Extra caveats, e.g. that name resolution needs UDP, which port mode refuses.
    pub notes: Vec<String>,
}

/// A TCP operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NetOp {
    /// `connect()` to a remote port.
    Connect,
    /// `bind()` to a local port.
    Bind,
}

/// The network rule that decided a [`NetExplanation`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum NetRule {
    /// The network is not restricted.
    NetworkAllowed,
    /// The network is blocked entirely.
    NetworkBlocked,
    /// The port is on the allow-list for this operation.
    PortListed,
    /// Port mode, and the port is not on the allow-list for this operation.
    PortNotListed {
        /// The ports that are allowed for this operation.
        allowed: Vec<u16>,
    },
}

impl fmt::Display for NetExplanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            NetOp::Connect => "connect to",
            NetOp::Bind => "bind",
        };
        let verdict = if self.verdict == Verdict::Allowed {
            "allowed"
        } else {
            "denied"
        };
        write!(f, "tcp {op} {}:{}: {verdict}", self.host, self.port)?;
        match &self.rule {
            NetRule::NetworkAllowed => f.write_str(" — the network is not restricted")?,
            NetRule::NetworkBlocked => f.write_str(" — the network is blocked")?,
            NetRule::PortListed => write!(f, " — port {} is allowed", self.port)?,
            NetRule::PortNotListed { allowed } => {
                write!(f, " — port {} is not in the allowed list (", self.port)?;
                if allowed.is_empty() {
                    f.write_str("none")?;
                }
                for (i, p) in allowed.iter().enumerate() {
                    write!(f, "{}{p}", if i > 0 { "," } else { "" })?;
                }
                f.write_str(")")?;
            }
        }
        for n in &self.notes {
            write!(f, "; {n}")?;
        }
        Ok(())
    }
}

/// The model's verdict on a TCP `connect()` to `host:port`.
#[must_use]
pub fn explain_net(caps: &CapabilitySet, host: &str, port: u16) -> NetExplanation {
    explain_tcp(caps, host, port, NetOp::Connect)
}

/// The model's verdict on a TCP `bind()` to `port`.
#[must_use]
pub fn explain_bind(caps: &CapabilitySet, port: u16) -> NetExplanation {
    explain_tcp(caps, "", port, NetOp::Bind)
}

fn explain_tcp(caps: &CapabilitySet, host: &str, port: u16, op: NetOp) -> NetExplanation {
    use crate::caps::NetworkMode;
    let mut notes = Vec::new();
    let (verdict, rule) = match caps.network() {
        NetworkMode::Allow => (Verdict::Allowed, NetRule::NetworkAllowed),
        NetworkMode::Block => (Verdict::Denied, NetRule::NetworkBlocked),
        NetworkMode::Ports { connect, bind } => {
            let list = match op {
                NetOp::Connect => connect,
                NetOp::Bind => bind,
            };
            if op == NetOp::Connect && !host.is_empty() && host.parse::<std::net::IpAddr>().is_err()
            {
                notes.push(
                    "resolving a host name needs UDP (DNS), which port mode refuses: \
                     use an address or an /etc/hosts entry"
                        .to_owned(),
                );
            }
            if list.contains(&port) {
                (Verdict::Allowed, NetRule::PortListed)
            } else {
                (
                    Verdict::Denied,
                    NetRule::PortNotListed {
                        allowed: list.iter().copied().collect(),
                    },
                )
            }
        }
    };
    NetExplanation {
        host: host.to_owned(),
        port,
        op,
        verdict,
        rule,
        notes,
    }
}

#[cfg(test)]
#[cfg(target_os = "linux")]
mod differential;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;

    #[test]
    fn clean_within_is_starts_with_on_clean_paths() {
        let paths = ["/", "/a", "/ab", "/a/b", "/a/bc", "/a/b/c", "/b", "/a/b.c"];
        for p in paths {
            for b in paths {
                assert_eq!(
                    clean_within(Path::new(p), Path::new(b)),
                    Path::new(p).starts_with(b),
                    "{p} within {b}"
                );
            }
        }
    }
    use crate::caps::AccessMode::{Read, ReadWrite, Write};

    /// `explain_canonical` skips working out the effective grants when no grant reaches the
    /// path; the answer is the one of working them out, for grants of every kind (file,
    /// directory, read-only and full carve-outs, a grant inside a carve-out) and paths
    /// inside, beside, above and on them.
    #[test]
    fn explain_canonical_without_a_reaching_grant_is_the_full_answer() {
        let t = tree();
        let mut caps = CapabilitySet::new();
        caps.allow_dir(t.join("g"), ReadWrite, "--allow g").unwrap();
        caps.allow_dir(t.join("g/c"), Read, "--read c").unwrap();
        caps.allow_file(t.join("out"), Write, "--write-file out")
            .unwrap();
        caps.deny_write(t.join("g/a"), "group tools").unwrap();
        caps.deny(t.join("g/a/secret"), "group credentials")
            .unwrap();
        caps.deny(t.join("g/c"), "group other").unwrap();
        let model = Model::new(&caps);
        let mut reached = 0;
        for p in [
            "/",
            "",
            "g",
            "g/f",
            "g/a",
            "g/a/ok",
            "g/a/b",
            "g/a/secret",
            "g/a/new",
            "g/c",
            "g/c/x",
            "g/new",
            "out",
            "out2",
            "gg",
            "other/deeper",
        ] {
            let path = if p == "/" {
                PathBuf::from("/")
            } else if p.is_empty() {
                t.clone()
            } else {
                t.join(p)
            };
            for op in [Read, Write, ReadWrite] {
                let full = explain_canonical_with(
                    &caps,
                    &path,
                    op,
                    &effective_grants(&caps),
                    &DenyIndex::new(&caps),
                );
                assert_eq!(explain_canonical(&caps, &path, op), full, "{p} {op:?}");
                // The model worked out once answers the same.
                assert_eq!(
                    model.explain_canonical(&caps, &path, op),
                    full,
                    "{p} {op:?}"
                );
                reached += usize::from(full.allowed.is_some());
            }
        }
        assert!(reached > 10, "the paths reach grants too: {reached}");
    }

    /// The work of the model and of the carve-out spines grows linearly with the denies
    /// inside a grant (red team 14: thousands of read-only link targets in `~/dotfiles`, each
    /// with a read grant of its own, cost seconds of start-up and of every refused write when
    /// every deny was compared with every other). Counted in path comparisons, not timed:
    /// twice the denies may cost about twice the comparisons, never four times.
    #[test]
    fn many_read_only_carve_outs_cost_linear_comparisons() {
        let comparisons = |n: usize| {
            let t = tree();
            let mut caps = CapabilitySet::new();
            caps.allow_dir(t.join("g"), ReadWrite, "--allow g").unwrap();
            caps.deny_many_kind((0..n).map(|i| {
                (
                    t.join(format!("g/t{i}")),
                    Origin::Group("autorun".into()),
                    DenyKind::Write,
                )
            }))
            .unwrap();
            caps.deny(t.join("g/a/secret"), "group credentials")
                .unwrap();
            let target = t.join("g/t1");
            crate::paths::CLEAN_WITHIN_CALLS.with(|c| c.set(0));
            // What the rule planner does: every effective grant's spine.
            let effective = effective_grants(&caps);
            assert_eq!(effective.len(), n + 1);
            let index = DenyIndex::new(&caps);
            for e in &effective {
                carve_spine_in(&caps, &index, &e.grant.path, e.grant.access);
            }
            // A refused write, asked of the model and of the set.
            let model = Model::new(&caps);
            for _ in 0..10 {
                let answer = model.explain_canonical(&caps, &target, Write);
                assert!(!answer.is_allowed());
                assert!(matches!(answer.rule, Rule::ReadOnlyBy { .. }), "{answer:?}");
            }
            assert_eq!(
                explain_canonical(&caps, &target, Write),
                model.explain_canonical(&caps, &target, Write)
            );
            crate::paths::CLEAN_WITHIN_CALLS.with(std::cell::Cell::get)
        };
        let (small, large) = (comparisons(300), comparisons(600));
        assert!(
            large <= small * 5 / 2,
            "{small} comparisons for 300 carve-outs, {large} for 600: quadratic"
        );
    }

    /// A refusal inside a grant expanded around thousands of carve-outs (the link targets the
    /// `autorun` group denies in `~/dotfiles`, granted read-write) costs lookups, not a pass
    /// over the carve-outs: the supervisor asks the model at every refused open, and the
    /// run's report asks it, for each refused path, what protects it and whether the flag it
    /// would suggest works (with that grant added). Before, each such answer named its deny
    /// by working out the grant's whole spine, and went through a read grant per carve-out.
    #[test]
    fn refusals_inside_a_spine_cost_lookups_not_a_pass_over_the_carve_outs() {
        let looked_at = |n: usize| {
            let t = tree();
            let g = t.join("g");
            let mut caps = CapabilitySet::new();
            caps.allow_dir(&g, ReadWrite, "--allow g").unwrap();
            caps.deny_many_kind((0..n).map(|i| {
                (
                    g.join(format!("t{i}")),
                    Origin::Group("autorun".into()),
                    DenyKind::Write,
                )
            }))
            .unwrap();
            caps.deny(t.join("g/a/secret"), "group credentials")
                .unwrap();
            let model = Model::new(&caps);
            let suggested = caps
                .grants_with(&g, FsKind::Dir, Write, "suggested")
                .unwrap();
            let ask = |path: &Path| {
                let answer = model.explain_canonical(&caps, path, Write);
                let with = model.explain_canonical_granted(&caps, &suggested, path, Write);
                // (The grant's origin differs: `--allow g` and `suggested`.)
                assert_eq!(
                    std::mem::discriminant(&answer.rule),
                    std::mem::discriminant(&with.rule),
                    "{answer:?} {with:?}"
                );
                answer.rule
            };
            // The first question works the index's ranges out, once.
            ask(&g.join("new"));
            LOOKED_AT.with(|c| c.set(0));
            for j in 0..10 {
                let rule = ask(&g.join(format!("new{j}")));
                assert!(
                    matches!(&rule, Rule::NewEntryInSpine { dir, deny, .. }
                        if *dir == g && *deny == g.join("t0")),
                    "{rule:?}"
                );
                let rule = ask(&g);
                assert!(
                    matches!(&rule, Rule::CarveOutSpine { deny, .. } if *deny == g.join("t0")),
                    "{rule:?}"
                );
                let rule = ask(&g.join(format!("a/new{j}")));
                assert!(
                    matches!(&rule, Rule::NewEntryInSpine { dir, deny, .. }
                        if *dir == g.join("a") && *deny == g.join("a/secret")),
                    "{rule:?}"
                );
                let rule = ask(&g.join(format!("t{}", n - 1 - j)));
                assert!(matches!(rule, Rule::ReadOnlyBy { .. }), "{rule:?}");
            }
            let looked = LOOKED_AT.with(std::cell::Cell::get);
            assert_eq!(
                explain_canonical(&caps, &g.join("new"), Write),
                model.explain_canonical(&caps, &g.join("new"), Write)
            );
            let _ = std::fs::remove_dir_all(&t);
            looked
        };
        let (small, large) = (looked_at(300), looked_at(1200));
        assert!(
            small > 0 && large <= small * 3 / 2,
            "{small} entries looked at for 300 carve-outs, {large} for 1200: \
             a pass over them per answer"
        );
    }

    fn tree() -> Scratch {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = Scratch::new(&format!("nono-explain-{}-{n}", std::process::id()));
        std::fs::create_dir_all(dir.join("g/a/b")).unwrap();
        std::fs::create_dir_all(dir.join("g/c")).unwrap();
        std::fs::write(dir.join("g/f"), b"x").unwrap();
        std::fs::write(dir.join("g/a/secret"), b"x").unwrap();
        std::fs::write(dir.join("g/a/ok"), b"x").unwrap();
        std::fs::write(dir.join("out"), b"x").unwrap();
        dir
    }

    #[test]
    fn grant_union_and_partial() {
        let t = tree();
        let mut caps = CapabilitySet::new();
        caps.allow_dir(t.join("g"), Read, "--read g").unwrap();
        caps.allow_file(t.join("g/f"), Write, "--write-file f")
            .unwrap();
        let e = explain(&caps, t.join("g/f"), ReadWrite).unwrap();
        assert_eq!(e.verdict, Verdict::Allowed);
        let Rule::Granted { grants } = &e.rule else {
            panic!("{e:?}")
        };
        assert_eq!(grants.len(), 2);
        assert_eq!(
            grants[0].origin.to_string(),
            "--write-file f",
            "most specific first"
        );
        let e = explain(&caps, t.join("g/a/ok"), ReadWrite).unwrap();
        assert_eq!(e.verdict, Verdict::Partial);
        assert_eq!(e.allowed, Some(Read));
        assert!(e.to_string().contains("only read"), "{e}");
        let e = explain(&caps, t.join("g/a/ok"), Write).unwrap();
        assert_eq!(e.verdict, Verdict::Denied);
        assert!(matches!(e.rule, Rule::Granted { .. }));
        let e = explain(&caps, t.join("out"), Read).unwrap();
        assert_eq!(e.rule, Rule::NotGranted);
        assert_eq!(e.verdict, Verdict::Denied);
    }

    #[test]
    fn read_only_carve_out_keeps_reading_and_a_full_one_inside_it_wins() {
        let t = tree();
        let mut caps = CapabilitySet::new();
        caps.allow_dir(t.join("g"), ReadWrite, "--allow g").unwrap();
        caps.deny_write(t.join("g/a"), "group tools").unwrap();
        caps.deny(t.join("g/a/secret"), "group credentials")
            .unwrap();
        let e = explain(&caps, t.join("g/a/ok"), Read).unwrap();
        assert_eq!(e.verdict, Verdict::Allowed, "{e}");
        let e = explain(&caps, t.join("g/a/ok"), ReadWrite).unwrap();
        assert_eq!(e.verdict, Verdict::Partial, "{e}");
        assert!(
            matches!(&e.rule, Rule::ReadOnlyBy { origin, .. } if origin.to_string() == "group tools"),
            "{e}"
        );
        let e = explain(&caps, t.join("g/a/new"), Write).unwrap();
        assert_eq!(e.verdict, Verdict::Denied, "{e}");
        let e = explain(&caps, t.join("g/a/secret"), Read).unwrap();
        assert!(matches!(e.rule, Rule::DeniedBy { .. }), "{e}");
        // Beside the carve-out the grant is whole.
        let e = explain(&caps, t.join("g/c"), ReadWrite).unwrap();
        assert_eq!(e.verdict, Verdict::Allowed, "{e}");
        // A grant that only reads passes through a read-only carve-out.
        let mut ro = CapabilitySet::new();
        ro.allow_dir(t.join("g"), Read, "--read g").unwrap();
        ro.deny_write(t.join("g/a"), "group tools").unwrap();
        assert!(carve_spine(&ro, &t.join("g"), Read).spine.is_empty());
        // The same path denied both ways keeps the full carve-out.
        caps.deny(t.join("g/a"), "group x").unwrap();
        let e = explain(&caps, t.join("g/a/ok"), Read).unwrap();
        assert!(matches!(e.rule, Rule::DeniedBy { .. }), "{e}");
    }

    #[test]
    fn carve_out_spine_and_new_entries() {
        let t = tree();
        let mut caps = CapabilitySet::new();
        caps.allow_dir(t.join("g"), ReadWrite, "--allow g").unwrap();
        caps.deny(t.join("g/a/secret"), "group test").unwrap();
        let e = explain(&caps, t.join("g/a/secret"), Read).unwrap();
        assert!(
            matches!(&e.rule, Rule::DeniedBy { origin, .. } if origin.to_string() == "group test"),
            "{e:?}"
        );
        for spine in ["g", "g/a"] {
            let e = explain(&caps, t.join(spine), Read).unwrap();
            assert!(
                matches!(e.rule, Rule::CarveOutSpine { .. }),
                "{spine}: {e:?}"
            );
            assert_eq!(e.verdict, Verdict::Denied);
        }
        for sibling in ["g/a/ok", "g/a/b", "g/c", "g/f", "g/c/new"] {
            let e = explain(&caps, t.join(sibling), ReadWrite).unwrap();
            assert_eq!(e.verdict, Verdict::Allowed, "{sibling}: {e}");
        }
        let e = explain(&caps, t.join("g/a/new"), Write).unwrap();
        assert!(matches!(e.rule, Rule::NewEntryInSpine { .. }), "{e:?}");
        let e = explain(&caps, t.join("g/new"), Write).unwrap();
        assert!(matches!(e.rule, Rule::NewEntryInSpine { .. }), "{e:?}");
    }

    #[test]
    fn missing_deny_is_carved_at_its_deepest_existing_ancestor() {
        let t = tree();
        let mut caps = CapabilitySet::new();
        caps.allow_dir(t.join("g"), ReadWrite, "--allow g").unwrap();
        caps.deny(t.join("g/c/nothere/deeper"), "group test")
            .unwrap();
        let spine = carve_spine(&caps, &t.join("g"), ReadWrite);
        assert_eq!(
            spine.spine,
            [t.join("g"), t.join("g/c")].into_iter().collect()
        );
        assert!(!explain(&caps, t.join("g/c/nothere"), Write)
            .unwrap()
            .is_allowed());
        assert!(!explain(&caps, t.join("g/c/other"), Write)
            .unwrap()
            .is_allowed());
        assert!(explain(&caps, t.join("g/a/new"), Write)
            .unwrap()
            .is_allowed());
    }

    #[test]
    fn nested_denies_expand_only_around_the_outer_one() {
        let t = tree();
        let mut caps = CapabilitySet::new();
        caps.allow_dir(&t, Read, "--read t").unwrap();
        caps.deny(t.join("g/a/b"), "inner").unwrap();
        caps.deny(t.join("g"), "outer").unwrap();
        let spine = carve_spine(&caps, &t, ReadWrite);
        assert_eq!(spine.spine, [t.clone()].into_iter().collect());
        assert!(!explain(&caps, t.join("g/f"), Read).unwrap().is_allowed());
        assert!(explain(&caps, t.join("out"), Read).unwrap().is_allowed());
    }

    #[test]
    fn grant_beneath_a_deny_is_denied() {
        let t = tree();
        let mut caps = CapabilitySet::new();
        caps.allow_dir(t.join("g/a"), ReadWrite, "--allow a")
            .unwrap();
        caps.deny(t.join("g"), "group test").unwrap();
        let e = explain(&caps, t.join("g/a/ok"), Read).unwrap();
        assert!(matches!(e.rule, Rule::DeniedBy { .. }));
        assert!(carve_spine(&caps, &t.join("g/a"), ReadWrite)
            .spine
            .is_empty());
    }

    #[test]
    fn explanation_serialises_to_tagged_json() {
        let t = tree();
        let mut caps = CapabilitySet::new();
        caps.allow_dir(t.join("g"), Read, "--read g").unwrap();
        let e = explain(&caps, t.join("g/f"), Read).unwrap();
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["verdict"], "allowed");
        assert_eq!(json["rule"]["rule"], "granted");
        assert_eq!(json["rule"]["grants"][0]["origin"], "--read g");
        assert_eq!(json["requested"], "Read");
    }

    #[test]
    fn net_verdicts() {
        let mut caps = CapabilitySet::new();
        assert_eq!(
            explain_net(&caps, "example.com", 443).verdict,
            Verdict::Allowed
        );
        caps.block_network();
        assert_eq!(
            explain_net(&caps, "127.0.0.1", 443).rule,
            NetRule::NetworkBlocked
        );
        caps.allow_connect_port(443);
        let e = explain_net(&caps, "127.0.0.1", 443);
        assert_eq!(e.verdict, Verdict::Allowed);
        assert!(e.notes.is_empty());
        let e = explain_net(&caps, "example.com", 80);
        assert_eq!(e.rule, NetRule::PortNotListed { allowed: vec![443] });
        assert_eq!(e.notes.len(), 1);
        assert_eq!(explain_bind(&caps, 443).verdict, Verdict::Denied);
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["rule"]["rule"], "port_not_listed");
    }
}

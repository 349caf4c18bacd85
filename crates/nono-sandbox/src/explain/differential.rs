//! Red team 16: the indexed deny model (`DenyIndex`, `coverage_by_lookup`, [`Model`], the
//! indexed `effective_grants_with_dropped` and `carve_spine_in`, and the Landlock plan built
//! from them) against the scans they replaced, copied verbatim from 0705c38 (the commit
//! before the indexes were merged) into [`old`]. Random sets of grants and denies over a
//! fixed tree of awkward names (prefix siblings by bytes: `b-`, `b.x`, `b0`; a non-UTF-8
//! name; symlinks to directories and files, a dangling one, one to an ancestor; files on the
//! way; missing tails), with read-only and full denies, denies kept at a link, nested denies
//! of both kinds, denies at a grant and at `/`, asked about clean and unclean spellings
//! (trailing and doubled slashes, `.`, `..`, relative): every answer must be the old one.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::*;
use crate::linux::landlock::{FsRule, RulePlan};

/// The model, effective grants, spines and Landlock plan before the denies were indexed
/// (0705c38), verbatim but for the plan's error type and rule map key (`PathBuf`, which
/// orders as the planner's key does).
#[allow(clippy::all, clippy::pedantic)]
mod old {
    use std::collections::{BTreeMap, HashMap, HashSet};
    use std::ffi::OsStr;
    use std::path::{Path, PathBuf};

    use super::super::{
        CarveSpine, Coverage, EffectiveGrant, Explanation, GrantRef, Rule, Verdict,
    };
    use crate::caps::{AccessMode, CapabilitySet, DenyKind, FsGrant, FsKind, Seen};
    use crate::linux::landlock::{FsRule, RulePlan};
    use crate::paths::clean_within;

    fn effective_grants(caps: &CapabilitySet) -> Vec<EffectiveGrant> {
        effective_grants_with_dropped(caps).0
    }

    fn join_paths(paths: &[PathBuf]) -> String {
        paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// [`explain`] for a path that is already canonical (no symlinks, absolute).
    #[must_use]
    pub fn explain_canonical(caps: &CapabilitySet, path: &Path, op: AccessMode) -> Explanation {
        // Every effective grant lies at or beneath a grant of `caps` (a grant with its access
        // reduced, or the read grant of a read-only carve-out inside it), so one covers `path`
        // only if a grant of `caps` reaches it: else the grants need not be worked out (the
        // planted-link check asks about `/`, which nothing grants, for every link on the way).
        let reached = caps.grants().iter().any(|g| match g.kind {
            FsKind::File => g.path == path,
            FsKind::Dir => path.starts_with(&g.path),
        });
        explain_canonical_with(caps, path, op, reached)
    }

    /// [`explain_canonical`]; with `consult_grants` false the effective grants are taken to be
    /// none that covers `path` (only when that is so: see there).
    fn explain_canonical_with(
        caps: &CapabilitySet,
        path: &Path,
        op: AccessMode,
        consult_grants: bool,
    ) -> Explanation {
        let verdict_of = |allowed: Option<AccessMode>| match allowed {
            Some(a) if a.contains(op) => Verdict::Allowed,
            Some(a) if (a.reads() && op.reads()) || (a.writes() && op.writes()) => Verdict::Partial,
            _ => Verdict::Denied,
        };

        if let Some(d) = caps
            .denies()
            .iter()
            .find(|d| d.kind == DenyKind::All && path.starts_with(&d.path))
        {
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
        let grants = if consult_grants {
            effective_grants(caps)
        } else {
            Vec::new()
        };
        for grant in grants.iter().map(|e| &e.grant) {
            match coverage(caps, grant, path) {
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
        let read_only = caps
            .denies()
            .iter()
            .find(|d| d.kind == DenyKind::Write && path.starts_with(&d.path));
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

    pub(super) fn coverage(caps: &CapabilitySet, grant: &FsGrant, path: &Path) -> Coverage {
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
                let carve = carve_spine(caps, &grant.path, grant.access);
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

    /// [`effective_grants`], plus the grants dropped because a carve-out takes all their access.
    pub(crate) fn effective_grants_with_dropped(
        caps: &CapabilitySet,
    ) -> (Vec<EffectiveGrant>, Vec<&FsGrant>) {
        let mut out = Vec::with_capacity(caps.grants().len());
        let mut dropped = Vec::new();
        let has_read_only = caps.denies().iter().any(|d| d.kind == DenyKind::Write);
        for g in caps.grants() {
            let mut access = Some(g.access);
            for d in caps.denies() {
                if let Some(a) = access {
                    if clean_within(&g.path, &d.path) {
                        access = d.kind.remaining(a);
                    }
                }
            }
            let Some(access) = access else {
                dropped.push(g);
                continue;
            };
            let grant = FsGrant {
                access,
                ..g.clone()
            };
            let derives = has_read_only && g.kind == FsKind::Dir && access == AccessMode::ReadWrite;
            out.push(EffectiveGrant {
                grant,
                read_only_of: None,
            });
            if !derives {
                continue;
            }
            for d in caps.denies() {
                if d.kind != DenyKind::Write
                    || d.path.as_os_str() == g.path.as_os_str()
                    || !clean_within(&d.path, &g.path)
                {
                    continue;
                }
                // Inside another carve-out beneath the grant: that one decides.
                if caps.denies().iter().any(|o| {
                    o.path.as_os_str() != d.path.as_os_str()
                        && clean_within(&d.path, &o.path)
                        && clean_within(&o.path, &g.path)
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
        }
        (out, dropped)
    }

    /// Compute the carve-out spine of the directory grant at `grant` (see [`CarveSpine`]).
    pub(crate) fn carve_spine(
        caps: &CapabilitySet,
        grant: &Path,
        access: AccessMode,
    ) -> CarveSpine {
        let mut out = CarveSpine::default();
        // What `lstat` said of each path walked (a directory or not), in this call.
        let mut looked: HashMap<PathBuf, bool> = HashMap::new();
        let relevant = || caps.denies().iter().filter(|d| d.kind.removes(access));
        if relevant().any(|d| clean_within(grant, &d.path)) {
            return out;
        }
        for d in relevant() {
            if !clean_within(&d.path, grant) || d.path.as_os_str() == grant.as_os_str() {
                continue;
            }
            // A deny inside another deny adds nothing, and expanding around it would hand out
            // rules inside the outer one (a full carve-out inside a read-only one is carved out
            // of the read-only one's own grant, see `effective_grants`).
            if relevant()
                .any(|o| o.path.as_os_str() != d.path.as_os_str() && clean_within(&d.path, &o.path))
            {
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

    pub(super) fn plan_fs_rules(caps: &CapabilitySet) -> Result<RulePlan, std::io::Error> {
        let mut notes = Vec::new();
        let mut rules: BTreeMap<PathBuf, (AccessMode, bool, bool)> = BTreeMap::new();
        let mut add = |path: PathBuf, access: AccessMode, expanded: bool, dir: bool| {
            rules
                .entry(path)
                .and_modify(|(a, e, d)| {
                    *a = a.union(access);
                    *e &= expanded;
                    *d |= dir;
                })
                .or_insert((access, expanded, dir));
        };
        let (effective, dropped) = effective_grants_with_dropped(caps);
        for grant in dropped {
            notes.push(format!(
                "grant {} ({}) lies inside a carve-out and is not applied",
                grant.path.display(),
                grant.origin
            ));
        }
        for eff in &effective {
            let grant = &eff.grant;
            // The read grant of a read-only carve-out is attached to whatever is there when the
            // ruleset is built: like an expanded entry, it is skipped if it became a symlink.
            let derived = eff.read_only_of.is_some();
            if derived
                && !std::fs::symlink_metadata(&grant.path)
                    .is_ok_and(|m| !m.file_type().is_symlink())
            {
                continue;
            }
            if grant.kind == FsKind::File {
                add(grant.path.clone(), grant.access, derived, false);
                continue;
            }
            let carve = carve_spine(caps, &grant.path, grant.access);
            if carve.spine.is_empty() {
                add(grant.path.clone(), grant.access, derived, true);
                continue;
            }
            // Canonical paths: byte equality is path equality.
            let skip: HashSet<&OsStr> = carve
                .spine
                .iter()
                .chain(&carve.denies)
                .map(|p| p.as_os_str())
                .collect();
            for dir in &carve.spine {
                let entries = std::fs::read_dir(dir)?;
                for entry in entries {
                    let entry = entry?;
                    let child = entry.path();
                    if skip.contains(child.as_os_str()) {
                        continue;
                    }
                    // A rule on a symlink would be attached to its target: skip it.
                    let file_type = entry.file_type();
                    if file_type.as_ref().is_ok_and(std::fs::FileType::is_symlink) {
                        continue;
                    }
                    add(
                        child,
                        grant.access,
                        true,
                        file_type.is_ok_and(|t| t.is_dir()),
                    );
                }
            }
            notes.push(format!(
                "grant {} ({}) is expanded around {}: {} cannot be listed or changed, and entries \
                 created there later are not covered",
                grant.path.display(),
                grant.origin,
                join_paths(&carve.denies),
                join_paths(&carve.spine.iter().cloned().collect::<Vec<_>>()),
            ));
        }
        for d in caps.denies() {
            // What resolving the rule saw (one `lstat` per rule at start-up, not two); looked at
            // here only when it was resolved another way.
            let seen = match d.seen {
                Seen::Unknown => match std::fs::symlink_metadata(&d.path) {
                    Ok(m) => {
                        use std::os::unix::fs::MetadataExt;
                        Seen::Object {
                            dir: m.is_dir(),
                            nlink: m.nlink(),
                        }
                    }
                    Err(_) => Seen::Missing,
                },
                known => known,
            };
            if let Seen::Object { dir: false, nlink } = seen {
                if nlink > 1 {
                    notes.push(format!(
                        "carve-out {} ({}) has {} hard links: a link elsewhere inside a grant is \
                         not covered by the carve-out",
                        d.path.display(),
                        d.origin,
                        nlink
                    ));
                }
            }
        }
        let dir_hints = rules.values().map(|&(_, _, dir)| dir).collect();
        Ok(RulePlan {
            rules: rules
                .into_iter()
                .map(|(key, (access, expanded, _))| FsRule {
                    path: key,
                    access,
                    expanded,
                })
                .collect(),
            notes,
            dir_hints,
        })
    }
}

/// A path of the fixture, relative to its root, as bytes (`b""`: the root itself).
type Rel = &'static [u8];

/// Directories of the fixture.
const DIRS: &[Rel] = &[
    b"",
    b"g",
    b"g/a",
    b"g/a/b",
    b"g/a/b/c",
    b"g/a/b-",
    b"g/a/b0",
    b"g/a-",
    b"g/a-/x",
    b"g/a.d",
    b"g/\xff",
    b"g/\xff/z",
    b"g/sp ace",
    b"h",
    b"h/i",
];

/// Files of the fixture.
const FILES: &[Rel] = &[
    b"g/a/b/c/f",
    b"g/a/b.x",
    b"g/a/f",
    b"g/a0",
    b"g/\xff/y",
    b"h/f",
];

/// Symlinks of the fixture: `(link, target relative to the root)`.
const LINKS: &[(Rel, Rel)] = &[
    (b"g/a/ln", b"g/a-"),
    (b"g/lnf", b"g/a/f"),
    (b"g/dangling", b"nowhere"),
    (b"g/a/b/up", b"g"),
    (b"h/to-g-a", b"g/a"),
];

/// Paths that do not exist (some beneath a file or a symlink).
const MISSING: &[Rel] = &[
    b"g/a/b/c/missing",
    b"g/missing",
    b"g/missing/deep",
    b"g/a/b-/missing",
    b"g/a0x",
    b"g/a/b/c/f/x",
    b"g/dangling/x",
    b"g/a/ln/x",
    b"g/a/ln/new",
    b"g/\xff/new",
];

/// The fixture's root (canonical), `<temp dir>/nono-rt16-<pid>`: the tree is there while a
/// test holds a [`Fixture`]. Roots left by test processes that are gone (killed) are removed
/// here.
fn root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
            for e in entries.flatten() {
                let name = e.file_name();
                let pid = name.to_str().and_then(|n| n.strip_prefix("nono-rt16-"));
                if pid.is_some_and(|p| !Path::new("/proc").join(p).exists()) {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        std::fs::canonicalize(std::env::temp_dir())
            .unwrap()
            .join(format!("nono-rt16-{}", std::process::id()))
    })
}

/// How many tests hold the fixture: the first makes it, the last to drop it removes it.
static FIXTURE_USERS: std::sync::Mutex<usize> = std::sync::Mutex::new(0);

/// A test's hold on the fixture's tree at [`root`] (shared by the tests running at once).
struct Fixture;

fn fixture() -> Fixture {
    let mut users = FIXTURE_USERS.lock().unwrap_or_else(|e| e.into_inner());
    if *users == 0 {
        make_fixture(root());
    }
    *users += 1;
    Fixture
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let mut users = FIXTURE_USERS.lock().unwrap_or_else(|e| e.into_inner());
        *users -= 1;
        if *users == 0 {
            crate::scratch::remove(root());
        }
    }
}

/// The tree: [`DIRS`], [`FILES`], [`LINKS`] and the deep directories ([`deep`]).
fn make_fixture(dir: &Path) {
    crate::scratch::remove(dir);
    std::fs::create_dir_all(dir).unwrap();
    for d in DIRS {
        std::fs::create_dir_all(at(dir, d)).unwrap();
    }
    for f in FILES {
        std::fs::write(at(dir, f), b"x").unwrap();
    }
    for (l, t) in LINKS {
        std::os::unix::fs::symlink(at(dir, t), at(dir, l)).unwrap();
    }
    for d in deep() {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
}

/// `rel` beneath `root` (the root itself for `b""`).
fn at(root: &Path, rel: &[u8]) -> PathBuf {
    if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(OsStr::from_bytes(rel))
    }
}

/// Every fixture path, existing or not.
fn every_path() -> Vec<Rel> {
    DIRS.iter()
        .chain(FILES)
        .chain(LINKS.iter().map(|(l, _)| l))
        .chain(MISSING)
        .copied()
        .collect()
}

/// The paths asked about: every fixture path, clean, and spelt unclean (trailing and doubled
/// slashes, `.`, `..`), the root's parents, `/`, and relative paths.
fn asked(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for rel in every_path() {
        let p = at(root, rel);
        let bytes = p.as_os_str().as_bytes().to_vec();
        out.push(p.clone());
        let mut trailing = bytes.clone();
        trailing.push(b'/');
        out.push(PathBuf::from(OsString::from_vec(trailing)));
        if let Some(i) = bytes.iter().rposition(|&b| b == b'/') {
            for infix in [&b"/"[..], b"/./", b"/../g/"] {
                let mut v = bytes[..i].to_vec();
                v.extend_from_slice(infix);
                v.extend_from_slice(&bytes[i + 1..]);
                out.push(PathBuf::from(OsString::from_vec(v)));
            }
        }
        out.push(PathBuf::from(OsStr::from_bytes(rel)));
    }
    out.extend(root.ancestors().map(Path::to_path_buf));
    out.push(root.join(""));
    out
}

/// A grant of the random set: `(path index, file or directory, access)`; `usize::MAX` for a
/// directory stands for `/`, the directories' indices past `DIRS` for `LINKS`, the files'
/// last index for the link to a file.
#[derive(Debug, Clone)]
struct GrantSpec(usize, bool, AccessMode);

/// A deny of the random set: `(path index into every_path, or usize::MAX for /, kind, kept
/// at a link)`.
#[derive(Debug, Clone)]
struct DenySpec(usize, DenyKind, bool);

fn access() -> impl Strategy<Value = AccessMode> {
    prop::sample::select(vec![
        AccessMode::Read,
        AccessMode::Write,
        AccessMode::ReadWrite,
    ])
}

fn grant_spec() -> impl Strategy<Value = GrantSpec> {
    prop_oneof![
        8 => (0..DIRS.len() + LINKS.len(), access()).prop_map(|(i, a)| GrantSpec(i, false, a)),
        3 => (0..FILES.len() + 1, access()).prop_map(|(i, a)| GrantSpec(i, true, a)),
        1 => access().prop_map(|a| GrantSpec(usize::MAX, false, a)),
    ]
}

fn deny_spec() -> impl Strategy<Value = DenySpec> {
    let kind = prop::sample::select(vec![DenyKind::All, DenyKind::Write]);
    let n = every_path().len();
    prop_oneof![
        30 => (0..n, kind.clone(), prop::bool::weighted(0.2))
            .prop_map(|(i, k, l)| DenySpec(i, k, l)),
        1 => kind.prop_map(|k| DenySpec(usize::MAX, k, false)),
    ]
}

/// The set for the specs (grants and denies the set refuses, such as a directory grant on a
/// file, are left out) and whether it holds a grant of `/`.
fn build(grants: &[GrantSpec], denies: &[DenySpec]) -> (CapabilitySet, bool) {
    let root = root();
    let mut caps = CapabilitySet::new();
    let mut slash = false;
    for GrantSpec(i, file, access) in grants {
        let _ = if *file {
            // The last index stands for the symlink to a file.
            let rel = FILES.get(*i).copied().unwrap_or(b"g/lnf");
            caps.allow_file(at(root, rel), *access, "--file")
        } else if *i == usize::MAX {
            slash = true;
            caps.allow_dir("/", *access, "--allow /")
        } else {
            let rel = DIRS
                .get(*i)
                .copied()
                .unwrap_or_else(|| LINKS[*i - DIRS.len()].0);
            caps.allow_dir(at(root, rel), *access, "--allow")
        };
    }
    let every = every_path();
    for (n, DenySpec(i, kind, link)) in denies.iter().enumerate() {
        let origin = Origin::Group(format!("g{n}"));
        let path = every
            .get(*i)
            .map_or_else(|| PathBuf::from("/"), |rel| at(root, rel));
        let _ = if *link {
            caps.deny_link_kind(path, origin, *kind)
        } else {
            caps.deny_kind(path, origin, *kind)
        };
    }
    (caps, slash)
}

/// How often the random sets reached what the indexes decide.
#[derive(Debug, Default)]
struct Stats {
    spines: usize,
    blocked: usize,
    new_entry: usize,
    derived: usize,
    looked_up_no: usize,
    looked_up_covers: usize,
    looked_up_blocked: usize,
    suggested: usize,
    expanded_plans: usize,
    unclean_fallbacks: usize,
}

/// Every answer of the indexed model for `caps` is the scanning model's.
fn same_answers(caps: &CapabilitySet, slash: bool, stats: &mut Stats) -> Result<(), TestCaseError> {
    let root = root();
    let (effective, dropped) = effective_grants_with_dropped(caps);
    let (old_effective, old_dropped) = old::effective_grants_with_dropped(caps);
    prop_assert_eq!(&effective, &old_effective);
    prop_assert_eq!(&dropped, &old_dropped);
    stats.derived += effective
        .iter()
        .filter(|e| e.read_only_of.is_some())
        .count();
    let index = DenyIndex::new(caps);
    let model = Model::new(caps);
    let paths = asked(root);
    for path in &paths {
        for grant in effective.iter().map(|e| &e.grant) {
            let want = old::coverage(caps, grant, path);
            prop_assert_eq!(
                coverage(caps, &index, grant, path),
                old::coverage(caps, grant, path),
                "coverage of {:?} by {:?}",
                path,
                grant
            );
            if grant.kind == FsKind::Dir && path.starts_with(&grant.path) {
                let clean = crate::paths::is_clean(path.as_os_str().as_bytes());
                match coverage_by_lookup(caps, &index, grant, path) {
                    Some(looked) => {
                        stats.looked_up_no += usize::from(looked == Coverage::No);
                        stats.looked_up_covers += usize::from(looked == Coverage::Covers);
                        stats.looked_up_blocked +=
                            usize::from(matches!(looked, Coverage::Blocked(_)));
                        prop_assert_eq!(&looked, &want, "looked up: {:?} by {:?}", path, grant);
                    }
                    None => stats.unclean_fallbacks += usize::from(!clean),
                }
            }
            match &want {
                Coverage::Blocked(Rule::NewEntryInSpine { .. }) => stats.new_entry += 1,
                Coverage::Blocked(_) => stats.blocked += 1,
                _ => {}
            }
        }
        for op in [AccessMode::Read, AccessMode::Write, AccessMode::ReadWrite] {
            let want = old::explain_canonical(caps, path, op);
            prop_assert_eq!(&explain_canonical(caps, path, op), &want);
            prop_assert_eq!(&model.explain_canonical(caps, path, op), &want);
        }
    }
    // What the run's report asks: would the flag it suggests for a refused path (a grant of
    // the directory, of the file, or of the parent of a missing path) work? The model asked
    // with the grants of the set plus that one answers as the set with the grant added.
    for rel in every_path() {
        let p = at(root, rel);
        let (target, kind) = match std::fs::metadata(&p) {
            Ok(m) if m.is_dir() => (p.clone(), FsKind::Dir),
            Ok(_) => (p.clone(), FsKind::File),
            Err(_) => (p.parent().unwrap_or(root).to_path_buf(), FsKind::Dir),
        };
        for op in [AccessMode::Read, AccessMode::Write, AccessMode::ReadWrite] {
            let Ok(grants) = caps.grants_with(&target, kind, op, "suggested") else {
                continue;
            };
            let mut with = caps.clone();
            match kind {
                FsKind::Dir => with.allow_dir(&target, op, "suggested"),
                FsKind::File => with.allow_file(&target, op, "suggested"),
            }
            .unwrap();
            prop_assert_eq!(with.grants(), grants.as_slice());
            let Ok(canonical) = crate::paths::canonicalize_for_grant(&p) else {
                continue;
            };
            stats.suggested += 1;
            prop_assert_eq!(
                model.explain_canonical_granted(caps, &grants, &canonical, op),
                old::explain_canonical(&with, &canonical, op),
                "{:?} for {:?} with the grant of {:?}",
                op,
                canonical,
                target
            );
        }
    }
    for rel in DIRS.iter().chain(FILES).chain(MISSING) {
        let p = at(root, rel);
        for access in [AccessMode::Read, AccessMode::Write, AccessMode::ReadWrite] {
            let carve = carve_spine_in(caps, &index, &p, access);
            stats.spines += usize::from(!carve.spine.is_empty());
            prop_assert_eq!(
                carve,
                old::carve_spine(caps, &p, access),
                "spine of {:?} for {:?}",
                p,
                access
            );
        }
    }
    // The plan lists the spine directories: with `/` granted those include the temporary
    // directory, which other tests change meanwhile (the spines above are compared anyway).
    if !slash {
        let new = crate::linux::landlock::plan_fs_rules(caps).map_err(|e| e.to_string());
        stats.expanded_plans += usize::from(
            new.as_ref()
                .is_ok_and(|p| p.rules.iter().any(|r| r.expanded)),
        );
        let old = old::plan_fs_rules(caps).map_err(|e| e.to_string());
        let view = |p: Result<RulePlan, String>| {
            p.map(|p| {
                let mut rules: Vec<FsRule> = p.rules;
                rules.sort_by(|a, b| a.path.cmp(&b.path));
                (rules, p.notes)
            })
        };
        prop_assert_eq!(view(new), view(old));
    }
    Ok(())
}

/// Random sets over the fixture: the indexed model, effective grants, spines and plan answer
/// as the scans did; and the sets reach what the indexes decide (spines, blocked paths,
/// derived read grants, answers looked up along the path, expanded plans).
#[test]
fn indexed_model_answers_as_the_scans() {
    let _fixture = fixture();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 1500,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let stats = std::cell::RefCell::new(Stats::default());
    runner
        .run(
            &(
                prop::collection::vec(grant_spec(), 1..5),
                prop::collection::vec(deny_spec(), 0..20),
            ),
            |(grants, denies)| {
                let (caps, slash) = build(&grants, &denies);
                same_answers(&caps, slash, &mut stats.borrow_mut())
            },
        )
        .unwrap();
    let s = stats.into_inner();
    assert!(
        s.spines > 1000
            && s.blocked > 1000
            && s.new_entry > 100
            && s.derived > 100
            && s.looked_up_no > 1000
            && s.looked_up_covers > 1000
            && s.looked_up_blocked > 1000
            && s.suggested > 10000
            && s.expanded_plans > 100
            && s.unclean_fallbacks > 1000,
        "{s:?}"
    );
}

/// A name for the index tests: bytes that sort around `/` (`-`, `.`, `0`), a prefix of
/// another, a non-UTF-8 byte.
fn name() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(vec![
        b"a".to_vec(),
        b"ab".to_vec(),
        b"a-".to_vec(),
        b"a.".to_vec(),
        b"a0".to_vec(),
        b"b".to_vec(),
        b"\xff".to_vec(),
        b"a\xff".to_vec(),
        b"...".to_vec(),
    ])
}

/// A path beneath `idx` of the fixture's root (which does not exist, so a deny there is kept
/// as written) of 0 to 3 names.
fn rel() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(name(), 0..4)
}

fn beneath_idx(rel: &[Vec<u8>]) -> Vec<u8> {
    let mut p = root().join("idx").into_os_string().into_vec();
    for n in rel {
        p.push(b'/');
        p.extend_from_slice(n);
    }
    p
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 3000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// `clean_bases(p)` is exactly the prefixes `b` of `p` with `clean_within(p, b)`, for any
    /// bytes (unclean, relative, empty).
    #[test]
    fn clean_bases_are_what_clean_within_accepts(
        p in prop::collection::vec(prop::sample::select(vec![b'/', b'a', b'-', b'.', b'0', 0xff]), 0..12),
    ) {
        let path = Path::new(OsStr::from_bytes(&p));
        let bases: Vec<&[u8]> = crate::paths::clean_bases(path).collect();
        let want: Vec<&[u8]> = (0..=p.len())
            .map(|k| &p[..k])
            .filter(|b| crate::paths::clean_within(path, Path::new(OsStr::from_bytes(b))))
            .collect();
        prop_assert_eq!(bases, want);
    }

    /// `DenyIndex`'s lookups (`at`, `removing_beneath`, `strictly_within`) are the scans
    /// they replace, for denies of both kinds at paths that are prefixes of each other by
    /// bytes but not by components, asked about clean and unclean directories.
    #[test]
    fn deny_index_lookups_are_the_scans(
        denies in prop::collection::vec(
            (rel(), prop::sample::select(vec![DenyKind::All, DenyKind::Write])),
            0..16,
        ),
        queries in prop::collection::vec((rel(), 0usize..4), 1..16),
    ) {
        let mut caps = CapabilitySet::new();
        for (i, (r, kind)) in denies.iter().enumerate() {
            let path = PathBuf::from(OsString::from_vec(beneath_idx(r)));
            caps.deny_link_kind(&path, Origin::Group(format!("g{i}")), *kind).unwrap();
        }
        let index = DenyIndex::new(&caps);
        let ds = caps.denies();
        for (r, spelling) in &queries {
            let mut q = beneath_idx(r);
            match spelling {
                1 => q.push(b'/'),
                2 => {
                    let i = q.iter().rposition(|&b| b == b'/').unwrap();
                    q.insert(i, b'/');
                }
                3 => q = b"/".to_vec(),
                _ => {}
            }
            let dir = Path::new(OsStr::from_bytes(&q));
            let strictly = |d: &&DenyRule| {
                crate::paths::clean_within(&d.path, dir) && d.path.as_os_str().as_bytes() != q
            };
            let got: Vec<&Path> = index.strictly_within(ds, dir).map(|d| d.path.as_path()).collect();
            let want: Vec<&Path> = ds.iter().filter(strictly).map(|d| d.path.as_path()).collect();
            prop_assert_eq!(got, want, "strictly within {:?}", dir);
            for access in [AccessMode::Read, AccessMode::Write, AccessMode::ReadWrite] {
                prop_assert_eq!(
                    index.removing_beneath(ds, dir, access),
                    ds.iter().filter(strictly).any(|d| d.kind.removes(access)),
                    "beneath {:?} for {:?}",
                    dir,
                    access
                );
            }
            let got: Vec<*const DenyRule> = index.at(ds, &q).map(std::ptr::from_ref).collect();
            let want: Vec<*const DenyRule> = ds
                .iter()
                .filter(|d| d.path.as_os_str().as_bytes() == q)
                .map(std::ptr::from_ref)
                .collect();
            prop_assert_eq!(got, want, "at {:?}", dir);
        }
    }
}

/// `deny_links_kind` is `deny_link_kind` for each link in order (what is denied, with
/// which kind and origin, and the error that stops the batch), for links spelt clean and
/// unclean over the fixture (through symlinks, beneath a file, dangling), on a set that
/// already holds denies of both kinds.
#[test]
fn deny_links_kind_is_deny_link_kind_for_each() {
    let _fixture = fixture();
    proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 500,
        failure_persistence: None,
        ..ProptestConfig::default()
    })
    .run(
        &(
            prop::collection::vec(deny_spec(), 0..6),
            prop::collection::vec(
                (
                    0..usize::MAX,
                    0usize..4,
                    prop::sample::select(vec![DenyKind::All, DenyKind::Write]),
                ),
                0..12,
            ),
        ),
        |(before, links)| {
            let every = every_path();
            let spelt = |i: usize, spelling: usize| -> PathBuf {
                let rel = every[i % every.len()];
                let p = at(root(), rel).into_os_string().into_vec();
                let v = match spelling {
                    1 => [&p[..], b"/"].concat(),
                    2 => [&p[..], b"/."].concat(),
                    3 => rel.to_vec(),
                    _ => p,
                };
                PathBuf::from(OsString::from_vec(v))
            };
            let (base, _) = build(&[], &before);
            let links: Vec<(PathBuf, Origin, DenyKind)> = links
                .iter()
                .enumerate()
                .map(|(n, &(i, s, k))| (spelt(i, s), Origin::Group(format!("l{n}")), k))
                .collect();
            let mut one_by_one = base.clone();
            let mut sequential_error = None;
            for (p, o, k) in &links {
                if let Err(e) = one_by_one.deny_link_kind(p, o.clone(), *k) {
                    sequential_error = Some(e.to_string());
                    break;
                }
            }
            let mut batch = base;
            let batch_error = batch
                .deny_links_kind(links.iter().map(|(p, o, k)| (p, o.clone(), *k)))
                .err()
                .map(|e| e.to_string());
            prop_assert_eq!(batch_error, sequential_error);
            let view = |c: &CapabilitySet| {
                c.denies()
                    .iter()
                    .map(|d| (d.path.clone(), d.origin.clone(), d.kind, d.seen))
                    .collect::<Vec<_>>()
            };
            prop_assert_eq!(view(&batch), view(&one_by_one));
            Ok(())
        },
    )
    .unwrap();
}

/// Names of the deep fixture: each sorts next to the others around `/` by bytes.
const DEEP_NAMES: [&str; 5] = ["a", "a-", "a.", "a0", "b"];

/// Every directory of the deep fixture (three levels of [`DEEP_NAMES`], 155 directories),
/// relative, beneath the fixture's root.
fn deep() -> &'static [String] {
    static DEEP: OnceLock<Vec<String>> = OnceLock::new();
    DEEP.get_or_init(|| {
        let mut out = Vec::new();
        let mut level = vec![String::from("deep")];
        for _ in 0..3 {
            level = level
                .iter()
                .flat_map(|p| DEEP_NAMES.iter().map(move |n| format!("{p}/{n}")))
                .collect();
            out.extend(level.iter().cloned());
        }
        out
    })
}

/// Many denies (up to 60, of both kinds, nested at every level, with missing children)
/// among directories whose names are byte-prefix siblings: the sorted ranges hold many
/// paths that share a prefix by bytes but not by components. The indexed model, spines
/// and plan answer as the scans did.
#[test]
fn many_nested_denies_answer_as_the_scans() {
    let _fixture = fixture();
    proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 800,
        failure_persistence: None,
        ..ProptestConfig::default()
    })
    .run(
        &(
            prop::collection::vec((0usize..155, access()), 1..4),
            prop::collection::vec(
                (
                    0usize..155,
                    prop::sample::select(vec![DenyKind::All, DenyKind::Write]),
                    any::<bool>(),
                ),
                0..60,
            ),
        ),
        |(grants, denies)| {
            let dirs = deep();
            let mut caps = CapabilitySet::new();
            // Grants high in the tree (their index over a smaller range) reach more denies.
            for (i, a) in &grants {
                caps.allow_dir(root().join(&dirs[i % 30]), *a, "--allow")
                    .unwrap();
            }
            for (n, (i, kind, missing)) in denies.iter().enumerate() {
                let p = root().join(&dirs[*i]);
                let p = if *missing { p.join("missing") } else { p };
                caps.deny_kind(p, Origin::Group(format!("g{n}")), *kind)
                    .unwrap();
            }
            let (effective, dropped) = effective_grants_with_dropped(&caps);
            let (old_effective, old_dropped) = old::effective_grants_with_dropped(&caps);
            prop_assert_eq!(&effective, &old_effective);
            prop_assert_eq!(&dropped, &old_dropped);
            let index = DenyIndex::new(&caps);
            let model = Model::new(&caps);
            for d in dirs {
                let p = root().join(d);
                for access in [AccessMode::Read, AccessMode::Write, AccessMode::ReadWrite] {
                    prop_assert_eq!(
                        carve_spine_in(&caps, &index, &p, access),
                        old::carve_spine(&caps, &p, access)
                    );
                    let want = old::explain_canonical(&caps, &p, access);
                    prop_assert_eq!(&model.explain_canonical(&caps, &p, access), &want);
                    let new = p.join("new");
                    let want = old::explain_canonical(&caps, &new, access);
                    prop_assert_eq!(&model.explain_canonical(&caps, &new, access), &want);
                }
            }
            let view = |p: Result<RulePlan, String>| {
                p.map(|p| {
                    let mut rules: Vec<FsRule> = p.rules;
                    rules.sort_by(|a, b| a.path.cmp(&b.path));
                    (rules, p.notes)
                })
            };
            prop_assert_eq!(
                view(crate::linux::landlock::plan_fs_rules(&caps).map_err(|e| e.to_string())),
                view(old::plan_fs_rules(&caps).map_err(|e| e.to_string()))
            );
            Ok(())
        },
    )
    .unwrap();
}

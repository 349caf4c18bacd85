//! Landlock: a `CapabilitySet` turned into a ruleset (fs, TCP, scopes) and enforced on the calling thread.
//!
//! # Rights mapping
//! | [`AccessMode`] | Landlock filesystem rights |
//! |---|---|
//! | `Read`  | `EXECUTE`, `READ_FILE`, `READ_DIR` |
//! | `Write` | `WRITE_FILE`, `TRUNCATE` (ABI 3), `IOCTL_DEV` (ABI 5), `REMOVE_DIR`, `REMOVE_FILE`, `MAKE_DIR`, `MAKE_REG`, `MAKE_SOCK`, `MAKE_FIFO`, `MAKE_SYM`, `REFER` (ABI 2) |
//! | `ReadWrite` | both |
//! | (none) | `MAKE_CHAR`, `MAKE_BLOCK` |
//!
//! Every right above is *handled* (denied unless a rule grants it), whatever the grants are
//! ([`HANDLED_RIGHTS`]). No grant carries `MAKE_CHAR`/`MAKE_BLOCK`: Landlock judges a new
//! device node by its path, not by the device, so root (with `CAP_MKNOD`) could otherwise
//! make `kmsg` or a raw disk appear inside any write grant and open the device through it.
//! No sandboxed program needs to create device nodes; FIFOs and sockets stay.
//! A rule on a non-directory keeps only the rights that apply to files (`EXECUTE`,
//! `READ_FILE`, `WRITE_FILE`, `TRUNCATE`, `IOCTL_DEV`): a file grant never lets the file be
//! deleted or replaced, which needs rights on its directory.
//!
//! `REFER` comes with `Write` only, so a rename or link across directories works only when
//! both the source and the destination are under write grants (Landlock requires `REFER` on
//! both sides, and also refuses a move that would give the file more rights than it had).
//! `IOCTL_DEV` comes with `Write`: a read-only grant on `/dev` lets a program open and read a
//! device, not reconfigure it. Files opened before the sandbox (stdin, a tty) are not affected.
//!
//! Network: [`NetworkMode::Allow`] handles no network right; `Block` handles `BIND_TCP` and
//! `CONNECT_TCP` with no rule; `Ports` handles both with one rule per listed port. UDP, ICMP
//! and raw sockets are outside Landlock's TCP rules: seccomp's socket-family filter covers them.
//!
//! Audit (ABI 7): `LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON` is set when available, so denials
//! of the exec'd program reach the audit log (Landlock only logs denials before `exec` by
//! default).
//!
//! Scopes (ABI 6): `Scopes::signal` → `LANDLOCK_SCOPE_SIGNAL`, `Scopes::abstract_unix_socket`
//! → `LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET`.
//!
//! Deny carve-outs are enforced by expanding grants around them (see [the `explain` module](mod@crate::explain));
//! [`plan_fs_rules`] computes the resulting rules from the same helpers `explain` uses.
//!
//! # References
//! - <https://docs.kernel.org/userspace-api/landlock.html>
//! - [landlock_create_ruleset(2)](https://man7.org/linux/man-pages/man2/landlock_create_ruleset.2.html)

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsStr;
use std::os::fd::{AsFd as _, OwnedFd};
use std::path::{Path, PathBuf};

use landlock::{
    make_bitflags, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, NetPort, PathBeneath,
    Ruleset, RulesetAttr, RulesetCreated, RulesetCreatedAttr, Scope,
};
use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};

use crate::caps::{AccessMode, CapabilitySet, Compat, FsKind, NetworkMode, Seen};
use crate::explain::{carve_spine_in, effective_grants_with_dropped, DenyIndex};
use crate::support::{EnforcementStatus, LandlockSupport, Protection};

/// Rights a `Read` grant gives.
pub const READ_RIGHTS: BitFlags<AccessFs> =
    make_bitflags!(AccessFs::{Execute | ReadFile | ReadDir});

/// Rights a `Write` grant gives (no device nodes: see the module docs).
pub const WRITE_RIGHTS: BitFlags<AccessFs> = make_bitflags!(AccessFs::{
    WriteFile | Truncate | IoctlDev | RemoveDir | RemoveFile | MakeDir | MakeReg
        | MakeSock | MakeFifo | MakeSym | Refer
});

/// Rights no grant gives: creating character and block device nodes.
pub const NEVER_GRANTED_RIGHTS: BitFlags<AccessFs> =
    make_bitflags!(AccessFs::{MakeChar | MakeBlock});

/// Every right the ruleset handles (denies unless a rule grants it).
pub const HANDLED_RIGHTS: BitFlags<AccessFs> = READ_RIGHTS
    .union_c(WRITE_RIGHTS)
    .union_c(NEVER_GRANTED_RIGHTS);

/// Rights that apply to a non-directory (the kernel refuses others on a file rule).
pub const FILE_RIGHTS: BitFlags<AccessFs> =
    make_bitflags!(AccessFs::{Execute | ReadFile | WriteFile | Truncate | IoctlDev});

/// The Landlock filesystem rights for an access mode.
#[must_use]
pub fn rights_for(access: AccessMode) -> BitFlags<AccessFs> {
    let mut r = BitFlags::EMPTY;
    if access.reads() {
        r |= READ_RIGHTS;
    }
    if access.writes() {
        r |= WRITE_RIGHTS;
    }
    r
}

/// One Landlock path rule after carve-out expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsRule {
    /// Canonical path the rule is attached to.
    pub path: PathBuf,
    /// Access granted beneath it (union of the grants that produced it).
    pub access: AccessMode,
    /// Whether the rule only comes from expanding grants around a carve-out (an entry of a
    /// spine directory). Such an entry may vanish or become a symlink before the ruleset is
    /// built; it is then skipped (it is simply not covered), where a missing grant is an
    /// error.
    pub expanded: bool,
}

/// The filesystem rules for a capability set, after carve-out expansion.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RulePlan {
    /// Rules, sorted by path.
    pub rules: Vec<FsRule>,
    /// Caveats worth showing the user (hard links to denied files, expanded grants).
    pub notes: Vec<String>,
    /// Per rule (same index as `rules`), whether the planner saw a directory there (a
    /// directory grant, or a directory entry's type while expanding around a carve-out). Only
    /// a hint for [`build_ruleset`] to open the path as a directory first (no `fstat` when it
    /// still is one); what is there when the ruleset is built decides the rule, as without
    /// the hint. Missing entries mean "not known".
    pub dir_hints: Vec<bool>,
}

/// Errors turning capabilities into Landlock rules.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LandlockError {
    /// A directory on the way to a carve-out could not be listed, so the grant around the
    /// carve-out cannot be expanded.
    #[error(
        "cannot carve {} out of grant {}: listing {} failed: {source} \
         (remove the deny or the grant, or make the directory listable)",
        deny.display(), grant.display(), dir.display()
    )]
    CarveOut {
        /// The grant being expanded.
        grant: PathBuf,
        /// The carve-out.
        deny: PathBuf,
        /// The directory that could not be listed.
        dir: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A rule's path could not be opened.
    #[error("{}: open(O_PATH) for a Landlock rule failed: {source} (does the path still exist?)", path.display())]
    Open {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: rustix::io::Errno,
    },
    /// A granted path, or a directory on its way, was replaced by a symlink after it was
    /// canonicalised.
    #[error("{}: it or a directory on its way is now a symlink (it changed after the grant was resolved: is a sandboxed process replacing it?); nothing was started — run again once it is stable", path.display())]
    BecameSymlink {
        /// The path.
        path: PathBuf,
    },
    /// The kernel refused a path rule (`landlock_add_rule`).
    #[error("{}: landlock_add_rule failed: {source}", path.display())]
    AddRule {
        /// The rule's path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: rustix::io::Errno,
    },
    /// The ruleset's descriptor could not be duplicated for adding path rules.
    #[error("landlock ruleset: duplicating its descriptor (dup) failed: {source}")]
    RulesetFd {
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The `landlock` crate refused the ruleset (a requested feature is missing in strict
    /// mode, or a syscall failed).
    #[error("landlock ruleset: {step} failed: {source}")]
    Ruleset {
        /// Which step: `handle_access`, `create`, `add_rule`, `scope`.
        step: &'static str,
        /// The underlying error.
        #[source]
        source: landlock::RulesetError,
    },
}

/// Compute the Landlock path rules for `caps`, expanding grants around deny carve-outs.
pub fn plan_fs_rules(caps: &CapabilitySet) -> Result<RulePlan, LandlockError> {
    let mut notes = Vec::new();
    let mut rules: BTreeMap<RuleKey, (AccessMode, bool, bool)> = BTreeMap::new();
    let mut add = |path: PathBuf, access: AccessMode, expanded: bool, dir: bool| {
        rules
            .entry(RuleKey::new(path))
            .and_modify(|(a, e, d)| {
                *a = a.union(access);
                *e &= expanded;
                *d |= dir;
            })
            .or_insert((access, expanded, dir));
    };
    let (effective, dropped) = effective_grants_with_dropped(caps);
    // One index for the spines of every grant (thousands with the read grants of as many
    // read-only carve-outs: see `DenyIndex`).
    let index = DenyIndex::new(caps);
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
            && !std::fs::symlink_metadata(&grant.path).is_ok_and(|m| !m.file_type().is_symlink())
        {
            continue;
        }
        if grant.kind == FsKind::File {
            add(grant.path.clone(), grant.access, derived, false);
            continue;
        }
        let carve = carve_spine_in(caps, &index, &grant.path, grant.access);
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
            let entries = std::fs::read_dir(dir).map_err(|source| LandlockError::CarveOut {
                grant: grant.path.clone(),
                deny: carve.denies.first().cloned().unwrap_or_default(),
                dir: dir.clone(),
                source,
            })?;
            for entry in entries {
                let entry = entry.map_err(|source| LandlockError::CarveOut {
                    grant: grant.path.clone(),
                    deny: carve.denies.first().cloned().unwrap_or_default(),
                    dir: dir.clone(),
                    source,
                })?;
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
                path: key.path,
                access,
                expanded,
            })
            .collect(),
        notes,
        dir_hints,
    })
}

/// A rule's path as the key of [`plan_fs_rules`]' map: ordered exactly as `Path` orders
/// (component by component), but for two clean paths (canonical ones: absolute, no empty, `.`
/// or `..` component, no trailing slash) in one pass over the bytes, with `/` below every
/// other byte: the components contain no `/` and are not empty, so the first differing byte
/// decides as the first differing component would (a component that is a prefix of the
/// other ends with `/` or the path's end, both lower). `Path`'s own comparison splits the
/// rest of both paths into components from the first difference on, the bulk of planning
/// the ~140 `/etc` entries of an expanded grant. Any other path compares as `Path` does.
#[derive(Debug)]
struct RuleKey {
    path: PathBuf,
    clean: bool,
}

impl RuleKey {
    fn new(path: PathBuf) -> RuleKey {
        let clean = crate::paths::is_clean(path.as_os_str().as_encoded_bytes());
        RuleKey { path, clean }
    }
}

/// `a.cmp(b)` of two clean paths' bytes in `Path`'s order (see [`RuleKey`]).
fn clean_path_cmp(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let rank = |c: u8| if c == b'/' { 0 } else { u16::from(c) + 1 };
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(i) => rank(a[i]).cmp(&rank(b[i])),
        None => a.len().cmp(&b.len()),
    }
}

impl Ord for RuleKey {
    fn cmp(&self, other: &RuleKey) -> std::cmp::Ordering {
        if self.clean && other.clean {
            clean_path_cmp(
                self.path.as_os_str().as_encoded_bytes(),
                other.path.as_os_str().as_encoded_bytes(),
            )
        } else {
            self.path.cmp(&other.path)
        }
    }
}

impl PartialOrd for RuleKey {
    fn partial_cmp(&self, other: &RuleKey) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for RuleKey {
    fn eq(&self, other: &RuleKey) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for RuleKey {}

fn join_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Open `path` as an `O_PATH` fd without following any symlink; `None` for a symlink in the
/// last component.
///
/// The capability set's paths are canonical: resolved when they were added, so symlink-free.
/// `RESOLVE_NO_SYMLINKS` keeps them so: a directory on the way that became a symlink since
/// (swapped by a sandboxed process of another run) fails with `ELOOP` instead of leading the
/// rule somewhere nobody checked.
///
/// With `dir_hint` (the planner saw a directory) the path is first opened with `O_DIRECTORY`
/// as well, which succeeds only on a directory (a symlink in the last component, a file or
/// anything else gives `ENOTDIR`): then it is one, as the `fstat` would say, and that call
/// is saved. Any failure of that first open falls back to the open below, so a wrong or
/// stale hint costs one syscall and changes nothing.
fn open_rule_target(path: &Path, dir_hint: bool) -> Result<Option<(OwnedFd, bool)>, LandlockError> {
    if dir_hint {
        if let Ok(fd) = rustix::fs::openat2(
            rustix::fs::CWD,
            path,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::DIRECTORY,
            Mode::empty(),
            ResolveFlags::NO_SYMLINKS,
        ) {
            return Ok(Some((fd, true)));
        }
    }
    let fd = rustix::fs::openat2(
        rustix::fs::CWD,
        path,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::NO_SYMLINKS,
    )
    .map_err(|source| LandlockError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let st = rustix::fs::fstat(&fd).map_err(|source| LandlockError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    match FileType::from_raw_mode(st.st_mode) {
        FileType::Symlink => Ok(None),
        FileType::Directory => Ok(Some((fd, true))),
        _ => Ok(Some((fd, false))),
    }
}

/// How many rule descriptors [`build_ruleset`] holds open before closing them together (with
/// what a process has open anyway, within [`RULE_FD_SLOTS`](crate::linux::RULE_FD_SLOTS)).
pub(crate) const HELD_RULE_FDS: usize = 256;

/// Build the Landlock ruleset for `caps`, recording into `status` what is and is not enforced
/// (and the number of path rules added, in `status.fs_rules`). The ruleset is created, not yet
/// enforced; its fd is close-on-exec, and `landlock_restrict_self` can use it many times.
/// In strict mode the `landlock` crate is asked for hard requirements (the caller has already
/// turned a missing feature into an error, see [`requested_protections`]); in best-effort mode
/// the crate drops what the kernel lacks.
pub fn build_ruleset(
    caps: &CapabilitySet,
    plan: &RulePlan,
    status: &mut EnforcementStatus,
) -> Result<RulesetCreated, LandlockError> {
    build_ruleset_recording(caps, plan, status, &mut Vec::new())
}

/// [`build_ruleset`], also appending to `added` every path rule the ruleset got (the plan's
/// rules less those skipped because they vanished or became symlinks): exactly the paths
/// Landlock will let the sandbox reach, with their access.
pub fn build_ruleset_recording(
    caps: &CapabilitySet,
    plan: &RulePlan,
    status: &mut EnforcementStatus,
    added: &mut Vec<FsRule>,
) -> Result<RulesetCreated, LandlockError> {
    let level = match caps.compat() {
        Compat::Strict => CompatLevel::HardRequirement,
        Compat::BestEffort => CompatLevel::BestEffort,
    };
    let err = |step| move |source| LandlockError::Ruleset { step, source };
    let mut ruleset = Ruleset::default()
        .set_compatibility(level)
        .handle_access(HANDLED_RIGHTS)
        .map_err(err("handle_access(fs)"))?;
    if *caps.network() != NetworkMode::Allow {
        ruleset = ruleset
            .handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp)
            .map_err(err("handle_access(net)"))?;
    }
    let scopes = caps.scopes();
    let mut scope_flags: BitFlags<Scope> = BitFlags::EMPTY;
    if scopes.signal {
        scope_flags |= Scope::Signal;
    }
    if scopes.abstract_unix_socket {
        scope_flags |= Scope::AbstractUnixSocket;
    }
    if !scope_flags.is_empty() {
        ruleset = ruleset.scope(scope_flags).map_err(err("scope"))?;
    }
    let mut created = ruleset.create().map_err(err("create"))?;
    // With every right of `HANDLED_RIGHTS` known to the kernel (Landlock ABI 5 or newer) the
    // ruleset handles exactly them, and a path rule goes straight to the kernel
    // (`landlock_rule`): the `landlock` crate would only look at the fd's file type a second
    // time. Below ABI 5 (best-effort mode only) the crate trims the rights to what the kernel
    // knows, so the rules go through it.
    let direct: Option<OwnedFd> = if status.landlock_abi >= 5 {
        created
            .try_clone()
            .map_err(|source| LandlockError::RulesetFd { source })?
            .into()
    } else {
        None
    };
    let mut fs_rules = 0;
    // The rules' O_PATH descriptors on the direct path, closed together (`close_owned`: one
    // `close_range` per run of numbers instead of a `close` per rule). At most
    // `HELD_RULE_FDS` are held at once, and all are closed before an open is retried that
    // failed for lack of descriptors, so a low `RLIMIT_NOFILE` works as without holding.
    let mut held: Vec<OwnedFd> = Vec::new();
    for (i, rule) in plan.rules.iter().enumerate() {
        let dir_hint = plan.dir_hints.get(i).copied().unwrap_or(false);
        if held.len() >= HELD_RULE_FDS {
            crate::linux::fds::close_owned(std::mem::take(&mut held));
        }
        let mut opened = open_rule_target(&rule.path, dir_hint);
        if matches!(
            opened,
            Err(LandlockError::Open {
                source: rustix::io::Errno::MFILE | rustix::io::Errno::NFILE,
                ..
            })
        ) && !held.is_empty()
        {
            crate::linux::fds::close_owned(std::mem::take(&mut held));
            opened = open_rule_target(&rule.path, dir_hint);
        }
        let target = match opened {
            Ok(Some(t)) => Some(t),
            Ok(None)
            | Err(LandlockError::Open {
                source: rustix::io::Errno::LOOP,
                ..
            }) if !rule.expanded => {
                return Err(LandlockError::BecameSymlink {
                    path: rule.path.clone(),
                })
            }
            Ok(None) => None,
            Err(LandlockError::Open {
                source: rustix::io::Errno::NOENT | rustix::io::Errno::LOOP,
                ..
            }) if rule.expanded => None,
            Err(e) => return Err(e),
        };
        let Some((fd, is_dir)) = target else {
            status.notes.push(format!(
                "{} vanished or became a symlink while the sandbox was built: not covered",
                rule.path.display()
            ));
            continue;
        };
        let mut rights = rights_for(rule.access);
        if !is_dir {
            rights &= FILE_RIGHTS;
        }
        match &direct {
            Some(ruleset_fd) => {
                crate::linux::landlock_rule::add_path_beneath(
                    ruleset_fd.as_fd(),
                    fd.as_fd(),
                    rights,
                )
                .map_err(|source| LandlockError::AddRule {
                    path: rule.path.clone(),
                    source,
                })?;
                held.push(fd);
            }
            None => {
                created = created
                    .add_rule(PathBeneath::new(fd, rights))
                    .map_err(err("add_rule(path)"))?;
            }
        }
        fs_rules += 1;
        added.push(rule.clone());
    }
    crate::linux::fds::close_owned(held);
    if let NetworkMode::Ports { connect, bind } = caps.network() {
        for &port in connect {
            created = created
                .add_rule(NetPort::new(port, AccessNet::ConnectTcp))
                .map_err(err("add_rule(connect port)"))?;
        }
        for &port in bind {
            created = created
                .add_rule(NetPort::new(port, AccessNet::BindTcp))
                .map_err(err("add_rule(bind port)"))?;
        }
    }
    // ABI 7: also audit-log denials of the exec'd program (off by default; Landlock logs only
    // denials before exec otherwise). Only asked for when present, so never a compat error.
    if status.landlock_abi >= 7 {
        created = created.log_new_exec(true).map_err(err("log_new_exec"))?;
    }
    status.fs_rules = fs_rules;
    status.notes.extend(plan.notes.iter().cloned());
    Ok(created)
}

/// The protections `caps` asks of Landlock, each with whether the kernel offers it.
#[must_use]
pub fn requested_protections(
    caps: &CapabilitySet,
    ll: &LandlockSupport,
) -> Vec<(Protection, bool, &'static str)> {
    let mut v = vec![
        (
            Protection::Filesystem,
            ll.fs,
            "Landlock filesystem rights (ABI 1)",
        ),
        (
            Protection::Truncate,
            ll.truncate,
            "Landlock TRUNCATE (ABI 3)",
        ),
        (
            Protection::IoctlDev,
            ll.ioctl_dev,
            "Landlock IOCTL_DEV (ABI 5)",
        ),
    ];
    // Without REFER (ABI 1) Landlock refuses every cross-directory rename/link: stricter, not
    // a gap.
    v.push((
        Protection::Refer,
        ll.fs,
        if ll.refer {
            "Landlock REFER (ABI 2)"
        } else {
            "Landlock ABI 1: cross-directory rename/link always refused"
        },
    ));
    if *caps.network() != NetworkMode::Allow {
        v.push((
            Protection::TcpConnect,
            ll.tcp,
            "Landlock CONNECT_TCP (ABI 4)",
        ));
        v.push((Protection::TcpBind, ll.tcp, "Landlock BIND_TCP (ABI 4)"));
    }
    if caps.scopes().signal {
        v.push((
            Protection::SignalScope,
            ll.scopes,
            "Landlock SCOPE_SIGNAL (ABI 6)",
        ));
    }
    if caps.scopes().abstract_unix_socket {
        v.push((
            Protection::AbstractUnixSocketScope,
            ll.scopes,
            "Landlock SCOPE_ABSTRACT_UNIX_SOCKET (ABI 6)",
        ));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;
    use crate::Origin;

    fn tree() -> Scratch {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = Scratch::new(&format!("nono-ll-{}-{n}", std::process::id()));
        std::fs::create_dir_all(dir.join("g/a/b")).unwrap();
        std::fs::write(dir.join("g/f"), b"x").unwrap();
        std::fs::write(dir.join("g/a/secret"), b"x").unwrap();
        std::fs::write(dir.join("g/a/ok"), b"x").unwrap();
        std::os::unix::fs::symlink("/etc", dir.join("g/a/link")).unwrap();
        dir
    }

    /// What `build_ruleset` does with each kind of rule target, on the direct path (ABI 5 or
    /// newer: rules straight to the kernel) and through the `landlock` crate (below ABI 5):
    /// a directory and a file (its rights trimmed) are added; an expanded entry that became a
    /// symlink or vanished is skipped with a note; a granted path that became a symlink, or
    /// whose parent did, is refused.
    #[test]
    fn build_ruleset_adds_skips_and_refuses_the_same_way_on_both_paths() {
        let dir = tree();
        std::fs::create_dir(dir.join("real")).unwrap();
        std::os::unix::fs::symlink(dir.join("real"), dir.join("dirlink")).unwrap();
        let rule = |p: &str, expanded: bool| FsRule {
            path: dir.join(p),
            access: AccessMode::ReadWrite,
            expanded,
        };
        // Every rule hinted a directory (the hint is wrong for the file, the symlinks and the
        // missing entry: the open without O_DIRECTORY decides), or none.
        let plan = |rules: Vec<FsRule>, hint: bool| RulePlan {
            dir_hints: vec![hint; rules.len()],
            rules,
            notes: Vec::new(),
        };
        let mut caps = CapabilitySet::new();
        caps.set_compat(Compat::BestEffort);
        let have = crate::support::landlock_support().abi;
        for (abi, hint) in [
            (have, false),
            (have, true),
            (have.min(4), false),
            (have.min(4), true),
        ] {
            let mut status = EnforcementStatus::new(Compat::BestEffort, abi);
            let ok = plan(
                vec![
                    rule("g", false),
                    rule("g/f", false),
                    rule("g/a/link", true),
                    rule("g/a/gone", true),
                ],
                hint,
            );
            let built = build_ruleset(&caps, &ok, &mut status);
            if have == 0 {
                continue;
            }
            built.unwrap();
            assert_eq!(status.fs_rules, 2, "abi {abi}");
            let skipped: Vec<_> = status
                .notes
                .iter()
                .filter(|n| n.contains("vanished or became a symlink"))
                .collect();
            assert_eq!(skipped.len(), 2, "abi {abi}: {:?}", status.notes);
            for bad in [rule("g/a/link", false), rule("dirlink/x", false)] {
                let mut status = EnforcementStatus::new(Compat::BestEffort, abi);
                let err = build_ruleset(&caps, &plan(vec![bad], hint), &mut status).unwrap_err();
                assert!(
                    matches!(err, LandlockError::BecameSymlink { .. }),
                    "abi {abi}: {err}"
                );
            }
        }
    }

    /// The hard-link note is the same whether the deny rule was resolved by `deny_many`
    /// (which remembers what its `lstat` saw) or by `deny` (the planner looks itself): a
    /// file with two links gets it; a missing path, a directory, a single link do not.
    #[test]
    fn hard_link_notes_do_not_depend_on_how_the_deny_was_resolved() {
        let dir = tree();
        std::fs::hard_link(dir.join("g/a/secret"), dir.join("g/secret2")).unwrap();
        let denies = [
            "g/a/secret",
            "g/a/ok",
            "g/a/b",
            "g/a/missing",
            "g/nope/deeper",
        ];
        let notes = |many: bool| {
            let mut caps = CapabilitySet::new();
            caps.allow_dir(dir.join("g"), AccessMode::Read, "test")
                .unwrap();
            if many {
                caps.deny_many(denies.iter().map(|d| (dir.join(d), Origin::from("test"))))
                    .unwrap();
                assert!(caps.denies().iter().all(|d| d.seen != Seen::Unknown));
            } else {
                for d in denies {
                    caps.deny(dir.join(d), "test").unwrap();
                }
                assert!(caps.denies().iter().all(|d| d.seen == Seen::Unknown));
            }
            let mut notes: Vec<String> = plan_fs_rules(&caps)
                .unwrap()
                .notes
                .into_iter()
                .filter(|n| n.contains("hard links"))
                .collect();
            notes.sort();
            notes
        };
        let (many, one_by_one) = (notes(true), notes(false));
        assert_eq!(many, one_by_one);
        assert_eq!(many.len(), 1, "{many:?}");
        assert!(many[0].contains("g/a/secret") && many[0].contains("has 2 hard links"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The planner's key orders paths exactly as `Path` does: clean ones in one pass over the
    /// bytes (separators, prefixes, bytes below and above `/`, non-UTF-8), others (and mixed
    /// pairs) by `Path` itself.
    #[test]
    fn rule_keys_order_as_paths_do() {
        use std::os::unix::ffi::OsStrExt as _;
        let raw: &[&[u8]] = &[
            b"/",
            b"/a",
            b"/a/b",
            b"/a/b/c",
            b"/a-b",
            b"/a.b",
            b"/a b",
            b"/a0",
            b"/ab",
            b"/a/bc",
            b"/a/b-c",
            b"/b",
            b"/etc",
            b"/etc/ssl",
            b"/etc/ssl-x",
            b"/etc/ssl/private",
            b"/etc.d",
            b"/\xff",
            b"/a/\xfe/x",
            b"/a/\x01",
            // Not clean: compared as `Path` compares them.
            b"/a/",
            b"/a//b",
            b"/a/./b",
            b"a/b",
            b"/a/../b",
        ];
        let paths: Vec<PathBuf> = raw
            .iter()
            .map(|b| PathBuf::from(OsStr::from_bytes(b)))
            .collect();
        for a in &paths {
            for b in &paths {
                let (ka, kb) = (RuleKey::new(a.clone()), RuleKey::new(b.clone()));
                assert_eq!(ka.cmp(&kb), a.cmp(b), "{a:?} vs {b:?}");
                assert_eq!(ka == kb, a == b, "{a:?} == {b:?}");
            }
        }
    }

    #[test]
    fn rights_mapping() {
        assert!(rights_for(AccessMode::Read).contains(AccessFs::ReadDir | AccessFs::Execute));
        assert!(!rights_for(AccessMode::Read).contains(AccessFs::WriteFile));
        assert!(rights_for(AccessMode::Write).contains(AccessFs::Refer | AccessFs::Truncate));
        assert!(!rights_for(AccessMode::Write).intersects(READ_RIGHTS));
        assert_eq!(
            rights_for(AccessMode::ReadWrite),
            READ_RIGHTS | WRITE_RIGHTS
        );
        // Device nodes: handled (so denied) but never granted.
        assert!(!rights_for(AccessMode::ReadWrite).intersects(NEVER_GRANTED_RIGHTS));
        assert!(HANDLED_RIGHTS.contains(AccessFs::MakeChar | AccessFs::MakeBlock));
        assert!(HANDLED_RIGHTS.contains(AccessFs::MakeFifo | AccessFs::MakeSock));
    }

    #[test]
    fn plan_expands_around_a_carve_out_and_skips_symlinks() {
        let t = tree();
        let mut caps = CapabilitySet::new();
        caps.allow_dir(t.join("g"), AccessMode::ReadWrite, "--allow g")
            .unwrap();
        caps.deny(t.join("g/a/secret"), "group test").unwrap();
        let plan = plan_fs_rules(&caps).unwrap();
        let paths: Vec<_> = plan.rules.iter().map(|r| r.path.clone()).collect();
        assert_eq!(
            paths,
            vec![t.join("g/a/b"), t.join("g/a/ok"), t.join("g/f")]
        );
        assert!(
            plan.notes.iter().any(|n| n.contains("expanded")),
            "{plan:?}"
        );
    }

    #[test]
    fn plan_merges_rules_on_the_same_path() {
        let t = tree();
        let mut caps = CapabilitySet::new();
        caps.allow_dir(t.join("g"), AccessMode::Read, "--read g")
            .unwrap();
        caps.allow_dir(t.join("g/a"), AccessMode::Write, "--write a")
            .unwrap();
        caps.deny(t.join("g/a/secret"), "group test").unwrap();
        let plan = plan_fs_rules(&caps).unwrap();
        let ok = plan
            .rules
            .iter()
            .find(|r| r.path == t.join("g/a/ok"))
            .unwrap();
        assert_eq!(ok.access, AccessMode::ReadWrite);
        assert!(plan.rules.iter().all(|r| r.path != t.join("g/a")));
    }
}

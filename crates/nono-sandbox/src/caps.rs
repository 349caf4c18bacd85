//! `CapabilitySet`: what a sandboxed process may touch — filesystem grants, deny carve-outs,
//! network mode and IPC scopes — with paths canonicalised when they are added.
//!
//! # Merging rules
//! - Two grants on the same canonical path merge into one with the union of their access
//!   (`Read` + `Write` = `ReadWrite`); the first grant's origin is kept and the second's is
//!   added to its list ([`Origins`], shown as `"--read /x, --write /x"`).
//! - A path is a directory grant or a file grant, decided by what it is on disk:
//!   `allow_dir` on a file or `allow_file` on a directory is an error that says which flag to
//!   use instead.
//! - Deny carve-outs are kept apart from grants and always win over them (see `explain`).
//!   A carve-out takes away every access ([`DenyKind::All`]) or only writing
//!   ([`DenyKind::Write`]: what the grants allow to read stays readable — a tool's own
//!   configuration such as `~/.gitconfig`, which code outside the sandbox runs). The same path
//!   denied both ways keeps the stronger carve-out. A deny path need not exist (a credential directory the user does not have); it is then
//!   stored as its parent's canonical path joined with the remaining components.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::path::{Component, Path, PathBuf};

pub use crate::caps_error::CapsError;
use crate::paths::canonicalize_for_grant;

pub use nono_wire::AccessMode;

/// Whether a grant covers one file or a whole directory tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FsKind {
    /// The directory and everything beneath it.
    Dir,
    /// Exactly this file.
    File,
}

/// Where a grant or a deny carve-out came from. Built by the code that adds the rule and
/// never read back from text: what a flag named (a working directory called `x, --allow y`)
/// stays data inside [`Origin::Flag`], so it cannot make a grant look as if a flag asked for
/// it. [`Display`](std::fmt::Display) gives the text users see (`--allow /src`,
/// `profile default`, `group credentials`); decisions look at the variant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Origin {
    /// A command-line flag (its spelling, `--allow`), with the path it named, if any.
    Flag {
        /// The flag as spelled on the command line (`--allow-cwd`).
        flag: &'static str,
        /// The path it named (`None`: a flag without one).
        path: Option<PathBuf>,
    },
    /// A profile's own grant or rule (`profile NAME`).
    Profile(String),
    /// A built-in deny group (`group NAME`).
    Group(String),
    /// A profile's own deny list (`group profile NAME`).
    ProfileDeny(String),
    /// Anything else nono itself adds (`built-in`, `suggested`), or a library caller's own
    /// label: shown as given, never taken for a flag, a profile or a group.
    Label(String),
}

impl Origin {
    /// A flag with the path it named (`--allow /src`).
    #[must_use]
    pub fn flag(flag: &'static str, path: impl Into<PathBuf>) -> Origin {
        Origin::Flag {
            flag,
            path: Some(path.into()),
        }
    }

    /// Whether a command-line flag asked for it (an explicit grant, which
    /// `--bypass-protection` and the profile-root check accept).
    #[must_use]
    pub fn is_flag(&self) -> bool {
        matches!(self, Origin::Flag { .. })
    }

    /// How a deny carve-out of this origin is labelled where users read and audit it: the
    /// group's name (`credentials`), `profile NAME` for a profile's own deny list, the
    /// [`Display`](std::fmt::Display) text otherwise.
    #[must_use]
    pub fn deny_label(&self) -> String {
        match self {
            Origin::Group(name) => name.clone(),
            Origin::ProfileDeny(name) => format!("profile {name}"),
            other => other.to_string(),
        }
    }

    /// The flag's spelling and the path it named, for a flag that named one.
    #[must_use]
    pub fn flag_path(&self) -> Option<(&'static str, &Path)> {
        match self {
            Origin::Flag {
                flag,
                path: Some(p),
            } => Some((flag, p)),
            _ => None,
        }
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Flag { flag, path: None } => f.write_str(flag),
            Origin::Flag {
                flag,
                path: Some(p),
            } => write!(f, "{flag} {}", p.display()),
            Origin::Profile(name) => write!(f, "profile {name}"),
            Origin::Group(name) => write!(f, "group {name}"),
            Origin::ProfileDeny(name) => write!(f, "group profile {name}"),
            Origin::Label(label) => f.write_str(label),
        }
    }
}

/// A caller's own label ([`Origin::Label`]): free text is never parsed into a flag.
impl From<&str> for Origin {
    fn from(label: &str) -> Origin {
        Origin::Label(label.to_owned())
    }
}

/// A caller's own label ([`Origin::Label`]): free text is never parsed into a flag.
impl From<String> for Origin {
    fn from(label: String) -> Origin {
        Origin::Label(label)
    }
}

impl From<&Origin> for Origin {
    fn from(o: &Origin) -> Origin {
        o.clone()
    }
}

/// Serialised as its text (the JSON of `--dry-run` and `why` shows what users read).
impl serde::Serialize for Origin {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The origins of one grant: every flag or profile that asked for the same path, in the
/// order they were added, without duplicates. Shown joined with `", "`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origins(Vec<Origin>);

impl Origins {
    /// Add `origin` unless it is already there.
    pub fn push(&mut self, origin: Origin) {
        if !self.0.contains(&origin) {
            self.0.push(origin);
        }
    }

    /// Each origin, in the order added.
    pub fn iter(&self) -> std::slice::Iter<'_, Origin> {
        self.0.iter()
    }

    /// Whether `origin` is one of them.
    #[must_use]
    pub fn contains(&self, origin: &Origin) -> bool {
        self.0.contains(origin)
    }

    /// Whether a command-line flag asked for the grant ([`Origin::is_flag`]).
    #[must_use]
    pub fn any_flag(&self) -> bool {
        self.0.iter().any(Origin::is_flag)
    }
}

impl From<Origin> for Origins {
    fn from(o: Origin) -> Origins {
        Origins(vec![o])
    }
}

impl<'a> IntoIterator for &'a Origins {
    type Item = &'a Origin;
    type IntoIter = std::slice::Iter<'a, Origin>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl std::fmt::Display for Origins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, o) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{o}")?;
        }
        Ok(())
    }
}

/// Serialised as its text, joined with `", "` (as before origins were typed).
impl serde::Serialize for Origins {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One filesystem grant.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FsGrant {
    /// Canonical absolute path (symlinks resolved when the grant was added).
    pub path: PathBuf,
    /// Directory tree or single file.
    pub kind: FsKind,
    /// What the grant allows.
    pub access: AccessMode,
    /// Where the grant came from (one entry per flag or profile that asked for it), for
    /// explanations and decisions: shown as `"--allow /src"`, `"profile default"`.
    pub origin: Origins,
}

/// What a deny carve-out takes away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DenyKind {
    /// Every access: nothing beneath the path can be read, written, listed or executed.
    #[default]
    All,
    /// Writing only: nothing beneath the path can be written, created, removed, renamed or
    /// linked, but what the grants allow to read stays readable (read-only carve-out).
    Write,
}

impl DenyKind {
    /// `deny` or `read-only`, as `--dry-run` and `why` print it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            DenyKind::All => "deny",
            DenyKind::Write => "read-only",
        }
    }

    /// Whether the carve-out takes away (part of) `access`.
    #[must_use]
    pub fn removes(self, access: AccessMode) -> bool {
        match self {
            DenyKind::All => true,
            DenyKind::Write => access.writes(),
        }
    }

    /// What remains of `access` beneath the carve-out (`None`: nothing).
    #[must_use]
    pub fn remaining(self, access: AccessMode) -> Option<AccessMode> {
        match self {
            DenyKind::All => None,
            DenyKind::Write => access.reads().then_some(AccessMode::Read),
        }
    }
}

/// A path that stays denied even inside a granted directory.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DenyRule {
    /// Canonical absolute path (or canonical parent + remaining components if it does not exist).
    pub path: PathBuf,
    /// Where the carve-out came from: a deny group (`"group credentials"`), a profile's deny
    /// list, or a flag.
    pub origin: Origin,
    /// Every access, or writing only.
    pub kind: DenyKind,
    /// What resolving the path saw of it, so that the rule planner's hard-link note needs no
    /// second `lstat` (a deny group adds ~150 rules at every start-up). Information only:
    /// nothing is allowed or denied on it, and it is no part of the rule's identity.
    #[serde(skip)]
    pub(crate) seen: Seen,
}

impl PartialEq for DenyRule {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path && self.origin == other.origin && self.kind == other.kind
    }
}

impl Eq for DenyRule {}

/// What an `lstat` of a path saw: kept on a deny rule by the resolution that made it, and
/// what a caller that already made one may pass to
/// [`deny_many_kind_known`](CapabilitySet::deny_many_kind_known).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Seen {
    /// Not looked at (the path was resolved another way): look again when needed.
    #[default]
    Unknown,
    /// Nothing there.
    Missing,
    /// An existing object that is not a symlink: whether it is a directory, and its link count.
    Object {
        /// A directory.
        dir: bool,
        /// `st_nlink`.
        nlink: u64,
    },
}

/// Network policy.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkMode {
    /// No network restriction.
    #[default]
    Allow,
    /// No network at all: TCP connect/bind refused by Landlock, and every `socket()` of a
    /// family other than `AF_UNIX` refused by seccomp (which is what stops UDP, ICMP and raw).
    Block,
    /// TCP only, to/on the listed ports; every other socket family and type is refused.
    Ports {
        /// TCP ports the process may `connect()` to.
        connect: BTreeSet<u16>,
        /// TCP ports the process may `bind()`.
        bind: BTreeSet<u16>,
    },
}

/// IPC scopes (Landlock ABI 6): when set, the process cannot reach outside its own sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Scopes {
    /// Signals only to processes in the same sandbox (or its descendants).
    pub signal: bool,
    /// Abstract Unix sockets only to processes in the same sandbox.
    pub abstract_unix_socket: bool,
}

impl Default for Scopes {
    fn default() -> Self {
        Scopes::all()
    }
}

impl Scopes {
    /// Both scopes on: no signals to, and no abstract-socket connections to, processes outside
    /// the sandbox (the default).
    #[must_use]
    pub const fn all() -> Self {
        Scopes {
            signal: true,
            abstract_unix_socket: true,
        }
    }

    /// No IPC scoping.
    #[must_use]
    pub const fn none() -> Self {
        Scopes {
            signal: false,
            abstract_unix_socket: false,
        }
    }

    /// Whether any scope is requested.
    #[must_use]
    pub const fn any(self) -> bool {
        self.signal || self.abstract_unix_socket
    }
}

impl NetworkMode {
    /// Whether TCP `connect()` to `port` is allowed.
    #[must_use]
    pub fn allows_connect(&self, port: u16) -> bool {
        match self {
            NetworkMode::Allow => true,
            NetworkMode::Block => false,
            NetworkMode::Ports { connect, .. } => connect.contains(&port),
        }
    }

    /// Whether TCP `bind()` to `port` is allowed.
    #[must_use]
    pub fn allows_bind(&self, port: u16) -> bool {
        match self {
            NetworkMode::Allow => true,
            NetworkMode::Block => false,
            NetworkMode::Ports { bind, .. } => bind.contains(&port),
        }
    }
}

impl std::fmt::Display for NetworkMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn ports(f: &mut std::fmt::Formatter<'_>, set: &BTreeSet<u16>) -> std::fmt::Result {
            if set.is_empty() {
                return f.write_str("none");
            }
            for (i, p) in set.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                write!(f, "{p}")?;
            }
            Ok(())
        }
        match self {
            NetworkMode::Allow => f.write_str("allowed"),
            NetworkMode::Block => f.write_str("blocked"),
            NetworkMode::Ports { connect, bind } => {
                f.write_str("TCP only: connect to ")?;
                ports(f, connect)?;
                f.write_str("; bind ")?;
                ports(f, bind)
            }
        }
    }
}

/// System V IPC (shared memory, message queues, semaphores), which neither Landlock nor
/// the filesystem grants cover: objects are found by a numeric key in the IPC namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SysvIpc {
    /// The sandbox's own: a new IPC namespace when the process may make one
    /// (`CAP_SYS_ADMIN`, i.e. nono runs as root), so SysV IPC (and POSIX message queues)
    /// work but reach nothing outside; otherwise the SysV calls are refused as in `Deny`.
    #[default]
    Private,
    /// Refuse the SysV calls (`shmget`, `shmat`, `msgget`, `semop`, ...) with `ENOSYS`, as
    /// on a kernel without System V IPC.
    Deny,
    /// The host's IPC namespace: other programs' segments, queues and semaphores are
    /// reachable by key (as root, all of them).
    Host,
}

impl SysvIpc {
    /// `private`, `deny` or `host`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            SysvIpc::Private => "private",
            SysvIpc::Deny => "deny",
            SysvIpc::Host => "host",
        }
    }
}

/// Whether a protection the kernel cannot give is an error or a reported gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Compat {
    /// Fail if any requested protection is unavailable.
    #[default]
    Strict,
    /// Enforce what the kernel offers and report the rest in the apply status.
    BestEffort,
}

impl Compat {
    /// `strict` or `best-effort`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Compat::Strict => "strict",
            Compat::BestEffort => "best-effort",
        }
    }
}

/// Everything a sandboxed process is allowed to do.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CapabilitySet {
    grants: Vec<FsGrant>,
    denies: Vec<DenyRule>,
    network: NetworkMode,
    scopes: Scopes,
    compat: Compat,
    keep_capabilities: bool,
    sysv_ipc: SysvIpc,
    allow_unix_datagram: bool,
}

/// The canonical path a grant of `path` as `kind` names: it must exist and be a directory
/// exactly when `kind` is [`FsKind::Dir`].
fn canonical_for(path: &Path, kind: FsKind) -> Result<PathBuf, CapsError> {
    let canonical = canonicalize_existing(path)?;
    match (kind, canonical.is_dir()) {
        (FsKind::Dir, false) => Err(CapsError::NotADirectory { path: canonical }),
        (FsKind::File, true) => Err(CapsError::IsADirectory { path: canonical }),
        _ => Ok(canonical),
    }
}

/// Add a grant to `grants`: one at the same path takes the access and origin in (and keeps
/// its kind).
fn insert_grant(
    grants: &mut Vec<FsGrant>,
    path: PathBuf,
    kind: FsKind,
    access: AccessMode,
    origin: Origin,
) {
    if let Some(existing) = grants.iter_mut().find(|g| g.path == path) {
        existing.access = existing.access.union(access);
        existing.origin.push(origin);
        return;
    }
    grants.push(FsGrant {
        path,
        kind,
        access,
        origin: origin.into(),
    });
}

impl CapabilitySet {
    /// An empty set: nothing on the filesystem, network allowed, IPC scoped, strict,
    /// Linux capabilities dropped, Unix datagram sockets refused.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Grant a directory tree. The path must exist and be a directory.
    pub fn allow_dir(
        &mut self,
        path: impl AsRef<Path>,
        access: AccessMode,
        origin: impl Into<Origin>,
    ) -> Result<&mut Self, CapsError> {
        self.allow(path.as_ref(), FsKind::Dir, access, origin.into())?;
        Ok(self)
    }

    /// [`allow_dir`](Self::allow_dir), returning the canonical path granted (what the
    /// symlinks on `path` resolved to at this moment).
    pub fn allow_dir_at(
        &mut self,
        path: impl AsRef<Path>,
        access: AccessMode,
        origin: impl Into<Origin>,
    ) -> Result<PathBuf, CapsError> {
        self.allow(path.as_ref(), FsKind::Dir, access, origin.into())
    }

    /// [`allow_file`](Self::allow_file), returning the canonical path granted.
    pub fn allow_file_at(
        &mut self,
        path: impl AsRef<Path>,
        access: AccessMode,
        origin: impl Into<Origin>,
    ) -> Result<PathBuf, CapsError> {
        self.allow(path.as_ref(), FsKind::File, access, origin.into())
    }

    /// [`allow_path`](Self::allow_path), returning the canonical path granted.
    pub fn allow_path_at(
        &mut self,
        path: impl AsRef<Path>,
        access: AccessMode,
        origin: impl Into<Origin>,
    ) -> Result<PathBuf, CapsError> {
        let canonical = canonicalize_existing(path.as_ref())?;
        let kind = if canonical.is_dir() {
            FsKind::Dir
        } else {
            FsKind::File
        };
        self.insert(canonical.clone(), kind, access, origin.into());
        Ok(canonical)
    }

    /// Grant one file. The path must exist and be a file (or another non-directory).
    pub fn allow_file(
        &mut self,
        path: impl AsRef<Path>,
        access: AccessMode,
        origin: impl Into<Origin>,
    ) -> Result<&mut Self, CapsError> {
        self.allow(path.as_ref(), FsKind::File, access, origin.into())?;
        Ok(self)
    }

    /// Grant a path as whatever it is on disk (directory tree or single file).
    pub fn allow_path(
        &mut self,
        path: impl AsRef<Path>,
        access: AccessMode,
        origin: impl Into<Origin>,
    ) -> Result<&mut Self, CapsError> {
        self.allow_path_at(path, access, origin)?;
        Ok(self)
    }

    /// Grant `path` as `kind`; the canonical path granted.
    fn allow(
        &mut self,
        path: &Path,
        kind: FsKind,
        access: AccessMode,
        origin: Origin,
    ) -> Result<PathBuf, CapsError> {
        let canonical = canonical_for(path, kind)?;
        self.insert(canonical.clone(), kind, access, origin);
        Ok(canonical)
    }

    /// The grants this set would have after [`allow_dir`](Self::allow_dir) (`FsKind::Dir`)
    /// or [`allow_file`](Self::allow_file) (`FsKind::File`) of `path`, leaving the set as it
    /// is: for asking [`Model::explain_canonical_granted`](crate::Model::explain_canonical_granted)
    /// what a grant would change without copying the set's denies.
    ///
    /// # Errors
    /// As `allow_dir` and `allow_file`.
    pub fn grants_with(
        &self,
        path: impl AsRef<Path>,
        kind: FsKind,
        access: AccessMode,
        origin: impl Into<Origin>,
    ) -> Result<Vec<FsGrant>, CapsError> {
        let canonical = canonical_for(path.as_ref(), kind)?;
        let mut grants = self.grants.clone();
        insert_grant(&mut grants, canonical, kind, access, origin.into());
        Ok(grants)
    }

    fn insert(&mut self, path: PathBuf, kind: FsKind, access: AccessMode, origin: Origin) {
        insert_grant(&mut self.grants, path, kind, access, origin);
    }

    /// Deny a path (and everything beneath it), even inside a granted directory.
    /// The path need not exist; it must be absolute.
    pub fn deny(
        &mut self,
        path: impl AsRef<Path>,
        origin: impl Into<Origin>,
    ) -> Result<&mut Self, CapsError> {
        self.deny_kind(path, origin, DenyKind::All)
    }

    /// Deny writing beneath a path (a read-only carve-out), even inside a granted directory;
    /// reading stays as the grants allow. The path need not exist; it must be absolute.
    pub fn deny_write(
        &mut self,
        path: impl AsRef<Path>,
        origin: impl Into<Origin>,
    ) -> Result<&mut Self, CapsError> {
        self.deny_kind(path, origin, DenyKind::Write)
    }

    /// [`deny`](Self::deny) or [`deny_write`](Self::deny_write) by `kind`.
    pub fn deny_kind(
        &mut self,
        path: impl AsRef<Path>,
        origin: impl Into<Origin>,
        kind: DenyKind,
    ) -> Result<&mut Self, CapsError> {
        let path = canonicalize_for_grant(path.as_ref())?;
        self.push_deny(path, origin.into(), kind);
        Ok(self)
    }

    /// A carve-out on a symlink itself, not on what it points to: its directory is resolved,
    /// its last component is kept. Under a grant on the link's directory, the link then
    /// cannot be removed, renamed or replaced (the directory becomes a carve-out spine), so
    /// what it points to stays what it pointed to when the sandbox was built. For a link on
    /// the way from a deny entry to its target (`~/.ssh/config` → `~/proj/cur/ssh_config`,
    /// `cur` → `v1`): deny the target alone, and a grant on `~/proj` could point `cur`
    /// elsewhere. The path must be absolute.
    pub fn deny_link_kind(
        &mut self,
        path: impl AsRef<Path>,
        origin: impl Into<Origin>,
        kind: DenyKind,
    ) -> Result<&mut Self, CapsError> {
        let path = path.as_ref();
        let (Some(parent), Some(Component::Normal(name))) =
            (path.parent(), path.components().next_back())
        else {
            return self.deny_kind(path, origin, kind);
        };
        let path = canonicalize_for_grant(parent)?.join(name);
        self.push_deny(path, origin.into(), kind);
        Ok(self)
    }

    /// [`deny_link_kind`](Self::deny_link_kind) for many links at once: the same result as
    /// calling it for each in order (stopping at the first error), but with the duplicate
    /// check a hash lookup rather than a scan over every carve-out — a deny set can hold
    /// thousands of links (one per link target reached through a link of its own), and a
    /// scan per link made that quadratic (seconds of start-up).
    pub fn deny_links_kind<P: AsRef<Path>>(
        &mut self,
        links: impl IntoIterator<Item = (P, Origin, DenyKind)>,
    ) -> Result<&mut Self, CapsError> {
        // Canonical paths are clean, so comparing bytes is comparing components (as
        // `push_deny`'s `==` does).
        let mut at: HashMap<OsString, usize> = HashMap::with_capacity(self.denies.len());
        for (i, d) in self.denies.iter().enumerate() {
            at.entry(d.path.clone().into_os_string()).or_insert(i);
        }
        for (path, origin, kind) in links {
            let path = path.as_ref();
            let path = match (path.parent(), path.components().next_back()) {
                (Some(parent), Some(Component::Normal(name))) => {
                    canonicalize_for_grant(parent)?.join(name)
                }
                _ => canonicalize_for_grant(path)?,
            };
            match at.entry(path.clone().into_os_string()) {
                std::collections::hash_map::Entry::Occupied(e) => {
                    let existing = &mut self.denies[*e.get()];
                    if kind == DenyKind::All && existing.kind == DenyKind::Write {
                        existing.kind = DenyKind::All;
                        existing.origin = origin;
                    }
                }
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(self.denies.len());
                    self.denies.push(DenyRule {
                        path,
                        origin,
                        kind,
                        seen: Seen::Unknown,
                    });
                }
            }
        }
        Ok(self)
    }

    /// Add a canonical carve-out, or strengthen the one already on `path` (`All` wins).
    fn push_deny(&mut self, path: PathBuf, origin: Origin, kind: DenyKind) -> bool {
        if let Some(existing) = self.denies.iter_mut().find(|d| d.path == path) {
            if kind == DenyKind::All && existing.kind == DenyKind::Write {
                existing.kind = DenyKind::All;
                existing.origin = origin;
            }
            return false;
        }
        self.denies.push(DenyRule {
            path,
            origin,
            kind,
            seen: Seen::Unknown,
        });
        true
    }

    /// [`deny`](Self::deny) for many paths at once (a profile's deny groups: a hundred
    /// paths under a few shared directories). Same result as calling `deny` for each in
    /// order, but each distinct parent directory is resolved once, and the duplicate check
    /// is a hash lookup rather than a scan. Stops at the first path that cannot be added.
    pub fn deny_many<P: AsRef<Path>>(
        &mut self,
        denies: impl IntoIterator<Item = (P, Origin)>,
    ) -> Result<&mut Self, CapsError> {
        self.deny_many_kind(denies.into_iter().map(|(p, o)| (p, o, DenyKind::All)))
    }

    /// [`deny_many`](Self::deny_many) with a [`DenyKind`] per path.
    pub fn deny_many_kind<P: AsRef<Path>>(
        &mut self,
        denies: impl IntoIterator<Item = (P, Origin, DenyKind)>,
    ) -> Result<&mut Self, CapsError> {
        self.deny_many_kind_known(denies, |_| None)
    }

    /// [`deny_many_kind`](Self::deny_many_kind) for a caller that has just `lstat`ed many of
    /// the canonical paths on the way (a deny set resolving the same entries a moment
    /// before): `known(path)` answers for a clean canonical `path` what such an `lstat`
    /// saw — [`Seen::Missing`] only for "not found", [`Seen::Object`] only for something
    /// that is not a symlink — or `None`, and then the path is looked at here. The
    /// resolution is this crate's own either way; only the `lstat` is shared, so the answer
    /// is the one `deny_many_kind` would have given at the moment of the caller's `lstat`.
    pub fn deny_many_kind_known<P: AsRef<Path>>(
        &mut self,
        denies: impl IntoIterator<Item = (P, Origin, DenyKind)>,
        known: impl Fn(&Path) -> Option<Seen>,
    ) -> Result<&mut Self, CapsError> {
        let denies = denies.into_iter();
        let more = denies.size_hint().0;
        self.denies.reserve(more);
        let mut parents: HashMap<OsString, Parent> = HashMap::new();
        // Canonical paths are clean, so comparing bytes is comparing components.
        let mut seen: HashSet<OsString> = HashSet::with_capacity(self.denies.len() + more);
        seen.extend(self.denies.iter().map(|d| d.path.clone().into_os_string()));
        for (path, origin, kind) in denies {
            let (path, what) = canonicalize_for_grant_with(path.as_ref(), &mut parents, &known)?;
            if seen.insert(path.clone().into_os_string()) {
                self.denies.push(DenyRule {
                    path,
                    origin,
                    kind,
                    seen: what,
                });
            } else if kind == DenyKind::All {
                self.push_deny(path, origin, kind);
            }
        }
        Ok(self)
    }

    /// Keep only the deny carve-outs for which `keep` returns true; grants and every other
    /// setting are untouched. For a caller that lifts carve-outs it added itself (the CLI's
    /// `--bypass-protection`); a carve-out removed here no longer constrains anything.
    pub fn retain_denies(&mut self, keep: impl FnMut(&DenyRule) -> bool) -> &mut Self {
        self.denies.retain(keep);
        self
    }

    /// Block the network entirely (shorthand for `set_network(NetworkMode::Block)`).
    pub fn block_network(&mut self) -> &mut Self {
        self.set_network(NetworkMode::Block)
    }

    /// Allow TCP `connect()` to `port`. Switches the network mode to [`NetworkMode::Ports`]
    /// (from `Allow` or `Block`: everything not listed is then refused).
    pub fn allow_connect_port(&mut self, port: u16) -> &mut Self {
        self.ports_mut().0.insert(port);
        self
    }

    /// Allow TCP `bind()` to `port`. Switches the network mode to [`NetworkMode::Ports`]
    /// (from `Allow` or `Block`: everything not listed is then refused).
    pub fn allow_bind_port(&mut self, port: u16) -> &mut Self {
        self.ports_mut().1.insert(port);
        self
    }

    fn ports_mut(&mut self) -> (&mut BTreeSet<u16>, &mut BTreeSet<u16>) {
        if !matches!(self.network, NetworkMode::Ports { .. }) {
            self.network = NetworkMode::Ports {
                connect: BTreeSet::new(),
                bind: BTreeSet::new(),
            };
        }
        match &mut self.network {
            NetworkMode::Ports { connect, bind } => (connect, bind),
            // Set just above.
            NetworkMode::Allow | NetworkMode::Block => unreachable!("network mode set to Ports"),
        }
    }

    /// Set the network policy.
    pub fn set_network(&mut self, mode: NetworkMode) -> &mut Self {
        self.network = mode;
        self
    }

    /// Set the IPC scopes.
    pub fn set_scopes(&mut self, scopes: Scopes) -> &mut Self {
        self.scopes = scopes;
        self
    }

    /// Choose strict (default) or best-effort enforcement.
    pub fn set_compat(&mut self, compat: Compat) -> &mut Self {
        self.compat = compat;
        self
    }

    /// Keep the process's Linux capabilities (`true`), or drop them all before `exec`
    /// (`false`, the default): the effective, permitted, inheritable and ambient sets are
    /// emptied and — when the process may (`CAP_SETPCAP`, i.e. root) — the bounding set too,
    /// with `SECBIT_NOROOT` locked, so neither the command nor anything it executes can hold
    /// a capability. A sandboxed root then keeps uid 0 (it owns root's files) but loses
    /// what capabilities add: reading or writing other users' files regardless of their mode
    /// (`CAP_DAC_OVERRIDE`), device nodes (`CAP_MKNOD`), the host's network configuration
    /// (`CAP_NET_ADMIN`), the clock (`CAP_SYS_TIME`), other users' processes and IPC.
    /// Keep them only for a command that truly needs one.
    pub fn set_keep_capabilities(&mut self, keep: bool) -> &mut Self {
        self.keep_capabilities = keep;
        self
    }

    /// The filesystem grants, in insertion order.
    #[must_use]
    pub fn grants(&self) -> &[FsGrant] {
        &self.grants
    }

    /// The deny carve-outs, in insertion order.
    #[must_use]
    pub fn denies(&self) -> &[DenyRule] {
        &self.denies
    }

    /// Whether this set asks for exactly the sandbox `base` asks for: the same grants, network,
    /// scopes, IPC, capability and compatibility settings, every deny of `base` (in the same
    /// order, having seen the same), and besides them only denies that change nothing a
    /// sandbox is built from. Such a deny is *inert*: for every grant whose access it would
    /// take something from ([`DenyKind::removes`]: a read-only deny takes nothing from a
    /// read grant), neither lies inside the other, so no grant is dropped, narrowed, expanded
    /// around it or made read-only beneath it (`effective_grants`, `carve_spine`: a deny
    /// inside another deny needs both inside the same grant, and the outer one then removes
    /// from it too); and its resolution saw what gives the rule planner no note (a missing
    /// path, a directory, or a file with one link; an unknown look is not inert). Landlock is an
    /// allow-list, the seccomp programs and the capability drop never look at a path, so
    /// `PreparedSandbox::prepare` builds the same rules, programs and status for both sets.
    ///
    /// For `PreparedAhead` (Linux): a `false` only costs a
    /// second preparation.
    #[must_use]
    pub fn adds_only_inert_denies(&self, base: &CapabilitySet) -> bool {
        if self.grants != base.grants
            || self.network != base.network
            || self.scopes != base.scopes
            || self.compat != base.compat
            || self.keep_capabilities != base.keep_capabilities
            || self.sysv_ipc != base.sysv_ipc
            || self.allow_unix_datagram != base.allow_unix_datagram
        {
            return false;
        }
        let mut wanted = base.denies.iter().peekable();
        for d in &self.denies {
            if wanted.peek().is_some_and(|w| *w == d && w.seen == d.seen) {
                wanted.next();
                continue;
            }
            let narrows_a_grant = self.grants.iter().any(|g| {
                d.kind.removes(g.access)
                    && (crate::paths::clean_within(&g.path, &d.path)
                        || crate::paths::clean_within(&d.path, &g.path))
            });
            let noted = match d.seen {
                Seen::Unknown => true,
                Seen::Missing => false,
                Seen::Object { dir, nlink } => !dir && nlink > 1,
            };
            if narrows_a_grant || noted {
                return false;
            }
        }
        wanted.next().is_none()
    }

    /// The network policy.
    #[must_use]
    pub fn network(&self) -> &NetworkMode {
        &self.network
    }

    /// The IPC scopes.
    #[must_use]
    pub fn scopes(&self) -> Scopes {
        self.scopes
    }

    /// Strict or best-effort.
    #[must_use]
    pub fn compat(&self) -> Compat {
        self.compat
    }

    /// Choose how System V IPC is confined (default [`SysvIpc::Private`]).
    pub fn set_sysv_ipc(&mut self, mode: SysvIpc) -> &mut Self {
        self.sysv_ipc = mode;
        self
    }

    /// How System V IPC is confined.
    #[must_use]
    pub fn sysv_ipc(&self) -> SysvIpc {
        self.sysv_ipc
    }

    /// Allow (`true`) or refuse (`false`, the default) creating Unix datagram sockets:
    /// `socket()`/`socketpair()` of `AF_UNIX` with any type but `SOCK_STREAM` and
    /// `SOCK_SEQPACKET` (the kernel turns `SOCK_RAW` into `SOCK_DGRAM` there) fail with
    /// `EACCES` when refused, in every network mode.
    ///
    /// Why refused by default: a datagram socket can `sendmsg` a datagram to any pathname
    /// datagram socket on the machine (`/dev/log`, `/run/systemd/notify`) — the address is in
    /// a `msghdr` in memory, which no filter can check without racing the sandboxed program,
    /// and Landlock before ABI 9 does not check it either. Allow them only for a program that
    /// needs them (`syslog(3)` through `/dev/log`, `sd_notify`, a datagram `socketpair` for
    /// its own IPC), knowing that gap. Combining sets or settings is an OR: once allowed by
    /// one source (a profile, a flag), it stays allowed.
    pub fn allow_unix_datagram(&mut self, allow: bool) -> &mut Self {
        self.allow_unix_datagram |= allow;
        self
    }

    /// Whether Unix datagram sockets may be created (see
    /// [`allow_unix_datagram`](Self::allow_unix_datagram)); `false` by default.
    #[must_use]
    pub fn allows_unix_datagram(&self) -> bool {
        self.allow_unix_datagram
    }

    /// Whether Linux capabilities are kept (see
    /// [`set_keep_capabilities`](Self::set_keep_capabilities)); `false` by default.
    #[must_use]
    pub fn keep_capabilities(&self) -> bool {
        self.keep_capabilities
    }
}

/// A multi-line, human-readable summary (used by `--dry-run` and `-v`):
///
/// ```text
/// filesystem:
///   readwrite dir  /work/src   (--allow /work/src)
///   read      file /etc/hosts  (--read-file /etc/hosts)
///   deny           /home/u/.ssh (group credentials)
/// network: blocked
/// scopes: signal, abstract-unix-socket
/// capabilities: dropped
/// sysv ipc: private
/// unix datagram sockets: refused
/// compatibility: strict
/// ```
impl std::fmt::Display for CapabilitySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "filesystem:")?;
        if self.grants.is_empty() && self.denies.is_empty() {
            writeln!(f, "  (nothing)")?;
        }
        for g in &self.grants {
            let kind = match g.kind {
                FsKind::Dir => "dir ",
                FsKind::File => "file",
            };
            writeln!(
                f,
                "  {:<9} {kind} {}  ({})",
                g.access.as_str(),
                g.path.display(),
                g.origin
            )?;
        }
        for d in &self.denies {
            writeln!(
                f,
                "  {:<9}      {}  ({})",
                d.kind.as_str(),
                d.path.display(),
                d.origin
            )?;
        }
        writeln!(f, "network: {}", self.network)?;
        let scopes = match (self.scopes.signal, self.scopes.abstract_unix_socket) {
            (true, true) => "signal, abstract-unix-socket",
            (true, false) => "signal",
            (false, true) => "abstract-unix-socket",
            (false, false) => "none",
        };
        writeln!(f, "scopes: {scopes}")?;
        let capabilities = if self.keep_capabilities {
            "kept"
        } else {
            "dropped"
        };
        writeln!(f, "capabilities: {capabilities}")?;
        writeln!(f, "sysv ipc: {}", self.sysv_ipc.as_str())?;
        let dgram = if self.allow_unix_datagram {
            "allowed (sendmsg reaches any pathname datagram socket)"
        } else {
            "refused"
        };
        writeln!(f, "unix datagram sockets: {dgram}")?;
        write!(f, "compatibility: {}", self.compat.as_str())
    }
}

/// Canonicalise a path that must exist.
fn canonicalize_existing(path: &Path) -> Result<PathBuf, CapsError> {
    std::fs::canonicalize(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            CapsError::NotFound {
                path: path.to_path_buf(),
            }
        } else {
            CapsError::Resolve {
                path: path.to_path_buf(),
                source,
            }
        }
    })
}

/// What a parent directory resolved to, for [`canonicalize_for_grant_with`].
#[derive(Debug, Clone)]
enum Parent {
    /// `realpath` gave this existing directory.
    Dir(PathBuf),
    /// `realpath` failed with "not found"; this is its lenient form.
    Missing(PathBuf),
    /// Anything else: no shortcut.
    Other,
}

/// [`canonicalize_for_grant`] with parent directories remembered in `parents`. When the parent
/// is an existing directory, the last component is looked at with one `lstat`: a missing name
/// or an existing non-symlink gives the answer `realpath` would, without a `readlink` per
/// component. When the parent is missing, `realpath` of the path fails with "not found" at
/// the same component, so the answer is the parent's lenient form plus the name. Anything
/// else (a symlink, another error, a path with `.`/`..`/`//`) goes through
/// [`canonicalize_for_grant`] itself, so the result and the errors are exactly its own.
/// Also returns what that `lstat` saw ([`Seen::Unknown`] where it made none); `seen_before`
/// may answer for it (see [`CapabilitySet::deny_many_kind_known`]).
fn canonicalize_for_grant_with(
    path: &Path,
    parents: &mut HashMap<OsString, Parent>,
    seen_before: &dyn Fn(&Path) -> Option<Seen>,
) -> Result<(PathBuf, Seen), CapsError> {
    let unknown = |p: PathBuf| (p, Seen::Unknown);
    let (Some(parent), Some(Component::Normal(name))) =
        (path.parent(), path.components().next_back())
    else {
        return canonicalize_for_grant(path).map(unknown);
    };
    if !crate::paths::is_clean(path.as_os_str().as_encoded_bytes()) || parent.parent().is_none() {
        return canonicalize_for_grant(path).map(unknown);
    }
    if let Some(known) = parents.get(parent.as_os_str()) {
        return beneath(known, name, path, seen_before);
    }
    // The parent resolved the same way (its own parent remembered): an answer from an
    // `lstat` beneath a resolved directory is what `realpath` would give — a directory,
    // something else, or nothing there (then `realpath` fails with "not found" and the
    // lenient form is the one computed). An error is an error of `realpath` too, and then of
    // the lenient form. Only a parent resolved another way (a symlink on the way) asks
    // `realpath`, which costs a `readlink` per component: ~90 at every start-up for the deny
    // groups' few dozen parents.
    let resolved = match canonicalize_for_grant_with(parent, parents, seen_before) {
        Ok((p, Seen::Object { dir: true, .. })) => Parent::Dir(p),
        Ok((_, Seen::Object { dir: false, .. })) | Err(_) => Parent::Other,
        Ok((lenient, Seen::Missing)) => Parent::Missing(lenient),
        Ok((lenient, Seen::Unknown)) => match std::fs::canonicalize(parent) {
            Ok(p) if std::fs::metadata(&p).is_ok_and(|m| m.is_dir()) => Parent::Dir(p),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Parent::Missing(lenient),
            _ => Parent::Other,
        },
    };
    let answer = beneath(&resolved, name, path, seen_before);
    parents.insert(parent.as_os_str().to_owned(), resolved);
    answer
}

/// [`canonicalize_for_grant_with`] of `path`, the name `name` in a parent resolved as `known`
/// (borrowed from the memo: most of a set's paths share a few parents).
fn beneath(
    known: &Parent,
    name: &OsStr,
    path: &Path,
    seen_before: &dyn Fn(&Path) -> Option<Seen>,
) -> Result<(PathBuf, Seen), CapsError> {
    let unknown = |p: PathBuf| (p, Seen::Unknown);
    match known {
        Parent::Dir(base) => {
            // At its final size (`join` copies `base` exactly, then grows for the name).
            let mut candidate = PathBuf::with_capacity(base.as_os_str().len() + 1 + name.len());
            candidate.push(base);
            candidate.push(name);
            if let Some(seen @ (Seen::Object { .. } | Seen::Missing)) = seen_before(&candidate) {
                return Ok((candidate, seen));
            }
            match std::fs::symlink_metadata(&candidate) {
                Ok(m) if !m.file_type().is_symlink() => {
                    use std::os::unix::fs::MetadataExt;
                    let seen = Seen::Object {
                        dir: m.is_dir(),
                        nlink: m.nlink(),
                    };
                    Ok((candidate, seen))
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    Ok((candidate, Seen::Missing))
                }
                _ => canonicalize_for_grant(path).map(unknown),
            }
        }
        // `realpath` of the path fails at the missing parent: nothing is there.
        Parent::Missing(lenient) => Ok((lenient.join(name), Seen::Missing)),
        Parent::Other => canonicalize_for_grant(path).map(unknown),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;

    fn tmp() -> Scratch {
        // One directory per call: tests run in parallel threads of one process.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = Scratch::new(&format!("nono-caps-{}-{n}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("file"), b"x").unwrap();
        dir
    }

    /// `deny_links_kind` is `deny_link_kind` for each link in order: links through a
    /// symlinked parent, a link already denied (a full deny upgrades a read-only one and takes
    /// its origin, a read-only one changes nothing), the same link twice, `/`, and an error
    /// that stops the batch with the links before it added.
    #[test]
    fn deny_links_kind_is_deny_link_kind_for_each() {
        let dir = tmp();
        std::os::unix::fs::symlink(dir.join("sub"), dir.join("via")).unwrap();
        std::fs::write(dir.join("file2"), b"x").unwrap();
        let g = |n: &str| Origin::Group(n.to_owned());
        let links = [
            (dir.join("sub/l1"), g("a"), DenyKind::Write),
            (dir.join("via/l2"), g("a"), DenyKind::Write),
            (dir.join("sub/l1"), g("b"), DenyKind::All),
            (dir.join("via/l1"), g("c"), DenyKind::Write),
            (dir.join("file"), g("d"), DenyKind::All),
            (dir.join("sub/l3"), g("e"), DenyKind::All),
            (dir.join("via/l3"), g("f"), DenyKind::Write),
            (PathBuf::from("/"), g("g"), DenyKind::Write),
            (dir.join("file2/x/l4"), g("h"), DenyKind::All),
            (dir.join("sub/l5"), g("i"), DenyKind::All),
        ];
        let base = || {
            let mut caps = CapabilitySet::new();
            caps.deny_write(dir.join("file"), "group z").unwrap();
            caps.deny(dir.join("sub/l3"), "group y").unwrap();
            caps
        };
        let mut one_by_one = base();
        let mut sequential_error = None;
        for (p, o, k) in &links {
            if let Err(e) = one_by_one.deny_link_kind(p, o, *k) {
                sequential_error = Some(e.to_string());
                break;
            }
        }
        let mut batch = base();
        let batch_error = batch
            .deny_links_kind(links.iter().map(|(p, o, k)| (p, o.clone(), *k)))
            .err()
            .map(|e| e.to_string());
        assert!(sequential_error.is_some(), "file2/x is not a directory");
        assert_eq!(batch_error, sequential_error);
        let view = |c: &CapabilitySet| {
            c.denies()
                .iter()
                .map(|d| (d.path.clone(), d.origin.clone(), d.kind, d.seen))
                .collect::<Vec<_>>()
        };
        assert_eq!(view(&batch), view(&one_by_one));
        assert_eq!(batch.denies().len(), 5, "{:#?}", view(&batch));
    }

    #[test]
    fn read_plus_write_merges_to_readwrite() {
        let dir = tmp();
        let mut caps = CapabilitySet::new();
        caps.allow_dir(&dir, AccessMode::Read, "--read").unwrap();
        caps.allow_dir(dir.join("."), AccessMode::Write, "--write")
            .unwrap();
        assert_eq!(caps.grants().len(), 1);
        assert_eq!(caps.grants()[0].access, AccessMode::ReadWrite);
        assert_eq!(caps.grants()[0].origin.to_string(), "--read, --write");
    }

    /// Issue 15: origins are typed and kept as a list; a path that reads like a flag or a
    /// list of origins stays one path in one `Origin::Flag`, whatever `Display` shows.
    #[test]
    fn origins_are_typed_and_never_split_from_text() {
        let dir = tmp();
        let odd = dir.join("x, --allow ");
        std::fs::create_dir_all(&odd).unwrap();
        let mut caps = CapabilitySet::new();
        caps.allow_dir(&odd, AccessMode::Read, Origin::flag("--allow-cwd", &odd))
            .unwrap();
        caps.allow_dir(&odd, AccessMode::Read, Origin::flag("--allow-cwd", &odd))
            .unwrap();
        caps.allow_dir(
            &odd,
            AccessMode::Write,
            Origin::Profile("p, --read /".into()),
        )
        .unwrap();
        let g = &caps.grants()[0];
        let all: Vec<&Origin> = g.origin.iter().collect();
        assert_eq!(
            all,
            [
                &Origin::flag("--allow-cwd", &odd),
                &Origin::Profile("p, --read /".into())
            ],
            "one entry per origin, duplicates dropped"
        );
        assert_eq!(
            g.origin.to_string(),
            format!("--allow-cwd {}, profile p, --read /", odd.display())
        );
        // Free text is a label, never a flag.
        assert!(!Origin::from("--allow /").is_flag());
        assert_eq!(
            Origin::flag("--read", &odd).flag_path(),
            Some(("--read", odd.as_path()))
        );
        assert_eq!(
            Origin::ProfileDeny("d".into()).to_string(),
            "group profile d"
        );
        assert_eq!(
            serde_json::to_value(&g.origin).unwrap(),
            serde_json::Value::String(g.origin.to_string())
        );
    }

    #[test]
    fn file_and_directory_kinds_are_checked() {
        let dir = tmp();
        let mut caps = CapabilitySet::new();
        assert!(matches!(
            caps.allow_dir(dir.join("file"), AccessMode::Read, "x"),
            Err(CapsError::NotADirectory { .. })
        ));
        assert!(matches!(
            caps.allow_file(dir.join("sub"), AccessMode::Read, "x"),
            Err(CapsError::IsADirectory { .. })
        ));
        caps.allow_path(dir.join("file"), AccessMode::Read, "x")
            .unwrap();
        assert_eq!(caps.grants()[0].kind, FsKind::File);
    }

    #[test]
    fn missing_path_is_an_error_naming_it() {
        let mut caps = CapabilitySet::new();
        let err = caps
            .allow_dir("/nonexistent/nono/path", AccessMode::Read, "x")
            .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/nono/path"), "{err}");
    }

    #[test]
    fn port_helpers_switch_to_ports_mode() {
        let mut caps = CapabilitySet::new();
        assert!(caps.network().allows_connect(443));
        caps.block_network();
        assert!(!caps.network().allows_connect(443));
        caps.allow_connect_port(443).allow_bind_port(8080);
        assert!(caps.network().allows_connect(443));
        assert!(!caps.network().allows_connect(80));
        assert!(caps.network().allows_bind(8080));
        assert!(!caps.network().allows_bind(443));
        assert_eq!(
            caps.network().to_string(),
            "TCP only: connect to 443; bind 8080"
        );
    }

    #[test]
    fn display_lists_every_rule() {
        let dir = tmp();
        let mut caps = CapabilitySet::new();
        caps.allow_dir(&dir, AccessMode::ReadWrite, "--allow")
            .unwrap()
            .deny(dir.join("sub"), "group test")
            .unwrap()
            .block_network()
            .set_scopes(Scopes::none());
        let text = caps.to_string();
        assert!(text.contains("readwrite dir "), "{text}");
        assert!(text.contains("(--allow)"), "{text}");
        assert!(text.contains("deny"), "{text}");
        assert!(text.contains("(group test)"), "{text}");
        assert!(text.contains("network: blocked"), "{text}");
        assert!(text.contains("scopes: none"), "{text}");
        assert!(text.contains("capabilities: dropped"), "{text}");
        assert!(text.contains("sysv ipc: private"), "{text}");
        assert!(text.contains("unix datagram sockets: refused"), "{text}");
        assert!(text.contains("compatibility: strict"), "{text}");
        caps.set_keep_capabilities(true);
        assert!(caps.to_string().contains("capabilities: kept"));
        caps.allow_unix_datagram(true);
        assert!(caps.to_string().contains("unix datagram sockets: allowed"));
    }

    #[test]
    fn unix_datagrams_are_refused_until_allowed_and_allowing_is_sticky() {
        let mut caps = CapabilitySet::new();
        assert!(!caps.allows_unix_datagram());
        caps.allow_unix_datagram(false);
        assert!(!caps.allows_unix_datagram());
        caps.allow_unix_datagram(true).allow_unix_datagram(false);
        assert!(caps.allows_unix_datagram(), "merging is an OR");
    }

    #[test]
    fn deny_of_a_missing_path_keeps_the_canonical_parent() {
        let dir = tmp();
        let mut caps = CapabilitySet::new();
        caps.deny(dir.join("sub/../sub/nothere/x"), "test").unwrap();
        assert_eq!(caps.denies()[0].path, dir.join("sub/nothere/x"));
        assert!(caps.deny("relative", "t").is_err());
    }

    #[test]
    fn deny_many_is_deny_in_order() {
        let dir = tmp();
        std::fs::create_dir_all(dir.join("real/sub/deep/er")).unwrap();
        std::fs::write(dir.join("real/file"), b"x").unwrap();
        let _ = std::os::unix::fs::symlink(dir.join("real"), dir.join("link"));
        let _ = std::os::unix::fs::symlink(dir.join("gone"), dir.join("dangling"));
        let names = [
            "real",
            "real/sub",
            "real/file",
            "real/missing",
            "real/missing/x",
            "link",
            "link/sub",
            "link/missing",
            "dangling",
            "dangling/x",
            "real/sub/",
            "real//sub",
            "real/./sub",
            "real/sub/../file",
            "real/sub",
            "missing/a",
            "missing/b",
            "missing/deeper/c",
            "missing/deeper/d",
            "real/missing/y/z",
            "dangling/q/r",
            // Parents resolved from their own parent, several levels down, beside ones
            // that go through a symlink.
            "real/sub/deep/er/x",
            "real/sub/deep/er/y",
            "real/sub/deep/gone/z",
            "link/sub/deep/er/x",
            "link/sub/deep/w",
            // Last: an error (ENOTDIR) stops both.
            "real/file/x",
        ];
        let paths: Vec<PathBuf> = names.iter().map(|n| dir.join(n)).collect();
        let mut one_by_one = CapabilitySet::new();
        let mut want_err = None;
        for (i, p) in paths.iter().enumerate() {
            if let Err(e) = one_by_one.deny(p, format!("t{i}")) {
                want_err = Some(e.to_string());
                break;
            }
        }
        let mut batch = CapabilitySet::new();
        let got = batch.deny_many(
            paths
                .iter()
                .enumerate()
                .map(|(i, p)| (p, format!("t{i}").into())),
        );
        assert_eq!(got.err().map(|e| e.to_string()), want_err);
        assert!(want_err.is_some(), "the last path is refused");
        assert_eq!(batch, one_by_one);
        assert_eq!(batch.denies().len(), 17, "aliases merged: {batch}");
    }
}

//! The runtime policy engine: deny groups, approve rules, session grants, the prompt rate
//! limiter and the approval backend, combined in [`Engine::decide`], which writes one audit
//! entry per decision.
//!
//! # Order of a decision
//! 1. A relative path is refused (the broker passes absolute, resolved paths).
//! 2. A path in a deny group is refused — nothing below can override this.
//! 3. A session grant for the (canonical) path that covers the access grants it.
//! 4. An approve rule that matches the canonical path and covers the access grants it once
//!    (rules are never throttled).
//! 5. The prompt rate limiter: over the limit, refused with "rate limited".
//! 6. The approval backend decides; a `Session` grant is remembered for path + access.
//!
//! Approve rules and session grants are matched against the path canonicalised by the
//! supervisor (symlinks resolved), never the spelling the child used, so a symlink inside an
//! approved tree cannot stretch a rule to a target outside it.

pub mod deny_inodes;
pub mod glob;

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use nono_sandbox::paths::{canonicalize_for_deny, clean_within, is_clean};
use nono_sandbox::DenyKind;
use nono_wire::{AccessMode, AuditEntry, CapabilityRequest, Timestamp};

pub use crate::approval::ApprovalBackend;
use crate::audit::AuditLog;
use crate::cancel::CancelToken;
use crate::deny_groups::{DenyMatch, DenySet, DenyVerdict};
pub use crate::request::{Decision, GrantScope, GroupRefusal, RequestSource, RuntimeRequest};
use crate::walked::{Opened, Walked};
pub use deny_inodes::DenyInodes;
use deny_inodes::Refused as DenyRefused;
pub use glob::Glob;

/// A request looked at before it is decided (see [`Engine::triage`]).
#[derive(Debug, Clone)]
pub struct Triage {
    /// The request path, canonicalised (leniently: a missing tail appended).
    canonical: PathBuf,
    /// The deny entry that refuses the access.
    denied: Option<GroupRefusal>,
    /// A deny group covers the path in any way (no prompt is ever asked for it).
    grouped: bool,
    /// What the deny groups' identity walk saw of the path: what the grant's act must then
    /// meet (red team 23).
    walked: Walked,
    /// The names the path has on the user's own paths, reached by another name (see
    /// `Probe::own_paths`; usually none): what the identity checks of a path operation's
    /// act compare by name too (red team 29).
    own: Vec<PathBuf>,
}

impl Triage {
    /// The names the request's path has on the user's own paths, other than its canonical
    /// one: a directory above it that the deny groups know was reached by another name (a
    /// bind mount of the home in an approved directory). Usually none. What
    /// [`refuse_moving_object`](Engine::refuse_moving_object) and
    /// [`refuse_making`](Engine::refuse_making) are given.
    #[must_use]
    pub fn own_paths(&self) -> &[PathBuf] {
        &self.own
    }

    /// What the identity walk saw of the request's path and directory (see [`Walked`]): a
    /// grant acts only where it looked.
    #[must_use]
    pub fn walked(&self) -> Walked {
        self.walked
    }
}

/// A rule that grants matching requests without asking.
///
/// A pattern without wildcards names a path and everything beneath it; a pattern with
/// wildcards matches as a [`Glob`] (`/src/**` for a tree, `/src/*.rs` for one level).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApproveRule {
    glob: Glob,
    /// The pattern with its fixed leading part canonicalised (symlinks resolved), so it
    /// can be compared with canonical request paths.
    canonical: Glob,
    /// For `canonical` and `glob` (in that order): the literal path of a pattern without
    /// wildcards (which names that path and everything beneath it), `None` for a pattern
    /// with wildcards. Computed once: a rule is matched several times per runtime request.
    literal: [Option<PathBuf>; 2],
    access: AccessMode,
    origin: String,
    /// What a decision made by the rule names (see [`describe`](ApproveRule::describe)),
    /// written once: it is copied into every grant the rule makes.
    description: String,
}

impl ApproveRule {
    /// A rule for an absolute pattern (variables already expanded) and the access it grants.
    /// `origin` says where it came from (`"profile rust"`).
    #[must_use]
    pub fn new(pattern: &str, access: AccessMode, origin: impl Into<String>) -> ApproveRule {
        let glob = Glob::new(pattern);
        let canonical = canonical_variant(&glob);
        let literal = |g: &Glob| (!g.has_wildcards()).then(|| g.literal_prefix());
        let origin = origin.into();
        ApproveRule {
            literal: [literal(&canonical), literal(&glob)],
            description: format!("approve {} ({access}, {origin})", glob.as_str()),
            glob,
            canonical,
            access,
            origin,
        }
    }

    /// A rule for the absolute path `path` and everything beneath it, its name taken
    /// literally: a `*`, `?` or `\` in it is part of the name, never a wildcard
    /// (`--approve PATH`).
    #[must_use]
    pub fn path(path: &Path, access: AccessMode, origin: impl Into<String>) -> ApproveRule {
        ApproveRule::new(&escape(path), access, origin)
    }

    /// The pattern as written.
    #[must_use]
    pub fn pattern(&self) -> &str {
        self.glob.as_str()
    }

    /// Where the rule came from (`--approve PATH`, `profile NAME`).
    #[must_use]
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The access the rule grants.
    #[must_use]
    pub fn access(&self) -> AccessMode {
        self.access
    }

    /// Whether the rule grants `access` on the canonical path `path`.
    #[must_use]
    pub fn grants(&self, path: &Path, access: AccessMode) -> bool {
        if !self.access.contains(access) {
            return false;
        }
        [&self.canonical, &self.glob]
            .iter()
            .zip(&self.literal)
            .any(|(g, literal)| match literal {
                Some(prefix) => within(path, prefix),
                None => g.matches(path),
            })
    }

    /// Whether the rule could grant a write at, into or beneath the directory `dir`: it grants
    /// writing, and the literal part of its pattern (up to the first wildcard) lies on the way
    /// to `dir` or beneath it. Conservative: a pattern with a wildcard near the root reaches
    /// everywhere.
    #[must_use]
    pub fn may_write_in(&self, dir: &Path) -> bool {
        self.access.writes()
            && [&self.canonical, &self.glob].iter().any(|g| {
                let prefix = g.literal_prefix();
                dir.starts_with(&prefix) || prefix.starts_with(dir)
            })
    }

    /// Whether the rule names the canonical path `path` itself — a pattern without
    /// wildcards equal to it, e.g. `--approve PATH` for that very path — with `access`. A
    /// runtime grant opens an object that is not a regular file or a directory (a FIFO, a
    /// device node) only when a rule names it like this (see `broker::settle_opened`).
    #[must_use]
    pub fn names(&self, path: &Path, access: AccessMode) -> bool {
        self.access.contains(access)
            && self
                .literal
                .iter()
                .any(|literal| literal.as_deref() == Some(path))
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}

/// `path.starts_with(prefix)`: by bytes where both are clean paths on Linux (what the
/// broker's canonical paths and a rule's canonical prefix are; it runs three times per
/// runtime grant), by components otherwise (and on macOS, where names fold case).
fn within(path: &Path, prefix: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt as _;
    if cfg!(target_os = "linux")
        && is_clean(path.as_os_str().as_bytes())
        && is_clean(prefix.as_os_str().as_bytes())
    {
        clean_within(path, prefix)
    } else {
        path.starts_with(prefix)
    }
}

/// Rebuild `glob` with its literal prefix replaced by that prefix's canonical form.
fn canonical_variant(glob: &Glob) -> Glob {
    let prefix = glob.literal_prefix();
    if !prefix.is_absolute() {
        return glob.clone();
    }
    let canon = canonicalize_for_deny(&prefix);
    if canon == prefix {
        return glob.clone();
    }
    let skip = prefix.components().count();
    let raw_rest: Vec<&str> = glob
        .as_str()
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    // `skip` counts the root; the split above does not.
    let rest = raw_rest.get(skip.saturating_sub(1)..).unwrap_or(&[]);
    let mut pattern = escape(&canon);
    for part in rest {
        pattern.push('/');
        pattern.push_str(part);
    }
    Glob::new(&pattern)
}

/// Escape glob metacharacters in a literal path.
fn escape(path: &Path) -> String {
    let mut out = String::new();
    for c in path.to_string_lossy().chars() {
        if matches!(c, '*' | '?' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Prompt rate limit: at most `prompts` per `per`, refilled continuously (token bucket).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Bucket size: prompts allowed in a burst and per window.
    pub prompts: u32,
    /// The window.
    pub per: Duration,
}

impl Default for RateLimit {
    /// 10 prompts per minute.
    fn default() -> Self {
        RateLimit {
            prompts: 10,
            per: Duration::from_secs(60),
        }
    }
}

/// A token bucket for [`RateLimit`]. Thread-safe.
#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    /// A full bucket.
    #[must_use]
    pub fn new(limit: RateLimit) -> RateLimiter {
        RateLimiter::new_at(limit, Instant::now())
    }

    /// A full bucket at time `now` (for tests that drive the clock).
    #[must_use]
    pub fn new_at(limit: RateLimit, now: Instant) -> RateLimiter {
        RateLimiter {
            limit,
            state: Mutex::new((f64::from(limit.prompts), now)),
        }
    }

    /// The configured limit.
    #[must_use]
    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Take a token now; `false` when the bucket is empty.
    pub fn try_acquire(&self) -> bool {
        self.try_acquire_at(Instant::now())
    }

    /// Take a token at time `now`.
    pub fn try_acquire_at(&self, now: Instant) -> bool {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let cap = f64::from(self.limit.prompts);
        let elapsed = now.saturating_duration_since(st.1);
        if !self.limit.per.is_zero() {
            st.0 = (st.0 + cap * elapsed.as_secs_f64() / self.limit.per.as_secs_f64()).min(cap);
        } else {
            st.0 = cap;
        }
        if now > st.1 {
            st.1 = now;
        }
        if st.0 >= 1.0 {
            st.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The static part of the runtime policy.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Paths that are never granted.
    pub deny: DenySet,
    /// Paths granted without asking.
    pub approve: Vec<ApproveRule>,
    /// Limit on backend prompts (`None` = unlimited).
    pub rate_limit: Option<RateLimit>,
}

/// Decides runtime requests. `Send + Sync`; [`decide`](Engine::decide) may run on many
/// threads at once (prompts are serialised by the terminal backend itself).
#[derive(Debug)]
pub struct Engine {
    policy: Policy,
    /// Identities of the files under the full deny entries (hard links to them are refused).
    inodes: DenyInodes,
    /// The same for the read-only entries (hard links to them are refused for writing).
    read_only_inodes: DenyInodes,
    backend: Box<dyn ApprovalBackend>,
    sessions: Mutex<HashMap<PathBuf, AccessMode>>,
    /// Directories granted for the session ([`GrantScope::SessionDirectory`]).
    session_dirs: Mutex<Vec<(PathBuf, AccessMode)>>,
    /// Paths a write was granted at once for ([`GrantScope::Once`] from the backend): the
    /// descriptor stays with the command, so where it lies stays writable for
    /// [`may_grant_write_in`](Engine::may_grant_write_in) (red team 15).
    once_writes: Mutex<std::collections::HashSet<PathBuf>>,
    limiter: Option<RateLimiter>,
    audit: Option<AuditLog>,
    session_id: String,
    counter: AtomicU64,
}

/// Why a rename or a symlink at a name above a deny entry is refused.
const MOVING: &str = "renaming it or putting a symlink at its name would change what that \
                      entry names, which no rule or approval can override";

impl Engine {
    /// An engine for `policy` asking `backend` when no rule decides. No audit log until
    /// [`with_audit`](Engine::with_audit).
    #[must_use]
    pub fn new(policy: Policy, backend: impl ApprovalBackend + 'static) -> Engine {
        let limiter = policy.rate_limit.map(RateLimiter::new);
        let kind_of = |want: DenyKind| {
            policy
                .deny
                .entries_with_kind()
                .filter(move |(_, _, k)| *k == want)
                .map(|(p, g, _)| (p, g))
        };
        let inodes = DenyInodes::build(kind_of(DenyKind::All));
        let read_only_inodes = DenyInodes::build(kind_of(DenyKind::Write));
        Engine {
            policy,
            inodes,
            read_only_inodes,
            backend: Box::new(backend),
            sessions: Mutex::new(HashMap::new()),
            session_dirs: Mutex::new(Vec::new()),
            once_writes: Mutex::new(std::collections::HashSet::new()),
            limiter,
            audit: None,
            session_id: format!("nono-{}", std::process::id()),
            counter: AtomicU64::new(0),
        }
    }

    /// Write every decision to `log`. The log file itself joins the deny set (group
    /// `nono`), so no runtime grant can hand the child its own audit trail.
    #[must_use]
    pub fn with_audit(mut self, log: AuditLog) -> Engine {
        if let Ok(path) = std::fs::canonicalize(log.path()) {
            // Only fails for a relative path, which canonicalize never returns.
            let _ = self.policy.deny.add(&path, "nono");
            self.inodes.add(&path, "nono");
        }
        self.audit = Some(log);
        self
    }

    /// The session id written in audit entries (default `nono-<supervisor pid>`).
    #[must_use]
    pub fn with_session_id(mut self, id: impl Into<String>) -> Engine {
        self.session_id = id.into();
        self
    }

    /// The policy.
    #[must_use]
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The session id.
    #[must_use]
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// The audit log, if any.
    #[must_use]
    pub fn audit_log(&self) -> Option<&AuditLog> {
        self.audit.as_ref()
    }

    /// Audit lines that could not be written so far.
    #[must_use]
    pub fn audit_failures(&self) -> u64 {
        self.audit.as_ref().map_or(0, AuditLog::failures)
    }

    /// Whether this engine has granted, or grants without asking, a write at, into or
    /// beneath the directory `dir` (canonical): a session grant of a file or directory, or an
    /// approve rule ([`ApproveRule::may_write_in`]), or a write granted once at a prompt
    /// (the command keeps the descriptor: a program it opened for writing stays writable).
    /// Never inside a deny entry that removes writing (deny groups win over every runtime
    /// grant) — unless the deny groups' identity walk could not see `dir`'s directory: then
    /// `true` (red team 26: what the walk's fallback by name met there is no proof that the
    /// command cannot write, and `false` lets a program run from `dir`). For what runs
    /// outside the sandbox from `dir` (the URL opener), which `true` keeps away.
    #[must_use]
    pub fn may_grant_write_in(&self, dir: &Path) -> bool {
        match self.policy.deny.verdict(dir, AccessMode::Write) {
            DenyVerdict::Clear => {}
            DenyVerdict::Denied(_) => return false,
            // Not known not to lead elsewhere: not a place to run a program from.
            DenyVerdict::Unchecked { .. } => return true,
        }
        let reaches = |p: &Path| dir.starts_with(p) || p.starts_with(dir);
        if self.policy.approve.iter().any(|r| r.may_write_in(dir)) {
            return true;
        }
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if sessions.iter().any(|(p, a)| a.writes() && reaches(p)) {
            return true;
        }
        drop(sessions);
        let once = self.once_writes.lock().unwrap_or_else(|p| p.into_inner());
        if once.iter().any(|p| reaches(p)) {
            return true;
        }
        drop(once);
        let dirs = self.session_dirs.lock().unwrap_or_else(|p| p.into_inner());
        dirs.iter().any(|(d, a)| a.writes() && reaches(d))
    }

    /// A rename of the name `req.path` (either name), or a symlink made at it, that would
    /// change what a deny entry beneath it names: the entry (its path) and the refusal, with
    /// an audit entry. Deny groups win over every runtime grant, and the entry itself is
    /// never touched by such a call (red team 22). Non-blocking; a scan of the entries.
    pub fn refuse_moving(&self, req: &RuntimeRequest) -> Option<(PathBuf, String, GroupRefusal)> {
        let (entry, m) = self.policy.deny.entry_beneath(&req.path)?;
        Some(self.refused_entry(req, entry, &m, "holds", MOVING))
    }

    /// [`refuse_moving`](Engine::refuse_moving) by identity: the object `(st_dev, st_ino)`
    /// now at the name `req.path` (either name of a rename) is a
    /// deny entry or a directory above one, whatever name reached it (red team 26: the
    /// user's `/home` bind-mounted in an approved directory, `W/hs/u/.config` renamed aside
    /// and another directory holding `autostart/` renamed into its place). Call it on what
    /// the call is about to act on; the names compared by
    /// [`refuse_moving`](Engine::refuse_moving) say nothing of an object reached by another
    /// name.
    ///
    /// `symlink`: the object is a symbolic link; one the identities read once per run do not
    /// know is compared with each kept link as it is now (red team 28: a kept link the user
    /// replaced during the run).
    ///
    /// `own`: the names the name has on the user's own paths ([`Triage::own_paths`]); an
    /// entry beneath one of them by name is refused too (red team 29: a directory above an
    /// entry made or replaced during the run has an identity the table read once does not
    /// know).
    pub fn refuse_moving_object(
        &self,
        req: &RuntimeRequest,
        dev: u64,
        ino: u64,
        symlink: bool,
        own: &[PathBuf],
    ) -> Option<(PathBuf, String, GroupRefusal)> {
        let deny = &self.policy.deny;
        let (entry, m) = deny
            .object_beneath(dev, ino)
            .or_else(|| symlink.then(|| deny.kept_link_now(dev, ino)).flatten())
            .or_else(|| {
                own.iter()
                    .find_map(|p| deny.entry_beneath(p).or_else(|| deny.kept_link_at(p)))
            })?;
        Some(self.refused_entry(req, entry, &m, "is, or holds by another name,", MOVING))
    }

    /// Making the name `req.path`, whose parent directory is the object `(st_dev, st_ino)`,
    /// would make a deny entry that does not exist yet (or the top missing directory of its
    /// path), reached by another name (red team 26: `mkdir W/hs/u/.config/autostart`
    /// through a bind mount of the home where `~/.config/autostart` is missing). Made by
    /// its own name, the checks by name decide, as before; by another name only this does.
    /// Call it on the directory the call is about to make the name in.
    ///
    /// The name's own path (`~/.gemini` for `W/hs/u/.gemini`: made by that name, the checks
    /// by name decide), the reason and the refusal.
    ///
    /// `own`: the names `req.path` has on the user's own paths ([`Triage::own_paths`]); a
    /// name above an entry by one of them is refused too (red team 29: the directory the
    /// name is made in was made or replaced during the run, so its identity is not the one
    /// [`missing_made_by`](crate::deny_groups::DenySet::missing_made_by) keys by).
    pub fn refuse_making(
        &self,
        req: &RuntimeRequest,
        dev: u64,
        ino: u64,
        own: &[PathBuf],
    ) -> Option<(PathBuf, String, GroupRefusal)> {
        let deny = &self.policy.deny;
        let (entry, own, m) = deny.missing_made_by(dev, ino, &req.path).or_else(|| {
            own.iter().find_map(|p| {
                let (entry, m) = deny.entry_beneath(p)?;
                Some((entry, p.clone(), m))
            })
        })?;
        let (_, reason, refusal) = self.refused_entry(
            req,
            entry,
            &m,
            "would make, by another name,",
            "a name the entry protects, which no rule or approval can override",
        );
        Some((own, reason, refusal))
    }

    /// The refusal of a call that would move or make a deny entry by a name that is not its
    /// own (`{req.path} {holds} {entry}, which is in deny group …: {tail}`), audited.
    fn refused_entry(
        &self,
        req: &RuntimeRequest,
        entry: PathBuf,
        m: &DenyMatch<'_>,
        holds: &str,
        tail: &str,
    ) -> (PathBuf, String, GroupRefusal) {
        let what = match m.kind {
            DenyKind::All => "is in deny group",
            DenyKind::Write => "is read-only in deny group",
        };
        let reason = format!(
            "{} {holds} {}, which {what} `{}`: {tail}",
            req.path.display(),
            entry.display(),
            m.origin.deny_label(),
        );
        let refusal = GroupRefusal {
            origin: m.origin.clone(),
            kind: m.kind,
            why: m.why.to_owned(),
            own: None,
        };
        self.refused_by_group(req, entry, reason, refusal)
    }

    /// A deny group's refusal of `req` for `reason`, audited: `(path, reason, refusal)`.
    fn refused_by_group(
        &self,
        req: &RuntimeRequest,
        path: PathBuf,
        reason: String,
        refusal: GroupRefusal,
    ) -> (PathBuf, String, GroupRefusal) {
        let decision = Decision::Denied {
            reason: reason.clone(),
            by_group: Some(refusal.clone()),
        };
        self.record(req, &decision, "deny-group", Duration::ZERO);
        (path, reason, refusal)
    }

    /// A rename or removal of the name `req.path` when it is a symlink a deny group keeps in
    /// place ([`DenySet::protected_link`](crate::deny_groups::DenySet::protected_link): on the
    /// way from an entry to what it means, or a name a chain passes on the way to a `..`): the
    /// link (its path) and the refusal, with an audit entry. Moving it away and putting
    /// another in its place re-points the entry for every later run and every program outside
    /// the sandbox (`~/dots/cur` of `~/.ssh/config` → `../dots/cur/config`, under
    /// `--approve ~`: red team 27); the judgement of the name itself follows the link and
    /// sees nothing denied. Deny groups win over every runtime grant. Non-blocking.
    pub fn refuse_unkeeping(
        &self,
        req: &RuntimeRequest,
    ) -> Option<(PathBuf, String, GroupRefusal)> {
        let (origin, kind) = self.policy.deny.protected_link(&req.path)?;
        let reason = format!(
            "{} is kept in place by deny group `{}` (it leads to or passes what the group \
             protects): removing or renaming it would change what that protects, which no \
             rule or approval can override",
            req.path.display(),
            origin.deny_label(),
        );
        let refusal = GroupRefusal {
            origin: origin.clone(),
            kind,
            why: String::new(),
            own: None,
        };
        Some(self.refused_by_group(req, req.path.clone(), reason, refusal))
    }

    /// Non-blocking: the deny group that covers `path`, if any.
    #[must_use]
    pub fn deny_group_of(&self, path: &Path) -> Option<&str> {
        self.policy.deny.group_of(path)
    }

    /// After a grant, on the fd the supervisor opened for it: refuse (and write a second
    /// audit entry saying so) when the object is a file under a deny entry reached by another
    /// name — a hard link made outside the sandbox (see [`DenyInodes`]). Returns the reason.
    /// May walk a large deny entry once: call it where [`decide`](Engine::decide) is called.
    pub fn refuse_opened(&self, req: &RuntimeRequest, fd: impl AsFd) -> Option<String> {
        let start = Instant::now();
        let refused = match self.inodes.check(fd.as_fd()) {
            Err(r) => r,
            Ok(()) if req.access.writes() => self.read_only_inodes.check(fd).err()?,
            Ok(()) => return None,
        };
        Some(self.refused_opened(req, &refused, start))
    }

    /// [`refuse_opened`](Engine::refuse_opened) of the fd whose `fstat` is `st` (made by the
    /// caller just before, on the fd it is about to hand out): one `fstat` per grant where
    /// each check made its own.
    pub fn refuse_opened_stat(&self, req: &RuntimeRequest, st: &Opened) -> Option<String> {
        let start = Instant::now();
        let refused = match self.inodes.check_stat(st) {
            Err(r) => r,
            Ok(()) if req.access.writes() => self.read_only_inodes.check_stat(st).err()?,
            Ok(()) => return None,
        };
        Some(self.refused_opened(req, &refused, start))
    }

    fn refused_opened(
        &self,
        req: &RuntimeRequest,
        refused: &DenyRefused,
        start: Instant,
    ) -> String {
        let reason = refused.reason(&req.path);
        let decision = Decision::denied(reason.clone());
        self.record(req, &decision, "deny-group", start.elapsed());
        reason
    }

    /// Non-blocking: whether [`decide`](Engine::decide) would reach the approval backend for
    /// `req` (no deny group refuses it, no session grant or approve rule grants it) — i.e.
    /// whether deciding it may wait for a person. The broker runs such requests on workers
    /// of their own, so that decisions a rule makes at once never queue behind prompts.
    #[must_use]
    pub fn asks(&self, req: &RuntimeRequest) -> bool {
        self.triage(req).is_some_and(|t| self.asks_triaged(req, &t))
    }

    /// What deciding `req` starts with, computed once for [`asks_triaged`](Engine::asks_triaged)
    /// and [`decide_triaged`](Engine::decide_triaged): the canonical path and the deny groups'
    /// verdicts (a canonicalisation and a walk over the path's ancestors, the bulk of a
    /// decision). `None` for a relative path.
    pub fn triage(&self, req: &RuntimeRequest) -> Option<Triage> {
        self.triage_with(req, None)
    }

    /// [`triage`](Engine::triage) of a request whose path the caller has just canonicalised
    /// (`req.path` is its own canonical form, as the broker's trapped opens are), so it is
    /// not resolved a second time.
    pub fn triage_canonical(&self, req: &RuntimeRequest) -> Option<Triage> {
        self.triage_with(req, Some((req.path.clone(), None)))
    }

    /// [`triage_canonical`](Engine::triage_canonical) of a request whose path
    /// [`checked_canonical`](nono_sandbox::paths::checked_canonical) has shown canonical:
    /// the deny groups' identity walk starts from what it saw (two system calls fewer).
    pub fn triage_checked(
        &self,
        req: &RuntimeRequest,
        checked: nono_sandbox::paths::Checked,
    ) -> Option<Triage> {
        self.triage_with(req, Some((req.path.clone(), Some(checked))))
    }

    fn triage_with(
        &self,
        req: &RuntimeRequest,
        canonical: Option<(PathBuf, Option<nono_sandbox::paths::Checked>)>,
    ) -> Option<Triage> {
        if !req.path.is_absolute() {
            return None;
        }
        let probe = match canonical {
            Some((c, checked)) => self.policy.deny.probe_checked(&req.path, c, checked),
            None => self.policy.deny.probe(&req.path),
        }
        .translating();
        // By name, by the names the path has on the user's own paths (red team 29: an entry
        // made during the run, reached by another name, has no identity the walk knows; the
        // directory above it the walk met does), then by the identities of entries. The own
        // name before the identities: an entry that existed at the start, reached by another
        // name, is refused by both, and the refusal names the own path — no flag lifts an
        // entry under another name (red team 31: the line advised `--bypass-protection` of
        // the other name, which nono then refused to start with, "nothing to bypass").
        let denied = probe
            .deny_by_name(req.access)
            .map(|m| (None, m))
            .or_else(|| {
                probe
                    .by_other_name(req.access)
                    .map(|(own, m)| (Some(own), m))
            })
            .or_else(|| probe.deny_by_identity(req.access).map(|m| (None, m)))
            .map(|(own, m)| GroupRefusal {
                origin: m.origin.clone(),
                kind: m.kind,
                why: m.why.to_owned(),
                own,
            });
        let grouped = denied.is_some() || probe.group().is_some();
        let walked = if denied.is_some() {
            // Refused: nothing will act on it.
            Walked::Unneeded
        } else {
            probe.walked()
        };
        let own = if denied.is_some() {
            Vec::new()
        } else {
            probe.own_paths().to_vec()
        };
        Some(Triage {
            canonical: probe.canonical().to_path_buf(),
            denied,
            grouped,
            walked,
            own,
        })
    }

    /// Whether [`decide_triaged`](Engine::decide_triaged) of `req` on `t` is quick and never
    /// waits: a deny group refuses it or a session grant or rule grants it (no backend is
    /// asked), and no audit log is written. The broker then answers the request on the
    /// notify thread itself instead of handing it to a worker (a wake-up on another CPU,
    /// ~10 µs a grant on 2 cores) — except the check of the opened file when
    /// [`refuse_opened_may_wait`](Engine::refuse_opened_may_wait).
    pub fn decides_at_once(&self, req: &RuntimeRequest, t: &Triage) -> bool {
        let immediate = t.denied.is_some() || self.session_or_rule_grants(req, t);
        immediate && self.audit.is_none()
    }

    /// Whether a session grant or an approve rule grants `req` (triaged as `t`) and no deny
    /// group refuses it: [`decide_triaged`](Engine::decide_triaged) then grants without asking
    /// the backend (it may still write an audit entry).
    pub fn grants_without_asking(&self, req: &RuntimeRequest, t: &Triage) -> bool {
        t.denied.is_none() && self.session_or_rule_grants(req, t)
    }

    /// Whether a session grant or an approve rule covers `req` on `t`'s canonical path (deny
    /// groups not considered: the callers check `t.denied` first).
    fn session_or_rule_grants(&self, req: &RuntimeRequest, t: &Triage) -> bool {
        let session = self
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&t.canonical)
            .is_some_and(|a| a.contains(req.access));
        session
            || self
                .policy
                .approve
                .iter()
                .any(|r| r.grants(&t.canonical, req.access))
    }

    /// Whether [`refuse_opened`](Engine::refuse_opened) of `fd` may take long (walk a deny
    /// entry that was cut at start-up, see [`DenyInodes`]); never blocks itself.
    pub fn refuse_opened_may_wait(&self, fd: impl AsFd) -> bool {
        // Unknown (statx failed): `refuse_opened` refuses at once without walking.
        Opened::of_fd(fd).is_ok_and(|st| self.refuse_opened_may_wait_stat(&st))
    }

    /// [`refuse_opened_may_wait`](Engine::refuse_opened_may_wait) of the fd whose `fstat` is
    /// `st`.
    #[must_use]
    pub fn refuse_opened_may_wait_stat(&self, st: &Opened) -> bool {
        self.inodes.may_walk(st) || self.read_only_inodes.may_walk(st)
    }

    /// [`asks`](Engine::asks) on a [`triage`](Engine::triage) of `req`.
    pub fn asks_triaged(&self, req: &RuntimeRequest, t: &Triage) -> bool {
        if t.grouped {
            return false;
        }
        let session = self
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&t.canonical)
            .is_some_and(|a| a.contains(req.access));
        !session
            && !self
                .policy
                .approve
                .iter()
                .any(|r| r.grants(&t.canonical, req.access))
    }

    /// Whether an approve rule names the canonical `path` itself with `access` (see
    /// [`ApproveRule::names`]): what a runtime grant of a FIFO or a device node needs.
    #[must_use]
    pub fn rule_names(&self, path: &Path, access: AccessMode) -> bool {
        self.policy.approve.iter().any(|r| r.names(path, access))
    }

    /// After a grant: the supervisor refused the opened object anyway (`reason`, e.g. it is a
    /// FIFO no rule names). Writes a second audit entry saying so.
    pub fn refuse_granted(&self, req: &RuntimeRequest, reason: &str) {
        self.record(req, &Decision::denied(reason), "policy", Duration::ZERO);
    }

    /// Blocking (may prompt a human): decide `req` and write one audit entry. An audit write
    /// failure never changes the decision; it is logged and counted
    /// ([`audit_failures`](Engine::audit_failures)).
    pub fn decide(&self, req: &RuntimeRequest) -> Decision {
        self.decide_until(req, &CancelToken::new())
    }

    /// [`decide`](Engine::decide), but a backend that is still asking when `cancel` fires
    /// gives up (see [`ApprovalBackend::approve_until`]); a request that reaches the backend
    /// after the command ended is not asked at all. Either way the decision is `Denied` with
    /// the cancellation as its reason, and is audited like any other.
    pub fn decide_until(&self, req: &RuntimeRequest, cancel: &CancelToken) -> Decision {
        let start = Instant::now();
        let (decision, backend) = match self.triage(req) {
            Some(t) => self.decide_inner(req, t, cancel),
            None => (
                Decision::denied(format!(
                    "{}: not an absolute path (the broker must resolve paths first)",
                    req.path.display()
                )),
                "policy",
            ),
        };
        self.record(req, &decision, backend, start.elapsed());
        decision
    }

    /// [`decide_until`](Engine::decide_until) with `t` the [`triage`](Engine::triage) of
    /// `req` made just before (for the broker's lane choice): the deny groups are not walked
    /// twice for one request.
    pub fn decide_triaged(
        &self,
        req: &RuntimeRequest,
        t: Triage,
        cancel: &CancelToken,
    ) -> Decision {
        let start = Instant::now();
        let (decision, backend) = self.decide_inner(req, t, cancel);
        self.record(req, &decision, backend, start.elapsed());
        decision
    }

    fn decide_inner(
        &self,
        req: &RuntimeRequest,
        t: Triage,
        cancel: &CancelToken,
    ) -> (Decision, &str) {
        let canonical = t.canonical;
        if let Some(refusal) = t.denied {
            let what = match refusal.kind {
                DenyKind::All => "is in deny group",
                DenyKind::Write => "is read-only in deny group",
            };
            let by = refusal.own.as_ref().map_or(String::new(), |own| {
                format!(" (it is {} reached by another name)", own.display())
            });
            return (
                Decision::Denied {
                    reason: format!(
                        "{}{by} {what} `{}`, which no rule or approval can override",
                        req.path.display(),
                        refusal.origin.deny_label(),
                    ),
                    by_group: Some(refusal),
                },
                "deny-group",
            );
        }
        {
            let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
            if sessions
                .get(&canonical)
                .is_some_and(|a| a.contains(req.access))
            {
                return (
                    Decision::Granted {
                        scope: GrantScope::Session,
                        rule: "session grant".to_owned(),
                    },
                    "session",
                );
            }
        }
        {
            let dirs = self.session_dirs.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((d, _)) = dirs
                .iter()
                .find(|(d, a)| canonical.starts_with(d) && a.contains(req.access))
            {
                return (
                    Decision::Granted {
                        scope: GrantScope::SessionDirectory,
                        rule: format!("session grant of the directory {}", d.display()),
                    },
                    "session",
                );
            }
        }
        if let Some(rule) = self
            .policy
            .approve
            .iter()
            .find(|r| r.grants(&canonical, req.access))
        {
            return (
                Decision::Granted {
                    scope: GrantScope::Once,
                    rule: rule.describe(),
                },
                "policy",
            );
        }
        if self.backend.throttled() {
            if let Some(limiter) = &self.limiter {
                if !limiter.try_acquire() {
                    let l = limiter.limit();
                    return (
                        Decision::denied(format!(
                            "rate limited: more than {} approval prompts in {}s",
                            l.prompts,
                            l.per.as_secs()
                        )),
                        "rate-limit",
                    );
                }
            }
        }
        let asked = RuntimeRequest {
            path: canonical.clone(),
            ..req.clone()
        };
        if let Some(why) = cancel.ended() {
            return (Decision::denied(why.as_denial()), self.backend.name());
        }
        let decision = match cancel.watch() {
            Ok(watch) => self.backend.approve_until(&asked, &watch),
            Err(e) => {
                tracing::warn!("cannot watch for cancellation ({e}): asking without it");
                self.backend.approve(&asked)
            }
        };
        if let Decision::Granted {
            scope: GrantScope::Once,
            ..
        } = decision
        {
            if req.access.writes() {
                let mut once = self.once_writes.lock().unwrap_or_else(|p| p.into_inner());
                once.insert(canonical.clone());
            }
        }
        if let Decision::Granted {
            scope: GrantScope::Session,
            ..
        } = decision
        {
            let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
            let entry = sessions.entry(canonical.clone()).or_insert(req.access);
            *entry = entry.union(req.access);
        }
        if let Decision::Granted {
            scope: GrantScope::SessionDirectory,
            ..
        } = decision
        {
            let dir = if canonical.is_dir() {
                canonical
            } else {
                canonical
                    .parent()
                    .map_or_else(|| canonical.clone(), Path::to_path_buf)
            };
            let mut dirs = self.session_dirs.lock().unwrap_or_else(|p| p.into_inner());
            dirs.push((dir, req.access));
        }
        (decision, self.backend.name())
    }

    fn record(&self, req: &RuntimeRequest, decision: &Decision, backend: &str, took: Duration) {
        let Some(log) = &self.audit else {
            return;
        };
        let n = self.counter.fetch_add(1, Ordering::Relaxed) + 1;
        let entry = AuditEntry {
            timestamp: Timestamp::try_from(SystemTime::now()).unwrap_or(Timestamp::UNIX_EPOCH),
            request: CapabilityRequest {
                request_id: format!("{}-{n}", req.source.as_str()),
                path: req.path.clone(),
                access: req.access,
                reason: req.reason.clone(),
                child_pid: req.pid,
                session_id: self.session_id.clone(),
            },
            decision: decision.to_wire(),
            backend: backend.to_owned(),
            duration_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
        };
        if let Err(e) = log.write(&entry) {
            tracing::error!("audit log: {e} (the decision stands: {:?})", entry.decision);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approval::{Callback, DenyAll};
    use crate::profile::Vars;
    use crate::scratch::Scratch;
    use nono_wire::ApprovalDecision;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    #[test]
    fn within_is_starts_with() {
        let paths = [
            "/", "/a", "/ab", "/a/b", "/a/bc", "/a/b/c", "/a/", "/a//b", "/a/./b", "/a/../b",
        ];
        for p in paths {
            for q in paths {
                assert_eq!(
                    within(Path::new(p), Path::new(q)),
                    Path::new(p).starts_with(q),
                    "{p} within {q}"
                );
            }
        }
    }

    fn dir(tag: &str) -> Scratch {
        let d = Scratch::new(&format!("nono-policy-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(d.join("home/.ssh")).unwrap();
        std::fs::create_dir_all(d.join("proj/src")).unwrap();
        d
    }

    fn req(path: &Path, access: AccessMode) -> RuntimeRequest {
        RuntimeRequest {
            path: path.to_path_buf(),
            access,
            pid: 42,
            reason: None,
            source: RequestSource::Trap,
        }
    }

    /// A callback that grants with `scope` and counts how often it was asked.
    fn counting(scope: GrantScope) -> (Callback, Arc<AtomicUsize>) {
        let n = Arc::new(AtomicUsize::new(0));
        let n2 = Arc::clone(&n);
        let cb = Callback::new(move |_r: &RuntimeRequest| {
            n2.fetch_add(1, Ordering::SeqCst);
            Decision::Granted {
                scope,
                rule: "callback".into(),
            }
        });
        (cb, n)
    }

    #[test]
    fn a_rule_names_only_its_own_literal_path() {
        let d = dir("names");
        let fifo = d.join("proj/src/p");
        let by_dir = ApproveRule::path(&d.join("proj"), AccessMode::Read, "test");
        let by_path = ApproveRule::path(&fifo, AccessMode::Read, "test");
        let by_glob = ApproveRule::new(&format!("{}/proj/**", d.display()), AccessMode::Read, "t");
        assert!(by_dir.grants(&fifo, AccessMode::Read) && !by_dir.names(&fifo, AccessMode::Read));
        assert!(by_path.names(&fifo, AccessMode::Read));
        assert!(
            !by_path.names(&fifo, AccessMode::Write),
            "access counts too"
        );
        assert!(!by_glob.names(&fifo, AccessMode::Read));
        let engine = Engine::new(
            Policy {
                approve: vec![by_dir, by_path],
                ..Policy::default()
            },
            DenyAll,
        );
        assert!(engine.rule_names(&fifo, AccessMode::Read));
        assert!(!engine.rule_names(&d.join("proj/src"), AccessMode::Read));
        // A rule decides these at once; anything else would reach the backend.
        assert!(!engine.asks(&req(&fifo, AccessMode::Read)));
        assert!(engine.asks(&req(&d.join("elsewhere"), AccessMode::Read)));
    }

    #[test]
    fn engine_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Engine>();
    }

    #[test]
    fn deny_group_wins_over_rules_sessions_and_backend() {
        let d = dir("deny");
        let policy = Policy {
            deny: DenySet::all(&Vars::for_home(d.join("home"))).unwrap(),
            approve: vec![ApproveRule::new(
                &format!("{}/**", d.display()),
                AccessMode::ReadWrite,
                "test",
            )],
            rate_limit: None,
        };
        let (cb, asked) = counting(GrantScope::Session);
        let engine = Engine::new(policy, cb);
        let key = d.join("home/.ssh/id_rsa");
        let got = engine.decide(&req(&key, AccessMode::Read));
        assert!(
            matches!(&got, Decision::Denied { reason, by_group: Some(g) } if reason.contains("credentials") && g.kind == DenyKind::All),
            "{got:?}"
        );
        assert_eq!(asked.load(Ordering::SeqCst), 0);
        assert_eq!(engine.deny_group_of(&key), Some("credentials"));
        // The sibling with a shared prefix is not denied, and the rule grants it.
        assert!(engine
            .decide(&req(&d.join("home/.sshfoo"), AccessMode::Read))
            .is_granted());
    }

    /// Where a runtime grant could let the sandbox put a program (the URL opener's `PATH`):
    /// an approve rule's literal prefix on the way to or beneath the directory (wildcards
    /// reach everything past it), a session grant of a file or directory once given; never
    /// inside a deny entry, never by a rule or grant that only reads.
    #[test]
    fn may_grant_write_in_sees_rules_and_session_grants() {
        let d = dir("may-write");
        std::fs::create_dir_all(d.join("home/.local/bin")).unwrap();
        std::fs::create_dir_all(d.join("srv/a/bin")).unwrap();
        std::fs::create_dir_all(d.join("srv/b/bin")).unwrap();
        std::fs::create_dir_all(d.join("srv/c/bin")).unwrap();
        std::fs::create_dir_all(d.join("usr/bin")).unwrap();
        std::fs::write(d.join("srv/c/bin/tool"), "x").unwrap();
        let policy = Policy {
            deny: DenySet::all(&Vars::for_home(d.join("home"))).unwrap(),
            approve: vec![
                ApproveRule::path(&d.join("home"), AccessMode::ReadWrite, "--approve"),
                ApproveRule::new(
                    &format!("{}/srv/a/*/x", d.display()),
                    AccessMode::Write,
                    "p",
                ),
                ApproveRule::path(&d.join("usr"), AccessMode::Read, "--approve"),
            ],
            rate_limit: None,
        };
        let (cb, _) = counting(GrantScope::Session);
        let engine = Engine::new(policy, cb);
        let may = |p: &str| engine.may_grant_write_in(&d.join(p));
        assert!(may("home"));
        assert!(!may("home/.local/bin"), "autorun: deny groups win");
        assert!(may("srv/a/bin"), "a wildcard past srv/a reaches bin");
        assert!(may("srv"), "a rule beneath the directory");
        assert!(!may("srv/b/bin"));
        assert!(!may("usr/bin"), "a read-only rule");
        // A session grant of a file, once given, reaches its directory.
        assert!(!may("srv/c/bin"));
        let got = engine.decide(&req(&d.join("srv/c/bin/tool"), AccessMode::Write));
        assert!(got.is_granted(), "{got:?}");
        assert!(may("srv/c/bin"));
        assert!(!may("srv/b/bin"));
    }

    /// Red team 26: where the deny groups' identity walk could not see the directory (a
    /// symlink loop on the way, `ELOOP`; a directory gone, `ENOENT`; for an unprivileged
    /// supervisor one it may not search, `EACCES`) the answer was "nothing denied" and the
    /// rules alone decided: a directory no rule reaches was a place the URL opener could run
    /// a program from, although the walk never saw where it leads. Now it is not.
    #[test]
    fn redteam26_may_grant_write_in_fails_closed_where_the_walk_could_not_see() {
        let d = dir("may-write-unseen");
        std::fs::create_dir_all(d.join("home/.ssh")).unwrap();
        std::fs::create_dir_all(d.join("usr/bin")).unwrap();
        std::os::unix::fs::symlink(d.join("usr/loop"), d.join("usr/loop")).unwrap();
        let policy = Policy {
            deny: DenySet::all(&Vars::for_home(d.join("home"))).unwrap(),
            approve: Vec::new(),
            rate_limit: None,
        };
        let (cb, _) = counting(GrantScope::Session);
        let engine = Engine::new(policy, cb);
        let may = |p: &str| engine.may_grant_write_in(&d.join(p));
        assert!(!may("usr/bin"), "seen, and no rule reaches it");
        assert!(!may("usr"));
        for unseen in ["usr/loop/bin", "usr/gone/bin"] {
            assert!(may(unseen), "{unseen}: the walk could not see it");
        }
        assert!(
            matches!(
                engine
                    .policy()
                    .deny
                    .verdict(&d.join("usr/loop/bin"), AccessMode::Write),
                DenyVerdict::Unchecked {
                    why: crate::walked::Unseen::Other(_),
                    by_name: None
                }
            ),
            "ELOOP"
        );
        assert!(!may("home/.ssh"), "deny groups win");
    }

    /// Red team 15: a write granted once at a prompt left no trace, so the directory it lies
    /// in stayed in the URL opener's `PATH` — and the command keeps the descriptor, so it
    /// can write a program there (`bin/xdg-open`, opened for writing once) that then runs
    /// outside the sandbox. A read granted once leaves the directory out of it.
    #[test]
    fn redteam15_a_write_granted_once_is_where_the_command_may_write() {
        let d = dir("once-write");
        std::fs::create_dir_all(d.join("srv/p/bin")).unwrap();
        std::fs::create_dir_all(d.join("srv/q/bin")).unwrap();
        let policy = Policy {
            deny: DenySet::new(),
            approve: Vec::new(),
            rate_limit: None,
        };
        let (cb, _) = counting(GrantScope::Once);
        let engine = Engine::new(policy, cb);
        let may = |p: &str| engine.may_grant_write_in(&d.join(p));
        assert!(!may("srv/p/bin") && !may("srv/q/bin"));
        let got = engine.decide(&req(&d.join("srv/p/bin/xdg-open"), AccessMode::Write));
        assert!(got.is_granted(), "{got:?}");
        let got = engine.decide(&req(&d.join("srv/q/bin/tool"), AccessMode::Read));
        assert!(got.is_granted(), "{got:?}");
        assert!(may("srv/p/bin"), "a write granted once");
        assert!(may("srv"), "beneath the directory");
        assert!(!may("srv/q/bin"), "a read granted once");
    }

    /// A read-only deny entry (`autorun`) may be read at runtime but never written, also
    /// through a hard link the supervisor opened (issue 16 finding 3).
    #[test]
    fn a_read_only_deny_entry_is_readable_not_writable_at_runtime() {
        let d = dir("deny-read-only");
        std::fs::create_dir_all(d.join("home/proj")).unwrap();
        std::fs::write(d.join("home/.gitconfig"), b"[user]").unwrap();
        std::fs::hard_link(d.join("home/.gitconfig"), d.join("home/proj/alias")).unwrap();
        let policy = Policy {
            deny: DenySet::all(&Vars::for_home(d.join("home"))).unwrap(),
            approve: vec![ApproveRule::new(
                &format!("{}/**", d.display()),
                AccessMode::ReadWrite,
                "test",
            )],
            rate_limit: None,
        };
        let (cb, _) = counting(GrantScope::Once);
        let engine = Engine::new(policy, cb);
        let cfg = d.join("home/.gitconfig");
        assert!(engine.decide(&req(&cfg, AccessMode::Read)).is_granted());
        let got = engine.decide(&req(&cfg, AccessMode::Write));
        assert!(
            matches!(&got, Decision::Denied { reason, by_group: Some(g) } if reason.contains("read-only") && reason.contains("autorun") && g.kind == DenyKind::Write),
            "{got:?}"
        );
        let alias = d.join("home/proj/alias");
        let file = std::fs::File::open(&alias).unwrap();
        assert_eq!(
            engine.refuse_opened(&req(&alias, AccessMode::Read), &file),
            None
        );
        assert!(engine
            .refuse_opened(&req(&alias, AccessMode::ReadWrite), &file)
            .is_some_and(|r| r.contains("autorun")));
    }

    #[test]
    fn a_path_rule_takes_wildcards_literally() {
        let d = dir("path-rule");
        let rule = ApproveRule::path(&d.join("a*"), AccessMode::ReadWrite, "--approve");
        assert!(rule.grants(&d.join("a*"), AccessMode::Read));
        assert!(rule.grants(&d.join("a*/x"), AccessMode::Write));
        assert!(!rule.grants(&d.join("abc"), AccessMode::Read));
        let rule = ApproveRule::path(&d.join("?"), AccessMode::Read, "--approve");
        assert!(rule.grants(&d.join("?/y"), AccessMode::Read));
        assert!(!rule.grants(&d.join("z"), AccessMode::Read));
    }

    #[test]
    fn rules_grant_without_asking_and_respect_access() {
        let d = dir("rules");
        let policy = Policy {
            approve: vec![
                ApproveRule::new(
                    &format!("{}/proj/**/*.rs", d.display()),
                    AccessMode::Read,
                    "t",
                ),
                ApproveRule::new(&format!("{}/proj/out", d.display()), AccessMode::Write, "t"),
            ],
            ..Policy::default()
        };
        let engine = Engine::new(policy, DenyAll);
        assert!(engine
            .decide(&req(&d.join("proj/src/main.rs"), AccessMode::Read))
            .is_granted());
        assert!(!engine
            .decide(&req(&d.join("proj/src/main.rs"), AccessMode::Write))
            .is_granted());
        assert!(!engine
            .decide(&req(&d.join("proj/src/main.c"), AccessMode::Read))
            .is_granted());
        assert!(engine
            .decide(&req(&d.join("proj/out/a/b"), AccessMode::Write))
            .is_granted());
        assert!(!engine
            .decide(&req(&d.join("proj/outx"), AccessMode::Write))
            .is_granted());
        assert!(!engine
            .decide(&req(Path::new("relative"), AccessMode::Read))
            .is_granted());
    }

    #[test]
    fn rules_match_canonical_paths_not_symlink_spellings() {
        let d = dir("symlink");
        let etc_link = d.join("proj/src/escape");
        std::os::unix::fs::symlink("/etc", &etc_link).unwrap();
        let policy = Policy {
            approve: vec![ApproveRule::new(
                &format!("{}/proj/**", d.display()),
                AccessMode::Read,
                "t",
            )],
            ..Policy::default()
        };
        let engine = Engine::new(policy, DenyAll);
        assert!(!engine
            .decide(&req(&etc_link.join("hostname"), AccessMode::Read))
            .is_granted());
        // A rule written through a symlinked directory still matches the canonical path.
        let alias = d.join("alias");
        std::os::unix::fs::symlink(d.join("proj"), &alias).unwrap();
        let policy = Policy {
            approve: vec![ApproveRule::new(
                &format!("{}/src/*", alias.display()),
                AccessMode::Read,
                "t",
            )],
            ..Policy::default()
        };
        let engine = Engine::new(policy, DenyAll);
        assert!(engine
            .decide(&req(&d.join("proj/src/x"), AccessMode::Read))
            .is_granted());
    }

    #[test]
    fn session_grants_are_remembered_once_grants_are_not() {
        let d = dir("session");
        let (cb, asked) = counting(GrantScope::Session);
        let engine = Engine::new(Policy::default(), cb);
        let p = d.join("proj/src/a");
        for _ in 0..3 {
            assert!(engine.decide(&req(&p, AccessMode::ReadWrite)).is_granted());
        }
        assert_eq!(asked.load(Ordering::SeqCst), 1);
        // Less access is covered; a different path is asked again.
        assert_eq!(
            engine.decide(&req(&p, AccessMode::Read)),
            Decision::Granted {
                scope: GrantScope::Session,
                rule: "session grant".into()
            }
        );
        assert!(engine
            .decide(&req(&d.join("proj/src/b"), AccessMode::Read))
            .is_granted());
        assert_eq!(asked.load(Ordering::SeqCst), 2);

        let (cb, asked) = counting(GrantScope::Once);
        let engine = Engine::new(Policy::default(), cb);
        for _ in 0..3 {
            assert!(engine.decide(&req(&p, AccessMode::Read)).is_granted());
        }
        assert_eq!(asked.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn session_grant_for_read_does_not_cover_write() {
        let d = dir("session-rw");
        let (cb, asked) = counting(GrantScope::Session);
        let engine = Engine::new(Policy::default(), cb);
        let p = d.join("proj/src/a");
        engine.decide(&req(&p, AccessMode::Read));
        engine.decide(&req(&p, AccessMode::Write));
        assert_eq!(asked.load(Ordering::SeqCst), 2);
        // Now read + write are both remembered.
        engine.decide(&req(&p, AccessMode::ReadWrite));
        assert_eq!(asked.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn token_bucket_limits_and_refills() {
        let t0 = Instant::now();
        let lim = RateLimiter::new_at(
            RateLimit {
                prompts: 3,
                per: Duration::from_secs(30),
            },
            t0,
        );
        assert!(lim.try_acquire_at(t0));
        assert!(lim.try_acquire_at(t0));
        assert!(lim.try_acquire_at(t0));
        assert!(!lim.try_acquire_at(t0));
        // One token per 10 s.
        assert!(!lim.try_acquire_at(t0 + Duration::from_secs(9)));
        assert!(lim.try_acquire_at(t0 + Duration::from_secs(10)));
        assert!(!lim.try_acquire_at(t0 + Duration::from_secs(10)));
        // Never more than the bucket size after a long pause.
        let later = t0 + Duration::from_secs(3600);
        assert!((0..3).all(|_| lim.try_acquire_at(later)));
        assert!(!lim.try_acquire_at(later));
        // A clock that goes backwards does not refill or panic.
        assert!(!lim.try_acquire_at(t0));
    }

    #[test]
    fn engine_rate_limits_prompts_but_not_rules() {
        let d = dir("rate");
        let (cb, asked) = counting(GrantScope::Once);
        let policy = Policy {
            approve: vec![ApproveRule::new(
                &format!("{}/proj/src", d.display()),
                AccessMode::Read,
                "t",
            )],
            rate_limit: Some(RateLimit {
                prompts: 2,
                per: Duration::from_secs(3600),
            }),
            ..Policy::default()
        };
        let engine = Engine::new(policy, cb);
        let other = d.join("other");
        assert!(engine.decide(&req(&other, AccessMode::Read)).is_granted());
        assert!(engine.decide(&req(&other, AccessMode::Read)).is_granted());
        let third = engine.decide(&req(&other, AccessMode::Read));
        assert!(
            matches!(&third, Decision::Denied { reason, by_group: None } if reason.starts_with("rate limited")),
            "{third:?}"
        );
        assert_eq!(asked.load(Ordering::SeqCst), 2);
        for _ in 0..10 {
            assert!(engine
                .decide(&req(&d.join("proj/src/f"), AccessMode::Read))
                .is_granted());
        }
    }

    #[test]
    fn decide_runs_concurrently() {
        let d = dir("threads");
        let (cb, _asked) = counting(GrantScope::Session);
        let engine = Arc::new(Engine::new(Policy::default(), cb));
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let e = Arc::clone(&engine);
                let p = d.join(format!("proj/f{i}"));
                std::thread::spawn(move || {
                    (0..50).all(|_| e.decide(&req(&p, AccessMode::Read)).is_granted())
                })
            })
            .collect();
        for h in handles {
            assert!(h.join().unwrap());
        }
    }

    #[test]
    fn decisions_map_to_wire() {
        assert_eq!(
            Decision::Granted {
                scope: GrantScope::Once,
                rule: "r".into()
            }
            .to_wire(),
            ApprovalDecision::Granted
        );
        assert_eq!(
            Decision::denied("no").to_wire(),
            ApprovalDecision::Denied {
                reason: "no".into()
            }
        );
        assert_eq!(Decision::Timeout.to_wire(), ApprovalDecision::Timeout);
    }
}

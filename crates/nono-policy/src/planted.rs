//! What an earlier sandboxed run may have left behind for the next one, checked before a run
//! trusts it: symlinks on the way to a grant (a `$TMPDIR` turned into a link to `/`, a
//! `~/proj/out` turned into a link outward), an unsafe `$TMPDIR`, and nono's own output files
//! (audit log, `learn`'s profile) inside a write grant. Nothing a sandboxed run can write is
//! trusted later: a link that lies where this run may write, where an earlier run could write
//! when the link was made ([`WriteHistory`]), or that someone other than the user or root
//! owns, is refused unless the user names it (`--allow-symlinked-grant LINK`).
//!
//! Pure decisions plus `lstat`/`readlink`; the CLI prints and refuses.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use nono_sandbox::{explain_canonical, AccessMode, CapabilitySet, Origin, Origins, Rule, Verdict};

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
    pub origin: Origin,
    /// The canonical path this request was granted at (what its symlinks resolved to when
    /// the grant was added: `CapabilitySet::allow_path_at` and kin); `None` for a request
    /// whose path is only checked for links, not granted.
    pub granted: Option<PathBuf>,
}

/// One symlink on the way to a grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantLink {
    /// The grant path as asked for.
    pub grant: PathBuf,
    /// The grant's origin.
    pub origin: Origin,
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
        /// The write grant's origins.
        origin: Origins,
    },
    /// The link's directory was inside a write grant of an earlier run, and the link was made
    /// (its ctime, which no unprivileged process can set back) after that grant was recorded.
    EarlierWriteGrant {
        /// The recorded write grant.
        grant: PathBuf,
        /// When it was first recorded (seconds since the epoch).
        since: i64,
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
            Untrusted::EarlierWriteGrant { grant, since } => write!(
                f,
                "it was made after an earlier run was granted writes in {} (recorded at {since} s since the epoch), so that run can have planted it",
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
    Ok(walk(path)?.links)
}

/// What resolving a path met: its symlinks, and where it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walk {
    /// Every symlink met, in order: (the link, what it says, its owner).
    pub links: Vec<(PathBuf, PathBuf, u32)>,
    /// The path every component resolved to, symlink-free — `None` when a component was
    /// missing.
    pub resolved: Option<PathBuf>,
    /// Where the path would lead once its missing part is created: the resolved part with the
    /// rest appended (`..` applied lexically). Equal to `resolved` when nothing was missing.
    pub end: PathBuf,
}

/// Resolve `path` (absolute) one component at a time with `lstat`/`readlink`, recording every
/// symlink (see [`links_on`]) and the symlink-free path it ends at.
pub fn walk(path: &Path) -> io::Result<Walk> {
    walk_noting(path, &mut Stopped::default())
}

/// What a [`walk`] that failed had found when it failed (and, in [`missing`](Self::missing),
/// what one that ended at a missing name left out of its end).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stopped {
    /// The symlinks followed before it failed, as in [`Walk::links`] (for `ELOOP`: the 40
    /// it followed).
    pub links: Vec<(PathBuf, PathBuf, u32)>,
    /// When an `lstat` failed with `ENOTDIR`, `EACCES` or `ENAMETOOLONG` (`stops_at_done`),
    /// or the kernel would refuse a `..` after it (`dot_dot_refused`): the object in the way,
    /// the last component resolved (symlink-free) — not a directory, a directory nono may
    /// not search (`lstat` of it succeeded, so the search permission missing is its own), or
    /// the deepest directory a path can name. `None` for any other failure.
    pub end: Option<PathBuf>,
    /// Set by a walk that succeeded with a missing component whose lexical end
    /// ([`Walk::end`]) does not lie beneath it, because a `..` later in the path popped it
    /// (`../dots/a/m/../../ssh/config` with `m` missing ends at `dots/ssh/config`): that
    /// missing name, symlink-free. The kernel applies such a `..` to whatever is created at
    /// the name (a link to anywhere), so protecting the end alone, whose spine does not hold
    /// the name's directory, leaves the chain free to be revived (red team 27).
    pub missing: Option<PathBuf>,
}

/// The longest name a directory entry can have (bytes): a longer one is never found, nor
/// created.
pub(crate) const NAME_MAX: usize = 255;

/// Whether a walk's failed `lstat` of `done/next` stopped at `done` itself (see
/// [`Stopped::end`]): `done` is a file (`ENOTDIR`), or a directory without search
/// permission for nono (`EACCES`) — one of the user's, which a sandbox granted its parent
/// could make searchable and fill, reviving the chain (red team 9, left open there).
///
/// Also when the path grew too long to name (`ENAMETOOLONG`: more than `PATH_MAX` bytes,
/// red team 10): the kernel follows a chain whose links are short into a directory deeper
/// than any path can name, but nono denies by path, so `done` — the deepest directory it
/// could name — is denied whole, with what the chain leads to inside it. Not when `next`
/// itself is longer than a name can be (`NAME_MAX`): no lookup ever finds it, the chain
/// stays dead whatever changes, and denying `done` (`/etc`, `/usr/bin`) would protect
/// nothing.
pub(crate) fn stops_at_done(e: &io::Error, next: &std::ffi::OsStr) -> bool {
    match e.raw_os_error() {
        Some(code) if code == rustix::io::Errno::NAMETOOLONG.raw_os_error() => {
            next.len() <= NAME_MAX
        }
        Some(code) => {
            code == rustix::io::Errno::NOTDIR.raw_os_error()
                || code == rustix::io::Errno::ACCESS.raw_os_error()
        }
        None => false,
    }
}

/// Why the kernel would refuse `..` right after `done` (symlink-free), where a walk's
/// lexical pop does not look: `done` is not a directory (`ENOTDIR`: `f/..` with `f` a file),
/// or one nono may not search (`EACCES`). `dir`: `done` is a directory; `searched`: a lookup
/// inside it already succeeded (a link in it was followed), so the search check is spared.
/// Such a chain is dead today, and `done` is its end (red team 10): a sandbox granted the
/// directory holding `done` could otherwise replace it by a link, making `..` lead wherever
/// that link's target's parent is (`~/.ssh/config` → `../dots/a/f/../../x/config`).
pub(crate) fn dot_dot_refused(done: &Path, dir: bool, searched: bool) -> Option<io::Error> {
    if !dir {
        return Some(io::Error::from_raw_os_error(
            rustix::io::Errno::NOTDIR.raw_os_error(),
        ));
    }
    if searched {
        return None;
    }
    rustix::fs::accessat(
        rustix::fs::CWD,
        done,
        rustix::fs::Access::EXEC_OK,
        rustix::fs::AtFlags::EACCESS,
    )
    .err()
    .filter(|e| *e == rustix::io::Errno::ACCESS)
    .map(io::Error::from)
}

/// [`walk`], leaving in `stopped` what it had found when it fails (its answer is `walk`'s).
/// For the deny set: a chain that does not resolve today is dead, not harmless — a grant on
/// a directory it passes through could revive it.
pub fn walk_noting(path: &Path, stopped: &mut Stopped) -> io::Result<Walk> {
    walk_with(path, &mut Fresh, stopped)
}

/// What a walk's `lstat` of one symlink-free path found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Look {
    /// An existing object that is not a symlink: whether it is a directory.
    Plain { dir: bool },
    /// A symlink, and its owner.
    Link { owner: u32 },
}

/// Where [`walk_with`] gets its answers: the kernel, asked afresh each time ([`Fresh`], for
/// [`walk`] and the grant checks), or what one deny-set resolution already saw
/// (`chain_walk::WalkMemo`). The walk itself — its order of calls, its bounds and errors —
/// is written once, in [`walk_with`].
pub(crate) trait Lookups {
    /// `lstat` of the symlink-free `path`.
    fn look(&mut self, path: &Path) -> io::Result<Look>;
    /// `readlink` of `link`, which [`look`](Self::look) just found to be a symlink of `owner`.
    fn target(&mut self, link: &Path, owner: u32) -> io::Result<PathBuf>;
}

/// [`Lookups`] from the kernel, every time.
pub(crate) struct Fresh;

impl Lookups for Fresh {
    fn look(&mut self, path: &Path) -> io::Result<Look> {
        let m = std::fs::symlink_metadata(path)?;
        Ok(if m.file_type().is_symlink() {
            Look::Link { owner: m.uid() }
        } else {
            Look::Plain { dir: m.is_dir() }
        })
    }

    fn target(&mut self, link: &Path, _owner: u32) -> io::Result<PathBuf> {
        std::fs::read_link(link)
    }
}

/// [`walk_noting`] with the answers of `lookups`: resolve `path` (absolute) one component at
/// a time, recording every symlink followed (at most 40, then `ELOOP`), `..` refused where
/// the kernel refuses it ([`dot_dot_refused`]), a missing component ending the walk with
/// the rest appended lexically.
pub(crate) fn walk_with(
    path: &Path,
    lookups: &mut impl Lookups,
    stopped: &mut Stopped,
) -> io::Result<Walk> {
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
    // What `done` is, for a `..` after it (see `dot_dot_refused`).
    let (mut dir, mut searched) = (true, true);
    let mut rest = parts(path);
    while let Some(part) = rest.pop_front() {
        if part == ".." {
            if let Some(e) = dot_dot_refused(&done, dir, searched) {
                stopped.links = out;
                stopped.end = Some(done);
                return Err(e);
            }
            done.pop();
            (dir, searched) = (true, true);
            continue;
        }
        let candidate = done.join(&part);
        let owner = match lookups.look(&candidate) {
            Ok(Look::Plain { dir: is_dir }) => {
                done = candidate;
                (dir, searched) = (is_dir, false);
                continue;
            }
            Ok(Look::Link { owner }) => owner,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let end = lexical_end(candidate.clone(), rest);
                if !end.starts_with(&candidate) {
                    stopped.missing = Some(candidate);
                }
                return Ok(Walk {
                    links: out,
                    resolved: None,
                    end,
                });
            }
            Err(e) => {
                stopped.links = out;
                if stops_at_done(&e, &part) {
                    stopped.end = Some(done);
                }
                return Err(e);
            }
        };
        // The link was found in `done`, a directory: searched.
        (dir, searched) = (true, true);
        if out.len() == 40 {
            stopped.links = out;
            return Err(io::Error::from_raw_os_error(
                rustix::io::Errno::LOOP.raw_os_error(),
            ));
        }
        let target = match lookups.target(&candidate, owner) {
            Ok(t) => t,
            Err(e) => {
                stopped.links = out;
                return Err(e);
            }
        };
        if target.is_absolute() {
            done = PathBuf::from("/");
        }
        let mut next = parts(&target);
        next.extend(rest);
        rest = next;
        out.push((candidate, target, owner));
    }
    Ok(Walk {
        links: out,
        resolved: Some(done.clone()),
        end: done,
    })
}

/// `at` with the components of `rest` appended, `..` popping one (the end of a walk that
/// stopped at `at`).
pub(crate) fn lexical_end(mut at: PathBuf, rest: VecDeque<OsString>) -> PathBuf {
    for p in rest {
        if p == ".." {
            at.pop();
        } else {
            at.push(p);
        }
    }
    at
}

/// A grant whose path resolved to one place when nono checked its symlinks and to another
/// when it was granted: something changed the path while nono was starting (a sandboxed
/// process of another run swapping a directory for a symlink in a loop).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantChanged {
    /// The grant's origin.
    pub origin: Origin,
    /// The path as asked for (a profile has many grants of one origin: this names which).
    pub asked: PathBuf,
    /// What the grant resolved to when it was granted.
    pub granted: PathBuf,
    /// What its path resolved to when its symlinks were checked (`None`: missing then).
    pub checked: Option<PathBuf>,
}

impl std::fmt::Display for GrantChanged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}) was granted as {}, but the path resolved to {} when its symlinks were \
             checked: it changed while nono was starting (is another sandboxed run replacing \
             directories on the way with symlinks?); nothing was started, run again once it is \
             stable",
            crate::escape::path(&self.asked),
            self.origin,
            crate::escape::path(&self.granted),
            self.checked.as_deref().map_or_else(
                || "nothing".to_owned(),
                |p| crate::escape::path(p).to_string()
            ),
        )
    }
}

/// Every request that was granted must have been granted exactly where the symlink check's
/// own resolution of *that* request ended ([`walk`]; `walks[i]` is `requested[i]`'s). The
/// check and the grant resolve the same path at different moments; without this a path
/// swapped in between would be granted where no check looked. Each request is held to its
/// own grant, never to any grant of the same origin: a profile's grants share one origin,
/// and a read-write grant swapped onto a path another grant of the profile only reads would
/// otherwise pass (red team 8). (The sandbox then opens each grant's symlink-free path with
/// `RESOLVE_NO_SYMLINKS`, so the object granted is the one at the checked path.)
pub fn grants_match_checks(
    requested: &[RequestedGrant],
    walks: &[Walk],
    caps: &CapabilitySet,
) -> Result<(), GrantChanged> {
    // Looked up once (a profile brings dozens of grants: comparing every request with every
    // grant was a measurable part of start-up, issue 14).
    let in_set: std::collections::HashSet<&Path> =
        caps.grants().iter().map(|g| g.path.as_path()).collect();
    for (i, r) in requested.iter().enumerate() {
        let Some(granted) = &r.granted else {
            continue;
        };
        let checked = walks.get(i).and_then(|w| w.resolved.as_deref());
        // A grant a later step took out again grants nothing.
        let present = in_set.contains(granted.as_path());
        if present && checked != Some(granted.as_path()) {
            return Err(GrantChanged {
                origin: r.origin.clone(),
                asked: r.path.clone(),
                granted: granted.clone(),
                checked: checked.map(Path::to_path_buf),
            });
        }
    }
    Ok(())
}

/// The write grant of `caps` under which the sandbox may create or replace entries of `dir`
/// (canonical), if any.
#[must_use]
pub fn write_grant_over(caps: &CapabilitySet, dir: &Path) -> Option<(PathBuf, Origins)> {
    let e = explain_canonical(caps, dir, AccessMode::Write);
    match (e.verdict, e.rule) {
        (Verdict::Allowed | Verdict::Partial, Rule::Granted { grants }) => grants
            .into_iter()
            .find(|g| g.access.writes())
            .map(|g| (g.path, g.origin)),
        _ => None,
    }
}

/// The symlinks on the way to each requested grant, each judged: untrusted when its owner is
/// neither `uid` nor root, when its directory lies inside a write grant of `caps`, or when it
/// was made after its directory came inside the write grant of an earlier run (`history`).
pub fn grant_links(
    requested: &[RequestedGrant],
    caps: &CapabilitySet,
    uid: u32,
    history: &WriteHistory,
) -> io::Result<Vec<GrantLink>> {
    Ok(grant_links_walked(requested, caps, uid, history)?.0)
}

/// [`grant_links`], with each request's [`Walk`] (in `requested`'s order), for
/// [`grants_match_checks`]: the links judged and the resolution matched are the same walk.
pub fn grant_links_walked(
    requested: &[RequestedGrant],
    caps: &CapabilitySet,
    uid: u32,
    history: &WriteHistory,
) -> io::Result<(Vec<GrantLink>, Vec<Walk>)> {
    grant_links_walked_with(requested, Vec::new(), caps, uid, history)
}

/// [`grant_links_walked`], taking the walk of `requested[i]` from `known[i]` where one was
/// made already (`None`, or past the end: walked here).
pub fn grant_links_walked_with(
    requested: &[RequestedGrant],
    known: Vec<Option<Walk>>,
    caps: &CapabilitySet,
    uid: u32,
    history: &WriteHistory,
) -> io::Result<(Vec<GrantLink>, Vec<Walk>)> {
    let mut walks = Vec::with_capacity(requested.len());
    let mut out: Vec<GrantLink> = Vec::new();
    let mut known = known.into_iter();
    for r in requested {
        let w = match known.next().flatten() {
            Some(w) => w,
            None => walk(&r.path)?,
        };
        for (link, target, owner) in w.links.iter().cloned() {
            let dir = link.parent().unwrap_or(Path::new("/"));
            let untrusted = if owner != uid && owner != 0 {
                Some(Untrusted::ForeignOwner { uid: owner })
            } else if let Some((grant, origin)) = write_grant_over(caps, dir) {
                Some(Untrusted::InsideWriteGrant { grant, origin })
            } else {
                let ctime = std::fs::symlink_metadata(&link)?.ctime();
                history
                    .covering(dir, ctime)
                    .map(|(grant, since)| Untrusted::EarlierWriteGrant {
                        grant: grant.to_path_buf(),
                        since,
                    })
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
        walks.push(w);
    }
    Ok((out, walks))
}

/// The directories and files earlier runs could write (their write grants and `--approve`
/// directories), each with when it was first recorded: `$XDG_STATE_HOME/nono/write-grants.jsonl`, one JSON
/// object `{"since": SECONDS, "path": "..."}` per line, appended before each run starts. It lies
/// in nono's own state, which the `nono` deny group keeps out of every run's reach.
///
/// A symlink in such a directory whose ctime is not older than the record can have been
/// planted by a run; an older one was there before any run could write the directory. ctime
/// is set by the kernel on every change of the link (creation, rename) and cannot be set back
/// without `CAP_SYS_TIME`, which no sandbox has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteHistory {
    entries: Vec<(PathBuf, i64)>,
}

/// Slack for file systems with coarse timestamps: a link made up to this many seconds before a
/// record counts as made after it.
const CTIME_SLACK_SECS: i64 = 2;

#[derive(serde::Serialize, serde::Deserialize)]
struct HistoryLine {
    since: i64,
    path: PathBuf,
}

impl WriteHistory {
    /// The history file under `state_home` (`$XDG_STATE_HOME`).
    #[must_use]
    pub fn file(state_home: &Path) -> PathBuf {
        state_home.join("nono/write-grants.jsonl")
    }

    /// Read the history; a missing file is an empty history. Lines that do not parse are
    /// skipped (nono writes every line whole, with one `write`).
    pub fn load(file: &Path) -> io::Result<WriteHistory> {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(WriteHistory::default()),
            Err(e) => return Err(e),
        };
        let entries = text
            .lines()
            .filter_map(|l| serde_json::from_str::<HistoryLine>(l).ok())
            .filter(|l| l.path.is_absolute())
            .map(|l| (l.path, l.since))
            .collect();
        Ok(WriteHistory { entries })
    }

    /// The earliest recorded write grant over `dir` that a link made at `ctime` postdates.
    #[must_use]
    pub fn covering(&self, dir: &Path, ctime: i64) -> Option<(&Path, i64)> {
        self.entries
            .iter()
            .filter(|(p, since)| dir.starts_with(p) && ctime >= since - CTIME_SLACK_SECS)
            .min_by_key(|(_, since)| *since)
            .map(|(p, since)| (p.as_path(), *since))
    }

    /// The earliest record of all that a change at `ctime` postdates: for a file with other
    /// names (hard links), which may lie under any record.
    #[must_use]
    pub fn earliest(&self, ctime: i64) -> Option<(&Path, i64)> {
        self.entries
            .iter()
            .filter(|(_, since)| ctime >= since - CTIME_SLACK_SECS)
            .min_by_key(|(_, since)| *since)
            .map(|(p, since)| (p.as_path(), *since))
    }

    /// Append the directories of `dirs` that no record covers yet, stamped `now`, to `file`
    /// (created 0600 in a 0700 directory; never through a symlink). Returns how many were new.
    pub fn record(&mut self, file: &Path, dirs: &[PathBuf], now: i64) -> io::Result<usize> {
        let mut lines = String::new();
        let mut added = 0;
        for dir in dirs {
            // A path that is not UTF-8 is recorded as its nearest UTF-8 ancestor: broader.
            let mut dir = dir.as_path();
            while dir.to_str().is_none() {
                dir = dir.parent().unwrap_or(Path::new("/"));
            }
            if self.entries.iter().any(|(p, _)| dir.starts_with(p)) {
                continue;
            }
            let line = HistoryLine {
                since: now,
                path: dir.to_path_buf(),
            };
            lines.push_str(&serde_json::to_string(&line).map_err(io::Error::other)?);
            lines.push('\n');
            self.entries.push((dir.to_path_buf(), now));
            added += 1;
        }
        if added == 0 {
            return Ok(0);
        }
        crate::audit::append_own_lines(file, &lines)?;
        Ok(added)
    }
}

/// Seconds since the epoch, now.
#[must_use]
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Why the directory `$TMPDIR` names must not be granted as it is, if it must not: it is a
/// symlink, not a directory, owned by neither `uid` nor root, or writable by group or others
/// without the sticky bit. `None` when it is fine or missing (a missing optional grant is
/// skipped). A root-owned sticky directory (`/tmp` itself) is fine: no unprivileged run can
/// replace or rename it.
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
    } else if meta.uid() != uid && meta.uid() != 0 {
        Some(format!(
            "it belongs to uid {}, neither to you ({uid}) nor to root",
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

#[cfg(test)]
mod tests {

    #[test]
    fn a_walk_stops_at_a_file_or_an_unsearchable_directory_in_the_way() {
        let e = |code: rustix::io::Errno| io::Error::from_raw_os_error(code.raw_os_error());
        let name = std::ffi::OsStr::new("x");
        assert!(stops_at_done(&e(rustix::io::Errno::NOTDIR), name));
        assert!(stops_at_done(&e(rustix::io::Errno::ACCESS), name));
        // A path too long to name stops at the deepest directory named; a name too long
        // for any lookup does not (red team 10).
        assert!(stops_at_done(&e(rustix::io::Errno::NAMETOOLONG), name));
        let long = "x".repeat(256);
        assert!(!stops_at_done(
            &e(rustix::io::Errno::NAMETOOLONG),
            std::ffi::OsStr::new(&long)
        ));
        for other in [
            rustix::io::Errno::LOOP,
            rustix::io::Errno::IO,
            rustix::io::Errno::NOENT,
        ] {
            assert!(!stops_at_done(&e(other), name), "{other:?}");
        }
    }
    use super::*;
    use crate::scratch::Scratch;
    use std::os::unix::fs::symlink;

    fn tmp(tag: &str) -> Scratch {
        Scratch::new(&format!("nono-planted-{}-{tag}", std::process::id()))
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
    fn every_grant_of_a_request_must_lie_where_its_check_ended() {
        let d = tmp("match");
        for sub in ["a", "b", "c"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        let mut caps = CapabilitySet::new();
        caps.allow_dir(d.join("a"), AccessMode::Read, "--read A")
            .unwrap();
        // The same path twice: one grant whose origin names both.
        caps.allow_dir(d.join("a"), AccessMode::ReadWrite, "--allow A")
            .unwrap();
        caps.allow_dir(d.join("b"), AccessMode::Read, "--read B")
            .unwrap();
        caps.allow_dir(d.join("c"), AccessMode::Read, "profile p")
            .unwrap();
        let req = |path: &str, origin: &str| RequestedGrant {
            path: d.join(path),
            origin: origin.into(),
            granted: Some(d.join(path)),
        };
        let walked = |to: Option<&str>| Walk {
            links: Vec::new(),
            resolved: to.map(|t| d.join(t)),
            end: d.join(to.unwrap_or("gone")),
        };
        let requested = [
            req("a", "--read A"),
            req("a", "--allow A"),
            req("b", "--read B"),
        ];
        let ok = [walked(Some("a")), walked(Some("a")), walked(Some("b"))];
        assert_eq!(grants_match_checks(&requested, &ok, &caps), Ok(()));
        // `--read B` was checked at c but granted at b.
        let moved = [walked(Some("a")), walked(Some("a")), walked(Some("c"))];
        assert_eq!(
            grants_match_checks(&requested, &moved, &caps),
            Err(GrantChanged {
                origin: "--read B".into(),
                asked: d.join("b"),
                granted: d.join("b"),
                checked: Some(d.join("c")),
            })
        );
        // `--allow A` was missing when checked.
        let missing = [walked(Some("a")), walked(None), walked(Some("b"))];
        assert_eq!(
            grants_match_checks(&requested, &missing, &caps),
            Err(GrantChanged {
                origin: "--allow A".into(),
                asked: d.join("a"),
                granted: d.join("a"),
                checked: None,
            })
        );
        // Red team 8: two grants of one origin (a profile's), the read-write one granted
        // where the *other* one's check ended (its own path was swapped for a link to it
        // while it was granted, and back before its check): refused, although the path
        // granted is one a check of that origin ended at.
        let mut caps = CapabilitySet::new();
        caps.allow_dir(d.join("b"), AccessMode::Read, "profile p")
            .unwrap();
        caps.allow_dir(d.join("b"), AccessMode::ReadWrite, "profile p")
            .unwrap();
        let swapped = [
            RequestedGrant {
                granted: Some(d.join("b")),
                ..req("b", "profile p")
            },
            RequestedGrant {
                granted: Some(d.join("b")),
                ..req("c", "profile p")
            },
        ];
        assert_eq!(
            grants_match_checks(&swapped, &[walked(Some("b")), walked(Some("c"))], &caps),
            Err(GrantChanged {
                origin: "profile p".into(),
                asked: d.join("c"),
                granted: d.join("b"),
                checked: Some(d.join("c")),
            })
        );
        // A request not granted (only checked for links) is not held to a grant.
        let unchecked = [RequestedGrant {
            granted: None,
            ..req("a", "--approve A")
        }];
        assert_eq!(
            grants_match_checks(&unchecked, &[walked(Some("c"))], &caps),
            Ok(())
        );
    }

    #[test]
    fn walks_made_earlier_stand_in_for_the_walk_and_missing_ones_are_walked() {
        let d = tmp("known");
        std::fs::create_dir_all(d.join("outside")).unwrap();
        symlink(d.join("outside"), d.join("out")).unwrap();
        let req: Vec<RequestedGrant> = ["out", "outside"]
            .iter()
            .map(|p| RequestedGrant {
                path: d.join(p),
                origin: Origin::flag("--read", d.join(p)),
                granted: None,
            })
            .collect();
        let caps = CapabilitySet::new();
        let none = WriteHistory::default();
        let fresh = grant_links_walked(&req, &caps, 0, &none).unwrap();
        // Every walk known, one known and one to make, none known: the same answer.
        let known = |n: usize| -> Vec<Option<Walk>> {
            req.iter().take(n).map(|r| walk(&r.path).ok()).collect()
        };
        for n in 0..=req.len() {
            let got = grant_links_walked_with(&req, known(n), &caps, 0, &none).unwrap();
            assert_eq!(got.1, fresh.1, "{n} known");
            assert_eq!(got.0.len(), fresh.0.len(), "{n} known");
        }
        // A walk that failed earlier is made again (and its error is that walk's).
        let got = grant_links_walked_with(&req, vec![None, None], &caps, 0, &none).unwrap();
        assert_eq!(got.1, fresh.1);
        // A known walk is taken as it is: it is what `grants_match_checks` compares with the
        // grant, so a path changed since it was made is refused there.
        let stale = Walk {
            links: Vec::new(),
            resolved: Some(d.join("elsewhere")),
            end: d.join("elsewhere"),
        };
        let got =
            grant_links_walked_with(&req, vec![Some(stale.clone())], &caps, 0, &none).unwrap();
        assert_eq!(got.1[0], stale);
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
            origin: Origin::flag("--allow", d.join("proj/out")),
            granted: None,
        }];
        let mut caps = CapabilitySet::new();
        caps.allow_dir(d.join("proj/out"), AccessMode::ReadWrite, &req[0].origin)
            .unwrap();
        let none = WriteHistory::default();
        let links = grant_links(&req, &caps, 0, &none).unwrap();
        assert_eq!(links.len(), 1);
        assert_eq!(links[0].untrusted, None);
        // An earlier run could write `proj` since before the link was made.
        let file = d.join("state/nono/write-grants.jsonl");
        let mut history = WriteHistory::load(&file).unwrap();
        let ctime = std::fs::symlink_metadata(d.join("proj/out"))
            .unwrap()
            .ctime();
        history
            .record(&file, &[d.join("proj")], ctime - 60)
            .unwrap();
        let history = WriteHistory::load(&file).unwrap();
        let links = grant_links(&req, &caps, 0, &history).unwrap();
        assert!(
            matches!(&links[0].untrusted, Some(Untrusted::EarlierWriteGrant { grant, .. }) if *grant == d.join("proj")),
            "{links:?}"
        );
        // A grant recorded after the link was made does not make it suspect.
        let mut later = WriteHistory::default();
        later
            .record(&d.join("later.jsonl"), &[d.join("proj")], ctime + 60)
            .unwrap();
        assert_eq!(
            grant_links(&req, &caps, 0, &later).unwrap()[0].untrusted,
            None
        );
        caps.allow_dir(d.join("proj"), AccessMode::ReadWrite, "--allow proj")
            .unwrap();
        let links = grant_links(&req, &caps, 0, &none).unwrap();
        assert!(
            matches!(&links[0].untrusted, Some(Untrusted::InsideWriteGrant { grant, .. }) if *grant == d.join("proj")),
            "{links:?}"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn the_history_records_only_what_it_does_not_cover_and_never_through_a_link() {
        let d = tmp("history");
        let file = d.join("state/nono/write-grants.jsonl");
        let mut h = WriteHistory::default();
        assert_eq!(
            h.record(&file, &[d.join("a"), d.join("a/b")], 100).unwrap(),
            1
        );
        assert_eq!(
            h.record(&file, &[d.join("a/c"), d.join("x")], 200).unwrap(),
            1
        );
        let loaded = WriteHistory::load(&file).unwrap();
        assert_eq!(loaded, h);
        assert_eq!(
            loaded.covering(&d.join("a/b"), 150),
            Some((d.join("a").as_path(), 100))
        );
        assert_eq!(loaded.covering(&d.join("x"), 150), None);
        assert_eq!(
            std::fs::metadata(d.join("state/nono"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
        std::fs::remove_file(&file).unwrap();
        symlink(d.join("elsewhere"), &file).unwrap();
        assert!(WriteHistory::default()
            .record(&file, &[d.join("y")], 1)
            .is_err());
        assert!(!d.join("elsewhere").exists());
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
        // Root's sticky `/tmp` is fine for anyone; another user's directory is not.
        assert_eq!(tmpdir_problem(Path::new("/tmp"), 65534), None);
        if uid == 0 {
            std::os::unix::fs::chown(&mine, Some(54321), None).unwrap();
            assert!(tmpdir_problem(&mine, 65534).unwrap().contains("54321"));
            std::os::unix::fs::chown(&mine, Some(0), None).unwrap();
        } else {
            assert!(tmpdir_problem(&mine, uid + 1).is_some());
        }
        std::fs::set_permissions(&mine, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(tmpdir_problem(&mine, uid).is_some());
        std::fs::set_permissions(&mine, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert_eq!(tmpdir_problem(&mine, uid), None);
        symlink("/", d.join("link")).unwrap();
        assert!(tmpdir_problem(&d.join("link"), uid)
            .unwrap()
            .contains("symlink"));
        let _ = std::fs::remove_dir_all(&d);
    }
}

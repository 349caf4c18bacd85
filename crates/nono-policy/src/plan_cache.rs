//! The compiled-plan cache of the deny groups' resolution (issue 14).
//!
//! [`DenySet::from_groups`](crate::deny_groups::DenySet::from_groups) is most of nono's
//! start-up work that does not depend on the command line: every entry of every enabled group
//! expanded and canonicalised component by component, the symlink walk of every existing entry
//! (`link_walk_cache`), the chain of every link found, the hard-link identities. Its result is a
//! function of its inputs (the group names, the path variables, the user) and of the
//! filesystem objects it looked at. This module keeps that result, with
//!
//! - a **key**: nono's version and binary (path, `(st_dev, st_ino)`, size, `mtime`,
//!   `ctime` of `/proc/self/exe`), the effective uid/gid, the group names, every entry as
//!   expanded, the home directory, `$PATH`'s directories and the state directory; anything
//!   else is a miss;
//! - **stamps** of every object the result depended on: every prefix of every path the
//!   resolution looked up, walked one component at a time with `lstat`/`readlink` the way the
//!   kernel resolves it (links followed, each link and each missing name stamped too), and
//!   every directory the link walk read. A stamp is the `lstat` answer: "missing", an error
//!   number, or `(st_dev, st_ino, st_mode, st_uid, st_gid)` and `st_nlink` of a
//!   non-directory (hard links to a deny entry), plus `ctime` for a
//!   symlink (its target never changes in place; a new link reusing the inode number has a
//!   new `ctime`) and `mtime`/`ctime` for a directory whose entries were read (the kernel sets
//!   both when an entry is added, removed, renamed or replaced). `ctime` cannot be set back
//!   without changing the clock, so `touch -d` hides nothing; a path replaced, renamed away or
//!   mounted over shows another identity.
//!
//! On reuse every stamp is taken again (one `lstat` each, no `readlink`, no `getdents`) and
//! the record is used only when all are equal; anything else — a stamp differs, the key
//! differs, the file is not trusted, unreadable or from another version — is a rebuild, and
//! the rebuilt result is recorded in its place.
//!
//! - **Consistency of a record**: the stamps are taken after the resolution, so a record is
//!   written only when every stamped object's `ctime` (and `mtime`) is more than
//!   [`RACY_SECS`] older than the moment the resolution started: nothing that was looked at
//!   changed while it ran (a removal or creation sets its directory's times, and every
//!   directory on the way is stamped), so the stamps describe the state the result was
//!   computed from. A stamp is kept from the first lookup of its path, and some are taken
//!   before the step that depends on them (the home and `$PATH`'s directories, before they
//!   are canonicalised), so every stamp is taken again just before writing and must be
//!   exactly as first taken, times included: a directory renamed away and back in between
//!   keeps its identity, not its `ctime`.
//! - **Trust**: as `link_walk_cache`: `$XDG_STATE_HOME/nono/plan-cache.json`, inside the
//!   always-on `nono` deny group (no sandboxed run can write it), read only when it is a
//!   regular file of the user's (not through a symlink), mode 0600, in a directory of the
//!   user's that nobody else can write. It is rewritten in place (not renamed) so that writing
//!   it does not change the state directory's own stamp (the link walk reads that directory);
//!   a torn read is not valid JSON and so a miss. The first line is a digest of the rest
//!   keyed with a random secret in `plan-cache.key` beside it (same checks): an edit by
//!   anything that cannot read the key, a torn or truncated write is a miss.
//! - A cache can only skip work: the Landlock rules are still opened path by path with
//!   `RESOLVE_NO_SYMLINKS` by `nono_sandbox::linux::landlock::build_ruleset`, and the
//!   profile's own grants and deny list, the command-line grants and the planted-link checks
//!   are resolved afresh on every start.
//! - Off: `NONO_PLAN_CACHE=0` (the CLI calls [`set_enabled`]); `--dry-run` says whether the
//!   resolution came from the cache ([`outcome`]).

use std::collections::BTreeMap;
use std::io::{self, Read as _, Seek as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use crate::vars::Vars;

/// Seconds every stamped object must have been unchanged before a result is recorded.
pub const RACY_SECS: i64 = 2;
/// The file is not read beyond this size.
const MAX_FILE_BYTES: u64 = 8 << 20;
/// Symlinks followed per path looked up (as the kernel's `ELOOP` bound).
const MAX_LINKS: usize = 40;
/// Format and resolution semantics: a file written by another build of nono is ignored.
const VERSION: &str = concat!("plan-cache/2 nono ", env!("CARGO_PKG_VERSION"));

static ENABLED: AtomicBool = AtomicBool::new(true);
static OUTCOME: AtomicU8 = AtomicU8::new(0);

/// Whether this process's deny-group resolution came from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// No resolution ran (or none looked at the cache).
    NotUsed,
    /// The cache is switched off ([`set_enabled`]).
    Off,
    /// Reused: every stamp was unchanged.
    Hit,
    /// Resolved afresh (no record, a stamp changed, or an untrusted file).
    Rebuilt,
}

/// Switch the cache on or off for this process (the CLI: `NONO_PLAN_CACHE=0`).
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether the cache is on for this process.
#[must_use]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// What the last deny-group resolution of this process did with the cache.
#[must_use]
pub fn outcome() -> Outcome {
    match OUTCOME.load(Ordering::Relaxed) {
        1 => Outcome::Off,
        2 => Outcome::Hit,
        3 => Outcome::Rebuilt,
        _ => Outcome::NotUsed,
    }
}

pub(crate) fn set_outcome(o: Outcome) {
    let v = match o {
        Outcome::NotUsed => 0,
        Outcome::Off => 1,
        Outcome::Hit => 2,
        Outcome::Rebuilt => 3,
    };
    OUTCOME.store(v, Ordering::Relaxed);
}

/// The `lstat` answer for one path (kept in the file as a flat array of numbers,
/// [`Packed`]: a few hundred of them are parsed on every start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "Packed", from = "Packed")]
pub(crate) enum Look {
    Missing,
    Error(i32),
    Object {
        dev: u64,
        ino: u64,
        mode: u32,
        nlink: u64,
        uid: u32,
        gid: u32,
        mtime: (i64, i64),
        ctime: (i64, i64),
    },
}

/// [`Look`] in the file: `[kind, dev, ino, mode, nlink, uid, gid, mtime s, ns, ctime s, ns]`,
/// kind 0 missing, 1 an error (its number in `mtime s`), 2 an object; any other kind reads as
/// an error that no `lstat` gives, so the record never matches.
#[derive(serde::Serialize, serde::Deserialize)]
struct Packed(u8, u64, u64, u32, u64, u32, u32, i64, i64, i64, i64);

impl From<Look> for Packed {
    fn from(l: Look) -> Packed {
        match l {
            Look::Missing => Packed(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
            Look::Error(e) => Packed(1, 0, 0, 0, 0, 0, 0, i64::from(e), 0, 0, 0),
            Look::Object {
                dev,
                ino,
                mode,
                nlink,
                uid,
                gid,
                mtime,
                ctime,
            } => Packed(
                2, dev, ino, mode, nlink, uid, gid, mtime.0, mtime.1, ctime.0, ctime.1,
            ),
        }
    }
}

impl From<Packed> for Look {
    fn from(p: Packed) -> Look {
        match p.0 {
            0 => Look::Missing,
            1 => Look::Error(i32::try_from(p.7).unwrap_or(i32::MIN)),
            2 => Look::Object {
                dev: p.1,
                ino: p.2,
                mode: p.3,
                nlink: p.4,
                uid: p.5,
                gid: p.6,
                mtime: (p.7, p.8),
                ctime: (p.9, p.10),
            },
            _ => Look::Error(i32::MIN),
        }
    }
}

impl Look {
    fn of(path: &Path) -> Look {
        match std::fs::symlink_metadata(path) {
            Ok(m) => Look::Object {
                dev: m.dev(),
                ino: m.ino(),
                mode: m.mode(),
                nlink: m.nlink(),
                uid: m.uid(),
                gid: m.gid(),
                mtime: (m.mtime(), m.mtime_nsec()),
                ctime: (m.ctime(), m.ctime_nsec()),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => Look::Missing,
            Err(e) => Look::Error(e.raw_os_error().unwrap_or(-1)),
        }
    }

    fn is_dir(&self) -> bool {
        matches!(self, Look::Object { mode, .. } if mode & 0o170_000 == 0o040_000)
    }

    fn is_link(&self) -> bool {
        matches!(self, Look::Object { mode, .. } if mode & 0o170_000 == 0o120_000)
    }

    /// Whether `now` answers what the resolution depended on in `self` (see the module docs):
    /// identity always, the link count of anything but a directory (a hard link to a deny
    /// entry; a directory's counts its subdirectories, which its own stamp or theirs
    /// already cover), `ctime` of a symlink, both times of a directory that was read.
    fn same(&self, now: &Look, listed: bool) -> bool {
        match (self, now) {
            (
                Look::Object {
                    dev,
                    ino,
                    mode,
                    nlink,
                    uid,
                    gid,
                    mtime,
                    ctime,
                },
                Look::Object {
                    dev: d2,
                    ino: i2,
                    mode: m2,
                    nlink: n2,
                    uid: u2,
                    gid: g2,
                    mtime: mt2,
                    ctime: ct2,
                },
            ) => {
                (dev, ino, mode, uid, gid) == (d2, i2, m2, u2, g2)
                    && (self.is_dir() || nlink == n2)
                    && (!self.is_link() || ctime == ct2)
                    && (!listed || (mtime == mt2 && ctime == ct2))
            }
            (a, b) => a == b,
        }
    }

    /// Whether the object changed at or after `since` (seconds).
    fn changed_since(&self, since: i64) -> bool {
        match self {
            Look::Object { mtime, ctime, .. } => mtime.0.max(ctime.0) >= since,
            _ => false,
        }
    }
}

/// Every object a resolution depended on, with its stamp (`true`: a directory it read).
#[derive(Debug, Default)]
pub(crate) struct Witness {
    stamps: BTreeMap<PathBuf, (Look, bool)>,
}

impl Witness {
    /// Stamp every object the kernel looks at to resolve `path` (absolute), one component
    /// at a time, following symlinks; a missing name is stamped and the rest appended
    /// lexically (also stamped: more stamps only make a reuse rarer).
    pub(crate) fn lookup(&mut self, path: &Path) {
        let mut done = PathBuf::from("/");
        let mut rest: std::collections::VecDeque<PathBuf> = parts(path).into();
        let mut links = 0;
        while let Some(part) = rest.pop_front() {
            if part.as_os_str() == ".." {
                done.pop();
                continue;
            }
            let candidate = done.join(&part);
            let look = match self.stamps.get(&candidate) {
                Some((l, _)) => *l,
                None => {
                    let l = Look::of(&candidate);
                    self.stamps.insert(candidate.clone(), (l, false));
                    l
                }
            };
            if look.is_link() && links < MAX_LINKS {
                links += 1;
                let Ok(target) = std::fs::read_link(&candidate) else {
                    done = candidate;
                    continue;
                };
                if target.is_absolute() {
                    done = PathBuf::from("/");
                }
                let mut next: std::collections::VecDeque<PathBuf> = parts(&target).into();
                next.extend(rest);
                rest = next;
            } else {
                done = candidate;
            }
        }
    }

    /// Stamp the directory `dir`, whose entries were read, and the way to it.
    pub(crate) fn listed(&mut self, dir: &Path) {
        self.lookup(dir);
        let look = Look::of(dir);
        self.stamps.insert(dir.to_path_buf(), (look, true));
    }

    /// Whether `path` is stamped.
    #[cfg(test)]
    pub(crate) fn has(&self, path: &Path) -> bool {
        self.stamps.contains_key(path)
    }

    /// Whether nothing stamped changed at or after `since` (see "Consistency").
    fn settled(&self, since: i64) -> bool {
        self.stamps.values().all(|(l, _)| !l.changed_since(since))
    }

    /// Whether every stamp, taken again now, is exactly what was stamped (times included).
    /// A stamp is kept from the first lookup of its path, and some are taken before the
    /// resolution step that depends on them (the home and `$PATH`'s directories are stamped
    /// before they are canonicalised): a directory renamed away and back in between keeps
    /// the identity a reuse compares, so only its `ctime`, read again here, tells that the
    /// resolution may have seen something else (red team 6).
    fn unchanged(&self) -> bool {
        self.stamps.iter().all(|(p, (l, _))| Look::of(p) == *l)
    }
}

fn parts(p: &Path) -> Vec<PathBuf> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(PathBuf::from(n)),
            Component::ParentDir => Some(PathBuf::from("..")),
            _ => None,
        })
        .collect()
}

/// The cached resolution's typed origin (only what a deny group's resolution makes).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) enum CachedOrigin {
    Group(String),
}

/// One deny entry as cached (the fields of `deny_groups::Entry`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct CachedEntry {
    pub literal: String,
    pub canonical: String,
    pub group: String,
    pub origin: CachedOrigin,
    pub write_only: bool,
    pub why: String,
    pub dir: bool,
    pub link: Option<bool>,
}

/// A resolved deny set as cached (see `DenySet::to_cached`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct CachedSet {
    pub entries: Vec<CachedEntry>,
    pub ids: Vec<(u64, u64, usize)>,
    pub unwalked: Vec<String>,
    pub links: Vec<(String, CachedOrigin, bool)>,
    /// `Lstats`: path → `None` missing, `Some((dir, nlink))` an object.
    pub lstats: Vec<(String, Option<(bool, u64)>)>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CacheFile {
    version: String,
    key: String,
    stamps: Vec<(String, Look, bool)>,
    set: CachedSet,
}

/// What the result depends on besides the filesystem: the user, the groups, their entries
/// as expanded, the home, `$PATH`, the state directory, and the running binary (its path and `stat` identity: a rebuilt nono of the
/// same version may resolve differently).
pub(crate) fn key(names: &[&str], expanded: &[Option<PathBuf>], vars: &Vars) -> Option<String> {
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| std::fs::metadata(&p).ok().map(|m| (p, m)))
        .map(|(p, m)| {
            format!(
                "{} {}:{} {} {}.{} {}.{}",
                p.display(),
                m.dev(),
                m.ino(),
                m.len(),
                m.mtime(),
                m.mtime_nsec(),
                m.ctime(),
                m.ctime_nsec()
            )
        })?;
    // Only the variables the resolution reads: the expanded entries (so `$WORKDIR` and
    // `$TMPDIR`, which no group names, do not split the cache by directory), the home and
    // `$PATH` (the `autorun` group), and the state directory (the link-walk cache).
    Some(format!(
        "uid={} gid={} exe={exe} groups={names:?} entries={expanded:?} home={:?} path={:?} state={:?}",
        rustix::process::geteuid().as_raw(),
        rustix::process::getegid().as_raw(),
        vars.home,
        vars.path_dirs,
        vars.xdg_state_home,
    ))
}

/// The cache file under `state_home` (`$XDG_STATE_HOME`).
#[must_use]
pub fn file(state_home: &Path) -> PathBuf {
    state_home.join("nono/plan-cache.json")
}

/// The secret the file's digest is keyed with (`plan-cache.key` beside it; made on first
/// use; read with the same checks as the cache).
#[must_use]
pub fn key_file(state_home: &Path) -> PathBuf {
    state_home.join("nono/plan-cache.key")
}

/// The digest of `payload` under `secret`: HMAC-SHA-256. It is not what keeps the file safe
/// (the `nono` deny group and the ownership checks are); it makes an edit by anything that
/// cannot also read the key, a torn write or a truncated file a miss.
fn digest(secret: &[u8], payload: &[u8]) -> String {
    crate::digest::hmac_sha256_hex(secret, payload)
}

/// The key, read when trusted; with `create`, made (32 bytes of `/dev/urandom`, 0600,
/// `O_EXCL`) when missing.
fn secret(state_home: &Path, create: bool) -> Option<Vec<u8>> {
    let file = key_file(state_home);
    if let Some(key) = read_private(&file, 4096).filter(|k| k.len() == 32) {
        return Some(key);
    }
    if !create {
        return None;
    }
    let mut key = vec![0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut key))
        .ok()?;
    let _ = std::fs::remove_file(&file);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(&file)
        .ok()?;
    f.write_all(&key).ok()?;
    Some(key)
}

/// The recorded resolution for `key`, if the file is trusted and every stamp is unchanged.
pub(crate) fn lookup(state_home: &Path, key: &str) -> Option<CachedSet> {
    let Some(cache) = secret(state_home, false).and_then(|s| read_trusted(&file(state_home), &s))
    else {
        tracing::debug!("plan cache: no trusted record");
        return None;
    };
    if cache.version != VERSION || cache.key != key {
        tracing::debug!("plan cache: recorded for another version or input");
        return None;
    }
    let changed = cache
        .stamps
        .iter()
        .find(|(p, look, listed)| !look.same(&Look::of(Path::new(p)), *listed));
    if let Some((p, _, _)) = changed {
        tracing::debug!(path = %p, "plan cache: changed since recorded");
        return None;
    }
    Some(cache.set)
}

/// Record `set` for `key` with the stamps of `witness`, when every stamped object was
/// unchanged since [`RACY_SECS`] before `started` and every path is UTF-8. Failures are
/// ignored: the next start resolves again.
pub(crate) fn record(
    state_home: &Path,
    key: String,
    started: i64,
    witness: &Witness,
    set: CachedSet,
) {
    if !witness.settled(started.saturating_sub(RACY_SECS)) {
        return;
    }
    let Some(stamps) = witness
        .stamps
        .iter()
        .map(|(p, (l, listed))| p.to_str().map(|s| (s.to_owned(), *l, *listed)))
        .collect::<Option<Vec<_>>>()
    else {
        return;
    };
    if !witness.unchanged() {
        return;
    }
    let file = file(state_home);
    if file.parent().is_none_or(|d| private_dir(d).is_err()) {
        return;
    }
    let Some(secret) = secret(state_home, true) else {
        return;
    };
    let _ = write_private(
        &file,
        &secret,
        &CacheFile {
            version: VERSION.to_owned(),
            key,
            stamps,
            set,
        },
    );
}

/// Seconds since the epoch, now.
pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Whether `meta` belongs to the user and nobody else can write it (`private`: nor read it).
fn owned_safely(meta: &std::fs::Metadata, private: bool) -> bool {
    let uid = rustix::process::geteuid().as_raw();
    let forbidden = if private { 0o077 } else { 0o022 };
    meta.uid() == uid && meta.mode() & forbidden == 0
}

/// The cache file, if it can be trusted (see the module docs) and its digest matches.
fn read_trusted(file: &Path, secret: &[u8]) -> Option<CacheFile> {
    let text = read_private(file, MAX_FILE_BYTES)?;
    let newline = text.iter().position(|&b| b == b'\n')?;
    let (head, payload) = (&text[..newline], &text[newline + 1..]);
    if head != digest(secret, payload).as_bytes() {
        return None;
    }
    serde_json::from_slice(payload).ok()
}

/// The bytes of `file` when it is a private regular file of the user's (not reached through
/// a symlink, mode 0600, at most `max` bytes) in a directory of the user's that nobody else
/// can write.
fn read_private(file: &Path, max: u64) -> Option<Vec<u8>> {
    let dir = file.parent()?;
    let dmeta = std::fs::symlink_metadata(dir).ok()?;
    if !dmeta.is_dir() || !owned_safely(&dmeta, false) {
        return None;
    }
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(file)
        .ok()?;
    let meta = f.metadata().ok()?;
    if !meta.is_file() || !owned_safely(&meta, true) || meta.len() > max {
        return None;
    }
    let mut text = Vec::new();
    f.read_to_end(&mut text).ok()?;
    Some(text)
}

/// Make nono's state directory `dir` (0700) if missing; an error unless it is a directory of
/// the user's that nobody else can write.
fn private_dir(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let dmeta = std::fs::symlink_metadata(dir)?;
    if !dmeta.is_dir() || !owned_safely(&dmeta, false) {
        return Err(io::Error::other(
            "the state directory is not a directory of the user's that only they can write",
        ));
    }
    Ok(())
}

/// Write `content` to `file` in place (created 0600 in a 0700 directory of the user's, never
/// through a symlink; an existing file must be the user's own 0600 regular file).
fn write_private(file: &Path, secret: &[u8], content: &CacheFile) -> io::Result<()> {
    let payload = serde_json::to_vec(content).map_err(io::Error::other)?;
    let mut text = digest(secret, &payload).into_bytes();
    text.push(b'\n');
    text.extend_from_slice(&payload);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(file)?;
    let meta = f.metadata()?;
    if !meta.is_file() || !owned_safely(&meta, true) {
        return Err(io::Error::other(
            "the plan cache is not a private regular file of the user's",
        ));
    }
    f.set_len(0)?;
    f.rewind()?;
    f.write_all(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("nono-pc-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::canonicalize(&d).unwrap()
    }

    /// Drop the stamps of the scratch directory's ancestors (`/tmp`, which other jobs keep
    /// changing): a record is written only while every stamp holds, and those are not what
    /// these tests look at.
    fn scratch_only(w: &mut Witness, d: &Path) {
        w.stamps.retain(|p, _| p.starts_with(d));
    }

    fn empty_set() -> CachedSet {
        CachedSet {
            entries: Vec::new(),
            ids: Vec::new(),
            unwalked: vec!["/marker".to_owned()],
            links: Vec::new(),
            lstats: Vec::new(),
        }
    }

    /// A record is reused only from a private file of the user's with the right digest, key
    /// and version, in a directory nobody else can write, while its stamps hold.
    #[test]
    fn a_record_is_reused_only_when_trusted_and_unchanged() {
        use std::os::unix::fs::PermissionsExt as _;
        let d = tmp("trust");
        let state = d.join("state");
        let watched = d.join("watched");
        std::fs::create_dir_all(&watched).unwrap();
        // Made before the stamps (`d` is stamped: a record is kept only while every stamp
        // still holds when it is written).
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(file(&state).parent().unwrap())
            .unwrap();
        let mut w = Witness::default();
        w.listed(&watched);
        scratch_only(&mut w, &d);
        // Recorded as if the clock had moved on (what it looked at is seconds old).
        let later = now_secs() + 1000;
        let ok = |state: &Path| lookup(state, "k").is_some_and(|c| c.unwalked == ["/marker"]);
        record(&state, "k".to_owned(), later, &w, empty_set());
        assert!(ok(&state));
        assert!(lookup(&state, "other key").is_none());
        // Too fresh: not recorded.
        let _ = std::fs::remove_file(file(&state));
        record(&state, "k".to_owned(), now_secs(), &w, empty_set());
        assert!(!file(&state).exists());
        record(&state, "k".to_owned(), later, &w, empty_set());
        let f = file(&state);
        let dir = f.parent().unwrap().to_path_buf();
        let mode = |p: &Path, m: u32| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
        };
        // Readable by others, owned by another user, a state directory others can write, a
        // key others can read: ignored.
        mode(&f, 0o640);
        assert!(!ok(&state));
        mode(&f, 0o600);
        std::os::unix::fs::chown(&f, Some(65534), None).unwrap();
        assert!(!ok(&state));
        std::os::unix::fs::chown(&f, Some(rustix::process::geteuid().as_raw()), None).unwrap();
        assert!(ok(&state));
        mode(&dir, 0o770);
        assert!(!ok(&state));
        mode(&dir, 0o700);
        mode(&key_file(&state), 0o644);
        assert!(!ok(&state));
        mode(&key_file(&state), 0o600);
        assert!(ok(&state));
        // Through a symlink: ignored.
        let real = d.join("real.json");
        std::fs::rename(&f, &real).unwrap();
        std::os::unix::fs::symlink(&real, &f).unwrap();
        assert!(!ok(&state));
        std::fs::remove_file(&f).unwrap();
        std::fs::rename(&real, &f).unwrap();
        assert!(ok(&state));
        // Edited without the key: ignored.
        let text = std::fs::read_to_string(&f).unwrap();
        std::fs::write(&f, text.replace("/marker", "/marker2")).unwrap();
        assert!(lookup(&state, "k").is_none());
        std::fs::write(&f, &text).unwrap();
        assert!(ok(&state));
        // A stamped directory changed: not reused.
        std::fs::write(watched.join("new"), b"x").unwrap();
        assert!(!ok(&state));
        let _ = std::fs::remove_dir_all(&d);
    }

    /// Red team 6: a stamp is taken at the first lookup of its path, before the resolution
    /// step that depends on it (the `autorun` group stamps `$PATH`'s directories, then
    /// canonicalises them). A directory on the way renamed away (the resolution sees what is
    /// put in its place) and back keeps its `(st_dev, st_ino, mode, owner)` — all a reuse
    /// compares for a directory whose entries were not read — and its stamp was taken with
    /// the old times, so the settled check passed: a result computed from another state was
    /// recorded under stamps that still match. Now every stamp is taken again before
    /// recording and must be exactly the same.
    #[test]
    fn a_directory_swapped_and_restored_after_its_stamp_is_not_recorded() {
        let d = tmp("swap");
        let state = d.join("state");
        std::fs::create_dir_all(d.join("proj/a/bin")).unwrap();
        // Recorded as if the clock had moved on (what it looked at is seconds old: the
        // racy guard passes, as it does for a directory left alone for 2 s before the swap).
        let started = now_secs() + 1000;
        let mut w = Witness::default();
        w.lookup(&d.join("proj/a/bin"));
        scratch_only(&mut w, &d);
        // Between the stamp and the step that depends on it: `a` swapped and restored.
        std::fs::rename(d.join("proj/a"), d.join("proj/a.save")).unwrap();
        std::fs::create_dir_all(d.join("proj/a/bin")).unwrap();
        std::fs::remove_dir_all(d.join("proj/a")).unwrap();
        std::fs::rename(d.join("proj/a.save"), d.join("proj/a")).unwrap();
        record(&state, "k".to_owned(), started, &w, empty_set());
        assert!(
            lookup(&state, "k").is_none(),
            "a record whose stamps were taken before a swap was kept"
        );
        // Control: unchanged, the same record is kept and reused.
        let mut w = Witness::default();
        w.lookup(&d.join("proj/a/bin"));
        scratch_only(&mut w, &d);
        record(&state, "k".to_owned(), started, &w, empty_set());
        assert!(lookup(&state, "k").is_some());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn the_witness_stamps_every_step_of_a_symlink_chain() {
        let d = tmp("chain");
        std::fs::create_dir_all(d.join("real/sub")).unwrap();
        std::os::unix::fs::symlink(d.join("real"), d.join("link")).unwrap();
        let mut w = Witness::default();
        w.lookup(&d.join("link/sub/missing/x"));
        for p in [
            d.clone(),
            d.join("link"),
            d.join("real"),
            d.join("real/sub"),
            d.join("real/sub/missing"),
            d.join("real/sub/missing/x"),
        ] {
            assert!(w.stamps.contains_key(&p), "{p:?} not stamped: {w:?}");
        }
        assert_eq!(w.stamps[&d.join("real/sub/missing")].0, Look::Missing);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_stamp_sees_a_replaced_link_and_a_changed_listing() {
        let d = tmp("stamp");
        std::os::unix::fs::symlink("/a", d.join("l")).unwrap();
        let before = Look::of(&d.join("l"));
        let dir_before = Look::of(&d);
        std::fs::remove_file(d.join("l")).unwrap();
        std::os::unix::fs::symlink("/b", d.join("l")).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let after = Look::of(&d.join("l"));
        // A new link (maybe on the same inode) has a new ctime.
        assert!(!before.same(&after, false));
        std::fs::write(d.join("f"), b"x").unwrap();
        assert!(!dir_before.same(&Look::of(&d), true));
        let _ = std::fs::remove_dir_all(&d);
    }
}

//! The start-up cache of the deny groups' symlink walk (issue 14).
//!
//! [`DenySet::from_groups`](crate::deny_groups::DenySet::from_groups) looks through every
//! existing deny entry for symlinks (a `~/.ssh/config` → `~/dotfiles/ssh_config` would let a
//! grant on the target change what the denied path means). For a home holding toolchain
//! trees (`~/.rustup`, `~/.pyenv`, in the read-only `autorun` group) that is a hundred or more
//! directories opened and read on every start, most of nono's start-up system time.
//!
//! What the walk of one entry finds is a function of the directories it read: their entries
//! (names and types) and, for the symlinks, their contents. No entry of a directory can be
//! added, removed, renamed or replaced without the kernel setting the directory's `mtime` and
//! `ctime`, and a symlink's content never changes in place. So a walk is recorded with the
//! `lstat` identity of every directory it read — `(st_dev, st_ino, st_mode, mtime, ctime)`,
//! taken *before* the directory was read — and reused only while every one of them is
//! unchanged: one `lstat` per directory instead of `open` + `getdents` + `close`. `ctime`
//! cannot be set back without changing the system clock (`CAP_SYS_TIME`), so `touch -d` does
//! not hide a change; a directory replaced or mounted over shows another `(st_dev, st_ino)`.
//!
//! - Racy timestamps: file systems stamp with a coarse clock, so a change in the same tick
//!   as the read could leave the stamps equal. A walk is recorded only when every directory
//!   it read was last changed more than [`RACY_SECS`] before the walk.
//! - Only the raw walk is cached (which symlinks lie in the entry, whether the walk was
//!   complete, how many entries it looked at); where each link leads is resolved afresh on
//!   every start, as before.
//! - The `PATH` directories outside the home are scanned for programs that link into it
//!   ([`LinkWalkCache::path_links`]). There the outcome of resolving is cached too — which
//!   links lead nowhere near the home — with the stamps of every directory those
//!   resolutions read, so that `/usr/bin`'s hundreds of links cost an `lstat` of a few dozen
//!   directories; the links that do reach the home are resolved afresh on every start.
//! - Trust: the file lives in nono's state directory (`$XDG_STATE_HOME/nono`), inside the
//!   `nono` deny group, which is always on and cannot be bypassed, so no sandboxed run can
//!   write it (like the write history, `planted::WriteHistory`). It is read only when
//!   it is a regular file of the user's (not through a symlink), mode 0600, in a directory of
//!   the user's that nobody else can write, and only when it was written by this version of
//!   nono; anything else is ignored and rewritten. A cache can only skip work: a record that
//!   fails any check is walked again, never trusted.
//! - Beside the records, the file lists the entries whose cut walk a run has told the user
//!   about ([`LinkWalkCache::remember_announced`]), so that the note is printed once per
//!   entry rather than on every start. Trusted like the records: a list that fails the checks
//!   is ignored, and the notes come again.
//! - Small walks are not recorded (an `lstat` per directory saves little there, and nono's
//!   own state directory, which changes on most runs, would be rewritten on every start).

use std::collections::{HashMap, HashSet};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Directory levels walked below a deny entry for symlinks.
pub const LINK_WALK_DEPTH: usize = 16;

/// Seconds a directory must have been unchanged before a walk that read it is recorded.
pub const RACY_SECS: i64 = 2;
/// Walks that read fewer directories than this are not recorded.
pub const MIN_CACHED_DIRS: usize = 8;
/// Records kept in the file at most (the least recently written are dropped).
const MAX_RECORDS: usize = 256;
/// Entries of one `PATH` directory looked at, at most (see [`LinkWalkCache::path_links`]).
pub const PATH_SCAN_ENTRIES: usize = 1 << 16;
/// Announced deny entries kept in the file at most.
const MAX_ANNOUNCED: usize = 1024;
/// The file is not read beyond this size.
const MAX_FILE_BYTES: u64 = 8 << 20;
/// Format and walk semantics: a file written by another version of nono is ignored. `/3`
/// (red team 14): walks of `/2` may have skipped a directory they could not open for want
/// of descriptors and been recorded as complete; none of them is trusted.
const VERSION: &str = concat!("link-walk/3 nono ", env!("CARGO_PKG_VERSION"));

/// The `lstat` identity of a directory the walk read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Stamp {
    dev: u64,
    ino: u64,
    mode: u32,
    mtime: i64,
    mtime_ns: i64,
    ctime: i64,
    ctime_ns: i64,
}

impl Stamp {
    fn of(path: &Path) -> Option<Stamp> {
        let m = std::fs::symlink_metadata(path).ok()?;
        Some(Stamp {
            dev: m.dev(),
            ino: m.ino(),
            mode: m.mode(),
            mtime: m.mtime(),
            mtime_ns: m.mtime_nsec(),
            ctime: m.ctime(),
            ctime_ns: m.ctime_nsec(),
        })
    }
}

/// One recorded walk of a deny entry.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Record {
    root: PathBuf,
    budget: usize,
    complete: bool,
    used: usize,
    /// The symlinks found, in the order the walk found them.
    links: Vec<PathBuf>,
    /// Every directory read, with its stamp (`None`: it could not be `lstat`ed).
    dirs: Vec<(PathBuf, Option<Stamp>)>,
    /// When it was recorded (seconds since the epoch), to keep the newest.
    at: i64,
    /// For the scan of a `PATH` directory: the canonical home it was classified for (which
    /// chains lead into the home depends on it; red team 17). `None` for a walk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    home: Option<PathBuf>,
}

impl Record {
    fn still_valid(&self) -> bool {
        self.dirs
            .iter()
            .all(|(dir, stamp)| Stamp::of(dir) == *stamp)
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CacheFile {
    version: String,
    records: Vec<Record>,
    /// Scans of `PATH` directories outside the home (see [`LinkWalkCache::path_links`]):
    /// `links` holds the symlinks kept, `dirs` the directory and every directory the
    /// resolutions of the others read.
    #[serde(default)]
    paths: Vec<Record>,
    /// Deny entries whose cut walk the user was told about (see
    /// [`LinkWalkCache::remember_announced`]).
    #[serde(default)]
    announced: Vec<PathBuf>,
}

/// The symlink walks of one start (see the module docs).
#[derive(Debug, Default)]
pub struct LinkWalkCache {
    /// `None`: no cache (nothing read or written).
    file: Option<PathBuf>,
    records: HashMap<(PathBuf, usize), Record>,
    /// Scans of `PATH` directories, by directory and the home they were classified for.
    paths: HashMap<(PathBuf, PathBuf), Record>,
    /// The stamps taken by this start's checks of the scans (their chains share `/usr`,
    /// `/usr/lib`, `/etc/alternatives`): each directory is `lstat`ed once.
    path_stamps: HashMap<PathBuf, Option<Stamp>>,
    dirty: bool,
    /// Records already checked by a [`StampCheck`]: whether each is still valid.
    checked: HashMap<(PathBuf, usize), bool>,
    /// Deny entries whose cut walk the user was told about.
    announced: HashSet<PathBuf>,
}

/// The stamps of some recorded walks, checked by any number of threads at once (the
/// start-up prefetch's thread and the main thread, see `deny_prefetch`): each claims a few
/// directories at a time and `lstat`s them; a record is valid when none of its directories
/// changed. Only ever an answer to "may this record be reused": a record not checked here is
/// checked when it is walked, as before.
#[derive(Debug)]
pub struct StampCheck {
    /// `(record, directory, stamp recorded)`.
    items: Vec<(usize, PathBuf, Option<Stamp>)>,
    /// The records' keys, by index.
    keys: Vec<(PathBuf, usize)>,
    /// The next item to claim.
    next: AtomicUsize,
    /// Items whose check is over (`SeqCst`: a count equal to `items.len()` means every
    /// `stale` flag is final).
    done: AtomicUsize,
    /// Per record: a directory changed.
    stale: Vec<AtomicBool>,
}

impl StampCheck {
    /// Directories claimed at a time.
    const CHUNK: usize = 8;

    /// Check directories until none is left to claim.
    pub fn help(&self) {
        loop {
            let start = self.next.fetch_add(Self::CHUNK, Ordering::SeqCst);
            if start >= self.items.len() {
                return;
            }
            let end = (start + Self::CHUNK).min(self.items.len());
            for (record, dir, stamp) in &self.items[start..end] {
                if Stamp::of(dir) != *stamp {
                    self.stale[*record].store(true, Ordering::SeqCst);
                }
            }
            self.done.fetch_add(end - start, Ordering::SeqCst);
        }
    }

    /// Help, then wait for the directories other threads claimed.
    fn finish(&self) {
        self.help();
        while self.done.load(Ordering::SeqCst) < self.items.len() {
            std::thread::yield_now();
        }
    }
}

impl LinkWalkCache {
    /// The cache file under `state_home` (`$XDG_STATE_HOME`).
    #[must_use]
    pub fn file(state_home: &Path) -> PathBuf {
        state_home.join("nono/link-walk.json")
    }

    /// Load the cache of `state_home`; a missing, foreign, unsafe or unreadable file is an
    /// empty cache (it is rewritten when this start records a walk).
    #[must_use]
    pub fn load(state_home: &Path) -> LinkWalkCache {
        let file = LinkWalkCache::file(state_home);
        let (records, paths, announced) = read_trusted(&file)
            .map(|c| {
                (
                    c.records
                        .into_iter()
                        .map(|r| ((r.root.clone(), r.budget), r))
                        .collect(),
                    c.paths
                        .into_iter()
                        .filter_map(|r| Some(((r.root.clone(), r.home.clone()?), r)))
                        .collect(),
                    c.announced.into_iter().collect(),
                )
            })
            .unwrap_or_default();
        LinkWalkCache {
            file: Some(file),
            records,
            paths,
            path_stamps: HashMap::new(),
            dirty: false,
            checked: HashMap::new(),
            announced,
        }
    }

    /// Whether the user was told that the walk of the deny entry `root` is cut at its bounds
    /// (so a start need not say it again).
    #[must_use]
    pub fn announced(&self, root: &Path) -> bool {
        self.announced.contains(root)
    }

    /// Remember in the cache of `state_home` that the user was told the walks of `roots` are
    /// cut (a note printed once per entry, not on every start). Best effort: when it cannot be
    /// written the note comes again. A root that is not UTF-8 is not recorded (the file is
    /// JSON), so its note comes on every start.
    pub fn remember_announced(state_home: &Path, roots: &[PathBuf]) {
        let mut cache = LinkWalkCache::load(state_home);
        for root in roots {
            if root.to_str().is_some() && cache.announced.insert(root.clone()) {
                cache.dirty = true;
            }
        }
        cache.store();
    }

    /// Whether this is the cache of `state_home` (as [`load`](Self::load) was given it).
    #[must_use]
    pub fn is_of(&self, state_home: &Path) -> bool {
        self.file.as_deref() == Some(LinkWalkCache::file(state_home).as_path())
    }

    /// A check of the records of walks from `roots` (any budget), for
    /// [`StampCheck::help`] on other threads and then [`use_check`](Self::use_check).
    #[must_use]
    pub fn check_for<'a>(&self, roots: impl IntoIterator<Item = &'a Path>) -> StampCheck {
        let roots: HashSet<&Path> = roots.into_iter().collect();
        let mut keys = Vec::new();
        let mut items = Vec::new();
        for (key, record) in &self.records {
            if roots.contains(key.0.as_path()) {
                for (dir, stamp) in &record.dirs {
                    items.push((keys.len(), dir.clone(), *stamp));
                }
                keys.push(key.clone());
            }
        }
        let stale = keys.iter().map(|_| AtomicBool::new(false)).collect();
        StampCheck {
            items,
            keys,
            next: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            stale,
        }
    }

    /// Finish `check` (helping it) and take its answers: a record it checked is reused or
    /// dropped by them instead of being checked again when it is walked.
    pub fn use_check(&mut self, check: &StampCheck) {
        check.finish();
        for (key, stale) in check.keys.iter().zip(&check.stale) {
            self.checked
                .insert(key.clone(), !stale.load(Ordering::SeqCst));
        }
    }

    /// The symlinks beneath the directory `root` (not following any), breadth first, looking
    /// at no more than `budget` entries and [`LINK_WALK_DEPTH`] levels, appended to `links`.
    /// Links for which `skip` says so are left out (`skip` must depend only on the link and
    /// the directory it lies in, as `names_a_plain_sibling` does: a recorded walk keeps only
    /// what was not skipped). Returns whether the walk was complete and how many entries it
    /// looked at. From a recorded walk when every directory it read is unchanged; otherwise
    /// walked (and recorded when it qualifies).
    ///
    /// # Errors
    /// A directory of the walk could not be read for a reason that says nothing about it
    /// (out of descriptors): nothing is recorded, and the symlinks beneath `root` are unknown.
    pub fn walk(
        &mut self,
        root: &Path,
        budget: usize,
        links: &mut Vec<PathBuf>,
        mut skip: impl FnMut(&Path) -> bool,
    ) -> io::Result<(bool, usize)> {
        if self.file.is_none() {
            return walk_links(root, budget, links, None);
        }
        let key = (root.to_path_buf(), budget);
        if let Some(r) = self.records.get(&key) {
            let valid = match self.checked.remove(&key) {
                Some(valid) => valid,
                None => r.still_valid(),
            };
            if valid {
                links.extend(r.links.iter().cloned());
                return Ok((r.complete, r.used));
            }
            self.records.remove(&key);
            self.dirty = true;
        }
        let start = links.len();
        let mut dirs = Vec::new();
        let (complete, used) = walk_links(root, budget, links, Some(&mut dirs))?;
        let mut kept = start;
        for i in start..links.len() {
            if !skip(&links[i]) {
                links.swap(kept, i);
                kept += 1;
            }
        }
        links.truncate(kept);
        let now = now_secs();
        let utf8 = dirs.iter().all(|(d, _)| d.to_str().is_some())
            && links[start..].iter().all(|l| l.to_str().is_some())
            && root.to_str().is_some();
        if dirs.len() >= MIN_CACHED_DIRS && settled(&dirs, now) && utf8 {
            self.records.insert(
                key,
                Record {
                    root: root.to_path_buf(),
                    budget,
                    complete,
                    used,
                    links: links[start..].to_vec(),
                    dirs,
                    at: now,
                    home: None,
                },
            );
            self.dirty = true;
        }
        Ok((complete, used))
    }

    /// The symlinks of the `PATH` directory `dir` (a directory outside the home, on the
    /// user's `PATH`) whose chains `classify` keeps, appended to `links`; returns whether all
    /// of `dir` was looked at (at most [`PATH_SCAN_ENTRIES`] entries; subdirectories are not
    /// looked into: nothing in them is on `PATH`).
    ///
    /// `classify` resolves a link's chain and says whether it must be resolved again on
    /// every start ([`PathLink::Kept`]) or may be left out while the directories its
    /// resolution read are unchanged ([`PathLink::Settled`]) — for the canonical `home`:
    /// a scan is reused for that home only (a chain into `/home/u` is left alone for a run
    /// whose `$HOME` is `/home/u/agent`, with `$XDG_STATE_HOME` the same). A scan is recorded with the
    /// stamps of `dir` (taken before it is read) and of every directory the settled chains
    /// read, and reused while all of them are unchanged — `/usr/bin`'s few hundred links are
    /// then an `lstat` of the few dozen directories they lead through (`/etc/alternatives`,
    /// `/usr/lib/jvm/…`) instead of a `readlink` per component of each. A chain whose link is
    /// re-pointed, or whose directory on the way is replaced or mounted over, changes one of
    /// those stamps. As for walks, a scan is recorded only when every directory stamped last
    /// changed more than [`RACY_SECS`] ago (which also covers a change between a
    /// resolution and the stamp taken after it).
    ///
    /// # Errors
    /// `dir` could not be read for want of descriptors or memory: its symlinks are unknown.
    pub fn path_links(
        &mut self,
        dir: &Path,
        home: &Path,
        links: &mut Vec<PathBuf>,
        mut classify: impl FnMut(&Path) -> PathLink,
    ) -> io::Result<bool> {
        let key = (dir.to_path_buf(), home.to_path_buf());
        if self.file.is_some() {
            if let Some(r) = self.paths.get(&key) {
                let stamps = &mut self.path_stamps;
                let valid = r.dirs.iter().all(|(d, stamp)| {
                    *stamps.entry(d.clone()).or_insert_with(|| Stamp::of(d)) == *stamp
                });
                if valid {
                    links.extend(r.links.iter().cloned());
                    return Ok(r.complete);
                }
                self.paths.remove(&key);
                self.dirty = true;
            }
        }
        let stamp = Stamp::of(dir);
        let mut found = Vec::new();
        let (complete, used) = list_links(dir, PATH_SCAN_ENTRIES, &mut found)?;
        let start = links.len();
        let mut read = std::collections::BTreeSet::new();
        for link in found {
            match classify(&link) {
                PathLink::Settled(dirs) => read.extend(dirs),
                PathLink::Kept => links.push(link),
            }
        }
        if self.file.is_none() {
            return Ok(complete);
        }
        read.remove(dir);
        let mut dirs = vec![(dir.to_path_buf(), stamp)];
        dirs.extend(read.into_iter().map(|d| {
            let s = Stamp::of(&d);
            (d, s)
        }));
        let now = now_secs();
        let utf8 = dirs.iter().all(|(d, _)| d.to_str().is_some())
            && links[start..].iter().all(|l| l.to_str().is_some())
            && home.to_str().is_some();
        if settled(&dirs, now) && utf8 {
            self.paths.insert(
                key,
                Record {
                    root: dir.to_path_buf(),
                    budget: PATH_SCAN_ENTRIES,
                    complete,
                    used,
                    links: links[start..].to_vec(),
                    dirs,
                    at: now,
                    home: Some(home.to_path_buf()),
                },
            );
            self.dirty = true;
        }
        Ok(complete)
    }

    /// Write the records back when this start changed them. Failures are ignored: the next
    /// start walks again.
    pub fn store(self) {
        let Some(file) = self.file else { return };
        if !self.dirty {
            return;
        }
        let mut records: Vec<Record> = self.records.into_values().collect();
        records.sort_by_key(|r| std::cmp::Reverse(r.at));
        records.truncate(MAX_RECORDS);
        let mut paths: Vec<Record> = self.paths.into_values().collect();
        paths.sort_by_key(|r| std::cmp::Reverse(r.at));
        paths.truncate(MAX_RECORDS);
        let mut announced: Vec<PathBuf> = self.announced.into_iter().collect();
        announced.sort_unstable();
        announced.truncate(MAX_ANNOUNCED);
        let _ = write_private(
            &file,
            &CacheFile {
                version: VERSION.to_owned(),
                records,
                paths,
                announced,
            },
        );
    }
}

#[cfg(test)]
thread_local! {
    /// Whether [`settled`] takes every directory as settled (tests make their trees just
    /// before they record them; ctimes cannot be set back).
    pub(crate) static SETTLED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// What one symlink of a `PATH` directory leads to (see [`LinkWalkCache::path_links`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathLink {
    /// Nothing to protect while these directories — every one its resolution read — are
    /// unchanged.
    Settled(Vec<PathBuf>),
    /// Resolved again on every start.
    Kept,
}

/// Whether every stamped directory last changed more than [`RACY_SECS`] before `now` (a
/// directory that was missing has nothing to change in the same tick).
fn settled(dirs: &[(PathBuf, Option<Stamp>)], now: i64) -> bool {
    #[cfg(test)]
    if SETTLED.with(std::cell::Cell::get) {
        return true;
    }
    dirs.iter()
        .all(|(_, s)| s.is_none_or(|s| s.mtime.max(s.ctime) < now.saturating_sub(RACY_SECS)))
}

/// The symlinks directly in `dir` (not in its subdirectories), looking at no more than
/// `budget` entries: whether all were looked at, and how many. A directory that cannot be
/// read holds nothing to look at.
///
/// # Errors
/// As [`walk_links`]: `dir` could not be read for want of descriptors or memory.
fn list_links(dir: &Path, budget: usize, links: &mut Vec<PathBuf>) -> io::Result<(bool, usize)> {
    let failed = |e: io::Error| {
        io::Error::new(
            e.kind(),
            format!("reading {} failed: {e}", crate::escape::path(dir)),
        )
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if short_of_resources(&e) => return Err(failed(e)),
        Err(_) => return Ok((true, 0)),
    };
    let mut used = 0;
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) if short_of_resources(&e) => return Err(failed(e)),
            Err(_) => break,
        };
        if used == budget {
            return Ok((false, used));
        }
        used += 1;
        if entry.file_type().is_ok_and(|t| t.is_symlink()) {
            links.push(entry.path());
        }
    }
    Ok((true, used))
}

/// Whether the walk could not read a directory for want of a resource (`EMFILE`, `ENFILE`,
/// `ENOMEM`): that says nothing about the directory, whose symlinks are then unknown. Any
/// other error (gone, not a directory, unreadable, a loop, a path too long to name) keeps
/// its meaning as before: nothing there the walk can see.
fn short_of_resources(e: &io::Error) -> bool {
    use rustix::io::Errno;
    [Errno::MFILE, Errno::NFILE, Errno::NOMEM]
        .iter()
        .any(|n| e.raw_os_error() == Some(n.raw_os_error()))
}

/// The walk itself; with `dirs`, every directory read is recorded with its stamp, taken
/// before it is read.
///
/// # Errors
/// A directory that could not be read for want of descriptors or memory
/// ([`short_of_resources`], red team 14): the symlinks in it are unknown, so the walk is
/// neither used nor recorded.
fn walk_links(
    root: &Path,
    budget: usize,
    links: &mut Vec<PathBuf>,
    mut dirs: Option<&mut Vec<(PathBuf, Option<Stamp>)>>,
) -> io::Result<(bool, usize)> {
    let mut used = 0;
    let mut queue = std::collections::VecDeque::from([(root.to_path_buf(), 0usize)]);
    let failed = |dir: &Path, e: io::Error| {
        io::Error::new(
            e.kind(),
            format!("reading {} failed: {e}", crate::escape::path(dir)),
        )
    };
    while let Some((dir, depth)) = queue.pop_front() {
        if let Some(dirs) = dirs.as_deref_mut() {
            dirs.push((dir.clone(), Stamp::of(&dir)));
        }
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if short_of_resources(&e) => return Err(failed(&dir, e)),
            Err(_) => continue,
        };
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) if short_of_resources(&e) => return Err(failed(&dir, e)),
                Err(_) => break,
            };
            if used == budget {
                return Ok((false, used));
            }
            used += 1;
            let Ok(ft) = entry.file_type() else {
                continue;
            };
            if ft.is_symlink() {
                links.push(entry.path());
            } else if ft.is_dir() {
                if depth + 1 >= LINK_WALK_DEPTH {
                    return Ok((false, used));
                }
                queue.push_back((entry.path(), depth + 1));
            }
        }
    }
    Ok((true, used))
}

/// Seconds since the epoch, now. (This module uses nothing of the supervisor's beyond the
/// deny groups' walk bounds, so it can move with them.)
fn now_secs() -> i64 {
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

/// The cache file, if it can be trusted (see the module docs).
fn read_trusted(file: &Path) -> Option<CacheFile> {
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
    if !meta.is_file() || !owned_safely(&meta, true) || meta.len() > MAX_FILE_BYTES {
        return None;
    }
    let mut text = String::new();
    f.read_to_string(&mut text).ok()?;
    let cache: CacheFile = serde_json::from_str(&text).ok()?;
    (cache.version == VERSION).then_some(cache)
}

/// Replace `file` with `content`: written 0600 to a fresh name beside it, then renamed over
/// it, in a 0700 directory of the user's.
fn write_private(file: &Path, content: &CacheFile) -> io::Result<()> {
    let dir = file
        .parent()
        .ok_or_else(|| io::Error::other("no parent directory"))?;
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
    remove_stale_temporaries(dir);
    let text = serde_json::to_vec(content).map_err(io::Error::other)?;
    // One name per writer: two resolutions of one process (a prefetch guessed wrong, see
    // `deny_prefetch`) may store at once.
    static WRITERS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let writer = WRITERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".link-walk.{}.{writer}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(&tmp)?;
    let written = f
        .write_all(&text)
        .and_then(|()| std::fs::rename(&tmp, file));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Remove the temporary files of stores that never finished (a process ended between the
/// write and the rename), once they are a minute old: a store in progress is younger.
fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let now = std::time::SystemTime::now();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !(name.starts_with(".link-walk.") && name.ends_with(".tmp")) {
            continue;
        }
        // Not following a symlink: only a regular file of the user's is removed.
        let Ok(meta) = entry.metadata() else { continue };
        let old = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age.as_secs() >= 60);
        if meta.is_file() && owned_safely(&meta, false) && old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;
    use std::os::unix::fs::PermissionsExt as _;

    fn tmp(tag: &str) -> Scratch {
        Scratch::new(&format!("nono-lwc-{tag}-{}", std::process::id()))
    }

    /// A tree of `MIN_CACHED_DIRS` directories holding one symlink, every directory stamped
    /// with an old mtime but (necessarily) a current ctime: recorded only with the clock
    /// moved on, which the test does by rewriting the stamps in the record.
    fn tree(root: &Path) -> PathBuf {
        for i in 0..MIN_CACHED_DIRS {
            std::fs::create_dir_all(root.join(format!("d{i}"))).unwrap();
        }
        let link = root.join("d3/link");
        std::os::unix::fs::symlink("/outside/target", &link).unwrap();
        link
    }

    /// Record `root` as if its directories had settled (their ctimes are seconds old, so
    /// the racy guard refuses to record them as they are).
    fn record_settled(cache: &mut LinkWalkCache, root: &Path, budget: usize) {
        let mut links = Vec::new();
        let mut dirs = Vec::new();
        let (complete, used) = walk_links(root, budget, &mut links, Some(&mut dirs)).unwrap();
        cache.records.insert(
            (root.to_path_buf(), budget),
            Record {
                root: root.to_path_buf(),
                budget,
                complete,
                used,
                links,
                dirs,
                at: 0,
                home: None,
            },
        );
        cache.dirty = true;
    }

    /// A scratch `d` (tagged `tag`) whose state directory `d/state` holds a stored cache with
    /// one settled record, the walk of `d/root` ([`tree`]): `(d, state, root)`.
    fn stored_record(tag: &str) -> (Scratch, PathBuf, PathBuf) {
        let d = tmp(tag);
        let (state, root) = (d.join("state"), d.join("root"));
        tree(&root);
        let mut cache = LinkWalkCache::load(&state);
        record_settled(&mut cache, &root, 100);
        cache.store();
        (d, state, root)
    }

    /// Red team 14: a directory the walk cannot open for lack of descriptors (the ruleset
    /// built ahead on the other thread held them) fails the walk — it used to be skipped as
    /// empty, its symlinks' targets left unprotected — and nothing is recorded for later
    /// starts. In a child process (this test binary again, this test alone) whose
    /// descriptor table is full.
    #[test]
    fn a_directory_unreadable_for_lack_of_descriptors_fails_the_walk() {
        const CHILD: &str = "NONO_RT14_WALK_CHILD";
        const NAME: &str =
            "link_walk_cache::tests::a_directory_unreadable_for_lack_of_descriptors_fails_the_walk";
        if let Some(d) = std::env::var_os(CHILD) {
            let d = PathBuf::from(d);
            let root = d.join("root");
            let mut cache = LinkWalkCache::load(&d.join("state"));
            assert!(cache.file.is_some());
            let mut held = Vec::new();
            while let Ok(f) = std::fs::File::open("/") {
                held.push(f);
            }
            let mut links = Vec::new();
            let got = cache.walk(&root, 100, &mut links, |_| false);
            let records = cache.records.len();
            drop(held);
            let err = got.expect_err("the walk skipped a directory it could not open");
            assert!(err.to_string().contains("Too many open files"), "{err}");
            assert_eq!(records, 0, "a failed walk was recorded");
            return;
        }
        let d = tmp("emfile");
        tree(&d.join("root"));
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
            .env(CHILD, &d)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_recorded_walk_is_reused_until_a_directory_changes() {
        let d = tmp("reuse");
        let state = d.join("state");
        let root = d.join("root");
        let link = tree(&root);
        let mut cache = LinkWalkCache::load(&state);
        // Just made: too fresh to be recorded.
        let mut links = Vec::new();
        cache.walk(&root, 100, &mut links, |_| false).unwrap();
        assert_eq!(links, vec![link.clone()]);
        assert!(
            cache.records.is_empty(),
            "a fresh tree must not be recorded"
        );
        record_settled(&mut cache, &root, 100);
        cache.store();
        let file = LinkWalkCache::file(&state);
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        // Loaded again, the record is reused while nothing changed...
        let mut cache = LinkWalkCache::load(&state);
        assert_eq!(cache.records.len(), 1);
        let mut links = Vec::new();
        cache.walk(&root, 100, &mut links, |_| false).unwrap();
        assert_eq!(links, vec![link.clone()]);
        assert!(!cache.dirty, "an unchanged walk must come from the record");
        // ...and a new link in a walked directory invalidates it.
        let added = root.join("d5/new-link");
        std::os::unix::fs::symlink("/elsewhere", &added).unwrap();
        let mut links = Vec::new();
        cache.walk(&root, 100, &mut links, |_| false).unwrap();
        assert!(links.contains(&added) && links.contains(&link), "{links:?}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_stamp_check_shared_by_threads_answers_as_the_walk_would() {
        let d = tmp("check");
        let (kept, changed) = (d.join("kept"), d.join("changed"));
        let kept_link = tree(&kept);
        let changed_link = tree(&changed);
        let mut cache = LinkWalkCache::load(&d.join("state"));
        record_settled(&mut cache, &kept, 100);
        record_settled(&mut cache, &changed, 100);
        cache.dirty = false;
        // A link added deep in one tree after its walk was recorded.
        let added = changed.join("d6/added");
        std::os::unix::fs::symlink("/elsewhere", &added).unwrap();

        let check = std::sync::Arc::new(cache.check_for([kept.as_path(), changed.as_path()]));
        assert_eq!(check.items.len(), 2 * (MIN_CACHED_DIRS + 1));
        let other = std::sync::Arc::clone(&check);
        let helper = std::thread::spawn(move || other.help());
        cache.use_check(&check);
        helper.join().unwrap();

        let mut links = Vec::new();
        cache.walk(&kept, 100, &mut links, |_| false).unwrap();
        assert_eq!(links, vec![kept_link]);
        assert!(!cache.dirty, "the unchanged record must be reused");
        let mut links = Vec::new();
        cache.walk(&changed, 100, &mut links, |_| false).unwrap();
        assert!(
            links.contains(&added) && links.contains(&changed_link),
            "the changed tree must be walked again: {links:?}"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_store_removes_stale_temporaries_but_not_fresh_ones() {
        let d = tmp("stale");
        let state = d.join("state");
        let dir = LinkWalkCache::file(&state).parent().unwrap().to_path_buf();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let stale = dir.join(".link-walk.1.0.tmp");
        let fresh = dir.join(".link-walk.2.0.tmp");
        let other = dir.join("write-grants.jsonl");
        for f in [&stale, &fresh, &other] {
            std::fs::write(f, "x").unwrap();
        }
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for f in [&stale, &other] {
            std::fs::File::options()
                .write(true)
                .open(f)
                .unwrap()
                .set_modified(hour_ago)
                .unwrap();
        }
        let root = d.join("root");
        tree(&root);
        let mut cache = LinkWalkCache::load(&state);
        record_settled(&mut cache, &root, 100);
        cache.store();
        assert!(!stale.exists(), "a stale temporary must be removed");
        assert!(fresh.exists(), "a store in progress must be left alone");
        assert!(other.exists(), "only the cache's temporaries are removed");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn an_unsafe_cache_file_is_ignored() {
        let (d, state, _) = stored_record("unsafe");
        let file = LinkWalkCache::file(&state);
        assert_eq!(LinkWalkCache::load(&state).records.len(), 1);
        // Readable or writable by others: ignored.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(LinkWalkCache::load(&state).records.is_empty());
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        // A state directory others can write: ignored.
        std::fs::set_permissions(
            file.parent().unwrap(),
            std::fs::Permissions::from_mode(0o777),
        )
        .unwrap();
        assert!(LinkWalkCache::load(&state).records.is_empty());
        std::fs::set_permissions(
            file.parent().unwrap(),
            std::fs::Permissions::from_mode(0o700),
        )
        .unwrap();
        // Through a symlink: ignored.
        let real = d.join("real.json");
        std::fs::rename(&file, &real).unwrap();
        std::os::unix::fs::symlink(&real, &file).unwrap();
        assert!(LinkWalkCache::load(&state).records.is_empty());
        std::fs::remove_file(&file).unwrap();
        // Another version's file, or garbage: ignored.
        std::fs::rename(&real, &file).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, text.replace(VERSION, "link-walk/0")).unwrap();
        assert!(LinkWalkCache::load(&state).records.is_empty());
        std::fs::write(&file, "{not json").unwrap();
        assert!(LinkWalkCache::load(&state).records.is_empty());
        let _ = std::fs::remove_dir_all(&d);
    }

    /// A cut walk the user was told about is remembered beside the records (which a later
    /// store keeps, as it keeps the list); a root that is not UTF-8 is not, and a file others
    /// could have written is not trusted for it either (the note comes again).
    #[test]
    fn an_announced_cut_walk_is_remembered_with_the_records() {
        use std::os::unix::ffi::OsStrExt as _;
        let (d, state, root) = stored_record("announced");
        let odd = d.join(std::ffi::OsStr::from_bytes(b"odd\xff"));
        assert!(!LinkWalkCache::load(&state).announced(&root));
        LinkWalkCache::remember_announced(&state, &[root.clone(), odd.clone()]);
        let cache = LinkWalkCache::load(&state);
        assert!(cache.announced(&root));
        assert!(!cache.announced(&odd), "not UTF-8: not in the JSON file");
        assert!(!cache.announced(&d), "only what was told");
        assert_eq!(cache.records.len(), 1, "the walk records are kept");
        // A later start that records a walk keeps the list.
        let mut cache = LinkWalkCache::load(&state);
        let other = d.join("other");
        tree(&other);
        record_settled(&mut cache, &other, 100);
        cache.store();
        let cache = LinkWalkCache::load(&state);
        assert_eq!(cache.records.len(), 2);
        assert!(cache.announced(&root));
        // A file others could write is not trusted: the note comes again.
        let file = LinkWalkCache::file(&state);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(!LinkWalkCache::load(&state).announced(&root));
        let _ = std::fs::remove_dir_all(&d);
    }

    /// A `PATH` directory's scan is reused while the directory and every directory its
    /// settled chains read are unchanged: no link is classified again. A change in any of
    /// them (here a file added where a chain leads through) scans again.
    #[test]
    fn a_path_scan_is_reused_until_a_directory_on_a_chain_changes() {
        let d = tmp("pathscan");
        let (state, bin, via) = (d.join("state"), d.join("bin"), d.join("via"));
        let home = d.join("home");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&via).unwrap();
        std::fs::write(bin.join("plain"), "").unwrap();
        for name in ["kept", "settled"] {
            std::os::unix::fs::symlink("/elsewhere", bin.join(name)).unwrap();
        }
        let classified = std::cell::Cell::new(0);
        let classify = |link: &Path| {
            classified.set(classified.get() + 1);
            if link.ends_with("kept") {
                PathLink::Kept
            } else {
                PathLink::Settled(vec![via.clone()])
            }
        };
        SETTLED.with(|s| s.set(true));
        let mut cache = LinkWalkCache::load(&state);
        let mut kept = Vec::new();
        assert!(cache.path_links(&bin, &home, &mut kept, classify).unwrap());
        assert_eq!(
            (kept.clone(), classified.get()),
            (vec![bin.join("kept")], 2)
        );
        cache.store();

        let mut cache = LinkWalkCache::load(&state);
        let mut again = Vec::new();
        assert!(cache.path_links(&bin, &home, &mut again, classify).unwrap());
        assert_eq!((again, classified.get()), (kept.clone(), 2), "not reused");
        // Red team 17: which chains lead into the home depends on the home; a scan made for
        // another one (`$HOME` changed, `$XDG_STATE_HOME` not) is not reused.
        let mut other = Vec::new();
        assert!(cache
            .path_links(&bin, &d.join("home2"), &mut other, classify)
            .unwrap());
        assert_eq!(classified.get(), 4, "a scan for another home was reused");
        classified.set(2);

        // The next start.
        std::fs::write(via.join("new"), "").unwrap();
        let mut cache = LinkWalkCache::load(&state);
        let mut after = Vec::new();
        assert!(cache.path_links(&bin, &home, &mut after, classify).unwrap());
        SETTLED.with(|s| s.set(false));
        assert_eq!(
            (after, classified.get()),
            (kept, 4),
            "a changed directory was trusted"
        );
        let _ = std::fs::remove_dir_all(&d);
    }
}

//! The identities (`st_dev`, `st_ino`) of every file under the deny groups' entries, so that a
//! runtime grant of a file that is *another name* for a denied file (a hard link made outside
//! the sandbox, e.g. `~/project/innocent` ↔ `~/.ssh/id_rsa`) is refused.
//!
//! # Why identities, and why after the open
//! The deny check on paths ([`DenySet::group_of`](crate::deny_groups::DenySet::group_of))
//! compares the request, its canonical form and its ancestors with the deny *entries*; a hard
//! link shares no path component and no ancestor with `~/.ssh`, only the inode of the file
//! inside it. The supervisor checks the fd it opened for the grant (`fstat`), so what is
//! checked is exactly what the child would receive — no rename or relink between a check and
//! the open can change it.
//!
//! # Bounds
//! The set is built once, when the [`Engine`](super::Engine) is made (at start-up, only when
//! runtime grants are on): every deny entry that exists is walked, not following symlinks,
//! at most [`START_ENTRIES`] entries per deny entry, [`START_TOTAL`] in all (credentials come
//! first in the group order) and [`MAX_DEPTH`] levels deep. Typical deny entries are small
//! (`~/.ssh`, `~/.gnupg`: tens of files), so the walk costs well under a millisecond; a
//! browser profile (`~/.mozilla`, `~/.config/google-chrome`) can hold tens of thousands of
//! files and is cut at the bound. Measured (release, warm cache, ext4, 2-core VM): a home
//! with `~/.ssh` and `~/.gnupg` (38 files) 0.17 ms; with two 20 000-file browser profiles
//! on top, 3 ms (the bound: 1 024 entries each); [`START_TOTAL`] caps the worst case near 6 ms.
//!
//! Past the bound (an entry that was cut): only a file with more than one name can be a hard
//! link, so a granted non-directory with `st_nlink > 1` that is not in the set, on the device
//! of a cut entry, triggers a full walk of the cut entries (once per session, on the worker
//! that opened the file, up to [`FULL_ENTRIES`] entries each). If an entry is still too big
//! to walk completely, such multiply-linked files are refused (fail closed) with a reason that
//! says so; singly-linked files are never affected.
//!
//! What remains: a file that enters a deny entry after start-up (moved or linked into
//! `~/.ssh` by a program outside the sandbox) is not in the set; the sandbox itself cannot
//! link anything into or out of a deny entry (Landlock's `REFER` rules).

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::walked::Opened;

/// Entries walked per deny entry at start-up.
pub const START_ENTRIES: usize = 1024;
/// Entries walked at start-up over all deny entries (later entries are only marked cut).
pub const START_TOTAL: usize = 4096;
/// Entries walked per cut deny entry when a multiply-linked file must be checked against it.
pub const FULL_ENTRIES: usize = 1 << 20;
/// Directory levels walked below a deny entry.
pub const MAX_DEPTH: usize = 64;

/// A deny entry whose walk was cut at the bound.
#[derive(Debug, Clone)]
struct Cut {
    root: PathBuf,
    dev: u64,
    group: String,
}

/// The identities of the files under the deny entries, with the group of each.
#[derive(Debug)]
pub struct DenyInodes {
    ids: HashMap<(u64, u64), String>,
    /// Entries walked per cut entry on demand ([`FULL_ENTRIES`]; smaller in tests).
    full_entries: usize,
    /// What is left of [`START_TOTAL`].
    start_left: usize,
    /// Entries cut at [`START_ENTRIES`], walked in full on demand.
    cut: Mutex<CutState>,
}

#[derive(Debug, Default)]
struct CutState {
    pending: Vec<Cut>,
    /// Completed on-demand walks: `(dev, ino)` → group.
    more: HashMap<(u64, u64), String>,
    /// Entries too large even for [`FULL_ENTRIES`] (multiply-linked files on their device
    /// are refused).
    unwalkable: Vec<Cut>,
}

/// Why a granted fd is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The opened file is a file under a deny entry of `group`.
    Member {
        /// The deny group.
        group: String,
    },
    /// The opened file has more than one name, and `root` (of `group`) is too large to check.
    Unverifiable {
        /// The deny group.
        group: String,
        /// The deny entry that could not be walked in full.
        root: PathBuf,
    },
}

impl Default for DenyInodes {
    fn default() -> Self {
        DenyInodes {
            ids: HashMap::new(),
            full_entries: FULL_ENTRIES,
            start_left: START_TOTAL,
            cut: Mutex::default(),
        }
    }
}

impl DenyInodes {
    /// Walk `roots` (absolute deny entries and their groups; missing ones are skipped).
    pub fn build<'a>(roots: impl IntoIterator<Item = (&'a Path, &'a str)>) -> DenyInodes {
        let mut set = DenyInodes::default();
        for (root, group) in roots {
            set.add(root, group);
        }
        set
    }

    /// Add one deny entry (a file or a directory tree), following a symlink at the entry
    /// itself (`~/.ssh` may be a link to the real directory) but none below it.
    pub fn add(&mut self, root: &Path, group: &str) {
        let Ok(root) = std::fs::canonicalize(root) else {
            return;
        };
        let Ok(meta) = std::fs::metadata(&root) else {
            return;
        };
        if self.ids.contains_key(&(meta.dev(), meta.ino())) {
            return;
        }
        let budget = START_ENTRIES.min(self.start_left);
        let ids = &mut self.ids;
        let (complete, used) = walk(&root, &meta, budget, &mut |id| {
            ids.entry(id).or_insert_with(|| group.to_owned());
        });
        self.start_left -= used;
        if !complete {
            let cut = self.cut.get_mut().unwrap_or_else(|e| e.into_inner());
            cut.pending.push(Cut {
                root,
                dev: meta.dev(),
                group: group.to_owned(),
            });
        }
    }

    /// Number of identities known (for tests and `-v`).
    #[must_use]
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no identity is known.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Whether [`check`](DenyInodes::check) of the file `st` describes may walk a cut deny entry (or wait for
    /// another thread walking one): only a multiply-linked non-directory that is not a known
    /// member, while an entry is not yet walked in full. Then the check can take
    /// long and must not run where a wait holds up other work. Never blocks.
    pub fn may_walk(&self, st: &Opened) -> bool {
        if st.is_dir() || st.nlink <= 1 || self.ids.contains_key(&(st.id.dev, st.id.ino)) {
            return false;
        }
        // Any entry still to walk, not only one on this device: `check` takes the lock a walk
        // holds for every such file.
        let pending_here = |cut: &CutState| !cut.pending.is_empty();
        match self.cut.try_lock() {
            Ok(cut) => pending_here(&cut),
            Err(std::sync::TryLockError::Poisoned(p)) => pending_here(&p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => true,
        }
    }

    /// Whether the object behind `fd` (opened by the supervisor for a runtime grant) may be
    /// handed out: `Err` if it is a file under a deny entry, or a multiply-linked file that
    /// cannot be told apart from one (see the module docs). May walk a large deny entry once
    /// (call it off the poll loop).
    pub fn check(&self, fd: impl AsFd) -> Result<(), Refused> {
        let Ok(st) = Opened::of_fd(fd) else {
            // Cannot tell: refuse rather than hand out an unknown object.
            return Err(Refused::Unverifiable {
                group: "unknown".to_owned(),
                root: PathBuf::new(),
            });
        };
        self.check_stat(&st)
    }

    /// [`check`](DenyInodes::check) of an fd whose `fstat` the caller has just made (`st`):
    /// the broker stats the fd it opened once, for this and for the object-type check.
    pub fn check_stat(&self, st: &Opened) -> Result<(), Refused> {
        let id = (st.id.dev, st.id.ino);
        if let Some(g) = self.ids.get(&id) {
            return Err(Refused::Member { group: g.clone() });
        }
        if st.is_dir() || st.nlink <= 1 {
            return Ok(());
        }
        let dev = st.id.dev;
        let mut cut = self.cut.lock().unwrap_or_else(|e| e.into_inner());
        let CutState {
            pending,
            more,
            unwalkable,
        } = &mut *cut;
        if pending.iter().any(|c| c.dev == dev) {
            for c in std::mem::take(pending) {
                if c.dev != dev {
                    pending.push(c);
                    continue;
                }
                let complete = match std::fs::metadata(&c.root) {
                    Ok(meta) => {
                        walk(&c.root, &meta, self.full_entries, &mut |id| {
                            more.entry(id).or_insert_with(|| c.group.clone());
                        })
                        .0
                    }
                    Err(_) => true,
                };
                if !complete {
                    unwalkable.push(c);
                }
            }
        }
        if let Some(g) = more.get(&id) {
            return Err(Refused::Member { group: g.clone() });
        }
        if let Some(c) = unwalkable.iter().find(|c| c.dev == dev) {
            return Err(Refused::Unverifiable {
                group: c.group.clone(),
                root: c.root.clone(),
            });
        }
        Ok(())
    }
}

impl Refused {
    /// The deny group named in the refusal.
    #[must_use]
    pub fn group(&self) -> &str {
        match self {
            Refused::Member { group } | Refused::Unverifiable { group, .. } => group,
        }
    }

    /// A reason for the child, the denial report and the audit log, about `path`.
    #[must_use]
    pub fn reason(&self, path: &Path) -> String {
        match self {
            Refused::Member { group } => format!(
                "{} is another name (a hard link) for a file in deny group `{group}`, which no rule or approval can override",
                path.display()
            ),
            Refused::Unverifiable { group, root } => format!(
                "{} has several names (hard links) and {} (deny group `{group}`) holds too many files to rule out that one of them is there",
                path.display(),
                root.display()
            ),
        }
    }
}

/// Depth-first walk below `root` (not following symlinks), calling `add` for the root and
/// every entry. Returns whether the walk was complete (not cut at `budget` entries or
/// [`MAX_DEPTH`] levels) and how many entries below the root it visited.
fn walk(
    root: &Path,
    meta: &std::fs::Metadata,
    budget: usize,
    add: &mut dyn FnMut((u64, u64)),
) -> (bool, usize) {
    add((meta.dev(), meta.ino()));
    if !meta.is_dir() {
        return (true, 0);
    }
    let mut left = budget;
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if left == 0 {
                return (false, budget);
            }
            left -= 1;
            // `DirEntry::metadata` is an `lstat` (symlinks are not followed).
            let Ok(m) = entry.metadata() else {
                continue;
            };
            add((m.dev(), m.ino()));
            if m.is_dir() {
                if depth + 1 >= MAX_DEPTH {
                    return (false, budget - left);
                }
                stack.push((entry.path(), depth + 1));
            }
        }
    }
    (true, budget - left)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;

    fn scratch(tag: &str) -> Scratch {
        let d = Scratch::new(&format!("nono-inodes-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(d.join("home/.ssh/sub")).unwrap();
        std::fs::create_dir_all(d.join("proj")).unwrap();
        std::fs::write(d.join("home/.ssh/id_rsa"), b"key").unwrap();
        std::fs::write(d.join("home/.ssh/sub/deep"), b"deep").unwrap();
        std::fs::write(d.join("proj/plain"), b"plain").unwrap();
        d
    }

    fn open(p: &Path) -> std::fs::File {
        std::fs::File::open(p).unwrap()
    }

    #[test]
    fn hard_links_to_files_under_an_entry_are_refused() {
        let d = scratch("links");
        std::fs::hard_link(d.join("home/.ssh/id_rsa"), d.join("proj/innocent")).unwrap();
        std::fs::hard_link(d.join("home/.ssh/sub/deep"), d.join("proj/deep")).unwrap();
        std::fs::hard_link(d.join("proj/plain"), d.join("proj/plain2")).unwrap();
        let set = DenyInodes::build([(d.join("home/.ssh").as_path(), "credentials")]);
        assert!(set.len() >= 4, "{}", set.len());
        for p in ["proj/innocent", "proj/deep"] {
            let r = set.check(open(&d.join(p))).unwrap_err();
            assert_eq!(r.group(), "credentials");
            assert!(r.reason(&d.join(p)).contains("hard link"));
        }
        // Other files, multiply linked or not, and directories pass.
        set.check(open(&d.join("proj/plain"))).unwrap();
        set.check(open(&d.join("proj/plain2"))).unwrap();
        set.check(open(&d.join("proj"))).unwrap();
    }

    #[test]
    fn an_entry_that_is_a_symlink_or_a_file_is_covered() {
        let d = scratch("entry-kinds");
        std::os::unix::fs::symlink(d.join("home/.ssh"), d.join("home/.ssh-link")).unwrap();
        std::fs::write(d.join("home/.netrc"), b"machine x").unwrap();
        std::fs::hard_link(d.join("home/.netrc"), d.join("proj/netrc")).unwrap();
        std::fs::hard_link(d.join("home/.ssh/id_rsa"), d.join("proj/key")).unwrap();
        let set = DenyInodes::build([
            (d.join("home/.ssh-link").as_path(), "credentials"),
            (d.join("home/.netrc").as_path(), "credentials"),
            (d.join("home/.missing").as_path(), "credentials"),
        ]);
        assert!(set.check(open(&d.join("proj/netrc"))).is_err());
        assert!(set.check(open(&d.join("proj/key"))).is_err());
    }

    #[test]
    fn past_the_bound_a_multiply_linked_file_gets_a_full_walk() {
        let d = scratch("bound");
        let big = d.join("home/.mozilla");
        std::fs::create_dir_all(&big).unwrap();
        for i in 0..START_ENTRIES + 10 {
            std::fs::write(big.join(format!("f{i:05}")), b"").unwrap();
        }
        // Whichever file the start-up walk did not reach: link every tenth one.
        for i in (0..START_ENTRIES + 10).step_by(10) {
            std::fs::hard_link(big.join(format!("f{i:05}")), d.join(format!("proj/l{i}"))).unwrap();
        }
        let set = DenyInodes::build([(big.as_path(), "browsers")]);
        assert!(set.len() <= START_ENTRIES + 1);
        for i in (0..START_ENTRIES + 10).step_by(10) {
            let r = set.check(open(&d.join(format!("proj/l{i}")))).unwrap_err();
            assert_eq!(
                r,
                Refused::Member {
                    group: "browsers".into()
                }
            );
        }
        // A multiply-linked file elsewhere is still fine once the full walk is done.
        std::fs::hard_link(d.join("proj/plain"), d.join("proj/plain2")).unwrap();
        set.check(open(&d.join("proj/plain"))).unwrap();

        // An entry too large even for the full walk: multiply-linked files on its device
        // are refused, singly-linked ones are not.
        let mut small = DenyInodes {
            full_entries: 100,
            ..DenyInodes::default()
        };
        small.add(&big, "browsers");
        let r = small.check(open(&d.join("proj/l0"))).unwrap_err();
        assert_eq!(r.group(), "browsers");
        let r = small.check(open(&d.join("proj/plain"))).unwrap_err();
        assert!(matches!(r, Refused::Unverifiable { .. }), "{r:?}");
        assert!(r.reason(&d.join("proj/plain")).contains("too many files"));
        std::fs::write(d.join("proj/single"), b"").unwrap();
        small.check(open(&d.join("proj/single"))).unwrap();
        let _ = std::fs::remove_dir_all(&d);
    }
}

//! The deny groups' identity walk over a request's ancestors, remembered per directory.
//!
//! A runtime request is checked against the deny entries' identities `(st_dev, st_ino)`
//! along its whole canonical path: the file, its directory, and every directory above, one
//! `stat` each (match form 3 of [`crate::deny_groups`]). Requests come in bursts from one
//! directory (a build reading a tree, `cat dir/*`), and above the file's own directory the
//! walk finds the same answer every time. [`AncestorMemo`] keeps, for each directory the walk
//! passed, its **stamp** — mount, identity and `ctime` — and the entries found *above* it.
//! The next walk `stat`s the file and goes up only until it meets a directory whose stamp is
//! unchanged; the rest of its answer is that directory's.
//!
//! # The walk goes up from the object, not by name (red team 21)
//! The file's directory is opened without following a symlink (`openat2`,
//! `RESOLVE_NO_SYMLINKS`), and each directory above is the `..` of the one below, `statx`ed
//! on the descriptor. So what is remembered above a directory is that directory's own
//! ancestry at one moment. Walked by name (a `stat` of each prefix of the path), the `stat` of
//! `D` and the later `stat` of its parent's name could see two layouts: the sandbox, racing
//! the walk, exchanged a directory of the path for one holding a symlink into a deny entry
//! (mounted in its approved directory), the memo kept "nothing above" for a directory inside
//! the entry, and once the entry *was* above it (the sandbox renamed the directory holding
//! the mount into that name) a file beneath was granted. A directory that cannot be opened
//! that way (missing, a symlink on the way, a name too long) is walked by name as before the
//! memo, and nothing is remembered. Per grant in a directory already seen: a `statx` of the
//! file, `openat2`, `statx` and `close` of its directory. The broker's trapped opens start
//! from `nono_sandbox::paths::checked_canonical`, which has opened the directory and
//! `statx`ed the file (not following it) on the way to knowing the path is canonical:
//! [`AncestorMemo::walk_checked_own`] takes both, so such a grant adds only the directory's
//! `statx` and `close`.
//!
//! # Why a stamp is enough
//! What lies above a directory `D` is `D`'s parents in its own file system, up to the root of
//! the mount the walk reached it through, then that mount's mount point and what is above it.
//! With the same `D` (same mount, same inode, not moved since: a `rename` of a directory sets
//! its `ctime`; the memo is also bounded by [`AncestorMemo::TTL`]):
//! - inside `D`'s file system, its parents can only differ if one of them was moved, and
//!   `D`'s ancestry then leads through wherever it was moved to. The sandboxed command can
//!   move only directories it may rename, into directories it may write, and none of those
//!   is a deny entry or lies beneath one: Landlock gives it no right to remove (so to rename)
//!   a deny entry or any directory above one (carve-outs and their spines, see
//!   `nono_sandbox::caps`), nor to make anything inside one, and the broker refuses both
//!   under runtime grants;
//! - across a mount, the mount point cannot be renamed (`EBUSY`) and the command cannot make
//!   or move a mount (seccomp refuses `mount`, `move_mount` and new user namespaces), so a
//!   mount's place in the tree is fixed. The directory that *holds* a mount point can be
//!   renamed, which is why the mount is part of the stamp and the walk follows the object:
//!   the same name can lead to the same inode through another mount.
//!
//! So the command cannot make a remembered answer wrong. A program *outside* the sandbox
//! can (move a deny entry above `D`, or mount one there), as it could always make a path mean
//! something else between two checks; [`AncestorMemo::TTL`] bounds how long such a change
//! goes unseen, and the files that were under a deny entry when the run started are still
//! refused by the opened file's own identity after the open (`policy/deny_inodes.rs`),
//! whatever path leads to them.

use nono_sandbox::paths::Checked;
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rustix::io::Errno;

use crate::walked::{Ident, Walked};

/// A directory as the walk saw it: what a remembered answer is valid for. The mount it was
/// reached through is part of it: one directory reached through two mounts (a bind mount of
/// a directory inside a deny entry, and a mount of the entry itself) has two ancestries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    mnt: u64,
    dev: u64,
    ino: u64,
    ctime: i64,
    ctime_nsec: u32,
}

impl Stamp {
    fn of(st: &rustix::fs::Statx) -> Stamp {
        Stamp {
            mnt: if st.stx_mask & rustix::fs::StatxFlags::MNT_ID.bits() != 0 {
                st.stx_mnt_id
            } else {
                0
            },
            dev: rustix::fs::makedev(st.stx_dev_major, st.stx_dev_minor),
            ino: st.stx_ino,
            ctime: st.stx_ctime.tv_sec,
            ctime_nsec: st.stx_ctime.tv_nsec,
        }
    }
}

/// What the walk found above one directory.
#[derive(Debug, Clone)]
struct Above {
    stamp: Stamp,
    /// Indices of the deny entries whose identity is one of the directories above, deepest
    /// first (the directory itself not included).
    hits: Vec<usize>,
    /// The directories above (the directory itself not included) whose identity the deny
    /// set knows by another path (see [`Swaps`]): `(name walked, own path)`. `None`: walked
    /// without the own paths (then not reused by a walk that asks for them).
    swaps: Option<Swaps>,
    at: Instant,
}

/// The own paths of known directories (`DenySet`'s identities of the directories above its
/// entries, with the path each was read at): a walk that meets one under another name (a
/// bind mount of the home in an approved directory) says so, as `(name walked, own path)`,
/// so that the request can be judged by the name it has on the user's own paths too (red
/// team 29: a deny entry made during the run has no identity a walk could meet).
pub(crate) type OwnPaths = HashMap<(u64, u64), PathBuf>;

/// What [`AncestorMemo::walk_own`] found: the hits, what it saw of the path, and the
/// directories at or above the path's directory known by another path, deepest first.
pub(crate) struct Walk {
    pub(crate) hits: Vec<usize>,
    pub(crate) walked: Walked,
    pub(crate) swaps: Swaps,
}

/// Directories the identity walk passed, with the entries found above each (see the module
/// docs). Cloning gives an empty memo: a clone of a deny set may be changed, and then the
/// remembered indices would mean other entries.
#[derive(Debug, Default)]
pub(crate) struct AncestorMemo {
    dirs: Mutex<HashMap<PathBuf, Above>>,
}

impl Clone for AncestorMemo {
    fn clone(&self) -> AncestorMemo {
        AncestorMemo::default()
    }
}

/// Directories known by another path than the name the walk met them by: `(name walked, own
/// path)`, deepest first (see [`OwnPaths`]).
pub(crate) type Swaps = Vec<(PathBuf, PathBuf)>;

/// One directory [`AncestorMemo::walk_up_from`] passed: the name it is remembered by (if
/// any), its stamp, the entry it is (if any), its own path when that is not its name.
type Passed<'a> = (Option<&'a Path>, Stamp, Option<usize>, Option<&'a PathBuf>);

/// What [`AncestorMemo::walk_up_from`] found: the directory's stamp, the entries at or above
/// it, and the directories at or above it known by another path.
type WalkedUp = (Stamp, Vec<usize>, Swaps);

/// The walk without the memo: a `stat` of `dir` and of each ancestor by name (what the deny
/// set did before the memo; used when `dir` cannot be opened without following a symlink).
fn by_name(dir: &Path, ids: &HashMap<(u64, u64), usize>) -> Vec<usize> {
    dir.ancestors()
        .filter_map(|p| std::fs::metadata(p).ok())
        .filter_map(|m| ids.get(&(m.dev(), m.ino())).copied())
        .collect()
}

fn stamp_of(fd: &OwnedFd) -> Result<Stamp, Errno> {
    use rustix::fs::{AtFlags, StatxFlags};
    rustix::fs::statx(
        fd,
        "",
        AtFlags::EMPTY_PATH,
        StatxFlags::BASIC_STATS | StatxFlags::MNT_ID,
    )
    .map(|st| Stamp::of(&st))
}

impl AncestorMemo {
    /// Directories remembered at most; the memo starts afresh when full.
    const CAPACITY: usize = 4096;
    /// How long an answer is reused (see the module docs: what a program outside the
    /// sandbox changes above a directory is seen at most this late).
    pub(crate) const TTL: Duration = Duration::from_secs(2);

    /// Forget everything (the set's entries changed).
    pub(crate) fn clear(&mut self) {
        self.dirs
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// [`walk_own`](Self::walk_own)'s hits alone (tests).
    #[cfg(test)]
    pub(crate) fn hits(&self, path: &Path, ids: &HashMap<(u64, u64), usize>) -> Vec<usize> {
        self.walk(path, ids).0
    }

    /// [`walk_own`](Self::walk_own) without other names (the tests' form): its hits and
    /// what it saw.
    #[cfg(test)]
    pub(crate) fn walk(
        &self,
        path: &Path,
        ids: &HashMap<(u64, u64), usize>,
    ) -> (Vec<usize>, Walked) {
        let w = self.walk_own(path, ids, None);
        (w.hits, w.walked)
    }

    /// The indices (`ids`' values) of the entries whose identity is `path` or one of its
    /// ancestors, deepest first: `statx` of `path`, then the directories above it up to the
    /// first one remembered with an unchanged stamp. A path that cannot be `stat`ed
    /// contributes nothing to them (as in the walk without the memo) — which is why the walk
    /// also says what it could not see (red team 23), and the grants act on that.
    ///
    /// The directories are walked from the object, not by name (red team 21): `path`'s
    /// directory is opened without following any symlink (`RESOLVE_NO_SYMLINKS`), and each
    /// directory above is the `..` of the one below, `fstat`ed. So a stamp and what is found
    /// above it are one directory's ancestry at one time, whatever is renamed or swapped for
    /// a symlink while the walk runs: walked by name, a `stat` of `D` and a later `stat` of
    /// its parent's name could see two layouts (`D` reached through a deny entry, then its
    /// parent's name swapped for a plain directory), and the memo would have kept the mix for
    /// later requests. A directory that cannot be opened that way (missing, a symlink on the
    /// way, a name too long) is walked by name as before the memo, and nothing is remembered.
    ///
    /// With the hits, what the walk saw of `path` and its directory (see
    /// [`Walked`]): the identities a grant's act is then compared with (red team 23). The
    /// same system calls: the `statx` of the file asks for the mount id too. The directory
    /// is [`Walked::Unread`] when it cannot be opened and `statx`ed from the object (then
    /// it is walked by name for the hits, as before); a missing file is no error (it may be
    /// created), any other error reading it is.
    ///
    /// It says also which directories at or above the path's directory `own` knows by another
    /// path (see [`OwnPaths`]; none when `own` is `None`). No system call more: a hash lookup
    /// per directory walked.
    pub(crate) fn walk_own(
        &self,
        path: &Path,
        ids: &HashMap<(u64, u64), usize>,
        own: Option<&OwnPaths>,
    ) -> Walk {
        use rustix::fs::{AtFlags, StatxFlags, CWD};
        let mut hits = Vec::new();
        let file = match rustix::fs::statx(
            CWD,
            path,
            AtFlags::empty(),
            StatxFlags::BASIC_STATS | StatxFlags::MNT_ID,
        ) {
            Ok(st) => {
                let id = Ident::of(&st);
                hits.extend(ids.get(&(id.dev, id.ino)).copied());
                Ok(Some(id))
            }
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(e),
        };
        let Some(dir) = path.parent() else {
            // `/` itself: its own directory.
            let walked = match file {
                Ok(Some(id)) => Walked::At {
                    dir: id,
                    file: Some(id),
                },
                Ok(None) => Walked::Unread(Errno::NOENT),
                Err(e) => Walked::Unread(e),
            };
            return Walk {
                hits,
                walked,
                swaps: Vec::new(),
            };
        };
        let mut swaps = Vec::new();
        let walked = match self.walk_up_from_the_object(dir, ids, own) {
            Ok((stamp, above, swapped)) => {
                hits.extend(above);
                swaps = swapped;
                match file {
                    Ok(file) => Walked::At {
                        dir: Ident {
                            mnt: stamp.mnt,
                            dev: stamp.dev,
                            ino: stamp.ino,
                        },
                        file,
                    },
                    Err(e) => Walked::Unread(e),
                }
            }
            Err(e) => {
                hits.extend(by_name(dir, ids));
                Walked::Unread(e)
            }
        };
        Walk {
            hits,
            walked,
            swaps,
        }
    }

    /// [`walk_checked_own`](Self::walk_checked_own) without other names (the tests' form).
    #[cfg(test)]
    pub(crate) fn walk_checked(
        &self,
        path: &Path,
        checked: Checked,
        ids: &HashMap<(u64, u64), usize>,
    ) -> (Vec<usize>, Walked) {
        let w = self.walk_checked_own(path, checked, ids, None);
        (w.hits, w.walked)
    }

    /// [`walk_own`](Self::walk_own) of a path [`checked_canonical`] has just looked at: the last
    /// component's identity and its directory, already opened the way the walk opens it,
    /// are `checked`'s — two system calls fewer than [`walk_own`](Self::walk_own).
    ///
    /// [`checked_canonical`]: nono_sandbox::paths::checked_canonical
    ///
    /// With [`walk_own`](Self::walk_own)'s swaps.
    pub(crate) fn walk_checked_own(
        &self,
        path: &Path,
        checked: Checked,
        ids: &HashMap<(u64, u64), usize>,
        own: Option<&OwnPaths>,
    ) -> Walk {
        let file = Ident {
            mnt: checked.mnt,
            dev: checked.dev,
            ino: checked.ino,
        };
        let mut hits: Vec<usize> = ids
            .get(&(file.dev, file.ino))
            .copied()
            .into_iter()
            .collect();
        let Some(dir) = path.parent() else {
            // `checked_canonical` never answers for `/`.
            return Walk {
                hits,
                walked: Walked::Unread(Errno::NOENT),
                swaps: Vec::new(),
            };
        };
        let mut swaps = Vec::new();
        let walked = match self.walk_up_from(dir, checked.dir, ids, own) {
            Ok((stamp, above, swapped)) => {
                hits.extend(above);
                swaps = swapped;
                Walked::At {
                    dir: Ident {
                        mnt: stamp.mnt,
                        dev: stamp.dev,
                        ino: stamp.ino,
                    },
                    file: Some(file),
                }
            }
            Err(e) => {
                hits.extend(by_name(dir, ids));
                Walked::Unread(e)
            }
        };
        Walk {
            hits,
            walked,
            swaps,
        }
    }

    /// The entries at or above `dir`, walked up from the directory itself (see
    /// [`walk_own`](Self::walk_own)), with `dir`'s own stamp; the error when it cannot be walked
    /// that way.
    fn walk_up_from_the_object(
        &self,
        dir: &Path,
        ids: &HashMap<(u64, u64), usize>,
        own: Option<&OwnPaths>,
    ) -> Result<WalkedUp, Errno> {
        use rustix::fs::{Mode, OFlags, ResolveFlags, CWD};
        let fd = rustix::fs::openat2(
            CWD,
            dir,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        )?;
        self.walk_up_from(dir, fd, ids, own)
    }

    /// The walk of [`walk_up_from_the_object`](Self::walk_up_from_the_object) from `fd`:
    /// `dir` opened `O_PATH | O_DIRECTORY` with `RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS`
    /// (so the names the answers are remembered by are the directories walked).
    ///
    /// With `own`, also the directories at or above `dir` known by another path (see
    /// [`OwnPaths`]), deepest first; a remembered answer is reused only if it was walked
    /// with them too.
    fn walk_up_from(
        &self,
        dir: &Path,
        mut fd: OwnedFd,
        ids: &HashMap<(u64, u64), usize>,
        own: Option<&OwnPaths>,
    ) -> Result<WalkedUp, Errno> {
        use rustix::fs::{Mode, OFlags};
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        // The directories walked, with the name they are remembered by (the names of `dir`
        // and its ancestors, in step with the `..` walk; none once the names run out),
        // their stamps and their own hit, deepest first.
        let mut walked: Vec<Passed<'_>> = Vec::new();
        let mut remembered: Option<(Vec<usize>, Swaps)> = None;
        let now = Instant::now();
        let mut name = Some(dir);
        loop {
            let stamp = stamp_of(&fd)?;
            if walked.last().is_some_and(|(_, last, _, _)| *last == stamp) {
                // `..` of the root is the root.
                break;
            }
            // Known by another path than the name it was reached by: a swap.
            let swap = own
                .and_then(|o| o.get(&(stamp.dev, stamp.ino)))
                .filter(|p| name.is_some_and(|n| n != p.as_path()));
            walked.push((name, stamp, ids.get(&(stamp.dev, stamp.ino)).copied(), swap));
            if let Some(n) = name {
                // No lock held over a system call (a slow file system must not hold up
                // other walks).
                let dirs = self.dirs.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(above) = dirs.get(n) {
                    let swaps = match (&above.swaps, own) {
                        (_, None) => Some(Vec::new()),
                        (Some(s), Some(_)) => Some(s.clone()),
                        (None, Some(_)) => None,
                    };
                    if let (true, Some(swaps)) = (
                        above.stamp == stamp && now.duration_since(above.at) < Self::TTL,
                        swaps,
                    ) {
                        remembered = Some((above.hits.clone(), swaps));
                        break;
                    }
                }
            }
            fd = rustix::fs::openat(&fd, "..", flags, Mode::empty())?;
            name = name.and_then(Path::parent);
        }
        let first = walked
            .first()
            .map(|(_, stamp, _, _)| *stamp)
            .ok_or(Errno::NOENT)?;
        let reused = remembered.is_some();
        let (mut above, mut swaps_above) = remembered.unwrap_or_default();
        // From the top down: each walked directory's answer is what lies above it.
        let mut learnt: Vec<(PathBuf, Above)> = Vec::new();
        for (i, (name, stamp, hit, swap)) in walked.iter().enumerate().rev() {
            // The directory where a remembered answer was reused is not learnt again.
            if !(reused && i == walked.len() - 1) {
                if let Some(name) = name {
                    learnt.push((
                        name.to_path_buf(),
                        Above {
                            stamp: *stamp,
                            hits: above.clone(),
                            swaps: own.is_some().then(|| swaps_above.clone()),
                            at: now,
                        },
                    ));
                }
            }
            if let Some(hit) = hit {
                above.insert(0, *hit);
            }
            if let (Some(name), Some(swap)) = (name, swap) {
                swaps_above.insert(0, (name.to_path_buf(), (*swap).clone()));
            }
        }
        if !learnt.is_empty() {
            let mut dirs = self.dirs.lock().unwrap_or_else(|p| p.into_inner());
            if dirs.len() + learnt.len() > Self::CAPACITY {
                dirs.clear();
            }
            dirs.extend(learnt);
        }
        Ok((first, above, swaps_above))
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.dirs.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    /// A fresh scratch directory for one test (removed when dropped).
    fn scratch(tag: &str) -> crate::scratch::Scratch {
        crate::scratch::Scratch::new(&format!("nono-ancestor-memo-{}-{tag}", std::process::id()))
    }

    fn id(p: &Path) -> (u64, u64) {
        let m = std::fs::metadata(p).unwrap();
        (m.dev(), m.ino())
    }

    /// The walk without a memo, as the deny set made it before.
    fn plain(path: &Path, ids: &HashMap<(u64, u64), usize>) -> Vec<usize> {
        let mut hits = Vec::new();
        let mut cursor = Some(path);
        while let Some(p) = cursor {
            if let Ok(m) = std::fs::metadata(p) {
                hits.extend(ids.get(&(m.dev(), m.ino())));
            }
            cursor = p.parent();
        }
        hits
    }

    #[test]
    fn a_remembered_walk_answers_as_the_full_walk() {
        let t = scratch("walk");
        let root = t.as_path();
        std::fs::create_dir_all(root.join("e/a/b")).unwrap();
        std::fs::create_dir_all(root.join("p/q")).unwrap();
        std::fs::write(root.join("e/a/b/f"), "x").unwrap();
        std::fs::write(root.join("p/q/f"), "x").unwrap();
        let ids: HashMap<_, _> = [(id(&root.join("e")), 7), (id(&root.join("e/a/b/f")), 9)]
            .into_iter()
            .collect();
        let memo = AncestorMemo::default();
        for path in [
            "e/a/b/f", "e/a/b/f", "e/a/b/g", "e/a", "e", "p/q/f", "p/q/f", "p/q", "e/a/b/f",
        ] {
            let p = root.join(path);
            assert_eq!(memo.hits(&p, &ids), plain(&p, &ids), "{path}");
        }
        assert!(memo.len() > 0);
    }

    /// Started from what `checked_canonical` saw, the walk answers as the full walk, remembered
    /// or not, and says it saw what the walk by path sees (red team 23's `Walked`); a symlink
    /// at the end or on the way is not `checked`.
    #[test]
    fn a_walk_from_a_checked_path_answers_as_the_full_walk() {
        let t = scratch("checked");
        let root = t.as_path();
        std::fs::create_dir_all(root.join("e/a/b")).unwrap();
        std::fs::create_dir_all(root.join("p/q")).unwrap();
        std::fs::write(root.join("e/a/b/f"), "x").unwrap();
        std::fs::write(root.join("p/q/f"), "x").unwrap();
        std::os::unix::fs::symlink(root.join("e/a/b/f"), root.join("p/q/l")).unwrap();
        std::os::unix::fs::symlink(root.join("e/a"), root.join("p/la")).unwrap();
        let ids: HashMap<_, _> = [(id(&root.join("e")), 7), (id(&root.join("e/a/b/f")), 9)]
            .into_iter()
            .collect();
        let memo = AncestorMemo::default();
        for path in [
            "e/a/b/f", "e/a/b/f", "e/a/b", "e", "p/q/f", "p/q/f", "p/q", "e/a/b/f",
        ] {
            let p = root.join(path);
            let checked = nono_sandbox::paths::checked_canonical(&p).unwrap();
            assert_eq!((checked.dev, checked.ino), id(&p), "{path}");
            let fresh = AncestorMemo::default().walk(&p, &ids);
            let (hits, walked) = memo.walk_checked(&p, checked, &ids);
            assert_eq!(hits, plain(&p, &ids), "{path}");
            // What the walk saw is what the walk by path sees.
            assert_eq!(walked, fresh.1, "{path}");
        }
        use nono_sandbox::paths::Unchecked;
        for path in [
            "p/q/l",
            "p/la/b/f",
            "p/la/missing",
            "p/gone/x",
            "e/a/../a/b/f",
        ] {
            assert_eq!(
                nono_sandbox::paths::checked_canonical(&root.join(path)).err(),
                Some(Unchecked::Other),
                "{path}"
            );
        }
        // Missing at the end of a symlink-free directory: made there, it is its own form.
        assert_eq!(
            nono_sandbox::paths::checked_canonical(&root.join("p/q/missing")).err(),
            Some(Unchecked::Missing)
        );
        assert_eq!(
            nono_sandbox::paths::checked_canonical(Path::new("/")).err(),
            Some(Unchecked::Other)
        );
    }

    /// A remembered directory replaced at its name by a deny entry (another inode): the
    /// stamp differs, the walk goes on and finds the entry.
    #[test]
    fn a_deny_entry_moved_into_a_remembered_place_is_found() {
        let t = scratch("moved-in");
        let root = t.as_path();
        std::fs::create_dir_all(root.join("p/q")).unwrap();
        std::fs::create_dir_all(root.join("secret")).unwrap();
        std::fs::write(root.join("secret/key"), "k").unwrap();
        let ids: HashMap<_, _> = [(id(&root.join("secret")), 3)].into_iter().collect();
        let memo = AncestorMemo::default();
        assert!(memo.hits(&root.join("p/q/key"), &ids).is_empty());
        assert!(memo.hits(&root.join("p/q/key"), &ids).is_empty());
        std::fs::remove_dir(root.join("p/q")).unwrap();
        std::fs::rename(root.join("secret"), root.join("p/q")).unwrap();
        assert_eq!(memo.hits(&root.join("p/q/key"), &ids), vec![3]);
        // And a directory above, replaced the same way.
        std::fs::create_dir_all(root.join("x/y")).unwrap();
        assert!(memo.hits(&root.join("x/y/key"), &ids).is_empty());
        std::fs::rename(root.join("p/q"), root.join("x2")).unwrap();
        std::fs::create_dir(root.join("x2/y")).unwrap();
        std::fs::remove_dir_all(root.join("x")).unwrap();
        std::fs::rename(root.join("x2"), root.join("x")).unwrap();
        assert_eq!(memo.hits(&root.join("x/y/key"), &ids), vec![3]);
    }

    /// A directory moved (its `ctime` changes) is walked again, even at the same name.
    #[test]
    fn a_moved_directory_is_walked_again() {
        let t = scratch("moved");
        let root = t.as_path();
        std::fs::create_dir_all(root.join("a/d")).unwrap();
        std::fs::create_dir_all(root.join("secret")).unwrap();
        let ids: HashMap<_, _> = [(id(&root.join("secret")), 1)].into_iter().collect();
        let memo = AncestorMemo::default();
        assert!(memo.hits(&root.join("a/d/f"), &ids).is_empty());
        // `d` moves into the deny entry, and the entry takes `a`'s place: `a/d` is the same
        // inode, now below the entry.
        std::fs::rename(root.join("a/d"), root.join("secret/d")).unwrap();
        std::fs::remove_dir(root.join("a")).unwrap();
        std::fs::rename(root.join("secret"), root.join("a")).unwrap();
        assert_eq!(memo.hits(&root.join("a/d/f"), &ids), vec![1]);
    }

    /// Red team 21: a request's canonical path is resolved before the walk, so the sandbox
    /// can swap a directory of it for a symlink in between (a `RENAME_EXCHANGE` of its
    /// parent with a directory holding the symlink). Walked by name, `stat` of `b/x/sub`
    /// followed the symlink to a directory inside the deny entry while its parent `b/x` was
    /// the sandbox's own: the memo kept "nothing above `sub`" for that directory, and once
    /// `b/x` *was* the deny entry (a rename of the directory holding a bind mount of it)
    /// a file beneath was granted. The call with the symlink is what the walk saw when the
    /// race was won; walked from the object, it is walked by name and remembers nothing.
    #[test]
    fn a_directory_reached_through_a_symlink_is_not_remembered() {
        let t = scratch("swapped");
        let root = t.as_path();
        std::fs::create_dir_all(root.join("e/sub")).unwrap();
        std::fs::write(root.join("e/sub/key"), "k").unwrap();
        std::fs::create_dir_all(root.join("b/x")).unwrap();
        std::os::unix::fs::symlink(root.join("e/sub"), root.join("b/x/sub")).unwrap();
        let ids: HashMap<_, _> = [(id(&root.join("e")), 5)].into_iter().collect();
        let memo = AncestorMemo::default();
        let key = root.join("b/x/sub/key");
        // As the walk by name saw it: `sub` followed, nothing denied above `b/x`.
        assert_eq!(memo.hits(&key, &ids), plain(&key, &ids));
        assert!(!memo
            .dirs
            .lock()
            .unwrap()
            .contains_key(&root.join("b/x/sub")));
        // `b/x` becomes the entry itself (`e/sub` is neither moved nor changed).
        std::fs::rename(root.join("b"), root.join("b0")).unwrap();
        std::fs::create_dir(root.join("b")).unwrap();
        std::fs::rename(root.join("e"), root.join("b/x")).unwrap();
        assert_eq!(memo.hits(&key, &ids), vec![5]);
        assert_eq!(memo.hits(&key, &ids), vec![5]);
    }

    /// The walk from the object finds what the walk by name finds, through a symlink-free
    /// path and up to `/`.
    #[test]
    fn the_walk_walk_up_from_the_object_is_the_walk_by_name() {
        let t = scratch("object");
        let root = t.as_path();
        std::fs::create_dir_all(root.join("e/a/b")).unwrap();
        let ids: HashMap<_, _> = [
            (id(&root.join("e")), 1),
            (id(&root.join("e/a")), 2),
            (id(Path::new("/")), 3),
        ]
        .into_iter()
        .collect();
        let memo = AncestorMemo::default();
        for p in ["e/a/b/f", "e/a/b", "e/a/b/f", "e/f", "f"] {
            let p = root.join(p);
            assert_eq!(memo.hits(&p, &ids), plain(&p, &ids), "{}", p.display());
        }
        assert_eq!(memo.hits(Path::new("/"), &ids), vec![3]);
        assert_eq!(memo.hits(Path::new("/f"), &ids), vec![3]);
    }

    /// Red team 23: the walk says what it saw of the file and its directory (the identities a
    /// grant's act is compared with) and, when it could not see the directory, the errno —
    /// never "nothing found" alone.
    #[test]
    fn the_walk_says_what_it_saw_and_what_it_could_not() {
        let t = scratch("seen");
        let root = t.as_path();
        std::fs::create_dir_all(root.join("d")).unwrap();
        std::fs::write(root.join("d/f"), "x").unwrap();
        let ids = HashMap::new();
        let memo = AncestorMemo::default();
        let (_, walked) = memo.walk(&root.join("d/f"), &ids);
        let Walked::At { dir, file } = walked else {
            panic!("{walked:?}");
        };
        assert_eq!((dir.dev, dir.ino), id(&root.join("d")));
        assert_eq!(file.map(|f| (f.dev, f.ino)), Some(id(&root.join("d/f"))));
        assert_ne!(dir.mnt, 0, "statx gives the mount id (5.8+)");
        // Again, the directories above answered by the memo: the same.
        assert_eq!(memo.walk(&root.join("d/f"), &ids).1, walked);
        // A file not there yet is no error (it may be created).
        assert!(matches!(
            memo.walk(&root.join("d/new"), &ids).1,
            Walked::At { file: None, .. }
        ));
        // Its directory gone (renamed away during the walk), or not a directory.
        assert_eq!(
            memo.walk(&root.join("gone/new"), &ids).1,
            Walked::Unread(Errno::NOENT)
        );
        assert_eq!(
            memo.walk(&root.join("d/f/x"), &ids).1,
            Walked::Unread(Errno::NOTDIR)
        );
        // The root: its own directory.
        assert!(matches!(
            memo.walk(Path::new("/"), &ids).1,
            Walked::At { file: Some(_), .. }
        ));
    }

    #[test]
    fn a_missing_directory_is_not_remembered_and_the_memo_is_bounded() {
        let t = scratch("bounded");
        let ids = HashMap::new();
        let memo = AncestorMemo::default();
        assert!(memo.hits(&t.join("no/such/f"), &ids).is_empty());
        assert!(!memo.dirs.lock().unwrap().contains_key(&t.join("no/such")));
        assert!(!memo.dirs.lock().unwrap().contains_key(&t.join("no")));
        for i in 0..AncestorMemo::CAPACITY + 10 {
            let d = t.join(format!("d{i}"));
            std::fs::create_dir(&d).unwrap();
            memo.hits(&d.join("f"), &ids);
        }
        assert!(memo.len() <= AncestorMemo::CAPACITY);
    }

    /// Red team 29: a walk given the own paths says which directories at or above the path's
    /// directory it met under another name, deepest first, from a remembered answer as from a
    /// full walk; one walked without them is walked again (its answer says nothing of them),
    /// and a directory met by its own name is no swap.
    #[test]
    fn a_walk_given_own_paths_names_the_directories_met_by_another_name() {
        let t = scratch("own");
        let root = t.as_path();
        std::fs::create_dir_all(root.join("m/a/b")).unwrap();
        let ids = HashMap::new();
        let mut own: OwnPaths = HashMap::new();
        own.insert(id(&root.join("m")), PathBuf::from("/elsewhere/home"));
        own.insert(
            id(&root.join("m/a/b")),
            PathBuf::from("/elsewhere/home/x/b"),
        );
        own.insert(id(root), root.to_path_buf());
        let want = vec![
            (root.join("m/a/b"), PathBuf::from("/elsewhere/home/x/b")),
            (root.join("m"), PathBuf::from("/elsewhere/home")),
        ];
        let memo = AncestorMemo::default();
        // Without the own paths first: remembered with none, then not reused for a walk with.
        let w = memo.walk_own(&root.join("m/a/b/f"), &ids, None);
        assert!(w.swaps.is_empty());
        let w = memo.walk_own(&root.join("m/a/b/f"), &ids, Some(&own));
        assert_eq!(w.swaps, want);
        // Remembered now: the same from the memo, for this directory and one below.
        let w = memo.walk_own(&root.join("m/a/b/g"), &ids, Some(&own));
        assert_eq!(w.swaps, want);
        std::fs::create_dir(root.join("m/a/b/c")).unwrap();
        let w = memo.walk_own(&root.join("m/a/b/c/f"), &ids, Some(&own));
        assert_eq!(w.swaps, want);
        let fresh = AncestorMemo::default().walk_own(&root.join("m/a/b/c/f"), &ids, Some(&own));
        assert_eq!(fresh.swaps, want);
        assert_eq!(fresh.walked, w.walked);
        // A walk without them still answers as before.
        let w = memo.walk_own(&root.join("m/a/b/c/f"), &ids, None);
        assert!(w.swaps.is_empty());
    }
}

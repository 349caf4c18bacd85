//! The deny groups' identity walk over a request's ancestors, remembered per directory.
//!
//! A runtime request is checked against the deny entries' identities `(st_dev, st_ino)`
//! along its whole canonical path: the file, its directory, and every directory above, one
//! `stat` each (match form 3 of [`crate::deny_groups`]). Requests come in bursts from one
//! directory (a build reading a tree, `cat dir/*`), and above the file's own directory the
//! walk finds the same answer every time. [`AncestorMemo`] keeps, for each directory the walk
//! passed, its **stamp** — identity and `ctime` — and the entries found *above* it. The next
//! walk `stat`s the file and goes up only until it meets a directory whose stamp is
//! unchanged; the rest of its answer is that directory's.
//!
//! # Why a stamp is enough
//! What lies above a directory `D` reached by a symlink-free path `P` is: `D`'s parents in its
//! own file system, up to the root of the mount `P` reached it through, then that mount's
//! mount point and what is above it. With the same `D` (same inode, not moved since: a
//! `rename` of a directory sets its `ctime`; the memo is also bounded by
//! [`AncestorMemo::TTL`]) reached by the same `P`:
//! - inside `D`'s file system, its parents can only differ if one of them was replaced at
//!   the same name by another directory and `D`'s parent moved into it. The sandboxed
//!   command can do that only with directories it may rename or create, and none of those
//!   is a deny entry: Landlock gives it no right to remove (so to rename) a deny entry or any
//!   directory above one (carve-outs and their spines, see `nono_sandbox::caps`), and a
//!   directory it makes is a new inode;
//! - across a mount, the mount point cannot be renamed (`EBUSY`), so `P` keeps passing
//!   through the same mounts unless one is made or removed, which the command cannot do
//!   (seccomp refuses `mount`, `move_mount` and new user namespaces).
//!
//! So the command cannot make a remembered answer wrong. A program *outside* the sandbox
//! can (move a deny entry into the place of a directory above `D` and `D`'s parent into it,
//! or mount one there), as it could always make a path mean something else between two
//! checks; [`AncestorMemo::TTL`] bounds how long such a change goes unseen, and the files
//! that were under a deny entry when the run started are still refused by the opened file's
//! own identity after the open (`policy/deny_inodes.rs`), whatever path leads to them.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A directory as the walk saw it: what a remembered answer is valid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    ctime: i64,
    ctime_nsec: i64,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            ctime: meta.ctime(),
            ctime_nsec: meta.ctime_nsec(),
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
    at: Instant,
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

    /// The indices (`ids`' values) of the entries whose identity is `path` or one of its
    /// ancestors, deepest first: [`stat`](std::fs::metadata) of `path` and of each ancestor
    /// up to the first one remembered with an unchanged stamp. A path or ancestor that cannot
    /// be `stat`ed contributes nothing (as in the walk without the memo), and nothing above
    /// it is remembered.
    pub(crate) fn hits(&self, path: &Path, ids: &HashMap<(u64, u64), usize>) -> Vec<usize> {
        let mut hits = Vec::new();
        let hit = |meta: &std::fs::Metadata| ids.get(&(meta.dev(), meta.ino())).copied();
        if let Ok(meta) = std::fs::metadata(path) {
            hits.extend(hit(&meta));
        }
        // The directories walked, with their stamps and their own hit, deepest first.
        let mut walked: Vec<(&Path, Option<Stamp>, Option<usize>)> = Vec::new();
        let mut remembered: Option<Vec<usize>> = None;
        let now = Instant::now();
        let mut cursor = path.parent();
        while let Some(dir) = cursor {
            // No lock held over a `stat` (a slow file system must not hold up other walks).
            let meta = std::fs::metadata(dir).ok();
            let stamp = meta.as_ref().map(Stamp::of);
            walked.push((dir, stamp, meta.as_ref().and_then(hit)));
            if let Some(stamp) = stamp {
                let dirs = self.dirs.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(above) = dirs.get(dir) {
                    if above.stamp == stamp && now.duration_since(above.at) < Self::TTL {
                        remembered = Some(above.hits.clone());
                        break;
                    }
                }
            }
            cursor = dir.parent();
        }
        let walked_to_the_top = remembered.is_none();
        let mut above = remembered.unwrap_or_default();
        // From the top down: each walked directory's answer is what lies above it.
        let mut learnt: Vec<(PathBuf, Above)> = Vec::new();
        let mut known = true;
        for (i, (dir, stamp, own)) in walked.iter().enumerate().rev() {
            // The directory where a remembered answer was reused is not learnt again.
            let reused = i == walked.len() - 1 && !walked_to_the_top;
            if !reused {
                match stamp {
                    Some(stamp) if known => learnt.push((
                        dir.to_path_buf(),
                        Above {
                            stamp: *stamp,
                            hits: above.clone(),
                            at: now,
                        },
                    )),
                    // Unknown above here: nothing below is remembered.
                    _ => known = false,
                }
            }
            if let Some(own) = own {
                above.insert(0, *own);
            }
        }
        hits.extend(above);
        if !learnt.is_empty() {
            let mut dirs = self.dirs.lock().unwrap_or_else(|p| p.into_inner());
            if dirs.len() + learnt.len() > Self::CAPACITY {
                dirs.clear();
            }
            dirs.extend(learnt);
        }
        hits
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
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(tag: &str) -> Scratch {
            let dir = std::env::temp_dir()
                .join(format!("nono-ancestor-memo-{}-{tag}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(std::fs::canonicalize(dir).unwrap())
        }

        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
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
        let t = Scratch::new("walk");
        let root = t.path();
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

    /// A remembered directory replaced at its name by a deny entry (another inode): the
    /// stamp differs, the walk goes on and finds the entry.
    #[test]
    fn a_deny_entry_moved_into_a_remembered_place_is_found() {
        let t = Scratch::new("moved-in");
        let root = t.path();
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
        let t = Scratch::new("moved");
        let root = t.path();
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

    #[test]
    fn a_missing_directory_is_not_remembered_and_the_memo_is_bounded() {
        let t = Scratch::new("bounded");
        let ids = HashMap::new();
        let memo = AncestorMemo::default();
        assert!(memo.hits(&t.path().join("no/such/f"), &ids).is_empty());
        assert!(!memo
            .dirs
            .lock()
            .unwrap()
            .contains_key(&t.path().join("no/such")));
        assert!(!memo.dirs.lock().unwrap().contains_key(&t.path().join("no")));
        for i in 0..AncestorMemo::CAPACITY + 10 {
            let d = t.path().join(format!("d{i}"));
            std::fs::create_dir(&d).unwrap();
            memo.hits(&d.join("f"), &ids);
        }
        assert!(memo.len() <= AncestorMemo::CAPACITY);
    }
}

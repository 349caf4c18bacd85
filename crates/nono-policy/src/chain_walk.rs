//! [`planted::walk`](crate::planted::walk) for the many link walks of ONE deny-set resolution
//! (`DenySet::from_groups`, issue 14): what an `lstat` or `readlink` of this resolution
//! already saw is not asked again.
//!
//! The resolution walks the chain of every symlink it finds inside a protected entry
//! (`DenySet::add_link_chain`), and each [`planted::walk`](crate::planted::walk) `lstat`s every component from `/`:
//! `/root`, `/root/.pyenv`, `/root/.pyenv/versions`, … again for every link of every pyenv
//! version, a few hundred microseconds after the resolution's own `Resolver` and the walks
//! before it looked at the same directories. A [`WalkMemo`] belongs to one resolution (it
//! lives in its `Resolver` and is dropped with it) and remembers, for that resolution only:
//! - every symlink-free path an `lstat` of the resolution found to be an existing object that
//!   is not a symlink (its walks' own `lstat`s, and the `Resolver`'s, handed in as `seen`);
//! - every symlink-free path an `lstat` found to be a symlink, with what the `readlink` made
//!   right after it said and the owner that `lstat` gave (one `lstat` + `readlink` pair, never
//!   an owner of one moment with a target of another);
//! - what each `readlink` said (for `names_a_plain_sibling`, which reads links it does not
//!   `lstat`; the walk itself never takes a target from here).
//!
//! A missing component is not remembered (it is asked again: it may have been created since,
//! and a walk that ends there costs one `lstat`).
//!
//! Everything else (a component not seen yet, a missing one, any error) is asked of the
//! kernel as [`planted::walk`](crate::planted::walk) asks it, and the walk is that
//! function's own ([`planted::walk_with`](crate::planted::walk_with), with this memo as its
//! [`Lookups`]): the same `links` in the same order, the same
//! `resolved` and `end`, the same errors, at most 40 links (`ELOOP`). Tests compare the two
//! on trees with links in prefixes, chains, loops, missing targets and `..`, and pin the
//! `lstat`s and `readlink`s the memo saves.
//!
//! # Why reusing an `lstat` of the same resolution widens nothing
//! - The deny set is a snapshot taken before the sandbox exists. Nothing enforces on it as a
//!   promise about later: the kernel (Landlock) enforces on the inodes the sandbox opens
//!   afterwards (`RESOLVE_NO_SYMLINKS`), and the runtime checks resolve each request afresh.
//!   Every `lstat` of the resolution is already milliseconds old when the sandbox is built;
//!   a memoised answer is a few hundred microseconds older still, from the same snapshot.
//! - What a concurrent swap can do: a process that replaces a directory on the way with a
//!   symlink (or back) between two walks of the resolution makes the later walk see the
//!   earlier state of that component instead of the new one. The unmemoised walk is open to
//!   the same swap one step later: a swap made just after *its* `lstat` is equally unseen,
//!   and one made just before the *first* walk is seen by both. So the memoised walk
//!   resolves every chain as the tree was at some moment of this resolution, which is all
//!   the unmemoised one promises; the swapper can only choose which of the states it
//!   created is recorded, as it can today by timing its swap. It cannot make a walk see a
//!   state that never existed (a link is remembered only with the target and owner one
//!   `lstat` + `readlink` pair saw), and cannot make the set smaller than resolving the
//!   tree as it stood at that moment would.
//! - What it cannot do: reach anything through the memo later. The memo is dropped with the
//!   resolution; nothing is kept across runs (the link-walk cache does that, with stamps);
//!   the grant checks (`planted::walk` in `grant_links_walked` and `grants_match_checks`)
//!   keep their own unmemoised walks and re-check, so red team 8's swap of a grant path is
//!   caught exactly as before.

use std::collections::HashMap;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nono_sandbox::Seen;

use crate::planted::{walk_with, Look, Lookups, Stopped, Walk};

/// What an `lstat` of a symlink-free path found.
#[derive(Debug, Clone)]
enum Known {
    /// An existing object that is not a symlink: whether it is a directory.
    Plain(bool),
    /// A symlink, with what a `readlink` right after that `lstat` said and its owner.
    Link(PathBuf, u32),
}

#[cfg(test)]
thread_local! {
    /// Tests: every answer asked of the kernel, as without the memo.
    static UNMEMOISED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Tests: resolve without the memo on this thread (`true`) or with it.
#[cfg(test)]
pub(crate) fn set_unmemoised(off: bool) {
    UNMEMOISED.set(off);
}

/// Tests: whether the memo is off on this thread.
#[cfg(test)]
pub(crate) fn unmemoised() -> bool {
    UNMEMOISED.get()
}

/// Create `node` (relative) in `d` with `make`, only when every directory on the way
/// inside `d` is a real one: creating through a link the tree holds would follow it (to
/// `/`, `..`, `/proc/self/cwd`) and, as root, write outside the test's directory.
#[cfg(test)]
pub(crate) fn plant(d: &Path, node: &str, make: impl FnOnce(&Path) -> io::Result<()>) {
    let p = d.join(node);
    let inside = Path::new(node).ancestors().skip(1).all(|a| {
        a.as_os_str().is_empty()
            || std::fs::symlink_metadata(d.join(a)).is_ok_and(|m| m.file_type().is_dir())
    });
    if inside {
        let _ = make(&p);
    }
}

/// What one deny-set resolution's `lstat`s and `readlink`s saw (see the module docs).
#[derive(Debug, Default, Clone)]
pub(crate) struct WalkMemo {
    /// What an `lstat` of each symlink-free path found.
    known: HashMap<PathBuf, Known>,
    /// What `readlink` of a path said.
    targets: HashMap<PathBuf, PathBuf>,
    /// `lstat`s and `readlink`s made (tests pin them).
    #[cfg(test)]
    pub(crate) calls: (usize, usize),
}

impl WalkMemo {
    fn lstat(&mut self, path: &Path) -> io::Result<std::fs::Metadata> {
        #[cfg(test)]
        {
            self.calls.0 += 1;
        }
        std::fs::symlink_metadata(path)
    }

    fn readlink(&mut self, path: &Path) -> io::Result<PathBuf> {
        #[cfg(test)]
        {
            self.calls.1 += 1;
        }
        let target = std::fs::read_link(path)?;
        self.targets.insert(path.to_path_buf(), target.clone());
        Ok(target)
    }

    /// What this resolution saw at `path` (symlink-free): its own `lstat`s, then the
    /// `Resolver`'s (`seen`, objects only).
    fn known(&self, path: &Path, seen: &HashMap<PathBuf, Seen>) -> Option<Known> {
        match self.known.get(path) {
            Some(k) => Some(k.clone()),
            None => match seen.get(path) {
                Some(Seen::Object { dir, .. }) => Some(Known::Plain(*dir)),
                _ => None,
            },
        }
    }

    /// `readlink` of the symlink `link` just `lstat`ed as `owner`'s, remembered with it.
    fn read_new_link(&mut self, link: &Path, owner: u32) -> io::Result<PathBuf> {
        let target = self.readlink(link)?;
        self.known
            .insert(link.to_path_buf(), Known::Link(target.clone(), owner));
        Ok(target)
    }

    /// [`planted::walk`](crate::planted::walk) of `path` (absolute), answering from what
    /// this resolution saw: its own walks and `seen` (the `Resolver`'s `lstat`s of
    /// symlink-free paths).
    #[cfg(test)]
    pub(crate) fn walk(&mut self, path: &Path, seen: &HashMap<PathBuf, Seen>) -> io::Result<Walk> {
        self.walk_noting(path, seen, &mut Stopped::default())
    }

    /// [`planted::walk_noting`](crate::planted::walk_noting) of `path` (absolute) — the same
    /// walk ([`planted::walk_with`](crate::planted::walk_with)) — answering from what this
    /// resolution saw (its own walks and `seen`).
    pub(crate) fn walk_noting(
        &mut self,
        path: &Path,
        seen: &HashMap<PathBuf, Seen>,
        stopped: &mut Stopped,
    ) -> io::Result<Walk> {
        #[cfg(test)]
        if unmemoised() {
            return crate::planted::walk_noting(path, stopped);
        }
        walk_with(path, &mut Memoised { memo: self, seen }, stopped)
    }

    /// [`walk_noting`](Self::walk_noting), also appending to `looked` every symlink-free
    /// path the walk looked up, in order (each directory whose entry it read is the parent of
    /// one): what a change of which could make the chain lead elsewhere — a name passed on
    /// the way to a `..` included (`~/p/q/../../x`), which neither a link met nor the end
    /// shows (red team 17).
    pub(crate) fn walk_looking(
        &mut self,
        path: &Path,
        seen: &HashMap<PathBuf, Seen>,
        stopped: &mut Stopped,
        looked: &mut Vec<PathBuf>,
    ) -> io::Result<Walk> {
        #[cfg(test)]
        if unmemoised() {
            let mut lookups = Looking {
                inner: crate::planted::Fresh,
                looked,
            };
            return walk_with(path, &mut lookups, stopped);
        }
        let mut lookups = Looking {
            inner: Memoised { memo: self, seen },
            looked,
        };
        walk_with(path, &mut lookups, stopped)
    }

    /// `readlink` of `link`, answered from an earlier `readlink` of this resolution.
    pub(crate) fn read_link(&mut self, link: &Path) -> io::Result<PathBuf> {
        #[cfg(test)]
        if unmemoised() {
            return std::fs::read_link(link);
        }
        match self.targets.get(link) {
            Some(t) => Ok(t.clone()),
            None => self.readlink(link),
        }
    }

    /// Whether an `lstat` of `path` (symlink-free) finds an existing object that is not a
    /// symlink (`Err`: the `lstat` failed), answered from what this resolution saw. A
    /// symlink found is read at once and remembered: the caller (`names_a_plain_sibling`)
    /// walks the chain through it next.
    pub(crate) fn is_plain(
        &mut self,
        path: &Path,
        seen: &HashMap<PathBuf, Seen>,
    ) -> io::Result<bool> {
        #[cfg(test)]
        if unmemoised() {
            return Ok(!std::fs::symlink_metadata(path)?.file_type().is_symlink());
        }
        match self.known(path, seen) {
            Some(Known::Plain(_)) => return Ok(true),
            Some(Known::Link(..)) => return Ok(false),
            None => {}
        }
        let meta = self.lstat(path)?;
        if meta.file_type().is_symlink() {
            // A link that cannot be read is not remembered: the walk asks again.
            let _ = self.read_new_link(path, meta.uid());
            return Ok(false);
        }
        self.known
            .insert(path.to_path_buf(), Known::Plain(meta.is_dir()));
        Ok(true)
    }
}

/// The [`Lookups`] of a walk answered from one resolution's memo: a path seen as a plain
/// object, or as a link together with the target the `readlink` right after that `lstat`
/// gave, is not asked again; anything else is asked of the kernel and remembered.
struct Memoised<'a> {
    memo: &'a mut WalkMemo,
    seen: &'a HashMap<PathBuf, Seen>,
}

impl Lookups for Memoised<'_> {
    fn look(&mut self, path: &Path) -> io::Result<Look> {
        match self.memo.known(path, self.seen) {
            Some(Known::Plain(dir)) => return Ok(Look::Plain { dir }),
            Some(Known::Link(_, owner)) => return Ok(Look::Link { owner }),
            None => {}
        }
        let meta = self.memo.lstat(path)?;
        if meta.file_type().is_symlink() {
            // Remembered with its target, by `target` right after.
            return Ok(Look::Link { owner: meta.uid() });
        }
        self.memo
            .known
            .insert(path.to_path_buf(), Known::Plain(meta.is_dir()));
        Ok(Look::Plain { dir: meta.is_dir() })
    }

    fn target(&mut self, link: &Path, owner: u32) -> io::Result<PathBuf> {
        // Only a target read together with this link's `lstat` (never `targets`, which
        // `read_link` fills without one).
        match self.memo.known.get(link) {
            Some(Known::Link(target, _)) => Ok(target.clone()),
            _ => self.memo.read_new_link(link, owner),
        }
    }
}

/// [`Lookups`] that note every path looked up (see [`WalkMemo::walk_looking`]).
struct Looking<'a, L> {
    inner: L,
    looked: &'a mut Vec<PathBuf>,
}

impl<L: Lookups> Lookups for Looking<'_, L> {
    fn look(&mut self, path: &Path) -> io::Result<Look> {
        self.looked.push(path.to_path_buf());
        self.inner.look(path)
    }

    fn target(&mut self, link: &Path, owner: u32) -> io::Result<PathBuf> {
        self.inner.target(link, owner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planted::walk;
    use crate::scratch::Scratch;
    use std::os::unix::fs::symlink;

    fn tmp(tag: &str) -> Scratch {
        Scratch::new(&format!("nono-chainwalk-{}-{tag}", std::process::id()))
    }

    /// A tree with links in prefixes, chains, loops, dangling links, links to files, `..`
    /// in paths and in targets, and a link whose target is absolute.
    fn tree(d: &Path) {
        for dir in ["real/sub/deep", "other/x", "tool/bin", "tool/lib"] {
            std::fs::create_dir_all(d.join(dir)).unwrap();
        }
        std::fs::write(d.join("real/file"), b"f").unwrap();
        std::fs::write(d.join("tool/lib/py3.12"), b"elf").unwrap();
        symlink(d.join("real"), d.join("abs")).unwrap();
        symlink("real", d.join("rel")).unwrap();
        symlink("rel", d.join("chain")).unwrap();
        symlink("chain/sub", d.join("chain2")).unwrap();
        symlink("../other", d.join("real/up")).unwrap();
        symlink("../../real/sub/../file", d.join("other/x/back")).unwrap();
        symlink("missing", d.join("dangling")).unwrap();
        symlink(d.join("nowhere/deeper"), d.join("dangling_abs")).unwrap();
        symlink("loop_b", d.join("loop_a")).unwrap();
        symlink("loop_a", d.join("loop_b")).unwrap();
        symlink("self", d.join("self")).unwrap();
        symlink("../lib/py3.12", d.join("tool/bin/python3")).unwrap();
        symlink("python3", d.join("tool/bin/python")).unwrap();
        symlink("real/file", d.join("tofile")).unwrap();
        symlink("/", d.join("root")).unwrap();
        symlink(".", d.join("dot")).unwrap();
        symlink("..", d.join("real/sub/parent")).unwrap();
    }

    const CASES: &[&str] = &[
        "",
        "real",
        "real/sub/deep",
        "real/file",
        "real/file/x",
        "real/file/..",
        "abs",
        "abs/sub",
        "rel/sub/deep",
        "chain",
        "chain/sub/deep",
        "chain2",
        "chain2/deep/../..",
        "real/up/x/back",
        "rel/up/x/back",
        "other/x/back",
        "dangling",
        "dangling/x/../y",
        "dangling_abs",
        "dangling_abs/z",
        "loop_a",
        "loop_a/x",
        "self",
        "tool/bin/python",
        "tool/bin/python3",
        "tool/bin/../bin/python",
        "tofile",
        "tofile/x",
        "root",
        "root/tmp",
        "dot/dot/real",
        "real/sub/parent/sub/parent/file",
        "missing",
        "missing/../real",
        "../../..",
        "real/../../x",
        "abs/../chain",
    ];

    fn same(a: &io::Result<Walk>, b: &io::Result<Walk>) -> bool {
        match (a, b) {
            (Ok(a), Ok(b)) => a == b,
            (Err(a), Err(b)) => a.kind() == b.kind() && a.raw_os_error() == b.raw_os_error(),
            _ => false,
        }
    }

    /// A walk's answer with what it had found when it failed.
    type Noted = (io::Result<Walk>, Stopped);

    /// `planted::walk_noting` of `p`.
    fn planted_noting(p: &Path) -> Noted {
        let mut stopped = Stopped::default();
        (crate::planted::walk_noting(p, &mut stopped), stopped)
    }

    /// `WalkMemo::walk_noting` of `p`.
    fn memo_noting(memo: &mut WalkMemo, p: &Path, seen: &HashMap<PathBuf, Seen>) -> Noted {
        let mut stopped = Stopped::default();
        (memo.walk_noting(p, seen, &mut stopped), stopped)
    }

    /// The same answer, and the same found when it failed.
    fn same_noted(a: &Noted, b: &Noted) -> bool {
        same(&a.0, &b.0) && a.1 == b.1
    }

    /// One memo over every case (as one resolution walks many links), in order, reversed,
    /// and each case with a fresh memo: always `planted::walk`'s answer.
    #[test]
    fn the_memoised_walk_is_planted_walk() {
        let d = tmp("same");
        tree(&d);
        let seen = HashMap::new();
        let orders: [Vec<&str>; 2] = [CASES.to_vec(), CASES.iter().rev().copied().collect()];
        for order in orders {
            let mut shared = WalkMemo::default();
            for case in &order {
                let p = d.join(case);
                let want = planted_noting(&p);
                for memo in [&mut shared, &mut WalkMemo::default()] {
                    let got = memo_noting(memo, &p, &seen);
                    assert!(same_noted(&got, &want), "{case}: {got:?} != {want:?}");
                    // Twice: the second answer comes from the memo.
                    let again = memo_noting(memo, &p, &seen);
                    assert!(
                        same_noted(&again, &want),
                        "{case} again: {again:?} != {want:?}"
                    );
                }
            }
        }
        let _ = std::fs::remove_dir_all(&d);
    }

    /// Red team 9: a walk that fails leaves what it had found — the links followed (40 for
    /// a loop) and, for a file where a directory should be, that file — the same with and
    /// without the memo (`CASES` above compare them), and nothing for a walk that succeeds.
    #[test]
    fn a_failed_walk_leaves_what_it_found() {
        let d = tmp("stopped");
        tree(&d);
        let (got, stopped) = planted_noting(&d.join("tofile/x"));
        assert!(got.is_err());
        assert_eq!(stopped.end, Some(d.join("real/file")));
        assert_eq!(stopped.links.len(), 1);
        assert_eq!(stopped.links[0].0, d.join("tofile"));
        let (got, stopped) = planted_noting(&d.join("loop_a/x"));
        assert!(got.is_err());
        assert_eq!(stopped.end, None);
        assert_eq!(stopped.links.len(), 40);
        let names: std::collections::BTreeSet<_> =
            stopped.links.iter().map(|(l, _, _)| l.clone()).collect();
        assert_eq!(names, [d.join("loop_a"), d.join("loop_b")].into());
        let (got, stopped) = planted_noting(&d.join("dangling"));
        assert!(got.is_ok());
        assert_eq!(stopped, Stopped::default());
        let _ = std::fs::remove_dir_all(&d);
    }

    /// Red team 10: `..` after a file (`real/file/..`, or after a link to one) is refused by
    /// the kernel (`ENOTDIR`); the walks popped it lexically and resolved the chain, so the
    /// file in the way was not its end and a sandbox granted its directory could replace it
    /// by a link (`~/.ssh/config` → `../dots/a/f/../../x/config`, `f` → the sandbox's
    /// `p/q`: `x/config` then read the sandbox's `p/x/config`). Now both walks fail as the
    /// kernel does and leave the file as the end, with and without the memo.
    #[test]
    fn dot_dot_after_a_file_fails_as_in_the_kernel() {
        let d = tmp("dotdot");
        tree(&d);
        let seen = HashMap::new();
        for (case, links) in [
            ("real/file/..", 0),
            ("real/file/../sub", 0),
            ("tofile/..", 1),
            ("tofile/../../x", 1),
        ] {
            let p = d.join(case);
            let kernel = std::fs::metadata(&p).unwrap_err();
            assert_eq!(
                kernel.raw_os_error(),
                Some(rustix::io::Errno::NOTDIR.raw_os_error()),
                "{case}"
            );
            let want = planted_noting(&p);
            assert_eq!(
                want.0.as_ref().err().and_then(io::Error::raw_os_error),
                Some(rustix::io::Errno::NOTDIR.raw_os_error()),
                "{case}: {want:?}"
            );
            assert_eq!(want.1.end, Some(d.join("real/file")), "{case}");
            assert_eq!(want.1.links.len(), links, "{case}");
            // Twice with one memo: the second answer comes from what it remembered.
            let mut memo = WalkMemo::default();
            for _ in 0..2 {
                let got = memo_noting(&mut memo, &p, &seen);
                assert!(same_noted(&got, &want), "{case}: {got:?} != {want:?}");
            }
        }
        // `..` after a directory, and after a link to one, still pops.
        assert_eq!(
            walk(&d.join("real/sub/../file")).unwrap().resolved,
            Some(d.join("real/file"))
        );
        assert_eq!(
            walk(&d.join("rel/../real/file")).unwrap().resolved,
            Some(d.join("real/file"))
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    /// Paths a random tree may hold, parents first.
    const NODES: &[&str] = &["a", "b", "c", "a/x", "a/y", "b/x", "b/y", "a/x/z", "b/y/z"];
    /// What a random link may say (`@` is the tree's root).
    const TARGETS: &[&str] = &[
        "a",
        "b",
        "c",
        "x",
        "y",
        "z",
        "../b",
        "../a/x",
        "../../a/x",
        "@/a",
        "@/b/y",
        "@/missing",
        "missing",
        ".",
        "..",
        "a/x/z",
        "y/..",
        "c/x",
        "x/z",
        "../c/../a",
        "/",
    ];
    /// What a random walk may ask for, beyond the nodes.
    const QUERIES: &[&str] = &[
        "a/x/z/..",
        "c/a",
        "b/../a/x",
        "a/x/z/w",
        "b/y/z/../../x",
        "c/x/z",
        "a/../..",
        "missing/x",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(96))]
        /// On random trees of directories, files and links (chains, loops, links in prefixes,
        /// dangling and absolute targets, `..`), one memo answering a sequence of walks gives
        /// `planted::walk`'s answer to each.
        #[test]
        fn the_memoised_walk_is_planted_walk_on_random_trees(
            kinds in proptest::collection::vec((0u8..4, 0usize..TARGETS.len()), NODES.len()),
            queries in proptest::collection::vec(0usize..NODES.len() + QUERIES.len(), 1..10),
        ) {
            let d = tmp("prop");
            let at = |t: &str| t.replace('@', d.to_str().unwrap());
            for (node, (kind, target)) in NODES.iter().zip(&kinds) {
                // Never through a link (it may lead out of `d`): the node is then left out.
                plant(&d, node, |p| match kind {
                    1 => std::fs::create_dir(p),
                    2 => std::fs::write(p, b"f"),
                    3 => symlink(at(TARGETS[*target]), p),
                    _ => Ok(()),
                });
            }
            let seen = HashMap::new();
            let mut memo = WalkMemo::default();
            for q in queries {
                let rel = NODES.iter().chain(QUERIES).nth(q).unwrap();
                let p = d.join(rel);
                let want = planted_noting(&p);
                let got = memo_noting(&mut memo, &p, &seen);
                proptest::prop_assert!(same_noted(&got, &want), "{}: {:?} != {:?}", rel, got, want);
                // Red team 10: where the kernel resolves the path the walk ends there, and
                // where it refuses a file in the way (`f/x`, `f/..`) the walk fails too.
                match std::fs::canonicalize(&p) {
                    Ok(c) => proptest::prop_assert_eq!(
                        want.0.as_ref().ok().and_then(|w| w.resolved.clone()),
                        Some(c),
                        "{}",
                        rel
                    ),
                    Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error()) => {
                        proptest::prop_assert!(want.0.is_err(), "{}: kernel ENOTDIR, walk {:?}", rel, want);
                    }
                    Err(_) => {}
                }
            }
            let _ = std::fs::remove_dir_all(&d);
        }
    }

    /// Deeper nodes and what a link may name beyond the first tree: absolute targets into
    /// the tree's depth, `/proc/self` and `/proc/thread-self`, trailing slashes, `.` inside.
    const DEEP_NODES: &[&str] = &[
        "a",
        "b",
        "a/x",
        "b/x",
        "a/x/y",
        "b/x/y",
        "a/x/y/z",
        "b/x/y/z",
        "a/x/y/z/w",
    ];
    const DEEP_TARGETS: &[&str] = &[
        "@/a/x/y",
        "@/b/x/y/z",
        "@/b/x/../x/y",
        "x/",
        "y/.",
        "./z",
        "../../x",
        "../../../b/x",
        "/proc/self/cwd",
        "/proc/thread-self/root@/a",
        "/proc/self/root@/b/x",
        "z/w",
        "w",
        "..//..",
        "@/a/x/y/z/w/..",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Red team 9: one memo answering, in a random order, walks, `is_plain` and
        /// `read_link` (as `names_a_plain_sibling` interleaves them with the walks), with the
        /// `Resolver`'s `lstat`s of the tree's symlink-free paths handed in as `seen`, on
        /// deeper trees with links through `/proc/self`: every answer is the kernel's.
        #[test]
        fn the_memo_answers_as_the_kernel_when_calls_interleave(
            kinds in proptest::collection::vec((0u8..4, 0usize..DEEP_TARGETS.len()), DEEP_NODES.len()),
            ops in proptest::collection::vec((0u8..3, 0usize..DEEP_NODES.len()), 1..24),
            seen_too in proptest::bool::ANY,
        ) {
            let d = tmp("interleave");
            let at = |t: &str| t.replace('@', d.to_str().unwrap());
            for (node, (kind, target)) in DEEP_NODES.iter().zip(&kinds) {
                plant(&d, node, |p| match kind {
                    1 => std::fs::create_dir(p),
                    2 => std::fs::write(p, b"f"),
                    3 => symlink(at(DEEP_TARGETS[*target]), p),
                    _ => Ok(()),
                });
            }
            // What a `Resolver` saw: each symlink-free path `lstat`ed as an object.
            let mut seen = HashMap::new();
            if seen_too {
                let mut p = PathBuf::from("/");
                for c in d.components().skip(1) {
                    p.push(c);
                    seen.insert(p.clone(), Seen::Object { dir: true, nlink: 2 });
                }
                for node in DEEP_NODES {
                    let p = d.join(node);
                    let plain_path = p.ancestors().skip(1).take_while(|a| *a != d.as_path()).all(|a| {
                        std::fs::symlink_metadata(a).is_ok_and(|m| !m.file_type().is_symlink())
                    });
                    if let (true, Ok(m)) = (plain_path, std::fs::symlink_metadata(&p)) {
                        if !m.file_type().is_symlink() {
                            seen.insert(p, Seen::Object { dir: m.is_dir(), nlink: m.nlink() });
                        }
                    }
                }
            }
            let mut memo = WalkMemo::default();
            for (op, node) in ops {
                let p = d.join(DEEP_NODES[node]);
                match op {
                    0 => {
                        let want = planted_noting(&p);
                        let got = memo_noting(&mut memo, &p, &seen);
                        proptest::prop_assert!(same_noted(&got, &want), "walk {:?}: {:?} != {:?}", p, got, want);
                        match std::fs::canonicalize(&p) {
                            Ok(c) => proptest::prop_assert_eq!(
                                want.0.as_ref().ok().and_then(|w| w.resolved.clone()),
                                Some(c),
                                "{:?}",
                                p
                            ),
                            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error()) => {
                                proptest::prop_assert!(want.0.is_err(), "{:?}: kernel ENOTDIR, walk {:?}", p, want);
                            }
                            Err(_) => {}
                        }
                    }
                    1 => {
                        let want = std::fs::symlink_metadata(&p).map(|m| !m.file_type().is_symlink());
                        let got = memo.is_plain(&p, &seen);
                        proptest::prop_assert_eq!(got.ok(), want.ok(), "is_plain {:?}", p);
                    }
                    _ => {
                        let want = std::fs::read_link(&p);
                        let got = memo.read_link(&p);
                        proptest::prop_assert_eq!(got.ok(), want.ok(), "read_link {:?}", p);
                    }
                }
            }
            let _ = std::fs::remove_dir_all(&d);
        }
    }

    /// The `Resolver`'s `lstat`s stand in for the walk's: a symlink-free path seen as an
    /// object is not looked at again, a path seen missing or not at all is.
    #[test]
    fn what_the_resolver_saw_stands_in_for_an_lstat() {
        let d = tmp("seen");
        tree(&d);
        let mut seen: HashMap<PathBuf, Seen> = HashMap::new();
        let mut p = PathBuf::from("/");
        for c in d.components().skip(1) {
            p.push(c);
            seen.insert(
                p.clone(),
                Seen::Object {
                    dir: true,
                    nlink: 2,
                },
            );
        }
        seen.insert(
            d.join("tool"),
            Seen::Object {
                dir: true,
                nlink: 4,
            },
        );
        seen.insert(d.join("tool/bin"), Seen::Missing);
        let mut memo = WalkMemo::default();
        let got = memo.walk(&d.join("tool/bin/python"), &seen);
        assert!(same(&got, &walk(&d.join("tool/bin/python"))));
        // tool/bin, python, python3, tool/lib, py3.12: `lstat`ed; python and python3 read.
        assert_eq!(memo.calls, (5, 2));
        let _ = std::fs::remove_dir_all(&d);
    }

    /// The number of `lstat`s and `readlink`s for a small tree: a second chain through
    /// the same directories asks only for what is new, a repeated chain for nothing.
    #[test]
    fn lstats_are_made_once_per_resolution() {
        let d = tmp("count");
        tree(&d);
        let depth = d.components().count() - 1;
        let seen = HashMap::new();
        let mut memo = WalkMemo::default();
        memo.walk(&d.join("tool/bin/python"), &seen).unwrap();
        // d's components, tool, bin, python (link), python3 (link), lib, py3.12.
        assert_eq!(memo.calls, (depth + 6, 2));
        let unmemoised = {
            let mut fresh = WalkMemo::default();
            fresh.walk(&d.join("tool/bin/python3"), &seen).unwrap();
            fresh.calls
        };
        memo.calls = (0, 0);
        memo.walk(&d.join("tool/bin/python3"), &seen).unwrap();
        assert_eq!(memo.calls, (0, 0), "unmemoised: {unmemoised:?}");
        memo.walk(&d.join("chain/sub"), &seen).unwrap();
        // chain, rel (links), real, sub.
        assert_eq!(memo.calls, (4, 2));
        memo.calls = (0, 0);
        memo.walk(&d.join("real/sub/deep"), &seen).unwrap();
        assert_eq!(memo.calls, (1, 0));
        // A missing component is asked again every time.
        memo.calls = (0, 0);
        memo.walk(&d.join("dangling/x"), &seen).unwrap();
        memo.walk(&d.join("dangling/x"), &seen).unwrap();
        assert_eq!(memo.calls, (3, 1));
        let _ = std::fs::remove_dir_all(&d);
    }

    /// `read_link` and `is_plain` answer as `readlink` and `lstat` do, once per path.
    #[test]
    fn read_link_and_is_plain_answer_once() {
        let d = tmp("sibling");
        tree(&d);
        let seen = HashMap::new();
        let mut memo = WalkMemo::default();
        let python = d.join("tool/bin/python");
        assert_eq!(memo.read_link(&python).unwrap(), PathBuf::from("python3"));
        assert_eq!(memo.read_link(&python).unwrap(), PathBuf::from("python3"));
        assert!(memo.read_link(&d.join("real")).is_err());
        assert!(!memo.is_plain(&d.join("tool/bin/python3"), &seen).unwrap());
        assert!(memo.is_plain(&d.join("tool/lib/py3.12"), &seen).unwrap());
        assert!(memo.is_plain(&d.join("tool/lib/py3.12"), &seen).unwrap());
        assert!(memo.is_plain(&d.join("missing"), &seen).is_err());
        // python3, found a link, is read at once (its chain is walked next).
        assert_eq!(memo.calls, (3, 3));
        memo.calls = (0, 0);
        memo.walk(&d.join("tool/bin/python3"), &seen).unwrap();
        assert_eq!(memo.calls.1, 0, "python3 read again");
        // A link a walk read is known to be one.
        memo.walk(&d.join("chain"), &seen).unwrap();
        memo.calls = (0, 0);
        assert!(!memo.is_plain(&d.join("chain"), &seen).unwrap());
        assert_eq!(
            memo.read_link(&d.join("chain")).unwrap(),
            PathBuf::from("rel")
        );
        assert_eq!(memo.calls, (0, 0));
        let _ = std::fs::remove_dir_all(&d);
    }
}

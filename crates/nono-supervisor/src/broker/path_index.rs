//! The static grants' path lists, indexed for the questions every trapped call asks:
//! which of them lie at or above a path (the Landlock rules covering it, a deny rule over
//! it), and does any lie strictly beneath it (is it on the way to a carve-out).
//!
//! The lists are canonical paths (clean: no `.`, `..`, repeated or trailing `/`), and so are
//! the paths asked about. For clean paths, "`p` lies at or beneath `k`" holds exactly when `k`
//! is one of `p`'s clean prefixes (`nono_sandbox::paths::clean_prefixes`: `/`, each prefix
//! before a `/`, `p`): a hash lookup per component, the hashes of all of them from one pass
//! over `p`, instead of a comparison per rule (the default profile's Landlock ruleset has ~170
//! rules and ~160 denies, and these scans were a tenth of the supervisor's time per runtime
//! grant; measured in a release build: ~75 ns a question against ~460 ns for the scan, ~10 µs
//! to build an index of 170 paths). What lies strictly beneath `p` is the run of sorted paths
//! that start with `p/`. Whenever a path in the list or the path asked about is not clean,
//! the answer comes from a scan with the byte rule the scans used before ([`under`]), so the
//! answers never differ.

use std::collections::HashMap;

use nono_sandbox::paths::is_clean;

/// Whether the clean absolute path `path` is `prefix` or lies beneath it, comparing bytes
/// (`Path::starts_with` for clean paths, without parsing components).
pub(crate) use nono_sandbox::paths::clean_within_bytes as under;

/// FNV-1a, 64 bits: the hash of every prefix of a path comes out of one pass over its
/// bytes (the state after a prefix is that prefix's hash), so the prefixes of a path are
/// looked up without hashing each again.
#[derive(Debug, Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    const START: Fnv = Fnv(0xcbf2_9ce4_8422_2325);

    fn push(self, b: u8) -> Fnv {
        Fnv((self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
    }

    fn of(bytes: &[u8]) -> u64 {
        bytes.iter().fold(Fnv::START, |h, &b| h.push(b)).0
    }
}

/// A `HashMap` hasher for keys that are hashes already.
#[derive(Debug, Default, Clone, Copy)]
struct Prehashed(u64);

impl std::hash::Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed here; fold anything else in all the same.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type ByHash = HashMap<u64, u32, std::hash::BuildHasherDefault<Prehashed>>;

/// A list of paths with a value each (entries on one path merged), indexed as the module
/// docs say: sorted by their bytes (the paths beneath one are a run), and by the FNV hash of
/// each path, so that the paths at or above one are found in one pass over its bytes.
/// Building it is a sort of the moved entries and a hash of each (a map of copied paths
/// under SipHash, built at every start, cost more than the scans it saved in a short run).
#[derive(Debug)]
pub(crate) struct PathIndex<V> {
    /// Distinct paths, sorted, each with the merge of its entries' values.
    sorted: Vec<(Vec<u8>, V)>,
    /// FNV hash of a path → its index in `sorted`.
    by_hash: ByHash,
    /// Two paths of the list share a hash: `by_hash` is not used (binary search instead).
    collided: bool,
    /// Every path of the list is clean.
    clean: bool,
    merge: fn(V, V) -> V,
}

impl<V: Copy> PathIndex<V> {
    /// Index `entries`; `merge` combines the values of entries on one path (and of the paths
    /// covering one, see [`PathIndex::merged_at_or_above`]).
    pub(crate) fn new(mut entries: Vec<(Vec<u8>, V)>, merge: fn(V, V) -> V) -> PathIndex<V> {
        let clean = entries.iter().all(|(p, _)| is_clean(p));
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut sorted: Vec<(Vec<u8>, V)> = Vec::with_capacity(entries.len());
        for (p, v) in entries {
            match sorted.last_mut() {
                Some((last, old)) if *last == p => *old = merge(*old, v),
                _ => sorted.push((p, v)),
            }
        }
        let mut by_hash = ByHash::with_capacity_and_hasher(sorted.len(), Default::default());
        let mut collided = u32::try_from(sorted.len()).is_err();
        for (i, (p, _)) in sorted.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            collided |= by_hash.insert(Fnv::of(p), i).is_some();
        }
        PathIndex {
            sorted,
            by_hash,
            collided,
            clean,
            merge,
        }
    }

    /// Call `f` with the value of each entry at or above the clean `path` (its clean
    /// prefixes: `/`, each prefix before a `/`, the path), from one pass over its bytes,
    /// until `f` returns `false`.
    fn each_at_or_above(&self, path: &[u8], mut f: impl FnMut(V) -> bool) {
        let mut h = Fnv::START;
        for (k, &b) in path.iter().enumerate() {
            // `h` is the hash of `path[..k]`: a prefix before a `/` (never the empty one;
            // `/` itself is looked up after its byte, below).
            if b == b'/' && k > 1 {
                if let Some(v) = self.exactly(&path[..k], h.0) {
                    if !f(v) {
                        return;
                    }
                }
            }
            h = h.push(b);
            if k == 0 {
                if let Some(v) = self.exactly(b"/", h.0) {
                    if !f(v) {
                        return;
                    }
                }
            }
        }
        if path.len() > 1 {
            if let Some(v) = self.exactly(path, h.0) {
                f(v);
            }
        }
    }

    /// The value of the entry exactly at `path`, whose FNV hash is `hash`.
    fn exactly(&self, path: &[u8], hash: u64) -> Option<V> {
        if self.collided {
            let i = self
                .sorted
                .binary_search_by(|(p, _)| p.as_slice().cmp(path))
                .ok()?;
            return Some(self.sorted[i].1);
        }
        // A path of the list with this hash is the only one; the bytes tell whether it is
        // `path` or another path with the same hash.
        let (p, v) = self.sorted.get(*self.by_hash.get(&hash)? as usize)?;
        (p.as_slice() == path).then_some(*v)
    }

    fn indexed_for(&self, path: &[u8]) -> bool {
        self.clean && is_clean(path)
    }

    /// The merge of the values of the entries at or above `path`; `None` when none is.
    pub(crate) fn merged_at_or_above(&self, path: &[u8]) -> Option<V> {
        if self.indexed_for(path) {
            let mut merged: Option<V> = None;
            self.each_at_or_above(path, |v| {
                merged = Some(merged.map_or(v, |m| (self.merge)(m, v)));
                true
            });
            merged
        } else {
            self.sorted
                .iter()
                .filter(|(p, _)| under(path, p))
                .map(|(_, v)| *v)
                .reduce(self.merge)
        }
    }

    /// Whether an entry lies at or above `path`.
    pub(crate) fn any_at_or_above(&self, path: &[u8]) -> bool {
        if self.indexed_for(path) {
            let mut any = false;
            self.each_at_or_above(path, |_| {
                any = true;
                false
            });
            any
        } else {
            self.sorted.iter().any(|(p, _)| under(path, p))
        }
    }

    /// Whether an entry is `path` or lies beneath it.
    pub(crate) fn any_at_or_below(&self, path: &[u8]) -> bool {
        if self.indexed_for(path) {
            self.exactly(path, Fnv::of(path)).is_some() || self.any_strictly_below(path)
        } else {
            self.sorted.iter().any(|(p, _)| under(p, path))
        }
    }

    /// Whether an entry lies strictly beneath `path`.
    pub(crate) fn any_strictly_below(&self, path: &[u8]) -> bool {
        if !self.indexed_for(path) {
            return self
                .sorted
                .iter()
                .any(|(p, _)| p.len() > path.len() && under(p, path));
        }
        if path == b"/" {
            return self.sorted.iter().any(|(p, _)| p.len() > 1);
        }
        // Clean paths beneath `path` are those starting with `path/`: one sorted run, which
        // begins at the first path not ordered before `path/`.
        let n = path.len();
        let before_run = |p: &[u8]| {
            let k = p.len().min(n);
            match p[..k].cmp(&path[..k]) {
                std::cmp::Ordering::Less => true,
                std::cmp::Ordering::Greater => false,
                std::cmp::Ordering::Equal => p.len() <= n || p[n] < b'/',
            }
        };
        let first = self.sorted.partition_point(|(p, _)| before_run(p));
        self.sorted
            .get(first)
            .is_some_and(|(p, _)| p.len() > n && p.starts_with(path) && p[n] == b'/')
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Paths over a few names, clean or not, so that prefixes, siblings sharing a prefix
    /// (`/a`, `/ab`), `.`/`..` and repeated or trailing slashes all occur.
    fn a_path() -> impl Strategy<Value = Vec<u8>> {
        let part = prop_oneof![
            Just("a"),
            Just("ab"),
            Just("b"),
            Just("a.b"),
            Just("."),
            Just(".."),
            Just(""),
        ];
        (prop::collection::vec(part, 0..5), any::<bool>()).prop_map(|(parts, trailing)| {
            let mut p = format!("/{}", parts.join("/"));
            if trailing && p.len() > 1 {
                p.push('/');
            }
            p.into_bytes()
        })
    }

    fn union(a: u8, b: u8) -> u8 {
        a | b
    }

    proptest! {
        /// Every answer is the scan's, for clean and unclean lists and paths alike.
        #[test]
        fn the_index_answers_as_the_scan(
            list in prop::collection::vec((a_path(), 1u8..16), 0..12),
            asked in prop::collection::vec(a_path(), 1..12),
        ) {
            let clean_list: Vec<(Vec<u8>, u8)> =
                list.iter().filter(|(p, _)| is_clean(p)).cloned().collect();
            for (entries, collided) in [
                (list.clone(), false),
                (clean_list.clone(), false),
                (clean_list, true),
            ] {
                let mut index = PathIndex::new(entries.clone(), union);
                // The path taken when two paths of the list share a hash.
                index.collided |= collided;
                for path in &asked {
                    let covering = entries.iter().filter(|(p, _)| under(path, p));
                    prop_assert_eq!(
                        index.merged_at_or_above(path),
                        covering.clone().map(|(_, v)| *v).reduce(union)
                    );
                    prop_assert_eq!(index.any_at_or_above(path), covering.count() > 0);
                    prop_assert_eq!(
                        index.any_at_or_below(path),
                        entries.iter().any(|(p, _)| under(p, path))
                    );
                    prop_assert_eq!(
                        index.any_strictly_below(path),
                        entries.iter().any(|(p, _)| p.len() > path.len() && under(p, path))
                    );
                }
            }
        }
    }

    /// Red team 22: the edges the generator above reaches rarely or never — the root in the
    /// list, duplicates, paths of one or two bytes, an empty or relative question, `//` —
    /// answered as the scan, with and without the collision fallback.
    #[test]
    fn short_paths_the_root_and_duplicates_answer_as_the_scan() {
        let lists: [&[&[u8]]; 4] = [
            &[b"/", b"/a", b"/a", b"/ab"],
            &[b"/a", b"/b/c", b"/b/c", b"/"],
            &[b"/.", b"a", b"", b"/a/"],
            &[b"/z", b"/a/b"],
        ];
        let asked: &[&[u8]] = &[
            b"", b"/", b"//", b"/a", b"/a/", b"/ab", b"/a/b", b"/b", b"/b/c/d", b"a", b"a/b",
            b"/.", b"/z/", b"/zz",
        ];
        for list in lists {
            let entries: Vec<(Vec<u8>, u8)> = list
                .iter()
                .enumerate()
                .map(|(i, p)| (p.to_vec(), 1u8 << i))
                .collect();
            for collided in [false, true] {
                let mut index = PathIndex::new(entries.clone(), union);
                index.collided |= collided;
                for path in asked {
                    let covering = entries.iter().filter(|(p, _)| under(path, p));
                    let what = format!("{list:?} {path:?} collided {collided}");
                    assert_eq!(
                        index.merged_at_or_above(path),
                        covering.clone().map(|(_, v)| *v).reduce(union),
                        "{what}"
                    );
                    assert_eq!(index.any_at_or_above(path), covering.count() > 0, "{what}");
                    assert_eq!(
                        index.any_at_or_below(path),
                        entries.iter().any(|(p, _)| under(p, path)),
                        "{what}"
                    );
                    assert_eq!(
                        index.any_strictly_below(path),
                        entries
                            .iter()
                            .any(|(p, _)| p.len() > path.len() && under(p, path)),
                        "{what}"
                    );
                }
            }
        }
    }

    #[test]
    fn beneath_is_by_components_not_by_bytes() {
        let index = PathIndex::new(
            vec![
                (b"/a/b".to_vec(), 1u8),
                (b"/ab/c".to_vec(), 2),
                (b"/a".to_vec(), 4),
            ],
            union,
        );
        assert_eq!(index.merged_at_or_above(b"/a/b/c"), Some(5));
        assert_eq!(index.merged_at_or_above(b"/ab"), None);
        assert_eq!(index.merged_at_or_above(b"/ab/c/d"), Some(2));
        assert!(index.any_strictly_below(b"/a"));
        assert!(!index.any_strictly_below(b"/a/b"));
        assert!(index.any_strictly_below(b"/ab"));
        assert!(index.any_strictly_below(b"/"));
        assert!(!index.any_strictly_below(b"/b"));
    }
}

//! The static grants' path lists, indexed for the questions every trapped call asks:
//! which of them lie at or above a path (the Landlock rules covering it, a deny rule over
//! it), and does any lie strictly beneath it (is it on the way to a carve-out).
//!
//! The lists are canonical paths (clean: no `.`, `..`, repeated or trailing `/`), and so are
//! the paths asked about. For clean paths, "`p` lies at or beneath `k`" holds exactly when `k`
//! is one of `p`'s [`clean_prefixes`]: a lookup per component instead of a comparison per
//! rule (the default profile's Landlock ruleset has ~170 rules and ~160 denies, and these
//! scans were a tenth of the supervisor's time per runtime grant). What lies strictly beneath
//! `p` is the run of sorted paths that start with `p/`. Whenever a path in the list or the
//! path asked about is not clean, the answer comes from a scan with the byte rule the scans
//! used before ([`under`]), so the answers never differ.

use std::collections::HashMap;

use nono_sandbox::paths::{clean_prefixes, is_clean};

/// Whether the clean absolute path `path` is `prefix` or lies beneath it, comparing bytes
/// (`Path::starts_with` for clean paths, without parsing components).
pub(crate) fn under(path: &[u8], prefix: &[u8]) -> bool {
    path.starts_with(prefix)
        && (path.len() == prefix.len() || prefix.ends_with(b"/") || path[prefix.len()] == b'/')
}

/// A list of paths with a value each (entries on one path merged), indexed as the module
/// docs say.
#[derive(Debug)]
pub(crate) struct PathIndex<V> {
    /// The entries as given: the scans' input when something is not clean.
    entries: Vec<(Vec<u8>, V)>,
    /// Path → the merge of its entries' values.
    at: HashMap<Vec<u8>, V>,
    /// The distinct paths, sorted.
    sorted: Vec<Vec<u8>>,
    /// Every path of the list is clean.
    clean: bool,
    merge: fn(V, V) -> V,
}

impl<V: Copy> PathIndex<V> {
    /// Index `entries`; `merge` combines the values of entries on one path (and of the paths
    /// covering one, see [`PathIndex::merged_at_or_above`]).
    pub(crate) fn new(entries: Vec<(Vec<u8>, V)>, merge: fn(V, V) -> V) -> PathIndex<V> {
        let mut at: HashMap<Vec<u8>, V> = HashMap::with_capacity(entries.len());
        for (p, v) in &entries {
            at.entry(p.clone())
                .and_modify(|old| *old = merge(*old, *v))
                .or_insert(*v);
        }
        let mut sorted: Vec<Vec<u8>> = at.keys().cloned().collect();
        sorted.sort_unstable();
        let clean = entries.iter().all(|(p, _)| is_clean(p));
        PathIndex {
            entries,
            at,
            sorted,
            clean,
            merge,
        }
    }

    fn indexed_for(&self, path: &[u8]) -> bool {
        self.clean && is_clean(path)
    }

    /// The merge of the values of the entries at or above `path`; `None` when none is.
    pub(crate) fn merged_at_or_above(&self, path: &[u8]) -> Option<V> {
        if self.indexed_for(path) {
            clean_prefixes(path)
                .filter_map(|p| self.at.get(p).copied())
                .reduce(self.merge)
        } else {
            self.entries
                .iter()
                .filter(|(p, _)| under(path, p))
                .map(|(_, v)| *v)
                .reduce(self.merge)
        }
    }

    /// Whether an entry lies at or above `path`.
    pub(crate) fn any_at_or_above(&self, path: &[u8]) -> bool {
        if self.indexed_for(path) {
            clean_prefixes(path).any(|p| self.at.contains_key(p))
        } else {
            self.entries.iter().any(|(p, _)| under(path, p))
        }
    }

    /// Whether an entry is `path` or lies beneath it.
    pub(crate) fn any_at_or_below(&self, path: &[u8]) -> bool {
        if self.indexed_for(path) {
            self.at.contains_key(path) || self.any_strictly_below(path)
        } else {
            self.entries.iter().any(|(p, _)| under(p, path))
        }
    }

    /// Whether an entry lies strictly beneath `path`.
    pub(crate) fn any_strictly_below(&self, path: &[u8]) -> bool {
        if !self.indexed_for(path) {
            return self
                .entries
                .iter()
                .any(|(p, _)| p.len() > path.len() && under(p, path));
        }
        if path == b"/" {
            return self.sorted.iter().any(|p| p.len() > 1);
        }
        // Clean paths beneath `path` are those starting with `path/`: one sorted run.
        let mut below = path.to_vec();
        below.push(b'/');
        let first = self
            .sorted
            .partition_point(|p| p.as_slice() < below.as_slice());
        self.sorted
            .get(first)
            .is_some_and(|p| p.starts_with(&below))
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
            for entries in [list.clone(), clean_list] {
                let index = PathIndex::new(entries.clone(), union);
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

//! Glob expansion of `filesystem.deny` patterns into the paths that exist now.

use std::path::{Path, PathBuf};

use crate::policy::Glob;

/// Expand a deny pattern with `*`/`?` in some components into the paths that exist now.
pub(super) fn expand_deny_glob(pattern: &Path) -> Vec<PathBuf> {
    let mut current = vec![PathBuf::from("/")];
    for comp in pattern.components().skip(1) {
        let name = comp.as_os_str();
        let g = Glob::new(&name.to_string_lossy());
        if !g.has_wildcards() {
            for p in &mut current {
                p.push(name);
            }
            continue;
        }
        let mut next = Vec::new();
        for dir in &current {
            let Ok(rd) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut names: Vec<_> = rd
                .filter_map(Result::ok)
                .map(|e| e.file_name())
                .filter(|n| g.matches_name(n.as_encoded_bytes()))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|n| dir.join(n)));
        }
        current = next;
    }
    current
}

//! The test suite's litter check: what the tests leave in the temp dir. A tool's tests must not
//! fill the user's `/tmp` (and a home under a granted temp dir makes every entry there a
//! Landlock rule of its own). `cargo xtask ci` lists the `nono-*` entries of the temp dir (and
//! the end-to-end scratch dirs, `nono-e2e-*`, of cargo's target tmp dir) before the tests and
//! fails when new ones remain after them, naming the source lines that spell each name.
//! `cargo xtask litter ARGS` does the same around `cargo test ARGS`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

/// The directories looked at and the prefix of the names that count in each: the temp dir
/// (`TMPDIR`, else `/tmp`) and cargo's target tmp dir (`CARGO_TARGET_TMPDIR` of the tests,
/// `tmp` in the target directory cargo itself reports: red team 10), where the end-to-end
/// suites' scratch dirs live. That one also holds what is kept on purpose (the C programs
/// built once, `nono-gaps`, `nono-seccomp`; the escape suite's `nono-escape-bin-<pid>`,
/// removed by the next run): only the scratch dirs count there.
pub fn watched() -> Result<Vec<(PathBuf, &'static str)>> {
    Ok(vec![
        (std::env::temp_dir(), "nono-"),
        (crate::build::target_dir()?.join("tmp"), "nono-e2e-"),
    ])
}

/// The entries of each watched directory whose names start with its prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot(BTreeSet<PathBuf>);

impl Snapshot {
    pub fn take(watched: &[(PathBuf, &str)]) -> Snapshot {
        let mut set = BTreeSet::new();
        for (dir, prefix) in watched {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(prefix) {
                    set.insert(e.path());
                }
            }
        }
        Snapshot(set)
    }

    /// What is in `self` and was not in `before`.
    pub fn new_since(&self, before: &Snapshot) -> Vec<PathBuf> {
        self.0.difference(&before.0).cloned().collect()
    }
}

/// Run `f` (the tests) between two snapshots; fail, listing what they left and where each
/// name is spelt, when new entries remain. `f`'s own failure comes first.
pub fn checked(root: &Path, f: impl FnOnce() -> Result<()>) -> Result<()> {
    let watched = watched()?;
    let before = Snapshot::take(&watched);
    let result = f();
    let left = Snapshot::take(&watched).new_since(&before);
    if let Err(e) = result {
        if !left.is_empty() {
            eprintln!("xtask: also, {}", report(root, &left));
        }
        return Err(e);
    }
    if left.is_empty() {
        eprintln!(
            "xtask: the tests left nothing in {}",
            watched
                .iter()
                .map(|(d, p)| format!("{}/{p}*", d.display()))
                .collect::<Vec<_>>()
                .join(" or ")
        );
        return Ok(());
    }
    bail!("{}", report(root, &left))
}

/// The failure message: the entries left, grouped by the literal start of their names, each
/// group with the source lines that spell such names (the likely makers).
pub fn report(root: &Path, left: &[PathBuf]) -> String {
    let sources = rust_sources(root);
    let mut groups: std::collections::BTreeMap<String, Vec<&PathBuf>> = Default::default();
    for p in left {
        let name = p.file_name().unwrap_or_default().to_string_lossy();
        groups.entry(literal_prefix(&name)).or_default().push(p);
    }
    let mut s = format!(
        "the tests left {} entr{} behind (a test must remove what it makes, also when it \
         panics: a guard whose Drop removes it; another nono test run on this machine at the \
         same time would also show here):\n",
        left.len(),
        if left.len() == 1 { "y" } else { "ies" }
    );
    for (prefix, paths) in &groups {
        s.push_str(&format!(
            "  {prefix}*: {} entr{}\n",
            paths.len(),
            if paths.len() == 1 { "y" } else { "ies" }
        ));
        for p in paths.iter().take(5) {
            s.push_str(&format!("      {}\n", p.display()));
        }
        if paths.len() > 5 {
            s.push_str(&format!("      … and {} more\n", paths.len() - 5));
        }
        for hit in spellings(&sources, root, prefix).into_iter().take(5) {
            s.push_str(&format!("      made by? {hit}\n"));
        }
    }
    s
}

/// The part of a name before its first digit (where a pid or counter usually starts), without
/// a trailing `-`: `nono-sup-123-out-4` → `nono-sup`.
pub fn literal_prefix(name: &str) -> String {
    let end = name
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(name.len());
    name[..end].trim_end_matches('-').to_string()
}

/// `file:line` of the source lines holding `"<needle>-` or `"<needle>` followed by `{`
/// (a format string that makes such names).
fn spellings(sources: &[PathBuf], root: &Path, needle: &str) -> Vec<String> {
    if needle.len() < "nono-".len() {
        return Vec::new();
    }
    let quoted = [
        format!("\"{needle}-"),
        format!("\"{needle}{{"),
        format!("/{needle}-"),
    ];
    let mut out = Vec::new();
    for f in sources {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            if quoted.iter().any(|q| line.contains(q.as_str())) {
                let rel = f.strip_prefix(root).unwrap_or(f);
                out.push(format!("{}:{}", rel.display(), n + 1));
            }
        }
    }
    out
}

/// The workspace's Rust files (crates, tests, xtask).
fn rust_sources(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => walk(&p, out),
                Ok(t) if t.is_file() && p.extension().is_some_and(|x| x == "rs") => out.push(p),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    for d in ["crates", "tests", "xtask"] {
        walk(&root.join(d), &mut out);
    }
    // This file's own test names every kind of name.
    out.retain(|p| !p.ends_with("xtask/src/litter.rs"));
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;

    #[test]
    fn a_name_s_literal_prefix_ends_before_the_pid() {
        assert_eq!(literal_prefix("nono-sup-123-out-4"), "nono-sup");
        assert_eq!(literal_prefix("nono-deny-alias-77"), "nono-deny-alias");
        assert_eq!(literal_prefix("nono-ptrust-x-9"), "nono-ptrust-x");
        assert_eq!(literal_prefix("nono-gaps"), "nono-gaps");
    }

    /// Only new entries with the watched prefix count; one that was there before, or another
    /// tool's, does not; the report names the source line that spells the name.
    #[test]
    fn new_prefixed_entries_are_reported_with_their_source() {
        let d = Scratch::new(&format!("nono-litter-{}", std::process::id()));
        let watched = vec![(d.to_path_buf(), "nono-")];
        std::fs::create_dir(d.join("nono-old-1")).unwrap();
        let before = Snapshot::take(&watched);
        std::fs::create_dir(d.join("nono-sup-42-out-0")).unwrap();
        std::fs::write(d.join("nono-deny-alias-42"), "").unwrap();
        std::fs::write(d.join("other-42"), "").unwrap();
        let left = Snapshot::take(&watched).new_since(&before);
        assert_eq!(
            left,
            [d.join("nono-deny-alias-42"), d.join("nono-sup-42-out-0")]
        );
        let root = crate::workspace_root();
        let text = report(&root, &left);
        assert!(
            text.contains("crates/nono-supervisor/tests/supervisor/harness.rs:"),
            "{text}"
        );
        assert!(
            text.contains("crates/nono-policy/src/deny_groups.rs:"),
            "{text}"
        );
        assert!(text.contains("  nono-sup*: 1 entry\n"), "{text}");
        assert!(!text.contains("litter.rs"), "{text}");
    }
}

//! The module-acyclicity check: inside each crate, the top-level modules must form a DAG.
//!
//! Nodes are the crate root's direct child modules (`src/x.rs`, `src/x/mod.rs`); a module's
//! submodules (`src/x/y.rs`, inline `mod y { … }`) count as part of it, so `x::y` using
//! `x` is no edge, while `x::y` using `crate::z` is an edge `x → z`. `#[cfg(test)]`
//! modules are left out: nothing can depend on them, so they can never close a real cycle.
//! Edges come from `crate::…`, `super::…` and `self::…` paths anywhere in the code (in `use`
//! trees, `{…}` groups included, and in fully qualified paths); comments and string literals
//! are ignored. A name the root re-exports (`pub use x::Item;` in `lib.rs`) counts as `x`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// One reference from a module to another: where it was seen.
#[derive(Debug, Clone)]
struct Edge {
    file: PathBuf,
    line: usize,
}

/// Module cycles in every crate under `crates/` and in `xtask/`, one line per cycle.
pub fn module_cycles(root: &Path) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let mut src_dirs = Vec::new();
    if let Ok(entries) = std::fs::read_dir(root.join("crates")) {
        for e in entries.flatten() {
            src_dirs.push(e.path().join("src"));
        }
    }
    src_dirs.push(root.join("xtask/src"));
    src_dirs.sort();
    for src in src_dirs.iter().filter(|s| s.is_dir()) {
        let crate_name = src
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        problems.extend(crate_cycles(&crate_name, src, root)?);
    }
    Ok(problems)
}

/// Module cycles of one crate whose sources are in `src`; paths in messages are relative to
/// `shown_from`.
pub fn crate_cycles(crate_name: &str, src: &Path, shown_from: &Path) -> Result<Vec<String>> {
    let roots: Vec<PathBuf> = ["lib.rs", "main.rs"]
        .iter()
        .map(|r| src.join(r))
        .filter(|p| p.is_file())
        .collect();
    // The nodes: top-level modules found on disk.
    let mut modules = BTreeSet::new();
    for e in std::fs::read_dir(src).with_context(|| format!("reading {}", src.display()))? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if e.file_type()?.is_dir() {
            if name != "bin" {
                modules.insert(name);
            }
        } else if let Some(stem) = name.strip_suffix(".rs") {
            if stem != "lib" && stem != "main" {
                modules.insert(stem.to_string());
            }
        }
    }
    // Names the root re-exports from a module: `pub use x::…::Name;` / `pub use x::{A, B};`.
    let mut reexports: BTreeMap<String, String> = BTreeMap::new();
    for r in &roots {
        let text = strip(&std::fs::read_to_string(r)?);
        for stmt in text.split(';') {
            let Some(i) = stmt.find("pub use ") else {
                continue;
            };
            let path = stmt[i + "pub use ".len()..].trim();
            let path = path.strip_prefix("crate::").unwrap_or(path);
            let Some((first, _)) = path.split_once("::") else {
                continue;
            };
            if !modules.contains(first.trim()) {
                continue;
            }
            for name in path
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .filter(|n| !n.is_empty())
            {
                reexports
                    .entry(name.to_string())
                    .or_insert_with(|| first.trim().to_string());
            }
        }
    }

    // Edges between top-level modules, with the first place each was seen.
    let mut edges: BTreeMap<(String, String), Edge> = BTreeMap::new();
    let mut files = Vec::new();
    collect_rs(src, &mut files)?;
    let test_files = test_module_files(&files)?;
    for file in &files {
        if roots.contains(file) || test_files.contains(file) {
            continue;
        }
        let rel = file.strip_prefix(src).unwrap_or(file);
        if rel.starts_with("bin") {
            continue;
        }
        let mod_path = module_path(rel);
        let Some(own) = mod_path.first().cloned() else {
            continue;
        };
        let text = remove_test_modules(&strip(&std::fs::read_to_string(file)?));
        for (line, inline_mods, path) in references(&text) {
            let mut here: Vec<String> = mod_path.clone();
            here.extend(inline_mods);
            let Some(target) = resolve(&here, &path, &modules, &reexports) else {
                continue;
            };
            if target != own {
                edges.entry((own.clone(), target)).or_insert(Edge {
                    file: file.strip_prefix(shown_from).unwrap_or(file).to_path_buf(),
                    line,
                });
            }
        }
    }

    let mut problems = Vec::new();
    for (cycle, knot) in cycles(&modules, &edges) {
        let mut steps = Vec::new();
        for pair in cycle.windows(2) {
            let e = &edges[&(pair[0].clone(), pair[1].clone())];
            steps.push(format!(
                "{} → {} ({}:{})",
                pair[0],
                pair[1],
                e.file.display(),
                e.line
            ));
        }
        let knot: Vec<&str> = knot.iter().map(String::as_str).collect();
        problems.push(format!(
            "module cycle in `{crate_name}` (modules {}): {}: move what they share into a module below them",
            knot.join(", "),
            steps.join(", ")
        ));
    }
    Ok(problems)
}

/// `broker/metadata.rs` → `[broker, metadata]`; `profile/mod.rs` → `[profile]`.
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.pop() {
        let stem = last.strip_suffix(".rs").unwrap_or(&last).to_string();
        if stem != "mod" {
            parts.push(stem);
        }
    }
    parts
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        if e.file_type()?.is_dir() {
            collect_rs(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    Ok(())
}

/// Files declared as `#[cfg(test)] mod name;` (and everything below them).
fn test_module_files(files: &[PathBuf]) -> Result<BTreeSet<PathBuf>> {
    let mut dirs = Vec::new();
    for f in files {
        let text = strip(&std::fs::read_to_string(f)?);
        let dir = match f.file_name().and_then(|n| n.to_str()) {
            Some("mod.rs" | "lib.rs" | "main.rs") => f.parent().map(Path::to_path_buf),
            _ => Some(f.with_extension("")),
        };
        let Some(dir) = dir else { continue };
        let mut rest = text.as_str();
        while let Some(i) = rest.find("#[cfg(test)]") {
            rest = &rest[i + "#[cfg(test)]".len()..];
            let decl = skip_attributes(rest);
            let decl = decl.strip_prefix("pub ").unwrap_or(decl).trim_start();
            if let Some(after) = decl.strip_prefix("mod ") {
                let name: String = after
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if after[name.len()..].trim_start().starts_with(';') {
                    dirs.push(dir.join(&name));
                }
            }
        }
    }
    Ok(files
        .iter()
        .filter(|f| {
            dirs.iter()
                .any(|d| f.with_extension("") == *d || f.starts_with(d))
        })
        .cloned()
        .collect())
}

fn skip_attributes(mut s: &str) -> &str {
    loop {
        s = s.trim_start();
        if s.starts_with("#[") {
            match s.find(']') {
                Some(i) => s = &s[i + 1..],
                None => return s,
            }
        } else {
            return s;
        }
    }
}

/// Blank out comments, string and char literals (keeping newlines, so line numbers hold).
fn strip(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && (i == 0 || !(b[i - 1].is_alphanumeric() || b[i - 1] == '_'))
        {
            // Raw string r"…" / r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            while j < b.len() {
                if b[j] == '"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            for &ch in &b[i..j.min(b.len())] {
                out.push(blank(ch));
            }
            i = j;
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < b.len() {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            let end = if next == Some('\\') {
                (i + 3..b.len().min(i + 12)).find(|&k| b[k] == '\'')
            } else if b.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(e) => {
                    for _ in i..=e {
                        out.push(' ');
                    }
                    i = e + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Blank out `#[cfg(test)] mod name { … }` blocks.
fn remove_test_modules(text: &str) -> String {
    let mut out: Vec<char> = text.chars().collect();
    let mut from = 0;
    loop {
        let s: String = out[from..].iter().collect();
        let Some(rel) = s.find("#[cfg(test)]") else {
            break;
        };
        // Char index of the attribute.
        let start = from + s[..rel].chars().count();
        let after_attr: String = out[start + "#[cfg(test)]".len()..].iter().collect();
        let decl = skip_attributes(&after_attr);
        let decl = decl.strip_prefix("pub ").unwrap_or(decl).trim_start();
        let is_block = decl.strip_prefix("mod ").is_some_and(|d| {
            let name_len = d
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .count();
            d[name_len..].trim_start().starts_with('{')
        });
        if !is_block {
            from = start + 1;
            continue;
        }
        let open = out[start..]
            .iter()
            .position(|&c| c == '{')
            .map(|p| start + p)
            .unwrap_or(out.len());
        let mut depth = 0;
        let mut end = out.len();
        for (k, &c) in out.iter().enumerate().skip(open) {
            if c == '{' {
                depth += 1;
            } else if c == '}' {
                depth -= 1;
                if depth == 0 {
                    end = k + 1;
                    break;
                }
            }
        }
        for c in &mut out[start..end] {
            if *c != '\n' {
                *c = ' ';
            }
        }
        from = end;
    }
    out.into_iter().collect()
}

/// Every `crate::`/`super::`/`self::` path: (line, enclosing inline modules, path segments).
/// A `{a, b::c}` group yields one path per member (`[.., a]`, `[.., b, c]`).
fn references(text: &str) -> Vec<(usize, Vec<String>, Vec<String>)> {
    let b: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut depth = 0usize;
    // Inline `mod name {` blocks: (name, brace depth inside).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut pending_mod: Option<String> = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == '\n' {
            line += 1;
            i += 1;
            continue;
        }
        if c == '{' {
            depth += 1;
            if let Some(name) = pending_mod.take() {
                inline.push((name, depth));
            }
            i += 1;
            continue;
        }
        if c == '}' {
            if inline.last().is_some_and(|(_, d)| *d == depth) {
                inline.pop();
            }
            depth = depth.saturating_sub(1);
            i += 1;
            continue;
        }
        if c == ';' {
            pending_mod = None;
        }
        if !(c.is_alphabetic() || c == '_')
            || (i > 0 && is_ident(b[i - 1]))
            || (i > 0 && b[i - 1] == '$')
        {
            i += 1;
            continue;
        }
        let word: String = b[i..].iter().take_while(|&&c| is_ident(c)).collect();
        let after = i + word.chars().count();
        if word == "mod" {
            let rest: String = b[after..].iter().take(200).collect();
            let name: String = rest
                .trim_start()
                .chars()
                .take_while(|&c| is_ident(c))
                .collect();
            pending_mod = Some(name);
            i = after;
            continue;
        }
        if matches!(word.as_str(), "crate" | "super" | "self")
            && (i < 2 || !(b[i - 1] == ':' && b[i - 2] == ':'))
        {
            let start_line = line;
            let (paths, end) = parse_path(&b, i);
            let mods: Vec<String> = inline.iter().map(|(n, _)| n.clone()).collect();
            for p in paths {
                out.push((start_line, mods.clone(), p));
            }
            for &ch in &b[i..end] {
                if ch == '\n' {
                    line += 1;
                }
            }
            i = end.max(after);
            continue;
        }
        i = after;
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Parse a path starting at `i` (`a::b::{c, d::e}`); returns the expanded paths and the end.
fn parse_path(b: &[char], mut i: usize) -> (Vec<Vec<String>>, usize) {
    let mut segs = Vec::new();
    loop {
        while b.get(i).is_some_and(|c| c.is_whitespace()) {
            i += 1;
        }
        if b.get(i) == Some(&'{') {
            // A group: split at top-level commas.
            let mut paths = Vec::new();
            i += 1;
            loop {
                while b.get(i).is_some_and(|c| c.is_whitespace() || *c == ',') {
                    i += 1;
                }
                match b.get(i) {
                    None => break,
                    Some('}') => {
                        i += 1;
                        break;
                    }
                    Some(c) if is_ident(*c) || *c == '{' => {
                        let (sub, end) = parse_path(b, i);
                        for s in sub {
                            let mut p = segs.clone();
                            p.extend(s);
                            paths.push(p);
                        }
                        i = end.max(i + 1);
                        // Skip `as x` and anything else up to the next `,`/`}`.
                        while b.get(i).is_some_and(|c| *c != ',' && *c != '}') {
                            i += 1;
                        }
                    }
                    Some(_) => i += 1,
                }
            }
            return (paths, i);
        }
        let word: String = b[i.min(b.len())..]
            .iter()
            .take_while(|&&c| is_ident(c))
            .collect();
        if word.is_empty() {
            if b.get(i) == Some(&'*') {
                i += 1;
            }
            return (vec![segs], i);
        }
        i += word.chars().count();
        segs.push(word);
        let mut j = i;
        while b.get(j).is_some_and(|c| c.is_whitespace()) {
            j += 1;
        }
        if b.get(j) == Some(&':') && b.get(j + 1) == Some(&':') {
            i = j + 2;
        } else {
            return (vec![segs], i);
        }
    }
}

/// The top-level module a path seen in module `here` points into, if another module.
fn resolve(
    here: &[String],
    path: &[String],
    modules: &BTreeSet<String>,
    reexports: &BTreeMap<String, String>,
) -> Option<String> {
    let mut abs: Vec<String> = Vec::new();
    let mut rest = path;
    match path.first().map(String::as_str) {
        Some("crate") => rest = &path[1..],
        Some("self") => {
            abs.extend_from_slice(here);
            rest = &path[1..];
        }
        Some("super") => {
            let ups = path.iter().take_while(|s| *s == "super").count();
            abs.extend_from_slice(&here[..here.len().saturating_sub(ups)]);
            rest = &path[ups..];
        }
        _ => {}
    }
    abs.extend(rest.iter().cloned());
    let first = abs.first()?;
    if modules.contains(first) {
        Some(first.clone())
    } else {
        reexports.get(first).cloned()
    }
}

/// Each strongly connected component with more than one module: a closed walk
/// `a → b → … → a` through it, and all its modules.
fn cycles(
    modules: &BTreeSet<String>,
    edges: &BTreeMap<(String, String), Edge>,
) -> Vec<(Vec<String>, BTreeSet<String>)> {
    let succ = |m: &str| -> Vec<String> {
        edges
            .keys()
            .filter(|(a, _)| a == m)
            .map(|(_, b)| b.clone())
            .collect()
    };
    let reach = |from: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.to_string()];
        while let Some(m) = stack.pop() {
            for n in succ(&m) {
                if seen.insert(n.clone()) {
                    stack.push(n);
                }
            }
        }
        seen
    };
    let reachable: BTreeMap<String, BTreeSet<String>> =
        modules.iter().map(|m| (m.clone(), reach(m))).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for m in modules {
        if done.contains(m) || !reachable[m].contains(m) {
            continue;
        }
        let scc: BTreeSet<String> = modules
            .iter()
            .filter(|n| reachable[m].contains(*n) && reachable[*n].contains(m))
            .cloned()
            .collect();
        done.extend(scc.iter().cloned());
        // Shortest walk m → … → m inside the component (breadth first).
        let mut prev: BTreeMap<String, String> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([m.clone()]);
        'bfs: while let Some(x) = queue.pop_front() {
            for n in succ(&x) {
                if !scc.contains(&n) {
                    continue;
                }
                if n == *m {
                    prev.insert(format!("{m}\0end"), x);
                    break 'bfs;
                }
                if !prev.contains_key(&n) {
                    prev.insert(n.clone(), x.clone());
                    queue.push_back(n);
                }
            }
        }
        let mut walk = vec![m.clone()];
        let mut at = prev[&format!("{m}\0end")].clone();
        while at != *m {
            walk.push(at.clone());
            at = prev[&at].clone();
        }
        walk.push(m.clone());
        walk.reverse();
        out.push((walk, scc));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;

    fn planted(files: &[(&str, &str)]) -> (PathBuf, Vec<String>) {
        let dir = Scratch::new(&format!(
            "nono-tidy-modules-{}-{}",
            std::process::id(),
            files.len()
        ));
        for (path, text) in files {
            let p = dir.join("src").join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let problems = crate_cycles("planted", &dir.join("src"), &dir).unwrap();
        (dir.to_path_buf(), problems)
    }

    #[test]
    fn a_planted_cycle_fails() {
        let (_, problems) = planted(&[
            ("lib.rs", "//! root\nmod a;\nmod b;\nmod c;\npub use c::Thing;\n"),
            ("a.rs", "//! a\nuse crate::{c, b::B};\npub struct A;\n"),
            (
                "b.rs",
                "//! b\n// crate::a in a comment is no edge\npub struct B;\nfn f() -> super::a::A { crate::a::A }\n",
            ),
            ("c.rs", "//! c\npub struct Thing;\n"),
        ]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("a → b"), "{problems:?}");
        assert!(problems[0].contains("b → a"), "{problems:?}");
        assert!(problems[0].contains("src/b.rs:4"), "{problems:?}");
    }

    #[test]
    fn submodules_tests_comments_and_reexports() {
        // x/y.rs using `super::` stays inside x; a #[cfg(test)] module may use anything;
        // a name re-exported by the root counts as its module (here: a cycle through it).
        let (_, problems) = planted(&[
            ("lib.rs", "//! root\nmod x;\nmod z;\npub use z::Zed;\n"),
            (
                "x.rs",
                "//! x\nmod y;\n#[cfg(test)]\nmod tests {\n    use crate::z::Zed;\n}\n#[cfg(test)]\nmod more;\nlet s = \"crate::z\";\n",
            ),
            (
                "x/y.rs",
                "//! y\nuse super::super::x;\nuse super::Q;\n",
            ),
            ("x/more.rs", "//! test file\nuse crate::z;\n"),
            // z uses x: any x → z edge counted above would close a cycle.
            ("z.rs", "//! z\nuse crate::x;\npub struct Zed;\n"),
        ]);
        assert!(problems.is_empty(), "{problems:?}");
        let (_, problems) = planted(&[
            ("lib.rs", "//! root\nmod x;\nmod z;\npub use z::Zed;\n"),
            ("x.rs", "//! x\nmod y;\n"),
            // Char literals and lifetimes do not hide what follows them.
            (
                "x/y.rs",
                "//! y\nconst C: [char; 3] = ['\\'', '\"', '{'];\nfn f<'a>(_: &'a crate::Zed) {}\n",
            ),
            ("z.rs", "//! z\nuse crate::x;\n"),
        ]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("x → z (") && problems[0].contains("src/x/y.rs:3"));
    }
}

//! Architecture checks run as ordinary tests: layer arrows (from `cargo metadata`), no module
//! cycles inside a crate (`module_cycles`), the `//!` header every `.rs` file must start
//! with, and the unsafe allow-list.

mod module_cycles;

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// The layer of every workspace crate. A crate may depend only on crates of a strictly lower
/// layer (docs/ARCHITECTURE.md). Tooling crates sit above everything and nobody may use them.
pub const LAYERS: &[(&str, u8)] = &[
    ("nono-wire", 0),
    ("nono-scratch", 0),
    ("nono-transport", 1),
    ("nono-sandbox", 1),
    ("nono-proxy", 1),
    ("nono-client", 2),
    ("nono-policy", 2),
    ("nono-supervisor", 3),
    ("nono-cli", 4),
    ("nono-e2e", 9),
    ("xtask", 9),
];

/// All problems found, one line each; empty when the tree is tidy.
pub fn check(root: &Path) -> Result<Vec<String>> {
    let out = crate::cargo()
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root)
        .output()
        .context("cannot run cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("cargo metadata output")?;
    let mut problems = layer_violations(&meta);
    problems.extend(missing_headers(root)?);
    problems.extend(unsafe_violations(root, UNSAFE_ALLOWED)?);
    problems.extend(module_cycles::module_cycles(root)?);
    Ok(problems)
}

/// Dependency arrows that point sideways or upward, from `cargo metadata` JSON.
pub fn layer_violations(meta: &serde_json::Value) -> Vec<String> {
    let layers: BTreeMap<&str, u8> = LAYERS.iter().copied().collect();
    let mut problems = Vec::new();
    let Some(packages) = meta["packages"].as_array() else {
        return vec!["cargo metadata has no `packages` array".into()];
    };
    let names: Vec<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    for pkg in packages {
        let name = pkg["name"].as_str().unwrap_or("?");
        let Some(&layer) = layers.get(name) else {
            problems.push(format!(
                "crate `{name}` has no layer: add it to LAYERS in xtask/src/tidy.rs and docs/ARCHITECTURE.md"
            ));
            continue;
        };
        for dep in pkg["dependencies"].as_array().into_iter().flatten() {
            let dep_name = dep["name"].as_str().unwrap_or("?");
            if !names.contains(&dep_name) {
                continue; // third-party crate
            }
            let dep_layer = layers.get(dep_name).copied().unwrap_or(u8::MAX);
            if dep_layer >= layer {
                let kind = dep["kind"].as_str().unwrap_or("normal");
                problems.push(format!(
                    "`{name}` (layer {layer}) depends on `{dep_name}` (layer {dep_layer}, {kind} dependency): \
                     a crate may only depend on lower layers"
                ));
            }
        }
    }
    problems
}

/// `.rs` files (outside `target/`) whose first line is not a `//!` doc comment.
pub fn missing_headers(root: &Path) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for top in ["crates", "xtask", "tests", "fuzz"] {
        walk(&root.join(top), &mut |path| {
            if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                if !text.starts_with("//!") {
                    problems.push(format!(
                        "{}: must start with a `//!` line saying what the file owns",
                        path.strip_prefix(root).unwrap_or(path).display()
                    ));
                }
            }
            Ok(())
        })?;
    }
    Ok(problems)
}

/// Every file allowed to contain `unsafe` (or `allow(unsafe_code)`), per crate directory:
/// the crate's path from the workspace root and its files relative to that. Each wraps a
/// call no safe wrapper (std, rustix) offers; see the file's `//!` header. A crate not listed
/// here must forbid unsafe code; a listed one must at least deny it, so the compiler refuses
/// `unsafe` in any other file.
pub const UNSAFE_ALLOWED: &[(&str, &[&str])] = &[
    (
        "crates/nono-sandbox",
        &[
            // seccomp(2), the notify ioctls: no rustix wrapper.
            "src/linux/seccomp/sys.rs",
            // process_vm_readv(2): no rustix wrapper.
            "src/linux/seccomp/procmem.rs",
            // landlock_add_rule(2) without the crate's second fstat per rule: no rustix wrapper.
            "src/linux/landlock_rule.rs",
            // pre_exec, and rustix's unshare (unsafe: it can split the fd table).
            "src/linux/apply.rs",
            // close_range, fcntl on fds nothing owns (the inherited ones `nono wrap` marks).
            "src/linux/fds.rs",
            // pthread_setaffinity_np: std's threads have no kernel id to give rustix.
            "src/linux/thread_cpu.rs",
            // mallopt(3): glibc's own, no rustix wrapper; madvise of memory a Vec owns.
            "src/linux/heap.rs",
            // sandbox_init(3) on macOS.
            "src/seatbelt/apply.rs",
            // raw seccomp programs and notification loops, tests and benches only.
            "tests/sandbox/seccomp.rs",
            "benches/seccomp_notify.rs",
        ],
    ),
    (
        "crates/nono-client",
        &[
            // taking the fd named by NONO_SUPERVISOR_FD: no safe way from a number to an owned fd.
            "src/inherited.rs",
        ],
    ),
    (
        "crates/nono-supervisor",
        &[
            // pre_exec, close_range, sigaction.
            "src/os.rs",
            // the run's init: fork, prctl, signal, waitpid, _exit.
            "src/init.rs",
            // setfsuid/setfsgid for acting as the child: no rustix wrapper.
            "src/broker/as_child.rs",
            // file_setattr(2): no rustix wrapper.
            "src/broker/metadata/change.rs",
            // connect/sendto with the child's raw address bytes, SO_PEERCRED (rustix's Pid
            // cannot hold the kernel's 0), SO_PEERPIDFD (no rustix wrapper).
            "src/broker/unix_socket.rs",
            // fcntl(F_SETOWN) with a process group: no rustix wrapper.
            "src/leftovers.rs",
        ],
    ),
];

/// Where `unsafe` appears outside the allow-list, listed files that no longer need it, and
/// crates that do not make the compiler enforce the list (`unsafe_code` forbidden where a
/// crate has no listed file, at least denied where it has).
pub fn unsafe_violations(root: &Path, allowed: &[(&str, &[&str])]) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let workspace_forbids = read_lints(&root.join("Cargo.toml"), "workspace.lints.rust")?
        .is_some_and(|l| l == "forbid");
    let mut crates = Vec::new();
    for top in ["crates", "fuzz"] {
        if let Ok(entries) = std::fs::read_dir(root.join(top)) {
            for e in entries.flatten() {
                if e.path().join("Cargo.toml").is_file() {
                    crates.push(e.path());
                }
            }
        }
    }
    for dir in ["xtask", "tests", "fuzz"] {
        if root.join(dir).join("Cargo.toml").is_file() {
            crates.push(root.join(dir));
        }
    }
    crates.sort();
    for (listed, _) in allowed {
        if !crates
            .iter()
            .any(|c| c.strip_prefix(root).is_ok_and(|p| p == Path::new(listed)))
        {
            problems.push(format!(
                "UNSAFE_ALLOWED in xtask/src/tidy.rs names `{listed}`, which is not a crate"
            ));
        }
    }
    for krate in &crates {
        let rel = krate.strip_prefix(root).unwrap_or(krate);
        let files: &[&str] = allowed
            .iter()
            .find(|(c, _)| Path::new(c) == rel)
            .map_or(&[], |(_, f)| f);
        let mut seen = Vec::new();
        walk(krate, &mut |path| {
            if path.extension().is_none_or(|e| e != "rs")
                || path
                    .strip_prefix(krate)
                    .is_ok_and(|p| p.starts_with("fuzz"))
                    && krate.as_path() != root.join("fuzz")
            {
                return Ok(());
            }
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let Some(line) = first_unsafe_line(&text) else {
                return Ok(());
            };
            let in_crate = path.strip_prefix(krate).unwrap_or(path);
            if files.iter().any(|f| Path::new(f) == in_crate) {
                seen.push(in_crate.to_path_buf());
            } else {
                problems.push(format!(
                    "{}:{line}: `unsafe` outside the allow-list: use a safe wrapper (std, rustix), \
                     or move the call into a file listed in UNSAFE_ALLOWED (xtask/src/tidy.rs) \
                     with a // SAFETY: comment",
                    path.strip_prefix(root).unwrap_or(path).display()
                ));
            }
            Ok(())
        })?;
        for f in files {
            if !seen.iter().any(|s| s == Path::new(f)) {
                problems.push(format!(
                    "{}/{f} is in UNSAFE_ALLOWED (xtask/src/tidy.rs) but has no `unsafe`: \
                     remove it from the list",
                    rel.display()
                ));
            }
        }
        // The fuzz crate (a workspace of its own, built by cargo-fuzz) gets the file scan
        // only: `fuzz_target!` expands to a `#[no_mangle]` function, which `unsafe_code`
        // flags, so it cannot forbid the lint.
        if krate.as_path() == root.join("fuzz") {
            continue;
        }
        let level = crate_unsafe_level(krate, workspace_forbids)?;
        let ok = if files.is_empty() {
            level.as_deref() == Some("forbid")
        } else {
            matches!(level.as_deref(), Some("forbid" | "deny"))
        };
        if !ok {
            let want = if files.is_empty() { "forbid" } else { "deny" };
            problems.push(format!(
                "{}: unsafe_code is {} but must be `{want}` (its Cargo.toml `[lints]`, or \
                 `#![{want}(unsafe_code)]` in the crate root){}",
                rel.display(),
                level.map_or("not restricted".to_owned(), |l| format!("`{l}`")),
                if files.is_empty() {
                    ": the crate has no file in UNSAFE_ALLOWED"
                } else {
                    ""
                }
            ));
        }
    }
    Ok(problems)
}

/// How a crate restricts `unsafe_code`: the strictest of its `Cargo.toml` lints (its own
/// `[lints.rust]`, or the workspace's with `[lints] workspace = true`) and a
/// `#![forbid/deny(unsafe_code)]` in `src/lib.rs` or `src/main.rs`.
fn crate_unsafe_level(krate: &Path, workspace_forbids: bool) -> Result<Option<String>> {
    let manifest = krate.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("reading {}", manifest.display()))?;
    let mut levels = Vec::new();
    if let Some(l) = read_lints(&manifest, "lints.rust")? {
        levels.push(l);
    }
    let uses_workspace =
        section_lines(&text, "lints").any(|(k, v)| k == "workspace" && v == "true");
    if uses_workspace && workspace_forbids {
        levels.push("forbid".into());
    }
    for root in ["src/lib.rs", "src/main.rs"] {
        let Ok(src) = std::fs::read_to_string(krate.join(root)) else {
            continue;
        };
        for l in ["forbid", "deny"] {
            if src.contains(&format!("#![{l}(unsafe_code)]")) {
                levels.push(l.into());
            }
        }
    }
    Ok(["forbid", "deny"]
        .into_iter()
        .find(|l| levels.iter().any(|x| x == l))
        .map(str::to_owned))
}

/// `unsafe_code = "LEVEL"` in the `[section]` of a TOML file, if set.
fn read_lints(manifest: &Path, section: &str) -> Result<Option<String>> {
    let text = std::fs::read_to_string(manifest)
        .with_context(|| format!("reading {}", manifest.display()))?;
    let level = section_lines(&text, section)
        .find(|(k, _)| *k == "unsafe_code")
        .map(|(_, v)| v.trim_matches('"').to_owned());
    Ok(level)
}

/// The `key = value` lines of one `[section]` of a TOML file (enough TOML for Cargo.toml's
/// lint tables).
fn section_lines<'a>(text: &'a str, section: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
    let mut inside = false;
    text.lines().filter_map(move |line| {
        let line = line.split('#').next().unwrap_or("").trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.trim() == section;
            return None;
        }
        if !inside {
            return None;
        }
        let (k, v) = line.split_once('=')?;
        Some((k.trim(), v.trim()))
    })
}

/// The 1-based line of the first `unsafe` keyword or `unsafe_code` allowance in Rust source,
/// ignoring comments, string and char literals.
pub fn first_unsafe_line(src: &str) -> Option<usize> {
    let code = strip_comments_and_literals(src);
    let bytes = code.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut from = 0;
    while let Some(i) = code[from..].find("unsafe") {
        let at = from + i;
        let end = at + "unsafe".len();
        let before_ok = at == 0 || !is_ident(bytes[at - 1]);
        let after = &code[end..];
        let keyword = before_ok && after.bytes().next().is_none_or(|b| !is_ident(b));
        let allowance = before_ok
            && after.starts_with("_code")
            && code[..at].trim_end().ends_with('(')
            && code[..at]
                .trim_end()
                .trim_end_matches('(')
                .ends_with("allow")
            && after["_code".len()..]
                .bytes()
                .next()
                .is_none_or(|b| !is_ident(b));
        if keyword || allowance {
            return Some(code[..at].matches('\n').count() + 1);
        }
        from = end;
    }
    None
}

/// `src` with comments, string literals (plain, byte, raw) and char literals blanked out to
/// spaces; newlines kept so line numbers stay right.
fn strip_comments_and_literals(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let blank = |out: &mut Vec<u8>, s: &[u8]| {
        out.extend(s.iter().map(|c| if *c == b'\n' { b'\n' } else { b' ' }));
    };
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        let prev_ident = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        if rest.starts_with(b"//") {
            let end = rest.iter().position(|c| *c == b'\n').unwrap_or(rest.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if rest.starts_with(b"/*") {
            let mut depth = 0usize;
            let mut j = 0;
            while j < rest.len() {
                if rest[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if rest[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, &rest[..j]);
            i += j;
        } else if !prev_ident
            && (rest.starts_with(b"r#") || rest.starts_with(b"r\"") || rest.starts_with(b"br"))
        {
            // Raw string: r"..", r#".."#, br#".."#.
            let start = usize::from(rest[0] == b'b') + 1;
            let hashes = rest[start..].iter().take_while(|c| **c == b'#').count();
            if rest.get(start + hashes) != Some(&b'"') {
                out.push(rest[0]);
                i += 1;
                continue;
            }
            let mut close = vec![b'"'];
            close.extend(std::iter::repeat_n(b'#', hashes));
            let body = start + hashes + 1;
            let end = rest[body..]
                .windows(close.len())
                .position(|w| w == close.as_slice())
                .map_or(rest.len(), |p| body + p + close.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if rest[0] == b'"' {
            let mut j = 1;
            while j < rest.len() && rest[j] != b'"' {
                j += if rest[j] == b'\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(rest.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if rest[0] == b'\'' {
            // A char literal ('x', '\n', '\u{..}'), else a lifetime or label.
            let end = if rest.get(1) == Some(&b'\\') {
                rest[2..].iter().position(|c| *c == b'\'').map(|p| p + 3)
            } else {
                let ch = std::str::from_utf8(&rest[1..rest.len().min(6)])
                    .ok()
                    .or_else(|| std::str::from_utf8(&rest[1..rest.len().min(5)]).ok())
                    .or_else(|| std::str::from_utf8(&rest[1..rest.len().min(4)]).ok())
                    .or_else(|| std::str::from_utf8(&rest[1..rest.len().min(3)]).ok())
                    .and_then(|s| s.chars().next());
                ch.map(char::len_utf8)
                    .filter(|n| rest.get(1 + n) == Some(&b'\''))
                    .map(|n| n + 2)
            };
            match end {
                Some(end) => {
                    blank(&mut out, &rest[..end]);
                    i += end;
                }
                None => {
                    out.push(b'\'');
                    i += 1;
                }
            }
        } else {
            out.push(rest[0]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path) -> Result<()>) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        if entry.file_type()?.is_dir() {
            walk(&path, f)?;
        } else {
            f(&path)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;

    #[test]
    fn workspace_is_tidy() {
        let problems = check(&crate::workspace_root()).unwrap();
        assert!(
            problems.is_empty(),
            "tidy problems:\n  {}",
            problems.join("\n  ")
        );
    }

    fn meta(deps: &[(&str, &[&str])]) -> serde_json::Value {
        let packages: Vec<_> = deps
            .iter()
            .map(|(name, ds)| {
                serde_json::json!({
                    "name": name,
                    "dependencies": ds.iter().map(|d| serde_json::json!({"name": d, "kind": null})).collect::<Vec<_>>(),
                })
            })
            .collect();
        serde_json::json!({ "packages": packages })
    }

    #[test]
    fn a_wrong_arrow_fails() {
        // wire is layer 0; making it depend on the supervisor must be caught.
        let bad = meta(&[
            ("nono-wire", &["nono-supervisor", "serde"]),
            ("nono-supervisor", &[]),
        ]);
        let problems = layer_violations(&bad);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("`nono-wire` (layer 0) depends on `nono-supervisor`"));
    }

    #[test]
    fn a_sideways_arrow_fails() {
        let bad = meta(&[("nono-transport", &["nono-sandbox"]), ("nono-sandbox", &[])]);
        assert_eq!(layer_violations(&bad).len(), 1);
    }

    #[test]
    fn downward_arrows_pass_and_unknown_crates_fail() {
        let good = meta(&[
            (
                "nono-cli",
                &["nono-supervisor", "nono-sandbox", "nono-wire"],
            ),
            (
                "nono-supervisor",
                &["nono-transport", "nono-sandbox", "nono-wire"],
            ),
            ("nono-sandbox", &["nono-wire"]),
            ("nono-transport", &["nono-wire"]),
            ("nono-wire", &["serde"]),
        ]);
        assert!(layer_violations(&good).is_empty());
        let unknown = meta(&[("nono-extra", &[])]);
        assert!(layer_violations(&unknown)[0].contains("has no layer"));
    }

    #[test]
    fn a_file_without_header_fails() {
        let dir = Scratch::new(&format!("nono-tidy-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("crates/x/src")).unwrap();
        std::fs::write(dir.join("crates/x/src/lib.rs"), "//! fine\n").unwrap();
        std::fs::write(dir.join("crates/x/src/bad.rs"), "fn main() {}\n").unwrap();
        let problems = missing_headers(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("bad.rs"));
    }

    /// A throwaway workspace: a root Cargo.toml forbidding unsafe code and the given files.
    fn tree(name: &str, files: &[(&str, &str)]) -> Scratch {
        let dir = Scratch::new(&format!("nono-tidy-{name}-{}", std::process::id()));
        let mut all = vec![(
            "Cargo.toml",
            "[workspace]\n[workspace.lints.rust]\nunsafe_code = \"forbid\"\n",
        )];
        all.extend_from_slice(files);
        for (path, text) in all {
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        dir
    }

    const WS_LINTS: &str = "[package]\nname = \"x\"\n[lints]\nworkspace = true\n";
    const DENY_LINTS: &str = "[package]\nname = \"y\"\n[lints.rust]\nunsafe_code = \"deny\"\n";

    #[test]
    fn unsafe_outside_the_allow_list_fails() {
        let dir = tree(
            "unsafe",
            &[
                ("crates/x/Cargo.toml", WS_LINTS),
                ("crates/x/src/lib.rs", "//! x\nfn f() {}\n"),
                ("crates/y/Cargo.toml", DENY_LINTS),
                ("crates/y/src/lib.rs", "//! y\n"),
                ("crates/y/src/ok.rs", "//! ok\n#![allow(unsafe_code)]\nfn f() { unsafe { g() } }\n"),
                (
                    "crates/y/src/planted.rs",
                    "//! planted\n// unsafe in a comment\nconst S: &str = \"unsafe\";\n\nfn f() {\n    unsafe { g() }\n}\n",
                ),
            ],
        );
        let allowed: &[(&str, &[&str])] = &[("crates/y", &["src/ok.rs"])];
        let problems = unsafe_violations(&dir, allowed).unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("crates/y/src/planted.rs:6: `unsafe` outside"),
            "{problems:?}"
        );
        // The same tree with the file listed is clean.
        let allowed: &[(&str, &[&str])] = &[("crates/y", &["src/ok.rs", "src/planted.rs"])];
        assert_eq!(
            unsafe_violations(&dir, allowed).unwrap(),
            Vec::<String>::new()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_allowance_alone_and_a_stale_entry_fail() {
        let dir = tree(
            "allowance",
            &[
                ("crates/y/Cargo.toml", DENY_LINTS),
                ("crates/y/src/lib.rs", "//! y\n#![allow(unsafe_code)]\n"),
                ("crates/y/src/clean.rs", "//! clean\nfn unsafe_name() {}\n"),
            ],
        );
        let allowed: &[(&str, &[&str])] = &[("crates/y", &["src/clean.rs"])];
        let problems = unsafe_violations(&dir, allowed).unwrap();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].starts_with("crates/y/src/lib.rs:2:"),
            "{problems:?}"
        );
        assert!(
            problems[1].contains("src/clean.rs is in UNSAFE_ALLOWED"),
            "{problems:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_crate_without_listed_files_must_forbid_unsafe() {
        let dir = tree(
            "forbid",
            &[
                // Only denies (a module could `allow` it) and has no listed file.
                ("crates/y/Cargo.toml", DENY_LINTS),
                ("crates/y/src/lib.rs", "//! y\n"),
                // No lints at all, though listed.
                ("crates/z/Cargo.toml", "[package]\nname = \"z\"\n"),
                ("crates/z/src/lib.rs", "//! z\n#![allow(unsafe_code)]\n"),
                // Forbids in its root: fine.
                ("crates/w/Cargo.toml", "[package]\nname = \"w\"\n"),
                ("crates/w/src/lib.rs", "//! w\n#![forbid(unsafe_code)]\n"),
            ],
        );
        let allowed: &[(&str, &[&str])] = &[("crates/z", &["src/lib.rs"])];
        let problems = unsafe_violations(&dir, allowed).unwrap();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].starts_with("crates/y: unsafe_code is `deny` but must be `forbid`"),
            "{problems:?}"
        );
        assert!(
            problems[1].starts_with("crates/z: unsafe_code is not restricted but must be `deny`"),
            "{problems:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_lexer_skips_comments_strings_chars_and_raw_strings() {
        let src = "//! h\n/* unsafe /* nested */ unsafe */\nlet a = 'u'; let l: &'static str = r#\"unsafe \"# ;\nlet c = '\\''; let s = \"\\\"unsafe\";\nfn unsafe_thing() {}\nlet x = 1;\nunsafe fn f() {}\n";
        assert_eq!(first_unsafe_line(src), Some(7));
        assert_eq!(
            first_unsafe_line("//! h\nfn f<'a>(x: &'a u8) -> &'a u8 { x }\n"),
            None
        );
        assert_eq!(first_unsafe_line("#[allow( unsafe_code )]\n"), Some(1));
        assert_eq!(first_unsafe_line("#![deny(unsafe_code)]\n"), None);
    }
}

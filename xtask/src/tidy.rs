//! Architecture checks run as ordinary tests: layer arrows (from `cargo metadata`), no module
//! cycles inside a crate (`module_cycles`) and the `//!` header every `.rs` file must start with.

mod module_cycles;

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// The layer of every workspace crate. A crate may depend only on crates of a strictly lower
/// layer (docs/ARCHITECTURE.md). Tooling crates sit above everything and nobody may use them.
pub const LAYERS: &[(&str, u8)] = &[
    ("nono-wire", 0),
    ("nono-transport", 1),
    ("nono-sandbox", 1),
    ("nono-proxy", 1),
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
        let dir = std::env::temp_dir().join(format!("nono-tidy-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("crates/x/src")).unwrap();
        std::fs::write(dir.join("crates/x/src/lib.rs"), "//! fine\n").unwrap();
        std::fs::write(dir.join("crates/x/src/bad.rs"), "fn main() {}\n").unwrap();
        let problems = missing_headers(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("bad.rs"));
    }
}

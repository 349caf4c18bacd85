//! The user guide (docs/guide) documents every flag `--help` shows, links only to files that
//! exist once the guide is complete, and the README points at it with the install command.

use std::path::{Path, PathBuf};

use crate::harness::nono;

fn guide_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .join("docs/guide")
}

fn guide_text() -> String {
    let mut text = String::new();
    for e in std::fs::read_dir(guide_dir()).expect("docs/guide exists") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "md") {
            text.push_str(&std::fs::read_to_string(&p).expect("read guide page"));
        }
    }
    text
}

/// `--long` flags in a help text.
fn long_flags(help: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in help.split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']') {
        let Some(rest) = word.strip_prefix("--") else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if name.len() > 1 && name.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
            out.push(format!("--{name}"));
        }
    }
    out
}

#[test]
fn every_flag_in_help_is_documented_in_the_guide() {
    let text = guide_text();
    let scratch = std::env::temp_dir();
    let subcommands: &[&[&str]] = &[
        &[],
        &["run"],
        &["wrap"],
        &["shell"],
        &["why"],
        &["learn"],
        &["setup"],
        &["profile"],
        &["profile", "list"],
        &["profile", "show"],
        &["profile", "validate"],
        &["profile", "schema"],
        &["profile", "trust"],
        &["completion"],
        &["man"],
    ];
    let mut missing = Vec::new();
    for sub in subcommands {
        let mut args: Vec<&str> = sub.to_vec();
        args.push("--help");
        let out = nono(&scratch, &args);
        assert_eq!(out.code, Some(0), "nono {} --help\n{out}", sub.join(" "));
        for flag in long_flags(&out.stdout) {
            // Documented as `--flag` followed by a non-name character.
            let documented = text.match_indices(&flag).any(|(i, _)| {
                !text[i + flag.len()..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
            });
            if !documented {
                missing.push(format!("nono {} {flag}", sub.join(" ")));
            }
        }
    }
    missing.sort();
    missing.dedup();
    assert!(missing.is_empty(), "not in docs/guide: {missing:?}");
}

#[test]
fn every_subcommand_has_a_section() {
    let text = guide_text();
    for sub in [
        "run",
        "wrap",
        "why",
        "learn",
        "setup",
        "profile",
        "completion",
        "man",
    ] {
        assert!(
            text.contains(&format!("## `nono {sub}")),
            "docs/guide/flags.md has no section for `nono {sub}`"
        );
    }
}

#[test]
fn the_readme_links_the_guide_and_shows_the_install_command() {
    let root = guide_dir()
        .parent()
        .and_then(Path::parent)
        .expect("root")
        .to_path_buf();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README");
    assert!(readme.contains("docs/guide"), "README links the guide");
    assert!(
        readme.contains("cargo xtask install"),
        "README shows the install command (the static build)"
    );
    // The guide's install section names both: the static build and the plain one.
    let guide = std::fs::read_to_string(guide_dir().join("README.md")).expect("guide README");
    for line in [
        "cargo xtask install",
        "cargo install --locked --path crates/nono-cli",
    ] {
        assert!(
            guide.contains(line),
            "the guide's install section shows `{line}`"
        );
    }
}

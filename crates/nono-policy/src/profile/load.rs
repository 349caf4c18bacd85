//! Finding a profile (a built-in, `$XDG_CONFIG_HOME/nono/profiles/NAME.json` or a file) and
//! loading it: [`load`], [`load_file`], [`parse`]; the embedded built-ins and schema.

use std::path::{Path, PathBuf};

use super::extends::resolve;
use super::json_locator::json_path_at;
use super::{unique_keys, Profile, ProfileError, Vars};

/// The built-in profiles: name and JSON text.
const BUILTINS: &[(&str, &str)] = &[
    ("default", include_str!("builtin/default.json")),
    ("rust", include_str!("builtin/rust.json")),
    ("python", include_str!("builtin/python.json")),
    ("node", include_str!("builtin/node.json")),
];

/// The JSON Schema for profile files (draft 2020-12).
#[must_use]
pub fn schema() -> &'static str {
    include_str!("schema.json")
}

/// Names of the built-in profiles.
#[must_use]
pub fn list() -> Vec<&'static str> {
    BUILTINS.iter().map(|(n, _)| *n).collect()
}

/// The JSON text of a built-in profile.
#[must_use]
pub fn builtin_source(name: &str) -> Option<&'static str> {
    BUILTINS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Where a profile's text comes from.
pub(super) enum Source {
    Builtin(&'static str, &'static str),
    /// A file: the path as looked up (absolute) and where its symlinks lead.
    File {
        spelled: PathBuf,
        canonical: PathBuf,
    },
}

fn user_profile_dir() -> Option<PathBuf> {
    Vars::from_env().map(|v| v.xdg_config_home.join("nono/profiles"))
}

fn is_path_like(spec: &str) -> bool {
    spec.contains('/') || spec.ends_with(".json") || spec.starts_with('.')
}

/// Find `spec`: a path (relative to `base` when given), a built-in, or a user profile.
pub(super) fn locate(spec: &str, base: Option<&Path>) -> Result<(String, Source), ProfileError> {
    if is_path_like(spec) {
        let p = Path::new(spec);
        let p = match base {
            Some(b) if p.is_relative() => b.join(p),
            _ => p.to_path_buf(),
        };
        let canon = std::fs::canonicalize(&p).map_err(|source| ProfileError::Read {
            path: p.clone(),
            source,
        })?;
        let spelled = std::path::absolute(&p).unwrap_or_else(|_| canon.clone());
        return Ok((
            canon.display().to_string(),
            Source::File {
                spelled,
                canonical: canon,
            },
        ));
    }
    if let Some(text) = builtin_source(spec) {
        let name = BUILTINS
            .iter()
            .find(|(n, _)| *n == spec)
            .map_or("", |(n, _)| *n);
        return Ok((format!("built-in {spec}"), Source::Builtin(name, text)));
    }
    let dir = user_profile_dir();
    if let Some(d) = &dir {
        let p = d.join(format!("{spec}.json"));
        if let Ok(canon) = std::fs::canonicalize(&p) {
            return Ok((
                canon.display().to_string(),
                Source::File {
                    spelled: p,
                    canonical: canon,
                },
            ));
        }
    }
    Err(ProfileError::NotFound {
        name: spec.to_owned(),
        builtins: list().join(", "),
        user_dir: dir.map_or_else(
            || "$XDG_CONFIG_HOME/nono/profiles".to_owned(),
            |d| d.display().to_string(),
        ),
    })
}

/// Load a profile by built-in name, user profile name or file path, resolving `extends`,
/// and validate it.
pub fn load(name_or_path: &str) -> Result<Profile, ProfileError> {
    let mut chain = Vec::new();
    let profile = resolve(name_or_path, None, &mut chain)?;
    profile.validate()?;
    Ok(profile)
}

/// [`load`] a file: `path` is always read as a file, never looked up as a built-in or user
/// profile name (a bare `p.json` or `default` means `./p.json`, `./default`).
pub fn load_file(path: &Path) -> Result<Profile, ProfileError> {
    if path.components().count() > 1 {
        load(&path.display().to_string())
    } else {
        load(&format!("./{}", path.display()))
    }
}

/// Parse one profile's JSON text without resolving `extends` or validating. `file` names
/// the source in errors.
pub fn parse(text: &str, file: &str) -> Result<Profile, ProfileError> {
    let located = |e: serde_json::Error| {
        let (line, column) = (e.line(), e.column());
        let full = e.to_string();
        let suffix = format!(" at line {line} column {column}");
        let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
        ProfileError::Parse {
            file: file.to_owned(),
            line,
            column,
            field: json_path_at(text, line, column),
            message,
        }
    };
    // First every object's keys, then the types: a repeated key is an error even where the
    // typed parse would keep the last value (maps such as `groups`).
    serde_json::from_str::<unique_keys::UniqueKeys>(text).map_err(located)?;
    serde_json::from_str::<Profile>(text).map_err(located)
}

//! Paths in the plan's JSON (`--dry-run --json`). A path is a string: as it is when it is
//! UTF-8, else as the text plan shows it ([`nono_supervisor::escape::path`]: each byte that is
//! not UTF-8 as `\xNN`). serde's own `Path` serialisation fails on such a name, and a grant
//! path is whatever the user or a profile named.

use std::path::{Path, PathBuf};

use serde::ser::SerializeSeq as _;
use serde::Serializer;

/// The JSON string for `path`.
#[must_use]
pub fn path_string(path: &Path) -> String {
    match path.to_str() {
        Some(s) => s.to_owned(),
        None => nono_supervisor::escape::path(path),
    }
}

/// `#[serde(serialize_with = "json::path")]`.
pub fn path<S: Serializer>(path: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&path_string(path))
}

/// `#[serde(serialize_with = "json::paths")]`.
pub fn paths<S: Serializer>(paths: &[PathBuf], s: S) -> Result<S::Ok, S::Error> {
    let mut seq = s.serialize_seq(Some(paths.len()))?;
    for p in paths {
        seq.serialize_element(&path_string(p))?;
    }
    seq.end()
}

/// `#[serde(serialize_with = "json::opt_path")]`.
pub fn opt_path<S: Serializer>(path: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
    match path {
        Some(p) => s.serialize_some(&path_string(p)),
        None => s.serialize_none(),
    }
}

/// `#[serde(serialize_with = "json::opt_path_and")]`: a path with a text beside it.
pub fn opt_path_and<S: Serializer>(
    pair: &Option<(PathBuf, String)>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match pair {
        Some((p, text)) => s.serialize_some(&(path_string(p), text)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt as _;

    #[test]
    fn a_path_that_is_not_utf8_is_written_as_the_text_plan_shows_it() {
        let p = Path::new(OsStr::from_bytes(b"/tmp/a\xffb"));
        assert_eq!(path_string(p), "/tmp/a\\xffb");
        assert_eq!(path_string(Path::new("/tmp/é")), "/tmp/é");
    }
}

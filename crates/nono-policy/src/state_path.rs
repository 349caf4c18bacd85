//! Paths in nono's own state files (`trusted-profiles.jsonl`): written as a JSON string when
//! the path is UTF-8 (as every earlier version wrote them), and as an array of its bytes
//! otherwise, so that every path the kernel accepts round-trips exactly. serde's own
//! `PathBuf` refuses a path that is not UTF-8, and a lossy form would compare equal to another
//! path. Reading takes either form.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serializer};

#[derive(Deserialize)]
#[serde(untagged)]
enum Repr {
    Text(String),
    Bytes(Vec<u8>),
}

impl From<Repr> for PathBuf {
    fn from(r: Repr) -> PathBuf {
        match r {
            Repr::Text(t) => PathBuf::from(t),
            Repr::Bytes(b) => PathBuf::from(OsString::from_vec(b)),
        }
    }
}

/// `#[serde(with = "crate::state_path")]`.
pub(crate) fn serialize<S: Serializer>(path: &Path, s: S) -> Result<S::Ok, S::Error> {
    match path.to_str() {
        Some(text) => s.serialize_str(text),
        None => s.collect_seq(path.as_os_str().as_bytes()),
    }
}

/// `#[serde(with = "crate::state_path")]`.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
    Repr::deserialize(d).map(PathBuf::from)
}

/// The same for an optional path: `#[serde(with = "crate::state_path::option")]`.
pub(crate) mod option {
    use super::{Deserialize, Deserializer, Path, PathBuf, Repr, Serializer};

    /// `None` is `null` (callers skip it with `skip_serializing_if`).
    #[allow(clippy::ref_option)] // serde's `with` passes `&Option<T>`.
    pub(crate) fn serialize<S: Serializer>(
        path: &Option<PathBuf>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match path {
            Some(p) => super::serialize(Path::new(p), s),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<PathBuf>, D::Error> {
        Option::<Repr>::deserialize(d).map(|r| r.map(PathBuf::from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Line {
        #[serde(with = "crate::state_path")]
        path: PathBuf,
        #[serde(
            default,
            with = "crate::state_path::option",
            skip_serializing_if = "Option::is_none"
        )]
        spelled: Option<PathBuf>,
    }

    #[test]
    fn every_path_round_trips_and_utf8_is_written_as_before() {
        let odd = PathBuf::from(OsString::from_vec(b"/d\xff/p.json".to_vec()));
        for (path, spelled) in [
            (PathBuf::from("/a/b.json"), None),
            (odd.clone(), Some(odd.clone())),
            (PathBuf::from("/a/\u{e9}"), Some(PathBuf::from("/x"))),
        ] {
            let line = Line { path, spelled };
            let text = serde_json::to_string(&line).unwrap();
            assert_eq!(serde_json::from_str::<Line>(&text).unwrap(), line, "{text}");
        }
        assert_eq!(
            serde_json::to_string(&Line {
                path: "/a".into(),
                spelled: None
            })
            .unwrap(),
            r#"{"path":"/a"}"#
        );
        let text = serde_json::to_string(&Line {
            path: odd,
            spelled: None,
        })
        .unwrap();
        assert_eq!(text, r#"{"path":[47,100,255,47,112,46,106,115,111,110]}"#);
    }
}

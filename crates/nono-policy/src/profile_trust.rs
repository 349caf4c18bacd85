//! Profile files that a sandboxed run could have rewritten are used only as the user trusted
//! them.
//!
//! A profile given by path (`-p ./nono.json`, or reached through `extends`) can lie in a
//! directory that an earlier run could write ([`WriteHistory`]). A file changed after its
//! directory entered such a write grant — or reached through a symlink made after that — may
//! carry a sandboxed run's choice of grants into the next run, so it is used only when its
//! content at that path was trusted with `nono profile trust`: recorded in
//! `$XDG_STATE_HOME/nono/trusted-profiles.jsonl`, nono's own state, which the always-on `nono`
//! deny group keeps out of every run's reach. Like a file an editor rewrites, a profile the
//! user edits after such a run needs trusting again; one no run could have written does not.
//!
//! Independently of the history, a profile file must belong to the user or root and must
//! not be writable by others.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub use crate::digest::sha256_hex;
use crate::planted::{links_on, WriteHistory};
use crate::profile::ProfileFile;

/// Why a profile file is not used as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Untrusted {
    /// It belongs to someone other than the user and root.
    ForeignOwner {
        /// The file read.
        file: PathBuf,
        /// Its owner.
        uid: u32,
    },
    /// Others may write it.
    WritableByOthers {
        /// The file read.
        file: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// It changed after its directory entered the write grant of an earlier run, and this
    /// content was not trusted.
    Changed {
        /// Where it was found (its directory resolved).
        spelled: PathBuf,
        /// The file read.
        file: PathBuf,
        /// The recorded write grant over it.
        grant: PathBuf,
        /// When that grant was first recorded (seconds since the epoch).
        since: i64,
    },
    /// A symlink on the way to it was made after its directory entered the write grant of an
    /// earlier run, and this content was not trusted.
    PlantedLink {
        /// Where it was found (its directory resolved).
        spelled: PathBuf,
        /// The link.
        link: PathBuf,
        /// The recorded write grant over the link.
        grant: PathBuf,
        /// When that grant was first recorded.
        since: i64,
    },
}

impl std::fmt::Display for Untrusted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = |p: &Path| crate::escape::path(p);
        match self {
            Untrusted::ForeignOwner { file, uid } => write!(
                f,
                "profile {} belongs to uid {uid}, neither to you nor to root: make it yours (chown) or copy it",
                p(file)
            ),
            Untrusted::WritableByOthers { file, mode } => write!(
                f,
                "profile {} is writable by others (mode {mode:o}): `chmod o-w {}`",
                p(file),
                p(file)
            ),
            Untrusted::Changed {
                spelled,
                file,
                grant,
                since,
            } => write!(
                f,
                "profile {} changed after {} became writable by a sandboxed run (recorded at {}), so that run may have rewritten it; read it, and if it is what you want, trust this content with `nono profile trust {}`",
                p(file),
                p(grant),
                when(*since),
                p(spelled)
            ),
            Untrusted::PlantedLink {
                spelled,
                link,
                grant,
                since,
            } => write!(
                f,
                "profile {} is reached through the symlink {}, made after {} became writable by a sandboxed run (recorded at {}), so that run may have planted it; check where it leads, and if that profile is what you want, trust it with `nono profile trust {}`",
                p(spelled),
                p(link),
                p(grant),
                when(*since),
                p(spelled)
            ),
        }
    }
}

impl std::error::Error for Untrusted {}

/// `secs` since the epoch in RFC 3339 (UTC), or the number when out of range.
fn when(secs: i64) -> String {
    u64::try_from(secs)
        .ok()
        .and_then(|s| nono_wire::Timestamp::new(s, 0))
        .map_or_else(|| secs.to_string(), nono_wire::Timestamp::rfc3339)
}

#[derive(serde::Serialize, serde::Deserialize)]
struct TrustLine {
    path: PathBuf,
    canonical: PathBuf,
    sha256: String,
}

/// The profile contents the user trusted: `$XDG_STATE_HOME/nono/trusted-profiles.jsonl`, one
/// JSON object `{"path", "canonical", "sha256"}` per line; the last line for a path is what
/// is trusted there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProfiles {
    entries: Vec<(PathBuf, PathBuf, String)>,
}

impl TrustedProfiles {
    /// The store under `state_home` (`$XDG_STATE_HOME`).
    #[must_use]
    pub fn file(state_home: &Path) -> PathBuf {
        state_home.join("nono/trusted-profiles.jsonl")
    }

    /// Read the store; a missing file is an empty store. Lines that do not parse are skipped.
    pub fn load(file: &Path) -> io::Result<TrustedProfiles> {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(e),
        };
        let entries = text
            .lines()
            .filter_map(|l| serde_json::from_str::<TrustLine>(l).ok())
            .map(|l| (l.path, l.canonical, l.sha256))
            .collect();
        Ok(TrustedProfiles { entries })
    }

    /// Whether `f`'s content, looked up where it was and leading where it did, is the last
    /// content trusted at that path: an older trusted version put back (a rollback to a
    /// profile the user has since changed) is not trusted.
    #[must_use]
    pub fn trusts(&self, f: &ProfileFile) -> bool {
        self.entries
            .iter()
            .rev()
            .find(|(p, _, _)| *p == f.at)
            .is_some_and(|(_, c, h)| *c == f.canonical && *h == f.sha256)
    }

    /// Append the files of `files` not trusted yet to `file` (created 0600 in a 0700
    /// directory, never through a symlink). Returns how many were new.
    pub fn record(&mut self, file: &Path, files: &[ProfileFile]) -> io::Result<usize> {
        let mut lines = String::new();
        let mut added = 0;
        for f in files {
            if self.trusts(f) {
                continue;
            }
            let line = TrustLine {
                path: f.at.clone(),
                canonical: f.canonical.clone(),
                sha256: f.sha256.clone(),
            };
            lines.push_str(&serde_json::to_string(&line).map_err(io::Error::other)?);
            lines.push('\n');
            self.entries
                .push((f.at.clone(), f.canonical.clone(), f.sha256.clone()));
            added += 1;
        }
        if added == 0 {
            return Ok(0);
        }
        if let Some(parent) = file.parent() {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)?;
        }
        let mut out = crate::audit::open_own_output(file, false).map_err(|e| match e {
            crate::audit::OwnOutputError::Io(e) => e,
            other => io::Error::other(other.to_string()),
        })?;
        std::io::Write::write_all(&mut out, lines.as_bytes())?;
        Ok(added)
    }
}

/// Check every file a profile was read from (see the module documentation). `own_config` is
/// nono's configuration directory (`$XDG_CONFIG_HOME/nono`): the `nono` deny group keeps every
/// run out of it, so a file there is judged by owner and mode only.
pub fn check(
    files: &[ProfileFile],
    history: &WriteHistory,
    trusted: &TrustedProfiles,
    uid: u32,
    own_config: &Path,
) -> Result<(), Untrusted> {
    for f in files {
        if f.uid != uid && f.uid != 0 {
            return Err(Untrusted::ForeignOwner {
                file: f.canonical.clone(),
                uid: f.uid,
            });
        }
        if f.mode & 0o002 != 0 {
            return Err(Untrusted::WritableByOthers {
                file: f.canonical.clone(),
                mode: f.mode,
            });
        }
        if trusted.trusts(f) {
            continue;
        }
        if !f.canonical.starts_with(own_config) {
            let dir = f.canonical.parent().unwrap_or(Path::new("/"));
            if let Some((grant, since)) = history.covering(dir, f.ctime) {
                return Err(Untrusted::Changed {
                    spelled: f.at.clone(),
                    file: f.canonical.clone(),
                    grant: grant.to_path_buf(),
                    since,
                });
            }
        }
        // A link that cannot be examined is judged as made now: covered by any record.
        let links = links_on(&f.spelled).unwrap_or_default();
        for (link, _, _) in links {
            let ctime = std::fs::symlink_metadata(&link).map_or(i64::MAX, |m| m.ctime());
            let dir = link.parent().unwrap_or(Path::new("/"));
            if let Some((grant, since)) = history.covering(dir, ctime) {
                return Err(Untrusted::PlantedLink {
                    spelled: f.at.clone(),
                    link,
                    grant: grant.to_path_buf(),
                    since,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path, name: &str, text: &str) -> ProfileFile {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let m = std::fs::metadata(&path).unwrap();
        ProfileFile {
            spelled: path.clone(),
            at: path.clone(),
            canonical: path,
            sha256: sha256_hex(text.as_bytes()),
            ctime: m.ctime(),
            uid: m.uid(),
            mode: m.mode() & 0o7777,
        }
    }

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("nono-ptrust-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::canonicalize(d).unwrap()
    }

    #[test]
    fn sha256_matches_the_standard_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_file_changed_after_a_write_grant_needs_trust_and_trust_is_by_content() {
        let d = tmp("changed");
        let state = d.join("state");
        let hist_file = WriteHistory::file(&state);
        let mut history = WriteHistory::default();
        let f = file(&d, "p.json", "{}");
        let uid = f.uid;
        let none = TrustedProfiles::default();
        // No record over it: used.
        assert_eq!(
            check(
                std::slice::from_ref(&f),
                &history,
                &none,
                uid,
                &d.join("cfg")
            ),
            Ok(())
        );
        // Recorded before the file changed: refused until trusted.
        history
            .record(&hist_file, std::slice::from_ref(&d), f.ctime - 10)
            .unwrap();
        let err = check(
            std::slice::from_ref(&f),
            &history,
            &none,
            uid,
            &d.join("cfg"),
        )
        .unwrap_err();
        assert!(matches!(err, Untrusted::Changed { .. }), "{err}");
        assert!(err.to_string().contains("nono profile trust"), "{err}");
        // In nono's own configuration directory: the history does not apply.
        assert_eq!(
            check(std::slice::from_ref(&f), &history, &none, uid, &d),
            Ok(())
        );
        let store = TrustedProfiles::file(&state);
        let mut trusted = TrustedProfiles::load(&store).unwrap();
        assert_eq!(trusted.record(&store, std::slice::from_ref(&f)).unwrap(), 1);
        let trusted = TrustedProfiles::load(&store).unwrap();
        assert_eq!(
            check(
                std::slice::from_ref(&f),
                &history,
                &trusted,
                uid,
                &d.join("cfg")
            ),
            Ok(())
        );
        // Other content at the same path is not trusted.
        let g = file(&d, "p.json", r#"{"filesystem":{"write":["~"]}}"#);
        assert!(check(
            std::slice::from_ref(&g),
            &history,
            &trusted,
            uid,
            &d.join("cfg")
        )
        .is_err());
        // Once that is trusted, the earlier content put back is not (no rollback).
        let mut trusted = trusted;
        trusted.record(&store, std::slice::from_ref(&g)).unwrap();
        let trusted = TrustedProfiles::load(&store).unwrap();
        assert_eq!(check(&[g], &history, &trusted, uid, &d.join("cfg")), Ok(()));
        assert!(check(
            std::slice::from_ref(&f),
            &history,
            &trusted,
            uid,
            &d.join("cfg")
        )
        .is_err());
        // A record made after the file's last change does not cover it.
        let mut later = WriteHistory::default();
        later
            .record(&d.join("h2"), std::slice::from_ref(&d), f.ctime + 100)
            .unwrap();
        assert_eq!(check(&[f], &later, &none, uid, &d.join("cfg")), Ok(()));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn foreign_owner_and_world_writable_are_refused_even_when_trusted() {
        let d = tmp("owner");
        let mut f = file(&d, "p.json", "{}");
        let uid = f.uid;
        let mut trusted = TrustedProfiles::default();
        trusted
            .record(&d.join("t.jsonl"), std::slice::from_ref(&f))
            .unwrap();
        let h = WriteHistory::default();
        f.mode = 0o666;
        assert!(matches!(
            check(std::slice::from_ref(&f), &h, &trusted, uid, &d),
            Err(Untrusted::WritableByOthers { .. })
        ));
        f.mode = 0o644;
        f.uid = uid + 4242;
        assert!(matches!(
            check(&[f], &h, &trusted, uid, &d),
            Err(Untrusted::ForeignOwner { .. })
        ));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_link_made_after_a_write_grant_is_refused() {
        let d = tmp("link");
        let old = file(&d, "old.json", "{}");
        std::fs::create_dir(d.join("proj")).unwrap();
        std::os::unix::fs::symlink(&old.canonical, d.join("proj/p.json")).unwrap();
        let f = ProfileFile {
            spelled: d.join("proj/p.json"),
            at: d.join("proj/p.json"),
            ..old.clone()
        };
        let mut history = WriteHistory::default();
        history
            .record(&d.join("h"), &[d.join("proj")], old.ctime - 10)
            .unwrap();
        let err = check(
            &[f],
            &history,
            &TrustedProfiles::default(),
            old.uid,
            &d.join("cfg"),
        )
        .unwrap_err();
        assert!(matches!(err, Untrusted::PlantedLink { .. }), "{err}");
        let _ = std::fs::remove_dir_all(&d);
    }
}

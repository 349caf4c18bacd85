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
        /// The path as it was looked up (what `nono profile trust` is to be given).
        spelled: PathBuf,
        /// The file read.
        file: PathBuf,
        /// The sha256 of the content read (what `nono profile trust --sha256` is to be given;
        /// boxed: the error stays small).
        sha256: Box<str>,
        /// The recorded write grant over it.
        grant: PathBuf,
        /// When that grant was first recorded (seconds since the epoch).
        since: i64,
    },
    /// A directory on the way to it (to the file, or to a symlink on its path) changed after
    /// the directory above it entered the write grant of an earlier run (a run may have moved
    /// it there, with an older file or link in it), and this content was not trusted.
    Moved {
        /// The path as it was looked up (what `nono profile trust` is to be given).
        spelled: PathBuf,
        /// The file read.
        file: PathBuf,
        /// The sha256 of the content read.
        sha256: Box<str>,
        /// The directory that changed.
        dir: PathBuf,
        /// The recorded write grant over the directory above it.
        grant: PathBuf,
        /// When that grant was first recorded.
        since: i64,
    },
    /// A symlink on the way to it was made after its directory entered the write grant of an
    /// earlier run, and this content was not trusted.
    PlantedLink {
        /// The path as it was looked up (what `nono profile trust` is to be given).
        spelled: PathBuf,
        /// The sha256 of the content read through it.
        sha256: Box<str>,
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
        // In a command to run: one shell word.
        let sh = |p: &Path| crate::escape::shell_path(p);
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
                sh(file)
            ),
            Untrusted::Changed {
                spelled,
                file,
                sha256,
                grant,
                since,
            } => write!(
                f,
                "profile {} changed after {} became writable by a sandboxed run (recorded at {}), so that run may have rewritten it; read it, and if it is what you want, trust this content with `nono profile trust {} --sha256 {sha256}`",
                p(file),
                p(grant),
                when(*since),
                sh(spelled)
            ),
            Untrusted::Moved {
                spelled,
                file,
                sha256,
                dir,
                grant,
                since,
            } => write!(
                f,
                "profile {} is found through the directory {}, which changed after {} became writable by a sandboxed run (recorded at {}), so that run may have moved another file there; read it, and if it is what you want, trust this content with `nono profile trust {} --sha256 {sha256}`",
                p(file),
                p(dir),
                p(grant),
                when(*since),
                sh(spelled)
            ),
            Untrusted::PlantedLink {
                spelled,
                sha256,
                link,
                grant,
                since,
            } => write!(
                f,
                "profile {} is reached through the symlink {}, made after {} became writable by a sandboxed run (recorded at {}), so that run may have planted it; check where it leads, and if that profile is what you want, trust it with `nono profile trust {} --sha256 {sha256}`",
                p(spelled),
                p(link),
                p(grant),
                when(*since),
                sh(spelled)
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
    #[serde(with = "crate::state_path")]
    path: PathBuf,
    #[serde(with = "crate::state_path")]
    canonical: PathBuf,
    sha256: String,
    /// The path as it was looked up when trusted (absent in lines of older versions: then
    /// only the content is trusted, not the symlinks on the way to it).
    #[serde(
        default,
        with = "crate::state_path::option",
        skip_serializing_if = "Option::is_none"
    )]
    spelled: Option<PathBuf>,
}

/// What the store says of a profile file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trust {
    /// Its content is not the last trusted at its place.
    No,
    /// Its content is, but it was looked up another way (through other symlinks, which the
    /// trust does not vouch for).
    Content,
    /// Its content is, looked up the same way.
    Exact,
}

/// The profile contents the user trusted: `$XDG_STATE_HOME/nono/trusted-profiles.jsonl`, one
/// JSON object `{"path", "canonical", "sha256", "spelled"}` per line; the last line for a path
/// is what is trusted there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProfiles {
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    at: PathBuf,
    canonical: PathBuf,
    sha256: String,
    spelled: Option<PathBuf>,
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
            .map(|l| Entry {
                at: l.path,
                canonical: l.canonical,
                sha256: l.sha256,
                spelled: l.spelled,
            })
            .collect();
        Ok(TrustedProfiles { entries })
    }

    /// Whether `f`'s content, looked up as it was (the same spelling, so through the same
    /// symlinks) and leading where it did, is the last content trusted at that path: an older
    /// trusted version put back (a rollback to a profile the user has since changed) is not
    /// trusted, nor a trusted file reached through a symlink the trust did not go through.
    #[must_use]
    pub fn trusts(&self, f: &ProfileFile) -> bool {
        self.trust(f) == Trust::Exact
    }

    fn trust(&self, f: &ProfileFile) -> Trust {
        match self.entries.iter().rev().find(|e| e.at == f.at) {
            Some(e) if e.canonical == f.canonical && e.sha256 == f.sha256 => {
                if e.spelled.as_deref() == Some(f.spelled.as_path()) {
                    Trust::Exact
                } else {
                    Trust::Content
                }
            }
            _ => Trust::No,
        }
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
                spelled: Some(f.spelled.clone()),
            };
            lines.push_str(&serde_json::to_string(&line).map_err(io::Error::other)?);
            lines.push('\n');
            self.entries.push(Entry {
                at: f.at.clone(),
                canonical: f.canonical.clone(),
                sha256: f.sha256.clone(),
                spelled: Some(f.spelled.clone()),
            });
            added += 1;
        }
        if added == 0 {
            return Ok(0);
        }
        crate::audit::append_own_lines(file, &lines)?;
        Ok(added)
    }
}

/// Check every file a profile was read from (see the module documentation). `own_config` is
/// nono's configuration directory (`$XDG_CONFIG_HOME/nono`): the `nono` deny group keeps every
/// run out of it, so a file there is judged by owner and mode only.
// A refusal is rare and printed once: its size (paths and the sha256) does not matter.
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
        let trust = trusted.trust(f);
        if trust == Trust::Exact {
            continue;
        }
        if trust == Trust::No && !f.canonical.starts_with(own_config) {
            // The file itself (a file write grant over it counts too; a file with other names
            // may have been written through any of them, so every record counts) ...
            let covering = if f.nlink > 1 {
                history.earliest(f.ctime)
            } else {
                history.covering(&f.canonical, f.ctime)
            };
            if let Some((grant, since)) = covering {
                return Err(Untrusted::Changed {
                    spelled: f.spelled.clone(),
                    file: f.canonical.clone(),
                    sha256: f.sha256.as_str().into(),
                    grant: grant.to_path_buf(),
                    since,
                });
            }
            // ... and every directory on its way that a run could have renamed: a run that
            // may write a directory's parent can move in a directory holding an older file
            // (whose ctime a rename of its directory does not change).
            if let Some(parent) = f.canonical.parent() {
                moved(history, f, parent)?;
            }
        }
        // The links met when it was read, and those on its path now. A link that cannot be
        // examined is judged as made now: covered by any record.
        let now = links_on(&f.spelled)
            .unwrap_or_default()
            .into_iter()
            .map(|(link, _, _)| {
                let ctime = std::fs::symlink_metadata(&link).map_or(i64::MAX, |m| m.ctime());
                (link, ctime)
            });
        for (link, ctime) in f.links.iter().cloned().chain(now) {
            let dir = link.parent().unwrap_or(Path::new("/"));
            if let Some((grant, since)) = history.covering(dir, ctime) {
                return Err(Untrusted::PlantedLink {
                    spelled: f.spelled.clone(),
                    sha256: f.sha256.as_str().into(),
                    link,
                    grant: grant.to_path_buf(),
                    since,
                });
            }
            // The directories the link was found in are on the way too (an older link moved
            // in with its directory keeps its ctime).
            moved(history, f, dir)?;
        }
    }
    Ok(())
}

/// `dir` and each directory above it (real directories, as a walk met them) that changed
/// after a record over its parent: a run could have moved it there.
fn moved(history: &WriteHistory, f: &ProfileFile, dir: &Path) -> Result<(), Untrusted> {
    let mut dir = Some(dir);
    while let (Some(d), Some(parent)) = (dir, dir.and_then(Path::parent)) {
        if history.covering(parent, i64::MAX).is_none() {
            break;
        }
        let ctime = std::fs::symlink_metadata(d).map_or(i64::MAX, |m| m.ctime());
        if let Some((grant, since)) = history.covering(parent, ctime) {
            return Err(Untrusted::Moved {
                spelled: f.spelled.clone(),
                file: f.canonical.clone(),
                sha256: f.sha256.as_str().into(),
                dir: d.to_path_buf(),
                grant: grant.to_path_buf(),
                since,
            });
        }
        dir = Some(parent);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;

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
            nlink: m.nlink(),
            links: Vec::new(),
        }
    }

    fn tmp(tag: &str) -> Scratch {
        Scratch::new(&format!("nono-ptrust-{tag}-{}", std::process::id()))
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

    #[test]
    fn a_file_write_grant_over_the_profile_itself_covers_it() {
        let d = tmp("filegrant");
        let f = file(&d, "p.json", "{}");
        let mut history = WriteHistory::default();
        history
            .record(
                &d.join("h"),
                std::slice::from_ref(&f.canonical),
                f.ctime - 10,
            )
            .unwrap();
        let err = check(
            std::slice::from_ref(&f),
            &history,
            &TrustedProfiles::default(),
            f.uid,
            &d.join("cfg"),
        )
        .unwrap_err();
        assert!(matches!(err, Untrusted::Changed { .. }), "{err}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn trust_vouches_for_the_path_as_looked_up_not_for_other_links_to_it() {
        let d = tmp("spelled");
        let f = file(&d, "p.json", "{}");
        let store = d.join("t.jsonl");
        let mut trusted = TrustedProfiles::default();
        trusted.record(&store, std::slice::from_ref(&f)).unwrap();
        // The same file looked up through a directory link made after a record over it.
        std::fs::create_dir(d.join("proj")).unwrap();
        std::os::unix::fs::symlink(&d, d.join("proj/conf")).unwrap();
        let mut history = WriteHistory::default();
        history
            .record(&d.join("h"), &[d.join("proj")], f.ctime - 10)
            .unwrap();
        let via = ProfileFile {
            spelled: d.join("proj/conf/p.json"),
            ..f.clone()
        };
        let trusted = TrustedProfiles::load(&store).unwrap();
        assert!(trusted.trusts(&f));
        assert!(!trusted.trusts(&via));
        let err = check(
            std::slice::from_ref(&via),
            &history,
            &trusted,
            f.uid,
            &d.join("cfg"),
        )
        .unwrap_err();
        assert!(matches!(err, Untrusted::PlantedLink { .. }), "{err}");
        // Trusting it as looked up is what accepts it.
        let mut t2 = trusted;
        t2.record(&store, std::slice::from_ref(&via)).unwrap();
        let t2 = TrustedProfiles::load(&store).unwrap();
        assert_eq!(check(&[via], &history, &t2, f.uid, &d.join("cfg")), Ok(()));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_directory_renamed_after_a_record_over_its_parent_is_judged_like_the_file() {
        let d = tmp("moved");
        std::fs::create_dir(d.join("conf")).unwrap();
        let f = file(&d.join("conf"), "p.json", "{}");
        let mut history = WriteHistory::default();
        // A record over `d` older than the file (and its directory `conf`).
        history
            .record(&d.join("h"), std::slice::from_ref(&d), f.ctime - 10)
            .unwrap();
        let none = TrustedProfiles::default();
        // A record made after both changed covers neither.
        let mut later = WriteHistory::default();
        later
            .record(&d.join("h2"), std::slice::from_ref(&d), f.ctime + 100)
            .unwrap();
        assert_eq!(
            check(
                std::slice::from_ref(&f),
                &later,
                &none,
                f.uid,
                &d.join("cfg")
            ),
            Ok(())
        );
        let err = check(
            std::slice::from_ref(&f),
            &history,
            &none,
            f.uid,
            &d.join("cfg"),
        )
        .unwrap_err();
        assert!(matches!(err, Untrusted::Changed { .. }), "{err}");
        // The directory alone: a file made long before, in a directory renamed since.
        let old = ProfileFile {
            ctime: f.ctime - 100,
            ..f.clone()
        };
        let err = check(
            std::slice::from_ref(&old),
            &history,
            &none,
            f.uid,
            &d.join("cfg"),
        )
        .unwrap_err();
        assert!(matches!(err, Untrusted::Moved { .. }), "{err}");
        assert!(err.to_string().contains("nono profile trust"), "{err}");
        // A record over the directory itself (not its parent) does not judge the directory.
        let mut own = WriteHistory::default();
        own.record(&d.join("h3"), &[d.join("conf")], f.ctime - 10)
            .unwrap();
        assert_eq!(check(&[old], &own, &none, f.uid, &d.join("cfg")), Ok(()));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_file_with_other_names_is_judged_against_every_record() {
        let d = tmp("nlink");
        std::fs::create_dir(d.join("mine")).unwrap();
        std::fs::create_dir(d.join("proj")).unwrap();
        let f = file(&d.join("mine"), "p.json", "{}");
        let mut history = WriteHistory::default();
        history
            .record(&d.join("h"), &[d.join("proj")], f.ctime - 10)
            .unwrap();
        let none = TrustedProfiles::default();
        assert_eq!(
            check(
                std::slice::from_ref(&f),
                &history,
                &none,
                f.uid,
                &d.join("cfg")
            ),
            Ok(())
        );
        std::fs::hard_link(&f.canonical, d.join("proj/alias.json")).unwrap();
        let uid = f.uid;
        let linked = ProfileFile { nlink: 2, ..f };
        let err = check(&[linked], &history, &none, uid, &d.join("cfg")).unwrap_err();
        assert!(matches!(err, Untrusted::Changed { .. }), "{err}");
        let _ = std::fs::remove_dir_all(&d);
    }
}

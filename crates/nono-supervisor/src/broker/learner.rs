//! The broker's side of a [`Learning`]: the reference grants with the fast matcher, and what
//! lies outside them handed to the recorder as a [`Touched`] (see `learn.rs`).

use std::fmt;
use std::path::{Path, PathBuf};

use nono_sandbox::paths::realpath_without_magic_links;
use nono_sandbox::AccessMode;

use super::StaticGrants;
use crate::learn::{Learning, Recorder, Touched};

/// The broker's side of a [`Learning`]: the reference grants with the fast matcher.
pub(crate) struct Learner {
    reference: StaticGrants,
    record: Recorder,
}

impl fmt::Debug for Learner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Learner").finish_non_exhaustive()
    }
}

impl Learner {
    pub(crate) fn new(l: &Learning) -> Learner {
        Learner {
            reference: StaticGrants::new(&l.reference),
            record: l.record.clone(),
        }
    }

    /// Record `path` (absolute, lexically normal) used with `access`, unless the reference
    /// grants cover it. `is_dir`: it names a directory (listing, or entries made in it).
    pub(crate) fn path(&self, lexical: &Path, access: AccessMode, is_dir: bool) {
        if self.reference.fast_allows(lexical, access) {
            return;
        }
        let Some(canonical) = canonical_lenient(lexical) else {
            return;
        };
        if self.reference.allows_canonical(&canonical, access) {
            return;
        }
        let meta = std::fs::metadata(&canonical);
        (self.record)(Touched::Path {
            existed: meta.is_ok(),
            is_dir: is_dir || meta.is_ok_and(|m| m.is_dir()),
            path: canonical,
            access,
        });
    }

    /// Record an already canonical path the broker resolved itself.
    pub(crate) fn canonical(&self, canonical: &Path, access: AccessMode, existed: bool) {
        if self.reference.allows_canonical(canonical, access) {
            return;
        }
        (self.record)(Touched::Path {
            path: canonical.to_path_buf(),
            access,
            existed,
            is_dir: canonical.is_dir(),
        });
    }

    /// Record a socket connected that the reference does not grant by itself (in `run`, a
    /// socket that only a directory grant covers is connected only when the sandbox serves
    /// it; see `broker/unix_socket.rs`).
    pub(crate) fn socket(&self, canonical: &Path, st: &rustix::fs::Stat) {
        if crate::broker::unix_socket::granted_by_itself(&self.reference, canonical, st) {
            return;
        }
        (self.record)(Touched::Socket(canonical.to_path_buf()));
    }

    /// Record a Unix datagram socket, unless the reference allows them.
    pub(crate) fn unix_datagram(&self) {
        if !self.reference.allows_unix_datagram() {
            (self.record)(Touched::UnixDatagram);
        }
    }

    /// Whether the reference allows Unix datagram sockets (else their creation is trapped
    /// while learning, to be recorded).
    #[must_use]
    pub(crate) fn reference_allows_unix_datagram(l: &Learning) -> bool {
        l.reference.allows_unix_datagram()
    }

    /// Record a TCP port connected to or bound, unless the reference allows it.
    pub(crate) fn port(&self, bind: bool, port: u16) {
        let net = self.reference.network();
        if bind {
            if !net.allows_bind(port) {
                (self.record)(Touched::Bind(port));
            }
        } else if !net.allows_connect(port) {
            (self.record)(Touched::Connect(port));
        }
    }
}

/// The canonical form of `path`; for a path that does not exist (yet, or any more), its
/// nearest existing ancestor canonicalised and the rest appended. `None` for a path reached
/// only through a magic link or into `/proc` ([`realpath_without_magic_links`]): the
/// supervisor's own lookup there names its own cwd, root or fds (`proj/l → /proc/self/cwd`
/// was recorded as a grant of the supervisor's cwd, `proj/l → /proc/$PPID/root` of the file
/// beneath `/`; red team 25), not what the command reached — which the kernel refuses it
/// anyway for any process but its own (Landlock's ptrace scoping).
fn canonical_lenient(path: &Path) -> Option<PathBuf> {
    match realpath_without_magic_links(path) {
        Ok(c) => Some(c),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let parent = path.parent()?;
            Some(canonical_lenient(parent)?.join(path.file_name()?))
        }
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;

    /// A path through a magic link names the supervisor's own cwd, root or fds, not what the
    /// command reached: nothing is recorded for it (red team 25). A missing name is still
    /// recorded beneath its canonical directory.
    #[test]
    fn a_magic_link_is_never_recorded_as_the_supervisors_own() {
        let t = Scratch::new(&format!("nono-learner-magic-{}", std::process::id()));
        std::fs::create_dir_all(t.join("real")).unwrap();
        std::os::unix::fs::symlink("/proc/self/cwd", t.join("cwd")).unwrap();
        std::os::unix::fs::symlink("/proc/self/root", t.join("root")).unwrap();
        std::os::unix::fs::symlink(t.join("real"), t.join("link")).unwrap();
        assert_eq!(canonical_lenient(&t.join("cwd/x")), None);
        assert_eq!(canonical_lenient(&t.join("root/etc/passwd")), None);
        assert_eq!(
            canonical_lenient(&t.join("link/new/f")),
            Some(t.join("real/new/f"))
        );
        let _ = std::fs::remove_dir_all(&t);
    }
}

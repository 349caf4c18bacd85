//! Path canonicalisation, written once for the whole workspace: [`realpath`] (every symlink
//! resolved, the path must exist), [`normalize`] (lexical), and the two lenient forms for
//! paths that may not exist yet — [`canonicalize_for_grant`] and [`canonicalize_for_deny`].
//!
//! The lenient forms both canonicalise the longest existing ancestor and append the missing
//! rest. They differ only in a `..` inside that missing rest (`/home/u/new/../x` where `new`
//! does not exist), which the kernel refuses to resolve (`ENOENT`), so no object is named:
//!
//! - a **grant** must never reach more than was asked for, so [`canonicalize_for_grant`]
//!   refuses such a path (`CapsError::NotFound`) rather than guess;
//! - a **deny** must never cover less, and must always have an answer (a deny group of a
//!   path that does not exist still protects what may be created there), so
//!   [`canonicalize_for_deny`] resolves the `..` lexically: it errs towards the parent, which
//!   only ever makes a deny match more often.

use std::path::{Component, Path, PathBuf};

use crate::caps_error::CapsError;

/// A clean absolute path seen free of symlinks by [`checked_canonical`]: its directory, opened
/// `O_PATH` without following any symlink, and the identity of its last component (not
/// followed either). The deny groups' identity walk starts from `dir` instead of opening it
/// again (`nono_policy`'s ancestor memo).
#[derive(Debug)]
pub struct Checked {
    /// The path's directory, `O_PATH | O_DIRECTORY`, reached without a symlink.
    pub dir: std::os::fd::OwnedFd,
    /// The mount the last component was reached through (`stx_mnt_id`; 0 when the kernel
    /// does not report it, before 5.8).
    pub mnt: u64,
    /// `st_dev` of the last component (as `stat` reports it).
    pub dev: u64,
    /// `st_ino` of the last component.
    pub ino: u64,
}

/// Why [`checked_canonical`] could not show a path canonical.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unchecked {
    /// Its directory is its own canonical form (opened without following any symlink), and
    /// the last name does not exist there: the path, made, is its own canonical form.
    Missing,
    /// Anything else (not clean, not absolute, `/` itself, a symlink on the way or at the
    /// end, a directory missing or not searchable): ask [`realpath`].
    Other,
}

/// Whether `path` is its own canonical form, shown the way the deny groups' walk then uses:
/// its directory opened with `RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS` and its last
/// component `statx`ed there without following it (and not a symlink). Two system calls that
/// stand for [`realpath`]'s probe *and* the walk's own open of the directory and `stat` of
/// the path.
///
/// # Errors
/// [`Unchecked`]: why it cannot be shown this way.
pub fn checked_canonical(path: &Path) -> Result<Checked, Unchecked> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::ffi::OsStrExt as _;
        if !path.is_absolute() || !is_clean(path.as_os_str().as_bytes()) {
            return Err(Unchecked::Other);
        }
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(Unchecked::Other);
        };
        let dir = rustix::fs::openat2(
            rustix::fs::CWD,
            dir,
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
            rustix::fs::ResolveFlags::NO_SYMLINKS | rustix::fs::ResolveFlags::NO_MAGICLINKS,
        )
        .map_err(|_| Unchecked::Other)?;
        let st = rustix::fs::statx(
            &dir,
            name,
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
            rustix::fs::StatxFlags::TYPE
                | rustix::fs::StatxFlags::INO
                | rustix::fs::StatxFlags::MNT_ID,
        )
        .map_err(|e| {
            if e == rustix::io::Errno::NOENT {
                Unchecked::Missing
            } else {
                Unchecked::Other
            }
        })?;
        if rustix::fs::FileType::from_raw_mode(st.stx_mode.into()) == rustix::fs::FileType::Symlink
        {
            return Err(Unchecked::Other);
        }
        Ok(Checked {
            dir,
            mnt: if st.stx_mask & rustix::fs::StatxFlags::MNT_ID.bits() != 0 {
                st.stx_mnt_id
            } else {
                0
            },
            dev: rustix::fs::makedev(st.stx_dev_major, st.stx_dev_minor),
            ino: st.stx_ino,
        })
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = path;
        Err(Unchecked::Other)
    }
}

/// `std::fs::canonicalize` (the absolute path with every symlink resolved; the path must
/// exist), in two system calls for a clean absolute path without symlinks (no `.`, `..` or
/// repeated slashes: one `openat2(O_PATH, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)` shows
/// it is its own canonical form — what nearly every path the supervisor is asked about is),
/// and otherwise in three whatever the depth on Linux: the kernel resolves `path` once
/// (`open(O_PATH)`, which neither opens a FIFO or device nor needs read permission) and
/// `readlink` of `/proc/self/fd/N` gives the path it reached. `realpath(3)` instead
/// `readlink`s every component, each a walk from the root (~30 syscalls for a path six deep) —
/// and the supervisor canonicalises on every runtime request. Anything that is not a plain
/// absolute path (no `/proc`, a deleted file, an object that is not a path, a path
/// unreachable from our root) falls back to `std::fs::canonicalize`, so the answer and the
/// errors are always realpath's.
///
/// # Errors
/// realpath's: the path or a component does not exist, cannot be searched, is not a
/// directory, or loops.
pub fn realpath(path: &Path) -> std::io::Result<PathBuf> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd as _;
        use std::os::unix::ffi::OsStrExt as _;
        if is_clean(path.as_os_str().as_bytes())
            && rustix::fs::openat2(
                rustix::fs::CWD,
                path,
                rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
                rustix::fs::ResolveFlags::NO_SYMLINKS | rustix::fs::ResolveFlags::NO_MAGICLINKS,
            )
            .is_ok()
        {
            return Ok(path.to_path_buf());
        }
        let fast = || -> Option<PathBuf> {
            let fd = rustix::fs::open(
                path,
                rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .ok()?;
            let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
            let target = rustix::fs::readlink(link.as_str(), Vec::new()).ok()?;
            let bytes = target.as_bytes();
            if !bytes.starts_with(b"/") || bytes.ends_with(b" (deleted)") {
                return None;
            }
            Some(PathBuf::from(std::ffi::OsStr::from_bytes(bytes)))
        };
        if let Some(p) = fast() {
            return Ok(p);
        }
    }
    std::fs::canonicalize(path)
}

/// [`realpath`] as a lookup made for *another* process would have to be: no magic link
/// followed (`/proc/PID/cwd`, `/proc/PID/fd/N`, `/proc/PID/root`, and `/dev/fd/N` through
/// them), and no answer inside `/proc` (`/proc/self` is an ordinary symlink, but to the
/// *caller's* process). Read by a supervisor, such a link leads where the supervisor's own
/// fds, cwd or root are, or where another process's are with the supervisor's right to
/// trace it — not where the program's lookup goes (its own fds; `EACCES` for a process
/// outside its Landlock domain). The last component is followed when it is an ordinary
/// symlink. One `openat2` for a clean path without symlinks (as [`realpath`]); otherwise one
/// `openat2(O_PATH, RESOLVE_NO_MAGICLINKS)` more and a `readlink` of its `/proc/self/fd`
/// entry, whatever the depth (red team 24).
///
/// # Errors
/// The `openat2`'s (`ELOOP` for a magic link, `ENOENT`, `EACCES`, `ENOTDIR`), or `EXDEV`
/// for an answer inside `/proc`, a deleted object or one not reachable from our root.
pub fn realpath_without_magic_links(path: &Path) -> std::io::Result<PathBuf> {
    resolved_without_magic_links(path, false)
}

/// [`realpath_without_magic_links`]; with `dir`, `ENOTDIR` unless it is a directory.
fn resolved_without_magic_links(path: &Path, dir: bool) -> std::io::Result<PathBuf> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd as _;
        use std::os::unix::ffi::OsStrExt as _;
        let mut flags = rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC;
        if dir {
            flags |= rustix::fs::OFlags::DIRECTORY;
        }
        let in_proc = |b: &[u8]| b == b"/proc" || b.starts_with(b"/proc/");
        let bytes = path.as_os_str().as_bytes();
        // Nearly every path asked about: clean and free of symlinks, its own answer (one
        // system call, as `realpath`'s shortcut).
        if is_clean(bytes)
            && !in_proc(bytes)
            && rustix::fs::openat2(
                rustix::fs::CWD,
                path,
                flags,
                rustix::fs::Mode::empty(),
                rustix::fs::ResolveFlags::NO_SYMLINKS | rustix::fs::ResolveFlags::NO_MAGICLINKS,
            )
            .is_ok()
        {
            return Ok(path.to_path_buf());
        }
        let fd = rustix::fs::openat2(
            rustix::fs::CWD,
            path,
            flags,
            rustix::fs::Mode::empty(),
            rustix::fs::ResolveFlags::NO_MAGICLINKS,
        )?;
        let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
        let target = rustix::fs::readlink(link.as_str(), Vec::new())?;
        let bytes = target.as_bytes();
        if !bytes.starts_with(b"/") || bytes.ends_with(b" (deleted)") || in_proc(bytes) {
            return Err(rustix::io::Errno::XDEV.into());
        }
        Ok(PathBuf::from(std::ffi::OsStr::from_bytes(bytes)))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        realpath(path)
    }
}

/// Lexical normalisation: drop `.`, repeated and trailing slashes, and apply `..` to the
/// preceding component (`/..` stays `/`). Touches no file system, so it does not see
/// symlinks: `/a/link/..` becomes `/a` whatever `link` points to.
#[must_use]
pub fn normalize(path: &Path) -> PathBuf {
    if is_clean(path.as_os_str().as_encoded_bytes()) {
        // What nearly every trapped open names: nothing to normalise.
        return path.to_path_buf();
    }
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Where the kernel's lookup of `path` (absolute, as a program spelled it) ends, for a
/// supervisor that acts on the name in its place: [`normalize`] of `path` when it has no `..`
/// component (then lexical and physical agree up to the last name); otherwise its directory
/// resolved physically ([`realpath_without_magic_links`]: a `..` after a symlink climbs from
/// where the symlink leads, as the kernel's does — `/a/link/../x` with `link → /a/sub/deep` is
/// `/a/sub/x`, where [`normalize`] says `/a/x`) joined with its last name, which is not
/// followed. `None` when that directory cannot be resolved (missing, not searchable: the
/// kernel fails the call too), or only through a magic link or into `/proc` (where the
/// caller's lookup is not the program's: red team 24), or `path` ends in `..`.
#[must_use]
pub fn as_the_kernel_resolves(path: &Path) -> Option<PathBuf> {
    if !path.components().any(|c| c == Component::ParentDir) {
        return Some(normalize(path));
    }
    if path.components().next_back() == Some(Component::ParentDir) {
        return None;
    }
    let (dir, name) = (path.parent()?, path.file_name()?);
    Some(resolved_without_magic_links(dir, true).ok()?.join(name))
}

/// The canonical path of the object the kernel's lookup of `path` (absolute, exactly as a
/// program spelled it: `..` and all) reaches, for a supervisor that then acts on that object
/// itself: [`realpath_without_magic_links`] of `path`, so every `..` climbs from where the
/// symlink before it leads (`/a/s/../x` with `s → /b/c` is `/b/x`, where [`normalize`] says
/// `/a/x`) and no magic link is followed; with `follow == false` the last name is not followed
/// (its directory resolved so, the name joined), unless it is `..`, or the path ends in `/` or
/// `/.`: those name a directory either way. Run it with the program's credentials: the lookup checks search
/// permission on every directory named (red team 25). One `openat2` for a clean path without
/// symlinks, one more and a `readlink` otherwise.
///
/// # Errors
/// [`realpath_without_magic_links`]'s: the kernel's lookup errors, `ELOOP` for a magic link,
/// `EXDEV` for an answer inside `/proc`.
pub fn realpath_as_the_kernel(path: &Path, follow: bool) -> std::io::Result<PathBuf> {
    // `link/` and `link/.` follow `link` whatever the flag (`components` drops both).
    let bytes = path.as_os_str().as_encoded_bytes();
    let follow = follow || bytes.ends_with(b"/") || bytes.ends_with(b"/.");
    match (follow, path.parent(), path.components().next_back()) {
        (false, Some(dir), Some(Component::Normal(name))) => {
            Ok(realpath_without_magic_links(dir)?.join(name))
        }
        _ => realpath_without_magic_links(path),
    }
}

/// Whether [`normalize`] would return `path` (its bytes) unchanged: absolute, no empty, `.`
/// or `..` component, no trailing slash (but `/` itself). Canonical paths are clean.
#[must_use]
pub fn is_clean(path: &[u8]) -> bool {
    if path == b"/" {
        return true;
    }
    path.first() == Some(&b'/')
        && path[1..]
            .split(|b| *b == b'/')
            .all(|c| !c.is_empty() && c != b"." && c != b"..")
}

/// The longest proper ancestor of `path` that [`realpath`] resolves, canonical, and the
/// components after it; `None` if none resolves.
fn existing_ancestor(path: &Path) -> Option<(PathBuf, Vec<Component<'_>>)> {
    let comps: Vec<Component<'_>> = path.components().collect();
    (1..comps.len()).rev().find_map(|split| {
        let head: PathBuf = comps[..split].iter().collect();
        let base = realpath(&head).ok()?;
        Some((base, comps[split..].to_vec()))
    })
}

/// `path.starts_with(base)` for clean absolute paths (no `.`, `..`, repeated or trailing
/// `/`), as every path in a [`CapabilitySet`](crate::CapabilitySet) is: a byte comparison
/// instead of a walk over components, for the loops over every grant and deny that building
/// a sandbox runs.
pub fn clean_within(path: &Path, base: &Path) -> bool {
    #[cfg(test)]
    CLEAN_WITHIN_CALLS.with(|c| c.set(c.get() + 1));
    clean_within_bytes(
        path.as_os_str().as_encoded_bytes(),
        base.as_os_str().as_encoded_bytes(),
    )
}

/// [`clean_within`] of paths as bytes (the broker's rule lists keep them so).
#[must_use]
pub fn clean_within_bytes(path: &[u8], base: &[u8]) -> bool {
    path.starts_with(base)
        && (path.len() == base.len() || base.ends_with(b"/") || path[base.len()] == b'/')
}

#[cfg(test)]
thread_local! {
    /// [`clean_within`] calls made by this thread: the tests of the loops over every grant
    /// and deny count them to catch a quadratic loop without timing anything.
    pub(crate) static CLEAN_WITHIN_CALLS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// For a clean absolute path (see [`is_clean`]): the clean paths it is or lies beneath —
/// `/`, each prefix that ends before a `/`, and `path` itself (`/`, `/a`, `/a/b` for
/// `/a/b`). These are the [`clean_bases`] a set of clean paths can hold (the others are
/// empty or end in `/`), so a lookup of each answers "which of them contain `path`" in
/// O(depth). Not for a path that is not clean.
pub fn clean_prefixes(path: &[u8]) -> impl Iterator<Item = &[u8]> {
    debug_assert!(is_clean(path), "clean_prefixes of an unclean path");
    let n = path.len();
    std::iter::once(&path[..n.min(1)])
        .chain(
            (2..n)
                .filter(move |&k| path[k] == b'/')
                .map(move |k| &path[..k]),
        )
        .chain((n > 1).then_some(path))
}

/// Every `base` for which `clean_within(path, base)` holds, as bytes: `path` itself and
/// its prefixes that end at a `/` or before one (`/`, `/a`, `/a/b` for `/a/b/c`). Looking
/// these up in a set of paths answers "does any of them contain `path`" in O(depth) instead
/// of a scan over the set (exactly, also for a path that is not clean).
pub fn clean_bases(path: &Path) -> impl Iterator<Item = &[u8]> {
    let p = path.as_os_str().as_encoded_bytes();
    (0..=p.len())
        .filter(move |&k| k == p.len() || p[k] == b'/' || (k > 0 && p[k - 1] == b'/'))
        .map(move |k| &p[..k])
}

/// The canonical form of an absolute path that may not exist yet, for a **grant**: the path
/// itself through [`realpath`] if it exists; else its longest existing ancestor, canonical,
/// with the missing names appended (`.` dropped). A component that cannot be searched
/// (`EACCES`: another user's 0700 home) counts as missing: nothing running as this user — the
/// sandbox included — can reach beneath it either, so the lexical rest names what a
/// carve-out must cover.
///
/// # Errors
/// - [`CapsError::Relative`] for a relative path;
/// - [`CapsError::NotFound`] when the missing part holds a `..` (the kernel would not
///   resolve it, and guessing could grant the parent) or no ancestor exists;
/// - [`CapsError::Resolve`] when the path exists but cannot be resolved (a loop, a
///   non-directory in the middle).
pub fn canonicalize_for_grant(path: &Path) -> Result<PathBuf, CapsError> {
    if !path.is_absolute() {
        return Err(CapsError::Relative {
            path: path.to_path_buf(),
        });
    }
    match realpath(path) {
        Ok(p) => return Ok(p),
        Err(e)
            if e.kind() != std::io::ErrorKind::NotFound
                && e.kind() != std::io::ErrorKind::PermissionDenied =>
        {
            return Err(CapsError::Resolve {
                path: path.to_path_buf(),
                source: e,
            })
        }
        Err(_) => {}
    }
    let not_found = || CapsError::NotFound {
        path: path.to_path_buf(),
    };
    let (mut out, rest) = existing_ancestor(path).ok_or_else(not_found)?;
    for c in rest {
        match c {
            Component::Normal(name) => out.push(name),
            Component::CurDir => {}
            _ => return Err(not_found()),
        }
    }
    Ok(out)
}

/// The canonical form of a path for a **deny** check: never fails, and errs towards
/// covering more. The path through [`realpath`] if it resolves (whatever the error, not only
/// "not found"); else its longest resolving ancestor, canonical, with the rest appended and
/// `..` in it applied lexically (the kernel would fail such a lookup anyway, so erring
/// towards the parent only ever makes a match more likely); a path of which nothing
/// resolves (a relative one) is only [`normalize`]d.
#[must_use]
pub fn canonicalize_for_deny(path: &Path) -> PathBuf {
    if let Ok(p) = realpath(path) {
        return p;
    }
    let Some((mut out, rest)) = existing_ancestor(path) else {
        return normalize(path);
    };
    for c in rest {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;

    /// A `..` after a symlink climbs from where the symlink leads (as the kernel's lookup);
    /// without `..` the answer is lexical; the last name is never followed.
    #[test]
    #[cfg(unix)]
    fn a_dotdot_is_resolved_as_the_kernel_does() {
        let t = Scratch::new(&format!("nono-paths-dotdot-{}", std::process::id()));
        std::fs::create_dir_all(t.join("a/sub/deep")).unwrap();
        std::os::unix::fs::symlink(t.join("a/sub/deep"), t.join("a/link")).unwrap();
        std::os::unix::fs::symlink(t.join("a/sub"), t.join("a/last")).unwrap();
        let r = |p: &str| as_the_kernel_resolves(&t.join(p));
        assert_eq!(r("a/link/../x"), Some(t.join("a/sub/x")));
        assert_eq!(r("a/link/../../x"), Some(t.join("a/x")));
        assert_eq!(r("a/sub/../x"), Some(t.join("a/x")));
        assert_eq!(r("a/sub/../last"), Some(t.join("a/last")));
        assert_eq!(r("a/link/x"), Some(t.join("a/link/x")));
        assert_eq!(r("a/./link//x"), Some(t.join("a/link/x")));
        assert_eq!(r("a/link/.."), None);
        assert_eq!(r("a/missing/../x"), None);
        // Not through a magic link nor into /proc: the caller's lookup there is not the
        // program's (its own cwd, fds, pid: red team 24).
        std::os::unix::fs::symlink("/proc/self/cwd", t.join("a/cwd")).unwrap();
        std::os::unix::fs::symlink("/proc/self", t.join("a/me")).unwrap();
        assert_eq!(r("a/cwd/../x"), None);
        assert_eq!(r("a/me/task/../x"), None);
        assert_eq!(
            as_the_kernel_resolves(Path::new("/proc/self/cwd/../x")),
            None
        );
        assert_eq!(as_the_kernel_resolves(Path::new("/dev/fd/0/../x")), None);
        assert!(realpath_without_magic_links(&t.join("a/cwd")).is_err());
        assert_eq!(
            realpath_without_magic_links(&t.join("a/link")).unwrap(),
            t.join("a/sub/deep")
        );
        let _ = std::fs::remove_dir_all(&t);
    }

    /// The object a supervisor acts on for a program's name: `..` physical, the last name
    /// followed or not, never a magic link (red team 25: the socket, inotify and metadata
    /// brokers).
    #[test]
    #[cfg(target_os = "linux")]
    fn the_object_is_the_one_the_kernel_reaches() {
        let t = Scratch::new(&format!("nono-paths-object-{}", std::process::id()));
        std::fs::create_dir_all(t.join("a/sub/deep")).unwrap();
        std::fs::write(t.join("a/sub/x"), "").unwrap();
        std::os::unix::fs::symlink(t.join("a/sub/deep"), t.join("a/link")).unwrap();
        std::os::unix::fs::symlink(t.join("a/sub/x"), t.join("a/sub/lx")).unwrap();
        std::os::unix::fs::symlink("/proc/self/cwd", t.join("a/cwd")).unwrap();
        let r = |p: &str, follow: bool| {
            realpath_as_the_kernel(&t.join(p), follow).map_err(|e| e.raw_os_error())
        };
        for follow in [true, false] {
            assert_eq!(r("a/link/../x", follow), Ok(t.join("a/sub/x")));
            assert_eq!(r("a/link/..", follow), Ok(t.join("a/sub")));
            assert_eq!(r("a/link/", follow), Ok(t.join("a/sub/deep")));
            assert_eq!(r("a/link/.", follow), Ok(t.join("a/sub/deep")));
            assert_eq!(r("a/cwd/x", follow), Err(Some(libc::ELOOP)));
            assert_eq!(r("a/cwd/../x", follow), Err(Some(libc::ELOOP)));
            assert_eq!(r("a/missing/../x", follow), Err(Some(libc::ENOENT)));
        }
        assert_eq!(r("a/link/../lx", true), Ok(t.join("a/sub/x")));
        assert_eq!(r("a/link/../lx", false), Ok(t.join("a/sub/lx")));
        assert_eq!(r("a/link", false), Ok(t.join("a/link")));
        assert_eq!(r("a/cwd", false), Ok(t.join("a/cwd")));
        assert_eq!(r("a/cwd", true), Err(Some(libc::ELOOP)));
        let _ = std::fs::remove_dir_all(&t);
    }

    /// The clean prefixes of a clean path are exactly the clean paths it lies within.
    #[test]
    fn clean_prefixes_are_the_clean_paths_a_path_lies_within() {
        let paths = [
            "/",
            "/a",
            "/ab",
            "/a/b",
            "/a/bc",
            "/a/b/c",
            "/b",
            "/a.b",
            "/a/b/c/d.e",
        ];
        for p in paths {
            let prefixes: Vec<&[u8]> = clean_prefixes(p.as_bytes()).collect();
            for q in paths {
                assert_eq!(
                    prefixes.contains(&q.as_bytes()),
                    Path::new(p).starts_with(q),
                    "{q} as a prefix of {p}"
                );
            }
            assert!(prefixes.iter().all(|b| is_clean(b)), "{p}");
            assert_eq!(
                prefixes,
                clean_bases(Path::new(p))
                    .filter(|b| is_clean(b))
                    .collect::<Vec<_>>()
            );
        }
    }

    /// A fresh directory with `real/sub`, `real/file`, a relative and an absolute symlink, a
    /// dangling one and a loop.
    fn tree(name: &str) -> Scratch {
        let dir = Scratch::new(&format!("nono-paths-{name}-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("real/sub")).unwrap();
        std::fs::write(dir.join("real/file"), "x").unwrap();
        std::os::unix::fs::symlink("real/sub", dir.join("rel")).unwrap();
        std::os::unix::fs::symlink(dir.join("real"), dir.join("abs")).unwrap();
        std::os::unix::fs::symlink("missing", dir.join("dangling")).unwrap();
        std::os::unix::fs::symlink("loop", dir.join("loop")).unwrap();
        dir
    }

    /// The O_PATH + /proc/self/fd shortcut answers exactly what `realpath` answers.
    #[test]
    fn realpath_agrees_with_std_canonicalize() {
        let dir = tree("realpath");
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            dir.join("fifo"),
            rustix::fs::Mode::from_bits_truncate(0o600),
        )
        .unwrap();
        std::os::unix::fs::symlink("rel/../file", dir.join("chain")).unwrap();
        for p in [
            "",
            "real",
            "real/file",
            "rel",
            "abs/sub",
            "abs/sub/../sub",
            "rel/../sub",
            "rel/../file",
            "chain",
            "dangling",
            "loop",
            "fifo",
            "real/file/x",
            "missing",
            "real/file/",
            "real//sub/./",
        ] {
            let path = dir.join(p);
            let want = std::fs::canonicalize(&path).map_err(|e| e.raw_os_error());
            let got = realpath(&path).map_err(|e| e.raw_os_error());
            assert_eq!(got, want, "{p}");
        }
        for p in [
            "/",
            "/proc/self",
            "/proc/self/fd/0",
            "/dev/stdin",
            "/nonexistent-nono",
        ] {
            let path = Path::new(p);
            let want = std::fs::canonicalize(path).map_err(|e| e.raw_os_error());
            let got = realpath(path).map_err(|e| e.raw_os_error());
            assert_eq!(got, want, "{p}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// `normalize` as it was before its clean-path shortcut: the reference.
    fn normalize_by_components(path: &Path) -> PathBuf {
        let mut out = PathBuf::new();
        for c in path.components() {
            match c {
                Component::ParentDir => {
                    out.pop();
                }
                Component::CurDir => {}
                other => out.push(other.as_os_str()),
            }
        }
        out
    }

    #[test]
    fn normalize_is_lexical_and_its_shortcut_agrees_with_components() {
        for p in [
            "/", "//", "/a", "/a/", "/a//b", "/a/./b", "/a/../b", "/a/b/..", "/a/b/.", "/.", "/..",
            "/a/.b", "/a/..b", "/a/b.", "a/b", "", "/a/b/c",
        ] {
            let p = Path::new(p);
            assert_eq!(normalize(p), normalize_by_components(p), "{}", p.display());
        }
        assert_eq!(normalize(Path::new("/a/./b//../c/")), Path::new("/a/c"));
        assert_eq!(normalize(Path::new("/../x")), Path::new("/x"));
    }

    /// Existing paths, symlinks and missing components: both lenient forms agree; they part
    /// only on `..` inside the missing part.
    #[test]
    fn grant_and_deny_forms_on_symlinks_missing_parts_and_dotdot() {
        let d = tree("lenient");
        let j = |p: &str| d.join(p);
        // (path, grant form (None: refused), deny form)
        let cases: &[(&str, Option<PathBuf>, PathBuf)] = &[
            ("real/file", Some(j("real/file")), j("real/file")),
            ("rel", Some(j("real/sub")), j("real/sub")),
            ("abs/sub/../file", Some(j("real/file")), j("real/file")),
            // A missing tail is appended; a missing name under a symlink lands in its target.
            (
                "real/new/deeper",
                Some(j("real/new/deeper")),
                j("real/new/deeper"),
            ),
            ("rel/new", Some(j("real/sub/new")), j("real/sub/new")),
            ("./real/./new", Some(j("real/new")), j("real/new")),
            // A dangling symlink is missing: its parent plus its own name.
            ("dangling", Some(j("dangling")), j("dangling")),
            ("dangling/x", Some(j("dangling/x")), j("dangling/x")),
            // `..` inside the missing part: refused for a grant, towards the parent for a deny.
            ("new/../real/file", None, j("real/file")),
            ("real/new/../../abs", None, j("abs")),
            ("rel/new/..", None, j("real/sub")),
        ];
        for (p, grant, deny) in cases {
            let path = j(p);
            let got = canonicalize_for_grant(&path);
            match grant {
                Some(want) => assert_eq!(got.as_ref().ok(), Some(want), "grant {p}: {got:?}"),
                None => assert!(
                    matches!(got, Err(CapsError::NotFound { .. })),
                    "grant {p}: {got:?}"
                ),
            }
            assert_eq!(&canonicalize_for_deny(&path), deny, "deny {p}");
        }
        // A loop exists but does not resolve: a grant says so, a deny still has an answer.
        assert!(matches!(
            canonicalize_for_grant(&j("loop/x")),
            Err(CapsError::Resolve { .. })
        ));
        assert_eq!(canonicalize_for_deny(&j("loop/x")), j("loop/x"));
        // A file in the middle (ENOTDIR) likewise.
        assert!(matches!(
            canonicalize_for_grant(&j("real/file/x")),
            Err(CapsError::Resolve { .. })
        ));
        assert_eq!(canonicalize_for_deny(&j("real/file/x")), j("real/file/x"));
        // Relative: refused for a grant, only normalised for a deny.
        assert!(matches!(
            canonicalize_for_grant(Path::new("a/../b")),
            Err(CapsError::Relative { .. })
        ));
        assert_eq!(
            canonicalize_for_deny(Path::new("nono-no-such/../b")),
            Path::new("b")
        );
        let _ = std::fs::remove_dir_all(&d);
    }
}

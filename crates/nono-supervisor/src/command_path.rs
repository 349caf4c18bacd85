//! The one `PATH` search: which file a command name runs, the way `execvp` finds it. `run`
//! resolves its command with it before the fork; `learn` (to record the executable) and the
//! advice after a refused exec (to name the file) use the same search, so what they name is
//! what was run.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// `PATH` used when the command's environment has none (glibc's default for `execvp`).
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The file `command` names, searched as `execvp` would in `path_var` (the command's `PATH`;
/// `None`: [`DEFAULT_PATH`]).
///
/// A name with a `/` is used as given (relative to `workdir`, as `execve` in the command
/// would see it) if it exists. Otherwise each `PATH` entry is tried in order (an empty entry
/// is the working directory): the first executable regular file wins; failing that, the
/// first existing candidate that is not a directory is returned, so that `execve` reports why
/// it cannot run. `None`: nothing by that name exists. The returned path is as it would be
/// passed to `execve` (relative entries stay relative to `workdir`).
#[must_use]
pub fn resolve(
    command: &OsStr,
    path_var: Option<&OsStr>,
    workdir: Option<&Path>,
) -> Option<PathBuf> {
    if command.is_empty() {
        return None;
    }
    let in_workdir = |p: &Path| match workdir {
        Some(w) if p.is_relative() => w.join(p),
        _ => p.to_path_buf(),
    };
    if command.as_bytes().contains(&b'/') {
        let path = PathBuf::from(command);
        return in_workdir(&path).symlink_metadata().is_ok().then_some(path);
    }
    let path_var = path_var.unwrap_or(OsStr::new(DEFAULT_PATH));
    let mut fallback = None;
    for dir in path_var.as_bytes().split(|&b| b == b':') {
        let dir = if dir.is_empty() {
            Path::new(".")
        } else {
            Path::new(OsStr::from_bytes(dir))
        };
        let candidate = dir.join(command);
        let Ok(meta) = std::fs::metadata(in_workdir(&candidate)) else {
            continue;
        };
        if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
            return Some(candidate);
        }
        if fallback.is_none() && !meta.is_dir() {
            fallback = Some(candidate);
        }
    }
    fallback
}

/// The file glibc's `execvp` would run first for `command` under `path_var` (the
/// command's `PATH`), found with `stat` instead of one failing `execve` per `PATH` entry; so
/// that a caller about to `execvp` can `execve` that file directly and fall back to `execvp`
/// only if that fails (the outcome is then `execvp`'s own, searched again).
///
/// Conservative: `Some` only where `execvp` certainly gets to this file: every earlier entry
/// failed `stat` with `ENOENT`, `ENOTDIR` or `EACCES` (`execve` fails the same way, and
/// `execvp` goes on), or is not an executable regular file (`execve` fails with `EACCES`, and
/// `execvp` goes on). `None` — use `execvp` as is — for a name with a `/`, no `PATH`
/// (glibc's default differs from [`DEFAULT_PATH`]), an empty or relative entry, any other
/// `stat` error (`execvp` would stop there), or no candidate.
#[must_use]
pub fn execvp_target(command: &OsStr, path_var: Option<&OsStr>) -> Option<PathBuf> {
    if command.is_empty() || command.as_bytes().contains(&b'/') {
        return None;
    }
    for dir in path_var?.as_bytes().split(|&b| b == b':') {
        let dir = Path::new(OsStr::from_bytes(dir));
        if !dir.is_absolute() {
            return None;
        }
        let candidate = dir.join(command);
        match std::fs::metadata(&candidate) {
            Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o111 != 0 => {
                return Some(candidate)
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOENT | libc::ENOTDIR | libc::EACCES)
                ) => {}
            Err(_) => return None,
        }
    }
    None
}

/// [`resolve`], made absolute against `workdir` (the file that runs, for a caller that is
/// not in the command's working directory).
#[must_use]
pub fn resolve_in(command: &OsStr, path_var: Option<&OsStr>, workdir: &Path) -> Option<PathBuf> {
    resolve(command, path_var, Some(workdir)).map(|p| workdir.join(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;

    /// The case where the CLI's own search used to disagree with spawn's: a non-executable
    /// file of the same name earlier on `PATH` (the CLI took the first regular file, while
    /// `execvp` and spawn run the executable behind it), an empty `PATH` entry (the working
    /// directory), and no `PATH` at all (the CLI found nothing; `execvp` uses the default).
    #[test]
    fn the_first_executable_wins_over_an_earlier_plain_file() {
        let base = Scratch::new(&format!("nono-command-path-{}", std::process::id()));
        for d in ["plain", "exec", "work"] {
            std::fs::create_dir_all(base.join(d)).unwrap();
        }
        std::fs::write(base.join("plain/tool"), "data").unwrap();
        std::fs::write(base.join("exec/tool"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(
            base.join("exec/tool"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        let path = format!(
            "{}:{}",
            base.join("plain").display(),
            base.join("exec").display()
        );
        let got = resolve(OsStr::new("tool"), Some(OsStr::new(&path)), None);
        assert_eq!(got, Some(base.join("exec/tool")));
        // Only the plain file: it is returned, so that execve says why it cannot run.
        let only_plain = base.join("plain").display().to_string();
        let got = resolve(OsStr::new("tool"), Some(OsStr::new(&only_plain)), None);
        assert_eq!(got, Some(base.join("plain/tool")));
        // An empty entry is the working directory.
        std::fs::copy(base.join("exec/tool"), base.join("work/here")).unwrap();
        let got = resolve(
            OsStr::new("here"),
            Some(OsStr::new("/nonexistent:")),
            Some(&base.join("work")),
        );
        assert_eq!(got, Some(PathBuf::from("./here")));
        assert_eq!(
            resolve_in(
                OsStr::new("here"),
                Some(OsStr::new(":")),
                &base.join("work")
            ),
            Some(base.join("work/./here"))
        );
        // No PATH: the default, as execvp.
        let sh = resolve(OsStr::new("sh"), None, None).expect("sh on the default PATH");
        assert!(
            DEFAULT_PATH
                .split(':')
                .any(|d| sh.parent() == Some(Path::new(d))),
            "{sh:?}"
        );
        // A directory of that name is skipped.
        std::fs::create_dir_all(base.join("plain/sub")).unwrap();
        let got = resolve(OsStr::new("sub"), Some(OsStr::new(&only_plain)), None);
        assert_eq!(got, None);
        assert_eq!(resolve(OsStr::new(""), None, None), None);
        let _ = std::fs::remove_dir_all(&base);
    }

    /// `execvp_target` names a file only where `execvp` certainly reaches it: past missing
    /// entries, a plain file and a directory of that name (each an `execve` failing with
    /// `ENOENT`/`EACCES` that `execvp` steps over); never past an entry whose `stat` fails
    /// otherwise (a symlink loop: `execvp` stops there with `ELOOP`), nor with a relative or
    /// empty entry, a name with a `/`, or no `PATH`.
    #[test]
    fn execvp_target_is_where_execvp_certainly_gets() {
        let base = Scratch::new(&format!("nono-execvp-target-{}", std::process::id()));
        for d in ["plain", "exec", "dirs/tool", "loop"] {
            std::fs::create_dir_all(base.join(d)).unwrap();
        }
        std::fs::write(base.join("plain/tool"), "data").unwrap();
        std::fs::write(base.join("exec/tool"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(
            base.join("exec/tool"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::os::unix::fs::symlink(base.join("loop/tool"), base.join("loop/tool")).unwrap();
        let d = |n: &str| base.join(n).display().to_string();
        let target = |path: &str| execvp_target(OsStr::new("tool"), Some(OsStr::new(path)));
        let path = format!(
            "/nonexistent:{}:{}:{}/file-not-dir:{}",
            d("plain"),
            d("dirs"),
            d("exec/tool"),
            d("exec")
        );
        assert_eq!(target(&path), Some(base.join("exec/tool")));
        assert_eq!(target(&d("plain")), None);
        assert_eq!(target(&format!("{}:{}", d("loop"), d("exec"))), None);
        assert_eq!(target(&format!("rel:{}", d("exec"))), None);
        assert_eq!(target(&format!(":{}", d("exec"))), None);
        assert_eq!(execvp_target(OsStr::new("tool"), None), None);
        assert_eq!(
            execvp_target(OsStr::new("./tool"), Some(OsStr::new(&d("exec")))),
            None
        );
        assert_eq!(
            execvp_target(OsStr::new(""), Some(OsStr::new(&d("exec")))),
            None
        );
        let _ = std::fs::remove_dir_all(&base);
    }
}

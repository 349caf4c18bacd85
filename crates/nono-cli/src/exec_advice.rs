//! What to add when the command's executable lies outside the grants (a pyenv, rustup or nvm
//! shim, `~/.local/bin`): the built-in profile that covers it, or the exact `--read` flag.
//!
//! nono does not pick a profile by itself from the command's name: a profile is a grant, and
//! `nono run -- python3` on a machine without pyenv would otherwise get `~/.pyenv` (or a
//! conda install) read access nobody asked for. The error names the profile instead, and
//! applying it is one flag.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use nono_sandbox::{explain, AccessMode, CapabilitySet};
use nono_supervisor::profile::{self, Vars};

/// Where `program` is found: itself when it has a `/`, else the first executable on `path_var`.
#[must_use]
pub fn locate(program: &OsStr, path_var: Option<&OsStr>) -> Option<PathBuf> {
    let p = Path::new(program);
    if p.components().count() > 1 || p.is_absolute() {
        return Some(p.to_path_buf());
    }
    std::env::split_paths(path_var?)
        .map(|d| d.join(p))
        .find(|c| c.is_file())
}

/// The advice for an executable at `exe` that the sandbox `caps` cannot execute, or `None` when
/// the grants do allow reading it (then the failure is something else: permissions, format).
#[must_use]
pub fn advice(caps: &CapabilitySet, exe: &Path) -> Option<String> {
    let real = std::fs::canonicalize(exe).ok()?;
    let readable =
        |c: &CapabilitySet, p: &Path| explain(c, p, AccessMode::Read).is_ok_and(|e| e.is_allowed());
    if readable(caps, exe) && readable(caps, &real) {
        return None;
    }
    let vars = Vars::from_env()?;
    for name in profile::list() {
        if name == "default" {
            continue;
        }
        let Ok(caps) = profile::load(name).and_then(|p| p.to_caps(&vars)) else {
            continue;
        };
        if readable(&caps, exe) && readable(&caps, &real) {
            return Some(format!(
                "{} lies outside the sandbox's grants; the built-in profile `{name}` covers it: add -p {name}",
                nono_supervisor::escape::path(exe)
            ));
        }
    }
    let dir = real.parent().unwrap_or(Path::new("/"));
    let also = if real == exe {
        String::new()
    } else {
        format!(" (it resolves to {})", nono_supervisor::escape::path(&real))
    };
    Some(format!(
        "{}{also} lies outside the sandbox's grants: add --read {} (a shim or wrapper script may run programs elsewhere too: `nono learn` finds them)",
        nono_supervisor::escape::path(exe),
        nono_supervisor::escape::path(dir)
    ))
}

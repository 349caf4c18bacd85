//! What to add when the command's executable lies outside the grants (a pyenv, rustup or nvm
//! shim, `~/.local/bin`): the built-in profile that covers it, or the exact `--read` flag.
//!
//! nono does not pick a profile by itself from the command's name: a profile is a grant, and
//! `nono run -- python3` on a machine without pyenv would otherwise get `~/.pyenv` (or a
//! conda install) read access nobody asked for. The error names the profile instead, and
//! applying it is one flag.

use std::path::Path;

use nono_sandbox::{explain, AccessMode, CapabilitySet};
use nono_supervisor::profile::{self, Vars};

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
        nono_supervisor::escape::shell_path(dir)
    ))
}

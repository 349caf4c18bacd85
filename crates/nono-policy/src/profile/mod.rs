//! Profiles: JSON policy files with `extends`, the embedded built-ins and their JSON Schema,
//! and their translation into a `CapabilitySet`, an `EnvPolicy` and a runtime `Policy`.
//!
//! # Format
//! See `schema.json` (served by [`schema()`](schema())) for every field. In short:
//! ```json
//! { "name": "mine", "extends": "rust",
//!   "groups": { "browsers": false },
//!   "filesystem": { "allow": ["$WORKDIR"], "read": [{"path": "/lib64", "optional": true}],
//!                   "deny": ["$WORKDIR/.env"] },
//!   "network": { "connect": [443] },
//!   "environment": { "deny": ["AWS_*"], "set": { "CI": "1" } },
//!   "supervisor": { "capability_elevation": true,
//!                   "approve": [{"path": "~/datasets/**", "access": "read"}],
//!                   "allowed_origins": ["https://github.com"] },
//!   "limits": { "memory": "2G", "max_processes": 512, "cpus": 1.5 } }
//! ```
//!
//! # `extends`
//! A profile names one parent: a built-in, a profile in `$XDG_CONFIG_HOME/nono/profiles/`,
//! or a file (relative to the extending file). Chains are followed to the root; a profile
//! that appears twice in a chain is a cycle and an error. Lists are the parent's followed by
//! the child's (duplicates dropped); single values (`network.block`,
//! `network.allow_unix_datagram`, `environment.inherit`,
//! `supervisor.*` scalars, `limits.*`, `groups` entries) are the child's when it sets them.
//!
//! # Missing paths
//! An entry marked `"optional": true` is skipped when its path does not exist (system paths
//! such as `/lib64` that only some machines have, tool caches a user may not have); the
//! built-ins mark such entries. A missing non-optional path is an error naming the profile,
//! the field and the path.
//!
//! # `/proc` and `/dev` in the default profile
//! `/proc` is granted read-only as a whole: `/proc/self` cannot be granted as a path, since
//! it is a per-process symlink and canonicalising it would pin the supervisor's own pid.
//! Other processes' sensitive entries (`environ`, `mem`, `fd`) need ptrace access, which
//! Landlock already refuses across sandbox domains. In `/dev` only `null`, `zero`, `full`,
//! `random`, `urandom`, `tty`, `ptmx` and `shm/` are granted (read-write); `/dev/fd`
//! and `/dev/std*` are symlinks into `/proc/self/fd`, which needs no grant of its own.
//! `/dev/pts` is *not* granted: it holds every terminal on the machine (the user's other
//! tabs; as root, everyone's). The supervisor grants the command's own PTY by name when it
//! allocates one, and a command on an inherited terminal uses its open fds. Programs that
//! make pseudo-terminals of their own and open the slave by name (`script`, `tmux`,
//! `expect`) need `--allow /dev/pts` (those that use `TIOCGPTPEER` do not).

mod create;
mod deny_glob;
mod env_policy;
mod extends;
mod json_locator;
mod load;
mod schema;
#[cfg(test)]
mod tests;
mod translate;
mod unique_keys;
mod validate;

use std::path::{Path, PathBuf};
use std::time::Duration;

use nono_sandbox::CapsError;

use crate::deny_groups::DenyGroupError;

pub use crate::vars::{VarError, Vars};
pub use create::{CreateOutcome, Created, NotCreated};
pub use env_policy::{
    check_name as check_env_name, is_credential_var, ChildEnv, EnvError, EnvPolicy, EnvRequest,
    Removed, RemovedVar, SetOrigin, SetValue, SetVar, CLEARENV_KEEP, CREDENTIAL_VARS,
    DEFAULT_STRIPPED,
};
use extends::MAX_DEPTH;
pub use load::{builtin_source, list, load, load_file, parse, schema};
pub use schema::{
    Access, ApproveEntry, Create, CredentialDef, CredentialSource, Environment, Filesystem,
    LimitsSettings, Network, PathEntry, Profile, ProfileFile, RateLimitSettings, SizeSetting,
    SupervisorSettings,
};
pub use translate::ResolvedProfile;

/// The host's shared temporary directories: `/tmp`, `/var/tmp` and `$TMPDIR`, canonical
/// where they exist (what `--private-tmp` replaces).
#[must_use]
pub fn host_tmp_dirs(vars: &Vars) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for p in [
        Path::new("/tmp"),
        Path::new("/var/tmp"),
        vars.tmpdir.as_path(),
    ] {
        let p = std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// Default seconds to wait at the terminal prompt.
pub const DEFAULT_PROMPT_TIMEOUT: Duration = Duration::from_secs(60);

/// Errors loading, validating or applying a profile. Each names the profile (file or
/// built-in) and, where there is one, the field.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
    /// Neither a built-in, a user profile, nor a file.
    #[error("profile `{name}` not found: not a built-in ({builtins}), not in {user_dir}, and not a file path (use ./{name}.json for a file in this directory)")]
    NotFound {
        /// The name as given.
        name: String,
        /// Built-in names, comma-separated.
        builtins: String,
        /// Where user profiles are looked up.
        user_dir: String,
    },
    /// A profile file could not be read.
    #[error("cannot read profile {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Invalid JSON, an unknown field or a value of the wrong type.
    #[error("{file}:{line}:{column}: `{field}`: {message}")]
    Parse {
        /// The file, or `built-in NAME`.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The field the error is in (`filesystem.read[2]`), or `(top level)`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// `extends` leads back to a profile already in the chain.
    #[error("profile `extends` cycle: {chain}")]
    Cycle {
        /// `a -> b -> a`.
        chain: String,
    },
    /// `extends` chain longer than 32.
    #[error("profile `extends` chain is longer than {MAX_DEPTH}: {chain}")]
    TooDeep {
        /// The chain so far.
        chain: String,
    },
    /// A value that parses but makes no sense.
    #[error("profile {profile}: `{field}`: {message}")]
    Invalid {
        /// Profile name.
        profile: String,
        /// The field.
        field: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// A non-optional path does not exist.
    #[error("profile {profile}: `{field}`: {} does not exist (create it, fix the path, or mark the entry {{\"path\": ..., \"optional\": true}})", path.display())]
    MissingPath {
        /// Profile name.
        profile: String,
        /// The field.
        field: String,
        /// The expanded path.
        path: PathBuf,
    },
    /// A variable in a path could not be expanded.
    #[error("profile {profile}: `{field}`: {source}")]
    Var {
        /// Profile name.
        profile: String,
        /// The field.
        field: String,
        /// The expansion error.
        #[source]
        source: VarError,
    },
    /// A path could not be added to the capability set.
    #[error("profile {profile}: `{field}`: {source}")]
    Caps {
        /// Profile name.
        profile: String,
        /// The field.
        field: String,
        /// The capability error.
        #[source]
        source: CapsError,
    },
    /// A deny group could not be built.
    #[error("profile {profile}: {source}")]
    DenyGroup {
        /// Profile name.
        profile: String,
        /// The error.
        #[source]
        source: DenyGroupError,
    },
}

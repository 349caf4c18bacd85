//! Profiles: JSON policy files with `extends`, the embedded built-ins and their JSON Schema,
//! and their translation into a `CapabilitySet`, an `EnvPolicy` and a runtime `Policy`.
//!
//! # Format
//! See `schema.json` (served by [`schema`]) for every field. In short:
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

mod env_policy;
#[cfg(test)]
mod tests;
mod unique_keys;
mod vars;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nono_sandbox::{AccessMode, CapabilitySet, CapsError, NetworkMode, Origin};
use serde::{Deserialize, Serialize};

use crate::deny_groups::{self, DenyGroupError, DenySet};
use crate::policy::{ApproveRule, Glob, Policy, RateLimit};

pub use env_policy::{
    check_name as check_env_name, is_credential_var, ChildEnv, EnvError, EnvPolicy, EnvRequest,
    Removed, RemovedVar, SetOrigin, SetValue, SetVar, CLEARENV_KEEP, CREDENTIAL_VARS,
    DEFAULT_STRIPPED,
};
pub use vars::{VarError, Vars};

/// The built-in profiles: name and JSON text.
const BUILTINS: &[(&str, &str)] = &[
    ("default", include_str!("builtin/default.json")),
    ("rust", include_str!("builtin/rust.json")),
    ("python", include_str!("builtin/python.json")),
    ("node", include_str!("builtin/node.json")),
];

/// A profile resolved for one user and working directory (see [`Profile::resolve`]).
#[derive(Debug, Clone)]
pub struct ResolvedProfile {
    /// The static sandbox, deny carve-outs included.
    pub caps: CapabilitySet,
    /// The deny groups and `filesystem.deny` entries the carve-outs came from.
    pub deny: DenySet,
    /// Optional paths skipped because they do not exist here.
    pub skipped: Vec<PathBuf>,
    /// Every filesystem grant as the profile asked for it (expanded, symlinks not resolved),
    /// so the caller can check the symlinks on the way (`crate::planted`).
    pub requested: Vec<crate::planted::RequestedGrant>,
}

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

/// The longest `extends` chain followed.
const MAX_DEPTH: usize = 32;

/// Default seconds to wait at the terminal prompt.
pub const DEFAULT_PROMPT_TIMEOUT: Duration = Duration::from_secs(60);

/// The JSON Schema for profile files (draft 2020-12).
#[must_use]
pub fn schema() -> &'static str {
    include_str!("schema.json")
}

/// Names of the built-in profiles.
#[must_use]
pub fn list() -> Vec<&'static str> {
    BUILTINS.iter().map(|(n, _)| *n).collect()
}

/// The JSON text of a built-in profile.
#[must_use]
pub fn builtin_source(name: &str) -> Option<&'static str> {
    BUILTINS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

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

/// A path in a profile: a string, or `{"path": ..., "optional": true}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathEntry {
    /// The path as written (variables not yet expanded).
    pub path: String,
    /// Skip when missing.
    pub optional: bool,
}

impl PathEntry {
    /// A required entry.
    #[must_use]
    pub fn required(path: impl Into<String>) -> PathEntry {
        PathEntry {
            path: path.into(),
            optional: false,
        }
    }
}

impl Serialize for PathEntry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.optional {
            PathEntryObject {
                path: self.path.clone(),
                optional: true,
                why: None,
            }
            .serialize(s)
        } else {
            s.serialize_str(&self.path)
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PathEntryObject {
    path: String,
    #[serde(default)]
    optional: bool,
    /// Why the entry is there: for readers and the generated guide (`cargo xtask guide`);
    /// nono itself ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    why: Option<String>,
}

impl<'de> Deserialize<'de> for PathEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = PathEntry;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(r#"a path string or {"path": "...", "optional": true}"#)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PathEntry, E> {
                Ok(PathEntry::required(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<PathEntry, A::Error> {
                let o = PathEntryObject::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                Ok(PathEntry {
                    path: o.path,
                    optional: o.optional,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// `filesystem`: static grants and carve-outs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filesystem {
    /// Read-write.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<PathEntry>,
    /// Read-only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub read: Vec<PathEntry>,
    /// Write-only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub write: Vec<PathEntry>,
    /// Denied (wins over every allow); `*`/`?` within components.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
}

impl Filesystem {
    fn is_empty(&self) -> bool {
        self == &Filesystem::default()
    }
}

/// `network`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// No network at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<bool>,
    /// TCP connect allow-list (TCP only when non-empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connect: Vec<u16>,
    /// TCP bind allow-list (TCP only when non-empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bind: Vec<u16>,
    /// Allow Unix datagram sockets (default false: `socket`/`socketpair` of `AF_UNIX`
    /// `SOCK_DGRAM` fail with `EACCES`). With them, `sendmsg` reaches any pathname datagram
    /// socket (`/dev/log`), which nothing checks; see
    /// [`CapabilitySet::allow_unix_datagram`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_unix_datagram: Option<bool>,
    /// Egress by domain: hosts the command may reach through nono's proxy (`--allow-domain`
    /// forms: `example.com`, `*.example.com`, an IP or CIDR, `HOST:PORT`, `http://HOST/path/**`).
    /// Any egress key confines the command to the proxy under `nono run`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_domain: Vec<String>,
    /// Hosts refused even when an allow rule matches (`--deny-domain`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny_domain: Vec<String>,
    /// Named, embedded domain sets (`--network-profile`; the names are `nono_proxy`'s,
    /// checked when the plan is made).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_profile: Vec<String>,
    /// Credential services the proxy can inject for `--credential NAME` (adds to or replaces
    /// the built-ins of the same name).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub credentials: BTreeMap<String, CredentialDef>,
}

/// One credential service of `network.credentials`: the proxy serves
/// `http://127.0.0.1:PORT/NAME/...` to the command and forwards to `upstream` with the secret
/// in `header`; the command sees only `base_url_env` and a phantom `key_env`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialDef {
    /// `https://api.example.com` (an `http://` upstream only on loopback).
    pub upstream: String,
    /// The header that carries the secret (default `Authorization`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// How the header value is made from the secret, `{}` standing for it (default `Bearer {}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Where the supervisor reads the secret (never passed to the command).
    pub source: CredentialSource,
    /// The variable the command gets the proxy's URL for this service in.
    pub base_url_env: String,
    /// The variable the command gets a phantom key in (the proxy swaps it for the secret).
    pub key_env: String,
}

/// Where a credential's secret comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum CredentialSource {
    /// nono's own environment variable.
    Env(String),
    /// A file (`~` expanded), its content trimmed.
    File(String),
}

impl Network {
    /// Whether any egress key is set (the command is then confined to the proxy).
    #[must_use]
    pub fn has_egress_rules(&self) -> bool {
        !self.allow_domain.is_empty()
            || !self.deny_domain.is_empty()
            || !self.network_profile.is_empty()
    }

    fn is_empty(&self) -> bool {
        self == &Network::default()
    }
}

/// `environment`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// Pass the parent's environment (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inherit: Option<bool>,
    /// Always passed (overrides the default sanitisation).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// Never passed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
    /// Set to these values (after the filters; `--setenv` wins).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, String>,
}

impl Environment {
    fn is_empty(&self) -> bool {
        self == &Environment::default()
    }
}

/// Access named in an approve rule: `"read"`, `"write"` or `"readwrite"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Read.
    Read,
    /// Write.
    Write,
    /// Both.
    ReadWrite,
}

impl From<Access> for AccessMode {
    fn from(a: Access) -> AccessMode {
        match a {
            Access::Read => AccessMode::Read,
            Access::Write => AccessMode::Write,
            Access::ReadWrite => AccessMode::ReadWrite,
        }
    }
}

/// One `supervisor.approve` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveEntry {
    /// Path or glob.
    pub path: String,
    /// What it grants.
    pub access: Access,
}

/// `supervisor.rate_limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Prompts per window.
    pub prompts: u32,
    /// Window length in seconds.
    pub per_secs: u64,
}

/// `supervisor`: runtime elevation settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupervisorSettings {
    /// Ask at the terminal about runtime requests no approve rule covers (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capability_elevation: Option<bool>,
    /// Granted without asking (on their own: `capability_elevation` is not needed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approve: Vec<ApproveEntry>,
    /// URL origins the program may ask to open.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_origins: Vec<String>,
    /// Terminal prompt timeout (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_timeout_secs: Option<u64>,
    /// Prompt rate limit (default 10 per 60 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitSettings>,
}

impl SupervisorSettings {
    fn is_empty(&self) -> bool {
        self == &SupervisorSettings::default()
    }
}

/// `limits`: resource limits for `run` and `shell` (see [`crate::limits`]); the command-line
/// flags (`--memory`, `--max-processes`, `--cpus`) override each one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSettings {
    /// Memory of the whole tree: `"512M"`, `"1.5GiB"`, or bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<SizeSetting>,
    /// Tasks (processes and threads) of the whole tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_processes: Option<u64>,
    /// CPUs (a fraction of one CPU's time, e.g. 0.5, or several, e.g. 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<serde_json::Number>,
}

/// A size in a profile: bytes, or text with a unit (`"512M"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SizeSetting {
    /// Bytes.
    Bytes(u64),
    /// `"512M"`, `"1.5GiB"`.
    Text(String),
}

impl LimitsSettings {
    fn is_empty(&self) -> bool {
        self == &LimitsSettings::default()
    }

    /// The limits, parsed; the first bad field and why.
    fn parse(&self) -> Result<crate::limits::Limits, (&'static str, String)> {
        use crate::limits::{parse_cpus, parse_processes, parse_size};
        let memory = match &self.memory {
            None => None,
            Some(SizeSetting::Bytes(b)) => {
                Some(parse_size(&b.to_string()).map_err(|e| ("limits.memory", e.to_string()))?)
            }
            Some(SizeSetting::Text(t)) => {
                Some(parse_size(t).map_err(|e| ("limits.memory", e.to_string()))?)
            }
        };
        let max_processes = self
            .max_processes
            .map(|n| parse_processes(&n.to_string()))
            .transpose()
            .map_err(|e| ("limits.max_processes", e.to_string()))?;
        let cpus = self
            .cpus
            .as_ref()
            .map(|n| parse_cpus(&n.to_string()))
            .transpose()
            .map_err(|e| ("limits.cpus", e.to_string()))?;
        Ok(crate::limits::Limits {
            memory,
            max_processes,
            cpus,
        })
    }
}

/// A profile. [`load`] returns it with `extends` resolved (merged, `extends` = `None`,
/// [`chain`](Profile::chain) listing what was merged).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// `$schema`, for editors.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Name (the built-in name or file stem when not given).
    #[serde(default)]
    pub name: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Parent profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extends: Option<String>,
    /// Deny groups switched on or off (JSON `groups`); unlisted groups are on.
    #[serde(rename = "groups", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub deny_groups: BTreeMap<String, bool>,
    /// Static filesystem grants.
    #[serde(default, skip_serializing_if = "Filesystem::is_empty")]
    pub filesystem: Filesystem,
    /// Network policy.
    #[serde(default, skip_serializing_if = "Network::is_empty")]
    pub network: Network,
    /// Environment policy.
    #[serde(default, skip_serializing_if = "Environment::is_empty")]
    pub environment: Environment,
    /// Runtime elevation.
    #[serde(default, skip_serializing_if = "SupervisorSettings::is_empty")]
    pub supervisor: SupervisorSettings,
    /// Resource limits.
    #[serde(default, skip_serializing_if = "LimitsSettings::is_empty")]
    pub limits: LimitsSettings,
    /// Profiles merged into this one, root first (`["default", "rust"]`). Not serialised.
    #[serde(skip)]
    pub chain: Vec<String>,
}

/// Where a profile's text comes from.
enum Source {
    Builtin(&'static str, &'static str),
    File(PathBuf),
}

fn user_profile_dir() -> Option<PathBuf> {
    Vars::from_env().map(|v| v.xdg_config_home.join("nono/profiles"))
}

fn is_path_like(spec: &str) -> bool {
    spec.contains('/') || spec.ends_with(".json") || spec.starts_with('.')
}

/// Find `spec`: a path (relative to `base` when given), a built-in, or a user profile.
fn locate(spec: &str, base: Option<&Path>) -> Result<(String, Source), ProfileError> {
    if is_path_like(spec) {
        let p = Path::new(spec);
        let p = match base {
            Some(b) if p.is_relative() => b.join(p),
            _ => p.to_path_buf(),
        };
        let canon = std::fs::canonicalize(&p).map_err(|source| ProfileError::Read {
            path: p.clone(),
            source,
        })?;
        return Ok((canon.display().to_string(), Source::File(canon)));
    }
    if let Some(text) = builtin_source(spec) {
        let name = BUILTINS
            .iter()
            .find(|(n, _)| *n == spec)
            .map_or("", |(n, _)| *n);
        return Ok((format!("built-in {spec}"), Source::Builtin(name, text)));
    }
    let dir = user_profile_dir();
    if let Some(d) = &dir {
        let p = d.join(format!("{spec}.json"));
        if let Ok(canon) = std::fs::canonicalize(&p) {
            return Ok((canon.display().to_string(), Source::File(canon)));
        }
    }
    Err(ProfileError::NotFound {
        name: spec.to_owned(),
        builtins: list().join(", "),
        user_dir: dir.map_or_else(
            || "$XDG_CONFIG_HOME/nono/profiles".to_owned(),
            |d| d.display().to_string(),
        ),
    })
}

/// Load a profile by built-in name, user profile name or file path, resolving `extends`,
/// and validate it.
pub fn load(name_or_path: &str) -> Result<Profile, ProfileError> {
    let mut chain = Vec::new();
    let profile = resolve(name_or_path, None, &mut chain)?;
    profile.validate()?;
    Ok(profile)
}

/// [`load`] a file: `path` is always read as a file, never looked up as a built-in or user
/// profile name (a bare `p.json` or `default` means `./p.json`, `./default`).
pub fn load_file(path: &Path) -> Result<Profile, ProfileError> {
    if path.components().count() > 1 {
        load(&path.display().to_string())
    } else {
        load(&format!("./{}", path.display()))
    }
}

/// Parse one profile's JSON text without resolving `extends` or validating. `file` names
/// the source in errors.
pub fn parse(text: &str, file: &str) -> Result<Profile, ProfileError> {
    let located = |e: serde_json::Error| {
        let (line, column) = (e.line(), e.column());
        let full = e.to_string();
        let suffix = format!(" at line {line} column {column}");
        let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
        ProfileError::Parse {
            file: file.to_owned(),
            line,
            column,
            field: json_path_at(text, line, column),
            message,
        }
    };
    // First every object's keys, then the types: a repeated key is an error even where the
    // typed parse would keep the last value (maps such as `groups`).
    serde_json::from_str::<unique_keys::UniqueKeys>(text).map_err(located)?;
    serde_json::from_str::<Profile>(text).map_err(located)
}

fn resolve(
    spec: &str,
    base: Option<&Path>,
    chain: &mut Vec<String>,
) -> Result<Profile, ProfileError> {
    let (id, source) = locate(spec, base)?;
    if chain.contains(&id) {
        chain.push(id);
        return Err(ProfileError::Cycle {
            chain: chain.join(" -> "),
        });
    }
    chain.push(id.clone());
    if chain.len() > MAX_DEPTH {
        return Err(ProfileError::TooDeep {
            chain: chain.join(" -> "),
        });
    }
    let (mut profile, dir) = match source {
        Source::Builtin(name, text) => {
            let mut p = parse(text, &id)?;
            if p.name.is_empty() {
                p.name = name.to_owned();
            }
            (p, None)
        }
        Source::File(path) => {
            let text = std::fs::read_to_string(&path).map_err(|source| ProfileError::Read {
                path: path.clone(),
                source,
            })?;
            let mut p = parse(&text, &id)?;
            if p.name.is_empty() {
                p.name = path
                    .file_stem()
                    .map_or_else(|| id.clone(), |s| s.to_string_lossy().into_owned());
            }
            (p, path.parent().map(Path::to_path_buf))
        }
    };
    let merged = match profile.extends.take() {
        Some(parent_spec) => {
            let parent = resolve(&parent_spec, dir.as_deref(), chain)?;
            merge(parent, profile)
        }
        None => {
            profile.chain = vec![profile.name.clone()];
            profile
        }
    };
    chain.pop();
    Ok(merged)
}

/// `a` then `b`, without repeating an element already present.
fn concat<T: PartialEq + Clone>(a: &[T], b: &[T]) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(a.len() + b.len());
    for x in a.iter().chain(b) {
        if !out.contains(x) {
            out.push(x.clone());
        }
    }
    out
}

/// Merge `child` over its resolved `parent`.
fn merge(parent: Profile, child: Profile) -> Profile {
    let mut groups = parent.deny_groups.clone();
    groups.extend(child.deny_groups.clone());
    let mut chain = parent.chain.clone();
    chain.push(child.name.clone());
    let (pf, cf) = (&parent.filesystem, &child.filesystem);
    let (pn, cn) = (&parent.network, &child.network);
    let (pe, ce) = (&parent.environment, &child.environment);
    let (ps, cs) = (&parent.supervisor, &child.supervisor);
    let ports = |a: &[u16], b: &[u16]| {
        let mut v = concat(a, b);
        v.sort_unstable();
        v
    };
    Profile {
        schema: child.schema.clone(),
        name: child.name.clone(),
        description: child.description.clone().or(parent.description.clone()),
        extends: None,
        deny_groups: groups,
        filesystem: Filesystem {
            allow: concat(&pf.allow, &cf.allow),
            read: concat(&pf.read, &cf.read),
            write: concat(&pf.write, &cf.write),
            deny: concat(&pf.deny, &cf.deny),
        },
        network: Network {
            block: cn.block.or(pn.block),
            connect: ports(&pn.connect, &cn.connect),
            bind: ports(&pn.bind, &cn.bind),
            allow_unix_datagram: cn.allow_unix_datagram.or(pn.allow_unix_datagram),
            allow_domain: concat(&pn.allow_domain, &cn.allow_domain),
            deny_domain: concat(&pn.deny_domain, &cn.deny_domain),
            network_profile: concat(&pn.network_profile, &cn.network_profile),
            credentials: pn
                .credentials
                .iter()
                .chain(&cn.credentials)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        },
        environment: Environment {
            inherit: ce.inherit.or(pe.inherit),
            allow: concat(&pe.allow, &ce.allow),
            deny: concat(&pe.deny, &ce.deny),
            set: pe
                .set
                .iter()
                .chain(&ce.set)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        },
        supervisor: SupervisorSettings {
            capability_elevation: cs.capability_elevation.or(ps.capability_elevation),
            approve: concat(&ps.approve, &cs.approve),
            allowed_origins: concat(&ps.allowed_origins, &cs.allowed_origins),
            prompt_timeout_secs: cs.prompt_timeout_secs.or(ps.prompt_timeout_secs),
            rate_limit: cs.rate_limit.or(ps.rate_limit),
        },
        limits: LimitsSettings {
            memory: child.limits.memory.clone().or(parent.limits.memory.clone()),
            max_processes: child.limits.max_processes.or(parent.limits.max_processes),
            cpus: child.limits.cpus.clone().or(parent.limits.cpus.clone()),
        },
        chain,
    }
}

/// The dotted path (`filesystem.read[2]`) of the value at 1-based `line`/`column` of a JSON
/// text, found by scanning the text up to there. Used to name the field in parse errors
/// (serde_json reports where, not which field, for type errors).
fn json_path_at(text: &str, line: usize, column: usize) -> String {
    enum Frame {
        Obj { key: Option<String>, want_key: bool },
        Arr { index: usize },
    }
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let end = (line_start + column).min(text.len());
    let bytes = text.as_bytes();
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < end {
        match bytes[i] {
            b'{' => stack.push(Frame::Obj {
                key: None,
                want_key: true,
            }),
            b'[' => stack.push(Frame::Arr { index: 0 }),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some(Frame::Obj { key, want_key }) => {
                    *key = None;
                    *want_key = true;
                }
                Some(Frame::Arr { index }) => *index += 1,
                None => {}
            },
            b':' => {
                if let Some(Frame::Obj { want_key, .. }) = stack.last_mut() {
                    *want_key = false;
                }
            }
            b'"' => {
                let start = i + 1;
                let mut j = start;
                while j < bytes.len() && bytes[j] != b'"' {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
                let s = text.get(start..j.min(text.len())).unwrap_or_default();
                if let Some(Frame::Obj {
                    key,
                    want_key: true,
                }) = stack.last_mut()
                {
                    *key = Some(s.to_owned());
                }
                i = j;
            }
            _ => {}
        }
        i += 1;
    }
    let mut out = String::new();
    for f in &stack {
        match f {
            Frame::Obj { key: Some(k), .. } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Frame::Obj { key: None, .. } => {}
            Frame::Arr { index } => out.push_str(&format!("[{index}]")),
        }
    }
    if out.is_empty() {
        "(top level)".to_owned()
    } else {
        out
    }
}

/// Expand a deny pattern with `*`/`?` in some components into the paths that exist now.
fn expand_deny_glob(pattern: &Path) -> Vec<PathBuf> {
    let mut current = vec![PathBuf::from("/")];
    for comp in pattern.components().skip(1) {
        let name = comp.as_os_str();
        let g = Glob::new(&name.to_string_lossy());
        if !g.has_wildcards() {
            for p in &mut current {
                p.push(name);
            }
            continue;
        }
        let mut next = Vec::new();
        for dir in &current {
            let Ok(rd) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut names: Vec<_> = rd
                .filter_map(Result::ok)
                .map(|e| e.file_name())
                .filter(|n| g.matches_name(n.as_encoded_bytes()))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|n| dir.join(n)));
        }
        current = next;
    }
    current
}

impl Profile {
    /// Check values that parse but make no sense. [`load`] calls this.
    pub fn validate(&self) -> Result<(), ProfileError> {
        let invalid = |field: String, message: String| ProfileError::Invalid {
            profile: self.name.clone(),
            field,
            message,
        };
        for (name, on) in &self.deny_groups {
            match deny_groups::group(name) {
                None => {
                    return Err(invalid(
                        format!("groups.{name}"),
                        format!(
                            "unknown deny group (known: {})",
                            deny_groups::group_names().join(", ")
                        ),
                    ))
                }
                Some(g) if !g.optional && !on => {
                    return Err(invalid(
                        format!("groups.{name}"),
                        format!(
                            "the `{name}` group cannot be switched off: {} (remove the entry)",
                            g.description
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
        let path_ok = |p: &str| p.starts_with(['/', '~', '$']);
        let fs = &self.filesystem;
        for (field, list) in [
            ("allow", &fs.allow),
            ("read", &fs.read),
            ("write", &fs.write),
        ] {
            for (i, e) in list.iter().enumerate() {
                if !path_ok(&e.path) {
                    return Err(invalid(
                        format!("filesystem.{field}[{i}]"),
                        format!(
                            "`{}` is relative; use an absolute path, ~ or $WORKDIR",
                            e.path
                        ),
                    ));
                }
            }
        }
        for (i, d) in fs.deny.iter().enumerate() {
            if !path_ok(d) {
                return Err(invalid(
                    format!("filesystem.deny[{i}]"),
                    format!("`{d}` is relative; use an absolute path, ~ or $WORKDIR"),
                ));
            }
            if d.split('/').any(|c| c == "**") {
                return Err(invalid(
                    format!("filesystem.deny[{i}]"),
                    "`**` is not supported in deny patterns (deny the directory itself instead)"
                        .to_owned(),
                ));
            }
        }
        let n = &self.network;
        if n.block == Some(true) && (!n.connect.is_empty() || !n.bind.is_empty()) {
            return Err(invalid(
                "network".to_owned(),
                "`block: true` cannot be combined with `connect`/`bind` ports (set block to false to allow only those ports)".to_owned(),
            ));
        }
        if n.block == Some(true) && n.has_egress_rules() {
            return Err(invalid(
                "network".to_owned(),
                "`block: true` cannot be combined with domain rules (allow_domain, deny_domain, network_profile): drop `block` to confine the command to nono's proxy".to_owned(),
            ));
        }
        for (field, list) in [("connect", &n.connect), ("bind", &n.bind)] {
            if let Some(i) = list.iter().position(|&p| p == 0) {
                return Err(invalid(
                    format!("network.{field}[{i}]"),
                    "port 0 is not a port (use 1-65535)".to_owned(),
                ));
            }
        }
        for (field, list) in [
            ("allow", &self.environment.allow),
            ("deny", &self.environment.deny),
        ] {
            for (i, p) in list.iter().enumerate() {
                if p.is_empty() || p.contains(['=', '/', '\0']) {
                    return Err(invalid(
                        format!("environment.{field}[{i}]"),
                        format!("`{p}` is not a variable name or pattern"),
                    ));
                }
            }
        }
        for (name, value) in &self.environment.set {
            let bad = env_policy::check_name(std::ffi::OsStr::new(name))
                .err()
                .map(|e| e.to_string())
                .or_else(|| {
                    value
                        .contains('\0')
                        .then(|| "the value contains a NUL byte".to_owned())
                });
            if let Some(message) = bad {
                return Err(invalid(format!("environment.set.{name}"), message));
            }
        }
        let s = &self.supervisor;
        for (i, a) in s.approve.iter().enumerate() {
            if !path_ok(&a.path) {
                return Err(invalid(
                    format!("supervisor.approve[{i}].path"),
                    format!(
                        "`{}` is relative; use an absolute path, ~ or $WORKDIR",
                        a.path
                    ),
                ));
            }
        }
        for (i, o) in s.allowed_origins.iter().enumerate() {
            if let Err(e) = crate::url::check_allowed_origins(&[o]) {
                return Err(invalid(
                    format!("supervisor.allowed_origins[{i}]"),
                    e.to_string(),
                ));
            }
        }
        if let Some(t) = s.prompt_timeout_secs {
            if !(1..=86_400).contains(&t) {
                return Err(invalid(
                    "supervisor.prompt_timeout_secs".to_owned(),
                    "must be between 1 and 86400 seconds".to_owned(),
                ));
            }
        }
        if let Err((field, message)) = self.limits.parse() {
            return Err(invalid(field.to_owned(), message));
        }
        if let Some(r) = s.rate_limit {
            if r.prompts == 0 || r.per_secs == 0 {
                return Err(invalid(
                    "supervisor.rate_limit".to_owned(),
                    "prompts and per_secs must both be at least 1 (set capability_elevation to false to allow no prompts)".to_owned(),
                ));
            }
        }
        Ok(())
    }

    /// The enabled deny groups: every built-in group not switched off (a group that is not
    /// `optional` is on whatever the profile says; [`validate`](Profile::validate) refuses
    /// a profile that tries).
    #[must_use]
    pub fn enabled_groups(&self) -> Vec<&'static str> {
        deny_groups::GROUPS
            .iter()
            .filter(|g| !g.optional || self.deny_groups.get(g.name).copied().unwrap_or(true))
            .map(|g| g.name)
            .collect()
    }

    fn origin(&self) -> Origin {
        Origin::Profile(self.name.clone())
    }

    fn expand(&self, vars: &Vars, field: &str, raw: &str) -> Result<PathBuf, ProfileError> {
        vars.expand(raw).map_err(|source| ProfileError::Var {
            profile: self.name.clone(),
            field: field.to_owned(),
            source,
        })
    }

    /// The `filesystem.deny` entries expanded (patterns matched against what exists now).
    fn deny_paths(&self, vars: &Vars) -> Result<Vec<(String, PathBuf)>, ProfileError> {
        let mut out = Vec::new();
        for (i, raw) in self.filesystem.deny.iter().enumerate() {
            let field = format!("filesystem.deny[{i}]");
            let path = self.expand(vars, &field, raw)?;
            if Glob::new(&path.to_string_lossy()).has_wildcards() {
                out.extend(
                    expand_deny_glob(&path)
                        .into_iter()
                        .map(|p| (field.clone(), p)),
                );
            } else {
                out.push((field, path));
            }
        }
        Ok(out)
    }

    /// Every path denied at runtime: the enabled deny groups plus `filesystem.deny`
    /// (under the label `profile NAME`).
    pub fn deny_set(&self, vars: &Vars) -> Result<DenySet, ProfileError> {
        let mut set = DenySet::from_groups(self.enabled_groups(), vars).map_err(|source| {
            ProfileError::DenyGroup {
                profile: self.name.clone(),
                source,
            }
        })?;
        for (field, p) in self.deny_paths(vars)? {
            set.add_profile(&p, &self.name)
                .map_err(|source| ProfileError::Caps {
                    profile: self.name.clone(),
                    field,
                    source,
                })?;
        }
        Ok(set)
    }

    /// The static sandbox this profile describes. Optional entries whose path is missing are
    /// skipped (see [`to_caps_with_skipped`](Profile::to_caps_with_skipped)).
    pub fn to_caps(&self, vars: &Vars) -> Result<CapabilitySet, ProfileError> {
        self.to_caps_with_skipped(vars).map(|(caps, _)| caps)
    }

    /// Like [`to_caps`](Profile::to_caps), also returning the optional paths that were
    /// skipped because they do not exist here (for `-v` / `--dry-run`).
    pub fn to_caps_with_skipped(
        &self,
        vars: &Vars,
    ) -> Result<(CapabilitySet, Vec<PathBuf>), ProfileError> {
        self.resolve(vars).map(|r| (r.caps, r.skipped))
    }

    /// This profile without its filesystem grants at or beneath `roots` (expanded with
    /// `vars`, symlinks resolved where the path exists), and the paths dropped. For
    /// `--private-tmp`: the host's shared temporary directories ([`host_tmp_dirs`]) are not
    /// granted, the private directory is. An entry that cannot be expanded is kept (its
    /// error belongs to [`resolve`](Profile::resolve)).
    #[must_use]
    pub fn without_grants_under(&self, vars: &Vars, roots: &[PathBuf]) -> (Profile, Vec<PathBuf>) {
        let mut out = self.clone();
        let mut dropped = Vec::new();
        let fs = &mut out.filesystem;
        for list in [&mut fs.allow, &mut fs.read, &mut fs.write] {
            list.retain(|e| {
                let Ok(p) = vars.expand(&e.path) else {
                    return true;
                };
                let p = std::fs::canonicalize(&p).unwrap_or(p);
                let under = roots.iter().any(|r| p.starts_with(r));
                if under && !dropped.contains(&p) {
                    dropped.push(p);
                }
                !under
            });
        }
        (out, dropped)
    }

    /// Everything a run needs from the profile, resolved once: the static sandbox, the deny
    /// set it was built with (for runtime checks, [`policy_with`](Profile::policy_with) and
    /// reports) and the optional paths skipped. Building the deny set touches the
    /// filesystem for every entry, so a caller that needs both should use this rather than
    /// [`to_caps`](Profile::to_caps) and [`deny_set`](Profile::deny_set).
    pub fn resolve(&self, vars: &Vars) -> Result<ResolvedProfile, ProfileError> {
        let deny = self.deny_set(vars)?;
        let mut caps = CapabilitySet::new();
        let mut skipped = Vec::new();
        let mut requested = Vec::new();
        let origin = self.origin();
        let fs = &self.filesystem;
        for (name, list, access) in [
            ("read", &fs.read, AccessMode::Read),
            ("allow", &fs.allow, AccessMode::ReadWrite),
            ("write", &fs.write, AccessMode::Write),
        ] {
            for (i, e) in list.iter().enumerate() {
                let field = format!("filesystem.{name}[{i}]");
                let path = match vars.expand(&e.path) {
                    Ok(p) => p,
                    Err(VarError::Unset { .. }) if e.optional => continue,
                    Err(source) => {
                        return Err(ProfileError::Var {
                            profile: self.name.clone(),
                            field,
                            source,
                        })
                    }
                };
                // `allow_path` resolves the path; one that cannot be resolved is missing.
                match caps.allow_path(&path, access, origin.clone()) {
                    Ok(_) => requested.push(crate::planted::RequestedGrant {
                        path,
                        origin: origin.clone(),
                    }),
                    Err(CapsError::NotFound { .. } | CapsError::Resolve { .. }) if e.optional => {
                        tracing::debug!(
                            "profile {}: skipping missing optional {}",
                            self.name,
                            path.display()
                        );
                        skipped.push(path);
                    }
                    Err(CapsError::NotFound { .. } | CapsError::Resolve { .. }) => {
                        return Err(ProfileError::MissingPath {
                            profile: self.name.clone(),
                            field,
                            path,
                        });
                    }
                    Err(source) => {
                        return Err(ProfileError::Caps {
                            profile: self.name.clone(),
                            field,
                            source,
                        })
                    }
                }
            }
        }
        deny.apply_to(&mut caps)
            .map_err(|source| ProfileError::Caps {
                profile: self.name.clone(),
                field: "filesystem.deny".to_owned(),
                source,
            })?;
        let n = &self.network;
        let mode = if n.block == Some(true) {
            NetworkMode::Block
        } else if !n.connect.is_empty() || !n.bind.is_empty() {
            NetworkMode::Ports {
                connect: n.connect.iter().copied().collect(),
                bind: n.bind.iter().copied().collect(),
            }
        } else {
            NetworkMode::Allow
        };
        caps.set_network(mode);
        caps.allow_unix_datagram(n.allow_unix_datagram == Some(true));
        Ok(ResolvedProfile {
            caps,
            deny,
            skipped,
            requested,
        })
    }

    /// The runtime policy: deny set, approve rules (expanded) and the prompt rate limit.
    pub fn policy(&self, vars: &Vars) -> Result<Policy, ProfileError> {
        self.policy_with(vars, self.deny_set(vars)?)
    }

    /// [`policy`](Profile::policy) with a deny set already built for these `vars` (from
    /// [`resolve`](Profile::resolve)).
    pub fn policy_with(&self, vars: &Vars, deny: DenySet) -> Result<Policy, ProfileError> {
        let mut approve = Vec::new();
        for (i, a) in self.supervisor.approve.iter().enumerate() {
            let field = format!("supervisor.approve[{i}].path");
            let path = self.expand(vars, &field, &a.path)?;
            approve.push(ApproveRule::new(
                &path.to_string_lossy(),
                a.access.into(),
                self.origin().to_string(),
            ));
        }
        Ok(Policy {
            deny,
            approve,
            rate_limit: Some(self.rate_limit()),
        })
    }

    /// The environment policy for the child.
    #[must_use]
    pub fn env_policy(&self) -> EnvPolicy {
        EnvPolicy {
            inherit: self.environment.inherit.unwrap_or(true),
            allow: self.environment.allow.clone(),
            deny: self.environment.deny.clone(),
        }
    }

    /// Whether the terminal prompt is on (default off; approve rules apply either way).
    #[must_use]
    pub fn capability_elevation(&self) -> bool {
        self.supervisor.capability_elevation.unwrap_or(false)
    }

    /// The terminal prompt timeout (default 60 s).
    #[must_use]
    pub fn prompt_timeout(&self) -> Duration {
        self.supervisor
            .prompt_timeout_secs
            .map_or(DEFAULT_PROMPT_TIMEOUT, Duration::from_secs)
    }

    /// The prompt rate limit (default 10 per 60 s).
    #[must_use]
    pub fn rate_limit(&self) -> RateLimit {
        self.supervisor
            .rate_limit
            .map_or_else(RateLimit::default, |r| RateLimit {
                prompts: r.prompts,
                per: Duration::from_secs(r.per_secs),
            })
    }

    /// The profile's resource limits (`limits.*`; validated when loaded, so a bad value
    /// here is none).
    #[must_use]
    pub fn limits(&self) -> crate::limits::Limits {
        self.limits.parse().unwrap_or_default()
    }

    /// Origins the program may ask to open.
    #[must_use]
    pub fn allowed_origins(&self) -> &[String] {
        &self.supervisor.allowed_origins
    }

    /// Pretty JSON (for `nono profile show`): the merged profile, loadable again.
    #[must_use]
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

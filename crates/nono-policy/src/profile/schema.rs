//! The profile file's shape: [`Profile`] and the types of its sections, as serde reads and
//! writes them (documented field by field in `schema.json`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use nono_sandbox::AccessMode;
use serde::{Deserialize, Serialize};

/// A path in a profile: a string, or `{"path": ..., "optional": true, "create": "dir"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathEntry {
    /// The path as written (variables not yet expanded).
    pub path: String,
    /// Skip when missing.
    pub optional: bool,
    /// Create when missing, before the sandbox is built (a cache directory a tool makes at
    /// its first use, which the sandbox could not make beside read-only or denied paths);
    /// see `profile::create`.
    pub create: Option<Create>,
}

/// What a profile entry's `create` makes of a missing path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Create {
    /// An empty directory, mode 0700 (and its missing parents, also 0700).
    Dir,
    /// An empty file, mode 0600 (and its missing parent directories, 0700): a lock file a
    /// tool opens with `O_CREAT` (`~/.cargo/.package-cache`).
    File,
}

impl PathEntry {
    /// A required entry.
    #[must_use]
    pub fn required(path: impl Into<String>) -> PathEntry {
        PathEntry {
            path: path.into(),
            optional: false,
            create: None,
        }
    }
}

impl Serialize for PathEntry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.optional || self.create.is_some() {
            PathEntryObject {
                path: self.path.clone(),
                optional: self.optional,
                create: self.create,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    create: Option<Create>,
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
                f.write_str(
                    r#"a path string or {"path": "...", "optional": true, "create": "dir"}"#,
                )
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
                    create: o.create,
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
    /// [`CapabilitySet::allow_unix_datagram`](nono_sandbox::CapabilitySet::allow_unix_datagram).
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
    pub(super) fn parse(&self) -> Result<crate::limits::Limits, (&'static str, String)> {
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

/// A profile. [`load`](super::load()) returns it with `extends` resolved (merged, `extends` = `None`,
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
    /// The files read to build this profile (the chain's files, root first; built-ins are
    /// not files). Not serialised. See [`crate::profile_trust`].
    #[serde(skip)]
    pub files: Vec<ProfileFile>,
}

/// A profile file as it was read: where, what, and the metadata of the very file read
/// (`fstat` of the open file after reading it, so a change made while it was read shows in
/// `ctime`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileFile {
    /// The path as it was looked up (absolute, not resolved: it may go through symlinks).
    pub spelled: PathBuf,
    /// Where it was found: its directory resolved, its own name kept (a symlink there is
    /// not followed). What trust is recorded for.
    pub at: PathBuf,
    /// The path every symlink resolved to.
    pub canonical: PathBuf,
    /// SHA-256 of the bytes read, lower-case hex.
    pub sha256: String,
    /// Inode change time of the file read, seconds since the epoch.
    pub ctime: i64,
    /// Owner.
    pub uid: u32,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    /// Hard links to the file (`st_nlink`): above 1 it has other names, anywhere on its file
    /// system, which a run may have written it through.
    pub nlink: u64,
    /// The symlinks met resolving `spelled` just before the file was opened, each with its
    /// ctime then (so a link swapped away after the read is still judged).
    pub links: Vec<(PathBuf, i64)>,
}

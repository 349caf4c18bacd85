//! `EnvPolicy`: which environment variables a sandboxed child inherits — a default
//! sanitisation of code-injection variables, plus a profile's own allow and deny patterns.
//!
//! # The default sanitisation
//! [`DEFAULT_STRIPPED`] lists variables that make a dynamic loader, a shell or a language
//! runtime load or run extra code named by the variable: pre-loaded libraries, start-up
//! scripts, extra interpreter options. A user's shell may carry them for unrelated reasons
//! (a debugging `LD_PRELOAD`, an `NODE_OPTIONS=--require ...` hook); the sandboxed program
//! should start from what its command line says, not from hooks it inherited by accident.
//! Search-path variables that development tools set on purpose (`PYTHONPATH`, `PERL5LIB`,
//! `RUBYLIB`, `NODE_PATH`, `CLASSPATH`) are *not* stripped; a profile can deny them.
//!
//! # The credential-variable deny group
//! [`CREDENTIAL_VARS`] lists cloud keys and session tokens, VCS tokens and package-registry
//! tokens: variables whose only purpose is to authenticate as the user to a service the
//! command has no business acting on. They are dropped by default (the caller prints their
//! *names*, never values, with the flag that passes one: `--setenv NAME`). Like a path deny
//! group it wins over the profile's `allow` patterns; only the user naming the variable
//! (`--setenv NAME`, `environment.set`) passes it.
//!
//! The list is exact names plus patterns *inside one vendor's documented family*
//! (`CARGO_REGISTRIES_*_TOKEN`, `TF_TOKEN_*`). There is deliberately no generic `*_TOKEN`,
//! `*_SECRET`, `*_KEY` or `*_PASSWORD`: those match the agent's own model credentials
//! (`ANTHROPIC_AUTH_TOKEN`, `CLAUDE_CODE_OAUTH_TOKEN`, `OPENAI_API_KEY`, `HF_TOKEN`), which
//! must keep working (`--credential` on the network side is the better way to keep those
//! out), and harmless names (`XDG_ACTIVATION_TOKEN`, `SSH_KEY_PATH`-style paths). A profile
//! that wants the broad patterns adds them to `environment.deny`.
//!
//! Independently of this policy, the spawner always removes `LD_*`, `DYLD_*` and glibc's
//! unsecure-variable list (`nono_supervisor::env`), even if a profile allows them.
//!
//! # Precedence
//! `deny` (profile) > credential group > `allow` (profile) > default sanitisation >
//! `inherit`; then `--unsetenv` removes, and `environment.set` / `--setenv` set (the flag
//! wins over the profile), see [`EnvPolicy::child_env`].

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use serde::Serialize;

use crate::policy::Glob;

/// Variables removed by default (patterns: `*` matches any run of characters).
pub const DEFAULT_STRIPPED: &[&str] = &[
    // Dynamic loaders (glibc/musl, macOS dyld) and glibc's own code-loading knobs.
    "LD_*",
    "DYLD_*",
    "GCONV_PATH",
    "GLIBC_TUNABLES",
    // Shells: start-up files, exported functions, options, prompt hooks.
    "BASH_ENV",
    "ENV",
    "BASH_FUNC_*",
    "SHELLOPTS",
    "BASHOPTS",
    "PS4",
    "PROMPT_COMMAND",
    "ZDOTDIR",
    // Python: start-up script and a breakpoint hook that imports any callable.
    "PYTHONSTARTUP",
    "PYTHONBREAKPOINT",
    // Perl: extra options (`-M` loads modules) and the debugger.
    "PERL5OPT",
    "PERL5DB",
    // Ruby, Node.js, the JVM: extra interpreter options (`-r`, `--require`, `-javaagent`).
    "RUBYOPT",
    "NODE_OPTIONS",
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS",
];

/// The credential-variable deny group (patterns: `*` matches any run of characters). See the
/// module docs for why there is no generic `*_TOKEN`.
pub const CREDENTIAL_VARS: &[&str] = &[
    // Cloud providers: keys, secrets and session tokens.
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD",
    "AZURE_STORAGE_KEY",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_SAS_TOKEN",
    "ARM_CLIENT_SECRET",
    "ARM_ACCESS_KEY",
    "GOOGLE_OAUTH_ACCESS_TOKEN",
    "CLOUDSDK_AUTH_ACCESS_TOKEN",
    "GOOGLE_CREDENTIALS",
    "DIGITALOCEAN_ACCESS_TOKEN",
    "DIGITALOCEAN_TOKEN",
    "HCLOUD_TOKEN",
    "LINODE_TOKEN",
    "CLOUDFLARE_API_TOKEN",
    "CLOUDFLARE_API_KEY",
    "HEROKU_API_KEY",
    "VERCEL_TOKEN",
    "NETLIFY_AUTH_TOKEN",
    "FLY_API_TOKEN",
    // Infrastructure tooling.
    "VAULT_TOKEN",
    "CONSUL_HTTP_TOKEN",
    "NOMAD_TOKEN",
    "TF_TOKEN_*",
    "TFE_TOKEN",
    // Version control and CI.
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "GH_ENTERPRISE_TOKEN",
    "GITHUB_ENTERPRISE_TOKEN",
    "GITHUB_PAT",
    "HOMEBREW_GITHUB_API_TOKEN",
    "ACTIONS_RUNTIME_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "GITLAB_TOKEN",
    "GITLAB_PRIVATE_TOKEN",
    "GL_TOKEN",
    "CI_JOB_TOKEN",
    "BITBUCKET_TOKEN",
    "BITBUCKET_APP_PASSWORD",
    "GITEA_TOKEN",
    // Package registries.
    "NPM_TOKEN",
    "NODE_AUTH_TOKEN",
    "YARN_NPM_AUTH_TOKEN",
    "CARGO_REGISTRY_TOKEN",
    "CARGO_REGISTRIES_*_TOKEN",
    "PYPI_TOKEN",
    "PYPI_API_TOKEN",
    "TWINE_PASSWORD",
    "UV_PUBLISH_TOKEN",
    "UV_PUBLISH_PASSWORD",
    "POETRY_PYPI_TOKEN_*",
    "POETRY_HTTP_BASIC_*_PASSWORD",
    "GEM_HOST_API_KEY",
    "NUGET_API_KEY",
    "DOCKER_PASSWORD",
    "DOCKER_AUTH_CONFIG",
    "CR_PAT",
    // Service tokens commonly exported for CI uploads.
    "CODECOV_TOKEN",
    "SENTRY_AUTH_TOKEN",
    "SNYK_TOKEN",
];

/// What `--clearenv` keeps besides the profile's `allow` patterns.
pub const CLEARENV_KEEP: &[&str] = &["PATH", "HOME", "TERM", "LANG", "USER", "TMPDIR"];

/// Whether `name` is in the credential-variable group ([`CREDENTIAL_VARS`]).
#[must_use]
pub fn is_credential_var(name: &OsStr) -> bool {
    CREDENTIAL_VARS
        .iter()
        .any(|p| Glob::new(p).matches_name(name.as_bytes()))
}

/// The environment a child inherits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvPolicy {
    /// Pass the parent's variables through (after the filters). `false`: only variables
    /// matching `allow` pass.
    pub inherit: bool,
    /// Patterns that pass even when the default sanitisation would remove them (and, with
    /// `inherit: false`, the only ones that pass).
    pub allow: Vec<String>,
    /// Patterns that never pass (wins over `allow`).
    pub deny: Vec<String>,
}

impl Default for EnvPolicy {
    fn default() -> Self {
        EnvPolicy {
            inherit: true,
            allow: Vec::new(),
            deny: Vec::new(),
        }
    }
}

/// The policy's patterns compiled once (an environment has dozens of variables, and every
/// one is checked against every pattern).
struct Compiled {
    inherit: bool,
    allow: Vec<Glob>,
    deny: Vec<Glob>,
    stripped: Vec<Glob>,
    credentials: Vec<Glob>,
}

fn compile(patterns: impl IntoIterator<Item = impl AsRef<str>>) -> Vec<Glob> {
    patterns
        .into_iter()
        .map(|p| Glob::new(p.as_ref()))
        .collect()
}

impl Compiled {
    fn allows(&self, name: &[u8]) -> bool {
        self.verdict(name, false).is_none()
    }

    /// Why `name` is removed (`None`: it passes). `credentials`: apply the credential group.
    fn verdict(&self, name: &[u8], credentials: bool) -> Option<Removed> {
        let any = |globs: &[Glob]| globs.iter().any(|g| g.matches_name(name));
        if any(&self.deny) {
            return Some(Removed::ProfileDeny);
        }
        if credentials && any(&self.credentials) {
            return Some(Removed::CredentialGroup);
        }
        if any(&self.allow) {
            return None;
        }
        if any(&self.stripped) {
            return Some(Removed::Injection);
        }
        (!self.inherit).then_some(Removed::NotInherited)
    }
}

/// The value of one `--setenv` / `environment.set` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetValue {
    /// This value.
    Value(OsString),
    /// nono's own current value (`--setenv NAME`): passes a variable a filter would drop.
    Inherit,
}

/// Where a variable set in the child's environment came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SetOrigin {
    /// `--setenv`.
    #[serde(rename = "--setenv")]
    Setenv,
    /// The profile's `environment.set`.
    #[serde(rename = "environment.set")]
    ProfileSet,
    /// `--private-tmp` (`TMPDIR`).
    #[serde(rename = "--private-tmp")]
    PrivateTmp,
    /// The user's `$TMPDIR` could not be granted safely (a symlink, another user's, writable
    /// by others); a fresh private directory stands in (`TMPDIR`).
    #[serde(rename = "tmpdir-refused")]
    TmpdirRefused,
}

impl SetOrigin {
    /// How the plan names it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            SetOrigin::Setenv => "--setenv",
            SetOrigin::ProfileSet => "environment.set",
            SetOrigin::PrivateTmp => "--private-tmp",
            SetOrigin::TmpdirRefused => "$TMPDIR refused, private directory",
        }
    }
}

/// Why a variable of nono's environment does not reach the child.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Removed {
    /// Always removed by the spawner (`LD_*`, glibc's unsecure list; see `crate::env`).
    AlwaysRemoved,
    /// The profile's `environment.deny`.
    ProfileDeny,
    /// The credential-variable group ([`CREDENTIAL_VARS`]).
    CredentialGroup,
    /// The default sanitisation ([`DEFAULT_STRIPPED`]).
    Injection,
    /// Not inherited (`environment.inherit: false` or `--clearenv`).
    NotInherited,
    /// `--unsetenv`.
    Unsetenv,
}

impl Removed {
    /// How the plan names the reason.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Removed::AlwaysRemoved => "always removed (loader injection)",
            Removed::ProfileDeny => "environment.deny",
            Removed::CredentialGroup => "credential variables (--setenv NAME passes one)",
            Removed::Injection => "default sanitisation (environment.allow passes one)",
            Removed::NotInherited => "not inherited (--clearenv / environment.inherit)",
            Removed::Unsetenv => "--unsetenv",
        }
    }
}

/// The command line's (and the profile's `environment.set`) changes to the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvRequest {
    /// `--clearenv`: pass only the profile's `allow` patterns and [`CLEARENV_KEEP`].
    pub clear: bool,
    /// Variables to set, in order (a later entry for the same name wins).
    pub set: Vec<(OsString, SetValue, SetOrigin)>,
    /// `--unsetenv` names.
    pub unset: Vec<OsString>,
}

/// One variable set in the child's environment (the value is never recorded here: plans
/// and notes are printed, and values may be secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetVar {
    /// The name.
    pub name: String,
    /// Where it came from.
    pub origin: SetOrigin,
    /// `true` when nono's own current value was passed (`--setenv NAME`).
    pub inherited_value: bool,
}

/// One variable of nono's environment that the child does not get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemovedVar {
    /// The name.
    pub name: String,
    /// Why.
    pub reason: Removed,
}

/// The child's environment and what changed relative to nono's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChildEnv {
    /// The variables, in nono's order, set ones last.
    pub vars: Vec<(OsString, OsString)>,
    /// Variables set or overridden.
    pub set: Vec<SetVar>,
    /// Variables removed, in nono's order.
    pub removed: Vec<RemovedVar>,
}

impl ChildEnv {
    /// The names removed by the credential group (for the one-line note).
    #[must_use]
    pub fn dropped_credentials(&self) -> Vec<&str> {
        self.removed
            .iter()
            .filter(|r| r.reason == Removed::CredentialGroup)
            .map(|r| r.name.as_str())
            .collect()
    }
}

/// Why an environment request cannot be honoured. Names the variable; the CLI adds the flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvError {
    /// Empty, or containing `=` or NUL.
    #[error("`{name}` is not a variable name")]
    BadName {
        /// The name as given.
        name: String,
    },
    /// A value containing NUL.
    #[error("the value of {name} contains a NUL byte")]
    BadValue {
        /// The name.
        name: String,
    },
    /// A variable the spawner always removes.
    #[error("{name} is always removed from the command's environment (it makes the loader or libc load code or data it names) and cannot be set")]
    AlwaysRemoved {
        /// The name.
        name: String,
    },
    /// `--setenv NAME` for a variable nono does not have.
    #[error("{name} is not set in nono's environment, so there is no value to pass (give one: --setenv {name}=VALUE)")]
    NotSet {
        /// The name.
        name: String,
    },
    /// Both set and unset.
    #[error("{name} is both set (--setenv / environment.set) and removed (--unsetenv); drop one")]
    SetAndUnset {
        /// The name.
        name: String,
    },
}

/// Check a variable name for `--setenv`/`--unsetenv`/`environment.set`.
pub fn check_name(name: &OsStr) -> Result<(), EnvError> {
    let b = name.as_bytes();
    if b.is_empty() || b.contains(&b'=') || b.contains(&0) {
        return Err(EnvError::BadName {
            name: name.to_string_lossy().into_owned(),
        });
    }
    if crate::env::is_dangerous(name) {
        return Err(EnvError::AlwaysRemoved {
            name: name.to_string_lossy().into_owned(),
        });
    }
    Ok(())
}

impl EnvPolicy {
    fn compile(&self) -> Compiled {
        Compiled {
            inherit: self.inherit,
            allow: compile(&self.allow),
            deny: compile(&self.deny),
            stripped: compile(DEFAULT_STRIPPED),
            credentials: compile(CREDENTIAL_VARS),
        }
    }

    /// The child's environment from nono's (`vars`, e.g. `std::env::vars_os()`): this
    /// policy with the credential group, then `req` (see the module docs for the order).
    /// Returns the variables and what changed, by name only.
    pub fn child_env(
        &self,
        vars: impl IntoIterator<Item = (OsString, OsString)>,
        req: &EnvRequest,
    ) -> Result<ChildEnv, EnvError> {
        let mut compiled = self.compile();
        if req.clear {
            compiled.inherit = false;
            compiled.allow.extend(compile(CLEARENV_KEEP));
        }
        for (name, value, _) in &req.set {
            check_name(name)?;
            if let SetValue::Value(v) = value {
                if v.as_bytes().contains(&0) {
                    return Err(EnvError::BadValue {
                        name: name.to_string_lossy().into_owned(),
                    });
                }
            }
            if req.unset.contains(name) {
                return Err(EnvError::SetAndUnset {
                    name: name.to_string_lossy().into_owned(),
                });
            }
        }
        for name in &req.unset {
            let b = name.as_bytes();
            if b.is_empty() || b.contains(&b'=') || b.contains(&0) {
                return Err(EnvError::BadName {
                    name: name.to_string_lossy().into_owned(),
                });
            }
        }
        let lossy = |n: &OsStr| n.to_string_lossy().into_owned();
        let is_set = |n: &OsStr| req.set.iter().any(|(s, _, _)| s == n);
        let mut out = ChildEnv::default();
        let mut parent: Vec<(OsString, OsString)> = Vec::new();
        for (k, v) in vars {
            let reason = if crate::env::sanitize([(k.clone(), v.clone())]).is_empty() {
                Some(Removed::AlwaysRemoved)
            } else if req.unset.contains(&k) {
                Some(Removed::Unsetenv)
            } else if is_set(&k) {
                None
            } else {
                compiled.verdict(k.as_bytes(), true)
            };
            match reason {
                Some(reason) => out.removed.push(RemovedVar {
                    name: lossy(&k),
                    reason,
                }),
                None if !is_set(&k) => out.vars.push((k.clone(), v.clone())),
                None => {}
            }
            parent.push((k, v));
        }
        // The last entry per name wins (the flag over the profile).
        let mut seen: Vec<&OsStr> = Vec::new();
        let mut sets: Vec<(OsString, OsString, SetVar)> = Vec::new();
        for (name, value, origin) in req.set.iter().rev() {
            if seen.contains(&name.as_os_str()) {
                continue;
            }
            seen.push(name);
            let (value, inherited_value) = match value {
                SetValue::Value(v) => (v.clone(), false),
                SetValue::Inherit => {
                    let v = parent
                        .iter()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.clone())
                        .ok_or_else(|| EnvError::NotSet { name: lossy(name) })?;
                    (v, true)
                }
            };
            sets.push((
                name.clone(),
                value,
                SetVar {
                    name: lossy(name),
                    origin: *origin,
                    inherited_value,
                },
            ));
        }
        sets.reverse();
        for (k, v, set) in sets {
            out.vars.push((k, v));
            out.set.push(set);
        }
        Ok(out)
    }

    /// Whether variable `name` passes.
    #[must_use]
    pub fn allows(&self, name: &OsStr) -> bool {
        self.compile().allows(name.as_bytes())
    }

    /// Filter `vars` (e.g. `std::env::vars_os()`), keeping order.
    #[must_use]
    pub fn apply(
        &self,
        vars: impl IntoIterator<Item = (OsString, OsString)>,
    ) -> Vec<(OsString, OsString)> {
        let compiled = self.compile();
        vars.into_iter()
            .filter(|(k, _)| compiled.allows(k.as_bytes()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(p: &EnvPolicy, vars: &[&str]) -> Vec<String> {
        p.apply(
            vars.iter()
                .map(|v| (OsString::from(v), OsString::from("x"))),
        )
        .into_iter()
        .map(|(k, _)| k.into_string().unwrap())
        .collect()
    }

    #[test]
    fn default_strips_injection_variables_only() {
        let p = EnvPolicy::default();
        let kept = names(
            &p,
            &[
                "PATH",
                "HOME",
                "LD_PRELOAD",
                "LD_LIBRARY_PATH",
                "DYLD_INSERT_LIBRARIES",
                "BASH_ENV",
                "BASH_FUNC_foo%%",
                "NODE_OPTIONS",
                "PYTHONPATH",
                "PYTHONSTARTUP",
                "PERL5OPT",
                "RUBYOPT",
                "JAVA_TOOL_OPTIONS",
                "ANTHROPIC_API_KEY",
                "XLD_PRELOAD",
            ],
        );
        assert_eq!(
            kept,
            [
                "PATH",
                "HOME",
                "PYTHONPATH",
                "ANTHROPIC_API_KEY",
                "XLD_PRELOAD"
            ]
        );
    }

    #[test]
    fn allow_reenables_and_deny_wins() {
        let p = EnvPolicy {
            inherit: true,
            allow: vec!["NODE_OPTIONS".into(), "AWS_REGION".into()],
            deny: vec!["AWS_*".into(), "*_TOKEN".into()],
        };
        let kept = names(
            &p,
            &[
                "NODE_OPTIONS",
                "AWS_REGION",
                "AWS_SECRET_ACCESS_KEY",
                "GITHUB_TOKEN",
                "TERM",
            ],
        );
        assert_eq!(kept, ["NODE_OPTIONS", "TERM"]);
    }

    fn env(vars: &[&str]) -> Vec<(OsString, OsString)> {
        vars.iter()
            .map(|v| (OsString::from(v), OsString::from(format!("value-of-{v}"))))
            .collect()
    }

    #[test]
    fn credential_group_is_dropped_by_default_and_wins_over_allow() {
        let p = EnvPolicy {
            inherit: true,
            allow: vec!["*".into()],
            deny: vec![],
        };
        let out = p
            .child_env(
                env(&[
                    "PATH",
                    "AWS_SECRET_ACCESS_KEY",
                    "GITHUB_TOKEN",
                    "CARGO_REGISTRIES_MY_CORP_TOKEN",
                    "ANTHROPIC_API_KEY",
                    "ANTHROPIC_AUTH_TOKEN",
                    "CLAUDE_CODE_OAUTH_TOKEN",
                    "OPENAI_API_KEY",
                    "XDG_ACTIVATION_TOKEN",
                ]),
                &EnvRequest::default(),
            )
            .unwrap();
        let kept: Vec<_> = out.vars.iter().map(|(k, _)| k.to_str().unwrap()).collect();
        assert_eq!(
            kept,
            [
                "PATH",
                "ANTHROPIC_API_KEY",
                "ANTHROPIC_AUTH_TOKEN",
                "CLAUDE_CODE_OAUTH_TOKEN",
                "OPENAI_API_KEY",
                "XDG_ACTIVATION_TOKEN"
            ]
        );
        assert_eq!(
            out.dropped_credentials(),
            [
                "AWS_SECRET_ACCESS_KEY",
                "GITHUB_TOKEN",
                "CARGO_REGISTRIES_MY_CORP_TOKEN"
            ]
        );
        // `allows` is the profile's own view; the group is applied by `child_env`.
        assert!(p.allows(OsStr::new("GITHUB_TOKEN")));
    }

    #[test]
    fn setenv_passes_sets_and_unsetenv_removes() {
        let p = EnvPolicy::default();
        let req = EnvRequest {
            clear: false,
            set: vec![
                (
                    "FOO".into(),
                    SetValue::Value("profile".into()),
                    SetOrigin::ProfileSet,
                ),
                (
                    "FOO".into(),
                    SetValue::Value("flag".into()),
                    SetOrigin::Setenv,
                ),
                ("GITHUB_TOKEN".into(), SetValue::Inherit, SetOrigin::Setenv),
            ],
            unset: vec!["HOME".into()],
        };
        let out = p
            .child_env(env(&["HOME", "GITHUB_TOKEN", "GH_TOKEN", "FOO"]), &req)
            .unwrap();
        let got: Vec<_> = out
            .vars
            .iter()
            .map(|(k, v)| format!("{}={}", k.to_str().unwrap(), v.to_str().unwrap()))
            .collect();
        assert_eq!(got, ["FOO=flag", "GITHUB_TOKEN=value-of-GITHUB_TOKEN"]);
        assert_eq!(out.dropped_credentials(), ["GH_TOKEN"]);
        assert_eq!(out.set[0].origin, SetOrigin::Setenv);
        assert!(out.set[1].inherited_value);
        assert!(out
            .removed
            .iter()
            .any(|r| r.name == "HOME" && r.reason == Removed::Unsetenv));
    }

    #[test]
    fn clearenv_keeps_the_base_list_and_the_profile_allow() {
        let p = EnvPolicy {
            inherit: true,
            allow: vec!["LC_*".into()],
            deny: vec![],
        };
        let req = EnvRequest {
            clear: true,
            ..EnvRequest::default()
        };
        let out = p
            .child_env(
                env(&[
                    "PATH",
                    "HOME",
                    "TERM",
                    "LANG",
                    "USER",
                    "TMPDIR",
                    "LC_ALL",
                    "EDITOR",
                    "LD_PRELOAD",
                ]),
                &req,
            )
            .unwrap();
        let kept: Vec<_> = out.vars.iter().map(|(k, _)| k.to_str().unwrap()).collect();
        assert_eq!(
            kept,
            ["PATH", "HOME", "TERM", "LANG", "USER", "TMPDIR", "LC_ALL"]
        );
        assert_eq!(
            out.removed,
            [
                RemovedVar {
                    name: "EDITOR".into(),
                    reason: Removed::NotInherited
                },
                RemovedVar {
                    name: "LD_PRELOAD".into(),
                    reason: Removed::AlwaysRemoved
                },
            ]
        );
    }

    #[test]
    fn bad_requests_name_the_variable() {
        let p = EnvPolicy::default();
        let one = |name: &str, value: SetValue| EnvRequest {
            set: vec![(name.into(), value, SetOrigin::Setenv)],
            ..EnvRequest::default()
        };
        let err = |req: EnvRequest| p.child_env(env(&["A"]), &req).unwrap_err();
        assert!(matches!(
            err(one("MISSING", SetValue::Inherit)),
            EnvError::NotSet { .. }
        ));
        assert!(matches!(
            err(one("LD_PRELOAD", SetValue::Value("x".into()))),
            EnvError::AlwaysRemoved { .. }
        ));
        assert!(matches!(
            err(one("A=B", SetValue::Inherit)),
            EnvError::BadName { .. }
        ));
        let mut both = one("A", SetValue::Inherit);
        both.unset.push("A".into());
        assert!(matches!(err(both), EnvError::SetAndUnset { .. }));
    }

    #[test]
    fn no_inherit_passes_only_the_allow_list() {
        let p = EnvPolicy {
            inherit: false,
            allow: vec!["PATH".into(), "LC_*".into()],
            deny: vec![],
        };
        assert_eq!(
            names(&p, &["PATH", "HOME", "LC_ALL", "LANG"]),
            ["PATH", "LC_ALL"]
        );
    }
}

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
//! Secrets in the environment (`*_TOKEN`, `AWS_*`, ...) are not stripped by default either
//! (agents need their own API keys); deny them in a profile (`"deny": ["AWS_*"]`).
//!
//! Independently of this policy, the spawner always removes `LD_*`, `DYLD_*` and glibc's
//! unsecure-variable list (`nono_supervisor::env`), even if a profile allows them.
//!
//! # Precedence
//! `deny` (profile) > `allow` (profile) > default sanitisation > `inherit`.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

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
}

fn compile(patterns: impl IntoIterator<Item = impl AsRef<str>>) -> Vec<Glob> {
    patterns
        .into_iter()
        .map(|p| Glob::new(p.as_ref()))
        .collect()
}

impl Compiled {
    fn allows(&self, name: &[u8]) -> bool {
        let any = |globs: &[Glob]| globs.iter().any(|g| g.matches_name(name));
        if any(&self.deny) {
            return false;
        }
        if any(&self.allow) {
            return true;
        }
        if any(&self.stripped) {
            return false;
        }
        self.inherit
    }
}

impl EnvPolicy {
    fn compile(&self) -> Compiled {
        Compiled {
            inherit: self.inherit,
            allow: compile(&self.allow),
            deny: compile(&self.deny),
            stripped: compile(DEFAULT_STRIPPED),
        }
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

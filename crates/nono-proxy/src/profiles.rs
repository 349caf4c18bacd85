//! Network profiles: named, embedded sets of hosts built from groups (`--network-profile`).
//!
//! A profile is a list of groups; a group is a list of `--allow-domain` values. Both are
//! data here, listable by `nono profile show`; [`profile_hosts`] accepts a profile or a
//! group name.

/// A named group of `--allow-domain` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkGroup {
    /// Group name (`github`).
    pub name: &'static str,
    /// One line for listings.
    pub description: &'static str,
    /// Its `--allow-domain` values.
    pub hosts: &'static [&'static str],
}

/// A named network profile: groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkProfile {
    /// Profile name (`developer`).
    pub name: &'static str,
    /// One line for listings.
    pub description: &'static str,
    /// The groups it allows.
    pub groups: &'static [&'static str],
}

/// Every group.
pub const NETWORK_GROUPS: &[NetworkGroup] = &[
    NetworkGroup {
        name: "llm-apis",
        description: "hosted LLM APIs (OpenAI, Anthropic, Google, Mistral, Groq, OpenRouter, ...)",
        hosts: &[
            "api.openai.com",
            "api.anthropic.com",
            "statsig.anthropic.com",
            "generativelanguage.googleapis.com",
            "api.mistral.ai",
            "api.groq.com",
            "api.cohere.com",
            "api.cohere.ai",
            "openrouter.ai",
            "api.deepseek.com",
            "api.together.xyz",
            "api.x.ai",
            "api.fireworks.ai",
        ],
    },
    NetworkGroup {
        name: "package-registries",
        description: "language package registries (npm, PyPI, crates.io, Go, RubyGems, Maven)",
        hosts: &[
            "registry.npmjs.org",
            "registry.yarnpkg.com",
            "pypi.org",
            "files.pythonhosted.org",
            "crates.io",
            "index.crates.io",
            "static.crates.io",
            "static.rust-lang.org",
            "proxy.golang.org",
            "sum.golang.org",
            "rubygems.org",
            "index.rubygems.org",
            "repo.maven.apache.org",
            "repo1.maven.org",
        ],
    },
    NetworkGroup {
        name: "github",
        description: "GitHub: web, API, raw content, release downloads, container registry",
        hosts: &[
            "github.com",
            "api.github.com",
            "codeload.github.com",
            "uploads.github.com",
            "*.githubusercontent.com",
            "ghcr.io",
        ],
    },
    NetworkGroup {
        name: "docs",
        description: "language and library documentation sites",
        hosts: &[
            "docs.rs",
            "doc.rust-lang.org",
            "docs.python.org",
            "developer.mozilla.org",
            "nodejs.org",
            "pkg.go.dev",
            "go.dev",
            "docs.github.com",
            "learn.microsoft.com",
        ],
    },
];

/// Every profile.
pub const NETWORK_PROFILES: &[NetworkProfile] = &[
    NetworkProfile {
        name: "minimal",
        description: "LLM APIs only",
        groups: &["llm-apis"],
    },
    NetworkProfile {
        name: "developer",
        description: "LLM APIs, package registries, GitHub and documentation",
        groups: &["llm-apis", "package-registries", "github", "docs"],
    },
];

/// The group of this name.
pub fn network_group(name: &str) -> Option<&'static NetworkGroup> {
    NETWORK_GROUPS.iter().find(|g| g.name == name)
}

/// The profile of this name.
pub fn network_profile(name: &str) -> Option<&'static NetworkProfile> {
    NETWORK_PROFILES.iter().find(|p| p.name == name)
}

impl NetworkProfile {
    /// Its hosts, group by group.
    pub fn hosts(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.groups
            .iter()
            .filter_map(|g| network_group(g))
            .flat_map(|g| g.hosts.iter().copied())
    }
}

/// The `--allow-domain` values of a profile or, failing that, a group of this name.
pub fn profile_hosts(name: &str) -> Option<Vec<&'static str>> {
    if let Some(p) = network_profile(name) {
        return Some(p.hosts().collect());
    }
    network_group(name).map(|g| g.hosts.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::HostRule;

    #[test]
    fn every_host_parses_and_every_group_exists() {
        for g in NETWORK_GROUPS {
            for h in g.hosts {
                HostRule::parse(h).unwrap_or_else(|e| panic!("{}: {h}: {e}", g.name));
            }
        }
        for p in NETWORK_PROFILES {
            for g in p.groups {
                assert!(network_group(g).is_some(), "{}: {g}", p.name);
            }
        }
        assert!(profile_hosts("developer").unwrap().contains(&"pypi.org"));
        assert!(profile_hosts("github").unwrap().contains(&"github.com"));
        assert!(profile_hosts("nope").is_none());
    }
}

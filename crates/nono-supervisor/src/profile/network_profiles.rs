//! The embedded network profiles (`--network-profile NAME`, `network.network_profile`): named
//! sets of `--allow-domain` rules built from groups. A group's name is a profile too.
//!
//! These are convenience sets, not vetted trust: every domain here can serve content its
//! users upload (a package, a gist, a release asset), so a command allowed to reach them can
//! also send data there (see docs/THREAT_MODEL.md, "broad domains").

/// One group: its name, what it is for, and its rules (in `--allow-domain` syntax).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DomainGroup {
    /// `llm-apis`.
    pub name: &'static str,
    /// One line.
    pub description: &'static str,
    /// The rules.
    pub domains: &'static [&'static str],
}

/// The groups.
pub const GROUPS: &[DomainGroup] = &[
    DomainGroup {
        name: "llm-apis",
        description: "hosted LLM APIs (OpenAI, Anthropic, Google, Mistral, Groq, OpenRouter, ...)",
        domains: &[
            "api.openai.com",
            "api.anthropic.com",
            "generativelanguage.googleapis.com",
            "api.mistral.ai",
            "api.groq.com",
            "api.deepseek.com",
            "api.together.xyz",
            "api.cohere.com",
            "openrouter.ai",
        ],
    },
    DomainGroup {
        name: "package-registries",
        description: "language package registries (PyPI, npm, crates.io, Go, RubyGems, Maven)",
        domains: &[
            "pypi.org",
            "files.pythonhosted.org",
            "registry.npmjs.org",
            "registry.yarnpkg.com",
            "crates.io",
            "index.crates.io",
            "static.crates.io",
            "proxy.golang.org",
            "sum.golang.org",
            "rubygems.org",
            "index.rubygems.org",
            "repo.maven.apache.org",
            "repo1.maven.org",
        ],
    },
    DomainGroup {
        name: "github",
        description: "GitHub: web, API, git over HTTPS, raw files, release assets, container registry",
        domains: &[
            "github.com",
            "api.github.com",
            "codeload.github.com",
            "raw.githubusercontent.com",
            "objects.githubusercontent.com",
            "release-assets.githubusercontent.com",
            "ghcr.io",
            "pkg-containers.githubusercontent.com",
        ],
    },
    DomainGroup {
        name: "docs",
        description: "language and library documentation sites",
        domains: &[
            "docs.rs",
            "doc.rust-lang.org",
            "docs.python.org",
            "developer.mozilla.org",
            "nodejs.org",
            "go.dev",
            "pkg.go.dev",
            "learn.microsoft.com",
        ],
    },
];

/// A network profile: named groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkProfile {
    /// `developer`.
    pub name: &'static str,
    /// One line.
    pub description: &'static str,
    /// Its groups.
    pub groups: &'static [&'static str],
}

/// The profiles (each group is also a profile of its own name).
pub const PROFILES: &[NetworkProfile] = &[
    NetworkProfile {
        name: "minimal",
        description: "LLM APIs only: an agent that talks to its model and nothing else",
        groups: &["llm-apis"],
    },
    NetworkProfile {
        name: "developer",
        description: "LLM APIs, package registries, GitHub and documentation sites",
        groups: &["llm-apis", "package-registries", "github", "docs"],
    },
];

/// Every name `--network-profile` takes: the profiles, then the groups.
#[must_use]
pub fn names() -> Vec<&'static str> {
    PROFILES
        .iter()
        .map(|p| p.name)
        .chain(GROUPS.iter().map(|g| g.name))
        .collect()
}

/// The groups a name stands for (a profile's, or the group itself); `None` if unknown.
#[must_use]
pub fn lookup(name: &str) -> Option<Vec<&'static DomainGroup>> {
    if let Some(p) = PROFILES.iter().find(|p| p.name == name) {
        return Some(
            p.groups
                .iter()
                .filter_map(|g| GROUPS.iter().find(|x| x.name == *g))
                .collect(),
        );
    }
    GROUPS.iter().find(|g| g.name == name).map(|g| vec![g])
}

/// The description of a profile or group.
#[must_use]
pub fn description(name: &str) -> Option<&'static str> {
    PROFILES
        .iter()
        .find(|p| p.name == name)
        .map(|p| p.description)
        .or_else(|| GROUPS.iter().find(|g| g.name == name).map(|g| g.description))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_group_exists_and_names_are_unique() {
        for p in PROFILES {
            for g in p.groups {
                assert!(GROUPS.iter().any(|x| x.name == *g), "{}: {g}", p.name);
            }
            assert_eq!(lookup(p.name).unwrap().len(), p.groups.len());
        }
        let mut n = names();
        let len = n.len();
        n.sort_unstable();
        n.dedup();
        assert_eq!(n.len(), len);
        assert!(lookup("nope").is_none());
        for required in ["llm-apis", "package-registries", "github", "docs", "minimal", "developer"] {
            assert!(lookup(required).is_some(), "{required}");
            assert!(description(required).is_some(), "{required}");
        }
    }

    #[test]
    fn the_schema_lists_every_name() {
        let schema: serde_json::Value = serde_json::from_str(super::super::schema()).unwrap();
        let listed: Vec<&str> =
            schema["$defs"]["network"]["properties"]["network_profile"]["items"]["enum"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
        assert_eq!(listed, names());
    }
}

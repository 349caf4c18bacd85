//! Learn's profile building: what a `nono learn` run saw ([`crate::learn::Touched`], plus the
//! runtime requests its engine granted), collapsed into the smallest set of grants, written
//! as a [`Profile`] that extends the base — through `Profile`'s own serialisation, so the
//! file `learn` writes is exactly what `nono run -p FILE` reads.
//!
//! Collapsing never widens a grant onto a path a deny group protects: a file created next to
//! a deny entry (`echo x > ~/f`, the home holding `~/.ssh`) is learned as that file, marked
//! optional, not as its directory.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use nono_sandbox::{AccessMode, NetworkMode};

use crate::deny_groups::DenySet;
use crate::profile::{Filesystem, Network, PathEntry, Profile, Vars};

/// One learned access: what was done to a path, and whether it existed when it was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The access used.
    pub access: AccessMode,
    /// Whether the path existed when it was touched.
    pub existed: bool,
    /// Whether it is (or was made as) a directory.
    pub is_dir: bool,
}

impl Seen {
    /// Merge a later observation of the same path into this one.
    pub fn merge(&mut self, later: &Seen) {
        self.access = self.access.union(later.access);
        self.existed &= later.existed;
        self.is_dir |= later.is_dir;
    }
}

/// Network use outside the base profile.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LearnedNet {
    /// TCP ports connected to.
    pub connect: BTreeSet<u16>,
    /// TCP ports bound.
    pub bind: BTreeSet<u16>,
    /// Pathname Unix sockets connected to (written as optional file grants).
    pub sockets: BTreeSet<PathBuf>,
    /// A Unix datagram socket was made.
    pub unix_datagram: bool,
}

impl LearnedNet {
    /// The learned profile's `network`: the ports the command used that the base (`base`)
    /// blocks, and the `domains` it reached through the proxy. `None` when nothing outside
    /// the base was used. Under a base that blocks the network, ports come with
    /// `block: false` (ports and `block: true` cannot be combined).
    #[must_use]
    pub fn network(&self, base: &NetworkMode, domains: &[String]) -> Option<Network> {
        let ports = !self.connect.is_empty() || !self.bind.is_empty();
        if !ports && !self.unix_datagram && domains.is_empty() {
            return None;
        }
        Some(Network {
            block: (ports && matches!(base, NetworkMode::Block)).then_some(false),
            connect: self.connect.iter().copied().collect(),
            bind: self.bind.iter().copied().collect(),
            allow_unix_datagram: self.unix_datagram.then_some(true),
            allow_domain: domains.to_vec(),
            ..Network::default()
        })
    }
}

/// The grants of the learned profile, by kind.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Learned {
    /// `filesystem.read`.
    pub read: BTreeSet<PathBuf>,
    /// `filesystem.write`.
    pub write: BTreeSet<PathBuf>,
    /// `filesystem.allow` (read + write).
    pub allow: BTreeSet<PathBuf>,
    /// Entries written `{"path": ..., "optional": true}`: files the command created next to
    /// deny entries, granted as files (not their directory) and skipped when they are gone.
    pub optional: BTreeSet<PathBuf>,
}

impl Learned {
    fn add(&mut self, path: PathBuf, access: AccessMode) {
        match access {
            AccessMode::Read => self.read.insert(path),
            AccessMode::Write => self.write.insert(path),
            AccessMode::ReadWrite => self.allow.insert(path),
        };
    }

    /// Merge entries that name the same path (read + write → allow).
    fn normalise(self) -> Learned {
        let mut by_path: BTreeMap<PathBuf, AccessMode> = BTreeMap::new();
        for (set, access) in [
            (self.read, AccessMode::Read),
            (self.write, AccessMode::Write),
            (self.allow, AccessMode::ReadWrite),
        ] {
            for p in set {
                by_path
                    .entry(p)
                    .and_modify(|a| *a = a.union(access))
                    .or_insert(access);
            }
        }
        // Drop entries already covered by a directory entry above them with enough access.
        let dirs: Vec<(PathBuf, AccessMode)> = by_path
            .iter()
            .filter(|(p, _)| p.is_dir())
            .map(|(p, a)| (p.clone(), *a))
            .collect();
        let mut out = Learned {
            optional: self.optional,
            ..Learned::default()
        };
        for (p, a) in by_path {
            let covered = dirs
                .iter()
                .any(|(d, da)| *d != p && p.starts_with(d) && da.contains(a));
            if !covered {
                out.add(p, a);
            }
        }
        out
    }

    /// How many grants there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.read.len() + self.write.len() + self.allow.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Turn what was seen into grants: a directory read as a directory grant; a file as a file
/// grant, or, past `threshold` files in one directory, one grant on that directory; a file
/// that did not exist yet (created) as a grant on its directory. Nothing that contains or
/// lies in a deny-set entry is ever widened to a directory grant: a file created in such a
/// directory (`echo x > ~/f`, the home holding `~/.ssh`) is learned as that file, marked
/// optional (a later run can rewrite it, and the profile still loads once it is gone; to
/// create it anew the user grants a directory that holds no deny entry).
#[must_use]
pub fn collapse(seen: &BTreeMap<PathBuf, Seen>, deny: &DenySet, threshold: usize) -> Learned {
    let protected = |dir: &Path| {
        deny.group_of(dir).is_some() || deny.entries().any(|(p, _)| p.starts_with(dir))
    };
    let mut learned = Learned::default();
    let mut per_dir: BTreeMap<PathBuf, Vec<(PathBuf, AccessMode)>> = BTreeMap::new();
    for (path, s) in seen {
        // Gone by the end of the run (made and removed, renamed away): a grant naming it
        // would not load; what made it needed write on the nearest directory that is left.
        let now = std::fs::symlink_metadata(path).is_ok();
        if s.is_dir && now {
            learned.add(path.clone(), s.access);
            continue;
        }
        let parent = path.parent().unwrap_or(Path::new("/")).to_path_buf();
        if s.is_dir || !s.existed || !now {
            let dir = existing_ancestor(&parent);
            if protected(&dir) {
                if !s.is_dir {
                    learned.add(path.clone(), s.access.union(AccessMode::Write));
                    learned.optional.insert(path.clone());
                }
            } else {
                // Created: the file grant would name a path that does not exist next time.
                learned.add(dir, s.access.union(AccessMode::Write));
            }
            continue;
        }
        per_dir
            .entry(parent)
            .or_default()
            .push((path.clone(), s.access));
    }
    for (dir, files) in per_dir {
        if files.len() > threshold && !protected(&dir) {
            let access = files
                .iter()
                .map(|(_, a)| *a)
                .reduce(AccessMode::union)
                .unwrap_or(AccessMode::Read);
            learned.add(dir, access);
        } else {
            for (p, a) in files {
                learned.add(p, a);
            }
        }
    }
    learned.normalise()
}

/// `dir` or its nearest ancestor that exists.
fn existing_ancestor(dir: &Path) -> PathBuf {
    dir.ancestors()
        .find(|a| a.is_dir())
        .unwrap_or(Path::new("/"))
        .to_path_buf()
}

/// How a learned path is written in the profile: `$WORKDIR/...` inside the working directory
/// and `~/...` inside the home directory (so the profile still fits when the project or the
/// user moves), absolute elsewhere; a `$` in a name is written `$$` (see `Vars::expand`).
#[must_use]
pub fn portable(path: &Path, vars: &Vars) -> String {
    let escape = |p: &Path| p.to_string_lossy().replace('$', "$$");
    let under = |base: Option<&Path>, var: &str| {
        let base = base.filter(|b| b.parent().is_some())?;
        let rest = path.strip_prefix(base).ok()?;
        Some(if rest.as_os_str().is_empty() {
            var.to_owned()
        } else {
            format!("{var}/{}", escape(rest))
        })
    };
    under(vars.workdir.as_deref(), "$WORKDIR")
        .or_else(|| under(Some(&vars.home), "~"))
        .unwrap_or_else(|| escape(path))
}

/// The learned profile: `name`, a `description`, `extends` the base (as the file should name
/// it), the learned grants written [`portable`], and the learned `network` (see
/// [`LearnedNet::network`]).
#[must_use]
pub fn learned_profile(
    name: &str,
    description: &str,
    extends: &str,
    learned: &Learned,
    network: Option<Network>,
    vars: &Vars,
) -> Profile {
    let list = |set: &BTreeSet<PathBuf>| -> Vec<PathEntry> {
        set.iter()
            .map(|p| PathEntry {
                path: portable(p, vars),
                optional: learned.optional.contains(p),
                create: None,
            })
            .collect()
    };
    Profile {
        name: name.to_owned(),
        description: Some(description.to_owned()),
        extends: Some(extends.to_owned()),
        filesystem: Filesystem {
            allow: list(&learned.allow),
            read: list(&learned.read),
            write: list(&learned.write),
            deny: Vec::new(),
        },
        network: network.unwrap_or_default(),
        ..Profile::default()
    }
}

impl Profile {
    /// The profile as the JSON a profile file holds (pretty-printed, ending in a newline):
    /// [`crate::profile::parse`] reads it back as the same profile. `extends` is written as
    /// it is (a loaded profile has it resolved and merged; its [`chain`](Profile::chain) is
    /// not written).
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self).map(|t| t + "\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{ApproveEntry, Environment, SupervisorSettings};
    use crate::scratch::Scratch;

    fn seen(access: AccessMode) -> Seen {
        Seen {
            access,
            existed: true,
            is_dir: false,
        }
    }

    /// A fresh tree per test (tests run in parallel, so each needs its own directory).
    fn tree(name: &str) -> Scratch {
        let base = Scratch::new(&format!("nono-learn-profile-{}-{name}", std::process::id()));
        std::fs::create_dir_all(base.join("many")).unwrap();
        std::fs::create_dir_all(base.join("few")).unwrap();
        for i in 0..5 {
            std::fs::write(base.join(format!("many/{i}")), "").unwrap();
        }
        std::fs::write(base.join("few/a"), "").unwrap();
        base
    }

    #[test]
    fn files_past_the_threshold_collapse_into_their_directory() {
        let base = tree("threshold");
        let mut m = BTreeMap::new();
        for i in 0..5 {
            m.insert(base.join(format!("many/{i}")), seen(AccessMode::Read));
        }
        m.insert(base.join("few/a"), seen(AccessMode::Write));
        let l = collapse(&m, &DenySet::new(), 3);
        assert_eq!(l.read, BTreeSet::from([base.join("many")]));
        assert_eq!(l.write, BTreeSet::from([base.join("few/a")]));
        let l = collapse(&m, &DenySet::new(), 8);
        assert_eq!(l.read.len(), 5);
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn a_directory_holding_a_deny_entry_is_never_collapsed() {
        let base = tree("deny");
        let mut deny = DenySet::new();
        deny.add(&base.join("many/secret"), "credentials").unwrap();
        let mut m = BTreeMap::new();
        for i in 0..5 {
            m.insert(base.join(format!("many/{i}")), seen(AccessMode::Read));
        }
        let l = collapse(&m, &deny, 3);
        assert_eq!(l.read.len(), 5);
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn created_files_grant_their_directory_and_reads_plus_writes_merge() {
        let base = tree("created");
        let mut m = BTreeMap::new();
        m.insert(
            base.join("few/new"),
            Seen {
                access: AccessMode::Write,
                existed: false,
                is_dir: false,
            },
        );
        m.insert(base.join("few/a"), seen(AccessMode::Read));
        let l = collapse(&m, &DenySet::new(), 8);
        assert_eq!(l.write, BTreeSet::from([base.join("few")]));
        assert_eq!(l.read, BTreeSet::from([base.join("few/a")]));
        m.insert(base.join("few/a"), seen(AccessMode::ReadWrite));
        let l = collapse(&m, &DenySet::new(), 8);
        // few/a (read+write) is not covered by `few` (write only).
        assert_eq!(l.allow, BTreeSet::from([base.join("few/a")]));
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn a_file_created_next_to_a_deny_entry_is_learned_as_the_file() {
        let base = tree("created-protected");
        let mut deny = DenySet::new();
        deny.add(&base.join("few/.ssh"), "credentials").unwrap();
        let mut m = BTreeMap::new();
        m.insert(
            base.join("few/new"),
            Seen {
                access: AccessMode::Write,
                existed: false,
                is_dir: false,
            },
        );
        let l = collapse(&m, &deny, 8);
        assert_eq!(l.write, BTreeSet::from([base.join("few/new")]));
        assert_eq!(l.optional, BTreeSet::from([base.join("few/new")]));
        let vars = Vars::for_home("/home/u");
        let text = learned_profile("p", "d", "default", &l, None, &vars)
            .to_json()
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["filesystem"]["write"][0]["optional"], true, "{text}");
        let _ = std::fs::remove_dir_all(&base);
    }

    /// What a learned file says, and that it reads back as the same profile.
    #[test]
    fn the_learned_profile_extends_the_base_and_reads_back_the_same() {
        let mut l = Learned::default();
        l.read.insert("/data".into());
        l.allow.insert("/home/u/proj/out".into());
        l.optional.insert("/home/u/proj/out".into());
        let vars = Vars::for_home("/home/u").with_workdir("/home/u/proj");
        let net = LearnedNet {
            connect: BTreeSet::from([443]),
            unix_datagram: true,
            ..LearnedNet::default()
        };
        let p = learned_profile(
            "p",
            "Learned by `nono learn` from: cat",
            "default",
            &l,
            net.network(&NetworkMode::Block, &["example.com".to_owned()]),
            &vars,
        );
        let text = p.to_json().unwrap();
        assert!(text.starts_with("{\n  \"name\": \"p\""), "{text}");
        assert!(text.ends_with("}\n"), "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["extends"], "default");
        assert_eq!(v["filesystem"]["read"][0], "/data");
        assert_eq!(v["filesystem"]["allow"][0]["path"], "$WORKDIR/out");
        assert_eq!(v["filesystem"]["allow"][0]["optional"], true);
        assert!(v["filesystem"].get("write").is_none(), "{text}");
        assert_eq!(v["network"]["block"], false, "{text}");
        assert_eq!(v["network"]["connect"][0], 443, "{text}");
        assert_eq!(v["network"]["allow_unix_datagram"], true, "{text}");
        assert_eq!(v["network"]["allow_domain"][0], "example.com", "{text}");
        // write → load → the same profile.
        assert_eq!(crate::profile::parse(&text, "p.json").unwrap(), p);
    }

    /// Every part of a profile survives `to_json` and `parse` (not only what learn writes).
    #[test]
    fn a_profile_round_trips_through_its_own_serialisation() {
        let mut p = crate::profile::load("default").unwrap();
        p.chain.clear();
        p.extends = Some("python".to_owned());
        p.environment = Environment {
            inherit: Some(false),
            allow: vec!["LC_*".to_owned()],
            ..Environment::default()
        };
        p.supervisor = SupervisorSettings {
            capability_elevation: Some(true),
            approve: vec![ApproveEntry {
                path: "$WORKDIR/**".to_owned(),
                access: crate::profile::Access::Read,
            }],
            ..SupervisorSettings::default()
        };
        let text = p.to_json().unwrap();
        assert_eq!(crate::profile::parse(&text, "p.json").unwrap(), p, "{text}");
    }

    #[test]
    fn ports_under_a_blocked_base_unblock_with_a_list() {
        let net = LearnedNet {
            connect: BTreeSet::from([443]),
            ..LearnedNet::default()
        };
        let n = net.network(&NetworkMode::Block, &[]).unwrap();
        assert_eq!(n.block, Some(false));
        let n = net.network(&NetworkMode::Allow, &[]).unwrap();
        assert_eq!(n.block, None);
        assert!(LearnedNet::default()
            .network(&NetworkMode::Block, &[])
            .is_none());
    }

    /// Names made and removed during the run (or renamed away) are covered by the nearest
    /// directory that is left, so the profile loads.
    #[test]
    fn what_is_gone_is_granted_on_its_nearest_remaining_directory() {
        let base = tree("gone");
        let mut m = BTreeMap::new();
        m.insert(
            base.join("few/made/deeper"),
            Seen {
                access: AccessMode::Write,
                existed: true,
                is_dir: true,
            },
        );
        m.insert(
            base.join("many/tmpfile"),
            Seen {
                access: AccessMode::ReadWrite,
                existed: false,
                is_dir: false,
            },
        );
        let l = collapse(&m, &DenySet::new(), 8);
        assert_eq!(l.write, BTreeSet::from([base.join("few")]));
        assert_eq!(l.allow, BTreeSet::from([base.join("many")]));
        let _ = std::fs::remove_dir_all(&base);
    }

    /// Learned paths are written relative to the working directory and home where they lie
    /// in them, and every spelling expands back to the path that was learned.
    #[test]
    fn learned_paths_are_portable_and_expand_back() {
        let vars = Vars::for_home("/home/u").with_workdir("/home/u/proj");
        for (path, written) in [
            ("/home/u/proj", "$WORKDIR"),
            ("/home/u/proj/src/a.rs", "$WORKDIR/src/a.rs"),
            ("/home/u/.cargo/registry", "~/.cargo/registry"),
            ("/home/u", "~"),
            ("/home/user2/x", "/home/user2/x"),
            ("/opt/a$b/$HOME", "/opt/a$$b/$$HOME"),
            ("/home/u/proj/$x", "$WORKDIR/$$x"),
        ] {
            assert_eq!(portable(Path::new(path), &vars), written, "{path}");
            assert_eq!(vars.expand(written).unwrap(), Path::new(path), "{written}");
        }
        // A home or working directory of `/` is never a prefix worth writing.
        let root = Vars::for_home("/").with_workdir("/");
        assert_eq!(portable(Path::new("/etc/x"), &root), "/etc/x");
    }
}

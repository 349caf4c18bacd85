//! Translation: a validated profile into what nono enforces — its deny set, the
//! `CapabilitySet`, a [`ResolvedProfile`], the runtime `Policy`, the environment policy and
//! the other settings.

use std::path::PathBuf;
use std::time::Duration;

use nono_sandbox::{AccessMode, CapabilitySet, CapsError, NetworkMode, Origin};

use super::deny_glob::expand_deny_glob;
use super::{EnvPolicy, Profile, ProfileError, VarError, Vars, DEFAULT_PROMPT_TIMEOUT};
use crate::deny_groups::{self, DenySet, Lstats, ProfileDenies};
use crate::policy::{ApproveRule, Glob, Policy, RateLimit};

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
    /// The symlink walk of each of `requested`'s paths ([`crate::planted::walk`]) made while
    /// the deny groups were resolved on another thread, by position; `None` (or a shorter
    /// list: nothing was prefetched) where it is still to be made — when it failed, its error
    /// is the next walk's to report.
    pub walks: Vec<Option<crate::planted::Walk>>,
}

impl Profile {
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
        self.deny_set_seen(vars).map(|(set, _)| set)
    }

    /// [`deny_set`](Profile::deny_set), with what resolving its groups' entries saw.
    fn deny_set_seen(&self, vars: &Vars) -> Result<(DenySet, Lstats), ProfileError> {
        let groups = DenySet::from_groups_seen(self.enabled_groups(), vars);
        let denies = self.deny_paths(vars).map(ProfileDenies::resolve);
        self.with_profile_denies(groups, denies)
    }

    /// The resolution of this profile's deny groups with its `filesystem.deny` entries
    /// ([`deny_paths`](Profile::deny_paths)) added; a group's error first.
    #[allow(clippy::type_complexity)]
    fn with_profile_denies(
        &self,
        groups: Result<(DenySet, Lstats), deny_groups::DenyGroupError>,
        denies: Result<ProfileDenies<String>, ProfileError>,
    ) -> Result<(DenySet, Lstats), ProfileError> {
        let (mut set, mut seen) = groups.map_err(|source| ProfileError::DenyGroup {
            profile: self.name.clone(),
            source,
        })?;
        set.add_profile_all(denies?, &self.name, &mut seen)
            .map_err(|(field, source)| ProfileError::Caps {
                profile: self.name.clone(),
                field,
                source,
            })?;
        Ok((set, seen))
    }

    /// `caps` with this profile's own deny entries `denies` added the way
    /// [`resolve_prefetched`](Profile::resolve_prefetched) adds them after its groups' (a copy
    /// of the same resolution), and its network settings; `None` where that fails (`resolve`
    /// reports it).
    fn with_own_denies(
        &self,
        caps: &CapabilitySet,
        denies: &ProfileDenies<String>,
    ) -> Option<CapabilitySet> {
        let mut set = DenySet::new();
        let mut seen = Lstats::default();
        set.add_profile_all(denies.clone(), &self.name, &mut seen)
            .ok()?;
        let mut caps = caps.clone();
        set.apply_to_seen(&mut caps, &seen).ok()?;
        self.set_network(&mut caps);
        Some(caps)
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
    /// `--private-tmp`: the host's shared temporary directories ([`host_tmp_dirs`](super::host_tmp_dirs)) are not
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
        self.resolve_prefetched(vars, None, |_| {})
    }

    /// [`resolve`](Profile::resolve), with the deny groups resolved on the `prefetch` thread
    /// (see [`deny_prefetch`](crate::deny_prefetch); begun with this profile's
    /// [`enabled_groups`](Profile::enabled_groups) and `vars`, otherwise its result is not
    /// used) while the grants, the profile's own deny entries and the grants' symlink walks
    /// are resolved here; the result and the errors are those of `resolve`. The thread is
    /// joined before this returns.
    ///
    /// While the thread resolves, `meanwhile` gets the static sandbox so far — the grants with
    /// the profile's own deny entries, not yet its groups' — for work that can go ahead of the
    /// groups (a sandbox prepared ahead, `PreparedSandbox::prepare_ahead`). It is not called
    /// without a thread, nor when the grants or the profile's deny list failed.
    pub fn resolve_prefetched(
        &self,
        vars: &Vars,
        prefetch: Option<crate::deny_prefetch::Started>,
        meanwhile: impl FnOnce(&CapabilitySet),
    ) -> Result<ResolvedProfile, ProfileError> {
        let groups = self.enabled_groups();
        let granted = self.resolve_grants(vars);
        let profile_denies = self.deny_paths(vars);
        let own = || DenySet::from_groups_seen(groups.iter().copied(), vars);
        let mut walks = Vec::new();
        let (resolved, joiner, profile_denies) = match prefetch {
            None => (own(), None, profile_denies.map(ProfileDenies::resolve)),
            Some(started) => {
                // Meanwhile: the walks the caller's symlink check of the grants makes anyway,
                // and the profile's own deny list resolved ahead.
                if let Ok((_, _, requested)) = &granted {
                    walks = requested
                        .iter()
                        .map(|r| crate::planted::walk(&r.path).ok())
                        .collect();
                }
                let denies = profile_denies.map(ProfileDenies::resolve);
                if let (Ok((caps, _, _)), Ok(own_denies)) = (&granted, &denies) {
                    if let Some(so_far) = self.with_own_denies(caps, own_denies) {
                        meanwhile(&so_far);
                    }
                }
                let (resolved, joiner) = started.finish(&groups, vars, own);
                (resolved, Some(joiner), denies)
            }
        };
        let deny = self.with_profile_denies(resolved, profile_denies);
        // `resolve` reported a deny set's error before a grant's.
        let applied = deny.and_then(|(deny, seen)| {
            let (mut caps, skipped, requested) = granted?;
            deny.apply_to_seen(&mut caps, &seen)
                .map_err(|source| ProfileError::Caps {
                    profile: self.name.clone(),
                    field: "filesystem.deny".to_owned(),
                    source,
                })?;
            Ok((caps, deny, skipped, requested))
        });
        // Joined on every path: no thread may outlive this call (a sandbox applied after it
        // confines the calling thread only).
        if let Some(joiner) = joiner {
            joiner.join();
        }
        let (mut caps, deny, skipped, requested) = applied?;
        self.set_network(&mut caps);
        Ok(ResolvedProfile {
            caps,
            deny,
            skipped,
            requested,
            walks,
        })
    }

    /// The profile's network settings on `caps`: its mode and Unix datagram sockets.
    fn set_network(&self, caps: &mut CapabilitySet) {
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
    }

    /// The profile's filesystem grants, resolved: the capability set before the deny
    /// carve-outs, the optional paths skipped, and every grant as asked for.
    #[allow(clippy::type_complexity)]
    fn resolve_grants(
        &self,
        vars: &Vars,
    ) -> Result<
        (
            CapabilitySet,
            Vec<PathBuf>,
            Vec<crate::planted::RequestedGrant>,
        ),
        ProfileError,
    > {
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
                match caps.allow_path_at(&path, access, origin.clone()) {
                    Ok(granted) => requested.push(crate::planted::RequestedGrant {
                        path,
                        origin: origin.clone(),
                        granted: Some(granted),
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
        Ok((caps, skipped, requested))
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

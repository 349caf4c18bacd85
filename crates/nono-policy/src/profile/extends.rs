//! `extends`: following a profile's chain of parents to the root (cycles and depth refused)
//! and merging each child over its parent.

use std::path::Path;

use super::load::{locate, parse, Source};
use super::{
    Environment, Filesystem, LimitsSettings, Network, Profile, ProfileError, SupervisorSettings,
};

/// The longest `extends` chain followed.
pub(super) const MAX_DEPTH: usize = 32;

pub(super) fn resolve(
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
pub(super) fn merge(parent: Profile, child: Profile) -> Profile {
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

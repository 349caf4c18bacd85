//! `extends`: following a profile's chain of parents to the root (cycles and depth refused)
//! and merging each child over its parent.

use std::path::Path;

use super::load::{locate, parse, Source};
use super::{
    Environment, Filesystem, LimitsSettings, Network, Profile, ProfileError, ProfileFile,
    SupervisorSettings,
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
        Source::File {
            spelled,
            canonical: path,
        } => {
            let (text, file) = read_profile_file(&spelled, &path)?;
            let mut p = parse(&text, &id)?;
            p.files = vec![file];
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

/// Read the profile file at `canonical` (looked up as `spelled`) and describe what was read.
fn read_profile_file(
    spelled: &Path,
    canonical: &Path,
) -> Result<(String, ProfileFile), ProfileError> {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let err = |source| ProfileError::Read {
        path: canonical.to_path_buf(),
        source,
    };
    let moved = |what: &str| {
        err(std::io::Error::other(format!(
            "{what} while it was read (something is swapping it); try again"
        )))
    };
    // The symlinks on the way, as they lead to the file about to be read: recorded now, so a
    // link swapped away before the trust check is still judged.
    let walk = crate::planted::walk(&std::path::absolute(spelled).map_err(err)?).map_err(err)?;
    if walk.resolved.as_deref() != Some(canonical) {
        return Err(moved("its path led elsewhere"));
    }
    let links = walk
        .links
        .into_iter()
        .map(|(link, _, _)| {
            let ctime = std::fs::symlink_metadata(&link).map_or(i64::MAX, |m| m.ctime());
            (link, ctime)
        })
        .collect();
    // Without blocking on a FIFO planted there; anything but a regular file is refused before
    // it is read (a link to /dev/zero would be read forever).
    let mut f = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(canonical)
            .map_err(err)?
    };
    // The file opened is the one at `canonical` (not one a symlink swapped in on the way):
    // compared right after the open, so a file renamed into place since shows in the ctime
    // taken after the read.
    let (opened, there) = (
        f.metadata().map_err(err)?,
        std::fs::symlink_metadata(canonical).map_err(err)?,
    );
    if (opened.dev(), opened.ino()) != (there.dev(), there.ino()) {
        return Err(moved("its path led elsewhere"));
    }
    if !opened.is_file() {
        return Err(err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        )));
    }
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).map_err(err)?;
    // After reading: a change made before or while it was read has moved ctime past it.
    let meta = f.metadata().map_err(err)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            e.utf8_error(),
        ))
    })?;
    let at = match (spelled.parent(), spelled.file_name()) {
        (Some(dir), Some(name)) => std::fs::canonicalize(dir).map_err(err)?.join(name),
        _ => canonical.to_path_buf(),
    };
    let file = ProfileFile {
        spelled: spelled.to_path_buf(),
        at,
        canonical: canonical.to_path_buf(),
        sha256: crate::digest::sha256_hex(text.as_bytes()),
        ctime: meta.ctime(),
        uid: meta.uid(),
        mode: meta.mode() & 0o7777,
        nlink: meta.nlink(),
        links,
    };
    Ok((text, file))
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
        files: parent.files.into_iter().chain(child.files).collect(),
    }
}

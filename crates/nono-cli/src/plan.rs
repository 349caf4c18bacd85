//! The plan: raw flags (`flags.rs`) resolved into exactly what a command will do — the
//! profile, the capability set, the working directory, runtime grants, the command. `run`,
//! `wrap`, `shell`, `why` and `learn` execute a plan; `--dry-run` prints the same plan.
//!
//! Every decision about *what is allowed* is the libraries': the profile's capabilities come
//! from `nono_supervisor::profile`, deny groups from `nono_supervisor::deny_groups`, the
//! model from `nono_sandbox`. This module only adds the command-line grants on top, in order,
//! with an origin naming the flag.

use std::ffi::OsString;
use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use nono_sandbox::{AccessMode, CapabilitySet, Compat, FsKind, NetworkMode};
use nono_supervisor::deny_groups::DenySet;
use nono_supervisor::profile::{self, Profile, ResolvedProfile, Vars};

use crate::exit::Failure;
use crate::flags::{ElevationFlags, LimitFlags, SandboxFlags};
use nono_supervisor::limits::Limits;

/// A `--bypass-protection` that was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bypass {
    /// The path whose carve-out is lifted.
    pub path: PathBuf,
    /// The deny group whose carve-out it was.
    pub group: String,
}

/// The sandbox part of a plan (shared by run, wrap, shell, why, learn).
#[derive(Debug)]
pub struct SandboxPlan {
    /// The profile as given on the command line (`default`, `./p.json`).
    pub profile_arg: String,
    /// The resolved profile.
    pub profile: Profile,
    /// What the command may touch.
    pub caps: CapabilitySet,
    /// The deny groups in force (runtime requests are checked against them too).
    pub deny: DenySet,
    /// Where the command runs (canonical).
    pub workdir: PathBuf,
    /// Whether the working directory is readable under `caps` (if not, nono notes it).
    pub workdir_readable: bool,
    /// Accepted `--bypass-protection` paths.
    pub bypassed: Vec<Bypass>,
    /// The profile path variables used (home, tmpdir, workdir).
    pub vars: Vars,
    /// Optional profile paths skipped because they do not exist on this machine.
    pub skipped: Vec<PathBuf>,
}

/// Runtime grants (`--capability-elevation`, `--approve`, `--audit-log`).
#[derive(Debug, Clone, Default)]
pub struct ElevationPlan {
    /// Ask on /dev/tty when no rule decides (`--capability-elevation`, or the profile's
    /// `supervisor.capability_elevation`).
    pub prompt: bool,
    /// Absolute paths under which runtime requests are granted without asking.
    pub approve: Vec<PathBuf>,
    /// Where each runtime decision is appended as one JSON line.
    pub audit_log: Option<PathBuf>,
}

impl ElevationPlan {
    /// Whether the supervisor should consult a policy engine at all.
    #[must_use]
    pub fn enabled(&self) -> bool {
        self.prompt || !self.approve.is_empty()
    }
}

/// Everything `run`/`shell`/`wrap` will do.
#[derive(Debug)]
pub struct RunPlan {
    /// `run`, `wrap`, `shell` or `learn` (for the dry-run header).
    pub mode: &'static str,
    /// The sandbox.
    pub sandbox: SandboxPlan,
    /// Runtime grants (always off for `wrap`, which leaves no supervisor).
    pub elevation: ElevationPlan,
    /// The command and its arguments.
    pub command: Vec<OsString>,
    /// Resource limits (`--memory`, `--max-processes`, `--cpus` over the profile's
    /// `limits`); none for `wrap`.
    pub limits: Limits,
}

/// The limits: each flag given wins over the profile's value.
#[must_use]
pub fn limits_from(flags: &LimitFlags, profile: &Profile) -> Limits {
    let p = profile.limits();
    Limits {
        memory: flags.memory.or(p.memory),
        max_processes: flags.max_processes.or(p.max_processes),
        cpus: flags.cpus.or(p.cpus),
    }
}

fn origin(flag: &str, path: &Path) -> String {
    format!("{flag} {}", path.display())
}

/// The current directory, canonical.
fn current_dir() -> anyhow::Result<PathBuf> {
    let cwd = std::env::current_dir().map_err(|e| {
        Failure::nono(format!(
            "cannot read the current directory: {e} (cd to an existing directory)"
        ))
    })?;
    Ok(std::fs::canonicalize(&cwd).unwrap_or(cwd))
}

/// Make `path` absolute against the current directory (lexically; no symlinks resolved).
fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    if path.is_absolute() {
        Ok(path.to_path_buf())
    } else {
        Ok(current_dir()?.join(path))
    }
}

impl SandboxPlan {
    /// Resolve the sandbox flags: load the profile, expand it for this user and working
    /// directory, add the command-line grants, network and compatibility, then the bypasses.
    pub fn from_flags(flags: &SandboxFlags) -> anyhow::Result<SandboxPlan> {
        let workdir = match &flags.workdir {
            Some(dir) => std::fs::canonicalize(dir).map_err(|e| {
                Failure::nono(format!(
                    "--workdir {}: {e} (give an existing directory)",
                    dir.display()
                ))
            })?,
            None => current_dir()?,
        };
        if !workdir.is_dir() {
            return Err(Failure::nono(format!(
                "--workdir {}: not a directory (give an existing directory)",
                workdir.display()
            ))
            .into());
        }
        let vars = Vars::from_env()
            .ok_or_else(|| {
                Failure::nono(
                    "$HOME is not set to an absolute path (profiles expand `~` from it; set HOME)",
                )
            })?
            .with_workdir(&workdir);
        let profile = profile::load(&flags.profile)
            .map_err(|e| Failure::nono(format!("--profile {}: {e}", flags.profile)))?;
        let ResolvedProfile {
            mut caps,
            deny,
            skipped,
            ..
        } = profile
            .resolve(&vars)
            .map_err(|e| Failure::nono(format!("--profile {}: {e}", flags.profile)))?;

        add_grants(&mut caps, flags, &workdir)?;

        if flags.block_net {
            caps.block_network();
        }
        for port in &flags.allow_connect_port {
            caps.allow_connect_port(*port);
        }
        for port in &flags.allow_bind_port {
            caps.allow_bind_port(*port);
        }
        // Added to the profile's choice: the flag can only allow.
        caps.allow_unix_datagram(flags.allow_unix_datagram);
        if flags.best_effort {
            caps.set_compat(Compat::BestEffort);
        }

        let (caps, bypassed) = apply_bypasses(caps, flags)?;
        let workdir_readable = nono_sandbox::explain(&caps, &workdir, AccessMode::Read)
            .map(|e| e.is_allowed())
            .unwrap_or(false);
        Ok(SandboxPlan {
            profile_arg: flags.profile.clone(),
            profile,
            caps,
            deny,
            workdir,
            workdir_readable,
            bypassed,
            vars,
            skipped,
        })
    }

    /// The note printed when the working directory is not granted (the command still runs).
    #[must_use]
    pub fn workdir_note(&self) -> Option<String> {
        (!self.workdir_readable).then(|| {
            format!(
                "the working directory {} is not granted (nono never grants it implicitly); add --allow-cwd to grant it",
                self.workdir.display()
            )
        })
    }
}

/// The command-line grants, in a fixed order, each with an origin naming its flag.
fn add_grants(
    caps: &mut CapabilitySet,
    flags: &SandboxFlags,
    workdir: &Path,
) -> anyhow::Result<()> {
    let dirs: [(&str, &[PathBuf], AccessMode); 3] = [
        ("--allow", &flags.allow, AccessMode::ReadWrite),
        ("--read", &flags.read, AccessMode::Read),
        ("--write", &flags.write, AccessMode::Write),
    ];
    for (flag, paths, access) in dirs {
        for p in paths {
            caps.allow_dir(p, access, origin(flag, p)).map_err(|e| {
                Failure::nono(format!("{flag} {}: {}", p.display(), caps_hint(&e, flag)))
            })?;
        }
    }
    let files: [(&str, &[PathBuf], AccessMode); 3] = [
        ("--allow-file", &flags.allow_file, AccessMode::ReadWrite),
        ("--read-file", &flags.read_file, AccessMode::Read),
        ("--write-file", &flags.write_file, AccessMode::Write),
    ];
    for (flag, paths, access) in files {
        for p in paths {
            caps.allow_file(p, access, origin(flag, p)).map_err(|e| {
                Failure::nono(format!("{flag} {}: {}", p.display(), caps_hint(&e, flag)))
            })?;
        }
    }
    if flags.allow_cwd {
        caps.allow_dir(
            workdir,
            AccessMode::ReadWrite,
            origin("--allow-cwd", workdir),
        )
        .map_err(|e| Failure::nono(format!("--allow-cwd: {e}")))?;
    }
    Ok(())
}

/// The library's message, with the flag to use instead when the kind was wrong.
fn caps_hint(err: &nono_sandbox::CapsError, flag: &str) -> String {
    use nono_sandbox::CapsError;
    let file_flag = match flag {
        "--allow" => "--allow-file",
        "--read" => "--read-file",
        _ => "--write-file",
    };
    let dir_flag = match flag {
        "--allow-file" => "--allow",
        "--read-file" => "--read",
        _ => "--write",
    };
    match err {
        CapsError::NotADirectory { .. } => {
            format!("is a file, not a directory (use {file_flag} for one file)")
        }
        CapsError::IsADirectory { .. } => {
            format!("is a directory, not a file (use {dir_flag} for a directory)")
        }
        CapsError::NotFound { .. } => {
            "no such file or directory (check the path, or create it first)".to_owned()
        }
        other => other.to_string(),
    }
}

/// `--bypass-protection PATH`: lift the deny-group carve-out that covers PATH (or lies
/// beneath it), but only if an explicit command-line grant is at or beneath PATH. A
/// carve-out on an ancestor of PATH is narrowed, not dropped: its other entries (on the way
/// down to PATH) stay denied.
fn apply_bypasses(
    caps: CapabilitySet,
    flags: &SandboxFlags,
) -> anyhow::Result<(CapabilitySet, Vec<Bypass>)> {
    if flags.bypass_protection.is_empty() {
        return Ok((caps, Vec::new()));
    }
    let mut lifted: Vec<PathBuf> = Vec::new();
    let mut narrowed: Vec<(PathBuf, PathBuf, String)> = Vec::new(); // (carve-out, keep, origin)
    let mut bypassed = Vec::new();
    for raw in &flags.bypass_protection {
        let path = std::fs::canonicalize(raw).map_err(|e| {
            Failure::nono(format!(
                "--bypass-protection {}: {e} (it must name an existing path that you also grant explicitly)",
                raw.display()
            ))
        })?;
        // Origins are `FLAG PATH` (see `origin`), merged with ", " when a path is granted
        // twice; `--allow-cwd` grants whatever the working directory is, so it never counts.
        let explicit = caps.grants().iter().any(|g| {
            g.path.starts_with(&path)
                && g.origin
                    .split(", ")
                    .any(|o| o.starts_with("--") && !o.starts_with("--allow-cwd "))
        });
        if !explicit {
            return Err(Failure::nono(format!(
                "--bypass-protection {}: needs an explicit grant on that path too, e.g. --read-file {} (or --read for a directory)",
                raw.display(),
                path.display()
            ))
            .into());
        }
        let mut found = None;
        for d in caps.denies() {
            // Deny groups only: the profile's own deny list (`group profile NAME`) is not
            // bypassable from the command line.
            let Some(group) = d.origin.strip_prefix("group ") else {
                continue;
            };
            if group.starts_with("profile ") {
                continue;
            }
            if d.path.starts_with(&path) {
                lifted.push(d.path.clone());
                found.get_or_insert_with(|| group.to_owned());
            } else if path.starts_with(&d.path) {
                narrowed.push((d.path.clone(), path.clone(), d.origin.clone()));
                found.get_or_insert_with(|| group.to_owned());
            }
        }
        let Some(group) = found else {
            return Err(Failure::nono(format!(
                "--bypass-protection {}: no deny group protects this path, so there is nothing to bypass (drop the flag)",
                raw.display()
            ))
            .into());
        };
        bypassed.push(Bypass { path, group });
    }
    // The same set without the lifted carve-outs (every other setting kept as it is), and
    // the narrowed ones replaced by their siblings along the way to the bypassed path.
    let narrowed_paths: Vec<&PathBuf> = narrowed.iter().map(|(d, _, _)| d).collect();
    let mut out = caps;
    out.retain_denies(|d| !lifted.contains(&d.path) && !narrowed_paths.contains(&&d.path));
    for (carve, keep, origin) in &narrowed {
        for sibling in siblings_along(carve, keep) {
            if !bypassed.iter().any(|b| sibling.starts_with(&b.path)) {
                out.deny(&sibling, origin.clone())
                    .with_context(|| format!("narrowing carve-out {}", carve.display()))?;
            }
        }
    }
    Ok((out, bypassed))
}

/// A name that is never created: denying it inside a directory makes that directory a
/// carve-out spine (see `nono_sandbox::explain`), so nothing new can be created in it even
/// when it has no other entry to deny.
const SPINE_GUARD: &str = ".nono-bypass-guard";

/// Every existing entry of every directory from `top` down to `keep`'s parent, except the
/// ones on the way to `keep`, plus a never-existing guard name in each of those directories:
/// denying all of them keeps everything the carve-out at `top` protected except `keep`,
/// including names created later.
fn siblings_along(top: &Path, keep: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rest) = keep.strip_prefix(top) else {
        return out;
    };
    let mut dir = top.to_path_buf();
    for comp in rest.components() {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                if e.file_name() != comp.as_os_str() {
                    out.push(e.path());
                }
            }
        }
        let guard = dir.join(SPINE_GUARD);
        if !out.contains(&guard) {
            out.push(guard);
        }
        dir.push(comp);
    }
    out.sort();
    out
}

impl ElevationPlan {
    /// From the runtime-grant flags and the profile's supervisor settings.
    pub fn from_flags(
        flags: &ElevationFlags,
        profile_prompts: bool,
    ) -> anyhow::Result<ElevationPlan> {
        let approve = flags
            .approve
            .iter()
            .map(|p| absolute(p))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let audit_log = flags.audit_log.as_deref().map(absolute).transpose()?;
        Ok(ElevationPlan {
            prompt: flags.capability_elevation || profile_prompts,
            approve,
            audit_log,
        })
    }
}

fn access_word(a: AccessMode) -> &'static str {
    match a {
        AccessMode::Read => "read",
        AccessMode::Write => "write",
        AccessMode::ReadWrite => "read+write",
    }
}

fn quote(arg: &OsString) -> String {
    let s = arg.to_string_lossy();
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
    {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

impl fmt::Display for SandboxPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "profile:  {} ({})", self.profile.name, self.profile_arg)?;
        write!(f, "workdir:  {}", self.workdir.display())?;
        if self.workdir_readable {
            writeln!(f)?;
        } else {
            writeln!(f, " (not granted; --allow-cwd grants it)")?;
        }
        writeln!(f, "filesystem grants:")?;
        let mut grants: Vec<_> = self.caps.grants().iter().collect();
        grants.sort_by(|a, b| a.path.cmp(&b.path));
        for g in grants {
            writeln!(
                f,
                "  {:<10} {:<4} {:<40} {}",
                access_word(g.access),
                match g.kind {
                    FsKind::Dir => "dir",
                    FsKind::File => "file",
                },
                g.path.display(),
                g.origin
            )?;
        }
        if !self.skipped.is_empty() {
            writeln!(f, "skipped (optional in the profile, missing here):")?;
            for p in &self.skipped {
                writeln!(f, "  {}", p.display())?;
            }
        }
        writeln!(f, "denied (wins over every grant):")?;
        let mut denies: Vec<_> = self.caps.denies().iter().collect();
        denies.sort_by(|a, b| a.path.cmp(&b.path));
        for d in denies {
            writeln!(f, "  {:<56} {}", d.path.display(), d.origin)?;
        }
        for b in &self.bypassed {
            writeln!(
                f,
                "bypassed: {} (deny group `{}`, --bypass-protection)",
                b.path.display(),
                b.group
            )?;
        }
        let net = match self.caps.network() {
            NetworkMode::Allow => "allowed".to_owned(),
            NetworkMode::Block => {
                "blocked (TCP by Landlock, other socket families by seccomp)".to_owned()
            }
            NetworkMode::Ports { connect, bind } => {
                let list = |s: &std::collections::BTreeSet<u16>| {
                    if s.is_empty() {
                        "none".to_owned()
                    } else {
                        s.iter().map(u16::to_string).collect::<Vec<_>>().join(",")
                    }
                };
                format!(
                    "TCP only: connect to ports {}, bind ports {}; other socket families blocked",
                    list(connect),
                    list(bind)
                )
            }
        };
        writeln!(f, "network:  {net}")?;
        if self.caps.allows_unix_datagram() {
            writeln!(
                f,
                "datagram: Unix datagram sockets ALLOWED: the command can sendmsg to any pathname \
                 datagram socket (/dev/log, /run/systemd/notify), unchecked"
            )?;
        } else {
            writeln!(
                f,
                "datagram: Unix datagram sockets refused (EACCES; --allow-unix-datagram allows them)"
            )?;
        }
        let scopes = self.caps.scopes();
        writeln!(
            f,
            "ipc:      signals {}, abstract unix sockets {}",
            if scopes.signal {
                "scoped to the sandbox"
            } else {
                "unrestricted"
            },
            if scopes.abstract_unix_socket {
                "scoped to the sandbox"
            } else {
                "unrestricted"
            },
        )?;
        writeln!(
            f,
            "compat:   {}",
            match self.caps.compat() {
                Compat::Strict => "strict (a protection the kernel cannot give is an error)",
                Compat::BestEffort => "best-effort (gaps are reported, not errors)",
            }
        )
    }
}

impl RunPlan {
    /// The plan as text (the `--dry-run` output, also logged by `-v`), then what the kernel
    /// will and will not enforce.
    pub fn render(&self, status: &str, dry_run: bool) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "nono {} plan{}",
            self.mode,
            if dry_run {
                " (dry run: nothing was executed)"
            } else {
                ""
            }
        );
        let cmd: Vec<String> = self.command.iter().map(quote).collect();
        let _ = writeln!(out, "command:  {}", cmd.join(" "));
        let _ = write!(out, "{}", self.sandbox);
        let e = &self.elevation;
        if self.mode == "wrap" {
            let _ = writeln!(out, "runtime grants: none (wrap leaves no supervisor)");
        } else if e.enabled() {
            let _ = writeln!(
                out,
                "runtime grants: {}",
                if e.prompt {
                    "ask on /dev/tty when no rule matches"
                } else {
                    "only by --approve rules"
                }
            );
            for a in &e.approve {
                let _ = writeln!(out, "  approve under {}", a.display());
            }
        } else {
            let _ = writeln!(
                out,
                "runtime grants: off (opens outside the grants are denied and reported)"
            );
        }
        if let Some(log) = &e.audit_log {
            let _ = writeln!(out, "audit log: {}", log.display());
        }
        if self.mode != "wrap" {
            let _ = writeln!(out, "limits:   {}", self.limits);
            for gap in nono_supervisor::limits::not_enforceable(&self.limits) {
                let _ = writeln!(out, "  {gap}");
            }
        }
        let _ = writeln!(out, "enforcement:");
        for line in status.lines() {
            let _ = writeln!(out, "  {line}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siblings_along_keeps_only_the_way_down() {
        let base = std::env::temp_dir().join(format!("nono-cli-plan-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("a/b")).unwrap();
        std::fs::write(base.join("a/x"), "").unwrap();
        std::fs::write(base.join("a/b/key"), "").unwrap();
        std::fs::write(base.join("a/b/other"), "").unwrap();
        std::fs::write(base.join("y"), "").unwrap();
        let got = siblings_along(&base, &base.join("a/b/key"));
        assert_eq!(
            got,
            [
                base.join(SPINE_GUARD),
                base.join("a").join(SPINE_GUARD),
                base.join("a/b").join(SPINE_GUARD),
                base.join("a/b/other"),
                base.join("a/x"),
                base.join("y"),
            ]
        );
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn allow_cwd_is_not_an_explicit_grant_for_a_bypass() {
        let base = std::env::temp_dir().join(format!("nono-cli-bypass-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let base = std::fs::canonicalize(&base).unwrap();
        std::fs::write(base.join("key"), "").unwrap();
        let flags = SandboxFlags {
            bypass_protection: vec![base.clone()],
            ..SandboxFlags::default()
        };
        let caps_with = |flag: &str| {
            let mut caps = CapabilitySet::new();
            caps.allow_dir(&base, AccessMode::ReadWrite, origin(flag, &base))
                .unwrap();
            caps.deny(base.join("key"), "group credentials").unwrap();
            caps
        };
        assert!(apply_bypasses(caps_with("--allow-cwd"), &flags).is_err());
        let mut caps = caps_with("--allow");
        caps.deny(base.join("other"), "group profile p").unwrap();
        caps.set_keep_capabilities(true)
            .set_sysv_ipc(nono_sandbox::SysvIpc::Host)
            .allow_unix_datagram(true)
            .block_network();
        let mut want = caps.clone();
        let (got, bypassed) = apply_bypasses(caps, &flags).unwrap();
        assert_eq!(bypassed[0].group, "credentials");
        // Only the lifted carve-out is gone: every other rule and setting is kept.
        want.retain_denies(|d| d.path != base.join("key"));
        assert_eq!(got, want);
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn shell_quoting_for_the_plan() {
        assert_eq!(quote(&"ls".into()), "ls");
        assert_eq!(quote(&"a b".into()), "'a b'");
        assert_eq!(quote(&"it's".into()), "'it'\\''s'");
        assert_eq!(quote(&"".into()), "''");
    }
}

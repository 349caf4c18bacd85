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

use nono_sandbox::{
    AccessMode, CapabilitySet, Compat, EnforcementStatus, FsKind, NetworkMode, Origin,
    PreparedAhead, PreparedSandbox, SandboxOptions,
};
use nono_supervisor::bypass::{self, Bypass};
use nono_supervisor::deny_groups::{self, DenySet};
use nono_supervisor::deny_prefetch;
use nono_supervisor::escape;
use nono_supervisor::planted::{self, GrantLink, RequestedGrant, WriteHistory};
use nono_supervisor::private_tmp::PrivateTmp;
use nono_supervisor::profile::{
    self, ChildEnv, EnvRequest, Profile, Removed, ResolvedProfile, SetOrigin, SetValue, Vars,
};
use nono_supervisor::profile_trust::{self, TrustedProfiles};
use serde::Serialize;

pub mod engine;

pub mod json;

pub use engine::{Backend, EnginePlan};

use crate::exit::Failure;
use crate::flags::{ElevationFlags, EnvFlags, LimitFlags, SandboxFlags};
use nono_supervisor::limits::Limits;

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
    /// The profile's missing paths marked `create`: made before the sandbox was built (in a
    /// dry run: what would be), and those refused ([`MissingPaths`]).
    pub created: profile::CreateOutcome,
    /// The symlinks on the way to the grants (all trusted or accepted by
    /// `--allow-symlinked-grant`; an untrusted one is refused before a plan exists).
    pub links: Vec<GrantLink>,
    /// The links the user accepted with `--allow-symlinked-grant` (as given).
    pub accepted_links: Vec<PathBuf>,
    /// The directories earlier runs could write, and where that record is kept.
    pub history: WriteHistory,
    /// `$XDG_STATE_HOME/nono/write-grants.jsonl`.
    pub history_file: PathBuf,
    /// `--private-tmp`: the fresh directory (removed when the plan is dropped).
    pub private_tmp: Option<PrivateTmp>,
    /// `--private-tmp`: the profile's grants on the host's temporary directories, dropped.
    pub tmp_dropped: Vec<PathBuf>,
    /// `$TMPDIR` could not be granted as it is: why, and the fresh private directory used
    /// instead (removed when the plan is dropped; `wrap` leaves it to the command).
    pub tmpdir_fallback: Option<TmpdirFallback>,
    /// Egress by domain (`--allow-domain`, ...): the proxy the command is confined to.
    pub egress: crate::egress::EgressPlan,
    /// The sandbox prepared while the deny groups were resolved ([`PrepareAhead`]), for
    /// `wrap` or `run` to take: used only where it is exactly the sandbox `caps` asks for.
    pub ahead: Option<PreparedAhead>,
}

/// What [`SandboxPlan::from_flags_ahead`] does with the profile's missing paths marked
/// `create` (`nono_supervisor::profile`'s `create` module).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingPaths {
    /// Make them: the command runs (`run`, `shell`, `wrap`, `learn`).
    Create,
    /// Say which would be made (`--dry-run`).
    DryRun,
    /// Leave them alone and say nothing (`why`, `setup`).
    Leave,
}

impl MissingPaths {
    /// For a command that runs unless `dry_run`: [`Create`](Self::Create), or
    /// [`DryRun`](Self::DryRun).
    #[must_use]
    pub fn unless_dry_run(dry_run: bool) -> MissingPaths {
        if dry_run {
            MissingPaths::DryRun
        } else {
            MissingPaths::Create
        }
    }
}

/// Where the command's `$TMPDIR` comes from, and what stands in for one nono must refuse
/// ([`planted::tmpdir_problem`]: a symlink an earlier run may have planted, another user's
/// directory, a directory anyone can write without the sticky bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TmpPlan {
    /// The host's `$TMPDIR` (else `/tmp`); an unsafe one is replaced by a fresh private
    /// directory that the plan's owner removes at exit (`run`, `shell`, `learn`, dry runs).
    Host,
    /// `--private-tmp`: a fresh private directory, and the profile's grants on the host's
    /// temporary directories dropped.
    Private,
    /// The host's `$TMPDIR`, for a command nono execs (`wrap`): no process of nono's is left
    /// to remove a stand-in directory, so an unsafe `$TMPDIR` is an error saying how to fix it.
    HostOrRefuse,
}

/// Which sandbox [`SandboxPlan::from_flags_ahead`] prepares on the main thread while the deny
/// groups are resolved on the other (issue 14, start-up): the Landlock ruleset, its rules'
/// opens and the seccomp programs for the grants and the profile's own denies, taken by
/// `wrap` or `run` when the groups' entries change nothing of it
/// ([`PreparedAhead`]), and prepared again otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrepareAhead {
    /// Nothing (`why`, `learn`, `setup`, dry runs).
    Nothing,
    /// `wrap`'s sandbox (`Sandbox::apply`, default options).
    Wrap,
    /// The sandbox of a run that traps opens (`run`, `shell`): `nono_supervisor::prepare_ahead`.
    Run,
}

/// The sandbox `mode` asks for, prepared for the profile's sandbox so far (`so_far`: its
/// grants and its own denies) with the command line's part added as [`SandboxPlan`] adds it.
/// `None` for [`PrepareAhead::Nothing`] and where something fails (the plan reports it).
fn prepare_ahead(
    mode: PrepareAhead,
    so_far: &CapabilitySet,
    flags: &SandboxFlags,
    workdir: &Path,
    private_tmp: Option<&Path>,
    egress: &crate::egress::EgressPlan,
) -> Option<PreparedAhead> {
    // With domain rules the proxy's port joins the network rules only once the proxy listens
    // (`run`), so the final set never matches what could be prepared here.
    if mode == PrepareAhead::Nothing || egress.enabled() {
        return None;
    }
    let mut requested = Vec::new();
    let (caps, _) = add_flag_caps(
        so_far.clone(),
        flags,
        workdir,
        private_tmp,
        egress,
        &mut requested,
    )
    .ok()?;
    match mode {
        PrepareAhead::Nothing => None,
        PrepareAhead::Wrap => PreparedSandbox::prepare_ahead(caps, SandboxOptions::default()),
        PrepareAhead::Run => nono_supervisor::prepare_ahead(&caps),
    }
}

/// The command line's part of the sandbox, added to the profile's `caps`: the private
/// `$TMPDIR`, the grant flags (each recorded in `requested`), the network, Unix datagram and
/// compatibility flags, the egress proxy's confinement, then `--bypass-protection`.
fn add_flag_caps(
    mut caps: CapabilitySet,
    flags: &SandboxFlags,
    workdir: &Path,
    private_tmp: Option<&Path>,
    egress: &crate::egress::EgressPlan,
    requested: &mut Vec<RequestedGrant>,
) -> anyhow::Result<(CapabilitySet, Vec<Bypass>)> {
    if let Some(dir) = private_tmp {
        caps.allow_dir(dir, AccessMode::ReadWrite, origin("--private-tmp", dir))
            .map_err(|e| Failure::nono(format!("--private-tmp: {e}")))?;
    }

    add_grants(&mut caps, flags, workdir, requested)?;

    if flags.block_net {
        caps.block_network();
    }
    for port in &flags.allow_connect_port {
        caps.allow_connect_port(*port);
    }
    for port in &flags.allow_bind_port {
        caps.allow_bind_port(*port);
    }
    // Domain rules: the proxy becomes the only way out (its port is added when it listens;
    // `run` does that, `wrap` refuses).
    if egress.enabled() {
        if *caps.network() == NetworkMode::Allow {
            caps.block_network();
        }
        if let Some(p) = egress.proxy_port {
            if caps.network().allows_connect(p) {
                return Err(Failure::nono(format!(
                    "--proxy-port {p}: the same port is also a --allow-connect-port (or network.connect) exception; pick another proxy port"
                ))
                .into());
            }
        }
    }
    // Added to the profile's choice: the flag can only allow.
    caps.allow_unix_datagram(flags.allow_unix_datagram);
    if flags.best_effort {
        caps.set_compat(Compat::BestEffort);
    }

    bypass::apply(caps, &flags.bypass_protection).map_err(|e| {
        if matches!(e, bypass::BypassError::Narrow { .. }) {
            anyhow::Error::from(e)
        } else {
            Failure::nono(e.to_string()).into()
        }
    })
}

/// A fresh private directory standing in for an unsafe `$TMPDIR` (see
/// [`nono_supervisor::planted::tmpdir_problem`]). Removed on drop.
#[derive(Debug)]
pub struct TmpdirFallback {
    /// The `$TMPDIR` that was refused.
    pub refused: PathBuf,
    /// Why.
    pub problem: String,
    /// The directory used instead (removed when dropped).
    pub dir: PrivateTmp,
}

/// Runtime grants (`--capability-elevation`, `--approve`, `--audit-log`).
#[derive(Debug, Clone, Default)]
pub struct ElevationPlan {
    /// Ask on /dev/tty when no rule decides (`--capability-elevation`, or the profile's
    /// `supervisor.capability_elevation`).
    pub prompt: bool,
    /// Absolute paths under which runtime requests are granted without asking.
    pub approve: Vec<PathBuf>,
    /// The profile's `supervisor.approve` rules (expanded): they take effect on their own,
    /// like `--approve` (without `capability_elevation` nobody is asked about the rest).
    pub profile_rules: Vec<RuleView>,
    /// Where each runtime decision is appended as one JSON line.
    pub audit_log: Option<PathBuf>,
    /// The approval engine the supervisor consults (`None`: no runtime grants and no audit
    /// log, so nothing is decided at runtime). `run` builds it from this alone.
    pub engine: Option<EnginePlan>,
}

impl ElevationPlan {
    /// Whether the supervisor should consult a policy engine at all.
    #[must_use]
    pub fn enabled(&self) -> bool {
        self.prompt || !self.approve.is_empty() || !self.profile_rules.is_empty()
    }
}

/// One approve rule in a [`PlanView`].
#[derive(Debug, Clone, Serialize)]
pub struct RuleView {
    /// The path or glob (variables expanded).
    pub pattern: String,
    /// `read`, `write` or `read+write`.
    pub access: &'static str,
    /// `--approve PATH` or `profile NAME`.
    pub origin: String,
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
    /// The command's environment.
    pub env: EnvPlan,
    /// Resource limits (`--memory`, `--max-processes`, `--cpus` over the profile's
    /// `limits`); none for `wrap`.
    pub limits: Limits,
}

/// The command's environment: nono's, filtered by the profile and the credential group, then
/// changed by `--clearenv`, `--unsetenv`, `environment.set`, `--private-tmp` and `--setenv`.
#[derive(Debug, Clone, Default)]
pub struct EnvPlan {
    /// `--clearenv`.
    pub clear: bool,
    /// The profile's `environment.inherit`.
    pub inherit: bool,
    /// The variables and what changed.
    pub child: ChildEnv,
}

impl EnvPlan {
    /// Resolve the environment flags against the profile and nono's own environment.
    pub fn from_flags(
        profile: &Profile,
        flags: &EnvFlags,
        tmpdir: Option<(&Path, SetOrigin)>,
    ) -> anyhow::Result<EnvPlan> {
        use std::os::unix::ffi::OsStrExt as _;
        let mut set: Vec<(OsString, SetValue, SetOrigin)> = profile
            .environment
            .set
            .iter()
            .map(|(k, v)| (k.into(), SetValue::Value(v.into()), SetOrigin::ProfileSet))
            .collect();
        if let Some((dir, origin)) = tmpdir {
            set.push((
                "TMPDIR".into(),
                SetValue::Value(dir.as_os_str().to_owned()),
                origin,
            ));
        }
        let private_tmp = tmpdir.filter(|(_, o)| *o == SetOrigin::PrivateTmp);
        for raw in &flags.setenv {
            let bytes = raw.as_bytes();
            let (name, value) = match bytes.iter().position(|&b| b == b'=') {
                Some(i) => (
                    OsString::from(std::ffi::OsStr::from_bytes(&bytes[..i])),
                    SetValue::Value(std::ffi::OsStr::from_bytes(&bytes[i + 1..]).to_owned()),
                ),
                None => (raw.clone(), SetValue::Inherit),
            };
            profile::check_env_name(&name)
                .map_err(|e| Failure::nono(format!("--setenv {}: {e}", name.to_string_lossy())))?;
            if private_tmp.is_some() && name == "TMPDIR" {
                return Err(Failure::nono(
                    "--setenv TMPDIR: --private-tmp sets TMPDIR to the private directory; drop one of the two",
                )
                .into());
            }
            set.push((name, value, SetOrigin::Setenv));
        }
        for name in &flags.unsetenv {
            if name.is_empty() || name.as_bytes().contains(&b'=') {
                return Err(Failure::nono(format!(
                    "--unsetenv {}: not a variable name (give NAME, without =VALUE)",
                    name.to_string_lossy()
                ))
                .into());
            }
        }
        let req = EnvRequest {
            clear: flags.clearenv,
            set,
            unset: flags.unsetenv.clone(),
        };
        let child = profile
            .env_policy()
            .child_env(std::env::vars_os(), &req)
            .map_err(|e| Failure::nono(format!("environment: {e}")))?;
        Ok(EnvPlan {
            clear: flags.clearenv,
            inherit: profile.env_policy().inherit,
            child,
        })
    }

    /// The one note printed when credential variables were dropped (names only).
    #[must_use]
    pub fn credentials_note(&self) -> Option<String> {
        let names = self.child.dropped_credentials();
        (!names.is_empty()).then(|| {
            format!(
                "credential variables not passed to the command: {} (--setenv NAME passes one)",
                names.join(", ")
            )
        })
    }
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

fn origin(flag: &'static str, path: &Path) -> Origin {
    Origin::flag(flag, path)
}

/// The deny groups' resolution started by [`start_deny_prefetch`], taken by the first
/// [`SandboxPlan::from_flags_ahead`].
static DENY_PREFETCH: std::sync::Mutex<Option<deny_prefetch::DenyPrefetch>> =
    std::sync::Mutex::new(None);

/// Start the thread that resolves the deny groups (see `deny_prefetch`): it gets ready while
/// the command line and the profile are read, and resolves the profile's groups while the
/// grants are resolved.
pub fn start_deny_prefetch() {
    let prefetch =
        deny_prefetch::DenyPrefetch::start(|| Vars::from_env().map(|v| v.xdg_state_home));
    if let Ok(mut slot) = DENY_PREFETCH.lock() {
        *slot = prefetch;
    }
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
        SandboxPlan::from_flags_ahead(
            flags,
            TmpPlan::Host,
            PrepareAhead::Nothing,
            MissingPaths::Leave,
        )
    }

    /// Like [`from_flags`](SandboxPlan::from_flags); `tmp` says where `$TMPDIR` comes from
    /// ([`TmpPlan::Private`]: a fresh private directory replaces the host's temporary
    /// directories, see `--private-tmp`), `mode`'s
    /// sandbox is prepared while the deny groups are resolved ([`SandboxPlan::ahead`]), and
    /// the profile's missing paths marked `create` are made or listed as `missing` says.
    pub fn from_flags_ahead(
        flags: &SandboxFlags,
        tmp: TmpPlan,
        mode: PrepareAhead,
        missing: MissingPaths,
    ) -> anyhow::Result<SandboxPlan> {
        let prefetch = DENY_PREFETCH.lock().ok().and_then(|mut slot| slot.take());
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
        let mut vars = Vars::from_env()
            .ok_or_else(|| {
                Failure::nono(
                    "$HOME is not set to an absolute path (profiles expand `~` from it; set HOME)",
                )
            })?
            .with_workdir(&workdir);
        let uid = planted::user_id();
        let tmpdir_fallback = match planted::tmpdir_problem(&vars.tmpdir, uid) {
            None => None,
            Some(problem) if tmp == TmpPlan::HostOrRefuse => {
                return Err(Failure::nono(format!(
                    "$TMPDIR {}: {problem}; wrap cannot give the command a private directory in its place (wrap execs the command: nothing would remove it at exit) — fix or remove that $TMPDIR, point TMPDIR at a directory of yours, or use nono run (which gives the command a private directory instead and removes it at exit)",
                    nono_supervisor::escape::path(&vars.tmpdir)
                ))
                .into());
            }
            Some(problem) => {
                let dir = PrivateTmp::create(Path::new("/tmp")).map_err(|e| {
                    Failure::nono(format!(
                        "$TMPDIR {}: {problem}, and a private directory in /tmp could not be made instead: {e} (point TMPDIR at a directory of yours)",
                        nono_supervisor::escape::path(&vars.tmpdir)
                    ))
                })?;
                let refused = std::mem::replace(&mut vars.tmpdir, dir.path().to_path_buf());
                Some(TmpdirFallback {
                    refused,
                    problem,
                    dir,
                })
            }
        };
        let profile = profile::load(&flags.profile).map_err(|e| {
            let mut message = format!("--profile {}: {e}", flags.profile);
            if let Some(best) = crate::suggest::profile(&flags.profile) {
                message.push_str(&format!(" — did you mean `-p {best}`?"));
            }
            Failure::nono(message)
        })?;
        // --private-tmp: a fresh directory under the host's $TMPDIR (or /tmp) becomes
        // $TMPDIR, and the profile's grants on the host's temporary directories are dropped.
        let (private_tmp, tmp_dropped, for_caps) = if tmp == TmpPlan::Private {
            let base = std::fs::canonicalize(&vars.tmpdir).map_err(|e| {
                Failure::nono(format!(
                    "--private-tmp: the base directory {} (from $TMPDIR, else /tmp): {e} (set TMPDIR to an existing directory)",
                    vars.tmpdir.display()
                ))
            })?;
            let dir = PrivateTmp::create(&base)
                .map_err(|e| Failure::nono(format!("--private-tmp: {e}")))?;
            let (without, dropped) =
                profile.without_grants_under(&vars, &profile::host_tmp_dirs(&vars));
            vars.tmpdir = dir.path().to_path_buf();
            (Some(dir), dropped, Some(without))
        } else {
            (None, Vec::new(), None)
        };
        // The prefetch thread resolves the profile's deny groups from here on.
        let prefetch = prefetch.map(|p| p.begin(profile.enabled_groups(), vars.clone()));
        // Domain rules: the proxy becomes the only way out (its port is added when it
        // listens; `run` does that, `wrap` refuses).
        let egress =
            crate::egress::EgressPlan::from_flags(&flags.egress, &profile, &flags.profile)?;
        let mut ahead = None;
        // Before the profile is resolved: a profile an earlier run may have rewritten is
        // refused before anything of it is used.
        let (history_file, history) = load_write_history(&vars)?;
        check_profile_files(&profile, &history, &vars, uid, &flags.profile)?;
        // After the trust check (a profile an earlier run rewrote makes nothing), before the
        // grants are resolved (a path made now is granted like one that was there).
        let created = match missing {
            MissingPaths::Create => profile.create_missing(&vars, uid, false),
            MissingPaths::DryRun => profile.create_missing(&vars, uid, true),
            MissingPaths::Leave => profile::CreateOutcome::default(),
        };
        let ResolvedProfile {
            caps,
            deny,
            skipped,
            mut requested,
            walks: profile_walks,
            ..
        } = for_caps
            .as_ref()
            .unwrap_or(&profile)
            .resolve_prefetched(&vars, prefetch, |so_far| {
                ahead = prepare_ahead(
                    mode,
                    so_far,
                    flags,
                    &workdir,
                    private_tmp.as_ref().map(PrivateTmp::path),
                    &egress,
                );
            })
            .map_err(|e| Failure::nono(format!("--profile {}: {e}", flags.profile)))?;
        let (caps, bypassed) = add_flag_caps(
            caps,
            flags,
            &workdir,
            private_tmp.as_ref().map(PrivateTmp::path),
            &egress,
            &mut requested,
        )?;
        let (links, walks) = check_grant_links(
            &requested,
            profile_walks,
            &caps,
            uid,
            &history,
            &flags.allow_symlinked_grant,
        )?;
        // What was granted is where the checked resolution ended, not a path swapped since.
        planted::grants_match_checks(&requested, &walks, &caps)
            .map_err(|e| Failure::nono(e.to_string()))?;
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
            created,
            links,
            accepted_links: flags.allow_symlinked_grant.clone(),
            history,
            history_file,
            tmpdir_fallback,
            private_tmp,
            tmp_dropped,
            egress,
            ahead,
        })
    }

    /// The note printed when the working directory is not granted (the command still runs),
    /// or is granted but a carve-out spine: on the way from a grant down to a carve-out, so
    /// that `--allow-cwd` would not help either.
    #[must_use]
    pub fn workdir_note(&self) -> Option<String> {
        if self.workdir_readable {
            return None;
        }
        let dir = nono_supervisor::escape::path(&self.workdir);
        let spine = nono_sandbox::explain(&self.caps, &self.workdir, AccessMode::Read)
            .ok()
            .and_then(|e| match e.rule {
                nono_sandbox::Rule::CarveOutSpine { deny, origin, .. } => Some((deny, origin)),
                _ => None,
            });
        Some(match spine {
            Some((deny, origin)) => {
                let origin = origin.deny_label();
                format!(
                    "the working directory {dir} is granted, but holds the carve-out {} ({origin}): it can be listed under run (not under wrap), and nothing in it can be created, removed or renamed{}",
                    nono_supervisor::escape::path(&deny),
                    crate::report::lift_clause(&crate::report::spine_lift(
                        &self.caps,
                        &self.workdir
                    ))
                )
            }
            None => format!(
                "the working directory {dir} is not granted (nono never grants it implicitly); add --allow-cwd to grant it"
            ),
        })
    }

    /// Every note a run prints before it starts: the working directory, a `$TMPDIR` replaced
    /// by a private directory, each symlink on the way to a command-line grant (the user
    /// named the link; the sandbox gets its target), and each deny entry whose walk for
    /// symlinks was cut, the first time it matters ([`unwalked_to_announce`](Self::unwalked_to_announce);
    /// `runtime_grants`: the run may grant more while it runs).
    #[must_use]
    fn notes(&self, runtime_grants: bool) -> Vec<String> {
        let mut out: Vec<String> = self.workdir_note().into_iter().collect();
        if let Some(t) = &self.tmpdir_fallback {
            out.push(format!(
                "$TMPDIR {} is not granted: {}; the command gets a fresh private directory {} as $TMPDIR instead (fix or remove that $TMPDIR)",
                nono_supervisor::escape::path(&t.refused),
                t.problem,
                t.dir.path().display()
            ));
        }
        for l in self.links.iter().filter(|l| l.origin.is_flag()) {
            out.push(format!(
                "{} goes through the symlink {} -> {}: the sandbox is granted the target",
                l.origin,
                nono_supervisor::escape::path(&l.link),
                nono_supervisor::escape::path(&l.target)
            ));
        }
        for c in &self.created.created {
            out.push(format!(
                "made {} (profile {} asks for it when missing: an empty {}, so that the tool can use it in the sandbox)",
                escape::path(&c.path),
                self.profile.name,
                match c.create {
                    profile::Create::Dir => "directory",
                    profile::Create::File => "file",
                }
            ));
        }
        // What this machine's layout refuses (a symlinked `~/.cache`) is not said at every
        // start, as of any optional path missing here; `--dry-run` lists it with why.
        for r in self.created.refused.iter().filter(|r| !r.layout) {
            out.push(format!(
                "did not make {} (profile {} asks for it when missing): {}; the entry is skipped",
                escape::path(&r.path),
                self.profile.name,
                escape::text(&r.reason)
            ));
        }
        let cut: Vec<String> = self
            .unwalked_to_announce(runtime_grants)
            .map(|u| escape::path(&u.root))
            .collect();
        if let Some((last, rest)) = cut.split_last() {
            let (list, verb) = if rest.is_empty() {
                (last.clone(), "is")
            } else {
                (format!("{} and {last}", rest.join(", ")), "are")
            };
            out.push(format!(
                "{list} {verb} protected, but too large to look through for symlinks (nono stops after {} entries): where a link beyond that leads is not protected, and a grant of this run, or one it is given while it runs, may reach it (said once; --dry-run lists such paths)",
                deny_groups::LINK_WALK_ENTRIES
            ));
        }
        out
    }

    /// Deny entries whose walk for symlinks was cut ([`DenySet::unwalked`]) that no earlier
    /// start announced, and that this run has a grant for that a missed link target could lie
    /// in (one whose access the entry's kind would reduce: any grant for a read-denied entry,
    /// a write grant for a write-denied one) — or any entry when `runtime_grants`: the run
    /// may be granted reads and writes beyond its static grants while it goes on (a prompt,
    /// `--approve`, a profile's approve rule, `learn`'s broad domain), and a missed target is
    /// not denied to them either (red team 15). No silent downgrade: these get a note, once.
    fn unwalked_to_announce(
        &self,
        runtime_grants: bool,
    ) -> impl Iterator<Item = &deny_groups::Unwalked> {
        self.deny.unwalked().iter().filter(move |u| {
            !u.announced
                && (runtime_grants || self.caps.grants().iter().any(|g| u.kind.removes(g.access)))
        })
    }

    /// Print [`notes`](Self::notes) (unless `-s`); the cut walks they announced are remembered
    /// as told only when printed. `runtime_grants`: the run may be granted more while it goes
    /// on ([`unwalked_to_announce`](Self::unwalked_to_announce)).
    pub fn print_notes(&self, ui: &crate::ui::Ui, runtime_grants: bool) {
        for note in self.notes(runtime_grants) {
            ui.note(&note);
        }
        if ui.silent() {
            return;
        }
        let told: Vec<PathBuf> = self
            .unwalked_to_announce(runtime_grants)
            .map(|u| u.root.clone())
            .collect();
        if !told.is_empty() {
            deny_groups::remember_announced(&self.vars, &told);
        }
    }

    /// Record the directories and files this run may write (its write grants and `approve`
    /// directories) before it starts, so a symlink it plants there, or a profile file it
    /// rewrites, is recognised by later runs ([`WriteHistory`]). A failure is returned as a
    /// note: the run goes on, and says that its links and profile rewrites will not be
    /// recognised.
    pub fn record_write_grants(&mut self, approve: &[PathBuf]) -> Option<String> {
        let dirs: Vec<PathBuf> = self
            .caps
            .grants()
            .iter()
            .filter(|g| g.access.writes())
            .map(|g| g.path.clone())
            .chain(approve.iter().cloned())
            .collect();
        self.history
            .record(&self.history_file, &dirs, planted::now_secs())
            .err()
            .map(|e| {
                format!(
                    "cannot record this run's write grants in {}: {e}; a symlink it leaves in them, or a profile file it rewrites there, will not be recognised by later runs",
                    self.history_file.display()
                )
            })
    }

    /// The directory the command gets as `$TMPDIR` when nono made one: `--private-tmp`'s, or
    /// the one standing in for a refused `$TMPDIR`, with how the plan names its origin.
    #[must_use]
    pub fn own_tmpdir(&self) -> Option<(&Path, SetOrigin)> {
        if let Some(t) = &self.private_tmp {
            Some((t.path(), SetOrigin::PrivateTmp))
        } else {
            self.tmpdir_fallback
                .as_ref()
                .map(|t| (t.dir.path(), SetOrigin::TmpdirRefused))
        }
    }
}

/// nono's record of earlier runs' write grants ([`WriteHistory`]) and its file.
pub fn load_write_history(vars: &Vars) -> anyhow::Result<(PathBuf, WriteHistory)> {
    let file = WriteHistory::file(&vars.xdg_state_home);
    let history = WriteHistory::load(&file).map_err(|e| {
        Failure::nono(format!(
            "cannot read nono's record of earlier write grants {}: {e} (fix its permissions, or remove it to start a new record)",
            file.display()
        ))
    })?;
    Ok((file, history))
}

/// A profile file an earlier run could have rewritten is used only as trusted
/// ([`profile_trust`]); what passes is remembered as trusted. `arg` is the profile as given.
pub fn check_profile_files(
    profile: &Profile,
    history: &WriteHistory,
    vars: &Vars,
    uid: u32,
    arg: &str,
) -> anyhow::Result<()> {
    let trusted_file = TrustedProfiles::file(&vars.xdg_state_home);
    let mut trusted = TrustedProfiles::load(&trusted_file).map_err(|e| {
        Failure::nono(format!(
            "cannot read nono's record of trusted profiles {}: {e} (fix its permissions, or remove it and trust your profiles again)",
            trusted_file.display()
        ))
    })?;
    profile_trust::check(
        &profile.files,
        history,
        &trusted,
        uid,
        &vars.xdg_config_home.join("nono"),
    )
    .map_err(|e| Failure::nono(format!("--profile {arg}: {e}")))?;
    // What passed is the user's content (no run could have written it since): remembered
    // as trusted, so a run that may write there cannot have the next run take its
    // rewrite for the user's. Best effort: without the record the next run judges the
    // file by the history alone, which is stricter.
    if let Err(e) = trusted.record(&trusted_file, &profile.files) {
        tracing::debug!("could not remember the profile files as trusted: {e}");
    }
    Ok(())
}

/// The symlinks on the way to every grant; an untrusted one (inside a write grant of this
/// run, or owned by someone other than the user or root) is refused unless the user named it
/// with `--allow-symlinked-grant`.
fn check_grant_links(
    requested: &[RequestedGrant],
    known: Vec<Option<planted::Walk>>,
    caps: &CapabilitySet,
    uid: u32,
    history: &WriteHistory,
    accepted: &[PathBuf],
) -> anyhow::Result<(Vec<GrantLink>, Vec<planted::Walk>)> {
    let (links, walks) = planted::grant_links_walked_with(requested, known, caps, uid, history)
        .map_err(|e| Failure::nono(format!("resolving the symlinks on the grant paths: {e}")))?;
    // The accepted links as the walk names them: canonical parent + last component.
    let accepted: Vec<PathBuf> = accepted
        .iter()
        .map(|p| {
            let p = absolute(p)?;
            Ok(match (p.parent(), p.file_name()) {
                (Some(dir), Some(name)) => std::fs::canonicalize(dir)
                    .map(|d| d.join(name))
                    .unwrap_or(p.clone()),
                _ => p,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    for l in &links {
        let Some(why) = &l.untrusted else { continue };
        if accepted.contains(&l.link) {
            continue;
        }
        let link = nono_supervisor::escape::path(&l.link);
        let arg = nono_supervisor::escape::shell_path(&l.link);
        return Err(Failure::nono(format!(
            "{} ({}): refusing the symlink {link} -> {} on the way: {why}. Remove or fix the link; if you trust it, add --allow-symlinked-grant {arg}",
            nono_supervisor::escape::path(&l.grant),
            l.origin,
            nono_supervisor::escape::path(&l.target),
        ))
        .into());
    }
    Ok((links, walks))
}

/// The command-line grants, in a fixed order, each with an origin naming its flag.
fn add_grants(
    caps: &mut CapabilitySet,
    flags: &SandboxFlags,
    workdir: &Path,
    requested: &mut Vec<RequestedGrant>,
) -> anyhow::Result<()> {
    let dirs: [(&str, &[PathBuf], AccessMode); 3] = [
        ("--allow", &flags.allow, AccessMode::ReadWrite),
        ("--read", &flags.read, AccessMode::Read),
        ("--write", &flags.write, AccessMode::Write),
    ];
    for (flag, paths, access) in dirs {
        for p in paths {
            let granted = caps.allow_dir_at(p, access, origin(flag, p)).map_err(|e| {
                Failure::nono(format!("{flag} {}: {}", p.display(), caps_hint(&e, flag)))
            })?;
            requested.push(RequestedGrant {
                path: absolute(p)?,
                origin: origin(flag, p),
                granted: Some(granted),
            });
        }
    }
    let files: [(&str, &[PathBuf], AccessMode); 3] = [
        ("--allow-file", &flags.allow_file, AccessMode::ReadWrite),
        ("--read-file", &flags.read_file, AccessMode::Read),
        ("--write-file", &flags.write_file, AccessMode::Write),
    ];
    for (flag, paths, access) in files {
        for p in paths {
            let granted = caps
                .allow_file_at(p, access, origin(flag, p))
                .map_err(|e| {
                    Failure::nono(format!("{flag} {}: {}", p.display(), caps_hint(&e, flag)))
                })?;
            requested.push(RequestedGrant {
                path: absolute(p)?,
                origin: origin(flag, p),
                granted: Some(granted),
            });
        }
    }
    if flags.allow_cwd {
        let granted = caps
            .allow_dir_at(
                workdir,
                AccessMode::ReadWrite,
                origin("--allow-cwd", workdir),
            )
            .map_err(|e| Failure::nono(format!("--allow-cwd: {e}")))?;
        // Checked for planted symlinks like any grant, along the path the user reached the
        // directory by (`cd proj/out`, where an earlier run made `out` a link elsewhere):
        // `--workdir` as given, else the shell's `$PWD` when it names the same directory.
        let reached = match &flags.workdir {
            Some(dir) => absolute(dir)?,
            None => std::env::var_os("PWD")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute() && std::fs::canonicalize(p).is_ok_and(|c| c == workdir))
                .unwrap_or_else(|| workdir.to_path_buf()),
        };
        requested.push(RequestedGrant {
            path: reached,
            origin: origin("--allow-cwd", workdir),
            granted: Some(granted),
        });
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

impl ElevationPlan {
    /// From the runtime-grant flags and the profile's supervisor settings. The audit log must
    /// lie outside the sandbox's write grants and `--approve` directories.
    pub fn from_flags(
        flags: &ElevationFlags,
        sandbox: &SandboxPlan,
    ) -> anyhow::Result<ElevationPlan> {
        let profile_prompts = sandbox.profile.capability_elevation();
        let approve = flags
            .approve
            .iter()
            .map(|p| absolute(p))
            .collect::<anyhow::Result<Vec<_>>>()?;
        // An approved directory reached through a planted link would approve its target.
        let requested: Vec<RequestedGrant> = approve
            .iter()
            .map(|p| RequestedGrant {
                path: p.clone(),
                origin: origin("--approve", p),
                granted: None,
            })
            .collect();
        let (_, walks) = check_grant_links(
            &requested,
            Vec::new(),
            &sandbox.caps,
            planted::user_id(),
            &sandbox.history,
            &sandbox.accepted_links,
        )?;
        // Approve exactly where the checked resolution ended (symlink-free), so that nothing
        // swapped in since then is what the rule names.
        let approve: Vec<PathBuf> = approve
            .into_iter()
            .zip(&walks)
            .map(|(p, w)| w.resolved.clone().unwrap_or(p))
            .collect();
        // A deny group wins over every runtime grant: approving a path it protects would
        // grant nothing, so say so now instead of accepting the flag without a word.
        for (raw, p) in flags.approve.iter().zip(&approve) {
            let canonical = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
            // Lifted by --bypass-protection (which needs a static grant there, which is
            // what gives the access).
            if sandbox
                .bypassed
                .iter()
                .any(|b| canonical.starts_with(&b.path))
            {
                continue;
            }
            if let Some(m) = sandbox.deny.deny_for(&canonical, AccessMode::Read) {
                let shown = nono_supervisor::escape::path(raw);
                let arg = nono_supervisor::escape::shell_path(raw);
                return Err(Failure::nono(format!(
                    "--approve {shown}: protected by deny group `{}`, which wins over every runtime grant, so this would grant nothing; to lift it, grant the path explicitly and name it: --read {arg} --bypass-protection {arg}",
                    m.group
                ))
                .into());
            }
        }
        let policy = sandbox
            .profile
            .policy_with(&sandbox.vars, sandbox.deny.clone())
            .map_err(|e| Failure::nono(format!("--profile {}: {e}", sandbox.profile_arg)))?;
        let profile_rules: Vec<RuleView> = policy
            .approve
            .iter()
            .map(|r| RuleView {
                pattern: r.pattern().to_owned(),
                access: access_word(r.access()),
                origin: r.origin().to_owned(),
            })
            .collect();
        let audit_log = flags.audit_log.as_deref().map(absolute).transpose()?;
        if let Some(log) = &audit_log {
            check_output_links("--audit-log", log, &sandbox.caps, &sandbox.history)?;
            check_own_output("--audit-log", log, &sandbox.caps, &approve)?;
        }
        let prompt = flags.capability_elevation || profile_prompts;
        // The engine (see `engine.rs`): whenever runtime grants are on, and for an audit log
        // alone (then every outside-grant open is decided — denied — and logged).
        let enabled = prompt || !approve.is_empty() || !profile_rules.is_empty();
        let engine = (enabled || audit_log.is_some()).then(|| {
            EnginePlan::for_run(
                policy,
                &approve,
                prompt.then(|| sandbox.profile.prompt_timeout()),
                audit_log.clone(),
            )
        });
        Ok(ElevationPlan {
            prompt,
            approve,
            profile_rules,
            audit_log,
            engine,
        })
    }
}

/// A file nono itself writes outside the sandbox (`--audit-log`, `learn -o`) must not lie
/// where the sandboxed command may create or replace it — inside a write grant (`caps`) or an
/// `--approve` directory: the command could turn it into a link to `~/.bashrc` for the next
/// run, or write its own lines into it. (The file is also opened `O_NOFOLLOW`.)
pub fn check_own_output(
    flag: &str,
    path: &Path,
    caps: &CapabilitySet,
    approve: &[PathBuf],
) -> anyhow::Result<()> {
    let shown = nono_supervisor::escape::path(path);
    // A character device (`/dev/null`, a terminal): no sandbox can make one, so it cannot
    // have been planted, and it keeps nothing a later shell would read.
    if std::fs::symlink_metadata(path)
        .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_char_device(&m.file_type()))
    {
        return Ok(());
    }
    let dir = path.parent().unwrap_or(Path::new("/"));
    let dir = std::fs::canonicalize(dir).map_err(|e| {
        Failure::nono(format!(
            "{flag} {shown}: its directory cannot be resolved: {e} (give a file in an existing directory)"
        ))
    })?;
    let canonical = path
        .file_name()
        .map_or_else(|| dir.clone(), |n| dir.join(n));
    let hint = "put it outside every write grant of the run, e.g. under ~/.local/state/nono (which no run can write)";
    // The lexical spelling too: a directory on the way may be a link into a write grant.
    for p in [path, canonical.as_path()] {
        let on_dir = p.parent().and_then(|d| planted::write_grant_over(caps, d));
        let on_file = nono_sandbox::explain_canonical(caps, p, AccessMode::Write).is_allowed();
        if let Some((grant, origin)) = on_dir {
            return Err(Failure::nono(format!(
                "{flag} {shown}: lies inside the write grant {} ({origin}), where the sandboxed command can replace it (with a link to ~/.bashrc, say); {hint}",
                grant.display()
            ))
            .into());
        }
        if on_file {
            return Err(Failure::nono(format!(
                "{flag} {shown}: the sandboxed command may write this file itself (it is granted for writing); {hint}"
            ))
            .into());
        }
        if let Some(a) = approve
            .iter()
            .find(|a| p.starts_with(a) || std::fs::canonicalize(a).is_ok_and(|c| p.starts_with(c)))
        {
            return Err(Failure::nono(format!(
                "{flag} {shown}: lies under --approve {}, where the sandboxed command is granted writes at runtime; {hint}",
                a.display()
            ))
            .into());
        }
    }
    Ok(())
}

/// A file nono writes outside the sandbox must not be reached through a symlink that a
/// sandboxed run could have planted on the way to its directory (`proj/logs` turned into a
/// link to a directory of the user's by an earlier run with `--allow proj`): the same rules as
/// for grant paths (inside a write grant of this run, made after an earlier run could write
/// there, or owned by someone else), checked against `history`. `O_NOFOLLOW` protects only the
/// last component.
pub fn check_output_links(
    flag: &'static str,
    path: &Path,
    caps: &CapabilitySet,
    history: &WriteHistory,
) -> anyhow::Result<()> {
    let Some(dir) = path.parent() else {
        return Ok(());
    };
    let request = [RequestedGrant {
        path: dir.to_path_buf(),
        origin: Origin::flag(flag, path),
        granted: None,
    }];
    let links = planted::grant_links(&request, caps, planted::user_id(), history)
        .map_err(|e| Failure::nono(format!("{flag}: resolving the symlinks on its path: {e}")))?;
    if let Some(l) = links.iter().find(|l| l.untrusted.is_some()) {
        let why = l
            .untrusted
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        return Err(Failure::nono(format!(
            "{flag} {}: refusing the symlink {} -> {} on the way: {why}. Remove or fix the link, or write the file elsewhere (e.g. under ~/.local/state/nono)",
            nono_supervisor::escape::path(path),
            nono_supervisor::escape::path(&l.link),
            nono_supervisor::escape::path(&l.target),
        ))
        .into());
    }
    Ok(())
}

fn access_word(a: AccessMode) -> &'static str {
    match a {
        AccessMode::Read => "read",
        AccessMode::Write => "write",
        AccessMode::ReadWrite => "read+write",
    }
}

fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The plan as data: `--dry-run` renders it as text ([`PlanView::text`]), `--dry-run
/// --json` as JSON, `-v` logs the text. Built once from a [`RunPlan`], so the two renderings
/// cannot disagree. A new part of the plan (resource limits, ...) adds a field here and its
/// lines in `text`.
#[derive(Debug, Serialize)]
pub struct PlanView {
    /// `run`, `wrap`, `shell`.
    pub mode: &'static str,
    /// Whether this is a dry run (nothing executed).
    pub dry_run: bool,
    /// The command and its arguments (lossy UTF-8).
    pub command: Vec<String>,
    /// The profile.
    pub profile: ProfileView,
    /// The working directory.
    pub workdir: WorkdirView,
    /// Filesystem grants, by path.
    pub grants: Vec<GrantView>,
    /// Optional profile paths missing on this machine.
    #[serde(serialize_with = "json::paths")]
    pub skipped: Vec<PathBuf>,
    /// Missing profile paths marked `create` that a run would make (a dry run makes none).
    #[serde(serialize_with = "json::paths")]
    pub would_create: Vec<PathBuf>,
    /// Missing profile paths marked `create` that a run would not make, with why.
    pub not_created: Vec<NotCreatedView>,
    /// The symlinks on the way to the grants (the target is what is granted).
    pub links: Vec<LinkView>,
    /// Deny carve-outs, by path.
    pub denies: Vec<DenyView>,
    /// Deny entries too large to look for every symlink in them.
    #[serde(serialize_with = "json::paths")]
    pub unwalked: Vec<PathBuf>,
    /// Accepted `--bypass-protection`s.
    pub bypassed: Vec<BypassView>,
    /// Network.
    pub network: NetworkView,
    /// Egress by domain: the proxy's rules (empty: no proxy).
    pub egress: crate::egress::EgressPlan,
    /// Unix datagram sockets allowed.
    pub unix_datagram: bool,
    /// Signal and abstract-socket scoping.
    pub ipc: IpcView,
    /// `strict` or `best-effort`.
    pub compat: &'static str,
    /// The command's environment (names only, never values).
    pub environment: EnvView,
    /// The temporary directory.
    pub tmp: TmpView,
    /// Runtime grants.
    pub runtime_grants: RuntimeView,
    /// Resource limits (`None` for wrap, which has none).
    pub limits: Option<LimitsView>,
    /// What the kernel will and will not enforce.
    pub enforcement: EnforcementStatus,
}

/// The profile in a [`PlanView`].
#[derive(Debug, Serialize)]
pub struct ProfileView {
    /// Its name.
    pub name: String,
    /// As given on the command line.
    pub arg: String,
}

/// The working directory in a [`PlanView`].
#[derive(Debug, Serialize)]
pub struct WorkdirView {
    /// The directory.
    #[serde(serialize_with = "json::path")]
    pub path: PathBuf,
    /// Whether it is readable under the grants.
    pub granted: bool,
}

/// One grant in a [`PlanView`].
#[derive(Debug, Serialize)]
pub struct GrantView {
    /// The path.
    #[serde(serialize_with = "json::path")]
    pub path: PathBuf,
    /// `read`, `write`, `read+write`.
    pub access: &'static str,
    /// `dir` or `file`.
    pub kind: &'static str,
    /// Where it came from (`--allow DIR`, `profile default`).
    pub origin: String,
}

/// A missing profile path marked `create` that a run would not make.
#[derive(Debug, Serialize)]
pub struct NotCreatedView {
    /// The path.
    #[serde(serialize_with = "json::path")]
    pub path: PathBuf,
    /// Why not.
    pub reason: String,
}

/// A symlink on the way to a grant in a [`PlanView`].
#[derive(Debug, Serialize)]
pub struct LinkView {
    /// The link.
    #[serde(serialize_with = "json::path")]
    pub link: PathBuf,
    /// Where it leads (what is granted).
    #[serde(serialize_with = "json::path")]
    pub target: PathBuf,
    /// The grant it is on the way to.
    pub origin: String,
    /// Untrusted, and accepted by `--allow-symlinked-grant`.
    pub accepted: bool,
}

/// One deny carve-out in a [`PlanView`].
#[derive(Debug, Serialize)]
pub struct DenyView {
    /// The path.
    #[serde(serialize_with = "json::path")]
    pub path: PathBuf,
    /// `denied` (no access) or `read-only`.
    pub kind: &'static str,
    /// Where it came from (`group credentials`).
    pub origin: String,
}

/// The network in a [`PlanView`].
#[derive(Debug, Serialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum NetworkView {
    /// Everything allowed.
    Allowed,
    /// Nothing allowed.
    Blocked,
    /// TCP to and on these ports only.
    Ports {
        /// connect ports.
        connect: Vec<u16>,
        /// bind ports.
        bind: Vec<u16>,
    },
    /// Confined to the egress proxy (its rules are the plan's `egress`).
    Proxy {
        /// `--proxy-port` (`None`: ephemeral, chosen when the run starts).
        proxy_port: Option<u16>,
        /// Loopback connect exceptions beside the proxy.
        connect: Vec<u16>,
        /// bind ports.
        bind: Vec<u16>,
    },
}

/// Scoping in a [`PlanView`].
#[derive(Debug, Serialize)]
pub struct IpcView {
    /// Signals scoped to the sandbox.
    pub signals_scoped: bool,
    /// Abstract Unix sockets scoped to the sandbox.
    pub abstract_unix_sockets_scoped: bool,
}

/// The environment in a [`PlanView`]: names and reasons, never values.
#[derive(Debug, Serialize)]
pub struct EnvView {
    /// `--clearenv`.
    pub clearenv: bool,
    /// The profile's `environment.inherit`.
    pub inherit: bool,
    /// Set or passed.
    pub set: Vec<nono_supervisor::profile::SetVar>,
    /// Removed, in nono's order.
    pub removed: Vec<nono_supervisor::profile::RemovedVar>,
}

/// The temporary directory in a [`PlanView`].
#[derive(Debug, Serialize)]
pub struct TmpView {
    /// `host` (the shared /tmp, /var/tmp and $TMPDIR), `private` (`--private-tmp`) or
    /// `replaced` (the user's `$TMPDIR` was refused; a fresh private directory stands in).
    pub mode: &'static str,
    /// With `replaced`: the refused `$TMPDIR` and why.
    #[serde(serialize_with = "json::opt_path_and")]
    pub refused: Option<(PathBuf, String)>,
    /// What `$TMPDIR` means for the command (the private directory, or the host's).
    #[serde(serialize_with = "json::path")]
    pub tmpdir: PathBuf,
    /// Whether nono removes it at exit.
    pub removed_at_exit: bool,
    /// With `private`: the profile's grants on the host's temporary directories, dropped.
    #[serde(serialize_with = "json::paths")]
    pub not_granted: Vec<PathBuf>,
}

/// Resource limits in a [`PlanView`].
#[derive(Debug, Serialize)]
pub struct LimitsView {
    /// `--memory` in bytes.
    pub memory: Option<u64>,
    /// `--max-processes`.
    pub max_processes: Option<u64>,
    /// `--cpus`.
    pub cpus: Option<f64>,
    /// As the text plan shows them.
    pub summary: String,
    /// What this machine cannot enforce of them, and why.
    pub not_enforceable: Vec<String>,
}

/// Runtime grants in a [`PlanView`]: the approval engine the supervisor consults.
#[derive(Debug, Serialize)]
pub struct RuntimeView {
    /// `none` (wrap: no supervisor), `off`, `prompt`, `approve`.
    pub mode: &'static str,
    /// Who decides a request no rule covers: `none` (no engine: nothing is decided at
    /// runtime), `deny` (nobody is asked: denied and reported), `prompt` (the person at
    /// /dev/tty) or `learn`.
    pub backend: &'static str,
    /// `--approve` paths.
    #[serde(serialize_with = "json::paths")]
    pub approve: Vec<PathBuf>,
    /// Every approve rule in force, in the order the engine tries them: the profile's
    /// `supervisor.approve`, then `--approve` paths.
    pub rules: Vec<RuleView>,
    /// With `prompt`: seconds without an answer after which a request is denied.
    pub prompt_timeout_secs: Option<u64>,
    /// With `prompt`: at most this many prompts per window; past it requests are denied.
    pub rate_limit: Option<RateLimitView>,
    /// With `prompt`: why /dev/tty cannot be opened now (`None`: it can). Without a terminal,
    /// every request no rule covers is denied and reported.
    pub no_terminal: Option<String>,
    /// Deny groups win over every rule and prompt (`--bypass-protection` lifts one path).
    pub deny_groups_win: bool,
    /// `--audit-log`.
    #[serde(serialize_with = "json::opt_path")]
    pub audit_log: Option<PathBuf>,
}

/// The prompt rate limit in a [`RuntimeView`].
#[derive(Debug, Serialize)]
pub struct RateLimitView {
    /// Prompts per window.
    pub prompts: u32,
    /// The window, in seconds.
    pub per_secs: u64,
}

/// An accepted `--bypass-protection` in a [`PlanView`].
#[derive(Debug, Serialize)]
pub struct BypassView {
    /// The path whose carve-out is lifted.
    #[serde(serialize_with = "json::path")]
    pub path: PathBuf,
    /// The deny group whose carve-out it was.
    pub group: String,
}

/// The engine of `e` as the plan shows it.
fn runtime_view(mode: &'static str, e: &ElevationPlan) -> RuntimeView {
    let engine = e.engine.as_ref();
    let (timeout, no_terminal) = match engine.map(|g| &g.backend) {
        Some(Backend::Prompt {
            timeout,
            no_terminal,
        }) => (Some(timeout.as_secs()), no_terminal.clone()),
        _ => (None, None),
    };
    RuntimeView {
        mode,
        backend: engine.map_or("none", |g| g.backend.as_str()),
        approve: e.approve.clone(),
        rules: engine
            .map(|g| {
                g.policy
                    .approve
                    .iter()
                    .map(|r| RuleView {
                        pattern: r.pattern().to_owned(),
                        access: access_word(r.access()),
                        origin: r.origin().to_owned(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        prompt_timeout_secs: timeout,
        rate_limit: engine
            .and_then(EnginePlan::rate_limit)
            .map(|r| RateLimitView {
                prompts: r.prompts,
                per_secs: r.per.as_secs(),
            }),
        no_terminal,
        deny_groups_win: engine.is_some(),
        audit_log: e.audit_log.clone(),
    }
}

impl RunPlan {
    /// The plan as data, with the enforcement status from a prepared sandbox.
    #[must_use]
    pub fn view(&self, status: &EnforcementStatus, dry_run: bool) -> PlanView {
        let sb = &self.sandbox;
        let mut grants: Vec<GrantView> = sb
            .caps
            .grants()
            .iter()
            .map(|g| GrantView {
                path: g.path.clone(),
                access: access_word(g.access),
                kind: match g.kind {
                    FsKind::Dir => "dir",
                    FsKind::File => "file",
                },
                origin: g.origin.to_string(),
            })
            .collect();
        grants.sort_by(|a, b| a.path.cmp(&b.path));
        let mut denies: Vec<DenyView> = sb
            .caps
            .denies()
            .iter()
            .map(|d| DenyView {
                path: d.path.clone(),
                kind: d.kind.as_str(),
                origin: d.origin.to_string(),
            })
            .collect();
        denies.sort_by(|a, b| a.path.cmp(&b.path));
        let network = match sb.caps.network() {
            _ if sb.egress.enabled() => {
                let (connect, bind) = match sb.caps.network() {
                    NetworkMode::Ports { connect, bind } => (
                        connect.iter().copied().collect(),
                        bind.iter().copied().collect(),
                    ),
                    _ => (Vec::new(), Vec::new()),
                };
                NetworkView::Proxy {
                    proxy_port: sb.egress.proxy_port,
                    connect,
                    bind,
                }
            }
            NetworkMode::Allow => NetworkView::Allowed,
            NetworkMode::Block => NetworkView::Blocked,
            NetworkMode::Ports { connect, bind } => NetworkView::Ports {
                connect: connect.iter().copied().collect(),
                bind: bind.iter().copied().collect(),
            },
        };
        let scopes = sb.caps.scopes();
        let e = &self.elevation;
        let runtime = if self.mode == "wrap" {
            "none"
        } else if !e.enabled() {
            "off"
        } else if e.prompt {
            "prompt"
        } else {
            "approve"
        };
        PlanView {
            mode: self.mode,
            dry_run,
            command: self
                .command
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            profile: ProfileView {
                name: sb.profile.name.clone(),
                arg: sb.profile_arg.clone(),
            },
            workdir: WorkdirView {
                path: sb.workdir.clone(),
                granted: sb.workdir_readable,
            },
            grants,
            skipped: sb.skipped.clone(),
            would_create: sb.created.created.iter().map(|c| c.path.clone()).collect(),
            not_created: sb
                .created
                .refused
                .iter()
                .map(|r| NotCreatedView {
                    path: r.path.clone(),
                    reason: r.reason.clone(),
                })
                .collect(),
            links: sb
                .links
                .iter()
                .map(|l| LinkView {
                    link: l.link.clone(),
                    target: l.target.clone(),
                    origin: l.origin.to_string(),
                    accepted: l.untrusted.is_some(),
                })
                .collect(),
            denies,
            unwalked: sb.deny.unwalked().iter().map(|u| u.root.clone()).collect(),
            bypassed: sb
                .bypassed
                .iter()
                .map(|b| BypassView {
                    path: b.path.clone(),
                    group: b.group.clone(),
                })
                .collect(),
            network,
            egress: sb.egress.clone(),
            unix_datagram: sb.caps.allows_unix_datagram(),
            ipc: IpcView {
                signals_scoped: scopes.signal,
                abstract_unix_sockets_scoped: scopes.abstract_unix_socket,
            },
            compat: match sb.caps.compat() {
                Compat::Strict => "strict",
                Compat::BestEffort => "best-effort",
            },
            environment: EnvView {
                clearenv: self.env.clear,
                inherit: self.env.inherit,
                set: self.env.child.set.clone(),
                removed: self.env.child.removed.clone(),
            },
            tmp: TmpView {
                mode: if sb.private_tmp.is_some() {
                    "private"
                } else if sb.tmpdir_fallback.is_some() {
                    "replaced"
                } else {
                    "host"
                },
                refused: sb
                    .tmpdir_fallback
                    .as_ref()
                    .map(|t| (t.refused.clone(), t.problem.clone())),
                tmpdir: sb.vars.tmpdir.clone(),
                removed_at_exit: sb.private_tmp.is_some() || sb.tmpdir_fallback.is_some(),
                not_granted: sb.tmp_dropped.clone(),
            },
            runtime_grants: runtime_view(runtime, e),
            limits: (self.mode != "wrap").then(|| LimitsView {
                memory: self.limits.memory,
                max_processes: self.limits.max_processes,
                cpus: self.limits.cpus,
                summary: self.limits.to_string(),
                not_enforceable: nono_supervisor::limits::not_enforceable(&self.limits),
            }),
            enforcement: status.clone(),
        }
    }

    /// The plan as text (the `--dry-run` output, also logged by `-v`), then what the kernel
    /// will and will not enforce.
    pub fn render(&self, status: &EnforcementStatus, dry_run: bool) -> String {
        self.view(status, dry_run).text()
    }
}

impl PlanView {
    /// The plan as text.
    #[must_use]
    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = self.write_text(&mut out);
        out
    }

    fn write_text(&self, f: &mut String) -> fmt::Result {
        writeln!(
            f,
            "nono {} plan{}",
            self.mode,
            if self.dry_run {
                " (dry run: nothing was executed)"
            } else {
                ""
            }
        )?;
        let cmd: Vec<String> = self.command.iter().map(|a| quote(a)).collect();
        writeln!(f, "command:  {}", cmd.join(" "))?;
        writeln!(f, "profile:  {} ({})", self.profile.name, self.profile.arg)?;
        write!(f, "workdir:  {}", escape::path(&self.workdir.path))?;
        if self.workdir.granted {
            writeln!(f)?;
        } else {
            writeln!(f, " (not granted; --allow-cwd grants it)")?;
        }
        writeln!(f, "filesystem grants:")?;
        for g in &self.grants {
            writeln!(
                f,
                "  {:<10} {:<4} {:<40} {}",
                g.access,
                g.kind,
                escape::path(&g.path),
                g.origin
            )?;
        }
        if !self.links.is_empty() {
            writeln!(
                f,
                "symlinks on the way to the grants (the target is what is granted):"
            )?;
            for l in &self.links {
                writeln!(
                    f,
                    "  {} -> {}  ({}{})",
                    escape::path(&l.link),
                    escape::path(&l.target),
                    l.origin,
                    if l.accepted {
                        ", accepted by --allow-symlinked-grant"
                    } else {
                        ""
                    }
                )?;
            }
        }
        if !self.skipped.is_empty() {
            writeln!(f, "skipped (optional in the profile, missing here):")?;
            for p in &self.skipped {
                writeln!(f, "  {}", nono_supervisor::escape::path(p))?;
            }
        }
        if !self.would_create.is_empty() || !self.not_created.is_empty() {
            writeln!(
                f,
                "missing, made at the start of a run (the profile's `create`; not in a dry run):"
            )?;
            for p in &self.would_create {
                writeln!(f, "  {}", nono_supervisor::escape::path(p))?;
            }
            for n in &self.not_created {
                writeln!(
                    f,
                    "  {}  (would not be made: {})",
                    nono_supervisor::escape::path(&n.path),
                    nono_supervisor::escape::text(&n.reason)
                )?;
            }
        }
        writeln!(f, "denied (wins over every grant):")?;
        for d in &self.denies {
            writeln!(
                f,
                "  {:<9} {:<46} {}",
                d.kind,
                escape::path(&d.path),
                d.origin
            )?;
        }
        for root in &self.unwalked {
            writeln!(
                f,
                "  note: {} holds too many entries to look for every symlink in it; the \
                 targets of links past the first {} entries are not denied",
                escape::path(root),
                deny_groups::LINK_WALK_ENTRIES
            )?;
        }
        for b in &self.bypassed {
            writeln!(
                f,
                "bypassed: {} (deny group `{}`, --bypass-protection)",
                b.path.display(),
                b.group
            )?;
        }
        let net = match &self.network {
            NetworkView::Allowed | NetworkView::Proxy { .. } => "allowed".to_owned(),
            NetworkView::Blocked => {
                "blocked (TCP by Landlock, other socket families by seccomp)".to_owned()
            }
            NetworkView::Ports { connect, bind } => {
                let list = |s: &[u16]| {
                    if s.is_empty() {
                        "none".to_owned()
                    } else {
                        s.iter().map(u16::to_string).collect::<Vec<_>>().join(",")
                    }
                };
                let reach = if connect.is_empty() {
                    ""
                } else if self.mode == "wrap" {
                    " (to ANY host: without a supervisor nothing checks the address)"
                } else {
                    " (loopback only: the supervisor checks the address)"
                };
                format!(
                    "TCP only: connect to ports {}{reach}, bind ports {}; other socket families blocked",
                    list(connect),
                    list(bind)
                )
            }
        };
        if self.egress.enabled() {
            writeln!(
                f,
                "network:  confined to nono's egress proxy on 127.0.0.1:{}: TCP connect to the proxy's address and port only{}; other socket families blocked",
                self.egress
                    .proxy_port
                    .map_or_else(|| "(ephemeral port)".to_owned(), |p| p.to_string()),
                match &self.network {
                    NetworkView::Proxy { connect, .. } if !connect.is_empty() => format!(
                        ", and to ports {} on loopback",
                        connect
                            .iter()
                            .map(u16::to_string)
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                    _ => String::new(),
                }
            )?;
            self.egress.write_text(f)?;
        } else {
            writeln!(f, "network:  {net}")?;
        }
        if self.unix_datagram {
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
        let scoped = |on: bool| {
            if on {
                "scoped to the sandbox"
            } else {
                "unrestricted"
            }
        };
        writeln!(
            f,
            "ipc:      signals {}, abstract unix sockets {}",
            scoped(self.ipc.signals_scoped),
            scoped(self.ipc.abstract_unix_sockets_scoped),
        )?;
        writeln!(
            f,
            "compat:   {}",
            match self.compat {
                "strict" => "strict (a protection the kernel cannot give is an error)",
                _ => "best-effort (gaps are reported, not errors)",
            }
        )?;
        self.write_env(f)?;
        self.write_tmp(f)?;
        self.write_runtime(f)?;
        if let Some(l) = &self.limits {
            writeln!(f, "limits:   {}", l.summary)?;
            for gap in &l.not_enforceable {
                writeln!(f, "  {gap}")?;
            }
        }
        writeln!(f, "enforcement:")?;
        for line in self.enforcement.to_string().lines() {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }

    fn write_env(&self, f: &mut String) -> fmt::Result {
        let env = &self.environment;
        let base = if env.clearenv {
            format!(
                "cleared (--clearenv): only {}, environment.allow, environment.set and --setenv",
                profile::CLEARENV_KEEP.join(", ")
            )
        } else if env.inherit {
            "inherited from nono, filtered".to_owned()
        } else {
            "not inherited (environment.inherit: false): only environment.allow".to_owned()
        };
        writeln!(f, "environment: {base} (values never shown)")?;
        for s in &env.set {
            writeln!(
                f,
                "  {:<6} {} ({}{})",
                if s.inherited_value { "pass" } else { "set" },
                s.name,
                s.origin.as_str(),
                if s.inherited_value {
                    ", nono's own value"
                } else {
                    ""
                }
            )?;
        }
        let mut reasons: Vec<Removed> = env.removed.iter().map(|r| r.reason).collect();
        reasons.sort();
        reasons.dedup();
        for reason in reasons {
            let names: Vec<&str> = env
                .removed
                .iter()
                .filter(|r| r.reason == reason)
                .map(|r| r.name.as_str())
                .collect();
            writeln!(
                f,
                "  {:<6} {}: {}",
                "drop",
                names.join(", "),
                reason.as_str()
            )?;
        }
        Ok(())
    }

    fn write_tmp(&self, f: &mut String) -> fmt::Result {
        let t = &self.tmp;
        if let Some((refused, problem)) = &t.refused {
            writeln!(
                f,
                "tmp:      $TMPDIR {} refused ({problem}); a fresh private {} is used instead (removed at exit)",
                escape::path(refused),
                escape::path(&t.tmpdir)
            )
        } else if t.mode == "private" {
            writeln!(
                f,
                "tmp:      private {} (fresh, 0700, TMPDIR; removed at exit)",
                t.tmpdir.display()
            )?;
            if !t.not_granted.is_empty() {
                let list: Vec<String> = t
                    .not_granted
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect();
                writeln!(f, "          not granted: {}", list.join(", "))?;
            }
            Ok(())
        } else {
            writeln!(
                f,
                "tmp:      host (TMPDIR {}; /tmp is shared with the host; --private-tmp gives a fresh one)",
                t.tmpdir.display()
            )
        }
    }

    fn write_runtime(&self, f: &mut String) -> fmt::Result {
        let r = &self.runtime_grants;
        match r.mode {
            "none" => writeln!(f, "runtime grants: none (wrap leaves no supervisor)")?,
            "off" => writeln!(
                f,
                "runtime grants: off (opens outside the grants are denied and reported)"
            )?,
            mode => {
                writeln!(
                    f,
                    "runtime grants: {}",
                    if mode == "prompt" {
                        "approve rules, then ask on /dev/tty when no rule matches"
                    } else {
                        "only by approve rules (nobody is asked: add --capability-elevation to be)"
                    }
                )?;
                for rule in &r.rules {
                    writeln!(
                        f,
                        "  approve {} ({}, {})",
                        escape::text(&rule.pattern),
                        rule.access,
                        rule.origin
                    )?;
                }
                if let Some(secs) = r.prompt_timeout_secs {
                    write!(f, "  prompt: denied after {secs}s without an answer")?;
                    if let Some(l) = &r.rate_limit {
                        write!(
                            f,
                            "; at most {} prompts per {}s, then denied",
                            l.prompts, l.per_secs
                        )?;
                    }
                    writeln!(f)?;
                }
                if let Some(why) = &r.no_terminal {
                    writeln!(
                        f,
                        "  no terminal to ask now ({why}): requests no rule covers will be denied and reported"
                    )?;
                }
                if r.deny_groups_win {
                    writeln!(
                        f,
                        "  deny groups win over every rule and prompt (--bypass-protection lifts one path)"
                    )?;
                }
            }
        }
        if let Some(log) = &r.audit_log {
            writeln!(f, "audit log: {}", escape::path(log))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_for_the_plan() {
        assert_eq!(quote("ls"), "ls");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote(""), "''");
    }
}

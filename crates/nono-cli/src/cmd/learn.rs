//! `nono learn -o FILE -- CMD`: run CMD under the supervisor with every trapped open outside
//! the grants allowed and recorded (deny groups still denied and reported), then write the
//! smallest profile, extending the base profile, that lets `nono run -p FILE -- CMD` succeed.
//!
//! Learning uses the supervisor's runtime-grant path, not a weaker sandbox: the policy
//! engine is built with the deny groups and no approve rules, and its approval backend is a
//! callback that grants each request and records it. The engine refuses deny-group paths
//! before the backend is asked, so they are never granted, never recorded, and they show up
//! in the denial report like in `run`.
//!
//! What is learned: paths reached through the open family (`open`, `openat`, `creat`;
//! `openat2` fails with `ENOSYS` in the sandbox, so callers fall back to `openat`), which
//! covers reading, writing, creating files and listing directories, plus the command's own
//! executable. What is not: other operations Landlock refuses without an open (`mkdir`,
//! `unlink`, `rename` outside the grants) — they fail during learning and are listed in the
//! report, so the user can add a directory grant.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use nono_sandbox::{explain, AccessMode};
use nono_supervisor::approval::Callback;
use nono_supervisor::deny_groups::DenySet;
use nono_supervisor::policy::{Decision, Engine, GrantScope, Policy};
use nono_supervisor::profile::{PathEntry, Vars};
use nono_supervisor::{PtyMode, SpawnConfig};

use crate::exit::Failure;
use crate::flags::{LearnArgs, SandboxFlags};
use crate::plan::SandboxPlan;
use crate::report;
use crate::ui::Ui;

/// One learned access: the path, what was done, and whether it existed when it was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    access: AccessMode,
    existed: bool,
    is_dir: bool,
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

    fn is_empty(&self) -> bool {
        self.read.is_empty() && self.write.is_empty() && self.allow.is_empty()
    }
}

/// Turn what was seen into grants: a directory read as a directory grant; a file as a file
/// grant, or, past `threshold` files in one directory, one grant on that directory; a file
/// that did not exist yet (created) as a grant on its directory. Nothing that contains or
/// lies in a deny-set entry is ever widened to a directory grant: a file created in such a
/// directory (`echo x > ~/f`, the home holding `~/.ssh`) is learned as that file, marked
/// optional (a later run can rewrite it, and the profile still loads once it is gone; to
/// create it anew the user grants a directory that holds no deny entry).
fn collapse(seen: &BTreeMap<PathBuf, Seen>, deny: &DenySet, threshold: usize) -> Learned {
    let protected = |dir: &Path| {
        deny.group_of(dir).is_some() || deny.entries().any(|(p, _)| p.starts_with(dir))
    };
    let mut learned = Learned::default();
    let mut per_dir: BTreeMap<PathBuf, Vec<(PathBuf, AccessMode)>> = BTreeMap::new();
    for (path, s) in seen {
        if s.is_dir {
            learned.add(path.clone(), s.access);
            continue;
        }
        let parent = path.parent().unwrap_or(Path::new("/")).to_path_buf();
        if !s.existed {
            if protected(&parent) {
                learned.add(path.clone(), s.access.union(AccessMode::Write));
                learned.optional.insert(path.clone());
            } else {
                // Created: the file grant would name a path that does not exist next time.
                learned.add(parent, s.access.union(AccessMode::Write));
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

/// The learned profile file: extends the base profile and adds the learned grants (the
/// format of `nono_supervisor::profile`, fields in the order a person reads them).
#[derive(Debug, serde::Serialize)]
struct LearnedProfile {
    name: String,
    description: String,
    extends: String,
    filesystem: LearnedFs,
    #[serde(skip_serializing_if = "LearnedNet::is_empty")]
    network: LearnedNet,
}

/// `network.allow_domain`: the destinations the command reached through the proxy.
#[derive(Debug, Default, serde::Serialize)]
struct LearnedNet {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    allow_domain: Vec<String>,
}

impl LearnedNet {
    fn is_empty(&self) -> bool {
        self.allow_domain.is_empty()
    }
}

/// The `--allow-domain` values that cover what the proxy allowed: the host (with its port
/// unless 80/443), and the address too when it lies in a range a name rule alone never
/// reaches. Credential routes are not domains (they need `--credential`).
fn learned_domains(events: &[nono_proxy::ProxyEvent]) -> Vec<String> {
    use nono_proxy::{EventKind, Host, Verdict};
    let mut out = BTreeSet::new();
    for e in events {
        if !matches!(e.kind, EventKind::Tunnel | EventKind::Http { .. }) {
            continue;
        }
        if !matches!(e.verdict, Some(Verdict::Allow { .. })) {
            continue;
        }
        let Ok(host) = Host::parse(&e.host) else {
            continue;
        };
        out.insert(nono_proxy::allow_hint(&host, e.port));
        if let Some(a) = e
            .addr
            .filter(|a| nono_proxy::SpecialRange::of(*a).is_some())
        {
            if host.ip().is_none() {
                out.insert(a.to_string());
            }
        }
    }
    out.into_iter().collect()
}

#[derive(Debug, serde::Serialize)]
struct LearnedFs {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    read: Vec<PathEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    write: Vec<PathEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    allow: Vec<PathEntry>,
}

/// How a learned path is written in the profile: `$WORKDIR/...` inside the working directory
/// and `~/...` inside the home directory (so the profile still fits when the project or the
/// user moves), absolute elsewhere; a `$` in a name is written `$$` (see `Vars::expand`).
fn portable(path: &Path, vars: &Vars) -> String {
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

fn profile_json(
    name: &str,
    base: &str,
    command: &[std::ffi::OsString],
    learned: &Learned,
    domains: &[String],
    vars: &Vars,
) -> anyhow::Result<String> {
    let list = |set: &BTreeSet<PathBuf>| -> Vec<PathEntry> {
        set.iter()
            .map(|p| PathEntry {
                path: portable(p, vars),
                optional: learned.optional.contains(p),
            })
            .collect()
    };
    let cmd: Vec<String> = command
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let profile = LearnedProfile {
        name: name.to_owned(),
        description: format!("Learned by `nono learn` from: {}", cmd.join(" ")),
        extends: base.to_owned(),
        filesystem: LearnedFs {
            read: list(&learned.read),
            write: list(&learned.write),
            allow: list(&learned.allow),
        },
        network: LearnedNet {
            allow_domain: domains.to_vec(),
        },
    };
    Ok(serde_json::to_string_pretty(&profile)? + "\n")
}

/// The executable `argv[0]` resolves to (as `execvp` would find it), canonical.
fn resolve_program(program: &OsStr, path_var: Option<&OsStr>) -> Option<PathBuf> {
    let p = Path::new(program);
    if p.components().count() > 1 {
        return std::fs::canonicalize(p).ok();
    }
    let path_var = path_var?;
    std::env::split_paths(path_var)
        .map(|dir| dir.join(p))
        .find(|c| c.is_file())
        .and_then(|c| std::fs::canonicalize(c).ok())
}

/// The command-line grants of `flags`, which the learned profile must carry too (the profile
/// alone must be enough for `nono run -p FILE -- CMD`).
fn flag_grants(
    flags: &SandboxFlags,
    workdir: &Path,
    learned: &mut BTreeMap<PathBuf, Seen>,
) -> anyhow::Result<()> {
    let mut add = |p: &Path, access: AccessMode| -> anyhow::Result<()> {
        let canon =
            std::fs::canonicalize(p).map_err(|e| Failure::nono(format!("{}: {e}", p.display())))?;
        let is_dir = canon.is_dir();
        learned
            .entry(canon)
            .and_modify(|s| s.access = s.access.union(access))
            .or_insert(Seen {
                access,
                existed: true,
                is_dir,
            });
        Ok(())
    };
    for (paths, access) in [
        (&flags.allow, AccessMode::ReadWrite),
        (&flags.read, AccessMode::Read),
        (&flags.write, AccessMode::Write),
        (&flags.allow_file, AccessMode::ReadWrite),
        (&flags.read_file, AccessMode::Read),
        (&flags.write_file, AccessMode::Write),
    ] {
        for p in paths {
            add(p, access)?;
        }
    }
    if flags.allow_cwd {
        add(workdir, AccessMode::ReadWrite)?;
    }
    Ok(())
}

/// `nono learn`.
pub fn learn(args: LearnArgs, ui: &Ui) -> anyhow::Result<i32> {
    if !args.sandbox.bypass_protection.is_empty() {
        return Err(Failure::nono(
            "--bypass-protection cannot be used with learn: a learned profile never grants a deny-group path",
        )
        .into());
    }
    let mut plan = SandboxPlan::from_flags(&args.sandbox)?;
    let output = if args.output.is_absolute() {
        args.output.clone()
    } else {
        std::env::current_dir()?.join(&args.output)
    };
    // Not refused inside a write grant, unlike the audit log: the command runs with every
    // access outside the deny groups granted, so no place is out of its reach; the file is
    // opened O_NOFOLLOW and must be a regular file with one link.
    for note in plan.notes() {
        ui.note(&note);
    }
    // Only the static write grants: learn grants every other path at runtime too, which the
    // record cannot express (it would make every later link suspect).
    if let Some(note) = plan.record_write_grants(&[]) {
        ui.note(&note);
    }
    let seen: Arc<Mutex<BTreeMap<PathBuf, Seen>>> = Arc::default();
    let recorder = Arc::clone(&seen);
    let backend = Callback::new(move |req| {
        let meta = std::fs::metadata(&req.path);
        let seen_now = Seen {
            access: req.access,
            existed: meta.is_ok(),
            is_dir: meta.map(|m| m.is_dir()).unwrap_or(false),
        };
        let mut map = recorder.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(req.path.clone())
            .and_modify(|s| s.access = s.access.union(seen_now.access))
            .or_insert(seen_now);
        Decision::Granted {
            scope: GrantScope::Once,
            rule: "nono learn".to_owned(),
        }
    });
    let policy = Policy {
        deny: plan.deny.clone(),
        approve: Vec::new(),
        rate_limit: None,
    };
    let engine = Arc::new(Engine::new(policy, backend));

    // The executable itself is reached by execve, which is not trapped: grant and record it
    // up front when the base sandbox does not already allow it.
    // The same environment `run` would give (credential variables dropped, `$TMPDIR`
    // replaced when the user's was refused); learn has no environment flags.
    let env = crate::plan::EnvPlan::from_flags(
        &plan.profile,
        &crate::flags::EnvFlags::default(),
        plan.own_tmpdir(),
    )?
    .child
    .vars;
    let path_var = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_os_str());
    let mut caps = plan.caps.clone();
    let mut exe_grant = None;
    if let Some(exe) = resolve_program(&args.command[0], path_var) {
        let allowed = explain(&caps, &exe, AccessMode::Read)
            .map(|e| e.is_allowed())
            .unwrap_or(true);
        if !allowed && plan.deny.group_of(&exe).is_none() {
            caps.allow_file(&exe, AccessMode::Read, "nono learn: the command")
                .map_err(|e| Failure::nono(e.to_string()))?;
            exe_grant = Some(exe);
        }
    }

    // Domain rules: the command runs confined to the proxy as under `run`, and the
    // destinations it reached are learned (the subset of the rules it used).
    let proxy = if plan.egress.enabled() {
        Some(plan.egress.start()?)
    } else {
        ui.note("the network is not learned: with --network-profile NAME or --allow-domain HOST as an upper bound, learn records the domains the command used and writes them as network.allow_domain");
        None
    };
    if let Some(p) = &proxy {
        caps.allow_connect_port(p.addr.port());
    }
    let mut config = SpawnConfig::new(args.command.clone(), caps);
    config.env = crate::egress::child_env(&env, proxy.as_ref());
    config.egress_proxy = proxy.as_ref().map(|p| p.addr);
    config.workdir = Some(plan.workdir.clone());
    config.trap_opens = true;
    config.engine = Some(engine);
    // A PTY whenever a std stream is a terminal (the default): the learned command never
    // holds the user's terminal, like under `run`.
    config.pty = PtyMode::Auto;
    let outcome = nono_supervisor::run(config);
    let events = proxy
        .map(crate::egress::RunningProxy::finish)
        .unwrap_or_default();
    let outcome = outcome.map_err(|e| Failure::with_code(e.exit_code(), e.to_string()))?;
    let denied = outcome
        .denials
        .iter()
        .map(|d| report::describe_denial(&plan.caps, &plan.deny, d));
    let proxied = plan.egress.enabled();
    let net = outcome
        .connect_denials
        .iter()
        .map(|d| report::NetDenied::direct(d, proxied))
        .chain(events.iter().filter_map(report::NetDenied::from_event));
    ui.block(&report::render_all(denied, net));
    let domains = learned_domains(&events);

    let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if let Some(exe) = exe_grant {
        seen.entry(exe).or_insert(Seen {
            access: AccessMode::Read,
            existed: true,
            is_dir: false,
        });
    }
    flag_grants(&args.sandbox, &plan.workdir, &mut seen)?;
    // Never a deny-set path (the engine refused them already; this also covers flag grants).
    // Read-only deny entries (`autorun`) stay readable, so reading them may be learned.
    seen.retain(|p, s| plan.deny.deny_for(p, s.access).is_none());
    let learned = collapse(&seen, &plan.deny, args.collapse_threshold);
    for p in &learned.optional {
        ui.note(&format!(
            "learned {} as a file, not its directory: {} holds paths a deny group protects; \
             the profile lets a later run rewrite the file, not create it once it is gone",
            p.display(),
            p.parent().unwrap_or(Path::new("/")).display()
        ));
    }

    let name = args.output.file_stem().map_or_else(
        || "learned".to_owned(),
        |s| s.to_string_lossy().into_owned(),
    );
    let text = profile_json(
        &name,
        &plan.profile.name,
        &args.command,
        &learned,
        &domains,
        &plan.vars,
    )?;
    // O_NOFOLLOW: the command ran with every access granted, so it may have left a link
    // (to ~/.bashrc) at the output path.
    let mut file = nono_supervisor::audit::open_own_output(&output, true).map_err(|e| {
        Failure::nono(format!(
            "-o {}: cannot write the profile: {e}",
            args.output.display()
        ))
    })?;
    std::io::Write::write_all(&mut file, nono_supervisor::escape::json(&text).as_bytes()).map_err(
        |e| {
            Failure::nono(format!(
                "-o {}: cannot write the profile: {e}",
                args.output.display()
            ))
        },
    )?;
    drop(file);
    // The profile must load and expand like `run -p` will do it.
    let check = nono_supervisor::profile::load_file(&args.output)
        .and_then(|p| p.to_caps(&plan.vars).map(|_| ()));
    if let Err(e) = check {
        return Err(Failure::nono(format!(
            "-o {}: the learned profile does not load: {e}",
            args.output.display()
        ))
        .into());
    }
    let count = learned.read.len() + learned.write.len() + learned.allow.len() + domains.len();
    if learned.is_empty() && domains.is_empty() {
        ui.note(&format!(
            "wrote {} (the base profile was enough: nothing to add)",
            args.output.display()
        ));
    } else {
        ui.note(&format!(
            "wrote {} ({count} grant{} on top of `{}`); use it with: nono run -p {} -- ...",
            args.output.display(),
            if count == 1 { "" } else { "s" },
            plan.profile.name,
            args.output.display()
        ));
    }
    Ok(outcome.exit.code())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(access: AccessMode) -> Seen {
        Seen {
            access,
            existed: true,
            is_dir: false,
        }
    }

    /// A fresh tree per test (tests run in parallel, so each needs its own directory).
    fn tree(name: &str) -> PathBuf {
        let base =
            std::env::temp_dir().join(format!("nono-cli-learn-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
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
        let text = profile_json("p", "default", &["sh".into()], &l, &[], &vars).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["filesystem"]["write"][0]["optional"], true, "{text}");
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn profile_json_extends_the_base() {
        let mut l = Learned::default();
        l.read.insert("/data".into());
        let vars = Vars::for_home("/home/u").with_workdir("/home/u/proj");
        let text = profile_json("p", "default", &["cat".into()], &l, &[], &vars).unwrap();
        assert!(text.starts_with("{\n  \"name\": \"p\""), "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["extends"], "default");
        assert_eq!(v["filesystem"]["read"][0], "/data");
        assert!(v["filesystem"].get("write").is_none());
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

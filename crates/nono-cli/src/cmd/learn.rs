//! `nono learn -o FILE -- CMD`: run CMD once with everything outside the deny groups
//! allowed and recorded, then write the smallest profile, extending the base profile, that
//! lets `nono run -p FILE -- CMD` succeed.
//!
//! The command runs in a broad Landlock domain: the plan's grants plus read and write on `/`
//! and any port, with the deny groups carved out exactly as in `run` (they are refused and
//! reported). So `execve`, `mkdir`, `unlink`, `rename`, `link`, `symlink`, `chmod`, `connect`
//! and `bind` outside the base profile all succeed and the workload completes in one run. The
//! supervisor's traps report what was touched outside the *reference* — the plan's own grants
//! (base profile + flags) — through `nono_supervisor::learn` (see that module): a path with
//! its access (an opened or executed file, a directory whose entries were made or removed), a
//! Unix socket connected to, a TCP port connected to or bound. What the reference already
//! covers is never recorded, so never repeated in the profile.
//!
//! What Landlock can only grant *around* (a new file directly in a directory that holds a
//! deny entry: the home next to `~/.ssh`) still reaches the runtime-grant path: the policy
//! engine here has the deny groups and a callback that grants and records the rest, and the
//! supervisor creates the file for the child. A new *directory* there (`mkdir ~/x`) cannot be
//! made that way and is reported.
//!
//! The base profile is written as `extends`: by name for a built-in or user profile, as a
//! path relative to the learned file for `-p FILE` (relative `extends` paths are read from
//! the extending file's directory).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use nono_sandbox::{explain, AccessMode, CapabilitySet, NetworkMode};
use nono_supervisor::deny_groups::DenySet;
use nono_supervisor::learn::{Learning, Touched};
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

/// Network use outside the base profile.
#[derive(Debug, Default)]
struct LearnedNet {
    /// TCP ports connected to.
    connect: BTreeSet<u16>,
    /// TCP ports bound.
    bind: BTreeSet<u16>,
    /// Pathname Unix sockets connected to (written as optional file grants).
    sockets: BTreeSet<PathBuf>,
    /// A Unix datagram socket was made.
    unix_datagram: bool,
}

/// Merge one observation into the record.
fn note_seen(map: &Mutex<BTreeMap<PathBuf, Seen>>, path: PathBuf, seen: Seen) {
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    map.entry(path)
        .and_modify(|s| {
            s.access = s.access.union(seen.access);
            s.existed &= seen.existed;
            s.is_dir |= seen.is_dir;
        })
        .or_insert(seen);
}

/// The broad domain learning runs in: the plan's grants (and its deny carve-outs, which stay
/// refused) plus read and write on `/` and any port, so that whatever the workload does
/// outside the profile succeeds and is recorded (see `nono_supervisor::learn`).
fn learning_caps(base: &CapabilitySet) -> anyhow::Result<CapabilitySet> {
    let mut caps = base.clone();
    caps.allow_dir("/", AccessMode::ReadWrite, "nono learn")
        .map_err(|e| Failure::nono(format!("learn: cannot grant / for learning: {e}")))?;
    caps.set_network(NetworkMode::Allow);
    caps.allow_unix_datagram(true);
    Ok(caps)
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

/// The learned profile file: extends the base profile and adds the learned grants (the
/// format of `nono_supervisor::profile`, fields in the order a person reads them).
#[derive(Debug, serde::Serialize)]
struct LearnedProfile {
    name: String,
    description: String,
    extends: String,
    filesystem: LearnedFs,
    #[serde(skip_serializing_if = "Option::is_none")]
    network: Option<LearnedNetwork>,
}

/// `network` of the learned profile: the ports the command used that the base blocks.
#[derive(Debug, serde::Serialize)]
struct LearnedNetwork {
    /// `false` when the base blocks the network (ports and `block: true` cannot be combined).
    #[serde(skip_serializing_if = "Option::is_none")]
    block: Option<bool>,
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    connect: BTreeSet<u16>,
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    bind: BTreeSet<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allow_unix_datagram: Option<bool>,
    /// The destinations the command reached through the proxy.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    allow_domain: Vec<String>,
}

impl LearnedNetwork {
    /// `None` when nothing outside the base was used.
    fn new(net: &LearnedNet, base: &NetworkMode, domains: &[String]) -> Option<LearnedNetwork> {
        let ports = !net.connect.is_empty() || !net.bind.is_empty();
        if !ports && !net.unix_datagram && domains.is_empty() {
            return None;
        }
        Some(LearnedNetwork {
            block: (ports && matches!(base, NetworkMode::Block)).then_some(false),
            connect: net.connect.clone(),
            bind: net.bind.clone(),
            allow_unix_datagram: net.unix_datagram.then_some(true),
            allow_domain: domains.to_vec(),
        })
    }
}

/// How the learned profile names its base: a built-in or user profile by name; a profile
/// file by its path relative to the learned profile's directory (`extends` paths are read
/// relative to the extending file), so `learn -p ../other.json -o new.json` loads.
fn extends_spec(profile_arg: &str, output: &Path) -> anyhow::Result<String> {
    let path_like =
        profile_arg.contains('/') || profile_arg.ends_with(".json") || profile_arg.starts_with('.');
    if !path_like {
        return Ok(profile_arg.to_owned());
    }
    let base = std::fs::canonicalize(profile_arg)
        .map_err(|e| Failure::nono(format!("--profile {profile_arg}: {e}")))?;
    let out_dir = output
        .parent()
        .and_then(|d| std::fs::canonicalize(d).ok())
        .ok_or_else(|| {
            Failure::nono(format!(
                "-o {}: its directory does not exist",
                output.display()
            ))
        })?;
    Ok(relative_to(&base, &out_dir))
}

/// `path` relative to the directory `dir` (both canonical), starting with `./` or `../`.
fn relative_to(path: &Path, dir: &Path) -> String {
    let p: Vec<_> = path.components().collect();
    let d: Vec<_> = dir.components().collect();
    let common = p.iter().zip(&d).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    if common == d.len() {
        out.push(".");
    }
    for _ in common..d.len() {
        out.push("..");
    }
    for c in &p[common..] {
        out.push(c);
    }
    out.to_string_lossy().into_owned()
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
    network: Option<LearnedNetwork>,
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
        network,
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
/// alone must be enough for `nono run -p FILE -- CMD`), except what the base profile
/// (`base`: its grants alone) already gives.
fn flag_grants(
    flags: &SandboxFlags,
    workdir: &Path,
    base: &CapabilitySet,
    learned: &mut BTreeMap<PathBuf, Seen>,
) -> anyhow::Result<()> {
    let mut add = |p: &Path, access: AccessMode| -> anyhow::Result<()> {
        let canon =
            std::fs::canonicalize(p).map_err(|e| Failure::nono(format!("{}: {e}", p.display())))?;
        if explain(base, &canon, access).is_ok_and(|e| e.is_allowed()) {
            return Ok(());
        }
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
    // opened O_NOFOLLOW and must be a regular file with one link, and no symlink an earlier
    // run could have planted may lie on the way to it.
    crate::plan::check_output_links("-o", &output, &plan.caps, &plan.history)?;
    for note in plan.notes() {
        ui.note(&note);
    }
    // The learning domain writes everywhere outside the deny groups (it can make a symlink
    // anywhere), so `/` is recorded: a symlink on the way to a later grant that is newer than
    // this run is not trusted without --allow-symlinked-grant (see planted.rs).
    if let Some(note) = plan.record_write_grants(&[PathBuf::from("/")]) {
        ui.note(&note);
    }
    let seen: Arc<Mutex<BTreeMap<PathBuf, Seen>>> = Arc::default();
    let net: Arc<Mutex<LearnedNet>> = Arc::default();
    let recorder = Arc::clone(&seen);
    // The engine as planned for learning: the deny groups, and every other runtime request
    // granted once and recorded.
    let engine = crate::plan::EnginePlan::for_learn(plan.deny.clone()).build(Some(Arc::new(
        move |req: &nono_supervisor::policy::RuntimeRequest| {
            let meta = std::fs::metadata(&req.path);
            let seen_now = Seen {
                access: req.access,
                existed: meta.is_ok(),
                is_dir: meta.map(|m| m.is_dir()).unwrap_or(false),
            };
            note_seen(&recorder, req.path.clone(), seen_now);
        },
    )))?;
    let engine = Arc::new(engine.engine);

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
    // The command's own executable: recorded up front (its `execve` happens before the
    // supervisor serves the child's traps).
    let exe_grant = resolve_program(&args.command[0], path_var).filter(|exe| {
        !explain(&plan.caps, exe, AccessMode::Read).map_or(true, |e| e.is_allowed())
            && plan.deny.group_of(exe).is_none()
    });

    // Domain rules: the command's network is confined to the proxy as under `run` (the
    // plan's network mode, plus the proxy's port), and the destinations it reached are
    // learned (the subset of the rules it used). Without them every port is allowed and the
    // ports used are learned.
    let proxy = if plan.egress.enabled() {
        Some(plan.egress.start()?)
    } else {
        None
    };
    let mut caps = learning_caps(&plan.caps)?;
    if let Some(p) = &proxy {
        caps.set_network(plan.caps.network().clone());
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
    let (paths, ports) = (Arc::clone(&seen), Arc::clone(&net));
    config.learn = Some(Learning {
        reference: plan.caps.clone(),
        record: Arc::new(move |t| match t {
            Touched::Path {
                path,
                access,
                existed,
                is_dir,
            } => note_seen(
                &paths,
                path,
                Seen {
                    access,
                    existed,
                    is_dir,
                },
            ),
            Touched::Socket(path) => {
                let mut n = ports.lock().unwrap_or_else(|p| p.into_inner());
                n.sockets.insert(path);
            }
            Touched::Connect(port) => {
                let mut n = ports.lock().unwrap_or_else(|p| p.into_inner());
                n.connect.insert(port);
            }
            Touched::Bind(port) => {
                let mut n = ports.lock().unwrap_or_else(|p| p.into_inner());
                n.bind.insert(port);
            }
            Touched::UnixDatagram => {
                ports
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .unix_datagram = true;
            }
            // A kind this version does not write into profiles.
            _ => {}
        }),
    });
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
    let net_denied = outcome
        .connect_denials
        .iter()
        .map(|d| report::NetDenied::direct(d, proxied))
        .chain(events.iter().filter_map(report::NetDenied::from_event));
    ui.block(&report::render_all(denied, net_denied));
    let domains = learned_domains(&events);

    let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if let Some(exe) = exe_grant {
        seen.entry(exe).or_insert(Seen {
            access: AccessMode::Read,
            existed: true,
            is_dir: false,
        });
    }
    let base = plan
        .profile
        .to_caps(&plan.vars)
        .map_err(|e| Failure::nono(format!("--profile {}: {e}", plan.profile_arg)))?;
    flag_grants(&args.sandbox, &plan.workdir, &base, &mut seen)?;
    // Never a deny-set path (the engine refused them already; this also covers flag grants).
    // Read-only deny entries (`autorun`) stay readable, so reading them may be learned.
    seen.retain(|p, s| plan.deny.deny_for(p, s.access).is_none());
    let mut learned = collapse(&seen, &plan.deny, args.collapse_threshold);
    let mut net = std::mem::take(&mut *net.lock().unwrap_or_else(|p| p.into_inner()));
    // The command-line ports, which the profile must carry like the flag grants.
    net.connect.extend(&args.sandbox.allow_connect_port);
    net.bind.extend(&args.sandbox.allow_bind_port);
    if net.bind.remove(&0) {
        ui.note(
            "the command bound an ephemeral TCP port (port 0), which no port rule can allow: \
             run it with the network allowed (a profile without `network.block` or ports)",
        );
    }
    // Sockets: file grants (a socket is granted by itself, see broker/unix_socket.rs),
    // optional since a server re-creates its socket and may not be running next time.
    for sock in &net.sockets {
        if plan.deny.deny_for(sock, AccessMode::ReadWrite).is_none() {
            learned.allow.insert(sock.clone());
            learned.optional.insert(sock.clone());
        }
    }
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
        &extends_spec(&plan.profile_arg, &output)?,
        &args.command,
        &learned,
        LearnedNetwork::new(&net, plan.caps.network(), &domains),
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
    let count = learned.read.len()
        + learned.write.len()
        + learned.allow.len()
        + net.connect.len()
        + net.bind.len()
        + usize::from(net.unix_datagram)
        + domains.len();
    if count == 0 {
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
        let text = profile_json("p", "default", &["sh".into()], &l, None, &vars).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["filesystem"]["write"][0]["optional"], true, "{text}");
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn profile_json_extends_the_base() {
        let mut l = Learned::default();
        l.read.insert("/data".into());
        let vars = Vars::for_home("/home/u").with_workdir("/home/u/proj");
        let text = profile_json("p", "default", &["cat".into()], &l, None, &vars).unwrap();
        assert!(text.starts_with("{\n  \"name\": \"p\""), "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["extends"], "default");
        assert_eq!(v["filesystem"]["read"][0], "/data");
        assert!(v["filesystem"].get("write").is_none());
    }

    #[test]
    fn relative_paths_for_extends() {
        for (path, dir, want) in [
            ("/a/other.json", "/a/b", "../other.json"),
            ("/a/b/p.json", "/a/b", "./p.json"),
            ("/a/b/c/p.json", "/a/b", "./c/p.json"),
            ("/x/p.json", "/a/b", "../../x/p.json"),
        ] {
            assert_eq!(relative_to(Path::new(path), Path::new(dir)), want);
        }
        assert_eq!(
            extends_spec("default", Path::new("/tmp/x.json")).unwrap(),
            "default"
        );
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

    #[test]
    fn ports_under_a_blocked_base_unblock_with_a_list() {
        let net = LearnedNet {
            connect: BTreeSet::from([443]),
            ..LearnedNet::default()
        };
        let n = LearnedNetwork::new(&net, &NetworkMode::Block, &[]).unwrap();
        assert_eq!(n.block, Some(false));
        let n = LearnedNetwork::new(&net, &NetworkMode::Allow, &[]).unwrap();
        assert_eq!(n.block, None);
        assert!(LearnedNetwork::new(&LearnedNet::default(), &NetworkMode::Block, &[]).is_none());
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

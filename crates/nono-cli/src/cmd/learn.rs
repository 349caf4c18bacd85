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
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use nono_sandbox::{explain, AccessMode, CapabilitySet, NetworkMode};
use nono_supervisor::learn::{Learning, Touched};
use nono_supervisor::learn_profile::{self, LearnedNet, Seen};
use nono_supervisor::{PtyMode, SpawnConfig};

use crate::exit::Failure;
use crate::flags::{LearnArgs, SandboxFlags};
use crate::plan::SandboxPlan;
use crate::report;
use crate::ui::Ui;

/// Merge one observation into the record.
fn note_seen(map: &Mutex<BTreeMap<PathBuf, Seen>>, path: PathBuf, seen: Seen) {
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    map.entry(path)
        .and_modify(|s| s.merge(&seen))
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
    let mut plan = SandboxPlan::from_flags_ahead(
        &args.sandbox,
        crate::plan::TmpPlan::Host,
        crate::plan::PrepareAhead::Nothing,
        crate::plan::MissingPaths::Create,
    )?;
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
    // The learning domain may read and write everywhere outside the deny groups: a missed
    // target of a cut link walk too.
    plan.print_notes(ui, true);
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
    // The one PATH search, as `run` spawns it (nono_supervisor::command_path), canonical.
    let exe_grant =
        nono_supervisor::command_path::resolve_in(&args.command[0], path_var, &plan.workdir)
            .and_then(|p| std::fs::canonicalize(p).ok())
            .filter(|exe| {
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
    // The model of the set, worked out once for every refused path the report describes
    // (and not at all when nothing was refused: indexing the denies is not free).
    let model = std::cell::OnceCell::new();
    let denied = outcome.denials.iter().map(|d| {
        let model = model.get_or_init(|| nono_sandbox::Model::new(&plan.caps));
        report::describe_denial(&plan.caps, model, &plan.deny, d)
    });
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
    let mut learned = learn_profile::collapse(&seen, &plan.deny, args.collapse_threshold);
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
    let cmd: Vec<String> = args
        .command
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let text = learn_profile::learned_profile(
        &name,
        &format!("Learned by `nono learn` from: {}", cmd.join(" ")),
        &extends_spec(&plan.profile_arg, &output)?,
        &learned,
        net.network(plan.caps.network(), &domains),
        &plan.vars,
    )
    .to_json()
    .map_err(|e| {
        Failure::nono(format!(
            "-o {}: cannot write the profile: {e}",
            args.output.display()
        ))
    })?;
    // O_NOFOLLOW: the command ran with every access granted, so it may have left a link
    // (to ~/.bashrc) at the output path.
    let mut file = nono_supervisor::audit::open_own_output(&output, true).map_err(|e| {
        Failure::nono(format!(
            "-o {}: cannot write the profile: {e}",
            args.output.display()
        ))
    })?;
    let written = nono_supervisor::escape::json(&text);
    std::io::Write::write_all(&mut file, written.as_bytes()).map_err(|e| {
        Failure::nono(format!(
            "-o {}: cannot write the profile: {e}",
            args.output.display()
        ))
    })?;
    drop(file);
    // The profile must load and expand like `run -p` will do it.
    let check = nono_supervisor::profile::load_file(&args.output)
        .and_then(|p| p.to_caps(&plan.vars).map(|_| p));
    let learned_profile = match check {
        Ok(p) => p,
        Err(e) => {
            return Err(Failure::nono(format!(
                "-o {}: the learned profile does not load: {e}",
                args.output.display()
            ))
            .into())
        }
    };
    // nono wrote it: its content is trusted for the runs that use it (only exactly what was
    // written; the files it extends were judged when this run started).
    let own = nono_supervisor::profile_trust::sha256_hex(written.as_bytes());
    let mine: Vec<_> = learned_profile
        .files
        .iter()
        .filter(|f| f.sha256 == own && f.canonical == f.at && f.spelled == output)
        .cloned()
        .collect();
    let store = nono_supervisor::profile_trust::TrustedProfiles::file(&plan.vars.xdg_state_home);
    let recorded = nono_supervisor::profile_trust::TrustedProfiles::load(&store)
        .and_then(|mut t| t.record(&store, &mine));
    if let Err(e) = recorded {
        ui.note(&format!(
            "could not record {} as trusted in {}: {e} (run `nono profile trust {}` before using it)",
            nono_supervisor::escape::path(&args.output),
            nono_supervisor::escape::path(&store),
            nono_supervisor::escape::shell_path(&args.output)
        ));
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
}

//! `nono run` and `nono shell`: execute a plan under the supervisor, then print the denial report.

use std::sync::Arc;

use nono_sandbox::{Compat, EnforcementStatus, PreparedSandbox, SandboxOptions};
use nono_supervisor::{PtyMode, SpawnConfig};

use crate::exit::Failure;
use crate::flags::{RunArgs, ShellArgs};
use crate::plan::{
    ElevationPlan, EnvPlan, MissingPaths, PrepareAhead, RunPlan, SandboxPlan, TmpPlan,
};
use crate::report;
use crate::ui::out;
use crate::ui::Ui;

/// `nono run`.
pub fn run(args: RunArgs, ui: &Ui) -> anyhow::Result<i32> {
    let ahead = if args.dry_run {
        PrepareAhead::Nothing
    } else {
        PrepareAhead::Run
    };
    let missing = MissingPaths::unless_dry_run(args.dry_run);
    let sandbox =
        SandboxPlan::from_flags_ahead(&args.sandbox, tmp_plan(&args.env), ahead, missing)?;
    let elevation = ElevationPlan::from_flags(&args.elevation, &sandbox)?;
    let env = EnvPlan::from_flags(&sandbox.profile, &args.env, sandbox.own_tmpdir())?;
    let limits = crate::plan::limits_from(&args.limits, &sandbox.profile);
    let mut plan = RunPlan {
        mode: "run",
        sandbox,
        elevation,
        command: args.command,
        env,
        limits,
    };
    if args.dry_run {
        return dry_run(&plan, true, args.json);
    }
    let result = execute(&mut plan, ui, PtyMode::Auto);
    finish(plan, ui, result)
}

/// After the command: remove the private tmp (the command and what it left running have
/// ended: `execute` returns after the leftovers are killed), naming it if that fails.
///
/// Then the plan goes without being freed piece by piece: `main` exits as soon as this
/// returns, and the plan is memory alone (profile, capability set, deny groups, history)
/// except for the two directories it removes when dropped, which are dropped here. Freeing
/// it cost ~0.05 ms of every run (issue 14).
fn finish(mut plan: RunPlan, ui: &Ui, result: anyhow::Result<i32>) -> anyhow::Result<i32> {
    if let Some(dir) = &mut plan.sandbox.private_tmp {
        if let Err(e) = dir.remove() {
            ui.note(&format!(
                "could not remove the private tmp {}: {e} (remove it by hand)",
                dir.path().display()
            ));
        }
    }
    drop(plan.sandbox.private_tmp.take());
    drop(plan.sandbox.tmpdir_fallback.take());
    std::mem::forget(plan);
    result
}

/// `nono shell`: `$SHELL` (fallback `/bin/sh`) on its own PTY.
pub fn shell(args: ShellArgs, ui: &Ui) -> anyhow::Result<i32> {
    let shell = std::env::var_os("SHELL")
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "/bin/sh".into());
    let ahead = if args.dry_run {
        PrepareAhead::Nothing
    } else {
        PrepareAhead::Run
    };
    let missing = MissingPaths::unless_dry_run(args.dry_run);
    let sandbox =
        SandboxPlan::from_flags_ahead(&args.sandbox, tmp_plan(&args.env), ahead, missing)?;
    let elevation = ElevationPlan::from_flags(&args.elevation, &sandbox)?;
    let env = EnvPlan::from_flags(&sandbox.profile, &args.env, sandbox.own_tmpdir())?;
    let limits = crate::plan::limits_from(&args.limits, &sandbox.profile);
    let mut plan = RunPlan {
        mode: "shell",
        sandbox,
        elevation,
        command: vec![shell],
        env,
        limits,
    };
    if args.dry_run {
        return dry_run(&plan, true, args.json);
    }
    let result = execute(&mut plan, ui, PtyMode::Auto);
    finish(plan, ui, result)
}

/// What the kernel will and will not enforce for this plan, from a prepared (never applied)
/// sandbox — the same preparation `run` does, so strict-mode refusals show up here too.
pub fn enforcement(plan: &RunPlan, supervised: bool) -> anyhow::Result<EnforcementStatus> {
    let opts = if supervised {
        SandboxOptions::new()
            .with_notify(nono_supervisor::trapped_syscalls(&plan.sandbox.caps))
            .with_refused_sockets_trapped()
    } else {
        SandboxOptions::new()
    };
    let prepared = PreparedSandbox::prepare(&plan.sandbox.caps, &opts)
        .map_err(|e| Failure::nono(format!("{e}")))?;
    Ok(prepared.status().clone())
}

/// Print the plan and what the kernel will enforce (as text, or as one JSON object).
pub fn dry_run(plan: &RunPlan, supervised: bool, json: bool) -> anyhow::Result<i32> {
    let status = enforcement(plan, supervised)?;
    if json {
        let text = serde_json::to_string_pretty(&plan.view(&status, true))
            .map_err(|e| Failure::nono(format!("the plan cannot be printed as JSON: {e}")))?;
        // A name in the plan may carry DEL, C1 controls or bidi overrides, which serde_json
        // writes as themselves: the same JSON value, escaped for the terminal.
        out!("{}", nono_supervisor::escape::json(&text));
        return Ok(0);
    }
    out!("{}", plan.render(&status, true));
    out!(
        "{}",
        nono_supervisor::gaps::describe(supervised, plan.sandbox.caps.allows_unix_datagram())
    );
    Ok(0)
}

/// With `-v`, log the plan and the enforcement status; in best-effort mode, always print
/// what is NOT enforced (never a silent downgrade).
pub fn announce(plan: &RunPlan, ui: &Ui, supervised: bool) -> anyhow::Result<()> {
    let best_effort = plan.sandbox.caps.compat() == Compat::BestEffort;
    if ui.verbose() == 0 && !best_effort {
        return Ok(());
    }
    let status = enforcement(plan, supervised)?;
    if ui.verbose() > 0 {
        tracing::info!("plan:\n{}", plan.render(&status, false).trim_end());
    }
    for gap in &status.not_enforced {
        ui.note(&format!(
            "best-effort: {} is NOT enforced: {}",
            gap.protection.as_str(),
            gap.detail
        ));
    }
    if best_effort && plan.mode != "wrap" {
        for gap in nono_supervisor::limits::not_enforceable(&plan.limits) {
            ui.note(&format!("best-effort: {gap}"));
        }
    }
    Ok(())
}

/// Run the plan under the supervisor; print the denial report; return the child's status.
pub fn execute(plan: &mut RunPlan, ui: &Ui, pty: PtyMode) -> anyhow::Result<i32> {
    // A missed target of a cut link walk is in reach of a runtime grant too.
    plan.sandbox.print_notes(ui, plan.elevation.enabled());
    let mut approve = plan.elevation.approve.clone();
    // A prompt or a profile's approve rule can grant writes anywhere outside the deny groups
    // while the run goes on, and a symlink made through such a grant must not be trusted by a
    // later run either: recorded as `/` (as for `learn`), stamped before the command starts.
    if plan.elevation.prompt || !plan.elevation.profile_rules.is_empty() {
        approve.push(std::path::PathBuf::from("/"));
    }
    if let Some(note) = plan.sandbox.record_write_grants(&approve) {
        ui.note(&note);
    }
    announce(plan, ui, true)?;
    if let Some(note) = plan.env.credentials_note() {
        ui.note(&note);
    }
    // Domain rules: the proxy listens before the command exists, and its port is the one
    // TCP port the command may connect to (beside explicit loopback exceptions).
    let proxy = if plan.sandbox.egress.enabled() {
        Some(plan.sandbox.egress.start()?)
    } else {
        None
    };
    let mut caps = plan.sandbox.caps.clone();
    if let Some(p) = &proxy {
        if caps.network().allows_connect(p.addr.port()) {
            // The proxy's port reaches the proxy alone (nono_supervisor::egress): an
            // exception on the same number would be lost. Only an ephemeral port can get here.
            return Err(Failure::nono(format!(
                "the egress proxy's ephemeral port {} is also a --allow-connect-port exception; run again, or fix the port with --proxy-port",
                p.addr.port()
            ))
            .into());
        }
        caps.allow_connect_port(p.addr.port());
        tracing::info!(addr = %p.addr, "egress proxy listening");
    }
    let mut config = SpawnConfig::new(plan.command.clone(), caps);
    config.env = crate::egress::child_env(&plan.env.child.vars, proxy.as_ref());
    config.egress_proxy = proxy.as_ref().map(|p| p.addr);
    config.workdir = Some(plan.sandbox.workdir.clone());
    config.trap_opens = true;
    config.ahead = plan.sandbox.ahead.take();
    // The engine exactly as planned (`--dry-run` shows the same plan).
    let (engine, no_terminal) = match &plan.elevation.engine {
        Some(e) => {
            if let Some(note) = e.no_terminal_note() {
                ui.note(&note);
            }
            let built = e.build(None)?;
            (Some(Arc::new(built.engine)), built.no_terminal)
        }
        None => (None, None),
    };
    config.engine = engine;
    config.allowed_origins = plan.sandbox.profile.allowed_origins().to_vec();
    // Explicit requests (NONO_SUPERVISOR_FD) are offered whenever runtime grants are on.
    config.sdk = plan.elevation.enabled();
    config.pty = pty;
    config.limits = plan.limits;
    tracing::info!(command = ?plan.command, "starting the supervised command");
    let outcome = nono_supervisor::run(config);
    // The command and everything it left have ended: nothing can use the proxy any more.
    let events = proxy
        .map(crate::egress::RunningProxy::finish)
        .unwrap_or_default();
    let outcome = outcome.map_err(|e| {
        let mut message = e.to_string();
        if let nono_supervisor::SupervisorError::NotExecutable { path, .. } = &e {
            if let Some(advice) = crate::exec_advice::advice(&plan.sandbox.caps, path) {
                message = format!("{message}\n  {advice}");
            }
        }
        Failure::with_code(e.exit_code(), message)
    })?;
    if let Some(log) = &plan.elevation.audit_log {
        if let Err(e) = crate::egress::audit(log, &events) {
            ui.note(&format!(
                "could not append the egress records to {}: {e}",
                log.display()
            ));
        }
    }
    // The model of the set, worked out once for every refused path the report describes
    // (and not at all when nothing was refused: indexing the denies is not free).
    let model = std::cell::OnceCell::new();
    let denied = outcome.denials.iter().map(|d| {
        let model = model.get_or_init(|| nono_sandbox::Model::new(&plan.sandbox.caps));
        report::describe_denial(&plan.sandbox.caps, model, &plan.sandbox.deny, d)
    });
    let proxied = plan.sandbox.egress.enabled();
    let net = outcome
        .connect_denials
        .iter()
        .map(|d| report::NetDenied::direct(d, proxied))
        .chain(events.iter().filter_map(report::NetDenied::from_event));
    ui.block(&report::render_all(denied, net));
    if outcome.denials_dropped > 0 {
        ui.note(&format!(
            "{} more refusals are not listed (nono keeps the first {} distinct ones of each kind in a run)",
            outcome.denials_dropped,
            nono_supervisor::MAX_DENIALS
        ));
    }
    if outcome.calls_unread > 0 {
        ui.note(&report::unread_calls(outcome.calls_unread));
    }
    for line in report::limits(&outcome.limits, &plan.limits, outcome.exit.code()) {
        ui.note(&line);
    }
    if let Some(nt) = no_terminal.filter(|nt| nt.count() > 0) {
        let n = nt.count();
        ui.note(&format!(
            "{n} runtime request{} denied: no terminal to ask ({}); run nono on a terminal, or grant them without asking with --approve PATH or a profile's supervisor.approve",
            if n == 1 { " was" } else { "s were" },
            nt.why().unwrap_or_default()
        ));
    }
    Ok(outcome.exit.code())
}

/// `$TMPDIR` for a run nono supervises to its end: `--private-tmp`'s own directory, or the
/// host's with a private stand-in for an unsafe one (nono removes either at exit).
fn tmp_plan(env: &crate::flags::EnvFlags) -> TmpPlan {
    if env.private_tmp {
        TmpPlan::Private
    } else {
        TmpPlan::Host
    }
}

//! `nono run` and `nono shell`: execute a plan under the supervisor, then print the denial report.

use std::sync::Arc;

use nono_sandbox::{Compat, EnforcementStatus, PreparedSandbox, SandboxOptions};
use nono_supervisor::approval::{DenyAll, TerminalPrompt};
use nono_supervisor::audit::AuditLog;
use nono_supervisor::policy::{ApproveRule, Engine};
use nono_supervisor::{PtyMode, SpawnConfig};
use nono_wire::AccessMode;

use crate::exit::Failure;
use crate::flags::{RunArgs, ShellArgs};
use crate::plan::{ElevationPlan, EnvPlan, RunPlan, SandboxPlan};
use crate::report;
use crate::ui::out;
use crate::ui::Ui;

/// `nono run`.
pub fn run(args: RunArgs, ui: &Ui) -> anyhow::Result<i32> {
    let sandbox = SandboxPlan::from_flags_with(&args.sandbox, args.env.private_tmp)?;
    let elevation = ElevationPlan::from_flags(&args.elevation, &sandbox)?;
    let env = EnvPlan::from_flags(&sandbox.profile, &args.env, sandbox.own_tmpdir())?;
    let mut plan = RunPlan {
        mode: "run",
        sandbox,
        elevation,
        command: args.command,
        env,
    };
    if args.dry_run {
        return dry_run(&plan, true, args.json);
    }
    let result = execute(&mut plan, ui, PtyMode::Auto);
    finish(&mut plan, ui, result)
}

/// After the command: remove the private tmp (the command and what it left running have
/// ended: `execute` returns after the leftovers are killed), naming it if that fails.
fn finish(plan: &mut RunPlan, ui: &Ui, result: anyhow::Result<i32>) -> anyhow::Result<i32> {
    if let Some(dir) = &mut plan.sandbox.private_tmp {
        if let Err(e) = dir.remove() {
            ui.note(&format!(
                "could not remove the private tmp {}: {e} (remove it by hand)",
                dir.path().display()
            ));
        }
    }
    result
}

/// `nono shell`: `$SHELL` (fallback `/bin/sh`) on its own PTY.
pub fn shell(args: ShellArgs, ui: &Ui) -> anyhow::Result<i32> {
    let shell = std::env::var_os("SHELL")
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "/bin/sh".into());
    let sandbox = SandboxPlan::from_flags_with(&args.sandbox, args.env.private_tmp)?;
    let elevation = ElevationPlan::from_flags(&args.elevation, &sandbox)?;
    let env = EnvPlan::from_flags(&sandbox.profile, &args.env, sandbox.own_tmpdir())?;
    let mut plan = RunPlan {
        mode: "shell",
        sandbox,
        elevation,
        command: vec![shell],
        env,
    };
    if args.dry_run {
        return dry_run(&plan, true, args.json);
    }
    let result = execute(&mut plan, ui, PtyMode::Auto);
    finish(&mut plan, ui, result)
}

/// What the kernel will and will not enforce for this plan, from a prepared (never applied)
/// sandbox — the same preparation `run` does, so strict-mode refusals show up here too.
pub fn enforcement(plan: &RunPlan, supervised: bool) -> anyhow::Result<EnforcementStatus> {
    let opts = if supervised {
        SandboxOptions::new().with_notify(nono_supervisor::trapped_syscalls(&plan.sandbox.caps))
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
        out!("{text}");
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
    Ok(())
}

/// The policy engine for runtime decisions, when the plan asks for one (elevation, or an
/// audit log: then every outside-grant open is decided — denied — and logged).
fn engine(plan: &RunPlan) -> anyhow::Result<Option<Arc<Engine>>> {
    let e = &plan.elevation;
    if !e.enabled() && e.audit_log.is_none() {
        return Ok(None);
    }
    let profile = &plan.sandbox.profile;
    let mut policy = profile
        .policy_with(&plan.sandbox.vars, plan.sandbox.deny.clone())
        .map_err(|err| Failure::nono(format!("--profile {}: {err}", plan.sandbox.profile_arg)))?;
    policy.approve.extend(e.approve.iter().map(|p| {
        ApproveRule::path(
            p,
            AccessMode::ReadWrite,
            format!("--approve {}", p.display()),
        )
    }));
    let engine = if e.prompt {
        Engine::new(policy, TerminalPrompt::new(profile.prompt_timeout()))
    } else {
        Engine::new(policy, DenyAll)
    };
    let engine = match &e.audit_log {
        Some(path) => engine.with_audit(
            AuditLog::open(path).map_err(|err| Failure::nono(format!("--audit-log: {err}")))?,
        ),
        None => engine,
    };
    Ok(Some(Arc::new(engine)))
}

/// Run the plan under the supervisor; print the denial report; return the child's status.
pub fn execute(plan: &mut RunPlan, ui: &Ui, pty: PtyMode) -> anyhow::Result<i32> {
    for note in plan.sandbox.notes() {
        ui.note(&note);
    }
    let approve = plan.elevation.approve.clone();
    if let Some(note) = plan.sandbox.record_write_grants(&approve) {
        ui.note(&note);
    }
    announce(plan, ui, true)?;
    if let Some(note) = plan.env.credentials_note() {
        ui.note(&note);
    }
    let mut config = SpawnConfig::new(plan.command.clone(), plan.sandbox.caps.clone());
    config.env = plan.env.child.vars.clone();
    config.workdir = Some(plan.sandbox.workdir.clone());
    config.trap_opens = true;
    config.engine = engine(plan)?;
    config.allowed_origins = plan.sandbox.profile.allowed_origins().to_vec();
    // Explicit requests (NONO_SUPERVISOR_FD) are offered whenever runtime grants are on.
    config.sdk = plan.elevation.enabled();
    config.pty = pty;
    tracing::info!(command = ?plan.command, "starting the supervised command");
    let outcome = nono_supervisor::run(config).map_err(|e| {
        let mut message = e.to_string();
        if let nono_supervisor::SupervisorError::NotExecutable { path, .. } = &e {
            if let Some(advice) = crate::exec_advice::advice(&plan.sandbox.caps, path) {
                message = format!("{message}\n  {advice}");
            }
        }
        Failure::with_code(e.exit_code(), message)
    })?;
    let denied = outcome
        .denials
        .iter()
        .map(|d| report::describe_denial(&plan.sandbox.caps, &plan.sandbox.deny, d));
    ui.block(&report::render(denied));
    Ok(outcome.exit.code())
}

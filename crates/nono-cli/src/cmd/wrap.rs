//! `nono wrap`: apply the plan's sandbox to nono itself (`Sandbox::apply`) and `exec` the
//! command, so no supervisor is left behind (and so no denial report and no runtime grants).

use std::os::unix::process::CommandExt as _;
use std::process::Command;

use nono_sandbox::Sandbox;

use crate::cmd::run::{announce, dry_run};
use crate::exit::Failure;
use crate::flags::WrapArgs;
use crate::plan::{ElevationPlan, RunPlan, SandboxPlan};
use crate::ui::Ui;

/// `nono wrap`. Returns only on failure (the command replaces nono).
pub fn wrap(args: WrapArgs, ui: &Ui) -> anyhow::Result<i32> {
    let sandbox = SandboxPlan::from_flags(&args.sandbox)?;
    let plan = RunPlan {
        mode: "wrap",
        sandbox,
        elevation: ElevationPlan::default(),
        command: args.command,
        limits: nono_supervisor::limits::Limits::default(),
    };
    if args.dry_run {
        return dry_run(&plan, false);
    }
    if let Some(note) = plan.sandbox.workdir_note() {
        ui.note(&note);
    }
    if ui.verbose() > 0 {
        announce(&plan, ui, false)?;
    }
    let env = nono_supervisor::env::sanitize(
        plan.sandbox.profile.env_policy().apply(std::env::vars_os()),
    );
    let (program, rest) = plan
        .command
        .split_first()
        .ok_or_else(|| Failure::with_code(2, "no command given (nono wrap -- CMD [ARGS])"))?;
    let mut cmd = Command::new(program);
    cmd.args(rest)
        .env_clear()
        .envs(env)
        .current_dir(&plan.sandbox.workdir);
    let status = Sandbox::apply(&plan.sandbox.caps).map_err(|e| Failure::nono(e.to_string()))?;
    for gap in &status.not_enforced {
        ui.note(&format!(
            "best-effort: {} is NOT enforced: {}",
            gap.protection.as_str(),
            gap.detail
        ));
    }
    // Landlock never checks a descriptor opened before the sandbox: whatever nono inherited
    // above stderr (a leaked file or socket) must not reach the command.
    nono_sandbox::linux::cloexec_inherited_fds().map_err(|e| {
        Failure::nono(format!(
            "marking inherited descriptors close-on-exec (close_range) failed: {e}"
        ))
    })?;
    tracing::info!(command = ?plan.command, "sandbox applied; exec");
    let err = cmd.exec();
    Err(Failure::exec(program, &err).into())
}

//! `nono wrap`: apply the plan's sandbox to nono itself (`Sandbox::apply`) and `exec` the
//! command, so no supervisor is left behind (and so no denial report and no runtime grants).

use std::os::unix::process::CommandExt as _;
use std::process::Command;

use nono_sandbox::{FsKind, NetworkMode, Sandbox};

use crate::cmd::run::{announce, dry_run};
use crate::exit::Failure;
use crate::flags::WrapArgs;
use crate::plan::{
    ElevationPlan, EnvPlan, MissingPaths, PrepareAhead, RunPlan, SandboxPlan, TmpPlan,
};
use crate::ui::Ui;

/// Without a supervisor nothing stops metadata changes of deny-group files or connects to the
/// user's agent sockets (`nono_supervisor::gaps`); a grant on the home directory (or above it)
/// says the user means to confine a command that can reach all of them, so wrap asks for the
/// acknowledgement `--accept-wrap-gaps` first.
fn refuse_home_wide_grant(plan: &RunPlan) -> anyhow::Result<()> {
    let home = std::fs::canonicalize(&plan.sandbox.vars.home)
        .unwrap_or_else(|_| plan.sandbox.vars.home.clone());
    let Some(g) = plan
        .sandbox
        .caps
        .grants()
        .iter()
        .find(|g| g.kind == FsKind::Dir && home.starts_with(&g.path))
    else {
        return Ok(());
    };
    Err(Failure::nono(format!(
        "wrap: the grant {} ({}) covers your home directory {}, and without a supervisor the command can chmod/utime/setxattr deny-group files there (~/.ssh/id_rsa) and connect to the ssh-agent, D-Bus and X11 sockets; use nono run instead, or add --accept-wrap-gaps to start anyway",
        g.path.display(),
        g.origin,
        home.display()
    ))
    .into())
}

/// Domain rules need the proxy, which lives in the supervisor: a usage error (status 2) that
/// names `nono run`.
fn refuse_egress(args: &WrapArgs) -> anyhow::Result<()> {
    let given = args.sandbox.egress.given();
    if given.is_empty() {
        return Ok(());
    }
    Err(Failure::with_code(
        2,
        format!(
            "{}: wrap cannot host the egress proxy (it execs the command and leaves no supervisor); use nono run {} ... instead",
            given.join(", "),
            given[0]
        ),
    )
    .into())
}

/// Landlock's TCP rules name a port on *any* host; only `run`'s supervisor can hold a port
/// exception to loopback (`nono_supervisor::egress`). So wrap refuses connect ports (from
/// `--allow-connect-port` or the profile's `network.connect`) unless the user accepts that
/// the port is open to every host, and the profile's domain rules always.
fn refuse_connect_ports(plan: &RunPlan, accept: bool, ui: &Ui) -> anyhow::Result<()> {
    if plan.sandbox.profile.network.has_egress_rules() {
        return Err(Failure::with_code(
            2,
            format!(
                "--profile {}: its network.allow_domain/deny_domain/network_profile need the egress proxy, which wrap cannot host; use nono run instead",
                plan.sandbox.profile_arg
            ),
        )
        .into());
    }
    let NetworkMode::Ports { connect, .. } = plan.sandbox.caps.network() else {
        return Ok(());
    };
    if connect.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = connect.iter().map(u16::to_string).collect();
    if accept {
        ui.note(&format!(
            "wrap: TCP connect to port {} is allowed to ANY host (without a supervisor nothing checks the address; nono run allows loopback only)",
            list.join(",")
        ));
        return Ok(());
    }
    Err(Failure::nono(format!(
        "wrap: --allow-connect-port {} (or the profile's network.connect) would allow TCP connect to that port on ANY host: without a supervisor nothing checks the address. Use nono run, where a port exception reaches loopback only, or add --accept-wrap-gaps to allow it to every host",
        list.join(",")
    ))
    .into())
}

/// With port rules internet stream sockets exist, and `listen()` on one never bound binds it
/// to a random port on every address: only `run`'s supervisor refuses that
/// (`nono_supervisor::gaps::LISTEN_AUTOBIND`), so wrap says so.
fn note_listen_gap(plan: &RunPlan, ui: &Ui) {
    if matches!(plan.sandbox.caps.network(), NetworkMode::Ports { .. }) {
        ui.note(
            "wrap: listen() on a TCP socket the command never bound listens on a random port on every address (without a supervisor nothing refuses it; nono run does)",
        );
    }
}

/// `nono wrap`. Returns only on failure (the command replaces nono).
pub fn wrap(args: WrapArgs, ui: &Ui) -> anyhow::Result<i32> {
    refuse_egress(&args)?;
    if args.env.private_tmp {
        // wrap execs: no process of nono's is left to remove the directory at exit, and a
        // leftover per run would pile up in /tmp.
        return Err(Failure::nono(
            "--private-tmp is not available with wrap: wrap execs the command and leaves no process to remove the directory at exit (use nono run --private-tmp, or nono shell --private-tmp)",
        )
        .into());
    }
    let ahead = if args.dry_run {
        PrepareAhead::Nothing
    } else {
        PrepareAhead::Wrap
    };
    let missing = MissingPaths::unless_dry_run(args.dry_run);
    let sandbox =
        SandboxPlan::from_flags_ahead(&args.sandbox, TmpPlan::HostOrRefuse, ahead, missing)?;
    let env = EnvPlan::from_flags(&sandbox.profile, &args.env, sandbox.own_tmpdir())?;
    let mut plan = RunPlan {
        mode: "wrap",
        sandbox,
        elevation: ElevationPlan::default(),
        command: args.command,
        env,
        limits: nono_supervisor::limits::Limits::default(),
    };
    refuse_connect_ports(&plan, args.accept_wrap_gaps, ui)?;
    note_listen_gap(&plan, ui);
    if args.dry_run {
        return dry_run(&plan, false, args.json);
    }
    if !args.accept_wrap_gaps {
        refuse_home_wide_grant(&plan)?;
    }
    plan.sandbox.print_notes(ui, false);
    if let Some(note) = plan.sandbox.record_write_grants(&[]) {
        ui.note(&note);
    }
    if ui.verbose() > 0 {
        announce(&plan, ui, false)?;
    }
    if let Some(note) = plan.env.credentials_note() {
        ui.note(&note);
    }
    let env = nono_supervisor::env::sanitize(plan.env.child.vars.clone());
    let (program, rest) = plan
        .command
        .split_first()
        .ok_or_else(|| Failure::with_code(2, "no command given (nono wrap -- CMD [ARGS])"))?;
    let mut cmd = Command::new(program);
    cmd.args(rest)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(&plan.sandbox.workdir);
    let (status, reused) = Sandbox::apply_reusing(&plan.sandbox.caps, plan.sandbox.ahead.take())
        .map_err(|e| Failure::nono(e.to_string()))?;
    tracing::debug!(reused, "sandbox prepared");
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
    let path_var = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_os_str());
    // `cmd.exec()` is glibc's `execvp`: one failing `execve` per `PATH` entry before the
    // command's. Where `execvp` certainly gets to a file (see `execvp_target`), exec that file
    // directly (same argv, `argv[0]` as given, same environment and directory); if that fails,
    // `execvp` below runs as before and its outcome (and error) is the one reported. The
    // directory is absolute (canonical), so `current_dir` means the same on the second try.
    if plan.sandbox.workdir.is_absolute() {
        if let Some(exe) = nono_supervisor::command_path::execvp_target(program.as_ref(), path_var)
        {
            let mut direct = Command::new(exe);
            direct
                .arg0(program)
                .args(rest)
                .env_clear()
                .envs(env.iter().map(|(k, v)| (k, v)))
                .current_dir(&plan.sandbox.workdir);
            let _ = direct.exec();
        }
    }
    let err = cmd.exec();
    let mut failure = Failure::exec(program, &err);
    if err.kind() == std::io::ErrorKind::PermissionDenied {
        if let Some(advice) = nono_supervisor::command_path::resolve_in(
            program.as_ref(),
            path_var,
            &plan.sandbox.workdir,
        )
        .and_then(|exe| crate::exec_advice::advice(&plan.sandbox.caps, &exe))
        {
            failure = Failure::with_code(failure.code, format!("{failure}\n  {advice}"));
        }
    }
    Err(failure.into())
}

//! `nono setup`: what this machine supports (kernel, Landlock ABI and features, seccomp,
//! no_new_privs, IA32 emulation) and what nono will enforce; status 1 if nothing can be.

use nono_sandbox::support::{support, Support, Tristate};

use nono_sandbox::{Compat, EnforcementStatus, PreparedSandbox, SandboxOptions};

use crate::exit;
use crate::flags::{SandboxFlags, SetupArgs};
use crate::plan::SandboxPlan;
use crate::ui::{out, outln};

/// Whether anything at all can be enforced here (Landlock filesystem rules or a seccomp filter).
fn anything_enforceable(s: &Support) -> bool {
    s.landlock.fs || s.seccomp.filter == Tristate::Yes
}

/// What `nono run` under the default profile would enforce here: the prepared (never
/// applied) sandbox's status in strict mode, or — when strict mode would refuse to start —
/// the error and the best-effort status.
fn default_enforcement() -> (Option<EnforcementStatus>, Option<String>) {
    let flags = SandboxFlags {
        profile: "default".to_owned(),
        ..SandboxFlags::default()
    };
    let plan = match SandboxPlan::from_flags(&flags) {
        Ok(p) => p,
        Err(e) => {
            return (
                None,
                Some(format!("the default profile does not load here: {e}")),
            )
        }
    };
    let opts = SandboxOptions::new()
        .with_notify(nono_supervisor::trapped_syscalls(&plan.caps))
        .with_refused_sockets_trapped();
    match PreparedSandbox::prepare(&plan.caps, &opts) {
        Ok(p) => (Some(p.status().clone()), None),
        Err(strict) => {
            let mut caps = plan.caps.clone();
            caps.set_compat(Compat::BestEffort);
            let best = PreparedSandbox::prepare(&caps, &opts)
                .ok()
                .map(|p| p.status().clone());
            (
                best,
                Some(format!(
                    "strict mode (the default) refuses to start: {strict}"
                )),
            )
        }
    }
}

/// Print the report to stdout (it is the product of this command).
pub fn setup(args: &SetupArgs) -> anyhow::Result<i32> {
    let s = support();
    let ok = anything_enforceable(&s);
    let missing: Vec<&str> = s
        .protections
        .iter()
        .filter(|p| !p.available)
        .map(|p| p.protection)
        .collect();
    let (status, problem) = default_enforcement();
    let limits = nono_supervisor::limits::support();
    if args.json {
        let out = serde_json::json!({
            "support": &s,
            "enforceable": ok,
            "strict_mode_fails_for": &missing,
            "default_profile": { "enforcement": &status, "problem": &problem },
            "limits": nono_supervisor::limits::Limit::ALL.iter().map(|l| {
                let why = limits.unavailable.iter()
                    .find(|u| u.limit == Some(*l) || u.limit.is_none())
                    .map(|u| u.reason.clone());
                serde_json::json!({
                    "flag": l.flag(),
                    "controller": l.controller(),
                    "enforceable": limits.can(*l),
                    "cgroup_parent": limits.parent.as_ref().map(|p| p.display().to_string()),
                    "reason": if limits.can(*l) { None } else { why },
                })
            }).collect::<Vec<_>>(),
        });
        outln!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        out!("{s}");
        outln!();
        if !ok {
            outln!(
                "nono cannot enforce anything on this machine: Landlock is missing or disabled and \
                 seccomp filters are unavailable (enable Landlock: CONFIG_SECURITY_LANDLOCK=y and \
                 `lsm=...,landlock` on the kernel command line)"
            );
        } else if missing.is_empty() {
            outln!(
                "nono will enforce every protection it offers on this machine (strict mode works)."
            );
        } else {
            outln!(
                "nono will enforce the protections marked available. In strict mode (the default), a \
                 run that needs one of these fails; pass --best-effort to run with the gap reported:"
            );
            for m in &missing {
                outln!("  - {m}");
            }
        }
        outln!();
        outln!("`nono run` with the default profile (and no flags) would enforce:");
        if let Some(p) = &problem {
            outln!("  {p}");
        }
        match &status {
            Some(st) => {
                for line in st.to_string().lines() {
                    outln!("  {line}");
                }
            }
            None => outln!("  nothing"),
        }
        outln!();
        outln!("Resource limits (`nono run`/`nono shell`, one cgroup v2 per run):");
        for line in limits.to_string().lines() {
            outln!("  {line}");
        }
        // What Landlock ABI 7 leaves open, with `nono run` (supervised) and `nono wrap`, for
        // the default profile without flags (Unix datagram sockets refused; the text says what
        // --allow-unix-datagram would reopen).
        for supervised in [true, false] {
            outln!();
            out!("{}", nono_supervisor::gaps::describe(supervised, false));
        }
    }
    Ok(if ok { 0 } else { exit::NEGATIVE })
}

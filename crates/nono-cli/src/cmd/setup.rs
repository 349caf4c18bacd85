//! `nono setup`: what this machine supports (kernel, Landlock ABI and features, seccomp,
//! no_new_privs, IA32 emulation) and what nono will enforce; status 1 if nothing can be.

use nono_sandbox::support::{support, Support, Tristate};

use crate::exit;
use crate::flags::SetupArgs;
use crate::ui::{out, outln};

/// Whether anything at all can be enforced here (Landlock filesystem rules or a seccomp filter).
fn anything_enforceable(s: &Support) -> bool {
    s.landlock.fs || s.seccomp.filter == Tristate::Yes
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
    if args.json {
        let out = serde_json::json!({
            "support": &s,
            "enforceable": ok,
            "strict_mode_fails_for": &missing,
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
    }
    Ok(if ok { 0 } else { exit::NEGATIVE })
}

//! `nono why`: the capability model's verdict (`explain`) for a path or a TCP connection
//! under the same flags and profile as `run`, with the rule that decided it. Status 0 when
//! allowed, 1 when denied (or only partially allowed).

use nono_sandbox::{explain, explain_net, AccessMode, Verdict};

use crate::exit::{Failure, NEGATIVE};
use crate::flags::{Op, WhyArgs};
use crate::plan::SandboxPlan;
use crate::ui::outln;

/// `nono why`; prints to stdout (the verdict is this command's product).
pub fn why(args: WhyArgs) -> anyhow::Result<i32> {
    let plan = SandboxPlan::from_flags(&args.sandbox)?;
    let (verdict, text, json) = if let (Some(path), Some(op)) = (&args.path, args.op) {
        let access = match op {
            Op::Read => AccessMode::Read,
            Op::Write => AccessMode::Write,
            Op::Readwrite => AccessMode::ReadWrite,
        };
        let path = if path.is_absolute() {
            path.clone()
        } else {
            std::env::current_dir()?.join(path)
        };
        let e = explain(&plan.caps, &path, access).map_err(|err| {
            Failure::nono(nono_supervisor::escape::text(&format!(
                "--path {}: {err}",
                path.display()
            )))
        })?;
        let rule = plan.deny.deny_for(&path, access);
        let group = rule.map(|m| m.group.to_owned());
        let mut json = serde_json::to_value(&e)?;
        json["deny_group"] = serde_json::json!(group);
        let mut text = e.to_string();
        if let Some(m) = rule.filter(|m| !m.why.is_empty()) {
            json["deny_reason"] = serde_json::json!(m.why);
            text.push_str(&format!("\n  why `{}` protects it: {}", m.group, m.why));
        }
        (e.verdict, text, json)
    } else if let (Some(host), Some(port)) = (&args.host, args.port) {
        let e = explain_net(&plan.caps, host, port);
        (e.verdict, e.to_string(), serde_json::to_value(&e)?)
    } else {
        return Err(Failure::with_code(2, "give --path P --op OP, or --host H --port N").into());
    };
    // The path may be one a sandboxed command chose (from a report or a log): escaped.
    if args.json {
        outln!(
            "{}",
            nono_supervisor::escape::json(&serde_json::to_string_pretty(&json)?)
        );
    } else {
        outln!("{}", nono_supervisor::escape::text(&text));
    }
    Ok(if verdict == Verdict::Allowed {
        0
    } else {
        NEGATIVE
    })
}

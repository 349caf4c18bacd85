//! `nono why`: the capability model's verdict (`explain`) for a path or a TCP connection
//! under the same flags and profile as `run`, with the rule that decided it. Status 0 when
//! allowed, 1 when denied (or only partially allowed).

use nono_sandbox::{explain, explain_net, AccessMode, NetworkMode, Verdict};

use crate::exit::{Failure, NEGATIVE};
use crate::flags::{Op, WhyArgs};
use crate::plan::SandboxPlan;
use crate::ui::outln;

/// Between the lines of the text output (split before escaping: see [`why`]).
const LINE: char = '\0';

/// `nono why`; prints to stdout (the verdict is this command's product).
pub fn why(args: WhyArgs) -> anyhow::Result<i32> {
    let plan = SandboxPlan::from_flags(&args.sandbox)?;
    let (verdict, text, json) = if let (Some(path), Some(op)) = (&args.path, args.op) {
        let access = match op {
            Op::Read => AccessMode::Read,
            Op::Write => AccessMode::Write,
            Op::Readwrite => AccessMode::ReadWrite,
        };
        // An abstract Unix socket (`@NAME`) has no path: the socket broker refuses every one.
        if let Some(name) = path.to_str().and_then(|p| p.strip_prefix('@')) {
            return print_verdict(
                Verdict::Denied,
                format!(
                    "connect to the abstract Unix socket @{name}: denied under run — the supervisor refuses every abstract socket (EPERM): it cannot tell whose one it is, so no flag grants it (a pathname socket can be granted with --allow-file){LINE}under wrap: Landlock's scope (ABI 6) refuses abstract sockets outside the sandbox"
                ),
                serde_json::json!({
                    "path": path,
                    "requested": access,
                    "verdict": Verdict::Denied,
                    "rule": {"rule": "abstract_socket"},
                }),
                args.json,
            );
        }
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
            text.push_str(&format!("{LINE}why `{}` protects it: {}", m.group, m.why));
        }
        // A spine refused for writing: what lifts it, as the run's report says — with the
        // grant the write needs when the spine's own grant does not give it (red team 18:
        // under `--read DIR` the lift alone was printed), and for the spine itself by its
        // canonical path (spelt through a link, nothing was printed).
        let spine = match &e.rule {
            nono_sandbox::Rule::CarveOutSpine { grant, .. } if access.writes() => {
                Some((e.path.as_path(), grant))
            }
            nono_sandbox::Rule::NewEntryInSpine { dir, grant, .. } => Some((dir.as_path(), grant)),
            _ => None,
        };
        if let Some((dir, grant)) = spine {
            let lift = crate::report::spine_lift(&plan.caps, dir);
            let needs = (!grant.access.contains(access)).then(|| {
                format!(
                    "{} {}",
                    crate::report::dir_flag(access),
                    nono_supervisor::escape::shell_path(dir)
                )
            });
            let paths = match &lift {
                crate::report::Lift::Bypass(paths) => {
                    if let Some(g) = &needs {
                        json["lift_grant"] = serde_json::json!(g);
                    }
                    Some(("lift", paths))
                }
                crate::report::Lift::Exposes(paths) => Some(("lift_exposes", paths)),
                crate::report::Lift::NoFlag => None,
            };
            if let Some((key, paths)) = paths {
                json[key] = serde_json::json!(paths
                    .iter()
                    .map(|p| serde_json::json!({
                        "path": p.path,
                        "group": p.group,
                        "grant": if p.dir { "--read" } else { "--read-file" },
                    }))
                    .collect::<Vec<_>>());
                text.push_str(&format!(
                    "{LINE}{}",
                    crate::report::lift_clause_with(&lift, needs.as_deref())
                        .trim_start_matches("; ")
                ));
            }
        }
        // Under `run` the supervisor serves /proc itself and no path grant reaches it: its
        // answer is the verdict (the model's, which `wrap` follows, is shown beside it).
        let proc = nono_supervisor::explain_proc(&lexical(&path), access)
            .filter(|_| rule.is_none() || !access.writes());
        match proc {
            Some(p) => {
                let verdict = if p.allowed {
                    Verdict::Allowed
                } else {
                    Verdict::Denied
                };
                let word = if p.allowed { "allowed" } else { "denied" };
                let text = format!(
                    "{} {}: {word} under run — {}; the supervisor serves /proc, so no flag changes this{LINE}under wrap (Landlock alone): {text}",
                    access.as_str(),
                    path.display(),
                    p.reason
                );
                let mut json = serde_json::json!({
                    "path": path,
                    "requested": access,
                    "verdict": verdict,
                    "rule": {"rule": "procfs", "reason": p.reason},
                });
                json["wrap"] = serde_json::to_value(&e)?;
                (verdict, text, json)
            }
            None if access == AccessMode::Read
                && matches!(e.rule, nono_sandbox::Rule::CarveOutSpine { .. }) =>
            {
                // `run` opens a spine directory for the command (names only; see the
                // supervisor's `list_spine`); `wrap` has no supervisor to do it.
                let text = format!(
                    "read {}: allowed under run — a directory on the way to a carve-out: the supervisor opens it read-only so its entries can be listed; nothing in it can be created, removed or renamed{LINE}under wrap (Landlock alone): {text}",
                    path.display()
                );
                json["under_run"] =
                    serde_json::json!({"verdict": "allowed", "rule": "spine_listing"});
                json["wrap"] = serde_json::to_value(&e)?;
                json["verdict"] = serde_json::json!(Verdict::Allowed);
                (Verdict::Allowed, text, json)
            }
            None if rule.is_none() => {
                under_run(&plan, &args.approve, &path, access, e, text, json)?
            }
            None => (e.verdict, text, json),
        }
    } else if let Some(host) = &args.host {
        let port = args.port.unwrap_or(443);
        if plan.egress.enabled() {
            return egress_why(&plan, host, port, args.json);
        }
        let e = explain_net(&plan.caps, host, port);
        let mut json = serde_json::to_value(&e)?;
        let mut text = e.to_string();
        let mut verdict = e.verdict;
        // Under run a port exception reaches loopback only (the supervisor checks the address).
        if let (NetworkMode::Ports { .. }, Verdict::Allowed) = (plan.caps.network(), verdict) {
            let ip = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .ok();
            let loopback = match ip {
                Some(ip) => nono_supervisor::egress::is_loopback(ip),
                None => host.eq_ignore_ascii_case("localhost"),
            };
            if !loopback {
                verdict = Verdict::Denied;
                text = format!(
                    "denied: TCP connect to {host}:{port}: --allow-connect-port {port} reaches loopback addresses only under nono run (the supervisor checks the address; wrap refuses the exception); to reach {host}, use --allow-domain {}",
                    if port == 443 || port == 80 { host.clone() } else { format!("{host}:{port}") }
                );
                json["verdict"] = serde_json::json!("denied");
                json["loopback_only"] = serde_json::json!(true);
            }
        }
        (verdict, text, json)
    } else {
        return Err(Failure::with_code(2, "give --path P --op OP, or --host H --port N").into());
    };
    print_verdict(verdict, text, json, args.json)
}

/// What the supervisor changes in the model's verdict `e` for a path outside `/proc` that no
/// deny group protects: a pathname socket is connected only when it is granted by itself
/// (`nono_supervisor::explain_socket`), and an approve rule (`--approve`, a profile's
/// `supervisor.approve`) grants what the static grants lack. The JSON's `verdict` is what
/// `run` does; the model's own, which `wrap` follows, is under `wrap`.
fn under_run(
    plan: &SandboxPlan,
    approve: &[std::path::PathBuf],
    path: &std::path::Path,
    access: AccessMode,
    e: nono_sandbox::Explanation,
    text: String,
    mut json: serde_json::Value,
) -> anyhow::Result<(Verdict, String, serde_json::Value)> {
    let overlay = |json: &mut serde_json::Value, verdict: Verdict, rule: serde_json::Value| {
        let model = json.clone();
        json["wrap"] = model;
        json["verdict"] = serde_json::json!(verdict);
        json["rule"] = rule;
    };
    if e.verdict == Verdict::Allowed && access.writes() {
        if let Some(sv) = nono_supervisor::explain_socket(&plan.caps, path) {
            if !sv.allowed {
                let text = format!(
                    "connect to the Unix socket {}: denied under run — {}{LINE}under wrap (Landlock alone): {text}",
                    path.display(),
                    sv.reason
                );
                overlay(
                    &mut json,
                    Verdict::Denied,
                    serde_json::json!({"rule": "unix_socket", "reason": sv.reason}),
                );
                return Ok((Verdict::Denied, text, json));
            }
        }
        return Ok((e.verdict, text, json));
    }
    if e.verdict == Verdict::Allowed {
        return Ok((e.verdict, text, json));
    }
    // The rules `run` gives its policy engine: the profile's, then `--approve PATH`.
    let mut rules = plan
        .profile
        .policy_with(&plan.vars, plan.deny.clone())
        .map_err(|err| Failure::nono(format!("--profile {}: {err}", plan.profile_arg)))?
        .approve;
    rules.extend(approve.iter().map(|p| {
        let p = canonical_lenient(p);
        nono_supervisor::policy::ApproveRule::path(
            &p,
            AccessMode::ReadWrite,
            format!("--approve {}", p.display()),
        )
    }));
    let canonical = canonical_lenient(path);
    let Some(r) = rules.iter().find(|r| r.grants(&canonical, access)) else {
        return Ok((e.verdict, text, json));
    };
    let text = format!(
        "{} {}: allowed under run — approved at runtime by {} (the supervisor opens it for the command, and performs mkdir/rm/mv/ln there; executing a program there needs --read){LINE}under wrap (Landlock alone): {text}",
        access.as_str(),
        path.display(),
        r.origin()
    );
    overlay(
        &mut json,
        Verdict::Allowed,
        serde_json::json!({"rule": "approve", "origin": r.origin(), "pattern": r.pattern()}),
    );
    Ok((Verdict::Allowed, text, json))
}

/// `path` canonicalised; for a path that does not exist (yet), its nearest existing ancestor
/// canonicalised and the rest appended (what the supervisor decides a creation on).
fn canonical_lenient(path: &std::path::Path) -> std::path::PathBuf {
    let mut rest = Vec::new();
    let mut p = path;
    loop {
        if let Ok(c) = std::fs::canonicalize(p) {
            return rest
                .iter()
                .rev()
                .fold(c, |acc: std::path::PathBuf, n| acc.join(n));
        }
        match (p.parent(), p.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                p = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}

/// Print the verdict (text or JSON) and return the exit status: 0 allowed, 1 otherwise.
fn print_verdict(
    verdict: Verdict,
    text: String,
    json: serde_json::Value,
    as_json: bool,
) -> anyhow::Result<i32> {
    // The path may be one a sandboxed command chose (from a report or a log): escaped.
    if as_json {
        outln!(
            "{}",
            nono_supervisor::escape::json(&serde_json::to_string_pretty(&json)?)
        );
    } else {
        // Escaped part by part: the separator is ours, never the command's (no path holds NUL).
        let parts: Vec<String> = text
            .split(LINE)
            .map(|p| nono_supervisor::escape::text(p).to_string())
            .collect();
        outln!("{}", parts.join("\n  "));
    }
    Ok(if verdict == Verdict::Allowed {
        0
    } else {
        NEGATIVE
    })
}

/// `why --host` under domain rules: the proxy's own decision (before resolution: a name that
/// resolves to a private, loopback or link-local address also needs an IP/CIDR rule).
fn egress_why(plan: &SandboxPlan, host: &str, port: u16, json: bool) -> anyhow::Result<i32> {
    use nono_proxy::{Access, Host, Verdict as ProxyVerdict};
    let rules = plan.egress.rules()?;
    let h = Host::parse(host).map_err(|e| {
        Failure::with_code(
            2,
            format!("--host {}: {e}", nono_supervisor::escape::text(host)),
        )
    })?;
    let verdict = match h.ip() {
        Some(ip) => rules.decide(&h, port, ip, Access::Tunnel),
        None => rules.decide_name(&h, port, Access::Tunnel),
    };
    let origin_of = |rule: &str| {
        plan.egress
            .allow
            .iter()
            .chain(&plan.egress.deny)
            .find(|r| r.rule == rule)
            .map_or_else(String::new, |r| r.origin.clone())
    };
    let (allowed, text, value) = match &verdict {
        ProxyVerdict::Allow { rule } => (
            true,
            format!(
                "allowed: {h}:{port} through nono's egress proxy, by --allow-domain {rule} ({}){}",
                origin_of(rule),
                if h.ip().is_none() {
                    "; if the name resolves to a private, loopback or link-local address, an IP/CIDR rule must cover that address too"
                } else {
                    ""
                }
            ),
            serde_json::json!({"verdict": "allowed", "via": "egress proxy", "host": h.to_string(), "port": port, "rule": rule, "origin": origin_of(rule)}),
        ),
        ProxyVerdict::Deny { reason, rule_hint } => (
            false,
            format!(
                "denied: {h}:{port} by nono's egress proxy: {reason}{}",
                rule_hint
                    .as_ref()
                    .map_or_else(String::new, |r| format!(" → add --allow-domain {r}"))
            ),
            serde_json::json!({"verdict": "denied", "via": "egress proxy", "host": h.to_string(), "port": port, "reason": reason.to_string(), "hint": rule_hint}),
        ),
    };
    if json {
        outln!(
            "{}",
            nono_supervisor::escape::json(&serde_json::to_string_pretty(&value)?)
        );
    } else {
        outln!("{}", nono_supervisor::escape::text(&text));
    }
    Ok(if allowed { 0 } else { NEGATIVE })
}

/// `path` without `.`, `..` and repeated separators (lexically, as the supervisor sees a
/// trapped open's path before it resolves anything).
fn lexical(path: &std::path::Path) -> std::path::PathBuf {
    let mut out = std::path::PathBuf::from("/");
    for c in path.components() {
        match c {
            std::path::Component::Normal(n) => out.push(n),
            std::path::Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

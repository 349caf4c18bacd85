//! `nono proxy`: the egress proxy alone, in the foreground — the same rules, matcher and
//! credential routes as under `nono run`, for containers or VMs beside it. Nothing is
//! sandboxed here: what uses the proxy is up to the caller's own confinement.

use crate::egress::EgressPlan;
use crate::exit::Failure;
use crate::flags::ProxyArgs;
use crate::ui::{outln, Ui};

/// `nono proxy`: start, print the proxy URL (with its token) on stdout, serve until killed.
pub fn proxy(args: ProxyArgs, ui: &Ui) -> anyhow::Result<i32> {
    let profile = match &args.profile {
        Some(p) => {
            let profile = nono_supervisor::profile::load(p)
                .map_err(|e| Failure::nono(format!("--profile {p}: {e}")))?;
            // Its credential routes and domains are used as `run` would: only as trusted.
            trusted_profile(&profile, p)?;
            profile
        }
        None => nono_supervisor::profile::Profile::default(),
    };
    let arg = args.profile.clone().unwrap_or_else(|| "none".to_owned());
    let plan = EgressPlan::from_flags(&args.egress, &profile, &arg)?;
    if !plan.enabled() || plan.allow.is_empty() && plan.credentials.is_empty() {
        return Err(Failure::with_code(
            2,
            "nono proxy needs something to allow: --allow-domain HOST, --network-profile NAME or --credential SERVICE (or a --profile with network.allow_domain)",
        )
        .into());
    }
    let listen = match (args.listen, args.egress.proxy_port) {
        (Some(_), Some(_)) => {
            return Err(Failure::with_code(
                2,
                "give --listen ADDR:PORT or --proxy-port PORT, not both",
            )
            .into())
        }
        (Some(a), None) => a,
        (None, p) => std::net::SocketAddr::from(([127, 0, 0, 1], p.unwrap_or(0))),
    };
    let running = plan.start_on(listen)?;
    if !listen.ip().is_loopback() {
        ui.note(&format!(
            "the proxy listens on {listen}, beyond this machine's loopback: anyone who can reach it and has the token can use its rules (and credentials)"
        ));
    }
    for (k, v) in &running.env {
        outln!("{}={}", k.to_string_lossy(), v.to_string_lossy());
    }
    ui.note(&format!(
        "egress proxy listening on {} ({} allow, {} deny rules); Ctrl-C stops it",
        running.addr,
        plan.allow.len(),
        plan.deny.len()
    ));
    loop {
        std::thread::park();
    }
}

/// Refuse a profile file a sandboxed run could have rewritten (see `plan::check_profile_files`).
fn trusted_profile(profile: &nono_supervisor::profile::Profile, arg: &str) -> anyhow::Result<()> {
    if profile.files.is_empty() {
        return Ok(());
    }
    let vars = nono_supervisor::profile::Vars::from_env().ok_or_else(|| {
        Failure::nono("cannot tell where nono keeps its state: set HOME (or XDG_STATE_HOME)")
    })?;
    let (_, history) = crate::plan::load_write_history(&vars)?;
    crate::plan::check_profile_files(
        profile,
        &history,
        &vars,
        nono_supervisor::planted::user_id(),
        arg,
    )
}

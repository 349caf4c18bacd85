//! The egress part of a plan: domain rules, network profiles, credential services and the
//! proxy's port, from the flags and the profile's `network.*` keys ([`EgressPlan`]); and, for
//! `run`, starting the proxy ([`EgressPlan::start`]) and what the command gets from it (the
//! `*_PROXY` variables with the per-run token, the credential variables).
//!
//! The rules' meaning is `nono_proxy`'s ([`nono_proxy::HostRule::parse`]); this module only
//! collects them with an origin naming the flag or profile, and wires the proxy into a run.

use std::collections::HashMap;
use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr};

use nono_proxy::{
    CredentialRoute, EndpointRule, HostRule, ProxyConfig, ProxyToken, Resolver, Rules, Secret,
    UpstreamRoots,
};
use nono_supervisor::profile::{CredentialSource, Profile};
use serde::Serialize;

use crate::exit::Failure;
use crate::flags::EgressFlags;

/// Hidden: `NAME=ADDR[,ADDR...][;NAME=ADDR...]` makes the proxy resolve those names (and no
/// others) to those addresses — for tests, which map names to 127.0.0.0/8. Read by nono itself
/// (the supervisor), never passed to the command.
pub const TEST_RESOLVE_ENV: &str = "NONO_TEST_PROXY_RESOLVE";

/// Hidden: `PATH` of a PEM file whose certificates become the *only* CAs a credential route's
/// `https://` upstream may chain to (instead of the system's) — for tests, which serve a
/// loopback TLS upstream with a certificate of their own test CA. Like [`TEST_RESOLVE_ENV`]
/// it is read by nono itself (the supervisor) once, when the plan is made, before the command
/// starts; never passed to the command; shown in `--dry-run`.
pub const TEST_CA_ENV: &str = "NONO_TEST_PROXY_CA";

/// The variables the command gets to reach the proxy (with the token in the URL).
pub const PROXY_VARS: [&str; 6] = [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
];

/// Every name `--network-profile` takes: the profiles, then the groups.
#[must_use]
pub fn network_profile_names() -> Vec<&'static str> {
    nono_proxy::NETWORK_PROFILES
        .iter()
        .map(|p| p.name)
        .chain(nono_proxy::NETWORK_GROUPS.iter().map(|g| g.name))
        .collect()
}

/// One rule with where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleView {
    /// As written (`pypi.org`, `*.example.com:8443`).
    pub rule: String,
    /// `--allow-domain`, `profile NAME`, `network profile developer`.
    pub origin: String,
}

/// A credential service the proxy serves for this run.
#[derive(Debug, Clone, Serialize)]
pub struct CredentialView {
    /// `--credential` name.
    pub name: String,
    /// Where requests are forwarded.
    pub upstream: String,
    /// The variable with the proxy's URL for it.
    pub base_url_env: String,
    /// The variable with the phantom key.
    pub key_env: String,
    /// Where the secret is read (the variable or file name; never the value).
    pub source: String,
    /// `--allow-endpoint` rules for it (empty: every call).
    pub endpoints: Vec<String>,
    /// The service definition (not serialised).
    #[serde(skip)]
    def: ServiceDef,
}

#[derive(Debug, Clone)]
struct ServiceDef {
    header: String,
    format: String,
    source: CredentialSource,
}

/// Egress by domain: empty (no proxy) unless a flag or the profile asks for it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EgressPlan {
    /// Allow rules (flags, the profile, network profiles).
    pub allow: Vec<RuleView>,
    /// Deny rules.
    pub deny: Vec<RuleView>,
    /// Network profiles used.
    pub network_profiles: Vec<String>,
    /// `--proxy-port` (None: ephemeral).
    pub proxy_port: Option<u16>,
    /// Credential services.
    pub credentials: Vec<CredentialView>,
    /// Names the proxy resolves statically (tests; see [`TEST_RESOLVE_ENV`]).
    #[serde(skip)]
    pub test_resolve: Option<HashMap<String, Vec<IpAddr>>>,
    /// The file named by [`TEST_CA_ENV`] and its PEM text (tests).
    #[serde(skip)]
    pub test_ca: Option<(String, Vec<u8>)>,
}

fn bad(flag: &str, value: &str, e: impl std::fmt::Display) -> anyhow::Error {
    Failure::nono(format!("{flag} {value}: {e}")).into()
}

impl EgressPlan {
    /// Collect the rules of the profile and the flags, checking each.
    pub fn from_flags(
        flags: &EgressFlags,
        profile: &Profile,
        profile_arg: &str,
    ) -> anyhow::Result<EgressPlan> {
        let net = &profile.network;
        let mut plan = EgressPlan {
            proxy_port: flags.proxy_port,
            ..EgressPlan::default()
        };
        let from_profile = format!("profile {profile_arg}");
        let push = |list: &mut Vec<RuleView>,
                    flag: &str,
                    rule: &str,
                    origin: &str|
         -> anyhow::Result<()> {
            HostRule::parse(rule).map_err(|e| bad(flag, rule, e))?;
            if !list.iter().any(|r| r.rule == rule) {
                list.push(RuleView {
                    rule: rule.to_owned(),
                    origin: origin.to_owned(),
                });
            }
            Ok(())
        };
        for r in &net.allow_domain {
            push(&mut plan.allow, "network.allow_domain", r, &from_profile)?;
        }
        for r in &flags.allow_domain {
            push(&mut plan.allow, "--allow-domain", r, "--allow-domain")?;
        }
        for r in &net.deny_domain {
            push(&mut plan.deny, "network.deny_domain", r, &from_profile)?;
        }
        for r in &flags.deny_domain {
            push(&mut plan.deny, "--deny-domain", r, "--deny-domain")?;
        }
        let profiles = net
            .network_profile
            .iter()
            .map(|n| ("network.network_profile", n))
            .chain(
                flags
                    .network_profile
                    .iter()
                    .map(|n| ("--network-profile", n)),
            );
        for (flag, name) in profiles {
            let hosts = nono_proxy::profile_hosts(name).ok_or_else(|| {
                bad(
                    flag,
                    name,
                    format!(
                        "no such network profile (known: {}; see nono profile list)",
                        network_profile_names().join(", ")
                    ),
                )
            })?;
            if !plan.network_profiles.contains(name) {
                plan.network_profiles.push(name.clone());
            }
            let origin = format!("network profile {name}");
            for h in hosts {
                push(&mut plan.allow, flag, h, &origin)?;
            }
        }
        for name in &flags.credential {
            plan.credentials.push(credential(name, profile, flags)?);
        }
        for e in &flags.allow_endpoint {
            let service = e.split(':').next().unwrap_or("");
            if !flags.credential.iter().any(|c| c == service) {
                return Err(bad(
                    "--allow-endpoint",
                    e,
                    format!("names service `{service}`, which no --credential gives (add --credential {service}, or write SERVICE:METHOD:/path)"),
                ));
            }
        }
        if let Some(port) = flags.proxy_port {
            if port == 0 {
                return Err(bad(
                    "--proxy-port",
                    "0",
                    "not a port (use 1-65535, or leave it out for an ephemeral port)",
                ));
            }
        }
        plan.test_resolve = test_resolve()?;
        plan.test_ca = test_ca()?;
        Ok(plan)
    }

    /// Whether the command is confined to the proxy.
    #[must_use]
    pub fn enabled(&self) -> bool {
        !self.allow.is_empty()
            || !self.deny.is_empty()
            || !self.network_profiles.is_empty()
            || !self.credentials.is_empty()
            || self.proxy_port.is_some()
    }

    /// The proxy's rules.
    pub fn rules(&self) -> anyhow::Result<Rules> {
        Rules::parse(
            self.allow.iter().map(|r| r.rule.as_str()),
            self.deny.iter().map(|r| r.rule.as_str()),
        )
        .map_err(|e| Failure::nono(format!("domain rules: {e}")).into())
    }

    /// The proxy's configuration: rules, a fresh token, `listen`, credential routes (secrets
    /// read here, in nono, never given to the command), the resolver.
    pub fn config(
        &self,
        listen: SocketAddr,
        token: Option<ProxyToken>,
    ) -> anyhow::Result<ProxyConfig> {
        let mut config = ProxyConfig::new(self.rules()?);
        config.listen = listen;
        config.token = token;
        if let Some(map) = &self.test_resolve {
            config.resolver = Resolver::Static(map.clone());
        }
        if let Some((_, pem)) = &self.test_ca {
            config.upstream_roots = UpstreamRoots::OnlyPem(pem.clone());
        }
        for c in &self.credentials {
            let secret = read_secret(&c.name, &c.def.source)?;
            let mut route =
                CredentialRoute::new(&c.name, &c.upstream, &c.def.header, &c.def.format, secret)
                    .map_err(|e| Failure::nono(format!("--credential {}: {e}", c.name)))?;
            for e in &c.endpoints {
                route.allow_endpoints.push(
                    EndpointRule::parse(e.split_once(':').map_or("", |(_, rest)| rest))
                        .map_err(|err| bad("--allow-endpoint", &format!("{}:{e}", c.name), err))?,
                );
            }
            config.credentials.push(route);
        }
        Ok(config)
    }
}

/// A running proxy for one `nono run`, and what the command gets from it.
#[derive(Debug)]
pub struct RunningProxy {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The command's variables: `*_PROXY` with the token, `NO_PROXY`, `NODE_USE_ENV_PROXY`,
    /// each credential's base URL and phantom key.
    pub env: Vec<(OsString, OsString)>,
    /// The variables of nono's environment that credential secrets were read from.
    pub secret_vars: Vec<String>,
    /// Set to stop the collector (which then shuts the proxy down).
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Owns the proxy and reads its events as they come (the proxy's queue is bounded: a
    /// reader that waited until the end would lose them).
    collector: std::thread::JoinHandle<Vec<nono_proxy::ProxyEvent>>,
}

/// At most this many events are kept for the report and the audit log (a flood of refused
/// requests costs memory otherwise); refusals are kept first.
const MAX_EVENTS: usize = 100_000;

impl EgressPlan {
    /// Start the proxy on 127.0.0.1 (the `--proxy-port`, else an ephemeral port) with a fresh
    /// token.
    pub fn start(&self) -> anyhow::Result<RunningProxy> {
        self.start_on(SocketAddr::from((
            [127, 0, 0, 1],
            self.proxy_port.unwrap_or(0),
        )))
    }

    /// Start the proxy on `listen` with a fresh token.
    pub fn start_on(&self, listen: SocketAddr) -> anyhow::Result<RunningProxy> {
        let config = self.config(listen, Some(ProxyToken::random()))?;
        let phantoms: Vec<(String, String)> = config
            .credentials
            .iter()
            .map(|r| (r.name.clone(), r.phantom.clone()))
            .collect();
        let handle = nono_proxy::Proxy::start(config).map_err(|e| {
            if let nono_proxy::ProxyError::Roots(why) = &e {
                let file = self.test_ca.as_ref().map_or("", |(f, _)| f.as_str());
                return Failure::nono(format!(
                    "${TEST_CA_ENV} ({file}): {why} (it must name a PEM file of CA certificates, or be unset)"
                ));
            }
            Failure::nono(format!(
                "the egress proxy cannot listen on {listen}: {e}{}",
                if self.proxy_port.is_some() {
                    " (pick another --proxy-port, or leave it out for an ephemeral port)"
                } else {
                    ""
                }
            ))
        })?;
        let addr = handle.addr();
        let url = handle.url();
        let mut env: Vec<(OsString, OsString)> = PROXY_VARS
            .iter()
            .map(|v| (OsString::from(v), OsString::from(&url)))
            .collect();
        for v in ["NO_PROXY", "no_proxy"] {
            env.push((v.into(), "localhost,127.0.0.1,::1".into()));
        }
        env.push(("NODE_USE_ENV_PROXY".into(), "1".into()));
        for c in &self.credentials {
            let phantom = phantoms
                .iter()
                .find(|(n, _)| *n == c.name)
                .map(|(_, p)| p.clone())
                .unwrap_or_default();
            env.push((
                c.base_url_env.clone().into(),
                handle.route_url(&c.name).into(),
            ));
            env.push((c.key_env.clone().into(), phantom.into()));
        }
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop2 = stop.clone();
        let collector = std::thread::Builder::new()
            .name("nono-proxy-events".into())
            .spawn(move || collect(handle, &stop2))
            .map_err(|e| {
                Failure::nono(format!("cannot start the egress proxy's event thread: {e}"))
            })?;
        let secret_vars = self
            .credentials
            .iter()
            .filter_map(|c| match &c.def.source {
                CredentialSource::Env(v) => Some(v.clone()),
                CredentialSource::File(_) => None,
            })
            .collect();
        Ok(RunningProxy {
            addr,
            env,
            secret_vars,
            stop,
            collector,
        })
    }
}

fn keep(events: &mut Vec<nono_proxy::ProxyEvent>, e: nono_proxy::ProxyEvent) {
    if events.len() < MAX_EVENTS || (e.is_denial() && events.len() < 2 * MAX_EVENTS) {
        events.push(e);
    }
}

fn collect(
    handle: nono_proxy::ProxyHandle,
    stop: &std::sync::atomic::AtomicBool,
) -> Vec<nono_proxy::ProxyEvent> {
    use std::sync::atomic::Ordering;
    let mut events = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        match handle
            .events()
            .recv_timeout(std::time::Duration::from_millis(100))
        {
            Ok(e) => keep(&mut events, e),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    while let Ok(e) = handle.events().try_recv() {
        keep(&mut events, e);
    }
    let dropped = handle.dropped_events();
    if dropped > 0 {
        tracing::warn!(
            dropped,
            "the egress proxy dropped audit events (queue full)"
        );
    }
    handle.shutdown();
    events
}

impl RunningProxy {
    /// Stop the proxy (the command has ended) and return every decision it made.
    #[must_use]
    pub fn finish(self) -> Vec<nono_proxy::ProxyEvent> {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.collector.join().unwrap_or_default()
    }
}

/// `--credential NAME`: the profile's `network.credentials.NAME`, else a built-in.
fn credential(
    name: &str,
    profile: &Profile,
    flags: &EgressFlags,
) -> anyhow::Result<CredentialView> {
    let endpoints: Vec<String> = flags
        .allow_endpoint
        .iter()
        .filter(|e| e.split(':').next() == Some(name))
        .cloned()
        .collect();
    for e in &endpoints {
        let rest = e.split_once(':').map_or("", |(_, r)| r);
        EndpointRule::parse(rest).map_err(|err| bad("--allow-endpoint", e, err))?;
    }
    if let Some(def) = profile.network.credentials.get(name) {
        return Ok(CredentialView {
            name: name.to_owned(),
            upstream: def.upstream.clone(),
            base_url_env: def.base_url_env.clone(),
            key_env: def.key_env.clone(),
            source: source_name(&def.source),
            endpoints,
            def: ServiceDef {
                header: def
                    .header
                    .clone()
                    .unwrap_or_else(|| "Authorization".to_owned()),
                format: def.format.clone().unwrap_or_else(|| "Bearer {}".to_owned()),
                source: def.source.clone(),
            },
        });
    }
    let Some(b) = nono_proxy::builtin_credential(name) else {
        let mut known: Vec<&str> = nono_proxy::BUILTIN_CREDENTIALS
            .iter()
            .map(|c| c.name)
            .collect();
        known.extend(profile.network.credentials.keys().map(String::as_str));
        return Err(bad(
            "--credential",
            name,
            format!(
                "no such service (known: {}; define more in a profile's network.credentials)",
                known.join(", ")
            ),
        ));
    };
    Ok(CredentialView {
        name: name.to_owned(),
        upstream: b.upstream.to_owned(),
        base_url_env: b.base_url_env.to_owned(),
        key_env: b.key_env.to_owned(),
        source: format!("${}", b.source_env),
        endpoints,
        def: ServiceDef {
            header: b.header.to_owned(),
            format: b.format.to_owned(),
            source: CredentialSource::Env(b.source_env.to_owned()),
        },
    })
}

fn source_name(s: &CredentialSource) -> String {
    match s {
        CredentialSource::Env(v) => format!("${v}"),
        CredentialSource::File(f) => f.clone(),
    }
}

/// Read a credential's secret in nono (the command never sees it).
fn read_secret(name: &str, source: &CredentialSource) -> anyhow::Result<Secret> {
    let value = match source {
        CredentialSource::Env(var) => std::env::var(var).map_err(|_| {
            Failure::nono(format!(
                "--credential {name}: ${var} is not set in nono's environment (export it before nono run; the command gets a phantom value instead)"
            ))
        })?,
        CredentialSource::File(file) => {
            let path = match file.strip_prefix("~/") {
                Some(rest) => std::env::var_os("HOME")
                    .map(|h| std::path::PathBuf::from(h).join(rest))
                    .ok_or_else(|| Failure::nono(format!("--credential {name}: {file}: $HOME is not set")))?,
                None => std::path::PathBuf::from(file),
            };
            std::fs::read_to_string(&path).map_err(|e| {
                Failure::nono(format!("--credential {name}: cannot read the key file {}: {e}", path.display()))
            })?
        }
    };
    let value = value.trim();
    if value.is_empty() {
        return Err(Failure::nono(format!(
            "--credential {name}: the key ({}) is empty",
            source_name(source)
        ))
        .into());
    }
    Ok(Secret::new(value))
}

/// [`TEST_RESOLVE_ENV`], parsed.
fn test_resolve() -> anyhow::Result<Option<HashMap<String, Vec<IpAddr>>>> {
    let Some(raw) = std::env::var_os(TEST_RESOLVE_ENV) else {
        return Ok(None);
    };
    let raw = raw.to_string_lossy().into_owned();
    let mut map = HashMap::new();
    for entry in raw.split(';').filter(|e| !e.is_empty()) {
        let (name, addrs) = entry.split_once('=').ok_or_else(|| {
            Failure::nono(format!(
                "{TEST_RESOLVE_ENV}: `{entry}` is not NAME=ADDR[,ADDR]"
            ))
        })?;
        let addrs = addrs
            .split(',')
            .map(|a| a.parse::<IpAddr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Failure::nono(format!("{TEST_RESOLVE_ENV}: `{entry}`: {e}")))?;
        map.insert(name.trim_end_matches('.').to_ascii_lowercase(), addrs);
    }
    Ok(Some(map))
}

/// [`TEST_CA_ENV`]: the file's name and its PEM text, read now (once, before the command
/// starts). Whether it holds a certificate is checked when the proxy starts.
fn test_ca() -> anyhow::Result<Option<(String, Vec<u8>)>> {
    let Some(path) = std::env::var_os(TEST_CA_ENV) else {
        return Ok(None);
    };
    let name = path.to_string_lossy().into_owned();
    let pem = std::fs::read(&path).map_err(|e| {
        Failure::nono(format!(
            "${TEST_CA_ENV}: cannot read {name}: {e} (it must name a PEM file of CA certificates, or be unset)"
        ))
    })?;
    Ok(Some((name, pem)))
}

/// The command's environment: the plan's, without [`TEST_RESOLVE_ENV`] and [`TEST_CA_ENV`], with the proxy's
/// variables (replacing any of the same name) when a proxy runs.
#[must_use]
pub fn child_env(
    vars: &[(OsString, OsString)],
    proxy: Option<&RunningProxy>,
) -> Vec<(OsString, OsString)> {
    let ours: Vec<&OsString> = proxy
        .map(|p| p.env.iter().map(|(k, _)| k).collect())
        .unwrap_or_default();
    // A credential's secret is read from nono's environment: the variable it came from never
    // reaches the command (the built-ins' key variable is replaced by the phantom).
    let secrets: Vec<&str> = proxy
        .map(|p| p.secret_vars.iter().map(String::as_str).collect())
        .unwrap_or_default();
    let mut env: Vec<(OsString, OsString)> = vars
        .iter()
        .filter(|(k, _)| {
            k != TEST_RESOLVE_ENV
                && k != TEST_CA_ENV
                && !ours.contains(&k)
                && !secrets.iter().any(|s| k == s)
        })
        .cloned()
        .collect();
    if let Some(p) = proxy {
        env.extend(p.env.iter().cloned());
    }
    env
}

/// One audit line per proxy decision (`{"egress": {...}}`), appended to the `--audit-log`.
pub fn audit(log: &std::path::Path, events: &[nono_proxy::ProxyEvent]) -> std::io::Result<()> {
    use std::io::Write as _;
    if events.is_empty() {
        return Ok(());
    }
    let mut file = nono_supervisor::audit::open_own_output(log, false)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut out = String::new();
    for e in events {
        let line = serde_json::json!({ "egress": event_json(e) });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    file.write_all(out.as_bytes())
}

/// An event as JSON: host, port, address, decision, rule, bytes up/down, duration.
#[must_use]
pub fn event_json(e: &nono_proxy::ProxyEvent) -> serde_json::Value {
    use nono_proxy::{EventKind, Verdict};
    let timestamp = e
        .time
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (kind, method, path, service) = match &e.kind {
        EventKind::Tunnel => ("connect", None, None, None),
        EventKind::Http { method, path } => {
            ("http", Some(method.clone()), Some(path.clone()), None)
        }
        EventKind::Credential {
            service,
            method,
            path,
        } => (
            "credential",
            Some(method.clone()),
            Some(path.clone()),
            Some(service.clone()),
        ),
        EventKind::Rejected(r) => {
            return serde_json::json!({
                "timestamp": timestamp,
                "kind": "rejected",
                "reason": format!("{r:?}"),
                "host": e.host,
                "port": e.port,
                "decision": "deny",
                "duration_ms": e.duration.as_millis() as u64,
            })
        }
        _ => ("other", None, None, None),
    };
    let (decision, rule, reason) = match &e.verdict {
        Some(Verdict::Allow { rule }) => ("allow", Some(rule.clone()), None),
        Some(Verdict::Deny { reason, .. }) => ("deny", None, Some(reason.to_string())),
        None => ("deny", None, None),
    };
    serde_json::json!({
        "timestamp": timestamp,
        "kind": kind,
        "method": method,
        "path": path,
        "service": service,
        "host": e.host,
        "port": e.port,
        "address": e.addr.map(|a| a.to_string()),
        "decision": decision,
        "rule": rule,
        "reason": reason,
        "error": e.error,
        "bytes_up": e.bytes_up,
        "bytes_down": e.bytes_down,
        "duration_ms": e.duration.as_millis() as u64,
    })
}

impl EgressPlan {
    /// The `--dry-run` lines: rules with their origins, credentials, the command's variables.
    pub fn write_text(&self, f: &mut String) -> std::fmt::Result {
        use std::fmt::Write as _;
        writeln!(f, "egress:   domain rules (deny wins; a name never reaches private, loopback or link-local addresses without an IP/CIDR rule):")?;
        if self.allow.is_empty() {
            writeln!(f, "  (no allow rule: every destination is refused)")?;
        }
        for r in &self.allow {
            writeln!(f, "  allow  {:<44} {}", r.rule, r.origin)?;
        }
        for r in &self.deny {
            writeln!(f, "  deny   {:<44} {}", r.rule, r.origin)?;
        }
        for c in &self.credentials {
            writeln!(
                f,
                "  credential {}: {} → {} (key from {}, injected by the proxy; the command gets {} and a phantom {}){}",
                c.name,
                c.base_url_env,
                c.upstream,
                c.source,
                c.base_url_env,
                c.key_env,
                if c.endpoints.is_empty() {
                    String::new()
                } else {
                    format!(", only {}", c.endpoints.join(", "))
                }
            )?;
        }
        writeln!(
            f,
            "  the command gets HTTP_PROXY, HTTPS_PROXY, ALL_PROXY (and lowercase) with a per-run token, NO_PROXY=localhost,127.0.0.1,::1, NODE_USE_ENV_PROXY=1"
        )?;
        if self.test_resolve.is_some() {
            writeln!(
                f,
                "  names resolved from ${TEST_RESOLVE_ENV} only (test mapping)"
            )?;
        }
        if let Some((file, _)) = &self.test_ca {
            writeln!(
                f,
                "  credential upstreams must chain to the CA certificates in ${TEST_CA_ENV} ({file}) only (test hook)"
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> EgressFlags {
        EgressFlags::default()
    }

    #[test]
    fn rules_keep_their_origin_once_and_profiles_expand() {
        let mut profile = Profile::default();
        profile.network.allow_domain = vec!["pypi.org".into()];
        profile.network.deny_domain = vec!["evil.test".into()];
        let f = EgressFlags {
            allow_domain: vec!["pypi.org".into(), "*.example.com:8443".into()],
            network_profile: vec!["github".into()],
            ..flags()
        };
        let plan = EgressPlan::from_flags(&f, &profile, "p.json").unwrap();
        assert!(plan.enabled());
        assert_eq!(plan.allow[0].rule, "pypi.org");
        assert_eq!(plan.allow[0].origin, "profile p.json");
        assert_eq!(
            plan.allow.iter().filter(|r| r.rule == "pypi.org").count(),
            1
        );
        assert!(plan
            .allow
            .iter()
            .any(|r| r.rule == "github.com" && r.origin == "network profile github"));
        assert_eq!(plan.deny[0].rule, "evil.test");
        assert_eq!(plan.network_profiles, ["github"]);
        plan.rules().unwrap();
        assert!(!EgressPlan::from_flags(&flags(), &Profile::default(), "d")
            .unwrap()
            .enabled());
    }

    #[test]
    fn bad_values_name_their_flag() {
        let err = |f: EgressFlags| {
            let e = EgressPlan::from_flags(&f, &Profile::default(), "d").unwrap_err();
            e.downcast_ref::<Failure>().unwrap().message.clone()
        };
        let m = err(EgressFlags {
            allow_domain: vec!["https://x.test/a/**".into()],
            ..flags()
        });
        assert!(
            m.starts_with("--allow-domain https://x.test/a/**:") && m.contains("TLS"),
            "{m}"
        );
        let m = err(EgressFlags {
            allow_endpoint: vec!["openai:GET:/v1/**".into()],
            ..flags()
        });
        assert!(m.contains("--credential openai"), "{m}");
        let m = err(EgressFlags {
            network_profile: vec!["nope".into()],
            ..flags()
        });
        assert!(m.contains("developer"), "{m}");
        let m = err(EgressFlags {
            proxy_port: Some(0),
            ..flags()
        });
        assert!(m.contains("--proxy-port"), "{m}");
    }

    #[test]
    fn the_schema_lists_every_network_profile() {
        let schema: serde_json::Value =
            serde_json::from_str(nono_supervisor::profile::schema()).unwrap();
        let listed: Vec<&str> = schema["$defs"]["network"]["properties"]["network_profile"]
            ["items"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let mut want = network_profile_names();
        let mut got = listed.clone();
        want.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, want);
    }

    #[test]
    fn the_command_never_gets_the_test_hooks() {
        let vars = vec![
            (OsString::from("PATH"), OsString::from("/bin")),
            (
                OsString::from(TEST_RESOLVE_ENV),
                OsString::from("a=127.0.0.1"),
            ),
            (OsString::from(TEST_CA_ENV), OsString::from("/tmp/ca.pem")),
            (
                OsString::from("HTTP_PROXY"),
                OsString::from("http://elsewhere"),
            ),
        ];
        let env = child_env(&vars, None);
        assert_eq!(env.len(), 2);
        assert!(env
            .iter()
            .all(|(k, _)| k != TEST_RESOLVE_ENV && k != TEST_CA_ENV));
    }
}

//! Credential routes: `http://127.0.0.1:PORT/NAME/...` forwarded to an upstream with the real
//! key in place of a phantom one (the key never enters the sandbox).
//!
//! The sandboxed program gets `base_url_env=http://127.0.0.1:PORT/NAME` and `key_env=<phantom>`.
//! A request to the route must carry the phantom in the route's header (the phantom is
//! per-run random, so it also authenticates the caller); the proxy replaces that header with
//! `format` applied to the secret and forwards to the upstream over TLS. An `http://` upstream
//! is accepted only on a loopback address (local gateways, tests).

use std::fmt;
use std::net::IpAddr;

use crate::host::Host;
use crate::rule::EndpointRule;

/// Why a credential route was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// The route name is empty or has characters other than `[a-z0-9_-]`.
    #[error("invalid credential service name {0:?}: use lower-case letters, digits, '-' and '_'")]
    BadName(String),
    /// The upstream is not an `https://` URL (or `http://` on a loopback address).
    #[error("invalid upstream {url:?} for credential {name:?}: {why}")]
    BadUpstream {
        /// Route name.
        name: String,
        /// The URL given.
        url: String,
        /// What is wrong.
        why: &'static str,
    },
    /// The header name is not a valid HTTP token.
    #[error("invalid header name {0:?} for a credential")]
    BadHeader(String),
    /// `format` must contain `{}` exactly once.
    #[error("invalid format {0:?}: it must contain '{{}}' exactly once (e.g. \"Bearer {{}}\")")]
    BadFormat(String),
    /// The secret is empty or contains a line break or NUL.
    #[error("the secret for credential {0:?} is empty or contains a line break")]
    BadSecret(String),
}

/// A secret value: never printed (`Debug` and `Display` redact), zeroed on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret read by the caller (trailing whitespace/newline removed).
    pub fn new(value: impl Into<String>) -> Secret {
        let mut v: String = value.into();
        let keep = v.trim_end().len();
        v.truncate(keep);
        Secret(v)
    }

    /// The value, for the one place that sends it upstream.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        // Best effort: overwrite the bytes before the allocation is freed.
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        bytes.iter_mut().for_each(|b| *b = 0);
        std::hint::black_box(&bytes);
    }
}

/// Where a route forwards to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// `true` for `https://`.
    pub tls: bool,
    /// Host (name or address).
    pub host: Host,
    /// Port (default 443 / 80).
    pub port: u16,
    /// Path prefix (no trailing `/`; empty for the root), prepended to the request path.
    pub base_path: String,
    /// The URL as given.
    pub url: String,
}

impl Upstream {
    /// Parse `https://host[:port][/base]`, or `http://` with a loopback address.
    pub fn parse(name: &str, url: &str) -> Result<Upstream, CredentialError> {
        let bad = |why| CredentialError::BadUpstream {
            name: name.to_owned(),
            url: url.to_owned(),
            why,
        };
        let lower = url.to_ascii_lowercase();
        let (tls, rest) = if lower.starts_with("https://") {
            (true, &url[8..])
        } else if lower.starts_with("http://") {
            (false, &url[7..])
        } else {
            return Err(bad(
                "it must start with https:// (or http:// on a loopback address)",
            ));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.contains('@') || path.contains(['?', '#']) {
            return Err(bad("no user info, query or fragment"));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.is_empty() && (h.starts_with('[') || !h.contains(':')) => {
                let p: u16 = p.parse().map_err(|_| bad("bad port"))?;
                (h, p)
            }
            _ => (authority, if tls { 443 } else { 80 }),
        };
        let host = Host::parse(host).map_err(|_| bad("bad host"))?;
        if !tls && !host.ip().is_some_and(|ip: IpAddr| ip.is_loopback()) {
            return Err(bad(
                "plain http:// is accepted only for a loopback address (127.0.0.1, ::1)",
            ));
        }
        Ok(Upstream {
            tls,
            host,
            port,
            base_path: path.trim_end_matches('/').to_owned(),
            url: url.to_owned(),
        })
    }

    /// The `Host` header value for requests to this upstream.
    pub fn authority(&self) -> String {
        let default = if self.tls { 443 } else { 80 };
        if self.port == default {
            self.host.to_string()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// One credential route.
#[derive(Debug, Clone)]
pub struct CredentialRoute {
    /// Service name: the first path segment of requests to the proxy (`/openai/...`).
    pub name: String,
    /// Where requests go.
    pub upstream: Upstream,
    /// Header carrying the key (`Authorization`, `x-api-key`).
    pub header: String,
    /// How the key is written into the header (`Bearer {}`).
    pub format: String,
    /// The real key (read by the caller; never logged).
    pub secret: Secret,
    /// The per-run random value the sandboxed program gets instead of the key.
    pub phantom: String,
    /// When non-empty, only these calls are forwarded (403 otherwise).
    pub allow_endpoints: Vec<EndpointRule>,
}

impl CredentialRoute {
    /// A route with a fresh random phantom.
    pub fn new(
        name: &str,
        upstream: &str,
        header: &str,
        format: &str,
        secret: Secret,
    ) -> Result<CredentialRoute, CredentialError> {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return Err(CredentialError::BadName(name.to_owned()));
        }
        if header.is_empty() || httparse_token_invalid(header) {
            return Err(CredentialError::BadHeader(header.to_owned()));
        }
        if format.matches("{}").count() != 1 || format.contains(['\r', '\n']) {
            return Err(CredentialError::BadFormat(format.to_owned()));
        }
        if secret.expose().is_empty() || secret.expose().contains(['\r', '\n', '\0']) {
            return Err(CredentialError::BadSecret(name.to_owned()));
        }
        Ok(CredentialRoute {
            name: name.to_owned(),
            upstream: Upstream::parse(name, upstream)?,
            header: header.to_owned(),
            format: format.to_owned(),
            secret,
            phantom: format!("nono-phantom-{}", crate::random_hex(16)),
            allow_endpoints: Vec::new(),
        })
    }

    /// A route for a built-in service.
    pub fn builtin(
        service: &CredentialService,
        secret: Secret,
    ) -> Result<CredentialRoute, CredentialError> {
        CredentialRoute::new(
            service.name,
            service.upstream,
            service.header,
            service.format,
            secret,
        )
    }

    /// Whether a request's header value carries this route's phantom (the whole value, or
    /// its last word: `Bearer <phantom>`, `token <phantom>`).
    pub fn carries_phantom(&self, value: &[u8]) -> bool {
        let value = value.trim_ascii();
        let last = value
            .rsplit(|b| *b == b' ' || *b == b'\t')
            .next()
            .unwrap_or(value);
        crate::ct_eq(last, self.phantom.as_bytes())
    }

    /// The header value sent upstream.
    pub(crate) fn real_header_value(&self) -> String {
        self.format.replacen("{}", self.secret.expose(), 1)
    }
}

fn httparse_token_invalid(s: &str) -> bool {
    !s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A built-in credential service (data; the CLI reads `env` and builds the route).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialService {
    /// Name (`--credential NAME`).
    pub name: &'static str,
    /// Upstream base URL.
    pub upstream: &'static str,
    /// Header carrying the key.
    pub header: &'static str,
    /// Header value format.
    pub format: &'static str,
    /// Environment variable the key is read from (in the supervisor).
    pub source_env: &'static str,
    /// Variable the child gets the route's base URL in.
    pub base_url_env: &'static str,
    /// Variable the child gets the phantom key in.
    pub key_env: &'static str,
}

/// Built-in services.
pub const BUILTIN_CREDENTIALS: &[CredentialService] = &[
    CredentialService {
        name: "openai",
        upstream: "https://api.openai.com/v1",
        header: "Authorization",
        format: "Bearer {}",
        source_env: "OPENAI_API_KEY",
        base_url_env: "OPENAI_BASE_URL",
        key_env: "OPENAI_API_KEY",
    },
    CredentialService {
        name: "anthropic",
        upstream: "https://api.anthropic.com",
        header: "x-api-key",
        format: "{}",
        source_env: "ANTHROPIC_API_KEY",
        base_url_env: "ANTHROPIC_BASE_URL",
        key_env: "ANTHROPIC_API_KEY",
    },
    CredentialService {
        name: "github",
        upstream: "https://api.github.com",
        header: "Authorization",
        format: "Bearer {}",
        source_env: "GITHUB_TOKEN",
        base_url_env: "GITHUB_API_URL",
        key_env: "GITHUB_TOKEN",
    },
];

/// The built-in service of this name.
pub fn builtin_credential(name: &str) -> Option<&'static CredentialService> {
    BUILTIN_CREDENTIALS.iter().find(|c| c.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_valid_routes() {
        for s in BUILTIN_CREDENTIALS {
            let r = CredentialRoute::builtin(s, Secret::new("k")).unwrap();
            assert!(r.upstream.tls);
            assert!(r.phantom.starts_with("nono-phantom-"));
        }
        assert_eq!(
            builtin_credential("openai").unwrap().upstream,
            "https://api.openai.com/v1"
        );
    }

    #[test]
    fn upstreams() {
        assert!(Upstream::parse("x", "http://127.0.0.1:9/v1").is_ok());
        assert!(Upstream::parse("x", "http://[::1]:9").is_ok());
        assert!(Upstream::parse("x", "http://example.com").is_err());
        assert!(Upstream::parse("x", "http://10.0.0.1").is_err());
        assert!(Upstream::parse("x", "ftp://example.com").is_err());
        let u = Upstream::parse("x", "https://api.example.com:8443/v1/").unwrap();
        assert_eq!(u.base_path, "/v1");
        assert_eq!(u.authority(), "api.example.com:8443");
    }

    #[test]
    fn secrets_never_print() {
        let r = CredentialRoute::new(
            "svc",
            "https://a.example",
            "Authorization",
            "Bearer {}",
            Secret::new("sk-123\n"),
        )
        .unwrap();
        assert!(!format!("{r:?}").contains("sk-123"));
        assert_eq!(r.real_header_value(), "Bearer sk-123");
        assert!(r.carries_phantom(format!("Bearer {}", r.phantom).as_bytes()));
        assert!(!r.carries_phantom(b"Bearer sk-123"));
        assert!(
            CredentialRoute::new("Bad Name", "https://a", "h", "{}", Secret::new("k")).is_err()
        );
        assert!(CredentialRoute::new("a", "https://a", "h", "Bearer", Secret::new("k")).is_err());
        assert!(CredentialRoute::new("a", "https://a", "h", "{}", Secret::new("")).is_err());
    }
}

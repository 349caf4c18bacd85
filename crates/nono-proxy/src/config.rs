//! What a proxy is started with: rules, token, listen address, limits, credential routes and
//! the resolver.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use crate::credential::CredentialRoute;
use crate::host::canonical_ip;
use crate::rules::Rules;

/// The per-run secret a client must send as `Proxy-Authorization: Basic` credentials
/// (user [`ProxyToken::USER`], password the token). `Debug` redacts it.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyToken(String);

impl ProxyToken {
    /// The user name in the proxy URL.
    pub const USER: &'static str = "nono";

    /// A fresh random token (128 bits, hex).
    pub fn random() -> ProxyToken {
        ProxyToken(crate::random_hex(16))
    }

    /// A given token (tests, `nono proxy --token`). Must be URL-safe: `[A-Za-z0-9._~-]+`.
    pub fn new(token: &str) -> Option<ProxyToken> {
        (!token.is_empty()
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b)))
        .then(|| ProxyToken(token.to_owned()))
    }

    /// The token text (it goes into the child's proxy URL).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `Proxy-Authorization` header value a client sends.
    pub fn header_value(&self) -> String {
        format!(
            "Basic {}",
            crate::base64_encode(format!("{}:{}", Self::USER, self.0).as_bytes())
        )
    }
}

impl fmt::Debug for ProxyToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProxyToken(<redacted>)")
    }
}

/// Bounds on every connection (slowloris, floods, memory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Maximum bytes of a request head (request line + headers); 431 beyond.
    pub max_header_bytes: usize,
    /// Maximum number of request headers; 431 beyond.
    pub max_headers: usize,
    /// Time allowed for a whole request head to arrive; 408 after.
    pub header_timeout: Duration,
    /// A tunnel or forwarded request with no byte in either direction for this long is closed.
    pub idle_timeout: Duration,
    /// Time allowed to connect to an upstream.
    pub connect_timeout: Duration,
    /// Connections handled at once; more are answered 503 and closed.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_header_bytes: 32 * 1024,
            max_headers: 100,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(10),
            max_connections: 2048,
        }
    }
}

/// How names are turned into addresses. The proxy resolves once and connects to the address
/// it checked (no second lookup, so no DNS rebinding between check and connect).
#[derive(Debug, Clone, Default)]
pub enum Resolver {
    /// getaddrinfo(3).
    #[default]
    System,
    /// A fixed map from canonical names (lower case, no trailing dot) to addresses; names
    /// not in it do not resolve. For tests (names mapped to 127.0.0.0/8) and pinned setups.
    Static(HashMap<String, Vec<IpAddr>>),
}

impl Resolver {
    /// The addresses of a canonical name, in resolver order.
    pub fn resolve(&self, name: &str, port: u16) -> io::Result<Vec<IpAddr>> {
        let addrs: Vec<IpAddr> = match self {
            Resolver::System => (name, port)
                .to_socket_addrs()?
                .map(|a| canonical_ip(a.ip()))
                .collect(),
            Resolver::Static(map) => map.get(name).cloned().unwrap_or_default(),
        };
        if addrs.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{name} has no address"),
            ));
        }
        Ok(addrs)
    }
}

/// Which certificate authorities a credential route's `https://` upstream must chain to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum UpstreamRoots {
    /// The system's CA certificates (rustls-native-certs).
    #[default]
    System,
    /// Only the certificates in this PEM text, instead of the system's: for tests, which
    /// serve a loopback TLS upstream with a certificate of their own test CA. The CLI sets it
    /// only from `NONO_TEST_PROXY_CA` in nono's own environment, read once at start.
    /// [`crate::Proxy::start`] refuses PEM text without a certificate.
    OnlyPem(Vec<u8>),
}

/// Everything [`crate::Proxy::start`] needs.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Allow/deny rules.
    pub rules: Rules,
    /// Required `Proxy-Authorization` credentials (`None`: no authentication — only for a
    /// listener nobody else can reach).
    pub token: Option<ProxyToken>,
    /// Where to listen; port 0 picks an ephemeral port.
    pub listen: SocketAddr,
    /// Bounds.
    pub limits: Limits,
    /// Credential routes served at `/NAME/...`.
    pub credentials: Vec<CredentialRoute>,
    /// Name resolution.
    pub resolver: Resolver,
    /// Trust anchors for the TLS of credential upstreams.
    pub upstream_roots: UpstreamRoots,
}

impl ProxyConfig {
    /// Rules, a fresh random token, `127.0.0.1:0`, default limits, no routes, system resolver
    /// and system CA certificates.
    pub fn new(rules: Rules) -> ProxyConfig {
        ProxyConfig {
            rules,
            token: Some(ProxyToken::random()),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            limits: Limits::default(),
            credentials: Vec::new(),
            resolver: Resolver::System,
            upstream_roots: UpstreamRoots::System,
        }
    }
}

//! Audit records: one [`ProxyEvent`] per decision or refused request.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use crate::rules::Verdict;

/// What kind of request an event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// A CONNECT tunnel.
    Tunnel,
    /// An absolute-form plain-HTTP request.
    Http {
        /// Request method.
        method: String,
        /// Request path (no query).
        path: String,
    },
    /// A request to a credential route.
    Credential {
        /// Route name.
        service: String,
        /// Request method.
        method: String,
        /// Path below the route.
        path: String,
    },
    /// A request refused before any rule was consulted.
    Rejected(RejectReason),
}

/// Why a request was refused before a rule decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectReason {
    /// No or wrong `Proxy-Authorization` (407), or a credential route request without the
    /// phantom key (401).
    Unauthenticated,
    /// The request head exceeded `max_header_bytes` (431).
    HeaderTooLarge,
    /// More than `max_headers` headers (431).
    TooManyHeaders,
    /// The head did not arrive within `header_timeout` (408).
    HeaderTimeout,
    /// Malformed request (400).
    BadRequest,
    /// The `Host` header disagrees with the request target (400).
    HostMismatch,
    /// `max_connections` reached (503).
    TooManyConnections,
    /// A credential route call outside its `allow_endpoints` (403).
    EndpointNotAllowed,
    /// An origin-form request to no credential route (404).
    UnknownRoute,
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyEvent {
    /// When the request arrived.
    pub time: SystemTime,
    /// What was asked.
    pub kind: EventKind,
    /// Destination host as requested (canonical), or empty when the request had none.
    pub host: String,
    /// Destination port.
    pub port: u16,
    /// The address connected to (or refused).
    pub addr: Option<IpAddr>,
    /// The rules' decision (`None` for [`EventKind::Rejected`]).
    pub verdict: Option<Verdict>,
    /// Bytes from the client to the upstream (after the request head).
    pub bytes_up: u64,
    /// Bytes from the upstream to the client.
    pub bytes_down: u64,
    /// From arrival to close.
    pub duration: Duration,
    /// An upstream failure after an allow (connect refused, TLS error), if any.
    pub error: Option<String>,
}

impl ProxyEvent {
    /// Whether this event is a refusal (a deny verdict or a rejection).
    pub fn is_denial(&self) -> bool {
        matches!(self.kind, EventKind::Rejected(_))
            || matches!(self.verdict, Some(Verdict::Deny { .. }))
    }
}

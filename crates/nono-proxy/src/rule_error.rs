//! `RuleError`: why a host, port, CIDR or path rule string was refused (shared by the host
//! parser and the rule parser, below both).

/// Why a rule string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// The host part is not a name, an address or a CIDR.
    #[error("invalid host {host:?}: {why}")]
    BadHost {
        /// The text given.
        host: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The port is not a number in 1..=65535.
    #[error("invalid port in {rule:?}: expected 1-65535")]
    BadPort {
        /// The rule text.
        rule: String,
    },
    /// The CIDR prefix length is out of range or the text is malformed.
    #[error("invalid CIDR {rule:?}: {why}")]
    BadCidr {
        /// The rule text.
        rule: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A path pattern is malformed (empty segment, `..`, `**` not a whole segment...).
    #[error("invalid path pattern {pattern:?}: {why}")]
    BadPath {
        /// The pattern text.
        pattern: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// An `https://` URL with a path: enforcing it needs TLS interception, which nono does
    /// not do (the proxy only sees the host name of a TLS tunnel).
    #[error(
        "{rule:?} restricts paths of an https:// URL, which needs TLS interception; nono does not \
         intercept TLS. Use the host alone ({host}) or an http:// path rule"
    )]
    NeedsTlsInterception {
        /// The rule text.
        rule: String,
        /// The host part, as a rule that would be accepted.
        host: String,
    },
    /// A URL scheme other than http/https.
    #[error("unsupported scheme in {rule:?}: only http:// and https:// URLs are rules")]
    BadScheme {
        /// The rule text.
        rule: String,
    },
    /// An endpoint rule (`METHOD:/path/**`) is malformed.
    #[error("invalid endpoint {rule:?}: expected METHOD:/path (e.g. POST:/v1/messages/**)")]
    BadEndpoint {
        /// The rule text.
        rule: String,
    },
}

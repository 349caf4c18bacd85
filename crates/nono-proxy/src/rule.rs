//! One `--allow-domain` / `--deny-domain` value: [`HostRule::parse`] and its matcher.
//!
//! Forms (all case-insensitive, trailing dot ignored, IDN compared in punycode):
//!
//! ```text
//! example.com            the name exactly, ports 80 and 443
//! *.example.com          any name below example.com (not example.com itself)
//! example.com:8443       one port
//! 127.0.0.1  [::1]  ::1  one address (odd IPv4 spellings read as inet_aton(3) does)
//! 10.0.0.0/8  fc00::/7   a CIDR block
//! http://example.com/api/**   plain-HTTP requests whose path matches (`*` one segment,
//!                             `**` any number); port 80 unless the URL names one
//! https://host/path      refused: RuleError::NeedsTlsInterception
//! ```

use std::fmt;
use std::net::IpAddr;

use crate::host::{canonical_ip, Host};
pub use crate::rule_error::RuleError;

/// Ports a rule without `:PORT` covers.
pub const DEFAULT_PORTS: [u16; 2] = [80, 443];

/// What a rule's host part matches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostPattern {
    /// This name exactly.
    Exact(String),
    /// Any name strictly below this suffix (`*.example.com` stores `example.com`).
    Subdomains(String),
    /// One address.
    Ip(IpAddr),
    /// A CIDR block (address already masked).
    Cidr(IpAddr, u8),
}

impl HostPattern {
    /// Whether this pattern names addresses (IP or CIDR) rather than names.
    pub fn is_address(&self) -> bool {
        matches!(self, HostPattern::Ip(_) | HostPattern::Cidr(..))
    }

    /// Whether a name (canonical, as [`Host::parse`] produces) matches a name pattern.
    pub fn matches_name(&self, name: &str) -> bool {
        match self {
            HostPattern::Exact(n) => n == name,
            HostPattern::Subdomains(suffix) => {
                name.len() > suffix.len() + 1
                    && name.ends_with(suffix.as_str())
                    && name.as_bytes()[name.len() - suffix.len() - 1] == b'.'
            }
            _ => false,
        }
    }

    /// Whether an address matches an address pattern (IPv4-mapped IPv6 folded first).
    pub fn matches_ip(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        match self {
            HostPattern::Ip(a) => *a == ip,
            HostPattern::Cidr(net, len) => cidr_contains(*net, *len, ip),
            _ => false,
        }
    }

    /// Whether the host matches.
    pub fn matches(&self, host: &Host) -> bool {
        match host {
            Host::Name(n) => self.matches_name(n),
            Host::Ip(ip) => self.matches_ip(*ip),
        }
    }
}

/// Whether `ip` is inside `net/len` (families must agree).
pub fn cidr_contains(net: IpAddr, len: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len))
            };
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len))
            };
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

fn mask_ip(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let mask = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len))
            };
            IpAddr::V4((u32::from(a) & mask).into())
        }
        IpAddr::V6(a) => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len))
            };
            IpAddr::V6((u128::from(a) & mask).into())
        }
    }
}

/// A path pattern of a plain-HTTP rule or an endpoint: `/`-separated segments where `*` is
/// exactly one segment and `**` any number of segments (including none).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PathPattern {
    text: String,
    segments: Vec<String>,
}

impl PathPattern {
    /// Parse `/a/*/b/**`. Must start with `/`; `**` must be a whole segment; no `.`/`..`.
    pub fn parse(s: &str) -> Result<PathPattern, RuleError> {
        let bad = |why| RuleError::BadPath {
            pattern: s.to_owned(),
            why,
        };
        // Requests are matched with escaped unreserved characters decoded
        // (`normalize_request_path`); so are patterns.
        let decoded = decode_unreserved(s);
        let rest = decoded
            .strip_prefix('/')
            .ok_or_else(|| bad("must start with '/'"))?;
        let mut segments = Vec::new();
        if !rest.is_empty() {
            for seg in rest.split('/') {
                if seg == "." || seg == ".." {
                    return Err(bad("'.' and '..' segments are not allowed"));
                }
                if seg.contains("**") && seg != "**" {
                    return Err(bad("'**' must be a whole segment"));
                }
                if seg.contains(['?', '#']) {
                    return Err(bad("query and fragment are not part of a path pattern"));
                }
                segments.push(seg.to_owned());
            }
        }
        Ok(PathPattern {
            text: s.to_owned(),
            segments,
        })
    }

    /// Whether a request path (query already removed, see [`normalize_request_path`]) matches.
    pub fn matches(&self, path: &str) -> bool {
        let Some(rest) = path.strip_prefix('/') else {
            return false;
        };
        let segs: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('/').collect()
        };
        match_segments(&self.segments, &segs)
    }

    /// The looser match a *deny* rule uses, so that a spelling some server resolves to the
    /// denied path is denied too: besides [`PathPattern::matches`], compare without case
    /// (IIS, case-insensitive file systems), with empty segments removed (`//admin`: nginx
    /// `merge_slashes`) and with path parameters cut from each segment (`/admin;x/`: Tomcat,
    /// Spring). An allow rule never matches loosely (a refusal is the safe side there).
    pub fn matches_loose(&self, path: &str) -> bool {
        if self.matches(path) {
            return true;
        }
        let Some(rest) = path.strip_prefix('/') else {
            return false;
        };
        let lowered = rest.to_lowercase();
        let segs: Vec<&str> = lowered
            .split('/')
            .map(|s| s.split(';').next().unwrap_or(s))
            // `admin.` is `admin` to Windows servers.
            .map(|s| s.trim_end_matches('.'))
            .filter(|s| !s.is_empty())
            .collect();
        let pat: Vec<String> = self
            .segments
            .iter()
            .map(|s| s.to_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        match_segments(&pat, &segs)
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

fn match_segments(pat: &[String], path: &[&str]) -> bool {
    match pat.split_first() {
        None => path.is_empty(),
        Some((p, rest)) if p == "**" => (0..=path.len()).any(|i| match_segments(rest, &path[i..])),
        Some((p, rest)) => match path.split_first() {
            Some((s, prest)) => (p == "*" || p == s) && match_segments(rest, prest),
            None => false,
        },
    }
}

/// The path of a request target as the proxy matches it: the part before `?`, with
/// percent-encoded unreserved characters decoded (`%61dmin` is `admin` to every RFC 3986
/// server, so it is `admin` to the rules too). Refused (`None`) when it contains a dot segment
/// (also with path parameters: `..;`, `.;x`, which Tomcat-style servers resolve as `..`), an
/// encoded dot, slash, backslash or NUL, a backslash, an overlong UTF-8 lead byte (`%c0`,
/// `%c1`) or an IIS `%u` escape — forms a server may resolve to another path than the one
/// matched.
pub fn normalize_request_path(target: &str) -> Option<String> {
    let path = target.split(['?', '#']).next().unwrap_or("");
    if !path.starts_with('/') || path.contains('\\') {
        return None;
    }
    let lower = path.to_ascii_lowercase();
    if ["%2e", "%2f", "%5c", "%00", "%c0", "%c1", "%u"]
        .iter()
        .any(|bad| lower.contains(bad))
    {
        return None;
    }
    let decoded = decode_unreserved(path);
    if decoded.split('/').any(|s| {
        let before_params = s.split(';').next().unwrap_or(s);
        before_params == "." || before_params == ".."
    }) {
        return None;
    }
    Some(decoded)
}

/// Decode `%XX` where XX is an unreserved character (ALPHA / DIGIT / `-` `.` `_` `~`);
/// every other escape is kept as written.
fn decode_unreserved(path: &str) -> String {
    let b = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                let c = (h * 16 + l) as u8;
                if c.is_ascii_alphanumeric() || b"-._~".contains(&c) {
                    out.push(c as char);
                    i += 3;
                    continue;
                }
            }
        }
        // Copy one whole UTF-8 character.
        let ch_len = path[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&path[i..i + ch_len]);
        i += ch_len;
    }
    out
}

/// A parsed `--allow-domain` / `--deny-domain` value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostRule {
    /// What the host part matches.
    pub host: HostPattern,
    /// `None`: the default ports ([`DEFAULT_PORTS`]); `Some(p)`: only `p`.
    pub port: Option<u16>,
    /// `Some`: plain-HTTP requests with a matching path only (never a CONNECT tunnel).
    pub path: Option<PathPattern>,
    /// The text the user wrote, for messages.
    pub text: String,
}

impl HostRule {
    /// Parse one rule; see the module doc for the forms.
    pub fn parse(s: &str) -> Result<HostRule, RuleError> {
        let text = s.trim().to_owned();
        let s = text.as_str();
        let lower = s.to_ascii_lowercase();
        if let Some(idx) = lower.find("://") {
            let scheme = &lower[..idx];
            let rest = &s[idx + 3..];
            let (authority, path) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            };
            let (host, port) = split_host_port(authority, s)?;
            let host_pattern = parse_host_pattern(host, s)?;
            match scheme {
                "http" | "https" => {}
                _ => return Err(RuleError::BadScheme { rule: text.clone() }),
            }
            let has_path = !(path.is_empty() || path == "/" || path == "/**");
            if scheme == "https" && has_path {
                return Err(RuleError::NeedsTlsInterception {
                    rule: text.clone(),
                    host: authority.to_owned(),
                });
            }
            let default_port = if scheme == "http" { 80 } else { 443 };
            let path = if has_path {
                Some(PathPattern::parse(path)?)
            } else {
                None
            };
            return Ok(HostRule {
                host: host_pattern,
                port: Some(port.unwrap_or(default_port)),
                path,
                text,
            });
        }
        let (host, port) = split_host_port(s, s)?;
        Ok(HostRule {
            host: parse_host_pattern(host, s)?,
            port,
            path: None,
            text,
        })
    }

    /// Whether the rule covers this port.
    pub fn matches_port(&self, port: u16) -> bool {
        match self.port {
            Some(p) => p == port,
            None => DEFAULT_PORTS.contains(&port),
        }
    }
}

impl fmt::Display for HostRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Split `host[:port]`, `[v6][:port]`; a bare IPv6 (more than one ':') has no port.
fn split_host_port<'a>(s: &'a str, rule: &str) -> Result<(&'a str, Option<u16>), RuleError> {
    let bad_port = || RuleError::BadPort {
        rule: rule.to_owned(),
    };
    let parse_port = |p: &str| -> Result<u16, RuleError> {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad_port());
        }
        match p.parse::<u16>() {
            Ok(0) | Err(_) => Err(bad_port()),
            Ok(n) => Ok(n),
        }
    };
    if s.starts_with('[') {
        let end = s.find(']').ok_or_else(|| RuleError::BadHost {
            host: s.to_owned(),
            why: "unterminated '['",
        })?;
        let host = &s[..=end];
        let rest = &s[end + 1..];
        if rest.is_empty() {
            return Ok((host, None));
        }
        let p = rest.strip_prefix(':').ok_or_else(bad_port)?;
        return Ok((host, Some(parse_port(p)?)));
    }
    // A CIDR keeps its '/' and never has a port unless bracketed.
    if s.matches(':').count() == 1 {
        let (h, p) = s.split_once(':').unwrap_or((s, ""));
        return Ok((h, Some(parse_port(p)?)));
    }
    Ok((s, None))
}

fn parse_host_pattern(host: &str, rule: &str) -> Result<HostPattern, RuleError> {
    if let Some((addr, len)) = host.split_once('/') {
        let bad = |why| RuleError::BadCidr {
            rule: rule.to_owned(),
            why,
        };
        let addr = addr.trim_start_matches('[').trim_end_matches(']');
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| bad("not an IP address before '/'"))?;
        if !len.bytes().all(|b| b.is_ascii_digit()) || len.is_empty() || len.len() > 3 {
            return Err(bad("prefix length is not a number"));
        }
        let len: u8 = len
            .parse()
            .map_err(|_| bad("prefix length is not a number"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(bad("prefix length too long for the address family"));
        }
        // ::ffff:10.0.0.0/104 is 10.0.0.0/8.
        let (ip, len) = match ip {
            IpAddr::V6(v6) if len >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), len - 96),
                None => (ip, len),
            },
            _ => (ip, len),
        };
        return Ok(HostPattern::Cidr(mask_ip(ip, len), len));
    }
    if let Some(suffix) = host.strip_prefix("*.") {
        return match Host::parse(suffix)? {
            Host::Name(n) => Ok(HostPattern::Subdomains(n)),
            Host::Ip(_) => Err(RuleError::BadHost {
                host: host.to_owned(),
                why: "'*.' needs a name, not an address (use a CIDR)",
            }),
        };
    }
    if host.contains('*') {
        return Err(RuleError::BadHost {
            host: host.to_owned(),
            why: "'*' is only allowed as a leading '*.' label",
        });
    }
    Ok(match Host::parse(host)? {
        Host::Name(n) => HostPattern::Exact(n),
        Host::Ip(ip) => HostPattern::Ip(ip),
    })
}

/// A credential route's endpoint restriction: `METHOD:/path/**` (`*` as METHOD: any).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EndpointRule {
    /// Upper-case method, or `None` for any.
    pub method: Option<String>,
    /// The path pattern, relative to the route's base (`/v1/messages/**`).
    pub path: PathPattern,
}

impl EndpointRule {
    /// Parse `POST:/v1/messages/**`, `GET:/user`, `*:/v1/**`.
    pub fn parse(s: &str) -> Result<EndpointRule, RuleError> {
        let bad = || RuleError::BadEndpoint { rule: s.to_owned() };
        let (method, path) = s.split_once(':').ok_or_else(bad)?;
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic() || b == b'*') {
            return Err(bad());
        }
        let method = if method == "*" {
            None
        } else if method.contains('*') {
            return Err(bad());
        } else {
            Some(method.to_ascii_uppercase())
        };
        Ok(EndpointRule {
            method,
            path: PathPattern::parse(path)?,
        })
    }

    /// Whether a request (method, normalized path) matches.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self.path.matches(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> HostRule {
        HostRule::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn forms() {
        assert_eq!(
            p("Example.COM.").host,
            HostPattern::Exact("example.com".into())
        );
        assert_eq!(
            p("*.example.com").host,
            HostPattern::Subdomains("example.com".into())
        );
        assert_eq!(p("example.com:8443").port, Some(8443));
        assert_eq!(p("example.com").port, None);
        assert_eq!(
            p("127.0.0.1").host,
            HostPattern::Ip("127.0.0.1".parse().unwrap())
        );
        assert_eq!(p("::1").host, HostPattern::Ip("::1".parse().unwrap()));
        assert_eq!(p("[::1]:8080").port, Some(8080));
        assert_eq!(
            p("10.1.2.3/8").host,
            HostPattern::Cidr("10.0.0.0".parse().unwrap(), 8)
        );
        assert_eq!(
            p("fc00::/7").host,
            HostPattern::Cidr("fc00::".parse().unwrap(), 7)
        );
        assert_eq!(
            p("::ffff:10.0.0.0/104").host,
            HostPattern::Cidr("10.0.0.0".parse().unwrap(), 8)
        );
        assert_eq!(
            p("2130706433").host,
            HostPattern::Ip("127.0.0.1".parse().unwrap())
        );
        let r = p("http://example.com/api/**");
        assert_eq!(r.port, Some(80));
        assert!(r.path.as_ref().unwrap().matches("/api/x/y"));
        assert!(r.path.as_ref().unwrap().matches("/api"));
        assert!(!r.path.as_ref().unwrap().matches("/apix"));
        assert_eq!(p("https://example.com").port, Some(443));
        assert_eq!(p("https://example.com/").path, None);
    }

    #[test]
    fn refusals() {
        assert!(matches!(
            HostRule::parse("https://example.com/api/**"),
            Err(RuleError::NeedsTlsInterception { .. })
        ));
        for bad in [
            "",
            "example.com:0",
            "example.com:70000",
            "example.com:x",
            "*.*.com",
            "ex*.com",
            "10.0.0.0/33",
            "10.0.0.0/x",
            "ftp://example.com",
            "*.10.0.0.1",
            "http://example.com/a/../b",
            "http://example.com/a**",
        ] {
            assert!(HostRule::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn subdomains_not_apex() {
        let r = p("*.example.com");
        assert!(r.host.matches_name("a.example.com"));
        assert!(r.host.matches_name("a.b.example.com"));
        assert!(!r.host.matches_name("example.com"));
        assert!(!r.host.matches_name("badexample.com"));
    }

    #[test]
    fn paths_and_endpoints() {
        let pp = PathPattern::parse("/v1/*/x").unwrap();
        assert!(pp.matches("/v1/a/x"));
        assert!(!pp.matches("/v1/a/b/x"));
        assert_eq!(normalize_request_path("/a/b?x=1").as_deref(), Some("/a/b"));
        assert_eq!(
            normalize_request_path("/%61dmin/%7Eu%25x").as_deref(),
            Some("/admin/~u%25x")
        );
        for bad in [
            "/a/../b",
            "/a/%2e%2e/b",
            "/a%2fb",
            "a",
            "/a\\b",
            "/./a",
            "/a/..;/b",
            "/a/.;x/b",
            "/a/%c0%ae%c0%ae/b",
            "/a/%u002e%u002e/b",
        ] {
            assert_eq!(normalize_request_path(bad), None, "{bad}");
        }
        let deny = PathPattern::parse("/admin/**").unwrap();
        for spelled in [
            "/admin/x",
            "/ADMIN/x",
            "//admin/x",
            "/admin;jsessionid=1/x",
            "/Admin",
            "/admin./x",
        ] {
            assert!(deny.matches_loose(spelled), "{spelled}");
        }
        assert!(!deny.matches("/ADMIN/x"));
        assert!(!deny.matches_loose("/administrator/x"));
        assert!(!deny.matches_loose("/x/admin"));
        assert!(PathPattern::parse("/%7Eu/**").unwrap().matches("/~u/x"));
        let e = EndpointRule::parse("post:/v1/messages/**").unwrap();
        assert!(e.matches("POST", "/v1/messages"));
        assert!(!e.matches("GET", "/v1/messages"));
        assert!(EndpointRule::parse("*:/**")
            .unwrap()
            .matches("DELETE", "/x"));
        assert!(EndpointRule::parse("/v1").is_err());
    }
}

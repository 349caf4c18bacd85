//! The decision: which rule allows or refuses a destination ([`Rules::decide`]).
//!
//! Order, the same for a CONNECT tunnel and a plain-HTTP request:
//!
//! 1. A deny rule matching the host (or the address it resolved to) wins. A deny rule
//!    without `:PORT` covers every port (an allow rule without one covers 80 and 443).
//! 2. An allow rule must match host, port and (for path rules) the plain-HTTP path; a path
//!    rule never allows a CONNECT tunnel (the proxy cannot see the path inside TLS).
//! 3. A name that resolved to a special-range address ([`SpecialRange`]) is refused unless an
//!    IP/CIDR allow rule covers that address; the name's rule still decides the port.
//!
//! [`Rules::decide_name`] runs 1–2 before any DNS lookup, so a refused name is never
//! resolved (a lookup is itself a way out).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::host::{canonical_ip, Host};
use crate::rule::{cidr_contains, HostRule, RuleError, DEFAULT_PORTS};

/// What is being asked for: a tunnel, or a plain-HTTP request with its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access<'a> {
    /// A CONNECT tunnel (the proxy never sees what goes through it).
    Tunnel,
    /// A plain-HTTP request; the path is already normalized (no query, no dot segments).
    Http {
        /// The request path.
        path: &'a str,
    },
}

/// Allow and deny rules. Deny wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    /// `--allow-domain` values (and a network profile's hosts).
    pub allow: Vec<HostRule>,
    /// `--deny-domain` values.
    pub deny: Vec<HostRule>,
}

/// Address ranges a name rule alone never reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SpecialRange {
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// RFC 1918: 10/8, 172.16/12, 192.168/16.
    Private,
    /// RFC 6598 carrier-grade NAT: 100.64.0.0/10.
    SharedAddressSpace,
    /// 169.254.0.0/16 (including cloud metadata 169.254.169.254), fe80::/10.
    LinkLocal,
    /// fc00::/7.
    UniqueLocal,
    /// 0.0.0.0/8, ::.
    Unspecified,
    /// 224.0.0.0/4, 255.255.255.255, ff00::/8.
    Multicast,
}

impl SpecialRange {
    /// The range an address falls in, if it is special (IPv4-mapped IPv6 folded first).
    pub fn of(ip: IpAddr) -> Option<SpecialRange> {
        match canonical_ip(ip) {
            IpAddr::V4(a) => special_v4(a),
            IpAddr::V6(a) => special_v6(a),
        }
    }

    /// The CIDR text of the range an address is in (for messages).
    pub fn describe(self) -> &'static str {
        match self {
            SpecialRange::Loopback => "loopback (127.0.0.0/8, ::1)",
            SpecialRange::Private => "private (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)",
            SpecialRange::SharedAddressSpace => "shared address space (100.64.0.0/10)",
            SpecialRange::LinkLocal => {
                "link-local (169.254.0.0/16 incl. cloud metadata, fe80::/10)"
            }
            SpecialRange::UniqueLocal => "unique local (fc00::/7)",
            SpecialRange::Unspecified => "unspecified (0.0.0.0/8, ::)",
            SpecialRange::Multicast => "multicast/broadcast (224.0.0.0/4, ff00::/8)",
        }
    }
}

fn special_v4(a: Ipv4Addr) -> Option<SpecialRange> {
    let ip = IpAddr::V4(a);
    let inr = |net: [u8; 4], len| cidr_contains(IpAddr::V4(net.into()), len, ip);
    if inr([127, 0, 0, 0], 8) {
        Some(SpecialRange::Loopback)
    } else if inr([10, 0, 0, 0], 8) || inr([172, 16, 0, 0], 12) || inr([192, 168, 0, 0], 16) {
        Some(SpecialRange::Private)
    } else if inr([100, 64, 0, 0], 10) {
        Some(SpecialRange::SharedAddressSpace)
    } else if inr([169, 254, 0, 0], 16) {
        Some(SpecialRange::LinkLocal)
    } else if inr([0, 0, 0, 0], 8) {
        Some(SpecialRange::Unspecified)
    } else if inr([224, 0, 0, 0], 4) || inr([240, 0, 0, 0], 4) {
        Some(SpecialRange::Multicast)
    } else {
        None
    }
}

fn special_v6(a: Ipv6Addr) -> Option<SpecialRange> {
    let ip = IpAddr::V6(a);
    let inr = |net: &str, len| {
        let net: Ipv6Addr = net.parse().unwrap_or(Ipv6Addr::UNSPECIFIED);
        cidr_contains(IpAddr::V6(net), len, ip)
    };
    if a.is_loopback() {
        Some(SpecialRange::Loopback)
    } else if a.is_unspecified() {
        Some(SpecialRange::Unspecified)
    } else if inr("fe80::", 10) {
        Some(SpecialRange::LinkLocal)
    } else if inr("fc00::", 7) {
        Some(SpecialRange::UniqueLocal)
    } else if inr("ff00::", 8) {
        Some(SpecialRange::Multicast)
    } else if let Some(v4) = a.to_ipv4() {
        // IPv4-compatible (::a.b.c.d, deprecated) and NAT64 are judged by their IPv4 part
        // when that is special; a public embedded address stays public.
        if inr("::", 96) || inr("64:ff9b::", 96) {
            special_v4(v4)
        } else {
            None
        }
    } else {
        None
    }
}

/// Why a destination was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DenyReason {
    /// No allow rule covers this host and port.
    NoRule,
    /// A deny rule matched (its text).
    DeniedBy(String),
    /// The host is allowed only for plain-HTTP paths, and this request's path (or a CONNECT
    /// tunnel, whose paths the proxy cannot see) is not one of them.
    PathNotAllowed,
    /// The request path has a form a server may read as another path (dot segments, encoded
    /// slashes); refused rather than matched.
    AmbiguousPath,
    /// The name resolved to a special-range address that no IP/CIDR allow rule covers.
    SpecialAddress {
        /// The address the name resolved to.
        addr: IpAddr,
        /// Its range.
        range: SpecialRange,
    },
    /// The name did not resolve (or to no address at all).
    Unresolved,
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DenyReason::NoRule => f.write_str("no --allow-domain rule covers it"),
            DenyReason::DeniedBy(r) => write!(f, "denied by --deny-domain {r}"),
            DenyReason::PathNotAllowed => {
                f.write_str("the host is allowed only for other plain-HTTP paths")
            }
            DenyReason::AmbiguousPath => {
                f.write_str("the path has dot segments, encoded slashes or a header that rewrites the path or method (X-Original-URL, X-HTTP-Method-Override)")
            }
            DenyReason::SpecialAddress { addr, range } => write!(
                f,
                "it resolved to {addr}, a {} address, which a name rule alone never reaches",
                range.describe()
            ),
            DenyReason::Unresolved => f.write_str("the name did not resolve"),
        }
    }
}

/// The decision on one destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Allowed by this rule (its text as the user wrote it).
    Allow {
        /// The deciding allow rule.
        rule: String,
    },
    /// Refused.
    Deny {
        /// Why.
        reason: DenyReason,
        /// The `--allow-domain` value that would allow it, when one would (none for a deny
        /// rule: that one has to be removed).
        rule_hint: Option<String>,
    },
}

impl Verdict {
    /// Whether the verdict allows.
    pub fn is_allow(&self) -> bool {
        matches!(self, Verdict::Allow { .. })
    }
}

/// `host` or `host:port` as an `--allow-domain` value covering exactly this destination.
pub fn allow_hint(host: &Host, port: u16) -> String {
    if DEFAULT_PORTS.contains(&port) {
        match host {
            Host::Ip(IpAddr::V6(a)) => a.to_string(),
            h => h.to_string(),
        }
    } else {
        format!("{host}:{port}")
    }
}

impl Rules {
    /// Parse allow and deny rule strings.
    pub fn parse<A, D>(allow: A, deny: D) -> Result<Rules, RuleError>
    where
        A: IntoIterator,
        A::Item: AsRef<str>,
        D: IntoIterator,
        D::Item: AsRef<str>,
    {
        Ok(Rules {
            allow: allow
                .into_iter()
                .map(|s| HostRule::parse(s.as_ref()))
                .collect::<Result<_, _>>()?,
            deny: deny
                .into_iter()
                .map(|s| HostRule::parse(s.as_ref()))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Whether any rule exists (no rules: the proxy refuses everything).
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
    }

    fn deny_matches(rule: &HostRule, host: &Host, port: u16, access: Access<'_>) -> bool {
        let port_ok = rule.port.is_none_or(|p| p == port);
        let path_ok = match (&rule.path, access) {
            (None, _) => true,
            // A tunnel could reach the denied path: refuse the tunnel.
            (Some(_), Access::Tunnel) => true,
            // Deny loosely: a spelling a server resolves to the denied path is denied too.
            (Some(p), Access::Http { path }) => p.matches_loose(path),
        };
        port_ok && path_ok && rule.host.matches(host)
    }

    /// Steps 1–2 (no address yet): deny rules, then the allow rule for host, port and path.
    pub fn decide_name(&self, host: &Host, port: u16, access: Access<'_>) -> Verdict {
        if let Some(r) = self
            .deny
            .iter()
            .find(|r| Self::deny_matches(r, host, port, access))
        {
            return Verdict::Deny {
                reason: DenyReason::DeniedBy(r.text.clone()),
                rule_hint: None,
            };
        }
        let mut host_port_matched = false;
        for r in &self.allow {
            if !r.matches_port(port) || !r.host.matches(host) {
                continue;
            }
            match (&r.path, access) {
                (None, _) => {
                    return Verdict::Allow {
                        rule: r.text.clone(),
                    }
                }
                (Some(p), Access::Http { path }) if p.matches(path) => {
                    return Verdict::Allow {
                        rule: r.text.clone(),
                    }
                }
                _ => host_port_matched = true,
            }
        }
        let hint = Some(allow_hint(host, port));
        Verdict::Deny {
            reason: if host_port_matched {
                DenyReason::PathNotAllowed
            } else {
                DenyReason::NoRule
            },
            rule_hint: hint,
        }
    }

    /// The full decision for a destination that resolved to `addr` (for an IP host, `addr`
    /// is that address).
    pub fn decide(&self, host: &Host, port: u16, addr: IpAddr, access: Access<'_>) -> Verdict {
        let verdict = self.decide_name(host, port, access);
        let Verdict::Allow { .. } = verdict else {
            return verdict;
        };
        let addr = canonical_ip(addr);
        let addr_host = Host::Ip(addr);
        if let Some(r) = self
            .deny
            .iter()
            .find(|r| r.host.is_address() && Self::deny_matches(r, &addr_host, port, access))
        {
            return Verdict::Deny {
                reason: DenyReason::DeniedBy(r.text.clone()),
                rule_hint: None,
            };
        }
        if let Some(range) = SpecialRange::of(addr) {
            let unlocked = self
                .allow
                .iter()
                .any(|r| r.host.is_address() && r.host.matches_ip(addr));
            if !unlocked {
                return Verdict::Deny {
                    reason: DenyReason::SpecialAddress { addr, range },
                    rule_hint: Some(addr.to_string()),
                };
            }
        }
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(allow: &[&str], deny: &[&str]) -> Rules {
        Rules::parse(allow, deny).unwrap()
    }
    fn h(s: &str) -> Host {
        Host::parse(s).unwrap()
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }
    const PUBLIC: &str = "93.184.216.34";

    #[test]
    fn deny_wins_and_ports() {
        let r = rules(&["*.example.com", "example.com:8443"], &["bad.example.com"]);
        assert!(r
            .decide(&h("a.example.com"), 443, ip(PUBLIC), Access::Tunnel)
            .is_allow());
        assert!(!r
            .decide(&h("a.example.com"), 22, ip(PUBLIC), Access::Tunnel)
            .is_allow());
        assert!(r
            .decide(&h("example.com"), 8443, ip(PUBLIC), Access::Tunnel)
            .is_allow());
        assert!(!r
            .decide(&h("example.com"), 443, ip(PUBLIC), Access::Tunnel)
            .is_allow());
        let v = r.decide(&h("bad.example.com"), 443, ip(PUBLIC), Access::Tunnel);
        assert!(matches!(
            v,
            Verdict::Deny {
                reason: DenyReason::DeniedBy(_),
                ..
            }
        ));
        // A port-less deny covers every port.
        let v = r.decide_name(&h("bad.example.com"), 9999, Access::Tunnel);
        assert!(matches!(
            v,
            Verdict::Deny {
                reason: DenyReason::DeniedBy(_),
                ..
            }
        ));
    }

    #[test]
    fn special_ranges_need_an_address_rule() {
        let r = rules(&["api.corp:8443", "metadata.example"], &[]);
        let v = r.decide(&h("api.corp"), 8443, ip("10.1.2.3"), Access::Tunnel);
        assert_eq!(
            v,
            Verdict::Deny {
                reason: DenyReason::SpecialAddress {
                    addr: ip("10.1.2.3"),
                    range: SpecialRange::Private
                },
                rule_hint: Some("10.1.2.3".into())
            }
        );
        for a in [
            "169.254.169.254",
            "127.0.0.1",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:169.254.169.254",
        ] {
            assert!(
                !r.decide(&h("metadata.example"), 443, ip(a), Access::Tunnel)
                    .is_allow(),
                "{a}"
            );
        }
        let r = rules(&["api.corp:8443", "10.0.0.0/8"], &[]);
        assert!(r
            .decide(&h("api.corp"), 8443, ip("10.1.2.3"), Access::Tunnel)
            .is_allow());
        // The CIDR unlocks the address, not the port.
        assert!(!r
            .decide(&h("api.corp"), 443, ip("10.1.2.3"), Access::Tunnel)
            .is_allow());
        // IP hosts: the address rule decides.
        assert!(r
            .decide(&h("10.9.9.9"), 443, ip("10.9.9.9"), Access::Tunnel)
            .is_allow());
        assert!(!r
            .decide(&h("11.9.9.9"), 443, ip("11.9.9.9"), Access::Tunnel)
            .is_allow());
        // Deny by CIDR applies to names resolving there.
        let r = rules(&["*.corp", "10.0.0.0/8"], &["10.66.0.0/16"]);
        assert!(!r
            .decide(&h("x.corp"), 443, ip("10.66.1.1"), Access::Tunnel)
            .is_allow());
    }

    #[test]
    fn path_rules_are_plain_http_only() {
        let r = rules(&["http://example.com/api/**"], &[]);
        let a = ip(PUBLIC);
        assert!(r
            .decide(&h("example.com"), 80, a, Access::Http { path: "/api/v1" })
            .is_allow());
        let v = r.decide(&h("example.com"), 80, a, Access::Http { path: "/other" });
        assert!(matches!(
            v,
            Verdict::Deny {
                reason: DenyReason::PathNotAllowed,
                ..
            }
        ));
        let v = r.decide(&h("example.com"), 80, a, Access::Tunnel);
        assert!(matches!(
            v,
            Verdict::Deny {
                reason: DenyReason::PathNotAllowed,
                ..
            }
        ));
        assert!(!r
            .decide(&h("example.com"), 443, a, Access::Tunnel)
            .is_allow());
    }

    #[test]
    fn hints() {
        let r = rules(&[], &[]);
        let v = r.decide_name(&h("pypi.org"), 443, Access::Tunnel);
        assert_eq!(
            v,
            Verdict::Deny {
                reason: DenyReason::NoRule,
                rule_hint: Some("pypi.org".into())
            }
        );
        let v = r.decide_name(&h("pypi.org"), 8080, Access::Tunnel);
        assert!(matches!(v, Verdict::Deny { rule_hint: Some(ref s), .. } if s == "pypi.org:8080"));
        let v = r.decide_name(&h("::1"), 8080, Access::Tunnel);
        assert!(matches!(v, Verdict::Deny { rule_hint: Some(ref s), .. } if s == "[::1]:8080"));
    }
}

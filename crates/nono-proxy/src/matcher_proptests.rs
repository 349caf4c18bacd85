//! Property tests: the matcher and the decision against a small reference model written
//! independently (string and bit operations on the rule text), and the inet_aton reader
//! against addresses spelled every way the resolver accepts.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use crate::host::Host;
use crate::rule::{cidr_contains, HostRule};
use crate::rules::{Access, Rules};

fn bit(ip: IpAddr, i: u32) -> bool {
    match ip {
        IpAddr::V4(a) => a.octets()[(i / 8) as usize] & (0x80 >> (i % 8)) != 0,
        IpAddr::V6(a) => a.octets()[(i / 8) as usize] & (0x80 >> (i % 8)) != 0,
    }
}

/// Reference: the first `len` bits agree.
fn model_cidr(net: IpAddr, len: u8, ip: IpAddr) -> bool {
    net.is_ipv4() == ip.is_ipv4() && (0..u32::from(len)).all(|i| bit(net, i) == bit(ip, i))
}

/// Reference special ranges (an independent table).
fn model_special(ip: IpAddr) -> bool {
    const V4: &[(&str, u8)] = &[
        ("127.0.0.0", 8),
        ("10.0.0.0", 8),
        ("172.16.0.0", 12),
        ("192.168.0.0", 16),
        ("100.64.0.0", 10),
        ("169.254.0.0", 16),
        ("0.0.0.0", 8),
        ("224.0.0.0", 3),
    ];
    const V6: &[(&str, u8)] = &[
        ("::1", 128),
        ("::", 128),
        ("fe80::", 10),
        ("fc00::", 7),
        ("ff00::", 8),
    ];
    let table: &[(&str, u8)] = if ip.is_ipv4() { V4 } else { V6 };
    table
        .iter()
        .any(|(n, l)| model_cidr(n.parse().unwrap(), *l, ip))
}

/// Reference match of a rule text's host part (the universe below only has these forms).
fn model_host_match(rule_host: &str, host: &str, addr_host: Option<IpAddr>) -> bool {
    if let Some((net, len)) = rule_host.split_once('/') {
        return addr_host
            .is_some_and(|a| model_cidr(net.parse().unwrap(), len.parse().unwrap(), a));
    }
    if let Ok(ip) = rule_host.parse::<IpAddr>() {
        return addr_host == Some(ip);
    }
    if addr_host.is_some() {
        return false;
    }
    match rule_host.strip_prefix("*.") {
        Some(sfx) => host.ends_with(&format!(".{sfx}")),
        None => host == rule_host,
    }
}

fn split_rule(text: &str) -> (&str, Option<u16>) {
    match text.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, Some(p.parse().unwrap())),
        _ => (text, None),
    }
}

/// Reference decision: deny (port-less covers every port) wins; allow needs host and port
/// (port-less: 80/443); a name landing on a special address needs an address rule covering it.
fn model_decide(allow: &[String], deny: &[String], host: &str, port: u16, addr: IpAddr) -> bool {
    let host_ip: Option<IpAddr> = host.parse().ok();
    let deny_hit = deny.iter().any(|r| {
        let (h, p) = split_rule(r);
        p.is_none_or(|p| p == port)
            && (model_host_match(h, host, host_ip)
                || model_host_match(h, "", Some(addr))
                    && (h.contains('/') || h.parse::<IpAddr>().is_ok()))
    });
    if deny_hit {
        return false;
    }
    let allow_hit = allow.iter().any(|r| {
        let (h, p) = split_rule(r);
        p.map_or(port == 80 || port == 443, |p| p == port) && model_host_match(h, host, host_ip)
    });
    if !allow_hit {
        return false;
    }
    if host_ip.is_none() && model_special(addr) {
        return allow.iter().any(|r| {
            let (h, _) = split_rule(r);
            (h.contains('/') || h.parse::<IpAddr>().is_ok()) && model_host_match(h, "", Some(addr))
        });
    }
    true
}

fn rule_text() -> impl Strategy<Value = String> {
    let host = prop_oneof![
        Just("a.x".to_owned()),
        Just("b.a.x".to_owned()),
        Just("*.x".to_owned()),
        Just("*.a.x".to_owned()),
        Just("x".to_owned()),
        Just("10.0.0.1".to_owned()),
        Just("10.0.0.0/8".to_owned()),
        Just("10.0.0.0/30".to_owned()),
        Just("127.0.0.0/8".to_owned()),
        Just("93.184.0.0/16".to_owned()),
        Just("0.0.0.0/0".to_owned()),
    ];
    (
        host,
        prop::option::of(prop_oneof![Just(80u16), Just(443u16), Just(8443u16)]),
    )
        .prop_map(|(h, p)| match p {
            Some(p) => format!("{h}:{p}"),
            None => h,
        })
}

fn query_host() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a.x".to_owned()),
        Just("b.a.x".to_owned()),
        Just("c.b.a.x".to_owned()),
        Just("x".to_owned()),
        Just("ax".to_owned()),
        Just("a.xx".to_owned()),
        Just("10.0.0.1".to_owned()),
        Just("10.0.0.3".to_owned()),
        Just("10.9.9.9".to_owned()),
        Just("93.184.216.34".to_owned()),
        Just("127.0.0.1".to_owned()),
    ]
}

fn query_addr() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        Just("93.184.216.34".parse().unwrap()),
        Just("10.0.0.1".parse().unwrap()),
        Just("10.0.0.2".parse().unwrap()),
        Just("127.0.0.1".parse().unwrap()),
        Just("169.254.169.254".parse().unwrap()),
        Just("8.8.8.8".parse().unwrap()),
        any::<u32>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
    ]
}

/// Spell an IPv4 address the way inet_aton accepts: 1–4 parts, each dec/hex/octal.
fn spell(a: u32, parts: usize, radixes: &[u8]) -> String {
    let b = a.to_be_bytes();
    let nums: Vec<u64> = match parts {
        1 => vec![u64::from(a)],
        2 => vec![u64::from(b[0]), u64::from(a & 0x00ff_ffff)],
        3 => vec![u64::from(b[0]), u64::from(b[1]), u64::from(a & 0xffff)],
        _ => b.iter().map(|x| u64::from(*x)).collect(),
    };
    nums.iter()
        .zip(radixes.iter().cycle())
        .map(|(n, r)| match r % 3 {
            0 => format!("{n}"),
            1 => format!("0x{n:x}"),
            _ => format!("0{n:o}"),
        })
        .collect::<Vec<_>>()
        .join(".")
}

proptest! {
    #[test]
    fn cidr_matches_the_bitwise_model(net in any::<u32>(), len in 0u8..=32, ip in any::<u32>()) {
        let (n, a) = (IpAddr::V4(net.into()), IpAddr::V4(ip.into()));
        prop_assert_eq!(cidr_contains(n, len, a), model_cidr(n, len, a));
    }

    #[test]
    fn cidr6_matches_the_bitwise_model(net in any::<u128>(), len in 0u8..=128, ip in any::<u128>(), share in 0u32..=128) {
        // Make shared prefixes likely.
        let mask = if share == 0 { 0 } else { u128::MAX << (128 - share) };
        let ip = (net & mask) | (ip & !mask);
        let (n, a) = (IpAddr::V6(Ipv6Addr::from(net)), IpAddr::V6(Ipv6Addr::from(ip)));
        prop_assert_eq!(cidr_contains(n, len, a), model_cidr(n, len, a));
    }

    #[test]
    fn special_ranges_match_the_table(ip in any::<u32>()) {
        let a = IpAddr::V4(ip.into());
        prop_assert_eq!(crate::rules::SpecialRange::of(a).is_some(), model_special(a));
    }

    #[test]
    fn every_inet_aton_spelling_is_the_address(a in any::<u32>(), parts in 1usize..=4, radixes in prop::collection::vec(any::<u8>(), 4)) {
        let s = spell(a, parts, &radixes);
        prop_assert_eq!(Host::parse(&s).unwrap(), Host::Ip(IpAddr::V4(a.into())), "{}", s);
        // IPv4-mapped IPv6 is the same address.
        let mapped = format!("[::ffff:{}]", Ipv4Addr::from(a));
        prop_assert_eq!(Host::parse(&mapped).unwrap(), Host::Ip(IpAddr::V4(a.into())));
    }

    #[test]
    fn decide_matches_the_model(
        allow in prop::collection::vec(rule_text(), 0..5),
        deny in prop::collection::vec(rule_text(), 0..3),
        host in query_host(),
        port in prop_oneof![Just(80u16), Just(443u16), Just(8443u16), Just(22u16)],
        addr in query_addr(),
    ) {
        let rules = Rules::parse(&allow, &deny).unwrap();
        let h = Host::parse(&host).unwrap();
        // An IP host connects to itself.
        let addr = h.ip().unwrap_or(addr);
        let got = rules.decide(&h, port, addr, Access::Tunnel).is_allow();
        prop_assert_eq!(got, model_decide(&allow, &deny, &host, port, addr),
            "allow={:?} deny={:?} {}:{} -> {}", allow, deny, host, port, addr);
    }

    #[test]
    fn rule_parsing_never_panics_and_is_case_and_dot_insensitive(s in "[a-zA-Z0-9.*:/\\[\\]-]{0,40}") {
        if let Ok(r) = HostRule::parse(&s) {
            let upper = HostRule::parse(&s.to_ascii_uppercase());
            prop_assert_eq!(Some(&r.host), upper.as_ref().ok().map(|u| &u.host));
        }
    }
}

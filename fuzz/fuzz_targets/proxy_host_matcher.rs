//! Fuzz target: arbitrary text into the proxy's host/CIDR rule parser and matcher
//! (`nono_proxy::HostRule`, `Host`, `Rules::decide`), checked against an oracle.
//!
//! Input: `RULE \n HOST \n ADDR-BYTES`. Checks: no panic; a parsed host prints and reparses to
//! itself (one canonical form); an exact rule matches only its own name, a `*.` rule only
//! names ending in `.suffix` (never the apex), a CIDR exactly the addresses whose first `len`
//! bits agree (bit-by-bit oracle); a special-range address reached through a name rule is
//! never allowed without an address rule.
#![no_main]

use std::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use nono_proxy::{Access, Host, HostPattern, HostRule, Rules, SpecialRange};

fn bit(ip: IpAddr, i: u32) -> bool {
    let o: Vec<u8> = match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    o[(i / 8) as usize] & (0x80 >> (i % 8)) != 0
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\n');
    let rule_text = parts.next().unwrap_or("");
    let host_text = parts.next().unwrap_or("");
    let addr_bytes = parts.next().unwrap_or("").as_bytes();

    let host = Host::parse(host_text);
    if let Ok(h) = &host {
        let printed = h.to_string();
        assert_eq!(
            Host::parse(&printed).as_ref(),
            Ok(h),
            "{printed:?} does not reparse"
        );
    }
    let Ok(rule) = HostRule::parse(rule_text) else {
        return;
    };
    let Ok(host) = host else {
        return;
    };
    let got = rule.host.matches(&host);
    let want = match (&rule.host, &host) {
        (HostPattern::Exact(n), Host::Name(h)) => n == h,
        (HostPattern::Subdomains(s), Host::Name(h)) => h.ends_with(&format!(".{s}")),
        (HostPattern::Ip(a), Host::Ip(b)) => a == b,
        (HostPattern::Cidr(net, len), Host::Ip(b)) => {
            net.is_ipv4() == b.is_ipv4() && (0..u32::from(*len)).all(|i| bit(*net, i) == bit(*b, i))
        }
        _ => false,
    };
    assert_eq!(got, want, "rule {rule_text:?} vs host {host_text:?}");

    // A name rule alone never reaches a special address.
    let addr: IpAddr = match addr_bytes.len() {
        n if n >= 16 => IpAddr::from(<[u8; 16]>::try_from(&addr_bytes[..16]).unwrap()),
        n if n >= 4 => IpAddr::from(<[u8; 4]>::try_from(&addr_bytes[..4]).unwrap()),
        _ => return,
    };
    if rule.host.is_address() {
        return;
    }
    let rules = Rules {
        allow: vec![rule],
        deny: vec![],
    };
    if let Host::Name(_) = host {
        let v = rules.decide(&host, 443, addr, Access::Tunnel);
        if SpecialRange::of(addr).is_some() {
            assert!(!v.is_allow(), "{host} -> {addr} allowed by a name rule");
        }
    }
});

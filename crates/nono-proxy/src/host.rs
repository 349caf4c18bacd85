//! Host names and addresses as the proxy compares them: one canonical form per host.
//!
//! A [`Host`] is either a DNS name (lower case, no trailing dot, IDN labels in punycode) or an
//! IP address. Strings that the system resolver would read as an IPv4 address — `2130706433`,
//! `0x7f.1`, `127.1`, `0177.0.0.1` (inet_aton(3): one to four parts, decimal, `0x` hex or
//! leading-zero octal, the last part filling the remaining bytes) — are addresses here too,
//! and IPv4-mapped IPv6 (`::ffff:127.0.0.1`) is its IPv4 address, so a rule judges the address
//! the connection would reach, never a spelling.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::rule_error::RuleError;

/// A canonical destination host.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Host {
    /// A DNS name: ASCII, lower case, no trailing dot, IDN labels as `xn--` punycode.
    Name(String),
    /// An IP address (IPv4-mapped IPv6 already folded to IPv4).
    Ip(IpAddr),
}

impl Host {
    /// Parse a host as it appears in a rule, a CONNECT target or a URL authority.
    ///
    /// Accepts `[v6]` brackets, a trailing dot, any case, Unicode labels (converted to
    /// punycode) and every IPv4 spelling inet_aton(3) accepts. Rejects empty labels, labels
    /// over 63 bytes, names over 253 bytes and characters outside `[a-z0-9-_]` after IDN
    /// conversion.
    pub fn parse(s: &str) -> Result<Host, RuleError> {
        let bad = |why: &'static str| RuleError::BadHost {
            host: s.to_owned(),
            why,
        };
        if s.is_empty() {
            return Err(bad("empty host"));
        }
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner
                .strip_suffix(']')
                .ok_or_else(|| bad("unterminated '['"))?;
            let v6: Ipv6Addr = inner.parse().map_err(|_| bad("not an IPv6 address"))?;
            return Ok(Host::Ip(canonical_ip(IpAddr::V6(v6))));
        }
        if let Ok(v6) = s.parse::<Ipv6Addr>() {
            return Ok(Host::Ip(canonical_ip(IpAddr::V6(v6))));
        }
        let trimmed = s.strip_suffix('.').unwrap_or(s);
        if trimmed.is_empty() {
            return Err(bad("empty host"));
        }
        if let Some(v4) = parse_ipv4_like_resolver(trimmed) {
            return Ok(Host::Ip(IpAddr::V4(v4)));
        }
        let mut out = String::with_capacity(trimmed.len());
        for (i, label) in trimmed.split('.').enumerate() {
            if i > 0 {
                out.push('.');
            }
            if label.is_empty() {
                return Err(bad("empty label"));
            }
            let lower: String = label.chars().flat_map(char::to_lowercase).collect();
            let ascii = if lower.is_ascii() {
                lower
            } else {
                format!(
                    "xn--{}",
                    punycode_encode(&lower).ok_or_else(|| bad("IDN label"))?
                )
            };
            if ascii.len() > 63 {
                return Err(bad("label longer than 63 bytes"));
            }
            if !ascii
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(bad("character not allowed in a host name"));
            }
            out.push_str(&ascii);
        }
        if out.len() > 253 {
            return Err(bad("name longer than 253 bytes"));
        }
        // An all-numeric last label that inet_aton refused (e.g. `1.2.3.4.5`, `256.1.1.1`)
        // is neither an address nor a resolvable name: refuse rather than guess.
        let last = out.rsplit('.').next().unwrap_or("");
        if !last.is_empty() && looks_numeric(last) {
            return Err(bad("looks like an IP address but is not a valid one"));
        }
        Ok(Host::Name(out))
    }

    /// The address, when this host is one.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Host::Ip(ip) => Some(*ip),
            Host::Name(_) => None,
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::Ip(IpAddr::V4(a)) => write!(f, "{a}"),
            Host::Ip(IpAddr::V6(a)) => write!(f, "[{a}]"),
        }
    }
}

/// Fold IPv4-mapped IPv6 (`::ffff:a.b.c.d`) to IPv4; everything else unchanged.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

fn looks_numeric(label: &str) -> bool {
    let l = label.as_bytes();
    l.iter().all(u8::is_ascii_digit)
        || (l.len() > 2 && (l.starts_with(b"0x")) && l[2..].iter().all(u8::is_ascii_hexdigit))
}

/// inet_aton(3): `a`, `a.b`, `a.b.c`, `a.b.c.d`; each part decimal, `0x`/`0X` hex or
/// leading-`0` octal; the last part fills the bytes the others left. `None` if not an address.
pub fn parse_ipv4_like_resolver(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut nums = [0u64; 4];
    for (i, p) in parts.iter().enumerate() {
        nums[i] = parse_inet_part(p)?;
    }
    let n = parts.len();
    let mut value: u64 = 0;
    for (i, &num) in nums.iter().enumerate().take(n - 1) {
        if num > 0xff {
            return None;
        }
        value |= num << (8 * (3 - i));
    }
    let last = nums[n - 1];
    let room_bits = 8 * (5 - n as u32); // n=1: 32 bits, n=2: 24, n=3: 16, n=4: 8
    if room_bits < 64 && last >> room_bits != 0 {
        return None;
    }
    value |= last;
    u32::try_from(value).ok().map(Ipv4Addr::from)
}

fn parse_inet_part(p: &str) -> Option<u64> {
    if p.is_empty() {
        return None;
    }
    let (digits, radix) = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
        // glibc accepts a bare "0x" as 0.
        if h.is_empty() {
            return Some(0);
        }
        (h, 16)
    } else if p.len() > 1 && p.starts_with('0') {
        (&p[1..], 8)
    } else {
        (p, 10)
    };
    if !digits.bytes().all(|b| (b as char).is_digit(radix)) {
        return None;
    }
    // Anything above u32 is refused anyway; cap the length so parsing cannot overflow.
    if digits.len() > 12 {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// RFC 3492 punycode encoding of one label (without the `xn--` prefix).
/// `None` on arithmetic overflow (labels that long are refused anyway).
pub fn punycode_encode(input: &str) -> Option<String> {
    const BASE: u32 = 36;
    const TMIN: u32 = 1;
    const TMAX: u32 = 26;
    const SKEW: u32 = 38;
    const DAMP: u32 = 700;
    const INITIAL_BIAS: u32 = 72;
    const INITIAL_N: u32 = 128;

    fn adapt(mut delta: u32, numpoints: u32, first: bool) -> u32 {
        delta /= if first { DAMP } else { 2 };
        delta += delta / numpoints;
        let mut k = 0;
        while delta > ((BASE - TMIN) * TMAX) / 2 {
            delta /= BASE - TMIN;
            k += BASE;
        }
        k + (((BASE - TMIN + 1) * delta) / (delta + SKEW))
    }
    fn digit(d: u32) -> char {
        let b = if d < 26 {
            b'a' + d as u8
        } else {
            b'0' + (d - 26) as u8
        };
        b as char
    }

    let cps: Vec<u32> = input.chars().map(|c| c as u32).collect();
    let mut out: String = input.chars().filter(char::is_ascii).collect();
    let b = out.len() as u32;
    let mut h = b;
    if b > 0 {
        out.push('-');
    }
    let mut n = INITIAL_N;
    let mut delta: u32 = 0;
    let mut bias = INITIAL_BIAS;
    let total = cps.len() as u32;
    while h < total {
        let m = *cps.iter().filter(|&&c| c >= n).min()?;
        delta = delta.checked_add((m - n).checked_mul(h + 1)?)?;
        n = m;
        for &c in &cps {
            if c < n {
                delta = delta.checked_add(1)?;
            }
            if c == n {
                let mut q = delta;
                let mut k = BASE;
                loop {
                    let t = if k <= bias {
                        TMIN
                    } else if k >= bias + TMAX {
                        TMAX
                    } else {
                        k - bias
                    };
                    if q < t {
                        break;
                    }
                    out.push(digit(t + (q - t) % (BASE - t)));
                    q = (q - t) / (BASE - t);
                    k += BASE;
                }
                out.push(digit(q));
                bias = adapt(delta, h + 1, h == b);
                delta = 0;
                h += 1;
            }
        }
        delta = delta.checked_add(1)?;
        n = n.checked_add(1)?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> Host {
        Host::Ip(IpAddr::V4(s.parse().unwrap()))
    }

    #[test]
    fn odd_ipv4_spellings_are_the_address() {
        for s in [
            "127.0.0.1",
            "2130706433",
            "0x7f.1",
            "127.1",
            "0177.0.0.1",
            "0x7f000001",
            "127.0.1",
            "017700000001",
            "127.0.0.1.",
            "[::ffff:127.0.0.1]",
            "::ffff:7f00:1",
        ] {
            assert_eq!(Host::parse(s).unwrap(), v4("127.0.0.1"), "{s}");
        }
        assert_eq!(Host::parse("0").unwrap(), v4("0.0.0.0"));
        assert_eq!(Host::parse("169.254.43518").unwrap(), v4("169.254.169.254"));
    }

    #[test]
    fn not_addresses() {
        assert!(Host::parse("256.1.1.1").is_err());
        assert!(Host::parse("1.2.3.4.5").is_err());
        assert!(Host::parse("4294967296").is_err());
        assert!(Host::parse("08.1.1.1").is_err());
        assert_eq!(
            Host::parse("1.2.3.example").unwrap(),
            Host::Name("1.2.3.example".into())
        );
    }

    #[test]
    fn names_are_canonical() {
        assert_eq!(
            Host::parse("Example.COM.").unwrap(),
            Host::Name("example.com".into())
        );
        assert_eq!(
            Host::parse("bücher.example").unwrap(),
            Host::Name("xn--bcher-kva.example".into())
        );
        assert_eq!(
            Host::parse("MÜNCHEN.de").unwrap(),
            Host::Name("xn--mnchen-3ya.de".into())
        );
        assert_eq!(
            Host::parse("xn--bcher-kva.example").unwrap(),
            Host::parse("BÜCHER.example").unwrap()
        );
        for bad in ["", ".", "a..b", "a b", "a/b", "a:b", "[::1", "ex@mple.com"] {
            assert!(Host::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn punycode_vectors() {
        // RFC 3492 7.1 (A) Arabic and (L) Japanese.
        assert_eq!(
            punycode_encode("\u{0644}\u{064A}\u{0647}\u{0645}\u{0627}\u{0628}\u{062A}\u{0643}\u{0644}\u{0645}\u{0648}\u{0634}\u{0639}\u{0631}\u{0628}\u{064A}\u{061F}").unwrap(),
            "egbpdaj6bu4bxfgehfvwxn"
        );
        assert_eq!(
            punycode_encode("3年B組金八先生").unwrap(),
            "3B-ww4c5e180e575a65lsy2b"
        );
        assert_eq!(punycode_encode("bücher").unwrap(), "bcher-kva");
    }
}

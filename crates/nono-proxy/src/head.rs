//! The request-head parser: bytes in, a [`RequestHead`] with a classified [`Target`] out.
//! Sans-IO (the server feeds what it has read), fuzzed by `fuzz/fuzz_targets/proxy_head.rs`.
//!
//! ```text
//! METHOD SP target SP HTTP/1.x CRLF      target: authority (CONNECT), absolute http:// URL,
//! (name: value CRLF){0,max_headers}              or origin-form /path (credential routes)
//! CRLF
//! ```
//!
//! httparse does the tokenising; this module bounds it (`max_bytes` before the head is
//! complete, `max_headers`) and turns the target into a canonical [`Host`] and port.

use crate::host::Host;

/// A request target, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `CONNECT host:port`.
    Authority {
        /// Destination host.
        host: Host,
        /// Destination port (required).
        port: u16,
    },
    /// `GET http://host[:port]/path?query`.
    Absolute {
        /// Destination host.
        host: Host,
        /// Destination port (80 when absent).
        port: u16,
        /// `/path?query` (at least `/`).
        path_and_query: String,
    },
    /// `GET /path?query` (a request to the proxy itself: credential routes).
    Origin(String),
}

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// Method (case as sent).
    pub method: String,
    /// The classified target.
    pub target: Target,
    /// Minor HTTP version (0 or 1).
    pub version: u8,
    /// Headers in order, names as sent.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl RequestHead {
    /// Every value of a header (case-insensitive name).
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// The single value of a header: `Ok(None)` if absent, `Err` if repeated.
    pub fn header<'a>(&'a self, name: &'a str) -> Result<Option<&'a [u8]>, HeadError> {
        let mut it = self.header_values(name);
        let first = it.next();
        if it.next().is_some() {
            return Err(HeadError::Malformed(
                "a header that must be single is repeated",
            ));
        }
        Ok(first)
    }
}

/// Why a head was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeadError {
    /// More bytes than the limit without a complete head.
    #[error("request head larger than {0} bytes")]
    TooLarge(usize),
    /// More headers than the limit.
    #[error("more than {0} request headers")]
    TooManyHeaders(usize),
    /// Not HTTP/1.x, or a syntax error.
    #[error("malformed request: {0}")]
    Malformed(&'static str),
    /// The target is not an authority, an http:// URL or an origin-form path.
    #[error("unsupported request target: {0}")]
    BadTarget(&'static str),
}

/// Parse a head from the start of `buf`. `Ok(None)`: incomplete, read more (the caller
/// checks `buf.len()` against `max_bytes` too). `Ok(Some((head, n)))`: `n` bytes consumed;
/// what follows belongs to the body or tunnel.
pub fn parse_request_head(
    buf: &[u8],
    max_bytes: usize,
    max_headers: usize,
) -> Result<Option<(RequestHead, usize)>, HeadError> {
    let mut headers = vec![httparse::EMPTY_HEADER; max_headers];
    let mut req = httparse::Request::new(&mut headers);
    let status = match req.parse(buf) {
        Ok(s) => s,
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooManyHeaders(max_headers)),
        Err(_) => return Err(HeadError::Malformed("not an HTTP/1.x request head")),
    };
    let n = match status {
        httparse::Status::Partial => {
            if buf.len() >= max_bytes {
                return Err(HeadError::TooLarge(max_bytes));
            }
            return Ok(None);
        }
        httparse::Status::Complete(n) => n,
    };
    if n > max_bytes {
        return Err(HeadError::TooLarge(max_bytes));
    }
    let method = req
        .method
        .ok_or(HeadError::Malformed("no method"))?
        .to_owned();
    let raw_target = req.path.ok_or(HeadError::Malformed("no target"))?;
    let version = req.version.ok_or(HeadError::Malformed("no version"))?;
    let target = classify_target(&method, raw_target)?;
    let headers = req
        .headers
        .iter()
        .map(|h| (h.name.to_owned(), h.value.to_vec()))
        .collect();
    Ok(Some((
        RequestHead {
            method,
            target,
            version,
            headers,
        },
        n,
    )))
}

/// `host:port` with a required or default port; `[v6]` bracketed.
pub(crate) fn parse_authority(
    s: &str,
    default_port: Option<u16>,
) -> Result<(Host, u16), HeadError> {
    if s.contains(['@', '/', '?', '#', ' ']) || s.is_empty() {
        return Err(HeadError::BadTarget("authority with user info or path"));
    }
    let (host, port) = if s.starts_with('[') {
        let end = s
            .find(']')
            .ok_or(HeadError::BadTarget("unterminated '['"))?;
        let rest = &s[end + 1..];
        let port = match rest.strip_prefix(':') {
            Some(p) => Some(p),
            None if rest.is_empty() => None,
            None => return Err(HeadError::BadTarget("junk after ']'")),
        };
        (&s[..=end], port)
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        Some(p) => {
            if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(HeadError::BadTarget("bad port"));
            }
            match p.parse::<u16>() {
                Ok(0) | Err(_) => return Err(HeadError::BadTarget("bad port")),
                Ok(n) => n,
            }
        }
        None => default_port.ok_or(HeadError::BadTarget("CONNECT needs host:port"))?,
    };
    let host = Host::parse(host).map_err(|_| HeadError::BadTarget("bad host"))?;
    Ok((host, port))
}

fn classify_target(method: &str, t: &str) -> Result<Target, HeadError> {
    if method.eq_ignore_ascii_case("CONNECT") {
        let (host, port) = parse_authority(t, None)?;
        return Ok(Target::Authority { host, port });
    }
    if t.starts_with('/') {
        return Ok(Target::Origin(t.to_owned()));
    }
    let lower = t.get(..8).unwrap_or(t).to_ascii_lowercase();
    if lower.starts_with("https://") {
        return Err(HeadError::BadTarget(
            "https:// URLs go through CONNECT, not as an absolute-form request",
        ));
    }
    if !lower.starts_with("http://") {
        return Err(HeadError::BadTarget("not an http:// URL"));
    }
    let rest = &t[7..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let (host, port) = parse_authority(authority, Some(80))?;
    let path_and_query = if path.is_empty() {
        "/".to_owned()
    } else if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_owned()
    };
    if path_and_query.contains('#') {
        return Err(HeadError::BadTarget("fragment in request target"));
    }
    Ok(Target::Absolute {
        host,
        port,
        path_and_query,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Option<(RequestHead, usize)>, HeadError> {
        parse_request_head(s.as_bytes(), 1024, 8)
    }

    #[test]
    fn targets() {
        let (h, n) = parse("CONNECT Example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\nXX")
            .unwrap()
            .unwrap();
        assert_eq!(n, 59);
        assert_eq!(
            h.target,
            Target::Authority {
                host: Host::Name("example.com".into()),
                port: 443
            }
        );
        let (h, _) = parse("GET http://2130706433:8080?x HTTP/1.1\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            h.target,
            Target::Absolute {
                host: Host::Ip("127.0.0.1".parse().unwrap()),
                port: 8080,
                path_and_query: "/?x".into()
            }
        );
        let (h, _) = parse("GET /openai/v1/x HTTP/1.1\r\n\r\n").unwrap().unwrap();
        assert_eq!(h.target, Target::Origin("/openai/v1/x".into()));
        let (h, _) = parse("CONNECT [::1]:22 HTTP/1.1\r\n\r\n").unwrap().unwrap();
        assert_eq!(
            h.target,
            Target::Authority {
                host: Host::Ip("::1".parse().unwrap()),
                port: 22
            }
        );
    }

    #[test]
    fn refusals_and_partials() {
        assert_eq!(
            parse("GET http://a.example/ HTTP/1.1\r\nHost: a").unwrap(),
            None
        );
        assert!(matches!(
            parse("CONNECT example.com HTTP/1.1\r\n\r\n"),
            Err(HeadError::BadTarget(_))
        ));
        assert!(matches!(
            parse("GET https://x/ HTTP/1.1\r\n\r\n"),
            Err(HeadError::BadTarget(_))
        ));
        assert!(matches!(
            parse("GET http://u@x/ HTTP/1.1\r\n\r\n"),
            Err(HeadError::BadTarget(_))
        ));
        assert!(matches!(
            parse("GET ftp://x/ HTTP/1.1\r\n\r\n"),
            Err(HeadError::BadTarget(_))
        ));
        assert!(matches!(
            parse("CONNECT x:0 HTTP/1.1\r\n\r\n"),
            Err(HeadError::BadTarget(_))
        ));
        assert!(matches!(
            parse("garbage\r\n\r\n"),
            Err(HeadError::Malformed(_))
        ));
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "a: b\r\n".repeat(9));
        assert!(matches!(parse(&many), Err(HeadError::TooManyHeaders(8))));
        let big = format!("GET / HTTP/1.1\r\nx: {}", "a".repeat(2000));
        assert!(matches!(parse(&big), Err(HeadError::TooLarge(1024))));
    }

    #[test]
    fn split_anywhere_gives_the_same_head() {
        let full = b"GET http://example.com/a HTTP/1.1\r\nHost: example.com\r\nX: y\r\n\r\nBODY";
        let whole = parse_request_head(full, 1024, 8).unwrap().unwrap();
        for cut in 0..full.len() {
            match parse_request_head(&full[..cut], 1024, 8).unwrap() {
                None => assert!(cut < whole.1),
                Some(h) => assert_eq!(h, whole),
            }
        }
    }
}

//! URL open requests: validation of a URL a sandboxed program asks the supervisor to open
//! (OAuth logins) against the profile's allowed origins, and opening it outside the sandbox.
//!
//! The parser here is deliberately strict and small (no dependency): it accepts
//! `http(s)://host[:port][/path][?query][#fragment]` and refuses anything it does not fully
//! understand, because a URL that the validator and the browser parse differently is how an
//! allow-list is bypassed.

/// Why a URL was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// Not `http://` or `https://`.
    #[error("only http and https URLs can be opened (got scheme `{scheme}`)")]
    Scheme {
        /// The scheme found (lower-cased), or the whole prefix if there was none.
        scheme: String,
    },
    /// Control characters, spaces, backslashes or non-ASCII characters.
    #[error("the URL contains a control character, space, backslash or non-ASCII character at byte {at}")]
    BadCharacter {
        /// Byte offset.
        at: usize,
    },
    /// `user:password@host`.
    #[error("URLs with a user name or password (`user@host`) are refused")]
    Userinfo,
    /// Missing, empty or malformed host or port.
    #[error("malformed URL authority `{authority}`: {why}")]
    Authority {
        /// The `host[:port]` part.
        authority: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The origin is not allowed by the profile.
    #[error("origin {origin} is not in the allowed origins (add it to supervisor.allowed_origins in the profile)")]
    NotAllowed {
        /// `scheme://host:port`.
        origin: String,
    },
    /// An allowed-origin entry is malformed.
    #[error("allowed origin `{entry}` is malformed: {why} (expected e.g. https://example.com or https://*.example.com:8443)")]
    BadAllowedOrigin {
        /// The entry.
        entry: String,
        /// What is wrong with it.
        why: String,
    },
    /// The opener could not be started.
    #[error("cannot start `{program}` to open the URL: {source}")]
    Spawn {
        /// `xdg-open`, `open`, or the program given to nono-supervisor's `open_outside_with`.
        program: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The opener exited unsuccessfully.
    #[error("`{program}` failed to open the URL ({status})")]
    OpenerFailed {
        /// `xdg-open`, `open`, or the program given to nono-supervisor's `open_outside_with`.
        program: String,
        /// Its exit status.
        status: String,
    },
}

/// A URL's origin: scheme, lower-cased host and port (the default port filled in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `http` or `https`.
    pub scheme: String,
    /// Lower-cased host name, IPv4 address or `[IPv6]` literal.
    pub host: String,
    /// The port (80/443 when not given).
    pub port: u16,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// Parse a URL's origin, refusing everything outside the strict subset described in the
/// module docs.
pub fn origin_of(url: &str) -> Result<Origin, UrlError> {
    if let Some(at) = url
        .bytes()
        .position(|b| b.is_ascii_control() || b == b' ' || b == b'\\' || !b.is_ascii())
    {
        return Err(UrlError::BadCharacter { at });
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(UrlError::Scheme {
            scheme: url
                .split(':')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase(),
        });
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(UrlError::Scheme { scheme });
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    parse_authority(&scheme, authority, false)
}

/// `host[:port]`, with `*.` allowed at the start of the host when `wildcard`.
fn parse_authority(scheme: &str, authority: &str, wildcard: bool) -> Result<Origin, UrlError> {
    let bad = |why| UrlError::Authority {
        authority: authority.to_owned(),
        why,
    };
    if authority.contains('@') {
        return Err(UrlError::Userinfo);
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let close = v6.find(']').ok_or_else(|| bad("unclosed [ in IPv6 host"))?;
        let host = &v6[..close];
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err(bad("malformed IPv6 literal"));
        }
        let after = &v6[close + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(bad("unexpected text after the IPv6 host")),
        };
        (format!("[{}]", host.to_ascii_lowercase()), port)
    } else {
        let (h, p) = match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        let h = h.strip_suffix('.').unwrap_or(h).to_ascii_lowercase();
        let labels = h.strip_prefix("*.").filter(|_| wildcard).unwrap_or(&h);
        if labels.is_empty() {
            return Err(bad("empty host"));
        }
        let ok_label = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if !labels.split('.').all(ok_label) {
            return Err(bad(
                "host must be DNS labels (letters, digits, - and _) or an IP address",
            ));
        }
        (h, p)
    };
    let port = match port {
        None => {
            if scheme == "https" {
                443
            } else {
                80
            }
        }
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            p.parse::<u16>().map_err(|_| bad("port out of range"))?
        }
        Some(_) => return Err(bad("port must be a number from 0 to 65535")),
    };
    Ok(Origin {
        scheme: scheme.to_owned(),
        host,
        port,
    })
}

/// Parse an allowed-origin entry: `scheme://host[:port]` or `scheme://*.domain[:port]`.
fn parse_allowed(entry: &str) -> Result<Origin, UrlError> {
    let bad = |why: &str| UrlError::BadAllowedOrigin {
        entry: entry.to_owned(),
        why: why.to_owned(),
    };
    let (scheme, rest) = entry.split_once("://").ok_or_else(|| bad("no scheme"))?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(bad("scheme must be http or https"));
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '#']) {
        return Err(bad("an origin has no path, query or fragment"));
    }
    parse_authority(&scheme, rest, true).map_err(|e| bad(&e.to_string()))
}

/// Whether `origin` matches the allowed entry: same scheme and port, and the same host, or
/// for `*.example.com` a host that ends in `.example.com` (not `example.com` itself).
fn origin_matches(allowed: &Origin, origin: &Origin) -> bool {
    if allowed.scheme != origin.scheme || allowed.port != origin.port {
        return false;
    }
    match allowed.host.strip_prefix("*.") {
        Some(domain) => origin
            .host
            .strip_suffix(domain)
            .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
        None => allowed.host == origin.host,
    }
}

/// Check `url` against `allowed_origins`: http/https only, no user info, no control
/// characters, and an origin equal to an entry (or under a `*.domain` entry).
pub fn validate<S: AsRef<str>>(url: &str, allowed_origins: &[S]) -> Result<(), UrlError> {
    let origin = origin_of(url)?;
    for entry in allowed_origins {
        if origin_matches(&parse_allowed(entry.as_ref())?, &origin) {
            return Ok(());
        }
    }
    Err(UrlError::NotAllowed {
        origin: origin.to_string(),
    })
}

/// Check every allowed-origin entry (for profile validation).
pub fn check_allowed_origins<S: AsRef<str>>(allowed_origins: &[S]) -> Result<(), UrlError> {
    for entry in allowed_origins {
        parse_allowed(entry.as_ref())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALLOWED: &[&str] = &[
        "https://github.com",
        "https://*.example.com",
        "http://localhost:8080",
        "https://[::1]:9443",
    ];

    fn ok(url: &str) -> bool {
        validate(url, ALLOWED).is_ok()
    }

    #[test]
    fn allowed_origins() {
        assert!(ok(
            "https://github.com/login/oauth/authorize?client_id=x&state=y"
        ));
        assert!(ok("https://GitHub.com"));
        assert!(ok("https://github.com:443/"));
        assert!(ok("https://github.com./x"));
        assert!(ok("https://auth.example.com/cb#frag"));
        assert!(ok("https://a.b.example.com"));
        assert!(ok("http://localhost:8080/callback"));
        assert!(ok("https://[::1]:9443/x"));
    }

    #[test]
    fn refused_origins() {
        assert!(!ok("http://github.com"), "scheme is part of the origin");
        assert!(!ok("https://github.com:8443"), "port is part of the origin");
        assert!(
            !ok("https://gist.github.com"),
            "exact entries match exactly"
        );
        assert!(
            !ok("https://example.com"),
            "*.example.com needs a subdomain"
        );
        assert!(!ok("https://evilexample.com"));
        assert!(!ok("https://example.com.evil.net"));
        assert!(!ok("http://localhost"));
        assert!(matches!(
            validate("https://evil.net", ALLOWED),
            Err(UrlError::NotAllowed { origin }) if origin == "https://evil.net:443"
        ));
    }

    #[test]
    fn refused_shapes() {
        for (url, what) in [
            ("file:///etc/passwd", "scheme"),
            ("javascript:alert(1)", "scheme"),
            ("ftp://github.com", "scheme"),
            ("github.com", "scheme"),
            ("-x https://github.com", "char"),
            ("https://user:pw@github.com", "userinfo"),
            ("https://github.com@evil.net", "userinfo"),
            ("https://github.com\n.evil.net", "char"),
            ("https://github.com\t", "char"),
            ("https://github.com\\@evil.net", "char"),
            ("https://gith\u{fc}b.com", "char"),
            ("https://", "authority"),
            ("https://:443", "authority"),
            ("https://github.com:99999", "authority"),
            ("https://github.com:-1", "authority"),
            ("https://github.com:", "authority"),
            ("https://-bad-.com", "authority"),
            ("https://a..b", "authority"),
            ("https://[::1", "authority"),
            ("https://*.example.com", "authority"),
        ] {
            let e = validate(url, ALLOWED).unwrap_err();
            let kind = match e {
                UrlError::Scheme { .. } => "scheme",
                UrlError::BadCharacter { .. } => "char",
                UrlError::Userinfo => "userinfo",
                UrlError::Authority { .. } => "authority",
                _ => "other",
            };
            assert_eq!(kind, what, "{url:?}: {e}");
        }
    }

    #[test]
    fn malformed_allowed_entries_are_errors() {
        assert!(
            check_allowed_origins(&["https://github.com", "https://*.example.com:8443"]).is_ok()
        );
        for bad in [
            "github.com",
            "ftp://x.com",
            "https://x.com/path",
            "https://",
            "https://a b",
        ] {
            assert!(
                matches!(
                    check_allowed_origins(&[bad]),
                    Err(UrlError::BadAllowedOrigin { .. })
                ),
                "{bad}"
            );
        }
    }
}

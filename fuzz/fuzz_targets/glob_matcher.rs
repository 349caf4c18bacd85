//! Fuzz target: `nono_policy::policy::Glob`, the approve rules' and environment patterns'
//! matcher, checked against a plain backtracking oracle.
//!
//! Input: `PATTERN \n PATH`. Checks: no panic (no pattern fails to compile; matching is never
//! exponential enough to time out); `matches` agrees with the oracle (`*` and `?` within one
//! component, `**` any number of whole components, `\` escapes, `.` components and repeated
//! slashes ignored on both sides); a pattern without wildcards matches only its own
//! components; the literal prefix of a pattern is a prefix of every path it matches.
#![no_main]

use std::path::{Component, Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use nono_policy::policy::Glob;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(u8),
    Any,
    One,
}

fn comps(s: &[u8]) -> Vec<&[u8]> {
    s.split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .collect()
}

fn compile(c: &[u8]) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            b'\\' if i + 1 < c.len() => {
                out.push(Tok::Lit(c[i + 1]));
                i += 1;
            }
            b'*' => out.push(Tok::Any),
            b'?' => out.push(Tok::One),
            b => out.push(Tok::Lit(b)),
        }
        i += 1;
    }
    out
}

fn comp_matches(t: &[Tok], n: &[u8]) -> bool {
    match (t.first(), n.first()) {
        (None, None) => true,
        (None, Some(_)) => false,
        (Some(Tok::Any), _) => comp_matches(&t[1..], n) || (!n.is_empty() && comp_matches(t, &n[1..])),
        (Some(_), None) => false,
        (Some(Tok::One), Some(_)) => comp_matches(&t[1..], &n[1..]),
        (Some(Tok::Lit(b)), Some(c)) => b == c && comp_matches(&t[1..], &n[1..]),
    }
}

fn segs_match(p: &[&[u8]], n: &[&[u8]]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some(s) if *s == b"**" => segs_match(&p[1..], n) || (!n.is_empty() && segs_match(p, &n[1..])),
        Some(s) => !n.is_empty() && comp_matches(&compile(s), n[0]) && segs_match(&p[1..], &n[1..]),
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (pattern, path) = text.split_once('\n').unwrap_or((&text, ""));
    // Bound the oracle's backtracking, not the matcher's.
    let stars = pattern.bytes().filter(|&b| b == b'*').count();
    if pattern.len() > 64 || path.len() > 64 || stars > 6 || pattern.contains('\0') || path.contains('\0') {
        let _ = Glob::new(pattern).matches(Path::new(path));
        return;
    }
    let glob = Glob::new(pattern);
    assert_eq!(glob.as_str(), pattern);
    let got = glob.matches(Path::new(path));

    // A `\` ending a component is literal, as the matcher documents for a trailing `\`.
    let pc = comps(pattern.as_bytes());
    let nc = comps(path.as_bytes());
    let absolute = pattern.starts_with('/') == path.starts_with('/');
    if !pattern.contains('\\') {
        let want = absolute && segs_match(&pc, &nc);
        assert_eq!(got, want, "pattern {pattern:?} vs path {path:?}");
    }
    if got {
        let prefix = glob.literal_prefix();
        // `.` components are ignored by the matcher (documented), so compare without them:
        // `./a/x` matches `a/*` and starts with `a` once its leading `.` is dropped.
        let without_dots: PathBuf = Path::new(path)
            .components()
            .filter(|c| !matches!(c, Component::CurDir))
            .collect();
        assert!(
            without_dots.starts_with(&prefix),
            "{path:?} matched {pattern:?} but does not start with its literal prefix {prefix:?}"
        );
    }
    if !glob.has_wildcards() && !pattern.contains('\\') && got {
        assert_eq!(pc, nc, "plain {pattern:?} matched {path:?}");
    }
});

//! `Glob`: the small path-pattern matcher used by approve rules and environment patterns
//! (`*` within one component, `?` one byte, `**` across components; no regex).
//!
//! Patterns and paths are compared component by component, never as strings, so
//! `/home/u/.ssh` never matches `/home/u/.sshfoo` and `a//b`, `a/./b` and a trailing `/`
//! are the same as `a/b`. Matching is on bytes (paths are byte strings on Unix).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

/// One piece of a component pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// Bytes that must appear as they are.
    Lit(Vec<u8>),
    /// `*`: any run of bytes (within one component).
    Star,
    /// `?`: exactly one byte.
    One,
}

/// One component of a path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    /// `**`: zero or more whole components.
    Deep,
    /// A component pattern.
    Comp(Vec<Tok>),
}

/// A compiled path pattern.
///
/// - `*` matches any run of bytes inside one component (it never crosses `/`);
/// - `?` matches exactly one byte;
/// - `**` as a whole component matches zero or more components (`/a/**` matches `/a`,
///   `/a/b` and `/a/b/c`; `/a/**/z` matches `/a/z` and `/a/b/c/z`);
/// - `**` inside a component (`a**b`) is the same as `*`;
/// - `\` makes the next character literal (`\*` is a star in a file name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    source: String,
    absolute: bool,
    segs: Vec<Seg>,
}

impl Glob {
    /// Compile a pattern. Never fails: every string is a pattern (a trailing `\` is literal).
    #[must_use]
    pub fn new(pattern: &str) -> Glob {
        let absolute = pattern.starts_with('/');
        let segs = split_components(pattern.as_bytes())
            .into_iter()
            .filter(|c| !c.is_empty() && c.as_slice() != b".")
            .map(|c| {
                if c.as_slice() == b"**" {
                    Seg::Deep
                } else {
                    Seg::Comp(compile_component(&c))
                }
            })
            .collect();
        Glob {
            source: pattern.to_owned(),
            absolute,
            segs,
        }
    }

    /// The pattern as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the pattern contains any wildcard (`*`, `?`) — a plain path otherwise.
    #[must_use]
    pub fn has_wildcards(&self) -> bool {
        self.segs.iter().any(|s| match s {
            Seg::Deep => true,
            Seg::Comp(toks) => toks.iter().any(|t| !matches!(t, Tok::Lit(_))),
        })
    }

    /// The leading components that contain no wildcard, as a path (`/home/u/p` for
    /// `/home/u/p/**/*.rs`). Used to canonicalise the fixed part of a rule once.
    #[must_use]
    pub fn literal_prefix(&self) -> std::path::PathBuf {
        let mut out = std::path::PathBuf::from(if self.absolute { "/" } else { "" });
        for seg in &self.segs {
            match seg {
                Seg::Comp(toks)
                    if toks.len() <= 1 && toks.iter().all(|t| matches!(t, Tok::Lit(_))) =>
                {
                    if let Some(Tok::Lit(b)) = toks.first() {
                        out.push(OsStr::from_bytes(b));
                    }
                }
                _ => break,
            }
        }
        out
    }

    /// Whether `path` matches the whole pattern. `.` components and repeated or trailing
    /// slashes in `path` are ignored; `..` is compared literally (canonicalise first).
    #[must_use]
    pub fn matches(&self, path: &Path) -> bool {
        if path.is_absolute() != self.absolute {
            return false;
        }
        let comps: Vec<&[u8]> = path
            .components()
            .filter_map(|c| match c {
                Component::Normal(s) => Some(s.as_bytes()),
                Component::ParentDir => Some(b"..".as_slice()),
                Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
            })
            .collect();
        match_segs(&self.segs, &comps)
    }

    /// Match one name (an environment variable, a single file name) against a pattern that
    /// has no `/`: `AWS_*` matches `AWS_SECRET_ACCESS_KEY`.
    #[must_use]
    pub fn matches_name(&self, name: &[u8]) -> bool {
        match self.segs.as_slice() {
            [Seg::Comp(toks)] => match_component(toks, name),
            [Seg::Deep] => true,
            _ => false,
        }
    }
}

impl std::fmt::Display for Glob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

/// Split on `/`, keeping `\/` inside a component.
fn split_components(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![Vec::new()];
    let mut escaped = false;
    for &b in bytes {
        let cur = out.last_mut().expect("never empty");
        if escaped {
            cur.push(b'\\');
            cur.push(b);
            escaped = false;
        } else if b == b'\\' {
            escaped = true;
        } else if b == b'/' {
            out.push(Vec::new());
        } else {
            cur.push(b);
        }
    }
    if escaped {
        out.last_mut().expect("never empty").push(b'\\');
    }
    out
}

fn compile_component(raw: &[u8]) -> Vec<Tok> {
    let mut toks: Vec<Tok> = Vec::new();
    let mut i = 0;
    let push_lit = |toks: &mut Vec<Tok>, b: u8| match toks.last_mut() {
        Some(Tok::Lit(l)) => l.push(b),
        _ => toks.push(Tok::Lit(vec![b])),
    };
    while i < raw.len() {
        match raw[i] {
            b'\\' if i + 1 < raw.len() => {
                push_lit(&mut toks, raw[i + 1]);
                i += 2;
                continue;
            }
            b'*' => {
                if toks.last() != Some(&Tok::Star) {
                    toks.push(Tok::Star);
                }
            }
            b'?' => toks.push(Tok::One),
            b => push_lit(&mut toks, b),
        }
        i += 1;
    }
    toks
}

/// Component matcher: classic backtracking over the last `*` (linear in practice).
fn match_component(toks: &[Tok], name: &[u8]) -> bool {
    // The shapes most patterns have (an environment variable's name, `LD_*`), and a quick
    // refusal of the rest: a pattern that starts (ends) with literal bytes matches only a
    // name that starts (ends) with them.
    match toks {
        [Tok::Lit(b)] => return name == b.as_slice(),
        [Tok::Lit(b), Tok::Star] => return name.starts_with(b),
        _ => {}
    }
    if let Some(Tok::Lit(b)) = toks.first() {
        if !name.starts_with(b) {
            return false;
        }
    }
    if let Some(Tok::Lit(b)) = toks.last() {
        if !name.ends_with(b) {
            return false;
        }
    }
    match_program(toks, name)
}

/// [`match_component`] for any pattern: the tokens as a byte program, then two pointers.
fn match_program(toks: &[Tok], name: &[u8]) -> bool {
    // Expand tokens into a byte-level program for the two-pointer algorithm.
    #[derive(Clone, Copy)]
    enum P {
        Byte(u8),
        One,
        Star,
    }
    // On the stack for the usual short pattern: this runs for every environment variable
    // against every pattern, and for every brokered open against the approve rules.
    let len: usize = toks
        .iter()
        .map(|t| match t {
            Tok::Lit(b) => b.len(),
            Tok::Star | Tok::One => 1,
        })
        .sum();
    let mut stack = [P::Star; 64];
    let mut heap = Vec::new();
    let prog: &mut [P] = if len <= stack.len() {
        &mut stack[..len]
    } else {
        heap.resize(len, P::Star);
        &mut heap
    };
    let mut i = 0;
    for t in toks {
        match t {
            Tok::Lit(b) => {
                for &c in b {
                    prog[i] = P::Byte(c);
                    i += 1;
                }
            }
            Tok::Star => {
                prog[i] = P::Star;
                i += 1;
            }
            Tok::One => {
                prog[i] = P::One;
                i += 1;
            }
        }
    }
    let prog = &*prog;
    let (mut p, mut n) = (0usize, 0usize);
    let mut back: Option<(usize, usize)> = None;
    while n < name.len() {
        match prog.get(p) {
            Some(P::Byte(c)) if *c == name[n] => {
                p += 1;
                n += 1;
            }
            Some(P::One) => {
                p += 1;
                n += 1;
            }
            Some(P::Star) => {
                back = Some((p, n));
                p += 1;
            }
            _ => match back {
                Some((bp, bn)) => {
                    p = bp + 1;
                    n = bn + 1;
                    back = Some((bp, bn + 1));
                }
                None => return false,
            },
        }
    }
    prog[p..].iter().all(|t| matches!(t, P::Star))
}

/// Segment matcher with `**` handled by trying every split (memoised, so patterns with
/// many `**` stay polynomial).
fn match_segs(segs: &[Seg], comps: &[&[u8]]) -> bool {
    let mut memo = vec![None; (segs.len() + 1) * (comps.len() + 1)];
    match_from(segs, comps, 0, 0, &mut memo)
}

fn match_from(
    segs: &[Seg],
    comps: &[&[u8]],
    si: usize,
    ci: usize,
    memo: &mut Vec<Option<bool>>,
) -> bool {
    let key = si * (comps.len() + 1) + ci;
    if let Some(v) = memo[key] {
        return v;
    }
    let v = match segs.get(si) {
        None => ci == comps.len(),
        Some(Seg::Deep) => {
            (ci..=comps.len()).any(|next| match_from(segs, comps, si + 1, next, memo))
        }
        Some(Seg::Comp(toks)) => {
            ci < comps.len()
                && match_component(toks, comps[ci])
                && match_from(segs, comps, si + 1, ci + 1, memo)
        }
    };
    memo[key] = Some(v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(p: &str, path: &str) -> bool {
        Glob::new(p).matches(Path::new(path))
    }

    #[test]
    fn star_stays_inside_one_component() {
        assert!(m("/a/*.rs", "/a/x.rs"));
        assert!(m("/a/*.rs", "/a/.rs"));
        assert!(!m("/a/*.rs", "/a/b/x.rs"));
        assert!(m("/a/*", "/a/b"));
        assert!(!m("/a/*", "/a"));
        assert!(m("/a/x*y*z", "/a/xaaybbz"));
        assert!(!m("/a/x*y*z", "/a/xaaybb"));
        assert!(m("/a/?", "/a/b"));
        assert!(!m("/a/?", "/a/bc"));
    }

    #[test]
    fn double_star_crosses_components() {
        assert!(m("/a/**", "/a"));
        assert!(m("/a/**", "/a/b/c/d"));
        assert!(m("/a/**/z", "/a/z"));
        assert!(m("/a/**/z", "/a/b/c/z"));
        assert!(!m("/a/**/z", "/a/b/c/zz"));
        assert!(m("/**/*.pem", "/etc/ssl/x.pem"));
        assert!(m("/a/**/b/**/c", "/a/x/b/y/z/c"));
        assert!(!m("/a/**", "/ab"));
    }

    #[test]
    fn components_not_prefixes() {
        assert!(m("/home/u/.ssh", "/home/u/.ssh"));
        assert!(!m("/home/u/.ssh", "/home/u/.sshfoo"));
        assert!(!m("/home/u/.ssh/**", "/home/u/.sshfoo/id"));
        assert!(m("/home/u/.ssh/**", "/home/u//.ssh/./id/"));
        assert!(
            !m("/a", "a"),
            "relative path never matches an absolute pattern"
        );
    }

    #[test]
    fn escapes_and_literal_prefix() {
        assert!(m(r"/a/\*", "/a/*"));
        assert!(!m(r"/a/\*", "/a/b"));
        assert!(!Glob::new("/a/b").has_wildcards());
        assert!(Glob::new("/a/**").has_wildcards());
        assert_eq!(
            Glob::new("/home/u/p/**/*.rs").literal_prefix(),
            Path::new("/home/u/p")
        );
        assert_eq!(Glob::new("/x*/y").literal_prefix(), Path::new("/"));
    }

    #[test]
    fn names() {
        let g = Glob::new("AWS_*");
        assert!(g.matches_name(b"AWS_SECRET_ACCESS_KEY"));
        assert!(!g.matches_name(b"XAWS_"));
        assert!(Glob::new("LD_PRELOAD").matches_name(b"LD_PRELOAD"));
        assert!(!Glob::new("LD_PRELOAD").matches_name(b"LD_PRELOAD2"));
    }

    fn component() -> impl Strategy<Value = String> {
        "[a-z.]{1,6}".prop_filter("not . or ..", |s| s != "." && s != "..")
    }

    proptest! {
        /// The shortcuts of `match_component` (a literal name, `PREFIX*`, the literal head
        /// and tail) decide as the general program does.
        #[test]
        fn component_shortcuts_agree_with_the_program(
            pat in "[ab*?]{0,6}",
            name in "[ab]{0,7}",
        ) {
            let toks = compile_component(pat.as_bytes());
            prop_assert_eq!(
                match_component(&toks, name.as_bytes()),
                match_program(&toks, name.as_bytes()),
                "{} vs {}", pat, name
            );
        }

        #[test]
        fn deep_suffix_matches_any_tail(
            prefix in prop::collection::vec(component(), 0..4),
            tail in prop::collection::vec(component(), 0..5),
        ) {
            let pat = format!("/{}/**", prefix.join("/"));
            let path = format!("/{}/{}", prefix.join("/"), tail.join("/"));
            prop_assert!(m(&pat, &path), "{} !~ {}", pat, path);
        }

        #[test]
        fn deep_prefix_matches_any_head(
            head in prop::collection::vec(component(), 0..5),
            last in component(),
        ) {
            let pat = format!("/**/{}", last);
            let path = format!("/{}/{}", head.join("/"), last);
            prop_assert!(m(&pat, &path));
        }

        #[test]
        fn deep_never_matches_outside_its_prefix(
            prefix in prop::collection::vec(component(), 1..4),
            other in component(),
            tail in prop::collection::vec(component(), 0..4),
        ) {
            prop_assume!(other != prefix[0]);
            let pat = format!("/{}/**", prefix.join("/"));
            let mut p2 = prefix.clone();
            p2[0] = other;
            let path = format!("/{}/{}", p2.join("/"), tail.join("/"));
            prop_assert!(!m(&pat, &path));
        }

        #[test]
        fn star_never_crosses_a_slash(
            a in component(), b in component(), c in component(),
        ) {
            let two = format!("/{a}/{b}");
            let three = format!("/{a}/{b}/{c}");
            prop_assert!(!m("/*", &two));
            prop_assert!(m("/*/*/*", &three));
            prop_assert!(m("/**", &three));
        }

        #[test]
        fn literal_pattern_is_equality(
            a in prop::collection::vec(component(), 1..5),
            b in prop::collection::vec(component(), 1..5),
        ) {
            let pa = format!("/{}", a.join("/"));
            let pb = format!("/{}", b.join("/"));
            prop_assert_eq!(m(&pa, &pb), a == b);
        }
    }
}

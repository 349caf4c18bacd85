//! Fuzz target: arbitrary path bytes into the Seatbelt (SBPL) string-literal escaper and profile generator.
//!
//! Checks, for the escaper alone (`nono_sandbox::seatbelt::escape_for_fuzzing`): non-UTF-8
//! is `NonUtf8Path`; a control character is `ControlCharacter` naming the first one;
//! everything else becomes a literal that a small, strict SBPL string reader (only `\"` and
//! `\\` escapes, no raw control characters) reads back to exactly the input, consuming the
//! whole literal. Then end to end: the same bytes as a deny rule under a directory that does
//! not exist (so `CapabilitySet::deny` canonicalises leniently, touching nothing), and the
//! generated profile's deny line must hold exactly that path as one literal followed by
//! `))` — the path cannot end the string or the form early.
#![no_main]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use nono_sandbox::seatbelt::{self, SeatbeltError};
use nono_sandbox::CapabilitySet;

/// A parent that does not exist, so the deny rule keeps the fuzzed name lexically.
const MISSING_ROOT: &str = "/nono-fuzz-missing-7f3a9c";

/// Read one SBPL string literal at the start of `s`: `(contents, bytes consumed)`, or
/// `None` if it is not a well-formed literal under the strict rule.
fn read_literal(s: &str) -> Option<(String, usize)> {
    let mut chars = s.char_indices();
    if chars.next()?.1 != '"' {
        return None;
    }
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, i + 1)),
            '\\' => match chars.next()?.1 {
                e @ ('"' | '\\') => out.push(e),
                _ => return None,
            },
            c if c.is_control() => return None,
            c => out.push(c),
        }
    }
    None
}

/// What the escaper must say about `path`, whatever the function under test does.
fn expected_error(path: &Path) -> Option<Result<(), u32>> {
    let Some(text) = path.to_str() else {
        return Some(Ok(())); // NonUtf8Path
    };
    text.chars()
        .find(|c| c.is_control())
        .map(|c| Err(u32::from(c)))
}

fn check_literal(path: &Path, result: Result<String, SeatbeltError>) {
    match (expected_error(path), result) {
        (None, Ok(lit)) => {
            let (back, used) = read_literal(&lit)
                .unwrap_or_else(|| panic!("not a well-formed literal: {lit:?} for {path:?}"));
            assert_eq!(used, lit.len(), "literal {lit:?} has trailing text");
            assert_eq!(
                Path::new(&back),
                path,
                "literal {lit:?} reads back differently"
            );
            assert_eq!(back.as_bytes(), path.as_os_str().as_bytes());
        }
        (Some(Ok(())), Err(SeatbeltError::NonUtf8Path { path: p })) => assert_eq!(p, path),
        (Some(Err(code)), Err(SeatbeltError::ControlCharacter { path: p, code: got })) => {
            assert_eq!(p, path);
            assert_eq!(got, code, "the error names the first control character");
        }
        (want, got) => panic!("escaping {path:?}: expected {want:?}, got {got:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let path = Path::new(OsStr::from_bytes(data));
    check_literal(path, seatbelt::escape_for_fuzzing(path));

    // End to end through a CapabilitySet deny rule and the generated profile.
    let mut full = MISSING_ROOT.as_bytes().to_vec();
    full.push(b'/');
    full.extend_from_slice(data);
    let mut caps = CapabilitySet::new();
    if caps
        .deny(Path::new(OsStr::from_bytes(&full)), "fuzz")
        .is_err()
    {
        return; // NUL, `..` past the missing part, ...: refused before any profile exists
    }
    let deny_path = caps.denies()[0].path.clone();
    match seatbelt::profile(&caps) {
        Ok(text) => {
            assert!(
                expected_error(&deny_path).is_none(),
                "{deny_path:?} was embedded"
            );
            let prefix = "(deny file-read* file-write* file-ioctl file-map-executable process-exec (subpath ";
            let lines: Vec<&str> = text.lines().filter(|l| l.starts_with(prefix)).collect();
            assert_eq!(lines.len(), 1, "one deny line expected in\n{text}");
            let rest = &lines[0][prefix.len()..];
            let (back, used) = read_literal(rest)
                .unwrap_or_else(|| panic!("deny line literal is malformed: {rest:?}"));
            assert_eq!(Path::new(&back), deny_path);
            assert_eq!(&rest[used..], "))", "text after the literal in {rest:?}");
        }
        Err(e) => check_literal(&deny_path, Err(e)),
    }
});

//! Escaping of text the sandboxed command chose (a path, a reason, a URL) wherever nono shows
//! or writes it: the prompt, the denial report, `nono why`, logs and audit records. One
//! definition, so a name with ESC, CR, LF, an OSC sequence or a bidi override can neither
//! move the cursor, erase or forge nono's own lines on the user's terminal, nor start a new
//! line in a file nono writes.
//!
//! Escaped: every control character (C0, DEL, C1), the zero-width and bidirectional
//! formatting characters (U+200B–U+200F, U+202A–U+202E, U+2066–U+2069) and the Unicode line
//! and paragraph separators (U+2028, U+2029). In paths, bytes that are not UTF-8 are shown as
//! `\xNN` (each byte, so two different names never look alike).

use std::path::Path;

/// Whether `c` must not reach a terminal or a line-oriented file as itself.
#[must_use]
pub fn is_hostile(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}'
        )
}

/// `text` with every hostile character written as `\u{XX}`.
#[must_use]
pub fn text(text: &str) -> String {
    capped(text, usize::MAX)
}

/// [`text`], cut after `max_chars` characters (then `…` is appended).
#[must_use]
pub fn capped(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.chars().enumerate() {
        if i == max_chars {
            out.push('…');
            break;
        }
        if is_hostile(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// A path for display: [`text`] of its UTF-8 parts, each byte that is not UTF-8 as `\xNN`.
#[must_use]
pub fn path(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::new();
    for chunk in path.as_os_str().as_bytes().utf8_chunks() {
        out.push_str(&text(chunk.valid()));
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// A path as one shell word, for a command a message tells the user to run (`nono profile
/// trust PATH`): the path itself, in single quotes unless it is only characters no shell
/// treats specially. The name may be the sandboxed run's choice (a profile's `extends` names
/// the next file): pasted unquoted, `$(...)` in it would run outside the sandbox.
///
/// A name with a character [`path`] escapes (a control or bidi character, a byte that is not
/// UTF-8) is written `$'...'` with each of those bytes, `'` and `\` as `\xNN`: the same bytes
/// again in bash, zsh, ksh and POSIX.1-2024 `sh`, and still no terminal control on the
/// screen (`'/a\u{a}b'`, as [`path`] shows it, named another path, so the suggested flag
/// failed). A shell without `$'...'` (dash) reads `$` and one quoted word: another path, but
/// nothing runs (no `'` inside ends the quote early).
#[must_use]
pub fn shell_path(p: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let bytes = p.as_os_str().as_bytes();
    let plain = |s: &str| !s.chars().any(is_hostile);
    let exact = bytes
        .utf8_chunks()
        .all(|c| c.invalid().is_empty() && plain(c.valid()));
    if !exact {
        let mut out = String::from("$'");
        for chunk in bytes.utf8_chunks() {
            for c in chunk.valid().chars() {
                if is_hostile(c) || c == '\'' || c == '\\' {
                    let mut buf = [0; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        out.push_str(&format!("\\x{b:02x}"));
                    }
                } else {
                    out.push(c);
                }
            }
            for b in chunk.invalid() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        }
        out.push('\'');
        return out;
    }
    let s = path(p);
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:,+@%".contains(&b))
    {
        s
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// JSON text (as `serde_json` writes it) with every hostile character written as a JSON
/// `\uXXXX` escape — still the same JSON value. `serde_json` escapes C0 controls inside strings
/// but writes DEL, C1 controls and bidi overrides as themselves; a raw newline outside a string
/// (pretty-printed JSON) is structure and is kept.
#[must_use]
pub fn json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c != '\n' && is_hostile(c) {
            // Every hostile character is in the Basic Multilingual Plane: one \uXXXX.
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_in_a_command_is_one_shell_word() {
        assert_eq!(
            shell_path(Path::new("/home/u/p-1.json")),
            "/home/u/p-1.json"
        );
        assert_eq!(
            shell_path(Path::new("/p/$(touch x) `y`;z.json")),
            "'/p/$(touch x) `y`;z.json'"
        );
        assert_eq!(shell_path(Path::new("/p/it's")), "'/p/it'\\''s'");
        // Exact bytes: a control character, a byte that is not UTF-8, a bidi override.
        use std::os::unix::ffi::OsStrExt;
        let odd = std::ffi::OsStr::from_bytes(b"/p/a\nb\xff'\\\xe2\x80\xae$(x)");
        assert_eq!(
            shell_path(Path::new(odd)),
            "$'/p/a\\x0ab\\xff\\x27\\x5c\\xe2\\x80\\xae$(x)'"
        );
    }

    #[test]
    fn terminal_controls_are_escaped_and_plain_text_is_kept() {
        assert_eq!(text("/home/u/ä b.txt"), "/home/u/ä b.txt");
        let hostile = "/tmp/x\r\nnono: all clear\x1b]0;t\x07\x1b[2K\u{9b}\u{202e}\u{2028}";
        let got = text(hostile);
        assert!(!got.chars().any(is_hostile), "{got:?}");
        assert_eq!(
            got,
            "/tmp/x\\u{d}\\u{a}nono: all clear\\u{1b}]0;t\\u{7}\\u{1b}[2K\\u{9b}\\u{202e}\\u{2028}"
        );
        assert_eq!(capped("abcdef", 3), "abc…");
    }

    #[test]
    fn json_stays_the_same_value_without_hostile_characters() {
        let value = serde_json::json!({ "path": "/a\u{7f}\u{9b}[31m\u{202e}\n\u{1b}" });
        let raw = serde_json::to_string_pretty(&value).unwrap();
        let got = json(&raw);
        assert!(!got.chars().any(|c| c != '\n' && is_hostile(c)), "{got:?}");
        let back: serde_json::Value = serde_json::from_str(&got).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn bytes_that_are_not_utf8_are_shown_each() {
        use std::os::unix::ffi::OsStrExt;
        let p = Path::new(std::ffi::OsStr::from_bytes(b"/tmp/a\xff\xfeb\x1b"));
        assert_eq!(path(p), "/tmp/a\\xff\\xfeb\\u{1b}");
    }
}

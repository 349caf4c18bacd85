//! Seatbelt (macOS): SBPL profile text generated from a `CapabilitySet`; `apply` only on macOS.
//!
//! [`profile`] is pure and compiled and tested on every OS; `apply` (macOS only) hands the
//! text to `sandbox_init(3)`.
//!
//! # Profile layout
//!
//! ```text
//! (version 1)
//! (deny default)                 everything not allowed below is refused
//! baseline                       fork, sysctl-read, two Mach services, signal scope
//! grants, in insertion order     file-read* / file-write* / process-exec ... per FsGrant
//! ancestor metadata              file-read-metadata on the literal ancestors of each grant
//! network                        per NetworkMode
//! deny carve-outs                LAST: in SBPL the last matching rule wins
//! ```
//!
//! A directory grant uses `(subpath "...")` (the directory and everything beneath it), a file
//! grant `(literal "...")` (exactly that path). Deny carve-outs always use `subpath`: a deny
//! path need not exist, so it is not known whether it names a file or a directory, and
//! `subpath` matches the path itself as well as anything beneath it.
//!
//! # String escaping
//!
//! Every path is written as an SBPL (Scheme) string literal: `"` and `\` are escaped with a
//! backslash, every other character is written as itself (non-ASCII as its UTF-8 bytes).
//! A path containing a control character (`char::is_control`: U+0000–U+001F, U+007F–U+009F,
//! which includes NUL and newline) is **rejected** with [`SeatbeltError::ControlCharacter`]
//! naming the path, and a path that is not valid UTF-8 with [`SeatbeltError::NonUtf8Path`].
//! Rejecting instead of escaping keeps the escaper to two rules that every Scheme reader
//! agrees on (`\n`, `\t` and `\xNN` escapes differ between readers), and such paths are
//! almost always a mistake or an attack. Patterns such as `*` or `.` need no escaping:
//! `subpath` and `literal` compare paths literally, they are not regexes. Free text (the
//! grant's origin) only ever appears in `;` comments, with control characters replaced by
//! `?` so it cannot end the comment line.
//!
//! # Differences from the Linux backend
//!
//! - Landlock does not mediate `stat(2)`; Seatbelt does (`file-read-metadata`). The profile
//!   allows metadata reads only on the ancestors of each grant (so path lookup and
//!   `realpath` of a granted path work), so macOS is stricter here.
//! - Abstract Unix sockets do not exist on macOS, so [`Scopes::abstract_unix_socket`] has
//!   nothing to enforce and is ignored.
//! - With [`NetworkMode::Block`] or [`NetworkMode::Ports`], connecting to a path-named Unix
//!   socket is refused too (`(deny default)` covers it); on Linux `AF_UNIX` stays usable.
//!   Hostname resolution goes through the `mDNSResponder` Unix socket on macOS, so it only
//!   works with [`NetworkMode::Allow`].
//! - Seatbelt either applies the whole profile or fails: [`Compat`](crate::Compat) makes no
//!   difference, nothing is ever silently downgraded.
//!
//! [`Scopes::abstract_unix_socket`]: crate::Scopes::abstract_unix_socket

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::caps::{AccessMode, CapabilitySet, DenyKind, FsGrant, FsKind, NetworkMode};

#[cfg(target_os = "macos")]
mod apply;
#[cfg(target_os = "macos")]
pub use apply::apply;

/// Errors generating or applying a Seatbelt profile.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeatbeltError {
    /// A path contains a control character (NUL, newline, ...), which the profile refuses
    /// to embed in a string literal.
    #[error(
        "{path:?}: contains control character U+{code:04X}; Seatbelt profiles refuse such \
         paths (rename the file or leave it out of the capability set)"
    )]
    ControlCharacter {
        /// The offending path.
        path: PathBuf,
        /// The first control character's code point.
        code: u32,
    },
    /// A path is not valid UTF-8; SBPL strings are written as UTF-8.
    #[error(
        "{}: not valid UTF-8; Seatbelt profiles need UTF-8 paths (rename the file or leave \
         it out of the capability set)",
        path.display()
    )]
    NonUtf8Path {
        /// The offending path.
        path: PathBuf,
    },
    /// `sandbox_init` refused the profile or failed to apply it.
    #[error("sandbox_init failed: {message} (run with -v to print the generated profile)")]
    SandboxInit {
        /// The error text `sandbox_init` returned.
        message: String,
    },
}

/// Mach services every sandboxed process may look up. Kept to the two that libc itself
/// needs; anything else (TLS trust evaluation, launch services, ...) is out of scope for a
/// capability set and stays denied.
const BASELINE_MACH_SERVICES: &[(&str, &str)] = &[
    (
        "com.apple.system.opendirectoryd.libinfo",
        "user and group lookups (getpwuid, getgrgid): shells, git and ssh need them",
    ),
    (
        "com.apple.system.notification_center",
        "notify(3), which libc uses e.g. to learn about time zone changes",
    ),
];

/// Generate the SBPL profile text for `caps`.
///
/// Pure: no filesystem access (the paths in `caps` were canonicalised when they were
/// added), same input, same output. See the [module docs](self) for the layout and the
/// escaping rule.
///
/// # Errors
///
/// [`SeatbeltError::ControlCharacter`] or [`SeatbeltError::NonUtf8Path`] for a path that
/// cannot be written safely as an SBPL string literal.
pub fn profile(caps: &CapabilitySet) -> Result<String, SeatbeltError> {
    let mut out = String::with_capacity(1024);
    out.push_str("(version 1)\n");
    out.push_str("; generated by nono from a capability set; do not edit\n");
    out.push_str("(deny default)\n");

    baseline(&mut out, caps);

    if !caps.grants().is_empty() {
        out.push_str("\n; filesystem grants\n");
        for grant in caps.grants() {
            fs_grant(&mut out, grant)?;
        }
        ancestor_metadata(&mut out, caps)?;
    }

    network(&mut out, caps.network());

    if !caps.denies().is_empty() {
        out.push_str(
            "\n; deny carve-outs: after every allow, because the last matching rule wins\n",
        );
        // Read-only carve-outs first, so that a full one inside a read-only one (matched
        // later) wins.
        let read_only = caps.denies().iter().filter(|d| d.kind == DenyKind::Write);
        let full = caps.denies().iter().filter(|d| d.kind == DenyKind::All);
        for deny in read_only.chain(full) {
            let _ = writeln!(out, "; {}", comment_text(&deny.origin.to_string()));
            let what = match deny.kind {
                DenyKind::All => {
                    "file-read* file-write* file-ioctl file-map-executable process-exec"
                }
                DenyKind::Write => "file-write*",
            };
            let _ = writeln!(
                out,
                "(deny {what} (subpath {}))",
                string_literal(&deny.path)?
            );
        }
    }
    Ok(out)
}

/// What any process needs to start and run at all.
fn baseline(out: &mut String, caps: &CapabilitySet) {
    out.push_str("\n; baseline\n");
    out.push_str("; fork and posix_spawn; children inherit this same profile\n");
    out.push_str("(allow process-fork)\n");
    out.push_str(
        "; libc and the runtime read hw.* and kern.* (page size, CPU count, OS version);\n\
         ; read-only, sysctl writes stay denied\n",
    );
    out.push_str("(allow sysctl-read)\n");
    for (name, why) in BASELINE_MACH_SERVICES {
        let _ = writeln!(out, "; {why}");
        let _ = writeln!(out, "(allow mach-lookup (global-name \"{name}\"))");
    }
    if caps.scopes().signal {
        out.push_str(
            "; signals only to processes in this sandbox (itself and its descendants),\n\
             ; like Landlock's signal scope\n",
        );
        out.push_str("(allow signal (target same-sandbox))\n");
    } else {
        out.push_str("; signal scope off: any process the user may signal\n");
        out.push_str("(allow signal)\n");
    }
}

/// The rules for one grant. Read access also allows executing and mapping code from the
/// granted paths (dyld maps libraries with `file-map-executable`), matching Landlock's
/// read set, which includes `EXECUTE`. Write access includes `file-ioctl` (terminals).
fn fs_grant(out: &mut String, grant: &FsGrant) -> Result<(), SeatbeltError> {
    let filter = match grant.kind {
        FsKind::Dir => "subpath",
        FsKind::File => "literal",
    };
    let path = string_literal(&grant.path)?;
    let _ = writeln!(
        out,
        "; {} {} ({})",
        grant.access.as_str(),
        match grant.kind {
            FsKind::Dir => "directory",
            FsKind::File => "file",
        },
        comment_text(&grant.origin.to_string())
    );
    let ops = match grant.access {
        AccessMode::Read => "file-read* process-exec file-map-executable",
        AccessMode::Write => "file-write* file-ioctl",
        AccessMode::ReadWrite => {
            "file-read* file-write* file-ioctl process-exec file-map-executable"
        }
    };
    let _ = writeln!(out, "(allow {ops} ({filter} {path}))");
    Ok(())
}

/// `file-read-metadata` on every strict ancestor of a granted path, so that lookups and
/// `realpath` of the granted path work. Listing is not allowed (`file-read-data`), only
/// `stat`. Sorted and deduplicated so the output is deterministic.
fn ancestor_metadata(out: &mut String, caps: &CapabilitySet) -> Result<(), SeatbeltError> {
    let ancestors: std::collections::BTreeSet<&Path> = caps
        .grants()
        .iter()
        .flat_map(|g| g.path.ancestors().skip(1))
        .collect();
    if ancestors.is_empty() {
        return Ok(());
    }
    out.push_str("; stat() of the directories above each grant (path lookup, realpath)\n");
    out.push_str("(allow file-read-metadata\n");
    for dir in ancestors {
        let _ = writeln!(out, "  (literal {})", string_literal(dir)?);
    }
    out.push_str(")\n");
    Ok(())
}

fn network(out: &mut String, mode: &NetworkMode) {
    out.push_str("\n; network\n");
    match mode {
        NetworkMode::Allow => out.push_str("(allow network*)\n"),
        NetworkMode::Block => {
            out.push_str("; blocked: no rule, (deny default) refuses every network operation\n");
        }
        NetworkMode::Ports { connect, bind } => {
            out.push_str(
                "; TCP only, listed ports only; every other network operation is refused\n",
            );
            if connect.is_empty() && bind.is_empty() {
                out.push_str("; (no ports listed)\n");
            }
            for port in connect {
                let _ = writeln!(out, "(allow network-outbound (remote tcp \"*:{port}\"))");
            }
            for port in bind {
                // bind(2) is network-bind; listen/accept on it is network-inbound.
                let _ = writeln!(out, "(allow network-bind (local tcp \"*:{port}\"))");
                let _ = writeln!(out, "(allow network-inbound (local tcp \"*:{port}\"))");
            }
        }
    }
}

/// `path` as an SBPL string literal (with the quotes). See the module docs for the rule.
fn string_literal(path: &Path) -> Result<String, SeatbeltError> {
    let Some(text) = path.to_str() else {
        return Err(SeatbeltError::NonUtf8Path {
            path: path.to_path_buf(),
        });
    };
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                return Err(SeatbeltError::ControlCharacter {
                    path: path.to_path_buf(),
                    code: u32::from(c),
                })
            }
            c => out.push(c),
        }
    }
    out.push('"');
    Ok(out)
}

// Not API: lets fuzz/fuzz_targets/seatbelt_escaper.rs reach the private escaper directly.
#[doc(hidden)]
pub fn escape_for_fuzzing(path: &Path) -> Result<String, SeatbeltError> {
    string_literal(path)
}

/// Free text for a `;` comment: control characters (which could end the comment line)
/// become `?`.
fn comment_text(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_escapes_quote_and_backslash_only() {
        assert_eq!(
            string_literal(Path::new(r#"/a "b" \c (d); é"#)).unwrap(),
            r#""/a \"b\" \\c (d); é""#
        );
    }

    #[test]
    fn literal_rejects_control_characters_naming_the_path() {
        for bad in ["/a\nb", "/a\tb", "/a\u{7f}", "/a\u{85}b", "/a\rb"] {
            let err = string_literal(Path::new(bad)).unwrap_err();
            assert!(
                matches!(err, SeatbeltError::ControlCharacter { .. }),
                "{bad:?}"
            );
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn literal_rejects_non_utf8() {
        use std::os::unix::ffi::OsStrExt;
        let path = Path::new(std::ffi::OsStr::from_bytes(b"/a/\xff"));
        assert!(matches!(
            string_literal(path),
            Err(SeatbeltError::NonUtf8Path { .. })
        ));
    }

    #[test]
    fn comments_cannot_be_ended_early() {
        assert_eq!(comment_text("a\nb\r(c)"), "a?b?(c)");
    }

    #[test]
    fn empty_set_denies_everything_but_the_baseline() {
        let text = profile(&CapabilitySet::new()).unwrap();
        assert!(text.starts_with("(version 1)\n"));
        assert!(text.contains("(deny default)\n"));
        assert!(!text.contains("file-read*"), "{text}");
        assert!(text.contains("(allow network*)"), "{text}");
    }
}

//! What the supervisor adds on top of Landlock ABI 7 — other processes' `/proc`, pathname Unix
//! sockets, metadata changes — and what stays open without a supervisor (`nono wrap`), as text
//! for `--dry-run` and `nono setup`.
//!
//! The mechanisms live in `broker/procfs.rs`, `broker/unix_socket.rs` and `broker/metadata.rs`;
//! docs/THREAT_MODEL.md has the measurements and the tests.

/// One gap Landlock ABI 7 leaves, and how it is covered with and without a supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Gap {
    /// What the gap is.
    pub name: &'static str,
    /// How a supervised run (`nono run`, `nono shell`) covers it.
    pub supervised: &'static str,
    /// What remains without a supervisor (`nono wrap`, `Sandbox::apply`, `CommandExt`).
    pub unsupervised: &'static str,
}

/// The gaps, in the order they are printed.
pub const GAPS: &[Gap] = &[
    Gap {
        name: "other processes' /proc",
        supervised: "covered: Landlock grants nothing under /proc; the supervisor serves the \
                     sandbox's own processes and an allow-list of system files, refuses others",
        unsupervised: "NOT covered: /proc is granted read-only as the profile says, so \
                       environ/cmdline/status of processes outside the sandbox are readable",
    },
    Gap {
        name: "pathname Unix sockets",
        supervised: "covered: connect/sendto to a pathname socket only when the socket itself \
                     is granted (--allow-file) or, under a directory write grant, is served by \
                     the sandbox's own processes; performed by the supervisor; abstract sockets \
                     refused (datagrams sent with sendmsg are not brokered)",
        unsupervised: "NOT covered: connect() to any pathname socket the process can name \
                       (Landlock ABI 9 would check its path, not who serves it); abstract \
                       sockets are scoped (ABI 6)",
    },
    Gap {
        name: "metadata changes",
        supervised: "covered: chmod/chown/utimes/xattr only inside the write grants (or on an fd \
                     opened for writing), performed by the supervisor",
        unsupervised: "NOT covered: chmod/chown/utimes/setxattr succeed on any file the process \
                       can name, subject only to file ownership",
    },
];

/// The lines `--dry-run` and `nono setup` print: each gap with how it is covered for a run
/// with (`supervised`) or without a supervisor.
#[must_use]
pub fn describe(supervised: bool) -> String {
    let mut out = format!(
        "beyond Landlock ABI 7 ({}):\n",
        if supervised {
            "supervised run"
        } else {
            "no supervisor"
        }
    );
    for g in GAPS {
        let how = if supervised {
            g.supervised
        } else {
            g.unsupervised
        };
        out.push_str(&format!("  {:<24} {how}\n", g.name));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupervised_text_says_what_is_not_covered() {
        let text = describe(false);
        assert_eq!(text.matches("NOT covered").count(), GAPS.len(), "{text}");
        assert!(describe(true).contains("covered:"));
        assert!(!describe(true).contains("NOT covered"));
    }
}

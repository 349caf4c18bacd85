//! What the supervisor adds on top of Landlock ABI 7 — other processes' `/proc`, pathname Unix
//! sockets, metadata changes, other processes' scheduling, inotify watches, the user's
//! terminal after the run — and what stays open without a supervisor (`nono wrap`), as text
//! for `--dry-run` and `nono setup`; and the one gap a capability set can open on purpose:
//! `sendmsg` to pathname datagram sockets once Unix datagram sockets are allowed.
//! (Also `listen()` on an unbound TCP socket under port rules: `broker/tcp_listen.rs`.)
//!
//! The mechanisms live in `broker/procfs.rs`, `broker/unix_socket.rs`, `broker/metadata.rs`,
//! `broker/sched.rs` and `broker/inotify.rs`; docs/THREAT_MODEL.md has the measurements and
//! the tests.

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
                     refused; sendmsg: see unix datagrams",
        unsupervised: "NOT covered: connect() to any pathname socket the process can name \
                       (Landlock ABI 9 would check its path, not who serves it); abstract \
                       sockets are scoped (ABI 6)",
    },
    UNIX_DATAGRAM_REFUSED,
    Gap {
        name: "refused sockets",
        supervised:
            "covered and reported: a socket() the network rules refuse (UDP, ICMP, raw, packet, \
                     netlink under --block-net, port rules or the egress proxy) is trapped, \
                     refused by the supervisor with the errno seccomp gives, and reported with \
                     what allows it",
        unsupervised: "covered, not reported: refused by seccomp (EAFNOSUPPORT/EPROTONOSUPPORT); \
                       the command sees the errno and nono prints nothing (use nono run to see \
                       them)",
    },
    Gap {
        name: "metadata changes",
        supervised: "covered: chmod/chown/utimes/xattr only inside the write grants or an \
                     approve rule (or on an fd opened for writing), performed by the supervisor",
        unsupervised: "NOT covered: chmod/chown/utimes/setxattr succeed on any file the process \
                       can name, subject only to file ownership",
    },
    Gap {
        name: "process scheduling",
        supervised: "covered: sched_setaffinity/sched_setscheduler/sched_setparam/sched_setattr/\
                     ioprio_set of a process outside the sandbox are refused (EPERM) and \
                     reported; setpriority, prlimit and a whole user's I/O priority are refused \
                     by seccomp",
        unsupervised: "NOT covered: sched_setaffinity/sched_setscheduler/sched_setparam/\
                       sched_setattr/ioprio_set reach the user's other processes (a denial of \
                       service: pinning, SCHED_IDLE); setpriority, prlimit and a whole user's \
                       I/O priority are refused by seccomp",
    },
    Gap {
        name: "inotify watches",
        supervised: "covered: inotify_add_watch only inside the read grants and where the \
                     command's own file permissions allow it, performed by the supervisor; \
                     elsewhere refused (EACCES) and reported",
        unsupervised: "NOT covered: inotify_add_watch on any directory the process can read \
                       (subject only to file permissions) reports the names of files created \
                       there and when files are opened or read (~/.ssh/id_rsa)",
    },
    Gap {
        name: "the terminal afterwards",
        supervised: "covered: the command gets a PTY of its own in place of every std stream \
                     that is a terminal, never the user's terminal itself; the PTY ends with \
                     nono, also for whatever the command left holding it",
        unsupervised: "NOT covered: the command holds the user's terminal; a process it leaves \
                       behind can read what is typed after nono returns (use nono run)",
    },
    LISTEN_AUTOBIND,
];

/// `listen()` on a TCP socket never bound: the kernel binds it to a random port on every
/// address, and Landlock's bind rule is not asked (`broker/tcp_listen.rs`). In [`GAPS`].
pub const LISTEN_AUTOBIND: Gap = Gap {
    name: "unbound TCP listen",
    supervised: "covered: with port rules (--allow-connect-port, --allow-bind-port, domain \
                 rules) the supervisor performs listen() itself and refuses (EACCES, reported) \
                 a TCP socket not bound to a port; --block-net refuses internet sockets",
    unsupervised: "NOT covered with port rules (--allow-connect-port, --allow-bind-port): \
                   listen() on a TCP socket never bound binds it to a random port on every \
                   address, reachable from other hosts (use nono run); --block-net refuses \
                   internet sockets",
};

/// `sendmsg`/`sendmmsg` to a pathname datagram socket (the address is in memory: no filter sees
/// it, a supervisor could only check it racily), closed by refusing Unix datagram sockets — the
/// default. In [`GAPS`].
pub const UNIX_DATAGRAM_REFUSED: Gap = Gap {
    name: "unix datagrams",
    supervised: "covered: Unix datagram sockets are refused (socket/socketpair of AF_UNIX \
                 SOCK_DGRAM fail with EACCES and are reported), so sendmsg cannot send to a \
                 pathname datagram socket outside the grants (/dev/log); --allow-unix-datagram \
                 would reopen that",
    unsupervised: "covered: Unix datagram sockets are refused by seccomp (EACCES), so \
                   sendmsg/sendto cannot send to a pathname datagram socket (/dev/log); \
                   --allow-unix-datagram would reopen that",
};

/// [`UNIX_DATAGRAM_REFUSED`] when the capability set allows Unix datagram sockets
/// (`--allow-unix-datagram`, a profile's `network.allow_unix_datagram`).
pub const UNIX_DATAGRAM_ALLOWED: Gap = Gap {
    name: "unix datagrams",
    supervised: "NOT covered (--allow-unix-datagram): sendmsg/sendmmsg can send a datagram to \
                 any pathname datagram socket (/dev/log, /run/systemd/notify), unchecked; only \
                 sendto and connect are brokered",
    unsupervised: "NOT covered (--allow-unix-datagram): sendmsg, sendmmsg and sendto can send a \
                   datagram to any pathname datagram socket (/dev/log, /run/systemd/notify)",
};

/// What the unsupervised gaps mean for the files nono protects, in one line: printed by
/// `nono wrap --dry-run` and `nono setup`, and said by `nono wrap --help`.
pub const WRAP_DENY_GROUP_GAPS: &str = "so under wrap the deny groups stop reads and writes \
     only: chmod/utime/setxattr of ~/.ssh/id_rsa, ~/.aws/credentials and other deny-group files \
     succeed, and the ssh-agent, D-Bus and X11 sockets connect; wrap refuses a grant on your \
     home directory (or a parent of it) unless you pass --accept-wrap-gaps; use nono run for \
     untrusted code";

/// The lines `--dry-run` and `nono setup` print: each gap with how it is covered for a run
/// with (`supervised`) or without a supervisor, for a capability set that allows Unix datagram
/// sockets (`unix_datagram`) or not.
#[must_use]
pub fn describe(supervised: bool, unix_datagram: bool) -> String {
    let mut out = format!(
        "beyond Landlock ABI 7 ({}):\n",
        if supervised {
            "supervised run"
        } else {
            "no supervisor"
        }
    );
    for g in GAPS {
        let g = if unix_datagram && *g == UNIX_DATAGRAM_REFUSED {
            &UNIX_DATAGRAM_ALLOWED
        } else {
            g
        };
        let how = if supervised {
            g.supervised
        } else {
            g.unsupervised
        };
        out.push_str(&format!("  {:<24} {how}\n", g.name));
    }
    if !supervised {
        out.push_str(&format!("  {WRAP_DENY_GROUP_GAPS}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupervised_text_says_what_is_not_covered() {
        let text = describe(false, false);
        // Everything but the datagram and socket-family refusals, which seccomp gives without
        // a supervisor.
        assert_eq!(
            text.matches("NOT covered").count(),
            GAPS.len() - 2,
            "{text}"
        );
        assert!(text.contains(WRAP_DENY_GROUP_GAPS), "{text}");
        assert!(!describe(true, false).contains("--accept-wrap-gaps"));
        assert!(describe(true, false).contains("covered:"));
        assert!(!describe(true, false).contains("NOT covered"));
    }

    /// Without the opt-in nothing claims a sendmsg gap; with it, both modes say plainly that
    /// sendmsg reaches any pathname datagram socket.
    #[test]
    fn the_sendmsg_gap_is_claimed_exactly_when_unix_datagrams_are_allowed() {
        for supervised in [true, false] {
            let refused = describe(supervised, false);
            assert!(!refused.contains("not brokered"), "{refused}");
            assert!(!refused.contains("unchecked"), "{refused}");
            assert!(
                refused.contains("Unix datagram sockets are refused"),
                "{refused}"
            );
            let allowed = describe(supervised, true);
            let line = allowed
                .lines()
                .find(|l| l.trim_start().starts_with("unix datagrams"))
                .expect("a datagram line");
            assert!(
                line.contains("NOT covered (--allow-unix-datagram): sendmsg"),
                "{allowed}"
            );
            assert!(line.contains("any pathname datagram socket"), "{allowed}");
        }
        assert_eq!(
            describe(true, true).matches("NOT covered").count(),
            1,
            "only the datagram line changes"
        );
    }
}

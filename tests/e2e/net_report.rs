//! Sockets the network rules refuse (issue 11, point 3: "network refusals are reported with the
//! flag that allows them"): under `run` a UDP, ICMP, raw, packet or netlink `socket()` refused
//! by `--block-net`, port rules or the egress proxy fails with the errno it always had (the
//! same as under `wrap`) and is in the denial report; following the line makes the call
//! succeed, or the line says that no flag allows it and that is true. `wrap` has no supervisor:
//! same errno, no report (and `--dry-run` says so).

use crate::harness::{nono, sandbox_available, Run, Scratch};

const PYTHON: &str = "/usr/bin/python3";

/// Creates each named socket and prints `NAME ok` or `NAME ERRNO`.
const PROBE: &str = r#"
import socket, sys
kinds = {"udp": (2, 2, 0), "udp6": (10, 2, 0), "raw": (2, 3, 1), "packet": (17, 3, 0),
         "tcp": (2, 1, 0), "netlink": (16, 3, 0)}
for a in sys.argv[1:]:
    f, t, p = kinds[a]
    try:
        socket.socket(f, t, p).close()
        print(a, "ok")
    except OSError as e:
        print(a, e.errno)
"#;

fn probe(s: &Scratch, cmd: &str, flags: &[&str], kinds: &[&str]) -> Run {
    let mut args: Vec<&str> = vec![cmd];
    args.extend(flags);
    args.extend(["--", PYTHON, "-c", PROBE]);
    args.extend(kinds);
    nono(&s.path, &args)
}

/// The `nono: denied` lines of a run that mention `needle`.
fn lines<'a>(run: &'a Run, needle: &str) -> Vec<&'a str> {
    run.stderr
        .lines()
        .filter(|l| l.starts_with("nono: denied") && l.contains(needle))
        .collect()
}

/// The probe's result for `kind`.
#[track_caller]
fn result<'a>(run: &'a Run, kind: &str) -> &'a str {
    run.stdout
        .lines()
        .find_map(|l| l.strip_prefix(kind)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no result for {kind}\n{run}"))
}

fn available() -> bool {
    if !sandbox_available() {
        return false;
    }
    if !std::path::Path::new(PYTHON).exists() {
        eprintln!("skipping: no {PYTHON}");
        return false;
    }
    true
}

/// Each network restriction: the refused UDP socket has its errno (as under `wrap`), one report
/// line naming the flags to drop; run without them, the same call succeeds and nothing is
/// reported.
#[test]
fn a_refused_udp_socket_is_reported_with_the_flag_that_allows_it() {
    if !available() {
        return;
    }
    let s = Scratch::new("net-report-udp");
    let cases: &[(&[&str], &str, &str, &str)] = &[
        (
            &["--block-net"],
            "97",
            "the network is blocked",
            "--block-net",
        ),
        (
            &["--allow-connect-port", "9"],
            "93",
            "the port rules allow TCP only",
            "--allow-connect-port",
        ),
        (
            &["--allow-domain", "example.com"],
            "93",
            "the egress proxy is the only way out",
            "--allow-domain",
        ),
    ];
    for (flags, errno, why, drop) in cases {
        let run = probe(&s, "run", flags, &["udp", "udp", "udp6"]);
        run.expect_code(0);
        assert_eq!(result(&run, "udp"), *errno, "{flags:?}\n{run}");
        assert_eq!(result(&run, "udp6"), *errno, "{flags:?}\n{run}");
        // Two refused calls, one line.
        let udp = lines(&run, "socket(AF_INET, SOCK_DGRAM, 0)");
        assert_eq!(udp.len(), 1, "{flags:?}\n{run}");
        assert!(udp[0].contains(why), "{flags:?}: {}", udp[0]);
        assert!(
            udp[0].contains(&format!("run without {drop}")),
            "{flags:?}: {}",
            udp[0]
        );
        assert_eq!(lines(&run, "AF_INET6, SOCK_DGRAM").len(), 1, "{run}");
        // What the program sees does not depend on the supervisor: wrap answers the same
        // (wrap takes the network flags it can enforce without a supervisor).
        if flags[0] == "--block-net" {
            let wrapped = probe(&s, "wrap", flags, &["udp", "udp6"]);
            assert_eq!(result(&wrapped, "udp"), *errno, "{wrapped}");
            assert!(lines(&wrapped, "socket(").is_empty(), "{wrapped}");
        }
        // Following the line: the same command without the restriction.
        let followed = probe(&s, "run", &[], &["udp", "udp6"]);
        followed.expect_code(0);
        assert_eq!(result(&followed, "udp"), "ok", "{followed}");
        assert!(lines(&followed, "socket(").is_empty(), "{followed}");
    }
}

/// Raw and packet sockets: the line says no flag allows them, and that is true — without any
/// network rule the kernel still refuses them (nono drops CAP_NET_RAW), also as root.
#[test]
fn a_refused_raw_socket_says_no_flag_allows_it_and_none_does() {
    if !available() {
        return;
    }
    let s = Scratch::new("net-report-raw");
    let run = probe(&s, "run", &["--block-net"], &["raw", "packet", "netlink"]);
    assert_eq!(result(&run, "raw"), "97", "{run}");
    assert_eq!(result(&run, "packet"), "97", "{run}");
    for call in [
        "socket(AF_INET, SOCK_RAW, 1)",
        "socket(AF_PACKET, SOCK_RAW, 0)",
    ] {
        let l = lines(&run, call);
        assert_eq!(l.len(), 1, "{call}\n{run}");
        assert!(l[0].contains("no flag allows it"), "{}", l[0]);
        assert!(l[0].contains("CAP_NET_RAW"), "{}", l[0]);
    }
    // Netlink needs no capability: lifting the block is the fix.
    let l = lines(&run, "socket(AF_NETLINK, SOCK_RAW, 0)");
    assert_eq!(l.len(), 1, "{run}");
    assert!(l[0].contains("run without --block-net"), "{}", l[0]);
    let unblocked = probe(&s, "run", &[], &["raw", "packet", "netlink"]);
    assert_eq!(
        result(&unblocked, "raw"),
        "1",
        "EPERM without the block\n{unblocked}"
    );
    assert_eq!(result(&unblocked, "packet"), "1", "{unblocked}");
    assert_eq!(result(&unblocked, "netlink"), "ok", "{unblocked}");
    // Control: outside nono, as root, raw sockets exist (so the EPERM above is nono's doing).
    if rustix::process::geteuid().is_root() {
        let bare = std::process::Command::new(PYTHON)
            .args(["-c", PROBE, "raw"])
            .output()
            .expect("python3");
        assert_eq!(String::from_utf8_lossy(&bare.stdout).trim(), "raw ok");
    }
}

/// `--dry-run` says who reports these refusals: run does, wrap does not.
#[test]
fn dry_run_says_whether_refused_sockets_are_reported() {
    if !available() {
        return;
    }
    let s = Scratch::new("net-report-dry");
    let run = nono(&s.path, ["run", "--dry-run", "--block-net", "--", "true"]);
    run.expect_code(0);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("refused by the supervisor with the same errno, and reported"),
        "{run}"
    );
    let wrap = nono(&s.path, ["wrap", "--dry-run", "--block-net", "--", "true"]);
    wrap.expect_code(0);
    let all = format!("{}{}", wrap.stdout, wrap.stderr);
    assert!(all.contains("without a report"), "{wrap}");
}

//! `nono why`: the verdict and the deciding rule for a path or a TCP connection, text and JSON.

use crate::harness::{nono, nono_cmd, output, Run, Scratch};

#[test]
fn path_verdicts_name_the_rule() {
    let s = Scratch::new("why-path");
    let f = s.write("d/f.txt", "x");
    let f = f.display().to_string();
    let out = nono(
        &s.path,
        ["why", "--read", &s.s("d"), "--path", &f, "--op", "read"],
    );
    out.expect_code(0)
        .stdout_has("allowed")
        .stdout_has("--read");
    let out = nono(
        &s.path,
        ["why", "--read", &s.s("d"), "--path", &f, "--op", "write"],
    );
    out.expect_code(1).stdout_has("denied");
    let out = nono(
        &s.path,
        [
            "why",
            "--read",
            &s.s("d"),
            "--path",
            &f,
            "--op",
            "readwrite",
        ],
    );
    out.expect_code(1).stdout_has("partial");
    let out = nono(&s.path, ["why", "--path", &f, "--op", "read"]);
    out.expect_code(1).stdout_has("denied");
    // The default profile's system grants.
    nono(&s.path, ["why", "--path", "/usr/bin/env", "--op", "read"])
        .expect_code(0)
        .stdout_has("allowed");
}

#[test]
fn deny_groups_are_named() {
    let s = Scratch::new("why-group");
    s.write("home/.ssh/id_rsa", "k");
    let home = s.join("home");
    let mut cmd = nono_cmd(&s.path);
    cmd.env("HOME", &home).args([
        "why",
        "--allow",
        &home.display().to_string(),
        "--path",
        &home.join(".ssh/id_rsa").display().to_string(),
        "--op",
        "read",
    ]);
    let out = output(&mut cmd);
    out.expect_code(1)
        .stdout_has("denied")
        .stdout_has("credentials");
}

#[test]
fn json_output() {
    let s = Scratch::new("why-json");
    let out = nono(
        &s.path,
        [
            "why",
            "--read",
            &s.s(""),
            "--path",
            &s.s(""),
            "--op",
            "read",
            "--json",
        ],
    );
    out.expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(v["verdict"], "allowed", "{v}");
    let out = nono(
        &s.path,
        [
            "why",
            "--block-net",
            "--host",
            "example.com",
            "--port",
            "443",
            "--json",
        ],
    );
    out.expect_code(1);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(v["verdict"], "denied", "{v}");
}

/// `nono why NONO_FLAGS --host 127.0.0.1 --port PORT`.
fn why_connect(s: &Scratch, nono_flags: &[&str], port: &str) -> Run {
    nono(
        &s.path,
        ["why"]
            .iter()
            .chain(nono_flags)
            .chain(&["--host", "127.0.0.1", "--port", port]),
    )
}

#[test]
fn network_verdicts() {
    let s = Scratch::new("why-net");
    why_connect(&s, &[], "443")
        .expect_code(0)
        .stdout_has("allowed");
    why_connect(&s, &["--block-net"], "443")
        .expect_code(1)
        .stdout_has("blocked");
    why_connect(&s, &["--allow-connect-port", "443"], "443").expect_code(0);
    why_connect(&s, &["--allow-connect-port", "443"], "80")
        .expect_code(1)
        .stdout_has("443");
}

#[test]
fn why_errors_and_relative_paths() {
    let s = Scratch::new("why-err");
    // A relative path is taken relative to the current directory.
    nono(&s.path, ["why", "--path", "relative/x", "--op", "read"])
        .expect_code(1)
        .stdout_has(&s.s("relative/x"));
    nono(
        &s.path,
        [
            "why",
            "-p",
            "/nonexistent.json",
            "--path",
            "/x",
            "--op",
            "read",
        ],
    )
    .expect_code(125)
    .stderr_has("/nonexistent.json");
}

/// `why` agrees with `run` for what the supervisor decides (issue 11, point 4): `/proc`
/// (served by the procfs broker whatever the grants; also a live process outside the
/// sandbox), the listing of carve-out spines, a new entry in a spine, deny groups, plain
/// grants, metadata changes, pathname Unix sockets (granted by themselves, or in a write
/// grant but served outside), abstract sockets, approve rules (deny groups under an approved
/// directory included), and TCP ports. Each case is asked of `why --json` and then tried under
/// `run` with the same flags; the JSON verdict must be what `run` did.
#[test]
fn why_agrees_with_run_for_supervised_paths() {
    use crate::harness::sandbox_available;
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("why-differential");
    let home = s.mkdir("home");
    s.write("home/.ssh/id_rsa", "k");
    s.write("home/notes.txt", "n");
    s.write("data/x.txt", "x");
    let work = s.mkdir("work");
    let (h, w) = (home.display().to_string(), work.display().to_string());
    let data = s.s("data");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || for _ in listener.incoming() {});
    let port_s = port.to_string();
    let other = if port == 1 { 2 } else { port - 1 }.to_string();
    // A process outside the sandbox, alive for the whole test.
    let mut outsider = std::process::Command::new("sleep")
        .arg("300")
        .spawn()
        .expect("sleep");
    let op = format!("/proc/{}", outsider.id());
    // Unix sockets served outside the sandbox (by this test): one in a directory the cases
    // grant for writing, one granted by itself, one abstract.
    let sock_dir = s.mkdir("socks");
    let sd = sock_dir.display().to_string();
    let served = sock_dir.join("served.sock");
    let own = sock_dir.join("own.sock");
    let abstract_name = format!("nono-why-diff-{}", std::process::id());
    let mut listeners = vec![
        std::os::unix::net::UnixListener::bind(&served).expect("bind"),
        std::os::unix::net::UnixListener::bind(&own).expect("bind"),
    ];
    {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(abstract_name.as_bytes())
            .expect("abstract name");
        listeners.push(std::os::unix::net::UnixListener::bind_addr(&addr).expect("bind"));
    }
    for l in listeners {
        std::thread::spawn(move || for _ in l.incoming() {});
    }
    let (served, own) = (served.display().to_string(), own.display().to_string());
    let connect = |addr: &str| {
        format!(
            "/usr/bin/python3 -c \"import socket; socket.socket(socket.AF_UNIX).connect({addr})\""
        )
    };
    let python = std::path::Path::new("/usr/bin/python3").exists();
    // (flags, path, op, shell command that performs the access)
    let cases: Vec<(Vec<&str>, String, &str, String)> = vec![
        (
            vec!["--read", "/proc/1"],
            "/proc/1/environ".into(),
            "read",
            "cat /proc/1/environ".into(),
        ),
        (
            vec![],
            "/proc/1/stat".into(),
            "read",
            "cat /proc/1/stat".into(),
        ),
        (
            vec![],
            "/proc/self/status".into(),
            "read",
            "cat /proc/self/status".into(),
        ),
        (
            vec![],
            "/proc/cpuinfo".into(),
            "read",
            "cat /proc/cpuinfo".into(),
        ),
        (
            vec![],
            "/proc/kcore".into(),
            "read",
            "head -c1 /proc/kcore".into(),
        ),
        (
            vec![],
            "/proc/self/comm".into(),
            "write",
            "printf x > /proc/self/comm".into(),
        ),
        (
            vec![],
            "/proc/self/environ".into(),
            "write",
            "printf x > /proc/self/environ".into(),
        ),
        (vec![], "/etc".into(), "read", "ls /etc".into()),
        (vec![], "/etc/ssl".into(), "read", "ls /etc/ssl".into()),
        (
            vec![],
            "/etc/ssl/private".into(),
            "read",
            "ls /etc/ssl/private".into(),
        ),
        (
            vec![],
            "/etc/ssl/nono-new".into(),
            "write",
            "touch /etc/ssl/nono-new".into(),
        ),
        (vec!["--read", &h], h.clone(), "read", format!("ls {h}")),
        (
            vec!["--read", &h],
            format!("{h}/notes.txt"),
            "read",
            format!("cat {h}/notes.txt"),
        ),
        (
            vec!["--read", &h],
            format!("{h}/.ssh/id_rsa"),
            "read",
            format!("cat {h}/.ssh/id_rsa"),
        ),
        (
            vec![],
            s.s("data/x.txt"),
            "read",
            format!("cat {}", s.s("data/x.txt")),
        ),
        (
            vec!["--read", &data],
            s.s("data/x.txt"),
            "read",
            format!("cat {}", s.s("data/x.txt")),
        ),
        // Metadata (the supervisor's metadata broker under run): a change needs write.
        (
            vec!["--read", &data],
            s.s("data/x.txt"),
            "write",
            format!("chmod 600 {}", s.s("data/x.txt")),
        ),
        (
            vec!["--allow", &data],
            s.s("data/x.txt"),
            "write",
            format!("chmod 644 {}", s.s("data/x.txt")),
        ),
        (
            vec!["--allow", &h],
            format!("{h}/.ssh/id_rsa"),
            "write",
            format!("chmod 600 {h}/.ssh/id_rsa"),
        ),
        (
            vec!["--allow", &h],
            format!("{h}/notes.txt"),
            "write",
            format!("touch -m {h}/notes.txt"),
        ),
        // Another process outside the sandbox: no grant reaches its /proc under run.
        (
            vec![],
            format!("{op}/stat"),
            "read",
            format!("cat {op}/stat"),
        ),
        (
            vec!["--read", &op],
            format!("{op}/environ"),
            "read",
            format!("cat {op}/environ"),
        ),
        (
            vec!["--read", "/proc"],
            format!("{op}/cmdline"),
            "read",
            format!("cat {op}/cmdline"),
        ),
        // Approve rules: what they grant, and the deny group inside an approved directory.
        (
            vec!["--approve", &h],
            format!("{h}/notes.txt"),
            "read",
            format!("cat {h}/notes.txt"),
        ),
        (
            vec!["--approve", &h],
            format!("{h}/new.txt"),
            "write",
            format!("echo x > {h}/new.txt"),
        ),
        (
            vec!["--approve", &h],
            format!("{h}/.ssh/id_rsa"),
            "read",
            format!("cat {h}/.ssh/id_rsa"),
        ),
        (
            vec!["--approve", &h],
            format!("{h}/.ssh/new_key"),
            "write",
            format!("echo x > {h}/.ssh/new_key"),
        ),
        (
            vec!["--approve", &data],
            s.s("data/x.txt"),
            "write",
            format!("chmod 600 {}", s.s("data/x.txt")),
        ),
        (
            vec!["--approve", &h],
            format!("{h}/.ssh/id_rsa"),
            "write",
            format!("chmod 644 {h}/.ssh/id_rsa"),
        ),
        (
            vec!["--approve", &h],
            format!("{h}/notes.txt"),
            "write",
            format!("touch -m {h}/notes.txt"),
        ),
    ];
    let mut cases = cases;
    if python {
        // Pathname sockets: in a write grant but served outside → refused; granted by
        // themselves → connected; not granted at all → refused. Abstract: always refused.
        cases.extend([
            (
                vec!["--allow", sd.as_str()],
                served.clone(),
                "write",
                connect(&format!("'{served}'")),
            ),
            (
                vec!["--allow-file", own.as_str()],
                own.clone(),
                "write",
                connect(&format!("'{own}'")),
            ),
            (vec![], own.clone(), "write", connect(&format!("'{own}'"))),
            (
                vec![],
                format!("@{abstract_name}"),
                "write",
                connect(&format!("'\\0{abstract_name}'")),
            ),
        ]);
    } else {
        eprintln!("skipping the socket cases: no /usr/bin/python3");
    }
    let mut disagree = Vec::new();
    for (flags, path, op, sh) in &cases {
        let mut why = nono_cmd(&s.path);
        why.env("HOME", &home)
            .args(["why", "--json", "--allow", &w])
            .args(flags)
            .args(["--path", path, "--op", op]);
        let why = output(&mut why);
        let v: serde_json::Value = serde_json::from_str(&why.stdout)
            .unwrap_or_else(|e| panic!("why --json for {path}: {e}\n{why}"));
        // The exit status and the JSON verdict say the same.
        assert_eq!(
            v["verdict"] == "allowed",
            why.code == Some(0),
            "{flags:?} {op} {path}: {v}"
        );
        let mut run = nono_cmd(&s.path);
        run.env("HOME", &home)
            .args(["run", "--allow", &w])
            .args(flags)
            .args(["--", "sh", "-c", &format!("{sh} >/dev/null")]);
        let run: Run = output(&mut run);
        let (said, did) = (v["verdict"] == "allowed", run.code == Some(0));
        if said != did {
            disagree.push(format!(
                "{flags:?} {op} {path}: why {} / run {}\n  why: {}\n  run: {}",
                if said { "allowed" } else { "denied" },
                if did { "allowed" } else { "denied" },
                why.stdout.trim(),
                run.stderr.trim()
            ));
        }
    }
    // TCP: `why --host --port` against a connect under `run`.
    for (allowed, want) in [(&port_s, true), (&other, false)] {
        let why = nono(
            &s.path,
            [
                "why",
                "--allow-connect-port",
                allowed,
                "--host",
                "127.0.0.1",
                "--port",
                &port_s,
            ],
        );
        let run = nono(
            &s.path,
            [
                "run",
                "--allow",
                &w,
                "--allow-connect-port",
                allowed,
                "--",
                "bash",
                "-c",
                &format!("exec 3<>/dev/tcp/127.0.0.1/{port}"),
            ],
        );
        assert_eq!(why.code == Some(0), want, "{why}");
        let j = nono(
            &s.path,
            [
                "why",
                "--json",
                "--allow-connect-port",
                allowed,
                "--host",
                "127.0.0.1",
                "--port",
                &port_s,
            ],
        );
        let v: serde_json::Value = serde_json::from_str(&j.stdout).expect("JSON");
        assert_eq!(v["verdict"] == "allowed", want, "{v}");
        if (run.code == Some(0)) != want {
            disagree.push(format!(
                "tcp {port} with --allow-connect-port {allowed}: {run}"
            ));
        }
    }
    let _ = outsider.kill();
    let _ = outsider.wait();
    assert!(
        disagree.is_empty(),
        "why and run disagree:\n{}",
        disagree.join("\n")
    );
}

//! Network escapes with the network blocked: TCP and UDP over IPv4 and IPv6 to listeners the
//! test owns, ICMP/raw/packet sockets, MPTCP, the i386 (`int 0x80`) and x32 syscall entry
//! points, and io_uring. Each listener must have received nothing; a control then shows it
//! does receive what an unsandboxed probe sends.

use std::io::{ErrorKind, Read};
use std::net::{TcpListener, UdpSocket};
use std::process::Command;

use crate::harness::{nono_cmd, output, Scratch};
use crate::programs::{bins, probe_bare, probe_in, Mode, MODES};

/// `--allow-connect-port PORT`, which `wrap` accepts only with `--accept-wrap-gaps` (without
/// a supervisor the port is open to every host; `run` holds it to loopback).
fn connect_port(mode: Mode, port: &str) -> Vec<&str> {
    let mut v = vec!["--allow-connect-port", port];
    if mode == Mode::Wrap {
        v.push("--accept-wrap-gaps");
    }
    v
}

/// A TCP listener and a UDP socket on one loopback address, non-blocking.
struct Targets {
    tcp: TcpListener,
    udp: UdpSocket,
}

impl Targets {
    fn on(addr: &str) -> Option<Targets> {
        let tcp = TcpListener::bind((addr, 0)).ok()?;
        let udp = UdpSocket::bind((addr, 0)).ok()?;
        tcp.set_nonblocking(true).unwrap();
        udp.set_nonblocking(true).unwrap();
        Some(Targets { tcp, udp })
    }
    fn tcp_port(&self) -> String {
        self.tcp.local_addr().unwrap().port().to_string()
    }
    fn udp_port(&self) -> String {
        self.udp.local_addr().unwrap().port().to_string()
    }

    /// Nothing was accepted and no datagram arrived. The attack finished before this is
    /// called, and loopback delivery completes inside connect()/sendto(), so "nothing
    /// queued" is final — and `control` proves the queue does fill when it should.
    #[track_caller]
    fn assert_untouched(&self, ctx: &dyn std::fmt::Display) {
        match self.tcp.accept() {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            other => panic!("the listener accepted a connection: {other:?}\n{ctx}"),
        }
        let mut buf = [0u8; 64];
        match self.udp.recv_from(&mut buf) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            other => panic!("a datagram arrived: {other:?}\n{ctx}"),
        }
    }

    /// The control reached the listener: one connection carrying "ATTACK", one datagram.
    #[track_caller]
    fn assert_reached(&self, tcp: bool, udp: bool) {
        if tcp {
            let (mut conn, _) = self.tcp.accept().expect("the control's connection");
            conn.set_nonblocking(false).unwrap();
            let mut got = String::new();
            conn.read_to_string(&mut got).unwrap();
            assert_eq!(got, "ATTACK");
        }
        if udp {
            self.udp.set_nonblocking(false).unwrap();
            let mut buf = [0u8; 64];
            let (n, _) = self
                .udp
                .recv_from(&mut buf)
                .expect("the control's datagram");
            assert_eq!(&buf[..n], b"ATTACK");
            self.udp.set_nonblocking(true).unwrap();
        }
    }
}

#[test]
fn net_tcp_and_udp_ipv4_blocked() {
    let Some(_) = bins() else { return };
    for mode in MODES {
        let s = Scratch::new(&format!("net-v4-{}", mode.as_str()));
        let t = Targets::on("127.0.0.1").expect("bind 127.0.0.1");
        let (tp, up) = (t.tcp_port(), t.udp_port());
        let steps = [
            "tcp4",
            "tcp",
            tp.as_str(),
            "udp4",
            "udp",
            up.as_str(),
            "bind4",
            "bind",
        ];
        // --block-net: seccomp refuses every non-Unix socket() with EAFNOSUPPORT.
        let out = probe_in(mode, &s.path, &["--block-net"], &steps);
        out.expect(&[
            ("tcp.socket", "EAFNOSUPPORT"),
            ("udp.socket", "EAFNOSUPPORT"),
            ("bind.socket", "EAFNOSUPPORT"),
        ]);
        t.assert_untouched(&out.run);
        // One allowed port (not the listener's): TCP sockets exist, Landlock refuses the
        // connect and the bind (EACCES); UDP is still refused by seccomp.
        let out = probe_in(mode, &s.path, &connect_port(mode, "9"), &steps);
        out.expect(&[
            ("tcp.socket", "ok"),
            ("tcp.connect", "EACCES"),
            ("udp.socket", "EPROTONOSUPPORT"),
            ("bind.socket", "ok"),
            ("bind", "EACCES"),
        ]);
        t.assert_untouched(&out.run);

        let control = probe_bare(&s.path, &steps);
        control.expect(&[("tcp.connect", "ok"), ("udp.send", "ok"), ("bind", "ok")]);
        t.assert_reached(true, true);
        t.assert_untouched(&control.run);
    }
}

#[test]
fn net_tcp_and_udp_ipv6_blocked() {
    let Some(_) = bins() else { return };
    let Some(t) = Targets::on("::1") else {
        eprintln!("skipping: no IPv6 loopback");
        return;
    };
    for mode in MODES {
        let s = Scratch::new(&format!("net-v6-{}", mode.as_str()));
        let (tp, up) = (t.tcp_port(), t.udp_port());
        let steps = ["tcp6", "tcp", tp.as_str(), "udp6", "udp", up.as_str()];
        let out = probe_in(mode, &s.path, &["--block-net"], &steps);
        out.expect(&[
            ("tcp.socket", "EAFNOSUPPORT"),
            ("udp.socket", "EAFNOSUPPORT"),
        ]);
        t.assert_untouched(&out.run);
        let out = probe_in(mode, &s.path, &connect_port(mode, "9"), &steps);
        out.expect(&[
            ("tcp.socket", "ok"),
            ("tcp.connect", "EACCES"),
            ("udp.socket", "EPROTONOSUPPORT"),
        ]);
        t.assert_untouched(&out.run);

        let control = probe_bare(&s.path, &steps);
        control.expect(&[("tcp.connect", "ok"), ("udp.send", "ok")]);
        t.assert_reached(true, true);
    }
}

#[test]
fn net_icmp_raw_and_packet_sockets_blocked() {
    let Some(_) = bins() else { return };
    for mode in MODES {
        let s = Scratch::new(&format!("net-raw-{}", mode.as_str()));
        let steps = ["icmp", "icmp", "raw", "raw", "packet", "packet"];
        let out = probe_in(mode, &s.path, &["--block-net"], &steps);
        out.expect(&[
            ("icmp.socket", "EAFNOSUPPORT"),
            ("raw.socket", "EAFNOSUPPORT"),
            ("packet", "EAFNOSUPPORT"),
        ]);
        let out = probe_in(mode, &s.path, &connect_port(mode, "9"), &steps);
        out.expect(&[
            ("icmp.socket", "EPROTONOSUPPORT"),
            ("raw.socket", "EPROTONOSUPPORT"),
            ("packet", "EAFNOSUPPORT"),
        ]);
        // Control: as root, raw ICMP and packet sockets are available.
        probe_bare(&s.path, &steps).expect(&[
            ("raw.socket", "ok"),
            ("raw.send", "ok"),
            ("packet", "ok"),
        ]);
    }
}

/// TCP Fast Open connects from `sendto(MSG_FASTOPEN)` without a `connect(2)` call: the
/// kernel must still apply Landlock's connect-port rule to it.
#[test]
fn net_tcp_fast_open_to_a_port_not_allowed() {
    let Some(_) = bins() else { return };
    for mode in MODES {
        let s = Scratch::new(&format!("net-tfo-{}", mode.as_str()));
        let t = Targets::on("127.0.0.1").unwrap();
        let other = Targets::on("127.0.0.1").unwrap();
        let steps = ["tfo4", "tfo", &t.tcp_port()];
        let op = other.tcp_port();
        let out = probe_in(mode, &s.path, &connect_port(mode, &op), &steps);
        out.expect(&[("tfo.socket", "ok"), ("tfo.send", "EACCES")]);
        t.assert_untouched(&out.run);

        let control = probe_bare(&s.path, &steps);
        if control.get("tfo.send") != "ok" {
            eprintln!(
                "note: TCP Fast Open is off here (net.ipv4.tcp_fastopen); the control got {}",
                control.get("tfo.send")
            );
            continue;
        }
        t.assert_reached(true, false);
    }
}

/// Landlock's TCP rules are about IPPROTO_TCP; MPTCP is another protocol on a stream
/// socket, so seccomp has to stop it.
#[test]
fn net_mptcp_blocked() {
    let Some(_) = bins() else { return };
    for mode in MODES {
        let s = Scratch::new(&format!("net-mptcp-{}", mode.as_str()));
        let t = Targets::on("127.0.0.1").unwrap();
        let tp = t.tcp_port();
        let steps = ["mptcp4", "mptcp", tp.as_str()];
        probe_in(mode, &s.path, &["--block-net"], &steps)
            .expect(&[("mptcp.socket", "EAFNOSUPPORT")]);
        let out = probe_in(mode, &s.path, &connect_port(mode, &tp), &steps);
        // Even with the listener's own port allowed for TCP, MPTCP is not TCP.
        out.expect(&[("mptcp.socket", "EPROTONOSUPPORT")]);
        t.assert_untouched(&out.run);

        let control = probe_bare(&s.path, &steps);
        if control.get("mptcp.socket") == "EPROTONOSUPPORT" {
            eprintln!("note: this kernel has no MPTCP; the control cannot connect");
            continue;
        }
        control.expect(&[("mptcp.connect", "ok")]);
        t.assert_reached(true, false);
    }
}

/// seccomp filters see i386 (`int 0x80`, AUDIT_ARCH_I386) and x32 (`__X32_SYSCALL_BIT`)
/// syscalls with other numbers; nono refuses both architectures outright (EPERM), so the
/// socket filter cannot be sidestepped. The socket is then used with ordinary 64-bit calls.
#[test]
fn net_i386_and_x32_syscalls_blocked() {
    let Some(_) = bins() else { return };
    for mode in MODES {
        let s = Scratch::new(&format!("net-compat-{}", mode.as_str()));
        let t = Targets::on("127.0.0.1").unwrap();
        let up = t.udp_port();
        let steps = [
            "i386_socket",
            "i386_socket",
            up.as_str(),
            "i386_socketcall",
            "i386_socketcall",
            up.as_str(),
            "x32_socket",
            "x32_socket",
            up.as_str(),
        ];
        for net in [vec!["--block-net"], connect_port(mode, "9")] {
            let out = probe_in(mode, &s.path, &net, &steps);
            out.expect(&[
                ("i386_socket.socket", "EPERM"),
                ("i386_socketcall.socket", "EPERM"),
                ("x32_socket.socket", "EPERM"),
            ]);
            t.assert_untouched(&out.run);
        }

        // Control: the i386 entry point works from this 64-bit process and the datagram
        // arrives (x32 needs CONFIG_X86_X32_ABI; without it the kernel says ENOSYS, which is
        // not the EPERM seen above).
        let control = probe_bare(&s.path, &steps[..6]);
        control.expect(&[("i386_socket.send", "ok"), ("i386_socketcall.send", "ok")]);
        t.assert_reached(false, true);
        t.assert_reached(false, true);
        let x32 = probe_bare(&s.path, &steps[6..]);
        x32.expect_one_of("x32_socket.socket", &["ok", "ENOSYS"]);
    }
}

#[test]
fn net_io_uring_refused() {
    let Some(_) = bins() else { return };
    for mode in MODES {
        let s = Scratch::new(&format!("net-uring-{}", mode.as_str()));
        for net in [&["--block-net"][..], &[][..]] {
            probe_in(mode, &s.path, net, &["io_uring", "setup"]).expect(&[("setup", "EPERM")]);
        }
        let control = probe_bare(&s.path, &["io_uring", "setup"]);
        if control.get("setup") != "ok" {
            eprintln!(
                "note: io_uring is disabled on this kernel ({})",
                control.get("setup")
            );
            continue;
        }
    }
}

/// Host network configuration over netlink as root: with `--block-net` the netlink socket
/// itself is refused; when the network is allowed (the default profile) the sandbox has no
/// CAP_NET_ADMIN, so the kernel refuses the change. Shown with `ip link set lo mtu <its
/// current mtu>` (a no-op that needs the capability); the control, unsandboxed root, may.
#[test]
fn net_host_network_config_as_root_refused() {
    let Some(_) = bins() else { return };
    let Some(ip) = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        eprintln!("skipping: no ip(8)");
        return;
    };
    let mtu = std::fs::read_to_string("/sys/class/net/lo/mtu").unwrap();
    let mtu = mtu.trim();
    for mode in MODES {
        let s = Scratch::new(&format!("net-netlink-{}", mode.as_str()));
        let set = ["--", ip, "link", "set", "lo", "mtu", mtu];
        let run = |net: &[&str]| {
            let mut cmd = nono_cmd(&s.path);
            cmd.arg(mode.as_str()).args(net).args(set);
            output(&mut cmd)
        };
        let blocked = run(&["--block-net"]);
        assert_ne!(blocked.code, Some(0), "{blocked}");
        blocked.stderr_has("Address family not supported");
        let allowed = run(&[]);
        assert_ne!(allowed.code, Some(0), "{allowed}");
        allowed.stderr_has("Operation not permitted");
    }
    let control = Command::new(ip)
        .args(["link", "set", "lo", "mtu", mtu])
        .status()
        .unwrap();
    assert!(control.success(), "the control runs as root");
}

/// With domain rules (`--allow-domain`) the egress proxy is the command's only way out.
/// Landlock allows TCP connect to the proxy's *port* on any address, so a decoy listens on
/// 127.0.0.2 at the proxy's port number (the proxy is on 127.0.0.1): a connect, a
/// `sendto(MSG_FASTOPEN)` and a `sendmsg(MSG_FASTOPEN)` to it must all be refused (the
/// supervisor checks the address of connect/sendto; seccomp refuses sendmsg fast open), as
/// must a direct connect to another port, UDP (DNS), raw and packet sockets and the i386
/// entry points. `wrap` cannot host the proxy: a usage error naming `nono run`.
#[test]
fn net_egress_proxy_is_the_only_way_out() {
    let Some(_) = bins() else { return };
    let s = Scratch::new("net-egress");
    let decoy = Targets::on("127.0.0.2").expect("bind 127.0.0.2");
    let other = Targets::on("127.0.0.1").expect("bind 127.0.0.1");
    let (port, op, up) = (decoy.tcp_port(), other.tcp_port(), other.udp_port());
    let steps = [
        "tcpat",
        "decoy",
        "127.0.0.2",
        &port, //
        "tfoat",
        "decoy_tfo",
        "127.0.0.2",
        &port, //
        "tfomsgat",
        "decoy_tfomsg",
        "127.0.0.2",
        &port, //
        "tfomsgat",
        "proxy_tfomsg",
        "127.0.0.1",
        &port, //
        "tcpat",
        "v6",
        "::1",
        &port, //
        "tcp4",
        "direct",
        &op, //
        "udp4",
        "dns",
        &up, //
        "raw",
        "raw", //
        "packet",
        "packet", //
        "i386_socket",
        "i386",
        &up, //
        "i386_socketcall",
        "i386sc",
        &up,
    ];
    let out = probe_in(
        Mode::Run,
        &s.path,
        &["--allow-domain", "example.test", "--proxy-port", &port],
        &steps,
    );
    out.expect(&[
        ("decoy.connect", "EACCES"),
        ("decoy_tfo.send", "EACCES"),
        ("decoy_tfomsg.send", "EACCES"),
        ("proxy_tfomsg.send", "EACCES"),
        ("direct.connect", "EACCES"),
        ("dns.socket", "EPROTONOSUPPORT"),
        ("raw.socket", "EPROTONOSUPPORT"),
        ("packet", "EAFNOSUPPORT"),
        ("i386.socket", "EPERM"),
        ("i386sc.socket", "EPERM"),
    ]);
    if out.get("v6.socket") == "ok" {
        out.expect(&[("v6.connect", "EACCES")]);
    }
    decoy.assert_untouched(&out.run);
    other.assert_untouched(&out.run);
    out.run
        .stderr_has(&format!(
            "nono: denied connect to 127.0.0.2:{port}, which is not the egress proxy (127.0.0.1:{port})"
        ))
        .stderr_has(&format!(
            "nono: denied direct connect to 127.0.0.1:{op}, bypassing the egress proxy"
        ));

    let wrap = {
        let mut cmd = nono_cmd(&s.path);
        cmd.args(["wrap", "--allow-domain", "example.test", "--", "true"]);
        output(&mut cmd)
    };
    wrap.expect_code(2)
        .stderr_has("use nono run --allow-domain");

    // Control: unsandboxed, the decoy takes the connection and the datagram arrives.
    let control = probe_bare(
        &s.path,
        &["tcpat", "decoy", "127.0.0.2", &port, "udp4", "dns", &up],
    );
    control.expect(&[("decoy.connect", "ok"), ("dns.send", "ok")]);
    decoy.assert_reached(true, false);
    other.assert_reached(false, true);
}

/// A tiny HTTP server on `addr` that answers every request with `hello` and counts them.
fn http_server(addr: &str) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::Write as _;
    let l = TcpListener::bind((addr, 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = c.set_read_timeout(Some(std::time::Duration::from_secs(2)));
            let _ = c.read(&mut buf);
            let _ = c.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
            );
        }
    });
    (port, hits)
}

/// The proxy of a run answers only requests carrying the run's token: another local
/// process (here: this test, outside the sandbox) gets 407 for a CONNECT and for a plain
/// HTTP request, while the command inside, with the token from HTTP_PROXY, is served. A
/// request the rules refuse is in the denial report with the flag that allows it.
#[test]
fn net_egress_proxy_token_and_rules() {
    use std::io::Write as _;
    let Some(b) = bins() else { return };
    let Some(curl) = ["/usr/bin/curl", "/bin/curl"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        eprintln!("skipping: no curl");
        return;
    };
    let s = Scratch::new("net-egress-token");
    let (sport, hits) = http_server("127.0.0.3");
    let pport = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let script = format!(
        "{curl} -sS -m 5 http://allowed.test:{sport}/; echo; \
         {curl} -sS -m 5 -o /dev/null -w 'refused=%{{http_code}}\\n' http://refused.test:{sport}/; \
         sleep 3"
    );
    let mut cmd = nono_cmd(&s.path);
    cmd.env(
        "NONO_TEST_PROXY_RESOLVE",
        "allowed.test=127.0.0.3;refused.test=127.0.0.3",
    )
    .args([
        "run",
        "--read",
        &b.dir_s(),
        "--proxy-port",
        &pport.to_string(),
    ])
    .args(["--allow-domain", &format!("allowed.test:{sport}")])
    .args(["--allow-domain", "127.0.0.3"])
    .args(["--", "sh", "-c", &script]);
    let child = cmd.spawn().expect("spawn nono");
    // The proxy listens before the command starts; ask it without the token.
    let ask = |req: String| -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", pport)) {
                c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                    .unwrap();
                c.write_all(req.as_bytes()).unwrap();
                let mut got = String::new();
                let _ = c.read_to_string(&mut got);
                return got;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the proxy never listened on {pport}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    let connect = ask(format!(
        "CONNECT allowed.test:{sport} HTTP/1.1\r\nHost: allowed.test:{sport}\r\n\r\n"
    ));
    let plain = ask(format!(
        "GET http://allowed.test:{sport}/ HTTP/1.1\r\nHost: allowed.test:{sport}\r\n\r\n"
    ));
    let bad_token = ask(format!(
        "GET http://allowed.test:{sport}/ HTTP/1.1\r\nHost: allowed.test:{sport}\r\nProxy-Authorization: Basic bm9ubzp3cm9uZw==\r\n\r\n"
    ));
    let run = crate::programs::run_of(child.wait_with_output().unwrap());
    for (what, got) in [
        ("CONNECT", &connect),
        ("GET", &plain),
        ("wrong token", &bad_token),
    ] {
        assert!(
            got.starts_with("HTTP/1.1 407"),
            "{what} without the token: {got:?}\n{run}"
        );
    }
    // Control: the command inside, with the token, reached the server through the proxy.
    assert!(run.stdout.contains("hello"), "{run}");
    assert!(run.stdout.contains("refused=403"), "{run}");
    // Only the command's allowed request reached the server.
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1, "{run}");
    run.stderr_has(&format!(
        "nono: denied connect to refused.test:{sport} → add --allow-domain refused.test:{sport}"
    ));
}

/// Through `nono run`, the ways around the rules the proxy must refuse: odd spellings of a
/// loopback address (decimal, hex, short, IPv4-mapped) are judged as that address — allowed
/// by its IP rule, refused by a deny rule on it; a `Host` header that disagrees with the
/// target; an allowed name that resolves to a loopback address no IP rule covers (the report
/// names the address and the rule). Nothing refused reaches the server; the allowed requests
/// are the control.
#[test]
fn net_egress_proxy_refuses_names_and_forms_that_reach_loopback() {
    let Some(b) = bins() else { return };
    let Some(curl) = ["/usr/bin/curl", "/bin/curl"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        eprintln!("skipping: no curl");
        return;
    };
    let s = Scratch::new("net-egress-forms");
    let (sport, hits) = http_server("127.0.0.3");
    let served = || hits.load(std::sync::atomic::Ordering::SeqCst);
    let code = |name: &str, url: &str, extra: &str| {
        format!("{curl} -sS -m 5 -o /dev/null {extra} -w '{name}=%{{http_code}}\\n' '{url}';")
    };
    let forms = [
        ("decimal", format!("http://2130706435:{sport}/")),
        ("hex", format!("http://0x7f.0.0.3:{sport}/")),
        ("short", format!("http://127.3:{sport}/")),
        ("mapped", format!("http://[::ffff:127.0.0.3]:{sport}/")),
    ];
    let mut script: String = forms.iter().map(|(n, u)| code(n, u, "")).collect();
    script.push_str(&code(
        "mismatch",
        &format!("http://ok.test:{sport}/"),
        "-H 'Host: other.test'",
    ));
    script.push_str(&code("ok", &format!("http://ok.test:{sport}/"), ""));
    let run_with = |extra: &[&str], script: &str| {
        let mut cmd = nono_cmd(&s.path);
        cmd.env("NONO_TEST_PROXY_RESOLVE", "ok.test=127.0.0.3")
            .args(["run", "--read", &b.dir_s()])
            .args(["--allow-domain", &format!("ok.test:{sport}")])
            .args(extra)
            .args(["--", "sh", "-c", script]);
        output(&mut cmd)
    };
    let ip_rule = format!("127.0.0.3:{sport}");

    // The IP rule allows the address however it is spelled (the control).
    let run = run_with(&["--allow-domain", &ip_rule], &script);
    for (name, _) in &forms {
        assert!(
            run.stdout.contains(&format!("{name}=200\n")),
            "{name}\n{run}"
        );
    }
    assert!(run.stdout.contains("mismatch=400\n"), "{run}");
    assert!(run.stdout.contains("ok=200\n"), "{run}");
    assert_eq!(served(), forms.len() + 1, "{run}");
    run.stderr_has("Host header disagrees");

    // A deny rule on the address refuses every spelling, and the name that resolves there.
    let before = served();
    let run = run_with(
        &["--allow-domain", &ip_rule, "--deny-domain", "127.0.0.3"],
        &script,
    );
    for (name, _) in &forms {
        assert!(
            run.stdout.contains(&format!("{name}=403\n")),
            "{name}\n{run}"
        );
    }
    assert!(run.stdout.contains("ok=403\n"), "{run}");
    assert_eq!(served(), before, "{run}");
    run.stderr_has("refused by --deny-domain 127.0.0.3");

    // Without an IP rule the name never reaches the loopback address it resolves to.
    let run = run_with(&[], &code("ok", &format!("http://ok.test:{sport}/"), ""));
    assert!(run.stdout.contains("ok=403\n"), "{run}");
    assert_eq!(served(), before, "{run}");
    run.stderr_has(&format!(
        "nono: denied connect to ok.test:{sport}: it resolved to 127.0.0.3"
    ))
    .stderr_has("→ add --allow-domain 127.0.0.3");
}

/// Under `run` the sockets the network rules refuse are trapped by the supervisor (so that they
/// are reported) instead of failed by the filter: a burst of them through the trap must all
/// fail with the errno the filter gives — none created, nothing reaching a listener — in every
/// network mode, under run (reported, one folded line) and wrap (not reported). The control
/// reaches the listener.
#[test]
fn net_refused_sockets_through_the_supervisor_stay_refused() {
    let Some(_) = bins() else { return };
    let t = Targets::on("127.0.0.1").expect("bind 127.0.0.1");
    let up = t.udp_port();
    let names: Vec<String> = (0..60).map(|i| format!("u{i}")).collect();
    let mut steps: Vec<&str> = Vec::new();
    for n in &names {
        steps.extend(["udp4", n.as_str(), up.as_str()]);
    }
    steps.extend(["raw", "raw", "packet", "packet"]);
    for mode in MODES {
        let s = Scratch::new(&format!("net-trap-{}", mode.as_str()));
        for (flags, errno) in [
            (vec!["--block-net"], "EAFNOSUPPORT"),
            (connect_port(mode, "9"), "EPROTONOSUPPORT"),
        ] {
            let out = probe_in(mode, &s.path, &flags, &steps);
            for n in &names {
                out.expect(&[(&format!("{n}.socket"), errno)]);
            }
            out.expect(&[("packet", "EAFNOSUPPORT")]);
            t.assert_untouched(&out.run);
            let lines = out
                .run
                .stderr
                .lines()
                .filter(|l| l.starts_with("nono: denied socket(AF_INET, SOCK_DGRAM"))
                .count();
            match mode {
                Mode::Run => assert_eq!(lines, 1, "one folded report line\n{}", out.run),
                Mode::Wrap => assert_eq!(lines, 0, "wrap reports nothing\n{}", out.run),
            }
        }
    }
    let s = Scratch::new("net-trap-control");
    let control = probe_bare(&s.path, &["udp4", "udp", up.as_str()]);
    control.expect(&[("udp.send", "ok")]);
    t.assert_reached(false, true);
}

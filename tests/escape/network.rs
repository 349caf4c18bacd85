//! Network escapes with the network blocked: TCP and UDP over IPv4 and IPv6 to listeners the
//! test owns, ICMP/raw/packet sockets, MPTCP, the i386 (`int 0x80`) and x32 syscall entry
//! points, and io_uring. Each listener must have received nothing; a control then shows it
//! does receive what an unsandboxed probe sends.

use std::io::{ErrorKind, Read};
use std::net::{TcpListener, UdpSocket};
use std::process::Command;

use crate::harness::{nono_cmd, output, Scratch};
use crate::programs::{bins, probe_bare, probe_in, MODES};

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
        let out = probe_in(mode, &s.path, &["--allow-connect-port", "9"], &steps);
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
        let out = probe_in(mode, &s.path, &["--allow-connect-port", "9"], &steps);
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
        let out = probe_in(mode, &s.path, &["--allow-connect-port", "9"], &steps);
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
        let out = probe_in(
            mode,
            &s.path,
            &["--allow-connect-port", &other.tcp_port()],
            &steps,
        );
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
        let out = probe_in(mode, &s.path, &["--allow-connect-port", &tp], &steps);
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
        for net in [&["--block-net"][..], &["--allow-connect-port", "9"][..]] {
            let out = probe_in(mode, &s.path, net, &steps);
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

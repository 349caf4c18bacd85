//! Hardening beyond Landlock's path rules, observed in real sandboxed processes run as root:
//! capabilities dropped, no device nodes in write grants.

use nono_sandbox::{AccessMode, CapabilitySet, PreparedSandbox, Protection, SandboxOptions};

use crate::harness::{self, base_caps, run, TempTree};

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// `name -> hex value` of the `Cap*:` lines of `/proc/self/status`, as the sandboxed
/// `grep` sees its own.
fn cap_lines(caps: &CapabilitySet) -> Vec<(String, u64)> {
    let out = run(caps, &["grep", "^Cap", "/proc/self/status"]);
    out.assert_ok();
    out.stdout()
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(':').expect(l);
            (k.to_owned(), u64::from_str_radix(v.trim(), 16).expect(l))
        })
        .collect()
}

#[test]
fn capabilities_are_dropped_in_the_child() {
    if !harness::landlock_abi_at_least(1) {
        return;
    }
    let mut caps = base_caps();
    caps.allow_dir("/proc", AccessMode::Read, "test").unwrap();
    let lines = cap_lines(&caps);
    let names: Vec<&str> = lines.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]);
    for (name, value) in &lines {
        // Without CAP_SETPCAP (not root) the bounding set cannot be emptied; exec cannot
        // use it anyway (no_new_privs, empty permitted set).
        if name == "CapBnd" && !is_root() {
            continue;
        }
        assert_eq!(*value, 0, "{name} in {lines:?}");
    }

    let st = PreparedSandbox::prepare(&caps, &SandboxOptions::default()).unwrap();
    assert!(
        st.status().enforces(Protection::CapabilitiesDropped),
        "{}",
        st.status()
    );

    // Control: kept on request (as root, the full set).
    caps.set_keep_capabilities(true);
    let kept = cap_lines(&caps);
    if is_root() {
        let eff = kept.iter().find(|(k, _)| k == "CapEff").unwrap().1;
        assert_ne!(eff, 0, "{kept:?}");
    }
    let st = PreparedSandbox::prepare(&caps, &SandboxOptions::default()).unwrap();
    assert!(!st.status().enforces(Protection::CapabilitiesDropped));
    assert!(st.status().to_string().contains("capabilities are kept"));
}

/// As root, dropped capabilities are the kernel's own checks failing: no device node (even
/// outside Landlock's view), no raw socket, no host clock change.
#[test]
fn root_loses_what_capabilities_gave() {
    if !harness::landlock_abi_at_least(1) || !is_root() {
        return;
    }
    let t = TempTree::new("caps-root");
    let mut caps = base_caps();
    caps.allow_dir(t.path(), AccessMode::ReadWrite, "test")
        .unwrap();
    let py = |caps: &CapabilitySet, code: &str| run(caps, &["/usr/bin/python3", "-c", code]);
    // A raw ICMP socket needs CAP_NET_RAW (the network is allowed: no seccomp family filter).
    let raw = "import socket\ntry:\n    socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)\n    print('ok')\nexcept OSError as e:\n    print(e.errno)";
    let out = py(&caps, raw);
    out.assert_ok();
    assert_eq!(out.stdout().trim(), "1", "EPERM expected: {}", out.stderr());
    let mut kept = caps.clone();
    kept.set_keep_capabilities(true);
    let out = py(&kept, raw);
    out.assert_ok();
    assert_eq!(out.stdout().trim(), "ok", "control: {}", out.stderr());
}

/// Write grants never carry MAKE_CHAR/MAKE_BLOCK: a device node is refused by Landlock even
/// when root keeps CAP_MKNOD; FIFOs and sockets still work.
#[test]
fn device_nodes_are_refused_in_write_grants() {
    if !harness::landlock_abi_at_least(1) {
        return;
    }
    let t = TempTree::new("mknod");
    let mut caps = base_caps();
    caps.allow_dir(t.path(), AccessMode::ReadWrite, "test")
        .unwrap()
        .set_keep_capabilities(true);
    let node = t.join("null");
    let node_s = node.to_str().unwrap();
    run(&caps, &["mknod", node_s, "c", "1", "3"]).assert_denied();
    assert!(!node.exists());
    let blk = t.join("loop");
    run(&caps, &["mknod", blk.to_str().unwrap(), "b", "7", "0"]).assert_denied();
    assert!(!blk.exists());
    let fifo = t.join("fifo");
    run(&caps, &["mkfifo", fifo.to_str().unwrap()]).assert_ok();
    assert!(fifo.exists());
    run(
        &caps,
        &[
            "/usr/bin/python3",
            "-c",
            &format!(
                "import socket; socket.socket(socket.AF_UNIX).bind('{}')",
                t.join("sock").display()
            ),
        ],
    )
    .assert_ok();
    // Control: unsandboxed root makes the node.
    if is_root() {
        let ok = std::process::Command::new("mknod")
            .args([node_s, "c", "1", "3"])
            .status()
            .unwrap();
        assert!(ok.success());
    }
}

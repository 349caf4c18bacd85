//! Kernel attack surface and host-wide state: the deny-listed "escape tools" (bpf,
//! perf_event_open, the keyring, userfaultfd, personality flags), and what the deny-list
//! leaves to the dropped capabilities (stepping the host clock through clock_adjtime needs
//! CAP_SYS_TIME), and the capability sets of the sandboxed process itself.

use crate::harness::Scratch;
use crate::programs::{bins, probe_bare, probe_in, MODES};

#[test]
fn kernel_escape_syscalls_refused() {
    let Some(_) = bins() else { return };
    let steps = [
        "bpf",
        "bpf",
        "perf",
        "perf_event_open",
        "keyctl",
        "keyctl",
        "userfaultfd",
        "userfaultfd",
        "personality",
        "personality",
    ];
    for mode in MODES {
        let s = Scratch::new(&format!("kernel-{}", mode.as_str()));
        probe_in(mode, &s.path, &[], &steps).expect(&[
            ("bpf", "EPERM"),
            ("perf_event_open", "EPERM"),
            ("keyctl", "EPERM"),
            ("userfaultfd", "EPERM"),
            ("personality", "EPERM"),
        ]);
        // Control: as root, each of them works.
        probe_bare(&s.path, &steps).expect(&[
            ("bpf", "ok"),
            ("perf_event_open", "ok"),
            ("keyctl", "ok"),
            ("userfaultfd", "ok"),
            ("personality", "ok"),
        ]);
    }
}

/// `settimeofday` and `clock_settime` are deny-listed; `clock_adjtime`/`adjtimex` with
/// `ADJ_SETOFFSET` step the same clock and are not (their `modes` field is in memory, out of
/// seccomp's reach, and read-only calls are legitimate). They need CAP_SYS_TIME, which the
/// sandbox no longer has: `EPERM` from the kernel. The probe steps the clock by 0 s (no
/// change); the control, unsandboxed root, is allowed to.
#[test]
fn kernel_clock_adjtime_refused() {
    let Some(_) = bins() else { return };
    for mode in MODES {
        let s = Scratch::new(&format!("kernel-clock-{}", mode.as_str()));
        probe_in(mode, &s.path, &[], &["clock_offset0", "step_clock"])
            .expect(&[("step_clock", "EPERM")]);
        probe_bare(&s.path, &["clock_offset0", "step_clock"]).expect(&[("step_clock", "ok")]);
    }
}

/// Root in the sandbox holds no capability: every `Cap*` set of the sandboxed process is
/// empty (the bounding set too, so nothing it executes can regain one), where unsandboxed
/// root has the full effective set.
#[test]
fn kernel_capabilities_dropped() {
    let Some(_) = bins() else { return };
    let caps = |out: &crate::programs::Outcome| -> Vec<(String, u64)> {
        let status = out
            .data("status")
            .expect("status read")
            .replace("\\n", "\n");
        status
            .lines()
            .filter_map(|l| l.strip_prefix("Cap"))
            .map(|l| {
                let (k, v) = l.split_once(':').unwrap();
                (
                    format!("Cap{k}"),
                    u64::from_str_radix(v.trim(), 16).unwrap(),
                )
            })
            .collect()
    };
    for mode in MODES {
        let s = Scratch::new(&format!("kernel-caps-{}", mode.as_str()));
        let out = probe_in(mode, &s.path, &[], &["read", "status", "/proc/self/status"]);
        out.expect(&[("status", "ok")]);
        let sets = caps(&out);
        assert_eq!(sets.len(), 5, "{}", out.run);
        assert!(sets.iter().all(|(_, v)| *v == 0), "{sets:?}");
        let control = probe_bare(&s.path, &["read", "status", "/proc/self/status"]);
        let eff = caps(&control).into_iter().find(|(k, _)| k == "CapEff");
        assert_ne!(eff.map(|e| e.1), Some(0), "the control runs as root");
    }
}

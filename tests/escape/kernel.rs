//! Kernel attack surface and host-wide state: the deny-listed "escape tools" (bpf,
//! perf_event_open, the keyring, userfaultfd, personality flags), and what the deny-list
//! does not cover yet (stepping the host clock through clock_adjtime).

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

/// FINDING (reported): `settimeofday` and `clock_settime` are deny-listed ("sets the host
/// clock"), but `clock_adjtime`/`adjtimex` with `ADJ_SETOFFSET` step the same clock and are
/// not. The probe steps it by 0 s (no change) to show the permission. Records the current
/// behaviour; flip to EPERM when the deny-list covers them (their `modes` field is in
/// memory, so seccomp can only refuse the calls as a whole).
#[test]
fn kernel_clock_adjtime_known_gap() {
    let Some(_) = bins() else { return };
    for mode in MODES {
        let s = Scratch::new(&format!("kernel-clock-{}", mode.as_str()));
        probe_in(mode, &s.path, &[], &["clock_offset0", "step_clock"])
            .expect(&[("step_clock", "ok")]);
    }
}

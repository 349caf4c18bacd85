//! Red team 9 (session 7): today's start-up changes — the statically linked nono, and the
//! command-line fast path for run/wrap/shell.

use std::process::{Command, Stdio};

use crate::harness::{nono_bin, sandbox_available};

/// The ELF header facts of the nono under test: (`e_type`, has a `PT_INTERP`).
fn elf_facts(bytes: &[u8]) -> (u16, bool) {
    assert_eq!(
        &bytes[..6],
        b"\x7fELF\x02\x01",
        "nono is not a 64-bit LE ELF file"
    );
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]);
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
    let phoff = usize::try_from(u64::from_le_bytes(bytes[0x20..0x28].try_into().unwrap())).unwrap();
    let (phentsize, phnum) = (usize::from(u16_at(0x36)), usize::from(u16_at(0x38)));
    let interp = (0..phnum).any(|i| u32_at(phoff + i * phentsize) == 3);
    (u16_at(0x10), interp)
}

/// Where the nono image of a running `nono run` (the supervisor) is mapped.
fn image_base() -> u64 {
    let bin = nono_bin();
    let mut child = Command::new(&bin)
        .args(["run", "-s", "--best-effort", "--", "sleep", "2"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn nono");
    let maps_path = format!("/proc/{}/maps", child.id());
    let real = std::fs::canonicalize(&bin).unwrap();
    let mut base = None;
    for _ in 0..200 {
        if let Ok(maps) = std::fs::read_to_string(&maps_path) {
            base = maps
                .lines()
                .find(|l| l.ends_with(real.to_str().unwrap()))
                .and_then(|l| u64::from_str_radix(l.split('-').next()?, 16).ok());
            if base.is_some() {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    base.expect("the supervisor's maps name the nono image")
}

/// The nono the tests run (`cargo xtask ci`: the static build users install) is a PIE, and
/// the kernel maps it at a new address at every start: static linking kept ASLR. A static
/// program linked at a fixed address (`ET_EXEC`, `-C relocation-model=static`) has no
/// interpreter either; `cargo xtask` now refuses it (xtask `build::tests`).
#[test]
fn redteam9_nono_is_a_pie_mapped_at_a_random_address() {
    if !sandbox_available() {
        return;
    }
    let bytes = std::fs::read(nono_bin()).unwrap();
    let (e_type, interp) = elf_facts(&bytes);
    assert_eq!(
        e_type, 3,
        "nono is not position-independent (ET_DYN); interpreter: {interp}"
    );
    let randomize =
        std::fs::read_to_string("/proc/sys/kernel/randomize_va_space").unwrap_or_default();
    if randomize.trim() == "0" {
        return; // ASLR is off on this machine: nothing to compare.
    }
    let bases: std::collections::BTreeSet<u64> = (0..3).map(|_| image_base()).collect();
    assert!(
        bases.len() > 1,
        "nono mapped at the same address every time: {bases:x?}"
    );
}

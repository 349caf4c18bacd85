//! Dropping every Linux capability of a sandboxed process before `exec` (`CapDrop`), so a
//! command started as root keeps uid 0 but none of the `CAP_*` powers over the host.
//!
//! Order (in the child, after `fork`, async-signal-safe: plain syscalls on values read
//! before the fork):
//! 1. `PR_CAP_AMBIENT_CLEAR_ALL` (needs no privilege);
//! 2. with `CAP_SETPCAP` in the permitted set (root): make it effective, lock the securebits
//!    `SECBIT_NOROOT` (uid 0 gains no capability on `exec`), `NO_CAP_AMBIENT_RAISE`, and the
//!    `KEEP_CAPS`/`NO_SETUID_FIXUP` locks, then `PR_CAPBSET_DROP` every capability up to
//!    `cap_last_cap` — all three need `CAP_SETPCAP`, so they come before step 3;
//! 3. `capset` effective, permitted and inheritable to nothing.
//!
//! Without `CAP_SETPCAP` (an ordinary user) the bounding set stays as it is: with an empty
//! permitted set and `PR_SET_NO_NEW_PRIVS` (set by the sandbox before this), no `exec` can
//! give a capability back (a file's capabilities and set-user-ID bits are ignored).
//!
//! # References
//! - [capabilities(7)](https://man7.org/linux/man-pages/man7/capabilities.7.html)
//! - [prctl(2)](https://man7.org/linux/man-pages/man2/prctl.2.html) (`PR_CAPBSET_DROP`,
//!   `PR_CAP_AMBIENT`, `PR_SET_SECUREBITS`)
//! - [capset(2)](https://man7.org/linux/man-pages/man2/capset.2.html)

use rustix::io::Errno;
use rustix::thread::{
    capabilities, capabilities_secure_bits, clear_ambient_capability_set,
    remove_capability_from_bounding_set, set_capabilities, set_capabilities_secure_bits,
    CapabilitiesSecureBits as Secbits, CapabilitySet as Caps, CapabilitySets,
};

/// Highest capability number `rustix`'s 64-bit set can name.
const MAX_CAP: u32 = 63;

/// The securebits set (and locked) as root.
const SECBITS: Secbits = Secbits::NO_ROOT
    .union(Secbits::NO_ROOT_LOCKED)
    .union(Secbits::NO_SETUID_FIXUP_LOCKED)
    .union(Secbits::KEEP_CAPS_LOCKED)
    .union(Secbits::NO_CAP_AMBIENT_RAISE)
    .union(Secbits::NO_CAP_AMBIENT_RAISE_LOCKED);

/// A prepared capability drop: what was read before the fork. The sandbox's own drop
/// ([`PreparedSandbox::enforce`](crate::linux::apply::PreparedSandbox::enforce)), and the
/// supervisor's for a helper it runs outside the sandbox on the sandbox's behalf (the URL
/// opener), which must not get capabilities the sandboxed command lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapDrop {
    /// `/proc/sys/kernel/cap_last_cap` (or [`MAX_CAP`] when it cannot be read; the loop
    /// then stops at the kernel's first `EINVAL`).
    last_cap: u32,
    /// Whether the preparing process could drop the bounding set (`CAP_SETPCAP` permitted).
    /// Only for the status text: [`enforce`](Self::enforce) checks again in the child.
    bounding: bool,
}

impl CapDrop {
    /// Read `cap_last_cap` and the caller's capabilities. Call before `fork`.
    #[must_use]
    pub fn prepare() -> CapDrop {
        let last_cap = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .map_or(MAX_CAP, |n| n.min(MAX_CAP));
        let bounding = capabilities(None).is_ok_and(|c| c.permitted.contains(Caps::SETPCAP));
        CapDrop { last_cap, bounding }
    }

    /// The status line: what [`enforce`](Self::enforce) will do for this caller.
    pub(crate) fn detail(self) -> &'static str {
        if self.bounding {
            "capset(0, 0, 0), ambient set cleared, bounding set emptied, SECBIT_NOROOT locked"
        } else {
            "capset(0, 0, 0), ambient set cleared (no CAP_SETPCAP for the bounding set; \
             no_new_privs keeps exec from adding any)"
        }
    }

    /// Drop every capability of the calling thread. Async-signal-safe: syscalls only.
    ///
    /// # Errors
    /// The errno of the first failing `prctl`/`capget`/`capset`.
    pub fn enforce(self) -> Result<(), Errno> {
        match clear_ambient_capability_set() {
            // EINVAL: a kernel before 4.3 has no ambient set.
            Ok(()) | Err(Errno::INVAL) => {}
            Err(e) => return Err(e),
        }
        let mut sets = capabilities(None)?;
        if sets.permitted.contains(Caps::SETPCAP) {
            if !sets.effective.contains(Caps::SETPCAP) {
                sets.effective |= Caps::SETPCAP;
                set_capabilities(None, sets)?;
            }
            let mut bits = capabilities_secure_bits()?;
            // KEEP_CAPS only matters for a setuid() away from 0; clear it unless someone
            // locked it before us.
            if !bits.contains(Secbits::KEEP_CAPS_LOCKED) {
                bits.remove(Secbits::KEEP_CAPS);
            }
            set_capabilities_secure_bits(bits | SECBITS)?;
            for cap in 0..=self.last_cap {
                match remove_capability_from_bounding_set(Caps::from_bits_retain(1 << cap)) {
                    Ok(()) => {}
                    // Past the kernel's last capability (cap_last_cap was unreadable).
                    Err(Errno::INVAL) if cap > 0 => break,
                    Err(e) => return Err(e),
                }
            }
        }
        set_capabilities(
            None,
            CapabilitySets {
                effective: Caps::empty(),
                permitted: Caps::empty(),
                inheritable: Caps::empty(),
            },
        )
    }
}

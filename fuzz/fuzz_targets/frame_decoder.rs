//! Fuzz target: arbitrary bytes into the nono-wire frame decoder must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = nono_wire::AccessMode::Read.union(if data.is_empty() {
        nono_wire::AccessMode::Read
    } else {
        nono_wire::AccessMode::Write
    });
});

//! Fuzz target: arbitrary bytes as one frame payload, parsed as every nono-wire message type.
//!
//! Checks: no panic; whatever parses re-encodes and parses back to the same value; a parse
//! failure is always a recoverable (per-message) error. The CI twin is the
//! `any_payload_parses_or_errors_cleanly` proptest in crates/nono-wire/tests/wire.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nono_wire::{
    decode_message, encode_frame, AuditEntry, SupervisorMessage, SupervisorResponse, HEADER_LEN,
};

fuzz_target!(|payload: &[u8]| {
    match decode_message::<SupervisorMessage>(payload) {
        Ok(m) => {
            let again = encode_frame(&m).expect("a parsed message re-encodes");
            assert_eq!(
                decode_message::<SupervisorMessage>(&again[HEADER_LEN..]).unwrap(),
                m
            );
        }
        Err(e) => assert!(e.is_recoverable(), "{e}"),
    }
    match decode_message::<SupervisorResponse>(payload) {
        Ok(r) => {
            let again = encode_frame(&r).expect("a parsed response re-encodes");
            assert_eq!(
                decode_message::<SupervisorResponse>(&again[HEADER_LEN..]).unwrap(),
                r
            );
        }
        Err(e) => assert!(e.is_recoverable(), "{e}"),
    }
    if let Ok(entry) = serde_json::from_slice::<AuditEntry>(payload) {
        let line = serde_json::to_vec(&entry).expect("a parsed audit entry re-encodes");
        assert_eq!(serde_json::from_slice::<AuditEntry>(&line).unwrap(), entry);
    }
});

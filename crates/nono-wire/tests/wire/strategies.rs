//! Proptest strategies for every nono-wire type.

use std::path::PathBuf;

use nono_wire::{
    AccessMode, ApprovalDecision, AuditEntry, CapabilityRequest, SupervisorMessage,
    SupervisorResponse, Timestamp, UrlOpenRequest,
};
use proptest::prelude::*;

/// Any string, with a bias toward the characters JSON must escape.
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[\"\\\\/\\u{0}-\\u{1f}\\u{7f}\\u{2028}é😀a-z ]{0,24}",
    ]
}

pub fn access() -> impl Strategy<Value = AccessMode> {
    prop_oneof![
        Just(AccessMode::Read),
        Just(AccessMode::Write),
        Just(AccessMode::ReadWrite)
    ]
}

pub fn capability_request() -> impl Strategy<Value = CapabilityRequest> {
    (
        text(),
        text(),
        access(),
        proptest::option::of(text()),
        any::<u32>(),
        text(),
    )
        .prop_map(
            |(request_id, path, access, reason, child_pid, session_id)| CapabilityRequest {
                request_id,
                path: PathBuf::from(path),
                access,
                reason,
                child_pid,
                session_id,
            },
        )
}

pub fn url_open_request() -> impl Strategy<Value = UrlOpenRequest> {
    (text(), text(), any::<u32>(), text()).prop_map(|(request_id, url, child_pid, session_id)| {
        UrlOpenRequest {
            request_id,
            url,
            child_pid,
            session_id,
        }
    })
}

pub fn supervisor_message() -> impl Strategy<Value = SupervisorMessage> {
    prop_oneof![
        capability_request().prop_map(SupervisorMessage::Request),
        url_open_request().prop_map(SupervisorMessage::OpenUrl),
    ]
}

pub fn approval_decision() -> impl Strategy<Value = ApprovalDecision> {
    prop_oneof![
        Just(ApprovalDecision::Granted),
        text().prop_map(|reason| ApprovalDecision::Denied { reason }),
        Just(ApprovalDecision::Timeout),
    ]
}

pub fn supervisor_response() -> impl Strategy<Value = SupervisorResponse> {
    prop_oneof![
        (text(), approval_decision()).prop_map(|(request_id, decision)| {
            SupervisorResponse::Decision {
                request_id,
                decision,
            }
        }),
        (text(), any::<bool>(), proptest::option::of(text())).prop_map(
            |(request_id, success, error)| SupervisorResponse::UrlOpened {
                request_id,
                success,
                error,
            }
        ),
    ]
}

pub fn timestamp() -> impl Strategy<Value = Timestamp> {
    (any::<u64>(), 0..1_000_000_000u32)
        .prop_map(|(s, n)| Timestamp::new(s, n).expect("nanos in range"))
}

pub fn audit_entry() -> impl Strategy<Value = AuditEntry> {
    (
        timestamp(),
        capability_request(),
        approval_decision(),
        text(),
        any::<u64>(),
    )
        .prop_map(
            |(timestamp, request, decision, backend, duration_ms)| AuditEntry {
                timestamp,
                request,
                decision,
                backend,
                duration_ms,
            },
        )
}

/// How to cut a byte stream into reads: a list of chunk lengths (cycled), each ≥ 1.
pub fn chunking() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(prop_oneof![1..=4usize, 1..=64usize, 1..=4096usize], 1..16)
}

/// Cut `bytes` into chunks with the lengths in `sizes`, cycled.
pub fn chunks<'a>(bytes: &'a [u8], sizes: &'a [usize]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut rest = bytes;
    let mut i = 0;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let n = sizes[i % sizes.len()].clamp(1, rest.len());
        i += 1;
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        Some(chunk)
    })
}

//! Golden vectors: the JSON and frame bytes of every message, checked against the copies
//! in docs/PROTOCOL.md (the document is parsed, so the two cannot drift apart).

use std::collections::BTreeMap;
use std::path::PathBuf;

use nono_wire::{
    decode_message, encode_frame, AccessMode, ApprovalDecision, AuditEntry, CapabilityRequest,
    SupervisorMessage, SupervisorResponse, Timestamp, UrlOpenRequest,
};

const PROTOCOL_MD: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../docs/PROTOCOL.md"
));

const SESSION: &str = "nono-1764356400-7f3a";

fn request_read() -> CapabilityRequest {
    CapabilityRequest {
        request_id: "1".into(),
        path: PathBuf::from("/home/alice/.config/app/settings.json"),
        access: AccessMode::Read,
        reason: Some("read the app settings".into()),
        child_pid: 4242,
        session_id: SESSION.into(),
    }
}

/// A value under test: a frame message (JSON + hex) or a plain JSON record.
enum Vector {
    Message(SupervisorMessage),
    Response(SupervisorResponse),
    Record(AuditEntry),
}

impl Vector {
    fn json(&self) -> String {
        match self {
            Vector::Message(m) => serde_json::to_string(m),
            Vector::Response(r) => serde_json::to_string(r),
            Vector::Record(e) => serde_json::to_string(e),
        }
        .unwrap()
    }

    fn frame(&self) -> Option<Vec<u8>> {
        match self {
            Vector::Message(m) => Some(encode_frame(m).unwrap()),
            Vector::Response(r) => Some(encode_frame(r).unwrap()),
            Vector::Record(_) => None,
        }
    }

    /// Parse `json` back and compare with the value.
    fn parses_back(&self, json: &[u8]) -> bool {
        match self {
            Vector::Message(m) => {
                decode_message::<SupervisorMessage>(json).ok().as_ref() == Some(m)
            }
            Vector::Response(r) => {
                decode_message::<SupervisorResponse>(json).ok().as_ref() == Some(r)
            }
            Vector::Record(e) => {
                serde_json::from_slice::<AuditEntry>(json).ok().as_ref() == Some(e)
            }
        }
    }
}

fn vectors() -> BTreeMap<&'static str, Vector> {
    use Vector::*;
    BTreeMap::from([
        (
            "request-read",
            Message(SupervisorMessage::Request(request_read())),
        ),
        (
            "request-write-no-reason",
            Message(SupervisorMessage::Request(CapabilityRequest {
                request_id: "2".into(),
                path: PathBuf::from("/tmp/build/out.log"),
                access: AccessMode::Write,
                reason: None,
                child_pid: 4242,
                session_id: SESSION.into(),
            })),
        ),
        (
            "request-readwrite",
            Message(SupervisorMessage::Request(CapabilityRequest {
                request_id: "3".into(),
                path: PathBuf::from("/home/alice/project/.git/index"),
                access: AccessMode::ReadWrite,
                reason: Some("git add".into()),
                child_pid: 4243,
                session_id: SESSION.into(),
            })),
        ),
        (
            "open-url",
            Message(SupervisorMessage::OpenUrl(UrlOpenRequest {
                request_id: "4".into(),
                url: "https://login.example.com/oauth/authorize?client_id=nono".into(),
                child_pid: 4242,
                session_id: SESSION.into(),
            })),
        ),
        (
            "decision-granted",
            Response(SupervisorResponse::Decision {
                request_id: "1".into(),
                decision: ApprovalDecision::Granted,
            }),
        ),
        (
            "decision-denied",
            Response(SupervisorResponse::Decision {
                request_id: "2".into(),
                decision: ApprovalDecision::Denied {
                    reason: "denied by the user".into(),
                },
            }),
        ),
        (
            "decision-timeout",
            Response(SupervisorResponse::Decision {
                request_id: "3".into(),
                decision: ApprovalDecision::Timeout,
            }),
        ),
        (
            "url-opened",
            Response(SupervisorResponse::UrlOpened {
                request_id: "4".into(),
                success: true,
                error: None,
            }),
        ),
        (
            "url-open-failed",
            Response(SupervisorResponse::UrlOpened {
                request_id: "5".into(),
                success: false,
                error: Some("origin https://evil.example is not allowed".into()),
            }),
        ),
        (
            "audit-entry",
            Record(AuditEntry {
                timestamp: Timestamp::new(1_764_356_400, 123_000_000).unwrap(),
                request: request_read(),
                decision: ApprovalDecision::Granted,
                backend: "terminal".into(),
                duration_ms: 1840,
            }),
        ),
    ])
}

/// Hex as written in the document: 16 bytes a line, separated by spaces.
fn hex_lines(bytes: &[u8]) -> String {
    bytes
        .chunks(16)
        .map(|line| {
            line.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn parse_hex(text: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if digits.len() % 2 != 0 {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}

/// The markdown block the document should contain for one vector.
fn expected_block(name: &str, v: &Vector) -> String {
    let mut s = format!("<!-- vector: {name} -->\n```json\n{}\n```\n", v.json());
    if let Some(frame) = v.frame() {
        s.push_str(&format!("```hex\n{}\n```\n", hex_lines(&frame)));
    }
    s
}

#[derive(Debug, Default)]
struct DocVector {
    json: Option<String>,
    hex: Option<String>,
}

/// Every `<!-- vector: NAME -->` in the document with the fenced `json` and `hex` blocks
/// that follow it (before the next marker).
fn doc_vectors(doc: &str) -> BTreeMap<String, DocVector> {
    let mut out: BTreeMap<String, DocVector> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut fence: Option<(&str, String)> = None;
    for line in doc.lines() {
        if let Some((lang, body)) = fence.as_mut() {
            if line.trim_end() == "```" {
                let entry = out.get_mut(current.as_ref().unwrap()).unwrap();
                let body = std::mem::take(body);
                match *lang {
                    "json" if entry.json.is_none() => entry.json = Some(body),
                    "hex" if entry.hex.is_none() => entry.hex = Some(body),
                    _ => {}
                }
                fence = None;
            } else {
                if !body.is_empty() {
                    body.push('\n');
                }
                body.push_str(line);
            }
            continue;
        }
        if let Some(name) = line
            .trim()
            .strip_prefix("<!-- vector:")
            .and_then(|r| r.strip_suffix("-->"))
        {
            let name = name.trim().to_owned();
            assert!(
                !out.contains_key(&name),
                "vector {name} appears twice in PROTOCOL.md"
            );
            out.insert(name.clone(), DocVector::default());
            current = Some(name);
        } else if current.is_some() {
            match line.trim_end() {
                "```json" => fence = Some(("json", String::new())),
                "```hex" => fence = Some(("hex", String::new())),
                _ => {}
            }
        }
    }
    out
}

#[test]
fn protocol_md_vectors_match_the_codec() {
    let doc = doc_vectors(PROTOCOL_MD);
    let vectors = vectors();
    let mut problems = Vec::new();
    for (name, v) in &vectors {
        let Some(d) = doc.get(*name) else {
            problems.push(format!(
                "missing from PROTOCOL.md:\n{}",
                expected_block(name, v)
            ));
            continue;
        };
        let json_ok = d.json.as_deref() == Some(v.json().as_str())
            && v.parses_back(d.json.as_deref().unwrap_or_default().as_bytes());
        let hex_ok = match (v.frame(), d.hex.as_deref().map(parse_hex)) {
            (Some(frame), Some(Some(doc_bytes))) => {
                doc_bytes == frame && v.parses_back(&doc_bytes[4..])
            }
            (None, None) => true,
            _ => false,
        };
        if !(json_ok && hex_ok) {
            problems.push(format!(
                "wrong in PROTOCOL.md, should be:\n{}",
                expected_block(name, v)
            ));
        }
    }
    for name in doc.keys() {
        if !vectors.contains_key(name.as_str()) {
            problems.push(format!("PROTOCOL.md has vector {name} that no test checks"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn documented_constants_match() {
    assert!(PROTOCOL_MD.contains(&format!(
        "`PROTOCOL_VERSION` = {}",
        nono_wire::PROTOCOL_VERSION
    )));
    assert!(PROTOCOL_MD.contains(&format!("{} bytes", nono_wire::MAX_FRAME_LEN)));
    assert!(PROTOCOL_MD.contains(nono_wire::SUPERVISOR_FD_ENV));
}

#[test]
fn golden_vectors_cover_every_kind() {
    use nono_wire::WireMessage;
    let vectors = vectors();
    for kind in SupervisorMessage::KINDS {
        assert!(
            vectors
                .values()
                .any(|v| matches!(v, Vector::Message(m) if m.kind() == *kind)),
            "{kind}"
        );
    }
    for kind in SupervisorResponse::KINDS {
        assert!(
            vectors
                .values()
                .any(|v| matches!(v, Vector::Response(r) if r.kind() == *kind)),
            "{kind}"
        );
    }
    for d in ["Granted", "Denied", "Timeout"] {
        assert!(
            vectors
                .values()
                .any(|v| v.json().contains(&format!("\"{d}\""))),
            "{d}"
        );
    }
}

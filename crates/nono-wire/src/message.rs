//! The protocol's messages: `SupervisorMessage` (child → supervisor), `SupervisorResponse`
//! (supervisor → child), their payloads, and the `AuditEntry` record.
//!
//! Every JSON shape here is byte-for-byte the one nono 0.58 produces and accepts: serde's
//! default externally tagged enums (`{"Kind":{...}}`, unit variants as a bare string),
//! fields in declaration order, `Option` fields written as `null` when absent. Unknown
//! fields are ignored on input, so a newer peer may add fields; unknown message kinds are
//! reported as [`WireError::UnknownKind`](crate::WireError::UnknownKind). See
//! `docs/PROTOCOL.md`.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::AccessMode;

/// A message type that travels in a frame: an externally tagged enum whose tags are listed
/// in [`KINDS`](WireMessage::KINDS), so a tag that is not among them can be reported as an
/// unknown (newer) kind rather than as garbage.
pub trait WireMessage: Serialize + DeserializeOwned {
    /// Every tag this version understands, e.g. `["Request", "OpenUrl"]`.
    const KINDS: &'static [&'static str];

    /// This message's tag.
    fn kind(&self) -> &'static str;
}

/// A request from the sandboxed child for access to a path outside its sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CapabilityRequest {
    /// Chosen by the child, echoed in the answer; unique within the session.
    pub request_id: String,
    /// The path the child wants. The supervisor resolves and opens it itself.
    pub path: PathBuf,
    /// The access the child wants.
    pub access: AccessMode,
    /// Why, in the child's words (shown to a person approving). `null` when not given.
    pub reason: Option<String>,
    /// The requesting process, as the child reports it (the supervisor checks the socket's
    /// peer credentials; this field is informational).
    pub child_pid: u32,
    /// The supervisor session the child belongs to.
    pub session_id: String,
}

/// A request from the sandboxed child to open a URL in the user's browser, outside the
/// sandbox (OAuth logins).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UrlOpenRequest {
    /// Chosen by the child, echoed in the answer.
    pub request_id: String,
    /// The URL to open; the supervisor checks it against the profile's allowed origins.
    pub url: String,
    /// The requesting process, as the child reports it.
    pub child_pid: u32,
    /// The supervisor session the child belongs to.
    pub session_id: String,
}

/// Child → supervisor.
///
/// JSON: `{"Request":{...}}` or `{"OpenUrl":{...}}`. New kinds may be added in later
/// protocol versions (hence `#[non_exhaustive]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SupervisorMessage {
    /// Ask for access to a path; answered by [`SupervisorResponse::Decision`].
    Request(CapabilityRequest),
    /// Ask the supervisor to open a URL; answered by [`SupervisorResponse::UrlOpened`].
    OpenUrl(UrlOpenRequest),
}

impl SupervisorMessage {
    /// The `request_id` the answer will carry.
    #[must_use]
    pub fn request_id(&self) -> &str {
        match self {
            SupervisorMessage::Request(r) => &r.request_id,
            SupervisorMessage::OpenUrl(r) => &r.request_id,
        }
    }
}

impl WireMessage for SupervisorMessage {
    const KINDS: &'static [&'static str] = &["Request", "OpenUrl"];

    fn kind(&self) -> &'static str {
        match self {
            SupervisorMessage::Request(_) => "Request",
            SupervisorMessage::OpenUrl(_) => "OpenUrl",
        }
    }
}

/// The supervisor's verdict on a [`CapabilityRequest`].
///
/// JSON: `"Granted"`, `{"Denied":{"reason":"..."}}` or `"Timeout"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ApprovalDecision {
    /// Access granted: the opened fd was sent (one data byte + `SCM_RIGHTS`) just before the
    /// frame carrying this decision.
    Granted,
    /// Access denied.
    Denied {
        /// Why, for the child (and its user) to read.
        reason: String,
    },
    /// Nobody decided in time; treat as denied.
    Timeout,
}

impl ApprovalDecision {
    /// Whether access was granted (and so an fd precedes this decision on the socket).
    #[must_use]
    pub fn is_granted(&self) -> bool {
        matches!(self, ApprovalDecision::Granted)
    }
}

/// Supervisor → child.
///
/// JSON: `{"Decision":{"request_id":"...","decision":...}}` or
/// `{"UrlOpened":{"request_id":"...","success":true,"error":null}}`. New kinds may be added
/// in later protocol versions (hence `#[non_exhaustive]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SupervisorResponse {
    /// The answer to a [`SupervisorMessage::Request`].
    Decision {
        /// The request being answered.
        request_id: String,
        /// The verdict.
        decision: ApprovalDecision,
    },
    /// The answer to a [`SupervisorMessage::OpenUrl`].
    UrlOpened {
        /// The request being answered.
        request_id: String,
        /// Whether the URL was opened.
        success: bool,
        /// Why not, when it was not. `null` on success.
        error: Option<String>,
    },
}

impl SupervisorResponse {
    /// The `request_id` this answers.
    #[must_use]
    pub fn request_id(&self) -> &str {
        match self {
            SupervisorResponse::Decision { request_id, .. }
            | SupervisorResponse::UrlOpened { request_id, .. } => request_id,
        }
    }
}

impl WireMessage for SupervisorResponse {
    const KINDS: &'static [&'static str] = &["Decision", "UrlOpened"];

    fn kind(&self) -> &'static str {
        match self {
            SupervisorResponse::Decision { .. } => "Decision",
            SupervisorResponse::UrlOpened { .. } => "UrlOpened",
        }
    }
}

/// A point in time as nono 0.58 writes a `std::time::SystemTime`:
/// `{"secs_since_epoch":1700000000,"nanos_since_epoch":0}`.
///
/// A type of its own (rather than `SystemTime`) so that it is `Eq`, cannot fail to
/// serialise (a `SystemTime` before 1970 does), and rejects `nanos_since_epoch` ≥ 10⁹.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "RawTimestamp")]
pub struct Timestamp {
    secs_since_epoch: u64,
    nanos_since_epoch: u32,
}

/// The unchecked shape of a [`Timestamp`] on the wire.
#[derive(Deserialize)]
struct RawTimestamp {
    secs_since_epoch: u64,
    nanos_since_epoch: u32,
}

const NANOS_PER_SEC: u32 = 1_000_000_000;

impl TryFrom<RawTimestamp> for Timestamp {
    type Error = String;

    fn try_from(raw: RawTimestamp) -> Result<Self, Self::Error> {
        Timestamp::new(raw.secs_since_epoch, raw.nanos_since_epoch).ok_or_else(|| {
            format!(
                "nanos_since_epoch must be below {NANOS_PER_SEC}, got {}",
                raw.nanos_since_epoch
            )
        })
    }
}

impl Timestamp {
    /// The Unix epoch, 1970-01-01T00:00:00Z.
    pub const UNIX_EPOCH: Timestamp = Timestamp {
        secs_since_epoch: 0,
        nanos_since_epoch: 0,
    };

    /// `secs` seconds and `nanos` nanoseconds after the epoch; `None` if `nanos` ≥ 10⁹.
    #[must_use]
    pub const fn new(secs: u64, nanos: u32) -> Option<Timestamp> {
        if nanos < NANOS_PER_SEC {
            Some(Timestamp {
                secs_since_epoch: secs,
                nanos_since_epoch: nanos,
            })
        } else {
            None
        }
    }

    /// Whole seconds since the epoch.
    #[must_use]
    pub const fn secs_since_epoch(self) -> u64 {
        self.secs_since_epoch
    }

    /// Nanoseconds past [`secs_since_epoch`](Timestamp::secs_since_epoch), below 10⁹.
    #[must_use]
    pub const fn nanos_since_epoch(self) -> u32 {
        self.nanos_since_epoch
    }

    /// The time since the epoch as a `Duration`.
    #[must_use]
    pub const fn since_epoch(self) -> Duration {
        Duration::new(self.secs_since_epoch, self.nanos_since_epoch)
    }

    /// The time in RFC 3339, UTC, with microseconds: `2026-12-04T21:20:39.123456Z` (the
    /// audit log writes it beside the 0.58 shape, see docs/PROTOCOL.md). Years past 9999
    /// are written with more digits (RFC 3339 has no form for them).
    #[must_use]
    pub fn rfc3339(self) -> String {
        let days = self.secs_since_epoch / 86_400;
        let rem = self.secs_since_epoch % 86_400;
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60,
            self.nanos_since_epoch / 1000
        )
    }
}

/// The proleptic Gregorian date `days` days after 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for non-negative day counts).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

impl TryFrom<SystemTime> for Timestamp {
    type Error = std::time::SystemTimeError;

    /// Fails for a time before the epoch, which the 0.58 format cannot express.
    fn try_from(t: SystemTime) -> Result<Self, Self::Error> {
        let d = t.duration_since(UNIX_EPOCH)?;
        Ok(Timestamp {
            secs_since_epoch: d.as_secs(),
            nanos_since_epoch: d.subsec_nanos(),
        })
    }
}

impl TryFrom<Timestamp> for SystemTime {
    type Error = Timestamp;

    /// Fails (returning the timestamp) if the platform's `SystemTime` cannot hold it.
    fn try_from(t: Timestamp) -> Result<Self, Self::Error> {
        UNIX_EPOCH.checked_add(t.since_epoch()).ok_or(t)
    }
}

/// One audit-log record: a request and what was decided, written as one JSON line per
/// decision.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When the decision was made.
    pub timestamp: Timestamp,
    /// The request as the supervisor saw it.
    pub request: CapabilityRequest,
    /// The verdict.
    pub decision: ApprovalDecision,
    /// Which approval backend decided (`"terminal"`, `"policy"`, ...).
    pub backend: String,
    /// How long the decision took, in milliseconds.
    pub duration_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_matches_serde_system_time_shape() {
        let t = SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 5);
        let ours = Timestamp::try_from(t).unwrap();
        assert_eq!(
            serde_json::to_string(&ours).unwrap(),
            serde_json::to_string(&t).unwrap()
        );
        let back: SystemTime = ours.try_into().unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn timestamp_in_rfc3339() {
        for (secs, nanos, text) in [
            (0, 0, "1970-01-01T00:00:00.000000Z"),
            (951_782_400, 5_000, "2000-02-29T00:00:00.000005Z"),
            (1_764_356_400, 123_000_000, "2025-11-28T19:00:00.123000Z"),
            (4_107_542_399, 999_999_999, "2100-02-28T23:59:59.999999Z"),
            (253_402_300_799, 0, "9999-12-31T23:59:59.000000Z"),
        ] {
            assert_eq!(Timestamp::new(secs, nanos).unwrap().rfc3339(), text);
        }
    }

    #[test]
    fn timestamp_rejects_out_of_range_nanos() {
        let err = serde_json::from_str::<Timestamp>(
            r#"{"secs_since_epoch":1,"nanos_since_epoch":1000000000}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("nanos_since_epoch"), "{err}");
        assert!(Timestamp::new(0, 999_999_999).is_some());
        assert!(Timestamp::new(0, 1_000_000_000).is_none());
    }

    #[test]
    fn timestamp_before_epoch_is_an_error() {
        let before = SystemTime::UNIX_EPOCH - Duration::from_secs(1);
        assert!(Timestamp::try_from(before).is_err());
    }

    #[test]
    fn kinds_list_every_variant() {
        let m = SupervisorMessage::OpenUrl(UrlOpenRequest {
            request_id: "r".into(),
            url: "https://example.com".into(),
            child_pid: 1,
            session_id: "s".into(),
        });
        assert!(SupervisorMessage::KINDS.contains(&m.kind()));
        assert_eq!(m.request_id(), "r");
        let r = SupervisorResponse::UrlOpened {
            request_id: "q".into(),
            success: false,
            error: None,
        };
        assert!(SupervisorResponse::KINDS.contains(&r.kind()));
        assert_eq!(r.request_id(), "q");
    }

    #[test]
    fn missing_reason_reads_as_none_and_unknown_fields_are_ignored() {
        let json = r#"{"request_id":"1","path":"/x","access":"Read","child_pid":7,
                       "session_id":"s","priority":"high"}"#;
        let req: CapabilityRequest = serde_json::from_str(json).unwrap();
        assert_eq!(req.reason, None);
        assert_eq!(req.path, PathBuf::from("/x"));
    }
}

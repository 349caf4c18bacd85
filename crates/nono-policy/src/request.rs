//! A runtime request for access beyond the static sandbox and the verdict on it: the types
//! the engine (`policy.rs`) and the approval backends (`approval.rs`) share.

use std::path::PathBuf;

use nono_sandbox::{DenyKind, Origin};
use nono_wire::{AccessMode, ApprovalDecision};

/// How a runtime request reached the supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestSource {
    /// A trapped `open`-family syscall (seccomp user notification).
    Trap,
    /// An explicit request over the SDK socket.
    Sdk,
}

impl RequestSource {
    /// `"trap"` or `"sdk"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            RequestSource::Trap => "trap",
            RequestSource::Sdk => "sdk",
        }
    }
}

/// One request for access beyond the static sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeRequest {
    /// Absolute path, as resolved by the broker.
    pub path: PathBuf,
    /// The access asked for.
    pub access: AccessMode,
    /// The requesting process.
    pub pid: u32,
    /// Why, in the child's words (SDK requests only; untrusted text).
    pub reason: Option<String>,
    /// Trap or SDK.
    pub source: RequestSource,
}

/// How long a grant lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrantScope {
    /// This request only.
    Once,
    /// This path with this access (or less) for the rest of the session.
    Session,
    /// Everything beneath the path's directory (the path itself when it is a directory) with
    /// this access (or less) for the rest of the session. Deny groups still win inside it.
    SessionDirectory,
}

/// A deny entry's refusal of a request, as the engine decided it: the report of the refusal
/// is made from this, not by asking the deny groups again when the run ends (the layout may
/// have changed by then: red team 21 finding 2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GroupRefusal {
    /// Where the entry came from: a built-in group or a profile's own deny list.
    pub origin: Origin,
    /// Every access, or writing only.
    pub kind: DenyKind,
    /// Why the entry is protected (empty: the group's description says it).
    pub why: String,
    /// The path was reached by another name than the one refused: this is the name it has
    /// on the user's own paths, which the entry covers (a directory of the home
    /// bind-mounted in an approved directory, red team 29). `None`: refused by its own name,
    /// or by the identity of an entry.
    pub own: Option<PathBuf>,
}

/// The verdict on a [`RuntimeRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed. `rule` says what allowed it (`"approve /src/** (read)"`, `"terminal prompt"`).
    Granted {
        /// Once or for the session.
        scope: GrantScope,
        /// What granted it.
        rule: String,
    },
    /// Refused, with a reason for the child and the audit log.
    Denied {
        /// Why.
        reason: String,
        /// The deny entry that refused it, when one did.
        by_group: Option<GroupRefusal>,
    },
    /// Nobody answered in time; treated as denied.
    Timeout,
}

impl Decision {
    /// Shorthand for `Denied { reason }` with no deny entry behind it.
    #[must_use]
    pub fn denied(reason: impl Into<String>) -> Decision {
        Decision::Denied {
            reason: reason.into(),
            by_group: None,
        }
    }

    /// Whether access was granted.
    #[must_use]
    pub fn is_granted(&self) -> bool {
        matches!(self, Decision::Granted { .. })
    }

    /// The wire form sent to an SDK client.
    #[must_use]
    pub fn to_wire(&self) -> ApprovalDecision {
        match self {
            Decision::Granted { .. } => ApprovalDecision::Granted,
            Decision::Denied { reason, .. } => ApprovalDecision::Denied {
                reason: reason.clone(),
            },
            Decision::Timeout => ApprovalDecision::Timeout,
        }
    }
}

//! Approval backends: who decides a runtime request that no rule covers — the
//! [`ApprovalBackend`] trait, nobody ([`DenyAll`]) or the embedding program ([`Callback`]).
//! The person at the terminal (`TerminalPrompt`) is nono-supervisor's `approval.rs`.

use std::fmt;

use crate::cancel::CancelWatch;
use crate::request::{Decision, RuntimeRequest};

/// Decides runtime requests that no deny group, session grant or approve rule decided.
pub trait ApprovalBackend: Send + Sync + fmt::Debug {
    /// Decide. May block (a person is asked); the broker calls it off its poll loop.
    fn approve(&self, req: &RuntimeRequest) -> Decision;

    /// Decide, giving up when `cancel` fires (the command ended, or a terminating signal
    /// was forwarded to it): then return `Decision::denied(reason.as_denial())`. The
    /// supervisor calls this one. The default ignores `cancel` and calls
    /// [`approve`](ApprovalBackend::approve) — such a backend (e.g. [`Callback`]) cannot be
    /// interrupted, and `run` waits for it before it returns; a backend that may block for
    /// long should poll `cancel` (its fd is readable once cancelled), as nono-supervisor's `TerminalPrompt`
    /// does.
    fn approve_until(&self, req: &RuntimeRequest, cancel: &CancelWatch) -> Decision {
        let _ = cancel;
        self.approve(req)
    }

    /// Name written to the audit log's `backend` field.
    fn name(&self) -> &str {
        "custom"
    }

    /// Whether calls count against the prompt rate limit (a backend that never asks anyone
    /// returns `false`).
    fn throttled(&self) -> bool {
        true
    }
}

impl<T: ApprovalBackend + ?Sized> ApprovalBackend for Box<T> {
    fn approve(&self, req: &RuntimeRequest) -> Decision {
        (**self).approve(req)
    }
    fn approve_until(&self, req: &RuntimeRequest, cancel: &CancelWatch) -> Decision {
        (**self).approve_until(req, cancel)
    }
    fn name(&self) -> &str {
        (**self).name()
    }
    fn throttled(&self) -> bool {
        (**self).throttled()
    }
}

impl<T: ApprovalBackend + ?Sized> ApprovalBackend for std::sync::Arc<T> {
    fn approve(&self, req: &RuntimeRequest) -> Decision {
        (**self).approve(req)
    }
    fn approve_until(&self, req: &RuntimeRequest, cancel: &CancelWatch) -> Decision {
        (**self).approve_until(req, cancel)
    }
    fn name(&self) -> &str {
        (**self).name()
    }
    fn throttled(&self) -> bool {
        (**self).throttled()
    }
}

/// Denies everything that no rule granted.
#[derive(Debug, Clone, Copy, Default)]
pub struct DenyAll;

impl ApprovalBackend for DenyAll {
    fn approve(&self, _req: &RuntimeRequest) -> Decision {
        Decision::denied("not covered by an approve rule, and no approval backend is configured")
    }
    fn name(&self) -> &str {
        "deny-all"
    }
    fn throttled(&self) -> bool {
        false
    }
}

/// The closure type [`Callback`] wraps.
pub type CallbackFn = dyn Fn(&RuntimeRequest) -> Decision + Send + Sync;

/// A library user's own decision function.
pub struct Callback {
    f: Box<CallbackFn>,
}

impl Callback {
    /// Wrap `f`. It may block; it may be called from several threads at once.
    pub fn new(f: impl Fn(&RuntimeRequest) -> Decision + Send + Sync + 'static) -> Callback {
        Callback { f: Box::new(f) }
    }
}

impl fmt::Debug for Callback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Callback(..)")
    }
}

impl ApprovalBackend for Callback {
    fn approve(&self, req: &RuntimeRequest) -> Decision {
        (self.f)(req)
    }
    fn name(&self) -> &str {
        "callback"
    }
}

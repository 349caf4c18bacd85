//! Cancelling approval decisions that nobody needs any more: a run-scoped [`CancelToken`]
//! that the supervisor fires when the command ended (every pending and later decision of the
//! run is cancelled) or when a terminating signal was forwarded (only the decisions pending
//! at that moment are cancelled), and the [`CancelWatch`] a blocking backend polls.
//!
//! Why: a terminal prompt waits for a person for up to its timeout. Once the sandboxed
//! command is gone (killed by a forwarded `SIGTERM`, Ctrl-C, ...) the answer can no longer
//! matter, and `run` must not sit behind the prompt until it times out.
//!
//! A watch is an `eventfd` (one fd, close-on-exec, owned by the watch and closed when it is
//! dropped) that becomes readable when it is cancelled, so a backend can add it to the
//! `poll` it already makes (see `approval::DeadlineReader::cancelled_by`).

use std::fmt;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex};

use rustix::event::EventfdFlags;

/// Why a decision was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CancelReason {
    /// The sandboxed command ended: nothing can use the answer any more.
    Ended,
    /// A terminating signal (`SIGINT`, `SIGTERM`, `SIGHUP`, `SIGQUIT`) was forwarded to the
    /// command while the decision was pending.
    Signal,
}

impl CancelReason {
    /// The reason recorded for a cancelled decision (audit log, denials), e.g.
    /// `"cancelled: the command ended before an answer"`.
    #[must_use]
    pub const fn as_denial(self) -> &'static str {
        match self {
            CancelReason::Ended => "cancelled: the command ended before an answer",
            CancelReason::Signal => "cancelled: a signal interrupted the command before an answer",
        }
    }
}

impl fmt::Display for CancelReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CancelReason::Ended => "the command ended",
            CancelReason::Signal => "interrupted by a signal",
        })
    }
}

/// The error a cancelled read reports (inside an `io::Error` of kind `Other`; see
/// [`Cancelled::of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled(pub CancelReason);

impl Cancelled {
    /// The cancellation carried by `err`, if it is one.
    #[must_use]
    pub fn of(err: &std::io::Error) -> Option<CancelReason> {
        err.get_ref()
            .and_then(|e| e.downcast_ref::<Cancelled>())
            .map(|c| c.0)
    }
}

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cancelled: {}", self.0)
    }
}

impl std::error::Error for Cancelled {}

/// One run's cancellation state, shared (cheap to clone) by everything that decides for it.
///
/// A token that is never fired ([`CancelToken::new`]) costs nothing but the allocation.
#[derive(Debug, Clone, Default)]
pub struct CancelToken {
    inner: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    ended: bool,
    next_id: u64,
    /// The watches waiting now: their id, eventfd and fired reason.
    waiting: Vec<(u64, Arc<Slot>)>,
}

#[derive(Debug)]
struct Slot {
    fd: OwnedFd,
    fired: Mutex<Option<CancelReason>>,
}

impl Slot {
    fn fire(&self, why: CancelReason) {
        let mut fired = self.fired.lock().unwrap_or_else(|e| e.into_inner());
        if fired.is_none() {
            *fired = Some(why);
            // A non-blocking eventfd whose counter is far from its maximum: cannot fail
            // in a way that matters (the watch also checks `fired`).
            let _ = rustix::io::write(&self.fd, &1u64.to_ne_bytes());
        }
    }
}

impl CancelToken {
    /// A token that has not fired.
    #[must_use]
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// The command ended: cancel every pending decision and every later one.
    pub fn cancel(&self) {
        let mut s = self.lock();
        s.ended = true;
        for (_, slot) in s.waiting.drain(..) {
            slot.fire(CancelReason::Ended);
        }
    }

    /// A terminating signal was forwarded: cancel the decisions pending now; later ones
    /// are asked as usual (the command may handle the signal and go on).
    pub fn cancel_pending(&self) {
        let mut s = self.lock();
        for (_, slot) in s.waiting.drain(..) {
            slot.fire(CancelReason::Signal);
        }
    }

    /// `Some(Ended)` once [`cancel`](CancelToken::cancel) was called.
    #[must_use]
    pub fn ended(&self) -> Option<CancelReason> {
        self.lock().ended.then_some(CancelReason::Ended)
    }

    /// Start watching: the returned watch's fd becomes readable when this token cancels it
    /// (at once if the command already ended).
    ///
    /// # Errors
    /// `eventfd` failed (e.g. the fd limit).
    pub fn watch(&self) -> std::io::Result<CancelWatch> {
        let fd = rustix::event::eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        let slot = Arc::new(Slot {
            fd,
            fired: Mutex::new(None),
        });
        let mut s = self.lock();
        let id = s.next_id;
        s.next_id += 1;
        if s.ended {
            slot.fire(CancelReason::Ended);
        } else {
            s.waiting.push((id, slot.clone()));
        }
        Ok(CancelWatch {
            token: self.clone(),
            id,
            slot,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One pending decision's view of a [`CancelToken`]; deregisters (and closes its fd) when
/// dropped.
#[derive(Debug)]
pub struct CancelWatch {
    token: CancelToken,
    id: u64,
    slot: Arc<Slot>,
}

impl CancelWatch {
    /// Why it was cancelled, or `None` while it is not.
    #[must_use]
    pub fn cancelled(&self) -> Option<CancelReason> {
        *self.slot.fired.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The error a read interrupted by this watch returns (see [`Cancelled::of`]).
    #[must_use]
    pub fn error(&self) -> std::io::Error {
        std::io::Error::other(Cancelled(self.cancelled().unwrap_or(CancelReason::Ended)))
    }
}

impl AsFd for CancelWatch {
    /// Readable once cancelled (poll it for `POLLIN`).
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.slot.fd.as_fd()
    }
}

impl Drop for CancelWatch {
    fn drop(&mut self) {
        let id = self.id;
        self.token.lock().waiting.retain(|(i, _)| *i != id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::event::{poll, PollFd, PollFlags, Timespec};

    fn readable(w: &CancelWatch) -> bool {
        let mut fds = [PollFd::new(w, PollFlags::IN)];
        poll(&mut fds, Some(&Timespec::default())).unwrap() == 1
    }

    #[test]
    fn cancel_pending_fires_only_current_watches() {
        let t = CancelToken::new();
        let w = t.watch().unwrap();
        assert!(!readable(&w));
        assert_eq!(w.cancelled(), None);
        t.cancel_pending();
        assert!(readable(&w));
        assert_eq!(w.cancelled(), Some(CancelReason::Signal));
        let later = t.watch().unwrap();
        assert!(!readable(&later), "a signal cancels only what was pending");
        assert_eq!(t.ended(), None);
    }

    #[test]
    fn cancel_fires_current_and_later_watches() {
        let t = CancelToken::new();
        let w = t.watch().unwrap();
        t.cancel();
        assert!(readable(&w));
        assert_eq!(w.cancelled(), Some(CancelReason::Ended));
        let later = t.watch().unwrap();
        assert!(readable(&later));
        assert_eq!(Cancelled::of(&later.error()), Some(CancelReason::Ended));
        assert_eq!(t.ended(), Some(CancelReason::Ended));
    }

    #[test]
    fn dropped_watches_deregister() {
        let t = CancelToken::new();
        for _ in 0..10 {
            drop(t.watch().unwrap());
        }
        assert!(t.lock().waiting.is_empty());
        assert_eq!(Cancelled::of(&std::io::Error::other("x")), None);
    }
}

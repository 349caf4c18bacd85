//! The SDK socket, supervisor side: explicit capability requests from the child over the
//! socketpair end it inherited at `NONO_SUPERVISOR_FD`.
//!
//! Frames are nono-wire frames over a nono-transport [`Channel`]. Receiving happens on the
//! poll loop: the receive channel has a 1 µs read timeout, so a receive takes what has
//! arrived and returns [`TransportError::Timeout`] (keeping a partial frame) instead of
//! blocking the loop on a peer that stalls mid-frame. Answers are sent by the workers over a
//! second `Channel` on a `dup` of the same socket, so a slow decision or a child that does not
//! read its answers never blocks the loop.
//!
//! A grant sends the fd first, then the `Decision` frame (nono 0.58's order). A replayed
//! `request_id` is refused. Any broken or hostile input — an oversized length, a payload that
//! is not a message, a close in the middle of a frame, fds where none belong — costs the
//! child its channel, never the supervisor; the child keeps running.
//!
//! # URL open requests
//! `OpenUrl` asks the supervisor to open a URL in the user's browser (an OAuth login from a
//! sandboxed tool that cannot start a browser itself). On a worker, the URL is checked with
//! [`crate::url::validate`] against [`crate::SpawnConfig::allowed_origins`] (empty = every URL refused) and,
//! if allowed, opened *outside* the sandbox by the supervisor with [`crate::url_open::open_outside_with`]
//! (`xdg-open`/`open`, or [`crate::SpawnConfig::url_opener`]); the answer is `UrlOpened {request_id,
//! success, error}`. A replayed `request_id` (shared with `Request`s) is refused unopened.
//!
//! Every URL decision is recorded: as a [`UrlOpen`] in `RunOutcome::url_opens`, in a
//! `tracing` event, and — when the engine has an audit log — as one `AuditEntry` line whose
//! `request.path` is the URL, `request.reason` is `"open URL"`, `access` is `Read` and
//! `backend` is `"allowed-origins"` (the audit format has no URL kind; these fields keep the
//! 0.58 line shape so existing readers still parse it). `decision` is `Granted` when the URL
//! was opened, `Denied {reason}` otherwise (refused, or the opener failed).

use std::collections::HashSet;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use nono_sandbox::paths::realpath_without_magic_links;
use nono_sandbox::AccessMode;
use nono_transport::{Channel, TransportError};
use nono_wire::{
    ApprovalDecision, AuditEntry, CapabilityRequest, SupervisorMessage, SupervisorResponse,
    Timestamp, UrlOpenRequest,
};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use crate::broker::as_child::SandboxCreds;
use crate::broker::run_state::{Call, Context, Denial, Refused, Shared, UrlOpen};
use crate::broker::{
    moved_refusal, open_approved, settle_opened_stat, special_refusal, Lane, Unsettled,
};
use crate::policy::{Decision, Engine, RequestSource, RuntimeRequest};
use nono_policy::walked::Walked;

/// Most distinct request ids remembered per channel (replay protection); a child that goes
/// past this loses its channel rather than the supervisor growing without bound.
const MAX_REQUEST_IDS: usize = 1 << 16;

/// The supervisor's end of the SDK socket.
#[derive(Debug)]
pub(crate) struct SdkServer {
    recv: Channel,
    send: Arc<Mutex<Channel>>,
    seen: HashSet<String>,
}

impl SdkServer {
    pub(crate) fn new(fd: OwnedFd) -> Result<Self, TransportError> {
        let send = Channel::from_fd(fd.try_clone().map_err(|e| TransportError::Syscall {
            call: "dup (SDK socket)",
            source: rustix::io::Errno::from_io_error(&e).unwrap_or(rustix::io::Errno::BADF),
        })?)?;
        let recv = Channel::from_fd(fd)?;
        recv.set_read_timeout(Some(Duration::from_micros(1)))?;
        Ok(SdkServer {
            recv,
            send: Arc::new(Mutex::new(send)),
            seen: HashSet::new(),
        })
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.recv.as_fd()
    }

    /// Shut the socket down both ways: a worker blocked sending to a child that stopped
    /// reading (or that is gone while a grandchild holds its end) returns at once.
    pub(crate) fn shutdown(&self) {
        let _ = rustix::net::shutdown(self.recv.as_fd(), rustix::net::Shutdown::Both);
    }

    /// Take every complete frame that has arrived. Returns `false` when the channel is
    /// finished (closed, broken or hostile): the loop then drops it.
    pub(crate) fn on_ready(&mut self, ctx: &Context) -> bool {
        loop {
            match self.recv.recv::<SupervisorMessage>() {
                Ok(msg) => {
                    if !self.handle(msg, ctx) {
                        return false;
                    }
                }
                Err(TransportError::Timeout) => return true,
                Err(TransportError::Closed) => return false,
                Err(e) => {
                    tracing::warn!("SDK channel dropped: {e}");
                    return false;
                }
            }
        }
    }

    fn handle(&mut self, msg: SupervisorMessage, ctx: &Context) -> bool {
        let send = self.send.clone();
        let id = msg.request_id().to_owned();
        let replayed = !self.seen.insert(id.clone());
        if self.seen.len() > MAX_REQUEST_IDS {
            tracing::warn!("SDK channel dropped: more than {MAX_REQUEST_IDS} requests");
            return false;
        }
        match msg {
            SupervisorMessage::Request(req) => {
                if replayed {
                    let reason = format!("request_id {id:?} was already used; use a fresh id");
                    record(
                        &ctx.shared,
                        Refused::Path(req.path.clone()),
                        &req,
                        ctx.child_pid,
                        &reason,
                    );
                    ctx.workers.submit(
                        Lane::Sdk,
                        Box::new(move || {
                            answer(&send, &id, ApprovalDecision::Denied { reason }, None);
                        }),
                    );
                    return true;
                }
                let engine = ctx.engine.clone();
                let shared = ctx.shared.clone();
                let pid = ctx.child_pid;
                let cancel = ctx.cancel.clone();
                let caps = ctx.caps.clone();
                ctx.workers.submit(
                    Lane::Sdk,
                    Box::new(move || {
                        decide_request(
                            engine.as_deref(),
                            &cancel,
                            &shared,
                            &caps.creds,
                            &send,
                            req,
                            pid,
                        );
                    }),
                );
            }
            SupervisorMessage::OpenUrl(req) => {
                let urls = ctx.urls.clone();
                let grants = ctx.caps.clone();
                let engine = ctx.engine.clone();
                let shared = ctx.shared.clone();
                let pid = ctx.child_pid;
                ctx.workers.submit(
                    Lane::Sdk,
                    Box::new(move || {
                        let start = Instant::now();
                        let result = if replayed {
                            Err(format!(
                                "request_id {id:?} was already used; use a fresh id"
                            ))
                        } else {
                            urls.open(&req.url, &grants, engine.as_deref())
                        };
                        record_url(&shared, engine.as_deref(), &req, pid, &result, start);
                        let response = SupervisorResponse::UrlOpened {
                            request_id: req.request_id,
                            success: result.is_ok(),
                            error: result.err(),
                        };
                        if let Err(e) = send
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .send(&response)
                        {
                            tracing::debug!("answering an OpenUrl request failed: {e}");
                        }
                    }),
                );
            }
            _ => {
                tracing::warn!("SDK channel dropped: unsupported message kind");
                return false;
            }
        }
        true
    }
}

/// Record a URL decision: in the outcome, in a tracing event, and in the audit log if any
/// (see the module docs for the entry's shape).
fn record_url(
    shared: &Shared,
    engine: Option<&Engine>,
    req: &UrlOpenRequest,
    pid: u32,
    result: &Result<(), String>,
    start: Instant,
) {
    shared.url_open(UrlOpen {
        url: req.url.clone(),
        pid,
        opened: result.is_ok(),
        error: result.clone().err(),
    });
    let Some(log) = engine.and_then(Engine::audit_log) else {
        return;
    };
    let entry = AuditEntry {
        timestamp: Timestamp::try_from(SystemTime::now()).unwrap_or(Timestamp::UNIX_EPOCH),
        request: CapabilityRequest {
            request_id: req.request_id.clone(),
            path: PathBuf::from(&req.url),
            access: AccessMode::Read,
            reason: Some("open URL".to_owned()),
            child_pid: pid,
            session_id: engine
                .map(Engine::session_id)
                .unwrap_or_default()
                .to_owned(),
        },
        decision: match result {
            Ok(()) => ApprovalDecision::Granted,
            Err(reason) => ApprovalDecision::Denied {
                reason: reason.clone(),
            },
        },
        backend: "allowed-origins".to_owned(),
        duration_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
    };
    if let Err(e) = log.write(&entry) {
        tracing::error!("audit log: {e} (the URL decision stands)");
    }
}

/// Record the refusal of `req` as `what` (its path, or a deny entry's refusal of it).
fn record(shared: &Shared, what: Refused, req: &CapabilityRequest, pid: u32, reason: &str) {
    shared.deny(Denial {
        what,
        access: req.access,
        pid,
        call: Call::Sdk,
        reason: reason.to_owned(),
    });
}

/// Send the answer (with the fd first on a grant).
fn answer(send: &Mutex<Channel>, id: &str, decision: ApprovalDecision, fd: Option<&OwnedFd>) {
    let response = SupervisorResponse::Decision {
        request_id: id.to_owned(),
        decision,
    };
    let mut channel = send.lock().unwrap_or_else(|e| e.into_inner());
    let sent = match fd {
        Some(fd) => channel.send_with_fd(std::os::fd::AsFd::as_fd(fd), &response),
        None => channel.send(&response),
    };
    if let Err(e) = sent {
        tracing::debug!("answering an SDK request failed: {e}");
    }
}

/// On a worker: resolve, decide, open, answer.
fn decide_request(
    engine: Option<&Engine>,
    cancel: &crate::cancel::CancelToken,
    shared: &Shared,
    sandbox: &SandboxCreds,
    send: &Mutex<Channel>,
    req: CapabilityRequest,
    child_pid: u32,
) {
    let refuse = |what: Refused, reason: String| {
        record(shared, what, &req, child_pid, &reason);
        answer(
            send,
            &req.request_id,
            ApprovalDecision::Denied { reason },
            None,
        );
    };
    let deny = |reason: String| refuse(Refused::Path(req.path.clone()), reason);
    let Some(engine) = engine else {
        return deny("runtime elevation is off for this session".to_owned());
    };
    // Relative paths are relative to the child's working directory (the peer is the direct
    // child: the socketpair was made for it; the message's own `child_pid` is not trusted).
    let path = if req.path.is_absolute() {
        req.path.clone()
    } else {
        match std::fs::read_link(format!("/proc/{child_pid}/cwd")) {
            Ok(cwd) => cwd.join(&req.path),
            Err(_) => return deny("cannot resolve a relative path".to_owned()),
        }
    };
    // As the child (its search permissions) and never through a magic link: the
    // supervisor's own would name a path past a directory the command cannot search, or the
    // supervisor's own cwd and fds (red team 24).
    let canonical = sandbox.of_tid(child_pid).and_then(|creds| {
        let _as_child = creds.act()?;
        realpath_without_magic_links(&path)
            .map_err(|e| Errno::from_io_error(&e).unwrap_or(Errno::NOENT))
    });
    let canonical: PathBuf = match canonical {
        Ok(p) => p,
        // Inside /proc, or only through a magic link into it (see below).
        Err(Errno::XDEV) => {
            return deny("a /proc path is never granted at runtime (open it: the procfs broker serves the sandbox's own entries)".to_owned());
        }
        Err(e) => return deny(format!("{}: {}", path.display(), std::io::Error::from(e))),
    };
    // The supervisor's view of /proc is not the child's (its /proc/self is the supervisor):
    // /proc is served to the child by the procfs broker only, never granted at runtime.
    if canonical.starts_with("/proc") {
        return deny("a /proc path is never granted at runtime (open it: the procfs broker serves the sandbox's own entries)".to_owned());
    }
    let request = RuntimeRequest {
        path: canonical.clone(),
        access: req.access,
        pid: child_pid,
        reason: req.reason.clone(),
        source: RequestSource::Sdk,
    };
    // What the deny groups' walk saw is what the open below must meet (red team 23).
    let triage = engine.triage(&request);
    let walked = triage.as_ref().map_or(Walked::Unneeded, |t| t.walked());
    // The walk could not see the directory: nobody is asked about what cannot be checked.
    if let Err(errno) = walked.seen() {
        let reason = crate::broker::unread_refusal(&canonical, errno);
        engine.refuse_granted(&request, &reason);
        let why = nono_policy::walked::Unseen::of(errno);
        return refuse(
            Refused::Unread {
                path: canonical.clone(),
                why,
            },
            reason,
        );
    }
    let decision = match triage {
        Some(t) => engine.decide_triaged(&request, t, cancel),
        None => engine.decide_until(&request, cancel),
    };
    match decision {
        Decision::Granted { .. } => {
            let mut flags = match req.access {
                AccessMode::Read => OFlags::RDONLY,
                AccessMode::Write => OFlags::WRONLY,
                AccessMode::ReadWrite => OFlags::RDWR,
            };
            if canonical.is_dir() && req.access == AccessMode::Read {
                flags |= OFlags::DIRECTORY;
            }
            // As the child (the peer, the direct child: its credentials, not the supervisor's).
            let opened = sandbox.of_tid(child_pid).and_then(|creds| {
                let as_child = creds.act()?;
                open_approved(&as_child, &canonical, flags, Mode::empty())
            });
            match opened {
                Ok(fd) => {
                    match settle_opened_stat(&fd, flags, engine.rule_names(&canonical, req.access))
                    {
                        Err(Unsettled::Special(kind)) => {
                            let reason = special_refusal(&canonical, kind);
                            engine.refuse_granted(&request, &reason);
                            deny(reason);
                        }
                        Err(Unsettled::Failed(e)) => deny(format!(
                            "granted, but opening {} failed: {e}",
                            canonical.display()
                        )),
                        // Not the object the walk checked, nor in the mount it walked.
                        Ok(st) if !walked.admits_opened(st.id) => {
                            let reason = moved_refusal(&canonical);
                            engine.refuse_granted(&request, &reason);
                            refuse(Refused::Moved(canonical.clone()), reason);
                        }
                        Ok(st) => match engine.refuse_opened_stat(&request, &st) {
                            // A hard link to a file in a deny group: checked on the opened object.
                            Some(reason) => deny(reason),
                            None => {
                                answer(send, &req.request_id, ApprovalDecision::Granted, Some(&fd));
                            }
                        },
                    }
                }
                Err(e) => deny(format!(
                    "granted, but opening {} failed: {e}",
                    canonical.display()
                )),
            }
        }
        Decision::Denied {
            reason,
            by_group: Some(refusal),
        } => refuse(
            Refused::DenyEntry {
                path: canonical,
                refusal: Box::new(refusal),
            },
            reason,
        ),
        Decision::Denied { reason, .. } => deny(reason),
        Decision::Timeout => {
            record(
                shared,
                Refused::Path(req.path.clone()),
                &req,
                child_pid,
                "no decision in time",
            );
            answer(send, &req.request_id, ApprovalDecision::Timeout, None);
        }
    }
}

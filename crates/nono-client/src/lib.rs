//! nono-client: what a sandboxed program needs to talk to its nono supervisor.
//! `Client::from_env()?.request(path, access, reason)` returns an fd the supervisor opened,
//! or why it would not; `Client::open_url(url)` asks it to open a URL in the user's browser
//! (outside the sandbox), which succeeds only for the origins the session allows.
//!
//! The SDK socket is the socketpair end the child inherited at the fd number in
//! `NONO_SUPERVISOR_FD` ([`nono_wire::SUPERVISOR_FD_ENV`]); `nono run` offers it when runtime
//! grants are on (`--approve`, `--capability-elevation`, approve rules). Requests and answers
//! are nono-wire frames over a nono-transport [`Channel`]. On a grant the fd arrives first,
//! then the `Decision` frame (nono 0.58's order), which [`Channel::recv_with_fd`] reads as
//! one answer. docs/PROTOCOL.md describes the bytes; `clients/python/nono_client.py` speaks
//! the same protocol without dependencies.
//!
//! This crate depends only on nono-wire and nono-transport: a program that asks for files
//! does not link the supervisor (spawn, policy, profiles) or the sandbox.

mod inherited;

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use nono_transport::{Channel, TransportError};
use nono_wire::{
    ApprovalDecision, CapabilityRequest, SupervisorMessage, SupervisorResponse, UrlOpenRequest,
};

/// The protocol's access modes, re-exported so a client needs no direct nono-wire dependency.
pub use nono_wire::AccessMode;
pub use nono_wire::SUPERVISOR_FD_ENV;

/// Errors from [`Client`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// `NONO_SUPERVISOR_FD` is not set: this process is not running under a supervisor
    /// with the SDK socket enabled.
    #[error("NONO_SUPERVISOR_FD is not set: not running under a nono supervisor with the SDK socket enabled (`nono run` offers it with runtime grants on: --approve DIR or --capability-elevation)")]
    NotSupervised,
    /// `NONO_SUPERVISOR_FD` does not name an open socket.
    #[error("NONO_SUPERVISOR_FD={value:?} does not name an inherited socket: {detail}")]
    BadFd {
        /// The variable's value.
        value: String,
        /// What is wrong with it.
        detail: String,
    },
    /// `from_env` was already called in this process (the fd has one owner).
    #[error("Client::from_env was already called in this process; keep and reuse that client")]
    AlreadyTaken,
    /// The channel failed.
    #[error("talking to the supervisor failed: {0}")]
    Transport(#[from] TransportError),
    /// The supervisor refused.
    #[error("the supervisor denied the request: {reason}")]
    Denied {
        /// Its reason.
        reason: String,
    },
    /// The supervisor did not open the URL (origin not allowed, malformed URL, or the
    /// opener failed).
    #[error("the supervisor did not open the URL: {error}")]
    UrlNotOpened {
        /// The supervisor's reason.
        error: String,
    },
    /// Nobody decided in time.
    #[error("the supervisor did not decide in time")]
    Timeout,
    /// The answer did not fit the request.
    #[error("protocol error: {0}")]
    Protocol(&'static str),
}

/// A connection to the supervisor.
#[derive(Debug)]
pub struct Client {
    channel: Channel,
    pid: u32,
    next: AtomicU64,
}

static TAKEN: AtomicBool = AtomicBool::new(false);

impl Client {
    /// The client for the socket named by `NONO_SUPERVISOR_FD`. Takes ownership of that fd,
    /// so it succeeds at most once per process.
    pub fn from_env() -> Result<Client, ClientError> {
        let value = std::env::var(SUPERVISOR_FD_ENV).map_err(|_| ClientError::NotSupervised)?;
        let bad = |detail: String| ClientError::BadFd {
            value: value.clone(),
            detail,
        };
        let raw: i32 = value
            .trim()
            .parse()
            .map_err(|_| bad("not a number".into()))?;
        if TAKEN.swap(true, Ordering::SeqCst) {
            return Err(ClientError::AlreadyTaken);
        }
        let fd = inherited::take_inherited_fd(raw).map_err(|e| bad(e.to_string()))?;
        Ok(Client::from_channel(Channel::from_fd(fd)?))
    }

    /// A client over an existing channel (e.g. from `Channel::pair` in a test).
    #[must_use]
    pub fn from_channel(channel: Channel) -> Client {
        Client {
            channel,
            pid: std::process::id(),
            next: AtomicU64::new(1),
        }
    }

    fn next_id(&self) -> String {
        format!("{}-{}", self.pid, self.next.fetch_add(1, Ordering::Relaxed))
    }

    /// Ask the supervisor to open `url` in the user's browser, outside the sandbox. Blocks
    /// until the opener has it (or the supervisor refused).
    pub fn open_url(&mut self, url: &str) -> Result<(), ClientError> {
        let request_id = self.next_id();
        self.channel
            .send(&SupervisorMessage::OpenUrl(UrlOpenRequest {
                request_id: request_id.clone(),
                url: url.to_owned(),
                child_pid: self.pid,
                session_id: String::new(),
            }))?;
        let SupervisorResponse::UrlOpened {
            request_id: answered,
            success,
            error,
        } = self.channel.recv::<SupervisorResponse>()?
        else {
            return Err(ClientError::Protocol("expected UrlOpened"));
        };
        if answered != request_id {
            return Err(ClientError::Protocol("the answer is for another request"));
        }
        if success {
            Ok(())
        } else {
            Err(ClientError::UrlNotOpened {
                error: error.unwrap_or_else(|| "no reason given".to_owned()),
            })
        }
    }

    /// Ask for `access` to `path` (absolute, or relative to this process's working directory).
    /// Blocks until the supervisor answers (it may be asking a person).
    ///
    /// A relative path is joined to this process's working directory before it is sent (not
    /// normalised: the supervisor resolves `..` and symlinks), because the supervisor would
    /// resolve it against the working directory of the command nono started, which need not
    /// be this process.
    pub fn request(
        &mut self,
        path: impl AsRef<Path>,
        access: AccessMode,
        reason: Option<&str>,
    ) -> Result<OwnedFd, ClientError> {
        let request_id = self.next_id();
        let msg = SupervisorMessage::Request(CapabilityRequest {
            request_id: request_id.clone(),
            path: absolute(path.as_ref()),
            access,
            reason: reason.map(str::to_owned),
            child_pid: self.pid,
            session_id: String::new(),
        });
        self.channel.send(&msg)?;
        let (response, fd) = self.channel.recv_with_fd::<SupervisorResponse>()?;
        let SupervisorResponse::Decision {
            request_id: answered,
            decision,
        } = response
        else {
            return Err(ClientError::Protocol("expected a Decision"));
        };
        if answered != request_id {
            return Err(ClientError::Protocol("the answer is for another request"));
        }
        match (decision, fd) {
            (ApprovalDecision::Granted, Some(fd)) => Ok(fd),
            (ApprovalDecision::Granted, None) => {
                Err(ClientError::Protocol("granted without an fd"))
            }
            (ApprovalDecision::Denied { reason }, _) => Err(ClientError::Denied { reason }),
            (ApprovalDecision::Timeout, _) => Err(ClientError::Timeout),
        }
    }
}

/// `path` joined to the working directory when it is relative (unchanged when there is none).
fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    std::env::current_dir().map_or_else(|_| path.to_path_buf(), |cwd| cwd.join(path))
}

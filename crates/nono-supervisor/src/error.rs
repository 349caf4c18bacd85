//! `SupervisorError`: everything that can stop `run` from starting or supervising the child.

use std::ffi::OsString;
use std::path::PathBuf;

/// Why `run` could not start or finish supervising the child.
///
/// Errors that correspond to a shell's exit convention (`127` command not found, `126` not
/// executable) say so through [`SupervisorError::exit_code`], so a CLI can exit with the same
/// code a shell would.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SupervisorError {
    /// `argv` was empty.
    #[error("no command given: pass the program to run and its arguments")]
    EmptyCommand,
    /// The command was not found (not on `PATH`, or the path does not exist).
    #[error("{}: command not found (check the name, or give its full path)", command.to_string_lossy())]
    CommandNotFound {
        /// The command as given.
        command: OsString,
    },
    /// The command exists but could not be executed.
    #[error(
        "{}: cannot execute: {source} (is it executable, and does the sandbox allow reading {}?)",
        command.to_string_lossy(),
        path.display()
    )]
    NotExecutable {
        /// The command as given.
        command: OsString,
        /// The file that `execve` was called on.
        path: PathBuf,
        /// The errno `execve` failed with.
        #[source]
        source: std::io::Error,
    },
    /// The working directory does not exist or is not a directory.
    #[error("{}: working directory does not exist or is not a directory", path.display())]
    Workdir {
        /// The directory asked for.
        path: PathBuf,
    },
    /// Building the sandbox (before fork) failed.
    #[error("preparing the sandbox failed: {source}")]
    Sandbox {
        /// The sandbox layer's error.
        #[source]
        source: nono_sandbox::SandboxError,
    },
    /// A step in the child between fork and exec failed.
    #[error("in the child, {step} failed: {source} (the command was not run)")]
    ChildSetup {
        /// Which step: `"setsid"`, `"TIOCSCTTY"`, `"PR_SET_PDEATHSIG"`, `"sandbox enforcement"`, ...
        step: &'static str,
        /// The errno.
        #[source]
        source: std::io::Error,
    },
    /// An entry of [`SpawnConfig::allowed_origins`](crate::SpawnConfig::allowed_origins) is
    /// malformed.
    #[error("allowed_origins: {source}")]
    AllowedOrigins {
        /// Which entry, and what is wrong with it.
        #[source]
        source: crate::url::UrlError,
    },
    /// A resource limit cannot be enforced (strict compatibility).
    #[error("{source}")]
    Limits {
        /// Which limit, why, and how to get it.
        #[source]
        source: crate::limits::LimitsError,
    },
    /// A system call in the supervisor failed.
    #[error("{call} failed: {source}")]
    Sys {
        /// The call, e.g. `"pidfd_open"`, `"socketpair"`, `"poll"`.
        call: &'static str,
        /// The errno.
        #[source]
        source: std::io::Error,
    },
}

impl SupervisorError {
    /// The exit code a shell would use for this failure: 127 for a command that was not
    /// found, 126 for one that could not be executed, 125 for any other failure to start.
    #[must_use]
    pub fn exit_code(&self) -> i32 {
        match self {
            SupervisorError::CommandNotFound { .. } => 127,
            SupervisorError::NotExecutable { .. } => 126,
            _ => 125,
        }
    }

    pub(crate) fn sys(call: &'static str, errno: rustix::io::Errno) -> Self {
        SupervisorError::Sys {
            call,
            source: errno.into(),
        }
    }
}

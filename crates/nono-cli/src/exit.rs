//! Exit statuses: nono's own documented codes (see `flags::EXIT_STATUS_HELP`); the child's
//! status (128+N for signal N) comes from the supervisor's `ExitStatusKind::code`.

use std::fmt;

/// nono itself failed (bad profile, missing path, unsupported kernel in strict mode, ...).
/// Like `env`/podman: outside the range a child usually uses for its own errors.
pub const NONO_FAILURE: i32 = 125;
/// The command was found but could not be executed.
pub const NOT_EXECUTABLE: i32 = 126;
/// The command was not found.
pub const NOT_FOUND: i32 = 127;
/// A negative answer from `why`, `setup` or `profile validate`.
pub const NEGATIVE: i32 = 1;

/// An error that ends nono with a specific status. The message is one line that names the
/// offending input and says what to do.
#[derive(Debug)]
pub struct Failure {
    /// The exit status.
    pub code: i32,
    /// The one-line message (printed as `nono: {message}`).
    pub message: String,
}

impl Failure {
    /// nono's own failure (status 125).
    pub fn nono(message: impl Into<String>) -> Self {
        Failure {
            code: NONO_FAILURE,
            message: message.into(),
        }
    }

    /// A failure with an explicit status.
    pub fn with_code(code: i32, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }

    /// Failure to start the command: 127 if it does not exist, 126 otherwise.
    pub fn exec(program: &std::ffi::OsStr, err: &std::io::Error) -> Self {
        let name = program.to_string_lossy();
        match err.kind() {
            std::io::ErrorKind::NotFound => Failure::with_code(
                NOT_FOUND,
                format!("{name}: command not found (check the name, or give its full path)"),
            ),
            _ => Failure::with_code(
                NOT_EXECUTABLE,
                format!("{name}: cannot execute: {err} (check that it is an executable file and that the sandbox grants read on it)"),
            ),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// Turn any error into the one-line message and the status nono exits with: a [`Failure`]
/// keeps its own code, everything else is nono's own failure (125). The message joins the
/// error chain on one line.
#[must_use]
pub fn classify(err: &anyhow::Error) -> (i32, String) {
    if let Some(f) = err.downcast_ref::<Failure>() {
        return (f.code, f.message.clone());
    }
    let mut msg = err.to_string();
    for cause in err.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    (NONO_FAILURE, msg.replace('\n', " "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_errors_map_to_127_and_126() {
        let nf = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert_eq!(Failure::exec("x".as_ref(), &nf).code, 127);
        let pd = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert_eq!(Failure::exec("x".as_ref(), &pd).code, 126);
    }

    #[test]
    fn other_errors_are_nonos_own_failure_on_one_line() {
        let err = anyhow::anyhow!("inner\nline").context("outer");
        let (code, msg) = classify(&err);
        assert_eq!(code, NONO_FAILURE);
        assert_eq!(msg, "outer: inner line");
        let f: anyhow::Error = Failure::with_code(127, "nf").into();
        assert_eq!(classify(&f), (127, "nf".to_string()));
    }
}

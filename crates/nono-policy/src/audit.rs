//! `AuditLog`: the append-only JSONL file of runtime decisions, one `nono_wire::AuditEntry`
//! per line, with an RFC 3339 `time` beside the 0.58 `timestamp` object.
//!
//! Each entry is serialised in full and written with a single `write` on an `O_APPEND` file
//! descriptor, so lines from concurrent writers (threads here, or another supervisor sharing
//! the file) do not interleave. Nothing is buffered in user space: a line is in the kernel
//! when [`AuditLog::write`] returns. A failed write never changes a decision; it is returned,
//! counted ([`AuditLog::failures`]) and kept as [`AuditLog::last_error`].
//!
//! The log is written outside the sandbox by the supervisor, so a sandboxed command must not
//! be able to point it elsewhere: the file is opened `O_NOFOLLOW` (a symlink planted at its
//! path by an earlier run — to `~/.bashrc` — is refused, also a dangling one: no `O_CREAT`
//! through a link) and must be a regular file with one link; every line has the command's
//! strings escaped ([`crate::escape::json`]). The caller keeps the log outside the run's write
//! grants (`nono run` refuses it there).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use nono_wire::{ApprovalDecision, AuditEntry, CapabilityRequest, Timestamp};

/// One line of the log: the 0.58 `AuditEntry` fields in their order, plus `time`, the same
/// instant as `timestamp` in RFC 3339 (UTC), for people and log tools. Readers of the 0.58
/// shape ignore the extra field (see docs/PROTOCOL.md).
#[derive(serde::Serialize)]
struct Line<'a> {
    timestamp: Timestamp,
    time: String,
    request: &'a CapabilityRequest,
    decision: &'a ApprovalDecision,
    backend: &'a str,
    duration_ms: u64,
}

impl<'a> Line<'a> {
    fn of(e: &'a AuditEntry) -> Line<'a> {
        Line {
            timestamp: e.timestamp,
            time: e.timestamp.rfc3339(),
            request: &e.request,
            decision: &e.decision,
            backend: &e.backend,
            duration_ms: e.duration_ms,
        }
    }
}

/// Errors opening or writing the audit log. Each names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// `open` failed.
    #[error("cannot open audit log {}: {source} (check the directory exists and is writable)", path.display())]
    Open {
        /// The log file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `write` failed (disk full, I/O error, ...).
    #[error("cannot write to audit log {}: {source}", path.display())]
    Write {
        /// The log file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The path is a symlink, or not a regular file with exactly one link (nor a character
    /// device).
    #[error("refusing audit log {}: {what} (an earlier sandboxed run may have planted it; remove it, or log to a path outside every write grant)", path.display())]
    NotAPlainFile {
        /// The log file.
        path: PathBuf,
        /// What it is instead.
        what: String,
    },
    /// The entry could not be serialised.
    #[error("cannot serialise an audit entry: {source}")]
    Serialize {
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
}

/// An append-only JSONL audit log.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<File>,
    failures: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl AuditLog {
    /// Open (creating with mode 0600 if needed) `path` for appending. The parent directory
    /// must exist. `path` must not be a symlink (`O_NOFOLLOW`, also when it dangles) and must be
    /// a regular file with one link.
    pub fn open(path: impl AsRef<Path>) -> Result<AuditLog, AuditError> {
        let path = path.as_ref().to_path_buf();
        let file = open_own_output(&path, false).map_err(|e| match e {
            OwnOutputError::Io(source) => AuditError::Open {
                path: path.clone(),
                source,
            },
            OwnOutputError::NotAPlainFile(what) => AuditError::NotAPlainFile {
                path: path.clone(),
                what,
            },
        })?;
        Ok(AuditLog {
            path,
            file: Mutex::new(file),
            failures: AtomicU64::new(0),
            last_error: Mutex::new(None),
        })
    }

    /// The file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one line. On failure the error is returned, counted and remembered.
    pub fn write(&self, entry: &AuditEntry) -> Result<(), AuditError> {
        let result = self.write_inner(entry);
        if let Err(e) = &result {
            self.failures.fetch_add(1, Ordering::Relaxed);
            *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
        }
        result
    }

    fn write_inner(&self, entry: &AuditEntry) -> Result<(), AuditError> {
        let line = match serde_json::to_string(&Line::of(entry)) {
            Ok(line) => line,
            // JSON strings are UTF-8: a path that is not (a name the command chose) is
            // recorded in its escaped form (`\xNN` per byte) rather than not at all.
            Err(_) => {
                let mut shown = entry.clone();
                shown.request.path = crate::escape::path(&entry.request.path).into();
                serde_json::to_string(&Line::of(&shown))
                    .map_err(|source| AuditError::Serialize { source })?
            }
        };
        let mut line = crate::escape::json(&line).into_bytes();
        line.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(&line)
            .and_then(|()| file.flush())
            .map_err(|source| AuditError::Write {
                path: self.path.clone(),
                source,
            })
    }

    /// How many writes have failed.
    #[must_use]
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// The most recent write error, as text.
    #[must_use]
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Why [`open_own_output`] refused a path.
#[derive(Debug)]
#[non_exhaustive]
pub enum OwnOutputError {
    /// `open`/`fstat` failed.
    Io(std::io::Error),
    /// A symlink, or not a regular file with one link (what it is instead).
    NotAPlainFile(String),
}

impl std::fmt::Display for OwnOutputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OwnOutputError::Io(e) => write!(f, "{e}"),
            OwnOutputError::NotAPlainFile(what) => f.write_str(what),
        }
    }
}

/// Append `text` (whole lines) to one of nono's own record files (the write history, the
/// trusted profiles): its directory made 0700 if missing, the file opened as
/// [`open_own_output`] opens it (appending).
pub fn append_own_lines(file: &Path, text: &str) -> std::io::Result<()> {
    if let Some(parent) = file.parent() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)?;
    }
    let mut out = open_own_output(file, false).map_err(|e| match e {
        OwnOutputError::Io(e) => e,
        other => std::io::Error::other(other.to_string()),
    })?;
    std::io::Write::write_all(&mut out, text.as_bytes())
}

/// Open a file nono itself writes outside the sandbox (the audit log, `learn`'s profile):
/// `O_NOFOLLOW | O_CLOEXEC`, created 0600 if missing (`O_CREAT` never goes through a link:
/// with `O_NOFOLLOW` a dangling symlink is `ELOOP`), appended to or (`truncate`) truncated —
/// after checking it is a regular file with exactly one link (or a character device, which no
/// sandbox can make), so a hard link or a FIFO planted by an earlier run is refused before
/// anything is written.
pub fn open_own_output(path: &Path, truncate: bool) -> Result<File, OwnOutputError> {
    let mut opts = OpenOptions::new();
    if truncate {
        opts.write(true);
    } else {
        opts.append(true);
    }
    // O_NONBLOCK: opening a planted FIFO must not block; std adds O_CLOEXEC.
    let file = opts
        .create(true)
        .mode(0o600)
        .custom_flags(
            (rustix::fs::OFlags::NOFOLLOW
                | rustix::fs::OFlags::CLOEXEC
                | rustix::fs::OFlags::NONBLOCK)
                .bits() as i32,
        )
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                OwnOutputError::NotAPlainFile(
                    "it is a symlink (nono never writes its own files through a link)".to_owned(),
                )
            } else {
                OwnOutputError::Io(e)
            }
        })?;
    let meta = file.metadata().map_err(OwnOutputError::Io)?;
    // A character device (/dev/null, a terminal) cannot have been planted: no sandbox may
    // make device nodes. Anything else must be a plain file of its own.
    if std::os::unix::fs::FileTypeExt::is_char_device(&meta.file_type()) {
        return Ok(file);
    }
    if !meta.file_type().is_file() {
        return Err(OwnOutputError::NotAPlainFile(
            "it is neither a regular file nor a character device".to_owned(),
        ));
    }
    if std::os::unix::fs::MetadataExt::nlink(&meta) != 1 {
        return Err(OwnOutputError::NotAPlainFile(format!(
            "it has {} hard links (another name for the same file could be anything)",
            std::os::unix::fs::MetadataExt::nlink(&meta)
        )));
    }
    if truncate {
        file.set_len(0).map_err(OwnOutputError::Io)?;
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approval::{Callback, DenyAll};
    use crate::policy::{Decision, Engine, GrantScope, Policy, RequestSource, RuntimeRequest};
    use crate::scratch::Scratch;
    use nono_wire::{AccessMode, ApprovalDecision};
    use std::io::BufRead;

    fn tmp(tag: &str) -> Scratch {
        Scratch::new(&format!("nono-audit-{}-{tag}", std::process::id()))
    }

    fn req(path: &str, access: AccessMode) -> RuntimeRequest {
        RuntimeRequest {
            path: PathBuf::from(path),
            access,
            pid: 7,
            reason: Some("because".into()),
            source: RequestSource::Sdk,
        }
    }

    #[test]
    fn every_decision_is_one_line_that_parses_back() {
        let d = tmp("lines");
        let log = d.join("audit.jsonl");
        let engine = Engine::new(
            Policy::default(),
            Callback::new(|r: &RuntimeRequest| {
                if r.access.writes() {
                    Decision::denied("no writes")
                } else {
                    Decision::Granted {
                        scope: GrantScope::Once,
                        rule: "cb".into(),
                    }
                }
            }),
        )
        .with_audit(AuditLog::open(&log).unwrap())
        .with_session_id("s1");
        engine.decide(&req("/tmp/a", AccessMode::Read));
        engine.decide(&req("/tmp/b", AccessMode::Write));
        engine.decide(&req("rel", AccessMode::Read));
        let lines: Vec<String> = std::io::BufReader::new(File::open(&log).unwrap())
            .lines()
            .map(Result::unwrap)
            .collect();
        assert_eq!(lines.len(), 3);
        let entries: Vec<AuditEntry> = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(entries[0].decision, ApprovalDecision::Granted);
        assert_eq!(entries[0].backend, "callback");
        assert_eq!(entries[0].request.session_id, "s1");
        assert_eq!(entries[0].request.child_pid, 7);
        assert_eq!(entries[0].request.reason.as_deref(), Some("because"));
        assert_eq!(entries[0].request.request_id, "sdk-1");
        assert!(matches!(
            entries[1].decision,
            ApprovalDecision::Denied { .. }
        ));
        assert_eq!(entries[1].request.access, AccessMode::Write);
        assert_eq!(entries[2].backend, "policy");
        assert!(entries[0].timestamp.secs_since_epoch() > 1_600_000_000);

        // Reopening appends.
        let engine =
            Engine::new(Policy::default(), DenyAll).with_audit(AuditLog::open(&log).unwrap());
        engine.decide(&req("/tmp/c", AccessMode::Read));
        let n = std::fs::read_to_string(&log).unwrap().lines().count();
        assert_eq!(n, 4);
        // The log itself is never grantable at runtime.
        assert_eq!(engine.deny_group_of(&log), Some("nono"));
        assert!(!engine
            .decide(&req(&log.display().to_string(), AccessMode::Write))
            .is_granted());
    }

    #[test]
    fn a_failed_write_keeps_the_decision_and_is_reported() {
        // /dev/full fails every write with ENOSPC, as a full disk would.
        let log = AuditLog::open("/dev/full").unwrap();
        let engine = Engine::new(
            Policy::default(),
            Callback::new(|_r: &RuntimeRequest| Decision::Granted {
                scope: GrantScope::Once,
                rule: "cb".into(),
            }),
        )
        .with_audit(log);
        assert!(engine.decide(&req("/tmp/x", AccessMode::Read)).is_granted());
        assert!(!engine.decide(&req("rel", AccessMode::Read)).is_granted());
        assert_eq!(engine.audit_failures(), 2);
        let err = engine.audit_log().unwrap().last_error().unwrap();
        assert!(err.contains("/dev/full"), "{err}");
    }

    #[test]
    fn links_fifos_and_hard_links_planted_at_the_log_path_are_refused() {
        let d = tmp("planted");
        let target = d.join("bashrc");
        std::fs::write(&target, "# rc\n").unwrap();
        std::os::unix::fs::symlink(&target, d.join("link.jsonl")).unwrap();
        std::os::unix::fs::symlink(d.join("nothing"), d.join("dangling.jsonl")).unwrap();
        std::fs::hard_link(&target, d.join("hard.jsonl")).unwrap();
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            d.join("fifo.jsonl"),
            rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
        )
        .unwrap();
        for name in ["link.jsonl", "dangling.jsonl", "hard.jsonl", "fifo.jsonl"] {
            let e = AuditLog::open(d.join(name)).unwrap_err();
            // A FIFO without a reader is ENXIO already (O_NONBLOCK), one with a reader is
            // refused as not a regular file.
            assert!(
                matches!(e, AuditError::NotAPlainFile { .. }) || name == "fifo.jsonl",
                "{name}: {e}"
            );
            assert!(e.to_string().contains(name), "{e}");
        }
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "# rc\n");
        assert!(
            !d.join("nothing").exists(),
            "O_CREAT went through the dangling link"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn hostile_characters_are_escaped_in_the_log() {
        let d = tmp("escape");
        let log = d.join("audit.jsonl");
        let engine =
            Engine::new(Policy::default(), DenyAll).with_audit(AuditLog::open(&log).unwrap());
        let hostile = "/tmp/x\u{1b}]0;t\u{7}\u{9b}[2K\u{202e}\nnono: all clear\r";
        engine.decide(&req(hostile, AccessMode::Read));
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(text.lines().count(), 1, "{text:?}");
        assert!(
            !text
                .trim_end_matches('\n')
                .chars()
                .any(crate::escape::is_hostile),
            "{text:?}"
        );
        let entry: nono_wire::AuditEntry = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(entry.request.path, std::path::Path::new(hostile));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn open_errors_name_the_path() {
        let e = AuditLog::open("/nonexistent-dir/nono/audit.jsonl").unwrap_err();
        assert!(
            e.to_string().contains("/nonexistent-dir/nono/audit.jsonl"),
            "{e}"
        );
    }

    #[test]
    fn concurrent_writers_do_not_interleave_lines() {
        let d = tmp("threads");
        let log = d.join("audit.jsonl");
        let engine = std::sync::Arc::new(
            Engine::new(Policy::default(), DenyAll).with_audit(AuditLog::open(&log).unwrap()),
        );
        let hs: Vec<_> = (0..4)
            .map(|i| {
                let e = std::sync::Arc::clone(&engine);
                std::thread::spawn(move || {
                    for j in 0..50 {
                        e.decide(&req(
                            &format!("/tmp/{i}/{j}/{}", "x".repeat(300)),
                            AccessMode::Read,
                        ));
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(text.lines().count(), 200);
        for l in text.lines() {
            let _: AuditEntry = serde_json::from_str(l).unwrap();
        }
    }
}

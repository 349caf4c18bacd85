//! `AuditLog`: the append-only JSONL file of runtime decisions, one `nono_wire::AuditEntry`
//! per line.
//!
//! Each entry is serialised in full and written with a single `write` on an `O_APPEND` file
//! descriptor, so lines from concurrent writers (threads here, or another supervisor sharing
//! the file) do not interleave. Nothing is buffered in user space: a line is in the kernel
//! when [`AuditLog::write`] returns. A failed write never changes a decision; it is returned,
//! counted ([`AuditLog::failures`]) and kept as [`AuditLog::last_error`].

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use nono_wire::AuditEntry;

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
    /// must exist.
    pub fn open(path: impl AsRef<Path>) -> Result<AuditLog, AuditError> {
        let path = path.as_ref().to_path_buf();
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&path)
            .map_err(|source| AuditError::Open {
                path: path.clone(),
                source,
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
        let mut line =
            serde_json::to_vec(entry).map_err(|source| AuditError::Serialize { source })?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approval::{Callback, DenyAll};
    use crate::policy::{Decision, Engine, GrantScope, Policy, RequestSource, RuntimeRequest};
    use nono_wire::{AccessMode, ApprovalDecision};
    use std::io::BufRead;

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("nono-audit-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
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

//! The approval engine a run will consult, as part of its plan: the rules (deny groups,
//! `--approve` paths, the profile's `supervisor.approve`, the prompt rate limit), who decides
//! what no rule covers (nobody, the person at the terminal, or `learn`'s recorder), what
//! happens when there is no terminal to ask, and the audit log. `run` builds its
//! [`Engine`] from this and nothing else, so `--dry-run` shows the engine that runs.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use nono_sandbox::AccessMode;
use nono_supervisor::approval::{Callback, DenyAll, NoTerminal, TerminalPrompt};
use nono_supervisor::audit::AuditLog;
use nono_supervisor::deny_groups::DenySet;
use nono_supervisor::policy::{
    ApproveRule, Decision, Engine, GrantScope, Policy, RateLimit, RuntimeRequest,
};

use crate::exit::Failure;

/// Who decides a runtime request that no deny group or approve rule decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// Nobody is asked: the request is denied and reported (approve rules only, or an audit
    /// log alone).
    DenyAll,
    /// The person at `/dev/tty` is asked (`--capability-elevation`, or the profile's
    /// `supervisor.capability_elevation`).
    Prompt {
        /// After this long without an answer the request is denied.
        timeout: Duration,
        /// Why `/dev/tty` cannot be opened now (`None`: it can). Without a terminal, every
        /// request no rule covers is denied, counted and reported after the run.
        no_terminal: Option<String>,
    },
    /// `nono learn`: every request outside the deny groups is granted once and recorded.
    Learn,
}

impl Backend {
    /// `deny`, `prompt` or `learn` (the plan's JSON).
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Backend::DenyAll => "deny",
            Backend::Prompt { .. } => "prompt",
            Backend::Learn => "learn",
        }
    }
}

/// The engine of a plan (see the module documentation).
#[derive(Debug, Clone)]
pub struct EnginePlan {
    /// Deny groups, approve rules in the order they are tried, and the prompt rate limit.
    pub policy: Policy,
    /// Who decides the rest.
    pub backend: Backend,
    /// Where each decision is appended as one JSON line (`--audit-log`).
    pub audit_log: Option<PathBuf>,
}

/// Records what `nono learn`'s engine granted.
pub type LearnRecorder = Arc<dyn Fn(&RuntimeRequest) + Send + Sync>;

/// An engine built from an [`EnginePlan`], with the handle on the requests its prompt denied
/// for want of a terminal (`None` unless it prompts).
#[derive(Debug)]
pub struct BuiltEngine {
    /// The engine.
    pub engine: Engine,
    /// Requests denied because there was no terminal to ask.
    pub no_terminal: Option<NoTerminal>,
}

impl EnginePlan {
    /// The engine of `run`/`shell`: the profile's policy (`policy`: its deny groups, approve
    /// rules and rate limit) with `--approve` rules after it, asking on the terminal when
    /// `prompt`.
    #[must_use]
    pub fn for_run(
        mut policy: Policy,
        approve: &[PathBuf],
        prompt: Option<Duration>,
        audit_log: Option<PathBuf>,
    ) -> EnginePlan {
        policy.approve.extend(approve.iter().map(|p| {
            ApproveRule::path(
                p,
                AccessMode::ReadWrite,
                format!("--approve {}", p.display()),
            )
        }));
        let backend = match prompt {
            Some(timeout) => Backend::Prompt {
                timeout,
                no_terminal: TerminalPrompt::new(timeout).check_terminal().err(),
            },
            None => Backend::DenyAll,
        };
        EnginePlan {
            policy,
            backend,
            audit_log,
        }
    }

    /// The engine of `nono learn`: the deny groups, no rules, every other request granted
    /// once and recorded.
    #[must_use]
    pub fn for_learn(deny: DenySet) -> EnginePlan {
        EnginePlan {
            policy: Policy {
                deny,
                approve: Vec::new(),
                rate_limit: None,
            },
            backend: Backend::Learn,
            audit_log: None,
        }
    }

    /// The note printed before the run when the prompt has no terminal to ask.
    #[must_use]
    pub fn no_terminal_note(&self) -> Option<String> {
        match &self.backend {
            Backend::Prompt {
                no_terminal: Some(why),
                ..
            } => Some(format!(
                "no terminal to ask ({why}): runtime requests that no approve rule covers will be denied and reported"
            )),
            _ => None,
        }
    }

    /// The prompt rate limit, when the backend asks someone.
    #[must_use]
    pub fn rate_limit(&self) -> Option<RateLimit> {
        match self.backend {
            Backend::Prompt { .. } => self.policy.rate_limit,
            _ => None,
        }
    }

    /// Build the engine exactly as planned (opening the audit log). `learn` receives each
    /// request a [`Backend::Learn`] engine grants; it is required for that backend and
    /// ignored by the others.
    pub fn build(&self, learn: Option<LearnRecorder>) -> anyhow::Result<BuiltEngine> {
        let policy = self.policy.clone();
        let (engine, no_terminal) = match &self.backend {
            Backend::DenyAll => (Engine::new(policy, DenyAll), None),
            Backend::Prompt { timeout, .. } => {
                let prompt = TerminalPrompt::new(*timeout);
                let no_terminal = prompt.no_terminal();
                (Engine::new(policy, prompt), Some(no_terminal))
            }
            Backend::Learn => {
                let record = learn.ok_or_else(|| {
                    Failure::nono("internal: a learning engine needs its recorder")
                })?;
                let backend = Callback::new(move |req| {
                    record(req);
                    Decision::Granted {
                        scope: GrantScope::Once,
                        rule: "nono learn".to_owned(),
                    }
                });
                (Engine::new(policy, backend), None)
            }
        };
        let engine = match &self.audit_log {
            Some(path) => engine.with_audit(
                AuditLog::open(path).map_err(|err| Failure::nono(format!("--audit-log: {err}")))?,
            ),
            None => engine,
        };
        Ok(BuiltEngine {
            engine,
            no_terminal,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approve_flags_follow_the_profile_rules_and_the_prompt_is_planned() {
        let policy = Policy {
            deny: DenySet::new(),
            approve: vec![ApproveRule::new("/data/**", AccessMode::Read, "profile p")],
            rate_limit: Some(RateLimit::default()),
        };
        let plan = EnginePlan::for_run(
            policy.clone(),
            &[PathBuf::from("/work")],
            Some(Duration::from_secs(5)),
            None,
        );
        let origins: Vec<&str> = plan.policy.approve.iter().map(|r| r.origin()).collect();
        assert_eq!(origins, ["profile p", "--approve /work"]);
        assert!(matches!(
            plan.backend,
            Backend::Prompt { timeout, .. } if timeout == Duration::from_secs(5)
        ));
        assert_eq!(plan.rate_limit(), Some(RateLimit::default()));
        let built = plan.build(None).unwrap();
        assert!(built.no_terminal.is_some());
        assert_eq!(built.engine.policy().approve.len(), 2);

        let quiet = EnginePlan::for_run(policy, &[], None, None);
        assert_eq!(quiet.backend, Backend::DenyAll);
        assert_eq!(quiet.rate_limit(), None);
        assert!(quiet.no_terminal_note().is_none());
    }

    #[test]
    fn a_learning_engine_grants_and_records_outside_the_deny_groups() {
        let plan = EnginePlan::for_learn(DenySet::new());
        assert!(plan.build(None).is_err(), "learn needs its recorder");
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let built = plan
            .build(Some(Arc::new(move |r: &RuntimeRequest| {
                log.lock().unwrap().push(r.path.clone());
            })))
            .unwrap();
        let req = RuntimeRequest {
            path: PathBuf::from("/nonexistent-nono-learn/x"),
            access: AccessMode::Read,
            pid: 1,
            reason: None,
            source: nono_supervisor::policy::RequestSource::Trap,
        };
        assert!(built.engine.decide(&req).is_granted());
        assert_eq!(*seen.lock().unwrap(), [req.path]);
    }
}

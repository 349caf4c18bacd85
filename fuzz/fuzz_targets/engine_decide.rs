//! Fuzz target: `nono_policy::policy::Engine::decide` on a policy and a request made of the
//! input, checked against the order of a decision (see `policy.rs`).
//!
//! Input: `DENY;DENY… \n [rwb]APPROVE;… \n REQUEST-PATH \n A` where paths are joined under
//! a directory that does not exist (canonicalisation stays lexical, nothing on disk is
//! touched), a request path starting with `~` stays relative, and the first byte of the last
//! line picks the access and what the backend answers. Checks: no panic; a relative path is
//! never granted and never reaches the backend; nothing a deny entry refuses is ever granted
//! (deny groups win over rules and the backend); a grant the backend did not give comes from
//! an approve rule that grants the path; a request a rule grants never reaches the backend
//! (checked where no `..` makes the engine's canonical path differ from the spelling).
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use nono_policy::approval::Callback;
use nono_policy::deny_groups::DenySet;
use nono_policy::policy::{ApproveRule, Engine, Policy};
use nono_policy::request::{Decision, GrantScope, RequestSource, RuntimeRequest};
use nono_wire::AccessMode;

const ROOT: &str = "/nonexistent-nono-fuzz";

fn under_root(s: &str) -> PathBuf {
    Path::new(ROOT).join(s.trim_start_matches('/'))
}

fn access(b: u8) -> AccessMode {
    match b % 3 {
        0 => AccessMode::Read,
        1 => AccessMode::Write,
        _ => AccessMode::ReadWrite,
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.splitn(4, '\n');
    let denies = lines.next().unwrap_or("");
    let approves = lines.next().unwrap_or("");
    let request = lines.next().unwrap_or("");
    let knob = lines.next().and_then(|l| l.bytes().next()).unwrap_or(0);

    let mut deny = DenySet::new();
    for d in denies.split(';').filter(|d| !d.is_empty()).take(8) {
        let _ = deny.add(&under_root(d), "fuzz");
    }
    let approve: Vec<ApproveRule> = approves
        .split(';')
        .filter(|a| !a.is_empty())
        .take(8)
        .map(|a| {
            let (acc, pattern) = a.split_at(a.chars().next().map_or(0, char::len_utf8));
            let acc = match acc {
                "r" => AccessMode::Read,
                "w" => AccessMode::Write,
                _ => AccessMode::ReadWrite,
            };
            ApproveRule::new(&format!("{ROOT}/{pattern}"), acc, "fuzz")
        })
        .collect();
    let policy = Policy {
        deny: deny.clone(),
        approve: approve.clone(),
        rate_limit: None,
    };

    let asked = Arc::new(AtomicBool::new(false));
    let grant = knob & 0x80 != 0;
    let backend = {
        let asked = asked.clone();
        Callback::new(move |_req: &RuntimeRequest| {
            asked.store(true, Ordering::SeqCst);
            if grant {
                Decision::Granted {
                    scope: GrantScope::Once,
                    rule: "fuzz backend".into(),
                }
            } else {
                Decision::denied("fuzz backend")
            }
        })
    };
    let engine = Engine::new(policy, backend);

    let path = match request.strip_prefix('~') {
        Some(rel) => PathBuf::from(rel),
        None => under_root(request),
    };
    let acc = access(knob);
    let req = RuntimeRequest {
        path: path.clone(),
        access: acc,
        pid: 1,
        reason: None,
        source: RequestSource::Trap,
    };
    let decision = engine.decide(&req);
    let asked = asked.load(Ordering::SeqCst);

    if !path.is_absolute() {
        assert!(!decision.is_granted(), "relative {path:?} granted");
        assert!(!asked, "relative {path:?} reached the backend");
        return;
    }
    if deny.deny_for(&path, acc).is_some() {
        assert!(
            !decision.is_granted(),
            "{path:?} ({acc:?}) is under a deny entry but was granted: {decision:?}"
        );
        assert!(!asked, "{path:?} is under a deny entry but reached the backend");
        return;
    }
    // `..` is resolved by the engine (canonical path) but compared literally by
    // `ApproveRule::grants`: the rule oracle holds for paths and patterns without it.
    let dotdot = |s: &str| s.split('/').any(|c| c == "..");
    if dotdot(request) || approve.iter().any(|r| dotdot(r.pattern())) {
        if decision.is_granted() && !asked {
            assert!(!approve.is_empty(), "{path:?} granted by nothing: {decision:?}");
        }
        return;
    }
    let ruled = approve.iter().any(|r| r.grants(&path, acc));
    if ruled {
        assert!(decision.is_granted(), "{path:?} ({acc:?}): a rule grants it: {decision:?}");
        assert!(!asked, "{path:?}: a rule grants it, yet the backend was asked");
    } else if decision.is_granted() {
        assert!(asked && grant, "{path:?} ({acc:?}) granted by nothing: {decision:?}");
    }
});

//! Broker worker lanes: requests that wait for a person never hold up requests that a rule
//! decides at once. Before, every job shared one pool of four workers: four prompts nobody
//! answered (or four opens of a FIFO) stalled every other runtime grant of the run.

use std::sync::mpsc::channel;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nono_sandbox::AccessMode;
use nono_supervisor::approval::Callback;
use nono_supervisor::policy::{ApproveRule, Decision, Engine, Policy};
use nono_supervisor::{run, ExitStatusKind, PtyMode, SpawnConfig};

use crate::harness::{leak_checked, system_caps, HANG};

/// How long the rule-approved open may take while the prompts wait (seconds when it works).
const SERVED_WITHIN: Duration = Duration::from_secs(30);

#[test]
fn waiting_prompts_never_hold_up_rule_approved_opens() {
    leak_checked("load-lanes", |scratch| {
        scratch.write("asked/f", "asked\n");
        scratch.write("ruled/f", "ruled\n");
        let out = scratch.join("out");
        std::fs::create_dir_all(&out).expect("mkdir out");

        // Every request the rule does not cover reports itself, then waits in the callback
        // until released.
        let (release, release_rx) = channel::<()>();
        let release_rx = Mutex::new(release_rx);
        let (entered_tx, entered) = channel::<()>();
        let entered_tx = Mutex::new(entered_tx);
        let policy = Policy {
            approve: vec![ApproveRule::path(
                &scratch.join("ruled"),
                AccessMode::Read,
                "load test",
            )],
            ..Policy::default()
        };
        let engine = Engine::new(
            policy,
            Callback::new(move |_req| {
                let _ = entered_tx
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .send(());
                let _ = release_rx
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .recv_timeout(HANG);
                Decision::denied("released")
            }),
        );

        let mut caps = system_caps();
        caps.allow_path(&out, AccessMode::ReadWrite, "load test output")
            .expect("grant out");
        // The rule-approved open comes once the prompts hold every worker they can get.
        let script = format!(
            "for i in 1 2 3 4 5 6; do cat {asked} >/dev/null 2>&1 & done; \
             while [ ! -e {out}/go ]; do sleep 0.05; done; \
             cat {ruled} > {out}/ruled; wait",
            asked = scratch.join("asked/f").display(),
            ruled = scratch.join("ruled/f").display(),
            out = out.display(),
        );
        let mut config = SpawnConfig::new(["sh", "-c", script.as_str()], caps);
        config.pty = PtyMode::Never;
        config.forward_signals = false;
        config.trap_opens = true;
        config.engine = Some(std::sync::Arc::new(engine));
        let runner = std::thread::spawn(move || run(config));

        for _ in 0..4 {
            entered
                .recv_timeout(HANG)
                .expect("the requests never reached the approval callback");
        }
        std::fs::write(out.join("go"), "").expect("write go");
        let start = Instant::now();
        let served = loop {
            if std::fs::read_to_string(out.join("ruled")).is_ok_and(|s| s == "ruled\n") {
                break true;
            }
            if start.elapsed() > SERVED_WITHIN || runner.is_finished() {
                break false;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // Let the waiting requests go (denied) either way, so the run ends.
        for _ in 0..6 {
            let _ = release.send(());
        }
        let deadline = Instant::now() + HANG;
        while !runner.is_finished() {
            assert!(Instant::now() < deadline, "run did not return");
            std::thread::sleep(Duration::from_millis(10));
        }
        let outcome = runner.join().expect("run panicked").expect("run failed");
        assert!(
            served,
            "the rule-approved open waited behind the prompts: {outcome:?}"
        );
        assert_eq!(outcome.exit, ExitStatusKind::Code(0), "{outcome:?}");
        Vec::new()
    });
}

//! Concurrency: sixteen `nono run`s at once doing real file work, and one child with eight
//! threads opening files at once while every open is trapped.

use crate::child::MODE;
use crate::harness::{child_args, leak_checked, make_files, nono, self_exe, Proc};

const RUNS: usize = 16;

/// Each run reads its own input tree (static `--read`), writes a concatenation into its own
/// output dir (`--allow`), gets one file granted at runtime (`--approve`), and is refused a
/// file nobody granted and a write into its read-only input — while fifteen other
/// supervisors do the same. Every run must exit with its own code and produce exactly its
/// own output.
#[test]
fn sixteen_concurrent_runs_all_succeed_with_their_own_results() {
    leak_checked("load-concurrent", |scratch| {
        let secret = scratch.write("secret/key", "secret\n");
        let script = r#"
            echo "load-child: pid $$"
            cat "$1"/f* > "$2/all" || exit 100
            echo "load-child: approved $(cat "$3/id")"
            if cat "$4" 2>/dev/null; then echo "load-child: LEAK read"; fi
            if (echo x > "$1/new") 2>/dev/null; then echo "load-child: LEAK write"; fi
            exit "$5"
        "#;
        let mut procs = Vec::new();
        for i in 0..RUNS {
            let input = scratch.join(&format!("in{i}"));
            std::fs::create_dir_all(&input).unwrap();
            for k in 0..20 {
                std::fs::write(
                    input.join(format!("f{k:02}")),
                    format!("run {i} file {k}\n"),
                )
                .unwrap();
            }
            let out = scratch.mkdir(&format!("out{i}"));
            let approved = scratch.mkdir(&format!("app{i}"));
            std::fs::write(approved.join("id"), format!("{i}\n")).unwrap();
            let mut cmd = nono(&scratch.path);
            cmd.args(["run", "-s", "--read"])
                .arg(&input)
                .arg("--allow")
                .arg(&out)
                .arg("--approve")
                .arg(&approved)
                .args(["--", "sh", "-c", script, "sh"])
                .args([&input, &out, &approved, &secret])
                .arg(i.to_string());
            procs.push(Proc::spawn(&mut cmd));
        }
        let mut pids = Vec::new();
        for (i, mut p) in procs.into_iter().enumerate() {
            pids.push(p.pid);
            pids.push(p.expect_line("load-child: pid").parse().unwrap());
            let f = p.finish();
            assert_eq!(f.code, Some(i as i32), "run {i}\n{f}");
            assert!(
                f.stdout.contains(&format!("load-child: approved {i}\n")),
                "run {i}\n{f}"
            );
            assert!(!f.stdout.contains("LEAK"), "run {i}\n{f}");
            let expected: String = (0..20).map(|k| format!("run {i} file {k}\n")).collect();
            let got = std::fs::read_to_string(scratch.join(&format!("out{i}/all"))).unwrap();
            assert_eq!(got, expected, "run {i} wrote the wrong output");
            assert!(!scratch.join(&format!("in{i}/new")).exists(), "run {i}");
        }
        assert_eq!(std::fs::read_to_string(&secret).unwrap(), "secret\n");
        pids
    });
}

/// Eight threads × 200 opens at once, every open trapped: the even ones inside the static
/// grants (answered CONTINUE on the loop), the odd ones outside (an `--approve` rule; the
/// supervisor opens the file and injects the fd from its worker pool). No deadlock (bounded
/// by a generous timeout that kills nono and fails), every read returns the right file.
#[test]
fn eight_threads_trapping_at_once_do_not_deadlock() {
    leak_checked("load-threads", |scratch| {
        let static_dir = scratch.join("static");
        let approved = scratch.join("approved");
        make_files(&static_dir, 100);
        make_files(&approved, 100);
        let exe = self_exe();
        let mut cmd = nono(&scratch.path);
        cmd.args(["run", "-s", "--read"])
            .arg(exe.parent().unwrap())
            .arg("--read")
            .arg(&static_dir)
            .arg("--approve")
            .arg(&approved)
            .arg("--")
            .arg(&exe)
            .args(child_args())
            .env(MODE, "threads")
            .env("LOAD_STATIC", &static_dir)
            .env("LOAD_APPROVED", &approved)
            .env("LOAD_THREADS", "8")
            .env("LOAD_OPENS", "200")
            .env("LOAD_FILES", "100");
        let mut p = Proc::spawn(&mut cmd);
        let pid = p.pid;
        let ok = p.expect_line("load-child: ok");
        let f = p.finish();
        assert_eq!(ok, "1600", "{f}");
        assert_eq!(f.code, Some(0), "{f}");
        vec![pid]
    });
}

/// Eight supervisors append to one `--audit-log` at once, 100 runtime decisions each. Every
/// line is one whole JSON entry (one `write` on an `O_APPEND` fd: lines never interleave) and
/// every decision is there: exactly 100 per run.
#[test]
fn eight_supervisors_share_one_audit_log_without_torn_lines() {
    leak_checked("load-audit-shared", |scratch| {
        let log = scratch.join("audit.jsonl");
        let script = r#"for f in "$0"/*; do read x < "$f" || exit 1; done"#;
        let mut procs = Vec::new();
        for i in 0..8 {
            let approved = scratch.join(&format!("app{i}"));
            make_files(&approved, 100);
            let mut cmd = nono(&scratch.path);
            cmd.args(["run", "-s", "--approve"])
                .arg(&approved)
                .arg("--audit-log")
                .arg(&log)
                .args(["--", "sh", "-c", script])
                .arg(&approved);
            procs.push(Proc::spawn(&mut cmd));
        }
        let mut pids = Vec::new();
        for (i, p) in procs.into_iter().enumerate() {
            pids.push(p.pid);
            let f = p.finish();
            assert_eq!(f.code, Some(0), "run {i}\n{f}");
        }
        let text = std::fs::read_to_string(&log).unwrap();
        let mut per_run = [0usize; 8];
        for line in text.lines() {
            let entry: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("torn or invalid audit line ({e}): {line:?}"));
            let path = entry["request"]["path"].as_str().unwrap_or_default();
            for (i, n) in per_run.iter_mut().enumerate() {
                if path.starts_with(&scratch.s(&format!("app{i}/"))) {
                    assert_eq!(entry["decision"], "Granted", "{line}");
                    *n += 1;
                }
            }
        }
        assert_eq!(per_run, [100; 8], "decisions per run in the shared log");
        pids
    });
}

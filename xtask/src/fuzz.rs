//! `cargo xtask fuzz`: build (in CI) and run (on demand) the cargo-fuzz targets under `fuzz/`.
//!
//! `cargo xtask fuzz --time S` runs every target for S seconds, then prints one row per
//! target: executions (libFuzzer's `stat::number_of_executed_units`), crashes, and what was
//! found. It fails if any target crashed, leaked, timed out or ran out of memory; the
//! failing input is under `fuzz/artifacts/<target>/` and the row says how to replay it.
//!
//! `cargo xtask fuzz --build` is the `fuzz-build` step of `cargo xtask ci` alone: every
//! target compiled (instrumented when it can be, plain with a NOTE otherwise).
//!
//! Extra seeds and dictionaries: `fuzz/dict/<target>.dict` is passed as `-dict=` when it
//! exists, and [`SEEDS`] adds read-only seed directories from the tree (libFuzzer writes new
//! inputs only to the first corpus directory, `fuzz/corpus/<target>`).

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;

use anyhow::{bail, Context, Result};

use crate::{has_cargo_subcommand, run, workspace_root};

/// Read-only seed corpora per target, relative to the workspace root.
const SEEDS: &[(&str, &str)] = &[("profile_parser", "crates/nono-policy/src/profile/builtin")];

/// Set this to compile the targets uninstrumented even when cargo-fuzz and nightly exist
/// (to check the fallback that machines without them take).
const FORCE_UNINSTRUMENTED: &str = "XTASK_FUZZ_UNINSTRUMENTED";

/// Variables that the outer `cargo run` (the `cargo xtask` alias) and rustup's proxy put in
/// xtask's environment. Inherited by `cargo +nightly fuzz`, they point it at the *stable*
/// cargo/rustc that started xtask (`CARGO`, `RUSTUP_TOOLCHAIN=stable-...`), and
/// `-Zsanitizer` then fails; so the nightly child starts without them.
const OUTER_TOOLCHAIN_VARS: &[&str] = &[
    "RUSTUP_TOOLCHAIN",
    "RUSTUP_TOOLCHAIN_SOURCE",
    "CARGO",
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "RUSTC",
    "RUSTDOC",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
];

/// Whether a nightly toolchain is installed (cargo-fuzz needs `-Zsanitizer`).
fn has_nightly() -> bool {
    Command::new("rustup")
        .args(["run", "nightly", "rustc", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Why coverage-guided fuzzing can't run here, or `None` when it can.
fn unavailable() -> Option<String> {
    if std::env::var_os(FORCE_UNINSTRUMENTED).is_some() {
        return Some(format!("{FORCE_UNINSTRUMENTED} is set"));
    }
    if !has_cargo_subcommand("fuzz") {
        return Some("cargo-fuzz is not installed (cargo install --locked cargo-fuzz)".into());
    }
    if !has_nightly() {
        return Some(
            "no nightly toolchain is installed, and cargo-fuzz needs one \
             (rustup toolchain install nightly)"
                .into(),
        );
    }
    None
}

/// `cargo fuzz ...` on the nightly toolchain, free of the outer cargo's environment.
///
/// `rustup run nightly cargo` rather than `cargo +nightly`: the latter only works when the
/// first `cargo` on `PATH` is rustup's proxy.
fn cargo_fuzz(args: &[&str]) -> Command {
    let mut cmd = Command::new("rustup");
    cmd.args(["run", "nightly", "cargo", "fuzz"]).args(args);
    for var in OUTER_TOOLCHAIN_VARS {
        cmd.env_remove(var);
    }
    cmd.current_dir(workspace_root());
    cmd
}

fn targets() -> Result<Vec<String>> {
    let out = cargo_fuzz(&["list"])
        .stderr(Stdio::piped())
        .output()
        .context("cannot start `rustup run nightly cargo fuzz list`")?;
    if !out.status.success() {
        bail!(
            "cargo fuzz list failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if names.is_empty() {
        bail!("cargo fuzz list found no targets in fuzz/Cargo.toml");
    }
    Ok(names)
}

/// CI: build every fuzz target instrumented when cargo-fuzz + nightly are here; otherwise
/// compile them as plain binaries so they never rot, and say so.
pub fn build() -> Result<()> {
    match unavailable() {
        None => run(&mut cargo_fuzz(&["build"])),
        Some(why) => {
            eprintln!(
                "NOTE: fuzz targets are compiled WITHOUT libFuzzer instrumentation: {why}. \
                 They are type-checked and linked, not fuzzed."
            );
            run(Command::new("cargo").args([
                "build",
                "--manifest-path",
                "fuzz/Cargo.toml",
                "--bins",
            ]))
        }
    }
}

/// What one libFuzzer run found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Finding {
    Crash,
    Leak,
    Timeout,
    OutOfMemory,
}

impl Finding {
    /// From the file name libFuzzer gives the failing input (`crash-<sha1>`, ...).
    fn from_artifact(name: &str) -> Option<Finding> {
        [
            ("crash-", Finding::Crash),
            ("leak-", Finding::Leak),
            ("timeout-", Finding::Timeout),
            ("oom-", Finding::OutOfMemory),
        ]
        .into_iter()
        .find_map(|(prefix, f)| name.starts_with(prefix).then_some(f))
    }

    fn as_str(self) -> &'static str {
        match self {
            Finding::Crash => "crash",
            Finding::Leak => "leak",
            Finding::Timeout => "timeout",
            Finding::OutOfMemory => "out of memory",
        }
    }
}

/// One target's result, parsed from libFuzzer's output.
#[derive(Debug, Default)]
struct Report {
    target: String,
    executions: Option<u64>,
    /// Failing inputs written, with what each one is.
    findings: Vec<(Finding, String)>,
    /// The first panic message (the line after `panicked at ...:`).
    panic: Option<String>,
    /// The previous line was `thread '...' panicked at ...:`.
    panic_next: bool,
}

impl Report {
    /// Take what matters from one line of libFuzzer / cargo-fuzz output.
    fn scan(&mut self, line: &str) {
        if std::mem::take(&mut self.panic_next) && self.panic.is_none() {
            self.panic = Some(line.trim().to_owned());
        }
        if line.starts_with("thread '") && line.contains(" panicked at ") {
            self.panic_next = true;
        }
        if let Some(n) = line.strip_prefix("stat::number_of_executed_units:") {
            self.executions = n.trim().parse().ok();
        }
        // "artifact_prefix='...'; Test unit written to fuzz/artifacts/t/crash-<sha1>"
        if let Some((_, path)) = line.split_once("Test unit written to ") {
            let path = path.trim();
            let name = Path::new(path)
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            if let Some(f) = Finding::from_artifact(&name) {
                self.findings.push((f, path.to_owned()));
            }
        }
    }
}

/// libFuzzer's per-input progress lines (`#1234\tNEW ...`), which are not echoed.
fn is_progress(line: &str) -> bool {
    let Some(rest) = line.strip_prefix('#') else {
        return false;
    };
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    rest.starts_with("\tNEW") || rest.starts_with("\tREDUCE")
}

/// Run one target for `secs` seconds, echoing its output (minus progress lines).
fn fuzz_one(target: &str, secs: u64) -> Result<Report> {
    let root = workspace_root();
    let corpus = root.join("fuzz/corpus").join(target);
    std::fs::create_dir_all(&corpus)
        .with_context(|| format!("cannot create {}", corpus.display()))?;
    let mut args: Vec<String> = vec![
        "run".into(),
        target.into(),
        corpus.to_string_lossy().into_owned(),
    ];
    for (t, dir) in SEEDS {
        if *t == target {
            args.push(root.join(dir).to_string_lossy().into_owned());
        }
    }
    args.push("--".into());
    args.push(format!("-max_total_time={secs}"));
    args.push("-print_final_stats=1".into());
    // A single input taking this long is a hang, reported as a timeout finding.
    args.push("-timeout=20".into());
    let dict = root.join("fuzz/dict").join(format!("{target}.dict"));
    if dict.is_file() {
        args.push(format!("-dict={}", dict.display()));
    }
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = cargo_fuzz(&arg_refs);
    eprintln!(
        "\n==== fuzzing {target} for {secs}s ====\nxtask$ rustup run nightly cargo fuzz {}",
        args.join(" ")
    );
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start `rustup run nightly cargo fuzz run`")?;

    // Both streams go through one channel so neither pipe fills up while the other is read.
    let (tx, rx) = mpsc::channel::<String>();
    let pumps: Vec<_> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|stream| {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stream);
            let mut buf = Vec::new();
            while reader.read_until(b'\n', &mut buf).is_ok_and(|n| n > 0) {
                let line = String::from_utf8_lossy(&buf).trim_end().to_owned();
                if tx.send(line).is_err() {
                    break;
                }
                buf.clear();
            }
        })
    })
    .collect();
    drop(tx);

    let mut report = Report {
        target: target.to_owned(),
        ..Report::default()
    };
    for line in rx {
        report.scan(&line);
        if !is_progress(&line) {
            eprintln!("{line}");
        }
    }
    for p in pumps {
        let _ = p.join();
    }
    let status = child.wait().context("waiting for cargo fuzz run")?;
    if !status.success() && report.findings.is_empty() {
        bail!("`cargo fuzz run {target}` failed with {status} without reporting a failing input (see its output above)");
    }
    Ok(report)
}

fn print_table(reports: &[Report]) {
    let width = reports
        .iter()
        .map(|r| r.target.len())
        .max()
        .unwrap_or(0)
        .max("target".len());
    println!(
        "\n{:<width$}  {:>12}  {:>7}  result",
        "target", "executions", "crashes"
    );
    for r in reports {
        let execs = r
            .executions
            .map_or_else(|| "?".to_owned(), |n| n.to_string());
        let result = match r.findings.first() {
            None => "ok".to_owned(),
            Some((f, path)) => format!(
                "{}: {path} (replay: cargo +nightly fuzz run {} {path})",
                f.as_str(),
                r.target
            ),
        };
        println!(
            "{:<width$}  {execs:>12}  {:>7}  {result}",
            r.target,
            r.findings.len()
        );
    }
    for r in reports {
        let Some((_, path)) = r.findings.first() else {
            continue;
        };
        println!("\n{}:", r.target);
        if let Some(msg) = &r.panic {
            println!("  panic: {msg}");
        }
        if let Ok(bytes) = std::fs::read(path) {
            const SHOWN: usize = 256;
            let hex: String = bytes
                .iter()
                .take(SHOWN)
                .map(|b| format!("{b:02x}"))
                .collect();
            let more = if bytes.len() > SHOWN { "..." } else { "" };
            println!("  input ({} bytes, hex): {hex}{more}", bytes.len());
        }
    }
}

/// CI: every target for a few seconds, bounded so the gate stays short. Skipped, with a
/// NOTE, where only the uninstrumented build is possible (the proptest twins of the
/// targets still run in the test step).
pub fn smoke() -> Result<()> {
    const SECS: &str = "10";
    match unavailable() {
        None => run_targets(&["--time".to_string(), SECS.to_string()]),
        Some(why) => {
            eprintln!("NOTE: no fuzzing in this run: {why}.");
            Ok(())
        }
    }
}

/// `cargo xtask fuzz [--time S | --build]`: each target for S seconds; a table of executions
/// and crashes at the end; fails if anything was found. `--build`: only [`build`].
pub fn run_targets(args: &[String]) -> Result<()> {
    let mut secs: u64 = 30;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--build" => return build(),
            "--time" => {
                secs = it
                    .next()
                    .context("--time needs a number of seconds")?
                    .parse()
                    .context("--time needs a whole number of seconds")?;
            }
            other => bail!("unknown fuzz option `{other}` (expected --time S or --build)"),
        }
    }
    if secs == 0 {
        bail!("--time 0 would fuzz forever (libFuzzer reads 0 as no limit); give at least 1");
    }
    if let Some(why) = unavailable() {
        bail!("cannot fuzz here: {why}");
    }
    let mut reports = Vec::new();
    for target in targets()? {
        reports.push(fuzz_one(&target, secs)?);
    }
    print_table(&reports);
    let failed: Vec<&str> = reports
        .iter()
        .filter(|r| !r.findings.is_empty())
        .map(|r| r.target.as_str())
        .collect();
    if !failed.is_empty() {
        bail!(
            "fuzzing found failing inputs in: {} (see the table above)",
            failed.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_reads_executions_and_failing_inputs() {
        let mut r = Report::default();
        for line in [
            "#1024\tNEW    cov: 10 ft: 11 corp: 2/3b",
            "thread '<unnamed>' (3664) panicked at fuzz_targets/t.rs:3:75:",
            "boom: at 3",
            "stack backtrace:",
            "==123== ERROR: libFuzzer: deadly signal",
            "artifact_prefix='/w/fuzz/artifacts/t/'; Test unit written to /w/fuzz/artifacts/t/crash-0a1b",
            "stat::number_of_executed_units: 392921",
            "stat::average_exec_per_sec:     35720",
        ] {
            r.scan(line);
        }
        assert_eq!(r.executions, Some(392_921));
        assert_eq!(r.panic.as_deref(), Some("boom: at 3"));
        assert_eq!(
            r.findings,
            vec![(Finding::Crash, "/w/fuzz/artifacts/t/crash-0a1b".to_owned())]
        );
    }

    #[test]
    fn slow_units_are_not_failures() {
        let mut r = Report::default();
        r.scan("Test unit written to fuzz/artifacts/t/slow-unit-0a1b");
        r.scan("Test unit written to fuzz/artifacts/t/oom-0a1b");
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.findings[0].0, Finding::OutOfMemory);
    }

    #[test]
    fn progress_lines_are_recognised() {
        assert!(is_progress("#4096\tNEW    cov: 1"));
        assert!(is_progress("#7\tREDUCE cov: 1"));
        assert!(!is_progress("#65536\tpulse  cov: 1"));
        assert!(!is_progress("#1000\tDONE   cov: 1"));
        assert!(!is_progress("stat::number_of_executed_units: 1"));
    }
}

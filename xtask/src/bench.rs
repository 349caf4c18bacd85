//! `cargo xtask bench`: whole-process timings (start-up, a 5000-file read workload) under nono
//! and its peers, reported as medians and as ratios against bare execution in the same run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::{run, workspace_root};

/// One measured case.
struct Case {
    name: String,
    group: &'static str,
    argv: Vec<String>,
}

struct Measured {
    name: String,
    group: &'static str,
    median: Duration,
    p90: Duration,
    skipped: Option<String>,
}

pub fn run_bench(args: &[String]) -> Result<()> {
    let mut json = false;
    let mut iters: usize = 100;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--json" => json = true,
            "--iters" => {
                iters = it
                    .next()
                    .context("--iters needs a number")?
                    .parse()
                    .context("--iters")?;
            }
            other => bail!("unknown bench option `{other}` (expected --json, --iters N)"),
        }
    }
    run(Command::new("cargo").args(["build", "--release", "-p", "nono-cli"]))?;
    let nono = workspace_root().join("target/release/nono");
    let scratch = std::env::temp_dir().join(format!("nono-bench-{}", std::process::id()));
    let files = make_tree(&scratch, 5000)?;
    let dir = scratch.display().to_string();
    let n = nono.display().to_string();

    let mut cases = vec![
        Case {
            name: "true (bare)".into(),
            group: "startup",
            argv: vec!["true".into()],
        },
        Case {
            name: "nono run -s --allow DIR -- true".into(),
            group: "startup",
            argv: vec![
                n.clone(),
                "run".into(),
                "-s".into(),
                "--allow".into(),
                dir.clone(),
                "--".into(),
                "true".into(),
            ],
        },
        Case {
            name: "nono wrap -s --allow DIR -- true".into(),
            group: "startup",
            argv: vec![
                n.clone(),
                "wrap".into(),
                "-s".into(),
                "--allow".into(),
                dir.clone(),
                "--".into(),
                "true".into(),
            ],
        },
    ];
    if let Some(bwrap) = which("bwrap") {
        cases.push(Case {
            name: "bwrap --ro-bind / / -- true".into(),
            group: "startup",
            argv: vec![
                bwrap,
                "--ro-bind".into(),
                "/".into(),
                "/".into(),
                "--".into(),
                "true".into(),
            ],
        });
    }
    if let Some(firejail) = which("firejail") {
        cases.push(Case {
            name: "firejail --quiet --noprofile true".into(),
            group: "startup",
            argv: vec![
                firejail,
                "--quiet".into(),
                "--noprofile".into(),
                "true".into(),
            ],
        });
    }
    let mut cat = vec!["cat".to_string()];
    cat.extend(files.iter().map(|p| p.display().to_string()));
    cases.push(Case {
        name: "cat 5000 files (bare)".into(),
        group: "read5000",
        argv: cat.clone(),
    });
    for mode in ["run", "wrap"] {
        let mut argv = vec![
            n.clone(),
            mode.into(),
            "-s".into(),
            "--read".into(),
            dir.clone(),
            "--".into(),
        ];
        argv.extend(cat.iter().cloned());
        cases.push(Case {
            name: format!("nono {mode} -s --read DIR -- cat 5000 files"),
            group: "read5000",
            argv,
        });
    }

    let measured: Vec<Measured> = cases
        .into_iter()
        .map(|c| {
            let n = if c.group == "read5000" {
                iters.div_ceil(5).max(5)
            } else {
                iters
            };
            measure(c, n)
        })
        .collect();
    let _ = std::fs::remove_dir_all(&scratch);
    report(&measured, json);
    Ok(())
}

fn measure(case: Case, iters: usize) -> Measured {
    let once = || -> Result<Duration> {
        let t = Instant::now();
        let status = Command::new(&case.argv[0])
            .args(&case.argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .with_context(|| format!("cannot start {}", case.argv[0]))?;
        let elapsed = t.elapsed();
        if !status.status.success() {
            bail!(
                "exit {}: {}",
                status.status,
                String::from_utf8_lossy(&status.stderr).trim()
            );
        }
        Ok(elapsed)
    };
    // One warm-up run also tells whether the case works here at all.
    if let Err(e) = once() {
        return Measured {
            name: case.name,
            group: case.group,
            median: Duration::ZERO,
            p90: Duration::ZERO,
            skipped: Some(format!("{e:#}")),
        };
    }
    let mut samples: Vec<Duration> = Vec::with_capacity(iters);
    for _ in 0..iters {
        match once() {
            Ok(d) => samples.push(d),
            Err(e) => {
                return Measured {
                    name: case.name,
                    group: case.group,
                    median: Duration::ZERO,
                    p90: Duration::ZERO,
                    skipped: Some(format!("{e:#}")),
                }
            }
        }
    }
    samples.sort();
    let median = samples[samples.len() / 2];
    let p90 = samples[(samples.len() * 9 / 10).min(samples.len() - 1)];
    Measured {
        name: case.name,
        group: case.group,
        median,
        p90,
        skipped: None,
    }
}

fn report(rows: &[Measured], json: bool) {
    let baseline = |group: &str| {
        rows.iter()
            .find(|r| r.group == group && r.skipped.is_none())
            .map(|r| r.median)
    };
    if json {
        let out: Vec<_> = rows
            .iter()
            .map(|r| {
                let base = baseline(r.group);
                serde_json::json!({
                    "name": r.name,
                    "group": r.group,
                    "median_us": r.skipped.is_none().then_some(r.median.as_secs_f64() * 1e6),
                    "p90_us": r.skipped.is_none().then_some(r.p90.as_secs_f64() * 1e6),
                    "ratio_to_bare": base.filter(|_| r.skipped.is_none()).map(|b| r.median.as_secs_f64() / b.as_secs_f64()),
                    "over_bare_ms": base.filter(|_| r.skipped.is_none()).map(|b| (r.median.as_secs_f64() - b.as_secs_f64()) * 1e3),
                    "skipped": r.skipped,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        return;
    }
    println!(
        "{:<52} {:>11} {:>11} {:>8} {:>10}",
        "case", "median", "p90", "ratio", "over bare"
    );
    for r in rows {
        match &r.skipped {
            Some(why) => println!(
                "{:<52} skipped: {}",
                r.name,
                why.lines().next().unwrap_or("")
            ),
            None => {
                let base = baseline(r.group).unwrap_or(r.median);
                println!(
                    "{:<52} {:>9.3}ms {:>9.3}ms {:>7.2}x {:>8.3}ms",
                    r.name,
                    r.median.as_secs_f64() * 1e3,
                    r.p90.as_secs_f64() * 1e3,
                    r.median.as_secs_f64() / base.as_secs_f64(),
                    (r.median.as_secs_f64() - base.as_secs_f64()) * 1e3
                );
            }
        }
    }
}

fn make_tree(dir: &Path, n: usize) -> Result<Vec<PathBuf>> {
    let _ = std::fs::remove_dir_all(dir);
    let mut files = Vec::with_capacity(n);
    for i in 0..n {
        let sub = dir.join(format!("d{:02}", i % 50));
        if i < 50 {
            std::fs::create_dir_all(&sub)?;
        }
        let f = sub.join(format!("f{i:05}.txt"));
        std::fs::write(&f, format!("file {i}\n").repeat(8))?;
        files.push(f);
    }
    Ok(files)
}

fn which(name: &str) -> Option<String> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
}

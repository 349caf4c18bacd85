//! `cargo xtask bench`: one run, one table — whole-process timings (start-up of `true`, a
//! 5000-file read workload) under nono and its peers as medians and ratios against bare
//! execution measured in the same run; runtime-grant latency p50/p99 measured inside a child;
//! codec/transport throughput from the criterion benches run with short times; and the
//! egress proxy's load numbers (`nono-proxy`'s `proxy_load` example: 1 GiB CONNECT throughput
//! as a ratio to direct loopback, added latency of a new proxied connection, 1000 held
//! tunnels and the proxy's RSS with them), skipped with `--no-proxy`.
//!
//! Cases of one group run round-robin (one sample of each, then the next round), so a slow
//! phase of a noisy machine hits every case alike and the ratios stay meaningful. Peers
//! (bwrap, firejail) are measured when installed and reported as skipped otherwise; nothing
//! depends on them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::{run, workspace_root};

/// Files in the read workload.
const FILES: usize = 5000;

/// The C child for the latency measurement: `opens PATH N` opens and closes PATH N times,
/// timing each open+close with `clock_gettime(CLOCK_MONOTONIC)`, and prints `p50 p99` in ns.
const OPENS_C: &str = r#"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
static int cmp(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}
int main(int argc, char **argv) {
    if (argc != 3) return 2;
    long n = atol(argv[2]);
    if (n <= 0) return 2;
    long *ns = malloc(sizeof(long) * n);
    if (!ns) return 2;
    for (long i = 0; i < n; i++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
        if (fd < 0) { perror(argv[1]); return 1; }
        close(fd);
        clock_gettime(CLOCK_MONOTONIC, &b);
        ns[i] = (b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec);
    }
    qsort(ns, n, sizeof(long), cmp);
    printf("%ld %ld\n", ns[n / 2], ns[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1]);
    return 0;
}
"#;

#[derive(Debug, Clone)]
struct Opts {
    json: bool,
    iters: usize,
    opens: usize,
    criterion: bool,
    proxy: bool,
}

/// One whole-process case.
struct Case {
    name: String,
    argv: Vec<String>,
}

/// A whole-process result.
#[derive(Debug)]
struct Timed {
    group: &'static str,
    name: String,
    median: Duration,
    p90: Duration,
    samples: usize,
    skipped: Option<String>,
}

/// A latency result (ns, measured inside the child).
#[derive(Debug)]
struct Latency {
    name: String,
    p50_ns: u64,
    p99_ns: u64,
    skipped: Option<String>,
}

/// A criterion result.
#[derive(Debug)]
struct Throughput {
    name: String,
    time_ns: f64,
    per_sec: f64,
}

pub fn run_bench(args: &[String]) -> Result<()> {
    let mut o = Opts {
        json: false,
        iters: 50,
        opens: 2000,
        criterion: true,
        proxy: true,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut num = |name: &str| -> Result<usize> {
            it.next()
                .with_context(|| format!("{name} needs a number"))?
                .parse()
                .with_context(|| name.to_owned())
        };
        match a.as_str() {
            "--json" => o.json = true,
            "--iters" => o.iters = num("--iters")?.max(3),
            "--opens" => o.opens = num("--opens")?.max(10),
            "--no-criterion" => o.criterion = false,
            "--no-proxy" => o.proxy = false,
            other => bail!(
                "unknown bench option `{other}` (expected --json, --iters N, --opens N, --no-criterion, --no-proxy)"
            ),
        }
    }
    run(Command::new("cargo").args(["build", "--release", "-p", "nono-cli"]))?;
    let nono = workspace_root().join("target/release/nono");
    // Not under /tmp: the default profile grants temp dirs, and then `--approve` would
    // measure the static fast path instead of runtime grants.
    let scratch = workspace_root().join(format!("target/nono-bench-{}", std::process::id()));
    let result = measure_all(&o, &nono, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    let (timed, latency, throughput) = result?;
    let proxy = if o.proxy { Some(proxy_load()?) } else { None };
    if o.json {
        print_json(&timed, &latency, &throughput, proxy.as_ref());
    } else {
        print_table(&timed, &latency, &throughput);
        if let Some(p) = &proxy {
            print_proxy(p);
        }
    }
    let left = children_left();
    if !left.is_empty() {
        bail!("child processes left behind by the benchmark (pid, state): {left:?}");
    }
    Ok(())
}

type All = (Vec<Timed>, Vec<Latency>, Vec<Throughput>);

fn measure_all(o: &Opts, nono: &Path, scratch: &Path) -> Result<All> {
    let _ = std::fs::remove_dir_all(scratch);
    let data = scratch.join("data");
    let bin = scratch.join("bin");
    std::fs::create_dir_all(&bin)?;
    let first = make_tree(&data, FILES)?;
    let data = std::fs::canonicalize(&data)?;
    let bin = std::fs::canonicalize(&bin)?;
    check_not_granted(nono, &data)?;
    let n = nono.display().to_string();
    let d = data.display().to_string();
    let argv = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>();
    let bwrap = which("bwrap");
    let firejail = which("firejail");

    // Start-up of `true`.
    let mut startup = vec![
        Case {
            name: "true (bare)".into(),
            argv: argv(&["true"]),
        },
        Case {
            name: "nono run -s --allow DIR -- true".into(),
            argv: argv(&[&n, "run", "-s", "--allow", &d, "--", "true"]),
        },
        Case {
            name: "nono wrap -s --allow DIR -- true".into(),
            argv: argv(&[&n, "wrap", "-s", "--allow", &d, "--", "true"]),
        },
    ];
    let peer = |tool: &Option<String>, name: &str, args: &[&str]| -> Case {
        match tool {
            Some(t) => {
                let mut v = vec![t.clone()];
                v.extend(args.iter().map(|s| (*s).to_owned()));
                Case {
                    name: name.into(),
                    argv: v,
                }
            }
            None => Case {
                name: name.into(),
                argv: Vec::new(),
            },
        }
    };
    startup.push(peer(
        &bwrap,
        "bwrap --ro-bind / / --bind DIR DIR -- true",
        &["--ro-bind", "/", "/", "--bind", &d, &d, "--", "true"],
    ));
    startup.push(peer(
        &firejail,
        "firejail --quiet --noprofile --whitelist=DIR true",
        &[
            "--quiet",
            "--noprofile",
            &format!("--whitelist={d}"),
            "true",
        ],
    ));

    // The 5000-file read workload: one `cat` of every file, the list expanded by `sh` (a
    // literal argv of 5000 paths is over firejail's argument limit).
    let cat = |mut prefix: Vec<String>| {
        prefix.extend(argv(&["sh", "-c", r#"exec cat "$0"/d*/*"#, &d]));
        prefix
    };
    let mut read = vec![
        Case {
            name: format!("cat {FILES} files (bare)"),
            argv: cat(Vec::new()),
        },
        Case {
            name: "nono run -s --read DIR (trapped, CONTINUE)".into(),
            argv: cat(argv(&[&n, "run", "-s", "--read", &d, "--"])),
        },
        Case {
            name: "nono wrap -s --read DIR (no supervisor)".into(),
            argv: cat(argv(&[&n, "wrap", "-s", "--read", &d, "--"])),
        },
        Case {
            name: "nono run -s --approve DIR (runtime grants)".into(),
            argv: cat(argv(&[&n, "run", "-s", "--approve", &d, "--"])),
        },
    ];
    for mut c in [
        peer(
            &bwrap,
            "bwrap --ro-bind / / -- cat ...",
            &["--ro-bind", "/", "/", "--"],
        ),
        peer(
            &firejail,
            "firejail --quiet --noprofile --whitelist=DIR -- cat ...",
            &["--quiet", "--noprofile", &format!("--whitelist={d}"), "--"],
        ),
    ] {
        if !c.argv.is_empty() {
            c.argv = cat(c.argv);
        }
        read.push(c);
    }

    eprintln!(
        "xtask bench: start-up, {} rounds of {} cases",
        o.iters,
        startup.len()
    );
    let mut timed = measure_group("startup", &startup, o.iters);
    let read_iters = o.iters.div_ceil(5).max(5);
    eprintln!(
        "xtask bench: {FILES}-file read, {read_iters} rounds of {} cases",
        read.len()
    );
    timed.extend(measure_group("read5000", &read, read_iters));

    eprintln!("xtask bench: open latency, {} opens per case", o.opens);
    let latency = latencies(nono, &bin, &data, &first, o.opens);

    let mut throughput = Vec::new();
    if o.criterion {
        for (pkg, bench) in [
            ("nono-wire", "codec"),
            ("nono-transport", "transport"),
            ("nono-proxy", "proxy"),
        ] {
            eprintln!("xtask bench: criterion {pkg} --bench {bench} (short times)");
            throughput.extend(criterion(pkg, bench)?);
        }
    }
    Ok((timed, latency, throughput))
}

/// `nono why` must say the bench directory is outside the default profile's grants.
fn check_not_granted(nono: &Path, dir: &Path) -> Result<()> {
    let out = Command::new(nono)
        .args(["why", "--op", "read", "--path"])
        .arg(dir)
        .output()
        .context("cannot run nono why")?;
    if out.status.code() != Some(1) {
        bail!(
            "{} is already granted by the default profile, so the runtime-grant cases would \
             measure the static fast path; run the bench from a checkout outside granted dirs",
            dir.display()
        );
    }
    Ok(())
}

/// Run every case once per round, `rounds` rounds (after one warm-up that also tells whether
/// the case works here at all).
fn measure_group(group: &'static str, cases: &[Case], rounds: usize) -> Vec<Timed> {
    let mut samples: Vec<Result<Vec<Duration>, String>> = cases
        .iter()
        .map(|c| {
            if c.argv.is_empty() {
                Err("not installed".to_owned())
            } else {
                once(&c.argv).map(|_| Vec::with_capacity(rounds))
            }
        })
        .collect();
    for _ in 0..rounds {
        for (c, s) in cases.iter().zip(samples.iter_mut()) {
            if let Ok(v) = s {
                match once(&c.argv) {
                    Ok(d) => v.push(d),
                    Err(e) => *s = Err(e),
                }
            }
        }
    }
    cases
        .iter()
        .zip(samples)
        .map(|(c, s)| match s {
            Ok(mut v) => {
                v.sort();
                Timed {
                    group,
                    name: c.name.clone(),
                    median: v[v.len() / 2],
                    p90: v[(v.len() * 9 / 10).min(v.len() - 1)],
                    samples: v.len(),
                    skipped: None,
                }
            }
            Err(e) => Timed {
                group,
                name: c.name.clone(),
                median: Duration::ZERO,
                p90: Duration::ZERO,
                samples: 0,
                skipped: Some(e),
            },
        })
        .collect()
}

fn once(argv: &[String]) -> Result<Duration, String> {
    let t = Instant::now();
    let out = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot start {}: {e}", argv[0]))?;
    let elapsed = t.elapsed();
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "{}: {}",
            out.status,
            err.lines().next().unwrap_or("").trim()
        ));
    }
    Ok(elapsed)
}

/// Per-open latency inside a child: bare, trapped inside the static grants (CONTINUE), and
/// outside them with an approve rule (policy + supervisor `openat2` + `ADDFD|SEND`).
fn latencies(nono: &Path, bin: &Path, data: &Path, file: &Path, opens: usize) -> Vec<Latency> {
    let names = [
        "open+close, bare",
        "open+close, nono run --read DIR (CONTINUE)",
        "open+close, nono run --approve DIR (runtime grant)",
    ];
    let skipped = |why: String| -> Vec<Latency> {
        names
            .iter()
            .map(|n| Latency {
                name: (*n).to_owned(),
                p50_ns: 0,
                p99_ns: 0,
                skipped: Some(why.clone()),
            })
            .collect()
    };
    let exe = match compile_opens(bin) {
        Ok(exe) => exe,
        Err(e) => return skipped(format!("{e:#}")),
    };
    let count = opens.to_string();
    let (b, d) = (bin.display().to_string(), data.display().to_string());
    let (e, f) = (exe.display().to_string(), file.display().to_string());
    let n = nono.display().to_string();
    let runs: [Vec<&str>; 3] = [
        vec![&e, &f, &count],
        vec![
            &n, "run", "-s", "--read", &b, "--read", &d, "--", &e, &f, &count,
        ],
        vec![
            &n,
            "run",
            "-s",
            "--read",
            &b,
            "--approve",
            &d,
            "--",
            &e,
            &f,
            &count,
        ],
    ];
    names
        .iter()
        .zip(runs)
        .map(|(name, argv)| {
            let parsed = Command::new(argv[0])
                .args(&argv[1..])
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("cannot start {}: {e}", argv[0]))
                .and_then(|out| {
                    let s = String::from_utf8_lossy(&out.stdout);
                    let v: Vec<u64> = s
                        .split_whitespace()
                        .filter_map(|w| w.parse().ok())
                        .collect();
                    match (out.status.success(), v.as_slice()) {
                        (true, [p50, p99]) => Ok((*p50, *p99)),
                        _ => Err(format!(
                            "{}: {}",
                            out.status,
                            String::from_utf8_lossy(&out.stderr).trim()
                        )),
                    }
                });
            match parsed {
                Ok((p50, p99)) => Latency {
                    name: (*name).to_owned(),
                    p50_ns: p50,
                    p99_ns: p99,
                    skipped: None,
                },
                Err(why) => Latency {
                    name: (*name).to_owned(),
                    p50_ns: 0,
                    p99_ns: 0,
                    skipped: Some(why),
                },
            }
        })
        .collect()
}

fn compile_opens(bin: &Path) -> Result<PathBuf> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let src = bin.join("opens.c");
    let exe = bin.join("opens");
    std::fs::write(&src, OPENS_C)?;
    let out = Command::new(&cc)
        .arg("-O2")
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .output()
        .with_context(|| format!("no C compiler ({cc}) for the latency child"))?;
    if !out.status.success() {
        bail!(
            "{cc} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(exe)
}

/// Run one criterion bench with short times and pick `time:` / `thrpt:` (middle estimates)
/// out of its report.
fn criterion(pkg: &str, bench: &str) -> Result<Vec<Throughput>> {
    let out = Command::new("cargo")
        .current_dir(workspace_root())
        .args(["bench", "-q", "-p", pkg, "--bench", bench, "--"])
        .args([
            "--warm-up-time",
            "0.3",
            "--measurement-time",
            "1",
            "--noplot",
        ])
        .output()
        .with_context(|| format!("cannot run cargo bench -p {pkg}"))?;
    if !out.status.success() {
        bail!(
            "cargo bench -p {pkg} --bench {bench} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(parse_criterion(&String::from_utf8_lossy(&out.stdout)))
}

/// Parse criterion's human report: a name line (or `name  time: [...]` on one line), then
/// `time: [lo mid hi]` and, with a throughput set, `thrpt: [lo mid hi]`.
fn parse_criterion(text: &str) -> Vec<Throughput> {
    let mut rows: Vec<Throughput> = Vec::new();
    let mut name = String::new();
    for line in text.lines() {
        let indented = line.starts_with(char::is_whitespace);
        if !indented && !line.trim().is_empty() {
            let head = line.split("time:").next().unwrap_or("").trim();
            if !head.starts_with("Benchmarking") && !head.starts_with("Found") {
                name = head.to_owned();
            }
        }
        if let Some(rest) = line.split("time:").nth(1) {
            if let Some(ns) = middle(rest).and_then(|(v, u)| to_ns(v, u)) {
                rows.push(Throughput {
                    name: name.clone(),
                    time_ns: ns,
                    per_sec: 1e9 / ns,
                });
            }
        } else if let Some(rest) = line.split("thrpt:").nth(1) {
            if let (Some(row), Some((v, u))) = (rows.last_mut(), middle(rest)) {
                let scale = match u.chars().next() {
                    Some('K') => 1e3,
                    Some('M') => 1e6,
                    Some('G') => 1e9,
                    _ => 1.0,
                };
                row.per_sec = v * scale;
            }
        }
    }
    rows
}

/// The middle value and its unit from `[lo u mid u hi u]`.
fn middle(s: &str) -> Option<(f64, &str)> {
    let inner = s.split('[').nth(1)?.split(']').next()?;
    let w: Vec<&str> = inner.split_whitespace().collect();
    Some((w.get(2)?.parse().ok()?, *w.get(3)?))
}

fn to_ns(v: f64, unit: &str) -> Option<f64> {
    Some(match unit {
        "ps" => v / 1e3,
        "ns" => v,
        "µs" | "us" => v * 1e3,
        "ms" => v * 1e6,
        "s" => v * 1e9,
        _ => return None,
    })
}

/// The bare case of `group` (its first row), when it ran. When it did not, no ratio is
/// given rather than one against another case.
fn baseline<'a>(rows: &'a [Timed], group: &str) -> Option<&'a Timed> {
    rows.iter()
        .find(|r| r.group == group)
        .filter(|r| r.skipped.is_none())
}

fn print_table(timed: &[Timed], latency: &[Latency], throughput: &[Throughput]) {
    let mut s = String::new();
    for (group, title) in [
        ("startup", "start-up of `true`"),
        (
            "read5000",
            "5000-file read workload (one `cat` of every file)",
        ),
    ] {
        let _ = writeln!(s, "\n## {title}");
        let _ = writeln!(
            s,
            "{:<58} {:>10} {:>10} {:>8} {:>11}",
            "case", "median", "p90", "ratio", "over bare"
        );
        let base = baseline(timed, group);
        for r in timed.iter().filter(|r| r.group == group) {
            match (&r.skipped, base) {
                (Some(why), _) => {
                    let _ = writeln!(s, "{:<58} skipped: {why}", r.name);
                }
                (None, Some(b)) => {
                    let _ = writeln!(
                        s,
                        "{:<58} {:>8.2}ms {:>8.2}ms {:>7.2}x {:>+9.2}ms",
                        r.name,
                        ms(r.median),
                        ms(r.p90),
                        r.median.as_secs_f64() / b.median.as_secs_f64(),
                        ms(r.median) - ms(b.median)
                    );
                }
                (None, None) => {
                    let _ = writeln!(
                        s,
                        "{:<58} {:>8.2}ms {:>8.2}ms {:>8} {:>11}",
                        r.name,
                        ms(r.median),
                        ms(r.p90),
                        "-",
                        "-"
                    );
                }
            }
        }
        if let Some(b) = base {
            let _ = writeln!(s, "({} samples per case, round-robin)", b.samples);
        }
    }
    let _ = writeln!(s, "\n## per-open latency inside the child (open+close)");
    let _ = writeln!(
        s,
        "{:<58} {:>10} {:>10} {:>8}",
        "case", "p50", "p99", "p50 ratio"
    );
    let bare = latency.first().filter(|l| l.skipped.is_none());
    for l in latency {
        match &l.skipped {
            Some(why) => {
                let _ = writeln!(s, "{:<58} skipped: {why}", l.name);
            }
            None => {
                let ratio = bare.map_or(1.0, |b| l.p50_ns as f64 / b.p50_ns.max(1) as f64);
                let _ = writeln!(
                    s,
                    "{:<58} {:>8.1}µs {:>8.1}µs {:>7.1}x",
                    l.name,
                    l.p50_ns as f64 / 1e3,
                    l.p99_ns as f64 / 1e3,
                    ratio
                );
            }
        }
    }
    if !throughput.is_empty() {
        let _ = writeln!(s, "\n## codec and transport (criterion, short run)");
        let _ = writeln!(s, "{:<58} {:>10} {:>14}", "bench", "time", "throughput");
        for t in throughput {
            let _ = writeln!(
                s,
                "{:<58} {:>8.0}ns {:>10.0} k/s",
                t.name,
                t.time_ns,
                t.per_sec / 1e3
            );
        }
    }
    print!("{s}");
}

/// The proxy's load example, in a release build, as JSON (one object).
fn proxy_load() -> Result<serde_json::Value> {
    eprintln!("xtask bench: egress proxy load (1 GiB CONNECT, connect latency, 1000 tunnels)");
    let out = Command::new("cargo")
        .current_dir(workspace_root())
        .args([
            "run",
            "-q",
            "--release",
            "-p",
            "nono-proxy",
            "--example",
            "proxy_load",
            "--",
            "--json",
        ])
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run the nono-proxy proxy_load example")?;
    if !out.status.success() {
        bail!("nono-proxy proxy_load failed: {}", out.status);
    }
    serde_json::from_slice(&out.stdout).context("proxy_load printed no JSON object")
}

fn print_proxy(p: &serde_json::Value) {
    let f = |k: &str| {
        p.get(k)
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(f64::NAN)
    };
    let verdict = |ok: bool| if ok { "meets" } else { "MISSES" };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\n## egress proxy (nono-proxy, proxy in its own process)"
    );
    let _ = writeln!(
        s,
        "CONNECT 1 GiB: direct {:.2} Gbit/s, proxied {:.2} Gbit/s, ratio {:.3} — {} target 0.8 \
         (CPU s/GiB: endpoints {:.2}, proxy {:.2}; {} CPUs, load {})",
        f("direct_gbit_s"),
        f("proxied_gbit_s"),
        f("throughput_ratio"),
        verdict(f("throughput_ratio") >= 0.8),
        f("cpu_s_per_gib_proxied_endpoints"),
        f("cpu_s_per_gib_proxy"),
        f("cpus"),
        f("load")
    );
    let _ = writeln!(
        s,
        "new connection added latency: p50 {:.3} ms, p99 {:.3} ms — {} target p50 0.5 ms",
        f("added_latency_p50_ms"),
        f("added_latency_p99_ms"),
        verdict(f("added_latency_p50_ms") <= 0.5)
    );
    let _ = writeln!(
        s,
        "{} concurrent tunnels: {} completed — {}; proxy RSS {:.1} MiB with them — {} target 64 MiB",
        f("tunnels"),
        f("tunnels_completed"),
        verdict(f("tunnels") == f("tunnels_completed")),
        f("proxy_rss_mib"),
        verdict(f("proxy_rss_mib") <= 64.0)
    );
    print!("{s}");
}

fn print_json(
    timed: &[Timed],
    latency: &[Latency],
    throughput: &[Throughput],
    proxy: Option<&serde_json::Value>,
) {
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let whole: Vec<_> = timed
        .iter()
        .map(|r| {
            let ok = r.skipped.is_none();
            let base = baseline(timed, r.group).filter(|_| ok);
            serde_json::json!({
                "group": r.group,
                "name": r.name,
                "median_us": ok.then(|| us(r.median)),
                "p90_us": ok.then(|| us(r.p90)),
                "samples": r.samples,
                "ratio_to_bare": base.map(|b| r.median.as_secs_f64() / b.median.as_secs_f64()),
                "over_bare_us": base.map(|b| us(r.median) - us(b.median)),
                "skipped": r.skipped,
            })
        })
        .collect();
    let bare = latency.first().filter(|l| l.skipped.is_none());
    let lat: Vec<_> = latency
        .iter()
        .map(|l| {
            let ok = l.skipped.is_none();
            serde_json::json!({
                "name": l.name,
                "p50_ns": ok.then_some(l.p50_ns),
                "p99_ns": ok.then_some(l.p99_ns),
                "p50_ratio_to_bare": bare.filter(|_| ok).map(|b| l.p50_ns as f64 / b.p50_ns.max(1) as f64),
                "skipped": l.skipped,
            })
        })
        .collect();
    let thr: Vec<_> = throughput
        .iter()
        .map(|t| serde_json::json!({"name": t.name, "time_ns": t.time_ns, "per_sec": t.per_sec}))
        .collect();
    let out = serde_json::json!({
        "whole_process": whole,
        "open_latency": lat,
        "criterion": thr,
        "proxy": proxy,
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `n` small files in 50 subdirectories of `dir`; returns the first one.
fn make_tree(dir: &Path, n: usize) -> Result<PathBuf> {
    let _ = std::fs::remove_dir_all(dir);
    let mut first = None;
    for i in 0..n {
        let sub = dir.join(format!("d{:02}", i % 50));
        if i < 50 {
            std::fs::create_dir_all(&sub)?;
        }
        let f = sub.join(format!("f{i:05}.txt"));
        std::fs::write(&f, format!("file {i}\n").repeat(8))?;
        first.get_or_insert(f);
    }
    first.context("an empty tree")
}

fn which(name: &str) -> Option<String> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
}

/// Children of this process still present (alive or `<defunct>`), as `(pid, state)`.
fn children_left() -> Vec<(u32, char)> {
    let me = std::process::id();
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let mut f = rest.split_whitespace();
        let state = f.next().and_then(|s| s.chars().next()).unwrap_or('?');
        if f.next().and_then(|p| p.parse::<u32>().ok()) == Some(me) {
            out.push((pid, state));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_criterion_reports_on_one_or_two_lines() {
        let text = "\
codec/encode CapabilityRequest frame
                        time:   [455.10 ns 456.20 ns 457.30 ns]
                        thrpt:  [2.1867 Melem/s 2.1920 Melem/s 2.1973 Melem/s]
Found 2 outliers among 100 measurements (2.00%)
short/name              time:   [2.8468 µs 2.8504 µs 2.8540 µs]
                        thrpt:  [350.38 Kelem/s 350.83 Kelem/s 351.27 Kelem/s]
";
        let rows = parse_criterion(text);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].name, "codec/encode CapabilityRequest frame");
        assert!((rows[0].time_ns - 456.2).abs() < 1e-9);
        assert!((rows[0].per_sec - 2.192e6).abs() < 1.0);
        assert_eq!(rows[1].name, "short/name");
        assert!((rows[1].time_ns - 2850.4).abs() < 1e-6);
        assert!((rows[1].per_sec - 350_830.0).abs() < 1.0);
    }

    #[test]
    fn the_baseline_is_the_bare_case_or_none() {
        let row = |name: &str, skipped: Option<&str>| Timed {
            group: "startup",
            name: name.to_owned(),
            median: Duration::from_millis(1),
            p90: Duration::from_millis(1),
            samples: 3,
            skipped: skipped.map(str::to_owned),
        };
        let ran = [row("bare", None), row("nono", None)];
        assert_eq!(
            baseline(&ran, "startup").map(|r| r.name.as_str()),
            Some("bare")
        );
        let bare_failed = [row("bare", Some("exit status: 1")), row("nono", None)];
        assert!(baseline(&bare_failed, "startup").is_none());
        assert!(baseline(&ran, "read5000").is_none());
    }
}

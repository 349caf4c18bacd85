//! Supervisor benchmarks (whole processes, so a dedicated harness rather than criterion's
//! in-process loop): start-up of a supervised `true` against bare `true`, the CONTINUE fast
//! path and the runtime-grant round trip per trapped open (p50/p99, measured inside the
//! child), and a 5000-file read workload with every open trapped against unconfined — each
//! compared with bare execution measured in the same run, since these machines are noisy.
//!
//! The child workloads are this binary re-executed with `NONO_BENCH_CHILD` set, so nothing
//! else has to be built. Run: `cargo bench -p nono-supervisor` (`-- --quick` for a tenth of
//! the iterations); under `cargo test --all-targets` it runs a small smoke version.

use std::ffi::OsString;
use std::hint::black_box;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nono_sandbox::{AccessMode, CapabilitySet};
use nono_supervisor::approval::Callback;
use nono_supervisor::policy::{Decision, Engine, GrantScope, Policy};
use nono_supervisor::{run, PtyMode, SpawnConfig};

const CHILD_VAR: &str = "NONO_BENCH_CHILD";

fn main() {
    if let Ok(mode) = std::env::var(CHILD_VAR) {
        child(&mode);
        return;
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test --all-targets` does not: then run a smoke
    // version (every workload once, tiny counts) so the benchmark cannot rot.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let quick = smoke || std::env::args().any(|a| a == "--quick");
    let scale = if smoke {
        100
    } else if quick {
        10
    } else {
        1
    };
    let support = nono_sandbox::support();
    if support.seccomp.user_notif != nono_sandbox::support::Tristate::Yes || !support.landlock.fs {
        println!("skipping: no Landlock or seccomp user notification on this kernel");
        return;
    }
    let scratch = std::env::temp_dir().join(format!("nono-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let scratch = std::fs::canonicalize(&scratch).unwrap();

    startup(200 / scale);
    per_open(&scratch, 20_000 / scale, 2_000 / scale);
    workload(&scratch, 5_000 / scale, if smoke { 1 } else { 7 });
    let _ = std::fs::remove_dir_all(&scratch);
}

/// The system readable, the bench binary itself readable (it is the child).
fn caps() -> CapabilitySet {
    let mut caps = CapabilitySet::new();
    for dir in ["/usr", "/bin", "/lib", "/lib64", "/etc", "/dev", "/proc"] {
        if Path::new(dir).exists() {
            caps.allow_path(dir, AccessMode::Read, "bench").unwrap();
        }
    }
    caps.allow_file(std::env::current_exe().unwrap(), AccessMode::Read, "bench")
        .unwrap();
    caps
}

fn config(argv: Vec<OsString>, caps: CapabilitySet, trap: bool) -> SpawnConfig {
    let mut c = SpawnConfig::new(argv, caps);
    c.pty = PtyMode::Never;
    c.forward_signals = false;
    c.trap_opens = trap;
    c
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn startup(n: usize) {
    let mut bare = Vec::with_capacity(n);
    let mut landlock = Vec::with_capacity(n);
    let mut trapped = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let s = Command::new("/bin/true").status().unwrap();
        bare.push(t.elapsed());
        assert!(s.success());

        let t = Instant::now();
        let o = run(config(vec!["/bin/true".into()], caps(), false)).unwrap();
        landlock.push(t.elapsed());
        assert_eq!(o.exit.code(), 0);

        let t = Instant::now();
        let o = run(config(vec!["/bin/true".into()], caps(), true)).unwrap();
        trapped.push(t.elapsed());
        assert_eq!(o.exit.code(), 0);
    }
    for v in [&mut bare, &mut landlock, &mut trapped] {
        v.sort();
    }
    let (b, l, t) = (
        percentile(&bare, 0.5),
        percentile(&landlock, 0.5),
        percentile(&trapped, 0.5),
    );
    println!("start-up of `true` ({n} runs each, median):");
    println!("  bare                          {:8.3} ms", ms(b));
    println!(
        "  supervised (Landlock+seccomp) {:8.3} ms   (+{:.3} ms over bare)",
        ms(l),
        ms(l.saturating_sub(b))
    );
    println!(
        "  supervised, opens trapped     {:8.3} ms   (+{:.3} ms over bare)",
        ms(t),
        ms(t.saturating_sub(b))
    );
}

fn child_argv(mode: &str, args: &[&Path]) -> (Vec<OsString>, Vec<(OsString, OsString)>) {
    let mut argv: Vec<OsString> = vec![std::env::current_exe().unwrap().into()];
    argv.extend(args.iter().map(|a| a.as_os_str().to_owned()));
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    env.push((CHILD_VAR.into(), mode.into()));
    (argv, env)
}

/// Run the child under the supervisor (or bare) and parse the line it prints to the file `out`.
fn child_result(
    out: &Path,
    mode: &str,
    args: &[&Path],
    supervised: Option<(CapabilitySet, Option<Arc<Engine>>)>,
) -> Vec<u64> {
    let _ = std::fs::remove_file(out);
    let (argv, mut env) = child_argv(mode, args);
    env.push(("NONO_BENCH_OUT".into(), out.into()));
    match supervised {
        None => {
            let s = Command::new(&argv[0])
                .args(&argv[1..])
                .env_clear()
                .envs(env)
                .status()
                .unwrap();
            assert!(s.success());
        }
        Some((caps, engine)) => {
            let mut c = config(argv, caps, true);
            c.env = env;
            c.engine = engine;
            let o = run(c).unwrap();
            assert_eq!(o.exit.code(), 0, "{:?}", o.denials);
        }
    }
    std::fs::read_to_string(out)
        .unwrap()
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect()
}

fn approve_all() -> Arc<Engine> {
    Arc::new(Engine::new(
        Policy::default(),
        Callback::new(|_| Decision::Granted {
            scope: GrantScope::Once,
            rule: "bench".into(),
        }),
    ))
}

fn per_open(scratch: &Path, n_continue: usize, n_grant: usize) {
    let out_dir = scratch.join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let out = out_dir.join("result");
    let outside = scratch.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("f"), "x").unwrap();
    let mut caps = caps();
    caps.allow_dir(&out_dir, AccessMode::ReadWrite, "bench")
        .unwrap();
    let count = PathBuf::from(n_continue.to_string());
    let inside = Path::new("/etc/passwd");

    let bare = child_result(&out, "opens", &[inside, &count], None);
    let cont = child_result(&out, "opens", &[inside, &count], Some((caps.clone(), None)));
    println!("trapped open inside the grants (CONTINUE), {n_continue} opens, ns per open+close:");
    println!("  bare        p50 {:7} p99 {:7}", bare[0], bare[1]);
    println!(
        "  trapped     p50 {:7} p99 {:7}   (+{} ns p50)",
        cont[0],
        cont[1],
        cont[0].saturating_sub(bare[0])
    );

    let count = PathBuf::from(n_grant.to_string());
    let file = outside.join("f");
    let grant = child_result(
        &out,
        "opens",
        &[&file, &count],
        Some((caps, Some(approve_all()))),
    );
    println!("runtime grant round trip (policy + openat2 + ADDFD|SEND), {n_grant} opens:");
    println!("  granted     p50 {:7} p99 {:7} ns", grant[0], grant[1]);
}

fn workload(scratch: &Path, files: usize, reps: usize) {
    let tree = scratch.join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    for i in 0..files {
        std::fs::write(tree.join(format!("f{i:05}")), format!("file {i}\n")).unwrap();
    }
    let out_dir = scratch.join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let out = out_dir.join("w");
    let mut caps = caps();
    caps.allow_dir(&out_dir, AccessMode::ReadWrite, "bench")
        .unwrap();
    caps.allow_dir(&tree, AccessMode::Read, "bench").unwrap();
    let mut bare = Vec::new();
    let mut trapped = Vec::new();
    for _ in 0..reps {
        let t = Instant::now();
        child_result(&out, "tree", &[&tree], None);
        bare.push(t.elapsed());
        let t = Instant::now();
        child_result(&out, "tree", &[&tree], Some((caps.clone(), None)));
        trapped.push(t.elapsed());
    }
    bare.sort();
    trapped.sort();
    let (b, t) = (percentile(&bare, 0.5), percentile(&trapped, 0.5));
    println!("{files}-file read workload, whole process, median of {reps}:");
    println!("  unconfined  {:8.2} ms", ms(b));
    println!(
        "  trapped     {:8.2} ms   ({:.2}x)",
        ms(t),
        t.as_secs_f64() / b.as_secs_f64()
    );
}

/// The child side: `opens PATH N` (p50/p99 ns of open+read+close) or `tree DIR` (read every
/// file). Results go to the file named by `NONO_BENCH_OUT`.
fn child(mode: &str) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = std::env::var("NONO_BENCH_OUT").unwrap();
    let result = match mode {
        "opens" => {
            let n: usize = args[1].parse().unwrap();
            let mut times = Vec::with_capacity(n);
            let mut buf = [0u8; 1];
            for _ in 0..n {
                let t = Instant::now();
                let mut f = std::fs::File::open(&args[0]).unwrap();
                black_box(f.read(&mut buf).unwrap());
                drop(f);
                times.push(t.elapsed());
            }
            times.sort();
            format!(
                "{} {}",
                percentile(&times, 0.5).as_nanos(),
                percentile(&times, 0.99).as_nanos()
            )
        }
        "tree" => {
            let mut total = 0usize;
            let mut buf = Vec::new();
            for entry in std::fs::read_dir(&args[0]).unwrap() {
                buf.clear();
                std::fs::File::open(entry.unwrap().path())
                    .unwrap()
                    .read_to_end(&mut buf)
                    .unwrap();
                total += buf.len();
            }
            format!("{total}")
        }
        other => panic!("unknown child mode {other}"),
    };
    std::fs::write(out, result).unwrap();
}

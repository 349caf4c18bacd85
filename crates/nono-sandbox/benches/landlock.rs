//! Landlock benchmarks: building a typical sandbox (prepare), prepare + spawn + enforce of `true`, and the per-open cost of Landlock as a ratio against unconfined `cat` over 5000 files.
//!
//! `cargo bench -p nono-sandbox --bench landlock`. The ratio is printed first: `cat` reads
//! 5000 small files unconfined and confined (same prepared sandbox, spawned repeatedly,
//! interleaved), and the median of each is compared — whole-process timings on a noisy
//! machine are only meaningful as a ratio measured in the same run.

#[cfg(target_os = "linux")]
mod linux {
    use std::hint::black_box;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use criterion::Criterion;
    use nono_sandbox::{AccessMode, CapabilitySet, CommandExt, PreparedSandbox, SandboxOptions};

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("nono-bench-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::canonicalize(dir).unwrap()
    }

    /// A typical ruleset: system dirs read-only, a project and temp dir writable, a few files,
    /// one credential carve-out inside the project, TCP 443 only. Ten grants.
    fn typical_caps(root: &Path) -> CapabilitySet {
        let mut caps = CapabilitySet::new();
        caps.allow_dir("/usr", AccessMode::Read, "system").unwrap();
        for f in [
            "/etc/ld.so.cache",
            "/etc/passwd",
            "/etc/hosts",
            "/etc/resolv.conf",
        ] {
            if Path::new(f).exists() {
                caps.allow_file(f, AccessMode::Read, "system").unwrap();
            }
        }
        for d in ["project", "cache", "tmp", "home/config", "home/share"] {
            let p = root.join(d);
            std::fs::create_dir_all(&p).unwrap();
            let access = if d == "project" || d == "tmp" {
                AccessMode::ReadWrite
            } else {
                AccessMode::Read
            };
            caps.allow_dir(&p, access, "bench").unwrap();
        }
        for f in ["project/src/main.rs", "project/Cargo.toml", "project/.env"] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x").unwrap();
        }
        caps.allow_dir("/proc", AccessMode::Read, "system").unwrap();
        caps.deny(root.join("project/.env"), "group credentials")
            .unwrap();
        caps.allow_connect_port(443);
        caps
    }

    fn median(mut v: Vec<Duration>) -> Duration {
        v.sort();
        v[v.len() / 2]
    }

    /// Time `cat` over 5000 files unconfined and confined; print medians and the ratio.
    pub fn per_open_ratio(runs: usize) {
        const FILES: usize = 5000;
        let dir = temp_dir("files");
        let mut names = Vec::with_capacity(FILES);
        for i in 0..FILES {
            let name = format!("f{i:04}");
            std::fs::write(dir.join(&name), b"0123456789abcdef\n").unwrap();
            names.push(name);
        }
        let mut caps = CapabilitySet::new();
        caps.allow_dir("/usr", AccessMode::Read, "bench").unwrap();
        caps.allow_file("/etc/ld.so.cache", AccessMode::Read, "bench")
            .unwrap();
        caps.allow_dir(&dir, AccessMode::Read, "bench").unwrap();
        let mut plain = Command::new("/usr/bin/cat");
        plain.args(&names).current_dir(&dir).stdout(Stdio::null());
        let mut confined = Command::new("/usr/bin/cat");
        confined
            .args(&names)
            .current_dir(&dir)
            .stdout(Stdio::null())
            .sandboxed_with(PreparedSandbox::prepare(&caps, &SandboxOptions::default()).unwrap());
        let time = |cmd: &mut Command| {
            let t = Instant::now();
            let st = cmd.status().unwrap();
            assert!(st.success(), "cat failed: {st}");
            t.elapsed()
        };
        // Warm the page cache and the binaries.
        time(&mut plain);
        time(&mut confined);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            a.push(time(&mut plain));
            b.push(time(&mut confined));
        }
        let (ma, mb) = (median(a), median(b));
        println!(
            "per-open cost: cat over {FILES} files, median of {runs}: unconfined {ma:.2?}, \
             Landlock+seccomp {mb:.2?}, ratio {:.3}",
            mb.as_secs_f64() / ma.as_secs_f64()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    pub fn benches(c: &mut Criterion) {
        let root = temp_dir("typical");
        let caps = typical_caps(&root);
        c.bench_function("landlock/prepare_typical_10_grants", |b| {
            b.iter(|| {
                black_box(PreparedSandbox::prepare(&caps, &SandboxOptions::default()).unwrap())
            });
        });
        c.bench_function("landlock/prepare_spawn_enforce_true", |b| {
            b.iter(|| {
                let p = PreparedSandbox::prepare(&caps, &SandboxOptions::default()).unwrap();
                let st = Command::new("/usr/bin/true")
                    .sandboxed_with(p)
                    .status()
                    .unwrap();
                assert!(st.success());
            });
        });
        c.bench_function("landlock/spawn_true_unconfined", |b| {
            b.iter(|| {
                let st = Command::new("/usr/bin/true").status().unwrap();
                assert!(st.success());
            });
        });
        let _ = std::fs::remove_dir_all(&root);
    }
}

#[cfg(target_os = "linux")]
fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` does not (criterion's test mode:
    // run everything once).
    let bench_mode = std::env::args().any(|a| a == "--bench");
    linux::per_open_ratio(if bench_mode { 15 } else { 1 });
    let mut c = criterion::Criterion::default().configure_from_args();
    linux::benches(&mut c);
    c.final_summary();
}

#[cfg(not(target_os = "linux"))]
fn main() {}

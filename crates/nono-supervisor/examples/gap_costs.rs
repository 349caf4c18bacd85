//! Timed example: what the gap brokers cost per call — a trapped `chmod` (performed by the
//! supervisor), an `open` under `/proc` (served by the supervisor), a Unix `connect`
//! (performed by the supervisor) — against the same calls unsandboxed and under Landlock
//! alone, measured inside one child process per configuration (the probe `c/gaps.c`, built
//! with gcc).
//!
//! ```text
//! cargo run --release -p nono-supervisor --example gap_costs [-- ITERATIONS]
//! ```
//!
//! Not a test: it asserts nothing about time. The numbers go into docs/THREAT_MODEL.md.

#[cfg(target_os = "linux")]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    use std::os::unix::net::UnixListener;
    use std::path::Path;
    use std::process::Command;

    use nono_sandbox::{AccessMode, CapabilitySet};
    use nono_supervisor::{PtyMode, SpawnConfig};

    let iterations: u32 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20_000);
    let work = std::env::temp_dir().join(format!("nono-gap-costs-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let work = std::fs::canonicalize(&work)?;
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/supervisor/c/gaps.c");
    let probe = work.join("gaps");
    let built = Command::new("gcc")
        .args(["-O2", "-pthread", "-o"])
        .arg(&probe)
        .arg(&src)
        .status()?;
    if !built.success() {
        return Err("gcc failed".into());
    }
    let file = work.join("f");
    std::fs::write(&file, "x")?;
    let sock = work.join("s.sock");
    let listener = UnixListener::bind(&sock)?;
    std::thread::spawn(move || {
        for c in listener.incoming() {
            drop(c);
        }
    });

    let mut caps = CapabilitySet::new();
    for dir in ["/usr", "/bin", "/lib", "/lib64", "/etc", "/proc"] {
        if Path::new(dir).exists() {
            caps.allow_path(dir, AccessMode::Read, "system")?;
        }
    }
    caps.allow_dir(&work, AccessMode::ReadWrite, "work")?;
    // Served by this process, outside the sandbox: reachable only when granted by itself.
    caps.allow_file(&sock, AccessMode::ReadWrite, "socket")?;

    let n = iterations.to_string();
    let f = file.display().to_string();
    let s = sock.display().to_string();
    let cases: Vec<[&str; 2]> = vec![
        ["chmod", f.as_str()],
        ["open", "/proc/self/status"],
        ["open", "/proc/cpuinfo"],
        ["open", "/etc/hostname"],
        ["connect", s.as_str()],
    ];
    let out = work.join("out");
    let run = |mode: &str, op: &str, path: &str| -> Result<String, Box<dyn std::error::Error>> {
        let args = [
            probe.display().to_string(),
            "bench".into(),
            op.into(),
            path.into(),
            n.clone(),
        ];
        if mode == "bare" {
            let o = Command::new(&args[0]).args(&args[1..]).output()?;
            return Ok(String::from_utf8_lossy(&o.stdout).trim().to_owned());
        }
        let mut argv = vec![
            "sh".to_owned(),
            "-c".to_owned(),
            format!("exec \"$@\" > '{}'", out.display()),
            "probe".to_owned(),
        ];
        argv.extend(args);
        let mut config = SpawnConfig::new(argv, caps.clone());
        config.pty = PtyMode::Never;
        config.forward_signals = false;
        config.trap_opens = mode == "supervised";
        nono_supervisor::run(config)?;
        Ok(std::fs::read_to_string(&out)?.trim().to_owned())
    };
    let ns = |line: &str| -> f64 {
        line.split(": ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    println!("{iterations} calls per case; ns per call (median of 3 runs)");
    println!(
        "{:<32} {:>10} {:>14} {:>12} {:>12}",
        "call", "bare", "landlock only", "supervised", "added"
    );
    for [op, path] in cases {
        let mut row = Vec::new();
        for mode in ["bare", "landlock", "supervised"] {
            let mut v: Vec<f64> = (0..3)
                .map(|_| run(mode, op, path).map(|l| ns(&l)))
                .collect::<Result<_, _>>()?;
            v.sort_by(f64::total_cmp);
            row.push(v[1]);
        }
        println!(
            "{:<32} {:>10.0} {:>14.0} {:>12.0} {:>12.0}",
            format!("{op} {}", short(path)),
            row[0],
            row[1],
            row[2],
            row[2] - row[1]
        );
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

#[cfg(target_os = "linux")]
fn short(p: &str) -> String {
    if p.starts_with("/proc") || p.starts_with("/etc") {
        p.to_owned()
    } else {
        format!("(work)/{}", p.rsplit('/').next().unwrap_or(p))
    }
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("gap_costs measures Linux seccomp brokers; nothing to do here");
}

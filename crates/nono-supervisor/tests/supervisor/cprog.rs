//! The C probe `c/gaps.c` for the gap tests (procfs, metadata, Unix sockets), compiled once
//! per test run with gcc, and small helpers to run it under the supervisor.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use nono_sandbox::{AccessMode, CapabilitySet};
use nono_supervisor::{PtyMode, RunOutcome, SpawnConfig};

/// The compiled probe, or `None` (after printing why) when gcc is missing and
/// `NONO_REQUIRE_SANDBOX=1` is not set.
pub fn gaps() -> Option<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/supervisor/c/gaps.c");
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("nono-gaps");
        std::fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let out = dir.join(format!("gaps-{}", std::process::id()));
        match Command::new("gcc")
            .args(["-O1", "-Wall", "-Werror", "-pthread", "-o"])
            .arg(&out)
            .arg(&src)
            .status()
        {
            Ok(s) if s.success() => Ok(out),
            Ok(s) => panic!("gcc failed on {}: {s}", src.display()),
            Err(e) => Err(format!("gcc is not available ({e})")),
        }
    });
    match built {
        Ok(p) => Some(p.clone()),
        Err(reason) => {
            assert!(
                std::env::var_os("NONO_REQUIRE_SANDBOX").is_none_or(|v| v != "1"),
                "NONO_REQUIRE_SANDBOX=1 but {reason}"
            );
            eprintln!("skipping: {reason}");
            None
        }
    }
}

/// Run the probe (`args` after the binary) supervised with opens trapped under `caps`, with
/// its stdout captured in `out/stdout`. Returns the outcome and the captured output.
pub fn run_probe(
    probe: &Path,
    args: &[&str],
    caps: CapabilitySet,
    out: &Path,
) -> (RunOutcome, String) {
    let stdout = out.join("stdout");
    let mut caps = caps;
    caps.allow_dir(out, AccessMode::ReadWrite, "test output")
        .unwrap();
    // The probe is built under the target dir; grant just the binary.
    caps.allow_file(probe, AccessMode::Read, "test probe")
        .unwrap();
    let mut argv: Vec<String> = vec![probe.display().to_string()];
    argv.extend(args.iter().map(|a| (*a).to_owned()));
    let script = format!(
        "exec \"$@\" > {}",
        shell_quote(&stdout.display().to_string())
    );
    let mut full = vec!["sh".to_owned(), "-c".to_owned(), script, "probe".to_owned()];
    full.extend(argv);
    let mut config = SpawnConfig::new(full, caps);
    config.pty = PtyMode::Never;
    config.forward_signals = false;
    config.trap_opens = true;
    let outcome = nono_supervisor::run(config).unwrap();
    let text = std::fs::read_to_string(&stdout).unwrap_or_default();
    (outcome, text)
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The probe's answer for `op` (`"ok"`, `"EACCES"`, ...).
pub fn answer<'a>(text: &'a str, op: &str) -> &'a str {
    let prefix = format!("{op}: ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no answer for {op} in:\n{text}"))
}

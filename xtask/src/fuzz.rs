//! `cargo xtask fuzz`: build (in CI) and run (on demand) the cargo-fuzz targets under `fuzz/`.

use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{has_cargo_subcommand, run, workspace_root};

/// The toolchain cargo-fuzz needs (`-Zsanitizer`), if one is installed.
fn nightly() -> Option<&'static str> {
    let ok = Command::new("rustup")
        .args(["run", "nightly", "rustc", "--version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some("+nightly")
}

/// Why coverage-guided fuzzing can't run here, or `None` when it can.
fn unavailable() -> Option<String> {
    if !has_cargo_subcommand("fuzz") {
        return Some("cargo-fuzz is not installed (cargo install --locked cargo-fuzz)".into());
    }
    if nightly().is_none() {
        return Some("no nightly toolchain is installed, and cargo-fuzz needs one".into());
    }
    None
}

fn targets() -> Result<Vec<String>> {
    let out = Command::new("cargo")
        .args(["fuzz", "list"])
        .current_dir(workspace_root())
        .output()
        .context("cargo fuzz list")?;
    if !out.status.success() {
        bail!(
            "cargo fuzz list failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect())
}

/// CI: build every fuzz target instrumented when cargo-fuzz + nightly are here; otherwise
/// compile them as plain binaries so they never rot, and say so.
pub fn build() -> Result<()> {
    match unavailable() {
        None => run(Command::new("cargo").args([nightly().unwrap_or("+nightly"), "fuzz", "build"])),
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

/// `cargo xtask fuzz [--time S]`: each target for S seconds; prints executions per target.
pub fn run_targets(args: &[String]) -> Result<()> {
    let mut secs: u64 = 30;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--time" => {
                secs = it
                    .next()
                    .context("--time needs a number of seconds")?
                    .parse()
                    .context("--time needs a whole number of seconds")?;
            }
            other => bail!("unknown fuzz option `{other}` (expected --time S)"),
        }
    }
    if let Some(why) = unavailable() {
        bail!("cannot fuzz here: {why}");
    }
    let toolchain = nightly().unwrap_or("+nightly");
    for target in targets()? {
        let corpus = workspace_root().join("fuzz/corpus").join(&target);
        std::fs::create_dir_all(&corpus)?;
        eprintln!("fuzzing {target} for {secs}s");
        run(Command::new("cargo").args([
            toolchain,
            "fuzz",
            "run",
            &target,
            "--",
            &format!("-max_total_time={secs}"),
            "-print_final_stats=1",
        ]))?;
    }
    Ok(())
}

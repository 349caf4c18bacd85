//! `cargo xtask`: the one entry point for CI steps, fuzzing and whole-process benchmarks.

mod bench;
mod build;
mod fuzz;
mod guide;
mod litter;
#[cfg(test)]
use nono_scratch as scratch;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Every subcommand: its name, its synopsis lines for the overview, and its own `--help`.
const COMMANDS: &[(&str, &str, &str)] = &[
    (
        "ci",
        "  ci                 fmt check, clippy -D warnings, tests, docs, cargo-deny, fuzz build,
                     10 s of fuzzing per target (where cargo-fuzz + nightly exist), bench build
",
        "\
usage: cargo xtask ci

Runs every CI step in order and stops at the first failure: cargo fmt --check, clippy
-D warnings (all targets), the workspace tests (the end-to-end ones against nono built the
way `cargo xtask install` builds it; they fail when they leave `nono-*` entries in the temp
dir, see `cargo xtask litter --help`), doc tests, cargo doc -D warnings, cargo-deny
(licenses, bans, sources; installed from crates.io when missing), the fuzz targets' build and
10 s of fuzzing per target (where cargo-fuzz and a nightly toolchain exist), the benches' build.
Takes no options.
",
    ),
    (
        "install",
        "  install [--root D] build and install nono (cargo install; linked statically on Linux)
",
        "\
usage: cargo xtask install [--root DIR]

Installs the nono binary with `cargo install --locked --path crates/nono-cli` (into
~/.cargo/bin, or DIR/bin with --root). On Linux it is linked statically (a static PIE): it
starts ~0.2-0.3 ms faster than a dynamically linked build. With glibc that needs the static C
library (Debian: libc6-dev, Fedora: glibc-static); without it nono is linked dynamically and
the reason is printed.
  --root DIR   install into DIR/bin
",
    ),
    (
        "fuzz",
        "  fuzz [--time S]    run every fuzz target for S seconds each (default 30)
  fuzz --build       only build the fuzz targets (the step `ci` runs)
",
        "\
usage: cargo xtask fuzz [--time S]
       cargo xtask fuzz --build

Runs every fuzz target (cargo-fuzz, nightly toolchain) for S seconds each (default 30, at
least 1) with its seed corpus and dictionary, and reports executions and new coverage.
  --time S    seconds per target
  --build     only build the fuzz targets (what `cargo xtask ci` runs)
",
    ),
    (
        "bench",
        "  bench [--json]     issue 14's targets checked on one run, then the details: start-up,
                     5000-file read (ratios to bare; bwrap/firejail when installed), open
                     latency p50/p99 against a minimal notify loop (the floor), allowed-syscall
                     cost, supervisor RSS, codec/transport/proxy throughput (criterion,
                     short), the egress proxy's load (1 GiB CONNECT, latency, 1000 tunnels);
                     also --iters N (default 50), --opens N (default 2000), --no-criterion,
                     --no-proxy
",
        "\
usage: cargo xtask bench [--json] [--iters N] [--opens N] [--no-criterion] [--no-proxy]

Builds nono in release mode and measures, in one run: start-up, a 5000-file read (ratios to
bare; bwrap/firejail when installed), open latency p50/p99 against a minimal notify loop
(the floor), allowed-syscall cost, supervisor RSS, codec/transport/proxy throughput
(criterion, short) and the egress proxy's load (1 GiB CONNECT, latency, 1000 tunnels); then
checks issue 14's targets.
  --json           print the results as JSON
  --iters N        runs per start-up/read measurement (default 50, at least 3)
  --opens N        opens per latency measurement (default 2000, at least 10)
  --no-criterion   skip the criterion throughput benches
  --no-proxy       skip the egress proxy's load test
",
    ),
    (
        "litter",
        "  litter [ARGS]      cargo test ARGS, failing when the tests leave nono-* entries in the
                     temp dir (the check `ci` makes around its test step)
",
        "\
usage: cargo xtask litter [CARGO TEST ARGS...]

Runs `cargo test ARGS` and fails when the tests leave new `nono-*` entries in the temp dir
(TMPDIR, else /tmp) or new `nono-e2e-*` scratch dirs in cargo's target tmp dir, listing them
with the source lines that spell each name. `cargo xtask ci` makes the same check around its
test step. Another nono test run on the machine at the same time also shows up.
  e.g. cargo xtask litter -p nono-policy
",
    ),
    (
        "tidy",
        "  tidy               the architecture checks alone (layer arrows, module cycles, //!
                     headers, unsafe allow-list)
",
        "\
usage: cargo xtask tidy

The architecture checks alone (also part of the tests): the crates' dependency arrows, no module
cycle inside a crate, a //! header on every source file, and the unsafe allow-list (`unsafe` only in the files listed in
xtask/src/tidy.rs; every other crate root forbids it). Takes no options.
",
    ),
    (
        "guide",
        "  guide [--check]    write docs/guide/profiles-reference.md from the embedded profiles and
                     deny groups (--check: fail if it is out of date)
",
        "\
usage: cargo xtask guide [--check]

Writes docs/guide/profiles-reference.md from the embedded profiles and deny groups.
  --check   write nothing; fail if the file is out of date
",
    ),
];

/// The overview: every subcommand's synopsis.
fn usage() -> String {
    let mut s = String::from("usage: cargo xtask <command> [--help]\n\ncommands:\n");
    for (_, synopsis, _) in COMMANDS {
        s.push_str(synopsis);
    }
    s
}

/// A subcommand's own `--help` text.
fn help_of(cmd: &str) -> Option<&'static str> {
    COMMANDS
        .iter()
        .find(|(n, _, _)| *n == cmd)
        .map(|(_, _, h)| *h)
}

/// Fails on any argument: for subcommands that take none, so a typo does not start CI.
fn no_options(cmd: &str, rest: &[String]) -> Result<()> {
    if let Some(a) = rest.first() {
        bail!("`cargo xtask {cmd}` takes no options, got `{a}` (see `cargo xtask {cmd} --help`)");
    }
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        eprint!("{}", usage());
        std::process::exit(2);
    };
    let rest = &args[1..];
    if matches!(cmd.as_str(), "-h" | "--help" | "help") {
        print!("{}", usage());
        return Ok(());
    }
    let Some(help) = help_of(cmd) else {
        eprint!("unknown command `{cmd}`\n{}", usage());
        std::process::exit(2);
    };
    // `cargo xtask bench --help` (any subcommand) prints that subcommand's usage instead of
    // treating `--help` as one of its options.
    if rest.iter().any(|a| a == "-h" || a == "--help") {
        print!("{help}");
        return Ok(());
    }
    match cmd.as_str() {
        "ci" => {
            no_options(cmd, rest)?;
            ci()
        }
        "install" => build::install(rest),
        "fuzz" => fuzz::run_targets(rest),
        "bench" => bench::run_bench(rest),
        "guide" => guide::run(rest),
        "litter" => litter::checked(&workspace_root(), || run(cargo().arg("test").args(rest))),
        "tidy" => {
            no_options(cmd, rest)?;
            let problems = tidy::check(&workspace_root())?;
            if problems.is_empty() {
                println!("tidy: ok");
                Ok(())
            } else {
                bail!("tidy found problems:\n  {}", problems.join("\n  "))
            }
        }
        other => unreachable!("`{other}` is in COMMANDS but not dispatched"),
    }
}

/// The workspace root (the parent of `xtask/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Run a command in the workspace root, echoing it; fail with its status.
pub fn run(cmd: &mut Command) -> Result<()> {
    cmd.current_dir(workspace_root());
    eprintln!("xtask$ {}", render(cmd));
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {}", render(cmd)))?;
    if !status.success() {
        bail!("`{}` failed with {status}", render(cmd));
    }
    Ok(())
}

fn render(cmd: &Command) -> String {
    // The variables set for this command (RUSTFLAGS, RUSTDOCFLAGS, NONO_BIN), then the command.
    let mut s = String::new();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            s.push_str(&format!(
                "{}={:?} ",
                k.to_string_lossy(),
                v.to_string_lossy()
            ));
        }
    }
    s.push_str(&cmd.get_program().to_string_lossy());
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// `cargo`: the one that started xtask (`$CARGO`), else the first on `PATH`.
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Whether `cargo <sub>` is installed (`cargo deny --version`, `cargo fuzz --version`).
pub fn has_cargo_subcommand(sub: &str) -> bool {
    cargo()
        .args([sub, "--version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn ci() -> Result<()> {
    let started = std::time::Instant::now();
    step("fmt", || {
        run(cargo().args(["fmt", "--all", "--", "--check"]))
    })?;
    step("clippy", || {
        run(cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))
    })?;
    step("test", || {
        // The end-to-end tests run the binary users install (`cargo xtask install`): static
        // where the host allows (see build.rs).
        let nono = build::build_nono(build::Profile::Debug)?;
        eprintln!(
            "xtask: the end-to-end tests run {} ({} build)",
            nono.path.display(),
            nono.linkage.name()
        );
        // What the tests leave in the temp dir fails the step (after their own failures).
        litter::checked(&workspace_root(), || {
            run(cargo()
                .args(["test", "--workspace", "--all-targets", "--no-fail-fast"])
                .env("NONO_BIN", &nono.path))
        })
    })?;
    step("doc-tests", || {
        run(cargo().args(["test", "--workspace", "--doc"]))
    })?;
    step("doc", || {
        run(cargo()
            .args([
                "doc",
                "--workspace",
                "--no-deps",
                "--document-private-items",
            ])
            .env("RUSTDOCFLAGS", "-D warnings"))
    })?;
    step("deny", deny)?;
    step("fuzz-build", fuzz::build)?;
    step("fuzz-smoke", fuzz::smoke)?;
    step("bench-build", || {
        run(cargo().args(["bench", "--workspace", "--no-run"]))
    })?;
    eprintln!("xtask ci: all steps passed in {:.0?}", started.elapsed());
    Ok(())
}

fn step(name: &str, f: impl FnOnce() -> Result<()>) -> Result<()> {
    eprintln!("\n==== xtask ci: {name} ====");
    let t = std::time::Instant::now();
    f().with_context(|| format!("xtask ci step `{name}` failed"))?;
    eprintln!("==== {name}: ok ({:.1?}) ====", t.elapsed());
    Ok(())
}

fn deny() -> Result<()> {
    if !has_cargo_subcommand("deny") {
        eprintln!("cargo-deny is not installed; installing it from crates.io (cargo install --locked cargo-deny)");
        run(cargo().args(["install", "--locked", "cargo-deny"]))?;
    }
    // No advisory database can be fetched here, so `advisories` is not among the checks.
    run(cargo().args([
        "deny",
        "--workspace",
        "check",
        "licenses",
        "bans",
        "sources",
    ]))
}

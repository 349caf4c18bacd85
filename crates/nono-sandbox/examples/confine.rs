//! Example: confine a command with Landlock + seccomp in a few lines.
//!
//! ```text
//! cargo run -p nono-sandbox --example confine -- --read /usr -- cat /etc/passwd
//! cat: /etc/passwd: Permission denied
//!
//! cargo run -p nono-sandbox --example confine -- -v --read /usr --read-file /etc/passwd \
//!     --block-net -- cat /etc/passwd
//! ```
//!
//! Flags: `--read PATH`, `--write PATH`, `--allow PATH` (read + write; a directory or a file),
//! `--read-file PATH`, `--deny PATH`, `--block-net`, `--connect PORT`, `--bind PORT`,
//! `--best-effort`, `-v` (print the capabilities and what is enforced), `--why PATH` (print
//! the model's explanation for reading PATH and exit).

#[cfg(target_os = "linux")]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    use nono_sandbox::CommandExt as _;
    use nono_sandbox::{AccessMode, CapabilitySet, Compat, PreparedSandbox, SandboxOptions};

    let mut args = std::env::args().skip(1);
    let mut caps = CapabilitySet::new();
    let mut verbose = false;
    let mut argv = Vec::new();
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--read" => drop(caps.allow_path(value()?, AccessMode::Read, "--read")?),
            "--read-file" => drop(caps.allow_file(value()?, AccessMode::Read, "--read-file")?),
            "--write" => drop(caps.allow_path(value()?, AccessMode::Write, "--write")?),
            "--allow" => drop(caps.allow_path(value()?, AccessMode::ReadWrite, "--allow")?),
            "--deny" => drop(caps.deny(value()?, "--deny")?),
            "--block-net" => drop(caps.block_network()),
            "--connect" => drop(caps.allow_connect_port(value()?.parse()?)),
            "--bind" => drop(caps.allow_bind_port(value()?.parse()?)),
            "--best-effort" => drop(caps.set_compat(Compat::BestEffort)),
            "-v" => verbose = true,
            "--why" => {
                println!(
                    "{}",
                    nono_sandbox::explain(&caps, value()?, AccessMode::Read)?
                );
                return Ok(());
            }
            "--" => {
                argv.extend(args.by_ref());
                break;
            }
            other => return Err(format!("unknown flag {other} (see the example's docs)").into()),
        }
    }
    let Some(program) = argv.first() else {
        return Err("usage: confine [flags] -- program [args...]".into());
    };

    // The whole sandbox: prepare before fork, enforce in the child, see what is enforced.
    let prepared = PreparedSandbox::prepare(&caps, &SandboxOptions::default())?;
    if verbose {
        eprintln!("{caps}\n{}", prepared.status());
    }
    let status = std::process::Command::new(program)
        .args(&argv[1..])
        .sandboxed_with(prepared)
        .status()
        .map_err(|e| format!("{program}: {e}"))?;
    std::process::exit(status.code().unwrap_or(128 + 9));
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("this example uses the Linux backend (Landlock + seccomp)");
    std::process::exit(2);
}

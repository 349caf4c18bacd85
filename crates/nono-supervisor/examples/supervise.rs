//! `supervise`: run one command under `nono_supervisor::run` with system directories readable
//! (used by the integration tests that must SIGKILL a supervisor, and by the benchmarks).
//!
//! Usage: `supervise [--no-dev] [--trap] [--sdk] [--pty] [--read DIR]... [--write DIR]... -- COMMAND [ARG...]`
//! (`--pty`: a PTY in place of each std stream that is a terminal; the others are inherited;
//! `--no-dev`, first if given: of `/dev` only `null` and `tty`, as in the default profile).
//! Prints each denial to stderr and exits with the child's code (128+N for signal N).

use nono_sandbox::{AccessMode, CapabilitySet};
use nono_supervisor::{run, PtyMode, SpawnConfig};

fn main() {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    // `--no-dev` (first): only /dev/null and /dev/tty of /dev, as the default profile.
    let no_dev = args.first().is_some_and(|a| a == "--no-dev");
    let mut args = args.into_iter().skip(usize::from(no_dev));
    let mut caps = CapabilitySet::new();
    let dev: &[&str] = if no_dev { &[] } else { &["/dev"] };
    for dir in ["/usr", "/bin", "/lib", "/lib64", "/etc", "/proc"]
        .iter()
        .chain(dev)
    {
        if std::path::Path::new(dir).exists() {
            caps.allow_path(dir, AccessMode::Read, "supervise example")
                .expect("system directory");
        }
    }
    if no_dev {
        for file in ["/dev/null", "/dev/tty"] {
            caps.allow_file(file, AccessMode::ReadWrite, "supervise example")
                .expect("device");
        }
    }
    let (mut trap, mut sdk, mut pty) = (false, false, PtyMode::Never);
    let mut argv = Vec::new();
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--trap") => trap = true,
            Some("--sdk") => sdk = true,
            Some("--pty") => pty = PtyMode::Auto,
            Some("--read") | Some("--write") => {
                let access = if arg == "--read" {
                    AccessMode::Read
                } else {
                    AccessMode::ReadWrite
                };
                let dir = args.next().expect("--read/--write need a directory");
                caps.allow_path(&dir, access, "supervise example")
                    .expect("granted path");
            }
            Some("--") => {
                argv.extend(args.by_ref());
            }
            _ => argv.push(arg),
        }
    }
    let mut config = SpawnConfig::new(argv, caps);
    config.trap_opens = trap;
    config.sdk = sdk;
    config.pty = pty;
    match run(config) {
        Ok(outcome) => {
            for d in &outcome.denials {
                eprintln!("denied: {} {} ({}; {})", d.access, d.what, d.call, d.reason);
            }
            std::process::exit(outcome.exit.code());
        }
        Err(e) => {
            eprintln!("supervise: {e}");
            std::process::exit(e.exit_code());
        }
    }
}

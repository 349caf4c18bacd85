//! nono's own voice on stderr: notes (suppressed by `-s`), errors (always), and the
//! `tracing` subscriber (`-v`, `RUST_LOG`).

use tracing_subscriber::EnvFilter;

/// Verbosity chosen on the command line.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    verbose: u8,
    silent: bool,
}

impl Ui {
    /// From `-v` (count) and `-s`.
    #[must_use]
    pub fn new(verbose: u8, silent: bool) -> Self {
        Ui { verbose, silent }
    }

    /// Install the stderr logger: `RUST_LOG` if set, else warn (-s: error, -v: info,
    /// -vv: debug, -vvv: trace) for nono's crates.
    pub fn init_logging(&self) {
        let level = match (self.silent, self.verbose) {
            (true, _) => "error",
            (false, 0) => "warn",
            (false, 1) => "info",
            (false, 2) => "debug",
            _ => "trace",
        };
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
            EnvFilter::new(format!(
                "warn,nono={level},nono_sandbox={level},nono_supervisor={level},nono_transport={level},nono_wire={level}"
            ))
        });
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_target(false)
            .without_time()
            .try_init();
    }

    /// A note for the user (`nono: ...` on stderr), unless `-s`.
    pub fn note(&self, message: &str) {
        if !self.silent {
            eprintln!("nono: {message}");
        }
    }

    /// Several lines already prefixed, unless `-s`.
    pub fn block(&self, text: &str) {
        if !self.silent && !text.is_empty() {
            eprint!("{text}");
        }
    }

    /// An error, always printed (`nono: ...` on stderr).
    pub fn error(&self, message: &str) {
        eprintln!("nono: {message}");
    }
}

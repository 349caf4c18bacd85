//! nono's own voice on stderr: notes (suppressed by `-s`), errors (always), and the
//! `tracing` subscriber (`-v`, `RUST_LOG`).

use std::io::Write as _;

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

    /// Whether `-s` was given (notes are not printed).
    #[must_use]
    pub fn silent(&self) -> bool {
        self.silent
    }

    /// How many `-v` were given.
    #[must_use]
    pub fn verbose(&self) -> u8 {
        self.verbose
    }

    /// Install the stderr logger: `RUST_LOG` if set, else warn (-s: error, -v: info,
    /// -vv: debug, -vvv: trace) for nono's crates. Without `RUST_LOG` the fixed levels need
    /// no directive parsing: a `Targets` filter is built directly (this runs on every start).
    pub fn init_logging(&self) {
        use tracing_subscriber::filter::{LevelFilter, Targets};
        use tracing_subscriber::layer::SubscriberExt as _;
        use tracing_subscriber::util::SubscriberInitExt as _;

        // The fmt subscriber stops at INFO unless told otherwise: the level is the filter's
        // below (`-vv` debug, `-vvv` trace).
        let builder = tracing_subscriber::fmt()
            .with_max_level(LevelFilter::TRACE)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_target(false)
            .without_time();
        if std::env::var_os("RUST_LOG").is_some() {
            if let Ok(filter) = EnvFilter::try_from_default_env() {
                let _ = builder.with_env_filter(filter).try_init();
                return;
            }
        }
        let level = match (self.silent, self.verbose) {
            (true, _) => LevelFilter::ERROR,
            (false, 0) => LevelFilter::WARN,
            (false, 1) => LevelFilter::INFO,
            (false, 2) => LevelFilter::DEBUG,
            _ => LevelFilter::TRACE,
        };
        let filter = Targets::new().with_default(LevelFilter::WARN).with_targets(
            [
                "nono",
                "nono_sandbox",
                "nono_supervisor",
                "nono_transport",
                "nono_wire",
            ]
            .map(|t| (t, level)),
        );
        let _ = builder.finish().with(filter).try_init();
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

/// Write the product of a command (why, setup, profile, completion, man, --dry-run) to
/// stdout. A closed pipe (`nono profile schema | head -1`) ends nono quietly with status 0,
/// like other filters; any other write error is nono's own failure.
pub fn stdout(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(bytes).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("nono: cannot write to stdout: {e}");
        std::process::exit(crate::exit::NONO_FAILURE);
    }
}

/// `println!` to stdout through [`stdout`].
macro_rules! outln {
    () => {
        $crate::ui::stdout(b"\n")
    };
    ($($arg:tt)*) => {
        $crate::ui::stdout(format!("{}\n", format_args!($($arg)*)).as_bytes())
    };
}

/// `print!` to stdout through [`stdout`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::ui::stdout(format!($($arg)*).as_bytes())
    };
}

pub(crate) use {out, outln};

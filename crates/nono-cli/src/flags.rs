//! Raw command-line flags: the clap definitions, exactly as the user typed them (no I/O, no
//! decisions). `plan.rs` turns these into the plan that commands execute.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Exit-status table shown at the end of `nono --help` (and in the man page).
pub const EXIT_STATUS_HELP: &str = "\
Exit status:
  N        the command's own exit status (run, wrap, shell, learn)
  128+N    the command was killed by signal N
  125      nono itself failed: bad profile, missing --allow path, unsupported kernel in
           strict mode, ... (one line on stderr names the input and the fix)
  126      the command was found but could not be executed
  127      the command was not found
  2        usage error (unknown flag, missing argument)
  1        `why`: the operation would be denied; `setup`: nothing can be enforced;
           `profile validate`: the profile is invalid

Output: nono's own messages (notes, the denial report, errors, logs) go to stderr. Only
commands whose output is the product write to stdout: why, setup, profile, completion, man,
and `--dry-run` (the plan). The sandboxed command's stdin/stdout/stderr pass through untouched.";

/// The parsed command line.
pub type Cli = CliWith<Command>;

/// Parse the command line (`args` includes the program name), exactly as `Cli::try_parse_from`
/// would.
///
/// For `nono run`, `nono wrap` and `nono shell` (the subcommand first, the commands that
/// start a sandbox) only that subcommand's flags are built: clap builds every subcommand's
/// flags for `Cli` (the sandbox flags once per subcommand that has them), more than half of
/// the work of parsing. With the subcommand first, clap matches it before anything else and
/// never looks at the others, so the output (help, errors and their suggestions, exit
/// codes) is the same; `tests::fast_path_parses_and_fails_like_the_full_parser` holds the
/// two side by side.
pub fn parse_cli<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    if args
        .get(1)
        .is_some_and(|c| c == "run" || c == "wrap" || c == "shell")
    {
        return CliWith::<DeferredCommand>::try_parse_from(args).map(|cli| CliWith {
            verbose: cli.verbose,
            silent: cli.silent,
            command: cli.command.into(),
        });
    }
    Cli::try_parse_from(args)
}

/// nono: run a program with least privilege, enforced by the kernel (Landlock + seccomp).
///
/// Generic over the subcommand enum only for [`parse_cli`]: [`Cli`] is the one used.
#[derive(Debug, Parser)]
#[command(
    name = "nono",
    version,
    about = "Run a program with least privilege, enforced by the kernel",
    long_about = "Run a program with least privilege, enforced by the kernel (Landlock + seccomp on \
                  Linux). A supervisor can grant more while the program runs, by opening a file \
                  itself and passing the descriptor in.",
    after_long_help = EXIT_STATUS_HELP,
    propagate_version = true
)]
pub struct CliWith<C: Subcommand> {
    /// More logging on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Print nothing of nono's own except errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub silent: bool,
    /// The command to run.
    #[command(subcommand)]
    pub command: C,
}

/// Defines the subcommand enum twice from one list: `Command`, and `DeferredCommand` whose
/// subcommands' flags clap builds only for the one used (`#[command(defer = true)]`), with a
/// conversion to `Command`. See [`parse_cli`].
///
/// With `defer`, clap adds a subcommand's own flags (`RunArgs::augment_args`) after the
/// variant's doc comment has set its about text, so the `Args` structs (and the structs
/// they flatten) must have no doc comment of their own (`//`, not `///`): it would replace the
/// subcommand's about text in `--help`.
macro_rules! subcommands {
    (
        $(#[$meta:meta])*
        pub enum Command {
            $( $(#[$vmeta:meta])* $variant:ident($args:ty), )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Subcommand)]
        pub enum Command {
            $( $(#[$vmeta])* $variant($args), )*
        }

        /// [`Command`] with each subcommand's flags built only when it is parsed.
        #[derive(Debug, Subcommand)]
        #[command(defer = true)]
        pub enum DeferredCommand {
            $( $(#[$vmeta])* $variant($args), )*
        }

        impl From<DeferredCommand> for Command {
            fn from(command: DeferredCommand) -> Self {
                match command {
                    $( DeferredCommand::$variant(args) => Command::$variant(args), )*
                }
            }
        }
    };
}

subcommands! {
/// The subcommands.
pub enum Command {
    /// Run a command in the sandbox, under a supervisor that reports denials and can grant more.
    Run(RunArgs),
    /// Apply the sandbox to nono itself and exec the command (no supervisor left behind).
    ///
    /// Without a supervisor the deny groups stop reads and writes only: chmod/utime/setxattr
    /// of ~/.ssh/id_rsa, ~/.aws/credentials and other deny-group files succeed, and the
    /// ssh-agent, D-Bus and X11 sockets connect (`nono run` refuses all of these). So wrap
    /// refuses a grant on your home directory (or a parent of it) unless you pass
    /// --accept-wrap-gaps.
    ///
    /// Without a supervisor, what `nono run` adds is not there (`nono wrap --dry-run` lists
    /// it). In particular the command holds your terminal itself: a process it leaves behind
    /// keeps it and can read what you type after nono returns. Run untrusted commands at a
    /// terminal with `nono run`, which gives them a terminal of their own.
    Wrap(WrapArgs),
    /// Start your $SHELL (fallback /bin/sh) in the sandbox, on a pseudo-terminal.
    Shell(ShellArgs),
    /// Would the sandbox allow this path or connection? Prints the verdict and the deciding rule.
    Why(WhyArgs),
    /// Run a command once with everything outside the deny groups allowed (files, exec, mkdir,
    /// rename, ports, sockets) and recorded, then write the profile that lets `run -p` do it.
    Learn(LearnArgs),
    /// Show what this machine supports and what nono will enforce.
    Setup(SetupArgs),
    /// List, show, validate profiles, or print the profile JSON Schema.
    Profile(ProfileArgs),
    /// Print a shell completion script to stdout.
    Completion(CompletionArgs),
    /// Run the egress proxy alone, in the foreground (for containers or VMs beside it).
    Proxy(ProxyArgs),
    /// Print the man page (roff, every subcommand in one page) to stdout, or write one page per
    /// command to a directory (--dir): nono.1, nono-run.1, nono-profile-list.1, ...
    Man(ManArgs),
}
}

// `nono man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write nono.1 and one page per subcommand (nono-run.1, ...) into DIR instead of printing
    /// one page with every subcommand.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

// `nono proxy`.
#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Where to listen (default 127.0.0.1 and an ephemeral port, printed at start).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<std::net::SocketAddr>,
    /// Profile whose network.* keys to use (a built-in name or a JSON file).
    #[arg(short = 'p', long, value_name = "NAME|FILE")]
    pub profile: Option<String>,
    #[command(flatten)]
    pub egress: EgressFlags,
}

// The sandbox definition shared by run, wrap, shell, why and learn (nono 0.58 compatible).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Sandbox")]
pub struct SandboxFlags {
    /// Grant read+write to a directory tree (repeatable).
    #[arg(short = 'a', long = "allow", value_name = "DIR")]
    pub allow: Vec<PathBuf>,
    /// Grant read to a directory tree (repeatable).
    #[arg(short = 'r', long = "read", value_name = "DIR")]
    pub read: Vec<PathBuf>,
    /// Grant write to a directory tree (repeatable).
    #[arg(short = 'w', long = "write", value_name = "DIR")]
    pub write: Vec<PathBuf>,
    /// Grant read+write to one file (repeatable).
    #[arg(long = "allow-file", value_name = "FILE")]
    pub allow_file: Vec<PathBuf>,
    /// Grant read to one file (repeatable).
    #[arg(long = "read-file", value_name = "FILE")]
    pub read_file: Vec<PathBuf>,
    /// Grant write to one file (repeatable).
    #[arg(long = "write-file", value_name = "FILE")]
    pub write_file: Vec<PathBuf>,
    /// Grant read+write to the working directory (the --workdir, else the current directory).
    #[arg(long)]
    pub allow_cwd: bool,
    /// Run the command in DIR (not granted unless you also pass --allow-cwd or --allow;
    /// relative paths in other flags still start from the current directory).
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// Profile: a built-in name (see `nono profile list`) or a JSON file.
    #[arg(short = 'p', long, value_name = "NAME|FILE", default_value = "default")]
    pub profile: String,
    /// No network at all (TCP refused by Landlock, other socket families by seccomp).
    #[arg(long = "block-net", visible_alias = "net-block")]
    pub block_net: bool,
    /// Allow TCP connect to this port only (repeatable; other network access is blocked).
    /// Under run on loopback addresses only (the supervisor checks the address); wrap cannot
    /// check it and refuses the flag unless --accept-wrap-gaps. For other hosts: --allow-domain.
    #[arg(long, value_name = "PORT")]
    pub allow_connect_port: Vec<u16>,
    /// Allow TCP bind on this port only (repeatable; other network access is blocked).
    #[arg(long, value_name = "PORT")]
    pub allow_bind_port: Vec<u16>,
    /// Allow Unix datagram sockets (refused by default). The command can then sendmsg a
    /// datagram to any pathname datagram socket (/dev/log, /run/systemd/notify), unchecked.
    #[arg(long)]
    pub allow_unix_datagram: bool,
    /// Lift a deny-group carve-out for PATH; requires a matching explicit grant (repeatable).
    #[arg(long, value_name = "PATH")]
    pub bypass_protection: Vec<PathBuf>,
    /// Trust the symlink LINK on the way to a grant although a sandboxed run could have
    /// planted it (it lies inside a write grant, or belongs to another user) (repeatable).
    #[arg(long, value_name = "LINK")]
    pub allow_symlinked_grant: Vec<PathBuf>,
    /// Enforce what the kernel offers and report the gaps, instead of failing (default: strict).
    #[arg(long)]
    pub best_effort: bool,
    #[command(flatten)]
    pub egress: EgressFlags,
}

// Egress by domain: with any of these, `nono run` starts a filtering proxy in the supervisor
// and confines the command so that the proxy is its only way out (not available with wrap).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Network egress (run, shell)")]
pub struct EgressFlags {
    /// Allow HOST through the proxy (repeatable): `example.com` exactly, `*.example.com` any
    /// subdomain, an IP or CIDR (`10.0.0.0/8`), `HOST:PORT` for one port (default 80 and 443),
    /// `http://HOST/path/**` for plain-HTTP requests to that path only.
    #[arg(long, value_name = "HOST")]
    pub allow_domain: Vec<String>,
    /// Refuse HOST even when an allow rule matches (repeatable; same forms).
    #[arg(long, value_name = "HOST")]
    pub deny_domain: Vec<String>,
    /// Allow a named set of domains (repeatable; see `nono profile list`): minimal, developer,
    /// llm-apis, package-registries, github, docs.
    #[arg(long, value_name = "NAME")]
    pub network_profile: Vec<String>,
    /// The proxy's port on 127.0.0.1 (default: an ephemeral port).
    #[arg(long, value_name = "PORT")]
    pub proxy_port: Option<u16>,
    /// Inject SERVICE's API key in the proxy (repeatable): the command gets the service's base
    /// URL and a phantom key; the real key never enters the sandbox. Built-ins: openai,
    /// anthropic, github; more in a profile's network.credentials.
    #[arg(long, value_name = "SERVICE")]
    pub credential: Vec<String>,
    /// Restrict a --credential service to these calls (repeatable): SERVICE:METHOD:/path/**
    /// (`*` one path segment, `**` any; METHOD `*` for any).
    #[arg(long, value_name = "SERVICE:METHOD:PATH")]
    pub allow_endpoint: Vec<String>,
}

impl EgressFlags {
    /// The flags given, as typed (for the usage error where a proxy cannot run).
    #[must_use]
    pub fn given(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for (name, set) in [
            ("--allow-domain", !self.allow_domain.is_empty()),
            ("--deny-domain", !self.deny_domain.is_empty()),
            ("--network-profile", !self.network_profile.is_empty()),
            ("--proxy-port", self.proxy_port.is_some()),
            ("--credential", !self.credential.is_empty()),
            ("--allow-endpoint", !self.allow_endpoint.is_empty()),
        ] {
            if set {
                out.push(name);
            }
        }
        out
    }
}

// Runtime grants: what the supervisor may add while the command runs.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Runtime grants")]
pub struct ElevationFlags {
    /// Ask on /dev/tty when the command opens, creates, removes or renames something outside
    /// its grants and no approve rule covers it. With no terminal to ask, such requests are
    /// denied and reported as "no terminal to ask".
    #[arg(long)]
    pub capability_elevation: bool,
    /// Grant runtime requests under PATH without asking: opens, creating, removing and
    /// renaming entries (mkdir, rm, mv, ln) and metadata changes (chmod, chown, touch), as
    /// --write would; executing a program there needs --read (the kernel decides exec).
    /// Does not turn on the prompt (add --capability-elevation for that). A path a deny group
    /// protects is refused (repeatable).
    #[arg(long, value_name = "PATH")]
    pub approve: Vec<PathBuf>,
    /// Append one JSON line per runtime decision to FILE.
    #[arg(long, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
}

// The command's environment and temporary directory (run, shell, wrap).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Environment")]
pub struct EnvFlags {
    /// Set NAME=VALUE in the command's environment; `--setenv NAME` passes nono's own value,
    /// also of a credential variable that is dropped by default (repeatable). A value on the
    /// command line is visible in `ps`: for a secret, export it and use `--setenv NAME`.
    #[arg(long, value_name = "NAME[=VALUE]")]
    pub setenv: Vec<OsString>,
    /// Remove NAME from the command's environment (repeatable).
    #[arg(long, value_name = "NAME")]
    pub unsetenv: Vec<OsString>,
    /// Start from an empty environment: pass only PATH, HOME, TERM, LANG, USER, TMPDIR, the
    /// profile's `environment.allow` and `environment.set`, and --setenv.
    #[arg(long)]
    pub clearenv: bool,
    /// Give the command a fresh owner-only directory as TMPDIR (removed at exit) instead of
    /// the host's /tmp, /var/tmp and $TMPDIR, which are then not granted (run and shell).
    #[arg(long)]
    pub private_tmp: bool,
}

// Resource limits for the whole process tree (cgroup v2), `run` and `shell` only.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Resource limits")]
pub struct LimitFlags {
    /// Memory (RAM + swap) of the whole tree: bytes or K/M/G/T (512M, 1.5GiB); the tree is
    /// killed when it is reached (exit 137). Overrides the profile's limits.memory.
    #[arg(long, value_name = "SIZE", value_parser = nono_supervisor::limits::parse_size)]
    pub memory: Option<u64>,
    /// Processes and threads of the whole tree at once; further forks fail. Overrides the
    /// profile's limits.max_processes.
    #[arg(long, value_name = "N", value_parser = nono_supervisor::limits::parse_processes)]
    pub max_processes: Option<u64>,
    /// CPU time as a number of CPUs (0.5 = half of one CPU, 2 = two). Overrides the
    /// profile's limits.cpus.
    #[arg(long, value_name = "X", value_parser = nono_supervisor::limits::parse_cpus)]
    pub cpus: Option<f64>,
}

// `nono run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Print the plan (grants, denies, network, environment, tmp, what the kernel will and
    /// will not enforce) and exit.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: print the plan as one JSON object.
    #[arg(long, requires = "dry_run")]
    pub json: bool,
    /// The command and its arguments (after `--`).
    #[arg(required = true, trailing_var_arg = true, value_name = "CMD")]
    pub command: Vec<OsString>,
    #[command(flatten)]
    pub sandbox: SandboxFlags,
    #[command(flatten)]
    pub env: EnvFlags,
    #[command(flatten)]
    pub elevation: ElevationFlags,
    #[command(flatten)]
    pub limits: LimitFlags,
}

// `nono wrap`.
#[derive(Debug, Args)]
pub struct WrapArgs {
    /// Print the plan and exit.
    #[arg(long)]
    pub dry_run: bool,
    /// Start although a grant covers your home directory (or a parent of it): you accept that
    /// without a supervisor the command can chmod/utime/setxattr deny-group files
    /// (~/.ssh/id_rsa) and connect to the ssh-agent, D-Bus and X11 sockets; and although a
    /// connect port (--allow-connect-port) is then open to every host, not loopback only.
    #[arg(long)]
    pub accept_wrap_gaps: bool,
    /// With --dry-run: print the plan as one JSON object.
    #[arg(long, requires = "dry_run")]
    pub json: bool,
    /// The command and its arguments (after `--`).
    #[arg(required = true, trailing_var_arg = true, value_name = "CMD")]
    pub command: Vec<OsString>,
    #[command(flatten)]
    pub sandbox: SandboxFlags,
    #[command(flatten)]
    pub env: EnvFlags,
}

// `nono shell`.
#[derive(Debug, Args)]
pub struct ShellArgs {
    /// Print the plan and exit.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: print the plan as one JSON object.
    #[arg(long, requires = "dry_run")]
    pub json: bool,
    #[command(flatten)]
    pub sandbox: SandboxFlags,
    #[command(flatten)]
    pub env: EnvFlags,
    #[command(flatten)]
    pub elevation: ElevationFlags,
    #[command(flatten)]
    pub limits: LimitFlags,
}

/// Filesystem operation for `nono why --op`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Op {
    /// Read a file, list a directory, execute.
    Read,
    /// Create, write, truncate, remove.
    Write,
    /// Both.
    Readwrite,
}

// `nono why`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("target").required(true).args(["path", "host"]))]
pub struct WhyArgs {
    /// The path to ask about.
    #[arg(long, value_name = "PATH", requires = "op")]
    pub path: Option<PathBuf>,
    /// The access to ask about (with --path).
    #[arg(long, value_enum, requires = "path")]
    pub op: Option<Op>,
    /// The host to ask about (a name under domain rules, else an address).
    #[arg(long, value_name = "HOST", conflicts_with = "path")]
    pub host: Option<String>,
    /// The TCP port to ask about (with --host; default 443).
    #[arg(long, value_name = "N", requires = "host")]
    pub port: Option<u16>,
    /// Print the verdict as JSON.
    #[arg(long)]
    pub json: bool,
    /// Count what `run --approve PATH` would grant at runtime under PATH (repeatable); a
    /// profile's supervisor.approve rules always count.
    #[arg(long, value_name = "PATH")]
    pub approve: Vec<PathBuf>,
    #[command(flatten)]
    pub sandbox: SandboxFlags,
}

// `nono learn`.
#[derive(Debug, Args)]
pub struct LearnArgs {
    /// Where to write the learned profile (JSON).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: PathBuf,
    /// Collapse a directory's files into one directory grant when more than N of them were used.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub collapse_threshold: usize,
    /// The command and its arguments (after `--`).
    #[arg(required = true, trailing_var_arg = true, value_name = "CMD")]
    pub command: Vec<OsString>,
    #[command(flatten)]
    pub sandbox: SandboxFlags,
}

// `nono setup`.
#[derive(Debug, Args)]
pub struct SetupArgs {
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

// `nono profile`.
#[derive(Debug, Args)]
pub struct ProfileArgs {
    #[command(subcommand)]
    pub command: ProfileCommand,
}

// `nono profile ...`.
#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// List the built-in profiles.
    List,
    /// Print a profile (built-in name or file) with `extends` resolved.
    Show {
        /// Built-in name or JSON file.
        #[arg(value_name = "NAME|FILE")]
        name: String,
    },
    /// Check a profile file; exit 1 and name the problem if it is invalid.
    Validate {
        /// The JSON file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Print the profile JSON Schema.
    Schema,
    /// Trust a profile file's present content (and that of the files it extends) after a
    /// sandboxed run could have changed it: read it first. nono refuses a profile file that
    /// changed after its directory became writable by a sandboxed run until it is trusted.
    Trust {
        /// The profile: a file, or a profile name in your profile directory.
        #[arg(value_name = "NAME|FILE")]
        name: String,
        /// Trust only this content: the sha256 that nono printed when it refused the file
        /// (HEX: the file named; FILE=HEX: another file of its `extends` chain that needs
        /// trust). A file whose content has changed since (a run still going rewrote it after
        /// you read it) is refused, and nothing is trusted.
        #[arg(long = "sha256", value_name = "[FILE=]HEX")]
        sha256: Vec<std::ffi::OsString>,
    },
}

// `nono completion`.
#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell to generate completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definitions_are_consistent() {
        Cli::command().debug_assert();
        CliWith::<DeferredCommand>::command().debug_assert();
    }

    /// What the user sees of `r`: the parsed command line, or the error's kind, exit code and
    /// text (plain and styled; `--help` and `--version` are errors too).
    fn outcome(r: Result<Cli, clap::Error>) -> String {
        match r {
            Ok(cli) => format!("ok {cli:?}"),
            Err(e) => format!(
                "err {:?} exit {} use_stderr {}\n{}\n---\n{}",
                e.kind(),
                e.exit_code(),
                e.use_stderr(),
                e.render(),
                e.render().ansi()
            ),
        }
    }

    /// `parse_cli` (only the named subcommand built) gives what the full parser gives, for
    /// the commands it takes the fast path for: the parse, or the error with its text
    /// (help, usage, "did you mean" tips) and exit code.
    #[test]
    fn fast_path_parses_and_fails_like_the_full_parser() {
        let rests: &[&[&str]] = &[
            &[],
            &["--help"],
            &["-h"],
            &["--version"],
            &["-V"],
            &["help"],
            &["--bogus"],
            &["--alow", "/x", "--", "true"],
            &["--allow-cwdd", "--", "true"],
            &["--blocknet"],
            &["--allow"],
            &["-a"],
            &["--allow="],
            &["-p"],
            &["--allow", "/x"],
            &["--allow", "/x", "--", "/bin/true"],
            &[
                "-a",
                "/x",
                "-r",
                "/r",
                "-w",
                "/w",
                "--net-block",
                "--",
                "ls",
                "-l",
            ],
            &["--allow", "/x", "/bin/true", "--allow", "/y"],
            &["--"],
            &["--", "--help"],
            &["true", "--help"],
            &["--dry-run", "--json", "--", "true"],
            &["--json", "--", "true"],
            &["--dry-run", "--json"],
            &["-v", "-s", "--", "true"],
            &["-vvv", "--", "true"],
            &["--silent", "--silent", "--", "true"],
            &["--block-net", "--block-net", "--", "true"],
            &["--allow-connect-port", "http", "--", "true"],
            &["--allow-connect-port", "70000", "--", "true"],
            &["--allow-bind-port", "8080", "--", "true"],
            &["--memory", "10Q", "--", "true"],
            &["--memory", "512M", "--max-processes", "0", "--", "true"],
            &["--cpus", "x", "--", "true"],
            &["--accept-wrap-gaps", "--", "true"],
            &["--capability-elevation", "--approve", "/a", "--", "true"],
            &[
                "--setenv",
                "A=B",
                "--unsetenv",
                "C",
                "--clearenv",
                "--",
                "env",
            ],
            &[
                "--private-tmp",
                "--workdir",
                "/tmp",
                "--allow-cwd",
                "--",
                "pwd",
            ],
            &[
                "--allow-domain",
                "example.com",
                "--proxy-port",
                "x",
                "--",
                "true",
            ],
            &[
                "--credential",
                "openai",
                "--allow-endpoint",
                "openai:GET:/v1/**",
            ],
            &["--bypass-protection", "/x", "--allow-symlinked-grant", "/l"],
            &["--best-effort", "--allow-unix-datagram", "--", "true"],
            &["--profile", "dev", "--", "true"],
            &["-Z"],
            &["-a/x", "--", "true"],
            &["stray"],
            &["--dry-run", "stray"],
        ];
        for sub in ["run", "wrap", "shell"] {
            for rest in rests {
                let argv: Vec<&str> = ["nono", sub].iter().chain(rest.iter()).copied().collect();
                let fast = outcome(parse_cli(&argv));
                let full = outcome(Cli::try_parse_from(&argv));
                assert_eq!(fast, full, "{argv:?}");
            }
        }
        // Not valid UTF-8, as a flag and as a value.
        use std::os::unix::ffi::OsStringExt as _;
        for sub in ["run", "wrap", "shell"] {
            for bad in [vec![b'-', b'-', 0xff], vec![b'/', 0xff]] {
                let argv = [
                    OsString::from("nono"),
                    OsString::from(sub),
                    OsString::from("--allow"),
                    OsString::from_vec(bad.clone()),
                    OsString::from_vec(bad),
                ];
                assert_eq!(
                    outcome(parse_cli(argv.clone())),
                    outcome(Cli::try_parse_from(argv.clone())),
                    "{argv:?}"
                );
            }
        }
    }

    /// Red team 9: random command lines for run/wrap/shell (flags, values, `--`, clusters of
    /// short flags, `--flag=value`, prefixes of long flags, global flags after the
    /// subcommand, `help`, stray words), parsed by `parse_cli` and by the full parser: the
    /// same parse or the same error, text and exit code. `NONO_CLI_FUZZ=N` runs N lines.
    #[test]
    fn fast_path_matches_the_full_parser_on_random_command_lines() {
        const TOKENS: &[&str] = &[
            "--",
            "-",
            "-s",
            "-v",
            "-vv",
            "-sv",
            "-vs",
            "-ss",
            "-sa",
            "-as",
            "-a",
            "-r",
            "-w",
            "-p",
            "-h",
            "-V",
            "-a/x",
            "-s/x",
            "-v=1",
            "-s=true",
            "--silent",
            "--silent=true",
            "--silent=false",
            "--verbose",
            "--verbose=2",
            "--allow",
            "--allow=/x",
            "--allow=",
            "--all",
            "--allo",
            "--allow-c",
            "--allow-cwd",
            "--allow-cwd=/x",
            "--read",
            "--write",
            "--profile",
            "--profile=dev",
            "--block-net",
            "--net-block",
            "--net",
            "--dry-run",
            "--dry",
            "--json",
            "--help",
            "--version",
            "help",
            "true",
            "/x",
            "dev",
            "run",
            "wrap",
            "shell",
            "--bypass-protection",
            "--allow-domain",
            "--allow-connect-port",
            "80",
            "--memory",
            "1G",
            "--setenv",
            "A=B",
            "--clearenv",
            "--best-effort",
            "--workdir",
            "--private-tmp",
            "--accept-wrap-gaps",
            "--capability-elevation",
            "--no-such",
            "-Z",
            "--=x",
            "---",
            "-:",
            "-1",
            "-p=dev",
            "-pdev",
            "-a=",
            "-vsa",
            "-vp",
            "-hV",
            "-Vh",
            "-vh",
            "--help=1",
            "--version=1",
            "--dry-run=true",
            "--json=1",
            "why",
            "--allow-domain=x",
            "--proxy-port=1",
            "--max-processes=-1",
            "--cpus=-1",
            "--memory=",
            "--credential",
            "--allow-endpoint",
            "--allow-file",
            "--read-file",
            "--write-file",
            "--deny",
            "--unsetenv",
            "--approve",
            "--audit-log",
            "--learn",
            "--allow-bind-port=0",
            "--allow-unix-datagram",
            "--allow-symlinked-grant",
            "--network-profile",
            "--deny-domain",
            "-S",
            "--Silent",
            "--VERBOSE",
        ];
        let n: usize = std::env::var("NONO_CLI_FUZZ")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(600);
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for i in 0..n {
            let sub = ["run", "wrap", "shell"][i % 3];
            let len = (next() % 9) as usize;
            let mut argv = vec!["nono", sub];
            for _ in 0..len {
                argv.push(TOKENS[(next() % TOKENS.len() as u64) as usize]);
            }
            let fast = outcome(parse_cli(&argv));
            let full = outcome(Cli::try_parse_from(&argv));
            assert_eq!(fast, full, "{argv:?}");
        }
    }

    /// Every subcommand of the deferred enum, once built, is the one `Cli` has (help texts
    /// included): the `Args` structs have no doc comment that `defer` would let replace the
    /// subcommand's about text (see `subcommands!`).
    #[test]
    fn deferred_subcommands_build_to_the_same_commands() {
        let mut full = Cli::command();
        let mut deferred = CliWith::<DeferredCommand>::command();
        full.build();
        deferred.build();
        let names: Vec<String> = full
            .get_subcommands()
            .map(|s| s.get_name().to_owned())
            .collect();
        assert!(names.len() >= 10, "{names:?}");
        for name in &names {
            let f = full.find_subcommand_mut(name).unwrap();
            let (f_long, f_short) = (f.render_long_help(), f.render_help());
            let d = deferred.find_subcommand_mut(name).unwrap();
            assert_eq!(
                d.render_long_help().ansi().to_string(),
                f_long.ansi().to_string(),
                "{name}"
            );
            assert_eq!(
                d.render_help().ansi().to_string(),
                f_short.ansi().to_string(),
                "{name}"
            );
        }
        assert_eq!(
            deferred.render_long_help().to_string(),
            full.render_long_help().to_string()
        );
    }

    #[test]
    fn run_takes_058_flags_and_trailing_command() {
        let cli = Cli::try_parse_from([
            "nono",
            "run",
            "-a",
            "/a",
            "-r",
            "/r",
            "-w",
            "/w",
            "--net-block",
            "-p",
            "x.json",
            "--",
            "ls",
            "-l",
        ])
        .unwrap();
        let Command::Run(run) = cli.command else {
            panic!("not run")
        };
        assert_eq!(run.sandbox.allow, [PathBuf::from("/a")]);
        assert_eq!(run.sandbox.read, [PathBuf::from("/r")]);
        assert_eq!(run.sandbox.write, [PathBuf::from("/w")]);
        assert!(run.sandbox.block_net);
        assert!(!run.sandbox.allow_unix_datagram);
        assert_eq!(run.sandbox.profile, "x.json");
        assert_eq!(run.command, [OsString::from("ls"), OsString::from("-l")]);
    }

    #[test]
    fn command_flags_after_the_command_belong_to_it() {
        let cli = Cli::try_parse_from(["nono", "run", "--", "sh", "-c", "-v"]).unwrap();
        let Command::Run(run) = cli.command else {
            panic!("not run")
        };
        assert_eq!(run.command.len(), 3);
        assert_eq!(cli.verbose, 0);
    }

    #[test]
    fn why_needs_a_target() {
        assert!(Cli::try_parse_from(["nono", "why"]).is_err());
        assert!(Cli::try_parse_from(["nono", "why", "--path", "/x"]).is_err());
        assert!(Cli::try_parse_from(["nono", "why", "--path", "/x", "--op", "read"]).is_ok());
        assert!(Cli::try_parse_from(["nono", "why", "--host", "h", "--port", "1"]).is_ok());
    }
}

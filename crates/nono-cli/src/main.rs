//! The `nono` binary: parse flags (`flags.rs`), derive a plan (`plan.rs`), call the libraries
//! (`cmd/`), print (`report.rs`, `ui.rs`). No sandboxing or policy decision is made here.
//!
//! Output discipline: nono's own messages go to stderr; stdout carries only the product of
//! `why`, `setup`, `profile`, `completion`, `man` and `--dry-run`. See `flags::EXIT_STATUS_HELP`.

mod cmd;
mod egress;
mod exec_advice;
mod exit;
mod flags;
mod plan;
mod report;
#[cfg(test)]
use nono_scratch as scratch;
mod suggest;
mod ui;

use crate::flags::{Cli, Command};
use crate::ui::Ui;

fn main() {
    // The commands that build a sandbox: its deny groups are resolved on a second CPU while
    // the grants are (the thread gets ready while the command line is parsed). `-v`s given
    // before the subcommand are looked past (`nono -v run …`); `-s` is not: `nono -s MODE`
    // is the serial control of the tests that compare the two (red teams 7 and 8).
    if std::env::args_os()
        .skip(1)
        .find(|a| !is_verbose_flag(a))
        .is_some_and(|c| c == "run" || c == "wrap" || c == "shell")
    {
        plan::start_deny_prefetch();
    }
    let cli =
        flags::parse_cli(std::env::args_os()).unwrap_or_else(|err| exit_with_suggestion(&err));
    let ui = Ui::new(cli.verbose, cli.silent);
    ui.init_logging();
    let result = dispatch(cli.command, &ui);
    let code = match result {
        Ok(code) => code,
        Err(err) => {
            let (code, message) = exit::classify(&err);
            ui.error(&message);
            code
        }
    };
    std::process::exit(code);
}

fn dispatch(command: Command, ui: &Ui) -> anyhow::Result<i32> {
    match command {
        Command::Run(args) => cmd::run::run(args, ui),
        Command::Wrap(args) => cmd::wrap::wrap(args, ui),
        Command::Shell(args) => cmd::run::shell(args, ui),
        Command::Why(args) => cmd::why::why(args),
        Command::Learn(args) => cmd::learn::learn(args, ui),
        Command::Profile(args) => cmd::profile::profile(args.command),
        Command::Setup(args) => cmd::setup::setup(&args),
        Command::Completion(args) => cmd::completion::completion(args.shell),
        Command::Proxy(args) => cmd::proxy::proxy(args, ui),
        Command::Man(args) => cmd::completion::man(args),
    }
}

/// `-v`, `-vv`, … or `--verbose`: a global flag that changes nothing of a sandbox.
fn is_verbose_flag(arg: &std::ffi::OsStr) -> bool {
    let a = arg.as_encoded_bytes();
    a == b"--verbose" || (a.len() > 1 && a[0] == b'-' && a[1..].iter().all(|&b| b == b'v'))
}

/// Print clap's error and exit as clap would (status 2, or 0 for --help/--version); for an
/// unknown subcommand clap found nothing close to (`nono rn`), add our own suggestion.
fn exit_with_suggestion(err: &clap::Error) -> ! {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if err.kind() == ErrorKind::InvalidSubcommand
        && err.get(ContextKind::SuggestedSubcommand).is_none()
    {
        if let Some(ContextValue::String(word)) = err.get(ContextKind::InvalidSubcommand) {
            let cmd = <Cli as clap::CommandFactory>::command();
            let names: Vec<String> = cmd
                .get_subcommands()
                .filter(|s| !s.is_hide_set())
                .map(|s| s.get_name().to_owned())
                .collect();
            if let Some(best) = suggest::closest(word, names.iter().map(String::as_str)) {
                let _ = err.print();
                eprintln!("nono: did you mean `nono {best}`?");
                std::process::exit(2);
            }
        }
    }
    err.exit()
}
